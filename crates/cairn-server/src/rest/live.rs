//! What the web UI watches and counts: a run's live events (server-sent events), a
//! project's summary, keys and refused duplicates.

use super::Res;
use crate::auth::Svc;
use crate::error::ApiError;
use crate::service::Service;
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use cairn_api::reports::{
    CompareQuery, GroupsRequest, RefusalsQuery, ReviewQuery, StudiesQuery, StudyList, SummaryQuery,
};
use cairn_domain::{Run, RunId, RunRef};
use futures::stream::{self, Stream, StreamExt};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

pub fn routes() -> Router<Service> {
    Router::new()
        .route("/api/v1/runs/{run}/events", get(run_events))
        .route("/api/v1/projects/{name}/summary", get(summary))
        .route("/api/v1/projects/{name}/keys", get(keys))
        .route("/api/v1/projects/{name}/refusals", get(refusals))
        .route("/api/v1/projects/{name}/review", get(review))
        .route("/api/v1/projects/{name}/studies", get(studies))
        .route("/api/v1/runs/groups", axum::routing::post(groups))
        .route("/api/v1/projects/{name}/compare", get(compare))
}

async fn summary(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(s.summary(&name, q.days).await?))
}

async fn keys(Svc(s): Svc, Path(name): Path<String>) -> Res<impl IntoResponse> {
    Ok(Json(s.keys(&name).await?))
}

async fn refusals(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<RefusalsQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    Ok(Json(s.refusals(&name, q.limit).await?))
}

/// The weekly review as JSON, or Markdown with `format=markdown`.
async fn review(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<axum::response::Response> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let r = s.review(&name, q.days).await?;
    Ok(match q.format.as_deref() {
        None | Some("json") => Json(r).into_response(),
        Some("markdown") => {
            ([(axum::http::header::CONTENT_TYPE, "text/markdown; charset=utf-8")], crate::service::review_markdown(&r))
                .into_response()
        }
        Some(other) => return Err(ApiError::invalid(format!("format '{other}': use json or markdown"))),
    })
}

/// Every study of the project (ablations, factorial designs) with its report.
async fn studies(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<StudiesQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let reports = s.study_reports(&name, q.metric.as_deref(), q.lower_is_better).await?;
    Ok(Json(StudyList { studies: reports }))
}

async fn groups(Svc(s): Svc, super::ApiJson(b): super::ApiJson<GroupsRequest>) -> Res<impl IntoResponse> {
    Ok(Json(s.groups(&b.project, b.filter.as_deref(), &b.group_by, &b.metric).await?))
}

/// Each candidate against the reference: difference, 95% CI, p-value, verdict.
async fn compare(
    Svc(s): Svc,
    Path(name): Path<String>,
    q: Result<Query<CompareQuery>, axum::extract::rejection::QueryRejection>,
) -> Res<impl IntoResponse> {
    let Query(q) = q.map_err(|e| ApiError::invalid(e.body_text()))?;
    let candidates: Vec<String> =
        q.candidates.split(',').map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
    let report = s
        .compare_report(
            &name,
            q.reference.as_deref().filter(|r| !r.is_empty()),
            &candidates,
            q.metric.as_deref(),
            q.lower_is_better,
            q.single,
            q.alpha.unwrap_or(0.05),
        )
        .await?;
    Ok(Json(report))
}

/// What a watcher has been sent so far.
struct Watch {
    service: Service,
    run: RunId,
    rx: tokio::sync::broadcast::Receiver<RunId>,
    last: Option<Run>,
    log_size: Option<u64>,
    done: bool,
}

fn event(kind: &str, data: &impl serde::Serialize) -> Event {
    // Every event says how soon to reconnect, so a client that joins at any event knows.
    Event::default()
        .event(kind)
        .retry(Duration::from_secs(2))
        .json_data(data)
        .unwrap_or_else(|_| Event::default().comment("unserialisable"))
}

/// Events for one run: `run` when its record changes, `metrics` with the series that
/// grew, `log` when its output log grew, and `end` once it is final (then the stream
/// closes). Changes on this server wake the stream at once; a one-second timer catches
/// the rest (another replica's writes).
async fn run_events(Svc(s): Svc, Path(run): Path<String>) -> Res<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let first = s.resolve(&run).await?;
    let rx = s.subscribe();
    let watch = Watch { service: s, run: first.id, rx, last: None, log_size: None, done: false };
    let events = stream::unfold(watch, |mut w| async move {
        if w.done {
            return None;
        }
        if w.last.is_some() {
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(tick);
            loop {
                tokio::select! {
                    _ = &mut tick => break,
                    got = w.rx.recv() => match got {
                        Ok(id) if id == w.run => break,
                        Ok(_) => continue,
                        Err(_) => break,
                    },
                }
            }
        }
        let mut out = Vec::new();
        let Ok(now) = w.service.store.get_run(&RunRef::Id(w.run)).await else {
            w.done = true;
            return Some((out, w));
        };
        match &w.last {
            None => out.push(event("run", &now)),
            Some(before) => {
                if before.updated_at != now.updated_at || before.status != now.status {
                    out.push(event("run", &now));
                }
                let counts: BTreeMap<&str, i64> = before.metrics.iter().map(|m| (m.key.as_str(), m.count)).collect();
                let grew: Vec<_> =
                    now.metrics.iter().filter(|m| counts.get(m.key.as_str()) != Some(&m.count)).cloned().collect();
                if !grew.is_empty() {
                    out.push(event("metrics", &serde_json::json!({ "metrics": grew })));
                }
            }
        }
        if let Ok(logs) = w.service.store.list_artifacts(w.run, "logs/output.log").await
            && let Some(log) = logs.first()
            && w.log_size != Some(log.size)
        {
            w.log_size = Some(log.size);
            out.push(event("log", &serde_json::json!({ "path": log.path, "size": log.size })));
        }
        if now.status.is_terminal() {
            out.push(event("end", &now));
            w.done = true;
        }
        w.last = Some(now);
        Some((out, w))
    })
    .flat_map(|batch| stream::iter(batch.into_iter().map(Ok)));
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)).text("ping")))
}
