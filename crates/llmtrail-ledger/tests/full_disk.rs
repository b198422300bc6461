//! The ledger on a full disk: records still fit into the preallocated segment while the
//! derived tree files cannot grow. Appends keep succeeding (the records are durable), no
//! checkpoint is signed over a tree that lags them, and once space comes back the tree
//! catches up, checkpoints resume and the whole log verifies. Mounts a small tmpfs, which
//! needs root (as on the project's machines and CI).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use llmtrail_core::Event;
use llmtrail_ledger::keys::Keys;
use llmtrail_ledger::verify::{VerifyOptions, verify};
use llmtrail_ledger::{Ledger, LedgerOptions};

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, size: &str) -> Mount {
    std::fs::create_dir_all(dir).unwrap();
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "this test needs to mount a tmpfs (run as root)"
    );
    Mount(dir.to_owned())
}

fn event(n: usize) -> Event {
    Event::from_value(serde_json::json!({
        "kind": "llm.request",
        "actor": {"user": "u-1", "session": "s-1"},
        "body": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": [{"role": "user", "content": format!("q{n}")}]
        }
    }))
    .unwrap()
}

/// Writes zeros into `path` until the file system is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 4096];
    loop {
        if file.write_all(&block).is_err() || file.sync_all().is_err() {
            break;
        }
    }
}

#[test]
fn tree_files_that_cannot_grow_delay_checkpoints_but_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let _mount = mount_tmpfs(&mnt, "4m");
    let keys_dir = tmp.path().join("keys");
    Keys::generate("llmtrail.test/full-disk")
        .unwrap()
        .write(&keys_dir, true)
        .unwrap();
    let mut opts = LedgerOptions::new(mnt.join("ledger"));
    opts.segment_bytes = 1 << 20;
    opts.checkpoint_interval = Duration::from_millis(50);
    let ledger = Ledger::open(opts, Keys::load(&keys_dir, None).unwrap()).unwrap();

    // A few records, a checkpoint, then no free block left on the file system.
    ledger.append_blocking(&[event(0), event(1)]).unwrap();
    let before = ledger.checkpoint_now_blocking().unwrap().unwrap().size;
    assert_eq!(before, 2);
    // The next segment is preallocated by a helper thread: let it finish first, so that no
    // space is freed behind the ballast's back.
    let prealloc_done = || {
        std::fs::read_dir(mnt.join("ledger/segments"))
            .unwrap()
            .filter_map(Result::ok)
            .any(|e| {
                e.file_name().to_string_lossy().starts_with("prealloc-")
                    && e.metadata().is_ok_and(|m| m.len() == 1 << 20)
            })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !prealloc_done() {
        assert!(Instant::now() < deadline, "no segment was preallocated");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ballast = mnt.join("ballast");
    fill(&ballast);

    // Level 0 of the tree needs a new page after 128 leaves (32 bytes each); the records
    // themselves go into the segment's preallocated blocks and stay durable.
    for n in 2..400 {
        ledger
            .append_blocking(&[event(n)])
            .unwrap_or_else(|e| panic!("append {n} failed on a full disk: {e}"));
    }
    assert_eq!(ledger.size(), 400);
    assert!(ledger.failure().is_none(), "{:?}", ledger.failure());
    let lagging = ledger.checkpoint_now_blocking().unwrap().unwrap();
    assert!(
        lagging.size < 400,
        "a checkpoint was signed over a tree that cannot hold the records"
    );

    // Space comes back: the tree catches up and the next checkpoint covers everything.
    std::fs::remove_file(&ballast).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let cp = ledger.checkpoint_now_blocking().unwrap().unwrap();
        if cp.size == 400 {
            assert_eq!(cp.root, ledger.root_at(400).unwrap());
            break;
        }
        assert!(Instant::now() < deadline, "the tree never caught up");
        std::thread::sleep(Duration::from_millis(50));
    }
    ledger.append_blocking(&[event(400)]).unwrap();
    ledger.close().unwrap();

    let keys = Keys::load(&keys_dir, None).unwrap();
    let verifier = keys.verifier();
    let report = verify(&VerifyOptions {
        dir: mnt.join("ledger"),
        verifier: &verifier,
        master: Some(&keys.master),
        allow_unsigned_tail: false,
    })
    .unwrap();
    assert_eq!(report.records, 401);
    assert_eq!(report.checkpoint_size, 401);
}
