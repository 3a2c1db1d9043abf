//! MLflow's error shape: `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "…"}` with
//! the HTTP status MLflow's server uses for that code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cairn_server::ApiError;

#[derive(Debug)]
pub struct MlflowError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

pub type Result<T, E = MlflowError> = std::result::Result<T, E>;

impl MlflowError {
    pub fn invalid(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::BAD_REQUEST, code: "INVALID_PARAMETER_VALUE", message: message.into() }
    }
    pub fn missing(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::NOT_FOUND, code: "RESOURCE_DOES_NOT_EXIST", message: message.into() }
    }
    pub fn exists(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::BAD_REQUEST, code: "RESOURCE_ALREADY_EXISTS", message: message.into() }
    }
    pub fn not_implemented(message: impl Into<String>) -> MlflowError {
        MlflowError { status: StatusCode::NOT_IMPLEMENTED, code: "NOT_IMPLEMENTED", message: message.into() }
    }
}

impl From<ApiError> for MlflowError {
    fn from(e: ApiError) -> MlflowError {
        use cairn_server::error::ErrorCode as E;
        let (status, code) = match e.code {
            E::RunNotFound | E::ProjectNotFound | E::ArtifactNotFound | E::NotFound => {
                (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST")
            }
            E::AlreadyExists => (StatusCode::BAD_REQUEST, "RESOURCE_ALREADY_EXISTS"),
            E::StoreUnavailable | E::ArtifactStoreUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "TEMPORARILY_UNAVAILABLE")
            }
            E::Unauthenticated => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
            E::PermissionDenied => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
            E::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED"),
            E::Internal | E::Unknown => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
            // A deleted run or experiment takes no changes: MLflow says the parameter is invalid.
            _ => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        };
        MlflowError { status, code, message: e.message }
    }
}

impl IntoResponse for MlflowError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({"error_code": self.code, "message": self.message}))).into_response()
    }
}

impl From<cairn_query::mlflow::MlflowFilterError> for MlflowError {
    fn from(e: cairn_query::mlflow::MlflowFilterError) -> MlflowError {
        MlflowError::invalid(e.0)
    }
}
