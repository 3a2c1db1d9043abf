//! The embedded default store: one SQLite file (normally `.cairn/cairn.db`).
//!
//! WAL journal, a generous busy timeout and write transactions that take the write
//! lock at `BEGIN` let several processes (servers, `cairn run`, the CLI) write the same
//! file without losing anything. A committed transaction is in the WAL before the
//! call returns, so killing the process afterwards loses nothing acknowledged.

use cairn_store::StoreError;
use cairn_store_sql::{Dialect, Migration, SqlStore, Step, map_err};
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "initial schema",
        sql: include_str!("../migrations/0001_initial.sql"),
        step: None,
    },
    Migration {
        version: 2,
        description: "packed metric chunks with a level of detail; project run counts",
        sql: include_str!("../migrations/0002_packed_chunks_run_counts.sql"),
        step: None,
    },
    Migration {
        version: 3,
        description: "metric batch ids for idempotent retries",
        sql: include_str!("../migrations/0003_metric_batches.sql"),
        step: None,
    },
    Migration {
        version: 4,
        description: "run changes, config sources, project primary metric",
        sql: include_str!("../migrations/0004_changes_sources_primary_metric.sql"),
        step: None,
    },
    Migration {
        version: 5,
        description: "project deletion, tags and update time",
        sql: include_str!("../migrations/0005_project_lifecycle_tags.sql"),
        step: None,
    },
    Migration {
        version: 6,
        description: "model registry and logged models",
        sql: include_str!("../migrations/0006_model_registry.sql"),
        step: None,
    },
    Migration {
        version: 7,
        description: "refused duplicate runs",
        sql: include_str!("../migrations/0007_refusals.sql"),
        step: None,
    },
    Migration {
        version: 8,
        description: "users, tokens, teams, project roles and visibility, audit log",
        sql: include_str!("../migrations/0008_auth.sql"),
        step: None,
    },
    Migration {
        version: 9,
        description: "params indexed by what their text means",
        sql: include_str!("../migrations/0009_param_meanings.sql"),
        step: Some(Step::ReadParamText),
    },
    Migration {
        version: 10,
        description: "metric batch digests, run heartbeats",
        sql: include_str!("../migrations/0010_batch_digests_heartbeats.sql"),
        step: None,
    },
    Migration {
        version: 11,
        description: "the runner: jobs, spans, events, agents, leases, settings, logs",
        sql: include_str!("../migrations/0011_runner.sql"),
        step: None,
    },
    Migration {
        version: 12,
        description: "tallies kept on write: runs per day, status and owner; runs per parameter value",
        sql: include_str!("../migrations/0012_tallies.sql"),
        step: None,
    },
    Migration {
        version: 13,
        description: "search indexes: run names by prefix",
        sql: include_str!("../migrations/0013_search_indexes.sql"),
        step: None,
    },
    Migration {
        version: 14,
        description: "bulk writes hold the tallies' insert triggers and tally their batch at once",
        sql: include_str!("../migrations/0014_tally_hold.sql"),
        step: None,
    },
    Migration {
        version: 15,
        description: "a project's runs by name",
        sql: include_str!("../migrations/0015_project_name_index.sql"),
        step: None,
    },
    Migration {
        version: 16,
        description: "experiment and model searches ordered by creation or update time",
        sql: include_str!("../migrations/0016_list_indexes.sql"),
        step: None,
    },
];

/// Whether every commit waits for the disk (`synchronous = FULL`: durable against power
/// loss) or only for the write-ahead log to reach the OS (`NORMAL`, the default:
/// durable against a killed process, and much faster). Set before [`open`].
static SYNC_FULL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `full` makes every commit durable against power loss; `normal` (the default)
/// against a killed process. Anything else is an error naming the choices.
pub fn set_sync(mode: &str) -> Result<(), StoreError> {
    let full = match mode.trim().to_ascii_lowercase().as_str() {
        "full" => true,
        "normal" | "" => false,
        other => {
            return Err(StoreError::Invalid(format!(
                "CAIRN_SQLITE_SYNC={other} is not a choice: use normal (durable against a killed process, the \
                 default) or full (also against power loss, slower)"
            )));
        }
    };
    SYNC_FULL.store(full, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// How long a writer waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (creating if needed) the store at `path` and brings its schema up to date.
pub async fn open(path: &Path) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create the store folder {}: {e}", dir.display())))?;
    }
    if path.is_dir() {
        return Err(StoreError::NotACairnStore(format!(
            "{} is a folder; the store must be a file such as {}/cairn.db",
            path.display(),
            path.display()
        )));
    }
    check_header(path)?;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let busy_ms = BUSY_TIMEOUT.as_millis();
    let sync = if SYNC_FULL.load(std::sync::atomic::Ordering::Relaxed) { "FULL" } else { "NORMAL" };
    let pool = AnyPoolOptions::new()
        .max_connections(8)
        .min_connections(1)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // synchronous=NORMAL in WAL mode: durable against a killed process
                // (what the server promises), not against power loss (FULL, by
                // CAIRN_SQLITE_SYNC=full). 16 KiB pages (set only when the file is
                // created) keep metric chunks on few pages. Reads go through a memory
                // map (no copy per page read: a store of a million runs reads many
                // index pages per request) and each connection caches 32 MiB of pages;
                // sorts and temporary B-trees stay in memory. The log is copied back
                // into the file every 128 MiB instead of every 32: bulk writes touch the
                // same index pages again and again (a thousand runs dirty ~2,000 pages
                // of a million-run store), and each copy writes a page once and costs an
                // fsync. Filling 300,000 runs took 16 % less than at 32 MiB.
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "PRAGMA page_size = 16384; PRAGMA busy_timeout = {busy_ms}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON; \
                     PRAGMA journal_size_limit = {WAL_RESTART_BYTES}; PRAGMA mmap_size = {MMAP_BYTES}; \
                     PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; \
                     PRAGMA wal_autocheckpoint = {CHECKPOINT_PAGES};"
                )))
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| match map_err(e) {
            StoreError::NotACairnStore(_) => not_sqlite(path),
            StoreError::Internal(m) | StoreError::Unavailable(m) => {
                StoreError::Unavailable(format!("cannot open the store {}: {m}", path.display()))
            }
            other => other,
        })?;
    let location = path.display().to_string();
    cairn_store_sql::migrate::run(&pool, Dialect::Sqlite, MIGRATIONS, &location).await.map_err(|e| match e {
        StoreError::NotACairnStore(m) if m.contains("not an SQLite database") => not_sqlite(path),
        other => other,
    })?;
    spawn_wal_keeper(pool.clone(), PathBuf::from(format!("{}-wal", path.display())));
    Ok(SqlStore::new(pool, Dialect::Sqlite))
}

/// When the write-ahead log passes this size it is checkpointed and truncated.
const WAL_RESTART_BYTES: u64 = 256 * 1024 * 1024;

/// Pages (16 KiB) of write-ahead log after which a commit copies it into the file.
const CHECKPOINT_PAGES: u64 = 8192;

/// How much of the store file is memory-mapped for reading (address space, not memory:
/// the pages are the operating system's file cache).
const MMAP_BYTES: u64 = 16 << 30;

/// SQLite recycles its write-ahead log only at a moment when no reader is using it;
/// a server whose readers never pause all at once would let it grow without bound,
/// and every read slows as it grows. Every few seconds, a log over the limit gets a
/// TRUNCATE checkpoint, which waits (within the busy timeout) for a quiet moment.
fn spawn_wal_keeper(pool: sqlx::AnyPool, wal: PathBuf) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));

        while !pool.is_closed() {
            tick.tick().await;

            let big = std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_RESTART_BYTES);
            if big && let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await {
                tracing::warn!(error = %e, "checkpointing the SQLite write-ahead log failed");
            }
        }
    });
}

/// Refuses, before SQLite touches it, a non-empty file that is not an SQLite database.
fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    let mut header = [0u8; 16];
    match std::fs::File::open(path) {
        Ok(mut f) => match f.read(&mut header) {
            Ok(0) => Ok(()),
            Ok(n) if n == 16 && &header == b"SQLite format 3\0" => Ok(()),
            Ok(_) => Err(not_sqlite(path)),
            Err(e) => Err(StoreError::Unavailable(format!("cannot read {}: {e}", path.display()))),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!("cannot open {}: {e}", path.display()))),
    }
}

fn not_sqlite(path: &Path) -> StoreError {
    StoreError::NotACairnStore(format!(
        "{} is not a Cairn store (it is not an SQLite database); move it aside or point --store elsewhere",
        path.display()
    ))
}

/// Writes a consistent copy of the store at `path` to `to` (SQLite's `VACUUM INTO`),
/// while other processes keep reading and writing it.
pub async fn backup(path: &Path, to: &Path) -> Result<(), StoreError> {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    check_header(path)?;
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let target = to.to_str().ok_or_else(|| StoreError::Invalid(format!("{} is not valid UTF-8", to.display())))?;
    sqlx::query("VACUUM INTO ?").bind(target.to_owned()).execute(&mut conn).await.map_err(map_err)?;
    conn.close().await.map_err(map_err)?;
    Ok(())
}

/// Processes (other than this one) that have `path` open, read from `/proc` (none
/// found where there is no `/proc`).
pub fn holders(path: &Path) -> Vec<u32> {
    let Ok(target) = std::fs::canonicalize(path) else { return vec![] };
    let me = std::process::id();
    let mut out = Vec::new();
    for proc_entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = proc_entry.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid == me {
            continue;
        }
        let open = std::fs::read_dir(proc_entry.path().join("fd"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target));
        if open {
            out.push(pid);
        }
    }
    out
}

/// Puts the backup `from` in place of the store at `to`. Refused while any process
/// has the store open (stop its servers first); the old write-ahead log goes with it,
/// so none of it is replayed into the restored store.
pub async fn restore(from: &Path, to: &Path) -> Result<(), StoreError> {
    let busy = holders(to);
    if !busy.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{} is open in process {}: stop the servers using it (`cairn server stop`) and restore again",
            to.display(),
            busy.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    let tmp = PathBuf::from(format!("{}.restoring", to.display()));
    std::fs::copy(from, &tmp).map_err(|e| StoreError::Unavailable(format!("cannot copy {}: {e}", from.display())))?;
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", to.display()));
    }
    std::fs::rename(&tmp, to).map_err(|e| StoreError::Unavailable(format!("cannot replace {}: {e}", to.display())))?;
    Ok(())
}

/// How many runs (deleted ones included) the Cairn store file at `path` holds, read
/// through one short-lived read-only connection; `Err` when it is not a Cairn store.
pub async fn count_runs_in(path: &Path) -> Result<u64, StoreError> {
    use sqlx::{Connection, Row};
    sqlx::any::install_default_drivers();
    check_header(path)?;
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut conn = sqlx::AnyConnection::connect(&url)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
    let row = sqlx::query("SELECT COUNT(*) FROM runs").fetch_one(&mut conn).await.map_err(|_| {
        StoreError::NotACairnStore(format!("{} is an SQLite file but not a Cairn store", path.display()))
    })?;
    let n: i64 = row.try_get(0).map_err(map_err)?;
    conn.close().await.map_err(map_err)?;
    Ok(n as u64)
}
