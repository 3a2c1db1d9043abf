//! Versioned schema migrations. The version lives in `cairn_meta`; opening an older
//! store applies what is missing in one transaction, opening a newer one refuses and
//! changes nothing, and a database with foreign tables but no `cairn_meta` is refused.

use crate::{Dialect, map_err};
use cairn_store::StoreError;
use sqlx::{AnyPool, Row};

pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
    /// Work SQL alone cannot do, run after `sql` in the same transaction.
    pub step: Option<Step>,
}

/// A migration's Rust-side work.
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// Index param text by what it means (`cairn_domain::meaning`): rows kept as text
    /// whose text reads as a number or a boolean get that type and number.
    ReadParamText,
}

async fn run_step(tx: &mut sqlx::AnyConnection, step: Step) -> Result<(), StoreError> {
    use futures::TryStreamExt;
    match step {
        Step::ReadParamText => {
            // Only the rows that change are held; a large store streams past the rest.
            let mut changed = Vec::new();
            let mut rows = sqlx::query("SELECT run_id, key, txt FROM run_params WHERE vtype = 'text'").fetch(&mut *tx);
            while let Some(row) = rows.try_next().await.map_err(map_err)? {
                let txt: Option<String> = row.try_get("txt").map_err(map_err)?;
                let Some(txt) = txt else { continue };
                let (vtype, num, _) = crate::store::param_row(&serde_json::Value::String(txt));
                if vtype != "text" {
                    let run_id: String = row.try_get("run_id").map_err(map_err)?;
                    let key: String = row.try_get("key").map_err(map_err)?;
                    changed.push((run_id, key, vtype, num));
                }
            }
            drop(rows);
            for (run_id, key, vtype, num) in changed {
                let q = sqlx::query("UPDATE run_params SET vtype = $1, num = $2 WHERE run_id = $3 AND key = $4")
                    .bind(vtype);
                crate::store::bind_real(q, num).bind(run_id).bind(key).execute(&mut *tx).await.map_err(map_err)?;
            }
        }
    }
    Ok(())
}

/// Applies pending migrations; returns the schema version now in force.
pub async fn run(
    pool: &AnyPool,
    dialect: Dialect,
    migrations: &[Migration],
    location: &str,
) -> Result<i64, StoreError> {
    let latest = migrations.last().map_or(0, |m| m.version);
    let mut tx = match dialect {
        // Take the write lock up front so two processes opening a new store serialise.
        Dialect::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?,
        Dialect::Postgres => pool.begin().await.map_err(map_err)?,
    };
    if dialect == Dialect::Postgres {
        // A migration may rewrite big tables: the statement timeout of ordinary
        // queries does not apply to it.
        sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(map_err)?;
        // Replicas starting together: one migrates, the others wait and then see it done.
        sqlx::query("SELECT pg_advisory_xact_lock(7468651295)").execute(&mut *tx).await.map_err(map_err)?;
    }
    let tables_sql = match dialect {
        Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Dialect::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = current_schema()"
        }
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| r.try_get::<String, _>("name"))
        .collect::<Result<_, _>>()
        .map_err(map_err)?;
    let current = if tables.iter().any(|t| t == "cairn_meta") {
        let v: Option<String> = sqlx::query_scalar("SELECT value FROM cairn_meta WHERE key = 'schema_version'")
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
        v.and_then(|v| v.parse::<i64>().ok()).ok_or_else(|| {
            StoreError::NotACairnStore(format!(
                "{location} has a cairn_meta table without a schema version; it is damaged or not a Cairn store"
            ))
        })?
    } else if !tables.is_empty() {
        return Err(StoreError::NotACairnStore(format!(
            "{location} already holds other tables ({}) and is not a Cairn store; \
             point --store at a new file or an empty database",
            tables.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        )));
    } else {
        0
    };
    if current > latest {
        return Err(StoreError::TooNew { found: current, supported: latest });
    }
    for m in migrations.iter().filter(|m| m.version > current) {
        tracing::info!(version = m.version, description = m.description, "applying migration");
        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sql)).execute(&mut *tx).await.map_err(map_err)?;
        if let Some(step) = m.step {
            run_step(&mut tx, step).await?;
        }
        sqlx::query(
            "INSERT INTO cairn_meta (key, value) VALUES ('schema_version', $1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(m.version.to_string())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(latest)
}
