//! One module per subcommand: its clap arguments and its `run`. A command gathers
//! what it needs from the server (through `cairn-client`), computes what is left to
//! compute on this side (little: what only this checkout knows), and renders.

pub mod access;
pub mod admin;
pub mod agent;
pub mod baseline;
pub mod capture;
pub mod compare;
pub mod diff;
pub mod import;
pub mod insights;
pub mod jobs;
pub mod ls;
pub mod models;
pub mod projects;
pub mod review;
pub mod run;
pub mod server;
pub mod show;
pub mod study;
pub mod tried;

/// The project and the metric an analysis judges by (`compare`, `insights`, `tried`,
/// the studies).
#[derive(clap::Args)]
pub struct Judge {
    /// The project [default: env CAIRN_PROJECT, else "default"]
    #[arg(long, short)]
    pub project: Option<String>,
    /// The metric to judge by [default: the project's primary metric]
    #[arg(long, short)]
    pub metric: Option<String>,
    /// With --metric: lower values are better (e.g. a loss)
    #[arg(long)]
    pub lower_is_better: bool,
}

impl Judge {
    /// `lower_is_better` as the API takes it: only meaningful with a named metric.
    pub fn lower(&self) -> Option<bool> {
        self.metric.as_ref().map(|_| self.lower_is_better)
    }
}

/// The project `--project` names, else `CAIRN_PROJECT`, else `default`.
pub fn project_name(given: Option<String>) -> String {
    given.or_else(|| std::env::var("CAIRN_PROJECT").ok().filter(|p| !p.is_empty())).unwrap_or_else(|| "default".into())
}

/// The project of a command given runs: `--project` or `CAIRN_PROJECT` when set, else
/// the project of the first run that names one (a run id or short id; a replicate
/// group id names none), else `default`.
pub async fn project_of_runs(
    client: &cairn_client::Client,
    given: Option<String>,
    runs: &[String],
) -> anyhow::Result<String> {
    if let Some(p) = given.or_else(|| std::env::var("CAIRN_PROJECT").ok().filter(|p| !p.is_empty())) {
        return Ok(p);
    }
    for r in runs {
        if cairn_domain::RunRef::parse(r).is_err() {
            continue;
        }
        match client.run(r).await {
            Ok(run) => return Ok(run.project.to_string()),
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok("default".into())
}

/// `cairn sync`: sends the records kept while the server was unreachable.
pub async fn sync(ctx: &crate::Ctx) -> anyhow::Result<()> {
    let home = crate::settings::home()?;
    if !crate::spool::dir(&home).exists() {
        crate::outln!("Nothing kept: every record reached the server.");
        return Ok(());
    }
    let client = ctx.client().await?;
    let r = crate::spool::replay(&client, &home).await?;
    for d in &r.dropped {
        eprintln!("cairn: a kept record was refused and dropped: {d}");
    }
    if r.left > 0 {
        anyhow::bail!(
            "sent {} kept record(s); {} still wait: the server at {} stopped answering",
            r.sent,
            r.left,
            client.base()
        );
    }
    crate::outln!("Sent {} kept record(s) to {}.", r.sent, client.base());
    Ok(())
}
