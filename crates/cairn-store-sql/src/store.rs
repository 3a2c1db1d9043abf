use crate::chunk::{self, CHUNK_MAX, MERGE_BELOW};
use crate::filter::{self, Bind, Sql};
use crate::{Dialect, map_err};
use async_trait::async_trait;
mod analysis;
mod auth;
mod bulk;
mod dashboard;
mod groups;
mod listing;
mod registry;
mod runner;
mod sample;
mod tally;

use cairn_domain::auth::{
    AuditEntry, AuditQuery, Member, PrincipalKind, Role, Team, Token, TokenRecord, User, UserRecord, UserUpdate,
};
use cairn_domain::{
    ArtifactInfo, ArtifactPath, LoggedModel, MetricKey, MetricSeries, MetricSummary, Millis, NewProject, ParamValue,
    Project, ProjectName, ProjectPatch, Run, RunId, RunRef, RunStatus, ShortId,
};
use cairn_domain::{
    ModelVersion, ModelVersionPatch, NewModelVersion, NewRegisteredModel, RegisteredModel, RegisteredModelPatch,
};
use cairn_store::{
    ListQuery, MetadataStore, ProjectKeys, ProjectSummary, Refusal, Result, RunBrief, RunPage, RunQuery, RunRecord,
    RunUpdate, StepRange, StoreError,
};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, AnyPool, Arguments, AssertSqlSafe, Row, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

/// The relational store. Cheap to clone (the pool and the writers' queue are shared).
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    pub(crate) dialect: Dialect,
    /// SQLite has one writer at a time. Writers of this process wait their turn here, in
    /// order and woken at once, instead of in SQLite's busy handler, which polls with
    /// sleeps of up to 100 ms: two bulk writers in turn took longer than one after the
    /// other. (Another process's writer still meets the busy handler.)
    writers: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// A write transaction, holding this process's turn to write (SQLite) until it ends.
/// Dereferences to the connection, as a [`Transaction`] does.
pub(crate) struct Tx {
    // Declared first, so it ends (rolled back unless committed) before the turn passes.
    inner: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Tx {
    async fn commit(self) -> std::result::Result<(), sqlx::Error> {
        self.inner.commit().await
    }
}

impl std::ops::Deref for Tx {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.inner
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.inner
    }
}

/// Stores smaller than this always walk runs in order (it is fast at any selectivity).
const DRIVE_FROM: i64 = 20_000;
/// The most index rows a search starts from (see [`SqlStore::driver`]).
const DRIVE_MAX: i64 = 5_000;

const RUN_COLUMNS: &str = "r.id, r.short_id, p.name AS project, r.name, r.description, r.hypothesis, \
    r.expected, r.verdict, r.owner, r.status, r.created_at, r.started_at, r.ended_at, r.exit_code, \
    r.config, r.command, r.code, r.data, r.environment, r.seeds, r.group_id, r.fingerprint, \
    r.deleted_at, r.updated_at, r.changes, r.config_sources";

/// Opens a `WITH` clause whose `picked(id)` holds the first live run of `project_id` at or
/// after each of `count` moments, `width` apart from `lo` (finished runs only when
/// `finished`): a sample stratified by creation time, each member one index seek.
fn push_moments(sql: &mut Sql, project_id: i64, lo: i64, width: i64, count: i64, finished: bool) {
    sql.push("WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < ").bind(Bind::Int(count - 1));
    sql.push("), picked AS (SELECT (SELECT r.id FROM runs r WHERE r.project_id = ").bind(Bind::Int(project_id));
    sql.push(" AND r.created_at >= ").bind(Bind::Int(lo)).push(" + t.i * ").bind(Bind::Int(width));
    sql.push(if finished {
        " AND r.deleted_at IS NULL AND r.status = 'finished'"
    } else {
        " AND r.deleted_at IS NULL"
    });
    sql.push(" ORDER BY r.created_at LIMIT 1) AS id FROM t) ");
}

/// `AND` each condition of the query on run `r` of project `p`: its project, the
/// projects hidden from the caller, deletion, the snapshot time and the filter.
fn push_conditions(sql: &mut Sql, q: &RunQuery) -> Result<()> {
    if let Some(project) = &q.project {
        sql.push(" AND p.name = ").bind_text(project.as_str());
        if sql.dialect == Dialect::Postgres {
            // The project's id as a constant (an InitPlan): PostgreSQL then reads a
            // `(project_id, …)` index in order (runs by name: 0.9 ms, not a 0.5 s sort
            // of the project behind a hash join).
            sql.push(" AND r.project_id = (SELECT id FROM projects WHERE name = ").bind_text(project.as_str());
            sql.push(")");
        }
    }
    for hidden in &q.hidden_projects {
        sql.push(" AND r.project_id <> ").bind(Bind::Int(*hidden));
    }
    if !q.include_deleted {
        sql.push(" AND r.deleted_at IS NULL");
    }
    if let Some(t) = q.created_at_most {
        // Unary plus: the snapshot bound keeps nearly every run, so it must not steer
        // the planner to the creation-time index when the order is by another column.
        sql.push(" AND +r.created_at <= ").bind(Bind::Int(t));
    }
    if let Some(expr) = &q.filter {
        expr.check_limits().map_err(StoreError::Invalid)?;
        for needle in filter::config_needles(expr) {
            sql.push(match sql.dialect {
                Dialect::Sqlite => " AND instr(r.config, ",
                Dialect::Postgres => " AND strpos(r.config, ",
            });
            sql.bind_text(&needle).push(") > 0");
        }
        sql.push(" AND ");
        filter::push_expr(sql, expr)?;
    }
    Ok(())
}

/// Binds an optional float so that PostgreSQL takes it as a `float8` either way. sqlx
/// 0.9's `Any` driver sends a NULL `f64` as a `float4` (and a NULL `f32` as a `float8`):
/// a cached statement first run with such a NULL declares that parameter `float4` and
/// refuses every later 8-byte value ("incorrect binary data format in bind parameter").
pub(crate) fn bind_real<'q>(
    q: sqlx::query::Query<'q, Any, AnyArguments>,
    v: Option<f64>,
) -> sqlx::query::Query<'q, Any, AnyArguments> {
    match v {
        Some(f) => q.bind(f),
        None => q.bind(None::<f32>),
    }
}

fn args(binds: &[Bind]) -> AnyArguments {
    let mut a = AnyArguments::default();
    for b in binds {
        // Adding a value of a supported type cannot fail.
        let r = match b {
            Bind::Text(s) => a.add(s.clone()),
            Bind::Real(f) => a.add(*f),
            Bind::Int(i) => a.add(*i),
            Bind::Blob(b) => a.add(b.clone()),
            Bind::NullText => a.add(None::<String>),
            // A NULL `f32` reaches PostgreSQL as a `float8` (see `bind_real`).
            Bind::NullReal => a.add(None::<f32>),
            Bind::NullInt => a.add(None::<i64>),
            Bind::NullBlob => a.add(None::<Vec<u8>>),
        };
        r.expect("bind supported value");
    }
    a
}

fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("domain values serialise")
}

fn parse_json<T: serde::de::DeserializeOwned>(col: &str, s: Option<String>) -> Result<Option<T>> {
    s.map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| StoreError::Internal(format!("column {col} holds unreadable JSON: {e}")))
}

fn run_id_text(id: RunId) -> String {
    id.0.simple().to_string()
}

fn parse_run_id(s: &str) -> Result<RunId> {
    Uuid::parse_str(s).map(RunId).map_err(|e| StoreError::Internal(format!("bad run id {s}: {e}")))
}

fn decode_run(row: &AnyRow) -> Result<Run> {
    let g = |e: sqlx::Error| map_err(e);
    let status: String = row.try_get("status").map_err(g)?;
    Ok(Run {
        id: parse_run_id(&row.try_get::<String, _>("id").map_err(g)?)?,
        short_id: ShortId::parse(&row.try_get::<String, _>("short_id").map_err(g)?)
            .ok_or_else(|| StoreError::Internal("bad short id".into()))?,
        project: ProjectName::parse(row.try_get::<String, _>("project").map_err(g)?)
            .map_err(|e| StoreError::Internal(e.to_string()))?,
        name: row.try_get("name").map_err(g)?,
        description: row.try_get("description").map_err(g)?,
        hypothesis: row.try_get("hypothesis").map_err(g)?,
        expected: parse_json("expected", row.try_get("expected").map_err(g)?)?,
        verdict: parse_json("verdict", row.try_get("verdict").map_err(g)?)?,
        owner: row.try_get("owner").map_err(g)?,
        tags: Default::default(),
        status: RunStatus::parse(&status).map_err(|e| StoreError::Internal(e.to_string()))?,
        created_at: row.try_get("created_at").map_err(g)?,
        started_at: row.try_get("started_at").map_err(g)?,
        ended_at: row.try_get("ended_at").map_err(g)?,
        exit_code: row.try_get::<Option<i64>, _>("exit_code").map_err(g)?.map(|c| c as i32),
        config: parse_json("config", row.try_get("config").map_err(g)?)?.unwrap_or_default(),
        command: parse_json("command", row.try_get("command").map_err(g)?)?.unwrap_or_default(),
        code: parse_json("code", row.try_get("code").map_err(g)?)?,
        data: parse_json("data", row.try_get("data").map_err(g)?)?,
        environment: parse_json("environment", row.try_get("environment").map_err(g)?)?,
        seeds: parse_json("seeds", row.try_get("seeds").map_err(g)?)?.unwrap_or_default(),
        parents: Vec::new(),
        children: Vec::new(),
        group_id: row.try_get("group_id").map_err(g)?,
        fingerprint: row.try_get("fingerprint").map_err(g)?,
        metrics: Vec::new(),
        deleted_at: row.try_get("deleted_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
        changes: parse_json("changes", row.try_get("changes").map_err(g)?)?,
        config_sources: parse_json("config_sources", row.try_get("config_sources").map_err(g)?)?.unwrap_or_default(),
    })
}

fn decode_summary(row: &AnyRow) -> Result<(MetricSummary, i64, i64)> {
    let g = |e: sqlx::Error| map_err(e);
    let last_nan: i64 = row.try_get("last_nan").map_err(g)?;
    let last: Option<f64> = row.try_get("last").map_err(g)?;
    Ok((
        MetricSummary {
            key: row.try_get("key").map_err(g)?,
            count: row.try_get("point_count").map_err(g)?,
            last: if last_nan != 0 { f64::NAN } else { last.unwrap_or(f64::NAN) },
            last_step: row.try_get("last_step").map_err(g)?,
            last_timestamp: row.try_get("last_ts").map_err(g)?,
            min: row.try_get("min_value").map_err(g)?,
            min_step: row.try_get("min_step").map_err(g)?,
            max: row.try_get("max_value").map_err(g)?,
            max_step: row.try_get("max_step").map_err(g)?,
        },
        row.try_get("chunks").map_err(g)?,
        row.try_get("last_chunk_n").map_err(g)?,
    ))
}

fn decode_project(row: &AnyRow) -> Result<Project> {
    let g = |e: sqlx::Error| map_err(e);
    Ok(Project {
        id: row.try_get("id").map_err(g)?,
        name: ProjectName::parse(row.try_get::<String, _>("name").map_err(g)?)
            .map_err(|e| StoreError::Internal(e.to_string()))?,
        description: row.try_get("description").map_err(g)?,
        require_hypothesis: row.try_get::<i64, _>("require_hypothesis").map_err(g)? != 0,
        primary_metric: parse_json("primary_metric", row.try_get("primary_metric").map_err(g)?)?,
        created_at: row.try_get("created_at").map_err(g)?,
        updated_at: row.try_get("updated_at").map_err(g)?,
        run_count: row.try_get("run_count").map_err(g)?,
        tags: parse_json("tags", row.try_get("tags").map_err(g)?)?.unwrap_or_default(),
        deleted_at: row.try_get("deleted_at").map_err(g)?,
        visibility: cairn_domain::auth::Visibility::parse(&row.try_get::<String, _>("visibility").map_err(g)?)
            .unwrap_or_default(),
    })
}

const PROJECT_SELECT: &str = "SELECT p.id, p.name, p.description, p.require_hypothesis, p.primary_metric, p.created_at, \
     p.updated_at, p.run_count, p.tags, p.deleted_at, p.visibility FROM projects p";

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// Placeholders for a statement whose only values are a list of `n`: plain `?` on
/// SQLite (see [`Sql::positional`]), `$1…$n` on PostgreSQL.
fn list_placeholders(dialect: Dialect, n: usize) -> String {
    match dialect {
        Dialect::Sqlite => vec!["?"; n].join(", "),
        Dialect::Postgres => placeholders(1, n),
    }
}

/// The parts of a search query.
enum Phase<'a> {
    /// A page of runs that have the lead key (joined as `o`), or of all runs without one.
    Page { rest: &'a [cairn_query::OrderKey], limit: i64, offset: i64 },
    /// How many runs have the lead key and match.
    Count,
    /// These columns of the matching runs (`r`, `p`), in no order.
    Select(&'a str),
    /// A page of runs that do not have the lead key.
    Missing { lead: &'a filter::Lead<'a>, rest: &'a [cairn_query::OrderKey], limit: i64, offset: i64 },
}

impl SqlStore {
    fn search_sql(
        &self,
        q: &RunQuery,
        lead: Option<&filter::Lead>,
        drive: Option<&filter::Driver>,
        phase: Phase,
    ) -> Result<(String, Vec<Bind>)> {
        let mut sql = Sql::new(self.dialect);
        let drive = drive.filter(|_| lead.is_none() && !matches!(phase, Phase::Missing { .. }));
        if let (Some(d), Dialect::Postgres) = (drive, self.dialect) {
            // A materialised list keeps PostgreSQL from walking every run instead.
            sql.push("WITH d AS MATERIALIZED (SELECT ").push(d.id_column()).push(" AS run_id FROM ").push(d.table);
            sql.push(" x WHERE ");
            d.push_condition(&mut sql, "x");
            sql.push(") ");
        }
        sql.push("SELECT ").push(match phase {
            Phase::Count => "count(*)",
            Phase::Select(columns) => columns,
            _ => RUN_COLUMNS,
        });
        match (lead, drive) {
            // Drive from the lead key's rows: its (key, value) index gives the order, so
            // the first page comes after reading about a page of rows. SQLite keeps the
            // order of a CROSS JOIN, which makes this plan independent of statistics;
            // PostgreSQL's planner chooses with its own.
            (Some(l), _) => {
                let join = if self.dialect == Dialect::Sqlite { " CROSS JOIN" } else { " JOIN" };
                sql.push(" FROM ").push(l.table).push(" o").push(join);
                sql.push(" runs r ON r.id = o.run_id JOIN projects p ON p.id = r.project_id WHERE o.key = ");
                sql.bind_text(l.key).push(" AND o.").push(l.column).push(" IS NOT NULL");
            }
            // Start from the runs an index lists for one selective term of the filter
            // (the whole filter is still applied to each); the page is sorted after.
            (None, Some(d)) => match self.dialect {
                Dialect::Sqlite => {
                    sql.push(" FROM ")
                        .push(d.table)
                        .push(" d CROSS JOIN runs r ON r.id = d.")
                        .push(d.id_column())
                        .push(" ");
                    sql.push("JOIN projects p ON p.id = r.project_id WHERE ");
                    d.push_condition(&mut sql, "d");
                }
                Dialect::Postgres => {
                    sql.push(" FROM d JOIN runs r ON r.id = d.run_id JOIN projects p ON p.id = r.project_id WHERE 1=1");
                }
            },
            (None, None) => {
                // A project's runs by name: its (project, name) index gives the order, and
                // a page is read after about a page of rows. SQLite's planner, without
                // statistics, would rather sort the whole project (0.4 s at a million).
                let by_name = self.dialect == Dialect::Sqlite
                    && q.project.is_some()
                    && matches!(phase, Phase::Page { .. })
                    && q.order.first().is_some_and(|o| o.field == cairn_query::Field::Attr(cairn_query::Attr::Name));
                sql.push(if by_name { " FROM runs r INDEXED BY runs_project_name" } else { " FROM runs r" });
                sql.push(" JOIN projects p ON p.id = r.project_id WHERE 1=1");
            }
        }
        push_conditions(&mut sql, q)?;
        let (rest, limit, offset) = match phase {
            Phase::Count | Phase::Select(_) => return Ok((sql.text, sql.binds)),
            Phase::Page { rest, limit, offset } => (rest, limit, offset),
            Phase::Missing { lead: l, rest, limit, offset } => {
                sql.push(" AND NOT EXISTS (SELECT 1 FROM ")
                    .push(l.table)
                    .push(" m WHERE m.run_id = r.id AND m.key = ")
                    .bind_text(l.key)
                    .push(" AND m.")
                    .push(l.column)
                    .push(" IS NOT NULL)");
                (rest, limit, offset)
            }
        };
        let head = match (&phase, lead) {
            (Phase::Missing { lead: l, .. }, _) => filter::OrderHead::Missing(l),
            (_, Some(l)) => filter::OrderHead::Joined(l),
            _ => filter::OrderHead::None,
        };
        sql.push(" ORDER BY ");
        filter::push_order(&mut sql, head, rest);
        sql.push(" LIMIT ").bind(Bind::Int(limit)).push(" OFFSET ").bind(Bind::Int(offset));
        Ok((sql.text, sql.binds))
    }

    /// The term of the query's filter to start from, when one is selective enough that
    /// reading the runs its index lists costs less than walking the runs in the asked
    /// order until a page is full. Each candidate's matches are counted in its index, up
    /// to [`DRIVE_MAX`]; the walk's length is estimated from the terms' shares of the
    /// runs in scope (as if independent). Small stores always walk.
    pub(crate) async fn driver<'q>(&self, q: &'q RunQuery) -> Result<Option<filter::Driver<'q>>> {
        let Some(expr) = &q.filter else { return Ok(None) };
        let candidates = filter::drivers(expr);
        if candidates.is_empty() {
            return Ok(None);
        }
        let scope = self.scope(q).await?;
        if scope < DRIVE_FROM {
            return Ok(None);
        }
        let mut best: Option<(i64, filter::Driver)> = None;
        let mut share = 1.0f64;
        for d in candidates {
            // A string param's value: the project's tally counts its runs (one row per
            // owner). Past the cap that settles it (the index holds at least as many
            // rows) without counting index rows up to the cap; under it, the index is
            // counted, as it also lists other projects' runs the search would read.
            let tallied = match (&q.project, d.table, d.key, &d.cond) {
                (Some(p), "run_params", Some(key), filter::DriveCond::Cmp(cairn_query::CmpOp::Eq, Bind::Text(v)))
                    if d.column == "txt" && !key.contains('.') && filter::only_a_string_reads_as(v) =>
                {
                    let n: Option<i64> = sqlx::query_scalar(
                        "SELECT CAST(sum(runs) AS BIGINT) FROM param_tally \
                         WHERE project_id = (SELECT id FROM projects WHERE name = $1) AND key = $2 AND value = $3",
                    )
                    .bind(p.as_str().to_owned())
                    .bind(key.to_owned())
                    .bind(format!("text:{v}"))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    n.filter(|&n| n > DRIVE_MAX)
                }
                _ => None,
            };
            let n: i64 = match tallied {
                Some(n) => n,
                None => {
                    let mut sql = Sql::new(self.dialect);
                    sql.push("SELECT count(*) FROM (SELECT 1 FROM ").push(d.table).push(" x WHERE ");
                    d.push_condition(&mut sql, "x");
                    sql.push(&format!(" LIMIT {}) t", DRIVE_MAX + 1));
                    sqlx::query_scalar_with(AssertSqlSafe(sql.text), args(&sql.binds))
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?
                }
            };
            share *= (n as f64 / scope as f64).min(1.0);
            if best.as_ref().is_none_or(|(b, _)| n < *b) {
                best = Some((n, d));
            }
        }
        let Some((n, d)) = best else { return Ok(None) };
        if n > DRIVE_MAX {
            return Ok(None);
        }
        let page = (q.offset + u64::from(q.limit.max(1))) as f64;
        let walk = (page / share.max(1e-12)).min(scope as f64);
        Ok(((n as f64) * 2.0 < walk).then_some(d))
    }

    /// The runs that have tag `lead.key`, in the order of its value and, among runs with
    /// the same value, newest first: one value at a time, each as a search for that value
    /// (which starts from whichever of the value's index and the newest-first walk costs
    /// less). A tag has few values shared by many runs: sorting all of a value's runs by
    /// time to show a page of them is what this avoids. `None` where the one-statement
    /// plan serves (a small store), or where the filter rules out value after value.
    async fn tag_value_walk(
        &self,
        q: &RunQuery,
        lead: &filter::Lead<'_>,
        want: i64,
        offset: i64,
    ) -> Result<Option<Vec<sqlx::any::AnyRow>>> {
        /// Values tried before the one-statement plan takes over.
        const MAX_VALUES: usize = 32;
        if self.scope(q).await? < DRIVE_FROM {
            return Ok(None);
        }
        let next_sql = if lead.descending {
            "SELECT max(value) FROM run_tags WHERE key = $1 AND value < $2"
        } else {
            "SELECT min(value) FROM run_tags WHERE key = $1 AND value > $2"
        };
        let first_sql = if lead.descending {
            "SELECT max(value) FROM run_tags WHERE key = $1"
        } else {
            "SELECT min(value) FROM run_tags WHERE key = $1"
        };
        let mut value: Option<String> =
            sqlx::query_scalar(first_sql).bind(lead.key.to_owned()).fetch_one(&self.pool).await.map_err(map_err)?;
        let (mut rows, mut skip) = (Vec::new(), offset);
        let mut tried = 0;
        while let Some(v) = value {
            tried += 1;
            if tried > MAX_VALUES {
                return Ok(None);
            }
            let term = cairn_query::Expr::Compare {
                field: cairn_query::Field::Tag(lead.key.to_owned()),
                op: cairn_query::CmpOp::Eq,
                value: cairn_query::Value::String(v.clone()),
            };
            let one = RunQuery {
                filter: Some(match &q.filter {
                    Some(f) => cairn_query::Expr::And(vec![f.clone(), term]),
                    None => term,
                }),
                order: Vec::new(),
                limit: 0,
                offset: 0,
                ..q.clone()
            };
            let need = want - rows.len() as i64;
            let drive = self.driver(&one).await?;
            let (sql, binds) =
                self.search_sql(&one, None, drive.as_ref(), Phase::Page { rest: &[], limit: need, offset: skip })?;
            let got =
                sqlx::query_with(AssertSqlSafe(sql), args(&binds)).fetch_all(&self.pool).await.map_err(map_err)?;
            let n = got.len() as i64;
            rows.extend(got);
            if rows.len() as i64 >= want {
                break;
            }
            // This value's runs are used up: the offset moves past however many it had.
            skip = if skip == 0 || n > 0 { 0 } else { (skip - self.count_runs_sql(&one).await? as i64).max(0) };
            value = sqlx::query_scalar(next_sql)
                .bind(lead.key.to_owned())
                .bind(v)
                .fetch_one(&self.pool)
                .await
                .map_err(map_err)?;
        }
        Ok(Some(rows))
    }

    /// How many runs a query's project holds (every project's, without one).
    async fn scope(&self, q: &RunQuery) -> Result<i64> {
        match &q.project {
            Some(p) => Ok(sqlx::query_scalar("SELECT run_count FROM projects WHERE name = $1")
                .bind(p.as_str().to_owned())
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?
                .unwrap_or(0)),
            None => sqlx::query_scalar("SELECT CAST(coalesce(sum(run_count), 0) AS BIGINT) FROM projects")
                .fetch_one(&self.pool)
                .await
                .map_err(map_err),
        }
    }

    pub fn new(pool: AnyPool, dialect: Dialect) -> SqlStore {
        let writers = (dialect == Dialect::Sqlite).then(|| std::sync::Arc::new(tokio::sync::Mutex::new(())));
        SqlStore { pool, dialect, writers }
    }

    /// Every artifact the store records, deleted runs' included, in a stable order:
    /// what a backup copies beside the metadata.
    pub async fn artifact_manifest(&self) -> Result<Vec<(RunId, ArtifactInfo)>> {
        let rows = sqlx::query("SELECT run_id, path, size, blake3, created_at FROM artifacts ORDER BY run_id, path")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| Ok((parse_run_id(&r.try_get::<String, _>("run_id").map_err(map_err)?)?, decode_artifact(r)?)))
            .collect()
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. SQLite takes its write lock at BEGIN so two writers never
    /// deadlock upgrading read locks; they queue on the busy timeout instead.
    /// This process's turn to write to SQLite (nothing on PostgreSQL). A single write
    /// outside a transaction takes it too: waiting in SQLite's busy handler instead
    /// sleeps in steps of up to 100 ms, long after the lock is free.
    async fn writer_turn(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writers {
            Some(queue) => Some(queue.clone().lock_owned().await),
            None => None,
        }
    }

    async fn write_tx(&self) -> Result<Tx> {
        let turn = self.writer_turn().await;
        let inner = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(map_err)?,
            Dialect::Postgres => self.pool.begin().await.map_err(map_err)?,
        };
        Ok(Tx { inner, _turn: turn })
    }

    fn for_update(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    async fn resolve(&self, run: &RunRef) -> Result<Run> {
        let (cond, val) = match run {
            RunRef::Id(id) => ("r.id = $1", run_id_text(*id)),
            RunRef::Short(s) => ("r.short_id = $1", s.as_str().to_owned()),
        };
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs r JOIN projects p ON p.id = r.project_id WHERE {cond}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(val)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("run", run))?;
        let mut runs = vec![decode_run(&row)?];
        self.hydrate(&mut runs).await?;
        Ok(runs.pop().expect("one run"))
    }

    /// Fills tags, parents, children and metric summaries for a page of runs.
    async fn hydrate(&self, runs: &mut [Run]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = runs.iter().map(|r| run_id_text(r.id)).collect();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, id) in ids.iter().enumerate() {
            index.insert(id.clone(), i);
        }
        let ph = list_placeholders(self.dialect, ids.len());
        let bind_all = |sql: String| {
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in &ids {
                q = q.bind(id.clone());
            }
            q
        };
        let g = |e: sqlx::Error| map_err(e);
        // Four independent reads: issued together, they cost one round trip's wait.
        let (tags, parents, children, metrics) = futures::try_join!(
            bind_all(format!("SELECT run_id, key, value FROM run_tags WHERE run_id IN ({ph})")).fetch_all(&self.pool),
            bind_all(format!(
                "SELECT child_id, parent_id, position FROM run_parents WHERE child_id IN ({ph}) ORDER BY position"
            ))
            .fetch_all(&self.pool),
            bind_all(format!(
                "SELECT x.child_id, x.parent_id FROM run_parents x JOIN runs c ON c.id = x.child_id \
                 WHERE x.parent_id IN ({ph}) ORDER BY c.created_at"
            ))
            .fetch_all(&self.pool),
            bind_all(format!("SELECT * FROM metric_summaries WHERE run_id IN ({ph}) ORDER BY key"))
                .fetch_all(&self.pool),
        )
        .map_err(map_err)?;
        for row in tags {
            let i = index[&row.try_get::<String, _>("run_id").map_err(g)?];
            runs[i].tags.insert(row.try_get("key").map_err(g)?, row.try_get("value").map_err(g)?);
        }
        for row in parents {
            let i = index[&row.try_get::<String, _>("child_id").map_err(g)?];
            runs[i].parents.push(parse_run_id(&row.try_get::<String, _>("parent_id").map_err(g)?)?);
        }
        for row in children {
            let i = index[&row.try_get::<String, _>("parent_id").map_err(g)?];
            runs[i].children.push(parse_run_id(&row.try_get::<String, _>("child_id").map_err(g)?)?);
        }
        for row in metrics {
            let i = index[&row.try_get::<String, _>("run_id").map_err(g)?];
            runs[i].metrics.push(decode_summary(&row)?.0);
        }
        Ok(())
    }

    async fn project_id(&self, tx: &mut Tx, name: &ProjectName) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM projects WHERE name = $1")
            .bind(name.as_str().to_owned())
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("project", name))
    }

    async fn write_params(&self, tx: &mut Tx, id: &str, config: &cairn_domain::Config) -> Result<()> {
        sqlx::query("DELETE FROM run_params WHERE run_id = $1")
            .bind(id.to_owned())
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        for (key, given) in cairn_domain::leaves(config) {
            let (vtype, num, txt) = param_row(&given);
            let q = sqlx::query("INSERT INTO run_params (run_id, key, vtype, num, txt) VALUES ($1, $2, $3, $4, $5)")
                .bind(id.to_owned())
                .bind(key)
                .bind(vtype);
            bind_real(q, num).bind(txt).execute(&mut **tx).await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn live_run(&self, tx: &mut Tx, id: RunId) -> Result<()> {
        let deleted: Option<Option<i64>> = sqlx::query_scalar("SELECT deleted_at FROM runs WHERE id = $1")
            .bind(run_id_text(id))
            .fetch_optional(&mut **tx)
            .await
            .map_err(map_err)?;
        match deleted {
            None => Err(StoreError::not_found("run", id)),
            Some(Some(_)) => Err(StoreError::RunDeleted(id.to_string())),
            Some(None) => Ok(()),
        }
    }

    async fn append_series(&self, tx: &mut Tx, id: &str, key: &str, new: &MetricSeries) -> Result<()> {
        // Make sure the summary row exists, then lock it: appends to one series serialise.
        sqlx::query(
            "INSERT INTO metric_summaries (run_id, key, point_count, last, last_nan, last_step, last_ts, \
             chunks, last_chunk_n) VALUES ($1, $2, 0, NULL, 0, 0, 0, 0, 0) ON CONFLICT (run_id, key) DO NOTHING",
        )
        .bind(id.to_owned())
        .bind(key.to_owned())
        .execute(&mut **tx)
        .await
        .map_err(map_err)?;
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT * FROM metric_summaries WHERE run_id = $1 AND key = $2{}",
            self.for_update()
        )))
        .bind(id.to_owned())
        .bind(key.to_owned())
        .fetch_one(&mut **tx)
        .await
        .map_err(map_err)?;
        let (prev, mut chunks, last_n) = decode_summary(&row)?;
        let prev = (prev.count > 0).then_some(prev);
        let summary = MetricSummary::fold(prev, key, new);

        // Points to write: the small tail chunk (rewritten) followed by the new points.
        let mut pending = MetricSeries::default();
        let mut rewrite_seq = None;
        if chunks > 0 && (last_n as usize) < MERGE_BELOW {
            let seq = chunks - 1;
            let tail = sqlx::query(
                "SELECT codec, steps, vals, ts FROM metric_chunks WHERE run_id = $1 AND key = $2 AND seq = $3",
            )
            .bind(id.to_owned())
            .bind(key.to_owned())
            .bind(seq)
            .fetch_one(&mut **tx)
            .await
            .map_err(map_err)?;
            decode_chunk_row(&tail, &mut pending)?;
            rewrite_seq = Some(seq);
        }
        pending.steps.extend_from_slice(&new.steps);
        pending.values.extend_from_slice(&new.values);
        pending.timestamps.extend_from_slice(&new.timestamps);

        let mut last_chunk_n = last_n;
        let mut start = 0;
        while start < pending.len() {
            let end = (start + CHUNK_MAX).min(pending.len());
            let steps = &pending.steps[start..end];
            let (min_step, max_step) = steps.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &s| (lo.min(s), hi.max(s)));
            let seq = match rewrite_seq.take() {
                Some(seq) => {
                    sqlx::query("DELETE FROM metric_chunks WHERE run_id = $1 AND key = $2 AND seq = $3")
                        .bind(id.to_owned())
                        .bind(key.to_owned())
                        .bind(seq)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?;
                    seq
                }
                None => {
                    chunks += 1;
                    chunks - 1
                }
            };
            let part = MetricSeries {
                steps: steps.to_vec(),
                values: pending.values[start..end].to_vec(),
                timestamps: pending.timestamps[start..end].to_vec(),
            };
            let blobs = chunk::encode_packed(&part);
            let lod = chunk::encode_packed(&chunk::level_of_detail(&part));
            sqlx::query(
                "INSERT INTO metric_chunks (run_id, key, seq, n, min_step, max_step, steps, vals, ts, codec, \
                 lod_steps, lod_vals, lod_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(id.to_owned())
            .bind(key.to_owned())
            .bind(seq)
            .bind((end - start) as i64)
            .bind(min_step)
            .bind(max_step)
            .bind(blobs.steps)
            .bind(blobs.vals)
            .bind(blobs.ts)
            .bind(chunk::CODEC_PACKED)
            .bind(lod.steps)
            .bind(lod.vals)
            .bind(lod.ts)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
            last_chunk_n = (end - start) as i64;
            start = end;
        }

        let q = sqlx::query(
            "UPDATE metric_summaries SET point_count = $3, last = $4, last_nan = $5, last_step = $6, last_ts = $7, \
             min_value = $8, min_step = $9, max_value = $10, max_step = $11, chunks = $12, last_chunk_n = $13 \
             WHERE run_id = $1 AND key = $2",
        )
        .bind(id.to_owned())
        .bind(key.to_owned())
        .bind(summary.count);
        // NaN cannot be stored portably (SQLite turns it into NULL): keep a flag instead.
        let q = bind_real(q, Some(summary.last).filter(|v| !v.is_nan()))
            .bind(i64::from(summary.last.is_nan()))
            .bind(summary.last_step)
            .bind(summary.last_timestamp);
        let q = bind_real(q, summary.min).bind(summary.min_step);
        bind_real(q, summary.max)
            .bind(summary.max_step)
            .bind(chunks)
            .bind(last_chunk_n)
            .execute(&mut **tx)
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn brief(&self, sql: &str, id: RunId) -> Result<Vec<RunBrief>> {
        let rows = sqlx::query(AssertSqlSafe(sql.to_owned()))
            .bind(run_id_text(id))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|row| {
                let run = decode_run(row)?;
                Ok(RunBrief {
                    id: run.id,
                    short_id: run.short_id,
                    project: run.project,
                    name: run.name,
                    status: run.status,
                    created_at: run.created_at,
                })
            })
            .collect()
    }
}

#[async_trait]
impl MetadataStore for SqlStore {
    fn backend(&self) -> &'static str {
        self.dialect.name()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn create_project(&self, project: &NewProject, now: Millis) -> Result<Project> {
        let name = ProjectName::parse(project.name.clone()).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let mut tx = self.write_tx().await?;
        let res = sqlx::query(
            "INSERT INTO projects (name, description, require_hypothesis, primary_metric, created_at, updated_at, \
             tags, visibility) VALUES ($1, $2, $3, $4, $5, $5, $6, $7)",
        )
        .bind(name.as_str().to_owned())
        .bind(project.description.clone())
        .bind(i64::from(project.require_hypothesis.unwrap_or(true)))
        .bind(project.primary_metric.as_ref().map(json_text))
        .bind(now)
        .bind(json_text(&project.tags))
        .bind(project.visibility.unwrap_or_default().as_str().to_owned())
        .execute(&mut *tx)
        .await
        .map_err(map_err);
        match res {
            Err(StoreError::AlreadyExists(_)) => {
                return Err(StoreError::AlreadyExists(format!("project '{name}' already exists")));
            }
            other => other?,
        };
        tx.commit().await.map_err(map_err)?;
        self.get_project(&name).await
    }

    async fn get_project(&self, name: &ProjectName) -> Result<Project> {
        let row = sqlx::query(AssertSqlSafe(format!("{PROJECT_SELECT} WHERE p.name = $1")))
            .bind(name.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("project", name))?;
        decode_project(&row)
    }

    async fn list_projects(&self) -> Result<Vec<Project>> {
        sqlx::query(AssertSqlSafe(format!("{PROJECT_SELECT} ORDER BY p.name")))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(decode_project)
            .collect()
    }

    async fn search_projects(&self, query: &ListQuery) -> Result<Vec<Project>> {
        self.search_projects_sql(query).await
    }

    async fn get_project_by_id(&self, id: i64) -> Result<Project> {
        let row = sqlx::query(AssertSqlSafe(format!("{PROJECT_SELECT} WHERE p.id = $1")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("project", id))?;
        decode_project(&row)
    }

    async fn update_project(&self, name: &ProjectName, patch: &ProjectPatch, now: Millis) -> Result<Project> {
        let mut tx = self.write_tx().await?;
        let id = self.project_id(&mut tx, name).await?;
        let mut name = name.clone();
        if let Some(new_name) = &patch.name {
            let new_name = ProjectName::parse(new_name.clone()).map_err(|e| StoreError::Invalid(e.to_string()))?;
            let res = sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
                .bind(new_name.as_str().to_owned())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err);
            match res {
                Err(StoreError::AlreadyExists(_)) => {
                    return Err(StoreError::AlreadyExists(format!("project '{new_name}' already exists")));
                }
                other => other?,
            };
            name = new_name;
        }
        if !patch.tags.is_empty() || !patch.remove_tags.is_empty() {
            let current: Option<String> = sqlx::query_scalar("SELECT tags FROM projects WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            let mut tags: std::collections::BTreeMap<String, String> = parse_json("tags", current)?.unwrap_or_default();
            tags.extend(patch.tags.clone());
            for key in &patch.remove_tags {
                tags.remove(key);
            }
            sqlx::query("UPDATE projects SET tags = $1 WHERE id = $2")
                .bind(json_text(&tags))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(deleted) = patch.deleted {
            let was: Option<Millis> = sqlx::query_scalar("SELECT deleted_at FROM projects WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(map_err)?;
            if deleted != was.is_some() {
                if self.dialect == Dialect::Postgres {
                    // Every run of the project changes with it: no query time limit.
                    sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(map_err)?;
                }
                sqlx::query("UPDATE projects SET deleted_at = $1 WHERE id = $2")
                    .bind(deleted.then_some(now))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                // As MLflow: deleting a project deletes its runs, and restoring it
                // restores every run it holds, those deleted before it included.
                let runs = if deleted {
                    "UPDATE runs SET deleted_at = $1, updated_at = $1 WHERE project_id = $2 AND deleted_at IS NULL"
                } else {
                    "UPDATE runs SET deleted_at = NULL, updated_at = $1 WHERE project_id = $2 AND deleted_at IS NOT NULL"
                };
                let n = sqlx::query(runs).bind(now).bind(id).execute(&mut *tx).await.map_err(map_err)?.rows_affected();
                let n = i64::try_from(n).unwrap_or(i64::MAX);
                sqlx::query("UPDATE projects SET run_count = run_count + $1 WHERE id = $2")
                    .bind(if deleted { -n } else { n })
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
            }
        }
        sqlx::query("UPDATE projects SET updated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if let Some(d) = &patch.description {
            sqlx::query("UPDATE projects SET description = $1 WHERE id = $2")
                .bind(d.clone())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(m) = &patch.primary_metric {
            if self.dialect == Dialect::Postgres {
                // A new primary metric recounts the project's tallies (its trigger): a
                // pass over its runs, longer than a query's time limit at a million runs.
                sqlx::query("SET LOCAL statement_timeout = 0").execute(&mut *tx).await.map_err(map_err)?;
            }
            sqlx::query("UPDATE projects SET primary_metric = $1 WHERE id = $2")
                .bind(json_text(m))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(v) = patch.visibility {
            sqlx::query("UPDATE projects SET visibility = $1 WHERE id = $2")
                .bind(v.as_str().to_owned())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(r) = patch.require_hypothesis {
            sqlx::query("UPDATE projects SET require_hypothesis = $1 WHERE id = $2")
                .bind(i64::from(r))
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        self.get_project(&name).await
    }

    async fn create_run(&self, record: &RunRecord) -> Result<Run> {
        let run = &record.run;
        let id = run_id_text(run.id);
        let mut tx = self.write_tx().await?;
        let project_id = self.project_id(&mut tx, &run.project).await?;
        sqlx::query(
            "INSERT INTO runs (id, short_id, project_id, name, description, hypothesis, expected, verdict, owner, \
             status, created_at, started_at, ended_at, exit_code, config, command, code, data, environment, seeds, \
             group_id, fingerprint, deleted_at, updated_at, changes, config_sources) VALUES ($1, $2, $3, $4, $5, $6, \
             $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, NULL, $23, $24, $25)",
        )
        .bind(id.clone())
        .bind(run.short_id.as_str().to_owned())
        .bind(project_id)
        .bind(run.name.clone())
        .bind(run.description.clone())
        .bind(run.hypothesis.clone())
        .bind(run.expected.as_ref().map(json_text))
        .bind(run.verdict.as_ref().map(json_text))
        .bind(run.owner.clone())
        .bind(run.status.as_str())
        .bind(run.created_at)
        .bind(run.started_at)
        .bind(run.ended_at)
        .bind(run.exit_code.map(i64::from))
        .bind(json_text(&run.config))
        .bind(json_text(&run.command))
        .bind(run.code.as_ref().map(json_text))
        .bind(run.data.as_ref().map(json_text))
        .bind(run.environment.as_ref().map(json_text))
        .bind(json_text(&run.seeds))
        .bind(run.group_id.clone())
        .bind(run.fingerprint.clone())
        .bind(run.updated_at)
        .bind(run.changes.as_ref().map(json_text))
        .bind(json_text(&run.config_sources))
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        for (k, v) in &run.tags {
            sqlx::query("INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3)")
                .bind(id.clone())
                .bind(k.clone())
                .bind(v.clone())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        for (pos, parent) in run.parents.iter().enumerate() {
            sqlx::query("INSERT INTO run_parents (child_id, parent_id, position) VALUES ($1, $2, $3)")
                .bind(id.clone())
                .bind(run_id_text(*parent))
                .bind(pos as i64)
                .execute(&mut *tx)
                .await
                .map_err(|e| match map_err(e) {
                    StoreError::NotFound { .. } => StoreError::not_found("parent run", parent),
                    other => other,
                })?;
        }
        self.write_params(&mut tx, &id, &run.config).await?;
        sqlx::query("UPDATE projects SET run_count = run_count + 1 WHERE id = $1")
            .bind(project_id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        self.resolve(&RunRef::Id(run.id)).await
    }

    async fn get_run(&self, run: &RunRef) -> Result<Run> {
        self.resolve(run).await
    }

    async fn create_runs(&self, runs: &[cairn_store::BulkRun]) -> Result<()> {
        self.create_runs_sql(runs).await
    }

    async fn get_runs(&self, ids: &[RunId]) -> Result<Vec<Run>> {
        self.get_runs_sql(ids).await
    }

    async fn artifacts_of(&self, runs: &[RunId]) -> Result<HashMap<RunId, Vec<ArtifactInfo>>> {
        self.artifacts_of_sql(runs).await
    }

    async fn update_run(&self, run_id: RunId, u: &RunUpdate, now: Millis) -> Result<Run> {
        let id = run_id_text(run_id);
        let mut tx = self.write_tx().await?;
        self.live_run(&mut tx, run_id).await?;
        let mut sql = Sql::new(self.dialect);
        sql.push("UPDATE runs SET updated_at = ").bind(Bind::Int(now));
        let set_text = |sql: &mut Sql, col: &str, v: Option<String>| {
            if let Some(v) = v {
                sql.push(", ").push(col).push(" = ").bind(Bind::Text(v));
            }
        };
        set_text(&mut sql, "name", u.name.clone());
        set_text(&mut sql, "description", u.description.clone());
        set_text(&mut sql, "hypothesis", u.hypothesis.clone());
        set_text(&mut sql, "expected", u.expected.as_ref().map(json_text));
        set_text(&mut sql, "verdict", u.verdict.as_ref().map(json_text));
        set_text(&mut sql, "status", u.status.map(|s| s.as_str().to_owned()));
        set_text(&mut sql, "config", u.config.as_ref().map(json_text));
        set_text(&mut sql, "code", u.code.as_ref().map(json_text));
        set_text(&mut sql, "data", u.data.as_ref().map(json_text));
        set_text(&mut sql, "environment", u.environment.as_ref().map(json_text));
        set_text(&mut sql, "seeds", u.seeds.as_ref().map(json_text));
        set_text(&mut sql, "group_id", u.group_id.clone());
        set_text(&mut sql, "fingerprint", u.fingerprint.clone());
        set_text(&mut sql, "command", u.command.as_ref().map(json_text));
        set_text(&mut sql, "changes", u.changes.as_ref().map(json_text));
        set_text(&mut sql, "config_sources", u.config_sources.as_ref().map(json_text));
        for (col, v) in
            [("started_at", u.started_at), ("ended_at", u.ended_at), ("exit_code", u.exit_code.map(i64::from))]
        {
            if let Some(v) = v {
                sql.push(", ").push(col).push(" = ").bind(Bind::Int(v));
            }
        }
        sql.push(" WHERE id = ").bind(Bind::Text(id.clone()));
        sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).execute(&mut *tx).await.map_err(map_err)?;
        for (k, v) in &u.set_tags {
            sqlx::query(
                "INSERT INTO run_tags (run_id, key, value) VALUES ($1, $2, $3) \
                 ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value",
            )
            .bind(id.clone())
            .bind(k.clone())
            .bind(v.clone())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for k in &u.remove_tags {
            sqlx::query("DELETE FROM run_tags WHERE run_id = $1 AND key = $2")
                .bind(id.clone())
                .bind(k.clone())
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        }
        if let Some(config) = &u.config {
            self.write_params(&mut tx, &id, config).await?;
        }
        tx.commit().await.map_err(map_err)?;
        self.resolve(&RunRef::Id(run_id)).await
    }

    async fn restore_run(&self, run_id: RunId, now: Millis) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done =
            sqlx::query("UPDATE runs SET deleted_at = NULL, updated_at = $1 WHERE id = $2 AND deleted_at IS NOT NULL")
                .bind(now)
                .bind(run_id_text(run_id))
                .execute(&mut *tx)
                .await
                .map_err(map_err)?;
        if done.rows_affected() == 0 {
            // Restoring a live run is fine; restoring what never existed is not.
            self.live_run(&mut tx, run_id).await?;
        } else {
            sqlx::query(
                "UPDATE projects SET run_count = run_count + 1 WHERE id = (SELECT project_id FROM runs WHERE id = $1)",
            )
            .bind(run_id_text(run_id))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn delete_run(&self, run_id: RunId, now: Millis) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("UPDATE runs SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now)
            .bind(run_id_text(run_id))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        if done.rows_affected() == 0 {
            // Deleting twice is fine; deleting what never existed is not.
            self.live_run(&mut tx, run_id).await.or_else(|e| match e {
                StoreError::RunDeleted(_) => Ok(()),
                e => Err(e),
            })?;
        } else {
            sqlx::query(
                "UPDATE projects SET run_count = run_count - 1 WHERE id = (SELECT project_id FROM runs WHERE id = $1)",
            )
            .bind(run_id_text(run_id))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn search_runs(&self, q: &RunQuery) -> Result<RunPage> {
        // When the first sort key is a param, metric or tag, runs that have it come
        // first (phase 1: its row joined, so its index gives the order), then runs
        // without it (phase 2), as NULLS LAST would order them.
        let lead = q.order.first().and_then(filter::lead);
        let rest = if lead.is_some() { &q.order[1..] } else { &q.order[..] };
        let limit = i64::from(q.limit.max(1));
        let offset = q.offset as i64;
        let drive = match lead {
            None => self.driver(q).await?,
            Some(_) => None,
        };
        let walked = match &lead {
            Some(l) if l.table == "run_tags" && rest.is_empty() => self.tag_value_walk(q, l, limit + 1, offset).await?,
            _ => None,
        };
        let mut rows = match walked {
            Some(rows) => rows,
            None => {
                let (sql, binds) =
                    self.search_sql(q, lead.as_ref(), drive.as_ref(), Phase::Page { rest, limit: limit + 1, offset })?;
                sqlx::query_with(AssertSqlSafe(sql), args(&binds)).fetch_all(&self.pool).await.map_err(map_err)?
            }
        };
        // Runs without the lead key come next, unless the filter rules them out anyway
        // (`metrics.acc > 0.5 … order by metrics.acc`): then there is no scan for them.
        let missing_possible =
            lead.is_some() && !q.filter.as_ref().is_some_and(|f| filter::requires(f, &q.order[0].field));
        if let Some(l) = &lead
            && (rows.len() as i64) <= limit
            && missing_possible
        {
            let before = if rows.is_empty() && offset > 0 {
                // How many runs phase 1 holds in all, to place the offset in phase 2.
                let (sql, binds) = self.search_sql(q, Some(l), None, Phase::Count)?;
                let n: i64 = sqlx::query_scalar_with(AssertSqlSafe(sql), args(&binds))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                n
            } else {
                offset + rows.len() as i64
            };
            let (sql, binds) = self.search_sql(
                q,
                None,
                None,
                Phase::Missing {
                    lead: l,
                    rest,
                    limit: limit + 1 - rows.len() as i64,
                    offset: (offset - before).max(0),
                },
            )?;
            rows.extend(
                sqlx::query_with(AssertSqlSafe(sql), args(&binds)).fetch_all(&self.pool).await.map_err(map_err)?,
            );
        }
        let more = rows.len() as i64 > limit;
        let mut runs = rows.iter().take(limit as usize).map(decode_run).collect::<Result<Vec<_>>>()?;
        self.hydrate(&mut runs).await?;
        Ok(RunPage { runs, next_offset: more.then_some(q.offset + limit as u64) })
    }

    async fn count_runs(&self, query: &RunQuery) -> Result<u64> {
        self.count_runs_sql(query).await
    }

    async fn estimate_runs(&self, query: &RunQuery, exact_up_to: u64) -> Result<cairn_store::RunCount> {
        self.estimate_runs_sql(query, exact_up_to).await
    }

    async fn sample_runs(&self, query: &RunQuery, n: u32, exact_up_to: u64) -> Result<cairn_store::RunSample> {
        self.sample_runs_sql(query, n, exact_up_to).await
    }

    async fn param_values(
        &self,
        project: &ProjectName,
        key: &str,
        metric: Option<(&str, cairn_domain::Direction)>,
        limit: u32,
    ) -> Result<cairn_store::ParamValues> {
        self.param_values_sql(project, key, metric, limit).await
    }

    async fn metric_sample(
        &self,
        project: &ProjectName,
        metric: &str,
        filter: Option<&cairn_query::Expr>,
        limit: u32,
    ) -> Result<cairn_store::MetricSample> {
        self.metric_sample_sql(project, metric, filter, limit).await
    }

    async fn group_stats(
        &self,
        project: &ProjectName,
        filter: Option<&cairn_query::Expr>,
        by: &cairn_query::Field,
        of: &cairn_query::Field,
    ) -> Result<cairn_store::GroupStats> {
        self.group_stats_sql(project, filter, by, of).await
    }

    async fn run_configs(&self, ids: &[RunId]) -> Result<Vec<(RunId, cairn_domain::Config)>> {
        let mut out = Vec::with_capacity(ids.len());
        for part in ids.chunks(2_000) {
            let sql =
                format!("SELECT id, config FROM runs WHERE id IN ({})", list_placeholders(self.dialect, part.len()));
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in part {
                q = q.bind(run_id_text(*id));
            }
            for row in q.fetch_all(&self.pool).await.map_err(map_err)? {
                let id = parse_run_id(&row.try_get::<String, _>("id").map_err(map_err)?)?;
                out.push((
                    id,
                    parse_json("config", Some(row.try_get::<String, _>("config").map_err(map_err)?))?
                        .unwrap_or_default(),
                ));
            }
        }
        Ok(out)
    }

    async fn project_keys(&self, project: &ProjectName) -> Result<ProjectKeys> {
        self.project_keys_sql(project).await
    }

    async fn project_summary(
        &self,
        project: &ProjectName,
        since: Millis,
        metric: Option<&str>,
    ) -> Result<ProjectSummary> {
        self.project_summary_sql(project, since, metric).await
    }

    async fn record_refusal(&self, project: &ProjectName, refusal: &Refusal) -> Result<()> {
        self.record_refusal_sql(project, refusal).await
    }

    async fn refusals(&self, project: &ProjectName, limit: u32) -> Result<(u64, Vec<Refusal>)> {
        self.refusals_sql(project, limit).await
    }

    async fn runs_since(
        &self,
        project: &ProjectName,
        since: Millis,
        metric: Option<&str>,
        tags: &[&str],
    ) -> Result<Vec<Run>> {
        let g = |e: sqlx::Error| map_err(e);
        // One pass over the period's runs, each with its one metric: only the columns a
        // report reads (each column read costs, at tens of thousands of runs).
        // Each run's metric row by its key: PostgreSQL otherwise chose to hash the whole
        // metric table (a million rows, 0.5 s) to join twenty thousand runs.
        let metric_join = match self.dialect {
            Dialect::Sqlite => "LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = $3",
            Dialect::Postgres => {
                "LEFT JOIN LATERAL (SELECT * FROM metric_summaries m WHERE m.run_id = r.id AND m.key = $3 LIMIT 1) m ON true"
            }
        };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT r.id, r.short_id, r.name, r.hypothesis, r.verdict, r.owner, r.status, r.created_at, r.group_id, \
             m.key, m.point_count, m.last, m.last_nan, m.last_step, m.last_ts, m.min_value, m.min_step, m.max_value, \
             m.max_step, m.chunks, m.last_chunk_n FROM runs r {metric_join} \
             WHERE r.project_id = (SELECT id FROM projects WHERE name = $1) AND r.created_at >= $2 \
             AND r.deleted_at IS NULL ORDER BY r.created_at DESC, r.id"
        )))
        .bind(project.as_str().to_owned())
        .bind(since)
        .bind(metric.unwrap_or("").to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(g)?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in &rows {
            let status: String = row.try_get("status").map_err(g)?;
            let metrics = match row.try_get::<Option<String>, _>("key").map_err(g)? {
                Some(_) => vec![decode_summary(row)?.0],
                None => vec![],
            };
            runs.push(Run {
                id: parse_run_id(&row.try_get::<String, _>("id").map_err(g)?)?,
                short_id: ShortId::parse(&row.try_get::<String, _>("short_id").map_err(g)?)
                    .ok_or_else(|| StoreError::Internal("bad short id".into()))?,
                project: project.clone(),
                name: row.try_get("name").map_err(g)?,
                description: String::new(),
                hypothesis: row.try_get("hypothesis").map_err(g)?,
                expected: None,
                verdict: parse_json("verdict", row.try_get("verdict").map_err(g)?)?,
                owner: row.try_get("owner").map_err(g)?,
                tags: Default::default(),
                status: RunStatus::parse(&status).map_err(|e| StoreError::Internal(e.to_string()))?,
                created_at: row.try_get("created_at").map_err(g)?,
                started_at: None,
                ended_at: None,
                exit_code: None,
                config: Default::default(),
                command: Vec::new(),
                code: None,
                data: None,
                environment: None,
                seeds: Vec::new(),
                parents: Vec::new(),
                children: Vec::new(),
                group_id: row.try_get("group_id").map_err(g)?,
                fingerprint: None,
                metrics,
                deleted_at: None,
                updated_at: 0,
                changes: None,
                config_sources: Default::default(),
            });
        }
        let index: HashMap<String, usize> = runs.iter().enumerate().map(|(i, r)| (run_id_text(r.id), i)).collect();
        // The named tags, in one more pass over the period's runs.
        if !tags.is_empty() {
            let sql = format!(
                "SELECT x.run_id, x.key, x.value FROM runs r CROSS JOIN run_tags x \
                 WHERE r.project_id = (SELECT id FROM projects WHERE name = $1) AND r.created_at >= $2 \
                 AND r.deleted_at IS NULL AND x.run_id = r.id AND x.key IN ({})",
                placeholders(3, tags.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(project.as_str().to_owned()).bind(since);
            for tag in tags {
                q = q.bind((*tag).to_owned());
            }
            for row in q.fetch_all(&self.pool).await.map_err(g)? {
                if let Some(&i) = index.get(&row.try_get::<String, _>("run_id").map_err(g)?) {
                    runs[i].tags.insert(row.try_get("key").map_err(g)?, row.try_get("value").map_err(g)?);
                }
            }
        }
        Ok(runs)
    }

    async fn lineage(&self, id: RunId) -> Result<(Vec<RunBrief>, Vec<RunBrief>)> {
        let parents = self
            .brief(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM run_parents x JOIN runs r ON r.id = x.parent_id \
                     JOIN projects p ON p.id = r.project_id WHERE x.child_id = $1 ORDER BY x.position"
                ),
                id,
            )
            .await?;
        let children = self
            .brief(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM run_parents x JOIN runs r ON r.id = x.child_id \
                     JOIN projects p ON p.id = r.project_id WHERE x.parent_id = $1 ORDER BY r.created_at"
                ),
                id,
            )
            .await?;
        Ok((parents, children))
    }

    async fn log_metrics(
        &self,
        run: RunId,
        batch: &[(MetricKey, MetricSeries)],
        batch_id: Option<&str>,
    ) -> Result<u64> {
        let id = run_id_text(run);
        let mut tx = self.write_tx().await?;
        self.live_run(&mut tx, run).await?;
        if let Some(batch_id) = batch_id {
            let points: i64 = batch.iter().map(|(_, s)| s.len() as i64).sum();
            let digest = batch_digest(batch);
            // Claim the batch id first: a concurrent retry waits on this row and then
            // finds it taken, so the points are written once.
            let claimed = sqlx::query(
                "INSERT INTO metric_batches (run_id, batch_id, points, digest) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (run_id, batch_id) DO NOTHING",
            )
            .bind(id.clone())
            .bind(batch_id.to_owned())
            .bind(points)
            .bind(digest.clone())
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
            if claimed.rows_affected() == 0 {
                let row = sqlx::query("SELECT points, digest FROM metric_batches WHERE run_id = $1 AND batch_id = $2")
                    .bind(id.clone())
                    .bind(batch_id.to_owned())
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                let earlier: i64 = row.try_get("points").map_err(map_err)?;
                let seen: Option<String> = row.try_get("digest").map_err(map_err)?;
                if seen.is_some_and(|d| d != digest) {
                    return Err(StoreError::BatchConflict(batch_id.to_owned()));
                }
                return Ok(earlier as u64);
            }
        }
        let mut total = 0u64;
        // Lock series in a fixed order so two writers to the same run cannot deadlock.
        let mut order: Vec<usize> = (0..batch.len()).collect();
        order.sort_by(|&a, &b| batch[a].0.cmp(&batch[b].0));
        for i in order {
            let (key, series) = &batch[i];
            series.check_lengths().map_err(|e| StoreError::Invalid(e.to_string()))?;
            if series.is_empty() {
                continue;
            }
            self.append_series(&mut tx, &id, key.as_str(), series).await?;
            total += series.len() as u64;
        }
        tx.commit().await.map_err(map_err)?;
        Ok(total)
    }

    async fn metric_summaries(&self, run: RunId) -> Result<Vec<MetricSummary>> {
        sqlx::query("SELECT * FROM metric_summaries WHERE run_id = $1 AND point_count > 0 ORDER BY key")
            .bind(run_id_text(run))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| decode_summary(r).map(|s| s.0))
            .collect()
    }

    async fn metric_history(&self, run: RunId, key: &str, range: StepRange, limit: u64) -> Result<MetricSeries> {
        use futures::TryStreamExt;
        // Chunks stream in one at a time, so a refused read never held more than the
        // limit plus one chunk.
        let mut rows = sqlx::query(
            "SELECT codec, steps, vals, ts FROM metric_chunks WHERE run_id = $1 AND key = $2 \
             AND max_step >= $3 AND min_step <= $4 ORDER BY seq",
        )
        .bind(run_id_text(run))
        .bind(key.to_owned())
        .bind(range.min.unwrap_or(i64::MIN))
        .bind(range.max.unwrap_or(i64::MAX))
        .fetch(&self.pool);
        let mut all = MetricSeries::default();
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            let mut chunk = MetricSeries::default();
            decode_chunk_row(&row, &mut chunk)?;
            let chunk = keep_range(chunk, range);
            if (all.len() + chunk.len()) as u64 > limit {
                return Err(StoreError::TooManyPoints { limit });
            }
            all.steps.extend_from_slice(&chunk.steps);
            all.values.extend_from_slice(&chunk.values);
            all.timestamps.extend_from_slice(&chunk.timestamps);
        }
        Ok(in_step_order(all))
    }

    async fn metric_overview(
        &self,
        run: RunId,
        key: &str,
        range: StepRange,
        max_points: usize,
    ) -> Result<(MetricSeries, u64)> {
        let (lo, hi) = (range.min.unwrap_or(i64::MIN), range.max.unwrap_or(i64::MAX));
        let metas = sqlx::query(
            "SELECT seq, n, min_step, max_step, codec, lod_steps, lod_vals, lod_ts FROM metric_chunks \
             WHERE run_id = $1 AND key = $2 AND max_step >= $3 AND min_step <= $4 ORDER BY seq",
        )
        .bind(run_id_text(run))
        .bind(key.to_owned())
        .bind(lo)
        .bind(hi)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let g = |e: sqlx::Error| map_err(e);
        let upper_bound: i64 = metas.iter().map(|m| m.try_get::<i64, _>("n").unwrap_or(0)).sum();
        // A level of detail keeps about 1/16 of the points: use it only while that still
        // leaves more points than asked for; otherwise read everything.
        if (upper_bound as usize) < max_points.saturating_mul(chunk::LOD_BUCKET / 2) {
            let all = self.metric_history(run, key, range, u64::MAX).await?;
            let total = all.len() as u64;
            return Ok((all, total));
        }
        let mut out = MetricSeries::default();
        let mut total = 0u64;
        for m in &metas {
            let (n, min_step, max_step): (i64, i64, i64) =
                (m.try_get("n").map_err(g)?, m.try_get("min_step").map_err(g)?, m.try_get("max_step").map_err(g)?);
            let lod: Option<Vec<u8>> = m.try_get("lod_vals").map_err(g)?;
            let inside = min_step >= lo && max_step <= hi;
            match lod {
                Some(vals) if inside => {
                    let blobs = chunk::Blobs {
                        steps: m.try_get("lod_steps").map_err(g)?,
                        vals,
                        ts: m.try_get("lod_ts").map_err(g)?,
                    };
                    chunk::decode(chunk::CODEC_PACKED, &blobs, &mut out).map_err(codec_err)?;
                    total += n as u64;
                }
                _ => {
                    // Chunks cut by the range, or written before levels of detail existed.
                    let row = sqlx::query(
                        "SELECT codec, steps, vals, ts FROM metric_chunks WHERE run_id = $1 AND key = $2 AND seq = $3",
                    )
                    .bind(run_id_text(run))
                    .bind(key.to_owned())
                    .bind(m.try_get::<i64, _>("seq").map_err(g)?)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut part = MetricSeries::default();
                    decode_chunk_row(&row, &mut part)?;
                    let part = keep_range(part, range);
                    total += part.len() as u64;
                    out.steps.extend_from_slice(&part.steps);
                    out.values.extend_from_slice(&part.values);
                    out.timestamps.extend_from_slice(&part.timestamps);
                }
            }
        }
        Ok((in_step_order(out), total))
    }

    async fn record_artifact(&self, run: RunId, info: &ArtifactInfo) -> Result<()> {
        let mut tx = self.write_tx().await?;
        self.live_run(&mut tx, run).await?;
        sqlx::query(
            "INSERT INTO artifacts (run_id, path, size, blake3, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id, path) DO UPDATE SET size = excluded.size, blake3 = excluded.blake3, \
             created_at = excluded.created_at",
        )
        .bind(run_id_text(run))
        .bind(info.path.as_str().to_owned())
        .bind(info.size as i64)
        .bind(info.blake3.clone())
        .bind(info.created_at)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_artifact(&self, run: RunId, path: &ArtifactPath) -> Result<ArtifactInfo> {
        let row = sqlx::query("SELECT path, size, blake3, created_at FROM artifacts WHERE run_id = $1 AND path = $2")
            .bind(run_id_text(run))
            .bind(path.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("artifact", path))?;
        decode_artifact(&row)
    }

    async fn list_artifacts(&self, run: RunId, prefix: &str) -> Result<Vec<ArtifactInfo>> {
        // Prefix match without LIKE, so '%' and '_' in names are literal.
        sqlx::query(
            "SELECT path, size, blake3, created_at FROM artifacts WHERE run_id = $1 \
             AND substr(path, 1, length($2)) = $2 ORDER BY path",
        )
        .bind(run_id_text(run))
        .bind(prefix.to_owned())
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(decode_artifact)
        .collect()
    }

    async fn delete_artifacts(&self, run: RunId, path: &str) -> Result<Vec<ArtifactInfo>> {
        let mut tx = self.write_tx().await?;
        self.live_run(&mut tx, run).await?;
        let under = format!("{}/", path.trim_end_matches('/'));
        let rows = sqlx::query(
            "SELECT path, size, blake3, created_at FROM artifacts WHERE run_id = $1 \
             AND (path = $2 OR substr(path, 1, length($3)) = $3) ORDER BY path",
        )
        .bind(run_id_text(run))
        .bind(path.to_owned())
        .bind(under.clone())
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
        let gone = rows.iter().map(decode_artifact).collect::<Result<Vec<_>>>()?;
        sqlx::query("DELETE FROM artifacts WHERE run_id = $1 AND (path = $2 OR substr(path, 1, length($3)) = $3)")
            .bind(run_id_text(run))
            .bind(path.to_owned())
            .bind(under)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        Ok(gone)
    }

    async fn create_registered_model(&self, model: &NewRegisteredModel, now: Millis) -> Result<RegisteredModel> {
        self.create_registered_model_sql(model, now).await
    }
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        self.get_registered_model_sql(name).await
    }
    async fn list_registered_models(&self) -> Result<Vec<RegisteredModel>> {
        self.list_registered_models_sql().await
    }
    async fn search_registered_models(&self, query: &ListQuery) -> Result<Vec<RegisteredModel>> {
        self.search_registered_models_sql(query).await
    }
    async fn search_model_versions(&self, query: &ListQuery) -> Result<Vec<ModelVersion>> {
        self.search_model_versions_sql(query).await
    }
    async fn versions_of_models(&self, models: &[String]) -> Result<Vec<ModelVersion>> {
        self.versions_of_models_sql(models).await
    }
    async fn update_registered_model(
        &self,
        name: &str,
        patch: &RegisteredModelPatch,
        now: Millis,
    ) -> Result<RegisteredModel> {
        self.update_registered_model_sql(name, patch, now).await
    }
    async fn delete_registered_model(&self, name: &str) -> Result<()> {
        self.delete_registered_model_sql(name).await
    }
    async fn create_model_version(&self, model: &str, version: &NewModelVersion, now: Millis) -> Result<ModelVersion> {
        self.create_model_version_sql(model, version, now).await
    }
    async fn get_model_version(&self, model: &str, version: i64) -> Result<ModelVersion> {
        self.get_model_version_sql(model, version).await
    }
    async fn list_model_versions(&self, model: Option<&str>) -> Result<Vec<ModelVersion>> {
        self.list_model_versions_sql(model).await
    }
    async fn update_model_version(
        &self,
        model: &str,
        version: i64,
        patch: &ModelVersionPatch,
        now: Millis,
    ) -> Result<ModelVersion> {
        self.update_model_version_sql(model, version, patch, now).await
    }
    async fn delete_model_version(&self, model: &str, version: i64, now: Millis) -> Result<()> {
        self.delete_model_version_sql(model, version, now).await
    }
    async fn create_logged_model(&self, model: &LoggedModel) -> Result<LoggedModel> {
        self.put_logged_model_sql(model, true).await
    }
    async fn get_logged_model(&self, id: &str) -> Result<LoggedModel> {
        self.get_logged_model_sql(id).await
    }
    async fn list_logged_models(&self, project_ids: &[i64]) -> Result<Vec<LoggedModel>> {
        self.list_logged_models_sql(project_ids).await
    }
    async fn update_logged_model(&self, model: &LoggedModel) -> Result<LoggedModel> {
        self.put_logged_model_sql(model, false).await
    }
    async fn delete_logged_model(&self, id: &str) -> Result<()> {
        self.delete_logged_model_sql(id).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<User> {
        self.create_user_sql(user).await
    }
    async fn get_user(&self, name: &str) -> Result<UserRecord> {
        self.get_user_sql(name).await
    }
    async fn get_user_by_id(&self, id: i64) -> Result<UserRecord> {
        self.get_user_by_id_sql(id).await
    }
    async fn user_by_oidc(&self, issuer: &str, subject: &str) -> Result<UserRecord> {
        self.user_by_oidc_sql(issuer, subject).await
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        self.list_users_sql().await
    }
    async fn update_user(&self, name: &str, update: &UserUpdate) -> Result<User> {
        self.update_user_sql(name, update).await
    }
    async fn count_users(&self) -> Result<u64> {
        self.count_users_sql().await
    }
    async fn create_token(&self, token: &TokenRecord) -> Result<Token> {
        self.create_token_sql(token).await
    }
    async fn token_by_hash(&self, hash: &str) -> Result<(Token, UserRecord)> {
        self.token_by_hash_sql(hash).await
    }
    async fn list_tokens(&self, user_id: i64) -> Result<Vec<Token>> {
        self.list_tokens_sql(user_id).await
    }
    async fn get_token(&self, id: i64) -> Result<Token> {
        self.get_token_sql(id).await
    }
    async fn revoke_token(&self, id: i64, now: Millis) -> Result<Token> {
        self.revoke_token_sql(id, now).await
    }
    async fn heartbeat(&self, run: RunId, now: Millis) -> Result<bool> {
        let _turn = self.writer_turn().await;
        let done = sqlx::query(
            "UPDATE runs SET heartbeat_at = $2, \
             ended_at = CASE WHEN status = 'crashed' THEN NULL ELSE ended_at END, \
             status = 'running' \
             WHERE id = $1 AND status IN ('running', 'crashed') AND deleted_at IS NULL",
        )
        .bind(run_id_text(run))
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(done.rows_affected() > 0)
    }
    async fn mark_crashed(&self, stale_before: Millis, now: Millis) -> Result<Vec<RunId>> {
        let rows = sqlx::query(
            "UPDATE runs SET status = 'crashed', ended_at = heartbeat_at, updated_at = $2 \
             WHERE status = 'running' AND heartbeat_at IS NOT NULL AND heartbeat_at < $1 RETURNING id",
        )
        .bind(stale_before)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        rows.iter().map(|r| parse_run_id(&r.try_get::<String, _>("id").map_err(map_err)?)).collect()
    }
    async fn touch_token(&self, id: i64, now: Millis) -> Result<()> {
        self.touch_token_sql(id, now).await
    }
    async fn create_team(&self, name: &str, description: &str, now: Millis) -> Result<Team> {
        self.create_team_sql(name, description, now).await
    }
    async fn get_team(&self, name: &str) -> Result<Team> {
        self.get_team_sql(name).await
    }
    async fn list_teams(&self) -> Result<Vec<Team>> {
        self.list_teams_sql().await
    }
    async fn delete_team(&self, name: &str) -> Result<()> {
        self.delete_team_sql(name).await
    }
    async fn set_team_member(&self, team: &str, user: &str, role: Option<Role>) -> Result<Team> {
        self.set_team_member_sql(team, user, role).await
    }
    async fn project_members(&self, project_id: i64) -> Result<Vec<Member>> {
        self.project_members_sql(project_id).await
    }
    async fn set_project_member(
        &self,
        project_id: i64,
        kind: PrincipalKind,
        name: &str,
        role: Option<Role>,
    ) -> Result<Vec<Member>> {
        self.set_project_member_sql(project_id, kind, name, role).await
    }
    async fn memberships(&self, user_id: i64) -> Result<std::collections::BTreeMap<i64, Role>> {
        self.memberships_sql(user_id).await
    }
    async fn private_projects(&self) -> Result<Vec<i64>> {
        self.private_projects_sql().await
    }
    async fn create_job(&self, job: &cairn_domain::runner::Job, now: Millis) -> Result<()> {
        self.create_job_sql(job, now).await
    }
    async fn get_job(&self, run: RunId) -> Result<cairn_domain::runner::Job> {
        self.get_job_sql(run).await
    }
    async fn list_jobs(
        &self,
        states: &[cairn_domain::runner::JobState],
        limit: u32,
    ) -> Result<Vec<cairn_domain::runner::Job>> {
        self.list_jobs_sql(states, limit).await
    }
    async fn update_job(
        &self,
        run: RunId,
        expect: &[cairn_domain::runner::JobState],
        change: &cairn_store::JobChange<'_>,
        now: Millis,
    ) -> Result<Option<cairn_domain::runner::Job>> {
        self.update_job_sql(run, expect, change, now).await
    }
    async fn add_job_event(&self, run: RunId, event: &cairn_domain::runner::JobEvent) -> Result<()> {
        self.add_job_event_sql(run, event).await
    }
    async fn job_events(&self, run: RunId, limit: u32) -> Result<Vec<cairn_domain::runner::JobEvent>> {
        self.job_events_sql(run, limit).await
    }
    async fn job_spans(&self, since: Millis, budgeted_only: bool) -> Result<Vec<cairn_store::SpanRecord>> {
        self.job_spans_sql(since, budgeted_only).await
    }
    async fn register_agent(&self, agent: &cairn_domain::runner::Agent) -> Result<cairn_domain::runner::Agent> {
        self.register_agent_sql(agent).await
    }
    async fn agent_heartbeat(&self, id: &str, state: &str, gpu_utilisation: Option<f64>, now: Millis) -> Result<bool> {
        self.agent_heartbeat_sql(id, state, gpu_utilisation, now).await
    }
    async fn set_agent_state(&self, id: &str, state: &str) -> Result<()> {
        self.set_agent_state_sql(id, state).await
    }
    async fn list_agents(&self) -> Result<Vec<cairn_domain::runner::Agent>> {
        self.list_agents_sql().await
    }
    async fn take_lease(&self, name: &str, holder: &str, now: Millis, ttl_ms: i64) -> Result<bool> {
        self.take_lease_sql(name, holder, now, ttl_ms).await
    }
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        self.get_setting_sql(key).await
    }
    async fn put_setting(&self, key: &str, value: &str, now: Millis) -> Result<()> {
        self.put_setting_sql(key, value, now).await
    }
    async fn append_log(&self, run: RunId, offset: u64, text: &str) -> Result<u64> {
        self.append_log_sql(run, offset, text).await
    }
    async fn read_log(&self, run: RunId, offset: u64, max_bytes: u64) -> Result<(String, u64, u64)> {
        self.read_log_sql(run, offset, max_bytes).await
    }
    async fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.append_audit_sql(entry).await
    }
    async fn query_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        self.query_audit_sql(query).await
    }
}

fn codec_err(e: chunk::CodecError) -> StoreError {
    StoreError::Internal(e.0)
}

/// What a batch holds, for recognising a retry: keys, steps and values, in the order
/// sent. Timestamps are left out, so a retry that let the server stamp its points
/// again is still the same batch.
fn batch_digest(batch: &[(MetricKey, MetricSeries)]) -> String {
    let mut h = blake3::Hasher::new();
    for (key, s) in batch {
        h.update(&(key.as_str().len() as u64).to_le_bytes());
        h.update(key.as_str().as_bytes());
        h.update(&(s.len() as u64).to_le_bytes());
        for (step, v) in s.steps.iter().zip(&s.values) {
            h.update(&step.to_le_bytes());
            h.update(&v.to_bits().to_le_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

fn decode_chunk_row(row: &AnyRow, out: &mut MetricSeries) -> Result<()> {
    let g = |e: sqlx::Error| map_err(e);
    let blobs = chunk::Blobs {
        steps: row.try_get("steps").map_err(g)?,
        vals: row.try_get("vals").map_err(g)?,
        ts: row.try_get("ts").map_err(g)?,
    };
    chunk::decode(row.try_get("codec").map_err(g)?, &blobs, out).map_err(codec_err)
}

fn keep_range(all: MetricSeries, range: StepRange) -> MetricSeries {
    if range.min.is_none() && range.max.is_none() {
        return all;
    }
    let keep: Vec<usize> = (0..all.len()).filter(|&i| range.contains(all.steps[i])).collect();
    if keep.len() == all.len() {
        return all;
    }
    MetricSeries {
        steps: keep.iter().map(|&i| all.steps[i]).collect(),
        values: keep.iter().map(|&i| all.values[i]).collect(),
        timestamps: keep.iter().map(|&i| all.timestamps[i]).collect(),
    }
}

/// Sorted by step; points logged late keep their place among equal steps.
fn in_step_order(all: MetricSeries) -> MetricSeries {
    if all.steps.is_sorted() {
        return all;
    }
    let mut idx: Vec<usize> = (0..all.len()).collect();
    idx.sort_by_key(|&i| all.steps[i]);
    MetricSeries {
        steps: idx.iter().map(|&i| all.steps[i]).collect(),
        values: idx.iter().map(|&i| all.values[i]).collect(),
        timestamps: idx.iter().map(|&i| all.timestamps[i]).collect(),
    }
}

fn decode_artifact(row: &AnyRow) -> Result<ArtifactInfo> {
    let g = |e: sqlx::Error| map_err(e);
    Ok(ArtifactInfo {
        path: ArtifactPath::parse(row.try_get::<String, _>("path").map_err(g)?)
            .map_err(|e| StoreError::Internal(e.to_string()))?,
        size: row.try_get::<i64, _>("size").map_err(g)? as u64,
        blake3: row.try_get("blake3").map_err(g)?,
        created_at: row.try_get("created_at").map_err(g)?,
    })
}

/// A config leaf as a `run_params` row: its type and number are what it means
/// ([`cairn_domain::meaning`]: `"1e-3"` is the number 0.001), its text is what was
/// written, so a search by number and a search by the exact text both find it.
pub(crate) fn param_row(given: &serde_json::Value) -> (&'static str, Option<f64>, Option<String>) {
    // Numbers as JSON (and MLflow) write them, so a search by text finds what is shown.
    let written = match given {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match ParamValue::of(&cairn_domain::meaning(given)) {
        ParamValue::Number(n) => ("number", Some(n).filter(|n| !n.is_nan()), written.or_else(|| Some(n.to_string()))),
        ParamValue::Bool(b) => ("bool", Some(f64::from(u8::from(b))), written.or_else(|| Some(b.to_string()))),
        ParamValue::Text(s) => ("text", None, Some(s)),
        ParamValue::List(s) => ("list", None, Some(s)),
        ParamValue::Null => ("null", None, None),
    }
}
