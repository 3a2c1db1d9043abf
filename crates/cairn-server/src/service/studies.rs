//! Study reports: what an ablation says about each change (added alone to the base,
//! removed alone from the candidate, and whether the effects add up), and what a
//! factorial design says about each factor and pair of factors (an ANOVA table).

use super::comparison::metric_of;
use super::{Result, Service};
use crate::error::ApiError;
use cairn_analysis::{Comparison, compare};
pub use cairn_api::reports::{AblationReport, ChangeEffect, StudyReport};
use cairn_domain::study::{Study, StudyKind};
use cairn_domain::{Direction, Run};
use std::collections::HashMap;

/// An approximate standard error from a 95% interval.
fn se(c: &Comparison) -> Option<f64> {
    c.ci.map(|(lo, hi)| (hi - lo) / (2.0 * 1.959964))
}

impl Service {
    /// The project's studies, newest first.
    pub async fn studies(&self, project: &str) -> Result<Vec<Study>> {
        Ok(Study::all_of(&self.get_project(project).await?))
    }

    /// Keeps a study's plan, and the runs each arm has so far, with its project.
    pub async fn save_study(&self, project: &str, name: &str, study: Study) -> Result<Study> {
        if study.name != name {
            return Err(ApiError::invalid(format!(
                "the study in the body is named '{}' but the path names '{name}'",
                study.name
            )));
        }
        if name.is_empty() || name.len() > 200 || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ApiError::invalid(format!(
                "study name '{name}': use 1–200 characters without spaces or control characters"
            )));
        }
        let json = serde_json::to_string(&study).map_err(|e| ApiError::internal(format!("cannot encode: {e}")))?;
        let patch = cairn_domain::ProjectPatch { tags: [(study.tag(), json)].into(), ..Default::default() };
        self.update_project(project, patch).await?;
        Ok(study)
    }

    /// One study by name, with its report.
    pub async fn study_by_name(
        &self,
        project: &str,
        name: &str,
        metric: Option<&str>,
        lower_is_better: Option<bool>,
    ) -> Result<StudyReport> {
        let study = self.studies(project).await?.into_iter().find(|s| s.name == name).ok_or_else(|| {
            ApiError::new(
                crate::error::ErrorCode::NotFound,
                format!("project {project} has no study '{name}'; `cairn report --project {project}` lists them"),
            )
        })?;
        self.study_report(project, study, metric, lower_is_better).await
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
        let value = |r: &Run| r.value(&metric);
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
