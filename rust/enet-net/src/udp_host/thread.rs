//! A host shared with a [`ServiceThread`](crate::ServiceThread): what changes while one runs.
//!
//! - The thread does the socket's reading, the timers and the protocol's sends; the owner does
//!   no socket I/O of its own except sending what its flush built (see below).
//! - Datagrams are collected under the host's lock (`SendBuffers::collect`) and sent by whoever built
//!   them after unlocking, in the order they were built ([`ThreadLink::send_in_turn`]): the
//!   thread after its pass, the owner when its host guard drops
//!   ([`SharedUdpHost::lock`](crate::SharedUdpHost::lock)).
//! - The owner's packets are staged outside the protocol core until the [`SendSchedule`](crate::SendSchedule)
//!   releases them (the end of the owner's frame), so a protocol flush by the thread never
//!   carries them.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rust_enet_proto::{Packet, PeerId, SendError};

use super::UdpHost;
use super::send::Outbox;
use crate::send_schedule::{Due, FlushPolicy};
use crate::service_thread::wait::Wake;
use crate::statistics::DriverStatistics;

/// Why a host cannot be driven any more: its service thread failed. Every `service` and
/// `flush` of the host returns it as an `io::Error` (see [`HostFailure::to_io_error`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFailure {
    /// The service thread panicked while it serviced the host (the message of the panic).
    ThreadPanicked(String),
    /// The socket failed while the service thread read or sent (the error's kind and text).
    Socket(io::ErrorKind, String),
}

/// The error a host returns after its service thread panicked (inside the `io::Error` of
/// [`HostFailure::ThreadPanicked`]; find it with `io::Error::get_ref` and `downcast_ref`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the service thread panicked: {0}")]
pub struct ServiceThreadPanicked(pub String);

impl HostFailure {
    pub fn to_io_error(&self) -> io::Error {
        match self {
            HostFailure::ThreadPanicked(message) => {
                io::Error::other(ServiceThreadPanicked(message.clone()))
            }
            HostFailure::Socket(kind, message) => io::Error::new(*kind, message.clone()),
        }
    }
}

/// A packet the owner queued that waits for its frame's end (see [`SendSchedule`](crate::SendSchedule)).
#[derive(Debug)]
pub(super) enum Staged {
    To(PeerId, u8, Packet),
    Broadcast(u8, Packet),
}

/// How long a send waits for the sends taken before it (see `ThreadLink::send_in_turn`).
const TURN_PATIENCE: Duration = Duration::from_secs(1);

/// What a host and its service thread share beyond the host's lock.
#[derive(Debug)]
pub(crate) struct ThreadLink {
    /// Ends the thread's wait.
    pub(crate) wake: Wake,
    /// The host's socket, for the sends made after unlocking.
    pub(crate) socket: UdpSocket,
    /// Cleared when the thread ends (stopped, failed or panicked); the host then goes back to
    /// being driven by its owner alone.
    alive: AtomicBool,
    /// The end of the thread's current wait, in microseconds after `epoch`; `u64::MAX` when it
    /// waits without a deadline.
    armed: AtomicU64,
    epoch: Instant,
    /// The ticket whose outbox is sent next.
    turn: Mutex<u64>,
    turn_taken: Condvar,
    /// What the sends made after unlocking did, for the host's statistics (so that nobody
    /// locks the host again to count them).
    sent_datagrams: AtomicU64,
    sent_bytes: AtomicU64,
    sent_gso: AtomicU64,
    send_failures: AtomicU64,
    /// Sent outboxes, whose buffers the host takes back at its next pass.
    spare: Mutex<Vec<Outbox>>,
}

impl ThreadLink {
    pub(crate) fn new(wake: Wake, socket: UdpSocket) -> ThreadLink {
        ThreadLink {
            wake,
            socket,
            alive: AtomicBool::new(true),
            armed: AtomicU64::new(u64::MAX),
            epoch: Instant::now(),
            turn: Mutex::new(0),
            turn_taken: Condvar::new(),
            sent_datagrams: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            sent_gso: AtomicU64::new(0),
            send_failures: AtomicU64::new(0),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// An outbox sent after unlocking: its counts and buffers go back without the host's lock.
    pub(crate) fn sent(&self, mut outbox: Outbox) {
        let counts = outbox.take_counts();
        self.sent_datagrams
            .fetch_add(counts.datagrams_sent, Ordering::Relaxed);
        self.sent_bytes
            .fetch_add(counts.bytes_sent, Ordering::Relaxed);
        self.sent_gso
            .fetch_add(counts.gso_datagrams, Ordering::Relaxed);
        self.send_failures
            .fetch_add(counts.send_failures, Ordering::Relaxed);
        let mut spare = self.spare.lock();
        if spare.len() < 2 {
            spare.push(outbox);
        }
    }

    /// What the sends after unlocking did so far.
    pub(crate) fn sent_counts(&self) -> DriverStatistics {
        DriverStatistics {
            datagrams_sent: self.sent_datagrams.load(Ordering::Relaxed),
            bytes_sent: self.sent_bytes.load(Ordering::Relaxed),
            gso_datagrams: self.sent_gso.load(Ordering::Relaxed),
            send_failures: self.send_failures.load(Ordering::Relaxed),
            ..DriverStatistics::default()
        }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The thread ended (the host detaches the link at its owner's next access).
    pub(crate) fn end(&self) {
        self.alive.store(false, Ordering::Release);
    }

    /// The thread sleeps until `deadline`.
    pub(crate) fn arm(&self, deadline: Option<Instant>) {
        let micros = deadline.map_or(u64::MAX, |d| {
            d.saturating_duration_since(self.epoch).as_micros() as u64
        });
        self.armed.store(micros, Ordering::Release);
    }

    fn armed(&self) -> Option<Instant> {
        match self.armed.load(Ordering::Acquire) {
            u64::MAX => None,
            micros => Some(self.epoch + Duration::from_micros(micros)),
        }
    }

    /// Sends `outbox`, taken under the host's lock with `ticket`, after every outbox taken
    /// before it: datagrams leave in the order they were built although nobody holds the host's
    /// lock while sending. The turn passes on however the send ends.
    pub(crate) fn send_in_turn(&self, ticket: u64, outbox: &mut Outbox) -> io::Result<()> {
        struct PassTurn<'a>(&'a ThreadLink, u64);
        impl Drop for PassTurn<'_> {
            fn drop(&mut self) {
                let mut turn = self.0.turn.lock();
                *turn = (*turn).max(self.1 + 1);
                self.0.turn_taken.notify_all();
            }
        }
        {
            // Earlier sends take microseconds. A turn that never comes would be a lost ticket (a
            // bug): after a second the send goes ahead out of order rather than never.
            let give_up = Instant::now() + TURN_PATIENCE;
            let mut turn = self.turn.lock();
            while *turn < ticket {
                if self.turn_taken.wait_until(&mut turn, give_up).timed_out() {
                    tracing::error!(ticket, turn = *turn, "a send waited a second for its turn");
                    *turn = ticket;
                    break;
                }
            }
        }
        let _pass = PassTurn(self, ticket);
        outbox.send(&self.socket)
    }
}

/// An outbox taken under the lock with its ticket, to send after unlocking.
#[derive(Debug)]
pub(crate) struct TakenOutbox {
    pub(crate) outbox: Outbox,
    pub(crate) ticket: u64,
}

/// What a service thread's pass leaves it to do after unlocking.
#[derive(Debug)]
pub(crate) struct ThreadPass {
    /// Events wait for the owner (to wake an owner waiting in `SharedUdpHost::service`).
    pub(crate) events: bool,
    /// When the thread must pass again at the latest.
    pub(crate) deadline: Option<Instant>,
    pub(crate) outbox: Option<TakenOutbox>,
    /// How long the thread's next datagram wake sleeps before reading (receive coalescing).
    pub(crate) coalesce: Duration,
}

/// What the owner's access to a thread-serviced host leaves to do after unlocking.
#[derive(Debug, Default)]
pub(crate) struct AfterOwner {
    /// The thread's link (`None` without a thread: then there is nothing to do).
    pub(crate) link: Option<std::sync::Arc<ThreadLink>>,
    pub(crate) outbox: Option<TakenOutbox>,
    /// The thread must wake: the core has traffic to send, or a timer earlier than its wait.
    pub(crate) wake: bool,
}

impl UdpHost {
    /// Whether a service thread services this host now.
    pub fn is_thread_serviced(&self) -> bool {
        self.thread.as_ref().is_some_and(|link| link.is_alive())
    }

    /// A service thread starts servicing this host: from now on datagrams are collected and
    /// the owner's packets staged (see the module doc). Called before the thread runs.
    pub(crate) fn attach_thread(
        &mut self,
        link: std::sync::Arc<ThreadLink>,
        flush_after: Duration,
        coalescing: crate::ReceiveCoalescing,
    ) {
        self.thread_coalescer.set_settings(coalescing);
        // Tickets count from 0 for each link (its turn starts there).
        self.next_ticket = 0;
        self.thread = Some(link);
        self.sender.collect = true;
        self.schedule.set_flush_after(flush_after);
    }

    /// The thread ended: the owner drives the host alone again. Staged packets go into the core
    /// in their order (they leave with the owner's next service or flush), and datagrams
    /// collected but not sent leave now.
    pub(crate) fn detach_thread(&mut self) {
        if let Some(link) = self.thread.take() {
            // What the thread's and the owner's sends after unlocking counted, for good.
            self.stats.add(&link.sent_counts());
        }
        self.sender.collect = false;
        self.release_staged();
        if self.has_outbox() {
            let mut outbox = self.take_outbox();
            if let Err(err) = outbox.send(&self.socket) {
                tracing::debug!(%err, "sending what the service thread left failed");
            }
            self.return_outbox(outbox);
        }
    }

    /// Detaches a thread that ended since the last look; true while one services the host.
    pub(crate) fn check_thread(&mut self) -> bool {
        match &self.thread {
            Some(link) if link.is_alive() => true,
            Some(_) => {
                self.detach_thread();
                false
            }
            None => false,
        }
    }

    /// One pass of the service thread, after it handed over what it read (`datagrams`: the
    /// wake was theirs): the timers, then what the schedule says is due, collected for the
    /// thread to send after unlocking.
    pub(crate) fn thread_pass(&mut self, datagrams: bool) -> io::Result<ThreadPass> {
        if datagrams {
            self.thread_coalescer.record_wake();
        }
        self.release_incoming();
        let now = self.run_timers();
        let instant = Instant::now();
        if self.has_event() {
            self.schedule.events_arrived(instant);
        }
        let due = self.schedule.due(instant, true);
        match due {
            Due::Nothing => {}
            Due::Protocol => self.send_pending(now)?,
            Due::Everything => {
                self.release_staged();
                self.send_pending(now)?;
            }
        }
        self.schedule.sent(due);
        let after = Instant::now();
        let deadline = [self.next_wake(after), self.schedule.deadline()]
            .into_iter()
            .flatten()
            .min()
            // A timer due within the millisecond the pass just ran produced nothing yet (ENet
            // time is whole milliseconds): look again after the next one begins, not at once.
            .map(|deadline| deadline.max(after + Duration::from_micros(200)));
        if let Some(link) = &self.thread {
            link.arm(deadline);
        }
        Ok(ThreadPass {
            events: self.has_event(),
            deadline,
            outbox: self.take_ticketed_outbox(),
            coalesce: self.thread_coalescer.delay(after),
        })
    }

    /// Takes the outbox with the next send ticket, if it holds anything.
    fn take_ticketed_outbox(&mut self) -> Option<TakenOutbox> {
        if !self.has_outbox() {
            return None;
        }
        if let Some(link) = &self.thread {
            let spare = std::mem::take(&mut *link.spare.lock());
            self.take_spare_batches(spare);
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        Some(TakenOutbox {
            outbox: self.take_outbox(),
            ticket,
        })
    }

    /// Called as the owner's lock on a thread-serviced host ends: the datagrams its calls built
    /// (a flush), and whether the thread must wake because the owner queued protocol traffic
    /// (a connect, a disconnect, a ping) or made a timer earlier than the thread's wait.
    pub(crate) fn after_owner(&mut self) -> AfterOwner {
        if !self.check_thread() {
            return AfterOwner::default();
        }
        let outbox = self.take_ticketed_outbox();
        let Some(link) = self.thread.clone() else {
            return AfterOwner::default();
        };
        let traffic = self.host.has_transmit() && !self.schedule.holds_acknowledgements();
        let earlier = match (self.next_wake(Instant::now()), link.armed()) {
            (Some(wake), Some(armed)) => wake < armed,
            (Some(_), None) => true,
            (None, _) => false,
        };
        AfterOwner {
            link: Some(link),
            outbox,
            wake: traffic || earlier,
        }
    }

    /// The owner's packets staged for the frame's end go into the core, in order.
    pub(super) fn release_staged(&mut self) {
        for staged in std::mem::take(&mut self.staged) {
            // The peer may have left since; like a send to it then, that is not an error.
            match staged {
                Staged::To(peer, channel, packet) => {
                    if let Err(err) = self.host.send(peer, channel, packet) {
                        tracing::debug!(%err, "a staged packet was not sent");
                    }
                }
                Staged::Broadcast(channel, packet) => self.host.broadcast(channel, packet),
            }
        }
    }

    /// Queues `packet` for `peer` on `channel`, as the owner's: into the protocol core now
    /// (it leaves with the next service or flush), or, while a service thread services the host
    /// under [`FlushPolicy::Frame`], staged until the owner's next flush or service, so that a
    /// frame's packets leave together. Under [`FlushPolicy::Immediate`] it leaves at once.
    /// Fails as `Host::send` would.
    pub fn send(&mut self, peer: PeerId, channel: u8, packet: Packet) -> Result<(), SendError> {
        if self.stages_packets() {
            self.host.check_send(peer, channel, packet.data.len())?;
            self.staged.push(Staged::To(peer, channel, packet));
            self.schedule.owner_queued();
            return Ok(());
        }
        self.host.send(peer, channel, packet)?;
        self.owner_queued();
        Ok(())
    }

    /// Queues `packet` for every connected peer on `channel`, as [`send`](Self::send) does.
    pub fn broadcast(&mut self, channel: u8, packet: Packet) {
        if self.stages_packets() {
            self.staged.push(Staged::Broadcast(channel, packet));
            self.schedule.owner_queued();
            return;
        }
        self.host.broadcast(channel, packet);
        self.owner_queued();
    }

    /// Whether the owner's packets wait outside the core for the frame's end.
    fn stages_packets(&self) -> bool {
        self.thread.is_some() && self.schedule.policy() == FlushPolicy::Frame
    }

    /// The owner queued a packet into the core: under `Immediate` it leaves now.
    fn owner_queued(&mut self) {
        if self.schedule.owner_queued() {
            if let Err(err) = self.flush() {
                self.deferred_error.get_or_insert(err);
            }
        }
    }

    /// When the owner's packets leave: with its frame's flush (the default) or at once. Switching
    /// to [`FlushPolicy::Immediate`] sends what waits with the next flush.
    pub fn set_flush_policy(&mut self, policy: FlushPolicy) {
        self.schedule.set_policy(policy);
    }

    pub fn flush_policy(&self) -> FlushPolicy {
        self.schedule.policy()
    }

    /// Whether something waits for the owner's flush: its staged or queued packets, or
    /// acknowledgements held back for its answers. An engine adapter arranges a flush at the end
    /// of the frame when this turns true (see [`SendSchedule`](crate::SendSchedule)).
    pub fn wants_flush(&self) -> bool {
        self.schedule.waits_for_owner() || !self.staged.is_empty()
    }
}
