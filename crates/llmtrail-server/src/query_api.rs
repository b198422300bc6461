//! The query API over the index: event search, traces and statistics.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /api/v1/events?q=&kind=&user=&…&limit=&cursor=` | `{"events": [stored event], "next_cursor"}`, newest first |
//! | `GET /api/v1/traces/{trace_or_session}` | `{"events": [...]}`: the chain in ledger order, with the findings, alerts and audit events on it |
//! | `GET /api/v1/stats/{top-prompts,tools,flagged,users,timeseries}` | `{"items": [...]}` with the same filters |
//!
//! Filters are `llmtrail_index::Filter` (an unknown parameter is a 400 naming it). Events are
//! read from the ledger by the ids the index gives, so the content served is the ledger's.
//! A top prompt carries the text of its most recent request as `sample`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use llmtrail_index::{Filter, IndexError};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::api::AppState;
use crate::error::ApiError;

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
fn stored(state: &AppState, ids: &[String]) -> Result<Vec<Value>, ApiError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Ok(uuid) = id.parse::<Uuid>() else {
            continue;
        };
        match state.ledger.get(&uuid) {
            Ok(Some(s)) => out.push(json!({
                "index": s.index,
                "leaf_hash": hex::encode(s.leaf_hash),
                "content": s.content,
                "event": s.event.to_value(),
            })),
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
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let f = parse_filter(q)?;
    tokio::task::spawn_blocking(move || {
        let page = state.index.events(&f).map_err(index_error)?;
        let ids: Vec<String> = page.hits.into_iter().map(|(_, id)| id).collect();
        let events = stored(&state, &ids)?;
        Ok(axum::Json(json!({"events": events, "next_cursor": page.next})).into_response())
    })
    .await
    .map_err(|_| internal())?
}

/// `GET /api/v1/traces/{trace_or_session}`
pub(crate) async fn trace(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    if key.is_empty() || key.len() > 512 {
        return Err(ApiError::bad_request(
            "invalid_id",
            "a trace id or session of 1 to 512 bytes",
        ));
    }
    tokio::task::spawn_blocking(move || {
        let hits = state.index.trace(&key).map_err(index_error)?;
        if hits.is_empty() {
            return Err(ApiError::not_found("trace or session"));
        }
        let ids: Vec<String> = hits.into_iter().map(|(_, id)| id).collect();
        let events = stored(&state, &ids)?;
        Ok(axum::Json(json!({"key": key, "events": events})).into_response())
    })
    .await
    .map_err(|_| internal())?
}

/// `GET /api/v1/stats/{what}`
pub(crate) async fn stats(
    State(state): State<AppState>,
    Path(what): Path<String>,
    q: Result<Query<Filter>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
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
        if what == "top-prompts" {
            for item in &mut items {
                let Some(id) = item["sample_id"]
                    .as_str()
                    .and_then(|s| s.parse::<Uuid>().ok())
                else {
                    continue;
                };
                if let Ok(Some(s)) = state.ledger.get(&id) {
                    item["sample"] = json!(last_user_text(&s.event));
                }
            }
        }
        Ok(axum::Json(json!({"items": items})).into_response())
    })
    .await
    .map_err(|_| internal())?
}

fn last_user_text(e: &llmtrail_core::Event) -> Option<String> {
    let llmtrail_core::Body::LlmRequest(r) = &e.body else {
        return None;
    };
    let m = r.messages.iter().rev().find(|m| m.role == "user")?;
    Some(
        m.parts
            .iter()
            .filter_map(|p| match p {
                llmtrail_core::Part::Text { content } => Some(content.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" "),
    )
}
