use cairn_store::StoreError;

/// Converts a database error into the store's error, once, here.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                return StoreError::AlreadyExists(db.message().to_owned());
            }
            if db.is_foreign_key_violation() {
                return StoreError::NotFound { what: "referenced record", name: db.message().to_owned() };
            }
            // SQLite: database is locked / busy beyond the timeout.
            let code = db.code().unwrap_or_default();
            if matches!(code.as_ref(), "5" | "6" | "517") {
                return StoreError::Unavailable(format!("the database is busy: {}", db.message()));
            }
            // PostgreSQL: connection exceptions, admin shutdown, cannot connect now.
            if code.starts_with("08") || code.starts_with("57P") {
                return StoreError::Unavailable(db.message().to_owned());
            }
            if code == "26" {
                return StoreError::NotACairnStore(
                    "the file is not an SQLite database (and so not a Cairn store)".into(),
                );
            }
            StoreError::Internal(e.to_string())
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        _ => StoreError::Internal(e.to_string()),
    }
}
