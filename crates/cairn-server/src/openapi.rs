//! The OpenAPI 3 document, kept in `openapi.json` beside this crate and checked
//! against the router by the tests in `crates/cairn/tests`.

use axum::http::header;
use axum::response::IntoResponse;

pub const DOCUMENT: &str = include_str!("../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
