//! The shared store behaviour suite, run against a real PostgreSQL: each test gets a
//! fresh database. `CAIRN_TEST_POSTGRES` names the server (default: the local one).

use std::sync::Arc;

fn admin_url() -> String {
    std::env::var("CAIRN_TEST_POSTGRES").unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into())
}

async fn fresh() -> ((), Arc<dyn cairn_store::MetadataStore>) {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test")
        .await
        .expect("PostgreSQL must be reachable for these tests (set CAIRN_TEST_POSTGRES)");
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    ((), Arc::new(store))
}

cairn_store::behaviour_suite!(fresh);

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let err = cairn_store_postgres::connect("postgres://root@127.0.0.1:1/nope").await.err().unwrap().to_string();
    assert!(err.contains("cannot connect to PostgreSQL at postgres://root@127.0.0.1:1/nope"), "{err}");
}

#[tokio::test]
async fn replicas_migrating_together_agree() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let (a, b, c) = tokio::join!(
        cairn_store_postgres::connect(&url),
        cairn_store_postgres::connect(&url),
        cairn_store_postgres::connect(&url)
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
}

#[tokio::test]
async fn the_audit_log_refuses_changes_and_removals() {
    use cairn_store::MetadataStore;
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    let entry = cairn_domain::auth::AuditEntry {
        id: 0,
        at: 1,
        actor: "ana".into(),
        token: None,
        address: None,
        action: "POST /api/v1/runs".into(),
        project: None,
        status: 201,
        details: None,
    };
    store.append_audit(&entry).await.unwrap();
    let update = sqlx::query("UPDATE audit_log SET actor = 'someone else'").execute(store.pool()).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_log").execute(store.pool()).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(store.query_audit(&Default::default()).await.unwrap()[0].actor, "ana");
}

#[tokio::test]
async fn migrating_to_schema_9_reads_param_text_already_stored() {
    use cairn_store::MetadataStore;
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    // A run written before schema 9 indexed its param text as text.
    {
        let mut r = cairn_store::testsuite::sample_run("p", &[]);
        r.config = serde_json::json!({"lr": "1e-3", "opt": "adam"}).as_object().unwrap().clone();
        store.create_project(&cairn_domain::NewProject { name: "p".into(), ..Default::default() }, 0).await.unwrap();
        store.create_run(&cairn_store::RunRecord { run: r }).await.unwrap();
        sqlx::raw_sql(
            "UPDATE run_params SET vtype = 'text', num = NULL WHERE key = 'lr';
             UPDATE cairn_meta SET value = '8' WHERE key = 'schema_version';",
        )
        .execute(store.pool())
        .await
        .unwrap();
        store.pool().close().await;
    }
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    let q =
        cairn_store::RunQuery { filter: cairn_query::parse_filter("params.lr < 0.01").unwrap(), ..Default::default() };
    assert_eq!(store.search_runs(&q).await.unwrap().runs.len(), 1, "1e-3 is read as 0.001 once migrated");
    let q = cairn_store::RunQuery {
        filter: cairn_query::parse_filter("params.opt = 'adam'").unwrap(),
        ..Default::default()
    };
    assert_eq!(store.search_runs(&q).await.unwrap().runs.len(), 1, "text that means text stays text");
}
