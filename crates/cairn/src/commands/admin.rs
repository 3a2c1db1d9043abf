//! `cairn admin`: maintenance on a store named explicitly — the only commands besides
//! `cairn server` that open one. `migrate` brings a schema up to date, `backup` writes
//! a folder holding a consistent copy of the metadata (SQLite: `VACUUM INTO`, one
//! transaction; PostgreSQL: `pg_dump`, one snapshot), every artifact that copy
//! records (checked against its recorded BLAKE3 hash) and a manifest; `restore` puts
//! one back, metadata and artifacts. Both work while servers run on the store.

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
    /// Write a consistent copy of the store (metadata and artifacts) to a new folder,
    /// while servers run
    Backup {
        #[command(flatten)]
        store: Store,
        /// The folder to write (refused if it exists and is not empty)
        #[arg(value_name = "DEST", required_unless_present = "to")]
        dest: Option<PathBuf>,
        /// The same as DEST
        #[arg(long, conflicts_with = "dest", hide = true)]
        to: Option<PathBuf>,
        /// Where the artifacts are [default: the configured artifact storage]
        #[arg(long)]
        artifacts: Option<String>,
    },
    /// The store's users, without a server: make the first admin of a team server
    Users {
        #[command(subcommand)]
        action: AdminUsers,
    },
    /// Replace the store's metadata and artifacts with a backup (stop the servers
    /// using it first)
    Restore {
        #[command(flatten)]
        store: Store,
        /// The backup folder (or a metadata file from an older backup)
        #[arg(value_name = "SRC", required_unless_present = "from")]
        src: Option<PathBuf>,
        /// The same as SRC
        #[arg(long, conflicts_with = "src", hide = true)]
        from: Option<PathBuf>,
        /// Where to put the artifacts [default: the configured artifact storage]
        #[arg(long)]
        artifacts: Option<String>,
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
        Action::Backup { store, dest, to, artifacts } => {
            let dest = dest.or(to).context("name the folder to write the backup to")?;
            backup(&store.store, artifacts, &dest).await
        }
        Action::Restore { store, src, from, artifacts, force } => {
            let src = src.or(from).context("name the backup to restore")?;
            restore(&store.store, artifacts, &src, force).await
        }
        Action::Users { action } => users(action).await,
    }
}

fn redact(url: &str) -> String {
    if is_postgres(url) { cairn_store_postgres::redact(url) } else { url.to_owned() }
}

/// What a backup folder holds besides the metadata: written last, so a folder without
/// it is an unfinished backup.
#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    created_at: i64,
    /// `sqlite` or `postgres`: which file holds the metadata.
    store: String,
    metadata: String,
    artifacts: Vec<ManifestArtifact>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ManifestArtifact {
    run: String,
    path: String,
    size: u64,
    blake3: String,
}

const MANIFEST: &str = "manifest.json";

fn artifact_file(root: &Path, run: &str, path: &str) -> PathBuf {
    let mut p = root.join("artifacts").join(run);
    for seg in path.split('/') {
        p.push(seg);
    }
    p
}

async fn backup(url: &str, artifacts: Option<String>, dest: &Path) -> Result<()> {
    if dest.exists() && std::fs::read_dir(dest).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} exists and is not empty; name a new folder for the backup", dest.display());
    }
    let artifacts_url = settings::storage(Some(url.to_owned()), artifacts)?.artifacts_url;
    let source = cairn_artifacts::ArtifactStore::open(&artifacts_url)?;
    std::fs::create_dir_all(dest).with_context(|| format!("cannot create {}", dest.display()))?;
    // Opening checks it is a Cairn store (and brings it up to date) first.
    let store = settings::open_store(url).await?;
    drop(store);
    // The metadata first, as one snapshot; the artifacts it records next.
    let (kind, metadata, recorded) = if is_postgres(url) {
        let file = dest.join("metadata.pgdump");
        let out = tool("pg_dump")?
            .args(["--format=custom", "--no-owner", "--file"])
            .arg(&file)
            .arg(url)
            .output()
            .context("cannot run pg_dump")?;
        if !out.status.success() {
            bail!("pg_dump failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        // Artifacts recorded after the dump are copied too; a restore skips those
        // whose run the dump does not hold.
        let live = cairn_store_postgres::connect(url).await?;
        let recorded = live.artifact_manifest().await?;
        live.pool().close().await;
        ("postgres", file, recorded)
    } else {
        let file = dest.join("metadata.sqlite");
        cairn_store_sqlite::backup(sqlite_path(url), &file).await?;
        let copy = cairn_store_sqlite::open(&file).await?;
        let recorded = copy.artifact_manifest().await?;
        copy.pool().close().await;
        for side in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{side}", file.display()));
        }
        ("sqlite", file, recorded)
    };
    let mut listed = Vec::with_capacity(recorded.len());
    let mut problems = Vec::new();
    let mut bytes = 0u64;
    for (run, info) in &recorded {
        let target = artifact_file(dest, &run.to_string(), info.path.as_str());
        match copy_out(&source, *run, &info.path, &target).await {
            Ok(hash) if hash == info.blake3 => {}
            Ok(hash) => problems.push(format!(
                "{run}/{}: its bytes changed since the metadata was copied (recorded {}, now {hash})",
                info.path.as_str(),
                &info.blake3[..12.min(info.blake3.len())]
            )),
            Err(e) => problems.push(format!("{run}/{}: {e:#}", info.path.as_str())),
        }
        bytes += info.size;
        listed.push(ManifestArtifact {
            run: run.to_string(),
            path: info.path.as_str().to_owned(),
            size: info.size,
            blake3: info.blake3.clone(),
        });
    }
    let manifest = Manifest {
        format: 1,
        created_at: chrono::Utc::now().timestamp_millis(),
        store: kind.to_owned(),
        metadata: metadata.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned(),
        artifacts: listed,
    };
    let text = serde_json::to_vec_pretty(&manifest)?;
    std::fs::write(dest.join(MANIFEST), text).with_context(|| format!("cannot write {}", dest.display()))?;
    crate::outln!(
        "Backed up {} to {}: metadata ({} bytes) and {} artifact(s) ({bytes} bytes) from {artifacts_url}.",
        redact(url),
        dest.display(),
        std::fs::metadata(&metadata).map(|m| m.len()).unwrap_or(0),
        manifest.artifacts.len()
    );
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("cairn: artifact not backed up as recorded: {p}");
        }
        bail!("{} artifact(s) could not be copied as recorded (see above); the backup is incomplete", problems.len());
    }
    Ok(())
}

/// Streams one artifact into a file of the backup; returns the BLAKE3 of what it wrote.
async fn copy_out(
    source: &cairn_artifacts::ArtifactStore,
    run: cairn_domain::RunId,
    path: &cairn_domain::ArtifactPath,
    target: &Path,
) -> Result<String> {
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (_, mut stream) = source.get_stream(run, path).await?;
    let mut file =
        tokio::fs::File::create(target).await.with_context(|| format!("cannot write {}", target.display()))?;
    let mut hasher = blake3::Hasher::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(hasher.finalize().to_hex().to_string())
}

async fn restore(url: &str, artifacts: Option<String>, from: &Path, force: bool) -> Result<()> {
    let (metadata, manifest) = if from.is_dir() {
        let text = std::fs::read(from.join(MANIFEST)).with_context(|| {
            format!("{} has no {MANIFEST}: it is not a Cairn backup, or the backup did not finish", from.display())
        })?;
        let m: Manifest =
            serde_json::from_slice(&text).with_context(|| format!("{MANIFEST} in {} is unreadable", from.display()))?;
        let want = if is_postgres(url) { "postgres" } else { "sqlite" };
        if m.store != want {
            bail!("{} is a backup of a {} store; it cannot be restored into a {want} store", from.display(), m.store);
        }
        (from.join(&m.metadata), Some(m))
    } else if from.is_file() {
        (from.to_owned(), None)
    } else {
        bail!("no backup at {}", from.display());
    };
    restore_metadata(url, &metadata, force).await?;
    let store = settings::open_store(url).await?;
    let runs = store.count_runs(&cairn_store::RunQuery { include_deleted: true, ..Default::default() }).await?;
    let Some(m) = manifest else {
        crate::outln!("Restored the metadata of {} from {}: {runs} run(s).", redact(url), from.display());
        return Ok(());
    };
    let artifacts_url = settings::storage(Some(url.to_owned()), artifacts)?.artifacts_url;
    let target = cairn_artifacts::ArtifactStore::open(&artifacts_url)?;
    let mut put = 0usize;
    for a in &m.artifacts {
        let run =
            cairn_domain::RunId::parse(&a.run).with_context(|| format!("{MANIFEST} names the run '{}'", a.run))?;
        // Recorded after a PostgreSQL dump's snapshot: its run is not in this backup.
        if store.get_run(&cairn_domain::RunRef::Id(run)).await.is_err() {
            continue;
        }
        let path = cairn_domain::ArtifactPath::parse(a.path.clone())?;
        let file = artifact_file(from, &a.run, &a.path);
        let f = tokio::fs::File::open(&file).await.with_context(|| format!("the backup lacks {}", file.display()))?;
        let stream = tokio_util::io::ReaderStream::new(f);
        let stored = target.put_stream(run, &path, stream).await?;
        if stored.blake3 != a.blake3 {
            bail!("{}/{} in the backup does not match its recorded hash: the backup is damaged", a.run, a.path);
        }
        put += 1;
    }
    crate::outln!(
        "Restored {} from {}: {runs} run(s), {put} artifact(s) into {artifacts_url}.",
        redact(url),
        from.display()
    );
    Ok(())
}

async fn restore_metadata(url: &str, from: &Path, force: bool) -> Result<()> {
    if !from.is_file() {
        bail!("no metadata file {}", from.display());
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
