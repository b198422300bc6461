//! The ledger's two keys on disk: the checkpoint signing key and the content master key.
//!
//! A key directory holds `signing.key` (the Ed25519 signing key as a signed-note private key
//! string, mode 0600), `signing.pub` (its verifier key string, public) and `master.key` (base64
//! of the 32-byte master key, mode 0600). The master key may instead come from the environment
//! variable [`MASTER_KEY_ENV`], so that it never sits beside the data. Key files are created
//! with `create_new`, never overwritten: losing the signing key would fork the log's identity,
//! losing the master key loses all content.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::checkpoint::{NoteSigner, NoteVerifier};
use crate::crypto::MasterKey;

/// File name of the signing key.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// File name of the public verifier key.
pub const PUBLIC_KEY_FILE: &str = "signing.pub";
/// File name of the master key.
pub const MASTER_KEY_FILE: &str = "master.key";
/// Environment variable that, when set, supplies the master key (base64) instead of the file.
pub const MASTER_KEY_ENV: &str = "LLMTRAIL_MASTER_KEY";

/// Errors loading or creating keys.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An I/O error on a key file.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A key file exists but does not hold a valid key.
    #[error("key file {path} is invalid: {why}")]
    Invalid {
        /// The file (or the environment variable's name).
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// Refusing to overwrite an existing key.
    #[error("key file {0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
}

/// The keys a ledger needs.
#[derive(Debug)]
pub struct Keys {
    /// Signs checkpoints.
    pub signer: NoteSigner,
    /// Wraps the data keys that seal content.
    pub master: MasterKey,
}

impl Keys {
    /// Generates a fresh pair of keys; `name` becomes the signing key's name.
    ///
    /// # Errors
    /// [`KeyError::Invalid`] if the name is not a valid key name or randomness fails.
    pub fn generate(name: &str) -> Result<Self, KeyError> {
        let invalid = |why: String| KeyError::Invalid {
            path: PathBuf::from(name),
            why,
        };
        let signer = NoteSigner::generate(name).map_err(|e| invalid(e.to_string()))?;
        let master = MasterKey::generate().map_err(|e| invalid(e.to_string()))?;
        Ok(Self { signer, master })
    }

    /// Returns the public verifier of the signing key.
    pub fn verifier(&self) -> NoteVerifier {
        self.signer.verifier()
    }

    /// Writes the keys into `dir` (created if missing) with mode 0600 for secrets.
    ///
    /// With `write_master` false the master key is not written (it lives elsewhere).
    ///
    /// # Errors
    /// [`KeyError::Exists`] if a key file is already there; `Io` on write failure.
    pub fn write(&self, dir: &Path, write_master: bool) -> Result<(), KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
            path: dir.into(),
            source,
        })?;
        write_new(
            &dir.join(SIGNING_KEY_FILE),
            &format!("{}\n", self.signer.to_skey()),
            0o600,
        )?;
        write_new(
            &dir.join(PUBLIC_KEY_FILE),
            &format!("{}\n", self.verifier().to_vkey()),
            0o644,
        )?;
        if write_master {
            write_new(
                &dir.join(MASTER_KEY_FILE),
                &format!("{}\n", self.master.to_base64()),
                0o600,
            )?;
        }
        Ok(())
    }

    /// Loads the keys from `dir`; `master_env` (the value of [`MASTER_KEY_ENV`]) wins over the file.
    ///
    /// # Errors
    /// `Io` when a file is missing or unreadable, `Invalid` when it holds no valid key.
    pub fn load(dir: &Path, master_env: Option<&str>) -> Result<Self, KeyError> {
        let path = dir.join(SIGNING_KEY_FILE);
        let text = read_secret(&path)?;
        let signer = NoteSigner::from_skey(text.trim()).map_err(|e| KeyError::Invalid {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let master = match master_env {
            Some(value) => MasterKey::from_base64(value).map_err(|e| KeyError::Invalid {
                path: PathBuf::from(format!("${MASTER_KEY_ENV}")),
                why: e.to_string(),
            })?,
            None => {
                let path = dir.join(MASTER_KEY_FILE);
                let text = read_secret(&path)?;
                MasterKey::from_base64(&text).map_err(|e| KeyError::Invalid {
                    path,
                    why: e.to_string(),
                })?
            }
        };
        Ok(Self { signer, master })
    }

    /// Tells whether `dir` already holds a signing key.
    pub fn exist_in(dir: &Path) -> bool {
        dir.join(SIGNING_KEY_FILE).exists()
    }
}

/// Loads the public verifier key from a key directory's `signing.pub`, or from a file holding
/// one.
///
/// # Errors
/// `Io` when the file cannot be read, `Invalid` when it holds no verifier key.
pub fn load_verifier(source: &Path) -> Result<NoteVerifier, KeyError> {
    let path = if source.is_dir() {
        source.join(PUBLIC_KEY_FILE)
    } else {
        source.to_path_buf()
    };
    let text = std::fs::read_to_string(&path).map_err(|e| KeyError::Io {
        path: path.clone(),
        source: e,
    })?;
    NoteVerifier::from_vkey(text.trim()).map_err(|e| KeyError::Invalid {
        path,
        why: e.to_string(),
    })
}

fn read_secret(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Io {
        path: path.into(),
        source,
    })
}

fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), KeyError> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.into())
            } else {
                KeyError::Io {
                    path: path.into(),
                    source,
                }
            }
        })?;
    let io = |source| KeyError::Io {
        path: path.into(),
        source,
    };
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn write_load_modes_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::generate("llmtrail.test/log").unwrap();
        keys.write(dir.path(), true).unwrap();
        let mode = |f: &str| {
            std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode(SIGNING_KEY_FILE), 0o600);
        assert_eq!(mode(MASTER_KEY_FILE), 0o600);
        let back = Keys::load(dir.path(), None).unwrap();
        assert_eq!(back.master.id(), keys.master.id());
        assert_eq!(back.verifier().to_vkey(), keys.verifier().to_vkey());
        assert_eq!(
            load_verifier(dir.path()).unwrap().to_vkey(),
            keys.verifier().to_vkey()
        );
        assert!(matches!(
            keys.write(dir.path(), true),
            Err(KeyError::Exists(_))
        ));
    }

    #[test]
    fn master_key_from_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keys::generate("k").unwrap();
        keys.write(dir.path(), false).unwrap();
        assert!(
            Keys::load(dir.path(), None).is_err(),
            "no master key file and no env"
        );
        let other = MasterKey::generate().unwrap();
        let loaded = Keys::load(dir.path(), Some(&other.to_base64())).unwrap();
        assert_eq!(loaded.master.id(), other.id());
        assert!(Keys::load(dir.path(), Some("garbage")).is_err());
    }
}
