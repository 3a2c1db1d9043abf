//! `cairn tried PARAM`: every value a parameter has taken in a project — how many runs
//! and replicates, who ran them and when, how the primary metric did (best, and mean
//! with a 95% confidence interval when there are at least two runs), and what failed.

use crate::{output, project_data, settings};
use anyhow::{Context, Result, bail};
use cairn_domain::compare::flat_params;
use cairn_domain::{Direction, Run, RunStatus};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[derive(clap::Args)]
pub struct Args {
    /// The parameter, as a config key (`aug`, `optimizer.lr`)
    param: String,
    #[command(flatten)]
    judge: super::Judge,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

/// One value of the parameter and what its runs did.
#[derive(Default)]
struct Group {
    runs: Vec<Run>,
}

pub async fn run(args: Args) -> Result<()> {
    let project = project_data::project_name(args.judge.project.clone());
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let proj = project_data::project(&*store, &project).await?;
    let (metric, direction) = project_data::metric(&proj, args.judge.metric.clone(), args.judge.lower_is_better)?;
    let all = project_data::all_runs(&*store, &proj.name).await?;
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut seen_key = false;
    for r in all {
        let flat = flat_params(&r.config);
        let value = match flat.get(&args.param) {
            Some(v) => {
                seen_key = true;
                output::value(v)
            }
            None => "(not set)".to_owned(),
        };
        groups.entry(value).or_default().runs.push(r);
    }
    if !seen_key {
        bail!(
            "no run in project '{project}' has a parameter '{}'; `cairn show RUN` lists a run's config keys",
            args.param
        );
    }

    let better = |x: f64, y: f64| match direction {
        Direction::Increase => x > y,
        Direction::Decrease => x < y,
    };
    let mut rows = Vec::new();
    let mut docs = Vec::new();
    for (value, g) in &groups {
        let finished: Vec<&Run> = g.runs.iter().filter(|r| r.status == RunStatus::Finished).collect();
        let failed: Vec<&Run> =
            g.runs.iter().filter(|r| matches!(r.status, RunStatus::Failed | RunStatus::Killed)).collect();
        let results: Vec<(f64, &Run)> = finished
            .iter()
            .filter_map(|r| r.metrics.iter().find(|m| m.key == metric).map(|m| (m.last, *r)))
            .filter(|(v, _)| v.is_finite())
            .collect();
        let best = results.iter().copied().reduce(|a, b| if better(b.0, a.0) { b } else { a });
        let values: Vec<f64> = results.iter().map(|(v, _)| *v).collect();
        let desc = cairn_analysis::describe(&values, 0.95);
        // Replicates: runs sharing a replicate group (same setup, another seed).
        let mut by_group: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &g.runs {
            if let Some(gid) = &r.group_id {
                *by_group.entry(gid.as_str()).or_default() += 1;
            }
        }
        let replicated: usize = by_group.values().filter(|&&n| n > 1).sum();
        let owners: BTreeSet<&str> = g.runs.iter().map(|r| r.owner.as_str()).collect();
        let first = g.runs.iter().map(|r| r.created_at).min().context("a group has runs")?;
        let last = g.runs.iter().map(|r| r.created_at).max().context("a group has runs")?;
        let mean = match &desc {
            Some(d) => match d.ci {
                Some((lo, hi)) => {
                    format!("{} [{}, {}] n={}", output::number(d.mean), output::number(lo), output::number(hi), d.n)
                }
                None => format!("{} (n=1, no interval)", output::number(d.mean)),
            },
            None => "-".to_owned(),
        };
        rows.push(vec![
            value.clone(),
            g.runs.len().to_string(),
            if replicated > 0 { replicated.to_string() } else { "-".into() },
            owners.iter().copied().collect::<Vec<_>>().join(", "),
            format!("{} .. {}", &output::time(first)[..10], &output::time(last)[..10]),
            best.map(|(v, r)| format!("{} ({})", output::number(v), r.short_id)).unwrap_or_else(|| "-".into()),
            mean,
            if failed.is_empty() {
                "-".into()
            } else {
                failed.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>().join(" ")
            },
        ]);
        docs.push(json!({
            "value": value,
            "runs": g.runs.len(),
            "finished": finished.len(),
            "replicate_groups": by_group.values().filter(|&&n| n > 1).count(),
            "replicated_runs": replicated,
            "owners": owners,
            "first": first,
            "last": last,
            "best": best.map(|(v, r)| json!({"value": v, "run": r.short_id})),
            "mean": desc.as_ref().map(|d| d.mean),
            "sd": desc.as_ref().map(|d| d.sd),
            "n": desc.as_ref().map_or(0, |d| d.n),
            "ci95": desc.as_ref().and_then(|d| d.ci).map(|(lo, hi)| json!([lo, hi])),
            "failed": failed.iter().map(|r| json!({"run": r.short_id, "status": r.status, "exit_code": r.exit_code,
                "reason": r.tags.get("cairn.failure")})).collect::<Vec<_>>(),
            "run_ids": g.runs.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>(),
        }));
    }
    if args.json {
        let doc = json!({
            "project": project,
            "param": args.param,
            "metric": metric,
            "direction": direction,
            "values": docs,
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let dir = match direction {
        Direction::Increase => "higher is better",
        Direction::Decrease => "lower is better",
    };
    crate::outln!("{} in project {project}, judged by {metric} ({dir}; a run's result is its last value)", args.param);
    crate::out!(
        "{}",
        output::table(&[&args.param, "runs", "replicated", "who", "when", "best", "mean [95% CI]", "failed"], &rows)
    );
    Ok(())
}
