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
        let mut rows = Vec::with_capacity(sample.runs.len());
        for (id, value, config) in sample.runs {
            let params = flat_params(&config)
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
            rows.push(RunRow { id, params, value });
        }
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
fn field_value(r: &Run, field: &cairn_query::Field) -> Value {
    use cairn_query::{Attr, Field, MetricAgg};
    match field {
        Field::Param(k) => flat_params(&r.config).remove(k).unwrap_or(Value::Null),
        Field::Tag(k) => r.tags.get(k).map_or(Value::Null, |v| Value::String(v.clone())),
        Field::Metric { key, agg } => {
            let Some(m) = r.metrics.iter().find(|m| &m.key == key) else { return Value::Null };
            let v = match agg {
                MetricAgg::Last => Some(m.last),
                MetricAgg::Min => m.min,
                MetricAgg::Max => m.max,
                MetricAgg::Count => Some(m.count as f64),
            };
            v.filter(|v| v.is_finite()).map_or(Value::Null, |v| serde_json::json!(v))
        }
        Field::Attr(a) => match a {
            Attr::Id => Value::String(r.id.to_string()),
            Attr::ShortId => Value::String(r.short_id.to_string()),
            Attr::Name => Value::String(r.name.clone()),
            Attr::Description => Value::String(r.description.clone()),
            Attr::Hypothesis => r.hypothesis.clone().map_or(Value::Null, Value::String),
            Attr::Owner => Value::String(r.owner.clone()),
            Attr::Status => Value::String(r.status.as_str().to_owned()),
            Attr::Project => Value::String(r.project.to_string()),
            Attr::Group => r.group_id.clone().map_or(Value::Null, Value::String),
            Attr::Created => serde_json::json!(r.created_at),
            Attr::Started => r.started_at.map_or(Value::Null, |v| serde_json::json!(v)),
            Attr::Ended => r.ended_at.map_or(Value::Null, |v| serde_json::json!(v)),
            Attr::Fingerprint => r.fingerprint.clone().map_or(Value::Null, Value::String),
        },
    }
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
        let runs = self.runs_of(project, filter).await?;
        let mut groups: Vec<(Value, Vec<f64>, usize)> = Vec::new();
        for r in &runs {
            let key = field_value(r, &by);
            let v = field_value(r, &of).as_f64();
            let at = match groups.iter().position(|(k, _, _)| *k == key) {
                Some(i) => i,
                None => {
                    groups.push((key, Vec::new(), 0));
                    groups.len() - 1
                }
            };
            groups[at].2 += 1;
            if let Some(v) = v.filter(|v| v.is_finite()) {
                groups[at].1.push(v);
            }
        }
        let mut out: Vec<Group> = groups
            .into_iter()
            .map(|(value, vals, count)| {
                let d = cairn_analysis::describe(&vals, 0.95);
                Group {
                    value,
                    count,
                    n: vals.len(),
                    mean: d.as_ref().map(|d| d.mean),
                    sd: d.as_ref().filter(|d| d.n > 1).map(|d| d.sd),
                    ci: d.as_ref().and_then(|d| d.ci),
                    min: d.as_ref().map(|d| d.min),
                    max: d.as_ref().map(|d| d.max),
                }
            })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.to_string().cmp(&b.value.to_string())));
        Ok(Groups { total: runs.len(), groups: out })
    }
}
