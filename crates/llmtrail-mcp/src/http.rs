//! `llmtrail mcp proxy`: the Streamable HTTP transport. Every path on the proxy's listener
//! is the one upstream MCP endpoint (`--upstream URL`).
//!
//! - `POST`: the body (one JSON-RPC message or a batch, at most `max_message_bytes`) goes
//!   through the [`Gate`]; what policy refuses is answered by the proxy, the rest is
//!   forwarded with the client's headers (except hop-by-hop ones). The upstream's answer,
//!   `application/json` or `text/event-stream`, comes back with each response to a tracked
//!   call logged (and redacted when configured); a stream is passed on event by event, with
//!   no more buffering than one event.
//! - `GET` (the server's own event stream) and `DELETE` (ending a session) pass through.
//! - Identity: `--user`/`--agent`/`--session` defaults, overridden per request by the
//!   `x-llmtrail-user`, `x-llmtrail-agent` and `x-llmtrail-session` headers (which are not
//!   forwarded); the source address and `User-Agent` are recorded.
//! - Every tracked request gets one answer: when the upstream cannot be reached (`502`,
//!   `-32007`), when it answers with an error status (passed on as it is; the calls are
//!   logged as errors), or when its stream ends before answering (`-32004`, sent as a last
//!   event).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use llmtrail_core::Actor;
use serde_json::Value;
use tokio::net::TcpListener;

use crate::gate::{Call, Conn, Gate};
use crate::jsonrpc::{self, Frame, Kind, Message};
use crate::report::{HttpClient, http_client};
use crate::sse;

const USER_HEADER: &str = "x-llmtrail-user";
const AGENT_HEADER: &str = "x-llmtrail-agent";
const SESSION_HEADER: &str = "x-llmtrail-session";
const MCP_SESSION: &str = "mcp-session-id";

/// The proxy's state.
struct Proxy {
    gate: Arc<Gate>,
    upstream: Uri,
    client: HttpClient,
    defaults: Actor,
    conns: Mutex<HashMap<String, Arc<Conn>>>,
    /// The upstream's `serverInfo`, learned from any connection (there is one upstream).
    server: Mutex<Option<Value>>,
}

/// Serves the proxy on `listener`, forwarding to `upstream`, until the task is dropped.
///
/// # Errors
/// The listener's I/O error.
pub async fn proxy(
    gate: Arc<Gate>,
    upstream: Uri,
    defaults: Actor,
    listener: TcpListener,
) -> std::io::Result<()> {
    let state = Arc::new(Proxy {
        gate,
        upstream,
        client: http_client(),
        defaults,
        conns: Mutex::new(HashMap::new()),
        server: Mutex::new(None),
    });
    let app = Router::new().fallback(handle).with_state(state);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

impl Proxy {
    fn conn(&self, headers: &HeaderMap, peer: SocketAddr) -> Arc<Conn> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let mut actor = self.defaults.clone();
        if let Some(u) = text(USER_HEADER) {
            actor.user = Some(u);
        }
        if let Some(a) = text(AGENT_HEADER) {
            actor.agent = Some(a);
        }
        if let Some(s) = text(SESSION_HEADER) {
            actor.session = Some(s);
        }
        actor.source_ip = Some(peer.ip());
        actor.user_agent = text("user-agent");
        let session = text(MCP_SESSION).unwrap_or_default();
        let known = self.server.lock().ok().and_then(|s| s.clone());
        let fresh = |actor: Actor, session: String| {
            let c = Arc::new(Conn::new(actor, session));
            c.seed_server(known.clone());
            c
        };
        if session.is_empty() {
            return fresh(actor, session);
        }
        let Ok(mut conns) = self.conns.lock() else {
            return fresh(actor, session);
        };
        if conns.len() > 10_000 {
            conns.clear();
        }
        let key = Self::key(&session, &actor);
        Arc::clone(conns.entry(key).or_insert_with(|| fresh(actor, session)))
    }

    fn key(session: &str, actor: &Actor) -> String {
        format!("{session}\u{0}{:?}", actor.user)
    }

    /// After an exchange: remembers the server's identity, and files a connection that
    /// just got its session id (the answer to `initialize`) under it.
    fn learn(&self, conn: &Arc<Conn>, response_headers: &HeaderMap) {
        if let Some(info) = conn.server_info()
            && let Ok(mut s) = self.server.lock()
            && s.is_none()
        {
            *s = Some(info);
        }
        if conn.session.is_empty()
            && let Some(id) = response_headers
                .get(MCP_SESSION)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
            && let Ok(mut conns) = self.conns.lock()
        {
            let c = Arc::new(Conn::new(conn.actor.clone(), id.to_owned()));
            c.seed_server(conn.server_info());
            c.seed_peers_from(conn);
            conns.insert(Self::key(id, &conn.actor), c);
        }
    }

    fn upstream_uri(&self, original: &Uri) -> Uri {
        match (self.upstream.query(), original.query()) {
            (None, Some(q)) => {
                let s = format!("{}?{q}", self.upstream);
                s.parse().unwrap_or_else(|_| self.upstream.clone())
            }
            _ => self.upstream.clone(),
        }
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    ) || name.as_str().starts_with("x-llmtrail-")
}

fn forward_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (k, v) in from {
        if !is_hop_by_hop(k) {
            to.append(k.clone(), v.clone());
        }
    }
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        v.to_string(),
    )
        .into_response()
}

async fn handle(
    State(p): State<Arc<Proxy>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    if req.method() != Method::POST {
        return pass_through(&p, req).await;
    }
    let (parts, body) = req.into_parts();
    let max = p.gate.max_message_bytes;
    let conn = p.conn(&parts.headers, peer);
    let bytes = match Limited::new(body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let why = format!("message is over the limit of {max} bytes");
            p.gate.invalid_message(&conn, "client", max, &why).await;
            let e = jsonrpc::error_response(&Value::Null, jsonrpc::TOO_LARGE, &why, None);
            return json_response(StatusCode::PAYLOAD_TOO_LARGE, &e);
        }
    };
    let frame = match jsonrpc::parse(&bytes) {
        Ok(f) => f,
        Err(e) => {
            p.gate
                .invalid_message(&conn, "client", bytes.len(), &e.to_string())
                .await;
            let resp = jsonrpc::error_response(&Value::Null, e.code(), &e.to_string(), None);
            return json_response(StatusCode::BAD_REQUEST, &resp);
        }
    };
    let batch = matches!(frame, Frame::Batch(_));
    let mut forward = Vec::new();
    let mut replies = Vec::new();
    let mut calls: HashMap<String, Call> = HashMap::new();
    for m in frame.into_messages() {
        match admit(&p, &conn, m).await {
            Admitted::Forward(v, call) => {
                if let Some(c) = call {
                    calls.insert(jsonrpc::id_key(&c.id), c);
                }
                forward.push(v);
            }
            Admitted::Reply(v) => replies.push(v),
        }
    }
    if forward.is_empty() {
        let v = if batch || replies.len() != 1 {
            Value::Array(replies)
        } else {
            replies.pop().unwrap_or(Value::Null)
        };
        return json_response(StatusCode::OK, &v);
    }
    let body = if batch {
        Value::Array(forward)
    } else {
        forward.pop().unwrap_or(Value::Null)
    };
    let mut up = http::Request::builder()
        .method(Method::POST)
        .uri(p.upstream_uri(&parts.uri));
    if let Some(h) = up.headers_mut() {
        forward_headers(&parts.headers, h);
    }
    let Ok(up) = up.body(Full::new(Bytes::from(body.to_string()))) else {
        return json_response(
            StatusCode::BAD_GATEWAY,
            &jsonrpc::error_response(
                &Value::Null,
                jsonrpc::UPSTREAM_FAILED,
                "bad upstream request",
                None,
            ),
        );
    };
    let resp = match p.client.request(up).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "MCP upstream unreachable");
            for (_, call) in calls.drain() {
                replies.push(
                    p.gate
                        .fail(
                            &conn,
                            call,
                            jsonrpc::UPSTREAM_FAILED,
                            "the upstream MCP server could not be reached",
                        )
                        .await,
                );
            }
            let v = if batch || replies.len() != 1 {
                Value::Array(replies)
            } else {
                replies.pop().unwrap_or(Value::Null)
            };
            return json_response(StatusCode::BAD_GATEWAY, &v);
        }
    };
    let (rparts, rbody) = resp.into_parts();
    let mut headers = HeaderMap::new();
    forward_headers(&rparts.headers, &mut headers);
    let ctype = rparts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !rparts.status.is_success() {
        for (_, call) in calls.drain() {
            let why = format!(
                "the upstream MCP server answered HTTP {}",
                rparts.status.as_u16()
            );
            let _ = p
                .gate
                .fail(&conn, call, jsonrpc::UPSTREAM_FAILED, &why)
                .await;
        }
        let mut r = Response::new(Body::new(rbody));
        *r.status_mut() = rparts.status;
        *r.headers_mut() = headers;
        return r;
    }
    if ctype.starts_with("text/event-stream") {
        let stream = sse_stream(
            Arc::clone(&p),
            conn,
            calls,
            replies,
            rbody,
            rparts.headers.clone(),
        );
        let mut r = Response::new(Body::from_stream(stream));
        *r.status_mut() = rparts.status;
        *r.headers_mut() = headers;
        return r;
    }
    // A JSON answer (or an empty 202 for notifications).
    let bytes = match Limited::new(rbody, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let why = "the upstream MCP server's answer is over the message limit";
            p.gate.invalid_message(&conn, "server", max, why).await;
            for (_, call) in calls.drain() {
                replies.push(p.gate.fail(&conn, call, jsonrpc::TOO_LARGE, why).await);
            }
            return json_response(StatusCode::BAD_GATEWAY, &Value::Array(replies));
        }
    };
    if bytes.is_empty() && calls.is_empty() && replies.is_empty() {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = rparts.status;
        *r.headers_mut() = headers;
        return r;
    }
    let mut out = Vec::new();
    match jsonrpc::parse(&bytes) {
        Ok(frame) => {
            for m in frame.into_messages() {
                out.push(complete(&p, &conn, &mut calls, m).await);
            }
        }
        Err(e) => {
            let why =
                format!("the upstream MCP server answered something that is not JSON-RPC ({e})");
            p.gate
                .invalid_message(&conn, "server", bytes.len(), &why)
                .await;
        }
    }
    for (_, call) in calls.drain() {
        out.push(
            p.gate
                .fail(
                    &conn,
                    call,
                    jsonrpc::SERVER_GONE,
                    "the upstream MCP server did not answer this request",
                )
                .await,
        );
    }
    out.extend(replies);
    let v = if batch || out.len() != 1 {
        Value::Array(out)
    } else {
        out.pop().unwrap_or(Value::Null)
    };
    p.learn(&conn, &rparts.headers);
    let mut r = json_response(rparts.status, &v);
    for (k, val) in &headers {
        if k != header::CONTENT_TYPE {
            r.headers_mut().append(k.clone(), val.clone());
        }
    }
    r
}

enum Admitted {
    Forward(Value, Option<Call>),
    Reply(Value),
}

async fn admit(p: &Proxy, conn: &Arc<Conn>, m: Message) -> Admitted {
    match &m.kind {
        Kind::Invalid => {
            let why = "not a JSON-RPC 2.0 request, notification or response";
            p.gate
                .invalid_message(conn, "client", m.value.to_string().len(), why)
                .await;
            Admitted::Reply(jsonrpc::error_response(
                &jsonrpc::salvage_id(&m.value),
                jsonrpc::INVALID_REQUEST,
                why,
                None,
            ))
        }
        Kind::Request { .. } => match p.gate.plan(conn, &m) {
            None => Admitted::Forward(m.value, None),
            Some(call) => match p.gate.admit(conn, call).await {
                Ok(call) => Admitted::Forward(m.value, Some(call)),
                Err(resp) => Admitted::Reply(resp),
            },
        },
        _ => Admitted::Forward(m.value, None),
    }
}

async fn complete(p: &Proxy, conn: &Conn, calls: &mut HashMap<String, Call>, m: Message) -> Value {
    let mut value = m.value;
    if let Kind::Response { id, .. } = &m.kind
        && let Some(call) = calls.remove(&jsonrpc::id_key(id))
    {
        p.gate.complete(conn, call, &mut value).await;
    }
    value
}

fn sse_stream(
    p: Arc<Proxy>,
    conn: Arc<Conn>,
    calls: HashMap<String, Call>,
    replies: Vec<Value>,
    body: hyper::body::Incoming,
    response_headers: HeaderMap,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut calls = calls;
        for r in replies {
            let _ = tx.send(Ok(Bytes::from(sse::message(&r.to_string())))).await;
        }
        let max = p.gate.max_message_bytes;
        let mut split = sse::Splitter::default();
        let mut frames = body.into_data_stream();
        let mut failed = false;
        while let Some(chunk) = frames.next().await {
            let Ok(chunk) = chunk else {
                break;
            };
            for ev in split.push(&chunk) {
                let out = match sse::data(&ev).map(|d| jsonrpc::parse(d.as_bytes())) {
                    Some(Ok(frame)) if !calls.is_empty() => {
                        let batch = matches!(frame, Frame::Batch(_));
                        let mut vals = Vec::new();
                        for m in frame.into_messages() {
                            vals.push(complete(&p, &conn, &mut calls, m).await);
                        }
                        let v = if batch {
                            Value::Array(vals)
                        } else {
                            vals.pop().unwrap_or(Value::Null)
                        };
                        sse::with_data(&ev, &v.to_string())
                    }
                    _ => ev,
                };
                p.learn(&conn, &response_headers);
                if tx.send(Ok(Bytes::from(out))).await.is_err() {
                    // The client went away; the calls still pending are logged below.
                    failed = true;
                    break;
                }
            }
            if failed {
                break;
            }
            if split.buffered() > max {
                let why = "the upstream MCP server sent an event over the message limit";
                p.gate
                    .invalid_message(&conn, "server", split.take().len(), why)
                    .await;
                for (_, call) in calls.drain() {
                    let e = p.gate.fail(&conn, call, jsonrpc::TOO_LARGE, why).await;
                    let _ = tx.send(Ok(Bytes::from(sse::message(&e.to_string())))).await;
                }
            }
        }
        for (_, call) in calls.drain() {
            let why = if failed {
                "the client disconnected before the response"
            } else {
                "the upstream MCP server's stream ended before the response"
            };
            let e = p.gate.fail(&conn, call, jsonrpc::SERVER_GONE, why).await;
            let _ = tx.send(Ok(Bytes::from(sse::message(&e.to_string())))).await;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) })
}

async fn pass_through(p: &Proxy, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let max = p.gate.max_message_bytes;
    let bytes = match Limited::new(body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let mut up = http::Request::builder()
        .method(parts.method.clone())
        .uri(p.upstream_uri(&parts.uri));
    if let Some(h) = up.headers_mut() {
        forward_headers(&parts.headers, h);
    }
    let Ok(up) = up.body(Full::new(bytes)) else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    match p.client.request(up).await {
        Ok(resp) => {
            let (rparts, rbody) = resp.into_parts();
            let mut r = Response::new(Body::new(rbody));
            *r.status_mut() = rparts.status;
            forward_headers(&rparts.headers, r.headers_mut());
            r
        }
        Err(_) => StatusCode::BAD_GATEWAY.into_response(),
    }
}
