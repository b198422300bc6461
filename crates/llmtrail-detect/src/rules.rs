//! The rule file schema: what a built-in pack under `rules/` and a user's TOML rule file hold.
//!
//! ```toml
//! [[rules]]
//! id = "secret.github_pat"                  # unique, dotted: <category-ish>.<name>
//! description = "GitHub fine-grained personal access token"
//! category = "secret"                       # the fixed vocabulary of FindingCategory
//! type = "github_pat"                       # precise type reported in findings
//! severity = "high"                         # low | medium | high | critical
//! confidence = 0.9                          # default 0.8
//! keywords = ["github_pat_"]                # prefilter: the rule runs only where one occurs
//!                                           # (case-insensitive); empty = always runs
//! patterns = ['\bgithub_pat_[0-9A-Za-z_]{82}\b']   # Rust `regex` syntax (no backtracking)
//! group = 0                                 # capture group that is the finding (default 0)
//! validator = "luhn"                        # optional named check on the match (see validators)
//! entropy = 3.5                             # optional minimum Shannon entropy (bits/char)
//! context = ["date of birth", "dob"]        # optional: one must occur within context_window
//! context_window = 64                       #   bytes before the match (default 64)
//! allowlist = ['(?i)example|dummy|xxxx']    # optional: matches also matching these are dropped
//! roles = ["assistant", "tool"]             # optional: only text with these roles
//! owasp = "LLM02"
//! atlas = "AML.T0057"
//! examples.positive = ["token github_pat_11ABC…"]   # must be found by this rule
//! examples.negative = ["github_pat_ in docs"]       # must not be found by this rule
//! ```
//!
//! Contract: unknown keys are errors; every error names the file, the rule id and the reason.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A rule file: a list of rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RawRule>,
}

/// One rule as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Unique id.
    pub id: String,
    /// What it finds.
    #[serde(default)]
    pub description: String,
    /// Finding category (`secret`, `pii`, `prompt_injection`, …).
    pub category: String,
    /// Precise type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `low`, `medium`, `high` or `critical`.
    pub severity: String,
    /// Confidence of a match, 0 to 1.
    #[serde(default)]
    pub confidence: Option<f64>,
    /// Prefilter keywords (case-insensitive); empty means the rule always runs.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// Regular expressions (Rust `regex` syntax); any may match.
    pub patterns: Vec<String>,
    /// Capture group that is the finding.
    #[serde(default)]
    pub group: Option<usize>,
    /// Named validator applied to the match.
    #[serde(default)]
    pub validator: Option<String>,
    /// Minimum Shannon entropy of the match, in bits per character.
    #[serde(default)]
    pub entropy: Option<f64>,
    /// Context words, one of which must occur shortly before the match.
    #[serde(default)]
    pub context: Vec<String>,
    /// How far before the match context words are looked for, in bytes.
    #[serde(default)]
    pub context_window: Option<usize>,
    /// Patterns of matches to drop (documented examples, placeholders).
    #[serde(default)]
    pub allowlist: Vec<String>,
    /// Roles the rule applies to; empty means all.
    #[serde(default)]
    pub roles: Vec<String>,
    /// OWASP LLM Top 10 (2025) id.
    #[serde(default)]
    pub owasp: Option<String>,
    /// MITRE ATLAS technique id.
    #[serde(default)]
    pub atlas: Option<String>,
    /// Examples the rule must and must not find.
    #[serde(default)]
    pub examples: Examples,
}

/// Examples run by `llmtrail rules test` and by the test suite.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Texts in which the rule must find something.
    #[serde(default)]
    pub positive: Vec<String>,
    /// Texts in which the rule must find nothing.
    #[serde(default)]
    pub negative: Vec<String>,
}

/// A rule file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{file}: rule {rule}: {reason}")]
pub struct RuleError {
    /// The file (or built-in pack name).
    pub file: PathBuf,
    /// The rule id (or `-` when the file itself is bad).
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

impl RuleFile {
    /// Parses rule file text; `file` names it in errors.
    ///
    /// # Errors
    /// [`RuleError`] with the parser's message (which names the key and line).
    pub fn parse(file: &Path, text: &str) -> Result<RuleFile, RuleError> {
        toml::from_str(text).map_err(|e| RuleError {
            file: file.to_owned(),
            rule: "-".into(),
            reason: e.to_string().trim_end().to_owned(),
        })
    }
}
