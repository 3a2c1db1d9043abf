//! Runs, their metrics and artifacts on the wire: searches, pages, lineage, metric
//! batches, finishing.

use cairn_domain::views::RunBrief;
use cairn_domain::{ArtifactInfo, MetricPoint, MetricSeries, MetricSummary, Project, Run, RunId, RunStatus, float};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest page of search results.
pub const MAX_PAGE: u32 = 1000;

/// A search as clients send it (query string or JSON body).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_deleted: bool,
    /// Also count every run the filter matches (`total` in the answer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub count: bool,
    /// Of a run's heavy members (config, metrics, tags, environment, code, data,
    /// changes, config_sources, command) send only these; the others come empty.
    /// A list, or in a query string one comma-separated value.
    #[serde(default, deserialize_with = "list_or_commas", skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    /// Start at this position of the result: with `cursor`, in that cursor's snapshot
    /// (a table jumping to row 500,000 of the result it is showing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// Instead of a page, at most this many runs spread over the whole result (1 to
    /// [`MAX_SAMPLE`]); `sample` in the answer says how they were chosen, `total` how
    /// many match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<u32>,
}

/// The most runs one `sample` answers.
pub const MAX_SAMPLE: u32 = 10_000;

fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Text(String),
    }
    Ok(Option::<Form>::deserialize(d)?.map(|f| match f {
        Form::List(l) => l,
        Form::Text(t) => t.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect(),
    }))
}

/// The heavy members of a run that `fields` can leave out.
pub const HEAVY_FIELDS: [&str; 9] =
    ["config", "metrics", "tags", "environment", "code", "data", "changes", "config_sources", "command"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResponse {
    pub runs: Vec<Run>,
    pub next_cursor: Option<String>,
    /// With `count` or `sample`: how many runs the filter matches in all.
    #[serde(default)]
    pub total: Option<u64>,
    /// `total` is estimated from a sample of the runs (past 10,000 matches), not counted.
    #[serde(default)]
    pub total_estimated: bool,
    /// With `sample`: how the runs were chosen, in words.
    #[serde(default)]
    pub sample: Option<String>,
}

/// One series of a history answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub run: RunId,
    pub key: String,
    pub downsampled: bool,
    /// Points in the requested range before downsampling.
    pub total: u64,
    #[serde(flatten)]
    pub series: MetricSeries,
}

/// `GET /api/v1/runs/{run}/metrics/{key}` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<usize>,
}

/// `POST /api/v1/metrics/history`: several runs × keys at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiHistoryRequest {
    pub runs: Vec<String>,
    pub keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_step: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_points: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    pub run: RunId,
    pub parents: Vec<RunBrief>,
    pub children: Vec<RunBrief>,
}

/// A series in columnar form, as ingestion takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnarSeries {
    pub key: String,
    pub steps: Vec<i64>,
    #[serde(with = "float::vec")]
    pub values: Vec<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamps: Option<Vec<i64>>,
}

/// Runs created together (`POST /api/v1/runs/batch`): at most [`MAX_RUNS_PER_BATCH`],
/// in one transaction, all or none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunBatch {
    pub runs: Vec<BatchRun>,
}

/// The most runs one batch may carry.
pub const MAX_RUNS_PER_BATCH: usize = 1_000;

/// One run of a [`RunBatch`]: a finished (or failed) result with its config, tags and
/// final metric values, as a sweep or a notebook reports it after the fact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRun {
    pub project: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub hypothesis: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `finished` (default), `failed`, `killed`, `crashed` or `running`.
    #[serde(default)]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub config: cairn_domain::Config,
    /// Final values, each stored as the metric's one point at step 0.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// When the run was made (ms since the epoch); now when absent.
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub seeds: Vec<i64>,
    #[serde(default)]
    pub group_id: Option<String>,
}

/// What a [`RunBatch`] created, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchCreated {
    pub runs: Vec<BatchCreatedRun>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchCreatedRun {
    pub id: String,
    pub short_id: String,
    pub name: String,
}

/// `POST /api/v1/runs/{run}/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsBatch {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub points: Vec<MetricPoint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<ColumnarSeries>,
    /// Makes the write idempotent: a retry with the same id is not stored twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accepted {
    /// Points stored (0 for a batch id already seen).
    pub accepted: u64,
}

/// `POST /api/v1/runs/{run}/finish` (an empty body means "finished").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
}

/// `GET /api/v1/runs/{run}/artifacts` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactQuery {
    #[serde(default)]
    pub prefix: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactList {
    pub artifacts: Vec<ArtifactInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactsDeleted {
    pub deleted: Vec<ArtifactInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricList {
    pub metrics: Vec<MetricSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectList {
    pub projects: Vec<Project>,
}

/// `GET /api/v1/models`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    pub models: Vec<cairn_domain::RegisteredModel>,
}

/// `GET /api/v1/models/{model}/versions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionList {
    pub versions: Vec<cairn_domain::ModelVersion>,
}

/// `GET /api/v1/runs/{run}/models`: the registry's versions made from the run, and
/// the models it logged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunModels {
    pub versions: Vec<cairn_domain::ModelVersion>,
    pub logged_models: Vec<cairn_domain::LoggedModel>,
}
