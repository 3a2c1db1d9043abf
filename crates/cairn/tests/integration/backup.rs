//! `cairn admin backup` while the server runs, `cairn admin restore` into a fresh
//! store and artifact folder: every run, every point and every artifact comes back.

use crate::common::{TestServer, cairn, get_json, post_json};
use serde_json::{Value, json};

/// A store with runs, metrics, artifacts (one of several MB) and a deleted run.
async fn fill(srv: &TestServer) -> Vec<String> {
    let c = srv.client();
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = post_json(
            &c,
            srv.url_for("/api/v1/runs"),
            &json!({"project": "kept", "hypothesis": "all of it comes back", "config": {"lr": 0.01 * f64::from(i + 1)},
                    "tags": {"i": i.to_string()}}),
        )
        .await;
        let id = r["id"].as_str().unwrap().to_owned();
        let steps: Vec<i64> = (0..3_000).collect();
        let loss: Vec<f64> = steps.iter().map(|&s| 1.0 / (1.0 + s as f64 + f64::from(i))).collect();
        let body = json!({"series": [{"key": "loss", "steps": steps, "values": loss},
                                     {"key": "val/acc", "steps": [0, 10], "values": [0.5, "NaN"]}]});
        let a = post_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/metrics")), &body).await;
        assert_eq!(a["accepted"], 3_002, "{a}");
        let big: Vec<u8> = (0..3_000_000u32).map(|x| (x.wrapping_mul(2_654_435_761) >> (i + 7)) as u8).collect();
        for (path, bytes) in [("ckpt/model.bin", big), ("notes.txt", format!("run {i}").into_bytes())] {
            let put =
                c.put(srv.url_for(&format!("/api/v1/runs/{id}/artifacts/{path}"))).body(bytes).send().await.unwrap();
            assert_eq!(put.status(), 201);
        }
        ids.push(id);
    }
    let del = c.delete(srv.url_for(&format!("/api/v1/runs/{}", ids[3]))).send().await.unwrap();
    assert!(del.status().is_success());
    let f = post_json(&c, srv.url_for(&format!("/api/v1/runs/{}/finish", ids[0])), &json!({})).await;
    assert_eq!(f["status"], "finished");
    ids
}

/// Everything a client can read about the runs: records, series, artifact bytes.
async fn read_all(srv: &TestServer, ids: &[String]) -> Vec<Value> {
    let c = srv.client();
    let mut out = Vec::new();
    let page = post_json(&c, srv.url_for("/api/v1/runs/search"), &json!({"include_deleted": true, "limit": 100})).await;
    out.push(page["runs"].clone());
    for id in ids {
        for key in ["loss", "val/acc"] {
            out.push(get_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/metrics/{key}"))).await);
        }
        let list = get_json(&c, srv.url_for(&format!("/api/v1/runs/{id}/artifacts"))).await;
        for a in list["artifacts"].as_array().unwrap() {
            let path = a["path"].as_str().unwrap();
            let bytes = c.get(srv.url_for(&format!("/api/v1/runs/{id}/artifacts/{path}"))).send().await.unwrap();
            let bytes = bytes.bytes().await.unwrap();
            assert_eq!(blake3::hash(&bytes).to_hex().to_string(), a["blake3"].as_str().unwrap(), "{id}/{path}");
            out.push(json!({"path": path, "blake3": a["blake3"], "size": a["size"]}));
        }
        out.push(list);
    }
    out
}

async fn round_trip(source_store: Option<String>, target_store: Option<String>) {
    let (home1, home2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store1 = source_store.unwrap_or_else(|| home1.path().join("cairn.db").display().to_string());
    let store2 = target_store.unwrap_or_else(|| home2.path().join("cairn.db").display().to_string());
    let h1 = home1.path().to_str().unwrap();
    let srv = TestServer::start(&["--store", &store1], &[("CAIRN_HOME", h1)]).await;
    let ids = fill(&srv).await;
    let before = read_all(&srv, &ids).await;
    // While the server runs (and takes writes to another run).
    let dest = home1.path().join("backup");
    let writer = {
        let (c, url) = (srv.client(), srv.url_for("/api/v1/runs"));
        tokio::spawn(async move {
            for _ in 0..20 {
                post_json(&c, url.clone(), &json!({"project": "busy", "hypothesis": "h"})).await;
            }
        })
    };
    let out = cairn(home1.path(), &["admin", "backup", dest.to_str().unwrap(), "--store", &store1]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    writer.await.unwrap();
    let manifest: Value = serde_json::from_slice(&std::fs::read(dest.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["artifacts"].as_array().unwrap().len(), 8, "{manifest}");
    drop(srv);
    // Into a fresh store and a fresh artifact folder.
    let out = cairn(home2.path(), &["admin", "restore", dest.to_str().unwrap(), "--store", &store2]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("8 artifact(s)"), "{}", String::from_utf8_lossy(&out.stdout));
    let again = TestServer::start(&["--store", &store2], &[("CAIRN_HOME", home2.path().to_str().unwrap())]).await;
    let after = read_all(&again, &ids).await;
    let kept: Vec<&Value> = after[0].as_array().unwrap().iter().filter(|r| r["project"] == "kept").collect();
    let was: Vec<&Value> = before[0].as_array().unwrap().iter().collect();
    assert_eq!(kept, was, "every run record comes back");
    assert_eq!(after[1..], before[1..], "every point and artifact comes back");
}

#[tokio::test]
async fn backup_and_restore_round_trip_sqlite() {
    round_trip(None, None).await;
}

#[tokio::test]
async fn backup_and_restore_round_trip_postgres() {
    let (a, b) = (crate::postgres::scratch_db().await, crate::postgres::scratch_db().await);
    round_trip(Some(a), Some(b)).await;
}
