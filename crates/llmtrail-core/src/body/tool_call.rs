//! Body of `tool.call`: one invocation of a tool (function, MCP tool, …) and what policy
//! decided about it.
//!
//! Contract: `gen_ai.tool.name` and `status` are required. Arguments and result
//! ([`CONTENT_FIELDS`]) are any JSON and optional, so the body still parses after its content
//! has expired; JSON `null` there is the same as absent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::check;
use super::ids;
use crate::EventError;

/// Keys of this body that carry content (what went into and came out of the tool).
pub const CONTENT_FIELDS: &[&str] = &["gen_ai.tool.call.arguments", "gen_ai.tool.call.result"];

/// A tool invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a tool.call body object")]
pub struct ToolCall {
    /// Name of the tool.
    #[serde(rename = "gen_ai.tool.name")]
    pub name: String,
    /// Identifier of this call, as the model or protocol gave it.
    #[serde(
        rename = "gen_ai.tool.call.id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub call_id: Option<String>,
    /// Kind of tool, e.g. `function`, `extension`, `datastore`.
    #[serde(
        rename = "gen_ai.tool.type",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub tool_type: Option<String>,
    /// Conversation the call belongs to.
    #[serde(
        rename = "gen_ai.conversation.id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_id: Option<String>,
    /// MCP server (or other origin) that provides the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Id of the `llm.request` or `llm.response` event that led to this call.
    #[serde(
        default,
        deserialize_with = "ids::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<Uuid>,
    /// Where the call stands.
    pub status: ToolStatus,
    /// Whether the tool reported an error in its result (MCP `isError`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    /// Time the tool took, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// What policy decided about the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Identifier of the policy rule behind `decision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_rule: Option<String>,
    /// Further attributes by their OpenTelemetry (or vendor) names, e.g. `server.address`
    /// (any JSON values). Metadata only: never prompts, outputs or arguments.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Content: the arguments passed to the tool (any JSON).
    #[serde(
        rename = "gen_ai.tool.call.arguments",
        default,
        skip_serializing_if = "super::absent"
    )]
    pub arguments: Option<Value>,
    /// Content: what the tool returned (any JSON).
    #[serde(
        rename = "gen_ai.tool.call.result",
        default,
        skip_serializing_if = "super::absent"
    )]
    pub result: Option<Value>,
}

impl ToolCall {
    /// Builds a tool call with only name and status set.
    #[must_use]
    pub fn new(name: impl Into<String>, status: ToolStatus) -> Self {
        ToolCall {
            name: name.into(),
            call_id: None,
            tool_type: None,
            conversation_id: None,
            server: None,
            request_id: None,
            status,
            is_error: false,
            duration_ms: None,
            decision: None,
            decision_rule: None,
            attributes: Map::new(),
            arguments: None,
            result: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::non_empty("/body/gen_ai.tool.name", &self.name)?;
        check::duration("/body/duration_ms", self.duration_ms)
    }
}

/// Where a tool call stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    /// The tool ran and returned.
    Ok,
    /// The tool ran and failed.
    Error,
    /// Policy stopped the call before it ran.
    Blocked,
    /// The call has not finished (or waits for approval).
    Pending,
}

/// What policy decided about a tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Let it run.
    Allow,
    /// Let it run and raise an alert.
    Alert,
    /// Refuse it.
    Block,
    /// Hold it for a human to approve.
    Hold,
}
