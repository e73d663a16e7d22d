//! [`UdpHost`]: a protocol-core [`Host`] driven over one non-blocking UDP socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::time::{Duration, Instant};

use rust_enet_proto::host::MINIMUM_TRANSMIT_BUFFER;
use rust_enet_proto::wire::PROTOCOL_MAXIMUM_PEER_ID;
use rust_enet_proto::{EnetTime, Event, Host, HostConfig, PeerId};

#[cfg(target_os = "linux")]
use crate::batch::{self, ReceiveBatch, SendBatch};
use crate::clock::Clock;
use crate::dtls::{
    DTLS_RECORD_OVERHEAD, Dtls, DtlsClientOptions, DtlsClientState, DtlsError, DtlsServerOptions,
    DtlsSessions,
};
use crate::link::{Fate, LinkConditions, LinkSimulator, LinkStatistics};
use crate::moderation::{Moderation, ReceiveCoalescing};
use crate::waker::Waker;

/// Largest datagram the host accepts (`ENET_PROTOCOL_MAXIMUM_MTU`). The receive buffer is
/// larger (by a DTLS record's overhead and one byte), so a longer datagram shows up as longer
/// and is dropped as truncated, portably (ENet 1.3.18 checks `MSG_TRUNC` for the same purpose).
pub const MAXIMUM_DATAGRAM: usize = 4096;

/// Room for a DTLS record around a largest datagram, plus the truncation byte.
const RECEIVE_SLOT: usize = MAXIMUM_DATAGRAM + DTLS_RECORD_OVERHEAD + 1;

/// Datagrams read per receive step before timers and sends get a turn (ENet reads 256).
pub const RECEIVE_BATCH: usize = 256;

/// Which local address to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindAddress {
    /// All interfaces: `[::]` with IPv4-mapped addresses (dual stack) where the system does that
    /// by default, otherwise `0.0.0.0`.
    #[default]
    Wildcard,
    /// One local address (IPv4 or IPv6); the socket then speaks only that family.
    Ip(IpAddr),
}

impl From<IpAddr> for BindAddress {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip)
    }
}

/// How exactly a wait in [`UdpHost::service`] ends at its deadline.
///
/// std has no `poll`, so the driver waits with a blocking read, and Linux keeps the read timeout
/// in scheduler ticks: a 1 ms wait that no datagram ends lasts 4-12 ms (`HZ=250`). A datagram
/// always ends a wait at once. A helper thread (started on first need) can end a wait on time
/// by sending the host an empty datagram; it wakes about once per millisecond while armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitPrecision {
    /// Never use the helper: no extra thread, waits may overshoot by ticks.
    Coarse,
    /// Use the helper only for waits no datagram is expected to end: on hosts with at most
    /// 16 peers, when nothing is queued and nothing awaits acknowledgement (a client that sent
    /// everything and wants control back on time). Busy servers never pay for it.
    #[default]
    Auto,
    /// Use the helper for every wait: `service(1 ms)` loops return on time, at the cost of a
    /// helper wake-up per millisecond (measured +20 % server CPU with 500 busy clients, +70 %
    /// with 4000 idle ones, on a 2-core VM).
    Precise,
}

/// Peers up to which [`WaitPrecision::Auto`] looks at every peer before a wait.
const AUTO_PRECISE_PEERS: usize = 16;

/// Bytes of large reassembly buffers mapped before each blocking wait
/// (`Host::prefault_reassembly`): 16 pages, what a full 64 KiB reliable window of fragments
/// fills per round trip. Measured on the 16 MiB bulk transfer (median of 12, loopback): 16, 32,
/// 64, 96 and 128 KiB took 0.88x, 0.85x, 0.76x, 0.79x and 0.85x the time without; more holds
/// back reads that are already due.
const PREFAULT_BUDGET: usize = 64 * 1024;

/// Which direction of the simulated link a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkDirection {
    /// Datagrams leaving this host.
    Outgoing,
    /// Datagrams arriving at this host (before the core sees them).
    Incoming,
    /// Both directions (same conditions, independent random fates).
    Both,
}

/// Socket-level counters of the driver (the core keeps its own, see `Host::statistics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStatistics {
    /// Datagrams handed to the socket.
    pub datagrams_sent: u64,
    /// Bytes handed to the socket.
    pub bytes_sent: u64,
    /// Datagrams read from the socket (including dropped ones).
    pub datagrams_received: u64,
    /// Bytes read from the socket.
    pub bytes_received: u64,
    /// Datagrams longer than [`MAXIMUM_DATAGRAM`], dropped unread.
    pub dropped_truncated: u64,
    /// Sends that failed for one destination (unreachable, wrong address family, would block)
    /// and were dropped, as ENet drops them.
    pub send_failures: u64,
    /// DTLS: datagrams that failed DTLS processing (not a record of a session, not a ClientHello,
    /// broken session, from another address than the client's server) and were dropped.
    pub dtls_dropped: u64,
    /// DTLS server: ClientHellos dropped because of the pending-handshake cap, the session cap or
    /// refused new connections.
    pub dtls_refused_handshakes: u64,
    /// DTLS: handshakes that failed (bad cookie, certificate refused, protocol error).
    pub dtls_failed_handshakes: u64,
    /// DTLS: ENet datagrams not sent because no session was usable for their destination.
    pub dtls_unsent: u64,
    /// Datagrams (of `datagrams_sent`) that left in UDP segmentation offload sends: runs of
    /// equal-sized datagrams to one peer handed to the kernel as one buffer (Linux `UDP_SEGMENT`;
    /// the datagrams on the wire are the same).
    pub gso_datagrams: u64,
    /// Datagrams (of `datagrams_received`) that arrived coalesced with others in one buffer
    /// (Linux `UDP_GRO`) and were split again by the driver.
    pub gro_datagrams: u64,
    /// Bytes of large reassembly buffers mapped ahead of their fragments before blocking waits
    /// (`Host::prefault_reassembly`), so that copying the fragments in takes no page faults.
    pub reassembly_prefaulted: u64,
}

/// An ENet host on a UDP socket: the driver half of `enet_host_service`.
///
/// Owns the protocol [`Host`], a non-blocking socket and the clock. Commands go to the core
/// through [`host_mut`](Self::host_mut) (or [`connect`](Self::connect), which needs the time);
/// [`service`](Self::service) then moves datagrams and returns events.
///
/// On Linux the socket gets ENet's 256 KiB buffers and datagrams move in batches
/// (`recvmmsg`/`sendmmsg`, up to 32 per system call; runs of equal-sized datagrams to one peer,
/// such as a window of fragments, leave as one UDP GSO send, and with `UDP_GRO` such runs arrive
/// as one buffer; with DTLS or a simulated link, sends go one at a time). Elsewhere buffer sizes
/// stay at the system defaults and every datagram is its own system call. `IPV6_V6ONLY` is never
/// changed (see [`BindAddress::Wildcard`]).
///
/// # Driving it
///
/// The host has no thread: nothing is sent, received, resent or timed out between calls.
/// - Work is queued through [`host_mut`](Self::host_mut) (`send`, `broadcast`, `disconnect`...)
///   and [`connect`](Self::connect) / [`connect_any`](Self::connect_any); it leaves with the next
///   `service` or `flush`.
/// - [`service`](Self::service)`(timeout)`: a queued event is returned at once, sending nothing.
///   Otherwise one pass sends what is queued, reads the socket, runs the core's timers (resends,
///   pings, timeouts) and sends again, and returns the first event; without one it waits on the
///   socket (up to `timeout`, waking for the core's next timer) and passes again. When a pass
///   yields events, its second send (the acknowledgements of what it received) is put off until
///   the application has handled them.
/// - Put-off acknowledgements leave with the next `service`, with
///   [`check_events`](Self::check_events) once it finds the queue empty, or with
///   [`flush`](Self::flush); [`has_deferred_send`](Self::has_deferred_send) tells whether any
///   wait. [`poll_queued_event`](Self::poll_queued_event) drains events without ever sending,
///   for adapters that flush once per frame (the caller must flush within the frame).
/// - [`flush`](Self::flush) sends everything queued now (`enet_host_flush`).
///
/// A host not driven for longer than its peers' timeout (ENet's 5 to 30 s) loses them.
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
    #[cfg(target_os = "linux")]
    send_batch: SendBatch,
    stats: DriverStatistics,
    /// DTLS between the core and the socket, once `dtls_*_setup` ran.
    dtls: Option<Dtls>,
    /// How the socket is set up for reads right now, so a wait changes it only when needed.
    receive_mode: ReceiveMode,
    /// An event taken from the core to learn whether the application has something to answer.
    next_event: Option<Event>,
    /// The send after a receive was put off because events were waiting (see `pass`).
    pub(crate) send_deferred: bool,
    /// Ends blocking reads on time when precise waits are on (started with the first wait).
    waker: Option<Waker>,
    wait_precision: WaitPrecision,
    waker_tried: bool,
    /// Adaptive receive coalescing for busy many-peer hosts (see [`ReceiveCoalescing`]).
    moderation: Moderation,
}

/// The socket's read set-up. std has no `poll`, so waiting is a blocking read with a timeout and
/// draining is a non-blocking read. Each change costs a system call (`ioctl(FIONBIO)`,
/// `setsockopt(SO_RCVTIMEO)`), so the driver remembers both settings and skips no-op changes.
/// Sends may find the socket in blocking mode after a wait; a full send buffer then makes the
/// send wait for room instead of dropping the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReceiveMode {
    nonblocking: bool,
    /// The `SO_RCVTIMEO` last set (whole milliseconds, see `wait_and_receive`).
    timeout: Option<Duration>,
}

impl UdpHost {
    /// Bind a socket on `bind`:`port` (0 = ephemeral) and create the host.
    pub fn bind(bind: BindAddress, port: u16, mut config: HostConfig) -> io::Result<UdpHost> {
        if config.seed == HostConfig::DEFAULT_SEED {
            // Connect ids must differ between hosts and processes: seed from the OS.
            config.seed = os_seed();
        }
        let host =
            Host::new(config).map_err(|err| io::Error::new(io::ErrorKind::InvalidInput, err))?;
        let socket = match bind {
            BindAddress::Wildcard => bind_wildcard(port)?,
            BindAddress::Ip(ip) => UdpSocket::bind(SocketAddr::new(ip, port))?,
        };
        socket.set_nonblocking(true)?;
        #[cfg(target_os = "linux")]
        batch::set_socket_buffers(&socket);
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
            #[cfg(target_os = "linux")]
            send_batch: SendBatch::new(MINIMUM_TRANSMIT_BUFFER),
            stats: DriverStatistics::default(),
            receive_mode: ReceiveMode {
                nonblocking: true,
                timeout: None,
            },
            next_event: None,
            send_deferred: false,
            waker: None,
            wait_precision: WaitPrecision::Auto,
            waker_tried: false,
            moderation: Moderation::new(ReceiveCoalescing::default()),
            dtls: None,
        })
    }

    /// The bound socket address (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The protocol core.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// The protocol core, for commands (`send`, `disconnect`, settings). Queued datagrams leave
    /// on the next [`service`](Self::service) or [`flush`](Self::flush).
    pub fn host_mut(&mut self) -> &mut Host {
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
    /// When the pass yields events, the second send is put off until the application has
    /// handled them: the next `service`, [`check_events`](Self::check_events) returning `None`,
    /// or [`flush`](Self::flush) sends the acknowledgements together with the answers.
    pub fn service(&mut self, timeout: Duration) -> io::Result<Option<Event>> {
        if let Some(event) = self.take_event() {
            return Ok(Some(event));
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

    /// When a wait in [`service`](Self::service) must end on time; see [`WaitPrecision`].
    pub fn set_wait_precision(&mut self, precision: WaitPrecision) {
        self.wait_precision = precision;
        if precision == WaitPrecision::Coarse {
            self.waker = None;
            self.waker_tried = false;
        }
    }

    /// When a wait in [`service`](Self::service) may sleep before it reads, so that datagrams
    /// from many peers queue up and one batched read and send handle them; see
    /// [`ReceiveCoalescing`] (default: 500 µs once 32 peers send 2 000 datagrams/s in total and
    /// end 4 000 waits/s; [`ReceiveCoalescing::OFF`] never delays). A wait never sleeps past its
    /// own deadline, and a host with one busy peer never sleeps.
    pub fn set_receive_coalescing(&mut self, coalescing: ReceiveCoalescing) {
        self.moderation.set_settings(coalescing);
    }

    /// The receive coalescing settings in force.
    pub fn receive_coalescing(&self) -> ReceiveCoalescing {
        self.moderation.settings()
    }

    /// Whether waits currently sleep before reading (the last observation window met the
    /// [`ReceiveCoalescing`] thresholds and this is not a probe window).
    pub fn is_coalescing_receives(&self) -> bool {
        self.moderation.is_active()
    }

    /// Whether the coming wait needs the waker: always, never, or (`Auto`) when no datagram is
    /// expected to end it, i.e. a small host with nothing queued and nothing unacknowledged.
    fn wait_needs_waker(&self) -> bool {
        match self.wait_precision {
            WaitPrecision::Coarse => false,
            WaitPrecision::Precise => true,
            WaitPrecision::Auto => {
                // Hosts with many peers see traffic all the time; looking costs O(peers).
                let small =
                    self.host.peers().take(AUTO_PRECISE_PEERS + 1).count() <= AUTO_PRECISE_PEERS;
                small
                    && self.host.peers().all(|(_, peer)| {
                        peer.queued_commands() == 0 && peer.unacknowledged_commands() == 0
                    })
            }
        }
    }

    /// `enet_host_check_events`: the next queued event, without reading the socket.
    ///
    /// Unlike ENet's, it may send: once the queue is empty, acknowledgements put off by
    /// [`service`](Self::service) leave, together with whatever the application queued in
    /// answer to the events (one datagram per peer instead of two). A send error is logged and
    /// the datagram dropped, as ENet drops datagrams the socket refuses.
    pub fn check_events(&mut self) -> Option<Event> {
        if let Some(event) = self.take_event() {
            return Some(event);
        }
        if self.send_deferred {
            if let Err(err) = self.flush() {
                tracing::debug!(%err, "deferred send failed");
            }
        }
        None
    }

    pub(crate) fn take_event(&mut self) -> Option<Event> {
        self.next_event.take().or_else(|| self.host.poll_event())
    }

    /// `enet_host_flush`: send everything the core has queued, now.
    pub fn flush(&mut self) -> io::Result<()> {
        let now = self.clock.now();
        self.send_pending(now)
    }

    /// Send a raw datagram from the host's socket, outside the protocol (NAT punching, LAN
    /// discovery replies; Godot's `ENetConnection.socket_send`). It crosses the simulated link.
    /// With DTLS the datagram is encrypted like an ENet datagram, as in Godot.
    pub fn socket_send(&mut self, addr: SocketAddr, data: &[u8]) -> io::Result<()> {
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_raw_send(Instant::now(), canonical_addr(addr), data);
            return self.flush();
        }
        match self.outgoing_link.submit(Instant::now(), addr, data) {
            Fate::PassThrough => {
                send_datagram(&self.socket, self.local_addr, &mut self.stats, addr, data)
            }
            Fate::Held => Ok(()),
        }
    }

    /// Socket-level counters.
    pub fn driver_statistics(&self) -> DriverStatistics {
        let mut stats = self.stats;
        if let Some(dtls) = &self.dtls {
            dtls.add_statistics(&mut stats);
        }
        stats
    }

    /// Encrypt all traffic as a DTLS server (Godot's `ENetConnection.dtls_server_setup`). Call
    /// right after binding: plaintext peers stop working. Each remote address gets its own
    /// session; see [`DtlsServerOptions`] for the limits.
    pub fn dtls_server_setup(&mut self, options: DtlsServerOptions) -> Result<(), DtlsError> {
        if self.dtls.is_some() {
            return Err(DtlsError::AlreadyEnabled);
        }
        self.dtls = Some(Dtls::server(options, self.host.peer_limit())?);
        Ok(())
    }

    /// Encrypt all traffic as a DTLS client (Godot's `ENetConnection.dtls_client_setup`). Call
    /// before [`connect`](Self::connect) or right after it, before the next
    /// [`service`](Self::service) or [`flush`](Self::flush) sends the CONNECT: the handshake
    /// starts with the first datagram ENet sends.
    pub fn dtls_client_setup(&mut self, options: DtlsClientOptions) -> Result<(), DtlsError> {
        if self.dtls.is_some() {
            return Err(DtlsError::AlreadyEnabled);
        }
        self.dtls = Some(Dtls::client(options)?);
        Ok(())
    }

    /// DTLS sessions by state (a client has at most one); zero without DTLS.
    pub fn dtls_sessions(&self) -> DtlsSessions {
        self.dtls.as_ref().map(Dtls::sessions).unwrap_or_default()
    }

    /// The client's DTLS session state; `None` on a server or without DTLS. `Failed` is what
    /// Godot reports as `EVENT_ERROR` from `service()`.
    pub fn dtls_client_state(&self) -> Option<DtlsClientState> {
        self.dtls.as_ref().and_then(Dtls::client_state)
    }

    /// Godot's `ENetConnection.refuse_new_connections` on a DTLS server: start no new DTLS
    /// sessions while set (existing ones go on). No effect without a DTLS server.
    pub fn set_dtls_refuse_new_connections(&mut self, refuse: bool) {
        if let Some(dtls) = &mut self.dtls {
            dtls.set_refuse_new_sessions(refuse);
        }
    }

    /// Simulate a bad network on this host's traffic. Default: perfect in both directions.
    pub fn set_link_conditions(&mut self, direction: LinkDirection, conditions: LinkConditions) {
        if matches!(direction, LinkDirection::Outgoing | LinkDirection::Both) {
            self.outgoing_link.set_conditions(conditions);
        }
        if matches!(direction, LinkDirection::Incoming | LinkDirection::Both) {
            self.incoming_link.set_conditions(conditions);
        }
    }

    /// Current conditions of one direction (`Both` reports the outgoing one).
    pub fn link_conditions(&self, direction: LinkDirection) -> LinkConditions {
        match direction {
            LinkDirection::Incoming => self.incoming_link.conditions(),
            LinkDirection::Outgoing | LinkDirection::Both => self.outgoing_link.conditions(),
        }
    }

    /// Reseed the simulator's generators, for reproducible runs.
    pub fn set_link_seed(&mut self, seed: u64) {
        self.outgoing_link.reseed(seed);
        self.incoming_link.reseed(seed ^ 0x9E37_79B9_7F4A_7C15);
    }

    /// What the simulator did in one direction (`Both` sums the two).
    pub fn link_statistics(&self, direction: LinkDirection) -> LinkStatistics {
        let (out, inc) = (
            self.outgoing_link.statistics(),
            self.incoming_link.statistics(),
        );
        match direction {
            LinkDirection::Outgoing => out,
            LinkDirection::Incoming => inc,
            LinkDirection::Both => LinkStatistics {
                lost: out.lost + inc.lost,
                queue_dropped: out.queue_dropped + inc.queue_dropped,
                duplicated: out.duplicated + inc.duplicated,
                reordered: out.reordered + inc.reordered,
            },
        }
    }

    /// One non-blocking pass: timers, send, receive what is there, timers, send. `drained`: the
    /// wait that just ended emptied the socket's queue, so the read is skipped (a system call
    /// that would find nothing; what came since is read by the next wait at once).
    fn pass(&mut self, drained: bool) -> io::Result<()> {
        if let Some(dtls) = &mut self.dtls {
            dtls.handle_timeout(Instant::now(), &self.host);
        }
        let now = self.clock.now();
        self.host.handle_timeout(now);
        // Datagrams read by the wait that just ended may have produced events: their
        // acknowledgements wait for the application's answers, as below.
        if self.defer_send_for_events() {
            return Ok(());
        }
        self.send_pending(now)?;
        let arrived = !drained && self.receive_available()?;
        if !arrived {
            // Nothing reached the core since the send above, which left it with nothing to
            // send and no due timer: another round would find nothing (as `enet_host_service`,
            // whose timers run once per pass with the time read at its start). A timer that
            // falls due meanwhile runs on the next call.
            return Ok(());
        }
        let now = self.clock.now();
        self.host.handle_timeout(now);
        if self.defer_send_for_events() {
            return Ok(());
        }
        self.send_pending(now)
    }

    /// Whether the core has an event for the application; if so, the send is put off.
    ///
    /// The application is about to see events and often answers them (an echo, an RPC reply).
    /// Sending the acknowledgements now would cost a datagram per peer, and the answer another;
    /// the send waits for the next `service`, `check_events` (once the queue is empty) or
    /// `flush`, and both share one datagram. C ENet acknowledges before returning the first
    /// event; the extra delay is the application's event handling, which a service loop keeps
    /// short.
    fn defer_send_for_events(&mut self) -> bool {
        if self.next_event.is_none() {
            self.next_event = self.host.poll_event();
        }
        if self.next_event.is_some() {
            self.send_deferred = true;
        }
        self.next_event.is_some()
    }

    /// Release due simulated datagrams, then drain `poll_transmit` into the socket (or the link).
    fn send_pending(&mut self, now: EnetTime) -> io::Result<()> {
        self.send_deferred = false;
        // Plain UDP without a simulated link needs no clock reading per datagram (a measurable
        // share of a service call on virtual machines with a slow clock source).
        #[cfg(target_os = "linux")]
        if self.dtls.is_none() && self.outgoing_link.is_transparent() {
            // Each datagram is written into its own slot; the batch leaves in one sendmmsg.
            while let Some(transmit) = self.host.poll_transmit(now, self.send_batch.next_slot()) {
                match socket_family_addr(self.local_addr, transmit.destination) {
                    Some(target) => self.send_batch.commit(transmit.len, target),
                    None => {
                        self.stats.send_failures += 1;
                        tracing::debug!(addr = %transmit.destination, "this socket's address family cannot reach it");
                    }
                }
                if self.send_batch.is_full() {
                    self.send_batch_now()?;
                }
            }
            return self.send_batch_now();
        }
        #[cfg(not(target_os = "linux"))]
        if self.dtls.is_none() && self.outgoing_link.is_transparent() {
            while let Some(transmit) = self.host.poll_transmit(now, &mut self.transmit_buffer) {
                let data = &self.transmit_buffer[..transmit.len];
                send_datagram(
                    &self.socket,
                    self.local_addr,
                    &mut self.stats,
                    transmit.destination,
                    data,
                )?;
            }
            return Ok(());
        }
        let instant = Instant::now();
        while let Some((addr, data)) = self.outgoing_link.pop_due(instant) {
            send_datagram(&self.socket, self.local_addr, &mut self.stats, addr, &data)?;
        }
        while let Some(transmit) = self.host.poll_transmit(now, &mut self.transmit_buffer) {
            let data = &self.transmit_buffer[..transmit.len];
            if let Some(dtls) = &mut self.dtls {
                dtls.handle_send(instant, transmit.destination, data);
                continue;
            }
            if self
                .outgoing_link
                .submit(instant, transmit.destination, data)
                == Fate::PassThrough
            {
                send_datagram(
                    &self.socket,
                    self.local_addr,
                    &mut self.stats,
                    transmit.destination,
                    data,
                )?;
            }
        }
        // DTLS records and handshake messages, through the link like any datagram.
        while let Some((addr, data)) = self.dtls.as_mut().and_then(Dtls::poll_transmit) {
            if self.outgoing_link.submit(instant, addr, &data) == Fate::PassThrough {
                send_datagram(&self.socket, self.local_addr, &mut self.stats, addr, &data)?;
            }
        }
        Ok(())
    }

    /// Hand the send batch to the socket (GSO runs, then one `sendmmsg` for the rest).
    #[cfg(target_os = "linux")]
    fn send_batch_now(&mut self) -> io::Result<()> {
        let stats = &mut self.stats;
        let mut sent = 0;
        let mut sent_bytes = 0;
        let mut gso = 0;
        let mut failures = 0;
        let result = self.send_batch.send(
            &self.socket,
            |len, offloaded| {
                sent += 1;
                sent_bytes += len as u64;
                gso += u64::from(offloaded);
            },
            |err| {
                failures += 1;
                tracing::debug!(%err, "datagram dropped");
            },
        );
        stats.datagrams_sent += sent;
        stats.bytes_sent += sent_bytes;
        stats.gso_datagrams += gso;
        stats.send_failures += failures;
        result
    }

    /// Read up to [`RECEIVE_BATCH`] waiting datagrams and hand them (and due simulated ones) to
    /// the core. Returns whether anything was read or released.
    #[cfg(target_os = "linux")]
    fn receive_available(&mut self) -> io::Result<bool> {
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
    fn deliver_batch(&mut self, now: EnetTime, batch: &ReceiveBatch, count: usize) {
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
    fn receive_available(&mut self) -> io::Result<bool> {
        self.set_receive_mode(None)?;
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

    /// Block up to `wait` for a datagram and deliver it (on Linux with whatever else came).
    /// Returns whether the socket's queue is known to be empty now.
    fn wait_and_receive(&mut self, wait: Duration) -> io::Result<bool> {
        // std has no poll(): a blocking read with a timeout does the same job for one socket.
        // The kernel keeps SO_RCVTIMEO in scheduler ticks (1-10 ms) anyway, so the timeout is
        // rounded up to whole milliseconds: the value then rarely changes between waits and
        // `set_receive_mode` can skip the setsockopt. A datagram ends the wait at once.
        // When armed, the waker ends the read at `deadline`; the timeout is then a backstop.
        let start = Instant::now();
        let deadline = start + wait;
        let received_before = self.stats.datagrams_received;
        // Busy many-peer host: let the datagrams of a short interval queue up first, so the
        // read below takes them all at once.
        let delay = self.moderation.delay(start).min(wait);
        let mut wait = wait;
        if !delay.is_zero() {
            std::thread::sleep(delay);
            let now = Instant::now();
            if now >= deadline {
                self.receive_available()?;
                return Ok(false);
            }
            wait = deadline - now;
        }
        let wait = Duration::from_millis(wait.as_micros().div_ceil(1000).max(1) as u64);
        let armed = self.wait_needs_waker();
        if armed && !self.waker_tried {
            self.waker_tried = true;
            match Waker::start(self.local_addr) {
                Ok(waker) => self.waker = Some(waker),
                Err(err) => {
                    tracing::debug!(%err, "no waker thread: waits end at the coarse timeout")
                }
            }
        }
        self.set_receive_mode(Some(wait))?;
        let waker = self.waker.as_ref().filter(|_| armed);
        if let Some(waker) = waker {
            waker.arm(deadline);
        }
        let result = self.wait_for_datagrams();
        if let Some(waker) = self.waker.as_ref().filter(|_| armed) {
            waker.disarm();
        }
        let drained = result?;
        if self.stats.datagrams_received != received_before {
            self.moderation.record_wake();
        }
        self.release_incoming();
        Ok(drained)
    }

    /// The blocking read of a wait: `recvmmsg` with `MSG_WAITFORONE` takes the first datagram
    /// and everything that came with it in one call.
    #[cfg(target_os = "linux")]
    fn wait_for_datagrams(&mut self) -> io::Result<bool> {
        let mut batch = std::mem::take(&mut self.receive_batch);
        let result = batch.receive(&self.socket, self.local_addr.is_ipv6(), true);
        let result = match result {
            Ok(count) => {
                let now = self.clock.now();
                self.deliver_batch(now, &batch, count);
                // MSG_WAITFORONE took everything queued after the first datagram: a short batch
                // leaves the queue empty.
                Ok(count > 0 && count < batch::SLOTS)
            }
            Err(err) => match classify_receive_error(&err) {
                ReceiveError::Empty | ReceiveError::Skip | ReceiveError::Truncated => Ok(false),
                ReceiveError::Fatal => Err(err),
            },
        };
        self.receive_batch = batch;
        result
    }

    #[cfg(not(target_os = "linux"))]
    fn wait_for_datagrams(&mut self) -> io::Result<bool> {
        let mut buffer = std::mem::take(&mut self.receive_buffer);
        let result = match self.socket.recv_from(&mut buffer) {
            Ok((len, from)) => {
                let now = self.clock.now();
                self.deliver(now, from, &buffer[..len], false);
                Ok(false)
            }
            Err(err) => match classify_receive_error(&err) {
                ReceiveError::Empty | ReceiveError::Skip => Ok(false),
                ReceiveError::Truncated => {
                    self.count_unread_truncated();
                    Ok(false)
                }
                ReceiveError::Fatal => Err(err),
            },
        };
        self.receive_buffer = buffer;
        result
    }

    /// Non-blocking reads, or blocking reads that give up after `timeout`.
    fn set_receive_mode(&mut self, blocking: Option<Duration>) -> io::Result<()> {
        let nonblocking = blocking.is_none();
        if self.receive_mode.nonblocking != nonblocking {
            self.socket.set_nonblocking(nonblocking)?;
            self.receive_mode.nonblocking = nonblocking;
        }
        if blocking.is_some() && self.receive_mode.timeout != blocking {
            self.socket.set_read_timeout(blocking)?;
            self.receive_mode.timeout = blocking;
        }
        Ok(())
    }

    /// One datagram received at `now`: drop if truncated (`cut` by the kernel, or longer than
    /// the protocol allows), else through the incoming link to the core.
    fn deliver(&mut self, now: EnetTime, from: SocketAddr, data: &[u8], cut: bool) {
        let len = data.len();
        if len == 0
            && self
                .waker
                .as_ref()
                .is_some_and(|w| w.source() == canonical_addr(from))
        {
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
        self.moderation.record(from, peer_bits);
        let limit = MAXIMUM_DATAGRAM + self.dtls.as_ref().map_or(0, |_| DTLS_RECORD_OVERHEAD);
        if cut || len > limit {
            self.stats.dropped_truncated += 1;
            tracing::debug!(%from, "dropping datagram larger than {MAXIMUM_DATAGRAM} bytes");
            return;
        }
        let from = canonical_addr(from);
        if self.incoming_link.is_transparent()
            || self.incoming_link.submit(Instant::now(), from, data) == Fate::PassThrough
        {
            match &mut self.dtls {
                None => self.host.handle_datagram(now, from, data),
                Some(dtls) => dtls.handle_datagram(Instant::now(), from, data, |plain| {
                    self.host.handle_datagram(now, from, plain)
                }),
            }
        }
    }

    /// A datagram the system reported as too long for the receive buffer instead of returning
    /// it cut (Windows), so neither its sender nor its data are known: counted, as `deliver`
    /// counts a cut one.
    #[cfg(not(target_os = "linux"))]
    fn count_unread_truncated(&mut self) {
        self.stats.datagrams_received += 1;
        self.stats.dropped_truncated += 1;
        tracing::debug!("dropping datagram larger than {MAXIMUM_DATAGRAM} bytes");
    }

    /// Hand due simulated datagrams to the core; returns whether there were any.
    fn release_incoming(&mut self) -> bool {
        if self.incoming_link.is_transparent() {
            return false;
        }
        let instant = Instant::now();
        let now = self.clock.at(instant);
        let mut released = false;
        while let Some((from, data)) = self.incoming_link.pop_due(instant) {
            released = true;
            match &mut self.dtls {
                None => self.host.handle_datagram(now, from, &data),
                Some(dtls) => dtls.handle_datagram(instant, from, &data, |plain| {
                    self.host.handle_datagram(now, from, plain)
                }),
            }
        }
        released
    }

    /// The earliest of the core's timer and the simulator's next release.
    fn next_wake(&self, now: Instant) -> Option<Instant> {
        let now_time = self.clock.at(now);
        let timer = self
            .host
            .poll_timeout()
            .map(|deadline| self.clock.instant_of(deadline, now, now_time));
        [
            timer,
            self.outgoing_link.next_release(),
            self.incoming_link.next_release(),
            self.dtls.as_ref().and_then(Dtls::poll_timeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

enum ReceiveError {
    /// Nothing more to read.
    Empty,
    /// This datagram is lost, try the next one.
    Skip,
    /// A datagram longer than the buffer, discarded by the system (Windows `WSAEMSGSIZE`).
    Truncated,
    /// Report to the caller.
    Fatal,
}

fn classify_receive_error(err: &io::Error) -> ReceiveError {
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

/// Send one datagram, converting the address to the socket's family. Failures that concern only
/// this destination are counted and dropped (the protocol retransmits); others are returned.
fn send_datagram(
    socket: &UdpSocket,
    local: SocketAddr,
    stats: &mut DriverStatistics,
    addr: SocketAddr,
    data: &[u8],
) -> io::Result<()> {
    let Some(target) = socket_family_addr(local, addr) else {
        stats.send_failures += 1;
        tracing::debug!(%addr, "this socket's address family cannot reach it");
        return Ok(());
    };
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
                        tracing::debug!(%addr, %err, "datagram dropped");
                        Ok(())
                    }
                    _ => Err(err),
                };
            }
        }
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

/// IPv4-mapped IPv6 (`::ffff:a.b.c.d`) back to IPv4, so a peer's address compares equal whether
/// it came through a dual-stack or an IPv4 socket.
pub fn canonical_addr(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// `addr` in the address family of a socket bound to `local`, or `None` where that socket
/// cannot reach it: IPv6 from an IPv4 socket, IPv4 from a socket on one IPv6 address (only the
/// dual-stack `[::]` takes IPv4-mapped destinations).
fn socket_family_addr(local: SocketAddr, addr: SocketAddr) -> Option<SocketAddr> {
    match (local, canonical_addr(addr)) {
        (SocketAddr::V6(v6), SocketAddr::V4(v4))
            if v6.ip().is_unspecified() || v6.ip().to_ipv4_mapped().is_some() =>
        {
            Some(SocketAddr::V6(SocketAddrV6::new(
                v4.ip().to_ipv6_mapped(),
                v4.port(),
                0,
                0,
            )))
        }
        (SocketAddr::V6(_), SocketAddr::V4(_)) | (SocketAddr::V4(_), SocketAddr::V6(_)) => None,
        (_, addr) => Some(addr),
    }
}

/// Bind `[::]` where that accepts IPv4 too, else `0.0.0.0`.
fn bind_wildcard(port: u16) -> io::Result<UdpSocket> {
    if ipv6_wildcard_is_dual_stack() {
        match UdpSocket::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port)) {
            Ok(socket) => return Ok(socket),
            Err(err) => tracing::debug!(%err, "no IPv6 wildcard socket, falling back to 0.0.0.0"),
        }
    }
    UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port))
}

/// Whether a socket bound to `[::]` also receives IPv4 (IPV6_V6ONLY off). std cannot change the
/// option, so the driver relies on the system default: off on Linux unless
/// `net.ipv6.bindv6only` is set, off on macOS, on for Windows and the BSDs.
fn ipv6_wildcard_is_dual_stack() -> bool {
    if cfg!(any(target_os = "linux", target_os = "android")) {
        std::fs::read_to_string("/proc/sys/net/ipv6/bindv6only").map_or(true, |v| v.trim() == "0")
    } else {
        cfg!(any(target_os = "macos", target_os = "ios"))
    }
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
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4() {
        let mapped: SocketAddr = "[::ffff:127.0.0.1]:4000".parse().unwrap();
        assert_eq!(canonical_addr(mapped), "127.0.0.1:4000".parse().unwrap());
        let v6: SocketAddr = "[::1]:4000".parse().unwrap();
        assert_eq!(canonical_addr(v6), v6);
    }

    #[test]
    fn destinations_follow_the_socket_family() {
        let v6_local: SocketAddr = "[::]:1".parse().unwrap();
        let v4_local: SocketAddr = "0.0.0.0:1".parse().unwrap();
        let v4: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            socket_family_addr(v6_local, v4),
            Some("[::ffff:127.0.0.1]:9".parse().unwrap())
        );
        assert_eq!(socket_family_addr(v4_local, v4), Some(v4));
        assert_eq!(
            socket_family_addr(v4_local, "[::1]:9".parse().unwrap()),
            None
        );
        assert_eq!(
            socket_family_addr(v4_local, "[::ffff:127.0.0.1]:9".parse().unwrap()),
            Some(v4)
        );
        // A socket on one IPv6 address is IPv6-only.
        assert_eq!(socket_family_addr("[::1]:1".parse().unwrap(), v4), None);
    }

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
    fn wake_ups_are_not_traffic() {
        let loopback = BindAddress::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let mut host = UdpHost::bind(loopback, 0, HostConfig::default()).unwrap();
        host.set_wait_precision(WaitPrecision::Precise);
        for _ in 0..20 {
            assert!(host.service(Duration::from_millis(1)).unwrap().is_none());
        }
        assert!(host.waker.is_some());
        assert_eq!(host.host().statistics().total_received_packets, 0);
        assert_eq!(host.host().statistics().dropped_malformed, 0);
    }
}
