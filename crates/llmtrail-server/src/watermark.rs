//! Watermarks of the stages that follow the ledger (detection, alerts): the ledger size a
//! stage had caught up with, kept in a small file of the data directory, so that after a
//! crash the stage knows from where it may have missed events.
//!
//! A mark is written when the stage's queue is empty, at most once a second, durably
//! (temporary file, fsync, rename). Appends that had returned but not yet reached the stage
//! can sit just below a mark, so a stage goes back [`MARGIN`] records below it at startup
//! and must treat those records idempotently.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Records below a mark that a stage looks at again at startup.
pub const MARGIN: u64 = 16_384;

/// The mark file of `stage` (`detect`, `alerts`) in `data_dir`.
#[must_use]
pub fn path(data_dir: &Path, stage: &str) -> PathBuf {
    data_dir.join(format!("{stage}.watermark"))
}

/// The mark in `path`, if there is a readable one.
#[must_use]
pub fn read(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Writes the mark durably; a failure only means a longer look back after a crash.
pub fn write(path: &Path, mark: u64) {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let written = std::fs::File::create(&tmp).and_then(|mut f| {
        f.write_all(format!("{mark}\n").as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::warn!(error = %e, file = %path.display(), "watermark not written");
    }
}

/// A stage's mark: written at most once a second, and only when it moved.
#[derive(Debug)]
pub struct Mark {
    path: PathBuf,
    at: u64,
    written: Instant,
}

impl Mark {
    /// Writes `at` now and keeps it as the current mark.
    #[must_use]
    pub fn start(path: PathBuf, at: u64) -> Mark {
        write(&path, at);
        Mark {
            path,
            at,
            written: Instant::now(),
        }
    }

    /// The stage has caught up with `size` records: writes it if it moved and a second has
    /// passed since the last write.
    pub fn caught_up(&mut self, size: u64) {
        if size != self.at && self.written.elapsed() >= Duration::from_secs(1) {
            write(&self.path, size);
            (self.at, self.written) = (size, Instant::now());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn a_mark_is_written_read_back_and_throttled() {
        let tmp = tempfile::tempdir().unwrap();
        let p = path(tmp.path(), "alerts");
        assert_eq!(read(&p), None);
        let mut mark = Mark::start(p.clone(), 7);
        assert_eq!(read(&p), Some(7));
        // Within the second: not written.
        mark.caught_up(9);
        assert_eq!(read(&p), Some(7));
        std::fs::write(&p, "garbage").unwrap();
        assert_eq!(read(&p), None, "an unreadable mark is no mark");
    }
}
