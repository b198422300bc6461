//! Structure checks for tokens that the rule engine applies as validators
//! (`validator = "jwt"`), next to the shared ones in [`crate::validators`].
//!
//! Contract: same as [`crate::validators::check`]: [`check`] returns `None` for a name it
//! does not know, else whether the candidate passes. Checks are pure, bounded by the
//! candidate's length, and never panic on any input.

/// Names of the checks defined here.
pub const NAMES: &[&str] = &["jwt"];

/// Runs check `name` on `candidate`.
#[must_use]
pub fn check(name: &str, candidate: &str) -> Option<bool> {
    match name {
        "jwt" => Some(jwt(candidate)),
        _ => None,
    }
}

/// Tells whether `candidate` is a JSON Web Token: a JWS (`header.payload.signature`) whose
/// header decodes to a JSON object naming an `alg` and whose payload decodes to a JSON
/// object, or a JWE (five parts) whose header names `alg` and `enc`.
///
/// Three dot-separated base64url runs starting `eyJ` are common in ordinary data (any
/// base64 of `{"…`), so the decode is what makes a match a token.
///
/// ```
/// use llmtrail_detect::token_checks::jwt;
///
/// // {"alg":"HS256","typ":"JWT"} . {"sub":"1234567890"} . signature
/// assert!(jwt("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"));
/// assert!(!jwt("eyJub3RfYV9qd3QiOjF9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"));
/// ```
#[must_use]
pub fn jwt(candidate: &str) -> bool {
    let parts: Vec<&str> = candidate.split('.').collect();
    let header = match parts.as_slice() {
        [header, _, _] | [header, _, _, _, _] => json_object(header),
        _ => None,
    };
    let Some(header) = header else {
        return false;
    };
    let has = |key: &str| header.get(key).is_some_and(serde_json::Value::is_string);
    if parts.len() == 5 {
        return has("alg") && has("enc");
    }
    has("alg") && json_object(parts[1]).is_some()
}

fn json_object(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes = base64url(part)?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Decodes unpadded (or padded) base64url; also accepts the standard alphabet, which some
/// encoders emit by mistake.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for b in text.bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sixth-bit group cannot encode a byte.
    (bits < 6).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_known_values() {
        assert_eq!(base64url("eyJhIjoxfQ").as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            base64url("eyJhIjoxfQ==").as_deref(),
            Some(&b"{\"a\":1}"[..])
        );
        assert_eq!(base64url("Zm9v").as_deref(), Some(&b"foo"[..]));
        assert_eq!(base64url("Zm9vYg").as_deref(), Some(&b"foob"[..]));
        assert_eq!(base64url("Z"), None);
        assert_eq!(base64url("Zm9v!"), None);
    }

    #[test]
    fn jwe_needs_alg_and_enc() {
        // {"alg":"RSA-OAEP","enc":"A256GCM"}
        let header = "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ";
        assert!(jwt(&format!("{header}.a.b.c.d")));
        // {"alg":"RSA-OAEP"}
        assert!(!jwt("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"));
    }

    #[test]
    fn payload_must_be_json() {
        assert!(!jwt("eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln"));
        assert!(!jwt("eyJhbGciOiJIUzI1NiJ9"));
        assert!(!jwt(""));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "....",
            "eyJ.eyJ.",
            "é.é.é",
            "=.=.=",
            "eyJhbGciOiJIUzI1NiJ9...",
        ] {
            let _ = jwt(s);
        }
    }
}
