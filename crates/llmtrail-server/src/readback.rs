//! Reading back from the ledger what a pipeline stage's queue could not hold.
//!
//! A stage (detection, the alert engine) whose bounded queue is full remembers the ledger
//! index ranges of the batches it turned away ([`Skipped`]) and, once its queue is empty, reads
//! those records back ([`metadata_in`]) instead of losing them. The ledger is the record; the
//! queue is only the fast path.

use llmtrail_core::Event;
use llmtrail_ledger::{Ledger, LedgerError, Receipt};

/// The most ranges of skipped ledger indexes a stage remembers.
pub const MAX_SKIPPED_RANGES: usize = 65_536;

/// Ledger index ranges `[start, end)` to read back.
#[derive(Debug, Default)]
pub struct Skipped {
    pub(crate) ranges: Vec<(u64, u64)>,
}

impl Skipped {
    /// Adds the range of one appended batch (contiguous in the ledger); returns false when the
    /// bound is reached (the range is then lost, and the caller counts it).
    pub fn add(&mut self, start: u64, end: u64) -> bool {
        if let Some(last) = self.ranges.last_mut()
            && last.1 == start
        {
            last.1 = end;
            return true;
        }
        if self.ranges.len() >= MAX_SKIPPED_RANGES {
            return false;
        }
        self.ranges.push((start, end));
        true
    }

    /// Adds the range of a batch by its receipts.
    pub fn add_receipts(&mut self, receipts: &[Receipt]) -> bool {
        let start = receipts.iter().map(|r| r.index).min().unwrap_or(0);
        let end = receipts.iter().map(|r| r.index + 1).max().unwrap_or(0);
        start >= end || self.add(start, end)
    }

    /// Takes every range, leaving none.
    pub fn take(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.ranges)
    }

    /// Records in the ranges.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.ranges.iter().map(|r| r.1 - r.0).sum()
    }

    /// Whether no range is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

/// Calls `f` with the metadata (content left out) of each record in `ranges`, in ledger order.
///
/// # Errors
/// When the ledger cannot be read.
pub fn metadata_in(
    ledger: &Ledger,
    ranges: &[(u64, u64)],
    f: &mut dyn FnMut(u64, Event),
) -> Result<(), LedgerError> {
    // Concurrent appends turn batches away in any order: sort before searching.
    let mut ranges = ranges.to_vec();
    ranges.sort_unstable();
    let inside = |i: u64| {
        let at = ranges.partition_point(|r| r.1 <= i);
        ranges.get(at).is_some_and(|r| r.0 <= i)
    };
    ledger.scan_metadata(&mut |i, e| {
        if inside(i) {
            f(i, e);
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use llmtrail_core::{LlmRequest, Message};
    use llmtrail_ledger::LedgerOptions;
    use llmtrail_ledger::keys::Keys;

    use super::*;

    /// Regression (issue 7): ranges arrive out of order from concurrent appends.
    #[test]
    fn unsorted_ranges_are_all_read_back() {
        let tmp = tempfile::tempdir().unwrap();
        let ledger =
            Ledger::open(LedgerOptions::new(tmp.path()), Keys::generate("t").unwrap()).unwrap();
        let events: Vec<Event> = (0..10)
            .map(|i| {
                let mut r = LlmRequest::new("openai", "m");
                r.messages.push(Message::text("user", format!("q{i}")));
                Event::new(r)
            })
            .collect();
        ledger.append_blocking(&events).unwrap();
        let mut seen = Vec::new();
        metadata_in(&ledger, &[(6, 8), (1, 3), (9, 10)], &mut |i, e| {
            seen.push((i, e.id));
        })
        .unwrap();
        let want: Vec<(u64, uuid::Uuid)> = [1, 2, 6, 7, 9]
            .iter()
            .map(|&i| (i, events[i as usize].id))
            .collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn ranges_merge_and_are_bounded() {
        let mut s = Skipped::default();
        assert!(s.add(0, 4));
        assert!(s.add(4, 9));
        assert!(s.add(12, 13));
        assert_eq!(s.ranges, vec![(0, 9), (12, 13)]);
        assert_eq!(s.len(), 10);
        for i in 0..MAX_SKIPPED_RANGES as u64 {
            s.add(100 + 2 * i, 101 + 2 * i);
        }
        assert_eq!(s.ranges.len(), MAX_SKIPPED_RANGES);
        assert!(!s.add(u64::MAX - 5, u64::MAX - 4));
        assert_eq!(s.take().len(), MAX_SKIPPED_RANGES);
        assert!(s.is_empty());
    }
}
