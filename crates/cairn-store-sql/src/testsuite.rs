//! Checks of the relational store that need SQL of their own (triggers, migrations),
//! written once and run by the SQLite and PostgreSQL crates' tests.

use crate::SqlStore;
use cairn_store::{MetadataStore, RunQuery, RunRecord};

/// The audit log's triggers refuse UPDATE and DELETE, and the entry stays as written.
pub async fn audit_log_refuses_changes_and_removals(store: &SqlStore) {
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

/// Leaves `store` as schema 8 left it: a run whose param text is indexed as text, and
/// the version set back to 8, so that reopening it migrates to 9 again. Closes it.
pub async fn index_param_text_as_schema_8_did(store: SqlStore) {
    let mut r = cairn_store::testsuite::sample_run("p", &[]);
    r.config = serde_json::json!({"lr": "1e-3", "opt": "adam"}).as_object().unwrap().clone();
    store.create_project(&cairn_domain::NewProject { name: "p".into(), ..Default::default() }, 0).await.unwrap();
    store.create_run(&RunRecord { run: r }).await.unwrap();
    sqlx::raw_sql(
        "UPDATE run_params SET vtype = 'text', num = NULL WHERE key = 'lr';
         DROP TABLE run_logs; DROP TABLE settings; DROP TABLE leases; DROP TABLE agents;
         DROP TABLE job_events; DROP TABLE job_spans; DROP TABLE jobs;
         DROP INDEX runs_heartbeat;
         ALTER TABLE runs DROP COLUMN heartbeat_at;
         ALTER TABLE metric_batches DROP COLUMN digest;
         UPDATE cairn_meta SET value = '8' WHERE key = 'schema_version';",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.pool().close().await;
}

/// After [`index_param_text_as_schema_8_did`] and a reopen: the text reads as what it means.
pub async fn param_text_is_read_after_migrating(store: &SqlStore) {
    let search = |f: &str| RunQuery { filter: cairn_query::parse_filter(f).unwrap(), ..Default::default() };
    assert_eq!(
        store.search_runs(&search("params.lr < 0.01")).await.unwrap().runs.len(),
        1,
        "1e-3 is read as 0.001 once migrated"
    );
    assert_eq!(
        store.search_runs(&search("params.opt = 'adam'")).await.unwrap().runs.len(),
        1,
        "text that means text stays text"
    );
}
