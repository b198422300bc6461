//! Body of `llm.response`: what a model answered (or how it failed).
//!
//! Contract: `status` is required; everything else is optional. Token counts are `u64`;
//! durations are non-negative `f64` milliseconds. Content ([`CONTENT_FIELDS`]) is optional and
//! omitted when empty, so the body still parses after its content has expired. Tool calls the
//! model asked for appear as `tool_call` parts of the output messages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::check;
use super::ids;
use super::message::Message;
use crate::EventError;

/// Keys of this body that carry content (outputs, error text, raw bodies).
pub const CONTENT_FIELDS: &[&str] = &["gen_ai.output.messages", "error_message", "raw"];

/// A model's response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an llm.response body object")]
pub struct LlmResponse {
    /// Id of the `llm.request` event this answers.
    #[serde(
        default,
        deserialize_with = "ids::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_id: Option<Uuid>,
    /// Provider's identifier of the completion.
    #[serde(
        rename = "gen_ai.response.id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_id: Option<String>,
    /// Model that actually answered, e.g. `gpt-4o-2024-08-06`.
    #[serde(
        rename = "gen_ai.response.model",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub response_model: Option<String>,
    /// Why the model stopped, one entry per choice, e.g. `stop`, `length`, `tool_calls`.
    #[serde(
        rename = "gen_ai.response.finish_reasons",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub finish_reasons: Vec<String>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// Time from sending the request to the end of the response, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Time from sending the request to the first token, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_ms: Option<f64>,
    /// Outcome of the call.
    pub status: ResponseStatus,
    /// HTTP status code returned by the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Classification of a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ResponseError>,
    /// Whether the response was streamed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub streamed: bool,
    /// Further attributes by their OpenTelemetry (or vendor) names, e.g. `server.address`
    /// (any JSON values). Metadata only: never prompts, outputs or arguments.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub attributes: Map<String, Value>,
    /// Content: the messages the model produced.
    #[serde(
        rename = "gen_ai.output.messages",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub output_messages: Vec<Message>,
    /// Content: the provider's error message, which may quote the prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Content: the provider response body exactly as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
}

impl LlmResponse {
    /// Builds a response with only `status` set.
    #[must_use]
    pub fn new(status: ResponseStatus) -> Self {
        LlmResponse {
            request_id: None,
            response_id: None,
            response_model: None,
            finish_reasons: Vec::new(),
            usage: None,
            latency_ms: None,
            time_to_first_token_ms: None,
            status,
            http_status: None,
            error: None,
            streamed: false,
            attributes: Map::new(),
            output_messages: Vec::new(),
            error_message: None,
            raw: None,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::duration("/body/latency_ms", self.latency_ms)?;
        check::duration("/body/time_to_first_token_ms", self.time_to_first_token_ms)?;
        if let Some(error) = &self.error {
            check::non_empty("/body/error/error.type", &error.error_type)?;
        }
        Ok(())
    }
}

/// Outcome of a model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    /// The model answered.
    Ok,
    /// The call failed.
    Error,
    /// The answer was cut short (client disconnect, stream aborted, length limit).
    Incomplete,
}

/// Token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a usage object")]
pub struct Usage {
    /// Tokens in the prompt.
    #[serde(rename = "gen_ai.usage.input_tokens")]
    pub input_tokens: u64,
    /// Tokens generated.
    #[serde(rename = "gen_ai.usage.output_tokens")]
    pub output_tokens: u64,
    /// Total as reported by the provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// Input tokens served from the provider's prompt cache.
    #[serde(
        rename = "gen_ai.usage.cache_read.input_tokens",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_read_input_tokens: Option<u64>,
    /// Input tokens written to the provider's prompt cache.
    #[serde(
        rename = "gen_ai.usage.cache_creation.input_tokens",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_creation_input_tokens: Option<u64>,
    /// Output tokens spent on reasoning.
    #[serde(
        rename = "gen_ai.usage.reasoning.output_tokens",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub reasoning_output_tokens: Option<u64>,
}

/// Classification of a failed call (no message text: that is content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an error object")]
pub struct ResponseError {
    /// Class of error, e.g. `timeout`, `rate_limited`, `content_filter`, or an HTTP status.
    #[serde(rename = "error.type")]
    pub error_type: String,
    /// Provider's error code, e.g. `context_length_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}
