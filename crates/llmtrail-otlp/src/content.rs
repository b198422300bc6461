//! Prompts, outputs and tool text out of GenAI attributes and log bodies, in llmtrail's message
//! shape ([`Message`], [`Part`]).
//!
//! Three forms are read:
//! - the current attributes `gen_ai.input.messages`, `gen_ai.output.messages`,
//!   `gen_ai.system_instructions` and `gen_ai.tool.definitions`: JSON text (what SDKs send, as
//!   attributes cannot nest everywhere) or structured `AnyValue` arrays;
//! - the older indexed attributes `gen_ai.prompt.N.*` and `gen_ai.completion.N.*` (with
//!   `tool_calls.M.*` and `tool_call_id`), and `llm.request.functions.N.*` for tools;
//! - the bodies of the GenAI log events (`gen_ai.user.message`, `gen_ai.choice`, ...).
//!
//! Contract: content is never dropped for being in an unexpected shape. A message that does
//! not fit the strict model is converted part by part, and a part that does not fit becomes a
//! text part holding its JSON, so it is still stored and still scanned.

use std::collections::BTreeMap;

use llmtrail_core::{Message, Part, ToolDefinition};
use serde_json::{Map, Value};

use crate::model::Attributes;

/// Returns the JSON held by an attribute: a string holding JSON becomes that JSON, any other
/// string stays a string, other values are returned as they are (the gateway reads tool
/// arguments the same way).
#[must_use]
pub fn json_or_text(v: &Value) -> Value {
    match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

/// Reads a content attribute that is exactly in the conventions' shape (JSON text, or the
/// structured value), in one pass; `None` when it is not. What this returns holds everything
/// the attribute did.
#[must_use]
pub fn exact<T: serde::de::DeserializeOwned>(v: &Value) -> Option<T> {
    match v {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Array(_) => serde_json::from_value(v.clone()).ok(),
        _ => None,
    }
}

/// Reads a messages attribute (`gen_ai.input.messages`, `gen_ai.output.messages`).
#[must_use]
pub fn messages(v: &Value) -> Vec<Message> {
    if let Some(ms) = exact(v) {
        return ms;
    }
    match json_or_text(v) {
        Value::Array(items) => items.iter().map(message).collect(),
        Value::Object(o) => vec![message(&Value::Object(o))],
        Value::Null => Vec::new(),
        other => vec![Message::text("unknown", text_of(&other))],
    }
}

/// Reads a parts attribute (`gen_ai.system_instructions`); plain text is one text part.
#[must_use]
pub fn parts(v: &Value) -> Vec<Part> {
    match json_or_text(v) {
        Value::Array(items) => items.iter().map(part).collect(),
        Value::Null => Vec::new(),
        Value::String(s) => vec![Part::Text { content: s }],
        other => vec![part(&other)],
    }
}

/// Reads `gen_ai.tool.definitions`; definitions that do not fit are skipped (the raw span
/// keeps them).
#[must_use]
pub fn tool_definitions(v: &Value) -> Vec<ToolDefinition> {
    match json_or_text(v) {
        Value::Array(items) => items.iter().filter_map(tool_definition).collect(),
        _ => Vec::new(),
    }
}

fn tool_definition(v: &Value) -> Option<ToolDefinition> {
    if let Ok(d) = serde_json::from_value::<ToolDefinition>(v.clone()) {
        return Some(d);
    }
    // The OpenAI shape {"type": "function", "function": {"name", ...}} is common too.
    let f = v.get("function").unwrap_or(v);
    Some(ToolDefinition {
        tool_type: str_at(v, "type").unwrap_or("function").to_owned(),
        name: str_at(f, "name")?.to_owned(),
        description: str_at(f, "description").map(str::to_owned),
        parameters: f.get("parameters").map(json_or_text),
    })
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Text of a value: strings as they are, anything else as JSON.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One message, strictly if it fits, else part by part.
fn message(v: &Value) -> Message {
    if let Ok(m) = serde_json::from_value::<Message>(v.clone()) {
        return m;
    }
    let role = str_at(v, "role").unwrap_or("unknown").to_owned();
    let mut parts: Vec<Part> = match v.get("parts") {
        Some(Value::Array(ps)) => ps.iter().map(part).collect(),
        _ => Vec::new(),
    };
    match v.get("content") {
        None | Some(Value::Null) => {}
        Some(c) => parts.extend(content_parts(c)),
    }
    if parts.is_empty() && v.get("parts").is_none() {
        parts.push(Part::Text {
            content: v.to_string(),
        });
    }
    Message {
        role,
        name: str_at(v, "name").map(str::to_owned),
        parts,
        finish_reason: str_at(v, "finish_reason").map(str::to_owned),
    }
}

/// One part, strictly if it fits, else as text.
fn part(v: &Value) -> Part {
    if let Ok(p) = serde_json::from_value::<Part>(v.clone()) {
        return p;
    }
    match (
        str_at(v, "type"),
        v.get("content").or_else(|| v.get("text")),
    ) {
        (Some("text" | "reasoning") | None, Some(Value::String(s))) => {
            Part::Text { content: s.clone() }
        }
        _ => Part::Text {
            content: text_of(v),
        },
    }
}

/// Content as instrumentations write it: a string, or a list of provider content blocks
/// (`{"type": "text", "text": ...}`, images, ...).
fn content_parts(c: &Value) -> Vec<Part> {
    match c {
        Value::String(s) => {
            let blocks = s
                .trim_start()
                .starts_with('[')
                .then(|| serde_json::from_str::<Vec<Value>>(s).ok())
                .flatten()
                .filter(|b| !b.is_empty() && b.iter().all(|x| x.get("type").is_some()));
            match blocks {
                Some(blocks) => blocks.iter().map(part).collect(),
                None => vec![Part::Text { content: s.clone() }],
            }
        }
        Value::Array(blocks) => blocks.iter().map(part).collect(),
        other => vec![Part::Text {
            content: text_of(other),
        }],
    }
}

/// Fields of one indexed message (`gen_ai.prompt.3.role` gives index 3, field `role`).
#[derive(Default)]
struct Indexed<'a> {
    fields: BTreeMap<&'a str, &'a Value>,
    tool_calls: BTreeMap<usize, BTreeMap<&'a str, &'a Value>>,
}

/// Reads the indexed form under `prefix` (`gen_ai.prompt` or `gen_ai.completion`), in index
/// order.
#[must_use]
pub fn indexed_messages(attrs: &Attributes, prefix: &str) -> Vec<Message> {
    let mut by_index: BTreeMap<usize, Indexed<'_>> = BTreeMap::new();
    for (key, value) in attrs {
        let Some(rest) = key.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let Some((index, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(index) = index.parse::<usize>() else {
            continue;
        };
        let entry = by_index.entry(index).or_default();
        if let Some(call) = field
            .strip_prefix("tool_calls.")
            .and_then(|c| c.split_once('.'))
            .and_then(|(n, f)| Some((n.parse::<usize>().ok()?, f)))
        {
            entry
                .tool_calls
                .entry(call.0)
                .or_default()
                .insert(call.1, value);
        } else if let Some(f) = field.strip_prefix("function_call.") {
            // The pre-tools OpenAI form: one call, no id.
            entry
                .tool_calls
                .entry(usize::MAX)
                .or_default()
                .insert(f, value);
        } else {
            entry.fields.insert(field, value);
        }
    }
    by_index.into_values().map(indexed_message).collect()
}

fn indexed_message(m: Indexed<'_>) -> Message {
    let role = m
        .fields
        .get("role")
        .and_then(|v| v.as_str())
        .unwrap_or("unknown")
        .to_owned();
    let mut parts = Vec::new();
    let tool_call_id = m.fields.get("tool_call_id").and_then(|v| v.as_str());
    match (m.fields.get("content"), tool_call_id) {
        (Some(c), Some(id)) => parts.push(Part::ToolCallResponse {
            id: Some(id.to_owned()),
            response: json_or_text(c),
        }),
        (Some(Value::String(s)), None) if s.is_empty() => {}
        (Some(c), None) => parts.extend(content_parts(c)),
        (None, _) => {}
    }
    for call in m.tool_calls.into_values() {
        parts.push(Part::ToolCall {
            id: call.get("id").and_then(|v| v.as_str()).map(str::to_owned),
            name: call
                .get("name")
                .and_then(|v| v.as_str())
                .unwrap_or("unknown")
                .to_owned(),
            arguments: call.get("arguments").map(|a| json_or_text(a)),
        });
    }
    Message {
        role,
        name: None,
        parts,
        finish_reason: m
            .fields
            .get("finish_reason")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }
}

/// Reads `llm.request.functions.N.{name,description,parameters}` (OpenLLMetry's tool list).
#[must_use]
pub fn indexed_functions(attrs: &Attributes) -> Vec<ToolDefinition> {
    let mut by_index: BTreeMap<usize, Map<String, Value>> = BTreeMap::new();
    for (key, value) in attrs {
        let Some((index, field)) = key
            .strip_prefix("llm.request.functions.")
            .and_then(|r| r.split_once('.'))
        else {
            continue;
        };
        if let Ok(index) = index.parse::<usize>() {
            by_index
                .entry(index)
                .or_default()
                .insert(field.to_owned(), value.clone());
        }
    }
    by_index
        .into_values()
        .filter_map(|f| {
            Some(ToolDefinition {
                tool_type: "function".into(),
                name: f.get("name")?.as_str()?.to_owned(),
                description: f
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                parameters: f.get("parameters").map(json_or_text),
            })
        })
        .collect()
}

/// Role of a GenAI log event by its name (`gen_ai.user.message` → `user`), for the input
/// message events.
#[must_use]
pub fn event_role(event_name: &str) -> Option<&'static str> {
    match event_name {
        "gen_ai.system.message" => Some("system"),
        "gen_ai.user.message" => Some("user"),
        "gen_ai.assistant.message" => Some("assistant"),
        "gen_ai.tool.message" => Some("tool"),
        _ => None,
    }
}

/// The message an input-message log event carries. Bodies look like
/// `{"content": ..., "role": ..., "tool_calls": [{"id", "type", "function": {"name",
/// "arguments"}}], "id": <tool call id>}`; any of it may be absent (content capture off).
#[must_use]
pub fn event_message(default_role: &str, body: Option<&Value>) -> Message {
    let body = body.cloned().unwrap_or(Value::Null);
    let role = str_at(&body, "role").unwrap_or(default_role).to_owned();
    let mut parts = Vec::new();
    match (&body, body.get("content")) {
        (Value::String(s), _) => parts.push(Part::Text { content: s.clone() }),
        (_, Some(c)) if !c.is_null() => {
            if role == "tool" {
                parts.push(Part::ToolCallResponse {
                    id: str_at(&body, "id").map(str::to_owned),
                    response: json_or_text(c),
                });
            } else {
                parts.extend(content_parts(c));
            }
        }
        _ => {}
    }
    if let Some(Value::Array(calls)) = body.get("tool_calls") {
        for call in calls {
            let f = call.get("function").unwrap_or(call);
            parts.push(Part::ToolCall {
                id: str_at(call, "id").map(str::to_owned),
                name: str_at(f, "name").unwrap_or("unknown").to_owned(),
                arguments: f.get("arguments").map(json_or_text),
            });
        }
    }
    Message {
        role,
        name: None,
        parts,
        finish_reason: None,
    }
}

/// The output message of a `gen_ai.choice` event and its index. The body is
/// `{"index", "finish_reason", "message": {"role", "content", "tool_calls"}}`; some
/// instrumentations put `content` and `tool_calls` at the top level instead.
#[must_use]
pub fn choice_message(body: Option<&Value>) -> (u64, Message) {
    let index = body
        .and_then(|b| b.get("index"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let inner = body.and_then(|b| b.get("message")).or(body);
    let mut m = event_message("assistant", inner);
    m.finish_reason = body
        .and_then(|b| str_at(b, "finish_reason"))
        .map(str::to_owned);
    (index, m)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn current_messages_parse_from_json_text() {
        let v = json!(
            r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]},
            {"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}}],
             "finish_reason":"tool_call"}]"#
        );
        let ms = messages(&v);
        assert_eq!(ms[0], Message::text("user", "hi"));
        assert_eq!(
            ms[1].parts[0],
            Part::ToolCall {
                id: Some("c1".into()),
                name: "f".into(),
                arguments: Some(json!({"a": 1}))
            }
        );
        assert_eq!(ms[1].finish_reason.as_deref(), Some("tool_call"));
    }

    #[test]
    fn odd_parts_are_kept_as_text() {
        let v = json!([{"role": "user", "parts": [
            {"type": "text", "content": "a", "extra": 1},
            {"type": "hologram", "data": "zz"}
        ]}]);
        let ms = messages(&v);
        assert_eq!(
            ms[0].parts[0],
            Part::Text {
                content: "a".into()
            }
        );
        assert_eq!(
            ms[0].parts[1],
            Part::Text {
                content: r#"{"data":"zz","type":"hologram"}"#.into()
            }
        );
        assert_eq!(
            messages(&json!("just text")),
            vec![Message::text("unknown", "just text")]
        );
    }

    #[test]
    fn system_instructions_take_parts_or_text() {
        assert_eq!(
            parts(&json!(r#"[{"type":"text","content":"be brief"}]"#)),
            vec![Part::Text {
                content: "be brief".into()
            }]
        );
        assert_eq!(
            parts(&json!("be brief")),
            vec![Part::Text {
                content: "be brief".into()
            }]
        );
    }

    #[test]
    fn indexed_prompts_with_tool_calls_and_results() {
        let attrs: Attributes = serde_json::from_value(json!({
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "weather?",
            "gen_ai.prompt.2.role": "assistant",
            "gen_ai.prompt.2.tool_calls.0.id": "c1",
            "gen_ai.prompt.2.tool_calls.0.name": "get_weather",
            "gen_ai.prompt.2.tool_calls.0.arguments": "{\"city\":\"Oslo\"}",
            "gen_ai.prompt.3.role": "tool",
            "gen_ai.prompt.3.tool_call_id": "c1",
            "gen_ai.prompt.3.content": "{\"temp\":3}",
            "gen_ai.prompt.10.role": "user",
            "gen_ai.prompt.10.content": "[{\"type\":\"text\",\"text\":\"tenth\"}]",
            "gen_ai.completion.0.role": "assistant",
        }))
        .unwrap();
        let ms = indexed_messages(&attrs, "gen_ai.prompt");
        assert_eq!(ms.len(), 5);
        assert_eq!(ms[0], Message::text("system", "be brief"));
        assert_eq!(
            ms[2].parts,
            vec![Part::ToolCall {
                id: Some("c1".into()),
                name: "get_weather".into(),
                arguments: Some(json!({"city": "Oslo"}))
            }]
        );
        assert_eq!(
            ms[3].parts,
            vec![Part::ToolCallResponse {
                id: Some("c1".into()),
                response: json!({"temp": 3})
            }]
        );
        assert_eq!(
            ms[4],
            Message::text("user", "tenth"),
            "index 10 sorts after 3"
        );
    }

    #[test]
    fn indexed_completions_keep_finish_reason() {
        let attrs: Attributes = serde_json::from_value(json!({
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "sunny",
            "gen_ai.completion.0.finish_reason": "stop",
        }))
        .unwrap();
        let ms = indexed_messages(&attrs, "gen_ai.completion");
        assert_eq!(
            ms[0].parts,
            vec![Part::Text {
                content: "sunny".into()
            }]
        );
        assert_eq!(ms[0].finish_reason.as_deref(), Some("stop"));
    }

    #[test]
    fn indexed_functions_become_definitions() {
        let attrs: Attributes = serde_json::from_value(json!({
            "llm.request.functions.0.name": "get_weather",
            "llm.request.functions.0.description": "Weather",
            "llm.request.functions.0.parameters": "{\"type\":\"object\"}",
        }))
        .unwrap();
        let d = indexed_functions(&attrs);
        assert_eq!(d[0].name, "get_weather");
        assert_eq!(d[0].parameters, Some(json!({"type": "object"})));
    }

    #[test]
    fn log_event_bodies() {
        let m = event_message("user", Some(&json!({"content": "hi"})));
        assert_eq!(m, Message::text("user", "hi"));
        let m = event_message("tool", Some(&json!({"content": "42", "id": "c9"})));
        assert_eq!(
            m.parts,
            vec![Part::ToolCallResponse {
                id: Some("c9".into()),
                response: json!(42)
            }]
        );
        let m = event_message(
            "assistant",
            Some(&json!({"tool_calls": [{"id": "c9", "type": "function",
                "function": {"name": "calc", "arguments": "{\"x\":1}"}}]})),
        );
        assert_eq!(
            m.parts,
            vec![Part::ToolCall {
                id: Some("c9".into()),
                name: "calc".into(),
                arguments: Some(json!({"x": 1}))
            }]
        );
        let (i, m) = choice_message(Some(&json!({"index": 1, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "done"}})));
        assert_eq!(i, 1);
        assert_eq!(
            m.parts,
            vec![Part::Text {
                content: "done".into()
            }]
        );
        assert_eq!(m.finish_reason.as_deref(), Some("stop"));
        // Content capture off: the event is there, the text is not.
        assert!(event_message("user", None).parts.is_empty());
    }

    #[test]
    fn json_or_text_parses_strings_that_hold_json() {
        assert_eq!(json_or_text(&json!("{\"a\":1}")), json!({"a": 1}));
        assert_eq!(json_or_text(&json!("12")), json!(12));
        assert_eq!(json_or_text(&json!("{broken")), json!("{broken"));
        assert_eq!(json_or_text(&json!({"a": 1})), json!({"a": 1}));
    }
}
