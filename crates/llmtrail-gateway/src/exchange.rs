//! One request's context and the events made from it.
//!
//! An [`Exchange`] is created when a request arrives and carries its id (the id of its
//! `llm.request` event, sent back in `x-llmtrail-request-id`), actor, trace, tags and timing
//! through the phases. The builders here turn it, with what was parsed, into `llm.request`,
//! `tool.call`, `llm.response` and `audit` events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use jiff::Timestamp;
use llmtrail_core::{
    Actor, Audit, AuditOutcome, Event, LlmRequest, LlmResponse, Part, ResponseError,
    ResponseStatus, SpanId, ToolCall, ToolStatus, Trace, TraceId,
};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::capture::{Captured, Outcome};
use crate::providers::{Api, ParsedResponse, ToolResult};

/// Attribute naming the API of an exchange.
pub const API_ATTR: &str = "llmtrail.api";
/// Attribute naming the upstream used.
pub const UPSTREAM_ATTR: &str = "llmtrail.upstream";

/// Returns the `llmtrail.api` name of an API.
#[must_use]
pub fn api_name(api: Api) -> &'static str {
    match api {
        Api::OpenAiChat => "openai.chat_completions",
        Api::OpenAiResponses => "openai.responses",
        Api::OpenAiEmbeddings => "openai.embeddings",
        Api::OpenAiModels => "openai.models",
        Api::AnthropicMessages => "anthropic.messages",
    }
}

/// The per-request context.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// Id of the `llm.request` event (or of the audit event for refused requests).
    pub id: Uuid,
    /// When the request arrived.
    pub time: Timestamp,
    /// Monotonic arrival time.
    pub start: Instant,
    /// Which API.
    pub api: Api,
    /// Who.
    pub actor: Actor,
    /// Trace context from `traceparent`.
    pub trace: Trace,
    /// Tags from the key and the headers.
    pub tags: BTreeMap<String, String>,
    /// Provider recorded.
    pub provider: String,
    /// Upstream chosen.
    pub upstream: Option<String>,
    /// Path of the request (no query).
    pub path: String,
    /// The provider's id of the exchange (`x-request-id` or `request-id`), to find it in the
    /// provider's own logs.
    pub upstream_request_id: Option<String>,
}

impl Exchange {
    /// Starts the context of a request that just arrived.
    #[must_use]
    pub fn new(api: Api, path: &str, provider: &str) -> Self {
        Exchange {
            id: Uuid::now_v7(),
            time: Timestamp::now(),
            start: Instant::now(),
            api,
            actor: Actor::default(),
            trace: Trace::default(),
            tags: BTreeMap::new(),
            provider: provider.to_owned(),
            upstream: None,
            path: path.to_owned(),
            upstream_request_id: None,
        }
    }

    fn event(&self, id: Uuid, time: Timestamp, body: impl Into<llmtrail_core::Body>) -> Event {
        Event {
            id,
            time,
            actor: self.actor.clone(),
            trace: self.trace,
            tags: self.tags.clone(),
            body: body.into(),
        }
    }

    fn attributes(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert(API_ATTR.into(), api_name(self.api).into());
        if let Some(u) = &self.upstream {
            m.insert(UPSTREAM_ATTR.into(), u.clone().into());
        }
        m
    }

    /// Builds the `llm.request` event; `body` comes from the provider parser (or is a bare
    /// request when the body could not be parsed) and `raw` is the body as received.
    #[must_use]
    pub fn request_event(&self, mut body: LlmRequest, raw: &[u8], rejected: Option<&str>) -> Event {
        body.provider.clone_from(&self.provider);
        if body.model.is_empty() {
            body.model = "unknown".into();
        }
        let mut attrs = self.attributes();
        attrs.append(&mut body.attributes);
        if let Some(code) = rejected {
            attrs.insert("llmtrail.rejected".into(), code.into());
        }
        let (text, encoding) = raw_text(raw);
        if let Some(enc) = encoding {
            attrs.insert("llmtrail.raw_encoding".into(), enc.into());
        }
        body.attributes = attrs;
        body.raw = (!raw.is_empty()).then_some(text);
        self.event(self.id, self.time, body)
    }

    /// Builds the `tool.call` events for the tool results a request carries back.
    /// `requested_by` finds the `llm.response` event that asked for a call id.
    #[must_use]
    pub fn tool_events(
        &self,
        results: Vec<ToolResult>,
        requested_by: impl Fn(&str) -> Option<Uuid>,
    ) -> Vec<Event> {
        results
            .into_iter()
            .map(|r| {
                let mut call = ToolCall::new(
                    r.name.clone().unwrap_or_else(|| "unknown".into()),
                    if r.is_error {
                        ToolStatus::Error
                    } else {
                        ToolStatus::Ok
                    },
                );
                call.call_id.clone_from(&r.call_id);
                call.tool_type = Some("function".into());
                call.request_id = r
                    .call_id
                    .as_deref()
                    .and_then(&requested_by)
                    .or(Some(self.id));
                call.is_error = r.is_error;
                call.attributes = self.attributes();
                call.attributes
                    .insert("llmtrail.carried_by".into(), self.id.to_string().into());
                call.arguments = r.arguments;
                call.result = Some(r.result);
                self.event(Uuid::now_v7(), self.time, call)
            })
            .collect()
    }

    /// Builds the `llm.response` for an answer the gateway made itself or an upstream failure
    /// before any response (no body).
    #[must_use]
    pub fn failure_event(&self, http_status: u16, error_type: &str, code: &str) -> Event {
        let mut r = LlmResponse::new(ResponseStatus::Error);
        r.request_id = Some(self.id);
        r.http_status = Some(http_status);
        r.error = Some(ResponseError {
            error_type: error_type.into(),
            code: Some(code.into()),
        });
        r.latency_ms = Some(ms(self.start, Instant::now()));
        r.attributes = self.attributes();
        self.event(Uuid::now_v7(), Timestamp::now(), r)
    }

    /// Builds the `llm.response` from a captured upstream body.
    #[must_use]
    pub fn response_event(
        &self,
        http_status: u16,
        streamed: bool,
        captured: &Captured,
        body: &[u8],
        parsed: ParsedResponse,
    ) -> Event {
        let ok_http = (200..300).contains(&http_status);
        let mut attrs = self.attributes();
        let ended_by = match captured.outcome {
            Outcome::Complete => None,
            Outcome::ClientAborted => Some("client_aborted"),
            Outcome::UpstreamError => Some("upstream_reset"),
            Outcome::IdleTimeout => Some("upstream_timeout"),
        };
        let mut error = parsed.error;
        let status = if let Some(why) = ended_by {
            error.get_or_insert_with(|| ResponseError {
                error_type: why.into(),
                code: None,
            });
            ResponseStatus::Incomplete
        } else if !ok_http || error.is_some() {
            error.get_or_insert_with(|| ResponseError {
                error_type: http_status.to_string(),
                code: None,
            });
            ResponseStatus::Error
        } else if parsed.parse_error.is_some() {
            error = Some(ResponseError {
                error_type: "invalid_response".into(),
                code: None,
            });
            ResponseStatus::Error
        } else if !parsed.complete {
            error = Some(ResponseError {
                error_type: "stream_ended_early".into(),
                code: None,
            });
            ResponseStatus::Incomplete
        } else {
            ResponseStatus::Ok
        };
        if let Some(why) = &parsed.parse_error {
            attrs.insert("llmtrail.parse_error".into(), why.clone().into());
        }
        if let Some(id) = &self.upstream_request_id {
            attrs.insert("llmtrail.upstream_request_id".into(), id.clone().into());
        }
        let (text, encoding) = raw_text(body);
        if let Some(enc) = encoding {
            attrs.insert("llmtrail.raw_encoding".into(), enc.into());
        }
        let mut r = LlmResponse::new(status);
        r.request_id = Some(self.id);
        r.response_id = parsed.response_id;
        r.response_model = parsed.response_model;
        r.finish_reasons = parsed.finish_reasons;
        r.usage = parsed.usage;
        r.latency_ms = Some(ms(self.start, captured.ended));
        r.time_to_first_token_ms = captured.first_byte.map(|t| ms(self.start, t));
        r.http_status = Some(http_status);
        r.error = error;
        r.streamed = streamed;
        r.attributes = attrs;
        r.output_messages = parsed.output_messages;
        r.error_message = parsed.error_message;
        r.raw = (!body.is_empty()).then_some(text);
        self.event(Uuid::now_v7(), Timestamp::now(), r)
    }

    /// Builds the `audit` event that says the client received a redacted output: the rules
    /// whose spans were masked and how many; its target is the request's id.
    #[must_use]
    pub fn redaction_event(&self, rules: &[String], spans: usize) -> Event {
        let mut a = Audit::new("gateway.redact", AuditOutcome::Success);
        a.target = Some(self.id.to_string());
        a.reason = Some("policy_redacted".into());
        a.details.insert("rules".into(), rules.to_vec().into());
        a.details.insert("spans".into(), spans.into());
        a.details.insert(API_ATTR.into(), api_name(self.api).into());
        self.event(Uuid::now_v7(), Timestamp::now(), a)
    }

    /// Builds an `audit` event for a refused request; its id becomes the exchange id.
    #[must_use]
    pub fn refusal_event(&self, action: &str, reason: &str, target: Option<&str>) -> Event {
        let mut a = Audit::new(action, AuditOutcome::Denied);
        a.reason = Some(reason.into());
        a.target = target.map(str::to_owned);
        a.details.insert("path".into(), self.path.clone().into());
        a.details.insert(API_ATTR.into(), api_name(self.api).into());
        self.event(self.id, self.time, a)
    }
}

/// Returns the tool calls (call id → nothing else) an output asked for.
pub fn requested_call_ids(event: &Event) -> Vec<String> {
    let llmtrail_core::Body::LlmResponse(r) = &event.body else {
        return Vec::new();
    };
    r.output_messages
        .iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            Part::ToolCall { id: Some(id), .. } => Some(id.clone()),
            _ => None,
        })
        .collect()
}

fn ms(from: Instant, to: Instant) -> f64 {
    to.saturating_duration_since(from).as_secs_f64() * 1000.0
}

/// Returns the body as text, or base64 with the encoding named when it is not UTF-8.
fn raw_text(raw: &[u8]) -> (String, Option<&'static str>) {
    match std::str::from_utf8(raw) {
        Ok(s) => (s.to_owned(), None),
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(raw),
            Some("base64"),
        ),
    }
}

/// Parses a W3C `traceparent` header; anything malformed gives an empty trace.
#[must_use]
pub fn traceparent(headers: &http::HeaderMap) -> Trace {
    let Some(v) = headers.get("traceparent").and_then(|v| v.to_str().ok()) else {
        return Trace::default();
    };
    let mut parts = v.trim().split('-');
    let (Some(version), Some(trace), Some(span), Some(_flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Trace::default();
    };
    if version.len() != 2 || version == "ff" {
        return Trace::default();
    }
    match (trace.parse::<TraceId>(), span.parse::<SpanId>()) {
        (Ok(t), Ok(s)) => Trace {
            trace_id: Some(t),
            span_id: None,
            parent_span_id: Some(s),
        },
        _ => Trace::default(),
    }
}

/// Remembers which `llm.response` asked for which tool call, so that the `tool.call` made when
/// the result comes back points at it. Bounded: the oldest entries go first.
#[derive(Debug)]
pub struct CallIndex {
    inner: Mutex<(HashMap<String, Uuid>, VecDeque<String>)>,
    cap: usize,
}

impl CallIndex {
    /// Creates an index keeping at most `cap` calls.
    #[must_use]
    pub fn new(cap: usize) -> Self {
        CallIndex {
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
            cap,
        }
    }

    fn key(scope: &str, call_id: &str) -> String {
        format!("{scope}\u{0}{call_id}")
    }

    /// Records that `response` asked for `call_ids` within `scope`.
    pub fn remember(&self, scope: &str, call_ids: Vec<String>, response: Uuid) {
        let Ok(mut guard) = self.inner.lock() else {
            return;
        };
        let (map, order) = &mut *guard;
        for id in call_ids {
            let key = Self::key(scope, &id);
            if map.insert(key.clone(), response).is_none() {
                order.push_back(key);
            }
            while order.len() > self.cap {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    /// Finds the response that asked for `call_id` within `scope`.
    #[must_use]
    pub fn find(&self, scope: &str, call_id: &str) -> Option<Uuid> {
        self.inner
            .lock()
            .ok()
            .and_then(|g| g.0.get(&Self::key(scope, call_id)).copied())
    }
}

/// Returns the scope in which tool call ids are matched: the same key, user and session.
#[must_use]
pub fn call_scope(actor: &Actor) -> String {
    format!(
        "{}\u{0}{}\u{0}{}",
        actor.api_key_id.as_deref().unwrap_or(""),
        actor.user.as_deref().unwrap_or(""),
        actor.session.as_deref().unwrap_or("")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_or_ignored() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let t = traceparent(&h);
        assert_eq!(
            t.trace_id.unwrap().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        h.insert("traceparent", "garbage".parse().unwrap());
        assert!(traceparent(&h).is_empty());
    }

    #[test]
    fn call_index_is_bounded_and_scoped() {
        let idx = CallIndex::new(2);
        let a = Uuid::now_v7();
        idx.remember("s1", vec!["c1".into(), "c2".into()], a);
        assert_eq!(idx.find("s1", "c1"), Some(a));
        assert_eq!(idx.find("s2", "c1"), None);
        idx.remember("s1", vec!["c3".into()], a);
        assert_eq!(idx.find("s1", "c1"), None);
        assert_eq!(idx.find("s1", "c3"), Some(a));
    }

    #[test]
    fn non_utf8_raw_is_kept_as_base64() {
        let ex = Exchange::new(Api::OpenAiChat, "/v1/chat/completions", "openai");
        let e = ex.request_event(LlmRequest::new("", ""), b"\xff\xfe{", Some("invalid_utf8"));
        let v = e.to_value();
        assert_eq!(v["body"]["raw"], "//57");
        assert_eq!(v["body"]["attributes"]["llmtrail.raw_encoding"], "base64");
        assert_eq!(v["body"]["gen_ai.request.model"], "unknown");
        Event::from_value(v).unwrap();
    }
}
