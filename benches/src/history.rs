//! Reading one long metric series, raw and downsampled.

use crate::ingest;
use crate::server::Server;
use crate::util::{self, Latency, XorShift, thousands};
use crate::{Ctx, Row, Section};
use anyhow::{Context, Result, ensure};
use serde_json::Value;
use std::time::{Duration, Instant};

const WARMUP: usize = 2;

pub async fn run(ctx: &Ctx, srv: &Server) -> Result<Section> {
    let s = &ctx.sizes;
    let n = s.history_points;
    let run = ingest::create_run(ctx, srv, "history").await?;
    let metrics_url = srv.api(&format!("/runs/{run}/metrics"));
    let t0 = Instant::now();
    let mut rng = XorShift::new(44);
    let mut start = 0i64;
    while (start as u64) < n {
        let end = (start + s.batch as i64).min(n as i64);
        let body = ingest::series_body("loss", start, end, 1_700_000_000_000, &mut rng);
        ingest::post_body(&ctx.client, &metrics_url, body, (end - start) as u64).await?;
        start = end;
    }
    let load_time = t0.elapsed();
    ingest::verify_counts(ctx, srv, &run, &[("loss".to_owned(), n)]).await?;

    let raw_url = srv.api(&format!("/runs/{run}/metrics/loss"));
    let ds_url = format!("{raw_url}?max_points={}", s.history_max_points);

    // Correctness, once, outside the timing.
    let raw = util::get_json(&ctx.client, &raw_url).await?;
    check(&raw, n, n as usize, false).context("raw history")?;
    let ds = util::get_json(&ctx.client, &ds_url).await?;
    check(&ds, n, s.history_max_points, true).context("downsampled history")?;
    let ds_len = ds["steps"].as_array().map_or(0, Vec::len);

    let (raw_lat, raw_bytes) = time_reads(ctx, &raw_url).await?;
    let (ds_lat, ds_bytes) = time_reads(ctx, &ds_url).await?;
    let (_, hwm) = srv.memory()?;

    Ok(Section {
        rows: vec![
            Row {
                key: "history_raw",
                label: format!("history raw: {} pts, p50", thousands(n)),
                value: raw_lat.describe(),
                target: "p50 ≤ 100 ms",
                ok: ctx.judge(raw_lat.p50 <= Duration::from_millis(100)),
            },
            Row {
                key: "history_downsampled",
                label: format!(
                    "history downsampled: {} → {} pts, p50",
                    thousands(n),
                    thousands(s.history_max_points as u64)
                ),
                value: ds_lat.describe(),
                target: "p50 ≤ 20 ms",
                ok: ctx.judge(ds_lat.p50 <= Duration::from_millis(20)),
            },
        ],
        notes: vec![format!(
            "history: series loaded in {:.2} s via REST; {} timed GETs each after {WARMUP} warm-up, time \
             to the full body (not parsed); raw body {}, downsampled body {} with {ds_len} points; \
             point counts checked once outside timing; server peak RSS {}",
            load_time.as_secs_f64(),
            s.history_reads,
            util::mb(raw_bytes),
            util::mb(ds_bytes),
            util::mb(hwm)
        )],
    })
}

fn check(v: &Value, total: u64, max_len: usize, downsampled: bool) -> Result<()> {
    let steps = v["steps"].as_array().context("no `steps` array")?.len();
    let values = v["values"].as_array().context("no `values` array")?.len();
    ensure!(v["total"].as_u64() == Some(total), "VERIFICATION FAILED: total is {}, expected {total}", v["total"]);
    ensure!(
        v["downsampled"].as_bool() == Some(downsampled),
        "VERIFICATION FAILED: downsampled is {}, expected {downsampled}",
        v["downsampled"]
    );
    ensure!(steps == values, "VERIFICATION FAILED: {steps} steps but {values} values");
    if downsampled {
        ensure!(steps >= 2 && steps <= max_len, "VERIFICATION FAILED: {steps} points, expected 2..={max_len}");
    } else {
        ensure!(steps == max_len, "VERIFICATION FAILED: {steps} points, expected {max_len}");
    }
    Ok(())
}

/// Times GETs of `url` to the end of the body; returns latencies and the body size.
async fn time_reads(ctx: &Ctx, url: &str) -> Result<(Latency, u64)> {
    let mut samples = Vec::with_capacity(ctx.sizes.history_reads);
    let mut size = 0;
    for i in 0..WARMUP + ctx.sizes.history_reads {
        let t = Instant::now();
        let resp = ctx.client.get(url).send().await.with_context(|| format!("GET {url}"))?;
        let body = util::ok(resp, &format!("GET {url}")).await?.bytes().await?;
        let d = t.elapsed();
        size = body.len() as u64;
        if i >= WARMUP {
            samples.push(d);
        }
    }
    Ok((Latency::of(&samples), size))
}
