//! Hostile input: garbage, truncation and bad fields never panic; they are dropped and counted,
//! and a connected remote that breaks the protocol is disconnected with a typed reason.

mod event;
mod sim;

use event::{disconnect, disconnect_reason};
use rust_enet_proto::{DisconnectReason, Packet, PeerState, ProtocolViolation};
use sim::{Rng, Sim, server_config};

/// A connected pair plus the 2-byte header field the client uses toward the server (peer id and
/// session bits), learned from a real datagram.
fn connected(seed: u64) -> (Sim, usize, usize, rust_enet_proto::PeerId, u16) {
    let (mut sim, server, client, cpeer, _) = Sim::pair(
        seed,
        server_config(4, seed + 1),
        server_config(4, seed + 2),
        2,
    );
    sim.record = true;
    sim.host(client)
        .send(cpeer, 0, Packet::unreliable(&b"probe"[..]))
        .unwrap();
    sim.flush();
    let probe = sim
        .wire
        .iter()
        .find(|w| w.from == sim.nodes[client].addr)
        .expect("probe datagram")
        .data
        .clone();
    let field = u16::from_be_bytes([probe[0], probe[1]]) & 0x3FFF;
    sim.record = false;
    sim.run_for(100);
    sim.take_events(server);
    (sim, server, client, cpeer, field)
}

/// A datagram from the client with a sent time and the given command bytes.
fn datagram(field: u16, commands: &[u8]) -> Vec<u8> {
    let mut d = (field | 0x8000).to_be_bytes().to_vec();
    d.extend_from_slice(&0x1234u16.to_be_bytes());
    d.extend_from_slice(commands);
    d
}

#[allow(clippy::too_many_arguments)]
fn fragment(
    reliable: bool,
    channel: u8,
    seq: u16,
    start: u16,
    count: u32,
    number: u32,
    total: u32,
    offset: u32,
    data: &[u8],
) -> Vec<u8> {
    let mut c = vec![if reliable { 0x88 } else { 0x0C }, channel];
    c.extend_from_slice(&seq.to_be_bytes());
    c.extend_from_slice(&start.to_be_bytes());
    c.extend_from_slice(&(data.len() as u16).to_be_bytes());
    for v in [count, number, total, offset] {
        c.extend_from_slice(&v.to_be_bytes());
    }
    c.extend_from_slice(data);
    c
}

fn server_disconnect_reason(sim: &Sim, server: usize) -> Option<DisconnectReason> {
    sim.events(server)
        .iter()
        .find_map(|(_, e)| disconnect_reason(e))
}

#[test]
fn garbage_and_truncated_datagrams_never_panic_and_are_counted() {
    let (mut sim, server, client, cpeer, field) = connected(100);
    let from = sim.nodes[client].addr;
    let stranger = sim::addr(50);
    let mut rng = Rng::new(5);
    // Pure noise from the peer's address and from a stranger.
    for i in 0..3_000 {
        let len = rng.below(64) as usize + if i % 10 == 0 { 1500 } else { 0 };
        let noise = rng.bytes(len);
        let src = if i % 2 == 0 { from } else { stranger };
        sim.inject(server, src, &noise);
    }
    // Every prefix of a real datagram.
    let real = datagram(
        field,
        &[0x86, 0x00, 0x00, 0x07, 0x00, 0x03, b'a', b'b', b'c'],
    );
    for n in 0..real.len() {
        sim.inject(server, from, &real[..n]);
    }
    let oversize = vec![0u8; 5000];
    sim.inject(server, from, &oversize);

    let stats = sim.nodes[server].host.statistics().clone();
    assert!(stats.dropped_oversized >= 1);
    assert!(stats.dropped_malformed > 0, "{stats:?}");
    assert!(stats.dropped_unknown_peer > 0, "{stats:?}");
    assert!(stats.malformed_commands > 0, "{stats:?}");
    assert!(stats.total_received_packets > 3_000, "{stats:?}");
    // Noise is not an attack on the session: it still works.
    assert_eq!(sim.nodes[server].host.connected_peers(), 1);
    sim.host(client)
        .send(cpeer, 1, Packet::reliable(&b"still here"[..]))
        .unwrap();
    sim.flush();
    assert!(sim.run_until(5_000, |s| {
        s.take_received(server)
            .iter()
            .any(|(_, d)| d == b"still here")
    }));
}

#[test]
fn random_commands_behind_a_valid_header_never_panic() {
    let mut rng = Rng::new(6);
    let mut handled = 0u64;
    for round in 0..12u64 {
        let (mut sim, server, client, _, field) = connected(600 + round * 10);
        let from = sim.nodes[client].addr;
        for _ in 0..400 {
            let len = rng.below(90) as usize;
            let mut cmds = rng.bytes(len);
            // Plausible command numbers and channels, so the handlers run, not only the parser.
            if let Some(b) = cmds.get_mut(0) {
                *b = (*b & 0xC0) | (1 + rng.below(12) as u8);
            }
            if let Some(c) = cmds.get_mut(1) {
                *c = [0, 1, 0xFF][rng.below(3) as usize];
            }
            sim.inject(server, from, &datagram(field, &cmds));
            handled += 1;
            if rng.chance(0.05) {
                sim.run_for(rng.below(200));
            }
        }
        sim.run_for(2_000);
        // Whatever happened, the host is consistent: either still connected or disconnected
        // with a reason.
        if sim.nodes[server].host.connected_peers() == 0 {
            assert!(
                server_disconnect_reason(&sim, server).is_some()
                    || sim.nodes[server].host.peers().count() == 0
            );
        }
    }
    assert_eq!(handled, 12 * 400);
}

#[test]
fn datagrams_for_unknown_slots_wrong_sessions_or_no_decompressor_are_dropped() {
    let (mut sim, server, client, _, field) = connected(200);
    let from = sim.nodes[client].addr;
    let ping = [0x85, 0xFF, 0x00, 0x10];
    // Slot 3 exists but is free; slot 100 does not exist.
    sim.inject(server, from, &datagram((field & 0x3000) | 3, &ping));
    sim.inject(server, from, &datagram((field & 0x3000) | 100, &ping));
    // Right slot, wrong session.
    sim.inject(server, from, &datagram(field ^ 0x1000, &ping));
    // Right slot, wrong address.
    sim.inject(server, sim::addr(9), &datagram(field, &ping));
    // COMPRESSED without a compressor.
    sim.inject(server, from, &datagram(field | 0x4000, &ping));
    // Peer id 0xFFF with anything but CONNECT.
    sim.inject(server, from, &datagram(0x0FFF, &ping));
    // Reliable command without a sent time.
    let mut no_time = field.to_be_bytes().to_vec();
    no_time.extend_from_slice(&ping);
    sim.inject(server, from, &no_time);
    let stats = sim.nodes[server].host.statistics();
    assert_eq!(stats.dropped_unknown_peer, 3, "{stats:?}");
    assert_eq!(stats.dropped_session_mismatch, 1, "{stats:?}");
    assert_eq!(stats.dropped_no_decompressor, 1, "{stats:?}");
    assert_eq!(stats.dropped_not_connect, 1, "{stats:?}");
    assert_eq!(stats.missing_sent_time, 1, "{stats:?}");
    assert_eq!(sim.nodes[server].host.connected_peers(), 1);
}

#[test]
fn bad_fragment_fields_disconnect_the_sender_with_a_typed_reason() {
    let max = 32 * 1024 * 1024u32;
    let d = [7u8; 16];
    let bad = |name, commands| (name, commands, ProtocolViolation::BadFragment);
    let cases: Vec<(&str, Vec<u8>, ProtocolViolation)> = vec![
        bad("zero count", fragment(true, 0, 1, 1, 0, 0, 16, 0, &d)),
        bad("number >= count", fragment(true, 0, 1, 1, 2, 2, 32, 0, &d)),
        bad("offset >= total", fragment(true, 0, 1, 1, 2, 0, 32, 32, &d)),
        bad("overruns total", fragment(true, 0, 1, 1, 2, 0, 32, 20, &d)),
        bad("total < count", fragment(true, 0, 1, 1, 64, 0, 32, 0, &d)),
        bad("too large", fragment(true, 0, 1, 1, 2, 0, max + 1, 0, &d)),
        bad(
            "too many",
            fragment(true, 0, 1, 1, (1 << 20) + 1, 0, max, 0, &d),
        ),
        bad("empty", fragment(true, 0, 1, 1, 2, 0, 32, 0, &[])),
        bad(
            "unreliable zero count",
            fragment(false, 0, 0, 5, 0, 0, 16, 0, &d),
        ),
        bad(
            "unreliable overrun",
            fragment(false, 0, 0, 5, 2, 1, 20, 10, &d),
        ),
        (
            "mismatched second fragment",
            [
                fragment(true, 0, 1, 1, 2, 0, 32, 0, &d),
                fragment(true, 0, 2, 1, 3, 1, 48, 16, &d),
            ]
            .concat(),
            ProtocolViolation::FragmentMismatch,
        ),
        (
            "channel out of range",
            vec![0x86, 9, 0, 1, 0, 1, 0xAA],
            ProtocolViolation::ChannelOutOfRange { channel: 9 },
        ),
    ];
    for (seed, (name, commands, expected)) in cases.into_iter().enumerate() {
        let (mut sim, server, client, cpeer, field) = connected(300 + seed as u64 * 10);
        let from = sim.nodes[client].addr;
        sim.inject(server, from, &datagram(field, &commands));
        assert_eq!(
            server_disconnect_reason(&sim, server),
            Some(DisconnectReason::ProtocolViolation(expected)),
            "{name}"
        );
        assert_eq!(
            sim.nodes[server].host.statistics().protocol_violations,
            1,
            "{name}"
        );
        assert_eq!(sim.nodes[server].host.connected_peers(), 0, "{name}");
        // The offender is told (unreliable DISCONNECT) and drops the connection too.
        assert!(sim.run_until(1_000, |s| s.has_disconnect(client)), "{name}");
        assert_eq!(
            sim.peer_state(client, cpeer),
            PeerState::Disconnected,
            "{name}"
        );
    }
}

#[test]
fn overlapping_fragments_never_leak_memory_and_deliver_once() {
    let (mut sim, server, client, _, field) = connected(400);
    let from = sim.nodes[client].addr;
    // Two fragments claiming the same bytes: the rest of the packet is zero, not heap garbage.
    let cmds = [
        fragment(true, 0, 1, 1, 2, 0, 40, 0, &[1u8; 8]),
        fragment(true, 0, 2, 1, 2, 1, 40, 0, &[2u8; 8]),
        fragment(true, 0, 2, 1, 2, 1, 40, 0, &[3u8; 8]),
    ]
    .concat();
    sim.inject(server, from, &datagram(field, &cmds));
    let got = sim.take_received(server);
    assert_eq!(got.len(), 1);
    let mut expected = vec![2u8; 8];
    expected.resize(40, 0);
    assert_eq!(got[0].1, expected);
}

#[test]
fn a_flood_of_connects_from_spoofed_addresses_never_panics_nor_locks_out_a_client() {
    let mut sim = Sim::new(500);
    let server = sim.add_host(server_config(16, 501));
    let mut rng = Rng::new(1);
    for i in 0..200u32 {
        let mut connect = vec![0x8F, 0xFF, 0x00, 0x01, 0x82, 0xFF, 0x00, 0x01];
        connect.extend_from_slice(&(i as u16).to_be_bytes());
        connect.extend_from_slice(&[0xFF, 0xFF]);
        for v in [1392u32, 65536, 1 + rng.below(300), 0, 0, 5000, 2, 2] {
            connect.extend_from_slice(&v.to_be_bytes());
        }
        connect.extend_from_slice(&rng.bytes(8));
        sim.inject(server, sim::addr(100 + (i as usize % 100)), &connect);
    }
    let stats = sim.nodes[server].host.statistics().clone();
    assert!(
        stats.connects_refused > 0,
        "channel counts above 255 are refused"
    );
    // Every other CONNECT is a half-open handshake in a slot of its own: more of them than the
    // server has connection slots, and none of them a connection.
    let host = &sim.nodes[server].host;
    assert!(host.half_open_peers() > 16, "{}", host.half_open_peers());
    assert_eq!(host.peers().count(), host.half_open_peers());
    sim.nodes[server].host.debug_check_invariants();
    // A real client still gets in at once.
    let client = sim.add_host(server_config(1, 502));
    sim.connect(client, server, 1, 0);
    assert!(sim.run_until(100, |s| s.has_connect(client) && s.has_connect(server)));
    // Half-open slots expire silently (no resends: they never heard back) and free up.
    sim.run_for(rust_enet_proto::host::HANDSHAKE_LIFETIME + 100);
    assert_eq!(sim.nodes[server].host.half_open_peers(), 0);
    assert_eq!(sim.nodes[server].host.peers().count(), 1);
    assert_eq!(
        sim.events(server).len(),
        1,
        "only the real client's connect"
    );
    sim.nodes[server].host.debug_check_invariants();
}

#[test]
fn mutated_real_datagrams_never_panic() {
    use rust_enet_proto::{HostConfig, compress::RangeCoder};
    for (round, (checksum, compress)) in
        [(false, false), (true, false), (false, true), (true, true)]
            .into_iter()
            .enumerate()
    {
        let mut sim = Sim::new(700 + round as u64);
        let config = |seed| HostConfig {
            checksum,
            compressor: if compress {
                Some(Box::new(RangeCoder::new()) as Box<_>)
            } else {
                None
            },
            ..server_config(4, seed)
        };
        let server = sim.add_host(config(701));
        let client = sim.add_host(config(702));
        sim.record = true;
        let (cpeer, _) = sim.establish(client, server, 3);
        for i in 0..60u32 {
            let flags = [
                rust_enet_proto::PacketFlags::RELIABLE,
                rust_enet_proto::PacketFlags::NONE,
                rust_enet_proto::PacketFlags::UNSEQUENCED,
                rust_enet_proto::PacketFlags::UNRELIABLE_FRAGMENT,
            ][i as usize % 4];
            let len = if i % 7 == 0 { 5_000 } else { 30 };
            sim.host(client)
                .send(cpeer, (i % 3) as u8, Packet::new(vec![i as u8; len], flags))
                .unwrap();
        }
        sim.flush();
        sim.run_for(1_000);
        let corpus: Vec<_> = std::mem::take(&mut sim.wire);
        sim.record = false;
        assert!(corpus.len() > 10);
        let mut rng = Rng::new(round as u64);
        for _ in 0..4_000 {
            let original = &corpus[rng.below(corpus.len() as u32) as usize];
            let mut d = original.data.clone();
            match rng.below(4) {
                0 => {
                    for _ in 0..=rng.below(4) {
                        let i = rng.below(d.len() as u32) as usize;
                        d[i] ^= 1 << rng.below(8);
                    }
                }
                1 => d.truncate(rng.below(d.len() as u32) as usize),
                2 => {
                    let i = rng.below(d.len() as u32) as usize;
                    d[i] = rng.next_u64() as u8;
                    let extra = rng.below(16) as usize;
                    d.extend(rng.bytes(extra));
                }
                _ => {
                    // Keep the header (so the datagram reaches a peer), randomise a field.
                    let i = 2 + rng.below(d.len().saturating_sub(2).max(1) as u32) as usize;
                    if i < d.len() {
                        d[i] = [0x00, 0xFF, 0x7F, 0x80][rng.below(4) as usize];
                    }
                }
            }
            let (to, from) = if original.to == sim.nodes[server].addr {
                (server, original.from)
            } else {
                (client, original.from)
            };
            sim.inject(to, from, &d);
        }
        sim.run_for(2_000);
        sim.nodes[server].host.debug_check_invariants();
        sim.nodes[client].host.debug_check_invariants();
    }
}

#[test]
fn spoofed_connect_flood_is_never_amplified_and_cannot_lock_out_real_clients() {
    // 32 connection slots, 8 of them taken; then 5000 spoofed CONNECTs from distinct addresses,
    // more than the 4095 peer ids can hold.
    let mut sim = Sim::new(800);
    let server = sim.add_host(server_config(32, 801));
    let mut players = Vec::new();
    for i in 0..8 {
        let c = sim.add_host(server_config(1, 810 + i));
        sim.establish(c, server, 1);
        players.push(c);
    }
    let connect = |i: u32| {
        let mut c = vec![
            0x8F, 0xFF, 0x00, 0x01, 0x82, 0xFF, 0x00, 0x01, 0x00, 0x00, 0xFF, 0xFF,
        ];
        for v in [1392u32, 65536, 1, 0, 0, 5000, 2, 2] {
            c.extend_from_slice(&v.to_be_bytes());
        }
        c.extend_from_slice(&i.to_be_bytes()); // connect id
        c.extend_from_slice(&0u32.to_be_bytes());
        c
    };
    let from = |i: u32| {
        std::net::SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0B00_0000 + i)),
            1000,
        )
    };
    let spoofed = |a: std::net::SocketAddr| a.ip().to_string().starts_with("11.");
    sim.record = true;
    let flood = 5000u32;
    for i in 0..flood {
        sim.inject(server, from(i), &connect(i));
        // A real client joins in the middle of the flood.
        if i == flood / 2 {
            let late = sim.add_host(server_config(1, 899));
            sim.connect(late, server, 1, 0);
            players.push(late);
        }
    }
    let host = &sim.nodes[server].host;
    // Every id but the connections' holds a handshake; the oldest made room for the rest.
    let ids = rust_enet_proto::wire::PROTOCOL_MAXIMUM_PEER_ID as usize;
    assert!(host.half_open_peers() <= ids - 8);
    assert!(host.statistics().handshakes_evicted >= u64::from(flood) - (ids - 8) as u64);
    sim.nodes[server].host.debug_check_invariants();
    let late = *players.last().unwrap();
    assert!(sim.run_until(1_000, |s| s.has_connect(late)));
    // Run past the half-open lifetime: the spoofed handshakes expire silently.
    sim.run_for(rust_enet_proto::host::HANDSHAKE_LIFETIME + 1_000);
    let host = &sim.nodes[server].host;
    assert_eq!(host.half_open_peers(), 0);
    assert_eq!(host.connected_peers(), 9, "8 players and the late one");
    assert!(players.iter().all(|&p| !sim.has_disconnect(p)));
    // One VERIFY_CONNECT per spoofed CONNECT at most, never resent on a timer: fewer bytes back
    // to the spoofed addresses than came from them.
    let sent: usize = sim
        .wire
        .iter()
        .filter(|w| spoofed(w.to))
        .map(|w| w.data.len())
        .sum();
    let count = sim.wire.iter().filter(|w| spoofed(w.to)).count();
    let received = flood as usize * connect(0).len();
    assert!(
        count <= flood as usize,
        "{count} datagrams to {flood} spoofed CONNECTs"
    );
    assert!(
        sent <= received,
        "{sent} bytes back for {received} received"
    );
    sim.nodes[server].host.debug_check_invariants();
}

#[test]
fn verify_connect_with_a_foreign_connect_id_fails_the_connection() {
    let mut sim = Sim::new(900);
    let client = sim.add_host(server_config(1, 901));
    let fake_server = sim::addr(5);
    let now = sim.time();
    let peer = sim.nodes[client]
        .host
        .connect(now, fake_server, 2, 0)
        .unwrap();
    sim.flush();
    // VERIFY_CONNECT to slot 0 with the default throttle values but another connect id.
    let mut verify = vec![
        0x80, 0x00, 0x12, 0x34, 0x83, 0xFF, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    ];
    for v in [1392u32, 65536, 2, 0, 0, 5000, 2, 2] {
        verify.extend_from_slice(&v.to_be_bytes());
    }
    verify.extend_from_slice(&[1, 2, 3, 4]);
    sim.inject(client, fake_server, &verify);
    let violation = DisconnectReason::ProtocolViolation(ProtocolViolation::VerifyConnectMismatch);
    assert_eq!(sim.events(client)[0].1, disconnect(peer, 0, violation));
    assert_eq!(sim.peer_state(client, peer), PeerState::Disconnected);
}

#[test]
fn zero_padding_after_the_last_command_is_not_counted_as_malformed() {
    let (mut sim, server, client, _cpeer, field) = connected(300);
    let from = sim.nodes[client].addr;
    // An unreliable "hi" on channel 1 (unused so far) followed by FastLZ-style zero padding.
    let mut padded = vec![0x07, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x02, b'h', b'i'];
    padded.extend_from_slice(&[0; 6]);
    let mut d = field.to_be_bytes().to_vec();
    d.extend_from_slice(&padded);
    sim.inject(server, from, &d);
    let stats = sim.nodes[server].host.statistics().clone();
    assert_eq!(stats.malformed_commands, 0, "{stats:?}");
    assert!(
        sim.take_received(server)
            .iter()
            .any(|(_, data)| data == b"hi")
    );

    // A non-zero byte in the tail is still a malformed command.
    let mut bad = d.clone();
    *bad.last_mut().unwrap() = 0x01;
    sim.inject(server, from, &bad);
    assert_eq!(sim.nodes[server].host.statistics().malformed_commands, 1);
}
