//! Which events point at which: the answer to "what happened because of this request".
//!
//! An event points at another through `llm.response.request_id`, `tool.call.request_id`, the
//! `tool.call` attributes `llmtrail.carried_by` (the request that carried the tool result) and
//! `llmtrail.pending` (an MCP call's record made before it ran),
//! `finding.event_id`, `alert.evidence` and an `audit` event's `target` when it is an event id
//! (a redacted output, a raw read). The map is derived from the ledger: rebuilt from
//! the events' metadata at startup and updated on every append ([`Indexed`] wraps the
//! journal). It holds ids only, about 60 bytes per link.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use llmtrail_core::{Body, Event};
use llmtrail_ledger::journal::AppendFuture;
use llmtrail_ledger::{Journal, Ledger, Receipt};
use uuid::Uuid;

/// Referrers by referenced id.
#[derive(Debug, Default)]
pub struct Links {
    by_target: RwLock<HashMap<Uuid, Vec<Uuid>>>,
}

/// Returns the ids an event points at.
#[must_use]
pub fn references(event: &Event) -> Vec<Uuid> {
    match &event.body {
        Body::LlmResponse(r) => r.request_id.into_iter().collect(),
        Body::ToolCall(t) => {
            let mut out: Vec<Uuid> = t.request_id.into_iter().collect();
            for key in ["llmtrail.carried_by", "llmtrail.pending"] {
                if let Some(other) = t
                    .attributes
                    .get(key)
                    .and_then(|v| v.as_str())
                    .and_then(|s| Uuid::try_parse(s).ok())
                    && !out.contains(&other)
                {
                    out.push(other);
                }
            }
            out
        }
        Body::Finding(f) => vec![f.event_id],
        Body::Alert(a) => a.evidence.clone(),
        Body::Audit(a) => a
            .target
            .as_deref()
            .and_then(|t| t.parse::<Uuid>().ok())
            .into_iter()
            .collect(),
        Body::LlmRequest(_) => Vec::new(),
    }
}

impl Links {
    /// Records the references of `events`.
    pub fn add(&self, events: &[Event]) {
        let Ok(mut map) = self.by_target.write() else {
            return;
        };
        for e in events {
            for target in references(e) {
                map.entry(target).or_default().push(e.id);
            }
        }
    }

    /// Builds the map from the ledger's metadata.
    ///
    /// # Errors
    /// The ledger's error when a segment cannot be read.
    pub fn from_ledger(ledger: &Ledger) -> Result<Links, llmtrail_ledger::LedgerError> {
        let links = Links::default();
        let mut batch = Vec::with_capacity(1024);
        ledger.scan_metadata(&mut |_, event| {
            if !references(&event).is_empty() {
                batch.push(event);
                if batch.len() == 1024 {
                    links.add(&batch);
                    batch.clear();
                }
            }
        })?;
        links.add(&batch);
        Ok(links)
    }

    /// Returns the events that point at `id`, and those that point at them (a response, the
    /// tool calls it asked for, the findings on either), in id order (UUIDv7: time order).
    #[must_use]
    pub fn related(&self, id: Uuid) -> Vec<Uuid> {
        let Ok(map) = self.by_target.read() else {
            return Vec::new();
        };
        let mut seen = BTreeSet::new();
        let mut frontier = vec![id];
        for _ in 0..3 {
            let mut next = Vec::new();
            for t in &frontier {
                for r in map.get(t).into_iter().flatten() {
                    if *r != id && seen.insert(*r) {
                        next.push(*r);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            frontier = next;
        }
        seen.into_iter().collect()
    }
}

/// The ledger as a journal that also keeps [`Links`] current and hands every appended event
/// to detection, to the query index, to export and to the alert engine.
#[derive(Debug, Clone)]
pub struct Indexed {
    /// The ledger.
    pub ledger: Arc<Ledger>,
    /// The links.
    pub links: Arc<Links>,
    /// The detection stage, when enabled.
    pub detection: Option<Arc<crate::detect::Detection>>,
    /// The export sinks, when configured.
    pub export: Option<Arc<llmtrail_export::Exporter>>,
    /// The query index feed.
    pub index: Option<Arc<crate::index_feed::IndexFeed>>,
    /// Prometheus metrics.
    pub metrics: Option<Arc<crate::metrics::Metrics>>,
    /// Prompt sampling, when enabled.
    pub sampler: Option<Arc<crate::sampling::Sampler>>,
    /// The alert engine, when enabled.
    pub alerts: Option<Arc<crate::alerts::AlertStage>>,
}

impl Journal for Indexed {
    fn append<'a>(&'a self, events: &'a [Event]) -> AppendFuture<'a> {
        Box::pin(async move {
            let sampled = self.sampler.as_ref().and_then(|s| s.decide(events));
            let Some((marked, withhold)) = sampled else {
                let receipts = self.ledger.append(events).await?;
                self.after_append(events, events, &receipts);
                return Ok(receipts);
            };
            let receipts = self.ledger.append_withholding(&marked, &withhold).await?;
            // Downstream sees the events as the ledger gives them back: a sampled-out prompt
            // without its content. Detection alone gets the whole prompt (it found nothing
            // there, and a later response is compared with its system prompt).
            let stored: Vec<Event> = marked
                .iter()
                .zip(&withhold)
                .map(|(ev, w)| {
                    if *w {
                        crate::sampling::without_content(ev)
                    } else {
                        ev.clone()
                    }
                })
                .collect();
            if let Some(m) = &self.metrics {
                m.sampled_out(withhold.iter().filter(|w| **w).count() as u64);
            }
            self.after_append(&marked, &stored, &receipts);
            Ok(receipts)
        })
    }
}

impl Indexed {
    /// Hands appended events on: `scanned` to detection, `stored` (as the ledger holds them)
    /// to the links, metrics, index and export.
    fn after_append(&self, scanned: &[Event], stored: &[Event], receipts: &[Receipt]) {
        self.links.add(stored);
        if let Some(m) = &self.metrics {
            m.observe(stored);
        }
        if let Some(d) = &self.detection {
            d.submit(scanned, receipts);
        }
        if let Some(ix) = &self.index {
            ix.submit(receipts, stored);
        }
        if let Some(x) = &self.export {
            crate::export::submit(x, stored, receipts);
        }
        if let Some(a) = &self.alerts {
            a.submit(stored, receipts);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{LlmRequest, LlmResponse, ResponseStatus, ToolCall, ToolStatus};

    use super::*;

    #[test]
    fn related_follows_responses_and_their_tool_calls() {
        let req = Event::new(LlmRequest::new("openai", "gpt-4o"));
        let mut resp_body = LlmResponse::new(ResponseStatus::Ok);
        resp_body.request_id = Some(req.id);
        let resp = Event::new(resp_body);
        let later = Event::new(LlmRequest::new("openai", "gpt-4o"));
        let mut call = ToolCall::new("get_weather", ToolStatus::Ok);
        call.request_id = Some(resp.id);
        call.attributes
            .insert("llmtrail.carried_by".into(), later.id.to_string().into());
        let call = Event::new(call);
        let links = Links::default();
        links.add(&[req.clone(), resp.clone(), later.clone(), call.clone()]);
        assert_eq!(links.related(req.id), vec![resp.id, call.id]);
        assert_eq!(links.related(later.id), vec![call.id]);
        assert!(links.related(call.id).is_empty());
    }
}
