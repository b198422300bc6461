//! JSON lines: each record is one JSON object on one line.
//!
//! ```json
//! {"index":0,"leaf_hash":"<64 hex>","event":{…the event exactly as the API shows it…}}
//! ```
//!
//! The event is the ledger's canonical JSON shape (`Event::to_value`), content included.
//! Every control character is escaped (line breaks as `\n`, NUL as `\u0000`, DEL, NEL and
//! U+2028/U+2029 as `\uXXXX`, see [`to_line`]) and events hold only valid UTF-8 (ingest rejects
//! anything else), so a value can never end the line, add a field, or be rewritten by a
//! syslog daemon's control-character escaping.

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
    to_line(&value(record))
}

/// Serializes `value` on one line, with every control character escaped.
///
/// serde_json escapes U+0000–U+001F; DEL, the C1 controls (U+0080–U+009F, among them NEL)
/// and U+2028/U+2029 are escaped here as well, because syslog daemons and line-oriented tools
/// rewrite or split on them. They can only occur inside JSON strings, where `\uXXXX` means
/// the same character, so the value parses back unchanged.
#[must_use]
pub fn to_line(value: &Value) -> String {
    let text = value.to_string();
    if !text.chars().any(needs_escape) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if needs_escape(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn needs_escape(c: char) -> bool {
    c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c) || c == '\u{2028}' || c == '\u{2029}'
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    #[test]
    fn snapshot() {
        insta::assert_snapshot!("json_request", render(&testdata::request(0, "u-1042")));
    }

    #[test]
    fn del_nel_and_line_separators_are_escaped() {
        let rec = testdata::request(0, "a\u{7f}b\u{85}c\u{2028}d\ne");
        let line = render(&rec);
        assert!(line.contains(r"a\u007fb\u0085c\u2028d\ne"), "{line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["event"]["actor"]["user"], "a\u{7f}b\u{85}c\u{2028}d\ne");
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
            let clean = !line.chars().any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
            prop_assert!(clean);
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v["event"]["actor"]["user"].as_str(), Some(user.as_str()));
            prop_assert_eq!(v["index"].as_u64(), Some(2));
            prop_assert_eq!(v.as_object().map(serde_json::Map::len), Some(3));
        }
    }
}
