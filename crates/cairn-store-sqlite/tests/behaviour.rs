//! The shared store behaviour suite, run against SQLite, plus SQLite-only checks.

use cairn_store::StoreError;
use cairn_store::testsuite;
use std::sync::Arc;

async fn fresh() -> (tempfile::TempDir, Arc<dyn cairn_store::MetadataStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = cairn_store_sqlite::open(&dir.path().join("cairn.db"))
        .await
        .unwrap();
    (dir, Arc::new(store))
}

cairn_store::behaviour_suite!(fresh);

#[tokio::test]
async fn refuses_a_file_that_is_not_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(100)).unwrap();
    let err = cairn_store_sqlite::open(&path)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("is not a Cairn store"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are my notes, not a database\n".repeat(100)
    );
}

#[tokio::test]
async fn refuses_a_foreign_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let store = cairn_store_sqlite::open(&path).await.unwrap();
        sqlx::raw_sql("DROP TABLE cairn_meta; CREATE TABLE invoices (id INTEGER)")
            .execute(store.pool())
            .await
            .unwrap();
    }
    let err = cairn_store_sqlite::open(&path)
        .await
        .err()
        .expect("refused")
        .to_string();
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
    let err = cairn_store_sqlite::open(&path)
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("upgrade cairn"), "{err}");
}

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cairn.db");
    let id = {
        let store: Arc<dyn cairn_store::MetadataStore> =
            Arc::new(cairn_store_sqlite::open(&path).await.unwrap());
        testsuite::make_run(&*store, "p", &[]).await.id
    };
    let store = cairn_store_sqlite::open(&path).await.unwrap();
    use cairn_store::MetadataStore;
    assert_eq!(
        store
            .get_run(&cairn_domain::RunRef::Id(id))
            .await
            .unwrap()
            .id,
        id
    );
}
