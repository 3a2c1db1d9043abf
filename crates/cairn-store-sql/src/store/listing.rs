//! Searches over projects and registered models (MLflow's experiment and model
//! searches): the conditions, order and page become one statement, so a page of
//! 100,000 entries costs what a page of a hundred does.

use super::{PROJECT_SELECT, SqlStore, args, decode_project, registry};
use crate::Dialect;
use crate::filter::{Bind, Sql};
use crate::map_err;
use cairn_domain::{ModelVersion, Project, RegisteredModel};
use cairn_query::CmpOp;
use cairn_query::listing::{ListField, ListOrder, Literal, Test};
use cairn_store::{ListQuery, Result, StoreError};
use sqlx::AssertSqlSafe;

/// The columns a list's fields are read from.
struct Columns {
    id: &'static str,
    name: &'static str,
    created: &'static str,
    updated: &'static str,
    tags: &'static str,
    deleted: Option<&'static str>,
    /// Whether a tag the entry lacks passes `!=` and `NOT IN`: so on MLflow's model
    /// registry (its client leaves prompts out with `tag.… != 'true'`), not on its
    /// experiments.
    absent_tag_differs: bool,
    /// A model version's number, run and source (versions only).
    version: Option<&'static str>,
    run: Option<&'static str>,
    source: Option<&'static str>,
}

const PROJECTS: Columns = Columns {
    id: "p.id",
    name: "p.name",
    created: "p.created_at",
    updated: "p.updated_at",
    tags: "p.tags",
    deleted: Some("p.deleted_at"),
    absent_tag_differs: false,
    version: None,
    run: None,
    source: None,
};

const MODELS: Columns = Columns {
    id: "id",
    name: "name",
    created: "created_at",
    updated: "updated_at",
    tags: "tags",
    deleted: None,
    absent_tag_differs: true,
    version: None,
    run: None,
    source: None,
};

const VERSIONS: Columns = Columns {
    id: "v.model_id",
    name: "m.name",
    created: "v.created_at",
    updated: "v.updated_at",
    tags: "v.tags",
    deleted: None,
    absent_tag_differs: true,
    version: Some("v.version"),
    run: Some("v.run_id"),
    source: Some("v.source"),
};

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

/// A tag's value, read from the JSON object of tags (NULL when the tag is absent).
fn push_tag(sql: &mut Sql, col: &str, key: &str) -> Result<()> {
    // SQLite's JSON paths cannot hold these, even escaped: refused on both stores alike.
    if key.contains(['"', '\\']) {
        return Err(invalid(format!("tag keys with a double quote or a backslash cannot be searched: '{key}'")));
    }
    match sql.dialect {
        Dialect::Sqlite => {
            // A key is quoted in the JSON path, so dots and spaces in it stay part of it.
            sql.push("json_extract(").push(col).push(", ").bind_text(&format!("$.\"{key}\"")).push(")");
        }
        Dialect::Postgres => {
            sql.push("((").push(col).push(")::jsonb ->> ").bind_text(key).push(")");
        }
    }
    Ok(())
}

/// The field as an SQL expression; `numeric` says whether it compares numbers.
fn push_field(sql: &mut Sql, c: &Columns, f: &ListField) -> Result<bool> {
    let (col, numeric) = match f {
        ListField::Name => (Some(c.name), false),
        ListField::Id => (Some(c.id), true),
        ListField::Created => (Some(c.created), true),
        ListField::Updated => (Some(c.updated), true),
        ListField::Version => (c.version, true),
        ListField::Run => (c.run, false),
        ListField::Source => (c.source, false),
        ListField::Tag(k) => {
            push_tag(sql, c.tags, k)?;
            return Ok(false);
        }
    };
    let col = col.ok_or_else(|| invalid(format!("{f:?} is not a field of this list")))?;
    sql.push(col);
    Ok(numeric)
}

fn bind_literal(sql: &mut Sql, v: &Literal, numeric: bool) -> Result<()> {
    match (v, numeric) {
        (Literal::Str(s), false) => sql.bind_text(s),
        (Literal::Num(n), true) if n.fract() == 0.0 && n.abs() < 9.0e15 => sql.bind(Bind::Int(*n as i64)),
        (Literal::Num(n), true) => sql.bind(Bind::Real(*n)),
        (Literal::Str(s), true) => return Err(invalid(format!("'{s}' is not a number"))),
        (Literal::Num(n), false) => return Err(invalid(format!("{n} must be a quoted string"))),
    };
    Ok(())
}

fn push_like(sql: &mut Sql, c: &Columns, f: &ListField, pattern: &str, case_insensitive: bool) -> Result<()> {
    match (sql.dialect, case_insensitive) {
        // No escape character: a backslash is itself, as on SQLite and in MLflow's own.
        (Dialect::Postgres, ci) => {
            push_field(sql, c, f)?;
            sql.push(if ci { " ILIKE " } else { " LIKE " }).bind_text(pattern).push(" ESCAPE ''");
        }
        // SQLite's LIKE ignores ASCII case; GLOB is its case-sensitive matcher.
        (Dialect::Sqlite, false) => {
            push_field(sql, c, f)?;
            sql.push(" GLOB ").bind_text(&crate::filter::like_to_glob(pattern));
        }
        (Dialect::Sqlite, true) => {
            sql.push("lower(");
            push_field(sql, c, f)?;
            sql.push(") LIKE lower(").bind_text(pattern).push(")");
        }
    }
    Ok(())
}

/// `WHERE …` for the query's conditions, view and visibility.
fn push_where(sql: &mut Sql, c: &Columns, q: &ListQuery) -> Result<()> {
    sql.push(" WHERE 1 = 1");
    if let (Some(col), Some(deleted)) = (c.deleted, q.deleted) {
        sql.push(" AND ").push(col).push(if deleted { " IS NOT NULL" } else { " IS NULL" });
    }
    if let Some(t) = q.created_at_most {
        // Nearly every entry passes this: SQLite (which keeps no statistics here) must
        // not drive the search from the creation index for it, hence the unary plus.
        let plus = if sql.dialect == Dialect::Sqlite { "+" } else { "" };
        sql.push(" AND ").push(plus).push(c.created).push(" <= ").bind(Bind::Int(t));
    }
    if !q.hidden.is_empty() {
        sql.push(" AND ").push(c.id).push(" NOT IN (");
        for (i, id) in q.hidden.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(Bind::Int(*id));
        }
        sql.push(")");
    }
    for cond in &q.conds {
        sql.push(" AND ");
        // A test on a tag the entry lacks is false (but see `absent_tag_differs`); IS
        // NULL asks for the absence.
        let negative = matches!(cond.test, Test::Compare(CmpOp::Ne, _) | Test::In(_, true));
        let absent_passes = c.absent_tag_differs && negative && matches!(cond.field, ListField::Tag(_));
        if absent_passes {
            sql.push("(");
            push_field(sql, c, &cond.field)?;
            sql.push(" IS NULL OR ");
        }
        match &cond.test {
            Test::Compare(o, v) => {
                let numeric = push_field(sql, c, &cond.field)?;
                sql.push(crate::filter::op_sql(*o));
                bind_literal(sql, v, numeric)?;
            }
            Test::In(values, negated) if values.is_empty() => {
                sql.push(if *negated { "1 = 1" } else { "1 = 0" });
            }
            Test::In(values, negated) => {
                sql.push("(");
                let numeric = push_field(sql, c, &cond.field)?;
                sql.push(if *negated { " NOT IN (" } else { " IN (" });
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    bind_literal(sql, v, numeric)?;
                }
                sql.push("))");
                if *negated && matches!(cond.field, ListField::Tag(_)) && !absent_passes {
                    sql.push(" AND ");
                    push_field(sql, c, &cond.field)?;
                    sql.push(" IS NOT NULL");
                }
            }
            Test::Like(pattern, ci) => {
                // A name's literal prefix also bounds it as a range, which the name index
                // (kept in byte order, "C", on PostgreSQL) answers.
                let literal: String = pattern.chars().take_while(|ch| !matches!(ch, '%' | '_' | '\\')).collect();
                let range = crate::filter::prefix_range(&literal).filter(|_| !ci && cond.field == ListField::Name);
                if let Some((lo, hi)) = range {
                    let collate = if sql.dialect == Dialect::Postgres { " COLLATE \"C\"" } else { "" };
                    sql.push(c.name).push(collate).push(" >= ").bind_text(&lo).push(" AND ");
                    sql.push(c.name).push(collate).push(" < ").bind_text(&hi).push(" AND ");
                }
                push_like(sql, c, &cond.field, pattern, *ci)?;
            }
            Test::IsNull(negated) => {
                push_field(sql, c, &cond.field)?;
                sql.push(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
        }
        if absent_passes {
            sql.push(")");
        }
    }
    Ok(())
}

/// `ORDER BY …`, ties broken by `ties` so pages never overlap.
fn push_order(sql: &mut Sql, c: &Columns, order: &[ListOrder], ties: &[(ListField, bool)]) -> Result<()> {
    sql.push(" ORDER BY ");
    let mut first = true;
    let given = order.iter().map(|o| (&o.field, o.descending));
    for (field, descending) in given.chain(ties.iter().map(|(f, d)| (f, *d))) {
        if !first {
            sql.push(", ");
        }
        first = false;
        push_field(sql, c, field)?;
        sql.push(if descending { " DESC" } else { " ASC" });
    }
    Ok(())
}

fn push_page(sql: &mut Sql, q: &ListQuery) {
    sql.push(" LIMIT ").bind(Bind::Int(i64::from(q.limit)));
    sql.push(" OFFSET ").bind(Bind::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
}

impl SqlStore {
    pub(super) async fn search_projects_sql(&self, q: &ListQuery) -> Result<Vec<Project>> {
        let mut sql = Sql::new(self.dialect);
        sql.push(PROJECT_SELECT);
        push_where(&mut sql, &PROJECTS, q)?;
        push_order(&mut sql, &PROJECTS, &q.order, &[(ListField::Id, false)])?;
        push_page(&mut sql, q);
        let rows =
            sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(decode_project).collect()
    }

    pub(super) async fn search_registered_models_sql(&self, q: &ListQuery) -> Result<Vec<RegisteredModel>> {
        let mut sql = Sql::new(self.dialect);
        sql.push(registry::MODEL_SELECT);
        push_where(&mut sql, &MODELS, q)?;
        push_order(&mut sql, &MODELS, &q.order, &[(ListField::Name, false)])?;
        push_page(&mut sql, q);
        let rows =
            sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(registry::decode_model).collect()
    }

    pub(super) async fn search_model_versions_sql(&self, q: &ListQuery) -> Result<Vec<ModelVersion>> {
        let mut sql = Sql::new(self.dialect);
        sql.push(registry::VERSION_SELECT);
        push_where(&mut sql, &VERSIONS, q)?;
        push_order(&mut sql, &VERSIONS, &q.order, &[(ListField::Name, false), (ListField::Version, true)])?;
        push_page(&mut sql, q);
        let rows =
            sqlx::query_with(AssertSqlSafe(sql.text), args(&sql.binds)).fetch_all(&self.pool).await.map_err(map_err)?;
        rows.iter().map(registry::decode_version).collect()
    }
}
