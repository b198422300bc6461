//! The exported record: one ledger event with its position in the ledger.
//!
//! Every format carries `index` and `leaf_hash` so that an analyst holding an exported record can
//! ask llmtrail for an inclusion proof of that leaf (`GET /api/v1/proof/inclusion?index=N`) and
//! check it against a signed checkpoint, without trusting the SIEM or the transport.
//!
//! [`Summary`] is the small, flat view of an event that the line-oriented formats (CEF, syslog
//! structured data) need: kind, severity, who, which model or tool, which rule. It never holds
//! prompt or output content.

use llmtrail_core::{Body, Event};
use serde::Serialize;

/// One event as appended to the ledger, with its leaf index and leaf hash.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Position of the event in the ledger (0-based leaf index).
    pub index: u64,
    /// The RFC 9162 leaf hash of the event's ledger record.
    pub leaf_hash: [u8; 32],
    /// The event as it was appended (content included).
    pub event: Event,
}

impl Record {
    /// Returns the leaf hash as lowercase hex (the form the API and proofs use).
    #[must_use]
    pub fn leaf_hash_hex(&self) -> String {
        hex::encode(self.leaf_hash)
    }
}

/// Severity on a common scale, for formats that need a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Ordinary activity: requests, responses, tool calls that ran.
    Info,
    /// Worth knowing: a low finding, a failed or refused operation.
    Low,
    /// A medium finding or alert.
    Medium,
    /// A high finding or alert, a blocked call.
    High,
    /// A critical finding or alert.
    Critical,
}

impl Level {
    fn of(severity: llmtrail_core::Severity) -> Level {
        match severity {
            llmtrail_core::Severity::Low => Level::Low,
            llmtrail_core::Severity::Medium => Level::Medium,
            llmtrail_core::Severity::High => Level::High,
            llmtrail_core::Severity::Critical => Level::Critical,
        }
    }
}

/// The flat metadata of an event that line formats carry; no content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Event kind (`llm.request`, …).
    pub kind: &'static str,
    /// A stable identifier of what happened: the kind, or for findings
    /// `finding:<category>:<type>`, for alerts `alert:<rule id>`, for audits `audit:<action>`.
    pub signature: String,
    /// A short human-readable name.
    pub name: String,
    /// Severity.
    pub level: Option<Level>,
    /// Outcome in a word (`ok`, `error`, `blocked`, …) when the event has one.
    pub outcome: Option<String>,
    /// Provider name.
    pub provider: Option<String>,
    /// Model name.
    pub model: Option<String>,
    /// Tool name.
    pub tool: Option<String>,
    /// Finding category.
    pub category: Option<String>,
    /// Rule id (finding or alert).
    pub rule: Option<String>,
    /// The event this one points at (a finding's event, a response's request).
    pub target: Option<String>,
}

fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl Summary {
    /// Builds the summary of `event`.
    #[must_use]
    pub fn of(event: &Event) -> Summary {
        let kind = event.kind().as_str();
        let mut s = Summary {
            kind,
            signature: kind.to_owned(),
            level: Some(Level::Info),
            ..Summary::default()
        };
        match &event.body {
            Body::LlmRequest(r) => {
                s.name = "LLM request".into();
                s.provider = Some(r.provider.clone());
                s.model = Some(r.model.clone());
            }
            Body::LlmResponse(r) => {
                s.name = "LLM response".into();
                s.outcome = Some(word(&r.status));
                s.model = r.response_model.clone();
                s.target = r.request_id.map(|id| id.to_string());
                if r.status != llmtrail_core::ResponseStatus::Ok {
                    s.level = Some(Level::Low);
                }
            }
            Body::ToolCall(t) => {
                s.name = "Tool call".into();
                s.tool = Some(t.name.clone());
                s.outcome = Some(word(&t.status));
                s.target = t.request_id.map(|id| id.to_string());
                s.level = Some(match t.status {
                    llmtrail_core::ToolStatus::Blocked => Level::High,
                    llmtrail_core::ToolStatus::Error => Level::Low,
                    _ => Level::Info,
                });
            }
            Body::Finding(f) => {
                let category = word(&f.category);
                s.signature = format!("finding:{category}:{}", f.finding_type);
                s.name = format!("{category} finding: {}", f.finding_type);
                s.level = Some(Level::of(f.severity));
                s.category = Some(category);
                s.rule = f.rule_id.clone();
                s.target = Some(f.event_id.to_string());
            }
            Body::Alert(a) => {
                s.signature = format!("alert:{}", a.rule_id);
                s.name = a.title.clone();
                s.level = Some(Level::of(a.severity));
                s.outcome = Some(word(&a.state));
                s.rule = Some(a.rule_id.clone());
            }
            Body::Audit(a) => {
                s.signature = format!("audit:{}", a.action);
                s.name = format!("Audit: {}", a.action);
                s.outcome = Some(word(&a.outcome));
                s.target = a.target.clone();
                if word(&a.outcome) != "success" {
                    s.level = Some(Level::Low);
                }
            }
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::LlmRequest;

    use super::*;

    #[test]
    fn findings_are_named_by_category_and_type() {
        let rec = crate::testdata::finding(3, "ignore_previous");
        let s = Summary::of(&rec.event);
        assert_eq!(s.signature, "finding:prompt_injection:ignore_previous");
        assert_eq!(s.level, Some(Level::High));
        assert_eq!(
            s.target.unwrap(),
            crate::testdata::request(0, "u").event.id.to_string()
        );
    }

    #[test]
    fn requests_carry_provider_and_model() {
        let s = Summary::of(&Event::new(LlmRequest::new("openai", "gpt-4o")));
        assert_eq!(s.signature, "llm.request");
        assert_eq!(s.model.as_deref(), Some("gpt-4o"));
        assert_eq!(s.level, Some(Level::Info));
    }
}
