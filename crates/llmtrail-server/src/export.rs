//! The export stage of `serve`: `[export]` sinks fed with every appended event.
//!
//! Contract:
//! - [`Indexed`](crate::links::Indexed) calls [`submit`] after each successful append with the
//!   events and their receipts, so every exported record carries its ledger index and leaf
//!   hash; findings from detection and the gateway's alerts go through the same journal and
//!   are exported like everything else.
//! - Submitting never waits (see `llmtrail_export::exporter`); delivery runs on the exporter's
//!   own threads with a disk buffer per sink under `<data_dir>/export/<sink>/`.
//! - When a sink's buffer is full and records are dropped, an `alert` event
//!   (`llmtrail.export.buffer_full`) is appended, at most once a minute per sink.
//! - At startup, before the first append, [`catch_up`] reads back from the ledger the events
//!   that a crash kept from reaching the buffers (those above each sink's high-water mark).

use std::path::Path;
use std::sync::{Arc, OnceLock};

use llmtrail_core::{Alert, AlertState, Event, Severity};
use llmtrail_export::{ExportConfig, ExportError, Exporter, Record};
use llmtrail_ledger::Receipt;
use llmtrail_ledger::{Journal, Ledger, LedgerError};
use uuid::Uuid;

/// Rule id of the alert raised when a sink's buffer overflows.
pub const BUFFER_FULL_RULE: &str = "llmtrail.export.buffer_full";

/// Where the overflow alert is appended; set once the journal exists (the journal itself
/// holds the exporter, hence the late binding).
pub type AlertJournal = Arc<OnceLock<Arc<dyn Journal>>>;

/// Starts the sinks of `cfg`; `None` when none is configured.
///
/// # Errors
/// [`ExportError`] naming the sink that cannot start.
pub fn start(
    cfg: &ExportConfig,
    data_dir: &Path,
    alerts: AlertJournal,
    runtime: tokio::runtime::Handle,
) -> Result<Option<Arc<Exporter>>, ExportError> {
    if cfg.sinks.is_empty() {
        return Ok(None);
    }
    let hook = Box::new(move |sink: &str, dropped: u64| {
        let Some(journal) = alerts.get().cloned() else {
            return;
        };
        let alert = Event::new(Alert {
            alert_id: Uuid::now_v7(),
            rule_id: BUFFER_FULL_RULE.into(),
            title: format!("Export sink {sink} dropped records: its buffer is full"),
            severity: Severity::High,
            state: AlertState::Open,
            evidence: Vec::new(),
            by: Some("export".into()),
            reason: Some(format!(
                "the disk buffer of sink {sink} reached buffer.max_bytes; {dropped} records were \
                 dropped by its when_full policy"
            )),
        });
        runtime.spawn(async move {
            if let Err(e) = journal.append(&[alert]).await {
                tracing::error!(error = %e, "export overflow alert could not be written");
            }
        });
    });
    let exporter = Exporter::start(cfg, data_dir, Some(hook))?;
    for s in exporter.stats() {
        tracing::info!(sink = %s.name, pending = s.pending_records, "export sink started");
    }
    Ok(Some(exporter))
}

/// Hands appended events and their receipts to the exporter; never waits.
pub fn submit(exporter: &Exporter, events: &[Event], receipts: &[Receipt]) {
    let records: Vec<Record> = events
        .iter()
        .zip(receipts)
        .filter(|(event, r)| event.id == r.id)
        .map(|(event, r)| Record {
            index: r.index,
            leaf_hash: r.leaf_hash,
            event: event.clone(),
        })
        .collect();
    exporter.submit(records);
}

/// Hands the exporter the ledger's events above the lowest sink mark (see
/// `Exporter::catch_up_from`); returns how many were read back. Blocking.
///
/// # Errors
/// [`LedgerError`] when the ledger cannot be read.
pub fn catch_up(exporter: &Exporter, ledger: &Ledger) -> Result<u64, LedgerError> {
    let Some(from) = exporter.catch_up_from() else {
        return Ok(0);
    };
    if from >= ledger.size() {
        return Ok(0);
    }
    let mut ids = Vec::new();
    ledger.scan_metadata(&mut |index, event| {
        if index >= from {
            ids.push(event.id);
        }
    })?;
    let mut n = 0;
    for chunk in ids.chunks(1024) {
        let mut records = Vec::with_capacity(chunk.len());
        for id in chunk {
            if let Some(stored) = ledger.get(id)? {
                records.push(Record {
                    index: stored.index,
                    leaf_hash: stored.leaf_hash,
                    event: stored.event,
                });
            }
        }
        n += records.len() as u64;
        exporter.catch_up(records);
    }
    tracing::info!(
        from,
        records = n,
        "export: events appended before a crash handed to the sinks"
    );
    Ok(n)
}
