//! OCSF (Open Cybersecurity Schema Framework) 1.8.0 JSON, one object per record.
//!
//! - `llm.request`, `llm.response`, `tool.call` and `audit` events are **API Activity**
//!   (`class_uid` 6003, category 6 Application Activity) with the `ai_operation` profile:
//!   `ai_model` (`model_name`, `ai_provider`), `message_context` (`ai_role_id` 1 User for
//!   requests, 2 Assistant for responses, 3 Tool for tool calls; token counts; `service`),
//!   and `stop_reason` for responses. Requests and responses are activity 1 (Create: a
//!   completion is created), tool calls and audits 99 (Other, named in `activity_name`).
//! - `finding` and `alert` events are **Detection Finding** (`class_uid` 2004, category 2
//!   Findings): `finding_info` with `uid`, `title`, `types` (the category), the rule as
//!   `analytic`, and the event it is about in `related_events` (and as the `uid` of the
//!   `evidences` entry that names the actor). A finding is activity 1
//!   (Create); an alert is 1, 2 or 3 by its state (open, acknowledged, closed), with the
//!   matching `status_id` (1 New, 2 In Progress, 4 Resolved).
//! - Every object carries `type_uid` (`class_uid * 100 + activity_id`), `time` (epoch
//!   milliseconds), `severity_id`, `metadata` (version, product, the event id as `uid`, the
//!   trace id as `correlation_uid`), and in `unmapped` the ledger position (`ledger_index`,
//!   `leaf_hash`) that proves the record. `raw_data` holds the llmtrail event JSON, content
//!   included, so nothing the mapping leaves out is lost.

use llmtrail_core::{AlertState, Body, Event};
use serde_json::{Map, Value, json};

use crate::Record;
use crate::record::{Level, Summary};

/// The OCSF schema version this mapping follows.
pub const OCSF_VERSION: &str = "1.8.0";

fn severity_id(level: Option<Level>) -> (u8, &'static str) {
    match level {
        None | Some(Level::Info) => (1, "Informational"),
        Some(Level::Low) => (2, "Low"),
        Some(Level::Medium) => (3, "Medium"),
        Some(Level::High) => (4, "High"),
        Some(Level::Critical) => (5, "Critical"),
    }
}

fn insert_opt(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

fn actor(event: &Event) -> Value {
    let a = &event.actor;
    let mut actor = Map::new();
    let mut user = Map::new();
    insert_opt(&mut user, "name", a.user.clone().map(Value::from));
    insert_opt(&mut user, "uid", a.user.clone().map(Value::from));
    if let Some(role) = &a.role {
        user.insert("groups".into(), json!([{ "name": role }]));
    }
    if let Some(dept) = &a.department {
        user.insert("org".into(), json!({ "ou_name": dept }));
    }
    if !user.is_empty() {
        actor.insert("user".into(), Value::Object(user));
    }
    insert_opt(
        &mut actor,
        "session",
        a.session.clone().map(|s| json!({ "uid": s })),
    );
    insert_opt(&mut actor, "app_name", a.agent.clone().map(Value::from));
    Value::Object(actor)
}

fn metadata(event: &Event) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), OCSF_VERSION.into());
    m.insert(
        "product".into(),
        json!({
            "name": "llmtrail",
            "vendor_name": "llmtrail",
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    m.insert("uid".into(), event.id.to_string().into());
    m.insert("log_name".into(), "ledger".into());
    insert_opt(
        &mut m,
        "correlation_uid",
        event.trace.trace_id.map(|t| Value::from(t.to_string())),
    );
    Value::Object(m)
}

/// Renders the record as an OCSF object.
#[must_use]
pub fn value(record: &Record) -> Value {
    let event = &record.event;
    let summary = Summary::of(event);
    let (sev_id, sev) = severity_id(summary.level);
    let mut o = Map::new();
    match &event.body {
        Body::Finding(_) | Body::Alert(_) => detection_finding(&mut o, event, &summary),
        _ => api_activity(&mut o, event, &summary),
    }
    let class_uid = o.get("class_uid").and_then(Value::as_u64).unwrap_or(0);
    let activity_id = o.get("activity_id").and_then(Value::as_u64).unwrap_or(0);
    o.insert("type_uid".into(), (class_uid * 100 + activity_id).into());
    o.insert("time".into(), event.time.as_millisecond().into());
    o.insert("severity_id".into(), sev_id.into());
    o.insert("severity".into(), sev.into());
    let mut meta = metadata(event);
    if class_uid == 6003
        && let Some(m) = meta.as_object_mut()
    {
        m.insert("profiles".into(), json!(["ai_operation"]));
    }
    o.insert("metadata".into(), meta);
    o.insert("message".into(), summary.name.clone().into());
    o.insert(
        "unmapped".into(),
        json!({
            "ledger_index": record.index,
            "leaf_hash": record.leaf_hash_hex(),
            "kind": summary.kind,
        }),
    );
    o.insert("raw_data".into(), event.to_value().to_string().into());
    Value::Object(o)
}

/// Renders the record as one line of OCSF JSON (no trailing newline).
#[must_use]
pub fn render(record: &Record) -> String {
    crate::json::to_line(&value(record))
}

fn api_activity(o: &mut Map<String, Value>, event: &Event, summary: &Summary) {
    o.insert("class_uid".into(), 6003.into());
    o.insert("class_name".into(), "API Activity".into());
    o.insert("category_uid".into(), 6.into());
    o.insert("category_name".into(), "Application Activity".into());
    let (activity_id, activity_name, role_id, role) = match &event.body {
        Body::LlmRequest(_) => (1, "Create", 1, "User"),
        Body::LlmResponse(_) => (1, "Create", 2, "Assistant"),
        Body::ToolCall(_) => (99, "Tool Call", 3, "Tool"),
        _ => (99, "Audit", 99, "Other"),
    };
    o.insert("activity_id".into(), activity_id.into());
    o.insert("activity_name".into(), activity_name.into());
    o.insert("actor".into(), actor(event));
    let src = match event.actor.source_ip {
        Some(ip) => json!({ "ip": ip.to_string() }),
        None => json!({ "name": "unknown" }),
    };
    o.insert("src_endpoint".into(), src);
    if let Some(ua) = &event.actor.user_agent {
        o.insert("http_request".into(), json!({ "user_agent": ua }));
    }
    let (status_id, status) = match summary.outcome.as_deref() {
        None | Some("ok" | "success") => (1, "Success"),
        Some(_) => (2, "Failure"),
    };
    o.insert("status_id".into(), status_id.into());
    o.insert("status".into(), status.into());
    if let Some(outcome) = &summary.outcome {
        o.insert("status_detail".into(), outcome.clone().into());
    }

    let mut api = Map::new();
    let mut ctx = Map::new();
    ctx.insert("ai_role_id".into(), role_id.into());
    ctx.insert("ai_role".into(), role.into());
    match &event.body {
        Body::LlmRequest(r) => {
            let op = r.operation.clone().unwrap_or_else(|| "chat".into());
            api.insert("operation".into(), op.into());
            api.insert("service".into(), json!({ "name": r.provider }));
            api.insert("request".into(), json!({ "uid": event.id.to_string() }));
            o.insert(
                "ai_model".into(),
                json!({ "model_name": r.model, "ai_provider": r.provider }),
            );
            ctx.insert("service".into(), json!({ "name": r.provider }));
            insert_opt(&mut ctx, "uid", r.conversation_id.clone().map(Value::from));
        }
        Body::LlmResponse(r) => {
            api.insert("operation".into(), "chat".into());
            if let Some(req) = r.request_id {
                api.insert("request".into(), json!({ "uid": req.to_string() }));
            }
            let mut resp = Map::new();
            insert_opt(&mut resp, "code", r.http_status.map(Value::from));
            insert_opt(
                &mut resp,
                "error",
                r.error.as_ref().map(|e| Value::from(e.error_type.clone())),
            );
            if !resp.is_empty() {
                api.insert("response".into(), Value::Object(resp));
            }
            if let Some(model) = &r.response_model {
                o.insert(
                    "ai_model".into(),
                    json!({ "model_name": model, "ai_provider": "unknown" }),
                );
            }
            if let Some(u) = &r.usage {
                ctx.insert("prompt_tokens".into(), u.input_tokens.into());
                ctx.insert("completion_tokens".into(), u.output_tokens.into());
                ctx.insert(
                    "total_tokens".into(),
                    u.total_tokens
                        .unwrap_or(u.input_tokens + u.output_tokens)
                        .into(),
                );
            }
            ctx.insert("service".into(), json!({ "name": "llm" }));
            if let Some(reason) = r.finish_reasons.first() {
                o.insert("stop_reason".into(), reason.clone().into());
            }
        }
        Body::ToolCall(t) => {
            api.insert("operation".into(), t.name.clone().into());
            let service = t.server.clone().unwrap_or_else(|| "tool".into());
            api.insert("service".into(), json!({ "name": service }));
            if let Some(req) = t.request_id {
                api.insert("request".into(), json!({ "uid": req.to_string() }));
            }
            ctx.insert("service".into(), json!({ "name": service }));
            insert_opt(&mut ctx, "uid", t.conversation_id.clone().map(Value::from));
        }
        Body::Audit(a) => {
            api.insert("operation".into(), a.action.clone().into());
            api.insert("service".into(), json!({ "name": "llmtrail" }));
            ctx.insert("service".into(), json!({ "name": "llmtrail" }));
        }
        Body::Finding(_) | Body::Alert(_) => {}
    }
    insert_opt(
        &mut ctx,
        "application",
        event
            .actor
            .user_agent
            .clone()
            .map(|ua| json!({ "name": ua })),
    );
    if ctx.get("uid").is_none()
        && let Some(s) = &event.actor.session
    {
        ctx.insert("uid".into(), s.clone().into());
    }
    o.insert("api".into(), Value::Object(api));
    o.insert("message_context".into(), Value::Object(ctx));
}

fn detection_finding(o: &mut Map<String, Value>, event: &Event, summary: &Summary) {
    o.insert("class_uid".into(), 2004.into());
    o.insert("class_name".into(), "Detection Finding".into());
    o.insert("category_uid".into(), 2.into());
    o.insert("category_name".into(), "Findings".into());
    let mut info = Map::new();
    info.insert("title".into(), summary.name.clone().into());
    let (activity, status) = match &event.body {
        Body::Finding(f) => {
            info.insert("uid".into(), event.id.to_string().into());
            info.insert("types".into(), json!([summary.category]));
            info.insert(
                "related_events".into(),
                json!([{ "uid": f.event_id.to_string() }]),
            );
            if let Some(c) = f.confidence {
                // OCSF's confidence_score is an integer percentage.
                o.insert(
                    "confidence_score".into(),
                    ((c.clamp(0.0, 1.0) * 100.0).round() as u64).into(),
                );
            }
            let mut tags = Vec::new();
            if let Some(owasp) = &f.owasp {
                tags.push(json!({ "name": "owasp_llm", "value": owasp }));
            }
            if let Some(atlas) = &f.atlas {
                tags.push(json!({ "name": "mitre_atlas", "value": atlas }));
            }
            if !tags.is_empty() {
                info.insert("tags".into(), Value::Array(tags));
            }
            info.insert("desc".into(), f.detector.clone().into());
            ((1, "Create"), (1, "New"))
        }
        Body::Alert(a) => {
            info.insert("uid".into(), a.alert_id.to_string().into());
            info.insert("types".into(), json!(["alert"]));
            info.insert(
                "related_events".into(),
                Value::Array(
                    a.evidence
                        .iter()
                        .map(|id| json!({ "uid": id.to_string() }))
                        .collect(),
                ),
            );
            match a.state {
                AlertState::Open => ((1, "Create"), (1, "New")),
                AlertState::Acknowledged => ((2, "Update"), (2, "In Progress")),
                AlertState::Closed => ((3, "Close"), (4, "Resolved")),
            }
        }
        _ => ((0, "Unknown"), (0, "Unknown")),
    };
    if let Some(rule) = &summary.rule {
        info.insert(
            "analytic".into(),
            json!({ "uid": rule, "name": rule, "type_id": 1, "type": "Rule" }),
        );
    }
    o.insert("activity_id".into(), activity.0.into());
    o.insert("activity_name".into(), activity.1.into());
    o.insert("status_id".into(), status.0.into());
    o.insert("status".into(), status.1.into());
    o.insert("finding_info".into(), Value::Object(info));
    // Detection Finding has no actor of its own: who caused the evidence goes in `evidences`.
    let mut evidence = Map::new();
    if let Body::Finding(f) = &event.body {
        evidence.insert("uid".into(), f.event_id.to_string().into());
    }
    let actor = actor(event);
    if actor.as_object().is_some_and(|a| !a.is_empty()) {
        evidence.insert("actor".into(), actor);
    }
    if !evidence.is_empty() {
        o.insert("evidences".into(), json!([evidence]));
    }
    if matches!(event.body, Body::Alert(_)) {
        o.insert("is_alert".into(), true.into());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    /// The attributes OCSF 1.8.0 marks required for each class (base event plus class).
    fn assert_required(v: &Value, class: u64, extra: &[&str]) {
        for key in [
            "activity_id",
            "category_uid",
            "class_uid",
            "metadata",
            "severity_id",
            "time",
            "type_uid",
        ]
        .iter()
        .chain(extra)
        {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["class_uid"], class);
        assert_eq!(
            v["type_uid"].as_u64().unwrap(),
            class * 100 + v["activity_id"].as_u64().unwrap()
        );
        assert!(v["metadata"]["version"].is_string());
        assert!(v["metadata"]["product"]["name"].is_string());
    }

    #[test]
    fn llm_events_are_api_activity_with_the_ai_profile() {
        for rec in [
            testdata::request(0, "u-1042"),
            testdata::response(1),
            testdata::tool_call(2),
        ] {
            let v = value(&rec);
            assert_required(&v, 6003, &["actor", "api", "src_endpoint"]);
            assert!(v["api"]["operation"].is_string());
            assert!(v["message_context"]["ai_role_id"].is_u64());
            assert_eq!(v["unmapped"]["ledger_index"], rec.index);
            assert_eq!(v["unmapped"]["leaf_hash"], rec.leaf_hash_hex());
        }
        let v = value(&testdata::request(0, "u-1042"));
        assert_eq!(v["ai_model"]["model_name"], "gpt-4o");
        assert_eq!(v["ai_model"]["ai_provider"], "openai");
        assert_eq!(v["actor"]["user"]["name"], "u-1042");
        assert_eq!(v["src_endpoint"]["ip"], "192.0.2.7");
    }

    #[test]
    fn findings_are_detection_findings() {
        let v = value(&testdata::finding(3, "ignore_previous"));
        assert_required(&v, 2004, &["finding_info"]);
        assert_eq!(v["finding_info"]["types"][0], "prompt_injection");
        assert!(v["finding_info"]["uid"].is_string() && v["finding_info"]["title"].is_string());
        assert_eq!(v["severity_id"], 4);
        assert_eq!(v["confidence_score"], 90);
    }

    #[test]
    fn snapshots() {
        insta::assert_json_snapshot!("ocsf_request", value(&testdata::request(0, "u-1042")));
        insta::assert_json_snapshot!("ocsf_response", value(&testdata::response(1)));
        insta::assert_json_snapshot!("ocsf_tool_call", value(&testdata::tool_call(2)));
        insta::assert_json_snapshot!(
            "ocsf_finding",
            value(&testdata::finding(3, "ignore_previous"))
        );
    }

    proptest! {
        #[test]
        fn any_user_stays_in_its_field(user in any::<String>()) {
            let rec = testdata::request(2, &user);
            let line = render(&rec);
            let clean = !line.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
            prop_assert!(clean);
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v["actor"]["user"]["name"].as_str(), Some(user.as_str()));
            prop_assert_eq!(v["class_uid"].as_u64(), Some(6003));
            prop_assert_eq!(v["unmapped"]["ledger_index"].as_u64(), Some(2));
        }
    }
}
