//! Feeding the query index (`llmtrail_index`) from the pipeline.
//!
//! Contract:
//! - After each successful append the events and their ledger indexes are queued, never
//!   blocking the append; the queue holds at most [`MAX_QUEUED_EVENTS`] events (a bound on
//!   memory whatever the batch sizes). One thread writes them in transactions of whatever has
//!   queued up.
//! - Nothing is lost when the queue is full or `serve` stops: skipped records are read back
//!   from the ledger when the writer is idle (and at startup, records past the last indexed
//!   one, and any hole below it). Rows are keyed by ledger index, so a record seen twice is
//!   kept once.
//! - The index file is `<data-dir>/index/events.sqlite`; `llmtrail reindex` rebuilds it.
//! - The index yields space to the ledger: while the file system holding it has less than
//!   [`MIN_FREE_BYTES`] free, nothing is written (the ledger is the record; the index catches
//!   up once there is room again).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use llmtrail_core::Event;
use llmtrail_index::{Index, IndexError, Row};
use llmtrail_ledger::{Ledger, Receipt};

/// Where the index file lives in a data directory.
#[must_use]
pub fn index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("index").join("events.sqlite")
}

/// Opens the index of a data directory, creating the directory and file when missing. An
/// index of another schema version is thrown away and started afresh: it holds nothing the
/// ledger lacks, and the feed's catch-up at startup rebuilds it.
///
/// # Errors
/// [`IndexError`] when the file cannot be opened or removed.
pub fn open(data_dir: &Path) -> Result<Index, IndexError> {
    let path = index_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| IndexError::Invalid(format!("{}: {e}", dir.display())))?;
    }
    match Index::open(&path) {
        Err(IndexError::Version { found }) => {
            tracing::warn!(
                path = %path.display(),
                found,
                "the query index has another schema version; rebuilding it from the ledger"
            );
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                match std::fs::remove_file(PathBuf::from(p)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(IndexError::Invalid(format!(
                            "removing the old index {}: {e}",
                            path.display()
                        )));
                    }
                }
            }
            Index::open(&path)
        }
        other => other,
    }
}

/// Adds the ledger's records `[from, to)` to the index, in transactions of 2,048.
///
/// # Errors
/// [`IndexError`] when the ledger cannot be read or SQLite fails.
pub fn catch_up(index: &Index, ledger: &Ledger, from: u64, to: u64) -> Result<u64, IndexError> {
    if from >= to {
        return Ok(0);
    }
    let mut ids = Vec::new();
    ledger
        .scan_metadata(&mut |i, e| {
            if i >= from && i < to {
                ids.push((i, e.id));
            }
        })
        .map_err(|e| IndexError::Invalid(format!("reading the ledger: {e}")))?;
    add_from_ledger(index, ledger, ids)
}

/// Reads the records `(index, id)` from the ledger and adds them, in transactions of 2,048.
fn add_from_ledger(
    index: &Index,
    ledger: &Ledger,
    ids: Vec<(u64, uuid::Uuid)>,
) -> Result<u64, IndexError> {
    let mut rows = Vec::with_capacity(2048);
    let mut n = 0u64;
    for (i, id) in ids {
        if let Some(stored) = ledger
            .get(&id)
            .map_err(|e| IndexError::Invalid(format!("reading event {id}: {e}")))?
        {
            rows.push(Row::of(i, &stored.event));
        }
        if rows.len() == 2048 {
            index.add(&rows)?;
            n += rows.len() as u64;
            rows.clear();
        }
    }
    n += rows.len() as u64;
    index.add(&rows)?;
    Ok(n)
}

/// Free space below which the index stops writing.
pub const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

fn room(dir: &Path) -> bool {
    match rustix::fs::statvfs(dir) {
        Ok(st) => st.f_bavail.saturating_mul(st.f_frsize) >= MIN_FREE_BYTES,
        Err(_) => true,
    }
}

/// The most events waiting in the queue; more are skipped and read back from the ledger.
pub const MAX_QUEUED_EVENTS: usize = 16_384;

/// Reads back from the ledger the records at or above `low` that the index lacks.
///
/// # Errors
/// [`IndexError`] when the ledger cannot be read or SQLite fails.
pub fn fill_holes(index: &Index, ledger: &Ledger, low: u64) -> Result<u64, IndexError> {
    let (present, _) = index.present_from(low)?;
    let size = ledger.size();
    let mut missing = Vec::new();
    ledger
        .scan_metadata(&mut |i, e| {
            if i >= low && i < size && !present.contains(&i) {
                missing.push((i, e.id));
            }
        })
        .map_err(|e| IndexError::Invalid(format!("reading the ledger: {e}")))?;
    add_from_ledger(index, ledger, missing)
}

/// The running feed.
#[derive(Debug)]
pub struct IndexFeed {
    tx: mpsc::SyncSender<Vec<(u64, Event)>>,
    queued: Arc<AtomicUsize>,
    /// Lowest ledger index skipped since the last fill (`u64::MAX`: none).
    low: Arc<AtomicU64>,
    skipped: AtomicU64,
}

impl IndexFeed {
    /// Starts the writer thread; it first catches up with the ledger. `dir` is where the
    /// index lives (its free space is watched).
    ///
    /// # Errors
    /// The OS error when the thread cannot start.
    pub fn start(
        index: Arc<Index>,
        ledger: Arc<Ledger>,
        queue: usize,
        dir: PathBuf,
    ) -> std::io::Result<Arc<IndexFeed>> {
        let (tx, rx) = mpsc::sync_channel::<Vec<(u64, Event)>>(queue.max(1));
        let queued = Arc::new(AtomicUsize::new(0));
        let low = Arc::new(AtomicU64::new(u64::MAX));
        let (queued_w, low_w) = (Arc::clone(&queued), Arc::clone(&low));
        std::thread::Builder::new()
            .name("llmtrail-index".into())
            .spawn(move || {
                let report = |what: &str, r: Result<u64, IndexError>| match r {
                    Ok(n) if n > 0 => tracing::info!(records = n, what, "index caught up"),
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, what, "index catch-up failed"),
                };
                match (index.next_index(), index.present_from(u64::MAX)) {
                    (Ok(next), Ok((_, count))) => {
                        report("tail", catch_up(&index, &ledger, next, ledger.size()));
                        if count < next {
                            report("holes", fill_holes(&index, &ledger, 0));
                        }
                    }
                    (Err(e), _) | (_, Err(e)) => tracing::error!(error = %e, "index unreadable"),
                }
                let mut paused = false;
                loop {
                    let first = match rx.recv_timeout(Duration::from_secs(1)) {
                        Ok(b) => b,
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            // Idle: read back what was skipped.
                            let from = low_w.swap(u64::MAX, Ordering::Relaxed);
                            if from != u64::MAX {
                                if room(&dir) {
                                    report("skipped", fill_holes(&index, &ledger, from));
                                } else {
                                    low_w.fetch_min(from, Ordering::Relaxed);
                                }
                            }
                            continue;
                        }
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    };
                    let mut batch = first;
                    while batch.len() < 4096 {
                        match rx.try_recv() {
                            Ok(more) => batch.extend(more),
                            Err(_) => break,
                        }
                    }
                    queued_w.fetch_sub(batch.len(), Ordering::Relaxed);
                    if !room(&dir) {
                        if !paused {
                            tracing::warn!(
                                min_free = MIN_FREE_BYTES,
                                "index paused: low disk space"
                            );
                            paused = true;
                        }
                        // Read back from the ledger once there is room.
                        if let Some(min) = batch.iter().map(|(i, _)| *i).min() {
                            low_w.fetch_min(min, Ordering::Relaxed);
                        }
                        continue;
                    }
                    paused = false;
                    let rows: Vec<Row> = batch.iter().map(|(i, e)| Row::of(*i, e)).collect();
                    if let Err(e) = index.add(&rows) {
                        tracing::error!(error = %e, rows = rows.len(), "index write failed");
                        if let Some(min) = batch.iter().map(|(i, _)| *i).min() {
                            low_w.fetch_min(min, Ordering::Relaxed);
                        }
                    }
                }
            })?;
        Ok(Arc::new(IndexFeed {
            tx,
            queued,
            low,
            skipped: AtomicU64::new(0),
        }))
    }

    /// Queues appended events for indexing; never blocks.
    pub fn submit(&self, receipts: &[Receipt], events: &[Event]) {
        let batch: Vec<(u64, Event)> = receipts
            .iter()
            .zip(events)
            .map(|(r, e)| (r.index, e.clone()))
            .collect();
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        let first = batch.iter().map(|(i, _)| *i).min().unwrap_or(0);
        let full = self.queued.fetch_add(n, Ordering::Relaxed) + n > MAX_QUEUED_EVENTS;
        if full || self.tx.try_send(batch).is_err() {
            // The writer reads these back from the ledger when it is idle.
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.low.fetch_min(first, Ordering::Relaxed);
            self.skipped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_of_another_schema_version_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = index_path(dir.path());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                 INSERT INTO meta VALUES ('schema', 1);
                 CREATE TABLE events (idx INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                    time_ns INTEGER NOT NULL, kind TEXT NOT NULL);
                 INSERT INTO events VALUES (0, 'x', 0, 'llm.request');",
            )
            .unwrap();
        }
        assert!(matches!(
            Index::open(&path),
            Err(IndexError::Version { found: 1 })
        ));
        let index = open(dir.path()).unwrap();
        assert_eq!(index.next_index().unwrap(), 0, "started afresh");
    }
}
