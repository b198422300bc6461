//! Behaviour of the local ledger: concurrent group commit, reads, proofs against checkpoints,
//! segment rolling, duplicates, torn-tail recovery and reopening.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::path::Path;
use std::sync::Arc;

use llmtrail_core::Event;
use llmtrail_ledger::keys::Keys;
use llmtrail_ledger::merkle::{verify_consistency, verify_inclusion};
use llmtrail_ledger::verify::{VerifyOptions, verify};
use llmtrail_ledger::{ContentState, Ledger, LedgerError, LedgerOptions, SEGMENTS_DIR};

fn event(n: usize, pad: usize) -> Event {
    let text = format!("prompt {n} {}", "x".repeat(pad));
    let json = serde_json::json!({
        "kind": "llm.request",
        "actor": {"user": format!("u-{}", n % 7), "session": "s-1"},
        "tags": {"team": "payments"},
        "body": {
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.input.messages": [{"role": "user", "content": text}]
        }
    });
    Event::from_value(json).unwrap()
}

fn setup(dir: &Path, segment_bytes: u64) -> (LedgerOptions, Keys) {
    let keys_dir = dir.join("keys");
    if !Keys::exist_in(&keys_dir) {
        Keys::generate("llmtrail.test/ledger")
            .unwrap()
            .write(&keys_dir, true)
            .unwrap();
    }
    let mut opts = LedgerOptions::new(dir.join("ledger"));
    opts.segment_bytes = segment_bytes;
    (opts, Keys::load(&keys_dir, None).unwrap())
}

fn open(dir: &Path, segment_bytes: u64) -> Ledger {
    let (opts, keys) = setup(dir, segment_bytes);
    Ledger::open(opts, keys).unwrap()
}

/// Writes `events` into a new ledger in `dir` and closes it cleanly.
fn closed_ledger(dir: &Path, events: &[Event]) {
    let ledger = open(dir, 1 << 20);
    ledger.append_blocking(events).unwrap();
    ledger.close().unwrap();
}

/// The first segment file of the ledger in `dir`.
fn first_segment(dir: &Path) -> std::path::PathBuf {
    dir.join("ledger")
        .join(SEGMENTS_DIR)
        .join(format!("{:020}.seg", 0))
}

/// Opens the ledger in `dir` again, returning the outcome.
fn reopen(dir: &Path) -> Result<Ledger, LedgerError> {
    let (opts, keys) = setup(dir, 1 << 20);
    Ledger::open(opts, keys)
}

fn verify_dir(dir: &Path) -> llmtrail_ledger::verify::VerifyReport {
    let keys = Keys::load(&dir.join("keys"), None).unwrap();
    let verifier = keys.verifier();
    verify(&VerifyOptions {
        dir: dir.join("ledger"),
        verifier: &verifier,
        master: Some(&keys.master),
        allow_unsigned_tail: false,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_dense_unique_indexes_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = Arc::new(open(tmp.path(), 1 << 20));
    let mut tasks = Vec::new();
    for w in 0..32 {
        let ledger = Arc::clone(&ledger);
        tasks.push(tokio::spawn(async move {
            let mut receipts = Vec::new();
            for i in 0..25 {
                let e = event(w * 1000 + i, 300);
                let r = ledger.append(std::slice::from_ref(&e)).await.unwrap();
                receipts.push((e, r[0]));
            }
            receipts
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let mut indexes: Vec<u64> = all.iter().map(|(_, r)| r.index).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, (0..800).collect::<Vec<u64>>());
    assert_eq!(ledger.size(), 800);
    // 800 events of ~0.5 KiB in 1 MiB segments: several segments were rolled.
    let segs = std::fs::read_dir(tmp.path().join("ledger").join(SEGMENTS_DIR))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(segs >= 1);
    for (e, r) in all.iter().step_by(37) {
        let stored = ledger.get(&e.id).unwrap().unwrap();
        assert_eq!(stored.index, r.index);
        assert_eq!(stored.leaf_hash, r.leaf_hash);
        assert_eq!(stored.content, ContentState::Present);
        assert_eq!(stored.event.to_value(), e.to_value());
    }
    ledger.shutdown().await.unwrap();
    let report = tokio::task::spawn_blocking({
        let dir = tmp.path().to_path_buf();
        move || verify_dir(&dir)
    })
    .await
    .unwrap();
    assert_eq!(report.records, 800);
}

#[test]
fn segments_roll_and_everything_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    let mut ids = Vec::new();
    for chunk in 0..30 {
        let events: Vec<Event> = (0..20).map(|i| event(chunk * 20 + i, 2000)).collect();
        ids.extend(events.iter().map(|e| e.id));
        ledger.append_blocking(&events).unwrap();
    }
    ledger.close().unwrap();
    drop(ledger);
    let segs = std::fs::read_dir(tmp.path().join("ledger").join(SEGMENTS_DIR))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count();
    assert!(
        segs >= 2,
        "600 events of 2 KiB must span several 1 MiB segments, got {segs}"
    );
    let ledger = open(tmp.path(), 1 << 20);
    assert_eq!(ledger.size(), 600);
    for id in ids.iter().step_by(29) {
        assert!(ledger.get(id).unwrap().is_some());
    }
    // Appends continue after reopen.
    let r = ledger.append_blocking(&[event(9999, 10)]).unwrap();
    assert_eq!(r[0].index, 600);
    ledger.close().unwrap();
    drop(ledger);
    assert_eq!(verify_dir(tmp.path()).records, 601);
}

#[test]
fn proofs_verify_against_signed_checkpoints() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    let mut receipts = Vec::new();
    receipts.extend(
        ledger
            .append_blocking(&(0..13).map(|i| event(i, 10)).collect::<Vec<_>>())
            .unwrap(),
    );
    let old = ledger.checkpoint_now_blocking().unwrap().unwrap();
    receipts.extend(
        ledger
            .append_blocking(&(13..40).map(|i| event(i, 10)).collect::<Vec<_>>())
            .unwrap(),
    );
    let new = ledger.checkpoint_now_blocking().unwrap().unwrap();
    let verifier = ledger.verifier().clone();
    let old_cp = verifier.verify(&old.note).unwrap();
    let new_cp = verifier.verify(&new.note).unwrap();
    assert_eq!((old_cp.size, new_cp.size), (13, 40));
    for r in &receipts {
        let proof = ledger.inclusion_proof(r.index, new_cp.size).unwrap();
        verify_inclusion(&r.leaf_hash, r.index, new_cp.size, &proof, &new_cp.root).unwrap();
    }
    let proof = ledger.consistency_proof(old_cp.size, new_cp.size).unwrap();
    verify_consistency(old_cp.size, new_cp.size, &old_cp.root, &new_cp.root, &proof).unwrap();
    assert!(matches!(
        ledger.inclusion_proof(40, 40),
        Err(LedgerError::OutOfRange { .. })
    ));
    assert!(matches!(
        ledger.consistency_proof(1, 41),
        Err(LedgerError::OutOfRange { .. })
    ));
}

#[test]
fn a_batch_with_a_duplicate_id_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    let first = event(1, 10);
    ledger
        .append_blocking(std::slice::from_ref(&first))
        .unwrap();
    let batch = vec![event(2, 10), first.clone()];
    assert!(
        matches!(ledger.append_blocking(&batch), Err(LedgerError::Duplicate(id)) if id == first.id)
    );
    let e = event(3, 10);
    let twice = vec![e.clone(), e];
    assert!(matches!(
        ledger.append_blocking(&twice),
        Err(LedgerError::Duplicate(_))
    ));
    assert_eq!(ledger.size(), 1);
    assert!(ledger.get(&batch[0].id).unwrap().is_none());
}

#[test]
fn oversized_batch_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    let events: Vec<Event> = (0..20).map(|i| event(i, 100_000)).collect();
    assert!(matches!(
        ledger.append_blocking(&events),
        Err(LedgerError::BatchTooLarge { .. })
    ));
    assert_eq!(ledger.size(), 0);
}

#[test]
fn a_torn_tail_is_dropped_and_acknowledged_records_stay() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    let events: Vec<Event> = (0..10).map(|i| event(i, 50)).collect();
    ledger.append_blocking(&events).unwrap();
    ledger.close().unwrap();
    drop(ledger);
    // Simulate a crash in the middle of writing the next batch: a partial record after the
    // last good one.
    let seg = first_segment(tmp.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    let mut at = llmtrail_ledger::format::HEADER_LEN;
    while let Ok(llmtrail_ledger::format::Decoded::Record(_, used)) =
        llmtrail_ledger::format::decode_record(&bytes[at..])
    {
        at += used;
    }
    bytes[at..at + 4].copy_from_slice(&500u32.to_le_bytes());
    bytes[at + 4..at + 40].fill(0xAB);
    std::fs::write(&seg, &bytes).unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    assert_eq!(ledger.recovery().torn_bytes, 40);
    // The dropped bytes are kept beside the segment, never destroyed.
    let mut side = seg.clone().into_os_string();
    side.push(format!(".torn-{at}"));
    assert_eq!(std::fs::read(&side).unwrap(), bytes[at..at + 40].to_vec());
    assert_eq!(ledger.size(), 10);
    for e in &events {
        assert!(ledger.get(&e.id).unwrap().is_some());
    }
    let r = ledger.append_blocking(&[event(10, 50)]).unwrap();
    assert_eq!(r[0].index, 10);
    ledger.close().unwrap();
    drop(ledger);
    assert_eq!(verify_dir(tmp.path()).records, 11);
}

#[test]
fn a_second_process_cannot_open_the_same_ledger() {
    let tmp = tempfile::tempdir().unwrap();
    let _first = open(tmp.path(), 1 << 20);
    let (opts, keys) = setup(tmp.path(), 1 << 20);
    assert!(matches!(
        Ledger::open(opts, keys),
        Err(LedgerError::Locked(_))
    ));
}

#[test]
fn the_wrong_master_key_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    ledger.append_blocking(&[event(1, 10)]).unwrap();
    ledger.close().unwrap();
    drop(ledger);
    let (opts, mut keys) = setup(tmp.path(), 1 << 20);
    keys.master = llmtrail_ledger::crypto::MasterKey::generate().unwrap();
    assert!(matches!(
        Ledger::open(opts, keys),
        Err(LedgerError::WrongMasterKey { .. })
    ));
}

#[test]
fn lost_acknowledged_records_refuse_to_open() {
    let tmp = tempfile::tempdir().unwrap();
    closed_ledger(
        tmp.path(),
        &(0..5).map(|i| event(i, 10)).collect::<Vec<_>>(),
    );
    // Zero the whole record area: as if the acknowledged records never reached the disk.
    let seg = first_segment(tmp.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[llmtrail_ledger::format::HEADER_LEN..].fill(0);
    std::fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        reopen(tmp.path()),
        Err(LedgerError::CheckpointMismatch(_))
    ));
}

#[test]
fn damage_to_a_checkpointed_record_refuses_to_open_and_destroys_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    closed_ledger(
        tmp.path(),
        &(0..4).map(|i| event(i, 50)).collect::<Vec<_>>(),
    );
    let seg = first_segment(tmp.path());
    let mut bytes = std::fs::read(&seg).unwrap();
    // One flipped byte inside record 1 (of 4, all covered by the final checkpoint).
    let first_len = u32::from_le_bytes(bytes[96..100].try_into().unwrap()) as usize + 8;
    bytes[96 + first_len + 60] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    assert!(matches!(
        reopen(tmp.path()),
        Err(LedgerError::CheckpointMismatch(_))
    ));
    assert_eq!(
        std::fs::read(&seg).unwrap(),
        bytes,
        "open changed the damaged segment"
    );
}

#[test]
fn a_stale_derived_tree_is_rebuilt_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    ledger
        .append_blocking(&(0..9).map(|i| event(i, 20)).collect::<Vec<_>>())
        .unwrap();
    let before = ledger.root_at(9).unwrap();
    ledger.close().unwrap();
    drop(ledger);
    // Garbage in the derived tree (never synced, so a power loss can leave anything there).
    let level0 = tmp.path().join("ledger").join("tree").join("level-00.bin");
    let mut bytes = std::fs::read(&level0).unwrap();
    bytes[5 * 32] ^= 0xff;
    std::fs::write(&level0, &bytes).unwrap();
    let ledger = open(tmp.path(), 1 << 20);
    assert_eq!(ledger.root_at(9).unwrap(), before);
    ledger.close().unwrap();
    drop(ledger);
    assert_eq!(verify_dir(tmp.path()).records, 9);
}
