//! OpenTelemetry GenAI spans into llmtrail events.
//!
//! Which spans: a span is GenAI when it has `gen_ai.operation.name`, or OpenLLMetry's
//! `llm.request.type`, or (the conventions before operation names) a provider
//! (`gen_ai.provider.name`, `gen_ai.system`) together with `gen_ai.request.model`. Any other
//! span produces no event.
//!
//! What they become, in the shapes the gateway uses:
//! - `execute_tool` → one `tool.call` (name, call id, type, arguments, result, status,
//!   duration), pointing (`request_id`) at the `llm.response` of the same trace and export whose
//!   output asked for its call id;
//! - every other operation (`chat`, `text_completion`, `generate_content`, `embeddings`,
//!   `invoke_agent`, `create_agent`, and names not known yet) → an `llm.request` at the span's
//!   start and an `llm.response` at its end that points at it (`request_id`), with provider,
//!   model, parameters, usage, finish reasons, status, latency and the content found.
//!
//! Event ids are derived from the trace and span ids ([`crate::ids`]), so a retried export maps
//! to the same ids. Every event carries the span's trace, span and parent ids, and an actor
//! from `enduser.id`, `user.id`, `session.id`, `enduser.role` and `client.address` (span
//! first, then resource); the agent is `gen_ai.agent.name`, else the resource's
//! `service.name`.
//!
//! Content goes only into content fields: messages, instructions, tool definitions, tool
//! arguments and results, the status message as `error_message`, and the rest of the span as
//! JSON in the `llm.request`'s `raw`: its name, events, resource, scope, and every attribute the
//! events do not hold exactly (all but those read into typed fields, the metadata copied to
//! `attributes`, and the message, instruction and tool-definition attributes that were in the
//! conventions' exact shape), so an attribute this mapping does not know is still kept, while
//! the prompt and output are not stored twice. `attributes` of the bodies get only metadata:
//! `gen_ai.*`, `server.*`, `error.*` and `llm.*` keys that are not content, plus
//! `llmtrail.api` (`otlp.traces` or `otlp.logs`), `otel.scope.name`, `otel.span.name` and
//! `service.name`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use jiff::Timestamp;
use llmtrail_core::{
    Actor, Body, Event, LlmRequest, LlmResponse, Message, Parameters, Part, ResponseError,
    ResponseStatus, ToolCall, ToolStatus, Trace, TraceId, Usage,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::content;
use crate::model::{Attributes, Decoded, Origin, Span, StatusCode};

/// `llmtrail.api` of events made from spans.
pub const API_TRACES: &str = "otlp.traces";
/// `llmtrail.api` of events made from log records.
pub const API_LOGS: &str = "otlp.logs";

/// Events made from one request, and what was refused.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The events, in the order of the items they came from.
    pub events: Vec<Event>,
    /// How many items became events.
    pub mapped: u64,
    /// How many items were refused (undecodable, or not expressible as valid events).
    pub rejected: u64,
    /// Why, for the first few.
    pub errors: Vec<String>,
}

impl Mapped {
    pub(crate) fn from_decoded<T>(d: &Decoded<T>) -> Mapped {
        Mapped {
            events: Vec::new(),
            mapped: 0,
            rejected: d.rejected,
            errors: d.errors.clone(),
        }
    }

    pub(crate) fn reject(&mut self, items: u64, why: String) {
        self.rejected += items;
        if self.errors.len() < crate::model::MAX_ERRORS {
            self.errors.push(why);
        }
    }

    /// Adds the events made from `items` items after checking them; one invalid event refuses
    /// them all.
    pub(crate) fn push_checked(
        &mut self,
        events: Vec<Event>,
        items: u64,
        at: impl FnOnce() -> String,
    ) {
        if events.is_empty() {
            return;
        }
        if let Some(err) = events.iter().find_map(|e| e.validate().err()) {
            self.reject(items, format!("{}: {err}", at()));
            return;
        }
        self.mapped += items;
        self.events.extend(events);
    }
}

/// Maps decoded spans to events.
#[must_use]
pub fn spans(decoded: Decoded<Span>) -> Mapped {
    let mut out = Mapped::from_decoded(&decoded);
    for (n, (origin, span)) in decoded.items.into_iter().enumerate() {
        let events = span_events(&origin, &span);
        out.push_checked(events, 1, || format!("span {n} ({})", span.span_id));
    }
    link_tool_calls(&mut out.events);
    out
}

/// Points each `tool.call` at the `llm.response` of the same trace, in the same export, whose
/// output asked for that call id (so the response's related events include the tool's run).
/// Spans exported separately stay unlinked: each export is mapped on its own.
fn link_tool_calls(events: &mut [Event]) {
    let mut asked: HashMap<(Option<TraceId>, String), Uuid> = HashMap::new();
    for e in events.iter() {
        if let Body::LlmResponse(r) = &e.body {
            for part in r.output_messages.iter().flat_map(|m| &m.parts) {
                if let Part::ToolCall { id: Some(id), .. } = part {
                    asked.entry((e.trace.trace_id, id.clone())).or_insert(e.id);
                }
            }
        }
    }
    if asked.is_empty() {
        return;
    }
    for e in events.iter_mut() {
        let trace_id = e.trace.trace_id;
        if let Body::ToolCall(t) = &mut e.body
            && t.request_id.is_none()
            && let Some(call_id) = &t.call_id
            && let Some(response) = asked.get(&(trace_id, call_id.clone()))
        {
            t.request_id = Some(*response);
        }
    }
}

/// The operation of a GenAI span, or `None` for other spans.
fn operation(attrs: &Attributes) -> Option<Option<String>> {
    if let Some(op) = str_attr(attrs, "gen_ai.operation.name") {
        return Some(Some(op.to_owned()));
    }
    if let Some(kind) = str_attr(attrs, "llm.request.type") {
        let op = match kind {
            "completion" => "text_completion",
            "embedding" => "embeddings",
            other => other,
        };
        return Some(Some(op.to_owned()));
    }
    let has_provider =
        attrs.contains_key("gen_ai.provider.name") || attrs.contains_key("gen_ai.system");
    (has_provider && attrs.contains_key("gen_ai.request.model")).then_some(None)
}

fn span_events(origin: &Arc<Origin>, span: &Span) -> Vec<Event> {
    let Some(op) = operation(&span.attributes) else {
        return Vec::new();
    };
    let call = Call {
        origin,
        attrs: &span.attributes,
        api: API_TRACES,
        span_name: Some(&span.name),
        trace: Trace {
            trace_id: Some(span.trace_id),
            span_id: Some(span.span_id),
            parent_span_id: span.parent_span_id,
        },
        start: span.start_unix_nano,
        end: span.end_unix_nano,
        failed: span.status == StatusCode::Error,
        status_message: span.status_message.as_deref(),
    };
    if op.as_deref() == Some("execute_tool") {
        return vec![call.tool_event()];
    }
    let fallback_in = event_messages(span, "gen_ai.content.prompt", "gen_ai.prompt");
    let fallback_out = event_messages(span, "gen_ai.content.completion", "gen_ai.completion");
    let mut raw = Map::new();
    raw.insert("name".into(), span.name.clone().into());
    if !span.events.is_empty() {
        let events = span.events.iter().map(|e| {
            json!({"name": e.name, "time_unix_nano": e.time_unix_nano, "attributes": e.attributes})
        });
        raw.insert("events".into(), Value::Array(events.collect()));
    }
    raw.insert("resource".into(), Value::Object(origin.resource.clone()));
    raw.insert(
        "scope".into(),
        json!({"name": origin.scope_name, "version": origin.scope_version}),
    );
    let (req, resp) = call.model_events(op, fallback_in, fallback_out, Raw::Span(raw));
    vec![req, resp]
}

/// Messages from the span events of the 1.26-era conventions (`gen_ai.content.prompt` with a
/// `gen_ai.prompt` attribute holding JSON messages).
fn event_messages(span: &Span, event: &str, attr: &str) -> Vec<Message> {
    span.events
        .iter()
        .filter(|e| e.name == event)
        .filter_map(|e| e.attributes.get(attr))
        .flat_map(content::messages)
        .collect()
}

/// What goes into the `raw` field of an `llm.request`.
pub(crate) enum Raw {
    /// The item as received, whole (log records).
    Whole(String),
    /// A span's name, events, resource and scope; the attributes that the events do not hold
    /// exactly are added as `attributes`.
    Span(Map<String, Value>),
}

/// One model or tool call, from a span or from a log record that describes one.
pub(crate) struct Call<'a> {
    pub origin: &'a Origin,
    pub attrs: &'a Attributes,
    pub api: &'static str,
    pub span_name: Option<&'a str>,
    pub trace: Trace,
    pub start: u64,
    pub end: u64,
    pub failed: bool,
    pub status_message: Option<&'a str>,
}

/// Attributes read into typed fields (so not copied to `attributes` again).
const CONSUMED: &[&str] = &[
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.request.model",
    "gen_ai.conversation.id",
    "gen_ai.request.temperature",
    "gen_ai.request.max_tokens",
    "gen_ai.request.top_p",
    "gen_ai.request.top_k",
    "gen_ai.request.stop_sequences",
    "gen_ai.request.seed",
    "gen_ai.request.frequency_penalty",
    "gen_ai.request.presence_penalty",
    "gen_ai.request.choice.count",
    "gen_ai.response.id",
    "gen_ai.response.model",
    "gen_ai.response.finish_reasons",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.completion_tokens",
    "gen_ai.usage.total_tokens",
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.reasoning.output_tokens",
    "llm.usage.total_tokens",
    "llm.is_streaming",
    "gen_ai.is_streaming",
    "gen_ai.usage.reasoning_tokens",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.tool.type",
];

/// Attributes that carry content (or secrets): never copied to `attributes`.
const CONTENT: &[&str] = &[
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.completion",
    "llm.prompts",
    "llm.headers",
];

/// Prefixes of content attributes.
const CONTENT_PREFIXES: &[&str] = &[
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.request.functions.",
    "llm.prompts.",
];

/// Namespaces whose other attributes are metadata worth keeping.
const METADATA_PREFIXES: &[&str] = &["gen_ai.", "server.", "error.", "llm."];

fn is_metadata(key: &str) -> bool {
    METADATA_PREFIXES.iter().any(|p| key.starts_with(p))
        && !CONSUMED.contains(&key)
        && !CONTENT.contains(&key)
        && !CONTENT_PREFIXES.iter().any(|p| key.starts_with(p))
}

impl Call<'_> {
    fn actor(&self) -> Actor {
        actor(self.attrs, &self.origin.resource)
    }

    fn attributes(&self) -> Map<String, Value> {
        let mut m: Map<String, Value> = self
            .attrs
            .iter()
            .filter(|(k, _)| is_metadata(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        m.insert("llmtrail.api".into(), self.api.into());
        if let Some(name) = &self.origin.scope_name {
            m.insert("otel.scope.name".into(), name.clone().into());
        }
        if let Some(name) = self.span_name.filter(|n| !n.is_empty()) {
            m.insert("otel.span.name".into(), name.into());
        }
        if let Some(service) = str_attr(&self.origin.resource, "service.name") {
            m.insert("service.name".into(), service.into());
        }
        m
    }

    fn event(&self, time: Timestamp, body: impl Into<llmtrail_core::Body>) -> Event {
        let body = body.into();
        let role = format!("{}/{}", self.api, body.kind());
        Event {
            id: crate::ids::event_id(&self.trace, &role, time),
            time,
            actor: self.actor(),
            trace: self.trace,
            tags: std::collections::BTreeMap::new(),
            body,
        }
    }

    fn error(&self) -> Option<ResponseError> {
        let error_type = str_attr(self.attrs, "error.type");
        (self.failed || error_type.is_some()).then(|| ResponseError {
            error_type: error_type.unwrap_or("error").to_owned(),
            code: None,
        })
    }

    fn duration_ms(&self) -> Option<f64> {
        (self.start > 0 && self.end >= self.start)
            .then(|| (self.end - self.start) as f64 / 1_000_000.0)
    }

    /// The `tool.call` of an `execute_tool` span.
    pub(crate) fn tool_event(&self) -> Event {
        let name = str_attr(self.attrs, "gen_ai.tool.name")
            .or_else(|| {
                self.span_name
                    .and_then(|n| n.strip_prefix("execute_tool "))
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or("unknown");
        let error = self.error();
        let mut call = ToolCall::new(
            name,
            if error.is_some() {
                ToolStatus::Error
            } else {
                ToolStatus::Ok
            },
        );
        call.is_error = error.is_some();
        call.call_id = str_attr(self.attrs, "gen_ai.tool.call.id").map(str::to_owned);
        call.tool_type = str_attr(self.attrs, "gen_ai.tool.type").map(str::to_owned);
        call.conversation_id = str_attr(self.attrs, "gen_ai.conversation.id").map(str::to_owned);
        call.duration_ms = self.duration_ms();
        call.attributes = self.attributes();
        if let Some(e) = &error {
            call.attributes
                .entry("error.type")
                .or_insert_with(|| e.error_type.clone().into());
        }
        call.arguments = self
            .attrs
            .get("gen_ai.tool.call.arguments")
            .map(content::json_or_text)
            .filter(|v| !v.is_null());
        call.result = self
            .attrs
            .get("gen_ai.tool.call.result")
            .map(content::json_or_text)
            .filter(|v| !v.is_null());
        self.event(time_of(self.start, self.end), call)
    }

    /// The `llm.request` and `llm.response` of a model call. `fallback_in`/`fallback_out`
    /// are used when the attributes hold no messages; `raw` is what the request keeps of the
    /// item as received.
    pub(crate) fn model_events(
        &self,
        operation: Option<String>,
        fallback_in: Vec<Message>,
        fallback_out: Vec<Message>,
        raw: Raw,
    ) -> (Event, Event) {
        let a = self.attrs;
        let provider = str_attr(a, "gen_ai.provider.name")
            .or_else(|| str_attr(a, "gen_ai.system"))
            .unwrap_or("unknown");
        let model = str_attr(a, "gen_ai.request.model")
            .or_else(|| str_attr(a, "gen_ai.response.model"))
            .unwrap_or("unknown");
        let mut req = LlmRequest::new(provider, model);
        req.operation = operation;
        req.conversation_id = str_attr(a, "gen_ai.conversation.id").map(str::to_owned);
        req.parameters = parameters(a);
        req.attributes = self.attributes();
        // Content attributes read exactly need no copy in `raw`.
        let mut exact: Vec<&str> = Vec::new();
        req.messages = match read_exact(a, "gen_ai.input.messages", &mut exact) {
            Some((_, Some(m))) => m,
            Some((v, None)) => content::messages(v),
            None => {
                let indexed = content::indexed_messages(a, "gen_ai.prompt");
                if indexed.is_empty() {
                    fallback_in
                } else {
                    indexed
                }
            }
        };
        req.system_instructions = match read_exact(a, "gen_ai.system_instructions", &mut exact) {
            Some((_, Some(p))) => p,
            Some((v, None)) => content::parts(v),
            None => Vec::new(),
        };
        req.tool_definitions = match read_exact(a, "gen_ai.tool.definitions", &mut exact) {
            Some((_, Some(d))) => d,
            Some((v, None)) => content::tool_definitions(v),
            None => content::indexed_functions(a),
        };
        let output_messages = match read_exact(a, "gen_ai.output.messages", &mut exact) {
            Some((_, Some(m))) => m,
            Some((v, None)) => content::messages(v),
            None => {
                let indexed = content::indexed_messages(a, "gen_ai.completion");
                if indexed.is_empty() {
                    fallback_out
                } else {
                    indexed
                }
            }
        };
        req.raw = Some(match raw {
            Raw::Whole(s) => s,
            Raw::Span(mut obj) => {
                let left: Map<String, Value> = a
                    .iter()
                    .filter(|(k, _)| {
                        !CONSUMED.contains(&k.as_str())
                            && !is_metadata(k)
                            && !exact.contains(&k.as_str())
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                obj.insert("attributes".into(), Value::Object(left));
                Value::Object(obj).to_string()
            }
        });
        let request = self.event(time_of(self.start, self.start), req);

        let error = self.error();
        let mut resp = LlmResponse::new(if error.is_some() {
            ResponseStatus::Error
        } else {
            ResponseStatus::Ok
        });
        resp.request_id = Some(request.id);
        resp.response_id = str_attr(a, "gen_ai.response.id").map(str::to_owned);
        resp.response_model = str_attr(a, "gen_ai.response.model").map(str::to_owned);
        resp.finish_reasons = strings(a.get("gen_ai.response.finish_reasons"));
        resp.usage = usage(a);
        resp.latency_ms = self.duration_ms();
        resp.streamed = streaming(a);
        resp.attributes = self.attributes();
        resp.output_messages = output_messages;
        if resp.finish_reasons.is_empty() {
            resp.finish_reasons = resp
                .output_messages
                .iter()
                .filter_map(|m| m.finish_reason.clone())
                .collect();
        }
        resp.error_message = error.as_ref().and(self.status_message).map(str::to_owned);
        resp.error = error;
        let response = self.event(time_of(self.end, self.start), resp);
        (request, response)
    }
}

/// Reads a content attribute; when it is in the exact shape, `key` joins `exact`.
fn read_exact<'a, T: serde::de::DeserializeOwned>(
    a: &'a Attributes,
    key: &'static str,
    exact: &mut Vec<&'static str>,
) -> Option<(&'a Value, Option<T>)> {
    let v = a.get(key)?;
    let parsed = content::exact(v);
    if parsed.is_some() {
        exact.push(key);
    }
    Some((v, parsed))
}

/// Nanoseconds since the epoch as a timestamp; 0 (unknown) falls back to `other`, then now.
pub(crate) fn time_of(nanos: u64, other: u64) -> Timestamp {
    [nanos, other]
        .into_iter()
        .filter(|n| *n > 0)
        .find_map(|n| Timestamp::from_nanosecond(i128::from(n)).ok())
        .unwrap_or_else(Timestamp::now)
}

/// The actor: span (or record) attributes first, then the resource's.
pub(crate) fn actor(attrs: &Attributes, resource: &Attributes) -> Actor {
    let first = |keys: &[&str]| {
        [attrs, resource]
            .into_iter()
            .flat_map(|m| keys.iter().filter_map(move |k| str_attr(m, k)))
            .find(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let service = str_attr(resource, "service.name")
        .filter(|s| !s.is_empty() && !s.starts_with("unknown_service"))
        .map(str::to_owned);
    Actor {
        user: first(&["enduser.id", "user.id"]),
        role: first(&["enduser.role"]),
        department: None,
        session: first(&["session.id"]),
        api_key_id: None,
        source_ip: first(&["client.address"]).and_then(|a| a.parse::<IpAddr>().ok()),
        user_agent: None,
        agent: first(&["gen_ai.agent.name"]).or(service),
    }
}

/// A text attribute; empty text counts as absent (an empty provider or tool name is no name).
pub(crate) fn str_attr<'a>(attrs: &'a Attributes, key: &str) -> Option<&'a str> {
    attrs
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn f64_attr(attrs: &Attributes, key: &str) -> Option<f64> {
    match attrs.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|f| f.is_finite())
}

fn u64_attr(attrs: &Attributes, key: &str) -> Option<u64> {
    match attrs.get(key)? {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.is_finite() && *f >= 0.0 && f.fract() == 0.0 && *f < 1.8e19)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// OpenLLMetry's streaming flag, in its older and newer names.
fn streaming(a: &Attributes) -> bool {
    ["gen_ai.is_streaming", "llm.is_streaming"]
        .iter()
        .find_map(|k| a.get(*k).and_then(Value::as_bool))
        == Some(true)
}

fn parameters(a: &Attributes) -> Parameters {
    Parameters {
        temperature: f64_attr(a, "gen_ai.request.temperature"),
        max_tokens: u64_attr(a, "gen_ai.request.max_tokens"),
        top_p: f64_attr(a, "gen_ai.request.top_p"),
        top_k: f64_attr(a, "gen_ai.request.top_k"),
        stop_sequences: strings(a.get("gen_ai.request.stop_sequences")),
        seed: a.get("gen_ai.request.seed").and_then(Value::as_i64),
        frequency_penalty: f64_attr(a, "gen_ai.request.frequency_penalty"),
        presence_penalty: f64_attr(a, "gen_ai.request.presence_penalty"),
        choice_count: u64_attr(a, "gen_ai.request.choice.count"),
        stream: streaming(a),
        extra: Map::new(),
    }
}

fn usage(a: &Attributes) -> Option<Usage> {
    let input = u64_attr(a, "gen_ai.usage.input_tokens")
        .or_else(|| u64_attr(a, "gen_ai.usage.prompt_tokens"));
    let output = u64_attr(a, "gen_ai.usage.output_tokens")
        .or_else(|| u64_attr(a, "gen_ai.usage.completion_tokens"));
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        total_tokens: u64_attr(a, "gen_ai.usage.total_tokens")
            .or_else(|| u64_attr(a, "llm.usage.total_tokens")),
        cache_read_input_tokens: u64_attr(a, "gen_ai.usage.cache_read.input_tokens"),
        cache_creation_input_tokens: u64_attr(a, "gen_ai.usage.cache_creation.input_tokens"),
        reasoning_output_tokens: u64_attr(a, "gen_ai.usage.reasoning.output_tokens")
            .or_else(|| u64_attr(a, "gen_ai.usage.reasoning_tokens")),
    })
}

#[cfg(test)]
mod tests {
    use llmtrail_core::SpanId;
    use serde_json::json;

    use super::*;

    pub(crate) fn span(attrs: Value) -> Span {
        Span {
            trace_id: TraceId::from_bytes([0x4b; 16]).unwrap(),
            span_id: SpanId::from_bytes([0x01; 8]).unwrap(),
            parent_span_id: SpanId::from_bytes([0x02; 8]),
            name: "chat gpt-4o".into(),
            start_unix_nano: 1_700_000_000_000_000_000,
            end_unix_nano: 1_700_000_001_500_000_000,
            attributes: serde_json::from_value(attrs).unwrap(),
            events: Vec::new(),
            status: StatusCode::Unset,
            status_message: None,
        }
    }

    fn origin() -> Arc<Origin> {
        Arc::new(Origin {
            resource: serde_json::from_value(json!({
                "service.name": "support-bot", "enduser.id": "res-user"
            }))
            .unwrap(),
            scope_name: Some("my.instrumentation".into()),
            scope_version: None,
        })
    }

    fn map(spans_: Vec<Span>) -> Mapped {
        let o = origin();
        spans(Decoded {
            items: spans_.into_iter().map(|s| (Arc::clone(&o), s)).collect(),
            rejected: 0,
            errors: Vec::new(),
        })
    }

    fn roundtrip(e: &Event) -> Value {
        let v = e.to_value();
        assert_eq!(&Event::from_value(v.clone()).unwrap(), e, "event re-parses");
        v
    }

    #[test]
    fn current_chat_span_becomes_request_and_response() {
        let m = map(vec![span(json!({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.request.temperature": 0.2,
            "gen_ai.request.max_tokens": 200,
            "gen_ai.request.stop_sequences": ["END"],
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.response.id": "chatcmpl-1",
            "gen_ai.response.finish_reasons": ["stop"],
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.conversation.id": "conv-1",
            "server.address": "api.openai.com",
            "gen_ai.input.messages": "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]",
            "gen_ai.output.messages": "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hello\"}],\"finish_reason\":\"stop\"}]",
            "gen_ai.system_instructions": "[{\"type\":\"text\",\"content\":\"be kind\"}]",
            "enduser.id": "u-1042",
            "session.id": "s-9",
            "gen_ai.agent.name": "helper",
            "app.tenant": "acme",
        }))]);
        assert_eq!((m.mapped, m.rejected), (1, 0));
        let req = roundtrip(&m.events[0]);
        let resp = roundtrip(&m.events[1]);
        assert_eq!(req["kind"], "llm.request");
        assert_eq!(req["time"], "2023-11-14T22:13:20.000000000Z");
        assert_eq!(
            req["trace"],
            json!({"trace_id": "4b".repeat(16), "span_id": "0101010101010101",
                "parent_span_id": "0202020202020202"})
        );
        assert_eq!(
            req["actor"],
            json!({"user": "u-1042", "session": "s-9", "agent": "helper"})
        );
        let b = &req["body"];
        assert_eq!(b["gen_ai.provider.name"], "openai");
        assert_eq!(b["gen_ai.request.model"], "gpt-4o");
        assert_eq!(b["gen_ai.operation.name"], "chat");
        assert_eq!(b["gen_ai.conversation.id"], "conv-1");
        assert_eq!(
            b["parameters"],
            json!({"gen_ai.request.temperature": 0.2, "gen_ai.request.max_tokens": 200,
                "gen_ai.request.stop_sequences": ["END"]})
        );
        assert_eq!(
            b["attributes"],
            json!({"llmtrail.api": "otlp.traces", "server.address": "api.openai.com",
                "gen_ai.agent.name": "helper", "otel.scope.name": "my.instrumentation",
                "otel.span.name": "chat gpt-4o", "service.name": "support-bot"})
        );
        assert_eq!(
            b["gen_ai.input.messages"],
            json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]}])
        );
        assert_eq!(
            b["gen_ai.system_instructions"],
            json!([{"type": "text", "content": "be kind"}])
        );
        // `raw` keeps what the event does not hold exactly, and not the prompt twice.
        let raw: Value = serde_json::from_str(b["raw"].as_str().unwrap()).unwrap();
        assert_eq!(
            raw["attributes"],
            json!({"app.tenant": "acme", "enduser.id": "u-1042", "session.id": "s-9"})
        );
        assert_eq!(raw["resource"]["service.name"], "support-bot");
        assert_eq!(raw["name"], "chat gpt-4o");

        assert_eq!(resp["kind"], "llm.response");
        assert_eq!(resp["time"], "2023-11-14T22:13:21.500000000Z");
        let r = &resp["body"];
        assert_eq!(r["request_id"], req["id"]);
        assert_eq!(r["status"], "ok");
        assert_eq!(r["latency_ms"], 1500.0);
        assert_eq!(r["gen_ai.response.id"], "chatcmpl-1");
        assert_eq!(r["gen_ai.response.model"], "gpt-4o-2024-08-06");
        assert_eq!(r["gen_ai.response.finish_reasons"], json!(["stop"]));
        assert_eq!(
            r["usage"],
            json!({"gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3})
        );
        assert_eq!(
            r["gen_ai.output.messages"],
            json!([{"role": "assistant", "parts": [{"type": "text", "content": "hello"}],
                "finish_reason": "stop"}])
        );
        assert!(r.get("raw").is_none());
    }

    #[test]
    fn indexed_openllmetry_span_with_old_names() {
        let m = map(vec![span(json!({
            "llm.request.type": "chat",
            "gen_ai.system": "OpenAI",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.prompt_tokens": 20,
            "gen_ai.usage.completion_tokens": 7,
            "llm.usage.total_tokens": 27,
            "llm.is_streaming": false,
            "gen_ai.is_streaming": true,
            "gen_ai.usage.reasoning_tokens": 2,
            "llm.headers": "{'authorization': 'Bearer sk-secret'}",
            "gen_ai.prompt.0.role": "user",
            "gen_ai.prompt.0.content": "weather in Oslo?",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.finish_reason": "tool_calls",
            "gen_ai.completion.0.tool_calls.0.id": "call_1",
            "gen_ai.completion.0.tool_calls.0.name": "get_weather",
            "gen_ai.completion.0.tool_calls.0.arguments": "{\"city\": \"Oslo\"}",
            "llm.request.functions.0.name": "get_weather",
            "user.id": "u-7",
        }))]);
        let req = roundtrip(&m.events[0]);
        let resp = roundtrip(&m.events[1]);
        let b = &req["body"];
        assert_eq!(b["gen_ai.provider.name"], "OpenAI");
        assert_eq!(b["gen_ai.operation.name"], "chat");
        assert_eq!(
            b["gen_ai.input.messages"],
            json!([{"role": "user", "parts": [{"type": "text", "content": "weather in Oslo?"}]}])
        );
        assert_eq!(b["gen_ai.tool.definitions"][0]["name"], "get_weather");
        let attrs = b["attributes"].as_object().unwrap();
        assert_eq!(attrs["llm.request.type"], "chat");
        assert!(
            !attrs.contains_key("llm.headers"),
            "headers never reach metadata"
        );
        assert!(!attrs.keys().any(|k| k.starts_with("gen_ai.prompt")));
        assert_eq!(req["actor"]["user"], "u-7");
        let r = &resp["body"];
        assert_eq!(
            r["usage"],
            json!({"gen_ai.usage.input_tokens": 20, "gen_ai.usage.output_tokens": 7,
                "total_tokens": 27, "gen_ai.usage.reasoning.output_tokens": 2})
        );
        assert_eq!(r["gen_ai.response.finish_reasons"], json!(["tool_calls"]));
        assert_eq!(r["streamed"], true, "the newer flag wins");
        assert_eq!(b["parameters"]["stream"], true);
        assert_eq!(
            r["gen_ai.output.messages"][0]["parts"][0],
            json!({"type": "tool_call", "id": "call_1", "name": "get_weather",
                "arguments": {"city": "Oslo"}})
        );
    }

    #[test]
    fn content_in_another_shape_is_also_kept_raw() {
        let m = map(vec![span(json!({
            "gen_ai.operation.name": "chat",
            "gen_ai.input.messages": "[{\"role\":\"user\",\"parts\":[{\"type\":\"hologram\"}]}]",
            "gen_ai.prompt.0.content": "indexed",
        }))]);
        let req = roundtrip(&m.events[0]);
        let raw: Value = serde_json::from_str(req["body"]["raw"].as_str().unwrap()).unwrap();
        assert!(raw["attributes"]["gen_ai.input.messages"].is_string());
        assert_eq!(raw["attributes"]["gen_ai.prompt.0.content"], "indexed");
    }

    #[test]
    fn tool_span_becomes_tool_call() {
        let mut s = span(json!({
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "run_shell",
            "gen_ai.tool.call.id": "call_9",
            "gen_ai.tool.type": "function",
            "gen_ai.tool.call.arguments": "{\"cmd\":\"ls /\"}",
            "gen_ai.tool.call.result": "bin etc",
            "gen_ai.tool.description": "Runs a command",
        }));
        s.name = "execute_tool run_shell".into();
        let m = map(vec![s]);
        assert_eq!(m.events.len(), 1);
        let e = roundtrip(&m.events[0]);
        assert_eq!(e["kind"], "tool.call");
        let b = &e["body"];
        assert_eq!(b["gen_ai.tool.name"], "run_shell");
        assert_eq!(b["gen_ai.tool.call.id"], "call_9");
        assert_eq!(b["gen_ai.tool.type"], "function");
        assert_eq!(b["status"], "ok");
        assert_eq!(b["duration_ms"], 1500.0);
        assert_eq!(b["gen_ai.tool.call.arguments"], json!({"cmd": "ls /"}));
        assert_eq!(b["gen_ai.tool.call.result"], "bin etc");
        assert_eq!(b["attributes"]["gen_ai.tool.description"], "Runs a command");
        // No user on the span: the resource's enduser.id; no agent name: service.name.
        assert_eq!(
            e["actor"],
            json!({"user": "res-user", "agent": "support-bot"})
        );
    }

    #[test]
    fn tool_calls_point_at_the_response_that_asked_for_them() {
        let chat = span(json!({
            "gen_ai.operation.name": "chat",
            "gen_ai.output.messages": "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_1\",\"name\":\"f\"}]}]",
        }));
        let mut tool = span(json!({"gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "f", "gen_ai.tool.call.id": "call_1"}));
        tool.span_id = SpanId::from_bytes([7; 8]).unwrap();
        let mut elsewhere = tool.clone();
        elsewhere.trace_id = TraceId::from_bytes([8; 16]).unwrap();
        let m = map(vec![chat, tool, elsewhere]);
        let Body::ToolCall(t) = &m.events[2].body else {
            panic!("not a tool call")
        };
        assert_eq!(t.request_id, Some(m.events[1].id));
        let Body::ToolCall(t) = &m.events[3].body else {
            panic!("not a tool call")
        };
        assert_eq!(
            t.request_id, None,
            "another trace's call id is another call"
        );
    }

    #[test]
    fn failed_spans_are_errors_with_their_message_as_content() {
        let mut s = span(json!({
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude", "error.type": "rate_limited",
        }));
        s.status = StatusCode::Error;
        s.status_message = Some("429 Too Many Requests".into());
        let mut t = span(json!({"gen_ai.operation.name": "execute_tool"}));
        t.name = "execute_tool".into();
        t.status = StatusCode::Error;
        let m = map(vec![s, t]);
        let r = roundtrip(&m.events[1]);
        assert_eq!(r["body"]["status"], "error");
        assert_eq!(r["body"]["error"], json!({"error.type": "rate_limited"}));
        assert_eq!(r["body"]["error_message"], "429 Too Many Requests");
        let t = roundtrip(&m.events[2]);
        assert_eq!(t["body"]["gen_ai.tool.name"], "unknown");
        assert_eq!(t["body"]["status"], "error");
        assert_eq!(t["body"]["is_error"], true);
        assert_eq!(t["body"]["attributes"]["error.type"], "error");
    }

    #[test]
    fn other_operations_and_old_style_spans() {
        let m = map(vec![
            span(
                json!({"gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "text-embedding-3-small", "gen_ai.usage.input_tokens": 5}),
            ),
            span(json!({"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"})),
            span(json!({"gen_ai.system": "vertex_ai", "gen_ai.request.model": "gemini"})),
            span(json!({"http.method": "GET", "gen_ai.system": "openai"})),
            span(json!({})),
        ]);
        assert_eq!(m.mapped, 3);
        assert_eq!(m.events.len(), 6);
        let emb = roundtrip(&m.events[1]);
        assert_eq!(
            emb["body"]["usage"],
            json!({"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 0})
        );
        let agent = roundtrip(&m.events[2]);
        assert_eq!(agent["body"]["gen_ai.provider.name"], "unknown");
        assert_eq!(agent["body"]["gen_ai.request.model"], "unknown");
        assert_eq!(agent["actor"]["agent"], "planner");
        let old = roundtrip(&m.events[4]);
        assert!(old["body"].get("gen_ai.operation.name").is_none());
    }

    #[test]
    fn span_event_content_of_older_conventions() {
        let mut s = span(json!({"gen_ai.system": "openai", "gen_ai.request.model": "gpt-4"}));
        s.events = vec![
            crate::model::SpanEvent {
                time_unix_nano: 1,
                name: "gen_ai.content.prompt".into(),
                attributes: serde_json::from_value(
                    json!({"gen_ai.prompt": "[{\"role\":\"user\",\"content\":\"q\"}]"}),
                )
                .unwrap(),
            },
            crate::model::SpanEvent {
                time_unix_nano: 2,
                name: "gen_ai.content.completion".into(),
                attributes: serde_json::from_value(
                    json!({"gen_ai.completion": "[{\"role\":\"assistant\",\"content\":\"a\"}]"}),
                )
                .unwrap(),
            },
        ];
        let m = map(vec![s]);
        let req = roundtrip(&m.events[0]);
        let resp = roundtrip(&m.events[1]);
        assert_eq!(
            req["body"]["gen_ai.input.messages"][0]["parts"][0]["content"],
            "q"
        );
        assert_eq!(
            resp["body"]["gen_ai.output.messages"][0]["parts"][0]["content"],
            "a"
        );
    }

    #[test]
    fn unknown_service_is_not_an_agent_and_client_address_is_the_source() {
        let a = actor(
            &serde_json::from_value(json!({"client.address": "10.0.0.8"})).unwrap(),
            &serde_json::from_value(json!({"service.name": "unknown_service:python"})).unwrap(),
        );
        assert_eq!(a.agent, None);
        assert_eq!(a.source_ip, Some("10.0.0.8".parse().unwrap()));
    }

    #[test]
    fn the_same_span_maps_to_the_same_events() {
        let s = span(json!({"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}));
        let a = map(vec![s.clone()]);
        let b = map(vec![s]);
        assert_eq!(a.events, b.events);
        assert_ne!(a.events[0].id, a.events[1].id);
        assert_eq!(
            a.events[0].id,
            crate::ids::event_id(
                &a.events[0].trace,
                "otlp.traces/llm.request",
                a.events[0].time
            )
        );
    }

    #[test]
    fn empty_names_are_absent_not_invalid() {
        let mut t = span(json!({"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": ""}));
        t.name = "execute_tool ".into();
        let m = map(vec![
            span(
                json!({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "",
                "gen_ai.request.model": ""}),
            ),
            t,
        ]);
        assert_eq!((m.mapped, m.rejected), (2, 0), "{:?}", m.errors);
        let req = roundtrip(&m.events[0]);
        assert_eq!(req["body"]["gen_ai.provider.name"], "unknown");
        assert_eq!(req["body"]["gen_ai.request.model"], "unknown");
        assert_eq!(
            roundtrip(&m.events[2])["body"]["gen_ai.tool.name"],
            "unknown"
        );
    }

    #[test]
    fn missing_times_fall_back() {
        let mut s = span(json!({"gen_ai.operation.name": "chat"}));
        s.start_unix_nano = 0;
        s.end_unix_nano = 0;
        let m = map(vec![s]);
        assert_eq!(m.events.len(), 2);
        assert!(roundtrip(&m.events[1])["body"].get("latency_ms").is_none());
    }
}
