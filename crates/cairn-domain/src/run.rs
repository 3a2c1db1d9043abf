use crate::compare::RunChanges;
use crate::names::{check_name, validate_text};
use crate::{Config, DomainError, MetricSummary, Millis, ProjectName, RunId, ShortId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A project: the unit runs are grouped, searched and compared in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    /// A stable number (MLflow's experiment id); names can change, this does not.
    pub id: i64,
    pub name: ProjectName,
    pub description: String,
    /// When true (the default) every run must state a hypothesis.
    pub require_hypothesis: bool,
    /// The metric that says how good a run is (what `cairn tried` and the dashboard rank by).
    #[serde(default)]
    pub primary_metric: Option<PrimaryMetric>,
    pub created_at: Millis,
    /// Last change of the project's own settings (not of its runs).
    #[serde(default)]
    pub updated_at: Option<Millis>,
    pub run_count: i64,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Set while the project is deleted (it can be restored).
    #[serde(default)]
    pub deleted_at: Option<Millis>,
    /// Who sees it: the whole organisation (the default) or its members only.
    #[serde(default)]
    pub visibility: crate::auth::Visibility,
}

/// A project's primary metric and which way is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrimaryMetric {
    pub key: String,
    pub direction: Direction,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub require_hypothesis: Option<bool>,
    #[serde(default)]
    pub primary_metric: Option<PrimaryMetric>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Who sees it [default: the whole organisation].
    #[serde(default)]
    pub visibility: Option<crate::auth::Visibility>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectPatch {
    /// Renames the project (its id and runs stay).
    pub name: Option<String>,
    pub description: Option<String>,
    pub require_hypothesis: Option<bool>,
    pub primary_metric: Option<PrimaryMetric>,
    /// Merged into the project's tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Tags taken off the project (after `tags` are merged); a key it lacks is ignored.
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// `true` deletes the project (recoverably), `false` restores it.
    pub deleted: Option<bool>,
    /// Who sees it.
    #[serde(default)]
    pub visibility: Option<crate::auth::Visibility>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    Killed,
    /// Its process stopped sending heartbeats while running: it died without saying so.
    Crashed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 6] = [
        RunStatus::Queued,
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Failed,
        RunStatus::Killed,
        RunStatus::Crashed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
            RunStatus::Crashed => "crashed",
        }
    }
    pub fn parse(s: &str) -> Result<RunStatus, DomainError> {
        RunStatus::ALL.into_iter().find(|st| st.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            DomainError::invalid(
                "status",
                format!("'{s}' is not one of queued, running, finished, failed, killed, crashed"),
            )
        })
    }
    pub fn is_terminal(self) -> bool {
        matches!(self, RunStatus::Finished | RunStatus::Failed | RunStatus::Killed | RunStatus::Crashed)
    }
}
impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Increase,
    Decrease,
}

/// What the hypothesis predicts, so the result can be judged against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedOutcome {
    pub metric: String,
    pub direction: Direction,
    /// Expected size of the change, in the metric's units.
    #[serde(default)]
    pub size: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VerdictOutcome {
    Confirmed,
    Refuted,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub outcome: VerdictOutcome,
    /// When the verdict was given: with `created_at`, the time from hypothesis to result.
    pub at: Millis,
    #[serde(default)]
    pub note: Option<String>,
}

/// The code a run executed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CodeInfo {
    /// False when the command ran outside a git repository.
    #[serde(default)]
    pub versioned: bool,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub remote: Option<String>,
    #[serde(default)]
    pub dirty: bool,
    /// Artifact holding the uncommitted diff, when there is one.
    #[serde(default)]
    pub diff_artifact: Option<String>,
    /// Untracked source files: path → content hash.
    #[serde(default)]
    pub untracked: BTreeMap<String, String>,
    /// BLAKE3 of the uncommitted diff, when there is one.
    #[serde(default)]
    pub diff_hash: Option<String>,
    /// Tracked files that differ from the commit: path → content hash (`deleted` when gone).
    #[serde(default)]
    pub modified: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    pub path: String,
    /// Content hash of the whole dataset.
    pub hash: String,
    #[serde(default)]
    pub files: u64,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub manifest_artifact: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    #[serde(default)]
    pub datasets: Vec<Dataset>,
}

impl DataInfo {
    /// Sizes and counts fit the store's 64-bit signed integers.
    pub fn validate(&self) -> Result<(), DomainError> {
        for d in &self.datasets {
            if d.bytes > i64::MAX as u64 || d.files > i64::MAX as u64 {
                return Err(DomainError::invalid(
                    "data.datasets",
                    format!("{}: bytes and files go up to {}", d.path, i64::MAX),
                ));
            }
        }
        Ok(())
    }
}

/// A run as the record holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub short_id: ShortId,
    pub project: ProjectName,
    pub name: String,
    pub description: String,
    pub hypothesis: Option<String>,
    pub expected: Option<ExpectedOutcome>,
    pub verdict: Option<Verdict>,
    pub owner: String,
    pub tags: BTreeMap<String, String>,
    pub status: RunStatus,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub exit_code: Option<i32>,
    pub config: Config,
    pub command: Vec<String>,
    pub code: Option<CodeInfo>,
    pub data: Option<DataInfo>,
    /// OS, hardware, packages, …: open-ended, filled by capture.
    pub environment: Option<serde_json::Value>,
    pub seeds: Vec<i64>,
    pub parents: Vec<RunId>,
    /// Derived: runs that name this one as a parent.
    pub children: Vec<RunId>,
    /// Sweep, ablation or replicate group this run belongs to.
    pub group_id: Option<String>,
    pub fingerprint: Option<String>,
    pub metrics: Vec<MetricSummary>,
    pub deleted_at: Option<Millis>,
    pub updated_at: Millis,
    /// What differs from its parent or the most similar earlier run.
    #[serde(default)]
    pub changes: Option<RunChanges>,
    /// Where each top-level config key came from (`file:PATH`, `flags`, `sdk`, `api`).
    #[serde(default)]
    pub config_sources: BTreeMap<String, String>,
}

impl Run {
    pub fn missing_hypothesis(&self) -> bool {
        self.hypothesis.as_deref().is_none_or(|h| h.trim().is_empty())
    }

    /// The run's result on `metric`, the one rule every comparison, the dashboard and
    /// the UI use: the last value it logged, when the run finished and that value is
    /// finite. A run that failed or is still going has no result.
    pub fn value(&self, metric: &str) -> Option<f64> {
        if self.status != RunStatus::Finished {
            return None;
        }
        self.metrics.iter().find(|m| m.key == metric).map(|m| m.last).filter(|v| v.is_finite())
    }
}

/// What a client supplies to create a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    pub project: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub hypothesis: Option<String>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub expected: Option<ExpectedOutcome>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// `queued` or `running` (default).
    #[serde(default)]
    pub status: Option<RunStatus>,
    #[serde(default)]
    pub config: Config,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub code: Option<CodeInfo>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub data: Option<DataInfo>,
    #[serde(default)]
    pub environment: Option<serde_json::Value>,
    #[serde(default)]
    pub seeds: Vec<i64>,
    /// Parent runs by id or short id.
    #[serde(default)]
    pub parents: Vec<String>,
    #[serde(default)]
    pub group_id: Option<String>,
    /// Computed from the run when absent.
    #[serde(default)]
    pub fingerprint: Option<String>,
    /// What to do when an identical run already finished in the project; no check when absent.
    #[serde(default)]
    pub on_duplicate: Option<DuplicatePolicy>,
    /// Compare the run with its parent or the most similar earlier run (default true).
    #[serde(default)]
    pub compare: Option<bool>,
    /// Changes worked out by the client (which can see the repository); computed when absent.
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub changes: Option<RunChanges>,
    #[serde(default)]
    pub config_sources: BTreeMap<String, String>,
    /// When the run started (ms since the epoch), also its created time (never later
    /// than now): for backfills and imports. Defaults to now. A queued run takes it as
    /// its created time only.
    #[serde(default)]
    pub started_at: Option<Millis>,
}

/// What creating a run does when an identical run (same fingerprint) already finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DuplicatePolicy {
    /// Refuse, naming the earlier run.
    Refuse,
    /// Run it as another member of the replicate group (e.g. another seed).
    Replicate,
    /// Run it anyway, outside the replicate group.
    Force,
}

/// Limits on free text, in bytes.
pub const MAX_DESCRIPTION: usize = 64 * 1024;
pub const MAX_TAG_VALUE: usize = 8 * 1024;

pub(crate) fn check_tags(tags: &BTreeMap<String, String>) -> Result<(), DomainError> {
    for (k, v) in tags {
        check_name("tag key", k)?;
        validate_text("tag value", v, MAX_TAG_VALUE, true)?;
    }
    Ok(())
}

impl NewRun {
    /// Validates everything that can be checked without the store. `require_hypothesis`
    /// comes from the project.
    pub fn validate(&self, require_hypothesis: bool) -> Result<(), DomainError> {
        if let Some(d) = &self.data {
            d.validate()?;
        }
        if let Some(name) = &self.name {
            check_name("run name", name)?;
        }
        if let Some(c) = &self.changes {
            c.validate()?;
        }
        validate_text("description", &self.description, MAX_DESCRIPTION, true)?;
        match &self.hypothesis {
            Some(h) if !h.trim().is_empty() => validate_text("hypothesis", h, MAX_DESCRIPTION, true)?,
            _ if require_hypothesis => {
                return Err(DomainError::HypothesisRequired { project: self.project.clone() });
            }
            _ => {}
        }
        if let Some(owner) = &self.owner {
            check_name("owner", owner)?;
        }
        if let Some(group) = &self.group_id {
            check_name("group id", group)?;
        }
        if let Some(status) = self.status
            && !matches!(status, RunStatus::Queued | RunStatus::Running)
        {
            return Err(DomainError::invalid("status", format!("a new run starts as queued or running, not {status}")));
        }
        if let Some(t) = self.started_at {
            check_time("started_at", t)?;
        }
        check_tags(&self.tags)
    }
}

/// A partial update. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub hypothesis: Option<String>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub expected: Option<ExpectedOutcome>,
    /// Judging the hypothesis; the server stamps the time.
    pub verdict: Option<VerdictOutcome>,
    pub verdict_note: Option<String>,
    pub status: Option<RunStatus>,
    pub exit_code: Option<i32>,
    /// Merged into the existing tags; an empty value is kept (use `remove_tags` to delete).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// Merged, key by key at the top level, into the existing config.
    pub config: Option<Config>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub code: Option<CodeInfo>,
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub data: Option<DataInfo>,
    pub environment: Option<serde_json::Value>,
    pub seeds: Option<Vec<i64>>,
    pub group_id: Option<String>,
    pub fingerprint: Option<String>,
    pub command: Option<Vec<String>>,
    /// Replaces the recorded changes (a client that can read the repository refines them).
    #[serde(default, deserialize_with = "crate::serde_object::option")]
    pub changes: Option<RunChanges>,
    /// Merged into the recorded config sources.
    #[serde(default)]
    pub config_sources: BTreeMap<String, String>,
    /// When the run ended (ms since the epoch), for backfills. A terminal status without
    /// it stamps now.
    pub ended_at: Option<Millis>,
}

impl RunPatch {
    pub fn validate(&self) -> Result<(), DomainError> {
        if let Some(name) = &self.name {
            check_name("run name", name)?;
        }
        if let Some(d) = &self.data {
            d.validate()?;
        }
        if let Some(c) = &self.changes {
            c.validate()?;
        }
        if let Some(d) = &self.description {
            validate_text("description", d, MAX_DESCRIPTION, true)?;
        }
        if let Some(h) = &self.hypothesis {
            validate_text("hypothesis", h, MAX_DESCRIPTION, true)?;
        }
        if let Some(n) = &self.verdict_note {
            validate_text("verdict note", n, MAX_DESCRIPTION, true)?;
        }
        if let Some(status) = self.status
            && status == RunStatus::Queued
        {
            return Err(DomainError::invalid("status", "a run cannot go back to queued"));
        }
        if let Some(t) = self.ended_at {
            check_time("ended_at", t)?;
        }
        check_tags(&self.tags)
    }
}

/// A client-given time: ms since the epoch, not before it nor in the year 10,000.
fn check_time(field: &'static str, t: Millis) -> Result<(), DomainError> {
    const YEAR_10000: Millis = 253_402_300_800_000;
    if !(0..YEAR_10000).contains(&t) {
        return Err(DomainError::invalid(
            field,
            format!("{t} is not a time in milliseconds since 1970-01-01 (before the year 10000)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypothesis_required_unless_relaxed() {
        let run = NewRun { project: "vision".into(), ..Default::default() };
        let err = run.validate(true).unwrap_err().to_string();
        assert!(err.contains("hypothesis is required") && err.contains("vision"), "{err}");
        assert!(run.validate(false).is_ok());
        let run = NewRun { hypothesis: Some("  ".into()), ..run };
        assert!(run.validate(true).is_err());
    }

    #[test]
    fn new_runs_cannot_start_finished() {
        let run = NewRun {
            project: "p".into(),
            hypothesis: Some("h".into()),
            status: Some(RunStatus::Finished),
            ..Default::default()
        };
        assert!(run.validate(true).unwrap_err().to_string().contains("queued or running"));
    }

    #[test]
    fn statuses_parse() {
        assert_eq!(RunStatus::parse("FINISHED").unwrap(), RunStatus::Finished);
        assert!(RunStatus::parse("done").unwrap_err().to_string().contains("queued, running"));
    }

    #[test]
    fn control_characters_in_names_are_refused() {
        let run = NewRun {
            project: "p".into(),
            name: Some("a\u{1b}[31m".into()),
            hypothesis: Some("h".into()),
            ..Default::default()
        };
        assert!(run.validate(true).unwrap_err().to_string().contains("control character"));
    }
}
