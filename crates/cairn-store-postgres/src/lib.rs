//! The team store: PostgreSQL, shared by any number of server replicas. Replicas
//! coordinate only through the database: migrations take an advisory lock, metric
//! appends lock their series row, everything else is a single transaction.

use cairn_store::StoreError;
use cairn_store_sql::{Dialect, Migration, SqlStore, Step, map_err};
use sqlx::any::AnyPoolOptions;
use std::collections::HashMap;
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

/// Connects to `url` (`postgres://user@host/db`) and brings the schema up to date.
/// Fails fast with a clear message when the server cannot be reached.
pub async fn connect(url: &str) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let shown = redact(url);
    let timeout_ms = cairn_store_sql::statement_timeout_secs() * 1000;
    let pool = AnyPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(10))
        // Every query is bounded: a runaway one is cancelled by PostgreSQL itself and
        // answered as a timeout, instead of holding a connection for minutes.
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::query(sqlx::AssertSqlSafe(format!("SET statement_timeout = {timeout_ms}")))
                    .execute(&mut *conn)
                    .await?;
                // No JIT: a search that reads one page can carry a large cost estimate
                // (its walk could be long), and compiling it took 160 ms of a 2 ms query.
                sqlx::query("SET jit = off").execute(&mut *conn).await?;
                // Plans made for the values at hand: after five runs of a prepared
                // statement PostgreSQL may switch to one generic plan, blind to whether a
                // status or a param value is rare or common, and for a search or an
                // analysis's index walk that plan was up to a hundred times slower.
                sqlx::query("SET plan_cache_mode = force_custom_plan").execute(&mut *conn).await?;
                Ok(())
            })
        })
        .connect(url)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to PostgreSQL at {shown}: {e}; is it running, and does the database exist?"
            ))
        })?;
    cairn_store_sql::migrate::run(&pool, Dialect::Postgres, MIGRATIONS, &shown).await?;
    analyze_if_stale(&pool, None).await;
    spawn_statistics_keeper(pool.clone());
    Ok(SqlStore::new(pool, Dialect::Postgres))
}

/// Tables whose planner statistics are older than a tenth of their rows get ANALYZEd.
/// PostgreSQL's autovacuum normally does this, but it may be off (it is on some test
/// and CI machines), and without statistics a search over 100,000 runs can pick a plan
/// that takes minutes instead of milliseconds. A table never analysed is analysed once it
/// changes at all: `projects` holds a row or two, and without its statistics PostgreSQL
/// took a project's runs for a few hundred and sorted 100,000 of them (0.4 s) instead of
/// reading a page in index order. With autovacuum off, a table that gained
/// a tenth of its rows since its last vacuum, and none since the keeper's last look
/// (`quiet`: a bulk load is not vacuumed over and over while it runs), is also VACUUMed:
/// that marks its pages all-visible, without which an index-only scan (a search's count
/// of a term's matches, the tallies' reads) fetches every row from the table and took
/// 20 ms instead of 1. Replicas may all do it; that is harmless. At connect only
/// ANALYZE runs (quick), so a server starts at once.
async fn analyze_if_stale(pool: &sqlx::AnyPool, mut quiet: Option<&mut HashMap<String, i64>>) {
    let stale: Vec<(String, bool, i64)> = match sqlx::query_as(
        "SELECT relname::text, current_setting('autovacuum') = 'off' \
         AND n_ins_since_vacuum + n_dead_tup > n_live_tup / 10 + 500, n_ins_since_vacuum \
         FROM pg_stat_user_tables WHERE schemaname = current_schema() \
         AND (n_mod_since_analyze > n_live_tup / 10 + 500 \
         OR (n_mod_since_analyze > 0 AND last_analyze IS NULL AND last_autoanalyze IS NULL) \
         OR (current_setting('autovacuum') = 'off' \
         AND n_ins_since_vacuum + n_dead_tup > n_live_tup / 10 + 500))",
    )
    .fetch_all(pool)
    .await
    {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "reading table statistics failed");
            return;
        }
    };
    for (table, vacuum, inserted) in stale {
        let still = match quiet.as_deref_mut() {
            Some(seen) => seen.insert(table.clone(), inserted) == Some(inserted),
            None => false,
        };
        // Names come from the catalogue, not from users; quoted all the same.
        let name = table.replace('"', "\"\"");
        let sql = if vacuum && still { format!("VACUUM (ANALYZE) \"{name}\"") } else { format!("ANALYZE \"{name}\"") };
        if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await {
            tracing::warn!(error = %e, table, "keeping the table's statistics failed");
        }
    }
}

fn spawn_statistics_keeper(pool: sqlx::AnyPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        let mut seen = HashMap::new();
        tick.tick().await;
        while !pool.is_closed() {
            tick.tick().await;
            analyze_if_stale(&pool, Some(&mut seen)).await;
        }
    });
}

/// The URL without its password, for messages and logs.
/// Seconds a statement may run before PostgreSQL cancels it, for connections opened
/// from now on (set before [`connect`]).
pub use cairn_store_sql::set_statement_timeout;

pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Creates an empty database beside the one `admin_url` names and returns its URL.
/// For tests and benchmarks that need a fresh PostgreSQL store each.
pub async fn create_scratch_database(admin_url: &str, prefix: &str) -> Result<String, StoreError> {
    sqlx::any::install_default_drivers();
    let pool = AnyPoolOptions::new().max_connections(1).connect(admin_url).await.map_err(map_err)?;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let name = format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000_000);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.map_err(map_err)?;
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://root@127.0.0.1/test"), "postgres://root@127.0.0.1/test");
    }
}
