//! MLflow's tracking REST API (`/api/2.0/mlflow/…`, and the `/ajax-api/…` aliases its
//! UI uses) and its artifact proxy (`/api/2.0/mlflow-artifacts/…`), as a thin adapter
//! over Cairn's [`Service`]: code written for `mlflow` works against `cairn server`
//! unchanged, and what it records is an ordinary Cairn run.
//!
//! Mapping: an experiment is a project (experiment id = the project's stable id; `0` is
//! the project `default`), a run is a run (same 32-hex id), params are config keys
//! (typed when the text reads back the same: `0.01` is a number, `1e-3` stays text),
//! tags are tags, metrics are metrics. MLflow's system tags fill Cairn fields
//! (`mlflow.runName` → name, `mlflow.user` → owner, `mlflow.note.content` →
//! description, `mlflow.parentRunId` → parent, `mlflow.source.git.commit` → code
//! commit, `cairn.hypothesis` → hypothesis). Runs made this way need no hypothesis.

mod error;
use cairn_query::listing::{ListField, ListOrder, Literal, Test};
use cairn_query::mlflow as filter;
use cairn_store::ListQuery;
mod registry;

pub use error::MlflowError;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_domain::{CodeInfo, MetricSeries, NewProject, NewRun, Project, ProjectPatch, Run, RunPatch, RunStatus};
use cairn_server::Service;
use cairn_server::auth::Svc;
use cairn_server::error::ErrorCode;
use cairn_server::service::SearchRequest;
use cairn_store::StepRange;
use error::Result;
use futures::TryStreamExt;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

/// MLflow's limits on one `log-batch` request.
const MAX_BATCH_METRICS: usize = 1000;
const MAX_BATCH_PARAMS: usize = 100;
const MAX_BATCH_TAGS: usize = 100;
const MAX_BATCH_TOTAL: usize = 1000;
const MAX_PARAM_VALUE: usize = 6000;
const MAX_KEY: usize = 250;
/// The most runs one search may return (MLflow's own limit).
const MAX_SEARCH_RESULTS: u32 = 50_000;

/// The routes, for the binary to merge with Cairn's own.
pub fn router(service: Service) -> Router {
    let tracking = Router::new()
        .route("/experiments/create", post(create_experiment))
        .route("/experiments/get", get(get_experiment))
        .route("/experiments/get-by-name", get(get_experiment_by_name))
        .route("/experiments/search", post(search_experiments).get(search_experiments_get))
        .route("/experiments/update", post(update_experiment))
        .route("/experiments/delete", post(delete_experiment))
        .route("/experiments/restore", post(restore_experiment))
        .route("/experiments/set-experiment-tag", post(set_experiment_tag))
        .route("/experiments/delete-experiment-tag", post(delete_experiment_tag))
        .route("/runs/create", post(create_run))
        .route("/runs/get", get(get_run))
        .route("/runs/update", post(update_run))
        .route("/runs/delete", post(delete_run))
        .route("/runs/restore", post(restore_run))
        .route("/runs/search", post(search_runs))
        .route("/runs/set-tag", post(set_tag))
        .route("/runs/delete-tag", post(delete_tag))
        .route("/runs/log-metric", post(log_metric))
        .route("/runs/log-parameter", post(log_param))
        .route("/runs/log-batch", post(log_batch))
        .route("/runs/log-inputs", post(log_inputs))
        .route("/metrics/get-history", get(get_history))
        .route("/metrics/get-history-bulk-interval", get(get_history_bulk_interval))
        .route("/artifacts/list", get(list_artifacts_tracking))
        .merge(registry::routes());
    let artifacts = Router::new()
        .route("/artifacts", get(proxy_list))
        .route("/artifacts/{*path}", get(proxy_download).put(proxy_upload).delete(proxy_delete))
        .route("/mpu/create/{*path}", post(multipart_create))
        .route("/mpu/complete/{*path}", post(multipart_complete))
        .route("/mpu/abort/{*path}", post(multipart_abort))
        .route("/mpu/part/{upload}/{part}", axum::routing::put(multipart_part));
    Router::new()
        .nest("/api/2.0/mlflow", tracking.clone())
        .nest("/ajax-api/2.0/mlflow", tracking)
        .nest("/api/2.0/mlflow-artifacts", artifacts.clone())
        .nest("/ajax-api/2.0/mlflow-artifacts", artifacts)
        .with_state(service)
}

type Params = Query<HashMap<String, String>>;

// -- small readers for MLflow's JSON (int64 may come as a string) --------------------------

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn required<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    text(v, key).filter(|s| !s.is_empty()).ok_or_else(|| {
        MlflowError::invalid(format!("Missing value for required parameter '{key}'. See the API docs for more information about request parameters."))
    })
}

fn int(v: &Value, key: &str) -> Result<Option<i64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| MlflowError::invalid(format!("'{key}' must be an integer"))),
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| MlflowError::invalid(format!("'{key}' must be an integer, got '{s}'")))
        }
        Some(other) => Err(MlflowError::invalid(format!("'{key}' must be an integer, got {other}"))),
    }
}

fn float(v: &Value, key: &str) -> Result<f64> {
    match v.get(key) {
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "Infinity" | "inf" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            s => s.parse().map_err(|_| MlflowError::invalid(format!("'{key}' must be a number, got '{s}'"))),
        },
        _ => Err(MlflowError::invalid(format!("Missing value for required parameter '{key}'"))),
    }
}

fn run_id(v: &Value) -> Result<String> {
    text(v, "run_id")
        .filter(|s| !s.is_empty())
        .or_else(|| text(v, "run_uuid").filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'run_id'"))
}

/// `order_by` as a list of clauses (a query string may give one as a plain string).
fn order_list(b: &Value) -> Vec<String> {
    match b.get("order_by") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(o)) if !o.is_empty() => vec![o.clone()],
        _ => vec![],
    }
}

/// The one page token of every MLflow list (runs, experiments, models, versions,
/// metric history): the offset, and the time of the first page, so entries made
/// meanwhile do not shift later pages. A run search's cursor has the same shape.
fn page_token(offset: u64, as_of: i64) -> String {
    format!("o{offset}t{as_of}")
}

/// The (offset, as of) a request's `page_token` names; (0, now) without one.
fn read_page_token(b: &Value) -> Result<(u64, i64)> {
    match text(b, "page_token").filter(|t| !t.is_empty()) {
        None => Ok((0, cairn_server::service::now_ms())),
        Some(t) => t
            .strip_prefix('o')
            .and_then(|rest| rest.split_once('t'))
            .and_then(|(o, at)| Some((o.parse().ok()?, at.parse().ok()?)))
            .ok_or_else(|| MlflowError::invalid(format!("Invalid page token '{t}': use the token a search returned"))),
    }
}

fn query_value(q: &HashMap<String, String>) -> Value {
    Value::Object(q.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

fn float_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<Value> {
    map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
}

fn key_values(v: &Value, field: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in v.get(field).and_then(Value::as_array).into_iter().flatten() {
        let key = required(item, "key")?.to_owned();
        let value = match item.get("value") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        out.push((key, value));
    }
    Ok(out)
}

// -- experiments ------------------------------------------------------------------------------

fn experiment_id(p: &Project) -> String {
    if p.name.as_str() == "default" { "0".to_owned() } else { p.id.to_string() }
}

fn experiment_json(p: &Project) -> Value {
    let id = experiment_id(p);
    json!({
        "experiment_id": id,
        "name": p.name.as_str(),
        "artifact_location": format!("mlflow-artifacts:/{id}"),
        "lifecycle_stage": if p.deleted_at.is_some() { "deleted" } else { "active" },
        "last_update_time": p.updated_at.unwrap_or(p.created_at),
        "creation_time": p.created_at,
        "tags": pairs(&p.tags),
    })
}

async fn project_of(s: &Service, experiment: &str) -> Result<Project> {
    let not_found = || MlflowError::missing(format!("No Experiment with id={experiment} exists"));
    if experiment == "0" {
        // Read where it exists; made on first use (which needs a writer).
        return match s.get_project("default").await {
            Err(e) if e.code == ErrorCode::ProjectNotFound => Ok(s.ensure_project("default").await?),
            other => Ok(other?),
        };
    }
    let id: i64 = experiment.parse().map_err(|_| not_found())?;
    s.get_project_by_id(id).await.map_err(|e| if e.status == StatusCode::NOT_FOUND { not_found() } else { e.into() })
}

async fn create_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "name")?;
    let tags: BTreeMap<String, String> = key_values(&b, "tags")?.into_iter().collect();
    let new = NewProject { name: name.to_owned(), require_hypothesis: Some(false), tags, ..Default::default() };
    match s.create_project(new).await {
        Ok(p) => Ok(Json(json!({"experiment_id": experiment_id(&p)}))),
        Err(e) if e.code == ErrorCode::AlreadyExists => {
            Err(MlflowError::exists(format!("Experiment(name={name}) already exists. Error: {}", e.message)))
        }
        Err(e) => Err(e.into()),
    }
}

async fn get_experiment(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let id = required(&query_value(&q), "experiment_id")?.to_owned();
    let p = project_of(&s, &id).await?;
    Ok(Json(json!({"experiment": experiment_json(&p)})))
}

async fn get_experiment_by_name(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let name = required(&query_value(&q), "experiment_name")?.to_owned();
    match s.get_project(&name).await {
        Ok(p) => Ok(Json(json!({"experiment": experiment_json(&p)}))),
        Err(e) if e.status == StatusCode::NOT_FOUND || e.code == ErrorCode::InvalidArgument => {
            Err(MlflowError::missing(format!("Could not find experiment with name '{name}'")))
        }
        Err(e) => Err(e.into()),
    }
}

async fn search_experiments_get(state: Svc, Query(q): Params) -> Result<Json<Value>> {
    search_experiments(state, Json(query_value(&q))).await
}

async fn search_experiments(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let max = int(&b, "max_results")?.unwrap_or(1000);
    if !(1..=50_000).contains(&max) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied; it must be between 1 and 50000"
        )));
    }
    let deleted = match text(&b, "view_type").unwrap_or("ACTIVE_ONLY") {
        "DELETED_ONLY" => Some(true),
        "ALL" => None,
        _ => Some(false),
    };
    let mut conds = filter::experiment_filter(text(&b, "filter").unwrap_or(""))?;
    // Experiment ids as MLflow shows them (`0` is the project `default`) become ids.
    let mut default_id = None;
    for c in &mut conds {
        if c.field != ListField::Id {
            continue;
        }
        let values: Vec<&mut Literal> = match &mut c.test {
            Test::Compare(_, v) => vec![v],
            Test::In(vs, _) => vs.iter_mut().collect(),
            _ => vec![],
        };
        for v in values {
            let Literal::Str(shown) = v else { continue };
            let id = if shown == "0" {
                if default_id.is_none() {
                    default_id = Some(s.get_project("default").await.map(|p| p.id).unwrap_or(-1));
                }
                default_id.unwrap_or(-1)
            } else {
                // An id no experiment has matches none, as on MLflow.
                shown.parse().unwrap_or(-1)
            };
            *v = Literal::Num(id as f64);
        }
    }
    let mut order = filter::experiment_order(&order_list(&b))?;
    // MLflow's default: newest first (ties by experiment id, as the store breaks them).
    if order.is_empty() {
        order.push(ListOrder { field: ListField::Created, descending: true });
    }
    let (offset, as_of) = read_page_token(&b)?;
    let query = ListQuery {
        conds,
        order,
        deleted,
        created_at_most: Some(as_of),
        limit: max as u32 + 1,
        offset,
        ..Default::default()
    };
    let mut found = s.search_projects(query).await?;
    let more = found.len() > max as usize;
    found.truncate(max as usize);
    let mut out = json!({"experiments": found.iter().map(experiment_json).collect::<Vec<_>>()});
    if more {
        out["next_page_token"] = json!(page_token(offset + max as u64, as_of));
    }
    Ok(Json(out))
}

async fn patch_experiment(s: &Service, b: &Value, patch: ProjectPatch) -> Result<Json<Value>> {
    let id = required(b, "experiment_id")?;
    let p = project_of(s, id).await?;
    s.update_project(p.name.as_str(), patch).await?;
    Ok(Json(json!({})))
}

async fn update_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let name = required(&b, "new_name")?.to_owned();
    patch_experiment(&s, &b, ProjectPatch { name: Some(name), ..Default::default() }).await
}

async fn delete_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    patch_experiment(&s, &b, ProjectPatch { deleted: Some(true), ..Default::default() }).await
}

async fn restore_experiment(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    patch_experiment(&s, &b, ProjectPatch { deleted: Some(false), ..Default::default() }).await
}

async fn set_experiment_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    let value = text(&b, "value").unwrap_or("").to_owned();
    patch_experiment(&s, &b, ProjectPatch { tags: [(key, value)].into(), ..Default::default() }).await
}

/// As MLflow: a tag the experiment lacks is `RESOURCE_DOES_NOT_EXIST`.
async fn delete_experiment_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let key = required(&b, "key")?.to_owned();
    let id = required(&b, "experiment_id")?.to_owned();
    if !project_of(&s, &id).await?.tags.contains_key(&key) {
        return Err(MlflowError::missing(format!("No tag with name: {key} in experiment with id {id}")));
    }
    patch_experiment(&s, &b, ProjectPatch { remove_tags: vec![key], ..Default::default() }).await
}

// -- runs -------------------------------------------------------------------------------------

fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Queued => "SCHEDULED",
        RunStatus::Running => "RUNNING",
        RunStatus::Finished => "FINISHED",
        // MLflow has no "crashed": a run that died silently failed.
        RunStatus::Failed | RunStatus::Crashed => "FAILED",
        RunStatus::Killed => "KILLED",
    }
}

fn parse_status(s: &str) -> Result<RunStatus> {
    Ok(match s {
        "SCHEDULED" => RunStatus::Queued,
        "RUNNING" => RunStatus::Running,
        "FINISHED" => RunStatus::Finished,
        "FAILED" => RunStatus::Failed,
        "KILLED" => RunStatus::Killed,
        other => {
            return Err(MlflowError::invalid(format!(
                "Invalid value '{other}' for parameter 'status': use RUNNING, SCHEDULED, FINISHED, FAILED or KILLED"
            )));
        }
    })
}

/// A config value as MLflow's param text.
fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".to_owned(),
        other => other.to_string(),
    }
}

fn run_info(r: &Run, experiment: &str) -> Value {
    let id = r.id.0.simple().to_string();
    let mut info = json!({
        "run_id": id,
        "run_uuid": id,
        "run_name": r.name,
        "experiment_id": experiment,
        "user_id": r.owner,
        "status": status_name(r.status),
        "start_time": r.started_at.unwrap_or(r.created_at),
        "artifact_uri": format!("mlflow-artifacts:/{experiment}/{id}/artifacts"),
        "lifecycle_stage": if r.deleted_at.is_some() { "deleted" } else { "active" },
    });
    if let Some(e) = r.ended_at {
        info["end_time"] = json!(e);
    }
    info
}

fn run_json(r: &Run, experiment: &str) -> Value {
    let params: Vec<Value> =
        cairn_domain::leaves(&r.config).iter().map(|(k, v)| json!({"key": k, "value": param_text(v)})).collect();
    let metrics: Vec<Value> = r
        .metrics
        .iter()
        .map(|m| json!({"key": m.key, "value": float_json(m.last), "timestamp": m.last_timestamp, "step": m.last_step}))
        .collect();
    // MLflow's system tags, filled from Cairn's fields where the run did not set them.
    let mut tags = r.tags.clone();
    // The name wins over a stored tag: a run renamed in Cairn shows its new name.
    tags.insert("mlflow.runName".into(), r.name.clone());
    tags.entry("mlflow.user".into()).or_insert_with(|| r.owner.clone());
    if !r.description.is_empty() {
        tags.entry("mlflow.note.content".into()).or_insert_with(|| r.description.clone());
    }
    if let Some(p) = r.parents.first() {
        tags.entry("mlflow.parentRunId".into()).or_insert_with(|| p.0.simple().to_string());
    }
    if let Some(c) = r.code.as_ref().and_then(|c| c.commit.clone()) {
        tags.entry("mlflow.source.git.commit".into()).or_insert(c);
    }
    if let Some(h) = &r.hypothesis {
        tags.entry("cairn.hypothesis".into()).or_insert_with(|| h.clone());
    }
    let inputs = dataset_inputs(&tags);
    tags.retain(|k, _| !is_dataset_tag(k));
    json!({
        "info": run_info(r, experiment),
        "data": {"metrics": metrics, "params": params, "tags": pairs(&tags)},
        "inputs": {"dataset_inputs": inputs},
    })
}

/// Experiment ids of projects by name, looked up once per request.
#[derive(Default)]
struct Experiments(HashMap<String, String>);

impl Experiments {
    async fn id(&mut self, s: &Service, project: &str) -> Result<String> {
        if let Some(id) = self.0.get(project) {
            return Ok(id.clone());
        }
        let id = experiment_id(&s.get_project(project).await?);
        self.0.insert(project.to_owned(), id.clone());
        Ok(id)
    }
}

async fn full_run(s: &Service, id: &str) -> Result<Value> {
    let r = s.resolve(id).await.map_err(|e| {
        if e.status == StatusCode::NOT_FOUND || e.code == ErrorCode::InvalidArgument {
            MlflowError::missing(format!("Run with id={id} not found"))
        } else {
            e.into()
        }
    })?;
    let exp = Experiments::default().id(s, r.project.as_str()).await?;
    let mut out = run_json(&r, &exp);
    out["outputs"] = registry::run_outputs(s, r.id, r.project.as_str()).await?;
    Ok(out)
}

async fn create_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let experiment = text(&b, "experiment_id").filter(|e| !e.is_empty()).unwrap_or("0");
    let project = project_of(&s, experiment).await?;
    let tags: BTreeMap<String, String> = key_values(&b, "tags")?.into_iter().collect();
    let name = text(&b, "run_name")
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .or_else(|| tags.get("mlflow.runName").cloned());
    // The client sends `unknown` as user_id when it knows no user; the tag may still say.
    let owner = text(&b, "user_id")
        .filter(|u| !u.is_empty() && *u != "unknown")
        .map(str::to_owned)
        .or_else(|| tags.get("mlflow.user").cloned());
    let code = tags.get("mlflow.source.git.commit").map(|c| CodeInfo {
        versioned: true,
        commit: Some(c.clone()),
        ..Default::default()
    });
    let mut new = NewRun {
        project: project.name.to_string(),
        name,
        owner,
        hypothesis: tags.get("cairn.hypothesis").cloned(),
        description: tags.get("mlflow.note.content").cloned().unwrap_or_default(),
        parents: tags.get("mlflow.parentRunId").cloned().into_iter().collect(),
        code,
        command: tags.get("mlflow.source.name").cloned().into_iter().collect(),
        // The client's clock, as MLflow keeps it: backfills and imports depend on it.
        started_at: int(&b, "start_time")?,
        ..Default::default()
    };
    new.tags = tags;
    let run = s.create_run_without_hypothesis_rule(new).await?;
    Ok(Json(json!({"run": run_json(&run, &experiment_id(&project))})))
}

async fn get_run(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let id = run_id(&query_value(&q))?;
    Ok(Json(json!({"run": full_run(&s, &id).await?})))
}

async fn update_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let run = s.resolve(&id).await?;
    let mut patch = RunPatch::default();
    if let Some(status) = text(&b, "status").filter(|t| !t.is_empty()) {
        let status = parse_status(status)?;
        if status == RunStatus::Queued && run.status != RunStatus::Queued {
            return Err(MlflowError::invalid(format!("run {id} has started: it cannot be SCHEDULED again")));
        }
        patch.status = Some(status).filter(|s| *s != run.status || s.is_terminal());
    }
    // MLflow keeps the client's end time (`set_terminated` sends its clock), and the
    // client sends the end time a run already has with every other update.
    patch.ended_at = int(&b, "end_time")?.filter(|end| Some(*end) != run.ended_at);
    if let Some(name) = text(&b, "run_name").filter(|n| !n.is_empty() && *n != run.name) {
        patch.name = Some(name.to_owned());
        patch.tags = [("mlflow.runName".to_owned(), name.to_owned())].into();
    }
    let run = if patch.status.is_some() || patch.ended_at.is_some() || patch.name.is_some() {
        s.update_run(&id, patch).await?
    } else {
        run
    };
    let exp = Experiments::default().id(&s, run.project.as_str()).await?;
    Ok(Json(json!({"run_info": run_info(&run, &exp)})))
}

async fn restore_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    s.restore_run(&run_id(&b)?).await?;
    Ok(Json(json!({})))
}

async fn delete_run(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    s.delete_run(&run_id(&b)?).await?;
    Ok(Json(json!({})))
}

/// Tags MLflow clients set that are Cairn fields too.
fn tag_patch(tags: &[(String, String)]) -> RunPatch {
    let mut patch = RunPatch { tags: tags.iter().cloned().collect(), ..Default::default() };
    for (k, v) in tags {
        match k.as_str() {
            "mlflow.runName" if !v.is_empty() => patch.name = Some(v.clone()),
            "mlflow.note.content" => patch.description = Some(v.clone()),
            "cairn.hypothesis" => patch.hypothesis = Some(v.clone()),
            _ => {}
        }
    }
    patch
}

async fn set_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    check_key("tag", &key)?;
    let value = text(&b, "value").unwrap_or("").to_owned();
    s.update_run(&id, tag_patch(&[(key, value)])).await?;
    Ok(Json(json!({})))
}

async fn delete_tag(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    let run = s.resolve(&id).await?;
    if !run.tags.contains_key(&key) {
        return Err(MlflowError::missing(format!("No tag with name: {key} in run with id {id}")));
    }
    s.update_run(&id, RunPatch { remove_tags: vec![key], ..Default::default() }).await?;
    Ok(Json(json!({})))
}

fn check_key(what: &str, key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY {
        return Err(MlflowError::invalid(format!(
            "Invalid value '{key}' for parameter '{what} key': it must be 1 to {MAX_KEY} characters"
        )));
    }
    Ok(())
}

/// Params to add, checked against what the run already has: MLflow params cannot change.
fn new_params(run: &Run, params: &[(String, String)]) -> Result<Map<String, Value>> {
    let existing = cairn_domain::leaves(&run.config);
    let mut out = Map::new();
    for (k, v) in params {
        check_key("param", k)?;
        if v.chars().count() > MAX_PARAM_VALUE {
            return Err(MlflowError::invalid(format!(
                "Param value for key '{k}' had length {}, which exceeded length limit of {MAX_PARAM_VALUE}",
                v.chars().count()
            )));
        }
        if let Some(old) = existing.get(k).map(param_text).or_else(|| out.get(k).map(param_text)) {
            if old != *v {
                return Err(MlflowError::invalid(format!(
                    "Changing param values is not allowed. Param with key='{k}' was already logged with value='{old}' \
                     for run ID='{}'. Attempted logging new value '{v}'.",
                    run.id.0.simple()
                )));
            }
            continue;
        }
        out.insert(k.clone(), cairn_domain::value_from_text(v));
    }
    Ok(out)
}

async fn log_param(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let key = required(&b, "key")?.to_owned();
    let value = text(&b, "value").unwrap_or("").to_owned();
    let run = s.resolve(&id).await?;
    let add = new_params(&run, &[(key, value)])?;
    if !add.is_empty() {
        let sources = add.keys().map(|k| (k.clone(), "mlflow".to_owned())).collect();
        s.update_run(&id, RunPatch { config: Some(add), config_sources: sources, ..Default::default() }).await?;
    }
    Ok(Json(json!({})))
}

fn metric_batch(items: &[Value]) -> Result<Vec<(String, MetricSeries)>> {
    let mut by_key: BTreeMap<String, MetricSeries> = BTreeMap::new();
    for m in items {
        let key = required(m, "key")?.to_owned();
        check_key("metric", &key)?;
        let value = float(m, "value")?;
        let ts = int(m, "timestamp")?
            .ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'timestamp'"))?;
        let step = int(m, "step")?.unwrap_or(0);
        by_key.entry(key).or_default().push(step, value, ts);
    }
    Ok(by_key.into_iter().collect())
}

async fn log_metric(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let batch = metric_batch(std::slice::from_ref(&b))?;
    s.log_metrics(&id, batch, None).await?;
    Ok(Json(json!({})))
}

async fn log_batch(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let metrics = b.get("metrics").and_then(Value::as_array).cloned().unwrap_or_default();
    let params = key_values(&b, "params")?;
    let tags = key_values(&b, "tags")?;
    // Every limit is checked before anything is stored: a rejected batch stores nothing.
    for (what, n, max) in [
        ("metrics", metrics.len(), MAX_BATCH_METRICS),
        ("params", params.len(), MAX_BATCH_PARAMS),
        ("tags", tags.len(), MAX_BATCH_TAGS),
    ] {
        if n > max {
            return Err(MlflowError::invalid(format!(
                "A batch logging request can contain at most {max} {what}. Got {n} {what}. Please split up {what} \
                 across multiple requests and try again."
            )));
        }
    }
    let total = metrics.len() + params.len() + tags.len();
    if total > MAX_BATCH_TOTAL {
        return Err(MlflowError::invalid(format!(
            "A batch logging request can contain at most {MAX_BATCH_TOTAL} metrics, params, and tags. Got {total} \
             metrics, params, and tags. Please split up metrics, params, and tags across multiple requests and try \
             again."
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let dupes: Vec<&str> = params.iter().filter(|(k, _)| !seen.insert(k.as_str())).map(|(k, _)| k.as_str()).collect();
    if !dupes.is_empty() {
        return Err(MlflowError::invalid(format!(
            "Duplicate parameter keys have been submitted: {dupes:?}. Please ensure the request contains only one \
             param value per param key."
        )));
    }
    let batch = metric_batch(&metrics)?;
    for (k, _) in &tags {
        check_key("tag", k)?;
    }
    let run = s.resolve(&id).await?;
    if run.deleted_at.is_some() {
        return Err(MlflowError::invalid(format!(
            "The run {id} must be in the 'active' state. Current state is deleted."
        )));
    }
    let add = new_params(&run, &params)?;
    if !add.is_empty() || !tags.is_empty() {
        let mut patch = tag_patch(&tags);
        if !add.is_empty() {
            patch.config_sources = add.keys().map(|k| (k.clone(), "mlflow".to_owned())).collect();
            patch.config = Some(add);
        }
        s.update_run(&id, patch).await?;
    }
    if !batch.is_empty() {
        s.log_metrics(&id, batch, None).await?;
    }
    Ok(Json(json!({})))
}

/// Tag prefixes that hold a run's MLflow dataset inputs: the input itself (JSON, by
/// dataset name), and indexes by name, digest and context that searches use.
const DATASET_TAG: &str = "mlflow.dataset.";
use cairn_query::mlflow::DATASET_INDEX;

fn is_dataset_tag(key: &str) -> bool {
    key.starts_with(DATASET_TAG) || DATASET_INDEX.iter().any(|p| key.starts_with(p))
}

async fn log_inputs(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let id = run_id(&b)?;
    let mut tags = Vec::new();
    for d in b.get("datasets").and_then(Value::as_array).into_iter().flatten() {
        let ds = &d["dataset"];
        let (Some(name), Some(digest)) = (text(ds, "name"), text(ds, "digest")) else {
            return Err(MlflowError::invalid("a dataset input needs dataset.name and dataset.digest"));
        };
        let context = key_values(d, "tags")?.into_iter().find(|(k, _)| k == "mlflow.data.context").map(|(_, v)| v);
        tags.push((format!("{DATASET_TAG}{name}"), d.to_string()));
        tags.push((format!("{}{name}", DATASET_INDEX[0]), digest.to_owned()));
        tags.push((format!("{}{digest}", DATASET_INDEX[1]), name.to_owned()));
        if let Some(c) = context {
            tags.push((format!("{}{c}", DATASET_INDEX[2]), name.to_owned()));
        }
    }
    if !tags.is_empty() {
        s.update_run(&id, tag_patch(&tags)).await?;
    } else {
        s.resolve(&id).await?;
    }
    Ok(Json(json!({})))
}

/// The run's dataset inputs in MLflow's shape, from the tags `log_inputs` wrote.
fn dataset_inputs(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix(DATASET_TAG)?;
            Some(
                serde_json::from_str::<Value>(v).ok().filter(Value::is_object).unwrap_or_else(
                    || json!({"dataset": {"name": name, "digest": v, "source_type": "", "source": ""}}),
                ),
            )
        })
        .collect()
}

async fn search_runs(Svc(s): Svc, Json(b): Json<Value>) -> Result<Json<Value>> {
    let ids: Vec<String> = b
        .get("experiment_ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect())
        .unwrap_or_default();
    let max = int(&b, "max_results")?.unwrap_or(1000);
    if !(1..=i64::from(MAX_SEARCH_RESULTS)).contains(&max) {
        return Err(MlflowError::invalid(format!(
            "Invalid value {max} for parameter 'max_results' supplied. It must be at most {MAX_SEARCH_RESULTS}"
        )));
    }
    let mut names = Vec::new();
    let mut exps = Experiments::default();
    for e in &ids {
        let p = project_of(&s, e).await?;
        exps.0.insert(p.name.to_string(), e.clone());
        names.push(cairn_query::Value::String(p.name.to_string()));
    }
    let mut terms = Vec::new();
    if !names.is_empty() {
        terms.push(cairn_query::Expr::In {
            field: cairn_query::Field::Attr(cairn_query::Attr::Project),
            values: names,
            negated: false,
        });
    }
    if let Some(f) = filter::run_filter(text(&b, "filter").unwrap_or(""))? {
        terms.push(f);
    }
    let view = text(&b, "run_view_type").unwrap_or("ACTIVE_ONLY");
    let filter = match terms.len() {
        0 => None,
        1 => terms.pop(),
        _ => Some(cairn_query::Expr::And(terms)),
    };
    let order: Vec<String> = b
        .get("order_by")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let order = filter::run_order(&order)?;
    let order_text = (!order.is_empty()).then(|| order.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
    let mut cursor = text(&b, "page_token").filter(|t| !t.is_empty()).map(str::to_owned);
    let mut runs = Vec::new();
    let mut remaining = max as u32;
    loop {
        let req = SearchRequest {
            project: None,
            filter: filter.as_ref().map(ToString::to_string),
            order_by: order_text.clone(),
            limit: Some(remaining.min(cairn_server::service::MAX_PAGE)),
            cursor: cursor.clone(),
            include_deleted: view != "ACTIVE_ONLY",
            ..Default::default()
        };
        let page = s.search(req).await.map_err(|e| {
            if e.code == ErrorCode::InvalidArgument && e.message.contains("cursor") {
                MlflowError::invalid(format!("Invalid page token: {}", e.message))
            } else {
                e.into()
            }
        })?;
        let n = page.runs.len() as u32;
        for r in page.runs {
            if view == "DELETED_ONLY" && r.deleted_at.is_none() {
                continue;
            }
            let exp = exps.id(&s, r.project.as_str()).await?;
            runs.push(run_json(&r, &exp));
        }
        cursor = page.next_cursor;
        remaining = remaining.saturating_sub(n);
        if remaining == 0 || cursor.is_none() || n == 0 {
            break;
        }
    }
    let mut out = json!({"runs": runs});
    if let Some(c) = cursor {
        out["next_page_token"] = json!(c);
    }
    Ok(Json(out))
}

async fn get_history(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let id = run_id(&v)?;
    let key = required(&v, "metric_key")?.to_owned();
    let (h, _held) = match s.history(&id, &key, StepRange::default(), None).await {
        Ok(h) => h,
        Err(e) if e.status == StatusCode::NOT_FOUND && e.code != ErrorCode::RunNotFound => {
            return Ok(Json(json!({"metrics": []})));
        }
        Err(e) => return Err(e.into()),
    };
    let series = h.series;
    // MLflow orders a history by timestamp, then step.
    let mut idx: Vec<usize> = (0..series.len()).collect();
    idx.sort_by_key(|&i| (series.timestamps[i], series.steps[i]));
    let (offset, as_of) = read_page_token(&v)?;
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let max = int(&v, "max_results")?.map(|m| m.max(1) as usize).unwrap_or(usize::MAX);
    let metrics: Vec<Value> = idx
        .iter()
        .skip(offset)
        .take(max)
        .map(|&i| {
            json!({"key": key, "value": float_json(series.values[i]), "timestamp": series.timestamps[i],
                   "step": series.steps[i]})
        })
        .collect();
    let mut out = json!({"metrics": metrics});
    if offset.saturating_add(max) < idx.len() {
        out["next_page_token"] = json!(page_token((offset + max) as u64, as_of));
    }
    Ok(Json(out))
}

/// Most runs and points per run of one bulk-interval read (as MLflow's server allows).
const MAX_BULK_RUNS: usize = 100;
const MAX_BULK_POINTS: i64 = 2500;

/// Several runs' histories of one metric, each sampled to at most `max_results` points
/// over `[start_step, end_step]` (what MLflow's UI draws its charts from).
async fn get_history_bulk_interval(Svc(s): Svc, Query(q): Query<Vec<(String, String)>>) -> Result<Json<Value>> {
    let runs: Vec<&str> = q.iter().filter(|(k, _)| k == "run_ids").map(|(_, v)| v.as_str()).collect();
    let single: HashMap<String, String> = q.iter().cloned().collect();
    let v = query_value(&single);
    let key = required(&v, "metric_key")?.to_owned();
    if runs.is_empty() || runs.len() > MAX_BULK_RUNS {
        return Err(MlflowError::invalid(format!("give between 1 and {MAX_BULK_RUNS} run_ids, got {}", runs.len())));
    }
    let max = int(&v, "max_results")?.unwrap_or(320);
    if !(1..=MAX_BULK_POINTS).contains(&max) {
        return Err(MlflowError::invalid(format!("max_results must be between 1 and {MAX_BULK_POINTS}, got {max}")));
    }
    let range = StepRange { min: int(&v, "start_step")?, max: int(&v, "end_step")? };
    let mut metrics = Vec::new();
    for run in runs {
        let (h, _held) = match s.history(run, &key, range, Some((max as usize).max(2))).await {
            Ok(h) => h,
            Err(e) if e.status == StatusCode::NOT_FOUND && e.code != ErrorCode::RunNotFound => continue,
            Err(e) => return Err(e.into()),
        };
        let id = h.run.0.simple().to_string();
        let series = h.series;
        for i in 0..series.len().min(max as usize) {
            metrics.push(json!({"key": key, "value": float_json(series.values[i]), "timestamp": series.timestamps[i],
                                "step": series.steps[i], "run_id": id}));
        }
    }
    Ok(Json(json!({"metrics": metrics})))
}

// -- artifacts --------------------------------------------------------------------------------

/// The immediate children of `dir` among a run's artifact paths: (name, is_dir, size).
fn children(all: &[cairn_domain::ArtifactInfo], dir: &str) -> Vec<(String, bool, u64)> {
    let prefix = if dir.is_empty() { String::new() } else { format!("{}/", dir.trim_end_matches('/')) };
    let mut out: BTreeMap<String, (bool, u64)> = BTreeMap::new();
    for a in all {
        let Some(rest) = a.path.as_str().strip_prefix(&prefix) else { continue };
        match rest.split_once('/') {
            Some((d, _)) => {
                out.insert(d.to_owned(), (true, 0));
            }
            None => {
                out.insert(rest.to_owned(), (false, a.size));
            }
        }
    }
    out.into_iter().map(|(n, (d, s))| (n, d, s)).collect()
}

fn file_json(path: String, is_dir: bool, size: u64) -> Value {
    if is_dir {
        json!({"path": path, "is_dir": true})
    } else {
        json!({"path": path, "is_dir": false, "file_size": size})
    }
}

async fn list_artifacts_tracking(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let v = query_value(&q);
    let id = run_id(&v)?;
    let dir = text(&v, "path").unwrap_or("").trim_matches('/').to_owned();
    let run = s.resolve(&id).await?;
    let exp = Experiments::default().id(&s, run.project.as_str()).await?;
    let all = s.list_artifacts(&id, "").await?;
    let files: Vec<Value> = children(&all, &dir)
        .into_iter()
        .map(|(n, d, size)| file_json(if dir.is_empty() { n } else { format!("{dir}/{n}") }, d, size))
        .collect();
    let root = format!("mlflow-artifacts:/{exp}/{}/artifacts", run.id.0.simple());
    Ok(Json(json!({"root_uri": root, "files": files})))
}

/// `<experiment>/<run>/artifacts[/<path>]` → (run id, path within the run).
fn proxy_path(path: &str) -> Result<(String, String)> {
    let mut parts = path.trim_matches('/').splitn(4, '/');
    let (_, run, marker, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
    match (run, marker) {
        (Some(run), Some("artifacts")) if !run.is_empty() => Ok((run.to_owned(), rest.unwrap_or("").to_owned())),
        _ => Err(MlflowError::invalid(format!(
            "artifact path '{path}' is not <experiment id>/<run id>/artifacts/<path>, as this server's runs' artifact \
             URIs are"
        ))),
    }
}

async fn proxy_list(Svc(s): Svc, Query(q): Params) -> Result<Json<Value>> {
    let path = q.get("path").cloned().unwrap_or_default();
    let (run, dir) = locate(&s, &path).await?;
    let all = s.list_artifacts(&run, "").await?;
    let files: Vec<Value> = children(&all, &dir).into_iter().map(|(n, d, size)| file_json(n, d, size)).collect();
    Ok(Json(json!({"files": files})))
}

async fn proxy_download(Svc(s): Svc, Path(path): Path<String>) -> Result<Response> {
    let (run, file) = locate(&s, &path).await?;
    let (info, stream) = s.get_artifact(&run, &file).await?;
    let mut resp = Body::from_stream(stream.map_err(std::io::Error::other)).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    if let Ok(len) = HeaderValue::from_str(&info.size.to_string()) {
        resp.headers_mut().insert(header::CONTENT_LENGTH, len);
    }
    Ok(resp)
}

async fn proxy_upload(Svc(s): Svc, Path(path): Path<String>, body: Body) -> Result<Json<Value>> {
    let (run, file) = locate(&s, &path).await?;
    s.put_artifact(&run, &file, body.into_data_stream()).await?;
    Ok(Json(json!({})))
}

async fn proxy_delete(Svc(s): Svc, Path(path): Path<String>) -> Result<Json<Value>> {
    let (run, file) = locate(&s, &path).await?;
    if s.delete_artifacts(&run, &file).await?.is_empty() {
        return Err(MlflowError::missing(format!("No artifact or folder '{path}' to delete")));
    }
    Ok(Json(json!({})))
}

/// Where a proxy path points: a run's artifact, or a file of a logged model (kept in
/// the producing run's `models/<id>/` folder).
async fn locate(s: &Service, path: &str) -> Result<(String, String)> {
    match registry::model_proxy_path(s, path).await? {
        Some(found) => Ok(found),
        None => proxy_path(path),
    }
}

/// The run and artifact path a multipart upload writes: the folder in the URL, and the
/// file's name from the client's `path` (its local file).
async fn upload_target(s: &Service, path: &str, b: &Value) -> Result<(String, String)> {
    let (run, dir) = locate(s, path).await?;
    let local = required(b, "path")?;
    let name = local
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| MlflowError::invalid(format!("'path' must name the file being uploaded, got '{local}'")))?;
    let file = if dir.is_empty() { name.to_owned() } else { format!("{}/{name}", dir.trim_end_matches('/')) };
    Ok((run, file))
}

/// Where this server is reached, as the client reached it (a proxy in front says so).
fn public_base(headers: &axum::http::HeaderMap) -> Result<String> {
    let get = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(|v| v.split(',').next().unwrap_or("").trim());
    let host = get("x-forwarded-host")
        .or_else(|| get("host"))
        .filter(|h| !h.is_empty())
        .ok_or_else(|| MlflowError::invalid("the request has no Host header to address the upload's parts to"))?;
    let scheme = get("x-forwarded-proto").filter(|p| *p == "https").unwrap_or("http");
    Ok(format!("{scheme}://{host}"))
}

/// `mpu/create`: on S3 a signed URL per part, straight to the bucket; on other storage
/// a URL per part on this server, which keeps the parts until `mpu/complete`.
async fn multipart_create(
    Svc(s): Svc,
    Path(path): Path<String>,
    headers: axum::http::HeaderMap,
    Json(b): Json<Value>,
) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    let parts = int(&b, "num_parts")?.unwrap_or(1);
    let max = i64::from(cairn_artifacts::MAX_PARTS);
    if !(1..=max).contains(&parts) {
        return Err(MlflowError::invalid(format!("'num_parts' must be between 1 and {max}, got {parts}")));
    }
    let start = s.start_artifact_upload(&run, &file, parts as u32).await?;
    let urls = match start.part_urls {
        Some(urls) => urls,
        None => {
            let base = public_base(&headers)?;
            (1..=parts).map(|n| format!("{base}/api/2.0/mlflow-artifacts/mpu/part/{}/{n}", start.upload_id)).collect()
        }
    };
    let credentials: Vec<Value> =
        urls.into_iter().enumerate().map(|(i, url)| json!({"url": url, "part_number": i + 1, "headers": {}})).collect();
    Ok(Json(json!({"upload_id": start.upload_id, "credentials": credentials})))
}

async fn multipart_part(Svc(s): Svc, Path((upload, part)): Path<(String, u32)>, body: Body) -> Result<Response> {
    let etag = s.put_upload_part(&upload, part, body.into_data_stream()).await?;
    let mut resp = Json(json!({})).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    Ok(resp)
}

async fn multipart_complete(Svc(s): Svc, Path(path): Path<String>, Json(b): Json<Value>) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    let upload = required(&b, "upload_id")?;
    let mut parts = Vec::new();
    for p in b.get("parts").and_then(Value::as_array).into_iter().flatten() {
        let number = int(p, "part_number")?
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| MlflowError::invalid("every part needs its 'part_number'"))?;
        let etag = text(p, "etag").unwrap_or("").to_owned();
        parts.push(cairn_artifacts::Part { number, etag });
    }
    s.complete_artifact_upload(&run, &file, upload, parts).await?;
    Ok(Json(json!({})))
}

async fn multipart_abort(Svc(s): Svc, Path(path): Path<String>, Json(b): Json<Value>) -> Result<Json<Value>> {
    let (run, file) = upload_target(&s, &path, &b).await?;
    s.abort_artifact_upload(&run, &file, required(&b, "upload_id")?).await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_only_when_they_read_back_the_same() {
        assert_eq!(cairn_domain::value_from_text("0.01"), json!(0.01));
        assert_eq!(cairn_domain::value_from_text("64"), json!(64));
        assert_eq!(cairn_domain::value_from_text("1e-3"), json!("1e-3"));
        assert_eq!(cairn_domain::value_from_text("0.010"), json!("0.010"));
        assert_eq!(cairn_domain::value_from_text("True"), json!("True"));
        for t in ["0.01", "64", "1e-3", "True", "adam"] {
            assert_eq!(param_text(&cairn_domain::value_from_text(t)), t);
        }
    }

    #[test]
    fn proxy_paths_name_the_run() {
        assert_eq!(proxy_path("3/abc/artifacts/model/w.bin").unwrap(), ("abc".into(), "model/w.bin".into()));
        assert_eq!(proxy_path("3/abc/artifacts").unwrap(), ("abc".into(), String::new()));
        assert!(proxy_path("3/abc/other").is_err());
    }
}
