//! Body of `alert`: an alert raised by a rule, or a later change of its state.
//!
//! Contract: every state change of one alert is its own event sharing `alert_id`, so the
//! ledger keeps the full history. `alert_id`, `rule_id`, `title`, `severity` and `state` are
//! required. An alert holds no content: `title` and `reason` must not quote prompts or
//! outputs; the evidence is referenced by event id instead.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::check;
use super::finding::Severity;
use super::ids;
use crate::EventError;

/// An alert or alert state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "an alert body object")]
pub struct Alert {
    /// Groups all state changes of one alert.
    #[serde(deserialize_with = "ids::one")]
    pub alert_id: Uuid,
    /// Identifier of the rule that raised it.
    pub rule_id: String,
    /// Short human-readable title.
    pub title: String,
    /// How bad it is.
    pub severity: Severity,
    /// State after this event.
    pub state: AlertState,
    /// Ids of the events (requests, findings, …) that support the alert.
    #[serde(
        default,
        deserialize_with = "ids::many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub evidence: Vec<Uuid>,
    /// Who changed the state (user or component).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why the state changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Alert {
    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::non_empty("/body/rule_id", &self.rule_id)?;
        check::non_empty("/body/title", &self.title)
    }
}

/// Lifecycle state of an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Raised and not yet handled.
    Open,
    /// Someone is looking at it.
    Acknowledged,
    /// Handled.
    Closed,
}
