//! Provider wire formats: turning OpenAI and Anthropic request and response bodies (plain JSON
//! or server-sent event streams) into the event model.
//!
//! Contract: these functions never fail on a well-formed HTTP exchange; what they cannot
//! understand is reported in `parse_error` and left to the raw body, which the gateway always
//! keeps. They do no I/O; only [`StreamParser`] holds state (one stream's, between chunks).
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
        parse_error: (!starts_like_event_stream(body)).then(|| NO_EVENTS.to_owned()),
        ..ParsedResponse::default()
    }
}

/// Whether the first line of `body` is (or could be the start of) an event-stream field or
/// comment: then a body without events is a stream cut off early, not something else.
fn starts_like_event_stream(body: &[u8]) -> bool {
    let body = body
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .and_then(|start| body.get(start..))
        .unwrap_or_default();
    let line_end = memchr::memchr2(b'\r', b'\n', body).unwrap_or(body.len());
    let line = body.get(..line_end).unwrap_or_default();
    if line.first() == Some(&b':') {
        return true;
    }
    let name = line.split(|&b| b == b':').next().unwrap_or_default();
    // A name cut off by the end of the body may be the start of a field name.
    let whole_name = line.contains(&b':') || line_end < body.len();
    [b"data".as_slice(), b"event", b"id", b"retry"]
        .iter()
        .any(|field| name == *field || (!whole_name && field.starts_with(name)))
}

#[cfg(test)]
mod tests {
    use llmtrail_core::{Event, LlmResponse, ResponseStatus};
    use proptest::prelude::*;
    use serde_json::json;

    use super::fixtures::STREAMS;
    use super::*;

    const ALL_APIS: [Api; 5] = [
        Api::OpenAiChat,
        Api::OpenAiResponses,
        Api::OpenAiEmbeddings,
        Api::OpenAiModels,
        Api::AnthropicMessages,
    ];

    #[test]
    fn api_names() {
        let names: Vec<&str> = ALL_APIS.iter().map(|api| api.as_str()).collect();
        assert_eq!(
            names,
            [
                "openai.chat_completions",
                "openai.responses",
                "openai.embeddings",
                "openai.models",
                "anthropic.messages"
            ]
        );
    }

    #[test]
    fn json_answers_to_stream_requests_are_read_as_json() {
        let body = b"\n{\n  \"error\": {\n    \"message\": \"Incorrect API key provided.\",\n    \"type\": \"invalid_request_error\",\n    \"code\": \"invalid_api_key\"\n  }\n}\n";
        let expected = ParsedResponse {
            error: Some(ResponseError {
                error_type: "invalid_request_error".into(),
                code: Some("invalid_api_key".into()),
            }),
            error_message: Some("Incorrect API key provided.".into()),
            complete: true,
            ..ParsedResponse::default()
        };
        assert_eq!(parse_stream(Api::OpenAiChat, body), expected);
        let mut parser = StreamParser::new(Api::OpenAiChat);
        for byte in body {
            parser.push(std::slice::from_ref(byte));
        }
        assert_eq!(parser.finish(), expected);
    }

    #[test]
    fn stream_bodies_without_events() {
        assert_eq!(
            parse_stream(Api::OpenAiChat, b""),
            ParsedResponse::default()
        );
        assert_eq!(
            parse_stream(Api::OpenAiChat, b" \r\n"),
            ParsedResponse::default()
        );
        let cut_json = parse_stream(Api::AnthropicMessages, b"{\"type\": \"error\", \"err");
        assert_eq!(cut_json.parse_error.as_deref(), Some(NO_EVENTS));
        assert!(!cut_json.complete);
        let text = parse_stream(Api::OpenAiResponses, b"upstream connect error\n");
        assert_eq!(text.parse_error.as_deref(), Some(NO_EVENTS));
        let html = parse_stream(Api::OpenAiChat, b"<html><body>502</body></html>");
        assert_eq!(html.parse_error.as_deref(), Some(NO_EVENTS));
        // A stream cut before its first event is incomplete, not garbage.
        for cut in [
            "d",
            "\r\nda",
            "data",
            "data: {\"id\"",
            "event: message_start\n",
            ": ping",
            "retr",
        ] {
            let parsed = parse_stream(Api::AnthropicMessages, cut.as_bytes());
            assert_eq!(parsed, ParsedResponse::default(), "{cut:?}");
        }
        assert_eq!(
            parse_stream(Api::OpenAiChat, b"datum: x\n")
                .parse_error
                .as_deref(),
            Some(NO_EVENTS)
        );

        let mut big = StreamParser::new(Api::OpenAiChat);
        big.push(&vec![b'x'; JSON_FALLBACK_LIMIT + 1]);
        assert_eq!(big.finish().parse_error.as_deref(), Some(NO_EVENTS));

        let not_streaming = parse_stream(Api::OpenAiEmbeddings, b"data: {}\n\n");
        assert_eq!(
            not_streaming.parse_error.as_deref(),
            Some("this API does not stream")
        );
    }

    #[test]
    fn streams_complete_only_at_their_terminal_event_and_every_cut_parses_cleanly() {
        for (api, stream) in STREAMS {
            let body = stream.as_bytes();
            for end in 0..body.len() {
                let parsed = parse_stream(*api, &body[..end]);
                assert!(!parsed.complete, "{api:?} cut at {end} claims completion");
                assert_eq!(parsed.parse_error, None, "{api:?} cut at {end}");
            }
            let whole = parse_stream(*api, body);
            assert!(whole.complete, "{api:?}");
            assert_eq!(whole.parse_error, None);
        }
    }

    #[test]
    fn chunked_streams_read_like_whole_ones() {
        for (api, stream) in STREAMS {
            let body = stream.as_bytes();
            let whole = parse_stream(*api, body);
            let mut parser = StreamParser::new(*api);
            for byte in body {
                parser.push(std::slice::from_ref(byte));
            }
            assert_eq!(parser.finish(), whole, "{api:?} byte by byte");
            for split in 0..=body.len() {
                let mut parser = StreamParser::new(*api);
                parser.push(&body[..split]);
                parser.push(&body[split..]);
                assert_eq!(parser.finish(), whole, "{api:?} split at {split}");
            }
        }
    }

    /// What the parsers produce must be accepted by the event model as is.
    fn assert_valid_events(parsed_request: &ParsedRequest, parsed: &ParsedResponse) {
        let mut request = parsed_request.body.clone();
        request.provider = "test".to_owned();
        let event = Event::new(request);
        let back = Event::from_value(event.to_value()).unwrap();
        assert_eq!(back, event);

        let mut response = LlmResponse::new(ResponseStatus::Ok);
        response.response_id.clone_from(&parsed.response_id);
        response.response_model.clone_from(&parsed.response_model);
        response.finish_reasons.clone_from(&parsed.finish_reasons);
        response.usage = parsed.usage;
        response.output_messages.clone_from(&parsed.output_messages);
        response.error.clone_from(&parsed.error);
        response.error_message.clone_from(&parsed.error_message);
        let event = Event::new(response);
        let back = Event::from_value(event.to_value()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn parsed_exchanges_are_valid_events() {
        let requests = [
            (
                Api::OpenAiChat,
                json!({"model": "gpt-4o", "messages": [
                    {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
                    {"role": "tool", "tool_call_id": "c", "content": null}
                ], "temperature": 0.5, "stop": ["x"]}),
            ),
            (
                Api::OpenAiResponses,
                json!({"model": "gpt-5", "input": "hi", "instructions": "be nice"}),
            ),
            (
                Api::AnthropicMessages,
                json!({"model": "claude", "max_tokens": 5, "system": "s", "messages": [{"role": "user", "content": "hi"}]}),
            ),
            (
                Api::OpenAiEmbeddings,
                json!({"model": "e", "input": ["a", "b"]}),
            ),
            (Api::OpenAiModels, Value::Null),
        ];
        for (api, request) in requests {
            let parsed_request = parse_request(api, &request).unwrap();
            for (stream_api, stream) in STREAMS {
                if *stream_api == api {
                    assert_valid_events(&parsed_request, &parse_stream(api, stream.as_bytes()));
                }
            }
            assert_valid_events(&parsed_request, &parse_response(api, b"{}"));
        }
    }

    const KEYS: &[&str] = &[
        "type",
        "role",
        "content",
        "text",
        "model",
        "messages",
        "input",
        "choices",
        "delta",
        "index",
        "tool_calls",
        "function",
        "name",
        "arguments",
        "id",
        "call_id",
        "output",
        "output_index",
        "content_index",
        "item",
        "response",
        "usage",
        "error",
        "message",
        "content_block",
        "partial_json",
        "source",
        "data",
        "url",
        "image_url",
        "tool_use_id",
        "tool_call_id",
        "stop",
        "temperature",
        "tools",
        "system",
        "metadata",
        "user_id",
        "status",
        "summary",
        "finish_reason",
        "stop_reason",
        "prompt_tokens",
        "input_tokens",
        "file",
        "file_id",
        "file_data",
        "input_audio",
        "instructions",
        "conversation",
        "user",
        "max_tokens",
        "n",
        "stream",
        "thinking",
        "input_schema",
        "parameters",
        "refusal",
    ];

    const WORDS: &[&str] = &[
        "message",
        "text",
        "tool_use",
        "tool_result",
        "thinking",
        "image",
        "document",
        "base64",
        "url",
        "file",
        "content",
        "image_url",
        "input_audio",
        "refusal",
        "function",
        "custom",
        "tool",
        "assistant",
        "user",
        "system",
        "function_call",
        "function_call_output",
        "reasoning",
        "input_text",
        "input_image",
        "input_file",
        "output_text",
        "message_start",
        "content_block_start",
        "content_block_delta",
        "message_delta",
        "message_stop",
        "text_delta",
        "input_json_delta",
        "thinking_delta",
        "response.created",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.completed",
        "response.failed",
        "error",
        "[DONE]",
        "{\"a\":",
        "data:x,y",
        "data:image/png;base64,AA",
        "",
    ];

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u64..4).prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            proptest::sample::select(WORDS).prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 96, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(proptest::sample::select(KEYS), inner, 0..7)
                    .prop_map(|map| {
                        Value::Object(map.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                    }),
            ]
        })
    }

    fn api() -> impl Strategy<Value = Api> {
        proptest::sample::select(ALL_APIS.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_bytes_never_panic(api in api(), body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let response = parse_response(api, &body);
            prop_assert!(response.complete);
            let _ = parse_stream(api, &body);
        }

        #[test]
        fn provider_shaped_json_never_panics_and_makes_valid_events(
            api in api(),
            request in json_value(),
            events in proptest::collection::vec(json_value(), 0..8),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut request = request;
            if let Value::Object(map) = &mut request {
                map.insert("model".to_owned(), json!("m"));
            }
            let parsed_request = parse_request(api, &request);
            let response = serde_json::to_vec(&events.first().cloned().unwrap_or_default()).unwrap();
            let parsed_response = parse_response(api, &response);
            let mut stream = String::new();
            for event in &events {
                stream.push_str("data: ");
                stream.push_str(&event.to_string());
                stream.push_str("\n\n");
            }
            let parsed_stream = parse_stream(api, stream.as_bytes());
            let _ = parse_stream(api, &stream.as_bytes()[..cut.index(stream.len() + 1)]);
            if let Ok(parsed_request) = parsed_request {
                for key in parsed_request.body.parameters.extra.keys() {
                    prop_assert!(
                        !["messages", "input", "instructions", "system", "tools", "prompt",
                          "prediction", "user", "functions", "mcp_servers"].contains(&key.as_str()),
                        "content key {} in extra", key
                    );
                }
                assert_valid_events(&parsed_request, &parsed_response);
                assert_valid_events(&parsed_request, &parsed_stream);
            }
        }

        #[test]
        fn fixture_streams_survive_corruption(
            fixture in proptest::sample::select(STREAMS.to_vec()),
            flips in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..6),
            cut in any::<proptest::sample::Index>(),
        ) {
            let (api, stream) = fixture;
            let mut body = stream.as_bytes().to_vec();
            for (at, byte) in flips {
                let at = at.index(body.len());
                body[at] = byte;
            }
            body.truncate(cut.index(body.len() + 1));
            let _ = parse_stream(api, &body);
        }

        #[test]
        fn chunking_is_invisible_to_stream_parsing(
            fixture in proptest::sample::select(STREAMS.to_vec()),
            splits in proptest::collection::vec(any::<proptest::sample::Index>(), 0..10),
        ) {
            let (api, stream) = fixture;
            let body = stream.as_bytes();
            let mut splits: Vec<usize> = splits.iter().map(|s| s.index(body.len() + 1)).collect();
            splits.sort_unstable();
            let mut parser = StreamParser::new(api);
            let mut start = 0;
            for split in splits {
                parser.push(&body[start..split]);
                start = split;
            }
            parser.push(&body[start..]);
            prop_assert_eq!(parser.finish(), parse_stream(api, body));
        }
    }
}
