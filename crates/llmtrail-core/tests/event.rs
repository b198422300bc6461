//! Parsing, serialization, split/join and error behaviour of `Event`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use llmtrail_core::{
    AlertState, Body, Decision, Event, EventError, EventKind, FindingCategory, Part,
    ResponseStatus, Severity, ToolStatus, content_fields,
};
use serde_json::{Value, json};

const MINIMAL: &str = r#"{"kind":"llm.request","actor":{"user":"u-1042"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.input.messages":[{"role":"user","content":"hi"}]}}"#;

fn parse(v: Value) -> Result<Event, EventError> {
    Event::from_value(v)
}

/// One fully populated example per kind, as a client would send it.
fn examples() -> Vec<Value> {
    vec![
        json!({
            "id": "0192f7c4-9a2b-7cde-8f01-23456789abcd",
            "time": "2026-11-22T02:02:03.25+01:00",
            "kind": "llm.request",
            "actor": {
                "user": "u-1042", "role": "analyst", "department": "finance", "session": "s-9",
                "api_key_id": "key-7", "source_ip": "2001:db8::1", "user_agent": "sdk/1.2",
                "agent": "invoice-bot"
            },
            "trace": {
                "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
                "span_id": "00f067aa0ba902b7",
                "parent_span_id": "00f067aa0ba902b8"
            },
            "tags": {"env": "prod", "app": "billing"},
            "body": {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.operation.name": "chat",
                "gen_ai.conversation.id": "conv-1",
                "parameters": {
                    "gen_ai.request.temperature": 0.2,
                    "gen_ai.request.max_tokens": 512,
                    "gen_ai.request.top_p": 0.9,
                    "gen_ai.request.top_k": 40,
                    "gen_ai.request.stop_sequences": ["\n\n"],
                    "gen_ai.request.seed": -42,
                    "gen_ai.request.frequency_penalty": 0.5,
                    "gen_ai.request.presence_penalty": -0.5,
                    "gen_ai.request.choice.count": 2,
                    "stream": true,
                    "extra": {"response_format": {"type": "json_object"}, "user": "x"}
                },
                "attributes": {"server.address": "api.openai.com", "server.port": 443},
                "gen_ai.input.messages": [
                    {"role": "user", "name": "bob", "parts": [
                        {"type": "text", "content": "What is the weather?"},
                        {"type": "blob", "mime_type": "image/png", "modality": "image", "content": "iVBORw0KGgo="},
                        {"type": "uri", "modality": "image", "uri": "https://example.com/a.png"},
                        {"type": "file", "file_id": "file-123"}
                    ]},
                    {"role": "assistant", "parts": [
                        {"type": "reasoning", "content": "need a tool"},
                        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}
                    ]},
                    {"role": "tool", "parts": [
                        {"type": "tool_call_response", "id": "call_1", "response": {"temp": 21.5}}
                    ]}
                ],
                "gen_ai.system_instructions": [{"type": "text", "content": "Be brief."}],
                "gen_ai.tool.definitions": [
                    {"type": "function", "name": "get_weather", "description": "Weather by city",
                     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
                ],
                "raw": "{\"model\":\"gpt-4o\"}"
            }
        }),
        json!({
            "kind": "llm.response",
            "body": {
                "request_id": "0192f7c4-9a2b-7cde-8f01-23456789abcd",
                "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.response.finish_reasons": ["tool_calls"],
                "usage": {
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 35,
                    "total_tokens": 1235,
                    "gen_ai.usage.cache_read.input_tokens": 1024,
                    "gen_ai.usage.cache_creation.input_tokens": 0,
                    "gen_ai.usage.reasoning.output_tokens": 12
                },
                "latency_ms": 812.5,
                "time_to_first_token_ms": 120,
                "status": "ok",
                "http_status": 200,
                "streamed": true,
                "attributes": {"gen_ai.openai.response.service_tier": "default"},
                "gen_ai.output.messages": [
                    {"role": "assistant", "finish_reason": "tool_calls", "parts": [
                        {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                    ]}
                ],
                "raw": "{}"
            }
        }),
        json!({
            "kind": "llm.response",
            "body": {
                "status": "error",
                "http_status": 429,
                "error": {"error.type": "rate_limited", "code": "rate_limit_exceeded"},
                "error_message": "Rate limit reached for gpt-4o"
            }
        }),
        json!({
            "kind": "tool.call",
            "body": {
                "gen_ai.tool.name": "read_file",
                "gen_ai.tool.call.id": "call_9",
                "gen_ai.tool.type": "function",
                "gen_ai.conversation.id": "conv-1",
                "server": "filesystem-mcp",
                "request_id": "0192f7c4-9a2b-7cde-8f01-23456789abce",
                "status": "blocked",
                "is_error": true,
                "duration_ms": 0.75,
                "decision": "block",
                "decision_rule": "deny-ssh-keys",
                "attributes": {"mcp.protocol.version": "2025-06-18"},
                "gen_ai.tool.call.arguments": {"path": "~/.ssh/id_rsa"},
                "gen_ai.tool.call.result": [{"type": "text", "text": "denied"}]
            }
        }),
        json!({
            "kind": "finding",
            "body": {
                "event_id": "0192f7c4-9a2b-7cde-8f01-23456789abcd",
                "category": "secret",
                "type": "aws_access_key",
                "severity": "critical",
                "confidence": 0.97,
                "detector": "regex-secrets",
                "rule_id": "aws-akid",
                "location": {"field": "gen_ai.input.messages", "message": 0, "role": "user", "part": 1, "start": 10, "end": 30},
                "preview": "AKIA…MPLE",
                "owasp": "LLM02",
                "atlas": "AML.T0057"
            }
        }),
        json!({
            "kind": "alert",
            "body": {
                "alert_id": "0192f7c4-9a2b-7cde-8f01-000000000001",
                "rule_id": "secret-in-prompt",
                "title": "Secret sent to a model",
                "severity": "high",
                "state": "acknowledged",
                "evidence": ["0192f7c4-9a2b-7cde-8f01-23456789abcd"],
                "by": "alice",
                "reason": "investigating"
            }
        }),
        json!({
            "kind": "audit",
            "body": {
                "action": "event.read",
                "target": "0192f7c4-9a2b-7cde-8f01-23456789abcd",
                "outcome": "denied",
                "reason": "no content:read permission",
                "details": {"fields": ["content"], "n": 1}
            }
        }),
    ]
}

#[test]
fn minimal_event_parses_with_v7_id_and_time() {
    let before = jiff::Timestamp::now();
    let event = Event::from_json_slice(MINIMAL.as_bytes()).unwrap();
    assert_eq!(event.id.get_version_num(), 7);
    assert!(event.time >= before);
    assert_eq!(event.kind(), EventKind::LlmRequest);
    assert_eq!(event.actor.user.as_deref(), Some("u-1042"));
    let Body::LlmRequest(body) = &event.body else {
        panic!("wrong body")
    };
    assert_eq!(body.provider, "openai");
    assert_eq!(body.model, "gpt-4o");
    assert_eq!(body.messages.len(), 1);
    assert_eq!(
        body.messages[0].parts,
        vec![Part::Text {
            content: "hi".into()
        }]
    );
}

#[test]
fn two_parses_of_the_same_input_get_distinct_ids() {
    let a = Event::from_json_slice(MINIMAL.as_bytes()).unwrap();
    let b = Event::from_json_slice(MINIMAL.as_bytes()).unwrap();
    assert_ne!(a.id, b.id);
}

#[test]
fn every_kind_round_trips() {
    let mut seen = Vec::new();
    for example in examples() {
        let event = parse(example.clone()).unwrap();
        seen.push(event.kind());
        let value = event.to_value();
        assert_eq!(value["kind"], example["kind"]);
        let again = parse(value.clone()).unwrap();
        assert_eq!(again, event);
        assert_eq!(again.to_value(), value);
        // Through JSON text too.
        let text = serde_json::to_vec(&value).unwrap();
        assert_eq!(Event::from_json_slice(&text).unwrap(), event);
        // And through serde's Deserialize.
        let via_serde: Event = serde_json::from_slice(&text).unwrap();
        assert_eq!(via_serde, event);
    }
    for kind in EventKind::ALL {
        assert!(seen.contains(&kind), "no example for {kind}");
    }
}

#[test]
fn output_shape_is_normalised() {
    let event = parse(examples().remove(0)).unwrap();
    let v = event.to_value();
    assert_eq!(v["id"], "0192f7c4-9a2b-7cde-8f01-23456789abcd");
    assert_eq!(v["time"], "2026-11-22T01:02:03.250000000Z");
    assert_eq!(v["actor"]["source_ip"], "2001:db8::1");
    // Whole-number floats stay numbers; the canonical form writes them without a fraction.
    assert_eq!(v["body"]["parameters"]["gen_ai.request.top_k"], 40.0);

    let minimal = Event::from_json_slice(MINIMAL.as_bytes())
        .unwrap()
        .to_value();
    let keys: Vec<&str> = minimal
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["actor", "body", "id", "kind", "time"]);
    assert_eq!(
        minimal["body"]["gen_ai.input.messages"],
        json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
    );
    let time = minimal["time"].as_str().unwrap();
    assert_eq!(time.len(), "2026-11-22T01:02:03.000000000Z".len());
    assert!(time.ends_with('Z'));
}

#[test]
fn uuid_forms_are_accepted_and_normalised() {
    let mut v = examples().remove(5);
    v["id"] = json!("{0192F7C4-9A2B-7CDE-8F01-23456789ABCD}");
    let event = parse(v).unwrap();
    assert_eq!(
        event.to_value()["id"],
        "0192f7c4-9a2b-7cde-8f01-23456789abcd"
    );
}

#[test]
fn typed_values_come_out_right() {
    let events: Vec<Event> = examples().into_iter().map(|v| parse(v).unwrap()).collect();
    match &events[1].body {
        Body::LlmResponse(r) => {
            assert_eq!(r.status, ResponseStatus::Ok);
            assert_eq!(r.usage.unwrap().input_tokens, 1200);
            assert_eq!(r.time_to_first_token_ms, Some(120.0));
        }
        other => panic!("{other:?}"),
    }
    match &events[3].body {
        Body::ToolCall(t) => {
            assert_eq!(t.status, ToolStatus::Blocked);
            assert_eq!(t.decision, Some(Decision::Block));
        }
        other => panic!("{other:?}"),
    }
    match &events[4].body {
        Body::Finding(f) => {
            assert_eq!(f.category, FindingCategory::Secret);
            assert_eq!(f.severity, Severity::Critical);
        }
        other => panic!("{other:?}"),
    }
    match &events[5].body {
        Body::Alert(a) => assert_eq!(a.state, AlertState::Acknowledged),
        other => panic!("{other:?}"),
    }
    assert!(Severity::Low < Severity::Critical);
}

#[test]
fn split_and_join_round_trip_every_kind() {
    for example in examples() {
        let event = parse(example).unwrap();
        let (meta, content) = event.split();
        let fields = content_fields(event.kind());
        let body = meta["body"].as_object().unwrap();
        for field in fields {
            assert!(!body.contains_key(*field), "{field} left in metadata");
        }
        if let Some(content) = &content {
            for key in content.as_object().unwrap().keys() {
                assert!(fields.contains(&key.as_str()), "{key} is not content");
            }
        }
        assert_eq!(
            Event::join(meta.clone(), content.clone()).unwrap(),
            event,
            "{}",
            event.kind()
        );

        // Content expired: still a valid event with the same metadata.
        let stripped = Event::join(meta.clone(), None).unwrap();
        assert_eq!(stripped.id, event.id);
        assert_eq!(stripped.kind(), event.kind());
        let (meta_again, no_content) = stripped.split();
        assert_eq!(meta_again, meta);
        assert_eq!(no_content, None);
    }
}

#[test]
fn split_of_contentless_kinds_yields_none() {
    for example in examples() {
        let event = parse(example).unwrap();
        if content_fields(event.kind()).is_empty() {
            assert_eq!(event.split(), (event.to_value(), None));
        }
    }
}

#[test]
fn content_fields_are_real_body_keys() {
    // Every listed content key appears in the fully populated example of its kind.
    for kind in [
        EventKind::LlmRequest,
        EventKind::LlmResponse,
        EventKind::ToolCall,
    ] {
        let mut present = std::collections::BTreeSet::new();
        for example in examples()
            .into_iter()
            .filter(|v| v["kind"] == kind.as_str())
        {
            let value = parse(example).unwrap().to_value();
            present.extend(value["body"].as_object().unwrap().keys().cloned());
        }
        for field in content_fields(kind) {
            assert!(present.contains(*field), "{kind}: {field}");
        }
    }
}

// ---- errors ----

#[test]
fn invalid_json_reports_line_and_column() {
    let err = Event::from_json_slice(b"{\n  \"kind\": \"audit\",\n  \"body\": {,}\n}").unwrap_err();
    let EventError::InvalidJson { line, column, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(line, 3);
    assert_eq!(column, 12);
    assert!(err.to_string().contains("line 3 column 12"), "{err}");
}

#[test]
fn invalid_utf8_is_named_with_offset() {
    let mut bytes = br#"{"kind":"audit","body":{"action":""#.to_vec();
    let offset = bytes.len();
    bytes.extend_from_slice(b"\xc3\x28\"}}");
    let err = Event::from_json_slice(&bytes).unwrap_err();
    assert_eq!(err, EventError::InvalidUtf8 { offset });
    assert!(err.to_string().contains("UTF-8"), "{err}");
}

#[test]
fn duplicate_keys_are_rejected() {
    let err = Event::from_json_slice(
        br#"{"kind":"audit","body":{"action":"a","outcome":"success","action":"b"}}"#,
    )
    .unwrap_err();
    assert!(matches!(err, EventError::InvalidJson { .. }), "{err:?}");
    assert!(err.to_string().contains("duplicate key `action`"), "{err}");
}

#[test]
fn unknown_kind_is_named() {
    let err = parse(json!({"kind": "llm.prompt", "body": {}})).unwrap_err();
    assert_eq!(
        err,
        EventError::UnknownKind {
            kind: "llm.prompt".into()
        }
    );
    assert!(err.to_string().contains("`llm.prompt`"), "{err}");
}

#[test]
fn unknown_fields_are_named_at_every_level() {
    let cases = [
        (json!({"kind": "audit", "colour": 1, "body": {}}), "/colour"),
        (
            json!({"kind": "audit", "actor": {"usr": "x"}, "body": {}}),
            "/actor/usr",
        ),
        (
            json!({"kind": "audit", "trace": {"traceid": "x"}, "body": {}}),
            "/trace/traceid",
        ),
        (
            json!({"kind": "audit", "body": {"action": "a", "outcome": "success", "extra": 1}}),
            "/body/extra",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.request.temperature": 1
            }}),
            "/body/gen_ai.request.temperature",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "x", "lang": "en"}]}]
            }}),
            "/body/gen_ai.input.messages/0/parts/0/lang",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.input.messages": [{"role": "user", "content": "x", "weight": 1}]
            }}),
            "/body/gen_ai.input.messages/0/weight",
        ),
    ];
    for (input, field) in cases {
        let err = parse(input).unwrap_err();
        assert_eq!(
            err,
            EventError::UnknownField {
                field: field.into()
            }
        );
        assert!(err.to_string().contains(field), "{err}");
    }
}

#[test]
fn open_maps_accept_anything() {
    let event = parse(json!({"kind": "audit", "body": {
        "action": "config.change", "outcome": "success",
        "details": {"any": {"thing": [1, "two", null]}}
    }}))
    .unwrap();
    assert_eq!(
        event.to_value()["body"]["details"]["any"]["thing"][1],
        "two"
    );
}

#[test]
fn missing_required_fields_are_named() {
    let cases = [
        (json!({"body": {}}), "/kind"),
        (json!({"kind": "audit"}), "/body"),
        (
            json!({"kind": "llm.request", "body": {"gen_ai.provider.name": "openai"}}),
            "/body/gen_ai.request.model",
        ),
        (
            json!({"kind": "tool.call", "body": {"gen_ai.tool.name": "t"}}),
            "/body/status",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "tool_call", "id": "1"}]}]
            }}),
            "/body/gen_ai.input.messages/0/parts/0/name",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"content": "no type"}]}]
            }}),
            "/body/gen_ai.input.messages/0/parts/0/type",
        ),
    ];
    for (input, field) in cases {
        let err = parse(input).unwrap_err();
        assert_eq!(
            err,
            EventError::MissingField {
                field: field.into()
            }
        );
        assert!(err.to_string().contains(field), "{err}");
    }
}

fn invalid_field(input: Value) -> String {
    match parse(input) {
        Err(EventError::InvalidValue { field, .. }) => field,
        other => panic!("expected InvalidValue, got {other:?}"),
    }
}

#[test]
fn bad_ip_is_rejected() {
    let field = invalid_field(json!({
        "kind": "audit", "actor": {"source_ip": "10.0.0.256"},
        "body": {"action": "a", "outcome": "success"}
    }));
    assert_eq!(field, "/actor/source_ip");
}

#[test]
fn bad_trace_ids_are_rejected() {
    for (trace, field) in [
        (
            json!({"trace_id": "4BF92F3577B34DA6A3CE929D0E0E4736"}),
            "/trace/trace_id",
        ),
        (
            json!({"trace_id": "00000000000000000000000000000000"}),
            "/trace/trace_id",
        ),
        (json!({"trace_id": "4bf92f3577b34da6"}), "/trace/trace_id"),
        (json!({"span_id": "00f067aa0ba902b"}), "/trace/span_id"),
        (json!({"parent_span_id": 12}), "/trace/parent_span_id"),
    ] {
        let got = invalid_field(json!({
            "kind": "audit", "trace": trace,
            "body": {"action": "a", "outcome": "success"}
        }));
        assert_eq!(got, field);
    }
}

#[test]
fn message_with_content_and_parts_is_rejected() {
    let err = parse(json!({"kind": "llm.request", "body": {
        "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
        "gen_ai.input.messages": [
            {"role": "user", "content": "hi"},
            {"role": "user", "content": "hi", "parts": [{"type": "text", "content": "hi"}]}
        ]
    }}))
    .unwrap_err();
    let EventError::InvalidValue { field, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(field, "/body/gen_ai.input.messages/1");
    assert!(
        reason.contains("`content`") && reason.contains("`parts`"),
        "{reason}"
    );
}

#[test]
fn message_needs_parts_or_content() {
    let field = invalid_field(json!({"kind": "llm.request", "body": {
        "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
        "gen_ai.input.messages": [{"role": "user"}]
    }}));
    assert_eq!(field, "/body/gen_ai.input.messages/0");
}

#[test]
fn other_invalid_values_are_named() {
    let audit = json!({"action": "a", "outcome": "success"});
    let cases = [
        (json!({"kind": 7, "body": audit}), "/kind"),
        (
            json!({"id": "not-a-uuid", "kind": "audit", "body": audit}),
            "/id",
        ),
        (
            json!({"time": "2026-11-22T01:02:03", "kind": "audit", "body": audit}),
            "/time",
        ),
        (
            json!({"time": 1_700_000_000, "kind": "audit", "body": audit}),
            "/time",
        ),
        (
            json!({"kind": "audit", "tags": {"a": 1}, "body": audit}),
            "/tags/a",
        ),
        (json!({"kind": "audit", "body": []}), "/body"),
        (
            json!({"kind": "audit", "body": {"action": "a", "outcome": "maybe"}}),
            "/body/outcome",
        ),
        (
            json!({"kind": "audit", "body": {"action": "", "outcome": "success"}}),
            "/body/action",
        ),
        (
            json!({"kind": "llm.response", "body": {"status": "ok", "latency_ms": -1}}),
            "/body/latency_ms",
        ),
        (
            json!({"kind": "llm.response", "body": {"status": "ok", "http_status": 70000}}),
            "/body/http_status",
        ),
        (
            json!({"kind": "llm.response", "body": {"status": "ok", "usage": {
                "gen_ai.usage.input_tokens": 1.5, "gen_ai.usage.output_tokens": 1}}}),
            "/body/usage/gen_ai.usage.input_tokens",
        ),
        (
            json!({"kind": "llm.response", "body": {"status": "ok", "request_id": "nope"}}),
            "/body/request_id",
        ),
        (
            json!({"kind": "finding", "body": {
                "event_id": "0192f7c4-9a2b-7cde-8f01-23456789abcd", "category": "pii",
                "type": "email", "severity": "low", "detector": "d", "confidence": 1.5}}),
            "/body/confidence",
        ),
        (
            json!({"kind": "finding", "body": {
                "event_id": "0192f7c4-9a2b-7cde-8f01-23456789abcd", "category": "spam",
                "type": "email", "severity": "low", "detector": "d"}}),
            "/body/category",
        ),
        (
            json!({"kind": "alert", "body": {
                "alert_id": "0192f7c4-9a2b-7cde-8f01-23456789abcd", "rule_id": "r",
                "title": "t", "severity": "low", "state": "open", "evidence": ["x"]}}),
            "/body/evidence/0",
        ),
        (
            json!({"kind": "llm.request", "body": {
                "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "video", "content": "x"}]}]
            }}),
            "/body/gen_ai.input.messages/0/parts/0/type",
        ),
    ];
    for (input, field) in cases {
        assert_eq!(invalid_field(input.clone()), field, "{input}");
    }
}

#[test]
fn errors_never_echo_values() {
    let secret = "sk-live-0123456789SECRET";
    let inputs = [
        json!({"kind": "audit", "id": secret, "body": {}}),
        json!({"kind": "audit", "time": secret, "body": {}}),
        json!({"kind": "audit", "actor": {"source_ip": secret}, "body": {}}),
        json!({"kind": "audit", "trace": {"trace_id": secret}, "body": {}}),
        json!({"kind": "audit", "body": {"action": "a", "outcome": secret}}),
        json!({"kind": "audit", "body": {"action": [secret], "outcome": "success"}}),
        json!({"kind": "llm.response", "body": {"status": "ok", "latency_ms": secret}}),
        json!({"kind": "llm.response", "body": {"status": "ok", "request_id": secret}}),
        json!({"kind": "llm.request", "body": {
            "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": secret}]}]}}),
        json!({"kind": "llm.request", "body": {
            "gen_ai.provider.name": "p", "gen_ai.request.model": "m",
            "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": 5}]}, secret]}}),
    ];
    for input in inputs {
        let err = parse(input.clone()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains("SECRET"), "{text}");
    }
    let err = Event::from_json_slice(
        format!("{{\"kind\":\"audit\",\"body\":\"{secret}\" x}}").as_bytes(),
    )
    .unwrap_err();
    assert!(!err.to_string().contains("SECRET"), "{err}");
}
