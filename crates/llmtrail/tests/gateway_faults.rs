//! The gateway when llmtrail itself fails: a full disk in audit mode (503, nothing forwarded)
//! and in permissive mode (forwarded, written late, an alert once the ledger is back), and a
//! SIGKILL with requests in flight (every request the upstream saw is in the ledger, and the
//! ledger verifies). The disk tests mount a small tmpfs, which needs root (as on the project's
//! machines and CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, agent, request_event, run, write_config};
use llmtrail_mock_upstream::MockUpstream;
use serde_json::{Value, json};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &std::path::Path) -> Mount {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "this test needs to mount a tmpfs (run as root)"
    );
    Mount(dir.to_owned())
}

fn config(dir: &std::path::Path, upstream: &str, mode: &str) -> std::path::PathBuf {
    write_config(
        dir,
        &format!(
            "[gateway]\non_log_failure = \"{mode}\"\n[gateway.upstreams.openai]\nbase_url = \"{upstream}\"\n"
        ),
    )
}

fn chat(server: &Server, n: usize, pad: usize) -> (u16, String, Value) {
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": format!("req-{n} {}", "p".repeat(pad))}]});
    let mut resp = agent()
        .post(format!("{}/v1/chat/completions", server.url))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    let id = resp.headers()["x-llmtrail-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let bytes = resp.body_mut().read_to_vec().unwrap_or_default();
    let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, id, v)
}

#[test]
fn audit_mode_refuses_to_forward_what_it_cannot_record() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let _mount = mount_tmpfs(&mnt);
    std::fs::write(mnt.join("ballast"), vec![1u8; 700 * 1024]).unwrap();
    let server = Server::start(
        &mnt.join("data"),
        &config(tmp.path(), &mock.base_url(), "block"),
    );

    let mut accepted = Vec::new();
    let mut refused = None;
    for n in 0..2000 {
        let before = mock.request_count();
        let (status, id, body) = chat(&server, n, 20_000);
        if status == 503 {
            assert_eq!(body["error"]["code"], "ledger_unavailable", "{body}");
            assert_eq!(
                mock.request_count(),
                before,
                "a refused request reached the upstream"
            );
            refused = Some(id);
            break;
        }
        assert_eq!(status, 200, "{body}");
        accepted.push(id);
    }
    assert!(refused.is_some(), "the disk never filled up");
    assert!(!accepted.is_empty());
    for id in &accepted {
        assert_eq!(server.get(&format!("/api/v1/events/{id}")).status, 200);
    }
}

#[test]
fn permissive_mode_forwards_then_writes_late_and_raises_an_alert() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let _mount = mount_tmpfs(&mnt);
    // Large enough that freeing it makes room for a whole new 1 MiB segment.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; 1200 * 1024]).unwrap();
    let server = Server::start(
        &mnt.join("data"),
        &config(tmp.path(), &mock.base_url(), "allow"),
    );

    // Fill the disk through the ingest API (which always waits for durability) until it says
    // the ledger is unavailable.
    let mut full = false;
    for batch in 0..400 {
        let body: String = (0..20)
            .map(|i| request_event(batch * 100 + i) + "\n")
            .collect();
        let r = server.post("application/x-ndjson", body.as_bytes());
        if r.status == 503 {
            full = true;
            break;
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert!(full, "the disk never filled up");
    // Batches fail once no new segment fits; single events still fit into the current one
    // until it is full too.
    let mut single_refused = false;
    for n in 0..10_000 {
        let r = server.post("application/json", request_event(900_000 + n).as_bytes());
        if r.status == 503 {
            single_refused = true;
            break;
        }
    }
    assert!(single_refused, "the last segment never filled up");

    // Requests still go through while nothing can be written.
    let before = mock.request_count();
    let mut late = Vec::new();
    for n in 0..5 {
        let (status, id, body) = chat(&server, n, 100);
        assert_eq!(status, 200, "{body}");
        late.push(id);
    }
    assert_eq!(mock.request_count(), before + 5);
    assert_eq!(
        server.get(&format!("/api/v1/events/{}", late[0])).status,
        404
    );

    // Space comes back: the kept events are written and an alert says what happened.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let r = server.get(&format!("/api/v1/events/{}/related", late[0]));
        if r.status == 200 {
            let alert = r.json()["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event"].clone())
                .find(|e| e["kind"] == "alert");
            if let Some(a) = alert {
                break a;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no alert after the ledger came back"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        alert["body"]["rule_id"],
        "llmtrail.gateway.ledger_write_failed"
    );
    assert_eq!(alert["body"]["state"], "open");
    for id in &late {
        let r = server.get(&format!("/api/v1/events/{id}"));
        assert_eq!(r.status, 200, "{id} was not written late");
        assert!(
            alert["body"]["evidence"]
                .as_array()
                .unwrap()
                .contains(&Value::from(id.as_str()))
        );
    }
}

#[test]
fn sigkill_with_requests_in_flight_loses_no_forwarded_request() {
    let mock = MockUpstream::start().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &config(tmp.path(), &mock.base_url(), "block"));
    let url = server.url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for t in 0..16 {
        let url = url.clone();
        let stop = Arc::clone(&stop);
        clients.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let model = if t % 2 == 0 { "mock-slow-100" } else { "gpt-4o" };
                let body = json!({"model": model, "stream": t % 4 == 0,
                                  "messages": [{"role": "user", "content": format!("crash-{t}-{n}")}]});
                let sent = agent()
                    .post(format!("{url}/v1/chat/completions"))
                    .header("content-type", "application/json")
                    .send(body.to_string().as_bytes());
                if let Ok(mut r) = sent {
                    let _ = r.body_mut().read_to_vec();
                }
                n += 1;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    server.kill9();
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let forwarded: HashSet<Vec<u8>> = mock.requests().into_iter().map(|r| r.body).collect();
    assert!(
        forwarded.len() > 20,
        "too few requests reached the upstream: {}",
        forwarded.len()
    );

    let (code, out, err) = run(&[
        "verify",
        "--data-dir",
        data.to_str().unwrap(),
        "--allow-unsigned-tail",
    ]);
    assert_eq!(code, 0, "verify failed after SIGKILL: {out} {err}");

    // Read every llm.request back (offline, as an auditor would) and compare raw bodies.
    let keys = llmtrail_ledger::keys::Keys::load(&data.join("keys"), None).unwrap();
    let ledger = llmtrail_ledger::Ledger::open(
        llmtrail_ledger::LedgerOptions::new(data.join("ledger")),
        keys,
    )
    .unwrap();
    let mut ids = Vec::new();
    ledger
        .scan_metadata(&mut |_, e| {
            if e.kind() == llmtrail_core::EventKind::LlmRequest {
                ids.push(e.id);
            }
        })
        .unwrap();
    let mut recorded = HashSet::new();
    for id in ids {
        let stored = ledger.get(&id).unwrap().unwrap();
        if let llmtrail_core::Body::LlmRequest(r) = stored.event.body {
            recorded.insert(r.raw.unwrap().into_bytes());
        }
    }
    let missing: Vec<_> = forwarded.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "{} forwarded requests are not in the ledger",
        missing.len()
    );
}
