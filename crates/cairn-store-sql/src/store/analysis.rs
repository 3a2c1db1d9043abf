//! Analyses computed where the runs are: a project's runs grouped by a parameter's
//! value (`tried`), and an evenly spread sample for model fitting (`insights`). Each
//! answer is a few aggregate queries whose output is bounded, whatever the number of
//! runs; nothing loads every run.

use super::{SqlStore, placeholders};
use crate::filter::{self, Bind, Sql};
use crate::map_err;
use cairn_domain::{ProjectName, RunStatus};
use cairn_query::Expr;
use cairn_store::{GROUP_LIST_LIMIT, MetricSample, ParamGroup, ParamValues, Result, StoreError};
use futures::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use std::collections::{BTreeSet, HashMap};

/// Finite values only: SQLite and PostgreSQL both keep infinities, and a mean with one
/// is no mean.
const FINITE: &str = "BETWEEN -1.7e308 AND 1.7e308";

/// Up to this many qualifying runs, a sample is every k-th in the metric's order (one
/// sort); past it, a sample stratified by creation time, found by index seeks.
const EVERY_KTH_UP_TO: i64 = 100_000;

/// The runs of one project with their value of a key ($1) and of a metric ($2) as `v`.
/// A value is grouped by what it means (`1e-3` and `0.0010` are one number): `value` is
/// that identity, `vtype`/`num`/`txt` what it is shown from.
fn runs_by_value(project_bind: usize) -> String {
    format!(
        "WITH v AS (SELECT r.id, r.short_id, r.owner, r.status, r.exit_code, r.created_at, r.group_id, \
         CASE WHEN x.run_id IS NULL THEN NULL WHEN x.vtype IN ('number', 'bool') \
         THEN x.vtype || ':' || CAST(x.num AS TEXT) ELSE x.vtype || ':' || COALESCE(x.txt, '') END AS value, \
         x.vtype AS vtype, x.num AS num, x.txt AS txt, \
         CASE WHEN r.status = 'finished' AND m.last {FINITE} THEN m.last END AS mv \
         FROM runs r JOIN projects p ON p.id = r.project_id \
         LEFT JOIN run_params x ON x.run_id = r.id AND x.key = $1 \
         LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = $2 \
         WHERE p.name = ${project_bind} AND r.deleted_at IS NULL)"
    )
}

/// What the second pass gathers for one group.
#[derive(Default)]
pub(super) struct Detail {
    pub min: Option<(f64, String)>,
    pub max: Option<(f64, String)>,
    /// (created, short id, for failures: (id, status, exit code)), newest first.
    pub newest: Vec<Listed>,
    pub failures: Vec<Listed>,
    pub owners: BTreeSet<String>,
    pub groups: HashMap<String, u64>,
}

pub(super) type Listed = (i64, String, Option<(String, String, Option<i64>)>);

/// Keeps the newest [`GROUP_LIST_LIMIT`] entries, newest first (ties: smaller short id).
pub(super) fn keep_newest(list: &mut Vec<Listed>, item: Listed) {
    let before = |a: &Listed, b: &Listed| a.0 > b.0 || (a.0 == b.0 && a.1 < b.1);
    if list.len() == GROUP_LIST_LIMIT && !before(&item, list.last().expect("full")) {
        return;
    }
    let at = list.iter().position(|x| before(&item, x)).unwrap_or(list.len());
    list.insert(at, item);
    list.truncate(GROUP_LIST_LIMIT);
}

/// A parameter value as `tried` shows it: numbers as JSON writes them (`64`, `0.001`),
/// booleans, text and lists as written.
pub(super) fn shown_as(row: &AnyRow) -> Result<String> {
    let vtype: String = row.try_get("vtype").map_err(map_err)?;
    let num: Option<f64> = row.try_get("num").map_err(map_err)?;
    Ok(match (vtype.as_str(), num) {
        ("number", Some(n)) => serde_json::Number::from_f64(n).map_or_else(
            || n.to_string(),
            |j| {
                if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { j.to_string() }
            },
        ),
        ("bool", Some(n)) => (n != 0.0).to_string(),
        ("null", _) => "null".to_owned(),
        _ => text(row, "txt")?.unwrap_or_default(),
    })
}

/// Folds one run (columns `id, short_id, owner, status, exit_code, created_at, group_id,
/// mv`) into its group's details.
pub(super) fn absorb(d: &mut Detail, row: &AnyRow) -> Result<()> {
    let g = map_err;
    let short: String = row.try_get("short_id").map_err(g)?;
    let created: i64 = row.try_get("created_at").map_err(g)?;
    if let Some(v) = row.try_get::<Option<f64>, _>("mv").map_err(g)? {
        if d.min.as_ref().is_none_or(|(m, id)| v < *m || (v == *m && short < *id)) {
            d.min = Some((v, short.clone()));
        }
        if d.max.as_ref().is_none_or(|(m, id)| v > *m || (v == *m && short < *id)) {
            d.max = Some((v, short.clone()));
        }
    }
    keep_newest(&mut d.newest, (created, short.clone(), None));
    let status: String = row.try_get("status").map_err(g)?;
    if matches!(status.as_str(), "failed" | "killed" | "crashed") {
        let exit: Option<i64> = row.try_get("exit_code").map_err(g)?;
        let id: String = row.try_get("id").map_err(g)?;
        keep_newest(&mut d.failures, (created, short, Some((id, status, exit))));
    }
    let owner: String = row.try_get("owner").map_err(g)?;
    if d.owners.len() < GROUP_LIST_LIMIT || d.owners.contains(&owner) {
        d.owners.insert(owner);
    }
    if let Some(group) = row.try_get::<Option<String>, _>("group_id").map_err(g)? {
        *d.groups.entry(group).or_default() += 1;
    }
    Ok(())
}

pub(super) fn text(row: &AnyRow, col: &str) -> Result<Option<String>> {
    row.try_get(col).map_err(map_err)
}

impl SqlStore {
    /// `tried`'s groups: read from the tallies when the metric is the project's primary
    /// metric (or none), else computed from the runs.
    pub(super) async fn param_values_sql(
        &self,
        project: &ProjectName,
        key: &str,
        judge: Option<(&str, cairn_domain::Direction)>,
        limit: u32,
    ) -> Result<ParamValues> {
        let metric = judge.map(|(m, _)| m);
        let row = sqlx::query("SELECT id, primary_metric FROM projects WHERE name = $1")
            .bind(project.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .ok_or_else(|| StoreError::not_found("project", project))?;
        let id: i64 = row.try_get("id").map_err(map_err)?;
        let primary: Option<cairn_domain::PrimaryMetric> =
            super::parse_json("primary_metric", row.try_get("primary_metric").map_err(map_err)?)?;
        if metric.is_none() || metric == primary.as_ref().map(|p| p.key.as_str()) {
            return self.param_values_tallied(id, key, judge, limit, super::tally::SMALL_GROUP).await;
        }
        self.param_values_live(project, key, metric, limit).await
    }

    /// `tried`'s groups for any metric: a pass over the project's runs.
    pub(crate) async fn param_values_live(
        &self,
        project: &ProjectName,
        key: &str,
        metric: Option<&str>,
        limit: u32,
    ) -> Result<ParamValues> {
        let cte = runs_by_value(3);
        // A metric key is never empty: '' matches no summary.
        let metric = metric.unwrap_or("").to_owned();
        let base = |sql: &str| {
            sqlx::query(AssertSqlSafe(sql.to_owned()))
                .bind(key.to_owned())
                .bind(metric.clone())
                .bind(project.as_str().to_owned())
        };
        let rows = base(&format!(
            "{cte} SELECT value, min(vtype) AS vtype, min(num) AS num, min(txt) AS txt, count(*) AS runs, \
             sum(CASE WHEN status = 'finished' THEN 1 ELSE 0 END) AS finished, \
             sum(CASE WHEN status IN ('failed', 'killed', 'crashed') THEN 1 ELSE 0 END) AS failed, \
             min(created_at) AS first, max(created_at) AS last, count(mv) AS n, avg(mv) AS mean, \
             sum(mv * mv) AS sq, count(*) OVER () AS total \
             FROM v GROUP BY value ORDER BY runs DESC, value LIMIT $4"
        ))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?;
        let mut out = ParamValues::default();
        let mut at: HashMap<Option<String>, usize> = HashMap::new();
        let mut keys: Vec<Option<String>> = Vec::new();
        for row in &rows {
            let g = map_err;
            out.values_total = row.try_get::<i64, _>("total").map_err(g)? as u64;
            let n = row.try_get::<i64, _>("n").map_err(g)? as u64;
            let mean: Option<f64> = row.try_get("mean").map_err(g)?;
            let sq: Option<f64> = row.try_get("sq").map_err(g)?;
            let sd = match (mean, sq) {
                (Some(m), Some(sq)) if n > 1 => Some(((sq - n as f64 * m * m) / (n - 1) as f64).max(0.0).sqrt()),
                _ => None,
            };
            let value = text(row, "value")?;
            at.insert(value.clone(), out.groups.len());
            keys.push(value.clone());
            out.groups.push(ParamGroup {
                value: value.map(|_| shown_as(row)).transpose()?,
                runs: row.try_get::<i64, _>("runs").map_err(g)? as u64,
                finished: row.try_get::<i64, _>("finished").map_err(g)? as u64,
                failed: row.try_get::<i64, _>("failed").map_err(g)? as u64,
                first: row.try_get("first").map_err(g)?,
                last: row.try_get("last").map_err(g)?,
                n,
                mean: mean.filter(|_| n > 0),
                sd,
                ..Default::default()
            });
        }
        out.key_seen = out.values_total > 1 || out.groups.iter().any(|g| g.value.is_some());
        if out.groups.is_empty() {
            return Ok(out);
        }
        // The details below read only the groups shown.
        let shown: Vec<String> = keys.iter().flatten().cloned().collect();
        let mut cond = String::from("(");
        if !shown.is_empty() {
            cond.push_str(&format!("value IN ({})", placeholders(4, shown.len())));
        }
        if at.contains_key(&None) {
            cond.push_str(if shown.is_empty() { "value IS NULL" } else { " OR value IS NULL" });
        }
        cond.push(')');
        // One more pass, over the shown groups' runs only, streamed: extremes, the newest
        // runs and failures, owners and replicate groups, each list bounded.
        let mut q = base(&format!(
            "{cte} SELECT value, id, short_id, owner, status, exit_code, created_at, group_id, mv FROM v WHERE {cond}"
        ));
        for v in &shown {
            q = q.bind(v.clone());
        }
        let mut rows = q.fetch(&self.pool);
        let mut details: Vec<Detail> = (0..out.groups.len()).map(|_| Detail::default()).collect();
        while let Some(row) = rows.try_next().await.map_err(map_err)? {
            let Some(&i) = at.get(&text(&row, "value")?) else { continue };
            absorb(&mut details[i], &row)?;
        }
        drop(rows);
        self.finish_groups(&mut out.groups, details).await?;
        Ok(out)
    }

    /// Fills the groups' lists from their details, with each listed failure's reason.
    pub(super) async fn finish_groups(&self, groups: &mut [ParamGroup], details: Vec<Detail>) -> Result<()> {
        // Why each listed failure failed, in one read.
        let failed_ids: Vec<String> =
            details.iter().flat_map(|d| d.failures.iter().filter_map(|f| f.2.as_ref().map(|x| x.0.clone()))).collect();
        let mut reasons: HashMap<String, String> = HashMap::new();
        if !failed_ids.is_empty() {
            let sql = format!(
                "SELECT run_id, value FROM run_tags WHERE key = 'cairn.failure' AND run_id IN ({})",
                super::list_placeholders(self.dialect, failed_ids.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in &failed_ids {
                q = q.bind(id.clone());
            }
            for row in q.fetch_all(&self.pool).await.map_err(map_err)? {
                reasons.insert(row.try_get("run_id").map_err(map_err)?, row.try_get("value").map_err(map_err)?);
            }
        }
        for (group, d) in groups.iter_mut().zip(details) {
            group.min = d.min;
            group.max = d.max;
            group.newest = d.newest.into_iter().map(|(_, id, _)| id).collect();
            for (_, short, f) in d.failures {
                let Some((id, status, exit)) = f else { continue };
                let status = RunStatus::parse(&status)
                    .map_err(|_| StoreError::Internal(format!("run {short} has status '{status}'")))?;
                group.failures.push((short, status, exit.map(|e| e as i32), reasons.get(&id).cloned()));
            }
            group.owners = d.owners.into_iter().collect();
            let replicated: Vec<u64> = d.groups.values().copied().filter(|&n| n > 1).collect();
            group.replicate_groups = replicated.len() as u64;
            group.replicated_runs = replicated.iter().sum();
        }
        Ok(())
    }

    pub(super) async fn metric_sample_sql(
        &self,
        project: &ProjectName,
        metric: &str,
        filter: Option<&Expr>,
        limit: u32,
    ) -> Result<MetricSample> {
        let limit = i64::from(limit.max(1));
        // The qualifying runs; the sample query numbers them in the metric's order.
        let from = |sql: &mut Sql| -> Result<()> {
            // From the project's runs (a time range in the filter narrows that index
            // walk), each looking its metric up: SQLite keeps this order, and without it
            // chose to walk the metric's index over every project's runs.
            sql.push(
                " FROM runs r CROSS JOIN metric_summaries m CROSS JOIN projects p \
                 WHERE r.project_id = (SELECT id FROM projects WHERE name = ",
            )
            .bind_text(project.as_str())
            .push(") AND m.run_id = r.id AND m.key = ")
            .bind_text(metric)
            .push(" AND p.id = r.project_id AND r.deleted_at IS NULL AND r.status = 'finished' AND m.last ")
            .push(FINITE);
            if let Some(expr) = filter {
                expr.check_limits().map_err(StoreError::Invalid)?;
                sql.push(" AND ");
                filter::push_expr(sql, expr)?;
            }
            Ok(())
        };
        // Without a filter, the primary metric's qualifying runs are counted in the
        // tallies; otherwise one pass over the project's runs (a time range in the filter
        // narrows it).
        let tallied = if filter.is_none() {
            sqlx::query(
                "SELECT p.id AS pid, p.primary_metric, \
                 (SELECT CAST(sum(n) AS BIGINT) FROM day_tally d WHERE d.project_id = p.id AND d.status = 'finished') AS n, \
                 (SELECT min(created_at) FROM runs r WHERE r.project_id = p.id) AS lo, \
                 (SELECT max(created_at) FROM runs r WHERE r.project_id = p.id) AS hi \
                 FROM projects p WHERE p.name = $1",
            )
            .bind(project.as_str().to_owned())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .map(|row| {
                let primary: Option<cairn_domain::PrimaryMetric> =
                    super::parse_json("primary_metric", row.try_get("primary_metric").map_err(map_err)?)?;
                Ok::<_, StoreError>(primary.filter(|p| p.key == metric).map(|_| row))
            })
            .transpose()?
            .flatten()
        } else {
            None
        };
        let row = match tallied {
            Some(row) => row,
            None => {
                let mut count = Sql::new(self.dialect);
                count.push(
                    "SELECT count(*) AS n, min(r.created_at) AS lo, max(r.created_at) AS hi, min(r.project_id) AS pid",
                );
                from(&mut count)?;
                sqlx::query_with(AssertSqlSafe(count.text), super::args(&count.binds))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?
            }
        };
        let total: i64 = row.try_get::<Option<i64>, _>("n").map_err(map_err)?.unwrap_or(0);
        let step = ((total + limit - 1) / limit).max(1);
        let mut sample = Sql::new(self.dialect);
        if total > EVERY_KTH_UP_TO {
            // Too many to number in the metric's order: the first qualifying run at or
            // after each of `limit` evenly spaced moments of the qualifying runs' span
            // (a sample stratified by time), each found by an index seek.
            let (lo, hi, pid): (Option<i64>, Option<i64>, i64) = (
                row.try_get("lo").map_err(map_err)?,
                row.try_get("hi").map_err(map_err)?,
                row.try_get("pid").map_err(map_err)?,
            );
            let (lo, hi) = (lo.unwrap_or(0), hi.unwrap_or(0));
            super::push_moments(&mut sample, pid, lo, ((hi - lo) / limit).max(1), limit, true);
            sample.push("SELECT DISTINCT r.short_id, m.last AS value, r.config FROM picked k CROSS JOIN runs r ");
            sample.push("CROSS JOIN metric_summaries m CROSS JOIN projects p WHERE r.id = k.id AND m.run_id = r.id ");
            sample.push("AND p.id = r.project_id AND m.key = ").bind_text(metric);
            sample.push(" AND m.last ").push(FINITE);
            if let Some(expr) = filter {
                sample.push(" AND ");
                filter::push_expr(&mut sample, expr)?;
            }
        } else {
            sample.push("SELECT w.short_id, w.value, r.config FROM (SELECT r.id, r.short_id, m.last AS value, ");
            sample.push("row_number() OVER (ORDER BY m.last, r.id) AS k");
            from(&mut sample)?;
            sample.push(") w JOIN runs r ON r.id = w.id WHERE (w.k - 1) % ").bind(Bind::Int(step)).push(" = 0");
        }
        let rows = sqlx::query_with(AssertSqlSafe(sample.text), super::args(&sample.binds))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut out = MetricSample { total: total as u64, runs: Vec::with_capacity(rows.len()) };
        for row in &rows {
            let config: String = row.try_get("config").map_err(map_err)?;
            let config = serde_json::from_str(&config)
                .map_err(|e| StoreError::Internal(format!("a run's config is not JSON: {e}")))?;
            out.runs.push((row.try_get("short_id").map_err(map_err)?, row.try_get("value").map_err(map_err)?, config));
        }
        Ok(out)
    }
}
