//! Inline policy: what the gateway does, before forwarding, about what detection finds in a
//! request.
//!
//! ```toml
//! [[gateway.policy]]
//! category = "secret"        # a finding category
//! min_severity = "high"      # low | medium | high | critical (default high)
//! action = "block"           # alert (default for everything) | block
//! ```
//!
//! Contract: with no `block` entry the request path does no scanning at all (findings still
//! come from the detection stage, after the fact). With one, the request's texts are scanned
//! before anything is forwarded; a finding that matches an entry is answered with 403
//! `policy_blocked` naming the rule, and the blocked request is recorded like any other. The
//! first matching finding (in text order) names the rule.

use std::sync::Arc;

use llmtrail_core::{Event, FindingCategory, Severity};
use llmtrail_detect::{Engine, Input, extract};
use serde::Deserialize;

/// One `[[gateway.policy]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// Finding category.
    pub category: FindingCategory,
    /// Lowest severity the action applies to.
    #[serde(default = "default_severity")]
    pub min_severity: Severity,
    /// What to do.
    pub action: Action,
}

fn default_severity() -> Severity {
    Severity::High
}

/// What the gateway does about a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Record it (the detection stage always does).
    Alert,
    /// Refuse the request with 403.
    Block,
}

/// Why a request was blocked.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocked {
    /// The rule that matched.
    pub rule_id: String,
    /// Its category, as written in configuration.
    pub category: FindingCategory,
    /// The finding type.
    pub kind: String,
}

/// The compiled policy with the engine it scans with.
#[derive(Clone)]
pub struct Policy {
    entries: Vec<RawPolicy>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl Policy {
    /// Builds the policy; `None` when no entry blocks (then nothing is scanned inline).
    #[must_use]
    pub fn new(entries: &[RawPolicy], engine: Arc<Engine>) -> Option<Policy> {
        let entries: Vec<RawPolicy> = entries
            .iter()
            .filter(|e| e.action == Action::Block)
            .cloned()
            .collect();
        (!entries.is_empty()).then_some(Policy { entries, engine })
    }

    /// Scans the texts of a request event; returns the first finding a block entry covers.
    #[must_use]
    pub fn check(&self, request: &Event) -> Option<Blocked> {
        for t in extract::texts(request) {
            for hit in self.engine.scan(&Input {
                text: &t.text,
                role: t.role,
            }) {
                if self
                    .entries
                    .iter()
                    .any(|e| e.category == hit.category && hit.severity >= e.min_severity)
                {
                    return Some(Blocked {
                        rule_id: hit.rule_id,
                        category: hit.category,
                        kind: hit.kind,
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{LlmRequest, Message};

    use super::*;

    #[test]
    fn blocks_only_what_an_entry_covers() {
        let engine = Arc::new(Engine::builtin().unwrap());
        let entries: Vec<RawPolicy> = toml::from_str::<std::collections::BTreeMap<String, Vec<RawPolicy>>>(
            "policy = [{category = \"secret\", action = \"block\"}, {category = \"pii\", action = \"alert\"}]",
        )
        .unwrap()
        .remove("policy")
        .unwrap();
        let policy = Policy::new(&entries, engine).unwrap();
        let mut r = LlmRequest::new("openai", "gpt-4o");
        r.messages = vec![Message::text(
            "user",
            "use ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 to push",
        )];
        let blocked = policy.check(&Event::new(r)).unwrap();
        assert_eq!(blocked.category, FindingCategory::Secret);
        let mut fine = LlmRequest::new("openai", "gpt-4o");
        fine.messages = vec![Message::text("user", "what is a token bucket?")];
        assert!(policy.check(&Event::new(fine)).is_none());
        assert!(Policy::new(&entries[1..], Arc::new(Engine::builtin().unwrap())).is_none());
    }
}
