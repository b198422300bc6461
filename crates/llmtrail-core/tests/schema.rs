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
