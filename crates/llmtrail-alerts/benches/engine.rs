//! Throughput of the alert engine alone: synthetic gateway traffic (requests, responses, tool
//! calls and findings from 2,000 users over 50 models) through [`Engine::observe`].
//!
//! `cargo bench -p llmtrail-alerts --bench engine` prints events per second.

#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]

use std::time::Instant;

use jiff::Timestamp;
use llmtrail_alerts::{Engine, RawAlerts};
use llmtrail_core::{
    Event, Finding, FindingCategory, LlmRequest, LlmResponse, ResponseStatus, Severity, ToolCall,
    ToolStatus, Usage,
};

fn traffic(n: usize, start: i64) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    let mut i = 0usize;
    while out.len() < n {
        let ms = start + (i as i64) * 20;
        let user = format!("user-{}", i % 2000);
        let mut req = Event::new(LlmRequest::new("openai", format!("model-{}", i % 50)));
        req.actor.user = Some(user.clone());
        req.actor.api_key_id = Some(format!("vk-{}", i % 2000));
        req.actor.session = Some(format!("s-{}", i % 5000));
        req.actor.source_ip = Some(
            format!("10.0.{}.{}", (i / 250) % 250, i % 250)
                .parse()
                .unwrap(),
        );
        req.time = Timestamp::from_millisecond(ms).unwrap();
        let mut resp = LlmResponse::new(ResponseStatus::Ok);
        resp.request_id = Some(req.id);
        resp.latency_ms = Some(200.0 + (i % 97) as f64);
        resp.usage = Some(Usage {
            input_tokens: 300,
            output_tokens: 120,
            total_tokens: None,
            cache_read_input_tokens: None,
            cache_creation_input_tokens: None,
            reasoning_output_tokens: None,
        });
        let mut resp = Event::new(resp);
        resp.actor = req.actor.clone();
        resp.time = req.time;
        out.push(req.clone());
        out.push(resp);
        if i.is_multiple_of(4) {
            let mut call = ToolCall::new(format!("tool-{}", i % 30), ToolStatus::Ok);
            call.request_id = Some(req.id);
            let mut call = Event::new(call);
            call.actor = req.actor.clone();
            call.time = req.time;
            out.push(call);
        }
        if i.is_multiple_of(10) {
            let mut f = Event::new(Finding {
                event_id: req.id,
                category: if i.is_multiple_of(20) {
                    FindingCategory::PromptInjection
                } else {
                    FindingCategory::Pii
                },
                finding_type: "x".into(),
                severity: Severity::High,
                confidence: None,
                detector: "bench".into(),
                rule_id: None,
                location: None,
                preview: None,
                owasp: None,
                atlas: None,
            });
            f.actor = req.actor.clone();
            f.time = req.time;
            out.push(f);
        }
        i += 1;
    }
    out
}

fn main() {
    let cfg = RawAlerts::default().validate().unwrap();
    let start = 1_764_460_800_000;
    // Warm history (learned, as at startup), then the measured live run.
    let history = traffic(200_000, start);
    let mut engine = Engine::new(cfg, None);
    let t = Instant::now();
    for e in &history {
        engine.learn(e);
    }
    let learn = t.elapsed();
    let live = traffic(500_000, start + 4_000_000);
    let t = Instant::now();
    let mut emitted = 0usize;
    for e in &live {
        emitted += engine.observe(e, e.time).len();
    }
    let observe = t.elapsed();
    println!(
        "learn:   {} events in {:.2} s = {:.0} events/s",
        history.len(),
        learn.as_secs_f64(),
        history.len() as f64 / learn.as_secs_f64()
    );
    println!(
        "observe: {} events in {:.2} s = {:.0} events/s ({emitted} alert/audit events emitted)",
        live.len(),
        observe.as_secs_f64(),
        live.len() as f64 / observe.as_secs_f64()
    );
}
