//! Small readers and writers of MLflow's JSON (an int64 may come as a string), and the
//! one page token of every MLflow list.

use super::*;

pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

pub(crate) fn required<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    text(v, key).filter(|s| !s.is_empty()).ok_or_else(|| {
        MlflowError::invalid(format!("Missing value for required parameter '{key}'. See the API docs for more information about request parameters."))
    })
}

pub(crate) fn int(v: &Value, key: &str) -> Result<Option<i64>> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| MlflowError::invalid(format!("'{key}' must be an integer"))),
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| MlflowError::invalid(format!("'{key}' must be an integer, got '{s}'")))
        }
        Some(other) => Err(MlflowError::invalid(format!("'{key}' must be an integer, got {other}"))),
    }
}

pub(crate) fn float(v: &Value, key: &str) -> Result<f64> {
    match v.get(key) {
        Some(Value::Number(n)) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => match s.as_str() {
            "NaN" | "nan" => Ok(f64::NAN),
            "Infinity" | "inf" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            s => s.parse().map_err(|_| MlflowError::invalid(format!("'{key}' must be a number, got '{s}'"))),
        },
        _ => Err(MlflowError::invalid(format!("Missing value for required parameter '{key}'"))),
    }
}

pub(crate) fn run_id(v: &Value) -> Result<String> {
    text(v, "run_id")
        .filter(|s| !s.is_empty())
        .or_else(|| text(v, "run_uuid").filter(|s| !s.is_empty()))
        .map(str::to_owned)
        .ok_or_else(|| MlflowError::invalid("Missing value for required parameter 'run_id'"))
}

/// `order_by` as a list of clauses (a query string may give one as a plain string).
pub(crate) fn order_list(b: &Value) -> Vec<String> {
    match b.get("order_by") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(o)) if !o.is_empty() => vec![o.clone()],
        _ => vec![],
    }
}

/// The one page token of every MLflow list (runs, experiments, models, versions,
/// metric history): the offset, and the time of the first page, so entries made
/// meanwhile do not shift later pages. A run search's cursor has the same shape.
pub(crate) fn page_token(offset: u64, as_of: i64) -> String {
    format!("o{offset}t{as_of}")
}

/// The (offset, as of) a request's `page_token` names; (0, now) without one.
pub(crate) fn read_page_token(b: &Value) -> Result<(u64, i64)> {
    match text(b, "page_token").filter(|t| !t.is_empty()) {
        None => Ok((0, cairn_server::service::now_ms())),
        Some(t) => t
            .strip_prefix('o')
            .and_then(|rest| rest.split_once('t'))
            .and_then(|(o, at)| Some((o.parse().ok()?, at.parse().ok()?)))
            .ok_or_else(|| MlflowError::invalid(format!("Invalid page token '{t}': use the token a search returned"))),
    }
}

pub(crate) fn query_value(q: &HashMap<String, String>) -> Value {
    Value::Object(q.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

pub(crate) fn float_json(f: f64) -> Value {
    if f.is_nan() {
        json!("NaN")
    } else if f.is_infinite() {
        json!(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        json!(f)
    }
}

pub(crate) fn pairs(map: &BTreeMap<String, String>) -> Vec<Value> {
    map.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()
}

pub(crate) fn key_values(v: &Value, field: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for item in v.get(field).and_then(Value::as_array).into_iter().flatten() {
        let key = required(item, "key")?.to_owned();
        let value = match item.get("value") {
            Some(Value::String(s)) => s.clone(),
            None | Some(Value::Null) => String::new(),
            Some(other) => other.to_string(),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// The store query for one page of `n` entries, from the request's page token; also
/// the page's offset and time.
pub(crate) fn page_query(
    b: &Value,
    conds: Vec<cairn_query::listing::ListCond>,
    order: Vec<cairn_query::listing::ListOrder>,
    n: usize,
) -> Result<(cairn_store::ListQuery, u64, i64)> {
    let (offset, as_of) = read_page_token(b)?;
    // One more than the page, to know whether another follows.
    let limit = u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1);
    let query =
        cairn_store::ListQuery { conds, order, created_at_most: Some(as_of), limit, offset, ..Default::default() };
    Ok((query, offset, as_of))
}

/// Cuts a page read with [`page_query`] to `n`; the next page's token when there is one.
pub(crate) fn next_page<T>(items: &mut Vec<T>, n: usize, offset: u64, as_of: i64) -> Option<String> {
    let more = items.len() > n;
    items.truncate(n);
    more.then(|| page_token(offset + n as u64, as_of))
}
