//! The OTLP/HTTP receiver's routes: `POST /v1/traces` and `POST /v1/logs`.
//!
//! They are served on `serve`'s listener (unless `otlp.enabled = false`) and, when
//! `otlp.listen` is set, on a listener of their own (conventionally port 4318) that serves
//! nothing else. Decoding and mapping are `llmtrail_otlp`'s; this module adds what needs the
//! server: authentication, the body limit, concurrency, and the journal append.
//!
//! Authentication: by default a request needs `Authorization: Bearer <token>` with an API
//! token, the same tokens that may `POST /api/v1/events` (OTLP exporters send it with their
//! `headers` setting, e.g. `OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20llmt_..."`, the
//! value URL-encoded as that variable requires).
//! Writing to a tamper-evident ledger without credentials would let anyone on the network
//! forge history, so `otlp.require_token = false` is an explicit choice, logged at startup.
//!
//! Answers (OTLP/HTTP): 200 with an `Export*ServiceResponse` in the request's encoding, with
//! `partial_success` when some items were refused; 400 for an undecodable body, 401 without a
//! valid token, 413 over `otlp.max_body_bytes` (compressed or inflated), 415 for other content
//! types or encodings — none retryable. 429 when `otlp.max_concurrent_requests` exports are
//! already being decoded, and 503 when the ledger cannot take the events, both with
//! `Retry-After`: the exporter retries, and nothing of the request was recorded. The answer
//! comes only once the events are durable.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::{BodyExt as _, Limited};
use llmtrail_core::{Body, Event};
use llmtrail_ledger::{Journal, Ledger, LedgerError};
use llmtrail_otlp::protocol::{self, Encoding, OtlpError, Signal};
use serde::Deserialize;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::auth::Tokens;

/// `[otlp]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawOtlp {
    /// Serve `POST /v1/traces` and `POST /v1/logs` on the main listener.
    pub enabled: bool,
    /// A second listener for OTLP only, e.g. `127.0.0.1:4318`; empty means none.
    pub listen: String,
    /// Require `Authorization: Bearer <API token>` on OTLP requests.
    pub require_token: bool,
    /// Largest OTLP body in bytes, as sent and once decompressed.
    pub max_body_bytes: usize,
    /// Export requests handled at once; more wait up to a second, then get 429.
    pub max_concurrent_requests: usize,
}

impl Default for RawOtlp {
    fn default() -> Self {
        RawOtlp {
            enabled: true,
            listen: String::new(),
            require_token: true,
            max_body_bytes: 10 * 1024 * 1024,
            max_concurrent_requests: 16,
        }
    }
}

/// The validated `[otlp]` section.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    /// Routes on the main listener.
    pub enabled: bool,
    /// The OTLP-only listener, if any.
    pub listen: Option<std::net::SocketAddr>,
    /// Whether a token is required.
    pub require_token: bool,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Concurrent exports.
    pub max_concurrent_requests: usize,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            enabled: true,
            listen: None,
            require_token: true,
            max_body_bytes: 10 * 1024 * 1024,
            max_concurrent_requests: 16,
        }
    }
}

impl RawOtlp {
    /// Validates the section.
    ///
    /// # Errors
    /// The dotted key and what is allowed.
    pub fn validate(self) -> Result<OtlpConfig, (&'static str, String)> {
        let listen = if self.listen.trim().is_empty() {
            None
        } else {
            Some(self.listen.trim().parse().map_err(|_| {
                (
                    "otlp.listen",
                    "expected an address and port such as 127.0.0.1:4318".to_owned(),
                )
            })?)
        };
        if self.max_body_bytes < 1024 {
            return Err(("otlp.max_body_bytes", "must be at least 1024".into()));
        }
        if !(1..=4096).contains(&self.max_concurrent_requests) {
            return Err((
                "otlp.max_concurrent_requests",
                "must be between 1 and 4096".into(),
            ));
        }
        Ok(OtlpConfig {
            enabled: self.enabled,
            listen,
            require_token: self.require_token,
            max_body_bytes: self.max_body_bytes,
            max_concurrent_requests: self.max_concurrent_requests,
        })
    }
}

/// Reads back a recorded event by id: how a retried export is told from a conflicting one.
pub trait Recorded: Send + Sync {
    /// Returns the recorded event with this id, if any (read errors count as none).
    fn recorded(&self, id: Uuid) -> Option<Event>;
}

impl Recorded for Ledger {
    fn recorded(&self, id: Uuid) -> Option<Event> {
        self.get(&id).ok().flatten().map(|s| s.event)
    }
}

/// What the OTLP handlers share.
#[derive(Clone)]
pub struct OtlpState {
    journal: Arc<dyn Journal>,
    recorded: Arc<dyn Recorded>,
    tokens: Arc<Tokens>,
    require_token: bool,
    max_body_bytes: usize,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for OtlpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpState")
            .field("require_token", &self.require_token)
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl OtlpState {
    /// Builds the state from the configuration.
    pub fn new(
        config: &OtlpConfig,
        journal: Arc<dyn Journal>,
        recorded: Arc<dyn Recorded>,
        tokens: Arc<Tokens>,
    ) -> Self {
        OtlpState {
            journal,
            recorded,
            tokens,
            require_token: config.require_token,
            max_body_bytes: config.max_body_bytes,
            permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        }
    }
}

/// How long an export waits for a turn before 429.
const PERMIT_WAIT: Duration = Duration::from_secs(1);
/// `Retry-After` of a 429, in seconds.
const RETRY_AFTER_BUSY: &str = "1";
/// `Retry-After` of a 503, in seconds.
const RETRY_AFTER_UNAVAILABLE: &str = "5";

/// Builds the router of the two OTLP routes (merged into the main one, or served alone).
pub fn router(state: OtlpState) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/logs", post(logs))
        .with_state(state)
}

async fn traces(State(state): State<OtlpState>, req: Request) -> Response {
    export(&state, Signal::Traces, req).await
}

async fn logs(State(state): State<OtlpState>, req: Request) -> Response {
    export(&state, Signal::Logs, req).await
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An error answer in the request's encoding, with `Retry-After` when retrying helps.
fn refuse(
    encoding: Encoding,
    status: StatusCode,
    message: &str,
    retry_after: Option<&'static str>,
) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        protocol::error_body(encoding, status, message),
    )
        .into_response();
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static(secs));
    }
    resp
}

fn refuse_otlp(encoding: Encoding, e: &OtlpError) -> Response {
    refuse(encoding, e.status(), &e.to_string(), None)
}

fn authorized(state: &OtlpState, headers: &HeaderMap) -> bool {
    if !state.require_token {
        return true;
    }
    header_str(headers, header::AUTHORIZATION)
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .and_then(|t| state.tokens.authenticate(t))
        .is_some_and(|p| p.writes())
}

async fn export(state: &OtlpState, signal: Signal, req: Request) -> Response {
    let headers = req.headers();
    let content_type = header_str(headers, header::CONTENT_TYPE);
    let encoding = protocol::encoding_of(content_type);
    let answer_in = *encoding.as_ref().unwrap_or(&Encoding::Json);
    if !authorized(state, headers) {
        let mut resp = refuse(
            answer_in,
            StatusCode::UNAUTHORIZED,
            "a valid API token is required: send Authorization: Bearer <token>",
            None,
        );
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"llmtrail\""),
        );
        return resp;
    }
    let encoding = match encoding {
        Ok(e) => e,
        Err(e) => return refuse_otlp(answer_in, &e),
    };
    let content_encoding = header_str(headers, header::CONTENT_ENCODING).map(str::to_owned);
    let Ok(Ok(_permit)) =
        tokio::time::timeout(PERMIT_WAIT, Arc::clone(&state.permits).acquire_owned()).await
    else {
        return refuse(
            encoding,
            StatusCode::TOO_MANY_REQUESTS,
            "too many export requests at once; retry later",
            Some(RETRY_AFTER_BUSY),
        );
    };
    let limit = state.max_body_bytes;
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            let e = OtlpError::TooLarge {
                limit,
                inflated: false,
            };
            return refuse_otlp(encoding, &e);
        }
        Err(_) => {
            return refuse(
                encoding,
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
                None,
            );
        }
    };
    // Inflating and decoding are CPU work on up to `limit` bytes: off the async workers.
    let decoded = tokio::task::spawn_blocking(move || {
        let bytes = protocol::decompress(content_encoding.as_deref(), &body, limit)?;
        protocol::decode(signal, encoding, &bytes)
    })
    .await;
    let mut mapped = match decoded {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => return refuse_otlp(encoding, &e),
        Err(_) => {
            return refuse(
                encoding,
                StatusCode::INTERNAL_SERVER_ERROR,
                "decoding failed",
                None,
            );
        }
    };
    let events = mapped.events.len();
    let duplicates = match append(state, std::mem::take(&mut mapped.events)).await {
        Ok(d) => d,
        Err(e) => return ledger_refusal(encoding, &e, events),
    };
    let message = protocol::rejection_message(signal, &mapped);
    tracing::debug!(
        signal = ?signal,
        items = mapped.mapped,
        events,
        duplicates,
        rejected = mapped.rejected,
        "otlp export"
    );
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        protocol::success_body(signal, encoding, mapped.rejected, &message),
    )
        .into_response()
}

/// Appends the events of one export; returns how many were already recorded.
///
/// Event ids are derived from the spans ([`llmtrail_otlp::ids`]), so an export that is sent
/// again after a lost answer carries ids the ledger already holds. Every id is looked up first
/// (an unknown id costs a map lookup, a known one a read): an event identical to the recorded
/// one is dropped (it is already there), one that differs gets a fresh id (and what pointed at
/// it follows), so a retry records nothing twice and a conflicting span loses nothing. Should
/// the append still meet a duplicate (the same span twice in one export, or two exports racing),
/// the event the ledger names is handled the same way and the append retried; each round drops
/// or renames one event, so the rounds are bounded by the batch.
async fn append(state: &OtlpState, events: Vec<Event>) -> Result<usize, LedgerError> {
    let recorded = Arc::clone(&state.recorded);
    let (mut events, mut duplicates) =
        tokio::task::spawn_blocking(move || dedupe(recorded.as_ref(), events))
            .await
            .map_err(|_| LedgerError::Failed("the duplicate check did not finish".into()))?;
    for _ in 0..=events.len() {
        if events.is_empty() {
            break;
        }
        let id = match state.journal.append(&events).await {
            Ok(_) => return Ok(duplicates),
            Err(LedgerError::Duplicate(id)) => id,
            Err(e) => return Err(e),
        };
        let Some(pos) = events.iter().position(|e| e.id == id) else {
            return Err(LedgerError::Duplicate(id));
        };
        let recorded = Arc::clone(&state.recorded);
        let stored = tokio::task::spawn_blocking(move || recorded.recorded(id))
            .await
            .ok()
            .flatten();
        if stored.as_ref() == Some(&events[pos]) {
            events.remove(pos);
            duplicates += 1;
        } else {
            rename(&mut events, pos);
        }
    }
    if events.is_empty() {
        Ok(duplicates)
    } else {
        // Unreachable while each round drops or renames an event; never claim success.
        Err(LedgerError::Failed(
            "duplicate ids did not resolve within the batch".into(),
        ))
    }
}

/// Drops the events already recorded as they are and renames those recorded otherwise; returns
/// the events to append and how many were dropped.
fn dedupe(recorded: &dyn Recorded, events: Vec<Event>) -> (Vec<Event>, usize) {
    let mut out = Vec::with_capacity(events.len());
    let mut duplicates = 0;
    let mut renamed = std::collections::HashMap::new();
    for mut e in events {
        // An event that points at a renamed one follows it before it is compared.
        if let Some(target) = pointer(&mut e)
            && let Some(fresh) = renamed.get(target)
        {
            *target = *fresh;
        }
        match recorded.recorded(e.id) {
            None => out.push(e),
            Some(stored) if stored == e => duplicates += 1,
            Some(_) => {
                let old = e.id;
                out.push(e);
                let last = out.len() - 1;
                renamed.insert(old, rename(&mut out, last));
            }
        }
    }
    (out, duplicates)
}

/// The id an event made here points at (a response's request, a tool call's request).
fn pointer(e: &mut Event) -> Option<&mut Uuid> {
    match &mut e.body {
        Body::LlmResponse(r) => r.request_id.as_mut(),
        Body::ToolCall(t) => t.request_id.as_mut(),
        _ => None,
    }
}

/// Gives `events[pos]` a fresh id, which the events that pointed at the old one follow;
/// returns it.
fn rename(events: &mut [Event], pos: usize) -> Uuid {
    let old = events[pos].id;
    let fresh = Uuid::now_v7();
    events[pos].id = fresh;
    for e in events.iter_mut() {
        if let Some(target) = pointer(e)
            && *target == old
        {
            *target = fresh;
        }
    }
    fresh
}

fn ledger_refusal(encoding: Encoding, e: &LedgerError, events: usize) -> Response {
    match e {
        LedgerError::BatchTooLarge { bytes, capacity } => refuse(
            encoding,
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the export maps to {bytes} bytes of events, more than one ledger segment \
                 ({capacity} bytes) holds; export smaller batches"
            ),
            None,
        ),
        _ => {
            tracing::error!(error = %e, events, "otlp ingest failed");
            refuse(
                encoding,
                StatusCode::SERVICE_UNAVAILABLE,
                "the ledger cannot durably record events right now; nothing was recorded",
                Some(RETRY_AFTER_UNAVAILABLE),
            )
        }
    }
}

/// Serves the OTLP routes alone (the `otlp.listen` listener): anything else is 404.
pub fn standalone(state: OtlpState) -> Router {
    router(state).fallback(|| async {
        (
            StatusCode::NOT_FOUND,
            "only /v1/traces and /v1/logs are served here\n",
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::sync::Mutex;

    use axum::body::Body;
    use llmtrail_ledger::journal::AppendFuture;
    use tower::ServiceExt as _;

    use super::*;

    /// A journal that records what it is given, or fails.
    #[derive(Default)]
    struct Memory {
        events: Mutex<Vec<Event>>,
        fail: bool,
    }

    impl Journal for Memory {
        fn append<'a>(&'a self, events: &'a [Event]) -> AppendFuture<'a> {
            Box::pin(async move {
                if self.fail {
                    return Err(LedgerError::Closed);
                }
                let mut stored = self.events.lock().unwrap();
                if let Some(dup) = events.iter().find(|e| stored.iter().any(|s| s.id == e.id)) {
                    return Err(LedgerError::Duplicate(dup.id));
                }
                stored.extend_from_slice(events);
                Ok(Vec::new())
            })
        }
    }

    impl Recorded for Memory {
        fn recorded(&self, id: Uuid) -> Option<Event> {
            self.events
                .lock()
                .unwrap()
                .iter()
                .find(|e| e.id == id)
                .cloned()
        }
    }

    fn setup(fail: bool, require_token: bool) -> (Router, Arc<Memory>, String, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, path) = Tokens::load_or_init(dir.path()).unwrap();
        let token = std::fs::read_to_string(path.unwrap())
            .unwrap()
            .trim()
            .to_owned();
        let memory = Arc::new(Memory {
            fail,
            ..Memory::default()
        });
        let config = OtlpConfig {
            require_token,
            max_body_bytes: 4096,
            ..OtlpConfig::default()
        };
        let state = OtlpState::new(&config, memory.clone(), memory.clone(), Arc::new(tokens));
        (router(state), memory, token, dir)
    }

    const CHAT: &str = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[
        {"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"chat",
         "startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000001000000000",
         "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}}]},
        {"traceId":"5b8e","spanId":"eee19b7ec3c1b174"}]}]}]}"#;

    async fn post(
        app: &Router,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = http::Request::post(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = app
            .clone()
            .oneshot(req.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, headers, bytes)
    }

    #[tokio::test]
    async fn partial_success_keeps_the_valid_span() {
        let (app, memory, token, _dir) = setup(false, true);
        let auth = format!("Bearer {token}");
        let (status, headers, body) = post(
            &app,
            "/v1/traces",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            CHAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["partialSuccess"]["rejectedSpans"], "1");
        let msg = v["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(
            msg.contains("spans[1]: traceId must be 32 hex digits"),
            "{msg}"
        );
        assert_eq!(memory.events.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_retried_export_records_nothing_twice_and_a_conflict_loses_nothing() {
        let (app, memory, token, _dir) = setup(false, true);
        let auth = format!("Bearer {token}");
        let headers = [
            ("content-type", "application/json"),
            ("authorization", auth.as_str()),
        ];
        for _ in 0..2 {
            let (status, _, body) = post(&app, "/v1/traces", &headers, CHAT.into()).await;
            assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        }
        assert_eq!(
            memory.events.lock().unwrap().len(),
            2,
            "the retry added nothing"
        );
        // Same span ids, other content: kept under fresh ids, the response still points at
        // its request.
        let conflicting = CHAT.replace(
            "\"chat\"}}]},",
            "\"chat\"}},{\"key\":\"x\",\"value\":{\"intValue\":\"1\"}}]},",
        );
        assert_ne!(conflicting, CHAT);
        let (status, _, _) = post(&app, "/v1/traces", &headers, conflicting.into()).await;
        assert_eq!(status, StatusCode::OK);
        let events = memory.events.lock().unwrap();
        assert_eq!(events.len(), 4);
        let llmtrail_core::Body::LlmResponse(r) = &events[3].body else {
            panic!("not a response")
        };
        assert_eq!(r.request_id, Some(events[2].id));
        assert_ne!(events[2].id, events[0].id);
    }

    #[tokio::test]
    async fn tokens_are_required_unless_disabled() {
        let (app, memory, _token, _dir) = setup(false, true);
        for auth in [None, Some("Bearer llmt_wrong")] {
            let mut headers = vec![("content-type", "application/json")];
            if let Some(a) = auth {
                headers.push(("authorization", a));
            }
            let (status, hdrs, body) = post(&app, "/v1/logs", &headers, b"{}".to_vec()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            assert_eq!(hdrs[header::WWW_AUTHENTICATE], "Bearer realm=\"llmtrail\"");
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(v["code"], 16);
        }
        assert!(memory.events.lock().unwrap().is_empty());
        let (open, memory, _, _dir) = setup(false, false);
        let (status, _, _) = post(
            &open,
            "/v1/traces",
            &[("content-type", "application/json")],
            CHAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(memory.events.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn refusals_have_the_spec_status_codes() {
        let (app, memory, token, _dir) = setup(false, true);
        let auth = format!("Bearer {token}");
        let cases: Vec<(&str, Option<&str>, Vec<u8>, StatusCode)> = vec![
            (
                "text/plain",
                None,
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "application/json",
                Some("br"),
                b"{}".to_vec(),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ),
            (
                "application/json",
                None,
                b"{\"resourceSpans\":".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/x-protobuf",
                None,
                b"\x0a\xff".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                Some("gzip"),
                b"nope".to_vec(),
                StatusCode::BAD_REQUEST,
            ),
            (
                "application/json",
                None,
                vec![b' '; 5000],
                StatusCode::PAYLOAD_TOO_LARGE,
            ),
        ];
        for (ct, ce, body, want) in cases {
            let mut headers = vec![("content-type", ct), ("authorization", auth.as_str())];
            if let Some(ce) = ce {
                headers.push(("content-encoding", ce));
            }
            let (status, hdrs, _) = post(&app, "/v1/traces", &headers, body).await;
            assert_eq!(status, want, "{ct} {ce:?}");
            assert!(hdrs.get(header::RETRY_AFTER).is_none());
        }
        assert!(memory.events.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failing_ledger_is_503_with_retry_after() {
        let (app, _memory, token, _dir) = setup(true, true);
        let auth = format!("Bearer {token}");
        // An empty protobuf request maps to no events: nothing to append, so 200.
        let (status, headers, body) = post(
            &app,
            "/v1/traces",
            &[
                ("content-type", "application/x-protobuf"),
                ("authorization", &auth),
            ],
            Vec::new(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.is_empty(), "an empty ExportTraceServiceResponse");
        assert!(headers.get(header::RETRY_AFTER).is_none());
        let (status, headers, body) = post(
            &app,
            "/v1/traces",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            CHAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(headers[header::RETRY_AFTER], "5");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], 14);
    }

    #[tokio::test]
    async fn busy_receivers_answer_429() {
        let (app, _memory, token, _dir) = setup(false, true);
        let auth = format!("Bearer {token}");
        // A receiver of one permit, held here as a slow export would hold it.
        let state_permits = {
            let dir = tempfile::tempdir().unwrap();
            let (tokens, _) = Tokens::load_or_init(dir.path()).unwrap();
            let config = OtlpConfig {
                require_token: false,
                max_concurrent_requests: 1,
                ..OtlpConfig::default()
            };
            let memory = Arc::new(Memory::default());
            OtlpState::new(&config, memory.clone(), memory, Arc::new(tokens))
        };
        let _held = Arc::clone(&state_permits.permits)
            .acquire_owned()
            .await
            .unwrap();
        let busy = router(state_permits);
        let (status, headers, _) = post(
            &busy,
            "/v1/traces",
            &[("content-type", "application/json")],
            CHAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "1");
        // The other receiver is not busy.
        let (status, _, _) = post(
            &app,
            "/v1/traces",
            &[
                ("content-type", "application/json"),
                ("authorization", &auth),
            ],
            CHAT.into(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
}
