//! The project's golden baseline: what is set (with every earlier choice), setting it,
//! and judging a re-evaluation — today's runs of the baseline's command against the
//! recorded ones — for drift, naming the conditions that changed.

use super::comparison::{baseline_side, metric_of, noise_floor, resolve_side};
use super::{Result, Service, now_ms};
use crate::error::ApiError;
use cairn_analysis::{Verdict, compare};
use cairn_api::baseline::{BaselineState, Reeval, ReevalRequest, SetBaseline};
use cairn_domain::auth::Role;
use cairn_domain::baseline::{
    BASELINE_TAG, BATCH_TAG, Baseline, HISTORY_TAG, LAST_REEVAL_TAG, MAX_REEVALS, REEVALS_TAG,
};
use cairn_domain::{Direction, Project, ProjectPatch, Run, RunStatus};
use std::collections::BTreeSet;

fn last_reeval(project: &Project) -> Option<Reeval> {
    project.tags.get(LAST_REEVAL_TAG).and_then(|t| serde_json::from_str(t).ok())
}

impl Service {
    pub async fn baseline_state(&self, project: &str) -> Result<BaselineState> {
        let p = self.get_project(project).await?;
        let runs = match Baseline::of(&p) {
            Some(b) => {
                let members = self.side_members(&p.name, &b.reference).await?;
                baseline_side(self, &p, &members).await.map(|s| s.runs).unwrap_or_default()
            }
            None => vec![],
        };
        Ok(BaselineState {
            project: p.name.to_string(),
            baseline: Baseline::of(&p),
            history: Baseline::history(&p),
            last_reeval: last_reeval(&p),
            runs: runs.iter().map(|r| r.id.to_string()).collect(),
        })
    }

    /// Names the baseline: a run with its replicate group, or a group. Earlier choices
    /// are kept in the history.
    pub async fn set_baseline(&self, project: &str, set: SetBaseline) -> Result<BaselineState> {
        cairn_domain::validate_text("note", &set.note, cairn_domain::MAX_DESCRIPTION, true)?;
        let p = self.project_as(project, Role::Admin).await?;
        let runs = self.side_members(&p.name, &set.reference).await?;
        let side = resolve_side(self, &runs, &set.reference, false).await?;
        if let Some(other) = side.runs.iter().find(|r| r.project != p.name) {
            return Err(ApiError::invalid(format!(
                "{} belongs to project {}, not {}; set the baseline there",
                set.reference, other.project, p.name
            )));
        }
        // A group is named by its id, a lone run by its full id.
        let reference = match (&side.runs[0].group_id, side.runs.len()) {
            (Some(g), n) if n > 1 => g.clone(),
            _ => side.runs[0].id.to_string(),
        };
        let baseline = Baseline { reference, label: side.label.clone(), set_at: now_ms(), note: set.note };
        let mut history = Baseline::history(&p);
        history.push(baseline.clone());
        let json = |e: serde_json::Error| ApiError::internal(format!("cannot encode the baseline: {e}"));
        let patch = ProjectPatch {
            tags: [
                (BASELINE_TAG.to_owned(), serde_json::to_string(&baseline).map_err(json)?),
                (HISTORY_TAG.to_owned(), serde_json::to_string(&history).map_err(json)?),
            ]
            .into(),
            ..Default::default()
        };
        self.update_project(project, patch).await?;
        self.baseline_state(project).await
    }

    /// Judges the runs of one re-evaluation (tagged with its batch) against the recorded
    /// baseline and keeps the verdict with the project.
    pub async fn record_reeval(&self, project: &str, req: ReevalRequest) -> Result<Reeval> {
        let p = self.project_as(project, Role::Editor).await?;
        let (metric, direction) = metric_of(&p, req.metric.as_deref(), req.lower_is_better)?;
        let reference = Baseline::of(&p).map(|b| b.reference).unwrap_or_default();
        let members = self.side_members(&p.name, &reference).await?;
        let baseline = baseline_side(self, &p, &members).await?;
        let batch = format!("tags.`{BATCH_TAG}` = {}", serde_json::Value::from(req.batch.clone()));
        let tagged = self.runs_of(project, Some(&batch)).await?;
        let new: Vec<&Run> = tagged.iter().collect();
        if new.is_empty() {
            return Err(ApiError::invalid(format!(
                "no run of project {} is tagged {BATCH_TAG}={}: the re-evaluation recorded nothing",
                p.name, req.batch
            )));
        }
        let failed: Vec<&Run> = new.iter().copied().filter(|r| r.status != RunStatus::Finished).collect();
        let (recorded, _) = baseline.values(&metric);
        let today: Vec<f64> = new.iter().filter_map(|r| r.value(&metric)).collect();
        let noise = noise_floor(&self.recent_replicates(&p.name).await?, &metric);
        let comparison = compare(&today, &recorded, direction == Direction::Decrease, noise, 0.05);
        let conditions = conditions_changed(&new);
        let summary = if !failed.is_empty() && today.is_empty() {
            let why: Vec<String> = failed
                .iter()
                .map(|r| {
                    format!(
                        "{} {} (exit {}{})",
                        r.short_id,
                        r.status,
                        r.exit_code.map_or("-".into(), |c| c.to_string()),
                        r.tags.get("cairn.failure").map(|f| format!(": {f}")).unwrap_or_default()
                    )
                })
                .collect();
            format!("the baseline no longer runs: {}; this is a failure to run, not drift", why.join("; "))
        } else {
            match &comparison {
                Some(c) => match c.verdict {
                    Verdict::Better | Verdict::Worse => format!(
                        "DRIFT: today's baseline is {} than recorded ({metric} Δ {:+.4}, 95% CI [{:+.4}, {:+.4}], p {:.4})",
                        if c.verdict == Verdict::Better { "better" } else { "worse" },
                        c.diff,
                        c.ci.map_or(f64::NAN, |x| x.0),
                        c.ci.map_or(f64::NAN, |x| x.1),
                        c.p.unwrap_or(f64::NAN)
                    ),
                    Verdict::NotDistinguishable => format!(
                        "no drift: today's baseline matches the recorded one within noise ({metric} Δ {:+.4}, p {:.4})",
                        c.diff,
                        c.p.unwrap_or(f64::NAN)
                    ),
                    Verdict::CannotTell => format!(
                        "cannot tell yet: one run a side and no replicate groups ({metric} Δ {:+.4}); re-run with \
                         more seeds",
                        c.diff
                    ),
                },
                None => format!("the re-evaluation runs logged no '{metric}'; nothing to compare"),
            }
        };
        let record = Reeval {
            at: now_ms(),
            batch: req.batch,
            summary,
            metric,
            runs: new.iter().map(|r| r.short_id.to_string()).collect(),
            failed: failed.iter().map(|r| r.short_id.to_string()).collect(),
            comparison,
            conditions_changed: conditions.into_iter().collect(),
            baseline: baseline.label.clone(),
            recorded_runs: baseline.runs.len(),
        };
        let mut all: Vec<serde_json::Value> =
            p.tags.get(REEVALS_TAG).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
        all.push(serde_json::to_value(&record).map_err(|e| ApiError::internal(e.to_string()))?);
        let keep = all.len().saturating_sub(MAX_REEVALS);
        all.drain(..keep);
        let patch = ProjectPatch {
            tags: [
                (LAST_REEVAL_TAG.to_owned(), serde_json::to_string(&record).unwrap_or_default()),
                (REEVALS_TAG.to_owned(), serde_json::Value::Array(all).to_string()),
            ]
            .into(),
            ..Default::default()
        };
        self.update_project(project, patch).await?;
        Ok(record)
    }
}

/// Conditions that changed, from each new run's comparison with the baseline run.
fn conditions_changed(new: &[&Run]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for r in new {
        let Some(ch) = &r.changes else { continue };
        for e in &ch.environment {
            out.insert(format!(
                "{}: {} → {}",
                e.what,
                e.before.as_deref().unwrap_or("-"),
                e.after.as_deref().unwrap_or("-")
            ));
        }
        for d in &ch.data {
            out.insert(format!("data {}: content changed", d.path));
        }
        if let Some(c) = &ch.code {
            out.insert(if c.files.is_empty() {
                "code differs from the baseline's".to_owned()
            } else {
                format!("code differs: {}", c.files.join(", "))
            });
        }
        for p in &ch.params {
            out.insert(format!("param {} differs", p.key));
        }
    }
    out
}
