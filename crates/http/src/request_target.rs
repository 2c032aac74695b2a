//! Request targets as Go's `net/http` reads them.
//!
//! A query typed into curl (`curl -g '.../api/v1/query?query=up{job="node"}'`)
//! sends `"` in the request line. Prometheus (Go's `url.ParseRequestURI`)
//! accepts it; httparse does too, but the `http` crate's `Uri`, which hyper
//! builds from the request line, refuses `"`, `<` and `>` in a query and
//! `<`, `>` and `` ` `` in a path, and hyper answers a bare 400 and closes
//! the connection. No hyper or `http` setting (nor a newer version, 1.6)
//! changes that.
//!
//! [`TargetIo`] sits between the socket and hyper and percent-encodes
//! those four bytes in each request's target, which the handlers decode
//! back as they decode any `%XX`: the request means what it meant to
//! Prometheus. Nothing else is changed. To know where each request line
//! starts it follows the framing of the requests on the connection: a
//! body of `Content-Length` bytes is passed through untouched; on anything
//! it does not follow exactly as hyper does (`Transfer-Encoding`, a
//! repeated or unreadable `Content-Length`, a header line over
//! [`MAX_LINE`], `CONNECT`) it passes the rest of the connection through
//! unchanged, so at worst a later request gets the 400 it gets without
//! this layer, and a body byte is never rewritten.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Longest header line followed; a longer one ends the rewriting for the
/// connection.
const MAX_LINE: usize = 16 * 1024;

/// Bytes Go accepts in a request target and the `http` crate refuses.
fn needs_encoding(b: u8) -> bool {
    matches!(b, b'"' | b'<' | b'>' | b'`')
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Before a request: empty lines, which hyper skips too.
    Start,
    /// In the method, up to the first space.
    Method { connect: bool, len: usize },
    /// In the request target, up to the next space.
    Target,
    /// The rest of the request line.
    Version,
    /// In the header lines; `line` holds the current one.
    Headers {
        line: Vec<u8>,
        length: Option<u64>,
        give_up: bool,
    },
    /// In a body: this many bytes left.
    Body(u64),
    /// Everything passes unchanged from here on.
    Passthrough,
}

/// Follows the requests of one connection and rewrites their targets.
#[derive(Debug)]
struct Scanner {
    state: State,
}

impl Scanner {
    fn new() -> Self {
        Self {
            state: State::Start,
        }
    }

    /// Feeds bytes read from the client. `None` when they pass unchanged,
    /// else the bytes to hand to hyper instead.
    fn feed(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match &mut self.state {
                State::Passthrough => break,
                State::Body(left) => {
                    let n = (*left).min((bytes.len() - i) as u64);
                    *left -= n;
                    // n fits in usize: it is at most bytes.len() - i.
                    let end = i + n as usize;
                    if let Some(o) = out.as_mut() {
                        o.extend_from_slice(&bytes[i..end]);
                    }
                    i = end;
                    if *left == 0 {
                        self.state = State::Start;
                    }
                    continue;
                }
                State::Start => {
                    if b != b'\r' && b != b'\n' {
                        self.state = State::Method {
                            connect: true,
                            len: 0,
                        };
                        continue;
                    }
                }
                State::Method { connect, len } => {
                    if b == b' ' {
                        self.state = if *connect && *len == 7 {
                            State::Passthrough
                        } else {
                            State::Target
                        };
                    } else {
                        *connect = *connect && b"CONNECT".get(*len) == Some(&b);
                        *len += 1;
                    }
                }
                State::Target => {
                    if needs_encoding(b) {
                        let o = out.get_or_insert_with(|| {
                            let mut o = Vec::with_capacity(bytes.len() + 16);
                            o.extend_from_slice(&bytes[..i]);
                            o
                        });
                        o.extend_from_slice(&[b'%', hex(b >> 4), hex(b & 0xf)]);
                        i += 1;
                        continue;
                    }
                    if b == b' ' {
                        self.state = State::Version;
                    } else if b == b'\n' {
                        self.state = headers();
                    }
                }
                State::Version => {
                    if b == b'\n' {
                        self.state = headers();
                    }
                }
                State::Headers {
                    line,
                    length,
                    give_up,
                } => {
                    if b == b'\n' {
                        let l = line.strip_suffix(b"\r").unwrap_or(line);
                        if l.is_empty() {
                            self.state = match (*give_up, *length) {
                                (true, _) => State::Passthrough,
                                (false, None | Some(0)) => State::Start,
                                (false, Some(n)) => State::Body(n),
                            };
                        } else {
                            match header(l) {
                                Header::Length(n) if length.is_none() => *length = Some(n),
                                Header::Other => {}
                                Header::Length(_) | Header::Unfollowed => *give_up = true,
                            }
                            line.clear();
                        }
                    } else if line.len() >= MAX_LINE {
                        self.state = State::Passthrough;
                    } else {
                        line.push(b);
                    }
                }
            }
            if let Some(o) = out.as_mut() {
                o.push(b);
            }
            i += 1;
        }
        if let Some(o) = out.as_mut() {
            o.extend_from_slice(&bytes[i..]);
        }
        out
    }
}

fn headers() -> State {
    State::Headers {
        line: Vec::new(),
        length: None,
        give_up: false,
    }
}

fn hex(n: u8) -> u8 {
    b"0123456789ABCDEF"[usize::from(n & 0xf)]
}

enum Header {
    /// A `Content-Length` of this many bytes.
    Length(u64),
    /// A header that changes the framing in a way not followed here.
    Unfollowed,
    Other,
}

fn header(line: &[u8]) -> Header {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Header::Other;
    };
    let name = &line[..colon];
    let value = line[colon + 1..].trim_ascii();
    if name.eq_ignore_ascii_case(b"content-length") {
        // As hyper: digits only.
        match std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        {
            Some(v) => v.parse().map_or(Header::Unfollowed, Header::Length),
            None => Header::Unfollowed,
        }
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        Header::Unfollowed
    } else {
        Header::Other
    }
}

/// A socket whose request targets are percent-encoded where Go accepts
/// bytes that the `http` crate refuses.
pub(crate) struct TargetIo<T> {
    inner: T,
    scanner: Scanner,
    /// Rewritten bytes that did not fit in the reader's buffer.
    pending: Vec<u8>,
    at: usize,
}

impl<T> TargetIo<T> {
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            scanner: Scanner::new(),
            pending: Vec::new(),
            at: 0,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TargetIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.pending.len() {
            let n = buf.remaining().min(this.pending.len() - this.at);
            buf.put_slice(&this.pending[this.at..this.at + n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if !matches!(r, Poll::Ready(Ok(()))) || this.scanner.state == State::Passthrough {
            return r;
        }
        if let Some(rewritten) = this.scanner.feed(&buf.filled()[before..]) {
            buf.set_filled(before);
            let n = buf.remaining().min(rewritten.len());
            buf.put_slice(&rewritten[..n]);
            this.pending = rewritten;
            this.at = n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TargetIo<T> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `step` bytes; what hyper receives.
    fn run(input: &[u8], step: usize) -> Vec<u8> {
        let mut s = Scanner::new();
        let mut got = Vec::new();
        for piece in input.chunks(step) {
            match s.feed(piece) {
                Some(o) => got.extend_from_slice(&o),
                None => got.extend_from_slice(piece),
            }
        }
        got
    }

    fn each_step(input: &[u8], want: &[u8]) {
        for step in 1..=input.len() {
            assert_eq!(
                String::from_utf8_lossy(&run(input, step)),
                String::from_utf8_lossy(want),
                "in pieces of {step}"
            );
        }
    }

    #[test]
    fn quotes_and_angles_in_a_target_are_encoded() {
        each_step(
            b"GET /api/v1/query?query=up{job=\"node\"}>0 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /api/v1/query?query=up{job=%22node%22}%3E0 HTTP/1.1\r\nHost: x\r\n\r\n",
        );
    }

    #[test]
    fn headers_and_bodies_are_left_alone_and_the_next_request_is_found() {
        let body = "{\"a\":\"<b>`\"}";
        let input = format!(
            "\r\nPOST /x?q=\"a\" HTTP/1.1\r\nX-A: \"v\"\r\ncontent-length: {}\r\n\r\n{body}\
             GET /y?q=\"b\" HTTP/1.1\n\n",
            body.len()
        );
        let want = format!(
            "\r\nPOST /x?q=%22a%22 HTTP/1.1\r\nX-A: \"v\"\r\ncontent-length: {}\r\n\r\n{body}\
             GET /y?q=%22b%22 HTTP/1.1\n\n",
            body.len()
        );
        each_step(input.as_bytes(), want.as_bytes());
    }

    #[test]
    fn framing_not_followed_passes_the_rest_through() {
        for head in [
            "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n",
            "POST /x HTTP/1.1\r\nContent-Length: +2\r\n\r\n",
            "CONNECT a:1 HTTP/1.1\r\n\r\n",
        ] {
            let input = format!("{head}GET /?q=\"a\" HTTP/1.1\r\n\r\n");
            each_step(input.as_bytes(), input.as_bytes());
        }
        let long = format!(
            "GET / HTTP/1.1\r\nA: {}\r\n\r\nGET /?q=\"a\" HTTP/1.1\r\n\r\n",
            "a".repeat(MAX_LINE)
        );
        assert_eq!(run(long.as_bytes(), 4096), long.as_bytes());
    }
}
