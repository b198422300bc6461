//! Anthropic wire formats: Messages (whole and streamed), Models and errors.
//!
//! A stream is `message_start`, `content_block_start`, `ping`, the `content_block_delta`s,
//! `content_block_stop`, `message_delta` (stop reason and output tokens) and `message_stop`,
//! each under its `event:` name, as the official `anthropic` SDK's stream accumulator expects.

use serde_json::{Value, json};

use crate::openai::{MODELS, TOOL_ARGUMENT_FRAGMENTS};
use crate::prompt::{Answer, Ctx};
use crate::sse::Chunk;
use crate::{TOOL_NAME, TOOL_USE_ID};

/// `created_at` of listed models.
const MODEL_CREATED_AT: &str = "2023-11-14T22:13:20Z";

/// Returns an Anthropic error body for `status`.
pub(crate) fn error(status: u16, message: &str) -> Value {
    let kind = match status {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        500..=599 => "api_error",
        _ => "invalid_request_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn tool_input() -> Value {
    json!({"city": "Paris", "unit": "celsius"})
}

fn stop_reason(answer: &Answer) -> &'static str {
    match answer {
        Answer::Text(_) => "end_turn",
        Answer::ToolCall => "tool_use",
    }
}

fn message_object(ctx: &Ctx<'_>, content: Value, stop: Value, output_tokens: u64) -> Value {
    json!({
        "id": format!("msg_mock_{}", ctx.seq),
        "type": "message",
        "role": "assistant",
        "model": ctx.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            "input_tokens": ctx.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "service_tier": "standard"
        }
    })
}

/// Returns a `message` object.
pub(crate) fn message(ctx: &Ctx<'_>, answer: &Answer) -> Value {
    let content = match answer {
        Answer::Text(text) => json!([{"type": "text", "text": text}]),
        Answer::ToolCall => json!([{
            "type": "tool_use",
            "id": TOOL_USE_ID,
            "name": TOOL_NAME,
            "input": tool_input()
        }]),
    };
    message_object(
        ctx,
        content,
        Value::from(stop_reason(answer)),
        answer.output_tokens(),
    )
}

/// Returns the Messages event stream of an answer.
pub(crate) fn message_events(ctx: &Ctx<'_>, answer: &Answer, pieces: &[&str]) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(pieces.len() + 6);
    let start = message_object(ctx, json!([]), Value::Null, 1);
    out.push(Chunk::event(
        "message_start",
        &json!({"type": "message_start", "message": start}),
        false,
    ));
    let (block, deltas): (Value, Vec<Value>) = match answer {
        Answer::Text(_) => (
            json!({"type": "text", "text": ""}),
            pieces
                .iter()
                .map(|piece| json!({"type": "text_delta", "text": piece}))
                .collect(),
        ),
        Answer::ToolCall => (
            json!({"type": "tool_use", "id": TOOL_USE_ID, "name": TOOL_NAME, "input": {}}),
            TOOL_ARGUMENT_FRAGMENTS
                .iter()
                .map(|fragment| json!({"type": "input_json_delta", "partial_json": fragment}))
                .collect(),
        ),
    };
    out.push(Chunk::event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": block}),
        false,
    ));
    out.push(Chunk::event("ping", &json!({"type": "ping"}), false));
    for delta in deltas {
        out.push(Chunk::event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": delta}),
            true,
        ));
    }
    out.push(Chunk::event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
        false,
    ));
    out.push(Chunk::event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason(answer), "stop_sequence": null},
            "usage": {"output_tokens": answer.output_tokens()}
        }),
        false,
    ));
    out.push(Chunk::event(
        "message_stop",
        &json!({"type": "message_stop"}),
        false,
    ));
    out
}

/// Returns the model list in Anthropic's paginated format.
pub(crate) fn models() -> Value {
    let data: Vec<Value> = MODELS.iter().map(|id| model(id)).collect();
    json!({
        "data": data,
        "first_id": MODELS.first(),
        "last_id": MODELS.last(),
        "has_more": false
    })
}

/// Returns one model object.
pub(crate) fn model(id: &str) -> Value {
    json!({
        "type": "model",
        "id": id,
        "display_name": id,
        "created_at": MODEL_CREATED_AT,
        "lifecycle": "active"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(request: &Value) -> Ctx<'_> {
        Ctx {
            request,
            model: "claude-mock",
            seq: 2,
            input_tokens: 4,
        }
    }

    fn events(chunks: &[Chunk]) -> Vec<(String, Value)> {
        chunks
            .iter()
            .map(|c| {
                let text = std::str::from_utf8(&c.data).unwrap();
                let (event, data) = text.trim_end().split_once('\n').unwrap();
                let event = event.strip_prefix("event: ").unwrap().to_owned();
                let data: Value =
                    serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
                assert_eq!(data["type"], event.as_str());
                (event, data)
            })
            .collect()
    }

    #[test]
    fn message_has_sdk_fields() {
        let request = json!({});
        let body = message(&ctx(&request), &Answer::Text("echo: hi".into()));
        assert_eq!(body["id"], "msg_mock_2");
        assert_eq!(
            body["content"],
            json!([{"type": "text", "text": "echo: hi"}])
        );
        assert_eq!(body["stop_reason"], "end_turn");
        assert_eq!(body["stop_sequence"], Value::Null);
        assert_eq!(body["usage"]["input_tokens"], 4);
        assert_eq!(body["usage"]["output_tokens"], 2);
        let body = message(&ctx(&request), &Answer::ToolCall);
        assert_eq!(body["stop_reason"], "tool_use");
        assert_eq!(body["content"][0]["input"], tool_input());
    }

    #[test]
    fn text_stream_in_order() {
        let request = json!({});
        let chunks = message_events(
            &ctx(&request),
            &Answer::Text("echo: a".into()),
            &["echo: ", "a"],
        );
        let e = events(&chunks);
        let names: Vec<&str> = e.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(e[0].1["message"]["content"], json!([]));
        assert_eq!(e[0].1["message"]["stop_reason"], Value::Null);
        assert_eq!(e[4].1["delta"], json!({"type": "text_delta", "text": "a"}));
        assert_eq!(e[6].1["usage"]["output_tokens"], 2);
    }

    #[test]
    fn tool_stream_sends_partial_json() {
        let request = json!({});
        let chunks = message_events(&ctx(&request), &Answer::ToolCall, &[]);
        let e = events(&chunks);
        assert_eq!(e[1].1["content_block"]["type"], "tool_use");
        let json: String = e
            .iter()
            .filter(|(n, _)| n == "content_block_delta")
            .map(|(_, d)| d["delta"]["partial_json"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(serde_json::from_str::<Value>(&json).unwrap(), tool_input());
        assert_eq!(e[e.len() - 2].1["delta"]["stop_reason"], "tool_use");
    }

    #[test]
    fn errors_match_the_api() {
        assert_eq!(
            error(429, "m"),
            json!({"type": "error", "error": {"type": "rate_limit_error", "message": "m"}})
        );
        assert_eq!(error(500, "m")["error"]["type"], "api_error");
        assert_eq!(error(400, "m")["error"]["type"], "invalid_request_error");
    }
}
