//! RFC 8785 JSON Canonicalization Scheme (JCS): one byte sequence per JSON value.
//!
//! Role: the ledger hashes these bytes, so equal events must always encode identically, on
//! every platform and after any number of round trips through JSON text.
//!
//! Contract:
//! - no whitespace; object members sorted by their keys' UTF-16 code units;
//! - strings escape only `"`, `\` and control characters below U+0020 (`\b \t \n \f \r` in
//!   short form, the rest as `\u00xx` with lowercase hex); everything else is literal UTF-8;
//! - numbers that are integers within the `i64`/`u64` range are written in plain decimal;
//!   all others follow ECMAScript's Number-to-String (via `ryu-js`), with `-0` written as `0`.
//!   The integer rule is a deliberate extension of RFC 8785 (which would round integers above
//!   2^53 through `f64`): token counts and ids must not be silently altered.
//!
//! Performance: encoding runs on every ledger append, so the writer allocates nothing for
//! objects whose keys already iterate in UTF-16 order (always the case for ASCII keys with
//! serde_json's default sorted map) and compares keys without decoding them.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

/// Returns the canonical encoding of `value`.
///
/// ```
/// use serde_json::json;
///
/// let bytes = llmtrail_core::canonical::to_canonical_vec(&json!({"b": [1.0, "é"], "a": null}));
/// assert_eq!(bytes, r#"{"a":null,"b":[1,"é"]}"#.as_bytes());
/// ```
#[must_use]
pub fn to_canonical_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    write_canonical(value, &mut out);
    out
}

/// Appends the canonical encoding of `value` to `out`.
pub fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(n, out),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => write_object(map, out),
    }
}

fn write_object(map: &Map<String, Value>, out: &mut Vec<u8>) {
    out.push(b'{');
    let mut keys = map.keys();
    let sorted = match keys.next() {
        None => true,
        Some(first) => {
            let mut previous = first;
            keys.all(|key| {
                let in_order = cmp_utf16(previous, key) == Ordering::Less;
                previous = key;
                in_order
            })
        }
    };
    if sorted {
        // serde_json's default map iterates in byte order, which equals UTF-16 order unless
        // keys mix U+E000..U+FFFF with supplementary characters: no allocation needed.
        for (i, (key, value)) in map.iter().enumerate() {
            write_member(i, key, value, out);
        }
    } else {
        // Keys are unique, so an unstable sort is deterministic.
        let mut entries: Vec<(&String, &Value)> = map.iter().collect();
        entries.sort_unstable_by(|a, b| cmp_utf16(a.0, b.0));
        for (i, (key, value)) in entries.into_iter().enumerate() {
            write_member(i, key, value, out);
        }
    }
    out.push(b'}');
}

fn write_member(index: usize, key: &str, value: &Value, out: &mut Vec<u8>) {
    if index > 0 {
        out.push(b',');
    }
    write_string(key, out);
    out.push(b':');
    write_canonical(value, out);
}

/// Compares two strings by their UTF-16 code units, without transcoding.
///
/// UTF-8 byte order equals code point order, and UTF-16 order differs from code point order
/// only between U+E000..U+FFFF (lead bytes 0xEE, 0xEF) and supplementary characters (lead
/// bytes 0xF0..0xF4, surrogates in UTF-16, hence smaller). At the first differing byte either
/// both strings are inside characters with the same lead byte (so the same class, and byte
/// order is right) or the differing bytes are lead bytes, where only that one pair of
/// classes needs swapping. For ASCII this is exactly byte comparison.
#[must_use]
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    match a.iter().zip(b).find(|(x, y)| x != y) {
        None => a.len().cmp(&b.len()),
        Some((&x, &y)) => {
            let high_bmp = |c: u8| c == 0xEE || c == 0xEF;
            if x >= 0xF0 && high_bmp(y) {
                Ordering::Less
            } else if high_bmp(x) && y >= 0xF0 {
                Ordering::Greater
            } else {
                x.cmp(&y)
            }
        }
    }
}

/// For each byte: 0 when it is written as is, else the character after the backslash of its
/// escape (`u` meaning `\u00xx`). Only `"`, `\\` and C0 controls are escaped.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = b'u';
        byte += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes a JSON string with JCS escaping, copying unescaped runs in one go.
fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(byte)];
        if escape == 0 {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        if escape == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', escape]);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes a number: integers verbatim, others as ECMAScript would.
fn write_number(n: &Number, out: &mut Vec<u8>) {
    if let Some(u) = n.as_u64() {
        write_u64(u, out);
    } else if let Some(i) = n.as_i64() {
        // Only negative values reach here (non-negative ones are u64).
        out.push(b'-');
        write_u64(i.unsigned_abs(), out);
    } else if let Some(f) = n.as_f64() {
        write_f64(f, out);
    } else {
        // Unreachable without serde_json's arbitrary_precision; a number beyond f64 then
        // has no ECMAScript form, and null keeps the output valid JSON.
        out.extend_from_slice(b"null");
    }
}

fn write_u64(mut u: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `u % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn write_f64(f: f64, out: &mut Vec<u8>) {
    if f == 0.0 {
        // Covers -0.0, which ECMAScript writes as "0".
        out.push(b'0');
    } else if f.is_finite() {
        let mut buffer = ryu_js::Buffer::new();
        out.extend_from_slice(buffer.format_finite(f).as_bytes());
    } else {
        // JSON has no NaN or infinities and serde_json never stores them; stay valid JSON.
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: f64) -> String {
        let mut out = Vec::new();
        write_f64(x, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn ecmascript_number_forms() {
        assert_eq!(f(-0.0), "0");
        assert_eq!(f(4.5), "4.5");
        assert_eq!(f(1e21), "1e+21");
        assert_eq!(f(1e20), "100000000000000000000");
        assert_eq!(f(1e-7), "1e-7");
        assert_eq!(f(0.000001), "0.000001");
        assert_eq!(f(-1.5e-300), "-1.5e-300");
        assert_eq!(f(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(f(5e-324), "5e-324");
    }

    #[test]
    fn integers_are_plain() {
        let mut out = Vec::new();
        for n in [
            Number::from(0u64),
            Number::from(u64::MAX),
            Number::from(i64::MIN),
            Number::from(-7i64),
        ] {
            write_number(&n, &mut out);
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "0 18446744073709551615 -9223372036854775808 -7 "
        );
    }

    #[test]
    fn escapes_controls_in_lowercase_hex() {
        let mut out = Vec::new();
        write_string("a\"\\\u{8}\t\n\u{c}\r\u{1}\u{1f}\u{7f}é/", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\\"\\\\\\b\\t\\n\\f\\r\\u0001\\u001f\u{7f}é/\""
        );
    }

    #[test]
    fn utf16_order_puts_surrogates_before_high_bmp() {
        assert_eq!(cmp_utf16("\u{1F600}", "\u{FB33}"), Ordering::Less);
        assert_eq!(cmp_utf16("\u{FB33}", "\u{1F600}"), Ordering::Greater);
        assert_eq!(cmp_utf16("\u{1F600}", "\u{20AC}"), Ordering::Greater);
        assert_eq!(cmp_utf16("a", "ab"), Ordering::Less);
        assert_eq!(cmp_utf16("ab", "ab"), Ordering::Equal);
    }
}
