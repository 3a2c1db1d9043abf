//! `cairn diff A B`: everything that differs between two runs — config side by side,
//! code (between their commits and their uncommitted changes), data, environment and
//! metric summaries with deltas.

use crate::{output, settings};
use anyhow::{Result, bail};
use cairn_artifacts::ArtifactStore;
use cairn_domain::compare::{flat_params, package_changes};
use cairn_domain::{ArtifactPath, Run, RunRef};
use futures::TryStreamExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

#[derive(clap::Args)]
pub struct Args {
    /// The first run (id or short id): the "before"
    a: String,
    /// The second run: the "after"
    b: String,
    /// Also list the config keys that are equal
    #[arg(long)]
    all: bool,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    storage: crate::StoreArgs,
}

/// Largest artifact read for a comparison (diffs and manifests).
const MAX_READ: u64 = 64 * 1024 * 1024;

async fn read_artifact(artifacts: &ArtifactStore, run: &Run, path: &str) -> Option<Vec<u8>> {
    let p = ArtifactPath::parse(path).ok()?;
    let (size, stream) = artifacts.get_stream(run.id, &p).await.ok()?;
    if size > MAX_READ {
        return None;
    }
    let chunks: Vec<_> = stream.try_collect().await.ok()?;
    Some(chunks.concat())
}

/// A dataset manifest as path → hash.
async fn manifest(artifacts: &ArtifactStore, run: &Run, artifact: Option<&str>) -> Option<BTreeMap<String, String>> {
    let bytes = read_artifact(artifacts, run, artifact?).await?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        doc["manifest"]
            .as_array()?
            .iter()
            .filter_map(|f| Some((f["path"].as_str()?.to_owned(), f["blake3"].as_str()?.to_owned())))
            .collect(),
    )
}

pub async fn run(args: Args) -> Result<()> {
    let st = settings::storage(args.storage.store, args.storage.artifacts)?;
    let store = settings::open_store(&st.store_url).await?;
    let artifacts = ArtifactStore::open(&st.artifacts_url)?;
    let get = |r: String| {
        let store = store.clone();
        async move {
            match store.get_run(&RunRef::parse(&r)?).await {
                Err(cairn_store::StoreError::NotFound { .. }) => bail!("no run '{r}'; `cairn ls` lists runs"),
                other => Ok(other?),
            }
        }
    };
    let (a, b) = (get(args.a.clone()).await?, get(args.b.clone()).await?);

    // Config, leaf by leaf.
    let (ca, cb) = (flat_params(&a.config), flat_params(&b.config));
    let keys: BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    let mut config_rows = Vec::new();
    let mut equal = 0;
    for k in keys {
        let (va, vb) = (ca.get(k), cb.get(k));
        if va == vb {
            equal += 1;
            if !args.all {
                continue;
            }
        }
        config_rows.push((k.clone(), va.cloned(), vb.cloned(), va != vb));
    }

    // Code: commits, files and diffs between them (when this clone has both), and the
    // uncommitted changes of each run.
    let (code_a, code_b) = (a.code.clone().unwrap_or_default(), b.code.clone().unwrap_or_default());
    let cwd = std::env::current_dir()?;
    let mut commit_files = None;
    let mut commit_diff = None;
    if let (Some(x), Some(y)) = (&code_a.commit, &code_b.commit)
        && x != y
    {
        commit_files = cairn_capture::code::files_between(&cwd, x, y);
        commit_diff = cairn_capture::code::diff_between(&cwd, x, y).map(|d| String::from_utf8_lossy(&d).into_owned());
    }
    let same_worktree = code_a.diff_hash == code_b.diff_hash;
    let mut working = Vec::new();
    if !same_worktree {
        for (run, code) in [(&a, &code_a), (&b, &code_b)] {
            let text = match &code.diff_artifact {
                Some(p) => read_artifact(&artifacts, run, p).await.map(|d| String::from_utf8_lossy(&d).into_owned()),
                None => Some(String::new()),
            };
            working.push((run.short_id.to_string(), text));
        }
    }
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for (x, y) in [(&code_a.modified, &code_b.modified), (&code_a.untracked, &code_b.untracked)] {
        for k in x.keys().chain(y.keys()) {
            if x.get(k) != y.get(k) {
                touched.insert(k.clone());
            }
        }
    }

    // Data, dataset by dataset, and file by file where both manifests are stored.
    let sets = |r: &Run| -> BTreeMap<String, cairn_domain::Dataset> {
        r.data.as_ref().map(|d| d.datasets.iter().map(|x| (x.path.clone(), x.clone())).collect()).unwrap_or_default()
    };
    let (da, db) = (sets(&a), sets(&b));
    let mut data = Vec::new();
    for p in da.keys().chain(db.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (da.get(p), db.get(p));
        if x.map(|d| &d.hash) == y.map(|d| &d.hash) {
            continue;
        }
        let mut files = Vec::new();
        if let (Some(x), Some(y)) = (x, y)
            && let (Some(mx), Some(my)) = (
                manifest(&artifacts, &a, x.manifest_artifact.as_deref()).await,
                manifest(&artifacts, &b, y.manifest_artifact.as_deref()).await,
            )
        {
            for f in mx.keys().chain(my.keys()).collect::<BTreeSet<_>>() {
                match (mx.get(f), my.get(f)) {
                    (Some(_), None) => files.push(format!("- {f}")),
                    (None, Some(_)) => files.push(format!("+ {f}")),
                    (Some(h1), Some(h2)) if h1 != h2 => files.push(format!("~ {f}")),
                    _ => {}
                }
            }
        }
        data.push(json!({
            "path": p, "before": x.map(|d| &d.hash), "after": y.map(|d| &d.hash), "files": files,
        }));
    }

    // Environment.
    let (ea, eb) = (a.environment.clone().unwrap_or(Value::Null), b.environment.clone().unwrap_or(Value::Null));
    let mut env_rows = Vec::new();
    for (what, ptr) in [
        ("python", "/python/version"),
        ("os", "/os/name"),
        ("kernel", "/os/kernel"),
        ("host", "/host"),
        ("cpu", "/cpu/model"),
        ("cores", "/cpu/cores"),
        ("memory", "/memory_bytes"),
        ("gpus", "/gpus"),
        ("container", "/container"),
    ] {
        let (x, y) = (ea.pointer(ptr), eb.pointer(ptr));
        if x != y {
            env_rows.push((what.to_owned(), output::optional(x), output::optional(y)));
        }
    }
    let packages = package_changes(a.environment.as_ref(), b.environment.as_ref());

    // Metrics, with deltas.
    let ma: BTreeMap<&str, f64> = a.metrics.iter().map(|m| (m.key.as_str(), m.last)).collect();
    let mb: BTreeMap<&str, f64> = b.metrics.iter().map(|m| (m.key.as_str(), m.last)).collect();
    let mut metric_rows = Vec::new();
    for k in ma.keys().chain(mb.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
        let delta = x.zip(y).map(|(x, y)| y - x);
        let pct = x.zip(y).filter(|(x, _)| *x != 0.0).map(|(x, y)| (y - x) / x.abs() * 100.0);
        metric_rows.push((k.to_string(), x, y, delta, pct));
    }

    if args.json {
        let doc = json!({
            "a": {"id": a.id, "short_id": a.short_id, "name": a.name},
            "b": {"id": b.id, "short_id": b.short_id, "name": b.name},
            "config": config_rows.iter().map(|(k, x, y, d)| json!({"key": k, "a": x, "b": y, "differs": d})).collect::<Vec<_>>(),
            "config_equal": equal,
            "seeds": {"a": a.seeds, "b": b.seeds},
            "code": {
                "commit": {"a": code_a.commit, "b": code_b.commit},
                "files_between_commits": commit_files,
                "diff_between_commits": commit_diff,
                "uncommitted_same": same_worktree,
                "uncommitted_files_differing": touched,
                "uncommitted": working.iter().map(|(r, t)| json!({"run": r, "diff": t})).collect::<Vec<_>>(),
            },
            "data": data,
            "environment": env_rows.iter().map(|(w, x, y)| json!({"what": w, "a": x, "b": y})).collect::<Vec<_>>(),
            "packages": packages.iter().map(|(n, x, y)| json!({"name": n, "a": x, "b": y})).collect::<Vec<_>>(),
            "metrics": metric_rows.iter().map(|(k, x, y, d, p)| json!({"key": k, "a": x, "b": y, "delta": d, "delta_percent": p})).collect::<Vec<_>>(),
        });
        crate::outln!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }

    let mut o = String::new();
    let _ = writeln!(o, "a: {} {} ({}, {})", a.short_id, a.name, a.status, output::time(a.created_at));
    let _ = writeln!(o, "b: {} {} ({}, {})", b.short_id, b.name, b.status, output::time(b.created_at));

    let _ = writeln!(o, "\nconfig");
    if config_rows.is_empty() {
        let _ = writeln!(o, "  (same)");
    } else {
        let rows: Vec<Vec<String>> = config_rows
            .iter()
            .map(|(k, x, y, d)| {
                vec![
                    format!("{} {k}", if *d { "≠" } else { " " }),
                    output::optional(x.as_ref()),
                    output::optional(y.as_ref()),
                ]
            })
            .collect();
        o.push_str(&output::table(&["  key", "a", "b"], &rows));
    }
    if equal > 0 && !args.all {
        let _ = writeln!(o, "  ({equal} equal keys not shown; --all shows them)");
    }
    if a.seeds != b.seeds {
        let _ = writeln!(o, "  seeds: {:?} -> {:?}", a.seeds, b.seeds);
    }

    let _ = writeln!(o, "\ncode");
    if code_a.commit == code_b.commit && same_worktree && touched.is_empty() {
        let _ = writeln!(o, "  (same commit and uncommitted changes)");
    } else {
        if code_a.commit != code_b.commit {
            let _ = writeln!(
                o,
                "  commit {} -> {}",
                code_a.commit.as_deref().unwrap_or("(none)"),
                code_b.commit.as_deref().unwrap_or("(none)")
            );
            match &commit_files {
                Some(f) => {
                    let _ = writeln!(o, "  files changed between the commits: {}", f.join(", "));
                }
                None => {
                    let _ = writeln!(
                        o,
                        "  (the commits are not both in this clone; run in the repository to see the diff)"
                    );
                }
            }
        }
        if !touched.is_empty() {
            let _ = writeln!(
                o,
                "  uncommitted or untracked files that differ: {}",
                touched.iter().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        if let Some(d) = &commit_diff {
            let _ = writeln!(o, "  --- diff between the commits");
            o.push_str(d);
        }
        for (run, text) in &working {
            match text {
                Some(t) if t.is_empty() => {
                    let _ = writeln!(o, "  --- uncommitted changes of {run}: none");
                }
                Some(t) => {
                    let _ = writeln!(o, "  --- uncommitted changes of {run}");
                    o.push_str(t);
                }
                None => {
                    let _ = writeln!(o, "  --- uncommitted changes of {run}: not readable from the artifact store");
                }
            }
        }
    }

    let _ = writeln!(o, "\ndata");
    if data.is_empty() {
        let _ = writeln!(o, "  (same)");
    }
    for d in &data {
        let _ = writeln!(
            o,
            "  {}: {} -> {}",
            d["path"].as_str().unwrap_or("?"),
            output::optional(Some(&d["before"])),
            output::optional(Some(&d["after"]))
        );
        for f in d["files"].as_array().into_iter().flatten().take(50) {
            let _ = writeln!(o, "    {}", f.as_str().unwrap_or(""));
        }
    }

    let _ = writeln!(o, "\nenvironment");
    if env_rows.is_empty() && packages.is_empty() {
        let _ = writeln!(o, "  (same)");
    }
    for (what, x, y) in &env_rows {
        let _ = writeln!(o, "  {what}: {} -> {}", output::clip(x, 60), output::clip(y, 60));
    }
    for (name, x, y) in &packages {
        let change = match (x, y) {
            (None, Some(v)) => format!("added {v}"),
            (Some(v), None) => format!("removed (was {v})"),
            (Some(v1), Some(v2)) => format!("{v1} -> {v2}"),
            _ => continue,
        };
        let _ = writeln!(o, "  package {name}: {change}");
    }

    let _ = writeln!(o, "\nmetrics (last values)");
    if metric_rows.is_empty() {
        let _ = writeln!(o, "  (none logged)");
    } else {
        let num = |v: Option<f64>| v.map(output::number).unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = metric_rows
            .iter()
            .map(|(k, x, y, d, p)| {
                vec![
                    format!("  {k}"),
                    num(*x),
                    num(*y),
                    d.map(|d| format!("{}{}", if d > 0.0 { "+" } else { "" }, output::number(d))).unwrap_or_default(),
                    p.map(|p| format!("{p:+.1}%")).unwrap_or_default(),
                ]
            })
            .collect();
        o.push_str(&output::table(&["  key", "a", "b", "delta", "delta %"], &rows));
    }
    crate::out!("{o}");
    Ok(())
}
