//! `cairn admin`: maintenance on a store named explicitly — the only commands besides
//! `cairn server` that open one. `migrate` brings a schema up to date, `backup` writes
//! a consistent copy of the metadata (SQLite: `VACUUM INTO`; PostgreSQL: `pg_dump`),
//! `restore` puts one back. Artifacts live in their own storage and are backed up
//! with it (a folder copy, or the bucket's own versioning).

use crate::settings;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Args)]
struct Store {
    /// The metadata store: a file path, sqlite://PATH or postgres://USER@HOST/DB
    #[arg(long)]
    store: String,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Bring the store's schema up to date (what `cairn server` does when it starts)
    Migrate {
        #[command(flatten)]
        store: Store,
    },
    /// Write a consistent copy of the store's metadata to a file, while servers run
    Backup {
        #[command(flatten)]
        store: Store,
        /// The file to write (refused if it exists)
        #[arg(long)]
        to: PathBuf,
    },
    /// The store's users, without a server: make the first admin of a team server
    Users {
        #[command(subcommand)]
        action: AdminUsers,
    },
    /// Replace the store's metadata with a backup (stop the servers using it first)
    Restore {
        #[command(flatten)]
        store: Store,
        /// The backup file
        #[arg(long)]
        from: PathBuf,
        /// Replace a store that already holds runs
        #[arg(long)]
        force: bool,
    },
}

#[derive(clap::Subcommand)]
enum AdminUsers {
    /// Add a user with a password (asked for, or read from standard input)
    Add {
        name: String,
        #[command(flatten)]
        store: Store,
        /// An organisation admin (may manage users, teams and every project)
        #[arg(long)]
        admin: bool,
        /// Organisation role when not --admin
        #[arg(long, default_value = "editor", value_parser = ["viewer", "editor", "admin"])]
        role: String,
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the users
    Ls {
        #[command(flatten)]
        store: Store,
    },
    /// Set a user's password (and enable them again)
    Passwd {
        name: String,
        #[command(flatten)]
        store: Store,
        #[arg(long)]
        password_stdin: bool,
    },
}

/// A service over the store for maintenance: the server's own (system) caller.
async fn maintenance(url: &str) -> Result<cairn_server::Service> {
    let store = settings::open_store(url).await?;
    let artifacts = cairn_artifacts::ArtifactStore::open(&settings::storage(None, None)?.artifacts_url)?;
    Ok(cairn_server::Service::new(store, artifacts).with_caller(cairn_server::service::access::Caller::system()))
}

fn new_password(from_stdin: bool) -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let before = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = before.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)?;
    let read = |label: &str| -> Result<String> {
        eprint!("{label}: ");
        std::io::stderr().flush()?;
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        eprintln!();
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    };
    let first = read("new password");
    let second = read("again");
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &before);
    let (first, second) = (first?, second?);
    if first != second {
        bail!("the two passwords differ; nothing was changed");
    }
    Ok(first)
}

async fn users(action: AdminUsers) -> Result<()> {
    match action {
        AdminUsers::Add { name, store, admin, role, email, password_stdin } => {
            let service = maintenance(&store.store).await?;
            let password = new_password(password_stdin)?;
            let role = if admin {
                cairn_domain::auth::Role::Admin
            } else {
                cairn_domain::auth::Role::parse(&role).unwrap_or(cairn_domain::auth::Role::Editor)
            };
            let new = cairn_domain::auth::NewUser {
                name,
                display_name: String::new(),
                email,
                role: Some(role),
                password: Some(password),
            };
            let u = service.add_user(new, None).await.map_err(|e| anyhow::anyhow!(e.message))?;
            crate::outln!(
                "Added {} ({}) to {}. They sign in with `cairn login URL --username {}`.",
                u.name,
                u.role,
                redact(&store.store),
                u.name
            );
        }
        AdminUsers::Ls { store } => {
            let s = settings::open_store(&store.store).await?;
            for u in s.list_users().await? {
                crate::outln!(
                    "{}\t{}\t{}",
                    u.name,
                    u.role,
                    if u.disabled_at.is_some() { "disabled" } else { "active" }
                );
            }
        }
        AdminUsers::Passwd { name, store, password_stdin } => {
            let s = settings::open_store(&store.store).await?;
            let password = new_password(password_stdin)?;
            let hash =
                cairn_server::service::identity::hash_password(&password).map_err(|e| anyhow::anyhow!(e.message))?;
            let update = cairn_domain::auth::UserUpdate {
                password_hash: Some(hash),
                disabled_at: Some(None),
                ..Default::default()
            };
            s.update_user(&name, &update).await?;
            crate::outln!("Password of {name} set.");
        }
    }
    Ok(())
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn sqlite_path(url: &str) -> &Path {
    Path::new(url.strip_prefix("sqlite://").unwrap_or(url))
}

pub async fn run(args: Args) -> Result<()> {
    match args.action {
        Action::Migrate { store } => {
            let s = settings::open_store(&store.store).await?;
            s.ping().await?;
            crate::outln!("{}: schema up to date ({})", redact(&store.store), s.backend());
            Ok(())
        }
        Action::Backup { store, to } => backup(&store.store, &to).await,
        Action::Restore { store, from, force } => restore(&store.store, &from, force).await,
        Action::Users { action } => users(action).await,
    }
}

fn redact(url: &str) -> String {
    if is_postgres(url) { cairn_store_postgres::redact(url) } else { url.to_owned() }
}

async fn backup(url: &str, to: &Path) -> Result<()> {
    if to.exists() {
        bail!("{} exists; name a new file for the backup", to.display());
    }
    // Opening checks it is a Cairn store (and brings it up to date) first.
    let store = settings::open_store(url).await?;
    if is_postgres(url) {
        drop(store);
        let out = tool("pg_dump")?
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(to)
            .arg(url)
            .output()
            .context("cannot run pg_dump")?;
        if !out.status.success() {
            bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    } else {
        drop(store);
        cairn_store_sqlite::backup(sqlite_path(url), to).await?;
    }
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    crate::outln!(
        "Backed up the metadata of {} to {} ({size} bytes). Artifacts are not in it: back up their storage too.",
        redact(url),
        to.display()
    );
    Ok(())
}

async fn restore(url: &str, from: &Path, force: bool) -> Result<()> {
    if !from.is_file() {
        bail!("no backup file {}", from.display());
    }
    if is_postgres(url) {
        let store = settings::open_store(url).await?;
        let runs = store.count_runs(&Default::default()).await.unwrap_or(0);
        drop(store);
        if runs > 0 && !force {
            bail!("{} holds {runs} run(s); pass --force to replace them with the backup", redact(url));
        }
        let out = tool("pg_restore")?
            .args(["--clean", "--if-exists", "--no-owner", "--single-transaction", "--dbname"])
            .arg(url)
            .arg(from)
            .output()
            .context("cannot run pg_restore")?;
        if !out.status.success() {
            bail!("pg_restore failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    } else {
        // The backup must itself be a Cairn store before anything is replaced.
        cairn_store_sqlite::count_runs_in(from)
            .await
            .with_context(|| format!("{} is not a Cairn backup", from.display()))?;
        let path = sqlite_path(url);
        if path.exists() {
            let runs = cairn_store_sqlite::count_runs_in(path).await?;
            if runs > 0 && !force {
                bail!("{} holds {runs} run(s); pass --force to replace them with the backup", path.display());
            }
        }
        cairn_store_sqlite::restore(from, path).await?;
    }
    let store = settings::open_store(url).await?;
    let runs = store.count_runs(&Default::default()).await?;
    crate::outln!("Restored {} from {}: {runs} run(s).", redact(url), from.display());
    Ok(())
}

/// A PostgreSQL client tool, with a clear error when it is not installed.
fn tool(name: &str) -> Result<std::process::Command> {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file())).unwrap_or(false);
    if !found {
        bail!(
            "{name} is not on PATH: install PostgreSQL's client tools (Debian: postgresql-client) to back up or restore a PostgreSQL store"
        );
    }
    Ok(std::process::Command::new(name))
}
