//! `cairn-bench`: load benchmarks for `cairn server`, against the embedded SQLite
//! store and PostgreSQL. Each benchmark gets a fresh server (fresh home, fresh
//! scratch database) so one measurement does not inherit another's data or memory.
//!
//! ```text
//! cargo build --release -p cairn -p cairn-bench
//! ./target/release/cairn-bench --markdown            # the real thing (minutes)
//! ./target/debug/cairn-bench --cairn ./target/debug/cairn --scale small   # a quick check
//! ./target/release/cairn-bench --scale 1m --markdown   # a million runs (cairn-scale-bench)
//! ```

mod capture;
mod history;
mod ingest;
mod lists;
mod search;
mod server;
mod util;

use anyhow::{Context, Result, bail};
use clap::{Parser, ValueEnum};
use server::{Backend, Server};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "cairn-bench", about = "Load benchmarks for cairn server: ingestion, search, history, memory")]
struct Args {
    /// The cairn binary [default: target/release/cairn in this program's target folder]
    #[arg(long)]
    cairn: Option<PathBuf>,
    /// Which metadata stores to measure
    #[arg(long, value_enum, default_value = "both")]
    backend: BackendArg,
    /// PostgreSQL URL used to create a scratch database per benchmark
    #[arg(long, default_value = "postgres://root@127.0.0.1:5432/postgres")]
    pg_admin: String,
    /// `full` is the real benchmark; `small` divides every size by 100 (a quick check);
    /// `100k` and `1m` measure one project of that many runs (cairn-scale-bench)
    #[arg(long, value_enum, default_value = "full")]
    scale: Scale,
    /// Python interpreter for the SDK benchmark
    #[arg(long, default_value = "python3")]
    python: String,
    /// Folder holding the SDK's `cairn` package, put on PYTHONPATH
    /// [default: sdk/python found above the current folder or this program]
    #[arg(long)]
    sdk: Option<PathBuf>,
    /// Only these benchmarks (comma-separated)
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Bench>,
    /// An older cairn whose `ls` reads the store directly (commit 2016851 or before), to
    /// time `cairn ls` through the client against it in the same run
    #[arg(long, value_name = "PATH")]
    cairn_direct: Option<PathBuf>,
    /// Where the servers' temporary homes go [default: the system temp folder]
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also print one markdown table: benchmark | sqlite | postgres | target
    #[arg(long)]
    markdown: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
    Both,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scale {
    Full,
    Small,
    /// One project of 100,000 runs: `cairn-scale-bench --runs 100000` (the store is built
    /// once, through the bulk API, and kept in target/scale-stores)
    #[value(name = "100k")]
    Runs100k,
    /// One project of 1,000,000 runs: `cairn-scale-bench --runs 1000000`
    #[value(name = "1m")]
    Runs1m,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Bench {
    /// REST batches and gRPC streams
    Ingest,
    /// Filtered and sorted run search over many runs
    Search,
    /// One long series, raw and downsampled
    History,
    /// Server memory after loading many runs
    Rss,
    /// The Python SDK's log()
    Sdk,
    /// `cairn run` capture overhead and data fingerprint throughput
    Capture,
    /// MLflow's experiment and registered model searches over as many entries as runs
    Lists,
}

/// Every size the benchmarks use.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub ingest_points: u64,
    pub batch: usize,
    pub rest_conns: usize,
    pub grpc_streams: usize,
    pub grpc_in_flight: usize,
    pub sdk_points: u64,
    pub runs: usize,
    pub load_concurrency: usize,
    pub queries: usize,
    pub warmup_queries: usize,
    pub history_points: u64,
    pub history_max_points: usize,
    pub history_reads: usize,
    pub repo_files: usize,
    pub capture_runs: usize,
    pub data_bytes: u64,
    pub fingerprint_runs: usize,
}

impl Sizes {
    fn new(scale: Scale) -> Sizes {
        let full = Sizes {
            ingest_points: 10_000_000,
            batch: 50_000,
            rest_conns: 4,
            grpc_streams: 4,
            grpc_in_flight: 8,
            sdk_points: 1_000_000,
            runs: 100_000,
            load_concurrency: 8,
            queries: 200,
            warmup_queries: 10,
            history_points: 1_000_000,
            history_max_points: 2_000,
            history_reads: 30,
            repo_files: 10_000,
            capture_runs: 30,
            data_bytes: 1 << 30,
            fingerprint_runs: 5,
        };
        match scale {
            // 100k and 1m hand over to cairn-scale-bench before sizes are asked for.
            Scale::Full | Scale::Runs100k | Scale::Runs1m => full,
            // Data sizes shrink; connection counts and repetitions stay.
            Scale::Small => Sizes {
                ingest_points: full.ingest_points / 100,
                batch: full.batch / 100,
                sdk_points: full.sdk_points / 100,
                runs: full.runs / 100,
                history_points: full.history_points / 100,
                history_max_points: full.history_max_points / 100,
                repo_files: full.repo_files / 100,
                data_bytes: full.data_bytes / 100,
                ..full
            },
        }
    }
}

/// What every benchmark needs.
pub struct Ctx {
    pub client: reqwest::Client,
    /// The cairn binary under test.
    pub cairn: PathBuf,
    pub sizes: Sizes,
    pub full: bool,
    pub python: String,
    pub sdk_path: Option<PathBuf>,
    /// An older cairn whose `ls` opens the store itself, for the `ls` comparison.
    pub cairn_direct: Option<PathBuf>,
}

impl Ctx {
    /// Targets are judged at full scale only.
    pub fn judge(&self, pass: bool) -> Option<bool> {
        self.full.then_some(pass)
    }
}

/// One line of a result table.
pub struct Row {
    /// Stable across backends, to line them up in the markdown table.
    pub key: &'static str,
    pub label: String,
    pub value: String,
    pub target: &'static str,
    /// Whether the target is met (None: no target, or not judged at this scale).
    pub ok: Option<bool>,
}

pub struct Section {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

struct BackendReport {
    backend: Backend,
    store: String,
    rows: Vec<Row>,
    notes: Vec<String>,
    errors: usize,
}

#[derive(Clone, Copy)]
enum Group {
    IngestRest,
    IngestGrpc,
    Sdk,
    History,
    Search { queries: bool, rss: bool },
    Capture,
    Lists,
}

impl Group {
    fn name(self) -> &'static str {
        match self {
            Group::IngestRest => "ingest-rest",
            Group::IngestGrpc => "ingest-grpc",
            Group::Sdk => "ingest-sdk",
            Group::History => "history",
            Group::Search { .. } => "search",
            Group::Capture => "capture",
            Group::Lists => "lists",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Group::IngestRest => "ingest_rest",
            Group::IngestGrpc => "ingest_grpc",
            Group::Sdk => "ingest_sdk",
            Group::History => "history_raw",
            Group::Search { .. } => "search_load",
            Group::Capture => "capture_overhead",
            Group::Lists => "lists_exp_first",
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    let cairn = match &args.cairn {
        Some(p) => p.clone(),
        None => default_cairn()?,
    };
    if !cairn.is_file() {
        bail!("no cairn binary at {}: build it (cargo build --release -p cairn) or pass --cairn", cairn.display());
    }
    let cairn = std::fs::canonicalize(&cairn).with_context(|| format!("cannot resolve {}", cairn.display()))?;
    if let Some(runs) = match args.scale {
        Scale::Runs100k => Some("100000"),
        Scale::Runs1m => Some("1000000"),
        Scale::Full | Scale::Small => None,
    } {
        return scale_bench(&args, &cairn, runs);
    }
    let work_dir = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let full = args.scale == Scale::Full;
    let sdk_path = args.sdk.clone().or_else(find_sdk);

    let only = if args.only.is_empty() {
        vec![Bench::Ingest, Bench::Search, Bench::History, Bench::Rss, Bench::Sdk, Bench::Capture, Bench::Lists]
    } else {
        args.only.clone()
    };
    let mut groups = Vec::new();
    if only.contains(&Bench::Ingest) {
        groups.push(Group::IngestRest);
        groups.push(Group::IngestGrpc);
    }
    if only.contains(&Bench::Sdk) {
        groups.push(Group::Sdk);
    }
    if only.contains(&Bench::History) {
        groups.push(Group::History);
    }
    let (queries, rss) = (only.contains(&Bench::Search), only.contains(&Bench::Rss));
    if queries || rss {
        groups.push(Group::Search { queries, rss });
    }
    if only.contains(&Bench::Capture) {
        groups.push(Group::Capture);
    }
    if only.contains(&Bench::Lists) {
        groups.push(Group::Lists);
    }
    let backends = match args.backend {
        BackendArg::Sqlite => vec![Backend::Sqlite],
        BackendArg::Postgres => vec![Backend::Postgres],
        BackendArg::Both => vec![Backend::Sqlite, Backend::Postgres],
    };

    let ctx = Ctx {
        client: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(32)
            .timeout(Duration::from_secs(600))
            .build()?,
        sizes: Sizes::new(args.scale),
        cairn: cairn.clone(),
        full,
        python: args.python.clone(),
        sdk_path,
        cairn_direct: args.cairn_direct.clone(),
    };

    print_header(&cairn, &args, &ctx);

    let mut reports = Vec::new();
    for &backend in &backends {
        let report = run_backend(&ctx, &cairn, &work_dir, &args.pg_admin, backend, &groups).await;
        print_table(&report, full);
        reports.push(report);
    }
    if args.markdown {
        print_markdown(&reports);
    }
    let errors: usize = reports.iter().map(|r| r.errors).sum();
    let missed = reports.iter().flat_map(|r| &r.rows).filter(|r| r.ok == Some(false)).count();
    if missed > 0 {
        println!("\n{missed} target(s) missed.");
    }
    if errors > 0 {
        eprintln!("\n{errors} benchmark(s) failed; see the errors above.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

async fn run_backend(
    ctx: &Ctx,
    cairn: &Path,
    work_dir: &Path,
    pg_admin: &str,
    backend: Backend,
    groups: &[Group],
) -> BackendReport {
    let mut report = BackendReport { backend, store: String::new(), rows: Vec::new(), notes: Vec::new(), errors: 0 };
    for &g in groups {
        eprintln!("[{}] {} ...", backend.name(), g.name());
        let started = std::time::Instant::now();
        let result = async {
            let srv = Server::start(cairn, work_dir, backend, pg_admin, g.name()).await?;
            if report.store.is_empty() {
                report.store = srv.store_label.clone();
            }
            let section = match g {
                Group::IngestRest => ingest::rest(ctx, &srv).await,
                Group::IngestGrpc => ingest::grpc(ctx, &srv).await,
                Group::Sdk => ingest::sdk(ctx, &srv).await,
                Group::History => history::run(ctx, &srv).await,
                Group::Search { queries, rss } => search::run(ctx, &srv, queries, rss).await,
                Group::Capture => capture::run(ctx, &srv).await,
                Group::Lists => lists::run(ctx, &srv).await,
            };
            drop(srv);
            section
        }
        .await;
        match result {
            Ok(section) => {
                eprintln!("[{}] {} done in {:.1} s", backend.name(), g.name(), started.elapsed().as_secs_f64());
                report.rows.extend(section.rows);
                report.notes.extend(section.notes);
            }
            Err(e) => {
                eprintln!("[{}] {} FAILED: {e:#}", backend.name(), g.name());
                report.errors += 1;
                report.rows.push(Row {
                    key: g.key(),
                    label: g.name().to_owned(),
                    value: "ERROR (see stderr)".to_owned(),
                    target: "",
                    ok: None,
                });
                report.notes.push(format!("{}: FAILED: {e:#}", g.name()));
            }
        }
    }
    report
}

/// `target/release/cairn` in the target folder this program was built into.
/// `--scale 100k|1m`: the store-at-scale benchmark, `cairn-scale-bench` beside this
/// program, on a kept store of that many runs.
fn scale_bench(args: &Args, cairn: &Path, runs: &str) -> Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let scale = exe.with_file_name("cairn-scale-bench");
    if !scale.is_file() {
        bail!("no cairn-scale-bench beside {}: build it (cargo build --release -p cairn-bench)", exe.display());
    }
    let backend = match args.backend {
        BackendArg::Sqlite => "sqlite",
        BackendArg::Postgres => "postgres",
        BackendArg::Both => "both",
    };
    let mut cmd = std::process::Command::new(&scale);
    cmd.arg("--cairn").arg(cairn).args(["--runs", runs, "--backend", backend, "--pg-admin", &args.pg_admin]);
    if args.markdown {
        cmd.arg("--markdown");
    }
    let status = cmd.status().with_context(|| format!("cannot start {}", scale.display()))?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn default_cairn() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find this program's path")?;
    let target =
        exe.parent().and_then(Path::parent).context("this program is not inside a target folder; pass --cairn")?;
    Ok(target.join("release").join("cairn"))
}

/// `sdk/python` (holding `cairn/__init__.py`) above the current folder or this program.
fn find_sdk() -> Option<PathBuf> {
    let starts =
        [std::env::current_dir().ok(), std::env::current_exe().ok().and_then(|p| std::fs::canonicalize(p).ok())];
    starts.into_iter().flatten().find_map(|start| {
        start.ancestors().map(|d| d.join("sdk").join("python")).find(|d| d.join("cairn").join("__init__.py").is_file())
    })
}

fn print_header(cairn: &Path, args: &Args, ctx: &Ctx) {
    let commit = util::command_output("git", &["rev-parse", "--short", "HEAD"]);
    let dirty =
        util::command_output("git", &["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let date = util::command_output("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]).unwrap_or_else(|| {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        format!("unix time {secs}")
    });
    let nproc = util::command_output("nproc", &[])
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.to_string()).unwrap_or_else(|_| "?".into()));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "?".into());
    println!("cairn-bench");
    println!(
        "  commit:  {}{}",
        commit.as_deref().unwrap_or("unknown"),
        if dirty { " (with uncommitted changes)" } else { "" }
    );
    println!("  date:    {date}");
    println!("  nproc:   {nproc} ({cpu})");
    println!("  cairn:   {}", cairn.display());
    println!("  scale:   {}", if ctx.full { "full" } else { "small (sizes / 100; targets not judged)" });
    println!(
        "  sdk:     {} with {}",
        ctx.python,
        ctx.sdk_path
            .as_deref()
            .map_or_else(|| "the installed `cairn` package".to_owned(), |p| format!("PYTHONPATH={}", p.display()))
    );
    if ctx.full && cairn.components().any(|c| c.as_os_str() == "debug") {
        println!("  WARNING: the cairn binary looks like a debug build; numbers will be far off");
    }
    if args.backend != BackendArg::Sqlite {
        println!("  postgres: scratch databases via {}", cairn_store_postgres::redact(&args.pg_admin));
    }
    println!("  targets are the issue's, for the embedded SQLite store on a 2-core machine");
    println!("  latencies are p50 (p95, max), measured by the client to the end of the body");
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn pad(s: &str, w: usize) -> String {
    format!("{s}{}", " ".repeat(w.saturating_sub(width(s))))
}

fn ok_text(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "yes",
        Some(false) => "MISSED",
        None => "",
    }
}

fn print_table(r: &BackendReport, full: bool) {
    println!();
    println!("== {} (store: {}) ==", r.backend.name(), if r.store.is_empty() { "?" } else { &r.store });
    let head = ["benchmark", "result", "target", if full { "met" } else { "" }];
    let cells: Vec<[String; 4]> = r
        .rows
        .iter()
        .map(|row| [row.label.clone(), row.value.clone(), row.target.to_owned(), ok_text(row.ok).to_owned()])
        .collect();
    let mut w = head.map(width);
    for c in &cells {
        for (i, cell) in c.iter().enumerate() {
            w[i] = w[i].max(width(cell));
        }
    }
    let line = |c: [&str; 4]| {
        let s = format!("{}  {}  {}  {}", pad(c[0], w[0]), pad(c[1], w[1]), pad(c[2], w[2]), c[3]);
        println!("{}", s.trim_end());
    };
    line(head);
    println!("{}", "-".repeat(w.iter().sum::<usize>() + 6));
    for c in &cells {
        line([&c[0], &c[1], &c[2], &c[3]]);
    }
    if !r.notes.is_empty() {
        println!("notes:");
        for n in &r.notes {
            println!("  - {n}");
        }
    }
}

fn print_markdown(reports: &[BackendReport]) {
    // Rows in order of first appearance, labelled by the first backend that has them.
    let mut keys: Vec<(&'static str, String, &'static str)> = Vec::new();
    for r in reports {
        for row in &r.rows {
            if !keys.iter().any(|(k, ..)| *k == row.key) {
                keys.push((row.key, row.label.clone(), row.target));
            } else if let Some(k) = keys.iter_mut().find(|(k, ..)| *k == row.key)
                && k.2.is_empty()
            {
                // An error row has no target; take a real row's.
                k.1 = row.label.clone();
                k.2 = row.target;
            }
        }
    }
    let cell = |backend: Backend, key: &str| -> String {
        let Some(r) = reports.iter().find(|r| r.backend == backend) else {
            return "not run".to_owned();
        };
        match r.rows.iter().find(|row| row.key == key) {
            Some(row) => {
                let mark = match row.ok {
                    Some(true) => " ✓",
                    Some(false) => " ✗",
                    None => "",
                };
                format!("{}{mark}", row.value).replace('|', "\\|")
            }
            None => "—".to_owned(),
        }
    };
    println!();
    println!("| benchmark | sqlite | postgres | target |");
    println!("|---|---|---|---|");
    for (key, label, target) in &keys {
        println!(
            "| {} | {} | {} | {} |",
            label.replace('|', "\\|"),
            cell(Backend::Sqlite, key),
            cell(Backend::Postgres, key),
            if target.is_empty() { "-" } else { target }
        );
    }
}
