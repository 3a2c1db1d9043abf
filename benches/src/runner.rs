//! `cairn-runner-bench`: the runner under load, the way a team deploys it. Two server
//! replicas share one PostgreSQL store; four `cairn agent`s (pretend GPUs) poll them.
//!
//! 1. Submit throughput: jobs queued per second through the REST API, 16 clients
//!    spread over both replicas, before any agent is connected.
//! 2. Dispatch: the agents start and run every job (`sleep 1` under `cairn run --job`).
//!    Every job must start exactly once and finish: 0 duplicates, 0 lost. The
//!    allocated GPU-time over the makespan is reported as utilisation.
//! 3. Dispatch latency: on idle agents, one job at a time, from submit to its process
//!    started (the agent's report), server clock on both ends.
//!
//! ```text
//! cargo build --release -p cairn -p cairn-bench
//! ./target/release/cairn-runner-bench --cairn ./target/release/cairn --jobs 1000
//! ```

#[allow(dead_code)]
mod server;
#[allow(dead_code)]
mod util;

use anyhow::{Context, Result, bail};
use clap::Parser;
use serde_json::{Value, json};
use server::{Backend, Server};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "cairn-runner-bench", about = "Two replicas, four agents, a thousand jobs: each started exactly once")]
struct Args {
    /// The cairn binary
    #[arg(long)]
    cairn: PathBuf,
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    #[arg(long, default_value_t = 4)]
    agents: usize,
    /// Pretend GPUs per agent
    #[arg(long, default_value_t = 8)]
    gpus: u32,
    /// How long each job runs (`sleep`), in seconds
    #[arg(long, default_value_t = 1.0)]
    job_seconds: f64,
    /// Jobs submitted one at a time for the dispatch latency
    #[arg(long, default_value_t = 30)]
    latency_jobs: usize,
    /// PostgreSQL URL used to create the scratch database
    #[arg(long, default_value = "postgres://root@127.0.0.1:5432/postgres")]
    pg_admin: String,
    /// Where the servers' and agents' homes go
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    work_dir: PathBuf,
}

struct Agent(Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_agent(cairn: &Path, srv: &Server, name: &str, gpus: u32) -> Result<Agent> {
    let home = srv.home().join(format!("agent-{name}"));
    std::fs::create_dir_all(&home)?;
    let log = std::fs::File::create(home.join("agent.log"))?;
    let child = Command::new(cairn)
        .args(["agent", "--server", &srv.url, "--name", name, "--gpus", &format!("fake:{gpus}")])
        .args(["--cpus", "64", "--mem", "256G", "--poll-ms", "100", "--work-dir"])
        .arg(home.join("work"))
        .env("CAIRN_HOME", &home)
        .env_remove("CAIRN_SERVER")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {} agent", cairn.display()))?;
    Ok(Agent(child))
}

fn job_body(workdir: &Path, i: usize, seconds: f64) -> Value {
    json!({
        "run": {"project": "bench", "name": format!("job-{i}"), "hypothesis": "the runner keeps up", "owner": format!("user-{}", i % 7),
                "command": ["sleep", format!("{seconds}")]},
        "resources": {"gpus": 1, "cpus": 1, "mem_mb": 100},
        "team": format!("team-{}", i % 3),
        "workdir": workdir.display().to_string(),
    })
}

async fn submit(client: &reqwest::Client, srv: &Server, body: &Value) -> Result<String> {
    let resp = util::ok(client.post(srv.api("/jobs")).json(body).send().await?, "submit").await?;
    let v: Value = resp.json().await?;
    Ok(v["run_id"].as_str().context("no run_id")?.to_owned())
}

async fn job(client: &reqwest::Client, srv: &Server, id: &str) -> Result<Value> {
    util::get_json(client, &srv.api(&format!("/jobs/{id}"))).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<()> {
    let a = Server::start(&args.cairn, &args.work_dir, Backend::Postgres, &args.pg_admin, "runner-a").await?;
    let b = a.replica(&args.cairn, "b").await?;
    let replicas = [&a, &b];
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(64).build()?;
    let workdir = a.home().to_owned();

    // 1. Submit throughput.
    let started = Instant::now();
    let mut tasks = Vec::new();
    let per = args.jobs.div_ceil(16);
    for c in 0..16 {
        let client = client.clone();
        let urls: Vec<String> = replicas.iter().map(|r| r.api("/jobs")).collect();
        let workdir = workdir.clone();
        let seconds = args.job_seconds;
        let range = (c * per)..((c + 1) * per).min(args.jobs);
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in range {
                let url = &urls[i % 2];
                let resp =
                    util::ok(client.post(url).json(&job_body(&workdir, i, seconds)).send().await?, "submit").await?;
                let v: Value = resp.json().await?;
                ids.push(v["run_id"].as_str().context("no run_id")?.to_owned());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await??);
    }
    let submit_time = started.elapsed();
    println!(
        "submit: {} jobs in {:.2} s over 2 replicas: {:.0} jobs/s",
        ids.len(),
        submit_time.as_secs_f64(),
        util::rate(ids.len() as u64, submit_time)
    );

    // 2. Dispatch everything.
    let started = Instant::now();
    let mut agents = Vec::new();
    for i in 0..args.agents {
        agents.push(start_agent(&args.cairn, replicas[i % 2], &format!("agent-{i}"), args.gpus)?);
    }
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let q = util::get_json(&client, &format!("{}?all=false", a.api("/queue"))).await?;
        let left = q["jobs"].as_array().map_or(0, Vec::len);
        if left == 0 {
            break;
        }
        if Instant::now() > deadline {
            bail!("{left} jobs still queued or running after 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let makespan = started.elapsed();
    let (mut duplicates, mut lost, mut busy_ms) = (0usize, 0usize, 0i64);
    let (mut first, mut last) = (i64::MAX, i64::MIN);
    for (i, id) in ids.iter().enumerate() {
        let srv = replicas[i % 2];
        let j = job(&client, srv, id).await?;
        if j["state"] != "finished" {
            lost += 1;
            eprintln!("job {id} ended {}: {j}", j["state"]);
        }
        let why = util::get_json(&client, &srv.api(&format!("/jobs/{id}/why"))).await?;
        let starts = why["events"].as_array().map_or(0, |e| e.iter().filter(|e| e["kind"] == "started").count());
        if starts != 1 || j["attempts"] != 1 {
            duplicates += 1;
            eprintln!("job {id} started {starts} times ({} attempts)", j["attempts"]);
        }
        if let (Some(s), Some(e)) = (j["started_at"].as_i64(), j["ended_at"].as_i64()) {
            busy_ms += e - s;
            first = first.min(s);
            last = last.max(e);
        }
    }
    let gpus = (args.agents as u32 * args.gpus) as f64;
    let span_ms = (last - first).max(1) as f64;
    println!(
        "dispatch: {} jobs on {} agents × {} GPUs through 2 replicas in {:.1} s: {duplicates} started twice, {lost} lost; \
         allocated GPU-time {:.0} % of the makespan",
        ids.len(),
        args.agents,
        args.gpus,
        makespan.as_secs_f64(),
        100.0 * busy_ms as f64 / (gpus * span_ms)
    );

    // 3. Dispatch latency on idle agents.
    let mut samples = Vec::new();
    for i in 0..args.latency_jobs {
        let srv = replicas[i % 2];
        let id = submit(&client, srv, &job_body(&workdir, args.jobs + i, 0.0)).await?;
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            let j = job(&client, srv, &id).await?;
            if let (Some(s), Some(sub)) = (j["started_at"].as_i64(), j["submitted_at"].as_i64()) {
                samples.push(Duration::from_millis((s - sub).max(0) as u64));
                break;
            }
            if Instant::now() > until {
                bail!("job {id} did not start within 60 s on idle agents");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Let it end, so the next one finds the agents idle.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let l = util::Latency::of(&samples);
    println!("dispatch latency (submit to process started, idle agents): p50 {}", l.describe());
    drop(agents);
    if duplicates > 0 || lost > 0 {
        bail!("{duplicates} jobs started more than once and {lost} did not finish");
    }
    Ok(())
}
