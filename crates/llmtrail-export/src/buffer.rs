//! The per-sink disk buffer: append-only segment files and an acknowledged position.
//!
//! Layout of a sink's directory (`<data_dir>/export/<sink name>/`):
//!
//! - `00000000000000000000.seg`, `00000000000000000001.seg`, …: segments, written in order.
//!   Each holds frames, one per record, in the sink's own format:
//!
//!   | bytes | field |
//!   | --- | --- |
//!   | 4 | payload length `n`, little-endian u32 |
//!   | 4 | CRC-32C of the next `8 + n` bytes, little-endian |
//!   | 8 | ledger index of the record, little-endian u64 |
//!   | n | payload |
//!
//! - `ack`: the first position not yet delivered and the highest ledger index ever written to
//!   the buffer, as the text `<segment> <offset> <index or ->\n`, replaced atomically (write to
//!   `ack.tmp`, fsync, rename) after each delivered batch.
//!
//! The highest index written ([`DiskBuffer::high_water`]) survives the segments that held it,
//! so that after a crash the exporter can find in the ledger the events appended but never
//! buffered (see `Exporter::catch_up_from`).
//!
//! Contract:
//! - Delivery is at least once: a batch is acknowledged only after the sink accepted it, so
//!   after a crash or restart delivery resumes at the acknowledged position and a batch in
//!   flight may be delivered again; nothing acknowledged is read twice.
//! - On open, a torn frame at the end of a segment (a crash mid-write) is cut off, and
//!   segments wholly before the acknowledged position are deleted.
//! - The bytes not yet acknowledged never exceed `max_bytes`. When a record does not fit,
//!   [`WhenFull::DropNewest`] drops the incoming record and [`WhenFull::DropOldest`] deletes
//!   the oldest undelivered segments to make room; either way the count is kept and returned
//!   so that the caller can log and alert. Neither ever waits: the pipeline must not stall
//!   because a SIEM is down.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use serde::Deserialize;

/// Bytes before each payload.
const HEADER: u64 = 16;

/// What a full buffer does with a record that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Keep what is buffered and drop the incoming record (the oldest evidence is kept).
    #[default]
    DropNewest,
    /// Delete the oldest undelivered segment to make room (the newest evidence is kept).
    DropOldest,
}

/// Sizes and policy of one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferOptions {
    /// Most bytes (frames included) kept undelivered.
    pub max_bytes: u64,
    /// Size at which a new segment is started.
    pub segment_bytes: u64,
    /// What to do when a record does not fit.
    pub when_full: WhenFull,
}

/// A position in the buffer: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Segment number.
    pub segment: u64,
    /// Byte offset within the segment.
    pub offset: u64,
}

/// Records read for delivery, and where the next read starts.
#[derive(Debug, Default)]
pub struct Batch {
    /// Ledger index and payload of each record, in order.
    pub records: Vec<(u64, Vec<u8>)>,
    /// Position just after the last record.
    pub end: Pos,
}

/// Errors of the buffer.
#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// A file of the buffer could not be read or written.
    #[error("export buffer {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

#[derive(Debug, Default, Clone, Copy)]
struct Segment {
    bytes: u64,
    records: u64,
    max_index: Option<u64>,
}

#[derive(Debug)]
struct State {
    segments: BTreeMap<u64, Segment>,
    writer: Option<(u64, File)>,
    ack: Pos,
    /// Records of the acknowledged segment that lie before `ack.offset`.
    acked_in_first: u64,
    /// Highest ledger index ever written.
    high_water: Option<u64>,
    dropped: u64,
    closed: bool,
}

impl State {
    fn pending_bytes(&self) -> u64 {
        self.segments
            .range(self.ack.segment..)
            .map(|(_, s)| s.bytes)
            .sum::<u64>()
            .saturating_sub(self.ack.offset)
    }

    fn pending_records(&self) -> u64 {
        self.segments
            .range(self.ack.segment..)
            .map(|(_, s)| s.records)
            .sum::<u64>()
            .saturating_sub(self.acked_in_first)
    }
}

/// One sink's buffer; shared by the writer (the pipeline side) and the sink's delivery loop.
#[derive(Debug)]
pub struct DiskBuffer {
    dir: PathBuf,
    opts: BufferOptions,
    state: Mutex<State>,
    cond: Condvar,
}

fn seg_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BufferError + '_ {
    move |source| BufferError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Reads the frame header at the reader's position: (payload length, crc).
fn read_header(r: &mut impl io::Read) -> io::Result<Option<(u32, u32, u64)>> {
    let mut h = [0u8; HEADER as usize];
    match r.read_exact(&mut h) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let crc = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let index = u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
    Ok(Some((len, crc, index)))
}

fn frame_crc(index: u64, payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&index.to_le_bytes()), payload)
}

/// Scans a segment: the length of its valid prefix and the number of frames in it.
fn scan(path: &Path) -> io::Result<Segment> {
    let mut r = io::BufReader::new(File::open(path)?);
    let mut seg = Segment::default();
    let mut payload = Vec::new();
    while let Some((len, crc, index)) = read_header(&mut r)? {
        payload.resize(len as usize, 0);
        match r.read_exact(&mut payload) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        if frame_crc(index, &payload) != crc {
            break;
        }
        seg.bytes += HEADER + u64::from(len);
        seg.records += 1;
        seg.max_index = seg.max_index.max(Some(index));
    }
    Ok(seg)
}

impl DiskBuffer {
    /// Opens (or creates) the buffer in `dir`, cutting off a torn tail and deleting what was
    /// already delivered.
    ///
    /// # Errors
    /// [`BufferError::Io`] naming the file that cannot be read, written or created.
    pub fn open(dir: &Path, opts: BufferOptions) -> Result<DiskBuffer, BufferError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut ids = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            if let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let ack_path = dir.join("ack");
        let mut high_water = None;
        let ack = match fs::read_to_string(&ack_path) {
            Ok(text) => {
                let mut parts = text.split_whitespace();
                let mut num = || parts.next().map(str::parse::<u64>);
                match (num(), num(), num()) {
                    (Some(Ok(segment)), Some(Ok(offset)), hw) => {
                        high_water = hw.and_then(Result::ok);
                        Pos { segment, offset }
                    }
                    _ => {
                        return Err(BufferError::Io {
                            path: ack_path,
                            source: io::Error::new(io::ErrorKind::InvalidData, "malformed"),
                        });
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Pos {
                segment: ids.first().copied().unwrap_or(0),
                offset: 0,
            },
            Err(e) => return Err(io_err(&ack_path)(e)),
        };
        let mut segments = BTreeMap::new();
        for id in ids {
            let path = seg_path(dir, id);
            if id < ack.segment {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            let seg = scan(&path).map_err(io_err(&path))?;
            let len = fs::metadata(&path).map_err(io_err(&path))?.len();
            if len != seg.bytes {
                tracing::warn!(
                    path = %path.display(),
                    kept = seg.bytes,
                    cut = len - seg.bytes,
                    "export buffer: torn frame cut off"
                );
                let f = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(io_err(&path))?;
                f.set_len(seg.bytes).map_err(io_err(&path))?;
                f.sync_all().map_err(io_err(&path))?;
            }
            high_water = high_water.max(seg.max_index);
            segments.insert(id, seg);
        }
        let mut acked_in_first = 0;
        if let Some(seg) = segments.get(&ack.segment) {
            acked_in_first = count_before(&seg_path(dir, ack.segment), ack.offset.min(seg.bytes))
                .map_err(io_err(&seg_path(dir, ack.segment)))?;
        }
        Ok(DiskBuffer {
            dir: dir.to_owned(),
            opts,
            state: Mutex::new(State {
                segments,
                writer: None,
                ack,
                acked_in_first,
                high_water,
                dropped: 0,
                closed: false,
            }),
            cond: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends records (ledger index and payload) and syncs them to disk; returns how many
    /// were dropped (by [`WhenFull`]) to respect `max_bytes`.
    ///
    /// # Errors
    /// [`BufferError::Io`] when the segment cannot be written; the records are then not in
    /// the buffer.
    pub fn push(&self, records: &[(u64, Vec<u8>)]) -> Result<u64, BufferError> {
        let mut st = self.lock();
        let mut dropped = 0;
        let mut out = Vec::new();
        let mut out_records = 0;
        for (index, payload) in records {
            let size = HEADER + payload.len() as u64;
            let mut pending = st.pending_bytes() + out.len() as u64;
            if pending + size > self.opts.max_bytes && self.opts.when_full == WhenFull::DropOldest {
                // Write what is collected so far, so that the current segment can be rolled
                // away from and older segments deleted.
                self.write_out(&mut st, &mut out, &mut out_records)?;
                while st.pending_bytes() + size > self.opts.max_bytes {
                    let Some(n) = self.delete_oldest(&mut st)? else {
                        break;
                    };
                    dropped += n;
                }
                pending = st.pending_bytes();
            }
            if pending + size > self.opts.max_bytes {
                dropped += 1;
                continue;
            }
            let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&frame_crc(*index, payload).to_le_bytes());
            out.extend_from_slice(&index.to_le_bytes());
            out.extend_from_slice(payload);
            out_records += 1;
            st.high_water = st.high_water.max(Some(*index));
            let seg_used = st
                .writer
                .as_ref()
                .and_then(|(id, _)| st.segments.get(id))
                .map_or(0, |s| s.bytes);
            if seg_used + out.len() as u64 >= self.opts.segment_bytes {
                self.write_out(&mut st, &mut out, &mut out_records)?;
                st.writer = None;
            }
        }
        self.write_out(&mut st, &mut out, &mut out_records)?;
        st.dropped += dropped;
        drop(st);
        self.cond.notify_all();
        Ok(dropped)
    }

    /// Writes and syncs `out` to the current segment (starting one when needed).
    fn write_out(
        &self,
        st: &mut State,
        out: &mut Vec<u8>,
        out_records: &mut u64,
    ) -> Result<(), BufferError> {
        if out.is_empty() {
            return Ok(());
        }
        if st.writer.is_none() {
            let id = st
                .segments
                .keys()
                .next_back()
                .map_or(st.ack.segment, |last| last + 1);
            let path = seg_path(&self.dir, id);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path))?;
            st.segments.insert(id, Segment::default());
            st.writer = Some((id, file));
        }
        let Some((id, file)) = st.writer.as_mut() else {
            return Ok(());
        };
        let id = *id;
        let path = seg_path(&self.dir, id);
        let written = file.write_all(out).and_then(|()| file.sync_data());
        if let Err(e) = written {
            // The segment may now end in a partial frame: stop appending to it, and let the
            // next open cut the tail off.
            st.writer = None;
            return Err(io_err(&path)(e));
        }
        if let Some(seg) = st.segments.get_mut(&id) {
            seg.bytes += out.len() as u64;
            seg.records += *out_records;
        }
        out.clear();
        *out_records = 0;
        Ok(())
    }

    /// Deletes the oldest segment that is not being written; returns the undelivered records
    /// it held, or `None` when there is none to delete.
    fn delete_oldest(&self, st: &mut State) -> Result<Option<u64>, BufferError> {
        let writing = st.writer.as_ref().map(|(id, _)| *id);
        let Some((&id, &seg)) = st.segments.range(st.ack.segment..).next() else {
            return Ok(None);
        };
        if Some(id) == writing {
            // Start a new segment so that this one can go next time.
            st.writer = None;
            if seg.bytes == 0 {
                return Ok(None);
            }
        }
        let lost = seg.records.saturating_sub(st.acked_in_first);
        let path = seg_path(&self.dir, id);
        fs::remove_file(&path).map_err(io_err(&path))?;
        st.segments.remove(&id);
        st.ack = Pos {
            segment: id + 1,
            offset: 0,
        };
        st.acked_in_first = 0;
        self.write_ack(st.ack, st.high_water)?;
        Ok(Some(lost))
    }

    fn write_ack(&self, pos: Pos, high_water: Option<u64>) -> Result<(), BufferError> {
        let tmp = self.dir.join("ack.tmp");
        let path = self.dir.join("ack");
        let hw = high_water.map_or_else(|| "-".to_owned(), |i| i.to_string());
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(format!("{} {} {hw}\n", pos.segment, pos.offset).as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(())
    }

    /// The highest ledger index ever written to this buffer (`None` for a buffer that never
    /// held a record).
    #[must_use]
    pub fn high_water(&self) -> Option<u64> {
        self.lock().high_water
    }

    /// The first undelivered position.
    #[must_use]
    pub fn acked(&self) -> Pos {
        self.lock().ack
    }

    /// Reads up to `max_records` records (and about `max_bytes`) from `from`, waiting up to
    /// `wait` for some to arrive. An empty batch means none arrived (or the buffer is closed).
    ///
    /// # Errors
    /// [`BufferError::Io`] when a segment cannot be read.
    pub fn read(
        &self,
        from: Pos,
        max_records: usize,
        max_bytes: u64,
        wait: Duration,
    ) -> Result<Batch, BufferError> {
        let mut st = self.lock();
        let (seg_id, start, end) = loop {
            let from = from.max(st.ack);
            // The first segment at or after `from` with bytes beyond the position.
            let found = st.segments.range(from.segment..).find_map(|(&id, s)| {
                let off = if id == from.segment { from.offset } else { 0 };
                (s.bytes > off).then_some((id, off, s.bytes))
            });
            if let Some(f) = found {
                break f;
            }
            if st.closed {
                return Ok(Batch {
                    records: Vec::new(),
                    end: from,
                });
            }
            let (next, timeout) = self
                .cond
                .wait_timeout(st, wait)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            st = next;
            if timeout.timed_out() {
                return Ok(Batch {
                    records: Vec::new(),
                    end: from,
                });
            }
        };
        drop(st);
        let path = seg_path(&self.dir, seg_id);
        let mut file = File::open(&path).map_err(io_err(&path))?;
        file.seek(SeekFrom::Start(start)).map_err(io_err(&path))?;
        let mut r = io::BufReader::new(file.take(end - start));
        let mut batch = Batch {
            records: Vec::new(),
            end: Pos {
                segment: seg_id,
                offset: start,
            },
        };
        let mut bytes = 0;
        while batch.records.len() < max_records.max(1) && (bytes < max_bytes || bytes == 0) {
            let Some((len, crc, index)) = read_header(&mut r).map_err(io_err(&path))? else {
                break;
            };
            let mut payload = vec![0; len as usize];
            r.read_exact(&mut payload).map_err(io_err(&path))?;
            if frame_crc(index, &payload) != crc {
                return Err(BufferError::Io {
                    path,
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("checksum mismatch at offset {}", batch.end.offset),
                    ),
                });
            }
            bytes += HEADER + u64::from(len);
            batch.end.offset += HEADER + u64::from(len);
            batch.records.push((index, payload));
        }
        Ok(batch)
    }

    /// Marks everything before `end` delivered (`records` of them since the last
    /// acknowledgement), persists the position and deletes finished segments.
    ///
    /// # Errors
    /// [`BufferError::Io`] when the position cannot be persisted.
    pub fn ack(&self, end: Pos, records: u64) -> Result<(), BufferError> {
        let mut st = self.lock();
        if end <= st.ack {
            return Ok(());
        }
        if end.segment == st.ack.segment {
            st.acked_in_first += records;
        } else {
            st.acked_in_first = records;
        }
        st.ack = end;
        self.write_ack(end, st.high_water)?;
        let done: Vec<u64> = st
            .segments
            .range(..end.segment)
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            let path = seg_path(&self.dir, id);
            if st.writer.as_ref().is_some_and(|(w, _)| *w == id) {
                st.writer = None;
            }
            fs::remove_file(&path).map_err(io_err(&path))?;
            st.segments.remove(&id);
        }
        Ok(())
    }

    /// Bytes written and not yet delivered.
    #[must_use]
    pub fn pending_bytes(&self) -> u64 {
        self.lock().pending_bytes()
    }

    /// Records written and not yet delivered.
    #[must_use]
    pub fn pending_records(&self) -> u64 {
        self.lock().pending_records()
    }

    /// Records dropped because the buffer was full, since it was opened.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Wakes readers and makes them return empty batches once nothing is left to read.
    pub fn close(&self) {
        self.lock().closed = true;
        self.cond.notify_all();
    }
}

/// Counts the frames of a segment that end at or before `offset`.
fn count_before(path: &Path, offset: u64) -> io::Result<u64> {
    let mut r = io::BufReader::new(File::open(path)?.take(offset));
    let mut n = 0;
    let mut payload = Vec::new();
    while let Some((len, _, _)) = read_header(&mut r)? {
        payload.resize(len as usize, 0);
        if r.read_exact(&mut payload).is_err() {
            break;
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    fn opts(max: u64, seg: u64, when_full: WhenFull) -> BufferOptions {
        BufferOptions {
            max_bytes: max,
            segment_bytes: seg,
            when_full,
        }
    }

    fn recs(range: std::ops::Range<u64>) -> Vec<(u64, Vec<u8>)> {
        range
            .map(|i| (i, format!("record {i}").into_bytes()))
            .collect()
    }

    fn drain(b: &DiskBuffer) -> Vec<u64> {
        let mut got = Vec::new();
        loop {
            let batch = b
                .read(b.acked(), 3, 1 << 20, Duration::from_millis(1))
                .unwrap();
            if batch.records.is_empty() {
                return got;
            }
            got.extend(batch.records.iter().map(|r| r.0));
            b.ack(batch.end, batch.records.len() as u64).unwrap();
        }
    }

    #[test]
    fn delivers_in_order_across_segments_and_deletes_what_was_acked() {
        let dir = tempfile::tempdir().unwrap();
        let b = DiskBuffer::open(dir.path(), opts(1 << 20, 64, WhenFull::DropNewest)).unwrap();
        b.push(&recs(0..10)).unwrap();
        assert_eq!(b.pending_records(), 10);
        assert_eq!(drain(&b), (0..10).collect::<Vec<_>>());
        assert_eq!(b.pending_bytes(), 0);
        let segs = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "seg")
            })
            .count();
        assert!(segs <= 1, "{segs} segments left");
    }

    #[test]
    fn resumes_after_reopen_at_the_acknowledged_position() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = DiskBuffer::open(dir.path(), opts(1 << 20, 100, WhenFull::DropNewest)).unwrap();
            b.push(&recs(0..8)).unwrap();
            let batch = b.read(b.acked(), 5, 1 << 20, Duration::ZERO).unwrap();
            assert_eq!(batch.records.len(), 5.min(batch.records.len()));
            b.ack(batch.end, batch.records.len() as u64).unwrap();
            // A batch read but not acknowledged (the sink failed) is delivered again.
            let _unacked = b.read(b.acked(), 2, 1 << 20, Duration::ZERO).unwrap();
        }
        let b = DiskBuffer::open(dir.path(), opts(1 << 20, 100, WhenFull::DropNewest)).unwrap();
        let first = drain(&b);
        assert!(!first.is_empty());
        assert_eq!(*first.last().unwrap(), 7);
        assert_eq!(b.pending_records(), 0);
        b.push(&recs(8..10)).unwrap();
        assert_eq!(drain(&b), vec![8, 9]);
    }

    #[test]
    fn the_high_water_mark_outlives_the_segments() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(1 << 20, 64, WhenFull::DropNewest);
        {
            let b = DiskBuffer::open(dir.path(), o).unwrap();
            assert_eq!(b.high_water(), None);
            b.push(&recs(3..9)).unwrap();
            assert_eq!(b.high_water(), Some(8));
        }
        let b = DiskBuffer::open(dir.path(), o).unwrap();
        assert_eq!(b.high_water(), Some(8), "from the segments");
        drain(&b);
        drop(b);
        let b = DiskBuffer::open(dir.path(), o).unwrap();
        assert_eq!(b.pending_records(), 0);
        assert_eq!(b.high_water(), Some(8), "from the ack file");
    }

    #[test]
    fn a_torn_tail_is_cut_off_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b =
                DiskBuffer::open(dir.path(), opts(1 << 20, 1 << 20, WhenFull::DropNewest)).unwrap();
            b.push(&recs(0..3)).unwrap();
        }
        let seg = seg_path(dir.path(), 0);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2]).unwrap();
        drop(f);
        let b = DiskBuffer::open(dir.path(), opts(1 << 20, 1 << 20, WhenFull::DropNewest)).unwrap();
        b.push(&recs(3..4)).unwrap();
        assert_eq!(drain(&b), vec![0, 1, 2, 3]);
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let frame = HEADER + 8; // "record N"
        let b =
            DiskBuffer::open(dir.path(), opts(frame * 4, 1 << 20, WhenFull::DropNewest)).unwrap();
        assert_eq!(b.push(&recs(0..6)).unwrap(), 2);
        assert_eq!(b.dropped(), 2);
        assert!(b.pending_bytes() <= frame * 4);
        assert_eq!(drain(&b), vec![0, 1, 2, 3]);
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let frame = HEADER + 8;
        let b =
            DiskBuffer::open(dir.path(), opts(frame * 4, frame * 2, WhenFull::DropOldest)).unwrap();
        let dropped = b.push(&recs(0..8)).unwrap();
        assert!(b.pending_bytes() <= frame * 4);
        let got = drain(&b);
        assert_eq!(dropped as usize + got.len(), 8);
        assert_eq!(*got.last().unwrap(), 7);
        assert!(got.windows(2).all(|w| w[0] < w[1]));
    }
}
