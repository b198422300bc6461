//! Fuzz target: arbitrary bytes as an OTLP/HTTP export body (protobuf and JSON, traces and
//! logs), decoded and mapped to events as the receiver does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use llmtrail_otlp::protocol::decode;
use llmtrail_otlp::{Encoding, Signal};

fuzz_target!(|data: &[u8]| {
    for signal in [Signal::Traces, Signal::Logs] {
        for encoding in [Encoding::Protobuf, Encoding::Json] {
            if let Ok(mapped) = decode(signal, encoding, data) {
                // Every mapped item is a valid event; refused ones are counted, not lost.
                assert!(mapped.events.len() as u64 >= mapped.mapped);
                for e in &mapped.events {
                    assert!(llmtrail_core::Event::from_value(e.to_value()).is_ok());
                }
            }
        }
    }
});
