//! The runner's REST surface: submitting and managing jobs, the queue, agents (what
//! they register, poll and report), settings, usage and live logs.

use super::{ApiJson, QueryResult, Res, query};
use crate::auth::Svc;
use crate::error::ApiError;
use crate::service::Service;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use cairn_api::jobs::{
    AgentPoll, AgentRegistration, JobReport, JobsAnswer, JobsRequest, LogAppend, QueueQuery, RunnerSettings,
    SubmitRequest, UsageQuery,
};
use serde::Deserialize;

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/jobs", post(submit))
        .route("/api/v1/jobs/cancel", post(cancel))
        .route("/api/v1/jobs/{run}", get(job))
        .route("/api/v1/jobs/{run}/why", get(why))
        .route("/api/v1/jobs/{run}/requeue", post(requeue))
        .route("/api/v1/jobs/{run}/started", post(started))
        .route("/api/v1/jobs/{run}/ended", post(ended))
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/agents", post(register).get(agents))
        .route("/api/v1/agents/{id}/poll", post(poll))
        .route("/api/v1/runner/settings", get(settings).put(put_settings))
        .route("/api/v1/usage", get(usage))
        .route("/api/v1/runs/{run}/logs", get(read_log).post(append_log))
}

async fn submit(Svc(s): Svc, ApiJson(req): ApiJson<SubmitRequest>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.submit_job(req).await?)))
}

async fn cancel(Svc(s): Svc, ApiJson(req): ApiJson<JobsRequest>) -> Res<impl IntoResponse> {
    if req.jobs.is_empty() || req.jobs.len() > 1000 {
        return Err(ApiError::invalid("name 1 to 1000 jobs to cancel"));
    }
    Ok(Json(JobsAnswer { jobs: s.cancel_jobs(&req.jobs).await? }))
}

async fn job(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.get_job(&run).await?))
}

async fn why(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.job_why(&run).await?))
}

async fn requeue(Svc(s): Svc, Path(run): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.requeue_job(&run).await?))
}

async fn started(Svc(s): Svc, Path(run): Path<String>, ApiJson(r): ApiJson<JobReport>) -> Res<impl IntoResponse> {
    Ok(Json(s.job_started(&run, r).await?))
}

async fn ended(Svc(s): Svc, Path(run): Path<String>, ApiJson(r): ApiJson<JobReport>) -> Res<impl IntoResponse> {
    Ok(Json(s.job_ended(&run, r).await?))
}

async fn queue(Svc(s): Svc, q: QueryResult<QueueQuery>) -> Res<impl IntoResponse> {
    Ok(Json(s.queue(query(q)?).await?))
}

async fn register(Svc(s): Svc, ApiJson(r): ApiJson<AgentRegistration>) -> Res<impl IntoResponse> {
    Ok((StatusCode::CREATED, Json(s.register_agent(r).await?)))
}

async fn agents(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(s.list_agents().await?))
}

async fn poll(Svc(s): Svc, Path(id): Path<String>, ApiJson(p): ApiJson<AgentPoll>) -> Res<impl IntoResponse> {
    Ok(Json(s.agent_poll(&id, p).await?))
}

async fn settings(Svc(s): Svc) -> Res<impl IntoResponse> {
    Ok(Json(s.runner_settings().await?))
}

async fn put_settings(Svc(s): Svc, ApiJson(r): ApiJson<RunnerSettings>) -> Res<impl IntoResponse> {
    Ok(Json(s.put_runner_settings(r).await?))
}

async fn usage(Svc(s): Svc, q: QueryResult<UsageQuery>) -> Res<impl IntoResponse> {
    Ok(Json(s.usage(query(q)?).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogQuery {
    #[serde(default)]
    offset: u64,
}

async fn read_log(Svc(s): Svc, Path(run): Path<String>, q: QueryResult<LogQuery>) -> Res<impl IntoResponse> {
    Ok(Json(s.read_log(&run, query(q)?.offset).await?))
}

async fn append_log(Svc(s): Svc, Path(run): Path<String>, ApiJson(p): ApiJson<LogAppend>) -> Res<impl IntoResponse> {
    let end = s.append_log(&run, p).await?;
    Ok(Json(serde_json::json!({ "end": end })))
}
