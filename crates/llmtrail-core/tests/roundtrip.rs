//! Properties over arbitrary events: JSON round trips keep the event and its canonical
//! bytes (so the same event always hashes the same), and split/join loses nothing.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions should fail loudly too"
)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use jiff::Timestamp;
use llmtrail_core::{
    Actor, Alert, AlertState, Audit, AuditOutcome, Body, Decision, Event, Finding, FindingCategory,
    LlmRequest, LlmResponse, Location, Message, Parameters, Part, ResponseError, ResponseStatus,
    Severity, SpanId, ToolCall, ToolDefinition, ToolStatus, Trace, TraceId, Usage,
    canonical::to_canonical_vec,
};
use proptest::option::of as opt;
use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use uuid::Uuid;

fn text() -> BoxedStrategy<String> {
    prop_oneof![
        "(?s).{0,12}",
        "[a-z ]{0,8}",
        Just("\u{1f600}\u{e000}\"\\\n".to_owned())
    ]
    .boxed()
}

fn name() -> BoxedStrategy<String> {
    "[a-z][a-z0-9_.-]{0,10}".boxed()
}

fn uuid() -> BoxedStrategy<Uuid> {
    any::<u128>().prop_map(Uuid::from_u128).boxed()
}

fn time() -> BoxedStrategy<Timestamp> {
    // Years 0000 to late 9999, any nanosecond.
    (-62_167_219_200i64..253_402_000_000, 0i32..1_000_000_000)
        .prop_map(|(s, ns)| Timestamp::new(s, ns).unwrap())
        .boxed()
}

fn finite() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

fn non_negative() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NORMAL | SUBNORMAL | ZERO
}

fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

fn object() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::btree_map(text(), json(), 0..3)
        .prop_map(|m| m.into_iter().collect())
        .boxed()
}

fn actor() -> BoxedStrategy<Actor> {
    (
        (opt(text()), opt(text()), opt(text()), opt(text())),
        (opt(text()), opt(any::<IpAddr>()), opt(text()), opt(text())),
    )
        .prop_map(
            |((user, role, department, session), (api_key_id, source_ip, user_agent, agent))| {
                Actor {
                    user,
                    role,
                    department,
                    session,
                    api_key_id,
                    source_ip,
                    user_agent,
                    agent,
                }
            },
        )
        .boxed()
}

fn trace() -> BoxedStrategy<Trace> {
    let span = || opt(any::<[u8; 8]>().prop_filter_map("non-zero", SpanId::from_bytes));
    (
        opt(any::<[u8; 16]>().prop_filter_map("non-zero", TraceId::from_bytes)),
        span(),
        span(),
    )
        .prop_map(|(trace_id, span_id, parent_span_id)| Trace {
            trace_id,
            span_id,
            parent_span_id,
        })
        .boxed()
}

fn part() -> BoxedStrategy<Part> {
    let media = || (opt(name()), opt(name()));
    prop_oneof![
        text().prop_map(|content| Part::Text { content }),
        (opt(text()), name(), opt(json())).prop_map(|(id, name, arguments)| Part::ToolCall {
            id,
            name,
            // `null` arguments are written as absent; generate the form that reads back.
            arguments: arguments.filter(|a| !a.is_null()),
        }),
        (opt(text()), json()).prop_map(|(id, response)| Part::ToolCallResponse { id, response }),
        text().prop_map(|content| Part::Reasoning { content }),
        (media(), text()).prop_map(|((mime_type, modality), content)| Part::Blob {
            mime_type,
            modality,
            content
        }),
        (media(), text()).prop_map(|((mime_type, modality), uri)| Part::Uri {
            mime_type,
            modality,
            uri
        }),
        (media(), text()).prop_map(|((mime_type, modality), file_id)| Part::File {
            mime_type,
            modality,
            file_id
        }),
    ]
    .boxed()
}

fn message() -> BoxedStrategy<Message> {
    (
        name(),
        opt(text()),
        prop::collection::vec(part(), 0..3),
        opt(name()),
    )
        .prop_map(|(role, name, parts, finish_reason)| Message {
            role,
            name,
            parts,
            finish_reason,
        })
        .boxed()
}

fn parameters() -> BoxedStrategy<Parameters> {
    (
        (
            opt(finite()),
            opt(any::<u64>()),
            opt(finite()),
            opt(finite()),
        ),
        (
            prop::collection::vec(text(), 0..2),
            opt(any::<i64>()),
            opt(finite()),
            opt(finite()),
        ),
        (opt(any::<u64>()), any::<bool>(), object()),
    )
        .prop_map(
            |(
                (temperature, max_tokens, top_p, top_k),
                (stop_sequences, seed, frequency_penalty, presence_penalty),
                (choice_count, stream, extra),
            )| Parameters {
                temperature,
                max_tokens,
                top_p,
                top_k,
                stop_sequences,
                seed,
                frequency_penalty,
                presence_penalty,
                choice_count,
                stream,
                extra,
            },
        )
        .boxed()
}

fn llm_request() -> BoxedStrategy<LlmRequest> {
    let tool = (name(), name(), opt(text()), opt(json())).prop_map(
        |(tool_type, name, description, parameters)| ToolDefinition {
            tool_type,
            name,
            description,
            parameters: parameters.filter(|p| !p.is_null()),
        },
    );
    (
        (name(), name(), opt(name()), opt(text())),
        (parameters(), object()),
        (
            prop::collection::vec(message(), 0..3),
            prop::collection::vec(part(), 0..2),
            prop::collection::vec(tool, 0..2),
            opt(text()),
        ),
    )
        .prop_map(
            |(
                (provider, model, operation, conversation_id),
                (parameters, attributes),
                (messages, system_instructions, tool_definitions, raw),
            )| LlmRequest {
                provider,
                model,
                operation,
                conversation_id,
                parameters,
                attributes,
                messages,
                system_instructions,
                tool_definitions,
                raw,
            },
        )
        .boxed()
}

fn llm_response() -> BoxedStrategy<LlmResponse> {
    let usage = (
        any::<u64>(),
        any::<u64>(),
        opt(any::<u64>()),
        opt(any::<u64>()),
        opt(any::<u64>()),
        opt(any::<u64>()),
    )
        .prop_map(|(i, o, t, cr, cc, r)| Usage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: t,
            cache_read_input_tokens: cr,
            cache_creation_input_tokens: cc,
            reasoning_output_tokens: r,
        });
    let status = prop_oneof![
        Just(ResponseStatus::Ok),
        Just(ResponseStatus::Error),
        Just(ResponseStatus::Incomplete)
    ];
    let error =
        (name(), opt(text())).prop_map(|(error_type, code)| ResponseError { error_type, code });
    (
        (
            opt(uuid()),
            opt(text()),
            opt(text()),
            prop::collection::vec(name(), 0..2),
        ),
        (opt(usage), opt(non_negative()), opt(non_negative()), status),
        (opt(any::<u16>()), opt(error), any::<bool>(), object()),
        (
            prop::collection::vec(message(), 0..2),
            opt(text()),
            opt(text()),
        ),
    )
        .prop_map(
            |(
                (request_id, response_id, response_model, finish_reasons),
                (usage, latency_ms, time_to_first_token_ms, status),
                (http_status, error, streamed, attributes),
                (output_messages, error_message, raw),
            )| LlmResponse {
                request_id,
                response_id,
                response_model,
                finish_reasons,
                usage,
                latency_ms,
                time_to_first_token_ms,
                status,
                http_status,
                error,
                streamed,
                attributes,
                output_messages,
                error_message,
                raw,
            },
        )
        .boxed()
}

fn tool_call() -> BoxedStrategy<ToolCall> {
    let status = prop_oneof![
        Just(ToolStatus::Ok),
        Just(ToolStatus::Error),
        Just(ToolStatus::Blocked),
        Just(ToolStatus::Pending)
    ];
    let decision = prop_oneof![
        Just(Decision::Allow),
        Just(Decision::Alert),
        Just(Decision::Block),
        Just(Decision::Hold)
    ];
    (
        (name(), opt(text()), opt(name()), opt(text())),
        (opt(text()), opt(uuid()), status, any::<bool>()),
        (opt(non_negative()), opt(decision), opt(name()), object()),
        (opt(json()), opt(json())),
    )
        .prop_map(
            |(
                (name, call_id, tool_type, conversation_id),
                (server, request_id, status, is_error),
                (duration_ms, decision, decision_rule, attributes),
                (arguments, result),
            )| ToolCall {
                name,
                call_id,
                tool_type,
                conversation_id,
                server,
                request_id,
                status,
                is_error,
                duration_ms,
                decision,
                decision_rule,
                attributes,
                // `null` is written as absent; generate the form that reads back.
                arguments: arguments.filter(|a| !a.is_null()),
                result: result.filter(|r| !r.is_null()),
            },
        )
        .boxed()
}

fn severity() -> BoxedStrategy<Severity> {
    prop_oneof![
        Just(Severity::Low),
        Just(Severity::Medium),
        Just(Severity::High),
        Just(Severity::Critical)
    ]
    .boxed()
}

fn finding() -> BoxedStrategy<Finding> {
    let category = prop::sample::select(vec![
        FindingCategory::PromptInjection,
        FindingCategory::Jailbreak,
        FindingCategory::Pii,
        FindingCategory::Secret,
        FindingCategory::Exfiltration,
        FindingCategory::UnsafeOutput,
        FindingCategory::SystemPromptLeak,
        FindingCategory::InvisibleText,
        FindingCategory::ToolRisk,
        FindingCategory::Anomaly,
    ]);
    let location = (
        opt(name()),
        opt(any::<u64>()),
        opt(name()),
        opt(any::<u64>()),
        opt((any::<u64>(), any::<u64>())),
    )
        .prop_map(|(field, message, role, part, span)| {
            let (start, end) = match span {
                Some((a, b)) => (Some(a.min(b)), Some(a.max(b))),
                None => (None, None),
            };
            Location {
                field,
                message,
                role,
                part,
                start,
                end,
            }
        });
    (
        (uuid(), category, name(), severity()),
        (opt(0.0..=1.0f64), name(), opt(name()), opt(location)),
        (opt(text()), opt(name()), opt(name())),
    )
        .prop_map(
            |(
                (event_id, category, finding_type, severity),
                (confidence, detector, rule_id, location),
                (preview, owasp, atlas),
            )| Finding {
                event_id,
                category,
                finding_type,
                severity,
                confidence,
                detector,
                rule_id,
                location,
                preview,
                owasp,
                atlas,
            },
        )
        .boxed()
}

fn alert() -> BoxedStrategy<Alert> {
    let state = prop_oneof![
        Just(AlertState::Open),
        Just(AlertState::Acknowledged),
        Just(AlertState::Closed)
    ];
    (
        (uuid(), name(), name(), severity(), state),
        (
            prop::collection::vec(uuid(), 0..3),
            opt(text()),
            opt(text()),
        ),
    )
        .prop_map(
            |((alert_id, rule_id, title, severity, state), (evidence, by, reason))| Alert {
                alert_id,
                rule_id,
                title,
                severity,
                state,
                evidence,
                by,
                reason,
            },
        )
        .boxed()
}

fn audit() -> BoxedStrategy<Audit> {
    let outcome = prop_oneof![
        Just(AuditOutcome::Success),
        Just(AuditOutcome::Denied),
        Just(AuditOutcome::Error)
    ];
    (name(), opt(text()), outcome, opt(text()), object())
        .prop_map(|(action, target, outcome, reason, details)| Audit {
            action,
            target,
            outcome,
            reason,
            details,
        })
        .boxed()
}

fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        llm_request().prop_map(Body::from),
        llm_response().prop_map(Body::from),
        tool_call().prop_map(Body::from),
        finding().prop_map(Body::from),
        alert().prop_map(Body::from),
        audit().prop_map(Body::from),
    ]
    .boxed()
}

fn event() -> BoxedStrategy<Event> {
    (
        uuid(),
        time(),
        actor(),
        trace(),
        prop::collection::btree_map(text(), text(), 0..3),
        body(),
    )
        .prop_map(
            |(id, time, actor, trace, tags, body): (_, _, _, _, BTreeMap<_, _>, _)| Event {
                id,
                time,
                actor,
                trace,
                tags,
                body,
            },
        )
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn generated_events_are_valid(e in event()) {
        prop_assert_eq!(e.validate(), Ok(()));
    }

    #[test]
    fn value_round_trip_keeps_the_event(e in event()) {
        let back = Event::from_value(e.to_value()).unwrap();
        prop_assert_eq!(&back, &e);
    }

    #[test]
    fn canonical_bytes_survive_json_text_round_trips(e in event()) {
        let canonical = to_canonical_vec(&e.to_value());

        // Through ordinary JSON text.
        let text = serde_json::to_vec(&e.to_value()).unwrap();
        let from_text = Event::from_json_slice(&text).unwrap();
        prop_assert_eq!(&from_text, &e);
        prop_assert_eq!(&to_canonical_vec(&from_text.to_value()), &canonical);

        // Through the canonical text itself (what a verifier re-reads from the ledger).
        let from_canonical = Event::from_json_slice(&canonical).unwrap();
        prop_assert_eq!(&from_canonical.to_canonical_vec(), &canonical);
    }

    #[test]
    fn split_join_round_trips(e in event()) {
        let (meta, content) = e.split();
        let joined = Event::join(meta.clone(), content.clone()).unwrap();
        prop_assert_eq!(&joined, &e);

        // Through JSON text, as the ledger stores the two halves.
        let meta_text = serde_json::to_vec(&meta).unwrap();
        let content_text = content.as_ref().map(|c| serde_json::to_vec(c).unwrap());
        let joined = Event::join(
            serde_json::from_slice(&meta_text).unwrap(),
            content_text.map(|t| serde_json::from_slice(&t).unwrap()),
        )
        .unwrap();
        prop_assert_eq!(&joined, &e);

        // Content gone: still an event, with identical metadata.
        let stripped = Event::join(meta.clone(), None).unwrap();
        prop_assert_eq!(stripped.split(), (meta, None));
    }
}
