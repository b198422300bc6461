//! The ledger's error type.

use std::path::PathBuf;

use uuid::Uuid;

use crate::cplog::CheckpointLogError;
use crate::crypto::CryptoError;
use crate::merkle::MerkleError;
use crate::record::DecodeError;

/// Everything that can go wrong opening, writing or reading a ledger.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An I/O error, with the file or directory it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another process holds the ledger directory.
    #[error("ledger directory {0} is in use by another llmtrail process")]
    Locked(PathBuf),
    /// The stored data is damaged in a way that recovery must not paper over.
    #[error(
        "ledger is damaged at {path} offset {offset}: {why} (run `llmtrail verify` for a full report)"
    )]
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        why: String,
    },
    /// The stored records disagree with the last signed checkpoint.
    #[error("ledger does not match its last signed checkpoint: {0} (run `llmtrail verify`)")]
    CheckpointMismatch(String),
    /// A segment was sealed under a different master key than the one configured.
    #[error(
        "segment {path} was written with master key {found}, but the configured master key is {expected}"
    )]
    WrongMasterKey {
        /// The segment file.
        path: PathBuf,
        /// Key id found in the segment.
        found: String,
        /// Key id of the configured key.
        expected: String,
    },
    /// An event with this id is already in the ledger (or twice in the batch).
    #[error("event id {0} is already in the ledger")]
    Duplicate(Uuid),
    /// A batch does not fit in one segment.
    #[error("batch of {bytes} bytes does not fit in a segment of {capacity} bytes")]
    BatchTooLarge {
        /// Encoded size of the batch.
        bytes: u64,
        /// Usable bytes of one segment.
        capacity: u64,
    },
    /// A write or sync failed earlier; the ledger refuses writes until it is reopened.
    #[error("ledger stopped accepting writes after a storage failure: {0}")]
    Failed(String),
    /// The ledger is shut down.
    #[error("ledger is closed")]
    Closed,
    /// A proof or read asked for something beyond the tree.
    #[error("{what} {value} is out of range for tree size {size}")]
    OutOfRange {
        /// Which argument.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The current durable size.
        size: u64,
    },
    /// Randomness or sealing failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The derived tree failed.
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// The checkpoint log failed.
    #[error(transparent)]
    CheckpointLog(#[from] CheckpointLogError),
    /// A stored record could not be turned back into an event.
    #[error("record {index}: {source}")]
    Decode {
        /// The record's index.
        index: u64,
        /// Why.
        source: DecodeError,
    },
}

impl LedgerError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> LedgerError {
        let path = path.into();
        move |source| LedgerError::Io { path, source }
    }
}
