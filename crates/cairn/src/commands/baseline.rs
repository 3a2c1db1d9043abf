//! `cairn baseline`: the project's golden baseline. `set RUN|GROUP` names it (earlier
//! choices are kept), `reeval` re-runs its recorded command and config with its seeds
//! under today's conditions — through `cairn run`, as children of the baseline — and
//! reports drift: whether today's result differs from the recorded one, and which
//! conditions changed (packages, data, hardware, code). A baseline that no longer runs
//! is reported as such, with its error, not as drift.

use crate::output;
use anyhow::{Context, Result, bail};
use cairn_api::baseline::{BaselineState, Reeval, ReevalRequest, SetBaseline};
use cairn_client::Client;
use cairn_domain::Run;
use cairn_domain::baseline::{BATCH_TAG, Baseline, REEVAL_TAG};
use std::collections::BTreeSet;

/// Most seeds one re-evaluation repeats unless `--runs` says otherwise.
const DEFAULT_RUNS: usize = 5;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// The project [default: env CAIRN_PROJECT, else "default"]
    #[arg(long, short, global = true)]
    project: Option<String>,
    /// Print JSON instead of text
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Name the project's baseline: a run (with its replicate group) or a group id
    Set {
        /// Run id, short id, or replicate group id
        reference: String,
        /// Why this is the baseline
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Re-run the baseline under today's conditions and report drift
    Reeval {
        /// How many of the baseline's seeds to re-run
        #[arg(long, default_value_t = DEFAULT_RUNS)]
        runs: usize,
        /// The metric to judge by [default: the project's primary metric]
        #[arg(long, short)]
        metric: Option<String>,
        /// With --metric: lower values are better
        #[arg(long)]
        lower_is_better: bool,
    },
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let project = super::project_name(args.project.clone());
    match args.action {
        None => show(&client.baseline(&project).await?, args.json),
        Some(Action::Set { reference, note }) => {
            let state = client.set_baseline(&project, &SetBaseline { reference, note }).await?;
            let b = state.baseline.as_ref().context("the server set no baseline")?;
            if args.json {
                crate::outln!("{}", serde_json::to_string_pretty(b)?);
            } else {
                crate::outln!(
                    "Baseline of {} is now {} ({} run(s)). Comparisons default to it: `cairn compare RUN`.",
                    state.project,
                    b.label,
                    state.runs.len()
                );
            }
            Ok(())
        }
        Some(Action::Reeval { runs, metric, lower_is_better }) => {
            let lower = metric.as_ref().map(|_| lower_is_better);
            reeval(&client, &project, runs, metric, lower, args.json).await
        }
    }
}

fn show(state: &BaselineState, json: bool) -> Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(state)?);
        return Ok(());
    }
    let Some(b) = &state.baseline else {
        crate::outln!(
            "Project {} has no baseline. Name one: `cairn baseline set RUN --project {}`",
            state.project,
            state.project
        );
        return Ok(());
    };
    crate::outln!("Baseline of {}: {} (set {}){}", state.project, b.label, output::time(b.set_at), note(&b.note));
    if let Some(l) = &state.last_reeval {
        crate::outln!("Last re-evaluation {}: {}", output::time(l.at), l.summary);
    }
    for h in state.history.iter().rev().skip(1) {
        crate::outln!("  before: {} (set {}){}", h.label, output::time(h.set_at), note(&h.note));
    }
    Ok(())
}

fn note(n: &str) -> String {
    if n.is_empty() { String::new() } else { format!(": {n}") }
}

/// The `cairn run` that repeats `template` with `seed`, tagged with the batch.
fn rerun(
    client: &Client,
    project: &str,
    template: &Run,
    seed: Option<i64>,
    batch: &str,
) -> Result<std::process::Command> {
    let exe = std::env::current_exe().context("cannot find the cairn executable to run the baseline with")?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--server", client.base(), "run", "--project", project]);
    cmd.arg("--hypothesis").arg(format!(
        "Re-evaluation of baseline {} under today's conditions: the same command, config and seed should give the \
         same result",
        template.short_id
    ));
    cmd.arg("--parent").arg(template.id.to_string());
    cmd.args(["--replicate", "--study", "baseline-reeval"]);
    cmd.arg("--tag").arg(format!("{REEVAL_TAG}={}", template.id));
    cmd.arg("--tag").arg(format!("{BATCH_TAG}={batch}"));
    if let Some(s) = seed {
        cmd.arg("--seed").arg(s.to_string());
    }
    for d in template.data.iter().flat_map(|d| &d.datasets) {
        cmd.arg("--data").arg(&d.path);
    }
    let files: BTreeSet<&str> = template.config_sources.values().filter_map(|s| s.strip_prefix("file:")).collect();
    for f in files {
        cmd.arg("--config").arg(f);
    }
    cmd.arg("--").args(&template.command);
    Ok(cmd)
}

async fn reeval(
    client: &Client,
    project: &str,
    max_runs: usize,
    metric: Option<String>,
    lower_is_better: Option<bool>,
    json: bool,
) -> Result<()> {
    let state = client.baseline(project).await?;
    let Some(baseline) = &state.baseline else {
        bail!("project {project} has no baseline; name one with `cairn baseline set RUN --project {project}`");
    };
    let recorded = futures::future::try_join_all(state.runs.iter().map(|id| client.run(id))).await?;
    let Some(template) = recorded.first() else {
        bail!("baseline {} has no runs left to re-run", baseline.label);
    };
    if template.command.is_empty() {
        bail!(
            "baseline run {} has no recorded command (it was not made by `cairn run`), so it cannot be re-run",
            template.short_id
        );
    }
    let mut seeds: Vec<Option<i64>> = Vec::new();
    for r in &recorded {
        let s = r.seeds.first().copied();
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    seeds.truncate(max_runs.max(1));
    let batch = uuid::Uuid::now_v7().simple().to_string();
    let mut exits = Vec::new();
    for seed in &seeds {
        let status = rerun(client, project, template, *seed, &batch)?
            .status()
            .context("cannot start `cairn run` for the re-evaluation")?;
        exits.push(status.code());
    }
    let req = ReevalRequest { batch, metric, lower_is_better };
    let record = client.record_reeval(project, &req).await.with_context(|| {
        format!(
            "the re-evaluation could not be judged (cairn run exited with {:?}); see the output above",
            exits.iter().flatten().collect::<Vec<_>>()
        )
    })?;
    report(&record, baseline, json)?;
    if let Some(first) = record.failed.first() {
        bail!("{} re-evaluation run(s) did not finish; `cairn show {first}` has the log", record.failed.len());
    }
    Ok(())
}

fn report(record: &Reeval, baseline: &Baseline, json: bool) -> Result<()> {
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(record)?);
        return Ok(());
    }
    crate::outln!();
    crate::outln!(
        "Re-evaluated {} ({} recorded run(s)) with {} run(s): {}",
        baseline.label,
        record.recorded_runs,
        record.runs.len(),
        record.runs.join(" ")
    );
    crate::outln!("{}", record.summary);
    if record.conditions_changed.is_empty() {
        crate::outln!("Conditions: nothing recorded differs from the baseline's (packages, data, hardware, code).");
    } else {
        crate::outln!("Conditions that changed since the baseline:");
        for c in &record.conditions_changed {
            crate::outln!("  - {c}");
        }
    }
    Ok(())
}
