//! Cairn's domain model: projects, runs and everything a run records (hypothesis,
//! config, code, data, environment, seeds, metrics, artifacts, lineage).
//!
//! This crate does no I/O and knows nothing of async, SQL or HTTP. Values are parsed
//! at the boundary into the newtypes here (`ProjectName`, `ArtifactPath`, `MetricKey`,
//! …), so everything past the boundary can rely on their guarantees. Ids and clocks are
//! supplied by callers.

mod artifact;
pub mod auth;
pub mod baseline;
pub mod compare;
mod config;
mod error;
mod ids;
mod metric;
mod names;
pub mod registry;
mod run;
pub mod runner;
pub mod serde_object;
pub mod study;
pub mod views;

pub use artifact::{ArtifactInfo, ArtifactPath};
pub use compare::{ChangeBasis, RunChanges, RunFacts};
pub use config::{Config, ParamValue, config_from_flags, flatten_config, leaves, meaning, value_from_text};
pub use error::DomainError;
pub use ids::{RunId, RunRef, ShortId};
pub use metric::{MetricKey, MetricPoint, MetricSeries, MetricSummary, float};
pub use names::{ProjectName, TagKey, check_name, validate_text};
pub use registry::{
    LoggedModel, LoggedModelStatus, ModelStage, ModelVersion, ModelVersionPatch, NewModelVersion, NewRegisteredModel,
    RegisteredModel, RegisteredModelPatch,
};
pub use run::{
    CodeInfo, DataInfo, Dataset, Direction, DuplicatePolicy, ExpectedOutcome, MAX_DESCRIPTION, NewProject, NewRun,
    PrimaryMetric, Project, ProjectPatch, Run, RunPatch, RunStatus, Verdict, VerdictOutcome,
};

/// Milliseconds since the Unix epoch (UTC). Cairn stores all times this way.
pub type Millis = i64;
