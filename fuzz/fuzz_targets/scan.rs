//! Fuzz target for the detection engine: arbitrary bytes scanned as text in every role.
//!
//! The engine used is the one `llmtrail scan` builds: the built-in packs plus the
//! exfiltration and invisible-text detectors. Bytes that are valid UTF-8 are scanned as they
//! are; other bytes as their lossy conversion (U+FFFD for each bad sequence), which is how
//! captured text that was not UTF-8 reaches the engine.
//!
//! Invariants checked on every hit: `start <= end <= text.len()`, both offsets on character
//! boundaries, the confidence within 0..=1, and hits in order of their start.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use llmtrail_detect::exfil::Exfiltration;
use llmtrail_detect::invisible::InvisibleText;
use llmtrail_detect::{Engine, Input, Role};

const ROLES: [Role; 6] = [
    Role::System,
    Role::User,
    Role::Assistant,
    Role::Tool,
    Role::Document,
    Role::ToolArguments,
];

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut engine = match Engine::builtin() {
            Ok(engine) => engine,
            Err(e) => panic!("the built-in packs do not compile: {e}"),
        };
        engine.add_detector(Box::new(Exfiltration::new(["example.com".to_owned()])));
        engine.add_detector(Box::new(InvisibleText));
        engine
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    for role in ROLES {
        let hits = engine().scan(&Input { text, role });
        for h in &hits {
            assert!(
                h.start <= h.end && h.end <= text.len(),
                "span {}..{} of a {}-byte text ({role:?}, {})",
                h.start,
                h.end,
                text.len(),
                h.rule_id
            );
            assert!(
                text.is_char_boundary(h.start) && text.is_char_boundary(h.end),
                "span {}..{} not on character boundaries ({role:?}, {})",
                h.start,
                h.end,
                h.rule_id
            );
            assert!(
                (0.0..=1.0).contains(&h.confidence),
                "confidence {} ({role:?}, {})",
                h.confidence,
                h.rule_id
            );
        }
        assert!(
            hits.windows(2).all(|w| w[0].start <= w[1].start),
            "hits out of order ({role:?})"
        );
    }
});
