//! Writing the AST back as filter text.

use std::fmt;

use crate::parser::display_key;
use crate::{Attr, CmpOp, Expr, Field, MetricAgg, OrderKey, Value};

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        })
    }
}

impl fmt::Display for Attr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // `{}` on f64 prints the shortest text that parses back to the same value.
            Value::Number(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::String(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\t' => f.write_str("\\t")?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Attr(a) => write!(f, "{a}"),
            Field::Param(k) => write!(f, "params.{}", display_key(k)),
            Field::Tag(k) => write!(f, "tags.{}", display_key(k)),
            Field::Metric { key, agg } => {
                let key = display_key(key);
                match agg {
                    MetricAgg::Last => write!(f, "metrics.{key}"),
                    MetricAgg::Min => write!(f, "min(metrics.{key})"),
                    MetricAgg::Max => write!(f, "max(metrics.{key})"),
                    MetricAgg::Count => write!(f, "count(metrics.{key})"),
                }
            }
        }
    }
}

impl fmt::Display for OrderKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.descending { write!(f, "{} desc", self.field) } else { write!(f, "{}", self.field) }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) => join(f, items, " or ", |e| matches!(e, Expr::Or(_))),
            Expr::And(items) => join(f, items, " and ", |e| matches!(e, Expr::Or(_) | Expr::And(_))),
            Expr::Not(inner) => {
                if matches!(**inner, Expr::Or(_) | Expr::And(_)) {
                    write!(f, "not ({inner})")
                } else {
                    write!(f, "not {inner}")
                }
            }
            Expr::Compare { field, op, value } => write!(f, "{field} {op} {value}"),
            Expr::In { field, values, negated } => {
                write!(f, "{field} {}in (", if *negated { "not " } else { "" })?;
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(")")
            }
            Expr::Like { field, pattern, case_insensitive, negated } => write!(
                f,
                "{field} {}{} {}",
                if *negated { "not " } else { "" },
                if *case_insensitive { "ilike" } else { "like" },
                Value::String(pattern.clone())
            ),
            Expr::IsNull { field, negated } => {
                write!(f, "{field} is {}null", if *negated { "not " } else { "" })
            }
        }
    }
}

/// Writes `items` separated by `sep`, parenthesising those for which `wrap` holds.
fn join(f: &mut fmt::Formatter<'_>, items: &[Expr], sep: &str, wrap: impl Fn(&Expr) -> bool) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if wrap(item) {
            write!(f, "({item})")?;
        } else {
            write!(f, "{item}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Expr, parse_filter, parse_order};

    /// Parses, displays, and checks the text and that it parses back to the same AST.
    fn round_trip(input: &str, displayed: &str) {
        let expr = parse_filter(input).unwrap().unwrap();
        assert_eq!(expr.to_string(), displayed, "input: {input:?}");
        let again = parse_filter(displayed).unwrap().unwrap();
        assert_eq!(again, expr, "displayed: {displayed:?}");
    }

    #[test]
    fn filters_display_canonically_and_round_trip() {
        let cases = [
            ("params.lr<0.01", "params.lr < 0.01"),
            ("params.lr == 1e-3", "params.lr = 0.001"),
            ("params.lr <> -2.5", "params.lr != -2.5"),
            ("PARAM.lr >= 1E3", "params.lr >= 1000"),
            ("config.a.b <= 1", "params.a.b <= 1"),
            ("metric.train/loss > 0", "metrics.train/loss > 0"),
            ("MIN(metrics.loss) < 1", "min(metrics.loss) < 1"),
            ("max(metrics.loss) < 1", "max(metrics.loss) < 1"),
            ("count(metrics.loss) < 1", "count(metrics.loss) < 1"),
            ("last(metrics.loss) < 1", "metrics.loss < 1"),
            ("tag.`my tag` = 'x'", "tags.`my tag` = \"x\""),
            ("params.`a b`.c = TRUE", "params.`a b`.c = true"),
            // Found by the fuzzer: a quoted segment ending in a dot is quoted whole.
            ("tags.`a b.` is not null", "tags.`a b.` is not null"),
            ("tags.`.x`.y = 1", "tags.`.x.y` = 1"),
            ("user = 'ana'", "owner = \"ana\""),
            ("attributes.created_at > 5", "created > 5"),
            (r#"tags.a = 'q"\'\\\n\t'"#, r#"tags.a = "q\"'\\\n\t""#),
            ("status IN ('a','b')", "status in (\"a\", \"b\")"),
            ("status not in (1)", "status not in (1)"),
            ("name like 'a%'", "name like \"a%\""),
            ("name NOT ILIKE 'a%'", "name not ilike \"a%\""),
            ("ended IS NULL", "ended is null"),
            ("ended is not null", "ended is not null"),
            ("params.a = 1 and params.b = 1 or params.c = 1", "params.a = 1 and params.b = 1 or params.c = 1"),
            ("params.a = 1 and (params.b = 1 or params.c = 1)", "params.a = 1 and (params.b = 1 or params.c = 1)"),
            ("(params.a = 1 or params.b = 1) or params.c = 1", "(params.a = 1 or params.b = 1) or params.c = 1"),
            ("(params.a = 1 and params.b = 1) and params.c = 1", "(params.a = 1 and params.b = 1) and params.c = 1"),
            ("not (params.a = 1 and params.b = 1)", "not (params.a = 1 and params.b = 1)"),
            ("not not params.a = 1", "not not params.a = 1"),
            ("not params.a = 1 and not (params.b = 1)", "not params.a = 1 and not params.b = 1"),
        ];
        for (input, displayed) in cases {
            round_trip(input, displayed);
        }
    }

    #[test]
    fn awkward_floats_round_trip() {
        for n in [0.1, 1e-300, 1.7976931348623157e308, 5e-324, -0.0, 123456789.125] {
            let expr = Expr::Compare {
                field: crate::Field::Param("x".into()),
                op: crate::CmpOp::Eq,
                value: crate::Value::Number(n),
            };
            let text = expr.to_string();
            assert_eq!(parse_filter(&text).unwrap(), Some(expr), "{text}");
        }
    }

    #[test]
    fn order_keys_display() {
        let keys = parse_order("metrics.val_acc DESC, params.lr asc, created_at").unwrap();
        let text: Vec<String> = keys.iter().map(ToString::to_string).collect();
        assert_eq!(text, ["metrics.val_acc desc", "params.lr", "created"]);
        assert_eq!(parse_order(&text.join(", ")).unwrap(), keys);
    }
}
