//! The side channel of a `UdpHost` over loopback: punch packets and a watched server's
//! datagrams reach the owner, never the protocol core, while ENet goes on beside them.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

use rust_enet_net::{
    BindAddress, ServiceConfig, ServiceThread, SharedUdpHost, SideDatagram, UdpHost,
};
use rust_enet_proto::{Event, HostConfig, HostStatistics};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn bind() -> UdpHost {
    UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, HostConfig::default()).unwrap()
}

fn plain_socket() -> UdpSocket {
    let socket = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    socket
}

/// Service `host` until `want` side datagrams arrived (fails after two seconds).
fn side_datagrams(host: &mut UdpHost, want: usize) -> Vec<SideDatagram> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut got = Vec::new();
    while got.len() < want {
        assert!(Instant::now() < deadline, "only {got:?}");
        host.service(Duration::from_millis(5)).unwrap();
        got.extend(std::iter::from_fn(|| host.poll_side_datagram()));
    }
    got
}

#[test]
fn punches_and_a_watched_servers_replies_reach_the_owner_beside_enet() {
    let mut server = bind();
    let mut client = bind();
    let registrar = plain_socket();
    let registrar_addr = registrar.local_addr().unwrap();
    server.open_side_channel();
    assert!(server.watch_side_source(registrar_addr));

    // A registration from the ENet socket, answered from the watched source.
    server
        .side_send(registrar_addr, b"pid-of-the-host")
        .unwrap();
    let mut buffer = [0u8; 64];
    let (len, from) = registrar.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"pid-of-the-host");
    assert_eq!(from, server.local_addr());
    registrar.send_to(b"OK", from).unwrap();
    client.side_send(server.local_addr(), b"$-w-").unwrap();

    let mut got = side_datagrams(&mut server, 2);
    got.sort_by_key(|d| d.from != registrar_addr);
    assert_eq!(
        (got[0].from, &got[0].data[..]),
        (registrar_addr, &b"OK"[..])
    );
    assert_eq!(
        (got[1].from, &got[1].data[..]),
        (client.local_addr(), &b"$-w-"[..])
    );
    let stats = server.driver_statistics();
    assert_eq!((stats.side_datagrams, stats.side_dropped), (2, 0));
    assert_eq!(
        *server.host().statistics(),
        HostStatistics::default(),
        "the core saw them"
    );

    // ENet on the same socket is untouched.
    let peer = client.connect(server.local_addr(), 1, 0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut client_up, mut server_up) = (false, false);
    while !(client_up && server_up) {
        assert!(Instant::now() < deadline);
        client_up |= matches!(client.service(Duration::from_millis(2)).unwrap(), Some(Event::Connect { peer: p, .. }) if p == peer);
        server_up |= matches!(
            server.service(Duration::from_millis(2)).unwrap(),
            Some(Event::Connect { .. })
        );
    }
    assert_eq!(server.driver_statistics().side_datagrams, 2);
}

#[test]
fn without_a_listener_punches_are_dropped_and_counted_and_watching_takes_nothing() {
    let mut host = bind();
    let other = plain_socket();
    assert!(host.watch_side_source(other.local_addr().unwrap()));
    other.send_to(b"$rwx", host.local_addr()).unwrap();
    other.send_to(b"OK", host.local_addr()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while host.driver_statistics().datagrams_received < 2 {
        assert!(Instant::now() < deadline);
        host.service(Duration::from_millis(5)).unwrap();
    }
    assert!(host.poll_side_datagram().is_none());
    assert_eq!(host.driver_statistics().side_dropped, 1);
    // Only the two-byte "OK" went to the core (which dropped it: no peer has its id).
    assert_eq!(host.host().statistics().total_received_packets, 1);
    assert_eq!(host.host().statistics().dropped_unknown_peer, 1);
}

#[test]
fn a_service_thread_reads_side_datagrams_for_the_owner() {
    let mut udp = bind();
    udp.open_side_channel();
    let address = udp.local_addr();
    let thread = ServiceThread::start(SharedUdpHost::new(udp), ServiceConfig::default()).unwrap();
    let peer = plain_socket();
    peer.send_to(b"$rw-", address).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let datagram = loop {
        if let Some(datagram) = thread.host().lock().as_mut().unwrap().poll_side_datagram() {
            break datagram;
        }
        assert!(Instant::now() < deadline, "the thread never read the punch");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(datagram.from, peer.local_addr().unwrap());
    assert_eq!(&datagram.data[..], b"$rw-");
}

#[test]
fn side_sends_skip_dtls() {
    let mut host = bind();
    host.dtls_client_setup(rust_enet_net::DtlsClientOptions::new("localhost"))
        .unwrap();
    let other = plain_socket();
    host.side_send(other.local_addr().unwrap(), b"$rwx")
        .unwrap();
    let mut buffer = [0u8; 64];
    let (len, _) = other.recv_from(&mut buffer).unwrap();
    assert_eq!(&buffer[..len], b"$rwx");
}
