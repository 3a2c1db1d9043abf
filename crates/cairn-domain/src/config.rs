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

/// Text given for a parameter — a command-line argument, an MLflow param, a spreadsheet
/// cell, an mlruns file — as the value Cairn stores. The one rule for text, wherever it
/// arrives, and lossless: a number when the number reads back as exactly this text
/// (`0.01`, `64`, `-3`), a boolean for `true` and `false`, else the text itself (`1e-3`,
/// `0.010`, `1.10`, `True` stay as written). What such text *means* when runs are
/// compared is [`meaning`]'s, so `1e-3` still sorts, groups and searches as 0.001.
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
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(text.to_owned()),
    }
}

/// What a stored value means when runs are compared, searched, grouped or fingerprinted:
/// text that reads as a number is that number (an integer when it reads as one: `+5`,
/// `007`; else a float: `1e-3`, `0.010`), `true`/`false` in any case are booleans, and
/// everything else is itself. `meaning(value_from_text(t))` is `meaning(t)` for any text.
pub fn meaning(value: &Value) -> Value {
    let Value::String(text) = value else { return value.clone() };
    if let Ok(i) = text.parse::<i64>() {
        return Value::from(i);
    }
    if let Ok(f) = text.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    if text.eq_ignore_ascii_case("true") {
        Value::Bool(true)
    } else if text.eq_ignore_ascii_case("false") {
        Value::Bool(false)
    } else {
        value.clone()
    }
}

impl ParamValue {
    /// A leaf value as a search value (no reading of text: see [`meaning`]).
    pub fn of(v: &Value) -> ParamValue {
        match v {
            Value::Number(n) => ParamValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Value::Bool(b) => ParamValue::Bool(*b),
            Value::String(s) => ParamValue::Text(s.clone()),
            Value::Array(_) | Value::Object(_) => ParamValue::List(v.to_string()),
            Value::Null => ParamValue::Null,
        }
    }
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

/// The config's leaves as written (see [`leaves`]), for display.
pub fn flatten_config(config: &Config) -> Vec<(String, ParamValue)> {
    leaves(config).into_iter().map(|(k, v)| (k, ParamValue::of(&v))).collect()
}

fn insert_dotted(map: &mut Config, key: &str, value: Value) {
    // As argparse does: `--batch-size` is the script's `batch_size`.
    let key = key.replace('-', "_");
    let key = key.as_str();
    match key.split_once('.') {
        Some((head, rest)) if !head.is_empty() && !rest.is_empty() => {
            let entry = map.entry(head.to_owned()).or_insert_with(|| Value::Object(Config::new()));
            if !entry.is_object() {
                *entry = Value::Object(Config::new());
            }
            insert_dotted(entry.as_object_mut().expect("just made an object"), rest, value);
        }
        _ => {
            map.insert(key.to_owned(), value);
        }
    }
}

/// The command's own `--key value` / `--key=value` / `--flag` arguments, read by the
/// one text rule (`cairn_domain::value_from_text`: `64` a number, `1e-3` kept as
/// written and compared as 0.001) and nested on dots (`--optim.lr 0.1` → `{"optim": {"lr": 0.1}}`), with dashes in names
/// read as underscores (`--batch-size` → `batch_size`, as argparse names it).
pub fn config_from_flags(args: &[String]) -> Config {
    let mut out = Config::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        let Some(flag) = a.strip_prefix("--").filter(|f| !f.is_empty()) else { continue };
        if let Some((k, v)) = flag.split_once('=') {
            insert_dotted(&mut out, k, value_from_text(v));
        } else if i < args.len()
            && !(args[i].starts_with("--")
                || args[i].starts_with('-') && !meaning(&Value::String(args[i].clone())).is_number())
        {
            insert_dotted(&mut out, flag, value_from_text(&args[i]));
            i += 1;
        } else {
            insert_dotted(&mut out, flag, Value::Bool(true));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    fn flags(args: &[&str]) -> Value {
        Value::Object(config_from_flags(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()))
    }

    #[test]
    fn command_flags_become_typed_config() {
        assert_eq!(
            flags(&[
                "train.py",
                "--lr",
                "0.01",
                "--aug=mixup",
                "--epochs",
                "3",
                "--amp",
                "--optim.beta",
                "-0.5",
                "--dry",
                "--batch-size",
                "64"
            ]),
            json!({"lr": 0.01, "aug": "mixup", "epochs": 3, "amp": true, "optim": {"beta": -0.5}, "dry": true,
                   "batch_size": 64})
        );
        assert_eq!(flags(&["x", "--flag", "--other=false", "pos"]), json!({"flag": true, "other": false}));
        // Kept as written (nothing lost: `1.10` is not `1.1`), compared as what it means.
        assert_eq!(
            flags(&["x", "--lr", "1e-3", "--version", "1.10", "--amp", "True", "--shift", "-1e-2"]),
            json!({"lr": "1e-3", "version": "1.10", "amp": "True", "shift": "-1e-2"})
        );
    }

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
        assert_eq!(
            crate::compare::flat_params(cfg).keys().collect::<Vec<_>>(),
            leaves(cfg).keys().collect::<Vec<_>>(),
            "diff, tried and the analyses use the same rule"
        );
    }

    #[test]
    fn text_is_stored_as_written_and_compared_as_what_it_means() {
        // Stored: a number or boolean only when it gives back the very same text.
        assert_eq!(value_from_text("0.01"), json!(0.01));
        assert_eq!(value_from_text("64"), json!(64));
        assert_eq!(value_from_text("-3"), json!(-3));
        assert_eq!(value_from_text("true"), json!(true));
        for kept in ["1e-3", "0.010", "1.10", "007", "+5", "True", "1e-05", "-0", "adam", "", "NaN", "inf"] {
            assert_eq!(value_from_text(kept), json!(kept), "{kept} stays text");
        }
        // Meant: numbers and booleans however they are spelled.
        assert_eq!(meaning(&json!("1e-3")), json!(0.001));
        assert_eq!(meaning(&json!("1e-05")), json!(1e-5));
        assert_eq!(meaning(&json!("0.010")), json!(0.01));
        assert_eq!(meaning(&json!("+5")), json!(5));
        assert_eq!(meaning(&json!("007")), json!(7));
        assert_eq!(meaning(&json!("True")), json!(true));
        assert_eq!(meaning(&json!("FALSE")), json!(false));
        for same in ["adam", "inf", "NaN", "", "1_000", " 5", "0x10"] {
            assert_eq!(meaning(&json!(same)), json!(same), "{same:?} means itself");
        }
        assert_eq!(meaning(&json!([1, "2"])), json!([1, "2"]), "lists compare whole");
        // One rule: what text is stored as means what the text means.
        for t in
            ["0.01", "64", "-3", "1e-3", "0.010", "True", "true", "+5", "-0", "adam", "1e400", "9223372036854775808"]
        {
            assert_eq!(meaning(&value_from_text(t)), meaning(&json!(t)), "{t}");
        }
    }
}
