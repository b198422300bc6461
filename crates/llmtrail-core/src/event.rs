//! The event envelope: identity, time, actor, trace, tags and a kind-specific body.
//!
//! Wire shape (what clients POST and what [`Event::to_value`] produces):
//!
//! ```json
//! {"id":"<uuid>","time":"<RFC 3339>","kind":"llm.request","actor":{},"trace":{},"tags":{},"body":{}}
//! ```
//!
//! Contract:
//! - On input `id` and `time` may be absent or `null`: a UUIDv7 and the current time are
//!   assigned. Any valid UUID is accepted; a time with an offset is converted to UTC.
//! - On output `id` is lowercase hyphenated, `time` is UTC with nine fractional digits and `Z`,
//!   and empty `actor`, `trace` and `tags` are omitted (as are empty or absent body fields), so
//!   one event has exactly one JSON form and therefore one canonical encoding.
//! - Unknown fields are rejected at every level except open maps; errors name the field by
//!   JSON Pointer and never quote values.
//! - [`Event::split`] / [`Event::join`] separate and rejoin content (see
//!   [`content_fields`]); joining with no content yields a valid event whose content fields
//!   are empty.

use std::borrow::Cow;
use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::body::{Alert, Audit, Finding, LlmRequest, LlmResponse, ToolCall};
use crate::error::pointer;
use crate::{Actor, Body, EventError, EventKind, Trace, canonical, content_fields, de, json, time};

/// Top-level keys of the envelope; any other key is an error.
const ENVELOPE_FIELDS: [&str; 7] = ["id", "time", "kind", "actor", "trace", "tags", "body"];

/// One recorded occurrence: a prompt, a response, a tool call, a finding, an alert or an audit
/// entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Unique id; UUIDv7 when assigned by llmtrail.
    pub id: Uuid,
    /// When it happened (UTC, nanosecond precision).
    pub time: Timestamp,
    /// Who caused it.
    pub actor: Actor,
    /// Distributed-trace context.
    pub trace: Trace,
    /// Free-form labels.
    pub tags: BTreeMap<String, String>,
    /// The kind-specific payload; its variant decides [`Event::kind`].
    pub body: Body,
}

/// Whether parsing may invent a missing `id` and `time`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Client input: assign a UUIDv7 and the current time.
    Assign,
    /// Stored events: both must be present.
    Reject,
}

impl Event {
    /// Builds an event with a fresh UUIDv7, the current time and no actor, trace or tags.
    ///
    /// ```
    /// use llmtrail_core::{Audit, AuditOutcome, Event, EventKind};
    ///
    /// let event = Event::new(Audit::new("key.create", AuditOutcome::Success));
    /// assert_eq!(event.kind(), EventKind::Audit);
    /// ```
    #[must_use]
    pub fn new(body: impl Into<Body>) -> Event {
        Event {
            id: Uuid::now_v7(),
            time: Timestamp::now(),
            actor: Actor::default(),
            trace: Trace::default(),
            tags: BTreeMap::new(),
            body: body.into(),
        }
    }

    /// Parses one event from client JSON: assigns `id`/`time` when absent, validates
    /// everything.
    ///
    /// # Errors
    ///
    /// - [`EventError::InvalidUtf8`] when `bytes` is not UTF-8 (with the byte offset);
    /// - [`EventError::InvalidJson`] for malformed JSON or a key repeated within one object
    ///   (with line and column);
    /// - otherwise the errors of [`Event::from_value`].
    pub fn from_json_slice(bytes: &[u8]) -> Result<Event, EventError> {
        Event::from_value(json::parse_strict(bytes)?)
    }

    /// Parses one event from a JSON value: assigns `id`/`time` when absent, validates
    /// everything.
    ///
    /// # Errors
    ///
    /// - [`EventError::UnknownKind`] for a `kind` not in [`EventKind::ALL`];
    /// - [`EventError::UnknownField`] / [`EventError::MissingField`] naming the field;
    /// - [`EventError::InvalidValue`] naming the field and what was expected (bad UUID, time,
    ///   IP address, trace id, enum value, type, range, …).
    pub fn from_value(value: Value) -> Result<Event, EventError> {
        parse(value, Missing::Assign)
    }

    /// Returns the canonical JSON shape of the event (see the module docs).
    #[must_use]
    pub fn to_value(&self) -> Value {
        // Cannot fail: every map key in the model is a string and no Serialize impl of the
        // model reports errors. Null would make the mistake visible rather than panicking.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Returns the RFC 8785 canonical encoding of [`Event::to_value`]: the bytes to hash.
    #[must_use]
    pub fn to_canonical_vec(&self) -> Vec<u8> {
        canonical::to_canonical_vec(&self.to_value())
    }

    /// Returns the kind of the event, decided by its body.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.body.kind()
    }

    /// Checks what the types cannot express, for events built in Rust rather than parsed.
    ///
    /// # Errors
    ///
    /// [`EventError::InvalidValue`] naming the first offending field (time outside years
    /// 0000–9999, empty required names, numbers out of range or not finite).
    pub fn validate(&self) -> Result<(), EventError> {
        time::check_range(self.time).map_err(|reason| EventError::invalid("/time", reason))?;
        self.body.validate()
    }

    /// Splits the event into metadata and content.
    ///
    /// Content is the body fields listed by [`content_fields`] (prompts, outputs, arguments,
    /// results, raw bodies, error messages). Returns the full event object with those body
    /// fields removed, and an object holding just the removed fields (keyed as in the body),
    /// or `None` when the event had no content.
    #[must_use]
    pub fn split(&self) -> (Value, Option<Value>) {
        let mut meta = self.to_value();
        let mut content = Map::new();
        if let Some(Value::Object(body)) = meta.get_mut("body") {
            for &field in content_fields(self.kind()) {
                if let Some(value) = body.remove(field) {
                    content.insert(field.to_owned(), value);
                }
            }
        }
        let content = (!content.is_empty()).then_some(Value::Object(content));
        (meta, content)
    }

    /// Rejoins what [`Event::split`] produced.
    ///
    /// With `content` `None` (expired or deleted content) the event still parses, with its
    /// content fields empty. Unlike [`Event::from_value`], `id` and `time` must be present.
    ///
    /// # Errors
    ///
    /// The errors of [`Event::from_value`], plus [`EventError::InvalidValue`] when `content`
    /// is not an object, holds a key that is not a content field of the event's kind, or
    /// repeats a key already in the metadata body; [`EventError::MissingField`] for a missing
    /// `id` or `time`.
    pub fn join(meta: Value, content: Option<Value>) -> Result<Event, EventError> {
        let Value::Object(mut object) = meta else {
            return Err(not_an_object(&meta));
        };
        if let Some(content) = content {
            merge_content(&mut object, content)?;
        }
        parse(Value::Object(object), Missing::Reject)
    }
}

/// Moves the content fields back into the metadata body.
fn merge_content(object: &mut Map<String, Value>, content: Value) -> Result<(), EventError> {
    let Value::Object(content) = content else {
        return Err(EventError::invalid(
            "/body",
            "expected content to be a JSON object of body fields",
        ));
    };
    let kind = match object.get("kind") {
        Some(Value::String(kind)) => kind.parse::<EventKind>()?,
        Some(_) => return Err(EventError::invalid("/kind", "expected a string")),
        None => {
            return Err(EventError::MissingField {
                field: "/kind".into(),
            });
        }
    };
    let body = match object.get_mut("body") {
        Some(Value::Object(body)) => body,
        Some(_) => return Err(EventError::invalid("/body", "expected an object")),
        None => {
            return Err(EventError::MissingField {
                field: "/body".into(),
            });
        }
    };
    let allowed = content_fields(kind);
    for (key, value) in content {
        if !allowed.contains(&key.as_str()) {
            return Err(EventError::invalid(
                pointer("/body", &key),
                format!("not a content field of `{kind}` events"),
            ));
        }
        if body.contains_key(&key) {
            return Err(EventError::invalid(
                pointer("/body", &key),
                "present in both metadata and content",
            ));
        }
        body.insert(key, value);
    }
    Ok(())
}

/// Names the JSON type of a value for error messages (never its content).
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn not_an_object(value: &Value) -> EventError {
    EventError::invalid(
        "",
        format!("expected an event object, found {}", json_type(value)),
    )
}

/// Parses and validates an event object.
fn parse(value: Value, missing: Missing) -> Result<Event, EventError> {
    let Value::Object(mut object) = value else {
        return Err(not_an_object(&value));
    };
    if let Some(key) = object
        .keys()
        .find(|k| !ENVELOPE_FIELDS.contains(&k.as_str()))
    {
        return Err(EventError::UnknownField {
            field: pointer("", key),
        });
    }
    // Kind first: it decides how the body is read, and an unknown kind explains every
    // later body error.
    let kind = match object.remove("kind") {
        Some(Value::String(kind)) => kind.parse::<EventKind>()?,
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                field: "/kind".into(),
            });
        }
        Some(other) => {
            return Err(EventError::invalid(
                "/kind",
                format!("expected a string, found {}", json_type(&other)),
            ));
        }
    };
    let id = match object.remove("id") {
        Some(Value::String(id)) => Uuid::try_parse(&id).map_err(|_| {
            EventError::invalid(
                "/id",
                "expected a UUID such as 0192f7c4-9a2b-7cde-8f01-23456789abcd",
            )
        })?,
        None | Some(Value::Null) if missing == Missing::Assign => Uuid::now_v7(),
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                field: "/id".into(),
            });
        }
        Some(other) => {
            return Err(EventError::invalid(
                "/id",
                format!("expected a UUID string, found {}", json_type(&other)),
            ));
        }
    };
    let time = match object.remove("time") {
        Some(Value::String(time)) => {
            time::parse(&time).map_err(|reason| EventError::invalid("/time", reason))?
        }
        None | Some(Value::Null) if missing == Missing::Assign => Timestamp::now(),
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                field: "/time".into(),
            });
        }
        Some(other) => {
            return Err(EventError::invalid(
                "/time",
                format!("expected an RFC 3339 string, found {}", json_type(&other)),
            ));
        }
    };
    let actor = match object.remove("actor") {
        None | Some(Value::Null) => Actor::default(),
        Some(v) => de::from_value(v, "/actor")?,
    };
    let trace = match object.remove("trace") {
        None | Some(Value::Null) => Trace::default(),
        Some(v) => de::from_value(v, "/trace")?,
    };
    let tags = match object.remove("tags") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => de::from_value(v, "/tags")?,
    };
    let body = match object.remove("body") {
        None | Some(Value::Null) => {
            return Err(EventError::MissingField {
                field: "/body".into(),
            });
        }
        Some(v) => Body::from_value(kind, v)?,
    };
    Ok(Event {
        id,
        time,
        actor,
        trace,
        tags,
        body,
    })
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        let mut id = Uuid::encode_buffer();
        map.serialize_entry("id", self.id.hyphenated().encode_lower(&mut id))?;
        map.serialize_entry("time", &time::format(self.time))?;
        map.serialize_entry("kind", self.kind().as_str())?;
        if !self.actor.is_empty() {
            map.serialize_entry("actor", &self.actor)?;
        }
        if !self.trace.is_empty() {
            map.serialize_entry("trace", &self.trace)?;
        }
        if !self.tags.is_empty() {
            map.serialize_entry("tags", &self.tags)?;
        }
        map.serialize_entry("body", &self.body)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    /// Deserializes through the same validation as [`Event::from_value`] (so a missing `id`
    /// or `time` is assigned, and duplicate keys are refused).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = json::deserialize_strict(deserializer)?;
        Event::from_value(value).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Event {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("Event")
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let id = json_schema!({
            "description": "Unique id of the event. Assigned (UUIDv7) when absent.",
            "type": "string",
            "format": "uuid",
        });
        let time = json_schema!({
            "description": "When it happened: RFC 3339 with an offset. Assigned (now) when \
                absent; stored as UTC with nine fractional digits and `Z`.",
            "type": "string",
            "format": "date-time",
        });
        let actor = generator.subschema_for::<Actor>();
        let trace = generator.subschema_for::<Trace>();
        let tags = json_schema!({
            "description": "Free-form string labels.",
            "type": "object",
            "additionalProperties": {"type": "string"},
        });
        let variants: Vec<Schema> = EventKind::ALL
            .into_iter()
            .map(|kind| {
                let body = match kind {
                    EventKind::LlmRequest => generator.subschema_for::<LlmRequest>(),
                    EventKind::LlmResponse => generator.subschema_for::<LlmResponse>(),
                    EventKind::ToolCall => generator.subschema_for::<ToolCall>(),
                    EventKind::Finding => generator.subschema_for::<Finding>(),
                    EventKind::Alert => generator.subschema_for::<Alert>(),
                    EventKind::Audit => generator.subschema_for::<Audit>(),
                };
                json_schema!({
                    "title": kind.as_str(),
                    "type": "object",
                    "properties": {
                        "id": id,
                        "time": time,
                        "kind": {"type": "string", "const": kind.as_str()},
                        "actor": actor,
                        "trace": trace,
                        "tags": tags,
                        "body": body,
                    },
                    "required": ["kind", "body"],
                    "additionalProperties": false,
                })
            })
            .collect();
        json_schema!({
            "description": "One llmtrail event. `kind` decides the shape of `body`.",
            "oneOf": variants,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn root_must_be_an_object() {
        let err = Event::from_value(json!(["kind"])).unwrap_err();
        assert_eq!(err.field(), Some(""));
        assert!(err.to_string().contains("found an array"), "{err}");
    }

    #[test]
    fn null_id_and_time_are_assigned() {
        let e = Event::from_value(json!({
            "id": null, "time": null, "kind": "audit",
            "body": {"action": "event.read", "outcome": "success"}
        }))
        .unwrap();
        assert_eq!(e.id.get_version_num(), 7);
    }

    #[test]
    fn join_requires_id_and_time() {
        let meta = json!({"kind": "audit", "body": {"action": "a", "outcome": "denied"}});
        assert_eq!(
            Event::join(meta, None),
            Err(EventError::MissingField {
                field: "/id".into()
            })
        );
    }

    #[test]
    fn join_refuses_foreign_and_duplicated_content() {
        let event = Event::new(LlmRequest::new("openai", "gpt-4o"));
        let (meta, _) = event.split();
        let err =
            Event::join(meta.clone(), Some(json!({"gen_ai.request.model": "x"}))).unwrap_err();
        assert_eq!(err.field(), Some("/body/gen_ai.request.model"));
        let mut meta_with_raw = meta;
        meta_with_raw["body"]["raw"] = json!("a");
        let err = Event::join(meta_with_raw, Some(json!({"raw": "b"}))).unwrap_err();
        assert!(err.to_string().contains("both"), "{err}");
    }

    #[test]
    fn validate_catches_rust_built_nonsense() {
        let mut event = Event::new(LlmRequest::new("openai", ""));
        assert_eq!(
            event.validate().unwrap_err().field(),
            Some("/body/gen_ai.request.model")
        );
        event.body = LlmRequest::new("openai", "m").into();
        event.time = Timestamp::MIN;
        assert_eq!(event.validate().unwrap_err().field(), Some("/time"));
    }
}
