//! An acknowledged point is durable: SIGKILL the server while clients ingest, start
//! it again on the same store, and every acknowledged point is there.

use crate::common::{TestServer, get_json, post_json};
use serde_json::json;
use std::sync::{Arc, Mutex};

async fn check_after_kill(backend_args: &[&str]) {
    let srv = TestServer::start(backend_args, &[]).await;
    let c = srv.client();
    let r = post_json(&c, format!("{}/api/v1/runs", srv.url()), &json!({"project": "p", "hypothesis": "h"})).await;
    let id = r["id"].as_str().unwrap().to_owned();
    // Acknowledged steps, per writer.
    let acked: Arc<Mutex<Vec<i64>>> = Arc::default();
    let mut writers = vec![];
    for w in 0..4i64 {
        let (c, url, id, acked) = (c.clone(), srv.url(), id.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            for batch in 0.. {
                let base = (batch * 4 + w) * 100;
                let steps: Vec<i64> = (base..base + 100).collect();
                let values: Vec<f64> = steps.iter().map(|&s| s as f64).collect();
                let sent = c
                    .post(format!("{url}/api/v1/runs/{id}/metrics"))
                    .json(&json!({"series": [{"key": "m", "steps": steps.clone(), "values": values}]}))
                    .send()
                    .await;
                match sent {
                    Ok(resp) if resp.status() == 200 => acked.lock().unwrap().extend(steps),
                    _ => return, // the server is gone
                }
            }
        }));
    }
    // Let ingestion run, then kill -9 in the middle of it.
    while acked.lock().unwrap().len() < 20_000 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let home = srv.home().to_str().unwrap().to_owned();
    srv.kill_hard();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let again = TestServer::start_in(&home, backend_args).await;
    let h = get_json(&c, format!("{}/api/v1/runs/{id}/metrics/m", again.url())).await;
    let stored: std::collections::HashSet<i64> =
        h["steps"].as_array().unwrap().iter().map(|s| s.as_i64().unwrap()).collect();
    let lost: Vec<_> = acked.iter().filter(|s| !stored.contains(s)).take(5).collect();
    assert!(
        lost.is_empty(),
        "acknowledged points lost after SIGKILL: {lost:?}… ({} acked, {} stored)",
        acked.len(),
        stored.len()
    );
    assert!(stored.len() >= acked.len());
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_point_sqlite() {
    check_after_kill(&[]).await;
}

#[tokio::test]
async fn sigkill_loses_no_acknowledged_point_postgres() {
    let url = crate::postgres::scratch_db().await;
    check_after_kill(&["--store", &url]).await;
}
