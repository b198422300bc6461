//! Body of `finding`: a detector's verdict about another event.
//!
//! Contract: `event_id`, `category`, `type`, `severity` and `detector` are required;
//! `confidence` lies in 0..=1; a location's `start` is not after its `end`. A finding holds no
//! content: `preview` must already be masked by the detector, so findings can be kept after
//! the content they describe has expired.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::check;
use super::ids;
use crate::EventError;

/// A detector's finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a finding body object")]
pub struct Finding {
    /// Id of the event the finding is about.
    #[serde(deserialize_with = "ids::one")]
    pub event_id: Uuid,
    /// Broad class of the problem.
    pub category: FindingCategory,
    /// Precise type within the category, e.g. `email`, `aws_access_key`, `ignore_previous`.
    #[serde(rename = "type")]
    pub finding_type: String,
    /// How bad it is.
    pub severity: Severity,
    /// How sure the detector is, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Name of the detector, e.g. `regex-secrets`.
    pub detector: String,
    /// Identifier of the detector rule that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// Where in the event the problem is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Masked excerpt, e.g. `sk-…9f2c`; never the raw match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// OWASP Top 10 for LLM Applications id, e.g. `LLM01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owasp: Option<String>,
    /// MITRE ATLAS technique id, e.g. `AML.T0051.000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atlas: Option<String>,
}

impl Finding {
    pub(crate) fn validate(&self) -> Result<(), EventError> {
        check::non_empty("/body/type", &self.finding_type)?;
        check::non_empty("/body/detector", &self.detector)?;
        if let Some(c) = self.confidence
            && !(0.0..=1.0).contains(&c)
        {
            return Err(EventError::invalid(
                "/body/confidence",
                "expected a number from 0 to 1",
            ));
        }
        if let Some(Location {
            start: Some(start),
            end: Some(end),
            ..
        }) = &self.location
            && start > end
        {
            return Err(EventError::invalid(
                "/body/location/start",
                "expected `start` not after `end`",
            ));
        }
        Ok(())
    }
}

/// Broad class of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCategory {
    /// Instructions smuggled into input to override the system's.
    PromptInjection,
    /// Attempt to make the model ignore its safety rules.
    Jailbreak,
    /// Personal data.
    Pii,
    /// Credentials, keys or tokens.
    Secret,
    /// Data leaving through the model or a tool.
    Exfiltration,
    /// Harmful or policy-violating output.
    UnsafeOutput,
    /// The system prompt disclosed.
    SystemPromptLeak,
    /// Invisible or confusable characters hiding text.
    InvisibleText,
    /// A risky tool, tool description or tool call.
    ToolRisk,
    /// Unusual behaviour compared with a baseline.
    Anomaly,
}

/// How bad something is; ordered from `low` to `critical`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Worth a look.
    Medium,
    /// Needs attention.
    High,
    /// Needs attention now.
    Critical,
}

/// Where in an event a finding is; offsets are UTF-8 byte offsets into the part's text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, expecting = "a location object")]
pub struct Location {
    /// Body key the finding is in, e.g. `gen_ai.input.messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Index of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<u64>,
    /// Role of that message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Index of the part within the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u64>,
    /// Start offset (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<u64>,
    /// End offset (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<u64>,
}
