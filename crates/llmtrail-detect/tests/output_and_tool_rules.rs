//! The unsafe-output and tool-risk packs on their own: every pattern compiles, and each rule's
//! examples behave (these packs use no validators or context, so patterns and allowlists
//! decide alone). The engine's rule test runs them again with everything else.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::path::Path;

use llmtrail_detect::rules::RuleFile;

fn check_pack(name: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("rules")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let file = RuleFile::parse(&path, &text).unwrap();
    assert!(!file.rules.is_empty());
    let mut failures = Vec::new();
    for rule in &file.rules {
        let patterns: Vec<regex::Regex> = rule
            .patterns
            .iter()
            .map(|p| regex::Regex::new(p).unwrap_or_else(|e| panic!("{}: {e}", rule.id)))
            .collect();
        let allow: Vec<regex::Regex> = rule
            .allowlist
            .iter()
            .map(|p| regex::Regex::new(p).unwrap())
            .collect();
        let finds = |text: &str| {
            patterns.iter().any(|p| {
                p.find_iter(text)
                    .any(|m| !allow.iter().any(|a| a.is_match(m.as_str())))
            })
        };
        assert!(
            !rule.examples.positive.is_empty() && !rule.examples.negative.is_empty(),
            "{}",
            rule.id
        );
        for t in &rule.examples.positive {
            if !finds(t) {
                failures.push(format!("{} misses {t:?}", rule.id));
            }
        }
        for t in &rule.examples.negative {
            if finds(t) {
                failures.push(format!("{} wrongly finds {t:?}", rule.id));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn unsafe_output_pack() {
    check_pack("unsafe_output.toml");
}

#[test]
fn tool_risk_pack() {
    check_pack("tool_risk.toml");
}
