//! Rule tests: every rule's `examples.positive` must make that rule report a hit, and its
//! `examples.negative` must not (`llmtrail rules test [FILE]`, and the test suite for the
//! built-in packs).
//!
//! Contract: each rule runs alone (no other rule can win an overlap, no code detector
//! runs), on the example text as the first of the rule's `roles` (else `user`), including
//! the decoded-variant pass for `prompt_injection` and `jailbreak` rules, so an example may
//! be a base64 payload.

use std::fmt;
use std::path::PathBuf;

use crate::engine::Engine;
use crate::hit::Input;

/// Which kind of example failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expectation {
    /// A positive example the rule did not find.
    Positive,
    /// A negative example the rule found something in.
    Negative,
}

/// One failing example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTestFailure {
    /// The rule id.
    pub rule: String,
    /// The file it came from.
    pub source: PathBuf,
    /// Which kind of example.
    pub expectation: Expectation,
    /// The example text.
    pub example: String,
    /// For a negative example, the masked previews of what was found.
    pub found: Vec<String>,
}

/// What a run of rule tests found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTestReport {
    /// Rules tested.
    pub rules: usize,
    /// Examples run.
    pub examples: usize,
    /// Examples that failed.
    pub failures: Vec<RuleTestFailure>,
    /// Ids of rules with no positive example or no negative example.
    pub untested: Vec<String>,
}

impl RuleTestReport {
    /// Tells whether every example passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for RuleTestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for failure in &self.failures {
            match failure.expectation {
                Expectation::Positive => writeln!(
                    f,
                    "{}: rule {}: positive example not found: {:?}",
                    failure.source.display(),
                    failure.rule,
                    failure.example
                )?,
                Expectation::Negative => writeln!(
                    f,
                    "{}: rule {}: negative example found ({}): {:?}",
                    failure.source.display(),
                    failure.rule,
                    failure.found.join(", "),
                    failure.example
                )?,
            }
        }
        for rule in &self.untested {
            writeln!(f, "rule {rule}: lacks a positive or a negative example")?;
        }
        write!(
            f,
            "{} rules, {} examples, {} failed",
            self.rules,
            self.examples,
            self.failures.len()
        )
    }
}

/// Runs the examples of the engine's rules that come from `files` (matched against
/// [`crate::engine::RuleInfo::source`]), or of every rule when `files` is empty.
///
/// ```
/// use llmtrail_detect::Engine;
/// use llmtrail_detect::test_rules::test_rules;
///
/// let engine = Engine::builtin()?;
/// let report = test_rules(&engine, &["builtin/secrets.toml".into()]);
/// assert!(report.passed(), "{report}");
/// assert!(report.rules >= 110);
/// # Ok::<(), llmtrail_detect::rules::RuleError>(())
/// ```
#[must_use]
pub fn test_rules(engine: &Engine, files: &[PathBuf]) -> RuleTestReport {
    let mut report = RuleTestReport::default();
    for (index, info, examples, role) in engine.rule_examples() {
        if !files.is_empty() && !files.contains(&info.source) {
            continue;
        }
        report.rules += 1;
        if examples.positive.is_empty() || examples.negative.is_empty() {
            report.untested.push(info.id.clone());
        }
        let cases = examples
            .positive
            .iter()
            .map(|e| (Expectation::Positive, e))
            .chain(examples.negative.iter().map(|e| (Expectation::Negative, e)));
        for (expectation, example) in cases {
            report.examples += 1;
            let hits = engine.scan_rule(
                index,
                &Input {
                    text: example,
                    role,
                },
            );
            let failed = match expectation {
                Expectation::Positive => hits.is_empty(),
                Expectation::Negative => !hits.is_empty(),
            };
            if failed {
                report.failures.push(RuleTestFailure {
                    rule: info.id.clone(),
                    source: info.source.clone(),
                    expectation,
                    example: example.clone(),
                    found: hits.into_iter().map(|h| h.preview).collect(),
                });
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[allow(clippy::unwrap_used, reason = "test: the built-in packs must compile")]
    #[test]
    fn builtin_packs_pass_their_examples() {
        let engine = Engine::builtin().unwrap();
        let report = test_rules(&engine, &[]);
        assert!(report.passed(), "{report}");
        assert!(report.examples > report.rules);
    }

    #[allow(clippy::unwrap_used, reason = "test: the built-in packs must compile")]
    #[test]
    fn every_secret_rule_has_both_kinds_of_example() {
        let engine = Engine::builtin().unwrap();
        let report = test_rules(&engine, &["builtin/secrets.toml".into()]);
        assert!(report.untested.is_empty(), "{report}");
        assert!(report.rules >= 110, "{} secret rules", report.rules);
    }

    #[allow(
        clippy::unwrap_used,
        reason = "test: the rule file is written to compile"
    )]
    #[test]
    fn failures_name_the_rule_and_the_example() {
        let text = r#"
[[rules]]
id = "t.word"
category = "secret"
type = "word"
severity = "low"
keywords = ["zebra"]
patterns = ['\bzebra\b']
examples.positive = ["a zebra", "no animal here"]
examples.negative = ["zebras", "one zebra"]
"#;
        let engine = Engine::from_texts([(Path::new("t.toml"), text)]).unwrap();
        let report = test_rules(&engine, &[]);
        assert_eq!(report.rules, 1);
        assert_eq!(report.examples, 4);
        let failed: Vec<(&str, Expectation)> = report
            .failures
            .iter()
            .map(|f| (f.example.as_str(), f.expectation))
            .collect();
        assert_eq!(
            failed,
            [
                ("no animal here", Expectation::Positive),
                ("one zebra", Expectation::Negative)
            ]
        );
        assert!(
            report
                .to_string()
                .contains("t.toml: rule t.word: positive example")
        );
        let none = test_rules(&engine, &["other.toml".into()]);
        assert_eq!(none.rules, 0);
    }
}
