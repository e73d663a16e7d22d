//! The send pipeline: every datagram a host sends takes one path,
//!
//! ```text
//! core (poll_transmit) ──▶ DTLS (if set up) ──▶ outgoing simulated link (if set) ──▶ SocketWriter
//! ```
//!
//! and the [`SocketWriter`] hands it to the socket, or collects it in the host's [`Outbox`]:
//!
//! - Sending directly (no service thread): on Linux in batches (one `sendmmsg` per batch of
//!   [`SLOTS`](crate::batch::SLOTS), runs of equal-sized datagrams to one peer as one UDP GSO
//!   send), elsewhere one `send_to` each.
//! - Collecting (a service thread shares the host): the datagrams are built under the host's
//!   lock and wait in the outbox, which whoever built them takes out and sends after unlocking
//!   ([`Outbox::send`]), so no send system call is made under the lock.
//!
//! A stage that is off costs nothing: without DTLS and with a perfect link the core writes each
//! datagram straight into the batch's buffer (no copy, no clock reading). DTLS records and
//! released simulated datagrams are copied into the batch, so batching holds on every path.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use rust_enet_proto::EnetTime;

use super::UdpHost;
use crate::address::socket_family_addr;
#[cfg(target_os = "linux")]
use crate::batch::{SendBatch, SendReport};
use crate::link::{Fate, LinkSimulator};
use crate::statistics::DriverStatistics;

impl UdpHost {
    /// Everything the core, DTLS and the simulated link have to send, through the pipeline:
    /// sent now, or collected in the outbox while a service thread shares the host.
    pub(super) fn send_pending(&mut self, now: EnetTime) -> io::Result<()> {
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
        let mut writer = SocketWriter::new(socket, *local_addr, stats, sender);
        if dtls.is_none() && outgoing_link.is_transparent() {
            while let Some(transmit) = host.poll_transmit(now, writer.slot()) {
                writer.commit(transmit.len, transmit.destination)?;
            }
            return writer.finish();
        }
        let instant = Instant::now();
        while let Some((addr, data)) = outgoing_link.pop_due(instant) {
            writer.push(addr, &data)?;
        }
        while let Some(transmit) = host.poll_transmit(now, transmit_buffer) {
            let data = &transmit_buffer[..transmit.len];
            match dtls {
                Some(dtls) => dtls.handle_send(instant, transmit.destination, data),
                None => through_link(
                    outgoing_link,
                    &mut writer,
                    instant,
                    transmit.destination,
                    data,
                )?,
            }
        }
        // DTLS records and handshake messages (of the datagrams above, or due by its timers).
        while let Some((addr, data)) = dtls.as_mut().and_then(|dtls| dtls.poll_transmit()) {
            through_link(outgoing_link, &mut writer, instant, addr, &data)?;
        }
        writer.finish()
    }

    /// A datagram from outside the protocol (`socket_send`), through the link to the socket.
    pub(super) fn send_raw(&mut self, addr: SocketAddr, data: &[u8]) -> io::Result<()> {
        let mut writer = SocketWriter::new(
            &self.socket,
            self.local_addr,
            &mut self.stats,
            &mut self.sender,
        );
        through_link(
            &mut self.outgoing_link,
            &mut writer,
            Instant::now(),
            addr,
            data,
        )?;
        writer.finish()
    }

    /// Whether datagrams wait in the outbox.
    pub(crate) fn has_outbox(&self) -> bool {
        !self.sender.outbox.is_empty()
    }

    /// The datagrams collected since the last take, to send after unlocking ([`Outbox::send`]),
    /// then to give back with [`return_outbox`](Self::return_outbox).
    pub(crate) fn take_outbox(&mut self) -> Outbox {
        std::mem::take(&mut self.sender.outbox)
    }

    /// An outbox that was sent: its counts join the statistics and its buffers are reused.
    pub(crate) fn return_outbox(&mut self, mut outbox: Outbox) {
        let counts = std::mem::take(&mut outbox.counts);
        self.stats.add(&counts);
        self.sender.recycle(outbox);
    }

    /// Batches that sent outboxes left with the service thread's link, for the next outbox.
    pub(super) fn take_spare_batches(&mut self, spare: Vec<Outbox>) {
        for outbox in spare {
            self.sender.recycle(outbox);
        }
    }
}

/// The simulated link's stage: a datagram passes at once, or is held (or lost) and leaves
/// from a later `send_pending` when due.
fn through_link(
    link: &mut LinkSimulator,
    writer: &mut SocketWriter<'_>,
    instant: Instant,
    addr: SocketAddr,
    data: &[u8],
) -> io::Result<()> {
    if link.is_transparent() || link.submit(instant, addr, data) == Fate::PassThrough {
        writer.push(addr, data)?;
    }
    Ok(())
}

/// Datagrams built under a host's lock, to be sent after it is released; see the module doc.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    /// Full batches, in order.
    #[cfg(target_os = "linux")]
    batches: Vec<SendBatch>,
    /// The datagrams back to back, and where each is and goes.
    #[cfg(not(target_os = "linux"))]
    data: Vec<u8>,
    #[cfg(not(target_os = "linux"))]
    datagrams: Vec<(SocketAddr, usize, usize)>,
    /// What the last `send` did (its send counters), for the host's statistics.
    counts: DriverStatistics,
}

#[cfg(target_os = "linux")]
impl SendReport for DriverStatistics {
    fn sent(&mut self, len: usize, gso: bool) {
        self.datagrams_sent += 1;
        self.bytes_sent += len as u64;
        self.gso_datagrams += u64::from(gso);
    }

    fn failed(&mut self, err: &io::Error) {
        self.send_failures += 1;
        tracing::debug!(%err, "datagram dropped");
    }
}

impl Outbox {
    /// What the last `send` did, taken (so that it is counted once).
    pub(crate) fn take_counts(&mut self) -> DriverStatistics {
        std::mem::take(&mut self.counts)
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.batches.is_empty();
        #[cfg(not(target_os = "linux"))]
        return self.datagrams.is_empty();
    }

    /// Sends every datagram, in order. Failures that concern one destination are counted and
    /// the datagram dropped (the protocol resends), as ENet does; the first error of the socket
    /// itself is returned after the rest were tried.
    pub(crate) fn send(&mut self, socket: &UdpSocket) -> io::Result<()> {
        let mut counts = DriverStatistics::default();
        let mut first_error = None;
        #[cfg(target_os = "linux")]
        for batch in &mut self.batches {
            if let Err(err) = batch.send(socket, &mut counts) {
                first_error.get_or_insert(err);
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            for &(target, start, len) in &self.datagrams {
                if let Err(err) =
                    send_datagram(socket, &mut counts, target, &self.data[start..start + len])
                {
                    first_error.get_or_insert(err);
                }
            }
            self.data.clear();
            self.datagrams.clear();
        }
        self.counts = counts;
        first_error.map_or(Ok(()), Err)
    }
}

/// What a host keeps for its sends between calls: the batch being filled (Linux) or the buffer
/// the core writes into (elsewhere), the outbox, and whether to collect or send.
#[derive(Debug)]
pub(super) struct SendBuffers {
    #[cfg(target_os = "linux")]
    batch: SendBatch,
    /// Sent batches, for the outbox to reuse.
    #[cfg(target_os = "linux")]
    spare: Vec<SendBatch>,
    #[cfg(target_os = "linux")]
    slot: usize,
    #[cfg(not(target_os = "linux"))]
    buffer: Box<[u8]>,
    outbox: Outbox,
    /// Collect datagrams in the outbox instead of sending them (a service thread shares the
    /// host).
    pub(super) collect: bool,
}

impl SendBuffers {
    /// Room for datagrams of up to `slot` bytes each.
    pub(super) fn new(slot: usize) -> SendBuffers {
        SendBuffers {
            #[cfg(target_os = "linux")]
            batch: SendBatch::new(slot),
            #[cfg(target_os = "linux")]
            spare: Vec::new(),
            #[cfg(target_os = "linux")]
            slot,
            #[cfg(not(target_os = "linux"))]
            buffer: vec![0; slot].into_boxed_slice(),
            outbox: Outbox::default(),
            collect: false,
        }
    }

    /// Keeps the sent outbox's buffers for the next one.
    fn recycle(&mut self, outbox: Outbox) {
        #[cfg(target_os = "linux")]
        {
            // A flush rarely needs more than a few batches; keep that many.
            self.spare.extend(outbox.batches);
            self.spare.truncate(4);
        }
        #[cfg(not(target_os = "linux"))]
        if self.outbox.datagrams.is_empty() && self.outbox.data.capacity() < outbox.data.capacity()
        {
            self.outbox.data = outbox.data;
            self.outbox.datagrams = outbox.datagrams;
        }
    }

    /// Moves the batch being filled into the outbox and starts an empty one.
    #[cfg(target_os = "linux")]
    fn collect_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let fresh = self
            .spare
            .pop()
            .unwrap_or_else(|| SendBatch::new(self.slot));
        self.outbox
            .batches
            .push(std::mem::replace(&mut self.batch, fresh));
    }
}

/// The socket end of the pipeline for one flush: datagrams go in with [`slot`](Self::slot) +
/// [`commit`](Self::commit) (written in place) or [`push`](Self::push) (copied), and have all
/// left (or wait in the outbox) when [`finish`](Self::finish) returns. Addresses are converted
/// to the socket's family; a destination it cannot reach, and errors that concern only one
/// destination, are counted in `send_failures` and the datagram dropped (the protocol resends),
/// as ENet does.
pub(super) struct SocketWriter<'a> {
    socket: &'a UdpSocket,
    local: SocketAddr,
    stats: &'a mut DriverStatistics,
    sender: &'a mut SendBuffers,
}

impl<'a> SocketWriter<'a> {
    pub(super) fn new(
        socket: &'a UdpSocket,
        local: SocketAddr,
        stats: &'a mut DriverStatistics,
        sender: &'a mut SendBuffers,
    ) -> SocketWriter<'a> {
        SocketWriter {
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
                return self.batch_full();
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        {
            if self.sender.collect {
                let outbox = &mut self.sender.outbox;
                let start = outbox.data.len();
                outbox.data.extend_from_slice(&self.sender.buffer[..len]);
                outbox.datagrams.push((target, start, len));
                return Ok(());
            }
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
            // the order holds. Such a datagram is sent at once even when collecting.
            self.batch_full()?;
            if self.sender.collect {
                tracing::debug!(
                    len = data.len(),
                    "dropping a raw datagram longer than a send slot"
                );
                self.stats.send_failures += 1;
                return Ok(());
            }
        }
        #[cfg(not(target_os = "linux"))]
        if self.sender.collect {
            if let Some(target) = self.target(destination) {
                let outbox = &mut self.sender.outbox;
                let start = outbox.data.len();
                outbox.data.extend_from_slice(data);
                outbox.datagrams.push((target, start, data.len()));
            }
            return Ok(());
        }
        match self.target(destination) {
            Some(target) => send_datagram(self.socket, self.stats, target, data),
            None => Ok(()),
        }
    }

    /// Sends what is batched, or moves it to the outbox.
    pub(super) fn finish(&mut self) -> io::Result<()> {
        #[cfg(target_os = "linux")]
        return self.batch_full();
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

    /// The batch is full (or the flush is over): into the outbox when collecting, else to the
    /// socket (GSO runs, then one `sendmmsg` for the rest).
    #[cfg(target_os = "linux")]
    fn batch_full(&mut self) -> io::Result<()> {
        if self.sender.collect {
            self.sender.collect_batch();
            return Ok(());
        }
        self.sender.batch.send(self.socket, &mut *self.stats)
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
