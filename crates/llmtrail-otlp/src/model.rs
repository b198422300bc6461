//! The decoded form of an export request, the same whichever encoding it came in.
//!
//! Both decoders ([`crate::wire`] for protobuf, [`crate::json`] for OTLP JSON) produce these
//! types, so the GenAI mapping sees one shape. Attribute values are JSON values: OTLP's
//! `AnyValue` maps onto JSON one to one except bytes (base64 text here) and non-finite doubles
//! (the strings `NaN`, `Infinity`, `-Infinity`).
//!
//! Invariant: an item that could not be decoded (a span or a log record whose ids have the
//! wrong length, or whose text is not UTF-8) is not in `items`; it is counted in `rejected` and
//! explained in `errors`, so the items that were valid are never lost with it.

use std::sync::Arc;

use llmtrail_core::{SpanId, TraceId};
use serde_json::{Map, Value};

/// Attributes by key; when a key repeats, the last value wins.
pub type Attributes = Map<String, Value>;

/// What a span or log record shares with its neighbours: its resource and scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    /// Resource attributes (`service.name`, `enduser.id`, ...).
    pub resource: Attributes,
    /// Instrumentation scope name, e.g. `opentelemetry.instrumentation.openai`.
    pub scope_name: Option<String>,
    /// Instrumentation scope version.
    pub scope_version: Option<String>,
}

/// Status of a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusCode {
    /// Not set by the instrumentation.
    #[default]
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed.
    Error,
}

impl StatusCode {
    /// Maps the protobuf enum number (unknown numbers count as unset).
    #[must_use]
    pub fn from_i32(code: i32) -> StatusCode {
        match code {
            1 => StatusCode::Ok,
            2 => StatusCode::Error,
            _ => StatusCode::Unset,
        }
    }
}

/// One decoded span.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Trace id (required by OTLP).
    pub trace_id: TraceId,
    /// Span id (required by OTLP).
    pub span_id: SpanId,
    /// Parent span id; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// Span name, e.g. `chat gpt-4o`.
    pub name: String,
    /// Start, in nanoseconds since the Unix epoch (0 when unknown).
    pub start_unix_nano: u64,
    /// End, in nanoseconds since the Unix epoch (0 when unknown).
    pub end_unix_nano: u64,
    /// Span attributes.
    pub attributes: Attributes,
    /// Span events (older GenAI instrumentations put content there).
    pub events: Vec<SpanEvent>,
    /// Status code.
    pub status: StatusCode,
    /// Status message (may quote content, so it is treated as content).
    pub status_message: Option<String>,
}

/// One event recorded on a span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    /// When, in nanoseconds since the Unix epoch.
    pub time_unix_nano: u64,
    /// Event name, e.g. `gen_ai.content.prompt`.
    pub name: String,
    /// Event attributes.
    pub attributes: Attributes,
}

/// One decoded log record.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// When the event happened (0 when unknown).
    pub time_unix_nano: u64,
    /// When the collector saw it (0 when unknown).
    pub observed_time_unix_nano: u64,
    /// Trace the record belongs to.
    pub trace_id: Option<TraceId>,
    /// Span the record belongs to.
    pub span_id: Option<SpanId>,
    /// Event name: the `event_name` field, or the older `event.name` attribute.
    pub event_name: Option<String>,
    /// Body (any value).
    pub body: Option<Value>,
    /// Record attributes.
    pub attributes: Attributes,
}

/// Items decoded from one request, with those that could not be.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<T> {
    /// The valid items in request order, each with its origin.
    pub items: Vec<(Arc<Origin>, T)>,
    /// How many items were rejected.
    pub rejected: u64,
    /// Why, for the first few rejected items (located by index path, never quoting values).
    pub errors: Vec<String>,
}

/// Most reasons kept per request; the count goes on.
pub const MAX_ERRORS: usize = 8;

impl<T> Default for Decoded<T> {
    fn default() -> Self {
        Decoded {
            items: Vec::new(),
            rejected: 0,
            errors: Vec::new(),
        }
    }
}

impl<T> Decoded<T> {
    /// Counts `n` rejected items and keeps the reason while there is room.
    pub fn reject(&mut self, n: u64, why: String) {
        if n == 0 {
            return;
        }
        self.rejected += n;
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(why);
        }
    }
}

/// Turns a double into JSON; non-finite values become their names (JSON has no such numbers).
#[must_use]
pub fn double(d: f64) -> Value {
    match serde_json::Number::from_f64(d) {
        Some(n) => Value::Number(n),
        None if d.is_nan() => Value::String("NaN".into()),
        None if d > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Reads a 16-byte trace id; empty is `Ok(None)`, all zeros too (W3C: invalid, i.e. absent).
///
/// # Errors
/// A reason naming the length found.
pub fn trace_id(bytes: &[u8]) -> Result<Option<TraceId>, String> {
    match bytes.len() {
        0 => Ok(None),
        16 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(bytes);
            Ok(TraceId::from_bytes(b))
        }
        n => Err(format!("trace id must be 16 bytes, found {n}")),
    }
}

/// Reads an 8-byte span id; empty is `Ok(None)`, all zeros too.
///
/// # Errors
/// A reason naming the length found.
pub fn span_id(bytes: &[u8]) -> Result<Option<SpanId>, String> {
    match bytes.len() {
        0 => Ok(None),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            Ok(SpanId::from_bytes(b))
        }
        n => Err(format!("span id must be 8 bytes, found {n}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_check_their_length() {
        assert_eq!(trace_id(&[]), Ok(None));
        assert_eq!(trace_id(&[0; 16]), Ok(None));
        assert!(trace_id(&[1; 15]).unwrap_err().contains("found 15"));
        assert_eq!(
            span_id(&[0, 0, 0, 0, 0, 0, 0, 7])
                .unwrap()
                .unwrap()
                .to_string(),
            "0000000000000007"
        );
        assert!(span_id(&[1; 9]).is_err());
    }

    #[test]
    fn non_finite_doubles_are_named() {
        assert_eq!(double(f64::NAN), "NaN");
        assert_eq!(double(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(double(1.5), 1.5);
    }

    #[test]
    fn reasons_are_bounded_but_counted() {
        let mut d = Decoded::<()>::default();
        for i in 0..20 {
            d.reject(2, format!("r{i}"));
        }
        assert_eq!(d.rejected, 40);
        assert_eq!(d.errors.len(), MAX_ERRORS);
    }
}
