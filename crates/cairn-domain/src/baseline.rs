//! The project's golden baseline as the record keeps it: which run or replicate group
//! it is, every earlier choice, and the tags that mark re-evaluation runs. Kept as
//! project tags (JSON values), so every client reads the same thing.

use crate::{Millis, Project};
use serde::{Deserialize, Serialize};

/// Project tag naming the current baseline.
pub const BASELINE_TAG: &str = "cairn.baseline";
/// Project tag holding every baseline ever set, oldest first.
pub const HISTORY_TAG: &str = "cairn.baseline.history";
/// Project tag holding the last re-evaluation.
pub const LAST_REEVAL_TAG: &str = "cairn.baseline.last_reeval";
/// Project tag holding the most recent re-evaluations (at most [`MAX_REEVALS`]).
pub const REEVALS_TAG: &str = "cairn.baseline.reevals";
/// How many re-evaluations a project keeps.
pub const MAX_REEVALS: usize = 100;
/// Run tag on re-evaluation runs: the baseline run they repeat. They measure drift,
/// not the baseline itself, so comparisons leave them out of the baseline's side.
pub const REEVAL_TAG: &str = "cairn.baseline_reeval";
/// Run tag on re-evaluation runs: the batch (one `cairn baseline reeval`) they belong to.
pub const BATCH_TAG: &str = "cairn.reeval_batch";

/// A baseline choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// A run id, or a replicate group id.
    pub reference: String,
    pub label: String,
    pub set_at: Millis,
    #[serde(default)]
    pub note: String,
}

impl Baseline {
    /// The project's current baseline, if one is set (and readable).
    pub fn of(project: &Project) -> Option<Baseline> {
        project.tags.get(BASELINE_TAG).and_then(|t| serde_json::from_str(t).ok())
    }

    /// Every baseline the project has had, oldest first.
    pub fn history(project: &Project) -> Vec<Baseline> {
        project.tags.get(HISTORY_TAG).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default()
    }
}
