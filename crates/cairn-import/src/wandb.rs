//! W&B run folders (`cairn import wandb DIR`), as `wandb` writes them offline
//! (`wandb/offline-run-*/run-<id>.wandb`) or as they are exported (`config.yaml`,
//! `wandb-summary.json`, `wandb-history.jsonl`). The history comes from
//! `wandb-history.jsonl` where there is one, else from the transaction log: a
//! LevelDB-style log (32 KiB blocks of CRC-checked records, each a `Record` proto).
//! Logged numbers become metrics (each point with its `_step` and `_timestamp`), the
//! config becomes config, summary values never logged as history become one-point
//! metrics. A folder that fails is listed and left out whole.

use crate::{ImportError, Point, Result, Source, SourceProject, SourceRun};
use cairn_domain::{MetricKey, RunStatus};
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[allow(clippy::all, missing_docs)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/wandb.rs"));
}

/// What a folder of W&B runs holds.
#[derive(Debug, Default)]
pub struct Read {
    pub source: Source,
    /// Run folders that could not be read, each with why; they are left out.
    pub bad_files: Vec<String>,
    /// What was read but not imported (media, tables; a log cut short by a live run).
    pub notes: Vec<String>,
}

const BLOCK: usize = 32 * 1024;
const HEADER: &[u8] = b":W&B";

/// The records of a transaction log; `true` when its end is cut short (the run is
/// still writing it).
fn log_records(bytes: &[u8]) -> std::result::Result<(Vec<Vec<u8>>, bool), String> {
    const IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    if bytes.len() < 7 || &bytes[..4] != HEADER || bytes[4..6] != [0xe1, 0xbe] {
        return Err("it is not a W&B transaction log (no ':W&B' header)".into());
    }
    let mut out = Vec::new();
    let mut pending: Option<Vec<u8>> = None;
    let mut at = 7usize;
    while at < bytes.len() {
        let left_in_block = BLOCK - at % BLOCK;
        if left_in_block < 7 {
            at += left_in_block;
            continue;
        }
        if bytes.len() - at < 7 {
            return Ok((out, true));
        }
        let crc = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        let len = usize::from(u16::from_le_bytes([bytes[at + 4], bytes[at + 5]]));
        let kind = bytes[at + 6];
        if kind == 0 && len == 0 {
            // The rest of the block is padding (or space not yet written).
            at += left_in_block;
            continue;
        }
        let start = at + 7;
        if start + len > bytes.len() {
            return Ok((out, true));
        }
        let data = &bytes[start..start + len];
        let mut digest = IEEE.digest();
        digest.update(&[kind]);
        digest.update(data);
        if digest.finalize() != crc {
            return Err(format!("the record at byte {at} fails its checksum"));
        }
        match kind {
            1 => out.push(data.to_vec()),
            2 => pending = Some(data.to_vec()),
            3 | 4 => {
                let Some(p) = pending.as_mut() else {
                    return Err(format!("the record at byte {at} continues a record that never began"));
                };
                p.extend_from_slice(data);
                if kind == 4 {
                    out.push(pending.take().expect("pending"));
                }
            }
            k => return Err(format!("the record at byte {at} has an unknown kind {k}")),
        }
        at = start + len;
    }
    Ok((out, pending.is_some()))
}

/// An item's key: its key, or its path of keys joined with dots.
fn item_key(i: &pb::Item) -> String {
    if i.key.is_empty() { i.nested_key.join(".") } else { i.key.clone() }
}

/// A logged value as a number, when it is one (W&B writes NaN and infinities bare).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn parse_json(text: &str) -> Value {
    match text.trim() {
        "NaN" => Value::String("NaN".into()),
        "Infinity" => Value::String("Infinity".into()),
        "-Infinity" => Value::String("-Infinity".into()),
        t => serde_json::from_str(t).unwrap_or_else(|_| Value::String(t.to_owned())),
    }
}

fn json_number(v: &Value) -> Option<f64> {
    number(v).or_else(|| match v.as_str()? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    })
}

/// Sets `path` (dotted, from nested keys) in a config object.
fn set_path(config: &mut serde_json::Map<String, Value>, path: &[String], value: Value) {
    match path {
        [] => {}
        [last] => {
            config.insert(last.clone(), value);
        }
        [head, rest @ ..] => {
            let slot = config.entry(head.clone()).or_insert_with(|| Value::Object(Default::default()));
            if !slot.is_object() {
                *slot = Value::Object(Default::default());
            }
            if let Value::Object(m) = slot {
                set_path(m, rest, value);
            }
        }
    }
}

fn remove_path(config: &mut serde_json::Map<String, Value>, path: &[String]) {
    match path {
        [] => {}
        [last] => {
            config.remove(last);
        }
        [head, rest @ ..] => {
            if let Some(Value::Object(m)) = config.get_mut(head) {
                remove_path(m, rest);
            }
        }
    }
}

fn item_path(i: &pb::Item) -> Vec<String> {
    if i.key.is_empty() { i.nested_key.clone() } else { vec![i.key.clone()] }
}

/// One run as read, before it becomes a [`SourceRun`].
#[derive(Default)]
struct WandbRun {
    run_id: String,
    entity: String,
    project: String,
    name: String,
    notes: String,
    group: String,
    job_type: String,
    tags: Vec<String>,
    commit: Option<String>,
    start: Option<i64>,
    exit: Option<i32>,
    config: serde_json::Map<String, Value>,
    summary: BTreeMap<String, Value>,
    metrics: BTreeMap<String, Vec<Point>>,
    last_step: i64,
    last_time: Option<i64>,
    skipped: BTreeMap<String, usize>,
}

impl WandbRun {
    /// One history row (a `wandb.log` call).
    fn row(&mut self, items: Vec<(String, Value)>, fallback_step: i64) -> std::result::Result<(), String> {
        let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let step = get("_step").and_then(Value::as_i64).unwrap_or(fallback_step);
        let time = get("_timestamp").and_then(number).map(|t| (t * 1000.0).round() as i64);
        let at = time.or(self.last_time).or(self.start).unwrap_or(0);
        self.last_step = self.last_step.max(step);
        self.last_time = Some(self.last_time.map_or(at, |l| l.max(at)));
        for (key, value) in items {
            if key.starts_with('_') {
                continue;
            }
            match json_number(&value) {
                Some(v) => {
                    MetricKey::parse(key.clone())
                        .map_err(|e| format!("the key '{key}' cannot be a metric key: {e}"))?;
                    self.metrics.entry(key).or_default().push(Point { step, value: v, timestamp: at });
                }
                None => *self.skipped.entry(key).or_default() += 1,
            }
        }
        Ok(())
    }

    fn from_log(bytes: &[u8], notes: &mut Vec<String>, file: &Path) -> std::result::Result<WandbRun, String> {
        let (records, cut) = log_records(bytes)?;
        if cut {
            notes.push(format!("{}: its end is cut short (the run still writing?); read up to it", file.display()));
        }
        let mut run = WandbRun::default();
        let mut rows = 0i64;
        for (i, data) in records.iter().enumerate() {
            let r =
                pb::Record::decode(data.as_slice()).map_err(|e| format!("record {} does not decode: {e}", i + 1))?;
            match r.record_type {
                Some(pb::record::RecordType::Run(info)) => {
                    run.run_id = info.run_id;
                    run.entity = info.entity;
                    run.project = info.project;
                    run.name = info.display_name;
                    run.notes = info.notes;
                    run.group = info.run_group;
                    run.job_type = info.job_type;
                    run.tags = info.tags;
                    run.commit = info.git.map(|g| g.commit).filter(|c| !c.is_empty());
                    run.start = info
                        .start_time
                        .map(|t| t.seconds.saturating_mul(1000).saturating_add(i64::from(t.nanos) / 1_000_000));
                    if let Some(c) = info.config {
                        run.apply_config(&c);
                    }
                }
                Some(pb::record::RecordType::Config(c)) => run.apply_config(&c),
                Some(pb::record::RecordType::History(h)) => {
                    let items = h.item.iter().map(|i| (item_key(i), parse_json(&i.value_json))).collect();
                    let fallback = h.step.map_or(rows, |s| s.num);
                    run.row(items, fallback)?;
                    rows += 1;
                }
                Some(pb::record::RecordType::Summary(s)) => {
                    for i in &s.update {
                        run.summary.insert(item_key(i), parse_json(&i.value_json));
                    }
                    for i in &s.remove {
                        run.summary.remove(&item_key(i));
                    }
                }
                Some(pb::record::RecordType::Exit(e)) => run.exit = Some(e.exit_code),
                None => {}
            }
        }
        if run.run_id.is_empty() {
            return Err("the log names no run (no run record)".into());
        }
        Ok(run)
    }

    fn apply_config(&mut self, c: &pb::ConfigRecord) {
        for i in &c.update {
            set_path(&mut self.config, &item_path(i), parse_json(&i.value_json));
        }
        for i in &c.remove {
            remove_path(&mut self.config, &item_path(i));
        }
    }
}

/// A run folder as exported or synced: `config.yaml`, `wandb-summary.json`,
/// `wandb-history.jsonl` and `wandb-metadata.json` (in the folder or its `files/`).
fn from_files(dir: &Path, files: &Path) -> std::result::Result<WandbRun, String> {
    let read = |name: &str| std::fs::read_to_string(files.join(name)).ok();
    let mut run = WandbRun::default();
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // `run-20240101_120000-abc123` / `offline-run-…-abc123`: the id is the last part.
    run.run_id = folder.rsplit('-').next().unwrap_or(&folder).to_owned();
    if let Some(text) = read("config.yaml") {
        let yaml: Value = serde_norway::from_str(&text).map_err(|e| format!("config.yaml does not parse: {e}"))?;
        for (k, v) in yaml.as_object().into_iter().flatten() {
            // Each entry is {desc, value}; older files hold the value itself.
            let value = v.get("value").cloned().unwrap_or_else(|| v.clone());
            run.config.insert(k.clone(), value);
        }
    }
    if let Some(text) = read("wandb-metadata.json") {
        let meta: Value =
            serde_json::from_str(&text).map_err(|e| format!("wandb-metadata.json does not parse: {e}"))?;
        run.start = meta["startedAt"]
            .as_str()
            .and_then(|t| {
                chrono::DateTime::parse_from_rfc3339(t).ok().or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
                        .ok()
                        .map(|n| n.and_utc().fixed_offset())
                })
            })
            .map(|t| t.timestamp_millis());
        run.commit = meta["git"]["commit"].as_str().map(str::to_owned);
    }
    if let Some(text) = read("wandb-history.jsonl") {
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let row: Value = serde_json::from_str(line)
                .or_else(|_| serde_json::from_str(&quote_bare_numbers(line)))
                .map_err(|e| format!("wandb-history.jsonl line {}: {e}", n + 1))?;
            let items = row.as_object().into_iter().flatten().map(|(k, v)| (k.clone(), v.clone())).collect();
            run.row(items, n as i64)?;
        }
    }
    if let Some(text) = read("wandb-summary.json") {
        let summary: Value =
            serde_json::from_str(&text).map_err(|e| format!("wandb-summary.json does not parse: {e}"))?;
        for (k, v) in summary.as_object().into_iter().flatten() {
            run.summary.insert(k.clone(), v.clone());
        }
        run.exit = Some(0);
    }
    Ok(run)
}

/// Python's JSON writes NaN and infinities bare; they become strings (outside strings
/// only) so the line parses, and read back as those numbers.
fn quote_bare_numbers(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if let Some(word) = ["-Infinity", "Infinity", "NaN"].iter().find(|w| rest.starts_with(**w)) {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Run folders under `dir`: those holding a transaction log, or an exported history.
fn run_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|source| ImportError::Io { path: d.clone(), source })?;
        let mut is_run = false;
        for e in entries {
            let e = e.map_err(|source| ImportError::Io { path: d.clone(), source })?;
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().map_err(|source| ImportError::Io { path: e.path(), source })?;
            if ft.is_file()
                && (name.ends_with(".wandb") || name == "wandb-history.jsonl" || name == "wandb-summary.json")
            {
                is_run = true;
            } else if ft.is_dir() && name != "files" && name != "logs" && name != "tmp" && name != "latest-run" {
                stack.push(e.path());
            }
        }
        let exported = ["wandb-summary.json", "wandb-history.jsonl"].iter().any(|f| d.join("files").join(f).is_file());
        if is_run || exported {
            out.push(d);
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Reads the W&B runs under `dir`; `project` names the project they go to, else each
/// run's W&B project.
pub fn read(dir: &Path, project: Option<&str>) -> Result<Read> {
    if !dir.is_dir() {
        return Err(ImportError::Invalid(format!("{} is not a folder of W&B runs", dir.display())));
    }
    let folders = run_folders(dir)?;
    if folders.is_empty() {
        return Err(ImportError::Invalid(format!(
            "{} holds no W&B runs (folders with run-<id>.wandb, or wandb-history.jsonl / wandb-summary.json)",
            dir.display()
        )));
    }
    let mut out = Read::default();
    let mut projects = std::collections::BTreeSet::new();
    for folder in folders {
        let files = if folder.join("files").is_dir() { folder.join("files") } else { folder.clone() };
        // Online runs keep config.yaml and a summary beside their log too: only an
        // exported history makes the files the source.
        let exported = files.join("wandb-history.jsonl").is_file();
        let log = std::fs::read_dir(&folder)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "wandb"));
        let result = match (&log, exported) {
            (_, true) => from_files(&folder, &files),
            (Some(log), false) => std::fs::read(log)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|bytes| WandbRun::from_log(&bytes, &mut out.notes, log)),
            (None, false) => from_files(&folder, &files),
        };
        let run = match result {
            Ok(r) => r,
            Err(why) => {
                out.bad_files.push(format!("{}: {why}", log.as_deref().unwrap_or(&folder).display()));
                continue;
            }
        };
        let label = folder.display().to_string();
        for (key, n) in &run.skipped {
            out.notes.push(format!(
                "{label}: {n} value(s) of '{key}' are not numbers (media, tables) and were not imported"
            ));
        }
        out.source.runs.push(into_source(run, project, &mut projects));
    }
    out.source.projects = projects.into_iter().map(|name| SourceProject { name, ..Default::default() }).collect();
    Ok(out)
}

fn into_source(
    mut run: WandbRun,
    project: Option<&str>,
    projects: &mut std::collections::BTreeSet<String>,
) -> SourceRun {
    let project = project
        .map(str::to_owned)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| if run.project.is_empty() { "wandb".to_owned() } else { run.project.clone() });
    projects.insert(project.clone());
    run.config.remove("_wandb");
    // Summary values never logged as history (a best score set at the end) become
    // one-point metrics at the run's last step.
    let at = run.last_time.or(run.start).unwrap_or(0);
    for (key, value) in &run.summary {
        if key.starts_with('_') || run.metrics.contains_key(key) || MetricKey::parse(key.clone()).is_err() {
            continue;
        }
        if let Some(v) = json_number(value) {
            run.metrics.insert(key.clone(), vec![Point { step: run.last_step, value: v, timestamp: at }]);
        }
    }
    // The run's W&B identity is its Cairn identity: importing again is the same run.
    let identity = format!("wandb\u{1f}{}\u{1f}{}\u{1f}{}", run.entity, run.project, run.run_id);
    let id = crate::stable_id(&identity);
    let mut tags: BTreeMap<String, String> = run.tags.iter().map(|t| (t.clone(), String::new())).collect();
    tags.insert("wandb.run_id".into(), run.run_id.clone());
    if !run.group.is_empty() {
        tags.insert("wandb.group".into(), run.group.clone());
    }
    if !run.job_type.is_empty() {
        tags.insert("wandb.job_type".into(), run.job_type.clone());
    }
    let status = match run.exit {
        Some(0) => RunStatus::Finished,
        Some(_) => RunStatus::Failed,
        // No exit record: still running (a later import finishes it).
        None => RunStatus::Running,
    };
    SourceRun {
        id,
        project,
        name: Some(if run.name.is_empty() { run.run_id.clone() } else { run.name.clone() }),
        description: run.notes.clone(),
        status: Some(status),
        created_at: run.start.or(run.last_time),
        ended_at: run.exit.and(run.last_time),
        params: run.config,
        tags,
        metrics: run.metrics,
        commit: run.commit,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log of `records`, framed as W&B frames them, with the first split over blocks.
    fn log(records: &[Vec<u8>]) -> Vec<u8> {
        const IEEE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
        let mut out = b":W&B\xe1\xbe\x00".to_vec();
        for r in records {
            let mut rest: &[u8] = r;
            let mut first = true;
            loop {
                let left = BLOCK - out.len() % BLOCK;
                if left < 7 {
                    out.extend(std::iter::repeat_n(0u8, left));
                    continue;
                }
                let n = rest.len().min(left - 7);
                let last = n == rest.len();
                let kind: u8 = match (first, last) {
                    (true, true) => 1,
                    (true, false) => 2,
                    (false, false) => 3,
                    (false, true) => 4,
                };
                let mut d = IEEE.digest();
                d.update(&[kind]);
                d.update(&rest[..n]);
                out.extend(d.finalize().to_le_bytes());
                out.extend((n as u16).to_le_bytes());
                out.push(kind);
                out.extend(&rest[..n]);
                rest = &rest[n..];
                first = false;
                if last {
                    break;
                }
            }
        }
        out
    }

    fn item(key: &str, json: &str) -> pb::Item {
        pb::Item { key: String::new(), nested_key: vec![key.into()], value_json: json.into() }
    }

    #[test]
    fn a_log_reads_back_across_blocks_and_a_bad_checksum_is_named() {
        let run = pb::Record {
            num: 1,
            record_type: Some(pb::record::RecordType::Run(pb::RunRecord {
                run_id: "abc123".into(),
                project: "vision".into(),
                display_name: "trial".into(),
                notes: "x".repeat(40_000),
                config: Some(pb::ConfigRecord {
                    update: vec![
                        pb::Item { key: "lr".into(), nested_key: vec![], value_json: "0.01".into() },
                        pb::Item { key: "_wandb".into(), nested_key: vec![], value_json: "{}".into() },
                    ],
                    remove: vec![],
                }),
                start_time: Some(pb::Timestamp { seconds: 1_700_000_000, nanos: 500_000_000 }),
                ..Default::default()
            })),
        };
        let rows: Vec<pb::Record> = (0..3)
            .map(|s| pb::Record {
                num: 2 + s,
                record_type: Some(pb::record::RecordType::History(pb::HistoryRecord {
                    item: vec![
                        item("loss", &format!("{}", 1.0 / (s + 1) as f64)),
                        item("image", r#"{"_type":"image-file"}"#),
                        item("_step", &s.to_string()),
                        item("_timestamp", &format!("{}", 1_700_000_001 + s)),
                    ],
                    step: None,
                })),
            })
            .collect();
        let exit = pb::Record { num: 9, record_type: Some(pb::record::RecordType::Exit(pb::RunExitRecord::default())) };
        let mut records = vec![run.encode_to_vec()];
        records.extend(rows.iter().map(Message::encode_to_vec));
        records.push(exit.encode_to_vec());
        let bytes = log(&records);
        let (back, cut) = log_records(&bytes).unwrap();
        assert!(!cut);
        assert_eq!(back.len(), records.len(), "the 40 kB record spans two blocks");
        let mut notes = vec![];
        let r = WandbRun::from_log(&bytes, &mut notes, Path::new("x.wandb")).unwrap();
        assert_eq!((r.run_id.as_str(), r.name.as_str(), r.exit), ("abc123", "trial", Some(0)));
        assert_eq!(r.start, Some(1_700_000_000_500));
        let loss: Vec<(i64, f64, i64)> = r.metrics["loss"].iter().map(|p| (p.step, p.value, p.timestamp)).collect();
        assert_eq!(
            loss,
            vec![(0, 1.0, 1_700_000_001_000), (1, 0.5, 1_700_000_002_000), (2, 1.0 / 3.0, 1_700_000_003_000)]
        );
        assert_eq!(r.skipped["image"], 3);
        let src = into_source(r, None, &mut Default::default());
        assert_eq!(src.project, "vision");
        assert_eq!(src.params, serde_json::json!({"lr": 0.01}).as_object().unwrap().clone());
        assert_eq!(src.status, Some(RunStatus::Finished));
        let mut broken = bytes.clone();
        let last = broken.len() - 3;
        broken[last] ^= 0xff;
        assert!(log_records(&broken).unwrap_err().contains("checksum"));
        let (_, cut) = log_records(&bytes[..bytes.len() - 2]).unwrap();
        assert!(cut, "a log cut short reads up to the cut");
        assert!(log_records(b"not a log").is_err());
    }

    #[test]
    fn bare_nan_and_infinities_are_quoted_outside_strings() {
        assert_eq!(
            quote_bare_numbers(r#"{"a": NaN, "b": -Infinity, "c": "NaN in \"text\"", "d": Infinity}"#),
            r#"{"a": "NaN", "b": "-Infinity", "c": "NaN in \"text\"", "d": "Infinity"}"#
        );
    }

    #[test]
    fn an_online_folder_reads_its_log_though_it_has_config_yaml() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run-20240101_120000-onl1ne");
        std::fs::create_dir_all(run.join("files")).unwrap();
        std::fs::write(run.join("files").join("config.yaml"), "lr:\n  value: 0.5\n").unwrap();
        std::fs::write(run.join("files").join("wandb-summary.json"), r#"{"loss": 9}"#).unwrap();
        let info = pb::Record {
            num: 1,
            record_type: Some(pb::record::RecordType::Run(pb::RunRecord {
                run_id: "onl1ne".into(),
                project: "p".into(),
                ..Default::default()
            })),
        };
        let row = pb::Record {
            num: 2,
            record_type: Some(pb::record::RecordType::History(pb::HistoryRecord {
                item: vec![item("loss", "0.25"), item("_step", "7")],
                step: None,
            })),
        };
        std::fs::write(run.join("run-onl1ne.wandb"), log(&[info.encode_to_vec(), row.encode_to_vec()])).unwrap();
        let read = read(dir.path(), None).unwrap();
        let r = &read.source.runs[0];
        assert_eq!(r.metrics["loss"].iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(), vec![(7, 0.25)]);
        assert_eq!(r.status, Some(RunStatus::Running), "no exit record yet");
    }

    #[test]
    fn an_exported_folder_reads_from_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run-20240101_120000-xyz789");
        let files = run.join("files");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::write(
            files.join("config.yaml"),
            "_wandb:\n  desc: null\n  value: {}\nlr:\n  desc: null\n  value: 0.02\nmodel:\n  desc: null\n  value: resnet\n",
        )
        .unwrap();
        std::fs::write(
            files.join("wandb-history.jsonl"),
            "{\"_step\": 0, \"_timestamp\": 1700000000.0, \"loss\": NaN}\n{\"_step\": 1, \"_timestamp\": 1700000001.0, \"loss\": 0.5}\n",
        )
        .unwrap();
        std::fs::write(files.join("wandb-summary.json"), r#"{"loss": 0.5, "best": 0.9, "_runtime": 3}"#).unwrap();
        let read = read(dir.path(), Some("p")).unwrap();
        assert!(read.bad_files.is_empty(), "{:?}", read.bad_files);
        let r = &read.source.runs[0];
        assert_eq!(r.tags["wandb.run_id"], "xyz789");
        assert_eq!(serde_json::Value::Object(r.params.clone()), serde_json::json!({"lr": 0.02, "model": "resnet"}));
        let loss: Vec<(i64, bool)> = r.metrics["loss"].iter().map(|p| (p.step, p.value.is_nan())).collect();
        assert_eq!(loss, vec![(0, true), (1, false)]);
        assert_eq!(r.metrics["best"][0].step, 1, "a summary-only value sits at the last step");
        assert_eq!(r.status, Some(RunStatus::Finished));
    }

    #[test]
    fn nested_config_keys_make_nested_config() {
        let mut c = serde_json::Map::new();
        set_path(&mut c, &["optimizer".into(), "name".into()], Value::from("adam"));
        set_path(&mut c, &["optimizer".into(), "beta".into()], Value::from(0.9));
        assert_eq!(Value::Object(c.clone()), serde_json::json!({"optimizer": {"name": "adam", "beta": 0.9}}));
        remove_path(&mut c, &["optimizer".into(), "beta".into()]);
        assert_eq!(Value::Object(c), serde_json::json!({"optimizer": {"name": "adam"}}));
    }
}
