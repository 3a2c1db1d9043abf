//! `cairn baseline`: the project's golden baseline. `set RUN|GROUP` names it (earlier
//! choices are kept), `reeval` re-runs its recorded command and config with its seeds
//! under today's conditions — through `cairn run`, as children of the baseline — and
//! reports drift: whether today's result differs from the recorded one, and which
//! conditions changed (packages, data, hardware, code). A baseline that no longer runs
//! is reported as such, with its error, not as drift.

use crate::project_data::{self, Side};
use crate::{output, settings};
use anyhow::{Context, Result, bail};
use cairn_analysis::{Verdict, compare};
use cairn_domain::{Direction, Project, ProjectPatch, Run, RunStatus};
use cairn_store::MetadataStore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeSet;

/// Project tags that hold the baseline, its history and the last re-evaluation.
pub use cairn_server::service::comparison::BASELINE_TAG;
const HISTORY_TAG: &str = "cairn.baseline.history";
const LAST_REEVAL_TAG: &str = "cairn.baseline.last_reeval";
/// Every re-evaluation (the most recent 100), for drift markers over time.
const REEVALS_TAG: &str = "cairn.baseline.reevals";
/// Tags on re-evaluation runs: the baseline run they repeat, and their batch.
pub use cairn_server::service::comparison::REEVAL_TAG;
const BATCH_TAG: &str = "cairn.reeval_batch";
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
    #[command(flatten)]
    storage: crate::StoreArgs,
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

/// What `set` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Baseline {
    /// A run id, or a replicate group id.
    pub reference: String,
    pub label: String,
    pub set_at: i64,
    #[serde(default)]
    pub note: String,
}

/// The project's current baseline, if one is set.
pub fn current(project: &Project) -> Option<Baseline> {
    project.tags.get(BASELINE_TAG).and_then(|t| serde_json::from_str(t).ok())
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub async fn run(args: Args) -> Result<()> {
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let name = project_data::project_name(args.project.clone());
    let project = project_data::project(&*store, &name).await?;
    match args.action {
        None => show(&project, args.json),
        Some(Action::Set { reference, note }) => set(&*store, &project, &reference, note, args.json).await,
        Some(Action::Reeval { runs, metric, lower_is_better }) => {
            reeval(&*store, &project, runs, metric, lower_is_better, args.json).await
        }
    }
}

fn show(project: &Project, json: bool) -> Result<()> {
    let history: Vec<Baseline> =
        project.tags.get(HISTORY_TAG).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    let last: Option<serde_json::Value> = project.tags.get(LAST_REEVAL_TAG).and_then(|t| serde_json::from_str(t).ok());
    let current = current(project);
    if json {
        let doc = json!({"project": project.name, "baseline": current, "history": history, "last_reeval": last});
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let Some(b) = current else {
        crate::outln!(
            "Project {} has no baseline. Name one: `cairn baseline set RUN --project {}`",
            project.name,
            project.name
        );
        return Ok(());
    };
    crate::outln!("Baseline of {}: {} (set {}){}", project.name, b.label, output::time(b.set_at), note(&b.note));
    if let Some(l) = last {
        crate::outln!(
            "Last re-evaluation {}: {}",
            l["at"].as_i64().map(output::time).unwrap_or_default(),
            l["summary"]
        );
    }
    for h in history.iter().rev().skip(1) {
        crate::outln!("  before: {} (set {}){}", h.label, output::time(h.set_at), note(&h.note));
    }
    Ok(())
}

fn note(n: &str) -> String {
    if n.is_empty() { String::new() } else { format!(": {n}") }
}

async fn set(store: &dyn MetadataStore, project: &Project, reference: &str, note: String, json: bool) -> Result<()> {
    let runs = project_data::all_runs(store, &project.name).await?;
    let side = project_data::side(store, &runs, reference, false).await?;
    if side.runs.iter().any(|r| r.project != project.name) {
        bail!("{reference} belongs to project {}, not {}; pass --project", side.runs[0].project, project.name);
    }
    // A group is named by its id, a lone run by its full id.
    let stored = match (&side.runs[0].group_id, side.runs.len()) {
        (Some(g), n) if n > 1 => g.clone(),
        _ => side.runs[0].id.to_string(),
    };
    let baseline = Baseline { reference: stored, label: side.label.clone(), set_at: now(), note };
    let mut history: Vec<Baseline> =
        project.tags.get(HISTORY_TAG).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    history.push(baseline.clone());
    let patch = ProjectPatch {
        tags: [
            (BASELINE_TAG.to_owned(), serde_json::to_string(&baseline)?),
            (HISTORY_TAG.to_owned(), serde_json::to_string(&history)?),
        ]
        .into(),
        ..Default::default()
    };
    store.update_project(&project.name, &patch, now()).await?;
    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&baseline)?);
    } else {
        crate::outln!(
            "Baseline of {} is now {} ({} run(s)). Comparisons default to it: `cairn compare RUN`.",
            project.name,
            baseline.label,
            side.runs.len()
        );
    }
    Ok(())
}

/// The recorded baseline runs: the named run or group, without earlier re-evaluations.
pub async fn recorded(store: &dyn MetadataStore, project: &Project, runs: &[Run]) -> Result<Side> {
    cairn_server::service::comparison::baseline_side(store, project, runs).await.map_err(|e| anyhow::anyhow!(e.message))
}

async fn reeval(
    store: &dyn MetadataStore,
    project: &Project,
    max_runs: usize,
    metric: Option<String>,
    lower_is_better: bool,
    json: bool,
) -> Result<()> {
    let (metric, direction) = project_data::metric(project, metric, lower_is_better)?;
    let runs = project_data::all_runs(store, &project.name).await?;
    let baseline = recorded(store, project, &runs).await?;
    let template = baseline.runs[0].clone();
    if template.command.is_empty() {
        bail!(
            "baseline run {} has no recorded command (it was not made by `cairn run`), so it cannot be re-run",
            template.short_id
        );
    }
    let mut seeds: Vec<Option<i64>> = Vec::new();
    for r in &baseline.runs {
        let s = r.seeds.first().copied();
        if !seeds.contains(&s) {
            seeds.push(s);
        }
    }
    seeds.truncate(max_runs.max(1));

    let batch = uuid::Uuid::now_v7().simple().to_string();
    let exe = std::env::current_exe().context("cannot find the cairn executable to run the baseline with")?;
    let mut exits = Vec::new();
    for seed in &seeds {
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(["run", "--project", project.name.as_str()]);
        cmd.arg("--hypothesis").arg(format!(
            "Re-evaluation of baseline {} under today's conditions: the same command, config and seed should \
             give the same result",
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
        let status = cmd.status().context("cannot start `cairn run` for the re-evaluation")?;
        exits.push(status.code());
    }

    let after = project_data::all_runs(store, &project.name).await?;
    let new: Vec<Run> = after.into_iter().filter(|r| r.tags.get(BATCH_TAG) == Some(&batch)).collect();
    if new.is_empty() {
        bail!(
            "the re-evaluation recorded no run (cairn run exited with {:?}); see the output above",
            exits.iter().flatten().collect::<Vec<_>>()
        );
    }
    let failed: Vec<&Run> = new.iter().filter(|r| r.status != RunStatus::Finished).collect();
    let (recorded_values, _) = baseline.values(&metric);
    let today: Vec<f64> = new.iter().filter_map(|r| project_data::value(r, &metric)).collect();
    let noise = project_data::noise_floor(&runs, &metric);
    let lower = direction == Direction::Decrease;
    let comparison = compare(&today, &recorded_values, lower, noise, 0.05);

    // Conditions that changed, from each new run's comparison with the baseline run.
    let mut conditions: BTreeSet<String> = BTreeSet::new();
    for r in &new {
        let Some(ch) = &r.changes else { continue };
        for e in &ch.environment {
            conditions.insert(format!(
                "{}: {} → {}",
                e.what,
                e.before.as_deref().unwrap_or("-"),
                e.after.as_deref().unwrap_or("-")
            ));
        }
        for d in &ch.data {
            conditions.insert(format!("data {}: content changed", d.path));
        }
        if let Some(c) = &ch.code {
            conditions.insert(if c.files.is_empty() {
                "code differs from the baseline's".to_owned()
            } else {
                format!("code differs: {}", c.files.join(", "))
            });
        }
        for p in &ch.params {
            conditions.insert(format!("param {} differs", p.key));
        }
    }

    let summary = if !failed.is_empty() && today.is_empty() {
        let why: Vec<String> = failed
            .iter()
            .map(|r| {
                format!(
                    "{} {} (exit {}{})",
                    r.short_id,
                    serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
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
                    "cannot tell yet: one run a side and no replicate groups ({metric} Δ {:+.4}); re-run with more \
                     seeds",
                    c.diff
                ),
            },
            None => format!("the re-evaluation runs logged no '{metric}'; nothing to compare"),
        }
    };
    let record = json!({
        "at": now(), "batch": batch, "summary": summary, "metric": metric,
        "runs": new.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>(),
        "failed": failed.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>(),
        "comparison": comparison, "conditions_changed": conditions,
    });
    let mut all: Vec<serde_json::Value> =
        project.tags.get(REEVALS_TAG).and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
    all.push(record.clone());
    let keep = all.len().saturating_sub(100);
    all.drain(..keep);
    let patch = ProjectPatch {
        tags: [
            (LAST_REEVAL_TAG.to_owned(), record.to_string()),
            (REEVALS_TAG.to_owned(), serde_json::Value::Array(all).to_string()),
        ]
        .into(),
        ..Default::default()
    };
    store.update_project(&project.name, &patch, now()).await?;

    if json {
        crate::outln!("{}", serde_json::to_string_pretty(&record)?);
    } else {
        crate::outln!();
        crate::outln!(
            "Re-evaluated {} ({} recorded run(s)) with {} run(s): {}",
            baseline.label,
            baseline.runs.len(),
            new.len(),
            new.iter().map(|r| r.short_id.to_string()).collect::<Vec<_>>().join(" ")
        );
        crate::outln!("{summary}");
        if conditions.is_empty() {
            crate::outln!("Conditions: nothing recorded differs from the baseline's (packages, data, hardware, code).");
        } else {
            crate::outln!("Conditions that changed since the baseline:");
            for c in &conditions {
                crate::outln!("  - {c}");
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} re-evaluation run(s) did not finish; `cairn show {}` has the log", failed.len(), failed[0].short_id);
    }
    Ok(())
}
