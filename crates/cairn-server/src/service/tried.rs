//! "What have we tried for X?": every value a parameter has taken in a project — runs,
//! replicates, who and when, failures — and, when there is a metric to judge by, how
//! each value did (best, and the mean with a 95% interval when there are two or more).

use super::comparison::metric_of;
use super::{Result, Service};
use crate::error::ApiError;
use cairn_api::reports::{Tried, TriedBest, TriedFailure, TriedQuery, TriedValue};
use cairn_domain::compare::flat_params;
use cairn_domain::{Direction, Project, Run, RunStatus};
use std::collections::{BTreeMap, BTreeSet};

/// A parameter value as the answer shows it.
pub fn display_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The metric a project's runs are judged by when none is named: its primary metric,
/// else the only metric its runs log (system metrics aside).
fn implied_metric(project: &Project, runs: &[Run]) -> Option<(String, Direction)> {
    if let Some(pm) = &project.primary_metric {
        return Some((pm.key.clone(), pm.direction));
    }
    let keys: BTreeSet<&str> = runs
        .iter()
        .flat_map(|r| r.metrics.iter().map(|m| m.key.as_str()))
        .filter(|k| !k.starts_with("system/"))
        .collect();
    let mut it = keys.into_iter();
    match (it.next(), it.next()) {
        (Some(only), None) => {
            // A loss or an error is better low; anything else (accuracy, F1…) high.
            let lower = ["loss", "error", "err", "mse", "mae", "rmse", "perplexity"]
                .iter()
                .any(|w| only.to_ascii_lowercase().split(['/', '_', '.', '-']).any(|part| part == *w));
            Some((only.to_owned(), if lower { Direction::Decrease } else { Direction::Increase }))
        }
        _ => None,
    }
}

impl Service {
    pub async fn tried(&self, project: &str, q: &TriedQuery) -> Result<Tried> {
        if q.param.trim().is_empty() {
            return Err(ApiError::invalid("param: name the parameter, as a config key (`aug`, `optimizer.lr`)"));
        }
        let proj = self.get_project(project).await?;
        let runs = self.runs_of(project, None).await?;
        let judge = match &q.metric {
            Some(m) => Some(metric_of(&proj, Some(m), q.lower_is_better)?),
            None => implied_metric(&proj, &runs),
        };
        let mut groups: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
        let mut seen = false;
        for r in &runs {
            let value = match flat_params(&r.config).get(&q.param) {
                Some(v) => {
                    seen = true;
                    display_value(v)
                }
                None => "(not set)".to_owned(),
            };
            groups.entry(value).or_default().push(r);
        }
        if !seen {
            return Err(ApiError::invalid(format!(
                "no run in project '{project}' has a parameter '{}'; `cairn show RUN` lists a run's config keys",
                q.param
            )));
        }
        let values = groups.into_iter().map(|(value, rs)| summarise(value, &rs, judge.as_ref())).collect();
        let note = judge.is_none().then(|| {
            format!(
                "no results shown: project '{project}' has no primary metric and its runs log several metrics; name one \
                 (--metric KEY) or set one (`cairn projects set {project} --primary-metric KEY`)"
            )
        });
        Ok(Tried {
            project: proj.name.to_string(),
            param: q.param.clone(),
            metric: judge.as_ref().map(|(m, _)| m.clone()),
            direction: judge.map(|(_, d)| d),
            note,
            values,
        })
    }
}

fn summarise(value: String, runs: &[&Run], judge: Option<&(String, Direction)>) -> TriedValue {
    let finished = runs.iter().filter(|r| r.status == RunStatus::Finished).count();
    let failed: Vec<TriedFailure> = runs
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Killed | RunStatus::Crashed))
        .map(|r| TriedFailure {
            run: r.short_id.to_string(),
            status: r.status,
            exit_code: r.exit_code,
            reason: r.tags.get("cairn.failure").cloned(),
        })
        .collect();
    let mut by_group: BTreeMap<&str, usize> = BTreeMap::new();
    for r in runs {
        if let Some(g) = &r.group_id {
            *by_group.entry(g.as_str()).or_default() += 1;
        }
    }
    let owners: BTreeSet<String> = runs.iter().map(|r| r.owner.clone()).collect();
    let (mut best, mut desc) = (None, None);
    if let Some((metric, direction)) = judge {
        let results: Vec<(f64, &Run)> = runs.iter().filter_map(|r| r.value(metric).map(|v| (v, *r))).collect();
        let better = |x: f64, y: f64| if *direction == Direction::Increase { x > y } else { x < y };
        best = results
            .iter()
            .copied()
            .reduce(|a, b| if better(b.0, a.0) { b } else { a })
            .map(|(v, r)| TriedBest { value: v, run: r.short_id.to_string() });
        let values: Vec<f64> = results.iter().map(|(v, _)| *v).collect();
        desc = cairn_analysis::describe(&values, 0.95);
    }
    TriedValue {
        value,
        runs: runs.len(),
        finished,
        replicate_groups: by_group.values().filter(|&&n| n > 1).count(),
        replicated_runs: by_group.values().filter(|&&n| n > 1).sum(),
        owners: owners.into_iter().collect(),
        first: runs.iter().map(|r| r.created_at).min().unwrap_or_default(),
        last: runs.iter().map(|r| r.created_at).max().unwrap_or_default(),
        best,
        mean: desc.as_ref().map(|d| d.mean),
        sd: desc.as_ref().map(|d| d.sd),
        n: desc.as_ref().map_or(0, |d| d.n),
        ci95: desc.and_then(|d| d.ci),
        failed,
        run_ids: runs.iter().map(|r| r.short_id.to_string()).collect(),
    }
}
