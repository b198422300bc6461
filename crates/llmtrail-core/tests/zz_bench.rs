//! scratch
#![allow(clippy::unwrap_used, reason = "scratch")]
use std::time::Instant;
use llmtrail_core::{Event, canonical};
#[test]
fn bench() {
    let text = br#"{"kind":"llm.request","actor":{"user":"u-1042","role":"analyst","department":"finance","session":"s-93ab","api_key_id":"key-7","source_ip":"10.1.2.3","user_agent":"openai-python/1.51.0"},"trace":{"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"},"tags":{"env":"prod","app":"billing"},"body":{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.operation.name":"chat","parameters":{"gen_ai.request.temperature":0.2,"gen_ai.request.max_tokens":512},"gen_ai.input.messages":[{"role":"system","content":"You are a helpful assistant for the finance team. Answer briefly and cite the policy."},{"role":"user","content":"Summarise the Q3 travel expense policy changes for contractors, including per-diem limits and the approval chain for international trips. Also list anything that changed about receipts."}],"gen_ai.tool.definitions":[{"type":"function","name":"search_policies","description":"Search policy documents","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}]}}"#;
    println!("input {} bytes", text.len());
    let n = 100_000;
    let t = Instant::now();
    let mut e = None;
    for _ in 0..n { e = Some(Event::from_json_slice(text).unwrap()); }
    println!("parse {:?}/event", t.elapsed() / n);
    let e = e.unwrap();
    let t = Instant::now();
    let mut v = None;
    for _ in 0..n { v = Some(e.to_value()); }
    println!("to_value {:?}/event", t.elapsed() / n);
    let v = v.unwrap();
    let t = Instant::now();
    let mut out = Vec::with_capacity(2048);
    for _ in 0..n { out.clear(); canonical::write_canonical(&v, &mut out); }
    println!("canonical {:?}/event ({} bytes)", t.elapsed() / n, out.len());
    let t = Instant::now();
    for _ in 0..n { std::hint::black_box(serde_json::to_vec(&v).unwrap()); }
    println!("serde_json::to_vec {:?}/event", t.elapsed() / n);
}
