//! OTLP logs: each record as one OpenTelemetry `LogRecord` in the OTLP/HTTP JSON encoding,
//! a batch as one `ExportLogsServiceRequest` (`POST <endpoint>/v1/logs`).
//!
//! - `timeUnixNano` is the event's time; `eventName` the llmtrail kind; `severityNumber` and
//!   `severityText` follow the event (INFO 9, WARN 13 for low and medium, ERROR 17 for high,
//!   FATAL 21 for critical); `traceId` and `spanId` are the event's trace context when it has
//!   one.
//! - `body` is the llmtrail event JSON (content included) as a string value.
//! - Attributes: `llmtrail.ledger.index` (int) and `llmtrail.ledger.leaf_hash` (the proof),
//!   `llmtrail.event.id`, `user.id`, `user.roles`, `client.address`, and the `gen_ai.*`
//!   names of the model, provider and tool where the event has them.
//! - The resource carries `service.name` (the sink's `service_name`, default `llmtrail`).
//!
//! JSON escaping is serde_json's plus [`crate::json::to_line`]'s, so a record never spans
//! lines or adds fields.

use serde_json::{Value, json};

use crate::Record;
use crate::record::{Level, Summary};

fn string(key: &str, value: &str) -> Value {
    json!({ "key": key, "value": { "stringValue": value } })
}

/// Renders one `LogRecord` (JSON, one line).
#[must_use]
pub fn log_record(record: &Record) -> String {
    let event = &record.event;
    let s = Summary::of(event);
    let (number, text) = match s.level {
        None | Some(Level::Info) => (9, "INFO"),
        Some(Level::Low | Level::Medium) => (13, "WARN"),
        Some(Level::High) => (17, "ERROR"),
        Some(Level::Critical) => (21, "FATAL"),
    };
    let nanos = event.time.as_nanosecond();
    let mut attrs = vec![
        json!({ "key": "llmtrail.ledger.index", "value": { "intValue": record.index.to_string() } }),
        string("llmtrail.ledger.leaf_hash", &record.leaf_hash_hex()),
        string("llmtrail.event.id", &event.id.to_string()),
    ];
    if let Some(u) = &event.actor.user {
        attrs.push(string("user.id", u));
    }
    if let Some(r) = &event.actor.role {
        attrs.push(string("user.roles", r));
    }
    if let Some(ip) = event.actor.source_ip {
        attrs.push(string("client.address", &ip.to_string()));
    }
    if let Some(p) = &s.provider {
        attrs.push(string("gen_ai.provider.name", p));
    }
    if let Some(m) = &s.model {
        attrs.push(string("gen_ai.request.model", m));
    }
    if let Some(t) = &s.tool {
        attrs.push(string("gen_ai.tool.name", t));
    }
    let mut r = json!({
        "timeUnixNano": nanos.to_string(),
        "severityNumber": number,
        "severityText": text,
        "eventName": s.kind,
        "body": { "stringValue": event.to_value().to_string() },
        "attributes": attrs,
    });
    if let Some(obj) = r.as_object_mut() {
        if let Some(t) = event.trace.trace_id {
            obj.insert("traceId".into(), t.to_string().into());
        }
        if let Some(sp) = event.trace.span_id {
            obj.insert("spanId".into(), sp.to_string().into());
        }
    }
    crate::json::to_line(&r)
}

/// Wraps rendered log records into one `ExportLogsServiceRequest` body.
#[must_use]
pub fn request(service_name: &str, records: &[Vec<u8>]) -> Vec<u8> {
    let resource = json!({ "attributes": [string("service.name", service_name)] });
    let scope = json!({ "name": "llmtrail.export", "version": env!("CARGO_PKG_VERSION") });
    let mut out = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 256);
    out.extend_from_slice(
        format!("{{\"resourceLogs\":[{{\"resource\":{resource},\"scopeLogs\":[{{\"scope\":{scope},\"logRecords\":[")
            .as_bytes(),
    );
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"]}]}]}");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    fn decode(body: &[u8]) -> llmtrail_otlp::model::Decoded<llmtrail_otlp::model::LogRecord> {
        llmtrail_otlp::json::logs(body).unwrap()
    }

    #[test]
    fn an_otlp_receiver_decodes_every_record_with_its_proof() {
        let recs = [testdata::request(0, "u-1042"), testdata::finding(3, "x")];
        let rendered: Vec<Vec<u8>> = recs.iter().map(|r| log_record(r).into_bytes()).collect();
        let body = request("llmtrail", &rendered);
        let d = decode(&body);
        assert_eq!(d.rejected, 0, "{:?}", d.errors);
        assert_eq!(d.items.len(), 2);
        let (origin, first) = &d.items[0];
        assert_eq!(origin.resource["service.name"], "llmtrail");
        assert_eq!(first.event_name.as_deref(), Some("llm.request"));
        assert_eq!(first.attributes["llmtrail.ledger.index"], 0);
        assert_eq!(
            first.attributes["llmtrail.ledger.leaf_hash"],
            hex::encode([0u8; 32])
        );
        assert_eq!(first.attributes["gen_ai.request.model"], "gpt-4o");
        assert_eq!(first.time_unix_nano, 1_767_225_600_123_456_789);
        let body = first.body.as_ref().unwrap().as_str().unwrap();
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["id"], recs[0].event.id.to_string());
        assert_eq!(d.items[1].1.attributes["llmtrail.ledger.index"], 3);
    }

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("otlp_log_record", log_record(&testdata::response(1)));
    }

    proptest! {
        #[test]
        fn any_user_decodes_back(user in any::<String>()) {
            let rec = testdata::request(2, &user);
            let body = request("svc", &[log_record(&rec).into_bytes()]);
            let d = llmtrail_otlp::json::logs(&body).map_err(TestCaseError::fail)?;
            prop_assert_eq!(d.items.len(), 1);
            let attrs = &d.items[0].1.attributes;
            prop_assert_eq!(attrs.get("user.id").and_then(Value::as_str), Some(user.as_str()));
        }
    }
}
