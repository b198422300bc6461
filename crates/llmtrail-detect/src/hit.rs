//! What a detector looks at ([`Input`]) and what it reports ([`Hit`]).
//!
//! Contract: offsets are UTF-8 byte offsets into `Input::text`, `start <= end <= text.len()`,
//! both on character boundaries. A hit never carries the matched text itself: `preview` is
//! already masked (at most a few characters of each end of a secret, never a whole value), so
//! hits can be stored and exported without leaking what they found. `decoded` holds what a
//! hidden payload decoded to (base64, Unicode tags, …), which is the evidence of an attack
//! rather than a user's data.

use llmtrail_core::{FindingCategory, Severity};

/// Whose words a text is, which changes what a finding means (an instruction override in a
/// tool result is an indirect injection; a secret in an assistant output is a leak).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Role {
    /// System prompt or instructions.
    System,
    /// The end user.
    #[default]
    User,
    /// The model's output.
    Assistant,
    /// A tool result returned to the model.
    Tool,
    /// A retrieved document or other third-party content.
    Document,
    /// Tool call arguments produced by the model.
    ToolArguments,
}

impl Role {
    /// Parses the names used on the wire (`user`, `assistant`, `system`, `developer`, `tool`,
    /// `document`, `tool_arguments`); unknown names are `None`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Role> {
        Some(match name {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" | "model" => Role::Assistant,
            "tool" | "function" | "tool_result" => Role::Tool,
            "document" => Role::Document,
            "tool_arguments" => Role::ToolArguments,
            _ => return None,
        })
    }

    /// Returns the wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
            Role::Document => "document",
            Role::ToolArguments => "tool_arguments",
        }
    }

    /// Tells whether the text comes from a third party rather than the user or the model
    /// (where injected instructions are indirect injection).
    #[must_use]
    pub fn is_third_party(self) -> bool {
        matches!(self, Role::Tool | Role::Document)
    }
}

/// One text to inspect.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The text.
    pub text: &'a str,
    /// Whose it is.
    pub role: Role,
}

/// One thing a detector found.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Broad class.
    pub category: FindingCategory,
    /// Precise type, e.g. `email`, `aws_access_key_id`, `ignore_previous_instructions`.
    pub kind: String,
    /// How bad.
    pub severity: Severity,
    /// How sure, 0 to 1.
    pub confidence: f64,
    /// Detector name, e.g. `secrets`, `pii`, `injection`.
    pub detector: &'static str,
    /// Rule id, e.g. `secret.aws_access_key_id`.
    pub rule_id: String,
    /// Start byte offset (inclusive).
    pub start: usize,
    /// End byte offset (exclusive).
    pub end: usize,
    /// Masked excerpt; never the whole matched value.
    pub preview: String,
    /// OWASP Top 10 for LLM Applications (2025) id, e.g. `LLM01`.
    pub owasp: &'static str,
    /// MITRE ATLAS technique id, e.g. `AML.T0051.000`.
    pub atlas: &'static str,
    /// What a hidden payload decoded to, when the hit is about hidden text.
    pub decoded: Option<String>,
}

/// A detector: synchronous, pure, and cheap to call many times.
pub trait Detector: Send + Sync {
    /// Name reported in hits.
    fn name(&self) -> &'static str;

    /// Appends what it finds in `input` to `out`.
    fn inspect(&self, input: &Input<'_>, out: &mut Vec<Hit>);
}

/// Masks a matched value for previews: keeps up to `keep` characters at each end when the
/// value is long enough that this reveals little, and replaces the rest with `…`.
///
/// ```
/// use llmtrail_detect::hit::mask;
///
/// assert_eq!(mask("AKIAIOSFODNN7EXAMPLE", 4), "AKIA…MPLE");
/// assert_eq!(mask("secret", 4), "…");
/// ```
#[must_use]
pub fn mask(value: &str, keep: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < keep * 4 {
        return "…".to_owned();
    }
    let head: String = chars[..keep].iter().collect();
    let tail: String = chars[chars.len() - keep..].iter().collect();
    format!("{head}…{tail}")
}
