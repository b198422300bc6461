//! From an event to what the index keeps of it: the metadata columns that queries filter and
//! group on, the text that full-text search matches, and the key that groups equal prompts.
//!
//! Contract: [`Row::of`] only reads the event; nothing in a row is not in the event (the
//! prompt key is a digest of the event's own text). Text is extracted with
//! `llmtrail_detect::extract::texts`, the same texts detection scans.

use llmtrail_core::{Body, Event, Part};
use llmtrail_detect::{Role, extract};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What the index keeps of one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// Ledger index.
    pub idx: u64,
    /// Event id.
    pub id: String,
    /// Event time, nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Kind (`llm.request`, …).
    pub kind: String,
    /// Actor fields.
    pub user: Option<String>,
    /// Actor role.
    pub role: Option<String>,
    /// Actor department.
    pub department: Option<String>,
    /// Actor session (or the conversation id).
    pub session: Option<String>,
    /// Actor agent.
    pub agent: Option<String>,
    /// Source address.
    pub source_ip: Option<String>,
    /// Model (request model, or the response's model).
    pub model: Option<String>,
    /// Provider.
    pub provider: Option<String>,
    /// Tool name (`tool.call`).
    pub tool: Option<String>,
    /// Finding category (`finding`).
    pub category: Option<String>,
    /// Finding or alert severity.
    pub severity: Option<String>,
    /// Status (`ok`, `error`, `blocked`, …), or the audit outcome.
    pub status: Option<String>,
    /// Trace id (hex).
    pub trace_id: Option<String>,
    /// The event this one points at (request of a response, event of a finding, …).
    pub ref_id: Option<String>,
    /// Input tokens (responses).
    pub input_tokens: Option<i64>,
    /// Output tokens (responses).
    pub output_tokens: Option<i64>,
    /// Latency in ms (responses, tool calls).
    pub latency_ms: Option<f64>,
    /// The latency in whole microseconds: what statistics sum, so that a sum does not depend
    /// on the order of addition (the rollups add in another order than a scan).
    pub latency_us: Option<i64>,
    /// Digest of the normalised user prompt (requests), to count equal questions once.
    pub prompt_key: Option<String>,
    /// Text for full-text search.
    pub text: String,
}

fn status_name<T: serde::Serialize>(v: &T) -> Option<String> {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

impl Row {
    /// Builds the row of `event` stored at ledger index `idx`.
    #[must_use]
    pub fn of(idx: u64, event: &Event) -> Row {
        let a = &event.actor;
        let mut row = Row {
            idx,
            id: event.id.to_string(),
            time_ns: i64::try_from(event.time.as_nanosecond()).unwrap_or(i64::MAX),
            kind: event.kind().as_str().to_owned(),
            user: a.user.clone(),
            role: a.role.clone(),
            department: a.department.clone(),
            session: a.session.clone(),
            agent: a.agent.clone(),
            source_ip: a.source_ip.map(|ip| ip.to_string()),
            trace_id: event.trace.trace_id.map(|t| t.to_string()),
            ..Row::default()
        };
        match &event.body {
            Body::LlmRequest(r) => {
                row.model = Some(r.model.clone());
                row.provider = Some(r.provider.clone());
                if row.session.is_none() {
                    row.session.clone_from(&r.conversation_id);
                }
                row.prompt_key = prompt_key(r);
            }
            Body::LlmResponse(r) => {
                row.ref_id = r.request_id.map(|u| u.to_string());
                row.model.clone_from(&r.response_model);
                row.status = status_name(&r.status);
                if let Some(u) = &r.usage {
                    row.input_tokens = i64::try_from(u.input_tokens).ok();
                    row.output_tokens = i64::try_from(u.output_tokens).ok();
                }
                row.latency_ms = r.latency_ms;
            }
            Body::ToolCall(t) => {
                row.tool = Some(t.name.clone());
                row.status = status_name(&t.status);
                row.latency_ms = t.duration_ms;
                row.ref_id = t.request_id.map(|u| u.to_string());
                if row.session.is_none() {
                    row.session.clone_from(&t.conversation_id);
                }
            }
            Body::Finding(f) => {
                row.ref_id = Some(f.event_id.to_string());
                row.category = status_name(&f.category);
                row.severity = status_name(&f.severity);
            }
            Body::Alert(al) => {
                row.severity = status_name(&al.severity);
                row.status = status_name(&al.state);
                row.ref_id = al.evidence.first().map(Uuid::to_string);
            }
            Body::Audit(au) => {
                row.status = status_name(&au.outcome);
                row.ref_id = au
                    .target
                    .as_deref()
                    .and_then(|t| t.parse::<Uuid>().ok())
                    .map(|u| u.to_string());
            }
        }
        row.latency_us = row.latency_ms.filter(|ms| ms.is_finite()).map(micros);
        let texts = extract::texts(event);
        row.text = texts
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        row
    }
}

/// Milliseconds to whole microseconds (`as` saturates at the ends of `i64`).
fn micros(ms: f64) -> i64 {
    (ms * 1000.0).round() as i64
}

/// The last user message's text, normalised (see [`normalise`]), as a short digest.
fn prompt_key(r: &llmtrail_core::LlmRequest) -> Option<String> {
    let last_user = r
        .messages
        .iter()
        .rev()
        .find(|m| Role::parse(&m.role) == Some(Role::User))?;
    let text: String = last_user
        .parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { content } => Some(content.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(" ");
    let norm = normalise(&text);
    if norm.is_empty() {
        return None;
    }
    Some(hex::encode(&Sha256::digest(norm.as_bytes())[..12]))
}

/// Folds what makes the same question look different: case, runs of whitespace, numbers
/// (`#`), and ids (hex or UUID-like tokens of 8 or more characters with a digit: `@`).
#[must_use]
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        let w = word.to_lowercase();
        let core = w.trim_matches(|c: char| !c.is_alphanumeric());
        let has_digit = core.chars().any(|c| c.is_ascii_digit());
        let id_like = core.len() >= 8
            && has_digit
            && core.chars().all(|c| {
                c.is_ascii_hexdigit() || c == '-' || c == '_' || c.is_ascii_alphanumeric()
            });
        if id_like && core.chars().any(|c| c.is_ascii_alphabetic()) {
            out.push('@');
            continue;
        }
        let mut last_digit = false;
        for c in w.chars() {
            if c.is_ascii_digit() {
                if !last_digit {
                    out.push('#');
                }
                last_digit = true;
            } else {
                out.push(c);
                last_digit = false;
            }
        }
    }
    out.trim_end_matches(['?', '.', '!']).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmtrail_core::{LlmRequest, Message};

    fn req(text: &str) -> Event {
        let mut r = LlmRequest::new("openai", "gpt-4o");
        r.messages.push(Message {
            role: "user".into(),
            name: None,
            parts: vec![Part::Text {
                content: text.into(),
            }],
            finish_reason: None,
        });
        Event::new(r)
    }

    #[test]
    fn equal_questions_share_a_key() {
        let a = Row::of(0, &req("What is the refund status of order 12345?"));
        let b = Row::of(1, &req("what is the  refund status of ORDER 98?"));
        let c = Row::of(2, &req("Summarise invoice 3f9a2c71-aa10 for me"));
        let d = Row::of(3, &req("summarise invoice 9b0e11d4-ff02 for me."));
        assert_eq!(a.prompt_key, b.prompt_key);
        assert_eq!(c.prompt_key, d.prompt_key);
        assert_ne!(a.prompt_key, c.prompt_key);
        assert_eq!(a.kind, "llm.request");
        assert_eq!(a.model.as_deref(), Some("gpt-4o"));
        assert!(a.text.contains("refund status"));
    }

    #[test]
    fn normalise_folds_case_space_numbers_and_ids() {
        assert_eq!(normalise("  Hello   World 42 "), "hello world #");
        assert_eq!(normalise("ticket AB12CD34EF"), "ticket @");
        assert_eq!(normalise("v2 api"), "v# api");
    }
}
