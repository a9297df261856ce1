//! A TCP stream for hyper that reads only when the socket may have data.
//!
//! `smol`'s `TcpStream` reads first and asks the reactor second: every poll
//! of a connection's driver, whatever woke it (a request handed over, a body
//! wanted, a channel beside it), costs a `recvfrom` that mostly answers
//! `EAGAIN`, and each `EAGAIN` re-arms the socket's interest in epoll. This
//! wrapper remembers that the last read found nothing and, until the reactor
//! reports the socket readable, answers `Pending` without a system call. The
//! reactor's wake is the one it registered when the read found nothing, so
//! no data can arrive unseen: `async-io` reports readiness that comes after
//! the registration, and the socket's interest is armed by then.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::io::{AsyncRead, AsyncWrite};
use smol::Async;

/// A connection's socket, shared with the code that drains it after hyper
/// lets go (`client.rs`).
pub struct ReadyIo {
    socket: Arc<Async<std::net::TcpStream>>,
    /// The last read found nothing; the reactor has not said "readable"
    /// since.
    drained: bool,
}

impl ReadyIo {
    pub fn new(stream: smol::net::TcpStream) -> Self {
        ReadyIo {
            socket: stream.into(),
            drained: false,
        }
    }
}

impl AsyncRead for ReadyIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.drained {
                std::task::ready!(self.socket.poll_readable(cx))?;
                self.drained = false;
            }
            match io::Read::read(&mut self.socket.get_ref(), buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.drained = true,
                done => return Poll::Ready(done),
            }
        }
    }
}

impl AsyncWrite for ReadyIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &*self.socket).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.socket).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut &*self.socket).poll_close(cx)
    }
}
