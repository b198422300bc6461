//! Inline policy: what the gateway does, on the request path, about what detection finds.
//!
//! ```toml
//! [[gateway.policy]]
//! category = "secret"        # a finding category
//! min_severity = "high"      # low | medium | high | critical (default high)
//! action = "block"           # alert (default for everything) | block | redact
//! ```
//!
//! Contract:
//! - With no `block` or `redact` entry the request path does no scanning at all (findings
//!   still come from the detection stage, after the fact).
//! - `block` applies to requests: their texts are scanned before anything is forwarded; a
//!   finding that matches an entry is answered with 403 `policy_blocked` naming the rule, and
//!   the blocked request is recorded like any other. The first matching finding (in text
//!   order) names the rule.
//! - `redact` applies to non-streamed outputs (Chat Completions, Responses, Messages): the
//!   gateway reads the whole answer, scans each output text (message content and refusals;
//!   not tool-call arguments, which the client parses as JSON), and replaces every span a
//!   redact entry covers with `[REDACTED:<category>]`. The ledger keeps the raw output; the
//!   client gets the masked one. Streamed outputs pass through unmasked (their bytes are
//!   already with the client when a finding could be made); detection still flags them.

use std::sync::Arc;

use llmtrail_core::{Event, FindingCategory, Severity};
use llmtrail_detect::{Engine, Input, Role, extract};
use serde::Deserialize;
use serde_json::Value;

use crate::providers::Api;

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
    /// Mask the spans in a non-streamed output before the client gets it.
    Redact,
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

/// What redaction did to one output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redacted {
    /// The body the client receives.
    pub body: Vec<u8>,
    /// The rules whose spans were masked, each once, in order of first appearance.
    pub rules: Vec<String>,
    /// How many spans were masked (after merging overlaps).
    pub spans: usize,
}

/// The compiled policy with the engine it scans with.
#[derive(Clone)]
pub struct Policy {
    block: Vec<RawPolicy>,
    redact: Vec<RawPolicy>,
    engine: Arc<Engine>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("block", &self.block)
            .field("redact", &self.redact)
            .finish_non_exhaustive()
    }
}

fn covers(entries: &[RawPolicy], hit: &llmtrail_detect::Hit) -> bool {
    entries
        .iter()
        .any(|e| e.category == hit.category && hit.severity >= e.min_severity)
}

impl Policy {
    /// Builds the policy; `None` when no entry blocks or redacts (then nothing is scanned
    /// inline).
    #[must_use]
    pub fn new(entries: &[RawPolicy], engine: Arc<Engine>) -> Option<Policy> {
        let of = |action: Action| -> Vec<RawPolicy> {
            entries
                .iter()
                .filter(|e| e.action == action)
                .cloned()
                .collect()
        };
        let (block, redact) = (of(Action::Block), of(Action::Redact));
        (!block.is_empty() || !redact.is_empty()).then_some(Policy {
            block,
            redact,
            engine,
        })
    }

    /// Tells whether outputs of `api` are to be read whole and redacted before the client
    /// gets them.
    #[must_use]
    pub fn redacts(&self, api: Api) -> bool {
        !self.redact.is_empty()
            && matches!(
                api,
                Api::OpenAiChat | Api::OpenAiResponses | Api::AnthropicMessages
            )
    }

    /// Scans the texts of a request event; returns the first finding a block entry covers.
    #[must_use]
    pub fn check(&self, request: &Event) -> Option<Blocked> {
        if self.block.is_empty() {
            return None;
        }
        for t in extract::texts(request) {
            for hit in self.engine.scan(&Input {
                text: &t.text,
                role: t.role,
            }) {
                if covers(&self.block, &hit) {
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

    /// Masks, in a non-streamed response body of `api`, every output span a redact entry
    /// covers; `None` when nothing is masked (the body is then passed on as it came) or the
    /// body is not the JSON object the API answers with.
    #[must_use]
    pub fn redact(&self, api: Api, body: &[u8]) -> Option<Redacted> {
        if !self.redacts(api) {
            return None;
        }
        let mut value: Value = serde_json::from_slice(body).ok()?;
        let mut rules: Vec<String> = Vec::new();
        let mut spans = 0usize;
        for_each_output_text(api, &mut value, &mut |text: &mut String| {
            let mut cut: Vec<(usize, usize, FindingCategory)> = Vec::new();
            for hit in self.engine.scan(&Input {
                text,
                role: Role::Assistant,
            }) {
                if covers(&self.redact, &hit) {
                    if !rules.contains(&hit.rule_id) {
                        rules.push(hit.rule_id.clone());
                    }
                    cut.push((hit.start, hit.end, hit.category));
                }
            }
            spans += mask(text, cut);
        });
        if spans == 0 {
            return None;
        }
        let body = serde_json::to_vec(&value).ok()?;
        Some(Redacted { body, rules, spans })
    }
}

/// Calls `f` on every output text of a response body: Chat Completions message content
/// (string or text parts), refusals and legacy `text`; Responses `output[].content[].text`
/// and refusals; Messages `content[]` text blocks.
fn for_each_output_text(api: Api, v: &mut Value, f: &mut impl FnMut(&mut String)) {
    match api {
        Api::OpenAiChat => {
            if let Some(Value::Array(choices)) = v.get_mut("choices") {
                for choice in choices {
                    texts_at(choice, &["text"], f);
                    if let Some(message) = choice.get_mut("message") {
                        texts_at(message, &["refusal"], f);
                        match message.get_mut("content") {
                            Some(Value::String(s)) => f(s),
                            Some(Value::Array(parts)) => {
                                for part in parts {
                                    texts_at(part, &["text", "refusal"], f);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
        Api::OpenAiResponses => {
            if let Some(Value::Array(output)) = v.get_mut("output") {
                for item in output {
                    if let Some(Value::Array(parts)) = item.get_mut("content") {
                        for part in parts {
                            texts_at(part, &["text", "refusal"], f);
                        }
                    }
                }
            }
            // The SDKs' convenience field, when an upstream fills it.
            texts_at(v, &["output_text"], f);
        }
        Api::AnthropicMessages => {
            if let Some(Value::Array(content)) = v.get_mut("content") {
                for block in content {
                    if block.get("type").and_then(Value::as_str) == Some("text") {
                        texts_at(block, &["text"], f);
                    }
                }
            }
        }
        Api::OpenAiEmbeddings | Api::OpenAiModels => {}
    }
}

/// Calls `f` on the string members `keys` of an object (anything else is left alone).
fn texts_at(v: &mut Value, keys: &[&str], f: &mut impl FnMut(&mut String)) {
    for key in keys {
        if let Some(Value::String(s)) = v.get_mut(*key) {
            f(s);
        }
    }
}

/// Replaces the spans (byte ranges, merged where they overlap, widened to character
/// boundaries) with `[REDACTED:<category>]`; returns how many were replaced.
fn mask(text: &mut String, mut cut: Vec<(usize, usize, FindingCategory)>) -> usize {
    if cut.is_empty() {
        return 0;
    }
    cut.sort_by_key(|c| (c.0, std::cmp::Reverse(c.1)));
    let mut merged: Vec<(usize, usize, FindingCategory)> = Vec::new();
    for (start, end, category) in cut {
        let mut start = start.min(text.len());
        let mut end = end.min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        while !text.is_char_boundary(end) {
            end += 1;
        }
        match merged.last_mut() {
            Some(last) if start < last.1 => last.1 = last.1.max(end),
            _ if start < end => merged.push((start, end, category)),
            _ => {}
        }
    }
    for &(start, end, category) in merged.iter().rev() {
        let name = serde_json::to_value(category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        text.replace_range(start..end, &format!("[REDACTED:{name}]"));
    }
    merged.len()
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

    fn redacting() -> Policy {
        let entries: Vec<RawPolicy> =
            toml::from_str::<std::collections::BTreeMap<String, Vec<RawPolicy>>>(
                "policy = [{category = \"secret\", action = \"redact\"}, {category = \"pii\", min_severity = \"low\", action = \"redact\"}]",
            )
            .unwrap()
            .remove("policy")
            .unwrap();
        Policy::new(&entries, Arc::new(Engine::builtin().unwrap())).unwrap()
    }

    const PAT: &str = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";

    fn redacted(api: Api, body: &Value) -> (Value, Redacted) {
        let r = redacting()
            .redact(api, body.to_string().as_bytes())
            .unwrap();
        (serde_json::from_slice(&r.body).unwrap(), r)
    }

    #[test]
    fn masks_chat_completion_content_and_keeps_the_rest() {
        let body = serde_json::json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {
                "role": "assistant",
                "content": format!("the token is {PAT}, mail é@x.io or ana.lopez@example.com"),
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": format!("{{\"t\":\"{PAT}\"}}")}}]
            }}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}
        });
        let (v, r) = redacted(Api::OpenAiChat, &body);
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(!content.contains("ghp_"), "{content}");
        assert!(!content.contains("ana.lopez"), "{content}");
        assert!(
            content.starts_with("the token is [REDACTED:secret], mail"),
            "{content}"
        );
        assert!(content.ends_with("[REDACTED:pii]"), "{content}");
        assert_eq!(r.spans, 2, "{content}");
        assert!(
            r.rules.iter().any(|id| id.starts_with("secret.")),
            "{:?}",
            r.rules
        );
        // Tool-call arguments are JSON the client parses: left as they are.
        assert_eq!(
            v["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
        );
        assert_eq!(v["usage"], body["usage"]);
        assert_eq!(v["id"], "chatcmpl-1");
    }

    #[test]
    fn masks_responses_and_messages_text_parts() {
        let body = serde_json::json!({
            "id": "resp_1", "object": "response",
            "output": [{"type": "message", "role": "assistant", "content": [
                {"type": "output_text", "text": format!("use {PAT}"), "annotations": []}
            ]}]
        });
        let (v, _) = redacted(Api::OpenAiResponses, &body);
        assert_eq!(
            v["output"][0]["content"][0]["text"],
            "use [REDACTED:secret]"
        );

        let body = serde_json::json!({
            "id": "msg_1", "type": "message", "role": "assistant",
            "content": [
                {"type": "text", "text": format!("{PAT} is it")},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {"k": PAT}}
            ]
        });
        let (v, r) = redacted(Api::AnthropicMessages, &body);
        assert_eq!(v["content"][0]["text"], "[REDACTED:secret] is it");
        assert_eq!(v["content"][1]["input"]["k"], PAT);
        assert_eq!(r.spans, 1);
    }

    #[test]
    fn leaves_clean_odd_and_unscanned_bodies_alone() {
        let p = redacting();
        let clean =
            serde_json::json!({"choices": [{"message": {"content": "a token bucket refills"}}]});
        assert!(
            p.redact(Api::OpenAiChat, clean.to_string().as_bytes())
                .is_none()
        );
        for odd in [
            &b"not json"[..],
            b"[1,2]",
            b"null",
            b"{\"choices\": 7}",
            b"\xff\xfe",
        ] {
            assert!(p.redact(Api::OpenAiChat, odd).is_none());
        }
        // Embeddings and model lists carry no output text; a block-only policy redacts nothing.
        assert!(!p.redacts(Api::OpenAiEmbeddings));
        let block: Vec<RawPolicy> = vec![RawPolicy {
            category: FindingCategory::Secret,
            min_severity: Severity::High,
            action: Action::Block,
        }];
        let block = Policy::new(&block, Arc::new(Engine::builtin().unwrap())).unwrap();
        assert!(!block.redacts(Api::OpenAiChat));
        let secret = serde_json::json!({"choices": [{"message": {"content": PAT}}]});
        assert!(
            block
                .redact(Api::OpenAiChat, secret.to_string().as_bytes())
                .is_none()
        );
    }

    #[test]
    fn masking_merges_overlaps_and_respects_characters() {
        let mut t = String::from("aé secret é tail");
        // Overlapping spans merge; 12 falls inside the second é: widened to the character.
        let n = mask(
            &mut t,
            vec![
                (3, 10, FindingCategory::Secret),
                (1, 4, FindingCategory::Pii),
                (12, 99, FindingCategory::Secret),
            ],
        );
        assert_eq!(n, 2);
        assert_eq!(t, "a[REDACTED:pii] [REDACTED:secret]");
    }
}
