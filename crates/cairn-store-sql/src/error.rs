use cairn_store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};

/// Seconds a statement may run before the database cancels it (PostgreSQL's
/// `statement_timeout`); searches on SQLite are bounded to the same time by the server.
static STATEMENT_TIMEOUT_SECS: AtomicU64 = AtomicU64::new(30);

/// Sets the statement timeout for connections opened from now on.
pub fn set_statement_timeout(secs: u64) {
    STATEMENT_TIMEOUT_SECS.store(secs.max(1), Ordering::Relaxed);
}

pub fn statement_timeout_secs() -> u64 {
    STATEMENT_TIMEOUT_SECS.load(Ordering::Relaxed)
}

/// Converts a database error into the store's error, once, here. The driver's own
/// message goes to the server log only: it names tables and internals, and callers
/// get a message that says what happened in their terms.
pub fn map_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) => {
            if db.is_unique_violation() {
                tracing::debug!(error = %db.message(), "unique violation");
                return StoreError::AlreadyExists("a record with that name or id exists already".into());
            }
            if db.is_foreign_key_violation() {
                tracing::debug!(error = %db.message(), "foreign key violation");
                return StoreError::NotFound { what: "referenced record", name: String::new() };
            }
            let code = db.code().unwrap_or_default();
            // SQLite: database is locked / busy beyond the timeout.
            if matches!(code.as_ref(), "5" | "6" | "517") {
                tracing::warn!(error = %db.message(), "database busy");
                return StoreError::Unavailable("the database is busy with other writes".into());
            }
            // PostgreSQL: statement_timeout (or a cancel request).
            if code == "57014" {
                return StoreError::Timeout(statement_timeout_secs());
            }
            // PostgreSQL: connection exceptions, admin shutdown, cannot connect now.
            if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
                tracing::warn!(error = %db.message(), code = %code, "database unavailable");
                return StoreError::Unavailable("the database cannot take the request now".into());
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
        | sqlx::Error::WorkerCrashed => {
            tracing::warn!(error = %e, "database unavailable");
            StoreError::Unavailable("the database did not answer".into())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}
