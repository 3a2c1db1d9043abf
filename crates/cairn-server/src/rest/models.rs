//! The model registry on Cairn's own API (`/api/v1/models…`), and a run's models.

use super::{ApiJson, Res};
use crate::auth::Svc;
use crate::service::Service;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use cairn_api::runs::{ModelList, RunModels, VersionList};
use cairn_domain::{ModelVersionPatch, NewModelVersion, NewRegisteredModel, RegisteredModelPatch};

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/models", get(list_models).post(create_model))
        .route("/api/v1/models/{model}", get(get_model).patch(update_model).delete(delete_model))
        .route("/api/v1/models/{model}/versions", get(list_versions).post(create_version))
        .route(
            "/api/v1/models/{model}/versions/{version}",
            get(get_version).patch(update_version).delete(delete_version),
        )
        .route("/api/v1/runs/{run}/models", get(run_models))
}

fn version_number(v: &str) -> Res<i64> {
    v.parse().map_err(|_| crate::ApiError::invalid(format!("version must be a whole number, got '{v}'")))
}

async fn list_models(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(ModelList { models: s.list_registered_models().await? }))
}

async fn create_model(Svc(s): Svc, ApiJson(m): ApiJson<NewRegisteredModel>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_registered_model(m).await?)))
}

async fn get_model(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_registered_model(&name).await?))
}

async fn update_model(
    Svc(s): Svc,
    Path(name): Path<String>,
    ApiJson(p): ApiJson<RegisteredModelPatch>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.update_registered_model(&name, p).await?))
}

async fn delete_model(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    s.delete_registered_model(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_versions(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    s.get_registered_model(&name).await?;
    Ok(Json(VersionList { versions: s.list_model_versions(Some(&name)).await? }))
}

async fn create_version(
    Svc(s): Svc,
    Path(name): Path<String>,
    ApiJson(v): ApiJson<NewModelVersion>,
) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_model_version(&name, v).await?)))
}

async fn get_version(Svc(s): Svc, Path((name, v)): Path<(String, String)>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_model_version(&name, version_number(&v)?).await?))
}

async fn update_version(
    Svc(s): Svc,
    Path((name, v)): Path<(String, String)>,
    ApiJson(p): ApiJson<ModelVersionPatch>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.update_model_version(&name, version_number(&v)?, p).await?))
}

async fn delete_version(Svc(s): Svc, Path((name, v)): Path<(String, String)>) -> Res<impl IntoResponse> {
    s.delete_model_version(&name, version_number(&v)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn run_models(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    let id = s.resolve(&run).await?;
    let project = s.store.get_project(&id.project).await?;
    let mut logged = s.list_logged_models(&[project.id]).await?;
    logged.retain(|m| m.source_run == Some(id.id));
    Ok(Json(RunModels { versions: s.model_versions_of_run(&run).await?, logged_models: logged }))
}
