//! Who (or what) caused an event.
//!
//! Contract: every field is optional; absent fields are omitted when serializing, so an empty
//! [`Actor`] disappears from the canonical form. `source_ip` must be a valid IPv4 or IPv6
//! address and is always written in Rust's normal text form (e.g. compressed IPv6).
//! Unknown fields are rejected.

use std::net::IpAddr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Describes the person, key, session or agent behind an event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an actor object")]
pub struct Actor {
    /// End-user identifier, e.g. `u-1042`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Role of the user, e.g. `analyst`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Department or team of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Session identifier of the client application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Identifier (never the secret) of the API key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_id: Option<String>,
    /// Network address the request came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "ip_schema")]
    pub source_ip: Option<IpAddr>,
    /// HTTP `User-Agent` of the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// Name of the AI agent acting, when an agent rather than a person drives the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl Actor {
    /// Tells whether no field is set (the actor is then omitted from the event JSON).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Actor::default()
    }
}

/// Describes an IP address with the standard JSON Schema formats (schemars' own `ip` format
/// is not one validators know).
fn ip_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Network address the request came from (IPv4 or IPv6).",
        "anyOf": [
            {"type": "string", "format": "ipv4"},
            {"type": "string", "format": "ipv6"},
            {"type": "null"},
        ],
    })
}
