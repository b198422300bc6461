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

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use crate::checkpoint::NoteVerifier;
use crate::cplog::{CHECKPOINT_LOG, CheckpointLogError, read_log};
use crate::crypto::{DataKey, MasterKey};
use crate::format::{self, Decoded, HEADER_LEN, SegmentHeader};
use crate::ledger::{SEGMENTS_DIR, TREE_DIR, list_segments};
use crate::merkle::{Frontier, Hash, empty_root, leaf_hash};
use crate::record::{check_content, leaf_content_digest};

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
    let checkpoints = read_checkpoints(&opts.dir, opts.verifier)?;
    let mut report = VerifyReport {
        checkpoints: checkpoints.len() as u64,
        ..VerifyReport::default()
    };
    let mut hints = LeafHints::open(&opts.dir.join(TREE_DIR).join("level-00.bin"));
    let mut frontier = Frontier::new();
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
    let mut range_start = 0u64;
    let mut first_hint: Option<u64> = None;
    let seg_dir = opts.dir.join(SEGMENTS_DIR);
    let segments = list_segments(&seg_dir).map_err(|e| VerifyError::File {
        path: seg_dir.clone(),
        why: e.to_string(),
    })?;
    let count = segments.len();
    let mut index = 0u64;
    for (n, (first, path)) in segments.into_iter().enumerate() {
        let last = n + 1 == count;
        let bytes = std::fs::read(&path).map_err(|e| VerifyError::File {
            path: path.clone(),
            why: e.to_string(),
        })?;
        let header = SegmentHeader::decode(&bytes).map_err(|e| VerifyError::File {
            path: path.clone(),
            why: e.to_string(),
        })?;
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
        report.segments += 1;
        let mut at = HEADER_LEN;
        loop {
            let rec = match format::decode_record(&bytes[at..]) {
                Ok(Decoded::End) => break,
                Ok(Decoded::Record(rec, used)) => {
                    at += used;
                    rec
                }
                Err(e) if last => {
                    let dirty_end = bytes.iter().rposition(|b| *b != 0).map_or(at, |p| p + 1);
                    report.torn_tail_bytes = (dirty_end - at) as u64;
                    if let Some(cp) = checkpoints.iter().find(|c| c.size > index) {
                        return Err(VerifyError::AtIndex {
                            index,
                            why: format!(
                                "record at offset {at} of {} is damaged ({e}), yet checkpoint #{} covers {} records",
                                path.display(),
                                cp.entry,
                                cp.size
                            ),
                        });
                    }
                    break;
                }
                Err(e) => {
                    return Err(VerifyError::AtIndex {
                        index,
                        why: format!(
                            "record at offset {at} of {} is damaged: {e}",
                            path.display()
                        ),
                    });
                }
            };
            if rec.index != index {
                return Err(VerifyError::AtIndex {
                    index,
                    why: format!(
                        "found the record numbered {} in its place: a record was removed, reordered or inserted",
                        rec.index
                    ),
                });
            }
            let hash = leaf_hash(rec.leaf);
            if first_hint.is_none() && hints.next().is_some_and(|h| h != hash) {
                first_hint = Some(index);
            }
            check_record_content(
                index,
                &hash,
                rec.leaf,
                rec.sealed,
                key.as_ref(),
                &mut report,
            )?;
            frontier.push(hash);
            index += 1;
            while let Some(cp) = checkpoints.get(next_cp).filter(|c| c.size == index) {
                if frontier.root() != cp.root {
                    let bad = first_hint
                        .filter(|h| *h >= range_start && *h < index)
                        .unwrap_or(range_start);
                    let pinpoint = if first_hint == Some(bad) {
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
                range_start = index;
                next_cp += 1;
            }
        }
        report.bytes += at as u64;
    }
    if let Some(cp) = checkpoints.get(next_cp) {
        return Err(VerifyError::AtIndex {
            index,
            why: format!(
                "checkpoint #{} covers {} records but the ledger holds only {index}: records were removed or a segment truncated",
                cp.entry, cp.size
            ),
        });
    }
    report.records = index;
    report.checkpoint_size = checkpoints.last().map_or(0, |c| c.size);
    report.unsigned_tail = index - report.checkpoint_size;
    if report.unsigned_tail > 0 && !opts.allow_unsigned_tail {
        return Err(VerifyError::AtIndex {
            index: report.checkpoint_size,
            why: format!(
                "{} records from here on are covered by no signed checkpoint: appended outside the ledger, or the ledger is live or was not shut down cleanly (use --allow-unsigned-tail to accept)",
                report.unsigned_tail
            ),
        });
    }
    report.root = hex::encode(frontier.root());
    Ok(report)
}

fn read_checkpoints(dir: &Path, verifier: &NoteVerifier) -> Result<Vec<SignedSize>, VerifyError> {
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
    if log.torn_bytes > 0 {
        return Err(VerifyError::Checkpoint {
            entry: log.notes.len(),
            why: format!(
                "the log ends in {} bytes that are not a complete entry",
                log.torn_bytes
            ),
        });
    }
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
    Ok(out)
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
        .unwrap_key(&header.wrapped_key)
        .map(Some)
        .map_err(|e| VerifyError::File {
            path: path.to_path_buf(),
            why: format!("data key: {e}"),
        })
}

fn check_record_content(
    index: u64,
    hash: &Hash,
    leaf: &[u8],
    sealed: &[u8],
    key: Option<&DataKey>,
    report: &mut VerifyReport,
) -> Result<(), VerifyError> {
    let at = |why: String| VerifyError::AtIndex { index, why };
    if sealed.is_empty() {
        if leaf_content_digest(leaf)
            .map_err(|e| at(e.to_string()))?
            .is_some()
        {
            report.content_deleted += 1;
        }
        return Ok(());
    }
    let Some(key) = key else {
        report.content_unchecked += 1;
        return Ok(());
    };
    let plain = key
        .open(&format::content_aad(index, hash), sealed)
        .map_err(|_| {
            at("content fails authentication: it was changed or moved from another record".into())
        })?;
    let expected = leaf_content_digest(leaf)
        .map_err(|e| at(e.to_string()))?
        .ok_or_else(|| at("content is stored but the leaf commits to none".into()))?;
    check_content(&expected, &plain)
        .map_err(|e| at(format!("content does not match its leaf: {e}")))?;
    report.content_checked += 1;
    Ok(())
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
