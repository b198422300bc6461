//! Crash safety of the real binary: SIGKILL `serve` during sustained concurrent appends,
//! restart it, and find every acknowledged event; `llmtrail verify` then passes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{Server, agent, request_event, run, write_config};

const WRITERS: usize = 12;
const ROUNDS: usize = 3;

type Acked = Arc<Mutex<Vec<String>>>;

/// Starts WRITERS threads appending until `stop` is set or the server dies.
fn start_writers(
    url: &str,
    token: &str,
    stop: &Arc<AtomicBool>,
    round: usize,
) -> (Vec<JoinHandle<()>>, Acked) {
    let acked: Acked = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for w in 0..WRITERS {
        let (url, token, stop, acked) = (
            url.to_owned(),
            token.to_owned(),
            Arc::clone(stop),
            Arc::clone(&acked),
        );
        threads.push(std::thread::spawn(move || {
            let agent = agent();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let base = round * 10_000_000 + w * 100_000 + n * 10;
                // Alternate single events and small NDJSON batches.
                let (ct, body) = if n % 3 == 0 {
                    let lines: Vec<String> = (0..4).map(|i| request_event(base + i)).collect();
                    ("application/x-ndjson", lines.join("\n"))
                } else {
                    ("application/json", request_event(base))
                };
                let resp = agent
                    .post(format!("{url}/api/v1/events"))
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", ct)
                    .send(body.as_bytes());
                let Ok(mut resp) = resp else { break };
                if resp.status() != 200 {
                    break;
                }
                // A reply cut off by the kill was never acknowledged.
                let Ok(text) = resp.body_mut().read_to_string() else {
                    break;
                };
                let mut ids = acked.lock().unwrap();
                for line in text.lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    ids.push(v["id"].as_str().unwrap().to_owned());
                }
            }
        }));
    }
    (threads, acked)
}

fn assert_all_present(server: &Server, ids: &[String]) {
    for id in ids {
        let r = server.get(&format!("/api/v1/events/{id}"));
        assert_eq!(
            r.status, 200,
            "acknowledged event {id} is missing after a crash: {}",
            r.body
        );
    }
}

#[test]
fn sigkill_during_concurrent_appends_loses_no_acknowledged_event() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = write_config(tmp.path(), "");
    let mut all: Vec<String> = Vec::new();
    for round in 0..ROUNDS {
        let server = Server::start(&data, &config);
        assert_all_present(&server, &all);
        let stop = Arc::new(AtomicBool::new(false));
        let (threads, acked) = start_writers(&server.url, &server.token, &stop, round);
        // Let appends run, then crash the server while they are in flight.
        std::thread::sleep(Duration::from_millis(1200 + 300 * round as u64));
        server.kill9();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        let acked = Arc::try_unwrap(acked).unwrap().into_inner().unwrap();
        assert!(
            acked.len() > 100,
            "round {round}: only {} events acknowledged",
            acked.len()
        );
        all.extend(acked);
    }
    let server = Server::start(&data, &config);
    assert_all_present(&server, &all);
    assert!(server.size() >= all.len() as u64);
    server.stop();
    let (code, out, err) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "verify failed after crashes: {out}{err}");
    assert!(out.starts_with("ok: "), "{out}");
}
