//! "What have we tried for X?": every value a parameter has taken in a project — runs,
//! replicates, who and when, failures — and, when there is a metric to judge by, how
//! each value did (best, and the mean with a 95% interval when there are two or more).
//! The store groups and aggregates (`MetadataStore::param_values`): the answer costs a
//! few queries and a bounded answer, however many runs the project has.

use super::comparison::metric_of;
use super::{Result, Service};
use crate::error::ApiError;
use cairn_api::reports::{Tried, TriedBest, TriedFailure, TriedQuery, TriedValue};
use cairn_domain::{Direction, Project};
use cairn_store::ParamGroup;

/// The metric a project's runs are judged by when none is named: its primary metric,
/// else the only metric its runs log (system metrics aside).
fn implied_metric(project: &Project, metrics: &[String]) -> Option<(String, Direction)> {
    if let Some(pm) = &project.primary_metric {
        return Some((pm.key.clone(), pm.direction));
    }
    let mut it = metrics.iter().filter(|k| !k.starts_with("system/"));
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

/// The most values one answer lists (the ones with the most runs).
const MAX_VALUES: u32 = 200;

impl Service {
    pub async fn tried(&self, project: &str, q: &TriedQuery) -> Result<Tried> {
        if q.param.trim().is_empty() {
            return Err(ApiError::invalid("param: name the parameter, as a config key (`aug`, `optimizer.lr`)"));
        }
        let proj = self.get_project(project).await?;
        let judge = match &q.metric {
            Some(m) => Some(metric_of(&proj, Some(m), q.lower_is_better)?),
            None => implied_metric(&proj, &self.timed(self.store.project_keys(&proj.name)).await?.metrics),
        };
        let found = self
            .timed(self.store.param_values(
                &proj.name,
                &q.param,
                judge.as_ref().map(|(m, d)| (m.as_str(), *d)),
                MAX_VALUES,
            ))
            .await?;
        if !found.key_seen {
            return Err(ApiError::invalid(format!(
                "no run in project '{project}' has a parameter '{}'; `cairn show RUN` lists a run's config keys",
                q.param
            )));
        }
        let mut values: Vec<TriedValue> =
            found.groups.into_iter().map(|g| summarise(g, judge.as_ref().map(|(_, d)| *d))).collect();
        values.sort_by(|a, b| a.value.cmp(&b.value));
        let mut notes = Vec::new();
        if judge.is_none() {
            notes.push(format!(
                "no results shown: project '{project}' has no primary metric and its runs log several metrics; name one \
                 (--metric KEY) or set one (`cairn projects set {project} --primary-metric KEY`)"
            ));
        }
        if found.values_total > values.len() as u64 {
            notes.push(format!(
                "'{}' has {} distinct values; the {} with the most runs are shown (a continuous parameter is better \
                 asked with `cairn ls --filter` or the groups endpoint)",
                q.param,
                found.values_total,
                values.len()
            ));
        }
        Ok(Tried {
            project: proj.name.to_string(),
            param: q.param.clone(),
            metric: judge.as_ref().map(|(m, _)| m.clone()),
            direction: judge.map(|(_, d)| d),
            note: (!notes.is_empty()).then(|| notes.join("; ")),
            values_total: found.values_total as usize,
            values,
        })
    }
}

fn summarise(g: ParamGroup, direction: Option<Direction>) -> TriedValue {
    let ci95 = match (g.mean, g.sd) {
        (Some(m), Some(sd)) if g.n > 1 => {
            let half = cairn_analysis::t_quantile(0.975, (g.n - 1) as f64) * sd / (g.n as f64).sqrt();
            Some((m - half, m + half))
        }
        _ => None,
    };
    let best = direction.and_then(|d| if d == Direction::Increase { g.max.clone() } else { g.min.clone() });
    TriedValue {
        value: g.value.unwrap_or_else(|| "(not set)".to_owned()),
        runs: g.runs as usize,
        finished: g.finished as usize,
        replicate_groups: g.replicate_groups as usize,
        replicated_runs: g.replicated_runs as usize,
        owners: g.owners,
        first: g.first,
        last: g.last,
        best: best.map(|(value, run)| TriedBest { value, run }),
        mean: g.mean.filter(|_| direction.is_some()),
        sd: g.mean.filter(|_| direction.is_some()).map(|_| g.sd.unwrap_or(0.0)),
        n: if direction.is_some() { g.n as usize } else { 0 },
        ci95: ci95.filter(|_| direction.is_some()),
        failures: g.failed as usize,
        failed: g
            .failures
            .into_iter()
            .map(|(run, status, exit_code, reason)| TriedFailure { run, status, exit_code, reason })
            .collect(),
        run_ids: g.newest,
    }
}
