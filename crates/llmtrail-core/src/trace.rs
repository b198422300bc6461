//! W3C Trace Context identifiers that tie an event to a distributed trace.
//!
//! Contract: a [`TraceId`] is 16 bytes written as 32 lowercase hex digits, a [`SpanId`] 8
//! bytes written as 16; neither may be all zero (W3C Trace Context calls those invalid).
//! Uppercase hex is rejected rather than folded, because W3C `traceparent` requires lowercase
//! and silently rewriting ids would hide client bugs. An empty [`Trace`] is omitted from the
//! event JSON.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Links an event to a distributed trace (all fields optional).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a trace object")]
pub struct Trace {
    /// The trace this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<TraceId>,
    /// The span that produced this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span_id: Option<SpanId>,
    /// The parent of `span_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<SpanId>,
}

impl Trace {
    /// Tells whether no field is set (the trace is then omitted from the event JSON).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Trace::default()
    }
}

/// Explains why a string is not a valid trace or span id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what}: expected {digits} lowercase hex digits, not all zero")]
pub struct ParseIdError {
    what: &'static str,
    digits: usize,
}

/// Parses exactly `2 * N` lowercase hex digits into bytes, rejecting all-zero ids.
fn parse_hex<const N: usize>(s: &str, what: &'static str) -> Result<[u8; N], ParseIdError> {
    let err = ParseIdError {
        what,
        digits: 2 * N,
    };
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return Err(err);
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
            return Err(err);
        };
        *byte = (hi << 4) | lo;
    }
    if out.iter().all(|&b| b == 0) {
        return Err(err);
    }
    Ok(out)
}

/// Returns the value of one lowercase hex digit.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Writes bytes as lowercase hex.
fn write_hex(bytes: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
}

macro_rules! hex_id {
    ($name:ident, $len:literal, $what:literal, $pattern:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Wraps raw bytes; returns `None` for the all-zero (invalid) id.
            #[must_use]
            pub fn from_bytes(bytes: [u8; $len]) -> Option<Self> {
                if bytes.iter().all(|&b| b == 0) {
                    None
                } else {
                    Some(Self(bytes))
                }
            }

            /// Returns the raw bytes.
            #[must_use]
            pub const fn to_bytes(self) -> [u8; $len] {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            /// Parses the lowercase hex form.
            ///
            /// # Errors
            ///
            /// [`ParseIdError`] for a wrong length, a non-lowercase-hex digit, or all zeros.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                parse_hex::<$len>(s, $what).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_hex(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($name))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "description": $doc,
                    "type": "string",
                    "pattern": $pattern,
                })
            }
        }
    };
}

hex_id!(
    TraceId,
    16,
    "trace id",
    "^[0-9a-f]{32}$",
    "W3C trace id: 32 lowercase hex digits, not all zero."
);
hex_id!(
    SpanId,
    8,
    "span id",
    "^[0-9a-f]{16}$",
    "W3C span id: 16 lowercase hex digits, not all zero."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips() {
        let s = "4bf92f3577b34da6a3ce929d0e0e4736";
        let id: TraceId = s.parse().unwrap();
        assert_eq!(id.to_string(), s);
    }

    #[test]
    fn rejects_bad_ids() {
        for bad in [
            "4BF92F3577B34DA6A3CE929D0E0E4736",
            "00000000000000000000000000000000",
            "4bf92f3577b34da6a3ce929d0e0e473",
            "4bf92f3577b34da6a3ce929d0e0e4736a",
            "4bf92f3577b34da6a3ce929d0e0e473g",
            "4bf92f3577b34da6a3ce929d0e0e47é",
        ] {
            assert!(bad.parse::<TraceId>().is_err(), "{bad}");
        }
        assert!("0000000000000000".parse::<SpanId>().is_err());
        assert!("00f067aa0ba902b7".parse::<SpanId>().is_ok());
    }

    #[test]
    fn zero_bytes_are_refused() {
        assert!(SpanId::from_bytes([0; 8]).is_none());
        assert!(SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, 1]).is_some());
    }
}
