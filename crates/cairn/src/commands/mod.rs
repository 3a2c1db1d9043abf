//! One module per subcommand: its clap arguments and its `run`.

pub mod baseline;
pub mod capture;
pub mod compare;
pub mod diff;
pub mod import;
pub mod insights;
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

/// `cairn sync`: sends the records kept while the server was unreachable.
pub async fn sync() -> anyhow::Result<()> {
    let home = crate::settings::home()?;
    if !crate::spool::dir(&home).exists() {
        crate::outln!("Nothing kept: every record reached the server.");
        return Ok(());
    }
    let client = crate::client::connect(&home).await?;
    let r = crate::spool::replay(&client, &home).await?;
    for d in &r.dropped {
        eprintln!("cairn: a kept record was refused and dropped: {d}");
    }
    if r.left > 0 {
        anyhow::bail!(
            "sent {} kept record(s); {} still wait: the server at {} stopped answering",
            r.sent,
            r.left,
            client.base
        );
    }
    crate::outln!("Sent {} kept record(s) to {}.", r.sent, client.base);
    Ok(())
}
