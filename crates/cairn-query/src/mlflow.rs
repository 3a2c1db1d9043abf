//! MLflow's search syntax (`metrics.acc > 0.9 and params.lr = '0.01'`, `order_by`
//! clauses) translated into Cairn's own typed query. Never into SQL: the store's
//! translator binds every value.

use crate::listing::{ListCond, ListField, ListOrder};
pub use crate::listing::{Literal, Test, like};
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
fn value(field: &Field, lit: &Literal, exact: bool) -> Result<Value> {
    let Literal::Str(s) = lit else {
        let Literal::Num(n) = lit else { unreachable!("a literal is a number or a string") };
        return Ok(Value::Number(*n));
    };
    Ok(match field {
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
    })
}

/// One condition of an MLflow filter: the key as written (`metrics.acc`,
/// `tags.\`my tag\``, `name`) and its test. Runs, experiments and registered models
/// share this grammar; each gives the keys their meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    pub key: String,
    pub test: Test,
}

/// Parses an MLflow filter into its conditions (joined by AND, the only conjunction
/// MLflow has); none for an empty filter.
pub fn terms(text: &str) -> Result<Vec<Term>> {
    let toks = tokens(text)?;
    let mut out = Vec::new();
    if toks.is_empty() {
        return Ok(out);
    }
    let mut i = 0;
    let word = |t: &Tok, w: &str| matches!(t, Tok::Ident(s) if s.eq_ignore_ascii_case(w));
    let literal = |t: Option<&Tok>| -> Result<Literal> {
        match t {
            Some(Tok::Num(n)) => Ok(Literal::Num(*n)),
            Some(Tok::Str(s)) => Ok(Literal::Str(s.clone())),
            Some(other) => {
                Err(MlflowFilterError::invalid(format!("invalid filter '{text}': expected a value, found {other:?}")))
            }
            None => Err(MlflowFilterError::invalid(format!("invalid filter '{text}': a comparison has no value"))),
        }
    };
    loop {
        let Some(Tok::Ident(name)) = toks.get(i) else {
            return Err(MlflowFilterError::invalid(format!(
                "invalid filter '{text}': expected a key at term {}",
                out.len() + 1
            )));
        };
        i += 1;
        let test = match toks.get(i) {
            Some(Tok::Op(op)) => {
                let op = match *op {
                    "=" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                let v = literal(toks.get(i + 1))?;
                i += 2;
                Test::Compare(op, v)
            }
            Some(t) if word(t, "like") || word(t, "ilike") => {
                let ci = word(t, "ilike");
                let Some(Tok::Str(p)) = toks.get(i + 1) else {
                    return Err(MlflowFilterError::invalid(format!(
                        "invalid filter '{text}': LIKE needs a quoted pattern"
                    )));
                };
                i += 2;
                Test::Like(p.clone(), ci)
            }
            Some(t) if word(t, "is") => {
                let negated = toks.get(i + 1).is_some_and(|t| word(t, "not"));
                let at = if negated { i + 2 } else { i + 1 };
                if !toks.get(at).is_some_and(|t| word(t, "null")) {
                    return Err(MlflowFilterError::invalid(format!("invalid filter '{text}': expected IS [NOT] NULL")));
                }
                i = at + 1;
                Test::IsNull(negated)
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
                    if toks.get(i).is_none() {
                        return Err(MlflowFilterError::invalid(format!(
                            "invalid filter '{text}': the IN list is not closed"
                        )));
                    }
                    values.push(literal(toks.get(i))?);
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
                Test::In(values, negated)
            }
            _ => {
                return Err(MlflowFilterError::invalid(format!(
                    "invalid filter '{text}': expected a comparison after '{name}'"
                )));
            }
        };
        out.push(Term { key: name.clone(), test });
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
    Ok(out)
}

/// A condition on `field`, with its literals typed for that field.
fn expr(field: Field, test: &Test) -> Result<Expr> {
    Ok(match test {
        Test::Compare(op, v) => {
            let value = value(&field, v, matches!(op, CmpOp::Eq | CmpOp::Ne))?;
            Expr::Compare { field, op: *op, value }
        }
        Test::In(values, negated) => Expr::In {
            values: values.iter().map(|v| value(&field, v, true)).collect::<Result<_>>()?,
            field,
            negated: *negated,
        },
        Test::Like(pattern, ci) => {
            Expr::Like { field, pattern: pattern.clone(), case_insensitive: *ci, negated: false }
        }
        Test::IsNull(negated) => Expr::IsNull { field, negated: *negated },
    })
}

/// Parses an MLflow run filter; `None` for an empty one.
pub fn run_filter(text: &str) -> Result<Option<Expr>> {
    let mut out = Vec::new();
    for t in terms(text)? {
        let term = expr(field(&t.key)?, &t.test)?;
        out.push(if t.key.starts_with("dataset") { dataset_term(term)? } else { system_tag(term) });
    }
    Ok(match out.len() {
        0 => None,
        1 => out.pop(),
        _ => Some(Expr::And(out)),
    })
}

/// MLflow's system tags that Cairn keeps as fields of the run, and the field that
/// stands for the tag when the run does not carry it (a run Cairn recorded itself).
/// `mlflow.runName` always is the name: the adapter keeps the two together.
fn system_field(tag: &str) -> Option<(Attr, bool)> {
    match tag {
        "mlflow.runName" => Some((Attr::Name, true)),
        "mlflow.user" => Some((Attr::Owner, false)),
        _ => None,
    }
}

fn with_field(term: &Expr, to: Field) -> Expr {
    match term.clone() {
        Expr::Compare { op, value, .. } => Expr::Compare { field: to, op, value },
        Expr::In { values, negated, .. } => Expr::In { field: to, values, negated },
        Expr::Like { pattern, case_insensitive, negated, .. } => {
            Expr::Like { field: to, pattern, case_insensitive, negated }
        }
        Expr::IsNull { negated, .. } => Expr::IsNull { field: to, negated },
        other => other,
    }
}

/// A term on a system tag tests what the run shows as that tag: the tag where the run
/// carries it, else the field it stands for.
fn system_tag(term: Expr) -> Expr {
    let tag = match &term {
        Expr::Compare { field: Field::Tag(t), .. }
        | Expr::In { field: Field::Tag(t), .. }
        | Expr::Like { field: Field::Tag(t), .. }
        | Expr::IsNull { field: Field::Tag(t), .. } => t.clone(),
        _ => return term,
    };
    let Some((attr, always)) = system_field(&tag) else { return term };
    if always {
        return with_field(&term, Field::Attr(attr));
    }
    let carried = |negated| Expr::IsNull { field: Field::Tag(tag.clone()), negated };
    Expr::Or(vec![
        Expr::And(vec![carried(true), term.clone()]),
        Expr::And(vec![carried(false), with_field(&term, Field::Attr(attr))]),
    ])
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

/// One `order_by` clause as (key, descending): a key (`metrics.\`my acc\`` may hold
/// spaces), then at most a direction. As MLflow, anything else is refused, not read as
/// a key.
fn order_clause(c: &str) -> Result<(String, bool)> {
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
    Ok((key.chars().filter(|&ch| ch != '`').collect(), descending))
}

/// Parses MLflow `order_by` clauses (`metrics.acc DESC`, `attributes.start_time`).
pub fn run_order(clauses: &[String]) -> Result<Vec<OrderKey>> {
    let mut out = Vec::new();
    for c in clauses {
        let (key, descending) = order_clause(c)?;
        if key.starts_with("dataset") {
            return Err(MlflowFilterError::invalid(format!(
                "cannot order runs by '{key}'; order by metrics, params, tags or attributes"
            )));
        }
        // A system tag that always is a field orders as that field.
        let field = match field(&key)? {
            Field::Tag(t) => match system_field(&t) {
                Some((attr, true)) => Field::Attr(attr),
                _ => Field::Tag(t),
            },
            f => f,
        };
        if out.iter().any(|o: &OrderKey| o.field == field) {
            return Err(MlflowFilterError::invalid(format!(
                "`order_by` contains duplicate fields: {clauses:?}; name each key once"
            )));
        }
        out.push(OrderKey { field, descending });
    }
    Ok(out)
}

/// An experiment key: `name`, `attribute.creation_time`, `tags.team`.
fn experiment_key(ident: &str) -> Result<ListField> {
    let (entity, key) = match ident.split_once('.') {
        Some((e, k)) => (e, k),
        None => ("attribute", ident),
    };
    let key = key.trim_matches('"');
    match entity {
        "tag" | "tags" if !key.is_empty() => Ok(ListField::Tag(key.to_owned())),
        "attribute" | "attributes" => match key {
            "name" => Ok(ListField::Name),
            "experiment_id" => Ok(ListField::Id),
            "creation_time" => Ok(ListField::Created),
            "last_update_time" => Ok(ListField::Updated),
            other => Err(MlflowFilterError::invalid(format!(
                "Invalid attribute key '{other}' specified. Valid keys are name, experiment_id, creation_time \
                 and last_update_time"
            ))),
        },
        other => Err(MlflowFilterError::invalid(format!(
            "Invalid entity type '{other}'. Valid entity types are attribute and tags"
        ))),
    }
}

/// Parses an experiment search filter, with MLflow's rules for each key: `name` takes
/// `=`, `!=`, `LIKE`, `ILIKE`; `experiment_id` `=`, `!=` and `IN`; the times compare
/// numbers; tags take strings, `LIKE`, `ILIKE` and `IS [NOT] NULL`. Experiment ids stay
/// the text MLflow shows (`0` is the default experiment): the caller resolves them.
pub fn experiment_filter(text: &str) -> Result<Vec<ListCond>> {
    let mut out = Vec::new();
    for t in terms(text)? {
        let field = experiment_key(&t.key)?;
        let bad = |why: &str| Err(MlflowFilterError::invalid(format!("Invalid filter '{text}': {} {why}", t.key)));
        let strings = |values: &[Literal]| values.iter().all(|v| matches!(v, Literal::Str(_)));
        let ok = match (&field, &t.test) {
            (ListField::Created | ListField::Updated, Test::Compare(_, Literal::Num(_))) => true,
            (ListField::Created | ListField::Updated, _) => {
                return bad("compares with a number (milliseconds since the epoch) by =, !=, <, <=, > or >=");
            }
            (ListField::Id, Test::Compare(CmpOp::Eq | CmpOp::Ne, Literal::Str(_))) => true,
            (ListField::Id, Test::In(values, _)) => strings(values),
            (ListField::Id, _) => false,
            (_, Test::Compare(CmpOp::Eq | CmpOp::Ne, Literal::Str(_)) | Test::Like(..)) => true,
            (ListField::Tag(_), Test::IsNull(_)) => true,
            _ => false,
        };
        if !ok {
            return match field {
                ListField::Id => bad("compares with a quoted id by =, != or IN ('1', '2')"),
                ListField::Name => bad("compares with a quoted string by =, !=, LIKE or ILIKE"),
                _ => bad("compares with a quoted string by =, !=, LIKE or ILIKE, or IS [NOT] NULL"),
            };
        }
        out.push(ListCond { field, test: t.test });
    }
    Ok(out)
}

/// Parses experiment `order_by` clauses: the four attributes, ascending by default.
pub fn experiment_order(clauses: &[String]) -> Result<Vec<ListOrder>> {
    let mut out = Vec::new();
    for c in clauses {
        let (key, descending) = order_clause(c)?;
        match experiment_key(&key)? {
            ListField::Tag(_) => {
                return Err(MlflowFilterError::invalid(format!(
                    "Invalid order_by entity in '{c}': order experiments by name, experiment_id, creation_time or \
                     last_update_time"
                )));
            }
            field => out.push(ListOrder { field, descending }),
        }
    }
    Ok(out)
}

/// Parses a registered model search filter: `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`)
/// and tags (`=`, `!=`, `LIKE`, `ILIKE`), as MLflow's registry takes them.
pub fn model_filter(text: &str) -> Result<Vec<ListCond>> {
    let mut out = Vec::new();
    for t in terms(text)? {
        let key = t.key.trim_start_matches("attributes.").trim_start_matches("attribute.");
        let field = match key.split_once('.') {
            None if key == "name" => ListField::Name,
            Some(("tag" | "tags", k)) if !k.is_empty() => ListField::Tag(k.trim_matches('"').to_owned()),
            _ => {
                return Err(MlflowFilterError::invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are 'name' and tags.<key>"
                )));
            }
        };
        let strings = |values: &[Literal]| values.iter().all(|v| matches!(v, Literal::Str(_)));
        let ok = match (&field, &t.test) {
            (_, Test::Compare(CmpOp::Eq | CmpOp::Ne, Literal::Str(_)) | Test::Like(..)) => true,
            (ListField::Name, Test::In(values, _)) => strings(values),
            _ => false,
        };
        if !ok {
            return Err(MlflowFilterError::invalid(format!(
                "Invalid filter '{text}': {} compares with a quoted string by =, !=, LIKE or ILIKE{}",
                t.key,
                if field == ListField::Name { ", or IN ('a', 'b')" } else { "" }
            )));
        }
        out.push(ListCond { field, test: t.test });
    }
    Ok(out)
}

/// Parses a model version search filter: `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`),
/// `run_id` (`=`, `!=`, `IN`), `source_path` (`=`, `!=`, `LIKE`, `ILIKE`),
/// `version_number` (compared as a number) and tags (`=`, `!=`, `LIKE`, `ILIKE`).
pub fn version_filter(text: &str) -> Result<Vec<ListCond>> {
    let mut out = Vec::new();
    for t in terms(text)? {
        let key = t.key.trim_start_matches("attributes.").trim_start_matches("attribute.");
        let field = match key.split_once('.') {
            None if key == "name" => ListField::Name,
            None if key == "run_id" => ListField::Run,
            None if key == "source_path" => ListField::Source,
            None if key == "version_number" => ListField::Version,
            Some(("tag" | "tags", k)) if !k.is_empty() => ListField::Tag(k.trim_matches('"').to_owned()),
            _ => {
                return Err(MlflowFilterError::invalid(format!(
                    "Invalid attribute key '{key}' specified. Valid keys are name, run_id, source_path, \
                     version_number and tags.<key>"
                )));
            }
        };
        let bad = |why: &str| Err(MlflowFilterError::invalid(format!("Invalid filter '{text}': {} {why}", t.key)));
        // A version number may be quoted; it compares as the number.
        let as_number = |l: &Literal| match l {
            Literal::Num(n) if n.fract() == 0.0 => Some(Literal::Num(*n)),
            Literal::Str(s) => s.trim().parse::<i64>().ok().map(|n| Literal::Num(n as f64)),
            _ => None,
        };
        let test = match (&field, t.test) {
            (ListField::Version, Test::Compare(op, v)) => match as_number(&v) {
                Some(n) => Test::Compare(op, n),
                None => return bad("compares with a whole number"),
            },
            (ListField::Version, Test::In(vs, neg)) => match vs.iter().map(as_number).collect::<Option<Vec<_>>>() {
                Some(ns) => Test::In(ns, neg),
                None => return bad("compares with whole numbers"),
            },
            (ListField::Version, _) => return bad("compares with a number by =, !=, <, <=, >, >= or IN"),
            (_, test @ Test::Compare(CmpOp::Eq | CmpOp::Ne, Literal::Str(_))) => test,
            (ListField::Name | ListField::Source | ListField::Tag(_), test @ Test::Like(..)) => test,
            (ListField::Name | ListField::Run, Test::In(vs, neg))
                if vs.iter().all(|v| matches!(v, Literal::Str(_))) =>
            {
                Test::In(vs, neg)
            }
            _ => {
                return bad(
                    "compares with a quoted string by =, != (LIKE and ILIKE but for run_id; IN for name and run_id)",
                );
            }
        };
        out.push(ListCond { field, test });
    }
    Ok(out)
}

/// Parses model version `order_by` clauses: `name`, `version_number`,
/// `creation_timestamp`, `last_updated_timestamp` (or `timestamp`) and `run_id`.
pub fn version_order(clauses: &[String]) -> Result<Vec<ListOrder>> {
    let mut out = Vec::new();
    for (key, descending) in attribute_order(
        clauses,
        &["name", "version_number", "timestamp", "last_updated_timestamp", "creation_timestamp", "run_id"],
    )? {
        let field = match key.as_str() {
            "name" => ListField::Name,
            "version_number" => ListField::Version,
            "creation_timestamp" => ListField::Created,
            "run_id" => ListField::Run,
            _ => ListField::Updated,
        };
        out.push(ListOrder { field, descending });
    }
    Ok(out)
}

/// Parses `order_by` clauses whose keys are plain attributes in `valid` (model
/// versions' `version_number`, `creation_timestamp`, …) as (key, descending).
pub fn attribute_order(clauses: &[String], valid: &[&str]) -> Result<Vec<(String, bool)>> {
    let mut out = Vec::new();
    for c in clauses {
        let (key, descending) = order_clause(c)?;
        let key = key.trim_start_matches("attributes.").trim_start_matches("attribute.");
        if !valid.contains(&key) {
            return Err(MlflowFilterError::invalid(format!(
                "Invalid order by key '{key}' specified. Valid keys are {}",
                valid.join(", ")
            )));
        }
        out.push((key.to_owned(), descending));
    }
    Ok(out)
}

/// Parses registered model `order_by` clauses: `name`, `last_updated_timestamp` (or
/// `timestamp`, the same as MLflow's server reads it) and `creation_timestamp`; a field
/// named twice is refused, as MLflow does.
pub fn model_order(clauses: &[String]) -> Result<Vec<ListOrder>> {
    let mut out: Vec<ListOrder> = Vec::new();
    for c in clauses {
        let (key, descending) = order_clause(c)?;
        let field = match key.trim_start_matches("attributes.").trim_start_matches("attribute.") {
            "name" => ListField::Name,
            "timestamp" | "last_updated_timestamp" => ListField::Updated,
            "creation_timestamp" => ListField::Created,
            other => {
                return Err(MlflowFilterError::invalid(format!(
                    "Invalid order by key '{other}' specified. Valid keys are name, timestamp, \
                     last_updated_timestamp and creation_timestamp"
                )));
            }
        };
        if out.iter().any(|o| o.field == field) {
            return Err(MlflowFilterError::invalid(format!("`order_by` contains duplicate fields: {clauses:?}")));
        }
        out.push(ListOrder { field, descending });
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
    fn experiment_filters_follow_mlflows_rules() {
        let c = experiment_filter(
            "name LIKE 'x%' and attribute.creation_time > 5 and experiment_id IN ('1', '2') and tags.t IS NULL",
        )
        .unwrap();
        assert_eq!(c.len(), 4);
        assert_eq!(c[1].field, ListField::Created);
        assert_eq!(c[2].test, Test::In(vec![Literal::Str("1".into()), Literal::Str("2".into())], false));
        assert_eq!(c[3].field, ListField::Tag("t".into()));
        for bad in [
            "name > 'a'",
            "creation_time = 'a'",
            "name IS NULL",
            "params.x = 'a'",
            "attribute.nope = 'a'",
            "experiment_id LIKE '1%'",
            "name = 'a' OR name = 'b'",
        ] {
            assert!(experiment_filter(bad).is_err(), "{bad}");
        }
        let o = experiment_order(&["name DESC".into(), "attribute.last_update_time".into()]).unwrap();
        let want = [(ListField::Name, true), (ListField::Updated, false)];
        assert_eq!(o, want.map(|(field, descending)| ListOrder { field, descending }));
        assert!(experiment_order(&["tags.x".into()]).is_err());
        assert_eq!(model_filter("name IN ('a', 'b') and tags.t LIKE 'x%'").unwrap().len(), 2);
        for bad in ["run_id = 'x'", "tags.t IN ('a')", "name > 'a'"] {
            assert!(model_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(model_order(&["timestamp DESC".into()]).unwrap()[0].field, ListField::Updated);
        assert!(model_order(&["name".into(), "name DESC".into()]).is_err(), "named twice");
        let v =
            version_filter("name = 'm' and version_number > '2' and run_id IN ('a', 'b') and tags.x != 'y'").unwrap();
        assert_eq!(v[1].test, Test::Compare(CmpOp::Gt, Literal::Num(2.0)));
        for bad in ["version_number = 'two'", "run_id LIKE 'a%'", "colour = 'red'", "tags.x IN ('a')"] {
            assert!(version_filter(bad).is_err(), "{bad}");
        }
        assert_eq!(version_order(&["version_number DESC".into()]).unwrap()[0].field, ListField::Version);
    }

    #[test]
    fn system_tags_filter_what_the_run_shows() {
        let e = run_filter("tags.mlflow.runName = 'r1'").unwrap().unwrap();
        assert_eq!(e.to_string(), "name = \"r1\"");
        let e = run_filter("tags.`mlflow.user` LIKE 'al%'").unwrap().unwrap();
        assert!(matches!(e, Expr::Or(ref v) if v.len() == 2), "{e}");
        assert_eq!(run_order(&["tags.mlflow.runName".into()]).unwrap()[0].field, Field::Attr(Attr::Name));
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
        assert!(run_order(&["metrics.acc".into(), "metrics.acc DESC".into()]).is_err(), "a key twice");
    }
}
