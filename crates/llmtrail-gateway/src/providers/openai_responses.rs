//! OpenAI Responses (`POST /v1/responses`): request bodies, response objects and their event
//! streams (`response.created` … `response.completed`).
//!
//! Contract: the functions here never fail and never panic. Input items become messages in
//! order (`function_call` items become assistant `tool_call` parts, `function_call_output`
//! items become tool `tool_call_response` parts and [`ToolResult`]s), `instructions` become
//! system instructions, and a response's output items become one assistant message. For a
//! stream, the full `response` object of the terminal event is preferred over the deltas,
//! which only stand in when the stream was cut off.

use std::collections::BTreeMap;

use llmtrail_core::{Message, Part, ResponseError, ToolDefinition, Usage};
use serde_json::{Map, Value};

use super::common::{
    Notes, RequestParts, arguments, arguments_from_text, array_at, audio_blob, error_fields,
    error_of, function_definition, media_from_data, media_from_url, present, str_at, string_at,
    u64_at,
};
use super::sse::SseEvent;
use super::{Api, ParsedRequest, ParsedResponse, ToolResult};

/// Reads a Responses request body (model already checked).
pub(crate) fn request(obj: &Map<String, Value>, model: String) -> ParsedRequest {
    let mut r = RequestParts::new(obj, model, Api::OpenAiResponses, "chat");
    r.body.parameters.temperature = r.number("temperature");
    r.body.parameters.top_p = r.number("top_p");
    r.body.parameters.max_tokens = r.count("max_output_tokens");
    r.stream();
    r.user = r.text("user");
    if let Some(conversation) = r.take("conversation") {
        let id = conversation.as_str().or_else(|| str_at(conversation, "id"));
        match id {
            Some(id) => r.body.conversation_id = Some(id.to_owned()),
            None => r.notes.note("`conversation` has no id"),
        }
    }
    match r.take("instructions") {
        None => {}
        Some(Value::String(text)) => r.body.system_instructions.push(Part::Text {
            content: text.clone(),
        }),
        Some(_) => r.notes.note("`instructions` is not a string"),
    }
    match r.take("input") {
        None => {}
        Some(Value::String(text)) => r.body.messages.push(Message::text("user", text.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(i, item, &mut r);
            }
        }
        Some(_) => r.notes.note("`input` is not a string or an array"),
    }
    if let Some(tools) = r.take("tools") {
        match tools.as_array() {
            Some(tools) => {
                for (i, tool) in tools.iter().enumerate() {
                    match tool_definition(tool) {
                        Some(def) => r.body.tool_definitions.push(def),
                        None => r.notes.note(format!("tools[{i}] has no name")),
                    }
                }
            }
            None => r.notes.note("`tools` is not an array"),
        }
    }
    r.finish()
}

/// One element of `input`.
fn input_item(i: usize, item: &Value, r: &mut RequestParts<'_>) {
    if !item.is_object() {
        r.notes.note(format!("input[{i}] is not an object"));
        return;
    }
    let item_type = match str_at(item, "type") {
        Some(item_type) => item_type,
        None if item.get("role").is_some() => "message",
        None => {
            r.notes.note(format!("input[{i}] has no type"));
            return;
        }
    };
    let assistant = |parts| Message {
        role: "assistant".to_owned(),
        name: None,
        parts,
        finish_reason: None,
    };
    match item_type {
        "message" => {
            let role = match str_at(item, "role") {
                Some(role) => role,
                None => {
                    r.notes.note(format!("input[{i}] has no role"));
                    "unknown"
                }
            };
            let mut parts = Vec::new();
            match item.get("content") {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => parts.push(Part::Text {
                    content: text.clone(),
                }),
                Some(Value::Array(content)) => {
                    for (j, part) in content.iter().enumerate() {
                        match input_part(part) {
                            Some(part) => parts.push(part),
                            None => r
                                .notes
                                .note(format!("input[{i}].content[{j}] is not understood")),
                        }
                    }
                }
                Some(_) => r
                    .notes
                    .note(format!("input[{i}].content is not a string or an array")),
            }
            r.body.messages.push(Message {
                role: role.to_owned(),
                name: None,
                parts,
                finish_reason: None,
            });
        }
        "function_call" | "custom_tool_call" => {
            let arguments = if item_type == "function_call" {
                arguments(item.get("arguments"))
            } else {
                present(item, "input").cloned()
            };
            r.body.messages.push(assistant(vec![Part::ToolCall {
                id: string_at(item, "call_id"),
                name: string_at(item, "name").unwrap_or_default(),
                arguments,
            }]));
        }
        "function_call_output" | "custom_tool_call_output" => {
            let call_id = string_at(item, "call_id");
            let response = item.get("output").cloned().unwrap_or(Value::Null);
            r.body.messages.push(Message {
                role: "tool".to_owned(),
                name: None,
                parts: vec![Part::ToolCallResponse {
                    id: call_id.clone(),
                    response: response.clone(),
                }],
                finish_reason: None,
            });
            r.tool_results.push(ToolResult {
                call_id,
                name: None,
                arguments: None,
                result: response,
                is_error: false,
            });
        }
        "reasoning" => {
            let mut parts = Vec::new();
            reasoning_parts(item, &mut parts);
            if !parts.is_empty() {
                r.body.messages.push(assistant(parts));
            }
        }
        // Built-in tool calls and their outputs, item references: nothing this model holds.
        _ => {}
    }
}

/// One part of an input message's content.
fn input_part(part: &Value) -> Option<Part> {
    match str_at(part, "type")? {
        "input_text" | "output_text" | "text" => Some(Part::Text {
            content: string_at(part, "text")?,
        }),
        "refusal" => Some(Part::Text {
            content: string_at(part, "refusal")?,
        }),
        "input_image" => {
            if let Some(url) = str_at(part, "image_url") {
                Some(media_from_url(url, "image"))
            } else {
                Some(Part::File {
                    mime_type: None,
                    modality: Some("image".to_owned()),
                    file_id: string_at(part, "file_id")?,
                })
            }
        }
        "input_file" => {
            if let Some(file_id) = string_at(part, "file_id") {
                Some(Part::File {
                    mime_type: None,
                    modality: Some("document".to_owned()),
                    file_id,
                })
            } else if let Some(data) = str_at(part, "file_data") {
                Some(media_from_data(data, "document"))
            } else {
                Some(Part::Uri {
                    mime_type: None,
                    modality: Some("document".to_owned()),
                    uri: string_at(part, "file_url")?,
                })
            }
        }
        "input_audio" => audio_blob(part.get("input_audio")?),
        _ => None,
    }
}

/// One element of `tools`: a function, or a built-in tool named by its name, its MCP server
/// label or else its type. Never copies MCP headers (they hold credentials).
fn tool_definition(tool: &Value) -> Option<ToolDefinition> {
    let tool_type = str_at(tool, "type").unwrap_or("function");
    if tool_type == "function" {
        return function_definition("function", tool, "parameters");
    }
    let name = str_at(tool, "name")
        .or_else(|| str_at(tool, "server_label"))
        .unwrap_or(tool_type);
    Some(ToolDefinition {
        tool_type: tool_type.to_owned(),
        name: name.to_owned(),
        description: string_at(tool, "description")
            .or_else(|| string_at(tool, "server_description")),
        parameters: None,
    })
}

/// Reasoning summaries and reasoning text of a `reasoning` item.
fn reasoning_parts(item: &Value, parts: &mut Vec<Part>) {
    for key in ["summary", "content"] {
        for entry in array_at(item, key) {
            if let Some(text) = str_at(entry, "text") {
                parts.push(Part::Reasoning {
                    content: text.to_owned(),
                });
            }
        }
    }
}

/// Parts of one output item of a response.
fn output_item_parts(item: &Value, parts: &mut Vec<Part>) {
    match str_at(item, "type").unwrap_or_default() {
        "message" => {
            for content in array_at(item, "content") {
                let key = match str_at(content, "type") {
                    Some("output_text") => "text",
                    Some("refusal") => "refusal",
                    _ => continue,
                };
                if let Some(text) = str_at(content, key) {
                    parts.push(Part::Text {
                        content: text.to_owned(),
                    });
                }
            }
        }
        "function_call" => parts.push(Part::ToolCall {
            id: string_at(item, "call_id"),
            name: string_at(item, "name").unwrap_or_default(),
            arguments: arguments(item.get("arguments")),
        }),
        "custom_tool_call" => parts.push(Part::ToolCall {
            id: string_at(item, "call_id"),
            name: string_at(item, "name").unwrap_or_default(),
            arguments: present(item, "input").cloned(),
        }),
        "reasoning" => reasoning_parts(item, parts),
        _ => {}
    }
}

/// Token usage in the Responses shape.
fn usage(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let details = |key: &str, field: &str| usage.get(key).and_then(|d| u64_at(d, field));
    Some(Usage {
        input_tokens: u64_at(usage, "input_tokens").unwrap_or(0),
        output_tokens: u64_at(usage, "output_tokens").unwrap_or(0),
        total_tokens: u64_at(usage, "total_tokens"),
        cache_read_input_tokens: details("input_tokens_details", "cached_tokens"),
        cache_creation_input_tokens: None,
        reasoning_output_tokens: details("output_tokens_details", "reasoning_tokens"),
    })
}

/// Reads a response object (a JSON body or the `response` of a terminal stream event) into
/// `out` (error already read).
pub(crate) fn response_body(body: &Value, out: &mut ParsedResponse, notes: &mut Notes) {
    out.response_id = string_at(body, "id");
    out.response_model = string_at(body, "model");
    out.usage = body.get("usage").and_then(usage);
    let finish_reason = str_at(body, "status").map(|status| {
        let reason = match body.get("incomplete_details") {
            Some(details) if status == "incomplete" => str_at(details, "reason"),
            _ => None,
        };
        reason.unwrap_or(status).to_owned()
    });
    out.finish_reasons.extend(finish_reason.clone());
    let Some(output) = body.get("output").and_then(Value::as_array) else {
        if out.error.is_none() {
            notes.note("response has no `output` array");
        }
        return;
    };
    let mut parts = Vec::new();
    for item in output {
        output_item_parts(item, &mut parts);
    }
    if !parts.is_empty() {
        out.output_messages.push(Message {
            role: "assistant".to_owned(),
            name: None,
            parts,
            finish_reason,
        });
    }
}

/// An output item being reassembled from stream deltas.
#[derive(Debug, Clone, Default)]
struct ItemDeltas {
    /// The item as last announced (`output_item.added`, then `output_item.done`).
    item: Option<Value>,
    /// Whether `item` is final (`output_item.done`), making the deltas redundant.
    done: bool,
    /// Text and refusal by content index.
    texts: BTreeMap<u64, String>,
    /// Reasoning summaries by summary index.
    summaries: BTreeMap<u64, String>,
    /// Function-call arguments or custom-tool input.
    arguments: Option<String>,
}

impl ItemDeltas {
    fn into_parts(self, parts: &mut Vec<Part>) {
        let item = self.item.unwrap_or(Value::Null);
        if self.done {
            output_item_parts(&item, parts);
            return;
        }
        let item_type = str_at(&item, "type").unwrap_or_default();
        match item_type {
            "function_call" | "custom_tool_call" => {
                let arguments = match self.arguments {
                    Some(text) if item_type == "function_call" => Some(arguments_from_text(&text)),
                    Some(text) => Some(Value::String(text)),
                    None if item_type == "function_call" => arguments(item.get("arguments")),
                    None => present(&item, "input").cloned(),
                };
                parts.push(Part::ToolCall {
                    id: string_at(&item, "call_id"),
                    name: string_at(&item, "name").unwrap_or_default(),
                    arguments,
                });
            }
            _ => {
                parts.extend(
                    self.summaries
                        .into_values()
                        .map(|content| Part::Reasoning { content }),
                );
                parts.extend(
                    self.texts
                        .into_values()
                        .map(|content| Part::Text { content }),
                );
            }
        }
    }
}

/// Reassembles a Responses event stream, event by event.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponsesStream {
    id: Option<String>,
    model: Option<String>,
    items: BTreeMap<u64, ItemDeltas>,
    /// The response of the terminal event, read like a JSON body.
    terminal: Option<ParsedResponse>,
    error: Option<ResponseError>,
    error_message: Option<String>,
    notes: Notes,
}

impl ResponsesStream {
    pub(crate) fn on_event(&mut self, event: &SseEvent) {
        let Ok(data) = serde_json::from_str::<Value>(&event.data) else {
            self.notes.note("event data is not JSON");
            return;
        };
        if !data.is_object() {
            self.notes.note("event data is not a JSON object");
            return;
        }
        let event_type = str_at(&data, "type").unwrap_or(&event.event);
        match event_type {
            "response.created" | "response.in_progress" | "response.queued" => {
                let response = data.get("response").unwrap_or(&Value::Null);
                self.id = string_at(response, "id").or(self.id.take());
                self.model = string_at(response, "model").or(self.model.take());
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                let Some(response) = present(&data, "response") else {
                    self.notes.note("terminal event has no `response`");
                    // Still the end of the stream.
                    self.terminal = Some(ParsedResponse::default());
                    return;
                };
                let mut out = ParsedResponse::default();
                if let Some((error, message)) = error_of(response) {
                    out.error = Some(error);
                    out.error_message = message;
                }
                response_body(response, &mut out, &mut self.notes);
                self.terminal = Some(out);
            }
            "error" => {
                let (error, message) = match error_of(&data) {
                    Some(found) => found,
                    None => {
                        let (mut error, message) = error_fields(&data);
                        // The event's own type is `error`, not a class of error.
                        error.error_type = "error".to_owned();
                        (error, message)
                    }
                };
                self.error = Some(error);
                self.error_message = message;
            }
            other => self.on_item_event(other, &data),
        }
    }

    /// Events about one output item, found by `output_index`.
    fn on_item_event(&mut self, event_type: &str, data: &Value) {
        let Some(event_type) = event_type.strip_prefix("response.") else {
            return;
        };
        let index = u64_at(data, "output_index");
        let text = |key: &str| str_at(data, key).unwrap_or_default();
        let content_index = u64_at(data, "content_index").unwrap_or(0);
        match event_type {
            "output_item.added" | "output_item.done" => {
                let Some(item) = self.item(index) else { return };
                if item.done {
                    return;
                }
                item.item = data.get("item").cloned();
                item.done = event_type == "output_item.done";
            }
            "output_text.delta" | "refusal.delta" => {
                if let Some(item) = self.item(index) {
                    item.texts
                        .entry(content_index)
                        .or_default()
                        .push_str(text("delta"));
                }
            }
            "output_text.done" | "refusal.done" => {
                let key = if event_type == "refusal.done" {
                    "refusal"
                } else {
                    "text"
                };
                if let Some(item) = self.item(index) {
                    item.texts.insert(content_index, text(key).to_owned());
                }
            }
            "function_call_arguments.delta" | "custom_tool_call_input.delta" => {
                if let Some(item) = self.item(index) {
                    item.arguments
                        .get_or_insert_default()
                        .push_str(text("delta"));
                }
            }
            "function_call_arguments.done" | "custom_tool_call_input.done" => {
                let key = if event_type.starts_with("function") {
                    "arguments"
                } else {
                    "input"
                };
                if let Some(item) = self.item(index) {
                    item.arguments = Some(text(key).to_owned());
                }
            }
            "reasoning_summary_text.delta" | "reasoning_summary_text.done" => {
                let summary_index = u64_at(data, "summary_index").unwrap_or(0);
                let done = event_type.ends_with(".done");
                if let Some(item) = self.item(index) {
                    let summary = item.summaries.entry(summary_index).or_default();
                    if done {
                        summary.clear();
                        summary.push_str(text("text"));
                    } else {
                        summary.push_str(text("delta"));
                    }
                }
            }
            _ => {}
        }
    }

    /// The item at `index`, created on first mention.
    fn item(&mut self, index: Option<u64>) -> Option<&mut ItemDeltas> {
        match index {
            Some(index) => Some(self.items.entry(index).or_default()),
            None => {
                self.notes.note("item event has no `output_index`");
                None
            }
        }
    }

    pub(crate) fn finish(self) -> ParsedResponse {
        let mut parts = Vec::new();
        for (_, item) in self.items {
            item.into_parts(&mut parts);
        }
        let streamed = (!parts.is_empty()).then(|| Message {
            role: "assistant".to_owned(),
            name: None,
            parts,
            finish_reason: None,
        });
        let mut out = match self.terminal {
            Some(mut out) => {
                out.complete = true;
                if out.output_messages.is_empty() {
                    out.output_messages.extend(streamed);
                }
                out
            }
            None => ParsedResponse {
                output_messages: streamed.into_iter().collect(),
                ..ParsedResponse::default()
            },
        };
        if out.response_id.is_none() {
            out.response_id = self.id;
        }
        if out.response_model.is_none() {
            out.response_model = self.model;
        }
        if out.error.is_none() {
            out.error = self.error;
            out.error_message = self.error_message;
        }
        out.parse_error = self.notes.into_inner();
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{RESPONSES_STREAM, cut_before};
    use super::super::{Api, parse_request, parse_response, parse_stream};
    use super::*;

    fn text(content: &str) -> Part {
        Part::Text {
            content: content.to_owned(),
        }
    }

    fn message(role: &str, parts: Vec<Part>) -> Message {
        Message {
            role: role.to_owned(),
            name: None,
            parts,
            finish_reason: None,
        }
    }

    fn request_fixture() -> Value {
        json!({
            "model": "gpt-5",
            "instructions": "You are a careful assistant.",
            "input": [
                {"role": "user", "content": "Plan a trip."},
                {"type": "message", "role": "user", "content": [
                    {"type": "input_text", "text": "Use this map"},
                    {"type": "input_image", "image_url": "data:image/jpeg;base64,/9j/4AAQ", "detail": "auto"},
                    {"type": "input_image", "image_url": "https://example.com/map.png"},
                    {"type": "input_image", "file_id": "file-img1"},
                    {"type": "input_file", "file_id": "file-pdf1"},
                    {"type": "input_file", "filename": "notes.pdf", "file_data": "data:application/pdf;base64,JVBERi0="}
                ]},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Need weather first."}], "encrypted_content": "gAAAA"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_w", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}"},
                {"type": "function_call_output", "call_id": "call_w", "output": "{\"temp\":21}"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "role": "assistant", "id": "msg_0", "status": "completed",
                 "content": [{"type": "output_text", "text": "It is 21°C.", "annotations": []}]}
            ],
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Weather by city", "parameters": {"type": "object"}, "strict": true},
                {"type": "web_search_preview"},
                {"type": "mcp", "server_label": "deepwiki", "server_url": "https://mcp.deepwiki.com/mcp",
                 "headers": {"Authorization": "Bearer secret-token"}}
            ],
            "max_output_tokens": 1000,
            "temperature": 1.0,
            "top_p": 1,
            "stream": false,
            "user": "u-77",
            "store": false,
            "reasoning": {"effort": "medium", "summary": "auto"},
            "text": {"format": {"type": "text"}},
            "previous_response_id": "resp_0",
            "conversation": {"id": "conv_123"},
            "tool_choice": "auto",
            "prompt": {"id": "pmpt_1", "variables": {"city": "Rome"}}
        })
    }

    #[test]
    fn responses_requests_read_items_instructions_and_tools() {
        let parsed = parse_request(Api::OpenAiResponses, &request_fixture()).unwrap();
        let body = &parsed.body;
        assert_eq!(body.model, "gpt-5");
        assert_eq!(body.operation.as_deref(), Some("chat"));
        assert_eq!(body.conversation_id.as_deref(), Some("conv_123"));
        assert_eq!(
            body.system_instructions,
            vec![text("You are a careful assistant.")]
        );
        assert_eq!(parsed.user.as_deref(), Some("u-77"));
        assert!(!parsed.stream);
        assert_eq!(
            body.messages,
            vec![
                message("user", vec![text("Plan a trip.")]),
                message(
                    "user",
                    vec![
                        text("Use this map"),
                        Part::Blob {
                            mime_type: Some("image/jpeg".into()),
                            modality: Some("image".into()),
                            content: "/9j/4AAQ".into(),
                        },
                        Part::Uri {
                            mime_type: None,
                            modality: Some("image".into()),
                            uri: "https://example.com/map.png".into(),
                        },
                        Part::File {
                            mime_type: None,
                            modality: Some("image".into()),
                            file_id: "file-img1".into(),
                        },
                        Part::File {
                            mime_type: None,
                            modality: Some("document".into()),
                            file_id: "file-pdf1".into(),
                        },
                        Part::Blob {
                            mime_type: Some("application/pdf".into()),
                            modality: Some("document".into()),
                            content: "JVBERi0=".into(),
                        },
                    ]
                ),
                message(
                    "assistant",
                    vec![Part::Reasoning {
                        content: "Need weather first.".into()
                    }]
                ),
                message(
                    "assistant",
                    vec![Part::ToolCall {
                        id: Some("call_w".into()),
                        name: "get_weather".into(),
                        arguments: Some(json!({"city": "Rome"})),
                    }]
                ),
                message(
                    "tool",
                    vec![Part::ToolCallResponse {
                        id: Some("call_w".into()),
                        response: json!("{\"temp\":21}"),
                    }]
                ),
                message("assistant", vec![text("It is 21°C.")]),
            ]
        );
        assert_eq!(
            parsed.tool_results,
            vec![ToolResult {
                call_id: Some("call_w".into()),
                name: Some("get_weather".into()),
                arguments: Some(json!({"city": "Rome"})),
                result: json!("{\"temp\":21}"),
                is_error: false,
            }]
        );
        assert_eq!(
            body.tool_definitions,
            vec![
                ToolDefinition {
                    tool_type: "function".into(),
                    name: "get_weather".into(),
                    description: Some("Weather by city".into()),
                    parameters: Some(json!({"type": "object"})),
                },
                ToolDefinition {
                    tool_type: "web_search_preview".into(),
                    name: "web_search_preview".into(),
                    description: None,
                    parameters: None,
                },
                ToolDefinition {
                    tool_type: "mcp".into(),
                    name: "deepwiki".into(),
                    description: None,
                    parameters: None,
                },
            ]
        );
        let p = &body.parameters;
        assert_eq!(p.max_tokens, Some(1000));
        assert_eq!(p.temperature, Some(1.0));
        assert_eq!(p.top_p, Some(1.0));
        assert!(!p.stream);
        assert_eq!(
            Value::Object(p.extra.clone()),
            json!({
                "store": false,
                "reasoning": {"effort": "medium", "summary": "auto"},
                "text": {"format": {"type": "text"}},
                "previous_response_id": "resp_0",
                "tool_choice": "auto"
            })
        );
        assert_eq!(
            Value::Object(body.attributes.clone()),
            json!({"llmtrail.api": "openai.responses"})
        );
        // The MCP server's credentials go nowhere.
        let everything = format!("{parsed:?}");
        assert!(!everything.contains("secret-token"));
    }

    #[test]
    fn a_string_input_is_one_user_message() {
        let parsed = parse_request(
            Api::OpenAiResponses,
            &json!({"model": "gpt-5", "input": "Tell me a joke", "stream": true}),
        )
        .unwrap();
        assert_eq!(
            parsed.body.messages,
            vec![Message::text("user", "Tell me a joke")]
        );
        assert!(parsed.stream);
        assert!(parsed.body.parameters.stream);

        let odd = parse_request(
            Api::OpenAiResponses,
            &json!({"model": "gpt-5", "input": [{"id": "x"}, 3], "instructions": ["a"]}),
        )
        .unwrap();
        assert_eq!(
            odd.body.attributes["llmtrail.parse_error"],
            "`instructions` is not a string"
        );
        assert!(odd.body.messages.is_empty());
    }

    #[test]
    fn responses_bodies_give_one_assistant_message() {
        let body = br#"{
            "id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-2025-08-07",
            "error": null, "incomplete_details": null,
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "Checking weather."}]},
                {"type": "function_call", "id": "fc_1", "call_id": "call_w", "name": "get_weather", "arguments": "{\"city\":\"Rome\"}", "status": "completed"},
                {"type": "web_search_call", "id": "ws_1", "status": "completed"},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed", "content": [
                    {"type": "output_text", "text": "Let me look.", "annotations": []},
                    {"type": "refusal", "refusal": "No."}
                ]}
            ],
            "usage": {"input_tokens": 300, "input_tokens_details": {"cached_tokens": 128},
                      "output_tokens": 80, "output_tokens_details": {"reasoning_tokens": 40}, "total_tokens": 380}
        }"#;
        let mut reply = message(
            "assistant",
            vec![
                Part::Reasoning {
                    content: "Checking weather.".into(),
                },
                Part::ToolCall {
                    id: Some("call_w".into()),
                    name: "get_weather".into(),
                    arguments: Some(json!({"city": "Rome"})),
                },
                text("Let me look."),
                text("No."),
            ],
        );
        reply.finish_reason = Some("completed".into());
        assert_eq!(
            parse_response(Api::OpenAiResponses, body),
            ParsedResponse {
                response_id: Some("resp_1".into()),
                response_model: Some("gpt-5-2025-08-07".into()),
                finish_reasons: vec!["completed".into()],
                usage: Some(Usage {
                    input_tokens: 300,
                    output_tokens: 80,
                    total_tokens: Some(380),
                    cache_read_input_tokens: Some(128),
                    cache_creation_input_tokens: None,
                    reasoning_output_tokens: Some(40),
                }),
                output_messages: vec![reply],
                error: None,
                error_message: None,
                complete: true,
                parse_error: None,
            }
        );
    }

    #[test]
    fn incomplete_and_failed_responses() {
        let incomplete = parse_response(
            Api::OpenAiResponses,
            br#"{"id": "resp_2", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"},
                 "model": "gpt-5", "output": [{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Partial"}]}]}"#,
        );
        assert_eq!(
            incomplete.finish_reasons,
            vec!["max_output_tokens".to_owned()]
        );
        assert_eq!(
            incomplete.output_messages[0].finish_reason.as_deref(),
            Some("max_output_tokens")
        );
        assert_eq!(incomplete.output_messages[0].parts, vec![text("Partial")]);

        let failed = parse_response(
            Api::OpenAiResponses,
            br#"{"id": "resp_3", "status": "failed", "error": {"code": "server_error", "message": "Something went wrong"}, "output": []}"#,
        );
        assert_eq!(
            failed.error,
            Some(ResponseError {
                error_type: "error".into(),
                code: Some("server_error".into())
            })
        );
        assert_eq!(
            failed.error_message.as_deref(),
            Some("Something went wrong")
        );
        assert_eq!(failed.finish_reasons, vec!["failed".to_owned()]);
        assert!(failed.output_messages.is_empty());
        assert_eq!(failed.parse_error, None);
    }

    fn stream_message(parts: Vec<Part>, finish_reason: Option<&str>) -> Message {
        Message {
            role: "assistant".into(),
            name: None,
            parts,
            finish_reason: finish_reason.map(str::to_owned),
        }
    }

    #[test]
    fn responses_streams_prefer_the_terminal_response() {
        let parsed = parse_stream(Api::OpenAiResponses, RESPONSES_STREAM.as_bytes());
        assert_eq!(
            parsed,
            ParsedResponse {
                response_id: Some("resp_s".into()),
                response_model: Some("gpt-5-2025-08-07".into()),
                finish_reasons: vec!["completed".into()],
                usage: Some(Usage {
                    input_tokens: 10,
                    output_tokens: 5,
                    total_tokens: Some(15),
                    cache_read_input_tokens: Some(0),
                    cache_creation_input_tokens: None,
                    reasoning_output_tokens: Some(0),
                }),
                output_messages: vec![stream_message(
                    vec![
                        text("Hello world"),
                        Part::ToolCall {
                            id: Some("call_1".into()),
                            name: "lookup".into(),
                            arguments: Some(json!({"q": "rust"})),
                        }
                    ],
                    Some("completed")
                )],
                error: None,
                error_message: None,
                complete: true,
                parse_error: None,
            }
        );
    }

    #[test]
    fn cut_off_responses_streams_fall_back_to_the_deltas() {
        let cut = cut_before(RESPONSES_STREAM, "event: response.completed");
        assert_eq!(
            parse_stream(Api::OpenAiResponses, cut.as_bytes()),
            ParsedResponse {
                response_id: Some("resp_s".into()),
                response_model: Some("gpt-5".into()),
                output_messages: vec![stream_message(
                    vec![
                        text("Hello world"),
                        Part::ToolCall {
                            id: Some("call_1".into()),
                            name: "lookup".into(),
                            arguments: Some(json!({"q": "rust"})),
                        }
                    ],
                    None
                )],
                complete: false,
                ..ParsedResponse::default()
            }
        );
        // Cut in the middle of the arguments: what arrived stays, as text.
        let cut = cut_before(
            RESPONSES_STREAM,
            "event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"sequence_number\":8",
        );
        let parsed = parse_stream(Api::OpenAiResponses, cut.as_bytes());
        assert_eq!(
            parsed.output_messages[0].parts[1],
            Part::ToolCall {
                id: Some("call_1".into()),
                name: "lookup".into(),
                arguments: Some(json!("{\"q\":")),
            }
        );
        assert!(!parsed.complete);
    }

    #[test]
    fn output_item_done_events_replace_the_deltas() {
        let body = concat!(
            "data: {\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hel\"}\n\n",
            "data: {\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hello!\"}]}}\n\n",
            "data: {\"type\":\"response.reasoning_summary_text.delta\",\"output_index\":1,\"summary_index\":0,\"delta\":\"Thinking\"}\n\n",
        );
        let parsed = parse_stream(Api::OpenAiResponses, body.as_bytes());
        assert_eq!(
            parsed.output_messages,
            vec![stream_message(
                vec![
                    text("Hello!"),
                    Part::Reasoning {
                        content: "Thinking".into()
                    }
                ],
                None
            )]
        );
    }

    #[test]
    fn responses_stream_errors_and_failures() {
        let body = "event: error\n\
                    data: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"Slow down\",\"param\":null,\"sequence_number\":3}\n\n";
        let parsed = parse_stream(Api::OpenAiResponses, body.as_bytes());
        assert_eq!(
            parsed.error,
            Some(ResponseError {
                error_type: "error".into(),
                code: Some("rate_limit_exceeded".into())
            })
        );
        assert_eq!(parsed.error_message.as_deref(), Some("Slow down"));
        assert!(!parsed.complete);

        let body = "event: response.failed\n\
                    data: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_f\",\"status\":\"failed\",\"model\":\"gpt-5\",\"output\":[],\"error\":{\"code\":\"server_error\",\"message\":\"oops\"}}}\n\n";
        let parsed = parse_stream(Api::OpenAiResponses, body.as_bytes());
        assert!(parsed.complete);
        assert_eq!(parsed.response_id.as_deref(), Some("resp_f"));
        assert_eq!(parsed.finish_reasons, vec!["failed".to_owned()]);
        assert_eq!(parsed.error.unwrap().code.as_deref(), Some("server_error"));
        assert_eq!(parsed.error_message.as_deref(), Some("oops"));
    }

    #[test]
    fn responses_stream_garbage_is_noted() {
        let body = format!("data: <<<\n\n{RESPONSES_STREAM}");
        let parsed = parse_stream(Api::OpenAiResponses, body.as_bytes());
        assert_eq!(
            parsed.parse_error.as_deref(),
            Some("event data is not JSON")
        );
        assert!(parsed.complete);
        assert_eq!(parsed.output_messages[0].parts[0], text("Hello world"));

        let body = "data: {\"type\":\"response.output_text.delta\",\"delta\":\"x\"}\n\n";
        let parsed = parse_stream(Api::OpenAiResponses, body.as_bytes());
        assert_eq!(
            parsed.parse_error.as_deref(),
            Some("item event has no `output_index`")
        );
    }
}
