//! Linux system-call batching: `recvmmsg`/`sendmmsg` and socket buffer sizes, through `nix`'s
//! safe wrappers (the crate forbids `unsafe`).
//!
//! On loopback a server's CPU is mostly the kernel's, and one system call per datagram is the
//! largest share of it that a driver controls: a batch read moves up to [`SLOTS`] datagrams per
//! call, a batch send all transmits of a flush.
//!
//! `nix`'s `MultiHeaders` holds raw pointers, so it is neither `Send` nor `Sync`; keeping one in
//! [`UdpHost`](crate::UdpHost) would make the host `!Send`. The headers therefore live in
//! thread-locals (allocated once per thread, reused by every host on it), while the datagram
//! buffers belong to each host. Receive headers are kept per address family: the kernel writes
//! the source address length back into them, and a length left by an IPv4 socket would cut the
//! next IPv6 address short.

use std::cell::RefCell;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use nix::sys::socket::{
    ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg, sendmmsg, setsockopt,
    sockopt,
};

/// Datagrams per system call, both directions.
pub(crate) const SLOTS: usize = 32;

/// `ENET_HOST_RECEIVE_BUFFER_SIZE` / `ENET_HOST_SEND_BUFFER_SIZE` (Linux doubles the value).
const SOCKET_BUFFER: usize = 256 * 1024;

thread_local! {
    static RECEIVE_HEADERS_V4: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
    static RECEIVE_HEADERS_V6: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
    static SEND_HEADERS: RefCell<MultiHeaders<SockaddrStorage>> =
        RefCell::new(MultiHeaders::preallocate(SLOTS, None));
}

/// Ask for ENet's socket buffer sizes; failures are ignored, as ENet ignores them.
pub(crate) fn set_socket_buffers(socket: &UdpSocket) {
    if let Err(err) = setsockopt(socket, sockopt::RcvBuf, &SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_RCVBUF refused");
    }
    if let Err(err) = setsockopt(socket, sockopt::SndBuf, &SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_SNDBUF refused");
    }
}

/// One received datagram of a batch.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    /// Bytes written into the slot (at most the slot size).
    pub len: usize,
    /// The kernel cut the datagram to the slot (`MSG_TRUNC`).
    pub truncated: bool,
    pub from: Option<SocketAddr>,
}

/// Reusable receive slots of one host: `SLOTS` buffers of `slot` bytes each. The default is
/// an empty stand-in (no allocation) for while the host borrows the real one.
#[derive(Debug, Default)]
pub(crate) struct ReceiveBatch {
    buffers: Box<[u8]>,
    slot: usize,
    received: [Received; SLOTS],
    count: usize,
}

impl ReceiveBatch {
    pub fn new(slot: usize) -> Self {
        Self {
            buffers: vec![0; slot * SLOTS].into_boxed_slice(),
            slot,
            received: [Received::default(); SLOTS],
            count: 0,
        }
    }

    /// One `recvmmsg`. `wait`: block (with the socket's read timeout) until the first datagram,
    /// then take what else is waiting (`MSG_WAITFORONE`); otherwise never block
    /// (`MSG_DONTWAIT`, whatever the socket's mode). Returns how many datagrams arrived.
    pub fn receive(&mut self, socket: &UdpSocket, ipv6: bool, wait: bool) -> io::Result<usize> {
        self.count = 0;
        let flags = if wait {
            MsgFlags::MSG_WAITFORONE
        } else {
            MsgFlags::MSG_DONTWAIT
        };
        let headers = if ipv6 {
            &RECEIVE_HEADERS_V6
        } else {
            &RECEIVE_HEADERS_V4
        };
        let slot = self.slot;
        let received = &mut self.received;
        let count = headers.with_borrow_mut(|headers| -> io::Result<usize> {
            let mut iovs: [[IoSliceMut<'_>; 1]; SLOTS] =
                std::array::from_fn(|_| [IoSliceMut::new(&mut [])]);
            for (iov, buffer) in iovs.iter_mut().zip(self.buffers.chunks_exact_mut(slot)) {
                *iov = [IoSliceMut::new(buffer)];
            }
            let results = recvmmsg(socket.as_raw_fd(), headers, iovs.iter_mut(), flags, None)
                .map_err(io::Error::from)?;
            let mut count = 0;
            for (out, message) in received.iter_mut().zip(results) {
                *out = Received {
                    len: message.bytes,
                    truncated: message.flags.contains(MsgFlags::MSG_TRUNC),
                    from: message.address.as_ref().and_then(socket_addr),
                };
                count += 1;
            }
            Ok(count)
        })?;
        self.count = count;
        Ok(count)
    }

    /// Datagram `index` of the last batch and its bytes.
    pub fn datagram(&self, index: usize) -> (Received, &[u8]) {
        let received = self.received[index];
        let start = index * self.slot;
        (
            received,
            &self.buffers[start..start + received.len.min(self.slot)],
        )
    }
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(SocketAddr::V4((*v4).into()))
    } else {
        addr.as_sockaddr_in6()
            .map(|v6| SocketAddr::V6((*v6).into()))
    }
}

/// Reusable send slots of one host: datagrams are written in place by the core, then leave
/// together in one `sendmmsg`.
#[derive(Debug)]
pub(crate) struct SendBatch {
    buffers: Box<[u8]>,
    slot: usize,
    lens: [usize; SLOTS],
    destinations: [Option<SockaddrStorage>; SLOTS],
    count: usize,
}

/// What a failed `sendmmsg` did to the first datagram of the rest.
pub(crate) enum SendFailure {
    /// This destination only: drop the datagram and go on (`io::Error` for the log).
    Dropped(io::Error),
    /// Report to the caller.
    Fatal(io::Error),
}

impl SendBatch {
    pub fn new(slot: usize) -> Self {
        Self {
            buffers: vec![0; slot * SLOTS].into_boxed_slice(),
            slot,
            lens: [0; SLOTS],
            destinations: [None; SLOTS],
            count: 0,
        }
    }

    pub fn is_full(&self) -> bool {
        self.count == SLOTS
    }

    /// The free slot the next datagram is written into (the batch must not be full).
    pub fn next_slot(&mut self) -> &mut [u8] {
        let start = self.count * self.slot;
        &mut self.buffers[start..start + self.slot]
    }

    /// Take the next slot's first `len` bytes as a datagram to `destination`.
    pub fn commit(&mut self, len: usize, destination: SocketAddr) {
        self.lens[self.count] = len;
        self.destinations[self.count] = Some(SockaddrStorage::from(destination));
        self.count += 1;
    }

    /// Send every committed datagram, as few `sendmmsg` calls as the kernel allows. `sent` is
    /// called per datagram handed to the socket with its length, `failed` per datagram dropped
    /// for its destination. Returns the first error that concerns the socket itself.
    pub fn send(
        &mut self,
        socket: &UdpSocket,
        mut sent: impl FnMut(usize),
        mut failed: impl FnMut(&io::Error),
    ) -> io::Result<()> {
        let count = std::mem::take(&mut self.count);
        let mut done = 0;
        let no_control: [ControlMessage<'_>; 0] = [];
        SEND_HEADERS.with_borrow_mut(|headers| {
            while done < count {
                let mut iovs: [[IoSlice<'_>; 1]; SLOTS] =
                    std::array::from_fn(|_| [IoSlice::new(&[])]);
                for (i, iov) in iovs[..count - done].iter_mut().enumerate() {
                    let start = (done + i) * self.slot;
                    *iov = [IoSlice::new(
                        &self.buffers[start..start + self.lens[done + i]],
                    )];
                }
                let result = sendmmsg(
                    socket.as_raw_fd(),
                    headers,
                    iovs[..count - done].iter(),
                    &self.destinations[done..count],
                    no_control,
                    MsgFlags::empty(),
                );
                match result {
                    Ok(results) => {
                        let accepted = results.count();
                        for i in done..done + accepted {
                            sent(self.lens[i]);
                        }
                        done += accepted;
                        if accepted == 0 {
                            // Not expected from Linux; never spin on it.
                            failed(&io::Error::from(io::ErrorKind::WouldBlock));
                            done += 1;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(errno) => match classify_send_error(io::Error::from(errno)) {
                        SendFailure::Dropped(err) => {
                            failed(&err);
                            done += 1;
                        }
                        SendFailure::Fatal(err) => return Err(err),
                    },
                }
            }
            Ok(())
        })
    }
}

/// ENet counts "would block" as sent; the other listed errors concern only one destination.
pub(crate) fn classify_send_error(err: io::Error) -> SendFailure {
    use io::ErrorKind::*;
    match err.kind() {
        WouldBlock | ConnectionRefused | ConnectionReset | HostUnreachable | NetworkUnreachable
        | AddrNotAvailable | PermissionDenied | InvalidInput => SendFailure::Dropped(err),
        _ => SendFailure::Fatal(err),
    }
}
