//! Comparing runs honestly, for the CLI's `cairn compare` and the UI's compare view:
//! each side is a run with its replicate group (or a group, or the project's baseline),
//! the project's noise floor judges single runs, several candidates get Holm's
//! correction, and a group's summary says how many runs it rests on.

use super::{Result, Service};
use crate::error::{ApiError, ErrorCode};
use cairn_analysis::{Noise, Verdict, compare, describe, holm, pooled_noise};
pub use cairn_api::reports::{CandidateReport, CompareReport, SideReport};
use cairn_domain::{Direction, Project, Run};
use std::collections::BTreeMap;

use cairn_domain::baseline::Baseline;
pub use cairn_domain::baseline::{BASELINE_TAG, REEVAL_TAG};

/// The metric to judge by and its direction: the one named (higher is better unless
/// `lower_is_better`), else the project's primary metric.
pub fn metric_of(p: &Project, metric: Option<&str>, lower_is_better: Option<bool>) -> Result<(String, Direction)> {
    match (metric, &p.primary_metric) {
        (Some(m), _) => {
            Ok((m.to_owned(), if lower_is_better == Some(true) { Direction::Decrease } else { Direction::Increase }))
        }
        (None, Some(pm)) => Ok((pm.key.clone(), pm.direction)),
        (None, None) => Err(ApiError::invalid(format!(
            "project '{0}' has no primary metric: name a metric (--metric KEY, and --lower-is-better for a loss), or \
             set one with `cairn projects set {0} --primary-metric KEY`",
            p.name
        ))),
    }
}

/// Replicate groups of two or more runs (re-evaluations aside): group id → runs.
pub fn replicate_groups(runs: &[Run]) -> BTreeMap<String, Vec<&Run>> {
    let mut groups: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
    for r in runs.iter().filter(|r| !r.tags.contains_key(REEVAL_TAG)) {
        if let Some(g) = &r.group_id {
            groups.entry(g.clone()).or_default().push(r);
        }
    }
    groups.retain(|_, rs| rs.len() > 1);
    groups
}

/// The seed-to-seed spread of `metric` from the replicate groups among `runs`.
pub fn noise_floor(runs: &[Run], metric: &str) -> Option<Noise> {
    let groups: Vec<Vec<f64>> =
        replicate_groups(runs).values().map(|rs| rs.iter().filter_map(|r| r.value(metric)).collect()).collect();
    pooled_noise(&groups)
}

/// One side of a comparison: a run with its replicate group, a group, or the baseline.
#[derive(Debug, Clone)]
pub struct Side {
    pub label: String,
    pub runs: Vec<Run>,
}

impl Side {
    /// The side's values of `metric`, and how many of its runs have none.
    pub fn values(&self, metric: &str) -> (Vec<f64>, usize) {
        let vals: Vec<f64> = self.runs.iter().filter_map(|r| r.value(metric)).collect();
        let missing = self.runs.len() - vals.len();
        (vals, missing)
    }
}

/// Resolves a run id, short id or replicate group id to its runs (among `runs`: the
/// project's runs that `Service::side_members` finds for it); a run brings its replicate
/// group unless `single`.
pub async fn resolve_side(service: &Service, runs: &[Run], reference: &str, single: bool) -> Result<Side> {
    // A group id: Cairn's `replicates-…`, or any group id runs were given.
    let members: Vec<Run> = runs.iter().filter(|r| r.group_id.as_deref() == Some(reference)).cloned().collect();
    if !members.is_empty() || reference.starts_with("replicates-") {
        if members.is_empty() {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                format!("no replicate group '{reference}' in this project; `cairn ls` shows each run's group size"),
            ));
        }
        return Ok(Side { label: format!("group {reference}"), runs: members });
    }
    // A run the caller cannot see is not found, in the same words.
    let r = match service.resolve(reference).await {
        Err(e) if e.code == ErrorCode::RunNotFound => {
            return Err(ApiError::new(ErrorCode::RunNotFound, format!("no run '{reference}'; `cairn ls` lists runs")));
        }
        other => other?,
    };
    let group: Vec<Run> = match (&r.group_id, single) {
        (Some(g), false) => runs
            .iter()
            .filter(|o| o.group_id.as_ref() == Some(g) && !o.tags.contains_key(REEVAL_TAG))
            .cloned()
            .collect(),
        _ => vec![],
    };
    if group.len() > 1 {
        return Ok(Side { label: format!("{} + {} replicate(s)", r.short_id, group.len() - 1), runs: group });
    }
    Ok(Side { label: r.short_id.to_string(), runs: vec![r] })
}

/// The project's baseline as recorded: its runs without later re-evaluations.
pub async fn baseline_side(service: &Service, project: &Project, runs: &[Run]) -> Result<Side> {
    let Some(b) = Baseline::of(project) else {
        return Err(ApiError::invalid(format!(
            "project {0} has no baseline; name one with `cairn baseline set RUN --project {0}`, or give a reference",
            project.name
        )));
    };
    let mut side = resolve_side(service, runs, &b.reference, false).await?;
    side.runs.retain(|r| !r.tags.contains_key(REEVAL_TAG));
    side.label = format!("baseline {}", b.label);
    Ok(side)
}

fn side_report(side: &Side, metric: &str) -> SideReport {
    let (values, missing) = side.values(metric);
    let d = describe(&values, 0.95);
    SideReport {
        label: side.label.clone(),
        runs: side.runs.iter().map(|r| r.short_id.to_string()).collect(),
        n: values.len(),
        missing,
        mean: d.as_ref().map(|d| d.mean),
        sd: d.as_ref().filter(|d| d.n > 1).map(|d| d.sd),
        ci: d.and_then(|d| d.ci),
    }
}

impl Service {
    /// Each candidate against `reference` (default: the project's baseline) on `metric`
    /// (default: the primary metric).
    #[allow(clippy::too_many_arguments)]
    pub async fn compare_report(
        &self,
        project: &str,
        reference: Option<&str>,
        candidates: &[String],
        metric: Option<&str>,
        lower_is_better: Option<bool>,
        single: bool,
        alpha: f64,
    ) -> Result<CompareReport> {
        if !(alpha > 0.0 && alpha < 0.5) {
            return Err(ApiError::invalid("alpha must be between 0 and 0.5, e.g. 0.05"));
        }
        if candidates.is_empty() {
            return Err(ApiError::invalid("name at least one candidate run to compare"));
        }
        let p = self.get_project(project).await?;
        let (metric, direction) = metric_of(&p, metric, lower_is_better)?;
        let lower = direction == Direction::Decrease;
        // Only the runs each side names, and the newest replicated runs for the noise
        // floor: never the whole project.
        let noise = noise_floor(&self.recent_replicates(&p.name).await?, &metric);
        let reference = match reference {
            Some(r) => resolve_side(self, &self.side_members(&p.name, r).await?, r, single).await?,
            None => {
                let members = match Baseline::of(&p) {
                    Some(b) => self.side_members(&p.name, &b.reference).await?,
                    None => vec![],
                };
                baseline_side(self, &p, &members).await?
            }
        };
        let (ref_values, _) = reference.values(&metric);
        if ref_values.is_empty() {
            return Err(ApiError::invalid(format!(
                "the reference {} has no finished run with a value of '{metric}'; `cairn show` lists a run's metrics",
                reference.label
            )));
        }
        let mut out = Vec::new();
        for c in candidates {
            let side = resolve_side(self, &self.side_members(&p.name, c).await?, c, single).await?;
            let (values, _) = side.values(&metric);
            let Some(cmp) = compare(&values, &ref_values, lower, noise, alpha) else {
                return Err(ApiError::invalid(format!(
                    "{} has no finished run with a value of '{metric}'; `cairn show {c}` lists its metrics",
                    side.label
                )));
            };
            out.push(CandidateReport {
                side: side_report(&side, &metric),
                verdict: cmp.verdict,
                comparison: cmp,
                p_adjusted: None,
            });
        }
        let correction = (out.len() > 1).then_some("holm");
        if correction.is_some() {
            let adjusted = holm(&out.iter().map(|c| c.comparison.p.unwrap_or(1.0)).collect::<Vec<_>>());
            for (c, a) in out.iter_mut().zip(adjusted) {
                if c.comparison.p.is_some() {
                    c.p_adjusted = Some(a);
                    if a >= alpha && matches!(c.verdict, Verdict::Better | Verdict::Worse) {
                        c.verdict = Verdict::NotDistinguishable;
                    }
                }
            }
        }
        Ok(CompareReport {
            project: p.name.to_string(),
            metric: metric.clone(),
            direction,
            alpha,
            reference: side_report(&reference, &metric),
            noise_floor: noise,
            correction: correction.map(str::to_owned),
            candidates: out,
        })
    }
}

/// Replicated runs read for the noise floor: the newest this many are plenty.
const NOISE_RUNS: u32 = 5_000;

impl Service {
    /// The project's newest replicated runs (runs in a replicate group).
    pub(super) async fn recent_replicates(&self, project: &cairn_domain::ProjectName) -> Result<Vec<Run>> {
        let q = cairn_store::RunQuery {
            project: Some(project.clone()),
            filter: cairn_query::parse_filter("group is not null")?,
            limit: NOISE_RUNS,
            ..Default::default()
        };
        Ok(self.timed(self.store.search_runs(&q)).await?.runs)
    }

    /// The runs a comparison side named by `reference` can draw on: the replicate
    /// group it names, or the run with its group.
    pub(super) async fn side_members(&self, project: &cairn_domain::ProjectName, reference: &str) -> Result<Vec<Run>> {
        let group = |g: &str| cairn_query::parse_filter(&format!("group = {}", serde_json::Value::from(g)));
        let q = cairn_store::RunQuery {
            project: Some(project.clone()),
            filter: group(reference)?,
            limit: 1000,
            ..Default::default()
        };
        let members = self.timed(self.store.search_runs(&q)).await?.runs;
        if !members.is_empty() || reference.starts_with("replicates-") {
            return Ok(members);
        }
        let run = match self.resolve(reference).await {
            Ok(r) => r,
            // resolve_side says what is missing, in its words.
            Err(_) => return Ok(vec![]),
        };
        match &run.group_id {
            Some(g) => {
                let q = cairn_store::RunQuery {
                    project: Some(project.clone()),
                    filter: group(g)?,
                    limit: 1000,
                    ..Default::default()
                };
                Ok(self.timed(self.store.search_runs(&q)).await?.runs)
            }
            None => Ok(vec![run]),
        }
    }
}
