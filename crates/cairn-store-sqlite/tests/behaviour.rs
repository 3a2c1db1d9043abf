//! The shared store behaviour suite, run against SQLite, plus SQLite-only checks.

use cairn_store::StoreError;
use cairn_store::testsuite;
use std::sync::Arc;

async fn fresh() -> (tempfile::TempDir, Arc<dyn cairn_store::MetadataStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db")).await.unwrap();
    (dir, Arc::new(store))
}

cairn_store::behaviour_suite!(fresh);

#[tokio::test]
async fn refuses_a_file_that_is_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    let err = cairn_store_sqlite::open(&path).await.err().expect("refused").to_string();
    assert!(err.contains("is not a Cairn store"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "these are my notes, not a database\n".repeat(100));
}

#[tokio::test]
async fn refuses_a_foreign_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let store = cairn_store_sqlite::open(&path).await.unwrap();
        sqlx::raw_sql("DROP TABLE cairn_meta; CREATE TABLE invoices (id INTEGER)").execute(store.pool()).await.unwrap();
    }
    let err = cairn_store_sqlite::open(&path).await.err().expect("refused").to_string();
    assert!(err.contains("not a Cairn store"), "{err}");
}

#[tokio::test]
async fn refuses_a_newer_store_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    {
        let store = cairn_store_sqlite::open(&path).await.unwrap();
        sqlx::query("UPDATE cairn_meta SET value = '99' WHERE key = 'schema_version'")
            .execute(store.pool())
            .await
            .unwrap();
    }
    let err = cairn_store_sqlite::open(&path).await.err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade cairn"), "{err}");
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let id = {
        let store: Arc<dyn cairn_store::MetadataStore> = Arc::new(cairn_store_sqlite::open(&path).await.unwrap());
        testsuite::make_run(&*store, "p", &[]).await.id
    };
    let store = cairn_store_sqlite::open(&path).await.unwrap();
    use cairn_store::MetadataStore;
    assert_eq!(store.get_run(&cairn_domain::RunRef::Id(id)).await.unwrap().id, id);
}

#[tokio::test]
async fn opening_a_version_1_store_migrates_it_and_keeps_its_data() {
    use cairn_store::{MetadataStore, StepRange};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    {
        // A store as the first schema wrote it, with a metric chunk in the old codec.
        sqlx::any::install_default_drivers();
        let pool =
            sqlx::any::AnyPoolOptions::new().connect(&format!("sqlite://{}?mode=rwc", path.display())).await.unwrap();
        let v = cairn_store_sql::migrate::run(
            &pool,
            cairn_store_sql::Dialect::Sqlite,
            &cairn_store_sqlite::MIGRATIONS[..1],
            "old",
        )
        .await
        .unwrap();
        assert_eq!(v, 1);
        let le = |v: &[i64]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let vals: Vec<u8> = [0.5f64, f64::NAN, 0.25].iter().flat_map(|x| x.to_le_bytes()).collect();
        sqlx::raw_sql(
            "INSERT INTO projects (id, name, description, require_hypothesis, created_at) VALUES (1, 'old', '', 1, 0);
             INSERT INTO runs (id, short_id, project_id, name, description, owner, status, created_at, config, command, seeds, updated_at)
               VALUES ('0190a2b3c4d5e6f708192a3b4c5d6e7f', '23456789', 1, 'legacy', '', 'ana', 'finished', 0, '{\"lr\":0.1}', '[]', '[]', 0);
             INSERT INTO metric_summaries (run_id, key, point_count, last, last_nan, last_step, last_ts, min_value, min_step, max_value, max_step, chunks, last_chunk_n)
               VALUES ('0190a2b3c4d5e6f708192a3b4c5d6e7f', 'loss', 3, 0.25, 0, 2, 7, 0.25, 2, 0.5, 0, 1, 3);",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO metric_chunks (run_id, key, seq, n, min_step, max_step, steps, vals, ts) VALUES ($1, 'loss', 0, 3, 0, 2, $2, $3, $4)")
            .bind("0190a2b3c4d5e6f708192a3b4c5d6e7f")
            .bind(le(&[0, 1, 2]))
            .bind(vals)
            .bind(le(&[5, 6, 7]))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let store = cairn_store_sqlite::open(&path).await.unwrap();
    let version: String = sqlx::query_scalar("SELECT value FROM cairn_meta WHERE key = 'schema_version'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(version, cairn_store_sqlite::MIGRATIONS.last().unwrap().version.to_string());
    let run = store.get_run(&cairn_domain::RunRef::parse("23456789").unwrap()).await.unwrap();
    assert_eq!(run.name, "legacy");
    let h = store.metric_history(run.id, "loss", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(h.steps, vec![0, 1, 2]);
    assert!(h.values[1].is_nan());
    assert_eq!(h.timestamps, vec![5, 6, 7]);
    // New points append after the old chunk (which gets rewritten in the new codec).
    let mut more = cairn_domain::MetricSeries::default();
    more.push(3, 0.125, 8);
    store.log_metrics(run.id, &[(cairn_domain::MetricKey::parse("loss").unwrap(), more)], None).await.unwrap();
    let h = store.metric_history(run.id, "loss", StepRange::default(), u64::MAX).await.unwrap();
    assert_eq!(h.steps, vec![0, 1, 2, 3]);
    let (ov, total) = store.metric_overview(run.id, "loss", StepRange::default(), 2).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(ov.len(), 4);
}

#[tokio::test]
async fn the_audit_log_refuses_changes_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db")).await.unwrap();
    cairn_store_sql::testsuite::audit_log_refuses_changes_and_removals(&store).await;
}

#[tokio::test]
async fn migrating_to_schema_9_reads_param_text_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    cairn_store_sql::testsuite::index_param_text_as_schema_8_did(cairn_store_sqlite::open(&path).await.unwrap()).await;
    let store = cairn_store_sqlite::open(&path).await.unwrap();
    cairn_store_sql::testsuite::param_text_is_read_after_migrating(&store).await;
}

/// CAIRN_SQLITE_SYNC=full: every commit waits for the disk (power-loss durability).
#[tokio::test]
async fn full_sync_is_chosen_by_setting() {
    assert!(cairn_store_sqlite::set_sync("sideways").unwrap_err().to_string().contains("normal"));
    let dir = tempfile::tempdir().unwrap();
    let read = |s: &cairn_store_sql::SqlStore| {
        let pool = s.pool().clone();
        async move { sqlx::query_scalar::<_, i64>("PRAGMA synchronous").fetch_one(&pool).await.unwrap() }
    };
    let normal = cairn_store_sqlite::open(&dir.path().join("a.db")).await.unwrap();
    assert_eq!(read(&normal).await, 1, "NORMAL by default");
    cairn_store_sqlite::set_sync("full").unwrap();
    let full = cairn_store_sqlite::open(&dir.path().join("b.db")).await.unwrap();
    assert_eq!(read(&full).await, 2, "FULL");
    cairn_store_sqlite::set_sync("normal").unwrap();
}

#[tokio::test]
async fn tallies_match_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db")).await.unwrap();
    cairn_store_sql::testsuite::tallies_match_the_runs(&store).await;
}

#[tokio::test]
async fn group_stats_match_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db")).await.unwrap();
    cairn_store_sql::testsuite::group_stats_match_the_runs(&store).await;
}

#[tokio::test]
async fn estimates_and_samples_spread_over_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db")).await.unwrap();
    cairn_store_sql::testsuite::estimates_and_samples_spread_over_the_result(&store).await;
}
