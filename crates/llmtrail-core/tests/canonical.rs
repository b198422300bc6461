//! RFC 8785 canonical encoding: the RFC's examples and properties over arbitrary JSON.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions should fail loudly too"
)]

use std::cmp::Ordering;

use llmtrail_core::canonical::{cmp_utf16, to_canonical_vec, write_canonical};
use proptest::prelude::*;
use serde_json::{Number, Value, json};

fn canon_text(text: &str) -> String {
    let value: Value = serde_json::from_str(text).unwrap();
    String::from_utf8(to_canonical_vec(&value)).unwrap()
}

#[test]
fn rfc8785_sorting_example() {
    // RFC 8785 section 3.2.3.
    let input = r#"{
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\ud83d\ude00": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis"
    }"#;
    let expected = "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
        \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
        \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}";
    assert_eq!(canon_text(input), expected);
}

#[test]
fn rfc8785_numbers_example() {
    assert_eq!(
        canon_text("[333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001]"),
        "[333333333.3333333,1e+30,4.5,0.002,1e-27]"
    );
}

#[test]
fn rfc8785_main_example() {
    // RFC 8785 section 3.2.2 (the "\/" escape and mixed escapes).
    let input = r#"{
        "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
        "literals": [null, true, false]
    }"#;
    let expected = "{\"literals\":[null,true,false],\
        \"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],\
        \"string\":\"\u{20ac}$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}";
    assert_eq!(canon_text(input), expected);
}

#[test]
fn literals_and_nesting() {
    assert_eq!(
        canon_text(r#"[56, {"d": true, "10": null, "1": [ ]}, false, "", {}]"#),
        r#"[56,{"1":[],"10":null,"d":true},false,"",{}]"#
    );
    assert_eq!(canon_text("-0.0"), "0");
    assert_eq!(canon_text("1.0"), "1");
    assert_eq!(canon_text("-9223372036854775808"), "-9223372036854775808");
    assert_eq!(canon_text("18446744073709551615"), "18446744073709551615");
}

#[test]
fn write_appends() {
    let mut out = b"prefix:".to_vec();
    write_canonical(&json!({"b": 1, "a": [true]}), &mut out);
    assert_eq!(out, br#"prefix:{"a":[true],"b":1}"#);
}

#[test]
fn encoding_is_deterministic() {
    let v =
        json!({"z": [1.5, -2, "\u{1}"], "\u{e000}": 1, "\u{10000}": 2, "a": {"y": null, "x": 0.1}});
    let first = to_canonical_vec(&v);
    for _ in 0..10 {
        assert_eq!(to_canonical_vec(&v.clone()), first);
    }
    assert_eq!(
        String::from_utf8(first).unwrap(),
        "{\"a\":{\"x\":0.1,\"y\":null},\"z\":[1.5,-2,\"\\u0001\"],\"\u{10000}\":2,\"\u{e000}\":1}"
    );
}

// ---- properties ----

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9_.]{0,6}",
        any::<String>(),
        prop::sample::select(vec![
            "\u{20ac}",
            "\r",
            "\u{fb33}",
            "1",
            "\u{1f600}",
            "\u{80}",
            "\u{f6}",
            "\u{e000}",
            "\u{ffff}",
            "\u{10000}",
            "\u{10ffff}",
            "",
        ])
        .prop_map(String::from),
    ]
}

fn finite_f64() -> impl Strategy<Value = f64> {
    use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        finite_f64().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Equality up to the number representation JSON text cannot preserve (1.0 reads back as 1).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(i), Some(j)) if !x.is_f64() && !y.is_f64() => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Writes JSON text with every object's members in reverse order (and some whitespace).
fn reversed_text(v: &Value, out: &mut String) {
    match v {
        Value::Array(items) => {
            out.push_str("[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(" , ");
                }
                reversed_text(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push_str("{\n");
            for (i, (k, item)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).unwrap());
                out.push_str(" : ");
                reversed_text(item, out);
            }
            out.push('}');
        }
        leaf => out.push_str(&serde_json::to_string(leaf).unwrap()),
    }
}

proptest! {
    #[test]
    fn canonical_output_parses_back_to_an_equal_value(v in json_value()) {
        let bytes = to_canonical_vec(&v);
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        prop_assert!(same(&v, &back), "{v} vs {back}");
    }

    #[test]
    fn canonicalization_is_idempotent(v in json_value()) {
        let once = to_canonical_vec(&v);
        let twice = to_canonical_vec(&serde_json::from_slice(&once).unwrap());
        prop_assert_eq!(once, twice);
    }

    #[test]
    fn member_order_of_the_input_does_not_matter(v in json_value()) {
        let mut text = String::new();
        reversed_text(&v, &mut text);
        let reparsed: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(to_canonical_vec(&reparsed), to_canonical_vec(&v));
    }

    #[test]
    fn key_comparison_matches_utf16(a in key(), b in key()) {
        prop_assert_eq!(cmp_utf16(&a, &b), a.encode_utf16().cmp(b.encode_utf16()));
    }

    #[test]
    fn output_has_no_insignificant_whitespace_outside_strings(v in json_value()) {
        let bytes = to_canonical_vec(&v);
        let mut in_string = false;
        let mut escaped = false;
        for &b in &bytes {
            if in_string {
                prop_assert!(b >= 0x20, "raw control character in string");
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_string = false,
                    _ => {}
                }
            } else {
                prop_assert!(!matches!(b, b' ' | b'\n' | b'\r' | b'\t'));
                in_string = b == b'"';
            }
        }
    }
}

#[test]
fn utf16_order_of_tricky_pairs() {
    assert_eq!(cmp_utf16("\u{10000}", "\u{e000}"), Ordering::Less);
    assert_eq!(cmp_utf16("\u{d7ff}", "\u{10000}"), Ordering::Less);
    assert_eq!(cmp_utf16("a\u{10ffff}", "a\u{ffff}"), Ordering::Less);
}
