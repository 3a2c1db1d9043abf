//! `cairn-soak`: many clients at once for a while, as a busy team's scripts and
//! dashboards are. Each client mixes metric writes (with batch ids), new runs,
//! searches and history reads against one fresh `cairn server`. Fails on any error,
//! or when the server's memory at the end is over 1.5× what it was after warm-up.
//! Prints p50 and p99 per operation (RELIABILITY.md records them).
//!
//! ```text
//! cargo build -p cairn -p cairn-bench
//! ./target/debug/cairn-soak --cairn ./target/debug/cairn --seconds 120 --clients 64
//! ```

#[allow(dead_code)]
mod server;
#[allow(dead_code)]
mod util;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};
use server::{Backend, Server};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(name = "cairn-soak", about = "Many mixed clients against one cairn server; 0 errors and bounded memory")]
struct Args {
    /// The cairn binary
    #[arg(long)]
    cairn: PathBuf,
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendArg,
    /// How long the clients run, warm-up included
    #[arg(long, default_value_t = 120)]
    seconds: u64,
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// PostgreSQL URL used to create the scratch database
    #[arg(long, default_value = "postgres://root@127.0.0.1:5432/postgres")]
    pg_admin: String,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Default)]
struct Tally {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let backends = match args.backend {
        BackendArg::Sqlite => vec![Backend::Sqlite],
        BackendArg::Postgres => vec![Backend::Postgres],
        BackendArg::Both => vec![Backend::Sqlite, Backend::Postgres],
    };
    let mut failed = false;
    for b in backends {
        match soak(&args, b).await {
            Ok(true) => {}
            Ok(false) => failed = true,
            Err(e) => {
                eprintln!("error: {e:#}");
                failed = true;
            }
        }
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

async fn soak(args: &Args, backend: Backend) -> Result<bool> {
    let cairn =
        std::fs::canonicalize(&args.cairn).with_context(|| format!("no cairn binary at {}", args.cairn.display()))?;
    let srv = Server::start(&cairn, &std::env::temp_dir(), backend, &args.pg_admin, "soak").await?;
    let client = reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(60)).build()?;
    println!("soak: {} clients for {} s on {} ({})", args.clients, args.seconds, backend.name(), srv.store_label);
    util::ok(
        client.post(srv.api("/projects")).json(&json!({"name": "soak", "require_hypothesis": false})).send().await?,
        "create the project",
    )
    .await?;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let end = start + Duration::from_secs(args.seconds);
    let mut tasks = Vec::new();
    for c in 0..args.clients {
        let (client, base, tally) = (client.clone(), srv.api(""), tally.clone());
        tasks.push(tokio::spawn(async move { client_loop(c as u64, client, base, end, tally).await }));
    }
    // Memory once warmed up (a sixth of the run), then at the end.
    let warm = start + Duration::from_secs(args.seconds / 6);
    tokio::time::sleep_until(warm.into()).await;
    let (rss_warm, _) = srv.memory()?;
    for t in tasks {
        t.await.context("a client task failed")?;
    }
    let (rss_end, hwm) = srv.memory()?;
    let tally = tally.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let mut total = 0usize;
    println!("| operation | requests | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    for (op, l) in &tally.latencies {
        total += l.len();
        let mut s = l.clone();
        s.sort();
        let rank = |q: f64| s[((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        println!("| {op} | {} | {} | {} |", l.len(), util::ms(rank(0.5)), util::ms(rank(0.99)));
    }
    let ratio = rss_end as f64 / rss_warm.max(1) as f64;
    println!(
        "{total} requests, {} errors; server memory {} after warm-up, {} at the end ({ratio:.2}×), peak {}",
        tally.errors.len(),
        util::mb(rss_warm),
        util::mb(rss_end),
        util::mb(hwm)
    );
    for e in tally.errors.iter().take(10) {
        eprintln!("  error: {e}");
    }
    let mut ok = true;
    if !tally.errors.is_empty() {
        eprintln!("FAIL: {} requests failed", tally.errors.len());
        ok = false;
    }
    if ratio > 1.5 {
        eprintln!("FAIL: memory grew {ratio:.2}× after warm-up (limit 1.5×)");
        ok = false;
    }
    if total == 0 {
        bail!("no request completed");
    }
    Ok(ok)
}

async fn client_loop(seed: u64, client: reqwest::Client, base: String, end: Instant, tally: Arc<Mutex<Tally>>) {
    let mut rng = util::XorShift::new(seed * 7919 + 13);
    let mut runs: Vec<String> = Vec::new();
    let mut step = 0i64;
    while Instant::now() < end {
        let roll = rng.next_u64() % 100;
        let op: &'static str = if runs.is_empty() || roll < 5 {
            "create run"
        } else if roll < 55 {
            "log metrics"
        } else if roll < 75 {
            "search"
        } else if roll < 90 {
            "history (raw page)"
        } else {
            "history (downsampled)"
        };
        let t = Instant::now();
        let sent = match op {
            "create run" => {
                let lr = [0.1, 0.03, 0.01, 0.003][(rng.next_u64() % 4) as usize];
                let body = json!({"project": "soak", "config": {"lr": lr, "client": seed, "n": runs.len()},
                                  "tags": {"client": seed.to_string()}});
                client.post(format!("{base}/runs")).json(&body).send().await
            }
            "log metrics" => {
                let run = rng.pick(&runs).clone();
                let steps: Vec<i64> = (step..step + 100).collect();
                step += 100;
                let loss: Vec<f64> = steps.iter().map(|&s| 1.0 / (1.0 + s as f64 / 1000.0)).collect();
                let body = json!({"series": [{"key": "loss", "steps": steps, "values": loss}],
                                  "batch_id": format!("{seed}-{step}")});
                client.post(format!("{base}/runs/{run}/metrics")).json(&body).send().await
            }
            "search" => {
                let body = json!({"project": "soak", "filter": "params.lr < 0.05 and metrics.loss < 0.9",
                                  "order_by": "metrics.loss", "limit": 50});
                client.post(format!("{base}/runs/search")).json(&body).send().await
            }
            "history (raw page)" => {
                let run = rng.pick(&runs).clone();
                let lo = step.saturating_sub(1000).max(0);
                client.get(format!("{base}/runs/{run}/metrics/loss?min_step={lo}&max_step={step}")).send().await
            }
            _ => {
                let run = rng.pick(&runs).clone();
                client.get(format!("{base}/runs/{run}/metrics/loss?max_points=500")).send().await
            }
        };
        let outcome = match sent {
            Ok(resp) if resp.status().is_success() => match resp.bytes().await {
                Ok(body) => Ok(body),
                Err(e) => Err(format!("{op}: reading the answer: {e}")),
            },
            Ok(resp) => {
                let status = resp.status();
                Err(format!("{op}: HTTP {status}: {}", resp.text().await.unwrap_or_default()))
            }
            Err(e) => Err(format!("{op}: {e}")),
        };
        let took = t.elapsed();
        if op == "create run"
            && let Ok(body) = &outcome
            && let Ok(v) = serde_json::from_slice::<Value>(body)
            && let Some(id) = v["id"].as_str()
        {
            runs.push(id.to_owned());
        }
        let mut t = tally.lock().expect("tally");
        match outcome {
            Ok(_) => t.latencies.entry(op).or_default().push(took),
            Err(e) => t.errors.push(e),
        }
    }
}
