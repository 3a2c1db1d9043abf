//! The API's error contract: one stable machine code per kind of failure, each with
//! exactly one HTTP status, and the JSON shape every error is sent in. The server maps
//! codes to gRPC statuses as well; `docs/rest-api.md`'s table is generated from
//! [`ErrorCode::ALL`] and a test keeps it so.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal, $status:literal;)*) => {
        /// A stable error code. New codes may be added; clients should treat one they do
        /// not know by its HTTP status (it arrives as [`ErrorCode::Unknown`]).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)*
            /// A code this version does not know (sent by a newer server).
            Unknown,
        }

        impl ErrorCode {
            /// Every code, in the order of the documentation table.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as sent on the wire, e.g. `run_not_found`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown => "unknown",
                }
            }

            /// The HTTP status the code is always sent with.
            pub fn http_status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                    ErrorCode::Unknown => 500,
                }
            }

            /// What the code means, for the documentation table.
            pub fn meaning(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => concat!($($doc, " "),*).trim_ascii(),)*
                    ErrorCode::Unknown => "a code this version does not know",
                }
            }

            pub fn parse(code: &str) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$variant,)*
                    _ => ErrorCode::Unknown,
                }
            }
        }
    };
}

error_codes! {
    /// The body is not valid JSON.
    InvalidJson = "invalid_json", 400;
    /// A field, parameter or path segment is wrong (also unknown query parameters and fields); the message names it.
    InvalidArgument = "invalid_argument", 400;
    /// The filter or sort does not parse; `position` is the byte offset of the problem.
    InvalidFilter = "invalid_filter", 400;
    /// The project requires a hypothesis and the run states none.
    HypothesisRequired = "hypothesis_required", 400;
    /// No credentials, or a token that is malformed, expired or revoked.
    Unauthenticated = "unauthenticated", 401;
    /// The caller is known but their role does not allow this; nothing was changed.
    PermissionDenied = "permission_denied", 403;
    /// No such endpoint.
    NotFound = "not_found", 404;
    /// No such project (or a private project the caller is not a member of).
    ProjectNotFound = "project_not_found", 404;
    /// No such run (or one in a project the caller cannot see).
    RunNotFound = "run_not_found", 404;
    /// No artifact at that path.
    ArtifactNotFound = "artifact_not_found", 404;
    /// No such registered model.
    ModelNotFound = "model_not_found", 404;
    /// No such version of a registered model.
    ModelVersionNotFound = "model_version_not_found", 404;
    /// No such logged model.
    LoggedModelNotFound = "logged_model_not_found", 404;
    /// The registered model has no such alias.
    AliasNotFound = "alias_not_found", 404;
    /// No such user.
    UserNotFound = "user_not_found", 404;
    /// No such team.
    TeamNotFound = "team_not_found", 404;
    /// No such API token.
    TokenNotFound = "token_not_found", 404;
    /// No such job (a run that was not submitted to the queue).
    JobNotFound = "job_not_found", 404;
    /// No such agent (it registers again on its next start).
    AgentNotFound = "agent_not_found", 404;
    /// The method is not supported on this path; the `Allow` header lists those that are.
    MethodNotAllowed = "method_not_allowed", 405;
    /// Something with that name or id exists already.
    AlreadyExists = "already_exists", 409;
    /// The run is deleted: its record is kept but it takes no more data.
    RunDeleted = "run_deleted", 409;
    /// The project is deleted; restore it to add runs.
    ProjectDeleted = "project_deleted", 409;
    /// An identical run already finished; `details.run` names it and its owner.
    DuplicateRun = "duplicate_run", 409;
    /// The `batch_id` was used before for a batch with different points; nothing was stored.
    BatchConflict = "batch_conflict", 409;
    /// The job is not in a state that allows this (cancelling a finished job); the message says its state.
    JobStateConflict = "job_state_conflict", 409;
    /// The body is over a limit; the message names it.
    PayloadTooLarge = "payload_too_large", 413;
    /// The body was not sent as `application/json`.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// More points in one request than allowed; the message names the limit.
    TooManyPoints = "too_many_points", 422;
    /// More run × key series in one request than allowed.
    TooManySeries = "too_many_series", 422;
    /// No connected agent could ever run the job; the message names the largest node.
    Unschedulable = "unschedulable", 422;
    /// Too many attempts (e.g. failed logins); wait as `Retry-After` says.
    RateLimited = "rate_limited", 429;
    /// An internal failure; the server log has the cause.
    Internal = "internal", 500;
    /// A service the server relies on (the OpenID Connect provider) did not answer.
    UpstreamUnavailable = "upstream_unavailable", 502;
    /// The metadata store cannot be reached; retry shortly.
    StoreUnavailable = "store_unavailable", 503;
    /// Artifact storage cannot be reached; retry shortly.
    ArtifactStoreUnavailable = "artifact_store_unavailable", 503;
    /// The server holds as many request bodies as its memory budget allows; retry after `Retry-After` seconds.
    ServerBusy = "server_busy", 503;
    /// The query ran past the statement timeout; narrow the filter or page the request.
    QueryTimeout = "query_timeout", 503;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ErrorCode, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        Ok(ErrorCode::parse(&s))
    }
}

/// `{"error": {...}}`: the body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// For filter errors: the byte offset of the problem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Structured detail (e.g. the earlier run of a refused duplicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// The documentation table (`docs/rest-api.md`): one row per HTTP status.
pub fn markdown_table() -> String {
    let mut statuses: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.http_status()).collect();
    statuses.dedup();
    let mut out = String::from("| HTTP | code | meaning |\n|---|---|---|\n");
    for s in statuses {
        for c in ErrorCode::ALL.iter().filter(|c| c.http_status() == s) {
            out.push_str(&format!("| {s} | `{}` | {} |\n", c.as_str(), c.meaning()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept_apart() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(c.as_str()), *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), *c);
            assert!(!c.meaning().is_empty(), "{c} has no meaning");
        }
        assert_eq!(serde_json::from_str::<ErrorCode>("\"from_the_future\"").unwrap(), ErrorCode::Unknown);
    }

    /// `docs/rest-api.md` carries the table between its `error-codes` markers.
    #[test]
    fn the_documented_table_is_the_enum() {
        let doc = include_str!("../../../docs/rest-api.md");
        let start = doc.find("<!-- error-codes").expect("docs/rest-api.md has the error-codes marker");
        let body_start = start + doc[start..].find('\n').unwrap() + 1;
        let end = doc.find("<!-- /error-codes -->").expect("docs/rest-api.md has the closing marker");
        assert_eq!(
            &doc[body_start..end],
            markdown_table(),
            "docs/rest-api.md's error table is stale: replace it with cairn_api::error::markdown_table()"
        );
    }

    /// The OpenAPI document's `ErrorDetail.code` enum is the enum.
    #[test]
    fn the_openapi_document_lists_every_code() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../cairn-server/openapi.json")).expect("openapi.json is JSON");
        let listed: Vec<&str> = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
            .as_array()
            .expect("ErrorDetail.code has an enum")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(listed, codes, "openapi.json's ErrorDetail.code enum is stale");
    }

    #[test]
    fn statuses_are_grouped_in_the_table_order() {
        let statuses: Vec<u16> = ErrorCode::ALL.iter().map(|c| c.http_status()).collect();
        let mut sorted = statuses.clone();
        sorted.sort();
        assert_eq!(statuses, sorted, "keep ErrorCode::ALL ordered by HTTP status");
    }
}
