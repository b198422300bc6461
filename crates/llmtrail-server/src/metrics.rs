//! Prometheus metrics of `serve`, at `GET /metrics` (text exposition format 0.0.4).
//!
//! | metric | labels | what |
//! | --- | --- | --- |
//! | `llmtrail_events_total` | `kind` | events appended to the ledger |
//! | `llmtrail_llm_requests_total` | `provider`, `model` | prompts recorded |
//! | `llmtrail_llm_responses_total` | `provider`, `model`, `status` | answers recorded (`ok`, `error`, `incomplete`) |
//! | `llmtrail_llm_tokens_total` | `provider`, `model`, `direction` | tokens (`input`, `output`) |
//! | `llmtrail_llm_latency_seconds` | `provider`, `model` | histogram of the answers' latency |
//! | `llmtrail_tool_calls_total` | `tool`, `status` | tool calls recorded (`ok`, `error`, `blocked`, `pending`) |
//! | `llmtrail_findings_total` | `category`, `severity` | findings |
//! | `llmtrail_alerts_total` | `severity`, `state` | alert events (raised and state changes) |
//! | `llmtrail_export_queue_records` | `sink` | records waiting in a sink's disk buffer |
//! | `llmtrail_export_lag_records` | `sink` | ledger records not yet delivered to the sink |
//! | `llmtrail_export_delivered_total`, `llmtrail_export_dropped_total`, `llmtrail_export_failures_total` | `sink` | since start |
//! | `llmtrail_prompts_sampled_out_total` | | prompts stored without content by `[sampling]` |
//! | `llmtrail_detection_queued_events` | | events waiting to be scanned |
//! | `llmtrail_detection_deferred_total`, `llmtrail_detection_read_back_total`, `llmtrail_detection_unscanned_total` | | events that did not fit the queue, of those read back and scanned, and events left unscanned |
//! | `llmtrail_ledger_records` | | records in the ledger |
//! | `llmtrail_checkpoint_size`, `llmtrail_checkpoint_age_seconds` | | latest signed checkpoint (its age counted from when this process first saw it: notes carry no time) |
//!
//! Contract:
//! - Counted from the events as they are appended (`crate::links::Indexed`), so the gateway,
//!   the OTLP receiver, the MCP proxies and ingest are counted alike; a response is filed under
//!   its request's provider and model (remembered for the last [`REMEMBERED_REQUESTS`]
//!   requests; older or unknown ones under the response's model and provider `unknown`).
//! - Label values come from clients (model and tool names), so each label keeps at most
//!   [`MAX_LABEL_VALUES`] distinct values; the rest are counted under `other`. The text encoder
//!   escapes what remains, so a hostile name cannot forge a line.
//! - `GET /metrics` needs a token of any role that reads (`viewer` and up) unless
//!   `server.metrics_require_token = false`; it holds no content.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use llmtrail_core::{Body, Event};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use uuid::Uuid;

/// Requests whose provider and model are remembered for their responses.
pub const REMEMBERED_REQUESTS: usize = 65_536;
/// Distinct values kept per client-controlled label.
pub const MAX_LABEL_VALUES: usize = 500;

type Labels = Vec<(&'static str, String)>;

/// Caps the distinct values of one label.
#[derive(Debug, Default)]
struct Bounded {
    seen: Mutex<HashSet<String>>,
}

impl Bounded {
    fn value(&self, v: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return "other".into();
        };
        if seen.contains(v) {
            return v.to_owned();
        }
        if seen.len() >= MAX_LABEL_VALUES {
            return "other".into();
        }
        seen.insert(v.to_owned());
        v.to_owned()
    }
}

#[derive(Debug, Default)]
struct Remembered {
    by_id: HashMap<Uuid, (String, String)>,
    order: VecDeque<Uuid>,
}

/// Figures of the export sinks, as the exporter reports them.
#[derive(Debug, Clone, Default)]
pub struct SinkFigures {
    /// Sink name.
    pub name: String,
    /// Records in its buffer.
    pub queued: u64,
    /// Ledger index of the last record it delivered.
    pub last_delivered_index: Option<u64>,
    /// Delivered since start.
    pub delivered: u64,
    /// Dropped since start.
    pub dropped: u64,
    /// Failed attempts since start.
    pub failures: u64,
}

/// The detection stage's figures at scrape time.
#[derive(Debug, Clone, Default)]
pub struct DetectionFigures {
    /// Events waiting in its queue.
    pub queued: u64,
    /// Events that did not fit the queue, since start.
    pub deferred: u64,
    /// Of those, events read back from the ledger and scanned.
    pub read_back: u64,
    /// Events left unscanned, since start.
    pub unscanned: u64,
}

/// The ledger's figures at scrape time.
#[derive(Debug, Clone, Default)]
pub struct LedgerFigures {
    /// Records in the ledger.
    pub records: u64,
    /// Size of the latest checkpoint.
    pub checkpoint_size: Option<u64>,
    /// Seconds since the latest checkpoint was signed.
    pub checkpoint_age_seconds: Option<f64>,
}

/// The metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    requests: Family<Labels, Counter>,
    responses: Family<Labels, Counter>,
    tokens: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    tools: Family<Labels, Counter>,
    findings: Family<Labels, Counter>,
    alerts: Family<Labels, Counter>,
    export_queue: Family<Labels, Gauge>,
    export_lag: Family<Labels, Gauge>,
    export_delivered: Family<Labels, Counter>,
    export_dropped: Family<Labels, Counter>,
    export_failures: Family<Labels, Counter>,
    ledger_records: Gauge,
    checkpoint_size: Gauge,
    checkpoint_age: Gauge<f64, AtomicU64>,
    models: Bounded,
    providers: Bounded,
    tool_names: Bounded,
    remembered: Mutex<Remembered>,
    /// Last figures seen per sink, to turn the exporter's totals into counter increments.
    sink_totals: Mutex<HashMap<String, (u64, u64, u64)>>,
    sampled: Counter,
    detection_queued: Gauge,
    detection_deferred: Counter,
    detection_read_back: Counter,
    detection_unscanned: Counter,
    detection_seen: Mutex<(u64, u64, u64)>,
    /// Size of the latest checkpoint and when it was first seen.
    checkpoint_seen: Mutex<Option<(u64, Instant)>>,
}

fn latency_histogram() -> Histogram {
    // 5 ms to ~82 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

fn name_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics and registers them.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("llmtrail");
        let m = Self {
            events: Family::default(),
            requests: Family::default(),
            responses: Family::default(),
            tokens: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            tools: Family::default(),
            findings: Family::default(),
            alerts: Family::default(),
            export_queue: Family::default(),
            export_lag: Family::default(),
            export_delivered: Family::default(),
            export_dropped: Family::default(),
            export_failures: Family::default(),
            ledger_records: Gauge::default(),
            checkpoint_size: Gauge::default(),
            checkpoint_age: Gauge::default(),
            models: Bounded::default(),
            providers: Bounded::default(),
            tool_names: Bounded::default(),
            remembered: Mutex::default(),
            sink_totals: Mutex::default(),
            checkpoint_seen: Mutex::default(),
            sampled: Counter::default(),
            detection_queued: Gauge::default(),
            detection_deferred: Counter::default(),
            detection_read_back: Counter::default(),
            detection_unscanned: Counter::default(),
            detection_seen: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register("events", "Events appended to the ledger", m.events.clone());
        registry.register("llm_requests", "Prompts recorded", m.requests.clone());
        registry.register(
            "llm_responses",
            "Model answers recorded",
            m.responses.clone(),
        );
        registry.register("llm_tokens", "Tokens used", m.tokens.clone());
        registry.register(
            "llm_latency_seconds",
            "Latency of model answers",
            m.latency.clone(),
        );
        registry.register("tool_calls", "Tool calls recorded", m.tools.clone());
        registry.register("findings", "Detection findings", m.findings.clone());
        registry.register(
            "alerts",
            "Alert events (raised and state changes)",
            m.alerts.clone(),
        );
        registry.register(
            "export_queue_records",
            "Records waiting in a sink's disk buffer",
            m.export_queue.clone(),
        );
        registry.register(
            "export_lag_records",
            "Ledger records not yet delivered to a sink",
            m.export_lag.clone(),
        );
        registry.register(
            "export_delivered",
            "Records delivered to a sink since start",
            m.export_delivered.clone(),
        );
        registry.register(
            "export_dropped",
            "Records a sink dropped since start (buffer full or unwritable)",
            m.export_dropped.clone(),
        );
        registry.register(
            "export_failures",
            "Failed delivery attempts since start",
            m.export_failures.clone(),
        );
        registry.register(
            "ledger_records",
            "Records in the ledger",
            m.ledger_records.clone(),
        );
        registry.register(
            "checkpoint_size",
            "Tree size of the latest signed checkpoint",
            m.checkpoint_size.clone(),
        );
        registry.register(
            "checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint",
            m.checkpoint_age.clone(),
        );
        registry.register(
            "prompts_sampled_out",
            "Prompts stored without their content by the sampling policy",
            m.sampled.clone(),
        );
        registry.register(
            "detection_queued_events",
            "Events waiting to be scanned",
            m.detection_queued.clone(),
        );
        registry.register(
            "detection_deferred",
            "Events that did not fit the detection queue (read back from the ledger later)",
            m.detection_deferred.clone(),
        );
        registry.register(
            "detection_read_back",
            "Deferred events read back from the ledger and scanned",
            m.detection_read_back.clone(),
        );
        registry.register(
            "detection_unscanned",
            "Events left unscanned",
            m.detection_unscanned.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts appended events.
    pub fn observe(&self, events: &[Event]) {
        for ev in events {
            self.events
                .get_or_create(&vec![("kind", ev.kind().as_str().to_owned())])
                .inc();
            match &ev.body {
                Body::LlmRequest(r) => {
                    let provider = self.providers.value(&r.provider);
                    let model = self.models.value(&r.model);
                    self.requests
                        .get_or_create(&vec![
                            ("provider", provider.clone()),
                            ("model", model.clone()),
                        ])
                        .inc();
                    if let Ok(mut mem) = self.remembered.lock() {
                        if mem.order.len() >= REMEMBERED_REQUESTS
                            && let Some(old) = mem.order.pop_front()
                        {
                            mem.by_id.remove(&old);
                        }
                        mem.order.push_back(ev.id);
                        mem.by_id.insert(ev.id, (provider, model));
                    }
                }
                Body::LlmResponse(r) => {
                    let known = r.request_id.and_then(|id| {
                        self.remembered
                            .lock()
                            .ok()
                            .and_then(|m| m.by_id.get(&id).cloned())
                    });
                    let (provider, model) = known.unwrap_or_else(|| {
                        (
                            "unknown".into(),
                            self.models
                                .value(r.response_model.as_deref().unwrap_or("unknown")),
                        )
                    });
                    let base = vec![("provider", provider), ("model", model)];
                    let mut with_status = base.clone();
                    with_status.push(("status", name_of(&r.status)));
                    self.responses.get_or_create(&with_status).inc();
                    if let Some(ms) = r.latency_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
                        self.latency.get_or_create(&base).observe(ms / 1000.0);
                    }
                    if let Some(u) = &r.usage {
                        for (dir, n) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                            let mut l = base.clone();
                            l.push(("direction", dir.to_owned()));
                            self.tokens.get_or_create(&l).inc_by(n);
                        }
                    }
                }
                Body::ToolCall(t) => {
                    self.tools
                        .get_or_create(&vec![
                            ("tool", self.tool_names.value(&t.name)),
                            ("status", name_of(&t.status)),
                        ])
                        .inc();
                }
                Body::Finding(f) => {
                    self.findings
                        .get_or_create(&vec![
                            ("category", name_of(&f.category)),
                            ("severity", name_of(&f.severity)),
                        ])
                        .inc();
                }
                Body::Alert(a) => {
                    self.alerts
                        .get_or_create(&vec![
                            ("severity", name_of(&a.severity)),
                            ("state", name_of(&a.state)),
                        ])
                        .inc();
                }
                Body::Audit(_) => {}
            }
        }
    }

    /// Counts prompts stored without their content by sampling.
    pub fn sampled_out(&self, n: u64) {
        self.sampled.inc_by(n);
    }

    /// Seconds since the checkpoint of `size` was first seen by this process (checkpoint notes
    /// carry no time: a checkpoint found at startup counts from then).
    pub fn checkpoint_age(&self, size: u64) -> f64 {
        let Ok(mut seen) = self.checkpoint_seen.lock() else {
            return 0.0;
        };
        match *seen {
            Some((s, at)) if s == size => at.elapsed().as_secs_f64(),
            _ => {
                *seen = Some((size, Instant::now()));
                0.0
            }
        }
    }

    /// Renders the text exposition with the current ledger and sink figures.
    #[must_use]
    pub fn render(
        &self,
        ledger: &LedgerFigures,
        sinks: &[SinkFigures],
        detection: Option<&DetectionFigures>,
    ) -> String {
        if let Some(d) = detection {
            self.detection_queued
                .set(i64::try_from(d.queued).unwrap_or(i64::MAX));
            if let Ok(mut seen) = self.detection_seen.lock() {
                self.detection_deferred
                    .inc_by(d.deferred.saturating_sub(seen.0));
                self.detection_read_back
                    .inc_by(d.read_back.saturating_sub(seen.1));
                self.detection_unscanned
                    .inc_by(d.unscanned.saturating_sub(seen.2));
                *seen = (
                    d.deferred.max(seen.0),
                    d.read_back.max(seen.1),
                    d.unscanned.max(seen.2),
                );
            }
        }
        self.ledger_records
            .set(i64::try_from(ledger.records).unwrap_or(i64::MAX));
        self.checkpoint_size.set(
            ledger
                .checkpoint_size
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(0),
        );
        self.checkpoint_age
            .set(ledger.checkpoint_age_seconds.unwrap_or(f64::NAN));
        for s in sinks {
            let l = vec![("sink", s.name.clone())];
            self.export_queue
                .get_or_create(&l)
                .set(i64::try_from(s.queued).unwrap_or(i64::MAX));
            let through = s.last_delivered_index.map_or(0, |i| i.saturating_add(1));
            let lag = if s.queued == 0 {
                0
            } else {
                ledger.records.saturating_sub(through)
            };
            self.export_lag
                .get_or_create(&l)
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
            if let Ok(mut totals) = self.sink_totals.lock() {
                let before = totals.entry(s.name.clone()).or_default();
                self.export_delivered
                    .get_or_create(&l)
                    .inc_by(s.delivered.saturating_sub(before.0));
                self.export_dropped
                    .get_or_create(&l)
                    .inc_by(s.dropped.saturating_sub(before.1));
                self.export_failures
                    .get_or_create(&l)
                    .inc_by(s.failures.saturating_sub(before.2));
                *before = (
                    s.delivered.max(before.0),
                    s.dropped.max(before.1),
                    s.failures.max(before.2),
                );
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{LlmRequest, LlmResponse, ResponseStatus, ToolCall, ToolStatus};

    use super::*;

    fn find<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(prefix)).collect()
    }

    #[test]
    fn responses_are_filed_under_their_requests_model_with_tokens_and_latency() {
        let m = Metrics::new();
        let req = Event::new(LlmRequest::new("openai", "gpt-4o"));
        let mut resp = LlmResponse::new(ResponseStatus::Ok);
        resp.request_id = Some(req.id);
        resp.latency_ms = Some(420.0);
        resp.usage = Some(llmtrail_core::Usage {
            input_tokens: 10,
            output_tokens: 7,
            total_tokens: None,
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
            reasoning_output_tokens: None,
        });
        let resp = Event::new(resp);
        let f: Event = serde_json::from_value(serde_json::json!({"kind": "finding", "body": {
            "event_id": req.id, "category": "secret", "type": "aws_key", "severity": "high",
            "detector": "d"}}))
        .unwrap();
        m.observe(&[
            req,
            resp,
            f,
            Event::new(ToolCall::new("shell", ToolStatus::Blocked)),
        ]);
        let text = m.render(
            &LedgerFigures {
                records: 4,
                checkpoint_size: Some(4),
                checkpoint_age_seconds: Some(0.5),
            },
            &[],
            Some(&DetectionFigures {
                queued: 2,
                deferred: 5,
                read_back: 5,
                unscanned: 0,
            }),
        );
        assert!(
            text.contains("llmtrail_detection_read_back_total 5"),
            "{text}"
        );
        assert!(
            text.contains("llmtrail_detection_queued_events 2"),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_llm_requests_total{provider="openai",model="gpt-4o"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"llmtrail_llm_tokens_total{provider="openai",model="gpt-4o",direction="output"} 7"#), "{text}");
        assert!(
            text.contains(
                r#"llmtrail_llm_latency_seconds_count{provider="openai",model="gpt-4o"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_findings_total{category="secret",severity="high"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_tool_calls_total{tool="shell",status="blocked"} 1"#),
            "{text}"
        );
        assert!(text.contains("llmtrail_ledger_records 4"), "{text}");
        assert!(
            text.contains("llmtrail_checkpoint_age_seconds 0.5"),
            "{text}"
        );
    }

    #[test]
    fn hostile_and_countless_label_values_cannot_forge_lines_or_grow_without_bound() {
        let m = Metrics::new();
        let evil = "m\"} 1\nllmtrail_ledger_records 999\n";
        m.observe(&[Event::new(LlmRequest::new("openai", evil))]);
        for i in 0..(MAX_LABEL_VALUES + 50) {
            m.observe(&[Event::new(LlmRequest::new("openai", format!("model-{i}")))]);
        }
        let text = m.render(&LedgerFigures::default(), &[], None);
        assert_eq!(find(&text, "llmtrail_ledger_records").len(), 1, "{text}");
        assert!(!text.lines().any(|l| l == "llmtrail_ledger_records 999"));
        assert!(
            text.contains(r#"model="m\"} 1\nllmtrail_ledger_records 999\n"}"#),
            "{text}"
        );
        let series = find(&text, "llmtrail_llm_requests_total{");
        assert!(series.len() <= MAX_LABEL_VALUES + 1, "{}", series.len());
        assert!(text.contains(r#"model="other"} 51"#), "{text}");
    }

    #[test]
    fn sink_totals_become_counters_and_lag_counts_undelivered_records() {
        let m = Metrics::new();
        let mut s = SinkFigures {
            name: "soc".into(),
            queued: 3,
            last_delivered_index: Some(6),
            delivered: 7,
            dropped: 0,
            failures: 2,
        };
        let ledger = LedgerFigures {
            records: 10,
            ..LedgerFigures::default()
        };
        let text = m.render(&ledger, std::slice::from_ref(&s), None);
        assert!(
            text.contains(r#"llmtrail_export_lag_records{sink="soc"} 3"#),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_export_delivered_total{sink="soc"} 7"#),
            "{text}"
        );
        s.delivered = 10;
        s.queued = 0;
        let text = m.render(&ledger, &[s], None);
        assert!(
            text.contains(r#"llmtrail_export_delivered_total{sink="soc"} 10"#),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_export_lag_records{sink="soc"} 0"#),
            "{text}"
        );
        assert!(
            text.contains(r#"llmtrail_export_failures_total{sink="soc"} 2"#),
            "{text}"
        );
    }
}
