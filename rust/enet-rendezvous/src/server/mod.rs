//! The rendezvous server as a sans-IO state machine: TCP clients, hosts, the registrar and the
//! relays, with every limit and timer, and no socket or clock of its own.

mod dispatch;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::addr_list::canonical;
use crate::config::Config;
use crate::deadlines::DeadlineQueue;
use crate::hosts::{ClientId, HostRegistry};
use crate::id::{IdSource, Oid};
use crate::line::LineReader;
use crate::rate::TokenBucket;
use crate::relay::{Forward, RelayPorts, RelayTable};
use crate::reply::ServerLine;

/// The registrar's answer to a known pid (noray's).
pub const REGISTRAR_OK: &[u8] = b"OK";
/// The registrar's answer to an unknown pid (noray's assert message). Sent only to datagrams
/// at least this long, so the registrar never answers with more bytes than it received.
pub const REGISTRAR_UNKNOWN: &[u8] = b"Unknown host pid!";

/// What the driver actually bound, which the welcome line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listening {
    /// The registrar's UDP port.
    pub registrar_port: u16,
    /// Whether an IPv6 registrar and IPv6 relay sockets exist.
    pub ipv6: bool,
}

/// Something the driver must do for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Write these bytes (whole lines) to the client's TCP stream, after what is queued.
    Line {
        /// The connection.
        client: ClientId,
        /// One or more complete lines.
        bytes: Vec<u8>,
    },
    /// Write what is queued if the socket takes it now, then close the connection. The server
    /// has already forgotten the client; do not report its close back.
    Close {
        /// The connection.
        client: ClientId,
    },
    /// Send a registrar reply from the registrar socket of `to`'s family.
    Registrar {
        /// The datagram's sender.
        to: SocketAddr,
        /// [`REGISTRAR_OK`] or [`REGISTRAR_UNKNOWN`].
        payload: &'static [u8],
    },
}

#[derive(Debug)]
struct Client {
    peer: SocketAddr,
    lines: LineReader,
    line_budget: TokenBucket,
    /// Sent a `rust_enet-hello` the server accepted.
    extended: bool,
    host: Option<Oid>,
    candidates: Vec<SocketAddr>,
    last_active: Instant,
}

/// The whole server without I/O.
///
/// Drive it from one loop:
/// - a TCP connection is accepted: [`handle_tcp_accept`](Self::handle_tcp_accept) (close it at
///   once on `None`); bytes arrive: [`handle_tcp_data`](Self::handle_tcp_data); it ends:
///   [`handle_tcp_closed`](Self::handle_tcp_closed);
/// - a registrar datagram arrives: [`handle_registrar_datagram`](Self::handle_registrar_datagram);
/// - a relay port receives: [`handle_relay_datagram`](Self::handle_relay_datagram), and send the
///   same bytes as the returned [`Forward`] says (this is the data path: no queue, no copy);
/// - at [`poll_timeout`](Self::poll_timeout): [`handle_timeout`](Self::handle_timeout).
///
/// After each call, drain [`poll_transmit`](Self::poll_transmit) until `None`, then wait for
/// the next socket event or the (possibly new) `poll_timeout`. Relay ports are bound and
/// released through the [`RelayPorts`] passed to the calls that may allocate or free them.
#[derive(Debug)]
pub struct Server {
    config: Config,
    listening: Listening,
    ids: Box<dyn IdSource + Send>,
    clients: HashMap<ClientId, Client>,
    clients_per_ip: HashMap<IpAddr, usize>,
    hosts: HostRegistry,
    relays: RelayTable,
    deadlines: DeadlineQueue<ClientId>,
    next_client: u64,
    out: VecDeque<Transmit>,
}

impl Server {
    /// A server with no clients, hosts or relays. `config` should have passed
    /// [`Config::validate`].
    pub fn new(
        config: Config,
        listening: Listening,
        ids: Box<dyn IdSource + Send>,
        now: Instant,
    ) -> Self {
        let relays = RelayTable::new(&config.relay_ports, config.relay_limits(), now);
        Self {
            hosts: HostRegistry::new(config.max_hosts),
            relays,
            config,
            listening,
            ids,
            clients: HashMap::new(),
            clients_per_ip: HashMap::new(),
            deadlines: DeadlineQueue::default(),
            next_client: 0,
            out: VecDeque::new(),
        }
    }

    /// A TCP connection from `peer` was accepted; `None` when a limit refuses it.
    pub fn handle_tcp_accept(&mut self, now: Instant, peer: SocketAddr) -> Option<ClientId> {
        let peer = canonical(peer);
        let same_ip = self.clients_per_ip.get(&peer.ip()).copied().unwrap_or(0);
        if self.clients.len() >= self.config.max_tcp_clients
            || (self.config.max_clients_per_ip != 0 && same_ip >= self.config.max_clients_per_ip)
        {
            tracing::warn!(%peer, clients = self.clients.len(), same_ip, "tcp connection refused: limit");
            return None;
        }
        self.next_client += 1;
        let id = ClientId(self.next_client);
        self.clients.insert(
            id,
            Client {
                peer,
                lines: LineReader::new(self.config.max_line_bytes),
                line_budget: TokenBucket::new(
                    self.config.lines_per_sec,
                    self.config.line_burst,
                    now,
                ),
                extended: false,
                host: None,
                candidates: Vec::new(),
                last_active: now,
            },
        );
        *self.clients_per_ip.entry(peer.ip()).or_default() += 1;
        self.schedule_client(id, now);
        tracing::debug!(client = id.0, %peer, "tcp client connected");
        Some(id)
    }

    /// Bytes arrived on a client's stream.
    pub fn handle_tcp_data(
        &mut self,
        now: Instant,
        id: ClientId,
        data: &[u8],
        ports: &mut dyn RelayPorts,
    ) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.lines.push(data);
        loop {
            let Some(client) = self.clients.get_mut(&id) else {
                return;
            };
            let line = match client.lines.next_line() {
                None => return,
                Some(Ok(line)) => line,
                Some(Err(error)) => {
                    tracing::warn!(client = id.0, peer = %client.peer, %error, "closing a flooding client");
                    return self.close(id);
                }
            };
            if !client.line_budget.try_take(1, now) {
                tracing::warn!(client = id.0, peer = %client.peer, "closing a client over the line rate");
                return self.close(id);
            }
            client.last_active = now;
            self.handle_line(now, id, &line, ports);
        }
    }

    /// A client's stream ended (EOF, reset, or an I/O error). Its host is removed; its relays
    /// stay until idle, as in noray.
    pub fn handle_tcp_closed(&mut self, id: ClientId) {
        if self.forget(id) {
            tracing::debug!(client = id.0, "tcp client disconnected");
        }
    }

    /// A datagram arrived on the registrar socket: the payload is a pid, byte for byte.
    pub fn handle_registrar_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let from = canonical(from);
        let Some(host) = self.hosts.by_pid_mut(data) else {
            if data.len() >= REGISTRAR_UNKNOWN.len() {
                self.out.push_back(Transmit::Registrar {
                    to: from,
                    payload: REGISTRAR_UNKNOWN,
                });
            }
            return;
        };
        let changed = host.record(from);
        let client_id = host.client;
        if let Some(client) = self.clients.get_mut(&client_id) {
            client.last_active = now;
            if changed {
                tracing::debug!(client = client_id.0, %from, "host registered a public address");
                if client.extended {
                    self.out.push_back(Transmit::Line {
                        client: client_id,
                        bytes: ServerLine::Registered(from).to_bytes(),
                    });
                }
            }
        }
        self.out.push_back(Transmit::Registrar {
            to: from,
            payload: REGISTRAR_OK,
        });
    }

    /// A relay port received `payload` from `from`: where to send it, or `None` to drop.
    ///
    /// A payload that is exactly a registered pid is a claim (see [`RelayTable::claim`]): it
    /// re-addresses the sender's relay and is not forwarded.
    pub fn handle_relay_datagram(
        &mut self,
        now: Instant,
        port: u16,
        from: SocketAddr,
        payload: &[u8],
    ) -> Option<Forward> {
        if let Some(registered) = self
            .hosts
            .by_pid_mut(payload)
            .and_then(|host| host.relay_address())
        {
            let claimed = self.relays.claim(port, registered, from, now);
            tracing::debug!(port, %from, claimed, "relay claim");
            return None;
        }
        match self.relays.handle_datagram(now, port, from, payload.len()) {
            Ok(forward) => Some(forward),
            Err(reason) => {
                tracing::trace!(port, %from, len = payload.len(), ?reason, "relay datagram dropped");
                None
            }
        }
    }

    /// Expires idle clients and relays whose deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant, ports: &mut dyn RelayPorts) {
        while let Some(id) = self.deadlines.pop_due(now) {
            match self.client_deadline(id) {
                Some(deadline) if deadline <= now => {
                    tracing::debug!(client = id.0, "closing an idle tcp client");
                    self.close(id);
                }
                Some(_) => self.schedule_client(id, now),
                None => {}
            }
        }
        for port in self.relays.handle_timeout(now, ports) {
            tracing::debug!(port, "relay freed");
        }
    }

    /// The next thing the driver must do, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.deadlines.next(), self.relays.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Connected TCP clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Registered hosts.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Relays in use.
    pub fn relay_count(&self) -> usize {
        self.relays.len()
    }

    /// `None` once the client is gone or its host never idles out.
    fn client_deadline(&self, id: ClientId) -> Option<Instant> {
        let client = self.clients.get(&id)?;
        let idle = if client.host.is_some() {
            self.config.host_idle
        } else {
            self.config.client_idle
        };
        (!idle.is_zero()).then(|| client.last_active + idle)
    }

    fn schedule_client(&mut self, id: ClientId, now: Instant) {
        if let Some(deadline) = self.client_deadline(id) {
            self.deadlines.schedule(deadline.max(now), id);
        }
    }

    /// Forgets the client and tells the driver to close it.
    fn close(&mut self, id: ClientId) {
        if self.forget(id) {
            self.out.push_back(Transmit::Close { client: id });
        }
    }

    fn forget(&mut self, id: ClientId) -> bool {
        let Some(client) = self.clients.remove(&id) else {
            return false;
        };
        if let Some(oid) = &client.host {
            self.hosts.remove(oid);
        }
        let ip = client.peer.ip();
        if let Some(count) = self.clients_per_ip.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                self.clients_per_ip.remove(&ip);
            }
        }
        true
    }

    fn send(&mut self, client: ClientId, line: ServerLine<'_>) {
        self.out.push_back(Transmit::Line {
            client,
            bytes: line.to_bytes(),
        });
    }
}
