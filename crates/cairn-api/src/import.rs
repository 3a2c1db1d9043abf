//! Bringing history in through the API. Importers read their source on the client
//! (a folder, a spreadsheet, another server), then send each project, run and model
//! here; the server writes them idempotently. A run keeps its identity (MLflow's id,
//! or a hash of its spreadsheet row), so importing again changes nothing. Metric
//! points and artifact bytes travel through the ordinary endpoints afterwards, with
//! batch ids derived from their place so a retry cannot store them twice.

use cairn_domain::{ModelStage, RunStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `POST /api/v1/import/projects`: created when missing; gains the tags and the
/// description it lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportProject {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedProject {
    pub created: bool,
}

/// `POST /api/v1/import/runs`: a run as its source has it (metrics and artifacts
/// follow separately). A run the store has already only gains what it lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRun {
    /// 32 hex digits: the run's identity, kept across imports.
    pub id: String,
    pub project: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Who ran it at the source (kept: history keeps its authors).
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub hypothesis: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub parent: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    /// Points the run starts with, written in the transaction that creates it (a
    /// spreadsheet row's metrics). Not written to a run the store has already: the
    /// answer's `points` say what it holds, and the rest goes through the metrics endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<crate::runs::ColumnarSeries>,
}

/// `POST /api/v1/import/runs/batch`: up to 1,000 runs, the new ones created in one
/// transaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportRunBatch {
    pub runs: Vec<ImportRun>,
}

/// The answer to an [`ImportRunBatch`]: one entry per run, in the order sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportedRuns {
    pub runs: Vec<ImportedRun>,
}

/// What the server did with an [`ImportRun`], and what the run already has, so the
/// client sends only the points and files it lacks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportedRun {
    pub id: String,
    pub created: bool,
    /// The run is deleted in the store: it takes nothing more.
    pub deleted: bool,
    pub params_added: usize,
    pub tags_added: usize,
    /// Whether the record changed (besides being created).
    pub updated: bool,
    /// Points stored per metric key.
    pub points: BTreeMap<String, u64>,
    /// Size of each stored artifact.
    pub artifacts: BTreeMap<String, u64>,
}

/// `POST /api/v1/import/models`: a registered model with its versions (numbers kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportModel {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Alias → version number.
    #[serde(default)]
    pub aliases: BTreeMap<String, i64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub versions: Vec<ImportModelVersion>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportModelVersion {
    pub version: i64,
    pub source: String,
    #[serde(default)]
    pub run_id: Option<String>,
    #[serde(default)]
    pub run_link: Option<String>,
    #[serde(default)]
    pub stage: ModelStage,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedModel {
    pub model_created: bool,
    pub versions_created: usize,
}
