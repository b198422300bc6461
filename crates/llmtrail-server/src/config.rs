//! `llmtrail.toml`: the one configuration file, every key with a default.
//!
//! Raw serde types ([`RawConfig`] and its sections) reject unknown keys by name; [`Config`] is
//! the validated form the rest of the program uses. No file is needed to start: the defaults
//! serve `127.0.0.1:8080` with data in `./llmtrail-data`.
//!
//! ```toml
//! [server]
//! listen = "127.0.0.1:8080"
//! max_body_bytes = 10485760           # API request bodies
//! max_header_bytes = 65536            # request line and headers (431 beyond)
//! header_read_timeout_ms = 30000      # time a client gets to send its headers (and the TLS handshake)
//! tls_cert = "/etc/llmtrail/tls/cert.pem"  # PEM chain, server certificate first (default: none, plain HTTP)
//! tls_key = "/etc/llmtrail/tls/key.pem"    # PEM private key; set both to serve HTTPS
//! metrics_require_token = true        # GET /metrics needs a token of a role that reads
//!
//! [ledger]
//! data_dir = "./llmtrail-data"
//! keys_dir = "/etc/llmtrail/keys"    # default: <data_dir>/keys
//! origin = "llmtrail.example.com/prod" # default: the signing key's name
//! segment_bytes = 67108864
//! checkpoint_interval_ms = 1000
//!
//! [detect]
//! enabled = true
//! rule_files = ["/etc/llmtrail/rules/acme.toml"]
//! exfil_allow_domains = ["example.com"]
//! canaries = ["CANARY-7f3a9e21"]
//! queue = 4096
//!
//! [otlp]                               # OTLP/HTTP receiver: POST /v1/traces, /v1/logs
//! enabled = true                       # on the main listener
//! listen = "127.0.0.1:4318"            # a second, OTLP-only listener (default: none)
//! require_token = true                 # Authorization: Bearer <API token>
//! max_body_bytes = 10485760            # as sent and once decompressed
//! max_concurrent_requests = 16         # more wait up to 1 s, then 429
//!
//! [sampling]                          # prompt content sampled per role (see crate::sampling)
//! enabled = false
//! keep_roles = ["admin", "developer", "finance"]
//! rate = 0.2
//!
//! [[export.sinks]]                     # see llmtrail_export::config for every key
//! type = "syslog"
//! address = "127.0.0.1:5514"
//! protocol = "tcp"
//! format = "cef"
//! [alerts]                             # see llmtrail_alerts (crate docs) for every key
//! escalation_sinks = []                # sinks that get only the alerts routed to them
//! [alerts.routes]
//! critical = ["syslog-0"]              # sink names; checked against [[export.sinks]]
//! [mcp]                                # see llmtrail_mcp::config for every key
//! critical = "block"
//! [[mcp.tools]]
//! name = "deploy_*"
//! action = "hold"
//!
//! [gateway]                            # see llmtrail_gateway::config for every key
//! on_log_failure = "block"
//! [gateway.upstreams.openai]
//! base_url = "https://api.openai.com"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Errors loading or validating the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema (names the key and line).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names unknown or mistyped keys.
        message: String,
    },
    /// A `[gateway]` value is out of its allowed range (the message names the key).
    #[error("{0}")]
    Gateway(String),
    /// An `[[export.sinks]]` value is invalid (the message names the sink and key).
    #[error("{0}")]
    Export(String),
    /// An `[alerts]` value is invalid (the message names the key).
    #[error("{0}")]
    Alerts(String),
    /// A value is out of its allowed range.
    #[error("config key `{key}`: {why}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// What is allowed.
        why: String,
    },
}

/// The file as written, before validation.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// The HTTP listener.
    pub server: RawServer,
    /// The ledger.
    pub ledger: RawLedger,
    /// The provider gateway.
    pub gateway: llmtrail_gateway::config::RawGateway,
    /// Detection.
    pub detect: crate::detect::RawDetect,
    /// The OTLP/HTTP receiver.
    pub otlp: crate::otlp::RawOtlp,
    /// SIEM and webhook sinks (`[[export.sinks]]`).
    pub export: llmtrail_export::ExportConfig,
    /// The MCP proxies (`llmtrail mcp wrap`, `llmtrail mcp proxy`).
    pub mcp: llmtrail_mcp::RawMcp,
    /// Sampling of prompt content (off by default).
    pub sampling: crate::sampling::RawSampling,
    /// Alert rules, routes, playbooks and analytics (`[alerts]`, see `llmtrail_alerts`).
    pub alerts: llmtrail_alerts::RawAlerts,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Address and port to listen on.
    pub listen: String,
    /// Largest request body accepted by the API, in bytes.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes.
    pub max_header_bytes: usize,
    /// Time a client gets to send its request head, in milliseconds (also the longest TLS
    /// handshake).
    pub header_read_timeout_ms: u64,
    /// PEM file with the listener's certificate chain (server certificate first). With
    /// `tls_key`, the main listener speaks HTTPS only; without, plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// Whether `GET /metrics` needs a token (any role that reads).
    pub metrics_require_token: bool,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 10 * 1024 * 1024,
            max_header_bytes: 64 * 1024,
            header_read_timeout_ms: 30_000,
            tls_cert: None,
            tls_key: None,
            metrics_require_token: true,
        }
    }
}

/// `[ledger]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLedger {
    /// Directory holding the ledger, tokens and (by default) keys.
    pub data_dir: PathBuf,
    /// Directory of the signing and master keys; empty means `<data_dir>/keys`.
    pub keys_dir: Option<PathBuf>,
    /// Checkpoint origin line; empty means the signing key's name.
    pub origin: Option<String>,
    /// Size of each preallocated segment file in bytes.
    pub segment_bytes: u64,
    /// Interval between checkpoints while appends happen, in milliseconds.
    pub checkpoint_interval_ms: u64,
}

impl Default for RawLedger {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./llmtrail-data"),
            keys_dir: None,
            origin: None,
            segment_bytes: 64 * 1024 * 1024,
            checkpoint_interval_ms: 1000,
        }
    }
}

/// The certificate and key files of the listener (`[server] tls_cert`, `tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listener address.
    pub listen: SocketAddr,
    /// TLS for the main listener, when configured (read at startup by `crate::tls`).
    pub tls: Option<TlsFiles>,
    /// API body limit.
    pub max_body_bytes: usize,
    /// Request head limit.
    pub max_header_bytes: usize,
    /// Time to send the request head.
    pub header_read_timeout: Duration,
    /// Whether `GET /metrics` needs a token.
    pub metrics_require_token: bool,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Keys directory.
    pub keys_dir: PathBuf,
    /// Checkpoint origin override.
    pub origin: Option<String>,
    /// Segment size.
    pub segment_bytes: u64,
    /// Checkpoint interval.
    pub checkpoint_interval: Duration,
    /// The provider gateway.
    pub gateway: llmtrail_gateway::config::GatewayConfig,
    /// Detection.
    pub detect: crate::detect::RawDetect,
    /// The OTLP/HTTP receiver.
    pub otlp: crate::otlp::OtlpConfig,
    /// SIEM and webhook sinks.
    pub export: llmtrail_export::ExportConfig,
    /// The MCP proxies' settings (validated).
    pub mcp: llmtrail_mcp::RawMcp,
    /// Sampling of prompt content.
    pub sampling: crate::sampling::RawSampling,
    /// Alerts.
    pub alerts: llmtrail_alerts::AlertsConfig,
}

impl Config {
    /// Reads `path` if given, else uses the defaults.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the offending key.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let raw = match path {
            None => RawConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.into(),
                    source,
                })?;
                Self::parse_raw(&text).map_err(|message| ConfigError::Parse {
                    path: path.into(),
                    message,
                })?
            }
        };
        Self::validate(raw)
    }

    /// Parses TOML text into the raw form.
    ///
    /// # Errors
    /// The parser's message, naming unknown keys.
    pub fn parse_raw(text: &str) -> Result<RawConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }

    /// Turns the raw form into the validated one.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the key.
    pub fn validate(raw: RawConfig) -> Result<Self, ConfigError> {
        let listen = raw
            .server
            .listen
            .parse()
            .map_err(|_| ConfigError::Invalid {
                key: "server.listen",
                why: "expected an address and port such as 127.0.0.1:8080".into(),
            })?;
        if raw.server.max_body_bytes < 1024 {
            return Err(ConfigError::Invalid {
                key: "server.max_body_bytes",
                why: "must be at least 1024".into(),
            });
        }
        if !(8192..=16 * 1024 * 1024).contains(&raw.server.max_header_bytes) {
            return Err(ConfigError::Invalid {
                key: "server.max_header_bytes",
                why: "must be between 8192 and 16777216".into(),
            });
        }
        if raw.server.header_read_timeout_ms == 0 || raw.server.header_read_timeout_ms > 600_000 {
            return Err(ConfigError::Invalid {
                key: "server.header_read_timeout_ms",
                why: "must be between 1 and 600000".into(),
            });
        }
        let nonempty = |p: Option<PathBuf>| p.filter(|p| !p.as_os_str().is_empty());
        let tls = match (nonempty(raw.server.tls_cert), nonempty(raw.server.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::Invalid {
                    key: "server.tls_key",
                    why: "must be set with server.tls_cert".into(),
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::Invalid {
                    key: "server.tls_cert",
                    why: "must be set with server.tls_key".into(),
                });
            }
        };
        let gateway = llmtrail_gateway::config::GatewayConfig::validate(raw.gateway)
            .map_err(|e| ConfigError::Gateway(e.to_string()))?;
        if raw.detect.queue == 0 || raw.detect.queue > 1_000_000 {
            return Err(ConfigError::Invalid {
                key: "detect.queue",
                why: "must be between 1 and 1000000".into(),
            });
        }
        raw.sampling
            .validate()
            .map_err(|why| ConfigError::Invalid {
                key: "sampling",
                why,
            })?;
        if raw.sampling.enabled && !raw.detect.enabled {
            return Err(ConfigError::Invalid {
                key: "sampling.enabled",
                why:
                    "sampling needs detection (detect.enabled = true): a prompt with a finding is \
                      never sampled out"
                        .into(),
            });
        }
        if raw.ledger.segment_bytes < 1024 * 1024 {
            return Err(ConfigError::Invalid {
                key: "ledger.segment_bytes",
                why: "must be at least 1 MiB".into(),
            });
        }
        if raw.ledger.checkpoint_interval_ms == 0 || raw.ledger.checkpoint_interval_ms > 60_000 {
            return Err(ConfigError::Invalid {
                key: "ledger.checkpoint_interval_ms",
                why: "must be between 1 and 60000".into(),
            });
        }
        let otlp = raw
            .otlp
            .validate()
            .map_err(|(key, why)| ConfigError::Invalid { key, why })?;
        if raw.export.queue == 0 || raw.export.queue > 1_000_000 {
            return Err(ConfigError::Invalid {
                key: "export.queue",
                why: "must be between 1 and 1000000".into(),
            });
        }
        let sinks = raw
            .export
            .validate()
            .map_err(|e| ConfigError::Export(e.to_string()))?;
        let alerts = raw
            .alerts
            .validate()
            .map_err(|e| ConfigError::Alerts(e.to_string()))?;
        for (key, name) in alerts.sink_names() {
            if !sinks.iter().any(|(common, _)| common.name == name) {
                return Err(ConfigError::Alerts(format!(
                    "alerts: `{key}` names the sink {name:?}, which is not in [[export.sinks]]"
                )));
            }
        }
        raw.mcp.validate().map_err(|e| match e {
            llmtrail_mcp::config::ConfigError::Invalid { key, why } => ConfigError::Invalid {
                key: match key {
                    "max_message_bytes" => "mcp.max_message_bytes",
                    "hold_timeout_ms" => "mcp.hold_timeout_ms",
                    "url" => "mcp.url",
                    _ => "mcp.tools",
                },
                why,
            },
        })?;
        let keys_dir = match raw.ledger.keys_dir {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => raw.ledger.data_dir.join("keys"),
        };
        let origin = raw.ledger.origin.filter(|o| !o.is_empty());
        if origin
            .as_ref()
            .is_some_and(|o| o.chars().any(char::is_control))
        {
            return Err(ConfigError::Invalid {
                key: "ledger.origin",
                why: "must be one line without control characters".into(),
            });
        }
        Ok(Self {
            listen,
            tls,
            max_body_bytes: raw.server.max_body_bytes,
            max_header_bytes: raw.server.max_header_bytes,
            header_read_timeout: Duration::from_millis(raw.server.header_read_timeout_ms),
            metrics_require_token: raw.server.metrics_require_token,
            data_dir: raw.ledger.data_dir,
            keys_dir,
            origin,
            segment_bytes: raw.ledger.segment_bytes,
            checkpoint_interval: Duration::from_millis(raw.ledger.checkpoint_interval_ms),
            gateway,
            detect: raw.detect,
            otlp,
            export: raw.export,
            mcp: raw.mcp,
            sampling: raw.sampling,
            alerts,
        })
    }

    /// Points the data directory elsewhere; a keys directory that was defaulted follows it.
    pub fn set_data_dir(&mut self, dir: PathBuf) {
        if self.keys_dir == self.data_dir.join("keys") {
            self.keys_dir = dir.join("keys");
        }
        self.data_dir = dir;
    }

    /// Returns the ledger directory inside the data directory.
    pub fn ledger_dir(&self) -> PathBuf {
        self.data_dir.join("ledger")
    }

    /// Returns the ledger options this configuration implies.
    pub fn ledger_options(&self) -> llmtrail_ledger::LedgerOptions {
        let mut opts = llmtrail_ledger::LedgerOptions::new(self.ledger_dir());
        opts.origin = self.origin.clone();
        opts.segment_bytes = self.segment_bytes;
        opts.checkpoint_interval = self.checkpoint_interval;
        opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./llmtrail-data"));
        assert_eq!(c.keys_dir, PathBuf::from("./llmtrail-data/keys"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::parse_raw("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
        let err = Config::parse_raw("[ledgr]\n").unwrap_err();
        assert!(err.contains("ledgr"), "{err}");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let raw = Config::parse_raw("[server]\nlisten = \"nowhere\"\n").unwrap();
        let err = Config::validate(raw).unwrap_err().to_string();
        assert!(err.contains("server.listen"), "{err}");
    }

    #[test]
    fn alert_routes_must_name_configured_sinks() {
        let ok = Config::parse_raw(
            "[[export.sinks]]\ntype = \"file\"\nname = \"pager\"\npath = \"p.jsonl\"\n\
             [alerts]\nescalation_sinks = [\"pager\"]\n[alerts.routes]\ncritical = [\"pager\"]\n",
        )
        .unwrap();
        assert_eq!(Config::validate(ok).unwrap().alerts.routes[3], ["pager"]);
        let bad = Config::parse_raw("[alerts.routes]\nhigh = [\"nowhere\"]\n").unwrap();
        let err = Config::validate(bad).unwrap_err().to_string();
        assert!(
            err.contains("routes.high") && err.contains("nowhere"),
            "{err}"
        );
        let bad = Config::parse_raw("[alerts]\ndedup = \"forever\"\n").unwrap();
        assert!(
            Config::validate(bad)
                .unwrap_err()
                .to_string()
                .contains("dedup")
        );
    }

    #[test]
    fn export_sinks_are_read_and_checked() {
        let raw = Config::parse_raw(
            "[[export.sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:5514\"\nprotocol = \"tcp\"\nformat = \"cef\"\n",
        )
        .unwrap();
        let c = Config::validate(raw).unwrap();
        assert_eq!(c.export.sinks.len(), 1);
        assert!(
            Config::validate(RawConfig::default())
                .unwrap()
                .export
                .sinks
                .is_empty()
        );
        let raw = Config::parse_raw("[[export.sinks]]\ntype = \"syslog\"\naddress = \"nowhere\"\n")
            .unwrap();
        let err = Config::validate(raw).unwrap_err().to_string();
        assert!(
            err.contains("export.sinks[0]") && err.contains("address"),
            "{err}"
        );
        let err =
            Config::parse_raw("[[export.sinks]]\ntype = \"file\"\npath = \"x\"\nfromat = 1\n")
                .unwrap_err();
        assert!(err.contains("fromat"), "{err}");
    }

    #[test]
    fn otlp_is_on_the_main_listener_by_default_and_its_keys_are_checked() {
        let c = Config::load(None).unwrap();
        assert!(c.otlp.enabled && c.otlp.require_token);
        assert_eq!(c.otlp.listen, None);
        let raw = Config::parse_raw("[otlp]\nlisten = \"127.0.0.1:4318\"\n").unwrap();
        let c = Config::validate(raw).unwrap();
        assert_eq!(c.otlp.listen.unwrap().port(), 4318);
        let raw = Config::parse_raw("[otlp]\nlisten = \"4318\"\n").unwrap();
        let err = Config::validate(raw).unwrap_err().to_string();
        assert!(err.contains("otlp.listen"), "{err}");
        let err = Config::parse_raw("[otlp]\nmax_body = 3\n").unwrap_err();
        assert!(err.contains("max_body"), "{err}");
    }

    #[test]
    fn tls_needs_both_files() {
        assert_eq!(Config::load(None).unwrap().tls, None);
        let raw =
            Config::parse_raw("[server]\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n").unwrap();
        let c = Config::validate(raw).unwrap();
        assert_eq!(
            c.tls,
            Some(TlsFiles {
                cert: "c.pem".into(),
                key: "k.pem".into()
            })
        );
        let raw = Config::parse_raw("[server]\ntls_cert = \"c.pem\"\n").unwrap();
        let err = Config::validate(raw).unwrap_err().to_string();
        assert!(err.contains("server.tls_key"), "{err}");
    }

    #[test]
    fn data_dir_override_moves_default_keys_dir() {
        let mut c = Config::load(None).unwrap();
        c.set_data_dir(PathBuf::from("/tmp/x"));
        assert_eq!(c.keys_dir, PathBuf::from("/tmp/x/keys"));
    }
}
