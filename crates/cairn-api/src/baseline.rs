//! The project's baseline on the wire: what is set, setting it, and recording a
//! re-evaluation (the server judges the drift).

use cairn_analysis::Comparison;
use cairn_domain::baseline::Baseline;
use serde::{Deserialize, Serialize};

/// `GET /api/v1/projects/{name}/baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineState {
    pub project: String,
    pub baseline: Option<Baseline>,
    /// Every baseline set, oldest first (the current one last).
    pub history: Vec<Baseline>,
    pub last_reeval: Option<Reeval>,
    /// Full ids of the baseline's recorded runs (re-evaluations aside), oldest first.
    pub runs: Vec<String>,
}

/// `PUT /api/v1/projects/{name}/baseline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetBaseline {
    /// A run id, short id, or replicate group id.
    pub reference: String,
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/projects/{name}/baseline/reevals`: the runs of one re-evaluation
/// (tagged `cairn.reeval_batch=<batch>`) are judged against the recorded baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReevalRequest {
    pub batch: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_is_better: Option<bool>,
}

/// One re-evaluation of the baseline: today's runs against the recorded ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reeval {
    pub at: i64,
    pub batch: String,
    /// The verdict in words: drift, no drift, cannot tell, or a failure to run.
    pub summary: String,
    pub metric: String,
    /// Short ids of the re-evaluation runs.
    pub runs: Vec<String>,
    /// Those that did not finish.
    #[serde(default)]
    pub failed: Vec<String>,
    pub comparison: Option<Comparison>,
    /// Conditions that differ from the baseline's (packages, data, hardware, code, params).
    #[serde(default)]
    pub conditions_changed: Vec<String>,
    /// The baseline's label and its recorded runs.
    #[serde(default)]
    pub baseline: String,
    #[serde(default)]
    pub recorded_runs: usize,
}
