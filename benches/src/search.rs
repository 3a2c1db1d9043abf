//! Run search over many runs, and server memory after loading them.

use crate::server::Server;
use crate::util::{self, Latency, XorShift, thousands};
use crate::{Ctx, Row, Section};
use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const BATCH_SIZES: [i64; 4] = [16, 32, 64, 128];
const OPTIMIZERS: [&str; 3] = ["adam", "sgd", "adamw"];
const AUGS: [&str; 3] = ["mixup", "cutmix", "none"];

/// What one generated run holds (deterministic in its index).
#[derive(Debug, Clone)]
struct Spec {
    lr: f64,
    batch_size: i64,
    optimizer: &'static str,
    aug: &'static str,
    /// val_acc at steps 0 and 1; the last is the one filters see.
    val_acc: [f64; 2],
}

impl Spec {
    fn of(i: usize) -> Spec {
        let mut r = XorShift::new(0xC0FFEE ^ (i as u64).wrapping_mul(0x1000_0001));
        let lr = 10f64.powf(-5.0 + 4.0 * r.next_f64());
        let batch_size = *r.pick(&BATCH_SIZES);
        let optimizer = *r.pick(&OPTIMIZERS);
        let aug = *r.pick(&AUGS);
        let last = 0.5 + 0.5 * r.next_f64();
        let first = last * (0.7 + 0.3 * r.next_f64());
        Spec { lr, batch_size, optimizer, aug, val_acc: [first, last] }
    }
}

struct Query {
    key: &'static str,
    label: &'static str,
    filter: Option<&'static str>,
    order_by: Option<&'static str>,
    /// Runs that match, counted from the generated specs.
    expected: usize,
}

/// Loads the runs, reads the server's memory (if `rss`), then times the queries (if `queries`).
pub async fn run(ctx: &Ctx, srv: &Server, queries: bool, rss: bool) -> Result<Section> {
    let s = &ctx.sizes;
    let n = s.runs;
    let specs: Arc<Vec<Spec>> = Arc::new((0..n).map(Spec::of).collect());

    // Load with a few concurrent workers; each run is a create plus one metrics post.
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let typed = cairn_client::Client::new(&srv.url)?;
    for _ in 0..s.load_concurrency {
        let (client, next, specs) = (typed.clone(), next.clone(), specs.clone());
        let progress_every = (n / 10).max(1);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= specs.len() {
                    return anyhow::Ok(());
                }
                let sp = &specs[i];
                let config = json!({"lr": sp.lr, "batch_size": sp.batch_size, "optimizer": {"name": sp.optimizer}});
                let new = cairn_domain::NewRun {
                    project: "bench".into(),
                    hypothesis: Some("bench".into()),
                    name: Some(format!("search-{i}")),
                    config: config.as_object().cloned().unwrap_or_default(),
                    tags: [("aug".to_owned(), sp.aug.to_owned())].into(),
                    ..Default::default()
                };
                let run = client.create_run(&new).await?;
                let batch = cairn_api::runs::MetricsBatch {
                    series: vec![cairn_api::runs::ColumnarSeries {
                        key: "val_acc".into(),
                        steps: vec![0, 1],
                        values: sp.val_acc.to_vec(),
                        timestamps: None,
                    }],
                    ..Default::default()
                };
                let accepted = client.log_metrics(&run.id.to_string(), &batch).await?;
                ensure!(accepted == 2, "metrics post answered {accepted}");
                if (i + 1) % progress_every == 0 {
                    eprintln!("  loaded {} runs", thousands(i as u64 + 1));
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a loading task panicked")??;
    }
    let load_time = t0.elapsed();
    let (rss_after_load, _) = srv.memory()?;

    let mut rows = vec![Row {
        key: "search_load",
        label: format!(
            "load {} runs (create + 2 val_acc points, {} concurrent)",
            thousands(n as u64),
            s.load_concurrency
        ),
        value: format!(
            "{} runs/s ({:.1} s)",
            thousands(util::rate(n as u64, load_time) as u64),
            load_time.as_secs_f64()
        ),
        target: "-",
        ok: None,
    }];
    let mut notes = Vec::new();

    if queries {
        let count = |f: &dyn Fn(&Spec) -> bool| specs.iter().filter(|s| f(s)).count();
        let qs = [
            Query {
                key: "search_sort",
                label: "filter + sort",
                filter: Some("params.lr < 0.01 and metrics.val_acc > 0.9"),
                order_by: Some("metrics.val_acc desc"),
                expected: count(&|s| s.lr < 0.01 && s.val_acc[1] > 0.9),
            },
            Query {
                key: "search_selective",
                label: "selective filter",
                filter: Some(r#"params.optimizer.name = "sgd" and tags.aug = "mixup" and params.batch_size = 32"#),
                order_by: None,
                expected: count(&|s| s.optimizer == "sgd" && s.aug == "mixup" && s.batch_size == 32),
            },
            Query {
                key: "search_newest",
                label: "unfiltered newest-first page",
                filter: None,
                order_by: None,
                expected: n,
            },
        ];
        for q in &qs {
            let (lat, returned) = time_query(ctx, srv, q).await?;
            rows.push(Row {
                key: q.key,
                label: format!("search {}, {} runs, p50 (limit 100)", q.label, thousands(n as u64)),
                value: lat.describe(),
                target: "p50 ≤ 20 ms",
                ok: ctx.judge(lat.p50 <= Duration::from_millis(20)),
            });
            notes.push(format!(
                "search {}: filter {}, order_by {}: {} matching runs, first page {} runs (checked); \
                 {} timed queries after {} warm-up, time to full body",
                q.label,
                q.filter.unwrap_or("(none)"),
                q.order_by.unwrap_or("(default: newest first)"),
                thousands(q.expected as u64),
                returned,
                s.queries,
                s.warmup_queries
            ));
        }
    }

    if queries {
        rows.push(time_ls(ctx, srv, n, &mut notes)?);
    }

    if rss {
        let (_, hwm) = srv.memory()?;
        rows.push(Row {
            key: "rss",
            label: format!("server RSS after loading {} runs (peak)", thousands(n as u64)),
            value: format!("{} (peak {})", util::mb(rss_after_load), util::mb(hwm)),
            target: "≤ 150 MB",
            ok: ctx.judge(rss_after_load <= 150_000_000),
        });
        notes.push(format!(
            "rss: VmRSS of pid {} right after loading (before queries); peak is VmHWM at the end{}",
            srv.pid,
            if queries { " of the queries" } else { "" }
        ));
    }
    Ok(Section { rows, notes })
}

async fn time_query(ctx: &Ctx, srv: &Server, q: &Query) -> Result<(Latency, usize)> {
    let mut params = vec![("project", "bench"), ("limit", "100")];
    if let Some(f) = q.filter {
        params.push(("filter", f));
    }
    if let Some(o) = q.order_by {
        params.push(("order_by", o));
    }
    let url = reqwest::Url::parse_with_params(&srv.api("/runs"), &params)?;

    // Correctness, once, outside the timing.
    let page = util::get_json(&ctx.client, url.as_str()).await?;
    let runs = page["runs"].as_array().context("search: no `runs` array")?;
    ensure!(
        runs.len() == q.expected.min(100),
        "VERIFICATION FAILED: search {} returned {} runs; {} match, limit 100",
        q.label,
        runs.len(),
        q.expected
    );
    check_page(q, runs)?;

    let s = &ctx.sizes;
    let mut samples = Vec::with_capacity(s.queries);
    for i in 0..s.warmup_queries + s.queries {
        let t = Instant::now();
        let resp = ctx.client.get(url.clone()).send().await.with_context(|| format!("GET {url}"))?;
        let body = util::ok(resp, &format!("GET {url}")).await?.bytes().await?;
        let d = t.elapsed();
        ensure!(!body.is_empty(), "GET {url}: empty body");
        if i >= s.warmup_queries {
            samples.push(d);
        }
    }
    Ok((Latency::of(&samples), runs.len()))
}

fn last_val_acc(run: &Value) -> Option<f64> {
    run["metrics"].as_array()?.iter().find(|m| m["key"] == "val_acc")?["last"].as_f64()
}

/// Checks that a returned page honours its filter and order.
fn check_page(q: &Query, runs: &[Value]) -> Result<()> {
    match q.key {
        "search_sort" => {
            let mut prev = f64::INFINITY;
            for r in runs {
                let lr = r["config"]["lr"].as_f64().unwrap_or(f64::NAN);
                let acc = last_val_acc(r).unwrap_or(f64::NAN);
                ensure!(
                    lr < 0.01 && acc > 0.9 && acc <= prev,
                    "VERIFICATION FAILED: search {}: run {} (lr {lr}, val_acc {acc}) breaks the filter or order",
                    q.label,
                    r["id"]
                );
                prev = acc;
            }
        }
        "search_selective" => {
            for r in runs {
                ensure!(
                    r["config"]["optimizer"]["name"] == "sgd"
                        && r["tags"]["aug"] == "mixup"
                        && r["config"]["batch_size"] == 32,
                    "VERIFICATION FAILED: search {}: run {} does not match",
                    q.label,
                    r["id"]
                );
            }
        }
        _ => {
            let created: Vec<i64> = runs.iter().map(|r| r["created_at"].as_i64().unwrap_or(0)).collect();
            ensure!(
                created.windows(2).all(|w| w[0] >= w[1]),
                "VERIFICATION FAILED: search {}: not newest first",
                q.label
            );
        }
    }
    Ok(())
}

/// Milliseconds of one `cairn ls` process, checked to list the 50 newest runs.
fn one_ls(program: &std::path::Path, args: &[&str], home: &std::path::Path) -> Result<Duration> {
    let t0 = Instant::now();
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(home)
        .env("HOME", home)
        .env("CAIRN_CONFIG_DIR", home.join("config"))
        .env("CAIRN_HOME", home)
        .env_remove("CAIRN_SERVER")
        .env_remove("CAIRN_TOKEN")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}", program.display()))?;
    let took = t0.elapsed();
    ensure!(out.status.success(), "{} {}: {}", program.display(), args.join(" "), String::from_utf8_lossy(&out.stderr));
    let rows = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("search-")).count();
    ensure!(rows == 50, "{} {} listed {rows} runs, not 50", program.display(), args.join(" "));
    Ok(took)
}

/// `cairn ls` (the 50 newest runs) as a whole process, through the client and the
/// server; and, given an older cairn, the same listing read from the store directly.
fn time_ls(ctx: &Ctx, srv: &Server, n: usize, notes: &mut Vec<String>) -> Result<Row> {
    const SAMPLES: usize = 20;
    let scratch = tempfile_dir(srv)?;
    let client_args = ["--server", srv.url.as_str(), "ls", "--project", "bench"];
    let mut through = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 2 {
        let d = one_ls(&ctx.cairn, &client_args, &scratch)?;
        if i >= 2 {
            through.push(d);
        }
    }
    let through = Latency::of(&through);
    let Some(old) = &ctx.cairn_direct else {
        notes.push(format!(
            "ls: {SAMPLES} `cairn --server URL ls --project bench` processes (50 rows), after 2 warm-up"
        ));
        return Ok(Row {
            key: "ls",
            label: format!("`cairn ls` through the client, {} runs, p50", thousands(n as u64)),
            value: through.describe(),
            target: "≤ direct + 20 ms",
            ok: None,
        });
    };
    // The older cairn refuses a newer schema: it reads a copy marked with its own
    // version (the newer schema only adds tables and a column it does not read).
    let copy = scratch.join("direct.db");
    let _ = std::fs::remove_file(&copy);
    let out = std::process::Command::new(&ctx.cairn)
        .args(["admin", "backup", "--store", srv.store_url.as_str(), "--to"])
        .arg(&copy)
        .output()
        .context("cannot copy the store")?;
    ensure!(out.status.success(), "cairn admin backup: {}", String::from_utf8_lossy(&out.stderr));
    let script = "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); \
                  c.execute(\"UPDATE cairn_meta SET value = '7' WHERE key = 'schema_version'\"); c.commit()";
    let status = std::process::Command::new(&ctx.python).args(["-c", script]).arg(&copy).status()?;
    ensure!(status.success(), "cannot mark the copy's schema version");
    let copy_s = copy.display().to_string();
    let direct_args = ["ls", "--project", "bench", "--store", copy_s.as_str()];
    let mut direct = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 2 {
        let d = one_ls(old, &direct_args, &scratch)?;
        if i >= 2 {
            direct.push(d);
        }
    }
    let direct = Latency::of(&direct);
    notes.push(format!(
        "ls: {SAMPLES} processes each (after 2 warm-up), 50 rows: `cairn --server URL ls` against {} `ls --store` \
         (reads the store directly)",
        old.display()
    ));
    let extra = through.p50.as_secs_f64() * 1000.0 - direct.p50.as_secs_f64() * 1000.0;
    Ok(Row {
        key: "ls",
        label: format!("`cairn ls` through the client vs. the store read directly, {} runs, p50", thousands(n as u64)),
        value: format!("{} vs. {} ({extra:+.1} ms)", util::ms(through.p50), util::ms(direct.p50)),
        target: "≤ direct + 20 ms",
        ok: ctx.judge(extra <= 20.0),
    })
}

/// An empty folder of the server's home for the listing processes (no embedded
/// server of their own is found there: they name theirs).
fn tempfile_dir(srv: &Server) -> Result<std::path::PathBuf> {
    let d = srv.home().join("ls-scratch");
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}
