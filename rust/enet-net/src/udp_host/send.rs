//! The send pipeline: every datagram a host sends takes one path,
//!
//! ```text
//! core (poll_transmit) ──▶ DTLS (if set up) ──▶ outgoing simulated link (if set) ──▶ Wire
//! ```
//!
//! and the [`Wire`] hands it to the socket: on Linux in batches (one `sendmmsg` per flush, runs
//! of equal-sized datagrams to one peer as one UDP GSO send), elsewhere one `send_to` each. A
//! stage that is off costs nothing: without DTLS and with a perfect link the core writes each
//! datagram straight into the batch's buffer (no copy, no clock reading). DTLS records and
//! released simulated datagrams are copied into the batch, so batching holds on every path.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use rust_enet_proto::EnetTime;

use super::UdpHost;
use crate::address::socket_family_addr;
#[cfg(target_os = "linux")]
use crate::batch::SendBatch;
use crate::link::{Fate, LinkSimulator};
use crate::statistics::DriverStatistics;

impl UdpHost {
    /// Everything the core, DTLS and the simulated link have to send, through the pipeline.
    pub(super) fn send_pending(&mut self, now: EnetTime) -> io::Result<()> {
        self.send_deferred = false;
        let UdpHost {
            host,
            socket,
            local_addr,
            stats,
            sender,
            dtls,
            outgoing_link,
            transmit_buffer,
            ..
        } = self;
        let mut wire = Wire::new(socket, *local_addr, stats, sender);
        if dtls.is_none() && outgoing_link.is_transparent() {
            while let Some(transmit) = host.poll_transmit(now, wire.slot()) {
                wire.commit(transmit.len, transmit.destination)?;
            }
            return wire.finish();
        }
        let instant = Instant::now();
        while let Some((addr, data)) = outgoing_link.pop_due(instant) {
            wire.push(addr, &data)?;
        }
        while let Some(transmit) = host.poll_transmit(now, transmit_buffer) {
            let data = &transmit_buffer[..transmit.len];
            match dtls {
                Some(dtls) => dtls.handle_send(instant, transmit.destination, data),
                None => through_link(
                    outgoing_link,
                    &mut wire,
                    instant,
                    transmit.destination,
                    data,
                )?,
            }
        }
        // DTLS records and handshake messages (of the datagrams above, or due by its timers).
        while let Some((addr, data)) = dtls.as_mut().and_then(|dtls| dtls.poll_transmit()) {
            through_link(outgoing_link, &mut wire, instant, addr, &data)?;
        }
        wire.finish()
    }

    /// A datagram from outside the protocol (`socket_send`), through the link to the socket.
    pub(super) fn send_raw(&mut self, addr: SocketAddr, data: &[u8]) -> io::Result<()> {
        let mut wire = Wire::new(
            &self.socket,
            self.local_addr,
            &mut self.stats,
            &mut self.sender,
        );
        through_link(
            &mut self.outgoing_link,
            &mut wire,
            Instant::now(),
            addr,
            data,
        )?;
        wire.finish()
    }
}

/// The simulated link's stage: a datagram passes at once, or is held (or lost) and leaves
/// from a later `send_pending` when due.
fn through_link(
    link: &mut LinkSimulator,
    wire: &mut Wire<'_>,
    instant: Instant,
    addr: SocketAddr,
    data: &[u8],
) -> io::Result<()> {
    if link.is_transparent() || link.submit(instant, addr, data) == Fate::PassThrough {
        wire.push(addr, data)?;
    }
    Ok(())
}

/// What a host keeps for its sends between calls: the batch (Linux) or the buffer the core
/// writes into (elsewhere).
#[derive(Debug)]
pub(super) struct Sender {
    #[cfg(target_os = "linux")]
    batch: SendBatch,
    #[cfg(not(target_os = "linux"))]
    buffer: Box<[u8]>,
}

impl Sender {
    /// Room for datagrams of up to `slot` bytes each.
    pub(super) fn new(slot: usize) -> Sender {
        Sender {
            #[cfg(target_os = "linux")]
            batch: SendBatch::new(slot),
            #[cfg(not(target_os = "linux"))]
            buffer: vec![0; slot].into_boxed_slice(),
        }
    }
}

/// The socket end of the pipeline for one flush: datagrams go in with [`slot`](Self::slot) +
/// [`commit`](Self::commit) (written in place) or [`push`](Self::push) (copied), and have all
/// left when [`finish`](Self::finish) returns. Addresses are converted to the socket's family;
/// a destination it cannot reach, and errors that concern only one destination, are counted
/// in `send_failures` and the datagram dropped (the protocol resends), as ENet does.
pub(super) struct Wire<'a> {
    socket: &'a UdpSocket,
    local: SocketAddr,
    stats: &'a mut DriverStatistics,
    sender: &'a mut Sender,
}

impl<'a> Wire<'a> {
    pub(super) fn new(
        socket: &'a UdpSocket,
        local: SocketAddr,
        stats: &'a mut DriverStatistics,
        sender: &'a mut Sender,
    ) -> Wire<'a> {
        Wire {
            socket,
            local,
            stats,
            sender,
        }
    }

    /// Where the next datagram is written (as long as the longest datagram the core sends).
    pub(super) fn slot(&mut self) -> &mut [u8] {
        #[cfg(target_os = "linux")]
        return self.sender.batch.next_slot();
        #[cfg(not(target_os = "linux"))]
        return &mut self.sender.buffer;
    }

    /// The first `len` bytes of [`slot`](Self::slot) are a datagram to `destination`.
    pub(super) fn commit(&mut self, len: usize, destination: SocketAddr) -> io::Result<()> {
        let Some(target) = self.target(destination) else {
            return Ok(());
        };
        #[cfg(target_os = "linux")]
        {
            self.sender.batch.commit(len, target);
            if self.sender.batch.is_full() {
                return self.send_batch();
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            let data = &self.sender.buffer[..len];
            send_datagram(self.socket, self.stats, target, data)
        }
    }

    /// A datagram written elsewhere (DTLS records, released simulated datagrams, raw sends).
    pub(super) fn push(&mut self, destination: SocketAddr, data: &[u8]) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let slot = self.slot();
            if let Some(room) = slot.get_mut(..data.len()) {
                room.copy_from_slice(data);
                return self.commit(data.len(), destination);
            }
            // Longer than a slot (only a raw `socket_send` can be): after what is batched, so
            // the order holds.
            self.send_batch()?;
        }
        match self.target(destination) {
            Some(target) => send_datagram(self.socket, self.stats, target, data),
            None => Ok(()),
        }
    }

    /// Sends what is batched.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        return self.send_batch();
        #[cfg(not(target_os = "linux"))]
        Ok(())
    }

    /// `destination` in the socket's address family, or `None` (counted) if it cannot reach it.
    fn target(&mut self, destination: SocketAddr) -> Option<SocketAddr> {
        let target = socket_family_addr(self.local, destination);
        if target.is_none() {
            self.stats.send_failures += 1;
            tracing::debug!(addr = %destination, "this socket's address family cannot reach it");
        }
        target
    }

    /// Hand the batch to the socket (GSO runs, then one `sendmmsg` for the rest).
    #[cfg(target_os = "linux")]
    fn send_batch(&mut self) -> io::Result<()> {
        let stats = &mut *self.stats;
        let mut failures = 0;
        let result = self.sender.batch.send(
            self.socket,
            |len, offloaded| {
                stats.datagrams_sent += 1;
                stats.bytes_sent += len as u64;
                stats.gso_datagrams += u64::from(offloaded);
            },
            |err| {
                failures += 1;
                tracing::debug!(%err, "datagram dropped");
            },
        );
        self.stats.send_failures += failures;
        result
    }
}

/// Send one datagram to `target` (already in the socket's family). Failures that concern only
/// this destination are counted and dropped (the protocol retransmits); others are returned.
fn send_datagram(
    socket: &UdpSocket,
    stats: &mut DriverStatistics,
    target: SocketAddr,
    data: &[u8],
) -> io::Result<()> {
    loop {
        match socket.send_to(data, target) {
            Ok(_) => {
                stats.datagrams_sent += 1;
                stats.bytes_sent += data.len() as u64;
                return Ok(());
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                use io::ErrorKind::*;
                return match err.kind() {
                    // ENet counts "would block" as sent; the others concern only this destination.
                    WouldBlock | ConnectionRefused | ConnectionReset | HostUnreachable
                    | NetworkUnreachable | AddrNotAvailable | PermissionDenied | InvalidInput => {
                        stats.send_failures += 1;
                        tracing::debug!(addr = %target, %err, "datagram dropped");
                        Ok(())
                    }
                    _ => Err(err),
                };
            }
        }
    }
}
