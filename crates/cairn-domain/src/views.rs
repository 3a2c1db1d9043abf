//! Read-only views the store answers with and the API sends as they are: a run in
//! brief (lineage), the keys a project uses, dashboard counts, refused duplicates.

use crate::{Millis, ProjectName, RunId, RunStatus, ShortId};
use std::collections::BTreeMap;

/// A run named in a lineage answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunBrief {
    pub id: RunId,
    pub short_id: ShortId,
    pub project: ProjectName,
    pub name: String,
    pub status: RunStatus,
    pub created_at: Millis,
}

/// The distinct keys a project's live runs use: what a filter box completes.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectKeys {
    /// Config keys, flattened with dots (as the filter language names them).
    pub params: Vec<String>,
    pub metrics: Vec<String>,
    pub tags: Vec<String>,
}

/// Counts and series for a project's dashboard.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProjectSummary {
    pub runs: u64,
    /// Status (snake case) → live runs in it.
    pub by_status: BTreeMap<String, u64>,
    /// Runs created per UTC day since the time asked for: (day start in ms, created, failed).
    pub per_day: Vec<(Millis, u64, u64)>,
    /// Live runs with a finite last value of the metric asked for: (run, short id, name,
    /// created at, value), oldest first. Every run that set a record (highest or lowest
    /// so far) is there, and about 2,000 others spread evenly over the rest.
    pub progress: Vec<(RunId, ShortId, String, Millis, f64)>,
    /// How many runs `progress` was drawn from: the live runs with a finite value (up to
    /// 20,000 runs, counted in the pass that picks them); past that, the project's live
    /// runs, of which the line is a sample.
    pub progress_of: u64,
    /// Live runs tagged `cairn.many_changes`.
    pub many_changes: u64,
    /// Live runs without a hypothesis.
    pub no_hypothesis: u64,
}

/// A run refused because an identical one had finished.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    pub at: Millis,
    pub owner: String,
    pub fingerprint: String,
    pub duplicate_of: RunId,
    pub hypothesis: Option<String>,
    pub command: Vec<String>,
}
