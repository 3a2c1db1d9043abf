//! The weekly review: the period's most informative runs, ready for the team meeting —
//! significant improvements over the baseline, notable negative results, the runs that
//! surprised the surrogate, and runs that changed many things at once.

use super::comparison::{REEVAL_TAG, baseline_side, noise_floor};
use super::{Result, Service, now_ms};
use crate::error::ApiError;
use cairn_analysis::{Verdict, compare, holm};
pub use cairn_api::reports::{FlaggedRun, Review, ReviewItem};
use cairn_domain::{Direction, Run, RunStatus, VerdictOutcome};
use std::collections::BTreeMap;

const DAY: i64 = 86_400_000;
const MANY_CHANGES: &str = "cairn.many_changes";

/// The most runs the review's surrogate is fitted on (its surprises are among them).
const REVIEW_SAMPLE: usize = 2_500;

impl Service {
    pub async fn review(&self, project: &str, days: u32) -> Result<Review> {
        let p = self.get_project(project).await?;
        let until = now_ms();
        if !(1..=366).contains(&days) {
            return Err(ApiError::invalid(format!("days must be between 1 and 366, got {days}")));
        }
        let since = until - i64::from(days) * DAY;
        // The period's runs only; the rest of the project is read through bounded
        // queries below (replicate groups for the noise floor, the baseline's group).
        let metric = p.primary_metric.as_ref().map(|m| m.key.as_str());
        let period = self.timed(self.store.runs_since(&p.name, since, metric, &[MANY_CHANGES, REEVAL_TAG])).await?;
        let recent: Vec<&Run> = period.iter().collect();
        let mut review = Review {
            project: p.name.to_string(),
            since,
            until,
            metric: p.primary_metric.as_ref().map(|m| m.key.clone()),
            direction: p.primary_metric.as_ref().map(|m| m.direction),
            runs: recent.len(),
            finished: recent.iter().filter(|r| r.status == RunStatus::Finished).count(),
            failed: recent
                .iter()
                .filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Killed | RunStatus::Crashed))
                .count(),
            baseline: None,
            baseline_reference: None,
            improvements: vec![],
            regressions: vec![],
            refuted: recent
                .iter()
                .filter(|r| r.verdict.as_ref().is_some_and(|v| v.outcome == VerdictOutcome::Refuted))
                .map(|r| format!("{} {}: {}", r.short_id, r.name, r.hypothesis.clone().unwrap_or_default()))
                .collect(),
            surprises: vec![],
            many_changes: recent
                .iter()
                .filter_map(|r| {
                    r.tags.get(MANY_CHANGES).map(|c| FlaggedRun {
                        run: r.short_id.to_string(),
                        name: r.name.clone(),
                        owner: r.owner.clone(),
                        changes: c.clone(),
                    })
                })
                .collect(),
            refused_duplicates: 0,
            notes: vec![],
        };
        let (_, refusals) = self.store.refusals(&p.name, 1000).await?;
        review.refused_duplicates = refusals.iter().filter(|r| r.at >= since).count() as u64;
        let Some(pm) = &p.primary_metric else {
            review.notes.push(format!(
                "project {} has no primary metric, so runs are not ranked: `cairn projects set {} --primary-metric KEY`",
                p.name, p.name
            ));
            return Ok(review);
        };
        let lower = pm.direction == Direction::Decrease;
        let grouped = self.recent_replicates(&p.name).await?;
        let noise = noise_floor(&grouped, &pm.key);

        // The baseline's recorded values.
        // Only the baseline's value: the dashboard's series are not needed here.
        let base = match cairn_domain::baseline::Baseline::of(&p) {
            Some(b) => Some(self.baseline_value(&p.name, b, &pm.key).await?),
            None => None,
        };
        let Some(base) = base.filter(|b| b.n > 0) else {
            review.notes.push(format!(
                "no baseline with a value of {}, so nothing is compared: `cairn baseline set RUN --project {}`",
                pm.key, p.name
            ));
            return Ok(review);
        };
        review.baseline = Some(base.label.clone());
        review.baseline_reference = Some(base.reference.clone());
        let members = self.side_members(&p.name, &base.reference).await?;
        let (base_runs, _) = baseline_side(self, &p, &members).await?.values(&pm.key);
        // Candidates: the period's runs, a replicate group counting once.
        let mut candidates: BTreeMap<String, Vec<&Run>> = BTreeMap::new();
        for r in recent.iter().filter(|r| {
            r.status == RunStatus::Finished
                && !r.tags.contains_key(REEVAL_TAG)
                && r.group_id.as_deref() != Some(base.reference.as_str())
                && r.id.to_string() != base.reference
        }) {
            let key = r.group_id.clone().unwrap_or_else(|| r.id.to_string());
            candidates.entry(key).or_default().push(r);
        }
        let mut items = Vec::new();
        for runs in candidates.values() {
            let values: Vec<f64> = runs.iter().filter_map(|r| r.value(&pm.key)).collect();
            if let Some(c) = compare(&values, &base_runs, lower, noise, 0.05) {
                let first = runs[0];
                items.push(ReviewItem {
                    runs: runs.iter().map(|r| r.short_id.to_string()).collect(),
                    name: first.name.clone(),
                    owner: first.owner.clone(),
                    hypothesis: first.hypothesis.clone(),
                    comparison: c,
                    p_adjusted: None,
                });
            }
        }
        let tested: Vec<usize> = (0..items.len()).filter(|&i| items[i].comparison.p.is_some()).collect();
        let adjusted = holm(&tested.iter().map(|&i| items[i].comparison.p.unwrap_or(1.0)).collect::<Vec<_>>());
        for (&i, p) in tested.iter().zip(adjusted) {
            items[i].p_adjusted = Some(p);
        }
        for item in items {
            let significant = item.p_adjusted.is_some_and(|p| p < 0.05);
            match item.comparison.verdict {
                Verdict::Better if significant => review.improvements.push(item),
                Verdict::Worse if significant => review.regressions.push(item),
                _ => {}
            }
        }
        let gain = |i: &ReviewItem| if lower { -i.comparison.diff } else { i.comparison.diff };
        review.improvements.sort_by(|a, b| gain(b).total_cmp(&gain(a)));
        review.regressions.sort_by(|a, b| gain(a).total_cmp(&gain(b)));
        review.surprises = self.period_surprises(&recent, &pm.key).await?;
        if noise.is_none() {
            review.notes.push(
                "the project has no replicate groups, so single runs cannot be judged against noise; replicate \
                 promising setups (`cairn run --replicate --seed 2 …`)"
                    .into(),
            );
        }
        Ok(review)
    }
}

impl Service {
    /// Surprises among the period's runs, from a surrogate fitted on them: in a busy
    /// period on a sample spread evenly over the metric's order (the runs and their
    /// values are at hand; only the sample's configs are read).
    async fn period_surprises(&self, recent: &[&Run], metric: &str) -> Result<Vec<cairn_analysis::Surprise>> {
        let mut scored: Vec<(f64, &Run)> = recent.iter().filter_map(|r| r.value(metric).map(|v| (v, *r))).collect();
        scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let step = scored.len().div_ceil(REVIEW_SAMPLE).max(1);
        let picked: Vec<(f64, &Run)> = scored.into_iter().step_by(step).collect();
        let ids: Vec<cairn_domain::RunId> = picked.iter().map(|(_, r)| r.id).collect();
        let configs: std::collections::HashMap<_, _> =
            self.timed(self.store.run_configs(&ids)).await?.into_iter().collect();
        let rows: Vec<_> = picked
            .iter()
            .filter_map(|(v, r)| configs.get(&r.id).map(|c| super::analysis::run_row(r.short_id.to_string(), *v, c)))
            .collect();
        // The forest is CPU work: off the async threads. Only its surprises are shown, so
        // the importances and per-value tests of a full `insights` are not worked out.
        tokio::task::spawn_blocking(move || cairn_analysis::surprises(&rows, 1))
            .await
            .map_err(|e| ApiError::new(crate::error::ErrorCode::Internal, format!("the analysis failed: {e}")))
    }
}

/// The review as Markdown, for the meeting notes.
pub fn review_markdown(r: &Review) -> String {
    use std::fmt::Write;
    let day = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
    };
    let mut s = String::new();
    let _ = writeln!(s, "# Weekly review: {} ({} to {})\n", r.project, day(r.since), day(r.until));
    let _ = writeln!(
        s,
        "{} run(s): {} finished, {} failed or killed; {} duplicate(s) refused before they ran.\n",
        r.runs, r.finished, r.failed, r.refused_duplicates
    );
    if let (Some(m), Some(b)) = (&r.metric, &r.baseline) {
        let dir = if r.direction == Some(Direction::Decrease) { "lower" } else { "higher" };
        let _ =
            writeln!(s, "Judged by **{m}** ({dir} is better) against the baseline **{b}**; p-values Holm-corrected.\n");
    }
    let item = |s: &mut String, i: &ReviewItem| {
        let c = &i.comparison;
        let ci = c.ci.map(|(lo, hi)| format!(" (95% CI {lo:+.4} to {hi:+.4})")).unwrap_or_default();
        let _ = writeln!(
            s,
            "- **{}** `{}` by {}: Δ {:+.4}{ci}, p = {}, n = {}{}",
            i.name,
            i.runs.join(" "),
            i.owner,
            c.diff,
            match i.p_adjusted {
                Some(p) if p < 1e-4 => format!("{p:.1e}"),
                Some(p) => format!("{p:.4}"),
                None => "-".into(),
            },
            c.n_candidate,
            i.hypothesis.as_ref().map(|h| format!(" — _{h}_")).unwrap_or_default()
        );
    };
    let _ = writeln!(s, "## Improvements over the baseline\n");
    if r.improvements.is_empty() {
        let _ = writeln!(s, "None that is distinguishable from noise.\n");
    }
    for i in &r.improvements {
        item(&mut s, i);
    }
    let _ = writeln!(s, "\n## Notable negative results\n");
    if r.regressions.is_empty() && r.refuted.is_empty() {
        let _ = writeln!(s, "None significant.\n");
    }
    for i in &r.regressions {
        item(&mut s, i);
    }
    for h in &r.refuted {
        let _ = writeln!(s, "- refuted: {h}");
    }
    let _ = writeln!(s, "\n## Surprises\n");
    if r.surprises.is_empty() {
        let _ = writeln!(s, "No run this period was far from what its parameters predict.\n");
    }
    for x in &r.surprises {
        let _ = writeln!(s, "- `{}`: {:.4}, predicted {:.4} ({:+.1} sd)", x.run, x.value, x.predicted, x.z);
    }
    let _ = writeln!(s, "\n## Changed many things at once\n");
    if r.many_changes.is_empty() {
        let _ = writeln!(s, "None.\n");
    }
    for f in &r.many_changes {
        let _ = writeln!(s, "- `{}` {} by {}: {} — consider `cairn ablate`", f.run, f.name, f.owner, f.changes);
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
    }
    s
}
