//! Turning an event into what the ledger stores, and back.
//!
//! An event is split into metadata and content (see `llmtrail_core::Event::split`). The leaf is
//! the RFC 8785 canonical JSON of the metadata object plus one added top-level key,
//! `content_digest`: hex SHA-256(`b"llmtrail content v1\0"` || salt || canonical content JSON),
//! present only when the event has content. The salt (32 random bytes) is sealed together with
//! the content, so the leaf never commits to plaintext that could be guessed once the content is
//! gone. Preparation (encoding, hashing, drawing the salt and the sealing nonce) runs before the
//! append lock is taken, so that the critical section does only sealing and one write.

use llmtrail_core::Event;
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::{CryptoError, random_bytes};
use crate::merkle::{Hash, leaf_hash};

/// Top-level key in the leaf JSON that commits to the content.
pub const CONTENT_DIGEST_KEY: &str = "content_digest";
/// Length of the content salt.
pub const SALT_LEN: usize = 32;
const DIGEST_DOMAIN: &[u8] = b"llmtrail content v1\0";

/// An event encoded for the writer.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The event id.
    pub id: Uuid,
    /// The leaf bytes (canonical metadata JSON with the content digest).
    pub leaf: Vec<u8>,
    /// SHA-256(0x00 || leaf).
    pub leaf_hash: Hash,
    /// `salt || canonical content JSON`, to be sealed; `None` when the event has no content.
    pub content: Option<Vec<u8>>,
    /// The fresh random nonce the content will be sealed with, drawn here with the salt (one
    /// call to the system's random source, outside the append lock).
    pub nonce: [u8; crate::crypto::NONCE_BYTES],
}

impl Prepared {
    /// Bytes this record takes in a segment, framing and sealing overhead included.
    pub fn encoded_len(&self) -> usize {
        crate::format::RECORD_PREFIX_LEN
            + crate::format::RECORD_FIXED_LEN
            + self.leaf.len()
            + 4
            + self
                .content
                .as_ref()
                .map_or(0, |c| c.len() + 12 + crate::crypto::TAG_LEN)
    }
}

/// Computes the content digest of `salt || content`.
pub fn content_digest(salted_content: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update(DIGEST_DOMAIN)
        .chain_update(salted_content)
        .finalize()
        .into()
}

/// Prepares an event for appending.
///
/// # Errors
/// [`CryptoError::Random`] when no salt can be drawn.
pub fn prepare(event: &Event) -> Result<Prepared, CryptoError> {
    let mut random = [0u8; RANDOM_PER_EVENT];
    random_bytes(&mut random)?;
    Ok(prepare_with(event, &random))
}

/// Bytes of fresh randomness each event needs: its salt, then its nonce.
pub const RANDOM_PER_EVENT: usize = SALT_LEN + crate::crypto::NONCE_BYTES;

/// Prepares a batch, drawing the randomness of all its events from the system in one call.
///
/// # Errors
/// [`CryptoError::Random`] when no randomness can be drawn.
pub fn prepare_batch(events: &[Event]) -> Result<Vec<Prepared>, CryptoError> {
    let mut random = vec![0u8; RANDOM_PER_EVENT * events.len()];
    random_bytes(&mut random)?;
    Ok(events
        .iter()
        .zip(random.chunks_exact(RANDOM_PER_EVENT))
        .map(|(e, r)| prepare_with(e, r))
        .collect())
}

/// Prepares an event with the given salt and nonce bytes (`RANDOM_PER_EVENT` of them, fresh
/// from the system's random source and never reused).
fn prepare_with(event: &Event, random: &[u8]) -> Prepared {
    let (mut meta, content) = event.split();
    let mut nonce = [0u8; crate::crypto::NONCE_BYTES];
    nonce.copy_from_slice(&random[SALT_LEN..]);
    let content = match content {
        Some(content) => {
            let mut salted = Vec::with_capacity(SALT_LEN + 1024);
            salted.extend_from_slice(&random[..SALT_LEN]);
            llmtrail_core::canonical::write_canonical(&content, &mut salted);
            let mut digest_hex = [0u8; 64];
            // Encoding 32 bytes into 64 is infallible; the fallback keeps the lint happy.
            let digest_hex = match hex::encode_to_slice(content_digest(&salted), &mut digest_hex) {
                Ok(()) => String::from_utf8_lossy(&digest_hex).into_owned(),
                Err(_) => hex::encode(content_digest(&salted)),
            };
            if let Value::Object(map) = &mut meta {
                map.insert(CONTENT_DIGEST_KEY.to_owned(), Value::String(digest_hex));
            }
            Some(salted)
        }
        None => None,
    };
    let leaf = llmtrail_core::canonical::to_canonical_vec(&meta);
    let leaf_hash = leaf_hash(&leaf);
    Prepared {
        id: event.id,
        leaf,
        leaf_hash,
        content,
        nonce,
    }
}

/// Errors rebuilding an event from stored bytes.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The leaf is not JSON (the ledger never writes such a leaf).
    #[error("leaf is not valid JSON: {0}")]
    Leaf(serde_json::Error),
    /// The content plaintext is too short or not JSON.
    #[error("content is malformed")]
    Content,
    /// The content does not match the digest the leaf commits to.
    #[error("content digest mismatch")]
    DigestMismatch,
    /// The event could not be rebuilt.
    #[error("event does not parse: {0}")]
    Event(String),
}

/// Reads the content digest a leaf commits to, if any.
///
/// # Errors
/// [`DecodeError::Leaf`] when the leaf is not JSON.
pub fn leaf_content_digest(leaf: &[u8]) -> Result<Option<String>, DecodeError> {
    #[derive(serde::Deserialize)]
    struct DigestOnly {
        content_digest: Option<String>,
    }
    let d: DigestOnly = serde_json::from_slice(leaf).map_err(DecodeError::Leaf)?;
    Ok(d.content_digest)
}

/// Checks opened content (`salt || JSON`) against the leaf's digest.
///
/// # Errors
/// [`DecodeError::DigestMismatch`] when they differ, [`DecodeError::Content`] when malformed.
pub fn check_content(expected_hex: &str, salted_content: &[u8]) -> Result<(), DecodeError> {
    if salted_content.len() < SALT_LEN {
        return Err(DecodeError::Content);
    }
    if hex::encode(content_digest(salted_content)) != expected_hex {
        return Err(DecodeError::DigestMismatch);
    }
    Ok(())
}

/// Rebuilds an event from its leaf and its opened content (`salt || JSON`), checking the digest.
///
/// # Errors
/// [`DecodeError`] naming what does not fit.
pub fn rebuild(leaf: &[u8], salted_content: Option<&[u8]>) -> Result<Event, DecodeError> {
    let mut meta: Value = serde_json::from_slice(leaf).map_err(DecodeError::Leaf)?;
    let digest = match &mut meta {
        Value::Object(map) => map.remove(CONTENT_DIGEST_KEY),
        _ => None,
    };
    let content = match (digest, salted_content) {
        (Some(Value::String(expected)), Some(salted)) => {
            check_content(&expected, salted)?;
            let json: Value =
                serde_json::from_slice(&salted[SALT_LEN..]).map_err(|_| DecodeError::Content)?;
            Some(json)
        }
        (Some(_), Some(_)) | (None, Some(_)) => return Err(DecodeError::Content),
        (_, None) => None,
    };
    Event::join(meta, content).map_err(|e| DecodeError::Event(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event::from_json_slice(
            br#"{"kind":"llm.request","actor":{"user":"u-1042"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.input.messages":[{"role":"user","content":"my card is 4111 1111 1111 1111"}]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn leaf_never_holds_plaintext_content_and_round_trips() {
        let e = event();
        let p = prepare(&e).unwrap();
        let leaf = std::str::from_utf8(&p.leaf).unwrap();
        assert!(
            !leaf.contains("4111"),
            "content leaked into the leaf: {leaf}"
        );
        assert!(leaf.contains(CONTENT_DIGEST_KEY));
        assert_eq!(p.leaf_hash, leaf_hash(&p.leaf));
        let back = rebuild(&p.leaf, p.content.as_deref()).unwrap();
        assert_eq!(back.to_value(), e.to_value());
    }

    #[test]
    fn same_content_gets_different_salted_digests() {
        let e = event();
        let a = prepare(&e).unwrap();
        let b = prepare(&e).unwrap();
        assert_ne!(a.leaf, b.leaf, "salted digests must differ");
    }

    #[test]
    fn changed_content_or_missing_content() {
        let e = event();
        let p = prepare(&e).unwrap();
        let mut content = p.content.clone().unwrap();
        let last = content.len() - 3;
        content[last] ^= 1;
        assert!(matches!(
            rebuild(&p.leaf, Some(&content)),
            Err(DecodeError::DigestMismatch)
        ));
        let without = rebuild(&p.leaf, None).unwrap();
        assert_eq!(without.id, e.id);
    }
}
