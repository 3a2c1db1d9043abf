//! Translation of the filter AST and sort keys into SQL over the run tables. Only
//! placeholders are emitted; every user value is pushed to [`Sql::binds`].
//!
//! Semantics (as MLflow users expect): a predicate on a param, metric or tag the run
//! does not have is false, `!=` and `not in` included; `is null` asks for absence.

use crate::Dialect;
use cairn_query::{Attr, CmpOp, Expr, Field, MetricAgg, OrderKey, Value};
use cairn_store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    Text(String),
    Real(f64),
    Int(i64),
    Blob(Vec<u8>),
    /// NULLs carry their column's type: PostgreSQL checks a parameter's type.
    NullText,
    NullReal,
    NullInt,
    NullBlob,
}

/// SQL text under construction with its bound values.
#[derive(Debug)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Bind>,
    pub dialect: Dialect,
    /// Plain `?` placeholders on SQLite. SQLite finds a named parameter (`$7`) by
    /// walking a list of every name, once per value bound: a statement with thousands
    /// of values (a bulk insert) spends its time there. `?` is bound by position.
    positional: bool,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Sql {
        Sql { text: String::new(), binds: Vec::new(), dialect, positional: false }
    }

    /// For statements with many values: each placeholder appears once, in bind order.
    pub fn positional(dialect: Dialect) -> Sql {
        Sql { positional: dialect == Dialect::Sqlite, ..Sql::new(dialect) }
    }
    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    pub fn bind(&mut self, b: Bind) -> &mut Self {
        self.binds.push(b);
        if self.positional {
            self.text.push('?');
        } else {
            self.text.push('$');
            self.text.push_str(&self.binds.len().to_string());
        }
        self
    }
    pub fn bind_text(&mut self, s: &str) -> &mut Self {
        self.bind(Bind::Text(s.to_owned()))
    }
    /// Appends a statement built on its own (numbered placeholders from `$1`) with its
    /// values, as a subquery of this one: its placeholders are renumbered after ours.
    pub fn push_nested(&mut self, text: &str, binds: Vec<Bind>) -> &mut Self {
        debug_assert!(!self.positional, "nesting renumbers $n placeholders");
        let offset = self.binds.len();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            self.text.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0 {
                let n: usize = rest[..digits].parse().expect("digits");
                self.text.push_str(&(n + offset).to_string());
                rest = &rest[digits..];
            }
        }
        self.text.push_str(rest);
        self.binds.extend(binds);
        self
    }
}

fn invalid(msg: impl Into<String>) -> StoreError {
    StoreError::Invalid(msg.into())
}

enum Col {
    Text(&'static str),
    Time(&'static str),
}

fn attr_col(a: Attr) -> Col {
    match a {
        Attr::Id => Col::Text("r.id"),
        Attr::ShortId => Col::Text("r.short_id"),
        Attr::Name => Col::Text("r.name"),
        Attr::Description => Col::Text("r.description"),
        Attr::Hypothesis => Col::Text("r.hypothesis"),
        Attr::Owner => Col::Text("r.owner"),
        Attr::Status => Col::Text("r.status"),
        Attr::Project => Col::Text("p.name"),
        Attr::Group => Col::Text("r.group_id"),
        Attr::Fingerprint => Col::Text("r.fingerprint"),
        Attr::Created => Col::Time("r.created_at"),
        Attr::Started => Col::Time("r.started_at"),
        Attr::Ended => Col::Time("r.ended_at"),
    }
}

pub(crate) fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => " = ",
        CmpOp::Ne => " <> ",
        CmpOp::Lt => " < ",
        CmpOp::Le => " <= ",
        CmpOp::Gt => " > ",
        CmpOp::Ge => " >= ",
    }
}

/// Text form of a value compared with a text column (tags, names).
fn as_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", *n as i64),
        Value::Number(n) => n.to_string(),
    }
}

/// Run ids are stored as 32 lower-case hex digits; accept them with dashes too.
fn normalise_attr_text(a: Attr, s: String) -> String {
    match a {
        Attr::Id => s.replace('-', "").to_ascii_lowercase(),
        Attr::ShortId | Attr::Status => s.to_ascii_lowercase(),
        _ => s,
    }
}

/// `(a OP b OP c …)`, grouped as a balanced tree: databases parse a flat chain into a
/// tree as deep as it is long, and SQLite refuses trees deeper than 1,000 levels.
fn push_balanced<T>(
    sql: &mut Sql,
    items: &[T],
    joiner: &str,
    each: &mut impl FnMut(&mut Sql, &T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    const FLAT: usize = 8;
    sql.push("(");
    if items.len() <= FLAT {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                sql.push(joiner);
            }
            each(sql, item)?;
        }
    } else {
        let (left, right) = items.split_at(items.len() / 2);
        push_balanced(sql, left, joiner, each)?;
        sql.push(joiner);
        push_balanced(sql, right, joiner, each)?;
    }
    sql.push(")");
    Ok(())
}

/// Appends a boolean SQL expression for `expr`.
pub fn push_expr(sql: &mut Sql, expr: &Expr) -> Result<(), StoreError> {
    match expr {
        Expr::And(parts) | Expr::Or(parts) => {
            let joiner = if matches!(expr, Expr::And(_)) { " AND " } else { " OR " };
            push_balanced(sql, parts, joiner, &mut |sql, p| push_expr(sql, p))?;
        }
        Expr::Not(inner) => {
            sql.push("(NOT ");
            push_expr(sql, inner)?;
            sql.push(")");
        }
        Expr::Compare { field, op, value } => {
            push_scoped(sql, field, false, |sql, target| push_compare(sql, field, target, *op, value))?
        }
        Expr::In { field, values, negated } => {
            if values.is_empty() {
                sql.push(if *negated { "(1=1)" } else { "(1=0)" });
                return Ok(());
            }
            push_scoped(sql, field, false, |sql, target| {
                if *negated {
                    if let Target::Attr(a) = target {
                        sql.push("(").push(col_name(a)).push(" IS NOT NULL AND ");
                    } else {
                        sql.push("(");
                    }
                    sql.push("NOT ");
                }
                push_balanced(sql, values, " OR ", &mut |sql, v| push_compare(sql, field, target, CmpOp::Eq, v))?;
                if *negated {
                    sql.push(")");
                }
                Ok(())
            })?
        }
        Expr::Like { field, pattern, case_insensitive, negated } => push_scoped(sql, field, false, |sql, target| {
            let col = match target {
                Target::Attr(a) => match attr_col(a) {
                    Col::Text(c) => c,
                    Col::Time(_) => {
                        return Err(invalid(format!("'{}' is a time; like/ilike apply to text", a.name())));
                    }
                },
                // A pattern matches the text a value was written as, as MLflow's does.
                Target::Param => "s.txt",
                Target::Tag => "s.value",
                Target::Metric(_) => {
                    return Err(invalid("metrics are numbers; like/ilike apply to text"));
                }
            };
            if *negated {
                sql.push("NOT ");
            }
            push_like(sql, col, pattern, *case_insensitive);
            Ok(())
        })?,
        Expr::IsNull { field, negated } => match field {
            Field::Attr(a) => {
                sql.push("(").push(col_name(*a)).push(if *negated { " IS NOT NULL)" } else { " IS NULL)" });
            }
            _ => push_scoped(sql, field, !*negated, |sql, _| {
                sql.push("1=1");
                Ok(())
            })?,
        },
    }
    Ok(())
}

fn col_name(a: Attr) -> &'static str {
    match attr_col(a) {
        Col::Text(c) | Col::Time(c) => c,
    }
}

fn push_like(sql: &mut Sql, col: &str, pattern: &str, case_insensitive: bool) {
    match (sql.dialect, case_insensitive) {
        (Dialect::Postgres, false) => {
            sql.push(col).push(" LIKE ").bind_text(pattern);
        }
        (Dialect::Postgres, true) => {
            sql.push(col).push(" ILIKE ").bind_text(pattern);
        }
        // SQLite's LIKE ignores ASCII case; GLOB is the case-sensitive matcher.
        (Dialect::Sqlite, false) => {
            sql.push(col).push(" GLOB ").bind_text(&like_to_glob(pattern));
        }
        (Dialect::Sqlite, true) => {
            sql.push("lower(").push(col).push(") LIKE lower(").bind_text(pattern).push(")");
        }
    }
}

/// `%` → `*`, `_` → `?`, and GLOB's own specials made literal.
pub(crate) fn like_to_glob(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' => out.push_str("[*]"),
            '?' => out.push_str("[?]"),
            '[' => out.push_str("[[]"),
            c => out.push(c),
        }
    }
    out
}

#[derive(Clone, Copy)]
enum Target {
    Attr(Attr),
    Param,
    Metric(MetricAgg),
    Tag,
}

/// Wraps a predicate on a param, metric or tag row in `EXISTS (…)`; attribute
/// predicates apply directly. `absent` turns the wrapper into `NOT EXISTS` (`is null`).
fn push_scoped(
    sql: &mut Sql,
    field: &Field,
    absent: bool,
    pred: impl FnOnce(&mut Sql, Target) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let (table, key, target) = match field {
        Field::Attr(a) => {
            sql.push("(");
            pred(sql, Target::Attr(*a))?;
            sql.push(")");
            return Ok(());
        }
        Field::Param(k) => ("run_params", k, Target::Param),
        Field::Metric { key, agg } => ("metric_summaries", key, Target::Metric(*agg)),
        Field::Tag(k) => ("run_tags", k, Target::Tag),
    };
    // Correlated EXISTS: checked per candidate run by primary key, so a query that
    // walks runs in the order asked for stops as soon as it has a page.
    sql.push(if absent { "(NOT EXISTS (SELECT 1 FROM " } else { "(EXISTS (SELECT 1 FROM " });
    sql.push(table).push(" s WHERE s.run_id = r.id AND s.key = ").bind_text(key).push(" AND (");
    pred(sql, target)?;
    // PostgreSQL would turn a plain EXISTS into a semi-join and hash whole tables;
    // OFFSET 0 keeps it a per-run check, which is what lets an ordered walk stop early.
    sql.push(if sql.dialect == Dialect::Postgres { ") OFFSET 0))" } else { ")))" });
    Ok(())
}

fn push_compare(sql: &mut Sql, field: &Field, target: Target, op: CmpOp, value: &Value) -> Result<(), StoreError> {
    match target {
        Target::Attr(a) => match (attr_col(a), value) {
            (Col::Time(c), Value::Number(n)) => {
                sql.push(c).push(op_sql(op)).bind(Bind::Int(*n as i64));
            }
            (Col::Time(_), _) => {
                return Err(invalid(format!(
                    "'{}' is a time: compare it with milliseconds since the Unix epoch",
                    a.name()
                )));
            }
            (Col::Text(c), v) => {
                let text = normalise_attr_text(a, as_text(v));
                sql.push(c).push(op_sql(op)).bind(Bind::Text(text));
            }
        },
        Target::Param => match value {
            Value::Number(n) => {
                sql.push("s.vtype = 'number' AND s.num").push(op_sql(op)).bind(Bind::Real(*n));
            }
            Value::Bool(b) => {
                if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(invalid("booleans compare with = and != only"));
                }
                sql.push("s.vtype = 'bool' AND s.num").push(op_sql(op)).bind(Bind::Real(f64::from(u8::from(*b))));
            }
            // Text equals the text a value was written as, whatever it means (`"1e-3"`
            // finds the run given `--lr 1e-3`); text orders only against text.
            Value::String(s) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                sql.push("s.txt").push(op_sql(op)).bind_text(s);
            }
            Value::String(s) => {
                sql.push("s.vtype IN ('text', 'list', 'null') AND s.txt").push(op_sql(op)).bind_text(s);
            }
        },
        Target::Metric(agg) => {
            let Value::Number(n) = value else {
                let key = match field {
                    Field::Metric { key, .. } => key.as_str(),
                    _ => "",
                };
                return Err(invalid(format!("metrics.{key} is a number; compare it with a number")));
            };
            let col = match agg {
                MetricAgg::Last => "s.last",
                MetricAgg::Min => "s.min_value",
                MetricAgg::Max => "s.max_value",
                MetricAgg::Count => "s.point_count",
            };
            sql.push(col).push(op_sql(op)).bind(Bind::Real(*n));
        }
        Target::Tag => {
            sql.push("s.value").push(op_sql(op)).bind(Bind::Text(as_text(value)));
        }
    }
    Ok(())
}

/// Text each matching run's `config` column must hold, from the filter's top-level
/// equalities of a top-level param to a string: `params.optimizer = "adam"` needs
/// `"optimizer":"adam"`, as serde_json writes it (the column is always written so, and
/// a param's row always comes from it). A search checks it on the run's own row before
/// it looks each term up in `run_params`: a newest-first walk past runs that fail three
/// such terms reads no param rows for most of them (PostgreSQL, a million runs: 33 → 11
/// ms). Left out where another kind of leaf could hold the same text (see
/// `param_row`): a value that reads as a number or a boolean, or that starts like a
/// list or a map, and a key with a dot (a nested leaf).
pub fn config_needles(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    for (key, v) in text_equalities(expr) {
        let json = |s: &str| serde_json::to_string(s).expect("strings serialise");
        out.push(format!("{}:{}", json(key), json(v)));
    }
    out
}

/// Whether a string can only be held, as text, by a leaf that is that string (see
/// [`config_needles`]): not a number, a boolean, a list or a map.
pub fn only_a_string_reads_as(v: &str) -> bool {
    !(v.parse::<f64>().is_ok()
        || v.eq_ignore_ascii_case("true")
        || v.eq_ignore_ascii_case("false")
        || v.starts_with('[')
        || v.starts_with('{'))
}

/// The top-level conjunction's `params.KEY = "text"` terms of a top-level key whose
/// text only a string leaf can hold.
fn text_equalities(expr: &Expr) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    match expr {
        Expr::And(list) => {
            for e in list {
                out.extend(text_equalities(e));
            }
        }
        Expr::Compare { field: Field::Param(key), op: CmpOp::Eq, value: Value::String(v) }
            if !key.contains('.') && only_a_string_reads_as(v) =>
        {
            out.push((key.as_str(), v.as_str()));
        }
        _ => {}
    }
    out
}

/// A sort key on a param, metric or tag: the table and key its value lives under and
/// the column it sorts by (params: numbers by `num`, then text by `txt`). Search joins
/// the first such key's row, so the database can walk that table's `(key, value)`
/// index in order and stop after one page.
pub struct Lead<'a> {
    pub table: &'static str,
    pub key: &'a str,
    pub column: &'static str,
    /// Sorts the runs whose `column` is empty, before the runs without the key.
    pub secondary: Option<&'static str>,
    pub descending: bool,
}

/// A term of a filter's top-level conjunction whose runs an index can list: the rows
/// of `table` with `key` and a condition on `column`, read from its `(key, column)`
/// index, or (`key` None) the runs with a condition on their own `column` (a group id,
/// a name prefix). A search can start from it instead of walking every run (see
/// `SqlStore::driver`).
#[derive(Debug, Clone, PartialEq)]
pub struct Driver<'a> {
    pub table: &'static str,
    pub key: Option<&'a str>,
    pub column: &'static str,
    pub cond: DriveCond,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DriveCond {
    Cmp(CmpOp, Bind),
    /// `lo <= column < hi`, byte-wise: what a `like 'prefix%'` can only match.
    Prefix {
        lo: String,
        hi: String,
    },
    NotNull,
}

impl Driver<'_> {
    /// The column naming the run in the driver's table.
    pub fn id_column(&self) -> &'static str {
        if self.table == "runs" { "id" } else { "run_id" }
    }

    /// The driver's condition on its table, aliased `alias`.
    pub fn push_condition(&self, sql: &mut Sql, alias: &str) {
        if let Some(key) = self.key {
            sql.push(alias).push(".key = ").bind_text(key).push(" AND ");
        }
        sql.push(alias).push(".").push(self.column);
        match &self.cond {
            DriveCond::Cmp(op, value) => {
                sql.push(op_sql(*op)).bind(value.clone());
            }
            DriveCond::Prefix { lo, hi } => {
                // PostgreSQL compares text by the database's collation, which is not
                // byte order; its name index is kept in "C" order for this.
                let collate = if sql.dialect == Dialect::Postgres { " COLLATE \"C\"" } else { "" };
                sql.push(collate).push(" >= ").bind_text(lo).push(" AND ").push(alias).push(".");
                sql.push(self.column).push(collate).push(" < ").bind_text(hi);
            }
            DriveCond::NotNull => {
                sql.push(" IS NOT NULL");
            }
        }
    }
}

/// The byte-wise range holding every text that starts with `prefix`: the prefix, and
/// the prefix with its last character moved to the next one. None when there is no
/// such bound (an empty prefix, or one ending in the last character there is).
pub(crate) fn prefix_range(prefix: &str) -> Option<(String, String)> {
    let last = prefix.chars().last()?;
    let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32)?;
    let mut hi = prefix[..prefix.len() - last.len_utf8()].to_owned();
    hi.push(next);
    Some((prefix.to_owned(), hi))
}

/// The terms of `expr`'s top-level conjunction an index can list (see [`Driver`]).
pub fn drivers(expr: &Expr) -> Vec<Driver<'_>> {
    let parts: Vec<&Expr> = match expr {
        Expr::And(parts) => parts.iter().collect(),
        other => vec![other],
    };
    parts
        .into_iter()
        .filter_map(|e| {
            let runs = |column, cond| Some(Driver { table: "runs", key: None, column, cond });
            let (field, op, value) = match e {
                Expr::Compare { field, op, value } => (field, op, value),
                Expr::IsNull { field: Field::Attr(Attr::Group), negated: true } => {
                    return runs("group_id", DriveCond::NotNull);
                }
                // A case-sensitive `like` with a literal start: the name index's range.
                Expr::Like { field: Field::Attr(Attr::Name), pattern, case_insensitive: false, negated: false } => {
                    let literal: String = pattern.chars().take_while(|c| !matches!(c, '%' | '_' | '\\')).collect();
                    let (lo, hi) = prefix_range(&literal)?;
                    return runs("name", DriveCond::Prefix { lo, hi });
                }
                _ => return None,
            };
            if *op == CmpOp::Ne {
                return None;
            }
            let eq = *op == CmpOp::Eq;
            let (table, key, column, bound) = match (field, value) {
                (Field::Attr(Attr::Group), Value::String(g)) if eq => {
                    return runs("group_id", DriveCond::Cmp(CmpOp::Eq, Bind::Text(g.clone())));
                }
                (Field::Param(k), Value::Number(n)) => ("run_params", k, "num", Bind::Real(*n)),
                (Field::Param(k), Value::Bool(b)) if eq => {
                    ("run_params", k, "num", Bind::Real(f64::from(u8::from(*b))))
                }
                (Field::Param(k), Value::String(t)) if eq => ("run_params", k, "txt", Bind::Text(t.clone())),
                (Field::Tag(k), v) if eq => ("run_tags", k, "value", Bind::Text(as_text(v))),
                (Field::Metric { key, agg: MetricAgg::Last }, Value::Number(n)) => {
                    ("metric_summaries", key, "last", Bind::Real(*n))
                }
                _ => return None,
            };
            Some(Driver { table, key: Some(key.as_str()), column, cond: DriveCond::Cmp(*op, bound) })
        })
        .collect()
}

/// Whether every run `expr` matches must have a value for `field` (a param, metric or
/// tag): then runs missing it cannot match, and a search need not look for them.
/// Conservative: `!=`, negations, `is null` and counts are never taken as proof.
pub fn requires(expr: &Expr, field: &Field) -> bool {
    let same = |f: &Field| match (f, field) {
        (Field::Param(a), Field::Param(b)) | (Field::Tag(a), Field::Tag(b)) => a == b,
        (Field::Metric { key: a, agg }, Field::Metric { key: b, .. }) => a == b && *agg != MetricAgg::Count,
        _ => false,
    };
    match expr {
        Expr::And(items) => items.iter().any(|e| requires(e, field)),
        Expr::Or(items) => !items.is_empty() && items.iter().all(|e| requires(e, field)),
        Expr::Not(_) => false,
        Expr::Compare { field: f, op, .. } => same(f) && *op != CmpOp::Ne,
        Expr::In { field: f, negated, .. } | Expr::Like { field: f, negated, .. } => same(f) && !negated,
        Expr::IsNull { field: f, negated } => same(f) && *negated,
    }
}

pub fn lead(k: &OrderKey) -> Option<Lead<'_>> {
    let (table, key, column, secondary): (_, &str, _, _) = match &k.field {
        Field::Attr(_) => return None,
        Field::Param(key) => ("run_params", key, "num", Some("txt")),
        Field::Metric { key, agg } => (
            "metric_summaries",
            key,
            match agg {
                MetricAgg::Last => "last",
                MetricAgg::Min => "min_value",
                MetricAgg::Max => "max_value",
                MetricAgg::Count => "point_count",
            },
            None,
        ),
        Field::Tag(key) => ("run_tags", key, "value", None),
    };
    Some(Lead { table, key, column, secondary, descending: k.descending })
}

fn push_lead_value(sql: &mut Sql, l: &Lead, column: &str, dir: &str) {
    sql.push("(SELECT s.")
        .push(column)
        .push(" FROM ")
        .push(l.table)
        .push(" s WHERE s.run_id = r.id AND s.key = ")
        .bind_text(l.key)
        .push(")")
        .push(dir);
}

/// Appends the ORDER BY list (without the keyword): first what `head` says, then
/// `keys`, then newest first as the final tie-break so pages are stable.
pub fn push_order(sql: &mut Sql, head: OrderHead, keys: &[OrderKey]) {
    match head {
        // The joined lead row (alias `o`): its values are never NULL here, so a plain
        // direction lets PostgreSQL walk the (key, value) index backwards too.
        OrderHead::Joined(l) => {
            sql.push("o.").push(l.column).push(if l.descending { " DESC, " } else { " ASC, " });
        }
        OrderHead::Missing(l) => {
            if let Some(col) = l.secondary {
                push_lead_value(sql, l, col, if l.descending { " DESC NULLS LAST, " } else { " ASC NULLS LAST, " });
            }
        }
        OrderHead::None => {}
    }
    for k in keys {
        let dir = if k.descending { " DESC NULLS LAST, " } else { " ASC NULLS LAST, " };
        match (&k.field, lead(k)) {
            (Field::Attr(a), _) => {
                // A column that is never NULL takes a plain direction: SQLite then reads
                // it in the order of an index (with NULLS LAST it sorted a million runs).
                let never_null = matches!(
                    a,
                    Attr::Id
                        | Attr::ShortId
                        | Attr::Name
                        | Attr::Description
                        | Attr::Owner
                        | Attr::Status
                        | Attr::Project
                        | Attr::Created
                );
                let plain = if k.descending { " DESC, " } else { " ASC, " };
                sql.push(col_name(*a)).push(if never_null { plain } else { dir });
            }
            (_, Some(l)) => {
                push_lead_value(sql, &l, l.column, dir);
                if let Some(col) = l.secondary {
                    push_lead_value(sql, &l, col, dir);
                }
            }
            (_, None) => unreachable!("every non-attribute field has a lead"),
        }
    }
    sql.push("r.created_at DESC, r.id ASC");
}

/// What comes before the ordinary sort keys.
#[derive(Clone, Copy)]
pub enum OrderHead<'a> {
    None,
    /// Runs whose lead value is set, with its row joined as `o`.
    Joined(&'a Lead<'a>),
    /// Runs whose lead value is not set.
    Missing(&'a Lead<'a>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_query::parse_filter;

    fn check(filter: &str, dialect: Dialect, expect_sql: &str, expect_binds: Vec<Bind>) {
        let expr = parse_filter(filter).unwrap().unwrap();
        let mut sql = Sql::new(dialect);
        push_expr(&mut sql, &expr).unwrap();
        assert_eq!(sql.text, expect_sql, "for {filter}");
        assert_eq!(sql.binds, expect_binds, "for {filter}");
    }

    #[test]
    fn values_are_always_bound() {
        check(
            "params.lr < 0.01 and tags.aug = \"mix'up\"",
            Dialect::Postgres,
            "((EXISTS (SELECT 1 FROM run_params s WHERE s.run_id = r.id AND s.key = $1 AND (s.vtype = 'number' AND s.num < $2) OFFSET 0)) AND \
             (EXISTS (SELECT 1 FROM run_tags s WHERE s.run_id = r.id AND s.key = $3 AND (s.value = $4) OFFSET 0)))",
            vec![Bind::Text("lr".into()), Bind::Real(0.01), Bind::Text("aug".into()), Bind::Text("mix'up".into())],
        );
    }

    #[test]
    fn like_is_case_sensitive_on_both() {
        check("name like 'A_%'", Dialect::Sqlite, "(r.name GLOB $1)", vec![Bind::Text("A?*".into())]);
        check("name ilike 'a%'", Dialect::Postgres, "(r.name ILIKE $1)", vec![Bind::Text("a%".into())]);
    }

    #[test]
    fn absence() {
        check(
            "tags.note is null",
            Dialect::Sqlite,
            "(NOT EXISTS (SELECT 1 FROM run_tags s WHERE s.run_id = r.id AND s.key = $1 AND (1=1)))",
            vec![Bind::Text("note".into())],
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let expr = parse_filter("metrics.acc = 'high'").unwrap().unwrap();
        let err = push_expr(&mut Sql::new(Dialect::Sqlite), &expr).unwrap_err().to_string();
        assert!(err.contains("metrics.acc is a number"), "{err}");
        let expr = parse_filter("created like 'x'").unwrap().unwrap();
        assert!(push_expr(&mut Sql::new(Dialect::Sqlite), &expr).is_err());
    }

    #[test]
    fn config_needles_only_where_a_string_leaf_is_the_one_way_to_match() {
        let needles = |f: &str| config_needles(&cairn_query::parse_filter(f).unwrap().unwrap());
        assert_eq!(
            needles(
                r#"params.optimizer = "adam" and (params.aug = "mixup" or params.aug = "none") and params.x_y = "naïve""#
            ),
            vec![r#""optimizer":"adam""#.to_owned(), r#""x_y":"naïve""#.to_owned()]
        );
        // Numbers, booleans, lists and nested keys have other ways to hold the text.
        for f in [
            r#"params.bs = "64""#,
            r#"params.lr = "1e-3""#,
            r#"params.flag = "True""#,
            r#"params.layers = "[1, 2]""#,
            r#"params.opt.name = "adam""#,
            r#"params.opt != "adam""#,
            r#"not params.opt = "adam""#,
            r#"params.opt = 3"#,
        ] {
            assert!(needles(f).is_empty(), "{f}: {:?}", needles(f));
        }
    }

    #[test]
    fn requires_is_conservative() {
        let f = |t: &str| cairn_query::parse_filter(t).unwrap().unwrap();
        let acc = Field::Metric { key: "acc".into(), agg: MetricAgg::Last };
        assert!(requires(&f("metrics.acc > 0.5 and params.p0 = 3"), &acc));
        assert!(requires(&f("max(metrics.acc) > 0.5 or metrics.acc < 0.1"), &acc));
        assert!(requires(&f("metrics.acc is not null"), &acc));
        for text in [
            "metrics.acc != 1",
            "not metrics.acc > 1",
            "metrics.acc is null",
            "metrics.acc > 1 or params.x = 1",
            "count(metrics.acc) < 5",
            "metrics.loss > 1",
        ] {
            assert!(!requires(&f(text), &acc), "{text}");
        }
    }
}
