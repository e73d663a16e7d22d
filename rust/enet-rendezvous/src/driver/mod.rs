//! The one event loop: a mio `Poll` over the TCP listeners, the clients, the registrar sockets
//! and the relay sockets, feeding the sans-IO [`Server`] and carrying out what it decides.

mod conn;
mod sockets;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, UdpSocket};
use mio::{Events, Interest, Poll, Token, Waker};

use self::conn::Conn;
use self::sockets::{RelaySockets, family, open_files_limit, tcp_listener, udp_socket};
use crate::config::Config;
use crate::hosts::ClientId;
use crate::id::OsEntropy;
use crate::server::{Listening, Server, Transmit};

const WAKER: Token = Token(0);
/// `LISTENER_BASE + family`.
const LISTENER_BASE: usize = 1;
/// `REGISTRAR_BASE + family`.
const REGISTRAR_BASE: usize = 3;
/// `CLIENT_BASE + client id`; above every relay token (`sockets::RELAY_TOKEN_BASE`).
const CLIENT_BASE: usize = 1 << 28;
/// Datagrams or reads one socket may take per turn before the others get theirs.
const BUDGET: usize = 64;
/// Largest UDP payload.
const DATAGRAM_MAX: usize = 65_535;

/// The addresses the server actually bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundAddrs {
    /// TCP listeners, IPv4 first.
    pub tcp: Vec<SocketAddr>,
    /// Registrar sockets, IPv4 first (one port for all).
    pub registrar: Vec<SocketAddr>,
}

/// Stops a running [`Driver`] from another thread.
#[derive(Debug, Clone)]
pub struct StopHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl StopHandle {
    /// Makes [`Driver::run`] return soon.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Err(error) = self.waker.wake() {
            tracing::error!(%error, "could not wake the server loop");
        }
    }
}

/// The server's sockets and loop.
///
/// Drive it with [`Driver::bind`] (binds everything, so ports can be read with
/// [`local_addrs`](Self::local_addrs) before serving), then [`run`](Self::run), which serves
/// until a [`StopHandle`] says stop. It sleeps in `poll` until a socket is ready or the server's
/// next deadline; it never ticks.
#[derive(Debug)]
pub struct Driver {
    poll: Poll,
    listeners: [Option<TcpListener>; 2],
    registrars: [Option<UdpSocket>; 2],
    relays: RelaySockets,
    conns: HashMap<ClientId, Conn>,
    server: Server,
    /// Tokens that still had work when their budget ran out.
    pending: VecDeque<Token>,
    buf: Vec<u8>,
    max_pending_output: usize,
    bound: BoundAddrs,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Driver {
    /// Binds the listener and the registrar on every address of `config.bind`; relay ports
    /// are bound later, when relays are allocated.
    pub fn bind(config: Config) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut listeners: [Option<TcpListener>; 2] = [None, None];
        let mut registrars: [Option<UdpSocket>; 2] = [None, None];
        let mut binds: [Option<IpAddr>; 2] = [None, None];
        let (mut tcp_port, mut udp_port) = (config.tcp_port, config.udp_port);
        let mut ordered = config.bind.clone();
        ordered.sort_by_key(|ip| ip.is_ipv6());
        for ip in ordered {
            let fam = usize::from(ip.is_ipv6());
            let bound = tcp_listener(ip, tcp_port).and_then(|listener| {
                let registrar = udp_socket(ip, udp_port)?;
                Ok((listener, registrar))
            });
            let (mut listener, mut registrar) = match bound {
                Ok(pair) => pair,
                Err(error) if ip.is_ipv6() && config.ipv6_optional => {
                    tracing::warn!(%ip, %error, "IPv6 not served");
                    continue;
                }
                Err(error) => {
                    return Err(io::Error::new(
                        error.kind(),
                        format!("binding {ip}: {error}"),
                    ));
                }
            };
            // With port 0 the first family picks; the second takes the same numbers.
            tcp_port = listener.local_addr()?.port();
            udp_port = registrar.local_addr()?.port();
            poll.registry().register(
                &mut listener,
                Token(LISTENER_BASE + fam),
                Interest::READABLE,
            )?;
            poll.registry().register(
                &mut registrar,
                Token(REGISTRAR_BASE + fam),
                Interest::READABLE,
            )?;
            listeners[fam] = Some(listener);
            registrars[fam] = Some(registrar);
            binds[fam] = Some(ip);
        }
        let bound = BoundAddrs {
            tcp: listeners
                .iter()
                .flatten()
                .map(|l| l.local_addr())
                .collect::<io::Result<_>>()?,
            registrar: registrars
                .iter()
                .flatten()
                .map(|r| r.local_addr())
                .collect::<io::Result<_>>()?,
        };
        let families = binds.iter().flatten().count();
        let needed = config.max_tcp_clients + config.relay_ports.len() * families + 16;
        if let Some(limit) = open_files_limit().filter(|&limit| limit < needed as u64) {
            tracing::warn!(
                limit,
                needed,
                "the open-files limit is below what the configured maxima can use; raise `ulimit -n` \
                 or lower --max-tcp-clients / --relay-ports"
            );
        }
        let listening = Listening {
            registrar_port: udp_port,
            ipv6: binds[1].is_some(),
        };
        let relays = RelaySockets::new(poll.registry().try_clone()?, binds);
        tracing::info!(tcp = ?bound.tcp, registrar = ?bound.registrar, relay_ports = config.relay_ports.len(), "listening");
        Ok(Self {
            relays,
            conns: HashMap::new(),
            pending: VecDeque::new(),
            buf: vec![0; DATAGRAM_MAX],
            max_pending_output: config.max_pending_output,
            server: Server::new(config, listening, Box::new(OsEntropy), Instant::now()),
            poll,
            listeners,
            registrars,
            bound,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
        })
    }

    /// What [`bind`](Self::bind) bound.
    pub fn local_addrs(&self) -> &BoundAddrs {
        &self.bound
    }

    /// A handle that stops [`run`](Self::run) from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            stop: Arc::clone(&self.stop),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Serves until stopped; returns only on stop or a failure of the poll itself.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        while !self.stop.load(Ordering::SeqCst) {
            let timeout = if self.pending.is_empty() {
                self.server.poll_timeout().map(|at| {
                    at.saturating_duration_since(Instant::now()) + Duration::from_millis(1)
                })
            } else {
                Some(Duration::ZERO)
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let ready: Vec<(Token, bool)> = events
                .iter()
                .map(|e| (e.token(), e.is_writable()))
                .collect();
            let again: Vec<Token> = self.pending.drain(..).collect();
            for (token, writable) in ready {
                self.service(token, writable);
            }
            for token in again {
                self.service(token, false);
            }
            let now = Instant::now();
            if self.server.poll_timeout().is_some_and(|at| at <= now) {
                self.server.handle_timeout(now, &mut self.relays);
                self.carry_out();
            }
        }
        tracing::info!("stopped");
        Ok(())
    }

    fn service(&mut self, token: Token, writable: bool) {
        let more = match token.0 {
            0 => false,
            t if (LISTENER_BASE..LISTENER_BASE + 2).contains(&t) => self.accept(t - LISTENER_BASE),
            t if (REGISTRAR_BASE..REGISTRAR_BASE + 2).contains(&t) => {
                self.registrar(t - REGISTRAR_BASE)
            }
            t if t >= CLIENT_BASE => self.client(ClientId((t - CLIENT_BASE) as u64), writable),
            _ => match RelaySockets::token_key(token) {
                Some((port, fam)) => self.relay(port, fam),
                None => false,
            },
        };
        if more && !self.pending.contains(&token) {
            self.pending.push_back(token);
        }
    }

    /// Accepts up to a budget of connections; `true` if more may wait.
    fn accept(&mut self, fam: usize) -> bool {
        for _ in 0..BUDGET {
            let Some(listener) = &self.listeners[fam] else {
                return false;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    return false;
                }
            };
            let Some(id) = self.server.handle_tcp_accept(Instant::now(), peer) else {
                continue;
            };
            let token = usize::try_from(id.0)
                .ok()
                .and_then(|id| id.checked_add(CLIENT_BASE));
            let registered = token.map(|token| {
                let _ = stream.set_nodelay(true);
                self.poll
                    .registry()
                    .register(&mut stream, Token(token), Interest::READABLE)
                    .map(|()| token)
            });
            match registered {
                Some(Ok(token)) => {
                    self.conns.insert(id, Conn::new(stream, Token(token)));
                }
                _ => {
                    tracing::warn!(client = id.0, "could not watch a client");
                    self.server.handle_tcp_closed(id);
                }
            }
        }
        true
    }

    fn registrar(&mut self, fam: usize) -> bool {
        for _ in 0..BUDGET {
            let Some(socket) = &self.registrars[fam] else {
                return false;
            };
            match socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    self.server
                        .handle_registrar_datagram(Instant::now(), from, &self.buf[..n]);
                    self.carry_out();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // ICMP errors of earlier replies surface here on some systems; keep reading.
                Err(error) => tracing::debug!(%error, "registrar receive error"),
            }
        }
        true
    }

    fn relay(&mut self, port: u16, fam: usize) -> bool {
        for _ in 0..BUDGET {
            let Some(socket) = self.relays.socket_by_family(port, fam) else {
                return false;
            };
            let (n, from) = match socket.recv_from(&mut self.buf) {
                Ok(received) => received,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(error) => {
                    tracing::debug!(port, %error, "relay receive error");
                    continue;
                }
            };
            let Some(forward) =
                self.server
                    .handle_relay_datagram(Instant::now(), port, from, &self.buf[..n])
            else {
                continue;
            };
            match self.relays.socket(forward.from_port, &forward.to) {
                Some(out) => {
                    if let Err(error) = out.send_to(&self.buf[..n], forward.to) {
                        tracing::debug!(port = forward.from_port, to = %forward.to, %error, "relay send failed");
                    }
                }
                None => tracing::debug!(to = %forward.to, "no relay socket of that family"),
            }
        }
        true
    }

    fn client(&mut self, id: ClientId, writable: bool) -> bool {
        if writable {
            let flushed = match self.conns.get_mut(&id) {
                Some(conn) => conn.flush(self.poll.registry()),
                None => return false,
            };
            if let Err(error) = flushed {
                tracing::debug!(client = id.0, %error, "write failed");
                self.drop_client(id);
                return false;
            }
        }
        for _ in 0..BUDGET {
            let Some(conn) = self.conns.get_mut(&id) else {
                return false;
            };
            match conn.stream.read(&mut self.buf[..4096]) {
                Ok(0) => {
                    self.drop_client(id);
                    return false;
                }
                Ok(n) => {
                    self.server.handle_tcp_data(
                        Instant::now(),
                        id,
                        &self.buf[..n],
                        &mut self.relays,
                    );
                    self.carry_out();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::debug!(client = id.0, %error, "read failed");
                    self.drop_client(id);
                    return false;
                }
            }
        }
        true
    }

    /// Forgets a connection that failed or ended, and tells the server.
    fn drop_client(&mut self, id: ClientId) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
        self.server.handle_tcp_closed(id);
        self.carry_out();
    }

    /// Does what the server queued.
    fn carry_out(&mut self) {
        while let Some(transmit) = self.server.poll_transmit() {
            match transmit {
                Transmit::Line { client, bytes } => {
                    let Some(conn) = self.conns.get_mut(&client) else {
                        continue;
                    };
                    conn.queue(&bytes);
                    let flushed = conn.flush(self.poll.registry());
                    let overfull = conn.pending() > self.max_pending_output;
                    if overfull {
                        tracing::warn!(client = client.0, "closing a client that does not read");
                    }
                    if flushed.is_err() || overfull {
                        if let Some(mut conn) = self.conns.remove(&client) {
                            let _ = self.poll.registry().deregister(&mut conn.stream);
                        }
                        self.server.handle_tcp_closed(client);
                    }
                }
                Transmit::Close { client } => {
                    if let Some(mut conn) = self.conns.remove(&client) {
                        let _ = conn.flush(self.poll.registry());
                        let _ = conn.stream.shutdown(Shutdown::Write);
                        let _ = self.poll.registry().deregister(&mut conn.stream);
                    }
                }
                Transmit::Registrar { to, payload } => {
                    let sent = self.registrars[family(&to)]
                        .as_ref()
                        .map(|s| s.send_to(payload, to));
                    if let Some(Err(error)) = sent {
                        tracing::debug!(%to, %error, "registrar reply failed");
                    }
                }
            }
        }
    }
}
