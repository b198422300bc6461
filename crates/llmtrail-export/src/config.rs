//! `[export]` in `llmtrail.toml`: the sinks, each a `[[export.sinks]]` table tagged by `type`.
//!
//! ```toml
//! [export]
//! queue = 4096                     # batches between the pipeline and the buffer writer
//!
//! [[export.sinks]]
//! type = "syslog"                  # syslog | file | webhook | splunk_hec | elasticsearch |
//!                                  # otlp_logs
//! name = "siem"                    # default: <type>-<position>; names the buffer directory
//! address = "127.0.0.1:5514"       # host:port
//! protocol = "tcp"                 # udp | tcp | tls
//! format = "cef"                   # cef | json | ocsf
//! facility = 13                    # 0-23 (13: log audit)
//! # hostname = "gw-1"              # default: this machine's name
//! # sd_id = "llmtrail@32473"       # structured-data element carrying index and leaf hash
//! # ca_file = "/etc/ssl/siem-ca.pem"  # tls: trusted roots (default: the webpki roots)
//! # server_name = "siem.example.com"  # tls: name to verify (default: the address's host)
//! buffer = { max_bytes = 268435456, when_full = "drop_newest" }   # or "drop_oldest"
//! retry = { initial_ms = 200, max_ms = 30000 }
//!
//! [[export.sinks]]
//! type = "file"
//! path = "/var/log/llmtrail/events.jsonl"
//! format = "json"                  # json | ocsf | cef
//! max_file_bytes = 104857600       # rotate beyond this: events.jsonl.1, .2, …
//! keep_files = 5
//!
//! [[export.sinks]]
//! type = "webhook"
//! url = "https://hooks.example.com/llmtrail"
//! format = "json"                  # json | ocsf | slack
//! secret_env = "LLMTRAIL_WEBHOOK_SECRET"   # HMAC-SHA256 key, read from this variable
//!
//! [[export.sinks]]
//! type = "splunk_hec"
//! url = "https://splunk.example.com:8088"  # POST /services/collector/event
//! token_env = "SPLUNK_HEC_TOKEN"
//! format = "json"                  # the HEC event payload: json | ocsf
//! ack = true                       # wait for indexer acknowledgement
//!
//! [[export.sinks]]
//! type = "elasticsearch"           # Elasticsearch or OpenSearch
//! url = "https://es.example.com:9200"      # POST /_bulk, ECS documents
//! index = "llmtrail-events"
//! api_key_env = "ES_API_KEY"
//!
//! [[export.sinks]]
//! type = "otlp_logs"               # OTLP/HTTP JSON: POST <endpoint>/v1/logs
//! endpoint = "http://otel-collector:4318"
//! # token_env = "OTLP_TOKEN"       # Authorization: Bearer <token>
//! ```
//!
//! Every sink has its own disk buffer under `<data_dir>/export/<name>/` (see
//! [`crate::buffer`]). `when_full` decides what a full buffer does: `drop_newest` (the default)
//! drops incoming records and keeps the oldest undelivered ones, `drop_oldest` deletes the
//! oldest undelivered ones; the request path never waits in either case, and each drop is
//! counted and logged.

use std::path::PathBuf;

use serde::Deserialize;

use crate::buffer::{BufferOptions, WhenFull};

/// `[export]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// Batches of appended events waiting for the buffer writer; beyond it they are dropped
    /// and counted (the writer only appends to local files, so this stays near empty).
    pub queue: usize,
    /// The sinks.
    pub sinks: Vec<SinkConfig>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            queue: 4096,
            sinks: Vec::new(),
        }
    }
}

/// One `[[export.sinks]]` table; `type` names the variant.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SinkConfig {
    /// RFC 5424 syslog over UDP, TCP or TLS.
    Syslog(SyslogSink),
    /// JSON lines (or another format) in a local file, rotated by size.
    File(FileSink),
    /// HTTP POST of JSON batches signed with HMAC-SHA256.
    Webhook(WebhookSink),
    /// Splunk HTTP Event Collector, with indexer acknowledgement when enabled.
    SplunkHec(SplunkHecSink),
    /// Elasticsearch or OpenSearch `_bulk` with ECS documents.
    Elasticsearch(ElasticsearchSink),
    /// OTLP/HTTP logs (JSON encoding) to an OpenTelemetry collector.
    OtlpLogs(OtlpLogsSink),
}

/// The record format of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// ArcSight CEF (metadata only).
    Cef,
    /// The event as JSON with its index and leaf hash.
    Json,
    /// OCSF 1.8.0 JSON.
    Ocsf,
    /// A Slack-compatible message, one line per record (webhooks only).
    Slack,
}

/// Syslog transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// One datagram per message.
    Udp,
    /// Octet-counted frames on a TCP connection (RFC 6587).
    #[default]
    Tcp,
    /// Octet-counted frames over TLS (RFC 5425).
    Tls,
}

/// Buffer settings shared by every sink.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Most undelivered bytes kept on disk.
    pub max_bytes: u64,
    /// Size of each buffer segment file.
    pub segment_bytes: u64,
    /// What a full buffer does: `drop_newest` or `drop_oldest`.
    pub when_full: WhenFull,
}

impl Default for BufferConfig {
    fn default() -> Self {
        BufferConfig {
            max_bytes: 256 * 1024 * 1024,
            segment_bytes: 16 * 1024 * 1024,
            when_full: WhenFull::DropNewest,
        }
    }
}

impl BufferConfig {
    fn options(self) -> BufferOptions {
        BufferOptions {
            max_bytes: self.max_bytes,
            segment_bytes: self.segment_bytes,
            when_full: self.when_full,
        }
    }
}

/// Retry timing shared by every sink: exponential backoff from `initial_ms` to `max_ms`.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// First wait after a failed delivery, in milliseconds.
    pub initial_ms: u64,
    /// Longest wait between attempts, in milliseconds.
    pub max_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_ms: 200,
            max_ms: 30_000,
        }
    }
}

fn default_facility() -> u8 {
    13
}

fn default_sd_id() -> String {
    "llmtrail@32473".into()
}

fn default_batch() -> usize {
    500
}

/// `type = "syslog"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSink {
    /// Sink name (the buffer directory); default `syslog-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Receiver `host:port`.
    pub address: String,
    /// `udp`, `tcp` (default) or `tls`.
    #[serde(default)]
    pub protocol: Protocol,
    /// MSG format: `cef` (default), `json` or `ocsf`.
    #[serde(default = "cef")]
    pub format: Format,
    /// Syslog facility, 0–23; default 13 (log audit).
    #[serde(default = "default_facility")]
    pub facility: u8,
    /// HOSTNAME field; default this machine's host name.
    #[serde(default)]
    pub hostname: Option<String>,
    /// SD-ID of the element with index and leaf hash.
    #[serde(default = "default_sd_id")]
    pub sd_id: String,
    /// TLS: PEM file of trusted certificates; default the webpki roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// TLS: the name to verify; default the host of `address`.
    #[serde(default)]
    pub server_name: Option<String>,
    /// UDP: longest datagram; longer messages are cut at a character boundary.
    #[serde(default = "default_datagram")]
    pub max_datagram_bytes: usize,
    /// Most records per write.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

fn cef() -> Format {
    Format::Cef
}

fn json() -> Format {
    Format::Json
}

fn default_datagram() -> usize {
    65_000
}

fn default_file_bytes() -> u64 {
    100 * 1024 * 1024
}

fn default_keep() -> usize {
    5
}

fn default_signature_header() -> String {
    "x-llmtrail-signature".into()
}

fn default_timeout() -> u64 {
    10_000
}

/// `type = "file"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    /// Sink name; default `file-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// The file written; rotated files get `.1`, `.2`, … appended.
    pub path: PathBuf,
    /// `json` (default), `ocsf` or `cef`, one record per line.
    #[serde(default = "json")]
    pub format: Format,
    /// Size beyond which the file is rotated.
    #[serde(default = "default_file_bytes")]
    pub max_file_bytes: u64,
    /// Rotated files kept.
    #[serde(default = "default_keep")]
    pub keep_files: usize,
    /// Most records per write.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// `type = "webhook"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    /// Sink name; default `webhook-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// `http://` or `https://` URL receiving `POST`s of a JSON array of records.
    pub url: String,
    /// `json` (default), `ocsf` (a JSON array of records per request) or `slack` (one
    /// `{"text": …}` message per request, a line per record).
    #[serde(default = "json")]
    pub format: Format,
    /// Environment variable holding the HMAC-SHA256 key; no signature when unset.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Header carrying `t=<unix seconds>,sha256=<hex HMAC of "<t>.<body>">`.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// Time for one request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Most records per request.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

fn default_source() -> String {
    "llmtrail".into()
}

fn default_sourcetype() -> String {
    "llmtrail:event".into()
}

fn default_ack_timeout() -> u64 {
    30_000
}

fn default_es_index() -> String {
    "llmtrail-events".into()
}

/// `type = "splunk_hec"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplunkHecSink {
    /// Sink name; default `splunk_hec-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the collector, e.g. `https://splunk.example.com:8088`.
    pub url: String,
    /// Environment variable holding the HEC token.
    pub token_env: String,
    /// Payload of each HEC event: `json` (default) or `ocsf`.
    #[serde(default = "json")]
    pub format: Format,
    /// Splunk index; default the token's.
    #[serde(default)]
    pub index: Option<String>,
    /// HEC `source`.
    #[serde(default = "default_source")]
    pub source: String,
    /// HEC `sourcetype`.
    #[serde(default = "default_sourcetype")]
    pub sourcetype: String,
    /// HEC `host`; default this machine's name.
    #[serde(default)]
    pub host: Option<String>,
    /// Wait for indexer acknowledgement before counting a batch delivered.
    #[serde(default)]
    pub ack: bool,
    /// Longest wait for an acknowledgement, in milliseconds; the batch is resent after it.
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout_ms: u64,
    /// Time for one request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Most records per request.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// `type = "elasticsearch"` (Elasticsearch or OpenSearch)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSink {
    /// Sink name; default `elasticsearch-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the cluster, e.g. `https://es.example.com:9200`.
    pub url: String,
    /// Index (or data stream) written with `create`.
    #[serde(default = "default_es_index")]
    pub index: String,
    /// Environment variable holding an API key (`Authorization: ApiKey <key>`); none when unset.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Time for one request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Most records per request.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// `type = "otlp_logs"`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpLogsSink {
    /// Sink name; default `otlp_logs-<position>`.
    #[serde(default)]
    pub name: Option<String>,
    /// Base URL of the collector; records go to `<endpoint>/v1/logs`.
    pub endpoint: String,
    /// Environment variable holding a bearer token (`Authorization: Bearer <token>`); none
    /// when unset.
    #[serde(default)]
    pub token_env: Option<String>,
    /// The resource's `service.name`.
    #[serde(default = "default_source")]
    pub service_name: String,
    /// Time for one request, in milliseconds.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Most records per request.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Disk buffer.
    #[serde(default)]
    pub buffer: BufferConfig,
    /// Retry timing.
    #[serde(default)]
    pub retry: RetryConfig,
}

/// A configuration error, naming the sink and key.
#[derive(Debug, thiserror::Error)]
#[error("export.sinks[{position}] ({name}): `{key}` {why}")]
pub struct ConfigError {
    /// Position of the sink in the file.
    pub position: usize,
    /// Its name.
    pub name: String,
    /// The key.
    pub key: &'static str,
    /// What is wrong.
    pub why: String,
}

/// What every validated sink has besides its transport.
#[derive(Debug, Clone)]
pub struct Common {
    /// Unique name, safe as a directory name.
    pub name: String,
    /// Record format.
    pub format: Format,
    /// Buffer options.
    pub buffer: BufferOptions,
    /// Retry timing.
    pub retry: RetryConfig,
    /// Most records per delivery.
    pub batch: usize,
}

impl SinkConfig {
    fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::File(_) => "file",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::SplunkHec(_) => "splunk_hec",
            SinkConfig::Elasticsearch(_) => "elasticsearch",
            SinkConfig::OtlpLogs(_) => "otlp_logs",
        }
    }

    /// Checks the sink and returns its common settings.
    ///
    /// # Errors
    /// [`ConfigError`] naming the key.
    pub fn validate(&self, position: usize) -> Result<Common, ConfigError> {
        let (name, format, buffer, retry, batch) = match self {
            SinkConfig::Syslog(s) => (&s.name, s.format, s.buffer, s.retry, s.batch),
            SinkConfig::File(s) => (&s.name, s.format, s.buffer, s.retry, s.batch),
            SinkConfig::Webhook(s) => (&s.name, s.format, s.buffer, s.retry, s.batch),
            SinkConfig::SplunkHec(s) => (&s.name, s.format, s.buffer, s.retry, s.batch),
            SinkConfig::Elasticsearch(s) => (&s.name, Format::Json, s.buffer, s.retry, s.batch),
            SinkConfig::OtlpLogs(s) => (&s.name, Format::Json, s.buffer, s.retry, s.batch),
        };
        let name = name
            .clone()
            .unwrap_or_else(|| format!("{}-{position}", self.type_name()));
        let err = |key: &'static str, why: &str| ConfigError {
            position,
            name: name.clone(),
            key,
            why: why.to_owned(),
        };
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err(
                "name",
                "must be 1-64 characters of A-Z, a-z, 0-9, - and _",
            ));
        }
        if buffer.max_bytes < 64 * 1024 {
            return Err(err("buffer.max_bytes", "must be at least 65536"));
        }
        if buffer.segment_bytes < 4096 || buffer.segment_bytes > buffer.max_bytes {
            return Err(err(
                "buffer.segment_bytes",
                "must be at least 4096 and at most buffer.max_bytes",
            ));
        }
        if retry.initial_ms == 0 || retry.max_ms < retry.initial_ms {
            return Err(err("retry", "needs 0 < initial_ms <= max_ms"));
        }
        if batch == 0 || batch > 100_000 {
            return Err(err("batch", "must be between 1 and 100000"));
        }
        match self {
            SinkConfig::Syslog(s) => {
                if s.format == Format::Slack {
                    return Err(err("format", "must be cef, json or ocsf"));
                }
                if s.facility > 23 {
                    return Err(err("facility", "must be between 0 and 23"));
                }
                if host_port(&s.address).is_none() {
                    return Err(err("address", "must be host:port"));
                }
                if !(480..=65_507).contains(&s.max_datagram_bytes) {
                    return Err(err("max_datagram_bytes", "must be between 480 and 65507"));
                }
            }
            SinkConfig::File(s) => {
                if s.format == Format::Slack {
                    return Err(err("format", "must be json, ocsf or cef"));
                }
                if s.path.as_os_str().is_empty() {
                    return Err(err("path", "must not be empty"));
                }
                if s.max_file_bytes < 4096 {
                    return Err(err("max_file_bytes", "must be at least 4096"));
                }
            }
            SinkConfig::Webhook(s) => {
                if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                    return Err(err("url", "must start with http:// or https://"));
                }
                if s.format == Format::Cef {
                    return Err(err("format", "must be json, ocsf or slack"));
                }
                if let Some(var) = &s.secret_env
                    && std::env::var_os(var).is_none()
                {
                    return Err(err("secret_env", "names a variable that is not set"));
                }
                if ureq::http::HeaderName::try_from(s.signature_header.as_str()).is_err() {
                    return Err(err("signature_header", "is not a valid header name"));
                }
            }
            SinkConfig::SplunkHec(s) => {
                if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                    return Err(err("url", "must start with http:// or https://"));
                }
                if matches!(s.format, Format::Cef | Format::Slack) {
                    return Err(err("format", "must be json or ocsf"));
                }
                if std::env::var_os(&s.token_env).is_none() {
                    return Err(err("token_env", "names a variable that is not set"));
                }
                if s.ack_timeout_ms == 0 {
                    return Err(err("ack_timeout_ms", "must be at least 1"));
                }
            }
            SinkConfig::Elasticsearch(s) => {
                if !(s.url.starts_with("http://") || s.url.starts_with("https://")) {
                    return Err(err("url", "must start with http:// or https://"));
                }
                if s.index.is_empty() || s.index.chars().any(|c| c.is_control() || c == '"') {
                    return Err(err("index", "must be a non-empty index name"));
                }
                if let Some(var) = &s.api_key_env
                    && std::env::var_os(var).is_none()
                {
                    return Err(err("api_key_env", "names a variable that is not set"));
                }
            }
            SinkConfig::OtlpLogs(s) => {
                if !(s.endpoint.starts_with("http://") || s.endpoint.starts_with("https://")) {
                    return Err(err("endpoint", "must start with http:// or https://"));
                }
                if let Some(var) = &s.token_env
                    && std::env::var_os(var).is_none()
                {
                    return Err(err("token_env", "names a variable that is not set"));
                }
            }
        }
        Ok(Common {
            name,
            format,
            buffer: buffer.options(),
            retry,
            batch,
        })
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6 literals).
#[must_use]
pub fn host_port(address: &str) -> Option<(&str, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    let port = port.parse().ok()?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

impl ExportConfig {
    /// Checks every sink and that names are unique.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first bad sink and key.
    pub fn validate(&self) -> Result<Vec<(Common, SinkConfig)>, ConfigError> {
        let mut out: Vec<(Common, SinkConfig)> = Vec::new();
        for (i, sink) in self.sinks.iter().enumerate() {
            let common = sink.validate(i)?;
            if out.iter().any(|(c, _)| c.name == common.name) {
                return Err(ConfigError {
                    position: i,
                    name: common.name,
                    key: "name",
                    why: "is used by another sink".into(),
                });
            }
            out.push((common, sink.clone()));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        export: ExportConfig,
    }

    fn parse(text: &str) -> Result<ExportConfig, String> {
        toml::from_str::<File>(text)
            .map(|f| f.export)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_syslog_form_works() {
        let c = parse(
            "[[export.sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:5514\"\nprotocol = \"tcp\"\nformat = \"cef\"\n",
        )
        .unwrap();
        let sinks = c.validate().unwrap();
        assert_eq!(sinks[0].0.name, "syslog-0");
        assert_eq!(sinks[0].0.format, Format::Cef);
        assert_eq!(sinks[0].0.buffer.when_full, WhenFull::DropNewest);
        let SinkConfig::Syslog(s) = &sinks[0].1 else {
            panic!("not syslog")
        };
        assert_eq!(s.protocol, Protocol::Tcp);
    }

    #[test]
    fn unknown_keys_and_types_are_errors_that_name_them() {
        let e =
            parse("[[export.sinks]]\ntype = \"syslog\"\naddress = \"a:1\"\nprotocl = \"tcp\"\n")
                .unwrap_err();
        assert!(e.contains("protocl"), "{e}");
        let e = parse("[[export.sinks]]\ntype = \"kafka\"\n").unwrap_err();
        assert!(e.contains("kafka"), "{e}");
        let e = parse(
            "[[export.sinks]]\ntype = \"file\"\npath = \"x\"\nbuffer = { when_full = \"block\" }\n",
        )
        .unwrap_err();
        assert!(e.contains("block"), "{e}");
    }

    #[test]
    fn names_must_be_unique_and_safe() {
        let c = parse(
            "[[export.sinks]]\ntype = \"file\"\npath = \"a\"\nname = \"x\"\n[[export.sinks]]\ntype = \"file\"\npath = \"b\"\nname = \"x\"\n",
        )
        .unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("another sink")
        );
        let c =
            parse("[[export.sinks]]\ntype = \"file\"\npath = \"a\"\nname = \"../etc\"\n").unwrap();
        assert!(c.validate().unwrap_err().to_string().contains("`name`"));
    }

    #[test]
    fn hec_needs_its_token_and_elasticsearch_has_defaults() {
        let c = parse(
            "[[export.sinks]]\ntype = \"splunk_hec\"\nurl = \"https://s:8088\"\ntoken_env = \"LLMTRAIL_TEST_NO_SUCH_VAR\"\n",
        )
        .unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("token_env"), "{e}");
        let c = parse("[[export.sinks]]\ntype = \"elasticsearch\"\nurl = \"http://es:9200\"\n")
            .unwrap();
        let sinks = c.validate().unwrap();
        assert_eq!(sinks[0].0.name, "elasticsearch-0");
        let SinkConfig::Elasticsearch(es) = &sinks[0].1 else {
            panic!("not elasticsearch")
        };
        assert_eq!(es.index, "llmtrail-events");
    }

    #[test]
    fn addresses_need_a_port() {
        assert_eq!(host_port("127.0.0.1:5514"), Some(("127.0.0.1", 5514)));
        assert_eq!(host_port("[::1]:514"), Some(("::1", 514)));
        assert_eq!(host_port("siem.example.com"), None);
    }
}
