//! The append pipeline: writes under one short lock, a syncer thread that group-commits, segment
//! rolling and checkpoint signing.
//!
//! An appending caller takes the pipeline lock, checks its ids against the ledger and against
//! appends still being synced, seals and encodes its records, writes them with one positioned
//! write into the current segment, registers a reply channel and releases the lock: a few
//! microseconds, and no hand-off to another thread. The syncer thread loops: it notes how far
//! the segment has been written, calls `fdatasync` once for everything up to there, then, in
//! index order, updates the tree and the id map, publishes the durable size and answers every
//! caller whose records are now durable. While it syncs, callers keep writing, so one sync
//! covers everything written during the previous one: many concurrent appends share one
//! `fdatasync`, and none is acknowledged before its bytes are durable.
//!
//! A command is atomic with respect to validation: a duplicate id or a failed segment roll
//! rejects the whole append before any of its bytes are written.
//!
//! Segment files are preallocated with zeros by a helper thread, one ahead, so that a durable
//! append overwrites allocated blocks: `fdatasync` then flushes data only, not file metadata.
//!
//! Checkpoints are signed by the syncer, which alone knows the durable size, at most every
//! `checkpoint_interval` and only when the size grew, always for a size at least the previous
//! one over the same tree. After a failed write or sync the pipeline refuses further appends
//! (the state of the page cache after a failed `fdatasync` is unknowable); reopening the ledger
//! recovers from the disk. A failed tree update (the derived tree files cannot grow on a full
//! disk) is not such a failure: the tree append is all-or-nothing, so the leaves wait and are
//! retried every round, and checkpoints resume once the tree has caught up.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use uuid::Uuid;

use crate::checkpoint::{Checkpoint, NoteSigner};
use crate::cplog::CheckpointLog;
use crate::crypto::DataKey;
use crate::error::LedgerError;
use crate::format::{self, HEADER_LEN, SegmentHeader};
use crate::ledger::{
    LedgerOptions, Location, PREALLOC_PREFIX, Receipt, SEGMENTS_DIR, Segment, Shared,
    SignedCheckpoint, segment_file_name,
};
use crate::merkle::Hash;
use crate::record::Prepared;

/// Receives the receipts of one append once it is durable.
pub(crate) type AppendReceiver = oneshot::Receiver<Result<Vec<Receipt>, LedgerError>>;
type AppendReply = oneshot::Sender<Result<Vec<Receipt>, LedgerError>>;
/// Receives the latest checkpoint after a requested signing.
pub(crate) type CheckpointReceiver =
    oneshot::Receiver<Result<Option<SignedCheckpoint>, LedgerError>>;
type CheckpointReply = oneshot::Sender<Result<Option<SignedCheckpoint>, LedgerError>>;

struct Current {
    first_index: u64,
    seg: Arc<Segment>,
    pos: u64,
}

struct Waiter {
    /// Index one past the append's last record.
    end: u64,
    reply: AppendReply,
    receipts: Vec<Receipt>,
}

/// Everything behind the pipeline lock.
struct State {
    current: Option<Current>,
    /// Next index to assign (written, maybe not durable).
    next_index: u64,
    /// Segments written since the syncer last took them.
    unsynced: Vec<Arc<Segment>>,
    /// Leaf hashes and id locations of written records not yet published, in index order.
    pending_leaves: Vec<Hash>,
    pending_ids: Vec<(Uuid, Location)>,
    pending_set: HashSet<Uuid>,
    waiters: Vec<Waiter>,
    checkpoint_requests: Vec<CheckpointReply>,
    closed: bool,
    buf: Vec<u8>,
    preparer: Preparer,
}

/// The shared half of the pipeline: the lock and the syncer's wake-up.
pub(crate) struct Pipeline {
    state: Mutex<State>,
    wake: Condvar,
    segment_bytes: u64,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("segment_bytes", &self.segment_bytes)
            .finish_non_exhaustive()
    }
}

fn set_failure(shared: &Shared, msg: &str) {
    if let Ok(mut f) = shared.failure.lock()
        && f.is_none()
    {
        *f = Some(msg.to_owned());
    }
}

fn failure(shared: &Shared) -> Option<String> {
    shared.failure.lock().ok().and_then(|f| f.clone())
}

impl Pipeline {
    /// Creates the pipeline and starts its syncer thread.
    pub(crate) fn start(
        shared: Arc<Shared>,
        signer: NoteSigner,
        cplog: CheckpointLog,
        last_cp_size: Option<u64>,
        next_index: u64,
        current: Option<(u64, Arc<Segment>, u64)>,
        opts: &LedgerOptions,
    ) -> Result<(Arc<Self>, std::thread::JoinHandle<()>), LedgerError> {
        let seg_dir = shared.dir.join(SEGMENTS_DIR);
        let segment_bytes = opts.segment_bytes.max(HEADER_LEN as u64 + 4096);
        let mut preparer = Preparer::start(seg_dir, segment_bytes)?;
        preparer.request();
        let state = State {
            current: current.map(|(first_index, seg, pos)| Current {
                first_index,
                seg,
                pos,
            }),
            next_index,
            unsynced: Vec::new(),
            pending_leaves: Vec::new(),
            pending_ids: Vec::new(),
            pending_set: HashSet::new(),
            waiters: Vec::new(),
            checkpoint_requests: Vec::new(),
            closed: false,
            buf: Vec::with_capacity(64 * 1024),
            preparer,
        };
        let pipeline = Arc::new(Self {
            state: Mutex::new(state),
            wake: Condvar::new(),
            segment_bytes,
        });
        let mut syncer = Syncer {
            shared: Arc::clone(&shared),
            pipeline: Arc::clone(&pipeline),
            signer,
            cplog,
            last_cp_size,
            durable: next_index,
            interval: opts.checkpoint_interval,
            tree_lag: Vec::new(),
            tree_lagging: false,
        };
        // A first checkpoint before open returns: a new log publishes its empty tree, and a
        // recovered log covers the records that survived a crash without waiting for a tick.
        syncer.checkpoint()?;
        let handle = std::thread::Builder::new()
            .name("llmtrail-ledger-syncer".into())
            .spawn(move || syncer.run())
            .map_err(LedgerError::io(&shared.dir))?;
        Ok((pipeline, handle))
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, LedgerError> {
        self.state
            .lock()
            .map_err(|_| LedgerError::Failed("ledger pipeline lock poisoned".into()))
    }

    /// Writes `records` and returns the channel that answers once they are durable.
    pub(crate) fn submit(
        &self,
        shared: &Shared,
        records: Vec<Prepared>,
    ) -> Result<AppendReceiver, LedgerError> {
        let mut st = self.lock()?;
        if st.closed {
            return Err(LedgerError::Closed);
        }
        if let Some(msg) = failure(shared) {
            return Err(LedgerError::Failed(msg));
        }
        check_ids(shared, &st.pending_set, &records)?;
        let total: usize = records.iter().map(Prepared::encoded_len).sum();
        let capacity = self.segment_bytes - HEADER_LEN as u64;
        if total as u64 > capacity {
            return Err(LedgerError::BatchTooLarge {
                bytes: total as u64,
                capacity,
            });
        }
        let fits = st
            .current
            .as_ref()
            .is_some_and(|c| c.pos + total as u64 <= self.segment_bytes);
        if !fits {
            self.roll(shared, &mut st)?;
        }
        let st = &mut *st;
        let Some(cur) = st.current.as_mut() else {
            return Err(LedgerError::Failed("no open segment".into()));
        };
        st.buf.clear();
        let mut receipts = Vec::with_capacity(records.len());
        let mut index = st.next_index;
        for r in &records {
            let aad = format::content_aad(index, &r.leaf_hash);
            let key = &cur.seg.key;
            format::encode_record(&mut st.buf, index, r.id.as_bytes(), &r.leaf, |out| match &r
                .content
            {
                Some(plain) => key.seal_with_nonce(r.nonce, &aad, plain, out),
                None => Ok(()),
            })?;
            receipts.push(Receipt {
                id: r.id,
                index,
                leaf_hash: r.leaf_hash,
            });
            index += 1;
        }
        if let Err(e) = cur.seg.file.write_all_at(&st.buf, cur.pos) {
            // Part of the batch may be on disk: nothing written from here on can be trusted.
            let e = LedgerError::io(&cur.seg.path)(e);
            set_failure(shared, &e.to_string());
            return Err(e);
        }
        let mut offset = cur.pos;
        let mut at = 0usize;
        for (r, receipt) in records.iter().zip(&receipts) {
            st.pending_leaves.push(r.leaf_hash);
            st.pending_ids.push((
                r.id,
                Location {
                    index: receipt.index,
                    segment: cur.first_index,
                    offset,
                },
            ));
            st.pending_set.insert(r.id);
            let len = record_len(&st.buf[at..]);
            offset += len as u64;
            at += len;
        }
        cur.pos += st.buf.len() as u64;
        if !st.unsynced.iter().any(|s| Arc::ptr_eq(s, &cur.seg)) {
            st.unsynced.push(Arc::clone(&cur.seg));
        }
        st.next_index = index;
        let (reply, rx) = oneshot::channel();
        st.waiters.push(Waiter {
            end: index,
            reply,
            receipts,
        });
        drop(records);
        self.wake.notify_one();
        Ok(rx)
    }

    /// Asks the syncer to sign a checkpoint for everything durable so far.
    pub(crate) fn request_checkpoint(&self) -> Result<CheckpointReceiver, LedgerError> {
        let mut st = self.lock()?;
        if st.closed {
            return Err(LedgerError::Closed);
        }
        let (reply, rx) = oneshot::channel();
        st.checkpoint_requests.push(reply);
        self.wake.notify_one();
        Ok(rx)
    }

    /// Refuses new appends; the syncer finishes what was written, signs and stops.
    pub(crate) fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
        }
        self.wake.notify_one();
    }

    /// Closes the current segment (its bytes are synced with the next sync) and opens the next,
    /// preallocated one.
    fn roll(&self, shared: &Shared, st: &mut State) -> Result<(), LedgerError> {
        let prealloc = st.preparer.take()?;
        let first_index = st.next_index;
        let seg_dir = shared.dir.join(SEGMENTS_DIR);
        let path = seg_dir.join(segment_file_name(first_index));
        std::fs::rename(&prealloc, &path).map_err(LedgerError::io(&path))?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(LedgerError::io(&path))?;
        let key = DataKey::generate()?;
        let header = SegmentHeader {
            first_index,
            master_key_id: shared.master.id(),
            wrapped_key: shared.master.wrap(&key, first_index)?,
        };
        file.write_all_at(&header.encode(), 0)
            .map_err(LedgerError::io(&path))?;
        file.sync_data().map_err(LedgerError::io(&path))?;
        sync_dir(&seg_dir)?;
        let seg = Arc::new(Segment { path, file, key });
        if let Ok(mut segs) = shared.segments.write() {
            segs.insert(first_index, Arc::clone(&seg));
        }
        st.current = Some(Current {
            first_index,
            seg,
            pos: HEADER_LEN as u64,
        });
        st.preparer.request();
        Ok(())
    }
}

/// Total length of the encoded record at the start of `buf`.
fn record_len(buf: &[u8]) -> usize {
    let mut len = [0u8; 4];
    len.copy_from_slice(&buf[..4]);
    u32::from_le_bytes(len) as usize + format::RECORD_PREFIX_LEN
}

fn check_ids(
    shared: &Shared,
    pending: &HashSet<Uuid>,
    records: &[Prepared],
) -> Result<(), LedgerError> {
    let ids = shared
        .ids
        .read()
        .map_err(|_| LedgerError::Failed("id map lock poisoned".into()))?;
    let mut seen = HashSet::with_capacity(records.len());
    for r in records {
        if ids.contains_key(&r.id) || pending.contains(&r.id) || !seen.insert(r.id) {
            return Err(LedgerError::Duplicate(r.id));
        }
    }
    Ok(())
}

/// What the syncer takes from the state for one round.
#[derive(Default)]
struct Round {
    target: u64,
    segments: Vec<Arc<Segment>>,
    leaves: Vec<Hash>,
    ids: Vec<(Uuid, Location)>,
    waiters: Vec<Waiter>,
    checkpoint_requests: Vec<CheckpointReply>,
    closing: bool,
}

/// Makes written records durable, publishes them and signs checkpoints.
struct Syncer {
    shared: Arc<Shared>,
    pipeline: Arc<Pipeline>,
    signer: NoteSigner,
    cplog: CheckpointLog,
    last_cp_size: Option<u64>,
    /// Published (durable) size.
    durable: u64,
    interval: Duration,
    /// Leaves of durable records the tree could not take yet (a full disk); retried every
    /// round, oldest first. No checkpoint is signed while any wait.
    tree_lag: Vec<Hash>,
    /// The last tree append failed.
    tree_lagging: bool,
}

impl Syncer {
    fn run(mut self) {
        let mut next_checkpoint = Instant::now() + self.interval;
        loop {
            let Some(round) = self.next_round(next_checkpoint) else {
                break;
            };
            let closing = round.closing;
            let requests = self.sync_and_publish(round);
            if !requests.is_empty() || closing || Instant::now() >= next_checkpoint {
                self.sign_and_answer(requests);
                next_checkpoint = Instant::now() + self.interval;
            }
            if closing {
                break;
            }
        }
        if let Ok(mut st) = self.pipeline.state.lock() {
            st.preparer.discard();
        }
    }

    /// Waits until something was written, a checkpoint is due or asked for, or the pipeline
    /// closes; then takes everything written so far.
    fn next_round(&self, next_checkpoint: Instant) -> Option<Round> {
        let mut st = self.pipeline.state.lock().ok()?;
        loop {
            let written = st.next_index > self.durable;
            let due = Instant::now() >= next_checkpoint
                && self.last_cp_size.is_none_or(|s| s < self.durable);
            if written || st.closed || !st.checkpoint_requests.is_empty() || due {
                break;
            }
            let wait = next_checkpoint
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            st = self.pipeline.wake.wait_timeout(st, wait).ok()?.0;
        }
        Some(Round {
            target: st.next_index,
            segments: std::mem::take(&mut st.unsynced),
            leaves: std::mem::take(&mut st.pending_leaves),
            ids: std::mem::take(&mut st.pending_ids),
            waiters: std::mem::take(&mut st.waiters),
            checkpoint_requests: std::mem::take(&mut st.checkpoint_requests),
            closing: st.closed,
        })
    }

    /// One `fdatasync` per touched segment, then publication; returns the checkpoint requests.
    fn sync_and_publish(&mut self, round: Round) -> Vec<CheckpointReply> {
        let Round {
            target,
            segments,
            leaves,
            ids,
            waiters,
            checkpoint_requests,
            ..
        } = round;
        if target == self.durable {
            self.catch_up_tree();
            return checkpoint_requests;
        }
        let synced = match failure(&self.shared) {
            Some(msg) => Err(msg),
            None => segments
                .iter()
                .try_for_each(|s| s.file.sync_data().map_err(LedgerError::io(&s.path)))
                .map_err(|e| e.to_string()),
        };
        if let Err(msg) = synced {
            tracing::error!(error = %msg, "ledger sync failed; refusing further appends");
            set_failure(&self.shared, &msg);
            for w in waiters {
                let _ = w.reply.send(Err(LedgerError::Failed(msg.clone())));
            }
            // Nothing more becomes durable: forget what was pending so ids can be retried
            // after the ledger is reopened.
            if let Ok(mut st) = self.pipeline.state.lock() {
                st.pending_set.clear();
            }
            return checkpoint_requests;
        }
        // The records are durable; the tree is derived from them. A tree append either
        // completes or leaves the tree as it was, so when it fails (a full disk) the leaves
        // wait and are retried every round: the records stay readable, and no checkpoint is
        // signed until the tree has caught up with them.
        self.tree_lag.extend_from_slice(&leaves);
        self.catch_up_tree();
        if let Ok(mut map) = self.shared.ids.write() {
            map.extend(ids.iter().map(|(id, loc)| (*id, *loc)));
        }
        if let Ok(mut st) = self.pipeline.state.lock() {
            for (id, _) in &ids {
                st.pending_set.remove(id);
            }
        }
        self.durable = target;
        self.shared.size.store(target, Ordering::Release);
        for w in waiters {
            debug_assert!(w.end <= target);
            let _ = w.reply.send(Ok(w.receipts));
        }
        checkpoint_requests
    }

    /// Appends the waiting leaves to the tree; on failure they keep waiting (logged once per
    /// outage).
    fn catch_up_tree(&mut self) {
        if self.tree_lag.is_empty() {
            return;
        }
        let result = match self.shared.tree.write() {
            Ok(mut tree) => tree.append(&self.tree_lag).map_err(|e| e.to_string()),
            Err(_) => Err("tree lock poisoned".to_owned()),
        };
        match result {
            Ok(()) => {
                if self.tree_lagging {
                    tracing::warn!(
                        leaves = self.tree_lag.len(),
                        "tree caught up with the records"
                    );
                }
                self.tree_lag.clear();
                self.tree_lagging = false;
            }
            Err(msg) => {
                if !self.tree_lagging {
                    tracing::error!(error = %msg, "tree update failed; retrying every round");
                }
                self.tree_lagging = true;
            }
        }
    }

    fn sign_and_answer(&mut self, requests: Vec<CheckpointReply>) {
        let result = self.checkpoint();
        if let Err(e) = &result {
            tracing::error!(error = %e, "could not sign a checkpoint");
        }
        for reply in requests {
            let _ = reply.send(match &result {
                Ok(cp) => Ok(cp.clone()),
                Err(e) => Err(LedgerError::Failed(e.to_string())),
            });
        }
    }

    /// Signs a checkpoint for the durable size if it grew (or none exists yet).
    fn checkpoint(&mut self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let size = self.durable;
        if self.last_cp_size.is_some_and(|last| last >= size)
            || failure(&self.shared).is_some()
            || !self.tree_lag.is_empty()
        {
            return Ok(self.shared.checkpoint.read().ok().and_then(|c| c.clone()));
        }
        let root = self
            .shared
            .tree
            .read()
            .map_err(|_| LedgerError::Failed("tree lock poisoned".into()))?
            .root_at(size)?;
        let cp = Checkpoint {
            origin: self.shared.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        };
        // The signer signs whatever it is given; a note no verifier accepts must never be kept.
        cp.validate()
            .map_err(|e| LedgerError::Failed(format!("checkpoint origin: {e}")))?;
        let note = self.signer.sign(&cp);
        self.cplog.append(&note)?;
        let signed = SignedCheckpoint { note, size, root };
        if let Ok(mut latest) = self.shared.checkpoint.write() {
            *latest = Some(signed.clone());
        }
        self.last_cp_size = Some(size);
        Ok(Some(signed))
    }
}

fn sync_dir(dir: &Path) -> Result<(), LedgerError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LedgerError::io(dir))
}

/// Zero-fills the next segment file ahead of need on a helper thread.
struct Preparer {
    requests: std_mpsc::Sender<()>,
    ready: std_mpsc::Receiver<Result<PathBuf, LedgerError>>,
    outstanding: bool,
}

impl Preparer {
    fn start(seg_dir: PathBuf, segment_bytes: u64) -> Result<Self, LedgerError> {
        let (requests, req_rx) = std_mpsc::channel::<()>();
        let (ready_tx, ready) = std_mpsc::channel();
        std::thread::Builder::new()
            .name("llmtrail-segment-preparer".into())
            .spawn(move || {
                let mut n = 0u64;
                for () in req_rx {
                    n += 1;
                    let path = seg_dir.join(format!("{PREALLOC_PREFIX}{n}.tmp"));
                    let result = preallocate(&path, segment_bytes).map(|()| path);
                    if ready_tx.send(result).is_err() {
                        break;
                    }
                }
            })
            .map_err(LedgerError::io("segment preparer thread"))?;
        Ok(Self {
            requests,
            ready,
            outstanding: false,
        })
    }

    /// Removes a prepared file nobody will use (at shutdown), waiting for it if in progress.
    fn discard(&mut self) {
        if self.outstanding {
            self.outstanding = false;
            if let Ok(Ok(path)) = self.ready.recv() {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn request(&mut self) {
        if !self.outstanding {
            self.outstanding = self.requests.send(()).is_ok();
        }
    }

    /// Waits for the prepared file; on failure (a full disk, say) the next roll tries again.
    fn take(&mut self) -> Result<PathBuf, LedgerError> {
        self.request();
        self.outstanding = false;
        self.ready
            .recv()
            .map_err(|_| LedgerError::Failed("segment preparer stopped".into()))?
    }
}

fn preallocate(path: &Path, bytes: u64) -> Result<(), LedgerError> {
    let io = LedgerError::io(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        let zeros = vec![0u8; 1 << 20];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            file.write_all(&zeros[..n])?;
            left -= n as u64;
        }
        file.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result.map_err(io)
}
