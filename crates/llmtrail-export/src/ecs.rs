//! Elastic Common Schema (ECS) documents for Elasticsearch and OpenSearch, and the `_bulk`
//! action lines around them; Splunk HEC event envelopes.
//!
//! ECS document (one per record):
//!
//! - `@timestamp`, `message`, `ecs.version`;
//! - `event.id` (the event id), `event.kind` (`alert` for findings and alerts, else `event`),
//!   `event.category`, `event.type`, `event.action` (the llmtrail kind), `event.outcome`,
//!   `event.severity` (0–100), `event.module` and `event.dataset` (`llmtrail.<kind>`);
//! - `user.name`, `user.roles`, `source.ip`, `user_agent.original`, `trace.id`, `span.id`;
//! - `gen_ai.*` as OpenTelemetry names them (`gen_ai.provider.name`, `gen_ai.request.model`,
//!   `gen_ai.response.model`, `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`,
//!   `gen_ai.tool.name`), nested as objects;
//! - `rule.id`, `rule.category` for findings and alerts;
//! - `llmtrail.ledger.index`, `llmtrail.ledger.leaf_hash` (the proof), and `llmtrail.event`: the
//!   llmtrail event as a JSON string (content included), kept as one field so that open maps
//!   in events cannot grow the index mapping.
//!
//! The `_bulk` item is two lines: `{"create":{"_index":…,"_id":<event id>}}` and the document.
//! Using the event id as `_id` with `create` makes a resent batch harmless: documents already
//! indexed answer 409 and are not duplicated.

use llmtrail_core::{Body, Event};
use serde_json::{Map, Value, json};

use crate::Record;
use crate::record::{Level, Summary};

/// ECS version the documents follow.
pub const ECS_VERSION: &str = "8.11.0";

fn severity(level: Option<Level>) -> u8 {
    match level {
        None | Some(Level::Info) => 0,
        Some(Level::Low) => 21,
        Some(Level::Medium) => 47,
        Some(Level::High) => 73,
        Some(Level::Critical) => 99,
    }
}

fn nest(map: &mut Map<String, Value>, dotted: &str, value: Value) {
    let mut parts = dotted.split('.').peekable();
    let mut cur = map;
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            cur.insert(part.to_owned(), value);
            return;
        }
        let entry = cur
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        let Value::Object(next) = entry else { return };
        cur = next;
    }
}

/// Returns the ECS document for a record.
#[must_use]
pub fn document(record: &Record) -> Value {
    let event: &Event = &record.event;
    let s = Summary::of(event);
    let mut d = Map::new();
    let mut put = |k: &str, v: Value| nest(&mut d, k, v);
    put("@timestamp", event.time.to_string().into());
    put("message", s.name.clone().into());
    put("ecs.version", ECS_VERSION.into());
    put("event.id", event.id.to_string().into());
    put("event.action", s.kind.into());
    put("event.module", "llmtrail".into());
    put("event.dataset", format!("llmtrail.{}", s.kind).into());
    put("event.severity", severity(s.level).into());
    let alert = matches!(event.body, Body::Finding(_) | Body::Alert(_));
    put("event.kind", if alert { "alert" } else { "event" }.into());
    put(
        "event.category",
        json!([if alert { "intrusion_detection" } else { "web" }]),
    );
    put(
        "event.type",
        json!([if alert { "indicator" } else { "access" }]),
    );
    if let Some(outcome) = &s.outcome {
        let o = match outcome.as_str() {
            "ok" | "success" => "success",
            "open" | "acknowledged" | "closed" => "unknown",
            _ => "failure",
        };
        put("event.outcome", o.into());
    }
    let a = &event.actor;
    if let Some(u) = &a.user {
        put("user.name", u.clone().into());
    }
    if let Some(r) = &a.role {
        put("user.roles", json!([r]));
    }
    if let Some(ip) = a.source_ip {
        put("source.ip", ip.to_string().into());
    }
    if let Some(ua) = &a.user_agent {
        put("user_agent.original", ua.clone().into());
    }
    if let Some(t) = event.trace.trace_id {
        put("trace.id", t.to_string().into());
    }
    if let Some(sp) = event.trace.span_id {
        put("span.id", sp.to_string().into());
    }
    match &event.body {
        Body::LlmRequest(r) => {
            put("gen_ai.provider.name", r.provider.clone().into());
            put("gen_ai.request.model", r.model.clone().into());
        }
        Body::LlmResponse(r) => {
            if let Some(m) = &r.response_model {
                put("gen_ai.response.model", m.clone().into());
            }
            if let Some(u) = &r.usage {
                put("gen_ai.usage.input_tokens", u.input_tokens.into());
                put("gen_ai.usage.output_tokens", u.output_tokens.into());
            }
        }
        Body::ToolCall(t) => put("gen_ai.tool.name", t.name.clone().into()),
        _ => {}
    }
    if let Some(rule) = &s.rule {
        put("rule.id", rule.clone().into());
    }
    if let Some(c) = &s.category {
        put("rule.category", c.clone().into());
    }
    put("llmtrail.ledger.index", record.index.into());
    put("llmtrail.ledger.leaf_hash", record.leaf_hash_hex().into());
    put("llmtrail.event", event.to_value().to_string().into());
    Value::Object(d)
}

/// Renders the two `_bulk` lines for a record (without the final newline).
#[must_use]
pub fn bulk_item(index: &str, record: &Record) -> String {
    let action = json!({"create": {"_index": index, "_id": record.event.id.to_string()}});
    format!(
        "{}\n{}",
        crate::json::to_line(&action),
        crate::json::to_line(&document(record))
    )
}

/// Fixed fields of a Splunk HEC envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HecFields {
    /// `host`.
    pub host: String,
    /// `source`.
    pub source: String,
    /// `sourcetype`.
    pub sourcetype: String,
    /// `index`, when set.
    pub index: Option<String>,
}

/// Renders a Splunk HEC event envelope whose `event` is `payload` (a JSON record).
#[must_use]
pub fn hec_event(fields: &HecFields, record: &Record, payload: Value) -> String {
    let t = record.event.time;
    let secs = t.as_second() as f64 + f64::from(t.subsec_nanosecond() / 1_000) / 1e6;
    let mut env = json!({
        "time": secs,
        "host": fields.host,
        "source": fields.source,
        "sourcetype": fields.sourcetype,
        "event": payload,
    });
    if let (Some(index), Some(obj)) = (&fields.index, env.as_object_mut()) {
        obj.insert("index".into(), index.clone().into());
    }
    crate::json::to_line(&env)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    #[test]
    fn documents_carry_ecs_fields_and_the_proof() {
        let d = document(&testdata::request(4, "u-1042"));
        assert_eq!(d["user"]["name"], "u-1042");
        assert_eq!(d["source"]["ip"], "192.0.2.7");
        assert_eq!(d["gen_ai"]["request"]["model"], "gpt-4o");
        assert_eq!(d["event"]["action"], "llm.request");
        assert_eq!(d["llmtrail"]["ledger"]["index"], 4);
        assert_eq!(d["llmtrail"]["ledger"]["leaf_hash"], hex::encode([4u8; 32]));
        let f = document(&testdata::finding(3, "ignore_previous"));
        assert_eq!(f["event"]["kind"], "alert");
        assert_eq!(f["rule"]["category"], "prompt_injection");
        assert_eq!(f["event"]["severity"], 73);
    }

    #[test]
    fn snapshots() {
        insta::assert_snapshot!(
            "ecs_bulk_response",
            bulk_item("llmtrail-events", &testdata::response(1))
        );
        let fields = HecFields {
            host: "gw-1".into(),
            source: "llmtrail".into(),
            sourcetype: "llmtrail:event".into(),
            index: Some("security".into()),
        };
        let rec = testdata::finding(3, "ignore_previous");
        insta::assert_snapshot!(
            "hec_finding",
            hec_event(&fields, &rec, crate::json::value(&rec))
        );
    }

    proptest! {
        #[test]
        fn a_bulk_item_is_always_two_lines(user in any::<String>()) {
            let rec = testdata::request(2, &user);
            let item = bulk_item("i", &rec);
            let lines: Vec<&str> = item.split('\n').collect();
            prop_assert_eq!(lines.len(), 2);
            let doc: Value = serde_json::from_str(lines[1])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(doc["user"]["name"].as_str(), Some(user.as_str()));
            let action: Value = serde_json::from_str(lines[0])
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let id = rec.event.id.to_string();
            prop_assert_eq!(action["create"]["_id"].as_str(), Some(id.as_str()));
        }
    }
}
