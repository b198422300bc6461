//! The detection stage: every event that enters the ledger is scanned, and what is found is
//! appended as `finding` events that point at the exact bytes. The raw event is never edited.
//!
//! Contract:
//! - Scanning runs on its own thread, fed by a bounded queue after each successful append; it
//!   never delays an append or a gateway request. When the queue is full the events are not
//!   scanned, and the count is kept and logged (`llmtrail scan` and a later rescan can cover
//!   them); nothing else is lost.
//! - Texts and locations come from `llmtrail_detect::extract`; rules from the built-in packs
//!   plus `detect.rule_files`; code detectors: exfiltration (with `detect.exfil_allow_domains`),
//!   canaries (`detect.canaries`), invisible text. A response whose request was seen recently
//!   is also compared with that request's system prompt (reproduced system prompts).
//! - MCP tool catalogues (`tools/list` logged by the MCP proxies) are compared with the last
//!   one seen for their server (`crate::catalogue`): a change is a rug-pull finding.
//! - Findings are appended in one batch per scanned batch, through the same journal as
//!   everything else (so they are linked to their events).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use llmtrail_core::{Body, Event, Part};
use llmtrail_detect::extract;
use llmtrail_detect::{Engine, Input, Role};
use llmtrail_ledger::Journal;
use serde::Deserialize;
use uuid::Uuid;

/// `[detect]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDetect {
    /// Scan every event as it enters the ledger.
    pub enabled: bool,
    /// Extra rule files (TOML, the built-in packs' schema).
    pub rule_files: Vec<PathBuf>,
    /// Domains that may receive data in URLs of outputs (subdomains included).
    pub exfil_allow_domains: Vec<String>,
    /// Canary strings planted in system prompts; seeing one elsewhere is a critical finding.
    pub canaries: Vec<String>,
    /// Batches of events waiting to be scanned before new ones are skipped.
    pub queue: usize,
}

impl Default for RawDetect {
    fn default() -> Self {
        RawDetect {
            enabled: true,
            rule_files: Vec::new(),
            exfil_allow_domains: Vec::new(),
            canaries: Vec::new(),
            queue: 4096,
        }
    }
}

/// Errors starting the detection stage.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// A rule file is invalid (names the file, rule and reason).
    #[error(transparent)]
    Rules(#[from] llmtrail_detect::rules::RuleError),
    /// The canary list cannot be compiled.
    #[error("detect.canaries: {0}")]
    Canaries(String),
    /// The scanner thread could not start.
    #[error("detection thread: {0}")]
    Thread(std::io::Error),
}

/// Builds the scanner for `cfg`: built-in packs, the user's rule files, code detectors.
///
/// # Errors
/// [`DetectError`] naming the bad file or setting.
pub fn build_engine(cfg: &RawDetect) -> Result<Engine, DetectError> {
    let mut engine = Engine::with_files(&cfg.rule_files)?;
    engine.add_detector(Box::new(llmtrail_detect::exfil::Exfiltration::new(
        cfg.exfil_allow_domains.iter().cloned(),
    )));
    let canaries = llmtrail_detect::leak::Canaries::new(&cfg.canaries)
        .map_err(|e| DetectError::Canaries(e.to_string()))?;
    engine.add_detector(Box::new(canaries));
    engine.add_detector(Box::new(llmtrail_detect::invisible::InvisibleText));
    Ok(engine)
}

/// Scans one event; returns its findings. `systems` remembers recent system prompts by
/// request id so that responses can be compared with them.
pub fn scan_event(engine: &Engine, event: &Event, systems: &mut SystemPrompts) -> Vec<Event> {
    let texts = extract::texts(event);
    let mut findings = Vec::new();
    for t in &texts {
        for hit in engine.scan(&Input {
            text: &t.text,
            role: t.role,
        }) {
            findings.push(extract::finding_event(event, t, &hit));
        }
    }
    match &event.body {
        Body::LlmRequest(r) => {
            let system: Vec<&str> = r
                .system_instructions
                .iter()
                .filter_map(|p| match p {
                    Part::Text { content } => Some(content.as_str()),
                    _ => None,
                })
                .chain(
                    r.messages
                        .iter()
                        .filter(|m| Role::parse(&m.role) == Some(Role::System))
                        .flat_map(|m| &m.parts)
                        .filter_map(|p| match p {
                            Part::Text { content } => Some(content.as_str()),
                            _ => None,
                        }),
                )
                .collect();
            if !system.is_empty() {
                systems.remember(event.id, system.join("\n"));
            }
        }
        Body::LlmResponse(r) => {
            if let Some(system) = r.request_id.and_then(|id| systems.get(&id)) {
                for t in texts.iter().filter(|t| t.role == Role::Assistant) {
                    if let Some(hit) = llmtrail_detect::leak::system_prompt_overlap(system, &t.text)
                    {
                        findings.push(extract::finding_event(event, t, &hit));
                    }
                }
            }
        }
        _ => {}
    }
    findings
}

/// Recent system prompts by request id, bounded (oldest first out).
#[derive(Debug, Default)]
pub struct SystemPrompts {
    by_id: HashMap<Uuid, String>,
    order: VecDeque<Uuid>,
}

impl SystemPrompts {
    const CAP: usize = 10_000;

    fn remember(&mut self, id: Uuid, text: String) {
        if self.by_id.insert(id, text).is_none() {
            self.order.push_back(id);
        }
        while self.order.len() > Self::CAP {
            if let Some(old) = self.order.pop_front() {
                self.by_id.remove(&old);
            }
        }
    }

    fn get(&self, id: &Uuid) -> Option<&str> {
        self.by_id.get(id).map(String::as_str)
    }
}

/// The running stage.
#[derive(Debug)]
pub struct Detection {
    tx: mpsc::SyncSender<Vec<Event>>,
    skipped: AtomicU64,
}

impl Detection {
    /// Starts the scanner thread; findings are appended through `journal` on `runtime`.
    ///
    /// # Errors
    /// [`DetectError::Thread`] when the thread cannot start.
    pub fn start(
        engine: Arc<Engine>,
        journal: Arc<dyn Journal>,
        runtime: tokio::runtime::Handle,
        queue: usize,
        data_dir: &std::path::Path,
    ) -> Result<Arc<Detection>, DetectError> {
        let mut catalogues = crate::catalogue::Catalogues::load(data_dir);
        let (tx, rx) = mpsc::sync_channel::<Vec<Event>>(queue.max(1));
        std::thread::Builder::new()
            .name("llmtrail-detect".into())
            .spawn(move || {
                let mut systems = SystemPrompts::default();
                for batch in rx {
                    let mut findings: Vec<Event> = batch
                        .iter()
                        .flat_map(|e| scan_event(&engine, e, &mut systems))
                        .collect();
                    findings.extend(batch.iter().filter_map(|e| catalogues.observe(e)));
                    if findings.is_empty() {
                        continue;
                    }
                    if let Err(e) = runtime.block_on(journal.append(&findings)) {
                        tracing::error!(error = %e, findings = findings.len(), "findings could not be written");
                    }
                }
            })
            .map_err(DetectError::Thread)?;
        Ok(Arc::new(Detection {
            tx,
            skipped: AtomicU64::new(0),
        }))
    }

    /// Queues appended events for scanning; never blocks.
    pub fn submit(&self, events: &[Event]) {
        let batch: Vec<Event> = events
            .iter()
            .filter(|e| {
                matches!(
                    e.body,
                    Body::LlmRequest(_) | Body::LlmResponse(_) | Body::ToolCall(_)
                )
            })
            .cloned()
            .collect();
        if batch.is_empty() {
            return;
        }
        let n = batch.len() as u64;
        if let Err(mpsc::TrySendError::Full(_) | mpsc::TrySendError::Disconnected(_)) =
            self.tx.try_send(batch)
        {
            let before = self.skipped.fetch_add(n, Ordering::Relaxed);
            // Say it on the first skip and then every 10,000, not on every event.
            if before == 0 || before / 10_000 != (before + n) / 10_000 {
                tracing::warn!(
                    skipped = before + n,
                    "detection is behind; events left unscanned"
                );
            }
        }
    }

    /// Events left unscanned because the queue was full.
    #[must_use]
    pub fn skipped(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }
}
