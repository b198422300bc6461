//! The OTLP/HTTP receiver, end to end on the real binary: the official OpenTelemetry Python
//! SDK exports GenAI spans and log events (protobuf with gzip on `serve`'s listener, JSON on
//! the `[otlp] listen` listener), and the OpenAI instrumentation traces the official `openai`
//! client talking to the mock upstream; the script reads the events back through the API
//! (tests/interop/otel_sdk.py). Bad input is refused with the OTLP status codes and loses
//! nothing that was valid. `make test` installs the SDKs into `.venv`; `LLMTRAIL_PYTHON` may
//! name another interpreter that has them.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use common::{Reply, Server, agent, python, write_config};
use llmtrail_core::{SpanId, Trace, TraceId};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server with detection off (so the ledger holds exactly what OTLP sent), a 64 KiB OTLP
/// body limit and an OTLP-only listener; returns it and that listener's URL.
fn start(tmp: &std::path::Path) -> (Server, String) {
    let port = free_port();
    let config = write_config(
        tmp,
        &format!(
            "[detect]\nenabled = false\n\n[otlp]\nlisten = \"127.0.0.1:{port}\"\nmax_body_bytes = 65536\n"
        ),
    );
    let server = Server::start(&tmp.join("data"), &config);
    let otlp = format!("http://127.0.0.1:{port}");
    // The second listener binds before the first line is printed; wait for it anyway.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (server, otlp)
}

fn post(url: &str, headers: &[(&str, &str)], body: &[u8]) -> (Reply, Option<String>) {
    let mut req = agent().post(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (Reply { status, body }, retry_after)
}

#[test]
fn the_opentelemetry_sdk_exports_genai_spans_and_log_events() {
    let mock = llmtrail_mock_upstream::MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (server, otlp) = start(tmp.path());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let out = Command::new(python())
        .arg(dir.join("otel_sdk.py"))
        .current_dir(&dir)
        .env("LLMTRAIL_URL", &server.url)
        .env("LLMTRAIL_OTLP_URL", &otlp)
        .env("LLMTRAIL_MOCK_URL", mock.base_url())
        .env("LLMTRAIL_TOKEN", &server.token)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("OTEL_SDK_DISABLED", "false")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "otel_sdk.py failed:\n{stdout}\n{stderr}"
    );
    print!("{stdout}");
    assert_eq!(
        mock.requests().len(),
        2,
        "the instrumented client's two calls"
    );
    // Both listeners close cleanly on SIGTERM, with the final checkpoint.
    server.stop();
}

const GOOD: &str = r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174",
  "name":"chat gpt-4o","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000002000000000",
  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},
    {"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},
    {"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},
    {"key":"gen_ai.usage.input_tokens","value":{"intValue":"12"}},
    {"key":"gen_ai.input.messages","value":{"stringValue":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]"}}]}"#;

fn traces(spans: &[&str]) -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc"}}}}]}},"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

fn good_request_id() -> String {
    let trace = Trace {
        trace_id: Some(
            "5b8efff798038103d269b633813fc60c"
                .parse::<TraceId>()
                .unwrap(),
        ),
        span_id: Some("eee19b7ec3c1b174".parse::<SpanId>().unwrap()),
        parent_span_id: None,
    };
    let time = jiff::Timestamp::from_second(1_700_000_000).unwrap();
    llmtrail_otlp::ids::event_id(&trace, "otlp.traces/llm.request", time).to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn bad_otlp_input_is_refused_and_loses_nothing_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let (server, otlp) = start(tmp.path());
    let url = format!("{}/v1/traces", server.url);
    let auth = format!("Bearer {}", server.token);
    let json = [
        ("content-type", "application/json"),
        ("authorization", &auth),
    ];
    let proto = [
        ("content-type", "application/x-protobuf"),
        ("authorization", &auth),
    ];

    // No token, a wrong token: 401, nothing recorded.
    let (r, _) = post(&url, &json[..1], traces(&[GOOD]).as_bytes());
    assert_eq!(r.status, 401, "{}", r.body);
    let (r, _) = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer llmt_nope"),
        ],
        traces(&[GOOD]).as_bytes(),
    );
    assert_eq!(r.status, 401);

    // Wrong content type or encoding: 415.
    for (ct, ce) in [
        ("text/plain", None),
        ("application/grpc", None),
        ("application/json", Some("br")),
    ] {
        let mut h = vec![("content-type", ct), ("authorization", auth.as_str())];
        if let Some(ce) = ce {
            h.push(("content-encoding", ce));
        }
        let (r, retry) = post(&url, &h, traces(&[GOOD]).as_bytes());
        assert_eq!(r.status, 415, "{ct} {ce:?}: {}", r.body);
        assert!(retry.is_none());
    }

    // Undecodable: 400 (never retryable) with a google.rpc.Status saying why.
    let (r, _) = post(&url, &proto, b"\x0a\x20\x12\x05\x0a"); // truncated length-delimited field
    assert_eq!(r.status, 400);
    let (r, _) = post(&url, &json, b"{\"resourceSpans\": [");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["code"], 3);
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("JSON traces"),
        "{}",
        r.body
    );
    let (r, _) = post(&url, &json, b"{\"resourceSpans\": [\xff]}");
    assert_eq!(r.status, 400, "invalid UTF-8 in JSON");
    let (r, _) = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("authorization", &auth),
        ],
        b"not gzip at all",
    );
    assert_eq!(r.status, 400);

    // Over the 64 KiB limit, as sent or once inflated (a gzip bomb stops at the limit): 413.
    let big = traces(&[&GOOD.replace("chat gpt-4o", &"x".repeat(70_000))]);
    let (r, _) = post(&url, &json, big.as_bytes());
    assert_eq!(r.status, 413);
    let bomb = gzip(&vec![b' '; 8 << 20]);
    assert!(bomb.len() < 65_536);
    let (r, _) = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("authorization", &auth),
        ],
        &bomb,
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.body.contains("once decompressed"), "{}", r.body);

    assert_eq!(server.size(), 0, "nothing refused was recorded");

    // One good span, one with a short trace id, one with a bad attribute: the good one is
    // recorded, the others are counted in partial_success with the reason.
    let short = GOOD.replace("5b8efff798038103d269b633813fc60c", "5b8e");
    let bad_attr = GOOD.replace(r#"{"intValue":"12"}"#, r#"{"intValue":"twelve"}"#);
    let (r, _) = post(
        &url,
        &[
            ("content-type", "application/json"),
            ("content-encoding", "gzip"),
            ("authorization", &auth),
        ],
        &gzip(traces(&[GOOD, &short, &bad_attr]).as_bytes()),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["partialSuccess"]["rejectedSpans"], "2", "{v}");
    let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(
        msg.contains("spans[1]: traceId must be 32 hex digits"),
        "{msg}"
    );
    assert!(
        msg.contains("spans[2]: attribute `gen_ai.usage.input_tokens`"),
        "{msg}"
    );
    assert!(!msg.contains("twelve"), "values are never quoted");
    // (Before the read below: an admin's read is itself appended as an audit event.)
    assert_eq!(server.size(), 2, "one span: its request and response");
    let stored = server.get(&format!("/api/v1/events/{}", good_request_id()));
    assert_eq!(stored.status, 200, "{}", stored.body);
    let event = &stored.json()["event"];
    assert_eq!(
        event["body"]["gen_ai.input.messages"][0]["parts"][0]["content"],
        "hi"
    );
    assert_eq!(event["actor"]["agent"], "svc");

    // The OTLP-only listener serves the OTLP routes and nothing else.
    let (r, _) = post(&format!("{otlp}/v1/logs"), &json, b"{}");
    assert_eq!((r.status, r.body.as_str()), (200, "{}"));
    let (r, _) = post(&format!("{otlp}/v1/logs"), &proto, b"");
    assert_eq!((r.status, r.body.as_str()), (200, ""));
    let health = agent().get(format!("{otlp}/api/v1/health")).call().unwrap();
    assert_eq!(health.status().as_u16(), 404);
    server.stop();
}
