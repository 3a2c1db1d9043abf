//! `cairn server`: the JSON REST API (axum) and the gRPC service (tonic) on one port,
//! both thin adapters over [`service::Service`], which holds the one
//! `Arc<dyn MetadataStore>` and the artifact store. This crate never picks a backend:
//! the binary builds the service and hands it over.

pub mod auth;
pub mod error;
mod grpc;
mod json;
pub mod limits;
mod openapi;
mod rest;
mod serve;
pub mod service;

pub use error::{ApiError, ErrorCode};
pub use limits::Limits;
pub use service::{MANY_CHANGES_TAG, STUDY_TAG, Service};

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;

/// The whole HTTP surface. Needs no socket, so tests can drive it directly.
pub fn router(service: Service) -> Router {
    use cairn_proto::v1::cairn_server::{CairnServer, SERVICE_NAME};
    let grpc = CairnServer::new(grpc::Grpc { service: service.clone() });
    rest::routes()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(openapi::document))
        // gRPC shares the port: its calls are HTTP/2 POSTs to /<package.Service>/<Method>.
        .route_service(&format!("/{SERVICE_NAME}/{{*method}}"), grpc)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(service)
}

/// The layers every route shares, added once to the whole application (Cairn's API,
/// MLflow's, the web UI): who is asking (and whether they may), the audit log,
/// activity tracking, and (outermost, before any body is read) the memory budget
/// for request bodies.
pub fn with_layers(app: Router, service: Service) -> Router {
    let budget = service.budget.clone();
    app.layer(axum::middleware::from_fn_with_state(service.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn_with_state(service, track_activity))
        .layer(axum::middleware::from_fn_with_state(budget, limits::body_budget))
}

/// Every request but health checks and status reads counts as activity (an embedded
/// server exits once idle).
async fn track_activity(
    axum::extract::State(s): axum::extract::State<Service>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = req.uri().path();
    if path != "/healthz" && path != "/api/v1/server" {
        s.touch();
    }
    next.run(req).await
}

async fn healthz(axum::extract::State(s): axum::extract::State<Service>) -> impl IntoResponse {
    let body = |status: &str| {
        axum::Json(serde_json::json!({
            "status": status, "version": env!("CARGO_PKG_VERSION"), "store": s.store.backend()
        }))
    };
    match s.store.ping().await {
        Ok(()) => (StatusCode::OK, body("ok")),
        Err(e) => {
            tracing::warn!(error = %e, "health check: store unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, body("store_unavailable"))
        }
    }
}

/// The API's 404 for a path no route takes (public so the binary can put the web UI
/// in front of it).
pub async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no endpoint {method} {}; the API is described at /api/openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!("{method} is not supported on {}; the Allow header lists the methods that are", uri.path()),
    )
}

/// How long a partial upload must have been untouched before it is removed (an
/// upload in progress writes to it continually; the idle timeout ends stalled ones).
const STALE_UPLOAD: std::time::Duration = std::time::Duration::from_secs(600);

/// Housekeeping while the server runs: runs whose heartbeats stopped are marked
/// `crashed` (checked every few seconds), and partial uploads left by a crash are
/// removed (at start, then every ten minutes). Several replicas may do it at once:
/// both are idempotent.
pub fn spawn_maintenance(service: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = (service.limits().heartbeat_timeout / 10)
            .clamp(std::time::Duration::from_millis(200), std::time::Duration::from_secs(30));
        let mut last_cleanup: Option<std::time::Instant> = None;
        loop {
            if last_cleanup.is_none_or(|t| t.elapsed() >= STALE_UPLOAD) {
                last_cleanup = Some(std::time::Instant::now());
                match service.artifacts.remove_stale_uploads(STALE_UPLOAD).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(removed = n, "removed partial uploads left by a crash"),
                    Err(e) => tracing::warn!(error = %e, "could not clean up partial uploads"),
                }
            }
            if let Err(e) = service.mark_crashed_runs().await {
                tracing::warn!(error = %e, "could not check run heartbeats");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// The runner's scheduling loop: every half second, or at once when a job is
/// submitted or ends on this replica, the replica holding the scheduler's lease runs a
/// round (the others find the lease taken and wait). Lost agents are found here too.
pub fn spawn_scheduler(service: Service) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = std::time::Duration::from_millis(500);
        loop {
            if let Err(e) = service.schedule_round().await {
                tracing::warn!(error = %e.message, "scheduling round failed");
            }
            let _ = tokio::time::timeout(every, service.runner_wake().notified()).await;
        }
    })
}

/// Serves until `shutdown` resolves, within `limits` (connections, timeouts).
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = service.limits().clone();
    let served = serve_app(listener, with_layers(router(service.clone()), service.clone()), limits, shutdown).await;
    service.flush_audit().await;
    served
}

/// Serves `app`: [`router`] merged with other surfaces (the binary adds MLflow's API).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve::run(listener, app, limits, shutdown).await
}
