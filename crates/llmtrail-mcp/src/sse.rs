//! Server-sent events as the Streamable HTTP transport uses them: splitting a byte stream
//! into events, reading an event's `data`, and rewriting it.
//!
//! Contract: [`Splitter::push`] returns complete events (each with its terminating blank
//! line) in order; bytes after the last blank line stay buffered. Line ends may be `\n` or
//! `\r\n`.

/// Splits a byte stream into events.
#[derive(Debug, Default)]
pub struct Splitter {
    buf: Vec<u8>,
}

impl Splitter {
    /// Adds bytes; returns the events they complete.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Vec<u8>> {
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = boundary(&self.buf) {
            out.push(self.buf.drain(..end).collect());
        }
        out
    }

    /// Bytes held waiting for the end of an event.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes what is buffered (an event the stream never finished).
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// The end (exclusive) of the first complete event.
fn boundary(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(p) = memchr::memchr(b'\n', &b[i..]) {
        let nl = i + p;
        let rest = &b[nl + 1..];
        if rest.first() == Some(&b'\n') {
            return Some(nl + 2);
        }
        if rest.starts_with(b"\r\n") {
            return Some(nl + 3);
        }
        i = nl + 1;
    }
    None
}

/// Returns the event's data (its `data:` lines joined by `\n`), when it has any.
#[must_use]
pub fn data(event: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(event).ok()?;
    let mut out: Option<String> = None;
    for line in text.lines() {
        if let Some(d) = line.strip_prefix("data:") {
            let d = d.strip_prefix(' ').unwrap_or(d);
            match &mut out {
                Some(s) => {
                    s.push('\n');
                    s.push_str(d);
                }
                None => out = Some(d.to_owned()),
            }
        }
    }
    out
}

/// Rebuilds an event with `data` in place of its data lines (other fields kept in order).
#[must_use]
pub fn with_data(event: &[u8], data: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(event);
    let mut out = String::with_capacity(text.len() + data.len());
    let mut written = false;
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("data:") {
            if !written {
                for d in data.split('\n') {
                    out.push_str("data: ");
                    out.push_str(d);
                    out.push('\n');
                }
                written = true;
            }
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out.into_bytes()
}

/// Builds a `message` event carrying `data`.
#[must_use]
pub fn message(data: &str) -> Vec<u8> {
    with_data(b"event: message\ndata:\n\n", data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunks_and_line_ends() {
        let mut s = Splitter::default();
        assert!(s.push(b"id: 1\ndata: {\"a\"").is_empty());
        let ev = s.push(b":1}\n\nevent: message\r\ndata: x\r\n\r\ntail");
        assert_eq!(ev.len(), 2);
        assert_eq!(data(&ev[0]).as_deref(), Some("{\"a\":1}"));
        assert_eq!(data(&ev[1]).as_deref(), Some("x"));
        assert_eq!(s.buffered(), 4);
        assert_eq!(s.take(), b"tail");
    }

    #[test]
    fn rewrites_data_and_keeps_other_fields() {
        let ev = b"id: 7\nevent: message\ndata: a\ndata: b\n\n";
        assert_eq!(data(ev).as_deref(), Some("a\nb"));
        let out = with_data(ev, "{\"z\":1}");
        assert_eq!(out, b"id: 7\nevent: message\ndata: {\"z\":1}\n\n");
        assert_eq!(data(b": comment\n\n"), None);
        assert_eq!(message("{}"), b"event: message\ndata: {}\n\n");
    }
}
