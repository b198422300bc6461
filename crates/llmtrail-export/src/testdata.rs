//! Deterministic records for the formats' tests and snapshots (fixed ids, times and hashes).

use llmtrail_core::{
    Actor, Event, Finding, FindingCategory, LlmRequest, LlmResponse, Message, ResponseStatus,
    Severity, ToolCall, ToolStatus, Usage,
};
use uuid::Uuid;

use crate::Record;

fn id(n: u64) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n))
}

fn time() -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_767_225_600)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .checked_add(jiff::SignedDuration::from_nanos(123_456_789))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn record(index: u64, mut event: Event) -> Record {
    event.id = id(index);
    event.time = time();
    Record {
        index,
        leaf_hash: [index as u8; 32],
        event,
    }
}

/// An `llm.request` by `user` with one user message.
pub fn request(index: u64, user: &str) -> Record {
    let mut body = LlmRequest::new("openai", "gpt-4o");
    body.messages
        .push(Message::text("user", "What is our Q3 cash position?"));
    let mut event = Event::new(body);
    event.actor = Actor {
        user: Some(user.into()),
        role: Some("finance".into()),
        source_ip: "192.0.2.7".parse().ok(),
        user_agent: Some("OpenAI/Python 1.0".into()),
        ..Actor::default()
    };
    record(index, event)
}

/// An `llm.response` to the request at index 0.
pub fn response(index: u64) -> Record {
    let mut body = LlmResponse::new(ResponseStatus::Ok);
    body.request_id = Some(id(0));
    body.response_model = Some("gpt-4o-2024-08-06".into());
    body.usage = Some(Usage {
        input_tokens: 12,
        output_tokens: 30,
        total_tokens: Some(42),
        cache_read_input_tokens: None,
        cache_creation_input_tokens: None,
        reasoning_output_tokens: None,
    });
    body.finish_reasons = vec!["stop".into()];
    let mut event = Event::new(body);
    event.actor.user = Some("u-1042".into());
    record(index, event)
}

/// A `tool.call` that policy blocked.
pub fn tool_call(index: u64) -> Record {
    let mut body = ToolCall::new("send_email", ToolStatus::Blocked);
    body.request_id = Some(id(1));
    let mut event = Event::new(body);
    event.actor.user = Some("u-1042".into());
    record(index, event)
}

/// A high prompt-injection finding on the request at index 0.
pub fn finding(index: u64, finding_type: &str) -> Record {
    let body = Finding {
        event_id: id(0),
        category: FindingCategory::PromptInjection,
        finding_type: finding_type.into(),
        severity: Severity::High,
        confidence: Some(0.9),
        detector: "rules".into(),
        rule_id: Some("injection.ignore_previous".into()),
        location: None,
        preview: Some("ignore all previous…".into()),
        owasp: Some("LLM01".into()),
        atlas: Some("AML.T0051.000".into()),
    };
    let mut event = Event::new(body);
    event.actor.user = Some("u-1042".into());
    record(index, event)
}
