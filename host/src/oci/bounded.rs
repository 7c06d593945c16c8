//! A buffer that a registry's answer is written into, refusing bytes past
//! what the descriptor announced: a registry that streams without end fills
//! no memory.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

pub(super) struct BoundedBuffer {
    pub(super) bytes: Vec<u8>,
    max: usize,
}

impl BoundedBuffer {
    pub(super) fn new(max: usize) -> BoundedBuffer {
        BoundedBuffer { bytes: Vec::new(), max }
    }
}

impl tokio::io::AsyncWrite for BoundedBuffer {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.bytes.len() + buf.len() > self.max {
            return Poll::Ready(Err(io::Error::other(format!(
                "the registry sent more than the {} bytes announced",
                self.max
            ))));
        }
        self.bytes.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
