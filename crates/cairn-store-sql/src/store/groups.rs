//! Group statistics (`POST /runs/groups`): the matching runs grouped by one field's
//! value, with another field's finite values summarised per group, in one aggregate
//! pass in the store. Nothing but the groups leaves the database.

use super::{Phase, SqlStore};
use crate::filter::{Bind, Sql};
use crate::{Dialect, map_err};
use cairn_domain::ProjectName;
use cairn_query::{Attr, Expr, Field, MetricAgg};
use cairn_store::{GroupStat, GroupStats, Result, RunQuery};
use sqlx::{AssertSqlSafe, Row};

const FINITE: &str = "BETWEEN -1.7e308 AND 1.7e308";

/// The matching runs' columns the fields may read, named for the outer query (`s.`).
const RUN_FIELDS: &str = "r.id AS rid, r.short_id AS a_short_id, r.name AS a_name, r.description AS a_description, \
     r.hypothesis AS a_hypothesis, r.owner AS a_owner, r.status AS a_status, p.name AS a_project, \
     r.group_id AS a_group, r.fingerprint AS a_fingerprint, r.created_at AS a_created, r.started_at AS a_started, \
     r.ended_at AS a_ended";

fn attr_alias(a: Attr) -> (&'static str, bool) {
    match a {
        Attr::Id => ("s.rid", false),
        Attr::ShortId => ("s.a_short_id", false),
        Attr::Name => ("s.a_name", false),
        Attr::Description => ("s.a_description", false),
        Attr::Hypothesis => ("s.a_hypothesis", false),
        Attr::Owner => ("s.a_owner", false),
        Attr::Status => ("s.a_status", false),
        Attr::Project => ("s.a_project", false),
        Attr::Group => ("s.a_group", false),
        Attr::Fingerprint => ("s.a_fingerprint", false),
        Attr::Created => ("s.a_created", true),
        Attr::Started => ("s.a_started", true),
        Attr::Ended => ("s.a_ended", true),
    }
}

fn metric_column(agg: MetricAgg) -> &'static str {
    match agg {
        MetricAgg::Last => "last",
        MetricAgg::Min => "min_value",
        MetricAgg::Max => "max_value",
        MetricAgg::Count => "point_count",
    }
}

/// How a field is read in the outer query: a join (with its key bound) and the
/// expressions of its value: as text, as a number, and the written text (params).
struct Reader {
    join: Option<(&'static str, String)>,
    text: String,
    num: String,
    written: String,
}

fn reader(field: &Field, alias: &str, real: &str) -> Reader {
    let none = || "CAST(NULL AS TEXT)".to_owned();
    let no_num = || format!("CAST(NULL AS {real})");
    match field {
        Field::Attr(a) => {
            let (col, time) = attr_alias(*a);
            if time {
                Reader { join: None, text: none(), num: format!("CAST({col} AS {real})"), written: none() }
            } else {
                Reader { join: None, text: col.to_owned(), num: no_num(), written: none() }
            }
        }
        // A value is grouped by what it means (`1e-3` and `0.0010` are one number).
        Field::Param(k) => Reader {
            join: Some(("run_params", k.clone())),
            text: format!(
                "CASE WHEN {alias}.vtype IS NULL THEN NULL WHEN {alias}.vtype IN ('number', 'bool') THEN {alias}.vtype \
                 ELSE {alias}.vtype || ':' || COALESCE({alias}.txt, '') END"
            ),
            num: format!("CASE WHEN {alias}.vtype IN ('number', 'bool') THEN {alias}.num END"),
            written: format!("{alias}.txt"),
        },
        Field::Tag(k) => Reader {
            join: Some(("run_tags", k.clone())),
            text: format!("{alias}.value"),
            num: no_num(),
            written: none(),
        },
        Field::Metric { key, agg } => {
            let col = format!("{alias}.{}", metric_column(*agg));
            Reader {
                join: Some(("metric_summaries", key.clone())),
                text: none(),
                num: format!("CASE WHEN {col} {FINITE} THEN CAST({col} AS {real}) END"),
                written: none(),
            }
        }
    }
}

/// The summarised value of `of`: numbers only (a param's numeric meaning, a metric, a
/// time); anything else has no value.
fn numeric(field: &Field, alias: &str, real: &str) -> String {
    match field {
        Field::Param(_) => {
            format!("CASE WHEN {alias}.vtype = 'number' AND {alias}.num {FINITE} THEN {alias}.num END")
        }
        Field::Tag(_) => format!("CAST(NULL AS {real})"),
        Field::Attr(_) | Field::Metric { .. } => reader(field, alias, real).num,
    }
}

/// A group's value as the answer shows it.
fn value_of(by: &Field, text: Option<String>, num: Option<f64>, written: Option<String>) -> serde_json::Value {
    use serde_json::Value;
    let number = |n: f64| {
        if n.fract() == 0.0 && n.abs() < 1e15 {
            Value::from(n as i64)
        } else {
            serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
        }
    };
    match by {
        Field::Attr(_) | Field::Tag(_) => match (text, num) {
            (Some(t), _) => Value::String(t),
            (None, Some(n)) => number(n),
            (None, None) => Value::Null,
        },
        Field::Metric { .. } => num.map_or(Value::Null, number),
        Field::Param(_) => match text.as_deref() {
            None | Some("null") => Value::Null,
            Some("bool") => num.map_or(Value::Null, |n| Value::Bool(n != 0.0)),
            // Shown as written where the text is a plain number, else from its meaning.
            Some("number") => written
                .and_then(|w| serde_json::from_str::<Value>(&w).ok())
                .filter(|v| v.is_number())
                .or_else(|| num.map(number))
                .unwrap_or(Value::Null),
            Some(t) => {
                let (vtype, rest) = t.split_once(':').unwrap_or((t, ""));
                match vtype {
                    "list" => serde_json::from_str(rest).unwrap_or_else(|_| Value::String(rest.to_owned())),
                    _ => Value::String(rest.to_owned()),
                }
            }
        },
    }
}

impl SqlStore {
    pub(super) async fn group_stats_sql(
        &self,
        project: &ProjectName,
        filter: Option<&Expr>,
        by: &Field,
        of: &Field,
    ) -> Result<GroupStats> {
        let real = match self.dialect {
            Dialect::Sqlite => "REAL",
            Dialect::Postgres => "DOUBLE PRECISION",
        };
        let q = RunQuery { project: Some(project.clone()), filter: filter.cloned(), ..Default::default() };
        let drive = self.driver(&q).await?;
        let (g, v) = (reader(by, "gb", real), numeric(of, "ov", real));
        let of_join = match of {
            Field::Param(k) => Some(("run_params", k.clone())),
            Field::Metric { key, .. } => Some(("metric_summaries", key.clone())),
            _ => None,
        };
        // The matching runs, then each field's row joined to them.
        let from = |sql: &mut Sql| -> Result<()> {
            let (inner, binds) = self.search_sql(&q, None, drive.as_ref(), Phase::Select(RUN_FIELDS))?;
            sql.push(" FROM (");
            sql.push_nested(&inner, binds);
            sql.push(") s");
            for (alias, join) in [("gb", &g.join), ("ov", &of_join)] {
                if let Some((table, key)) = join {
                    sql.push(" LEFT JOIN ").push(table).push(" ").push(alias);
                    sql.push(&format!(" ON {alias}.run_id = s.rid AND {alias}.key = ")).bind_text(key);
                }
            }
            Ok(())
        };
        // Sums are taken about a value of the data, so a spread small against the
        // values' size keeps its digits (the sum of squares would lose them).
        let mut first = Sql::new(self.dialect);
        first.push(&format!("SELECT v FROM (SELECT {v} AS v"));
        from(&mut first)?;
        first.push(") t WHERE v IS NOT NULL LIMIT 1");
        let shift: f64 = sqlx::query_scalar_with(AssertSqlSafe(first.text), super::args(&first.binds))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)?
            .unwrap_or(0.0);
        let mut sql = Sql::new(self.dialect);
        sql.push(&format!(
            "SELECT gt, gn, min(gw) AS gw, count(*) AS c, count(v) AS n, sum(v - sh) AS s1, sum((v - sh) * (v - sh)) AS s2, \
             min(v) AS lo, max(v) AS hi FROM (SELECT {} AS gt, {} AS gn, {} AS gw, {v} AS v, ",
            g.text,
            g.num,
            g.written
        ));
        sql.bind(Bind::Real(shift)).push(" AS sh");
        from(&mut sql)?;
        sql.push(") t GROUP BY gt, gn ORDER BY count(*) DESC, gt, gn LIMIT ");
        sql.bind(Bind::Int(i64::from(GroupStats::MAX_GROUPS) + 1));
        let rows = sqlx::query_with(AssertSqlSafe(sql.text), super::args(&sql.binds))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut out = GroupStats::default();
        for row in &rows {
            let c: i64 = row.try_get("c").map_err(map_err)?;
            let n: i64 = row.try_get("n").map_err(map_err)?;
            let s1: Option<f64> = row.try_get("s1").map_err(map_err)?;
            let s2: Option<f64> = row.try_get("s2").map_err(map_err)?;
            let mean = (n > 0).then(|| shift + s1.unwrap_or(0.0) / n as f64);
            let sd = (n > 1).then(|| {
                let (s1, s2, nf) = (s1.unwrap_or(0.0), s2.unwrap_or(0.0), n as f64);
                ((s2 - s1 * s1 / nf) / (nf - 1.0)).max(0.0).sqrt()
            });
            out.total += c as u64;
            out.groups.push(GroupStat {
                value: value_of(
                    by,
                    row.try_get("gt").map_err(map_err)?,
                    row.try_get("gn").map_err(map_err)?,
                    row.try_get("gw").map_err(map_err)?,
                ),
                count: c as u64,
                n: n as u64,
                mean,
                sd,
                min: row.try_get("lo").map_err(map_err)?,
                max: row.try_get("hi").map_err(map_err)?,
            });
        }
        out.group_count = out.groups.len() as u64;
        if out.groups.len() > GroupStats::MAX_GROUPS as usize {
            out.groups.truncate(GroupStats::MAX_GROUPS as usize);
            let mut count = Sql::new(self.dialect);
            count.push(&format!("SELECT count(*) FROM (SELECT {} AS gt, {} AS gn", g.text, g.num));
            from(&mut count)?;
            count.push(") t GROUP BY gt, gn");
            let text = format!("SELECT count(*) FROM ({}) u", count.text);
            out.group_count = sqlx::query_scalar_with(AssertSqlSafe(text), super::args(&count.binds))
                .fetch_one(&self.pool)
                .await
                .map(|n: i64| n as u64)
                .map_err(map_err)?;
            out.total = self.count_runs_sql(&q).await?;
        }
        out.groups.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.to_string().cmp(&b.value.to_string())));
        Ok(out)
    }
}
