//! Feeding the query index (`llmtrail_index`) from the pipeline.
//!
//! Contract:
//! - After each successful append the events and their ledger indexes are queued (bounded,
//!   never blocking the append). One thread writes them in transactions of whatever has
//!   queued up.
//! - Nothing is lost when the queue is full or `serve` stops: the index knows the ledger
//!   index it has reached, and whenever a batch starts past it (and at startup) the thread
//!   first reads the missing records from the ledger. Rows are keyed by ledger index, so a
//!   record seen twice is kept once.
//! - The index file is `<data-dir>/index/events.sqlite`; `llmtrail reindex` rebuilds it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use llmtrail_core::Event;
use llmtrail_index::{Index, IndexError, Row};
use llmtrail_ledger::{Ledger, Receipt};

/// Where the index file lives in a data directory.
#[must_use]
pub fn index_path(data_dir: &Path) -> PathBuf {
    data_dir.join("index").join("events.sqlite")
}

/// Opens the index of a data directory, creating the directory and file when missing.
///
/// # Errors
/// [`IndexError`] when the file cannot be opened (wrong schema version: reindex).
pub fn open(data_dir: &Path) -> Result<Index, IndexError> {
    let path = index_path(data_dir);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| IndexError::Invalid(format!("{}: {e}", dir.display())))?;
    }
    Index::open(&path)
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

/// The running feed.
#[derive(Debug)]
pub struct IndexFeed {
    tx: mpsc::SyncSender<Vec<(u64, Event)>>,
    skipped: AtomicU64,
}

impl IndexFeed {
    /// Starts the writer thread; it first catches up with the ledger.
    ///
    /// # Errors
    /// The OS error when the thread cannot start.
    pub fn start(
        index: Arc<Index>,
        ledger: Arc<Ledger>,
        queue: usize,
    ) -> std::io::Result<Arc<IndexFeed>> {
        let (tx, rx) = mpsc::sync_channel::<Vec<(u64, Event)>>(queue.max(1));
        std::thread::Builder::new()
            .name("llmtrail-index".into())
            .spawn(move || {
                let report = |r: Result<u64, IndexError>| {
                    if let Err(e) = r {
                        tracing::error!(error = %e, "index catch-up failed");
                    }
                };
                match index.next_index() {
                    Ok(next) => {
                        let to = ledger.size();
                        if next < to {
                            tracing::info!(from = next, to, "indexing the ledger");
                        }
                        report(catch_up(&index, &ledger, next, to));
                    }
                    Err(e) => tracing::error!(error = %e, "index unreadable"),
                }
                while let Ok(first) = rx.recv() {
                    let mut batch = first;
                    while batch.len() < 4096 {
                        match rx.try_recv() {
                            Ok(more) => batch.extend(more),
                            Err(_) => break,
                        }
                    }
                    batch.sort_by_key(|(i, _)| *i);
                    let start = batch.first().map_or(0, |(i, _)| *i);
                    if let Ok(next) = index.next_index()
                        && next < start
                    {
                        report(catch_up(&index, &ledger, next, start.min(ledger.size())));
                    }
                    let rows: Vec<Row> = batch.iter().map(|(i, e)| Row::of(*i, e)).collect();
                    if let Err(e) = index.add(&rows) {
                        tracing::error!(error = %e, rows = rows.len(), "index write failed");
                    }
                }
            })?;
        Ok(Arc::new(IndexFeed {
            tx,
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
        let n = batch.len() as u64;
        if self.tx.try_send(batch).is_err() {
            // The thread reads these from the ledger when it sees the gap.
            self.skipped.fetch_add(n, Ordering::Relaxed);
        }
    }
}
