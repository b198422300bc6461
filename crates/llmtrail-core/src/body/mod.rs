//! Event bodies: one type per [`EventKind`], and which of their keys are content.
//!
//! Contract: a body is a JSON object whose shape depends on the event's `kind`; unknown keys
//! are rejected everywhere except inside explicitly open maps (`parameters.extra`,
//! `attributes`, `details`) and fields that hold arbitrary JSON (tool arguments and results,
//! part arguments and responses, tool parameter schemas). Open maps are metadata: clients must
//! not put content in them, because only [`content_fields`] are split off and expired.
//!
//! *Content* is what may hold prompts, outputs, tool inputs and outputs, raw provider bodies or
//! provider error text. [`content_fields`] lists those keys per kind; they are all optional,
//! so a body with its content removed still parses. Everything else is metadata and must not
//! carry such data.

mod alert;
mod audit;
mod finding;
mod llm_request;
mod llm_response;
mod message;
mod tool_call;

use serde::{Serialize, Serializer};
use serde_json::Value;

pub use alert::{Alert, AlertState};
pub use audit::{Audit, AuditOutcome};
pub use finding::{Finding, FindingCategory, Location, Severity};
pub use llm_request::{LlmRequest, Parameters};
pub use llm_response::{LlmResponse, ResponseError, ResponseStatus, Usage};
pub use message::{Message, Part, ToolDefinition};
pub use tool_call::{Decision, ToolCall, ToolStatus};

use crate::{EventError, EventKind, de};

/// Returns the keys inside `body` that carry content for events of `kind`.
///
/// ```
/// use llmtrail_core::{EventKind, content_fields};
///
/// assert!(content_fields(EventKind::LlmRequest).contains(&"gen_ai.input.messages"));
/// assert!(content_fields(EventKind::Finding).is_empty());
/// ```
#[must_use]
pub fn content_fields(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::LlmRequest => llm_request::CONTENT_FIELDS,
        EventKind::LlmResponse => llm_response::CONTENT_FIELDS,
        EventKind::ToolCall => tool_call::CONTENT_FIELDS,
        EventKind::Finding | EventKind::Alert | EventKind::Audit => &[],
    }
}

/// The kind-specific part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Body of `llm.request`.
    LlmRequest(LlmRequest),
    /// Body of `llm.response`.
    LlmResponse(LlmResponse),
    /// Body of `tool.call`.
    ToolCall(ToolCall),
    /// Body of `finding`.
    Finding(Finding),
    /// Body of `alert`.
    Alert(Alert),
    /// Body of `audit`.
    Audit(Audit),
}

impl Body {
    /// Returns the event kind this body belongs to.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        match self {
            Body::LlmRequest(_) => EventKind::LlmRequest,
            Body::LlmResponse(_) => EventKind::LlmResponse,
            Body::ToolCall(_) => EventKind::ToolCall,
            Body::Finding(_) => EventKind::Finding,
            Body::Alert(_) => EventKind::Alert,
            Body::Audit(_) => EventKind::Audit,
        }
    }

    /// Parses and validates the body JSON of an event of `kind`.
    ///
    /// # Errors
    ///
    /// Any [`EventError`] except the JSON-text ones, with fields named as JSON Pointers
    /// starting at `/body`.
    pub fn from_value(kind: EventKind, value: Value) -> Result<Body, EventError> {
        const BASE: &str = "/body";
        let body = match kind {
            EventKind::LlmRequest => Body::LlmRequest(de::from_value(value, BASE)?),
            EventKind::LlmResponse => Body::LlmResponse(de::from_value(value, BASE)?),
            EventKind::ToolCall => Body::ToolCall(de::from_value(value, BASE)?),
            EventKind::Finding => Body::Finding(de::from_value(value, BASE)?),
            EventKind::Alert => Body::Alert(de::from_value(value, BASE)?),
            EventKind::Audit => Body::Audit(de::from_value(value, BASE)?),
        };
        body.validate()?;
        Ok(body)
    }

    /// Checks the rules serde types cannot express: non-empty names, ranges, finite numbers.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidValue`] naming the first offending field.
    pub fn validate(&self) -> Result<(), EventError> {
        match self {
            Body::LlmRequest(b) => b.validate(),
            Body::LlmResponse(b) => b.validate(),
            Body::ToolCall(b) => b.validate(),
            Body::Finding(b) => b.validate(),
            Body::Alert(b) => b.validate(),
            Body::Audit(b) => b.validate(),
        }
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::LlmRequest(b) => b.serialize(serializer),
            Body::LlmResponse(b) => b.serialize(serializer),
            Body::ToolCall(b) => b.serialize(serializer),
            Body::Finding(b) => b.serialize(serializer),
            Body::Alert(b) => b.serialize(serializer),
            Body::Audit(b) => b.serialize(serializer),
        }
    }
}

/// Tells whether an optional JSON field is absent or `null`; both are written as absent, so
/// `Some(Value::Null)` built in Rust encodes (and hashes) like `None`, which is what parsing
/// that encoding gives back.
fn absent(value: &Option<Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

macro_rules! body_from {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Body {
            fn from(body: $variant) -> Self {
                Body::$variant(body)
            }
        }
    )*};
}
body_from!(LlmRequest, LlmResponse, ToolCall, Finding, Alert, Audit);

/// Checks shared by the body validators.
mod check {
    use crate::EventError;

    /// Requires a non-empty string.
    pub(super) fn non_empty(field: &str, value: &str) -> Result<(), EventError> {
        if value.is_empty() {
            Err(EventError::invalid(field, "expected a non-empty string"))
        } else {
            Ok(())
        }
    }

    /// Requires a finite number when present (JSON cannot carry others, Rust callers can).
    pub(super) fn finite(field: &str, value: Option<f64>) -> Result<(), EventError> {
        match value {
            Some(v) if !v.is_finite() => {
                Err(EventError::invalid(field, "expected a finite number"))
            }
            _ => Ok(()),
        }
    }

    /// Requires a finite, non-negative duration when present.
    pub(super) fn duration(field: &str, value: Option<f64>) -> Result<(), EventError> {
        match value {
            Some(v) if !(v.is_finite() && v >= 0.0) => Err(EventError::invalid(
                field,
                "expected a non-negative number of milliseconds",
            )),
            _ => Ok(()),
        }
    }
}

/// UUID field deserializers whose errors do not quote the input (the `uuid` crate's do).
mod ids {
    use std::fmt;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use uuid::Uuid;

    const EXPECTED: &str = "a UUID such as 0192f7c4-9a2b-7cde-8f01-23456789abcd";

    struct UuidVisitor;

    impl Visitor<'_> for UuidVisitor {
        type Value = Uuid;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(EXPECTED)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Uuid, E> {
            Uuid::try_parse(v).map_err(|_| E::custom(format_args!("expected {EXPECTED}")))
        }
    }

    /// Deserializes a required UUID.
    pub(super) fn one<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
        d.deserialize_str(UuidVisitor)
    }

    /// Deserializes an optional UUID (`null` is absent).
    pub(super) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
        struct OptionVisitor;

        impl<'de> Visitor<'de> for OptionVisitor {
            type Value = Option<Uuid>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{EXPECTED} or null")
            }

            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }

            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                one(d).map(Some)
            }
        }

        d.deserialize_option(OptionVisitor)
    }

    /// Deserializes a list of UUIDs.
    pub(super) fn many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Uuid>, D::Error> {
        struct Seed;

        impl<'de> de::DeserializeSeed<'de> for Seed {
            type Value = Uuid;

            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Uuid, D::Error> {
                one(d)
            }
        }

        struct ManyVisitor;

        impl<'de> Visitor<'de> for ManyVisitor {
            type Value = Vec<Uuid>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of UUIDs")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(id) = seq.next_element_seed(Seed)? {
                    out.push(id);
                }
                Ok(out)
            }
        }

        d.deserialize_seq(ManyVisitor)
    }
}
