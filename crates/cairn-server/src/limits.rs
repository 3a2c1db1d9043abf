//! Every resource a client can make the server spend, bounded, in one place.
//! RELIABILITY.md lists them with their values; the binary reads overrides from the
//! environment ([`Limits::from_env`]).

use crate::error::{ApiError, ErrorCode};
use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Open connections at once; past it new ones wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time for a request's headers to arrive (and for an idle keep-alive connection
    /// to send its next request).
    pub header_read_timeout: Duration,
    /// A connection on which nothing moves either way for this long is closed.
    pub idle_timeout: Duration,
    /// Bytes of request bodies (and of raw history answers) held at once across all
    /// requests; past it requests are refused with 503 `server_busy` and `Retry-After`.
    pub inflight_bytes: usize,
    /// Longest a store query may run (PostgreSQL cancels it; searches on SQLite are
    /// answered at this time).
    pub statement_timeout: Duration,
    /// A running run whose process sent heartbeats and then stopped for this long
    /// is marked `crashed`.
    pub heartbeat_timeout: Duration,
    /// Most points one history answer returns unsampled, over all its series.
    pub answer_points: u64,
    /// An agent silent for this long is lost: its jobs are requeued.
    pub agent_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            inflight_bytes: 512 * 1024 * 1024,
            statement_timeout: Duration::from_secs(30),
            heartbeat_timeout: Duration::from_secs(300),
            answer_points: 1_000_000,
            agent_timeout: Duration::from_secs(30),
        }
    }
}

/// The environment variables [`Limits::from_env`] reads.
pub const ENV: [(&str, &str); 8] = [
    ("CAIRN_MAX_CONNECTIONS", "open connections at once"),
    ("CAIRN_HEADER_READ_TIMEOUT", "seconds for a request's headers to arrive"),
    ("CAIRN_IDLE_TIMEOUT", "seconds a connection may stay silent"),
    ("CAIRN_MAX_INFLIGHT_BYTES", "bytes of request bodies held at once"),
    ("CAIRN_STATEMENT_TIMEOUT", "seconds a store query may run"),
    ("CAIRN_HEARTBEAT_TIMEOUT", "seconds without a heartbeat before a run is marked crashed"),
    ("CAIRN_MAX_ANSWER_POINTS", "points one history answer returns unsampled"),
    ("CAIRN_AGENT_TIMEOUT", "seconds without a poll before an agent is lost and its jobs requeued"),
];

impl Limits {
    /// The defaults, with any of [`ENV`] set in the environment; a value that is not
    /// a positive whole number is an error naming the variable.
    pub fn from_env() -> Result<Limits, String> {
        Limits::from_vars(|name| std::env::var(name).ok())
    }

    /// The defaults, with the variables `lookup` finds.
    fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let mut l = Limits::default();
        let get = |name: &str| -> Result<Option<u64>, String> {
            match lookup(name) {
                Some(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!("{name}={v} is not a positive whole number")),
                },
                _ => Ok(None),
            }
        };
        type Set = fn(&mut Limits, u64);
        let setters: [Set; 8] = [
            |l, n| l.max_connections = n as usize,
            |l, n| l.header_read_timeout = Duration::from_secs(n),
            |l, n| l.idle_timeout = Duration::from_secs(n),
            |l, n| l.inflight_bytes = n as usize,
            |l, n| l.statement_timeout = Duration::from_secs(n),
            |l, n| l.heartbeat_timeout = Duration::from_secs(n),
            |l, n| l.answer_points = n,
            |l, n| l.agent_timeout = Duration::from_secs(n),
        ];
        for ((name, _), set) in ENV.iter().zip(setters) {
            if let Some(n) = get(name)? {
                set(&mut l, n);
            }
        }
        Ok(l)
    }
}

/// The server's memory budget for request bodies and large answers, shared by every
/// request: a reservation is held until the answer is sent.
#[derive(Clone, Debug)]
pub struct Budget {
    bytes: Arc<Semaphore>,
    total: usize,
}

impl Budget {
    pub fn new(total: usize) -> Budget {
        let total = total.clamp(1, Semaphore::MAX_PERMITS);
        Budget { bytes: Arc::new(Semaphore::new(total)), total }
    }

    /// Reserves `bytes` now, or says the server is busy.
    pub fn reserve(&self, bytes: usize) -> Result<Reservation, ApiError> {
        let n = u32::try_from(bytes.min(self.total)).unwrap_or(u32::MAX);
        match self.bytes.clone().try_acquire_many_owned(n) {
            Ok(p) => Ok(Reservation(Some(p))),
            Err(_) => Err(ApiError::new(
                ErrorCode::ServerBusy,
                format!(
                    "the server is holding as much request data as its budget allows ({} MiB in flight); retry \
                     in a moment",
                    self.total / (1024 * 1024)
                ),
            )),
        }
    }
}

/// Bytes of the budget held by one request.
#[derive(Debug)]
pub struct Reservation(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

/// Reserves each request body's declared length (or, for a chunked body, the largest
/// JSON body allowed) before it is read. Artifact uploads (PUT) stream to storage in
/// small pieces and are not counted.
pub async fn body_budget(
    axum::extract::State(budget): axum::extract::State<Budget>,
    req: Request,
    next: Next,
) -> Response {
    let method = req.method();
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT) {
        return next.run(req).await;
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    let bytes = match declared {
        Some(n) => n,
        None if chunked => crate::rest::MAX_JSON_BODY,
        None => 0,
    };
    if bytes == 0 {
        return next.run(req).await;
    }
    // The parsed form of a JSON body takes about as much again as its text.
    match budget.reserve(bytes.saturating_mul(2)) {
        Ok(held) => {
            let resp = next.run(req).await;
            drop(held);
            resp
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_sets_its_limit_and_bad_values_are_named() {
        let l = Limits::from_vars(|_| Some("7".into())).unwrap();
        assert_eq!(l.max_connections, 7);
        assert_eq!(l.header_read_timeout, Duration::from_secs(7));
        assert_eq!(l.idle_timeout, Duration::from_secs(7));
        assert_eq!(l.inflight_bytes, 7);
        assert_eq!(l.statement_timeout, Duration::from_secs(7));
        assert_eq!(l.heartbeat_timeout, Duration::from_secs(7));
        assert_eq!(l.answer_points, 7);
        assert_eq!(l.agent_timeout, Duration::from_secs(7));
        assert_eq!(Limits::from_vars(|_| None).unwrap(), Limits::default());
        let bad = Limits::from_vars(|n| (n == "CAIRN_IDLE_TIMEOUT").then(|| "soon".to_owned()));
        assert_eq!(bad.unwrap_err(), "CAIRN_IDLE_TIMEOUT=soon is not a positive whole number");
        let zero = Limits::from_vars(|n| (n == "CAIRN_MAX_CONNECTIONS").then(|| "0".to_owned()));
        assert!(zero.unwrap_err().contains("CAIRN_MAX_CONNECTIONS=0"));
    }
}
