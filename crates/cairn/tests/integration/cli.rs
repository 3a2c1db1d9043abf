//! `cairn ls`, `cairn show` and `cairn projects` on the embedded store, and the
//! server's start-up failures.

use crate::common::{TestServer, cairn, post_json};
use serde_json::{Value, json};

async fn seed(srv: &TestServer) -> Vec<String> {
    let c = srv.client();
    let mut ids = vec![];
    for (i, lr) in [0.1, 0.01, 0.001].into_iter().enumerate() {
        let r: Value = post_json(
            &c,
            format!("{}/api/v1/runs", srv.url()),
            &json!({"project": "vision", "name": format!("lr sweep {i}"), "hypothesis": format!("lr {lr} converges"),
                          "config": {"lr": lr, "model": {"depth": 18}}, "tags": {"team": "cv"}, "owner": "ana"}),
        )
        .await;
        let id = r["short_id"].as_str().unwrap().to_owned();
        c.post(format!("{}/api/v1/runs/{id}/metrics", srv.url()))
            .json(&json!({"series": [{"key": "val_acc", "steps": [0, 1], "values": [0.1, 0.7 + i as f64 * 0.1]}]}))
            .send()
            .await
            .unwrap();
        c.put(format!("{}/api/v1/runs/{id}/artifacts/model.pt", srv.url())).body("weights").send().await.unwrap();
        ids.push(id);
    }
    ids
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "cairn failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn ls_show_and_projects() {
    let srv = TestServer::start(&[], &[]).await;
    let ids = seed(&srv).await;
    let home = srv.home();

    let text = stdout(&cairn(home, &["ls"]));
    let header = text.lines().next().unwrap();
    for col in ["id", "name", "status", "hypothesis", "params", "metrics"] {
        assert!(header.contains(col), "{header}");
    }
    for id in &ids {
        assert!(text.contains(id.as_str()), "{text}");
    }
    assert!(text.contains("lr=0.01") && text.contains("val_acc=0.8") && text.contains("lr 0.01 converges"), "{text}");

    let text = stdout(&cairn(home, &["ls", "--filter", "params.lr < 0.05", "--sort", "metrics.val_acc desc"]));
    let order: Vec<&str> = text.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(order, vec![ids[2].as_str(), ids[1].as_str()]);

    let out = cairn(home, &["ls", "--filter", "params.lr <"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid filter") && err.contains('^'), "{err}");

    let json_out: Value = serde_json::from_str(&stdout(&cairn(home, &["ls", "--json"]))).unwrap();
    assert_eq!(json_out["runs"].as_array().unwrap().len(), 3);

    let text = stdout(&cairn(home, &["show", &ids[1]]));
    for want in
        ["lr sweep 1", "lr 0.01 converges", "model.depth", "18", "team", "cv", "val_acc", "model.pt", "ana", "running"]
    {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let shown: Value = serde_json::from_str(&stdout(&cairn(home, &["show", &ids[1], "--json"]))).unwrap();
    assert_eq!(shown["config"]["model"]["depth"], json!(18));
    assert_eq!(shown["artifacts"][0]["path"], "model.pt");

    let out = cairn(home, &["show", "zzzzzzzz"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 'zzzzzzzz'"));

    let text = stdout(&cairn(home, &["projects"]));
    assert!(text.contains("vision") && text.contains('3'), "{text}");
}

#[test]
fn empty_store_says_how_to_start() {
    let home = tempfile::tempdir().unwrap();
    let text = stdout(&cairn(home.path(), &["ls"]));
    assert!(text.contains("cairn run"), "{text}");
}

#[test]
fn refuses_a_store_that_is_not_cairn() {
    let home = tempfile::tempdir().unwrap();
    let notes = home.path().join("notes.db");
    std::fs::write(&notes, "my notes, not a database").unwrap();
    let out = cairn(home.path(), &["server", "--port", "0", "--store", notes.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a Cairn store"), "{err}");
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "my notes, not a database", "left untouched");
}
