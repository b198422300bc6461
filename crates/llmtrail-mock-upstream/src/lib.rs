//! A fast, deterministic mock of the OpenAI and Anthropic HTTP APIs.
//!
//! It stands in for a real LLM provider in llmtrail's integration tests (in-process, through
//! [`MockUpstream`]) and in benchmarks (through the `llmtrail-mock-upstream` binary). It speaks
//! the wire formats the official `openai` and `anthropic` Python SDKs parse, JSON and SSE alike.
//!
//! # Routes
//!
//! | method | path | API |
//! | --- | --- | --- |
//! | `POST` | `/v1/chat/completions` | OpenAI Chat Completions |
//! | `POST` | `/v1/responses` | OpenAI Responses |
//! | `POST` | `/v1/embeddings` | OpenAI Embeddings |
//! | `GET` | `/v1/models`, `/v1/models/{id}` | model list (Anthropic format when the request has an `anthropic-version` header) |
//! | `POST` | `/v1/messages` | Anthropic Messages |
//!
//! Anything else is a 404 with an OpenAI-style error body. A body that is not a JSON object is a
//! 400 in the provider's error format; a body over [`MAX_REQUEST_BODY`] is a 413.
//!
//! # Behaviour by model name
//!
//! The request's `model` field picks the behaviour, so tests share no state with the mock:
//!
//! | model | behaviour |
//! | --- | --- |
//! | anything not below | answers `echo: <text of the last user message>` (embeddings: a deterministic vector per input) |
//! | `mock-tool` | asks for a call of the tool `get_weather` with `{"city":"Paris","unit":"celsius"}`; once the last message is a tool result, answers `tool said: <tool result text>` |
//! | `mock-error-NNN` | HTTP status `NNN` (400–599) with the provider's error JSON, also for streaming requests |
//! | `mock-slow`, `mock-slow-N` | the echo answer in 5 content chunks with a pause of `N` ms (default 200) before each; non-streaming requests wait the total |
//! | `mock-hang` | never answers; the connection stays open until the mock is dropped |
//! | `mock-reset` | streaming: the first two SSE events, then the connection is closed without the end of the chunked body; otherwise the connection is closed without a response |
//! | `mock-garbage` | streaming: a 200 event stream of non-JSON `data:` lines; otherwise a 200 `application/json` response whose body is not JSON |
//! | `mock-long-N` | an answer of exactly `N` bytes of text (capped at [`MAX_LONG_ANSWER`]), streamed in chunks of about 1 KiB |
//!
//! Streaming is chosen by `"stream": true`. OpenAI's `stream_options.include_usage` adds the
//! final usage chunk. Every response carries `x-mock-request-count`: how many requests the mock
//! has seen, this one included.
//!
//! # Determinism
//!
//! Timestamps are the constant [`CREATED`]; identifiers end with the request's sequence number
//! (1 for the first request the mock saw); token counts are counts of whitespace-separated words.
//!
//! # Example
//!
//! ```
//! let mock = llmtrail_mock_upstream::MockUpstream::start()?;
//! let url = format!("{}/v1/models", mock.base_url());
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert_eq!(mock.request_count(), 0);
//! # Ok::<(), std::io::Error>(())
//! ```

mod anthropic;
mod behaviour;
mod body;
mod openai;
mod prompt;
mod server;
mod sse;

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

pub use behaviour::{MAX_LONG_ANSWER, SLOW_CHUNKS};
pub use server::MAX_REQUEST_BODY;

/// The `created` timestamp of every object the mock returns (seconds since the Unix epoch).
pub const CREATED: u64 = 1_700_000_000;
/// The name of the tool that `mock-tool` asks to call.
pub const TOOL_NAME: &str = "get_weather";
/// The JSON arguments of the tool call that `mock-tool` asks for.
pub const TOOL_ARGUMENTS: &str = r#"{"city":"Paris","unit":"celsius"}"#;
/// The OpenAI `tool_calls[].id` / Responses `call_id` of the tool call.
pub const TOOL_CALL_ID: &str = "call_mock_1";
/// The Responses `function_call` item id of the tool call.
pub const FUNCTION_CALL_ITEM_ID: &str = "fc_mock_1";
/// The Anthropic `tool_use` block id of the tool call.
pub const TOOL_USE_ID: &str = "toolu_mock_1";

/// One request the mock received, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// The HTTP method, such as `POST`.
    pub method: String,
    /// The request path without the query, such as `/v1/chat/completions`.
    pub path: String,
    /// The headers in arrival order, names in lowercase; values not valid UTF-8 are converted
    /// lossily.
    pub headers: Vec<(String, String)>,
    /// The request body.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// Returns the value of the first header called `name` (matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses the body as JSON.
    ///
    /// # Errors
    ///
    /// Returns the parser's error when the body is not valid JSON.
    pub fn body_json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

/// Settings of a [`MockUpstream`] beyond its address.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Keeps a copy of every request for [`MockUpstream::requests`] (default `true`). A
    /// benchmark turns it off so that memory stays flat; the count is kept either way.
    pub record: bool,
    /// Worker threads of the mock's runtime (default 1: a single-threaded runtime, which is
    /// the fastest per core).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            record: true,
            threads: 1,
        }
    }
}

/// State shared between the handle and the server.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) record: bool,
    pub(crate) count: AtomicUsize,
    pub(crate) requests: Mutex<Vec<ReceivedRequest>>,
    /// Milliseconds to wait before answering any request ([`MockUpstream::set_delay`]).
    pub(crate) delay_ms: std::sync::atomic::AtomicU64,
}

/// A running mock provider, serving on its own thread with its own tokio runtime.
///
/// It works the same from a plain `#[test]` and from inside a tokio runtime. Dropping it stops
/// the server, closes every connection (including those of `mock-hang` requests) and frees the
/// port before `drop` returns.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl MockUpstream {
    /// Starts a mock on `127.0.0.1` with a port chosen by the system.
    ///
    /// # Errors
    ///
    /// Returns an error when the socket cannot be bound or the server thread cannot start.
    pub fn start() -> std::io::Result<MockUpstream> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts a mock on `addr`.
    ///
    /// # Errors
    ///
    /// Returns an error when the socket cannot be bound (for example when the port is taken)
    /// or the server thread cannot start.
    pub fn start_on(addr: SocketAddr) -> std::io::Result<MockUpstream> {
        Self::start_with(addr, Options::default())
    }

    /// Starts a mock on `addr` with the given options.
    ///
    /// # Errors
    ///
    /// Returns an error when the socket cannot be bound, the runtime cannot be built or the
    /// server thread cannot start.
    pub fn start_with(addr: SocketAddr, options: Options) -> std::io::Result<MockUpstream> {
        // Bound here rather than on the server thread so that a taken port is the caller's
        // error and the address is known before this returns.
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = if options.threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?
        } else {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.threads)
                .thread_name("llmtrail-mock-upstream")
                .enable_all()
                .build()?
        };
        let listener = {
            // Registering the socket needs the runtime's reactor, not a running runtime.
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            record: options.record,
            count: AtomicUsize::new(0),
            requests: Mutex::new(Vec::new()),
            delay_ms: std::sync::atomic::AtomicU64::new(0),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("llmtrail-mock-upstream".to_owned())
            .spawn(move || {
                runtime.block_on(server::serve(listener, server_shared, stopped));
                // Dropping the runtime here cancels every connection task, which closes the
                // sockets of requests that were still waiting (mock-hang).
                drop(runtime);
            })?;
        Ok(MockUpstream {
            addr,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Returns the address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the base URL of the mock, such as `http://127.0.0.1:41234`, without a trailing
    /// slash and without `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Returns a copy of every request received so far, in the order their bodies were read.
    ///
    /// It is empty when recording is off ([`Options::record`]).
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Makes every later answer wait `delay` after the request body was read, whatever the
    /// model: a provider whose latency drifts.
    pub fn set_delay(&self, delay: std::time::Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.shared.delay_ms.store(ms, Ordering::Relaxed);
    }

    /// Returns the number of requests received so far.
    pub fn request_count(&self) -> usize {
        self.shared.count.load(Ordering::Relaxed)
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone; there is nothing else to stop then.
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // A panic on the server thread has already been reported by the panic hook.
            let _ = thread.join();
        }
    }
}
