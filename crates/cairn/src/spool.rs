//! Records that could not reach the server, kept on disk until it answers again.
//!
//! `<home>/spool/<run id>.jsonl` holds one request per line, in the order they were
//! made: `{"method", "path", "body"}` for JSON requests, or `{"method": "PUT", "path",
//! "file"}` for an artifact whose bytes wait in `<home>/spool/files/`. The Python SDK
//! writes the same format. Replaying is safe to repeat: metric batches carry batch ids
//! the server deduplicates, artifact PUTs overwrite, and finishing twice is allowed.

use anyhow::{Context, Result};
use cairn_client::Client;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn dir(home: &Path) -> PathBuf {
    home.join("spool")
}

/// True when an error means the server could not take the record now (as opposed to
/// refusing it): no answer, or a server or proxy saying it is unavailable.
pub fn unreachable(e: &cairn_client::Error) -> bool {
    match e {
        cairn_client::Error::Unreachable { .. } => true,
        cairn_client::Error::Api { status, .. } | cairn_client::Error::NotTheApi { status, .. } => {
            matches!(status, 502..=504)
        }
        _ => false,
    }
}

fn append(home: &Path, run: &str, entry: &Value) -> Result<()> {
    let d = dir(home);
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    let mut line = entry.to_string();
    line.push('\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join(format!("{run}.jsonl")))
        .with_context(|| format!("cannot open the spool in {}", d.display()))?;
    // One write per line, so lines from two processes never interleave.
    f.write_all(line.as_bytes())?;
    f.sync_data()?;
    Ok(())
}

/// Keeps a JSON request for later.
pub fn request(home: &Path, run: &str, method: &str, path: &str, body: &Value) -> Result<()> {
    append(home, run, &json!({"method": method, "path": path, "body": body}))
}

/// Keeps an artifact upload for later; `file` is moved into the spool.
pub fn artifact(home: &Path, run: &str, artifact: &str, file: &Path) -> Result<()> {
    let files = dir(home).join("files");
    std::fs::create_dir_all(&files)?;
    let kept = files.join(format!("{run}-{}", uuid::Uuid::now_v7().simple()));
    if std::fs::rename(file, &kept).is_err() {
        std::fs::copy(file, &kept).with_context(|| format!("cannot keep {}", file.display()))?;
    }
    let path = format!("/api/v1/runs/{run}/artifacts/{artifact}");
    append(home, run, &json!({"method": "PUT", "path": path, "file": kept}))
}

/// What a replay did.
#[derive(Default, Debug)]
pub struct Replayed {
    pub sent: usize,
    /// Refused by the server for good (e.g. the run was deleted); dropped.
    pub dropped: Vec<String>,
    /// Still waiting: the server stopped answering part-way.
    pub left: usize,
}

/// Sends everything spooled, run by run, in order. Stops at the first request the
/// server does not answer and keeps the rest.
pub async fn replay(client: &Client, home: &Path) -> Result<Replayed> {
    let mut done = Replayed::default();
    let Ok(entries) = std::fs::read_dir(dir(home)) else { return Ok(done) };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut i = 0;
        while i < lines.len() {
            let Ok(entry) = serde_json::from_str::<Value>(lines[i]) else {
                done.dropped.push(format!("{}: an unreadable line", file.display()));
                i += 1;
                continue;
            };
            let (method, path) = (entry["method"].as_str().unwrap_or("POST"), entry["path"].as_str().unwrap_or(""));
            let result = if let Some(f) = entry["file"].as_str() {
                let run = path.trim_start_matches("/api/v1/runs/");
                let (run, artifact) = run.split_once("/artifacts/").unwrap_or((run, ""));
                client.upload(run, artifact, Path::new(f)).await.map(|_| ())
            } else {
                let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
                client.send_raw(m, path, Some(&entry["body"])).await.map(|_| ())
            };
            match result {
                Ok(_) => {
                    done.sent += 1;
                    if let Some(f) = entry["file"].as_str() {
                        let _ = std::fs::remove_file(f);
                    }
                }
                Err(e) if unreachable(&e) => break,
                Err(e) => done.dropped.push(format!("{method} {path}: {e:#}")),
            }
            i += 1;
        }
        if i >= lines.len() {
            std::fs::remove_file(&file).with_context(|| format!("cannot remove {}", file.display()))?;
        } else {
            let rest: String = lines[i..].iter().map(|l| format!("{l}\n")).collect();
            let tmp = file.with_extension("jsonl.tmp");
            std::fs::write(&tmp, rest)?;
            std::fs::rename(&tmp, &file)?;
            done.left += lines.len() - i;
            break;
        }
    }
    Ok(done)
}

/// Replays the spool if there is one, saying what happened on standard error.
pub async fn replay_quietly(client: &Client, home: &Path) {
    if !dir(home).exists() {
        return;
    }
    match replay(client, home).await {
        Ok(r) => {
            if r.sent > 0 {
                eprintln!("cairn: sent {} kept record(s) of earlier runs to {}", r.sent, client.base());
            }
            for d in &r.dropped {
                eprintln!("cairn: a kept record was refused and dropped: {d}");
            }
        }
        Err(e) => eprintln!("cairn: the kept records in {} could not be sent: {e:#}", dir(home).display()),
    }
}
