//! The recorder: appends events that nobody waits for (responses, and requests in permissive
//! mode) in batches, and keeps them while the ledger cannot be written.
//!
//! Contract:
//! - Events sent here are appended in the order sent, many per append (one group commit).
//! - When an append fails the events are kept in memory (up to [`BACKLOG_LIMIT`] events; the
//!   oldest beyond it are dropped and counted) and retried every [`RETRY_EVERY`]. Once the
//!   ledger takes them again, one `alert` event says how many events were written late, how
//!   many were lost, and between which times, with the late events' ids as evidence.
//! - [`Recorder::close`] writes what is left (one last try) and returns.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use llmtrail_core::{Alert, AlertState, Event, Severity};
use llmtrail_ledger::Journal;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most events kept while the ledger cannot be written.
pub const BACKLOG_LIMIT: usize = 200_000;
/// Time between retries while the ledger cannot be written.
pub const RETRY_EVERY: Duration = Duration::from_millis(250);
const BATCH: usize = 512;
const MAX_EVIDENCE: usize = 1000;

/// Rule id of the alert raised when events were written late or lost.
pub const LEDGER_ALERT_RULE: &str = "llmtrail.gateway.ledger_write_failed";

/// Counters of the recorder.
#[derive(Debug, Default)]
pub struct RecorderStats {
    /// Events appended.
    pub written: AtomicU64,
    /// Events dropped because the backlog was full.
    pub dropped: AtomicU64,
    /// Events waiting for the ledger.
    pub backlog: AtomicU64,
}

/// Handle to the recorder task.
#[derive(Debug, Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<Msg>,
    stats: Arc<RecorderStats>,
}

#[derive(Debug)]
enum Msg {
    Events(Vec<Event>),
    Close,
}

/// The task's join handle, for a clean shutdown.
#[derive(Debug)]
pub struct RecorderTask(tokio::task::JoinHandle<()>);

impl Recorder {
    /// Starts the recorder on the current runtime.
    pub fn start(journal: Arc<dyn Journal>) -> (Recorder, RecorderTask) {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(RecorderStats::default());
        let task = tokio::spawn(run(journal, rx, Arc::clone(&stats)));
        (Recorder { tx, stats }, RecorderTask(task))
    }

    /// Queues events for appending; never blocks.
    pub fn send(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let n = events.len() as u64;
        if self.tx.send(Msg::Events(events)).is_err() {
            // Only after shutdown began; say what is lost rather than losing it silently.
            tracing::error!(events = n, "recorder closed; events not written");
            self.stats.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Returns the counters.
    #[must_use]
    pub fn stats(&self) -> &RecorderStats {
        &self.stats
    }
}

impl RecorderTask {
    /// Stops taking events and waits until every event queued before has been written (or,
    /// if the ledger still refuses them, counted as dropped).
    pub async fn close(self, recorder: &Recorder) {
        let _ = recorder.tx.send(Msg::Close);
        let _ = self.0.await;
    }
}

struct Outage {
    since: jiff::Timestamp,
    late: Vec<Uuid>,
    late_count: u64,
    dropped_before: u64,
}

async fn run(
    journal: Arc<dyn Journal>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    stats: Arc<RecorderStats>,
) {
    let mut backlog: VecDeque<Event> = VecDeque::new();
    let mut outage: Option<Outage> = None;
    let mut closed = false;
    loop {
        if backlog.is_empty() {
            if closed {
                return;
            }
            match rx.recv().await {
                Some(Msg::Events(events)) => backlog.extend(events),
                Some(Msg::Close) | None => return,
            }
        }
        while backlog.len() < BATCH {
            match rx.try_recv() {
                Ok(Msg::Events(events)) => backlog.extend(events),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Ok(Msg::Close) | Err(mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    rx.close();
                    break;
                }
            }
        }
        let n = backlog.len().min(BATCH);
        let batch: Vec<Event> = backlog.iter().take(n).cloned().collect();
        match journal.append(&batch).await {
            Ok(_) => {
                backlog.drain(..n);
                stats.written.fetch_add(n as u64, Ordering::Relaxed);
                if let Some(o) = outage.as_mut() {
                    o.late_count += n as u64;
                    let room = MAX_EVIDENCE.saturating_sub(o.late.len());
                    o.late.extend(batch.iter().take(room).map(|e| e.id));
                }
                if backlog.is_empty()
                    && let Some(o) = outage.take()
                {
                    raise_alert(journal.as_ref(), o, &stats).await;
                }
            }
            Err(e) => {
                if outage.is_none() {
                    tracing::error!(error = %e, queued = backlog.len(), "ledger write failed; keeping events and retrying");
                    outage = Some(Outage {
                        since: jiff::Timestamp::now(),
                        late: Vec::new(),
                        late_count: 0,
                        dropped_before: stats.dropped.load(Ordering::Relaxed),
                    });
                }
                if closed {
                    stats
                        .dropped
                        .fetch_add(backlog.len() as u64, Ordering::Relaxed);
                    tracing::error!(
                        events = backlog.len(),
                        "shutting down with events the ledger refused"
                    );
                    return;
                }
                // Take what arrived meanwhile so the channel does not grow unseen, then cap.
                while let Ok(msg) = rx.try_recv() {
                    match msg {
                        Msg::Events(events) => backlog.extend(events),
                        Msg::Close => {
                            closed = true;
                            rx.close();
                        }
                    }
                }
                let excess = backlog.len().saturating_sub(BACKLOG_LIMIT);
                if excess > 0 {
                    backlog.drain(..excess);
                    stats.dropped.fetch_add(excess as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
        stats.backlog.store(backlog.len() as u64, Ordering::Relaxed);
    }
}

async fn raise_alert(journal: &dyn Journal, outage: Outage, stats: &RecorderStats) {
    let dropped = stats.dropped.load(Ordering::Relaxed) - outage.dropped_before;
    let until = jiff::Timestamp::now();
    let alert = Alert {
        alert_id: Uuid::now_v7(),
        rule_id: LEDGER_ALERT_RULE.into(),
        title: "The gateway could not write to the ledger for a while".into(),
        severity: if dropped > 0 {
            Severity::Critical
        } else {
            Severity::High
        },
        state: AlertState::Open,
        evidence: outage.late,
        by: Some("gateway".into()),
        reason: Some(format!(
            "ledger writes failed from {} to {until}: {} events were written late, {dropped} were lost",
            outage.since, outage.late_count
        )),
    };
    let event = Event::new(alert);
    tracing::warn!(
        late = outage.late_count,
        dropped,
        "ledger writable again; raising an alert"
    );
    if let Err(e) = journal.append(std::slice::from_ref(&event)).await {
        tracing::error!(error = %e, "the ledger-outage alert could not be written");
    }
}
