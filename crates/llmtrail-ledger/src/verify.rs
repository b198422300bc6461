//! Offline verification of a ledger directory.
//!
//! Reads the files only (never writes, never takes the lock, so it also runs beside a live
//! `serve`) and checks, in order: every checkpoint's signature with the trusted verifier key,
//! that checkpoint sizes never go backwards, every record's framing and index sequence, every
//! leaf hash and the tree root at each checkpoint size, and — with the master key — that every
//! stored content opens and matches the digest its leaf commits to. It stops at the first
//! problem and names the first bad index and why.
//!
//! The derived tree's stored leaf hashes are used only as a hint to pinpoint which record in a
//! range changed when a root does not match; they are never trusted for the verdict.
//!
//! How it runs, for speed (verification reads the whole ledger, hashing and decrypting every
//! byte): segment by segment, the per-record work (framing and checksum, leaf hash, content
//! decryption and digest) runs on all cores, a batch of records at a time, while the calling
//! thread walks the outcomes in index order for everything that needs order (numbering, the
//! tree, checkpoints). The walk alone decides, so the verdict and the first bad index are those
//! of a record-by-record pass, whichever thread found a problem first. A leaf's
//! `content_digest` is found by a strict scan of its canonical JSON, with serde_json's full
//! parse deciding whenever the scan cannot vouch for the answer.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::checkpoint::NoteVerifier;
use crate::cplog::{CHECKPOINT_LOG, CheckpointLogError, read_log};
use crate::crypto::{DataKey, MasterKey};
use crate::format::{self, Decoded, FormatError, HEADER_LEN, SegmentHeader};
use crate::ledger::{SEGMENTS_DIR, TREE_DIR, list_segments};
use crate::merkle::{Frontier, Hash, empty_root, leaf_hash};
use crate::record::{DecodeError, SALT_LEN, content_digest, leaf_content_digest};
use leaf_scan::{LeafScan, scan_leaf_digest};

/// What to verify and with which keys.
#[derive(Debug)]
pub struct VerifyOptions<'a> {
    /// The ledger directory.
    pub dir: PathBuf,
    /// The trusted checkpoint verifier key.
    pub verifier: &'a NoteVerifier,
    /// The master key; without it content is not checked.
    pub master: Option<&'a MasterKey>,
    /// Accept records after the last checkpoint (a live or crashed ledger) instead of failing.
    pub allow_unsigned_tail: bool,
}

/// What a successful verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Segment files read.
    pub segments: u64,
    /// Signed checkpoints checked.
    pub checkpoints: u64,
    /// Bytes of segment data read (records and headers, without the zero fill).
    pub bytes: u64,
    /// Contents opened and matched against their digests.
    pub content_checked: u64,
    /// Contents the leaves commit to that are no longer stored (retention).
    pub content_deleted: u64,
    /// Contents not checked for lack of the master key.
    pub content_unchecked: u64,
    /// Size of the latest checkpoint.
    pub checkpoint_size: u64,
    /// Records after the latest checkpoint (allowed only with `allow_unsigned_tail`).
    pub unsigned_tail: u64,
    /// Bytes of a torn (never acknowledged) tail in the last segment.
    pub torn_tail_bytes: u64,
    /// Bytes of a torn last entry of the checkpoint log.
    pub torn_checkpoint_bytes: u64,
    /// Hex root hash of all records.
    pub root: String,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A record-level problem, with the first bad index.
    #[error("index {index}: {why}")]
    AtIndex {
        /// The first bad index.
        index: u64,
        /// What is wrong.
        why: String,
    },
    /// A checkpoint-level problem.
    #[error("checkpoint #{entry}: {why}")]
    Checkpoint {
        /// Zero-based entry in the checkpoint log.
        entry: usize,
        /// What is wrong.
        why: String,
    },
    /// A file could not be read.
    #[error("{path}: {why}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl VerifyError {
    /// Returns the first bad index when the failure is tied to one.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            VerifyError::AtIndex { index, .. } => Some(*index),
            _ => None,
        }
    }
}

struct SignedSize {
    entry: usize,
    size: u64,
    root: Hash,
}

/// Verifies the ledger in `opts.dir`.
///
/// # Errors
/// [`VerifyError`] naming the first problem found.
pub fn verify(opts: &VerifyOptions<'_>) -> Result<VerifyReport, VerifyError> {
    let (checkpoints, torn_checkpoint_bytes) = read_checkpoints(&opts.dir, opts.verifier)?;
    let mut walk = Walk::new(
        &checkpoints,
        LeafHints::open(&opts.dir.join(TREE_DIR).join("level-00.bin")),
    )?;
    let seg_dir = opts.dir.join(SEGMENTS_DIR);
    let segments = list_segments(&seg_dir).map_err(|e| VerifyError::File {
        path: seg_dir.clone(),
        why: e.to_string(),
    })?;
    let count = segments.len();
    let workers = worker_count();
    // One buffer for all segments: refilling it is a plain copy, with no fresh pages to fault in.
    let mut bytes = Vec::new();
    for (n, (first, path)) in segments.into_iter().enumerate() {
        read_segment(&path, &mut bytes, workers).map_err(|e| VerifyError::File {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let header = match SegmentHeader::decode(&bytes) {
            Ok(h) => h,
            // A last segment whose header never reached the disk was created right before a
            // crash and holds nothing; open removes it.
            Err(_) if n + 1 == count && bytes.iter().take(HEADER_LEN).all(|b| *b == 0) => break,
            Err(e) => {
                return Err(VerifyError::File {
                    path: path.clone(),
                    why: e.to_string(),
                });
            }
        };
        let index = walk.index;
        if header.first_index != first || first != index {
            return Err(VerifyError::AtIndex {
                index,
                why: format!(
                    "segment {} starts at index {} where index {index} was expected: records were removed or inserted",
                    path.display(),
                    header.first_index
                ),
            });
        }
        let key = data_key(opts.master, &header, &path)?;
        walk.report.segments += 1;
        let segment = Segment {
            path: &path,
            bytes: &bytes,
            last: n + 1 == count,
        };
        check_segment(&bytes, index, key.as_ref(), workers, |at, step| {
            walk.step(&segment, at, step)
        })?;
    }
    let mut report = walk.finish(opts.allow_unsigned_tail)?;
    report.torn_checkpoint_bytes = torn_checkpoint_bytes;
    Ok(report)
}

/// Reads a whole segment file into `buf`.
fn read_segment(path: &Path, buf: &mut Vec<u8>, workers: usize) -> std::io::Result<()> {
    let mut file = File::open(path)?;
    if let Ok(len) = usize::try_from(file.metadata()?.len())
        && workers > 1
        && len > READ_PART
        && read_in_parts(&file, len, buf, workers)
    {
        return Ok(());
    }
    // One thread, to the actual end of the file (also when it was cut while being read).
    buf.clear();
    file.read_to_end(buf)?;
    Ok(())
}

/// Fills `buf` with the first `len` bytes of `file`, `workers` parts at once: copying a segment
/// out of the page cache is a sizable share of the work, too much for one core while the others
/// wait. Returns false when a part could not be read whole.
fn read_in_parts(file: &File, len: usize, buf: &mut Vec<u8>, workers: usize) -> bool {
    // Segments all have the same size, so this rarely writes anything.
    buf.resize(len, 0);
    let part = len.div_ceil(workers).max(READ_PART);
    std::thread::scope(|s| {
        // Positioned reads, which leave the file's own offset at the start.
        let mut parts = buf.chunks_mut(part).zip((0u64..).step_by(part));
        let head = parts.next();
        let others: Vec<_> = parts
            .map(|(chunk, at)| s.spawn(move || file.read_exact_at(chunk, at).is_ok()))
            .collect();
        let head_ok = head.is_none_or(|(chunk, at)| file.read_exact_at(chunk, at).is_ok());
        others
            .into_iter()
            .fold(head_ok, |ok, other| other.join().unwrap_or(false) && ok)
    })
}

/// The segment a [`Walk`] is in.
struct Segment<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    /// Whether it is the last segment, the only one that may end in a torn record.
    last: bool,
}

/// The in-order half of verification: record numbering, the tree and the checkpoints. It takes
/// the outcome of every record position in order, so it stops at the same record, with the same
/// error, as a record-by-record pass would.
struct Walk<'a> {
    checkpoints: &'a [SignedSize],
    /// The first checkpoint not yet matched.
    next_cp: usize,
    /// First index after the last matched checkpoint.
    range_start: u64,
    hints: LeafHints,
    /// First index whose leaf hash differs from the derived tree's.
    first_hint: Option<u64>,
    frontier: Frontier,
    /// Index the next record must have.
    index: u64,
    report: VerifyReport,
}

impl<'a> Walk<'a> {
    fn new(checkpoints: &'a [SignedSize], hints: LeafHints) -> Result<Self, VerifyError> {
        let mut next_cp = 0usize;
        // Size-0 checkpoints sign the empty tree.
        while let Some(cp) = checkpoints.get(next_cp).filter(|c| c.size == 0) {
            if cp.root != empty_root() {
                return Err(VerifyError::Checkpoint {
                    entry: cp.entry,
                    why: "signs a wrong empty root".into(),
                });
            }
            next_cp += 1;
        }
        Ok(Self {
            checkpoints,
            next_cp,
            range_start: 0,
            hints,
            first_hint: None,
            frontier: Frontier::new(),
            index: 0,
            report: VerifyReport {
                checkpoints: checkpoints.len() as u64,
                ..VerifyReport::default()
            },
        })
    }

    /// Takes what was found at offset `at` of `seg`; breaks where the segment's data ends.
    fn step(
        &mut self,
        seg: &Segment<'_>,
        at: usize,
        step: &Step,
    ) -> Result<ControlFlow<()>, VerifyError> {
        let index = self.index;
        match step {
            Step::Record {
                index: stored,
                hash,
                content,
            } => {
                self.record(*stored, *hash, content)?;
                return Ok(ControlFlow::Continue(()));
            }
            Step::End => {}
            Step::Damaged(e) if seg.last => {
                let dirty_end = seg
                    .bytes
                    .iter()
                    .rposition(|b| *b != 0)
                    .map_or(at, |p| p + 1);
                self.report.torn_tail_bytes = (dirty_end - at) as u64;
                if let Some(cp) = self.checkpoints.iter().find(|c| c.size > index) {
                    return Err(VerifyError::AtIndex {
                        index,
                        why: format!(
                            "record at offset {at} of {} is damaged ({e}), yet checkpoint #{} covers {} records",
                            seg.path.display(),
                            cp.entry,
                            cp.size
                        ),
                    });
                }
            }
            Step::Damaged(e) => {
                return Err(VerifyError::AtIndex {
                    index,
                    why: format!(
                        "record at offset {at} of {} is damaged: {e}",
                        seg.path.display()
                    ),
                });
            }
        }
        self.report.bytes += at as u64;
        Ok(ControlFlow::Break(()))
    }

    fn record(
        &mut self,
        stored: u64,
        hash: Hash,
        content: &Result<Content, String>,
    ) -> Result<(), VerifyError> {
        let index = self.index;
        if stored != index {
            return Err(VerifyError::AtIndex {
                index,
                why: format!(
                    "found the record numbered {stored} in its place: a record was removed, reordered or inserted"
                ),
            });
        }
        if self.first_hint.is_none() && self.hints.next().is_some_and(|h| h != hash) {
            self.first_hint = Some(index);
        }
        let content = content.as_ref().map_err(|why| VerifyError::AtIndex {
            index,
            why: why.clone(),
        })?;
        match content {
            Content::Checked => self.report.content_checked += 1,
            Content::Deleted => self.report.content_deleted += 1,
            Content::Unchecked => self.report.content_unchecked += 1,
            Content::None => {}
        }
        self.frontier.push(hash);
        self.index += 1;
        self.match_checkpoints()
    }

    /// Compares the root with every checkpoint signed at the current size.
    fn match_checkpoints(&mut self) -> Result<(), VerifyError> {
        let index = self.index;
        while let Some(cp) = self
            .checkpoints
            .get(self.next_cp)
            .filter(|c| c.size == index)
        {
            if self.frontier.root() != cp.root {
                let range_start = self.range_start;
                let bad = self
                    .first_hint
                    .filter(|h| *h >= range_start && *h < index)
                    .unwrap_or(range_start);
                let pinpoint = if self.first_hint == Some(bad) {
                    "changed"
                } else {
                    "somewhere in this range changed"
                };
                return Err(VerifyError::AtIndex {
                    index: bad,
                    why: format!(
                        "the tree over records [{range_start}, {index}) does not match signed checkpoint #{}: a record {pinpoint}",
                        cp.entry
                    ),
                });
            }
            self.range_start = index;
            self.next_cp += 1;
        }
        Ok(())
    }

    /// Checks what must hold once all records are read.
    fn finish(mut self, allow_unsigned_tail: bool) -> Result<VerifyReport, VerifyError> {
        let index = self.index;
        if let Some(cp) = self.checkpoints.get(self.next_cp) {
            return Err(VerifyError::AtIndex {
                index,
                why: format!(
                    "checkpoint #{} covers {} records but the ledger holds only {index}: records were removed or a segment truncated",
                    cp.entry, cp.size
                ),
            });
        }
        let report = &mut self.report;
        report.records = index;
        report.checkpoint_size = self.checkpoints.last().map_or(0, |c| c.size);
        report.unsigned_tail = index - report.checkpoint_size;
        if report.unsigned_tail > 0 && !allow_unsigned_tail {
            return Err(VerifyError::AtIndex {
                index: report.checkpoint_size,
                why: format!(
                    "{} records from here on are covered by no signed checkpoint: appended outside the ledger, or the ledger is live or was not shut down cleanly (use --allow-unsigned-tail to accept)",
                    report.unsigned_tail
                ),
            });
        }
        report.root = hex::encode(self.frontier.root());
        Ok(self.report)
    }
}

/// Reads and checks every checkpoint; also returns the bytes of a torn last entry (a crash
/// during its append, dropped by open and reported here, as open does).
fn read_checkpoints(
    dir: &Path,
    verifier: &NoteVerifier,
) -> Result<(Vec<SignedSize>, u64), VerifyError> {
    let path = dir.join(CHECKPOINT_LOG);
    let log = read_log(&path).map_err(|e| match e {
        CheckpointLogError::Damaged { entry, why, .. } => VerifyError::Checkpoint {
            entry,
            why: format!("entry is damaged: {why}"),
        },
        other => VerifyError::File {
            path: path.clone(),
            why: other.to_string(),
        },
    })?;
    let mut out: Vec<SignedSize> = Vec::with_capacity(log.notes.len());
    let mut origin: Option<String> = None;
    for (entry, note) in log.notes.iter().enumerate() {
        let cp = verifier.verify(note).map_err(|e| VerifyError::Checkpoint {
            entry,
            why: format!(
                "signature does not verify with key {}: {e}",
                verifier.name()
            ),
        })?;
        if let Some(o) = &origin {
            if *o != cp.origin {
                return Err(VerifyError::Checkpoint {
                    entry,
                    why: "origin differs from earlier checkpoints".into(),
                });
            }
        } else {
            origin = Some(cp.origin.clone());
        }
        if let Some(prev) = out.last()
            && (cp.size < prev.size || (cp.size == prev.size && cp.root != prev.root))
        {
            return Err(VerifyError::Checkpoint {
                entry,
                why: format!(
                    "tree size {} after {}: the log was rolled back or forked",
                    cp.size, prev.size
                ),
            });
        }
        out.push(SignedSize {
            entry,
            size: cp.size,
            root: cp.root,
        });
    }
    Ok((out, log.torn_bytes))
}

fn data_key(
    master: Option<&MasterKey>,
    header: &SegmentHeader,
    path: &Path,
) -> Result<Option<DataKey>, VerifyError> {
    let Some(master) = master else {
        return Ok(None);
    };
    if header.master_key_id != master.id() {
        return Err(VerifyError::File {
            path: path.to_path_buf(),
            why: format!(
                "segment was written with master key {}, not with the given key {}",
                hex::encode(header.master_key_id),
                hex::encode(master.id())
            ),
        });
    }
    master
        .unwrap_key(&header.wrapped_key, header.first_index)
        .map(Some)
        .map_err(|e| VerifyError::File {
            path: path.to_path_buf(),
            why: format!("data key: {e}"),
        })
}

/// Records checked as one unit of work: small enough to balance the cores, large enough that
/// handing out the next batch costs nothing next to checking it.
const BATCH: usize = 256;

/// Least part of a segment file worth reading on a thread of its own.
const READ_PART: usize = 4 << 20;

/// Upper bound of worker threads; past a few cores the in-order walk is the bottleneck.
const MAX_WORKERS: usize = 8;

/// What was found at one record position of a segment.
enum Step {
    /// The zero fill: no record was ever written here.
    End,
    /// The bytes here are not an intact record.
    Damaged(FormatError),
    /// An intact record: the index it carries, its leaf hash and the verdict on its content.
    Record {
        index: u64,
        hash: Hash,
        content: Result<Content, String>,
    },
}

/// What became of a record's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// Opened and matched against its leaf's digest.
    Checked,
    /// The leaf commits to content that is no longer stored.
    Deleted,
    /// Stored but not checked for lack of the master key.
    Unchecked,
    /// The event has no content.
    None,
}

fn worker_count() -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(MAX_WORKERS)
}

/// Returns where each record of a segment starts, so that records can be checked out of order.
///
/// It follows the length prefixes only; whatever [`format::decode_record`] accepts advances by
/// the same length, so the offsets agree with a sequential decode up to its first failure. The
/// last offset is always where such a decode stops (zero fill, truncation or an impossible
/// length); offsets after a record that fails its checksum are decoded in vain but harmlessly.
fn record_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(bytes.len() / 1024);
    let mut at = HEADER_LEN;
    loop {
        starts.push(at);
        let Some(prefix) = bytes.get(at..at + 4) else {
            break;
        };
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        match (at + format::RECORD_PREFIX_LEN).checked_add(len) {
            Some(next) if len > 0 && next <= bytes.len() => at = next,
            _ => break,
        }
    }
    starts
}

/// Decodes and checks every record of a segment whose first record has index `first`, and
/// hands what was found at each offset to `walk`, in order, until it breaks or fails.
///
/// Decoding, hashing and content checks run on `workers` threads, a [`BATCH`] at a time; the
/// calling thread walks the batches in order and, while the next one is still being checked
/// elsewhere, checks later ones itself rather than wait. The record at `starts[k]` is checked as
/// index `first + k`, the index its content must be bound to.
fn check_segment<E>(
    bytes: &[u8],
    first: u64,
    key: Option<&DataKey>,
    workers: usize,
    mut walk: impl FnMut(usize, &Step) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    let starts = record_starts(bytes);
    let batches: Vec<&[usize]> = starts.chunks(BATCH).collect();
    let check = |n: usize| -> Vec<Step> {
        let base = first + (n * BATCH) as u64;
        batches[n]
            .iter()
            .zip(base..)
            .map(|(&at, index)| check_record(&bytes[at..], index, key))
            .collect()
    };
    // The steps of each batch, set once by whichever thread checked it.
    let done: Vec<BatchSlot> = batches.iter().map(|_| OnceLock::new()).collect();
    let next = AtomicUsize::new(0);
    // Checks the first batch nobody has taken yet; false when none is left.
    let take_one = || {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let Some(slot) = done.get(n) else {
            return false;
        };
        let _abandon = Abandon(slot);
        let _ = slot.set(Some(check(n)));
        true
    };
    let helpers = workers.min(batches.len()).saturating_sub(1);
    std::thread::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|| while take_one() {});
        }
        let walked = walk_batches(&batches, &done, &take_one, &check, &mut walk);
        // Once the walk stops, the helpers need not check what is left.
        next.store(batches.len(), Ordering::Relaxed);
        walked
    })
}

/// Hands the steps of `batches` to `walk` in order, checking batches nobody has taken yet
/// (with `take_one`) while the next one is being checked elsewhere.
fn walk_batches<E>(
    batches: &[&[usize]],
    done: &[BatchSlot],
    take_one: &impl Fn() -> bool,
    check: &impl Fn(usize) -> Vec<Step>,
    walk: &mut impl FnMut(usize, &Step) -> Result<ControlFlow<()>, E>,
) -> Result<(), E> {
    for (n, (slot, offsets)) in done.iter().zip(batches).enumerate() {
        // Batches are taken in order, so batch `n` is done, being checked elsewhere, or the next
        // one `take_one` checks.
        while slot.get().is_none() && take_one() {}
        let rechecked;
        let steps = match slot.wait() {
            Some(steps) => steps,
            // The thread checking it panicked: check it here, which fails the same way.
            None => {
                rechecked = check(n);
                &rechecked
            }
        };
        for (&at, step) in offsets.iter().zip(steps) {
            if walk(at, step)?.is_break() {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Where the steps of one batch are left for the walk; `None` if the thread checking the batch
/// panicked.
type BatchSlot = OnceLock<Option<Vec<Step>>>;

/// Marks a batch abandoned if the thread checking it unwinds, so that the walk never waits for
/// it forever.
struct Abandon<'a>(&'a BatchSlot);

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        // Does nothing when the batch was checked.
        let _ = self.0.set(None);
    }
}

/// Decodes the record at the start of `buf`, hashes its leaf and checks its content as the
/// record numbered `index`.
fn check_record(buf: &[u8], index: u64, key: Option<&DataKey>) -> Step {
    match format::decode_record(buf) {
        Ok(Decoded::End) => Step::End,
        Err(e) => Step::Damaged(e),
        Ok(Decoded::Record(rec, _)) => {
            let hash = leaf_hash(rec.leaf);
            let content = if leaf_commits_to_id(rec.leaf, &rec.id) {
                check_record_content(index, &hash, rec.leaf, rec.sealed, key)
            } else {
                Err(
                    "the event id in the record header differs from the id its leaf commits to"
                        .to_owned(),
                )
            };
            Step::Record {
                index: rec.index,
                hash,
                content,
            }
        }
    }
}

/// Tells whether the leaf holds `"id":"<the header's id>"`. The header id is outside the leaf
/// hash and only locates records, so it must be the id the leaf commits to. (A nested `"id"`
/// member with the same UUID as its value could pass this test; only the top-level one is
/// written with the event's own id.)
fn leaf_commits_to_id(leaf: &[u8], id: &[u8; 16]) -> bool {
    let mut needle = [0u8; 44];
    needle[..6].copy_from_slice(br#""id":""#);
    uuid::Uuid::from_bytes(*id)
        .hyphenated()
        .encode_lower(&mut needle[6..42]);
    needle[42] = b'"';
    needle[43] = b',';
    // `id` is never the last top-level key (`kind` follows it), so a comma closes it.
    memchr::memmem::find(leaf, &needle).is_some()
}

/// Checks the content of the record numbered `index` with leaf hash `hash`; an error is the
/// reason to report at `index`.
fn check_record_content(
    index: u64,
    hash: &Hash,
    leaf: &[u8],
    sealed: &[u8],
    key: Option<&DataKey>,
) -> Result<Content, String> {
    if sealed.is_empty() {
        return match leaf_digest(leaf).map_err(|e| e.to_string())? {
            Some(_) => Ok(Content::Deleted),
            None => Ok(Content::None),
        };
    }
    let Some(key) = key else {
        return Ok(Content::Unchecked);
    };
    let plain = key
        .open(&format::content_aad(index, hash), sealed)
        .map_err(|_| {
            "content fails authentication: it was changed or moved from another record".to_owned()
        })?;
    let expected = leaf_digest(leaf)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| "content is stored but the leaf commits to none".to_owned())?;
    digest_matches(&expected, &plain)
        .map_err(|e| format!("content does not match its leaf: {e}"))?;
    Ok(Content::Checked)
}

/// Reads the hex content digest a leaf commits to, if any, with the verdict of
/// [`leaf_content_digest`]: from a quick scan when that can vouch for the answer, else by the
/// full parse.
fn leaf_digest(leaf: &[u8]) -> Result<Option<Cow<'_, [u8]>>, DecodeError> {
    match scan_leaf_digest(leaf) {
        LeafScan::Found(hex) => Ok(Some(Cow::Borrowed(hex))),
        LeafScan::Absent => Ok(None),
        LeafScan::Unsure => Ok(leaf_content_digest(leaf)?.map(|s| Cow::Owned(s.into_bytes()))),
    }
}

/// [`crate::record::check_content`] without building a hex string per record: the digest is
/// hex-encoded (lowercase, as the writer does) on the stack and compared byte for byte.
fn digest_matches(expected_hex: &[u8], salted_content: &[u8]) -> Result<(), DecodeError> {
    if salted_content.len() < SALT_LEN {
        return Err(DecodeError::Content);
    }
    let mut hex = [0u8; 64];
    let encoded = hex::encode_to_slice(content_digest(salted_content), &mut hex).is_ok();
    if !encoded || hex[..] != *expected_hex {
        return Err(DecodeError::DigestMismatch);
    }
    Ok(())
}

/// The fast path to a leaf's top-level `content_digest`: a strict JSON scan that answers only
/// when serde_json would give the same answer.
mod leaf_scan {
    use crate::record::CONTENT_DIGEST_KEY;

    /// Outcome of [`scan_leaf_digest`].
    #[derive(Debug, PartialEq, Eq)]
    pub(super) enum LeafScan<'a> {
        /// The top-level `content_digest` is this plain string (the bytes between the quotes).
        Found(&'a [u8]),
        /// The leaf is valid JSON whose top-level object has no `content_digest`.
        Absent,
        /// Anything else: the full parse must decide.
        Unsure,
    }

    /// Finds the top-level `content_digest` of a leaf without building a JSON value.
    ///
    /// Leaves are canonical JSON (RFC 8785: no whitespace, sorted keys), but the verdict must
    /// be the one [`leaf_content_digest`](crate::record::leaf_content_digest) gives on any
    /// bytes, so this validates the whole document against a strict subset of JSON that
    /// serde_json accepts, and answers only for documents in that subset: one top-level object
    /// without whitespace whose keys are ASCII without escapes (an escaped key could decode to
    /// `content_digest`), holding `content_digest` at most once, as a plain string. Nested
    /// objects are skipped whole, so their own `content_digest` keys do not count. Everything
    /// else (whitespace, `null` digests, duplicate keys, deep nesting, bad escapes, control
    /// characters, trailing bytes) is [`LeafScan::Unsure`].
    pub(super) fn scan_leaf_digest(leaf: &[u8]) -> LeafScan<'_> {
        let mut scan = JsonScan { bytes: leaf, at: 0 };
        let mut found = None;
        let whole = scan.object(0, |key, value| {
            if !key.plain {
                return None;
            }
            if key.text == CONTENT_DIGEST_KEY.as_bytes() {
                let value = JsonScan {
                    bytes: value,
                    at: 0,
                }
                .string()
                .filter(|s| s.plain)?;
                if found.replace(value.text).is_some() {
                    // serde rejects a duplicate field.
                    return None;
                }
            }
            Some(())
        });
        match (whole, found) {
            (Some(()), _) if scan.at != leaf.len() => LeafScan::Unsure,
            (Some(()), Some(hex)) => LeafScan::Found(hex),
            (Some(()), None) => LeafScan::Absent,
            (None, _) => LeafScan::Unsure,
        }
    }

    /// Returns how many bytes at the start of `bytes` a string holds as they are: ASCII from the
    /// space up, other than `"` and `\`. Strings are most of a leaf, so this goes a word at a time.
    pub(super) fn plain_run(bytes: &[u8]) -> usize {
        const ONES: u64 = u64::from_le_bytes([0x01; 8]);
        const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
        // Flags the bytes of `w` below `n` (for n <= 0x80), the usual SWAR test: the lowest flag is
        // exact (a borrow can only flag bytes above a true one). `w ^ c` has a zero byte where `w`
        // has a byte `c`.
        let below = |w: u64, n: u8| w.wrapping_sub(ONES * u64::from(n)) & !w & HIGH;
        let (words, rest) = bytes.as_chunks::<8>();
        for (k, word) in words.iter().enumerate() {
            // Little-endian, so the lowest flag is the first byte in memory.
            let w = u64::from_le_bytes(*word);
            let flags = below(w, 0x20)
                | below(w ^ (ONES * 0x22), 1)
                | below(w ^ (ONES * 0x5c), 1)
                | (w & HIGH);
            if flags != 0 {
                return 8 * k + (flags.trailing_zeros() / 8) as usize;
            }
        }
        8 * words.len()
            + rest
                .iter()
                .take_while(|b| matches!(b, 0x20..=0x7f) && !matches!(b, b'"' | b'\\'))
                .count()
    }

    /// Nesting beyond which [`JsonScan`] gives up (bounding its recursion); leaves nest far less.
    const MAX_SCAN_DEPTH: usize = 32;

    /// A JSON string as scanned: its raw bytes between the quotes, and whether they read as they
    /// are (ASCII without escapes).
    struct JsonStr<'a> {
        text: &'a [u8],
        plain: bool,
    }

    /// A strict, allocation-free JSON reader for [`scan_leaf_digest`]. Every method returns `None`
    /// for anything outside the accepted subset, meaning "unsure", never "invalid".
    struct JsonScan<'a> {
        bytes: &'a [u8],
        at: usize,
    }

    impl<'a> JsonScan<'a> {
        fn peek(&self) -> Option<u8> {
            self.bytes.get(self.at).copied()
        }

        fn next(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.at += 1;
            Some(b)
        }

        fn eat(&mut self, b: u8) -> Option<()> {
            (self.peek()? == b).then(|| self.at += 1)
        }

        fn value(&mut self, depth: usize) -> Option<()> {
            match self.peek()? {
                b'"' => self.string().map(drop),
                b'{' => self.object(depth + 1, |_, _| Some(())),
                b'[' => self.array(depth + 1),
                b't' => self.literal(b"true"),
                b'f' => self.literal(b"false"),
                b'n' => self.literal(b"null"),
                b'-' | b'0'..=b'9' => self.number(),
                _ => None,
            }
        }

        /// Reads an object, handing each member's key and raw value bytes to `member`.
        fn object(
            &mut self,
            depth: usize,
            mut member: impl FnMut(JsonStr<'a>, &'a [u8]) -> Option<()>,
        ) -> Option<()> {
            if depth > MAX_SCAN_DEPTH {
                return None;
            }
            self.eat(b'{')?;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                let start = self.at;
                self.value(depth)?;
                member(key, &self.bytes[start..self.at])?;
                if self.eat(b',').is_none() {
                    return self.eat(b'}');
                }
            }
        }

        fn array(&mut self, depth: usize) -> Option<()> {
            if depth > MAX_SCAN_DEPTH {
                return None;
            }
            self.eat(b'[')?;
            if self.eat(b']').is_some() {
                return Some(());
            }
            loop {
                self.value(depth)?;
                if self.eat(b',').is_none() {
                    return self.eat(b']');
                }
            }
        }

        fn string(&mut self) -> Option<JsonStr<'a>> {
            self.eat(b'"')?;
            let start = self.at;
            let mut plain = true;
            loop {
                self.at += plain_run(&self.bytes[self.at..]);
                match self.next()? {
                    b'"' => {
                        return Some(JsonStr {
                            text: &self.bytes[start..self.at - 1],
                            plain,
                        });
                    }
                    b'\\' => {
                        plain = false;
                        self.escape()?;
                    }
                    // JSON forbids raw control characters in strings.
                    0..=0x1f => return None,
                    _ => plain = false,
                }
            }
        }

        /// The escapes serde_json skips in strings it does not keep (`\u` is not checked for
        /// surrogates there, and kept strings here are plain).
        fn escape(&mut self) -> Option<()> {
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
                b'u' => {
                    let digits = self.bytes.get(self.at..self.at + 4)?;
                    self.at += 4;
                    digits.iter().all(u8::is_ascii_hexdigit).then_some(())
                }
                _ => None,
            }
        }

        fn literal(&mut self, word: &[u8]) -> Option<()> {
            self.bytes
                .get(self.at..)?
                .starts_with(word)
                .then(|| self.at += word.len())
        }

        /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
        fn number(&mut self) -> Option<()> {
            let _ = self.eat(b'-');
            match self.next()? {
                b'0' => {}
                b'1'..=b'9' => self.digits(),
                _ => return None,
            }
            if self.eat(b'.').is_some() {
                self.digits1()?;
            }
            if matches!(self.peek(), Some(b'e' | b'E')) {
                self.at += 1;
                if matches!(self.peek(), Some(b'+' | b'-')) {
                    self.at += 1;
                }
                self.digits1()?;
            }
            Some(())
        }

        fn digits(&mut self) {
            while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                self.at += 1;
            }
        }

        fn digits1(&mut self) -> Option<()> {
            let start = self.at;
            self.digits();
            (self.at > start).then_some(())
        }
    }
}

/// Sequential reader of the derived tree's leaf hashes, used only to pinpoint a change.
struct LeafHints {
    reader: Option<BufReader<File>>,
}

impl LeafHints {
    fn open(path: &Path) -> Self {
        Self {
            reader: File::open(path)
                .ok()
                .map(|f| BufReader::with_capacity(1 << 20, f)),
        }
    }

    fn next(&mut self) -> Option<Hash> {
        let reader = self.reader.as_mut()?;
        let mut h = [0u8; 32];
        match reader.read_exact(&mut h) {
            Ok(()) => Some(h),
            Err(_) => {
                self.reader = None;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::leaf_scan::plain_run;
    use super::*;

    /// The verdict of the full parse, in the fast path's terms.
    fn by_serde(leaf: &[u8]) -> Result<Option<Vec<u8>>, String> {
        leaf_content_digest(leaf)
            .map(|d| d.map(String::into_bytes))
            .map_err(|e| e.to_string())
    }

    /// Asserts that the scan answers `expected` and, when it answers, agrees with serde.
    fn assert_scan(leaf: &str, expected: &LeafScan<'_>) {
        let got = scan_leaf_digest(leaf.as_bytes());
        assert_eq!(&got, expected, "{leaf}");
        agrees_with_serde(leaf.as_bytes());
    }

    fn agrees_with_serde(leaf: &[u8]) {
        let fast = match scan_leaf_digest(leaf) {
            LeafScan::Found(hex) => Some(hex.to_vec()),
            LeafScan::Absent => None,
            LeafScan::Unsure => return,
        };
        assert_eq!(
            by_serde(leaf),
            Ok(fast),
            "{}",
            String::from_utf8_lossy(leaf)
        );
        // And the wrapper gives the same answer either way.
        assert_eq!(
            leaf_digest(leaf).map(|d| d.map(Cow::into_owned)).ok(),
            by_serde(leaf).ok()
        );
    }

    #[test]
    fn finds_the_digest_of_a_real_leaf() {
        let event = llmtrail_core::Event::from_json_slice(
            br#"{"kind":"llm.request","actor":{"user":"u-\"1\""},"tags":{"content_digest":"nested"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.input.messages":[{"role":"user","content":"hi"}]}}"#,
        )
        .unwrap();
        let prepared = crate::record::prepare(&event).unwrap();
        let expected = by_serde(&prepared.leaf).unwrap().unwrap();
        assert_eq!(scan_leaf_digest(&prepared.leaf), LeafScan::Found(&expected));
        let plain = prepared.content.unwrap();
        assert!(digest_matches(&expected, &plain).is_ok());
    }

    #[test]
    fn only_the_top_level_key_counts() {
        // Nested objects holding their own `content_digest`, before and after the real one.
        assert_scan(
            r#"{"body":{"content_digest":"inner","x":[{"content_digest":"deeper"}]},"content_digest":"abc","tags":{"content_digest":"later"}}"#,
            &LeafScan::Found(b"abc"),
        );
        assert_scan(
            r#"{"body":{"content_digest":"inner"},"kind":"audit"}"#,
            &LeafScan::Absent,
        );
        assert_scan(r#"{}"#, &LeafScan::Absent);
        // The key's name inside a string value is not a key.
        assert_scan(
            r#"{"a":"\"content_digest\":\"fake\"","kind":"x"}"#,
            &LeafScan::Absent,
        );
    }

    #[test]
    fn escaped_quotes_and_other_escapes_are_skipped() {
        assert_scan(
            r#"{"a":"say \"hi\\\" \/ \b\f\n\r\t \u00e9 \uD800","b":[1,-2.5e+3,0,true,false,null,"]}"],"content_digest":"abc"}"#,
            &LeafScan::Found(b"abc"),
        );
        assert_scan(
            r#"{"a":"x\\","content_digest":"abc"}"#,
            &LeafScan::Found(b"abc"),
        );
        assert_scan(
            "{\"a\":\"caf\u{e9}\",\"content_digest\":\"abc\"}",
            &LeafScan::Found(b"abc"),
        );
    }

    #[test]
    fn anything_doubtful_goes_to_the_full_parse() {
        for leaf in [
            // An escaped key decodes to `content_digest`.
            r#"{"content\u005fdigest":"abc"}"#,
            "{\"k\u{e9}\":1}",
            // A digest that is not a plain string.
            r#"{"content_digest":null}"#,
            r#"{"content_digest":"a\"b"}"#,
            r#"{"content_digest":1}"#,
            // Duplicates, which serde rejects.
            r#"{"content_digest":"a","content_digest":"b"}"#,
            // Whitespace, trailing bytes, not an object.
            r#"{ "content_digest":"abc"}"#,
            r#"{"content_digest":"abc"} "#,
            r#"{"content_digest":"abc"}x"#,
            r#"["abc"]"#,
            "",
            // Not JSON at all.
            r#"{"a":01}"#,
            r#"{"a":1.}"#,
            r#"{"a":-}"#,
            r#"{"a":tru}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\u12"}"#,
            "{\"a\":\"\u{1}\"}",
            r#"{"a":[1,]}"#,
            r#"{"a":1,}"#,
            r#"{"a" 1}"#,
            r#"{"a":"open}"#,
            r#"{"a":{"b":1}"#,
        ] {
            assert_scan(leaf, &LeafScan::Unsure);
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
        assert_scan(&deep, &LeafScan::Unsure);
        let shallow = format!("{{\"a\":{}1{}}}", "[".repeat(20), "]".repeat(20));
        assert_scan(&shallow, &LeafScan::Absent);
    }

    #[test]
    fn the_scan_never_contradicts_serde_on_damaged_leaves() {
        let leaf = br#"{"actor":{"user":"u-\"7\"","content_digest":"x"},"body":{"n":[1,2.5,-3e2,true,null]},"content_digest":"0123456789abcdef","id":"x","kind":"llm.request"}"#;
        agrees_with_serde(leaf);
        let bytes: &[u8] = b"\"\\{}[],:0123456789-+.eEtrufalsn u\x01\xc3\xa9";
        for i in 0..leaf.len() {
            let mut cut = leaf.to_vec();
            cut.truncate(i);
            agrees_with_serde(&cut);
            let mut dropped = leaf.to_vec();
            dropped.remove(i);
            agrees_with_serde(&dropped);
            for b in bytes {
                let mut changed = leaf.to_vec();
                changed[i] = *b;
                agrees_with_serde(&changed);
                let mut inserted = leaf.to_vec();
                inserted.insert(i, *b);
                agrees_with_serde(&inserted);
            }
        }
    }

    #[test]
    fn plain_runs_stop_at_the_first_byte_needing_attention() {
        let naive = |b: &[u8]| {
            b.iter()
                .position(|c| *c < 0x20 || *c >= 0x80 || *c == b'"' || *c == b'\\')
                .unwrap_or(b.len())
        };
        for special in [b'"', b'\\', 0x00, 0x1f, 0x80, 0xff] {
            for len in 0..40 {
                for at in 0..=len {
                    let mut bytes: Vec<u8> = (0..len).map(|i| b' ' + (i * 7 % 95) as u8).collect();
                    if at < len {
                        bytes[at] = special;
                    }
                    assert_eq!(plain_run(&bytes), naive(&bytes), "{bytes:?}");
                }
            }
        }
        assert_eq!(plain_run(b"~\x7f !#[]\"x"), 7);
    }

    #[test]
    fn digest_comparison_is_exact() {
        let salted = [7u8; SALT_LEN + 10];
        let hex = hex::encode(content_digest(&salted));
        assert!(digest_matches(hex.as_bytes(), &salted).is_ok());
        assert!(crate::record::check_content(&hex, &salted).is_ok());
        // The writer emits lowercase hex; anything else is a mismatch, as in `check_content`.
        let upper = hex.to_uppercase();
        assert!(matches!(
            digest_matches(upper.as_bytes(), &salted),
            Err(DecodeError::DigestMismatch)
        ));
        assert!(crate::record::check_content(&upper, &salted).is_err());
        assert!(matches!(
            digest_matches(&hex.as_bytes()[1..], &salted),
            Err(DecodeError::DigestMismatch)
        ));
        assert!(matches!(
            digest_matches(hex.as_bytes(), &salted[..SALT_LEN - 1]),
            Err(DecodeError::Content)
        ));
    }

    #[test]
    fn record_starts_follow_the_length_prefixes() {
        let mut bytes = vec![0u8; HEADER_LEN];
        let mut expected = Vec::new();
        for (i, content) in [&b"abc"[..], b"", b"0123456789"].iter().enumerate() {
            expected.push(bytes.len());
            format::encode_record::<()>(&mut bytes, i as u64, &[1; 16], b"{}", |o| {
                o.extend_from_slice(content);
                Ok(())
            })
            .unwrap();
        }
        expected.push(bytes.len());
        let data_end = bytes.len();
        bytes.extend([0u8; 100]);
        assert_eq!(record_starts(&bytes), expected);
        // Cut right at the end of the data, or inside the last record.
        assert_eq!(record_starts(&bytes[..data_end]), expected);
        let mut torn = expected.clone();
        torn.pop();
        assert_eq!(record_starts(&bytes[..data_end - 1]), torn);
    }

    #[test]
    fn the_walk_sees_every_record_in_order_whatever_the_workers() {
        const N: usize = 5 * BATCH + 7;
        let mut bytes = vec![0u8; HEADER_LEN];
        let mut starts = Vec::new();
        for i in 0..N {
            starts.push(bytes.len());
            let content = if i % 3 == 0 { &b""[..] } else { b"sealed" };
            // The leaf must name the header's id (all bytes 0x01).
            let leaf = br#"{"id":"01010101-0101-0101-0101-010101010101","kind":"audit"}"#;
            format::encode_record::<()>(&mut bytes, 100 + i as u64, &[1; 16], leaf, |o| {
                o.extend_from_slice(content);
                Ok(())
            })
            .unwrap();
        }
        starts.push(bytes.len());
        bytes.extend([0u8; 64]);
        // A damaged record late in the segment.
        let damaged = 4 * BATCH + 1;
        bytes[starts[damaged] + 20] ^= 1;
        for workers in [1, 2, 3, 8] {
            let mut seen = Vec::new();
            let walked = check_segment(&bytes, 100, None, workers, |at, step| {
                seen.push(at);
                match step {
                    Step::Record { index, content, .. } => {
                        let k = seen.len() - 1;
                        assert_eq!(*index, 100 + k as u64);
                        let expected = if k % 3 == 0 {
                            Content::None
                        } else {
                            Content::Unchecked
                        };
                        assert!(matches!(content, Ok(c) if *c == expected));
                        Ok(ControlFlow::Continue(()))
                    }
                    Step::Damaged(_) => Err(seen.len() - 1),
                    Step::End => Ok(ControlFlow::Break(())),
                }
            });
            assert_eq!(walked, Err(damaged), "{workers} workers");
            assert_eq!(seen, starts[..=damaged], "{workers} workers");
            // Without the damage, the walk goes on to the zero fill and stops there.
            let mut intact = bytes.clone();
            intact[starts[damaged] + 20] ^= 1;
            let mut seen = Vec::new();
            let walked: Result<(), ()> = check_segment(&intact, 100, None, workers, |at, step| {
                seen.push(at);
                Ok(match step {
                    Step::End => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                })
            });
            assert_eq!(
                (walked, seen),
                (Ok(()), starts.clone()),
                "{workers} workers"
            );
        }
    }

    #[test]
    fn segments_read_in_parts_are_read_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        // Larger than one part, then smaller than the buffer left by the first, then tiny.
        for (n, len) in [2 * READ_PART + 12_345, READ_PART + 1, 100]
            .into_iter()
            .enumerate()
        {
            let path = tmp.path().join(format!("{n}.seg"));
            let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 4093 + n) as u8).collect();
            std::fs::write(&path, &data).unwrap();
            for workers in [1, 2, 3] {
                read_segment(&path, &mut buf, workers).unwrap();
                assert!(buf == data, "{len} bytes on {workers} workers");
            }
        }
        assert!(read_segment(&tmp.path().join("missing.seg"), &mut buf, 2).is_err());
    }

    /// A closed ledger of `n` events in one segment, signed at the end, with its keys.
    fn ledger(n: usize) -> (tempfile::TempDir, crate::keys::Keys) {
        use crate::keys::Keys;
        let tmp = tempfile::tempdir().unwrap();
        let keys_dir = tmp.path().join("keys");
        Keys::generate("llmtrail.test/verify")
            .unwrap()
            .write(&keys_dir, true)
            .unwrap();
        let mut opts = crate::LedgerOptions::new(tmp.path().join("ledger"));
        opts.checkpoint_interval = std::time::Duration::from_secs(3600);
        let ledger = crate::Ledger::open(opts, Keys::load(&keys_dir, None).unwrap()).unwrap();
        let events: Vec<llmtrail_core::Event> = (0..n)
            .map(|i| {
                llmtrail_core::Event::from_json_slice(format!(
                    r#"{{"kind":"llm.request","actor":{{"user":"u-{i}"}},"body":{{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.input.messages":[{{"role":"user","content":"prompt {i}"}}]}}}}"#
                ).as_bytes())
                .unwrap()
            })
            .collect();
        ledger.append_blocking(&events).unwrap();
        ledger.checkpoint_now_blocking().unwrap();
        ledger.close().unwrap();
        (tmp, Keys::load(&keys_dir, None).unwrap())
    }

    /// Edits the segment of a [`ledger`]; `edit` gets the bytes and the record offsets.
    fn edit_segment(tmp: &tempfile::TempDir, edit: impl FnOnce(&mut Vec<u8>, &[usize])) {
        let path = tmp
            .path()
            .join("ledger")
            .join(SEGMENTS_DIR)
            .join(format!("{:020}.seg", 0));
        let mut bytes = std::fs::read(&path).unwrap();
        let starts = record_starts(&bytes);
        edit(&mut bytes, &starts);
        std::fs::write(&path, &bytes).unwrap();
    }

    /// Flips a byte at `offset` into the record at `at` and, unless `keep_crc`, fixes its CRC
    /// as an attacker who knows the format would.
    fn flip(bytes: &mut [u8], at: usize, offset: usize, keep_crc: bool) {
        bytes[at + offset] ^= 0x01;
        if !keep_crc {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let crc = crc32c::crc32c(&bytes[at + 8..at + 8 + len]);
            bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        }
    }

    fn run(
        tmp: &tempfile::TempDir,
        keys: &crate::keys::Keys,
        master: bool,
    ) -> Result<VerifyReport, VerifyError> {
        verify(&VerifyOptions {
            dir: tmp.path().join("ledger"),
            verifier: &keys.verifier(),
            master: master.then_some(&keys.master),
            allow_unsigned_tail: false,
        })
    }

    #[test]
    fn the_first_bad_record_is_named_whichever_thread_finds_it() {
        const N: usize = 5 * BATCH;
        let (tmp, keys) = ledger(N);
        let report = run(&tmp, &keys, true).unwrap();
        assert_eq!(
            (report.records, report.content_checked),
            (N as u64, N as u64)
        );
        // Content changed in a late batch, a leaf changed in an early one: the leaf is first.
        edit_segment(&tmp, |b, starts| {
            let late = 4 * BATCH + 10;
            // The last bytes of a record are its sealed content.
            flip(b, starts[late], starts[late + 1] - starts[late] - 20, false);
            flip(b, starts[BATCH + 3], 40, false);
        });
        let err = run(&tmp, &keys, true).unwrap_err();
        assert_eq!(err.first_bad_index(), Some(BATCH as u64 + 3), "{err}");
        assert!(err.to_string().contains("authentication"), "{err}");
        // Without the master key the tree names the same record (through the hints).
        let err = run(&tmp, &keys, false).unwrap_err();
        assert_eq!(err.first_bad_index(), Some(BATCH as u64 + 3), "{err}");
        assert!(
            err.to_string().contains("does not match signed checkpoint"),
            "{err}"
        );
        // A damaged record before both.
        edit_segment(&tmp, |b, starts| flip(b, starts[BATCH - 1], 50, true));
        let err = run(&tmp, &keys, true).unwrap_err();
        assert_eq!(err.first_bad_index(), Some(BATCH as u64 - 1), "{err}");
        assert!(err.to_string().contains("damaged"), "{err}");
    }
}
