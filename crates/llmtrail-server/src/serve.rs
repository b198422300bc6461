//! `serve`: open the data directory (creating keys and the first admin token on a first start),
//! open the ledger, listen (API, gateway and OTLP receiver on one HTTP/1.1 listener, plus an
//! OTLP-only listener when `otlp.listen` is set), start the `[export]` sinks and the
//! `[alerts]` engine (rebuilt from the ledger, see `crate::alerts`), and shut down
//! cleanly on SIGINT or SIGTERM with a final checkpoint.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use llmtrail_gateway::proxy::Gateway;
use tower::ServiceExt as _;

use llmtrail_ledger::keys::{Keys, MASTER_KEY_ENV};
use llmtrail_ledger::{Ledger, LedgerError};

use crate::api::{AppState, PeerAddr, router};
use crate::auth::{AuthError, Tokens};
use crate::config::Config;
use crate::detect::Detection;
use crate::links::{Indexed, Links};
use crate::otlp::{self, OtlpState};

/// Errors starting or running the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Key files could not be read or created.
    #[error(transparent)]
    Keys(#[from] llmtrail_ledger::keys::KeyError),
    /// The ledger could not be opened.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The token store could not be read or created.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Detection could not start (a rule file is invalid).
    #[error(transparent)]
    Detect(#[from] crate::detect::DetectError),
    /// An export sink could not start (names the sink).
    #[error(transparent)]
    Export(#[from] llmtrail_export::ExportError),
    /// The alert engine could not start (GeoIP database, ledger replay).
    #[error(transparent)]
    Alerts(#[from] crate::alerts::AlertsError),
    /// The gateway could not start (its virtual key store is unreadable).
    #[error(transparent)]
    Gateway(llmtrail_gateway::vkeys::VkeyError),
    /// The listener's TLS certificate or key is unusable (names the file).
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The data directory or the listener failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Loads the keys for `config`, creating them on a first start. Returns the keys and, when
/// created, the directory they were written to.
///
/// # Errors
/// [`ServeError::Keys`] when the keys are unreadable or cannot be created.
pub fn load_or_create_keys(config: &Config) -> Result<(Keys, Option<PathBuf>), ServeError> {
    let master_env = std::env::var(MASTER_KEY_ENV).ok();
    if Keys::exist_in(&config.keys_dir) {
        return Ok((Keys::load(&config.keys_dir, master_env.as_deref())?, None));
    }
    let mut suffix = [0u8; 8];
    llmtrail_ledger::crypto::random_bytes(&mut suffix).map_err(|e| {
        llmtrail_ledger::keys::KeyError::Invalid {
            path: config.keys_dir.clone(),
            why: e.to_string(),
        }
    })?;
    let keys = Keys::generate(&format!("llmtrail/{}", hex::encode(suffix)))?;
    keys.write(&config.keys_dir, master_env.is_none())?;
    let keys = Keys::load(&config.keys_dir, master_env.as_deref())?;
    Ok((keys, Some(config.keys_dir.clone())))
}

/// Opens the ledger described by `config`, creating keys if needed (and saying so).
///
/// # Errors
/// [`ServeError`] when keys or the ledger cannot be opened.
pub fn open_ledger(config: &Config) -> Result<Ledger, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::Io {
        what: format!("data directory {}", config.data_dir.display()),
        source,
    })?;
    let (keys, created) = load_or_create_keys(config)?;
    if let Some(dir) = created {
        tracing::warn!(
            keys_dir = %dir.display(),
            "created a signing key and a master key; encryption at rest protects nothing against \
             someone who can read this directory: keep the master key elsewhere (ledger.keys_dir \
             or the LLMTRAIL_MASTER_KEY environment variable)"
        );
    }
    let ledger = Ledger::open(config.ledger_options(), keys)?;
    let recovery = ledger.recovery();
    tracing::info!(
        records = recovery.records,
        torn_bytes = recovery.torn_bytes,
        origin = ledger.origin(),
        "ledger open"
    );
    Ok(ledger)
}

/// Runs the server until SIGINT or SIGTERM; `on_listening` gets the bound address.
///
/// Shutdown order: stop accepting, let open exchanges finish (up to 30 s), write what the
/// gateway's recorder still holds, then close the ledger with a final checkpoint.
///
/// # Errors
/// [`ServeError`] when startup fails; a clean shutdown returns `Ok`.
pub async fn run(config: Config, on_listening: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    // Before anything is opened: a bad certificate or key is a configuration error.
    let tls = match &config.tls {
        Some(files) => Some(tokio_rustls::TlsAcceptor::from(crate::tls::server_config(
            &files.cert,
            &files.key,
        )?)),
        None => None,
    };
    let cfg = config.clone();
    let (ledger, links) = tokio::task::spawn_blocking(move || {
        let ledger = open_ledger(&cfg)?;
        let links = Links::from_ledger(&ledger)?;
        Ok::<_, ServeError>((ledger, links))
    })
    .await
    .map_err(|e| ServeError::Io {
        what: "startup".into(),
        source: std::io::Error::other(e),
    })??;
    let ledger = Arc::new(ledger);
    let links = Arc::new(links);
    let index =
        Arc::new(
            crate::index_feed::open(&config.data_dir).map_err(|e| ServeError::Io {
                what: "query index".into(),
                source: std::io::Error::other(e),
            })?,
        );
    let index_feed = crate::index_feed::IndexFeed::start(
        Arc::clone(&index),
        Arc::clone(&ledger),
        4096,
        config.data_dir.clone(),
    )
    .map_err(|source| ServeError::Io {
        what: "index thread".into(),
        source,
    })?;
    let wants_engine = config.detect.enabled || !config.gateway.policy.is_empty();
    let engine = if wants_engine {
        let cfg = config.detect.clone();
        let engine = tokio::task::spawn_blocking(move || crate::detect::build_engine(&cfg))
            .await
            .map_err(|e| ServeError::Io {
                what: "startup".into(),
                source: std::io::Error::other(e),
            })??;
        Some(Arc::new(engine))
    } else {
        None
    };
    let export_alerts = crate::export::AlertJournal::default();
    let export = crate::export::start(
        &config.export,
        &config.data_dir,
        Arc::clone(&export_alerts),
        tokio::runtime::Handle::current(),
    )?;
    if let Some(x) = &export {
        for unknown in x.set_escalation_sinks(&config.alerts.escalation_sinks) {
            tracing::warn!(sink = %unknown, "alerts.escalation_sinks names no export sink");
        }
    }
    if let Some(x) = &export {
        let (x, l) = (Arc::clone(x), Arc::clone(&ledger));
        tokio::task::spawn_blocking(move || crate::export::catch_up(&x, &l))
            .await
            .map_err(|e| ServeError::Io {
                what: "startup".into(),
                source: std::io::Error::other(e),
            })??;
    }
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let sampler = match &engine {
        Some(engine) if config.sampling.enabled => {
            tracing::info!(
                keep_roles = ?config.sampling.keep_roles,
                rate = config.sampling.rate,
                "prompt content sampling on"
            );
            Some(Arc::new(crate::sampling::Sampler::new(
                config.sampling.clone(),
                Arc::clone(engine),
            )))
        }
        _ => None,
    };
    let alert_stage = if config.alerts.enabled {
        let alerts_journal = Indexed {
            ledger: Arc::clone(&ledger),
            links: Arc::clone(&links),
            detection: None,
            export: export.clone(),
            index: Some(Arc::clone(&index_feed)),
            metrics: Some(Arc::clone(&metrics)),
            sampler: None,
            alerts: None,
        };
        let (cfg, l) = (config.alerts.clone(), Arc::clone(&ledger));
        let (handle, dir) = (tokio::runtime::Handle::current(), config.data_dir.clone());
        Some(
            tokio::task::spawn_blocking(move || {
                crate::alerts::AlertStage::start(&cfg, &l, Arc::new(alerts_journal), handle, &dir)
            })
            .await
            .map_err(|e| ServeError::Io {
                what: "startup".into(),
                source: std::io::Error::other(e),
            })??,
        )
    } else {
        None
    };
    let detection = match &engine {
        Some(engine) if config.detect.enabled => {
            let findings_journal = Indexed {
                ledger: Arc::clone(&ledger),
                links: Arc::clone(&links),
                detection: None,
                export: export.clone(),
                index: Some(Arc::clone(&index_feed)),
                metrics: Some(Arc::clone(&metrics)),
                sampler: None,
                alerts: alert_stage.clone(),
            };
            Some(Detection::start(
                Arc::clone(engine),
                Arc::new(findings_journal),
                Arc::clone(&ledger),
                tokio::runtime::Handle::current(),
                config.detect.queue,
                &config.data_dir,
            )?)
        }
        _ => None,
    };
    let journal = Indexed {
        ledger: Arc::clone(&ledger),
        links: Arc::clone(&links),
        detection,
        export: export.clone(),
        index: Some(index_feed),
        metrics: Some(Arc::clone(&metrics)),
        sampler,
        alerts: alert_stage.clone(),
    };
    let _ = export_alerts.set(Arc::new(journal.clone()));
    let (tokens, created) = Tokens::load_or_init(&config.data_dir)?;
    if let Some(path) = created {
        tracing::warn!(path = %path.display(), "created the first admin token");
    }
    let (gateway, recorder) = if config.gateway.enabled {
        let (gw, task) = Gateway::new(
            config.gateway.clone(),
            &config.data_dir,
            Arc::new(journal.clone()),
            engine.clone(),
        )
        .map_err(ServeError::Gateway)?;
        if let Some(stage) = &alert_stage {
            gw.set_admission(Arc::clone(stage) as Arc<dyn llmtrail_gateway::admission::Admission>);
        }
        (Some(gw), Some(task))
    } else {
        (None, None)
    };
    let tokens = Arc::new(tokens);
    let otlp_state = OtlpState::new(
        &config.otlp,
        Arc::new(journal.clone()),
        Arc::clone(&ledger) as Arc<dyn otlp::Recorded>,
        Arc::clone(&tokens),
    );
    if !config.otlp.require_token {
        tracing::warn!(
            "otlp.require_token = false: anyone who can reach /v1/traces and /v1/logs can add \
             events to the ledger"
        );
    }
    let state = AppState {
        ledger: Arc::clone(&ledger),
        journal,
        links,
        gateway: gateway.clone(),
        tokens,
        max_body_bytes: config.max_body_bytes,
        approvals: Arc::default(),
        index,
        pseudonym_key: crate::views::load_key(&config.data_dir).map_err(|source| {
            ServeError::Io {
                what: "pseudonym key".into(),
                source,
            }
        })?,
        sessions: Arc::default(),
        tls: tls.is_some(),
        metrics,
        export: export.clone(),
        metrics_require_token: config.metrics_require_token,
        alerts: alert_stage,
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Io {
            what: format!("listen on {}", config.listen),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        what: "listener address".into(),
        source,
    })?;
    let otlp_listener = match config.otlp.listen {
        Some(otlp_addr) => {
            let l = tokio::net::TcpListener::bind(otlp_addr)
                .await
                .map_err(|source| ServeError::Io {
                    what: format!("listen on {otlp_addr} (otlp.listen)"),
                    source,
                })?;
            if let Ok(bound) = l.local_addr() {
                tracing::info!(addr = %bound, "OTLP/HTTP listener");
            }
            Some(l)
        }
        None => None,
    };
    let mut app = router(state);
    if config.otlp.enabled {
        app = app.merge(otlp::router(otlp_state.clone()));
    }
    on_listening(addr);
    match otlp_listener {
        Some(l) => {
            tokio::join!(
                serve_connections(listener, app, &config, tls),
                serve_connections(l, otlp::standalone(otlp_state), &config, None),
            );
        }
        None => serve_connections(listener, app, &config, tls).await,
    }
    if let (Some(gw), Some(task)) = (gateway, recorder) {
        task.close(gw.recorder()).await;
    }
    ledger.shutdown().await?;
    if let Some(export) = export {
        // Everything appended is now in the sinks' disk buffers; what is undelivered is sent
        // after the next start.
        let _ = tokio::task::spawn_blocking(move || export.close(Duration::from_secs(2))).await;
    }
    Ok(())
}

/// Accepts connections until a shutdown signal, then waits for open ones to finish. With `tls`,
/// each connection first completes a TLS handshake (on its own task, within the header read
/// timeout) and its requests carry the [`crate::tls::Tls`] extension.
async fn serve_connections(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    config: &Config,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .max_buf_size(config.max_header_bytes)
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let limit = config.max_header_bytes;
                let secure = tls.is_some();
                let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                    req.extensions_mut().insert(PeerAddr(peer));
                    if secure {
                        req.extensions_mut().insert(crate::tls::Tls);
                    }
                    let app = app.clone();
                    async move {
                        if head_len(&req) > limit {
                            return Ok(head_too_large(limit));
                        }
                        app.oneshot(req).await
                    }
                });
                match &tls {
                    None => {
                        let conn =
                            graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
                        tokio::spawn(async move {
                            let _ = conn.await;
                        });
                    }
                    Some(acceptor) => {
                        let accept = acceptor.accept(stream);
                        let watcher = graceful.watcher();
                        let builder = builder.clone();
                        let handshake_timeout = config.header_read_timeout;
                        tokio::spawn(async move {
                            let stream = match tokio::time::timeout(handshake_timeout, accept).await {
                                Ok(Ok(s)) => s,
                                Ok(Err(e)) => {
                                    tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                                    return;
                                }
                                Err(_) => {
                                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                                    return;
                                }
                            };
                            let conn = builder.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(conn).await;
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; closing them");
        }
    }
}

/// Bytes of the request head as sent: request line and header lines. hyper's buffer limit
/// bounds memory, but a head that arrives in one read can pass it, so the limit is checked
/// here too.
fn head_len<B>(req: &http::Request<B>) -> usize {
    let line = req.method().as_str().len() + req.uri().to_string().len() + 12;
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

fn head_too_large(limit: usize) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    crate::error::ApiError::new(
        http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
        "headers_too_large",
        format!("the request line and headers exceed the limit of {limit} bytes"),
    )
    .into_response()
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
