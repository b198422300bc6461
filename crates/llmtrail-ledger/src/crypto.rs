//! Content encryption: a master key wraps per-segment data keys, data keys seal content.
//!
//! Contract:
//! - Content (prompts, outputs, tool arguments and results) is sealed with AES-256-GCM under a
//!   random 256-bit data key that belongs to one segment. The data key is stored in the segment
//!   header, wrapped (AES-256-GCM) by the master key, with the segment's first index as
//!   associated data so a wrapped key cannot be moved to another segment. Leaves and proofs
//!   never depend on these keys (the leaf commits to content by a salted digest only); today
//!   opening a ledger and verifying content still need every segment's data key, and no
//!   command removes content or destroys keys yet.
//! - Every seal uses a fresh random 96-bit nonce. Nonces are never derived from the record
//!   index because a torn record may be rewritten after a crash with the same index and key.
//! - The associated data binds a ciphertext to its record (index and leaf hash), so content
//!   moved between records fails to open.
//! - Key material never appears in `Debug` output.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Length of an AES-GCM nonce.
pub const NONCE_BYTES: usize = NONCE_LEN;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Length in bytes of every key handled here.
pub const KEY_LEN: usize = 32;
/// Length of the AES-GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;
/// Length of a wrapped data key as stored: nonce, encrypted key, tag.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;

const WRAP_AAD: &[u8] = b"llmtrail data key v1";
const KEY_ID_DOMAIN: &[u8] = b"llmtrail master key id v1";

/// Errors of key handling and sealing.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The system random source failed.
    #[error("system random source failed")]
    Random,
    /// A ciphertext failed authentication (wrong key, changed bytes or moved content).
    #[error("content failed authentication")]
    Open,
    /// A key had the wrong length or encoding.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
}

/// Fills `buf` with bytes from the operating system's secure random source.
///
/// # Errors
/// [`CryptoError::Random`] when the source fails.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

fn aead_key(bytes: &[u8; KEY_LEN]) -> Result<LessSafeKey, CryptoError> {
    UnboundKey::new(&AES_256_GCM, bytes)
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::InvalidKey("not a 256-bit key"))
}

/// The key that wraps data keys; it never seals content itself.
pub struct MasterKey {
    bytes: [u8; KEY_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &hex::encode(self.id()))
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// Generates a new random master key.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the random source fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        random_bytes(&mut bytes)?;
        Self::from_bytes(bytes)
    }

    /// Builds a master key from its 32 raw bytes.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if the bytes cannot form an AES-256 key.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let key = aead_key(&bytes)?;
        Ok(Self { bytes, key })
    }

    /// Parses the text form: standard base64 of the 32 key bytes, surrounding whitespace ignored.
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] if the text is not base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        use base64::Engine as _;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| CryptoError::InvalidKey("master key is not base64"))?;
        let bytes: [u8; KEY_LEN] = raw
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("master key is not 32 bytes"))?;
        Self::from_bytes(bytes)
    }

    /// Returns the text form (standard base64).
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.bytes)
    }

    /// Returns a short public identifier of this key: the first 8 bytes of a domain-separated
    /// SHA-256 of the key. Segments record it so that a wrong key is named, not guessed.
    pub fn id(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(KEY_ID_DOMAIN)
            .chain_update(self.bytes)
            .finalize();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        id
    }

    /// Wraps a data key for storage: `nonce || encrypted key || tag`, bound to `context` (the
    /// segment's first index).
    ///
    /// # Errors
    /// [`CryptoError::Random`] when no nonce can be drawn.
    pub fn wrap(
        &self,
        data_key: &DataKey,
        context: u64,
    ) -> Result<[u8; WRAPPED_KEY_LEN], CryptoError> {
        let sealed = seal_with(&self.key, &wrap_aad(context), &data_key.bytes)?;
        let mut out = [0u8; WRAPPED_KEY_LEN];
        out.copy_from_slice(&sealed);
        Ok(out)
    }

    /// Unwraps a stored data key wrapped for `context`.
    ///
    /// # Errors
    /// [`CryptoError::Open`] when the wrapped key was not made by this master key for this
    /// context, or was changed.
    pub fn unwrap_key(
        &self,
        wrapped: &[u8; WRAPPED_KEY_LEN],
        context: u64,
    ) -> Result<DataKey, CryptoError> {
        let plain = open_with(&self.key, &wrap_aad(context), wrapped)?;
        let bytes: [u8; KEY_LEN] = plain
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("data key is not 32 bytes"))?;
        DataKey::from_bytes(bytes)
    }
}

/// A per-segment key that seals content.
pub struct DataKey {
    bytes: [u8; KEY_LEN],
    key: LessSafeKey,
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl DataKey {
    /// Generates a new random data key.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when the random source fails.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; KEY_LEN];
        random_bytes(&mut bytes)?;
        Self::from_bytes(bytes)
    }

    fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, CryptoError> {
        let key = aead_key(&bytes)?;
        Ok(Self { bytes, key })
    }

    /// Seals `plaintext` and appends `nonce || ciphertext || tag` to `out`, with a fresh random
    /// nonce.
    ///
    /// # Errors
    /// [`CryptoError::Random`] when no nonce can be drawn.
    pub fn seal_into(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        self.seal_with_nonce(nonce, aad, plaintext, out)
    }

    /// Seals `plaintext` with `nonce` and appends `nonce || ciphertext || tag` to `out`, in
    /// place (no temporary buffer). The nonce must be fresh random bytes, drawn once per seal:
    /// it lets a caller draw it outside a lock together with other random values.
    ///
    /// # Errors
    /// [`CryptoError::Random`] if the cipher refuses the input (it never does for valid sizes).
    pub fn seal_with_nonce(
        &self,
        nonce: [u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        let start = out.len();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let sealed = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut out[start + NONCE_LEN..],
        );
        match sealed {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(CryptoError::Random)
            }
        }
    }

    /// Opens `nonce || ciphertext || tag` and returns the plaintext.
    ///
    /// # Errors
    /// [`CryptoError::Open`] when authentication fails.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        open_with(&self.key, aad, sealed)
    }
}

/// Associated data of a wrapped data key: a domain string and the segment's first index.
fn wrap_aad(context: u64) -> [u8; 28] {
    let mut aad = [0u8; 28];
    aad[..20].copy_from_slice(WRAP_AAD);
    aad[20..].copy_from_slice(&context.to_le_bytes());
    aad
}

fn seal_with(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    random_bytes(&mut nonce)?;
    let mut body = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| CryptoError::Random)?;
    let mut out = Vec::with_capacity(NONCE_LEN + body.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&body);
    Ok(out)
}

fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < NONCE_LEN + TAG_LEN {
        return Err(CryptoError::Open);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
    let mut buf = body.to_vec();
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| CryptoError::Open)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let dk = DataKey::generate().unwrap();
        let mut out = b"prefix".to_vec();
        dk.seal_into(b"aad-1", b"secret prompt", &mut out).unwrap();
        assert_eq!(&out[..6], b"prefix");
        let sealed = &out[6..];
        assert_eq!(sealed.len(), NONCE_LEN + 13 + TAG_LEN);
        assert_eq!(dk.open(b"aad-1", sealed).unwrap(), b"secret prompt");
        assert!(matches!(dk.open(b"aad-2", sealed), Err(CryptoError::Open)));
        let mut flipped = sealed.to_vec();
        flipped[NONCE_LEN + 2] ^= 1;
        assert!(matches!(
            dk.open(b"aad-1", &flipped),
            Err(CryptoError::Open)
        ));
    }

    #[test]
    fn wrap_unwrap_and_wrong_master_key() {
        let mk = MasterKey::generate().unwrap();
        let other = MasterKey::generate().unwrap();
        let dk = DataKey::generate().unwrap();
        let wrapped = mk.wrap(&dk, 7).unwrap();
        let back = mk.unwrap_key(&wrapped, 7).unwrap();
        assert_eq!(back.bytes, dk.bytes);
        assert!(other.unwrap_key(&wrapped, 7).is_err());
        assert!(
            mk.unwrap_key(&wrapped, 8).is_err(),
            "a wrapped key moved to another segment"
        );
        assert_ne!(mk.id(), other.id());
    }

    #[test]
    fn base64_round_trip_and_debug_redacts() {
        let mk = MasterKey::generate().unwrap();
        let text = mk.to_base64();
        let back = MasterKey::from_base64(&format!(" {text}\n")).unwrap();
        assert_eq!(back.id(), mk.id());
        assert!(!format!("{mk:?}").contains(&text));
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
