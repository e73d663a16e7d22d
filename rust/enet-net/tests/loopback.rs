//! Two `UdpHost`s over loopback: the driver's service loop, clock, address handling and the link
//! simulator, end to end with the protocol core.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{LOOPBACK, connect_via, drive, host, ping_pong};
use rust_enet_net::{BindAddress, Clock, LinkConditions, LinkDirection, UdpHost};
use rust_enet_proto::{Event, HostConfig, Packet, PeerId};

/// Connects `client` to `server` (2 channels, data 7); see [`common::connect`].
fn connect(client: &mut UdpHost, server: &mut UdpHost) -> (PeerId, PeerId) {
    common::connect(client, server, (2, 7))
}

#[test]
fn service_with_zero_timeout_does_not_block() {
    let mut a = host(1);
    let start = Instant::now();
    for _ in 0..100 {
        assert!(a.service(Duration::ZERO).unwrap().is_none());
    }
    assert!(start.elapsed() < Duration::from_millis(500));
    assert_ne!(a.now().as_millis(), 0);
}

#[test]
fn service_waits_up_to_its_timeout() {
    let mut a = host(1);
    let start = Instant::now();
    assert!(a.service(Duration::from_millis(60)).unwrap().is_none());
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(60), "{waited:?}");
    assert!(waited < Duration::from_millis(1000), "{waited:?}");
}

#[test]
fn two_hosts_connect_exchange_and_disconnect() {
    let mut client = host(1);
    let mut server = host(4);
    let (to_server, to_client) = connect(&mut client, &mut server);
    ping_pong(&mut client, to_server, &mut server, to_client);
    client.host_mut().disconnect(to_server, 99);
    let events = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(5),
        |e| e[1].iter().any(|e| matches!(e, Event::Disconnect { .. })),
    );
    assert!(matches!(
        events[1][..],
        [Event::Disconnect { data: 99, .. }]
    ));
}

#[test]
fn reliable_order_survives_lossy_reordering_link() {
    let mut client = host(1);
    let mut server = host(1);
    let (to_server, _) = connect(&mut client, &mut server);
    let bad = LinkConditions {
        latency_ms: 5,
        jitter_ms: 5,
        loss_percent: 10.0,
        duplicate_percent: 5.0,
        reorder_percent: 10.0,
        bandwidth_bytes_per_sec: 0,
    };
    client.set_link_seed(42);
    client.set_link_conditions(LinkDirection::Both, bad);
    for i in 0..100u32 {
        let payload = i.to_be_bytes().repeat(1 + (i as usize % 400));
        client
            .host_mut()
            .send(to_server, 0, Packet::reliable(payload))
            .unwrap();
    }
    let events = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(15),
        |e| {
            e[1].iter()
                .filter(|e| matches!(e, Event::Receive { .. }))
                .count()
                == 100
        },
    );
    for (i, event) in events[1].iter().enumerate() {
        let Event::Receive { packet, .. } = event else {
            panic!("{event:?}")
        };
        assert_eq!(packet.data[..4], (i as u32).to_be_bytes());
        assert_eq!(packet.len(), 4 * (1 + i % 400));
    }
    let stats = client.link_statistics(LinkDirection::Both);
    // Some 30 datagrams each way: some are certainly lost and held back.
    assert!(stats.lost > 0 && stats.reordered > 0, "{stats:?}");
}

#[test]
fn clock_near_wrap_still_connects_and_delivers() {
    let mut client = host(1);
    let mut server = host(1);
    client.set_clock(Clock::starting_at(u32::MAX - 300));
    server.set_clock(Clock::starting_at(u32::MAX - 100));
    let (to_server, _) = connect(&mut client, &mut server);
    std::thread::sleep(Duration::from_millis(350));
    client
        .host_mut()
        .send(to_server, 0, Packet::reliable(&b"after wrap"[..]))
        .unwrap();
    let events = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(5),
        |e| e[1].iter().any(|e| matches!(e, Event::Receive { .. })),
    );
    assert!(
        matches!(&events[1][..], [Event::Receive { packet, .. }] if &packet.data[..] == b"after wrap")
    );
    assert!(client.now().as_millis() < 1000, "the client clock wrapped");
}

#[test]
fn oversized_datagrams_are_dropped_as_truncated() {
    let mut server = host(1);
    let sender = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
    sender.send_to(&[0u8; 5000], server.local_addr()).unwrap();
    sender.send_to(&[0u8; 4096], server.local_addr()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.driver_statistics().datagrams_received < 2 && Instant::now() < deadline {
        server.service(Duration::from_millis(5)).unwrap();
    }
    let stats = server.driver_statistics();
    assert_eq!(stats.datagrams_received, 2);
    assert_eq!(stats.dropped_truncated, 1);
}

#[test]
fn raw_socket_send_reaches_the_address() {
    let mut a = host(1);
    let receiver = std::net::UdpSocket::bind((LOOPBACK, 0)).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    a.socket_send(receiver.local_addr().unwrap(), b"raw hello")
        .unwrap();
    let mut buf = [0u8; 64];
    let (len, from) = receiver.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"raw hello");
    assert_eq!(from, a.local_addr());
}

#[test]
fn ipv6_and_ipv4_clients_reach_a_wildcard_server() {
    let mut server = UdpHost::bind(BindAddress::Wildcard, 0, HostConfig::default()).unwrap();
    let port = server.local_addr().port();
    let mut v4 = host(1);
    let to_v4 = SocketAddr::new(LOOPBACK, port);
    let (_, peer) = connect_via(&mut v4, &mut server, to_v4, (1, 4));
    let seen = server.host().peer(peer).unwrap().address();
    assert_eq!(seen, v4.local_addr(), "IPv4 client seen as plain IPv4");

    // IPv6 only where the wildcard socket is IPv6 and the system has ::1.
    if !server.local_addr().is_ipv6() {
        return;
    }
    let Ok(mut v6) = UdpHost::bind(
        BindAddress::Ip("::1".parse().unwrap()),
        0,
        HostConfig::default(),
    ) else {
        return;
    };
    let to_v6 = SocketAddr::new("::1".parse().unwrap(), port);
    let (_, peer) = connect_via(&mut v6, &mut server, to_v6, (1, 6));
    assert_eq!(server.host().peer(peer).unwrap().address(), v6.local_addr());
}

#[test]
fn client_measures_round_trip_time_right_after_connecting() {
    // C ENet pings a freshly connected peer at once (its "last heard" time reads as long ago), so
    // the client's RTT estimate leaves the 500 ms default within a few round trips instead of
    // waiting for the first 500 ms ping interval. A stale 500 ms estimate makes the first lost
    // reliable datagram cost a 500 ms retransmission timeout.
    let mut server = host(4);
    let mut client = host(1);
    let (peer, _) = connect(&mut client, &mut server);
    // Stay inside the first 500 ms ping interval: a measurement before it ends can only come from
    // a ping sent at once. The margin absorbs a loaded machine.
    let start = Instant::now();
    let rtt = loop {
        client.service(Duration::from_millis(1)).unwrap();
        server.service(Duration::from_millis(1)).unwrap();
        let rtt = client
            .host()
            .peer(peer)
            .expect("client peer")
            .round_trip_time();
        if rtt < 250 || start.elapsed() >= Duration::from_millis(400) {
            break rtt;
        }
    };
    assert!(
        rtt < 250,
        "client RTT still {rtt} ms 400 ms after connecting"
    );
}

/// Godot's `create_client(address, port, channels, in, out, local_port)` binds the client to a
/// chosen local port; the server must see the connection coming from exactly that port.
#[test]
fn client_bound_to_explicit_local_port_is_seen_from_that_port() {
    // Ask the OS for a free port, release it and bind the client to it explicitly.
    let local_port = std::net::UdpSocket::bind((LOOPBACK, 0))
        .and_then(|s| s.local_addr())
        .expect("probe a free port")
        .port();
    let mut client = UdpHost::bind(
        BindAddress::Ip(LOOPBACK),
        local_port,
        HostConfig {
            peer_limit: 1,
            ..HostConfig::default()
        },
    )
    .expect("bind the client to its explicit port");
    assert_eq!(client.local_addr().port(), local_port);
    let mut server = host(4);
    let (_, remote) = connect(&mut client, &mut server);
    let seen = server.host().peer(remote).expect("server peer").address();
    assert_eq!(seen.port(), local_port);
    assert_eq!(seen.ip(), LOOPBACK);
}

#[test]
fn busy_many_peer_server_coalesces_receives_and_loses_nothing() {
    use rust_enet_net::ReceiveCoalescing;
    const CLIENTS: usize = 6;
    const MESSAGES: usize = 400;
    let mut server = host(CLIENTS);
    server.set_receive_coalescing(ReceiveCoalescing {
        max_delay: Duration::from_micros(500),
        min_peers: 4,
        min_rate: 50,
        min_wake_rate: 0,
    });
    let mut clients: Vec<(UdpHost, PeerId)> = (0..CLIENTS)
        .map(|_| {
            let mut client = host(1);
            let (peer, _) = connect(&mut client, &mut server);
            (client, peer)
        })
        .collect();
    let (mut sent, mut received, mut coalesced) = (0, 0, false);
    // Bounded by iterations, not time: every iteration sends one message per client until all
    // are sent, then only drains.
    for _ in 0..20_000 {
        for (client, peer) in &mut clients {
            if sent < MESSAGES * CLIENTS {
                client
                    .host_mut()
                    .send(*peer, 0, Packet::reliable(&b"tick"[..]))
                    .unwrap();
                sent += 1;
            }
            client.service(Duration::ZERO).unwrap();
            while client.check_events().is_some() {}
        }
        while let Some(event) = server.service(Duration::from_millis(1)).unwrap() {
            if matches!(event, Event::Receive { .. }) {
                received += 1;
            }
        }
        coalesced |= server.is_coalescing_receives();
        if received == MESSAGES * CLIENTS && coalesced {
            break;
        }
    }
    assert!(coalesced, "six busy peers never turned coalescing on");
    assert_eq!(received, MESSAGES * CLIENTS);
    // A single peer, however busy, never makes a host coalesce.
    let (mut client, peer) = clients.pop().unwrap();
    assert!(!client.is_coalescing_receives());
    client.host_mut().disconnect(peer, 0);
}

#[test]
fn fragment_windows_leave_and_arrive_with_segmentation_offload_intact() {
    let mut client = host(1);
    let mut server = host(4);
    let (to_server, _) = connect(&mut client, &mut server);
    // 300 KiB of a pattern that shows a lost, repeated or reordered fragment.
    let data: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    client
        .host_mut()
        .send(to_server, 0, Packet::reliable(data.clone()))
        .unwrap();
    let events = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(10),
        |e| e[1].iter().any(|e| matches!(e, Event::Receive { .. })),
    );
    let Some(Event::Receive { packet, .. }) = events[1].last() else {
        panic!("{events:?}")
    };
    assert!(packet.data[..] == data[..], "the packet arrived changed");
    let stats = client.driver_statistics();
    assert_eq!(stats.send_failures, 0);
    if cfg!(target_os = "linux") {
        // Every window of full-sized fragments is a run of equal datagrams to one peer.
        assert!(stats.gso_datagrams * 2 > stats.datagrams_sent, "{stats:?}");
        // On loopback a GSO send reaches a UDP_GRO socket whole; the server split it again.
        let stats = server.driver_statistics();
        assert!(stats.gro_datagrams > 0, "{stats:?}");
    }
}

#[test]
fn large_packet_reassembly_is_prefaulted_while_waiting_and_arrives_intact() {
    let mut client = host(1);
    let mut server = host(4);
    let (to_server, _) = connect(&mut client, &mut server);
    // 2 MiB of a pattern that shows a fragment written over or left out.
    let data: Vec<u8> = (0..2 * 1024 * 1024u32).map(|i| (i % 253) as u8).collect();
    client
        .host_mut()
        .send(to_server, 0, Packet::reliable(data.clone()))
        .unwrap();
    // The client sends, then the server services until its socket has been empty for a while:
    // it then blocks with the packet half reassembled. The timeout must outlast a pass, or the
    // service returns at its deadline without waiting (under wine a pass over a window of
    // fragments took more than 5 ms in one run of three).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut es = Vec::new();
    while !es.iter().any(|e| matches!(e, Event::Receive { .. })) {
        assert!(Instant::now() < deadline, "timed out: {es:?}");
        if let Some(e) = client.service(Duration::ZERO).unwrap() {
            panic!("client event {e:?}");
        }
        if let Some(e) = server.service(Duration::from_millis(30)).unwrap() {
            es.push(e);
        }
    }
    let Some(Event::Receive { packet, .. }) = es.last() else {
        panic!("{es:?}")
    };
    assert!(packet.data[..] == data[..], "the packet arrived changed");
    let stats = server.driver_statistics();
    assert!(stats.reassembly_prefaulted > 0, "{stats:?}");
    assert!(
        stats.reassembly_prefaulted <= data.len() as u64,
        "{stats:?}"
    );
    // Nothing to prefault on the sending side, nor once the packet is delivered.
    assert_eq!(client.driver_statistics().reassembly_prefaulted, 0);
    assert_eq!(server.host_mut().prefault_reassembly(1 << 20), 0);
}

#[test]
fn connect_any_reaches_an_ipv4_only_server_past_an_unanswered_ipv6_address() {
    // What `localhost` resolves to on many machines (::1 first), against a server on 127.0.0.1.
    let mut server = host(2);
    let port = server.local_addr().port();
    let mut client = UdpHost::bind(BindAddress::Wildcard, 0, HostConfig::default()).unwrap();
    let ipv6: SocketAddr = SocketAddr::new("::1".parse().unwrap(), port);
    let ipv4 = SocketAddr::new(LOOPBACK, port);
    let started = Instant::now();
    let peer = client.connect_any(&[ipv6, ipv4], 2, 9).unwrap();
    let es = drive(
        &mut [&mut client, &mut server],
        Duration::from_secs(5),
        |e| e[0].contains(&Event::Connect { peer, data: 0 }) && !e[1].is_empty(),
    );
    // Well before ENet's first CONNECT resend (500 ms) would have gone anywhere.
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(490),
        "connected after {took:?}"
    );
    assert!(matches!(es[1][0], Event::Connect { data: 9, .. }), "{es:?}");
    assert_eq!(client.host().peer(peer).unwrap().address(), ipv4);

    // An IPv4 socket cannot reach IPv6 addresses: they are left out, and with none left the
    // connect fails at once.
    let mut v4_client = host(1);
    assert_eq!(
        v4_client.connect_any(&[ipv6], 1, 0),
        Err(rust_enet_proto::ConnectError::NoAddress)
    );
    assert!(v4_client.connect_any(&[ipv6, ipv4], 1, 0).is_ok());
}

#[test]
fn connect_ids_come_from_the_os_unless_a_seed_is_given() {
    let connect_id = |config: HostConfig| {
        let mut client = UdpHost::bind(BindAddress::Ip(LOOPBACK), 0, config).unwrap();
        let peer = client.connect(SocketAddr::new(LOOPBACK, 9), 1, 0).unwrap();
        client.host().peer(peer).unwrap().connect_id()
    };
    // Default configs: every host draws its own (a repeat would be a 1 in 2^32 event).
    let a = connect_id(HostConfig::default());
    let b = connect_id(HostConfig::default());
    assert_ne!(a, b, "two default hosts chose the same connect id");
    // A seed of one's own gives the same ids every time.
    let seeded = || HostConfig {
        seed: 42,
        ..HostConfig::default()
    };
    assert_eq!(connect_id(seeded()), connect_id(seeded()));
}

/// A host whose owner was away longer than a retransmission timeout (a long frame, a stall) reads
/// the acknowledgements waiting in its socket before its timers run: what the remote already
/// acknowledged is not sent again.
#[test]
fn acknowledgements_waiting_in_the_socket_cancel_resends_after_a_stall() {
    let mut server = host(4);
    let mut client = host(1);
    let (to_server, _) = connect(&mut client, &mut server);
    // A measured round trip (the connection pings at once), so the timeout below is short.
    let start = Instant::now();
    while client.host().peer(to_server).unwrap().round_trip_time() >= 250 {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "no round trip measured"
        );
        client.service(Duration::from_millis(1)).unwrap();
        server.service(Duration::from_millis(1)).unwrap();
    }
    run_quiet(&mut client, &mut server);
    client
        .host_mut()
        .send(to_server, 0, Packet::reliable(&b"once"[..]))
        .unwrap();
    client.flush().unwrap();
    let events = drive(&mut [&mut server], Duration::from_secs(5), |e| {
        !common::received(&e[0]).is_empty()
    });
    assert_eq!(common::received(&events[0]), [(0, b"once".to_vec())]);
    server.flush().unwrap(); // the acknowledgement, now in the client's socket
    let peer = client.host().peer(to_server).unwrap();
    let timeout = peer.round_trip_time() + 4 * peer.round_trip_time_variance();
    let resends = peer.resends();
    std::thread::sleep(Duration::from_millis(u64::from(timeout) + 50));
    assert_eq!(client.service(Duration::ZERO).unwrap(), None);
    assert_eq!(
        client.host().peer(to_server).unwrap().resends() - resends,
        0,
        "resent after a {timeout} ms timeout although acknowledged"
    );
}

/// Services both hosts until neither has anything in flight (the connection's own pings).
fn run_quiet(client: &mut UdpHost, server: &mut UdpHost) {
    let start = Instant::now();
    loop {
        client.service(Duration::from_millis(1)).unwrap();
        server.service(Duration::from_millis(1)).unwrap();
        let in_flight = |h: &UdpHost| {
            h.host()
                .peers()
                .map(|(_, p)| p.unacknowledged_commands())
                .sum::<usize>()
        };
        if in_flight(client) == 0 && in_flight(server) == 0 {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(2), "still in flight");
    }
}
