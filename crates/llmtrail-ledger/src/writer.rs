//! The writer and syncer threads: group commit with pipelined syncs, segment rolling and
//! checkpoint signing.
//!
//! Callers send `Command::Append` with prepared records and wait on a reply channel. The writer
//! takes one command, then everything else already queued (up to `max_batch_bytes`), seals and
//! encodes all of it into one buffer and writes it with one positioned write: a *group*. It
//! hands the group to the syncer and goes on with the next one at once, so that encoding and
//! writing group k+1 overlap with the `fdatasync` of group k. The syncer drains every group
//! written so far, calls `fdatasync` once for all of them, then, in order, updates the tree and
//! the id map and replies. Many concurrent appends thus share one sync, and no append is
//! acknowledged before its bytes are durable.
//!
//! A command is atomic with respect to validation: a duplicate id (against the ledger and
//! against groups still being synced) or a failed segment roll rejects the whole command before
//! any of its bytes are staged.
//!
//! Segment files are preallocated with zeros by a helper thread, one ahead, so that a durable
//! append overwrites allocated blocks: `fdatasync` then flushes data only, not file metadata.
//!
//! Checkpoints are signed by the syncer, which alone knows the durable size, and only for a
//! size at least the previous one over the same tree. After a failed write or sync both threads
//! refuse further appends (the state of the page cache after a failed `fdatasync` is
//! unknowable); reopening the ledger recovers from the disk.

use std::collections::{HashSet, VecDeque};
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;

use tokio::sync::{mpsc, oneshot};
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

type AppendReply = oneshot::Sender<Result<Vec<Receipt>, LedgerError>>;
type CheckpointReply = oneshot::Sender<Result<Option<SignedCheckpoint>, LedgerError>>;

/// A request to the writer thread.
#[derive(Debug)]
pub(crate) enum Command {
    Append {
        records: Vec<Prepared>,
        reply: AppendReply,
    },
    Tick,
    Checkpoint {
        reply: CheckpointReply,
    },
    Shutdown,
}

/// What the writer hands to the syncer.
enum SyncMsg {
    Group(Group),
    Checkpoint(Option<CheckpointReply>),
    Shutdown,
}

/// One written, not yet durable group of appends.
struct Group {
    seq: u64,
    end_index: u64,
    leaves: Vec<Hash>,
    ids: Vec<(Uuid, Location)>,
    replies: Vec<(AppendReply, Vec<Receipt>)>,
    segments: Vec<Arc<Segment>>,
}

struct Current {
    first_index: u64,
    seg: Arc<Segment>,
    pos: u64,
}

/// What one group has staged so far.
#[derive(Default)]
struct Staged {
    next_index: u64,
    leaves: Vec<Hash>,
    ids: Vec<(Uuid, Location)>,
    id_set: HashSet<Uuid>,
    rolled: Vec<Arc<Segment>>,
    replies: Vec<(AppendReply, Vec<Receipt>)>,
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

pub(crate) struct Writer {
    shared: Arc<Shared>,
    next_index: u64,
    current: Option<Current>,
    segment_bytes: u64,
    max_batch_bytes: usize,
    buf: Vec<u8>,
    preparer: Preparer,
    to_sync: std_mpsc::Sender<SyncMsg>,
    syncer: Option<std::thread::JoinHandle<()>>,
    seq: u64,
    committed_seq: Arc<AtomicU64>,
    /// Ids of groups handed to the syncer and not yet committed, for the duplicate check.
    inflight: VecDeque<(u64, Vec<Uuid>)>,
    pending: HashSet<Uuid>,
}

impl Writer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        signer: NoteSigner,
        cplog: CheckpointLog,
        last_cp_size: Option<u64>,
        next_index: u64,
        current: Option<(u64, Arc<Segment>, u64)>,
        opts: &LedgerOptions,
    ) -> Result<Self, LedgerError> {
        let seg_dir = shared.dir.join(SEGMENTS_DIR);
        let segment_bytes = opts.segment_bytes.max(HEADER_LEN as u64 + 4096);
        let mut preparer = Preparer::start(seg_dir, segment_bytes)?;
        preparer.request();
        let current = current.map(|(first_index, seg, pos)| Current {
            first_index,
            seg,
            pos,
        });
        let committed_seq = Arc::new(AtomicU64::new(0));
        let (to_sync, sync_rx) = std_mpsc::channel();
        let syncer = Syncer {
            shared: Arc::clone(&shared),
            signer,
            cplog,
            last_cp_size,
            next_index,
            committed_seq: Arc::clone(&committed_seq),
        };
        let dir = shared.dir.clone();
        let syncer = std::thread::Builder::new()
            .name("llmtrail-ledger-syncer".into())
            .spawn(move || syncer.run(sync_rx))
            .map_err(LedgerError::io(&dir))?;
        Ok(Self {
            shared,
            next_index,
            current,
            segment_bytes,
            max_batch_bytes: opts.max_batch_bytes,
            buf: Vec::with_capacity(1 << 20),
            preparer,
            to_sync,
            syncer: Some(syncer),
            seq: 0,
            committed_seq,
            inflight: VecDeque::new(),
            pending: HashSet::new(),
        })
    }

    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        // A first checkpoint right away: a new log publishes its empty tree, and a recovered
        // log covers the records that survived a crash without waiting for the next tick.
        let _ = self.to_sync.send(SyncMsg::Checkpoint(None));
        while let Some(first) = rx.blocking_recv() {
            let mut cmds = vec![first];
            let mut bytes = command_bytes(&cmds[0]);
            while bytes < self.max_batch_bytes {
                match rx.try_recv() {
                    Ok(cmd) => {
                        bytes += command_bytes(&cmd);
                        cmds.push(cmd);
                    }
                    Err(_) => break,
                }
            }
            if self.process(cmds) {
                break;
            }
        }
        rx.close();
        // Whatever is still queued is refused rather than dropped silently.
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Command::Append { reply, .. } => {
                    let _ = reply.send(Err(LedgerError::Closed));
                }
                Command::Checkpoint { reply } => {
                    let _ = reply.send(Err(LedgerError::Closed));
                }
                Command::Tick | Command::Shutdown => {}
            }
        }
        // The syncer finishes every group handed to it, signs the final checkpoint and stops.
        let _ = self.to_sync.send(SyncMsg::Shutdown);
        if let Some(handle) = self.syncer.take() {
            let _ = handle.join();
        }
        self.preparer.discard();
    }

    /// Handles one batch of commands; returns true when asked to shut down.
    fn process(&mut self, cmds: Vec<Command>) -> bool {
        self.reap();
        let mut staged = Staged {
            next_index: self.next_index,
            ..Staged::default()
        };
        let mut tick = false;
        let mut cp_waiters = Vec::new();
        let mut shutdown = false;
        for cmd in cmds {
            match cmd {
                Command::Append { records, reply } => match self.stage(records, &mut staged) {
                    Ok(receipts) => staged.replies.push((reply, receipts)),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                Command::Tick => tick = true,
                Command::Checkpoint { reply } => cp_waiters.push(reply),
                Command::Shutdown => shutdown = true,
            }
        }
        if !staged.replies.is_empty() || !self.buf.is_empty() {
            match self.write_buf() {
                Ok(()) => self.hand_over(staged),
                Err(e) => {
                    let msg = e.to_string();
                    tracing::error!(error = %msg, "ledger write failed; refusing further appends");
                    set_failure(&self.shared, &msg);
                    for (reply, _) in staged.replies {
                        let _ = reply.send(Err(LedgerError::Failed(msg.clone())));
                    }
                }
            }
        }
        if tick {
            let _ = self.to_sync.send(SyncMsg::Checkpoint(None));
        }
        for reply in cp_waiters {
            let _ = self.to_sync.send(SyncMsg::Checkpoint(Some(reply)));
        }
        shutdown
    }

    /// Forgets the ids of groups the syncer has committed (they are in the shared map now).
    fn reap(&mut self) {
        let committed = self.committed_seq.load(Ordering::Acquire);
        while self
            .inflight
            .front()
            .is_some_and(|(seq, _)| *seq <= committed)
        {
            if let Some((_, ids)) = self.inflight.pop_front() {
                for id in ids {
                    self.pending.remove(&id);
                }
            }
        }
    }

    /// Passes a written group to the syncer.
    fn hand_over(&mut self, staged: Staged) {
        self.seq += 1;
        self.next_index = staged.next_index;
        let ids: Vec<Uuid> = staged.ids.iter().map(|(id, _)| *id).collect();
        self.pending.extend(ids.iter().copied());
        self.inflight.push_back((self.seq, ids));
        let mut segments = staged.rolled;
        if let Some(cur) = &self.current {
            segments.push(Arc::clone(&cur.seg));
        }
        let group = Group {
            seq: self.seq,
            end_index: staged.next_index,
            leaves: staged.leaves,
            ids: staged.ids,
            replies: staged.replies,
            segments,
        };
        if let Err(std_mpsc::SendError(SyncMsg::Group(group))) =
            self.to_sync.send(SyncMsg::Group(group))
        {
            set_failure(&self.shared, "ledger syncer stopped");
            for (reply, _) in group.replies {
                let _ = reply.send(Err(LedgerError::Failed("ledger syncer stopped".into())));
            }
        }
    }

    /// Seals and encodes one command's records into the buffer, or rejects the whole command.
    fn stage(
        &mut self,
        records: Vec<Prepared>,
        staged: &mut Staged,
    ) -> Result<Vec<Receipt>, LedgerError> {
        if let Some(msg) = failure(&self.shared) {
            return Err(LedgerError::Failed(msg));
        }
        {
            let ids = self
                .shared
                .ids
                .read()
                .map_err(|_| LedgerError::Failed("id map lock poisoned".into()))?;
            let mut seen = HashSet::with_capacity(records.len());
            for r in &records {
                if ids.contains_key(&r.id)
                    || self.pending.contains(&r.id)
                    || staged.id_set.contains(&r.id)
                    || !seen.insert(r.id)
                {
                    return Err(LedgerError::Duplicate(r.id));
                }
            }
        }
        let total: usize = records.iter().map(Prepared::encoded_len).sum();
        let capacity = self.segment_bytes - HEADER_LEN as u64;
        if total as u64 > capacity {
            return Err(LedgerError::BatchTooLarge {
                bytes: total as u64,
                capacity,
            });
        }
        let fits = self
            .current
            .as_ref()
            .is_some_and(|c| c.pos + (self.buf.len() + total) as u64 <= self.segment_bytes);
        if !fits {
            self.roll(staged)?;
        }
        let Some(cur) = self.current.as_ref() else {
            return Err(LedgerError::Failed("no open segment".into()));
        };
        let mut receipts = Vec::with_capacity(records.len());
        for r in records {
            let index = staged.next_index;
            let offset = cur.pos + self.buf.len() as u64;
            let aad = format::content_aad(index, &r.leaf_hash);
            let key = &cur.seg.key;
            format::encode_record(
                &mut self.buf,
                index,
                r.id.as_bytes(),
                &r.leaf,
                |out| match &r.content {
                    Some(plain) => key.seal_into(&aad, plain, out),
                    None => Ok(()),
                },
            )?;
            staged.leaves.push(r.leaf_hash);
            staged.ids.push((
                r.id,
                Location {
                    index,
                    segment: cur.first_index,
                    offset,
                },
            ));
            staged.id_set.insert(r.id);
            receipts.push(Receipt {
                id: r.id,
                index,
                leaf_hash: r.leaf_hash,
            });
            staged.next_index += 1;
        }
        Ok(receipts)
    }

    fn write_buf(&mut self) -> Result<(), LedgerError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let Some(cur) = self.current.as_mut() else {
            return Err(LedgerError::Failed("no open segment".into()));
        };
        cur.seg
            .file
            .write_all_at(&self.buf, cur.pos)
            .map_err(LedgerError::io(&cur.seg.path))?;
        cur.pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Closes the current segment (its staged bytes are written and synced with the group) and
    /// opens the next, preallocated one.
    fn roll(&mut self, staged: &mut Staged) -> Result<(), LedgerError> {
        if let Err(e) = self.write_buf() {
            // The current group's bytes could not be written: nothing more can be trusted.
            set_failure(&self.shared, &e.to_string());
            return Err(e);
        }
        let prealloc = self.preparer.take()?;
        let first_index = staged.next_index;
        let seg_dir = self.shared.dir.join(SEGMENTS_DIR);
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
            master_key_id: self.shared.master.id(),
            wrapped_key: self.shared.master.wrap(&key)?,
        };
        file.write_all_at(&header.encode(), 0)
            .map_err(LedgerError::io(&path))?;
        file.sync_data().map_err(LedgerError::io(&path))?;
        sync_dir(&seg_dir)?;
        let seg = Arc::new(Segment { path, file, key });
        if let Ok(mut segs) = self.shared.segments.write() {
            segs.insert(first_index, Arc::clone(&seg));
        }
        if let Some(old) = self.current.take() {
            staged.rolled.push(old.seg);
        }
        self.current = Some(Current {
            first_index,
            seg,
            pos: HEADER_LEN as u64,
        });
        self.preparer.request();
        Ok(())
    }
}

/// Makes written groups durable, publishes them and signs checkpoints.
struct Syncer {
    shared: Arc<Shared>,
    signer: NoteSigner,
    cplog: CheckpointLog,
    last_cp_size: Option<u64>,
    /// Committed (durable and published) size.
    next_index: u64,
    committed_seq: Arc<AtomicU64>,
}

impl Syncer {
    fn run(mut self, rx: std_mpsc::Receiver<SyncMsg>) {
        while let Ok(first) = rx.recv() {
            let mut msgs = vec![first];
            while let Ok(m) = rx.try_recv() {
                msgs.push(m);
            }
            let mut groups = Vec::new();
            let mut checkpoints = Vec::new();
            let mut shutdown = false;
            for m in msgs {
                match m {
                    SyncMsg::Group(g) => groups.push(g),
                    SyncMsg::Checkpoint(reply) => checkpoints.push(reply),
                    SyncMsg::Shutdown => shutdown = true,
                }
            }
            if !groups.is_empty() {
                self.sync_and_commit(groups);
            }
            if !checkpoints.is_empty() || shutdown {
                let result = self.checkpoint();
                if let Err(e) = &result {
                    tracing::error!(error = %e, "could not sign a checkpoint");
                }
                for reply in checkpoints.into_iter().flatten() {
                    let _ = reply.send(match &result {
                        Ok(cp) => Ok(cp.clone()),
                        Err(e) => Err(LedgerError::Failed(e.to_string())),
                    });
                }
            }
            if shutdown {
                return;
            }
        }
        if let Err(e) = self.checkpoint() {
            tracing::error!(error = %e, "could not sign the final checkpoint");
        }
    }

    /// One `fdatasync` per touched segment for all the groups, then publication in order.
    fn sync_and_commit(&mut self, groups: Vec<Group>) {
        let mut segments: Vec<&Arc<Segment>> = Vec::new();
        for g in &groups {
            for s in &g.segments {
                if !segments.iter().any(|seen| Arc::ptr_eq(seen, s)) {
                    segments.push(s);
                }
            }
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
            for g in groups {
                for (reply, _) in g.replies {
                    let _ = reply.send(Err(LedgerError::Failed(msg.clone())));
                }
            }
            return;
        }
        for g in groups {
            self.commit(g);
        }
    }

    /// Publishes a durable group: tree, id map, size, then the replies.
    fn commit(&mut self, g: Group) {
        let tree_result = match self.shared.tree.write() {
            Ok(mut tree) => tree.append(&g.leaves).map_err(|e| e.to_string()),
            Err(_) => Err("tree lock poisoned".to_owned()),
        };
        if let Err(msg) = tree_result {
            // The records are durable, the derived tree is not: refuse further writes so that
            // no checkpoint is signed over a tree that lags the records; reopening rebuilds it.
            tracing::error!(error = %msg, "tree update failed");
            set_failure(&self.shared, &format!("tree update failed: {msg}"));
        }
        if let Ok(mut ids) = self.shared.ids.write() {
            ids.extend(g.ids);
        }
        self.next_index = g.end_index;
        self.shared.size.store(self.next_index, Ordering::Release);
        self.committed_seq.store(g.seq, Ordering::Release);
        for (reply, receipts) in g.replies {
            let _ = reply.send(Ok(receipts));
        }
    }

    /// Signs a checkpoint for the committed size if it grew (or none exists yet).
    fn checkpoint(&mut self) -> Result<Option<SignedCheckpoint>, LedgerError> {
        let size = self.next_index;
        if self.last_cp_size.is_some_and(|last| last >= size) || failure(&self.shared).is_some() {
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

fn command_bytes(cmd: &Command) -> usize {
    match cmd {
        Command::Append { records, .. } => records.iter().map(Prepared::encoded_len).sum(),
        _ => 0,
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
