//! Team mode: the same server and CLI against a real PostgreSQL (the one on
//! 127.0.0.1:5432, or `CAIRN_TEST_POSTGRES`), a fresh database per test.

use crate::common::{TestServer, cairn, get_json, post_json};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::task::JoinHandle;

fn admin_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into())
}

pub async fn scratch_db() -> String {
    cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_it")
        .await
        .expect("PostgreSQL must be reachable for these tests (set CAIRN_TEST_POSTGRES)")
}

#[tokio::test]
async fn server_and_cli_on_postgres() {
    let url = scratch_db().await;
    let srv = TestServer::start(&["--store", &url], &[]).await;
    let c = srv.client();
    let body = json!({"project": "team", "name": "pg run", "hypothesis": "postgres keeps it", "config": {"lr": 0.02}});
    let r = post_json(&c, format!("{}/api/v1/runs", srv.url()), &body).await;
    let id = r["short_id"].as_str().unwrap().to_owned();
    let resp = c
        .post(format!("{}/api/v1/runs/{id}/metrics", srv.url()))
        .json(&json!({"series": [{"key": "acc", "steps": [0, 1], "values": [0.5, "Infinity"]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // A second replica on the same database sees everything.
    let replica = TestServer::start(&["--store", &url], &[]).await;
    let h: Value = get_json(&c, format!("{}/api/v1/runs/{id}/metrics/acc", replica.url())).await;
    assert_eq!(h["values"], json!([0.5, "Infinity"]));

    // The CLI talks to the server, whatever store it has.
    let out = cairn(srv.home(), &["--server", &srv.url(), "ls"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&id) && text.contains("pg run") && text.contains("lr=0.02") && text.contains("acc=inf"),
        "{text}"
    );
    let out = cairn(srv.home(), &["show", &id, "--server", &replica.url()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("postgres keeps it"), "{text}");
}

#[tokio::test]
async fn postgres_down_at_start_is_a_clear_failure() {
    let home = tempfile::tempdir().unwrap();
    let out = cairn(home.path(), &["server", "--port", "0", "--store", "postgres://root@127.0.0.1:1/cairn"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot connect to PostgreSQL at postgres://root@127.0.0.1:1/cairn"), "{err}");
}

/// A TCP relay between the server and PostgreSQL that the test can cut and restore.
struct Relay {
    port: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(port: u16) -> Relay {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let inner = tasks.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                inner.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Relay { port, tasks }
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn postgres_going_away_gives_503_and_the_server_recovers() {
    let url = scratch_db().await;
    let relay = Relay::start(0).await;
    let via_relay = url.replace("127.0.0.1:5432", &format!("127.0.0.1:{}", relay.port));
    assert_ne!(via_relay, url, "the scratch URL names 127.0.0.1:5432");
    let srv = TestServer::start(&["--store", &via_relay], &[]).await;
    let c = srv.client();
    let create =
        || c.post(format!("{}/api/v1/runs", srv.url())).json(&json!({"project": "p", "hypothesis": "h"})).send();
    assert_eq!(create().await.unwrap().status(), 201);

    relay.cut();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let resp = create().await.unwrap();
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let health = c.get(format!("{}/healthz", srv.url())).send().await.unwrap();
    assert_eq!(health.status(), 503);

    let _back = Relay::start(relay.port).await;
    let mut recovered = false;
    for _ in 0..60 {
        if create().await.unwrap().status() == 201 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(recovered, "the server did not recover when PostgreSQL came back");
    let page = get_json(&c, format!("{}/api/v1/runs", srv.url())).await;
    assert_eq!(page["runs"].as_array().unwrap().len(), 2, "nothing stored before the outage was lost");
}
