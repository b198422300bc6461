//! The alert stage of `serve`: every appended event goes to the alert engine
//! (`llmtrail_alerts`) off the request path, and what it decides is appended to the ledger.
//!
//! Contract:
//! - [`Indexed`](crate::links::Indexed) hands every appended event to [`AlertStage::submit`],
//!   which never blocks: a queue bounded in events (`alerts.queue`) feeds one thread; the
//!   ledger ranges of batches that do not fit are remembered (`crate::readback`) and read back
//!   from the ledger (metadata only) once the queue is empty, so a burst delays alerts without
//!   losing any; only past `crate::readback::MAX_SKIPPED_RANGES` ranges are events skipped,
//!   counted and logged.
//!   Queued events are copies without their content (prompts, outputs, arguments, raw
//!   bodies): the engine reads metadata only, and the queue's memory stays small.
//! - The thread appends the engine's `alert` and `audit` (`alert.response`) events through a
//!   journal that exports and indexes them like any event; alerts carry their routes in the
//!   tag `llmtrail.routes`, and the export stage gives escalation sinks
//!   (`alerts.escalation_sinks`) only the alerts routed to them.
//! - At startup the engine replays the whole ledger ([`AlertStage::start`]): baselines,
//!   alerts and their states, blocks and holds come back. What the engine may not have seen
//!   live before the last stop (a crash) is observed again instead of only learned, so it
//!   raises what it would have raised: the stage keeps the ledger size it has caught up with
//!   in `<data-dir>/alerts.watermark` (`crate::watermark`), and the records from
//!   `watermark::MARGIN` below that mark to the end are observed. A record that is already
//!   the evidence of an alert recorded in that tail raised it before the stop and is only
//!   learned, so nothing is raised twice. Without a mark (a first start) nothing is raised
//!   from the history.
//! - Blocks are enforced by the gateway through [`Admission`]; holds are answered by
//!   `GET /api/v1/alerts/holds/{user}` for the MCP proxies.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `GET /api/v1/alerts` | readers | alerts, newest first; filters `state`, `rule`, `severity`, `user`, `limit` (default 100, at most 1000) |
//! | `GET /api/v1/alerts/{id}` | readers | one alert with its evidence, events, routes and responses |
//! | `POST /api/v1/alerts/{id}` | `analyst`, `admin` | `{"state": "acknowledged" \| "closed", "reason"}`: appended as an `alert` event with `by` = the token's name; closing lifts the alert's blocks and holds |
//! | `GET /api/v1/alerts/restrictions` | readers | blocks and holds in force |
//! | `GET /api/v1/alerts/holds/{user}` | readers, `ingest` | whether the user's tool calls are held (`{"held": bool, …}`) |

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use llmtrail_alerts::engine::state_change;
use llmtrail_alerts::{AlertRecord, AlertsConfig, Engine, Restrictions};
use llmtrail_core::{Actor, AlertState, Body, Event, LlmRequest, LlmResponse, ToolCall};
use llmtrail_gateway::admission::{Admission, Refusal};
use llmtrail_ledger::{Journal, Ledger};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Errors starting the alert stage.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    /// The GeoIP database cannot be opened.
    #[error(transparent)]
    Geo(#[from] llmtrail_alerts::geo::GeoError),
    /// The ledger cannot be replayed.
    #[error("alerts: replaying the ledger: {0}")]
    Replay(#[from] llmtrail_ledger::LedgerError),
    /// The engine thread cannot start.
    #[error("alerts thread: {0}")]
    Thread(std::io::Error),
}

/// The running stage.
#[derive(Debug)]
pub struct AlertStage {
    engine: Arc<Mutex<Engine>>,
    restrictions: Arc<RwLock<Restrictions>>,
    tx: mpsc::SyncSender<Vec<Event>>,
    skipped: AtomicU64,
    deferred: Arc<Mutex<crate::readback::Skipped>>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
}

/// Copies the metadata of an event: its content fields left empty.
fn metadata(e: &Event) -> Event {
    let body = match &e.body {
        Body::LlmRequest(r) => Body::LlmRequest(LlmRequest {
            provider: r.provider.clone(),
            model: r.model.clone(),
            operation: r.operation.clone(),
            conversation_id: r.conversation_id.clone(),
            parameters: r.parameters.clone(),
            attributes: r.attributes.clone(),
            messages: Vec::new(),
            system_instructions: Vec::new(),
            tool_definitions: Vec::new(),
            raw: None,
        }),
        Body::LlmResponse(r) => Body::LlmResponse(LlmResponse {
            request_id: r.request_id,
            response_id: r.response_id.clone(),
            response_model: r.response_model.clone(),
            finish_reasons: r.finish_reasons.clone(),
            usage: r.usage,
            latency_ms: r.latency_ms,
            time_to_first_token_ms: r.time_to_first_token_ms,
            status: r.status,
            http_status: r.http_status,
            error: r.error.clone(),
            streamed: r.streamed,
            attributes: r.attributes.clone(),
            output_messages: Vec::new(),
            error_message: None,
            raw: None,
        }),
        Body::ToolCall(t) => Body::ToolCall(ToolCall {
            name: t.name.clone(),
            call_id: t.call_id.clone(),
            tool_type: t.tool_type.clone(),
            conversation_id: t.conversation_id.clone(),
            server: t.server.clone(),
            request_id: t.request_id,
            status: t.status,
            is_error: t.is_error,
            duration_ms: t.duration_ms,
            decision: t.decision,
            decision_rule: t.decision_rule.clone(),
            attributes: t.attributes.clone(),
            arguments: None,
            result: None,
        }),
        other => other.clone(),
    };
    Event {
        id: e.id,
        time: e.time,
        actor: e.actor.clone(),
        trace: e.trace,
        tags: e.tags.clone(),
        body,
    }
}

fn snapshot(engine: &Engine, into: &RwLock<Restrictions>, seen: &mut u64) {
    if engine.version() != *seen {
        *seen = engine.version();
        if let Ok(mut r) = into.write() {
            *r = engine.restrictions().clone();
        }
    }
}

/// Feeds the engine the records a stop may have left unseen: each is observed, so that it
/// raises what it would have raised live, unless an alert recorded in `tail` already holds it
/// as evidence (it was seen, and raised, before the stop); alert and audit records are
/// applied as in any replay. Returns the events to append.
fn replay_tail(engine: &mut Engine, tail: &[Event]) -> Vec<Event> {
    let recorded: std::collections::HashSet<Uuid> = tail
        .iter()
        .filter_map(|e| match &e.body {
            Body::Alert(a) => Some(a.evidence.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    let mut out = Vec::new();
    for event in tail {
        let seen =
            matches!(event.body, Body::Alert(_) | Body::Audit(_)) || recorded.contains(&event.id);
        if seen {
            engine.learn(event);
        } else {
            out.extend(engine.observe(event, Timestamp::now()));
        }
    }
    out
}

impl AlertStage {
    /// Builds the engine, replays `ledger` into it (blocking: call it off the async threads),
    /// raising what records a stop left unseen would have raised (the watermark in
    /// `data_dir`; module docs), and starts the thread that appends its decisions through
    /// `journal` on `runtime`.
    ///
    /// # Errors
    /// [`AlertsError`] when the GeoIP database, the ledger or the thread fails.
    pub fn start(
        cfg: &AlertsConfig,
        ledger: &Arc<Ledger>,
        journal: Arc<dyn Journal>,
        runtime: tokio::runtime::Handle,
        data_dir: &std::path::Path,
    ) -> Result<Arc<AlertStage>, AlertsError> {
        let geo = match &cfg.behaviour.geoip_db {
            Some(path) => Some(llmtrail_alerts::geo::Geo::open(path)?),
            None => None,
        };
        let mut engine = Engine::new(cfg.clone(), geo);
        let started = std::time::Instant::now();
        let mark_path = crate::watermark::path(data_dir, "alerts");
        let size = ledger.size();
        // From here on, the engine may not have seen the records live before the last stop.
        let unseen_from = crate::watermark::read(&mark_path).map_or(size, |m| {
            m.min(size).saturating_sub(crate::watermark::MARGIN)
        });
        let mut replayed = 0u64;
        let mut tail = Vec::new();
        ledger.scan_metadata(&mut |index, event| {
            if index >= unseen_from {
                tail.push(event);
            } else {
                engine.learn(&event);
            }
            replayed += 1;
        })?;
        let pending = replay_tail(&mut engine, &tail);
        let open = engine
            .alerts()
            .filter(|a| a.state != AlertState::Closed)
            .count();
        tracing::info!(
            events = replayed,
            open_alerts = open,
            observed_again = tail.len(),
            raised = pending.len(),
            ms = started.elapsed().as_millis() as u64,
            "alerts: state rebuilt from the ledger"
        );
        let restrictions = Arc::new(RwLock::new(engine.restrictions().clone()));
        let mut seen = engine.version();
        let engine = Arc::new(Mutex::new(engine));
        // The channel's own bound is generous; the real bound is `queued`, in events.
        let (tx, rx) = mpsc::sync_channel::<Vec<Event>>(cfg.queue.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let deferred = Arc::new(Mutex::new(crate::readback::Skipped::default()));
        {
            let engine = Arc::clone(&engine);
            let restrictions = Arc::clone(&restrictions);
            let queued = Arc::clone(&queued);
            let deferred = Arc::clone(&deferred);
            let ledger = Arc::clone(ledger);
            std::thread::Builder::new()
                .name("llmtrail-alerts".into())
                .spawn(move || {
                    // What the records a stop left unseen raise, before anything new.
                    if !pending.is_empty()
                        && let Err(e) = runtime.block_on(journal.append(&pending))
                    {
                        tracing::error!(error = %e, events = pending.len(), "alert events could not be written");
                    }
                    let mut mark = crate::watermark::Mark::start(mark_path, size);
                    loop {
                        let batch = match rx.try_recv() {
                            Ok(b) => {
                                queued.fetch_sub(b.len(), Ordering::Relaxed);
                                b
                            }
                            Err(mpsc::TryRecvError::Disconnected) => break,
                            Err(mpsc::TryRecvError::Empty) => {
                                // Everything below this size has reached the stage (give or
                                // take appends in flight: the startup margin covers those).
                                let caught_up = ledger.size();
                                // The queue is empty: read back what did not fit, then wait.
                                let ranges =
                                    deferred.lock().map(|mut d| d.take()).unwrap_or_default();
                                if ranges.is_empty() {
                                    mark.caught_up(caught_up);
                                    match rx.recv() {
                                        Ok(b) => {
                                            queued.fetch_sub(b.len(), Ordering::Relaxed);
                                            b
                                        }
                                        Err(_) => break,
                                    }
                                } else {
                                    let mut events = Vec::new();
                                    if let Err(e) = crate::readback::metadata_in(
                                        &ledger,
                                        &ranges,
                                        &mut |_, ev| events.push(ev),
                                    ) {
                                        tracing::error!(error = %e, "alerts could not read back skipped events");
                                    }
                                    events
                                }
                            }
                        };
                        let out = {
                            let Ok(mut engine) = engine.lock() else {
                                return;
                            };
                            let now = Timestamp::now();
                            let mut out = Vec::new();
                            for e in &batch {
                                out.extend(engine.observe(e, now));
                            }
                            snapshot(&engine, &restrictions, &mut seen);
                            out
                        };
                        if out.is_empty() {
                            continue;
                        }
                        for e in &out {
                            if let llmtrail_core::Body::Alert(a) = &e.body {
                                tracing::warn!(
                                    alert_id = %a.alert_id,
                                    rule = %a.rule_id,
                                    severity = ?a.severity,
                                    state = ?a.state,
                                    evidence = a.evidence.len(),
                                    "alert"
                                );
                            }
                        }
                        if let Err(e) = runtime.block_on(journal.append(&out)) {
                            tracing::error!(error = %e, events = out.len(), "alert events could not be written");
                        }
                    }
                })
                .map_err(AlertsError::Thread)?;
        }
        Ok(Arc::new(AlertStage {
            engine,
            restrictions,
            tx,
            skipped: AtomicU64::new(0),
            deferred,
            queued,
            capacity: cfg.queue.max(1),
        }))
    }

    /// Queues appended events (with their receipts) for the engine; never blocks. What does
    /// not fit is read back from the ledger once the queue is empty.
    pub fn submit(&self, events: &[Event], receipts: &[llmtrail_ledger::Receipt]) {
        if events.is_empty() {
            return;
        }
        let n = events.len() as u64;
        let room = self
            .queued
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| {
                (q == 0 || q + events.len() <= self.capacity).then_some(q + events.len())
            })
            .is_ok();
        let sent = room && {
            let ok = self
                .tx
                .try_send(events.iter().map(metadata).collect())
                .is_ok();
            if !ok {
                self.queued.fetch_sub(events.len(), Ordering::Relaxed);
            }
            ok
        };
        let kept = sent
            || self
                .deferred
                .lock()
                .is_ok_and(|mut d| d.add_receipts(receipts));
        if !kept {
            let before = self.skipped.fetch_add(n, Ordering::Relaxed);
            if before == 0 || before / 10_000 != (before + n) / 10_000 {
                tracing::warn!(
                    skipped = before + n,
                    "alerts are behind; events not seen by the alert engine"
                );
            }
        }
    }

    /// Events skipped because the queue was full.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    /// Applies an event the API appended (a state change) at once, so that the answer and the
    /// next request see it; the engine sees it again from the journal, idempotently.
    fn apply(&self, event: &Event) {
        if let Ok(mut engine) = self.engine.lock() {
            let _ = engine.observe(event, Timestamp::now());
            if let Ok(mut r) = self.restrictions.write() {
                *r = engine.restrictions().clone();
            }
        }
    }
}

impl Admission for AlertStage {
    fn refuse(&self, actor: &Actor) -> Option<Refusal> {
        let r = self.restrictions.read().ok()?;
        let now = Timestamp::now().as_millisecond();
        let (subject, block) =
            r.blocked(actor.user.as_deref(), actor.api_key_id.as_deref(), now)?;
        Some(Refusal {
            alert_id: block.alert_id.to_string(),
            rule_id: block.rule_id.clone(),
            subject: if subject == "key" {
                "virtual key"
            } else {
                "user"
            },
            until: Timestamp::from_millisecond(block.until_ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        })
    }
}

fn state_name(s: AlertState) -> &'static str {
    match s {
        AlertState::Open => "open",
        AlertState::Acknowledged => "acknowledged",
        AlertState::Closed => "closed",
    }
}

fn describe(a: &AlertRecord, full: bool) -> Value {
    let mut v = json!({
        "alert_id": a.alert_id,
        "rule_id": a.rule_id,
        "title": a.title,
        "severity": a.severity,
        "state": state_name(a.state),
        "group": a.group,
        "created": a.created.to_string(),
        "updated": a.updated.to_string(),
        "evidence_count": a.evidence.len(),
        "by": a.by,
        "reason": a.reason,
        "actor": a.actor,
        "routes": a.routes,
        "responses": a.responses,
    });
    if full {
        v["evidence"] = json!(a.evidence);
        v["events"] = json!(a.events);
    }
    v
}

fn stage(state: &AppState) -> Result<&Arc<AlertStage>, ApiError> {
    state.alerts.as_ref().ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "alerts_disabled",
            "the alert engine is disabled (alerts.enabled = false)",
        )
    })
}

/// Filters of `GET /api/v1/alerts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    state: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
    user: Option<String>,
    limit: Option<usize>,
}

/// `GET /api/v1/alerts`
pub(crate) async fn list(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    if !p.reads() {
        return Err(crate::views::forbidden(&p, "read alerts"));
    }
    if let Some(s) = &q.state
        && !["open", "acknowledged", "closed"].contains(&s.as_str())
    {
        return Err(ApiError::bad_request(
            "invalid_state",
            "state must be open, acknowledged or closed",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let engine = stage(&state)?.engine.lock().map_err(|_| unavailable())?;
    let items: Vec<Value> = engine
        .alerts()
        .rev()
        .filter(|a| q.state.as_deref().is_none_or(|s| state_name(a.state) == s))
        .filter(|a| q.rule.as_deref().is_none_or(|r| a.rule_id == r))
        .filter(|a| {
            q.severity
                .as_deref()
                .is_none_or(|s| json!(a.severity).as_str() == Some(s))
        })
        .filter(|a| {
            q.user
                .as_deref()
                .is_none_or(|u| a.actor.user.as_deref() == Some(u))
        })
        .take(limit)
        .map(|a| describe(a, false))
        .collect();
    Ok(axum::Json(json!({"alerts": items})).into_response())
}

fn unavailable() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the alert engine is unavailable",
    )
}

fn parse_id(id: &str) -> Result<Uuid, ApiError> {
    id.parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "alert id must be a UUID"))
}

/// `GET /api/v1/alerts/{id}`
pub(crate) async fn get(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !p.reads() {
        return Err(crate::views::forbidden(&p, "read alerts"));
    }
    if id == "restrictions" {
        return restrictions(&state);
    }
    let id = parse_id(&id)?;
    let engine = stage(&state)?.engine.lock().map_err(|_| unavailable())?;
    let a = engine
        .alert(&id)
        .ok_or_else(|| ApiError::not_found("alert"))?;
    Ok(axum::Json(describe(a, true)).into_response())
}

fn restrictions(state: &AppState) -> Result<Response, ApiError> {
    let stage = stage(state)?;
    let now = Timestamp::now().as_millisecond();
    let r = stage.restrictions.read().map_err(|_| unavailable())?;
    let list = |m: &std::collections::HashMap<String, llmtrail_alerts::Restriction>| {
        let mut v: Vec<Value> = m
            .iter()
            .filter(|(_, r)| r.until_ms > now)
            .map(|(k, r)| {
                json!({
                    "subject": k,
                    "until": Timestamp::from_millisecond(r.until_ms).map(|t| t.to_string()).unwrap_or_default(),
                    "alert_id": r.alert_id,
                    "rule_id": r.rule_id,
                })
            })
            .collect();
        v.sort_by(|a, b| a["subject"].as_str().cmp(&b["subject"].as_str()));
        v
    };
    Ok(axum::Json(json!({
        "blocked_users": list(&r.users),
        "blocked_keys": list(&r.keys),
        "held_users": list(&r.held),
    }))
    .into_response())
}

/// `GET /api/v1/alerts/holds/{user}`: for the MCP proxies (ingest tokens) and readers.
pub(crate) async fn hold(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    Path(user): Path<String>,
) -> Result<Response, ApiError> {
    if !p.reads() && !p.writes() {
        return Err(crate::views::forbidden(&p, "read holds"));
    }
    let stage = stage(&state)?;
    let r = stage.restrictions.read().map_err(|_| unavailable())?;
    let v = match r.held(Some(&user), Timestamp::now().as_millisecond()) {
        Some(h) => json!({
            "held": true,
            "until": Timestamp::from_millisecond(h.until_ms).map(|t| t.to_string()).unwrap_or_default(),
            "alert_id": h.alert_id,
            "rule_id": h.rule_id,
        }),
        None => json!({"held": false}),
    };
    Ok(axum::Json(v).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    state: String,
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/alerts/{id}`
pub(crate) async fn change(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    if !matches!(p.role.as_str(), "analyst" | "admin") {
        return Err(crate::views::forbidden(&p, "change alerts"));
    }
    let id = parse_id(&id)?;
    let c: Change = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request("invalid_json", e.to_string()))?;
    let new = match c.state.as_str() {
        "acknowledged" => AlertState::Acknowledged,
        "closed" => AlertState::Closed,
        "open" => AlertState::Open,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_state",
                "state must be \"acknowledged\", \"closed\" or \"open\"",
            ));
        }
    };
    if c.reason.as_ref().is_some_and(|r| r.len() > 1000) {
        return Err(ApiError::bad_request(
            "invalid_reason",
            "reason must be at most 1000 bytes",
        ));
    }
    let stage = stage(&state)?;
    let mut event = {
        let engine = stage.engine.lock().map_err(|_| unavailable())?;
        let record = engine
            .alert(&id)
            .ok_or_else(|| ApiError::not_found("alert"))?;
        if record.state == AlertState::Closed {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "alert_closed",
                "this alert is closed; a new one is raised if its rule fires again",
            ));
        }
        state_change(record, new, &p.name, c.reason, Timestamp::now())
    };
    event.actor = Actor {
        user: Some(p.name.clone()),
        role: Some(p.role.clone()),
        ..Actor::default()
    };
    Journal::append(&state.journal, std::slice::from_ref(&event))
        .await
        .map_err(|e| ApiError::from_ledger(&e))?;
    stage.apply(&event);
    let engine = stage.engine.lock().map_err(|_| unavailable())?;
    let mut v = engine
        .alert(&id)
        .map(|a| describe(a, false))
        .unwrap_or(Value::Null);
    v["event_id"] = json!(event.id);
    Ok(axum::Json(v).into_response())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::time::{Duration, Instant};

    use llmtrail_core::ResponseStatus;

    use super::*;

    /// Events that do not fit the alert queue are read back from the ledger: every leaked
    /// secret still raises its alert.
    #[test]
    fn a_burst_larger_than_the_queue_still_raises_every_alert() {
        let (rt, tmp, ledger) = crate::detect::tests::fixture();
        let cfg = AlertsConfig {
            queue: 1,
            ..AlertsConfig::default()
        };
        let stage = AlertStage::start(
            &cfg,
            &ledger,
            Arc::clone(&ledger) as Arc<dyn Journal>,
            rt.handle().clone(),
            tmp.path(),
        )
        .unwrap();
        let users = 40;
        let mut events = Vec::new();
        for u in 0..users {
            let mut resp = Event::new(LlmResponse::new(ResponseStatus::Ok));
            resp.actor.user = Some(format!("u-{u}"));
            let finding: Event = serde_json::from_value(json!({"kind": "finding",
                "actor": {"user": format!("u-{u}")},
                "body": {"event_id": resp.id, "category": "secret", "type": "aws_access_key_id",
                         "severity": "high", "detector": "test"}}))
            .unwrap();
            events.push(resp);
            events.push(finding);
        }
        let receipts = ledger.append_blocking(&events).unwrap();
        for (e, r) in events.iter().zip(&receipts) {
            stage.submit(std::slice::from_ref(e), std::slice::from_ref(r));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let raised = loop {
            let mut raised = std::collections::HashSet::new();
            ledger
                .scan_metadata(&mut |_, e| {
                    if let Body::Alert(a) = &e.body
                        && a.rule_id == "secret-in-output"
                    {
                        raised.insert(e.actor.user.clone());
                    }
                })
                .unwrap();
            if raised.len() >= users || Instant::now() > deadline {
                break raised;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(raised.len(), users, "one alert per user");
        assert_eq!(stage.skipped(), 0);
    }

    /// `secret-in-output` alerts recorded in the ledger for `user`.
    fn secret_alerts(ledger: &Ledger, user: &str) -> usize {
        let mut n = 0;
        ledger
            .scan_metadata(&mut |_, e| {
                if let Body::Alert(a) = &e.body
                    && a.rule_id == "secret-in-output"
                    && a.state == AlertState::Open
                    && e.actor.user.as_deref() == Some(user)
                {
                    n += 1;
                }
            })
            .unwrap();
        n
    }

    /// Events appended while no alert stage saw them (a crash between the append and the
    /// stage) raise their alert at the next start, once: a later start with the same tail
    /// finds the alert recorded and raises nothing again.
    #[test]
    fn events_a_stop_left_unseen_raise_their_alert_once_at_the_next_start() {
        let (rt, tmp, ledger) = crate::detect::tests::fixture();
        let mark = crate::watermark::path(tmp.path(), "alerts");
        let cfg = AlertsConfig::default();
        let start = || {
            AlertStage::start(
                &cfg,
                &ledger,
                Arc::clone(&ledger) as Arc<dyn Journal>,
                rt.handle().clone(),
                tmp.path(),
            )
            .unwrap()
        };
        // Waits until the stage's thread has written `size` as its mark: by then it has
        // appended what the start raised.
        let settled = |size: u64| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while crate::watermark::read(&mark) != Some(size) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(crate::watermark::read(&mark), Some(size));
        };

        let first = start();
        settled(0);
        drop(first);

        let mut resp = Event::new(LlmResponse::new(ResponseStatus::Ok));
        resp.actor.user = Some("u-crash".into());
        let finding: Event = serde_json::from_value(json!({"kind": "finding",
            "actor": {"user": "u-crash"},
            "body": {"event_id": resp.id, "category": "secret", "type": "aws_access_key_id",
                     "severity": "high", "detector": "test"}}))
        .unwrap();
        ledger.append_blocking(&[resp, finding]).unwrap();
        assert_eq!(secret_alerts(&ledger, "u-crash"), 0);

        let second = start();
        settled(2);
        assert_eq!(
            secret_alerts(&ledger, "u-crash"),
            1,
            "raised at the next start"
        );
        drop(second);

        // The whole ledger is the tail now, the alert included: nothing is raised again.
        crate::watermark::write(&mark, 0);
        let size = ledger.size();
        let third = start();
        settled(size);
        assert_eq!(secret_alerts(&ledger, "u-crash"), 1, "not raised twice");
        assert_eq!(ledger.size(), size, "nothing appended");
        drop(third);
    }
}
