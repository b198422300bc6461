//! Dashboard sessions: a browser logs in once with an API token and then carries a session
//! cookie instead of the token.
//!
//! Contract:
//! - `POST /api/v1/session` with `{"token": "llmt_…"}` checks the token and answers
//!   `{"name","role"}` with `Set-Cookie: llmtrail_session=<id>; HttpOnly; SameSite=Strict;
//!   Path=/; Max-Age=…` (and `Secure` when the listener is TLS). `DELETE /api/v1/session` ends
//!   it. A wrong token is a 401 and creates nothing.
//! - The server keeps, per session, the SHA-256 of the session id (never the id itself) and
//!   the SHA-256 of the token (never the token): every request re-checks that token against
//!   the store, so a revoked token ends its sessions at once and a session never has more
//!   rights than its token.
//! - Sessions live in memory (a restart logs everyone out), expire after
//!   [`SESSION_TTL`], and at most [`MAX_SESSIONS`] exist (the oldest is dropped first).
//! - A request authenticated by the cookie that changes something (not GET or HEAD) must also
//!   carry `x-llmtrail-csrf: 1`. `SameSite=Strict` already keeps the cookie off cross-site
//!   requests; the header is a second wall, since a cross-site page cannot set it without a
//!   CORS preflight that this server never grants.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const COOKIE: &str = "llmtrail_session";
/// Header a cookie-authenticated change must carry.
pub const CSRF_HEADER: &str = "x-llmtrail-csrf";
/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept at once.
pub const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Session {
    token_hash: [u8; 32],
    created: Instant,
}

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<[u8; 32], Session>>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Opens a session for a token known by its hash; returns the session id for the cookie.
    ///
    /// # Errors
    /// When the system random source fails.
    pub fn open(&self, token_hash: [u8; 32]) -> Result<String, ring::error::Unspecified> {
        let mut raw = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw)?;
        let id = hex::encode(raw);
        let now = Instant::now();
        if let Ok(mut map) = self.by_id.lock() {
            map.retain(|_, s| now.duration_since(s.created) < SESSION_TTL);
            while map.len() >= MAX_SESSIONS {
                let oldest = map.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k);
                match oldest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
            map.insert(
                digest(&id),
                Session {
                    token_hash,
                    created: now,
                },
            );
        }
        Ok(id)
    }

    /// Returns the token hash behind a live session id.
    #[must_use]
    pub fn token_of(&self, id: &str) -> Option<[u8; 32]> {
        if id.len() != 64 {
            return None;
        }
        let map = self.by_id.lock().ok()?;
        let s = map.get(&digest(id))?;
        (s.created.elapsed() < SESSION_TTL).then_some(s.token_hash)
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        if let Ok(mut map) = self.by_id.lock() {
            map.remove(&digest(id));
        }
    }
}

/// Reads the session id from a request's `Cookie` headers.
#[must_use]
pub fn cookie_value(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.trim().to_owned())
}

/// The `Set-Cookie` value that carries a new session.
#[must_use]
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
#[must_use]
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn a_session_maps_to_its_token_until_closed() {
        let s = Sessions::default();
        let id = s.open([7; 32]).unwrap();
        assert_eq!(id.len(), 64);
        assert_eq!(s.token_of(&id), Some([7; 32]));
        assert_eq!(s.token_of("nope"), None);
        assert_eq!(s.token_of(&"0".repeat(64)), None);
        s.close(&id);
        assert_eq!(s.token_of(&id), None);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_flags_are_set() {
        let mut h = http::HeaderMap::new();
        h.append(
            http::header::COOKIE,
            "a=b; llmtrail_session=abc".parse().unwrap(),
        );
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        let c = set_cookie("abc", true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie("abc", false).contains("Secure"));
    }

    #[test]
    fn the_store_is_bounded() {
        let s = Sessions::default();
        let first = s.open([1; 32]).unwrap();
        for _ in 0..MAX_SESSIONS {
            s.open([2; 32]).unwrap();
        }
        assert_eq!(s.token_of(&first), None);
        assert!(s.by_id.lock().unwrap().len() <= MAX_SESSIONS);
    }
}
