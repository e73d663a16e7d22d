//! [`UdpHost`]: a protocol-core [`Host`] driven over one non-blocking UDP socket.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use rust_enet_proto::host::MINIMUM_TRANSMIT_BUFFER;
use rust_enet_proto::{EnetTime, Event, Host, HostConfig, PeerId};

use crate::MAXIMUM_DATAGRAM;
use crate::address::{BindAddress, bind_wildcard, canonical_addr, socket_family_addr};

#[cfg(target_os = "linux")]
use crate::batch::{self, ReceiveBatch};
use crate::clock::Clock;
use crate::coalesce::{Coalescer, ReceiveCoalescing};
use crate::dtls::{DTLS_RECORD_OVERHEAD, Dtls};
use crate::link::LinkSimulator;
use crate::send_schedule::{Due, SendSchedule};
use crate::side_channel::SideChannel;
use crate::statistics::DriverStatistics;

mod receive;
mod send;
mod setup;
mod side;
mod thread;
mod wait;

pub(crate) use receive::{ReceiveError, classify_receive_error};
use send::SendBuffers;
use thread::Staged;
pub(crate) use thread::{AfterOwner, ThreadLink, ThreadPass};
pub use thread::{HostFailure, ServiceThreadPanicked};
use wait::BlockingWait;
pub use wait::WaitPrecision;

/// Room for a DTLS record around a largest datagram, plus the truncation byte.
pub(crate) const RECEIVE_SLOT: usize = MAXIMUM_DATAGRAM + DTLS_RECORD_OVERHEAD + 1;

/// Datagrams read per receive step before timers and sends get a turn (ENet reads 256).
pub const RECEIVE_BATCH: usize = 256;

/// Bytes of large reassembly buffers mapped before each blocking wait
/// (`Host::prefault_reassembly`): 16 pages, what a full 64 KiB reliable window of fragments
/// fills per round trip. Measured on the 16 MiB bulk transfer (median of 12, loopback): 16, 32,
/// 64, 96 and 128 KiB took 0.88x, 0.85x, 0.76x, 0.79x and 0.85x the time without; more holds
/// back reads that are already due.
const PREFAULT_BUDGET: usize = 64 * 1024;

/// An ENet host on a UDP socket: the driver half of `enet_host_service`.
///
/// Owns the protocol [`Host`], a non-blocking socket and the clock. Commands go to the core
/// through [`host_mut`](Self::host_mut) (or [`connect`](Self::connect), which needs the time);
/// the owner's packets through [`send`](Self::send) and [`broadcast`](Self::broadcast);
/// [`service`](Self::service) then moves datagrams and returns events.
///
/// The socket gets ENet's 256 KiB buffers. On Linux datagrams move in batches
/// (`recvmmsg`/`sendmmsg`, up to 32 per system call; runs of equal-sized datagrams to one peer,
/// such as a window of fragments, leave as one UDP GSO send, and with `UDP_GRO` such runs arrive
/// as one buffer; DTLS records and simulated datagrams are batched too); elsewhere every
/// datagram is its own system call. Every datagram leaves through one pipeline: core, DTLS,
/// simulated link, socket (`send.rs`). When it leaves is decided by one [`SendSchedule`]. Waits
/// block in a read, or end on time where that matters (`ppoll` on Linux; see
/// [`WaitPrecision`]). A wildcard socket is dual stack (see [`BindAddress::Wildcard`]).
///
/// # Driving it without a thread
///
/// Nothing is sent, received, resent or timed out between calls.
/// - Work is queued through [`host_mut`](Self::host_mut) (`disconnect`, `ping`...),
///   [`send`](Self::send), [`broadcast`](Self::broadcast) and [`connect`](Self::connect) /
///   [`connect_any`](Self::connect_any); it leaves with the next `service` or `flush` (at once
///   under [`FlushPolicy::Immediate`](crate::FlushPolicy::Immediate)).
/// - [`service`](Self::service)`(timeout)`: a queued event is returned at once, sending nothing.
///   Otherwise one pass sends what is queued, reads the socket, runs the core's timers (resends,
///   pings, timeouts) and sends again, and returns the first event; without one it waits on the
///   socket (up to `timeout`, waking for the core's next timer) and passes again. When a pass
///   yields events, the acknowledgements of what it received wait for the application's
///   answers: they leave with the next `service`, with [`check_events`](Self::check_events)
///   once it finds the queue empty, or with [`flush`](Self::flush).
///   [`wants_flush`](Self::wants_flush) tells whether anything waits for a flush, and
///   [`poll_queued_event`](Self::poll_queued_event) drains events without ever sending, for
///   adapters that flush once per frame.
/// - [`flush`](Self::flush) sends everything queued now (`enet_host_flush`).
///
/// A host not driven for longer than its peers' timeout (ENet's 5 to 30 s) loses them.
///
/// # Driving it with a service thread
///
/// Put it in a [`SharedUdpHost`](crate::SharedUdpHost) and start a
/// [`ServiceThread`](crate::ServiceThread). The thread then reads, runs the timers and sends the
/// protocol's traffic, waking only for a datagram, a timer or the owner. The owner goes on as
/// above, through [`SharedUdpHost::lock`](crate::SharedUdpHost::lock), with these differences:
/// `service` makes no system call (it flushes what waits, then takes the next event; waiting
/// for one is [`SharedUdpHost::service`](crate::SharedUdpHost::service)); the owner's packets
/// are staged until its next flush or service, so a frame's packets leave together; and the
/// datagrams a flush builds are sent after the lock is released.
#[derive(Debug)]
pub struct UdpHost {
    host: Host,
    socket: UdpSocket,
    local_addr: SocketAddr,
    clock: Clock,
    outgoing_link: LinkSimulator,
    incoming_link: LinkSimulator,
    transmit_buffer: Box<[u8]>,
    #[cfg(not(target_os = "linux"))]
    receive_buffer: Box<[u8]>,
    #[cfg(target_os = "linux")]
    receive_batch: ReceiveBatch,
    /// The socket end of the send pipeline (see `send.rs`).
    sender: SendBuffers,
    stats: DriverStatistics,
    /// DTLS between the core and the socket, once `dtls_*_setup` ran.
    dtls: Option<Dtls>,
    /// The socket's mode for blocking waits (and the waker, where there is no `ppoll`).
    blocking: BlockingWait,
    /// When datagrams leave (see [`SendSchedule`]).
    schedule: SendSchedule,
    /// The owner's packets waiting for its frame's end while a thread services the host.
    staged: Vec<Staged>,
    /// The service thread servicing this host, while one does.
    thread: Option<std::sync::Arc<ThreadLink>>,
    /// The send ticket of the next outbox taken (see `ThreadLink::send_in_turn`).
    next_ticket: u64,
    /// A send error met where it could not be returned; the owner's next `flush` returns it.
    deferred_error: Option<io::Error>,
    /// Why the host cannot be driven any more (its service thread failed); every `service` and
    /// `flush` returns it.
    failure: Option<HostFailure>,
    wait_precision: WaitPrecision,
    /// Adaptive receive coalescing for busy many-peer hosts (see [`ReceiveCoalescing`]): of
    /// the owner's waits, and of the service thread's while one runs.
    coalescer: Coalescer,
    thread_coalescer: Coalescer,
    /// Datagrams that are not ENet, kept for the owner's NAT traversal.
    side: SideChannel,
}

impl UdpHost {
    /// Bind a socket on `bind`:`port` (0 = ephemeral) and create the host.
    pub fn bind(bind: BindAddress, port: u16, config: HostConfig) -> io::Result<UdpHost> {
        // Connect ids must differ between hosts and processes: seed from the OS. A new value,
        // not a write into the argument: optimised builds (rustc 1.95, release profile) were
        // seen to pass the next `HostConfig::default()` of a caller with this write in it, so
        // two hosts drew the same connect ids (loopback.rs,
        // `connect_ids_come_from_the_os_unless_a_seed_is_given`).
        let config = if config.seed == HostConfig::DEFAULT_SEED {
            HostConfig {
                seed: os_seed(),
                ..config
            }
        } else {
            config
        };
        let host =
            Host::new(config).map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let socket = match bind {
            BindAddress::Wildcard => bind_wildcard(port)?,
            BindAddress::Ip(ip) => UdpSocket::bind(SocketAddr::new(ip, port))?,
        };
        socket.set_nonblocking(true)?;
        crate::address::set_socket_buffers(&socket);
        #[cfg(target_os = "linux")]
        let receive_batch = if batch::enable_gro(&socket) {
            ReceiveBatch::with_gro()
        } else {
            ReceiveBatch::new(RECEIVE_SLOT)
        };
        // As in ENet, option failures are ignored (SO_BROADCAST is refused on some IPv6 sockets).
        let _ = socket.set_broadcast(true);
        let local_addr = socket.local_addr()?;
        let seed = u64::from(local_addr.port()) ^ 0x11A7_5EED;
        Ok(UdpHost {
            host,
            socket,
            local_addr,
            clock: Clock::new(),
            outgoing_link: LinkSimulator::new(seed),
            incoming_link: LinkSimulator::new(seed.rotate_left(32)),
            transmit_buffer: vec![0; MINIMUM_TRANSMIT_BUFFER].into_boxed_slice(),
            #[cfg(not(target_os = "linux"))]
            receive_buffer: vec![0; RECEIVE_SLOT].into_boxed_slice(),
            #[cfg(target_os = "linux")]
            receive_batch,
            // DTLS records are longer than the datagrams they carry.
            sender: SendBuffers::new(MINIMUM_TRANSMIT_BUFFER + DTLS_RECORD_OVERHEAD),
            stats: DriverStatistics::default(),
            blocking: BlockingWait::new(),
            schedule: SendSchedule::default(),
            staged: Vec::new(),
            thread: None,
            next_ticket: 0,
            deferred_error: None,
            failure: None,
            wait_precision: WaitPrecision::Auto,
            coalescer: Coalescer::new(ReceiveCoalescing::default()),
            thread_coalescer: Coalescer::new(ReceiveCoalescing::SERVICE_THREAD),
            dtls: None,
            side: SideChannel::default(),
        })
    }

    /// The socket, for a service thread's handles on it.
    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Whether reads need `UDP_GRO`-sized slots.
    pub(crate) fn uses_gro(&self) -> bool {
        #[cfg(target_os = "linux")]
        return self.receive_batch.is_gro();
        #[cfg(not(target_os = "linux"))]
        return false;
    }

    /// The bound socket address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The protocol core.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The protocol core, for commands (`disconnect`, `reset_peer`, settings). What they queue
    /// leaves on the next [`service`](Self::service) or [`flush`](Self::flush), or from the
    /// service thread. The owner's staged packets go into the core first, so commands keep their
    /// order with them (a `disconnect_later` after a packet still delivers the packet).
    pub fn host_mut(&mut self) -> &mut Host {
        self.release_staged();
        &mut self.host
    }

    /// The current ENet time of this host's clock.
    pub fn now(&self) -> EnetTime {
        self.clock.now()
    }

    /// Replace the clock (tests start it near the 32-bit wrap). Call before connecting.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Start connecting to `address`; IPv4-mapped IPv6 addresses are taken as IPv4, matching the
    /// source addresses the driver reports.
    pub fn connect(
        &mut self,
        address: SocketAddr,
        channel_count: usize,
        data: u32,
    ) -> Result<PeerId, rust_enet_proto::ConnectError> {
        let now = self.clock.now();
        self.host
            .connect(now, canonical_addr(address), channel_count, data)
    }

    /// Start connecting to a remote host known by several addresses (what a host name resolved
    /// to), trying them in order as [`Host::connect_any`] does; addresses this socket cannot
    /// reach (IPv6 on an IPv4 socket, IPv4 on an IPv6-only one) are left out. A DTLS client
    /// holds one session, to the first address it sends to, so with DTLS only the first
    /// reachable address is tried. Fails with
    /// [`ConnectError::NoAddress`](rust_enet_proto::ConnectError::NoAddress) if none is left.
    pub fn connect_any(
        &mut self,
        addresses: &[SocketAddr],
        channel_count: usize,
        data: u32,
    ) -> Result<PeerId, rust_enet_proto::ConnectError> {
        let local = self.local_addr;
        let tries = if self.dtls.is_some() { 1 } else { usize::MAX };
        let reachable: Vec<SocketAddr> = addresses
            .iter()
            .map(|&a| canonical_addr(a))
            .filter(|&a| socket_family_addr(local, a).is_some())
            .take(tries)
            .collect();
        let now = self.clock.now();
        self.host.connect_any(now, &reachable, channel_count, data)
    }

    /// `enet_host_service`: return a queued event if there is one; otherwise send, receive, run
    /// timers and send again, returning the first event; if none, wait on the socket (up to
    /// `timeout`, waking for the core's timers) and repeat. `Duration::ZERO` is one non-blocking
    /// pass. Returns `Ok(None)` when the timeout passes without an event.
    ///
    /// When the pass yields events, the acknowledgements of what it received wait for the
    /// application's answers: the next `service`, [`check_events`](Self::check_events)
    /// returning `None`, or [`flush`](Self::flush) sends them together with the answers.
    ///
    /// While a [`ServiceThread`](crate::ServiceThread) services the host, `service` makes no
    /// system call and does not wait: it returns a queued event, or flushes what waits for the
    /// owner and returns the next event if one came meanwhile. The thread reads and runs the
    /// timers; [`SharedUdpHost::service`](crate::SharedUdpHost::service) waits for its events.
    pub fn service(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        self.check_failure()?;
        if let Some(event) = self.take_event() {
            return Ok(Some(event));
        }
        if self.check_thread() {
            if self.wants_flush() {
                self.flush()?;
            }
            return Ok(self.take_event());
        }
        if timeout.is_zero() {
            // One pass and no wait: no deadline to compute, so no clock reading for it (hosts
            // that are swept with zero timeouts pay for every one).
            self.pass(false)?;
            return Ok(self.take_event());
        }
        let start = Instant::now();
        let deadline = start
            .checked_add(timeout)
            .unwrap_or(start + Duration::from_secs(86_400));
        let mut drained = false;
        loop {
            self.pass(drained)?;
            if let Some(event) = self.take_event() {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            // A timer that is due but produced nothing (it fires on a later millisecond tick)
            // must not turn this into a busy loop: wait at least 1 ms, unless the deadline is
            // nearer.
            let until_deadline = deadline - now;
            let wait = self
                .next_wake(now)
                .map_or(until_deadline, |wake| wake.saturating_duration_since(now))
                .max(Duration::from_millis(1))
                .min(until_deadline);
            // About to block: map a little of a large packet's reassembly buffer now, so the
            // fragments of the next round copy without page faults (see `PREFAULT_BUDGET`).
            self.stats.reassembly_prefaulted +=
                self.host.prefault_reassembly(PREFAULT_BUDGET) as u64;
            drained = self.wait_and_receive(wait)?;
        }
    }

    /// `enet_host_check_events`: the next queued event, without reading the socket.
    ///
    /// Unlike ENet's, it may send: once the queue is empty, what waits for the owner's flush
    /// (acknowledgements put off by [`service`](Self::service), queued packets) leaves, together
    /// with whatever the application queued in answer to the events (one datagram per peer
    /// instead of two). A send error is logged and the datagram dropped, as ENet drops datagrams
    /// the socket refuses.
    pub fn check_events(&mut self) -> Option<Event> {
        if let Some(event) = self.take_event() {
            return Some(event);
        }
        if self.wants_flush() {
            if let Err(err) = self.flush() {
                tracing::debug!(%err, "deferred send failed");
            }
        }
        None
    }

    /// The next queued event, without reading the socket and without sending.
    ///
    /// Unlike [`check_events`](Self::check_events), an empty queue does not send the
    /// acknowledgements [`service`](Self::service) put off: they wait (see
    /// [`wants_flush`](Self::wants_flush)) for the next `service`, `check_events` or
    /// [`flush`](Self::flush), which the caller must make sure follows soon (within the frame),
    /// or the remote retransmits.
    pub fn poll_queued_event(&mut self) -> Option<Event> {
        self.take_event()
    }

    pub(crate) fn take_event(&mut self) -> Option<Event> {
        self.host.poll_event()
    }

    /// Why the host cannot be driven any more, as the error its calls return.
    fn check_failure(&self) -> io::Result<()> {
        match &self.failure {
            None => Ok(()),
            Some(failure) => Err(failure.to_io_error()),
        }
    }

    /// The service thread failed (it panicked, or its socket did): the host is left as it was,
    /// and every later `service` and `flush` returns `failure`, so its owner closes it rather
    /// than go on with a host whose state may be half updated.
    pub(crate) fn fail(&mut self, failure: HostFailure) {
        self.failure.get_or_insert(failure);
        if let Some(link) = self.thread.take() {
            self.stats.add(&link.sent_counts());
        }
        self.sender.collect = false;
    }

    /// `enet_host_flush`: send everything queued now, the owner's staged packets included.
    /// While a service thread services the host the datagrams are built now and sent as the
    /// owner's lock is released (see [`SharedUdpHost`](crate::SharedUdpHost)).
    pub fn flush(&mut self) -> io::Result<()> {
        self.check_failure()?;
        self.check_thread();
        self.release_staged();
        let now = self.clock.now();
        let result = self.send_pending(now);
        self.schedule.sent(Due::Everything);
        result?;
        self.deferred_error.take().map_or(Ok(()), Err)
    }

    /// Send a raw datagram from the host's socket, outside the protocol (NAT punching, LAN
    /// discovery replies; Godot's `ENetConnection.socket_send`). It crosses the simulated link.
    /// With DTLS the datagram is encrypted like an ENet datagram, as in Godot.
    pub fn socket_send(&mut self, addr: SocketAddr, data: &[u8]) -> io::Result<()> {
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_raw_send(Instant::now(), canonical_addr(addr), data);
            return self.flush();
        }
        self.send_raw(addr, data)
    }

    /// Socket-level counters.
    pub fn driver_statistics(&self) -> DriverStatistics {
        let mut stats = self.stats;
        if let Some(link) = &self.thread {
            stats.add(&link.sent_counts());
        }
        if let Some(dtls) = &self.dtls {
            dtls.add_statistics(&mut stats);
        }
        stats
    }

    /// One non-blocking pass: receive what is there, run the timers, send. `drained`: the wait
    /// that just ended emptied the socket's queue, so the read is skipped (a system call that
    /// would find nothing; what came since is read by the next wait at once).
    ///
    /// The socket is read before the timers run (C ENet's `enet_host_service` runs them first):
    /// what waits there arrived while the owner was away (a long frame, a stall), and the
    /// acknowledgements in it cancel the resends and the timeouts that the timers would
    /// otherwise fire for packets that already arrived. Both orders put the same datagrams on
    /// the wire, only fewer needless resends with this one.
    fn pass(&mut self, drained: bool) -> io::Result<()> {
        if !drained {
            self.receive_available()?;
        }
        let now = self.run_timers();
        // What arrived may have produced events: their acknowledgements wait for the
        // application's answers.
        if self.hold_for_events() {
            return Ok(());
        }
        // A service sends what is queued, as `enet_host_service` does.
        self.send_pending(now)?;
        self.schedule.sent(Due::Everything);
        Ok(())
    }

    /// DTLS's and the core's timers (resends, pings, timeouts), at the time it returns.
    fn run_timers(&mut self) -> EnetTime {
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(Instant::now(), &self.host);
        }
        let now = self.clock.now();
        self.host.handle_timeout(now);
        now
    }

    /// Whether an event waits for the application (without taking it).
    pub(crate) fn has_event(&self) -> bool {
        self.host.has_event()
    }

    /// Whether the core has an event for the application; if so, the acknowledgements of what
    /// arrived are held for its answers (see [`SendSchedule`]).
    ///
    /// The application is about to see events and often answers them (an echo, an RPC reply).
    /// Sending the acknowledgements now would cost a datagram per peer, and the answer another;
    /// they wait for the next `service`, `check_events` (once the queue is empty) or `flush`,
    /// and both share one datagram. C ENet acknowledges before returning the first event; the
    /// extra delay is the application's event handling, which a service loop keeps short.
    fn hold_for_events(&mut self) -> bool {
        let waiting = self.has_event();
        if waiting {
            self.schedule.events_arrived(Instant::now());
            if self.schedule.due(Instant::now(), false) != Due::Nothing {
                // Nothing is held (FlushPolicy::Immediate): acknowledge at once.
                return false;
            }
        }
        waiting
    }
}

/// 64 bits from the OS's random source; if that fails (it should not), the clock and a
/// per-process hash key, which still differ between hosts.
fn os_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|err| {
        tracing::warn!(%err, "no OS randomness for connect ids; using the clock");
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish()
    })
}

/// A host can move to (and be shared with) another thread, such as a service thread.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<parking_lot::Mutex<UdpHost>>();
    const fn assert_send<T: Send>() {}
    assert_send::<UdpHost>();
};

#[cfg(test)]
pub(crate) mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use rust_enet_proto::PeerState;

    use super::*;

    /// Drives both hosts until `a` returns an event (bounded; panics if none comes).
    pub(crate) fn next_event_of(a: &mut UdpHost, b: &mut UdpHost) -> Event {
        for _ in 0..2_000 {
            if let Some(event) = a.service(Duration::from_millis(1)).unwrap() {
                return event;
            }
            b.service(Duration::from_millis(1)).unwrap();
        }
        panic!("no event came");
    }

    /// A connected (server, client, client's peer for the server) pair on loopback, quiet: the
    /// client's first ping and its acknowledgement have crossed.
    fn quiet_pair() -> (UdpHost, UdpHost, PeerId) {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut server = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let mut client = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let to_server = client.connect(server.local_addr(), 2, 0).unwrap();
        let connected = next_event_of(&mut client, &mut server);
        assert!(matches!(connected, Event::Connect { .. }));
        let connected = next_event_of(&mut server, &mut client);
        assert!(matches!(connected, Event::Connect { .. }));
        for _ in 0..20 {
            assert!(client.service(Duration::from_millis(1)).unwrap().is_none());
            assert!(server.service(Duration::from_millis(1)).unwrap().is_none());
        }
        (server, client, to_server)
    }

    /// The service thread asks whether events wait; asking must not take a DISCONNECT event,
    /// which would free the slot before the owner sees it.
    #[test]
    fn asking_for_a_waiting_disconnect_keeps_the_slot() {
        let (mut server, mut client, to_server) = quiet_pair();
        client.host_mut().disconnect_now(to_server, 0);
        client.flush().unwrap();
        let slot = server.host().peers().next().unwrap().0;
        for _ in 0..2_000 {
            if server.has_event() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
            server.receive_available().unwrap();
            server.run_timers();
        }
        assert!(server.has_event(), "the disconnect never arrived");
        assert_eq!(server.host().peer(slot).unwrap().state(), PeerState::Zombie);
        assert!(matches!(
            server.service(Duration::ZERO).unwrap(),
            Some(Event::Disconnect { peer, .. }) if peer == slot
        ));
        assert!(!server.has_event());
    }

    #[test]
    fn acknowledgement_rides_with_the_answer() {
        use rust_enet_proto::Packet;
        let (mut server, mut client, to_server) = quiet_pair();
        client
            .host_mut()
            .send(to_server, 1, Packet::reliable(&b"question"[..]))
            .unwrap();
        client.flush().unwrap();
        let sent_before = server.driver_statistics().datagrams_sent;
        let Event::Receive { peer, .. } = next_event_of(&mut server, &mut client) else {
            panic!("expected the question");
        };
        answer_leaves_with_the_acknowledgement(&mut server, peer, sent_before);
        let Event::Receive { packet, .. } = next_event_of(&mut client, &mut server) else {
            panic!("expected the answer");
        };
        assert_eq!(&packet.data[..], b"answer");
    }

    #[test]
    fn acknowledgement_of_a_datagram_that_ends_a_wait_rides_with_the_answer() {
        use rust_enet_proto::Packet;
        let (mut server, mut client, to_server) = quiet_pair();
        let sent_before = server.driver_statistics().datagrams_sent;
        // The server blocks in its wait; the question arrives during it (or, on a slow machine,
        // before the first read: both paths must hold the acknowledgement back).
        let event = std::thread::scope(|scope| {
            let waiting = scope.spawn(|| server.service(Duration::from_secs(5)).unwrap());
            std::thread::sleep(Duration::from_millis(50));
            client
                .host_mut()
                .send(to_server, 1, Packet::reliable(&b"question"[..]))
                .unwrap();
            client.flush().unwrap();
            waiting.join().unwrap()
        });
        let Some(Event::Receive { peer, .. }) = event else {
            panic!("expected the question, got {event:?}");
        };
        answer_leaves_with_the_acknowledgement(&mut server, peer, sent_before);
    }

    /// The server has received a question and sent nothing since `sent_before`: its answer and
    /// the question's acknowledgement leave together, in one datagram.
    fn answer_leaves_with_the_acknowledgement(
        server: &mut UdpHost,
        peer: PeerId,
        sent_before: u64,
    ) {
        use rust_enet_proto::Packet;
        // Nothing left yet: the acknowledgement waits for the application's answer.
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before);
        server
            .host_mut()
            .send(peer, 1, Packet::reliable(&b"answer"[..]))
            .unwrap();
        assert!(server.check_events().is_none());
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before + 1);
    }

    #[test]
    fn zero_timeout_service_with_nothing_to_do_sends_nothing_and_still_delivers() {
        use rust_enet_proto::Packet;
        let (mut server, mut client, _) = quiet_pair();
        let sent_before = client.driver_statistics().datagrams_sent;
        let received_before = client.driver_statistics().datagrams_received;
        // Well inside the 500 ms ping interval: no timer is due, nothing arrives.
        for _ in 0..1_000 {
            assert!(client.service(Duration::ZERO).unwrap().is_none());
        }
        assert_eq!(client.driver_statistics().datagrams_sent, sent_before);
        assert_eq!(
            client.driver_statistics().datagrams_received,
            received_before
        );

        let (to_client, _) = server.host().peers().next().unwrap();
        for packet in [
            Packet::reliable(&b"reliable"[..]),
            Packet::unreliable(&b"unreliable"[..]),
            Packet::unsequenced(&b"unsequenced"[..]),
        ] {
            server.host_mut().send(to_client, 1, packet).unwrap();
        }
        server.flush().unwrap();
        let mut delivered = Vec::new();
        for _ in 0..2_000 {
            while let Some(event) = client.service(Duration::ZERO).unwrap() {
                if let Event::Receive { packet, .. } = event {
                    delivered.push(packet.data.to_vec());
                }
            }
            if delivered.len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            delivered,
            [&b"reliable"[..], b"unreliable", b"unsequenced"].map(<[u8]>::to_vec)
        );
        // The acknowledgement of the reliable message left with a later zero-timeout service.
        client.service(Duration::ZERO).unwrap();
        for _ in 0..2_000 {
            server.service(Duration::from_millis(1)).unwrap();
            let peer = server.host().peer(to_client).unwrap();
            if peer.unacknowledged_commands() == 0 {
                return;
            }
        }
        panic!("the reliable message was never acknowledged");
    }

    #[test]
    fn drained_events_leave_acknowledgements_for_the_frame_flush() {
        use rust_enet_proto::Packet;
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut server = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let mut client = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        let to_server = client.connect(server.local_addr(), 2, 0).unwrap();
        assert!(matches!(
            next_event_of(&mut client, &mut server),
            Event::Connect { .. }
        ));
        assert!(matches!(
            next_event_of(&mut server, &mut client),
            Event::Connect { .. }
        ));
        // Let the first pings and their acknowledgements cross before counting datagrams.
        for _ in 0..20 {
            assert!(client.service(Duration::from_millis(1)).unwrap().is_none());
            assert!(server.service(Duration::from_millis(1)).unwrap().is_none());
        }
        for text in [&b"one"[..], b"two", b"three"] {
            client
                .host_mut()
                .send(to_server, 0, Packet::reliable(text))
                .unwrap();
        }
        client.flush().unwrap();
        let sent_before = server.driver_statistics().datagrams_sent;
        let Event::Receive { peer, packet, .. } = next_event_of(&mut server, &mut client) else {
            panic!("expected the first packet");
        };
        assert_eq!(&packet.data[..], b"one");
        assert!(server.wants_flush());
        // The rest of the frame's events come without a send, also once the queue is empty.
        let mut rest = Vec::new();
        while let Some(event) = server.poll_queued_event() {
            let Event::Receive { packet, .. } = event else {
                panic!("expected packets only");
            };
            rest.push(packet.data);
        }
        assert_eq!(rest, [&b"two"[..], b"three"]);
        assert!(server.poll_queued_event().is_none());
        assert!(server.wants_flush());
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before);
        // The game answers; the frame's flush sends the answer and the acknowledgements together.
        server
            .host_mut()
            .send(peer, 0, Packet::reliable(&b"answer"[..]))
            .unwrap();
        server.flush().unwrap();
        assert!(!server.wants_flush());
        assert_eq!(server.driver_statistics().datagrams_sent, sent_before + 1);
        let Event::Receive { packet, .. } = next_event_of(&mut client, &mut server) else {
            panic!("expected the answer");
        };
        assert_eq!(&packet.data[..], b"answer");
        // The datagram that brought the answer acknowledged all three packets.
        let peer = client.host().peer(to_server).unwrap();
        assert_eq!(peer.unacknowledged_commands(), 0);
    }
}
