//! Provider wire formats: turning OpenAI and Anthropic request and response bodies (plain JSON
//! or server-sent event streams) into the event model.
//!
//! Contract: these functions never fail on a well-formed HTTP exchange; what they cannot
//! understand is reported in `parse_error` and left to the raw body, which the gateway always
//! keeps. They hold no I/O and no state.
//!
//! - [`parse_request`] fails only when the body is not a JSON object or has no usable `model`.
//!   The first problem met further in is recorded in the request's `llmtrail.parse_error`
//!   attribute (field names and positions only). Provider parameters without a field of their
//!   own go verbatim to `parameters.extra`, except keys that can carry content (`messages`,
//!   `input`, `instructions`, `system`, `tools`, `functions`, `prediction`, `prompt`, `user`,
//!   `mcp_servers`). `provider` is left empty and `raw` unset for the caller.
//! - [`parse_response`] reads a complete JSON body of any HTTP status; [`parse_stream`] and
//!   [`StreamParser`] read an event stream, complete or cut off at any byte, and keep
//!   everything dispatched before the cut. A stream request answered with plain JSON (an error,
//!   usually) is read as JSON.
//! - Nothing here panics, whatever the bytes; messages in `parse_error` never quote the body.

mod anthropic;
mod common;
#[cfg(test)]
mod fixtures;
mod openai;
mod openai_responses;
pub mod sse;

use llmtrail_core::{LlmRequest, Message, ResponseError, Usage};
use serde_json::Value;

use common::Notes;
use sse::{SseEvent, SseParser};

/// Which provider API an exchange belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI Chat Completions, `POST /v1/chat/completions`.
    OpenAiChat,
    /// OpenAI Responses, `POST /v1/responses`.
    OpenAiResponses,
    /// OpenAI Embeddings, `POST /v1/embeddings`.
    OpenAiEmbeddings,
    /// OpenAI Models, `GET /v1/models` and `GET /v1/models/{id}`.
    OpenAiModels,
    /// Anthropic Messages, `POST /v1/messages`.
    AnthropicMessages,
}

impl Api {
    /// Names the API as the `llmtrail.api` attribute does, e.g. `openai.chat_completions`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Api::OpenAiChat => "openai.chat_completions",
            Api::OpenAiResponses => "openai.responses",
            Api::OpenAiEmbeddings => "openai.embeddings",
            Api::OpenAiModels => "openai.models",
            Api::AnthropicMessages => "anthropic.messages",
        }
    }
}

/// A tool result that a request carries back to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call id the result answers (`tool_call_id`, `tool_use_id`, `call_id`).
    pub call_id: Option<String>,
    /// Tool name, when the request's own history names the call.
    pub name: Option<String>,
    /// Arguments of the call, when the request's own history holds them.
    pub arguments: Option<Value>,
    /// The result as sent (a JSON string for text results, else the JSON given).
    pub result: Value,
    /// Whether the client marked the result as an error (Anthropic `is_error`).
    pub is_error: bool,
}

/// What a request body says.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRequest {
    /// The `llm.request` body, with provider left empty for the caller to set.
    pub body: LlmRequest,
    /// Whether a stream was asked for.
    pub stream: bool,
    /// End-user identifier in the body (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// Tool results carried back in the messages, in order.
    pub tool_results: Vec<ToolResult>,
}

/// What a response body (JSON or a complete or cut-off SSE stream) says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParsedResponse {
    /// Provider's id of the response.
    pub response_id: Option<String>,
    /// Model that answered.
    pub response_model: Option<String>,
    /// Finish reasons, one per choice.
    pub finish_reasons: Vec<String>,
    /// Token usage, when reported.
    pub usage: Option<Usage>,
    /// Output messages (text, tool calls, reasoning), reassembled from deltas for streams.
    pub output_messages: Vec<Message>,
    /// A provider error object in the body or stream.
    pub error: Option<ResponseError>,
    /// The provider's error message text (content: it may quote the prompt).
    pub error_message: Option<String>,
    /// Whether the stream reached its terminal event (always true for a parsed JSON body).
    pub complete: bool,
    /// What could not be understood, if anything.
    pub parse_error: Option<String>,
}

/// Why a request body could not be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The body is not a JSON object.
    #[error("request body is not a JSON object")]
    NotAnObject,
    /// The body has no `model`.
    #[error("request body has no `model`")]
    MissingModel,
    /// A field the request cannot do without has the wrong type or is empty.
    #[error("`{field}` is not {expected}")]
    InvalidField {
        /// The field, by its name in the body.
        field: &'static str,
        /// What the field should be, e.g. `a non-empty string`.
        expected: &'static str,
    },
}

/// Parses a request body into the `llm.request` body and what else the exchange needs.
///
/// For [`Api::OpenAiModels`] there is no body: `body` is ignored (pass `Value::Null`) and the
/// request has model `*` and operation `models.list`.
///
/// # Errors
///
/// [`RequestError::NotAnObject`] when the body is not a JSON object,
/// [`RequestError::MissingModel`] when it has no `model` (or a `null` one), and
/// [`RequestError::InvalidField`] when `model` is not a non-empty string. Messages name the
/// field, never its value.
///
/// # Example
///
/// ```
/// use llmtrail_gateway::providers::{Api, parse_request};
/// use serde_json::json;
///
/// let body = json!({
///     "model": "gpt-4o",
///     "messages": [{"role": "user", "content": "hi"}],
///     "tool_choice": "auto",
/// });
/// let parsed = parse_request(Api::OpenAiChat, &body)?;
/// assert_eq!(parsed.body.model, "gpt-4o");
/// assert_eq!(parsed.body.messages.len(), 1);
/// assert_eq!(parsed.body.parameters.extra["tool_choice"], "auto");
/// # Ok::<(), llmtrail_gateway::providers::RequestError>(())
/// ```
pub fn parse_request(api: Api, body: &Value) -> Result<ParsedRequest, RequestError> {
    if api == Api::OpenAiModels {
        return Ok(openai::models_request());
    }
    let obj = body.as_object().ok_or(RequestError::NotAnObject)?;
    let model = match obj.get("model") {
        None | Some(Value::Null) => return Err(RequestError::MissingModel),
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(_) => {
            return Err(RequestError::InvalidField {
                field: "model",
                expected: "a non-empty string",
            });
        }
    };
    Ok(match api {
        Api::OpenAiChat => openai::chat_request(obj, model),
        Api::OpenAiResponses => openai_responses::request(obj, model),
        Api::OpenAiEmbeddings => openai::embeddings_request(obj, model),
        Api::AnthropicMessages => anthropic::request(obj, model),
        Api::OpenAiModels => openai::models_request(),
    })
}

/// Parses a complete, non-streaming response body of any HTTP status.
///
/// Error bodies fill `error` and `error_message`. A body that is not a JSON object gives only
/// `parse_error`. `complete` is always true. For [`Api::OpenAiModels`] only errors are read.
///
/// ```
/// use llmtrail_gateway::providers::{Api, parse_response};
///
/// let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
/// let parsed = parse_response(Api::AnthropicMessages, body);
/// assert_eq!(parsed.error.unwrap().error_type, "overloaded_error");
/// assert_eq!(parsed.error_message.as_deref(), Some("Overloaded"));
/// ```
#[must_use]
pub fn parse_response(api: Api, body: &[u8]) -> ParsedResponse {
    let mut out = ParsedResponse {
        complete: true,
        ..ParsedResponse::default()
    };
    let value = match common::parse_json_body(body) {
        Ok(value) if value.is_object() => value,
        Ok(_) => {
            out.parse_error = Some("body is not a JSON object".to_owned());
            return out;
        }
        Err(problem) => {
            out.parse_error = Some(problem.to_owned());
            return out;
        }
    };
    if let Some((error, message)) = common::error_of(&value) {
        out.error = Some(error);
        out.error_message = message;
    }
    let mut notes = Notes::default();
    match api {
        Api::OpenAiChat => openai::chat_response(&value, &mut out, &mut notes),
        Api::OpenAiResponses => openai_responses::response_body(&value, &mut out, &mut notes),
        Api::OpenAiEmbeddings => openai::embeddings_response(&value, &mut out),
        Api::AnthropicMessages => anthropic::response_body(&value, &mut out, &mut notes),
        Api::OpenAiModels => {}
    }
    out.parse_error = notes.into_inner();
    out
}

/// Parses a server-sent event stream body, complete or cut off at any byte.
///
/// `complete` tells whether the terminal event arrived (`data: [DONE]`, `response.completed`
/// and its kin, `message_stop`). Equivalent to one [`StreamParser::push`] of the whole body
/// and [`StreamParser::finish`], except that a plain JSON body of any size is read as JSON.
///
/// ```
/// use llmtrail_gateway::providers::{Api, parse_stream};
///
/// let body = b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n\
///              data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}\n\n";
/// let parsed = parse_stream(Api::OpenAiChat, body);
/// assert!(!parsed.complete, "no [DONE] yet");
/// assert_eq!(
///     parsed.output_messages[0].parts,
///     vec![llmtrail_core::Part::Text { content: "Hello".into() }],
/// );
/// ```
#[must_use]
pub fn parse_stream(api: Api, body: &[u8]) -> ParsedResponse {
    let mut parser = StreamParser::new(api);
    parser.push_inner(body, false);
    if parser.saw_event {
        parser.finish()
    } else {
        without_events(api, body)
    }
}

/// How much of a body without events [`StreamParser`] keeps, to read it as JSON at the end:
/// error bodies are small, and a stream keeps nothing once its first event arrives.
const JSON_FALLBACK_LIMIT: usize = 256 * 1024;

/// Reassembles a streamed response as its chunks arrive (the gateway's `on_stream_chunk`).
///
/// Memory grows with the text reassembled, not with the events: each event is read and
/// dropped as soon as its blank line arrives. Clone the parser to look at a stream midway.
///
/// ```
/// use llmtrail_gateway::providers::{Api, StreamParser};
///
/// let mut parser = StreamParser::new(Api::AnthropicMessages);
/// parser.push(b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":");
/// parser.push(b"{\"id\":\"msg_1\",\"model\":\"claude-sonnet-4-5\"}}\n\n");
/// let parsed = parser.finish();
/// assert_eq!(parsed.response_id.as_deref(), Some("msg_1"));
/// assert!(!parsed.complete);
/// ```
#[derive(Debug, Clone)]
pub struct StreamParser {
    api: Api,
    sse: SseParser,
    events: Vec<SseEvent>,
    state: StreamState,
    /// The start of the body while no event has been seen, in case it is plain JSON.
    head: Vec<u8>,
    /// Whether the body outgrew [`JSON_FALLBACK_LIMIT`] before any event.
    head_overflow: bool,
    saw_event: bool,
}

/// The reassembly state of each streaming API.
#[derive(Debug, Clone)]
enum StreamState {
    Chat(openai::ChatStream),
    Responses(openai_responses::ResponsesStream),
    Anthropic(anthropic::MessagesStream),
    /// An API that does not stream (embeddings, models).
    NotStreaming,
}

impl StreamParser {
    /// Creates a parser for a stream of `api`.
    #[must_use]
    pub fn new(api: Api) -> Self {
        let state = match api {
            Api::OpenAiChat => StreamState::Chat(openai::ChatStream::default()),
            Api::OpenAiResponses => StreamState::Responses(Default::default()),
            Api::AnthropicMessages => StreamState::Anthropic(Default::default()),
            Api::OpenAiEmbeddings | Api::OpenAiModels => StreamState::NotStreaming,
        };
        StreamParser {
            api,
            sse: SseParser::new(),
            events: Vec::new(),
            state,
            head: Vec::new(),
            head_overflow: false,
            saw_event: false,
        }
    }

    /// Feeds the next bytes of the body, split anywhere.
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_inner(bytes, true);
    }

    fn push_inner(&mut self, bytes: &[u8], keep_head: bool) {
        if keep_head && !self.saw_event && !self.head_overflow {
            if self.head.len() + bytes.len() <= JSON_FALLBACK_LIMIT {
                self.head.extend_from_slice(bytes);
            } else {
                self.head_overflow = true;
                self.head = Vec::new();
            }
        }
        self.sse.push(bytes, &mut self.events);
        for event in self.events.drain(..) {
            self.saw_event = true;
            match &mut self.state {
                StreamState::Chat(chat) => chat.on_event(&event),
                StreamState::Responses(responses) => responses.on_event(&event),
                StreamState::Anthropic(messages) => messages.on_event(&event),
                StreamState::NotStreaming => {}
            }
        }
        if self.saw_event && !self.head.is_empty() {
            self.head = Vec::new();
        }
    }

    /// Ends the stream (completely or not) and returns what it said.
    #[must_use]
    pub fn finish(self) -> ParsedResponse {
        if !self.saw_event {
            if self.head_overflow {
                return ParsedResponse {
                    parse_error: Some(NO_EVENTS.to_owned()),
                    ..ParsedResponse::default()
                };
            }
            return without_events(self.api, &self.head);
        }
        match self.state {
            StreamState::Chat(chat) => chat.finish(),
            StreamState::Responses(responses) => responses.finish(),
            StreamState::Anthropic(messages) => messages.finish(),
            StreamState::NotStreaming => ParsedResponse {
                parse_error: Some("this API does not stream".to_owned()),
                ..ParsedResponse::default()
            },
        }
    }
}

const NO_EVENTS: &str = "body holds no server-sent events";

/// A stream body in which no event was dispatched: plain JSON is read as a response body (a
/// server may answer a stream request with a JSON error); anything else is incomplete.
fn without_events(api: Api, body: &[u8]) -> ParsedResponse {
    let body = body.strip_prefix(common::BOM.as_slice()).unwrap_or(body);
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        // Nothing at all: the stream was cut off before its first event.
        return ParsedResponse::default();
    };
    let json = body.get(start..).unwrap_or_default();
    if json.first() == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(json).is_ok()
    {
        return parse_response(api, json);
    }
    ParsedResponse {
        parse_error: Some(NO_EVENTS.to_owned()),
        ..ParsedResponse::default()
    }
}
