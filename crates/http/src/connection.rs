//! The phases of one connection and the read deadline of each, enforced on
//! the socket as Go's `SetReadDeadline` is:
//!
//! - reading a request: from the accept (first request) or from the first
//!   byte (next ones) until the body has been read, reads must finish by
//!   `now + read_timeout`;
//! - answering: once the whole request is in, reads are not bounded (a
//!   long query is not cut off);
//! - idle: once the answer has been handed to hyper, the next request must
//!   start within `idle_timeout`.
//!
//! A read past its deadline fails with `TimedOut`, and hyper closes the
//! connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a request, head and body, which must be in by the instant.
    Request(Instant),
    /// The request is in; the handler runs and the answer is written.
    Answering,
    /// Between two requests: the next must start by the instant.
    Idle(Instant),
}

/// Where a connection is; shared by its socket and its request and
/// response bodies.
#[derive(Debug)]
pub(crate) struct Phase {
    state: Mutex<State>,
    read_timeout: Duration,
    idle_timeout: Duration,
}

impl Phase {
    /// A connection just accepted: its first request is being read.
    pub fn new(read_timeout: Duration, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::Request(Instant::now() + read_timeout)),
            read_timeout,
            idle_timeout,
        })
    }

    fn update(&self, f: impl FnOnce(State) -> State) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        *s = f(*s);
    }

    fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// When reads must have finished, if they are bounded now.
    fn deadline(&self) -> Option<Instant> {
        match self.state() {
            State::Request(d) | State::Idle(d) => Some(d),
            State::Answering => None,
        }
    }

    /// Bytes came from the client: while idle, they start a request.
    fn bytes_read(&self) {
        let read_timeout = self.read_timeout;
        self.update(|s| match s {
            State::Idle(_) => State::Request(Instant::now() + read_timeout),
            s => s,
        });
    }

    /// hyper parsed a request head. A pipelined request (its bytes came
    /// with the previous one) starts its read deadline now.
    pub fn head_read(&self, body_done: bool) {
        let read_timeout = self.read_timeout;
        self.update(|s| match (s, body_done) {
            (_, true) => State::Answering,
            (State::Request(d), false) => State::Request(d),
            (_, false) => State::Request(Instant::now() + read_timeout),
        });
    }

    /// The handler read the request body to its end.
    fn body_read(&self) {
        self.update(|s| match s {
            State::Request(_) => State::Answering,
            s => s,
        });
    }

    /// hyper is done with the answer's body. A request whose body was not
    /// read keeps its deadline (hyper may read the rest).
    fn answer_sent(&self) {
        let idle_timeout = self.idle_timeout;
        self.update(|s| match s {
            State::Answering => State::Idle(Instant::now() + idle_timeout),
            s => s,
        });
    }
}

/// A socket whose reads fail once the phase's deadline has passed.
pub(crate) struct DeadlineIo<T> {
    inner: T,
    phase: Arc<Phase>,
    sleep: Pin<Box<Sleep>>,
}

impl<T> DeadlineIo<T> {
    pub fn new(inner: T, phase: Arc<Phase>) -> Self {
        let first = phase.deadline().unwrap_or_else(Instant::now);
        Self {
            inner,
            phase,
            sleep: Box::pin(tokio::time::sleep_until(first)),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for DeadlineIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(deadline) = this.phase.deadline() {
            if this.sleep.deadline() != deadline {
                this.sleep.as_mut().reset(deadline);
            }
            if this.sleep.as_mut().poll(cx).is_ready() {
                let what = match this.phase.state() {
                    State::Idle(_) => "no request within the idle timeout",
                    _ => "the request was not read within the read timeout",
                };
                return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
            }
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.phase.bytes_read();
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for DeadlineIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// A request body that tells the phase when it has been read to its end.
pub(crate) struct RequestBody<B> {
    inner: B,
    phase: Arc<Phase>,
}

impl<B> RequestBody<B> {
    pub fn new(inner: B, phase: Arc<Phase>) -> Self {
        Self { inner, phase }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_frame(cx);
        match &r {
            Poll::Ready(None) => this.phase.body_read(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.phase.body_read(),
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that tells the phase when hyper drops it, which it
/// does once the body has been written or the connection failed.
pub(crate) struct ResponseBody<B> {
    inner: B,
    phase: Arc<Phase>,
}

impl<B> ResponseBody<B> {
    pub fn new(inner: B, phase: Arc<Phase>) -> Self {
        Self { inner, phase }
    }
}

impl<B> Drop for ResponseBody<B> {
    fn drop(&mut self) {
        self.phase.answer_sent();
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ResponseBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: Duration = Duration::from_secs(5);
    const IDLE: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_keep_alive_cycle_moves_the_deadline() {
        let start = Instant::now();
        let p = Phase::new(READ, IDLE);
        assert_eq!(
            p.deadline(),
            Some(start + READ),
            "first request from the accept"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        p.bytes_read();
        p.head_read(false);
        assert_eq!(p.deadline(), Some(start + READ), "head and body share it");
        p.body_read();
        assert_eq!(p.deadline(), None, "the handler is not bounded");
        tokio::time::advance(Duration::from_secs(100)).await;
        p.answer_sent();
        let idle_from = Instant::now();
        assert_eq!(p.deadline(), Some(idle_from + IDLE));
        tokio::time::advance(Duration::from_secs(30)).await;
        p.bytes_read();
        assert_eq!(
            p.deadline(),
            Some(Instant::now() + READ),
            "the next request from its first byte"
        );
        p.head_read(true);
        assert_eq!(p.deadline(), None, "a request without a body is in");
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_body_left_unread_keeps_its_deadline() {
        let start = Instant::now();
        let p = Phase::new(READ, IDLE);
        p.head_read(false);
        p.answer_sent();
        assert_eq!(p.deadline(), Some(start + READ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pipelined_request_starts_its_own_deadline() {
        let p = Phase::new(READ, IDLE);
        p.head_read(true);
        p.answer_sent();
        tokio::time::advance(Duration::from_secs(10)).await;
        // The next head was already buffered: no read marked its start.
        p.head_read(false);
        assert_eq!(p.deadline(), Some(Instant::now() + READ));
    }
}
