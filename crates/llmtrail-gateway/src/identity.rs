//! Who is calling: the client's key, the identity headers, and the network source.
//!
//! Contract:
//! - The key comes from `Authorization: Bearer …` or `x-api-key` (Anthropic's header). A key
//!   with the virtual key prefix must be a valid, unrevoked virtual key; any other key is passed
//!   through to the provider unless virtual keys are required.
//! - Identity headers (`x-llmtrail-user`, `-session`, `-agent`, `-role`, `-department`,
//!   `-tags` as `k=v,k2=v2`) are honoured in pass-through mode; with a virtual key the key's
//!   identity wins and only session and tags are taken from headers. Values longer than 256
//!   bytes, or with control characters or invalid UTF-8, are refused rather than cut.
//! - The source address is the peer, unless the peer is a trusted proxy: then the rightmost
//!   `X-Forwarded-For` entry that is not itself a trusted proxy.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use llmtrail_core::Actor;

use crate::config::Cidr;

/// Header naming the end user.
pub const USER_HEADER: &str = "x-llmtrail-user";
/// Header naming the client session.
pub const SESSION_HEADER: &str = "x-llmtrail-session";
/// Header naming the agent.
pub const AGENT_HEADER: &str = "x-llmtrail-agent";
/// Header naming the user's role.
pub const ROLE_HEADER: &str = "x-llmtrail-role";
/// Header naming the user's department.
pub const DEPARTMENT_HEADER: &str = "x-llmtrail-department";
/// Header with tags, `k=v,k2=v2`.
pub const TAGS_HEADER: &str = "x-llmtrail-tags";
/// Header choosing an upstream by name.
pub const UPSTREAM_HEADER: &str = "x-llmtrail-upstream";
/// Prefix of llmtrail's own headers, never forwarded.
pub const OWN_PREFIX: &str = "x-llmtrail-";

const MAX_VALUE: usize = 256;
const MAX_TAGS: usize = 32;

/// An identity header that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header {header}: {why}")]
pub struct HeaderError {
    /// The header.
    pub header: &'static str,
    /// What is wrong.
    pub why: &'static str,
}

/// Where the client put its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer`.
    Bearer,
    /// `x-api-key`.
    ApiKey,
}

/// Returns the client's key and where it was.
#[must_use]
pub fn client_key(headers: &HeaderMap) -> Option<(String, KeyHeader)> {
    if let Some(key) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        return Some((key.to_owned(), KeyHeader::Bearer));
    }
    headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| (k.to_owned(), KeyHeader::ApiKey))
}

fn value(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, HeaderError> {
    let Some(raw) = headers.get(name) else {
        return Ok(None);
    };
    let text = std::str::from_utf8(raw.as_bytes()).map_err(|_| HeaderError {
        header: name,
        why: "is not UTF-8",
    })?;
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.len() > MAX_VALUE || text.chars().any(char::is_control) {
        return Err(HeaderError {
            header: name,
            why: "must be at most 256 bytes without control characters",
        });
    }
    Ok(Some(text.to_owned()))
}

/// Identity given by the identity headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderIdentity {
    /// `x-llmtrail-user`.
    pub user: Option<String>,
    /// `x-llmtrail-session`.
    pub session: Option<String>,
    /// `x-llmtrail-agent`.
    pub agent: Option<String>,
    /// `x-llmtrail-role`.
    pub role: Option<String>,
    /// `x-llmtrail-department`.
    pub department: Option<String>,
    /// `x-llmtrail-tags`.
    pub tags: BTreeMap<String, String>,
}

/// Reads the identity headers.
///
/// # Errors
/// [`HeaderError`] for a value that is too long, not UTF-8, or malformed tags.
pub fn header_identity(headers: &HeaderMap) -> Result<HeaderIdentity, HeaderError> {
    let mut tags = BTreeMap::new();
    if let Some(raw) = headers.get(TAGS_HEADER) {
        let text = std::str::from_utf8(raw.as_bytes()).map_err(|_| HeaderError {
            header: TAGS_HEADER,
            why: "is not UTF-8",
        })?;
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item.split_once('=').unwrap_or((item, ""));
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty()
                || k.len() > 64
                || v.len() > MAX_VALUE
                || k.chars().chain(v.chars()).any(char::is_control)
            {
                return Err(HeaderError {
                    header: TAGS_HEADER,
                    why: "expected key=value pairs separated by commas (keys up to 64 bytes, values up to 256)",
                });
            }
            tags.insert(k.to_owned(), v.to_owned());
        }
        if tags.len() > MAX_TAGS {
            return Err(HeaderError {
                header: TAGS_HEADER,
                why: "at most 32 tags",
            });
        }
    }
    Ok(HeaderIdentity {
        user: value(headers, USER_HEADER)?,
        session: value(headers, SESSION_HEADER)?,
        agent: value(headers, AGENT_HEADER)?,
        role: value(headers, ROLE_HEADER)?,
        department: value(headers, DEPARTMENT_HEADER)?,
        tags,
    })
}

/// Returns the client's address: the peer, or what trusted proxies say it is.
#[must_use]
pub fn source_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return normalise(peer);
    }
    let mut hops: Vec<IpAddr> = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            return normalise(peer);
        };
        for part in text.split(',') {
            match parse_hop(part.trim()) {
                Some(ip) => hops.push(ip),
                None => return normalise(peer),
            }
        }
    }
    let mut source = peer;
    for hop in hops.into_iter().rev() {
        source = hop;
        if !is_trusted(hop) {
            break;
        }
    }
    normalise(source)
}

/// Parses one `X-Forwarded-For` entry: an address, `[v6]`, or either with a port.
fn parse_hop(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .and_then(|t| t.parse().ok())
}

fn normalise(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Returns the `User-Agent`, when it is printable and not absurdly long.
#[must_use]
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(512).collect())
}

/// Builds the actor from header identity alone (pass-through mode).
#[must_use]
pub fn pass_through_actor(id: &HeaderIdentity, body_user: Option<&str>) -> Actor {
    Actor {
        user: id.user.clone().or_else(|| {
            body_user
                .filter(|u| !u.is_empty() && u.len() <= MAX_VALUE)
                .map(str::to_owned)
        }),
        role: id.role.clone(),
        department: id.department.clone(),
        session: id.session.clone(),
        agent: id.agent.clone(),
        ..Actor::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn keys_from_either_header() {
        let h = headers(&[("authorization", "Bearer sk-1")]);
        assert_eq!(client_key(&h), Some(("sk-1".into(), KeyHeader::Bearer)));
        let h = headers(&[("x-api-key", "sk-ant-1")]);
        assert_eq!(client_key(&h), Some(("sk-ant-1".into(), KeyHeader::ApiKey)));
        assert_eq!(client_key(&HeaderMap::new()), None);
    }

    #[test]
    fn identity_headers_and_tags() {
        let h = headers(&[
            ("x-llmtrail-user", "u-7"),
            ("x-llmtrail-session", "s-1"),
            ("x-llmtrail-tags", "app=chat, env=prod,flag"),
        ]);
        let id = header_identity(&h).unwrap();
        assert_eq!(id.user.as_deref(), Some("u-7"));
        assert_eq!(id.tags["app"], "chat");
        assert_eq!(id.tags["flag"], "");
        let long = "x".repeat(300);
        let h = headers(&[("x-llmtrail-user", &long)]);
        assert_eq!(header_identity(&h).unwrap_err().header, USER_HEADER);
        let mut h = HeaderMap::new();
        h.insert(
            "x-llmtrail-user",
            http::HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert!(header_identity(&h).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec![Cidr::parse("10.0.0.0/8").unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.2")]);
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            source_ip(peer, &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let outsider: IpAddr = "198.51.100.4".parse().unwrap();
        assert_eq!(source_ip(outsider, &h, &trusted), outsider);
        // A spoofed leftmost entry is not believed past an untrusted hop.
        let h = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(
            source_ip(peer, &h, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("x-forwarded-for", "garbage")]);
        assert_eq!(source_ip(peer, &h, &trusted), peer);
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            source_ip(peer, &h, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
    }
}
