//! Event ids derived from the span, so that an export sent twice maps to the same ids.
//!
//! OTLP exporters retry (a lost answer, a 503), so the same span can arrive more than once.
//! The id of an event made from a span is a UUIDv7 whose 48-bit timestamp is the event's time
//! (Unix milliseconds) and whose 74 other bits are taken from
//! `SHA-256("llmtrail-otlp/v1" 0x00 <role> 0x00 <trace id, 16 bytes> <span id, 8 bytes>)`:
//!
//! | bytes | value |
//! | --- | --- |
//! | 0..6 | Unix milliseconds, big-endian |
//! | 6 | `0x70` OR (h\[0\] AND `0x0f`) (version 7) |
//! | 7 | h\[1\] |
//! | 8 | `0x80` OR (h\[2\] AND `0x3f`) (RFC 9562 variant) |
//! | 9..16 | h\[3..10\] |
//!
//! `role` names the event among those of the span: `otlp.traces/llm.request`,
//! `otlp.traces/llm.response`, `otlp.traces/tool.call`, and `otlp.logs/...` for events made
//! from log records. Anyone holding the span can compute the ids (the end-to-end test does),
//! and the server can tell a retried export (same id, same event: already recorded) from a
//! conflicting one (same id, other content: recorded under a fresh id, nothing dropped).
//! Without a trace and span id the id is an ordinary random UUIDv7.

use jiff::Timestamp;
use llmtrail_core::Trace;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

/// Returns the id of the event `role` made from the span of `trace`, at `time`.
#[must_use]
pub fn event_id(trace: &Trace, role: &str, time: Timestamp) -> Uuid {
    let (Some(trace_id), Some(span_id)) = (trace.trace_id, trace.span_id) else {
        return Uuid::now_v7();
    };
    let mut hasher = Sha256::new();
    hasher.update(b"llmtrail-otlp/v1\0");
    hasher.update(role.as_bytes());
    hasher.update([0u8]);
    hasher.update(trace_id.to_bytes());
    hasher.update(span_id.to_bytes());
    let h = hasher.finalize();
    let ms = u64::try_from(time.as_millisecond()).unwrap_or(0);
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | (h[0] & 0x0f);
    b[7] = h[1];
    b[8] = 0x80 | (h[2] & 0x3f);
    b[9..].copy_from_slice(&h[3..10]);
    Uuid::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use llmtrail_core::{SpanId, TraceId};

    use super::*;

    #[test]
    fn ids_are_v7_stable_and_distinct_per_role() {
        let trace = Trace {
            trace_id: TraceId::from_bytes([0x4b; 16]),
            span_id: SpanId::from_bytes([1; 8]),
            parent_span_id: None,
        };
        let t = Timestamp::from_millisecond(1_700_000_000_123).unwrap();
        let a = event_id(&trace, "otlp.traces/llm.request", t);
        assert_eq!(a, event_id(&trace, "otlp.traces/llm.request", t));
        assert_ne!(a, event_id(&trace, "otlp.traces/llm.response", t));
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        // The timestamp part is the event's time, so ids still sort by time.
        assert!(a.to_string().starts_with("018bcfe5-687b-7"), "{a}");
        // Pinned so that the documented derivation cannot drift.
        assert_eq!(a.to_string(), "018bcfe5-687b-74e2-b464-cf2e6819e3d0");
        let none = event_id(&Trace::default(), "x", t);
        assert_eq!(none.get_version_num(), 7);
    }
}
