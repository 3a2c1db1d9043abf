//! Metric ingestion: REST columnar batches, the gRPC `StreamMetrics` stream, and the
//! Python SDK.

use crate::server::Server;
use crate::util::{self, XorShift, thousands};
use crate::{Ctx, Row, Section};
use anyhow::{Context, Result, bail, ensure};
use cairn_proto::v1::cairn_client::CairnClient;
use cairn_proto::v1::{CreateRunRequest, MetricBatch, Series};
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Milliseconds since the epoch, for point timestamps.
fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A plausible training loss with full-precision noise (so the server parses
/// realistic 17-digit numbers, not short literals).
fn loss_value(step: i64, rng: &mut XorShift) -> f64 {
    0.05 + 2.0 * (-(step as f64) / 2.0e6).exp() + 0.01 * rng.next_f64()
}

/// Splits `total` into `parts` near-equal shares.
fn shares(total: u64, parts: usize) -> Vec<u64> {
    let parts = parts.max(1) as u64;
    (0..parts).map(|i| total / parts + u64::from(i < total % parts)).collect()
}

/// Batches `[start, end)` of `count` steps, `batch` at a time.
fn batch_ranges(count: u64, batch: usize) -> Vec<(i64, i64)> {
    let batch = batch.max(1) as i64;
    let count = count as i64;
    (0..count).step_by(batch as usize).map(|s| (s, (s + batch).min(count))).collect()
}

/// One columnar REST metrics body for steps `[start, end)` of `key`.
pub fn series_body(key: &str, start: i64, end: i64, ts0: i64, rng: &mut XorShift) -> Vec<u8> {
    let n = (end - start).max(0) as usize;
    let mut s = String::with_capacity(n * 44 + 96);
    let _ = write!(s, r#"{{"series":[{{"key":"{key}","steps":["#);
    for (i, step) in (start..end).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{step}");
    }
    s.push_str(r#"],"values":["#);
    for (i, step) in (start..end).enumerate() {
        if i > 0 {
            s.push(',');
        }
        // Display of a finite f64 is the shortest round-trip form, without exponent: valid JSON.
        let _ = write!(s, "{}", loss_value(step, rng));
    }
    s.push_str(r#"],"timestamps":["#);
    for (i, step) in (start..end).enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{}", ts0 + step);
    }
    s.push_str("]}]}");
    s.into_bytes()
}

/// A run to ingest into, made through the typed client (the way every CLI command
/// reaches a server); the ingestion itself is timed over raw HTTP.
pub async fn create_run(_ctx: &Ctx, srv: &Server, name: &str) -> Result<String> {
    let client = cairn_client::Client::new(&srv.url)?;
    let new = cairn_domain::NewRun {
        project: "bench".into(),
        hypothesis: Some("bench".into()),
        name: Some(name.into()),
        ..Default::default()
    };
    let run = client.create_run(&new).await.context("creating a run")?;
    Ok(run.id.to_string())
}

/// Sends one REST metrics body and checks the accepted count.
pub async fn post_body(client: &reqwest::Client, url: &str, body: Vec<u8>, n: u64) -> Result<()> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let v: Value = util::ok(resp, &format!("POST {url}"))
        .await?
        .json()
        .await
        .with_context(|| format!("POST {url}: the answer is not JSON"))?;
    let accepted = v["accepted"].as_u64();
    ensure!(accepted == Some(n), "POST {url}: sent {n} points, the server answered {v}");
    Ok(())
}

/// Checks the run's metric summaries: each key has `count` points, the last at `last_step`.
pub async fn verify_counts(ctx: &Ctx, srv: &Server, run: &str, expected: &[(String, u64)]) -> Result<()> {
    let v = util::get_json(&ctx.client, &srv.api(&format!("/runs/{run}/metrics"))).await?;
    let metrics = v["metrics"].as_array().context("metric summaries: no `metrics` array")?;
    for (key, count) in expected {
        let m = metrics
            .iter()
            .find(|m| m["key"] == key.as_str())
            .with_context(|| format!("VERIFICATION FAILED: run {run} has no metric {key:?}; summaries: {v}"))?;
        let got = m["count"].as_u64();
        if got != Some(*count) {
            bail!(
                "VERIFICATION FAILED: run {run} metric {key:?} has {} points, expected {count}",
                got.map_or_else(|| m["count"].to_string(), thousands)
            );
        }
        let last_step = m["last_step"].as_i64();
        if last_step != Some(*count as i64 - 1) {
            bail!(
                "VERIFICATION FAILED: run {run} metric {key:?} ends at step {}, expected {}",
                m["last_step"],
                count - 1
            );
        }
    }
    Ok(())
}

pub async fn rest(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let s = &ctx.sizes;
    let run = create_run(ctx, srv, "ingest-rest").await?;
    let url = srv.api(&format!("/runs/{run}/metrics"));
    let per_conn = shares(s.ingest_points, s.rest_conns);

    // Bodies are serialised before the clock starts: client JSON encoding is not measured.
    let ts0 = now_ms();
    let mut rng = XorShift::new(42);
    let mut bodies_bytes = 0u64;
    let plans: Vec<Vec<(Vec<u8>, u64)>> = per_conn
        .iter()
        .enumerate()
        .map(|(c, &count)| {
            batch_ranges(count, s.batch)
                .into_iter()
                .map(|(a, b)| {
                    let body = series_body(&format!("loss{c}"), a, b, ts0, &mut rng);
                    bodies_bytes += body.len() as u64;
                    (body, (b - a) as u64)
                })
                .collect()
        })
        .collect();
    let requests: usize = plans.iter().map(Vec::len).sum();

    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for plan in plans {
        let client = ctx.client.clone();
        let url = url.clone();
        tasks.spawn(async move {
            for (body, n) in plan {
                post_body(&client, &url, body, n).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("an ingestion task panicked")??;
    }
    let elapsed = t0.elapsed();

    let expected: Vec<(String, u64)> = per_conn.iter().enumerate().map(|(c, &n)| (format!("loss{c}"), n)).collect();
    verify_counts(ctx, srv, &run, &expected).await?;

    let pts = util::rate(s.ingest_points, elapsed);
    let (_, hwm) = srv.memory()?;
    Ok(Section {
        rows: vec![Row {
            key: "ingest_rest",
            label: format!(
                "ingest REST: {} pts, {} conns x {}/batch",
                thousands(s.ingest_points),
                s.rest_conns,
                thousands(s.batch as u64)
            ),
            value: format!("{} pts/s ({:.2} s)", thousands(pts as u64), elapsed.as_secs_f64()),
            target: "≥ 1,000,000 pts/s",
            ok: ctx.judge(pts >= 1_000_000.0),
        }],
        notes: vec![format!(
            "ingest REST: {requests} requests of columnar JSON ({} in all, {} per body), one keep-alive \
                 connection per key loss0..loss{} (one series per connection, so no two connections append \
                 to the same series); bodies serialised before timing; counts verified via GET .../metrics; \
                 server peak RSS {}",
            util::mb(bodies_bytes),
            util::mb(bodies_bytes / requests.max(1) as u64),
            s.rest_conns - 1,
            util::mb(hwm)
        )],
    })
}

pub async fn grpc(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let s = &ctx.sizes;
    let endpoint = tonic::transport::Endpoint::from_shared(srv.url.clone())
        .with_context(|| format!("bad gRPC endpoint {}", srv.url))?;
    let mut control =
        CairnClient::new(endpoint.connect().await.with_context(|| format!("gRPC connect to {}", srv.url))?);
    let run = control
        .create_run(CreateRunRequest {
            project: "bench".into(),
            name: "ingest-grpc".into(),
            hypothesis: "bench".into(),
            config_json: "{}".into(),
            ..Default::default()
        })
        .await
        .context("gRPC CreateRun")?
        .into_inner()
        .id;

    let per_stream = shares(s.ingest_points, s.grpc_streams);
    let ts0 = now_ms();
    let mut rng = XorShift::new(43);
    let mut plans = Vec::new();
    for (c, &count) in per_stream.iter().enumerate() {
        let key = format!("loss{c}");
        let batches: Vec<MetricBatch> = batch_ranges(count, s.batch)
            .into_iter()
            .enumerate()
            .map(|(seq, (a, b))| MetricBatch {
                batch_id: String::new(),
                run: run.clone(),
                sequence: seq as u64,
                series: vec![Series {
                    key: key.clone(),
                    steps: (a..b).collect(),
                    values: (a..b).map(|st| loss_value(st, &mut rng)).collect(),
                    timestamps: (a..b).map(|st| ts0 + st).collect(),
                }],
            })
            .collect();
        // One connection (HTTP/2) per stream.
        let channel = endpoint.connect().await.with_context(|| format!("gRPC connect to {}", srv.url))?;
        plans.push((channel, batches));
    }

    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (channel, batches) in plans {
        tasks.spawn(stream_batches(channel, batches, s.grpc_in_flight));
    }
    let mut acks = 0u64;
    let mut accepted = 0u64;
    while let Some(done) = tasks.join_next().await {
        let (a, n) = done.context("a gRPC stream task panicked")??;
        acks += a;
        accepted += n;
    }
    let elapsed = t0.elapsed();
    ensure!(
        accepted == s.ingest_points,
        "VERIFICATION FAILED: acks accepted {accepted} points, {} were sent",
        s.ingest_points
    );
    let expected: Vec<(String, u64)> = per_stream.iter().enumerate().map(|(c, &n)| (format!("loss{c}"), n)).collect();
    verify_counts(ctx, srv, &run, &expected).await?;

    let pts = util::rate(s.ingest_points, elapsed);
    let (_, hwm) = srv.memory()?;
    Ok(Section {
        rows: vec![Row {
            key: "ingest_grpc",
            label: format!(
                "ingest gRPC: {} pts, {} streams x {}/batch",
                thousands(s.ingest_points),
                s.grpc_streams,
                thousands(s.batch as u64)
            ),
            value: format!("{} pts/s ({:.2} s)", thousands(pts as u64), elapsed.as_secs_f64()),
            target: "-",
            ok: None,
        }],
        notes: vec![format!(
            "ingest gRPC: one StreamMetrics stream per HTTP/2 connection, each writing its own key; \
             up to {} batches un-acked per stream; {acks} acks counted; messages built before timing \
             (protobuf encoding is inside the timing); counts verified; server peak RSS {}",
            s.grpc_in_flight,
            util::mb(hwm)
        )],
    })
}

/// Sends `batches` on one StreamMetrics stream, keeping at most `in_flight`
/// un-acknowledged; returns (acks, points accepted).
async fn stream_batches(
    channel: tonic::transport::Channel,
    batches: Vec<MetricBatch>,
    in_flight: usize,
) -> Result<(u64, u64)> {
    let expected: Vec<(u64, u64)> =
        batches.iter().map(|b| (b.sequence, b.series.iter().map(|s| s.steps.len() as u64).sum())).collect();
    let mut client = CairnClient::new(channel);
    let (tx, rx) = tokio::sync::mpsc::channel::<MetricBatch>(1);
    let window = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let producer = {
        let window = window.clone();
        tokio::spawn(async move {
            for b in batches {
                match window.acquire().await {
                    Ok(permit) => permit.forget(),
                    Err(_) => return,
                }
                if tx.send(b).await.is_err() {
                    return;
                }
            }
            // Dropping `tx` ends the client stream.
        })
    };
    let result = async {
        let mut acks = client
            .stream_metrics(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .context("gRPC StreamMetrics")?
            .into_inner();
        let mut i = 0usize;
        let mut accepted = 0u64;
        while let Some(ack) = acks.message().await.with_context(|| format!("gRPC StreamMetrics, after {i} acks"))? {
            let Some(&(seq, n)) = expected.get(i) else {
                bail!("gRPC StreamMetrics: more acks than batches ({ack:?})");
            };
            ensure!(
                ack.sequence == seq && ack.accepted == n,
                "gRPC StreamMetrics: ack {ack:?}, expected sequence {seq} with {n} points"
            );
            accepted += ack.accepted;
            i += 1;
            window.add_permits(1);
        }
        ensure!(i == expected.len(), "gRPC StreamMetrics ended after {i} of {} acks", expected.len());
        Ok((i as u64, accepted))
    }
    .await;
    producer.abort();
    result
}

const SDK_SCRIPT: &str = r#"
import json, sys, time
import cairn

n = int(sys.argv[1])
run = cairn.init(project="bench", hypothesis="bench", name="ingest-sdk", config={"points": n})
t0 = time.perf_counter()
for i in range(n):
    run.log({"loss": 1.0 / (i + 1.0)}, step=i)
t1 = time.perf_counter()
run.finish()
t2 = time.perf_counter()
print(json.dumps({"run": run.id, "points": n, "log_s": t1 - t0, "total_s": t2 - t0,
                  "sdk": cairn.__file__}))
"#;

pub async fn sdk(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let n = ctx.sizes.sdk_points;
    let script = srv.home().join("sdk_bench.py");
    std::fs::write(&script, SDK_SCRIPT).with_context(|| format!("cannot write {}", script.display()))?;
    let mut cmd = std::process::Command::new(&ctx.python);
    cmd.arg(&script)
        .arg(n.to_string())
        .env("CAIRN_SERVER", &srv.url)
        .env("CAIRN_HOME", srv.home())
        .env_remove("CAIRN_RUN_ID")
        .env_remove("CAIRN_PROJECT")
        .env_remove("CAIRN_HYPOTHESIS");
    if let Some(sdk) = &ctx.sdk_path {
        let mut path = std::ffi::OsString::from(sdk.as_os_str());
        if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
            path.push(":");
            path.push(old);
        }
        cmd.env("PYTHONPATH", path);
    }
    let python = ctx.python.clone();
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await?
        .with_context(|| format!("cannot run {python} (see --python)"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!("the SDK script failed ({}); stderr:\n{stderr}\nstdout:\n{stdout}", out.status);
    }
    let line = stdout.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let v: Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("the SDK script printed no JSON result; stdout:\n{stdout}"))?;
    let run = v["run"].as_str().context("SDK result without run")?;
    let total_s = v["total_s"].as_f64().context("SDK result without total_s")?;
    let log_s = v["log_s"].as_f64().unwrap_or(f64::NAN);
    verify_counts(ctx, srv, run, &[("loss".to_owned(), n)]).await?;
    let elapsed = Duration::from_secs_f64(total_s);
    let pts = util::rate(n, elapsed);
    Ok(Section {
        rows: vec![Row {
            key: "ingest_sdk",
            label: format!("ingest Python SDK: {} pts, log()+finish()", thousands(n)),
            value: format!("{} pts/s ({total_s:.2} s)", thousands(pts as u64)),
            target: "-",
            ok: None,
        }],
        notes: vec![format!(
            "ingest SDK: one run.log({{\"loss\": v}}, step=i) per point from {} ({}), timed inside \
             Python; log() loop alone {:.2} s = {} calls/s; {} points, not the 10M of the REST and gRPC runs: \
             pure-Python logging of 10M points would take too long; counts verified",
            ctx.python,
            v["sdk"].as_str().unwrap_or("?"),
            log_s,
            thousands(util::rate(n, Duration::from_secs_f64(log_s.max(1e-9))) as u64),
            thousands(n)
        )],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shares_add_up() {
        assert_eq!(shares(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(shares(8, 4).iter().sum::<u64>(), 8);
    }

    #[test]
    fn batches_cover_the_range() {
        assert_eq!(batch_ranges(5, 2), vec![(0, 2), (2, 4), (4, 5)]);
        assert!(batch_ranges(0, 2).is_empty());
    }

    #[test]
    fn bodies_are_valid_json() {
        let mut rng = XorShift::new(1);
        let body = series_body("loss0", 10, 13, 1000, &mut rng);
        let v: Value = serde_json::from_slice(&body).unwrap();
        let s = &v["series"][0];
        assert_eq!(s["key"], "loss0");
        assert_eq!(s["steps"], json!([10, 11, 12]));
        assert_eq!(s["timestamps"], json!([1010, 1011, 1012]));
        assert_eq!(s["values"].as_array().unwrap().len(), 3);
    }
}
