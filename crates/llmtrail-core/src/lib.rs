//! llmtrail-core: the one event model of llmtrail and its canonical encoding.
//!
//! Role: every crate that stores, serves or inspects telemetry goes through this crate to
//! parse client JSON into an [`Event`], turn it back into JSON, split it into metadata and
//! content (so content can expire on its own schedule), and encode it canonically
//! ([RFC 8785](https://www.rfc-editor.org/rfc/rfc8785) JCS) for hashing.
//!
//! Contract:
//! - [`Event::from_json_slice`] / [`Event::from_value`] are the only ways client input becomes
//!   an [`Event`]; they assign a UUIDv7 `id` and the current `time` when absent and reject
//!   anything not in the schema, naming the offending field by JSON Pointer.
//! - [`Event::to_value`] produces the canonical JSON shape; [`canonical::to_canonical_vec`] of
//!   it is stable across a round trip through JSON text, so the same event always hashes the
//!   same.
//! - Error messages name fields, never the values in them: values may be secrets.
//!
//! The crate performs no I/O; it reads only the system clock and random number generator
//! (for default ids and times).
//!
//! ```
//! use llmtrail_core::{Event, EventKind, canonical};
//!
//! let event = Event::from_json_slice(br#"{
//!     "kind": "llm.request",
//!     "actor": {"user": "u-1042"},
//!     "body": {
//!         "gen_ai.provider.name": "openai",
//!         "gen_ai.request.model": "gpt-4o",
//!         "gen_ai.input.messages": [{"role": "user", "content": "hi"}]
//!     }
//! }"#)?;
//! assert_eq!(event.kind(), EventKind::LlmRequest);
//! let bytes = canonical::to_canonical_vec(&event.to_value());
//! assert!(bytes.starts_with(br#"{"actor":{"user":"u-1042"},"body":{"#));
//! # Ok::<(), llmtrail_core::EventError>(())
//! ```

pub mod actor;
pub mod body;
pub mod canonical;
pub mod error;
pub mod event;
pub mod kind;
pub mod schema;
pub mod trace;

mod de;
mod json;
mod time;

pub use actor::Actor;
pub use body::{
    Alert, AlertState, Audit, AuditOutcome, Body, Decision, Finding, FindingCategory, LlmRequest,
    LlmResponse, Location, Message, Parameters, Part, ResponseError, ResponseStatus, Severity,
    ToolCall, ToolDefinition, ToolStatus, Usage, content_fields,
};
pub use error::EventError;
pub use event::Event;
pub use kind::EventKind;
pub use trace::{ParseIdError, SpanId, Trace, TraceId};
