//! The gateway's own error answers, shaped like the provider's errors so that SDKs show them.
//!
//! Contract: every answer has a stable machine-readable `code` (also in `x-llmtrail-error`),
//! a message that never quotes the request, and says where the problem came from in `type`:
//! the client's request, the upstream, or llmtrail itself.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use serde_json::json;

use crate::config::Kind;

/// Header carrying the error code of an answer made by the gateway itself.
pub const ERROR_HEADER: &str = "x-llmtrail-error";

/// An error the gateway answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `invalid_json`, `upstream_timeout`.
    pub code: &'static str,
    /// Human-readable message (never quoting the request).
    pub message: String,
}

impl GatewayError {
    /// Builds an error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        GatewayError {
            status,
            code,
            message: message.into(),
        }
    }

    /// Renders the error in the wire format of `kind`.
    #[must_use]
    pub fn render(&self, kind: Kind) -> Response<Bytes> {
        let body = match kind {
            Kind::OpenAi => json!({"error": {
                "message": self.message,
                "type": openai_type(self.status),
                "param": null,
                "code": self.code,
            }}),
            Kind::Anthropic => json!({
                "type": "error",
                "error": {
                    "type": anthropic_type(self.status),
                    "message": self.message,
                    "code": self.code,
                },
            }),
        };
        let mut resp = Response::new(Bytes::from(body.to_string()));
        *resp.status_mut() = self.status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(ERROR_HEADER, HeaderValue::from_static(self.code));
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

fn openai_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        500..=599 => "server_error",
        _ => "invalid_request_error",
    }
}

fn anthropic_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn provider_shapes() {
        let e = GatewayError::new(StatusCode::GATEWAY_TIMEOUT, "upstream_timeout", "slow");
        let r = e.render(Kind::OpenAi);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["error"]["code"], "upstream_timeout");
        assert_eq!(v["error"]["type"], "server_error");
        assert_eq!(r.headers()[ERROR_HEADER], "upstream_timeout");
        let r = e.render(Kind::Anthropic);
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "timeout_error");
    }
}
