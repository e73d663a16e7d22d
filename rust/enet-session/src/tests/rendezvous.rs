//! Hosting and joining through a real rendezvous server (rust-enet-rendezvous) on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rust_enet_rendezvous::{Config, Driver, StopHandle};

use super::{connected_ids, frames_until, host};
use crate::traversal::{Failure, Path, TraversalConfig};
use crate::{Rendezvous, Session, SessionEvent};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A rendezvous server on loopback, on its own thread until dropped.
struct Server {
    tcp: SocketAddr,
    stop: StopHandle,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(relay_ports: std::ops::RangeInclusive<u16>) -> Server {
        let config = Config {
            bind: vec![LOCALHOST],
            ipv6_optional: true,
            tcp_port: 0,
            udp_port: 0,
            relay_ports: relay_ports.collect(),
            ..Config::default()
        };
        let driver = Driver::bind(config).expect("bind the rendezvous server on loopback");
        let tcp = driver.local_addrs().tcp[0];
        let stop = driver.stop_handle();
        let thread = Some(std::thread::spawn(move || driver.run()));
        Server { tcp, stop, thread }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A server session registering with the rendezvous server at `tcp`.
fn rendezvous_server(tcp: SocketAddr) -> Session {
    let shared = host(8);
    let rendezvous = {
        let mut guard = shared.lock();
        let udp = guard.as_mut().expect("host alive");
        let config = TraversalConfig::default();
        Rendezvous::host("127.0.0.1", tcp.port(), config, udp, Instant::now())
    };
    let mut session = Session::server(shared);
    assert!(session.host_through(rendezvous));
    session
}

/// A client session (id `id`) joining the host registered as `host_id`.
fn rendezvous_client(tcp: SocketAddr, host_id: &str, id: i32, config: TraversalConfig) -> Session {
    let shared = host(1);
    let rendezvous = {
        let mut guard = shared.lock();
        let udp = guard.as_mut().expect("host alive");
        Rendezvous::join(
            host_id,
            "127.0.0.1",
            tcp.port(),
            config,
            udp,
            Instant::now(),
            6,
            id as u32,
        )
    };
    Session::client_via_rendezvous(shared, rendezvous, id)
}

/// The server registered: its id.
fn registered(server: &mut Session) -> String {
    let seen = frames_until(&mut [server], |seen| {
        seen[0]
            .iter()
            .any(|e| matches!(e, SessionEvent::Registered { .. }))
    });
    let id = seen[0].iter().find_map(|e| match e {
        SessionEvent::Registered { id } => Some(id.clone()),
        _ => None,
    });
    let id = id.expect("registered");
    assert_eq!(server.rendezvous_id(), Some(id.as_str()));
    id
}

/// Joins `server` (registered as `id`) with `config`; returns the client, connected both ways.
fn join(tcp: SocketAddr, server: &mut Session, id: &str, config: TraversalConfig) -> Session {
    let mut client = rendezvous_client(tcp, id, 77, config);
    frames_until(&mut [server, &mut client], |seen| {
        connected_ids(&seen[0]) == [77] && connected_ids(&seen[1]) == [1]
    });
    client
}

#[test]
fn a_client_joins_a_host_by_its_id_on_a_direct_path() {
    let rendezvous = Server::start(31000..=31003);
    let mut server = rendezvous_server(rendezvous.tcp);
    let id = registered(&mut server);
    let client = join(rendezvous.tcp, &mut server, &id, TraversalConfig::default());
    assert_eq!(client.path_of(1).map(Path::kind), Some("direct"));
    assert_eq!(server.path_of(77).map(Path::kind), Some("direct"));
    assert_eq!(server.relayed_peers(), 0);
}

#[test]
fn without_a_direct_answer_a_client_comes_through_the_relay() {
    let rendezvous = Server::start(31010..=31013);
    let mut server = rendezvous_server(rendezvous.tcp);
    let id = registered(&mut server);
    // No time for a direct answer: the relay at once.
    let config = TraversalConfig {
        direct_timeout: Duration::ZERO,
        ..TraversalConfig::default()
    };
    let client = join(rendezvous.tcp, &mut server, &id, config);
    assert_eq!(client.path_of(1), Some(Path::Relay));
    assert_eq!(server.path_of(77), Some(Path::Relay));
    assert_eq!((server.relayed_peers(), client.relayed_peers()), (1, 1));
}

/// The client's failure, once it ended.
fn failure_of(client: &mut Session) -> Failure {
    let seen = frames_until(&mut [client], |seen| {
        seen[0].iter().any(|e| matches!(e, SessionEvent::Ended(_)))
    });
    let failure = seen[0].iter().find_map(|e| match e {
        SessionEvent::RendezvousFailed(failure) => Some(failure.clone()),
        _ => None,
    });
    failure.expect("a rendezvous failure before the end")
}

#[test]
fn an_unknown_id_and_an_absent_server_fail_with_their_reasons() {
    let rendezvous = Server::start(31020..=31021);
    let mut client = rendezvous_client(rendezvous.tcp, "no-such-id", 5, TraversalConfig::default());
    assert_eq!(failure_of(&mut client).name(), "unknown_id");

    let nothing = std::net::TcpListener::bind((LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    let mut client = rendezvous_client(nothing, "any", 5, TraversalConfig::default());
    assert_eq!(failure_of(&mut client).name(), "server_unreachable");
}
