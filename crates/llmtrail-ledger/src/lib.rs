//! The tamper-evident ledger of llmtrail.
//!
//! Every event becomes a leaf of an RFC 9162 Merkle tree stored in append-only segment files;
//! content (prompts, outputs, tool arguments and results) is sealed apart from the leaf, which
//! commits to it by a salted digest; signed checkpoints in the C2SP tlog-checkpoint format
//! publish the tree head; inclusion and consistency proofs let anyone check the record offline.
//! The on-disk format is described byte by byte in [`format`] and in `docs/ledger.md`.
//!
//! Entry points: [`Ledger::open`] for the embedded journal, [`verify::verify`] for offline
//! verification, [`keys::Keys`] for key files.

pub mod checkpoint;
pub mod cplog;
pub mod crypto;
mod error;
pub mod format;
pub mod journal;
pub mod keys;
mod ledger;
pub mod merkle;
pub mod record;
pub mod verify;
mod writer;

pub use error::LedgerError;
pub use journal::Journal;
pub use ledger::{
    ContentState, Ledger, LedgerOptions, Receipt, Recovery, SEGMENTS_DIR, SignedCheckpoint,
    StoredEvent, TREE_DIR,
};
