//! The proxies' link to a running `serve`: appending events (acknowledged once durable) and
//! waiting for approvals of held calls.
//!
//! Contract: [`Reporter::append`] returns `Ok` only when `serve` answered 200 with a receipt
//! per event, that is, when the events are in the ledger (fdatasync done). Anything else is a
//! [`ReportError`] and, by default, the proxy does not forward what it could not log.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use llmtrail_core::Event;
use serde_json::{Value, json};
use uuid::Uuid;

/// An HTTP(S) client with pooled keep-alive connections.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

const MAX_REPLY: usize = 1024 * 1024;
const APPEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds a pooled client that speaks HTTP and HTTPS (system roots, else the bundled Mozilla
/// roots).
#[must_use]
pub fn http_client() -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_secs(5)));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder =
        match HttpsConnectorBuilder::new().with_provider_and_native_roots(Arc::clone(&provider)) {
            Ok(b) => b,
            Err(_) => match HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider) {
                Ok(b) => b,
                Err(_) => HttpsConnectorBuilder::new().with_webpki_roots(),
            },
        };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https)
}

/// Why events could not be reported.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `serve` could not be reached.
    #[error("llmtrail serve at {url} is unreachable: {why}")]
    Unreachable {
        /// Base URL.
        url: String,
        /// What failed.
        why: String,
    },
    /// `serve` answered with an error.
    #[error("llmtrail serve answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its answer (bounded; never contains our events' content).
        body: String,
    },
    /// `serve` took too long.
    #[error("llmtrail serve did not answer within {0:?}")]
    Timeout(Duration),
}

/// What an approver decided about a held call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    /// Not decided yet.
    Pending,
    /// Approved: the call runs.
    Approved {
        /// Who approved (token name).
        by: String,
    },
    /// Denied: the call is refused.
    Denied {
        /// Who denied (token name).
        by: String,
        /// Why, when given.
        reason: Option<String>,
    },
    /// `serve` does not know the hold (restarted, or it expired there).
    Unknown,
}

/// A client of `serve`'s event and approval API.
#[derive(Debug, Clone)]
pub struct Reporter {
    client: HttpClient,
    base: String,
    token: Option<String>,
}

impl Reporter {
    /// Creates a reporter for `base` (e.g. `http://127.0.0.1:8080`) with an API token.
    #[must_use]
    pub fn new(base: &str, token: Option<String>) -> Self {
        Self {
            client: http_client(),
            base: base.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes), ReportError> {
        let unreachable = |why: String| ReportError::Unreachable {
            url: self.base.clone(),
            why,
        };
        let uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e: http::uri::InvalidUri| unreachable(e.to_string()))?;
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| unreachable(e.to_string()))?;
        let fut = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let status = resp.status();
            let bytes = Limited::new(resp.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok((status, bytes))
        };
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ReportError::Timeout(timeout)),
        }
    }

    /// Checks that `serve` answers and that the token may append events.
    ///
    /// # Errors
    /// [`ReportError`] when it does not.
    pub async fn check(&self) -> Result<(), ReportError> {
        let (status, reply) = self
            .call(Method::GET, "/api/v1/token", None, APPEND_TIMEOUT)
            .await?;
        if status.is_success() {
            let v: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
            match v["role"].as_str() {
                Some("ingest" | "admin") => Ok(()),
                other => Err(ReportError::Status {
                    status: 403,
                    body: format!(
                        "the token's role ({}) cannot append events: use an ingest token",
                        other.unwrap_or("unknown")
                    ),
                }),
            }
        } else {
            Err(ReportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&reply).chars().take(300).collect(),
            })
        }
    }

    /// Appends events and waits until `serve` has made them durable.
    ///
    /// # Errors
    /// [`ReportError`] when `serve` is unreachable, slow, or refuses them.
    pub async fn append(&self, events: &[Event]) -> Result<(), ReportError> {
        let body: Vec<Value> = events.iter().map(Event::to_value).collect();
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let (status, reply) = self
            .call(Method::POST, "/api/v1/events", Some(bytes), APPEND_TIMEOUT)
            .await?;
        if status == StatusCode::OK {
            Ok(())
        } else {
            Err(ReportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&reply).chars().take(300).collect(),
            })
        }
    }

    /// Asks whether an alert's playbook holds `user`'s tool calls for approval
    /// (`GET /api/v1/alerts/holds/{user}`); returns the alert rule behind the hold. A `serve`
    /// with alerts disabled (404) holds nothing.
    ///
    /// # Errors
    /// [`ReportError`] when `serve` is unreachable or answers with another error.
    pub async fn held(&self, user: &str) -> Result<Option<String>, ReportError> {
        let path = format!("/api/v1/alerts/holds/{}", percent_encode(user));
        let (status, reply) = self.call(Method::GET, &path, None, APPEND_TIMEOUT).await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(ReportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&reply).chars().take(300).collect(),
            });
        }
        let v: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        Ok((v["held"] == true).then(|| {
            format!(
                "alert:{}:{}",
                v["rule_id"].as_str().unwrap_or("unknown"),
                v["alert_id"].as_str().unwrap_or("unknown")
            )
        }))
    }

    /// Registers a held call (its `tool.call` event, already appended) for approval.
    ///
    /// # Errors
    /// [`ReportError`] when `serve` is unreachable or refuses it.
    pub async fn hold(
        &self,
        event: Uuid,
        tool: &str,
        rule: Option<&str>,
        timeout: Duration,
    ) -> Result<(), ReportError> {
        let body = json!({
            "event_id": event,
            "tool": tool,
            "rule": rule,
            "timeout_ms": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        });
        let (status, reply) = self
            .call(
                Method::POST,
                "/api/v1/approvals",
                Some(body.to_string().into_bytes()),
                APPEND_TIMEOUT,
            )
            .await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(ReportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&reply).chars().take(300).collect(),
            })
        }
    }

    /// Asks for the decision on a held call, waiting up to `wait` for one to be made.
    ///
    /// # Errors
    /// [`ReportError`] when `serve` is unreachable or answers with an error.
    pub async fn approval(&self, event: Uuid, wait: Duration) -> Result<Approval, ReportError> {
        let ms = wait.as_millis();
        let (status, reply) = self
            .call(
                Method::GET,
                &format!("/api/v1/approvals/{event}?wait_ms={ms}"),
                None,
                wait + APPEND_TIMEOUT,
            )
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Approval::Unknown);
        }
        if !status.is_success() {
            return Err(ReportError::Status {
                status: status.as_u16(),
                body: String::from_utf8_lossy(&reply).chars().take(300).collect(),
            });
        }
        let v: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
        let by = v["decided_by"].as_str().unwrap_or_default().to_owned();
        Ok(match v["state"].as_str() {
            Some("approved") => Approval::Approved { by },
            Some("denied") => Approval::Denied {
                by,
                reason: v["reason"].as_str().map(str::to_owned),
            },
            Some("pending") => Approval::Pending,
            _ => Approval::Unknown,
        })
    }
}

/// Joins an error and its sources (hyper's outer error alone says only "client error").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        cur = inner.source();
    }
    s
}

/// Percent-encodes a path segment (everything but unreserved characters).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
