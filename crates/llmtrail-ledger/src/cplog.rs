//! The checkpoint log: every signed checkpoint the ledger ever issued, in order.
//!
//! File `checkpoints.log` in the ledger directory; each entry is
//! `length (u32 LE) || CRC-32C of the note (u32 LE) || signed note (UTF-8)`. Entries are only
//! appended and each append is synced before the checkpoint is published. A damaged last entry
//! (a crash during the append: truncated, or with a checksum that does not match) is reported
//! and dropped on open; damage anywhere else is an error, because it means someone edited
//! history.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// File name of the checkpoint log inside the ledger directory.
pub const CHECKPOINT_LOG: &str = "checkpoints.log";
const MAX_NOTE_LEN: usize = 1 << 20;

/// Errors reading or writing the checkpoint log.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointLogError {
    /// An I/O error on the log file.
    #[error("checkpoint log {path}: {source}")]
    Io {
        /// The log file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An entry other than the last one is damaged.
    #[error("checkpoint log {path}: entry {entry} at offset {offset} is damaged ({why})")]
    Damaged {
        /// The log file.
        path: PathBuf,
        /// Zero-based entry number.
        entry: usize,
        /// Byte offset of the entry.
        offset: u64,
        /// What is wrong.
        why: &'static str,
    },
}

/// Result of reading the whole log.
#[derive(Debug, Default)]
pub struct ReadLog {
    /// The signed notes, oldest first.
    pub notes: Vec<String>,
    /// Length of the intact prefix of the file.
    pub valid_len: u64,
    /// Bytes of a torn last entry, if any.
    pub torn_bytes: u64,
}

/// Reads every entry of the log at `path`; a missing file is an empty log.
///
/// # Errors
/// [`CheckpointLogError::Damaged`] when an entry before the last is damaged, `Io` otherwise.
pub fn read_log(path: &Path) -> Result<ReadLog, CheckpointLogError> {
    let io = |source| CheckpointLogError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(f) => {
            // The log is small (one short note a second at most); a cap still bounds the read.
            f.take(1 << 34).read_to_end(&mut bytes).map_err(io)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ReadLog::default()),
        Err(e) => return Err(io(e)),
    }
    let mut out = ReadLog::default();
    let mut at = 0usize;
    while at < bytes.len() {
        let entry = out.notes.len();
        let damaged = |why| CheckpointLogError::Damaged {
            path: path.to_path_buf(),
            entry,
            offset: at as u64,
            why,
        };
        let parsed = parse_entry(&bytes[at..]);
        match parsed {
            Ok((note, used)) => {
                out.notes.push(note);
                at += used;
            }
            Err(why) => {
                // A damaged entry that reaches the end of the file is the one append a crash
                // can tear (its length may have reached the disk before its note did); damage
                // with intact entries after it was made by someone, not by a crash.
                if is_last_entry(&bytes[at..]) {
                    out.torn_bytes = (bytes.len() - at) as u64;
                    break;
                }
                return Err(damaged(why));
            }
        }
    }
    out.valid_len = at as u64;
    Ok(out)
}

/// Tells whether the (damaged) entry at the start of `b` is the last thing in the file.
fn is_last_entry(b: &[u8]) -> bool {
    if b.len() < 8 || b.iter().all(|x| *x == 0) {
        return true;
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    len.checked_add(8).is_none_or(|end| end >= b.len())
}

fn parse_entry(b: &[u8]) -> Result<(String, usize), &'static str> {
    if b.len() < 8 {
        return Err("truncated");
    }
    let len = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let crc = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    if len == 0 || len > MAX_NOTE_LEN {
        return Err("impossible length");
    }
    let Some(note) = b.get(8..8 + len) else {
        return Err("truncated");
    };
    if crc32c::crc32c(note) != crc {
        return Err("checksum mismatch");
    }
    let note = std::str::from_utf8(note).map_err(|_| "note is not UTF-8")?;
    Ok((note.to_owned(), 8 + len))
}

/// An open checkpoint log for appending.
#[derive(Debug)]
pub struct CheckpointLog {
    path: PathBuf,
    file: File,
}

impl CheckpointLog {
    /// Opens the log for appending after truncating it to `valid_len` (dropping a torn entry).
    ///
    /// # Errors
    /// `Io` when the file cannot be opened or truncated.
    pub fn open(path: &Path, valid_len: u64) -> Result<Self, CheckpointLogError> {
        let io = |source| CheckpointLogError::Io {
            path: path.to_path_buf(),
            source,
        };
        let created = !path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        // A new log's directory entry must be durable before any checkpoint in it is published.
        if created && let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        if file.metadata().map_err(io)?.len() != valid_len {
            file.set_len(valid_len).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Appends one signed note and syncs it to disk.
    ///
    /// # Errors
    /// `Io` when the write or the sync fails.
    pub fn append(&mut self, note: &str) -> Result<(), CheckpointLogError> {
        let mut entry = Vec::with_capacity(note.len() + 8);
        entry.extend_from_slice(&(note.len() as u32).to_le_bytes());
        entry.extend_from_slice(&crc32c::crc32c(note.as_bytes()).to_le_bytes());
        entry.extend_from_slice(note.as_bytes());
        let io = |source| CheckpointLogError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&entry).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_read_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_LOG);
        let mut log = CheckpointLog::open(&path, 0).unwrap();
        log.append("a\n1\nx\n\n— k sig\n").unwrap();
        log.append("a\n2\ny\n\n— k sig\n").unwrap();
        drop(log);
        let read = read_log(&path).unwrap();
        assert_eq!(read.notes.len(), 2);
        assert_eq!(read.torn_bytes, 0);
        // A torn third entry is dropped on reopen.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
        let read = read_log(&path).unwrap();
        assert_eq!((read.notes.len(), read.torn_bytes), (2, 6));
        CheckpointLog::open(&path, read.valid_len).unwrap();
        assert_eq!(read_log(&path).unwrap().torn_bytes, 0);
    }

    #[test]
    fn a_damaged_last_entry_is_torn() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_LOG);
        let mut log = CheckpointLog::open(&path, 0).unwrap();
        log.append("first\n").unwrap();
        log.append("second\n").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let read = read_log(&path).unwrap();
        assert_eq!((read.notes.len(), read.torn_bytes), (1, 15));
    }

    #[test]
    fn a_changed_entry_is_damage_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CHECKPOINT_LOG);
        let mut log = CheckpointLog::open(&path, 0).unwrap();
        log.append("first\n").unwrap();
        log.append("second\n").unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[9] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            read_log(&path),
            Err(CheckpointLogError::Damaged { entry: 0, .. })
        ));
    }
}
