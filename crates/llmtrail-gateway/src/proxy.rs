//! The gateway's request path, as phases over one [`Exchange`]:
//!
//! 1. `on_request`: admission (in-flight limit), who is calling (virtual key or pass-through),
//!    reading the body within its limit, parsing it, choosing the upstream;
//! 2. logging the request: in audit mode the `llm.request` (and the `tool.call` events for
//!    tool results it carries) is durable before anything is forwarded, and a ledger failure
//!    is a 503 with nothing forwarded; in permissive mode it is queued and the request goes on;
//! 3. `on_upstream_response`: the status and headers go to the client at once, with
//!    `x-llmtrail-request-id`; the body is passed through frame by frame ([`Capture`]),
//!    except a non-streamed output under a `redact` policy, which is read whole, recorded
//!    raw, and sent masked;
//! 4. `on_complete`: when the body ends (or the client leaves, or the upstream breaks), the
//!    captured output is parsed and the `llm.response` is queued for the ledger.
//!
//! Every answer, the gateway's own errors included, carries `x-llmtrail-request-id`.
//! Refused keys become `audit` events; malformed requests are recorded with their raw bytes.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use llmtrail_core::{Event, LlmRequest};
use llmtrail_ledger::Journal;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::capture::{BoxError, Capture, Captured, OnEnd};
use crate::config::{GatewayConfig, Kind, OnLogFailure};
use crate::exchange::{CallIndex, Exchange, call_scope, requested_call_ids, traceparent};
use crate::identity::{self, KeyHeader};
use crate::providers::{self, Api, ParsedResponse};
use crate::recorder::{Recorder, RecorderTask};
use crate::reply::GatewayError;
use crate::upstream::{self, HttpClient};
use crate::vkeys::{self, Keyring, Lookup};

/// Header carrying the id of the request's `llm.request` event.
pub const REQUEST_ID_HEADER: &str = "x-llmtrail-request-id";

/// Header on an output the policy redacted: how many spans were masked.
pub const REDACTED_HEADER: &str = "x-llmtrail-redacted";

/// Body type of gateway responses.
pub type GatewayBody = UnsyncBoxBody<Bytes, BoxError>;

/// Returns the wire format of an API.
#[must_use]
pub fn api_kind(api: Api) -> Kind {
    match api {
        Api::AnthropicMessages => Kind::Anthropic,
        _ => Kind::OpenAi,
    }
}

/// The gateway: configuration, upstream client, keyring, journal and recorder.
pub struct Gateway {
    cfg: GatewayConfig,
    client: HttpClient,
    keyring: Keyring,
    journal: Arc<dyn Journal>,
    recorder: Recorder,
    in_flight: Arc<Semaphore>,
    calls: CallIndex,
    policy: Option<crate::policy::Policy>,
    runtime: tokio::runtime::Handle,
    admission: std::sync::OnceLock<Arc<dyn crate::admission::Admission>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

/// What the client's key turned out to be.
enum Credential {
    /// A valid virtual key: the identity and the real key's environment variable.
    Virtual(Arc<vkeys::VirtualKey>, KeyHeader),
    /// The client's own provider key (or none), forwarded untouched.
    PassThrough,
}

impl Gateway {
    /// Builds the gateway on the current tokio runtime; returns it and the recorder task,
    /// which [`Gateway::shutdown`]'s caller awaits after the last request.
    ///
    /// # Errors
    /// [`vkeys::VkeyError`] when the virtual key store exists but cannot be read.
    pub fn new(
        cfg: GatewayConfig,
        data_dir: &std::path::Path,
        journal: Arc<dyn Journal>,
        engine: Option<Arc<llmtrail_detect::Engine>>,
    ) -> Result<(Arc<Gateway>, RecorderTask), vkeys::VkeyError> {
        let keyring = Keyring::open(data_dir)?;
        let policy = engine.and_then(|e| crate::policy::Policy::new(&cfg.policy, e));
        let (recorder, task) = Recorder::start(Arc::clone(&journal));
        let gateway = Gateway {
            client: upstream::client(&cfg),
            in_flight: Arc::new(Semaphore::new(cfg.max_in_flight)),
            cfg,
            keyring,
            journal,
            recorder,
            calls: CallIndex::new(100_000),
            policy,
            runtime: tokio::runtime::Handle::current(),
            admission: std::sync::OnceLock::new(),
        };
        Ok((Arc::new(gateway), task))
    }

    /// Returns the configuration.
    #[must_use]
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// Installs the admission check (alert playbooks' blocks); only the first call counts.
    pub fn set_admission(&self, admission: Arc<dyn crate::admission::Admission>) {
        let _ = self.admission.set(admission);
    }

    /// Returns the recorder (for its counters).
    #[must_use]
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Handles one provider request from `peer`.
    pub async fn handle<B>(
        self: &Arc<Self>,
        api: Api,
        req: Request<B>,
        peer: IpAddr,
    ) -> Response<GatewayBody>
    where
        B: Body<Data = Bytes> + Send + Unpin,
        B::Error: Into<BoxError>,
    {
        let kind = api_kind(api);
        let mut ex = Exchange::new(api, req.uri().path(), kind.name());
        let (parts, body) = req.into_parts();
        ex.actor.source_ip = Some(identity::source_ip(
            peer,
            &parts.headers,
            &self.cfg.trusted_proxies,
        ));
        ex.actor.user_agent = identity::user_agent(&parts.headers);
        ex.trace = traceparent(&parts.headers);

        let Ok(permit) = Arc::clone(&self.in_flight).try_acquire_owned() else {
            let event = ex.refusal_event("gateway.admit", "overloaded", None);
            self.recorder.send(vec![event]);
            tracing::warn!(
                limit = self.cfg.max_in_flight,
                "gateway at its in-flight limit"
            );
            return self.reply(
                &ex,
                kind,
                &GatewayError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "too many requests in flight at the gateway; retry shortly",
                ),
            );
        };

        // Who is calling.
        let credential = match self.authenticate(&mut ex, &parts.headers) {
            Ok(c) => c,
            Err((reason, target)) => return self.deny(&ex, kind, reason, target.as_deref()).await,
        };
        let header_id = identity::header_identity(&parts.headers);

        // The body, within its limit.
        let (bytes, too_large) = match read_limited(body, self.cfg.max_body_bytes).await {
            Ok(r) => r,
            Err(()) => {
                let event =
                    ex.request_event(LlmRequest::new("", ""), b"", Some("body_read_failed"));
                let failure = ex.failure_event(400, "client_aborted", "body_read_failed");
                self.recorder.send(vec![event, failure]);
                return self.reply(
                    &ex,
                    kind,
                    &GatewayError::new(
                        StatusCode::BAD_REQUEST,
                        "body_read_failed",
                        "the request body could not be read",
                    ),
                );
            }
        };
        let header_id = match header_id {
            Ok(h) => h,
            Err(e) => {
                let err =
                    GatewayError::new(StatusCode::BAD_REQUEST, "invalid_header", e.to_string());
                return self
                    .reject(&ex, kind, LlmRequest::new("", ""), &bytes, err)
                    .await;
            }
        };
        if too_large {
            let err = GatewayError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "request body exceeds the gateway limit of {} bytes",
                    self.cfg.max_body_bytes
                ),
            );
            return self
                .reject(&ex, kind, LlmRequest::new("", ""), &bytes, err)
                .await;
        }

        // What the request says.
        let value = if api == Api::OpenAiModels {
            Value::Null
        } else {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    let (code, msg) = if std::str::from_utf8(&bytes).is_err() {
                        ("invalid_utf8", "request body is not UTF-8".to_owned())
                    } else {
                        (
                            "invalid_json",
                            format!(
                                "request body is not valid JSON (line {} column {})",
                                e.line(),
                                e.column()
                            ),
                        )
                    };
                    let err = GatewayError::new(StatusCode::BAD_REQUEST, code, msg);
                    return self
                        .reject(&ex, kind, LlmRequest::new("", ""), &bytes, err)
                        .await;
                }
            }
        };
        let mut parsed = match providers::parse_request(api, &value) {
            Ok(p) => p,
            Err(e) => {
                let err =
                    GatewayError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string());
                return self
                    .reject(&ex, kind, LlmRequest::new("", ""), &bytes, err)
                    .await;
            }
        };
        if api == Api::OpenAiModels
            && let Some(id) = ex
                .path
                .strip_prefix("/v1/models/")
                .filter(|m| !m.is_empty())
        {
            parsed.body.model = id.to_owned();
        }

        // Identity: the key's, or the headers' and the body's in pass-through mode.
        match &credential {
            Credential::Virtual(key, _) => {
                ex.actor.user = Some(key.user.clone());
                ex.actor.role.clone_from(&key.role);
                ex.actor.department.clone_from(&key.department);
                ex.actor.agent = key.agent.clone().or(header_id.agent.clone());
                ex.actor.session = header_id.session.clone();
                ex.tags = key.tags.clone();
                ex.tags.extend(header_id.tags.clone());
            }
            Credential::PassThrough => {
                let actor = identity::pass_through_actor(&header_id, parsed.user.as_deref());
                ex.actor.user = actor.user;
                ex.actor.role = actor.role;
                ex.actor.department = actor.department;
                ex.actor.session = actor.session;
                ex.actor.agent = actor.agent;
                ex.tags = header_id.tags.clone();
            }
        }

        if let Some(refusal) = self.admission.get().and_then(|a| a.refuse(&ex.actor)) {
            return self.refuse(&ex, kind, parsed.body, &bytes, &refusal).await;
        }

        let upstream = match upstream::route(&self.cfg, kind, &parsed.body.model, &parts.headers) {
            Ok(u) => u,
            Err(e) => {
                let err = GatewayError::new(StatusCode::BAD_REQUEST, "no_upstream", e.to_string());
                return self.reject(&ex, kind, parsed.body, &bytes, err).await;
            }
        };
        ex.provider.clone_from(&upstream.provider);
        ex.upstream = Some(upstream.name.clone());

        // Log the request.
        let scope = call_scope(&ex.actor);
        let tool_results = std::mem::take(&mut parsed.tool_results);
        let mut events = vec![ex.request_event(parsed.body, &bytes, None)];
        let blocked = self.policy.as_ref().and_then(|p| p.check(&events[0]));
        events.extend(ex.tool_events(tool_results, |id| self.calls.find(&scope, id)));
        if let Some(b) = blocked {
            return self.block(&ex, kind, events, &b).await;
        }
        if let Err(err) = self.log(events).await {
            return self.reply(&ex, kind, &err);
        }

        // Forward.
        let mut headers = upstream::request_headers(&parts.headers);
        if let Credential::Virtual(key, where_) = &credential {
            let env = key
                .provider_key_env
                .as_deref()
                .or(upstream.api_key_env.as_deref());
            let Some(real) = env.and_then(|name| std::env::var(name).ok()) else {
                tracing::error!(upstream = %upstream.name, key_id = %key.id, "no provider key configured behind this virtual key");
                let err = GatewayError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "upstream_key_missing",
                    "the gateway has no provider key for this virtual key",
                );
                self.recorder
                    .send(vec![ex.failure_event(500, "gateway", err.code)]);
                return self.reply(&ex, kind, &err);
            };
            headers.remove(http::header::AUTHORIZATION);
            headers.remove("x-api-key");
            let value = match (kind, where_) {
                (Kind::Anthropic, _) | (_, KeyHeader::ApiKey) => {
                    ("x-api-key", HeaderValue::from_str(&real))
                }
                (Kind::OpenAi, KeyHeader::Bearer) => (
                    "authorization",
                    HeaderValue::from_str(&format!("Bearer {real}")),
                ),
            };
            match value {
                (name, Ok(mut v)) => {
                    v.set_sensitive(true);
                    headers.insert(name, v);
                }
                (_, Err(_)) => {
                    let err = GatewayError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "upstream_key_invalid",
                        "the provider key behind this virtual key is not a valid header value",
                    );
                    self.recorder
                        .send(vec![ex.failure_event(500, "gateway", err.code)]);
                    return self.reply(&ex, kind, &err);
                }
            }
        }
        let path_q = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let Ok(uri) =
            format!("{}{}{}", upstream.origin, upstream.path_prefix, path_q).parse::<Uri>()
        else {
            let err = GatewayError::new(
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "the request path cannot be forwarded",
            );
            self.recorder
                .send(vec![ex.failure_event(400, "gateway", err.code)]);
            return self.reply(&ex, kind, &err);
        };
        let mut out = Request::new(Full::new(bytes));
        *out.method_mut() = if api == Api::OpenAiModels {
            Method::GET
        } else {
            parts.method.clone()
        };
        *out.uri_mut() = uri;
        *out.headers_mut() = headers;

        let sent = tokio::time::timeout(self.cfg.response_timeout, self.client.request(out)).await;
        let resp = match sent {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => {
                let timed_out = is_timeout(&e);
                let (status, code, msg) = if timed_out {
                    (
                        StatusCode::GATEWAY_TIMEOUT,
                        "upstream_timeout",
                        "connecting to the upstream timed out",
                    )
                } else if e.is_connect() {
                    (
                        StatusCode::BAD_GATEWAY,
                        "upstream_unreachable",
                        "the upstream could not be reached",
                    )
                } else {
                    (
                        StatusCode::BAD_GATEWAY,
                        "upstream_failed",
                        "the upstream closed the connection without a response",
                    )
                };
                tracing::warn!(upstream = %upstream.name, code, error = %e, "upstream request failed");
                self.recorder
                    .send(vec![ex.failure_event(status.as_u16(), "upstream", code)]);
                return self.reply(&ex, kind, &GatewayError::new(status, code, msg));
            }
            Err(_) => {
                tracing::warn!(upstream = %upstream.name, "upstream response timed out");
                let err = GatewayError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "upstream_timeout",
                    "the upstream did not answer in time",
                );
                self.recorder
                    .send(vec![ex.failure_event(504, "upstream", err.code)]);
                return self.reply(&ex, kind, &err);
            }
        };

        // Pass the answer through while capturing it.
        let (rparts, rbody) = resp.into_parts();
        let streamed = rparts
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("text/event-stream"));
        let mut headers = upstream::response_headers(&rparts.headers);
        insert_id(&mut headers, &ex);
        ex.upstream_request_id = rparts
            .headers
            .get("x-request-id")
            .or_else(|| rparts.headers.get("request-id"))
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 256)
            .map(str::to_owned);
        let redact = if !streamed && rparts.status.is_success() {
            self.policy
                .as_ref()
                .filter(|p| p.redacts(api))
                .map(|p| (p.clone(), ex.clone()))
        } else {
            None
        };
        let on_end = Box::new(Completion {
            gateway: Arc::clone(self),
            ex,
            http_status: rparts.status.as_u16(),
            streamed,
            scope,
            _permit: permit,
        });
        let body = Capture::new(rbody, self.cfg.idle_timeout, on_end);
        if let Some((policy, ex)) = redact {
            return self
                .redacted(policy, ex, kind, rparts.status, headers, body)
                .await;
        }
        let mut resp = Response::new(body.boxed_unsync());
        *resp.status_mut() = rparts.status;
        *resp.headers_mut() = headers;
        resp
    }

    fn authenticate(
        &self,
        ex: &mut Exchange,
        headers: &http::HeaderMap,
    ) -> Result<Credential, (&'static str, Option<String>)> {
        match identity::client_key(headers) {
            Some((key, where_)) if key.starts_with(vkeys::KEY_PREFIX) => {
                match self.keyring.lookup(&key) {
                    Lookup::Valid(k) => {
                        ex.actor.api_key_id = Some(k.id.clone());
                        Ok(Credential::Virtual(k, where_))
                    }
                    Lookup::Revoked(k) => {
                        ex.actor.api_key_id = Some(k.id.clone());
                        ex.actor.user = Some(k.user.clone());
                        Err(("revoked_key", Some(k.id.clone())))
                    }
                    Lookup::Unknown => {
                        ex.actor.api_key_id = Some(vkeys::fingerprint(&key));
                        Err(("unknown_key", None))
                    }
                }
            }
            Some((key, _)) => {
                ex.actor.api_key_id = Some(vkeys::fingerprint(&key));
                if self.cfg.require_virtual_keys {
                    Err(("virtual_key_required", None))
                } else {
                    Ok(Credential::PassThrough)
                }
            }
            None if self.cfg.require_virtual_keys => Err(("missing_key", None)),
            None => Ok(Credential::PassThrough),
        }
    }

    /// Refuses a key: an `audit` event, then a 401.
    async fn deny(
        &self,
        ex: &Exchange,
        kind: Kind,
        reason: &'static str,
        target: Option<&str>,
    ) -> Response<GatewayBody> {
        let event = ex.refusal_event("gateway.authenticate", reason, target);
        let _ = self.log(vec![event]).await;
        let message = match reason {
            "revoked_key" => "this virtual key has been revoked",
            "virtual_key_required" | "missing_key" => {
                "this gateway requires an llmtrail virtual key"
            }
            _ => "unknown virtual key",
        };
        self.reply(
            ex,
            kind,
            &GatewayError::new(StatusCode::UNAUTHORIZED, reason, message),
        )
    }

    /// Refuses a request that policy blocks: it is recorded (with the rule) and answered 403.
    async fn block(
        &self,
        ex: &Exchange,
        kind: Kind,
        mut events: Vec<Event>,
        blocked: &crate::policy::Blocked,
    ) -> Response<GatewayBody> {
        if let Some(llmtrail_core::Body::LlmRequest(r)) = events.first_mut().map(|e| &mut e.body) {
            r.attributes
                .insert("llmtrail.blocked_by".into(), blocked.rule_id.clone().into());
        }
        events.push(ex.failure_event(403, "policy", "policy_blocked"));
        if let Err(e) = self.log(events).await {
            return self.reply(ex, kind, &e);
        }
        let category = serde_json::to_value(blocked.category)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.reply(
            ex,
            kind,
            &GatewayError::new(
                StatusCode::FORBIDDEN,
                "policy_blocked",
                format!(
                    "blocked by llmtrail policy: rule {} ({category}/{})",
                    blocked.rule_id, blocked.kind
                ),
            ),
        )
    }

    /// Answers with a non-streamed output after redaction: the whole body is read (the
    /// capture records it raw, as for any answer), scanned off the async threads, and the
    /// masked version is sent with `x-llmtrail-redacted: <spans>`; an `audit` event records
    /// that the client saw a redacted output.
    async fn redacted<B>(
        &self,
        policy: crate::policy::Policy,
        ex: Exchange,
        kind: Kind,
        status: StatusCode,
        mut headers: http::HeaderMap,
        body: Capture<B>,
    ) -> Response<GatewayBody>
    where
        Capture<B>: Body<Data = Bytes, Error = BoxError>,
    {
        let Ok(collected) = body.collect().await else {
            return self.reply(
                &ex,
                kind,
                &GatewayError::new(
                    StatusCode::BAD_GATEWAY,
                    "upstream_failed",
                    "the upstream's answer broke off before its end",
                ),
            );
        };
        let bytes = collected.to_bytes();
        let api = ex.api;
        let scanned = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || policy.redact(api, &bytes)).await
        };
        let out = match scanned {
            Ok(Some(r)) => {
                headers.remove(http::header::CONTENT_LENGTH);
                headers.insert(REDACTED_HEADER, HeaderValue::from(r.spans));
                tracing::info!(request_id = %ex.id, rules = ?r.rules, spans = r.spans, "output redacted by policy");
                self.recorder
                    .send(vec![ex.redaction_event(&r.rules, r.spans)]);
                Bytes::from(r.body)
            }
            Ok(None) => bytes,
            Err(e) => {
                // The scan panicked: the output is withheld rather than passed unchecked.
                tracing::error!(request_id = %ex.id, error = %e, "redaction scan failed");
                return self.reply(
                    &ex,
                    kind,
                    &GatewayError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "redaction_failed",
                        "the gateway could not check this output",
                    ),
                );
            }
        };
        let mut resp = Response::new(
            Full::new(out)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *resp.status_mut() = status;
        *resp.headers_mut() = headers;
        resp
    }

    /// Refuses a caller that an alert's playbook blocked: recorded (with the alert) and
    /// answered 403 naming the alert.
    async fn refuse(
        &self,
        ex: &Exchange,
        kind: Kind,
        mut body: LlmRequest,
        raw: &[u8],
        refusal: &crate::admission::Refusal,
    ) -> Response<GatewayBody> {
        use crate::admission::{ALERT_HEADER, BLOCKED_CODE};
        body.attributes.insert(
            "llmtrail.blocked_by_alert".into(),
            refusal.alert_id.clone().into(),
        );
        let events = vec![
            ex.request_event(body, raw, Some(BLOCKED_CODE)),
            ex.failure_event(403, "alert", BLOCKED_CODE),
        ];
        tracing::info!(
            alert_id = %refusal.alert_id,
            rule = %refusal.rule_id,
            subject = refusal.subject,
            "request refused: blocked by an alert"
        );
        if let Err(e) = self.log(events).await {
            return self.reply(ex, kind, &e);
        }
        let err = GatewayError::new(
            StatusCode::FORBIDDEN,
            BLOCKED_CODE,
            format!(
                "this {} is blocked until {} by llmtrail alert {} (rule {})",
                refusal.subject, refusal.until, refusal.alert_id, refusal.rule_id
            ),
        );
        let mut resp = self.reply(ex, kind, &err);
        if let Ok(v) = HeaderValue::from_str(&refusal.alert_id) {
            resp.headers_mut().insert(ALERT_HEADER, v);
        }
        resp
    }

    /// Records a request the gateway refuses to forward, raw bytes included, and answers.
    async fn reject(
        &self,
        ex: &Exchange,
        kind: Kind,
        body: LlmRequest,
        raw: &[u8],
        err: GatewayError,
    ) -> Response<GatewayBody> {
        let events = vec![
            ex.request_event(body, raw, Some(err.code)),
            ex.failure_event(err.status.as_u16(), "invalid_request", err.code),
        ];
        if let Err(e) = self.log(events).await {
            return self.reply(ex, kind, &e);
        }
        self.reply(ex, kind, &err)
    }

    /// Logs events per the mode: durable before returning in audit mode, queued otherwise.
    async fn log(&self, events: Vec<Event>) -> Result<(), GatewayError> {
        match self.cfg.on_log_failure {
            OnLogFailure::Allow => {
                self.recorder.send(events);
                Ok(())
            }
            OnLogFailure::Block => match self.journal.append(&events).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "ledger write failed; refusing to forward");
                    Err(GatewayError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "ledger_unavailable",
                        "llmtrail cannot record this request right now, so it was not forwarded",
                    ))
                }
            },
        }
    }

    fn reply(&self, ex: &Exchange, kind: Kind, err: &GatewayError) -> Response<GatewayBody> {
        let (mut parts, body) = err.render(kind).into_parts();
        insert_id(&mut parts.headers, ex);
        Response::from_parts(
            parts,
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
    }

    fn complete(&self, done: &Completion, captured: &Captured) {
        let body = captured.body();
        let api = done.ex.api;
        let parsed = if api == Api::OpenAiModels {
            ParsedResponse {
                complete: true,
                ..ParsedResponse::default()
            }
        } else if done.streamed {
            providers::parse_stream(api, &body)
        } else {
            providers::parse_response(api, &body)
        };
        let event =
            done.ex
                .response_event(done.http_status, done.streamed, captured, &body, parsed);
        let calls = requested_call_ids(&event);
        if !calls.is_empty() {
            self.calls.remember(&done.scope, calls, event.id);
        }
        self.recorder.send(vec![event]);
    }
}

/// The `on_complete` phase, run when the response body ends however it ends.
struct Completion {
    gateway: Arc<Gateway>,
    ex: Exchange,
    http_status: u16,
    streamed: bool,
    scope: String,
    /// Held until the body ends, so streams count against the in-flight limit.
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl OnEnd for Completion {
    fn on_end(self: Box<Self>, captured: Captured) {
        // Called where the body ends, which for a body of known length is before its last
        // frame reaches the client: parsing and recording run as their own task, so the
        // client never waits for them.
        let runtime = self.gateway.runtime.clone();
        runtime.spawn(async move {
            let gateway = Arc::clone(&self.gateway);
            gateway.complete(&self, &captured);
        });
    }
}

fn insert_id(headers: &mut http::HeaderMap, ex: &Exchange) {
    if let Ok(v) = HeaderValue::from_str(&ex.id.to_string()) {
        headers.insert(REQUEST_ID_HEADER, v);
    }
}

fn is_timeout(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        source = s.source();
    }
    false
}

/// Reads a body up to `limit` bytes; returns what was read and whether there was more.
/// Err when the body fails (the client went away mid-upload).
async fn read_limited<B>(mut body: B, limit: usize) -> Result<(Bytes, bool), ()>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ())?;
        if let Ok(data) = frame.into_data() {
            if total + data.len() > limit {
                let room = limit - total;
                chunks.push(data.slice(..room));
                return Ok((concat(chunks, limit), true));
            }
            total += data.len();
            chunks.push(data);
        }
    }
    Ok((concat(chunks, total), false))
}

fn concat(chunks: Vec<Bytes>, total: usize) -> Bytes {
    if chunks.len() == 1 {
        return chunks.into_iter().next().unwrap_or_default();
    }
    let mut all = Vec::with_capacity(total);
    for c in chunks {
        all.extend_from_slice(&c);
    }
    Bytes::from(all)
}
