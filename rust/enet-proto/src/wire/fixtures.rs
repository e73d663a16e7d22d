//! Byte fixtures captured from upstream ENet (protocol description section 19) and the tests that
//! parse them, check every field and re-emit them byte for byte.
//!
//! The datagrams are the exact UDP payloads of the capture. Two kinds of bytes are not in the
//! capture and are filled in here: the 1364-byte (and 272-byte) fragment payloads, which the
//! description elides as `<1364 bytes>` (generated with [`filler`]), and the two later fragments
//! of the reliable packet, which the description gives only as field values (so their `sentTime`
//! is taken from fragment 0).

use super::*;

/// A captured datagram.
pub(crate) struct Fixture {
    /// File-name friendly; the fuzz seed corpus uses `seed-<name>`.
    pub name: &'static str,
    /// Hex of the datagram; whitespace is ignored.
    pub hex: &'static str,
    /// Bytes of [`filler`] appended to `hex` (elided fragment payloads).
    pub filler: usize,
    /// A 4-byte CRC-32 follows the header (19.2).
    pub checksum: bool,
}

impl Fixture {
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = hex(self.hex);
        v.extend(filler(self.filler));
        v
    }
}

const fn plain(name: &'static str, hex: &'static str) -> Fixture {
    Fixture {
        name,
        hex,
        filler: 0,
        checksum: false,
    }
}

const fn crc(name: &'static str, hex: &'static str) -> Fixture {
    Fixture {
        name,
        hex,
        filler: 0,
        checksum: true,
    }
}

const fn fragment(name: &'static str, hex: &'static str, filler: usize) -> Fixture {
    Fixture {
        name,
        hex,
        filler,
        checksum: false,
    }
}

// 19.1: plain datagrams, connectID bytes 1a 4a 1d bf.
const CONNECT: Fixture = plain(
    "connect",
    "8fff 51b3 82ff0001 0000 ffff 00000570 00010000 00000002 00000000 00000000
     00001388 00000002 00000002 1a4a1dbf 12345678",
);
const VERIFY_CONNECT: Fixture = plain(
    "verify_connect",
    "8000 51b4 83ff0001 0000 0000 00000570 00010000 00000002 00000000 00000000
     00001388 00000002 00000002 1a4a1dbf",
);
const ACK_PING: Fixture = plain("ack_ping", "8000 51b5 01ff0001 0001 51b4 85ff0002");
const ACK_OF_PING: Fixture = plain("ack_of_ping", "0000 01ff0002 0002 51b5");
const THREE_PACKETS: Fixture = plain(
    "three_packets",
    "8000 52df 86000001 0005 68656c6c6f 07010000 0001 0005 756e72656c
     49010000 0001 0005 756e736571",
);
const RELIABLE_FRAGMENT_0: Fixture = fragment(
    "reliable_fragment_0",
    "8000 52df 88000002 0002 0554 00000003 00000000 00000bb8 00000000",
    1364,
);
const RELIABLE_FRAGMENT_2: Fixture = fragment(
    "reliable_fragment_2",
    "8000 52df 88000004 0002 0110 00000003 00000002 00000bb8 00000aa8",
    272,
);
const UNRELIABLE_FRAGMENT_0: Fixture = fragment(
    "unreliable_fragment_0",
    "0000 0c010000 0002 0554 00000003 00000000 00000bb8 00000000",
    1364,
);
const FOUR_ACKS: Fixture = plain(
    "four_acks",
    "0000 01000001 0001 52df 01000002 0002 52df 01000003 0003 52df 01000004 0004 52df",
);
const SERVER_PING: Fixture = plain("server_ping", "8000 53aa 85ff0002");
const ACK_OF_SERVER_PING: Fixture = plain("ack_of_server_ping", "0000 01ff0002000253aa");
const THROTTLE_PING: Fixture = plain(
    "throttle_configure_ping",
    "8000 540c 8bff0003 00000fa0 00000003 00000004 85ff0004",
);
const TWO_ACKS: Fixture = plain("two_acks", "0000 01ff00030003540c 01ff00040004540c");
const DISCONNECT: Fixture = plain("disconnect", "8000 54d5 84ff0005 0000abcd");
const ACK_OF_DISCONNECT: Fixture = plain("ack_of_disconnect", "0000 01ff0005000554d5");

// 19.2: CRC-32 checksums after the header, connectID bytes 4b d7 c1 a9.
const CRC_CONNECT: Fixture = crc(
    "crc_connect",
    "8fff 44c3 1ae52cdb 82ff0001 0000ffff 00000570 00010000 00000002 00000000 00000000
     00001388 00000002 00000002 4bd7c1a9 12345678",
);
const CRC_ACK_PING: Fixture = crc(
    "crc_ack_ping",
    "8000 44c5 1044b077 01ff0001000144c4 85ff0002",
);
const CRC_ACK: Fixture = crc("crc_ack", "0000 3197b7b7 01ff0002000244c5");

// 19.3: range coder. Whole datagrams, plus the decompressed command areas the description gives.
const COMPRESSED_CONNECT: Fixture = plain(
    "compressed_connect",
    "cfff 4913 837b88b1fdf1df576b939eeefcbc0a3e8a642656d33a9b2a47642ff8fe9efdf4",
);
const COMPRESSED_CONNECT_AREA: &str = "82ff0001 0000ffff 00000570 00010000 00000002 00000000
    00000000 00001388 00000002 00000002 5818ab32 12345678";
const UNCOMPRESSED_ACK_PING: Fixture = plain(
    "uncompressed_ack_ping",
    "8000 4915 01ff000100014914 85ff0002",
);
const COMPRESSED_FOUR_ACKS: Fixture = plain(
    "compressed_four_acks",
    "4000 01fefe24c54b4b9d836019d9438d86cc476a521cf7d1",
);
const COMPRESSED_FOUR_ACKS_AREA: &str =
    "01000001 00014a3f 01000002 00024a3f 01000003 00034a3f 01000004 00044a3f";
// 19.4: the CONNECT command used as range coder input (connectID aa 2a 48 91).
const RANGE_CODER_CONNECT_AREA: &str =
    "82ff00010000ffff00000570000100000000000200000000000000000000
    13880000000200000002aa2a489112345678";

/// Every datagram fixture, for the fuzz seed corpus and the blanket round-trip test.
pub(crate) const ALL: &[Fixture] = &[
    CONNECT,
    VERIFY_CONNECT,
    ACK_PING,
    ACK_OF_PING,
    THREE_PACKETS,
    RELIABLE_FRAGMENT_0,
    RELIABLE_FRAGMENT_2,
    UNRELIABLE_FRAGMENT_0,
    FOUR_ACKS,
    SERVER_PING,
    ACK_OF_SERVER_PING,
    THROTTLE_PING,
    TWO_ACKS,
    DISCONNECT,
    ACK_OF_DISCONNECT,
    CRC_CONNECT,
    CRC_ACK_PING,
    CRC_ACK,
    COMPRESSED_CONNECT,
    UNCOMPRESSED_ACK_PING,
    COMPRESSED_FOUR_ACKS,
];

/// Decodes hex, skipping ASCII whitespace. Test input only: panics on anything else.
pub(crate) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => panic!("not a hex digit: {:?}", b as char),
        })
        .collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
}

/// Stand-in for elided payload bytes: a non-repeating-looking but deterministic pattern.
pub(crate) fn filler(len: usize) -> impl Iterator<Item = u8> {
    (0..len).map(|i| (i.wrapping_mul(31) % 251) as u8)
}

type Parsed<'a> = (DatagramHeader, Vec<(CommandHeader, Command<'a>)>);

/// Parses a whole (uncompressed) datagram, requires every command to parse and the area to be
/// used up, then re-emits header, checksum bytes and commands and requires identical bytes.
fn parse_and_reemit(datagram: &[u8], checksum: bool) -> Parsed<'_> {
    let (header, header_len) = DatagramHeader::parse(datagram).unwrap();
    let area_start = header_len + if checksum { CHECKSUM_SIZE } else { 0 };
    let mut iter = CommandIter::new(&datagram[area_start..]);
    let commands: Vec<_> = iter.by_ref().map(Result::unwrap).collect();
    assert_eq!(
        area_start + iter.offset(),
        datagram.len(),
        "command area not used up"
    );

    let mut out = vec![0u8; datagram.len()];
    let mut pos = header.emit(&mut out).unwrap();
    assert_eq!(pos, header_len);
    out[pos..area_start].copy_from_slice(&datagram[pos..area_start]);
    pos = area_start;
    for (h, c) in &commands {
        pos += c.emit(h, &mut out[pos..]).unwrap();
    }
    assert_eq!(pos, datagram.len());
    assert_eq!(out, datagram, "re-emitted bytes differ");
    (header, commands)
}

fn parse_area(area: &[u8]) -> Vec<(CommandHeader, Command<'_>)> {
    let mut iter = CommandIter::new(area);
    let commands: Vec<_> = iter.by_ref().map(Result::unwrap).collect();
    assert_eq!(iter.offset(), area.len());
    let mut out = vec![0u8; area.len()];
    let mut pos = 0;
    for (h, c) in &commands {
        pos += c.emit(h, &mut out[pos..]).unwrap();
    }
    assert_eq!(out, area);
    commands
}

fn sent(peer_id: u16, sent_time: u16) -> DatagramHeader {
    DatagramHeader {
        peer_id,
        session_id: 0,
        compressed: false,
        sent_time: Some(sent_time),
    }
}

fn unsent(peer_id: u16) -> DatagramHeader {
    DatagramHeader {
        peer_id,
        session_id: 0,
        compressed: false,
        sent_time: None,
    }
}

fn hdr(command: u8, channel_id: u8, reliable_sequence_number: u16) -> CommandHeader {
    CommandHeader {
        command,
        channel_id,
        reliable_sequence_number,
    }
}

fn ack(channel: u8, seq: u16, sent_time: u16) -> (CommandHeader, Command<'static>) {
    (
        hdr(0x01, channel, seq),
        Command::Acknowledge {
            received_reliable_sequence_number: seq,
            received_sent_time: sent_time,
        },
    )
}

/// The handshake fields of 19.1: both session ids `session`, peer id 0, ENet's defaults.
fn handshake_19_1(session: u8, connect_id: [u8; 4]) -> VerifyConnect {
    VerifyConnect {
        outgoing_peer_id: 0,
        incoming_session_id: session,
        outgoing_session_id: session,
        mtu: 1392,
        window_size: 65536,
        channel_count: 2,
        incoming_bandwidth: 0,
        outgoing_bandwidth: 0,
        packet_throttle_interval: 5000,
        packet_throttle_acceleration: 2,
        packet_throttle_deceleration: 2,
        connect_id,
    }
}

/// The CONNECT of 19.1 (and of 19.2-19.4 with their connect ids): no session yet.
fn connect_19_1(connect_id: [u8; 4]) -> Connect {
    handshake_19_1(0xff, connect_id).with_data(0x1234_5678)
}

#[test]
fn hex_decoder_handles_whitespace_and_case() {
    assert_eq!(hex(" 0a FF\n10 "), vec![0x0a, 0xff, 0x10]);
    assert_eq!(hex(""), Vec::<u8>::new());
}

#[test]
fn every_fixture_has_its_captured_length() {
    let lengths: Vec<(&str, usize)> = ALL.iter().map(|f| (f.name, f.bytes().len())).collect();
    for (name, len) in [
        ("connect", 52),
        ("verify_connect", 48),
        ("ack_ping", 16),
        ("ack_of_ping", 10),
        ("three_packets", 41),
        ("reliable_fragment_0", 1392),
        ("reliable_fragment_2", 300),
        ("unreliable_fragment_0", 1390),
        ("four_acks", 34),
        ("crc_connect", 56),
        ("compressed_connect", 36),
        ("uncompressed_ack_ping", 16),
        ("compressed_four_acks", 24),
    ] {
        assert!(
            lengths.contains(&(name, len)),
            "{name} should be {len} bytes"
        );
    }
}

#[test]
fn every_uncompressed_fixture_round_trips() {
    for f in ALL {
        let bytes = f.bytes();
        let (header, _) = DatagramHeader::parse(&bytes).unwrap();
        if header.compressed {
            continue;
        }
        parse_and_reemit(&bytes, f.checksum);
    }
}

/// The payloads of the fragment fixtures (elided in the description).
fn fragment_payloads() -> (Vec<u8>, Vec<u8>) {
    (filler(1364).collect(), filler(272).collect())
}

/// Every uncompressed fixture with the header and the commands it must parse to (19.1, 19.2).
/// `f1364` and `f272` are [`fragment_payloads`].
fn parsed_fixtures<'a>(f1364: &'a [u8], f272: &'a [u8]) -> Vec<(&'static Fixture, Parsed<'a>)> {
    let fragment = |number, total_length, offset, data| Fragment {
        start_sequence_number: 2,
        fragment_count: 3,
        fragment_number: number,
        total_length,
        fragment_offset: offset,
        data,
    };
    let connect = |id| vec![(hdr(0x82, 0xff, 1), Command::Connect(connect_19_1(id)))];
    let ack_ping = |seq_time| vec![ack(0xff, 1, seq_time), (hdr(0x85, 0xff, 2), Command::Ping)];
    let verify = handshake_19_1(0, [0x1a, 0x4a, 0x1d, 0xbf]);
    let three_packets = vec![
        (hdr(0x86, 0, 1), Command::SendReliable { data: b"hello" }),
        (
            hdr(0x07, 1, 0),
            Command::SendUnreliable {
                unreliable_sequence_number: 1,
                data: b"unrel",
            },
        ),
        (
            hdr(0x49, 1, 0),
            Command::SendUnsequenced {
                unsequenced_group: 1,
                data: b"unseq",
            },
        ),
    ];
    let throttle_ping = vec![
        (
            hdr(0x8b, 0xff, 3),
            Command::ThrottleConfigure {
                packet_throttle_interval: 4000,
                packet_throttle_acceleration: 3,
                packet_throttle_deceleration: 4,
            },
        ),
        (hdr(0x85, 0xff, 4), Command::Ping),
    ];
    let max_peer = PROTOCOL_MAXIMUM_PEER_ID;
    vec![
        (
            &CONNECT,
            (sent(max_peer, 0x51b3), connect([0x1a, 0x4a, 0x1d, 0xbf])),
        ),
        (
            &VERIFY_CONNECT,
            (
                sent(0, 0x51b4),
                vec![(hdr(0x83, 0xff, 1), Command::VerifyConnect(verify))],
            ),
        ),
        (&ACK_PING, (sent(0, 0x51b5), ack_ping(0x51b4))),
        (&ACK_OF_PING, (unsent(0), vec![ack(0xff, 2, 0x51b5)])),
        (&THREE_PACKETS, (sent(0, 0x52df), three_packets)),
        (
            &RELIABLE_FRAGMENT_0,
            (
                sent(0, 0x52df),
                vec![(
                    hdr(0x88, 0, 2),
                    Command::SendFragment(fragment(0, 3000, 0, f1364)),
                )],
            ),
        ),
        (
            &RELIABLE_FRAGMENT_2,
            (
                sent(0, 0x52df),
                vec![(
                    hdr(0x88, 0, 4),
                    Command::SendFragment(fragment(2, 3000, 0xaa8, f272)),
                )],
            ),
        ),
        (
            &UNRELIABLE_FRAGMENT_0,
            (
                unsent(0),
                vec![(
                    hdr(0x0c, 1, 0),
                    Command::SendUnreliableFragment(fragment(0, 3000, 0, f1364)),
                )],
            ),
        ),
        (
            &FOUR_ACKS,
            (unsent(0), (1..=4).map(|seq| ack(0, seq, 0x52df)).collect()),
        ),
        (
            &SERVER_PING,
            (sent(0, 0x53aa), vec![(hdr(0x85, 0xff, 2), Command::Ping)]),
        ),
        (&ACK_OF_SERVER_PING, (unsent(0), vec![ack(0xff, 2, 0x53aa)])),
        (&THROTTLE_PING, (sent(0, 0x540c), throttle_ping)),
        (
            &TWO_ACKS,
            (unsent(0), vec![ack(0xff, 3, 0x540c), ack(0xff, 4, 0x540c)]),
        ),
        (
            &DISCONNECT,
            (
                sent(0, 0x54d5),
                vec![(hdr(0x84, 0xff, 5), Command::Disconnect { data: 0xabcd })],
            ),
        ),
        (&ACK_OF_DISCONNECT, (unsent(0), vec![ack(0xff, 5, 0x54d5)])),
        (
            &CRC_CONNECT,
            (sent(max_peer, 0x44c3), connect([0x4b, 0xd7, 0xc1, 0xa9])),
        ),
        (&CRC_ACK_PING, (sent(0, 0x44c5), ack_ping(0x44c4))),
        (&CRC_ACK, (unsent(0), vec![ack(0xff, 2, 0x44c5)])),
        (&UNCOMPRESSED_ACK_PING, (sent(0, 0x4915), ack_ping(0x4914))),
    ]
}

#[test]
fn every_uncompressed_fixture_parses_to_its_captured_fields() {
    let (f1364, f272) = fragment_payloads();
    let expected = parsed_fixtures(&f1364, &f272);
    // Every uncompressed fixture is in the table.
    let names: Vec<&str> = expected.iter().map(|(f, _)| f.name).collect();
    for f in ALL {
        let compressed = DatagramHeader::parse(&f.bytes()).unwrap().0.compressed;
        assert_eq!(names.contains(&f.name), !compressed, "{}", f.name);
    }
    for (f, parsed) in &expected {
        let bytes = f.bytes();
        assert_eq!(&parse_and_reemit(&bytes, f.checksum), parsed, "{}", f.name);
    }
}

#[test]
fn command_flags_checksums_and_sizes_of_the_captures() {
    let commands = |f: &Fixture| -> Vec<CommandHeader> {
        let bytes = f.bytes();
        parse_and_reemit(&bytes, f.checksum)
            .1
            .iter()
            .map(|c| c.0)
            .collect()
    };
    let connect = commands(&CONNECT)[0];
    assert!(connect.is_acknowledge() && !connect.is_unsequenced());
    assert_eq!(connect.number(), Some(CommandNumber::Connect));
    let ack_ping = commands(&ACK_PING);
    assert!(!ack_ping[0].is_acknowledge());
    assert!(ack_ping[1].is_acknowledge());
    let unsequenced = commands(&THREE_PACKETS)[2];
    assert!(unsequenced.is_unsequenced() && !unsequenced.is_acknowledge());
    assert!(commands(&DISCONNECT)[0].is_acknowledge());
    // 1392 = mtu: 4 header + 24 fragment + 1364 payload; the three fragments add up to the
    // packet.
    assert_eq!(RELIABLE_FRAGMENT_0.bytes().len(), 1392);
    assert_eq!(0xaa8 + 272, 3000);
    // The checksums sit right after the header.
    assert_eq!(CRC_CONNECT.bytes()[4..8], [0x1a, 0xe5, 0x2c, 0xdb]);
    assert_eq!(CRC_ACK.bytes()[2..6], [0x31, 0x97, 0xb7, 0xb7]);
}

#[test]
fn compressed_headers_and_their_decompressed_areas() {
    let bytes = COMPRESSED_CONNECT.bytes();
    let (header, len) = DatagramHeader::parse(&bytes).unwrap();
    assert_eq!(len, 4);
    assert_eq!(
        header,
        DatagramHeader {
            compressed: true,
            ..sent(PROTOCOL_MAXIMUM_PEER_ID, 0x4913)
        }
    );
    let mut out = [0u8; 4];
    assert_eq!(header.emit(&mut out), Some(4));
    assert_eq!(out[..], bytes[..4]);

    let bytes = COMPRESSED_FOUR_ACKS.bytes();
    let (header, len) = DatagramHeader::parse(&bytes).unwrap();
    assert_eq!(
        (header, len),
        (
            DatagramHeader {
                compressed: true,
                ..unsent(0)
            },
            2
        )
    );
    let mut out = [0u8; 2];
    assert_eq!(header.emit(&mut out), Some(2));
    assert_eq!(out, [0x40, 0x00]);

    let connect = |id| vec![(hdr(0x82, 0xff, 1), Command::Connect(connect_19_1(id)))];
    for (area, commands) in [
        (COMPRESSED_CONNECT_AREA, connect([0x58, 0x18, 0xab, 0x32])),
        (
            COMPRESSED_FOUR_ACKS_AREA,
            (1..=4).map(|seq| ack(0, seq, 0x4a3f)).collect(),
        ),
        (RANGE_CODER_CONNECT_AREA, connect([0xaa, 0x2a, 0x48, 0x91])),
    ] {
        assert_eq!(parse_area(&hex(area)), commands, "{area}");
    }
}

#[test]
fn every_prefix_of_every_fixture_is_safe() {
    for f in ALL {
        let bytes = f.bytes();
        for cut in 0..bytes.len() {
            let prefix = &bytes[..cut];
            let Ok((_, len)) = DatagramHeader::parse(prefix) else {
                assert!(cut < 4);
                continue;
            };
            // A cut datagram parses its whole commands, then ends or fails: never panics, and
            // never reads beyond the prefix.
            let area = prefix.get(len..).unwrap_or_default();
            for (_, c) in CommandIter::new(area).flatten() {
                assert!(c.wire_len() <= cut);
            }
        }
    }
}

/// Writes the fixtures as the fuzz seed corpus. Run after changing them:
/// `cargo test -p rust_enet_proto --lib write_fuzz_seed_corpus -- --ignored`.
#[test]
#[ignore = "writes files into fuzz/corpus"]
fn write_fuzz_seed_corpus() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/parse_datagram");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ALL {
        std::fs::write(dir.join(format!("seed-{}", f.name)), f.bytes()).unwrap();
    }
}
