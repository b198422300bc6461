//! Refusals decided outside the gateway: the alert engine's playbooks block a user or a
//! virtual key for a while (`llmtrail-server`'s `alerts` module implements [`Admission`]).
//!
//! Contract: the gateway asks once per request, after the caller is identified and the body
//! parsed, before anything is forwarded. A refused request is recorded like any other (its
//! `llm.request`, with the attribute `llmtrail.blocked_by_alert`, and a 403 `llm.response`
//! failure) and answered 403 with the code [`BLOCKED_CODE`] and the header
//! [`ALERT_HEADER`] naming the alert.

use llmtrail_core::Actor;

/// Error code of a request refused because of an alert.
pub const BLOCKED_CODE: &str = "blocked_by_alert";

/// Response header carrying the id of the alert behind a refusal.
pub const ALERT_HEADER: &str = "x-llmtrail-alert-id";

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The alert that caused the block.
    pub alert_id: String,
    /// Its rule.
    pub rule_id: String,
    /// What is blocked: `user` or `key`.
    pub subject: &'static str,
    /// Until when (RFC 3339).
    pub until: String,
}

/// Decides whether an identified caller may use the gateway now.
pub trait Admission: Send + Sync + std::fmt::Debug {
    /// Returns the refusal for this caller, if any; must not block.
    fn refuse(&self, actor: &Actor) -> Option<Refusal>;
}
