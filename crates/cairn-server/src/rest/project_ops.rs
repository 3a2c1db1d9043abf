//! What the CLI asks of a project besides its runs: what a parameter has tried, the
//! baseline (read, set, judge a re-evaluation), study plans; history brought in by
//! importers; and the server about itself.

use super::{ApiJson, QueryResult, Res, query};
use crate::auth::Svc;
use crate::service::Service;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use cairn_api::baseline::{ReevalRequest, SetBaseline};
use cairn_api::import::{ImportModel, ImportProject, ImportRun, ImportRunBatch, ImportedRuns};
use cairn_api::reports::{StudiesQuery, TriedQuery};
use cairn_domain::study::Study;

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/server", get(server_info))
        .route("/api/v1/projects/{name}/tried", get(tried))
        .route("/api/v1/projects/{name}/baseline", get(baseline).put(set_baseline))
        .route("/api/v1/projects/{name}/baseline/reevals", post(record_reeval))
        .route("/api/v1/projects/{name}/studies/{study}", get(study).put(save_study))
        .route("/api/v1/import/projects", post(import_project))
        .route("/api/v1/import/runs", post(import_run))
        .route("/api/v1/import/runs/batch", post(import_runs))
        .route("/api/v1/import/models", post(import_model))
}

async fn server_info(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(s.server_info().await?))
}

async fn tried(Svc(s): Svc, Path(name): Path<String>, q: QueryResult<TriedQuery>) -> Res<impl IntoResponse> {
    Ok(Json(s.tried(&name, &query(q)?).await?))
}

async fn baseline(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.baseline_state(&name).await?))
}

async fn set_baseline(
    Svc(s): Svc,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<SetBaseline>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.set_baseline(&name, b).await?))
}

async fn record_reeval(
    Svc(s): Svc,
    Path(name): Path<String>,
    ApiJson(r): ApiJson<ReevalRequest>,
) -> Res<impl IntoResponse> {
    Ok((axum::http::StatusCode::CREATED, Json(s.record_reeval(&name, r).await?)))
}

async fn study(
    Svc(s): Svc,
    Path((name, study)): Path<(String, String)>,
    q: QueryResult<StudiesQuery>,
) -> Res<impl IntoResponse> {
    let q = query(q)?;
    Ok(Json(s.study_by_name(&name, &study, q.metric.as_deref(), q.lower_is_better).await?))
}

async fn save_study(
    Svc(s): Svc,
    Path((name, study)): Path<(String, String)>,
    ApiJson(body): ApiJson<Study>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.save_study(&name, &study, body).await?))
}

async fn import_project(Svc(s): Svc, ApiJson(p): ApiJson<ImportProject>) -> Res<impl IntoResponse> {
    Ok(Json(s.import_project(p).await?))
}

async fn import_run(Svc(s): Svc, ApiJson(r): ApiJson<ImportRun>) -> Res<impl IntoResponse> {
    Ok(Json(s.import_run(r).await?))
}

async fn import_runs(Svc(s): Svc, ApiJson(b): ApiJson<ImportRunBatch>) -> Res<impl IntoResponse> {
    Ok(Json(ImportedRuns { runs: s.import_runs(b.runs).await? }))
}

async fn import_model(Svc(s): Svc, ApiJson(m): ApiJson<ImportModel>) -> Res<impl IntoResponse> {
    Ok(Json(s.import_model(m).await?))
}
