//! The HTTP/1.1 server: accepting connections, routing, recording and answering.
//!
//! Per-request work is kept small for benchmarks: one JSON parse of the request, one JSON
//! serialization of the answer, no logging. Connections are kept alive and have no read
//! timeout, so a `mock-hang` request waits until the mock is dropped.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::behaviour::{Behaviour, SLOW_CHUNKS};
use crate::body::MockBody;
use crate::prompt::{self, Answer, Ctx};
use crate::sse::{self, Chunk};
use crate::{ReceivedRequest, Shared, anthropic, openai};

/// Largest request body read, in bytes; a larger one gets a 413.
pub const MAX_REQUEST_BODY: usize = 64 * 1024 * 1024;
/// How long the accept loop waits after an accept error (such as running out of descriptors)
/// before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

static REQUEST_COUNT: HeaderName = HeaderName::from_static("x-mock-request-count");
static OPENAI_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static ANTHROPIC_REQUEST_ID: HeaderName = HeaderName::from_static("request-id");

/// Serves connections from `listener` until `stopped` fires (or its sender is dropped).
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut builder = http1::Builder::new();
    builder.keep_alive(true).header_read_timeout(None);
    loop {
        tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    // Small SSE chunks must leave at once, not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    let service = service_fn(move |request| handle(request, Arc::clone(&shared)));
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::spawn(async move {
                        // Errors here are clients going away and mock-reset's aborts.
                        let _ = connection.await;
                    });
                }
                Err(_) => tokio::time::sleep(ACCEPT_BACKOFF).await,
            }
        }
    }
}

/// The endpoint a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    ChatCompletions,
    Responses,
    Embeddings,
    Messages,
    Models,
    Model(String),
    NotFound,
}

impl Route {
    fn of(method: &Method, path: &str) -> Self {
        match (method, path) {
            (&Method::POST, "/v1/chat/completions") => Self::ChatCompletions,
            (&Method::POST, "/v1/responses") => Self::Responses,
            (&Method::POST, "/v1/embeddings") => Self::Embeddings,
            (&Method::POST, "/v1/messages") => Self::Messages,
            (&Method::GET, "/v1/models") => Self::Models,
            (&Method::GET, _) => match path.strip_prefix("/v1/models/") {
                Some(id) if !id.is_empty() => Self::Model(id.to_owned()),
                _ => Self::NotFound,
            },
            _ => Self::NotFound,
        }
    }
}

/// Whose error format and headers a response uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavor {
    OpenAi,
    Anthropic,
}

impl Flavor {
    fn of(route: &Route, headers: &HeaderMap) -> Self {
        match route {
            Route::Messages => Self::Anthropic,
            Route::Models | Route::Model(_) if headers.contains_key("anthropic-version") => {
                Self::Anthropic
            }
            _ => Self::OpenAi,
        }
    }

    fn error(self, status: u16, message: &str) -> Value {
        match self {
            Self::OpenAi => openai::error(status, message),
            Self::Anthropic => anthropic::error(status, message),
        }
    }
}

/// Reads, records and answers one request. An `Err` makes hyper close the connection without
/// a response (or in the middle of one).
async fn handle(request: Request<Incoming>, shared: Arc<Shared>) -> io::Result<Response<MockBody>> {
    let (parts, body) = request.into_parts();
    let route = Route::of(&parts.method, parts.uri.path());
    let flavor = Flavor::of(&route, &parts.headers);
    let (body, too_large) = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
        Ok(collected) => (collected.to_bytes(), false),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => (Bytes::new(), true),
        // The client went away while sending.
        Err(err) => return Err(io::Error::other(err)),
    };
    let seq = shared.count.fetch_add(1, Ordering::Relaxed) + 1;
    if shared.record {
        let received = ReceivedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_owned(), value)
                })
                .collect(),
            body: body.to_vec(),
        };
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(received);
    }
    let delay = shared.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    }
    let reply = Reply { flavor, seq };
    if too_large {
        let message = format!("request body exceeds {MAX_REQUEST_BODY} bytes");
        return Ok(reply.error(StatusCode::PAYLOAD_TOO_LARGE, &message));
    }
    match route {
        Route::NotFound => {
            let message = format!("Invalid URL ({} {})", parts.method, parts.uri.path());
            Ok(reply.error(StatusCode::NOT_FOUND, &message))
        }
        Route::Models => Ok(reply.json(
            StatusCode::OK,
            &match flavor {
                Flavor::OpenAi => openai::models(),
                Flavor::Anthropic => anthropic::models(),
            },
        )),
        Route::Model(id) => Ok(reply.json(
            StatusCode::OK,
            &match flavor {
                Flavor::OpenAi => openai::model(&id),
                Flavor::Anthropic => anthropic::model(&id),
            },
        )),
        Route::ChatCompletions | Route::Responses | Route::Embeddings | Route::Messages => {
            generate(&route, reply, &body).await
        }
    }
}

/// Answers a request that names a model.
async fn generate(route: &Route, reply: Reply, body: &[u8]) -> io::Result<Response<MockBody>> {
    let request = match serde_json::from_slice::<Value>(body) {
        Ok(request @ Value::Object(_)) => request,
        Ok(_) => {
            return Ok(reply.error(
                StatusCode::BAD_REQUEST,
                "the request body must be a JSON object",
            ));
        }
        Err(err) => {
            let message = format!("could not parse the JSON body of your request: {err}");
            return Ok(reply.error(StatusCode::BAD_REQUEST, &message));
        }
    };
    let model = request.get("model").and_then(Value::as_str).unwrap_or("");
    let behaviour = Behaviour::from_model(model);
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    match behaviour {
        Behaviour::Error(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let message = format!("mock error {code} requested by model {model}");
            return Ok(reply.error(status, &message));
        }
        // Dropping the mock drops this future, which closes the connection.
        Behaviour::Hang => return std::future::pending().await,
        // Embeddings never stream, so a reset there is always the no-response kind.
        Behaviour::Reset if !stream || *route == Route::Embeddings => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "mock-reset closes the connection",
            ));
        }
        Behaviour::Garbage if stream => {
            return Ok(reply.sse(sse::garbage(), Duration::ZERO, false));
        }
        Behaviour::Garbage => {
            let garbage = "{\"id\": \"garbage\", \"choices\": [ this is not json <html>";
            return Ok(reply.raw(StatusCode::OK, "application/json", MockBody::full(garbage)));
        }
        _ => {}
    }
    let pause = match behaviour {
        Behaviour::Slow(pause) => pause,
        _ => Duration::ZERO,
    };
    if *route == Route::Embeddings {
        if !pause.is_zero() {
            tokio::time::sleep(total_pause(pause)).await;
        }
        return Ok(match openai::embeddings(&request, model) {
            Ok(embeddings) => reply.json(StatusCode::OK, &embeddings),
            Err(message) => reply.error(StatusCode::BAD_REQUEST, message),
        });
    }
    let prompt = match route {
        Route::Messages => prompt::anthropic(&request),
        Route::Responses => prompt::openai_responses(&request),
        _ => prompt::openai_chat(&request),
    };
    let answer = Answer::new(behaviour, &prompt);
    let ctx = Ctx {
        request: &request,
        model,
        seq: reply.seq,
        input_tokens: prompt.input_tokens,
    };
    if stream {
        let pieces = match &answer {
            Answer::Text(text) => prompt::pieces(text, behaviour),
            Answer::ToolCall => Vec::new(),
        };
        let mut chunks = match route {
            Route::Messages => anthropic::message_events(&ctx, &answer, &pieces),
            Route::Responses => openai::response_events(&ctx, &answer, &pieces),
            _ => openai::chat_completion_chunks(&ctx, &answer, &pieces),
        };
        let abort = behaviour == Behaviour::Reset;
        if abort {
            chunks.truncate(2);
        }
        Ok(reply.sse(chunks, pause, abort))
    } else {
        if !pause.is_zero() {
            tokio::time::sleep(total_pause(pause)).await;
        }
        let body = match route {
            Route::Messages => anthropic::message(&ctx, &answer),
            Route::Responses => openai::response(&ctx, &answer),
            _ => openai::chat_completion(&ctx, &answer),
        };
        Ok(reply.json(StatusCode::OK, &body))
    }
}

/// What a `mock-slow` stream spends pausing, which its non-streaming answer waits at once.
fn total_pause(pause: Duration) -> Duration {
    pause.saturating_mul(SLOW_CHUNKS as u32)
}

/// Builds responses with the headers every response carries.
#[derive(Debug, Clone, Copy)]
struct Reply {
    flavor: Flavor,
    seq: usize,
}

impl Reply {
    fn raw(
        self,
        status: StatusCode,
        content_type: &'static str,
        body: MockBody,
    ) -> Response<MockBody> {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(&REQUEST_COUNT, HeaderValue::from(self.seq));
        if let Ok(id) = HeaderValue::try_from(format!("req_mock_{}", self.seq)) {
            let name = match self.flavor {
                Flavor::OpenAi => &OPENAI_REQUEST_ID,
                Flavor::Anthropic => &ANTHROPIC_REQUEST_ID,
            };
            headers.insert(name, id);
        }
        response
    }

    fn json(self, status: StatusCode, body: &Value) -> Response<MockBody> {
        self.raw(
            status,
            "application/json",
            MockBody::full(sse::to_json(body)),
        )
    }

    fn error(self, status: StatusCode, message: &str) -> Response<MockBody> {
        self.json(status, &self.flavor.error(status.as_u16(), message))
    }

    fn sse(self, chunks: Vec<Chunk>, pause: Duration, abort: bool) -> Response<MockBody> {
        let mut response = self.raw(
            StatusCode::OK,
            "text/event-stream",
            MockBody::chunks(chunks, pause, abort),
        );
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            Route::of(&Method::POST, "/v1/chat/completions"),
            Route::ChatCompletions
        );
        assert_eq!(
            Route::of(&Method::GET, "/v1/chat/completions"),
            Route::NotFound
        );
        assert_eq!(Route::of(&Method::POST, "/v1/messages"), Route::Messages);
        assert_eq!(Route::of(&Method::GET, "/v1/models"), Route::Models);
        assert_eq!(
            Route::of(&Method::GET, "/v1/models/gpt-4o"),
            Route::Model("gpt-4o".into())
        );
        assert_eq!(Route::of(&Method::GET, "/v1/models/"), Route::NotFound);
        assert_eq!(Route::of(&Method::POST, "/v2/messages"), Route::NotFound);
    }

    #[test]
    fn flavor_follows_route_and_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(Flavor::of(&Route::Messages, &headers), Flavor::Anthropic);
        assert_eq!(Flavor::of(&Route::Models, &headers), Flavor::OpenAi);
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        assert_eq!(Flavor::of(&Route::Models, &headers), Flavor::Anthropic);
        assert_eq!(
            Flavor::of(&Route::ChatCompletions, &headers),
            Flavor::OpenAi
        );
    }
}
