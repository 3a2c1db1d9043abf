use serde_json::Value;

/// A run's configuration: nested, typed (numbers — integer or float —, strings, bools,
/// lists, nested maps). JSON's model is exactly this, so it is the representation.
pub type Config = serde_json::Map<String, Value>;

/// One leaf of a flattened config, as search sees it: `optimizer.lr = 0.01`.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Number(f64),
    Bool(bool),
    Text(String),
    /// Lists and empty maps are kept as their JSON text; they compare by equality only.
    List(String),
    Null,
}

/// A parameter given as text (MLflow params, spreadsheet cells) as the value Cairn
/// stores: a number when the text reads back exactly the same (`0.01`, `64`), else the
/// text itself (`1e-3`, `0.010`, `True` stay text, so nothing is lost either way).
pub fn value_from_text(text: &str) -> Value {
    if let Ok(i) = text.parse::<i64>()
        && i.to_string() == text
    {
        return Value::from(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
        && n.to_string() == text
    {
        return Value::Number(n);
    }
    Value::String(text.to_owned())
}

/// A config's leaves: nested maps flattened into dot-joined keys, each with its value.
/// The one rule every view of a config follows (what `show` prints, what search
/// indexes, what `diff`, `tried` and the analyses compare): lists stay whole, and an
/// empty map is a leaf of its own (`{}`), so a key that is shown can be searched.
pub fn leaves(config: &Config) -> std::collections::BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut std::collections::BTreeMap<String, Value>) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            _ => {
                out.insert(prefix.to_owned(), v.clone());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in config {
        walk(k, v, &mut out);
    }
    out
}

/// The config's leaves as search sees them (see [`leaves`]).
pub fn flatten_config(config: &Config) -> Vec<(String, ParamValue)> {
    leaves(config)
        .into_iter()
        .map(|(k, v)| {
            let p = match &v {
                Value::Number(n) => ParamValue::Number(n.as_f64().unwrap_or(f64::NAN)),
                Value::Bool(b) => ParamValue::Bool(*b),
                Value::String(s) => ParamValue::Text(s.clone()),
                Value::Array(_) | Value::Object(_) => ParamValue::List(v.to_string()),
                Value::Null => ParamValue::Null,
            };
            (k, p)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_nested_maps() {
        let cfg = json!({"lr": 0.01, "optimizer": {"name": "adam", "betas": [0.9, 0.99]}, "aug": true, "epochs": 3});
        let flat = flatten_config(cfg.as_object().unwrap());
        assert!(flat.contains(&("lr".into(), ParamValue::Number(0.01))));
        assert!(flat.contains(&("epochs".into(), ParamValue::Number(3.0))));
        assert!(flat.contains(&("aug".into(), ParamValue::Bool(true))));
        assert!(flat.contains(&("optimizer.name".into(), ParamValue::Text("adam".into()))));
        assert!(flat.contains(&("optimizer.betas".into(), ParamValue::List("[0.9,0.99]".into()))));
    }

    #[test]
    fn every_view_sees_the_same_leaves_empty_maps_included() {
        let cfg = json!({"sched": {}, "opt": {"name": "sgd", "extra": {}}});
        let cfg = cfg.as_object().unwrap();
        let keys: Vec<String> = flatten_config(cfg).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["opt.extra", "opt.name", "sched"]);
        assert_eq!(leaves(cfg).keys().cloned().collect::<Vec<_>>(), keys);
        assert!(flatten_config(cfg).contains(&("sched".into(), ParamValue::List("{}".into()))));
        assert_eq!(crate::compare::flat_params(cfg), leaves(cfg), "diff, tried and the analyses use the same rule");
    }
}
