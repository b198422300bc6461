//! Newline-delimited message framing (the MCP stdio transport) with a size bound.
//!
//! Contract: [`LineReader::next`] returns each line without its `\n` (and a `\r` before it);
//! a line longer than the bound is consumed up to its end and reported as
//! [`Line::TooLong`] with its length, never held in memory whole.

use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line.
    Text(Vec<u8>),
    /// A line over the bound (its length in bytes); its bytes were dropped.
    TooLong(usize),
    /// End of input (a last line without `\n` is returned as text first).
    Eof,
}

/// Reads bounded lines.
#[derive(Debug)]
pub struct LineReader<R> {
    inner: R,
    max: usize,
}

impl<R: AsyncBufRead + Unpin> LineReader<R> {
    /// Wraps a buffered reader with a bound on line length.
    pub fn new(inner: R, max: usize) -> Self {
        Self { inner, max }
    }

    /// Reads the next line.
    ///
    /// # Errors
    /// The underlying I/O error.
    pub async fn next(&mut self) -> std::io::Result<Line> {
        let mut buf = Vec::new();
        let mut len = 0usize;
        let mut over = false;
        loop {
            let chunk = self.inner.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(if over {
                    Line::TooLong(len)
                } else if buf.is_empty() {
                    Line::Eof
                } else {
                    Line::Text(trim_cr(buf))
                });
            }
            let (part, done) = match memchr::memchr(b'\n', chunk) {
                Some(i) => (&chunk[..i], Some(i + 1)),
                None => (chunk, None),
            };
            len += part.len();
            if !over && len > self.max {
                over = true;
                buf = Vec::new();
            }
            if !over {
                buf.extend_from_slice(part);
            }
            let consumed = done.unwrap_or(chunk.len());
            self.inner.consume(consumed);
            if done.is_some() {
                return Ok(if over {
                    Line::TooLong(len)
                } else {
                    Line::Text(trim_cr(buf))
                });
            }
        }
    }
}

fn trim_cr(mut v: Vec<u8>) -> Vec<u8> {
    if v.last() == Some(&b'\r') {
        v.pop();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_bounds_and_ends() {
        let data: &[u8] = b"{\"a\":1}\r\n0123456789ABCDEF\nshort\nlast";
        let mut r = LineReader::new(tokio::io::BufReader::with_capacity(4, data), 10);
        assert_eq!(r.next().await.unwrap(), Line::Text(b"{\"a\":1}".to_vec()));
        assert_eq!(r.next().await.unwrap(), Line::TooLong(16));
        assert_eq!(r.next().await.unwrap(), Line::Text(b"short".to_vec()));
        assert_eq!(r.next().await.unwrap(), Line::Text(b"last".to_vec()));
        assert_eq!(r.next().await.unwrap(), Line::Eof);
    }
}
