//! `cairn import mlflow ./mlruns`, `cairn import tensorboard LOGDIR`, `cairn import wandb
//! DIR` and `cairn import csv FILE`: a team's history onto the
//! server, idempotently, with progress and a summary. The source is read here (it is
//! on this machine); the server writes the records.

use crate::{output, settings};
use anyhow::{Result, bail};
use cairn_import::csv::{self, Target};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    source: Kind,
}

#[derive(clap::Subcommand)]
enum Kind {
    /// An MLflow file store (the `mlruns/` folder) or a running tracking server
    /// (`http://host:5000`): experiments, runs, params, tags, metric histories, artifacts
    /// and parent links
    Mlflow {
        /// The `mlruns/` folder, or the server's URL
        source: PathBuf,
    },
    /// TensorBoard logs: each folder holding event files is a run; scalars become metrics
    /// (step and wall time), hparams become config
    Tensorboard {
        /// The log folder (TensorBoard's --logdir)
        logdir: PathBuf,
        /// The project the runs go to [default: the folder's name]
        #[arg(long, short)]
        project: Option<String>,
    },
    /// W&B run folders, offline (`wandb/offline-run-*`, read from the run's transaction
    /// log) or exported (config.yaml, wandb-summary.json, wandb-history.jsonl)
    Wandb {
        /// A run folder, or a folder holding them (such as `./wandb`)
        dir: PathBuf,
        /// The project the runs go to [default: each run's W&B project]
        #[arg(long, short)]
        project: Option<String>,
    },
    /// A spreadsheet with one row per past experiment
    Csv {
        /// The CSV file (first row: column names)
        file: PathBuf,
        /// The project the runs go to
        #[arg(long, short)]
        project: String,
        /// Column mapping, e.g. "learning rate=params.lr,Val Acc=metrics.val_acc,Who=owner,Date=created";
        /// columns not named are guessed from their header and values
        #[arg(long)]
        map: Option<String>,
        /// Show the mapping and the runs it would make, and import nothing
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let home = settings::home()?;
    let mut scratch_dir = None;
    // Source files that could not be read (their runs were left out whole).
    let mut left_out = 0usize;
    let source = match args.source {
        Kind::Mlflow { source } => {
            let text = source.to_string_lossy().into_owned();
            let read = if text.starts_with("http://") || text.starts_with("https://") {
                // Artifacts are downloaded here first, then stored; the folder goes away after.
                let scratch = home.join("tmp").join(format!("import-{}", std::process::id()));
                scratch_dir = Some(scratch.clone());
                eprintln!("cairn: reading {text} …");
                cairn_import::remote::read(&text, &scratch).await?
            } else {
                cairn_import::mlruns::read(&source)?
            };
            for s in &read.skipped {
                eprintln!("cairn: left out: {s}");
            }
            eprintln!(
                "cairn: {} experiment(s), {} run(s), {} registered model(s) in {}",
                read.source.projects.len(),
                read.source.runs.len(),
                read.source.models.len(),
                source.display()
            );
            read.source
        }
        Kind::Tensorboard { logdir, project } => {
            let project = match project {
                Some(p) => p,
                None => std::fs::canonicalize(&logdir)
                    .ok()
                    .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .ok_or_else(|| anyhow::anyhow!("name the project with --project"))?,
            };
            let read = cairn_import::tensorboard::read(&logdir, &project)?;
            for b in &read.bad_files {
                eprintln!("cairn: bad event file: {b}");
            }
            for n in &read.notes {
                eprintln!("cairn: note: {n}");
            }
            eprintln!("cairn: {} run(s) in {} for project {project}", read.source.runs.len(), logdir.display());
            left_out = read.bad_files.len();
            read.source
        }
        Kind::Wandb { dir, project } => {
            let read = cairn_import::wandb::read(&dir, project.as_deref())?;
            for b in &read.bad_files {
                eprintln!("cairn: bad run folder: {b}");
            }
            for n in &read.notes {
                eprintln!("cairn: note: {n}");
            }
            eprintln!("cairn: {} run(s) in {}", read.source.runs.len(), dir.display());
            left_out = read.bad_files.len();
            read.source
        }
        Kind::Csv { file, project, map, dry_run } => {
            let map = match &map {
                Some(m) => csv::parse_map(m)?,
                None => Default::default(),
            };
            let plan = match csv::read(&file, &project, &map)? {
                Ok(p) => p,
                Err(bad) => {
                    for b in &bad {
                        eprintln!("{}:{}: {}", file.display(), b.line, b.problem);
                    }
                    bail!(
                        "{} row(s) of {} do not parse (listed above); nothing was imported. Fix them, or map the \
                         columns with --map (e.g. \"Col=skip\")",
                        bad.len(),
                        file.display()
                    );
                }
            };
            let rows: Vec<Vec<String>> = plan
                .columns
                .iter()
                .zip(&plan.kinds)
                .map(|((c, t, guessed), kind)| {
                    let how = if *guessed { "guessed" } else { "given" };
                    vec![c.clone(), t.to_string(), kind.to_string(), how.into()]
                })
                .collect();
            eprint!("{}", output::table(&["column", "goes to", "type", ""], &rows));
            if !plan.columns.iter().any(|(_, t, _)| matches!(t, Target::Metric(_))) {
                eprintln!("cairn: note: no column became a metric; map one with --map \"COLUMN=metrics.KEY\"");
            }
            if dry_run {
                crate::outln!(
                    "{} run(s) would be imported into project {project}; first rows:",
                    plan.source.runs.len()
                );
                for r in plan.source.runs.iter().take(5) {
                    let params: Vec<String> =
                        r.params.iter().map(|(k, v)| format!("{k}={}", output::value(v))).collect();
                    let metrics: Vec<String> =
                        r.metrics.iter().map(|(k, p)| format!("{k}={}", output::number(p[0].value))).collect();
                    crate::outln!(
                        "  {}  {}  {}  {}",
                        r.name.as_deref().unwrap_or("(unnamed)"),
                        r.created_at.map(output::time).unwrap_or_else(|| "-".into()),
                        params.join(" "),
                        metrics.join(" ")
                    );
                }
                crate::outln!("Nothing was imported (--dry-run).");
                return Ok(());
            }
            plan.source
        }
    };
    let client = ctx.client().await?;
    let tty = std::io::stderr().is_terminal();
    let every = (source.runs.len() / 20).max(1);
    let summary = cairn_import::apply::apply(&client, &source, |done, total, name| {
        if tty {
            eprint!("\r\x1b[2Kimporting {done}/{total} {}", output::clip(name, 40));
            if done == total {
                eprintln!();
            }
        } else if done % every == 0 || done == total {
            eprintln!("importing {done}/{total}");
        }
    })
    .await;
    if let Some(d) = scratch_dir {
        let _ = std::fs::remove_dir_all(d);
    }
    let summary = summary?;
    crate::outln!("Imported into {}: {summary}.", client.base());
    if left_out > 0 {
        bail!("{left_out} file(s) could not be read (listed above); their runs were left out, the rest imported");
    }
    Ok(())
}
