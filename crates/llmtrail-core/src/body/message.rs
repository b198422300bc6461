//! Chat messages, their parts, and tool definitions, in the shape of the OpenTelemetry GenAI
//! semantic conventions (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! `gen_ai.system_instructions`, `gen_ai.tool.definitions`).
//!
//! Contract: a part is an object tagged by `type` (`text`, `tool_call`, `tool_call_response`,
//! `reasoning`, `blob`, `uri`, `file`); unknown types and unknown fields are rejected. On
//! input a message may say `"content": "…"` instead of `parts`; that is normalised to one
//! `text` part, so the stored form always has `parts` and never `content`. A message with both,
//! or with neither, is rejected.
//!
//! Everything in this module is content: it only ever appears inside content fields.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of a conversation: who said it and what, as a list of parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "MessageInput")]
pub struct Message {
    /// Who produced the message: `system`, `user`, `assistant`, `tool`, or a provider's own
    /// role name.
    pub role: String,
    /// Optional participant name (e.g. the name of a function or of a user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The content of the message, in order.
    pub parts: Vec<Part>,
    /// Why the model stopped producing this message (output messages only), e.g. `stop`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

impl Message {
    /// Builds a message holding a single text part.
    ///
    /// ```
    /// use llmtrail_core::{Message, Part};
    ///
    /// let m = Message::text("user", "hi");
    /// assert_eq!(m.parts, vec![Part::Text { content: "hi".into() }]);
    /// ```
    #[must_use]
    pub fn text(role: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            name: None,
            parts: vec![Part::Text {
                content: content.into(),
            }],
            finish_reason: None,
        }
    }
}

/// The accepted input form of a [`Message`]: either `parts` or the `content` shorthand.
///
/// Never serialized; `skip_serializing_if` only keeps `"default": null` out of the schema.
#[derive(Deserialize, JsonSchema)]
#[serde(
    deny_unknown_fields,
    rename = "Message",
    expecting = "a message object"
)]
struct MessageInput {
    /// Who produced the message: `system`, `user`, `assistant`, `tool`, or a provider's own
    /// role name.
    role: String,
    /// Optional participant name (e.g. the name of a function or of a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// The content of the message, in order. Give either `parts` or `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parts: Option<Vec<Part>>,
    /// Shorthand for `parts: [{"type": "text", "content": …}]`. Give either `parts` or
    /// `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// Why the model stopped producing this message (output messages only), e.g. `stop`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finish_reason: Option<String>,
}

impl TryFrom<MessageInput> for Message {
    type Error = &'static str;

    fn try_from(input: MessageInput) -> Result<Self, Self::Error> {
        let parts = match (input.parts, input.content) {
            (Some(parts), None) => parts,
            (None, Some(content)) => vec![Part::Text { content }],
            (Some(_), Some(_)) => {
                return Err("a message has both `content` and `parts`; give exactly one");
            }
            (None, None) => return Err("a message needs `parts` (or the `content` shorthand)"),
        };
        Ok(Message {
            role: input.role,
            name: input.name,
            parts,
            finish_reason: input.finish_reason,
        })
    }
}

/// One piece of a message, tagged by `type` as in the OpenTelemetry GenAI conventions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Part {
    /// Plain text.
    Text {
        /// The text.
        content: String,
    },
    /// A model's request to call a tool.
    ToolCall {
        /// Provider's identifier of the call, used to match the response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Name of the tool.
        name: String,
        /// Arguments, as the provider gave them (any JSON; `null` is the same as absent).
        #[serde(default, skip_serializing_if = "super::absent")]
        arguments: Option<Value>,
    },
    /// The result of a tool call, sent back to the model.
    ToolCallResponse {
        /// Identifier of the call this answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// The tool's result (any JSON).
        response: Value,
    },
    /// Reasoning ("thinking") text produced by the model.
    Reasoning {
        /// The reasoning text.
        content: String,
    },
    /// Media sent inline.
    Blob {
        /// IANA media type, e.g. `image/png`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// General kind of media: `image`, `video`, `audio`, or another name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modality: Option<String>,
        /// The data, base64-encoded.
        content: String,
    },
    /// Media referenced by URI.
    Uri {
        /// IANA media type, e.g. `image/png`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// General kind of media: `image`, `video`, `audio`, or another name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modality: Option<String>,
        /// Where the data is.
        uri: String,
    },
    /// Media previously uploaded to the provider.
    File {
        /// IANA media type, e.g. `application/pdf`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mime_type: Option<String>,
        /// General kind of media: `image`, `video`, `audio`, or another name.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        modality: Option<String>,
        /// The provider's identifier of the uploaded file.
        file_id: String,
    },
}

/// A tool offered to the model (an element of `gen_ai.tool.definitions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a tool definition object")]
pub struct ToolDefinition {
    /// Kind of tool, e.g. `function`.
    #[serde(rename = "type")]
    pub tool_type: String,
    /// Name the model calls the tool by.
    pub name: String,
    /// Description shown to the model (a common place for injected instructions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the tool's arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
}
