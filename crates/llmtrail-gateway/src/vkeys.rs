//! Virtual keys: client keys issued by llmtrail that name a person and stand in for the real
//! provider key, which never leaves the gateway.
//!
//! The store is `<data-dir>/virtual-keys.json` (mode 0600): a list of entries with an id
//! (`vk_` + 12 hex digits), the SHA-256 of the key, its first characters for recognition, the
//! identity it maps to, the environment variable holding the real provider key (when not the
//! upstream's), and creation and revocation times. The key itself (`llmt_vk_` + 43 base64url
//! characters, 32 random bytes) is shown once at creation and never stored.
//!
//! Concurrency: the CLI changes the file under an exclusive lock on `virtual-keys.lock` and
//! replaces it atomically (write, fsync, rename); a running server notices the change on the
//! next request (it compares the file's length, modification time and inode on every lookup),
//! so creation and revocation take effect at once without a restart.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of the store inside the data directory.
pub const STORE_FILE: &str = "virtual-keys.json";
const LOCK_FILE: &str = "virtual-keys.lock";
/// Prefix that marks a client key as an llmtrail virtual key.
pub const KEY_PREFIX: &str = "llmt_vk_";

/// Errors of the virtual key store.
#[derive(Debug, thiserror::Error)]
pub enum VkeyError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The store is not valid JSON of the expected shape.
    #[error("{path}: not a virtual key store: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        why: String,
    },
    /// No key has this id.
    #[error("no virtual key with id {0}")]
    NotFound(String),
    /// A field given at creation is not acceptable.
    #[error("{field}: {why}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What is allowed.
        why: &'static str,
    },
    /// The system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> VkeyError + '_ {
    move |source| VkeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One virtual key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VirtualKey {
    /// Stable id, recorded as `actor.api_key_id`.
    pub id: String,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// User the key belongs to.
    pub user: String,
    /// Role of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Department of the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Agent the key is for, when an agent rather than a person uses it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Tags added to every event made with the key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Environment variable holding the real provider key (default: the upstream's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_key_env: Option<String>,
    /// When it was created (RFC 3339).
    pub created: String,
    /// When it was revoked (RFC 3339), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    keys: Vec<VirtualKey>,
}

/// What to create.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    /// User (required).
    pub user: String,
    /// Role.
    pub role: Option<String>,
    /// Department.
    pub department: Option<String>,
    /// Agent.
    pub agent: Option<String>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
    /// Environment variable of the real provider key.
    pub provider_key_env: Option<String>,
}

/// Result of looking a presented key up.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A valid key.
    Valid(Arc<VirtualKey>),
    /// A key that existed and was revoked.
    Revoked(Arc<VirtualKey>),
    /// Not a key this store knows.
    Unknown,
}

/// Returns the hex SHA-256 of a key.
#[must_use]
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Returns a short, non-reversible fingerprint of a key that is not ours (pass-through mode),
/// so that requests made with one provider key can be grouped without storing it.
#[must_use]
pub fn fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("sha256:{}", hex::encode(&digest[..8]))
}

/// Changes the store (CLI side).
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    lock: PathBuf,
}

impl Store {
    /// Returns the store of the data directory `dir`.
    #[must_use]
    pub fn new(dir: &Path) -> Store {
        Store {
            path: dir.join(STORE_FILE),
            lock: dir.join(LOCK_FILE),
        }
    }

    /// Path of the store file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lists every key, revoked ones included.
    ///
    /// # Errors
    /// [`VkeyError`] when the file cannot be read or parsed.
    pub fn list(&self) -> Result<Vec<VirtualKey>, VkeyError> {
        Ok(read_store(&self.path)?.keys)
    }

    /// Creates a key; returns the entry and the key, which is shown once and never stored.
    ///
    /// # Errors
    /// [`VkeyError`] for a bad field or a file error.
    pub fn create(&self, new: NewKey) -> Result<(VirtualKey, String), VkeyError> {
        check_field("user", Some(&new.user))?;
        check_field("role", new.role.as_ref())?;
        check_field("department", new.department.as_ref())?;
        check_field("agent", new.agent.as_ref())?;
        if let Some(env) = &new.provider_key_env
            && (env.is_empty() || env.contains('=') || env.contains('\0'))
        {
            return Err(VkeyError::BadField {
                field: "provider_key_env",
                why: "must name an environment variable",
            });
        }
        let mut secret = [0u8; 32];
        let mut id = [0u8; 6];
        llmtrail_ledger::crypto::random_bytes(&mut secret)
            .and_then(|()| llmtrail_ledger::crypto::random_bytes(&mut id))
            .map_err(|e| VkeyError::Random(e.to_string()))?;
        let key = format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
        );
        let entry = VirtualKey {
            id: format!("vk_{}", hex::encode(id)),
            hash: hash_key(&key),
            prefix: key[..KEY_PREFIX.len() + 6].to_owned(),
            user: new.user,
            role: new.role,
            department: new.department,
            agent: new.agent,
            tags: new.tags,
            provider_key_env: new.provider_key_env,
            created: jiff::Timestamp::now().to_string(),
            revoked: None,
        };
        self.update(|store| {
            store.keys.push(entry.clone());
            Ok(())
        })?;
        Ok((entry, key))
    }

    /// Revokes the key with `id` (at once, also in a running server); revoking twice is fine.
    ///
    /// # Errors
    /// [`VkeyError::NotFound`] for an unknown id, or a file error.
    pub fn revoke(&self, id: &str) -> Result<VirtualKey, VkeyError> {
        let mut out = None;
        self.update(|store| {
            let entry = store
                .keys
                .iter_mut()
                .find(|k| k.id == id)
                .ok_or_else(|| VkeyError::NotFound(id.to_owned()))?;
            if entry.revoked.is_none() {
                entry.revoked = Some(jiff::Timestamp::now().to_string());
            }
            out = Some(entry.clone());
            Ok(())
        })?;
        out.ok_or_else(|| VkeyError::NotFound(id.to_owned()))
    }

    fn update(
        &self,
        change: impl FnOnce(&mut StoreFile) -> Result<(), VkeyError>,
    ) -> Result<(), VkeyError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&self.lock)
            .map_err(io(&self.lock))?;
        lock.lock().map_err(io(&self.lock))?;
        let mut store = read_store(&self.path)?;
        change(&mut store)?;
        let mut text = serde_json::to_vec_pretty(&store).map_err(|e| VkeyError::Invalid {
            path: self.path.clone(),
            why: e.to_string(),
        })?;
        text.push(b'\n');
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io(&tmp))?;
        file.write_all(&text).map_err(io(&tmp))?;
        file.sync_all().map_err(io(&tmp))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        drop(lock);
        Ok(())
    }
}

fn check_field(field: &'static str, value: Option<&String>) -> Result<(), VkeyError> {
    match value {
        Some(v) if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) => {
            Err(VkeyError::BadField {
                field,
                why: "must be 1 to 256 characters without control characters",
            })
        }
        _ => Ok(()),
    }
}

fn read_store(path: &Path) -> Result<StoreFile, VkeyError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| VkeyError::Invalid {
            path: path.to_owned(),
            why: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StoreFile::default()),
        Err(e) => Err(VkeyError::Io {
            path: path.to_owned(),
            source: e,
        }),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: i128,
    ino: u64,
}

#[derive(Debug, Default)]
struct Loaded {
    stamp: Option<Stamp>,
    by_hash: HashMap<String, Arc<VirtualKey>>,
}

/// The server side: looks presented keys up, reloading the file when it changed.
#[derive(Debug)]
pub struct Keyring {
    path: PathBuf,
    loaded: RwLock<Loaded>,
}

impl Keyring {
    /// Opens the keyring of data directory `dir` (a missing file is an empty keyring).
    ///
    /// # Errors
    /// [`VkeyError`] when the file exists but cannot be parsed.
    pub fn open(dir: &Path) -> Result<Keyring, VkeyError> {
        let ring = Keyring {
            path: dir.join(STORE_FILE),
            loaded: RwLock::new(Loaded::default()),
        };
        ring.refresh()?;
        Ok(ring)
    }

    fn stamp(&self) -> Option<Stamp> {
        let meta = std::fs::metadata(&self.path).ok()?;
        Some(Stamp {
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ino: meta.ino(),
        })
    }

    fn refresh(&self) -> Result<(), VkeyError> {
        let stamp = self.stamp();
        let current = self.loaded.read().map(|l| l.stamp).unwrap_or(None);
        if stamp == current && stamp.is_some() {
            return Ok(());
        }
        let store = read_store(&self.path)?;
        let by_hash = store
            .keys
            .into_iter()
            .map(|k| (k.hash.clone(), Arc::new(k)))
            .collect();
        if let Ok(mut loaded) = self.loaded.write() {
            *loaded = Loaded { stamp, by_hash };
        }
        Ok(())
    }

    /// Looks a presented key up. A store that became unreadable keeps the last good contents
    /// (and says so in the log) rather than letting every key through or none.
    pub fn lookup(&self, key: &str) -> Lookup {
        if let Err(e) = self.refresh() {
            tracing::error!(error = %e, "virtual key store unreadable; using the last good copy");
        }
        let hash = hash_key(key);
        let found = self
            .loaded
            .read()
            .ok()
            .and_then(|l| l.by_hash.get(&hash).cloned());
        match found {
            Some(k) if k.revoked.is_some() => Lookup::Revoked(k),
            Some(k) => Lookup::Valid(k),
            None => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn create_lookup_revoke() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        let ring = Keyring::open(dir.path()).unwrap();
        let (entry, key) = store
            .create(NewKey {
                user: "u-1042".into(),
                role: Some("finance".into()),
                department: Some("treasury".into()),
                ..NewKey::default()
            })
            .unwrap();
        assert!(key.starts_with(KEY_PREFIX));
        assert_eq!(key.len(), KEY_PREFIX.len() + 43);
        assert!(
            !std::fs::read_to_string(store.path())
                .unwrap()
                .contains(&key)
        );
        match ring.lookup(&key) {
            Lookup::Valid(k) => assert_eq!(k.user, "u-1042"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(ring.lookup("llmt_vk_nope"), Lookup::Unknown));
        store.revoke(&entry.id).unwrap();
        assert!(matches!(ring.lookup(&key), Lookup::Revoked(_)));
        assert!(matches!(
            store.revoke("vk_000000000000"),
            Err(VkeyError::NotFound(_))
        ));
        let mode = std::fs::metadata(store.path()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn bad_fields_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        assert!(store.create(NewKey::default()).is_err());
        let bad = NewKey {
            user: "a\nb".into(),
            ..NewKey::default()
        };
        assert!(store.create(bad).is_err());
    }

    #[test]
    fn fingerprints_do_not_reveal_the_key() {
        let f = fingerprint("sk-secret-value");
        assert!(f.starts_with("sha256:"));
        assert!(!f.contains("secret"));
        assert_eq!(f.len(), 7 + 16);
    }
}
