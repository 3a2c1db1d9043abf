//! The one error type of the API, with a stable machine code ([`ErrorCode`], which
//! fixes the HTTP status) and a message for a person. Store, domain and parse errors
//! are converted here, once; REST turns it into an HTTP status + JSON body, gRPC into
//! a `tonic::Status`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use cairn_api::ErrorCode;
use cairn_api::{ErrorBody, ErrorDetail};
use cairn_store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// For filter errors: the byte offset of the problem.
    pub position: Option<usize>,
    /// Structured detail for clients (e.g. the earlier run of a refused duplicate).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError { status, code, message: message.into(), position: None, details: None }
    }
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Unauthenticated, message)
    }
    pub fn denied(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::PermissionDenied, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Internal, message)
    }
    /// An identical run already finished: names it, with its key metrics.
    pub fn duplicate(earlier: &cairn_domain::Run) -> ApiError {
        let when = chrono::DateTime::from_timestamp_millis(earlier.created_at)
            .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        let metrics: Vec<String> = earlier
            .metrics
            .iter()
            .filter(|m| !m.key.starts_with("system/"))
            .take(5)
            .map(|m| format!("{}={}", m.key, (m.last * 1e6).round() / 1e6))
            .collect();
        let mut message = format!(
            "this exact run already finished: {} ({}) by {} on {when}",
            earlier.short_id, earlier.name, earlier.owner
        );
        if !metrics.is_empty() {
            message.push_str(&format!("; {}", metrics.join(" ")));
        }
        let details = serde_json::json!({
            "run": {
                "id": earlier.id,
                "short_id": earlier.short_id,
                "name": earlier.name,
                "owner": earlier.owner,
                "created_at": earlier.created_at,
                "group_id": earlier.group_id,
                "metrics": earlier.metrics,
            }
        });
        ApiError { details: Some(details), ..ApiError::new(ErrorCode::DuplicateRun, message) }
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::InvalidArgument, message)
    }
    /// Whether this is a "no such thing" answer (any of the not-found codes).
    pub fn is_not_found(&self) -> bool {
        self.status == StatusCode::NOT_FOUND
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}
impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let msg = e.to_string();
        match e {
            StoreError::NotFound { what: "referenced record", .. } => ApiError::new(
                ErrorCode::NotFound,
                "the request refers to a record (a parent run, a project, a user) that does not exist",
            ),
            StoreError::NotFound { what, name } => {
                let code = match what {
                    "project" => ErrorCode::ProjectNotFound,
                    "run" | "parent run" => ErrorCode::RunNotFound,
                    "artifact" => ErrorCode::ArtifactNotFound,
                    "job" => ErrorCode::JobNotFound,
                    "agent" => ErrorCode::AgentNotFound,
                    "registered model" => ErrorCode::ModelNotFound,
                    "model version" => ErrorCode::ModelVersionNotFound,
                    "logged model" => ErrorCode::LoggedModelNotFound,
                    "user" => ErrorCode::UserNotFound,
                    "team" => ErrorCode::TeamNotFound,
                    "token" => ErrorCode::TokenNotFound,
                    _ => ErrorCode::NotFound,
                };
                let hint = match what {
                    "run" | "parent run" => "; `cairn ls` lists runs",
                    "project" => "; `cairn projects` lists projects",
                    _ => "",
                };
                ApiError::new(code, format!("no {what} '{name}' in this store{hint}"))
            }
            StoreError::AlreadyExists(_) => ApiError::new(ErrorCode::AlreadyExists, msg),
            StoreError::RunDeleted(_) => ApiError::new(ErrorCode::RunDeleted, msg),
            StoreError::Invalid(_) => ApiError::invalid(msg),
            StoreError::Unavailable(_) => ApiError::new(ErrorCode::StoreUnavailable, format!("{msg}; retry shortly")),
            StoreError::BatchConflict(_) => ApiError::new(ErrorCode::BatchConflict, msg),
            StoreError::Timeout(_) => ApiError::new(ErrorCode::QueryTimeout, msg),
            StoreError::TooManyPoints { .. } => ApiError::new(ErrorCode::TooManyPoints, msg),
            StoreError::TooNew { .. } | StoreError::NotACairnStore(_) | StoreError::Internal(_) => {
                tracing::error!(error = %msg, "store failure");
                ApiError::internal("internal error in the metadata store; see the server log")
            }
        }
    }
}

impl From<cairn_domain::DomainError> for ApiError {
    fn from(e: cairn_domain::DomainError) -> ApiError {
        match e {
            cairn_domain::DomainError::HypothesisRequired { .. } => {
                ApiError::new(ErrorCode::HypothesisRequired, e.to_string())
            }
            e => ApiError::invalid(e.to_string()),
        }
    }
}

impl From<cairn_query::ParseError> for ApiError {
    fn from(e: cairn_query::ParseError) -> ApiError {
        let message = format!("invalid filter: {e}\n{}", e.caret());
        ApiError { position: Some(e.position), ..ApiError::new(ErrorCode::InvalidFilter, message) }
    }
}

impl From<cairn_artifacts::ArtifactError> for ApiError {
    fn from(e: cairn_artifacts::ArtifactError) -> ApiError {
        match e {
            cairn_artifacts::ArtifactError::NotFound(p) => {
                ApiError::new(ErrorCode::ArtifactNotFound, format!("artifact bytes missing from storage: {p}"))
            }
            cairn_artifacts::ArtifactError::Upload(m) => ApiError::invalid(format!("upload interrupted: {m}")),
            cairn_artifacts::ArtifactError::Multipart(m) => ApiError::invalid(m),
            e @ cairn_artifacts::ArtifactError::UploadNotFound(_) => ApiError::new(ErrorCode::NotFound, e.to_string()),
            e @ cairn_artifacts::ArtifactError::Link(_) => {
                tracing::error!(error = %e, "artifact storage refused a link");
                ApiError::new(ErrorCode::Internal, e.to_string())
            }
            e => {
                tracing::error!(error = %e, "artifact storage failure");
                ApiError::new(ErrorCode::ArtifactStoreUnavailable, e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.code == ErrorCode::RateLimited || self.status == StatusCode::SERVICE_UNAVAILABLE;
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                position: self.position,
                details: self.details,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if retry {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        if self.code == ErrorCode::Unauthenticated {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer realm=\"cairn\""),
            );
        }
        resp
    }
}

/// The gRPC status each code is sent as.
pub fn grpc_code(code: ErrorCode) -> tonic::Code {
    use ErrorCode as E;
    match code {
        E::InvalidJson | E::InvalidArgument | E::InvalidFilter | E::HypothesisRequired => tonic::Code::InvalidArgument,
        E::Unauthenticated => tonic::Code::Unauthenticated,
        E::PermissionDenied => tonic::Code::PermissionDenied,
        E::NotFound
        | E::ProjectNotFound
        | E::RunNotFound
        | E::ArtifactNotFound
        | E::ModelNotFound
        | E::ModelVersionNotFound
        | E::LoggedModelNotFound
        | E::AliasNotFound
        | E::UserNotFound
        | E::TeamNotFound
        | E::TokenNotFound
        | E::JobNotFound
        | E::AgentNotFound => tonic::Code::NotFound,
        E::MethodNotAllowed => tonic::Code::Unimplemented,
        E::AlreadyExists => tonic::Code::AlreadyExists,
        E::RunDeleted | E::ProjectDeleted | E::DuplicateRun | E::JobStateConflict | E::Unschedulable => {
            tonic::Code::FailedPrecondition
        }
        E::BatchConflict => tonic::Code::AlreadyExists,
        E::ServerBusy => tonic::Code::ResourceExhausted,
        E::QueryTimeout => tonic::Code::DeadlineExceeded,
        E::PayloadTooLarge | E::TooManyPoints | E::TooManySeries | E::RateLimited => tonic::Code::ResourceExhausted,
        E::UnsupportedMediaType => tonic::Code::InvalidArgument,
        E::StoreUnavailable | E::ArtifactStoreUnavailable | E::UpstreamUnavailable => tonic::Code::Unavailable,
        E::Internal | E::Unknown => tonic::Code::Internal,
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> tonic::Status {
        tonic::Status::new(grpc_code(e.code), format!("{}: {}", e.code, e.message))
    }
}
