//! `cairn tried PARAM`: every value a parameter has taken in a project — how many runs
//! and replicates, who ran them and when, what failed — and, when there is a metric to
//! judge by, how each value did (best, and mean with a 95% confidence interval when
//! there are at least two runs). The server answers; this renders.

use crate::output;
use anyhow::Result;
use cairn_api::reports::TriedQuery;
use cairn_domain::Direction;

#[derive(clap::Args)]
pub struct Args {
    /// The parameter, as a config key (`aug`, `optimizer.lr`)
    param: String,
    #[command(flatten)]
    judge: super::Judge,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let project = super::project_name(args.judge.project.clone());
    let q = TriedQuery {
        param: args.param.clone(),
        metric: args.judge.metric.clone(),
        lower_is_better: args.judge.lower(),
    };
    let t = client.tried(&project, &q).await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&t)?);
        return Ok(());
    }
    let judged = t.metric.is_some();
    let mut rows = Vec::new();
    for v in &t.values {
        let mut row = vec![
            v.value.clone(),
            v.runs.to_string(),
            if v.replicated_runs > 0 { v.replicated_runs.to_string() } else { "-".into() },
            v.owners.join(", "),
            format!("{} .. {}", day(v.first), day(v.last)),
        ];
        if judged {
            row.push(
                v.best
                    .as_ref()
                    .map(|b| format!("{} ({})", output::number(b.value), b.run))
                    .unwrap_or_else(|| "-".into()),
            );
            row.push(match (v.mean, v.ci95) {
                (Some(m), Some((lo, hi))) => {
                    format!("{} [{}, {}] n={}", output::number(m), output::number(lo), output::number(hi), v.n)
                }
                (Some(m), None) => format!("{} (n=1, no interval)", output::number(m)),
                _ => "-".to_owned(),
            });
        }
        row.push(if v.failed.is_empty() {
            "-".into()
        } else if v.failures > v.failed.len() {
            let newest: Vec<String> = v.failed.iter().take(3).map(|f| f.run.clone()).collect();
            format!("{} (newest: {} …)", v.failures, newest.join(" "))
        } else {
            v.failed.iter().map(|f| f.run.clone()).collect::<Vec<_>>().join(" ")
        });
        rows.push(row);
    }
    let mut headers = vec![t.param.as_str(), "runs", "replicated", "who", "when"];
    match (&t.metric, t.direction) {
        (Some(metric), Some(direction)) => {
            let dir = if direction == Direction::Decrease { "lower is better" } else { "higher is better" };
            crate::outln!(
                "{} in project {}, judged by {metric} ({dir}; a run's result is its last value)",
                t.param,
                t.project
            );
            headers.extend(["best", "mean [95% CI]"]);
        }
        _ => crate::outln!("{} in project {}", t.param, t.project),
    }
    headers.push("failed");
    crate::out!("{}", output::table(&headers, &rows));
    if let Some(n) = &t.note {
        crate::outln!("({n})");
    }
    Ok(())
}

fn day(t: i64) -> String {
    output::time(t).chars().take(10).collect()
}
