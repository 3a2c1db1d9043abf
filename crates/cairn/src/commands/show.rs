//! `cairn show RUN`: everything recorded about one run. Gathered from the server (the
//! run, its artifacts, lineage and replicate group), then rendered section by section.

use crate::output;
use anyhow::Result;
use cairn_api::runs::{Lineage, SearchRequest};
use cairn_domain::{ArtifactInfo, Run, flatten_config};
use std::fmt::Write;

#[derive(clap::Args)]
pub struct Args {
    /// Run id or short id
    run: String,
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// What `show` prints, as the server has it.
struct Shown {
    run: Run,
    artifacts: Vec<ArtifactInfo>,
    lineage: Lineage,
    /// The run's replicate group (itself included), when it has one.
    replicates: Option<Vec<Run>>,
}

async fn gather(client: &cairn_client::Client, run: &str) -> Result<Shown> {
    let run = client.run(run).await?;
    let id = run.id.to_string();
    let (artifacts, lineage) = tokio::try_join!(client.artifacts(&id, ""), client.lineage(&id))?;
    let replicates = match &run.group_id {
        Some(g) => {
            let q = SearchRequest {
                project: Some(run.project.to_string()),
                filter: Some(format!("group_id = {}", serde_json::Value::String(g.clone()))),
                limit: Some(100),
                fields: Some(vec!["metrics".into()]),
                ..Default::default()
            };
            Some(client.search(&q).await?.runs)
        }
        None => None,
    };
    Ok(Shown { run, artifacts, lineage, replicates })
}

pub async fn run(args: Args, ctx: &crate::Ctx) -> Result<()> {
    let client = ctx.client().await?;
    let shown = gather(&client, &args.run).await?;
    if args.json {
        let mut v = serde_json::to_value(&shown.run)?;
        v["artifacts"] = serde_json::to_value(&shown.artifacts)?;
        v["lineage"] = serde_json::json!({ "parents": shown.lineage.parents, "children": shown.lineage.children });
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let mut o = String::new();
    header(&mut o, &shown.run);
    config(&mut o, &shown.run);
    code(&mut o, &shown.run);
    data(&mut o, &shown.run);
    environment(&mut o, &shown.run);
    changes(&mut o, &shown.run);
    if let Some(members) = &shown.replicates {
        replicates(&mut o, &shown.run, members);
    }
    lineage(&mut o, &shown.lineage);
    metrics(&mut o, &shown.run);
    artifacts(&mut o, &shown.artifacts);
    crate::out!("{o}");
    Ok(())
}

/// A `name  value` line of a section.
fn field(o: &mut String, k: &str, v: &str) {
    let _ = writeln!(o, "  {k:<12} {v}");
}

fn header(o: &mut String, run: &Run) {
    let _ = writeln!(o, "run {} ({})", run.short_id, run.id);
    field(o, "name", &run.name);
    field(o, "project", run.project.as_str());
    field(o, "status", run.status.as_str());
    field(o, "owner", &run.owner);
    let hyp = if run.missing_hypothesis() {
        "(none recorded)".to_owned()
    } else {
        run.hypothesis.clone().unwrap_or_default()
    };
    field(o, "hypothesis", &hyp.replace('\n', "\n               "));
    if let Some(e) = &run.expected {
        let size = e.size.map(|s| format!(" by {}", output::number(s))).unwrap_or_default();
        field(o, "expects", &format!("{} to {:?}{size}", e.metric, e.direction).to_lowercase());
    }
    if let Some(v) = &run.verdict {
        let note = v.note.as_deref().map(|n| format!(" — {n}")).unwrap_or_default();
        field(o, "verdict", &format!("{:?} at {}{note}", v.outcome, output::time(v.at)).to_lowercase());
    }
    if !run.description.is_empty() {
        field(o, "description", &run.description.replace('\n', "\n               "));
    }
    field(o, "created", &output::time(run.created_at));
    if let Some(t) = run.started_at {
        field(o, "started", &output::time(t));
    }
    if let Some(t) = run.ended_at {
        let dur = run.started_at.map(|s| format!(" ({:.1} s)", (t - s) as f64 / 1000.0)).unwrap_or_default();
        field(o, "ended", &format!("{}{dur}", output::time(t)));
    }
    if let Some(c) = run.exit_code {
        field(o, "exit code", &c.to_string());
    }
    if !run.command.is_empty() {
        field(o, "command", &run.command.join(" "));
    }
    if !run.seeds.is_empty() {
        field(o, "seeds", &run.seeds.iter().map(i64::to_string).collect::<Vec<_>>().join(", "));
    }
    if let Some(g) = &run.group_id {
        field(o, "group", g);
    }
    if let Some(f) = &run.fingerprint {
        field(o, "fingerprint", f);
    }
    if let Some(d) = run.deleted_at {
        field(o, "deleted", &output::time(d));
    }
    if !run.tags.is_empty() {
        let _ = writeln!(o, "tags");
        for (k, v) in &run.tags {
            field(o, k, v);
        }
    }
}

fn config(o: &mut String, run: &Run) {
    let _ = writeln!(o, "config");
    let flat = flatten_config(&run.config);
    if flat.is_empty() {
        let _ = writeln!(o, "  (empty)");
    }
    let width = flat.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0).max(12);
    for (k, _) in flat {
        let v = k.split('.').try_fold(None::<&serde_json::Value>, |acc, seg| {
            let m = match acc {
                None => Some(&run.config),
                Some(v) => v.as_object(),
            };
            m.and_then(|m| m.get(seg)).map(Some)
        });
        let top = k.split('.').next().unwrap_or(&k);
        let source = run.config_sources.get(top).map(|s| format!("  ({s})")).unwrap_or_default();
        let _ = writeln!(o, "  {k:<width$} {}{source}", v.flatten().map(output::value).unwrap_or_default());
    }
}

fn code(o: &mut String, run: &Run) {
    if let Some(code) = &run.code {
        let _ = writeln!(o, "code");
        if code.versioned {
            field(o, "commit", code.commit.as_deref().unwrap_or("?"));
            if let Some(b) = &code.branch {
                field(o, "branch", b);
            }
            if let Some(r) = &code.remote {
                field(o, "remote", r);
            }
            field(o, "dirty", if code.dirty { "yes (diff stored as an artifact)" } else { "no" });
            if !code.modified.is_empty() {
                field(o, "modified", &code.modified.keys().cloned().collect::<Vec<_>>().join(", "));
            }
            if !code.untracked.is_empty() {
                field(o, "untracked", &code.untracked.keys().cloned().collect::<Vec<_>>().join(", "));
            }
        } else {
            field(o, "versioned", "no (ran outside a git repository)");
        }
    }
}

fn data(o: &mut String, run: &Run) {
    if let Some(data) = &run.data {
        let _ = writeln!(o, "data");
        for d in &data.datasets {
            field(o, &d.path, &format!("{} ({} files, {} bytes)", d.hash, d.files, d.bytes));
        }
    }
}

fn environment(o: &mut String, run: &Run) {
    if let Some(env) = &run.environment {
        let _ = writeln!(o, "environment");
        if let Some(m) = env.as_object() {
            for (k, v) in m {
                if k == "python" {
                    continue;
                }
                if k == "gpus"
                    && let Some(gpus) = v.as_array()
                {
                    if gpus.is_empty() {
                        field(o, k, "none");
                    }
                    for g in gpus {
                        let mem = g["memory_bytes"].as_f64().map(|b| format!(", {:.0} GiB", b / 1073741824.0));
                        let text = format!(
                            "{}{} (driver {}, CUDA {})",
                            g["name"].as_str().unwrap_or("?"),
                            mem.unwrap_or_default(),
                            g["driver"].as_str().unwrap_or("?"),
                            g["cuda"].as_str().unwrap_or("?"),
                        );
                        field(o, &format!("gpu {}", g["index"]), &text);
                    }
                    continue;
                }
                field(o, k, &output::clip(&output::value(v), 100));
            }
        }
        if let Some(py) = env.get("python").filter(|p| p.is_object()) {
            let version = py["version"].as_str().unwrap_or("?");
            field(o, "python", &format!("{version} ({})", py["executable"].as_str().unwrap_or("?")));
            let packages: Vec<&str> =
                py["packages"].as_array().into_iter().flatten().filter_map(|p| p.as_str()).collect();
            field(o, "packages", &format!("{} installed", packages.len()));
            // All of them, wrapped: what was installed is part of what ran.
            let mut line = String::new();
            for p in packages {
                if !line.is_empty() && line.len() + p.len() + 2 > 100 {
                    let _ = writeln!(o, "               {line}");
                    line.clear();
                }
                if !line.is_empty() {
                    line.push_str("  ");
                }
                line.push_str(p);
            }
            if !line.is_empty() {
                let _ = writeln!(o, "               {line}");
            }
        }
    }
}

fn changes(o: &mut String, run: &Run) {
    if let Some(c) = &run.changes {
        let basis = match c.basis {
            cairn_domain::ChangeBasis::Parent => "parent",
            cairn_domain::ChangeBasis::Nearest => "most similar earlier run",
        };
        let _ = writeln!(o, "changes (vs {basis} {})", c.against_short_id);
        if c.is_empty() {
            let _ = writeln!(o, "  (none: same config, code, data and environment)");
        }
        let shown = |v: &Option<serde_json::Value>| output::optional(v.as_ref());
        for p in &c.params {
            field(o, &p.key, &format!("{} -> {}", shown(&p.before), shown(&p.after)));
        }
        if let Some(code) = &c.code {
            let files = if code.files.is_empty() { "changed".to_owned() } else { code.files.join(", ") };
            field(o, "code", &files);
        }
        for d in &c.data {
            field(o, "data", &d.path);
        }
        if let Some(cmd) = &c.command {
            field(o, "command", &format!("{} -> {}", shown(&cmd.before), shown(&cmd.after)));
        }
        for e in &c.environment {
            field(
                o,
                &e.what,
                &format!(
                    "{} -> {}",
                    e.before.as_deref().unwrap_or("(absent)"),
                    e.after.as_deref().unwrap_or("(absent)")
                ),
            );
        }
        if let Some(flag) = run.tags.get(cairn_server::MANY_CHANGES_TAG) {
            let _ = writeln!(o, "  ! several variables changed at once ({flag}): consider an ablation");
        }
    }
}

fn replicates(o: &mut String, run: &Run, members: &[Run]) {
    {
        let _ = writeln!(
            o,
            "replicates ({} run{} with this setup, differing at most by seed)",
            members.len(),
            if members.len() == 1 { "" } else { "s" }
        );
        if members.len() == 1 {
            let _ = writeln!(
                o,
                "  only this run: one run says nothing about seed-to-seed noise (`cairn run --replicate --seed N` adds one)"
            );
        }
        for m in members.iter().filter(|m| m.id != run.id) {
            let seeds = m.seeds.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            let metrics: Vec<String> = m
                .metrics
                .iter()
                .filter(|x| !x.key.starts_with("system/"))
                .take(3)
                .map(|x| format!("{}={}", x.key, output::number(x.last)))
                .collect();
            field(
                o,
                m.short_id.as_str(),
                &format!("{} seed {} {}", m.status, if seeds.is_empty() { "-" } else { &seeds }, metrics.join(" ")),
            );
        }
    }
}

fn lineage(o: &mut String, l: &Lineage) {
    let (parents, children) = (&l.parents, &l.children);
    if !parents.is_empty() || !children.is_empty() {
        let _ = writeln!(o, "lineage");
        for p in parents {
            field(o, "parent", &format!("{} {} ({})", p.short_id, p.name, p.status));
        }
        for c in children {
            field(o, "child", &format!("{} {} ({})", c.short_id, c.name, c.status));
        }
    }
}

fn metrics(o: &mut String, run: &Run) {
    let _ = writeln!(o, "metrics");
    if run.metrics.is_empty() {
        let _ = writeln!(o, "  (none logged)");
    } else {
        let rows: Vec<Vec<String>> = run
            .metrics
            .iter()
            .map(|m| {
                vec![
                    format!("  {}", m.key),
                    output::number(m.last),
                    m.last_step.to_string(),
                    m.min.map(output::number).unwrap_or_default(),
                    m.max.map(output::number).unwrap_or_default(),
                    m.count.to_string(),
                ]
            })
            .collect();
        o.push_str(&output::table(&["  key", "last", "step", "min", "max", "points"], &rows));
    }
}

fn artifacts(o: &mut String, artifacts: &[ArtifactInfo]) {
    let _ = writeln!(o, "artifacts");
    if artifacts.is_empty() {
        let _ = writeln!(o, "  (none)");
    }
    for a in artifacts {
        field(o, a.path.as_str(), &format!("{} bytes  blake3 {}", a.size, &a.blake3[..a.blake3.len().min(16)]));
    }
}
