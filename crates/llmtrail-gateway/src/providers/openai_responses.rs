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
