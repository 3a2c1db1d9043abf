//! `cairn server`: the JSON REST API (axum) and the gRPC service (tonic) on one port,
//! both thin adapters over [`service::Service`], which holds the one
//! `Arc<dyn MetadataStore>` and the artifact store. This crate never picks a backend:
//! the binary builds the service and hands it over.

pub mod auth;
pub mod error;
mod grpc;
mod json;
mod openapi;
mod rest;
pub mod service;

pub use error::{ApiError, ErrorCode};
pub use service::{MANY_CHANGES_TAG, STUDY_TAG, Service};

use axum::Router;
use axum::http::{Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::serve::ListenerExt;

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
/// MLflow's, the web UI): who is asking (and whether they may), the audit log, and
/// activity tracking.
pub fn with_layers(app: Router, service: Service) -> Router {
    app.layer(axum::middleware::from_fn_with_state(service.clone(), auth::authenticate))
        .layer(axum::middleware::from_fn_with_state(service, track_activity))
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

/// Serves until `shutdown` resolves. Every accepted connection gets `TCP_NODELAY`:
/// without it, small requests on a kept-alive connection stall ~40 ms in Nagle's
/// algorithm waiting for the peer's delayed ACK.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_app(listener, with_layers(router(service.clone()), service), shutdown).await
}

/// Serves `app`: [`router`] merged with other surfaces (the binary adds MLflow's API).
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    // Peer addresses reach the audit log.
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
