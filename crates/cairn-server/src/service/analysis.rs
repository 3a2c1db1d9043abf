//! Analyses over a project's runs: parameter importance, underperforming values and
//! surprising runs (`cairn-analysis` does the statistics; this gathers the runs).

use super::{Result, Service};
use crate::error::ApiError;
use cairn_analysis::{Insights, Param, RunRow};
use cairn_domain::compare::flat_params;
use cairn_domain::{Direction, ProjectName, Run, RunStatus};
use cairn_store::RunQuery;
use serde::Serialize;
use serde_json::Value;

/// An insights answer: what was analysed, and what it says.
#[derive(Debug, Clone, Serialize)]
pub struct InsightsReport {
    pub project: String,
    pub metric: String,
    pub direction: Direction,
    pub filter: Option<String>,
    /// Finished runs with a finite value of the metric: the ones analysed.
    pub analysed: usize,
    /// Runs left out because they have no finite value of the metric (or did not finish).
    pub excluded: usize,
    pub insights: Insights,
}

impl Service {
    /// Every live run of `project` matching `filter`.
    pub async fn runs_of(&self, project: &str, filter: Option<&str>) -> Result<Vec<Run>> {
        let name = ProjectName::parse(project)?;
        self.store.get_project(&name).await?;
        let filter = match filter.filter(|f| !f.trim().is_empty()) {
            Some(f) => cairn_query::parse_filter(f)?,
            None => None,
        };
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let q = RunQuery {
                project: Some(name.clone()),
                filter: filter.clone(),
                limit: 1000,
                offset,
                ..Default::default()
            };
            let page = self.store.search_runs(&q).await?;
            let n = page.runs.len();
            out.extend(page.runs);
            match page.next_offset {
                Some(next) if n > 0 => offset = next,
                _ => return Ok(out),
            }
        }
    }

    /// Importance of each parameter for `metric` (default: the project's primary
    /// metric), the values that do worse than the rest, and the most surprising runs.
    pub async fn insights(
        &self,
        project: &str,
        metric: Option<&str>,
        lower_is_better: Option<bool>,
        filter: Option<&str>,
    ) -> Result<InsightsReport> {
        let p = self.get_project(project).await?;
        let (metric, direction) = match (metric, &p.primary_metric) {
            (Some(m), _) => {
                (m.to_owned(), if lower_is_better == Some(true) { Direction::Decrease } else { Direction::Increase })
            }
            (None, Some(pm)) => (pm.key.clone(), pm.direction),
            (None, None) => {
                return Err(ApiError::invalid(format!(
                    "project '{project}' has no primary metric: name a metric, or set one with `cairn projects set \
                     {project} --primary-metric KEY`"
                )));
            }
        };
        let runs = self.runs_of(project, filter).await?;
        let mut rows = Vec::new();
        for r in &runs {
            let value = (r.status == RunStatus::Finished)
                .then(|| r.metrics.iter().find(|m| m.key == metric).map(|m| m.last))
                .flatten()
                .filter(|v| v.is_finite());
            let Some(value) = value else { continue };
            let params = flat_params(&r.config)
                .into_iter()
                .filter_map(|(k, v)| {
                    let p = match v {
                        Value::Number(n) => Param::Num(n.as_f64()?),
                        Value::String(s) => Param::Text(s),
                        Value::Bool(b) => Param::Text(b.to_string()),
                        Value::Null => return None,
                        other => Param::Text(other.to_string()),
                    };
                    Some((k, p))
                })
                .collect();
            rows.push(RunRow { id: r.short_id.to_string(), params, value });
        }
        let lower = direction == Direction::Decrease;
        let insights = cairn_analysis::insights(&rows, lower, 0.05, 1);
        Ok(InsightsReport {
            project: p.name.to_string(),
            metric,
            direction,
            filter: filter.map(str::to_owned),
            analysed: rows.len(),
            excluded: runs.len() - rows.len(),
            insights,
        })
    }
}
