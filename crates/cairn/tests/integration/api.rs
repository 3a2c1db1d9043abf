//! The REST API end to end against the real binary on the embedded store.

use crate::common::TestServer;
use serde_json::{Value, json};

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let r = c.post(url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, url: String) -> (u16, Value) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

/// Sends raw bytes, so paths reach the server exactly as written (HTTP client
/// libraries normalise `..` away before sending).
pub async fn raw_request(url: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = url.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|x| x.1.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn runs_metrics_search_and_lineage() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let u = srv.url();
    let (s, parent) = post(
        &c,
        format!("{u}/api/v1/runs"),
        json!({"project": "vision", "name": "baseline", "hypothesis": "resnet18 reaches 0.8",
               "config": {"lr": 0.1, "optimizer": {"name": "sgd"}}, "tags": {"aug": "none"}, "seeds": [1]}),
    )
    .await;
    assert_eq!(s, 201, "{parent}");
    let pid = parent["short_id"].as_str().unwrap().to_owned();
    let mut ids = vec![];
    for (i, (lr, aug)) in [(0.01, "mixup"), (0.001, "mixup"), (0.005, "cutmix")].into_iter().enumerate() {
        let (s, run) = post(
            &c,
            format!("{u}/api/v1/runs"),
            json!({"project": "vision", "name": format!("child {i}"), "hypothesis": "lower lr helps",
                   "expected": {"metric": "val_acc", "direction": "increase", "size": 0.01},
                   "config": {"lr": lr, "optimizer": {"name": "adam"}}, "tags": {"aug": aug}, "parents": [pid]}),
        )
        .await;
        assert_eq!(s, 201, "{run}");
        let id = run["id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 32);
        let (s, r) = post(
            &c,
            format!("{u}/api/v1/runs/{id}/metrics"),
            json!({"points": [{"key": "loss", "step": 0, "value": "NaN"}, {"key": "loss", "step": 1, "value": 0.5}],
                   "series": [{"key": "val_acc", "steps": [0, 1, 2], "values": [0.5, 0.8, 0.85 + 0.04 * i as f64]}]}),
        )
        .await;
        assert_eq!((s, r["accepted"].as_u64()), (200, Some(5)), "{r}");
        ids.push(id);
    }
    // A retried batch (same batch_id) is acknowledged again but stored once.
    for _ in 0..2 {
        let (s, r) = post(
            &c,
            format!("{u}/api/v1/runs/{pid}/metrics"),
            json!({"batch_id": "sdk-7f3a", "series": [{"key": "lr", "steps": [0, 1], "values": [0.1, 0.05]}]}),
        )
        .await;
        assert_eq!((s, r["accepted"].as_u64()), (200, Some(2)), "{r}");
    }
    let (_, h) = get(&c, format!("{u}/api/v1/runs/{pid}/metrics/lr")).await;
    assert_eq!(h["steps"], json!([0, 1]));
    // Search: filter over params, metrics and tags, ordered, paginated with a cursor.
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut body = json!({"project": "vision", "filter": "params.lr < 0.05 and metrics.val_acc > 0.8 and tags.aug != 'none'",
                              "order_by": "metrics.val_acc desc", "limit": 2});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let (s, page) = post(&c, format!("{u}/api/v1/runs/search"), body).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![ids[2].clone(), ids[1].clone(), ids[0].clone()]);
    // The same through the query string.
    let (s, page) = get(&c, format!("{u}/api/v1/runs?filter=tags.aug%20%3D%20%22cutmix%22")).await;
    assert_eq!(s, 200);
    assert_eq!(page["runs"][0]["id"], json!(ids[2]));
    // History: NaN kept, downsampling deterministic.
    let (s, h) = get(&c, format!("{u}/api/v1/runs/{}/metrics/loss", ids[0])).await;
    assert_eq!(s, 200, "{h}");
    assert_eq!(h["values"], json!(["NaN", 0.5]));
    assert_eq!(h["downsampled"], json!(false));
    let (_, sums) = get(&c, format!("{u}/api/v1/runs/{}/metrics", ids[0])).await;
    assert_eq!(sums["metrics"].as_array().unwrap().len(), 2);
    // Lineage both ways.
    let (_, lin) = get(&c, format!("{u}/api/v1/runs/{pid}/lineage")).await;
    assert_eq!(lin["children"].as_array().unwrap().len(), 3);
    let (_, run) = get(&c, format!("{u}/api/v1/runs/{}", ids[0])).await;
    assert_eq!(run["parents"], json!([parent["id"]]));
    // Finish and judge.
    let r = c.post(format!("{u}/api/v1/runs/{}/finish", ids[0])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let done: Value = r.json().await.unwrap();
    assert_eq!(done["status"], "finished");
    assert!(done["ended_at"].as_i64().is_some());
    let r = c.patch(format!("{u}/api/v1/runs/{}", ids[0])).json(&json!({"verdict": "confirmed"})).send().await.unwrap();
    let judged: Value = r.json().await.unwrap();
    assert_eq!(judged["verdict"]["outcome"], "confirmed");
    assert!(judged["verdict"]["at"].as_i64().unwrap() >= judged["created_at"].as_i64().unwrap());
}

#[tokio::test]
async fn long_series_downsample_keeping_extremes() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let u = srv.url();
    let (_, run) = post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["id"].as_str().unwrap();
    let n = 200_000i64;
    let steps: Vec<i64> = (0..n).collect();
    let values: Vec<f64> = (0..n).map(|i| if i == 123_457 { 1e6 } else { (i as f64 / 1000.0).sin() }).collect();
    let (s, r) = post(
        &c,
        format!("{u}/api/v1/runs/{id}/metrics"),
        json!({"series": [{"key": "x", "steps": steps, "values": values}]}),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let url = format!("{u}/api/v1/runs/{id}/metrics/x?max_points=500");
    let (_, a) = get(&c, url.clone()).await;
    let (_, b) = get(&c, url).await;
    assert_eq!(a, b, "deterministic");
    assert_eq!(a["downsampled"], json!(true));
    assert_eq!(a["total"], json!(n));
    let vals = a["values"].as_array().unwrap();
    assert!(vals.len() <= 500);
    assert!(vals.contains(&json!(1e6)), "the spike survives downsampling");
    assert_eq!(a["steps"][0], json!(0));
    assert_eq!(a["steps"][vals.len() - 1], json!(n - 1));
    let (_, part) = get(&c, format!("{u}/api/v1/runs/{id}/metrics/x?min_step=100&max_step=199")).await;
    assert_eq!(part["steps"].as_array().unwrap().len(), 100);
    // Several runs at once.
    let (s, multi) =
        post(&c, format!("{u}/api/v1/metrics/history"), json!({"runs": [id], "keys": ["x"], "max_points": 100})).await;
    assert_eq!(s, 200, "{multi}");
    assert!(multi["series"][0]["steps"].as_array().unwrap().len() <= 100);
}

#[tokio::test]
async fn bad_input_gets_clear_errors() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let u = srv.url();
    let r = c
        .post(format!("{u}/api/v1/runs"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), "invalid_json", "{v}");

    let (s, v) = post(&c, format!("{u}/api/v1/runs"), json!({"project": 7})).await;
    assert_eq!((s, code(&v)), (400, "invalid_argument"), "{v}");
    let (s, v) = post(&c, format!("{u}/api/v1/runs"), json!({"project": "p"})).await;
    assert_eq!((s, code(&v)), (400, "hypothesis_required"), "{v}");
    let (s, v) =
        post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h", "name": "bad\u{1b}[31mname"}))
            .await;
    assert_eq!((s, code(&v)), (400, "invalid_argument"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("control character"), "{v}");
    let (s, v) = get(&c, format!("{u}/api/v1/runs/zzzzzzzz")).await;
    assert_eq!((s, code(&v)), (404, "run_not_found"), "{v}");
    let (s, v) = get(&c, format!("{u}/api/v1/runs/not-a-run")).await;
    assert_eq!((s, code(&v)), (400, "invalid_argument"), "{v}");
    let (s, v) =
        post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h", "parents": ["abcdefgh"]})).await;
    assert_eq!((s, code(&v)), (404, "run_not_found"), "{v}");

    // Filter syntax errors point at the problem.
    let (s, v) = post(&c, format!("{u}/api/v1/runs/search"), json!({"filter": "params.lr < 0.1 andd x"})).await;
    assert_eq!((s, code(&v)), (400, "invalid_filter"), "{v}");
    assert_eq!(v["error"]["position"], json!(16));
    assert!(v["error"]["message"].as_str().unwrap().contains('^'), "{v}");

    // Metrics for a deleted run are refused; the run stays readable.
    let (_, run) = post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["id"].as_str().unwrap();
    assert_eq!(c.delete(format!("{u}/api/v1/runs/{id}")).send().await.unwrap().status(), 204);
    let (s, v) =
        post(&c, format!("{u}/api/v1/runs/{id}/metrics"), json!({"points": [{"key": "a", "step": 1, "value": 1.0}]}))
            .await;
    assert_eq!((s, code(&v)), (409, "run_deleted"), "{v}");
    let (s, v) = get(&c, format!("{u}/api/v1/runs/{id}")).await;
    assert_eq!(s, 200);
    assert!(v["deleted_at"].as_i64().is_some());

    // Limits name themselves.
    let (_, run) = post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["id"].as_str().unwrap();
    let n = 1_000_001usize;
    let (s, v) = post(
        &c,
        format!("{u}/api/v1/runs/{id}/metrics"),
        json!({"series": [{"key": "a", "steps": vec![0; n], "values": vec![0.0; n]}]}),
    )
    .await;
    assert_eq!((s, code(&v)), (422, "too_many_points"), "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("1000000"), "{v}");
    let big = format!("{{\"points\": [], \"pad\": \"{}\"}}", "x".repeat(65 * 1024 * 1024));
    let r = c
        .post(format!("{u}/api/v1/runs/{id}/metrics"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await.unwrap();
    assert_eq!(code(&v), "payload_too_large", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("64 MiB"), "{v}");

    // Artifact paths cannot escape the run's folder.
    for bad in ["../../etc/passwd", "a/../../b", "%2E%2E/x", "a//b"] {
        let (s, body) = raw_request(&u, "PUT", &format!("/api/v1/runs/{id}/artifacts/{bad}"), b"x").await;
        assert_eq!(s, 400, "{bad}: {body}");
        assert!(body.contains("artifact path"), "{bad}: {body}");
    }
    // Nothing was lost along the way: the server still answers, the data is intact.
    let (s, _) = get(&c, format!("{u}/healthz")).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn artifacts_round_trip_streamed() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let u = srv.url();
    let (_, run) = post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["short_id"].as_str().unwrap();
    // 48 MiB streamed in 1 MiB pieces.
    let piece: Vec<u8> = (0..1 << 20).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 7) as u8).collect();
    let mut hasher = blake3::Hasher::new();
    for _ in 0..48 {
        hasher.update(&piece);
    }
    let expect_hash = hasher.finalize().to_hex().to_string();
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..48).map(|_| Ok(piece.clone())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = c.put(format!("{u}/api/v1/runs/{id}/artifacts/ckpt/model%20final.bin")).body(body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["size"], json!(48u64 << 20));
    assert_eq!(info["blake3"], json!(expect_hash));
    assert_eq!(info["path"], json!("ckpt/model final.bin"));
    let r = c.put(format!("{u}/api/v1/runs/{id}/artifacts/notes.txt")).body("hello").send().await.unwrap();
    assert_eq!(r.status(), 201);

    let r = c.get(format!("{u}/api/v1/runs/{id}/artifacts/ckpt/model%20final.bin")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-cairn-blake3"], expect_hash.as_str());
    let mut got = blake3::Hasher::new();
    let mut size = 0usize;
    let mut stream = r.bytes_stream();
    use futures::StreamExt;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        size += chunk.len();
        got.update(&chunk);
    }
    assert_eq!(size, 48 << 20);
    assert_eq!(got.finalize().to_hex().to_string(), expect_hash, "byte-identical");
    let (_, list) = get(&c, format!("{u}/api/v1/runs/{id}/artifacts?prefix=ckpt/")).await;
    assert_eq!(list["artifacts"].as_array().unwrap().len(), 1);
    let (_, all) = get(&c, format!("{u}/api/v1/runs/{id}/artifacts")).await;
    assert_eq!(all["artifacts"].as_array().unwrap().len(), 2);
    let (s, v) = get(&c, format!("{u}/api/v1/runs/{id}/artifacts/missing.bin")).await;
    assert_eq!((s, code(&v)), (404, "artifact_not_found"));
    // On disk under the home's artifact folder.
    assert!(srv.home().join("artifacts/runs").join(run["id"].as_str().unwrap()).join("notes.txt").is_file());
}

#[tokio::test]
async fn several_processes_share_one_sqlite_file() {
    let a = TestServer::start(&[], &[]).await;
    let home = a.home().to_str().unwrap().to_owned();
    let b = TestServer::start_in(&home, &[]).await;
    let c = a.client();
    let (_, run) = post(&c, format!("{}/api/v1/runs", a.url()), json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let mut tasks = vec![];
    for w in 0..8i64 {
        let url = if w % 2 == 0 { a.url() } else { b.url() };
        let c = c.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            for batch in 0..20i64 {
                let base = (w * 20 + batch) * 50;
                let steps: Vec<i64> = (base..base + 50).collect();
                let values: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
                let (s, v) = post(
                    &c,
                    format!("{url}/api/v1/runs/{id}/metrics"),
                    json!({"series": [{"key": "m", "steps": steps, "values": values}]}),
                )
                .await;
                assert_eq!(s, 200, "{v}");
                let (s, v) = post(&c, format!("{url}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
                assert_eq!(s, 201, "{v}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, h) = get(&c, format!("{}/api/v1/runs/{id}/metrics/m", b.url())).await;
    let steps = h["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 8 * 20 * 50, "no point lost between processes");
    assert!(steps.windows(2).all(|w| w[0].as_i64() < w[1].as_i64()), "each point exactly once");
    let (_, page) = get(&c, format!("{}/api/v1/runs?limit=1000", a.url())).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 1 + 8 * 20);
}

#[tokio::test]
async fn pages_stay_put_while_runs_are_added() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let u = srv.url();
    let mut before = vec![];
    for i in 0..5 {
        let (_, r) =
            post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h", "name": format!("r{i}")}))
                .await;
        before.push(r["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (_, page1) = get(&c, format!("{u}/api/v1/runs?limit=2")).await;
    // A colleague's runs arrive while the list is being read, newest first.
    for _ in 0..3 {
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        post(&c, format!("{u}/api/v1/runs"), json!({"project": "p", "hypothesis": "h"})).await;
    }
    let mut seen: Vec<String> =
        page1["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    let mut cursor = page1["next_cursor"].as_str().map(str::to_owned);
    while let Some(cur) = cursor {
        let (s, page) = get(&c, format!("{u}/api/v1/runs?limit=2&cursor={cur}")).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(page["runs"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    before.reverse();
    assert_eq!(seen, before, "every run of the first view once, none of the later ones");
    let (s, v) = get(&c, format!("{u}/api/v1/runs?cursor=garbage")).await;
    assert_eq!((s, code(&v)), (400, "invalid_argument"), "{v}");
}
