//! `[gateway]` in `llmtrail.toml`: upstreams, identity mode, limits and timeouts.
//!
//! Raw serde types reject unknown keys by name; [`GatewayConfig::validate`] turns them into the
//! checked form. Every key has a default, and the built-in upstreams `openai`
//! (`https://api.openai.com`) and `anthropic` (`https://api.anthropic.com`) exist unless a table
//! of the same name replaces them.
//!
//! ```toml
//! [gateway]
//! require_virtual_keys = false      # true: only keys from `llmtrail keys create` pass
//! on_log_failure = "block"          # "block": 503 when the ledger cannot be written; "allow"
//! max_body_bytes = 33554432         # largest request body
//! max_in_flight = 1024              # concurrent gateway requests; more get 503
//! connect_timeout_ms = 10000
//! response_timeout_ms = 300000      # until the upstream's response headers
//! idle_timeout_ms = 300000          # longest silence inside a response body or stream
//! trusted_proxies = ["10.0.0.0/8"]  # peers whose X-Forwarded-For is believed
//!
//! [[gateway.policy]]                 # inline policy (see crate::policy); default: alert only
//! category = "secret"
//! min_severity = "high"
//! action = "block"
//!
//! [gateway.upstreams.openai]
//! base_url = "http://127.0.0.1:9100" # requests keep their path below it
//! kind = "openai"                    # wire format: "openai" or "anthropic" (default: by name)
//! provider = "openai"                # gen_ai.provider.name recorded (default: the name)
//! models = ["gpt-*", "o*"]           # models routed here (glob with `*`)
//! api_key_env = "OPENAI_API_KEY"     # the real key used behind virtual keys
//! ```
//!
//! Routing: a request goes to the upstream named in its `x-llmtrail-upstream` header, else to
//! the first upstream of its wire format (by name) whose `models` patterns match the model, else
//! to the upstream of that format named like the format (`openai`, `anthropic`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// Errors validating the gateway configuration.
#[derive(Debug, thiserror::Error)]
pub enum GatewayConfigError {
    /// A value is out of its allowed range.
    #[error("config key `{key}`: {why}")]
    Invalid {
        /// Dotted key.
        key: String,
        /// What is allowed.
        why: String,
    },
}

fn invalid(key: impl Into<String>, why: impl Into<String>) -> GatewayConfigError {
    GatewayConfigError::Invalid {
        key: key.into(),
        why: why.into(),
    }
}

/// `[gateway]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawGateway {
    /// Serve the provider routes under `/v1/`.
    pub enabled: bool,
    /// Refuse client keys that are not llmtrail virtual keys.
    pub require_virtual_keys: bool,
    /// What to do when the ledger cannot be written: `block` or `allow`.
    pub on_log_failure: String,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Most gateway requests handled at once.
    pub max_in_flight: usize,
    /// Time to connect to an upstream, in milliseconds.
    pub connect_timeout_ms: u64,
    /// Time until the upstream's response headers, in milliseconds.
    pub response_timeout_ms: u64,
    /// Longest pause inside a response body, in milliseconds.
    pub idle_timeout_ms: u64,
    /// Networks (CIDR or single addresses) of proxies whose `X-Forwarded-For` is trusted.
    pub trusted_proxies: Vec<String>,
    /// Upstreams by name.
    pub upstreams: BTreeMap<String, RawUpstream>,
    /// Inline policy entries (`[[gateway.policy]]`).
    pub policy: Vec<crate::policy::RawPolicy>,
}

impl Default for RawGateway {
    fn default() -> Self {
        Self {
            enabled: true,
            require_virtual_keys: false,
            on_log_failure: "block".into(),
            max_body_bytes: 32 * 1024 * 1024,
            max_in_flight: 1024,
            connect_timeout_ms: 10_000,
            response_timeout_ms: 300_000,
            idle_timeout_ms: 300_000,
            trusted_proxies: Vec::new(),
            upstreams: BTreeMap::new(),
            policy: Vec::new(),
        }
    }
}

/// `[gateway.upstreams.<name>]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawUpstream {
    /// Root URL; the request path is appended to it.
    pub base_url: Option<String>,
    /// Wire format: `openai` or `anthropic`.
    pub kind: Option<String>,
    /// Provider name recorded as `gen_ai.provider.name`.
    pub provider: Option<String>,
    /// Model patterns routed here.
    pub models: Vec<String>,
    /// Environment variable holding the real provider key used behind virtual keys.
    pub api_key_env: Option<String>,
}

/// Wire format of an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// OpenAI's API (and compatible servers: vLLM, Ollama, …).
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

impl Kind {
    /// Returns the configuration name of the format.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Kind::OpenAi => "openai",
            Kind::Anthropic => "anthropic",
        }
    }
}

/// What the gateway does when the ledger cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLogFailure {
    /// Audit mode: answer 503 and forward nothing.
    Block,
    /// Permissive mode: forward anyway, keep the events to write later, raise an alert.
    Allow,
}

/// A validated upstream.
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Its name in the configuration.
    pub name: String,
    /// Wire format.
    pub kind: Kind,
    /// Provider name to record.
    pub provider: String,
    /// Scheme, host and port, e.g. `https://api.openai.com`.
    pub origin: String,
    /// Path prefix below the origin (no trailing slash; empty for the root).
    pub path_prefix: String,
    /// Model patterns.
    pub models: Vec<String>,
    /// Environment variable of the real key.
    pub api_key_env: Option<String>,
}

impl Upstream {
    /// Tells whether `model` matches one of this upstream's patterns.
    #[must_use]
    pub fn serves_model(&self, model: &str) -> bool {
        self.models.iter().any(|p| glob_match(p, model))
    }
}

/// A network given as CIDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `10.0.0.0/8`, `::1/128` or a single address.
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| "expected an IP address or CIDR such as 10.0.0.0/8".to_owned())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix length must be 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Tells whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The validated `[gateway]` section.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Serve the provider routes.
    pub enabled: bool,
    /// Only virtual keys pass.
    pub require_virtual_keys: bool,
    /// Audit or permissive mode.
    pub on_log_failure: OnLogFailure,
    /// Request body limit.
    pub max_body_bytes: usize,
    /// Concurrency limit.
    pub max_in_flight: usize,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Time to response headers.
    pub response_timeout: Duration,
    /// Longest silence in a body.
    pub idle_timeout: Duration,
    /// Trusted proxy networks.
    pub trusted_proxies: Vec<Cidr>,
    /// Upstreams by name.
    pub upstreams: BTreeMap<String, Upstream>,
    /// Inline policy entries.
    pub policy: Vec<crate::policy::RawPolicy>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        // The defaults are valid by construction; the fallback keeps this total.
        Self::validate(RawGateway::default()).unwrap_or_else(|_| GatewayConfig {
            enabled: true,
            require_virtual_keys: false,
            on_log_failure: OnLogFailure::Block,
            max_body_bytes: 32 * 1024 * 1024,
            max_in_flight: 1024,
            connect_timeout: Duration::from_secs(10),
            response_timeout: Duration::from_secs(300),
            idle_timeout: Duration::from_secs(300),
            trusted_proxies: Vec::new(),
            upstreams: BTreeMap::new(),
            policy: Vec::new(),
        })
    }
}

fn millis(key: &str, ms: u64) -> Result<Duration, GatewayConfigError> {
    if ms == 0 || ms > 24 * 3600 * 1000 {
        return Err(invalid(key, "must be between 1 and 86400000 milliseconds"));
    }
    Ok(Duration::from_millis(ms))
}

impl GatewayConfig {
    /// Checks the raw section and fills in the built-in upstreams.
    ///
    /// # Errors
    /// [`GatewayConfigError::Invalid`] naming the key.
    pub fn validate(raw: RawGateway) -> Result<Self, GatewayConfigError> {
        let on_log_failure = match raw.on_log_failure.as_str() {
            "block" => OnLogFailure::Block,
            "allow" => OnLogFailure::Allow,
            _ => {
                return Err(invalid(
                    "gateway.on_log_failure",
                    "must be \"block\" or \"allow\"",
                ));
            }
        };
        if raw.max_body_bytes < 1024 {
            return Err(invalid("gateway.max_body_bytes", "must be at least 1024"));
        }
        if raw.max_in_flight == 0 || raw.max_in_flight > 1_000_000 {
            return Err(invalid(
                "gateway.max_in_flight",
                "must be between 1 and 1000000",
            ));
        }
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|t| Cidr::parse(t).map_err(|why| invalid("gateway.trusted_proxies", why)))
            .collect::<Result<_, _>>()?;
        let mut upstreams = BTreeMap::new();
        for (name, url) in [
            ("openai", "https://api.openai.com"),
            ("anthropic", "https://api.anthropic.com"),
        ] {
            let raw = RawUpstream {
                base_url: Some(url.into()),
                ..RawUpstream::default()
            };
            upstreams.insert(name.to_owned(), upstream(name, raw)?);
        }
        for (name, raw) in raw.upstreams {
            let up = upstream(&name, raw)?;
            upstreams.insert(name, up);
        }
        Ok(GatewayConfig {
            enabled: raw.enabled,
            require_virtual_keys: raw.require_virtual_keys,
            on_log_failure,
            max_body_bytes: raw.max_body_bytes,
            max_in_flight: raw.max_in_flight,
            connect_timeout: millis("gateway.connect_timeout_ms", raw.connect_timeout_ms)?,
            response_timeout: millis("gateway.response_timeout_ms", raw.response_timeout_ms)?,
            idle_timeout: millis("gateway.idle_timeout_ms", raw.idle_timeout_ms)?,
            trusted_proxies,
            upstreams,
            policy: raw.policy,
        })
    }
}

fn upstream(name: &str, raw: RawUpstream) -> Result<Upstream, GatewayConfigError> {
    let key = |k: &str| format!("gateway.upstreams.{name}.{k}");
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            format!("gateway.upstreams.{name}"),
            "upstream names use letters, digits, '-' and '_'",
        ));
    }
    let kind = match raw.kind.as_deref() {
        Some("openai") => Kind::OpenAi,
        Some("anthropic") => Kind::Anthropic,
        None if name == "anthropic" => Kind::Anthropic,
        None => Kind::OpenAi,
        Some(_) => return Err(invalid(key("kind"), "must be \"openai\" or \"anthropic\"")),
    };
    let default_url = match kind {
        Kind::OpenAi if name == "openai" => Some("https://api.openai.com"),
        Kind::Anthropic if name == "anthropic" => Some("https://api.anthropic.com"),
        _ => None,
    };
    let base_url = raw
        .base_url
        .or(default_url.map(str::to_owned))
        .ok_or_else(|| invalid(key("base_url"), "is required for this upstream"))?;
    let (origin, path_prefix) =
        split_base_url(&base_url).map_err(|why| invalid(key("base_url"), why))?;
    if let Some(env) = &raw.api_key_env
        && (env.is_empty() || env.contains('='))
    {
        return Err(invalid(
            key("api_key_env"),
            "must name an environment variable",
        ));
    }
    Ok(Upstream {
        name: name.to_owned(),
        kind,
        provider: raw.provider.unwrap_or_else(|| name.to_owned()),
        origin,
        path_prefix,
        models: raw.models,
        api_key_env: raw.api_key_env,
    })
}

/// Splits `https://host:port/prefix/` into `https://host:port` and `/prefix`.
fn split_base_url(url: &str) -> Result<(String, String), &'static str> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| "must be an http or https URL such as http://127.0.0.1:9100")?;
    let scheme = match uri.scheme_str() {
        Some(s @ ("http" | "https")) => s,
        _ => return Err("must start with http:// or https://"),
    };
    let authority = uri.authority().ok_or("must name a host")?;
    if uri.query().is_some() {
        return Err("must not have a query");
    }
    let prefix = uri.path().trim_end_matches('/').to_owned();
    Ok((format!("{scheme}://{authority}"), prefix))
}

/// Matches `*` wildcards (any run of characters); everything else literally.
fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return text.is_empty();
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<GatewayConfig, GatewayConfigError> {
        #[derive(Deserialize)]
        struct Doc {
            gateway: RawGateway,
        }
        let doc: Doc = toml::from_str(text).unwrap();
        GatewayConfig::validate(doc.gateway)
    }

    #[test]
    fn defaults_point_at_the_public_providers() {
        let c = GatewayConfig::default();
        assert_eq!(c.upstreams["openai"].origin, "https://api.openai.com");
        assert_eq!(c.upstreams["anthropic"].kind, Kind::Anthropic);
        assert_eq!(c.on_log_failure, OnLogFailure::Block);
    }

    #[test]
    fn the_documented_form_works() {
        let c = parse(
            "[gateway]\n[gateway.upstreams.openai]\nbase_url = \"http://127.0.0.1:9100\"\n\
             [gateway.upstreams.anthropic]\nbase_url = \"http://127.0.0.1:9100/\"\n\
             [gateway.upstreams.vllm]\nbase_url = \"http://10.0.0.5:8000/proxy/\"\nmodels = [\"llama-*\"]\n",
        )
        .unwrap();
        assert_eq!(c.upstreams["openai"].origin, "http://127.0.0.1:9100");
        assert_eq!(c.upstreams["openai"].path_prefix, "");
        assert_eq!(c.upstreams["anthropic"].kind, Kind::Anthropic);
        assert_eq!(c.upstreams["vllm"].path_prefix, "/proxy");
        assert_eq!(c.upstreams["vllm"].kind, Kind::OpenAi);
        assert!(c.upstreams["vllm"].serves_model("llama-3.1-8b"));
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("[gateway]\non_log_failure = \"maybe\"\n").unwrap_err();
        assert!(e.to_string().contains("gateway.on_log_failure"), "{e}");
        let e = parse("[gateway.upstreams.x]\nbase_url = \"ftp://a\"\n").unwrap_err();
        assert!(
            e.to_string().contains("gateway.upstreams.x.base_url"),
            "{e}"
        );
        let e = parse("[gateway.upstreams.x]\nmodels = [\"a\"]\n").unwrap_err();
        assert!(e.to_string().contains("base_url"), "{e}");
        let e = parse("[gateway]\ntrusted_proxies = [\"10.0.0.0/33\"]\n").unwrap_err();
        assert!(e.to_string().contains("trusted_proxies"), "{e}");
    }

    #[test]
    fn globs() {
        assert!(glob_match("gpt-*", "gpt-4o"));
        assert!(glob_match("*", "x"));
        assert!(glob_match("claude-*-latest", "claude-3-5-sonnet-latest"));
        assert!(!glob_match("claude-*-latest", "claude-3"));
        assert!(glob_match("exact", "exact"));
        assert!(!glob_match("exact", "exactly"));
        assert!(!glob_match("a*a", "a"));
    }

    #[test]
    fn cidrs() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        let one = Cidr::parse("::1").unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!(Cidr::parse("nonsense").is_err());
    }
}
