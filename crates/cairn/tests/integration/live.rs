//! What the web UI reads: live run events, ranges of artifacts, a project's summary,
//! keys and refused duplicates, and search counts with lean rows.

use crate::common::{TestServer, get_json, post_json};
use serde_json::json;
use std::time::Duration;

async fn next_text(r: &mut reqwest::Response) -> String {
    let chunk = tokio::time::timeout(Duration::from_secs(10), r.chunk()).await.expect("no event within 10 s");
    String::from_utf8_lossy(&chunk.unwrap().unwrap_or_default()).into_owned()
}

/// Reads events until one of kind `kind` arrives; returns everything read.
async fn until(r: &mut reqwest::Response, kind: &str) -> String {
    let mut seen = String::new();
    while !seen.contains(&format!("event: {kind}")) {
        seen.push_str(&next_text(r).await);
    }
    seen
}

#[tokio::test]
async fn a_running_run_streams_its_changes_and_ends() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    let run = post_json(&c, srv.url_for("/api/v1/runs"), &json!({"project": "p", "hypothesis": "h"})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let mut events = c.get(srv.url_for(&format!("/api/v1/runs/{id}/events"))).send().await.unwrap();
    assert_eq!(events.status(), 200);
    assert!(until(&mut events, "run").await.contains(&id));
    let points =
        json!({"points": [{"key": "loss", "step": 0, "value": 1.0}, {"key": "loss", "step": 1, "value": 0.5}]});
    post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/metrics")), &points).await;
    let got = until(&mut events, "metrics").await;
    assert!(got.contains("\"count\":2"), "{got}");
    c.put(srv.url_for(&format!("/api/v1/runs/{id}/artifacts/logs/output.log"))).body("line 1\n").send().await.unwrap();
    assert!(until(&mut events, "log").await.contains("\"size\":7"));
    post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/finish")), &json!({})).await;
    assert!(until(&mut events, "end").await.contains("finished"));
    // The stream closes after `end`.
    let rest = tokio::time::timeout(Duration::from_secs(5), events.chunk()).await.expect("the stream stays open");
    assert!(rest.unwrap().is_none());
}

#[tokio::test]
async fn ranges_summary_keys_refusals_and_counts() {
    let srv = TestServer::start(&[], &[]).await;
    let c = srv.client();
    c.patch(srv.url_for("/api/v1/projects/p")).json(&json!({})).send().await.unwrap();
    post_json(&c, srv.url_for("/api/v1/projects"), &json!({"name": "p"})).await;
    c.patch(srv.url_for("/api/v1/projects/p"))
        .json(&json!({"primary_metric": {"key": "acc", "direction": "increase"}}))
        .send()
        .await
        .unwrap();
    let body = json!({"project": "p", "hypothesis": "h", "config": {"lr": 0.1, "opt": {"name": "sgd"}},
                      "tags": {"team": "cv"}, "on_duplicate": "refuse", "command": ["python", "t.py"]});
    let run = post_json(&c, srv.url_for("/api/v1/runs"), &body).await;
    let id = run["id"].as_str().unwrap().to_owned();
    post_json(
        &c,
        srv.url_for(&format!("/api/v1/runs/{id}/metrics")),
        &json!({"points": [{"key": "acc", "step": 0, "value": 0.8}]}),
    )
    .await;
    post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/finish")), &json!({})).await;
    // The same run again is refused, and the refusal is kept.
    let again = c.post(srv.url_for("/api/v1/runs")).json(&body).send().await.unwrap();
    assert_eq!(again.status(), 409);
    let refusals = get_json(&c, srv.url_for("/api/v1/projects/p/refusals")).await;
    assert_eq!(refusals["total"], 1);
    assert_eq!(refusals["refusals"][0]["duplicate_of"], id);
    assert_eq!(refusals["refusals"][0]["command"], json!(["python", "t.py"]));

    let keys = get_json(&c, srv.url_for("/api/v1/projects/p/keys")).await;
    assert_eq!(keys, json!({"params": ["lr", "opt.name"], "metrics": ["acc"], "tags": ["team"]}));
    let summary = get_json(&c, srv.url_for("/api/v1/projects/p/summary?days=7")).await;
    assert_eq!((summary["runs"].as_u64(), summary["by_status"]["finished"].as_u64()), (Some(1), Some(1)));
    assert_eq!(summary["progress"][0]["value"], 0.8);
    assert_eq!(summary["metric"], "acc");
    assert_eq!(summary["per_day"].as_array().unwrap().len(), 1);

    let page = get_json(&c, srv.url_for("/api/v1/runs?project=p&count=true&fields=config")).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["runs"][0]["config"]["lr"], 0.1);
    assert_eq!(page["runs"][0]["metrics"], json!([]), "left out when not asked for");
    let bad = c.get(srv.url_for("/api/v1/runs?project=p&fields=secrets")).send().await.unwrap();
    assert_eq!(bad.status(), 400);

    for (lr, acc) in [(0.1, 0.7), (0.01, 0.9), (0.01, 0.8)] {
        let body = json!({"project": "p", "hypothesis": "h", "config": {"lr": lr}});
        let r = post_json(&c, srv.url_for("/api/v1/runs"), &body).await;
        let rid = r["id"].as_str().unwrap();
        post_json(
            &c,
            srv.url_for(&format!("/api/v1/runs/{rid}/metrics")),
            &json!({"points": [{"key": "acc", "step": 0, "value": acc}]}),
        )
        .await;
    }
    let body = json!({"project": "p", "group_by": "params.lr", "metric": "max(metrics.acc)"});
    let groups = post_json(&c, srv.url_for("/api/v1/runs/groups"), &body).await;
    assert_eq!(groups["total"], 4);
    let of = |v: f64| groups["groups"].as_array().unwrap().iter().find(|g| g["value"] == json!(v)).unwrap().clone();
    let (slow, fast) = (of(0.1), of(0.01));
    assert_eq!((&slow["count"], &slow["n"], &slow["max"]), (&json!(2), &json!(2), &json!(0.8)), "{groups}");
    assert!((fast["mean"].as_f64().unwrap() - 0.85).abs() < 1e-12 && fast["sd"].as_f64().unwrap() > 0.0, "{groups}");
    let bad = c
        .post(srv.url_for("/api/v1/runs/groups"))
        .json(&json!({"project": "p", "group_by": "a <", "metric": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    c.put(srv.url_for(&format!("/api/v1/runs/{id}/artifacts/a.txt"))).body("0123456789").send().await.unwrap();
    let url = srv.url_for(&format!("/api/v1/runs/{id}/artifacts/a.txt"));
    let part = c.get(&url).header("Range", "bytes=2-4").send().await.unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 2-4/10");
    assert_eq!(part.text().await.unwrap(), "234");
    let tail = c.get(&url).header("Range", "bytes=7-").send().await.unwrap();
    assert_eq!(tail.text().await.unwrap(), "789");
    let past = c.get(&url).header("Range", "bytes=20-").send().await.unwrap();
    assert_eq!(past.status(), 416);
    assert_eq!(past.headers()["content-range"], "bytes */10");
}

#[tokio::test]
async fn the_output_log_can_be_read_while_the_command_runs() {
    let srv = TestServer::start(&[], &[]).await;
    let mut child = crate::common::command(srv.home())
        .args(["run", "--project", "p", "--hypothesis", "h", "--", "sh", "-c", "echo first line; sleep 5; echo done"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let c = srv.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(4);
    let mut seen = String::new();
    while std::time::Instant::now() < deadline {
        let page = get_json(&c, srv.url_for("/api/v1/runs?project=p")).await;
        if let Some(id) = page["runs"][0]["id"].as_str() {
            let r = c.get(srv.url_for(&format!("/api/v1/runs/{id}/artifacts/logs/output.log"))).send().await.unwrap();
            if r.status() == 200 {
                seen = r.text().await.unwrap();
                if seen.contains("first line") {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(seen.contains("first line") && !seen.contains("done"), "the log so far, while running: {seen:?}");
    assert!(child.wait().unwrap().success());
}
