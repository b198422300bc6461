//! API tokens: bearer tokens checked against a store of their SHA-256 hashes, each with a
//! role.
//!
//! The store is `<data-dir>/tokens.json`, a list of `{name, role, hash, created}`; plaintext
//! tokens are never stored except the first admin token, written once to `<data-dir>/admin.token`
//! (mode 0600) so that the operator can pick it up. A token is `llmt_` followed by 43 base64url
//! characters (32 random bytes).
//!
//! Roles ([`ROLES`]): `viewer` (counts and charts, no content), `analyst` (content with PII and
//! secrets masked), `forensic` (raw content, with a stated reason, audited), `admin` (all of
//! that and tokens, keys, rules), `ingest` (writes only: events, OTLP, MCP proxies and their
//! holds). `llmtrail tokens create|list|revoke` edit the store (also while `serve` runs: the
//! store is re-read when its file changes, checked on every authentication, so a revocation
//! takes effect at once).

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of the token store.
pub const TOKENS_FILE: &str = "tokens.json";
/// File name of the first admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
const TOKEN_PREFIX: &str = "llmt_";

/// The roles a token may have.
pub const ROLES: &[&str] = &["viewer", "analyst", "forensic", "admin", "ingest"];

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
    /// A request to change the store is not valid.
    #[error("{0}")]
    Refused(String),
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

impl Principal {
    /// Tells whether the role may read events at all (metadata).
    #[must_use]
    pub fn reads(&self) -> bool {
        matches!(
            self.role.as_str(),
            "viewer" | "analyst" | "forensic" | "admin"
        )
    }

    /// Tells whether the role may append events (ingest, OTLP, MCP proxies).
    #[must_use]
    pub fn writes(&self) -> bool {
        matches!(self.role.as_str(), "ingest" | "admin")
    }

    /// Tells whether the role may decide held tool calls.
    #[must_use]
    pub fn approves(&self) -> bool {
        matches!(self.role.as_str(), "analyst" | "forensic" | "admin")
    }
}

#[derive(Debug, Default)]
struct Loaded {
    by_hash: HashMap<[u8; 32], Principal>,
    stamp: Option<(SystemTime, u64)>,
}

/// The in-memory view of the token store, re-read when the file changes.
#[derive(Debug, Default)]
pub struct Tokens {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn index(records: Vec<TokenRecord>) -> HashMap<[u8; 32], Principal> {
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
    by_hash
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
        let loaded = Loaded {
            stamp: stamp(&path),
            by_hash: index(records),
        };
        Ok((
            Self {
                path,
                loaded: RwLock::new(loaded),
            },
            created,
        ))
    }

    /// Returns the principal of a presented token, if valid. The store is re-read first when
    /// its file changed (a revoked token is refused at once); a store that cannot be read
    /// refuses every token until it can.
    pub fn authenticate(&self, token: &str) -> Option<Principal> {
        if !token.starts_with(TOKEN_PREFIX) {
            return None;
        }
        self.authenticate_hash(&hash(token))
    }

    /// Returns the principal of a token known by its SHA-256 (a dashboard session keeps only
    /// that), if the token is still valid; the store is re-read as in [`Tokens::authenticate`].
    pub fn authenticate_hash(&self, token_hash: &[u8; 32]) -> Option<Principal> {
        let now = stamp(&self.path);
        let fresh = self.loaded.read().ok().is_some_and(|l| l.stamp == now);
        if !fresh {
            let by_hash = read_records(&self.path).map(index).unwrap_or_default();
            if let Ok(mut l) = self.loaded.write() {
                *l = Loaded {
                    by_hash,
                    stamp: now,
                };
            }
        }
        self.loaded.read().ok()?.by_hash.get(token_hash).cloned()
    }
}

/// Creates a token with `name` and `role`; returns the token (shown once, stored hashed).
///
/// # Errors
/// [`AuthError::Refused`] for an unknown role or a name in use; I/O errors.
pub fn create(data_dir: &Path, name: &str, role: &str) -> Result<String, AuthError> {
    if !ROLES.contains(&role) {
        return Err(AuthError::Refused(format!(
            "unknown role `{role}`: one of {}",
            ROLES.join(", ")
        )));
    }
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(AuthError::Refused(
            "a token name is 1 to 128 printable characters".into(),
        ));
    }
    let path = data_dir.join(TOKENS_FILE);
    let mut records = read_records(&path)?;
    if records.iter().any(|r| r.name == name) {
        return Err(AuthError::Refused(format!("a token named `{name}` exists")));
    }
    let token = new_token()?;
    records.push(TokenRecord {
        name: name.into(),
        role: role.into(),
        hash: hex::encode(hash(&token)),
        created: jiff::Timestamp::now().to_string(),
    });
    write_records(&path, &records)?;
    Ok(token)
}

/// Lists the tokens (names, roles, creation times; never the hashes).
///
/// # Errors
/// I/O errors or a damaged store.
pub fn list(data_dir: &Path) -> Result<Vec<TokenRecord>, AuthError> {
    read_records(&data_dir.join(TOKENS_FILE))
}

/// Revokes the token named `name`.
///
/// # Errors
/// [`AuthError::Refused`] when there is no such token or it is the last admin token.
pub fn revoke(data_dir: &Path, name: &str) -> Result<(), AuthError> {
    let path = data_dir.join(TOKENS_FILE);
    let mut records = read_records(&path)?;
    let Some(pos) = records.iter().position(|r| r.name == name) else {
        return Err(AuthError::Refused(format!("no token named `{name}`")));
    };
    if records[pos].role == "admin" && records.iter().filter(|r| r.role == "admin").count() == 1 {
        return Err(AuthError::Refused(
            "the last admin token cannot be revoked".into(),
        ));
    }
    records.remove(pos);
    write_records(&path, &records)
}

/// SHA-256 of a token, the form the store keeps.
#[must_use]
pub fn hash(token: &str) -> [u8; 32] {
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
        // Created and revoked while loaded: seen at once.
        let t = create(dir.path(), "soc", "analyst").unwrap();
        assert_eq!(tokens.authenticate(&t).unwrap().role, "analyst");
        assert!(
            create(dir.path(), "soc", "viewer").is_err(),
            "names are unique"
        );
        assert!(create(dir.path(), "x", "superuser").is_err());
        revoke(dir.path(), "soc").unwrap();
        assert!(tokens.authenticate(&t).is_none());
        assert!(revoke(dir.path(), "admin").is_err(), "the last admin stays");
        assert!(tokens.authenticate("llmt_wrong").is_none());
        let store = std::fs::read_to_string(dir.path().join(TOKENS_FILE)).unwrap();
        assert!(!store.contains(token), "plaintext token in the store");
        // A second start keeps the same token and creates nothing.
        let (again, created) = Tokens::load_or_init(dir.path()).unwrap();
        assert!(created.is_none());
        assert!(again.authenticate(token).is_some());
    }
}
