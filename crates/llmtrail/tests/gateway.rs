//! The gateway end to end: the real binary forwarding to a mock upstream, then the trail read
//! back through the API. Raw bodies are compared byte for byte with what was sent and received.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Server, agent, run, write_config};
use llmtrail_mock_upstream::MockUpstream;
use serde_json::{Value, json};

fn gateway_config(dir: &std::path::Path, upstream: &str, extra: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "[gateway]\nmax_body_bytes = 65536\nresponse_timeout_ms = 1500\nidle_timeout_ms = 1500\n{extra}\n\
             [gateway.upstreams.openai]\nbase_url = \"{upstream}\"\napi_key_env = \"REAL_OPENAI_KEY\"\n\
             [gateway.upstreams.anthropic]\nbase_url = \"{upstream}\"\napi_key_env = \"REAL_ANTHROPIC_KEY\"\n"
        ),
    )
}

struct Answer {
    status: u16,
    request_id: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

fn call(server: &Server, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
    let mut req = agent().post(format!("{}{path}", server.url));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let request_id = resp
        .headers()
        .get("x-llmtrail-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.body_mut().read_to_vec().unwrap_or_default();
    Answer {
        status,
        request_id,
        headers,
        body,
    }
}

fn event(server: &Server, id: &str) -> Value {
    let r = server.get(&format!("/api/v1/events/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["event"].clone()
}

/// Waits until the related events of `id` include one of `kind` (responses are written just
/// after the client has its answer).
fn related(server: &Server, id: &str, kind: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = server.get(&format!("/api/v1/events/{id}/related"));
        assert_eq!(r.status, 200, "{}", r.body);
        let events: Vec<Value> = r.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].clone())
            .collect();
        if events.iter().any(|e| e["kind"] == kind) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "no {kind} related to {id}: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn response_of(server: &Server, id: &str) -> Value {
    related(server, id, "llm.response")
        .into_iter()
        .find(|e| e["kind"] == "llm.response")
        .unwrap()
}

#[test]
fn a_plain_chat_is_recorded_exactly_with_who_made_it() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(
        tmp.path(),
        &mock.base_url(),
        "trusted_proxies = [\"127.0.0.1\"]",
    );
    let server = Server::start(&tmp.path().join("data"), &config);
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are the treasury assistant."},
            {"role": "user", "content": "What is our Q3 cash position?"}
        ],
        "temperature": 0.2,
        "user": "body-user"
    })
    .to_string();
    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client-own-key"),
            ("x-llmtrail-user", "u-1042"),
            ("x-llmtrail-session", "s-77"),
            ("x-llmtrail-tags", "app=treasury-bot"),
            ("x-forwarded-for", "203.0.113.7"),
            ("user-agent", "interop-test/1"),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 200);
    let id = a.request_id.clone().unwrap();

    // The upstream got the request unchanged, with the client's own key, and none of ours.
    let got = mock.requests().pop().unwrap();
    assert_eq!(got.body, body.as_bytes());
    assert_eq!(
        got.header("authorization"),
        Some("Bearer sk-client-own-key")
    );
    assert!(
        got.headers
            .iter()
            .all(|(k, _)| !k.starts_with("x-llmtrail"))
    );

    let req = event(&server, &id);
    assert_eq!(req["kind"], "llm.request");
    assert_eq!(req["body"]["raw"], body);
    assert_eq!(req["body"]["gen_ai.request.model"], "gpt-4o");
    assert_eq!(req["body"]["gen_ai.provider.name"], "openai");
    assert_eq!(req["body"]["parameters"]["gen_ai.request.temperature"], 0.2);
    let messages = req["body"]["gen_ai.input.messages"].as_array().unwrap();
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(
        messages[1]["parts"][0]["content"],
        "What is our Q3 cash position?"
    );
    assert_eq!(req["actor"]["user"], "u-1042");
    assert_eq!(req["actor"]["session"], "s-77");
    assert_eq!(req["actor"]["source_ip"], "203.0.113.7");
    assert_eq!(req["actor"]["user_agent"], "interop-test/1");
    assert!(
        req["actor"]["api_key_id"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(!req.to_string().contains("sk-client-own-key"));
    assert_eq!(req["tags"]["app"], "treasury-bot");

    let resp = response_of(&server, &id);
    assert_eq!(resp["body"]["status"], "ok");
    assert_eq!(resp["body"]["request_id"], id.as_str());
    assert_eq!(
        resp["body"]["raw"].as_str().unwrap().as_bytes(),
        &a.body[..]
    );
    let text = &resp["body"]["gen_ai.output.messages"][0]["parts"][0]["content"];
    assert_eq!(text, &a.json()["choices"][0]["message"]["content"]);
    assert_eq!(
        resp["body"]["usage"]["gen_ai.usage.output_tokens"],
        a.json()["usage"]["completion_tokens"]
    );
    assert_eq!(resp["body"]["http_status"], 200);
    assert!(resp["body"]["latency_ms"].as_f64().unwrap() > 0.0);
    let provider_id = a.headers.iter().find(|(k, _)| k == "x-request-id").unwrap();
    assert_eq!(
        resp["body"]["attributes"]["llmtrail.upstream_request_id"],
        provider_id.1.as_str()
    );
}

#[test]
fn tool_results_become_tool_calls_linked_to_the_response_that_asked() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "");
    let server = Server::start(&tmp.path().join("data"), &config);
    let headers = [
        ("content-type", "application/json"),
        ("x-api-key", "sk-ant-client"),
        ("anthropic-version", "2023-06-01"),
        ("x-llmtrail-user", "u-9"),
    ];
    let first = json!({
        "model": "mock-tool", "max_tokens": 100,
        "system": "Use tools when useful.",
        "tools": [{"name": "get_weather", "description": "Weather for a city",
                   "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "messages": [{"role": "user", "content": "Weather in Paris?"}]
    });
    let a = call(
        &server,
        "/v1/messages",
        &headers,
        first.to_string().as_bytes(),
    );
    assert_eq!(a.status, 200);
    let tool_use = a.json()["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .cloned()
        .unwrap();
    let first_id = a.request_id.unwrap();
    let req = event(&server, &first_id);
    assert_eq!(
        req["body"]["gen_ai.system_instructions"][0]["content"],
        "Use tools when useful."
    );
    assert_eq!(
        req["body"]["gen_ai.tool.definitions"][0]["name"],
        "get_weather"
    );
    let resp = response_of(&server, &first_id);
    let part = &resp["body"]["gen_ai.output.messages"][0]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "tool_call")
        .cloned()
        .unwrap();
    assert_eq!(part["name"], "get_weather");
    assert_eq!(part["id"], tool_use["id"]);
    assert_eq!(part["arguments"], tool_use["input"]);

    let second = json!({
        "model": "mock-tool", "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [tool_use.clone()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use["id"], "content": "18°C, light rain"}]}
        ]
    });
    let b = call(
        &server,
        "/v1/messages",
        &headers,
        second.to_string().as_bytes(),
    );
    assert_eq!(b.status, 200);
    let second_id = b.request_id.unwrap();
    let calls: Vec<Value> = related(&server, &second_id, "tool.call")
        .into_iter()
        .filter(|e| e["kind"] == "tool.call")
        .collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let call = &calls[0]["body"];
    assert_eq!(call["gen_ai.tool.name"], "get_weather");
    assert_eq!(call["gen_ai.tool.call.id"], tool_use["id"]);
    assert_eq!(call["gen_ai.tool.call.arguments"], tool_use["input"]);
    assert_eq!(call["gen_ai.tool.call.result"], "18°C, light rain");
    assert_eq!(call["status"], "ok");
    // It points at the response that asked for it, so the first request's trail has it too.
    assert_eq!(call["request_id"], resp["id"]);
    let trail = related(&server, &first_id, "tool.call");
    assert!(trail.iter().any(|e| e["id"] == calls[0]["id"]));
    assert_eq!(calls[0]["actor"]["user"], "u-9");
}

/// An upstream written for this test: it sends the first event of a stream, then waits until
/// the test says it has seen that event before sending the rest. A gateway that buffered the
/// stream would make the test wait forever (and fail on its timeout).
fn gated_upstream() -> (String, mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut len = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body).unwrap();
        let mut out = stream;
        let chunk = |s: &str| format!("{:x}\r\n{s}\r\n", s.len());
        let first = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"first \"},\"finish_reason\":null}]}\n\n";
        write!(
            out,
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n{}",
            chunk(first)
        )
        .unwrap();
        out.flush().unwrap();
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let last = "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"last\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        write!(out, "{}0\r\n\r\n", chunk(last)).unwrap();
        out.flush().unwrap();
    });
    (url, tx, handle)
}

#[test]
fn streams_pass_through_chunk_by_chunk_and_are_reassembled() {
    let (upstream, go, handle) = gated_upstream();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &upstream, "");
    let server = Server::start(&tmp.path().join("data"), &config);
    let body =
        json!({"model": "gpt-4o", "stream": true, "messages": [{"role": "user", "content": "go"}]});
    let mut resp = agent()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    assert_eq!(resp.status(), 200);
    let id = resp.headers()["x-llmtrail-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut reader = BufReader::new(resp.body_mut().as_reader());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("first "), "{first}");
    // Only now may the upstream send the rest.
    go.send(()).unwrap();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("[DONE]"));
    handle.join().unwrap();

    let r = response_of(&server, &id);
    assert_eq!(r["body"]["status"], "ok");
    assert_eq!(r["body"]["streamed"], true);
    assert_eq!(
        r["body"]["gen_ai.output.messages"][0]["parts"][0]["content"],
        "first last"
    );
    assert_eq!(r["body"]["gen_ai.response.finish_reasons"][0], "stop");
    assert_eq!(r["body"]["raw"].as_str().unwrap(), format!("{first}{rest}"));
    assert!(
        r["body"]["time_to_first_token_ms"].as_f64().unwrap()
            <= r["body"]["latency_ms"].as_f64().unwrap()
    );
}

#[test]
fn a_client_that_leaves_mid_stream_leaves_an_incomplete_record() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "");
    let server = Server::start(&tmp.path().join("data"), &config);
    let body = json!({"model": "mock-slow-400", "stream": true, "messages": [{"role": "user", "content": "tell me a long story"}]});
    let mut resp = agent()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let id = resp.headers()["x-llmtrail-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut reader = BufReader::new(resp.body_mut().as_reader());
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || !seen.ends_with("\n\n") {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        seen.push_str(&line);
    }
    drop(reader);
    drop(resp);
    let r = response_of(&server, &id);
    assert_eq!(r["body"]["status"], "incomplete");
    assert_eq!(r["body"]["error"]["error.type"], "client_aborted");
    let raw = r["body"]["raw"].as_str().unwrap();
    assert!(
        raw.starts_with(&seen),
        "raw {raw:?} does not start with what the client saw"
    );
    assert!(!raw.contains("[DONE]"));
}

#[test]
fn bad_requests_are_refused_clearly_and_kept() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "");
    let server = Server::start(&tmp.path().join("data"), &config);
    let json_ct = [("content-type", "application/json")];

    let a = call(
        &server,
        "/v1/chat/completions",
        &json_ct,
        b"{\"model\": \"gpt-4o\", \"messages\": [",
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], "invalid_json");
    let e = event(&server, a.request_id.as_ref().unwrap());
    assert_eq!(e["body"]["raw"], "{\"model\": \"gpt-4o\", \"messages\": [");
    assert_eq!(e["body"]["attributes"]["llmtrail.rejected"], "invalid_json");
    let r = response_of(&server, a.request_id.as_ref().unwrap());
    assert_eq!(r["body"]["http_status"], 400);

    let a = call(
        &server,
        "/v1/messages",
        &json_ct,
        b"{\"model\":\"c\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}",
    );
    assert_eq!(a.status, 400);
    assert_eq!(
        a.json()["type"],
        "error",
        "anthropic routes answer in anthropic's shape"
    );
    assert_eq!(a.json()["error"]["code"], "invalid_utf8");
    let e = event(&server, a.request_id.as_ref().unwrap());
    assert_eq!(e["body"]["attributes"]["llmtrail.raw_encoding"], "base64");

    let a = call(&server, "/v1/chat/completions", &json_ct, b"[1,2,3]");
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], "invalid_request");

    let huge = format!(
        "{{\"model\":\"gpt-4o\",\"messages\":[{{\"role\":\"user\",\"content\":\"{}\"}}]}}",
        "A".repeat(70_000)
    );
    let a = call(&server, "/v1/chat/completions", &json_ct, huge.as_bytes());
    assert_eq!(a.status, 413);
    assert_eq!(a.json()["error"]["code"], "body_too_large");
    let e = event(&server, a.request_id.as_ref().unwrap());
    assert_eq!(
        e["body"]["raw"].as_str().unwrap().len(),
        65536,
        "the part read is kept"
    );

    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("x-llmtrail-user", &"u".repeat(300)),
        ],
        b"{\"model\":\"gpt-4o\",\"messages\":[]}",
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.json()["error"]["code"], "invalid_header");

    let big_header = "h".repeat(70_000);
    let a = call(
        &server,
        "/v1/chat/completions",
        &[("x-big", &big_header)],
        b"{}",
    );
    assert_eq!(a.status, 431);

    assert_eq!(mock.request_count(), 0, "nothing bad was forwarded");
}

#[test]
fn upstream_faults_are_answered_and_recorded() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "");
    let server = Server::start(&tmp.path().join("data"), &config);
    let ct = [("content-type", "application/json")];
    let req = |model: &str, stream: bool| {
        json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]})
            .to_string()
    };

    // Provider errors pass through with their status and body.
    let a = call(
        &server,
        "/v1/chat/completions",
        &ct,
        req("mock-error-429", false).as_bytes(),
    );
    assert_eq!(a.status, 429);
    let r = response_of(&server, a.request_id.as_ref().unwrap());
    assert_eq!(r["body"]["status"], "error");
    assert_eq!(r["body"]["http_status"], 429);
    assert_eq!(r["body"]["raw"].as_str().unwrap().as_bytes(), &a.body[..]);
    assert!(r["body"]["error_message"].is_string());

    // A hanging upstream: 504 after response_timeout_ms.
    let a = call(
        &server,
        "/v1/chat/completions",
        &ct,
        req("mock-hang", false).as_bytes(),
    );
    assert_eq!(a.status, 504);
    assert_eq!(a.json()["error"]["code"], "upstream_timeout");
    let r = response_of(&server, a.request_id.as_ref().unwrap());
    assert_eq!(r["body"]["error"]["code"], "upstream_timeout");

    // A reset in the middle of a stream: the client sees a broken stream, the record keeps
    // what came and says how it ended.
    let mut resp = agent()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .send(req("mock-reset", true).as_bytes())
        .unwrap();
    let id = resp.headers()["x-llmtrail-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut got = Vec::new();
    let read = resp.body_mut().as_reader().read_to_end(&mut got);
    assert!(read.is_err() || !String::from_utf8_lossy(&got).contains("[DONE]"));
    let r = response_of(&server, &id);
    assert_eq!(r["body"]["status"], "incomplete");
    assert_eq!(r["body"]["error"]["error.type"], "upstream_reset");
    assert!(r["body"]["raw"].as_str().unwrap().starts_with("data: "));

    // Garbage instead of SSE: passed through as is, recorded raw, flagged.
    let a = call(
        &server,
        "/v1/chat/completions",
        &ct,
        req("mock-garbage", true).as_bytes(),
    );
    assert_eq!(a.status, 200);
    let r = response_of(&server, a.request_id.as_ref().unwrap());
    assert_eq!(r["body"]["status"], "error");
    assert_eq!(r["body"]["error"]["error.type"], "invalid_response");
    assert_eq!(r["body"]["raw"].as_str().unwrap().as_bytes(), &a.body[..]);

    // Nobody listening: 502.
    drop(mock);
    let a = call(
        &server,
        "/v1/chat/completions",
        &ct,
        req("gpt-4o", false).as_bytes(),
    );
    assert_eq!(a.status, 502);
    assert_eq!(a.json()["error"]["code"], "upstream_unreachable");
    let r = response_of(&server, a.request_id.as_ref().unwrap());
    assert_eq!(r["body"]["http_status"], 502);
}

#[test]
fn virtual_keys_carry_identity_hide_the_real_key_and_revoke_at_once() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "require_virtual_keys = true");
    let data = tmp.path().join("data");
    let server = Server::start_with_env(
        &data,
        &config,
        &[
            ("REAL_OPENAI_KEY", "sk-real-openai"),
            ("REAL_ANTHROPIC_KEY", "sk-real-anthropic"),
        ],
    );
    let data_arg = data.to_str().unwrap();
    let (code, out, err) = run(&[
        "keys",
        "create",
        "--user",
        "u-1042",
        "--role",
        "finance",
        "--department",
        "treasury",
        "--json",
        "--data-dir",
        data_arg,
    ]);
    assert_eq!(code, 0, "{err}");
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let key = created["key"].as_str().unwrap().to_owned();
    let key_id = created["id"].as_str().unwrap().to_owned();
    let body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).to_string();

    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {key}")),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(
        mock.requests().pop().unwrap().header("authorization"),
        Some("Bearer sk-real-openai")
    );
    let e = event(&server, a.request_id.as_ref().unwrap());
    assert_eq!(e["actor"]["user"], "u-1042");
    assert_eq!(e["actor"]["role"], "finance");
    assert_eq!(e["actor"]["department"], "treasury");
    assert_eq!(e["actor"]["api_key_id"], key_id.as_str());

    // The Anthropic header works the same way.
    let a = call(
        &server,
        "/v1/messages",
        &[("content-type", "application/json"), ("x-api-key", &key)],
        json!({"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}).to_string().as_bytes(),
    );
    assert_eq!(a.status, 200);
    assert_eq!(
        mock.requests().pop().unwrap().header("x-api-key"),
        Some("sk-real-anthropic")
    );

    // A provider key of the client's own is refused when virtual keys are required.
    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-own"),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "virtual_key_required");

    let (code, out, _) = run(&["keys", "list", "--data-dir", data_arg]);
    assert_eq!(code, 0);
    assert!(out.contains(&key_id) && out.contains("active") && !out.contains(&key));

    // Revocation takes effect on the next request, without a restart.
    let (code, _, err) = run(&["keys", "revoke", &key_id, "--data-dir", data_arg]);
    assert_eq!(code, 0, "{err}");
    let before = mock.request_count();
    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", &format!("Bearer {key}")),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "revoked_key");
    assert_eq!(mock.request_count(), before);
    let audit = event(&server, a.request_id.as_ref().unwrap());
    assert_eq!(audit["kind"], "audit");
    assert_eq!(audit["body"]["outcome"], "denied");
    assert_eq!(audit["body"]["reason"], "revoked_key");
    assert_eq!(audit["body"]["target"], key_id.as_str());

    let a = call(
        &server,
        "/v1/chat/completions",
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer llmt_vk_madeup"),
        ],
        body.as_bytes(),
    );
    assert_eq!(a.status, 401);
    assert_eq!(a.json()["error"]["code"], "unknown_key");
}

#[test]
fn the_in_flight_limit_answers_503() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let config = gateway_config(tmp.path(), &mock.base_url(), "max_in_flight = 1");
    let server = Server::start(&tmp.path().join("data"), &config);
    let slow = json!({"model": "mock-slow-300", "stream": true, "messages": [{"role": "user", "content": "x"}]}).to_string();
    let mut held = agent()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .send(slow.as_bytes())
        .unwrap();
    assert_eq!(held.status(), 200);
    let a = call(
        &server,
        "/v1/chat/completions",
        &[("content-type", "application/json")],
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "y"}]})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(a.status, 503);
    assert_eq!(a.json()["error"]["code"], "overloaded");
    assert!(a.headers.iter().any(|(k, _)| k == "retry-after"));
    let _ = held.body_mut().read_to_vec();
}
