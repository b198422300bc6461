//! ArcSight Common Event Format (CEF) version 0: one line per record.
//!
//! ```text
//! CEF:0|llmtrail|llmtrail|<version>|<signature>|<name>|<severity>|<extension>
//! ```
//!
//! Escaping, per the CEF specification:
//! - header fields: `\` becomes `\\` and `|` becomes `\|`;
//! - extension values: `\` becomes `\\`, `=` becomes `\=`, a line feed becomes the two
//!   characters `\n` and a carriage return `\r` (pipes need no escaping there);
//! - anything else that could end or split a line in some receiver (other control characters,
//!   NUL included, and U+2028/U+2029) becomes U+FFFD in both places, since CEF has no escape for
//!   them. A record is therefore always exactly one line, with exactly seven unescaped header
//!   pipes, and a value can never start a new `key=`.
//!
//! Extension keys are fixed names from the CEF dictionary; custom values use the labelled
//! `cnN`/`csN` pairs: `cn1` is the ledger index and `cs1` the leaf hash on every record, so any
//! record can be proved against a checkpoint. No prompt, output or tool content is written:
//! CEF carries metadata only (use the JSON or OCSF formats for full events).

use std::fmt::Write as _;

use crate::record::{Level, Record, Summary};

/// The vendor and product in every header.
const VENDOR: &str = "llmtrail";

/// Returns the CEF severity (0–10) for a level.
#[must_use]
pub fn severity(level: Option<Level>) -> u8 {
    match level {
        None | Some(Level::Info) => 1,
        Some(Level::Low) => 3,
        Some(Level::Medium) => 5,
        Some(Level::High) => 8,
        Some(Level::Critical) => 10,
    }
}

/// Characters that have no CEF escape and would end or split a line in some parser.
fn unrepresentable(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// Appends a header field with `\` and `|` escaped.
pub fn push_header(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            c if unrepresentable(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Appends an extension value with `\`, `=`, line feed and carriage return escaped.
pub fn push_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if unrepresentable(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

/// Collects `key=value` pairs, space-separated, values escaped.
struct Extension {
    out: String,
}

impl Extension {
    fn pair(&mut self, key: &str, value: &str) {
        if !self.out.is_empty() {
            self.out.push(' ');
        }
        self.out.push_str(key);
        self.out.push('=');
        push_value(&mut self.out, value);
    }

    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.pair(key, v);
        }
    }

    fn labelled(&mut self, key: &str, label: &str, value: Option<&str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.pair(&format!("{key}Label"), label);
            self.pair(key, v);
        }
    }
}

/// Renders `record` as one CEF line (no trailing newline).
#[must_use]
pub fn render(record: &Record) -> String {
    let event = &record.event;
    let summary = Summary::of(event);
    let mut out = String::with_capacity(512);
    out.push_str("CEF:0|");
    push_header(&mut out, VENDOR);
    out.push('|');
    push_header(&mut out, VENDOR);
    out.push('|');
    push_header(&mut out, env!("CARGO_PKG_VERSION"));
    out.push('|');
    push_header(&mut out, &summary.signature);
    out.push('|');
    push_header(&mut out, &summary.name);
    out.push('|');
    let _ = write!(out, "{}|", severity(summary.level));

    let mut ext = Extension { out: String::new() };
    ext.pair("rt", &event.time.as_millisecond().to_string());
    ext.pair("externalId", &event.id.to_string());
    ext.pair("cat", summary.kind);
    ext.pair("cn1Label", "ledgerIndex");
    ext.pair("cn1", &record.index.to_string());
    ext.pair("cs1Label", "leafHash");
    ext.pair("cs1", &record.leaf_hash_hex());
    ext.opt("suser", event.actor.user.as_deref());
    ext.opt("spriv", event.actor.role.as_deref());
    ext.opt(
        "src",
        event.actor.source_ip.map(|ip| ip.to_string()).as_deref(),
    );
    ext.opt(
        "requestClientApplication",
        event.actor.user_agent.as_deref(),
    );
    ext.opt("outcome", summary.outcome.as_deref());
    ext.labelled("cs2", "model", summary.model.as_deref());
    ext.labelled("cs3", "provider", summary.provider.as_deref());
    ext.labelled("cs4", "tool", summary.tool.as_deref());
    ext.labelled("cs5", "rule", summary.rule.as_deref());
    ext.labelled("cs6", "targetEventId", summary.target.as_deref());
    ext.opt("suid", event.actor.api_key_id.as_deref());
    ext.opt("sproc", event.actor.agent.as_deref());
    out.push_str(&ext.out);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    /// A strict CEF reader: the eight header parts and the extension pairs, unescaped. It is
    /// written from the specification, independently of the writer above.
    pub(crate) fn parse(line: &str) -> Result<(Vec<String>, BTreeMap<String, String>), String> {
        if line.contains('\n') || line.contains('\r') {
            return Err("raw line break".into());
        }
        let mut header = Vec::new();
        let mut cur = String::new();
        let mut chars = line.chars();
        while header.len() < 7 {
            match chars.next() {
                None => return Err(format!("only {} header fields", header.len())),
                Some('\\') => match chars.next() {
                    Some(c @ ('\\' | '|')) => cur.push(c),
                    other => return Err(format!("bad header escape {other:?}")),
                },
                Some('|') => header.push(std::mem::take(&mut cur)),
                Some(c) => cur.push(c),
            }
        }
        let rest: String = chars.collect();
        // Split the extension at unescaped `=`; the key is the last word before each.
        let mut pieces: Vec<String> = Vec::new();
        let mut cur = String::new();
        let mut it = rest.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\\' => {
                    cur.push('\\');
                    cur.push(it.next().ok_or("dangling backslash")?);
                }
                '=' => pieces.push(std::mem::take(&mut cur)),
                c => cur.push(c),
            }
        }
        pieces.push(cur);
        let mut ext = BTreeMap::new();
        let mut key = pieces.first().cloned().ok_or("empty extension")?;
        for (i, piece) in pieces.iter().enumerate().skip(1) {
            let (value, next_key) = if i + 1 == pieces.len() {
                (piece.as_str(), "")
            } else {
                let cut = piece.rfind(' ').ok_or("value without a following key")?;
                (&piece[..cut], &piece[cut + 1..])
            };
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad key {key:?}"));
            }
            let mut v = String::new();
            let mut vc = value.chars();
            while let Some(c) = vc.next() {
                if c == '\\' {
                    match vc.next() {
                        Some('\\') => v.push('\\'),
                        Some('=') => v.push('='),
                        Some('n') => v.push('\n'),
                        Some('r') => v.push('\r'),
                        other => return Err(format!("bad value escape {other:?}")),
                    }
                } else {
                    v.push(c);
                }
            }
            if ext.insert(key.clone(), v).is_some() {
                return Err(format!("repeated key {key}"));
            }
            key = next_key.to_owned();
        }
        Ok((header, ext))
    }

    /// What a hostile value becomes after a round trip: unrepresentable characters replaced.
    pub(crate) fn expected(value: &str) -> String {
        value
            .chars()
            .map(|c| {
                if c != '\n' && c != '\r' && unrepresentable(c) {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect()
    }

    #[test]
    fn header_and_extension_escaping_follow_the_spec() {
        let mut h = String::new();
        push_header(&mut h, "a|b\\c=d\ne");
        assert_eq!(h, "a\\|b\\\\c=d\u{FFFD}e");
        let mut v = String::new();
        push_value(&mut v, "a|b\\c=d\ne\rf\0g");
        assert_eq!(v, "a|b\\\\c\\=d\\ne\\rf\u{FFFD}g");
    }

    #[test]
    fn every_record_carries_index_and_leaf_hash() {
        let rec = testdata::request(7, "u-1042");
        let (header, ext) = parse(&render(&rec)).unwrap();
        assert_eq!(header[0], "CEF:0");
        assert_eq!(header[4], "llm.request");
        assert_eq!(ext["cn1"], "7");
        assert_eq!(ext["cn1Label"], "ledgerIndex");
        assert_eq!(ext["cs1"], hex::encode([7u8; 32]));
        assert_eq!(ext["externalId"], rec.event.id.to_string());
    }

    #[test]
    fn hostile_user_cannot_forge_fields_or_lines() {
        let hostile = "eve act=blocked cs1=00|x\\|\n<13>1 - forged\r\0=\\";
        let mut rec = testdata::request(1, hostile);
        rec.event.actor.role = Some("a|b|c|d|e|f|g".into());
        let line = render(&rec);
        assert!(!line.contains('\n') && !line.contains('\r') && !line.contains('\0'));
        let (header, ext) = parse(&line).unwrap();
        assert_eq!(header.len(), 7);
        assert_eq!(ext["suser"], expected(hostile));
        assert_eq!(ext["spriv"], "a|b|c|d|e|f|g");
        assert_eq!(ext["cs1"], hex::encode([1u8; 32]));
        assert!(!ext.contains_key("act"));
    }

    #[test]
    fn snapshots() {
        insta::assert_snapshot!("cef_request", render(&testdata::request(0, "u-1042")));
        insta::assert_snapshot!("cef_response", render(&testdata::response(1)));
        insta::assert_snapshot!("cef_tool_call", render(&testdata::tool_call(2)));
        insta::assert_snapshot!(
            "cef_finding",
            render(&testdata::finding(3, "ignore|previous=all"))
        );
    }

    proptest! {
        #[test]
        fn any_values_round_trip_and_never_forge(
            user in any::<String>(),
            agent in "[\\\\|= a-z\\n\\r\\x00]{0,24}",
            tool in any::<String>(),
        ) {
            let mut rec = testdata::request(9, &user);
            rec.event.actor.agent = Some(agent.clone());
            let line = render(&rec);
            prop_assert!(!line.contains('\n') && !line.contains('\r'));
            let (header, ext) = parse(&line).map_err(TestCaseError::fail)?;
            prop_assert_eq!(header.len(), 7);
            prop_assert_eq!(&header[4], "llm.request");
            prop_assert_eq!(ext.get("cn1").map(String::as_str), Some("9"));
            if !user.is_empty() {
                prop_assert_eq!(ext.get("suser").cloned(), Some(expected(&user)));
            }
            if !agent.is_empty() {
                prop_assert_eq!(ext.get("sproc").cloned(), Some(expected(&agent)));
            }
            let mut t = testdata::tool_call(4);
            if let llmtrail_core::Body::ToolCall(call) = &mut t.event.body {
                call.name.clone_from(&tool);
            }
            let (header, ext) = parse(&render(&t)).map_err(TestCaseError::fail)?;
            prop_assert_eq!(header.len(), 7);
            if !tool.is_empty() {
                prop_assert_eq!(ext.get("cs4").cloned(), Some(expected(&tool)));
            }
            prop_assert_eq!(ext.get("cs1").cloned(), Some(hex::encode([4u8; 32])));
        }
    }
}
