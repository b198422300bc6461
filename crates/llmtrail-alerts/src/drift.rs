//! Model drift per provider and model: latency (p50, p95), error rate, refusal rate and median
//! output length of the last `recent` responses against a baseline of the `baseline` responses
//! before them.
//!
//! Cold start: nothing is checked before `min_baseline` responses have aged into the
//! baseline. A response leaving the recent window joins the baseline, so after a lasting change
//! the baseline follows it (and the deduplicated alert stops being updated). The baseline's
//! figures are recomputed every `recent / 5` responses, not on every one.

use std::collections::{HashMap, VecDeque};

use llmtrail_core::{LlmResponse, ResponseStatus};
use uuid::Uuid;

use crate::behaviour::Signal;
use crate::config::RawDrift;

/// Provider and model pairs tracked at most.
pub const MAX_MODELS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Sample {
    latency: Option<f64>,
    error: bool,
    refusal: bool,
    output_tokens: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Figures {
    p50: Option<f64>,
    p95: Option<f64>,
    error_rate: f64,
    refusal_rate: f64,
    output_median: Option<f64>,
}

#[derive(Debug, Default)]
struct Model {
    recent: VecDeque<Sample>,
    baseline: VecDeque<Sample>,
    base: Figures,
    since_base: usize,
}

fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * (sorted.len() - 1) as f64).round();
    sorted.get(rank as usize).copied()
}

fn figures<'a>(samples: impl Iterator<Item = &'a Sample> + Clone) -> Figures {
    let mut lat: Vec<f64> = samples.clone().filter_map(|s| s.latency).collect();
    lat.sort_by(f64::total_cmp);
    let mut out: Vec<f64> = samples.clone().filter_map(|s| s.output_tokens).collect();
    out.sort_by(f64::total_cmp);
    let n = samples.clone().count().max(1) as f64;
    Figures {
        p50: percentile(&lat, 0.5),
        p95: percentile(&lat, 0.95),
        error_rate: samples.clone().filter(|s| s.error).count() as f64 / n,
        refusal_rate: samples.filter(|s| s.refusal).count() as f64 / n,
        output_median: percentile(&out, 0.5),
    }
}

/// Whether a response is a refusal: a `content_filter`/`refusal` finish reason or error type.
#[must_use]
pub fn is_refusal(r: &LlmResponse) -> bool {
    let refusal = |s: &str| matches!(s, "content_filter" | "refusal" | "safety");
    r.finish_reasons.iter().any(|f| refusal(f))
        || r.error.as_ref().is_some_and(|e| refusal(&e.error_type))
}

/// The per-model windows.
#[derive(Debug)]
pub struct Drift {
    cfg: RawDrift,
    models: HashMap<(String, String), Model>,
}

impl Drift {
    /// Starts with no history.
    #[must_use]
    pub fn new(cfg: RawDrift) -> Drift {
        Drift {
            cfg,
            models: HashMap::new(),
        }
    }

    /// Feeds one response of `provider`/`model`; pushes drift signals to `out`.
    pub fn observe(
        &mut self,
        provider: &str,
        model: &str,
        id: Uuid,
        r: &LlmResponse,
        out: &mut Vec<Signal>,
    ) {
        if !self.cfg.enabled {
            return;
        }
        let sample = Sample {
            latency: r.latency_ms,
            error: r.status == ResponseStatus::Error,
            refusal: is_refusal(r),
            output_tokens: r.usage.map(|u| u.output_tokens as f64),
        };
        if self.models.len() >= MAX_MODELS
            && !self
                .models
                .contains_key(&(provider.to_owned(), model.to_owned()))
        {
            // Model names come from clients; beyond this many, new ones are not tracked.
            return;
        }
        let cfg = &self.cfg;
        let m = self
            .models
            .entry((provider.to_owned(), model.to_owned()))
            .or_default();
        m.recent.push_back(sample);
        if m.recent.len() > cfg.recent
            && let Some(old) = m.recent.pop_front()
        {
            m.baseline.push_back(old);
            if m.baseline.len() > cfg.baseline {
                m.baseline.pop_front();
            }
            m.since_base += 1;
        }
        if m.baseline.len() < cfg.min_baseline || m.recent.len() < cfg.recent {
            return;
        }
        if m.since_base >= (cfg.recent / 5).max(1) || m.base.p50.is_none() {
            m.base = figures(m.baseline.iter());
            m.since_base = 0;
        }
        let now = figures(m.recent.iter());
        let base = m.base;
        let group = format!("provider={provider},model={model}");
        let mut signal = |rule_id: &'static str, reason: String| {
            out.push(Signal {
                rule_id,
                group: group.clone(),
                reason,
                evidence: id,
            });
        };
        let f = cfg.latency_factor;
        if let (Some(p50), Some(p95), Some(b50), Some(b95)) = (now.p50, now.p95, base.p50, base.p95)
            && (p50 > f * b50.max(1.0) || p95 > f * b95.max(1.0))
        {
            signal(
                "drift.latency",
                format!(
                    "latency p50 {p50:.0} ms and p95 {p95:.0} ms over the last {} responses \
                     against a baseline of {b50:.0} ms and {b95:.0} ms",
                    cfg.recent
                ),
            );
        }
        if now.error_rate >= base.error_rate + cfg.error_rate_rise {
            signal(
                "drift.error_rate",
                format!(
                    "error rate {:.0}% against a baseline of {:.0}%",
                    now.error_rate * 100.0,
                    base.error_rate * 100.0
                ),
            );
        }
        if now.refusal_rate >= base.refusal_rate + cfg.refusal_rate_rise {
            signal(
                "drift.refusal_rate",
                format!(
                    "refusal rate {:.0}% against a baseline of {:.0}%",
                    now.refusal_rate * 100.0,
                    base.refusal_rate * 100.0
                ),
            );
        }
        let g = cfg.output_length_factor;
        if let (Some(o), Some(b)) = (now.output_median, base.output_median)
            && b >= 1.0
            && (o > g * b || o * g < b)
        {
            signal(
                "drift.output_length",
                format!("median output {o:.0} tokens against a baseline of {b:.0}"),
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::Usage;

    use super::*;

    fn resp(latency: f64, status: ResponseStatus, tokens: u64) -> LlmResponse {
        let mut r = LlmResponse::new(status);
        r.latency_ms = Some(latency);
        r.usage = Some(Usage {
            input_tokens: 10,
            output_tokens: tokens,
            total_tokens: None,
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
            reasoning_output_tokens: None,
        });
        r
    }

    fn cfg() -> RawDrift {
        RawDrift {
            recent: 10,
            baseline: 100,
            min_baseline: 20,
            ..RawDrift::default()
        }
    }

    fn rules(d: &mut Drift, r: &LlmResponse) -> Vec<&'static str> {
        let mut out = Vec::new();
        d.observe("openai", "gpt-4o", Uuid::nil(), r, &mut out);
        out.iter().map(|s| s.rule_id).collect()
    }

    #[test]
    fn latency_drift_after_a_baseline() {
        let mut d = Drift::new(cfg());
        // Slow from the start: no baseline, nothing to compare (cold start).
        for _ in 0..25 {
            assert!(rules(&mut d, &resp(900.0, ResponseStatus::Ok, 50)).is_empty());
        }
        let mut d = Drift::new(cfg());
        for i in 0..40 {
            let ms = 100.0 + f64::from(i % 7);
            assert!(rules(&mut d, &resp(ms, ResponseStatus::Ok, 50)).is_empty());
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.extend(rules(&mut d, &resp(600.0, ResponseStatus::Ok, 50)));
        }
        assert!(seen.contains(&"drift.latency"), "{seen:?}");
        assert!(!seen.contains(&"drift.error_rate"));
    }

    #[test]
    fn error_and_refusal_rates() {
        let mut d = Drift::new(cfg());
        for _ in 0..40 {
            rules(&mut d, &resp(100.0, ResponseStatus::Ok, 50));
        }
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.extend(rules(&mut d, &resp(100.0, ResponseStatus::Error, 50)));
            let mut r = resp(100.0, ResponseStatus::Ok, 50);
            r.finish_reasons = vec!["content_filter".into()];
            seen.extend(rules(&mut d, &r));
        }
        assert!(seen.contains(&"drift.error_rate"), "{seen:?}");
        assert!(seen.contains(&"drift.refusal_rate"), "{seen:?}");
        assert!(!seen.contains(&"drift.latency"));
    }

    #[test]
    fn output_length() {
        let mut d = Drift::new(cfg());
        for _ in 0..40 {
            rules(&mut d, &resp(100.0, ResponseStatus::Ok, 300));
        }
        let mut seen = Vec::new();
        for _ in 0..10 {
            seen.extend(rules(&mut d, &resp(100.0, ResponseStatus::Ok, 20)));
        }
        assert!(seen.contains(&"drift.output_length"), "{seen:?}");
    }
}
