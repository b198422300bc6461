//! OpenAI Chat Completions, Embeddings and Models: request bodies, JSON response bodies and
//! chat completion streams (`chat.completion.chunk` events ending in `data: [DONE]`).
//!
//! Contract: the functions here never fail and never panic. Messages keep their order and
//! roles (system and developer messages stay in `messages`); content becomes parts, tool calls
//! become `tool_call` parts whose arguments are parsed JSON when the provider's string holds
//! JSON, and tool messages become `tool_call_response` parts plus [`ToolResult`]s. What cannot
//! be read is noted by position and field name, never by value.

use std::collections::BTreeMap;

use llmtrail_core::{Message, Part, ResponseError, ToolDefinition, Usage};
use serde_json::{Map, Value};

use super::common::{
    Notes, RequestParts, arguments, arguments_from_text, array_at, audio_blob, error_of,
    function_definition, media_from_data, media_from_url, present, str_at, string_at, u64_at,
};
use super::sse::SseEvent;
use super::{Api, ParsedRequest, ParsedResponse, ToolResult};

/// Reads a Chat Completions request body (model already checked).
pub(crate) fn chat_request(obj: &Map<String, Value>, model: String) -> ParsedRequest {
    let mut r = RequestParts::new(obj, model, Api::OpenAiChat, "chat");
    r.body.parameters.temperature = r.number("temperature");
    r.body.parameters.top_p = r.number("top_p");
    r.body.parameters.top_k = r.number("top_k");
    r.body.parameters.seed = r.integer("seed");
    r.body.parameters.frequency_penalty = r.number("frequency_penalty");
    r.body.parameters.presence_penalty = r.number("presence_penalty");
    r.body.parameters.choice_count = r.count("n");
    // `max_completion_tokens` replaced `max_tokens`; when both are sent the older one stays in
    // `extra` so that neither is lost.
    r.body.parameters.max_tokens = match r.count("max_completion_tokens") {
        Some(max) => Some(max),
        None => r.count("max_tokens"),
    };
    r.body.parameters.stop_sequences = r.strings("stop");
    r.stream();
    r.user = r.text("user");

    if let Some(messages) = r.take("messages") {
        match messages.as_array() {
            Some(messages) => {
                for (i, message) in messages.iter().enumerate() {
                    chat_message(i, message, &mut r);
                }
            }
            None => r.notes.note("`messages` is not an array"),
        }
    }
    if let Some(tools) = r.take("tools") {
        match tools.as_array() {
            Some(tools) => {
                for (i, tool) in tools.iter().enumerate() {
                    match chat_tool(tool) {
                        Some(def) => r.body.tool_definitions.push(def),
                        None => r.notes.note(format!("tools[{i}] has no name")),
                    }
                }
            }
            None => r.notes.note("`tools` is not an array"),
        }
    }
    // Legacy function calling: `functions` are tools, `function_call` (a choice) goes to extra.
    if let Some(functions) = r.take("functions") {
        match functions.as_array() {
            Some(functions) => {
                for (i, function) in functions.iter().enumerate() {
                    match function_definition("function", function, "parameters") {
                        Some(def) => r.body.tool_definitions.push(def),
                        None => r.notes.note(format!("functions[{i}] has no name")),
                    }
                }
            }
            None => r.notes.note("`functions` is not an array"),
        }
    }
    r.finish()
}

/// One element of `messages`.
fn chat_message(i: usize, message: &Value, r: &mut RequestParts<'_>) {
    if !message.is_object() {
        r.notes.note(format!("messages[{i}] is not an object"));
        return;
    }
    let role = match str_at(message, "role") {
        Some(role) => role,
        None => {
            r.notes.note(format!("messages[{i}] has no role"));
            "unknown"
        }
    };
    let name = string_at(message, "name");
    let mut parts = Vec::new();
    match role {
        "tool" | "function" => {
            let response = message.get("content").cloned().unwrap_or(Value::Null);
            let call_id = string_at(message, "tool_call_id");
            parts.push(Part::ToolCallResponse {
                id: call_id.clone(),
                response: response.clone(),
            });
            r.tool_results.push(ToolResult {
                call_id,
                // Legacy `function` messages name the function instead of giving an id.
                name: if role == "function" {
                    name.clone()
                } else {
                    None
                },
                arguments: None,
                result: response,
                is_error: false,
            });
        }
        _ => {
            content_parts(i, message.get("content"), &mut parts, &mut r.notes);
            if let Some(refusal) = str_at(message, "refusal") {
                parts.push(Part::Text {
                    content: refusal.to_owned(),
                });
            }
            tool_call_parts(message, &mut parts);
        }
    }
    r.body.messages.push(Message {
        role: role.to_owned(),
        name,
        parts,
        finish_reason: None,
    });
}

/// The `content` of a chat message: a string, `null`, or an array of typed parts.
fn content_parts(i: usize, content: Option<&Value>, parts: &mut Vec<Part>, notes: &mut Notes) {
    match content {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => parts.push(Part::Text {
            content: text.clone(),
        }),
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                match content_part(item) {
                    Some(part) => parts.push(part),
                    None => notes.note(format!("messages[{i}].content[{j}] is not understood")),
                }
            }
        }
        Some(_) => notes.note(format!("messages[{i}].content is not a string or an array")),
    }
}

fn content_part(item: &Value) -> Option<Part> {
    match str_at(item, "type")? {
        "text" => Some(Part::Text {
            content: string_at(item, "text")?,
        }),
        "refusal" => Some(Part::Text {
            content: string_at(item, "refusal")?,
        }),
        "image_url" => {
            let image = item.get("image_url")?;
            // Some clients send the URL itself rather than `{"url": …}`.
            let url = image.as_str().or_else(|| str_at(image, "url"))?;
            Some(media_from_url(url, "image"))
        }
        "input_audio" => audio_blob(item.get("input_audio")?),
        "file" => {
            let file = item.get("file")?;
            if let Some(file_id) = string_at(file, "file_id") {
                Some(Part::File {
                    mime_type: None,
                    modality: Some("document".to_owned()),
                    file_id,
                })
            } else {
                Some(media_from_data(str_at(file, "file_data")?, "document"))
            }
        }
        _ => None,
    }
}

/// `tool_calls` (and the legacy `function_call`) of an assistant message or a response
/// choice, as `tool_call` parts.
fn tool_call_parts(message: &Value, parts: &mut Vec<Part>) {
    for call in array_at(message, "tool_calls") {
        if let Some(custom) = present(call, "custom") {
            // Custom tools take free text rather than JSON.
            parts.push(Part::ToolCall {
                id: string_at(call, "id"),
                name: string_at(custom, "name").unwrap_or_default(),
                arguments: present(custom, "input").cloned(),
            });
            continue;
        }
        let function = call.get("function").unwrap_or(&Value::Null);
        parts.push(Part::ToolCall {
            id: string_at(call, "id"),
            name: string_at(function, "name").unwrap_or_default(),
            arguments: arguments(function.get("arguments")),
        });
    }
    if let Some(function) = present(message, "function_call") {
        parts.push(Part::ToolCall {
            id: None,
            name: string_at(function, "name").unwrap_or_default(),
            arguments: arguments(function.get("arguments")),
        });
    }
}

/// One element of `tools`: a function, a custom tool, or another kind named by its type.
fn chat_tool(tool: &Value) -> Option<ToolDefinition> {
    let tool_type = str_at(tool, "type").unwrap_or("function");
    match present(tool, tool_type) {
        Some(def) if tool_type == "function" => function_definition("function", def, "parameters"),
        Some(def) => Some(ToolDefinition {
            tool_type: tool_type.to_owned(),
            name: string_at(def, "name").unwrap_or_else(|| tool_type.to_owned()),
            description: string_at(def, "description"),
            parameters: None,
        }),
        None if tool_type == "function" => None,
        None => Some(ToolDefinition {
            tool_type: tool_type.to_owned(),
            name: tool_type.to_owned(),
            description: None,
            parameters: None,
        }),
    }
}

/// Reads an Embeddings request body (model already checked).
pub(crate) fn embeddings_request(obj: &Map<String, Value>, model: String) -> ParsedRequest {
    let mut r = RequestParts::new(obj, model, Api::OpenAiEmbeddings, "embeddings");
    r.user = r.text("user");
    let mut token_inputs = 0_u64;
    match r.take("input") {
        None => {}
        Some(Value::String(text)) => r.body.messages.push(Message::text("user", text.clone())),
        Some(Value::Array(items)) if items.iter().all(Value::is_number) && !items.is_empty() => {
            token_inputs = 1;
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(text) => {
                        r.body.messages.push(Message::text("user", text.clone()))
                    }
                    Value::Array(_) => token_inputs += 1,
                    _ => r
                        .notes
                        .note(format!("input[{i}] is not a string or a token array")),
                }
            }
        }
        Some(_) => r.notes.note("`input` is not a string or an array"),
    }
    if token_inputs > 0 {
        r.body
            .attributes
            .insert("llmtrail.token_inputs".to_owned(), token_inputs.into());
    }
    r.finish()
}

/// The request of `GET /v1/models` (no body): model `*`, operation `models.list`.
pub(crate) fn models_request() -> ParsedRequest {
    let empty = Map::new();
    RequestParts::new(&empty, "*".to_owned(), Api::OpenAiModels, "models.list").finish()
}

/// Token usage in the Chat Completions and Embeddings shape.
pub(crate) fn usage(usage: &Value) -> Option<Usage> {
    if !usage.is_object() {
        return None;
    }
    let details = |key: &str, field: &str| usage.get(key).and_then(|d| u64_at(d, field));
    Some(Usage {
        input_tokens: u64_at(usage, "prompt_tokens").unwrap_or(0),
        output_tokens: u64_at(usage, "completion_tokens").unwrap_or(0),
        total_tokens: u64_at(usage, "total_tokens"),
        cache_read_input_tokens: details("prompt_tokens_details", "cached_tokens"),
        cache_creation_input_tokens: None,
        reasoning_output_tokens: details("completion_tokens_details", "reasoning_tokens"),
    })
}

/// Reads a Chat Completions response body into `out` (error already read).
pub(crate) fn chat_response(body: &Value, out: &mut ParsedResponse, notes: &mut Notes) {
    out.response_id = string_at(body, "id");
    out.response_model = string_at(body, "model");
    out.usage = body.get("usage").and_then(usage);
    let Some(choices) = body.get("choices").and_then(Value::as_array) else {
        if out.error.is_none() {
            notes.note("response has no `choices` array");
        }
        return;
    };
    let mut choices: Vec<(u64, &Value)> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| (u64_at(c, "index").unwrap_or(i as u64), c))
        .collect();
    choices.sort_by_key(|(index, _)| *index);
    for (_, choice) in choices {
        let message = choice.get("message").unwrap_or(&Value::Null);
        let mut parts = Vec::new();
        if let Some(reasoning) = str_at(message, "reasoning_content") {
            // Compatible servers (vLLM, DeepSeek) return reasoning alongside the content.
            parts.push(Part::Reasoning {
                content: reasoning.to_owned(),
            });
        }
        for key in ["content", "refusal"] {
            if let Some(text) = str_at(message, key) {
                parts.push(Part::Text {
                    content: text.to_owned(),
                });
            }
        }
        tool_call_parts(message, &mut parts);
        let finish_reason = string_at(choice, "finish_reason");
        out.finish_reasons.extend(finish_reason.clone());
        out.output_messages.push(Message {
            role: str_at(message, "role").unwrap_or("assistant").to_owned(),
            name: None,
            parts,
            finish_reason,
        });
    }
}

/// Reads an Embeddings response body into `out`: model and usage; vectors are not kept.
pub(crate) fn embeddings_response(body: &Value, out: &mut ParsedResponse) {
    out.response_model = string_at(body, "model");
    out.usage = body.get("usage").and_then(usage);
}

/// A tool call being reassembled from stream deltas.
#[derive(Debug, Clone, Default)]
struct ToolCallDeltas {
    id: Option<String>,
    name: String,
    /// `None` until a delta carries arguments, so that a call without any keeps none.
    arguments: Option<String>,
}

impl ToolCallDeltas {
    fn add(&mut self, id: Option<&str>, name: Option<&str>, arguments: Option<&str>) {
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            self.id = Some(id.to_owned());
        }
        // The name arrives whole in the first delta; some compatible servers repeat it.
        if let Some(name) = name.filter(|_| self.name.is_empty()) {
            self.name.push_str(name);
        }
        if let Some(arguments) = arguments {
            self.arguments.get_or_insert_default().push_str(arguments);
        }
    }

    fn into_part(self) -> Part {
        Part::ToolCall {
            id: self.id,
            name: self.name,
            arguments: self.arguments.as_deref().map(arguments_from_text),
        }
    }
}

/// One choice being reassembled from stream deltas.
#[derive(Debug, Clone, Default)]
struct ChoiceDeltas {
    role: Option<String>,
    reasoning: String,
    content: String,
    refusal: String,
    tool_calls: BTreeMap<u64, ToolCallDeltas>,
    function_call: Option<ToolCallDeltas>,
    finish_reason: Option<String>,
}

/// Reassembles a chat completion stream, event by event.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChatStream {
    id: Option<String>,
    model: Option<String>,
    choices: BTreeMap<u64, ChoiceDeltas>,
    usage: Option<Usage>,
    error: Option<ResponseError>,
    error_message: Option<String>,
    done: bool,
    notes: Notes,
}

impl ChatStream {
    pub(crate) fn on_event(&mut self, event: &SseEvent) {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(&event.data) else {
            self.notes.note("event data is not JSON");
            return;
        };
        if !chunk.is_object() {
            self.notes.note("event data is not a JSON object");
            return;
        }
        if let Some((error, message)) = error_of(&chunk) {
            self.error = Some(error);
            self.error_message = message;
            return;
        }
        if self.id.is_none() {
            self.id = string_at(&chunk, "id");
        }
        if self.model.is_none() {
            self.model = string_at(&chunk, "model");
        }
        if let Some(usage) = chunk.get("usage").and_then(usage) {
            self.usage = Some(usage);
        }
        let Some(choices) = chunk.get("choices").and_then(Value::as_array) else {
            if chunk.get("usage").is_none() {
                self.notes.note("chunk has no `choices` array");
            }
            return;
        };
        for (i, choice) in choices.iter().enumerate() {
            let index = u64_at(choice, "index").unwrap_or(i as u64);
            let acc = self.choices.entry(index).or_default();
            let delta = choice.get("delta").unwrap_or(&Value::Null);
            if let Some(role) = str_at(delta, "role") {
                acc.role = Some(role.to_owned());
            }
            for (key, text) in [
                ("reasoning_content", &mut acc.reasoning),
                ("content", &mut acc.content),
                ("refusal", &mut acc.refusal),
            ] {
                text.push_str(str_at(delta, key).unwrap_or_default());
            }
            for (k, call) in array_at(delta, "tool_calls").iter().enumerate() {
                let function = call.get("function").unwrap_or(&Value::Null);
                acc.tool_calls
                    .entry(u64_at(call, "index").unwrap_or(k as u64))
                    .or_default()
                    .add(
                        str_at(call, "id"),
                        str_at(function, "name"),
                        str_at(function, "arguments"),
                    );
            }
            if let Some(function) = present(delta, "function_call") {
                acc.function_call.get_or_insert_with(Default::default).add(
                    None,
                    str_at(function, "name"),
                    str_at(function, "arguments"),
                );
            }
            if let Some(reason) = str_at(choice, "finish_reason") {
                acc.finish_reason = Some(reason.to_owned());
            }
        }
    }

    pub(crate) fn finish(self) -> ParsedResponse {
        let mut out = ParsedResponse {
            response_id: self.id,
            response_model: self.model,
            usage: self.usage,
            error: self.error,
            error_message: self.error_message,
            complete: self.done,
            parse_error: self.notes.into_inner(),
            ..ParsedResponse::default()
        };
        for (_, choice) in self.choices {
            let mut parts = Vec::new();
            if !choice.reasoning.is_empty() {
                parts.push(Part::Reasoning {
                    content: choice.reasoning,
                });
            }
            for text in [choice.content, choice.refusal] {
                if !text.is_empty() {
                    parts.push(Part::Text { content: text });
                }
            }
            parts.extend(
                choice
                    .tool_calls
                    .into_values()
                    .map(ToolCallDeltas::into_part),
            );
            parts.extend(choice.function_call.map(ToolCallDeltas::into_part));
            out.finish_reasons.extend(choice.finish_reason.clone());
            out.output_messages.push(Message {
                role: choice.role.unwrap_or_else(|| "assistant".to_owned()),
                name: None,
                parts,
                finish_reason: choice.finish_reason,
            });
        }
        out
    }
}
