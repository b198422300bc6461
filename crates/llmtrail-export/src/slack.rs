//! Slack-compatible webhook messages: one line of text per record, a batch as one message
//! `{"text": "<line>\n<line>…"}` (what Slack incoming webhooks and compatible chat tools accept).
//!
//! Values are escaped as Slack's message formatting requires: `&` becomes `&amp;`, `<` `&lt;`
//! and `>` `&gt;`, so a value cannot become a link or a mention such as `<!channel>`; control
//! characters (line breaks included) become U+FFFD, so a value cannot start a line that looks
//! like another record. Every line ends with the ledger index and leaf hash.

use std::fmt::Write as _;

use serde_json::json;

use crate::Record;
use crate::record::{Level, Summary};

/// Appends `value` with Slack's control sequences escaped.
pub fn push_escaped(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Renders the one-line summary of a record.
#[must_use]
pub fn line(record: &Record) -> String {
    let event = &record.event;
    let s = Summary::of(event);
    let level = match s.level {
        None | Some(Level::Info) => "info",
        Some(Level::Low) => "low",
        Some(Level::Medium) => "medium",
        Some(Level::High) => "high",
        Some(Level::Critical) => "critical",
    };
    let mut out = String::with_capacity(200);
    let _ = write!(out, "[{level}] ");
    push_escaped(&mut out, &s.name);
    let mut field = |name: &str, value: Option<&str>| {
        if let Some(v) = value {
            let _ = write!(out, " | {name}: ");
            push_escaped(&mut out, v);
        }
    };
    field("user", event.actor.user.as_deref());
    field("model", s.model.as_deref());
    field("tool", s.tool.as_deref());
    field("rule", s.rule.as_deref());
    field("outcome", s.outcome.as_deref());
    let _ = write!(
        out,
        " | event {} | ledger index {} leaf {}",
        event.id,
        record.index,
        record.leaf_hash_hex()
    );
    out
}

/// Joins rendered lines into one Slack message body.
#[must_use]
pub fn message(lines: &[&str]) -> String {
    json!({ "text": lines.join("\n") }).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    #[test]
    fn mentions_links_and_line_breaks_are_neutralised() {
        let rec = testdata::request(
            5,
            "<!channel> <https://evil.example|click> & co\n[critical] forged",
        );
        let l = line(&rec);
        assert!(
            !l.contains('<') && !l.contains('>') && !l.contains('\n'),
            "{l}"
        );
        let escaped =
            "&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co\u{FFFD}[critical] forged";
        assert!(l.contains(escaped), "{l}");
        assert!(l.ends_with(&format!("ledger index 5 leaf {}", hex::encode([5u8; 32]))));
    }

    #[test]
    fn snapshot() {
        let a = line(&testdata::finding(3, "ignore_previous"));
        let b = line(&testdata::request(0, "u-1042"));
        insta::assert_snapshot!("slack_message", message(&[&a, &b]));
    }

    proptest! {
        #[test]
        fn one_record_is_one_line(user in any::<String>()) {
            let l = line(&testdata::request(1, &user));
            prop_assert!(!l.contains('\n') && !l.contains('<') && !l.contains('>'));
            let m: serde_json::Value = serde_json::from_str(&message(&[&l, &l]))
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(m["text"].as_str().map(|t| t.lines().count()), Some(2));
        }
    }
}
