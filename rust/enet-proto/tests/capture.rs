//! Byte-level replay of the captures in section 19 of the protocol description: with the
//! captured connect id and the captured clock values, our hosts must emit exactly the bytes C ENet
//! emitted.

mod event;

use std::net::SocketAddr;

use rust_enet_proto::compress::RangeCoder;
use rust_enet_proto::{
    DisconnectReason, EnetTime, Event, Host, HostConfig, Packet, PacketFlags, PeerId,
};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| (c as char).to_digit(16).unwrap() as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

const CLIENT: &str = "127.0.0.1:50000";
const SERVER: &str = "127.0.0.1:17091";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Pair {
    client: Host,
    server: Host,
    buf: Vec<u8>,
}

impl Pair {
    fn new(checksum: bool, compress: bool, start: u32) -> Pair {
        let config = |peers| HostConfig {
            peer_limit: peers,
            checksum,
            compressor: if compress {
                Some(Box::new(RangeCoder::new()) as Box<_>)
            } else {
                None
            },
            ..HostConfig::default()
        };
        let mut pair = Pair {
            client: Host::new(config(1)).unwrap(),
            server: Host::new(config(4)).unwrap(),
            buf: vec![0; 4100],
        };
        // Both hosts were serviced shortly before the capture started, as in the C harness: the
        // bandwidth throttle epoch lies before the capture and does not fire during it.
        pair.client.handle_timeout(EnetTime(start - 3));
        pair.server.handle_timeout(EnetTime(start - 3));
        pair
    }

    /// A pair whose client starts connecting at `start` with the captured `connect_id` (2
    /// channels, data 0x12345678); returns it with the client's peer id.
    fn connecting(
        checksum: bool,
        compress: bool,
        start: u32,
        connect_id: [u8; 4],
    ) -> (Pair, PeerId) {
        let mut pair = Pair::new(checksum, compress, start);
        pair.client.force_next_connect_id(connect_id);
        let peer = pair
            .client
            .connect(EnetTime(start), addr(SERVER), 2, 0x1234_5678)
            .unwrap();
        (pair, peer)
    }

    /// Every datagram the host wants to send now.
    fn transmit(host: &mut Host, buf: &mut [u8], now: u32) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(t) = host.poll_transmit(EnetTime(now), buf) {
            out.push(buf[..t.len].to_vec());
        }
        out
    }

    /// The datagrams the client sends at `now`, which must be exactly `expected` (hex).
    #[track_caller]
    fn client_sends_exactly(&mut self, now: u32, expected: &[&str]) -> Vec<Vec<u8>> {
        exactly(self.client_sends(now), expected)
    }

    /// The datagrams the server sends at `now`, which must be exactly `expected` (hex).
    #[track_caller]
    fn server_sends_exactly(&mut self, now: u32, expected: &[&str]) -> Vec<Vec<u8>> {
        exactly(self.server_sends(now), expected)
    }

    fn client_sends(&mut self, now: u32) -> Vec<Vec<u8>> {
        Self::transmit(&mut self.client, &mut self.buf, now)
    }

    fn server_sends(&mut self, now: u32) -> Vec<Vec<u8>> {
        Self::transmit(&mut self.server, &mut self.buf, now)
    }

    fn deliver_to_server(&mut self, now: u32, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.server.handle_datagram(EnetTime(now), addr(CLIENT), d);
        }
    }

    fn deliver_to_client(&mut self, now: u32, datagrams: &[Vec<u8>]) {
        for d in datagrams {
            self.client.handle_datagram(EnetTime(now), addr(SERVER), d);
        }
    }
}

/// `sent`, which must be exactly the datagrams `expected` (hex).
#[track_caller]
fn exactly(sent: Vec<Vec<u8>>, expected: &[&str]) -> Vec<Vec<u8>> {
    assert_eq!(sent, expected.iter().map(|h| hex(h)).collect::<Vec<_>>());
    sent
}

fn events(host: &mut Host) -> Vec<Event> {
    std::iter::from_fn(|| host.poll_event()).collect()
}

#[test]
fn plain_session_matches_capture_19_1_byte_for_byte() {
    let (mut p, cpeer) = Pair::connecting(false, false, 0x51b3, [0x1a, 0x4a, 0x1d, 0xbf]);
    let connect = p.client_sends_exactly(
        0x51b3,
        &[
            "8fff 51b3 82ff0001 0000ffff 00000570 00010000 00000002 00000000 00000000
             00001388 00000002 00000002 1a4a1dbf 12345678",
        ],
    );

    p.deliver_to_server(0x51b4, &connect);
    let verify = p.server_sends_exactly(
        0x51b4,
        &[
            "8000 51b4 83ff0001 0000 00 00 00000570 00010000 00000002 00000000 00000000
             00001388 00000002 00000002 1a4a1dbf",
        ],
    );

    p.deliver_to_client(0x51b5, &verify);
    let ack_ping = p.client_sends_exactly(0x51b5, &["8000 51b5 01ff0001000151b4 85ff0002"]);
    assert_eq!(events(&mut p.client), vec![event::connect(cpeer, 0)]);

    p.deliver_to_server(0x51b5, &ack_ping);
    let ack = p.server_sends_exactly(0x51b5, &["0000 01ff0002000251b5"]);
    let server_events = events(&mut p.server);
    assert_eq!(server_events, vec![event::connect(PeerId(0), 0x1234_5678)]);
    let speer = PeerId(0);
    p.deliver_to_client(0x51b6, &ack);

    // Five packets: three small ones share a datagram, then the fragments.
    let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
    p.client
        .send(cpeer, 0, Packet::reliable(&b"hello"[..]))
        .unwrap();
    p.client
        .send(cpeer, 1, Packet::unreliable(&b"unrel"[..]))
        .unwrap();
    p.client
        .send(cpeer, 1, Packet::unsequenced(&b"unseq"[..]))
        .unwrap();
    p.client
        .send(cpeer, 0, Packet::reliable(big.clone()))
        .unwrap();
    p.client
        .send(
            cpeer,
            1,
            Packet::new(big.clone(), PacketFlags::UNRELIABLE_FRAGMENT),
        )
        .unwrap();
    let data = p.client_sends(0x52df);
    assert_eq!(
        data[0],
        hex(
            "8000 52df 86000001 0005 68656c6c6f 07010000 0001 0005 756e72656c
             49010000 0001 0005 756e736571"
        )
    );
    assert_eq!(data[1].len(), 1392);
    assert_eq!(
        data[1][..28],
        hex("8000 52df 88000002 0002 0554 00000003 00000000 00000bb8 00000000")[..]
    );
    assert_eq!(data[1][28..], big[..1364]);
    assert_eq!(
        data[2][..28],
        hex("8000 52df 88000003 0002 0554 00000003 00000001 00000bb8 00000554")[..]
    );
    assert_eq!(
        data[3][..28],
        hex("8000 52df 88000004 0002 0110 00000003 00000002 00000bb8 00000aa8")[..]
    );
    assert_eq!(data[4].len(), 1390);
    assert_eq!(
        data[4][..26],
        hex("0000 0c010000 0002 0554 00000003 00000000 00000bb8 00000000")[..]
    );
    assert_eq!(data.len(), 7, "two more unreliable fragments");

    // The server acknowledges the four reliable commands in one datagram.
    p.deliver_to_server(0x52df, &data[..4]);
    let acks = p.server_sends_exactly(
        0x52df,
        &["0000 01000001 0001 52df 01000002 0002 52df 01000003 0003 52df 01000004 0004 52df"],
    );
    p.deliver_to_server(0x52df, &data[4..]);
    let received: Vec<(u8, Vec<u8>, PacketFlags)> = events(&mut p.server)
        .into_iter()
        .map(|e| match e {
            Event::Receive {
                channel, packet, ..
            } => (channel, packet.data.to_vec(), packet.flags),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        received,
        vec![
            (0, b"hello".to_vec(), PacketFlags::RELIABLE),
            (1, b"unrel".to_vec(), PacketFlags::NONE),
            (1, b"unseq".to_vec(), PacketFlags::UNSEQUENCED),
            (0, big.clone(), PacketFlags::RELIABLE),
            (1, big.clone(), PacketFlags::UNRELIABLE_FRAGMENT),
        ]
    );
    p.deliver_to_client(0x52e0, &acks);

    // The server's idle PING 500 ms after its last acknowledgement.
    p.server.handle_timeout(EnetTime(0x53aa));
    let ping = p.server_sends_exactly(0x53aa, &["8000 53aa 85ff0002"]);
    p.deliver_to_client(0x53aa, &ping);
    let ack = p.client_sends_exactly(0x53aa, &["0000 01ff0002000253aa"]);
    p.deliver_to_server(0x53ab, &ack);

    p.client.throttle_configure(cpeer, 4000, 3, 4);
    p.client.ping(cpeer);
    let tc = p.client_sends_exactly(
        0x540c,
        &["8000 540c 8bff0003 00000fa0 00000003 00000004 85ff0004"],
    );
    p.deliver_to_server(0x540c, &tc);
    let acks = p.server_sends_exactly(0x540c, &["0000 01ff00030003540c 01ff00040004540c"]);
    p.deliver_to_client(0x540d, &acks);

    p.client.disconnect(cpeer, 0xABCD);
    let disconnect = p.client_sends_exactly(0x54d5, &["8000 54d5 84ff0005 0000abcd"]);
    p.deliver_to_server(0x54d5, &disconnect);
    let ack = p.server_sends_exactly(0x54d5, &["0000 01ff0005000554d5"]);
    assert_eq!(
        events(&mut p.server),
        vec![event::disconnect(speer, 0xABCD, DisconnectReason::Remote)]
    );
    p.deliver_to_client(0x54d6, &ack);
    assert_eq!(
        events(&mut p.client),
        vec![event::disconnect(cpeer, 0, DisconnectReason::Local)]
    );
}

#[test]
fn checksummed_handshake_matches_capture_19_2() {
    let (mut p, _) = Pair::connecting(true, false, 0x44c3, [0x4b, 0xd7, 0xc1, 0xa9]);
    let connect = p.client_sends_exactly(
        0x44c3,
        &[
            "8fff 44c3 1ae52cdb 82ff0001 0000ffff 00000570 00010000 00000002 00000000 00000000
             00001388 00000002 00000002 4bd7c1a9 12345678",
        ],
    );
    p.deliver_to_server(0x44c4, &connect);
    let verify = p.server_sends(0x44c4);
    assert_eq!(verify.len(), 1);
    assert_eq!(verify[0][..8], hex("8000 44c4 475f528a")[..]);
    p.deliver_to_client(0x44c5, &verify);
    let ack_ping =
        p.client_sends_exactly(0x44c5, &["8000 44c5 1044b077 01ff0001000144c4 85ff0002"]);
    p.deliver_to_server(0x44c5, &ack_ping);
    let ack = p.server_sends_exactly(0x44c5, &["0000 3197b7b7 01ff0002000244c5"]);
    assert_eq!(p.server.statistics().dropped_bad_checksum, 0);
    assert_eq!(p.client.statistics().dropped_bad_checksum, 0);

    // A corrupted byte is dropped and counted.
    let mut bad = ack[0].clone();
    bad[9] ^= 1;
    p.deliver_to_client(0x44c6, &[bad]);
    assert_eq!(p.client.statistics().dropped_bad_checksum, 1);
}

#[test]
fn range_coded_handshake_matches_capture_19_3() {
    let (mut p, _) = Pair::connecting(false, true, 0x4913, [0x58, 0x18, 0xab, 0x32]);
    let connect = p.client_sends_exactly(
        0x4913,
        &["cfff 4913 837b88b1fdf1df576b939eeefcbc0a3e8a642656d33a9b2a47642ff8fe9efdf4"],
    );
    p.deliver_to_server(0x4914, &connect);
    let verify = p.server_sends(0x4914);
    p.deliver_to_client(0x4915, &verify);
    // Compression did not help this one: sent plain.
    assert_eq!(p.client_sends(0x4915), ack_ping_plain());
    assert!(matches!(events(&mut p.client)[..], [Event::Connect { .. }]));

    p.deliver_to_server(0x4915, &ack_ping_plain());
    let _ = p.server_sends(0x4915);
    assert!(matches!(events(&mut p.server)[..], [Event::Connect { .. }]));

    // Four reliable packets, acknowledged in one compressed datagram.
    p.deliver_to_server(
        0x4a40,
        &[hex(
            "8000 4a3f 86000001 0001 61 86000002 0001 62 86000003 0001 63 86000004 0001 64",
        )],
    );
    assert_eq!(
        p.server_sends(0x4a40),
        vec![hex("4000 01fefe24c54b4b9d836019d9438d86cc476a521cf7d1")]
    );
    assert_eq!(events(&mut p.server).len(), 4);
}

fn ack_ping_plain() -> Vec<Vec<u8>> {
    vec![hex("8000 4915 01ff000100014914 85ff0002")]
}
