//! Drives the mock over real sockets: every route, streaming timing, and the failure models
//! (reset, hang, garbage), with `ureq` and with raw TCP where the exact bytes matter.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use llmtrail_mock_upstream::{MockUpstream, TOOL_ARGUMENTS};
use serde_json::{Value, json};

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Splits an SSE body into (event name, data) pairs.
    fn events(&self) -> Vec<(Option<String>, String)> {
        assert!(self.body.ends_with("\n\n"), "{}", self.body);
        self.body
            .split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut event = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(name) = line.strip_prefix("event: ") {
                        event = Some(name.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(d.to_owned());
                    }
                }
                (
                    event,
                    data.unwrap_or_else(|| panic!("no data in {block:?}")),
                )
            })
            .collect()
    }

    fn event_json(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(_, data)| data != "[DONE]")
            .map(|(event, data)| {
                let value: Value = serde_json::from_str(&data).unwrap();
                if let Some(event) = event {
                    assert_eq!(value["type"], event.as_str());
                }
                value
            })
            .collect()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

fn into_reply(mut response: ureq::http::Response<ureq::Body>) -> Reply {
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_string()
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

fn post(mock: &MockUpstream, path: &str, body: &Value) -> Reply {
    post_raw(mock, path, &body.to_string())
}

fn post_raw(mock: &MockUpstream, path: &str, body: &str) -> Reply {
    let response = agent(Duration::from_secs(20))
        .post(format!("{}{path}", mock.base_url()))
        .header("content-type", "application/json")
        .header("Authorization", "Bearer sk-test")
        .send(body)
        .unwrap();
    into_reply(response)
}

fn get(mock: &MockUpstream, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent(Duration::from_secs(20)).get(format!("{}{path}", mock.base_url()));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    into_reply(request.call().unwrap())
}

fn chat(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": text}
    ]})
}

fn with_stream(mut request: Value) -> Value {
    request["stream"] = Value::Bool(true);
    request
}

/// Sends `body` as a POST with raw TCP and returns the socket, for byte-level checks.
fn raw_post(addr: SocketAddr, path: &str, body: &Value) -> TcpStream {
    let body = body.to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

fn read_all(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset is as good as a close here.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
            Err(e) => panic!("read failed after {} bytes: {e}", out.len()),
        }
    }
}

#[test]
fn chat_completion_echoes_the_last_user_message() {
    let mock = MockUpstream::start().unwrap();
    let reply = post(
        &mock,
        "/v1/chat/completions",
        &chat("gpt-4o", "hello world"),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("x-mock-request-count"), Some("1"));
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt-4o");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "echo: hello world"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 3);

    let parts = json!({"model": "mock-echo", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "one "}, {"type": "text", "text": "two"}
    ]}]});
    let reply = post(&mock, "/v1/chat/completions", &parts);
    assert_eq!(reply.header("x-mock-request-count"), Some("2"));
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "echo: one two"
    );
}

#[test]
fn chat_completion_stream_with_usage() {
    let mock = MockUpstream::start().unwrap();
    let mut request = with_stream(chat("mock-echo", "hello big world"));
    request["stream_options"] = json!({"include_usage": true});
    let reply = post(&mock, "/v1/chat/completions", &request);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    assert_eq!(reply.header("cache-control"), Some("no-cache"));
    assert_eq!(reply.events().last().unwrap().1, "[DONE]");
    let chunks = reply.event_json();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "echo: hello big world");
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

#[test]
fn chat_tool_call_round_trip() {
    let mock = MockUpstream::start().unwrap();
    let reply = post(
        &mock,
        "/v1/chat/completions",
        &chat("mock-tool", "weather?"),
    );
    let body = reply.json();
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["id"], "call_mock_1");
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], TOOL_ARGUMENTS);

    let reply = post(
        &mock,
        "/v1/chat/completions",
        &with_stream(chat("mock-tool", "weather?")),
    );
    let chunks = reply.event_json();
    let first = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["id"], "call_mock_1");
    assert_eq!(first["function"]["name"], "get_weather");
    let fragments: Vec<&str> = chunks[1..]
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert!(fragments.len() >= 3);
    assert_eq!(fragments.concat(), TOOL_ARGUMENTS);

    let mut followup = chat("mock-tool", "weather?");
    let messages = followup["messages"].as_array_mut().unwrap();
    messages.push(body["choices"][0]["message"].clone());
    messages
        .push(json!({"role": "tool", "tool_call_id": "call_mock_1", "content": "22C and sunny"}));
    let reply = post(&mock, "/v1/chat/completions", &followup);
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "tool said: 22C and sunny"
    );
}

#[test]
fn responses_plain_stream_and_tools() {
    let mock = MockUpstream::start().unwrap();
    let request = json!({"model": "gpt-4o", "input": "hi there", "instructions": "be brief"});
    let body = post(&mock, "/v1/responses", &request).json();
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["instructions"], "be brief");
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["content"][0]["text"], "echo: hi there");
    assert_eq!(body["usage"]["input_tokens"], 4);
    assert_eq!(body["usage"]["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        body["usage"]["output_tokens_details"]["reasoning_tokens"],
        0
    );

    let reply = post(&mock, "/v1/responses", &with_stream(request));
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let events = reply.event_json();
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence_number"], i);
    }
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: hi there");
    assert_eq!(events[0]["type"], "response.created");
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["usage"]["total_tokens"], 7);

    let tool = json!({"model": "mock-tool", "input": [{"role": "user", "content": "weather?"}]});
    let body = post(&mock, "/v1/responses", &tool).json();
    let call = &body["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["id"], "fc_mock_1");
    assert_eq!(call["call_id"], "call_mock_1");
    assert_eq!(call["arguments"], TOOL_ARGUMENTS);
    assert_eq!(call["status"], "completed");

    let events = post(&mock, "/v1/responses", &with_stream(tool)).event_json();
    let deltas = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .count();
    assert!(deltas >= 3);
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "response.function_call_arguments.done")
    );

    let result = json!({"model": "mock-tool", "input": [
        {"role": "user", "content": "weather?"},
        call,
        {"type": "function_call_output", "call_id": "call_mock_1", "output": "rain"}
    ]});
    let body = post(&mock, "/v1/responses", &result).json();
    assert_eq!(body["output"][0]["content"][0]["text"], "tool said: rain");
}

#[test]
fn anthropic_messages_plain_stream_and_tools() {
    let mock = MockUpstream::start().unwrap();
    let request = json!({"model": "claude-x", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let reply = post(&mock, "/v1/messages", &request);
    assert_eq!(reply.header("request-id"), Some("req_mock_1"));
    let body = reply.json();
    assert_eq!(body["type"], "message");
    assert_eq!(body["content"][0]["text"], "echo: hi");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 1);

    let reply = post(&mock, "/v1/messages", &with_stream(request));
    let events = reply.event_json();
    assert_eq!(events[0]["type"], "message_start");
    assert_eq!(events.last().unwrap()["type"], "message_stop");
    let text: String = events
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, "echo: hi");

    let tool = json!({"model": "mock-tool", "max_tokens": 100, "messages": [{"role": "user", "content": "weather?"}]});
    let body = post(&mock, "/v1/messages", &tool).json();
    assert_eq!(body["stop_reason"], "tool_use");
    assert_eq!(body["content"][0]["type"], "tool_use");
    assert_eq!(body["content"][0]["id"], "toolu_mock_1");
    assert_eq!(
        body["content"][0]["input"],
        json!({"city": "Paris", "unit": "celsius"})
    );

    let events = post(&mock, "/v1/messages", &with_stream(tool)).event_json();
    let partial: String = events
        .iter()
        .filter_map(|e| e["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(partial, TOOL_ARGUMENTS);

    let result = json!({"model": "mock-tool", "max_tokens": 100, "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": body["content"]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_mock_1", "content": "snow"}]}
    ]});
    let body = post(&mock, "/v1/messages", &result).json();
    assert_eq!(body["content"][0]["text"], "tool said: snow");
}

#[test]
fn error_models_use_each_provider_format() {
    let mock = MockUpstream::start().unwrap();
    for (code, openai_type, anthropic_type) in [
        (429, "rate_limit_error", "rate_limit_error"),
        (500, "server_error", "api_error"),
        (400, "invalid_request_error", "invalid_request_error"),
    ] {
        let model = format!("mock-error-{code}");
        for stream in [false, true] {
            let mut request = chat(&model, "x");
            request["stream"] = Value::Bool(stream);
            let reply = post(&mock, "/v1/chat/completions", &request);
            assert_eq!(reply.status, code);
            assert_eq!(reply.header("content-type"), Some("application/json"));
            let body = reply.json();
            assert_eq!(body["error"]["type"], openai_type);
            assert!(body["error"]["message"].is_string());
            assert!(body["error"].get("param").is_some());

            request["max_tokens"] = json!(10);
            let reply = post(&mock, "/v1/messages", &request);
            assert_eq!(reply.status, code);
            let body = reply.json();
            assert_eq!(body["type"], "error");
            assert_eq!(body["error"]["type"], anthropic_type);
        }
    }
}

#[test]
fn malformed_json_and_unknown_routes() {
    let mock = MockUpstream::start().unwrap();
    let reply = post_raw(&mock, "/v1/chat/completions", "{not json");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    let reply = post_raw(&mock, "/v1/messages", "[1, 2]");
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
    assert_eq!(reply.json()["type"], "error");
    let reply = post_raw(&mock, "/v1/nothing", "{}");
    assert_eq!(reply.status, 404);
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/v1/nothing")
    );
    let reply = get(&mock, "/v1/chat/completions", &[]);
    assert_eq!(reply.status, 404);
}

#[test]
fn embeddings_and_models() {
    let mock = MockUpstream::start().unwrap();
    let request = json!({"model": "text-embedding-3-small", "input": ["a", "b c"]});
    let first = post(&mock, "/v1/embeddings", &request).json();
    assert_eq!(first["object"], "list");
    assert_eq!(first["data"][1]["index"], 1);
    assert_eq!(first["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(first["usage"]["prompt_tokens"], 3);
    let second = post(&mock, "/v1/embeddings", &request).json();
    assert_eq!(first["data"], second["data"]);
    let reply = post(&mock, "/v1/embeddings", &json!({"model": "e"}));
    assert_eq!(reply.status, 400);

    let models = get(&mock, "/v1/models", &[]).json();
    assert_eq!(models["object"], "list");
    assert!(
        models["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["id"] == "mock-tool")
    );
    let model = get(&mock, "/v1/models/gpt-4o", &[]).json();
    assert_eq!(
        model,
        json!({"id": "gpt-4o", "object": "model", "created": 1_700_000_000, "owned_by": "llmtrail-mock"})
    );
    let model = get(
        &mock,
        "/v1/models/claude-x",
        &[("anthropic-version", "2023-06-01")],
    )
    .json();
    assert_eq!(model["type"], "model");
    assert_eq!(model["id"], "claude-x");
}

#[test]
fn records_requests() {
    let mock = MockUpstream::start().unwrap();
    assert_eq!(mock.request_count(), 0);
    post(&mock, "/v1/chat/completions", &chat("gpt-4o", "first"));
    get(&mock, "/v1/models", &[("X-Custom", "Value")]);
    assert_eq!(mock.request_count(), 2);
    let requests = mock.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].body_json().unwrap(), chat("gpt-4o", "first"));
    assert_eq!(requests[1].method, "GET");
    assert!(
        requests[1]
            .headers
            .contains(&("x-custom".to_owned(), "Value".to_owned()))
    );
    assert!(requests[1].body.is_empty());
}

#[test]
fn slow_stream_delivers_the_first_chunk_before_the_last_is_sent() {
    let mock = MockUpstream::start().unwrap();
    let start = Instant::now();
    let response = agent(Duration::from_secs(20))
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .send(with_stream(chat("mock-slow-300", "tick tock")).to_string())
        .unwrap();
    let mut reader = BufReader::new(response.into_body().into_reader());
    let mut arrivals = Vec::new();
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        if line.starts_with("data: ") {
            arrivals.push((start.elapsed(), line.trim_end().to_owned()));
        }
        line.clear();
    }
    // arrivals[0] is the role chunk; the first content chunk follows it.
    let first_content = arrivals[1].0;
    assert!(
        arrivals[1].1.contains("\"content\":\"ech\""),
        "{}",
        arrivals[1].1
    );
    let last = arrivals.last().unwrap();
    assert_eq!(last.1, "data: [DONE]");
    let contents = arrivals
        .iter()
        .filter(|(_, d)| d.contains("\"content\":"))
        .count();
    // The role chunk has `"content":""` too.
    assert_eq!(contents, 1 + llmtrail_mock_upstream::SLOW_CHUNKS);
    assert!(last.0 >= Duration::from_millis(1500), "{:?}", last.0);
    assert!(
        first_content + Duration::from_millis(900) <= last.0,
        "first content at {first_content:?}, end at {:?}",
        last.0
    );
    assert!(arrivals[0].0 < first_content);

    let start = Instant::now();
    let reply = post(
        &mock,
        "/v1/messages",
        &json!({"model": "mock-slow-100", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
    );
    assert!(start.elapsed() >= Duration::from_millis(500));
    assert_eq!(reply.json()["content"][0]["text"], "echo: x");
}

#[test]
fn reset_stream_ends_without_the_last_chunk() {
    let mock = MockUpstream::start().unwrap();
    let mut stream = raw_post(
        mock.addr(),
        "/v1/chat/completions",
        &with_stream(chat("mock-reset", "hello there friend")),
    );
    let bytes = read_all(&mut stream);
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("transfer-encoding: chunked"), "{text}");
    assert_eq!(text.matches("data: ").count(), 2, "{text}");
    assert!(!text.ends_with("0\r\n\r\n"), "{text}");

    // ureq sees a body that breaks off.
    let response = agent(Duration::from_secs(10))
        .post(format!("{}/v1/messages", mock.base_url()))
        .send(with_stream(chat("mock-reset", "x")).to_string())
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.into_body().read_to_string().is_err());

    let mut stream = raw_post(
        mock.addr(),
        "/v1/responses",
        &json!({"model": "mock-reset", "input": "x"}),
    );
    assert!(read_all(&mut stream).is_empty());
}

#[test]
fn hang_holds_until_the_mock_is_dropped() {
    let mock = MockUpstream::start().unwrap();
    let start = Instant::now();
    let result = agent(Duration::from_millis(300))
        .post(format!("{}/v1/chat/completions", mock.base_url()))
        .send(chat("mock-hang", "x").to_string());
    assert!(matches!(result, Err(ureq::Error::Timeout(_))), "{result:?}");
    assert!(start.elapsed() >= Duration::from_millis(300));

    let mut stream = raw_post(mock.addr(), "/v1/messages", &chat("mock-hang", "x"));
    // Wait until the mock has read the request, so that it is hanging rather than unread.
    let deadline = Instant::now() + Duration::from_secs(5);
    while mock.request_count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(mock.request_count(), 2);
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 16];
    let err = stream.read(&mut buf).unwrap_err();
    assert!(matches!(
        err.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ));
    drop(mock);
    assert!(read_all(&mut stream).is_empty());
}

#[test]
fn garbage_answers() {
    let mock = MockUpstream::start().unwrap();
    let reply = post(&mock, "/v1/chat/completions", &chat("mock-garbage", "x"));
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert!(serde_json::from_str::<Value>(&reply.body).is_err());

    let reply = post(
        &mock,
        "/v1/messages",
        &with_stream(chat("mock-garbage", "x")),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("text/event-stream"));
    let data_lines: Vec<&str> = reply
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert!(data_lines.len() >= 3);
    assert!(
        data_lines
            .iter()
            .all(|d| serde_json::from_str::<Value>(d).is_err())
    );
}

#[test]
fn long_answers_have_the_exact_size() {
    let mock = MockUpstream::start().unwrap();
    let body = post(
        &mock,
        "/v1/chat/completions",
        &chat("mock-long-100000", "x"),
    )
    .json();
    let text = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text.len(), 100_000);

    let reply = post(
        &mock,
        "/v1/messages",
        &with_stream(json!({"model": "mock-long-5000", "max_tokens": 1, "messages": []})),
    );
    let deltas: Vec<String> = reply
        .event_json()
        .iter()
        .filter_map(|e| e["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deltas.concat().len(), 5000);
    assert_eq!(deltas.len(), 5);
    assert!(deltas.iter().all(|d| d.len() <= 1024));
}

#[test]
fn start_on_a_taken_port_fails() {
    let mock = MockUpstream::start().unwrap();
    assert!(MockUpstream::start_on(mock.addr()).is_err());
    assert!(mock.base_url().starts_with("http://127.0.0.1:"));
}

#[tokio::test(flavor = "current_thread")]
async fn runs_inside_a_current_thread_runtime() {
    let mock = MockUpstream::start().unwrap();
    let url = format!("{}/v1/models/x", mock.base_url());
    let status = tokio::task::spawn_blocking(move || {
        agent(Duration::from_secs(10))
            .get(url)
            .call()
            .unwrap()
            .status()
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert_eq!(mock.request_count(), 1);
    drop(mock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_inside_a_multi_thread_runtime() {
    let mock = MockUpstream::start().unwrap();
    let url = format!("{}/v1/models", mock.base_url());
    let status = tokio::task::spawn_blocking(move || {
        agent(Duration::from_secs(10))
            .get(url)
            .call()
            .unwrap()
            .status()
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    drop(mock);
}

#[test]
fn binary_prints_its_address_and_serves() {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_llmtrail-mock-upstream"))
        .args(["--listen", "127.0.0.1:0", "--no-record"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let response = agent(Duration::from_secs(10))
        .post(format!("http://{addr}/v1/chat/completions"))
        .send(chat("gpt-4o", "bin").to_string());
    child.kill().unwrap();
    child.wait().unwrap();
    let reply = into_reply(response.unwrap());
    assert_eq!(
        reply.json()["choices"][0]["message"]["content"],
        "echo: bin"
    );
}
