//! `cairn diff A B`: everything that differs between two runs — config side by side,
//! code (between their commits and their uncommitted changes), data, environment and
//! metric summaries with deltas. Gathered from the server (the runs, their stored
//! diffs and data manifests) and this checkout (what changed between two commits),
//! compared here, then rendered as text or JSON.

use crate::output;
use anyhow::Result;
use cairn_client::Client;
use cairn_domain::compare::{flat_params, package_changes};
use cairn_domain::{CodeInfo, Dataset, Run};
use serde::Serialize;
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
}

/// Largest artifact read for a comparison (diffs and manifests).
const MAX_READ: u64 = 64 * 1024 * 1024;

/// A config key on both sides.
#[derive(Serialize)]
struct ConfigRow {
    key: String,
    a: Option<Value>,
    b: Option<Value>,
    differs: bool,
}

#[derive(Serialize)]
struct DataRow {
    path: String,
    before: Option<String>,
    after: Option<String>,
    /// `+ f`, `- f`, `~ f`, where both manifests are stored.
    files: Vec<String>,
}

#[derive(Serialize)]
struct EnvRow {
    what: String,
    a: String,
    b: String,
}

#[derive(Serialize)]
struct PackageRow {
    name: String,
    a: Option<String>,
    b: Option<String>,
}

#[derive(Serialize)]
struct MetricRow {
    key: String,
    a: Option<f64>,
    b: Option<f64>,
    delta: Option<f64>,
    delta_percent: Option<f64>,
}

/// What this checkout and the artifact store say about the two runs' code.
struct CodeFacts {
    commit_files: Option<Vec<String>>,
    commit_diff: Option<String>,
    /// Each run's stored uncommitted diff (`None`: not readable), when they differ.
    working: Vec<(String, Option<String>)>,
}

/// A dataset manifest: file path → content hash.
type Manifest = BTreeMap<String, String>;

/// Everything gathered before comparing.
struct Gathered {
    a: Run,
    b: Run,
    code: CodeFacts,
    /// Dataset path → (manifest of a, manifest of b), where both are stored.
    manifests: BTreeMap<String, (Manifest, Manifest)>,
}

async fn read(client: &Client, run: &Run, path: &str) -> Option<Vec<u8>> {
    client.read_artifact(&run.id.to_string(), path, MAX_READ).await.ok().flatten()
}

/// A dataset manifest as path → hash.
async fn manifest(client: &Client, run: &Run, artifact: Option<&str>) -> Option<Manifest> {
    let bytes = read(client, run, artifact?).await?;
    let doc: Value = serde_json::from_slice(&bytes).ok()?;
    Some(
        doc["manifest"]
            .as_array()?
            .iter()
            .filter_map(|f| Some((f["path"].as_str()?.to_owned(), f["blake3"].as_str()?.to_owned())))
            .collect(),
    )
}

fn datasets(r: &Run) -> BTreeMap<String, Dataset> {
    r.data.as_ref().map(|d| d.datasets.iter().map(|x| (x.path.clone(), x.clone())).collect()).unwrap_or_default()
}

async fn gather(client: &Client, a: &str, b: &str) -> Result<Gathered> {
    let (a, b) = tokio::try_join!(client.run(a), client.run(b))?;
    let (ca, cb) = (a.code.clone().unwrap_or_default(), b.code.clone().unwrap_or_default());
    let cwd = std::env::current_dir()?;
    let (mut commit_files, mut commit_diff) = (None, None);
    if let (Some(x), Some(y)) = (&ca.commit, &cb.commit)
        && x != y
    {
        commit_files = cairn_capture::code::files_between(&cwd, x, y);
        commit_diff = cairn_capture::code::diff_between(&cwd, x, y).map(|d| String::from_utf8_lossy(&d).into_owned());
    }
    let mut working = Vec::new();
    if ca.diff_hash != cb.diff_hash {
        for (run, code) in [(&a, &ca), (&b, &cb)] {
            let text = match &code.diff_artifact {
                Some(p) => read(client, run, p).await.map(|d| String::from_utf8_lossy(&d).into_owned()),
                None => Some(String::new()),
            };
            working.push((run.short_id.to_string(), text));
        }
    }
    let mut manifests = BTreeMap::new();
    let (da, db) = (datasets(&a), datasets(&b));
    for (path, x) in &da {
        if let Some(y) = db.get(path)
            && x.hash != y.hash
            && let (Some(mx), Some(my)) = (
                manifest(client, &a, x.manifest_artifact.as_deref()).await,
                manifest(client, &b, y.manifest_artifact.as_deref()).await,
            )
        {
            manifests.insert(path.clone(), (mx, my));
        }
    }
    Ok(Gathered { a, b, code: CodeFacts { commit_files, commit_diff, working }, manifests })
}

/// The comparison, side by side.
struct Diff {
    config: Vec<ConfigRow>,
    config_equal: usize,
    /// Uncommitted or untracked files whose content differs between the runs.
    touched: BTreeSet<String>,
    data: Vec<DataRow>,
    environment: Vec<EnvRow>,
    packages: Vec<PackageRow>,
    metrics: Vec<MetricRow>,
}

fn compute(g: &Gathered, all: bool) -> Diff {
    let (a, b) = (&g.a, &g.b);
    // Config, leaf by leaf.
    let (ca, cb) = (flat_params(&a.config), flat_params(&b.config));
    let mut config = Vec::new();
    let mut config_equal = 0;
    for k in ca.keys().chain(cb.keys()).collect::<BTreeSet<_>>() {
        let (va, vb) = (ca.get(k), cb.get(k));
        if va == vb {
            config_equal += 1;
            if !all {
                continue;
            }
        }
        config.push(ConfigRow { key: k.clone(), a: va.cloned(), b: vb.cloned(), differs: va != vb });
    }
    let (code_a, code_b) = (a.code.clone().unwrap_or_default(), b.code.clone().unwrap_or_default());
    let mut touched = BTreeSet::new();
    for (x, y) in [(&code_a.modified, &code_b.modified), (&code_a.untracked, &code_b.untracked)] {
        for k in x.keys().chain(y.keys()) {
            if x.get(k) != y.get(k) {
                touched.insert(k.clone());
            }
        }
    }
    // Data, dataset by dataset, and file by file where both manifests are stored.
    let (da, db) = (datasets(a), datasets(b));
    let mut data = Vec::new();
    for p in da.keys().chain(db.keys()).collect::<BTreeSet<_>>() {
        let (x, y) = (da.get(p), db.get(p));
        if x.map(|d| &d.hash) == y.map(|d| &d.hash) {
            continue;
        }
        let mut files = Vec::new();
        if let Some((mx, my)) = g.manifests.get(p) {
            for f in mx.keys().chain(my.keys()).collect::<BTreeSet<_>>() {
                match (mx.get(f), my.get(f)) {
                    (Some(_), None) => files.push(format!("- {f}")),
                    (None, Some(_)) => files.push(format!("+ {f}")),
                    (Some(h1), Some(h2)) if h1 != h2 => files.push(format!("~ {f}")),
                    _ => {}
                }
            }
        }
        data.push(DataRow {
            path: p.clone(),
            before: x.map(|d| d.hash.clone()),
            after: y.map(|d| d.hash.clone()),
            files,
        });
    }
    // Environment.
    let (ea, eb) = (a.environment.clone().unwrap_or(Value::Null), b.environment.clone().unwrap_or(Value::Null));
    let mut environment = Vec::new();
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
            environment.push(EnvRow { what: what.to_owned(), a: output::optional(x), b: output::optional(y) });
        }
    }
    let packages = package_changes(a.environment.as_ref(), b.environment.as_ref())
        .into_iter()
        .map(|(name, a, b)| PackageRow { name, a, b })
        .collect();
    // Metrics, with deltas.
    let ma: BTreeMap<&str, f64> = a.metrics.iter().map(|m| (m.key.as_str(), m.last)).collect();
    let mb: BTreeMap<&str, f64> = b.metrics.iter().map(|m| (m.key.as_str(), m.last)).collect();
    let metrics = ma
        .keys()
        .chain(mb.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|k| {
            let (x, y) = (ma.get(k).copied(), mb.get(k).copied());
            MetricRow {
                key: k.to_string(),
                a: x,
                b: y,
                delta: x.zip(y).map(|(x, y)| y - x),
                delta_percent: x.zip(y).filter(|(x, _)| *x != 0.0).map(|(x, y)| (y - x) / x.abs() * 100.0),
            }
        })
        .collect();
    Diff { config, config_equal, touched, data, environment, packages, metrics }
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let g = gather(&client, &args.a, &args.b).await?;
    let d = compute(&g, args.all);
    if args.json {
        crate::outln!("{}", serde_json::to_string_pretty(&to_json(&g, &d))?);
    } else {
        crate::out!("{}", render(&g, &d, args.all));
    }
    Ok(())
}

fn code_of(r: &Run) -> CodeInfo {
    r.code.clone().unwrap_or_default()
}

fn to_json(g: &Gathered, d: &Diff) -> Value {
    let (a, b) = (&g.a, &g.b);
    let (code_a, code_b) = (code_of(a), code_of(b));
    json!({
        "a": {"id": a.id, "short_id": a.short_id, "name": a.name},
        "b": {"id": b.id, "short_id": b.short_id, "name": b.name},
        "config": d.config,
        "config_equal": d.config_equal,
        "seeds": {"a": a.seeds, "b": b.seeds},
        "code": {
            "commit": {"a": code_a.commit, "b": code_b.commit},
            "files_between_commits": g.code.commit_files,
            "diff_between_commits": g.code.commit_diff,
            "uncommitted_same": code_a.diff_hash == code_b.diff_hash,
            "uncommitted_files_differing": d.touched,
            "uncommitted": g.code.working.iter().map(|(r, t)| json!({"run": r, "diff": t})).collect::<Vec<_>>(),
        },
        "data": d.data,
        "environment": d.environment,
        "packages": d.packages,
        "metrics": d.metrics,
    })
}

fn render(g: &Gathered, d: &Diff, all: bool) -> String {
    let mut o = String::new();
    let (a, b) = (&g.a, &g.b);
    let _ = writeln!(o, "a: {} {} ({}, {})", a.short_id, a.name, a.status, output::time(a.created_at));
    let _ = writeln!(o, "b: {} {} ({}, {})", b.short_id, b.name, b.status, output::time(b.created_at));
    render_config(&mut o, g, d, all);
    render_code(&mut o, g, d);
    render_data(&mut o, d);
    render_environment(&mut o, d);
    render_metrics(&mut o, d);
    o
}

fn render_config(o: &mut String, g: &Gathered, d: &Diff, all: bool) {
    let _ = writeln!(o, "\nconfig");
    if d.config.is_empty() {
        let _ = writeln!(o, "  (same)");
    } else {
        let rows: Vec<Vec<String>> = d
            .config
            .iter()
            .map(|r| {
                vec![
                    format!("{} {}", if r.differs { "≠" } else { " " }, r.key),
                    output::optional(r.a.as_ref()),
                    output::optional(r.b.as_ref()),
                ]
            })
            .collect();
        o.push_str(&output::table(&["  key", "a", "b"], &rows));
    }
    if d.config_equal > 0 && !all {
        let _ = writeln!(o, "  ({} equal keys not shown; --all shows them)", d.config_equal);
    }
    if g.a.seeds != g.b.seeds {
        let _ = writeln!(o, "  seeds: {:?} -> {:?}", g.a.seeds, g.b.seeds);
    }
}

fn render_code(o: &mut String, g: &Gathered, d: &Diff) {
    let (code_a, code_b) = (code_of(&g.a), code_of(&g.b));
    let same_worktree = code_a.diff_hash == code_b.diff_hash;
    let touched = &d.touched;
    let (commit_files, commit_diff, working) = (&g.code.commit_files, &g.code.commit_diff, &g.code.working);
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
            match commit_files {
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
        if let Some(diff) = commit_diff {
            let _ = writeln!(o, "  --- diff between the commits");
            o.push_str(diff);
        }
        for (run, text) in working {
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
}

fn render_data(o: &mut String, d: &Diff) {
    let _ = writeln!(o, "\ndata");
    if d.data.is_empty() {
        let _ = writeln!(o, "  (same)");
    }
    for row in &d.data {
        let _ = writeln!(
            o,
            "  {}: {} -> {}",
            row.path,
            row.before.as_deref().unwrap_or("(absent)"),
            row.after.as_deref().unwrap_or("(absent)")
        );
        for f in row.files.iter().take(50) {
            let _ = writeln!(o, "    {f}");
        }
    }
}

fn render_environment(o: &mut String, d: &Diff) {
    let _ = writeln!(o, "\nenvironment");
    if d.environment.is_empty() && d.packages.is_empty() {
        let _ = writeln!(o, "  (same)");
    }
    for r in &d.environment {
        let _ = writeln!(o, "  {}: {} -> {}", r.what, output::clip(&r.a, 60), output::clip(&r.b, 60));
    }
    for p in &d.packages {
        let change = match (&p.a, &p.b) {
            (None, Some(v)) => format!("added {v}"),
            (Some(v), None) => format!("removed (was {v})"),
            (Some(v1), Some(v2)) => format!("{v1} -> {v2}"),
            _ => continue,
        };
        let _ = writeln!(o, "  package {}: {change}", p.name);
    }
}

fn render_metrics(o: &mut String, d: &Diff) {
    let _ = writeln!(o, "\nmetrics (last values)");
    if d.metrics.is_empty() {
        let _ = writeln!(o, "  (none logged)");
    } else {
        let num = |v: Option<f64>| v.map(output::number).unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = d
            .metrics
            .iter()
            .map(|m| {
                vec![
                    format!("  {}", m.key),
                    num(m.a),
                    num(m.b),
                    m.delta
                        .map(|d| format!("{}{}", if d > 0.0 { "+" } else { "" }, output::number(d)))
                        .unwrap_or_default(),
                    m.delta_percent.map(|p| format!("{p:+.1}%")).unwrap_or_default(),
                ]
            })
            .collect();
        o.push_str(&output::table(&["  key", "a", "b", "delta", "delta %"], &rows));
    }
}
