//! Talking to upstreams: the HTTP client (HTTP/1.1 keep-alive, TLS with the system's roots or
//! the bundled Mozilla roots), choosing the upstream for a request, and which headers cross.
//!
//! Header contract: hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it
//! names, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`), `Host`,
//! `Content-Length` (recomputed) and llmtrail's own `x-llmtrail-*` headers are not forwarded.
//! `Accept-Encoding` is replaced by `identity` so that the recorded body is the bytes the model
//! produced, not a compressed form of them. Everything else passes through in both directions.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{GatewayConfig, Kind, Upstream};
use crate::identity::{OWN_PREFIX, UPSTREAM_HEADER};

/// The HTTP client used for every upstream.
pub type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Builds the client: pooled keep-alive connections, TCP_NODELAY, connect timeout, TLS.
#[must_use]
pub fn client(cfg: &GatewayConfig) -> HttpClient {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(cfg.connect_timeout));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(Arc::clone(&provider))
    {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no usable system CA certificates; using the bundled Mozilla roots");
            match HttpsConnectorBuilder::new().with_provider_and_webpki_roots(provider) {
                Ok(b) => b,
                // Only fails when the provider lacks TLS 1.2 and 1.3; ring has both.
                Err(_) => HttpsConnectorBuilder::new().with_webpki_roots(),
            }
        }
    };
    let https = builder.https_or_http().enable_http1().wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .pool_max_idle_per_host(512)
        .build(https)
}

/// Why no upstream was chosen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The header named an upstream that does not exist or speaks another format.
    #[error("no {kind} upstream named by the x-llmtrail-upstream header")]
    UnknownName {
        /// The wire format needed.
        kind: &'static str,
    },
    /// No upstream of the format serves the model.
    #[error("no {kind} upstream is configured for this model")]
    NoUpstream {
        /// The wire format needed.
        kind: &'static str,
    },
}

/// Chooses the upstream for a request of wire format `kind` asking for `model`.
///
/// # Errors
/// [`RouteError`] when none fits.
pub fn route<'a>(
    cfg: &'a GatewayConfig,
    kind: Kind,
    model: &str,
    headers: &HeaderMap,
) -> Result<&'a Upstream, RouteError> {
    if let Some(name) = headers.get(UPSTREAM_HEADER).and_then(|v| v.to_str().ok()) {
        return cfg
            .upstreams
            .get(name.trim())
            .filter(|u| u.kind == kind)
            .ok_or(RouteError::UnknownName { kind: kind.name() });
    }
    let of_kind = || cfg.upstreams.values().filter(move |u| u.kind == kind);
    if let Some(u) = of_kind().find(|u| u.serves_model(model)) {
        return Ok(u);
    }
    if let Some(u) = cfg.upstreams.get(kind.name()).filter(|u| u.kind == kind) {
        return Ok(u);
    }
    let mut all = of_kind();
    match (all.next(), all.next()) {
        (Some(only), None) => Ok(only),
        _ => Err(RouteError::NoUpstream { kind: kind.name() }),
    }
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn connection_named(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn skipped(name: &HeaderName, named: &[String]) -> bool {
    let n = name.as_str();
    HOP_BY_HOP.contains(&n)
        || name == header::TRANSFER_ENCODING
        || name == header::HOST
        || name == header::CONTENT_LENGTH
        || n.starts_with(OWN_PREFIX)
        || named.iter().any(|c| c == n)
}

/// Returns the headers to send upstream.
#[must_use]
pub fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    let named = connection_named(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        if skipped(name, &named) || name == header::ACCEPT_ENCODING {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    out
}

/// Returns the headers to send to the client (the body is passed through unchanged, so a
/// `Content-Length` stays true and is kept).
#[must_use]
pub fn response_headers(upstream: &HeaderMap) -> HeaderMap {
    let named = connection_named(upstream);
    let mut out = HeaderMap::with_capacity(upstream.len() + 1);
    for (name, value) in upstream {
        if name != header::CONTENT_LENGTH && skipped(name, &named) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;
    use crate::config::RawGateway;

    fn cfg(toml_text: &str) -> GatewayConfig {
        #[derive(serde::Deserialize)]
        struct Doc {
            gateway: RawGateway,
        }
        GatewayConfig::validate(toml::from_str::<Doc>(toml_text).unwrap().gateway).unwrap()
    }

    #[test]
    fn routes_by_header_model_and_default() {
        let c = cfg(
            "[gateway.upstreams.vllm]\nbase_url = \"http://10.0.0.5:8000\"\nmodels = [\"llama-*\"]\n",
        );
        let h = HeaderMap::new();
        assert_eq!(route(&c, Kind::OpenAi, "llama-3", &h).unwrap().name, "vllm");
        assert_eq!(
            route(&c, Kind::OpenAi, "gpt-4o", &h).unwrap().name,
            "openai"
        );
        assert_eq!(
            route(&c, Kind::Anthropic, "claude", &h).unwrap().name,
            "anthropic"
        );
        let mut h = HeaderMap::new();
        h.insert(UPSTREAM_HEADER, "vllm".parse().unwrap());
        assert_eq!(route(&c, Kind::OpenAi, "gpt-4o", &h).unwrap().name, "vllm");
        assert!(route(&c, Kind::Anthropic, "claude", &h).is_err());
    }

    #[test]
    fn hop_by_hop_and_own_headers_stay_behind() {
        let mut h = HeaderMap::new();
        h.insert("connection", "keep-alive, x-secret-hop".parse().unwrap());
        h.insert("x-secret-hop", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("x-llmtrail-user", "u-1".parse().unwrap());
        h.insert("host", "gateway".parse().unwrap());
        h.insert("content-length", "12".parse().unwrap());
        h.insert("accept-encoding", "gzip".parse().unwrap());
        h.insert("openai-beta", "assistants=v2".parse().unwrap());
        h.insert("anthropic-version", "2023-06-01".parse().unwrap());
        let out = request_headers(&h);
        let names: Vec<&str> = out.keys().map(HeaderName::as_str).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert_eq!(out["accept-encoding"], "identity");
        assert_eq!(out["openai-beta"], "assistants=v2");
        assert_eq!(out["anthropic-version"], "2023-06-01");

        let mut h = HeaderMap::new();
        h.insert("content-length", "12".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("x-request-id", "req_1".parse().unwrap());
        let out = response_headers(&h);
        assert_eq!(out.len(), 2);
        assert!(out.contains_key("content-length"));
    }
}
