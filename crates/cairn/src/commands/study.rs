//! Studies that change several variables at once, by design: `cairn ablate BASE
//! CANDIDATE` (each difference added alone to the base and removed alone from the
//! candidate), `cairn design factorial --factor …` (every combination of levels, or a
//! regular fraction), and `cairn report STUDY`. Runs go through `cairn run` (K at a
//! time), tagged with the study; runs the project already has are reused. The plan is
//! kept with the project, so the report can be printed again.

use crate::output;
use anyhow::{Context, Result, bail};
use cairn_analysis::Comparison;
use cairn_api::reports::{StudiesQuery, StudyReport};
use cairn_api::runs::SearchRequest;
use cairn_client::Client;
use cairn_domain::compare::flat_params;
use cairn_domain::study::{Arm, Factor, Study, StudyKind, flag_value, with_flag};
use cairn_domain::{Run, RunStatus};
use std::collections::{BTreeMap, BTreeSet};

#[derive(clap::Args)]
pub struct AblateArgs {
    /// The run to start from
    base: String,
    /// The run that differs from it in several ways
    candidate: String,
    /// Runs per arm (seeds 1..N)
    #[arg(long, default_value_t = 3)]
    seeds: u32,
    /// How many runs at a time
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
pub struct DesignArgs {
    #[command(subcommand)]
    kind: DesignKind,
}

#[derive(clap::Subcommand)]
enum DesignKind {
    /// A full or fractional factorial design: every combination of factor levels
    Factorial(FactorialArgs),
}

#[derive(clap::Args)]
pub struct FactorialArgs {
    /// A factor and its levels, as the command's flag: `--factor aug=none,mixup`; repeatable
    #[arg(long = "factor", required = true, value_parser = parse_factor)]
    factors: Vec<Factor>,
    /// Runs per design point (seeds 1..N)
    #[arg(long, default_value_t = 2)]
    replicates: u32,
    /// A regular fraction of a two-level design: 1/2, 1/4…
    #[arg(long)]
    fraction: Option<String>,
    /// How many runs at a time
    #[arg(long, default_value_t = 1)]
    parallel: usize,
    /// A name for the study [default: derived from the factors]
    #[arg(long)]
    name: Option<String>,
    /// A dataset the command reads, fingerprinted by content (as `cairn run --data`); repeatable
    #[arg(long = "data")]
    data: Vec<std::path::PathBuf>,
    #[command(flatten)]
    common: Common,
    /// The training command, after `--`; each design point adds its `--factor level` flags
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct ReportArgs {
    /// The study's name (`cairn report` with none lists the project's studies)
    study: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct Common {
    #[command(flatten)]
    judge: super::Judge,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

fn parse_factor(s: &str) -> Result<Factor, String> {
    let (name, levels) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=LEVEL,LEVEL…"))?;
    let levels: Vec<String> = levels.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if name.is_empty() || levels.is_empty() {
        return Err(format!("'{s}' is not NAME=LEVEL,LEVEL…"));
    }
    Ok(Factor { name: name.trim_start_matches("--").to_owned(), levels })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

struct Ctx {
    client: Client,
    project: cairn_domain::Project,
}

async fn open(c: &Common, ctx: &crate::Ctx, runs: &[String]) -> Result<Ctx> {
    let client = ctx.client().await?;
    let name = super::project_of_runs(&client, c.judge.project.clone(), runs).await?;
    let project = client.project(&name).await?;
    Ok(Ctx { client, project })
}

async fn save(ctx: &Ctx, study: &Study) -> Result<()> {
    ctx.client.save_study(ctx.project.name.as_str(), study).await?;
    Ok(())
}

/// Every live run of the study's project.
async fn all_runs(ctx: &Ctx) -> Result<Vec<Run>> {
    let q = SearchRequest { project: Some(ctx.project.name.to_string()), ..Default::default() };
    Ok(ctx.client.search_all(&q, usize::MAX).await?)
}

/// Runs every arm × seed the project does not have yet, `parallel` at a time, and
/// fills in each arm's runs. `extra` are the `cairn run` options shared by all (data,
/// config file).
async fn execute(ctx: &Ctx, study: &mut Study, extra: &[String], parallel: usize) -> Result<()> {
    let existing = all_runs(ctx).await?;
    let find = |command: &[String], seed: i64| -> Option<&Run> {
        existing
            .iter()
            .find(|r| r.status == RunStatus::Finished && r.command == command && r.seeds.first() == Some(&seed))
    };
    let exe = std::env::current_exe().context("cannot find the cairn executable to run the study with")?;
    let mut todo: Vec<(usize, i64)> = Vec::new();
    for (i, arm) in study.arms.iter_mut().enumerate() {
        for &seed in &study.seeds {
            match find(&arm.command, seed) {
                Some(r) => arm.runs.push(r.id.to_string()),
                None => todo.push((i, seed)),
            }
        }
    }
    let reused: usize = study.arms.iter().map(|a| a.runs.len()).sum();
    eprintln!(
        "cairn: study {}: {} arm(s) × {} seed(s); {} run(s) the project already has, {} to run, {} at a time",
        study.name,
        study.arms.len(),
        study.seeds.len(),
        reused,
        todo.len(),
        parallel.max(1)
    );
    save(ctx, study).await?;
    let total = todo.len();
    let mut done = 0;
    let mut failed = 0;
    for chunk in todo.chunks(parallel.max(1)) {
        let mut children = Vec::new();
        for &(i, seed) in chunk {
            let arm = &study.arms[i];
            let batch = uuid::Uuid::now_v7().simple().to_string();
            let mut cmd = std::process::Command::new(&exe);
            cmd.args(["--server", ctx.client.base()]);
            cmd.args(["run", "--project", ctx.project.name.as_str(), "--study", &study.name, "--replicate"]);
            cmd.arg("--hypothesis").arg(format!("Study {}: {} (seed {seed})", study.name, arm.role));
            cmd.arg("--seed").arg(seed.to_string());
            cmd.arg("--tag").arg(format!("cairn.study_arm={}", arm.role));
            cmd.arg("--tag").arg(format!("cairn.study_batch={batch}"));
            cmd.args(extra).arg("--").args(&arm.command);
            // The log is recorded with each run; the terminal gets progress lines.
            cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
            let child = cmd.spawn().context("cannot start `cairn run` for the study")?;
            children.push((i, seed, batch, child));
        }
        for (i, seed, batch, mut child) in children {
            let status = child.wait().context("cannot wait for a study run")?;
            done += 1;
            let q = SearchRequest {
                project: Some(ctx.project.name.to_string()),
                filter: Some(format!("tags.`cairn.study_batch` = {}", serde_json::Value::String(batch.clone()))),
                ..Default::default()
            };
            let run = ctx.client.search(&q).await?.runs.into_iter().next();
            let arm = &mut study.arms[i];
            match run {
                Some(r) => {
                    let state = if r.status == RunStatus::Finished { "finished" } else { "did not finish" };
                    if r.status != RunStatus::Finished {
                        failed += 1;
                    }
                    eprintln!("cairn: [{done}/{total}] {} seed {seed}: {} {state}", arm.role, r.short_id);
                    arm.runs.push(r.id.to_string());
                }
                None => {
                    failed += 1;
                    eprintln!(
                        "cairn: [{done}/{total}] {} seed {seed}: not recorded (cairn run exited with {:?})",
                        arm.role,
                        status.code()
                    );
                }
            }
            save(ctx, study).await?;
        }
    }
    if failed > 0 {
        eprintln!("cairn: {failed} run(s) of the study did not finish; the report leaves them out and counts them");
    }
    Ok(())
}

/// `cairn run` options that reproduce a run's inputs besides its command line.
fn inputs_of(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    for d in run.data.iter().flat_map(|d| &d.datasets) {
        out.push("--data".into());
        out.push(d.path.clone());
    }
    let files: BTreeSet<&str> = run.config_sources.values().filter_map(|s| s.strip_prefix("file:")).collect();
    for f in files {
        out.push("--config".into());
        out.push(f.to_owned());
    }
    out
}

pub async fn ablate(args: AblateArgs, ctx: &crate::Ctx) -> Result<()> {
    let ctx = open(&args.common, ctx, &[args.base.clone(), args.candidate.clone()]).await?;
    let (base, cand) = tokio::try_join!(ctx.client.run(&args.base), ctx.client.run(&args.candidate))?;
    if base.command.is_empty() || cand.command.is_empty() {
        bail!("both runs need a recorded command (runs made by `cairn run`) to be re-run with one change at a time");
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let (pb, pc) = (flat_params(&base.config), flat_params(&cand.config));
    let keys: BTreeSet<&String> = pb.keys().chain(pc.keys()).collect();
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    for k in keys {
        let (vb, vc) = (pb.get(k), pc.get(k));
        if vb == vc {
            continue;
        }
        let (fb, fc) = (flag_value(&base.command, k), flag_value(&cand.command, k));
        if fb.is_none() && fc.is_none() {
            notes.push(format!(
                "{k} differs ({} → {}) but is not a command-line flag of either run, so it cannot be changed alone",
                output::optional(vb),
                output::optional(vc)
            ));
            continue;
        }
        changes.push((k.clone(), fb, fc, format!("{k}: {} → {}", output::optional(vb), output::optional(vc))));
    }
    if let Some(ch) = &cand.changes
        && ch.against == base.id.to_string()
        && let Some(code) = &ch.code
    {
        notes.push(format!(
            "the code differs ({}): code changes that are not flags cannot be ablated one at a time",
            if code.files.is_empty() { "uncommitted changes".to_owned() } else { code.files.join(", ") }
        ));
    }
    if changes.is_empty() {
        bail!(
            "runs {} and {} differ in no command-line flag, so there is nothing to ablate{}",
            base.short_id,
            cand.short_id,
            if notes.is_empty() { String::new() } else { format!(": {}", notes.join("; ")) }
        );
    }
    let name = format!("ablate-{}-{}", base.short_id, cand.short_id);
    let mut arms = vec![
        Arm { role: "base".into(), change: None, levels: BTreeMap::new(), command: base.command.clone(), runs: vec![] },
        Arm {
            role: "candidate".into(),
            change: None,
            levels: BTreeMap::new(),
            command: cand.command.clone(),
            runs: vec![],
        },
    ];
    for (k, fb, fc, _) in &changes {
        arms.push(Arm {
            role: format!("base + {k}"),
            change: Some(k.clone()),
            levels: BTreeMap::new(),
            command: with_flag(&base.command, k, fc.as_ref().map(|x| x.as_deref())),
            runs: vec![],
        });
        arms.push(Arm {
            role: format!("candidate − {k}"),
            change: Some(k.clone()),
            levels: BTreeMap::new(),
            command: with_flag(&cand.command, k, fb.as_ref().map(|x| x.as_deref())),
            runs: vec![],
        });
    }
    let mut study = Study {
        name,
        kind: StudyKind::Ablation,
        created_at: now(),
        base: Some(base.short_id.to_string()),
        candidate: Some(cand.short_id.to_string()),
        changes: changes.iter().map(|c| c.3.clone()).collect(),
        factors: vec![],
        fraction: None,
        seeds: (1..=i64::from(args.seeds)).collect(),
        arms,
        notes,
    };
    for n in &study.notes {
        eprintln!("cairn: note: {n}");
    }
    execute(&ctx, &mut study, &inputs_of(&base), args.parallel).await?;
    print_report(&ctx, study, &args.common).await
}

/// The design points of a full factorial, or of a regular fraction of a two-level one
/// (each generated factor is the product of a distinct set of base factors, largest
/// sets first).
fn design_points(factors: &[Factor], fraction: Option<&str>) -> Result<(Vec<Vec<usize>>, Vec<String>)> {
    let mut notes = Vec::new();
    let Some(fr) = fraction else {
        let mut points = vec![vec![]];
        for f in factors {
            points = points
                .into_iter()
                .flat_map(|p: Vec<usize>| (0..f.levels.len()).map(move |l| [p.clone(), vec![l]].concat()))
                .collect();
        }
        return Ok((points, notes));
    };
    let denom: usize = fr
        .strip_prefix("1/")
        .and_then(|d| d.parse().ok())
        .filter(|d: &usize| d.is_power_of_two() && *d >= 2)
        .with_context(|| format!("--fraction {fr}: use 1/2, 1/4, 1/8…"))?;
    if factors.iter().any(|f| f.levels.len() != 2) {
        bail!("a fractional design needs every factor at exactly two levels; drop --fraction for a full design");
    }
    let p = denom.trailing_zeros() as usize;
    let k = factors.len();
    if k < p + 2 {
        bail!(
            "--fraction {fr} of {k} factors leaves too few runs to estimate the main effects; use a smaller fraction"
        );
    }
    let base = k - p;
    // Generators: subsets of the base factors of size ≥ 2, largest first.
    let mut subsets: Vec<Vec<usize>> = (1u32..(1 << base))
        .map(|m| (0..base).filter(|i| m & (1 << i) != 0).collect::<Vec<_>>())
        .filter(|s: &Vec<usize>| s.len() >= 2)
        .collect();
    subsets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    let generators: Vec<Vec<usize>> = subsets.into_iter().take(p).collect();
    for (g, gen_set) in generators.iter().enumerate() {
        notes.push(format!(
            "{} is set by the product of {} (a 1/{denom} fraction): its effect is aliased with that interaction",
            factors[base + g].name,
            gen_set.iter().map(|&i| factors[i].name.as_str()).collect::<Vec<_>>().join(" × ")
        ));
    }
    let mut points = Vec::new();
    for m in 0..(1usize << base) {
        let sign = |i: usize| if m & (1 << i) != 0 { 1i32 } else { -1 };
        let mut p: Vec<usize> = (0..base).map(|i| usize::from(sign(i) > 0)).collect();
        for gen_set in &generators {
            let s: i32 = gen_set.iter().map(|&i| sign(i)).product();
            p.push(usize::from(s > 0));
        }
        points.push(p);
    }
    Ok((points, notes))
}

pub async fn design(args: DesignArgs, ctx: &crate::Ctx) -> Result<()> {
    let DesignKind::Factorial(a) = args.kind;
    let ctx = open(&a.common, ctx, &[]).await?;
    let names: BTreeSet<&str> = a.factors.iter().map(|f| f.name.as_str()).collect();
    if names.len() != a.factors.len() {
        bail!("a factor is given twice; name each factor once");
    }
    for f in &a.factors {
        if f.levels.len() < 2 {
            bail!(
                "factor {} has one level ({}): a factor needs at least two levels to have an effect",
                f.name,
                f.levels[0]
            );
        }
    }
    if a.replicates == 0 {
        bail!("--replicates must be at least 1");
    }
    let (points, notes) = design_points(&a.factors, a.fraction.as_deref())?;
    let arms: Vec<Arm> = points
        .iter()
        .map(|p| {
            let mut command = a.command.clone();
            let mut levels = BTreeMap::new();
            for (f, &l) in a.factors.iter().zip(p) {
                command = with_flag(&command, &f.name, Some(Some(&f.levels[l])));
                levels.insert(f.name.clone(), f.levels[l].clone());
            }
            let role = a.factors.iter().zip(p).map(|(f, &l)| format!("{}={}", f.name, f.levels[l])).collect::<Vec<_>>();
            Arm { role: role.join(" "), change: None, levels, command, runs: vec![] }
        })
        .collect();
    let name = a.name.clone().unwrap_or_else(|| {
        format!(
            "factorial-{}{}",
            a.factors.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join("-"),
            a.fraction.as_deref().map(|f| format!("-{}", f.replace('/', "of"))).unwrap_or_default()
        )
    });
    let mut study = Study {
        name,
        kind: StudyKind::Factorial,
        created_at: now(),
        base: None,
        candidate: None,
        changes: vec![],
        factors: a.factors.clone(),
        fraction: a.fraction.clone(),
        seeds: (1..=i64::from(a.replicates)).collect(),
        arms,
        notes,
    };
    for n in &study.notes {
        eprintln!("cairn: note: {n}");
    }
    let extra: Vec<String> = a.data.iter().flat_map(|d| ["--data".to_owned(), d.display().to_string()]).collect();
    execute(&ctx, &mut study, &extra, a.parallel).await?;
    print_report(&ctx, study, &a.common).await
}

pub async fn report(args: ReportArgs, ctx: &crate::Ctx) -> Result<()> {
    let ctx = open(&args.common, ctx, &[]).await?;
    let studies = Study::all_of(&ctx.project);
    let Some(name) = args.study else {
        if args.common.json {
            crate::outln!("{}", serde_json::to_string_pretty(&studies)?);
        } else if studies.is_empty() {
            crate::outln!(
                "No studies in project {} yet: start one with `cairn ablate BASE CANDIDATE` or `cairn design factorial`.",
                ctx.project.name
            );
        } else {
            let rows: Vec<Vec<String>> = studies
                .iter()
                .map(|s| {
                    vec![
                        s.name.clone(),
                        format!("{:?}", s.kind).to_lowercase(),
                        s.arms.len().to_string(),
                        s.arms.iter().map(|a| a.runs.len()).sum::<usize>().to_string(),
                        output::time(s.created_at),
                    ]
                })
                .collect();
            crate::out!("{}", output::table(&["study", "kind", "arms", "runs", "created"], &rows));
        }
        return Ok(());
    };
    let Some(study) = studies.into_iter().find(|s| s.name == name) else {
        bail!("no study '{name}' in project {}; `cairn report` lists them", ctx.project.name);
    };
    print_report(&ctx, study, &args.common).await
}

async fn print_report(ctx: &Ctx, study: Study, c: &Common) -> Result<()> {
    let q = StudiesQuery { metric: c.judge.metric.clone(), lower_is_better: c.judge.lower() };
    let r = ctx.client.study(ctx.project.name.as_str(), &study.name, &q).await?;
    if c.json {
        crate::outln!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print_text(&r);
    Ok(())
}

fn effect(c: &Option<Comparison>) -> String {
    match c {
        None => "no runs with a value".into(),
        Some(c) => {
            let ci = c.ci.map(|(lo, hi)| format!(" [{:+.4}, {:+.4}]", lo, hi)).unwrap_or_default();
            let p =
                c.p.map(|p| if p < 1e-4 { format!(" p={p:.1e}") } else { format!(" p={p:.4}") }).unwrap_or_default();
            format!("{:+.4}{ci}{p} (n={}/{})", c.diff, c.n_candidate, c.n_reference)
        }
    }
}

fn print_text(r: &StudyReport) {
    let s = &r.study;
    let dir = if r.direction == cairn_domain::Direction::Decrease { "lower" } else { "higher" };
    crate::outln!(
        "Study {} ({:?}) on {} ({dir} is better), {} seed(s) per arm{}",
        s.name,
        s.kind,
        r.metric,
        s.seeds.len(),
        if r.missing > 0 { format!("; {} run(s) without a value left out", r.missing) } else { String::new() }
    );
    for n in &s.notes {
        crate::outln!("Note: {n}");
    }
    if let Some(a) = &r.ablation {
        crate::outln!(
            "Base {} → candidate {}: everything at once {}",
            s.base.as_deref().unwrap_or("?"),
            s.candidate.as_deref().unwrap_or("?"),
            effect(&a.joint)
        );
        let rows: Vec<Vec<String>> =
            a.changes.iter().map(|c| vec![c.change.clone(), effect(&c.added), effect(&c.removed)]).collect();
        crate::out!(
            "{}",
            output::table(&["change", "added alone to the base", "removed alone from the candidate"], &rows)
        );
        if let (Some(sum), Some(i)) = (a.sum_of_single, a.interaction) {
            let ci = a.interaction_ci.map(|(lo, hi)| format!(" [{lo:+.4}, {hi:+.4}]")).unwrap_or_default();
            crate::outln!(
                "Sum of the single effects {sum:+.4}; joint effect − sum = {i:+.4}{ci}: {}",
                if a.interaction_detected {
                    "the changes interact (they do not simply add up)"
                } else {
                    "no interaction detected (the effects add up within noise)"
                }
            );
        }
    }
    if let Some(f) = &r.factorial {
        crate::outln!("ANOVA over {} run(s):", f.n);
        let rows: Vec<Vec<String>> = f
            .table
            .iter()
            .map(|t| {
                vec![
                    t.term.clone(),
                    format!("{}", t.df),
                    output::number(t.ss),
                    output::number(t.ms),
                    t.f.map(output::number).unwrap_or_else(|| "-".into()),
                    t.p.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect();
        crate::out!("{}", output::table(&["term", "df", "sum sq", "mean sq", "F", "p"], &rows));
        if !f.effects.is_empty() {
            crate::outln!("Effects (two-level factors; interactions as ±1 contrasts):");
            let rows: Vec<Vec<String>> = f
                .effects
                .iter()
                .map(|e| {
                    vec![
                        e.term.clone(),
                        format!("{:+.4}", e.estimate),
                        e.ci.map(|(lo, hi)| format!("[{lo:+.4}, {hi:+.4}]")).unwrap_or_else(|| "-".into()),
                        e.p.map(|p| format!("{p:.4}")).unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect();
            crate::out!("{}", output::table(&["effect", "estimate", "95% CI", "p"], &rows));
        }
        for n in &f.notes {
            crate::outln!("Note: {n}");
        }
    }
}
