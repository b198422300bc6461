//! GenAI log events into llmtrail events.
//!
//! Instrumentations that follow the event form of the GenAI conventions (the official
//! `opentelemetry-instrumentation-openai-v2` among them) send content as log records linked to
//! the span, not as span attributes: one `gen_ai.system.message`, `gen_ai.user.message`,
//! `gen_ai.assistant.message` or `gen_ai.tool.message` per input message and one
//! `gen_ai.choice` per output. Newer ones send a single
//! `gen_ai.client.inference.operation.details` record with the same attributes as a span.
//!
//! Mapping:
//! - the message events of one request that share a trace and span id (and resource) are one
//!   model call: the input messages, in order, become one `llm.request`; the choices, by
//!   index, one `llm.response` pointing at it. Provider and model come from the records'
//!   attributes (`gen_ai.provider.name`, `gen_ai.system`, `gen_ai.request.model`), else
//!   `unknown`;
//! - an operation-details record becomes an `llm.request` and an `llm.response` (or a
//!   `tool.call`) exactly as a span with its attributes would;
//! - other records produce nothing.
//!
//! Each export is mapped on its own, with no state kept between requests (the answer waits for
//! durability, so nothing can be held back): the records of one call that arrive in separate
//! exports (a simple processor sends each record alone; SDK setups batch them) become separate
//! events with the same trace and span ids. Traces and logs arrive in separate requests too, so
//! the events made here do not replace those made from the span: the shared trace and span ids
//! are how they are joined.

use std::sync::Arc;

use llmtrail_core::{SpanId, Trace, TraceId};
use serde_json::{Value, json};

use crate::content;
use crate::genai::{API_LOGS, Call, Mapped, Raw};
use crate::model::{Attributes, Decoded, LogRecord, Origin};

/// The event that carries a whole operation as attributes.
const DETAILS: &str = "gen_ai.client.inference.operation.details";

/// Records of one model call.
struct Group<'a> {
    origin: &'a Arc<Origin>,
    trace_id: Option<TraceId>,
    span_id: Option<SpanId>,
    records: Vec<(usize, &'a LogRecord)>,
}

/// Maps decoded log records to events.
#[must_use]
pub fn logs(decoded: Decoded<LogRecord>) -> Mapped {
    let mut out = Mapped::from_decoded(&decoded);
    let mut groups: Vec<Group<'_>> = Vec::new();
    for (n, (origin, rec)) in decoded.items.iter().enumerate() {
        let Some(name) = rec.event_name.as_deref() else {
            continue;
        };
        if name == DETAILS {
            let events = details_events(origin, rec);
            out.push_checked(events, 1, || format!("log record {n} ({name})"));
            continue;
        }
        if content::event_role(name).is_none() && name != "gen_ai.choice" {
            continue;
        }
        let found = groups.iter_mut().find(|g| {
            Arc::ptr_eq(g.origin, origin) && g.trace_id == rec.trace_id && g.span_id == rec.span_id
        });
        match found {
            Some(g) => g.records.push((n, rec)),
            None => groups.push(Group {
                origin,
                trace_id: rec.trace_id,
                span_id: rec.span_id,
                records: vec![(n, rec)],
            }),
        }
    }
    for g in groups {
        let first = g.records.first().map_or(0, |r| r.0);
        let count = g.records.len() as u64;
        let events = group_events(&g);
        out.push_checked(events, count, || {
            format!("log records from {first} (span {:?})", g.span_id)
        });
    }
    out
}

fn record_time(r: &LogRecord) -> u64 {
    if r.time_unix_nano > 0 {
        r.time_unix_nano
    } else {
        r.observed_time_unix_nano
    }
}

fn trace(rec_trace: Option<TraceId>, span: Option<SpanId>) -> Trace {
    Trace {
        trace_id: rec_trace,
        span_id: span,
        parent_span_id: None,
    }
}

fn record_json(r: &LogRecord) -> Value {
    json!({
        "event_name": r.event_name,
        "time_unix_nano": r.time_unix_nano,
        "attributes": r.attributes,
        "body": r.body,
    })
}

fn details_events(origin: &Arc<Origin>, rec: &LogRecord) -> Vec<llmtrail_core::Event> {
    let t = record_time(rec);
    let call = Call {
        origin,
        attrs: &rec.attributes,
        api: API_LOGS,
        span_name: None,
        trace: trace(rec.trace_id, rec.span_id),
        start: t,
        end: t,
        failed: false,
        status_message: None,
    };
    let op = crate::genai::str_attr(&rec.attributes, "gen_ai.operation.name").map(str::to_owned);
    if op.as_deref() == Some("execute_tool") {
        return vec![call.tool_event()];
    }
    let raw = json!({"records": [record_json(rec)], "resource": origin.resource});
    let (req, resp) = call.model_events(op, Vec::new(), Vec::new(), Raw::Whole(raw.to_string()));
    vec![req, resp]
}

fn group_events(g: &Group<'_>) -> Vec<llmtrail_core::Event> {
    // The records' own attributes (gen_ai.system, ...) describe the call; the event name is
    // the record's, not the call's.
    let mut attrs = Attributes::new();
    for (_, r) in &g.records {
        for (k, v) in &r.attributes {
            if k != "event.name" {
                attrs.insert(k.clone(), v.clone());
            }
        }
    }
    let mut inputs = Vec::new();
    let mut choices = Vec::new();
    let (mut start, mut end) = (u64::MAX, 0);
    for (_, r) in &g.records {
        let name = r.event_name.as_deref().unwrap_or_default();
        let t = record_time(r);
        match content::event_role(name) {
            Some(role) => {
                inputs.push(content::event_message(role, r.body.as_ref()));
                if t > 0 {
                    start = start.min(t);
                }
            }
            None => {
                choices.push(content::choice_message(r.body.as_ref()));
                end = end.max(t);
            }
        }
    }
    choices.sort_by_key(|(i, _)| *i);
    if start == u64::MAX {
        start = end;
    }
    let call = Call {
        origin: g.origin,
        attrs: &attrs,
        api: API_LOGS,
        span_name: None,
        trace: trace(g.trace_id, g.span_id),
        start,
        end,
        failed: false,
        status_message: None,
    };
    let op = crate::genai::str_attr(&attrs, "gen_ai.operation.name").map(str::to_owned);
    let has_inputs = !inputs.is_empty();
    let has_choices = !choices.is_empty();
    let raw = json!({
        "records": g.records.iter().map(|(_, r)| record_json(r)).collect::<Vec<_>>(),
        "resource": g.origin.resource,
    });
    let (req, mut resp) = call.model_events(
        op,
        inputs,
        choices.into_iter().map(|(_, m)| m).collect(),
        Raw::Whole(raw.to_string()),
    );
    match (has_inputs, has_choices) {
        (true, true) => vec![req, resp],
        (true, false) => vec![req],
        (false, _) => {
            // Only the output was logged: the raw records go with the response then.
            if let llmtrail_core::Body::LlmResponse(r) = &mut resp.body {
                r.request_id = None;
                r.raw = Some(raw.to_string());
            }
            vec![resp]
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rec(name: &str, span: u8, time: u64, body: Value, attrs: Value) -> LogRecord {
        LogRecord {
            time_unix_nano: time,
            observed_time_unix_nano: 0,
            trace_id: TraceId::from_bytes([9; 16]),
            span_id: SpanId::from_bytes([span; 8]),
            event_name: Some(name.into()),
            body: Some(body),
            attributes: serde_json::from_value(attrs).unwrap(),
        }
    }

    fn map(records: Vec<LogRecord>) -> Mapped {
        let o = Arc::new(Origin {
            resource: serde_json::from_value(json!({"service.name": "bot"})).unwrap(),
            ..Origin::default()
        });
        logs(Decoded {
            items: records.into_iter().map(|r| (Arc::clone(&o), r)).collect(),
            rejected: 0,
            errors: Vec::new(),
        })
    }

    #[test]
    fn message_events_of_one_span_are_one_call() {
        let sys = json!({"gen_ai.system": "openai"});
        let m = map(vec![
            rec(
                "gen_ai.system.message",
                1,
                10,
                json!({"content": "be brief"}),
                sys.clone(),
            ),
            rec(
                "gen_ai.user.message",
                1,
                11,
                json!({"content": "hi"}),
                sys.clone(),
            ),
            rec(
                "gen_ai.choice",
                1,
                30,
                json!({"index": 1, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "second"}}),
                sys.clone(),
            ),
            rec(
                "gen_ai.choice",
                1,
                31,
                json!({"index": 0, "finish_reason": "stop",
                "message": {"content": "first"}}),
                sys.clone(),
            ),
            rec("some.other.event", 1, 12, json!("x"), json!({})),
            rec(
                "gen_ai.user.message",
                2,
                40,
                json!({"content": "other span"}),
                sys,
            ),
        ]);
        assert_eq!(m.rejected, 0, "{:?}", m.errors);
        assert_eq!(m.mapped, 5);
        assert_eq!(m.events.len(), 3);
        let req = m.events[0].to_value();
        let resp = m.events[1].to_value();
        assert_eq!(req["body"]["gen_ai.provider.name"], "openai");
        assert_eq!(req["body"]["gen_ai.request.model"], "unknown");
        assert_eq!(req["body"]["attributes"]["llmtrail.api"], "otlp.logs");
        assert_eq!(
            req["body"]["gen_ai.input.messages"],
            json!([{"role": "system", "parts": [{"type": "text", "content": "be brief"}]},
                   {"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
        );
        assert_eq!(req["trace"]["span_id"], "0101010101010101");
        assert_eq!(req["actor"]["agent"], "bot");
        assert_eq!(resp["body"]["request_id"], req["id"]);
        assert_eq!(
            resp["body"]["gen_ai.output.messages"][0]["parts"][0]["content"],
            "first"
        );
        assert_eq!(
            resp["body"]["gen_ai.response.finish_reasons"],
            json!(["stop", "stop"])
        );
        assert_eq!(
            m.events[2].to_value()["trace"]["span_id"],
            "0202020202020202"
        );
    }

    #[test]
    fn a_lone_choice_becomes_a_response_with_the_raw_records() {
        let m = map(vec![rec(
            "gen_ai.choice",
            3,
            5,
            json!({"index": 0, "message": {"content": "x"}}),
            json!({}),
        )]);
        assert_eq!(m.events.len(), 1);
        let v = m.events[0].to_value();
        assert_eq!(v["kind"], "llm.response");
        assert!(v["body"].get("request_id").is_none());
        assert!(v["body"]["raw"].as_str().unwrap().contains("gen_ai.choice"));
    }

    #[test]
    fn operation_details_record_maps_like_a_span() {
        let m = map(vec![rec(
            DETAILS,
            4,
            5,
            Value::Null,
            json!({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "q"}]}],
                "gen_ai.output.messages": [{"role": "assistant", "parts": [{"type": "text", "content": "a"}]}]}),
        )]);
        assert_eq!(m.events.len(), 2);
        let req = m.events[0].to_value();
        assert_eq!(
            req["body"]["gen_ai.input.messages"][0]["parts"][0]["content"],
            "q"
        );
        let resp = m.events[1].to_value();
        assert_eq!(
            resp["body"]["gen_ai.output.messages"][0]["parts"][0]["content"],
            "a"
        );
    }
}
