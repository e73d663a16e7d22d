//! The receive pipeline: socket reads (batched on Linux), truncation checks, the incoming
//! simulated link, the side channel (datagrams that are not ENet) and DTLS, then the protocol
//! core.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rust_enet_proto::EnetTime;
use rust_enet_proto::wire::PROTOCOL_MAXIMUM_PEER_ID;

use super::{RECEIVE_BATCH, UdpHost};
use crate::MAXIMUM_DATAGRAM;
use crate::address::canonical_addr;
#[cfg(target_os = "linux")]
use crate::batch::{self, ReceiveBatch};
use crate::dtls::DTLS_RECORD_OVERHEAD;
use crate::link::Fate;
use crate::side_channel::Class;

impl UdpHost {
    /// Read up to [`RECEIVE_BATCH`] waiting datagrams and hand them (and due simulated ones) to
    /// the core. Returns whether anything was read or released.
    #[cfg(target_os = "linux")]
    pub(super) fn receive_available(&mut self) -> io::Result<bool> {
        // MSG_DONTWAIT: no need to switch the socket to non-blocking mode (a system call).
        // One clock reading for the batch, taken when the first read returns datagrams (an
        // empty socket, the common case of a zero-timeout service, needs none).
        let mut now = None;
        let mut batch = std::mem::take(&mut self.receive_batch);
        let mut result = Ok(());
        let mut read = 0;
        while read < RECEIVE_BATCH {
            match batch.receive(&self.socket, self.local_addr.is_ipv6(), false) {
                Ok(count) => {
                    let now = *now.get_or_insert_with(|| self.clock.now());
                    self.deliver_batch(now, &batch, count);
                    read += count;
                    if count < batch::SLOTS {
                        break; // the queue is empty: save the call that would say so
                    }
                }
                Err(err) => match classify_receive_error(&err) {
                    ReceiveError::Empty => break,
                    ReceiveError::Skip | ReceiveError::Truncated => read += 1,
                    ReceiveError::Fatal => {
                        result = Err(err);
                        break;
                    }
                },
            }
        }
        self.receive_batch = batch;
        result?;
        Ok(self.release_incoming() || read > 0)
    }

    #[cfg(target_os = "linux")]
    pub(crate) fn deliver_batch(&mut self, now: EnetTime, batch: &ReceiveBatch, count: usize) {
        for index in 0..count {
            let (received, data) = batch.datagram(index);
            let Some(from) = received.from else {
                continue;
            };
            if received.segment > 0 && !received.truncated {
                // UDP_GRO: datagrams of `segment` bytes back to back, the last maybe shorter.
                for datagram in data.chunks(received.segment) {
                    self.stats.gro_datagrams += 1;
                    self.deliver(now, from, datagram, false);
                }
            } else {
                self.deliver(now, from, data, received.truncated);
            }
        }
    }

    /// Read up to [`RECEIVE_BATCH`] waiting datagrams and hand them (and due simulated ones) to
    /// the core.
    #[cfg(not(target_os = "linux"))]
    pub(super) fn receive_available(&mut self) -> io::Result<bool> {
        self.blocking.nonblocking(&self.socket)?;
        // One clock reading for the batch: the datagrams were all waiting at its start.
        let now = self.clock.now();
        let mut buffer = std::mem::take(&mut self.receive_buffer);
        let mut result = Ok(());
        let mut arrived = false;
        for _ in 0..RECEIVE_BATCH {
            match self.socket.recv_from(&mut buffer) {
                Ok((len, from)) => {
                    arrived = true;
                    self.deliver(now, from, &buffer[..len], false);
                }
                Err(err) => match classify_receive_error(&err) {
                    ReceiveError::Empty => break,
                    ReceiveError::Skip => continue,
                    ReceiveError::Truncated => {
                        arrived = true;
                        self.count_unread_truncated();
                    }
                    ReceiveError::Fatal => {
                        result = Err(err);
                        break;
                    }
                },
            }
        }
        self.receive_buffer = buffer;
        result?;
        Ok(self.release_incoming() || arrived)
    }

    /// One datagram received at `now`: drop if truncated (`cut` by the kernel, or longer than
    /// the protocol allows), else through the incoming link to the core.
    pub(crate) fn deliver(&mut self, now: EnetTime, from: SocketAddr, data: &[u8], cut: bool) {
        let len = data.len();
        #[cfg(not(target_os = "linux"))]
        if self.blocking.is_wake_up(from, len) {
            return; // our own wake-up, not traffic
        }
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += len as u64;
        // The header's peer id (ENET_PROTOCOL_HEADER_PEER_ID_MASK) tells apart the peers of one
        // client socket; under DTLS only the address is readable.
        let peer_bits = match (&self.dtls, data) {
            (None, [high, low, ..]) => u16::from_be_bytes([*high, *low]) & PROTOCOL_MAXIMUM_PEER_ID,
            _ => 0,
        };
        if self.thread.is_some() {
            self.thread_coalescer.record(from, peer_bits);
        } else {
            self.coalescer.record(from, peer_bits);
        }
        let limit = MAXIMUM_DATAGRAM + self.dtls.as_ref().map_or(0, |_| DTLS_RECORD_OVERHEAD);
        if cut || len > limit {
            self.stats.dropped_truncated += 1;
            tracing::debug!(%from, "dropping datagram larger than {MAXIMUM_DATAGRAM} bytes");
            return;
        }
        let from = canonical_addr(from);
        if self.incoming_link.is_transparent() {
            self.accept(None, now, from, data);
        } else {
            let instant = Instant::now();
            if self.incoming_link.submit(instant, from, data) == Fate::PassThrough {
                self.accept(Some(instant), now, from, data);
            }
        }
    }

    /// A datagram past the incoming link: to the owner's side channel, or through DTLS (when
    /// set up) to the core. `instant` is read only where needed (not for plain ENet).
    fn accept(&mut self, instant: Option<Instant>, now: EnetTime, from: SocketAddr, data: &[u8]) {
        match self.side.classify(from, data) {
            Class::Side => {
                self.stats.side_datagrams += 1;
                self.side
                    .push(from, data, instant.unwrap_or_else(Instant::now));
            }
            Class::Dropped => self.stats.side_dropped += 1,
            Class::Enet => match &mut self.dtls {
                None => self.host.handle_datagram(now, from, data),
                Some(dtls) => dtls.handle_datagram(
                    instant.unwrap_or_else(Instant::now),
                    from,
                    data,
                    |plain| self.host.handle_datagram(now, from, plain),
                ),
            },
        }
    }

    /// A datagram the system reported as too long for the receive buffer instead of returning
    /// it cut (Windows), so neither its sender nor its data are known: counted, as `deliver`
    /// counts a cut one.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn count_unread_truncated(&mut self) {
        self.stats.datagrams_received += 1;
        self.stats.dropped_truncated += 1;
        tracing::debug!("dropping datagram larger than {MAXIMUM_DATAGRAM} bytes");
    }

    /// Hand due simulated datagrams to the core; returns whether there were any.
    pub(super) fn release_incoming(&mut self) -> bool {
        if self.incoming_link.is_transparent() {
            return false;
        }
        let instant = Instant::now();
        let now = self.clock.at(instant);
        let mut released = false;
        while let Some((from, data)) = self.incoming_link.pop_due(instant) {
            released = true;
            self.accept(Some(instant), now, from, &data);
        }
        released
    }
}

pub(crate) enum ReceiveError {
    /// Nothing more to read.
    Empty,
    /// This datagram is lost, try the next one.
    Skip,
    /// A datagram longer than the buffer, discarded by the system (Windows `WSAEMSGSIZE`).
    Truncated,
    /// Report to the caller.
    Fatal,
}

pub(crate) fn classify_receive_error(err: &io::Error) -> ReceiveError {
    use io::ErrorKind::*;
    match err.kind() {
        WouldBlock | TimedOut => ReceiveError::Empty,
        // EINTR; Windows reports ICMP port-unreachable as WSAECONNRESET on the next read, and a
        // too-long datagram as WSAEMSGSIZE (10040), both per datagram, not per socket.
        Interrupted | ConnectionReset | ConnectionRefused => ReceiveError::Skip,
        _ if err.raw_os_error() == Some(10040) && cfg!(windows) => ReceiveError::Truncated,
        _ => ReceiveError::Fatal,
    }
}
