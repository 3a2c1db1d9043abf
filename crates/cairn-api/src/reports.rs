//! The analyses the server computes and every client shows as it is: comparisons,
//! insights, group statistics, the dashboard summary, the weekly review, study
//! reports and what a parameter has tried.

use cairn_analysis::{Anova, Comparison, Insights, Noise, Surprise, Verdict};
use cairn_domain::study::Study;
use cairn_domain::views::Refusal;
use cairn_domain::{Direction, RunStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `GET /api/v1/projects/{name}/compare` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompareQuery {
    /// Default: the project's baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Comma-separated runs (ids, short ids or replicate group ids).
    pub candidates: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_is_better: Option<bool>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
}

/// A side as reported: which runs, and the metric's summary over them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideReport {
    pub label: String,
    pub runs: Vec<String>,
    /// Runs with a finite value of the metric.
    pub n: usize,
    /// Runs without one (not finished, or never logged it): left out, counted.
    pub missing: usize,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    /// 95% Student-t interval of the mean; null for a single run, which proves nothing alone.
    pub ci: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateReport {
    #[serde(flatten)]
    pub side: SideReport,
    pub comparison: Comparison,
    /// Holm-corrected, when several candidates are compared with one reference.
    pub p_adjusted: Option<f64>,
    /// The verdict after the correction.
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareReport {
    pub project: String,
    pub metric: String,
    pub direction: Direction,
    pub alpha: f64,
    pub reference: SideReport,
    pub noise_floor: Option<Noise>,
    /// `holm` when several candidates were compared.
    pub correction: Option<String>,
    pub candidates: Vec<CandidateReport>,
}

/// `GET /api/v1/projects/{name}/insights` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsightsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_is_better: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// An insights answer: what was analysed, and what it says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InsightsReport {
    pub project: String,
    pub metric: String,
    pub direction: Direction,
    pub filter: Option<String>,
    /// Runs analysed: every qualifying run, or a sample of them.
    pub analysed: usize,
    /// Finished runs with a finite value of the metric.
    pub qualifying: usize,
    /// Runs left out because they have no finite value of the metric (or did not finish).
    pub excluded: usize,
    /// How the analysed runs were drawn, when they are a sample (more than 20,000 qualify).
    pub sample: Option<String>,
    pub insights: Insights,
}

/// `POST /api/v1/runs/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsRequest {
    pub project: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    pub group_by: String,
    pub metric: String,
}

/// One group of runs sharing a value of the grouping field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The value (null for runs without it).
    pub value: serde_json::Value,
    /// Runs in the group.
    pub count: usize,
    /// Runs with a finite value of the metric.
    pub n: usize,
    pub mean: Option<f64>,
    /// Sample standard deviation (n − 1); null below two values.
    pub sd: Option<f64>,
    /// 95% Student-t interval of the mean; null below two values.
    pub ci: Option<(f64, f64)>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Groups {
    pub total: usize,
    /// How many groups there are; `groups` lists the largest 10,000.
    #[serde(default)]
    pub group_count: usize,
    pub groups: Vec<Group>,
}

/// `GET /api/v1/projects/{name}/summary` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    #[serde(default = "thirty")]
    pub days: u32,
}

fn thirty() -> u32 {
    30
}

impl Default for SummaryQuery {
    fn default() -> Self {
        SummaryQuery { days: thirty() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub created: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgressPoint {
    pub run: String,
    pub short_id: String,
    pub name: String,
    pub at: i64,
    pub value: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flagged {
    pub many_changes: u64,
    pub no_hypothesis: u64,
}

/// The baseline and its recorded value of the primary metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineValue {
    pub reference: String,
    pub label: String,
    /// Mean of the baseline's finished runs (re-evaluations aside); null without values.
    pub mean: Option<f64>,
    pub n: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub runs: u64,
    pub by_status: BTreeMap<String, u64>,
    pub per_day: Vec<DayCount>,
    /// The primary metric of every run that has it, oldest first (null without one).
    pub metric: Option<String>,
    pub direction: Option<Direction>,
    /// Runs with a value of the metric, oldest first: every run that set a record, and
    /// about 2,000 others spread evenly over time (all of them in a smaller project).
    pub progress: Vec<ProgressPoint>,
    /// How many runs `progress` was drawn from (see `ProjectSummary::progress_of`): when
    /// it holds fewer, the chart says it draws a sample.
    pub progress_of: u64,
    pub flagged: Flagged,
    pub baseline: Option<BaselineValue>,
}

/// `GET /api/v1/projects/{name}/refusals` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalsQuery {
    #[serde(default = "twenty")]
    pub limit: u32,
}

fn twenty() -> u32 {
    20
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusals {
    pub total: u64,
    pub refusals: Vec<Refusal>,
}

/// `GET /api/v1/projects/{name}/review` query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    #[serde(default = "seven")]
    pub days: u32,
    /// `json` (the default) or `markdown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

fn seven() -> u32 {
    7
}

impl Default for ReviewQuery {
    fn default() -> Self {
        ReviewQuery { days: seven(), format: None }
    }
}

/// A run, or a replicate group, of the period, compared with the baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewItem {
    /// Short ids of the runs (a replicate group has several).
    pub runs: Vec<String>,
    pub name: String,
    pub owner: String,
    pub hypothesis: Option<String>,
    pub comparison: Comparison,
    /// Holm-corrected over every candidate of the period.
    pub p_adjusted: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedRun {
    pub run: String,
    pub name: String,
    pub owner: String,
    /// What changed at once, as the run was tagged.
    pub changes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Review {
    pub project: String,
    pub since: i64,
    pub until: i64,
    pub metric: Option<String>,
    pub direction: Option<Direction>,
    pub runs: usize,
    pub finished: usize,
    pub failed: usize,
    /// The baseline compared against (its label), when one is set.
    pub baseline: Option<String>,
    /// The baseline's run id or replicate group id.
    pub baseline_reference: Option<String>,
    pub improvements: Vec<ReviewItem>,
    pub regressions: Vec<ReviewItem>,
    /// Hypotheses the team itself marked refuted this period.
    pub refuted: Vec<String>,
    pub surprises: Vec<Surprise>,
    pub many_changes: Vec<FlaggedRun>,
    pub refused_duplicates: u64,
    /// What the review could not do, in words.
    pub notes: Vec<String>,
}

/// `GET /api/v1/projects/{name}/studies` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudiesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_is_better: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeEffect {
    pub change: String,
    /// `(base + change) − base`.
    pub added: Option<Comparison>,
    /// `candidate − (candidate − change)`.
    pub removed: Option<Comparison>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AblationReport {
    /// `candidate − base`: everything changed at once.
    pub joint: Option<Comparison>,
    pub changes: Vec<ChangeEffect>,
    /// Σ of the changes' effects when added alone.
    pub sum_of_single: Option<f64>,
    /// `joint − sum_of_single`, with an approximate 95% interval: the changes do not
    /// simply add up when it excludes zero.
    pub interaction: Option<f64>,
    pub interaction_ci: Option<(f64, f64)>,
    pub interaction_detected: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyReport {
    pub study: Study,
    pub metric: String,
    pub direction: Direction,
    /// Runs of the study that did not finish or have no value of the metric.
    pub missing: usize,
    pub ablation: Option<AblationReport>,
    pub factorial: Option<Anova>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyList {
    pub studies: Vec<StudyReport>,
}

/// `GET /api/v1/projects/{name}/tried` query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriedQuery {
    /// The parameter, as a config key (`aug`, `optimizer.lr`).
    pub param: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower_is_better: Option<bool>,
}

/// Every value a parameter has taken in a project, and what its runs did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tried {
    pub project: String,
    pub param: String,
    /// The metric results are judged by: the one asked for, the project's primary
    /// metric, or the only metric its runs log. Null when none applies: then the
    /// answer has values, runs, who, when and failures, and no results.
    pub metric: Option<String>,
    pub direction: Option<Direction>,
    /// Why there are no results, when there are none; that not every value is listed,
    /// when there are more than an answer holds.
    pub note: Option<String>,
    /// Distinct values the parameter has taken (`(not set)` counted as one).
    pub values_total: usize,
    /// The values with the most runs (at most 200), in the order of their text.
    pub values: Vec<TriedValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriedValue {
    /// The value as shown (`(not set)` for runs without the parameter).
    pub value: String,
    pub runs: usize,
    pub finished: usize,
    /// Replicate groups of two or more runs among them, and the runs in those groups.
    pub replicate_groups: usize,
    pub replicated_runs: usize,
    pub owners: Vec<String>,
    pub first: i64,
    pub last: i64,
    pub best: Option<TriedBest>,
    pub mean: Option<f64>,
    pub sd: Option<f64>,
    /// Finished runs with a finite value of the metric.
    pub n: usize,
    pub ci95: Option<(f64, f64)>,
    /// Runs with this value that failed, were killed or crashed.
    pub failures: usize,
    /// The newest of those (at most 20).
    pub failed: Vec<TriedFailure>,
    /// Short ids of the newest runs with this value (at most 20).
    pub run_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriedBest {
    pub value: f64,
    pub run: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriedFailure {
    pub run: String,
    pub status: RunStatus,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
}
