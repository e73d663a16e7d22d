//! One TCP client: its stream and the bytes the socket has not taken yet.

use std::io::{self, Write};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};

/// A client stream with an output queue.
///
/// Drive it with [`queue`](Self::queue) for each line, then [`flush`](Self::flush); call
/// `flush` again when the socket reports writable. [`pending`](Self::pending) is what a client
/// that does not read has made the server hold.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: TcpStream,
    token: Token,
    out: Vec<u8>,
    written: usize,
    wants_writable: bool,
}

impl Conn {
    pub(super) fn new(stream: TcpStream, token: Token) -> Self {
        Self {
            stream,
            token,
            out: Vec::new(),
            written: 0,
            wants_writable: false,
        }
    }

    pub(super) fn queue(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    pub(super) fn pending(&self) -> usize {
        self.out.len() - self.written
    }

    /// Writes what the socket takes now, and asks for writable events only while bytes wait.
    pub(super) fn flush(&mut self, registry: &Registry) -> io::Result<()> {
        while self.written < self.out.len() {
            match self.stream.write(&self.out[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.written == self.out.len() {
            self.out.clear();
            self.written = 0;
        }
        let wants_writable = self.pending() > 0;
        if wants_writable != self.wants_writable {
            let interest = if wants_writable {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            registry.reregister(&mut self.stream, self.token, interest)?;
            self.wants_writable = wants_writable;
        }
        Ok(())
    }
}
