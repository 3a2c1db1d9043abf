//! Who each request comes from, decided once for every surface (Cairn's REST API,
//! gRPC, MLflow's API, artifacts, live events): a bearer token, basic auth (user name
//! and password, or a token as the password: what the MLflow client sends), or the web
//! UI's session cookie. On a server that requires sign-in, a request without
//! credentials reaches only the public paths (health, sign-in, the UI's files);
//! credentials that do not check out are refused with the reason, never downgraded to
//! anonymous. Every write is then appended to the audit log with who, what, when,
//! from which address and with which token.

use crate::error::{ApiError, ErrorCode};
use crate::service::Service;
use crate::service::access::Caller;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use cairn_domain::auth::AuditEntry;
use std::net::SocketAddr;

/// The web UI's session cookie.
pub const SESSION_COOKIE: &str = "cairn_session";

/// The service, answering for the request's caller. Every handler takes it instead of
/// the bare state, whose caller may do nothing when sign-in is required.
pub struct Svc(pub Service);

impl FromRequestParts<Service> for Svc {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Service) -> Result<Svc, ApiError> {
        let caller = match parts.extensions.get::<Caller>() {
            Some(c) => c.clone(),
            None if state.auth_required() => Caller::anonymous(None),
            None => Caller::local(),
        };
        Ok(Svc(state.with_caller(caller)))
    }
}

/// Paths anyone may reach on a server that requires sign-in.
fn public(method: &Method, path: &str) -> bool {
    const OPEN: [&str; 5] =
        ["/healthz", "/api/openapi.json", "/api/v1/auth/login", "/api/v1/auth/config", "/api/v1/auth/whoami"];
    if OPEN.contains(&path) || path.starts_with("/api/v1/auth/oidc/") {
        return true;
    }
    // A part of a multipart upload, sent as to a signed URL: the upload's unguessable
    // id, given only to the editor who started it, is the permission.
    if method == Method::PUT
        && (path.starts_with("/api/2.0/mlflow-artifacts/mpu/part/")
            || path.starts_with("/ajax-api/2.0/mlflow-artifacts/mpu/part/"))
    {
        return true;
    }
    // The web UI's own files and pages (it shows its sign-in page); not the APIs.
    let api = path.starts_with("/api/") || path.starts_with("/ajax-api/") || path.starts_with("/cairn.");
    !api && (method == Method::GET || method == Method::HEAD)
}

fn is_grpc(path: &str) -> bool {
    path.starts_with("/cairn.")
}

fn is_mlflow(path: &str) -> bool {
    path.starts_with("/api/2.0/mlflow") || path.starts_with("/ajax-api/")
}

/// A refusal in the shape the surface speaks: gRPC status, MLflow's error, or Cairn's.
fn refuse(path: &str, e: ApiError) -> Response {
    if is_grpc(path) {
        return tonic::Status::from(e).into_http();
    }
    if is_mlflow(path) {
        let code = match e.code {
            ErrorCode::Unauthenticated => "UNAUTHENTICATED",
            ErrorCode::RateLimited => "REQUEST_LIMIT_EXCEEDED",
            _ => "PERMISSION_DENIED",
        };
        let body = serde_json::json!({"error_code": code, "message": e.message});
        return (e.status, axum::Json(body)).into_response();
    }
    e.into_response()
}

fn credentials(headers: &HeaderMap) -> Option<Credentials> {
    if let Some(v) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let v = v.trim();
        if let Some(t) = v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")) {
            return Some(Credentials::Token(t.trim().to_owned()));
        }
        if let Some(b) = v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")) {
            let decoded = base64::engine::general_purpose::STANDARD.decode(b.trim()).ok();
            let text = decoded.and_then(|d| String::from_utf8(d).ok());
            return Some(match text.as_deref().and_then(|t| t.split_once(':')) {
                Some((u, p)) => Credentials::Password(u.to_owned(), p.to_owned()),
                None => Credentials::Malformed,
            });
        }
        return Some(Credentials::Malformed);
    }
    let cookies = headers.get_all(header::COOKIE);
    for c in cookies.iter().filter_map(|v| v.to_str().ok()) {
        for part in c.split(';') {
            if let Some(t) = part.trim().strip_prefix(SESSION_COOKIE).and_then(|r| r.strip_prefix('='))
                && !t.is_empty()
            {
                return Some(Credentials::Token(t.to_owned()));
            }
        }
    }
    None
}

enum Credentials {
    Token(String),
    Password(String, String),
    Malformed,
}

/// The client's address: the socket's peer, and what a proxy in front says.
fn address(req: &Request) -> Option<String> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip().to_string());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).map(str::trim);
    match (peer, forwarded) {
        (Some(p), Some(f)) if !f.is_empty() => Some(format!("{f} (via {p})")),
        (p, _) => p,
    }
}

/// Writes the audit log leaves out: reads sent as POST, and the data a run streams
/// (metric points, artifact bytes, heartbeats), which the run itself records.
fn audited(method: &Method, path: &str) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return false;
    }
    const READS: [&str; 7] = [
        "/api/v1/runs/search",
        "/api/v1/metrics/history",
        "/api/v1/runs/groups",
        "/search",
        "/get-history-bulk-interval",
        "/api/v1/auth/login",
        "/api/v1/auth/oidc/exchange",
    ];
    if READS.iter().any(|r| path.ends_with(r)) {
        return false;
    }
    let upload = matches!(*method, Method::PUT | Method::POST);
    let ingestion = (path.starts_with("/api/v1/runs/")
        && (path.ends_with("/metrics") || path.ends_with("/heartbeat") || upload && path.contains("/artifacts/")))
        || path.ends_with("/runs/log-metric")
        || path.ends_with("/runs/log-batch")
        || upload && path.contains("/mlflow-artifacts/")
        || path.ends_with("/StreamMetrics");
    !ingestion
}

/// The project named in a path, when it names one.
fn project_in(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/api/v1/projects/")?;
    let name = rest.split('/').next().filter(|n| !n.is_empty())?;
    percent_decode(name)
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Decides the caller, refuses what they may not reach, and audits writes.
pub async fn authenticate(State(s): State<Service>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let addr = address(&req);
    let caller = if !s.auth_required() {
        let mut c = Caller::local();
        c.address = addr.clone();
        c
    } else {
        let resolved = match credentials(req.headers()) {
            Some(Credentials::Token(t)) => s.caller_from_token(&t, addr.clone()).await,
            Some(Credentials::Password(u, p)) => s.caller_from_password(&u, &p, addr.clone()).await,
            Some(Credentials::Malformed) => Err(ApiError::unauthenticated(
                "the Authorization header is malformed: send `Bearer <token>` or basic auth (user:password)",
            )),
            None => Ok(Caller::anonymous(addr.clone())),
        };
        match resolved {
            Ok(c) => c,
            Err(e) => {
                if public(&method, &path) && e.code == ErrorCode::Unauthenticated && path.starts_with("/api/v1/auth/") {
                    // A stale session cookie must not lock anyone out of signing in again.
                    Caller::anonymous(addr.clone())
                } else {
                    return refuse(&path, e);
                }
            }
        }
    };
    if s.auth_required() && caller.signed_in().is_none() && !public(&method, &path) {
        return refuse(
            &path,
            ApiError::unauthenticated(
                "this server requires signing in: `cairn login URL`, or send a token (Authorization: Bearer …; \
                 for MLflow clients MLFLOW_TRACKING_TOKEN)",
            ),
        );
    }
    req.extensions_mut().insert(caller.clone());
    let response = next.run(req).await;
    if audited(&method, &path) {
        let status = response.status().as_u16();
        let project = project_in(&path).or_else(|| caller.touched_project());
        let token = caller.token().map(|t| format!("{} ({}…)", t.name, t.prefix));
        s.audit(AuditEntry {
            id: 0,
            at: crate::service::now_ms(),
            actor: caller.name(),
            token,
            address: caller.address.clone(),
            action: format!("{method} {path}"),
            project,
            status,
            details: caller.details(),
        })
        .await;
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_from_every_place_clients_put_them() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Bearer cairn_abc".parse().unwrap());
        assert!(matches!(credentials(&h), Some(Credentials::Token(t)) if t == "cairn_abc"));
        let mut h = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret:x");
        h.insert(header::AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
        assert!(matches!(credentials(&h), Some(Credentials::Password(u, p)) if u == "alice" && p == "s3cret:x"));
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "theme=dark; cairn_session=cairn_def".parse().unwrap());
        assert!(matches!(credentials(&h), Some(Credentials::Token(t)) if t == "cairn_def"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "Digest nonsense".parse().unwrap());
        assert!(matches!(credentials(&h), Some(Credentials::Malformed)));
        assert!(credentials(&HeaderMap::new()).is_none());
    }

    #[test]
    fn only_sign_in_and_the_ui_are_public() {
        assert!(public(&Method::GET, "/healthz"));
        assert!(public(&Method::POST, "/api/v1/auth/login"));
        assert!(public(&Method::GET, "/runs/abc"));
        assert!(public(&Method::GET, "/assets/index.js"));
        assert!(!public(&Method::GET, "/api/v1/runs"));
        assert!(!public(&Method::GET, "/api/2.0/mlflow/experiments/search"));
        assert!(!public(&Method::POST, "/cairn.v1.Cairn/GetRun"));
        assert!(!public(&Method::POST, "/runs/abc"));
    }

    #[test]
    fn writes_are_audited_but_not_streamed_data_or_reads() {
        assert!(audited(&Method::POST, "/api/v1/runs"));
        assert!(audited(&Method::PATCH, "/api/v1/projects/vision"));
        assert!(audited(&Method::POST, "/api/2.0/mlflow/runs/create"));
        assert!(!audited(&Method::GET, "/api/v1/runs"));
        assert!(!audited(&Method::POST, "/api/v1/runs/search"));
        assert!(!audited(&Method::POST, "/api/v1/runs/abc/metrics"));
        assert!(!audited(&Method::POST, "/api/v1/runs/abc/heartbeat"));
        assert!(!audited(&Method::PUT, "/api/v1/runs/abc/artifacts/model.bin"));
        assert!(!audited(&Method::POST, "/api/2.0/mlflow/runs/log-batch"));
        assert!(audited(&Method::DELETE, "/api/v1/runs/abc/artifacts/model.bin"));
        assert_eq!(project_in("/api/v1/projects/my%20proj/baseline").as_deref(), Some("my proj"));
    }
}
