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

mod artifacts;
mod error;
mod experiments;
mod json;
mod metrics;
mod runs;
use cairn_query::listing::{ListField, ListOrder, Literal, Test};
use cairn_query::mlflow as filter;
use cairn_store::ListQuery;
mod registry;

pub use error::MlflowError;

use artifacts::*;
use experiments::*;
use json::*;
use metrics::*;
use runs::*;

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
