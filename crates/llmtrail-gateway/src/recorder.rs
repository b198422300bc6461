//! The recorder: appends events that nobody waits for (responses, and requests in permissive
//! mode) in batches, and keeps them while the ledger cannot be written.
//!
//! Contract:
//! - Events sent here are appended in the order sent, many per append (one group commit).
//! - When an append fails the events are kept in memory (up to [`BACKLOG_LIMIT`] events and
//!   about [`BACKLOG_BYTES`] of content; the oldest beyond either are dropped and counted) and
//!   retried every [`RETRY_EVERY`]. Once the
//!   ledger takes them again, one `alert` event says how many events were written late, how
//!   many were lost, and between which times, with the late events' ids as evidence.
//! - [`RecorderTask::close`] writes what is left, retrying for up to [`CLOSE_GRACE`] if the
//!   ledger refuses, and returns.

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
/// How long shutdown keeps retrying events the ledger refuses before counting them lost.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Most content bytes (raw bodies, roughly) kept while the ledger cannot be written.
pub const BACKLOG_BYTES: usize = 256 * 1024 * 1024;
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
    let mut close_deadline: Option<tokio::time::Instant> = None;
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
                    let deadline = *close_deadline
                        .get_or_insert_with(|| tokio::time::Instant::now() + CLOSE_GRACE);
                    if tokio::time::Instant::now() >= deadline {
                        stats
                            .dropped
                            .fetch_add(backlog.len() as u64, Ordering::Relaxed);
                        tracing::error!(
                            events = backlog.len(),
                            "shutting down with events the ledger refused"
                        );
                        return;
                    }
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
                let mut excess = backlog.len().saturating_sub(BACKLOG_LIMIT);
                let mut bytes: usize = backlog.iter().map(approx_size).sum();
                for e in backlog.iter().skip(excess) {
                    if bytes <= BACKLOG_BYTES {
                        break;
                    }
                    bytes -= approx_size(e);
                    excess += 1;
                }
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

/// Roughly what an event holds in memory: its raw bodies twice (raw and parsed) plus a little.
fn approx_size(event: &Event) -> usize {
    let raw = match &event.body {
        llmtrail_core::Body::LlmRequest(r) => r.raw.as_ref().map_or(0, String::len),
        llmtrail_core::Body::LlmResponse(r) => r.raw.as_ref().map_or(0, String::len),
        _ => 0,
    };
    2 * raw + 512
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    use llmtrail_core::{Body, LlmRequest};
    use llmtrail_ledger::LedgerError;
    use llmtrail_ledger::journal::AppendFuture;

    use super::*;

    /// A journal that refuses the first `fail` appends, then keeps what it is given.
    #[derive(Default)]
    struct Flaky {
        fail: AtomicUsize,
        kept: Mutex<Vec<Event>>,
    }

    impl Journal for Flaky {
        fn append<'a>(&'a self, events: &'a [Event]) -> AppendFuture<'a> {
            Box::pin(async move {
                let left = self.fail.load(Ordering::SeqCst);
                if left > 0 {
                    self.fail.store(left - 1, Ordering::SeqCst);
                    return Err(LedgerError::Failed("disk full".into()));
                }
                self.kept.lock().unwrap().extend_from_slice(events);
                Ok(Vec::new())
            })
        }
    }

    fn request() -> Event {
        Event::new(LlmRequest::new("openai", "gpt-4o"))
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_events_through_an_outage_then_raises_one_alert() {
        let journal = Arc::new(Flaky::default());
        journal.fail.store(3, Ordering::SeqCst);
        let (recorder, task) = Recorder::start(Arc::clone(&journal) as Arc<dyn Journal>);
        let sent: Vec<Event> = (0..5).map(|_| request()).collect();
        for e in &sent {
            recorder.send(vec![e.clone()]);
        }
        task.close(&recorder).await;
        let kept = journal.kept.lock().unwrap();
        let ids: Vec<_> = kept.iter().map(|e| e.id).collect();
        for e in &sent {
            assert!(ids.contains(&e.id), "an event was lost");
        }
        let alerts: Vec<_> = kept
            .iter()
            .filter_map(|e| match &e.body {
                Body::Alert(a) => Some(a),
                _ => None,
            })
            .collect();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].rule_id, LEDGER_ALERT_RULE);
        assert_eq!(alerts[0].evidence.len(), 5);
        assert_eq!(recorder.stats().dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn writes_in_order_without_an_alert_when_all_is_well() {
        let journal = Arc::new(Flaky::default());
        let (recorder, task) = Recorder::start(Arc::clone(&journal) as Arc<dyn Journal>);
        let sent: Vec<Event> = (0..50).map(|_| request()).collect();
        recorder.send(sent.clone());
        task.close(&recorder).await;
        let kept = journal.kept.lock().unwrap();
        assert_eq!(
            kept.iter().map(|e| e.id).collect::<Vec<_>>(),
            sent.iter().map(|e| e.id).collect::<Vec<_>>()
        );
        assert_eq!(recorder.stats().written.load(Ordering::Relaxed), 50);
    }
}
