//! The REST API's request and answer types, shared by the server (`cairn-server`)
//! and its clients (`cairn-client`, the CLI, the benches), so both sides agree on
//! every field by construction. Domain records (`Run`, `Project`, …) travel as
//! `cairn-domain` defines them; what is here is what only the API has: queries,
//! pages, reports, the error contract.
//!
//! No I/O, no HTTP library: types and their serde forms only.

pub mod auth;
pub mod baseline;
pub mod error;
pub mod import;
pub mod jobs;
pub mod reports;
pub mod runs;
pub mod server;

pub use error::{ErrorBody, ErrorCode, ErrorDetail};
