//! NAT traversal through a noray-compatible rendezvous server, without I/O: a host registers
//! and gets a shareable id; a joiner asks for that id, punches toward the host's candidates
//! (LAN, then public, then the server's relay) and says which path to run ENet's handshake on.
//!
//! [`Traversal`] is sans-IO: lines and datagrams in, lines, datagrams and events out, with the
//! time passed in. `rendezvous.rs` drives it over a `SignalLink` and the ENet host's socket
//! (its side channel), which is what makes a punch answerable: the punch packets arrive on
//! the same socket ENet uses, told apart before ENet parses them.
//!
//! # The exchange (noray's protocol; `rust_enet-` lines only with a server that speaks them)
//! 1. TCP: `rust_enet-hello 1 [token]`, `rust_enet-candidates <lan>`, `register-host`; the
//!    server answers `set-oid <oid>` and `set-pid <pid>` (a plain noray server ignores the
//!    extension lines; ours answers `rust_enet-welcome`).
//! 2. UDP, from the ENet socket: the pid to the registrar (port 8809 unless the welcome says
//!    otherwise) every 100 ms until `OK`. The host is then registered: its id can be shared.
//!    It repeats the pid every `keepalive` so its NAT keeps the mapping the server saw.
//! 3. The joiner sends `connect <oid>`. Both parties get the other's addresses (`connect
//!    <ip:port>`, or `rust_enet-peer nat <public> <lan>`) and punch toward them.
//! 4. The first candidate a punch comes back from is the joiner's path; with none after
//!    `direct_timeout`, the joiner sends `connect-relay <oid>`, both punch the relay port they
//!    are given, and the joiner's path is the relay.
//!
//! # Driving it
//! - [`link_open`](Traversal::link_open) once the TCP connection is up,
//!   [`line`](Traversal::line) for each line read, [`link_closed`](Traversal::link_closed)
//!   when it ends;
//! - [`datagram`](Traversal::datagram) for each side-channel datagram of the ENet socket;
//! - [`timeout`](Traversal::timeout) at [`next_timeout`](Traversal::next_timeout);
//! - then drain [`poll_line`](Traversal::poll_line) (write to TCP),
//!   [`poll_transmit`](Traversal::poll_transmit) (send from the ENet socket, outside DTLS)
//!   and [`poll_event`](Traversal::poll_event).
//!
//! A host also reports each ENet peer that connected ([`peer_connected`](Traversal::peer_connected))
//! so the punching toward it stops, and asks [`path_of`](Traversal::path_of) an address.

mod notice;
mod punch;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use notice::Notice;
pub use punch::{MAX_CANDIDATES, PROBE_TTL, Path, Punch, PunchPacket};

/// The registrar's port when the server does not say (noray's default).
pub const DEFAULT_REGISTRAR_PORT: u16 = 8809;
/// The rendezvous server's TCP port when none is given (noray's default).
pub const DEFAULT_SERVER_PORT: u16 = 8890;
/// Remotes a host punches toward at once at most; more `connect` notices are ignored until
/// one ends.
pub const MAX_PUNCHING: usize = 32;

/// The times of a traversal. The defaults suit the internet; tests shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraversalConfig {
    /// The shared secret of a private server (`rust_enet-hello`); ignored by noray.
    pub token: Option<String>,
    /// Connecting to the server, and each answer from it, may take this long.
    pub server_timeout: Duration,
    /// Between two registration datagrams until `OK`.
    pub register_interval: Duration,
    /// Between two punch packets to each candidate.
    pub punch_interval: Duration,
    /// How long a joiner punches before it asks for the relay (when relaying is allowed).
    pub direct_timeout: Duration,
    /// How long a joiner punches the relay port before giving up.
    pub relay_timeout: Duration,
    /// How long the first punches toward public addresses are low-TTL probes (see
    /// [`Punch::new`]).
    pub probe: Duration,
    /// How long a host punches toward a joiner (netfox.noray's host: 8 s).
    pub host_punch_duration: Duration,
    /// Between two registration refreshes of a host (unless the server says otherwise), which
    /// keep the NAT's mapping toward the server alive.
    pub keepalive: Duration,
    /// Whether a joiner falls back to the server's relay.
    pub allow_relay: bool,
}

impl Default for TraversalConfig {
    fn default() -> Self {
        TraversalConfig {
            token: None,
            server_timeout: Duration::from_secs(5),
            register_interval: Duration::from_millis(100),
            punch_interval: Duration::from_millis(50),
            probe: Duration::from_millis(300),
            direct_timeout: Duration::from_millis(1500),
            relay_timeout: Duration::from_secs(3),
            host_punch_duration: Duration::from_secs(8),
            keepalive: Duration::from_secs(10),
            allow_relay: true,
        }
    }
}

/// A datagram for the ENet socket to send (outside DTLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub to: SocketAddr,
    pub data: Vec<u8>,
    /// A low time-to-live, or `None` for the system's.
    pub ttl: Option<u8>,
}

impl Transmit {
    fn plain(to: SocketAddr, data: Vec<u8>) -> Transmit {
        Transmit {
            to,
            data,
            ttl: None,
        }
    }
}

/// Why a traversal failed, as a script reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server did not accept the TCP connection, or its registrar never answered.
    ServerUnreachable(String),
    /// The server closed the connection (a host can no longer be found by its id).
    ServerLost(String),
    /// The server refused the token.
    Unauthorized(String),
    /// No host has that id (or it left).
    UnknownId(String),
    /// No punch came back on any path, the relay's included.
    AllPathsFailed(String),
    /// The server refused for another reason (`rust_enet-error` code and text).
    Refused(String),
}

impl Failure {
    /// The reason's name: `server_unreachable`, `server_lost`, `unauthorized`, `unknown_id`,
    /// `all_paths_failed` or `refused`.
    pub fn name(&self) -> &'static str {
        match self {
            Failure::ServerUnreachable(_) => "server_unreachable",
            Failure::ServerLost(_) => "server_lost",
            Failure::Unauthorized(_) => "unauthorized",
            Failure::UnknownId(_) => "unknown_id",
            Failure::AllPathsFailed(_) => "all_paths_failed",
            Failure::Refused(_) => "refused",
        }
    }

    /// What happened, for a person.
    pub fn message(&self) -> &str {
        match self {
            Failure::ServerUnreachable(m)
            | Failure::ServerLost(m)
            | Failure::Unauthorized(m)
            | Failure::UnknownId(m)
            | Failure::AllPathsFailed(m)
            | Failure::Refused(m) => m,
        }
    }
}

/// What a traversal tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraversalEvent {
    /// The host is registered: `id` is what joiners enter.
    Registered { id: String },
    /// The joiner found a path: start ENet's handshake to `address`.
    Connect { address: SocketAddr, path: Path },
    /// The traversal gave up (a host goes on serving who is connected).
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Host,
    Join,
}

#[derive(Debug)]
enum Stage {
    /// Waiting for the TCP connection (since `since`).
    Linking { since: Instant },
    /// Waiting for `set-oid`/`set-pid`.
    Asking { since: Instant },
    /// Sending the pid until `OK`.
    Registering { since: Instant, next: Instant },
    /// Registered; a host keeps the registration fresh and punches toward joiners.
    Hosting { refresh: Instant },
    /// A joiner waits for the host's addresses after `connect <oid>`.
    Requesting { since: Instant },
    /// A joiner punches toward the host's candidates.
    Punching { punch: Punch, give_up: Instant },
    /// A joiner asked for the relay and waits for its port.
    RequestingRelay { since: Instant },
    /// A joiner punches the relay port.
    PunchingRelay { punch: Punch, give_up: Instant },
    /// The joiner's path is chosen, or the traversal failed.
    Done,
}

/// A host's punching toward one joiner.
#[derive(Debug)]
struct HostPunch {
    punch: Punch,
    /// The joiner's ENet peer connected over one of the candidates.
    connected: bool,
}

/// One party's traversal; see the module documentation.
#[derive(Debug)]
pub struct Traversal {
    role: Role,
    config: TraversalConfig,
    /// The id of the host to join.
    target: Option<String>,
    stage: Stage,
    server: Option<SocketAddr>,
    registrar_port: u16,
    /// The server speaks rust_enet's extension (it sent `rust_enet-welcome`).
    extended: bool,
    keepalive: Duration,
    oid: Option<String>,
    pid: Option<String>,
    /// This party's own addresses for the server to pass on (`rust_enet-candidates`).
    lan: Vec<SocketAddr>,
    /// A host's punching, one per joiner (their relay or public address first).
    punching: Vec<HostPunch>,
    /// The relay addresses a host was told about (their ENet peers are relayed).
    relays: Vec<SocketAddr>,
    /// The joiner's chosen path.
    chosen: Option<(SocketAddr, Path)>,
    lines: VecDeque<Vec<u8>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TraversalEvent>,
}

impl Traversal {
    /// A host's traversal, started `now` (connecting to the server).
    pub fn host(config: TraversalConfig, now: Instant) -> Traversal {
        Traversal::new(Role::Host, None, config, now)
    }

    /// A joiner's traversal toward the host registered as `id`, started `now`.
    pub fn join(id: &str, config: TraversalConfig, now: Instant) -> Traversal {
        Traversal::new(Role::Join, Some(id.to_owned()), config, now)
    }

    fn new(role: Role, target: Option<String>, config: TraversalConfig, now: Instant) -> Traversal {
        Traversal {
            role,
            keepalive: config.keepalive,
            config,
            target,
            stage: Stage::Linking { since: now },
            server: None,
            registrar_port: DEFAULT_REGISTRAR_PORT,
            extended: false,
            oid: None,
            pid: None,
            lan: Vec::new(),
            punching: Vec::new(),
            relays: Vec::new(),
            chosen: None,
            lines: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The shareable id, once registered.
    pub fn id(&self) -> Option<&str> {
        self.oid.as_deref().filter(|_| self.is_registered())
    }

    /// Whether the registrar confirmed this party's address.
    pub fn is_registered(&self) -> bool {
        match self.stage {
            Stage::Hosting { .. }
            | Stage::Requesting { .. }
            | Stage::Punching { .. }
            | Stage::RequestingRelay { .. }
            | Stage::PunchingRelay { .. } => true,
            Stage::Done => self.oid.is_some() && self.chosen.is_some(),
            _ => false,
        }
    }

    /// Whether nothing more will happen (the joiner's path is chosen, or it failed).
    pub fn is_done(&self) -> bool {
        matches!(self.stage, Stage::Done)
    }

    /// The server's registrar, whose datagrams the driver must route here whatever they hold.
    pub fn registrar(&self) -> Option<SocketAddr> {
        self.server
            .map(|server| SocketAddr::new(server.ip(), self.registrar_port))
    }

    /// The joiner's chosen path.
    pub fn chosen(&self) -> Option<(SocketAddr, Path)> {
        self.chosen
    }

    /// How an ENet peer at `address` is reached: through a relay the server named, or
    /// directly (a LAN candidate or any other address).
    pub fn path_of(&self, address: SocketAddr) -> Path {
        if let Some((chosen, path)) = self.chosen
            && chosen == address
        {
            return path;
        }
        if self.relays.contains(&address) {
            return Path::Relay;
        }
        self.punching
            .iter()
            .find_map(|p| p.punch.path_of(address))
            .unwrap_or(Path::Public)
    }

    /// The TCP connection is up: `server` is the server's address, `lan` this party's own
    /// addresses (what the server passes to the other party as LAN candidates).
    pub fn link_open(&mut self, server: SocketAddr, lan: Vec<SocketAddr>, now: Instant) {
        if !matches!(self.stage, Stage::Linking { .. }) {
            return;
        }
        self.server = Some(server);
        self.lan = lan;
        let mut hello = b"rust_enet-hello 1".to_vec();
        if let Some(token) = &self.config.token {
            hello.push(b' ');
            hello.extend_from_slice(token.as_bytes());
        }
        self.lines.push_back(hello);
        if !self.lan.is_empty() {
            let list: Vec<String> = self.lan.iter().map(SocketAddr::to_string).collect();
            self.lines
                .push_back(format!("rust_enet-candidates {}", list.join(",")).into_bytes());
        }
        self.lines.push_back(b"register-host".to_vec());
        self.stage = Stage::Asking { since: now };
    }

    /// The TCP connection ended (or never came up), for `reason`.
    pub fn link_closed(&mut self, reason: &str, _now: Instant) {
        match self.stage {
            Stage::Done => {}
            Stage::Linking { .. } => self.fail(Failure::ServerUnreachable(format!(
                "cannot connect to the rendezvous server: {reason}"
            ))),
            // A joiner on its way needs the server no longer once it punches.
            Stage::Punching { .. } | Stage::PunchingRelay { .. } if self.role == Role::Join => {}
            _ => self.fail(Failure::ServerLost(format!(
                "the rendezvous server closed the connection: {reason}"
            ))),
        }
    }

    /// A line from the server (terminator removed).
    pub fn line(&mut self, line: &[u8], now: Instant) {
        match notice::notice(line) {
            Notice::Oid(oid) => self.oid = Some(oid),
            Notice::Pid(pid) => {
                self.pid = Some(pid);
                if matches!(self.stage, Stage::Asking { .. }) && self.oid.is_some() {
                    self.stage = Stage::Registering {
                        since: now,
                        next: now,
                    };
                    self.timeout(now);
                }
            }
            Notice::Welcome {
                registrar_port,
                keepalive_secs,
            } => {
                self.extended = true;
                self.registrar_port = registrar_port;
                if keepalive_secs > 0 {
                    self.keepalive = self
                        .config
                        .keepalive
                        .min(Duration::from_secs(keepalive_secs));
                }
            }
            Notice::Punch { public, lan } => self.punch_toward(&public, &lan, now),
            Notice::Relay { port } => self.punch_relay(port, now),
            Notice::Error { code, text } => self.refused(&code, &text),
            Notice::Other => {}
        }
    }

    /// A side-channel datagram of the ENet socket.
    pub fn datagram(&mut self, from: SocketAddr, data: &[u8], now: Instant) {
        if Some(from) == self.registrar() {
            self.registrar_reply(data, now);
            return;
        }
        if !rust_enet_net::is_punch(data) {
            return;
        }
        match &mut self.stage {
            Stage::Punching { punch, .. } => {
                // A punch from another port of a candidate's address: the remote's NAT mapped
                // it anew toward us (a symmetric NAT), and it got through, so answer it there.
                if !punch.heard(from, data) && punch.knows_ip(from) && punch.add(from, Path::Public)
                {
                    punch.heard(from, data);
                }
                self.choose(now);
            }
            Stage::PunchingRelay { punch, .. } => {
                punch.heard(from, data);
                self.choose(now);
            }
            Stage::Hosting { .. } => {
                if let Some(p) = self.punching.iter_mut().find(|p| p.punch.knows(from)) {
                    p.punch.heard(from, data);
                }
            }
            _ => {}
        }
    }

    /// A host's ENet peer connected from `address`: stop punching toward that joiner.
    pub fn peer_connected(&mut self, address: SocketAddr) {
        for p in &mut self.punching {
            if p.punch.knows(address) {
                p.connected = true;
                // A few more rounds, so a netfox.noray joiner that is still in its handshake
                // reads `x` and finishes it.
                p.punch.stop_after(3);
            }
        }
    }

    /// When [`timeout`](Self::timeout) is due next.
    pub fn next_timeout(&self) -> Option<Instant> {
        let stage = match &self.stage {
            Stage::Linking { since } | Stage::Asking { since } | Stage::Requesting { since } => {
                Some(*since + self.config.server_timeout)
            }
            Stage::RequestingRelay { since } => Some(*since + self.config.server_timeout),
            Stage::Registering { next, .. } => Some(*next),
            Stage::Hosting { refresh } => Some(*refresh),
            Stage::Punching { punch, give_up } | Stage::PunchingRelay { punch, give_up } => punch
                .due()
                .map_or(Some(*give_up), |due| Some(due.min(*give_up))),
            Stage::Done => None,
        };
        let punches = self.punching.iter().filter_map(|p| p.punch.due()).min();
        match (stage, punches) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run what is due at `now`.
    pub fn timeout(&mut self, now: Instant) {
        let server_timeout = self.config.server_timeout;
        match &mut self.stage {
            Stage::Linking { since } if now >= *since + server_timeout => {
                self.fail(Failure::ServerUnreachable(
                    "the rendezvous server did not accept the connection in time".into(),
                ));
            }
            Stage::Asking { since } if now >= *since + server_timeout => {
                self.fail(Failure::ServerUnreachable(
                    "the rendezvous server did not answer register-host".into(),
                ));
            }
            Stage::Registering { since, next } if now >= *next => {
                if now >= *since + server_timeout {
                    let registrar = self.registrar();
                    self.fail(Failure::ServerUnreachable(format!(
                        "the rendezvous server's registrar ({}) did not answer over UDP",
                        registrar.map_or_else(String::new, |r| r.to_string())
                    )));
                } else {
                    *next = now + self.config.register_interval;
                    self.send_pid();
                }
            }
            Stage::Hosting { refresh } if now >= *refresh => {
                *refresh = now + self.keepalive;
                self.send_pid();
            }
            Stage::Requesting { since } if now >= *since + server_timeout => {
                let id = self.target.clone().unwrap_or_default();
                self.fail(Failure::UnknownId(format!(
                    "the rendezvous server found no host with the id '{id}'"
                )));
            }
            Stage::RequestingRelay { since } if now >= *since + server_timeout => {
                self.fail(Failure::AllPathsFailed(
                    "no direct path answered and the server gave no relay".into(),
                ));
            }
            Stage::Punching { give_up, .. } if now >= *give_up => self.direct_failed(now),
            Stage::PunchingRelay { give_up, .. } if now >= *give_up => {
                self.fail(Failure::AllPathsFailed(
                    "no direct path answered, and neither did the relay".into(),
                ));
            }
            _ => {}
        }
        self.send_punches(now);
    }

    /// The punches due at `now`: the joiner's, and a host's toward each joiner.
    fn send_punches(&mut self, now: Instant) {
        let own = match &mut self.stage {
            Stage::Punching { punch, .. } | Stage::PunchingRelay { punch, .. } => Some(punch),
            _ => None,
        };
        let hosts = self.punching.iter_mut().map(|p| &mut p.punch);
        for punch in own.into_iter().chain(hosts) {
            for packet in punch.punches(now) {
                self.transmits.push_back(Transmit {
                    to: packet.to,
                    data: packet.data.to_vec(),
                    ttl: packet.ttl,
                });
            }
        }
        self.punching.retain(|p| p.punch.is_active(now));
    }

    /// The next line to write to the server (without its `\n`).
    pub fn poll_line(&mut self) -> Option<Vec<u8>> {
        self.lines.pop_front()
    }

    /// The next datagram to send from the ENet socket.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<TraversalEvent> {
        self.events.pop_front()
    }

    fn send_pid(&mut self) {
        if let (Some(registrar), Some(pid)) = (self.registrar(), &self.pid) {
            self.transmits
                .push_back(Transmit::plain(registrar, pid.as_bytes().to_vec()));
        }
    }

    fn registrar_reply(&mut self, data: &[u8], now: Instant) {
        if !matches!(self.stage, Stage::Registering { .. }) {
            return; // refreshes are answered too
        }
        if data != b"OK" {
            let text = String::from_utf8_lossy(data);
            self.fail(Failure::Refused(format!(
                "the rendezvous server's registrar refused: {text}"
            )));
            return;
        }
        match self.role {
            Role::Host => {
                self.stage = Stage::Hosting {
                    refresh: now + self.keepalive,
                };
                let id = self.oid.clone().unwrap_or_default();
                self.events.push_back(TraversalEvent::Registered { id });
            }
            Role::Join => {
                let id = self.target.clone().unwrap_or_default();
                self.lines.push_back(format!("connect {id}").into_bytes());
                self.stage = Stage::Requesting { since: now };
            }
        }
    }

    fn punch_toward(&mut self, public: &[SocketAddr], lan: &[SocketAddr], now: Instant) {
        let mut punch = Punch::new(
            now,
            self.config.punch_interval,
            match self.role {
                Role::Host => self.config.host_punch_duration,
                Role::Join => self.config.direct_timeout,
            },
            self.config.probe,
        );
        for &address in lan {
            punch.add(address, Path::Lan);
        }
        for &address in public {
            punch.add(address, Path::Public);
        }
        match (self.role, &mut self.stage) {
            (Role::Host, Stage::Hosting { .. }) => self.host_punch(punch, now),
            (Role::Join, Stage::Requesting { .. }) => {
                let give_up = now + self.config.direct_timeout;
                self.stage = Stage::Punching { punch, give_up };
                self.send_punches(now);
            }
            // Our server sends the extension's line, then noray's: the second adds nothing.
            (Role::Join, Stage::Punching { punch: current, .. }) => current.merge(punch, now),
            _ => {}
        }
    }

    fn punch_relay(&mut self, port: u16, now: Instant) {
        let Some(server) = self.server else { return };
        let relay = SocketAddr::new(server.ip(), port);
        let duration = match self.role {
            Role::Host => self.config.host_punch_duration,
            Role::Join => self.config.relay_timeout,
        };
        let mut punch = Punch::new(now, self.config.punch_interval, duration, Duration::ZERO);
        punch.add(relay, Path::Relay);
        match (self.role, &self.stage) {
            (Role::Host, Stage::Hosting { .. }) => {
                if !self.relays.contains(&relay) {
                    self.relays.push(relay);
                }
                self.host_punch(punch, now);
            }
            (Role::Join, Stage::RequestingRelay { .. }) => {
                // Our server learns which relay is ours from the pid sent to the relay port
                // itself: behind a symmetric NAT that is the only way it sees the mapping we
                // use toward that port (noray would forward the pid to the host: not there).
                if self.extended
                    && let Some(pid) = &self.pid
                {
                    self.transmits
                        .push_back(Transmit::plain(relay, pid.as_bytes().to_vec()));
                }
                self.stage = Stage::PunchingRelay {
                    punch,
                    give_up: now + self.config.relay_timeout,
                };
                self.send_punches(now);
            }
            _ => {}
        }
    }

    fn host_punch(&mut self, punch: Punch, now: Instant) {
        // The same joiner again (our server's extension line and noray's, or a retry): its
        // punching takes the new candidates and starts over.
        if let Some(current) = self.punching.iter_mut().find(|p| p.punch.overlaps(&punch)) {
            current.punch.merge(punch, now);
            current.connected = false;
        } else if self.punching.len() >= MAX_PUNCHING {
            tracing::warn!("{MAX_PUNCHING} joiners are being punched already; one more ignored");
            return;
        } else {
            self.punching.push(HostPunch {
                punch,
                connected: false,
            });
        }
        self.send_punches(now);
    }

    fn choose(&mut self, _now: Instant) {
        let open = match &self.stage {
            Stage::Punching { punch, .. } | Stage::PunchingRelay { punch, .. } => punch.open_path(),
            _ => None,
        };
        let Some((address, path)) = open else { return };
        // One last punch, with `r`, so the host knows we read it.
        self.transmits
            .push_back(Transmit::plain(address, b"$rwx".to_vec()));
        self.chosen = Some((address, path));
        self.stage = Stage::Done;
        self.events
            .push_back(TraversalEvent::Connect { address, path });
    }

    fn direct_failed(&mut self, now: Instant) {
        if !self.config.allow_relay {
            self.fail(Failure::AllPathsFailed(
                "no direct path answered (relaying is off)".into(),
            ));
            return;
        }
        let id = self.target.clone().unwrap_or_default();
        self.lines
            .push_back(format!("connect-relay {id}").into_bytes());
        self.stage = Stage::RequestingRelay { since: now };
    }

    fn refused(&mut self, code: &str, text: &str) {
        let message = format!("the rendezvous server refused ({code}): {text}");
        match code {
            "unauthorized" => self.fail(Failure::Unauthorized(message)),
            "unknown-oid" | "host-not-registered" if self.role == Role::Join => {
                self.fail(Failure::UnknownId(message))
            }
            "relay-unavailable" if matches!(self.stage, Stage::RequestingRelay { .. }) => {
                self.fail(Failure::AllPathsFailed(message))
            }
            // A host's stray errors (a joiner's bad request) do not end its registration.
            _ if self.role == Role::Host && matches!(self.stage, Stage::Hosting { .. }) => {
                tracing::debug!("{message}");
            }
            _ => self.fail(Failure::Refused(message)),
        }
    }

    fn fail(&mut self, failure: Failure) {
        if matches!(self.stage, Stage::Done) {
            return;
        }
        self.stage = Stage::Done;
        self.punching.clear();
        self.events.push_back(TraversalEvent::Failed(failure));
    }
}
