//! Unit tests of command parsing and emitting: round trips, truncation, unknown numbers,
//! `dataLength` overruns and emit-side limits.

use super::*;

const ACK: u8 = COMMAND_FLAG_ACKNOWLEDGE;

/// One instance of each command, with distinct non-zero values in every field so that a
/// swapped or misplaced field shows up.
fn samples(payload: &[u8]) -> [(CommandHeader, Command<'_>); 12] {
    let verify = VerifyConnect {
        outgoing_peer_id: 0x0123,
        incoming_session_id: 0x45,
        outgoing_session_id: 0x67,
        mtu: 0x0102_0304,
        window_size: 0x0506_0708,
        channel_count: 0x090a_0b0c,
        incoming_bandwidth: 0x0d0e_0f10,
        outgoing_bandwidth: 0x1112_1314,
        packet_throttle_interval: 0x1516_1718,
        packet_throttle_acceleration: 0x191a_1b1c,
        packet_throttle_deceleration: 0x1d1e_1f20,
        connect_id: [0xde, 0xad, 0xbe, 0xef],
    };
    let connect = verify.with_data(0x2122_2324);
    let fragment = Fragment {
        start_sequence_number: 0xa1a2,
        fragment_count: 0xb1b2_b3b4,
        fragment_number: 0xc1c2_c3c4,
        total_length: 0xd1d2_d3d4,
        fragment_offset: 0xe1e2_e3e4,
        data: payload,
    };
    let h = |n, flags, ch| CommandHeader::new(n, flags, ch, 0xf00d);
    use CommandNumber as N;
    [
        (
            h(N::Acknowledge, 0, 3),
            Command::Acknowledge {
                received_reliable_sequence_number: 0x1234,
                received_sent_time: 0x5678,
            },
        ),
        (
            h(N::Connect, ACK, CONTROL_CHANNEL),
            Command::Connect(connect),
        ),
        (
            h(N::VerifyConnect, ACK, CONTROL_CHANNEL),
            Command::VerifyConnect(verify),
        ),
        (
            h(N::Disconnect, COMMAND_FLAG_UNSEQUENCED, CONTROL_CHANNEL),
            Command::Disconnect { data: 0xabcd_ef01 },
        ),
        (h(N::Ping, ACK, CONTROL_CHANNEL), Command::Ping),
        (
            h(N::SendReliable, ACK, 0),
            Command::SendReliable { data: payload },
        ),
        (
            h(N::SendUnreliable, 0, 1),
            Command::SendUnreliable {
                unreliable_sequence_number: 0x9988,
                data: payload,
            },
        ),
        (h(N::SendFragment, ACK, 2), Command::SendFragment(fragment)),
        (
            h(N::SendUnsequenced, COMMAND_FLAG_UNSEQUENCED, 254),
            Command::SendUnsequenced {
                unsequenced_group: 0x7766,
                data: payload,
            },
        ),
        (
            h(N::BandwidthLimit, ACK, CONTROL_CHANNEL),
            Command::BandwidthLimit {
                incoming_bandwidth: 0x0011_2233,
                outgoing_bandwidth: 0x4455_6677,
            },
        ),
        (
            h(N::ThrottleConfigure, ACK, CONTROL_CHANNEL),
            Command::ThrottleConfigure {
                packet_throttle_interval: 4000,
                packet_throttle_acceleration: 3,
                packet_throttle_deceleration: 4,
            },
        ),
        (
            h(N::SendUnreliableFragment, 0, 1),
            Command::SendUnreliableFragment(fragment),
        ),
    ]
}

fn parse_all(area: &[u8]) -> Vec<Result<(CommandHeader, Command<'_>), ParseError>> {
    CommandIter::new(area).collect()
}

#[test]
fn number_tables_agree() {
    for n in 0..=u8::MAX {
        let number = CommandNumber::from_u8(n);
        assert_eq!(
            number.map(|c| c as u8),
            if (1..=12).contains(&n) { Some(n) } else { None }
        );
        assert_eq!(number.map(CommandNumber::fixed_size), command_size(n));
    }
    for (i, n) in CommandNumber::ALL.into_iter().enumerate() {
        assert_eq!(n as usize, i + 1);
    }
    // Table 4.1 of the protocol description, in number order.
    assert_eq!(
        CommandNumber::ALL.map(CommandNumber::fixed_size),
        [8, 48, 44, 8, 4, 6, 8, 24, 8, 12, 16, 24]
    );
}

#[test]
fn header_helpers_read_the_command_byte() {
    let h = CommandHeader {
        command: 0x82,
        channel_id: 0xff,
        reliable_sequence_number: 1,
    };
    assert_eq!(h.number(), Some(CommandNumber::Connect));
    assert!(h.is_acknowledge() && !h.is_unsequenced());
    assert_eq!(h.flags(), 0x80);
    let h = CommandHeader { command: 0x49, ..h };
    assert_eq!(h.number(), Some(CommandNumber::SendUnsequenced));
    assert!(!h.is_acknowledge() && h.is_unsequenced());
    assert_eq!(CommandHeader { command: 0xf0, ..h }.number(), None);
    assert_eq!(
        CommandHeader::new(CommandNumber::Ping, 0x8f, 0xff, 2).command,
        0x85
    );
}

#[test]
fn every_command_round_trips_with_and_without_payload() {
    for payload in [&b""[..], b"x", b"hello world"] {
        for (header, command) in samples(payload) {
            let mut buf = [0u8; 128];
            let len = command.emit(&header, &mut buf).unwrap();
            assert_eq!(len, command.wire_len());
            assert_eq!(
                len,
                command.number().fixed_size()
                    + payload.len() * usize::from(command.number().has_payload())
            );
            let mut it = CommandIter::new(&buf[..len]);
            assert_eq!(it.next(), Some(Ok((header, command))));
            assert_eq!(it.offset(), len);
            assert_eq!(it.next(), None);
            assert_eq!(command.data().len(), len - command.number().fixed_size());
        }
    }
}

#[test]
fn all_commands_back_to_back_parse_in_order() {
    let mut buf = [0u8; 1024];
    let mut len = 0;
    for (header, command) in samples(b"payload") {
        len += command.emit(&header, &mut buf[len..]).unwrap();
    }
    let parsed: Vec<_> = parse_all(&buf[..len])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(parsed, samples(b"payload"));
}

#[test]
fn every_truncation_point_is_an_error_or_a_quiet_end() {
    for (header, command) in samples(b"abc") {
        let mut buf = [0u8; 128];
        let len = command.emit(&header, &mut buf).unwrap();
        let fixed = command.number().fixed_size();
        for cut in 0..len {
            let result = parse_all(&buf[..cut]);
            let expected = if cut < CommandHeader::LEN {
                vec![]
            } else if cut < fixed {
                vec![Err(ParseError::Truncated { offset: 0 })]
            } else {
                vec![Err(ParseError::PayloadOverrun { len: 3, offset: 0 })]
            };
            assert_eq!(result, expected, "{:?} cut at {cut}", command.number());
        }
    }
}

#[test]
fn truncation_after_a_good_command_reports_its_offset() {
    let mut buf = [0u8; 64];
    let (ph, ping) = samples(b"")[4];
    let (ah, ack) = samples(b"")[0];
    let n = ping.emit(&ph, &mut buf).unwrap();
    let m = ack.emit(&ah, &mut buf[n..]).unwrap();
    let mut it = CommandIter::new(&buf[..n + m - 1]);
    assert_eq!(it.next(), Some(Ok((ph, ping))));
    assert_eq!(it.next(), Some(Err(ParseError::Truncated { offset: 4 })));
    assert_eq!(it.offset(), 4);
    assert_eq!(it.next(), None);
    assert_eq!(it.next(), None);
}

#[test]
fn short_tail_ends_quietly() {
    // PING then 1..=3 stray bytes: ENet stops without treating it as an error.
    for tail in 1..=3 {
        let mut area = vec![0x85, 0xff, 0x00, 0x02];
        area.extend(std::iter::repeat_n(0xee, tail));
        let mut it = CommandIter::new(&area);
        assert!(matches!(it.next(), Some(Ok((_, Command::Ping)))));
        assert_eq!(it.next(), None);
        assert_eq!(it.offset(), 4);
    }
    assert_eq!(parse_all(&[]), vec![]);
}

#[test]
fn unknown_numbers_stop_parsing() {
    for byte in [0x00u8, 0x80, 0x40, 0x0d, 0x0e, 0x0f, 0x8d, 0xff, 0x30] {
        let area = [
            0x85, 0xff, 0x00, 0x02, byte, 0xff, 0, 0, 0, 0, 0, 0, 0x85, 0xff, 0, 3,
        ];
        let mut it = CommandIter::new(&area);
        assert!(matches!(it.next(), Some(Ok((_, Command::Ping)))));
        assert_eq!(
            it.next(),
            Some(Err(ParseError::UnknownCommand {
                number: byte & 0x0f,
                offset: 4
            }))
        );
        assert_eq!(it.next(), None);
    }
}

#[test]
fn unused_flag_bits_are_kept_and_re_emitted() {
    let area = [0xb5, 0xff, 0x00, 0x02];
    let (h, c) = CommandIter::new(&area).next().unwrap().unwrap();
    assert_eq!(h.command, 0xb5);
    assert_eq!(c, Command::Ping);
    let mut buf = [0u8; 4];
    assert_eq!(c.emit(&h, &mut buf), Some(4));
    assert_eq!(buf, area);
}

#[test]
fn data_length_overrun_is_reported_and_exact_fit_is_accepted() {
    // SEND_RELIABLE with dataLength 5: 5 bytes fit exactly, 4 overrun.
    let area = [
        0x86, 0x00, 0x00, 0x01, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o',
    ];
    let parsed = parse_all(&area);
    assert_eq!(parsed.len(), 1);
    assert_eq!(
        parsed[0].unwrap().1,
        Command::SendReliable { data: b"hello" }
    );
    assert_eq!(
        parse_all(&area[..10]),
        vec![Err(ParseError::PayloadOverrun { len: 5, offset: 0 })]
    );
    // The largest dataLength, far past the end.
    let area = [0x07, 0x01, 0, 0, 0, 1, 0xff, 0xff, 1, 2, 3];
    assert_eq!(
        parse_all(&area),
        vec![Err(ParseError::PayloadOverrun {
            len: 0xffff,
            offset: 0
        })]
    );
}

#[test]
fn emit_refuses_short_buffers_and_oversized_payloads() {
    for (header, command) in samples(b"abc") {
        let len = command.wire_len();
        for short in 0..len {
            let mut buf = vec![0u8; short];
            assert_eq!(
                command.emit(&header, &mut buf),
                None,
                "{:?}",
                command.number()
            );
        }
    }
    let big = vec![0u8; 0x1_0000];
    let c = Command::SendReliable { data: &big };
    let h = CommandHeader::new(CommandNumber::SendReliable, ACK, 0, 1);
    let mut buf = vec![0u8; 0x2_0000];
    assert_eq!(c.emit(&h, &mut buf), None);
    let c = Command::SendReliable { data: &big[1..] };
    assert_eq!(c.emit(&h, &mut buf), Some(0xffff + 6));
    assert_eq!(buf[4..6], [0xff, 0xff]);
}

#[test]
fn emit_takes_the_number_from_the_body_and_flags_from_the_header() {
    let h = CommandHeader {
        command: 0xc3,
        channel_id: 7,
        reliable_sequence_number: 9,
    };
    let mut buf = [0u8; 8];
    assert_eq!(Command::Disconnect { data: 1 }.emit(&h, &mut buf), Some(8));
    assert_eq!(buf, [0xc4, 7, 0, 9, 0, 0, 0, 1]);
}
