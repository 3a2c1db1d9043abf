//! `cairn agent`: runs jobs on this machine. It registers the machine's GPUs, CPUs and
//! memory, polls the server (its heartbeat) for what the scheduler placed here, runs
//! each job through `cairn run --job` in a clean working copy with its GPUs pinned
//! (`CUDA_VISIBLE_DEVICES`), stops jobs when told (SIGTERM, then SIGKILL after the
//! grace period), and reports how each ended. Jobs keep running while the server is
//! unreachable (a restart loses nothing); their ends are reported once it is back.
//! `cairn agents` lists the agents.

use crate::output::{self, table};
use anyhow::{Context, Result, bail};
use cairn_api::ErrorCode;
use cairn_api::jobs::{Agent, AgentPoll, AgentRegistration, Job, JobReport, StopOrder};
use cairn_client::Client;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// This agent's name, unique among agents [default: the host name]
    #[arg(long)]
    name: Option<String>,
    /// GPUs to offer: indices (0,1,2,3), `auto` (what NVML finds), `fake:N` (a pretend
    /// inventory of N, for tests and laptops) or `none`
    #[arg(long, default_value = "auto")]
    gpus: String,
    /// The GPUs' type, as jobs ask for it with --gpu-type [default: NVML's name, e.g. h100]
    #[arg(long)]
    gpu_type: Option<String>,
    /// CPU cores to offer [default: all]
    #[arg(long)]
    cpus: Option<u32>,
    /// Memory to offer, e.g. 64G [default: all]
    #[arg(long)]
    mem: Option<String>,
    /// A label KEY=VALUE; repeatable (`--labels a=1 --labels b=2` too)
    #[arg(long = "label", visible_alias = "labels", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Spot capacity: take only preemptible jobs; SIGTERM (or the notice file or URL) is
    /// the reclaim notice: every job checkpoints and goes back to the queue
    #[arg(long)]
    spot: bool,
    /// A file whose appearance is a reclaim notice
    #[arg(long)]
    notice_file: Option<PathBuf>,
    /// A URL polled for a reclaim notice: an answer of 200 is one (e.g.
    /// http://169.254.169.254/latest/meta-data/spot/instance-action on AWS)
    #[arg(long)]
    notice_url: Option<String>,
    /// Where jobs' working copies and output are kept [default: <home>/agent/<name>]
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Milliseconds between polls of the server
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

/// The GPUs to offer: indices, whether they are pretend ones, and their type.
fn gpus(spec: &str) -> Result<(Vec<u32>, bool, Option<String>)> {
    let spec = spec.trim();
    if spec == "none" || spec.is_empty() {
        return Ok((Vec::new(), false, None));
    }
    if let Some(n) = spec.strip_prefix("fake:") {
        let n: u32 = n.parse().with_context(|| format!("--gpus {spec}: write fake:N with N a number, e.g. fake:8"))?;
        return Ok(((0..n).collect(), true, None));
    }
    if spec == "auto" {
        let found = cairn_capture::gpu::Gpus::open().map(|g| g.sample()).unwrap_or_default();
        let kind = cairn_capture::gpu::describe()
            .get("devices")
            .and_then(|d| d.get(0))
            .and_then(|d| d.get("name"))
            .and_then(|n| n.as_str())
            .map(gpu_type_of);
        return Ok((found.iter().map(|g| g.index).collect(), false, kind));
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let i: u32 = part.trim().parse().with_context(|| {
            format!("--gpus {spec}: write indices (0,1,2,3), auto, fake:N or none; '{part}' is not an index")
        })?;
        if out.contains(&i) {
            bail!("--gpus {spec}: GPU {i} is listed twice");
        }
        out.push(i);
    }
    Ok((out, false, None))
}

/// `NVIDIA H100 80GB HBM3` → `h100`: the model, as people ask for it.
fn gpu_type_of(name: &str) -> String {
    name.split_whitespace()
        .find(|w| w.chars().any(|c| c.is_ascii_digit()))
        .and_then(|w| w.split('-').next())
        .unwrap_or(name)
        .to_ascii_lowercase()
}

fn total_memory_mb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        })
        .map_or(1024, |kb| kb / 1024)
}

fn hostname() -> String {
    nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "agent".into())
}

/// A job's process on this machine.
struct Process {
    job: Job,
    child: tokio::process::Child,
    pgid: i32,
    /// SIGTERM sent; SIGKILL due at this instant.
    kill_at: Option<Instant>,
    killed: bool,
    /// No longer this agent's (requeued elsewhere): killed and not reported.
    forget: bool,
}

impl Process {
    fn signal(&self, sig: Signal) {
        let _ = killpg(Pid::from_raw(self.pgid), sig);
    }
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let (gpu_list, fake, found_type) = gpus(&args.gpus)?;
    let mem_mb = match &args.mem {
        Some(m) => cairn_sched::parse_mem_mb(m).map_err(anyhow::Error::msg)?,
        None => total_memory_mb(),
    };
    let cpus = args.cpus.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let name = args.name.clone().unwrap_or_else(hostname);
    cairn_domain::check_name("agent name", &name)?;
    let work = match &args.work_dir {
        Some(w) => w.clone(),
        None => crate::settings::home()?.join("agent").join(&name),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create the agent's folder {}", work.display()))?;
    let registration = AgentRegistration {
        name: name.clone(),
        host: hostname(),
        gpus: gpu_list.clone(),
        gpu_type: args.gpu_type.clone().or(found_type),
        fake_gpus: fake,
        cpus,
        mem_mb,
        labels: args.labels.iter().cloned().collect(),
        spot: args.spot,
        running: Vec::new(),
    };
    let client = ctx.client().await?;
    let mut agent = register(&client, &registration).await;
    eprintln!(
        "cairn: agent {name} ready on {}: {} GPU(s){}{}, {cpus} CPUs, {mem_mb} MB{}",
        client.base(),
        gpu_list.len(),
        if fake { " (pretend)" } else { "" },
        registration.gpu_type.as_deref().map_or(String::new(), |t| format!(" of type {t}")),
        if args.spot { ", spot" } else { "" }
    );
    let (cgroups, said) = limits_support();
    eprintln!("cairn: {said}");
    let nvml = if fake { None } else { cairn_capture::gpu::Gpus::open() };
    let mut procs: HashMap<String, Process> = HashMap::new();
    let mut unreported: Vec<(String, JobReport)> = Vec::new();
    // A reclaim notice, or this agent asked to stop: jobs go back to the queue.
    let mut draining = false;
    let mut drain_deadline: Option<Instant> = None;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut http = None;
    let mut last_util = Instant::now() - Duration::from_secs(10);
    loop {
        // Ended processes: their reports go first.
        let ids: Vec<String> = procs.keys().cloned().collect();
        for id in ids {
            let p = procs.get_mut(&id).expect("listed");
            if let Ok(Some(status)) = p.child.try_wait() {
                use std::os::unix::process::ExitStatusExt;
                let p = procs.remove(&id).expect("listed");
                // Whatever the command left behind in its group goes with it, and its cgroup.
                p.signal(Signal::SIGKILL);
                if let Some(base) = &cgroups {
                    let _ = std::fs::remove_dir(base.join(format!("cairn-job-{}-{}", p.job.short_id, p.job.attempts)));
                }
                if p.forget {
                    continue;
                }
                let exit_code = status.code().or_else(|| status.signal().map(|s| 128 + s));
                eprintln!(
                    "cairn: job {} ended (exit code {})",
                    p.job.short_id,
                    exit_code.map_or("none".into(), |c| c.to_string())
                );
                unreported.push((
                    id,
                    JobReport { agent: agent.id.clone(), exit_code, killed_after_grace: p.killed, error: None },
                ));
            }
        }
        let mut still = Vec::new();
        for (id, report) in unreported.drain(..) {
            if let Err(e) = client.job_ended(&id, &report).await
                && crate::spool::unreachable(&e)
            {
                still.push((id, report));
            }
        }
        unreported = still;
        if !draining && notice(&args, &mut http).await {
            eprintln!("cairn: reclaim notice: every job checkpoints and goes back to the queue");
            draining = true;
        }
        if draining && drain_deadline.is_none() {
            drain_deadline = Some(Instant::now() + Duration::from_secs(120));
        }
        // GPU utilisation goes with a poll every ten seconds (the server keeps it per job).
        let utilisation = if last_util.elapsed() >= Duration::from_secs(10) {
            last_util = Instant::now();
            utilisation(nvml.as_ref(), &procs)
        } else {
            BTreeMap::new()
        };
        let poll = AgentPoll { running: procs.keys().cloned().collect(), draining, gpu_utilisation: utilisation };
        match client.agent_poll(&agent.id, &poll).await {
            Ok(work_to_do) => {
                for id in work_to_do.forget {
                    if let Some(p) = procs.get_mut(&id) {
                        eprintln!("cairn: job {} is no longer this agent's: stopping it", p.job.short_id);
                        p.forget = true;
                        p.signal(Signal::SIGKILL);
                    }
                }
                for order in work_to_do.stop {
                    stop(&mut procs, &order);
                }
                for job in work_to_do.start {
                    if draining || procs.contains_key(&job.run_id) {
                        continue;
                    }
                    match start(&client, &agent, &job, &work, cgroups.as_deref()).await {
                        Ok(p) => {
                            procs.insert(job.run_id.clone(), p);
                        }
                        Err(why) => {
                            eprintln!("cairn: job {} could not start: {why}", job.short_id);
                            let report = JobReport {
                                agent: agent.id.clone(),
                                exit_code: None,
                                killed_after_grace: false,
                                error: Some(why),
                            };
                            unreported.push((job.run_id.clone(), report));
                        }
                    }
                }
            }
            Err(e) if e.code() == Some(ErrorCode::AgentNotFound) => {
                let mut again = registration.clone();
                again.running = procs.keys().cloned().collect();
                agent = register(&client, &again).await;
            }
            Err(e) => tracing::debug!(error = %e, "poll not answered; jobs keep running"),
        }
        // SIGKILL for what outlived its grace period.
        let now = Instant::now();
        for p in procs.values_mut() {
            if p.kill_at.is_some_and(|t| now >= t) && !p.killed {
                eprintln!("cairn: job {} ignored SIGTERM: killed after the grace period", p.job.short_id);
                p.signal(Signal::SIGKILL);
                p.killed = true;
            }
        }
        if draining && procs.is_empty() && unreported.is_empty() {
            eprintln!("cairn: agent {name} drained: every job is back in the queue or ended");
            return Ok(());
        }
        if drain_deadline.is_some_and(|t| now >= t) {
            for p in procs.values() {
                p.signal(Signal::SIGKILL);
            }
            bail!(
                "the server did not take the jobs back within 120 s; they were killed (they are requeued when this agent is found lost)"
            );
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(args.poll_ms.max(20))) => {}
            _ = term.recv() => {
                eprintln!("cairn: asked to stop: every job checkpoints and goes back to the queue");
                draining = true;
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("cairn: interrupted: every job checkpoints and goes back to the queue");
                draining = true;
            }
        }
    }
}

/// Registers, retrying while the server cannot be reached.
async fn register(client: &Client, reg: &AgentRegistration) -> Agent {
    let mut wait = Duration::from_millis(250);
    loop {
        match client.register_agent(reg).await {
            Ok(a) => return a,
            Err(e) => {
                eprintln!("cairn: could not register with {} ({e}); retrying", client.base());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
            }
        }
    }
}

/// Whether the cloud says this machine is being reclaimed.
async fn notice(args: &Args, http: &mut Option<reqwest::Client>) -> bool {
    if args.notice_file.as_ref().is_some_and(|f| f.exists()) {
        return true;
    }
    if let Some(url) = &args.notice_url {
        let c = http
            .get_or_insert_with(|| reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("client"));
        return c.get(url).send().await.is_ok_and(|r| r.status().is_success());
    }
    false
}

/// Mean utilisation of each job's GPUs, when NVML reads them.
fn utilisation(nvml: Option<&cairn_capture::gpu::Gpus>, procs: &HashMap<String, Process>) -> BTreeMap<String, f64> {
    let Some(samples) = nvml.map(|n| n.sample()) else { return BTreeMap::new() };
    let by_index: HashMap<u32, f64> = samples.iter().map(|s| (s.index, f64::from(s.utilization_percent))).collect();
    procs
        .iter()
        .filter(|(_, p)| !p.job.gpu_indices.is_empty())
        .map(|(id, p)| {
            let vals: Vec<f64> = p.job.gpu_indices.iter().filter_map(|i| by_index.get(i)).copied().collect();
            (id.clone(), if vals.is_empty() { 0.0 } else { vals.iter().sum::<f64>() / vals.len() as f64 })
        })
        .collect()
}

fn stop(procs: &mut HashMap<String, Process>, order: &StopOrder) {
    let Some(p) = procs.get_mut(&order.run_id) else { return };
    if p.kill_at.is_some() {
        return;
    }
    eprintln!(
        "cairn: stopping job {} ({}): SIGTERM, SIGKILL in {} s",
        p.job.short_id,
        order.reason.as_str(),
        order.grace_ms / 1000
    );
    p.signal(Signal::SIGTERM);
    p.kill_at = Some(Instant::now() + Duration::from_millis(order.grace_ms.max(0) as u64));
}

/// The folder a job runs in: a clean copy of its recorded commit with its recorded
/// diff and untracked sources, or (when it recorded no commit) the folder it was
/// submitted from.
async fn working_copy(client: &Client, job: &Job, work: &Path) -> Result<PathBuf, String> {
    let run = client.run(&job.run_id).await.map_err(|e| format!("its run could not be read: {e}"))?;
    let submitted = job.workdir.as_ref().map(PathBuf::from);
    let code = run.code.clone().unwrap_or_default();
    if job.in_place {
        return match &submitted {
            Some(dir) if dir.is_dir() => Ok(dir.clone()),
            Some(dir) => Err(format!("it runs in {}, which is not on this machine", dir.display())),
            None => Err("it names no folder to run in".into()),
        };
    }
    match (&code.commit, &submitted) {
        (Some(commit), Some(from)) if code.versioned && from.exists() => {
            let diff = match &code.diff_artifact {
                Some(path) => client
                    .read_artifact(&job.run_id, path, 256 * 1024 * 1024)
                    .await
                    .map_err(|e| format!("its recorded diff could not be read: {e}"))?,
                None => None,
            };
            let dest = work.join(format!("{}-{}", job.short_id, job.attempts));
            let _ = std::fs::remove_dir_all(&dest);
            let commit = commit.clone();
            let from = from.clone();
            let untracked = code.untracked.clone();
            let datasets: Vec<String> =
                run.data.iter().flat_map(|d| d.datasets.iter().map(|x| x.path.clone())).collect();
            tokio::task::spawn_blocking(move || {
                let dir = cairn_capture::code::clean_copy(&from, &commit, diff.as_deref(), &untracked, &dest)?;
                link_data(&from, &dir, &datasets)?;
                Ok(dir)
            })
            .await
            .map_err(|e| format!("making the working copy failed: {e}"))?
        }
        (_, Some(from)) if from.is_dir() => Ok(from.clone()),
        (_, Some(from)) => Err(format!(
            "it was submitted from {}, which is not on this machine, and recorded no commit to copy",
            from.display()
        )),
        (_, None) => Err("it names no folder to run in".into()),
    }
}

/// Data is not in the repository: each dataset the run declared by a relative path is
/// linked into the working copy from the folder it was submitted from (the run's data
/// fingerprints say what it held).
fn link_data(from: &Path, copy: &Path, datasets: &[String]) -> Result<(), String> {
    for d in datasets {
        let rel = Path::new(d.trim_end_matches('/'));
        if rel.is_absolute() || rel.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
            continue;
        }
        let (src, dst) = (from.join(rel), copy.join(rel));
        if !src.exists() || dst.symlink_metadata().is_ok() {
            continue;
        }
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        }
        std::os::unix::fs::symlink(&src, &dst)
            .map_err(|e| format!("cannot link the dataset {} into the working copy: {e}", src.display()))?;
    }
    Ok(())
}

async fn start(
    client: &Client,
    agent: &Agent,
    job: &Job,
    work: &Path,
    cgroups: Option<&Path>,
) -> Result<Process, String> {
    let dir = working_copy(client, job, work).await?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find the cairn binary: {e}"))?;
    let out_path = work.join(format!("{}-{}.out", job.short_id, job.attempts));
    let out = std::fs::File::create(&out_path).map_err(|e| format!("cannot create {}: {e}", out_path.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let gpus: Vec<String> = job.gpu_indices.iter().map(u32::to_string).collect();
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("run")
        .arg("--job")
        .arg(&job.run_id)
        .arg("--")
        .args(&job.command)
        .current_dir(&dir)
        .envs(&job.env)
        .env(crate::settings::env::SERVER, client.base())
        .envs(client.token().map(|t| (crate::settings::env::TOKEN, t)))
        .env("CUDA_VISIBLE_DEVICES", gpus.join(","))
        .env("CAIRN_JOB", &job.run_id)
        .env("CAIRN_JOB_ATTEMPT", job.attempts.to_string())
        .env("CAIRN_AGENT", &agent.name)
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a stop reaches everything the command started.
        .process_group(0)
        .kill_on_drop(false);
    if job.resources.cpus > 0 {
        cmd.env("OMP_NUM_THREADS", job.resources.cpus.to_string());
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start cairn run: {e}"))?;
    let pid = child.id().unwrap_or_default() as i32;
    if let Some(base) = cgroups {
        limits(base, pid, job);
    }
    eprintln!(
        "cairn: job {} started in {} (GPUs {})",
        job.short_id,
        dir.display(),
        if gpus.is_empty() { "none".into() } else { gpus.join(",") }
    );
    let p = Process { job: job.clone(), child, pgid: pid, kill_at: None, killed: false, forget: false };
    match client.job_started(&job.run_id, &JobReport { agent: agent.id.clone(), ..Default::default() }).await {
        Err(e) if e.code() == Some(ErrorCode::JobStateConflict) => {
            // Cancelled or placed elsewhere meanwhile.
            p.signal(Signal::SIGKILL);
            Err(format!("the server no longer wants it started: {e}"))
        }
        // Unreachable: the next poll lists it as running, which the server takes as started.
        _ => Ok(p),
    }
}

/// CPU and memory limits for the job's process tree, in a cgroup v2 of its own under
/// `base` (where the agent found it may create them).
fn limits(base: &Path, pid: i32, job: &Job) {
    if job.resources.cpus == 0 && job.resources.mem_mb == 0 {
        return;
    }
    let dir = base.join(format!("cairn-job-{}-{}", job.short_id, job.attempts));
    let set = || -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        if job.resources.mem_mb > 0 {
            std::fs::write(dir.join("memory.max"), (job.resources.mem_mb * 1024 * 1024).to_string())?;
        }
        if job.resources.cpus > 0 {
            std::fs::write(dir.join("cpu.max"), format!("{} 100000", u64::from(job.resources.cpus) * 100_000))?;
        }
        std::fs::write(dir.join("cgroup.procs"), pid.to_string())
    };
    if let Err(e) = set() {
        eprintln!(
            "cairn: job {} runs without CPU and memory limits: {} could not be set up ({e})",
            job.short_id,
            dir.display()
        );
    }
}

/// This process's cgroup v2 folder, when the unified hierarchy is mounted (on its own,
/// or beside cgroup v1 at `/sys/fs/cgroup/unified`).
fn own_cgroup() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = text.lines().find_map(|l| l.strip_prefix("0::"))?.trim_start_matches('/');
    ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .iter()
        .map(|root| Path::new(root).join(path))
        .find(|dir| dir.join("cgroup.controllers").exists())
}

/// Where jobs' CPU and memory limits can be enforced (a cgroup v2 folder this agent may
/// create cgroups in, with the cpu and memory controllers), and what to say about it.
fn limits_support() -> (Option<PathBuf>, String) {
    let Some(dir) = own_cgroup() else {
        return (None, "CPU and memory limits are not enforced: no cgroup v2 hierarchy is mounted".into());
    };
    let controllers = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let missing: Vec<&str> =
        ["cpu", "memory"].into_iter().filter(|c| !controllers.split_whitespace().any(|x| x == *c)).collect();
    if !missing.is_empty() {
        let why = format!(
            "CPU and memory limits are not enforced: the cgroup v2 at {} lacks the {} controller(s)",
            dir.display(),
            missing.join(" and ")
        );
        return (None, why);
    }
    let probe = dir.join(format!("cairn-probe-{}", std::process::id()));
    match std::fs::create_dir(&probe) {
        Ok(()) => {
            let _ = std::fs::remove_dir(&probe);
            let why = format!("CPU and memory limits are enforced through cgroup v2 under {}", dir.display());
            (Some(dir), why)
        }
        Err(e) => {
            let why = format!(
                "CPU and memory limits are not enforced: this agent may not create cgroups under {} ({e}); run it \
                 with a delegated cgroup (systemd Delegate=yes)",
                dir.display()
            );
            (None, why)
        }
    }
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

pub async fn list(args: ListArgs, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let list = client.agents().await?;
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let rows: Vec<Vec<String>> = list
        .agents
        .iter()
        .map(|a| {
            vec![
                a.name.clone(),
                a.state.clone(),
                format!(
                    "{}/{}{}{}",
                    a.used_gpus,
                    a.gpus.len(),
                    a.gpu_type.as_deref().map_or(String::new(), |t| format!(" {t}")),
                    if a.fake_gpus { " (pretend)" } else { "" }
                ),
                format!("{}/{}", a.used_cpus, a.cpus),
                format!("{}/{} GB", a.used_mem_mb / 1024, a.mem_mb / 1024),
                a.gpu_utilisation.map_or("-".into(), |u| format!("{u:.0} %")),
                if a.spot { "spot".into() } else { String::new() },
                if a.idle_jobs.is_empty() {
                    a.jobs.join(" ")
                } else {
                    format!("{} (idle GPUs: {})", a.jobs.join(" "), a.idle_jobs.join(" "))
                },
                format!("{} ago", output::duration_ms(now - a.heartbeat_at)),
            ]
        })
        .collect();
    crate::outln!(
        "{}",
        if rows.is_empty() {
            "no agent has registered: start `cairn agent` on a machine that should run jobs".to_owned()
        } else {
            table(
                &["agent", "state", "GPUs used", "CPUs used", "memory used", "GPU util", "", "jobs", "last seen"],
                &rows,
            )
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_inventories_read_as_written() {
        assert_eq!(gpus("fake:8").unwrap(), ((0..8).collect(), true, None));
        assert_eq!(gpus("0,2,3").unwrap(), (vec![0, 2, 3], false, None));
        assert_eq!(gpus("none").unwrap().0, Vec::<u32>::new());
        assert!(gpus("0,0").unwrap_err().to_string().contains("listed twice"));
        assert!(gpus("fake:x").unwrap_err().to_string().contains("fake:N"));
        assert_eq!(gpu_type_of("NVIDIA H100 80GB HBM3"), "h100");
        assert_eq!(gpu_type_of("NVIDIA A100-SXM4-40GB"), "a100");
        assert_eq!(gpu_type_of("NVIDIA GeForce RTX 4090"), "4090");
    }
}
