//! Analyses over a project's runs: parameter importance, underperforming values and
//! surprising runs (`cairn-analysis` does the statistics; this gathers the runs).

use super::comparison::metric_of;
use super::{Result, Service};
use crate::error::ApiError;
use cairn_analysis::{Param, RunRow};
pub use cairn_api::reports::{Group, Groups, InsightsReport};
use cairn_domain::compare::flat_params;
use cairn_domain::{Direction, Run};
use cairn_store::RunQuery;
use serde_json::Value;

/// The most runs insights fits its model on.
pub const INSIGHTS_SAMPLE: usize = 20_000;

impl Service {
    /// Every live run of `project` matching `filter`.
    pub async fn runs_of(&self, project: &str, filter: Option<&str>) -> Result<Vec<Run>> {
        let name = self.get_project(project).await?.name;
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
            let page = self.timed(self.store.search_runs(&q)).await?;
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
        self.insights_of(project, metric, lower_is_better, filter, INSIGHTS_SAMPLE).await
    }

    /// [`Service::insights`] on at most `sample` runs.
    pub(super) async fn insights_of(
        &self,
        project: &str,
        metric: Option<&str>,
        lower_is_better: Option<bool>,
        filter: Option<&str>,
        sample_size: usize,
    ) -> Result<InsightsReport> {
        let p = self.get_project(project).await?;
        let (metric, direction) = metric_of(&p, metric, lower_is_better)?;
        let parsed = match filter.filter(|f| !f.trim().is_empty()) {
            Some(f) => cairn_query::parse_filter(f)?,
            None => None,
        };
        // A sample spread over the metric's range, drawn by the store: the work per
        // request is bounded by the sample, not by the project's size.
        let sample =
            self.timed(self.store.metric_sample(&p.name, &metric, parsed.as_ref(), sample_size as u32)).await?;
        let all = RunQuery { project: Some(p.name.clone()), filter: parsed, ..Default::default() };
        let matching = self.timed(self.store.count_runs(&all)).await?;
        let rows: Vec<RunRow> =
            sample.runs.into_iter().map(|(id, value, config)| run_row(id, value, &config)).collect();
        let lower = direction == Direction::Decrease;
        let analysed = rows.len();
        let report_metric = metric.clone();
        // The forest is CPU work: off the async threads.
        let insights = tokio::task::spawn_blocking(move || cairn_analysis::insights(&rows, lower, 0.05, 1))
            .await
            .map_err(|e| ApiError::new(crate::error::ErrorCode::Internal, format!("the analysis failed: {e}")))?;
        Ok(InsightsReport {
            project: p.name.to_string(),
            metric,
            direction,
            filter: filter.map(str::to_owned),
            analysed,
            qualifying: sample.total as usize,
            excluded: (matching as usize).saturating_sub(sample.total as usize),
            sample: (sample.total as usize > analysed).then(|| {
                let metric = &report_metric;
                format!(
                    "a sample of {analysed} of the {} qualifying runs, every {}th in the order of {metric} (so each \
                     part of its range is represented in proportion)",
                    sample.total,
                    (sample.total as usize).div_ceil(sample_size)
                )
            }),
            insights,
        })
    }
}

/// A run's value of a filter-language field.
/// A run as the surrogate reads it: its params (numbers as numbers, the rest as text)
/// and its value of the metric.
pub(super) fn run_row(id: String, value: f64, config: &cairn_domain::Config) -> RunRow {
    let params = flat_params(config)
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
    RunRow { id, params, value }
}

fn one_field(text: &str, what: &str) -> Result<cairn_query::Field> {
    let keys = cairn_query::parse_order(text)?;
    match keys.as_slice() {
        [k] if !k.descending => Ok(k.field.clone()),
        _ => Err(ApiError::invalid(format!("{what} must be one field, e.g. params.aug or max(metrics.val_acc)"))),
    }
}

impl Service {
    /// The runs matching `filter`, grouped by `group_by` (a field), with the count,
    /// mean, spread and extremes of `metric` (a field, e.g. `max(metrics.val_acc)`) in
    /// each group, largest group first.
    pub async fn groups(&self, project: &str, filter: Option<&str>, group_by: &str, metric: &str) -> Result<Groups> {
        let by = one_field(group_by, "group_by")?;
        let of = one_field(metric, "metric")?;
        let name = self.get_project(project).await?.name;
        let parsed = match filter.filter(|f| !f.trim().is_empty()) {
            Some(f) => cairn_query::parse_filter(f)?,
            None => None,
        };
        // Aggregated in the store: one pass over the matching runs, only groups return.
        let stats = self.timed(self.store.group_stats(&name, parsed.as_ref(), &by, &of)).await?;
        let groups = stats
            .groups
            .into_iter()
            .map(|g| {
                let ci =
                    g.mean.zip(g.sd).and_then(|(mean, sd)| cairn_analysis::mean_interval(mean, sd, g.n as usize, 0.95));
                Group {
                    value: g.value,
                    count: g.count as usize,
                    n: g.n as usize,
                    mean: g.mean,
                    sd: g.sd,
                    ci,
                    min: g.min,
                    max: g.max,
                }
            })
            .collect();
        Ok(Groups { total: stats.total as usize, group_count: stats.group_count as usize, groups })
    }
}
