//! Approvals of held tool calls: the MCP proxy registers a call that policy holds, an
//! operator approves or denies it, the proxy waits for the answer.
//!
//! | route | who | what |
//! | --- | --- | --- |
//! | `POST /api/v1/approvals` | the proxy | `{"event_id", "tool", "rule", "timeout_ms"}`: registers the held call's `tool.call` event (it must be in the ledger) |
//! | `GET /api/v1/approvals` | an operator | the calls waiting, oldest first |
//! | `GET /api/v1/approvals/{id}?wait_ms=N` | the proxy | the state, waiting up to `N` ms (at most 30 s) for a decision |
//! | `POST /api/v1/approvals/{id}` | an operator | `{"decision": "approve" \| "deny", "reason"}` |
//!
//! Roles: `ingest` and `admin` register and poll; `analyst`, `forensic` and `admin` list and
//! decide.
//!
//! Contract: a decision is appended to the ledger (an `audit` event `tool.approval` whose
//! target is the held call's event, with who decided and why) before it takes effect; if it
//! cannot be appended the answer is 503 and the call stays held. A decision is final (409 on
//! a second one). Holds live in memory: after a restart they are unknown (404) and the proxy
//! refuses the call. A hold is forgotten a minute after its timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llmtrail_core::{Actor, Audit, AuditOutcome, Event};
use llmtrail_ledger::Journal;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use uuid::Uuid;

use crate::api::AppState;
use crate::error::ApiError;

const MAX_WAIT: Duration = Duration::from_secs(30);
const MAX_TIMEOUT_MS: u64 = 7 * 24 * 3600 * 1000;
const MAX_HOLDS: usize = 10_000;

/// Where a held call stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HoldState {
    Pending,
    Approved { by: String },
    Denied { by: String, reason: Option<String> },
}

#[derive(Debug)]
struct Hold {
    tool: String,
    rule: Option<String>,
    registered_at: jiff::Timestamp,
    deadline: Instant,
    state: watch::Sender<HoldState>,
}

/// The held calls.
#[derive(Debug, Default)]
pub struct Approvals {
    holds: Mutex<HashMap<Uuid, Hold>>,
}

impl Approvals {
    fn prune(map: &mut HashMap<Uuid, Hold>) {
        let now = Instant::now();
        map.retain(|_, h| h.deadline + Duration::from_secs(60) > now);
    }
}

/// Locks the holds (a poisoned lock is a 500).
fn holds(state: &AppState) -> Result<std::sync::MutexGuard<'_, HashMap<Uuid, Hold>>, ApiError> {
    state.approvals.holds.lock().map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "approvals lock poisoned",
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    event_id: Uuid,
    tool: String,
    #[serde(default)]
    rule: Option<String>,
    timeout_ms: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decide {
    decision: String,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WaitQuery {
    #[serde(default)]
    wait_ms: Option<u64>,
}

fn json_body<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_body", format!("invalid approval body: {e}")))
}

fn describe(id: Uuid, h: &Hold) -> Value {
    let state = h.state.borrow().clone();
    let mut v = json!({
        "id": id,
        "tool": h.tool,
        "rule": h.rule,
        "registered_at": h.registered_at.to_string(),
        "expires_in_ms": u64::try_from(h.deadline.saturating_duration_since(Instant::now()).as_millis()).unwrap_or(u64::MAX),
    });
    match state {
        HoldState::Pending => v["state"] = json!("pending"),
        HoldState::Approved { by } => {
            v["state"] = json!("approved");
            v["decided_by"] = json!(by);
        }
        HoldState::Denied { by, reason } => {
            v["state"] = json!("denied");
            v["decided_by"] = json!(by);
            v["reason"] = json!(reason);
        }
    }
    v
}

/// `POST /api/v1/approvals`
pub(crate) async fn register(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let r: Register = json_body(&body)?;
    if r.tool.is_empty() || r.timeout_ms == 0 || r.timeout_ms > MAX_TIMEOUT_MS {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!("tool must be non-empty and timeout_ms between 1 and {MAX_TIMEOUT_MS}"),
        ));
    }
    let ledger = Arc::clone(&state.ledger);
    let id = r.event_id;
    let known = tokio::task::spawn_blocking(move || ledger.get(&id).map(|e| e.is_some()))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "read task failed",
            )
        })?
        .map_err(|e| ApiError::from_ledger(&e))?;
    if !known {
        return Err(ApiError::not_found("held event"));
    }
    let mut holds = holds(&state)?;
    Approvals::prune(&mut holds);
    if holds.len() >= MAX_HOLDS {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_holds",
            format!("{MAX_HOLDS} calls are already waiting for approval"),
        ));
    }
    if holds.contains_key(&id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate_hold",
            "this call is already held",
        ));
    }
    let hold = Hold {
        tool: r.tool,
        rule: r.rule,
        registered_at: jiff::Timestamp::now(),
        deadline: Instant::now() + Duration::from_millis(r.timeout_ms),
        state: watch::channel(HoldState::Pending).0,
    };
    let v = describe(id, &hold);
    tracing::info!(hold = %id, "tool call held for approval");
    holds.insert(id, hold);
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

/// `GET /api/v1/approvals`
pub(crate) async fn list(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<crate::auth::Principal>,
) -> Result<Response, ApiError> {
    if !p.approves() {
        return Err(crate::views::forbidden(&p, "list held calls"));
    }
    let mut holds = holds(&state)?;
    Approvals::prune(&mut holds);
    let mut items: Vec<(Uuid, Value)> = holds
        .iter()
        .filter(|(_, h)| *h.state.borrow() == HoldState::Pending && h.deadline > Instant::now())
        .map(|(id, h)| (*id, describe(*id, h)))
        .collect();
    items.sort_by_key(|(id, _)| *id);
    Ok(
        axum::Json(json!({"approvals": items.into_iter().map(|(_, v)| v).collect::<Vec<_>>()}))
            .into_response(),
    )
}

/// `GET /api/v1/approvals/{id}`
pub(crate) async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> Result<Response, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "approval id must be a UUID"))?;
    let mut rx = {
        let holds = holds(&state)?;
        let h = holds
            .get(&id)
            .ok_or_else(|| ApiError::not_found("approval"))?;
        h.state.subscribe()
    };
    let wait = Duration::from_millis(q.wait_ms.unwrap_or(0)).min(MAX_WAIT);
    if *rx.borrow() == HoldState::Pending && !wait.is_zero() {
        let _ = tokio::time::timeout(wait, rx.changed()).await;
    }
    let holds = holds(&state)?;
    let h = holds
        .get(&id)
        .ok_or_else(|| ApiError::not_found("approval"))?;
    Ok(axum::Json(describe(id, h)).into_response())
}

/// `POST /api/v1/approvals/{id}`
pub(crate) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "approval id must be a UUID"))?;
    let d: Decide = json_body(&body)?;
    let approve = match d.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_decision",
                "decision must be \"approve\" or \"deny\"",
            ));
        }
    };
    let who = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|t| state.tokens.authenticate(t.trim()))
        .ok_or_else(ApiError::unauthorized)?;
    if !who.approves() {
        return Err(crate::views::forbidden(&who, "decide held calls"));
    }
    let (tool, rule) = {
        let holds = holds(&state)?;
        let h = holds
            .get(&id)
            .ok_or_else(|| ApiError::not_found("approval"))?;
        if *h.state.borrow() != HoldState::Pending {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_decided",
                "this call was already decided",
            ));
        }
        if h.deadline <= Instant::now() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "expired",
                "this hold has timed out",
            ));
        }
        (h.tool.clone(), h.rule.clone())
    };
    let mut audit = Audit::new("tool.approval", AuditOutcome::Success);
    audit.target = Some(id.to_string());
    audit.reason.clone_from(&d.reason);
    audit.details.insert("decision".into(), json!(d.decision));
    audit.details.insert("tool".into(), json!(tool));
    if let Some(r) = rule {
        audit.details.insert("rule".into(), json!(r));
    }
    let mut ev = Event::new(audit);
    ev.actor = Actor {
        user: Some(who.name.clone()),
        role: Some(who.role.clone()),
        ..Actor::default()
    };
    Journal::append(&state.journal, std::slice::from_ref(&ev))
        .await
        .map_err(|e| ApiError::from_ledger(&e))?;
    let holds = holds(&state)?;
    let h = holds
        .get(&id)
        .ok_or_else(|| ApiError::not_found("approval"))?;
    let new = if approve {
        HoldState::Approved { by: who.name }
    } else {
        HoldState::Denied {
            by: who.name,
            reason: d.reason,
        }
    };
    h.state.send_replace(new);
    let mut v = describe(id, h);
    v["audit_event"] = json!(ev.id);
    Ok(axum::Json(v).into_response())
}
