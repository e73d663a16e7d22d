//! Helpers shared by the loopback and DTLS tests: hosts on loopback, servicing several hosts
//! until a condition holds, connecting a client to a server and a ping-pong exchange.
// Each test crate that includes this module uses its own subset.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_net::{BindAddress, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A host on 127.0.0.1 (an ephemeral port) with room for `peers` peers.
pub fn host(peers: usize) -> UdpHost {
    let config = HostConfig {
        peer_limit: peers,
        ..HostConfig::default()
    };
    UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, config).expect("bind loopback")
}

/// Service all `hosts` until `done` says so, collecting their events; fails after `limit`.
pub fn drive(
    hosts: &mut [&mut UdpHost],
    limit: Duration,
    mut done: impl FnMut(&[Vec<Event>]) -> bool,
) -> Vec<Vec<Event>> {
    let mut events = vec![Vec::new(); hosts.len()];
    let deadline = Instant::now() + limit;
    while !done(&events) {
        if Instant::now() >= deadline {
            // One line per host first (a log that keeps only part of a long message keeps
            // these), then everything.
            let summary: Vec<_> = hosts.iter().map(|h| summary_line(h)).collect();
            let state: Vec<_> = hosts
                .iter()
                .map(|h| {
                    (
                        h.host().statistics(),
                        h.driver_statistics(),
                        h.dtls_sessions(),
                        h.dtls_client_state(),
                    )
                })
                .collect();
            panic!(
                "timed out after {limit:?}: {events:?}\n{}\n{state:#?}",
                summary.join("\n")
            );
        }
        for (host, events) in hosts.iter_mut().zip(&mut events) {
            while let Some(event) = host.service(Duration::from_millis(1)).unwrap() {
                events.push(event);
            }
        }
    }
    events
}

/// A host's state in one line: its DTLS state and sessions, datagrams and ENet packets each
/// way, and the DTLS drop counters.
fn summary_line(host: &UdpHost) -> String {
    let enet = host.host().statistics();
    let driver = host.driver_statistics();
    format!(
        "{}: dtls {:?} {:?}; datagrams out {} in {}; enet packets out {} in {}; dtls dropped {} refused {} failed {} unsent {}",
        host.local_addr(),
        host.dtls_client_state(),
        host.dtls_sessions(),
        driver.datagrams_sent,
        driver.datagrams_received,
        enet.total_sent_packets,
        enet.total_received_packets,
        driver.dtls_dropped,
        driver.dtls_refused_handshakes,
        driver.dtls_failed_handshakes,
        driver.dtls_unsent,
    )
}

/// Service all `hosts` for `time`, collecting their events.
pub fn run_for(hosts: &mut [&mut UdpHost], time: Duration) -> Vec<Vec<Event>> {
    let end = Instant::now() + time;
    drive(hosts, time + Duration::from_secs(5), |_| {
        Instant::now() >= end
    })
}

pub fn has_connect(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Connect { .. }))
}

/// The received packets among `events`: (channel, data).
pub fn received(events: &[Event]) -> Vec<(u8, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Receive {
                channel, packet, ..
            } => Some((*channel, packet.data.to_vec())),
            _ => None,
        })
        .collect()
}

/// `server`'s address on 127.0.0.1.
pub fn loopback_address(server: &UdpHost) -> SocketAddr {
    SocketAddr::new(LOOPBACK, server.local_addr().port())
}

/// Services `hosts` until the first two (a client and its server) each saw a Connect; fails
/// after `limit`.
pub fn until_connected(hosts: &mut [&mut UdpHost], limit: Duration) -> Vec<Vec<Event>> {
    drive(hosts, limit, |e| has_connect(&e[0]) && has_connect(&e[1]))
}

/// Connects `client` to `server` at `address` with `channels` and `data`, servicing both until
/// each saw its Connect: the client's (data 0) for its peer, the server's (with `data`) first.
/// Returns the client's peer for the server and the server's peer for the client.
pub fn connect_via(
    client: &mut UdpHost,
    server: &mut UdpHost,
    address: SocketAddr,
    (channels, data): (usize, u32),
) -> (PeerId, PeerId) {
    let peer = client.connect(address, channels, data).unwrap();
    let events = until_connected(&mut [client, server], Duration::from_secs(5));
    assert!(events[0].contains(&Event::Connect { peer, data: 0 }));
    let Some(&Event::Connect {
        peer: remote,
        data: got,
    }) = events[1].first()
    else {
        panic!("{events:?}")
    };
    assert_eq!(got, data);
    (peer, remote)
}

/// [`connect_via`] `server`'s loopback address.
pub fn connect(
    client: &mut UdpHost,
    server: &mut UdpHost,
    channels_and_data: (usize, u32),
) -> (PeerId, PeerId) {
    let address = loopback_address(server);
    connect_via(client, server, address, channels_and_data)
}

/// One reliable packet each way: "ping" on channel 1 to the server, "pong" on channel 0 to the
/// client. Each side sees exactly that packet and no other event.
pub fn ping_pong(client: &mut UdpHost, to_server: PeerId, server: &mut UdpHost, to_client: PeerId) {
    client
        .host_mut()
        .send(to_server, 1, Packet::reliable(&b"ping"[..]))
        .unwrap();
    server
        .host_mut()
        .send(to_client, 0, Packet::reliable(&b"pong"[..]))
        .unwrap();
    let events = drive(&mut [client, server], Duration::from_secs(5), |e| {
        !received(&e[0]).is_empty() && !received(&e[1]).is_empty()
    });
    assert!(
        matches!(&events[0][..], [Event::Receive { channel: 0, packet, .. }] if &packet.data[..] == b"pong"),
        "{events:?}"
    );
    assert!(
        matches!(&events[1][..], [Event::Receive { channel: 1, packet, .. }] if &packet.data[..] == b"ping"),
        "{events:?}"
    );
}
