//! The PII rule pack (`rules/pii.toml`) through the real engine: every rule's examples, the
//! pack's conventions, whole texts with several kinds of personal data (where the engine's
//! overlap resolution picks one rule per span), benign texts full of number-like things that
//! must stay silent, and properties of the validators the pack relies on.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failure to build the engine is a test failure"
)]

use std::path::{Path, PathBuf};

use llmtrail_core::FindingCategory;
use llmtrail_detect::test_rules::test_rules;
use llmtrail_detect::{Engine, Hit, Input, Role, validators};
use proptest::prelude::*;

const PACK_NAME: &str = "builtin/pii.toml";
const PACK: &str = include_str!("../rules/pii.toml");

/// The PII pack alone, so that other packs neither add hits nor win overlaps.
fn engine() -> Engine {
    Engine::from_texts([(Path::new(PACK_NAME), PACK)]).unwrap()
}

fn scan(engine: &Engine, text: &str) -> Vec<Hit> {
    engine.scan(&Input {
        text,
        role: Role::User,
    })
}

/// `(type, matched text)` of every hit, in text order.
fn found<'t>(engine: &Engine, text: &'t str) -> Vec<(String, &'t str)> {
    scan(engine, text)
        .into_iter()
        .map(|h| (h.kind, &text[h.start..h.end]))
        .collect()
}

#[test]
fn every_example_passes() {
    let engine = engine();
    let report = test_rules(&engine, &[PathBuf::from(PACK_NAME)]);
    assert!(report.passed(), "{report}");
    assert!(report.untested.is_empty(), "{report}");
    assert!(report.rules >= 25, "{report}");
}

#[test]
fn the_builtin_engine_ships_the_pack() {
    let engine = Engine::builtin().unwrap();
    let shipped: Vec<&str> = engine
        .rules()
        .filter(|r| r.source == Path::new(PACK_NAME))
        .map(|r| r.id.as_str())
        .collect();
    let file = llmtrail_detect::rules::RuleFile::parse(Path::new(PACK_NAME), PACK).unwrap();
    let written: Vec<&str> = file.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(shipped, written);
    let report = test_rules(&engine, &[PathBuf::from(PACK_NAME)]);
    assert!(report.passed(), "{report}");
}

#[test]
fn pack_conventions() {
    let file = llmtrail_detect::rules::RuleFile::parse(Path::new(PACK_NAME), PACK).unwrap();
    for rule in &file.rules {
        assert!(rule.id.starts_with("pii."), "{}", rule.id);
        assert_eq!(rule.category, "pii", "{}", rule.id);
        assert_eq!(rule.owasp.as_deref(), Some("LLM02"), "{}", rule.id);
        assert_eq!(rule.atlas.as_deref(), Some("AML.T0057"), "{}", rule.id);
        assert!(!rule.description.is_empty(), "{}", rule.id);
        // Digits and names alone say little: every rule either checks its match with a
        // validator or is a name rule whose pattern carries the words that introduce it.
        assert!(
            rule.validator.is_some() || rule.kind == "person_name",
            "{} has no validator",
            rule.id
        );
        if let Some(name) = &rule.validator {
            assert!(validators::NAMES.contains(&name.as_str()), "{}", rule.id);
        }
        // A context rule's keywords are its context words, so it never runs where it could
        // not report anything.
        if !rule.context.is_empty() {
            assert_eq!(rule.keywords, rule.context, "{}", rule.id);
        }
        assert!(rule.examples.positive.len() >= 2, "{}", rule.id);
        assert!(rule.examples.negative.len() >= 3, "{}", rule.id);
    }
    let engine = engine();
    assert!(engine.rules().all(|r| r.category == FindingCategory::Pii));
}

#[test]
fn a_support_ticket_full_of_personal_data() {
    let engine = engine();
    let text = "Hi, my name is Jane Smith. Date of birth: 12/03/1984. You can reach me at \
                jane.smith@example.com or (415) 555-2671, or +44 20 7946 0958 when I travel. \
                Please refund card 4111 1111 1111 1111 to IBAN DE89 3704 0044 0532 0130 00. \
                SSN 536-90-4399. I logged in from 81.2.69.160.";
    let hits = found(&engine, text);
    let expected = [
        ("person_name", "Jane Smith"),
        ("date_of_birth", "12/03/1984"),
        ("email", "jane.smith@example.com"),
        ("phone_number", "(415) 555-2671"),
        ("phone_number", "+44 20 7946 0958"),
        ("credit_card", "4111 1111 1111 1111"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("us_ssn", "536-90-4399"),
        ("ip_address", "81.2.69.160"),
    ];
    let expected: Vec<(String, &str)> = expected.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(hits, expected);
    for hit in scan(&engine, text) {
        assert_eq!(hit.detector, "pii");
        assert_eq!(hit.owasp, "LLM02");
        assert_eq!(hit.atlas, "AML.T0057");
        // Previews never carry the value.
        assert_ne!(hit.preview, &text[hit.start..hit.end]);
    }
}

#[test]
fn a_clinical_note() {
    let engine = engine();
    let text = "Patient: John Smith, NHS number 943 476 5919, born on 3 July 1951. \
                Diagnosis: E11.9, hypertension (ICD-10 I10). Contact number 07700 900123.";
    let hits = found(&engine, text);
    let expected = [
        ("person_name", "John Smith"),
        ("uk_nhs_number", "943 476 5919"),
        ("date_of_birth", "3 July 1951"),
        ("medical_code", "E11.9"),
        ("medical_code", "I10"),
        ("phone_number", "07700 900123"),
    ];
    let expected: Vec<(String, &str)> = expected.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(hits, expected);
}

#[test]
fn context_confirmed_identifiers_win_over_phone_shapes() {
    let engine = engine();
    // A routing number is also a valid compact German phone number and the NHS number a
    // spaced NANP one; the identifier named by the text wins the overlap.
    let text = "phone or routing number 021000021; call the NHS line, NHS no 943 476 5919";
    let kinds: Vec<String> = scan(&engine, text).into_iter().map(|h| h.kind).collect();
    assert_eq!(kinds, ["bank_routing_number", "uk_nhs_number"]);
}

#[test]
fn numbers_in_ordinary_text_are_not_personal_data() {
    let engine = engine();
    let benign = [
        "Upgrade to version 1.2.3.4.5 or 2.0.0 before 2024-03-15T10:30:45Z.",
        "Order #4111111111111112 shipped on 2024-01-15; invoice INV-2024-00042.",
        "ISBN 978-0-306-40615-7 and ISBN-10 0-306-40615-2 are the same book.",
        "The build took 1700000000000 ns (about 28 minutes) on 8 cores at 3.20 GHz.",
        "Tracking 9400 1000 0000 0000 0000 00, parcel 1Z999AA10123456784.",
        "Use std::vec::Vec and HashMap<String, u32>; see RFC 3339 and ISO 8601.",
        "Meeting at 12:30:45 UTC on 12/03/2024 in room B12, floor 3.",
        "SSN-like test values 000-12-3456, 666-12-3456 and 912-34-5678 are invalid.",
        "MAC 00:1A:2B:3C:4D:5E, GPU driver 535.104.05, kernel 6.18.0-1.el9.",
        "The sum 12345 + 67890 = 80235; ratio 1:2:3; temperature -40.5.",
        "Call the function with name: String and patient: Patient arguments.",
        "Price table: 19.99, 129.00, 1,299.00 and 12 999,00 EUR.",
        "Coordinates 48.8566, 2.3522 and elevation 35 m.",
        "The record 5369043990 has 10 digits; the year range is 1984-2024.",
    ];
    for text in benign {
        let hits = found(&engine, text);
        assert!(hits.is_empty(), "{text:?}: {hits:?}");
    }
}

#[test]
fn non_ascii_text_around_values() {
    let engine = engine();
    let text = "Écrivez à «marie.dupont@exemple.fr» — ou appelez le 01 42 68 53 00 ☎️. \
                Geburtsdatum: 1. März 1984; Konto DE89 3704 0044 0532 0130 00.";
    let hits = found(&engine, text);
    let expected = [
        ("email", "marie.dupont@exemple.fr"),
        ("phone_number", "01 42 68 53 00"),
        ("date_of_birth", "1. März 1984"),
        ("iban", "DE89 3704 0044 0532 0130 00"),
    ];
    let expected: Vec<(String, &str)> = expected.iter().map(|&(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(hits, expected);
}

/// Appends the Luhn check digit to `body`.
fn with_luhn(body: &str) -> String {
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|s| validators::luhn(s))
        .unwrap()
}

/// The IBAN for `country` and `bban`, with its check digits computed.
fn make_iban(country: &str, bban: &str) -> String {
    let rearranged = format!("{bban}{country}00");
    let remainder = rearranged.chars().fold(0u64, |acc, c| {
        let v = c.to_digit(36).unwrap();
        if v < 10 {
            (acc * 10 + u64::from(v)) % 97
        } else {
            (acc * 100 + u64::from(v)) % 97
        }
    });
    format!("{country}{:02}{bban}", 98 - remainder)
}

proptest! {
    #[test]
    fn validators_never_panic(name in proptest::sample::select(validators::NAMES), s in ".{0,64}") {
        let _ = validators::check(name, &s);
    }

    #[test]
    fn validators_never_panic_on_number_like_input(
        name in proptest::sample::select(validators::NAMES),
        s in "[0-9A-Za-z +().:/@-]{0,40}",
    ) {
        let _ = validators::check(name, &s);
    }

    #[test]
    fn every_luhn_completed_visa_number_is_a_card(body in "4[0-9]{14}") {
        let number = with_luhn(&body);
        prop_assert!(validators::payment_card(&number));
        let grouped = format!("{} {} {} {}", &number[..4], &number[4..8], &number[8..12], &number[12..]);
        prop_assert!(validators::payment_card(&grouped));
        // Changing one digit breaks the checksum.
        let last = number.as_bytes()[15] - b'0';
        let wrong = format!("{}{}", &number[..15], (last + 1) % 10);
        prop_assert!(!validators::payment_card(&wrong));
    }

    #[test]
    fn every_well_formed_german_iban_passes(bban in "[0-9]{18}") {
        let iban = make_iban("DE", &bban);
        prop_assert!(validators::iban(&iban), "{}", iban);
        let text = format!("IBAN {iban} bitte");
        prop_assert_eq!(found(&ENGINE, &text), vec![("iban".to_owned(), iban.as_str())]);
    }

    #[test]
    fn scanning_arbitrary_text_never_panics(s in "\\PC{0,200}") {
        for hit in scan(&ENGINE, &s) {
            prop_assert!(hit.start < hit.end && hit.end <= s.len());
            prop_assert!(s.is_char_boundary(hit.start) && s.is_char_boundary(hit.end));
        }
    }
}

/// One engine for the property tests (compiling the pack per case would dominate them).
static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(engine);
