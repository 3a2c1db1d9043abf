//! Aggregates for the UI: a query's count, the keys a project uses, dashboard counts
//! and the progress series, and refused duplicates.

use super::{Phase, SqlStore, args, json_text, parse_json, parse_run_id, run_id_text};
use crate::filter::{Bind, Sql};
use crate::map_err;
use cairn_domain::{Millis, ProjectName, ShortId};
use cairn_store::{ProjectKeys, ProjectSummary, Refusal, Result, RunQuery, StoreError};
use futures::TryStreamExt;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

const DAY: i64 = 86_400_000;
/// Runs in a dashboard's progress series besides the record setters.
const PROGRESS_SAMPLE: u64 = 2_000;
/// Up to this many runs, the progress line holds every record setter (one pass over
/// the runs); past it, a sample ([`SqlStore::sampled_progress`]).
const EXACT_PROGRESS: u64 = 20_000;
/// The highest and the lowest runs a sampled progress line always holds.
const PROGRESS_EXTREMES: i64 = 50;

impl SqlStore {
    async fn project_row_id(&self, project: &ProjectName) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM projects WHERE name = $1")
            .bind(project.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("project", project))
    }

    pub(super) async fn count_runs_sql(&self, q: &RunQuery) -> Result<u64> {
        let drive = self.driver(q).await?;
        let (sql, binds) = self.search_sql(q, None, drive.as_ref(), Phase::Count)?;
        let n: i64 =
            sqlx::query_scalar_with(AssertSqlSafe(sql), args(&binds)).fetch_one(&self.pool).await.map_err(map_err)?;
        Ok(n as u64)
    }

    /// The keys a project's live runs use. Each table is walked key by key through its
    /// `(key, …)` index (a seek per distinct key, however many runs share it), and a key
    /// is kept when a live run of the project has it: for params the project's param
    /// tally says so in one seek; for metrics and tags the first such run is looked for.
    /// Reading every row instead took seconds at a million runs.
    pub(super) async fn project_keys_sql(&self, project: &ProjectName) -> Result<ProjectKeys> {
        let id = self.project_row_id(project).await?;
        let params = self
            .walk_keys(
                id,
                "SELECT min(key) FROM param_tally WHERE project_id = $1 AND key > $2",
                "SELECT 1 FROM param_tally WHERE project_id = $1 AND key = $2 AND runs > 0 LIMIT 1",
            )
            .await?;
        let used = |table: &str| {
            // SQLite: a CROSS JOIN keeps the key's index rows first.
            let join = if self.dialect == crate::Dialect::Sqlite { "CROSS JOIN" } else { "," };
            (
                format!("SELECT min(key) FROM {table} WHERE key > $2 AND $1 = $1"),
                format!(
                    "SELECT 1 FROM {table} x {join} runs r WHERE r.id = x.run_id AND x.key = $2 \
                     AND r.project_id = $1 AND r.deleted_at IS NULL LIMIT 1"
                ),
            )
        };
        let (next, has) = used("metric_summaries");
        let metrics = self.walk_keys(id, &next, &has).await?;
        let (next, has) = used("run_tags");
        let tags = self.walk_keys(id, &next, &has).await?;
        Ok(ProjectKeys { params, metrics, tags })
    }

    /// Keys in order: `next` gives the first key after `$2`, `has` whether project `$1`
    /// uses key `$2`. At most [`MAX_KEYS`] keys are looked at.
    async fn walk_keys(&self, project_id: i64, next: &str, has: &str) -> Result<Vec<String>> {
        const MAX_KEYS: usize = 10_000;
        let mut out = Vec::new();
        let mut after = String::new();
        for _ in 0..MAX_KEYS {
            let key: Option<String> = sqlx::query_scalar(AssertSqlSafe(next.to_owned()))
                .bind(project_id)
                .bind(after.clone())
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
            let Some(key) = key else { break };
            let used = sqlx::query(AssertSqlSafe(has.to_owned()))
                .bind(project_id)
                .bind(key.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
            if used.is_some() {
                out.push(key.clone());
            }
            after = key;
        }
        Ok(out)
    }

    pub(super) async fn project_summary_sql(
        &self,
        project: &ProjectName,
        since: Millis,
        metric: Option<&str>,
    ) -> Result<ProjectSummary> {
        let id = self.project_row_id(project).await?;
        let mut out = ProjectSummary::default();
        // The tallies kept on write (migration 12): a few rows per day, whatever the
        // number of runs.
        let rows = sqlx::query(
            "SELECT status, CAST(sum(runs) AS BIGINT) AS n, CAST(sum(no_hypothesis) AS BIGINT) AS nh \
             FROM day_tally WHERE project_id = $1 GROUP BY status",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        for r in rows {
            let status: String = r.try_get("status").map_err(map_err)?;
            let n: i64 = r.try_get("n").map_err(map_err)?;
            out.no_hypothesis += r.try_get::<i64, _>("nh").map_err(map_err)? as u64;
            if n > 0 {
                out.runs += n as u64;
                out.by_status.insert(status, n as u64);
            }
        }
        let rows = sqlx::query(
            "SELECT day, CAST(sum(runs) AS BIGINT) AS n, \
             CAST(sum(CASE WHEN status = 'failed' THEN runs ELSE 0 END) AS BIGINT) AS failed \
             FROM day_tally WHERE project_id = $1 AND day >= $2 GROUP BY day ORDER BY day",
        )
        .bind(id)
        .bind(since.div_euclid(DAY))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        for r in rows {
            let day: i64 = r.try_get("day").map_err(map_err)?;
            let n: i64 = r.try_get("n").map_err(map_err)?;
            let failed: i64 = r.try_get("failed").map_err(map_err)?;
            if n > 0 {
                out.per_day.push((day * DAY, n as u64, failed as u64));
            }
        }
        if let Some(metric) = metric {
            (out.progress, out.progress_of) = if out.runs <= EXACT_PROGRESS {
                self.progress(id, metric, out.runs).await?
            } else {
                (self.sampled_progress(id, metric).await?, out.runs)
            };
        }
        // Flagged runs are few; the tag's index finds them.
        out.many_changes = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM run_tags t CROSS JOIN runs r \
             WHERE t.key = 'cairn.many_changes' AND r.id = t.run_id AND r.project_id = $1 AND r.deleted_at IS NULL",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)? as u64;
        Ok(out)
    }

    /// A large project's progress line: the runs at [`PROGRESS_SAMPLE`] evenly spaced
    /// moments of its history (each the first run at or after it) and its
    /// [`PROGRESS_EXTREMES`] highest and lowest runs, so the best-so-far line ends
    /// exactly at the best run in either direction. Bounded index reads, no pass over
    /// the runs.
    pub(crate) async fn sampled_progress(
        &self,
        project_id: i64,
        metric: &str,
    ) -> Result<Vec<(cairn_domain::RunId, ShortId, String, Millis, f64)>> {
        let (lo, hi): (Option<i64>, Option<i64>) = {
            let r = sqlx::query(
                "SELECT (SELECT min(created_at) FROM runs WHERE project_id = $1) AS lo, \
                 (SELECT max(created_at) FROM runs WHERE project_id = $1) AS hi",
            )
            .bind(project_id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
            (r.try_get("lo").map_err(map_err)?, r.try_get("hi").map_err(map_err)?)
        };
        let (Some(lo), Some(hi)) = (lo, hi) else { return Ok(vec![]) };
        let cols = "r.id, r.short_id, r.name, r.created_at, s.last";
        let finite = "s.last BETWEEN -1.7e308 AND 1.7e308";
        // SQLite keeps a CROSS JOIN's order; PostgreSQL plans it freely.
        let mut moments = Sql::new(self.dialect);
        let width = ((hi - lo) / PROGRESS_SAMPLE as i64).max(1);
        super::push_moments(&mut moments, project_id, lo, width, PROGRESS_SAMPLE as i64, false);
        moments.push(&format!("SELECT DISTINCT {cols} FROM picked k CROSS JOIN runs r CROSS JOIN metric_summaries s "));
        moments.push("WHERE r.id = k.id AND s.run_id = r.id AND s.key = ").bind_text(metric);
        moments.push(" AND ").push(finite);
        let extremes = |order: &str| {
            let mut sql = Sql::new(self.dialect);
            sql.push(&format!("SELECT {cols} FROM metric_summaries s CROSS JOIN runs r WHERE s.key = "));
            sql.bind_text(metric).push(" AND ").push(finite).push(" AND r.id = s.run_id AND r.project_id = ");
            sql.bind(Bind::Int(project_id)).push(&format!(" AND r.deleted_at IS NULL ORDER BY s.last {order} LIMIT "));
            sql.bind(Bind::Int(PROGRESS_EXTREMES));
            sql
        };
        let mut kept: HashMap<String, (ShortId, String, Millis, f64)> = HashMap::new();
        for sql in [moments, extremes("DESC"), extremes("ASC")] {
            let q = sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds));
            for r in q.fetch_all(&self.pool).await.map_err(map_err)? {
                let short: String = r.try_get("short_id").map_err(map_err)?;
                let short = ShortId::parse(&short)
                    .ok_or_else(|| StoreError::Internal(format!("stored short id '{short}' is malformed")))?;
                kept.insert(
                    r.try_get("id").map_err(map_err)?,
                    (
                        short,
                        r.try_get("name").map_err(map_err)?,
                        r.try_get("created_at").map_err(map_err)?,
                        r.try_get("last").map_err(map_err)?,
                    ),
                );
            }
        }
        let mut out = Vec::with_capacity(kept.len());
        for (id, (short, name, at, value)) in kept {
            out.push((parse_run_id(&id)?, short, name, at, value));
        }
        out.sort_by(|a, b| a.3.cmp(&b.3).then_with(|| a.1.to_string().cmp(&b.1.to_string())));
        Ok(out)
    }

    /// Every run that set a record (highest or lowest so far, so either direction's
    /// best-so-far line is exact) and an even sample of the rest, oldest first: one
    /// streamed pass in creation order, then the kept runs' names; and how many runs
    /// had a value.
    #[allow(clippy::type_complexity)]
    async fn progress(
        &self,
        project_id: i64,
        metric: &str,
        runs: u64,
    ) -> Result<(Vec<(cairn_domain::RunId, ShortId, String, Millis, f64)>, u64)> {
        let join = if self.dialect == crate::Dialect::Sqlite { "CROSS JOIN" } else { "JOIN" };
        let sql = format!(
            "SELECT r.id, r.created_at, s.last FROM runs r {join} metric_summaries s ON s.run_id = r.id AND s.key = $1 \
             WHERE r.project_id = $2 AND r.deleted_at IS NULL AND s.last BETWEEN -1.7e308 AND 1.7e308 \
             ORDER BY r.created_at"
        );
        let step = runs.div_ceil(PROGRESS_SAMPLE).max(1);
        let mut kept: Vec<(String, Millis, f64)> = Vec::new();
        let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
        let mut rows = sqlx::query(AssertSqlSafe(sql)).bind(metric.to_owned()).bind(project_id).fetch(&self.pool);
        let mut k = 0u64;
        while let Some(r) = rows.try_next().await.map_err(map_err)? {
            let value: f64 = r.try_get("last").map_err(map_err)?;
            let record = value > hi || value < lo;
            if record || k.is_multiple_of(step) {
                kept.push((r.try_get("id").map_err(map_err)?, r.try_get("created_at").map_err(map_err)?, value));
            }
            hi = hi.max(value);
            lo = lo.min(value);
            k += 1;
        }
        drop(rows);
        let mut names: HashMap<String, (String, String)> = HashMap::with_capacity(kept.len());
        for part in kept.chunks(2_000) {
            let sql = format!(
                "SELECT id, short_id, name FROM runs WHERE id IN ({})",
                super::list_placeholders(self.dialect, part.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (id, _, _) in part {
                q = q.bind(id.clone());
            }
            for r in q.fetch_all(&self.pool).await.map_err(map_err)? {
                names.insert(
                    r.try_get("id").map_err(map_err)?,
                    (r.try_get("short_id").map_err(map_err)?, r.try_get("name").map_err(map_err)?),
                );
            }
        }
        let mut out = Vec::with_capacity(kept.len());
        for (id, at, value) in kept {
            let Some((short, name)) = names.remove(&id) else { continue };
            let short = ShortId::parse(&short)
                .ok_or_else(|| StoreError::Internal(format!("stored short id '{short}' is malformed")))?;
            out.push((parse_run_id(&id)?, short, name, at, value));
        }
        Ok((out, k))
    }

    pub(super) async fn record_refusal_sql(&self, project: &ProjectName, r: &Refusal) -> Result<()> {
        let _turn = self.writer_turn().await;
        let id = self.project_row_id(project).await?;
        sqlx::query(
            "INSERT INTO refusals (project_id, at, owner, fingerprint, duplicate_of, hypothesis, command) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(r.at)
        .bind(r.owner.clone())
        .bind(r.fingerprint.clone())
        .bind(run_id_text(r.duplicate_of))
        .bind(r.hypothesis.clone())
        .bind(json_text(&r.command))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    pub(super) async fn refusals_sql(&self, project: &ProjectName, limit: u32) -> Result<(u64, Vec<Refusal>)> {
        let id = self.project_row_id(project).await?;
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM refusals WHERE project_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(map_err)?;
        let rows = sqlx::query(
            "SELECT at, owner, fingerprint, duplicate_of, hypothesis, command FROM refusals WHERE project_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2",
        )
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(Refusal {
                at: r.try_get("at").map_err(map_err)?,
                owner: r.try_get("owner").map_err(map_err)?,
                fingerprint: r.try_get("fingerprint").map_err(map_err)?,
                duplicate_of: parse_run_id(&r.try_get::<String, _>("duplicate_of").map_err(map_err)?)?,
                hypothesis: r.try_get("hypothesis").map_err(map_err)?,
                command: parse_json("command", r.try_get("command").map_err(map_err)?)?.unwrap_or_default(),
            });
        }
        Ok((total as u64, out))
    }
}
