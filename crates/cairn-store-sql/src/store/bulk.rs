//! Many runs in one transaction: the bulk API, importers and sweeps write a thousand
//! runs with a handful of multi-row statements instead of a score of statements per
//! run, which is what makes 10,000 rows a second possible on SQLite.

use super::{SqlStore, decode_run, list_placeholders, param_row, parse_run_id, run_id_text};
use crate::chunk;
use crate::filter::{Bind, Sql};
use crate::map_err;
use cairn_domain::{ArtifactInfo, MetricSummary, Run, RunId};
use cairn_store::{BulkRun, Result, StoreError};
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeMap, HashMap};

/// Bound values per statement: under SQLite's limit (32,766) and PostgreSQL's (65,535).
const MAX_BINDS: usize = 30_000;

/// The tallies of a batch of new runs, written by `scripts/tally-migrations.py` beside
/// the triggers they stand in for; `COUNTS` when no run of the batch has its project's
/// primary metric (nothing to judge, so no extremes to find).
const BATCH_TALLY_SQLITE: &str = include_str!("batch_tally.sqlite.sql");
const BATCH_TALLY_POSTGRES: &str = include_str!("batch_tally.postgres.sql");
const BATCH_COUNTS_SQLITE: &str = include_str!("batch_counts.sqlite.sql");
const BATCH_COUNTS_POSTGRES: &str = include_str!("batch_counts.postgres.sql");

impl SqlStore {
    /// Holds the tallies' insert triggers for the rest of `tx` (schema 14): a bulk write
    /// then tallies its runs once, with [`SqlStore::tally_batch`], instead of a trigger
    /// firing for every param row.
    async fn hold_tallies(&self, tx: &mut super::Tx) -> Result<()> {
        let sql = match self.dialect {
            crate::Dialect::Sqlite => "INSERT INTO tally_hold (held) VALUES (1)",
            crate::Dialect::Postgres => "SET LOCAL cairn.tally_hold = 'on'",
        };
        sqlx::raw_sql(sql).execute(&mut **tx).await.map_err(map_err)?;
        Ok(())
    }

    /// Lets the triggers go again, then adds the runs `ids` (all written in `tx` while
    /// held) to the tallies. The hold must end before `tx` commits: on SQLite its row
    /// would otherwise hold every later writer's triggers too.
    async fn tally_batch(&self, tx: &mut super::Tx, ids: &[String], judged: bool) -> Result<()> {
        let (release, sql) = match (self.dialect, judged) {
            (crate::Dialect::Sqlite, true) => ("DELETE FROM tally_hold", BATCH_TALLY_SQLITE),
            (crate::Dialect::Sqlite, false) => ("DELETE FROM tally_hold", BATCH_COUNTS_SQLITE),
            (crate::Dialect::Postgres, true) => ("SET LOCAL cairn.tally_hold = 'off'", BATCH_TALLY_POSTGRES),
            (crate::Dialect::Postgres, false) => ("SET LOCAL cairn.tally_hold = 'off'", BATCH_COUNTS_POSTGRES),
        };
        sqlx::raw_sql(release).execute(&mut **tx).await.map_err(map_err)?;
        let statements: Vec<String> = sql
            .split(";\n")
            .map(|s| s.lines().filter(|l| !l.starts_with("--")).collect::<Vec<_>>().join("\n"))
            .filter(|s| !s.trim().is_empty())
            .collect();
        for part in ids.chunks(MAX_BINDS / 2) {
            for statement in &statements {
                let text = statement.replace("{ids}", &list_placeholders(self.dialect, part.len()));
                let mut q = sqlx::query(AssertSqlSafe(text)).persistent(false);
                for id in part {
                    q = q.bind(id.as_str());
                }
                q.execute(&mut **tx).await.map_err(map_err)?;
            }
        }
        Ok(())
    }
}

/// `INSERT INTO table (cols) VALUES (…), (…)` for `rows`, in statements of at most
/// [`MAX_BINDS`] values, with their arguments: built before the write transaction
/// begins, so the store's one writer is not held while they are.
fn insert_statements(
    dialect: crate::Dialect,
    head: &str,
    width: usize,
    rows: Vec<Vec<Bind>>,
) -> Vec<(String, sqlx::any::AnyArguments)> {
    if dialect == crate::Dialect::Postgres {
        return json_inserts(head, rows);
    }
    let per = (MAX_BINDS / width).max(1);
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let mut sql = Sql::positional(dialect);
        sql.push(head).push(" VALUES ");
        for (i, row) in rows.by_ref().take(per).enumerate() {
            debug_assert_eq!(row.len(), width);
            sql.push(if i == 0 { "(" } else { ", (" });
            for (j, b) in row.into_iter().enumerate() {
                if j > 0 {
                    sql.push(", ");
                }
                sql.bind(b);
            }
            sql.push(")");
        }
        let args = super::args(&sql.binds);
        out.push((sql.text, args));
    }
    out
}

/// PostgreSQL: the rows as one JSON parameter, read back by
/// `json_populate_recordset` with the table's own column types, instead of a statement
/// of tens of thousands of parameters that PostgreSQL must parse and plan each time (a
/// thousand runs' params: 94 → 86 ms; most of what is left is the insert itself).
fn json_inserts(head: &str, rows: Vec<Vec<Bind>>) -> Vec<(String, sqlx::any::AnyArguments)> {
    use serde_json::Value;
    let (table, cols) = head
        .strip_prefix("INSERT INTO ")
        .and_then(|rest| rest.split_once(" ("))
        .map(|(t, c)| (t, c.trim_end_matches(')')))
        .expect("an INSERT INTO table (columns) head");
    let names: Vec<&str> = cols.split(',').map(str::trim).collect();
    let picked: Vec<String> = names.iter().map(|c| format!("x.{c}")).collect();
    let text = format!(
        "INSERT INTO {table} ({cols}) SELECT {} FROM json_populate_recordset(NULL::{table}, $1::json) x",
        picked.join(", ")
    );
    let value = |b: Bind| match b {
        Bind::Text(s) => Value::String(s),
        Bind::Int(i) => Value::from(i),
        // JSON has no infinities: PostgreSQL reads them from text.
        Bind::Real(f) if f.is_finite() => Value::from(f),
        Bind::Real(f) => Value::String(
            if f.is_nan() {
                "NaN"
            } else if f > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            }
            .to_owned(),
        ),
        Bind::Blob(bytes) => {
            let mut hex = String::with_capacity(2 + 2 * bytes.len());
            hex.push_str("\\x");
            const DIGITS: &[u8; 16] = b"0123456789abcdef";
            for b in bytes {
                hex.push(char::from(DIGITS[usize::from(b >> 4)]));
                hex.push(char::from(DIGITS[usize::from(b & 15)]));
            }
            Value::String(hex)
        }
        Bind::NullText | Bind::NullReal | Bind::NullInt | Bind::NullBlob => Value::Null,
    };
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Value> = rows
            .by_ref()
            .take(5_000)
            .map(|row| {
                debug_assert_eq!(row.len(), names.len());
                Value::Object(names.iter().zip(row).map(|(n, b)| (n.to_string(), value(b))).collect())
            })
            .collect();
        let json = serde_json::to_string(&chunk).expect("rows serialise");
        out.push((text.clone(), super::args(&[Bind::Text(json)])));
    }
    out
}

async fn execute_all(tx: &mut super::Tx, statements: Vec<(String, sqlx::any::AnyArguments)>) -> Result<()> {
    for (text, args) in statements {
        // Not kept as a prepared statement: the next batch's text is the same while its
        // NULLs fall on other placeholders, and PostgreSQL would hold it to the types
        // of the first (and a thousand-row statement is not worth caching anyway).
        sqlx::query_with(AssertSqlSafe(text), args).persistent(false).execute(&mut **tx).await.map_err(map_err)?;
    }
    Ok(())
}

fn opt_text(v: Option<String>) -> Bind {
    v.map_or(Bind::NullText, Bind::Text)
}
fn opt_int(v: Option<i64>) -> Bind {
    v.map_or(Bind::NullInt, Bind::Int)
}
fn opt_real(v: Option<f64>) -> Bind {
    v.filter(|f| !f.is_nan()).map_or(Bind::NullReal, Bind::Real)
}

impl SqlStore {
    pub(super) async fn create_runs_sql(&self, runs: &[BulkRun]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        // Every row, and every statement but the runs' (which needs the projects' ids),
        // is built before the write transaction begins: the store has one writer.
        let mut run_rows: Vec<Vec<Bind>> = runs
            .iter()
            .map(|b| {
                let r = &b.run;
                vec![
                    Bind::Text(run_id_text(r.id)),
                    Bind::Text(r.short_id.as_str().to_owned()),
                    // The project's id, filled in below once it is read in the transaction.
                    Bind::Int(0),
                    Bind::Text(r.name.clone()),
                    Bind::Text(r.description.clone()),
                    opt_text(r.hypothesis.clone()),
                    opt_text(r.expected.as_ref().map(super::json_text)),
                    opt_text(r.verdict.as_ref().map(super::json_text)),
                    Bind::Text(r.owner.clone()),
                    Bind::Text(r.status.as_str().to_owned()),
                    Bind::Int(r.created_at),
                    opt_int(r.started_at),
                    opt_int(r.ended_at),
                    opt_int(r.exit_code.map(i64::from)),
                    Bind::Text(super::json_text(&r.config)),
                    Bind::Text(super::json_text(&r.command)),
                    opt_text(r.code.as_ref().map(super::json_text)),
                    opt_text(r.data.as_ref().map(super::json_text)),
                    opt_text(r.environment.as_ref().map(super::json_text)),
                    Bind::Text(super::json_text(&r.seeds)),
                    opt_text(r.group_id.clone()),
                    opt_text(r.fingerprint.clone()),
                    opt_int(r.deleted_at),
                    Bind::Int(r.updated_at),
                    opt_text(r.changes.as_ref().map(super::json_text)),
                    Bind::Text(super::json_text(&r.config_sources)),
                ]
            })
            .collect();
        let mut tags = Vec::new();
        let mut params = Vec::new();
        let mut parents = Vec::new();
        let mut summaries = Vec::new();
        let mut chunks = Vec::new();
        for b in runs {
            let id = run_id_text(b.run.id);
            for (k, v) in &b.run.tags {
                tags.push(vec![Bind::Text(id.clone()), Bind::Text(k.clone()), Bind::Text(v.clone())]);
            }
            for (key, given) in cairn_domain::leaves(&b.run.config) {
                let (vtype, num, txt) = param_row(&given);
                params.push(vec![
                    Bind::Text(id.clone()),
                    Bind::Text(key),
                    Bind::Text(vtype.to_owned()),
                    opt_real(num),
                    opt_text(txt),
                ]);
            }
            for (pos, p) in b.run.parents.iter().enumerate() {
                parents.push(vec![Bind::Text(id.clone()), Bind::Text(run_id_text(*p)), Bind::Int(pos as i64)]);
            }
            let mut seen = std::collections::BTreeSet::new();
            for (key, series) in &b.metrics {
                series.check_lengths().map_err(|e| StoreError::Invalid(e.to_string()))?;
                if series.is_empty() {
                    continue;
                }
                if !seen.insert(key.as_str()) {
                    return Err(StoreError::Invalid(format!("metric '{}' is given twice for one run", key.as_str())));
                }
                let s = MetricSummary::fold(None, key.as_str(), series);
                let mut n_chunks = 0i64;
                let mut last_n = 0i64;
                for start in (0..series.len()).step_by(chunk::CHUNK_MAX) {
                    let end = (start + chunk::CHUNK_MAX).min(series.len());
                    let part = cairn_domain::MetricSeries {
                        steps: series.steps[start..end].to_vec(),
                        values: series.values[start..end].to_vec(),
                        timestamps: series.timestamps[start..end].to_vec(),
                    };
                    let (lo, hi) = part.steps.iter().fold((i64::MAX, i64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
                    let blobs = chunk::encode_packed(&part);
                    // A chunk shorter than a level-of-detail bucket is its own level of
                    // detail: none is stored (readers then read the points).
                    let lod =
                        (part.len() > chunk::LOD_BUCKET).then(|| chunk::encode_packed(&chunk::level_of_detail(&part)));
                    chunks.push(vec![
                        Bind::Text(id.clone()),
                        Bind::Text(key.as_str().to_owned()),
                        Bind::Int(n_chunks),
                        Bind::Int(part.len() as i64),
                        Bind::Int(lo),
                        Bind::Int(hi),
                        Bind::Blob(blobs.steps),
                        Bind::Blob(blobs.vals),
                        Bind::Blob(blobs.ts),
                        Bind::Int(chunk::CODEC_PACKED),
                        lod.as_ref().map_or(Bind::NullBlob, |l| Bind::Blob(l.steps.clone())),
                        lod.as_ref().map_or(Bind::NullBlob, |l| Bind::Blob(l.vals.clone())),
                        lod.map_or(Bind::NullBlob, |l| Bind::Blob(l.ts)),
                    ]);
                    n_chunks += 1;
                    last_n = part.len() as i64;
                }
                summaries.push(vec![
                    Bind::Text(id.clone()),
                    Bind::Text(key.as_str().to_owned()),
                    Bind::Int(s.count),
                    opt_real(Some(s.last)),
                    Bind::Int(i64::from(s.last.is_nan())),
                    Bind::Int(s.last_step),
                    Bind::Int(s.last_timestamp),
                    opt_real(s.min),
                    opt_int(s.min_step),
                    opt_real(s.max),
                    opt_int(s.max_step),
                    Bind::Int(n_chunks),
                    Bind::Int(last_n),
                ]);
            }
        }
        let d = self.dialect;
        let tags = insert_statements(d, "INSERT INTO run_tags (run_id, key, value)", 3, tags);
        let summaries = insert_statements(
            d,
            "INSERT INTO metric_summaries (run_id, key, point_count, last, last_nan, last_step, last_ts, min_value, \
             min_step, max_value, max_step, chunks, last_chunk_n)",
            13,
            summaries,
        );
        let params = insert_statements(d, "INSERT INTO run_params (run_id, key, vtype, num, txt)", 5, params);
        let parents = insert_statements(d, "INSERT INTO run_parents (child_id, parent_id, position)", 3, parents);
        let chunks = insert_statements(
            d,
            "INSERT INTO metric_chunks (run_id, key, seq, n, min_step, max_step, steps, vals, ts, codec, lod_steps, \
             lod_vals, lod_ts)",
            13,
            chunks,
        );
        let mut tx = self.write_tx().await?;
        self.hold_tallies(&mut tx).await?;
        // Projects by name, and a short id already taken (a fresh draw collides about
        // once per 10^12 / n): refused as a whole so the caller draws again.
        let mut projects: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        // Each project's primary metric: whether the batch has values to judge.
        let mut primary: HashMap<&str, Option<String>> = HashMap::new();
        for r in runs {
            if !projects.contains_key(r.run.project.as_str()) {
                let id = self.project_id(&mut tx, &r.run.project).await?;
                projects.insert(r.run.project.as_str(), (id, 0));
                let pm: Option<String> = sqlx::query_scalar("SELECT primary_metric FROM projects WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let pm: Option<cairn_domain::PrimaryMetric> = super::parse_json("primary_metric", pm)?;
                primary.insert(r.run.project.as_str(), pm.map(|m| m.key));
            }
            projects.get_mut(r.run.project.as_str()).expect("inserted").1 += 1;
        }
        let judged = runs.iter().any(|b| {
            primary[b.run.project.as_str()]
                .as_deref()
                .is_some_and(|key| b.metrics.iter().any(|(k, s)| k.as_str() == key && !s.is_empty()))
        });
        for part in runs.chunks(MAX_BINDS / 2) {
            let sql = format!(
                "SELECT short_id FROM runs WHERE short_id IN ({}) LIMIT 1",
                list_placeholders(self.dialect, part.len())
            );
            let mut q = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
            for r in part {
                q = q.bind(r.run.short_id.as_str().to_owned());
            }
            if let Some(taken) = q.fetch_optional(&mut *tx).await.map_err(map_err)? {
                return Err(StoreError::AlreadyExists(format!("run short id '{taken}'")));
            }
        }
        for (row, b) in run_rows.iter_mut().zip(runs) {
            row[2] = Bind::Int(projects[b.run.project.as_str()].0);
        }
        execute_all(
            &mut tx,
            insert_statements(
                self.dialect,
                "INSERT INTO runs (id, short_id, project_id, name, description, hypothesis, expected, verdict, owner, \
                 status, created_at, started_at, ended_at, exit_code, config, command, code, data, environment, seeds, \
                 group_id, fingerprint, deleted_at, updated_at, changes, config_sources)",
                26,
                run_rows,
            ),
        )
        .await?;
        execute_all(&mut tx, tags).await?;
        execute_all(&mut tx, summaries).await?;
        execute_all(&mut tx, params).await?;
        execute_all(&mut tx, parents).await.map_err(|e| match e {
            StoreError::NotFound { .. } => StoreError::not_found("parent run", "(one of the batch's parents)"),
            other => other,
        })?;
        execute_all(&mut tx, chunks).await?;
        let ids: Vec<String> = runs.iter().map(|b| run_id_text(b.run.id)).collect();
        self.tally_batch(&mut tx, &ids, judged).await?;
        for (id, n) in projects.values() {
            sqlx::query("UPDATE projects SET run_count = run_count + $1 WHERE id = $2")
                .bind(*n)
                .bind(*id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    pub(super) async fn get_runs_sql(&self, ids: &[RunId]) -> Result<Vec<Run>> {
        let mut out = Vec::with_capacity(ids.len());
        // The hydrating reads bind every id once; keep each read well under the limits.
        for part in ids.chunks(2_000) {
            let sql = format!(
                "SELECT {} FROM runs r JOIN projects p ON p.id = r.project_id WHERE r.id IN ({})",
                super::RUN_COLUMNS,
                list_placeholders(self.dialect, part.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in part {
                q = q.bind(run_id_text(*id));
            }
            let rows = q.fetch_all(&self.pool).await.map_err(map_err)?;
            let mut runs = rows.iter().map(decode_run).collect::<Result<Vec<_>>>()?;
            self.hydrate(&mut runs).await?;
            out.extend(runs);
        }
        Ok(out)
    }

    pub(super) async fn artifacts_of_sql(&self, ids: &[RunId]) -> Result<HashMap<RunId, Vec<ArtifactInfo>>> {
        let mut out: HashMap<RunId, Vec<ArtifactInfo>> = HashMap::new();
        for part in ids.chunks(2_000) {
            let sql = format!(
                "SELECT run_id, path, size, blake3, created_at FROM artifacts WHERE run_id IN ({}) ORDER BY path",
                list_placeholders(self.dialect, part.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in part {
                q = q.bind(run_id_text(*id));
            }
            for row in q.fetch_all(&self.pool).await.map_err(map_err)? {
                let run = parse_run_id(&row.try_get::<String, _>("run_id").map_err(map_err)?)?;
                out.entry(run).or_default().push(super::decode_artifact(&row)?);
            }
        }
        Ok(out)
    }
}
