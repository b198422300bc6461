//! Transports: how a sink hands a batch of rendered records to its destination.
//!
//! A transport's `send` returns `Ok` only once the destination has taken the whole batch as far
//! as its protocol can tell: the file is written and synced, the TCP or TLS stream flushed with
//! the peer still connected, every datagram sent, or the webhook answered 2xx. Only then does
//! the delivery loop acknowledge the batch in the disk buffer. Syslog over TCP has no
//! application-level acknowledgement (RFC 6587), so records in the kernel's send buffer when a
//! receiver dies can be lost; the transport checks that the peer has not closed the connection
//! before reporting success, which catches a receiver that went away between batches.
//!
//! Errors never quote record contents, only where the failure happened.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::{Shutdown, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{
    ElasticsearchSink, OtlpLogsSink, Protocol, SplunkHecSink, SyslogSink, WebhookSink, host_port,
};
use crate::syslog;

/// Why a batch was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// A network or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The underlying error.
        source: io::Error,
    },
    /// The TLS setup failed.
    #[error("tls: {0}")]
    Tls(String),
    /// The HTTP receiver refused the batch or could not be reached.
    #[error("http: {0}")]
    Http(String),
}

fn io(what: &'static str) -> impl FnOnce(io::Error) -> SendError {
    move |source| SendError::Io { what, source }
}

/// Something that delivers a batch of rendered records in order.
pub trait Transport: Send {
    /// Delivers every record of `batch`, or fails as a whole (the batch is then retried).
    ///
    /// # Errors
    /// [`SendError`] saying which step failed.
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError>;
}

/// JSON lines (or any line format) appended to a file, rotated by size.
#[derive(Debug)]
pub struct FileTransport {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: Option<(File, u64)>,
}

impl FileTransport {
    /// A transport writing to `path`.
    #[must_use]
    pub fn new(path: PathBuf, max_bytes: u64, keep: usize) -> FileTransport {
        FileTransport {
            path,
            max_bytes,
            keep,
            file: None,
        }
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    fn rotate(&mut self) -> Result<(), SendError> {
        self.file = None;
        if self.keep == 0 {
            return fs::remove_file(&self.path).map_err(io("remove full export file"));
        }
        let _ = fs::remove_file(self.rotated(self.keep));
        for n in (1..self.keep).rev() {
            let from = self.rotated(n);
            if from.exists() {
                fs::rename(&from, self.rotated(n + 1)).map_err(io("rotate export file"))?;
            }
        }
        fs::rename(&self.path, self.rotated(1)).map_err(io("rotate export file"))
    }
}

impl Transport for FileTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let mut out = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum());
        for record in batch {
            out.extend_from_slice(record);
            out.push(b'\n');
        }
        if self.file.is_none() {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).map_err(io("create export directory"))?;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(io("open export file"))?;
            let len = f.metadata().map_err(io("stat export file"))?.len();
            self.file = Some((f, len));
        }
        if let Some((_, len)) = &self.file
            && *len > 0
            && len + out.len() as u64 > self.max_bytes
        {
            self.rotate()?;
            return self.send(batch);
        }
        let Some((f, len)) = self.file.as_mut() else {
            return Ok(());
        };
        let written = f.write_all(&out).and_then(|()| f.sync_data());
        if let Err(e) = written {
            self.file = None;
            return Err(io("write export file")(e));
        }
        *len += out.len() as u64;
        Ok(())
    }
}

/// A connected syslog stream, plain or TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf).and_then(|()| s.flush()),
            Stream::Tls(s) => s.write_all(buf).and_then(|()| s.flush()),
        }
    }
}

/// RFC 5424 messages over UDP, TCP or TLS.
pub struct SyslogTransport {
    address: String,
    protocol: Protocol,
    tls: Option<(
        Arc<rustls::ClientConfig>,
        rustls_pki_types::ServerName<'static>,
    )>,
    max_datagram: usize,
    stream: Option<Stream>,
    udp: Option<UdpSocket>,
}

impl std::fmt::Debug for SyslogTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogTransport")
            .field("address", &self.address)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

fn tls_config(cfg: &SyslogSink) -> Result<Arc<rustls::ClientConfig>, SendError> {
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            use rustls_pki_types::pem::PemObject as _;
            let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                .map_err(|e| SendError::Tls(format!("ca_file {}: {e}", path.display())))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| SendError::Tls(format!("ca_file {}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| SendError::Tls(format!("ca_file {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| SendError::Tls(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads what the TLS receiver sent without blocking (the socket is non-blocking); true when
/// it closed the connection.
fn tls_closed(s: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>) -> bool {
    let mut plain = [0u8; 512];
    loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => return true,
            Ok(_) => {
                if s.conn.process_new_packets().is_err() {
                    return true;
                }
                loop {
                    match io::Read::read(&mut s.conn.reader(), &mut plain) {
                        Ok(0) => return true,
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => return true,
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

impl SyslogTransport {
    /// Builds the transport (nothing is connected yet).
    ///
    /// # Errors
    /// [`SendError::Tls`] when the CA file or server name is unusable.
    pub fn new(cfg: &SyslogSink) -> Result<SyslogTransport, SendError> {
        let tls = if cfg.protocol == Protocol::Tls {
            let host = match &cfg.server_name {
                Some(name) => name.clone(),
                None => host_port(&cfg.address)
                    .map(|(h, _)| h.to_owned())
                    .unwrap_or_default(),
            };
            let name = rustls_pki_types::ServerName::try_from(host)
                .map_err(|e| SendError::Tls(format!("server name: {e}")))?;
            Some((tls_config(cfg)?, name))
        } else {
            None
        };
        Ok(SyslogTransport {
            address: cfg.address.clone(),
            protocol: cfg.protocol,
            tls,
            max_datagram: cfg.max_datagram_bytes,
            stream: None,
            udp: None,
        })
    }

    fn connect(&self) -> Result<Stream, SendError> {
        let addrs: Vec<_> = self
            .address
            .to_socket_addrs()
            .map_err(io("resolve syslog address"))?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(tcp) => {
                    tcp.set_write_timeout(Some(WRITE_TIMEOUT))
                        .map_err(io("configure syslog connection"))?;
                    tcp.set_read_timeout(Some(WRITE_TIMEOUT))
                        .map_err(io("configure syslog connection"))?;
                    let _ = tcp.set_nodelay(true);
                    return match &self.tls {
                        None => Ok(Stream::Plain(tcp)),
                        Some((config, name)) => {
                            let conn =
                                rustls::ClientConnection::new(Arc::clone(config), name.clone())
                                    .map_err(|e| SendError::Tls(e.to_string()))?;
                            let mut s = rustls::StreamOwned::new(conn, tcp);
                            // Complete the handshake now so that certificate errors surface as
                            // connection errors, not as a failed first write.
                            while s.conn.is_handshaking() {
                                s.conn
                                    .complete_io(&mut s.sock)
                                    .map_err(io("tls handshake"))?;
                            }
                            Ok(Stream::Tls(Box::new(s)))
                        }
                    };
                }
                Err(e) => last = e,
            }
        }
        Err(io("connect to syslog receiver")(last))
    }

    /// Tells whether the receiver closed the connection (a read would return EOF now).
    ///
    /// Plain TCP: a peek that sees EOF. TLS: the receiver may have sent records (session
    /// tickets, a close_notify alert) that would hide the EOF from a peek, so whatever is
    /// readable is handed to rustls first; a close_notify, an EOF or a TLS error means closed.
    /// Syslog receivers send no application data, and any that arrives is discarded.
    fn peer_closed(stream: &mut Stream) -> bool {
        let tcp = stream.tcp();
        if tcp.set_nonblocking(true).is_err() {
            return true;
        }
        let closed = match stream {
            Stream::Plain(tcp) => {
                let mut b = [0u8; 1];
                match tcp.peek(&mut b) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => e.kind() != io::ErrorKind::WouldBlock,
                }
            }
            Stream::Tls(s) => tls_closed(s),
        };
        let _ = stream.tcp().set_nonblocking(false);
        closed
    }

    fn send_stream(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let mut out = Vec::with_capacity(batch.iter().map(|r| r.len() + 8).sum());
        for record in batch {
            syslog::push_octet_counted(&mut out, record);
        }
        if let Some(s) = self.stream.as_mut()
            && Self::peer_closed(s)
        {
            self.stream = None;
        }
        if self.stream.is_none() {
            self.stream = Some(self.connect()?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(());
        };
        let written = stream.write_all(&out);
        let closed = Self::peer_closed(stream);
        if written.is_err() || closed {
            if let Some(s) = self.stream.take() {
                let _ = s.tcp().shutdown(Shutdown::Both);
            }
            return Err(match written {
                Err(e) => io("write to syslog receiver")(e),
                Ok(()) => io("write to syslog receiver")(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "the receiver closed the connection",
                )),
            });
        }
        Ok(())
    }

    fn send_udp(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        if self.udp.is_none() {
            let target = self
                .address
                .to_socket_addrs()
                .map_err(io("resolve syslog address"))?
                .next()
                .ok_or_else(|| io("resolve syslog address")(io::ErrorKind::NotFound.into()))?;
            let bind = if target.is_ipv6() {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let sock = UdpSocket::bind(bind).map_err(io("bind udp socket"))?;
            sock.connect(target).map_err(io("connect udp socket"))?;
            self.udp = Some(sock);
        }
        let Some(sock) = &self.udp else {
            return Ok(());
        };
        for record in batch {
            let mut end = record.len().min(self.max_datagram);
            // Cut at a UTF-8 character boundary.
            while end > 0 && end < record.len() && (record[end] & 0xC0) == 0x80 {
                end -= 1;
            }
            if let Err(e) = sock.send(&record[..end]) {
                self.udp = None;
                return Err(io("send udp datagram")(e));
            }
        }
        Ok(())
    }
}

impl Transport for SyslogTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        match self.protocol {
            Protocol::Udp => self.send_udp(batch),
            Protocol::Tcp | Protocol::Tls => self.send_stream(batch),
        }
    }
}

/// JSON arrays POSTed to a URL, signed with HMAC-SHA256.
pub struct WebhookTransport {
    agent: ureq::Agent,
    url: String,
    slack: bool,
    key: Option<ring::hmac::Key>,
    header: String,
}

impl std::fmt::Debug for WebhookTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTransport")
            .field("url", &self.url)
            .field("signed", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// Returns the signature header value for `body` sent at `unix_seconds`:
/// `t=<seconds>,sha256=<hex HMAC-SHA256 of "<seconds>.<body>">`. Receivers recompute it and
/// reject old timestamps to stop replays.
#[must_use]
pub fn signature(key: &ring::hmac::Key, unix_seconds: i64, body: &[u8]) -> String {
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(unix_seconds.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!(
        "t={unix_seconds},sha256={}",
        hex::encode(ctx.sign().as_ref())
    )
}

impl WebhookTransport {
    /// Builds the transport; the secret is read from `secret_env` now.
    #[must_use]
    pub fn new(cfg: &WebhookSink) -> WebhookTransport {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(cfg.timeout_ms)))
            .http_status_as_error(false)
            .build();
        let key = cfg
            .secret_env
            .as_ref()
            .and_then(std::env::var_os)
            .map(|s| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s.as_encoded_bytes()));
        WebhookTransport {
            agent: ureq::Agent::new_with_config(config),
            url: cfg.url.clone(),
            slack: cfg.format == crate::config::Format::Slack,
            key,
            header: cfg.signature_header.clone(),
        }
    }
}

impl Transport for WebhookTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum::<usize>() + 2);
        if self.slack {
            let lines: Vec<&str> = batch
                .iter()
                .map(|r| std::str::from_utf8(r).unwrap_or("\u{FFFD}"))
                .collect();
            body = crate::slack::message(&lines).into_bytes();
        } else {
            body.push(b'[');
            for (i, record) in batch.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(record);
            }
            body.push(b']');
        }
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.key {
            let now = jiff::Timestamp::now().as_second();
            req = req.header(self.header.as_str(), signature(key, now, &body));
        }
        let resp = req
            .send(&body[..])
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(SendError::Http(format!("status {status}")))
        }
    }
}

fn http_agent(timeout_ms: u64) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(timeout_ms)))
        .http_status_as_error(false)
        .build();
    ureq::Agent::new_with_config(config)
}

fn read_body(resp: &mut ureq::http::Response<ureq::Body>) -> Result<serde_json::Value, SendError> {
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| SendError::Http(format!("reading the answer: {e}")))?;
    serde_json::from_str(&text).map_err(|_| SendError::Http("the answer is not JSON".into()))
}

/// Splunk HTTP Event Collector: the batch's envelopes in one `POST /services/collector/event`,
/// then, with acknowledgement on, `POST /services/collector/ack` until the indexer confirms.
pub struct HecTransport {
    agent: ureq::Agent,
    url: String,
    token: String,
    channel: String,
    ack: bool,
    ack_timeout: Duration,
}

impl std::fmt::Debug for HecTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HecTransport")
            .field("url", &self.url)
            .field("ack", &self.ack)
            .finish_non_exhaustive()
    }
}

impl HecTransport {
    /// Builds the transport; the token is read from `token_env` now.
    #[must_use]
    pub fn new(cfg: &SplunkHecSink) -> HecTransport {
        HecTransport {
            agent: http_agent(cfg.timeout_ms),
            url: cfg.url.trim_end_matches('/').to_owned(),
            token: std::env::var(&cfg.token_env).unwrap_or_default(),
            channel: uuid::Uuid::new_v4().to_string(),
            ack: cfg.ack,
            ack_timeout: Duration::from_millis(cfg.ack_timeout_ms),
        }
    }

    fn post(&self, path: &str, body: &[u8]) -> Result<serde_json::Value, SendError> {
        let mut resp = self
            .agent
            .post(format!("{}{path}", self.url))
            .header("authorization", format!("Splunk {}", self.token))
            .header("x-splunk-request-channel", self.channel.as_str())
            .header("content-type", "application/json")
            .send(body)
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let answer = read_body(&mut resp);
        if status != 200 {
            let code = answer
                .ok()
                .and_then(|v| v.get("code").and_then(serde_json::Value::as_i64));
            return Err(SendError::Http(format!(
                "status {status}, HEC code {code:?}"
            )));
        }
        answer
    }
}

impl Transport for HecTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let body = batch.join(&b'\n');
        let answer = self.post("/services/collector/event", &body)?;
        if !self.ack {
            return Ok(());
        }
        let id = answer
            .get("ackId")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| {
                SendError::Http("no ackId: is indexer acknowledgement on for this token?".into())
            })?;
        let deadline = std::time::Instant::now() + self.ack_timeout;
        let query = serde_json::json!({ "acks": [id] }).to_string();
        loop {
            let answer = self.post("/services/collector/ack", query.as_bytes())?;
            if answer["acks"][id.to_string()].as_bool() == Some(true) {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(SendError::Http(format!(
                    "no indexer acknowledgement for ack {id}"
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Elasticsearch or OpenSearch `_bulk`: `create` items keyed by event id. Items answered 2xx or
/// 409 (already indexed by an earlier attempt) are delivered; 429 and 5xx make the whole batch
/// retry; other 4xx (a document the cluster refuses, e.g. a mapping conflict) are logged and
/// counted, not retried, so that one bad document cannot stop the sink.
pub struct BulkTransport {
    agent: ureq::Agent,
    url: String,
    api_key: Option<String>,
    /// Items the cluster refused for good.
    pub rejected: u64,
}

impl std::fmt::Debug for BulkTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BulkTransport")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl BulkTransport {
    /// Builds the transport; the API key is read from `api_key_env` now.
    #[must_use]
    pub fn new(cfg: &ElasticsearchSink) -> BulkTransport {
        BulkTransport {
            agent: http_agent(cfg.timeout_ms),
            url: cfg.url.trim_end_matches('/').to_owned(),
            api_key: cfg.api_key_env.as_ref().and_then(|v| std::env::var(v).ok()),
            rejected: 0,
        }
    }
}

impl Transport for BulkTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum());
        for item in batch {
            body.extend_from_slice(item);
            body.push(b'\n');
        }
        let mut req = self
            .agent
            .post(format!("{}/_bulk", self.url))
            .header("content-type", "application/x-ndjson");
        if let Some(key) = &self.api_key {
            req = req.header("authorization", format!("ApiKey {key}"));
        }
        let mut resp = req
            .send(&body[..])
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(SendError::Http(format!("status {status}")));
        }
        let answer = read_body(&mut resp)?;
        if answer["errors"].as_bool() != Some(true) {
            return Ok(());
        }
        let items = answer["items"].as_array().map_or(&[][..], Vec::as_slice);
        let mut refused = 0;
        for item in items {
            let status = item
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|v| v["status"].as_u64())
                .unwrap_or(0);
            match status {
                200..=299 | 409 => {}
                429 | 500.. | 0 => {
                    return Err(SendError::Http(format!("bulk item status {status}")));
                }
                _ => refused += 1,
            }
        }
        if refused > 0 {
            self.rejected += refused;
            tracing::warn!(
                refused,
                total_refused = self.rejected,
                "elasticsearch refused documents; they are not retried"
            );
        }
        Ok(())
    }
}

/// OTLP/HTTP logs in the JSON encoding. A 2xx answer delivers the batch (records the collector
/// reports in `partialSuccess` are logged, not resent: OTLP says they are not retryable);
/// 429, 502, 503 and 504 retry; other answers are errors and retry too, since a collector
/// that refuses every request is misconfigured, not refusing one record.
pub struct OtlpTransport {
    agent: ureq::Agent,
    url: String,
    token: Option<String>,
    service_name: String,
}

impl std::fmt::Debug for OtlpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTransport")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl OtlpTransport {
    /// Builds the transport; the token is read from `token_env` now.
    #[must_use]
    pub fn new(cfg: &OtlpLogsSink) -> OtlpTransport {
        OtlpTransport {
            agent: http_agent(cfg.timeout_ms),
            url: format!("{}/v1/logs", cfg.endpoint.trim_end_matches('/')),
            token: cfg.token_env.as_ref().and_then(|v| std::env::var(v).ok()),
            service_name: cfg.service_name.clone(),
        }
    }
}

impl Transport for OtlpTransport {
    fn send(&mut self, batch: &[Vec<u8>]) -> Result<(), SendError> {
        let body = crate::otlp::request(&self.service_name, batch);
        let mut req = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let mut resp = req
            .send(&body[..])
            .map_err(|e| SendError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(SendError::Http(format!("status {status}")));
        }
        if let Ok(answer) = read_body(&mut resp) {
            let rejected = answer["partialSuccess"]["rejectedLogRecords"]
                .as_u64()
                .or_else(|| {
                    answer["partialSuccess"]["rejectedLogRecords"]
                        .as_str()?
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            if rejected > 0 {
                tracing::warn!(
                    rejected,
                    "the OTLP collector rejected log records; not resent"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::io::Read as _;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn file_transport_rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/events.jsonl");
        let mut t = FileTransport::new(path.clone(), 4096, 2);
        let line = vec![b'x'; 1000];
        for _ in 0..14 {
            t.send(std::slice::from_ref(&line)).unwrap();
        }
        assert!(fs::metadata(&path).unwrap().len() <= 4096);
        assert!(dir.path().join("out/events.jsonl.1").exists());
        assert!(dir.path().join("out/events.jsonl.2").exists());
        assert!(!dir.path().join("out/events.jsonl.3").exists());
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.lines().all(|l| l.len() == 1000));
    }

    #[test]
    fn tcp_transport_frames_with_octet_counts_and_reconnects() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let cfg: SyslogSink = toml::from_str(&format!("address = \"{addr}\"")).unwrap();
        let mut t = SyslogTransport::new(&cfg).unwrap();
        t.send(&[b"a\nb".to_vec(), "é".as_bytes().to_vec()])
            .unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = vec![0u8; 9];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, b"3 a\nb2 \xc3\xa9");
        drop(conn);
        // The receiver went away: the next send notices, reconnects and delivers.
        std::thread::sleep(Duration::from_millis(50));
        t.send(&[b"c".to_vec()]).unwrap();
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = vec![0u8; 3];
        conn.read_exact(&mut got).unwrap();
        assert_eq!(got, b"1 c");
    }

    #[test]
    fn udp_transport_sends_one_datagram_per_message() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap().to_string();
        let cfg: SyslogSink =
            toml::from_str(&format!("address = \"{addr}\"\nprotocol = \"udp\"")).unwrap();
        let mut t = SyslogTransport::new(&cfg).unwrap();
        t.send(&[b"one\ntwo".to_vec(), b"three".to_vec()]).unwrap();
        let mut buf = [0u8; 100];
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"one\ntwo");
        let n = sock.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"three");
    }

    #[test]
    fn connection_refused_is_an_error_not_a_success() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let cfg: SyslogSink = toml::from_str(&format!("address = \"{addr}\"")).unwrap();
        let mut t = SyslogTransport::new(&cfg).unwrap();
        assert!(t.send(&[b"x".to_vec()]).is_err());
    }

    /// A one-connection-per-request HTTP/1.1 server: for each request it records
    /// (path, headers, body) and answers what `answer` returns for the request number.
    /// What the test server saw of one request: path, head, body.
    type Seen = Vec<(String, String, String)>;

    fn http_server(
        requests: usize,
        answer: impl Fn(usize, &str) -> (u16, String) + Send + 'static,
    ) -> (String, std::thread::JoinHandle<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut served = 0;
            while served < requests {
                let (mut conn, _) = listener.accept().unwrap();
                loop {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 8192];
                    let (head, body) = loop {
                        let n = conn.read(&mut buf).unwrap();
                        if n == 0 {
                            break (String::new(), String::new());
                        }
                        req.extend_from_slice(&buf[..n]);
                        let text = String::from_utf8_lossy(&req).into_owned();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len: usize = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse().unwrap())
                                })
                                .unwrap_or(0);
                            if req.len() >= end + 4 + len {
                                break (
                                    text[..end].to_owned(),
                                    text[end + 4..end + 4 + len].to_owned(),
                                );
                            }
                        }
                    };
                    if head.is_empty() {
                        break;
                    }
                    let path = head.split_whitespace().nth(1).unwrap().to_owned();
                    let (status, reply) = answer(served, &path);
                    conn.write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
                            reply.len()
                        )
                        .as_bytes(),
                    )
                    .unwrap();
                    seen.push((path, head, body));
                    served += 1;
                    if served == requests {
                        break;
                    }
                }
            }
            seen
        });
        (url, handle)
    }

    #[test]
    fn hec_sends_envelopes_and_waits_for_the_indexer_acknowledgement() {
        let (url, server) = http_server(4, |n, path| match (n, path) {
            (0, "/services/collector/event") => {
                (200, r#"{"text":"Success","code":0,"ackId":7}"#.into())
            }
            (1 | 2, "/services/collector/ack") => {
                (200, format!(r#"{{"acks":{{"7":{}}}}}"#, n == 2))
            }
            (3, "/services/collector/event") => {
                (503, r#"{"text":"Server is busy","code":9}"#.into())
            }
            other => panic!("unexpected {other:?}"),
        });
        let cfg: SplunkHecSink = toml::from_str(&format!(
            "url = \"{url}\"\ntoken_env = \"LLMTRAIL_TEST_HEC_UNSET\"\nack = true"
        ))
        .unwrap();
        let mut t = HecTransport::new(&cfg);
        t.token = "tok".into();
        t.send(&[b"{\"event\":1}".to_vec(), b"{\"event\":2}".to_vec()])
            .unwrap();
        // A busy collector is an error: the batch stays in the buffer.
        assert!(t.send(&[b"{\"event\":3}".to_vec()]).is_err());
        let seen = server.join().unwrap();
        assert_eq!(seen[0].2, "{\"event\":1}\n{\"event\":2}");
        let head = seen[0].1.to_ascii_lowercase();
        assert!(head.contains("authorization: splunk tok"), "{head}");
        assert!(
            head.contains(&format!("x-splunk-request-channel: {}", t.channel)),
            "{head}"
        );
        assert_eq!(seen[1].2, r#"{"acks":[7]}"#);
    }

    #[test]
    fn bulk_retries_throttled_items_and_accepts_conflicts() {
        let (url, server) = http_server(3, |n, path| {
            assert_eq!(path, "/_bulk");
            match n {
                0 => (200, r#"{"errors":false,"items":[{"create":{"status":201}}]}"#.into()),
                1 => (200, r#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":429}}]}"#.into()),
                _ => (200, r#"{"errors":true,"items":[{"create":{"status":409}},{"create":{"status":400}}]}"#.into()),
            }
        });
        let cfg: ElasticsearchSink = toml::from_str(&format!("url = \"{url}/\"")).unwrap();
        let mut t = BulkTransport::new(&cfg);
        t.send(&[b"{\"create\":{}}\n{}".to_vec()]).unwrap();
        let batch = [
            b"{\"create\":{}}\n{\"a\":1}".to_vec(),
            b"{\"create\":{}}\n{\"b\":2}".to_vec(),
        ];
        assert!(
            t.send(&batch).is_err(),
            "a throttled item retries the batch"
        );
        t.send(&batch).unwrap();
        assert_eq!(t.rejected, 1);
        let seen = server.join().unwrap();
        assert_eq!(
            seen[1].2,
            "{\"create\":{}}\n{\"a\":1}\n{\"create\":{}}\n{\"b\":2}\n"
        );
        assert!(
            seen[1]
                .1
                .to_ascii_lowercase()
                .contains("content-type: application/x-ndjson")
        );
    }

    #[test]
    fn otlp_logs_post_an_export_request_that_decodes() {
        let (url, server) = http_server(2, |n, path| {
            assert_eq!(path, "/v1/logs");
            if n == 0 {
                (200, r#"{"partialSuccess":{}}"#.into())
            } else {
                (503, "{}".into())
            }
        });
        let cfg: OtlpLogsSink = toml::from_str(&format!("endpoint = \"{url}/\"")).unwrap();
        let mut t = OtlpTransport::new(&cfg);
        t.token = Some("tok".into());
        let rec = crate::otlp::log_record(&crate::testdata::request(6, "u")).into_bytes();
        t.send(std::slice::from_ref(&rec)).unwrap();
        assert!(t.send(&[rec]).is_err(), "503 is retried");
        let seen = server.join().unwrap();
        assert!(
            seen[0]
                .1
                .to_ascii_lowercase()
                .contains("authorization: bearer tok")
        );
        let d = llmtrail_otlp::json::logs(seen[0].2.as_bytes()).unwrap();
        assert_eq!(d.items.len(), 1);
        assert_eq!(d.items[0].1.attributes["llmtrail.ledger.index"], 6);
    }

    #[test]
    fn webhook_signature_is_hmac_sha256_of_time_and_body() {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"secret");
        let sig = signature(&key, 1_700_000_000, b"[{}]");
        let expected = ring::hmac::sign(&key, b"1700000000.[{}]");
        assert_eq!(
            sig,
            format!("t=1700000000,sha256={}", hex::encode(expected.as_ref()))
        );
    }

    #[test]
    fn webhook_posts_a_signed_json_array() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // A variable nobody sets: the key is put in place below instead of in the environment.
        let var = "LLMTRAIL_TEST_WEBHOOK_SECRET_UNSET";
        let cfg: WebhookSink = toml::from_str(&format!(
            "url = \"http://{addr}/hook\"\nsecret_env = \"{var}\""
        ))
        .unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = conn.read(&mut buf).unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len: usize = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(|v| v.trim().parse().unwrap())
                        })
                        .unwrap();
                    if req.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            String::from_utf8(req).unwrap()
        });
        let mut t = WebhookTransport::new(&cfg);
        assert!(t.key.is_none(), "no secret in the environment yet");
        t.key = Some(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret"));
        t.send(&[b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()])
            .unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /hook HTTP/1.1"));
        assert!(req.ends_with("[{\"a\":1},{\"b\":2}]"));
        let sig_line = req
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("x-llmtrail-signature:"))
            .unwrap();
        let value = sig_line.split_once(':').unwrap().1.trim();
        let t_part = value.split(',').next().unwrap().strip_prefix("t=").unwrap();
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret");
        let expected = signature(&key, t_part.parse().unwrap(), b"[{\"a\":1},{\"b\":2}]");
        assert_eq!(value, expected);
    }
}
