//! OpenAI wire formats: Chat Completions, Responses, Embeddings, Models and errors.
//!
//! The shapes follow what the official `openai` Python SDK parses: every field its models
//! require is present, nullable ones as `null`. Streams end the way the API ends them:
//! Chat Completions with `data: [DONE]`, Responses with `response.completed`. Every
//! Responses event carries a `sequence_number` counted from 0.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::prompt::{Answer, Ctx};
use crate::sse::{Chunk, write_json};
use crate::{CREATED, FUNCTION_CALL_ITEM_ID, TOOL_ARGUMENTS, TOOL_CALL_ID, TOOL_NAME};

/// The tool arguments as a stream sends them: at least three fragments.
pub(crate) const TOOL_ARGUMENT_FRAGMENTS: [&str; 4] =
    [r#"{"city":""#, r#"Paris",""#, r#"unit":""#, r#"celsius"}"#];
/// Embedding dimensions when the request does not ask for a number.
const DEFAULT_DIMENSIONS: usize = 8;
/// Largest `dimensions` honoured; larger requests get this many.
const MAX_DIMENSIONS: usize = 4096;
/// Models listed by `GET /v1/models`.
pub(crate) const MODELS: [&str; 12] = [
    "mock-echo",
    "mock-tool",
    "mock-slow",
    "mock-hang",
    "mock-reset",
    "mock-garbage",
    "mock-error-400",
    "mock-error-429",
    "mock-error-500",
    "gpt-4o",
    "gpt-4o-mini",
    "text-embedding-3-small",
];

/// Returns an OpenAI error body for `status`.
pub(crate) fn error(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("authentication_error", Value::from("invalid_api_key")),
        403 => ("permission_error", Value::from("permission_denied")),
        404 => ("invalid_request_error", Value::from("not_found")),
        413 => ("invalid_request_error", Value::from("request_too_large")),
        429 => ("rate_limit_error", Value::from("rate_limit_exceeded")),
        500..=599 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::from("bad_request")),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

fn chat_id(ctx: &Ctx<'_>) -> String {
    format!("chatcmpl-mock-{}", ctx.seq)
}

fn chat_usage(ctx: &Ctx<'_>, output_tokens: u64) -> Value {
    json!({
        "prompt_tokens": ctx.input_tokens,
        "completion_tokens": output_tokens,
        "total_tokens": ctx.input_tokens + output_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

fn tool_call() -> Value {
    json!({
        "id": TOOL_CALL_ID,
        "type": "function",
        "function": {"name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}
    })
}

/// Returns a `chat.completion` object.
pub(crate) fn chat_completion(ctx: &Ctx<'_>, answer: &Answer) -> Value {
    let (message, finish_reason) = match answer {
        Answer::Text(text) => (
            json!({"role": "assistant", "content": text, "refusal": null, "annotations": []}),
            "stop",
        ),
        Answer::ToolCall => (
            json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "annotations": [],
                "tool_calls": [tool_call()]
            }),
            "tool_calls",
        ),
    };
    json!({
        "id": chat_id(ctx),
        "object": "chat.completion",
        "created": CREATED,
        "model": ctx.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason
        }],
        "usage": chat_usage(ctx, answer.output_tokens()),
        "service_tier": "default",
        "system_fingerprint": "fp_mock"
    })
}

/// Returns the `chat.completion.chunk` stream of an answer, `[DONE]` included.
pub(crate) fn chat_completion_chunks(
    ctx: &Ctx<'_>,
    answer: &Answer,
    pieces: &[&str],
) -> Vec<Chunk> {
    let include_usage = ctx
        .request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    // The envelope is the same for every chunk; only `choices` changes. Writing it once keeps
    // a stream about as cheap as a whole answer, and keeps the API's field order.
    let prefix = format!(
        "data: {{\"id\":{},\"object\":\"chat.completion.chunk\",\"created\":{CREATED},\"model\":{},\"service_tier\":\"default\",\"system_fingerprint\":\"fp_mock\",\"choices\":",
        Value::from(chat_id(ctx)),
        Value::from(ctx.model)
    );
    // The API sends `usage: null` on every chunk but the last when usage is asked for.
    let suffix: &[u8] = if include_usage {
        b",\"usage\":null}\n\n"
    } else {
        b"}\n\n"
    };
    let chunk = |choices: Value, content: bool| {
        let mut data = Vec::with_capacity(prefix.len() + 128);
        data.extend_from_slice(prefix.as_bytes());
        write_json(&mut data, &choices);
        data.extend_from_slice(suffix);
        Chunk::bytes(data, content)
    };
    let choice = |delta: Value, finish_reason: Value| json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]);
    let mut out = Vec::with_capacity(pieces.len() + 4);
    let finish_reason = match answer {
        Answer::Text(_) => {
            out.push(chunk(
                choice(
                    json!({"role": "assistant", "content": "", "refusal": null}),
                    Value::Null,
                ),
                false,
            ));
            for piece in pieces {
                out.push(chunk(choice(json!({"content": piece}), Value::Null), true));
            }
            "stop"
        }
        Answer::ToolCall => {
            let first = json!({
                "role": "assistant",
                "content": null,
                "refusal": null,
                "tool_calls": [{
                    "index": 0,
                    "id": TOOL_CALL_ID,
                    "type": "function",
                    "function": {"name": TOOL_NAME, "arguments": ""}
                }]
            });
            out.push(chunk(choice(first, Value::Null), false));
            for fragment in TOOL_ARGUMENT_FRAGMENTS {
                let delta =
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]});
                out.push(chunk(choice(delta, Value::Null), true));
            }
            "tool_calls"
        }
    };
    out.push(chunk(choice(json!({}), Value::from(finish_reason)), false));
    if include_usage {
        let payload = json!({
            "id": chat_id(ctx),
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": ctx.model,
            "service_tier": "default",
            "system_fingerprint": "fp_mock",
            "choices": [],
            "usage": chat_usage(ctx, answer.output_tokens())
        });
        out.push(Chunk::data(&payload, false));
    }
    out.push(Chunk::raw("data: [DONE]\n\n".to_owned(), false));
    out
}

fn response_id(ctx: &Ctx<'_>) -> String {
    format!("resp_mock_{}", ctx.seq)
}

fn message_item_id(ctx: &Ctx<'_>) -> String {
    format!("msg_mock_{}", ctx.seq)
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn message_item(ctx: &Ctx<'_>, content: Value, status: &str) -> Value {
    json!({
        "id": message_item_id(ctx),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content
    })
}

fn function_call_item(arguments: &str, status: &str) -> Value {
    json!({
        "id": FUNCTION_CALL_ITEM_ID,
        "type": "function_call",
        "status": status,
        "call_id": TOOL_CALL_ID,
        "name": TOOL_NAME,
        "arguments": arguments
    })
}

fn output_item(ctx: &Ctx<'_>, answer: &Answer) -> Value {
    match answer {
        Answer::Text(text) => message_item(ctx, json!([output_text(text)]), "completed"),
        Answer::ToolCall => function_call_item(TOOL_ARGUMENTS, "completed"),
    }
}

/// Returns a `response` object; `completed` carries the output and usage, otherwise it is the
/// in-progress object that opens a stream.
fn response_object(ctx: &Ctx<'_>, answer: &Answer, completed: bool) -> Value {
    let request = ctx.request;
    let echo = |key: &str, default: Value| request.get(key).cloned().unwrap_or(default);
    let (status, output, usage, completed_at) = if completed {
        let output_tokens = answer.output_tokens();
        let usage = json!({
            "input_tokens": ctx.input_tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": ctx.input_tokens + output_tokens
        });
        (
            "completed",
            json!([output_item(ctx, answer)]),
            usage,
            Value::from(CREATED),
        )
    } else {
        ("in_progress", json!([]), Value::Null, Value::Null)
    };
    json!({
        "id": response_id(ctx),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "completed_at": completed_at,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "max_tool_calls": echo("max_tool_calls", Value::Null),
        "model": ctx.model,
        "output": output,
        "parallel_tool_calls": echo("parallel_tool_calls", Value::Bool(true)),
        "previous_response_id": echo("previous_response_id", Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": echo("store", Value::Bool(true)),
        "temperature": echo("temperature", Value::from(1.0)),
        "text": echo("text", json!({"format": {"type": "text"}})),
        "tool_choice": echo("tool_choice", Value::from("auto")),
        "tools": echo("tools", json!([])),
        "top_p": echo("top_p", Value::from(1.0)),
        "truncation": echo("truncation", Value::from("disabled")),
        "usage": usage,
        "user": null,
        "metadata": echo("metadata", json!({}))
    })
}

/// Returns a completed `response` object.
pub(crate) fn response(ctx: &Ctx<'_>, answer: &Answer) -> Value {
    response_object(ctx, answer, true)
}

/// Returns the Responses event stream of an answer, from `response.created` to
/// `response.completed`.
pub(crate) fn response_events(ctx: &Ctx<'_>, answer: &Answer, pieces: &[&str]) -> Vec<Chunk> {
    let mut out = Vec::with_capacity(pieces.len() + 10);
    let mut push = |kind: &str, mut payload: Value, content: bool| {
        payload["type"] = Value::from(kind);
        payload["sequence_number"] = Value::from(out.len());
        out.push(Chunk::event(kind, &payload, content));
    };
    let started = response_object(ctx, answer, false);
    push("response.created", json!({"response": started}), false);
    push("response.in_progress", json!({"response": started}), false);
    match answer {
        Answer::Text(text) => {
            let item_id = message_item_id(ctx);
            push(
                "response.output_item.added",
                json!({"output_index": 0, "item": message_item(ctx, json!([]), "in_progress")}),
                false,
            );
            push(
                "response.content_part.added",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": output_text("")}),
                false,
            );
            for piece in pieces {
                push(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": 0, "content_index": 0, "delta": piece, "logprobs": []}),
                    true,
                );
            }
            push(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "text": text, "logprobs": []}),
                false,
            );
            push(
                "response.content_part.done",
                json!({"item_id": item_id, "output_index": 0, "content_index": 0, "part": output_text(text)}),
                false,
            );
        }
        Answer::ToolCall => {
            push(
                "response.output_item.added",
                json!({"output_index": 0, "item": function_call_item("", "in_progress")}),
                false,
            );
            for fragment in TOOL_ARGUMENT_FRAGMENTS {
                push(
                    "response.function_call_arguments.delta",
                    json!({"item_id": FUNCTION_CALL_ITEM_ID, "output_index": 0, "delta": fragment}),
                    true,
                );
            }
            push(
                "response.function_call_arguments.done",
                json!({"item_id": FUNCTION_CALL_ITEM_ID, "output_index": 0, "name": TOOL_NAME, "arguments": TOOL_ARGUMENTS}),
                false,
            );
        }
    }
    push(
        "response.output_item.done",
        json!({"output_index": 0, "item": output_item(ctx, answer)}),
        false,
    );
    push(
        "response.completed",
        json!({"response": response_object(ctx, answer, true)}),
        false,
    );
    out
}

/// Returns an embeddings list, or the message of a 400 when `input` is missing or malformed.
pub(crate) fn embeddings(request: &Value, model: &str) -> Result<Value, &'static str> {
    let inputs = embedding_inputs(request.get("input"))?;
    let dimensions = request
        .get("dimensions")
        .and_then(Value::as_u64)
        .filter(|&d| d > 0)
        .map_or(DEFAULT_DIMENSIONS, |d| {
            usize::try_from(d).map_or(MAX_DIMENSIONS, |d| d.min(MAX_DIMENSIONS))
        });
    let base64 = request.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let mut tokens = 0;
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, (key, words))| {
            tokens += words;
            let vector = embedding_vector(key, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(vector.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    }))
}

/// Returns each input as a key to derive its vector from and its token count. Token arrays
/// count one token per number.
fn embedding_inputs(input: Option<&Value>) -> Result<Vec<(String, u64)>, &'static str> {
    fn tokens(items: &[Value]) -> Option<(String, u64)> {
        let mut key = String::from("tokens:");
        for item in items {
            key.push_str(&item.as_i64()?.to_string());
            key.push(',');
        }
        Some((key, items.len() as u64))
    }
    const INVALID: &str = "'input' must be a string, an array of strings, an array of token ids or an array of token id arrays";
    match input {
        None => Err("'input' is a required property"),
        Some(Value::String(text)) => Ok(vec![(text.clone(), crate::prompt::count_words(text))]),
        Some(Value::Array(items)) if items.first().is_some_and(Value::is_number) => {
            tokens(items).map(|t| vec![t]).ok_or(INVALID)
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok((text.clone(), crate::prompt::count_words(text))),
                Value::Array(ids) => tokens(ids).ok_or(INVALID),
                _ => Err(INVALID),
            })
            .collect(),
        Some(_) => Err(INVALID),
    }
}

/// Derives a unit vector from `key`: FNV-1a seeds a SplitMix64 sequence.
fn embedding_vector(key: &str, dimensions: usize) -> Vec<f32> {
    let mut state = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut vector: Vec<f32> = (0..dimensions)
        .map(|_| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            // The top 24 bits are exact in an f32: a value in [-1, 1).
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Returns the model list.
pub(crate) fn models() -> Value {
    let data: Vec<Value> = MODELS.iter().map(|id| model(id)).collect();
    json!({"object": "list", "data": data})
}

/// Returns one model object.
pub(crate) fn model(id: &str) -> Value {
    json!({"id": id, "object": "model", "created": CREATED, "owned_by": "llmtrail-mock"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Answer;

    fn ctx(request: &Value) -> Ctx<'_> {
        Ctx {
            request,
            model: "mock-echo",
            seq: 7,
            input_tokens: 3,
        }
    }

    fn payloads(chunks: &[Chunk]) -> Vec<Value> {
        chunks
            .iter()
            .map(|c| {
                let text = std::str::from_utf8(&c.data).unwrap();
                assert!(text.ends_with("\n\n"), "{text}");
                let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
                serde_json::from_str(data).unwrap_or(Value::from(data))
            })
            .collect()
    }

    #[test]
    fn fragments_make_the_arguments() {
        assert_eq!(TOOL_ARGUMENT_FRAGMENTS.concat(), TOOL_ARGUMENTS);
        let args: Value = serde_json::from_str(TOOL_ARGUMENTS).unwrap();
        assert_eq!(args, json!({"city": "Paris", "unit": "celsius"}));
    }

    #[test]
    fn chat_completion_has_sdk_fields() {
        let request = json!({});
        let body = chat_completion(&ctx(&request), &Answer::Text("echo: hi there".into()));
        assert_eq!(body["id"], "chatcmpl-mock-7");
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"]["content"], "echo: hi there");
        assert_eq!(body["choices"][0]["message"]["refusal"], Value::Null);
        assert_eq!(body["choices"][0]["finish_reason"], "stop");
        assert_eq!(body["usage"]["prompt_tokens"], 3);
        assert_eq!(body["usage"]["completion_tokens"], 3);
        assert_eq!(body["usage"]["total_tokens"], 6);

        let body = chat_completion(&ctx(&request), &Answer::ToolCall);
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(body["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(body["choices"][0]["message"]["tool_calls"][0], tool_call());
    }

    #[test]
    fn chat_stream_with_usage() {
        let request = json!({"stream": true, "stream_options": {"include_usage": true}});
        let chunks = chat_completion_chunks(
            &ctx(&request),
            &Answer::Text("echo: hi".into()),
            &["echo: ", "hi"],
        );
        let content: Vec<bool> = chunks.iter().map(|c| c.content).collect();
        assert_eq!(content, [false, true, true, false, false, false]);
        let p = payloads(&chunks);
        assert_eq!(p[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(p[0]["usage"], Value::Null);
        assert!(p[0].get("usage").is_some());
        assert_eq!(p[2]["choices"][0]["delta"]["content"], "hi");
        assert_eq!(p[3]["choices"][0]["finish_reason"], "stop");
        assert_eq!(p[4]["choices"], json!([]));
        assert_eq!(p[4]["usage"]["completion_tokens"], 2);
        assert_eq!(p[5], "[DONE]");
    }

    #[test]
    fn chat_stream_tool_call() {
        let request = json!({"stream": true});
        let chunks = chat_completion_chunks(&ctx(&request), &Answer::ToolCall, &[]);
        let p = payloads(&chunks);
        let first = &p[0]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(first["id"], TOOL_CALL_ID);
        assert_eq!(first["function"]["arguments"], "");
        let args: String = p[1..5]
            .iter()
            .map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(args, TOOL_ARGUMENTS);
        assert_eq!(p[5]["choices"][0]["finish_reason"], "tool_calls");
        assert!(p[5].get("usage").is_none());
        assert_eq!(p[6], "[DONE]");
    }

    #[test]
    fn response_stream_events_in_order() {
        let request = json!({"tools": [{"type": "function", "name": "get_weather"}]});
        let chunks = response_events(
            &ctx(&request),
            &Answer::Text("echo: a".into()),
            &["echo: ", "a"],
        );
        let p = payloads(&chunks);
        let kinds: Vec<&str> = p.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (i, event) in p.iter().enumerate() {
            assert_eq!(event["sequence_number"], i);
            let text = std::str::from_utf8(&chunks[i].data).unwrap();
            assert!(text.starts_with(&format!("event: {}\n", event["type"].as_str().unwrap())));
        }
        assert_eq!(p[0]["response"]["status"], "in_progress");
        assert_eq!(p[0]["response"]["tools"], request["tools"]);
        let done = &p[9]["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "echo: a");
        assert_eq!(done["usage"]["total_tokens"], 5);
    }

    #[test]
    fn response_stream_function_call() {
        let request = json!({});
        let chunks = response_events(&ctx(&request), &Answer::ToolCall, &[]);
        let p = payloads(&chunks);
        assert_eq!(p[2]["item"]["type"], "function_call");
        assert_eq!(p[2]["item"]["arguments"], "");
        let deltas: String = p
            .iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .map(|e| e["delta"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(deltas, TOOL_ARGUMENTS);
        let done = p.last().unwrap();
        assert_eq!(done["response"]["output"][0]["call_id"], TOOL_CALL_ID);
        assert_eq!(done["response"]["output"][0]["id"], FUNCTION_CALL_ITEM_ID);
    }

    #[test]
    fn embeddings_are_deterministic_unit_vectors() {
        let request = json!({"input": ["a b", "c"], "model": "e"});
        let body = embeddings(&request, "e").unwrap();
        assert_eq!(body["usage"]["prompt_tokens"], 3);
        let first: Vec<f64> = serde_json::from_value(body["data"][0]["embedding"].clone()).unwrap();
        assert_eq!(first.len(), 8);
        let norm: f64 = first.iter().map(|x| x * x).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(embeddings(&request, "e").unwrap(), body);
        assert_ne!(body["data"][0]["embedding"], body["data"][1]["embedding"]);

        let b64 = embeddings(&json!({"input": "a b", "encoding_format": "base64"}), "e").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64["data"][0]["embedding"].as_str().unwrap())
            .unwrap();
        let floats: Vec<f64> = bytes
            .chunks(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect();
        assert_eq!(floats, first);

        let tokens = embeddings(&json!({"input": [1, 2, 3], "dimensions": 3}), "e").unwrap();
        assert_eq!(tokens["data"].as_array().unwrap().len(), 1);
        assert_eq!(tokens["data"][0]["embedding"].as_array().unwrap().len(), 3);
        assert_eq!(tokens["usage"]["total_tokens"], 3);
        assert!(embeddings(&json!({}), "e").is_err());
        assert!(embeddings(&json!({"input": [{}]}), "e").is_err());
    }

    #[test]
    fn errors_match_the_api() {
        assert_eq!(
            error(429, "slow down"),
            json!({"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": "rate_limit_exceeded"}})
        );
        assert_eq!(error(500, "x")["error"]["code"], Value::Null);
        assert_eq!(error(500, "x")["error"]["type"], "server_error");
        assert_eq!(error(400, "x")["error"]["code"], "bad_request");
    }
}
