//! The local ledger: open and recover a ledger directory, append through the pipeline of
//! `writer` (callers write under one lock, a syncer thread group-commits), read events back,
//! serve proofs and checkpoints.
//!
//! Layout of a ledger directory:
//! - `segments/<first index, 20 digits>.seg`: the records (format in [`crate::format`]);
//! - `checkpoints.log`: every signed checkpoint ([`crate::cplog`]);
//! - `tree/level-NN.bin`: the Merkle tree's stored nodes, derived from the records and repaired
//!   from them on open;
//! - `LOCK`: held (advisory lock) by the one process that writes.
//!
//! Invariants:
//! - An append is acknowledged only after its bytes are in a segment and `fdatasync` returned.
//! - Records are numbered densely from 0; index `i` is leaf `i` of the tree.
//! - A checkpoint is signed only for a durable tree and only for a size at least the previous
//!   one, over the same tree, so two signed checkpoints are always consistent.
//! - On open, a torn tail (a record that was being written when the process died) in the last
//!   segment is reported and dropped; any other damage refuses to open. The last signed
//!   checkpoint must match the recovered tree, so an acknowledged event can never silently vanish.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use llmtrail_core::Event;
use uuid::Uuid;

use crate::checkpoint::NoteVerifier;
use crate::cplog::{CHECKPOINT_LOG, CheckpointLog, read_log};
use crate::crypto::{DataKey, MasterKey};
use crate::error::LedgerError;
use crate::format::{self, Decoded, HEADER_LEN, SegmentHeader};
use crate::keys::Keys;
use crate::merkle::{Hash, TreeStore, leaf_hash};
use crate::record::{self, Prepared};
use crate::writer::Pipeline;

/// Directory of segment files inside a ledger directory.
pub const SEGMENTS_DIR: &str = "segments";
/// Directory of the derived tree inside a ledger directory.
pub const TREE_DIR: &str = "tree";
const LOCK_FILE: &str = "LOCK";
const SEGMENT_EXT: &str = "seg";

/// Settings of a ledger; every field has a default.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// The ledger directory.
    pub dir: PathBuf,
    /// Origin line of checkpoints; defaults to the signing key's name.
    pub origin: Option<String>,
    /// Size of each preallocated segment file.
    pub segment_bytes: u64,
    /// How often a checkpoint is signed while appends happen.
    pub checkpoint_interval: Duration,
}

impl LedgerOptions {
    /// Returns the defaults for a ledger in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            origin: None,
            segment_bytes: 64 * 1024 * 1024,
            checkpoint_interval: Duration::from_secs(1),
        }
    }
}

/// What an acknowledged append returns per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The event id.
    pub id: Uuid,
    /// Its index in the tree.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
}

/// Whether an event's content is there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentState {
    /// The event has no content fields.
    None,
    /// Content is stored and matched its digest.
    Present,
    /// The leaf commits to content that is no longer stored (retention).
    Deleted,
}

/// An event read back from the ledger.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Its index.
    pub index: u64,
    /// Its leaf hash.
    pub leaf_hash: Hash,
    /// The event, with content when present.
    pub event: Event,
    /// Content availability.
    pub content: ContentState,
}

/// A signed checkpoint and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The signed note text.
    pub note: String,
    /// Tree size.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Location {
    pub(crate) index: u64,
    pub(crate) segment: u64,
    pub(crate) offset: u64,
}

/// One segment file, open for positioned reads and writes.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    pub(crate) key: DataKey,
}

/// State shared by the handle, the append pipeline, the syncer and readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) dir: PathBuf,
    pub(crate) origin: String,
    pub(crate) verifier: NoteVerifier,
    pub(crate) master: MasterKey,
    pub(crate) tree: RwLock<TreeStore>,
    pub(crate) size: AtomicU64,
    pub(crate) ids: RwLock<HashMap<Uuid, Location>>,
    pub(crate) segments: RwLock<BTreeMap<u64, Arc<Segment>>>,
    pub(crate) checkpoint: RwLock<Option<SignedCheckpoint>>,
    pub(crate) failure: Mutex<Option<String>>,
}

/// What open() learned about the tail of the last segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records found.
    pub records: u64,
    /// Bytes of a torn tail that were dropped.
    pub torn_bytes: u64,
    /// Bytes of a torn checkpoint-log entry that were dropped.
    pub torn_checkpoint_bytes: u64,
}

/// A local ledger: the embedded journal.
#[derive(Debug)]
pub struct Ledger {
    shared: Arc<Shared>,
    pipeline: Arc<Pipeline>,
    syncer: Mutex<Option<std::thread::JoinHandle<()>>>,
    recovery: Recovery,
    _lock: File,
}

impl Ledger {
    /// Opens (or creates) the ledger in `opts.dir`, recovering from a crash if needed.
    ///
    /// # Errors
    /// [`LedgerError::Locked`] when another process writes it, [`LedgerError::Corrupt`],
    /// [`LedgerError::CheckpointMismatch`] or [`LedgerError::WrongMasterKey`] when the stored
    /// data cannot be trusted, `Io` otherwise.
    pub fn open(opts: LedgerOptions, keys: Keys) -> Result<Self, LedgerError> {
        let dir = opts.dir.clone();
        let seg_dir = dir.join(SEGMENTS_DIR);
        std::fs::create_dir_all(&seg_dir).map_err(LedgerError::io(&seg_dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(LedgerError::io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(LedgerError::Locked(dir)),
            Err(std::fs::TryLockError::Error(e)) => return Err(LedgerError::io(&lock_path)(e)),
        }
        remove_stale_preallocations(&seg_dir)?;
        std::fs::create_dir_all(dir.join(TREE_DIR)).map_err(LedgerError::io(dir.join(TREE_DIR)))?;
        // New directory entries (segments/, tree/, LOCK) must survive a crash too.
        sync_dir_path(&dir)?;

        let verifier = keys.verifier();
        let origin = opts
            .origin
            .clone()
            .unwrap_or_else(|| verifier.name().to_owned());

        // The last signed checkpoint first: recovery must never discard what it covers.
        let cp_path = dir.join(CHECKPOINT_LOG);
        let log = read_log(&cp_path)?;
        let mut latest = None;
        if let Some(note) = log.notes.last() {
            let cp = verifier.verify(note).map_err(|e| {
                LedgerError::CheckpointMismatch(format!(
                    "the last checkpoint does not verify with signing key {}: {e}",
                    verifier.name()
                ))
            })?;
            if cp.origin != origin {
                return Err(LedgerError::CheckpointMismatch(format!(
                    "the last checkpoint has origin {:?} but the ledger is configured with {:?}",
                    cp.origin, origin
                )));
            }
            latest = Some(SignedCheckpoint {
                note: note.clone(),
                size: cp.size,
                root: cp.root,
            });
        }
        let cp_size = latest.as_ref().map_or(0, |c| c.size);

        let tree_dir = dir.join(TREE_DIR);
        let mut tree = TreeStore::open(&tree_dir)?;
        // Leaves the derived tree holds before the last checkpoint are vouched for by its root;
        // everything after it is hashed again, since tree files are never synced.
        let hash_from = tree.size().min(cp_size);
        let mut scan = scan_segments(&seg_dir, &keys.master, hash_from)?;
        let records = scan.next_index;
        if let Some(cp) = &latest
            && cp.size > records
        {
            return Err(LedgerError::CheckpointMismatch(format!(
                "the last checkpoint covers {} records but only {records} are intact: records were lost, removed or damaged{}",
                cp.size,
                scan.torn.as_ref().map_or(String::new(), |t| format!(
                    " (damage at offset {} of {})",
                    t.offset,
                    t.path.display()
                ))
            )));
        }
        reconcile_tree(&mut tree, &scan, records)?;
        if let Some(cp) = &latest
            && tree.root_at(cp.size)? != cp.root
        {
            // The derived tree may be stale or damaged: rebuild it from every record before
            // concluding anything about the records themselves.
            tracing::warn!(
                "derived tree does not match the last checkpoint; rebuilding it from the records"
            );
            tree.truncate(0)?;
            let full = scan_segments(&seg_dir, &keys.master, 0)?;
            tree.append(&full.leaf_hashes)?;
            if tree.root_at(cp.size)? != cp.root {
                return Err(LedgerError::CheckpointMismatch(format!(
                    "the root of the first {} records differs from the signed root",
                    cp.size
                )));
            }
        }
        if let Some(torn) = &scan.torn {
            preserve_and_clear(torn)?;
            tracing::warn!(
                segment = %torn.path.display(),
                offset = torn.offset,
                bytes = torn.bytes.len(),
                "dropped a torn tail left by a crash; its bytes are kept beside the segment"
            );
        }
        let cplog = CheckpointLog::open(&cp_path, log.valid_len)?;
        if log.torn_bytes > 0 {
            tracing::warn!(
                bytes = log.torn_bytes,
                "dropped a torn checkpoint log entry"
            );
        }
        let recovery = Recovery {
            records,
            torn_bytes: scan.torn.as_ref().map_or(0, |t| t.bytes.len() as u64),
            torn_checkpoint_bytes: log.torn_bytes,
        };
        let last_cp_size = latest.as_ref().map(|c: &SignedCheckpoint| c.size);
        let segments: BTreeMap<u64, Arc<Segment>> = scan
            .segments
            .iter()
            .map(|(first, seg)| (*first, Arc::clone(seg)))
            .collect();
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            origin,
            verifier,
            master: keys.master,
            tree: RwLock::new(tree),
            size: AtomicU64::new(records),
            ids: RwLock::new(std::mem::take(&mut scan.ids)),
            segments: RwLock::new(segments),
            checkpoint: RwLock::new(latest),
            failure: Mutex::new(None),
        });
        let current = scan
            .segments
            .last()
            .map(|(first, seg)| (*first, Arc::clone(seg), scan.end));
        let (pipeline, handle) = Pipeline::start(
            Arc::clone(&shared),
            keys.signer,
            cplog,
            last_cp_size,
            records,
            current,
            &opts,
        )?;
        Ok(Self {
            shared,
            pipeline,
            syncer: Mutex::new(Some(handle)),
            recovery,
            _lock: lock,
        })
    }

    /// Returns what recovery found when the ledger was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Appends events and returns once they are durable.
    ///
    /// # Errors
    /// [`LedgerError::Duplicate`] (nothing of the batch is written), [`LedgerError::Failed`]
    /// after a storage failure, [`LedgerError::Closed`] after shutdown.
    pub async fn append(&self, events: &[Event]) -> Result<Vec<Receipt>, LedgerError> {
        let prepared = prepare_all(events)?;
        let rx = self.pipeline.submit(&self.shared, prepared)?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// Appends events like [`Ledger::append`], except that the content of each event whose
    /// flag in `withhold` is set is not stored: its leaf still commits to the content through
    /// the salted digest, and the record reads back as content removed (docs/ledger.md §4.4),
    /// exactly as if retention had removed it. Used by sampling.
    ///
    /// # Errors
    /// As [`Ledger::append`].
    pub async fn append_withholding(
        &self,
        events: &[Event],
        withhold: &[bool],
    ) -> Result<Vec<Receipt>, LedgerError> {
        let mut prepared = prepare_all(events)?;
        for (p, w) in prepared.iter_mut().zip(withhold) {
            if *w {
                // Dropping `salt || content` here drops the salt with it: the digest can be
                // neither checked nor brute-forced afterwards.
                p.content = None;
            }
        }
        let rx = self.pipeline.submit(&self.shared, prepared)?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// Blocking form of [`Ledger::append`] for threads outside an async runtime.
    ///
    /// # Errors
    /// As [`Ledger::append`].
    pub fn append_blocking(&self, events: &[Event]) -> Result<Vec<Receipt>, LedgerError> {
        let prepared = prepare_all(events)?;
        let rx = self.pipeline.submit(&self.shared, prepared)?;
        rx.blocking_recv().map_err(|_| LedgerError::Closed)?
    }

    /// Signs a checkpoint for the current durable size now (if it grew) and returns the latest.
    ///
    /// # Errors
    /// When signing or persisting the checkpoint fails.
    pub async fn checkpoint_now(&self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let rx = self.pipeline.request_checkpoint()?;
        rx.await.map_err(|_| LedgerError::Closed)?
    }

    /// Blocking form of [`Ledger::checkpoint_now`].
    ///
    /// # Errors
    /// As [`Ledger::checkpoint_now`].
    pub fn checkpoint_now_blocking(&self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let rx = self.pipeline.request_checkpoint()?;
        rx.blocking_recv().map_err(|_| LedgerError::Closed)?
    }

    /// Returns the number of durable records.
    pub fn size(&self) -> u64 {
        self.shared.size.load(Ordering::Acquire)
    }

    /// Returns the checkpoint origin line.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// Returns the verifier of this ledger's checkpoints.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.shared.verifier
    }

    /// Returns the latest signed checkpoint, if any was signed yet.
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.shared.checkpoint.read().ok().and_then(|c| c.clone())
    }

    /// Returns the storage failure that stopped writes, if one happened.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Reads one event by id.
    ///
    /// # Errors
    /// `Io` on read failure, `Corrupt`/`Decode` when the stored record is damaged.
    pub fn get(&self, id: &Uuid) -> Result<Option<StoredEvent>, LedgerError> {
        let loc = match self.shared.ids.read() {
            Ok(ids) => ids.get(id).copied(),
            Err(_) => None,
        };
        let Some(loc) = loc else { return Ok(None) };
        let seg = self
            .shared
            .segments
            .read()
            .ok()
            .and_then(|s| s.get(&loc.segment).cloned())
            .ok_or_else(|| LedgerError::Failed("segment index lost".into()))?;
        read_event(&seg, loc).map(Some)
    }

    /// Calls `f` with the index and the metadata of every acknowledged event, in order, without
    /// decrypting any content (the content fields of the events passed are empty). Used to
    /// rebuild derived state at startup.
    ///
    /// # Errors
    /// [`LedgerError`] when a segment cannot be read or a record is damaged.
    pub fn scan_metadata(&self, f: &mut dyn FnMut(u64, Event)) -> Result<(), LedgerError> {
        let size = self.size();
        let segments: Vec<Arc<Segment>> = match self.shared.segments.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(_) => return Err(LedgerError::Failed("segment map poisoned".into())),
        };
        for seg in segments {
            let bytes = std::fs::read(&seg.path).map_err(LedgerError::io(&seg.path))?;
            let mut at = HEADER_LEN;
            while let Ok(Decoded::Record(rec, used)) = format::decode_record(&bytes[at..]) {
                if rec.index >= size {
                    return Ok(());
                }
                let event =
                    record::rebuild(rec.leaf, None).map_err(|source| LedgerError::Decode {
                        index: rec.index,
                        source,
                    })?;
                f(rec.index, event);
                at += used;
            }
        }
        Ok(())
    }

    /// Returns the root hash of the tree at `size`.
    ///
    /// # Errors
    /// [`LedgerError::OutOfRange`] beyond the durable size.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size("size", size)?;
        Ok(self.tree()?.root_at(size)?)
    }

    /// Returns the leaf hash at `index`.
    ///
    /// # Errors
    /// [`LedgerError::OutOfRange`] beyond the durable size.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, LedgerError> {
        if index >= self.size() {
            return Err(LedgerError::OutOfRange {
                what: "index",
                value: index,
                size: self.size(),
            });
        }
        Ok(self.tree()?.leaf(index)?)
    }

    /// Returns the RFC 9162 inclusion proof of leaf `index` in the tree of `size`.
    ///
    /// # Errors
    /// [`LedgerError::OutOfRange`] when `index >= size` or `size` exceeds the durable size.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size("size", size)?;
        if index >= size {
            return Err(LedgerError::OutOfRange {
                what: "index",
                value: index,
                size,
            });
        }
        Ok(self.tree()?.inclusion_proof(index, size)?)
    }

    /// Returns the RFC 9162 consistency proof between tree sizes `old` and `new`.
    ///
    /// # Errors
    /// [`LedgerError::OutOfRange`] when `old > new` or `new` exceeds the durable size.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size("new", new)?;
        if old > new {
            return Err(LedgerError::OutOfRange {
                what: "old",
                value: old,
                size: new,
            });
        }
        Ok(self.tree()?.consistency_proof(old, new)?)
    }

    /// Refuses new appends, waits until everything written is durable, signs a final
    /// checkpoint and stops the syncer.
    ///
    /// # Errors
    /// Never fails today; kept fallible for implementations that flush remote state.
    pub fn close(&self) -> Result<(), LedgerError> {
        self.pipeline.close();
        let handle = self.syncer.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
        Ok(())
    }

    /// Async form of [`Ledger::close`], safe to call inside a runtime.
    ///
    /// # Errors
    /// As [`Ledger::close`].
    pub async fn shutdown(&self) -> Result<(), LedgerError> {
        self.pipeline.close();
        let handle = self.syncer.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
        Ok(())
    }

    fn check_size(&self, what: &'static str, size: u64) -> Result<(), LedgerError> {
        let durable = self.size();
        if size > durable {
            return Err(LedgerError::OutOfRange {
                what,
                value: size,
                size: durable,
            });
        }
        Ok(())
    }

    fn tree(&self) -> Result<std::sync::RwLockReadGuard<'_, TreeStore>, LedgerError> {
        self.shared
            .tree
            .read()
            .map_err(|_| LedgerError::Failed("tree lock poisoned".into()))
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        self.pipeline.close();
        if let Some(handle) = self.syncer.get_mut().ok().and_then(|h| h.take()) {
            let _ = handle.join();
        }
    }
}

fn prepare_all(events: &[Event]) -> Result<Vec<Prepared>, LedgerError> {
    record::prepare_batch(events).map_err(LedgerError::from)
}

/// Reads and decodes the record at `loc` of `seg`.
pub(crate) fn read_event(seg: &Segment, loc: Location) -> Result<StoredEvent, LedgerError> {
    let mut prefix = [0u8; format::RECORD_PREFIX_LEN];
    seg.file
        .read_exact_at(&mut prefix, loc.offset)
        .map_err(LedgerError::io(&seg.path))?;
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > format::MAX_RECORD_LEN {
        return Err(corrupt(&seg.path, loc.offset, "impossible record length"));
    }
    let mut buf = vec![0u8; format::RECORD_PREFIX_LEN + len];
    buf[..format::RECORD_PREFIX_LEN].copy_from_slice(&prefix);
    seg.file
        .read_exact_at(
            &mut buf[format::RECORD_PREFIX_LEN..],
            loc.offset + format::RECORD_PREFIX_LEN as u64,
        )
        .map_err(LedgerError::io(&seg.path))?;
    let Decoded::Record(rec, _) =
        format::decode_record(&buf).map_err(|e| corrupt(&seg.path, loc.offset, &e.to_string()))?
    else {
        return Err(corrupt(
            &seg.path,
            loc.offset,
            "no record at indexed offset",
        ));
    };
    if rec.index != loc.index {
        return Err(corrupt(
            &seg.path,
            loc.offset,
            "record index differs from the id index",
        ));
    }
    let hash = leaf_hash(rec.leaf);
    let decode = |source| LedgerError::Decode {
        index: rec.index,
        source,
    };
    let (plain, state) = if rec.sealed.is_empty() {
        let state = match record::leaf_content_digest(rec.leaf).map_err(decode)? {
            Some(_) => ContentState::Deleted,
            None => ContentState::None,
        };
        (None, state)
    } else {
        let aad = format::content_aad(rec.index, &hash);
        (Some(seg.key.open(&aad, rec.sealed)?), ContentState::Present)
    };
    let event = record::rebuild(rec.leaf, plain.as_deref()).map_err(decode)?;
    // The id in the record header is outside the leaf hash: it only locates records, so it
    // must agree with the id the leaf commits to.
    if event.id.as_bytes() != &rec.id {
        return Err(corrupt(
            &seg.path,
            loc.offset,
            "record header id differs from the leaf's id",
        ));
    }
    Ok(StoredEvent {
        index: rec.index,
        leaf_hash: hash,
        event,
        content: state,
    })
}

fn sync_dir_path(dir: &Path) -> Result<(), LedgerError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LedgerError::io(dir))
}

fn corrupt(path: &Path, offset: u64, why: &str) -> LedgerError {
    LedgerError::Corrupt {
        path: path.to_path_buf(),
        offset,
        why: why.to_owned(),
    }
}

/// Lists segment files in index order.
pub(crate) fn list_segments(seg_dir: &Path) -> Result<Vec<(u64, PathBuf)>, LedgerError> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(seg_dir).map_err(LedgerError::io(seg_dir))?;
    for entry in entries {
        let entry = entry.map_err(LedgerError::io(seg_dir))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        let first = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| corrupt(&path, 0, "segment file name is not a record index"))?;
        out.push((first, path));
    }
    out.sort();
    Ok(out)
}

/// Returns the file name of the segment that starts at `first_index`.
pub(crate) fn segment_file_name(first_index: u64) -> String {
    format!("{first_index:020}.{SEGMENT_EXT}")
}

pub(crate) const PREALLOC_PREFIX: &str = "prealloc-";

fn remove_stale_preallocations(seg_dir: &Path) -> Result<(), LedgerError> {
    let entries = std::fs::read_dir(seg_dir).map_err(LedgerError::io(seg_dir))?;
    for entry in entries.flatten() {
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(PREALLOC_PREFIX)
        {
            std::fs::remove_file(entry.path()).map_err(LedgerError::io(entry.path()))?;
        }
    }
    Ok(())
}

struct Scan {
    segments: Vec<(u64, Arc<Segment>)>,
    next_index: u64,
    /// Write position in the last segment.
    end: u64,
    ids: HashMap<Uuid, Location>,
    leaf_hashes: Vec<Hash>,
    hashed_from: u64,
    torn: Option<Torn>,
}

/// A torn tail found in the last segment: not yet cleared.
struct Torn {
    path: PathBuf,
    offset: u64,
    bytes: Vec<u8>,
}

/// Makes the derived tree agree with the scanned records: drops leaves that differ from the
/// rehashed ones or that have no record, then appends what is missing.
fn reconcile_tree(tree: &mut TreeStore, scan: &Scan, records: u64) -> Result<(), LedgerError> {
    let checked_end = tree.size().min(records);
    for index in scan.hashed_from..checked_end {
        let fresh = scan.leaf_hashes[(index - scan.hashed_from) as usize];
        if tree.leaf(index)? != fresh {
            tracing::warn!(
                index,
                "derived tree differs from the records; rebuilding from here"
            );
            tree.truncate(index)?;
            break;
        }
    }
    if tree.size() > records {
        tree.truncate(records)?;
    }
    let from = tree.size();
    tree.append(&scan.leaf_hashes[(from - scan.hashed_from) as usize..])?;
    Ok(())
}

/// Copies a torn tail to `<segment>.torn-<offset>` (evidence is never destroyed), then zeroes it
/// in the segment so that the next append starts on clean ground.
fn preserve_and_clear(torn: &Torn) -> Result<(), LedgerError> {
    // Never overwrite an earlier crash's leftovers: number a repeated name.
    let side = (0u32..)
        .map(|n| {
            let mut side = torn.path.clone().into_os_string();
            side.push(format!(".torn-{}", torn.offset));
            if n > 0 {
                side.push(format!(".{n}"));
            }
            PathBuf::from(side)
        })
        .find(|p| !p.exists())
        .unwrap_or_else(|| torn.path.with_extension("torn"));
    std::fs::write(&side, &torn.bytes).map_err(LedgerError::io(&side))?;
    std::fs::File::open(&side)
        .and_then(|f| f.sync_all())
        .map_err(LedgerError::io(&side))?;
    if let Some(dir) = side.parent() {
        sync_dir_path(dir)?;
    }
    let file = OpenOptions::new()
        .write(true)
        .open(&torn.path)
        .map_err(LedgerError::io(&torn.path))?;
    file.write_all_at(&vec![0u8; torn.bytes.len()], torn.offset)
        .and_then(|()| file.sync_data())
        .map_err(LedgerError::io(&torn.path))
}

fn scan_segments(seg_dir: &Path, master: &MasterKey, hash_from: u64) -> Result<Scan, LedgerError> {
    let files = list_segments(seg_dir)?;
    let mut scan = Scan {
        segments: Vec::new(),
        next_index: 0,
        end: HEADER_LEN as u64,
        ids: HashMap::new(),
        leaf_hashes: Vec::new(),
        hashed_from: hash_from,
        torn: None,
    };
    let count = files.len();
    for (n, (first, path)) in files.into_iter().enumerate() {
        let last = n + 1 == count;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(LedgerError::io(&path))?;
        let bytes = std::fs::read(&path).map_err(LedgerError::io(&path))?;
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            // A segment whose header never reached the disk was created right before a crash
            // and holds nothing: drop it.
            Err(_) if last && bytes.iter().take(HEADER_LEN).all(|b| *b == 0) => {
                std::fs::remove_file(&path).map_err(LedgerError::io(&path))?;
                break;
            }
            Err(e) => return Err(corrupt(&path, 0, &e.to_string())),
        };
        if header.first_index != first || first != scan.next_index {
            return Err(corrupt(
                &path,
                0,
                &format!(
                    "segment starts at index {} but {} was expected",
                    header.first_index, scan.next_index
                ),
            ));
        }
        if header.master_key_id != master.id() {
            return Err(LedgerError::WrongMasterKey {
                path,
                found: hex::encode(header.master_key_id),
                expected: hex::encode(master.id()),
            });
        }
        let key = master.unwrap_key(&header.wrapped_key, header.first_index)?;
        let mut at = HEADER_LEN;
        loop {
            match format::decode_record(&bytes[at..]) {
                Ok(Decoded::End) => break,
                Ok(Decoded::Record(rec, used)) => {
                    if rec.index != scan.next_index {
                        return Err(corrupt(
                            &path,
                            at as u64,
                            &format!(
                                "record has index {} where {} was expected",
                                rec.index, scan.next_index
                            ),
                        ));
                    }
                    let id = Uuid::from_bytes(rec.id);
                    scan.ids.insert(
                        id,
                        Location {
                            index: rec.index,
                            segment: first,
                            offset: at as u64,
                        },
                    );
                    if rec.index >= hash_from {
                        scan.leaf_hashes.push(leaf_hash(rec.leaf));
                    }
                    scan.next_index += 1;
                    at += used;
                }
                Err(_) if last => {
                    // The tail of the last segment is where a crash leaves a half-written
                    // write; none of it was acknowledged. The caller checks it against the
                    // last checkpoint before clearing it.
                    let dirty_end = bytes.iter().rposition(|b| *b != 0).map_or(at, |p| p + 1);
                    if dirty_end > at {
                        scan.torn = Some(Torn {
                            path: path.clone(),
                            offset: at as u64,
                            bytes: bytes[at..dirty_end].to_vec(),
                        });
                    }
                    break;
                }
                Err(e) => return Err(corrupt(&path, at as u64, &e.to_string())),
            }
        }
        if last {
            scan.end = at as u64;
        }
        scan.segments
            .push((first, Arc::new(Segment { path, file, key })));
    }
    Ok(scan)
}
