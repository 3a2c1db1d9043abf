//! The one error type of the API, with a stable machine code and a message for a
//! person. Store, domain and parse errors are converted here, once; REST turns it
//! into an HTTP status + JSON body, gRPC into a `tonic::Status`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_store::StoreError;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For filter errors: the byte offset of the problem.
    pub position: Option<usize>,
    /// Structured detail for clients (e.g. the earlier run of a refused duplicate).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), position: None, details: None }
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
        ApiError { details: Some(details), ..ApiError::new(StatusCode::CONFLICT, "duplicate_run", message) }
    }
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_argument", message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
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
            StoreError::NotFound { what, name } => {
                let code = match what {
                    "project" => "project_not_found",
                    "run" | "parent run" => "run_not_found",
                    "artifact" => "artifact_not_found",
                    "registered model" => "model_not_found",
                    "model version" => "model_version_not_found",
                    "logged model" => "logged_model_not_found",
                    _ => "not_found",
                };
                let hint = match what {
                    "run" | "parent run" => "; `cairn ls` lists runs",
                    "project" => "; `cairn projects` lists projects",
                    _ => "",
                };
                ApiError::not_found(code, format!("no {what} '{name}' in this store{hint}"))
            }
            StoreError::AlreadyExists(_) => ApiError::new(StatusCode::CONFLICT, "already_exists", msg),
            StoreError::RunDeleted(_) => ApiError::new(StatusCode::CONFLICT, "run_deleted", msg),
            StoreError::Invalid(_) => ApiError::invalid(msg),
            StoreError::Unavailable(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", format!("{msg}; retry shortly"))
            }
            StoreError::TooNew { .. } | StoreError::NotACairnStore(_) | StoreError::Internal(_) => {
                tracing::error!(error = %msg, "store failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error in the metadata store; see the server log",
                )
            }
        }
    }
}

impl From<cairn_domain::DomainError> for ApiError {
    fn from(e: cairn_domain::DomainError) -> ApiError {
        match e {
            cairn_domain::DomainError::HypothesisRequired { .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "hypothesis_required", e.to_string())
            }
            e => ApiError::invalid(e.to_string()),
        }
    }
}

impl From<cairn_query::ParseError> for ApiError {
    fn from(e: cairn_query::ParseError) -> ApiError {
        let message = format!("invalid filter: {e}\n{}", e.caret());
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_filter",
            message,
            position: Some(e.position),
            details: None,
        }
    }
}

impl From<cairn_artifacts::ArtifactError> for ApiError {
    fn from(e: cairn_artifacts::ArtifactError) -> ApiError {
        match e {
            cairn_artifacts::ArtifactError::NotFound(p) => {
                ApiError::not_found("artifact_not_found", format!("artifact bytes missing from storage: {p}"))
            }
            cairn_artifacts::ArtifactError::Upload(m) => ApiError::invalid(format!("upload interrupted: {m}")),
            e => {
                tracing::error!(error = %e, "artifact storage failure");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "artifact_store_unavailable", e.to_string())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        if let Some(p) = self.position {
            body["error"]["position"] = p.into();
        }
        if let Some(d) = self.details {
            body["error"]["details"] = d;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> tonic::Status {
        let code = match e.status {
            StatusCode::BAD_REQUEST => tonic::Code::InvalidArgument,
            StatusCode::NOT_FOUND => tonic::Code::NotFound,
            StatusCode::CONFLICT => {
                if e.code == "already_exists" {
                    tonic::Code::AlreadyExists
                } else {
                    tonic::Code::FailedPrecondition
                }
            }
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNPROCESSABLE_ENTITY => tonic::Code::ResourceExhausted,
            StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
            _ => tonic::Code::Internal,
        };
        tonic::Status::new(code, format!("{}: {}", e.code, e.message))
    }
}
