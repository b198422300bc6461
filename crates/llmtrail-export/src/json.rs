//! JSON lines: each record is one JSON object on one line.
//!
//! ```json
//! {"index":0,"leaf_hash":"<64 hex>","event":{…the event exactly as the API shows it…}}
//! ```
//!
//! The event is the ledger's canonical JSON shape (`Event::to_value`), content included.
//! serde_json escapes every control character (line breaks as `\n`, NUL as `\u0000`) and
//! events hold only valid UTF-8 (ingest rejects anything else), so a value can never end
//! the line or add a field.

use serde_json::{Value, json};

use crate::Record;

/// Returns the record as a JSON value.
#[must_use]
pub fn value(record: &Record) -> Value {
    json!({
        "index": record.index,
        "leaf_hash": record.leaf_hash_hex(),
        "event": record.event.to_value(),
    })
}

/// Renders the record as one line of JSON (no trailing newline).
#[must_use]
pub fn render(record: &Record) -> String {
    value(record).to_string()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("json_request", render(&testdata::request(0, "u-1042")));
    }

    #[test]
    fn the_event_round_trips() {
        let rec = testdata::response(1);
        let v: Value = serde_json::from_str(&render(&rec)).unwrap();
        assert_eq!(v["index"], 1);
        assert_eq!(v["leaf_hash"], hex::encode([1u8; 32]));
        let back = llmtrail_core::Event::from_value(v["event"].clone()).unwrap();
        assert_eq!(back, rec.event);
    }

    proptest! {
        #[test]
        fn any_user_stays_on_one_line_and_round_trips(user in any::<String>()) {
            let rec = testdata::request(2, &user);
            let line = render(&rec);
            prop_assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\0'));
            let v: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v["event"]["actor"]["user"].as_str(), Some(user.as_str()));
            prop_assert_eq!(v["index"].as_u64(), Some(2));
            prop_assert_eq!(v.as_object().map(serde_json::Map::len), Some(3));
        }
    }
}
