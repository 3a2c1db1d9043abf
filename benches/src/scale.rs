//! `cairn-scale-bench`: Cairn at a hundred thousand and a million runs, on SQLite and
//! PostgreSQL. One command builds each store through the bulk API (`POST
//! /api/v1/runs/batch`) once, keeps it for later runs, then times every filter shape,
//! sort and analysis against it, and a 100,000-row CSV import with its re-import.
//! Every figure is checked before it is reported: counts against the generated runs,
//! orders, values. The server's CPU time per request is read from /proc.
//!
//! ```text
//! cargo build --release -p cairn -p cairn-bench
//! ./target/release/cairn-scale-bench --cairn ./target/release/cairn --runs 100000,1000000 --markdown
//! ```

#[allow(dead_code)]
mod server;
#[allow(dead_code)]
mod util;

use anyhow::{Context, Result, bail, ensure};
use clap::Parser;
use serde_json::{Value, json};
use server::{Backend, Server};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{Latency, XorShift, thousands};

#[derive(Parser)]
#[command(name = "cairn-scale-bench", about = "Cairn at 100,000 and 1,000,000 runs: search, analyses, bulk writes")]
struct Args {
    /// The cairn binary
    #[arg(long)]
    cairn: PathBuf,
    /// Store sizes to measure (runs in one project)
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000")]
    runs: Vec<usize>,
    /// sqlite, postgres or both
    #[arg(long, default_value = "both")]
    backend: String,
    #[arg(long, default_value = "postgres://root@127.0.0.1:5432/postgres")]
    pg_admin: String,
    /// Where the built stores are kept between runs (SQLite homes; PostgreSQL
    /// databases are named cairn_scale_N)
    #[arg(long, default_value = "target/scale-stores")]
    keep: PathBuf,
    /// Timed repetitions per query
    #[arg(long, default_value_t = 30)]
    reps: usize,
    /// Rows of the CSV import (0: skip it)
    #[arg(long, default_value_t = 100_000)]
    csv_rows: usize,
    /// Also print one markdown table
    #[arg(long)]
    markdown: bool,
    /// Skip the web UI's figures (Chromium through `node web/perf/scale.mjs`; the UI
    /// must be built: `cd web && npm ci && npm run build`)
    #[arg(long)]
    no_ui: bool,
    /// The web UI's folder
    #[arg(long, default_value = "web")]
    web: PathBuf,
}

const PROJECT: &str = "scale";
const OPTIMIZERS: [&str; 4] = ["adam", "sgd", "adamw", "lamb"];
const AUGS: [&str; 5] = ["none", "mixup", "cutout", "randaug", "autoaug"];
const BATCHES: [i64; 6] = [16, 32, 64, 128, 256, 512];
const TEAMS: [&str; 3] = ["vision", "speech", "nlp"];
const OWNERS: [&str; 6] = ["ana", "bo", "cy", "di", "ed", "fa"];
const DAY: i64 = 86_400_000;

/// One generated run, a pure function of its index.
#[derive(Debug, Clone)]
struct Spec {
    lr: f64,
    optimizer: &'static str,
    aug: &'static str,
    batch: i64,
    dropout: Option<f64>,
    team: &'static str,
    owner: &'static str,
    failed: bool,
    val_acc: f64,
    loss: f64,
    created: i64,
}

impl Spec {
    fn of(i: usize, n: usize, now: i64) -> Spec {
        let mut r = XorShift::new(0x5CA1E ^ (i as u64).wrapping_mul(0x9E37_79B9));
        // Six significant digits: nearly every run has its own learning rate.
        let lr: f64 = format!("{:.5e}", 10f64.powf(-5.0 + 4.0 * r.next_f64())).parse().unwrap_or(1e-3);
        let optimizer = *r.pick(&OPTIMIZERS);
        let aug = *r.pick(&AUGS);
        let batch = *r.pick(&BATCHES);
        let dropout = (r.next_f64() < 0.9).then(|| (r.next_f64() * 500.0).round() / 1000.0);
        let team = *r.pick(&TEAMS);
        let owner = *r.pick(&OWNERS);
        let failed = r.next_f64() < 0.02;
        let bonus = if aug == "mixup" { 0.03 } else { 0.0 } - (lr.log10() + 3.0).abs() * 0.02;
        let val_acc = ((0.6 + 0.3 * r.next_f64() + bonus) * 1e4).round() / 1e4;
        let loss = ((0.02 + 2.0 * r.next_f64()) * 1e4).round() / 1e4;
        // A year of history, oldest first: the last week holds about 2 % of the runs.
        let created = now - 365 * DAY + (i as i64) * (365 * DAY / n.max(1) as i64);
        Spec { lr, optimizer, aug, batch, dropout, team, owner, failed, val_acc, loss, created }
    }

    fn body(&self, i: usize) -> Value {
        let mut config = json!({"lr": self.lr, "optimizer": self.optimizer, "aug": self.aug, "batch_size": self.batch});
        if let Some(d) = self.dropout {
            config["dropout"] = json!(d);
        }
        json!({
            "project": PROJECT,
            "name": format!("run-{i}"),
            "hypothesis": "scale",
            "config": config,
            "tags": {"team": self.team, "owner": self.owner},
            "status": if self.failed { "failed" } else { "finished" },
            "metrics": {"val_acc": self.val_acc, "loss": self.loss},
            "created_at": self.created,
        })
    }
}

/// A search shape: its filter, order, and which generated runs it matches.
struct Shape {
    key: &'static str,
    label: &'static str,
    filter: Option<&'static str>,
    order_by: Option<&'static str>,
    /// Whether run `i` (its spec) matches.
    matches: fn(usize, &Spec) -> bool,
    /// The value the answer is ordered by, to check its order.
    sort: Option<fn(&Spec) -> f64>,
    descending: bool,
}

fn shapes() -> Vec<Shape> {
    vec![
        Shape {
            key: "s_range",
            label: "single range: params.lr < 0.0001",
            filter: Some("params.lr < 0.0001"),
            order_by: None,
            matches: |_, s| s.lr < 1e-4,
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_range_sort",
            label: "range + sort: params.lr < 0.001 and metrics.val_acc > 0.85, by val_acc",
            filter: Some("params.lr < 0.001 and metrics.val_acc > 0.85"),
            order_by: Some("metrics.val_acc DESC"),
            matches: |_, s| s.lr < 1e-3 && s.val_acc > 0.85,
            sort: Some(|s| s.val_acc),
            descending: true,
        },
        Shape {
            key: "s_eq1",
            label: "1 equality: optimizer",
            filter: Some("params.optimizer = \"lamb\""),
            order_by: None,
            matches: |_, s| s.optimizer == "lamb",
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_eq2",
            label: "2 equalities: optimizer, aug",
            filter: Some("params.optimizer = \"lamb\" and params.aug = \"mixup\""),
            order_by: None,
            matches: |_, s| s.optimizer == "lamb" && s.aug == "mixup",
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_eq3",
            label: "3 equalities: optimizer, aug, batch_size",
            filter: Some("params.optimizer = \"lamb\" and params.aug = \"mixup\" and params.batch_size = 64"),
            order_by: None,
            matches: |_, s| s.optimizer == "lamb" && s.aug == "mixup" && s.batch == 64,
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_in",
            label: "in list: aug in (cutout, randaug)",
            filter: Some("params.aug in (\"cutout\", \"randaug\")"),
            order_by: None,
            matches: |_, s| s.aug == "cutout" || s.aug == "randaug",
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_like",
            label: "like: name like \"run-1234%\"",
            filter: Some("name like \"run-1234%\""),
            order_by: None,
            matches: |i, _| i.to_string().starts_with("1234"),
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_null",
            label: "is null: params.dropout is null",
            filter: Some("params.dropout is null"),
            order_by: None,
            matches: |_, s| s.dropout.is_none(),
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_or",
            label: "or of two keys: optimizer = lamb or tags.team = speech",
            filter: Some("params.optimizer = \"lamb\" or tags.team = \"speech\""),
            order_by: None,
            matches: |_, s| s.optimizer == "lamb" || s.team == "speech",
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_agg",
            label: "aggregate: min(metrics.loss) < 0.05",
            filter: Some("min(metrics.loss) < 0.05"),
            order_by: None,
            matches: |_, s| s.loss < 0.05,
            sort: None,
            descending: true,
        },
        Shape {
            key: "s_sort_param",
            label: "sort by a param: params.lr",
            filter: None,
            order_by: Some("params.lr"),
            matches: |_, _| true,
            sort: Some(|s| s.lr),
            descending: false,
        },
        Shape {
            key: "s_sort_metric",
            label: "sort by a metric: metrics.val_acc DESC",
            filter: None,
            order_by: Some("metrics.val_acc DESC"),
            matches: |_, _| true,
            sort: Some(|s| s.val_acc),
            descending: true,
        },
        Shape {
            key: "s_sort_tag",
            label: "sort by a tag: tags.team",
            filter: None,
            order_by: Some("tags.team"),
            matches: |_, _| true,
            sort: None,
            descending: false,
        },
    ]
}

/// One reported figure.
struct Row {
    key: String,
    label: String,
    value: String,
    target: &'static str,
    ok: Option<bool>,
}

struct Bench<'a> {
    args: &'a Args,
    http: reqwest::Client,
}

/// User plus system CPU time of a process, from /proc.
fn cpu_of(pid: u32) -> Duration {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = text.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Fields after the command: state is 0, utime 11, stime 12; 100 ticks a second.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

impl Bench<'_> {
    async fn post(&self, srv: &Server, path: &str, body: &Value) -> Result<Value> {
        let resp = self.http.post(srv.api(path)).json(body).send().await.with_context(|| format!("POST {path}"))?;
        Ok(util::ok(resp, &format!("POST {path}")).await?.json().await?)
    }

    async fn get(&self, srv: &Server, path: &str) -> Result<Value> {
        util::get_json(&self.http, &srv.api(path)).await
    }

    /// Times `reps` calls (after a warm-up) and the most server CPU one of them took.
    async fn time<F, Fut>(&self, srv: &Server, reps: usize, mut call: F) -> Result<(Latency, Duration, Value)>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Value>>,
    {
        let mut last = call().await?;
        let mut samples = Vec::with_capacity(reps);
        let mut cpu = Duration::ZERO;
        for _ in 0..reps {
            let c0 = cpu_of(srv.pid);
            let t0 = Instant::now();
            last = call().await?;
            samples.push(t0.elapsed());
            cpu = cpu.max(cpu_of(srv.pid).saturating_sub(c0));
        }
        Ok((Latency::of(&samples), cpu, last))
    }

    /// The store of `n` runs for `backend`, built through the bulk API unless kept
    /// from an earlier run; and how long building took, when it was built now.
    async fn store(&self, backend: Backend, n: usize, now: i64) -> Result<(Server, Option<Duration>)> {
        let dir = self.args.keep.join(format!("{}-{n}", backend.name()));
        let store = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(kept_database(&self.args.pg_admin, &format!("cairn_scale_{n}"))?),
        };
        let srv = Server::keep(&self.args.cairn, &dir, store.as_deref()).await?;
        let have = match self.get(&srv, &format!("/projects/{PROJECT}")).await {
            Ok(p) => p["run_count"].as_u64().unwrap_or(0) as usize,
            Err(_) => 0,
        };
        if have == n {
            self.settle(&srv).await?;
            return Ok((srv, None));
        }
        ensure!(
            have == 0,
            "the kept store in {} holds {have} runs, not {n}: remove it (and for PostgreSQL drop database \
             cairn_scale_{n}) to build it again",
            dir.display()
        );
        self.post(&srv, "/projects", &json!({"name": PROJECT, "description": "cairn-scale-bench"})).await?;
        let t0 = Instant::now();
        let specs: Arc<Vec<Spec>> = Arc::new((0..n).map(|i| Spec::of(i, n, now)).collect());
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (http, url, specs, next) = (self.http.clone(), srv.api("/runs/batch"), specs.clone(), next.clone());
            tasks.spawn(async move {
                loop {
                    let start = next.fetch_add(1000, std::sync::atomic::Ordering::Relaxed);
                    if start >= specs.len() {
                        return anyhow::Ok(());
                    }
                    let end = (start + 1000).min(specs.len());
                    let runs: Vec<Value> = (start..end).map(|i| specs[i].body(i)).collect();
                    let resp = http.post(&url).json(&json!({ "runs": runs })).send().await?;
                    util::ok(resp, "POST /runs/batch").await?;
                    if (end / 1000).is_multiple_of(100) {
                        eprintln!("  {} runs written", thousands(end as u64));
                    }
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        let took = t0.elapsed();
        let p = self.get(&srv, &format!("/projects/{PROJECT}")).await?;
        ensure!(
            p["run_count"].as_u64() == Some(n as u64),
            "after the fill the project holds {} runs, not {n}",
            p["run_count"]
        );
        self.settle(&srv).await?;
        if let Some(url) = &store {
            // With autovacuum off the server vacuums and analyses tables that changed by
            // a tenth (every 10 s); measure with the statistics a running server has.
            let fresh = "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema() \
                         AND (n_mod_since_analyze > n_live_tup / 10 + 500 \
                         OR (n_mod_since_analyze > 0 AND last_analyze IS NULL AND last_autoanalyze IS NULL) \
                         OR (current_setting('autovacuum') = 'off' \
                         AND n_ins_since_vacuum + n_dead_tup > n_live_tup / 10 + 500))";
            let t = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let out = Command::new("psql").args([url.as_str(), "-tAq", "-c", fresh]).output()?;
                let left = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if left == "0" || t.elapsed() > Duration::from_secs(300) {
                    break;
                }
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        Ok((srv, Some(took)))
    }

    /// A primary metric and a baseline (run-0), so the review compares.
    async fn settle(&self, srv: &Server) -> Result<()> {
        let patch = json!({"primary_metric": {"key": "val_acc", "direction": "increase"}});
        let resp = self.http.patch(srv.api(&format!("/projects/{PROJECT}"))).json(&patch).send().await?;
        util::ok(resp, "PATCH project").await?;
        let first = self
            .post(srv, "/runs/search", &json!({"project": PROJECT, "filter": "name = \"run-0\"", "limit": 1}))
            .await?;
        let base = first["runs"][0]["id"].as_str().context("run-0 is missing")?.to_owned();
        let resp = self
            .http
            .put(srv.api(&format!("/projects/{PROJECT}/baseline")))
            .json(&json!({"reference": base, "note": "scale bench"}))
            .send()
            .await?;
        util::ok(resp, "PUT baseline").await?;
        Ok(())
    }

    async fn measure(&self, backend: Backend, n: usize, rows: &mut Vec<Row>) -> Result<()> {
        let now = chrono_now();
        let (srv, built) = self.store(backend, n, now).await?;
        // The kept store's runs were generated with the `now` of the build: read it back.
        let first = self
            .post(&srv, "/runs/search", &json!({"project": PROJECT, "filter": "name = \"run-0\"", "limit": 1}))
            .await?;
        let created0 = first["runs"][0]["created_at"].as_i64().context("run-0 has no created_at")?;
        let built_now = created0 + 365 * DAY;
        let specs: Vec<Spec> = (0..n).map(|i| Spec::of(i, n, built_now)).collect();
        let size = format!("{} runs", thousands(n as u64));
        let tag = |k: &str| format!("{k}@{n}");
        if let Some(t) = built {
            let rate = n as f64 / t.as_secs_f64();
            rows.push(Row {
                key: tag("fill"),
                label: format!("fill through POST /runs/batch ({size})"),
                value: format!("{:.1} s ({} runs/s)", t.as_secs_f64(), thousands(rate as u64)),
                target: "≤ 5 min at 1M",
                ok: (n >= 1_000_000).then_some(t <= Duration::from_secs(300)),
            });
        }
        let reps = self.args.reps;
        let mut worst_cpu = Duration::ZERO;
        for shape in shapes() {
            let mut body = json!({"project": PROJECT, "limit": 100});
            if let Some(f) = shape.filter {
                body["filter"] = json!(f);
            }
            if let Some(o) = shape.order_by {
                body["order_by"] = json!(o);
            }
            let (lat, cpu, page) = self.time(&srv, reps, || self.post(&srv, "/runs/search", &body)).await?;
            worst_cpu = worst_cpu.max(cpu);
            check_page(&shape, &page, &specs).with_context(|| format!("{}: wrong answer", shape.label))?;
            rows.push(Row {
                key: tag(shape.key),
                label: format!("search, {} ({size})", shape.label),
                value: lat.describe(),
                target: "p50 ≤ 20 ms, p95 ≤ 50 ms",
                ok: Some(lat.p50 <= Duration::from_millis(20) && lat.p95 <= Duration::from_millis(50)),
            });
        }
        // A rare value: the learning rate of one run (a search that starts from the index).
        let target = specs[n / 2].lr;
        let body = json!({"project": PROJECT, "limit": 100, "filter": format!("params.lr = {target:?}")});
        let (lat, cpu, page) = self.time(&srv, reps, || self.post(&srv, "/runs/search", &body)).await?;
        worst_cpu = worst_cpu.max(cpu);
        let want: Vec<usize> = (0..n).rev().filter(|&i| specs[i].lr == target).collect();
        let got: Vec<usize> =
            page["runs"].as_array().context("no runs")?.iter().map(index_of).collect::<Result<_>>()?;
        ensure!(got == want, "rare equality: got runs {got:?}, expected {want:?}");
        rows.push(Row {
            key: tag("s_rare"),
            label: format!("search, 1 rare equality: params.lr = {target:?} ({size})"),
            value: lat.describe(),
            target: "p50 ≤ 20 ms, p95 ≤ 50 ms",
            ok: Some(lat.p50 <= Duration::from_millis(20) && lat.p95 <= Duration::from_millis(50)),
        });
        // Analyses.
        let tried_path = format!("/projects/{PROJECT}/tried?param=aug&metric=val_acc");
        let summary_path = format!("/projects/{PROJECT}/summary?days=7");
        let review_path = format!("/projects/{PROJECT}/review?days=7");
        let insights_path = format!("/projects/{PROJECT}/insights?metric=val_acc");
        let (lat, cpu, tried) = self.time(&srv, reps, || self.get(&srv, &tried_path)).await?;
        worst_cpu = worst_cpu.max(cpu);
        check_tried(&tried, &specs)?;
        rows.push(analysis_row(tag("tried"), format!("tried aug ({size})"), lat, 200));
        let (lat, cpu, summary) = self.time(&srv, reps, || self.get(&srv, &summary_path)).await?;
        worst_cpu = worst_cpu.max(cpu);
        ensure!(summary["runs"].as_u64() == Some(n as u64), "summary counts {} runs, not {n}", summary["runs"]);
        rows.push(analysis_row(tag("summary"), format!("summary ({size})"), lat, 100));
        let review_reps = reps.min(10);
        let (lat, cpu, review) = self.time(&srv, review_reps, || self.get(&srv, &review_path)).await?;
        worst_cpu = worst_cpu.max(cpu);
        let since = review["since"].as_i64().context("review has no since")?;
        let expect = specs.iter().filter(|s| s.created >= since).count() as i64;
        let got = review["runs"].as_i64().unwrap_or(-1);
        ensure!(
            (got - expect).abs() <= expect / 100 + 2,
            "review counts {got} runs this week, expected about {expect}"
        );
        rows.push(analysis_row(tag("review"), format!("weekly review ({size})"), lat, 500));
        let (lat, cpu, ins) = self.time(&srv, reps.min(5), || self.get(&srv, &insights_path)).await?;
        worst_cpu = worst_cpu.max(cpu);
        let qualifying = specs.iter().filter(|s| !s.failed).count() as u64;
        ensure!(
            ins["qualifying"].as_u64() == Some(qualifying),
            "insights: {} qualifying, expected {qualifying}",
            ins["qualifying"]
        );
        ensure!(ins["analysed"].as_u64().unwrap_or(u64::MAX) <= 20_000, "insights analysed more than its sample");
        ensure!(qualifying <= 20_000 || ins["sample"].is_string(), "insights does not state its sample");
        let top = ins["insights"]["importance"][0]["param"].as_str().unwrap_or("");
        ensure!(top == "lr" || top == "aug", "insights ranks '{top}' first; the data depends on lr and aug");
        rows.push(analysis_row(tag("insights"), format!("insights, stating its sample ({size})"), lat, 3000));
        rows.push(Row {
            key: tag("cpu"),
            label: format!("most server CPU for one request above ({size})"),
            value: format!("{:.2} s", worst_cpu.as_secs_f64()),
            target: "≤ 5 s",
            ok: Some(worst_cpu <= Duration::from_secs(5)),
        });
        if !self.args.no_ui {
            self.ui(&srv, n, &tag, &size, rows)?;
        }
        let (rss, _) = srv.memory()?;
        rows.push(Row {
            key: tag("rss"),
            label: format!("server RSS after the above ({size})"),
            value: util::mb(rss),
            target: "",
            ok: None,
        });
        Ok(())
    }

    /// The web UI on this store, in Chromium (`web/perf/scale.mjs`): first paint, sort,
    /// filter, a jump to the middle, the count and the parallel coordinates' sample,
    /// each checked against the server's answers.
    fn ui(&self, srv: &Server, n: usize, tag: &dyn Fn(&str) -> String, size: &str, rows: &mut Vec<Row>) -> Result<()> {
        let out = Command::new("node")
            .current_dir(&self.args.web)
            .args(["perf/scale.mjs", "--url", &srv.url, "--project", PROJECT, "--runs", &n.to_string()])
            .stderr(std::process::Stdio::inherit())
            .output()
            .context("node web/perf/scale.mjs (is Node installed? --no-ui skips the UI's figures)")?;
        ensure!(out.status.success(), "web/perf/scale.mjs failed (--no-ui skips the UI's figures)");
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text.lines().rev().find(|l| l.starts_with('{')).context("web/perf/scale.mjs printed no figures")?;
        let fig: Value = serde_json::from_str(line)?;
        let fig = &fig["figures"];
        let failed: Vec<&str> = fig["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["ok"] != json!(true))
            .filter_map(|c| c["what"].as_str())
            .collect();
        ensure!(failed.is_empty(), "the UI showed wrong answers: {}", failed.join("; "));
        let ms = |k: &str| fig[k].as_f64().unwrap_or(f64::NAN);
        rows.push(Row {
            key: tag("ui_paint"),
            label: format!("UI: first useful paint of the runs table ({size})"),
            value: format!("{:.0} ms", ms("firstPaint")),
            target: "≤ 500 ms",
            ok: Some(ms("firstPaint") <= 500.0),
        });
        for (key, label, med, worst) in
            [("ui_sort", "UI: sort by a column", "sort", "sortMax"), ("ui_filter", "UI: filter", "filter", "filterMax")]
        {
            rows.push(Row {
                key: tag(key),
                label: format!("{label}, median / worst ({size})"),
                value: format!("{:.0} / {:.0} ms", ms(med), ms(worst)),
                target: "≤ 300 ms",
                ok: Some(ms(med) <= 300.0),
            });
        }
        rows.push(Row {
            key: tag("ui_jump"),
            label: format!("UI: scrollbar dragged to the middle → its rows painted ({size})"),
            value: format!("{:.0} ms", ms("jump")),
            target: "",
            ok: None,
        });
        rows.push(Row {
            key: tag("ui_count"),
            label: format!("UI: the count under a filter matching most runs ({size})"),
            value: fig["wideCount"].as_str().unwrap_or("").to_owned(),
            target: "marked past 10,000",
            ok: None,
        });
        rows.push(Row {
            key: tag("ui_parcoords"),
            label: format!("UI: parallel coordinates ({size})"),
            value: fig["parcoords"].as_str().unwrap_or("").to_owned(),
            target: "a stated sample",
            ok: None,
        });
        Ok(())
    }

    /// `cairn import csv` of `rows` rows into a fresh embedded store, then again.
    async fn csv(&self, backend: Backend, rows: &mut Vec<Row>) -> Result<()> {
        let n = self.args.csv_rows;
        let work = std::env::temp_dir().join(format!("cairn-scale-csv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work)?;
        let file = work.join("runs.csv");
        let mut text = String::from("name,owner,date,lr,optimizer,aug,batch_size,val_acc,loss\n");
        let now = chrono_now();
        for i in 0..n {
            let s = Spec::of(i, n, now);
            let day = chrono_day(s.created);
            text.push_str(&format!(
                "run-{i},{},{day},{},{},{},{},{},{}\n",
                s.owner, s.lr, s.optimizer, s.aug, s.batch, s.val_acc, s.loss
            ));
        }
        std::fs::write(&file, text)?;
        let srv = match backend {
            Backend::Sqlite => Server::start(&self.args.cairn, &work, backend, &self.args.pg_admin, "csv").await?,
            Backend::Postgres => Server::start(&self.args.cairn, &work, backend, &self.args.pg_admin, "csv").await?,
        };
        let import = || -> Result<(Duration, String)> {
            let t0 = Instant::now();
            let out = Command::new(&self.args.cairn)
                .args(["import", "csv"])
                .arg(&file)
                .args(["--project", "sheet"])
                .env("CAIRN_SERVER", &srv.url)
                .env("CAIRN_HOME", work.join("client"))
                .output()?;
            let took = t0.elapsed();
            let said = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
            ensure!(out.status.success(), "cairn import csv failed: {said}");
            Ok((took, said))
        };
        let (first, said) = import()?;
        ensure!(said.contains(&format!("{n} run(s) created")), "the import did not create {n} runs: {said}");
        let (again, said) = import()?;
        ensure!(
            said.contains(&format!("0 run(s) created, 0 updated, {n} unchanged")),
            "the re-import changed something: {said}"
        );
        let p = self.get(&srv, "/projects/sheet").await?;
        ensure!(
            p["run_count"].as_u64() == Some(n as u64),
            "after two imports the project holds {} runs",
            p["run_count"]
        );
        let rate = n as f64 / first.as_secs_f64();
        rows.push(Row {
            key: "csv".into(),
            label: format!("cairn import csv, {} rows", thousands(n as u64)),
            value: format!("{:.1} s ({} rows/s)", first.as_secs_f64(), thousands(rate as u64)),
            target: "≥ 10,000 rows/s",
            ok: Some(rate >= 10_000.0),
        });
        rows.push(Row {
            key: "csv_again".into(),
            label: format!("the same import again ({} unchanged, nothing written)", thousands(n as u64)),
            value: format!("{:.1} s", again.as_secs_f64()),
            target: "",
            ok: None,
        });
        drop(srv);
        let _ = std::fs::remove_dir_all(&work);
        Ok(())
    }
}

fn analysis_row(key: String, label: String, lat: Latency, target_ms: u64) -> Row {
    Row {
        key,
        label,
        value: lat.describe(),
        target: match target_ms {
            100 => "p50 ≤ 100 ms",
            200 => "p50 ≤ 200 ms",
            500 => "p50 ≤ 500 ms",
            _ => "p50 ≤ 3 s",
        },
        ok: Some(lat.p50 <= Duration::from_millis(target_ms)),
    }
}

fn index_of(run: &Value) -> Result<usize> {
    let name = run["name"].as_str().context("a run without a name")?;
    name.strip_prefix("run-").and_then(|i| i.parse().ok()).with_context(|| format!("unexpected run name {name}"))
}

/// The page holds the first 100 matching runs in the asked order.
fn check_page(shape: &Shape, page: &Value, specs: &[Spec]) -> Result<()> {
    let runs = page["runs"].as_array().context("no runs in the answer")?;
    let idx: Vec<usize> = runs.iter().map(index_of).collect::<Result<_>>()?;
    let expected = specs.iter().enumerate().filter(|(i, s)| (shape.matches)(*i, s)).count();
    ensure!(runs.len() == expected.min(100), "{} runs on the first page, expected {}", runs.len(), expected.min(100));
    for &i in &idx {
        ensure!((shape.matches)(i, &specs[i]), "run-{i} does not match the filter");
    }
    match (shape.sort, shape.order_by) {
        (Some(value), _) => {
            for w in idx.windows(2) {
                let (a, b) = (value(&specs[w[0]]), value(&specs[w[1]]));
                ensure!(
                    if shape.descending { a >= b } else { a <= b },
                    "run-{} and run-{} are out of order",
                    w[0],
                    w[1]
                );
            }
            // The first is the best of all matches.
            let best = specs.iter().enumerate().filter(|(i, s)| (shape.matches)(*i, s)).map(|(_, s)| value(s)).fold(
                if shape.descending { f64::NEG_INFINITY } else { f64::INFINITY },
                |m, v| {
                    if shape.descending { m.max(v) } else { m.min(v) }
                },
            );
            ensure!(idx.is_empty() || value(&specs[idx[0]]) == best, "the first run is not the best");
        }
        (None, Some(_)) => {
            for w in idx.windows(2) {
                ensure!(specs[w[0]].team <= specs[w[1]].team, "run-{} and run-{} are out of order", w[0], w[1]);
            }
        }
        (None, None) => {
            // Newest first, and nothing newer left out.
            for w in idx.windows(2) {
                ensure!(specs[w[0]].created >= specs[w[1]].created, "not newest first");
            }
            if let Some(&first) = idx.first() {
                let newest = (0..specs.len()).rev().find(|&i| (shape.matches)(i, &specs[i]));
                ensure!(newest == Some(first), "the newest match is run-{newest:?}, the page starts at run-{first}");
            }
        }
    }
    Ok(())
}

fn check_tried(t: &Value, specs: &[Spec]) -> Result<()> {
    let mut want: BTreeMap<&str, (u64, f64, u64)> = BTreeMap::new();
    for s in specs {
        let e = want.entry(s.aug).or_default();
        e.0 += 1;
        if !s.failed {
            e.1 += s.val_acc;
            e.2 += 1;
        }
    }
    let values = t["values"].as_array().context("tried has no values")?;
    ensure!(values.len() == AUGS.len(), "tried lists {} values of aug, not {}", values.len(), AUGS.len());
    for v in values {
        let name = v["value"].as_str().unwrap_or("");
        let (runs, sum, n) = want.get(name).copied().with_context(|| format!("tried lists an unknown value {name}"))?;
        ensure!(v["runs"].as_u64() == Some(runs), "tried: {name} has {} runs, expected {runs}", v["runs"]);
        let mean = v["mean"].as_f64().unwrap_or(f64::NAN);
        ensure!((mean - sum / n as f64).abs() < 1e-6, "tried: {name} mean {mean}, expected {}", sum / n as f64);
    }
    Ok(())
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `YYYY-MM-DD` of a time in ms (civil date from days since the epoch).
fn chrono_day(ms: i64) -> String {
    let z = ms.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The URL of the named database next to `admin`'s, created when missing.
fn kept_database(admin: &str, name: &str) -> Result<String> {
    let psql = |sql: &str| -> Result<String> {
        let out = Command::new("psql").args([admin, "-tAq", "-v", "ON_ERROR_STOP=1", "-c", sql]).output()?;
        ensure!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr).trim());
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if psql(&format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"))? != "1" {
        psql(&format!("CREATE DATABASE {name}"))?;
    }
    let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<bool> {
    let backends = match args.backend.as_str() {
        "sqlite" => vec![Backend::Sqlite],
        "postgres" => vec![Backend::Postgres],
        "both" => vec![Backend::Sqlite, Backend::Postgres],
        other => bail!("--backend {other}: use sqlite, postgres or both"),
    };
    let bench = Bench {
        args,
        http: reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(600))
            // Under the server's keep-alive limit: a pooled connection is not reused after
            // the server may have closed it.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()?,
    };
    let mut table: Vec<(Backend, Vec<Row>)> = Vec::new();
    let mut failed = false;
    for &backend in &backends {
        let mut rows = Vec::new();
        if args.csv_rows > 0
            && let Err(e) = bench.csv(backend, &mut rows).await
        {
            eprintln!("{}: csv import: {e:#}", backend.name());
            failed = true;
        }
        for &n in &args.runs {
            eprintln!("{}: {} runs", backend.name(), thousands(n as u64));
            if let Err(e) = bench.measure(backend, n, &mut rows).await {
                eprintln!("{}: {n} runs: {e:#}", backend.name());
                failed = true;
            }
        }
        println!("\n{} ({})", backend.name(), args.cairn.display());
        for r in &rows {
            let mark = match r.ok {
                Some(true) => "✓",
                Some(false) => "✗",
                None => " ",
            };
            println!("  {mark} {:<78} {:<32} {}", r.label, r.value, r.target);
        }
        table.push((backend, rows));
    }
    if args.markdown {
        println!("\n| what | SQLite | PostgreSQL | target |\n|---|---|---|---|");
        let keys: Vec<(String, String, &str)> = table
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|r| (r.key.clone(), r.label.clone(), r.target)))
            .fold(Vec::new(), |mut acc, k| {
                if !acc.iter().any(|a: &(String, String, &str)| a.0 == k.0) {
                    acc.push(k);
                }
                acc
            });
        for (key, label, target) in keys {
            let cell = |b: Backend| {
                table
                    .iter()
                    .find(|(x, _)| *x == b)
                    .and_then(|(_, rows)| rows.iter().find(|r| r.key == key))
                    .map(|r| {
                        let mark = match r.ok {
                            Some(true) => " ✓",
                            Some(false) => " ✗",
                            None => "",
                        };
                        format!("{}{mark}", r.value)
                    })
                    .unwrap_or_else(|| "-".into())
            };
            println!("| {label} | {} | {} | {target} |", cell(Backend::Sqlite), cell(Backend::Postgres));
        }
    }
    let missed = table.iter().flat_map(|(_, r)| r).filter(|r| r.ok == Some(false)).count();
    if missed > 0 {
        println!("\n{missed} target(s) missed.");
    }
    Ok(!failed)
}
