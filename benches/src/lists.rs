//! MLflow's experiment and registered model searches over many entries: the official
//! client's calls (`experiments/search`, `registered-models/search`), each answer
//! checked, against a server holding `runs` experiments and as many models.

use crate::server::Server;
use crate::util::{Latency, thousands};
use crate::{Ctx, Row, Section};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const TEAMS: [&str; 4] = ["cv", "nlp", "rl", "speech"];
const REPS: usize = 50;
const WARMUP: usize = 5;

struct Shape {
    key: &'static str,
    label: String,
    path: &'static str,
    body: Value,
    /// Entries the answer must hold.
    expect: usize,
    field: &'static str,
}

/// Fills the server, then times each search shape.
pub async fn run(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let n = ctx.sizes.runs;
    let t0 = Instant::now();
    fill(ctx, srv, n).await?;
    let filled = t0.elapsed();
    let mid = n / 2;
    // Names are zero-padded to six digits: a four-digit prefix names a hundred of them.
    let prefix = format!("{mid:06}");
    let prefix = &prefix[..4];
    let with_prefix = (0..n).filter(|i| format!("{i:06}").starts_with(prefix)).count();
    let team_cv = (0..n).filter(|i| i % TEAMS.len() == 0).count();
    let shapes = vec![
        Shape {
            key: "lists_exp_first",
            label: "experiments: first page (newest first, 100)".into(),
            path: "/api/2.0/mlflow/experiments/search",
            body: json!({"max_results": 100}),
            expect: 100,
            field: "experiments",
        },
        Shape {
            key: "lists_exp_name",
            label: "experiments: name = one".into(),
            path: "/api/2.0/mlflow/experiments/search",
            body: json!({"max_results": 100, "filter": format!("name = 'exp-{mid:06}'")}),
            expect: 1,
            field: "experiments",
        },
        Shape {
            key: "lists_exp_prefix",
            label: format!("experiments: name LIKE prefix ({with_prefix} match)"),
            path: "/api/2.0/mlflow/experiments/search",
            body: json!({"max_results": 1000, "filter": format!("name LIKE 'exp-{prefix}%'"), "order_by": ["name"]}),
            expect: with_prefix.min(1000),
            field: "experiments",
        },
        Shape {
            key: "lists_exp_tag",
            label: format!("experiments: tags.team = 'cv' ({} match), first 100", thousands(team_cv as u64)),
            path: "/api/2.0/mlflow/experiments/search",
            body: json!({"max_results": 100, "filter": "tags.team = 'cv'"}),
            expect: 100.min(team_cv),
            field: "experiments",
        },
        Shape {
            key: "lists_model_first",
            label: "registered models: first page (by name, 100)".into(),
            path: "/api/2.0/mlflow/registered-models/search",
            body: json!({"max_results": 100}),
            expect: 100,
            field: "registered_models",
        },
        Shape {
            key: "lists_model_name",
            label: "registered models: name = one".into(),
            path: "/api/2.0/mlflow/registered-models/search",
            body: json!({"max_results": 100, "filter": format!("name = 'model-{mid:06}'")}),
            expect: 1,
            field: "registered_models",
        },
        Shape {
            key: "lists_model_prefix",
            label: format!("registered models: name LIKE prefix ({with_prefix} match)"),
            path: "/api/2.0/mlflow/registered-models/search",
            body: json!({"max_results": 1000, "filter": format!("name LIKE 'model-{prefix}%'")}),
            expect: with_prefix.min(1000),
            field: "registered_models",
        },
        Shape {
            key: "lists_model_updated",
            label: "registered models: newest updated first (100)".into(),
            path: "/api/2.0/mlflow/registered-models/search",
            body: json!({"max_results": 100, "order_by": ["last_updated_timestamp DESC"]}),
            expect: 100,
            field: "registered_models",
        },
    ];
    let mut rows = Vec::new();
    for shape in &shapes {
        let mut samples = Vec::with_capacity(REPS);
        for rep in 0..WARMUP + REPS {
            let t = Instant::now();
            let resp = ctx.client.post(format!("{}{}", srv.url, shape.path)).json(&shape.body).send().await?;
            let status = resp.status();
            let body: Value = resp.json().await.with_context(|| format!("{}: not JSON", shape.key))?;
            let took = t.elapsed();
            ensure!(status.is_success(), "{}: {status}: {body}", shape.key);
            let got = body[shape.field].as_array().map_or(0, Vec::len);
            ensure!(got == shape.expect, "{}: {got} entries, expected {}", shape.key, shape.expect);
            if rep >= WARMUP {
                samples.push(took);
            }
        }
        let lat = Latency::of(&samples);
        rows.push(Row {
            key: shape.key,
            label: shape.label.clone(),
            value: lat.describe(),
            target: "p50 ≤ 20 ms",
            ok: ctx.judge(lat.p50 <= Duration::from_millis(20)),
        });
    }
    let notes = vec![format!(
        "lists: {} experiments and {} registered models made through MLflow's REST API in {:.1} s; {REPS} timed \
         searches of each shape after {WARMUP} unmeasured",
        thousands(n as u64),
        thousands(n as u64),
        filled.as_secs_f64()
    )];
    Ok(Section { rows, notes })
}

/// `n` experiments (`exp-000000`, …) and `n` registered models (`model-000000`, …), each
/// tagged with a team, made by concurrent clients.
async fn fill(ctx: &Ctx, srv: &Server, n: usize) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..ctx.sizes.load_concurrency {
        let (next, client) = (next.clone(), ctx.client.clone());
        let exp_url = format!("{}/api/2.0/mlflow/experiments/create", srv.url);
        let model_url = format!("{}/api/2.0/mlflow/registered-models/create", srv.url);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let tags = json!([{"key": "team", "value": TEAMS[i % TEAMS.len()]}]);
                for (url, body) in [
                    (&exp_url, json!({"name": format!("exp-{i:06}"), "tags": tags})),
                    (&model_url, json!({"name": format!("model-{i:06}"), "tags": tags})),
                ] {
                    let resp = client.post(url).json(&body).send().await?;
                    ensure!(resp.status().is_success(), "creating {body}: {}", resp.text().await.unwrap_or_default());
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}
