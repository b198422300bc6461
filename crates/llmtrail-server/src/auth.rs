//! API tokens: bearer tokens checked against a store of their SHA-256 hashes.
//!
//! The store is `<data-dir>/tokens.json`, a list of `{name, role, hash, created}`; plaintext
//! tokens are never stored except the first admin token, written once to `<data-dir>/admin.token`
//! (mode 0600) so that the operator can pick it up. A token is `llmt_` followed by 43 base64url
//! characters (32 random bytes).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of the token store.
pub const TOKENS_FILE: &str = "tokens.json";
/// File name of the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
const TOKEN_PREFIX: &str = "llmt_";

/// Errors of the token store.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// An I/O error on a token file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store is not valid JSON.
    #[error("{path}: not a valid token store: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The random source failed.
    #[error("system random source failed")]
    Random,
}

/// One stored token (hash only).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRecord {
    /// Human name of the token.
    pub name: String,
    /// Role granted.
    pub role: String,
    /// Hex SHA-256 of the token.
    pub hash: String,
    /// RFC 3339 creation time.
    pub created: String,
}

/// Who a request authenticated as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token name.
    pub name: String,
    /// Role.
    pub role: String,
}

/// The in-memory view of the token store.
#[derive(Debug, Default)]
pub struct Tokens {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl Tokens {
    /// Loads the store from the data directory, creating the first admin token when none exists.
    /// Returns the store and, when it was just created, the path of the admin token file.
    ///
    /// # Errors
    /// [`AuthError`] on I/O failure or a damaged store.
    pub fn load_or_init(data_dir: &Path) -> Result<(Self, Option<PathBuf>), AuthError> {
        let path = data_dir.join(TOKENS_FILE);
        let mut records = read_records(&path)?;
        let mut created = None;
        if !records.iter().any(|r| r.role == "admin") {
            let token = new_token()?;
            let admin_path = data_dir.join(ADMIN_TOKEN_FILE);
            write_private(&admin_path, &format!("{token}\n"))?;
            records.push(TokenRecord {
                name: "admin".into(),
                role: "admin".into(),
                hash: hex::encode(hash(&token)),
                created: jiff::Timestamp::now().to_string(),
            });
            write_records(&path, &records)?;
            created = Some(admin_path);
        }
        let mut by_hash = HashMap::new();
        for r in records {
            let mut h = [0u8; 32];
            if hex::decode_to_slice(&r.hash, &mut h).is_ok() {
                by_hash.insert(
                    h,
                    Principal {
                        name: r.name,
                        role: r.role,
                    },
                );
            }
        }
        Ok((Self { by_hash }, created))
    }

    /// Returns the principal of a presented token, if valid.
    pub fn authenticate(&self, token: &str) -> Option<&Principal> {
        if !token.starts_with(TOKEN_PREFIX) {
            return None;
        }
        self.by_hash.get(&hash(token))
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn new_token() -> Result<String, AuthError> {
    use base64::Engine as _;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| AuthError::Random)?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

fn read_records(path: &Path) -> Result<Vec<TokenRecord>, AuthError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| AuthError::Invalid {
            path: path.into(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(AuthError::Io {
            path: path.into(),
            source,
        }),
    }
}

fn write_records(path: &Path, records: &[TokenRecord]) -> Result<(), AuthError> {
    let io = |source| AuthError::Io {
        path: path.into(),
        source,
    };
    let mut text = serde_json::to_string_pretty(records).map_err(|e| AuthError::Invalid {
        path: path.into(),
        message: e.to_string(),
    })?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    let _ = std::fs::remove_file(&tmp);
    write_private(&tmp, &text)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn write_private(path: &Path, contents: &str) -> Result<(), AuthError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let io = |source| AuthError::Io {
        path: path.into(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn first_start_creates_a_private_admin_token_stored_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, created) = Tokens::load_or_init(dir.path()).unwrap();
        let path = created.unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let token = std::fs::read_to_string(&path).unwrap();
        let token = token.trim();
        assert_eq!(tokens.authenticate(token).unwrap().role, "admin");
        assert!(tokens.authenticate("llmt_wrong").is_none());
        let store = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!store.contains(token), "plaintext token in the store");
        // A second start keeps the same token and creates nothing.
        let (again, created) = Tokens::load_or_init(dir.path()).unwrap();
        assert!(created.is_none());
        assert!(again.authenticate(token).is_some());
    }
}
