//! Bringing a team's history into Cairn. Readers turn a source into [`SourceRun`]s —
//! an MLflow file store (`mlruns/`, [`mlruns`]), a running MLflow server ([`remote`]),
//! TensorBoard logs ([`tensorboard`]), W&B run folders ([`wandb`]) or a spreadsheet
//! ([`csv`]) — and
//! [`apply`] sends them to a Cairn server through its API, idempotently: a run keeps its identity (MLflow's
//! run id, or a hash of the spreadsheet row), so importing again changes nothing and a
//! later import brings only what is new (runs, params, tags, metric points, artifacts).

pub mod apply;
pub mod csv;
pub mod mlruns;
pub mod remote;
pub mod tensorboard;
pub mod wandb;

use cairn_domain::{Millis, RunStatus};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Source(String),
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// The server refused or could not take what was sent.
    #[error(transparent)]
    Api(#[from] cairn_client::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = ImportError> = std::result::Result<T, E>;

/// A run identity derived from what names the run in its source (a spreadsheet row, a
/// log folder, a W&B run id): importing the same source again finds the same run.
fn stable_id(identity: &str) -> uuid::Uuid {
    let hash = blake3::hash(identity.as_bytes());
    uuid::Builder::from_random_bytes(hash.as_bytes()[..16].try_into().expect("16 bytes")).into_uuid()
}

/// One metric point as the source has it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: i64,
    pub value: f64,
    pub timestamp: Millis,
}

/// A run as read from a source, before it is written.
#[derive(Debug, Clone, Default)]
pub struct SourceRun {
    /// The run's identity in Cairn: kept across imports.
    pub id: uuid::Uuid,
    /// The identity an earlier Cairn gave the same run, if it differs (spreadsheet rows
    /// got random-looking ids before they were ordered by time): a store that has the
    /// earlier ids keeps them, so importing the file again changes nothing.
    pub earlier_id: Option<uuid::Uuid>,
    pub project: String,
    pub name: Option<String>,
    pub owner: Option<String>,
    pub hypothesis: Option<String>,
    pub description: String,
    pub status: Option<RunStatus>,
    pub created_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub deleted: bool,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub tags: BTreeMap<String, String>,
    /// Points in the order the source wrote them.
    pub metrics: BTreeMap<String, Vec<Point>>,
    /// Artifact path within the run → file on disk.
    pub artifacts: BTreeMap<String, PathBuf>,
    pub parent: Option<uuid::Uuid>,
    pub commit: Option<String>,
}

/// A project as read from a source.
#[derive(Debug, Clone, Default)]
pub struct SourceProject {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: Option<Millis>,
}

/// A registered model as read from a source, with its live versions.
#[derive(Debug, Clone, Default)]
pub struct SourceModel {
    pub name: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    /// Alias → version number.
    pub aliases: BTreeMap<String, i64>,
    pub created_at: Option<Millis>,
    pub versions: Vec<SourceVersion>,
}

/// One version of a registered model; its number is kept.
#[derive(Debug, Clone, Default)]
pub struct SourceVersion {
    pub version: i64,
    pub source: String,
    pub run_id: Option<uuid::Uuid>,
    pub run_link: Option<String>,
    pub stage: cairn_domain::ModelStage,
    pub description: String,
    pub tags: BTreeMap<String, String>,
    pub created_at: Option<Millis>,
}

/// Everything one source holds.
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub projects: Vec<SourceProject>,
    pub runs: Vec<SourceRun>,
    pub models: Vec<SourceModel>,
}
