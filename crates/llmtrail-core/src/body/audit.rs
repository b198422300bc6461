//! Body of `audit`: an action taken on llmtrail itself (reading events, creating keys,
//! changing configuration), recorded in the same tamper-evident ledger.
//!
//! Contract: `action` (non-empty) and `outcome` are required; `details` is an open JSON
//! object. An audit event holds no content: it must not copy the events it is about.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::check;
use crate::EventError;

/// An audited action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an audit body object")]
pub struct Audit {
    /// What was done, e.g. `event.read`, `key.create`, `config.change`, `token.create`.
    pub action: String,
    /// What it was done to, e.g. an event id or a configuration key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// How it ended.
    pub outcome: AuditOutcome,
    /// Why, e.g. the reason given for reading content, or why access was denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Further facts about the action (any JSON object).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
}

impl Audit {
    /// Builds an audit body with only action and outcome set.
    #[must_use]
    pub fn new(action: impl Into<String>, outcome: AuditOutcome) -> Self {
        Audit {
            action: action.into(),
            target: None,
            outcome,
            reason: None,
            details: Map::new(),
        }
    }

    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::non_empty("/body/action", &self.action)
    }
}

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// It was done.
    Success,
    /// Access control refused it.
    Denied,
    /// It failed.
    Error,
}
