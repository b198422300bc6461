//! Helpers shared by the provider parsers: reading loosely typed JSON, collecting the first
//! problem met, turning media URLs and argument strings into parts, and building a
//! [`ParsedRequest`] whose `parameters.extra` never holds content.
//!
//! Contract: nothing here panics or fails on any JSON value; problems are recorded in a
//! [`Notes`] as short messages that name fields and positions, never the values in them
//! (values may be prompts or secrets).

use std::collections::HashMap;

use llmtrail_core::{LlmRequest, Message, Part, ResponseError, ToolDefinition};
use serde_json::{Map, Value};

use super::{Api, ParsedRequest, ToolResult};

/// Attribute naming the provider API of an exchange, e.g. `openai.chat_completions`.
pub(crate) const API_ATTRIBUTE: &str = "llmtrail.api";

/// Attribute holding the first problem met while reading a request body (field names only).
pub(crate) const PARSE_ERROR_ATTRIBUTE: &str = "llmtrail.parse_error";

/// Top-level request keys that can carry content (prompts, instructions, tool text, end-user
/// identifiers, credentials of remote tool servers): never copied to `parameters.extra`, even
/// when they cannot be understood.
const CONTENT_KEYS: &[&str] = &[
    "functions",
    "input",
    "instructions",
    "mcp_servers",
    "messages",
    "prediction",
    "prompt",
    "system",
    "tools",
    "user",
];

/// The UTF-8 byte order mark, which some servers put before a JSON or event-stream body.
pub(crate) const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// The first problem met while reading a body; later ones are dropped because the first is
/// usually the cause of the rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notes {
    first: Option<String>,
}

impl Notes {
    /// Records `problem` unless a problem was already recorded.
    pub(crate) fn note(&mut self, problem: impl Into<String>) {
        if self.first.is_none() {
            self.first = Some(problem.into());
        }
    }

    /// The first problem recorded, if any.
    pub(crate) fn into_inner(self) -> Option<String> {
        self.first
    }
}

/// `value[key]` as a string slice.
pub(crate) fn str_at<'v>(value: &'v Value, key: &str) -> Option<&'v str> {
    value.get(key).and_then(Value::as_str)
}

/// `value[key]` as an owned string.
pub(crate) fn string_at(value: &Value, key: &str) -> Option<String> {
    str_at(value, key).map(str::to_owned)
}

/// `value[key]` as an unsigned integer.
pub(crate) fn u64_at(value: &Value, key: &str) -> Option<u64> {
    value.get(key).and_then(Value::as_u64)
}

/// `value[key]` as an array (absent, `null` and other types give an empty slice).
pub(crate) fn array_at<'v>(value: &'v Value, key: &str) -> &'v [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// `value[key]` unless it is absent or `null`.
pub(crate) fn present<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    value.get(key).filter(|v| !v.is_null())
}

/// Parses a JSON body, tolerating a leading byte order mark.
pub(crate) fn parse_json_body(body: &[u8]) -> Result<Value, &'static str> {
    let body = body.strip_prefix(BOM.as_slice()).unwrap_or(body);
    serde_json::from_slice(body).map_err(|_| "body is not JSON")
}

/// Tool-call arguments as given: a string that holds JSON becomes that JSON, any other string
/// stays a string (models do emit invalid JSON), other values are kept as they are.
pub(crate) fn arguments(value: Option<&Value>) -> Option<Value> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(arguments_from_text(text)),
        Some(other) => Some(other.clone()),
    }
}

/// Arguments text (possibly reassembled from stream fragments) as JSON when it parses.
pub(crate) fn arguments_from_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Splits a `data:` URL into its media type (when given) and its payload (the text after the
/// first comma, base64 for the media the providers accept). Not a `data:` URL: `None`.
pub(crate) fn split_data_url(url: &str) -> Option<(Option<String>, &str)> {
    let scheme = url.get(..5)?;
    if !scheme.eq_ignore_ascii_case("data:") {
        return None;
    }
    let (meta, payload) = url.get(5..)?.split_once(',')?;
    let mime = meta.split(';').next().map(str::trim).unwrap_or_default();
    let mime = (!mime.is_empty()).then(|| mime.to_owned());
    Some((mime, payload))
}

/// Media referenced by a URL: inline data for `data:` URLs, a reference otherwise.
pub(crate) fn media_from_url(url: &str, modality: &str) -> Part {
    match split_data_url(url) {
        Some((mime_type, payload)) => Part::Blob {
            mime_type,
            modality: Some(modality.to_owned()),
            content: payload.to_owned(),
        },
        None => Part::Uri {
            mime_type: None,
            modality: Some(modality.to_owned()),
            uri: url.to_owned(),
        },
    }
}

/// Inline media sent as either a `data:` URL or bare base64 (OpenAI `file_data`).
pub(crate) fn media_from_data(data: &str, modality: &str) -> Part {
    let (mime_type, content) = split_data_url(data).unwrap_or((None, data));
    Part::Blob {
        mime_type,
        modality: Some(modality.to_owned()),
        content: content.to_owned(),
    }
}

/// Inline audio as OpenAI sends it: base64 `data` in a named `format` (`wav`, `mp3`, …).
pub(crate) fn audio_blob(audio: &Value) -> Option<Part> {
    let data = str_at(audio, "data")?;
    let mime_type = str_at(audio, "format").map(|format| match format {
        "mp3" => "audio/mpeg".to_owned(),
        other => format!("audio/{other}"),
    });
    Some(Part::Blob {
        mime_type,
        modality: Some("audio".to_owned()),
        content: data.to_owned(),
    })
}

/// The error object of a response body or stream event (`{"error": {...}}`, which covers
/// both OpenAI and Anthropic), with the provider's message text apart because it is content.
pub(crate) fn error_of(value: &Value) -> Option<(ResponseError, Option<String>)> {
    match value.get("error")? {
        error @ Value::Object(_) => Some(error_fields(error)),
        // Some compatible servers answer `{"error": "message"}`.
        Value::String(message) => Some((
            ResponseError {
                error_type: "error".to_owned(),
                code: None,
            },
            Some(message.clone()),
        )),
        _ => None,
    }
}

/// Reads `type`, `code` and `message` of an error object (a missing type becomes `error`).
pub(crate) fn error_fields(error: &Value) -> (ResponseError, Option<String>) {
    let error_type = str_at(error, "type")
        .filter(|t| !t.is_empty())
        .unwrap_or("error")
        .to_owned();
    let code = match error.get("code") {
        Some(Value::String(code)) => Some(code.clone()),
        Some(Value::Number(code)) => Some(code.to_string()),
        _ => None,
    };
    (
        ResponseError { error_type, code },
        string_at(error, "message"),
    )
}

/// Fills in the name and arguments of tool results from the tool calls with the same id in
/// the request's own history (or, for legacy OpenAI `function` messages without ids, from the
/// last call of the same name).
pub(crate) fn link_tool_results(results: &mut [ToolResult], messages: &[Message]) {
    let mut by_id: HashMap<&str, (&str, Option<&Value>)> = HashMap::new();
    let mut by_name: HashMap<&str, Option<&Value>> = HashMap::new();
    for part in messages.iter().flat_map(|m| &m.parts) {
        if let Part::ToolCall {
            id,
            name,
            arguments,
        } = part
        {
            match id {
                Some(id) => {
                    by_id
                        .entry(id.as_str())
                        .or_insert((name.as_str(), arguments.as_ref()));
                }
                None => {
                    by_name.insert(name.as_str(), arguments.as_ref());
                }
            }
        }
    }
    for result in results {
        match (&result.call_id, &result.name) {
            (Some(id), None) => {
                if let Some((name, arguments)) = by_id.get(id.as_str()) {
                    result.name = Some((*name).to_owned());
                    result.arguments = arguments.cloned();
                }
            }
            (None, Some(name)) => {
                if let Some(arguments) = by_name.get(name.as_str()) {
                    result.arguments = arguments.cloned();
                }
            }
            _ => {}
        }
    }
}

/// A request body being read: the event body under construction, what else the request says,
/// and which top-level keys have been given a home (the rest go to `parameters.extra`).
pub(crate) struct RequestParts<'a> {
    obj: &'a Map<String, Value>,
    pub(crate) body: LlmRequest,
    pub(crate) user: Option<String>,
    pub(crate) tool_results: Vec<ToolResult>,
    pub(crate) notes: Notes,
    /// Entries of `parameters.extra` set by a parser rather than copied (e.g. `metadata`
    /// without `user_id`).
    pub(crate) extra: Map<String, Value>,
    taken: Vec<&'static str>,
}

impl<'a> RequestParts<'a> {
    /// Starts reading `obj`, whose model has been checked already.
    pub(crate) fn new(
        obj: &'a Map<String, Value>,
        model: String,
        api: Api,
        operation: &str,
    ) -> Self {
        let mut body = LlmRequest::new("", model);
        body.operation = Some(operation.to_owned());
        body.attributes.insert(
            API_ATTRIBUTE.to_owned(),
            Value::String(api.as_str().to_owned()),
        );
        RequestParts {
            obj,
            body,
            user: None,
            tool_results: Vec::new(),
            notes: Notes::default(),
            extra: Map::new(),
            taken: vec!["model"],
        }
    }

    /// The value of a top-level key unless absent or `null`; the key no longer goes to
    /// `parameters.extra`.
    pub(crate) fn take(&mut self, key: &'static str) -> Option<&'a Value> {
        let value = self.obj.get(key)?;
        self.taken.push(key);
        (!value.is_null()).then_some(value)
    }

    /// A top-level key read through `read`. A value of the wrong type is noted and left to
    /// `parameters.extra`, so nothing is lost.
    fn typed<T>(
        &mut self,
        key: &'static str,
        expected: &str,
        read: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Option<T> {
        let obj = self.obj;
        let value = obj.get(key)?;
        if value.is_null() {
            self.taken.push(key);
            return None;
        }
        let read = read(value);
        if read.is_some() {
            self.taken.push(key);
        } else {
            self.notes.note(format!("`{key}` is not {expected}"));
        }
        read
    }

    /// A number parameter.
    pub(crate) fn number(&mut self, key: &'static str) -> Option<f64> {
        self.typed(key, "a number", Value::as_f64)
    }

    /// A count parameter (non-negative integer).
    pub(crate) fn count(&mut self, key: &'static str) -> Option<u64> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// An integer parameter.
    pub(crate) fn integer(&mut self, key: &'static str) -> Option<i64> {
        self.typed(key, "an integer", Value::as_i64)
    }

    /// A boolean parameter.
    pub(crate) fn flag(&mut self, key: &'static str) -> Option<bool> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    /// A string value.
    pub(crate) fn text(&mut self, key: &'static str) -> Option<String> {
        self.typed(key, "a string", |v| v.as_str().map(str::to_owned))
    }

    /// Stop sequences: one string or an array of strings.
    pub(crate) fn strings(&mut self, key: &'static str) -> Vec<String> {
        self.typed(key, "a string or an array of strings", |v| match v {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(items) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect(),
            _ => None,
        })
        .unwrap_or_default()
    }

    /// Reads `stream` into both places that record it.
    pub(crate) fn stream(&mut self) {
        self.body.parameters.stream = self.flag("stream").unwrap_or(false);
    }

    /// Finishes the request: links tool results to their calls, copies the remaining
    /// metadata keys to `parameters.extra` and records the first problem as an attribute.
    pub(crate) fn finish(mut self) -> ParsedRequest {
        link_tool_results(&mut self.tool_results, &self.body.messages);
        let mut extra = Map::new();
        for (key, value) in self.obj {
            let key_str = key.as_str();
            if self.taken.contains(&key_str) || CONTENT_KEYS.contains(&key_str) {
                continue;
            }
            extra.insert(key.clone(), value.clone());
        }
        extra.append(&mut self.extra);
        self.body.parameters.extra = extra;
        if let Some(problem) = self.notes.into_inner() {
            self.body
                .attributes
                .insert(PARSE_ERROR_ATTRIBUTE.to_owned(), Value::String(problem));
        }
        ParsedRequest {
            stream: self.body.parameters.stream,
            body: self.body,
            user: self.user,
            tool_results: self.tool_results,
        }
    }
}

/// A parsed function definition (`{name, description, parameters}`), or `None` without name.
pub(crate) fn function_definition(
    tool_type: &str,
    def: &Value,
    schema_key: &str,
) -> Option<ToolDefinition> {
    Some(ToolDefinition {
        tool_type: tool_type.to_owned(),
        name: string_at(def, "name")?,
        description: string_at(def, "description"),
        parameters: present(def, schema_key).cloned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn data_urls_split_into_type_and_payload() {
        assert_eq!(
            split_data_url("data:image/png;base64,iVBORw0KGgo="),
            Some((Some("image/png".to_owned()), "iVBORw0KGgo="))
        );
        assert_eq!(split_data_url("DATA:;base64,AAAA"), Some((None, "AAAA")));
        assert_eq!(split_data_url("data:image/png;base64"), None);
        assert_eq!(split_data_url("https://example.com/a.png"), None);
        assert_eq!(split_data_url("dat"), None);
        // A multi-byte character where the scheme would end must not panic.
        assert_eq!(split_data_url("data\u{e9}x,y"), None);
    }

    #[test]
    fn arguments_parse_when_json_and_stay_text_otherwise() {
        assert_eq!(
            arguments(Some(&json!("{\"city\":\"Paris\"}"))),
            Some(json!({"city": "Paris"}))
        );
        assert_eq!(
            arguments(Some(&json!("{\"city\":"))),
            Some(json!("{\"city\":"))
        );
        assert_eq!(arguments(Some(&json!({"a": 1}))), Some(json!({"a": 1})));
        assert_eq!(arguments(Some(&Value::Null)), None);
        assert_eq!(arguments(None), None);
    }

    #[test]
    fn error_objects_keep_type_and_code_apart_from_the_message() {
        let (error, message) = error_of(&json!({"error": {
            "message": "Rate limit reached", "type": "requests", "code": 429, "param": null
        }}))
        .unwrap();
        assert_eq!(error.error_type, "requests");
        assert_eq!(error.code.as_deref(), Some("429"));
        assert_eq!(message.as_deref(), Some("Rate limit reached"));

        let (error, message) = error_of(&json!({"error": "boom"})).unwrap();
        assert_eq!(error.error_type, "error");
        assert_eq!(message.as_deref(), Some("boom"));
        assert!(error_of(&json!({"error": null})).is_none());
    }

    #[test]
    fn notes_keep_the_first_problem() {
        let mut notes = Notes::default();
        notes.note("first");
        notes.note("second");
        assert_eq!(notes.into_inner().as_deref(), Some("first"));
    }

    #[test]
    fn json_bodies_may_start_with_a_byte_order_mark() {
        assert_eq!(
            parse_json_body(b"\xEF\xBB\xBF{\"a\":1}"),
            Ok(json!({"a": 1}))
        );
        assert_eq!(parse_json_body(b"<html>"), Err("body is not JSON"));
    }
}
