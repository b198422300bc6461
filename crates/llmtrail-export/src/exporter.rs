//! The running exporter: one buffer-writer thread for all sinks and one delivery thread per
//! sink.
//!
//! ```text
//! journal append ─submit()─▶ bounded channel ─▶ writer thread ─render─▶ DiskBuffer per sink
//!   (never waits)                                                       │
//!                                 delivery thread per sink ◀── read ────┘
//!                                     send ▶ ack (or back off and resend the same batch)
//! ```
//!
//! Contract:
//! - [`Exporter::submit`] never blocks: when the channel is full (the writer is stuck on a
//!   failing disk), the records are dropped, counted and logged. The channel is the only
//!   memory queue; everything past it is on disk.
//! - Each sink renders its own format in the writer thread, so its buffer holds exactly the
//!   bytes it will send.
//! - A delivery thread sends the oldest unacknowledged batch until it succeeds, waiting
//!   `retry.initial_ms`, then twice as long each time up to `retry.max_ms`; it acknowledges
//!   only delivered batches, so delivery resumes after an outage and after a restart.
//! - When a buffer is full, records are dropped by its `when_full` policy, counted, logged, and
//!   reported to the `on_overflow` hook (at most once a minute per sink), which `serve` turns
//!   into an `alert` event.
//! - [`Exporter::close`] writes everything submitted so far to the buffers, then stops the
//!   delivery threads (undelivered records stay on disk for the next start).
//! - After a crash, events appended to the ledger but not yet written to a buffer are found
//!   again: each buffer remembers the highest ledger index it was given
//!   ([`DiskBuffer::high_water`]), [`Exporter::catch_up_from`] says where to start reading the
//!   ledger, and [`Exporter::catch_up`] writes to each buffer only the records above its own
//!   mark. A sink that never held a record starts with the events appended after it was
//!   configured, not with the ledger's history. Appends complete slightly out of index order
//!   under concurrency, so a crash can still lose an event whose index is below one that was
//!   buffered before it.
//! - An escalation sink ([`Exporter::set_escalation_sinks`], `alerts.escalation_sinks`)
//!   receives only the records whose event names it in the tag [`ROUTES_TAG`] (alerts routed
//!   to it by the alert engine); every other sink receives every record.
//! - llmtrail's own logs name sinks, counts and errors, never record contents.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::buffer::{BufferError, DiskBuffer};
use crate::config::{Common, ConfigError, ExportConfig, Format, SinkConfig};
use crate::transport::{
    BulkTransport, FileTransport, HecTransport, OtlpTransport, SendError, SyslogTransport,
    Transport, WebhookTransport,
};
use crate::{Record, cef, ecs, json, ocsf, otlp, slack, syslog};

/// Errors starting the exporter.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A sink is misconfigured.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A sink's buffer cannot be opened.
    #[error(transparent)]
    Buffer(#[from] BufferError),
    /// A sink's transport cannot be set up (TLS roots, server name).
    #[error("export sink {name}: {source}")]
    Transport {
        /// The sink.
        name: String,
        /// The error.
        source: SendError,
    },
    /// A thread could not start.
    #[error("export thread: {0}")]
    Thread(std::io::Error),
}

/// Called with a sink's name and the number of records just dropped because its buffer was
/// full.
pub type OverflowHook = Box<dyn Fn(&str, u64) + Send + Sync>;

/// How a sink turns a record into the bytes it sends.
#[derive(Debug)]
enum Renderer {
    Line(Format),
    Syslog {
        header: syslog::Header,
        format: Format,
    },
    Hec {
        fields: ecs::HecFields,
        format: Format,
    },
    Bulk {
        index: String,
    },
    OtlpLog,
}

fn line(format: Format, record: &Record) -> String {
    match format {
        Format::Cef => cef::render(record),
        Format::Json => json::render(record),
        Format::Ocsf => ocsf::render(record),
        Format::Slack => slack::line(record),
    }
}

impl Renderer {
    fn render(&self, record: &Record) -> Vec<u8> {
        match self {
            Renderer::Line(format) => line(*format, record).into_bytes(),
            Renderer::Syslog { header, format } => {
                syslog::message(header, record, &line(*format, record)).into_bytes()
            }
            Renderer::Hec { fields, format } => {
                let payload = match format {
                    Format::Ocsf => ocsf::value(record),
                    _ => json::value(record),
                };
                ecs::hec_event(fields, record, payload).into_bytes()
            }
            Renderer::Bulk { index } => ecs::bulk_item(index, record).into_bytes(),
            Renderer::OtlpLog => otlp::log_record(record).into_bytes(),
        }
    }
}

/// Figures about one sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Records delivered since start.
    pub delivered: u64,
    /// Records waiting in the disk buffer.
    pub pending_records: u64,
    /// Bytes waiting in the disk buffer.
    pub pending_bytes: u64,
    /// Records dropped because the buffer was full or could not be written.
    pub dropped: u64,
    /// Failed delivery attempts since start.
    pub failures: u64,
    /// Ledger index of the last record delivered since start, if any.
    pub last_delivered_index: Option<u64>,
}

/// What the writer thread receives.
enum Msg {
    /// Records just appended.
    Live(Vec<Record>),
    /// Records read back from the ledger at startup; each sink keeps those above its mark.
    CatchUp(Vec<Record>),
}

#[derive(Debug)]
struct Sink {
    name: String,
    buffer: Arc<DiskBuffer>,
    /// Catch-up records at or below this index are already in (or through) the buffer;
    /// `u64::MAX` for a sink that never held a record.
    caught_up_to: u64,
    renderer: Renderer,
    delivered: AtomicU64,
    /// One past the ledger index of the last record delivered (0: none yet).
    delivered_through: AtomicU64,
    failures: AtomicU64,
    write_failed: AtomicU64,
    last_alert: Mutex<Option<Instant>>,
    /// An escalation sink: it receives only the records routed to it (`ROUTES_TAG`).
    escalation: AtomicBool,
}

/// The running exporter.
pub struct Exporter {
    tx: Mutex<Option<mpsc::SyncSender<Msg>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    deliverers: Mutex<Vec<JoinHandle<()>>>,
    sinks: Vec<Arc<Sink>>,
    stop: Arc<AtomicBool>,
    channel_dropped: AtomicU64,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exporter")
            .field("sinks", &self.sinks.len())
            .finish_non_exhaustive()
    }
}

/// This machine's host name, for the syslog HOSTNAME field.
fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn build(
    common: &Common,
    sink: &SinkConfig,
) -> Result<(Renderer, Box<dyn Transport>), ExportError> {
    let err = |source| ExportError::Transport {
        name: common.name.clone(),
        source,
    };
    Ok(match sink {
        SinkConfig::Syslog(s) => {
            let host = s.hostname.clone().unwrap_or_else(hostname);
            (
                Renderer::Syslog {
                    header: syslog::Header::new(s.facility, &host, &s.sd_id),
                    format: s.format,
                },
                Box::new(SyslogTransport::new(s).map_err(err)?),
            )
        }
        SinkConfig::File(f) => (
            Renderer::Line(f.format),
            Box::new(FileTransport::new(
                f.path.clone(),
                f.max_file_bytes,
                f.keep_files,
            )),
        ),
        SinkConfig::Webhook(w) => (Renderer::Line(w.format), Box::new(WebhookTransport::new(w))),
        SinkConfig::SplunkHec(h) => (
            Renderer::Hec {
                fields: ecs::HecFields {
                    host: h.host.clone().unwrap_or_else(hostname),
                    source: h.source.clone(),
                    sourcetype: h.sourcetype.clone(),
                    index: h.index.clone(),
                },
                format: h.format,
            },
            Box::new(HecTransport::new(h)),
        ),
        SinkConfig::Elasticsearch(e) => (
            Renderer::Bulk {
                index: e.index.clone(),
            },
            Box::new(BulkTransport::new(e)),
        ),
        SinkConfig::OtlpLogs(o) => (Renderer::OtlpLog, Box::new(OtlpTransport::new(o))),
    })
}

impl Exporter {
    /// Opens every sink's buffer under `<data_dir>/export/<name>/` and starts the threads.
    /// With no sinks configured it starts nothing and [`Exporter::submit`] does nothing.
    ///
    /// # Errors
    /// [`ExportError`] naming the sink whose configuration, buffer or transport is unusable.
    pub fn start(
        cfg: &ExportConfig,
        data_dir: &Path,
        on_overflow: Option<OverflowHook>,
    ) -> Result<Arc<Exporter>, ExportError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut sinks = Vec::new();
        let mut deliverers = Vec::new();
        for (common, sink_cfg) in cfg.validate()? {
            let buffer = Arc::new(DiskBuffer::open(
                &data_dir.join("export").join(&common.name),
                common.buffer,
            )?);
            let (renderer, transport) = build(&common, &sink_cfg)?;
            let pending = buffer.pending_records();
            if pending > 0 {
                tracing::info!(
                    sink = %common.name,
                    pending,
                    "export: resuming delivery of buffered records"
                );
            }
            let caught_up_to = buffer.high_water().unwrap_or(u64::MAX);
            let sink = Arc::new(Sink {
                name: common.name.clone(),
                caught_up_to,
                buffer,
                renderer,
                delivered: AtomicU64::new(0),
                delivered_through: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                write_failed: AtomicU64::new(0),
                last_alert: Mutex::new(None),
                escalation: AtomicBool::new(false),
            });
            let handle = {
                let sink = Arc::clone(&sink);
                let stop = Arc::clone(&stop);
                std::thread::Builder::new()
                    .name(format!("llmtrail-export-{}", common.name))
                    .spawn(move || deliver(&sink, transport, &common, &stop))
                    .map_err(ExportError::Thread)?
            };
            deliverers.push(handle);
            sinks.push(sink);
        }
        let (tx, writer) = if sinks.is_empty() {
            (None, None)
        } else {
            let (tx, rx) = mpsc::sync_channel::<Msg>(cfg.queue.max(1));
            let writer_sinks = sinks.clone();
            let handle = std::thread::Builder::new()
                .name("llmtrail-export-writer".into())
                .spawn(move || write_buffers(&rx, &writer_sinks, on_overflow.as_ref()))
                .map_err(ExportError::Thread)?;
            (Some(tx), Some(handle))
        };
        Ok(Arc::new(Exporter {
            tx: Mutex::new(tx),
            writer: Mutex::new(writer),
            deliverers: Mutex::new(deliverers),
            sinks,
            stop,
            channel_dropped: AtomicU64::new(0),
        }))
    }

    /// Tells whether any sink is configured.
    #[must_use]
    pub fn is_active(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Makes the named sinks escalation sinks: from now on they receive only the records whose
    /// event tag [`ROUTES_TAG`] names them (alerts routed to them), not every event. Returns
    /// the names that match no sink.
    pub fn set_escalation_sinks(&self, names: &[String]) -> Vec<String> {
        for s in &self.sinks {
            if names.contains(&s.name) {
                s.escalation.store(true, Ordering::SeqCst);
            }
        }
        names
            .iter()
            .filter(|n| !self.sinks.iter().any(|s| &s.name == *n))
            .cloned()
            .collect()
    }

    /// Queues records for every sink; never blocks.
    pub fn submit(&self, records: Vec<Record>) {
        if records.is_empty() || self.sinks.is_empty() {
            return;
        }
        let n = records.len() as u64;
        let sent = match self.tx.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => tx.try_send(Msg::Live(records)).is_ok(),
                None => false,
            },
            Err(_) => false,
        };
        if !sent {
            let before = self.channel_dropped.fetch_add(n, Ordering::Relaxed);
            if before == 0 || before / 10_000 != (before + n) / 10_000 {
                tracing::warn!(
                    dropped = before + n,
                    "export queue full or closed; records not exported"
                );
            }
        }
    }

    /// The first ledger index that some sink may be missing after a crash: one past the
    /// lowest mark among sinks that held records. `None` when no sink can be missing any.
    #[must_use]
    pub fn catch_up_from(&self) -> Option<u64> {
        self.sinks
            .iter()
            .map(|s| s.caught_up_to)
            .filter(|&m| m != u64::MAX)
            .min()
            .map(|m| m + 1)
    }

    /// Hands records read back from the ledger to the buffers; each sink keeps only those
    /// above its mark. Waits for room in the queue (startup only, before any append).
    pub fn catch_up(&self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let tx = self.tx.lock().ok().and_then(|tx| tx.clone());
        if let Some(tx) = tx {
            let _ = tx.send(Msg::CatchUp(records));
        }
    }

    /// Figures per sink.
    #[must_use]
    pub fn stats(&self) -> Vec<SinkStats> {
        self.sinks
            .iter()
            .map(|s| SinkStats {
                name: s.name.clone(),
                delivered: s.delivered.load(Ordering::Relaxed),
                pending_records: s.buffer.pending_records(),
                pending_bytes: s.buffer.pending_bytes(),
                dropped: s.buffer.dropped() + s.write_failed.load(Ordering::Relaxed),
                failures: s.failures.load(Ordering::Relaxed),
                last_delivered_index: s.delivered_through.load(Ordering::Relaxed).checked_sub(1),
            })
            .collect()
    }

    /// Records dropped before reaching any buffer (the channel was full).
    #[must_use]
    pub fn queue_dropped(&self) -> u64 {
        self.channel_dropped.load(Ordering::Relaxed)
    }

    /// Writes everything submitted so far to the buffers, then stops delivery, waiting up to
    /// `grace` for batches in flight. Blocking: call it off the async runtime.
    pub fn close(&self, grace: Duration) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        if let Some(writer) = self.writer.lock().ok().and_then(|mut w| w.take()) {
            let _ = writer.join();
        }
        self.stop.store(true, Ordering::SeqCst);
        for s in &self.sinks {
            s.buffer.close();
        }
        let handles = self
            .deliverers
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        let deadline = Instant::now() + grace;
        for h in handles {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        for s in self.stats() {
            tracing::info!(
                sink = %s.name,
                delivered = s.delivered,
                pending = s.pending_records,
                dropped = s.dropped,
                "export sink stopped"
            );
        }
    }
}

/// The writer thread: renders each batch for every sink and appends it to the sink's buffer.
fn write_buffers(
    rx: &mpsc::Receiver<Msg>,
    sinks: &[Arc<Sink>],
    on_overflow: Option<&OverflowHook>,
) {
    while let Ok(msg) = rx.recv() {
        let (mut batch, catch_up) = match msg {
            Msg::Live(b) => (b, false),
            Msg::CatchUp(b) => (b, true),
        };
        while !catch_up && batch.len() < 4096 {
            match rx.try_recv() {
                Ok(Msg::Live(more)) => batch.extend(more),
                Ok(Msg::CatchUp(more)) => {
                    // Not at runtime (catch-up runs before the first append); keep it simple.
                    write_all(&more, true, sinks, on_overflow);
                }
                Err(_) => break,
            }
        }
        write_all(&batch, catch_up, sinks, on_overflow);
    }
}

fn write_all(
    batch: &[Record],
    catch_up: bool,
    sinks: &[Arc<Sink>],
    on_overflow: Option<&OverflowHook>,
) {
    for sink in sinks {
        let escalation = sink.escalation.load(Ordering::Relaxed);
        let frames: Vec<(u64, Vec<u8>)> = batch
            .iter()
            .filter(|r| !catch_up || (sink.caught_up_to != u64::MAX && r.index > sink.caught_up_to))
            .filter(|r| !escalation || routed_to(r, &sink.name))
            .map(|r| (r.index, sink.renderer.render(r)))
            .collect();
        if frames.is_empty() {
            continue;
        }
        let dropped = match sink.buffer.push(&frames) {
            Ok(n) => n,
            Err(e) => {
                tracing::error!(
                    sink = %sink.name,
                    error = %e,
                    records = frames.len(),
                    "export buffer write failed; records not exported"
                );
                sink.write_failed
                    .fetch_add(frames.len() as u64, Ordering::Relaxed);
                frames.len() as u64
            }
        };
        if dropped > 0 {
            overflow(sink, dropped, on_overflow);
        }
    }
}

/// Event tag listing the sinks an alert is routed to, comma-separated (set by the alert
/// engine).
pub const ROUTES_TAG: &str = "llmtrail.routes";

fn routed_to(r: &Record, sink: &str) -> bool {
    r.event
        .tags
        .get(ROUTES_TAG)
        .is_some_and(|v| v.split(',').any(|s| s == sink))
}

fn overflow(sink: &Sink, dropped: u64, hook: Option<&OverflowHook>) {
    let now = Instant::now();
    let due = match sink.last_alert.lock() {
        Ok(mut last) => {
            let due = last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(60));
            if due {
                *last = Some(now);
            }
            due
        }
        Err(_) => false,
    };
    if due {
        tracing::warn!(
            sink = %sink.name,
            dropped,
            total_dropped = sink.buffer.dropped(),
            "export buffer full; records dropped"
        );
        if let Some(hook) = hook {
            hook(&sink.name, dropped);
        }
    }
}

/// Sleeps `d`, waking early when `stop` is set; returns whether to stop.
fn pause(d: Duration, stop: &AtomicBool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20).min(end - Instant::now()));
    }
    stop.load(Ordering::SeqCst)
}

/// A sink's delivery loop.
fn deliver(sink: &Sink, mut transport: Box<dyn Transport>, common: &Common, stop: &AtomicBool) {
    let initial = Duration::from_millis(common.retry.initial_ms);
    let max = Duration::from_millis(common.retry.max_ms);
    let mut backoff = initial;
    let mut attempts: u64 = 0;
    let mut pos = sink.buffer.acked();
    let mut pending: Option<crate::buffer::Batch> = None;
    while !stop.load(Ordering::SeqCst) {
        let batch = match pending.take() {
            Some(b) => b,
            None => match sink.buffer.read(
                pos,
                common.batch,
                4 * 1024 * 1024,
                Duration::from_millis(500),
            ) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(sink = %sink.name, error = %e, "export buffer unreadable");
                    if pause(max, stop) {
                        return;
                    }
                    continue;
                }
            },
        };
        if batch.records.is_empty() {
            continue;
        }
        let payloads: Vec<Vec<u8>> = batch.records.iter().map(|r| r.1.clone()).collect();
        match transport.send(&payloads) {
            Ok(()) => {
                let n = batch.records.len() as u64;
                if let Err(e) = sink.buffer.ack(batch.end, n) {
                    tracing::error!(
                        sink = %sink.name,
                        error = %e,
                        "export position not saved; records may be sent again after a restart"
                    );
                }
                pos = batch.end;
                sink.delivered.fetch_add(n, Ordering::Relaxed);
                if let Some(last) = batch.records.last() {
                    sink.delivered_through
                        .fetch_max(last.0.saturating_add(1), Ordering::Relaxed);
                }
                if attempts > 0 {
                    tracing::info!(
                        sink = %sink.name,
                        after_attempts = attempts,
                        "export delivery resumed"
                    );
                }
                attempts = 0;
                backoff = initial;
            }
            Err(e) => {
                attempts += 1;
                sink.failures.fetch_add(1, Ordering::Relaxed);
                // First failure and then every tenth, so an outage does not flood the log.
                if attempts == 1 || attempts.is_multiple_of(10) {
                    tracing::warn!(
                        sink = %sink.name,
                        error = %e,
                        attempts,
                        retry_in_ms = backoff.as_millis() as u64,
                        first_index = batch.records.first().map_or(0, |r| r.0),
                        "export delivery failed; will retry"
                    );
                }
                pending = Some(batch);
                if pause(backoff, stop) {
                    return;
                }
                backoff = (backoff * 2).min(max);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::net::TcpListener;

    use super::*;
    use crate::testdata;

    fn config(text: &str) -> ExportConfig {
        #[derive(serde::Deserialize)]
        struct F {
            export: ExportConfig,
        }
        toml::from_str::<F>(text).unwrap().export
    }

    fn wait_for(mut f: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(Instant::now() < end, "timed out");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn file_sink_receives_every_record_with_index_and_leaf_hash() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("events.jsonl");
        let cfg = config(&format!(
            "[[export.sinks]]\ntype = \"file\"\npath = \"{}\"\n",
            out.display()
        ));
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        ex.submit(vec![testdata::request(0, "u"), testdata::response(1)]);
        ex.submit(vec![testdata::finding(2, "x")]);
        wait_for(|| ex.stats()[0].delivered == 3);
        ex.close(Duration::from_secs(1));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        for (i, l) in lines.iter().enumerate() {
            assert_eq!(l["index"], i);
            assert_eq!(l["leaf_hash"], hex::encode([i as u8; 32]));
        }
    }

    #[test]
    fn escalation_sinks_get_only_what_is_routed_to_them() {
        let dir = tempfile::tempdir().unwrap();
        let (all, pager) = (dir.path().join("all.jsonl"), dir.path().join("pager.jsonl"));
        let cfg = config(&format!(
            "[[export.sinks]]\ntype = \"file\"\nname = \"all\"\npath = \"{}\"\n\
             [[export.sinks]]\ntype = \"file\"\nname = \"pager\"\npath = \"{}\"\n",
            all.display(),
            pager.display()
        ));
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        assert_eq!(
            ex.set_escalation_sinks(&["pager".into(), "nope".into()]),
            ["nope"]
        );
        let mut routed = testdata::finding(2, "x");
        routed
            .event
            .tags
            .insert(ROUTES_TAG.into(), "soc,pager".into());
        let mut elsewhere = testdata::finding(3, "x");
        elsewhere
            .event
            .tags
            .insert(ROUTES_TAG.into(), "pagerduty".into());
        ex.submit(vec![testdata::request(0, "u"), testdata::response(1)]);
        ex.submit(vec![routed, elsewhere]);
        wait_for(|| ex.stats()[0].delivered == 4 && ex.stats()[1].delivered == 1);
        ex.close(Duration::from_secs(1));
        let pager = std::fs::read_to_string(&pager).unwrap();
        assert_eq!(pager.lines().count(), 1);
        assert!(pager.contains("\"index\":2"), "{pager}");
    }

    #[test]
    fn syslog_sink_survives_an_outage_without_loss() {
        // Reserve a port, then close it: the receiver is down at first.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&format!(
            "[[export.sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nprotocol = \"tcp\"\nformat = \"cef\"\nretry = {{ initial_ms = 20, max_ms = 100 }}\n"
        ));
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        for i in 0..20 {
            ex.submit(vec![testdata::request(i, "u")]);
        }
        wait_for(|| ex.stats()[0].failures > 0);
        assert_eq!(ex.stats()[0].delivered, 0);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (conn, _) = listener.accept().unwrap();
        let mut r = BufReader::new(conn);
        let mut indexes = Vec::new();
        while indexes.len() < 20 {
            let mut len = Vec::new();
            r.read_until(b' ', &mut len).unwrap();
            let n: usize = std::str::from_utf8(&len).unwrap().trim().parse().unwrap();
            let mut msg = vec![0; n];
            std::io::Read::read_exact(&mut r, &mut msg).unwrap();
            let msg = String::from_utf8(msg).unwrap();
            let p = crate::syslog::tests::parse(&msg).unwrap();
            indexes.push(p.params["index"].parse::<u64>().unwrap());
            assert!(p.msg.starts_with("CEF:0|llmtrail|"));
        }
        assert_eq!(indexes, (0..20).collect::<Vec<_>>());
        wait_for(|| ex.stats()[0].delivered == 20);
        ex.close(Duration::from_secs(1));
    }

    #[test]
    fn undelivered_records_survive_a_restart() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&format!(
            "[[export.sinks]]\ntype = \"syslog\"\nname = \"siem\"\naddress = \"127.0.0.1:{port}\"\nretry = {{ initial_ms = 20, max_ms = 50 }}\n"
        ));
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        ex.submit((0..5).map(|i| testdata::request(i, "u")).collect());
        ex.close(Duration::from_millis(200));
        assert_eq!(ex.stats()[0].pending_records, 5);
        drop(ex);
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        let (conn, _) = listener.accept().unwrap();
        wait_for(|| ex.stats()[0].delivered == 5);
        ex.close(Duration::from_secs(1));
        drop(conn);
    }

    #[test]
    fn catch_up_fills_each_sink_from_its_own_mark() {
        let dir = tempfile::tempdir().unwrap();
        let out_a = dir.path().join("a.jsonl");
        let out_b = dir.path().join("b.jsonl");
        let text = format!(
            "[[export.sinks]]\ntype = \"file\"\nname = \"a\"\npath = \"{}\"\n",
            out_a.display()
        );
        let cfg = config(&text);
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        assert_eq!(
            ex.catch_up_from(),
            None,
            "a new sink has nothing to catch up"
        );
        ex.submit((0..4).map(|i| testdata::request(i, "u")).collect());
        wait_for(|| ex.stats()[0].delivered == 4);
        ex.close(Duration::from_secs(1));
        drop(ex);
        // Sink b is new; sink a has seen up to index 3.
        let cfg = config(&format!(
            "{text}[[export.sinks]]\ntype = \"file\"\nname = \"b\"\npath = \"{}\"\n",
            out_b.display()
        ));
        let ex = Exporter::start(&cfg, dir.path(), None).unwrap();
        assert_eq!(ex.catch_up_from(), Some(4));
        ex.catch_up((2..7).map(|i| testdata::request(i, "u")).collect());
        wait_for(|| ex.stats()[0].delivered == 3);
        ex.close(Duration::from_secs(1));
        let indexes = |p: &Path| -> Vec<u64> {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["index"]
                        .as_u64()
                        .unwrap()
                })
                .collect()
        };
        assert_eq!(indexes(&out_a), vec![0, 1, 2, 3, 4, 5, 6]);
        assert!(indexes(&out_b).is_empty());
    }

    #[test]
    fn a_full_buffer_drops_counts_and_calls_the_hook() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(&format!(
            "[[export.sinks]]\ntype = \"syslog\"\nname = \"s\"\naddress = \"127.0.0.1:{port}\"\nbuffer = {{ max_bytes = 65536, segment_bytes = 8192 }}\n"
        ));
        let seen = Arc::new(AtomicU64::new(0));
        let hook_seen = Arc::clone(&seen);
        let hook: OverflowHook = Box::new(move |name, n| {
            assert_eq!(name, "s");
            hook_seen.fetch_add(n, Ordering::SeqCst);
        });
        let ex = Exporter::start(&cfg, dir.path(), Some(hook)).unwrap();
        for i in 0..400 {
            ex.submit(vec![testdata::request(i, "u")]);
        }
        ex.close(Duration::from_millis(100));
        let s = &ex.stats()[0];
        assert!(s.dropped > 0, "{s:?}");
        assert!(s.pending_bytes <= 65536);
        assert_eq!(s.pending_records + s.dropped, 400);
        assert!(seen.load(Ordering::SeqCst) > 0);
    }
}
