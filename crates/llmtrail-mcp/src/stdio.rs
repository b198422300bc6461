//! `llmtrail mcp wrap`: a stdio proxy that an MCP client launches instead of the server.
//!
//! The client writes newline-delimited JSON-RPC to our stdin; we start the real server as a
//! child with piped stdin and stdout (its stderr is ours), pass each message through the
//! [`Gate`], and pass each answer back. Contract:
//!
//! - Every request gets exactly one answer: the server's, or ours when policy refused it,
//!   when it could not be logged, when it was not valid JSON-RPC (`-32700`/`-32600`), or when
//!   the server exited or wrote something that is not JSON-RPC while it was pending
//!   (`-32004`/`-32005`): never a hang.
//! - A message over `max_message_bytes`, in either direction, is dropped unread and answered
//!   with `-32006` (from the client) or fails the pending calls (from the server).
//! - When the server exits, the pending calls are failed and `wrap` exits with the server's
//!   status, so the client sees the server go away as it would without the proxy.
//! - A held call waits in its own task: other messages keep flowing meanwhile.

use std::collections::HashMap;
use std::ffi::OsString;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc;

use crate::config::Action;
use crate::gate::{Call, Conn, Gate};
use crate::jsonrpc::{self, Frame, Kind, Message};
use crate::lines::{Line, LineReader};

type Pending = Arc<Mutex<HashMap<String, Call>>>;

/// Why `wrap` could not run.
#[derive(Debug, thiserror::Error)]
pub enum WrapError {
    /// The server command could not be started.
    #[error("cannot start the MCP server `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Our own standard input or output failed.
    #[error("client stream: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared {
    gate: Arc<Gate>,
    conn: Arc<Conn>,
    pending: Pending,
    to_client: mpsc::Sender<Vec<u8>>,
    to_server: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
}

impl Shared {
    async fn send_server(&self, v: &Value) {
        let tx = self.to_server.lock().ok().and_then(|g| g.clone());
        if let Some(tx) = tx {
            let _ = tx.send(v.to_string().into_bytes()).await;
        }
    }

    /// Closes the server's stdin (once every queued message is written).
    fn close_server(&self) {
        if let Ok(mut g) = self.to_server.lock() {
            g.take();
        }
    }

    async fn send_client(&self, v: &Value) {
        let _ = self.to_client.send(v.to_string().into_bytes()).await;
    }

    fn take(&self, id: &Value) -> Option<Call> {
        self.pending
            .lock()
            .ok()
            .and_then(|mut p| p.remove(&jsonrpc::id_key(id)))
    }

    fn take_all(&self) -> Vec<Call> {
        self.pending
            .lock()
            .map(|mut p| p.drain().map(|(_, c)| c).collect())
            .unwrap_or_default()
    }

    fn track(&self, call: Call) {
        if let Ok(mut p) = self.pending.lock() {
            p.insert(jsonrpc::id_key(&call.id), call);
        }
    }

    /// Fails every pending call with `code`, answering the client.
    async fn fail_pending(&self, code: i64, why: &str) {
        for call in self.take_all() {
            let resp = self.gate.fail(&self.conn, call, code, why).await;
            self.send_client(&resp).await;
        }
    }
}

/// What to do with one client message.
enum Step {
    Forward(Value),
    Reply(Value),
    Nothing,
}

/// Our standard input as an async reader: a pipe (the usual case: the client launched us) is
/// read through the event loop; anything else (a file, a terminal) through tokio's blocking
/// reader.
///
/// # Errors
/// When standard input cannot be duplicated.
pub fn client_input() -> std::io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdin().as_fd().try_clone_to_owned()?;
    match tokio::net::unix::pipe::Receiver::from_owned_fd(fd) {
        Ok(rx) => Ok(Box::new(rx)),
        Err(_) => Ok(Box::new(tokio::io::stdin())),
    }
}

/// Our standard output as an async writer (a pipe through the event loop, as
/// [`client_input`]).
///
/// # Errors
/// When standard output cannot be duplicated.
pub fn client_output() -> std::io::Result<Box<dyn AsyncWrite + Unpin + Send>> {
    use std::os::fd::AsFd as _;
    let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
    match tokio::net::unix::pipe::Sender::from_owned_fd(fd) {
        Ok(tx) => Ok(Box::new(tx)),
        Err(_) => Ok(Box::new(tokio::io::stdout())),
    }
}

/// Runs `program args` as the MCP server behind the proxy, with `input`/`output` as the
/// client's side (our stdin and stdout). Returns the server's exit code.
///
/// # Errors
/// [`WrapError`] when the server cannot be started or our own streams fail.
pub async fn wrap<I, O>(
    gate: Arc<Gate>,
    conn: Arc<Conn>,
    program: OsString,
    args: Vec<OsString>,
    input: I,
    output: O,
) -> Result<Option<i32>, WrapError>
where
    I: AsyncRead + Unpin + Send + 'static,
    O: AsyncWrite + Unpin + Send + 'static,
{
    let mut child = Command::new(&program)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| WrapError::Spawn {
            program: program.to_string_lossy().into_owned(),
            source,
        })?;
    let (Some(mut child_in), Some(child_out)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(WrapError::Io(std::io::Error::other("child pipes missing")));
    };
    let max = gate.max_message_bytes;

    let (to_client, mut client_rx) = mpsc::channel::<Vec<u8>>(1024);
    let client_writer = tokio::spawn(async move {
        let mut output = output;
        while let Some(mut line) = client_rx.recv().await {
            line.push(b'\n');
            if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
                break;
            }
        }
    });
    let (to_server, mut server_rx) = mpsc::channel::<Vec<u8>>(1024);
    tokio::spawn(async move {
        while let Some(mut line) = server_rx.recv().await {
            line.push(b'\n');
            if child_in.write_all(&line).await.is_err() || child_in.flush().await.is_err() {
                break;
            }
        }
        // Dropping stdin here tells the server the client is gone.
    });

    let shared = Arc::new(Shared {
        gate,
        conn,
        pending: Arc::new(Mutex::new(HashMap::new())),
        to_client,
        to_server: Mutex::new(Some(to_server)),
    });

    let server_side = {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, child_out), max);
            loop {
                match reader.next().await {
                    Ok(Line::Text(bytes)) => server_message(&shared, &bytes).await,
                    Ok(Line::TooLong(n)) => {
                        let why = format!(
                            "the MCP server sent a message of {n} bytes, over the limit of {max}"
                        );
                        shared
                            .gate
                            .invalid_message(&shared.conn, "server", n, &why)
                            .await;
                        shared.fail_pending(jsonrpc::TOO_LARGE, &why).await;
                    }
                    Ok(Line::Eof) | Err(_) => break,
                }
            }
            shared
                .fail_pending(
                    jsonrpc::SERVER_GONE,
                    "the MCP server exited before answering",
                )
                .await;
        })
    };

    let client_side = {
        let shared = Arc::clone(&shared);
        async move {
            let mut reader = LineReader::new(BufReader::with_capacity(64 * 1024, input), max);
            loop {
                match reader.next().await? {
                    Line::Eof => return Ok::<(), std::io::Error>(()),
                    Line::TooLong(n) => {
                        let why = format!("message of {n} bytes is over the limit of {max}");
                        shared
                            .gate
                            .invalid_message(&shared.conn, "client", n, &why)
                            .await;
                        let e =
                            jsonrpc::error_response(&Value::Null, jsonrpc::TOO_LARGE, &why, None);
                        shared.send_client(&e).await;
                    }
                    Line::Text(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
                    Line::Text(bytes) => client_frame(&shared, &bytes).await,
                }
            }
        }
    };

    let mut server_side = server_side;
    let server_done = tokio::select! {
        r = client_side => {
            r?;
            false
        }
        _ = &mut server_side => true,
    };
    // The client closed its side (or the server is gone): close the server's stdin and give
    // the server a moment to answer what is pending and exit.
    shared.close_server();
    drop(shared);
    finish(child, client_writer, server_side, server_done).await
}

async fn finish(
    mut child: tokio::process::Child,
    client_writer: tokio::task::JoinHandle<()>,
    server_side: tokio::task::JoinHandle<()>,
    server_done: bool,
) -> Result<Option<i32>, WrapError> {
    if !server_done {
        let _ = tokio::time::timeout(Duration::from_secs(5), server_side).await;
    }
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(s)) => s.code(),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    // The writer ends when every sender is gone; bound the wait in case a spawned hold
    // still holds one.
    let _ = tokio::time::timeout(Duration::from_secs(2), client_writer).await;
    Ok(status)
}

async fn client_frame(shared: &Arc<Shared>, bytes: &[u8]) {
    match jsonrpc::parse(bytes) {
        Err(e) => {
            shared
                .gate
                .invalid_message(&shared.conn, "client", bytes.len(), &e.to_string())
                .await;
            let resp = jsonrpc::error_response(&Value::Null, e.code(), &e.to_string(), None);
            shared.send_client(&resp).await;
        }
        Ok(Frame::Single(m)) => match client_message(shared, m).await {
            Step::Forward(v) => {
                shared.send_server(&v).await;
            }
            Step::Reply(v) => shared.send_client(&v).await,
            Step::Nothing => {}
        },
        Ok(Frame::Batch(ms)) => {
            let mut forward = Vec::new();
            let mut reply = Vec::new();
            for m in ms {
                match client_message(shared, m).await {
                    Step::Forward(v) => forward.push(v),
                    Step::Reply(v) => reply.push(v),
                    Step::Nothing => {}
                }
            }
            if !forward.is_empty() {
                shared.send_server(&Value::Array(forward)).await;
            }
            if !reply.is_empty() {
                shared.send_client(&Value::Array(reply)).await;
            }
        }
    }
}

async fn client_message(shared: &Arc<Shared>, m: Message) -> Step {
    match &m.kind {
        Kind::Invalid => {
            let why = "not a JSON-RPC 2.0 request, notification or response";
            shared
                .gate
                .invalid_message(&shared.conn, "client", m.value.to_string().len(), why)
                .await;
            Step::Reply(jsonrpc::error_response(
                &jsonrpc::salvage_id(&m.value),
                jsonrpc::INVALID_REQUEST,
                why,
                None,
            ))
        }
        Kind::Notification { method } => {
            if method == "notifications/cancelled"
                && let Some(id) = m.params().and_then(|p| p.get("requestId"))
                && let Some(call) = shared.take(id)
            {
                // A cancelled request gets no answer; its record says it was cancelled.
                let _ = shared
                    .gate
                    .fail(
                        &shared.conn,
                        call,
                        jsonrpc::SERVER_GONE,
                        "cancelled by the client",
                    )
                    .await;
            }
            Step::Forward(m.value)
        }
        Kind::Response { .. } => Step::Forward(m.value),
        Kind::Request { .. } => {
            let Some(call) = shared.gate.plan(&shared.conn, &m) else {
                return Step::Forward(m.value);
            };
            if call.verdict.action == Action::Hold {
                let shared = Arc::clone(shared);
                tokio::spawn(async move {
                    match shared.gate.admit(&shared.conn, call).await {
                        Ok(call) => {
                            shared.track(call);
                            shared.send_server(&m.value).await;
                        }
                        Err(resp) => shared.send_client(&resp).await,
                    }
                });
                return Step::Nothing;
            }
            match shared.gate.admit(&shared.conn, call).await {
                Ok(call) => {
                    shared.track(call);
                    Step::Forward(m.value)
                }
                Err(resp) => Step::Reply(resp),
            }
        }
    }
}

async fn server_message(shared: &Arc<Shared>, bytes: &[u8]) {
    let frame = match jsonrpc::parse(bytes) {
        Ok(f) => f,
        Err(e) => {
            let why = format!("the MCP server wrote something that is not JSON-RPC ({e})");
            shared
                .gate
                .invalid_message(&shared.conn, "server", bytes.len(), &why)
                .await;
            shared.fail_pending(jsonrpc::SERVER_GARBAGE, &why).await;
            return;
        }
    };
    let batch = matches!(frame, Frame::Batch(_));
    let mut out = Vec::new();
    for m in frame.into_messages() {
        let mut value = m.value;
        if let Kind::Response { id, .. } = &m.kind
            && let Some(call) = shared.take(id)
        {
            shared.gate.complete(&shared.conn, call, &mut value).await;
        }
        out.push(value);
    }
    if batch {
        shared.send_client(&Value::Array(out)).await;
    } else if let Some(v) = out.pop() {
        shared.send_client(&v).await;
    }
}
