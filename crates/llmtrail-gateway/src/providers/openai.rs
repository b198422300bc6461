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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::{CHAT_TEXT_STREAM, CHAT_TOOL_STREAM, cut_before};
    use super::super::{
        Api, RequestError, StreamParser, parse_request, parse_response, parse_stream,
    };
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

    fn call(id: &str, name: &str, arguments: Value) -> Part {
        Part::ToolCall {
            id: Some(id.to_owned()),
            name: name.to_owned(),
            arguments: Some(arguments),
        }
    }

    fn chat_request_fixture() -> Value {
        json!({
            "model": "gpt-4o-2024-08-06",
            "messages": [
                {"role": "system", "content": "You are a travel agent."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "name": "alice", "content": [
                    {"type": "text", "text": "What is in these pictures?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/eiffel.jpg"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
                    {"type": "file", "file": {"file_id": "file-abc123"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "trip.pdf"}}
                ]},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "book", "arguments": "{not json"}}
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18°C, sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "booked"}]},
                {"role": "tool", "tool_call_id": "call_9", "content": "orphan"},
                {"role": "assistant", "content": "Done.", "refusal": null}
            ],
            "tools": [
                {"type": "function", "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
                }},
                {"type": "custom", "custom": {"name": "sql", "description": "Run SQL"}},
                {"type": "web_search"}
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": true,
            "response_format": {"type": "json_object"},
            "stream_options": {"include_usage": true},
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 42,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "n": 2,
            "max_completion_tokens": 512,
            "max_tokens": 256,
            "stop": "\n\n",
            "stream": true,
            "user": "user-1234",
            "prediction": {"type": "content", "content": "predicted text"},
            "metadata": {"team": "travel"},
            "reasoning_effort": "low",
            "logprobs": null
        })
    }

    #[test]
    fn chat_request_keeps_every_message_part_and_parameter() {
        let parsed = parse_request(Api::OpenAiChat, &chat_request_fixture()).unwrap();
        let body = &parsed.body;
        assert_eq!(body.provider, "");
        assert_eq!(body.model, "gpt-4o-2024-08-06");
        assert_eq!(body.operation.as_deref(), Some("chat"));
        assert_eq!(body.raw, None);
        assert!(body.system_instructions.is_empty());
        assert!(parsed.stream);
        assert_eq!(parsed.user.as_deref(), Some("user-1234"));

        let mut user = message(
            "user",
            vec![
                text("What is in these pictures?"),
                Part::Blob {
                    mime_type: Some("image/png".into()),
                    modality: Some("image".into()),
                    content: "iVBORw0KGgo=".into(),
                },
                Part::Uri {
                    mime_type: None,
                    modality: Some("image".into()),
                    uri: "https://example.com/eiffel.jpg".into(),
                },
                Part::Blob {
                    mime_type: Some("audio/mpeg".into()),
                    modality: Some("audio".into()),
                    content: "UklGRg==".into(),
                },
                Part::File {
                    mime_type: None,
                    modality: Some("document".into()),
                    file_id: "file-abc123".into(),
                },
                Part::Blob {
                    mime_type: Some("application/pdf".into()),
                    modality: Some("document".into()),
                    content: "JVBERi0=".into(),
                },
            ],
        );
        user.name = Some("alice".into());
        let tool = |id: &str, response: Value| {
            message(
                "tool",
                vec![Part::ToolCallResponse {
                    id: Some(id.into()),
                    response,
                }],
            )
        };
        let booked = json!([{"type": "text", "text": "booked"}]);
        assert_eq!(
            body.messages,
            vec![
                message("system", vec![text("You are a travel agent.")]),
                message("developer", vec![text("Answer in French.")]),
                user,
                message(
                    "assistant",
                    vec![
                        call("call_1", "get_weather", json!({"city": "Paris"})),
                        call("call_2", "book", json!("{not json")),
                    ]
                ),
                tool("call_1", json!("18°C, sunny")),
                tool("call_2", booked.clone()),
                tool("call_9", json!("orphan")),
                message("assistant", vec![text("Done.")]),
            ]
        );
        assert_eq!(
            parsed.tool_results,
            vec![
                ToolResult {
                    call_id: Some("call_1".into()),
                    name: Some("get_weather".into()),
                    arguments: Some(json!({"city": "Paris"})),
                    result: json!("18°C, sunny"),
                    is_error: false,
                },
                ToolResult {
                    call_id: Some("call_2".into()),
                    name: Some("book".into()),
                    arguments: Some(json!("{not json")),
                    result: booked,
                    is_error: false,
                },
                ToolResult {
                    call_id: Some("call_9".into()),
                    name: None,
                    arguments: None,
                    result: json!("orphan"),
                    is_error: false,
                },
            ]
        );
        assert_eq!(
            body.tool_definitions,
            vec![
                ToolDefinition {
                    tool_type: "function".into(),
                    name: "get_weather".into(),
                    description: Some("Current weather".into()),
                    parameters: Some(json!({
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"]
                    })),
                },
                ToolDefinition {
                    tool_type: "custom".into(),
                    name: "sql".into(),
                    description: Some("Run SQL".into()),
                    parameters: None,
                },
                ToolDefinition {
                    tool_type: "web_search".into(),
                    name: "web_search".into(),
                    description: None,
                    parameters: None,
                },
            ]
        );

        let p = &body.parameters;
        assert_eq!(p.temperature, Some(0.2));
        assert_eq!(p.top_p, Some(0.9));
        assert_eq!(p.top_k, None);
        assert_eq!(p.seed, Some(42));
        assert_eq!(p.frequency_penalty, Some(0.5));
        assert_eq!(p.presence_penalty, Some(-0.5));
        assert_eq!(p.choice_count, Some(2));
        assert_eq!(p.max_tokens, Some(512));
        assert_eq!(p.stop_sequences, vec!["\n\n".to_owned()]);
        assert!(p.stream);
        // Content (prediction, user, messages, tools) never lands in extra; the older
        // `max_tokens` stays there because `max_completion_tokens` won.
        assert_eq!(
            Value::Object(p.extra.clone()),
            json!({
                "tool_choice": "auto",
                "parallel_tool_calls": true,
                "response_format": {"type": "json_object"},
                "stream_options": {"include_usage": true},
                "max_tokens": 256,
                "metadata": {"team": "travel"},
                "reasoning_effort": "low",
                "logprobs": null
            })
        );
        assert_eq!(
            Value::Object(body.attributes.clone()),
            json!({"llmtrail.api": "openai.chat_completions"})
        );
    }

    #[test]
    fn chat_request_problems_are_noted_by_field_name_and_values_kept_out_of_content() {
        let parsed = parse_request(
            Api::OpenAiChat,
            &json!({
                "model": "gpt-4o",
                "temperature": "hot",
                "stop": ["a", "b"],
                "messages": [
                    "just a string",
                    {"content": "no role"},
                    {"role": "user", "content": [{"type": "video", "video": "x"}, {"type": "text", "text": "kept"}]}
                ]
            }),
        )
        .unwrap();
        let body = parsed.body;
        assert_eq!(
            body.attributes["llmtrail.parse_error"],
            "`temperature` is not a number"
        );
        assert_eq!(body.parameters.temperature, None);
        assert_eq!(body.parameters.extra["temperature"], "hot");
        assert_eq!(
            body.parameters.stop_sequences,
            vec!["a".to_owned(), "b".to_owned()]
        );
        assert_eq!(
            body.messages,
            vec![
                message("unknown", vec![text("no role")]),
                message("user", vec![text("kept")]),
            ]
        );

        let parsed = parse_request(
            Api::OpenAiChat,
            &json!({"model": "m", "messages": {"role": "user"}, "tools": "x"}),
        )
        .unwrap();
        assert_eq!(
            parsed.body.attributes["llmtrail.parse_error"],
            "`messages` is not an array"
        );
        assert!(parsed.body.parameters.extra.is_empty());
    }

    #[test]
    fn legacy_functions_become_tools_and_function_messages_results() {
        let parsed = parse_request(
            Api::OpenAiChat,
            &json!({
                "model": "gpt-3.5-turbo",
                "functions": [{"name": "lookup", "parameters": {"type": "object"}}],
                "function_call": {"name": "lookup"},
                "messages": [
                    {"role": "user", "content": "find rust"},
                    {"role": "assistant", "content": null, "function_call": {"name": "lookup", "arguments": "{\"q\":\"rust\"}"}},
                    {"role": "function", "name": "lookup", "content": "found"}
                ]
            }),
        )
        .unwrap();
        assert_eq!(
            parsed.body.tool_definitions,
            vec![ToolDefinition {
                tool_type: "function".into(),
                name: "lookup".into(),
                description: None,
                parameters: Some(json!({"type": "object"})),
            }]
        );
        assert_eq!(
            parsed.body.parameters.extra["function_call"],
            json!({"name": "lookup"})
        );
        assert_eq!(
            parsed.body.messages[1].parts,
            vec![Part::ToolCall {
                id: None,
                name: "lookup".into(),
                arguments: Some(json!({"q": "rust"})),
            }]
        );
        assert_eq!(parsed.body.messages[2].name.as_deref(), Some("lookup"));
        assert_eq!(
            parsed.tool_results,
            vec![ToolResult {
                call_id: None,
                name: Some("lookup".into()),
                arguments: Some(json!({"q": "rust"})),
                result: json!("found"),
                is_error: false,
            }]
        );
    }

    #[test]
    fn requests_without_a_usable_model_are_refused() {
        assert_eq!(
            parse_request(Api::OpenAiChat, &json!([1, 2])),
            Err(RequestError::NotAnObject)
        );
        assert_eq!(
            parse_request(Api::OpenAiChat, &json!({"messages": []})),
            Err(RequestError::MissingModel)
        );
        assert_eq!(
            parse_request(Api::OpenAiChat, &json!({"model": null})),
            Err(RequestError::MissingModel)
        );
        let invalid = RequestError::InvalidField {
            field: "model",
            expected: "a non-empty string",
        };
        assert_eq!(
            parse_request(Api::OpenAiEmbeddings, &json!({"model": 4})),
            Err(invalid.clone())
        );
        assert_eq!(
            parse_request(Api::OpenAiChat, &json!({"model": ""})),
            Err(invalid.clone())
        );
        assert_eq!(invalid.to_string(), "`model` is not a non-empty string");
        assert_eq!(
            RequestError::NotAnObject.to_string(),
            "request body is not a JSON object"
        );
    }

    #[test]
    fn embeddings_requests_hold_one_message_per_text_input() {
        let parsed = parse_request(
            Api::OpenAiEmbeddings,
            &json!({
                "model": "text-embedding-3-small",
                "input": ["first text", [1, 2, 3], "second text", [4]],
                "dimensions": 256,
                "encoding_format": "base64",
                "user": "u-9"
            }),
        )
        .unwrap();
        let body = &parsed.body;
        assert_eq!(body.operation.as_deref(), Some("embeddings"));
        assert_eq!(
            body.messages,
            vec![
                Message::text("user", "first text"),
                Message::text("user", "second text")
            ]
        );
        assert_eq!(
            Value::Object(body.attributes.clone()),
            json!({"llmtrail.api": "openai.embeddings", "llmtrail.token_inputs": 2})
        );
        assert_eq!(
            Value::Object(body.parameters.extra.clone()),
            json!({"dimensions": 256, "encoding_format": "base64"})
        );
        assert_eq!(parsed.user.as_deref(), Some("u-9"));
        assert!(!parsed.stream);

        let one =
            parse_request(Api::OpenAiEmbeddings, &json!({"model": "m", "input": "hi"})).unwrap();
        assert_eq!(one.body.messages, vec![Message::text("user", "hi")]);
        let tokens = parse_request(
            Api::OpenAiEmbeddings,
            &json!({"model": "m", "input": [5, 6, 7]}),
        )
        .unwrap();
        assert!(tokens.body.messages.is_empty());
        assert_eq!(tokens.body.attributes["llmtrail.token_inputs"], 1);
    }

    #[test]
    fn models_requests_have_no_body() {
        let parsed = parse_request(Api::OpenAiModels, &Value::Null).unwrap();
        assert_eq!(parsed.body.model, "*");
        assert_eq!(parsed.body.operation.as_deref(), Some("models.list"));
        assert_eq!(parsed.body.attributes["llmtrail.api"], "openai.models");
        assert!(parsed.body.messages.is_empty());
        assert!(parsed.body.parameters.is_empty());

        let listed = parse_response(
            Api::OpenAiModels,
            br#"{"object":"list","data":[{"id":"gpt-4o","object":"model"}]}"#,
        );
        assert_eq!(
            listed,
            ParsedResponse {
                complete: true,
                ..ParsedResponse::default()
            }
        );
    }

    #[test]
    fn chat_responses_give_one_message_per_choice_in_index_order() {
        let body = br#"{
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-2024-08-06",
            "choices": [
                {"index": 1, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}, "finish_reason": "stop"},
                {"index": 0, "message": {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}
                ]}, "finish_reason": "tool_calls", "logprobs": null}
            ],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
                      "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": 10}},
            "system_fingerprint": "fp_1"
        }"#;
        let mut first = message(
            "assistant",
            vec![
                text("Let me check."),
                call("call_1", "get_weather", json!({"city": "Paris"})),
            ],
        );
        first.finish_reason = Some("tool_calls".into());
        let mut second = message("assistant", vec![text("I can't help with that.")]);
        second.finish_reason = Some("stop".into());
        assert_eq!(
            parse_response(Api::OpenAiChat, body),
            ParsedResponse {
                response_id: Some("chatcmpl-1".into()),
                response_model: Some("gpt-4o-2024-08-06".into()),
                finish_reasons: vec!["tool_calls".into(), "stop".into()],
                usage: Some(Usage {
                    input_tokens: 120,
                    output_tokens: 30,
                    total_tokens: Some(150),
                    cache_read_input_tokens: Some(64),
                    cache_creation_input_tokens: None,
                    reasoning_output_tokens: Some(10),
                }),
                output_messages: vec![first, second],
                error: None,
                error_message: None,
                complete: true,
                parse_error: None,
            }
        );
    }

    #[test]
    fn error_bodies_and_non_json_bodies() {
        let parsed = parse_response(
            Api::OpenAiChat,
            br#"{"error": {"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}"#,
        );
        assert_eq!(
            parsed.error,
            Some(ResponseError {
                error_type: "invalid_request_error".into(),
                code: Some("context_length_exceeded".into()),
            })
        );
        assert_eq!(
            parsed.error_message.as_deref(),
            Some("This model's maximum context length is 8192 tokens.")
        );
        assert_eq!(
            parsed.parse_error, None,
            "no choices is expected in an error"
        );
        assert!(parsed.complete);
        assert!(parsed.output_messages.is_empty());

        let html = parse_response(Api::OpenAiChat, b"<html>502 Bad Gateway</html>");
        assert_eq!(
            html,
            ParsedResponse {
                complete: true,
                parse_error: Some("body is not JSON".into()),
                ..ParsedResponse::default()
            }
        );
        let array = parse_response(Api::OpenAiEmbeddings, b"[1]");
        assert_eq!(
            array.parse_error.as_deref(),
            Some("body is not a JSON object")
        );
        let odd = parse_response(Api::OpenAiChat, br#"{"id": "x"}"#);
        assert_eq!(
            odd.parse_error.as_deref(),
            Some("response has no `choices` array")
        );
        assert_eq!(odd.response_id.as_deref(), Some("x"));
    }

    #[test]
    fn embeddings_responses_give_usage_only() {
        let parsed = parse_response(
            Api::OpenAiEmbeddings,
            br#"{"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, -0.2]}],
                "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}}"#,
        );
        assert_eq!(
            parsed.response_model.as_deref(),
            Some("text-embedding-3-small")
        );
        assert_eq!(
            parsed.usage,
            Some(Usage {
                input_tokens: 8,
                output_tokens: 0,
                total_tokens: Some(8),
                cache_read_input_tokens: None,
                cache_creation_input_tokens: None,
                reasoning_output_tokens: None,
            })
        );
        assert!(parsed.output_messages.is_empty());
        assert_eq!(parsed.parse_error, None);
    }

    fn tool_stream_expected() -> ParsedResponse {
        let mut reply = message(
            "assistant",
            vec![
                call("call_a", "get_weather", json!({"city": "Paris"})),
                call("call_b", "get_time", json!({"tz": "CET"})),
            ],
        );
        reply.finish_reason = Some("tool_calls".into());
        ParsedResponse {
            response_id: Some("chatcmpl-2".into()),
            response_model: Some("gpt-4o-mini".into()),
            finish_reasons: vec!["tool_calls".into()],
            usage: Some(Usage {
                input_tokens: 50,
                output_tokens: 20,
                total_tokens: Some(70),
                cache_read_input_tokens: Some(0),
                cache_creation_input_tokens: None,
                reasoning_output_tokens: Some(0),
            }),
            output_messages: vec![reply],
            error: None,
            error_message: None,
            complete: true,
            parse_error: None,
        }
    }

    #[test]
    fn chat_streams_reassemble_interleaved_tool_call_arguments() {
        assert_eq!(
            parse_stream(Api::OpenAiChat, CHAT_TOOL_STREAM.as_bytes()),
            tool_stream_expected()
        );
    }

    #[test]
    fn chat_streams_with_crlf_line_endings_read_the_same() {
        let crlf = CHAT_TOOL_STREAM.replace('\n', "\r\n");
        assert_eq!(
            parse_stream(Api::OpenAiChat, crlf.as_bytes()),
            tool_stream_expected()
        );
        let cr = CHAT_TOOL_STREAM.replace('\n', "\r");
        assert_eq!(
            parse_stream(Api::OpenAiChat, cr.as_bytes()),
            tool_stream_expected()
        );
    }

    #[test]
    fn chat_streams_fed_in_two_chunks_at_every_point_read_the_same() {
        let body = CHAT_TEXT_STREAM.as_bytes();
        let whole = parse_stream(Api::OpenAiChat, body);
        assert_eq!(whole.output_messages[0].parts, vec![text("Bonjour à tous")]);
        for split in 0..=body.len() {
            let mut parser = StreamParser::new(Api::OpenAiChat);
            parser.push(&body[..split]);
            parser.push(&body[split..]);
            assert_eq!(parser.finish(), whole, "split at {split}");
        }
    }

    #[test]
    fn a_chat_stream_cut_mid_event_keeps_the_text_so_far() {
        let cut = cut_before(CHAT_TEXT_STREAM, " tous");
        let parsed = parse_stream(Api::OpenAiChat, cut.as_bytes());
        let mut reply = message("assistant", vec![text("Bonjour à")]);
        reply.finish_reason = None;
        assert_eq!(
            parsed,
            ParsedResponse {
                response_id: Some("chatcmpl-3".into()),
                response_model: Some("gpt-4o".into()),
                output_messages: vec![reply],
                complete: false,
                ..ParsedResponse::default()
            }
        );
        // Cut inside a multi-byte character of the last complete event's line.
        let at = CHAT_TEXT_STREAM.find('à').unwrap() + 1;
        let parsed = parse_stream(Api::OpenAiChat, &CHAT_TEXT_STREAM.as_bytes()[..at]);
        assert_eq!(parsed.output_messages[0].parts, vec![text("Bon")]);
        assert!(!parsed.complete);
        assert_eq!(parsed.parse_error, None);
    }

    #[test]
    fn chat_stream_garbage_is_noted_and_the_rest_kept() {
        let body = "data: not json at all\n\n\
                    data: [1, 2]\n\n\
                    data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\n\
                    data: {\"something\": \"else\"}\n\n\
                    data: [DONE]\n\n";
        let parsed = parse_stream(Api::OpenAiChat, body.as_bytes());
        assert_eq!(
            parsed.parse_error.as_deref(),
            Some("event data is not JSON")
        );
        assert_eq!(parsed.output_messages[0].parts, vec![text("ok")]);
        assert_eq!(parsed.finish_reasons, vec!["stop".to_owned()]);
        assert!(parsed.complete);
        assert!(!parsed.parse_error.unwrap().contains("not json at all"));
    }

    #[test]
    fn chat_stream_errors_are_read() {
        let body = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n\
                    data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"code\":null}}\n\n";
        let parsed = parse_stream(Api::OpenAiChat, body.as_bytes());
        assert_eq!(
            parsed.error,
            Some(ResponseError {
                error_type: "server_error".into(),
                code: None
            })
        );
        assert_eq!(
            parsed.error_message.as_deref(),
            Some("The server had an error")
        );
        assert_eq!(parsed.output_messages[0].parts, vec![text("par")]);
        assert!(!parsed.complete);
    }

    #[test]
    fn chat_streams_with_several_choices_and_refusals() {
        let body = "data: {\"choices\":[{\"index\":1,\"delta\":{\"role\":\"assistant\",\"refusal\":\"No\"}},{\"index\":0,\"delta\":{\"role\":\"assistant\",\"reasoning_content\":\"hmm\",\"content\":\"Yes\"}}]}\n\n\
                    data: {\"choices\":[{\"index\":1,\"delta\":{\"refusal\":\".\"},\"finish_reason\":\"stop\"},{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n\
                    data: [DONE]\n\n";
        let parsed = parse_stream(Api::OpenAiChat, body.as_bytes());
        assert_eq!(
            parsed.finish_reasons,
            vec!["length".to_owned(), "stop".to_owned()]
        );
        assert_eq!(
            parsed.output_messages[0].parts,
            vec![
                Part::Reasoning {
                    content: "hmm".into()
                },
                text("Yes")
            ]
        );
        assert_eq!(parsed.output_messages[1].parts, vec![text("No.")]);
        assert_eq!(parsed.response_id, None);
    }
}
