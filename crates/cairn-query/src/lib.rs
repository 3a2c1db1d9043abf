//! The run filter language. `parse_filter` turns text such as
//! `params.lr < 0.01 and metrics.val_acc > 0.9 and tags.aug = "mixup"` into a typed
//! [`Expr`]; `parse_order` turns `metrics.val_acc desc, params.lr` into [`OrderKey`]s.
//! Errors carry the byte offset of the problem so callers can point at it.
//! This crate knows nothing about SQL: storage backends translate the AST and bind
//! every value as a parameter.
//!
//! Every AST type also implements [`Display`](std::fmt::Display), writing it back as
//! filter text that parses to the same value (see the notes on [`Expr`]).

mod display;
mod error;
mod lexer;
pub mod listing;
pub mod mlflow;
mod parser;

pub use error::ParseError;
pub use parser::{MAX_DEPTH, MAX_FILTER_BYTES, MAX_LIST, MAX_TERMS, parse_filter, parse_order};

/// One key of an ordering: `metrics.val_acc desc`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderKey {
    pub field: Field,
    /// `desc`; ascending (the default, or `asc`) otherwise.
    pub descending: bool,
}

/// A filter expression.
///
/// `Display` writes it back as filter text (keywords in lower case, strings in double
/// quotes, parentheses only where precedence needs them) that [`parse_filter`] turns
/// into an equal `Expr`, except for what the parser never produces: an `And`/`Or` with
/// fewer than two operands, a non-finite number, or a key with an empty segment or a
/// backtick in it.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// `field op value`
    Compare {
        field: Field,
        op: CmpOp,
        value: Value,
    },
    /// `field in (v1, v2)` / `field not in (...)`
    In {
        field: Field,
        values: Vec<Value>,
        negated: bool,
    },
    /// `field like "pat%"` / `ilike` / `not like`
    Like {
        field: Field,
        pattern: String,
        case_insensitive: bool,
        negated: bool,
    },
    /// `field is null` / `field is not null`
    IsNull {
        field: Field,
        negated: bool,
    },
}

impl Expr {
    /// Checks the size limits ([`MAX_TERMS`] comparisons, [`MAX_LIST`] values per
    /// list, [`MAX_DEPTH`] levels) on a filter built by other means than
    /// [`parse_filter`] (MLflow's syntax, the API's structured forms). The message
    /// names the limit.
    pub fn check_limits(&self) -> Result<(), String> {
        fn walk(e: &Expr, depth: usize, terms: &mut usize) -> Result<(), String> {
            // Parentheses, `not`, `and` and `or` each add a level here, so a parsed
            // filter within MAX_DEPTH stays within twice that.
            if depth > 2 * MAX_DEPTH + 1 {
                return Err(format!("the filter nests more than {MAX_DEPTH} levels deep, the limit"));
            }
            match e {
                Expr::And(items) | Expr::Or(items) => items.iter().try_for_each(|i| walk(i, depth + 1, terms)),
                Expr::Not(inner) => walk(inner, depth + 1, terms),
                Expr::In { values, .. } if values.len() > MAX_LIST => Err(format!(
                    "an 'in' list has {} values, more than the limit of {MAX_LIST}: split the search",
                    values.len()
                )),
                _ => {
                    *terms += 1;
                    if *terms > MAX_TERMS {
                        return Err(format!(
                            "the filter has more than {MAX_TERMS} comparisons, the limit: use an 'in' list \
                             (up to {MAX_LIST} values), or split the search"
                        ));
                    }
                    Ok(())
                }
            }
        }
        walk(self, 0, &mut 0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    String(String),
    Bool(bool),
}

/// What a filter or sort key refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    Attr(Attr),
    /// `params.optimizer.lr` → "optimizer.lr" (nested config flattened with dots)
    Param(String),
    /// `metrics.val_acc` → last value; `min(metrics.loss)`, `max(...)`, `count(...)`
    Metric {
        key: String,
        agg: MetricAgg,
    },
    /// `tags.aug`
    Tag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricAgg {
    Last,
    Min,
    Max,
    Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Attr {
    Id,
    ShortId,
    Name,
    Description,
    Hypothesis,
    Owner,
    Status,
    Project,
    Group,
    Created,
    Started,
    Ended,
    Fingerprint,
}

impl Attr {
    /// Every attribute, in documentation order.
    pub const ALL: [Attr; 13] = [
        Attr::Id,
        Attr::ShortId,
        Attr::Name,
        Attr::Description,
        Attr::Hypothesis,
        Attr::Owner,
        Attr::Status,
        Attr::Project,
        Attr::Group,
        Attr::Created,
        Attr::Started,
        Attr::Ended,
        Attr::Fingerprint,
    ];

    /// The canonical name used in filters: `short_id`, `created`, …
    pub fn name(self) -> &'static str {
        match self {
            Attr::Id => "id",
            Attr::ShortId => "short_id",
            Attr::Name => "name",
            Attr::Description => "description",
            Attr::Hypothesis => "hypothesis",
            Attr::Owner => "owner",
            Attr::Status => "status",
            Attr::Project => "project",
            Attr::Group => "group",
            Attr::Created => "created",
            Attr::Started => "started",
            Attr::Ended => "ended",
            Attr::Fingerprint => "fingerprint",
        }
    }

    /// Looks up an attribute by its name or an alias (`run_name`, `user`, `group_id`,
    /// `created_at`, `started_at`, `start_time`, `ended_at`, `end_time`), ignoring ASCII
    /// case.
    pub fn from_name(name: &str) -> Option<Attr> {
        let attr = match name.to_ascii_lowercase().as_str() {
            "id" => Attr::Id,
            "short_id" => Attr::ShortId,
            "name" | "run_name" => Attr::Name,
            "description" => Attr::Description,
            "hypothesis" => Attr::Hypothesis,
            "owner" | "user" => Attr::Owner,
            "status" => Attr::Status,
            "project" => Attr::Project,
            "group" | "group_id" => Attr::Group,
            "created" | "created_at" => Attr::Created,
            "started" | "started_at" | "start_time" => Attr::Started,
            "ended" | "ended_at" | "end_time" => Attr::Ended,
            "fingerprint" => Attr::Fingerprint,
            _ => return None,
        };
        Some(attr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_names_round_trip() {
        for attr in Attr::ALL {
            assert_eq!(Attr::from_name(attr.name()), Some(attr));
            assert_eq!(Attr::from_name(&attr.name().to_uppercase()), Some(attr));
        }
        assert_eq!(Attr::from_name("run_name"), Some(Attr::Name));
        assert_eq!(Attr::from_name("user"), Some(Attr::Owner));
        assert_eq!(Attr::from_name("group_id"), Some(Attr::Group));
        assert_eq!(Attr::from_name("start_time"), Some(Attr::Started));
        assert_eq!(Attr::from_name("end_time"), Some(Attr::Ended));
        assert_eq!(Attr::from_name("colour"), None);
        assert_eq!(Attr::from_name(""), None);
    }
}
