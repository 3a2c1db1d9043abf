//! MLflow's search syntax (`metrics.acc > 0.9 and params.lr = '0.01'`, `order_by`
//! clauses) translated into Cairn's own typed query. Never into SQL: the store's
//! translator binds every value.

use crate::{Attr, CmpOp, Expr, Field, MetricAgg, OrderKey, Value};

/// A filter or ordering MLflow's syntax cannot read; MLflow answers it with
/// `INVALID_PARAMETER_VALUE` and this message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct MlflowFilterError(pub String);

impl MlflowFilterError {
    fn invalid(message: impl Into<String>) -> MlflowFilterError {
        MlflowFilterError(message.into())
    }
}

type Result<T> = std::result::Result<T, MlflowFilterError>;

/// Tags under which the MLflow adapter indexes a run's logged datasets (name, digest,
/// context), so `datasets.*` filters become tag filters.
pub const DATASET_INDEX: [&str; 3] = ["mlflow.dataset_name.", "mlflow.dataset_digest.", "mlflow.dataset_context."];

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<Tok>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let bad = |msg: String| MlflowFilterError::invalid(format!("invalid filter '{text}': {msg}"));
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(bad("a quoted string is not closed".into())),
                        Some(&ch) if ch == quote => {
                            // A doubled quote stands for the quote itself.
                            if chars.get(i + 1) == Some(&quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some('\\') if chars.get(i + 1) == Some(&quote) => {
                            s.push(quote);
                            i += 2;
                        }
                        Some(&ch) => {
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                // `params."my key"`: a quoted key right after a dotted prefix.
                if let Some(Tok::Ident(prev)) = out.last_mut()
                    && prev.ends_with('.')
                {
                    prev.push_str(&s);
                } else {
                    out.push(Tok::Str(s));
                }
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1;
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2;
            }
            '<' | '>' => {
                let two = chars.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, two) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                }));
                i += if two { 2 } else { 1 };
            }
            c if c.is_ascii_digit() || ((c == '-' || c == '+' || c == '.') && i + 1 < chars.len()) => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | '-' | '+')) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                match word.parse::<f64>() {
                    Ok(n) if n.is_finite() => out.push(Tok::Num(n)),
                    _ => return Err(bad(format!("'{word}' is not a number"))),
                }
            }
            _ => {
                let start = i;
                while i < chars.len() {
                    let ch = chars[i];
                    if ch == '`' {
                        // A backticked part of a key: anything up to the closing backtick.
                        i += 1;
                        while i < chars.len() && chars[i] != '`' {
                            i += 1;
                        }
                        if i == chars.len() {
                            return Err(bad("a backticked key is not closed".into()));
                        }
                        i += 1;
                    } else if ch.is_alphanumeric() || matches!(ch, '_' | '.' | '-' | '/' | ':') {
                        i += 1;
                    } else {
                        break;
                    }
                }
                if i == start {
                    return Err(bad(format!("unexpected '{c}'")));
                }
                let word: String = chars[start..i].iter().filter(|&&c| c != '`').collect();
                out.push(Tok::Ident(word));
            }
        }
    }
    Ok(out)
}

/// An MLflow attribute as a Cairn attribute; values of `status` become Cairn's.
fn attribute(key: &str) -> Result<Attr> {
    Ok(match key {
        "run_id" | "run_uuid" => Attr::Id,
        "run_name" | "run name" | "Run name" | "Run Name" => Attr::Name,
        "status" => Attr::Status,
        "user_id" => Attr::Owner,
        "start_time" | "created" | "Created" => Attr::Started,
        "end_time" => Attr::Ended,
        other => {
            return Err(MlflowFilterError::invalid(format!(
                "invalid attribute key '{other}'; valid keys are run_id, run_name, status, user_id, start_time, \
                 end_time, created"
            )));
        }
    })
}

fn field(ident: &str) -> Result<Field> {
    let (kind, key) = match ident.split_once('.') {
        Some((k, rest)) => (k, rest),
        None => ("attribute", ident),
    };
    let key = key.trim_matches('"').to_owned();
    if key.is_empty() {
        return Err(MlflowFilterError::invalid(format!("'{ident}' names no key")));
    }
    Ok(match kind {
        "metric" | "metrics" => Field::Metric { key, agg: MetricAgg::Last },
        "param" | "params" | "parameters" => Field::Param(key),
        "tag" | "tags" => Field::Tag(key),
        "attribute" | "attributes" | "attr" | "run" => Field::Attr(attribute(&key)?),
        // Stands for the index tag `log_inputs` writes; `dataset_term` makes the test.
        "dataset" | "datasets" => match key.as_str() {
            "name" => Field::Tag(DATASET_INDEX[0].to_owned()),
            "digest" => Field::Tag(DATASET_INDEX[1].to_owned()),
            "context" => Field::Tag(DATASET_INDEX[2].to_owned()),
            other => {
                return Err(MlflowFilterError::invalid(format!(
                    "invalid dataset attribute '{other}'; valid ones are name, digest and context"
                )));
            }
        },
        other => {
            return Err(MlflowFilterError::invalid(format!(
                "invalid entity type '{other}'; valid values are metrics, params, tags, attributes"
            )));
        }
    })
}

/// A literal as the value the store compares. Param values are strings in MLflow, and
/// `=`, `!=` and `IN` compare them as MLflow does, by the text as logged (`'1.1'` is not
/// `'1.10'`); an ordering (`<`, a Cairn extension) compares what the text means.
fn value(field: &Field, tok: &Tok, exact: bool) -> Result<Value> {
    let v = match tok {
        Tok::Num(n) => Value::Number(*n),
        Tok::Str(s) => match field {
            Field::Param(_) if exact => Value::String(s.clone()),
            Field::Param(_) => match cairn_domain::meaning(&serde_json::Value::String(s.clone())) {
                serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
                _ => Value::String(s.clone()),
            },
            Field::Attr(Attr::Status) => Value::String(s.to_ascii_lowercase()),
            Field::Metric { .. } => {
                return Err(MlflowFilterError::invalid(format!("metrics compare with numbers, not the string '{s}'")));
            }
            _ => Value::String(s.clone()),
        },
        other => return Err(MlflowFilterError::invalid(format!("expected a value, found {other:?}"))),
    };
    Ok(v)
}

/// Parses an MLflow run filter; `None` for an empty one.
pub fn run_filter(text: &str) -> Result<Option<Expr>> {
    let toks = tokens(text)?;
    if toks.is_empty() {
        return Ok(None);
    }
    let mut i = 0;
    let mut terms = Vec::new();
    let word = |t: &Tok, w: &str| matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(w));
    loop {
        let Some(Tok::Ident(name)) = toks.get(i) else {
            return Err(MlflowFilterError::invalid(format!(
                "invalid filter '{text}': expected a key at term {}",
                terms.len() + 1
            )));
        };
        let f = field(name)?;
        i += 1;
        let term = match toks.get(i) {
            Some(Tok::Op(op)) => {
                let op = match *op {
                    "=" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                let v = value(
                    &f,
                    toks.get(i + 1).ok_or_else(|| {
                        MlflowFilterError::invalid(format!("invalid filter '{text}': a comparison has no value"))
                    })?,
                    matches!(op, CmpOp::Eq | CmpOp::Ne),
                )?;
                i += 2;
                Expr::Compare { field: f, op, value: v }
            }
            Some(t) if word(t, "like") || word(t, "ilike") => {
                let ci = word(t, "ilike");
                let Some(Tok::Str(p)) = toks.get(i + 1) else {
                    return Err(MlflowFilterError::invalid(format!(
                        "invalid filter '{text}': LIKE needs a quoted pattern"
                    )));
                };
                i += 2;
                Expr::Like { field: f, pattern: p.clone(), case_insensitive: ci, negated: false }
            }
            Some(t) if word(t, "is") => {
                let negated = toks.get(i + 1).is_some_and(|t| word(t, "not"));
                let at = if negated { i + 2 } else { i + 1 };
                if !toks.get(at).is_some_and(|t| word(t, "null")) {
                    return Err(MlflowFilterError::invalid(format!("invalid filter '{text}': expected IS [NOT] NULL")));
                }
                i = at + 1;
                Expr::IsNull { field: f, negated }
            }
            Some(t) if word(t, "in") || (word(t, "not") && toks.get(i + 1).is_some_and(|t| word(t, "in"))) => {
                let negated = word(t, "not");
                i += if negated { 2 } else { 1 };
                if toks.get(i) != Some(&Tok::LParen) {
                    return Err(MlflowFilterError::invalid(format!(
                        "invalid filter '{text}': IN needs a list in parentheses"
                    )));
                }
                i += 1;
                let mut values = Vec::new();
                loop {
                    let t = toks.get(i).ok_or_else(|| {
                        MlflowFilterError::invalid(format!("invalid filter '{text}': the IN list is not closed"))
                    })?;
                    values.push(value(&f, t, true)?);
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::RParen) => {
                            i += 1;
                            break;
                        }
                        _ => {
                            return Err(MlflowFilterError::invalid(format!(
                                "invalid filter '{text}': expected ',' or ')' in the IN list"
                            )));
                        }
                    }
                }
                Expr::In { field: f, values, negated }
            }
            _ => {
                return Err(MlflowFilterError::invalid(format!(
                    "invalid filter '{text}': expected a comparison after '{name}'"
                )));
            }
        };
        terms.push(if name.starts_with("dataset") { dataset_term(term)? } else { term });
        match toks.get(i) {
            None => break,
            Some(t) if word(t, "and") => i += 1,
            Some(t) => {
                return Err(MlflowFilterError::invalid(format!(
                    "invalid filter '{text}': expected AND between conditions, found {t:?} (MLflow filters join with AND only)"
                )));
            }
        }
    }
    Ok(Some(if terms.len() == 1 { terms.pop().expect("one term") } else { Expr::And(terms) }))
}

/// `datasets.name = 'x'` / `IN (…)`: the run has a dataset input with that name (or
/// digest, or context) — an index tag `<prefix><value>` exists.
fn dataset_term(term: Expr) -> Result<Expr> {
    let has = |prefix: &str, v: &Value| -> Result<Expr> {
        let Value::String(v) = v else {
            return Err(MlflowFilterError::invalid("dataset attributes compare with quoted strings"));
        };
        Ok(Expr::IsNull { field: Field::Tag(format!("{prefix}{v}")), negated: true })
    };
    match term {
        Expr::Compare { field: Field::Tag(prefix), op: CmpOp::Eq, value } => has(&prefix, &value),
        Expr::In { field: Field::Tag(prefix), values, negated: false } => {
            Ok(Expr::Or(values.iter().map(|v| has(&prefix, v)).collect::<Result<_>>()?))
        }
        _ => Err(MlflowFilterError::invalid("datasets.name, datasets.digest and datasets.context take = or IN")),
    }
}

/// Parses MLflow `order_by` clauses (`metrics.acc DESC`, `attributes.start_time`).
pub fn run_order(clauses: &[String]) -> Result<Vec<OrderKey>> {
    let mut out = Vec::new();
    for c in clauses {
        // Words apart outside quotes: a key (`metrics.\`my acc\`` may hold spaces), then
        // at most a direction. As MLflow, anything else is refused, not read as a key.
        let mut words: Vec<String> = Vec::new();
        let (mut word, mut quote) = (String::new(), None);
        for ch in c.trim().chars() {
            match (quote, ch) {
                (None, '`' | '"') => quote = Some(ch),
                (Some(q), _) if ch == q => quote = None,
                (None, w) if w.is_whitespace() => {
                    if !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    continue;
                }
                _ => {}
            }
            word.push(ch);
        }
        if !word.is_empty() {
            words.push(word);
        }
        let (key, descending) = match words.as_slice() {
            [k] => (k.as_str(), false),
            [k, dir] if dir.eq_ignore_ascii_case("desc") => (k.as_str(), true),
            [k, dir] if dir.eq_ignore_ascii_case("asc") => (k.as_str(), false),
            _ => {
                return Err(MlflowFilterError::invalid(format!(
                    "Invalid order_by clause '{c}': give a key and at most ASC or DESC, such as \
                     'metrics.acc DESC' (quote a key with spaces in backticks)"
                )));
            }
        };
        let key: String = key.chars().filter(|&ch| ch != '`').collect();
        if key.starts_with("dataset") {
            return Err(MlflowFilterError::invalid(format!(
                "cannot order runs by '{key}'; order by metrics, params, tags or attributes"
            )));
        }
        out.push(OrderKey { field: field(&key)?, descending });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlflow_filters_become_cairn_queries() {
        let e =
            run_filter("metrics.acc > 0.9 and params.lr = '0.01' and tags.`team name` = 'cv' and status = 'FINISHED'")
                .unwrap()
                .unwrap();
        assert_eq!(
            e.to_string(),
            "metrics.acc > 0.9 and params.lr = \"0.01\" and tags.`team name` = \"cv\" and status = \"finished\""
        );
        let e = run_filter("params.opt IN ('adam', 'sgd') AND tags.x IS NOT NULL and attributes.run_name LIKE 'base%'")
            .unwrap()
            .unwrap();
        assert_eq!(e.to_string(), "params.opt in (\"adam\", \"sgd\") and tags.x is not null and name like \"base%\"");
        assert_eq!(run_filter("params.v = '1e-3'").unwrap().unwrap().to_string(), "params.v = \"1e-3\"");
        assert_eq!(run_filter("params.v < '1e-3'").unwrap().unwrap().to_string(), "params.v < 0.001");
        assert!(run_filter("").unwrap().is_none());
        for bad in ["metrics.acc >", "foo.bar = 1", "metrics.acc > 1 or metrics.acc < 0", "params.x = 'open"] {
            assert!(run_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn order_clauses() {
        let o = run_order(&["metrics.acc DESC".into(), "attributes.start_time".into()]).unwrap();
        assert_eq!(
            o[0],
            OrderKey { field: Field::Metric { key: "acc".into(), agg: MetricAgg::Last }, descending: true }
        );
        assert_eq!(o[1], OrderKey { field: Field::Attr(Attr::Started), descending: false });
        let spaced = run_order(&["metrics.`my acc` desc".into(), "attributes.`Run name`".into()]).unwrap();
        assert_eq!(spaced[0].field, Field::Metric { key: "my acc".into(), agg: MetricAgg::Last });
        assert_eq!(spaced[1].field, Field::Attr(Attr::Name));
        for bad in ["metrics.acc SIDEWAYS", "params.lr ASC DESC", "attributes.nonsense", "", "metrics.a b"] {
            assert!(run_order(&[bad.into()]).is_err(), "{bad}");
        }
    }
}
