//! The closed set of event kinds.
//!
//! Contract: the wire names (`llm.request`, …) are stable; they appear in the ledger and in
//! the JSON Schema, and [`EventKind::ALL`] lists every kind in a fixed order. Parsing a name
//! that is not listed fails with [`EventError::UnknownKind`].

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::EventError;

/// Names what an event records; pairs one-to-one with the [`Body`](crate::Body) variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A prompt sent to a model (`llm.request`).
    LlmRequest,
    /// A model's answer (`llm.response`).
    LlmResponse,
    /// A tool invocation, e.g. an MCP call (`tool.call`).
    ToolCall,
    /// A detector's finding about another event (`finding`).
    Finding,
    /// An alert, or a change of an alert's state (`alert`).
    Alert,
    /// An action on llmtrail itself, e.g. reading events (`audit`).
    Audit,
}

impl EventKind {
    /// Lists every kind, in declaration order.
    pub const ALL: [EventKind; 6] = [
        EventKind::LlmRequest,
        EventKind::LlmResponse,
        EventKind::ToolCall,
        EventKind::Finding,
        EventKind::Alert,
        EventKind::Audit,
    ];

    /// Returns the wire name, e.g. `"llm.request"`.
    ///
    /// ```
    /// assert_eq!(llmtrail_core::EventKind::ToolCall.as_str(), "tool.call");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EventKind::LlmRequest => "llm.request",
            EventKind::LlmResponse => "llm.response",
            EventKind::ToolCall => "tool.call",
            EventKind::Finding => "finding",
            EventKind::Alert => "alert",
            EventKind::Audit => "audit",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = EventError;

    /// Parses a wire name.
    ///
    /// # Errors
    ///
    /// [`EventError::UnknownKind`] when `s` is not a wire name (matching is case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| EventError::unknown_kind(s))
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<'de, str>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for EventKind {
    fn schema_name() -> Cow<'static, str> {
        Cow::Borrowed("EventKind")
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        json_schema!({
            "description": "What the event records; decides the shape of `body`.",
            "type": "string",
            "enum": names,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(kind.as_str().parse::<EventKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
    }

    #[test]
    fn unknown_name_is_named() {
        let err = "llm.Request".parse::<EventKind>().unwrap_err();
        assert!(err.to_string().contains("`llm.Request`"), "{err}");
    }
}
