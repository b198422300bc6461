//! JSON Schema of the event wire format, generated from the Rust types.
//!
//! Contract: [`event_schema`] describes what clients may POST (draft 2020-12): a `oneOf` with
//! one branch per kind pairing the `kind` constant with its body schema, `gen_ai.*` key names,
//! required fields, and `additionalProperties: false` wherever unknown fields are refused.
//! `docs/schema/event.schema.json` in the repository is this output, pretty-printed; the test
//! `schema_file_is_up_to_date` keeps the two equal (`UPDATE_SCHEMA=1` rewrites the file).
//!
//! Some rules are enforced by parsing but not expressed in the schema: a message may not have
//! both `content` and `parts`, trace/span ids may not be all zero, names may not be empty,
//! ranges (confidence 0–1, non-negative durations), and duplicate keys are refused.

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::Event;

/// Returns the JSON Schema (draft 2020-12) of one event as clients send it.
///
/// ```
/// let schema = llmtrail_core::schema::event_schema();
/// assert_eq!(schema["oneOf"].as_array().map(Vec::len), Some(6));
/// ```
#[must_use]
pub fn event_schema() -> Value {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Event>().to_value();
    if let Value::Object(object) = &mut schema {
        object.insert(
            "title".to_owned(),
            Value::String("llmtrail event".to_owned()),
        );
    }
    schema
}

/// Returns [`event_schema`] as pretty-printed JSON with a trailing newline (the form of the
/// committed schema file).
#[must_use]
pub fn event_schema_pretty() -> String {
    // Pretty-printing a Value cannot fail (all keys are strings).
    let mut text = serde_json::to_string_pretty(&event_schema()).unwrap_or_default();
    text.push('\n');
    text
}
