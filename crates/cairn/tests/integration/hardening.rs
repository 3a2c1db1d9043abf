//! Hostile and careless clients: every resource a request can take is bounded, and
//! every refusal says which limit and what to do.

use crate::common::{TestServer, get_json, post_json};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

async fn new_run(srv: &TestServer) -> String {
    let r = post_json(&srv.client(), srv.url_for("/api/v1/runs"), &json!({"project": "p", "hypothesis": "h"})).await;
    r["id"].as_str().unwrap_or_else(|| panic!("{r}")).to_owned()
}

async fn log_points(srv: &TestServer, run: &str, key: &str, n: i64) {
    let steps: Vec<i64> = (0..n).collect();
    let values: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
    let body = json!({"series": [{"key": key, "steps": steps, "values": values}]});
    let a = post_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{run}/metrics")), &body).await;
    assert_eq!(a["accepted"], n, "{a}");
}

/// A small request for a huge raw read is refused before the points are read,
/// naming `max_points` and the step range to page with; downsampled and paged reads
/// of the same series are answered.
#[tokio::test]
async fn history_reads_are_bounded_by_points() {
    let srv = TestServer::start(&[], &[("CAIRN_MAX_ANSWER_POINTS", "5000")]).await;
    let c = srv.client();
    let run = new_run(&srv).await;
    log_points(&srv, &run, "a", 3_000).await;
    log_points(&srv, &run, "b", 3_000).await;
    // One series within the limit: whole.
    let h = get_json(&c, srv.url_for(&format!("/api/v1/runs/{run}/metrics/a"))).await;
    assert_eq!(h["steps"].as_array().unwrap().len(), 3_000);
    // Two series raw: 6,000 points, over the limit for one answer.
    let url = srv.url_for("/api/v1/metrics/history");
    let resp = c.post(&url).json(&json!({"runs": [run], "keys": ["a", "b"]})).send().await.unwrap();
    assert_eq!(resp.status(), 422);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "too_many_points", "{e}");
    let msg = e["error"]["message"].as_str().unwrap();
    assert!(msg.contains("max_points") && msg.contains("min_step") && msg.contains("5000"), "{msg}");
    // Downsampled, or paged by step: answered.
    let ok = post_json(&c, url.clone(), &json!({"runs": [run], "keys": ["a", "b"], "max_points": 500})).await;
    assert_eq!(ok["series"].as_array().unwrap().len(), 2, "{ok}");
    let page =
        post_json(&c, url.clone(), &json!({"runs": [run], "keys": ["a", "b"], "min_step": 0, "max_step": 999})).await;
    assert_eq!(page["series"][1]["steps"].as_array().unwrap().len(), 1_000, "{page}");
    // Asking for more downsampled points than one answer holds is refused up front.
    let resp = c.post(&url).json(&json!({"runs": [run], "keys": ["a", "b"], "max_points": 4000})).send().await.unwrap();
    assert_eq!(resp.status(), 422);
}

/// Request bodies share one memory budget: past it the server answers 503
/// `server_busy` with `Retry-After` instead of taking more, and takes requests again
/// once the budget is free.
#[tokio::test]
async fn request_bodies_share_one_memory_budget() {
    let srv = TestServer::start(&[], &[("CAIRN_MAX_INFLIGHT_BYTES", "1000000")]).await;
    let run = new_run(&srv).await;
    let addr = srv.url().trim_start_matches("http://").to_owned();
    // A client that declares a 400 kB body and sends it slowly holds 800 kB of budget.
    let mut slow = TcpStream::connect(&addr).unwrap();
    write!(
        slow,
        "POST /api/v1/runs/{run}/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \
         400000\r\n\r\n{{\"series\": ["
    )
    .unwrap();
    slow.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let body = json!({"series": [{"key": "m", "steps": (0..20_000).collect::<Vec<i64>>(),
                                  "values": vec![0.5; 20_000]}]});
    let resp = srv.client().post(srv.url_for(&format!("/api/v1/runs/{run}/metrics"))).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "server_busy", "{e}");
    // Small requests still fit beside it.
    let small = post_json(
        &srv.client(),
        srv.url_for(&format!("/api/v1/runs/{run}/metrics")),
        &json!({"series": [{"key": "s", "steps": [0], "values": [1.0]}]}),
    )
    .await;
    assert_eq!(small["accepted"], 1, "{small}");
    // The slow client goes away: its reservation is returned.
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let resp =
            srv.client().post(srv.url_for(&format!("/api/v1/runs/{run}/metrics"))).json(&body).send().await.unwrap();
        if resp.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the budget was not returned: {}", resp.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Thousands of connections that never finish their headers, or stall in their
/// body, are closed by the server's timeouts; its descriptors and memory return to
/// where they were, and it keeps answering others meanwhile.
#[tokio::test]
async fn slow_clients_are_cut_off_and_resources_return() {
    let srv = TestServer::start(
        &[],
        &[("CAIRN_HEADER_READ_TIMEOUT", "1"), ("CAIRN_IDLE_TIMEOUT", "2"), ("CAIRN_MAX_CONNECTIONS", "256")],
    )
    .await;
    let pid = srv.pid();
    let addr = srv.url().trim_start_matches("http://").to_owned();
    // Warm up (first requests allocate pools and caches).
    for _ in 0..20 {
        get_json(&srv.client(), srv.url_for("/api/v1/projects")).await;
    }
    let (fds0, rss0) = (open_fds(pid), rss_kib(pid));
    let mut held = Vec::new();
    for i in 0..2_000 {
        let Ok(mut s) = TcpStream::connect(&addr) else { break };
        // Half-sent headers (slowloris), or a stalled body.
        let part: &[u8] = if i % 2 == 0 {
            b"GET /api/v1/projects HTTP/1.1\r\nHost: x\r\nX-Slow: "
        } else {
            b"POST /api/v1/runs/search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        };
        let _ = s.write_all(part);
        held.push(s);
    }
    assert!(held.len() >= 1_000, "could open only {} connections", held.len());
    // Served meanwhile: the ones waiting in the backlog get their turn as slow ones
    // are cut off.
    let t = Instant::now();
    let p = get_json(&srv.client(), srv.url_for("/api/v1/projects")).await;
    assert!(p["projects"].is_array(), "{p}");
    assert!(t.elapsed() < Duration::from_secs(30), "a polite client waited {:?}", t.elapsed());
    // Every slow connection is closed by the server.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut closed = 0;
    for s in &mut held {
        s.set_read_timeout(Some(deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(10))))
            .unwrap();
        let mut buf = [0u8; 512];
        // EOF, a reset, or a 408 answer followed by EOF: all mean the server let go.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
        closed += 1;
    }
    assert_eq!(closed, held.len());
    assert!(Instant::now() < deadline, "slow connections were still open after 60 s");
    let held_count = held.len();
    drop(held);
    // Descriptors and memory back near their baseline.
    let deadline = Instant::now() + Duration::from_secs(20);
    while open_fds(pid) > fds0 + 8 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fds1, rss1) = (open_fds(pid), rss_kib(pid));
    // RELIABILITY.md quotes these.
    eprintln!(
        "slow clients: {} held; descriptors {fds0} before, {fds1} after; memory {rss0} KiB before, {rss1} KiB after",
        held_count
    );
    assert!(fds1 <= fds0 + 8, "descriptors: {fds0} before, {fds1} after");
    assert!(rss1 <= rss0 * 3 / 2 + 16 * 1024, "memory: {rss0} KiB before, {rss1} KiB after");
    let p = get_json(&srv.client(), srv.url_for("/api/v1/projects")).await;
    assert!(p["projects"].is_array());
}

async fn search_status(srv: &TestServer, filter: &str) -> (u16, Value) {
    let resp =
        srv.client().post(srv.url_for("/api/v1/runs/search")).json(&json!({"filter": filter})).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn filters_are_bounded(srv: &TestServer) {
    new_run(srv).await;
    let ors = |n: usize| (0..n).map(|i| format!("params.lr = {i}")).collect::<Vec<_>>().join(" or ");
    let list = |n: usize| format!("params.lr in ({})", (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(","));
    // Within the limits: answered, quickly, on either store.
    for f in [ors(200), list(1_000)] {
        let t = Instant::now();
        let (status, body) = search_status(srv, &f).await;
        assert_eq!(status, 200, "{body}");
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    // Past them: 400 naming the limit, never a 500 or a driver's message.
    for (f, says) in
        [(ors(1_000), "more than 200 comparisons"), (list(10_000), "more than 1000 values"), (list(65_535), "1000")]
    {
        let (status, body) = search_status(srv, &f).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_filter");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{body}");
    }
}

#[tokio::test]
async fn filters_are_bounded_sqlite() {
    let srv = TestServer::start(&[], &[]).await;
    filters_are_bounded(&srv).await;
}

#[tokio::test]
async fn filters_are_bounded_postgres() {
    let url = crate::postgres::scratch_db().await;
    let srv = TestServer::start(&["--store", &url], &[]).await;
    filters_are_bounded(&srv).await;
}

/// A batch id names one batch: its retry is answered again, other points under the
/// same id are refused with 409 `batch_conflict` and nothing of them is stored.
#[tokio::test]
async fn a_reused_batch_id_with_other_points_is_a_conflict() {
    let srv = TestServer::start(&[], &[]).await;
    let run = new_run(&srv).await;
    let url = srv.url_for(&format!("/api/v1/runs/{run}/metrics"));
    let first = json!({"series": [{"key": "m", "steps": [0, 1, 2], "values": [1.0, 2.0, 3.0]}], "batch_id": "b1"});
    assert_eq!(post_json(&srv.client(), url.clone(), &first).await["accepted"], 3);
    assert_eq!(post_json(&srv.client(), url.clone(), &first).await["accepted"], 3, "a retry");
    let other = json!({"series": [{"key": "m", "steps": [3, 4, 5], "values": [4.0, 5.0, 6.0]}], "batch_id": "b1"});
    let resp = srv.client().post(&url).json(&other).send().await.unwrap();
    assert_eq!(resp.status(), 409);
    let e: Value = resp.json().await.unwrap();
    assert_eq!(e["error"]["code"], "batch_conflict", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("b1"), "{e}");
    let h = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{run}/metrics/m"))).await;
    assert_eq!(h["steps"], json!([0, 1, 2]));
}

/// A run whose process stops sending heartbeats is marked `crashed`; a heartbeat
/// after that (the process was only cut off) makes it `running` again.
#[tokio::test]
async fn silent_runs_are_marked_crashed() {
    let srv = TestServer::start(&[], &[("CAIRN_HEARTBEAT_TIMEOUT", "1")]).await;
    let run = new_run(&srv).await;
    let quiet = new_run(&srv).await; // never sends one: left alone
    let beat = |id: &str| srv.client().post(srv.url_for(&format!("/api/v1/runs/{id}/heartbeat"))).send();
    let a: Value = beat(&run).await.unwrap().json().await.unwrap();
    assert_eq!(a["status"], "running", "{a}");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{run}"))).await;
        if r["status"] == "crashed" {
            assert!(r["ended_at"].is_i64(), "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "not marked crashed: {r}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let r = get_json(&srv.client(), srv.url_for(&format!("/api/v1/runs/{quiet}"))).await;
    assert_eq!(r["status"], "running");
    let a: Value = beat(&run).await.unwrap().json().await.unwrap();
    assert_eq!(a["status"], "running", "{a}");
    let (status, body) = search_status(&srv, "status = 'crashed'").await;
    assert_eq!(status, 200, "{body}");
}

/// A link planted inside the artifact folder is never followed: nothing is written
/// or read outside it.
#[tokio::test]
async fn artifact_links_are_not_followed() {
    let srv = TestServer::start(&[], &[]).await;
    let run = new_run(&srv).await;
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"outside").unwrap();
    let run_dir = srv.home().join("artifacts").join("runs").join(&run);
    std::fs::create_dir_all(&run_dir).unwrap();
    std::os::unix::fs::symlink(outside.path(), run_dir.join("ckpt")).unwrap();
    let put = srv
        .client()
        .put(srv.url_for(&format!("/api/v1/runs/{run}/artifacts/ckpt/model.bin")))
        .body(vec![7u8; 1000])
        .send()
        .await
        .unwrap();
    assert!(put.status().is_server_error(), "{}", put.status());
    let e: Value = put.json().await.unwrap();
    assert!(e["error"]["message"].as_str().unwrap().contains("symbolic link"), "{e}");
    assert!(!outside.path().join("model.bin").exists(), "written outside the artifact folder");
    let get = srv.client().get(srv.url_for(&format!("/api/v1/runs/{run}/artifacts/ckpt/secret"))).send().await.unwrap();
    assert_ne!(get.status(), 200);
    assert_ne!(get.bytes().await.unwrap().as_ref(), b"outside");
}

/// Partial uploads a killed server left behind are removed when a server starts.
#[tokio::test]
async fn partial_uploads_left_by_a_crash_are_removed() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("artifacts").join("runs").join("0190c0de-0000-7000-8000-000000000001").join("ckpt");
    std::fs::create_dir_all(&dir).unwrap();
    let partial = dir.join("model.bin#1");
    let f = std::fs::File::create(&partial).unwrap();
    f.set_len(1 << 20).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3_600)).unwrap();
    std::fs::write(dir.join("kept.bin"), b"an artifact").unwrap();
    let _srv = TestServer::start(&[], &[("CAIRN_HOME", home.path().to_str().unwrap())]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while partial.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!partial.exists(), "the partial upload is still there");
    assert!(dir.join("kept.bin").exists());
}
