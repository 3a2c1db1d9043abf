//! Study reports: what an ablation says about each change (added alone to the base,
//! removed alone from the candidate, and whether the effects add up), and what a
//! factorial design says about each factor and pair of factors (an ANOVA table).

use super::comparison::metric_of;
use super::{Result, Service};
use cairn_analysis::{Anova, Comparison, compare};
use cairn_domain::study::{STUDY_TAG_PREFIX, Study, StudyKind};
use cairn_domain::{Direction, Run, RunStatus};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Debug, Clone, Serialize)]
pub struct ChangeEffect {
    pub change: String,
    /// `(base + change) − base`.
    pub added: Option<Comparison>,
    /// `candidate − (candidate − change)`.
    pub removed: Option<Comparison>,
}

#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
pub struct StudyReport {
    pub study: Study,
    pub metric: String,
    pub direction: Direction,
    /// Runs of the study that did not finish or have no value of the metric.
    pub missing: usize,
    pub ablation: Option<AblationReport>,
    pub factorial: Option<Anova>,
}

/// An approximate standard error from a 95% interval.
fn se(c: &Comparison) -> Option<f64> {
    c.ci.map(|(lo, hi)| (hi - lo) / (2.0 * 1.959964))
}

impl Service {
    /// The project's studies, newest first.
    pub async fn studies(&self, project: &str) -> Result<Vec<Study>> {
        let p = self.get_project(project).await?;
        let mut out: Vec<Study> = p
            .tags
            .iter()
            .filter(|(k, _)| k.starts_with(STUDY_TAG_PREFIX))
            .filter_map(|(_, v)| serde_json::from_str(v).ok())
            .collect();
        out.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(out)
    }

    /// Every study of the project with its report on `metric` (default: the primary metric).
    pub async fn study_reports(
        &self,
        project: &str,
        metric: Option<&str>,
        lower_is_better: Option<bool>,
    ) -> Result<Vec<StudyReport>> {
        let mut out = Vec::new();
        for s in self.studies(project).await? {
            out.push(self.study_report(project, s, metric, lower_is_better).await?);
        }
        Ok(out)
    }

    pub async fn study_report(
        &self,
        project: &str,
        study: Study,
        metric: Option<&str>,
        lower_is_better: Option<bool>,
    ) -> Result<StudyReport> {
        let p = self.get_project(project).await?;
        let (metric, direction) = metric_of(&p, metric, lower_is_better)?;
        let lower = direction == Direction::Decrease;
        let mut runs: HashMap<String, Run> = HashMap::new();
        for arm in &study.arms {
            for id in &arm.runs {
                if let Ok(r) = self.resolve(id).await {
                    runs.insert(id.clone(), r);
                }
            }
        }
        let value = |r: &Run| {
            (r.status == RunStatus::Finished)
                .then(|| r.metrics.iter().find(|m| m.key == metric).map(|m| m.last))
                .flatten()
                .filter(|v| v.is_finite())
        };
        let values = |role: &str| -> Vec<f64> {
            study
                .arms
                .iter()
                .filter(|a| a.role == role)
                .flat_map(|a| a.runs.iter())
                .filter_map(|id| runs.get(id).and_then(value))
                .collect()
        };
        // A run may stand in several arms (a reused run): count each once.
        let total = study.arms.iter().flat_map(|a| a.runs.iter()).collect::<std::collections::BTreeSet<_>>().len();
        let with_value = runs.values().filter(|r| value(r).is_some()).count();
        let mut report = StudyReport {
            missing: total.saturating_sub(with_value),
            study: study.clone(),
            metric: metric.clone(),
            direction,
            ablation: None,
            factorial: None,
        };
        match study.kind {
            StudyKind::Ablation => {
                let (base, cand) = (values("base"), values("candidate"));
                let joint = compare(&cand, &base, lower, None, 0.05);
                let mut changes = Vec::new();
                for change in &study.changes {
                    let key = change.split(':').next().unwrap_or(change).to_owned();
                    let added = compare(&values(&format!("base + {key}")), &base, lower, None, 0.05);
                    let removed = compare(&cand, &values(&format!("candidate − {key}")), lower, None, 0.05);
                    changes.push(ChangeEffect { change: change.clone(), added, removed });
                }
                let sum: Option<f64> = changes.iter().map(|c| c.added.as_ref().map(|a| a.diff)).sum();
                let interaction = joint.as_ref().zip(sum).map(|(j, s)| j.diff - s);
                let se_total: Option<f64> = joint.as_ref().and_then(se).and_then(|j| {
                    let parts: Option<Vec<f64>> = changes.iter().map(|c| c.added.as_ref().and_then(se)).collect();
                    parts.map(|p| (j * j + p.iter().map(|x| x * x).sum::<f64>()).sqrt())
                });
                let interaction_ci = interaction.zip(se_total).map(|(i, s)| (i - 1.959964 * s, i + 1.959964 * s));
                report.ablation = Some(AblationReport {
                    joint,
                    sum_of_single: sum,
                    interaction,
                    interaction_detected: interaction_ci.is_some_and(|(lo, hi)| lo > 0.0 || hi < 0.0),
                    interaction_ci,
                    changes,
                });
            }
            StudyKind::Factorial => {
                let factors: Vec<String> = study.factors.iter().map(|f| f.name.clone()).collect();
                let mut obs = Vec::new();
                for arm in &study.arms {
                    let levels: Vec<String> =
                        factors.iter().map(|f| arm.levels.get(f).cloned().unwrap_or_default()).collect();
                    for id in &arm.runs {
                        if let Some(v) = runs.get(id).and_then(value) {
                            obs.push((levels.clone(), v));
                        }
                    }
                }
                report.factorial = cairn_analysis::anova(&factors, &obs);
            }
        }
        Ok(report)
    }
}
