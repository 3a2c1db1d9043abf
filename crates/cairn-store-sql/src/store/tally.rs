//! `tried` from the tallies kept on write (migration 12): the counts, owners and the
//! primary metric's mean and sd per value are a few aggregate rows. The lists (newest
//! runs, failures, the best run, first run, replicate groups) are bounded reads: a
//! value with few runs is read from the param index, a value with many by walking the
//! newest-first (or metric-ordered) index until the list is full, which for a common
//! value is a short walk.

use super::SqlStore;
use super::analysis::{Detail, absorb, keep_newest, shown_as, text};
use crate::filter::{Bind, Sql};
use crate::map_err;
use cairn_store::{GROUP_LIST_LIMIT, ParamGroup, ParamValues, Result};
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;

/// A value with at most this many runs has its runs read through the param index.
pub(super) const SMALL_GROUP: u64 = 2_000;
/// At most this many runs are read that way for one answer; larger values are walked.
const SMALL_TOTAL: u64 = 20_000;
const FINITE: &str = "BETWEEN -1.7e308 AND 1.7e308";

/// How one group's runs are found: the key's row with this value, or no row at all.
enum Match {
    Value { vtype: String, num: Option<f64>, txt: Option<String> },
    NotSet,
}

impl Match {
    /// `x` is run_params, `r` runs.
    fn push(&self, sql: &mut Sql, key: &str) {
        match self {
            Match::Value { vtype, num, txt } => {
                sql.push(" AND x.run_id = r.id AND x.key = ").bind_text(key);
                sql.push(" AND x.vtype = ").bind_text(vtype);
                if matches!(vtype.as_str(), "number" | "bool") {
                    match num {
                        Some(n) => sql.push(" AND x.num = ").bind(Bind::Real(*n)),
                        None => sql.push(" AND x.num IS NULL"),
                    };
                } else {
                    match txt {
                        Some(t) => sql.push(" AND x.txt = ").bind_text(t),
                        None => sql.push(" AND x.txt IS NULL"),
                    };
                }
            }
            Match::NotSet => {
                sql.push(" AND NOT EXISTS (SELECT 1 FROM run_params x WHERE x.run_id = r.id AND x.key = ")
                    .bind_text(key)
                    .push(")");
            }
        }
    }

    fn params_table(&self, join: &str) -> String {
        match self {
            Match::Value { .. } => format!(" {join} run_params x"),
            Match::NotSet => String::new(),
        }
    }
}

impl SqlStore {
    /// `small_group`: the most runs a value may have to be read through the param
    /// index ([`SMALL_GROUP`]; tests pass 0 or `u64::MAX` to take one way only).
    pub(crate) async fn param_values_tallied(
        &self,
        project_id: i64,
        key: &str,
        judge: Option<(&str, cairn_domain::Direction)>,
        limit: u32,
        small_group: u64,
    ) -> Result<ParamValues> {
        let metric = judge.map(|(m, _)| m);
        let g = map_err;
        let limit = limit.max(1) as usize;
        // Every value with live runs, most runs first; the key's totals; the project's.
        let rows = sqlx::query(
            "SELECT value, min(vtype) AS vtype, min(num) AS num, min(txt) AS txt, CAST(sum(runs) AS BIGINT) AS nruns, \
             CAST(sum(finished) AS BIGINT) AS finished, CAST(sum(failed) AS BIGINT) AS failed, \
             CAST(sum(n) AS BIGINT) AS n, sum(total) AS total, sum(squares) AS squares \
             FROM param_tally WHERE project_id = $1 AND key = $2 GROUP BY value HAVING sum(runs) > 0 \
             ORDER BY nruns DESC, value LIMIT $3",
        )
        .bind(project_id)
        .bind(key.to_owned())
        .bind(limit as i64 + 1)
        .fetch_all(&self.pool)
        .await
        .map_err(g)?;
        let totals = |sql: &'static str| async move {
            let r = sqlx::query(sql).bind(project_id).bind(key.to_owned()).fetch_one(&self.pool).await.map_err(g)?;
            let get = |c: &str| r.try_get::<Option<i64>, _>(c).map_err(g).map(|v| v.unwrap_or(0));
            let getf = |c: &str| r.try_get::<Option<f64>, _>(c).map_err(g).map(|v| v.unwrap_or(0.0));
            Ok::<_, cairn_store::StoreError>((
                [get("nruns")?, get("finished")?, get("failed")?, get("n")?],
                [getf("total")?, getf("squares")?],
            ))
        };
        let (keyed, keyed_f) = totals(
            "SELECT CAST(sum(runs) AS BIGINT) AS nruns, CAST(sum(finished) AS BIGINT) AS finished, \
             CAST(sum(failed) AS BIGINT) AS failed, CAST(sum(n) AS BIGINT) AS n, sum(total) AS total, \
             sum(squares) AS squares FROM param_tally WHERE project_id = $1 AND key = $2",
        )
        .await?;
        let (all, all_f) = totals(
            "SELECT CAST(sum(runs) AS BIGINT) AS nruns, \
             CAST(sum(CASE WHEN status = 'finished' THEN runs ELSE 0 END) AS BIGINT) AS finished, \
             CAST(sum(CASE WHEN status IN ('failed', 'killed', 'crashed') THEN runs ELSE 0 END) AS BIGINT) AS failed, \
             CAST(sum(n) AS BIGINT) AS n, sum(total) AS total, sum(squares) AS squares \
             FROM day_tally WHERE project_id = $1 AND $2 = $2",
        )
        .await?;
        let valued: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT value FROM param_tally WHERE project_id = $1 AND key = $2 \
             GROUP BY value HAVING sum(runs) > 0) v",
        )
        .bind(project_id)
        .bind(key.to_owned())
        .fetch_one(&self.pool)
        .await
        .map_err(g)?;
        let unset = all[0] - keyed[0];
        let mut out =
            ParamValues { values_total: valued as u64 + u64::from(unset > 0), key_seen: valued > 0, groups: vec![] };
        let stats = |n: i64, total: f64, squares: f64| {
            let n = n.max(0) as u64;
            let mean = (n > 0).then(|| total / n as f64);
            let sd = mean.filter(|_| n > 1).map(|m| ((squares - n as f64 * m * m) / (n - 1) as f64).max(0.0).sqrt());
            (n, mean, sd)
        };
        let mut matches: Vec<Match> = Vec::new();
        // Each group's tally identity (None: the "not set" group).
        let mut idents: Vec<Option<String>> = Vec::new();
        for row in &rows {
            let (n, mean, sd) = stats(
                row.try_get("n").map_err(g)?,
                row.try_get("total").map_err(g)?,
                row.try_get("squares").map_err(g)?,
            );
            idents.push(Some(row.try_get("value").map_err(g)?));
            matches.push(Match::Value {
                vtype: row.try_get("vtype").map_err(g)?,
                num: row.try_get("num").map_err(g)?,
                txt: text(row, "txt")?,
            });
            out.groups.push(ParamGroup {
                value: Some(shown_as(row)?),
                runs: row.try_get::<i64, _>("nruns").map_err(g)? as u64,
                finished: row.try_get::<i64, _>("finished").map_err(g)? as u64,
                failed: row.try_get::<i64, _>("failed").map_err(g)? as u64,
                n,
                mean,
                sd,
                ..Default::default()
            });
        }
        if unset > 0 {
            let (n, mean, sd) = stats(all[3] - keyed[3], all_f[0] - keyed_f[0], all_f[1] - keyed_f[1]);
            let at = out.groups.iter().position(|x| x.runs < unset as u64).unwrap_or(out.groups.len());
            matches.insert(at, Match::NotSet);
            idents.insert(at, None);
            out.groups.insert(
                at,
                ParamGroup {
                    value: None,
                    runs: unset as u64,
                    finished: (all[1] - keyed[1]).max(0) as u64,
                    failed: (all[2] - keyed[2]).max(0) as u64,
                    n,
                    mean,
                    sd,
                    ..Default::default()
                },
            );
        }
        out.groups.truncate(limit);
        matches.truncate(limit);
        idents.truncate(limit);
        if out.groups.is_empty() {
            return Ok(out);
        }
        if metric.is_none() {
            for group in &mut out.groups {
                (group.n, group.mean, group.sd) = (0, None, None);
            }
        }
        let mut details: Vec<TallyDetail> = (0..out.groups.len()).map(|_| TallyDetail::default()).collect();
        // Few runs: read them all through the param index, in one query.
        let mut small = Vec::new();
        let mut budget = SMALL_TOTAL;
        for (i, (group, m)) in out.groups.iter().zip(&matches).enumerate() {
            if matches!(m, Match::Value { .. }) && group.runs <= small_group && group.runs <= budget {
                budget -= group.runs;
                small.push(i);
            }
        }
        if !small.is_empty() {
            self.small_groups(project_id, key, metric, &out.groups, &small, &mut details).await?;
        }
        // The best run of each large value, from the tally's extremes where they are known.
        let walked: Vec<usize> = (0..matches.len()).filter(|i| !small.contains(i)).collect();
        let best = match judge {
            Some((_, direction)) => self.tallied_best(project_id, key, direction, &walked, &idents).await?,
            None => HashMap::new(),
        };
        for &i in &walked {
            let known = best.get(&i).cloned();
            if let Some(b) = &known {
                match judge.map(|j| j.1) {
                    Some(cairn_domain::Direction::Decrease) => details[i].detail.min = b.clone(),
                    _ => details[i].detail.max = b.clone(),
                }
            }
            let judge = if known.is_some() { None } else { judge };
            self.walk_group(project_id, key, judge, &matches[i], &mut details[i]).await?;
        }
        // first/last come from the walks or the rows read.
        let firsts: Vec<(i64, i64)> = details.iter().map(|d| (d.first, d.last)).collect();
        self.finish_groups(&mut out.groups, details.into_iter().map(|d| d.detail).collect()).await?;
        for (group, (first, last)) in out.groups.iter_mut().zip(firsts) {
            (group.first, group.last) = (first, last);
        }
        // Owners from the tally (after the lists, which would otherwise replace them).
        self.owners_from_tally(project_id, key, &mut out.groups, &idents).await?;
        Ok(out)
    }

    /// The best run per value (by index into `idents`) from the tally's extremes, for the
    /// values whose extremes are known (no row of theirs has lost an extreme); `None`
    /// inside: known to have no value.
    async fn tallied_best(
        &self,
        project_id: i64,
        key: &str,
        direction: cairn_domain::Direction,
        wanted: &[usize],
        idents: &[Option<String>],
    ) -> Result<HashMap<usize, Option<(f64, String)>>> {
        let g = map_err;
        let values: Vec<(usize, &String)> =
            wanted.iter().filter_map(|&i| idents.get(i).and_then(|v| v.as_ref()).map(|v| (i, v))).collect();
        let mut out = HashMap::new();
        if values.is_empty() {
            return Ok(out);
        }
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT value, hi, hi_run, lo, lo_run, gone FROM param_tally WHERE project_id = ")
            .bind(Bind::Int(project_id))
            .push(" AND key = ")
            .bind_text(key)
            .push(" AND runs > 0 AND value IN (");
        for (k, (_, v)) in values.iter().enumerate() {
            sql.push(if k == 0 { "" } else { ", " }).bind_text(v);
        }
        sql.push(")");
        let low = direction == cairn_domain::Direction::Decrease;
        let mut per: HashMap<String, Option<Option<(f64, String)>>> = HashMap::new();
        for row in
            sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds)).fetch_all(&self.pool).await.map_err(g)?
        {
            let value: String = row.try_get("value").map_err(g)?;
            let gone: i64 = row.try_get("gone").map_err(g)?;
            let (v, run): (Option<f64>, Option<String>) = if low {
                (row.try_get("lo").map_err(g)?, row.try_get("lo_run").map_err(g)?)
            } else {
                (row.try_get("hi").map_err(g)?, row.try_get("hi_run").map_err(g)?)
            };
            let entry = per.entry(value).or_insert(Some(None));
            if gone != 0 {
                *entry = None;
                continue;
            }
            let (Some(slot), Some(v), Some(run)) = (entry.as_mut(), v, run) else { continue };
            let better = match slot {
                None => true,
                Some((b, id)) => (if low { v < *b } else { v > *b }) || (v == *b && run < *id),
            };
            if better {
                *slot = Some((v, run));
            }
        }
        for (i, v) in values {
            if let Some(Some(best)) = per.get(v) {
                out.insert(i, best.clone());
            }
        }
        Ok(out)
    }

    /// Each shown group's owners (at most [`GROUP_LIST_LIMIT`], in name order): its
    /// tally rows, and for the "not set" group the project's owners with more runs than
    /// the key has for them.
    async fn owners_from_tally(
        &self,
        project_id: i64,
        key: &str,
        groups: &mut [ParamGroup],
        idents: &[Option<String>],
    ) -> Result<()> {
        let g = map_err;
        let shown: Vec<&String> = idents.iter().flatten().collect();
        let mut by_value: HashMap<String, Vec<String>> = HashMap::new();
        if !shown.is_empty() {
            let mut sql = Sql::new(self.dialect);
            sql.push("SELECT value, owner FROM param_tally WHERE project_id = ").bind(Bind::Int(project_id));
            sql.push(" AND key = ").bind_text(key).push(" AND value IN (");
            for (k, v) in shown.iter().enumerate() {
                sql.push(if k == 0 { "" } else { ", " }).bind_text(v);
            }
            sql.push(") GROUP BY value, owner HAVING sum(runs) > 0 ORDER BY value, owner");
            for r in sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(g)?
            {
                by_value.entry(r.try_get("value").map_err(g)?).or_default().push(r.try_get("owner").map_err(g)?);
            }
        }
        let mut unset_owners = Vec::new();
        if idents.iter().any(Option::is_none) {
            let mut keyed: HashMap<String, i64> = HashMap::new();
            for r in sqlx::query(
                "SELECT owner, CAST(sum(runs) AS BIGINT) AS n FROM param_tally WHERE project_id = $1 AND key = $2 \
                 GROUP BY owner",
            )
            .bind(project_id)
            .bind(key.to_owned())
            .fetch_all(&self.pool)
            .await
            .map_err(g)?
            {
                keyed.insert(r.try_get("owner").map_err(g)?, r.try_get::<i64, _>("n").map_err(g)?);
            }
            for r in sqlx::query(
                "SELECT owner, CAST(sum(runs) AS BIGINT) AS n FROM day_tally WHERE project_id = $1 \
                 GROUP BY owner ORDER BY owner",
            )
            .bind(project_id)
            .fetch_all(&self.pool)
            .await
            .map_err(g)?
            {
                let owner: String = r.try_get("owner").map_err(g)?;
                if r.try_get::<i64, _>("n").map_err(g)? > keyed.get(&owner).copied().unwrap_or(0) {
                    unset_owners.push(owner);
                }
            }
        }
        for (group, ident) in groups.iter_mut().zip(idents) {
            let mut owners = match ident {
                None => unset_owners.clone(),
                Some(v) => by_value.remove(v).unwrap_or_default(),
            };
            owners.truncate(GROUP_LIST_LIMIT);
            group.owners = owners;
        }
        Ok(())
    }

    /// The runs of the small groups, through the param index, folded like the live path.
    async fn small_groups(
        &self,
        project_id: i64,
        key: &str,
        metric: Option<&str>,
        groups: &[ParamGroup],
        small: &[usize],
        details: &mut [TallyDetail],
    ) -> Result<()> {
        let at: HashMap<String, usize> =
            small.iter().map(|&i| (groups[i].value.clone().unwrap_or_default(), i)).collect();
        let texts: Vec<&String> = at.keys().collect();
        let nums: Vec<f64> = at
            .keys()
            .filter_map(|v| match v.as_str() {
                "true" => Some(1.0),
                "false" => Some(0.0),
                _ => v.parse::<f64>().ok(),
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        // Text values through (key, txt), numbers and booleans through (key, num).
        for by_num in [false, true] {
            if by_num && nums.is_empty() {
                continue;
            }
            let mut sql = Sql::new(self.dialect);
            sql.push(
                "SELECT x.vtype, x.num, x.txt, r.id, r.short_id, r.owner, r.status, r.exit_code, r.created_at, \
                 r.group_id, CASE WHEN r.status = 'finished' AND m.last ",
            )
            .push(FINITE)
            .push(
                " THEN m.last END AS mv FROM run_params x JOIN runs r ON r.id = x.run_id \
                 LEFT JOIN metric_summaries m ON m.run_id = r.id AND m.key = ",
            )
            .bind_text(metric.unwrap_or(""))
            .push(" WHERE x.key = ")
            .bind_text(key)
            .push(" AND r.project_id = ")
            .bind(Bind::Int(project_id))
            .push(" AND r.deleted_at IS NULL AND ");
            if by_num {
                sql.push("x.num IN (");
                for (k, n) in nums.iter().enumerate() {
                    sql.push(if k == 0 { "" } else { ", " }).bind(Bind::Real(*n));
                }
            } else {
                sql.push(if at.contains_key("null") { "(x.vtype = 'null' OR x.txt IN (" } else { "(x.txt IN (" });
                for (k, t) in texts.iter().enumerate() {
                    sql.push(if k == 0 { "" } else { ", " }).bind_text(t);
                }
                sql.push(")");
            }
            sql.push(")");
            let rows = sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(map_err)?;
            for row in &rows {
                let Some(&i) = at.get(&shown_as(row)?) else { continue };
                let id: String = row.try_get("id").map_err(map_err)?;
                if !seen.insert(id) {
                    continue;
                }
                let created: i64 = row.try_get("created_at").map_err(map_err)?;
                let d = &mut details[i];
                d.first = if d.seen { d.first.min(created) } else { created };
                d.last = if d.seen { d.last.max(created) } else { created };
                d.seen = true;
                absorb(&mut d.detail, row)?;
            }
        }
        Ok(())
    }

    /// One large group's lists by bounded index walks.
    async fn walk_group(
        &self,
        project_id: i64,
        key: &str,
        judge: Option<(&str, cairn_domain::Direction)>,
        m: &Match,
        d: &mut TallyDetail,
    ) -> Result<()> {
        let g = map_err;
        // SQLite keeps a CROSS JOIN's order (the walk is the point); PostgreSQL plans it freely.
        let join = "CROSS JOIN";
        let lim = GROUP_LIST_LIMIT as i64;
        let runs_where = |sql: &mut Sql, extra: &str| {
            sql.push(" WHERE r.project_id = ")
                .bind(Bind::Int(project_id))
                .push(" AND r.deleted_at IS NULL")
                .push(extra);
            m.push(sql, key);
        };
        // Newest first, and the first run.
        for (order, limit) in [("DESC", lim), ("ASC", 1)] {
            let mut sql = Sql::new(self.dialect);
            sql.push("SELECT r.short_id, r.created_at FROM runs r").push(&m.params_table(join));
            runs_where(&mut sql, "");
            sql.push(&format!(" ORDER BY r.created_at {order}, r.short_id LIMIT ")).bind(Bind::Int(limit));
            let rows = sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(g)?;
            for row in &rows {
                let short: String = row.try_get("short_id").map_err(g)?;
                let created: i64 = row.try_get("created_at").map_err(g)?;
                if order == "DESC" {
                    if !d.seen {
                        d.last = created;
                    }
                    keep_newest(&mut d.detail.newest, (created, short, None));
                } else {
                    d.first = created;
                }
                d.seen = true;
            }
        }
        // The newest failures, one status at a time through (project, status, created).
        for status in ["failed", "killed", "crashed"] {
            let mut sql = Sql::new(self.dialect);
            sql.push("SELECT r.id, r.short_id, r.status, r.exit_code, r.created_at FROM runs r")
                .push(&m.params_table(join));
            runs_where(&mut sql, "");
            sql.push(" AND r.status = ").bind_text(status);
            sql.push(" ORDER BY r.created_at DESC, r.short_id LIMIT ").bind(Bind::Int(lim));
            for row in sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(g)?
            {
                let exit: Option<i64> = row.try_get("exit_code").map_err(g)?;
                keep_newest(
                    &mut d.detail.failures,
                    (
                        row.try_get("created_at").map_err(g)?,
                        row.try_get("short_id").map_err(g)?,
                        Some((row.try_get("id").map_err(g)?, status.to_owned(), exit)),
                    ),
                );
            }
        }
        // The best run, walking the metric's index from the better end. (The other end
        // can be far: the lowest values of a metric often belong to runs that failed.)
        if let Some((metric, direction)) = judge {
            let low = direction == cairn_domain::Direction::Decrease;
            let order = if low { "ASC" } else { "DESC" };
            let mut sql = Sql::new(self.dialect);
            sql.push("SELECT r.short_id, s.last FROM metric_summaries s ")
                .push(join)
                .push(" runs r")
                .push(&m.params_table(join));
            runs_where(&mut sql, &format!(" AND r.status = 'finished' AND s.run_id = r.id AND s.last {FINITE}"));
            sql.push(" AND s.key = ").bind_text(metric);
            sql.push(&format!(" ORDER BY s.last {order} LIMIT ")).bind(Bind::Int(lim));
            let rows = sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
                .fetch_all(&self.pool)
                .await
                .map_err(g)?;
            // Ties go to the smaller short id, as on the live path.
            let mut best: Option<(f64, String)> = None;
            for row in &rows {
                let v: f64 = row.try_get("last").map_err(g)?;
                let short: String = row.try_get("short_id").map_err(g)?;
                match &best {
                    Some((b, _)) if v != *b => break,
                    Some((_, id)) if short >= *id => {}
                    _ => best = Some((v, short)),
                }
            }
            if low { d.detail.min = best } else { d.detail.max = best }
        }
        // Replicate groups with this value: the project's grouped runs (a partial index).
        let mut sql = Sql::new(self.dialect);
        sql.push("SELECT r.group_id, count(*) AS n FROM runs r").push(&m.params_table(join));
        runs_where(&mut sql, " AND r.group_id IS NOT NULL");
        sql.push(" GROUP BY r.group_id HAVING count(*) > 1");
        for row in
            sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds)).fetch_all(&self.pool).await.map_err(g)?
        {
            d.detail.groups.insert(row.try_get("group_id").map_err(g)?, row.try_get::<i64, _>("n").map_err(g)? as u64);
        }
        Ok(())
    }
}

/// A group's details with its first and last creation times.
#[derive(Default)]
pub(super) struct TallyDetail {
    detail: Detail,
    first: i64,
    last: i64,
    seen: bool,
}
