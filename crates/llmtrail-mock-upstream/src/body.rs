//! The response body type: a whole buffer, or a list of SSE chunks sent one HTTP chunk each.
//!
//! A chunked body can pause before content chunks (`mock-slow`) and can end in an error
//! (`mock-reset`), which makes hyper drop the connection without the last chunk of the chunked
//! encoding, so the client sees an incomplete body. Before that error the body waits a moment:
//! hyper flushes its write buffer only when the body is pending, and the client must receive
//! the chunks sent before the abort.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::sse::Chunk;

/// How long an aborting stream waits after its last chunk, so that the chunk is flushed.
const ABORT_DELAY: Duration = Duration::from_millis(20);

/// A response body.
#[derive(Debug)]
pub(crate) struct MockBody {
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Full(Option<Bytes>),
    Chunks(Box<Chunks>),
}

#[derive(Debug)]
struct Chunks {
    queue: std::vec::IntoIter<Chunk>,
    pause: Duration,
    abort: bool,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The chunk to send when `sleep` ends; none means the abort is due.
    held: Option<Bytes>,
}

impl MockBody {
    /// A body sent in one piece, with a `content-length`.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self {
            inner: Inner::Full(Some(bytes.into())),
        }
    }

    /// A chunked body of SSE events, pausing `pause` before each content chunk and, when
    /// `abort` is set, failing after the last chunk instead of ending.
    pub(crate) fn chunks(chunks: Vec<Chunk>, pause: Duration, abort: bool) -> Self {
        Self {
            inner: Inner::Chunks(Box::new(Chunks {
                queue: chunks.into_iter(),
                pause,
                abort,
                sleep: None,
                held: None,
            })),
        }
    }
}

impl Chunks {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                self.sleep = None;
                return Poll::Ready(Some(match self.held.take() {
                    Some(data) => Ok(Frame::data(data)),
                    None => Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "mock-reset aborts the stream",
                    )),
                }));
            }
            match self.queue.next() {
                Some(chunk) if chunk.content && !self.pause.is_zero() => {
                    self.held = Some(chunk.data);
                    self.sleep = Some(Box::pin(tokio::time::sleep(self.pause)));
                }
                Some(chunk) => return Poll::Ready(Some(Ok(Frame::data(chunk.data)))),
                None if self.abort => {
                    self.abort = false;
                    self.sleep = Some(Box::pin(tokio::time::sleep(ABORT_DELAY)));
                }
                None => return Poll::Ready(None),
            }
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        match &mut self.get_mut().inner {
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Inner::Chunks(chunks) => chunks.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.inner, Inner::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Chunks(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn chunk(text: &str, content: bool) -> Chunk {
        Chunk::raw(text.to_owned(), content)
    }

    #[tokio::test(start_paused = true)]
    async fn pauses_before_content_chunks_only() {
        let body = MockBody::chunks(
            vec![
                chunk("a", false),
                chunk("b", true),
                chunk("c", true),
                chunk("d", false),
            ],
            Duration::from_millis(100),
            false,
        );
        let start = tokio::time::Instant::now();
        let collected = body.collect().await.unwrap().to_bytes();
        assert_eq!(&collected[..], b"abcd");
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn aborts_after_last_chunk() {
        let mut body = MockBody::chunks(vec![chunk("a", false)], Duration::ZERO, true);
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "a");
        let err = body.frame().await.unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
    }

    #[test]
    fn full_body_has_exact_size() {
        let body = MockBody::full(&b"hello"[..]);
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
    }
}
