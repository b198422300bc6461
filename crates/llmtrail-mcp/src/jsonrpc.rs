//! JSON-RPC 2.0 framing as MCP uses it: one message, or a batch, per stdio line or HTTP body.
//!
//! Contract: [`parse`] never loses a message it cannot classify: a member of a batch that is
//! not a request, notification or response comes back as [`Kind::Invalid`] with the raw
//! value, so the caller can answer it (`-32600`) and log it. Ids are kept as the JSON the
//! peer sent (number or string); [`id_key`] turns one into a map key that keeps `1` and
//! `"1"` apart, as the specification requires.

use serde_json::{Map, Value, json};

/// Invalid JSON was received (JSON-RPC `-32700`).
pub const PARSE_ERROR: i64 = -32700;
/// The JSON sent is not a valid request object (JSON-RPC `-32600`).
pub const INVALID_REQUEST: i64 = -32600;
/// llmtrail's policy refused the call (server-defined range `-32000..-32099`).
pub const BLOCKED: i64 = -32001;
/// The call waited for approval and was denied or timed out.
pub const NOT_APPROVED: i64 = -32002;
/// The call could not be logged, so it was not forwarded (fail closed).
pub const LOG_FAILED: i64 = -32003;
/// The MCP server exited or closed its output before answering.
pub const SERVER_GONE: i64 = -32004;
/// The MCP server wrote something that is not JSON-RPC while the call was pending.
pub const SERVER_GARBAGE: i64 = -32005;
/// The message is larger than the configured limit.
pub const TOO_LARGE: i64 = -32006;
/// The upstream HTTP server could not be reached or answered with an error status.
pub const UPSTREAM_FAILED: i64 = -32007;

/// Why bytes are not a JSON-RPC frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Not UTF-8 (JSON must be).
    #[error("message is not UTF-8 (at byte {0})")]
    NotUtf8(usize),
    /// Not JSON.
    #[error("message is not JSON: {0}")]
    Json(String),
    /// JSON, but neither an object nor a non-empty array.
    #[error("message is neither a JSON-RPC object nor a non-empty batch")]
    Shape,
}

impl FrameError {
    /// The JSON-RPC error code to answer with.
    #[must_use]
    pub fn code(&self) -> i64 {
        match self {
            FrameError::NotUtf8(_) | FrameError::Json(_) => PARSE_ERROR,
            FrameError::Shape => INVALID_REQUEST,
        }
    }
}

/// What one message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A request: it has an id and expects exactly one response.
    Request {
        /// The id as sent.
        id: Value,
        /// The method name.
        method: String,
    },
    /// A notification: a method without an id; nothing answers it.
    Notification {
        /// The method name.
        method: String,
    },
    /// A response to a request (`result` or `error`).
    Response {
        /// The id of the request it answers (`null` when the peer could not read it).
        id: Value,
        /// Whether it is an error response.
        is_error: bool,
    },
    /// Not a valid JSON-RPC message.
    Invalid,
}

/// One message with its raw JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The message object as received (forwarded unchanged unless policy says otherwise).
    pub value: Value,
    /// Its classification.
    pub kind: Kind,
}

impl Message {
    /// Classifies a JSON value.
    #[must_use]
    pub fn classify(value: Value) -> Message {
        let kind = kind_of(&value);
        Message { value, kind }
    }

    /// Returns `params` when it is an object.
    #[must_use]
    pub fn params(&self) -> Option<&Map<String, Value>> {
        self.value.get("params").and_then(Value::as_object)
    }
}

fn kind_of(v: &Value) -> Kind {
    let Some(obj) = v.as_object() else {
        return Kind::Invalid;
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Kind::Invalid;
    }
    let id_ok = |id: &Value| id.is_string() || id.is_number();
    match (obj.get("method"), obj.get("id")) {
        (Some(Value::String(m)), None) => Kind::Notification { method: m.clone() },
        (Some(Value::String(m)), Some(id)) if id_ok(id) => Kind::Request {
            id: id.clone(),
            method: m.clone(),
        },
        (Some(_), _) => Kind::Invalid,
        (None, Some(id)) if id_ok(id) || id.is_null() => {
            match (obj.contains_key("result"), obj.get("error")) {
                (true, None) => Kind::Response {
                    id: id.clone(),
                    is_error: false,
                },
                (false, Some(e)) if e.is_object() => Kind::Response {
                    id: id.clone(),
                    is_error: true,
                },
                _ => Kind::Invalid,
            }
        }
        (None, _) => Kind::Invalid,
    }
}

/// One frame: a single message or a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// One message.
    Single(Message),
    /// A batch (JSON array), in order.
    Batch(Vec<Message>),
}

impl Frame {
    /// Returns the messages in order.
    #[must_use]
    pub fn into_messages(self) -> Vec<Message> {
        match self {
            Frame::Single(m) => vec![m],
            Frame::Batch(v) => v,
        }
    }
}

/// Parses one frame.
///
/// # Errors
/// [`FrameError`] when the bytes are not UTF-8, not JSON, or neither an object nor a
/// non-empty array.
pub fn parse(bytes: &[u8]) -> Result<Frame, FrameError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FrameError::NotUtf8(e.valid_up_to()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| FrameError::Json(e.to_string()))?;
    match value {
        Value::Object(_) => Ok(Frame::Single(Message::classify(value))),
        Value::Array(items) if !items.is_empty() => Ok(Frame::Batch(
            items.into_iter().map(Message::classify).collect(),
        )),
        _ => Err(FrameError::Shape),
    }
}

/// Returns a key for an id that keeps numbers and strings apart (`1` vs `"1"`).
#[must_use]
pub fn id_key(id: &Value) -> String {
    id.to_string()
}

/// Builds an error response.
#[must_use]
pub fn error_response(id: &Value, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let (Some(d), Some(obj)) = (data, error.as_object_mut()) {
        obj.insert("data".into(), d);
    }
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// Returns the id of a message that could not be classified, when it has a usable one (so
/// that an error answer can still be matched by the peer).
#[must_use]
pub fn salvage_id(value: &Value) -> Value {
    match value.get("id") {
        Some(id) if id.is_string() || id.is_number() => id.clone(),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Kind {
        match parse(s.as_bytes()) {
            Ok(Frame::Single(m)) => m.kind,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn classifies_requests_notifications_and_responses() {
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#),
            Kind::Request {
                id: json!(7),
                method: "tools/call".into()
            }
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#),
            Kind::Notification {
                method: "notifications/cancelled".into()
            }
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":"a","result":{}}"#),
            Kind::Response {
                id: json!("a"),
                is_error: false
            }
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#),
            Kind::Response {
                id: Value::Null,
                is_error: true
            }
        );
    }

    #[test]
    fn rejects_what_is_not_json_rpc() {
        assert_eq!(kind(r#"{"id":1,"method":"x"}"#), Kind::Invalid);
        assert_eq!(
            kind(r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#),
            Kind::Invalid
        );
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#),
            Kind::Invalid
        );
        assert_eq!(kind(r#"{"jsonrpc":"2.0","method":5}"#), Kind::Invalid);
        assert_eq!(kind(r#"{"jsonrpc":"2.0","id":1}"#), Kind::Invalid);
        assert_eq!(
            kind(r#"{"jsonrpc":"2.0","id":1,"result":1,"error":{}}"#),
            Kind::Invalid
        );
        assert_eq!(parse(b"[]"), Err(FrameError::Shape));
        assert_eq!(parse(b"42"), Err(FrameError::Shape));
        assert!(matches!(parse(b"{"), Err(FrameError::Json(_))));
        assert_eq!(parse(b"{\"a\":\"\xff\"}"), Err(FrameError::NotUtf8(6)));
    }

    #[test]
    fn batches_keep_order_and_invalid_members() {
        let Ok(Frame::Batch(v)) =
            parse(br#"[{"jsonrpc":"2.0","id":1,"method":"a"},3,{"jsonrpc":"2.0","method":"b"}]"#)
        else {
            panic!("batch expected");
        };
        assert_eq!(v.len(), 3);
        assert!(matches!(v[0].kind, Kind::Request { .. }));
        assert_eq!(v[1].kind, Kind::Invalid);
        assert!(matches!(v[2].kind, Kind::Notification { .. }));
    }

    #[test]
    fn id_keys_keep_numbers_and_strings_apart() {
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
        assert_eq!(id_key(&json!("x")), id_key(&json!("x")));
    }

    #[test]
    fn error_responses_carry_the_id() {
        let e = error_response(&json!(3), BLOCKED, "blocked", Some(json!({"rule": "r"})));
        assert_eq!(e["id"], 3);
        assert_eq!(e["error"]["code"], BLOCKED);
        assert_eq!(e["error"]["data"]["rule"], "r");
        assert_eq!(salvage_id(&json!({"id": "q", "method": 1})), json!("q"));
        assert_eq!(salvage_id(&json!({"id": []})), Value::Null);
    }
}
