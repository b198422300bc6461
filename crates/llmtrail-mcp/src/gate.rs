//! The per-message logic both transports share: what a request is, what policy decides
//! about it, what is logged before it runs, and what is logged when its response comes back.
//!
//! # What is logged
//!
//! | exchange | event |
//! | --- | --- |
//! | `initialize`, `server/discover` | `audit` `mcp.initialize`: client and server names and versions, protocol |
//! | `tools/list` | `tool.call` named `tools/list` (type `mcp_method`), the catalogue as its result |
//! | `tools/call` | `tool.call` named after the tool (type `extension`): arguments, result, `isError`, duration, decision |
//! | `resources/read`, `prompts/get` | `tool.call` named after the method (type `mcp_method`) with params and result |
//! | a message that is not JSON-RPC | `audit` `mcp.invalid_message` (size and reason, never the bytes) |
//!
//! # Contract
//!
//! - In `block` mode (the default) a `tools/call`, `resources/read` or `prompts/get` is
//!   forwarded only after a `tool.call` event with status `pending` is durable; a response is
//!   given to the client only after its event is durable, otherwise the client gets a
//!   JSON-RPC error (`-32003`) instead. The completed event points at the pending one through
//!   the attribute `llmtrail.pending`.
//! - In `allow` mode nothing waits: events are sent in the background.
//! - A blocked call never reaches the server: the client gets `-32001` naming the rule, and a
//!   `tool.call` with status `blocked` is logged. A held call is logged `pending` with
//!   decision `hold`, registered with `serve`'s approvals, and runs once approved; denied or
//!   timed out, it is refused with `-32002` and logged `blocked`.
//! - A `tools/call` that policy allows is held all the same when an alert's `hold_tools`
//!   playbook holds the connection's user (`serve` is asked per call; the rule is then
//!   `alert:<rule id>:<alert id>`). When `serve` cannot say, policy's decision stands.
//! - The ledger keeps the raw result; only what the client receives is redacted.
//! - A result the client receives carries the id of its `tool.call` event under
//!   `_meta["llmtrail.dev/event_id"]`, so a client can find its trail.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use llmtrail_core::{Actor, Audit, AuditOutcome, Decision, Event, ToolCall, ToolStatus};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::config::{Action, OnLogFailure, RawMcp};
use crate::jsonrpc::{self, Kind, Message};
use crate::policy::{Policy, Verdict};
use crate::report::{Approval, Reporter};

const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
const PROTOCOL: &str = "io.modelcontextprotocol/protocolVersion";
/// Key under a result's `_meta` that carries the id of the call's `tool.call` event.
pub const EVENT_META: &str = "llmtrail.dev/event_id";
/// Longest single wait on `serve` for an approval; the hold loops until its own deadline.
const APPROVAL_POLL: Duration = Duration::from_secs(20);

/// What kind of exchange a request starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `initialize` or `server/discover`.
    Handshake,
    /// `tools/list`.
    ToolList,
    /// `tools/call`.
    Tool,
    /// `resources/read` or `prompts/get`.
    Read,
}

/// A request on its way through the proxy.
#[derive(Debug, Clone)]
pub struct Call {
    /// JSON-RPC id as the client sent it.
    pub id: Value,
    /// Method.
    pub method: String,
    /// Kind.
    pub kind: CallKind,
    /// Tool name (`tools/call`) or method name.
    pub name: String,
    /// Arguments (`tools/call`) or params (`resources/read`, `prompts/get`).
    pub arguments: Option<Value>,
    /// When the proxy received it.
    pub started: Instant,
    /// The policy's decision.
    pub verdict: Verdict,
    /// Id of the `pending` event logged before it ran.
    pub pending: Option<Uuid>,
}

/// Names and versions learned from the handshake.
#[derive(Debug, Clone, Default)]
struct Peers {
    client: Option<Value>,
    server: Option<Value>,
    protocol: Option<String>,
}

/// One client connection: a `wrap` run or one HTTP session.
#[derive(Debug)]
pub struct Conn {
    /// Who is acting.
    pub actor: Actor,
    /// The MCP session id (`Mcp-Session-Id`, or one made up per `wrap` run).
    pub session: String,
    peers: Mutex<Peers>,
}

impl Conn {
    /// Creates a connection with an actor and a session id.
    #[must_use]
    pub fn new(actor: Actor, session: String) -> Self {
        Self {
            actor,
            session,
            peers: Mutex::new(Peers::default()),
        }
    }

    fn peers(&self) -> Peers {
        self.peers.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn update(&self, f: impl FnOnce(&mut Peers)) {
        if let Ok(mut p) = self.peers.lock() {
            f(&mut p);
        }
    }

    /// The server's `serverInfo`, once known.
    #[must_use]
    pub fn server_info(&self) -> Option<Value> {
        self.peers().server
    }

    /// Sets the server's `serverInfo` when it is not known yet (a proxy in front of one
    /// server knows it from other connections).
    pub fn seed_server(&self, info: Option<Value>) {
        if info.is_some() {
            self.update(|p| {
                if p.server.is_none() {
                    p.server = info;
                }
            });
        }
    }

    /// Copies the client's identity and protocol learned on `other` (a connection that
    /// continues under a session id the server just gave).
    pub fn seed_peers_from(&self, other: &Conn) {
        let theirs = other.peers();
        self.update(|p| {
            if p.client.is_none() {
                p.client = theirs.client;
            }
            if p.protocol.is_none() {
                p.protocol = theirs.protocol;
            }
        });
    }

    /// The server's name, once known.
    #[must_use]
    pub fn server_name(&self) -> Option<String> {
        self.peers()
            .server
            .and_then(|s| s.get("name").and_then(Value::as_str).map(str::to_owned))
    }
}

/// The shared policy and logging logic.
#[derive(Debug)]
pub struct Gate {
    reporter: Reporter,
    policy: Policy,
    on_failure: OnLogFailure,
    hold_timeout: Duration,
    /// Largest message accepted in either direction.
    pub max_message_bytes: usize,
    logger: Mutex<Option<tokio::sync::mpsc::Sender<Event>>>,
}

const BACKGROUND_QUEUE: usize = 4096;
const BACKGROUND_BATCH: usize = 256;

async fn background_logger(reporter: Reporter, mut rx: tokio::sync::mpsc::Receiver<Event>) {
    let mut batch = Vec::with_capacity(BACKGROUND_BATCH);
    while rx.recv_many(&mut batch, BACKGROUND_BATCH).await > 0 {
        if let Err(e) = reporter.append(&batch).await {
            tracing::error!(error = %e, events = batch.len(), "could not log MCP exchanges");
        }
        batch.clear();
    }
}

impl Gate {
    /// Builds the gate.
    #[must_use]
    pub fn new(config: &RawMcp, policy: Policy, reporter: Reporter) -> Self {
        Self {
            reporter,
            policy,
            on_failure: config.on_log_failure,
            hold_timeout: Duration::from_millis(config.hold_timeout_ms),
            max_message_bytes: config.max_message_bytes,
            logger: Mutex::new(None),
        }
    }

    /// Looks at a request from the client: records what it tells about the client and
    /// returns the call to track, with the policy's decision, when it is one that is logged.
    pub fn plan(&self, conn: &Conn, msg: &Message) -> Option<Call> {
        let Kind::Request { id, method } = &msg.kind else {
            return None;
        };
        let params = msg.params();
        if let Some(p) = params {
            let info = p
                .get("clientInfo")
                .or_else(|| p.get("_meta").and_then(|m| m.get(CLIENT_INFO)))
                .cloned();
            let proto = p
                .get("protocolVersion")
                .or_else(|| p.get("_meta").and_then(|m| m.get(PROTOCOL)))
                .and_then(Value::as_str)
                .map(str::to_owned);
            if info.is_some() || proto.is_some() {
                conn.update(|peers| {
                    if peers.client.is_none() {
                        peers.client = info;
                    }
                    if peers.protocol.is_none() {
                        peers.protocol = proto;
                    }
                });
            }
        }
        let (kind, name, arguments) = match method.as_str() {
            "initialize" | "server/discover" => (CallKind::Handshake, method.clone(), None),
            "tools/list" => (CallKind::ToolList, method.clone(), None),
            "tools/call" => {
                let name = params
                    .and_then(|p| p.get("name"))
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .unwrap_or("(unnamed)")
                    .to_owned();
                let args = params.and_then(|p| p.get("arguments")).cloned();
                (CallKind::Tool, name, args)
            }
            "resources/read" | "prompts/get" => (
                CallKind::Read,
                method.clone(),
                params.map(|p| strip_meta(p.clone())),
            ),
            _ => return None,
        };
        let verdict = match kind {
            CallKind::Tool => {
                self.policy
                    .decide(&name, conn.server_name().as_deref(), arguments.as_ref())
            }
            _ => Verdict {
                action: Action::Allow,
                rule: None,
            },
        };
        Some(Call {
            id: id.clone(),
            method: method.clone(),
            kind,
            name,
            arguments,
            started: Instant::now(),
            verdict,
            pending: None,
        })
    }

    /// Logs what has to be logged before `call` runs and applies the decision. `Ok` means
    /// forward it; `Err` is the error response to give the client instead.
    ///
    /// # Errors
    /// The JSON-RPC error response when the call is blocked, not approved, or could not be
    /// logged in `block` mode.
    pub async fn admit(&self, conn: &Conn, mut call: Call) -> Result<Call, Value> {
        if matches!(call.kind, CallKind::Handshake | CallKind::ToolList) {
            return Ok(call);
        }
        // An alert's playbook may hold this user's tool calls: policy's allow becomes a hold.
        if call.kind == CallKind::Tool
            && matches!(call.verdict.action, Action::Allow | Action::Alert)
            && let Some(user) = conn.actor.user.as_deref()
        {
            match self.reporter.held(user).await {
                Ok(Some(rule)) => {
                    tracing::info!(rule = %rule, "MCP call held: the user's tool calls are held by an alert");
                    call.verdict.action = Action::Hold;
                    call.verdict.rule = Some(rule);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "could not ask serve whether the user's tool calls are held");
                }
            }
        }
        match call.verdict.action {
            Action::Block => {
                let mut ev = self.tool_event(conn, &call, ToolStatus::Blocked);
                set_decision(&mut ev, Decision::Block, call.verdict.rule.as_deref());
                let id = ev.id;
                // A refusal is given whether or not it could be logged: failing open here
                // would run the very call policy refused.
                if let Err(e) = self.reporter.append(&[ev]).await {
                    tracing::error!(error = %e, "could not log a blocked MCP call");
                }
                tracing::info!(rule = call.verdict.rule.as_deref().unwrap_or(""), event = %id, "MCP call blocked");
                Err(jsonrpc::error_response(
                    &call.id,
                    jsonrpc::BLOCKED,
                    &format!(
                        "blocked by llmtrail policy (rule {})",
                        call.verdict.rule.as_deref().unwrap_or("unknown")
                    ),
                    Some(json!({"rule": call.verdict.rule, "event_id": id})),
                ))
            }
            Action::Hold => self.hold(conn, call).await,
            Action::Allow | Action::Alert => {
                if self.on_failure == OnLogFailure::Allow {
                    return Ok(call);
                }
                let mut ev = self.tool_event(conn, &call, ToolStatus::Pending);
                set_decision(
                    &mut ev,
                    call.verdict.action.decision(),
                    call.verdict.rule.as_deref(),
                );
                let id = ev.id;
                match self.reporter.append(&[ev]).await {
                    Ok(()) => {
                        call.pending = Some(id);
                        Ok(call)
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "MCP call not forwarded: it could not be logged");
                        Err(log_failed(&call.id, &e))
                    }
                }
            }
        }
    }

    async fn hold(&self, conn: &Conn, mut call: Call) -> Result<Call, Value> {
        let mut ev = self.tool_event(conn, &call, ToolStatus::Pending);
        set_decision(&mut ev, Decision::Hold, call.verdict.rule.as_deref());
        let id = ev.id;
        let registered = async {
            self.reporter.append(&[ev]).await?;
            self.reporter
                .hold(
                    id,
                    &call.name,
                    call.verdict.rule.as_deref(),
                    self.hold_timeout,
                )
                .await
        };
        if let Err(e) = registered.await {
            tracing::error!(error = %e, "held MCP call refused: it could not be registered");
            return Err(log_failed(&call.id, &e));
        }
        call.pending = Some(id);
        let deadline = Instant::now() + self.hold_timeout;
        let outcome = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break "timeout".to_owned();
            }
            match self.reporter.approval(id, left.min(APPROVAL_POLL)).await {
                Ok(Approval::Approved { .. }) => return Ok(call),
                Ok(Approval::Pending) => {}
                Ok(Approval::Denied { .. }) => break "denied".to_owned(),
                Ok(Approval::Unknown) => break "unknown".to_owned(),
                Err(e) => {
                    tracing::warn!(error = %e, "waiting for an approval failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500).min(left)).await;
                }
            }
        };
        let mut ev = self.tool_event(conn, &call, ToolStatus::Blocked);
        set_decision(&mut ev, Decision::Hold, call.verdict.rule.as_deref());
        attr(&mut ev, "llmtrail.approval", json!(outcome));
        if let Err(e) = self.reporter.append(&[ev]).await {
            tracing::error!(error = %e, "could not log a refused held MCP call");
        }
        let why = match outcome.as_str() {
            "timeout" => format!(
                "held for approval and refused after {} ms without one",
                self.hold_timeout.as_millis()
            ),
            "denied" => "held for approval and denied".to_owned(),
            _ => "held for approval; the approval is no longer known to llmtrail".to_owned(),
        };
        Err(jsonrpc::error_response(
            &call.id,
            jsonrpc::NOT_APPROVED,
            &why,
            Some(json!({"rule": call.verdict.rule, "event_id": id, "approval": outcome})),
        ))
    }

    /// Logs a call's response (masking the client's copy of the result when configured).
    /// In `block` mode, when the event cannot be logged, the response is replaced by an
    /// error: the client never gets what the trail does not hold.
    pub async fn complete(&self, conn: &Conn, call: Call, response: &mut Value) {
        let raw_result = response.get("result").cloned();
        let error = response.get("error").cloned();
        if let Some(info) = raw_result.as_ref().and_then(|r| {
            r.get("serverInfo")
                .or_else(|| r.get("_meta").and_then(|m| m.get(SERVER_INFO)))
                .cloned()
        }) {
            conn.update(|p| {
                if p.server.is_none() {
                    p.server = Some(info);
                }
            });
        }
        let event = match call.kind {
            CallKind::Handshake => {
                if let Some(v) = raw_result
                    .as_ref()
                    .and_then(|r| r.get("protocolVersion"))
                    .and_then(Value::as_str)
                {
                    conn.update(|p| p.protocol = Some(v.to_owned()));
                }
                let peers = conn.peers();
                let mut a = Audit::new(
                    "mcp.initialize",
                    if error.is_some() {
                        AuditOutcome::Error
                    } else {
                        AuditOutcome::Success
                    },
                );
                a.details.insert("method".into(), json!(call.method));
                a.details.insert("session".into(), json!(conn.session));
                for (k, v) in [("client", peers.client), ("server", peers.server)] {
                    if let Some(v) = v {
                        a.details.insert(k.into(), name_version(&v));
                    }
                }
                if let Some(p) = peers.protocol {
                    a.details.insert("protocol_version".into(), json!(p));
                }
                let mut ev = Event::new(a);
                ev.actor = conn.actor.clone();
                ev
            }
            _ => {
                let failed = error.is_some()
                    || raw_result
                        .as_ref()
                        .and_then(|r| r.get("isError"))
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                let status = if failed {
                    ToolStatus::Error
                } else {
                    ToolStatus::Ok
                };
                let mut ev = self.tool_event(conn, &call, status);
                if let llmtrail_core::Body::ToolCall(t) = &mut ev.body {
                    t.is_error = failed;
                    t.duration_ms = Some(call.started.elapsed().as_secs_f64() * 1000.0);
                    t.result = raw_result
                        .clone()
                        .or(error.clone().map(|e| json!({"error": e})));
                    if call.kind == CallKind::Tool {
                        t.decision = Some(call.verdict.action.decision());
                        t.decision_rule.clone_from(&call.verdict.rule);
                    }
                }
                if call.kind != CallKind::ToolList
                    && self.policy.redacts()
                    && let Some(result) = response.get_mut("result")
                {
                    let rules = self.policy.redact(result);
                    if !rules.is_empty() {
                        attr(&mut ev, "llmtrail.redacted", json!(rules));
                    }
                }
                // The client learns where its call is in the trail (the ledger keeps the
                // result as the server sent it, without this).
                if let Some(Value::Object(result)) = response.get_mut("result") {
                    let meta = result.entry("_meta").or_insert_with(|| json!({}));
                    if let Value::Object(m) = meta {
                        m.insert(EVENT_META.into(), json!(ev.id));
                    }
                }
                ev
            }
        };
        self.log_after(&call.id, event, response).await;
    }

    /// Logs a call that ends without a response from the server (the server exited, wrote
    /// garbage, or the client cancelled) and returns the error response for the client.
    pub async fn fail(&self, conn: &Conn, call: Call, code: i64, why: &str) -> Value {
        let mut response = jsonrpc::error_response(&call.id, code, why, None);
        if call.kind == CallKind::Handshake {
            return response;
        }
        let mut ev = self.tool_event(conn, &call, ToolStatus::Error);
        if let llmtrail_core::Body::ToolCall(t) = &mut ev.body {
            t.is_error = true;
            t.duration_ms = Some(call.started.elapsed().as_secs_f64() * 1000.0);
        }
        attr(&mut ev, "llmtrail.proxy_error", json!(why));
        self.log_after(&call.id, ev, &mut response).await;
        response
    }

    /// Logs that a message which is not JSON-RPC was received (`from`: `client` or
    /// `server`). Only its size and the reason are kept.
    pub async fn invalid_message(&self, conn: &Conn, from: &str, bytes: usize, why: &str) {
        let mut a = Audit::new("mcp.invalid_message", AuditOutcome::Error);
        a.reason = Some(why.chars().take(300).collect());
        a.details.insert("from".into(), json!(from));
        a.details.insert("bytes".into(), json!(bytes));
        a.details.insert("session".into(), json!(conn.session));
        let mut ev = Event::new(a);
        ev.actor = conn.actor.clone();
        self.background(ev).await;
    }

    /// Queues an event for the background logger, which sends what has queued up in one
    /// request (so that `allow` mode costs `serve` one append per batch, not per call).
    async fn background(&self, event: Event) {
        let tx = {
            let Ok(mut slot) = self.logger.lock() else {
                return;
            };
            match &*slot {
                Some(tx) => tx.clone(),
                None => {
                    let (tx, rx) = tokio::sync::mpsc::channel(BACKGROUND_QUEUE);
                    tokio::spawn(background_logger(self.reporter.clone(), rx));
                    *slot = Some(tx.clone());
                    tx
                }
            }
        };
        // Bounded: when serve falls this far behind, callers wait rather than memory grow.
        let _ = tx.send(event).await;
    }

    async fn log_after(&self, id: &Value, event: Event, response: &mut Value) {
        if self.on_failure == OnLogFailure::Allow {
            self.background(event).await;
            return;
        }
        if let Err(e) = self.reporter.append(&[event]).await {
            tracing::error!(error = %e, "MCP response withheld: it could not be logged");
            *response = log_failed(id, &e);
        }
    }

    fn tool_event(&self, conn: &Conn, call: &Call, status: ToolStatus) -> Event {
        let mut t = ToolCall::new(call.name.clone(), status);
        t.call_id = Some(match &call.id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        t.tool_type = Some(
            if call.kind == CallKind::Tool {
                "extension"
            } else {
                "mcp_method"
            }
            .into(),
        );
        t.server = conn.server_name();
        t.conversation_id.clone_from(&conn.actor.session);
        t.arguments.clone_from(&call.arguments);
        t.attributes
            .insert("mcp.method.name".into(), json!(call.method));
        if !conn.session.is_empty() {
            t.attributes
                .insert("mcp.session.id".into(), json!(conn.session));
        }
        t.attributes.insert(
            "jsonrpc.request.id".into(),
            json!(jsonrpc::id_key(&call.id)),
        );
        if let Some(p) = conn.peers().protocol {
            t.attributes.insert("mcp.protocol.version".into(), json!(p));
        }
        if let Some(p) = call.pending {
            t.attributes.insert("llmtrail.pending".into(), json!(p));
        }
        let mut ev = Event::new(t);
        ev.actor = conn.actor.clone();
        ev
    }
}

fn set_decision(ev: &mut Event, d: Decision, rule: Option<&str>) {
    if let llmtrail_core::Body::ToolCall(t) = &mut ev.body {
        t.decision = Some(d);
        t.decision_rule = rule.map(str::to_owned);
    }
}

fn attr(ev: &mut Event, key: &str, v: Value) {
    if let llmtrail_core::Body::ToolCall(t) = &mut ev.body {
        t.attributes.insert(key.into(), v);
    }
}

fn log_failed(id: &Value, e: &crate::report::ReportError) -> Value {
    jsonrpc::error_response(
        id,
        jsonrpc::LOG_FAILED,
        "llmtrail could not log this call, so it was not forwarded (fail closed)",
        Some(json!({"reason": e.to_string()})),
    )
}

fn strip_meta(mut p: Map<String, Value>) -> Value {
    p.remove("_meta");
    Value::Object(p)
}

fn name_version(v: &Value) -> Value {
    json!({"name": v.get("name"), "version": v.get("version")})
}
