//! [`Rendezvous`]: a [`Traversal`] driven over a TCP [`SignalLink`] and an ENet host's socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rust_enet_net::{LinkStatus, SignalLink, UdpHost};
use rust_enet_proto::PeerId;

use crate::traversal::{Failure, Path, Traversal, TraversalConfig, TraversalEvent};

/// Longest line taken from a rendezvous server (noray's longest is `set-pid` and 128
/// characters); a longer one ends the connection.
const MAX_LINE: usize = 4096;

/// What a [`Rendezvous`] step tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RendezvousEvent {
    /// The host is registered: `id` is what joiners enter.
    Registered { id: String },
    /// The joiner found a path and started ENet's handshake over it, in `slot`.
    Connecting { slot: PeerId, path: Path },
    /// The traversal gave up (a host goes on serving who is connected).
    Failed(Failure),
}

/// One party's NAT traversal on its ENet host: the traversal, its connection to the server,
/// and the host's side channel, which it opens.
///
/// # Driving it
///
/// Create it with the host it runs on ([`host`](Self::host) or [`join`](Self::join)), then call
/// [`drive`](Self::drive) with that host (locked) at least once per frame: it reads the server's
/// lines and the side channel, runs the traversal's timers and sends what it asks for, and
/// returns its events. A joiner's handshake starts by itself once a path answers
/// ([`RendezvousEvent::Connecting`]); a host reports its peers' connections
/// ([`peer_connected`](Self::peer_connected)). Dropping it closes the connection to the
/// server; [`close`](Self::close) also closes the host's side channel.
#[derive(Debug)]
pub struct Rendezvous {
    traversal: Traversal,
    link: Option<SignalLink>,
    opened: bool,
    inbox: Vec<u8>,
    /// The registrar the host's side channel watches.
    watched: Option<SocketAddr>,
    /// A joiner's CONNECT: its channel count and data.
    connect: (usize, u32),
}

impl Rendezvous {
    /// Register `udp` with the rendezvous server at `server`:`port` as a host.
    pub fn host(
        server: &str,
        port: u16,
        config: TraversalConfig,
        udp: &mut UdpHost,
        now: Instant,
    ) -> Rendezvous {
        let timeout = config.server_timeout;
        Rendezvous::start(
            Traversal::host(config, now),
            server,
            port,
            timeout,
            udp,
            (0, 0),
        )
    }

    /// Find a path from `udp` to the host registered as `id` at `server`:`port`, then connect
    /// over it asking for `channels` channels with `data` in the CONNECT.
    #[allow(clippy::too_many_arguments)]
    pub fn join(
        id: &str,
        server: &str,
        port: u16,
        config: TraversalConfig,
        udp: &mut UdpHost,
        now: Instant,
        channels: usize,
        data: u32,
    ) -> Rendezvous {
        let timeout = config.server_timeout;
        let traversal = Traversal::join(id, config, now);
        Rendezvous::start(traversal, server, port, timeout, udp, (channels, data))
    }

    fn start(
        traversal: Traversal,
        server: &str,
        port: u16,
        timeout: Duration,
        udp: &mut UdpHost,
        connect: (usize, u32),
    ) -> Rendezvous {
        udp.open_side_channel();
        Rendezvous {
            traversal,
            link: Some(SignalLink::connect(server, port, timeout)),
            opened: false,
            inbox: Vec::new(),
            watched: None,
            connect,
        }
    }

    /// The shareable id, once the host is registered.
    pub fn id(&self) -> Option<&str> {
        self.traversal.id()
    }

    /// How an ENet peer at `address` is reached.
    pub fn path_of(&self, address: SocketAddr) -> Path {
        self.traversal.path_of(address)
    }

    /// The joiner's chosen path.
    pub fn chosen(&self) -> Option<(SocketAddr, Path)> {
        self.traversal.chosen()
    }

    /// Whether the traversal ended (a joiner's path is chosen, or it failed).
    pub fn is_done(&self) -> bool {
        self.traversal.is_done()
    }

    /// A host's ENet peer connected from `address`.
    pub fn peer_connected(&mut self, address: SocketAddr) {
        self.traversal.peer_connected(address);
    }

    /// One step; see the type's documentation.
    pub fn drive(&mut self, udp: &mut UdpHost, now: Instant) -> Vec<RendezvousEvent> {
        self.read_link(udp, now);
        while let Some(datagram) = udp.poll_side_datagram() {
            self.traversal.datagram(datagram.from, &datagram.data, now);
        }
        if self.traversal.next_timeout().is_some_and(|due| due <= now) {
            self.traversal.timeout(now);
        }
        self.send(udp);
        let events: Vec<TraversalEvent> =
            std::iter::from_fn(|| self.traversal.poll_event()).collect();
        let events = events
            .into_iter()
            .map(|event| self.outcome(event, udp))
            .collect();
        if self.traversal.is_done() {
            // A joiner on its path, or a failed traversal, needs the server no more. Punch
            // packets still arriving are dropped (and counted) by the closed side channel.
            self.link = None;
            if let Some(registrar) = self.watched.take() {
                udp.unwatch_side_source(registrar);
            }
        }
        events
    }

    /// A traversal event as its owner sees it: a joiner's path becomes an ENet connection.
    fn outcome(&self, event: TraversalEvent, udp: &mut UdpHost) -> RendezvousEvent {
        match event {
            TraversalEvent::Registered { id } => RendezvousEvent::Registered { id },
            TraversalEvent::Failed(failure) => RendezvousEvent::Failed(failure),
            TraversalEvent::Connect { address, path } => {
                let (channels, data) = self.connect;
                match udp.connect(address, channels, data) {
                    Ok(slot) => RendezvousEvent::Connecting { slot, path },
                    Err(err) => RendezvousEvent::Failed(Failure::AllPathsFailed(format!(
                        "cannot connect to {address}: {err}"
                    ))),
                }
            }
        }
    }

    /// Stop: close the connection to the server and `udp`'s side channel.
    pub fn close(&mut self, udp: &mut UdpHost) {
        self.link = None;
        udp.close_side_channel();
    }

    fn read_link(&mut self, udp: &mut UdpHost, now: Instant) {
        let Some(link) = &mut self.link else { return };
        match link.poll(&mut self.inbox) {
            LinkStatus::Connecting => {}
            LinkStatus::Open { server, local } => {
                if !self.opened {
                    self.opened = true;
                    let lan = own_candidate(local, udp.local_addr());
                    self.traversal
                        .link_open(server, lan.into_iter().collect(), now);
                    self.watch_registrar(udp);
                }
            }
            LinkStatus::Closed(reason) => {
                self.link = None;
                self.traversal.link_closed(&reason, now);
            }
        }
        while let Some(end) = self.inbox.iter().position(|&b| b == b'\n') {
            let mut line: Vec<u8> = self.inbox.drain(..=end).collect();
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if !line.is_empty() {
                self.traversal.line(&line, now);
                // The registrar's port may come with the welcome.
                self.watch_registrar(udp);
            }
        }
        if self.inbox.len() > MAX_LINE {
            self.link = None;
            self.inbox.clear();
            self.traversal
                .link_closed(&format!("a line longer than {MAX_LINE} bytes"), now);
        }
    }

    fn watch_registrar(&mut self, udp: &mut UdpHost) {
        let registrar = self.traversal.registrar();
        if registrar != self.watched {
            if let Some(old) = self.watched.take() {
                udp.unwatch_side_source(old);
            }
            if let Some(new) = registrar
                && udp.watch_side_source(new)
            {
                self.watched = Some(new);
            }
        }
    }

    fn send(&mut self, udp: &mut UdpHost) {
        while let Some(mut line) = self.traversal.poll_line() {
            if let Some(link) = &mut self.link {
                line.push(b'\n');
                link.write(&line);
            }
        }
        while let Some(transmit) = self.traversal.poll_transmit() {
            let (to, data) = (transmit.to, &transmit.data);
            let sent = match transmit.ttl {
                Some(ttl) => udp.side_send_with_ttl(to, data, ttl),
                None => udp.side_send(to, data),
            };
            if let Err(err) = sent {
                tracing::debug!(%to, %err, "a rendezvous datagram was not sent");
            }
        }
    }
}

/// This party's own address for the other party to try first: the interface address that
/// reaches the server (the TCP connection's local address) with the ENet socket's port.
/// `None` where the ENet socket cannot be reached there (bound to another address or family).
fn own_candidate(tcp_local: SocketAddr, enet: SocketAddr) -> Option<SocketAddr> {
    let ip = tcp_local.ip();
    let fits = enet.ip().is_unspecified() && (enet.is_ipv6() || ip.is_ipv4()) || enet.ip() == ip;
    (fits && !ip.is_unspecified()).then(|| SocketAddr::new(ip, enet.port()))
}

#[cfg(test)]
mod tests {
    use super::own_candidate;

    #[test]
    fn the_own_candidate_is_the_interface_toward_the_server_with_the_enet_port() {
        let a = |t: &str| t.parse().unwrap();
        assert_eq!(
            own_candidate(a("192.168.1.2:40000"), a("[::]:5000")),
            Some(a("192.168.1.2:5000"))
        );
        assert_eq!(
            own_candidate(a("192.168.1.2:40000"), a("0.0.0.0:5000")),
            Some(a("192.168.1.2:5000"))
        );
        assert_eq!(
            own_candidate(a("[2001:db8::2]:40000"), a("0.0.0.0:5000")),
            None
        );
        assert_eq!(
            own_candidate(a("192.168.1.2:40000"), a("10.0.0.1:5000")),
            None
        );
        assert_eq!(
            own_candidate(a("10.0.0.1:40000"), a("10.0.0.1:5000")),
            Some(a("10.0.0.1:5000"))
        );
    }
}
