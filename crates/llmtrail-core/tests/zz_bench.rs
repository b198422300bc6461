//! scratch
#![allow(clippy::unwrap_used, reason = "scratch")]
use llmtrail_core::{Event, canonical};
use std::time::Instant;
#[test]
fn bench() {
    let text = br#"{"kind":"llm.request","actor":{"user":"u-1042","role":"analyst","department":"finance","session":"s-93ab","api_key_id":"key-7","source_ip":"10.1.2.3","user_agent":"openai-python/1.51.0"},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},"tags":{"env":"prod","app":"billing"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.operation.name":"chat","parameters":{"gen_ai.request.temperature":0.2,"gen_ai.request.max_tokens":512},"gen_ai.input.messages":[{"role":"system","content":"You are a helpful assistant for the finance team. Answer briefly and cite the policy."},{"role":"user","content":"Summarise the Q3 travel expense policy changes for contractors, including per-diem limits and the approval chain for international trips. Also list anything that changed about receipts."}],"gen_ai.tool.definitions":[{"type":"function","name":"search_policies","description":"Search policy documents","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}}"#;
    let n = 200_000;
    let e = Event::from_json_slice(text).unwrap();
    let v = e.to_value();
    for round in 0..3 {
        let t = Instant::now();
        let mut out = Vec::with_capacity(2048);
        for _ in 0..n {
            out.clear();
            canonical::write_canonical(std::hint::black_box(&v), &mut out);
        }
        let c = t.elapsed() / n;
        let t = Instant::now();
        let mut o2 = Vec::with_capacity(2048);
        for _ in 0..n {
            o2.clear();
            serde_json::to_writer(&mut o2, std::hint::black_box(&v)).unwrap();
        }
        println!(
            "round {round}: canonical {:?}  serde_json {:?}",
            c,
            t.elapsed() / n
        );
    }
}
