//! How a service thread sleeps until there is work, and reads what arrived without the host
//! lock.
//!
//! The thread has its own handle on the host's socket ([`Inbox`]) and sleeps until a datagram
//! arrives, the owner wakes it ([`Wake`]), or its deadline (the core's next timer, a held
//! acknowledgement's deadline) passes; it never wakes on a tick. It then reads one batch of
//! datagrams with the host unlocked, and only then locks the host to hand them over.
//!
//! - Linux: `ppoll` on the socket and an `eventfd` (the owner's wakes), with the deadline's
//!   exact time left; reads are `recvmmsg` batches (`MSG_DONTWAIT`).
//! - Elsewhere (std only, no `poll`): the wait is a blocking read with the time left as the
//!   socket's read timeout, and the owner wakes the thread with an empty datagram from a
//!   loopback socket of its own, which the thread recognises by its source and drops. The
//!   socket is switched back to non-blocking after every wait (nobody else reads it while the
//!   thread runs, but the owner does again after it ends).

use std::io;
#[cfg(not(target_os = "linux"))]
use std::net::SocketAddr;
use std::net::UdpSocket;
use std::sync::Arc;
use std::time::Instant;

#[cfg(target_os = "linux")]
use crate::batch::{self, ReceiveBatch};
use crate::udp_host::{ReceiveError, UdpHost, classify_receive_error};

/// Wakes a sleeping service thread; cloned by everyone who may need to (the owner's host
/// guard, `ServiceThread::stop`).
#[derive(Debug, Clone)]
pub(crate) struct Wake {
    #[cfg(target_os = "linux")]
    event: Arc<nix::sys::eventfd::EventFd>,
    #[cfg(not(target_os = "linux"))]
    socket: Arc<UdpSocket>,
    #[cfg(not(target_os = "linux"))]
    target: SocketAddr,
}

impl Wake {
    /// Ends the thread's current or next wait. Never blocks; a failure only means the thread
    /// wakes at its deadline instead.
    pub(crate) fn wake(&self) {
        #[cfg(target_os = "linux")]
        if let Err(err) = self.event.write(1) {
            tracing::debug!(%err, "could not wake the service thread");
        }
        #[cfg(not(target_os = "linux"))]
        if let Err(err) = self.socket.send_to(&[], self.target) {
            tracing::debug!(%err, "could not wake the service thread");
        }
    }
}

/// The service thread's side of the socket: waiting, and reading one batch at a time.
#[derive(Debug)]
pub(crate) struct Inbox {
    socket: UdpSocket,
    #[cfg(target_os = "linux")]
    ipv6: bool,
    #[cfg(target_os = "linux")]
    batch: ReceiveBatch,
    #[cfg(target_os = "linux")]
    event: Arc<nix::sys::eventfd::EventFd>,
    /// Buffers read since the last `deliver`.
    #[cfg(target_os = "linux")]
    count: usize,
    #[cfg(not(target_os = "linux"))]
    buffer: Box<[u8]>,
    #[cfg(not(target_os = "linux"))]
    entries: Vec<Entry>,
    /// Where wake datagrams come from (canonical form).
    #[cfg(not(target_os = "linux"))]
    wake_source: SocketAddr,
}

/// One datagram read on a system without `recvmmsg`: where it is in the inbox's buffer.
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy)]
struct Entry {
    from: SocketAddr,
    start: usize,
    len: usize,
}

/// Datagrams per read step elsewhere than Linux (Linux reads a `recvmmsg` batch).
#[cfg(not(target_os = "linux"))]
const SLOTS: usize = 32;

impl Inbox {
    /// The thread's handle on `socket` (a clone: the same socket) and the wake that ends its
    /// waits. `gro`: the host's socket has `UDP_GRO` on, so reads need GRO-sized slots.
    pub(crate) fn new(socket: &UdpSocket, gro: bool) -> io::Result<(Inbox, Wake)> {
        let socket = socket.try_clone()?;
        #[cfg(target_os = "linux")]
        {
            use nix::sys::eventfd::{EfdFlags, EventFd};
            let event = Arc::new(
                EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
                    .map_err(io::Error::from)?,
            );
            let ipv6 = socket.local_addr()?.is_ipv6();
            let batch = if gro {
                ReceiveBatch::with_gro()
            } else {
                ReceiveBatch::new(crate::udp_host::RECEIVE_SLOT)
            };
            let wake = Wake {
                event: Arc::clone(&event),
            };
            Ok((
                Inbox {
                    socket,
                    ipv6,
                    batch,
                    event,
                    count: 0,
                },
                wake,
            ))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = gro;
            let target = crate::address::reachable(socket.local_addr()?);
            let waker = UdpSocket::bind(SocketAddr::new(target.ip(), 0))?;
            let wake_source = crate::address::canonical_addr(waker.local_addr()?);
            let slot = crate::udp_host::RECEIVE_SLOT;
            Ok((
                Inbox {
                    socket,
                    buffer: vec![0; slot * SLOTS].into_boxed_slice(),
                    entries: Vec::with_capacity(SLOTS),
                    wake_source,
                },
                Wake {
                    socket: Arc::new(waker),
                    target,
                },
            ))
        }
    }

    /// Sleeps until a datagram waits, a wake, or `deadline` (`None`: no deadline). A wake or a
    /// datagram that came meanwhile ends it at once. Returns whether datagrams ended it.
    #[cfg(target_os = "linux")]
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        use std::os::fd::AsFd;

        use nix::errno::Errno;
        use nix::poll::{PollFd, PollFlags, ppoll};
        use nix::sys::time::TimeSpec;

        let timeout =
            deadline.map(|d| TimeSpec::from_duration(d.saturating_duration_since(Instant::now())));
        let mut fds = [
            PollFd::new(self.socket.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.event.as_fd(), PollFlags::POLLIN),
        ];
        match ppoll(&mut fds, timeout, None) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|e| !e.is_empty());
        if ready(&fds[1]) {
            // Consume the wakes (non-blocking: a racing reader may have taken them).
            let _ = self.event.read();
        }
        Ok(ready(&fds[0]))
    }

    /// Reads one batch of what waits, without blocking; returns how many buffers came (with
    /// `UDP_GRO` a buffer may hold several datagrams). Keeps them for [`deliver`](Self::deliver).
    #[cfg(target_os = "linux")]
    pub(crate) fn read(&mut self) -> io::Result<usize> {
        self.count = 0;
        match self.batch.receive(&self.socket, self.ipv6, false) {
            Ok(count) => self.count = count,
            Err(err) => match classify_receive_error(&err) {
                ReceiveError::Empty | ReceiveError::Skip | ReceiveError::Truncated => {}
                ReceiveError::Fatal => return Err(err),
            },
        }
        Ok(self.count)
    }

    /// Whether the last read filled its batch (so more may wait).
    pub(crate) fn was_full(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.count == batch::SLOTS;
        #[cfg(not(target_os = "linux"))]
        return self.entries.len() == SLOTS;
    }

    /// Hands what the last reads got to `udp` (whose lock the caller holds).
    pub(crate) fn deliver(&mut self, udp: &mut UdpHost) {
        #[cfg(target_os = "linux")]
        if self.count > 0 {
            let now = udp.now();
            udp.deliver_batch(now, &self.batch, self.count);
            self.count = 0;
        }
        #[cfg(not(target_os = "linux"))]
        if !self.entries.is_empty() {
            let now = udp.now();
            for entry in self.entries.drain(..) {
                let data = &self.buffer[entry.start..entry.start + entry.len];
                udp.deliver(now, entry.from, data, false);
            }
        }
    }

    /// The wait is a blocking read of the first datagram, with the time left as the socket's
    /// read timeout; it is kept for [`deliver`](Self::deliver) like those `read` adds.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn wait(&mut self, deadline: Option<Instant>) -> io::Result<bool> {
        let timeout = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                // Whole milliseconds, at least one: a zero timeout would mean "forever".
                Some(std::time::Duration::from_millis(
                    left.as_micros().div_ceil(1000).max(1) as u64,
                ))
            }
            None => None,
        };
        self.socket.set_nonblocking(false)?;
        self.socket.set_read_timeout(timeout)?;
        let before = self.entries.len();
        let result = self.read_one();
        // Restore non-blocking mode at once: the reads after the wait must not block, and the
        // owner's own reads after the thread ends neither.
        self.socket.set_nonblocking(true)?;
        result.map(|_| self.entries.len() > before)
    }

    /// Reads up to a batch of what waits, without blocking (after a wait: the rest).
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn read(&mut self) -> io::Result<usize> {
        let before = self.entries.len();
        while self.entries.len() < SLOTS {
            if !self.read_one()? {
                break;
            }
        }
        Ok(self.entries.len() - before)
    }

    /// One `recv_from` into the next free slot; returns whether a datagram (or a wake) came.
    #[cfg(not(target_os = "linux"))]
    fn read_one(&mut self) -> io::Result<bool> {
        let slot = crate::udp_host::RECEIVE_SLOT;
        let start = self.entries.len() * slot;
        loop {
            match self.socket.recv_from(&mut self.buffer[start..start + slot]) {
                Ok((len, from)) => {
                    if len == 0 && crate::address::canonical_addr(from) == self.wake_source {
                        return Ok(true); // a wake, not traffic
                    }
                    self.entries.push(Entry { from, start, len });
                    return Ok(true);
                }
                Err(err) => match classify_receive_error(&err) {
                    ReceiveError::Empty => return Ok(false),
                    ReceiveError::Skip | ReceiveError::Truncated => continue,
                    ReceiveError::Fatal => return Err(err),
                },
            }
        }
    }

    /// Puts the socket back in non-blocking mode when the thread ends (a wait it was in when
    /// stopped may have left it blocking). Linux never changes the mode.
    pub(crate) fn restore(&self) {
        #[cfg(not(target_os = "linux"))]
        let _ = self.socket.set_nonblocking(true);
    }
}
