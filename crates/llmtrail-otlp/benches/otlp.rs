//! OTLP receiver benchmarks (a bench command, not a timed test; figures go to
//! docs/BENCHMARKS.md).
//!
//! ```sh
//! cargo bench -p llmtrail-otlp --bench otlp -- decode          # decode + map, in process
//! cargo bench -p llmtrail-otlp --bench otlp -- body FILE [N]   # write a protobuf export of N spans
//! cargo bench -p llmtrail-otlp --bench otlp -- load URL TOKEN SECONDS CONNS   # closed-loop load
//! ```
//!
//! `decode` builds one export request of 512 GenAI chat spans (the OpenAI instrumentation's
//! attributes: provider, model, parameters, usage, a system prompt, a two-turn history and the
//! output as `gen_ai.*.messages` JSON, about 1.6 KiB of attributes a span) and times
//! `protocol::decode` on it as protobuf, as gzip-compressed protobuf and as JSON: the CPU the
//! receiver spends before the ledger append. `body` writes the same request to a file. `load`
//! POSTs it to `URL/v1/traces` from CONNS threads for SECONDS, each request with trace ids of
//! its own (patched into the encoded bytes, so no span is a retry of another), and prints
//! requests/s, spans/s and latency percentiles; `bench/otlp.sh` runs it against `serve`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark fails loudly"
)]
#![allow(missing_docs, reason = "a benchmark binary")]

use std::io::Write as _;
use std::time::{Duration, Instant};

use llmtrail_otlp::proto::{self, any_value::Value as V};
use llmtrail_otlp::protocol::{self, Encoding, Signal};
use mimalloc::MiMalloc;
use prost::Message as _;

// The allocator of the `llmtrail` binary, so that the figures are the receiver's.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn kv(key: &str, v: V) -> proto::KeyValue {
    proto::KeyValue {
        key: key.as_bytes().to_vec(),
        value: Some(proto::AnyValue { value: Some(v) }),
    }
}

fn s(key: &str, v: &str) -> proto::KeyValue {
    kv(key, V::String(v.as_bytes().to_vec()))
}

fn span(n: u64) -> proto::Span {
    let input = format!(
        r#"[{{"role":"system","parts":[{{"type":"text","content":"You are the treasury assistant of Example Corp. Answer with figures from the attached context only, cite the document, and refuse anything outside finance."}}]}},{{"role":"user","parts":[{{"type":"text","content":"Context: Q3 operating cash flow was 41.2M, capex 12.9M, and the revolving facility remains undrawn at 150M. Payables days rose from 38 to 44. Question {n}: what was free cash flow in Q3, and how did working capital contribute? Keep it to two sentences."}}]}}]"#
    );
    let output = r#"[{"role":"assistant","parts":[{"type":"text","content":"Free cash flow in Q3 was 28.3M (41.2M operating cash flow less 12.9M capex). Longer payables days (38 to 44) released working capital and lifted operating cash flow."}],"finish_reason":"stop"}]"#;
    let start = 1_700_000_000_000_000_000 + n * 1_000_000;
    let mut trace_id = [0x4bu8; 16];
    trace_id[..8].copy_from_slice(&n.to_be_bytes());
    let mut span_id = [0x01u8; 8];
    span_id[..4].copy_from_slice(
        &u32::try_from(n % u64::from(u32::MAX))
            .unwrap()
            .to_be_bytes(),
    );
    proto::Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: Vec::new(),
        name: b"chat gpt-4o".to_vec(),
        kind: 3,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 850_000_000,
        attributes: vec![
            s("gen_ai.operation.name", "chat"),
            s("gen_ai.provider.name", "openai"),
            s("gen_ai.request.model", "gpt-4o"),
            kv("gen_ai.request.temperature", V::Double(0.2)),
            kv("gen_ai.request.max_tokens", V::Int(256)),
            kv("gen_ai.is_streaming", V::Bool(false)),
            s("gen_ai.openai.api_base", "https://api.openai.com/v1/"),
            s("gen_ai.input.messages", &input),
            s("gen_ai.response.model", "gpt-4o-2024-08-06"),
            s("gen_ai.response.id", &format!("chatcmpl-{n}")),
            kv(
                "gen_ai.response.finish_reasons",
                V::Array(proto::ArrayValue {
                    values: vec![proto::AnyValue {
                        value: Some(V::String(b"stop".to_vec())),
                    }],
                }),
            ),
            kv("gen_ai.usage.input_tokens", V::Int(96)),
            kv("gen_ai.usage.output_tokens", V::Int(41)),
            kv("gen_ai.usage.total_tokens", V::Int(137)),
            s("gen_ai.output.messages", output),
            s("enduser.id", &format!("u-{}", n % 97)),
            s("session.id", &format!("s-{}", n % 13)),
        ],
        events: Vec::new(),
        status: None,
    }
}

fn request(spans: u64) -> proto::ExportTraceServiceRequest {
    proto::ExportTraceServiceRequest {
        resource_spans: vec![proto::ResourceSpans {
            resource: Some(proto::Resource {
                attributes: vec![
                    s("service.name", "treasury-assistant"),
                    s("telemetry.sdk.language", "python"),
                ],
            }),
            scope_spans: vec![proto::ScopeSpans {
                scope: Some(proto::InstrumentationScope {
                    name: b"opentelemetry.instrumentation.openai.v1".to_vec(),
                    version: b"0.62.4".to_vec(),
                }),
                spans: (0..spans).map(span).collect(),
            }],
        }],
    }
}

/// The same request in OTLP JSON.
fn json(req: &proto::ExportTraceServiceRequest) -> Vec<u8> {
    fn value(v: &proto::AnyValue) -> serde_json::Value {
        match v.value.as_ref() {
            Some(V::String(s)) => serde_json::json!({"stringValue": String::from_utf8_lossy(s)}),
            Some(V::Int(i)) => serde_json::json!({"intValue": i.to_string()}),
            Some(V::Double(d)) => serde_json::json!({"doubleValue": d}),
            Some(V::Bool(b)) => serde_json::json!({"boolValue": b}),
            Some(V::Array(a)) => {
                serde_json::json!({"arrayValue": {"values": a.values.iter().map(value).collect::<Vec<_>>()}})
            }
            _ => serde_json::json!({}),
        }
    }
    let attrs = |kvs: &[proto::KeyValue]| {
        kvs.iter()
            .map(|kv| {
                serde_json::json!({"key": String::from_utf8_lossy(&kv.key),
                    "value": value(kv.value.as_ref().unwrap())})
            })
            .collect::<Vec<_>>()
    };
    let rs = &req.resource_spans[0];
    let spans: Vec<_> = rs.scope_spans[0]
        .spans
        .iter()
        .map(|s| {
            serde_json::json!({
                "traceId": hex::encode(&s.trace_id), "spanId": hex::encode(&s.span_id),
                "name": String::from_utf8_lossy(&s.name), "kind": s.kind,
                "startTimeUnixNano": s.start_time_unix_nano.to_string(),
                "endTimeUnixNano": s.end_time_unix_nano.to_string(),
                "attributes": attrs(&s.attributes),
            })
        })
        .collect();
    serde_json::json!({"resourceSpans": [{
        "resource": {"attributes": attrs(&rs.resource.as_ref().unwrap().attributes)},
        "scopeSpans": [{"scope": {"name": "opentelemetry.instrumentation.openai.v1"}, "spans": spans}]
    }]})
    .to_string()
    .into_bytes()
}

fn time(label: &str, spans: u64, bytes: usize, mut f: impl FnMut()) {
    f();
    let mut runs = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(3) {
        f();
        runs += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let per = secs / runs as f64;
    println!(
        "{label:<22} {bytes:>9} bytes  {:>8.2} ms/request  {:>9.0} spans/s",
        per * 1000.0,
        spans as f64 / per
    );
}

fn decode_bench() {
    const SPANS: u64 = 512;
    let req = request(SPANS);
    let pb = req.encode_to_vec();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&pb).unwrap();
    let gz = gz.finish().unwrap();
    let js = json(&req);
    let check = protocol::decode(Signal::Traces, Encoding::Json, &js).unwrap();
    assert_eq!(
        (check.events.len(), check.rejected),
        (2 * SPANS as usize, 0)
    );
    println!(
        "one export of {SPANS} GenAI chat spans, decode + map to {} events:",
        2 * SPANS
    );
    time("protobuf", SPANS, pb.len(), || {
        let m = protocol::decode(Signal::Traces, Encoding::Protobuf, &pb).unwrap();
        assert_eq!(m.events.len(), 2 * SPANS as usize);
    });
    time("protobuf + gzip", SPANS, gz.len(), || {
        let bytes = protocol::decompress(Some("gzip"), &gz, 64 << 20).unwrap();
        let m = protocol::decode(Signal::Traces, Encoding::Protobuf, &bytes).unwrap();
        assert_eq!(m.events.len(), 2 * SPANS as usize);
    });
    time("json", SPANS, js.len(), || {
        let m = protocol::decode(Signal::Traces, Encoding::Json, &js).unwrap();
        assert_eq!(m.events.len(), 2 * SPANS as usize);
    });
}

/// Offsets of the first 8 bytes of every trace id in an encoded [`request`]: the field header
/// `0x0a 0x10`, then the span's number, then eight `0x4b`.
fn trace_id_offsets(body: &[u8]) -> Vec<usize> {
    (0..body.len().saturating_sub(18))
        .filter(|&p| body[p] == 0x0a && body[p + 1] == 0x10 && body[p + 10..p + 18] == [0x4b; 8])
        .map(|p| p + 2)
        .collect()
}

fn load(url: &str, token: &str, seconds: u64, conns: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    const SPANS: u64 = 512;
    let template = Arc::new(request(SPANS).encode_to_vec());
    let offsets = Arc::new(trace_id_offsets(&template));
    assert_eq!(offsets.len(), SPANS as usize);
    let counter = Arc::new(AtomicU64::new(1));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let threads: Vec<_> = (0..conns)
        .map(|_| {
            let (template, offsets, counter) = (template.clone(), offsets.clone(), counter.clone());
            let url = format!("{url}/v1/traces");
            let auth = format!("Bearer {token}");
            std::thread::spawn(move || {
                let agent = ureq::Agent::new_with_defaults();
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let mut body = template.as_ref().clone();
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    for (i, &at) in offsets.iter().enumerate() {
                        let id = n * SPANS + i as u64;
                        body[at..at + 8].copy_from_slice(&id.to_be_bytes());
                    }
                    let t = Instant::now();
                    let resp = agent
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .header("authorization", &auth)
                        .send(&body[..])
                        .expect("export failed");
                    assert_eq!(resp.status().as_u16(), 200);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{} requests of {SPANS} spans in {secs:.1} s from {conns} connections: {:.1} requests/s, \
         {:.0} spans/s; latency p50 {:.1} ms, p99 {:.1} ms",
        all.len(),
        all.len() as f64 / secs,
        all.len() as f64 * SPANS as f64 / secs,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    match args.first().map(String::as_str) {
        Some("body") => {
            let path = args.get(1).expect("body FILE [N]");
            let n = args
                .get(2)
                .map_or(512, |n| n.parse().expect("a span count"));
            std::fs::write(path, request(n).encode_to_vec()).unwrap();
        }
        Some("load") => {
            let [url, token, secs, conns] =
                [1, 2, 3, 4].map(|i| args.get(i).expect("load URL TOKEN SECONDS CONNS"));
            load(url, token, secs.parse().unwrap(), conns.parse().unwrap());
        }
        None | Some("decode") => decode_bench(),
        Some(other) => panic!("unknown bench {other}: decode | body FILE [N] | load ..."),
    }
}
