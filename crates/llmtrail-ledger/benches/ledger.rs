//! Ledger benchmarks (a bench command, not a timed test; figures go to docs/BENCHMARKS.md).
//!
//! `cargo bench -p llmtrail-ledger --bench ledger -- [append|verify|proofs|all]`
//!
//! - append: durable appends of 1 KiB events from 64 concurrent writers, each waiting for its
//!   own acknowledgement (fdatasync with group commit), events per second;
//! - verify: offline verification (leaves, tree, checkpoints, content decryption and digests) of
//!   the ledger the append run wrote, MB/s of segment data;
//! - proofs: inclusion and consistency proofs on a 10-million-leaf tree read from disk with
//!   positioned reads (nothing loaded into memory), latency per proof.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a bench fails loudly"
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmtrail_core::Event;
use llmtrail_ledger::keys::Keys;
use llmtrail_ledger::merkle::{Hash, TreeStore, leaf_hash};
use llmtrail_ledger::verify::{VerifyOptions, verify};
use llmtrail_ledger::{Ledger, LedgerOptions};

// The same allocator as the `llmtrail` binary, so that figures match what `serve` does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const WRITERS: usize = 64;

fn event_1k(n: usize) -> Event {
    let mut e = serde_json::json!({
        "kind": "llm.request",
        "actor": {"user": format!("u-{}", n % 500), "role": "analyst", "department": "treasury", "session": format!("s-{}", n % 97), "source_ip": "10.20.30.40", "user_agent": "OpenAI/Python 1.50.0"},
        "tags": {"app": "assistant", "env": "prod"},
        "body": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": [
                {"role": "system", "content": "You are a helpful assistant for the treasury team."},
                {"role": "user", "content": ""}
            ]
        }
    });
    let base = serde_json::to_vec(&e).unwrap().len() + 60; // id and time are added on parse
    let pad = 1024usize.saturating_sub(base);
    let text: String = (0..pad)
        .map(|i| (b'a' + ((n + i) % 26) as u8) as char)
        .collect();
    e["body"]["gen_ai.input.messages"][1]["content"] = serde_json::Value::String(text);
    Event::from_value(e).unwrap()
}

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn keys(dir: &Path) -> Keys {
    let kd = dir.join("keys");
    if !Keys::exist_in(&kd) {
        Keys::generate("llmtrail.bench/ledger")
            .unwrap()
            .write(&kd, true)
            .unwrap();
    }
    Keys::load(&kd, None).unwrap()
}

fn append(dir: &Path, per_writer: usize) {
    let ledger = Arc::new(Ledger::open(LedgerOptions::new(dir.join("ledger")), keys(dir)).unwrap());
    let sample = serde_json::to_vec(&event_1k(0).to_value()).unwrap().len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(
            std::env::var("BENCH_WORKERS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2),
        )
        .enable_all()
        .build()
        .unwrap();
    // Events are built before timing so that the figure is the ledger's, not the generator's.
    let batches: Vec<Vec<Event>> = (0..WRITERS)
        .map(|w| {
            (0..per_writer)
                .map(|i| event_1k(w * per_writer + i))
                .collect()
        })
        .collect();
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let latencies = rt.block_on(async {
        let mut tasks = Vec::new();
        for events in batches {
            let ledger = Arc::clone(&ledger);
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::with_capacity(events.len());
                for e in events {
                    let t = Instant::now();
                    ledger.append(std::slice::from_ref(&e)).await.unwrap();
                    lat.push(t.elapsed());
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu0;
    let total = WRITERS * per_writer;
    let mut lat = latencies;
    lat.sort_unstable();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "append: {total} events of {sample} B JSON from {WRITERS} writers in {:.2}s = {:.0} events/s ({:.1} MB/s); ack latency p50 {:?} p99 {:?}; CPU {:.0}% of one core",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        (total * sample) as f64 / elapsed.as_secs_f64() / 1e6,
        pct(0.50),
        pct(0.99),
        cpu / elapsed.as_secs_f64() * 100.0,
    );
    rt.block_on(ledger.shutdown()).unwrap();
}

fn verify_bench(dir: &Path) {
    let k = keys(dir);
    let verifier = k.verifier();
    let opts = VerifyOptions {
        dir: dir.join("ledger"),
        verifier: &verifier,
        master: Some(&k.master),
        allow_unsigned_tail: false,
    };
    // One warm-up pass so that both runs read from the page cache.
    verify(&opts).unwrap();
    let start = Instant::now();
    let report = verify(&opts).unwrap();
    let elapsed = start.elapsed();
    println!(
        "verify: {} records, {:.1} MB of segment data, {} contents decrypted and checked, in {:.3}s = {:.0} MB/s",
        report.records,
        report.bytes as f64 / 1e6,
        report.content_checked,
        elapsed.as_secs_f64(),
        report.bytes as f64 / elapsed.as_secs_f64() / 1e6
    );
    let opts = VerifyOptions {
        master: None,
        ..opts
    };
    let start = Instant::now();
    let report = verify(&opts).unwrap();
    let elapsed = start.elapsed();
    println!(
        "verify without master key (leaves, tree, checkpoints only): {:.0} MB/s",
        report.bytes as f64 / elapsed.as_secs_f64() / 1e6
    );
}

fn proofs(dir: &Path) {
    const LEAVES: u64 = 10_000_000;
    let tree_dir = dir.join("tree10m");
    let mut tree = TreeStore::open(&tree_dir).unwrap();
    if tree.size() < LEAVES {
        let start = Instant::now();
        let mut batch: Vec<Hash> = Vec::with_capacity(100_000);
        let mut i = tree.size();
        while i < LEAVES {
            batch.clear();
            for j in i..(i + 100_000).min(LEAVES) {
                batch.push(leaf_hash(&j.to_le_bytes()));
            }
            tree.append(&batch).unwrap();
            i += batch.len() as u64;
        }
        println!(
            "proofs: built a {LEAVES}-leaf tree on disk in {:.1}s",
            start.elapsed().as_secs_f64()
        );
    }
    drop(tree);
    // Reopen so that nothing of the build is held in memory.
    let tree = TreeStore::open(&tree_dir).unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for (name, f) in [("inclusion", 0), ("consistency", 1)] {
        let mut lat: Vec<Duration> = Vec::with_capacity(20_000);
        for _ in 0..20_000 {
            let a = next() % LEAVES;
            let b = a + 1 + next() % (LEAVES - a);
            let t = Instant::now();
            let p = if f == 0 {
                tree.inclusion_proof(a, b).unwrap()
            } else {
                tree.consistency_proof(a.max(1), b).unwrap()
            };
            lat.push(t.elapsed());
            std::hint::black_box(p);
        }
        lat.sort_unstable();
        let mean = lat.iter().sum::<Duration>() / lat.len() as u32;
        println!(
            "proofs: {name} proof in a {LEAVES}-leaf tree: mean {mean:?}, p50 {:?}, p99 {:?}, max {:?} (20000 random)",
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
            lat[lat.len() - 1]
        );
    }
}

fn prepare_bench() {
    let events: Vec<Event> = (0..50_000).map(event_1k).collect();
    let start = Instant::now();
    for e in &events {
        std::hint::black_box(llmtrail_ledger::record::prepare(e).unwrap());
    }
    let el = start.elapsed();
    println!(
        "prepare: {:?} per 1 KiB event (split, canonical JSON, salt, two SHA-256)",
        el / events.len() as u32
    );
    let start = Instant::now();
    for e in &events {
        std::hint::black_box(e.split());
    }
    println!(
        "  of which split: {:?}",
        start.elapsed() / events.len() as u32
    );
}

fn main() {
    let which = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ledger-bench");
    let per_writer: usize = std::env::var("BENCH_EVENTS_PER_WRITER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6000);
    if matches!(which.as_str(), "append" | "verify" | "all") {
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        append(&base, per_writer);
        verify_bench(&base);
    }
    if matches!(which.as_str(), "prepare" | "all") {
        prepare_bench();
    }
    if matches!(which.as_str(), "proofs" | "all") {
        proofs(&base);
    }
}
