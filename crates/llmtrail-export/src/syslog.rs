//! RFC 5424 syslog messages, and their framing for TCP and TLS (RFC 6587 octet counting).
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME llmtrail PROCID MSGID
//!   [llmtrail@32473 index="N" leaf_hash="…" id="…" kind="…" user="…"] MSG
//! ```
//!
//! - PRI is `facility * 8 + severity`; the severity follows the event (critical findings are
//!   `crit`, high `err`, medium `warning`, low `notice`, everything else `info`).
//! - TIMESTAMP is the event's time in UTC with microseconds (RFC 5424 allows at most six
//!   fractional digits). HOSTNAME, APP-NAME, PROCID and MSGID are reduced to printable US-ASCII
//!   without spaces (anything else becomes `_`) and cut to their maximum lengths; empty becomes
//!   the nil value `-`.
//! - The structured-data element `llmtrail@32473` carries the ledger index and leaf hash on
//!   every message. 32473 is the private enterprise number RFC 5612 reserves for documentation;
//!   deployments that need their own can set `sd_id`. Parameter values escape `"`, `\` and `]`
//!   with a backslash as RFC 5424 section 6.3.3 requires.
//! - MSG is the record in the sink's format (CEF or JSON), which never contains a raw line
//!   break. No BOM is written, so CEF parsers see `CEF:0` first.
//!
//! Over TCP and TLS each message is sent as `MSG-LEN SP SYSLOG-MSG` (octet counting), so a
//! message can never be split or joined with another whatever it contains; over UDP each
//! message is one datagram.

use std::fmt::Write as _;

use crate::record::{Level, Record, Summary};

/// Header values that are the same for every message of one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Facility code, 0–23.
    pub facility: u8,
    /// HOSTNAME field.
    pub hostname: String,
    /// APP-NAME field.
    pub app_name: String,
    /// PROCID field.
    pub procid: String,
    /// SD-ID of the element carrying the ledger position.
    pub sd_id: String,
}

impl Header {
    /// Builds a header, reducing every field to what RFC 5424 allows.
    #[must_use]
    pub fn new(facility: u8, hostname: &str, sd_id: &str) -> Header {
        Header {
            facility: facility.min(23),
            hostname: printable(hostname, 255),
            app_name: printable("llmtrail", 48),
            procid: printable(&std::process::id().to_string(), 128),
            sd_id: sd_name(sd_id),
        }
    }
}

/// Returns the syslog severity code for a level.
#[must_use]
pub fn severity(level: Option<Level>) -> u8 {
    match level {
        Some(Level::Critical) => 2,
        Some(Level::High) => 3,
        Some(Level::Medium) => 4,
        Some(Level::Low) => 5,
        None | Some(Level::Info) => 6,
    }
}

/// PRINTUSASCII (33–126) only, at most `max` characters; empty is the nil value `-`.
fn printable(value: &str, max: usize) -> String {
    let s: String = value
        .chars()
        .take(max)
        .map(|c| if ('!'..='~').contains(&c) { c } else { '_' })
        .collect();
    if s.is_empty() { "-".into() } else { s }
}

/// SD-NAME: printable US-ASCII except `=`, space, `]` and `"`, at most 32 characters.
fn sd_name(value: &str) -> String {
    let s: String = value
        .chars()
        .take(32)
        .map(|c| {
            if ('!'..='~').contains(&c) && !matches!(c, '=' | ']' | '"') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "llmtrail".into() } else { s }
}

/// Appends a PARAM-VALUE with `"`, `\` and `]` escaped. Control characters (and U+2028,
/// U+2029) become U+FFFD: RFC 5424 has no escape for them, and receivers that write one
/// message per line would otherwise let a value start a forged line.
pub fn push_param_value(out: &mut String, value: &str) {
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
            out.push('\u{FFFD}');
        } else {
            out.push(c);
        }
    }
}

fn param(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    push_param_value(out, value);
    out.push('"');
}

/// RFC 3339 UTC with exactly six fractional digits.
fn timestamp(t: jiff::Timestamp) -> String {
    let micros = t.subsec_nanosecond() / 1000;
    let whole = jiff::Timestamp::from_second(t.as_second()).unwrap_or(t);
    let s = whole.to_string();
    // jiff prints whole seconds as `…:SSZ`.
    match s.strip_suffix('Z') {
        Some(base) => format!("{base}.{micros:06}Z"),
        None => s,
    }
}

/// Renders the RFC 5424 message for `record` with `msg` as its MSG part (no framing).
#[must_use]
pub fn message(header: &Header, record: &Record, msg: &str) -> String {
    let event = &record.event;
    let summary = Summary::of(event);
    let pri = u16::from(header.facility) * 8 + u16::from(severity(summary.level));
    let mut out = String::with_capacity(256 + msg.len());
    let _ = write!(
        out,
        "<{pri}>1 {} {} {} {} {} [{}",
        timestamp(event.time),
        header.hostname,
        header.app_name,
        header.procid,
        printable(summary.kind, 32),
        header.sd_id,
    );
    param(&mut out, "index", &record.index.to_string());
    param(&mut out, "leaf_hash", &record.leaf_hash_hex());
    param(&mut out, "id", &event.id.to_string());
    param(&mut out, "kind", summary.kind);
    if let Some(user) = &event.actor.user {
        param(&mut out, "user", user);
    }
    out.push(']');
    if !msg.is_empty() {
        out.push(' ');
        out.push_str(msg);
    }
    out
}

/// Appends `message` with RFC 6587 octet-counting framing: its length in bytes, a space, then
/// the message.
pub fn push_octet_counted(out: &mut Vec<u8>, message: &[u8]) {
    out.extend_from_slice(message.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(message);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
pub(crate) mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::testdata;

    /// One parsed RFC 5424 message.
    #[derive(Debug)]
    pub(crate) struct Parsed {
        pub pri: u16,
        pub fields: Vec<String>,
        pub sd_id: String,
        pub params: BTreeMap<String, String>,
        pub msg: String,
    }

    /// A strict reader of the messages this module writes: header fields, one SD element
    /// (unescaped parameters), then MSG. Written from RFC 5424's ABNF.
    pub(crate) fn parse(m: &str) -> Result<Parsed, String> {
        let rest = m.strip_prefix('<').ok_or("no PRI")?;
        let close = rest.find('>').ok_or("no PRI end")?;
        let pri: u16 = rest[..close].parse().map_err(|_| "bad PRI")?;
        let mut rest = &rest[close + 1..];
        let mut fields = Vec::new();
        for _ in 0..6 {
            let sp = rest.find(' ').ok_or("short header")?;
            fields.push(rest[..sp].to_owned());
            rest = &rest[sp + 1..];
        }
        let mut chars = rest.char_indices();
        if chars.next().map(|c| c.1) != Some('[') {
            return Err("no SD element".into());
        }
        let mut sd_id = String::new();
        let mut params = BTreeMap::new();
        let mut end = None;
        let mut state = 0; // 0 id, 1 name, 2 value
        let mut name = String::new();
        let mut value = String::new();
        while let Some((i, c)) = chars.next() {
            match state {
                0 if c == ' ' => state = 1,
                0 if c == ']' => {
                    end = Some(i + 1);
                    break;
                }
                0 => sd_id.push(c),
                1 if c == '=' => {
                    if chars.next().map(|c| c.1) != Some('"') {
                        return Err("param value not quoted".into());
                    }
                    state = 2;
                }
                1 if matches!(c, ' ' | ']' | '"') => return Err(format!("bad name char {c:?}")),
                1 => name.push(c),
                2 if c == '\\' => {
                    let (_, n) = chars.next().ok_or("dangling backslash")?;
                    if !matches!(n, '"' | '\\' | ']') {
                        value.push('\\');
                    }
                    value.push(n);
                }
                2 if c == '"' => {
                    if params
                        .insert(std::mem::take(&mut name), std::mem::take(&mut value))
                        .is_some()
                    {
                        return Err("repeated param".into());
                    }
                    match chars.next() {
                        Some((_, ' ')) => state = 1,
                        Some((j, ']')) => {
                            end = Some(j + 1);
                            break;
                        }
                        other => return Err(format!("after param: {other:?}")),
                    }
                }
                2 => value.push(c),
                _ => return Err("state".into()),
            }
        }
        let end = end.ok_or("unterminated SD")?;
        let msg = rest[end..]
            .strip_prefix(' ')
            .unwrap_or(&rest[end..])
            .to_owned();
        Ok(Parsed {
            pri,
            fields,
            sd_id,
            params,
            msg,
        })
    }

    /// What a value becomes in structured data: control characters replaced.
    fn expected(value: &str) -> String {
        value
            .chars()
            .map(|c| {
                if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                    '\u{FFFD}'
                } else {
                    c
                }
            })
            .collect()
    }

    fn header() -> Header {
        Header {
            facility: 13,
            hostname: "host-1".into(),
            app_name: "llmtrail".into(),
            procid: "4242".into(),
            sd_id: "llmtrail@32473".into(),
        }
    }

    #[test]
    fn header_fields_are_reduced_to_what_the_rfc_allows() {
        let h = Header::new(99, "my host\n", "a b=c]\"");
        assert_eq!(h.facility, 23);
        assert_eq!(h.hostname, "my_host_");
        assert_eq!(h.sd_id, "a_b_c__");
        assert_eq!(Header::new(1, "", "").hostname, "-");
    }

    #[test]
    fn message_carries_index_leaf_hash_and_priority() {
        let rec = testdata::finding(3, "ignore_previous");
        let m = message(&header(), &rec, "CEF:0|x");
        let p = parse(&m).unwrap();
        assert_eq!(p.pri, 13 * 8 + 3);
        assert_eq!(p.fields[0], "1");
        assert_eq!(p.fields[1], "2026-01-01T00:00:00.123456Z");
        assert_eq!(p.fields[5], "finding");
        assert_eq!(p.sd_id, "llmtrail@32473");
        assert_eq!(p.params["index"], "3");
        assert_eq!(p.params["leaf_hash"], hex::encode([3u8; 32]));
        assert_eq!(p.msg, "CEF:0|x");
    }

    #[test]
    fn hostile_user_cannot_close_the_element_or_add_params() {
        let hostile = "x\" index=\"999\"]\n<13>1 [forged@1 a=\"b\\";
        let rec = testdata::request(5, hostile);
        let p = parse(&message(&header(), &rec, "m")).unwrap();
        assert_eq!(p.params["user"], hostile.replace('\n', "\u{FFFD}"));
        assert_eq!(p.params["index"], "5");
        assert_eq!(p.params.len(), 5);
        assert_eq!(p.msg, "m");
    }

    #[test]
    fn octet_counting_frames_by_byte_length() {
        let mut out = Vec::new();
        push_octet_counted(&mut out, "é\n".as_bytes());
        assert_eq!(out, b"3 \xc3\xa9\n");
    }

    #[test]
    fn snapshots() {
        let rec = testdata::request(0, "u-1042");
        insta::assert_snapshot!(
            "syslog_cef",
            message(&header(), &rec, &crate::cef::render(&rec))
        );
        let rec = testdata::finding(3, "ignore_previous");
        insta::assert_snapshot!(
            "syslog_json",
            message(&header(), &rec, &crate::json::render(&rec))
        );
    }

    proptest! {
        #[test]
        fn any_user_round_trips_in_structured_data(user in any::<String>(), n in 0u64..1_000_000) {
            let rec = testdata::request(n % 256, &user);
            let msg = crate::cef::render(&rec);
            let m = message(&header(), &rec, &msg);
            let p = parse(&m).map_err(TestCaseError::fail)?;
            prop_assert_eq!(p.params.get("user").cloned(), Some(expected(&user)));
            prop_assert!(!m.contains('\n') && !m.contains('\r'));
            prop_assert_eq!(p.params.get("index").cloned(), Some((n % 256).to_string()));
            prop_assert_eq!(p.params.len(), 5);
            prop_assert_eq!(&p.msg, &msg);
            let mut framed = Vec::new();
            push_octet_counted(&mut framed, m.as_bytes());
            let text = String::from_utf8(framed).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let (len, body) = text.split_once(' ').ok_or_else(|| TestCaseError::fail("no space"))?;
            prop_assert_eq!(len.parse::<usize>().ok(), Some(body.len()));
        }
    }
}
