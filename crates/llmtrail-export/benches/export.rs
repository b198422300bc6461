//! Export throughput: formatting per format, and the whole exporter to a local TCP syslog.
//!
//! `cargo bench -p llmtrail-export --bench export [-- RECORDS]`
//!
//! - `format <name>`: one thread renders RECORDS records (default 200,000; a mix of
//!   `llm.request` with a 300-byte prompt, `llm.response` with usage, and `finding`) in that
//!   format, as the exporter's writer thread does; records/s and MB/s of output.
//! - `exporter tcp syslog cef`: the running exporter with one `syslog` sink (`tcp`, `cef`) to a
//!   listener on 127.0.0.1 that reads the octet-counted frames: from the first `submit` (in
//!   batches of 64, as appends arrive) to the last frame read, so the disk buffer (write and
//!   fsync per writer batch, read back, acknowledgement file) is included.
//!
//! The figure is the best of three runs.

use std::error::Error;
use std::hint::black_box;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use llmtrail_core::{
    Actor, Event, Finding, FindingCategory, LlmRequest, LlmResponse, Message, ResponseStatus,
    Severity, Usage,
};
use llmtrail_export::{ExportConfig, Exporter, Record, cef, json, ocsf, syslog};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const RUNS: usize = 3;

fn records(n: usize) -> Vec<Record> {
    let prompt = "Summarise the attached quarterly report for the finance team and list the three \
                  largest risks with their owners, then draft an email to the CFO. "
        .repeat(2);
    (0..n)
        .map(|i| {
            let mut event = match i % 3 {
                0 => {
                    let mut r = LlmRequest::new("openai", "gpt-4o");
                    r.messages.push(Message::text("user", prompt.clone()));
                    Event::new(r)
                }
                1 => {
                    let mut r = LlmResponse::new(ResponseStatus::Ok);
                    r.response_model = Some("gpt-4o-2024-08-06".into());
                    r.usage = Some(Usage {
                        input_tokens: 80,
                        output_tokens: 200,
                        total_tokens: Some(280),
                        cache_read_input_tokens: None,
                        cache_creation_input_tokens: None,
                        reasoning_output_tokens: None,
                    });
                    Event::new(r)
                }
                _ => Event::new(Finding {
                    event_id: uuid::Uuid::now_v7(),
                    category: FindingCategory::PromptInjection,
                    finding_type: "ignore_previous".into(),
                    severity: Severity::High,
                    confidence: Some(0.9),
                    detector: "rules".into(),
                    rule_id: Some("injection.ignore_previous".into()),
                    location: None,
                    preview: Some("ignore all previous…".into()),
                    owasp: Some("LLM01".into()),
                    atlas: None,
                }),
            };
            event.actor = Actor {
                user: Some(format!("u-{}", i % 1000)),
                role: Some("finance".into()),
                source_ip: "10.1.2.3".parse().ok(),
                ..Actor::default()
            };
            Record {
                index: i as u64,
                leaf_hash: [7; 32],
                event,
            }
        })
        .collect()
}

fn bench_format(name: &str, recs: &[Record], f: impl Fn(&Record) -> String) {
    let mut best = Duration::MAX;
    let mut bytes = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        bytes = 0;
        for r in recs {
            bytes += black_box(f(r)).len();
        }
        best = best.min(start.elapsed());
    }
    let secs = best.as_secs_f64();
    println!(
        "format {name:<12} {:>10.0} records/s {:>7.1} MB/s ({} records, {:.0} bytes each)",
        recs.len() as f64 / secs,
        bytes as f64 / secs / 1e6,
        recs.len(),
        bytes as f64 / recs.len() as f64
    );
}

fn bench_exporter(recs: &[Record]) -> Result<(), Box<dyn Error>> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir()?;
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let n = recs.len();
        let reader = std::thread::spawn(move || -> std::io::Result<Instant> {
            let (conn, _) = listener.accept()?;
            let mut r = BufReader::with_capacity(1 << 20, conn);
            let mut len = Vec::new();
            let mut msg = Vec::new();
            for _ in 0..n {
                len.clear();
                r.read_until(b' ', &mut len)?;
                let size: usize = std::str::from_utf8(&len)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                    .ok_or_else(|| std::io::Error::other("bad frame"))?;
                msg.resize(size, 0);
                r.read_exact(&mut msg)?;
            }
            Ok(Instant::now())
        });
        let cfg: toml::Value = toml::from_str(&format!(
            "[[sinks]]\ntype = \"syslog\"\naddress = \"127.0.0.1:{port}\"\nprotocol = \"tcp\"\nformat = \"cef\"\nbatch = 2000\n"
        ))?;
        let cfg: ExportConfig = cfg.try_into()?;
        let ex = Exporter::start(&cfg, dir.path(), None)?;
        let start = Instant::now();
        for chunk in recs.chunks(64) {
            ex.submit(chunk.to_vec());
        }
        let end = reader.join().map_err(|_| "reader panicked")??;
        best = best.min(end - start);
        ex.close(Duration::from_secs(1));
        if ex.queue_dropped() > 0 {
            return Err(format!("{} records dropped at the queue", ex.queue_dropped()).into());
        }
    }
    println!(
        "exporter tcp syslog cef {:>10.0} records/s ({} records, disk buffer included)",
        recs.len() as f64 / best.as_secs_f64(),
        recs.len()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200_000);
    let recs = records(n);
    let header = syslog::Header::new(13, "bench-host", "llmtrail@32473");
    bench_format("cef", &recs, cef::render);
    bench_format("json", &recs, json::render);
    bench_format("ocsf", &recs, ocsf::render);
    bench_format("syslog+cef", &recs, |r| {
        syslog::message(&header, r, &cef::render(r))
    });
    bench_exporter(&recs)
}
