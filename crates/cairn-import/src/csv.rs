//! Spreadsheets of past experiments: one row per run. Columns map to run fields
//! (`name`, `owner`, `created`, `hypothesis`, `description`, `status`), to
//! `params.KEY`, `metrics.KEY`, `tags.KEY`, or to `skip` — given with `--map`, or
//! guessed from the headers and values. Every row is checked before anything is
//! written; rows that do not parse are reported with their line numbers.

use crate::{ImportError, Point, Result, Source, SourceProject, SourceRun};
use cairn_domain::RunStatus;
use std::collections::BTreeMap;
use std::path::Path;

/// Where one column goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name,
    Owner,
    Created,
    Hypothesis,
    Description,
    Status,
    Param(String),
    Metric(String),
    Tag(String),
    Skip,
}

impl Target {
    pub fn parse(s: &str) -> Result<Target> {
        let s = s.trim();
        Ok(match s {
            "name" => Target::Name,
            "owner" => Target::Owner,
            "created" => Target::Created,
            "hypothesis" => Target::Hypothesis,
            "description" => Target::Description,
            "status" => Target::Status,
            "skip" => Target::Skip,
            _ => match s.split_once('.') {
                Some(("params" | "param", k)) if !k.is_empty() => Target::Param(k.to_owned()),
                Some(("metrics" | "metric", k)) if !k.is_empty() => Target::Metric(k.to_owned()),
                Some(("tags" | "tag", k)) if !k.is_empty() => Target::Tag(k.to_owned()),
                _ => {
                    return Err(ImportError::Invalid(format!(
                        "'{s}' is not a target: use name, owner, created, hypothesis, description, status, skip, \
                         params.KEY, metrics.KEY or tags.KEY"
                    )));
                }
            },
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Name => f.write_str("name"),
            Target::Owner => f.write_str("owner"),
            Target::Created => f.write_str("created"),
            Target::Hypothesis => f.write_str("hypothesis"),
            Target::Description => f.write_str("description"),
            Target::Status => f.write_str("status"),
            Target::Skip => f.write_str("skip"),
            Target::Param(k) => write!(f, "params.{k}"),
            Target::Metric(k) => write!(f, "metrics.{k}"),
            Target::Tag(k) => write!(f, "tags.{k}"),
        }
    }
}

/// `--map "learning rate=params.lr,Val Acc=metrics.val_acc"` → column → target.
pub fn parse_map(text: &str) -> Result<BTreeMap<String, Target>> {
    let mut out = BTreeMap::new();
    for part in text.split(',').filter(|p| !p.trim().is_empty()) {
        let (col, target) = part
            .rsplit_once('=')
            .ok_or_else(|| ImportError::Invalid(format!("'{part}' in --map is not COLUMN=TARGET")))?;
        out.insert(col.trim().to_owned(), Target::parse(target)?);
    }
    Ok(out)
}

/// A key from a header: lower case, spaces and punctuation as underscores.
fn slug(header: &str) -> String {
    let mut s: String = header
        .trim()
        .chars()
        .map(|c| if c.is_alphanumeric() || c == '.' || c == '/' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    while s.contains("__") {
        s = s.replace("__", "_");
    }
    s.trim_matches('_').replace('/', "_")
}

/// The guess for a column nobody mapped, from its header and its values.
fn guess(header: &str, values: &[&str]) -> Target {
    // Mostly numbers (or dates) means a column of numbers (or dates) with a few bad
    // cells, which are then reported rather than silently imported as text.
    let share = |ok: &dyn Fn(&str) -> bool| {
        let filled: Vec<&&str> = values.iter().filter(|v| !v.is_empty()).collect();
        if filled.is_empty() { 0.0 } else { filled.iter().filter(|v| ok(v)).count() as f64 / filled.len() as f64 }
    };
    let h = header.trim().to_lowercase();
    let words: Vec<&str> = h.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
    let has = |w: &[&str]| words.iter().any(|x| w.contains(x));
    if has(&["who", "owner", "user", "author", "by", "engineer"]) {
        return Target::Owner;
    }
    if has(&["date", "created", "when", "time", "day"]) && share(&|v| parse_time(v).is_some()) >= 0.5 {
        return Target::Created;
    }
    if has(&["hypothesis", "idea", "expectation"]) {
        return Target::Hypothesis;
    }
    if has(&["notes", "note", "description", "comment", "comments"]) {
        return Target::Description;
    }
    if has(&["status", "outcome", "state"]) && values.iter().all(|v| v.is_empty() || parse_status(v).is_some()) {
        return Target::Status;
    }
    if has(&["name", "run", "experiment", "id"]) && !values.iter().all(|v| v.parse::<f64>().is_ok()) {
        return Target::Name;
    }
    let numeric = share(&|v| number(v).is_some()) >= 0.5;
    let metric_words = [
        "acc",
        "accuracy",
        "loss",
        "f1",
        "auc",
        "score",
        "metric",
        "val",
        "test",
        "error",
        "precision",
        "recall",
        "map",
        "iou",
        "bleu",
        "rmse",
        "mae",
        "mse",
        "perplexity",
    ];
    if numeric && has(&metric_words) {
        return Target::Metric(slug(header));
    }
    Target::Param(slug(header))
}

fn number(v: &str) -> Option<f64> {
    let t = v.trim().trim_end_matches('%');
    let n: f64 = t.replace(',', "").parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    Some(if v.trim().ends_with('%') { n / 100.0 } else { n })
}

fn parse_status(v: &str) -> Option<RunStatus> {
    match v.trim().to_lowercase().as_str() {
        "finished" | "done" | "ok" | "success" | "succeeded" | "complete" | "completed" => Some(RunStatus::Finished),
        "failed" | "fail" | "error" | "crashed" => Some(RunStatus::Failed),
        "killed" | "stopped" | "cancelled" | "canceled" => Some(RunStatus::Killed),
        "running" => Some(RunStatus::Running),
        _ => None,
    }
}

/// Dates as spreadsheets hold them: ISO (with or without time), `2024/03/01`, `01.03.2024`.
fn parse_time(v: &str) -> Option<i64> {
    use chrono::{NaiveDate, NaiveDateTime};
    let v = v.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    for f in ["%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%d %b %Y", "%b %d %Y", "%b %d, %Y"] {
        if let Ok(d) = NaiveDate::parse_from_str(v, f) {
            return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
        }
    }
    None
}

/// The type a column's values are stored as: decided once for the whole column, never
/// cell by cell, so a column of numbers filters with `<` and is analysed as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every filled cell is a whole number.
    Integer,
    /// Every filled cell is a number (`0.1910`, `1e-3`).
    Number,
    /// Every filled cell is true or false.
    Bool,
    Text,
    Time,
    Status,
    /// The column is not imported.
    None,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::Bool => "true/false",
            Kind::Text => "text",
            Kind::Time => "time",
            Kind::Status => "status",
            Kind::None => "-",
        })
    }
}

/// A param column's type, from all its filled cells.
fn param_kind(values: &[&str]) -> Kind {
    let filled: Vec<&str> = values.iter().copied().filter(|v| !v.is_empty()).collect();
    if filled.is_empty() {
        return Kind::Text;
    }
    let whole = |v: &str| v.parse::<i64>().is_ok() && !v.starts_with('+');
    let real = |v: &str| v.parse::<f64>().is_ok_and(f64::is_finite) && !v.starts_with('+');
    if filled.iter().all(|v| whole(v)) {
        Kind::Integer
    } else if filled.iter().all(|v| real(v)) {
        Kind::Number
    } else if filled.iter().all(|v| v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false")) {
        Kind::Bool
    } else {
        Kind::Text
    }
}

/// A cell of a param column, as its column's type.
fn param_value(kind: Kind, cell: &str) -> serde_json::Value {
    match kind {
        Kind::Integer => cell.parse::<i64>().map(serde_json::Value::from).unwrap_or_else(|_| cell.into()),
        Kind::Number => cell.parse::<f64>().map(serde_json::Value::from).unwrap_or_else(|_| cell.into()),
        Kind::Bool => serde_json::Value::Bool(cell.eq_ignore_ascii_case("true")),
        _ => serde_json::Value::String(cell.to_owned()),
    }
}

/// The plan for a file: each column's target and type, and the rows as runs.
#[derive(Debug)]
pub struct Plan {
    /// (column header, target, whether it was guessed)
    pub columns: Vec<(String, Target, bool)>,
    /// Each column's type, in the order of `columns`.
    pub kinds: Vec<Kind>,
    pub source: Source,
}

/// A row that does not parse: its line in the file and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRow {
    pub line: u64,
    pub problem: String,
}

/// Reads `path` into runs of `project`. `Err(Err(bad rows))`-style: the second result
/// lists every row that does not parse (then nothing should be imported).
pub fn read(
    path: &Path,
    project: &str,
    map: &BTreeMap<String, Target>,
) -> Result<std::result::Result<Plan, Vec<BadRow>>> {
    let bytes = std::fs::read(path).map_err(|source| ImportError::Io { path: path.to_owned(), source })?;
    let mut reader = ::csv::ReaderBuilder::new().flexible(false).trim(::csv::Trim::All).from_reader(bytes.as_slice());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ImportError::Source(format!("{}: cannot read the header row: {e}", path.display())))?
        .iter()
        .map(str::to_owned)
        .collect();
    for col in map.keys() {
        if !headers.contains(col) {
            return Err(ImportError::Invalid(format!(
                "--map names the column '{col}', which {} does not have; its columns are: {}",
                path.display(),
                headers.join(", ")
            )));
        }
    }
    let mut rows = Vec::new();
    let mut bad = Vec::new();
    for rec in reader.records() {
        match rec {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line());
                rows.push((line, r.iter().map(str::to_owned).collect::<Vec<_>>()));
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                bad.push(BadRow { line, problem: e.to_string() });
            }
        }
    }
    let columns: Vec<(String, Target, bool)> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| match map.get(h) {
            Some(t) => (h.clone(), t.clone(), false),
            None => {
                let values: Vec<&str> = rows.iter().map(|(_, r)| r[i].as_str()).collect();
                (h.clone(), guess(h, &values), true)
            }
        })
        .collect();
    let kinds: Vec<Kind> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, target, _))| match target {
            Target::Param(_) => param_kind(&rows.iter().map(|(_, r)| r[i].as_str()).collect::<Vec<_>>()),
            Target::Metric(_) => Kind::Number,
            Target::Created => Kind::Time,
            Target::Status => Kind::Status,
            Target::Skip => Kind::None,
            _ => Kind::Text,
        })
        .collect();
    let mut runs = Vec::new();
    for (line, row) in &rows {
        let mut run =
            SourceRun { project: project.to_owned(), status: Some(RunStatus::Finished), ..Default::default() };
        let mut problems = Vec::new();
        for (((header, target, _), cell), kind) in columns.iter().zip(row).zip(&kinds) {
            if cell.is_empty() {
                continue;
            }
            match target {
                Target::Skip => {}
                Target::Name => run.name = Some(cell.clone()),
                Target::Owner => run.owner = Some(cell.clone()),
                Target::Hypothesis => run.hypothesis = Some(cell.clone()),
                Target::Description => run.description = cell.clone(),
                Target::Created => match parse_time(cell) {
                    Some(t) => run.created_at = Some(t),
                    None => problems.push(format!("column '{header}': '{cell}' is not a date")),
                },
                Target::Status => match parse_status(cell) {
                    Some(s) => run.status = Some(s),
                    None => {
                        problems.push(format!("column '{header}': '{cell}' is not a status (finished, failed, killed)"))
                    }
                },
                Target::Param(k) => {
                    run.params.insert(k.clone(), param_value(*kind, cell));
                }
                Target::Tag(k) => {
                    run.tags.insert(k.clone(), cell.clone());
                }
                Target::Metric(k) => match number(cell) {
                    Some(v) => {
                        let ts = run.created_at.unwrap_or(0);
                        run.metrics.insert(k.clone(), vec![Point { step: 0, value: v, timestamp: ts }]);
                    }
                    None => problems.push(format!("column '{header}': '{cell}' is not a number")),
                },
            }
        }
        if problems.is_empty() {
            // A metric's time is the run's, once known.
            let ts = run.created_at.unwrap_or(0);
            for points in run.metrics.values_mut() {
                for p in points {
                    p.timestamp = ts;
                }
            }
            // The row is the run's identity: the same row imports as the same run. Its
            // time leads the id (as in a UUIDv7), so a sheet's runs go into the store's
            // indexes in order rather than at random places, which is several times faster.
            let identity = format!("{project}\u{1f}{}", row.join("\u{1f}"));
            let hash = blake3::hash(identity.as_bytes());
            let earlier = crate::stable_id(&identity);
            run.id = match run.created_at.and_then(|t| u64::try_from(t).ok()) {
                Some(t) => {
                    run.earlier_id = Some(earlier);
                    uuid::Builder::from_unix_timestamp_millis(t, hash.as_bytes()[..10].try_into().expect("10 bytes"))
                        .into_uuid()
                }
                None => earlier,
            };
            runs.push(run);
        } else {
            bad.push(BadRow { line: *line, problem: problems.join("; ") });
        }
    }
    if !bad.is_empty() {
        bad.sort_by_key(|b| b.line);
        return Ok(Err(bad));
    }
    let source = Source {
        projects: vec![SourceProject { name: project.to_owned(), ..Default::default() }],
        runs,
        models: vec![],
    };
    Ok(Ok(Plan { columns, kinds, source }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_guessed_from_headers_and_values() {
        assert_eq!(guess("Val Acc", &["0.91", "88%"]), Target::Metric("val_acc".into()));
        assert_eq!(guess("learning rate", &["0.01", "0.1"]), Target::Param("learning_rate".into()));
        assert_eq!(guess("Who", &["ana"]), Target::Owner);
        assert_eq!(guess("Date", &["2024-03-01", ""]), Target::Created);
        assert_eq!(guess("Notes", &["tried mixup"]), Target::Description);
        assert_eq!(guess("Experiment", &["baseline"]), Target::Name);
        assert_eq!(guess("augmentation", &["mixup"]), Target::Param("augmentation".into()));
        assert_eq!(number("88%"), Some(0.88));
        assert_eq!(parse_time("01.03.2024"), parse_time("2024-03-01"));
    }

    #[test]
    fn maps_parse_and_bad_targets_are_named() {
        let m = parse_map("learning rate=params.lr,Val Acc=metrics.val_acc,Who=owner,Date=created").unwrap();
        assert_eq!(m["learning rate"], Target::Param("lr".into()));
        assert_eq!(m["Date"], Target::Created);
        assert!(parse_map("x=foo").unwrap_err().to_string().contains("'foo' is not a target"));
    }

    #[test]
    fn param_columns_have_one_type() {
        assert_eq!(param_kind(&["0.1910", "1e-3", "", "2"]), Kind::Number);
        assert_eq!(param_kind(&["32", "64", ""]), Kind::Integer);
        assert_eq!(param_kind(&["32", "64", "auto"]), Kind::Text, "one word makes the column text");
        assert_eq!(param_kind(&["True", "false"]), Kind::Bool);
        assert_eq!(param_kind(&["", ""]), Kind::Text);
        assert_eq!(param_kind(&["inf", "1"]), Kind::Text, "not a finite number");
        assert_eq!(param_value(Kind::Number, "0.1910"), serde_json::json!(0.191));
        assert_eq!(param_value(Kind::Number, "2"), serde_json::json!(2.0));
        assert_eq!(param_value(Kind::Integer, "64"), serde_json::json!(64));
        assert_eq!(param_value(Kind::Text, "64"), serde_json::json!("64"));
        assert_eq!(param_value(Kind::Bool, "True"), serde_json::json!(true));
    }

    #[test]
    fn every_bad_row_is_reported_and_good_files_become_runs() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runs.csv");
        std::fs::write(
            &file,
            "Name,lr,Val Acc,Date\nbase,0.01,0.9,2024-03-01\nmix,0.1,n/a,2024-03-02\nx,0.2,0.8,someday\n",
        )
        .unwrap();
        let bad = read(&file, "p", &BTreeMap::new()).unwrap().unwrap_err();
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![3, 4]);
        assert!(bad[0].problem.contains("'n/a' is not a number"), "{bad:?}");
        std::fs::write(&file, "Name,lr,Val Acc,Date\nbase,0.01,0.9,2024-03-01\nmix,1e-3,91%,2024-03-02\n").unwrap();
        let plan = read(&file, "p", &BTreeMap::new()).unwrap().unwrap();
        let runs = &plan.source.runs;
        assert_eq!(runs.len(), 2);
        // The column is numbers, so every cell is one, whatever its spelling.
        assert_eq!(runs[1].params["lr"], serde_json::json!(0.001));
        assert_eq!(plan.kinds, [Kind::Text, Kind::Number, Kind::Number, Kind::Time]);
        assert_eq!(runs[1].metrics["val_acc"][0].value, 0.91);
        let again = read(&file, "p", &BTreeMap::new()).unwrap().unwrap();
        assert_eq!(again.source.runs[0].id, runs[0].id, "the same row is the same run");
    }
}
