//! The committed JSON Schema matches the types, and describes the wire format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::path::PathBuf;

use llmtrail_core::schema::{event_schema, event_schema_pretty};
use llmtrail_core::{EventKind, content_fields};
use serde_json::Value;

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema/event.schema.json")
}

#[test]
fn schema_file_is_up_to_date() {
    let path = schema_path();
    let generated = event_schema_pretty();
    if std::env::var_os("UPDATE_SCHEMA").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is out of date; regenerate it with \
         `UPDATE_SCHEMA=1 cargo test -p llmtrail-core --test schema`",
        path.display()
    );
}

/// Resolves a `$ref` to `#/$defs/...` against the root schema.
fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => &root["$defs"][reference.trim_start_matches("#/$defs/")],
        None => schema,
    }
}

#[test]
fn one_branch_per_kind_pairs_kind_and_body() {
    let schema = event_schema();
    let branches = schema["oneOf"].as_array().unwrap();
    assert_eq!(branches.len(), EventKind::ALL.len());
    for (branch, kind) in branches.iter().zip(EventKind::ALL) {
        assert_eq!(branch["properties"]["kind"]["const"], kind.as_str());
        assert_eq!(branch["additionalProperties"], false);
        assert_eq!(branch["required"], serde_json::json!(["kind", "body"]));
        let body = resolve(&schema, &branch["properties"]["body"]);
        assert_eq!(body["type"], "object", "{kind}");
        assert_eq!(body["additionalProperties"], false, "{kind}");
        // Content fields are optional, so metadata alone validates.
        let required: Vec<&str> = body["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for field in content_fields(kind) {
            assert!(body["properties"].get(*field).is_some(), "{kind}: {field}");
            assert!(!required.contains(field), "{kind}: {field} is required");
        }
    }
}

#[test]
fn schema_uses_gen_ai_names_and_requires_what_parsing_requires() {
    let schema = event_schema();
    let request = &schema["$defs"]["LlmRequest"];
    assert_eq!(
        request["required"],
        serde_json::json!(["gen_ai.provider.name", "gen_ai.request.model"])
    );
    let message = &schema["$defs"]["Message"];
    assert!(message["properties"].get("content").is_some());
    assert!(message["properties"].get("parts").is_some());
    let usage = &schema["$defs"]["Usage"];
    assert!(
        usage["properties"]
            .get("gen_ai.usage.input_tokens")
            .is_some()
    );
    let part = &schema["$defs"]["Part"];
    assert_eq!(part["oneOf"].as_array().map(Vec::len), Some(7));
}

/// Examples of every kind, as clients send them.
fn examples() -> Vec<&'static str> {
    vec![
        r#"{"kind":"llm.request","actor":{"user":"u-1042","role":"finance","source_ip":"10.0.0.7"},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},"tags":{"app":"assistant"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.system_instructions":[{"type":"text","content":"Be brief."}],"gen_ai.input.messages":[{"role":"user","content":"hi"},{"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","response":{"ok":true}}]}],"gen_ai.tool.definitions":[{"type":"function","name":"lookup","parameters":{"type":"object"}}],"parameters":{"gen_ai.request.temperature":0.2,"stream":true}}}"#,
        r#"{"kind":"llm.response","body":{"request_id":"01a200d8-accb-700e-8e14-29e0eb7c3d86","status":"ok","latency_ms":812.5,"usage":{"gen_ai.usage.input_tokens":12,"gen_ai.usage.output_tokens":40},"gen_ai.output.messages":[{"role":"assistant","parts":[{"type":"text","content":"Hello"},{"type":"tool_call","id":"call_1","name":"lookup","arguments":{"q":"x"}}],"finish_reason":"tool_calls"}]}}"#,
        r#"{"kind":"tool.call","body":{"gen_ai.tool.name":"shell","status":"blocked","decision":"block","gen_ai.tool.call.arguments":{"cmd":"rm -rf /"}}}"#,
        r#"{"kind":"finding","body":{"event_id":"01a200d8-accb-700e-8e14-29e0eb7c3d86","category":"secret","type":"aws_access_key","severity":"high","detector":"secrets","owasp":"LLM02"}}"#,
        r#"{"kind":"alert","body":{"alert_id":"01a200d8-bdb9-77e6-962d-28537eb04c27","rule_id":"r-1","title":"Injection burst","severity":"critical","state":"open","evidence":["01a200d8-accb-700e-8e14-29e0eb7c3d86"]}}"#,
        r#"{"kind":"audit","actor":{"user":"admin"},"body":{"action":"event.read","target":"01a200d8-accb-700e-8e14-29e0eb7c3d86","outcome":"success","reason":"incident 42"}}"#,
    ]
}

#[test]
fn every_kind_validates_against_the_committed_schema() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for text in examples() {
        let event = llmtrail_core::Event::from_json_slice(text.as_bytes()).unwrap();
        let value = event.to_value();
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{} does not match the schema: {errors:?}",
            event.kind()
        );
    }
}

#[test]
fn the_schema_rejects_what_the_parser_rejects() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path()).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let base: Value = serde_json::from_str(examples()[2]).unwrap();
    let valid = llmtrail_core::Event::from_value(base.clone())
        .unwrap()
        .to_value();
    let mut unknown_kind = valid.clone();
    unknown_kind["kind"] = Value::from("llm.magic");
    let mut missing_tool = valid.clone();
    missing_tool["body"]
        .as_object_mut()
        .unwrap()
        .remove("gen_ai.tool.name");
    let mut unknown_field = valid.clone();
    unknown_field["colour"] = Value::from("red");
    let mut wrong_kind_body = valid;
    wrong_kind_body["kind"] = Value::from("audit");
    for (name, bad) in [
        ("unknown kind", unknown_kind),
        ("missing tool name", missing_tool),
        ("unknown top-level field", unknown_field),
        ("body of another kind", wrong_kind_body),
    ] {
        assert!(!validator.is_valid(&bad), "schema accepts {name}");
        assert!(
            llmtrail_core::Event::from_value(bad).is_err(),
            "parser accepts {name}"
        );
    }
}
