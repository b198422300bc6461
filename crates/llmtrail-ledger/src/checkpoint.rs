//! C2SP tlog-checkpoints carried in C2SP signed notes, signed with Ed25519.
//!
//! Role: a checkpoint commits the ledger's origin, tree size and Merkle tree head
//! ([`crate::merkle`]); wrapping it in a signed note lets auditors and witnesses check it with
//! the same tooling as Go's `golang.org/x/mod/sumdb/note` and other transparency logs.
//!
//! Contract:
//! - [`Checkpoint::body`] produces the note text: the origin line, the decimal tree size, the
//!   standard padded base64 root hash and any extension lines, each ending in `\n`.
//!   [`Checkpoint::parse_body`] accepts exactly that shape and nothing looser.
//! - A signed note is the text, an empty line, then one or more signature lines
//!   `— <key name> <base64(key id ‖ signature)>\n` (U+2014 EM DASH, then a space). The Ed25519
//!   signature covers the text including its final newline. The key id is the first four bytes,
//!   big-endian, of `SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)`.
//! - Keys use the Go encodings: `PRIVATE+KEY+<name>+<id hex>+<base64(0x01 ‖ seed)>` for
//!   [`NoteSigner`] and `<name>+<id hex>+<base64(0x01 ‖ public key)>` for [`NoteVerifier`].
//! - [`NoteVerifier::verify`] succeeds only if the note is well formed, at most
//!   [`MAX_NOTE_SIZE`] bytes, carries a signature line whose name and key id match the verifier,
//!   every such matching signature is valid, and the authenticated text parses as a checkpoint.
//!   Signature lines from other keys are tolerated (witness cosignatures) but not checked.
//!
//! Invariants:
//! - Key names are non-empty and contain no whitespace, control character or `+`.
//! - Secret key material never appears in `Debug` output or error messages.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};

use crate::merkle::Hash;

/// Largest signed note [`NoteVerifier::verify`] accepts, in bytes (1 MiB).
pub const MAX_NOTE_SIZE: usize = 1 << 20;

/// Most signature lines a note may carry, as in Go's reference implementation; it bounds the
/// work an attacker can force per note.
const MAX_SIGNATURES: usize = 100;

/// Algorithm byte of Ed25519 keys in the Go key encodings and in the key id preimage.
const ALG_ED25519: u8 = 0x01;

/// Start of every signature line: EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";

/// Prefix of the Go-compatible private key string.
const SKEY_PREFIX: &str = "PRIVATE+KEY+";

/// Longest excerpt of untrusted input quoted in an error message.
const QUOTE_LIMIT: usize = 64;

/// Signed statement of the ledger's tree head (C2SP tlog-checkpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identity of the log, conventionally a schema-less URL.
    pub origin: String,
    /// Number of leaves in the tree.
    pub size: u64,
    /// RFC 9162 tree head over the first `size` leaves.
    pub root: Hash,
    /// Optional extra lines after the root hash, each non-empty.
    pub extensions: Vec<String>,
}

/// Errors from parsing or validating a checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The body does not end with a newline.
    #[error("checkpoint body does not end with a newline")]
    MissingFinalNewline,
    /// The origin line is empty.
    #[error("checkpoint origin line is empty")]
    EmptyOrigin,
    /// A mandatory line is absent.
    #[error("checkpoint is missing its {field} line")]
    MissingLine {
        /// Which line: `tree size` or `root hash`.
        field: &'static str,
    },
    /// The size line is not a canonical decimal `u64`.
    #[error("checkpoint tree size {value:?} is not a canonical decimal u64")]
    InvalidSize {
        /// Offending line, possibly shortened.
        value: String,
    },
    /// The root hash line is not canonical, padded standard base64.
    #[error("checkpoint root hash {value:?} is not padded standard base64")]
    InvalidRootEncoding {
        /// Offending line, possibly shortened.
        value: String,
    },
    /// The root hash does not decode to 32 bytes.
    #[error("checkpoint root hash has {len} bytes, expected 32")]
    InvalidRootLength {
        /// Decoded length.
        len: usize,
    },
    /// An extension line is empty.
    #[error("checkpoint extension line {line} is empty")]
    EmptyExtension {
        /// 1-based line number within the body.
        line: usize,
    },
    /// A line holds an ASCII control character (signed notes forbid them).
    #[error("checkpoint line {line} contains a control character")]
    ControlCharacter {
        /// 1-based line number within the body.
        line: usize,
    },
}

/// Quotes at most [`QUOTE_LIMIT`] characters of untrusted input in an error.
fn quote(s: &str) -> String {
    s.chars().take(QUOTE_LIMIT).collect()
}

/// Returns true for characters a signed note may not contain inside a line.
fn is_forbidden(c: char) -> bool {
    c < ' '
}

impl Checkpoint {
    /// Returns the note text: origin, size, base64 root and extension lines, each ending in
    /// `\n`.
    ///
    /// The result only round-trips through [`Checkpoint::parse_body`] when
    /// [`Checkpoint::validate`] accepts the checkpoint.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for extension in &self.extensions {
            out.push_str(extension);
            out.push('\n');
        }
        out
    }

    /// Checks that the checkpoint can be encoded unambiguously: non-empty origin and extension
    /// lines, none holding a newline or other control character.
    ///
    /// # Errors
    /// Returns [`CheckpointError::EmptyOrigin`], [`CheckpointError::EmptyExtension`] or
    /// [`CheckpointError::ControlCharacter`] (line numbers as in the body).
    pub fn validate(&self) -> Result<(), CheckpointError> {
        if self.origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        if self.origin.chars().any(is_forbidden) {
            return Err(CheckpointError::ControlCharacter { line: 1 });
        }
        for (i, extension) in self.extensions.iter().enumerate() {
            let line = i + 4;
            if extension.is_empty() {
                return Err(CheckpointError::EmptyExtension { line });
            }
            if extension.chars().any(is_forbidden) {
                return Err(CheckpointError::ControlCharacter { line });
            }
        }
        Ok(())
    }

    /// Parses a checkpoint body strictly.
    ///
    /// # Errors
    /// Returns the [`CheckpointError`] describing the first defect: missing final newline,
    /// empty origin, missing size or root line, a size that is not canonical decimal (no sign,
    /// no leading zero except `0` itself, fits in `u64`), a root that is not padded standard
    /// base64 of exactly 32 bytes, an empty extension line, or a control character.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let text = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        if let Some(i) = text
            .split('\n')
            .position(|line| line.chars().any(is_forbidden))
        {
            return Err(CheckpointError::ControlCharacter { line: i + 1 });
        }
        let mut lines = text.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        let size_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine { field: "tree size" })?;
        let size = parse_size(size_line)?;
        let root_line = lines
            .next()
            .ok_or(CheckpointError::MissingLine { field: "root hash" })?;
        let root_bytes =
            BASE64
                .decode(root_line)
                .map_err(|_| CheckpointError::InvalidRootEncoding {
                    value: quote(root_line),
                })?;
        let root: Hash =
            root_bytes
                .as_slice()
                .try_into()
                .map_err(|_| CheckpointError::InvalidRootLength {
                    len: root_bytes.len(),
                })?;
        let mut extensions = Vec::new();
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtension { line: i + 4 });
            }
            extensions.push(line.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// Parses a canonical decimal `u64`: ASCII digits only and no leading zero, so every size has
/// exactly one encoding.
fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let invalid = || CheckpointError::InvalidSize { value: quote(line) };
    let canonical = !line.is_empty()
        && line.bytes().all(|b| b.is_ascii_digit())
        && (line == "0" || !line.starts_with('0'));
    if !canonical {
        return Err(invalid());
    }
    line.parse().map_err(|_| invalid())
}

/// Errors from key handling, signing and note verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// A key name is empty or holds whitespace, a control character or `+`.
    #[error("invalid key name {name:?}: must be non-empty, without whitespace, controls or '+'")]
    InvalidKeyName {
        /// Rejected name, possibly shortened.
        name: String,
    },
    /// A key string does not have the expected shape.
    #[error("malformed {kind} key: {reason}")]
    MalformedKey {
        /// `signer` or `verifier`.
        kind: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A key string names an algorithm other than Ed25519.
    #[error("unsupported {kind} key algorithm {alg:#04x}")]
    UnsupportedAlgorithm {
        /// `signer` or `verifier`.
        kind: &'static str,
        /// Algorithm byte found.
        alg: u8,
    },
    /// A key string's id does not match the id computed from its name and public key.
    #[error("{kind} key {name} claims id {claimed:08x} but its key hashes to {computed:08x}")]
    KeyIdMismatch {
        /// `signer` or `verifier`.
        kind: &'static str,
        /// Key name.
        name: String,
        /// Id written in the key string.
        claimed: u32,
        /// Id computed from the key.
        computed: u32,
    },
    /// The operating system random number generator failed.
    #[error("system random number generator failed")]
    Rng,
    /// The note exceeds [`MAX_NOTE_SIZE`].
    #[error("note is {len} bytes, over the {max}-byte limit")]
    TooLarge {
        /// Note length in bytes.
        len: usize,
        /// Limit in bytes.
        max: usize,
    },
    /// The note is not a well-formed signed note.
    #[error("malformed note: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No signature line carries this verifier's name and key id.
    #[error("note has no signature from key {name}+{key_id:08x}")]
    NoMatchingSignature {
        /// Verifier key name.
        name: String,
        /// Verifier key id.
        key_id: u32,
    },
    /// A signature line from this verifier's key does not verify.
    #[error("invalid signature from key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Verifier key name.
        name: String,
        /// Verifier key id.
        key_id: u32,
    },
    /// The authenticated text is not a valid checkpoint.
    #[error("signed note is not a valid checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
}

/// Checks a key name against the signed-note rules.
fn check_name(name: &str) -> Result<(), NoteError> {
    let valid = !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '+');
    if valid {
        Ok(())
    } else {
        Err(NoteError::InvalidKeyName { name: quote(name) })
    }
}

/// Computes the signed-note key id of an Ed25519 key.
fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update([b'\n', ALG_ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Splits `<name>+<8 hex id>+<base64(0x01 ‖ 32 bytes)>` into its parts, checking each.
///
/// The base64 alphabet contains `+`, so only the first two `+` separate fields.
fn parse_key_fields(kind: &'static str, s: &str) -> Result<(String, u32, [u8; 32]), NoteError> {
    let malformed = |reason| NoteError::MalformedKey { kind, reason };
    let mut fields = s.splitn(3, '+');
    let (name, id_hex, material) = match (fields.next(), fields.next(), fields.next()) {
        (Some(name), Some(id), Some(material)) => (name, id, material),
        _ => return Err(malformed("expected <name>+<key id>+<key>")),
    };
    check_name(name)?;
    if id_hex.len() != 8 || !id_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed("key id is not 8 hexadecimal digits"));
    }
    let claimed = u32::from_str_radix(id_hex, 16).map_err(|_| malformed("key id is not hex"))?;
    let mut decoded = BASE64
        .decode(material)
        .map_err(|_| malformed("key is not padded base64"))?;
    let parsed = match decoded.split_first() {
        None => Err(malformed("key is empty")),
        Some((&alg, _)) if alg != ALG_ED25519 => Err(NoteError::UnsupportedAlgorithm { kind, alg }),
        Some((_, key)) => {
            <[u8; 32]>::try_from(key).map_err(|_| malformed("Ed25519 key is not 32 bytes"))
        }
    };
    // The material may be a private seed: clear the heap copy (best effort).
    decoded.fill(0);
    Ok((name.to_owned(), claimed, parsed?))
}

/// Ed25519 signer of checkpoint notes.
///
/// `Debug` shows only the name and key id; the seed leaves the value only through
/// [`NoteSigner::to_skey`].
pub struct NoteSigner {
    name: String,
    key_id: u32,
    seed: [u8; 32],
    key_pair: Ed25519KeyPair,
}

impl NoteSigner {
    /// Creates a signer from a key name and a 32-byte Ed25519 seed (RFC 8032 private key).
    ///
    /// # Errors
    /// Returns [`NoteError::InvalidKeyName`] for an invalid name.
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        // Rejection is only possible for a wrong seed length, which the type rules out.
        let key_pair =
            Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| NoteError::MalformedKey {
                kind: "signer",
                reason: "seed rejected by Ed25519",
            })?;
        let public_key = public_key_of(&key_pair);
        Ok(NoteSigner {
            name: name.to_owned(),
            key_id: key_id(name, &public_key),
            seed: *seed,
            key_pair,
        })
    }

    /// Creates a signer with a fresh seed from the operating system's random number generator.
    ///
    /// # Errors
    /// Returns [`NoteError::InvalidKeyName`] for an invalid name and [`NoteError::Rng`] when
    /// the random number generator fails.
    pub fn generate(name: &str) -> Result<NoteSigner, NoteError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| NoteError::Rng)?;
        let signer = NoteSigner::from_seed(name, &seed);
        seed.fill(0);
        signer
    }

    /// Parses a Go-compatible private key `PRIVATE+KEY+<name>+<id hex>+<base64(0x01 ‖ seed)>`.
    ///
    /// # Errors
    /// Returns [`NoteError::MalformedKey`] for a wrong shape, [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedAlgorithm`] for a non-Ed25519 key, and
    /// [`NoteError::KeyIdMismatch`] when the id does not match the derived public key.
    pub fn from_skey(skey: &str) -> Result<NoteSigner, NoteError> {
        let rest = skey
            .strip_prefix(SKEY_PREFIX)
            .ok_or(NoteError::MalformedKey {
                kind: "signer",
                reason: "missing PRIVATE+KEY+ prefix",
            })?;
        let (name, claimed, mut seed) = parse_key_fields("signer", rest)?;
        let signer = NoteSigner::from_seed(&name, &seed);
        seed.fill(0);
        let signer = signer?;
        if signer.key_id != claimed {
            return Err(NoteError::KeyIdMismatch {
                kind: "signer",
                name,
                claimed,
                computed: signer.key_id,
            });
        }
        Ok(signer)
    }

    /// Returns the Go-compatible private key string. It contains the secret seed.
    pub fn to_skey(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = ALG_ED25519;
        material[1..].copy_from_slice(&self.seed);
        let skey = format!(
            "{SKEY_PREFIX}{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        );
        material.fill(0);
        skey
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the verifier for this signer's public key.
    pub fn verifier(&self) -> NoteVerifier {
        NoteVerifier {
            name: self.name.clone(),
            key_id: self.key_id,
            public_key: public_key_of(&self.key_pair),
        }
    }

    /// Signs the checkpoint and returns the complete signed note.
    ///
    /// The checkpoint should pass [`Checkpoint::validate`]; otherwise verifiers reject or
    /// misread the note.
    pub fn sign(&self, cp: &Checkpoint) -> String {
        self.sign_text(&cp.body())
    }

    /// Signs arbitrary note text (which must end in a newline) and appends the signature block.
    fn sign_text(&self, text: &str) -> String {
        let signature = self.key_pair.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(4 + 64);
        blob.extend_from_slice(&self.key_id.to_be_bytes());
        blob.extend_from_slice(signature.as_ref());
        format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(blob)
        )
    }
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("key_id", &format_args!("{:08x}", self.key_id))
            .field("seed", &"<redacted>")
            .finish()
    }
}

impl Drop for NoteSigner {
    fn drop(&mut self) {
        // Best effort only: ring keeps its own copy of the expanded key, and without `unsafe`
        // volatile writes the compiler may elide this store; `black_box` makes that less likely.
        self.seed.fill(0);
        std::hint::black_box(&self.seed);
    }
}

/// Returns the 32-byte public key of an Ed25519 key pair.
fn public_key_of(key_pair: &Ed25519KeyPair) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(key_pair.public_key().as_ref());
    out
}

/// Ed25519 verifier of checkpoint notes for one named key.
#[derive(Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    public_key: [u8; 32],
}

impl NoteVerifier {
    /// Creates a verifier from a key name and a 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// Returns [`NoteError::InvalidKeyName`] for an invalid name.
    pub fn from_public_key(name: &str, public_key: &[u8; 32]) -> Result<NoteVerifier, NoteError> {
        check_name(name)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, public_key),
            public_key: *public_key,
        })
    }

    /// Parses a Go-compatible verifier key `<name>+<id hex>+<base64(0x01 ‖ public key)>`.
    ///
    /// # Errors
    /// Returns [`NoteError::MalformedKey`] for a wrong shape, [`NoteError::InvalidKeyName`],
    /// [`NoteError::UnsupportedAlgorithm`] for a non-Ed25519 key, and
    /// [`NoteError::KeyIdMismatch`] when the id does not match the name and key.
    pub fn from_vkey(vkey: &str) -> Result<NoteVerifier, NoteError> {
        let (name, claimed, public_key) = parse_key_fields("verifier", vkey)?;
        let verifier = NoteVerifier::from_public_key(&name, &public_key)?;
        if verifier.key_id != claimed {
            return Err(NoteError::KeyIdMismatch {
                kind: "verifier",
                name,
                claimed,
                computed: verifier.key_id,
            });
        }
        Ok(verifier)
    }

    /// Returns the Go-compatible verifier key string.
    pub fn to_vkey(&self) -> String {
        let mut material = [0u8; 33];
        material[0] = ALG_ED25519;
        material[1..].copy_from_slice(&self.public_key);
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            BASE64.encode(material)
        )
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the key id.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Returns the Ed25519 public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public_key
    }

    /// Verifies a signed note from this key and returns the checkpoint it carries.
    ///
    /// # Errors
    /// Returns [`NoteError::TooLarge`] over [`MAX_NOTE_SIZE`], [`NoteError::Malformed`] for a
    /// note that breaks the signed-note syntax (control characters, no blank line before the
    /// signatures, a bad signature line, more than 100 signatures),
    /// [`NoteError::InvalidSignature`] when a signature line naming this key fails,
    /// [`NoteError::NoMatchingSignature`] when none names it, and [`NoteError::Checkpoint`]
    /// when the signed text is not a checkpoint.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let text = self.verify_text(note)?;
        Ok(Checkpoint::parse_body(text)?)
    }

    /// Checks the signed-note syntax and this key's signatures, returning the signed text.
    fn verify_text<'a>(&self, note: &'a str) -> Result<&'a str, NoteError> {
        if note.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge {
                len: note.len(),
                max: MAX_NOTE_SIZE,
            });
        }
        let malformed = |reason| NoteError::Malformed { reason };
        // UTF-8 continuation bytes are all ≥ 0x80, so a byte scan finds exactly the ASCII
        // controls.
        if note.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(malformed("control character"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(malformed("no blank line before signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        let sigs = sigs
            .strip_suffix('\n')
            .ok_or(malformed("signature block must end in a newline"))?;
        let public_key = UnparsedPublicKey::new(&ED25519, &self.public_key);
        let mut verified = false;
        for (count, line) in sigs.split('\n').enumerate() {
            if count >= MAX_SIGNATURES {
                return Err(malformed("more than 100 signatures"));
            }
            let rest = line
                .strip_prefix(SIG_PREFIX)
                .ok_or(malformed("signature line without em dash"))?;
            let (name, encoded) = rest
                .split_once(' ')
                .ok_or(malformed("signature line without signature"))?;
            let blob = BASE64
                .decode(encoded)
                .map_err(|_| malformed("signature is not padded base64"))?;
            if check_name(name).is_err() || blob.len() < 5 {
                return Err(malformed("invalid signature line"));
            }
            let (id, signature) = blob.split_at(4);
            if name != self.name || id != self.key_id.to_be_bytes() {
                continue;
            }
            // Any bad signature under this key is an error even if another one verifies:
            // the log never produces one, so it signals tampering.
            if public_key.verify(text.as_bytes(), signature).is_err() {
                return Err(NoteError::InvalidSignature {
                    name: self.name.clone(),
                    key_id: self.key_id,
                });
            }
            verified = true;
        }
        if !verified {
            return Err(NoteError::NoMatchingSignature {
                name: self.name.clone(),
                key_id: self.key_id,
            });
        }
        Ok(text)
    }
}

impl fmt::Debug for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("NoteVerifier")
            .field(&self.to_vkey())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "llmtrail.example/ledger/prod".to_owned(),
            size: 1234,
            root: std::array::from_fn(|i| i as u8),
            extensions: vec!["timestamp 1700000000".to_owned(), "policy v2".to_owned()],
        }
    }

    fn signer(name: &str, byte: u8) -> NoteSigner {
        NoteSigner::from_seed(name, &[byte; 32]).unwrap()
    }

    /// Splits a single-signature note into its text and its signature line.
    fn split_note(note: &str) -> (&str, &str) {
        let at = note.rfind("\n\n").unwrap();
        (&note[..at + 1], &note[at + 2..])
    }

    // ---- Checkpoint body.

    #[test]
    fn body_has_the_c2sp_shape() {
        let root = [0xFF; 32];
        let cp = Checkpoint {
            origin: "example.com/log".to_owned(),
            size: 0,
            root,
            extensions: vec![],
        };
        assert_eq!(
            cp.body(),
            "example.com/log\n0\n//////////////////////////////////////////8=\n"
        );
        let body = checkpoint().body();
        assert_eq!(
            body,
            "llmtrail.example/ledger/prod\n1234\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n\
             timestamp 1700000000\npolicy v2\n"
        );
        assert_eq!(Checkpoint::parse_body(&body).unwrap(), checkpoint());
        assert_eq!(Checkpoint::parse_body(&cp.body()).unwrap(), cp);
        let max = Checkpoint {
            size: u64::MAX,
            ..checkpoint()
        };
        assert_eq!(Checkpoint::parse_body(&max.body()).unwrap(), max);
    }

    #[test]
    fn parse_body_rejects_each_defect_specifically() {
        use CheckpointError::*;
        let root = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let short_root = BASE64.encode([7u8; 31]);
        let cases: Vec<(String, CheckpointError)> = vec![
            (format!("o\n1\n{root}"), MissingFinalNewline),
            (String::new(), MissingFinalNewline),
            (format!("\n1\n{root}\n"), EmptyOrigin),
            ("o\n".to_owned(), MissingLine { field: "tree size" }),
            ("o\n1\n".to_owned(), MissingLine { field: "root hash" }),
            (
                format!("o\n\n{root}\n"),
                InvalidSize {
                    value: String::new(),
                },
            ),
            (
                format!("o\n01\n{root}\n"),
                InvalidSize {
                    value: "01".to_owned(),
                },
            ),
            (
                format!("o\n+1\n{root}\n"),
                InvalidSize {
                    value: "+1".to_owned(),
                },
            ),
            (
                format!("o\n-1\n{root}\n"),
                InvalidSize {
                    value: "-1".to_owned(),
                },
            ),
            (
                format!("o\n1 \n{root}\n"),
                InvalidSize {
                    value: "1 ".to_owned(),
                },
            ),
            (
                format!("o\n18446744073709551616\n{root}\n"),
                InvalidSize {
                    value: "18446744073709551616".to_owned(),
                },
            ),
            (
                format!("o\n1\n{}\n", &root[..43]),
                InvalidRootEncoding {
                    value: root[..43].to_owned(),
                },
            ),
            (
                "o\n1\nnot base64!\n".to_owned(),
                InvalidRootEncoding {
                    value: "not base64!".to_owned(),
                },
            ),
            (
                format!("o\n1\n{short_root}\n"),
                InvalidRootLength { len: 31 },
            ),
            (format!("o\n1\n{root}\n\n"), EmptyExtension { line: 4 }),
            (format!("o\n1\n{root}\next\n\n"), EmptyExtension { line: 5 }),
            (
                format!("o\n1\n{root}\next\tension\n"),
                ControlCharacter { line: 4 },
            ),
            (format!("o\r\n1\n{root}\n"), ControlCharacter { line: 1 }),
        ];
        for (body, want) in cases {
            assert_eq!(Checkpoint::parse_body(&body), Err(want), "body {body:?}");
        }
        // Non-canonical trailing bits in the last base64 character.
        let mut loose = root.to_owned();
        loose.replace_range(42..43, "9");
        assert!(matches!(
            Checkpoint::parse_body(&format!("o\n1\n{loose}\n")),
            Err(InvalidRootEncoding { .. })
        ));
    }

    #[test]
    fn validate_mirrors_parse_rules() {
        assert_eq!(checkpoint().validate(), Ok(()));
        let cases = [
            (
                Checkpoint {
                    origin: String::new(),
                    ..checkpoint()
                },
                CheckpointError::EmptyOrigin,
            ),
            (
                Checkpoint {
                    origin: "a\nb".to_owned(),
                    ..checkpoint()
                },
                CheckpointError::ControlCharacter { line: 1 },
            ),
            (
                Checkpoint {
                    extensions: vec!["x".to_owned(), String::new()],
                    ..checkpoint()
                },
                CheckpointError::EmptyExtension { line: 5 },
            ),
            (
                Checkpoint {
                    extensions: vec!["x\ny".to_owned()],
                    ..checkpoint()
                },
                CheckpointError::ControlCharacter { line: 4 },
            ),
        ];
        for (cp, want) in cases {
            assert_eq!(cp.validate(), Err(want));
        }
    }

    // ---- Keys.

    #[test]
    fn key_id_matches_definition() {
        let s = signer("llmtrail-test", 9);
        let public_key = *s.verifier().public_key();
        let mut preimage = b"llmtrail-test\n\x01".to_vec();
        preimage.extend_from_slice(&public_key);
        let digest = Sha256::digest(&preimage);
        assert_eq!(s.key_id().to_be_bytes(), digest[..4]);
        assert_eq!(s.verifier().key_id(), s.key_id());
        let vkey = s.verifier().to_vkey();
        assert!(vkey.starts_with(&format!("llmtrail-test+{:08x}+", s.key_id())));
    }

    #[test]
    fn skey_and_vkey_round_trip() {
        let s = NoteSigner::generate("round-trip.example").unwrap();
        let skey = s.to_skey();
        assert!(skey.starts_with(&format!(
            "PRIVATE+KEY+round-trip.example+{:08x}+",
            s.key_id()
        )));
        let again = NoteSigner::from_skey(&skey).unwrap();
        assert_eq!(again.name(), s.name());
        assert_eq!(again.key_id(), s.key_id());
        assert_eq!(again.to_skey(), skey);
        assert_eq!(again.verifier(), s.verifier());
        let v = NoteVerifier::from_vkey(&s.verifier().to_vkey()).unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(v.verify(&again.sign(&checkpoint())).unwrap(), checkpoint());
        assert_ne!(
            NoteSigner::generate("round-trip.example")
                .unwrap()
                .to_skey(),
            skey
        );
    }

    #[test]
    fn key_parsing_errors_are_specific() {
        let s = signer("k", 1);
        let vkey = s.verifier().to_vkey();
        let id = format!("{:08x}", s.key_id());
        let material = vkey.rsplit_once(&format!("{id}+")).unwrap().1.to_owned();
        assert!(matches!(
            NoteVerifier::from_vkey("k"),
            Err(NoteError::MalformedKey {
                kind: "verifier",
                ..
            })
        ));
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("k+{}+{material}", &id[..7])),
            Err(NoteError::MalformedKey { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("k+{id}+{}", &material[1..])),
            Err(NoteError::MalformedKey { .. })
        ));
        assert!(matches!(
            NoteVerifier::from_vkey(&format!("k+00000000+{material}")),
            Err(NoteError::KeyIdMismatch { claimed: 0, .. })
        ));
        let other_alg = BASE64.encode([[2u8].as_slice(), &[0; 32]].concat());
        assert_eq!(
            NoteVerifier::from_vkey(&format!("k+{id}+{other_alg}")),
            Err(NoteError::UnsupportedAlgorithm {
                kind: "verifier",
                alg: 2
            })
        );
        assert!(matches!(
            NoteVerifier::from_vkey(&format!(" k+{id}+{material}")),
            Err(NoteError::InvalidKeyName { .. })
        ));
        assert!(matches!(
            NoteSigner::from_skey(&vkey),
            Err(NoteError::MalformedKey { kind: "signer", .. })
        ));
        for name in ["", "a b", "a+b", "tab\there", "nl\n", "nbsp\u{a0}"] {
            assert!(
                matches!(
                    NoteSigner::from_seed(name, &[0; 32]),
                    Err(NoteError::InvalidKeyName { .. })
                ),
                "{name:?}"
            );
            assert!(
                NoteVerifier::from_public_key(name, &[0; 32]).is_err(),
                "{name:?}"
            );
            assert!(NoteSigner::generate(name).is_err(), "{name:?}");
        }
    }

    #[test]
    fn debug_redacts_the_seed() {
        let s = signer("debug-test", 0x42);
        let skey = s.to_skey();
        let secret = skey.rsplit('+').next().unwrap();
        let shown = format!("{s:?} {s:#?}");
        assert!(
            shown.contains("debug-test") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(!shown.contains(secret), "{shown}");
        assert!(
            !shown.contains("66, 66") && !shown.contains("4242"),
            "{shown}"
        );
        assert!(format!("{:?}", s.verifier()).contains(&s.verifier().to_vkey()));
    }

    // ---- Signing and verification.

    #[test]
    fn sign_verify_round_trip() {
        let s = signer("llmtrail.example/ledger", 3);
        let note = s.sign(&checkpoint());
        let (text, sig_line) = split_note(&note);
        assert_eq!(text, checkpoint().body());
        assert!(sig_line.starts_with("\u{2014} llmtrail.example/ledger "));
        assert!(sig_line.ends_with('\n') && sig_line.matches('\n').count() == 1);
        let blob = BASE64
            .decode(sig_line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        assert_eq!(blob.len(), 68);
        assert_eq!(blob[..4], s.key_id().to_be_bytes());
        assert_eq!(s.verifier().verify(&note).unwrap(), checkpoint());
    }

    #[test]
    fn tampering_with_any_line_fails() {
        let s = signer("tamper", 4);
        let v = s.verifier();
        let note = s.sign(&checkpoint());
        let (text, sig_line) = split_note(&note);
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let originals = lines.clone();
        let edits: [(usize, String); 5] = [
            (0, "llmtrail.example/ledger/evil".to_owned()),
            (1, "1235".to_owned()),
            (2, BASE64.encode([0u8; 32])),
            (3, "timestamp 1700000001".to_owned()),
            (4, "policy v3".to_owned()),
        ];
        for (i, replacement) in edits {
            lines[i] = replacement;
            let forged = format!("{}\n\n{sig_line}", lines.join("\n"));
            assert_eq!(
                v.verify(&forged),
                Err(NoteError::InvalidSignature {
                    name: "tamper".to_owned(),
                    key_id: s.key_id()
                }),
                "line {i}"
            );
            lines[i] = originals[i].clone();
        }
        // Dropping or adding an extension line changes the signed text too.
        let dropped = format!("{}\n\n{sig_line}", lines[..4].join("\n"));
        assert!(matches!(
            v.verify(&dropped),
            Err(NoteError::InvalidSignature { .. })
        ));

        // Flip each byte of the signature (key id bytes included).
        let (prefix, encoded) = sig_line.trim_end().rsplit_once(' ').unwrap();
        let blob = BASE64.decode(encoded).unwrap();
        for i in 0..blob.len() {
            let mut bad = blob.clone();
            bad[i] ^= 0x80;
            let forged = format!("{text}\n{prefix} {}\n", BASE64.encode(&bad));
            let err = v.verify(&forged).unwrap_err();
            let want = if i < 4 {
                "NoMatchingSignature"
            } else {
                "InvalidSignature"
            };
            assert!(format!("{err:?}").starts_with(want), "byte {i}: {err:?}");
        }
    }

    #[test]
    fn other_keys_do_not_verify() {
        let a = signer("alice", 5);
        let b = signer("bob", 6);
        let note = a.sign(&checkpoint());
        assert_eq!(
            b.verifier().verify(&note),
            Err(NoteError::NoMatchingSignature {
                name: "bob".to_owned(),
                key_id: b.key_id()
            })
        );
        // Same key material under another name has another key id and does not match.
        let renamed = signer("alice2", 5);
        assert!(matches!(
            renamed.verifier().verify(&note),
            Err(NoteError::NoMatchingSignature { .. })
        ));
        // A forged line naming alice with alice's id but bob's signature is caught.
        let (text, _) = split_note(&note);
        let bob_note = b.sign(&checkpoint());
        let (_, bob_line) = split_note(&bob_note);
        let bob_blob = BASE64
            .decode(bob_line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        let forged_blob = [a.key_id().to_be_bytes().as_slice(), &bob_blob[4..]].concat();
        let forged = format!("{text}\n\u{2014} alice {}\n", BASE64.encode(forged_blob));
        assert!(matches!(
            a.verifier().verify(&forged),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    #[test]
    fn cosigned_notes_verify_under_each_key() {
        let log = signer("log", 7);
        let witness = signer("witness", 8);
        let stranger = signer("stranger", 9);
        let (text, log_line) = split_note(&log.sign(&checkpoint())).to_owned_pair();
        let (_, witness_line) = split_note(&witness.sign(&checkpoint())).to_owned_pair();
        let note = format!("{text}\n{witness_line}{log_line}");
        assert_eq!(log.verifier().verify(&note).unwrap(), checkpoint());
        assert_eq!(witness.verifier().verify(&note).unwrap(), checkpoint());
        assert!(matches!(
            stranger.verifier().verify(&note),
            Err(NoteError::NoMatchingSignature { .. })
        ));
        // A repeated valid signature is accepted; an extra bad one from the same key is not.
        let repeated = format!("{text}\n{log_line}{log_line}");
        assert!(log.verifier().verify(&repeated).is_ok());
        let (prefix, encoded) = log_line.trim_end().rsplit_once(' ').unwrap();
        let mut blob = BASE64.decode(encoded).unwrap();
        blob[10] ^= 1;
        let bad_line = format!("{prefix} {}\n", BASE64.encode(&blob));
        let with_bad = format!("{text}\n{log_line}{bad_line}");
        assert!(matches!(
            log.verifier().verify(&with_bad),
            Err(NoteError::InvalidSignature { .. })
        ));
    }

    trait ToOwnedPair {
        fn to_owned_pair(self) -> (String, String);
    }

    impl ToOwnedPair for (&str, &str) {
        fn to_owned_pair(self) -> (String, String) {
            (self.0.to_owned(), self.1.to_owned())
        }
    }

    #[test]
    fn malformed_notes_are_rejected() {
        let s = signer("m", 10);
        let v = s.verifier();
        let note = s.sign(&checkpoint());
        let (text, sig_line) = split_note(&note);
        let cases = [
            text.to_owned(),
            format!("{text}\n"),
            format!("{text}\n{}", sig_line.trim_end()),
            format!("\x01{text}\n{sig_line}"),
            format!("{text}\n{}", sig_line.replacen('\u{2014}', "-", 1)),
            format!("{text}\n{}", sig_line.replacen("\u{2014} ", "\u{2014}", 1)),
            format!("{text}\n{}", sig_line.replacen("m ", "m  ", 1)),
            format!("{text}\n{}", sig_line.replacen("m ", "m+x ", 1)),
            format!("{text}\n{}Unexpected line.\n", sig_line),
            format!("{text}\n{sig_line}\n"),
            format!("{text}\n\u{2014} m AAAA\n"),
            format!("{text}\n\u{2014} m \n"),
            format!("{text}\n{}", sig_line.repeat(101)),
        ];
        for bad in &cases {
            assert!(
                matches!(v.verify(bad), Err(NoteError::Malformed { .. })),
                "{bad:?}"
            );
        }
        assert!(
            v.verify(&format!("{text}\n{}", sig_line.repeat(100)))
                .is_ok()
        );

        let big = Checkpoint {
            extensions: vec!["x".repeat(MAX_NOTE_SIZE)],
            ..checkpoint()
        };
        let err = v.verify(&s.sign(&big)).unwrap_err();
        assert!(
            matches!(
                err,
                NoteError::TooLarge {
                    max: MAX_NOTE_SIZE,
                    ..
                }
            ),
            "{err:?}"
        );

        // A validly signed text that is not a checkpoint.
        let not_cp = s.sign_text("hello\nworld\n");
        assert_eq!(
            v.verify(&not_cp),
            Err(NoteError::Checkpoint(CheckpointError::InvalidSize {
                value: "world".to_owned()
            }))
        );
    }

    // ---- Known answers from golang.org/x/mod/sumdb/note (note_test.go: TestNewVerifier,
    // TestNewSigner, TestSign, TestOpen).

    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
    const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\n\
                           then you don't know what your problem is.\n";
    const PETER_SIG: &str = "\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
    const ENOCH_SIG: &str = "\u{2014} EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

    #[test]
    fn go_keys_parse_and_match() {
        let v = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
        assert_eq!(v.name(), "PeterNeumann");
        assert_eq!(v.key_id(), 0xc74f20a3);
        assert_eq!(v.to_vkey(), PETER_VKEY);
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        assert_eq!(s.key_id(), 0xc74f20a3);
        assert_eq!(s.to_skey(), PETER_SKEY);
        assert_eq!(s.verifier(), v);
        let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
        assert_eq!(enoch.key_id(), 0xaf0cfe78);
    }

    #[test]
    fn go_key_manglings_are_rejected() {
        for (key, is_signer) in [(PETER_VKEY, false), (PETER_SKEY, true)] {
            let parse = |k: &str| {
                if is_signer {
                    NoteSigner::from_skey(k).map(|_| ())
                } else {
                    NoteVerifier::from_vkey(k).map(|_| ())
                }
            };
            let b = key.as_bytes();
            for i in 0..=b.len() {
                for j in i + 1..=b.len() {
                    if i != 0 || j != b.len() {
                        let sub = std::str::from_utf8(&b[i..j]).unwrap();
                        assert!(parse(sub).is_err(), "substring {sub:?}");
                    }
                }
            }
            for i in 0..b.len() {
                let mut m = b.to_vec();
                m[i] += 1;
                let mangled = String::from_utf8(m).unwrap();
                assert!(parse(&mangled).is_err(), "mangled {mangled:?}");
            }
        }
        // Wrong key length and unknown algorithm, each with a correctly adjusted key id.
        assert!(
            NoteVerifier::from_vkey(
                "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
            )
            .is_err()
        );
        assert_eq!(
            NoteVerifier::from_vkey(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
            ),
            Err(NoteError::UnsupportedAlgorithm {
                kind: "verifier",
                alg: 0x65
            })
        );
    }

    #[test]
    fn go_signature_is_reproduced_and_verified() {
        let s = NoteSigner::from_skey(PETER_SKEY).unwrap();
        let want = format!("{GO_TEXT}\n{PETER_SIG}");
        assert_eq!(s.sign_text(GO_TEXT), want);

        let peter = NoteVerifier::from_vkey(PETER_VKEY).unwrap();
        let enoch = NoteVerifier::from_vkey(ENOCH_VKEY).unwrap();
        assert_eq!(peter.verify_text(&want), Ok(GO_TEXT));
        let both = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
        assert_eq!(peter.verify_text(&both), Ok(GO_TEXT));
        assert_eq!(enoch.verify_text(&both), Ok(GO_TEXT));
        // It is a valid note but not a checkpoint.
        assert!(matches!(peter.verify(&want), Err(NoteError::Checkpoint(_))));

        let corrupted = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
        assert_eq!(
            peter.verify_text(&corrupted),
            Err(NoteError::InvalidSignature {
                name: "PeterNeumann".to_owned(),
                key_id: 0xc74f20a3
            })
        );
        assert!(matches!(
            peter.verify_text(&format!("{GO_TEXT}\n{}", PETER_SIG.repeat(101))),
            Err(NoteError::Malformed { .. })
        ));
        let bad_msgs = [
            GO_TEXT.to_owned(),
            format!("{GO_TEXT}\n"),
            format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
            format!("\x01{GO_TEXT}\n{PETER_SIG}"),
            format!(
                "{GO_TEXT}\n\u{2014} Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
            ),
            format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
        ];
        for msg in bad_msgs {
            assert!(
                matches!(peter.verify_text(&msg), Err(NoteError::Malformed { .. })),
                "{msg:?}"
            );
        }
    }
}
