//! What can go wrong talking to a server: it answered with an API error (its stable
//! code and message), it could not be reached, or what answered was not Cairn.

use cairn_api::ErrorCode;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused or failed the request and said why.
    #[error("{message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        /// For filter errors: the byte offset of the problem.
        position: Option<usize>,
        details: Option<serde_json::Value>,
    },
    /// No answer: nothing listens there, the connection broke, or it timed out.
    /// `sent` says whether the request may have reached the server.
    #[error("cannot reach the Cairn server at {url}: {source}")]
    Unreachable {
        url: String,
        sent: bool,
        #[source]
        source: reqwest::Error,
    },
    /// Something answered, but not with the API's JSON (a proxy page, another service).
    #[error("{url} answered HTTP {status} with something that is not Cairn's API: {body}")]
    NotTheApi { url: String, status: u16, body: String },
    #[error("'{url}' is not a server address: {why}")]
    BadUrl { url: String, why: String },
    #[error("cannot send the request: {0}")]
    Encode(String),
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The API's error code, when the server answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the server said the thing asked for does not exist (any not-found code).
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Api { status: 404, .. })
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::NotTheApi { status, .. } => Some(*status),
            _ => None,
        }
    }
}
