//! Body of `llm.request`: a prompt sent to a model.
//!
//! Contract: keys follow the OpenTelemetry GenAI conventions (`gen_ai.provider.name`,
//! `gen_ai.request.model`, …). Provider and model are required and non-empty. Content
//! ([`CONTENT_FIELDS`]) is optional and omitted when empty, so the body still parses after its
//! content has been split off and expired. Request parameters live in a nested `parameters`
//! object whose `extra` map keeps provider parameters this model has no field for.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::check;
use super::message::{Message, Part, ToolDefinition};
use crate::EventError;

/// Keys of this body that carry content (prompts, instructions, tool text, raw bodies).
pub const CONTENT_FIELDS: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "raw",
];

/// A request to a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an llm.request body object")]
pub struct LlmRequest {
    /// Provider, e.g. `openai`, `anthropic`, `aws.bedrock`.
    #[serde(rename = "gen_ai.provider.name")]
    pub provider: String,
    /// Model requested, e.g. `gpt-4o`.
    #[serde(rename = "gen_ai.request.model")]
    pub model: String,
    /// Operation, e.g. `chat`, `text_completion`, `embeddings`, `generate_content`.
    #[serde(
        rename = "gen_ai.operation.name",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub operation: Option<String>,
    /// Conversation (thread, session) the request belongs to, as the application names it.
    #[serde(
        rename = "gen_ai.conversation.id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub conversation_id: Option<String>,
    /// Sampling and generation parameters.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    pub parameters: Parameters,
    /// Further attributes by their OpenTelemetry (or vendor) names, e.g. `server.address`
    /// (any JSON values). Metadata only: never prompts, outputs or arguments.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Content: the chat history sent to the model.
    #[serde(
        rename = "gen_ai.input.messages",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub messages: Vec<Message>,
    /// Content: system instructions sent separately from the messages.
    #[serde(
        rename = "gen_ai.system_instructions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub system_instructions: Vec<Part>,
    /// Content: tools offered to the model.
    #[serde(
        rename = "gen_ai.tool.definitions",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tool_definitions: Vec<ToolDefinition>,
    /// Content: the provider request body exactly as received, so nothing is ever lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl LlmRequest {
    /// Builds a request with only provider and model set.
    #[must_use]
    pub fn new(provider: impl Into<String>, model: impl Into<String>) -> Self {
        LlmRequest {
            provider: provider.into(),
            model: model.into(),
            operation: None,
            conversation_id: None,
            parameters: Parameters::default(),
            attributes: Map::new(),
            messages: Vec::new(),
            system_instructions: Vec::new(),
            tool_definitions: Vec::new(),
            raw: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::non_empty("/body/gen_ai.provider.name", &self.provider)?;
        check::non_empty("/body/gen_ai.request.model", &self.model)?;
        let p = &self.parameters;
        for (field, value) in [
            ("/body/parameters/gen_ai.request.temperature", p.temperature),
            ("/body/parameters/gen_ai.request.top_p", p.top_p),
            ("/body/parameters/gen_ai.request.top_k", p.top_k),
            (
                "/body/parameters/gen_ai.request.frequency_penalty",
                p.frequency_penalty,
            ),
            (
                "/body/parameters/gen_ai.request.presence_penalty",
                p.presence_penalty,
            ),
        ] {
            check::finite(field, value)?;
        }
        Ok(())
    }
}

/// Sampling and generation parameters of a request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a parameters object")]
pub struct Parameters {
    /// Sampling temperature.
    #[serde(
        rename = "gen_ai.request.temperature",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub temperature: Option<f64>,
    /// Maximum number of tokens to generate.
    #[serde(
        rename = "gen_ai.request.max_tokens",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub max_tokens: Option<u64>,
    /// Nucleus sampling probability mass.
    #[serde(
        rename = "gen_ai.request.top_p",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub top_p: Option<f64>,
    /// Top-k sampling.
    #[serde(
        rename = "gen_ai.request.top_k",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub top_k: Option<f64>,
    /// Sequences that stop generation.
    #[serde(
        rename = "gen_ai.request.stop_sequences",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub stop_sequences: Vec<String>,
    /// Seed for deterministic sampling.
    #[serde(
        rename = "gen_ai.request.seed",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub seed: Option<i64>,
    /// Frequency penalty.
    #[serde(
        rename = "gen_ai.request.frequency_penalty",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency_penalty: Option<f64>,
    /// Presence penalty.
    #[serde(
        rename = "gen_ai.request.presence_penalty",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub presence_penalty: Option<f64>,
    /// Number of candidate completions requested.
    #[serde(
        rename = "gen_ai.request.choice.count",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub choice_count: Option<u64>,
    /// Whether the response was requested as a stream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    /// Other provider parameters, by the provider's own names (any JSON values).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl Parameters {
    /// Tells whether no parameter is set (the object is then omitted).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Parameters::default()
    }
}
