//! Counts and samples that cost the same at a million matches as at ten thousand: a
//! count that stops at a bound and past it is estimated, and a sample spread over the
//! whole result (what parallel coordinates and scatter plots draw).
//!
//! Past the bound both read a sample of the store's runs instead of the result:
//! SQLite reads evenly spaced stretches of consecutive rows (rowid ranges, one seek
//! each; rows are numbered as they are inserted, so a stretch is a stretch of time);
//! PostgreSQL reads random pages (`TABLESAMPLE SYSTEM`, repeatable). Each sampled run is
//! tested against the whole query, and the share that matches, times the runs in
//! scope, is the estimate.

use super::{Phase, RUN_COLUMNS, SqlStore, args, decode_run, push_conditions};
use crate::filter::{self, Bind, Sql};
use crate::{Dialect, map_err};
use cairn_store::{Result, RunCount, RunQuery, RunSample, SampleMethod};
use sqlx::{AssertSqlSafe, Row};

/// Runs of the query's scope an estimate reads (the share's error is about
/// `sqrt(share / READ)`; 20,000 puts a 1% share within a tenth of itself).
const ESTIMATE_READ: i64 = 20_000;
/// The most rows one sample reads, whatever the store's size.
const READ_MAX: i64 = 400_000;
/// Stretches an SQLite sample is read in.
const STRETCHES: i64 = 64;
/// Fewer sampled runs of the scope than this, and the count is made exactly.
const SEEN_MIN: i64 = 200;

impl SqlStore {
    pub(super) async fn estimate_runs_sql(&self, q: &RunQuery, exact_up_to: u64) -> Result<RunCount> {
        let capped = self.count_up_to(q, exact_up_to).await?;
        if capped <= exact_up_to {
            return Ok(RunCount { n: capped, estimated: false });
        }
        let (scope, table) = (self.scope(q).await?, self.table().await?);
        if q.include_deleted || scope == 0 {
            return Ok(RunCount { n: self.count_runs_sql(q).await?, estimated: false });
        }
        let read = (ESTIMATE_READ.saturating_mul(table.rows) / scope).clamp(ESTIMATE_READ, READ_MAX);
        // `seen`: sampled runs in the query's scope; `hit`: those its filter matches too.
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT count(*) AS seen, CAST(coalesce(sum(CASE WHEN ");
        match &q.filter {
            Some(expr) => filter::push_expr(&mut sql, expr)?,
            None => {
                sql.push("1=1");
            }
        }
        sql.push(" THEN 1 ELSE 0 END), 0) AS BIGINT) AS hit");
        self.push_sampled_runs(&mut sql, read, &table);
        push_conditions(&mut sql, &RunQuery { filter: None, ..q.clone() })?;
        let row =
            sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).fetch_one(&self.pool).await.map_err(map_err)?;
        let seen: i64 = row.try_get("seen").map_err(map_err)?;
        let hit: i64 = row.try_get("hit").map_err(map_err)?;
        if seen < SEEN_MIN {
            return Ok(RunCount { n: self.count_runs_sql(q).await?, estimated: false });
        }
        // More than the bound match (counted), and no more than the scope holds.
        let n = ((hit as f64 / seen as f64) * scope as f64).round() as u64;
        Ok(RunCount { n: n.clamp(exact_up_to + 1, (scope as u64).max(exact_up_to + 1)), estimated: true })
    }

    pub(super) async fn sample_runs_sql(&self, q: &RunQuery, n: u32, exact_up_to: u64) -> Result<RunSample> {
        let n = u64::from(n.max(1));
        let total = self.estimate_runs_sql(q, exact_up_to.max(n)).await?;
        if !total.estimated {
            // Small enough to read in order: all of it, or every k-th.
            let k = total.n.div_ceil(n).max(1);
            let page = RunQuery { limit: total.n.max(1) as u32, offset: 0, ..q.clone() };
            let mut runs = cairn_store::MetadataStore::search_runs(self, &page).await?.runs;
            let method = if k == 1 {
                SampleMethod::All
            } else {
                runs = runs.into_iter().step_by(k as usize).collect();
                SampleMethod::EveryKth(k)
            };
            return Ok(RunSample { runs, total, method });
        }
        // Enough of the store that about `n` (and a margin) of the sampled runs match.
        let table = self.table().await?;
        let share = total.n as f64 / table.rows.max(1) as f64;
        let read = ((n as f64 * 1.25 / share.max(1e-9)) as i64).clamp(n as i64, READ_MAX.max(n as i64));
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT ").push(RUN_COLUMNS);
        self.push_sampled_runs(&mut sql, read, &table);
        push_conditions(&mut sql, q)?;
        sql.push(" LIMIT ").bind(Bind::Int(n as i64));
        let got =
            sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).fetch_all(&self.pool).await.map_err(map_err)?;
        let mut runs = got.iter().map(decode_run).collect::<Result<Vec<_>>>()?;
        self.hydrate(&mut runs).await?;
        Ok(RunSample { runs, total, method: SampleMethod::Scattered { read: read.min(table.rows) as u64 } })
    }

    /// Matches counted up to one past `cap`.
    async fn count_up_to(&self, q: &RunQuery, cap: u64) -> Result<u64> {
        let drive = self.driver(q).await?;
        let (inner, binds) = self.search_sql(q, None, drive.as_ref(), Phase::Select("1"))?;
        let sql = format!("SELECT count(*) FROM ({inner} LIMIT {}) t", cap.saturating_add(1));
        let n: i64 =
            sqlx::query_scalar_with(AssertSqlSafe(sql), args(&binds)).fetch_one(&self.pool).await.map_err(map_err)?;
        Ok(n as u64)
    }

    /// The runs table's size, deleted runs' included (PostgreSQL: as its statistics last
    /// counted them), and on SQLite its rowid span, read once for a sample.
    async fn table(&self) -> Result<RunsTable> {
        match self.dialect {
            Dialect::Sqlite => {
                // Two subqueries: SQLite reads min() or max() of the rowid in one seek only
                // when it is a query's sole aggregate.
                let (lo, hi): (Option<i64>, Option<i64>) =
                    sqlx::query_as("SELECT (SELECT min(rowid) FROM runs), (SELECT max(rowid) FROM runs)")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(-1));
                Ok(RunsTable { rows: hi - lo + 1, lo, hi })
            }
            Dialect::Postgres => {
                let rows = sqlx::query_scalar(
                    "SELECT CAST(greatest(coalesce((SELECT reltuples FROM pg_class WHERE oid = 'runs'::regclass), 0), \
                     (SELECT coalesce(sum(run_count), 0) FROM projects)) AS BIGINT)",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
                Ok(RunsTable { rows, lo: 0, hi: 0 })
            }
        }
    }

    /// ` FROM` about `read` of the store's runs as `r`, joined to their project `p`, and
    /// the start of the ` WHERE` clause.
    fn push_sampled_runs(&self, sql: &mut Sql, read: i64, table: &RunsTable) {
        match self.dialect {
            Dialect::Sqlite => {
                let (lo, hi) = (table.lo, table.hi);
                let stride = ((hi - lo + 1) / STRETCHES).max(1);
                let width = (read / STRETCHES).clamp(1, stride);
                // Each stretch sits in the middle of its stride.
                let first = lo + (stride - width) / 2;
                sql.push(" FROM (WITH RECURSIVE w(a) AS (SELECT ").bind(Bind::Int(first));
                sql.push(" UNION ALL SELECT a + ").bind(Bind::Int(stride)).push(" FROM w WHERE a + ");
                sql.bind(Bind::Int(stride)).push(" <= ").bind(Bind::Int(hi)).push(") SELECT a FROM w) w ");
                // CROSS JOINs fix the order: stretch, its rows by rowid, their project (else
                // SQLite starts from the project and walks its index for each stretch).
                sql.push("CROSS JOIN runs r CROSS JOIN projects p WHERE p.id = r.project_id AND r.rowid BETWEEN w.a AND w.a + ");
                sql.bind(Bind::Int(width - 1));
            }
            Dialect::Postgres => {
                let percent = (100.0 * read as f64 / table.rows.max(1) as f64).clamp(0.0001, 100.0);
                sql.push(" FROM runs r TABLESAMPLE SYSTEM (").bind(Bind::Real(percent));
                sql.push(") REPEATABLE (7) JOIN projects p ON p.id = r.project_id WHERE 1=1");
            }
        }
    }
}

/// What a sample needs to know of the runs table ([`SqlStore::table`]).
struct RunsTable {
    rows: i64,
    /// SQLite's lowest and highest rowid (0 on PostgreSQL).
    lo: i64,
    hi: i64,
}
