//! The API's one error type: an HTTP status, a stable machine-readable code and a message that
//! never leaks internals (paths, keys) or request content.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use llmtrail_core::EventError;
use llmtrail_ledger::LedgerError;
use serde::Serialize;

/// An error answered by the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// One-based NDJSON line (or array item) the error is about.
    pub line: Option<usize>,
    /// JSON Pointer of the offending field.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            line: None,
            field: None,
        }
    }

    /// 400 with the given code.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        )
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// Attaches the line the error is about.
    pub fn at_line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    /// Maps an event parse error, keeping its field.
    pub fn from_event(e: &EventError) -> Self {
        let code = match e {
            EventError::InvalidJson { .. } => "invalid_json",
            EventError::InvalidUtf8 { .. } => "invalid_utf8",
            EventError::UnknownKind { .. } => "unknown_kind",
            EventError::UnknownField { .. } => "unknown_field",
            EventError::MissingField { .. } => "missing_field",
            _ => "invalid_value",
        };
        let mut err = Self::bad_request(code, e.to_string());
        err.field = e.field().map(str::to_owned);
        err
    }

    /// Maps a ledger error; storage details are logged by the caller, not returned.
    pub fn from_ledger(e: &LedgerError) -> Self {
        match e {
            LedgerError::Duplicate(id) => Self::new(
                StatusCode::CONFLICT,
                "duplicate_id",
                format!("event id {id} is already in the ledger"),
            ),
            LedgerError::BatchTooLarge { bytes, capacity } => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!("batch encodes to {bytes} bytes; one segment holds {capacity}"),
            ),
            LedgerError::OutOfRange { what, value, size } => Self::bad_request(
                "out_of_range",
                format!("{what} {value} is out of range for tree size {size}"),
            ),
            _ => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ledger_unavailable",
                "the ledger cannot durably record events right now; nothing was recorded",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code,
                message: &self.message,
                line: self.line,
                field: self.field.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}
