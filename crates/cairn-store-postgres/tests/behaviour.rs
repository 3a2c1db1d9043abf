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
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    cairn_store_sql::testsuite::audit_log_refuses_changes_and_removals(&store).await;
}

#[tokio::test]
async fn migrating_to_schema_9_reads_param_text_already_stored() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    cairn_store_sql::testsuite::index_param_text_as_schema_8_did(cairn_store_postgres::connect(&url).await.unwrap())
        .await;
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    cairn_store_sql::testsuite::param_text_is_read_after_migrating(&store).await;
}

/// Every connection carries the statement timeout: a runaway query is cancelled by
/// PostgreSQL and reported as a timeout, with none of the driver's own words.
#[tokio::test]
async fn runaway_statements_are_cancelled_at_the_timeout() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    cairn_store_postgres::set_statement_timeout(1);
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    let t = std::time::Instant::now();
    let err = sqlx::query("SELECT pg_sleep(5)").execute(store.pool()).await.unwrap_err();
    assert!(t.elapsed() < std::time::Duration::from_secs(4), "{:?}", t.elapsed());
    let err = cairn_store_sql::map_err(err);
    assert!(matches!(err, cairn_store::StoreError::Timeout(1)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("1 s statement timeout") && !text.contains("canceling statement"), "{text}");
}

#[tokio::test]
async fn tallies_match_the_runs() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    cairn_store_sql::testsuite::tallies_match_the_runs(&store).await;
}

#[tokio::test]
async fn group_stats_match_the_runs() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    cairn_store_sql::testsuite::group_stats_match_the_runs(&store).await;
}

#[tokio::test]
async fn estimates_and_samples_spread_over_the_result() {
    let url = cairn_store_postgres::create_scratch_database(&admin_url(), "cairn_test").await.unwrap();
    let store = cairn_store_postgres::connect(&url).await.unwrap();
    cairn_store_sql::testsuite::estimates_and_samples_spread_over_the_result(&store).await;
}
