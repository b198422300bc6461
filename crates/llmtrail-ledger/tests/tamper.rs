//! Tamper tests: every kind of edit to a closed ledger is found by `verify` and located.
//!
//! Each test builds a small ledger (several checkpoints), closes it cleanly, edits the files the
//! way an attacker with disk access would, and checks that verification fails naming the first
//! bad index (or checkpoint) and why.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly by design"
)]

use std::path::{Path, PathBuf};

use llmtrail_core::Event;
use llmtrail_ledger::checkpoint::NoteVerifier;
use llmtrail_ledger::format::{self, Decoded, HEADER_LEN};
use llmtrail_ledger::keys::Keys;
use llmtrail_ledger::verify::{VerifyError, VerifyOptions, verify};
use llmtrail_ledger::{Ledger, LedgerError, LedgerOptions, SEGMENTS_DIR};

const RECORDS: usize = 20;

fn event(n: usize) -> Event {
    let json = format!(
        r#"{{"kind":"llm.request","actor":{{"user":"u-{n}"}},"body":{{"gen_ai.provider.name":"openai","gen_ai.request.model":"gpt-4o","gen_ai.input.messages":[{{"role":"user","content":"prompt number {n}"}}]}}}}"#
    );
    Event::from_json_slice(json.as_bytes()).unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    keys_dir: PathBuf,
}

impl Fixture {
    /// A ledger of RECORDS events with a checkpoint after every 5.
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ledger");
        let keys_dir = tmp.path().join("keys");
        Keys::generate("llmtrail.test/tamper")
            .unwrap()
            .write(&keys_dir, true)
            .unwrap();
        let ledger = Ledger::open(options(&dir), Keys::load(&keys_dir, None).unwrap()).unwrap();
        for chunk in (0..RECORDS).collect::<Vec<_>>().chunks(5) {
            let events: Vec<Event> = chunk.iter().map(|n| event(*n)).collect();
            ledger.append_blocking(&events).unwrap();
            ledger.checkpoint_now_blocking().unwrap();
        }
        ledger.close().unwrap();
        Self {
            _tmp: tmp,
            dir,
            keys_dir,
        }
    }

    fn verifier(&self) -> NoteVerifier {
        Keys::load(&self.keys_dir, None).unwrap().verifier()
    }

    fn verify(&self) -> Result<llmtrail_ledger::verify::VerifyReport, VerifyError> {
        let keys = Keys::load(&self.keys_dir, None).unwrap();
        let verifier = self.verifier();
        verify(&VerifyOptions {
            dir: self.dir.clone(),
            verifier: &verifier,
            master: Some(&keys.master),
            allow_unsigned_tail: false,
        })
    }

    fn segment(&self) -> PathBuf {
        self.dir.join(SEGMENTS_DIR).join(format!("{:020}.seg", 0))
    }

    /// (offset, total length) of every record in the segment.
    fn records(&self) -> Vec<(usize, usize)> {
        let bytes = std::fs::read(self.segment()).unwrap();
        let mut at = HEADER_LEN;
        let mut out = Vec::new();
        while let Ok(Decoded::Record(_, used)) = format::decode_record(&bytes[at..]) {
            out.push((at, used));
            at += used;
        }
        out
    }

    fn edit(&self, f: impl FnOnce(&mut Vec<u8>, &[(usize, usize)])) {
        let records = self.records();
        let path = self.segment();
        let mut bytes = std::fs::read(&path).unwrap();
        let len = bytes.len();
        f(&mut bytes, &records);
        bytes.resize(len, 0);
        std::fs::write(&path, &bytes).unwrap();
    }
}

fn options(dir: &Path) -> LedgerOptions {
    let mut o = LedgerOptions::new(dir);
    o.segment_bytes = 1 << 20;
    o.checkpoint_interval = std::time::Duration::from_secs(3600);
    o
}

/// Recomputes the CRC of the record at `at`, as an attacker who knows the format would.
fn fix_crc(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let crc = crc32c::crc32c(&bytes[at + 8..at + 8 + len]);
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Sets the index field of the record at `at` (and fixes its CRC).
fn set_index(bytes: &mut [u8], at: usize, index: u64) {
    bytes[at + 8..at + 16].copy_from_slice(&index.to_le_bytes());
    fix_crc(bytes, at);
}

fn leaf_range(bytes: &[u8], at: usize) -> std::ops::Range<usize> {
    let leaf_len = u32::from_le_bytes(bytes[at + 32..at + 36].try_into().unwrap()) as usize;
    at + 36..at + 36 + leaf_len
}

fn bad_index(err: &VerifyError) -> u64 {
    err.first_bad_index()
        .unwrap_or_else(|| panic!("no index in {err}"))
}

#[test]
fn an_untouched_ledger_verifies() {
    let f = Fixture::new();
    let report = f.verify().unwrap();
    assert_eq!(report.records, RECORDS as u64);
    assert_eq!(report.content_checked, RECORDS as u64);
    // The empty tree at open, then one after every 5 records.
    assert_eq!(report.checkpoints, 5);
    assert_eq!(report.checkpoint_size, RECORDS as u64);
}

#[test]
fn flipped_leaf_byte_is_located_even_with_a_fixed_checksum() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, _) = recs[7];
        let leaf = leaf_range(b, at);
        // Change a character of the user name inside the metadata.
        let pos = leaf.start + 10;
        b[pos] ^= 0x01;
        fix_crc(b, at);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 7, "{err}");
}

#[test]
fn flipped_leaf_byte_without_checksum_fix_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let leaf = leaf_range(b, recs[12].0);
        b[leaf.start + 3] ^= 0x40;
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 12, "{err}");
}

#[test]
fn flipped_content_byte_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, used) = recs[5];
        // The last bytes of a record are its sealed content.
        b[at + used - 20] ^= 0x01;
        fix_crc(b, at);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 5, "{err}");
    assert!(err.to_string().contains("content"), "{err}");
}

#[test]
fn content_moved_between_records_is_found() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        // Swap the sealed content of records 2 and 3 (same plaintext length, same size).
        let (a, alen) = recs[2];
        let (c, clen) = recs[3];
        assert_eq!(alen, clen);
        let la = leaf_range(b, a).end + 4;
        let lc = leaf_range(b, c).end + 4;
        let sa = b[la..a + alen].to_vec();
        let sc = b[lc..c + clen].to_vec();
        if sa.len() == sc.len() {
            b[la..a + alen].copy_from_slice(&sc);
            b[lc..c + clen].copy_from_slice(&sa);
            fix_crc(b, a);
            fix_crc(b, c);
        }
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 2, "{err}");
}

#[test]
fn flipped_checkpoint_byte_is_found() {
    let f = Fixture::new();
    let path = f.dir.join("checkpoints.log");
    let mut bytes = std::fs::read(&path).unwrap();
    // Entry 1: change a digit of its tree size, and fix the entry checksum.
    let first_len = u32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    let at = 8 + first_len;
    let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let note_start = at + 8;
    let nl = bytes[note_start..]
        .iter()
        .position(|b| *b == b'\n')
        .unwrap();
    bytes[note_start + nl + 1] = b'9';
    let crc = crc32c::crc32c(&bytes[note_start..note_start + len]);
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let err = f.verify().unwrap_err();
    assert!(
        matches!(err, VerifyError::Checkpoint { entry: 1, .. }),
        "{err}"
    );
}

#[test]
fn deleted_record_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, used) = recs[3];
        b.drain(at..at + used);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 3, "{err}");
}

#[test]
fn deleted_record_with_renumbering_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, used) = recs[3];
        let later: Vec<usize> = recs[4..].iter().map(|(o, _)| o - used).collect();
        b.drain(at..at + used);
        for (i, o) in later.into_iter().enumerate() {
            set_index(b, o, 3 + i as u64);
        }
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 3, "{err}");
}

#[test]
fn reordered_records_are_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (a, alen) = recs[8];
        let (c, clen) = recs[9];
        let ra = b[a..a + alen].to_vec();
        let rc = b[c..c + clen].to_vec();
        let mut swapped = rc.clone();
        swapped.extend_from_slice(&ra);
        b[a..c + clen].copy_from_slice(&swapped);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 8, "{err}");
    // The same swap with the index fields rewritten to look sequential.
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (a, alen) = recs[8];
        let (c, clen) = recs[9];
        let mut swapped = b[c..c + clen].to_vec();
        swapped.extend_from_slice(&b[a..a + alen]);
        b[a..c + clen].copy_from_slice(&swapped);
        set_index(b, a, 8);
        set_index(b, a + clen, 9);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 8, "{err}");
}

#[test]
fn inserted_record_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        // Insert a copy of record 2 after it and renumber everything after.
        let (at, used) = recs[2];
        let copy = b[at..at + used].to_vec();
        let insert_at = at + used;
        for (k, byte) in copy.iter().enumerate() {
            b.insert(insert_at + k, *byte);
        }
        set_index(b, insert_at, 3);
        for (i, (o, _)) in recs[3..].iter().enumerate() {
            set_index(b, o + used, 4 + i as u64);
        }
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 3, "{err}");
}

#[test]
fn truncated_segment_is_found() {
    let f = Fixture::new();
    let recs = f.records();
    let path = f.segment();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // Cut in the middle of record 15.
    file.set_len((recs[15].0 + 30) as u64).unwrap();
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 15, "{err}");
    // Cut exactly at a record boundary.
    file.set_len(recs[15].0 as u64).unwrap();
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 15, "{err}");
}

#[test]
fn record_appended_outside_the_ledger_is_found() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, used) = *recs.last().unwrap();
        let copy = b[at..at + used].to_vec();
        let end = at + used;
        b[end..end + used].copy_from_slice(&copy);
        set_index(b, end, RECORDS as u64);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), RECORDS as u64, "{err}");
}

#[test]
fn swapped_signing_key_is_found() {
    let f = Fixture::new();
    let original = f.verifier();
    // The attacker replaces the keys and re-signs nothing: the old checkpoints no longer
    // verify with the key now in the directory...
    let other = Keys::generate("llmtrail.test/tamper").unwrap();
    for name in ["signing.key", "signing.pub"] {
        std::fs::remove_file(f.keys_dir.join(name)).unwrap();
    }
    other.write(&f.keys_dir, false).unwrap();
    let err = f.verify().unwrap_err();
    assert!(
        matches!(err, VerifyError::Checkpoint { entry: 0, .. }),
        "{err}"
    );
    // ...and the ledger refuses to open with the swapped key.
    let keys = Keys::load(&f.keys_dir, None).unwrap();
    let opened = Ledger::open(options(&f.dir), keys);
    assert!(
        matches!(opened, Err(LedgerError::CheckpointMismatch(_))),
        "{opened:?}"
    );
    // A checkpoint re-signed with the new key fails against the key the auditor kept.
    let note = other.signer.sign(&llmtrail_ledger::checkpoint::Checkpoint {
        origin: "llmtrail.test/tamper".into(),
        size: 1,
        root: [0; 32],
        extensions: vec![],
    });
    assert!(original.verify(&note).is_err());
}

#[test]
fn tampered_ledger_refuses_to_open() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let leaf = leaf_range(b, recs[4].0);
        b[leaf.start + 5] ^= 0x01;
        fix_crc(b, recs[4].0);
    });
    // The derived tree still holds the original hash, so the rebuilt tree would match; remove
    // it as an attacker would, forcing a rebuild from the edited records.
    std::fs::remove_dir_all(f.dir.join("tree")).unwrap();
    let keys = Keys::load(&f.keys_dir, None).unwrap();
    let opened = Ledger::open(options(&f.dir), keys);
    assert!(
        matches!(opened, Err(LedgerError::CheckpointMismatch(_))),
        "{opened:?}"
    );
}

#[test]
fn changed_header_id_is_located() {
    let f = Fixture::new();
    f.edit(|b, recs| {
        let (at, _) = recs[11];
        // The 16-byte event id sits after the prefix (8) and the index (8).
        b[at + 16] ^= 0x01;
        fix_crc(b, at);
    });
    let err = f.verify().unwrap_err();
    assert_eq!(bad_index(&err), 11, "{err}");
    assert!(err.to_string().contains("event id"), "{err}");
}
