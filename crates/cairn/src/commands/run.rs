//! `cairn run [options] -- COMMAND ARGS…`: records a run around any command. The
//! command's output reaches the terminal unchanged and a timestamped copy is kept as
//! the run's `logs/output.log`; its exit decides the run's status.

use crate::settings;
use anyhow::{Context, Result, bail};
use cairn_api::ErrorCode;
use cairn_api::runs::{ColumnarSeries, FinishRequest, MetricsBatch};
use cairn_client::Client;
use cairn_domain::{DataInfo, Dataset, DuplicatePolicy, NewRun, Run, RunPatch, RunStatus, config_from_flags};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use tokio::io::AsyncReadExt;

#[derive(clap::Args)]
pub struct Args {
    /// Project of the run [default: env CAIRN_PROJECT, else "default"]
    #[arg(long, short)]
    project: Option<String>,
    /// Name of the run [default: its short id]
    #[arg(long)]
    name: Option<String>,
    /// What you expect and why; required unless the project relaxes it (asked for on a terminal)
    #[arg(long)]
    hypothesis: Option<String>,
    /// Longer description
    #[arg(long, default_value = "")]
    description: String,
    /// A parent run (id or short id); repeatable
    #[arg(long = "parent")]
    parents: Vec<String>,
    /// A tag KEY=VALUE; repeatable
    #[arg(long = "tag", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Config file (JSON, TOML or YAML), merged under the command's own --flags
    #[arg(long)]
    config: Option<std::path::PathBuf>,
    /// Seed, exported as CAIRN_SEED and PYTHONHASHSEED
    #[arg(long)]
    seed: Option<i64>,
    /// A dataset (file or folder) the command reads, fingerprinted by content; repeatable
    #[arg(long = "data")]
    data: Vec<std::path::PathBuf>,
    /// Run even though an identical run finished before, as a replicate of it (e.g. another seed)
    #[arg(long)]
    replicate: bool,
    /// Declare the study design this run belongs to (e.g. an ablation or a factorial
    /// design): changing several variables at once is then intended and not flagged
    #[arg(long)]
    study: Option<String>,
    /// Run even though an identical run finished before, without grouping it as a replicate
    #[arg(long, conflicts_with = "replicate")]
    force: bool,
    /// Run the command for this queued job's run (what `cairn agent` starts): the run
    /// is recorded already, so only this machine's environment is added
    #[arg(long, hide = true)]
    job: Option<String>,
    /// The command to run, after `--`
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Exit code when the run could not be recorded at all (distinct from the command's).
const EXIT_NOT_RECORDED: u8 = 2;
/// Exit code when an identical run already finished (and neither --replicate nor --force).
const EXIT_DUPLICATE: u8 = 3;
/// Exit code when the command could not be started (as shells use).
const EXIT_NOT_FOUND: u8 = 127;

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

fn config_from_file(path: &Path) -> Result<Map<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the config file {}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let value: Value = match ext.as_str() {
        "json" => serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?,
        "toml" => toml::from_str(&text).with_context(|| format!("{} is not valid TOML", path.display()))?,
        "yaml" | "yml" => {
            serde_norway::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))?
        }
        other => bail!("cannot tell the format of {} ('.{other}'): use .json, .toml, .yaml or .yml", path.display()),
    };
    match value {
        Value::Object(m) => Ok(m),
        _ => bail!("{} must hold a mapping of settings at the top level", path.display()),
    }
}

/// Who runs this: `CAIRN_USER`, else the login name.
pub fn owner() -> String {
    std::env::var("CAIRN_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name))
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into())
}

fn ask_hypothesis() -> Option<String> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("hypothesis (what do you expect, and why?): ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).ok()?;
    Some(line.trim().to_owned()).filter(|l| !l.is_empty())
}

/// What `cairn run` and `cairn submit` capture before the run is recorded.
pub struct Prepared {
    pub new: NewRun,
    datasets: Vec<(String, cairn_capture::data::Fingerprint)>,
    diff: Option<Vec<u8>>,
    cwd: std::path::PathBuf,
    home: std::path::PathBuf,
}

/// Reads the config, fingerprints the data, captures code and environment, and builds
/// the run's record. `Err(code)` when it stopped before anything was recorded.
pub async fn prepare(args: &Args) -> Result<std::result::Result<Prepared, ExitCode>> {
    let home = settings::home()?;
    let mut sources = std::collections::BTreeMap::new();
    let mut config = match &args.config {
        Some(p) => {
            let file = config_from_file(p)?;
            for k in file.keys() {
                sources.insert(k.clone(), format!("file:{}", p.display()));
            }
            file
        }
        None => Map::new(),
    };
    // The command's own flags win over the file: they are what actually ran.
    for (k, v) in config_from_flags(&args.command[1..]) {
        sources.insert(k.clone(), "flags".to_owned());
        config.insert(k, v);
    }
    // The repository is read on another thread while the data, the environment and the
    // server are seen to (on a large repository this is the slowest part of starting).
    let cwd = std::env::current_dir().context("cannot read the current folder")?;
    let code_task = {
        let cwd = cwd.clone();
        tokio::task::spawn_blocking(move || cairn_capture::code::capture(&cwd, DIFF_ARTIFACT))
    };
    // Fingerprint the data first: a wrong path stops here, before anything is recorded.
    let cache_path = home.join("cache").join("fingerprints.json");
    let mut cache = cairn_capture::data::Cache::load(&cache_path);
    let mut datasets = Vec::new();
    for path in &args.data {
        match cairn_capture::data::fingerprint(path, &mut cache) {
            Ok(fp) => datasets.push((path.display().to_string(), fp)),
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(Err(ExitCode::from(EXIT_NOT_RECORDED)));
            }
        }
    }
    if let Err(e) = cache.save(&cache_path) {
        eprintln!("cairn: the fingerprint cache could not be saved ({e}); the next run hashes again");
    }
    let hypothesis = args.hypothesis.clone().or_else(ask_hypothesis);
    let project = args
        .project
        .clone()
        .or_else(|| std::env::var("CAIRN_PROJECT").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".into());
    let environment = cairn_capture::environment(&args.command);
    let code = code_task.await.context("reading the repository failed")?;
    let mut tags: std::collections::BTreeMap<String, String> = args.tags.iter().cloned().collect();
    if let Some(study) = &args.study {
        tags.insert(cairn_server::STUDY_TAG.to_owned(), study.clone());
    }
    let data = (!datasets.is_empty()).then(|| DataInfo {
        datasets: datasets
            .iter()
            .enumerate()
            .map(|(i, (path, fp))| Dataset {
                path: path.clone(),
                hash: fp.hash.clone(),
                files: fp.manifest.len() as u64,
                bytes: fp.bytes,
                manifest_artifact: Some(format!("data/manifest-{i}.json")),
            })
            .collect(),
    });
    let new = NewRun {
        project: project.clone(),
        name: args.name.clone(),
        description: args.description.clone(),
        hypothesis: hypothesis.clone(),
        // The server decides who owns the run when it knows the caller (a token).
        owner: Some(owner()),
        tags,
        config,
        config_sources: sources,
        command: args.command.clone(),
        parents: args.parents.clone(),
        seeds: args.seed.into_iter().collect(),
        environment: Some(environment),
        code: Some(serde_json::from_value(code.info.clone()).context("the captured code record does not fit")?),
        data,
        // The server fingerprints the run (code, data, config without seeds, command,
        // packages) and refuses an identical finished run unless told otherwise.
        on_duplicate: Some(if args.replicate {
            DuplicatePolicy::Replicate
        } else if args.force {
            DuplicatePolicy::Force
        } else {
            DuplicatePolicy::Refuse
        }),
        ..Default::default()
    };
    Ok(Ok(Prepared { new, datasets, diff: code.diff.clone(), cwd, home }))
}

/// Says why a run was not recorded, and the exit code for it.
pub fn refused(e: &cairn_client::Error) -> ExitCode {
    match e.code() {
        Some(ErrorCode::DuplicateRun) => {
            eprintln!(
                "error: {e}\nNothing was run. Use --replicate to run it again as a replicate (e.g. with another \
                 --seed), or --force to run it anyway."
            );
            return ExitCode::from(EXIT_DUPLICATE);
        }
        Some(ErrorCode::HypothesisRequired) => eprintln!(
            "error: the run was not recorded, so the command was not started: {e}\n\
             hint: pass --hypothesis \"…\", or run on a terminal to be asked for one"
        ),
        _ => eprintln!("error: the run was not recorded, so the command was not started: {e}"),
    }
    ExitCode::from(EXIT_NOT_RECORDED)
}

/// Stores what was captured beside the record: the data manifests and the uncommitted
/// diff, and completes the comparison with what only the repository knows.
pub async fn store_captured(client: &Client, p: &Prepared, run: &Run) {
    let id = run.id.to_string();
    if let Some(changes) = run.changes.clone() {
        refine_changes(client, &p.cwd, &id, run, changes).await;
    }
    for (i, (path, fp)) in p.datasets.iter().enumerate() {
        let bytes = fp.manifest_json().to_string().into_bytes();
        if let Err(e) = store_bytes(client, &p.home, &id, &format!("data/manifest-{i}.json"), &bytes).await {
            eprintln!("cairn: the manifest of {path} could not be stored ({e:#}); its hash is recorded");
        }
    }
    if let Some(diff) = &p.diff
        && let Err(e) = store_bytes(client, &p.home, &id, DIFF_ARTIFACT, diff).await
    {
        eprintln!("cairn: the uncommitted diff could not be stored ({e:#})");
    }
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<ExitCode> {
    if let Some(job) = args.job.clone() {
        return run_job(args, &job, ctx).await;
    }
    let prepared = match prepare(&args).await? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let client = ctx.client().await?;
    // Records of earlier runs that could not reach a server go first.
    crate::spool::replay_quietly(&client, &prepared.home).await;
    let run = match client.create_run(&prepared.new).await {
        Ok(r) => r,
        Err(e) => return Ok(refused(&e)),
    };
    let id = run.id.to_string();
    let short = run.short_id.to_string();
    let home = prepared.home.clone();
    eprintln!("cairn: recording run {short} in project {} ({})", run.project, client.base());
    store_captured(&client, &prepared, &run).await;
    let outcome = execute(&args, &client, &id, &home).await;
    let (code, record) = finish(&client, &home, &id, &short, outcome).await?;
    // Judged on the final record: the command (through the SDK) may have added to the config.
    if let Some(done) = record {
        warn_many_changes(&done);
    }
    Ok(code)
}

/// Runs the command of a queued job whose run is recorded already (started by
/// `cairn agent` in the job's working copy): adds this machine's environment, runs,
/// streams the output to the server as it comes, and ends the run.
async fn run_job(mut args: Args, job: &str, ctx: &crate::Ctx) -> Result<ExitCode> {
    // If the agent that started this dies, this stops too (and stops the command):
    // the job is requeued elsewhere, and must not run twice.
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM);
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        bail!("the agent that started job {job} is gone; not starting it");
    }
    let attempt: Option<u32> = std::env::var("CAIRN_JOB_ATTEMPT").ok().and_then(|a| a.parse().ok());
    let home = settings::home()?;
    let client = ctx.client().await?;
    let run = client.run(job).await.with_context(|| format!("job {job} could not be read from the server"))?;
    if args.seed.is_none() {
        args.seed = run.seeds.first().copied();
    }
    let id = run.id.to_string();
    let short = run.short_id.to_string();
    let patch = RunPatch { environment: Some(cairn_capture::environment(&args.command)), ..Default::default() };
    if let Err(e) = client.update_run(&id, &patch).await {
        eprintln!("cairn: this machine's environment could not be recorded on run {short} ({e})");
    }
    eprintln!("cairn: running job {short} in project {} ({})", run.project, client.base());
    let outcome = execute(&args, &client, &id, &home).await;
    // An attempt the server has since given up on (its agent was found lost, and the
    // job requeued) leaves the run to the attempt that replaced it.
    if let (Some(mine), Ok(now)) = (attempt, client.job(&id).await)
        && (now.attempts != mine || !now.state.is_placed())
    {
        eprintln!("cairn: job {short} was requeued meanwhile; this attempt's end is not recorded on the run");
        return Ok(ExitCode::from(EXIT_NOT_RECORDED));
    }
    let (code, _) = finish(&client, &home, &id, &short, outcome).await?;
    Ok(code)
}

/// Completes the server's comparison with what only the repository knows: the files
/// touched between two commits.
async fn refine_changes(client: &Client, cwd: &Path, id: &str, run: &Run, mut changes: cairn_domain::RunChanges) {
    if let Some(code) = &mut changes.code
        && let (Some(from), Some(to)) = (&code.commit_before, &code.commit_after)
        && from != to
        && let Some(files) = cairn_capture::code::files_between(cwd, from, to)
    {
        let mut all: std::collections::BTreeSet<String> = code.files.drain(..).collect();
        all.extend(files);
        code.files = all.into_iter().collect();
        let mut patch = RunPatch { changes: Some(changes.clone()), ..Default::default() };
        if run.tags.contains_key(cairn_server::MANY_CHANGES_TAG) {
            patch.tags.insert(cairn_server::MANY_CHANGES_TAG.to_owned(), changes.variables().join(", "));
        }
        if let Err(e) = client.update_run(id, &patch).await {
            eprintln!("cairn: the files changed since the compared run could not be recorded ({e})");
        }
    }
}

/// Warns, naming them, when the run changed several variables at once.
fn warn_many_changes(run: &Run) {
    if !run.tags.contains_key(cairn_server::MANY_CHANGES_TAG) {
        return;
    }
    let Some(changes) = run.changes.clone() else { return };
    let basis = match changes.basis {
        cairn_domain::ChangeBasis::Parent => "its parent",
        cairn_domain::ChangeBasis::Nearest => "the most similar earlier run",
    };
    let mut lines = Vec::new();
    for p in &changes.params {
        lines.push(format!(
            "  {}: {} -> {}",
            p.key,
            crate::output::optional(p.before.as_ref()),
            crate::output::optional(p.after.as_ref())
        ));
    }
    if let Some(c) = &changes.code {
        let files = if c.files.is_empty() { String::new() } else { format!(" ({})", c.files.join(", ")) };
        lines.push(format!("  code{files}"));
    }
    for d in &changes.data {
        lines.push(format!("  data {}", d.path));
    }
    if let Some(c) = &changes.command {
        lines.push(format!(
            "  command: {} -> {}",
            crate::output::optional(c.before.as_ref()),
            crate::output::optional(c.after.as_ref())
        ));
    }
    eprintln!(
        "cairn: warning: this run changes {} things at once compared with {basis} {}:\n{}\n\
         If it does better or worse you will not know which change did it. Consider an ablation (one change \
         per run, each with --parent {}), or declare the design with --study NAME. The run is tagged {}.",
        changes.variables().len(),
        changes.against_short_id,
        lines.join("\n"),
        changes.against_short_id,
        cairn_server::MANY_CHANGES_TAG,
    );
}

/// Where the command's output is kept among the run's artifacts.
pub const LOG_ARTIFACT: &str = "logs/output.log";

/// Where the uncommitted diff is kept among the run's artifacts.
pub const DIFF_ARTIFACT: &str = "code/uncommitted.diff";

/// Stores bytes as an artifact, through a temporary file so the upload streams.
async fn store_bytes(client: &Client, home: &Path, id: &str, artifact: &str, bytes: &[u8]) -> Result<()> {
    let dir = home.join("tmp");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join(format!("{id}-{}", artifact.replace('/', "_")));
    std::fs::write(&file, bytes)?;
    let stored = client.upload(id, artifact, &file).await;
    let _ = std::fs::remove_file(&file);
    stored.map(|_| ()).map_err(Into::into)
}

/// How the command ended.
enum Outcome {
    Exited(i32),
    Signalled(i32),
    NotStarted(String),
}

async fn execute(args: &Args, client: &Client, id: &str, home: &Path) -> (Outcome, Option<std::path::PathBuf>, bool) {
    let log_dir = home.join("tmp");
    let _ = std::fs::create_dir_all(&log_dir);
    let log_path = log_dir.join(format!("run-{id}.log"));
    let mut cmd = tokio::process::Command::new(&args.command[0]);
    cmd.args(&args.command[1..])
        .env("CAIRN_RUN_ID", id)
        .env(settings::env::SERVER, client.base())
        .envs(client.token().map(|t| (settings::env::TOKEN, t)))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(seed) = args.seed {
        cmd.env("CAIRN_SEED", seed.to_string()).env("PYTHONHASHSEED", seed.to_string());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!("command not found: {}", args.command[0])
            } else {
                format!("cannot start {}: {e}", args.command[0])
            };
            return (Outcome::NotStarted(why), None, false);
        }
    };
    let log = match std::fs::File::create(&log_path) {
        Ok(f) => Some(std::sync::Arc::new(std::sync::Mutex::new(f))),
        Err(e) => {
            eprintln!("cairn: cannot keep a log at {} ({e}); the output is shown but not recorded", log_path.display());
            None
        }
    };
    let kept = log.is_some().then(|| log_path.clone());
    let out = tokio::spawn(tee(child.stdout.take().expect("piped"), Stream::Out, log.clone()));
    let err = tokio::spawn(tee(child.stderr.take().expect("piped"), Stream::Err, log.clone()));
    let pid = child.id().map(|p| nix::unistd::Pid::from_raw(p as i32));
    let sampler = child.id().map(|p| tokio::spawn(sample_resources(client.clone(), home.to_owned(), id.to_owned(), p)));
    let shipper = kept.clone().map(|path| tokio::spawn(ship_log(client.clone(), id.to_owned(), path)));
    let heartbeats = tokio::spawn(heartbeats(client.clone(), id.to_owned()));
    // A queued job's output goes to the server as it comes, for `cairn logs -f`.
    let (ended_tx, ended_rx) = tokio::sync::watch::channel(false);
    let streamer = match (&args.job, &kept) {
        (Some(_), Some(path)) => Some(tokio::spawn(stream_log(client.clone(), id.to_owned(), path.clone(), ended_rx))),
        _ => None,
    };
    let mut interrupted = false;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let status = loop {
        tokio::select! {
            s = child.wait() => break s,
            // Ctrl-C on a terminal reaches the command directly (same process group);
            // remember it so the run ends as killed.
            _ = tokio::signal::ctrl_c() => interrupted = true,
            Some(_) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                interrupted = true;
                if let Some(p) = pid { let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM); }
            }
            Some(_) = async { match hup.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => {
                interrupted = true;
                if let Some(p) = pid { let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGHUP); }
            }
        }
    };
    if let Some(s) = sampler {
        s.abort();
    }
    heartbeats.abort();
    // The final upload (in `finish`) replaces what was shipped while running.
    if let Some(s) = shipper {
        s.abort();
    }
    // The output ends when the command's pipes close; a process it left behind (a
    // daemon, a `sleep` under a killed shell) may hold them open, so wait only briefly.
    let (mut out, mut err) = (out, err);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut lingering = false;
    for h in [&mut out, &mut err] {
        if tokio::time::timeout_at(deadline, &mut *h).await.is_err() {
            h.abort();
            lingering = true;
        }
    }
    if lingering {
        eprintln!("cairn: the command ended but a process it started still holds its output; the log ends here");
    }
    if let Some(s) = streamer {
        let _ = ended_tx.send(true);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s).await;
    }
    let outcome = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            match (s.code(), s.signal()) {
                (Some(c), _) => Outcome::Exited(c),
                (None, Some(sig)) => Outcome::Signalled(sig),
                _ => Outcome::Exited(1),
            }
        }
        Err(e) => Outcome::NotStarted(format!("waiting for the command failed: {e}")),
    };
    (outcome, kept, interrupted)
}

/// Logs the command's CPU and memory use (and the GPUs' utilisation and memory) as
/// system metrics every few seconds
/// (`CAIRN_SAMPLE_INTERVAL_MS`, default 5000), until it exits.
/// Tells the server every 30 s that the run's process is alive: if this wrapper is
/// killed (or its machine dies), the heartbeats stop and the server marks the run
/// `crashed`. A missed heartbeat is harmless; the server allows for several.
async fn heartbeats(client: Client, id: String) {
    loop {
        if let Err(e) = client.heartbeat(&id).await {
            tracing::debug!(error = %e, "heartbeat not delivered");
        }
        tokio::time::sleep(std::time::Duration::from_secs(30)).await;
    }
}

async fn sample_resources(client: Client, home: std::path::PathBuf, id: String, pid: u32) {
    let every = std::env::var(settings::env::SAMPLE_INTERVAL_MS)
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms >= 50)
        .unwrap_or(5000);
    let mut sampler = cairn_capture::resources::TreeSampler::new(pid);
    let _ = sampler.sample();
    let gpus = cairn_capture::gpu::Gpus::open();
    let mut step = 0i64;
    // The first reading comes after a second, so short runs have one too.
    let mut wait = every.min(1000);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
        wait = every;
        let Some(s) = sampler.sample() else { return };
        let point =
            |key: String, value: f64| ColumnarSeries { key, steps: vec![step], values: vec![value], timestamps: None };
        let mut series = vec![
            point("system/memory_bytes".into(), s.rss_bytes as f64),
            point("system/processes".into(), s.processes as f64),
        ];
        if let Some(cpu) = s.cpu_percent {
            series.push(point("system/cpu_percent".into(), cpu));
        }
        // GPUs are read machine-wide: NVML does not attribute utilisation to processes.
        for g in gpus.as_ref().map(|g| g.sample()).unwrap_or_default() {
            let i = g.index;
            series.push(point(format!("system/gpu{i}/utilization_percent"), f64::from(g.utilization_percent)));
            series.push(point(format!("system/gpu{i}/memory_bytes"), g.memory_used_bytes as f64));
        }
        let batch = MetricsBatch { series, batch_id: Some(format!("system-{id}-{step}")), ..Default::default() };
        // A server that went away gets the samples later; nothing disturbs the command.
        if let Err(e) = client.log_metrics(&id, &batch).await
            && crate::spool::unreachable(&e)
        {
            let path = format!("/api/v1/runs/{id}/metrics");
            let _ = crate::spool::request(&home, &id, "POST", &path, &json!(batch));
        }
        step += 1;
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

/// Copies a child's output to ours unchanged, and to the log line by line with a UTC
/// timestamp and the stream's name. Never truncates.
async fn tee(
    mut from: impl tokio::io::AsyncRead + Unpin,
    which: Stream,
    log: Option<std::sync::Arc<std::sync::Mutex<std::fs::File>>>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let label = match which {
        Stream::Out => "stdout",
        Stream::Err => "stderr",
    };
    let write_lines = |pending: &mut Vec<u8>, all: bool| {
        let Some(log) = &log else {
            pending.clear();
            return;
        };
        let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            let _ = write!(f, "{stamp} {label} | ");
            let _ = f.write_all(&line);
        }
        if all && !pending.is_empty() {
            let stamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
            let _ = write!(f, "{stamp} {label} | ");
            let _ = f.write_all(pending);
            let _ = f.write_all(b"\n");
            pending.clear();
        }
    };
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        match which {
            Stream::Out => {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(chunk);
                let _ = o.flush();
            }
            Stream::Err => {
                let mut e = std::io::stderr().lock();
                let _ = e.write_all(chunk);
                let _ = e.flush();
            }
        }
        pending.extend_from_slice(chunk);
        write_lines(&mut pending, false);
    }
    write_lines(&mut pending, true);
}

/// Largest log shipped while the command runs; a longer one is stored when it ends.
const LIVE_LOG_LIMIT: u64 = 8 * 1024 * 1024;
/// How often a grown log is shipped while the command runs.
const LIVE_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// While the command runs, stores its log so far whenever it has grown, so the web UI
/// can tail it. Best effort: the whole log is stored when the command ends.
async fn ship_log(client: Client, id: String, path: std::path::PathBuf) {
    let mut shipped = 0;
    loop {
        tokio::time::sleep(LIVE_LOG_EVERY).await;
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size == shipped || size == 0 {
            continue;
        }
        if size > LIVE_LOG_LIMIT {
            return;
        }
        if client.upload(&id, "logs/output.log", &path).await.is_err() {
            return;
        }
        shipped = size;
    }
}

/// Most output of one job sent live (the whole log is stored as an artifact at the end).
const STREAM_LIMIT: u64 = 64 * 1024 * 1024;

/// Sends a job's log to the server as it grows, whole lines at a time, each piece at
/// its byte offset (a piece sent twice is stored once); a last pass once `ended`.
async fn stream_log(
    client: Client,
    id: String,
    path: std::path::PathBuf,
    mut ended: tokio::sync::watch::Receiver<bool>,
) {
    use std::io::{Read, Seek};
    // A later attempt of the job continues the output after the earlier ones'.
    let base = client.read_log(&id, i64::MAX as u64).await.map_or(0, |c| c.end);
    let mut base = base;
    if base > 0 {
        let attempt = std::env::var("CAIRN_JOB_ATTEMPT").unwrap_or_default();
        let agent = std::env::var("CAIRN_AGENT").unwrap_or_default();
        let header = format!("-- attempt {attempt} on {agent} --\n");
        if client.append_log(&id, base, &header).await.is_ok() {
            base += header.len() as u64;
        }
    }
    let mut sent = 0u64;
    loop {
        let last = *ended.borrow();
        if let Ok(mut f) = std::fs::File::open(&path)
            && f.seek(std::io::SeekFrom::Start(sent)).is_ok()
        {
            let mut buf = Vec::new();
            let _ = f.take(1024 * 1024).read_to_end(&mut buf);
            // Whole lines only, so every piece is whole UTF-8 text.
            let upto = if last { buf.len() } else { buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
            if upto > 0 && sent < STREAM_LIMIT {
                let text = String::from_utf8_lossy(&buf[..upto]).into_owned();
                match client.append_log(&id, base + sent, &text).await {
                    Ok(_) => sent += upto as u64,
                    Err(e) => tracing::debug!(error = %e, "live log piece not delivered"),
                }
                if upto == 1024 * 1024 {
                    continue;
                }
            }
        }
        if last {
            return;
        }
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), ended.changed()).await;
    }
}

/// Stores the log and the outcome; returns the exit code and the final record (when the
/// server took it).
async fn finish(
    client: &Client,
    home: &Path,
    id: &str,
    short: &str,
    (outcome, log, interrupted): (Outcome, Option<std::path::PathBuf>, bool),
) -> Result<(ExitCode, Option<Run>)> {
    // Once the server is found unreachable, the rest is kept for later in order.
    let mut offline = false;
    // A command that printed nothing leaves no log artifact.
    let log = match log {
        Some(l) if std::fs::metadata(&l).is_ok_and(|m| m.len() == 0) => {
            let _ = std::fs::remove_file(&l);
            None
        }
        other => other,
    };
    if let Some(log) = &log {
        match client.upload(id, "logs/output.log", log).await {
            Ok(_) => {
                let _ = std::fs::remove_file(log);
            }
            Err(e) if crate::spool::unreachable(&e) => {
                offline = true;
                if let Err(e) = crate::spool::artifact(home, id, "logs/output.log", log) {
                    eprintln!("cairn: the output log could not be kept ({e:#}); it is at {}", log.display());
                }
            }
            Err(e) => eprintln!("cairn: the output log could not be stored ({e}); it is kept at {}", log.display()),
        }
    }
    let (status, exit_code, code) = match &outcome {
        Outcome::Exited(c) if interrupted => (RunStatus::Killed, Some(*c), (*c).clamp(0, 255) as u8),
        Outcome::Exited(0) => (RunStatus::Finished, Some(0), 0),
        Outcome::Exited(c) => (RunStatus::Failed, Some(*c), (*c).clamp(1, 255) as u8),
        Outcome::Signalled(sig) => (RunStatus::Killed, Some(128 + sig), (128 + sig).clamp(0, 255) as u8),
        Outcome::NotStarted(why) => {
            eprintln!("error: {why}");
            let mut patch = RunPatch::default();
            patch.tags.insert("cairn.failure".into(), why.clone());
            let path = format!("/api/v1/runs/{id}");
            if offline {
                let _ = crate::spool::request(home, id, "PATCH", &path, &json!(patch));
            } else if let Err(e) = client.update_run(id, &patch).await
                && crate::spool::unreachable(&e)
            {
                offline = true;
                let _ = crate::spool::request(home, id, "PATCH", &path, &json!(patch));
            }
            (RunStatus::Failed, Some(EXIT_NOT_FOUND as i32), EXIT_NOT_FOUND)
        }
    };
    let body = FinishRequest { status: Some(status), exit_code };
    let path = format!("/api/v1/runs/{id}/finish");
    let sent = if offline { None } else { Some(client.finish_run(id, &body).await) };
    let mut record = None;
    match sent {
        Some(Ok(run)) => {
            eprintln!("cairn: run {short} {status} (exit code {})", exit_code.unwrap_or_default());
            record = Some(run);
        }
        Some(Err(e)) if !crate::spool::unreachable(&e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("the command ended but run {short} could not be marked {status}")));
        }
        _ => {
            let body = json!(body);
            crate::spool::request(home, id, "POST", &path, &body).with_context(|| {
                format!("run {short} ended ({status}) but neither the server nor the spool took it")
            })?;
            eprintln!(
                "cairn: run {short} {status} (exit code {}); the server at {} did not answer, so its records are kept \
                 in {} and sent by the next `cairn run` or by `cairn sync`",
                exit_code.unwrap_or_default(),
                client.base(),
                crate::spool::dir(home).display()
            );
        }
    }
    Ok((ExitCode::from(code), record))
}
