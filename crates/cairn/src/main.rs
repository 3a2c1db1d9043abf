//! The `cairn` binary: parses the command line, resolves settings once, picks the
//! storage backends and hands them to the library crates. The only crate that knows
//! which backends exist.

mod commands;
mod connect;
mod credentials;
mod output;
mod settings;
mod spool;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cairn", version, about = "Cairn: the laboratory record and bench for ML experiments")]
struct Cli {
    /// The Cairn server to talk to [default: env CAIRN_SERVER, else the credentials
    /// file's default server, else this folder's embedded server, started if need be]
    #[arg(long, global = true, value_name = "URL")]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// What every command that talks to a server is given.
pub struct Ctx {
    /// `--server`, when given.
    pub server: Option<String>,
}

impl Ctx {
    /// The server this command talks to (the embedded one started if need be).
    pub async fn client(&self) -> anyhow::Result<cairn_client::Client> {
        connect::connect(self.server.as_deref()).await
    }
}

/// Where the embedded store lives; only `cairn server` and `cairn admin` open a store.
#[derive(clap::Args, Clone, Default)]
pub struct StoreArgs {
    /// Metadata store: a file path, sqlite://PATH or postgres://USER@HOST/DB
    /// [default: <home>/cairn.db; env CAIRN_STORE]
    #[arg(long)]
    pub store: Option<String>,
    /// Artifact storage: a folder, file://PATH or s3://BUCKET/PREFIX
    /// [default: <home>/artifacts; env CAIRN_ARTIFACTS]
    #[arg(long)]
    pub artifacts: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the REST and gRPC API and the web UI; `status` and `stop` for the embedded one
    Server(commands::server::Args),
    /// Run a command and record it: config, output log, exit status
    Run(commands::run::Args),
    /// Queue a command to run on an agent when the scheduler places it (takes what `run` takes)
    Submit(commands::jobs::SubmitArgs),
    /// The queue: position, estimated start and why each job waits (`--why JOB` in full)
    Queue(commands::jobs::QueueArgs),
    /// Cancel jobs: queued ones at once, running ones with SIGTERM and a grace period
    Cancel(commands::jobs::CancelArgs),
    /// Put a job back in the queue (a running one is stopped first and resumes from its checkpoint)
    Requeue(commands::jobs::RequeueArgs),
    /// A run's output; `-f` follows a running job's as it is written
    Logs(commands::jobs::LogsArgs),
    /// Run jobs on this machine: register its GPUs, CPUs and memory, and take what the scheduler places here
    Agent(commands::agent::Args),
    /// The agents: their resources, what is free and used, utilisation
    Agents(commands::agent::ListArgs),
    /// GPU-, CPU- and memory-hours and cost by team, user, project or budget
    Usage(commands::jobs::UsageArgs),
    /// Quotas per user, team or project: GPUs at once, GPU-hours a week, money a month
    Quota(commands::jobs::QuotaArgs),
    /// GPU-hour prices for cost and money quotas: `cairn price set gpu=a100:2.10/h`
    Price(commands::jobs::PriceArgs),
    /// Named budgets jobs draw from: stop dispatch at 100 %
    Budget(commands::jobs::BudgetArgs),
    /// Fair-share weight of a user or team
    Share(commands::jobs::ShareArgs),
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
    /// Maintenance on a store, named explicitly: migrate, back up, restore, first users
    Admin(commands::admin::Args),
    /// Sign in to a team server (password, or OpenID Connect in a browser); keeps a token
    Login(commands::access::LoginArgs),
    /// Sign out: revoke this machine's token and forget it
    Logout(commands::access::LogoutArgs),
    /// Who the server takes you for, and with which token
    Whoami {
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// API tokens: create (scoped, expiring), list, revoke
    Tokens(commands::access::TokensArgs),
    /// The organisation's users (admins add and change them)
    Users(commands::access::UsersArgs),
    /// Teams and their members (their roles apply on the projects they are given)
    Teams(commands::access::TeamsArgs),
    /// The audit log: every write and permission change, who, when, from where
    Audit(commands::access::AuditArgs),
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
    let ctx = Ctx { server: cli.server };
    let result = rt.block_on(async {
        let done = |r: anyhow::Result<()>| r.map(|()| std::process::ExitCode::SUCCESS);
        match cli.command {
            Command::Server(a) => done(commands::server::run(a, &ctx).await),
            Command::Run(a) => commands::run::run(a, &ctx).await,
            Command::Submit(a) => commands::jobs::submit(a, &ctx).await,
            Command::Queue(a) => done(commands::jobs::queue(a, &ctx).await),
            Command::Cancel(a) => done(commands::jobs::cancel(a, &ctx).await),
            Command::Requeue(a) => done(commands::jobs::requeue(a, &ctx).await),
            Command::Logs(a) => done(commands::jobs::logs(a, &ctx).await),
            Command::Agent(a) => done(commands::agent::run(a, &ctx).await),
            Command::Agents(a) => done(commands::agent::list(a, &ctx).await),
            Command::Usage(a) => done(commands::jobs::usage(a, &ctx).await),
            Command::Quota(a) => done(commands::jobs::quota(a, &ctx).await),
            Command::Price(a) => done(commands::jobs::price(a, &ctx).await),
            Command::Budget(a) => done(commands::jobs::budget(a, &ctx).await),
            Command::Share(a) => done(commands::jobs::share(a, &ctx).await),
            Command::Ls(a) => done(commands::ls::run(a, &ctx).await),
            Command::Show(a) => done(commands::show::run(a, &ctx).await),
            Command::Sync => done(commands::sync(&ctx).await),
            Command::Capture(a) => done(commands::capture::run(a).await),
            Command::Import(a) => done(commands::import::run(a, &ctx).await),
            Command::Diff(a) => done(commands::diff::run(a, &ctx).await),
            Command::Tried(a) => done(commands::tried::run(a, &ctx).await),
            Command::Projects(a) => done(commands::projects::run(a, &ctx).await),
            Command::Models(a) => done(commands::models::run(a, &ctx).await),
            Command::Compare(a) => done(commands::compare::run(a, &ctx).await),
            Command::Baseline(a) => done(commands::baseline::run(a, &ctx).await),
            Command::Insights(a) => done(commands::insights::run(a, &ctx).await),
            Command::Ablate(a) => done(commands::study::ablate(a, &ctx).await),
            Command::Design(a) => done(commands::study::design(a, &ctx).await),
            Command::Report(a) => done(commands::study::report(a, &ctx).await),
            Command::Review(a) => done(commands::review::run(a, &ctx).await),
            Command::Admin(a) => done(commands::admin::run(a).await),
            Command::Login(a) => done(commands::access::login(a, &ctx).await),
            Command::Logout(a) => done(commands::access::logout(a, &ctx).await),
            Command::Whoami { json } => done(commands::access::whoami(json, &ctx).await),
            Command::Tokens(a) => done(commands::access::tokens(a, &ctx).await),
            Command::Users(a) => done(commands::access::users(a, &ctx).await),
            Command::Teams(a) => done(commands::access::teams(a, &ctx).await),
            Command::Audit(a) => done(commands::access::audit(a, &ctx).await),
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
