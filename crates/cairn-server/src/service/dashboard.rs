//! What a project's dashboard shows: counts by status and day, the progress line of the
//! primary metric, flagged runs, the baseline to measure against, refused duplicates,
//! and the keys its runs use (for completion).

use super::{Result, Service, now_ms};
use crate::error::ApiError;
pub use cairn_api::reports::{BaselineValue, DayCount, Flagged, ProgressPoint, Refusals, Summary};
use cairn_domain::baseline::{Baseline, REEVAL_TAG};
use cairn_domain::{ProjectName, RunRef};
use cairn_store::ProjectKeys;

const DAY: i64 = 86_400_000;

impl Service {
    pub async fn keys(&self, project: &str) -> Result<ProjectKeys> {
        let p = self.get_project(project).await?;
        Ok(self.store.project_keys(&p.name).await?)
    }

    pub async fn refusals(&self, project: &str, limit: u32) -> Result<Refusals> {
        let p = self.get_project(project).await?;
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::invalid(format!("limit must be between 1 and 1000, got {limit}")));
        }
        let (total, refusals) = self.store.refusals(&p.name, limit).await?;
        Ok(Refusals { total, refusals })
    }

    pub async fn summary(&self, project: &str, days: u32) -> Result<Summary> {
        let p = self.get_project(project).await?;
        if !(1..=3650).contains(&days) {
            return Err(ApiError::invalid(format!("days must be between 1 and 3650, got {days}")));
        }
        let since = (now_ms() / DAY - i64::from(days) + 1) * DAY;
        let metric = p.primary_metric.as_ref().map(|m| m.key.clone());
        let s = self.store.project_summary(&p.name, since, metric.as_deref()).await?;
        let per_day = s
            .per_day
            .iter()
            .map(|&(ms, created, failed)| DayCount {
                day: chrono::DateTime::from_timestamp_millis(ms)
                    .map(|d| d.format("%Y-%m-%d").to_string())
                    .unwrap_or_default(),
                created,
                failed,
            })
            .collect();
        let progress = s
            .progress
            .iter()
            .map(|(id, short, name, at, value)| ProgressPoint {
                run: id.to_string(),
                short_id: short.to_string(),
                name: name.clone(),
                at: *at,
                value: *value,
            })
            .collect();
        let baseline = match (Baseline::of(&p), &metric) {
            (Some(b), Some(metric)) => Some(self.baseline_value(&p.name, b, metric).await?),
            _ => None,
        };
        Ok(Summary {
            runs: s.runs,
            by_status: s.by_status,
            per_day,
            metric,
            direction: p.primary_metric.as_ref().map(|m| m.direction),
            progress,
            progress_of: s.progress_of,
            flagged: Flagged { many_changes: s.many_changes, no_hypothesis: s.no_hypothesis },
            baseline,
        })
    }

    pub(super) async fn baseline_value(
        &self,
        project: &ProjectName,
        b: Baseline,
        metric: &str,
    ) -> Result<BaselineValue> {
        let Baseline { reference, label, .. } = b;
        // A group id (`replicates-…` or any other), else a run.
        let filter =
            cairn_query::parse_filter(&format!("group_id = {}", serde_json::Value::String(reference.clone())))?;
        let q = cairn_store::RunQuery { project: Some(project.clone()), filter, limit: 1000, ..Default::default() };
        let mut runs = self.store.search_runs(&q).await?.runs;
        if runs.is_empty()
            && let Ok(r) = RunRef::parse(&reference)
        {
            runs = self.store.get_run(&r).await.map(|r| vec![r]).unwrap_or_default();
        }
        let values: Vec<f64> =
            runs.iter().filter(|r| !r.tags.contains_key(REEVAL_TAG)).filter_map(|r| r.value(metric)).collect();
        let mean = (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64);
        Ok(BaselineValue { reference, label, mean, n: values.len() })
    }
}
