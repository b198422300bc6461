//! What each role sees of a stored event.
//!
//! | role | view |
//! | --- | --- |
//! | `viewer` | metadata: the content fields of the event (prompts, outputs, tool arguments and results, raw bodies) removed |
//! | `analyst` | masked: every span a `pii` or `secret` finding points at replaced by a keyed pseudonym `[pii:email:3f9a0c12]` (HMAC-SHA-256 of category and value under `<data-dir>/pseudonym.key`, so equal values get equal pseudonyms and still correlate); raw bodies withheld; content with such a finding that cannot be located is withheld whole |
//! | `forensic` | raw, only with `x-llmtrail-reason`; every such read is appended to the ledger as an `audit` event `event.read` (who, which events, why) before the answer |
//! | `admin` | raw, audited the same way; the reason, when not given, is recorded as `(admin: no reason given)` |
//! | `ingest` | nothing (403) |
//!
//! A `forensic` token without a reason is refused (403 `reason_required`).

use std::collections::BTreeMap;
use std::path::Path;

use axum::http::{HeaderMap, StatusCode};
use llmtrail_core::{Actor, Audit, AuditOutcome, Body, Event, FindingCategory, Location};
use llmtrail_ledger::Journal;
use llmtrail_ledger::StoredEvent;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Header carrying the reason for a raw read.
pub const REASON_HEADER: &str = "x-llmtrail-reason";
const KEY_FILE: &str = "pseudonym.key";

/// How much of the content a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Metadata only.
    Metadata,
    /// PII and secrets masked.
    Masked,
    /// Raw, with the reason (audited).
    Raw(String),
}

/// Decides the access of a principal, given the request's headers.
///
/// # Errors
/// 403 for a role that reads nothing, and for `forensic` without a reason.
pub fn access(p: &Principal, headers: &HeaderMap) -> Result<Access, ApiError> {
    let reason = headers
        .get(REASON_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect::<String>());
    match (p.role.as_str(), reason) {
        ("viewer", _) => Ok(Access::Metadata),
        ("analyst", _) => Ok(Access::Masked),
        ("forensic" | "admin", Some(r)) => Ok(Access::Raw(r)),
        ("admin", None) => Ok(Access::Raw("(admin: no reason given)".into())),
        ("forensic", None) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "reason_required",
            format!("raw content needs a reason: send it in the {REASON_HEADER} header"),
        )),
        _ => Err(forbidden(p, "read events")),
    }
}

/// The 403 for a role that may not do something.
#[must_use]
pub fn forbidden(p: &Principal, what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("the {} role may not {what}", p.role),
    )
}

/// Loads the pseudonym key of a data directory, creating it (0600) on first use.
///
/// # Errors
/// I/O errors and a failing random source.
pub fn load_key(data_dir: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = data_dir.join(KEY_FILE);
    if let Ok(bytes) = std::fs::read(&path)
        && let Ok(k) = <[u8; 32]>::try_from(bytes.as_slice())
    {
        return Ok(k);
    }
    let mut k = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut k)
        .map_err(|_| std::io::Error::other("random source failed"))?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    f.write_all(&k)?;
    f.sync_all()?;
    Ok(k)
}

/// Renders a stored event for `access`. `findings` are the findings that point at it.
#[must_use]
pub fn render(access: &Access, key: &[u8; 32], stored: &StoredEvent, findings: &[Event]) -> Value {
    let mut event = stored.event.to_value();
    match access {
        Access::Raw(_) => {}
        Access::Metadata => strip(&mut event, stored),
        Access::Masked => mask(&mut event, stored, findings, key),
    }
    json!({
        "index": stored.index,
        "leaf_hash": hex::encode(stored.leaf_hash),
        "content": stored.content,
        "view": match access { Access::Raw(_) => "raw", Access::Metadata => "metadata", Access::Masked => "masked" },
        "event": event,
    })
}

fn strip(event: &mut Value, stored: &StoredEvent) {
    if let Some(body) = event.get_mut("body").and_then(Value::as_object_mut) {
        for f in llmtrail_core::body::content_fields(stored.event.kind()) {
            body.remove(*f);
        }
    }
}

/// Where a finding's span lives in the event JSON.
fn target<'a>(body: &'a mut Value, loc: &Location) -> Option<&'a mut Value> {
    let field = loc.field.as_deref()?;
    match field {
        "gen_ai.input.messages" | "gen_ai.output.messages" => {
            let m = usize::try_from(loc.message?).ok()?;
            let p = usize::try_from(loc.part?).ok()?;
            let part = body
                .get_mut(field)?
                .get_mut(m)?
                .get_mut("parts")?
                .get_mut(p)?;
            let key = ["content", "arguments", "response"]
                .into_iter()
                .find(|k| part.get(*k).is_some())?;
            part.get_mut(key)
        }
        "gen_ai.system_instructions" => {
            let p = usize::try_from(loc.part?).ok()?;
            body.get_mut(field)?.get_mut(p)?.get_mut("content")
        }
        "gen_ai.tool.call.arguments" | "gen_ai.tool.call.result" => body.get_mut(field),
        _ => None,
    }
}

fn pseudonym(key: &[u8; 32], category: &str, kind: &str, value: &str) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, format!("{category}\u{0}{value}").as_bytes());
    format!("[{category}:{kind}:{}]", hex::encode(&tag.as_ref()[..4]))
}

/// A span to mask: start, end, category name, finding type.
type Cut = (usize, usize, String, String);

fn mask(event: &mut Value, stored: &StoredEvent, findings: &[Event], key: &[u8; 32]) {
    // Cuts per target, applied from the end so earlier offsets stay valid.
    let mut cuts: BTreeMap<String, (Location, Vec<Cut>)> = BTreeMap::new();
    let mut unlocated = false;
    for f in findings {
        let Body::Finding(f) = &f.body else { continue };
        if f.event_id != stored.event.id
            || !matches!(f.category, FindingCategory::Pii | FindingCategory::Secret)
        {
            continue;
        }
        let cat = if f.category == FindingCategory::Pii {
            "pii"
        } else {
            "secret"
        };
        match f
            .location
            .as_ref()
            .and_then(|l| Some((l, l.start?, l.end?)))
        {
            Some((l, s, e)) => {
                let k = format!("{:?}|{:?}|{:?}", l.field, l.message, l.part);
                cuts.entry(k)
                    .or_insert_with(|| (l.clone(), Vec::new()))
                    .1
                    .push((
                        usize::try_from(s).unwrap_or(usize::MAX),
                        usize::try_from(e).unwrap_or(usize::MAX),
                        cat.to_owned(),
                        f.finding_type.clone(),
                    ));
            }
            None => unlocated = true,
        }
    }
    let Some(body) = event.get_mut("body") else {
        return;
    };
    if let Some(b) = body.as_object_mut() {
        b.remove("raw");
    }
    for (loc, mut spans) in cuts.into_values() {
        let Some(t) = target(body, &loc) else {
            unlocated = true;
            continue;
        };
        let mut text = match &*t {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        spans.sort_by_key(|c| std::cmp::Reverse(c.0));
        let mut floor = usize::MAX;
        for (s, e, cat, kind) in spans {
            let e = e.min(floor);
            if s >= e || text.get(s..e).is_none() {
                unlocated = unlocated || text.get(s..e).is_none() && s < e;
                continue;
            }
            let p = pseudonym(key, &cat, &kind, &text[s..e]);
            text.replace_range(s..e, &p);
            floor = s;
        }
        *t = Value::String(text);
    }
    if unlocated {
        // Never show a value the mask could not find: withhold the content instead.
        strip(event, stored);
        if let Some(b) = event.get_mut("body").and_then(Value::as_object_mut) {
            b.insert(
                "llmtrail.withheld".into(),
                json!("content with a finding that could not be located"),
            );
        }
    }
}

/// Reads the findings that point at `id` (through the links).
#[must_use]
pub fn findings_of(state: &AppState, id: uuid::Uuid) -> Vec<Event> {
    state
        .links
        .related(id)
        .into_iter()
        .filter_map(|r| state.ledger.get(&r).ok().flatten())
        .map(|s| s.event)
        .filter(|e| matches!(&e.body, Body::Finding(f) if f.event_id == id))
        .collect()
}

/// Renders stored events for a principal, appending the audit event first for a raw read.
///
/// # Errors
/// 503 when the audit event of a raw read cannot be appended (nothing is shown then).
pub async fn render_all(
    state: &AppState,
    p: &Principal,
    access: &Access,
    route: &str,
    stored: Vec<StoredEvent>,
) -> Result<Vec<Value>, ApiError> {
    if let Access::Raw(reason) = access
        && !stored.is_empty()
    {
        let mut a = Audit::new("event.read", AuditOutcome::Success);
        a.reason = Some(reason.clone());
        // The ids go in the details, not in `target`: a read is not something that happened
        // because of the event, so it stays out of the event's related chain.
        a.details.insert("route".into(), json!(route));
        a.details.insert(
            "events".into(),
            json!(
                stored
                    .iter()
                    .map(|s| s.event.id.to_string())
                    .collect::<Vec<_>>()
            ),
        );
        let mut ev = Event::new(a);
        ev.actor = Actor {
            user: Some(p.name.clone()),
            role: Some(p.role.clone()),
            ..Actor::default()
        };
        Journal::append(&state.journal, std::slice::from_ref(&ev))
            .await
            .map_err(|e| ApiError::from_ledger(&e))?;
    }
    let st = state.clone();
    let access = access.clone();
    tokio::task::spawn_blocking(move || {
        stored
            .iter()
            .map(|s| {
                let findings = if access == Access::Masked {
                    findings_of(&st, s.event.id)
                } else {
                    Vec::new()
                };
                render(&access, &st.pseudonym_key, s, &findings)
            })
            .collect()
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "render task failed",
        )
    })
}
