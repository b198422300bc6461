//! The response body the client reads: the upstream's body passed through frame by frame,
//! while every byte is kept for the record.
//!
//! Contract:
//! - Each frame is handed to the client as soon as the upstream produces it; nothing is held
//!   back or coalesced, so streaming latency is the upstream's.
//! - The record is made exactly once, when the body ends: normally, on an upstream error
//!   (connection reset), on an idle timeout (no frame for `idle_timeout`), or when the client
//!   goes away (the body is dropped unfinished). The captured bytes are shared `Bytes` handles
//!   of the frames, not copies.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Error type of bodies passed to the client.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a response body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The upstream finished the body.
    Complete,
    /// The upstream connection failed mid-body.
    UpstreamError,
    /// The upstream sent nothing for longer than the idle timeout.
    IdleTimeout,
    /// The client stopped reading (disconnected) before the end.
    ClientAborted,
}

/// What the capture hands over when the body ends.
#[derive(Debug)]
pub struct Captured {
    /// The frames' bytes, in order.
    pub chunks: Vec<Bytes>,
    /// When the first data frame arrived.
    pub first_byte: Option<Instant>,
    /// When the body ended.
    pub ended: Instant,
    /// How it ended.
    pub outcome: Outcome,
}

impl Captured {
    /// Returns the whole body as one buffer.
    #[must_use]
    pub fn body(&self) -> Bytes {
        match self.chunks.as_slice() {
            [] => Bytes::new(),
            [one] => one.clone(),
            many => {
                let mut all = Vec::with_capacity(many.iter().map(Bytes::len).sum());
                for c in many {
                    all.extend_from_slice(c);
                }
                Bytes::from(all)
            }
        }
    }
}

/// Receives the capture once the body has ended.
pub trait OnEnd: Send + 'static {
    /// Called exactly once.
    fn on_end(self: Box<Self>, captured: Captured);
}

/// The idle-timeout error handed to the client's connection.
#[derive(Debug, thiserror::Error)]
#[error("upstream sent nothing for {0:?}")]
pub struct IdleTimeout(pub Duration);

/// A body that tees the upstream's frames into a capture.
pub struct Capture<B> {
    inner: Pin<Box<B>>,
    chunks: Vec<Bytes>,
    first_byte: Option<Instant>,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    on_end: Option<Box<dyn OnEnd>>,
    /// `Body::is_end_stream` of the inner body, usable from `Drop` (which cannot name the
    /// `Body` bound).
    ended: fn(&Pin<Box<B>>) -> bool,
}

impl<B> std::fmt::Debug for Capture<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl<B> Capture<B> {
    fn inner_ended(&self) -> bool {
        (self.ended)(&self.inner)
    }

    /// Wraps `inner`; `on_end` gets the capture when it ends.
    pub fn new(inner: B, idle_timeout: Duration, on_end: Box<dyn OnEnd>) -> Self
    where
        B: Body,
    {
        Capture {
            ended: |b| b.is_end_stream(),
            inner: Box::pin(inner),
            chunks: Vec::new(),
            first_byte: None,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            on_end: Some(on_end),
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(on_end) = self.on_end.take() {
            on_end.on_end(Captured {
                chunks: std::mem::take(&mut self.chunks),
                first_byte: self.first_byte,
                ended: Instant::now(),
                outcome,
            });
        }
    }
}

impl<B> Drop for Capture<B> {
    fn drop(&mut self) {
        // An empty body of known length is complete without ever being polled.
        let outcome = if self.chunks.is_empty() && self.inner_ended() {
            Outcome::Complete
        } else {
            Outcome::ClientAborted
        };
        self.finish(outcome);
    }
}

impl<B> Body for Capture<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.on_end.is_none() {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.first_byte.is_none() && !data.is_empty() {
                        this.first_byte = Some(Instant::now());
                    }
                    this.chunks.push(data.clone());
                }
                if this.inner.is_end_stream() {
                    // A body of known length ends with its last frame: the connection may
                    // never poll again, so the end is recorded now.
                    this.finish(Outcome::Complete);
                } else {
                    let deadline = tokio::time::Instant::now() + this.idle_timeout;
                    this.idle.as_mut().reset(deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(Outcome::UpstreamError);
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                this.finish(Outcome::Complete);
                Poll::Ready(None)
            }
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.finish(Outcome::IdleTimeout);
                    Poll::Ready(Some(Err(Box::new(IdleTimeout(this.idle_timeout)))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.on_end.is_none() || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use std::sync::{Arc, Mutex};

    use http_body_util::{BodyExt as _, StreamBody};

    use super::*;

    struct Sink(Arc<Mutex<Option<Captured>>>);

    impl OnEnd for Sink {
        fn on_end(self: Box<Self>, captured: Captured) {
            *self.0.lock().unwrap() = Some(captured);
        }
    }

    fn stream(
        items: Vec<Result<&'static str, &'static str>>,
    ) -> StreamBody<impl futures_core::Stream<Item = Result<Frame<Bytes>, BoxError>>> {
        let iter = items.into_iter().map(|r| match r {
            Ok(s) => Ok(Frame::data(Bytes::from_static(s.as_bytes()))),
            Err(e) => Err(BoxError::from(e)),
        });
        StreamBody::new(futures_util::stream::iter(iter))
    }

    #[tokio::test]
    async fn passes_frames_and_captures_them() {
        let slot = Arc::new(Mutex::new(None));
        let body = Capture::new(
            stream(vec![Ok("data: a\n\n"), Ok("data: b\n\n")]),
            Duration::from_secs(5),
            Box::new(Sink(Arc::clone(&slot))),
        );
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"data: a\n\ndata: b\n\n");
        let cap = slot.lock().unwrap().take().unwrap();
        assert_eq!(cap.outcome, Outcome::Complete);
        assert_eq!(&cap.body()[..], b"data: a\n\ndata: b\n\n");
        assert!(cap.first_byte.is_some());
    }

    #[tokio::test]
    async fn upstream_errors_and_drops_are_recorded() {
        let slot = Arc::new(Mutex::new(None));
        let body = Capture::new(
            stream(vec![Ok("x"), Err("reset")]),
            Duration::from_secs(5),
            Box::new(Sink(Arc::clone(&slot))),
        );
        assert!(body.collect().await.is_err());
        let cap = slot.lock().unwrap().take().unwrap();
        assert_eq!(cap.outcome, Outcome::UpstreamError);
        assert_eq!(&cap.body()[..], b"x");

        let slot = Arc::new(Mutex::new(None));
        let mut body = Capture::new(
            stream(vec![Ok("first"), Ok("second")]),
            Duration::from_secs(5),
            Box::new(Sink(Arc::clone(&slot))),
        );
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "first");
        drop(body);
        let cap = slot.lock().unwrap().take().unwrap();
        assert_eq!(cap.outcome, Outcome::ClientAborted);
        assert_eq!(&cap.body()[..], b"first");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_ends_the_body() {
        let slot = Arc::new(Mutex::new(None));
        let pending = StreamBody::new(futures_util::stream::pending::<
            Result<Frame<Bytes>, BoxError>,
        >());
        let body = Capture::new(
            pending,
            Duration::from_secs(2),
            Box::new(Sink(Arc::clone(&slot))),
        );
        assert!(body.collect().await.is_err());
        assert_eq!(
            slot.lock().unwrap().take().unwrap().outcome,
            Outcome::IdleTimeout
        );
    }
}
