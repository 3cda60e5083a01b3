//! A bound on receiving request headers (`EPRO_HEADER_READ_TIMEOUT_SECONDS`), which poem's server
//! does not set: every accepted connection must deliver a complete header block within the bound,
//! counted from its first byte — or, on a kept-alive connection, from the server's last write — or
//! it is closed. A client that trickles a header a byte at a time, or keeps an idle connection,
//! no longer holds a connection (and its memory) for as long as it likes. Bodies are bounded
//! separately (`EPRO_REQUEST_TIMEOUT_SECONDS`, in `startup`).

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};

/// An acceptor whose connections must send their headers within `limit`.
pub struct HeaderDeadline<A> {
    inner: A,
    limit: Duration,
}

impl<A> HeaderDeadline<A> {
    pub fn new(inner: A, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for HeaderDeadline<A> {
    type Io = Timed<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(
        &mut self,
    ) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, poem::http::uri::Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((Timed::new(io, self.limit), local, remote, scheme))
    }
}

/// One connection under the header deadline.
pub struct Timed<Io> {
    io: Io,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    /// Headers are awaited (the deadline runs).
    awaiting: bool,
    /// The last four bytes read while headers are awaited, to find their end across reads.
    window: u32,
    /// Bytes seen on the connection so far (up to 3), to recognise HTTP/2's preface.
    seen: usize,
    /// An HTTP/2 connection (prior knowledge): framed, with its own header limits; no deadline
    /// after its preface.
    http2: bool,
}

impl<Io> Timed<Io> {
    fn new(io: Io, limit: Duration) -> Self {
        Self {
            io,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            awaiting: true,
            window: 0,
            seen: 0,
            http2: false,
        }
    }

    /// Look at bytes read while headers are awaited; true once the header block has ended
    /// (an empty line: CRLF CRLF, or LF LF as the parser also accepts).
    fn headers_end(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            if self.seen < 3 {
                // "PRI * HTTP/2.0…": HTTP/2 prior knowledge.
                self.http2 = (self.seen == 0 || self.http2) && b == b"PRI"[self.seen];
                self.seen += 1;
            }
            self.window = (self.window << 8) | u32::from(b);
            if self.window == 0x0d0a_0d0a || self.window & 0xffff == 0x0a0a {
                return true;
            }
        }
        false
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Timed<Io> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.awaiting && this.deadline.is_elapsed() {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.awaiting {
                    let filled = buf.filled()[before..].to_vec();
                    if this.headers_end(&filled) {
                        this.awaiting = false;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if this.awaiting && this.deadline.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(timed_out()));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<Io: AsyncWrite + Unpin> Timed<Io> {
    /// The server answers: the next request's headers are awaited from now (HTTP/1.1 keep-alive).
    fn rearm(&mut self) {
        if !self.http2 {
            self.awaiting = true;
            self.window = 0;
            self.deadline.as_mut().reset(Instant::now() + self.limit);
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Timed<Io> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.rearm();
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.rearm();
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "request headers not received within EPRO_HEADER_READ_TIMEOUT_SECONDS",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_end_of_a_header_block_is_found_across_reads() {
        let mut t = Timed::new((), Duration::from_secs(1));
        assert!(!t.headers_end(b"GET / HTTP/1.1\r\nHost: x\r"));
        assert!(!t.headers_end(b"\n"));
        assert!(t.headers_end(b"\r\n"));
        assert!(!t.http2);
        let mut t = Timed::new((), Duration::from_secs(1));
        assert!(t.headers_end(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        assert!(t.http2);
        let mut t = Timed::new((), Duration::from_secs(1));
        assert!(t.headers_end(b"GET / HTTP/1.0\n\n"));
    }
}
