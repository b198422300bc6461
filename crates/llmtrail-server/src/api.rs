//! The HTTP API under `/api/v1/`: ingest, read, checkpoint, proofs, public key.
//!
//! Every route needs `Authorization: Bearer <token>` except the checkpoint, the proofs, the
//! public key and health, which anyone may fetch to verify the log. `/v1/` holds the
//! provider-compatible gateway routes (OpenAI Chat Completions, Responses, Embeddings, Models;
//! Anthropic Messages), which authenticate with provider or virtual keys instead.
//!
//! Ingest contract (`POST /api/v1/events`):
//! - `Content-Type: application/x-ndjson` (or `application/jsonl`): one event per line, blank
//!   lines ignored; answered with NDJSON, one `{"id","index","leaf_hash"}` per event in order.
//! - otherwise the body is JSON: one event object (answered with one object) or an array of
//!   event objects (answered with an array).
//! - The whole batch is validated before anything is appended; any bad event rejects the batch
//!   with 400, a machine-readable code and the line (NDJSON) or one-based item (array). The
//!   answer comes only once every event of the batch is durable.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt as _, Limited};
use llmtrail_core::Event;
use llmtrail_gateway::providers::Api;
use llmtrail_gateway::proxy::Gateway;
use llmtrail_ledger::{Journal, Ledger, Receipt};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::auth::{Principal, Tokens};
use crate::error::ApiError;
use crate::links::{Indexed, Links};

/// The peer address of a connection, put in each request's extensions by the listener.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

/// Shared state of the API handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// The ledger as a journal that keeps the links current.
    pub journal: Indexed,
    /// Which events point at which.
    pub links: Arc<Links>,
    /// The provider gateway, when enabled.
    pub gateway: Option<Arc<Gateway>>,
    /// Valid API tokens.
    pub tokens: Arc<Tokens>,
    /// Largest accepted body.
    pub max_body_bytes: usize,
    /// Tool calls held for approval.
    pub approvals: Arc<crate::approvals::Approvals>,
    /// The query index.
    pub index: Arc<llmtrail_index::Index>,
    /// Key of the analysts' pseudonyms (`crate::views`).
    pub pseudonym_key: [u8; 32],
    /// Dashboard sessions (`crate::session`).
    pub sessions: Arc<crate::session::Sessions>,
    /// Whether the listener serves TLS (`[server] tls_cert`/`tls_key`): the session cookie is
    /// then `Secure`. Each request on a TLS connection also carries the `crate::tls::Tls`
    /// extension.
    pub tls: bool,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The export sinks, for their figures in the metrics.
    pub export: Option<Arc<llmtrail_export::Exporter>>,
    /// Whether `GET /metrics` needs a token.
    pub metrics_require_token: bool,
    /// The alert engine, when enabled.
    pub alerts: Option<Arc<crate::alerts::AlertStage>>,
}

/// Builds the router.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route(
            "/api/v1/events",
            post(post_events).get(crate::query_api::list_events),
        )
        .route("/api/v1/events/{id}", get(get_event))
        .route("/api/v1/events/{id}/related", get(get_related))
        .route("/api/v1/token", get(whoami))
        .route("/api/v1/traces/{key}", get(crate::query_api::trace))
        .route("/api/v1/stats/{what}", get(crate::query_api::stats))
        .route(
            "/api/v1/approvals",
            post(crate::approvals::register).get(crate::approvals::list),
        )
        .route(
            "/api/v1/approvals/{id}",
            get(crate::approvals::get).post(crate::approvals::decide),
        )
        .route("/api/v1/alerts", get(crate::alerts::list))
        .route(
            "/api/v1/alerts/{id}",
            get(crate::alerts::get).post(crate::alerts::change),
        )
        .route("/api/v1/alerts/holds/{user}", get(crate::alerts::hold))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    let public = Router::new()
        .route("/", get(crate::dashboard::index))
        .route("/index.html", get(crate::dashboard::index))
        .route("/ui/app.js", get(crate::dashboard::app_js))
        .route("/ui/app.css", get(crate::dashboard::app_css))
        .route(
            "/api/v1/session",
            post(crate::dashboard::login).delete(crate::dashboard::logout),
        )
        .route("/metrics", get(metrics))
        .route("/api/v1/health", get(health))
        .route("/api/v1/checkpoint", get(get_checkpoint))
        .route("/api/v1/public-key", get(get_public_key))
        .route("/api/v1/proof/inclusion", get(get_inclusion))
        .route("/api/v1/proof/consistency", get(get_consistency));
    let mut app = protected.merge(public);
    if state.gateway.is_some() {
        app = app
            .route("/v1/chat/completions", post(gw_chat))
            .route("/v1/responses", post(gw_responses))
            .route("/v1/embeddings", post(gw_embeddings))
            .route("/v1/models", get(gw_models))
            .route("/v1/models/{*id}", get(gw_models))
            .route("/v1/messages", post(gw_messages));
    }
    app.fallback(|| async { ApiError::not_found("route") })
        .layer(middleware::from_fn(crate::dashboard::security_headers))
        .with_state(state)
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let principal = match bearer {
        Some(t) => state.tokens.authenticate(t),
        None => {
            // The dashboard's session cookie; a change made with it must carry the CSRF header.
            let by_cookie = crate::session::cookie_value(req.headers())
                .and_then(|id| state.sessions.token_of(&id))
                .and_then(|h| state.tokens.authenticate_hash(&h));
            let safe = matches!(*req.method(), http::Method::GET | http::Method::HEAD);
            let marked = req
                .headers()
                .get(crate::session::CSRF_HEADER)
                .is_some_and(|v| v.as_bytes() == b"1");
            if by_cookie.is_some() && !safe && !marked {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_header_required",
                    format!(
                        "a change made with the session cookie needs the {} header",
                        crate::session::CSRF_HEADER
                    ),
                )
                .into_response();
            }
            by_cookie
        }
    };
    match principal {
        Some(p) => {
            let mut req = req;
            req.extensions_mut().insert(p);
            next.run(req).await
        }
        None => ApiError::unauthorized().into_response(),
    }
}

/// `GET /api/v1/token`: who the token is (name and role).
async fn whoami(axum::Extension(p): axum::Extension<Principal>) -> Response {
    axum::Json(json!({"name": p.name, "role": p.role})).into_response()
}

/// `GET /metrics`: Prometheus text exposition (`crate::metrics`).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.metrics_require_token {
        let p = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|t| state.tokens.authenticate(t.trim()));
        match p {
            None => return ApiError::unauthorized().into_response(),
            Some(p) if !p.reads() => {
                return crate::views::forbidden(&p, "read metrics").into_response();
            }
            Some(_) => {}
        }
    }
    let cp = state.ledger.latest_checkpoint();
    let ledger = crate::metrics::LedgerFigures {
        records: state.ledger.size(),
        checkpoint_size: cp.as_ref().map(|c| c.size),
        checkpoint_age_seconds: cp.as_ref().map(|c| state.metrics.checkpoint_age(c.size)),
    };
    let sinks: Vec<crate::metrics::SinkFigures> = state
        .export
        .as_ref()
        .map(|x| {
            x.stats()
                .into_iter()
                .map(|s| crate::metrics::SinkFigures {
                    name: s.name,
                    queued: s.pending_records,
                    last_delivered_index: s.last_delivered_index,
                    delivered: s.delivered,
                    dropped: s.dropped,
                    failures: s.failures,
                })
                .collect()
        })
        .unwrap_or_default();
    let detection = state.journal.detection.as_ref().map(|d| {
        use std::sync::atomic::Ordering::Relaxed;
        let s = d.stats();
        crate::metrics::DetectionFigures {
            queued: s.queued.load(Relaxed),
            deferred: s.deferred.load(Relaxed),
            read_back: s.read_back.load(Relaxed),
            unscanned: s.unscanned.load(Relaxed),
        }
    });
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(&ledger, &sinks, detection.as_ref()),
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    match state.ledger.failure() {
        None => axum::Json(json!({"status": "ok", "size": state.ledger.size()})).into_response(),
        Some(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "failed", "size": state.ledger.size()})),
        )
            .into_response(),
    }
}

/// Reads a body up to the limit; a larger body is a 413 and nothing of it is kept.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("request body exceeds the limit of {limit} bytes"),
            ))
        }
        Err(_) => Err(ApiError::bad_request(
            "body_read_failed",
            "the request body could not be read",
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Ndjson,
    Object,
    Array,
}

async fn post_events(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !p.writes() {
        return Err(crate::views::forbidden(&p, "append events"));
    }
    let bytes = read_body(body, state.max_body_bytes).await?;
    let (shape, events) = parse_batch(&headers, &bytes)?;
    if events.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the request holds no events",
        ));
    }
    let receipts = Journal::append(&state.journal, &events)
        .await
        .map_err(|e| {
            let err = ApiError::from_ledger(&e);
            if err.status.is_server_error() {
                tracing::error!(error = %e, events = events.len(), "ingest failed");
            }
            err
        })?;
    Ok(answer(shape, &receipts))
}

fn receipt_json(r: &Receipt) -> Value {
    json!({"id": r.id, "index": r.index, "leaf_hash": hex::encode(r.leaf_hash)})
}

fn answer(shape: Shape, receipts: &[Receipt]) -> Response {
    match shape {
        Shape::Ndjson => {
            let mut out = String::new();
            for r in receipts {
                out.push_str(&receipt_json(r).to_string());
                out.push('\n');
            }
            ([(header::CONTENT_TYPE, "application/x-ndjson")], out).into_response()
        }
        Shape::Object => match receipts.first() {
            Some(r) => axum::Json(receipt_json(r)).into_response(),
            None => axum::Json(Value::Null).into_response(),
        },
        Shape::Array => {
            axum::Json(Value::Array(receipts.iter().map(receipt_json).collect())).into_response()
        }
    }
}

fn is_ndjson(headers: &HeaderMap) -> bool {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "application/x-ndjson"
            | "application/ndjson"
            | "application/jsonl"
            | "application/x-jsonlines"
    )
}

/// Parses and validates the whole batch before anything is written.
fn parse_batch(headers: &HeaderMap, bytes: &[u8]) -> Result<(Shape, Vec<Event>), ApiError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        let offset = e.valid_up_to();
        let line = bytes[..offset].iter().filter(|b| **b == b'\n').count() + 1;
        return Err(ApiError::bad_request(
            "invalid_utf8",
            format!("request body is not UTF-8 at byte offset {offset}"),
        )
        .at_line(line));
    }
    if is_ndjson(headers) {
        let mut events = Vec::new();
        for (n, line) in bytes.split(|b| *b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let event = Event::from_json_slice(line)
                .map_err(|e| ApiError::from_event(&e).at_line(n + 1))?;
            events.push(event);
        }
        return Ok((Shape::Ndjson, events));
    }
    let trimmed = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map(|p| bytes[p]);
    if trimmed == Some(b'[') {
        let values: Vec<Value> = serde_json::from_slice(bytes).map_err(|e| {
            ApiError::bad_request(
                "invalid_json",
                format!("invalid JSON at line {} column {}", e.line(), e.column()),
            )
            .at_line(e.line())
        })?;
        let mut events = Vec::with_capacity(values.len());
        for (n, v) in values.into_iter().enumerate() {
            let event =
                Event::from_value(v).map_err(|e| ApiError::from_event(&e).at_line(n + 1))?;
            events.push(event);
        }
        return Ok((Shape::Array, events));
    }
    let event = Event::from_json_slice(bytes).map_err(|e| {
        let line = match &e {
            llmtrail_core::EventError::InvalidJson { line, .. } => *line,
            _ => 1,
        };
        ApiError::from_event(&e).at_line(line)
    })?;
    Ok((Shape::Object, vec![event]))
}

async fn get_event(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = crate::views::access(&p, &headers)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "event id must be a UUID"))?;
    let ledger = Arc::clone(&state.ledger);
    let stored = tokio::task::spawn_blocking(move || ledger.get(&id))
        .await
        .map_err(|_| internal("read task failed"))?
        .map_err(|e| read_failed(&e))?
        .ok_or_else(|| ApiError::not_found("event"))?;
    let mut out = crate::views::render_all(&state, &p, &access, "events.get", vec![stored]).await?;
    Ok(axum::Json(out.pop().unwrap_or(Value::Null)).into_response())
}

fn internal(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        what.to_owned(),
    )
}

fn read_failed(e: &llmtrail_ledger::LedgerError) -> ApiError {
    tracing::error!(error = %e, "event read failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "read_failed",
        "the stored event could not be read",
    )
}

async fn get_related(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let access = crate::views::access(&p, &headers)?;
    let id: Uuid = id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "event id must be a UUID"))?;
    let ledger = Arc::clone(&state.ledger);
    let links = Arc::clone(&state.links);
    let stored = tokio::task::spawn_blocking(move || {
        if ledger.get(&id)?.is_none() {
            return Ok(None);
        }
        let mut out = Vec::new();
        for rel in links.related(id) {
            if let Some(stored) = ledger.get(&rel)? {
                out.push(stored);
            }
        }
        Ok::<_, llmtrail_ledger::LedgerError>(Some(out))
    })
    .await
    .map_err(|_| internal("read task failed"))?
    .map_err(|e| read_failed(&e))?
    .ok_or_else(|| ApiError::not_found("event"))?;
    let events = crate::views::render_all(&state, &p, &access, "events.related", stored).await?;
    Ok(axum::Json(json!({"id": id, "events": events})).into_response())
}

async fn gateway(state: AppState, api: Api, req: Request) -> Response {
    let Some(gw) = state.gateway else {
        return ApiError::not_found("route").into_response();
    };
    let peer = req
        .extensions()
        .get::<PeerAddr>()
        .map_or(std::net::IpAddr::from([127, 0, 0, 1]), |p| p.0.ip());
    gw.handle(api, req, peer).await.map(Body::new)
}

async fn gw_chat(State(state): State<AppState>, req: Request) -> Response {
    gateway(state, Api::OpenAiChat, req).await
}

async fn gw_responses(State(state): State<AppState>, req: Request) -> Response {
    gateway(state, Api::OpenAiResponses, req).await
}

async fn gw_embeddings(State(state): State<AppState>, req: Request) -> Response {
    gateway(state, Api::OpenAiEmbeddings, req).await
}

async fn gw_models(State(state): State<AppState>, req: Request) -> Response {
    gateway(state, Api::OpenAiModels, req).await
}

async fn gw_messages(State(state): State<AppState>, req: Request) -> Response {
    gateway(state, Api::AnthropicMessages, req).await
}

async fn get_checkpoint(State(state): State<AppState>) -> Response {
    match state.ledger.latest_checkpoint() {
        Some(cp) => (
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cp.note,
        )
            .into_response(),
        None => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_checkpoint",
            "no checkpoint has been signed yet",
        )
        .into_response(),
    }
}

async fn get_public_key(State(state): State<AppState>) -> Response {
    let vkey = format!("{}\n", state.ledger.verifier().to_vkey());
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], vkey).into_response()
}

fn query<T>(q: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    size: u64,
}

async fn get_inclusion(
    State(state): State<AppState>,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (proof, leaf, root) = with_tree(&state, move |ledger| {
        Ok((
            ledger.inclusion_proof(q.index, q.size)?,
            ledger.leaf_hash(q.index)?,
            ledger.root_at(q.size)?,
        ))
    })
    .await?;
    Ok(axum::Json(json!({
        "index": q.index,
        "size": q.size,
        "leaf_hash": hex::encode(leaf),
        "root": hex::encode(root),
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    old: u64,
    new: u64,
}

async fn get_consistency(
    State(state): State<AppState>,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query(q)?;
    let (proof, old_root, new_root) = with_tree(&state, move |ledger| {
        Ok((
            ledger.consistency_proof(q.old, q.new)?,
            ledger.root_at(q.old)?,
            ledger.root_at(q.new)?,
        ))
    })
    .await?;
    Ok(axum::Json(json!({
        "old": q.old,
        "new": q.new,
        "old_root": hex::encode(old_root),
        "new_root": hex::encode(new_root),
        "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
    }))
    .into_response())
}

/// Runs a tree read (positioned file reads) off the async workers and maps its errors.
async fn with_tree<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Ledger) -> Result<T, llmtrail_ledger::LedgerError> + Send + 'static,
) -> Result<T, ApiError> {
    let ledger = Arc::clone(&state.ledger);
    tokio::task::spawn_blocking(move || f(&ledger))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "proof task failed",
            )
        })?
        .map_err(|e| proof_error(&e))
}

fn proof_error(e: &llmtrail_ledger::LedgerError) -> ApiError {
    match e {
        llmtrail_ledger::LedgerError::OutOfRange { .. } => ApiError::from_ledger(e),
        _ => {
            tracing::error!(error = %e, "proof generation failed");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "proof_failed",
                "the proof could not be computed",
            )
        }
    }
}
