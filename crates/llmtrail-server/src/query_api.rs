//! The query API over the index: event search, traces and statistics.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/v1/events?q=&kind=&user=&…&limit=&cursor=` | `{"events": [stored event], "next_cursor"}`, newest first |
//! | `GET /api/v1/traces/{trace_or_session}` | `{"events": [...]}`: the chain in ledger order, with the findings, alerts and audit events on it |
//! | `GET /api/v1/stats/{top-prompts,tools,flagged,users,timeseries}` | `{"items": [...]}` with the same filters |
//!
//! What each role sees of the events is `crate::views`. Filters are `llmtrail_index::Filter` (an unknown parameter is a 400 naming it). Events are
//! read from the ledger by the ids the index gives, so the content served is the ledger's.
//! A top prompt carries the text of its most recent request as `sample`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use llmtrail_index::{Filter, IndexError};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::views;

fn index_error(e: IndexError) -> ApiError {
    match e {
        IndexError::Invalid(m) => ApiError::bad_request("invalid_query", m),
        other => {
            tracing::error!(error = %other, "index query failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "index_failed",
                "the index could not answer",
            )
        }
    }
}

fn internal() -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "query task failed",
    )
}

/// Reads stored events by id, in the given order.
fn stored(state: &AppState, ids: &[String]) -> Result<Vec<llmtrail_ledger::StoredEvent>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Ok(uuid) = id.parse::<Uuid>() else {
            continue;
        };
        match state.ledger.get(&uuid) {
            Ok(Some(s)) => out.push(s),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "event read failed");
                return Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "read_failed",
                    "the stored events could not be read",
                ));
            }
        }
    }
    Ok(out)
}

fn parse_filter(
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Filter, ApiError> {
    q.map(|Query(f)| f)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

/// `GET /api/v1/events`
pub(crate) async fn list_events(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let access = views::access(&p, &headers)?;
    let f = parse_filter(q)?;
    let st = state.clone();
    let (page, found) = tokio::task::spawn_blocking(move || {
        let page = st.index.events(&f).map_err(index_error)?;
        let ids: Vec<String> = page.hits.iter().map(|(_, id)| id.clone()).collect();
        Ok::<_, ApiError>((page.next, stored(&st, &ids)?))
    })
    .await
    .map_err(|_| internal())??;
    let events = views::render_all(&state, &p, &access, "events.search", found).await?;
    Ok(axum::Json(json!({"events": events, "next_cursor": page})).into_response())
}

/// `GET /api/v1/traces/{trace_or_session}`
pub(crate) async fn trace(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    headers: HeaderMap,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let access = views::access(&p, &headers)?;
    if key.is_empty() || key.len() > 512 {
        return Err(ApiError::bad_request(
            "invalid_id",
            "a trace id or session of 1 to 512 bytes",
        ));
    }
    let st = state.clone();
    let k = key.clone();
    let found = tokio::task::spawn_blocking(move || {
        let hits = st.index.trace(&k).map_err(index_error)?;
        if hits.is_empty() {
            return Err(ApiError::not_found("trace or session"));
        }
        let ids: Vec<String> = hits.into_iter().map(|(_, id)| id).collect();
        stored(&st, &ids)
    })
    .await
    .map_err(|_| internal())??;
    let events = views::render_all(&state, &p, &access, "traces.get", found).await?;
    Ok(axum::Json(json!({"key": key, "events": events})).into_response())
}

/// `GET /api/v1/stats/{what}`
pub(crate) async fn stats(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(what): Path<String>,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    if !p.reads() {
        return Err(views::forbidden(&p, "read statistics"));
    }
    // A top prompt's sample is content: masked for every role that may see content (a raw
    // sample would need a reason and an audit entry per sample), absent for viewers.
    let samples = p.role != "viewer";
    let f = parse_filter(q)?;
    tokio::task::spawn_blocking(move || {
        let ix = Arc::clone(&state.index);
        let mut items = match what.as_str() {
            "top-prompts" => ix.top_prompts(&f),
            "tools" => ix.tools(&f),
            "flagged" => ix.flagged(&f),
            "users" => ix.users(&f),
            "timeseries" => ix.timeseries(&f),
            _ => return Err(ApiError::not_found("statistic")),
        }
        .map_err(index_error)?;
        if what == "top-prompts" && samples {
            for item in &mut items {
                let Some(id) = item["sample_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok())
                else {
                    continue;
                };
                if let Ok(Some(s)) = state.ledger.get(&id) {
                    let findings = views::findings_of(&state, id);
                    let shown =
                        views::render(&views::Access::Masked, &state.pseudonym_key, &s, &findings);
                    item["sample"] = json!(last_user_text(&shown["event"]));
                }
            }
        }
        Ok(axum::Json(json!({"items": items})).into_response())
    })
    .await
    .map_err(|_| internal())?
}

fn last_user_text(event: &Value) -> Option<String> {
    let m = event["body"]["gen_ai.input.messages"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["role"] == "user")?;
    Some(
        m["parts"]
            .as_array()?
            .iter()
            .filter_map(|p| p["content"].as_str())
            .collect::<Vec<_>>()
            .join(" "),
    )
}
