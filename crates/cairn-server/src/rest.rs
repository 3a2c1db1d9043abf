//! REST handlers: thin adapters from HTTP to the service layer. JSON bodies go
//! through [`ApiJson`], so malformed input gets the API's error shape, never axum's
//! plain-text rejections.

mod access;
mod live;
mod models;
mod oidc;
mod project_ops;
mod runner;

use crate::auth::Svc;
use crate::error::{ApiError, ErrorCode};
use crate::service::{SearchRequest, Service};
use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cairn_api::reports::InsightsQuery;
use cairn_api::runs::{
    Accepted, ArtifactList, ArtifactQuery, ArtifactsDeleted, FinishRequest, HistoryQuery, MetricList, MetricsBatch,
    MultiHistoryRequest, ProjectList, RunBatch,
};
use cairn_domain::{MetricSeries, NewProject, NewRun, ProjectPatch, RunPatch};
use cairn_store::StepRange;
use futures::TryStreamExt;
use std::collections::BTreeMap;

/// Largest JSON body accepted (artifact uploads are streamed and not limited by it).
pub const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// JSON extractor whose rejections are API errors.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .is_some_and(|m| m == "application/json" || (m.starts_with("application/") && m.ends_with("+json")));
        if !json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                "send the body as JSON with the header Content-Type: application/json",
            ));
        }
        let bytes = match bytes::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the request body is over the limit of {MAX_JSON_BODY} bytes (64 MiB): split it"),
                ));
            }
            Err(e) => return Err(ApiError::invalid(format!("the body could not be read: {}", e.body_text()))),
        };
        // serde reads a JSON array into a struct field by field; every body here is
        // an object, so an array is refused instead of being read that way.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(ApiError::invalid("the JSON body must be an object ({…}), not an array"));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::invalid(format!("the JSON body does not fit: {}", e.body_text())),
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "send the body as JSON with the header Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is over the limit of {MAX_JSON_BODY} bytes (64 MiB): split it"),
        ),
        other => ApiError::invalid(other.body_text()),
    }
}

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/projects", post(create_project).get(list_projects))
        .route("/api/v1/projects/{name}", get(get_project).patch(update_project))
        .route("/api/v1/projects/{name}/insights", get(project_insights))
        .route("/api/v1/runs", post(create_run).get(search_runs_get))
        .route("/api/v1/runs/search", post(search_runs_post))
        .route("/api/v1/runs/batch", post(create_run_batch))
        .route("/api/v1/runs/{run}", get(get_run).patch(update_run).delete(delete_run))
        .route("/api/v1/runs/{run}/finish", post(finish_run))
        .route("/api/v1/runs/{run}/heartbeat", post(heartbeat))
        .route("/api/v1/runs/{run}/lineage", get(lineage))
        .route("/api/v1/runs/{run}/metrics", post(log_metrics).get(metric_summaries))
        .route("/api/v1/runs/{run}/metrics/{*key}", get(history))
        .route("/api/v1/metrics/history", post(multi_history))
        .route("/api/v1/runs/{run}/artifacts", get(list_artifacts))
        .route(
            "/api/v1/runs/{run}/artifacts/{*path}",
            put(put_artifact).layer(DefaultBodyLimit::disable()).get(get_artifact).delete(delete_artifact),
        )
        .merge(models::routes())
        .merge(project_ops::routes())
        .merge(access::routes())
        .merge(oidc::routes())
        .merge(live::routes())
        .merge(runner::routes())
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
}

type Res<T> = Result<T, ApiError>;

/// A query string as the handler's type, or the API's 400 naming what is wrong.
type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryResult<T>) -> Res<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::invalid(e.body_text()))
}

async fn delete_artifact(Svc(s): Svc, Path((run, path)): Path<(String, String)>) -> Res<impl IntoResponse> {
    let gone = s.delete_artifacts(&run, &path).await?;
    if gone.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ArtifactNotFound,
            format!("run {run} has no artifact or folder '{path}'"),
        ));
    }
    Ok(Json(ArtifactsDeleted { deleted: gone }))
}

async fn create_project(Svc(s): Svc, ApiJson(p): ApiJson<NewProject>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_project(p).await?)))
}

async fn list_projects(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(ProjectList { projects: s.list_projects().await? }))
}

async fn get_project(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_project(&name).await?))
}

async fn update_project(
    Svc(s): Svc,
    Path(name): Path<String>,
    ApiJson(p): ApiJson<ProjectPatch>,
) -> Res<impl IntoResponse> {
    Ok(Json(s.update_project(&name, p).await?))
}

async fn project_insights(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<InsightsQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(s.insights(&name, q.metric.as_deref(), q.lower_is_better, q.filter.as_deref()).await?))
}

async fn create_run(Svc(s): Svc, ApiJson(new): ApiJson<NewRun>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_run(new).await?)))
}

async fn get_run(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.resolve(&run).await?))
}

async fn update_run(Svc(s): Svc, Path(run): Path<String>, ApiJson(p): ApiJson<RunPatch>) -> Res<impl IntoResponse> {
    Ok(Json(s.update_run(&run, p).await?))
}

async fn finish_run(Svc(s): Svc, Path(run): Path<String>, body: axum::body::Bytes) -> Res<impl IntoResponse> {
    // An empty body means "finished".
    let f: FinishRequest = if body.iter().all(u8::is_ascii_whitespace) {
        FinishRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::invalid(format!("the JSON body does not fit: {e}")))?
    };
    Ok(Json(s.finish_run(&run, f.status, f.exit_code).await?))
}

async fn delete_run(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    s.delete_run(&run).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn lineage(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.lineage(&run).await?))
}

async fn search_runs_get(
    Svc(s): Svc,
    q: Result<Query<SearchRequest>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(s.search(q).await?))
}

async fn search_runs_post(Svc(s): Svc, ApiJson(q): ApiJson<SearchRequest>) -> Res<impl IntoResponse> {
    Ok(Json(s.search(q).await?))
}

async fn create_run_batch(Svc(s): Svc, ApiJson(b): ApiJson<RunBatch>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.create_run_batch(b.runs).await?)))
}

async fn log_metrics(
    Svc(s): Svc,
    Path(run): Path<String>,
    ApiJson(body): ApiJson<MetricsBatch>,
) -> Res<impl IntoResponse> {
    let now = crate::service::now_ms();
    // Group points by key, keeping their order, then add the columnar series.
    let mut by_key: BTreeMap<String, MetricSeries> = BTreeMap::new();
    for p in body.points {
        by_key.entry(p.key.as_str().to_owned()).or_default().push(p.step, p.value, p.timestamp.unwrap_or(now));
    }
    let mut batch: Vec<(String, MetricSeries)> = by_key.into_iter().collect();
    for c in body.series {
        let n = c.steps.len();
        let timestamps = match c.timestamps {
            Some(t) => t,
            None => vec![now; n],
        };
        batch.push((c.key, MetricSeries { steps: c.steps, values: c.values, timestamps }));
    }
    let accepted = s.log_metrics(&run, batch, body.batch_id.as_deref()).await?;
    Ok(Json(Accepted { accepted }))
}

/// Formats a large body off the async threads (a long series takes tens of ms).
async fn json_response(f: impl FnOnce() -> Vec<u8> + Send + 'static) -> Res<Response> {
    let body = tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("formatting failed: {e}")))?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response())
}

/// The run's process is alive (the SDK and `cairn run` send one every 30 s).
async fn heartbeat(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(serde_json::json!({ "status": s.heartbeat(&run).await? })))
}

async fn metric_summaries(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(MetricList { metrics: s.metric_summaries(&run).await? }))
}

async fn history(
    Svc(s): Svc,
    Path((run, key)): Path<(String, String)>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<Response> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let range = StepRange { min: q.min_step, max: q.max_step };
    let (h, held) = s.history(&run, &key, range, q.max_points).await?;
    // The reservation lives as long as the answer is being sent.
    let stream = crate::json::history_stream(h).map_ok(move |b| {
        let _ = &held;
        b
    });
    let mut resp = Body::from_stream(stream).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(resp)
}

async fn multi_history(Svc(s): Svc, ApiJson(b): ApiJson<MultiHistoryRequest>) -> Res<impl IntoResponse> {
    let range = StepRange { min: b.min_step, max: b.max_step };
    let (series, held) = s.multi_history(&b.runs, &b.keys, range, b.max_points).await?;
    let resp = json_response(move || crate::json::histories(&series)).await;
    drop(held);
    resp
}

async fn put_artifact(Svc(s): Svc, Path((run, path)): Path<(String, String)>, body: Body) -> Res<impl IntoResponse> {
    let stream = body.into_data_stream().map_err(|e| e.to_string());
    let info = s.put_artifact(&run, &path, stream).await?;
    Ok((StatusCode::CREATED, Json(info)))
}

/// Reads an artifact, whole or (with `Range: bytes=N-` or `bytes=N-M`) in part.
async fn get_artifact(
    Svc(s): Svc,
    Path((run, path)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Res<Response> {
    let (info, stream) = s.get_artifact(&run, &path).await?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut resp = match range.as_deref().and_then(parse_range) {
        None => {
            let mut r = Body::from_stream(stream).into_response();
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(info.size));
            r
        }
        Some((start, _)) if start >= info.size => {
            let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", info.size)) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(r);
        }
        Some((start, end)) => {
            drop(stream);
            let end = end.map_or(info.size, |e| (e + 1).min(info.size));
            let id = s.resolve(&run).await?.id;
            let part = s.get_artifact_range(id, &info.path, start, end).await?;
            let mut r = Body::from_stream(part).into_response();
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            let h = r.headers_mut();
            h.insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{}", end - 1, info.size)) {
                h.insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&info.blake3) {
        h.insert("x-cairn-blake3", v);
    }
    Ok(resp)
}

/// `bytes=N-` or `bytes=N-M` (one range; others are answered with the whole file).
fn parse_range(v: &str) -> Option<(u64, Option<u64>)> {
    let (a, b) = v.strip_prefix("bytes=")?.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() { None } else { Some(b.trim().parse().ok()?) };
    if end.is_some_and(|e| e < start) {
        return None;
    }
    Some((start, end))
}

async fn list_artifacts(
    Svc(s): Svc,
    Path(run): Path<String>,
    q: Result<Query<ArtifactQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(ArtifactList { artifacts: s.list_artifacts(&run, &q.prefix).await? }))
}
