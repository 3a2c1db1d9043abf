//! The server about itself.

use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`, or `store_unavailable`.
    pub status: String,
    pub version: String,
    /// `sqlite` or `postgres`.
    pub store: String,
}

/// `GET /api/v1/server`: what a client may want to know before it acts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub version: String,
    pub store: String,
    pub started_at: i64,
    /// Milliseconds since the last API request (other than this one and health checks).
    pub idle_ms: i64,
    /// When set, the server exits by itself after this long idle with no open runs.
    pub idle_exit_ms: Option<i64>,
    /// Runs in status `running` (they keep an idling embedded server up).
    pub open_runs: u64,
    /// Whether requests must authenticate.
    pub auth: bool,
    pub pid: u32,
}
