//! A full disk: appends fail with a clear 503, nothing acknowledged is lost, reads keep
//! working, and appends resume once space is freed. The data directory lives on a small tmpfs
//! (the test mounts one; it needs root, as on the project's machines and CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

mod common;

use std::process::Command;

use common::{Server, request_event, run, write_config};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_refuses_appends_clearly_and_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=3m", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "this test needs to mount a tmpfs (run as root)"
    );
    let _mount = Mount(mnt.clone());

    // Ballast that the test deletes later to free space.
    let ballast = mnt.join("ballast");
    std::fs::write(&ballast, vec![1u8; 700 * 1024]).unwrap();
    let data = mnt.join("data");
    let config = write_config(tmp.path(), "");
    let server = Server::start(&data, &config);
    // Reads below use an analyst token: an admin's (raw) read is itself appended to the
    // ledger, which a full disk refuses.
    let (code, analyst, err) = run(&[
        "tokens",
        "create",
        "--role",
        "analyst",
        "--name",
        "a",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let analyst = analyst.trim().to_owned();

    let mut acked: Vec<String> = Vec::new();
    let mut refusal = None;
    for batch in 0..200 {
        let body: String = (0..40)
            .map(|i| request_event(batch * 100 + i) + "\n")
            .collect();
        let r = server.post("application/x-ndjson", body.as_bytes());
        if r.status != 200 {
            refusal = Some(r);
            break;
        }
        for line in r.body.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            acked.push(v["id"].as_str().unwrap().to_owned());
        }
    }
    let refusal = refusal.expect("a 3 MiB disk never filled up");
    assert_eq!(refusal.status, 503, "{}", refusal.body);
    assert_eq!(refusal.json()["error"]["code"], "ledger_unavailable");
    assert!(
        !refusal.body.contains("/mnt"),
        "the error leaks a path: {}",
        refusal.body
    );
    assert!(!acked.is_empty());
    assert_eq!(server.size(), acked.len() as u64);
    for id in acked.iter().step_by(7) {
        let r = common::agent()
            .get(format!("{}/api/v1/events/{id}", server.url))
            .header("authorization", format!("Bearer {analyst}"))
            .call()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }

    // Space comes back: appends resume without a restart.
    std::fs::remove_file(&ballast).unwrap();
    let r = server.post("application/json", request_event(99_999).as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(server.size(), acked.len() as u64 + 1);
    server.stop();

    let (code, out, err) = run(&["verify", "--data-dir", data.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}
