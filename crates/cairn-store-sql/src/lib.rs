//! The relational [`MetadataStore`]: one implementation for SQLite and PostgreSQL,
//! written against sqlx's `Any` driver with SQL text that both databases accept
//! (`$n` placeholders, `ON CONFLICT`, `RETURNING`). Where they differ, [`Dialect`]
//! says how. Backend crates bring the connection set-up and their migrations.
//!
//! Every value a user supplies reaches the database as a bound parameter: the filter
//! translator in [`filter`] emits placeholders only.
//!
//! Metric points are stored in chunks (a few thousand points of one series packed
//! into one row), so ingesting or reading a million points touches hundreds of rows,
//! not a million. The per-series summary row is updated in the same transaction.

mod chunk;
mod error;
pub mod filter;
pub mod migrate;
mod store;
#[cfg(feature = "testsuite")]
pub mod testsuite;

pub use error::{map_err, set_statement_timeout, statement_timeout_secs};
pub use migrate::{Migration, Step};
pub use store::SqlStore;

/// Where the SQL the two backends accept differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }
}
