//! Reading a request's conversation and deciding the answer's text.
//!
//! Each API has its own message shape; [`Prompt`] is the little the mock needs from any of
//! them: the text of the last user message, the tool result when the conversation ends with
//! one, and a deterministic input token count (whitespace-separated words). Unknown shapes are
//! not errors: they read as empty text, since the mock must accept whatever a client sends.

use serde_json::Value;

use crate::behaviour::{Behaviour, SLOW_CHUNKS};

/// Output tokens reported for a tool call, whatever its arguments.
pub(crate) const TOOL_CALL_OUTPUT_TOKENS: u64 = 12;
/// Size of the chunks of long answers when streaming.
const LONG_CHUNK: usize = 1024;
/// Answers longer than this stream in [`LONG_CHUNK`] pieces instead of one piece per word.
const WORD_SPLIT_LIMIT: usize = 4096;

/// What the mock takes from a request's conversation.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// The text of the last user message (text parts concatenated).
    pub(crate) user_text: String,
    /// The text of the tool result, when the last message is one.
    pub(crate) tool_result: Option<String>,
    /// Words in the whole input.
    pub(crate) input_tokens: u64,
}

/// What the body builders need to know about the request besides the answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    /// The request body.
    pub(crate) request: &'a Value,
    /// The request's `model`, echoed in the answer.
    pub(crate) model: &'a str,
    /// The request's sequence number, which makes identifiers unique per mock.
    pub(crate) seq: usize,
    /// Input token count.
    pub(crate) input_tokens: u64,
}

/// What the mock answers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// A text answer.
    Text(String),
    /// A call of [`crate::TOOL_NAME`] with [`crate::TOOL_ARGUMENTS`].
    ToolCall,
}

impl Answer {
    /// Returns the answer `behaviour` gives to `prompt`.
    pub(crate) fn new(behaviour: Behaviour, prompt: &Prompt) -> Self {
        match behaviour {
            Behaviour::Tool => match &prompt.tool_result {
                Some(result) => Self::Text(format!("tool said: {result}")),
                None => Self::ToolCall,
            },
            Behaviour::Long(len) => Self::Text(long_text(len)),
            _ => Self::Text(format!("echo: {}", prompt.user_text)),
        }
    }

    /// Returns the output token count.
    pub(crate) fn output_tokens(&self) -> u64 {
        match self {
            Self::Text(text) => count_words(text),
            Self::ToolCall => TOOL_CALL_OUTPUT_TOKENS,
        }
    }
}

/// Reads an OpenAI Chat Completions request.
pub(crate) fn openai_chat(request: &Value) -> Prompt {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let user_text = messages
        .iter()
        .rev()
        .find(|m| role(m) == Some("user"))
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default();
    let tool_result = messages
        .last()
        .filter(|m| matches!(role(m), Some("tool" | "function")))
        .map(|m| text_of(m.get("content")));
    Prompt {
        user_text,
        tool_result,
        input_tokens: words_in(request.get("messages")),
    }
}

/// Reads an OpenAI Responses request.
pub(crate) fn openai_responses(request: &Value) -> Prompt {
    let input = request.get("input");
    let input_tokens = words_in(input) + words_in(request.get("instructions"));
    let items = match input {
        Some(Value::String(text)) => {
            return Prompt {
                user_text: text.clone(),
                tool_result: None,
                input_tokens,
            };
        }
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    let user_text = items
        .iter()
        .rev()
        .find(|item| role(item) == Some("user"))
        .map(|item| text_of(item.get("content")))
        .unwrap_or_default();
    let tool_result = items
        .last()
        .filter(|item| item.get("type").and_then(Value::as_str) == Some("function_call_output"))
        .map(|item| text_of(item.get("output")));
    Prompt {
        user_text,
        tool_result,
        input_tokens,
    }
}

/// Reads an Anthropic Messages request.
pub(crate) fn anthropic(request: &Value) -> Prompt {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let user_text = messages
        .iter()
        .rev()
        .find(|m| role(m) == Some("user"))
        .map(|m| text_of(m.get("content")))
        .unwrap_or_default();
    let tool_result = messages
        .last()
        .filter(|m| role(m) == Some("user"))
        .and_then(|m| m.get("content")?.as_array())
        .and_then(|blocks| {
            let results: Vec<String> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| text_of(b.get("content")))
                .collect();
            (!results.is_empty()).then(|| results.join("\n"))
        });
    Prompt {
        user_text,
        tool_result,
        input_tokens: words_in(request.get("messages")) + words_in(request.get("system")),
    }
}

fn role(message: &Value) -> Option<&str> {
    message.get("role").and_then(Value::as_str)
}

/// Returns the text of a content value: a string, or the concatenated `text` of its parts
/// (`text`, `input_text`, `output_text` parts alike); other parts are skipped.
pub(crate) fn text_of(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for part in parts {
                match part {
                    Value::String(text) => out.push_str(text),
                    Value::Object(fields) => {
                        if let Some(Value::String(text)) = fields.get("text") {
                            out.push_str(text);
                        }
                    }
                    _ => {}
                }
            }
            out
        }
        _ => String::new(),
    }
}

/// Counts the words in the string leaves of `value`, leaving out fields that name rather than
/// say something (roles, types, identifiers).
pub(crate) fn words_in(value: Option<&Value>) -> u64 {
    fn walk(value: &Value, total: &mut u64) {
        match value {
            Value::String(text) => *total += count_words(text),
            Value::Array(items) => items.iter().for_each(|item| walk(item, total)),
            Value::Object(fields) => {
                for (key, item) in fields {
                    if !matches!(
                        key.as_str(),
                        "role" | "type" | "id" | "call_id" | "tool_call_id" | "tool_use_id"
                    ) {
                        walk(item, total);
                    }
                }
            }
            _ => {}
        }
    }
    let mut total = 0;
    if let Some(value) = value {
        walk(value, &mut total);
    }
    total
}

/// Counts whitespace-separated words.
pub(crate) fn count_words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Returns exactly `len` bytes of ASCII text.
fn long_text(len: usize) -> String {
    const PATTERN: &[u8] = b"lorem ipsum dolor sit amet consectetur adipiscing elit ";
    let bytes: Vec<u8> = PATTERN.iter().copied().cycle().take(len).collect();
    // The pattern is ASCII, so this never loses anything.
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Splits an answer into the pieces a stream sends, each non-empty, concatenating back to
/// `text`.
pub(crate) fn pieces(text: &str, behaviour: Behaviour) -> Vec<&str> {
    match behaviour {
        Behaviour::Slow(_) => split_even(text, SLOW_CHUNKS),
        _ if text.len() > WORD_SPLIT_LIMIT || matches!(behaviour, Behaviour::Long(_)) => {
            split_sized(text, LONG_CHUNK)
        }
        _ => split_words(text),
    }
}

/// Splits after each run of whitespace: `"a b  c"` gives `["a ", "b  ", "c"]`.
fn split_words(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            out.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// Splits into `n` pieces of nearly equal character counts (fewer when the text has fewer
/// characters).
fn split_even(text: &str, n: usize) -> Vec<&str> {
    let chars = text.chars().count();
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut prev = 0;
    for k in 1..=n {
        let next = k * chars / n;
        if next > prev {
            out.push(&text[bounds[prev]..bounds[next]]);
            prev = next;
        }
    }
    out
}

/// Splits into pieces of about `size` bytes, cut on character boundaries.
fn split_sized(text: &str, size: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / size + 1);
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + size).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    #[test]
    fn chat_reads_last_user_text_and_tool_result() {
        let request = json!({"messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "image_url", "image_url": {"url": "x"}}, {"type": "text", "text": "world"}]},
        ]});
        let prompt = openai_chat(&request);
        assert_eq!(prompt.user_text, "hello world");
        assert_eq!(prompt.tool_result, None);
        // be brief / first / ok / hello / world / x
        assert_eq!(prompt.input_tokens, 7);

        let request = json!({"messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": null, "tool_calls": []},
            {"role": "tool", "tool_call_id": "call_mock_1", "content": "22 degrees"},
        ]});
        let prompt = openai_chat(&request);
        assert_eq!(prompt.user_text, "weather?");
        assert_eq!(prompt.tool_result.as_deref(), Some("22 degrees"));
    }

    #[test]
    fn responses_reads_string_and_items() {
        let prompt = openai_responses(&json!({"input": "hi there", "instructions": "be nice"}));
        assert_eq!(prompt.user_text, "hi there");
        assert_eq!(prompt.input_tokens, 4);

        let request = json!({"input": [
            {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "call_mock_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_mock_1", "output": "sunny"},
        ]});
        let prompt = openai_responses(&request);
        assert_eq!(prompt.user_text, "weather?");
        assert_eq!(prompt.tool_result.as_deref(), Some("sunny"));
    }

    #[test]
    fn anthropic_reads_tool_result_blocks() {
        let request = json!({"system": "sys", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": [{"type": "text", "text": "rainy"}]}]},
        ]});
        let prompt = anthropic(&request);
        assert_eq!(prompt.tool_result.as_deref(), Some("rainy"));
        let request =
            json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]});
        let prompt = anthropic(&request);
        assert_eq!(prompt.user_text, "a b");
        assert_eq!(prompt.tool_result, None);
    }

    #[test]
    fn answers_follow_behaviour() {
        let prompt = Prompt {
            user_text: "hi".into(),
            tool_result: None,
            input_tokens: 1,
        };
        assert_eq!(
            Answer::new(Behaviour::Echo, &prompt),
            Answer::Text("echo: hi".into())
        );
        assert_eq!(Answer::new(Behaviour::Tool, &prompt), Answer::ToolCall);
        let with_result = Prompt {
            tool_result: Some("x".into()),
            ..prompt
        };
        assert_eq!(
            Answer::new(Behaviour::Tool, &with_result),
            Answer::Text("tool said: x".into())
        );
        let Answer::Text(long) = Answer::new(Behaviour::Long(3000), &with_result) else {
            panic!("long answers are text");
        };
        assert_eq!(long.len(), 3000);
    }

    #[test]
    fn splits_concatenate_back() {
        let text = "echo: héllo  wörld again";
        assert_eq!(
            split_words(text),
            vec!["echo: ", "héllo  ", "wörld ", "again"]
        );
        let slow = pieces(text, Behaviour::Slow(Duration::ZERO));
        assert_eq!(slow.len(), SLOW_CHUNKS);
        assert_eq!(slow.concat(), text);
        assert!(slow.iter().all(|p| !p.is_empty()));
        assert_eq!(split_even("abc", 5), vec!["a", "b", "c"]);
        let long = long_text(2500);
        let sized = pieces(&long, Behaviour::Long(2500));
        assert_eq!(
            sized.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [1024, 1024, 452]
        );
        let multibyte = "é".repeat(700);
        let sized = split_sized(&multibyte, 1023);
        assert_eq!(sized.concat(), multibyte);
        assert!(split_words("").is_empty());
    }
}
