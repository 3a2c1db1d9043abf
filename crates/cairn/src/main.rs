//! The `cairn` binary: parses the command line, resolves settings once, picks the
//! storage backends and hands them to the library crates. The only crate that knows
//! which backends exist.

mod client;
mod commands;
mod output;
mod project_data;
mod settings;
mod spool;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cairn", version, about = "Cairn: the laboratory record and bench for ML experiments")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone, Default)]
pub struct StoreArgs {
    /// Metadata store: a file path, sqlite://PATH or postgres://USER@HOST/DB
    /// [default: <home>/cairn.db; env CAIRN_STORE]
    #[arg(long, global = true)]
    pub store: Option<String>,
    /// Artifact storage: a folder, file://PATH or s3://BUCKET/PREFIX
    /// [default: <home>/artifacts; env CAIRN_ARTIFACTS]
    #[arg(long, global = true)]
    pub artifacts: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST and gRPC API (and, later, the web UI)
    Server(commands::server::Args),
    /// Run a command and record it: config, output log, exit status
    Run(commands::run::Args),
    /// List runs as a table (or JSON)
    Ls(commands::ls::Args),
    /// Show everything recorded about one run
    Show(commands::show::Args),
    /// Everything that differs between two runs: config, code, data, environment, metrics
    Diff(commands::diff::Args),
    /// What values a parameter has taken in a project, and how each did
    Tried(commands::tried::Args),
    /// Send records kept while the server was unreachable (runs that finished offline)
    Sync,
    /// Print what `cairn run` would capture (code, data, environment) as JSON, for SDKs
    #[command(hide = true)]
    Capture(commands::capture::Args),
    /// Bring history in: an MLflow file store (`mlruns/`) or a spreadsheet (CSV)
    Import(commands::import::Args),
    /// List projects, or change one's settings (`cairn projects set NAME …`)
    Projects(commands::projects::Args),
    /// The model registry: registered models, or one model's versions
    Models(commands::models::Args),
    /// Is a run (or replicate group) better than another? Difference, 95% CI, p-value, verdict
    Compare(commands::compare::Args),
    /// The project's golden baseline: show, set, or re-evaluate it under today's conditions
    Baseline(commands::baseline::Args),
    /// Which parameters matter, which values underperform, which runs surprise
    Insights(commands::insights::Args),
    /// Ablation study: each difference between two runs added alone and removed alone
    Ablate(commands::study::AblateArgs),
    /// Designed studies: `cairn design factorial --factor aug=none,mixup … -- python train.py`
    Design(commands::study::DesignArgs),
    /// Print a study's report again (or list the project's studies)
    Report(commands::study::ReportArgs),
    /// The weekly review: improvements over the baseline, negative results, surprises
    Review(commands::review::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        let done = |r: anyhow::Result<()>| r.map(|()| std::process::ExitCode::SUCCESS);
        match cli.command {
            Command::Server(a) => done(commands::server::run(a).await),
            Command::Run(a) => commands::run::run(a).await,
            Command::Ls(a) => done(commands::ls::run(a).await),
            Command::Show(a) => done(commands::show::run(a).await),
            Command::Sync => done(commands::sync().await),
            Command::Capture(a) => done(commands::capture::run(a).await),
            Command::Import(a) => done(commands::import::run(a).await),
            Command::Diff(a) => done(commands::diff::run(a).await),
            Command::Tried(a) => done(commands::tried::run(a).await),
            Command::Projects(a) => done(commands::projects::run(a).await),
            Command::Models(a) => done(commands::models::run(a).await),
            Command::Compare(a) => done(commands::compare::run(a).await),
            Command::Baseline(a) => done(commands::baseline::run(a).await),
            Command::Insights(a) => done(commands::insights::run(a).await),
            Command::Ablate(a) => done(commands::study::ablate(a).await),
            Command::Design(a) => done(commands::study::design(a).await),
            Command::Report(a) => done(commands::study::report(a).await),
            Command::Review(a) => done(commands::review::run(a).await),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
