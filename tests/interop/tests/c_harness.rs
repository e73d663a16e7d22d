//! The C peer harness itself: two C ENet processes talking to each other through the line
//! protocol, and the C range coder and CRC-32 as oracles for ours.

use std::time::Duration;

use rust_enet_interop::{CEvent, CPeer, fnv1a64, from_hex, pattern, to_hex};
use rust_enet_proto::compress::{Compressor, RangeCoder, crc32};

const WAIT: Duration = Duration::from_secs(5);

fn pair(options: &[&str]) -> (CPeer, CPeer, u16) {
    let mut server = CPeer::spawn().expect("spawn server");
    let mut client = CPeer::spawn().expect("spawn client");
    for option in options {
        server.command(option).unwrap();
        client.command(option).unwrap();
    }
    let port = server.server(0, 4, 4).unwrap();
    server.auto_service(true).unwrap();
    client.client(port, 4, 0x1234_5678).unwrap();
    client.auto_service(true).unwrap();
    expect_next(&mut client, CEvent::Connect { peer: 0, data: 0 });
    let accepted = CEvent::Connect {
        peer: 0,
        data: 0x1234_5678,
    };
    expect_next(&mut server, accepted);
    (server, client, port)
}

/// Waits for `peer`'s next event of the kind of `want` (connect, receive or disconnect; others
/// stay queued) and checks that it is `want`.
fn expect_next(peer: &mut CPeer, want: CEvent) {
    let kind = std::mem::discriminant(&want);
    let got = peer
        .wait_event(WAIT, |e| std::mem::discriminant(e) == kind)
        .unwrap();
    assert_eq!(got, want);
}

/// Wait for the receive event carrying exactly `payload` on `channel`; other receive events
/// (late copies of retried unreliable sends) are skipped.
fn expect_receive(peer: &mut CPeer, channel: u8, payload: &[u8]) -> bool {
    let want = fnv1a64(payload);
    let found = peer.wait_event(WAIT, |e| {
        matches!(e, CEvent::Receive { channel: ch, len, hash, .. }
            if *ch == channel && *len == payload.len() && *hash == want)
    });
    match found {
        Ok(CEvent::Receive { prefix, .. }) => {
            assert_eq!(prefix, payload[..payload.len().min(32)]);
            true
        }
        _ => false,
    }
}

/// Unreliable packets may be dropped by the sender's packet throttle, even on loopback: retry.
fn send_until_received(from: &mut CPeer, to: &mut CPeer, channel: u8, kind: &str, payload: &[u8]) {
    for _ in 0..5 {
        from.send(0, channel, kind, payload).unwrap();
        if expect_receive(to, channel, payload) {
            return;
        }
    }
    panic!("{kind} packet never arrived: {:?}", to.transcript_tail());
}

fn exchange_all_kinds(options: &[&str]) {
    let (mut server, mut client, _) = pair(options);
    let big = pattern(9, 100 * 1024);
    let frag = pattern(3, 3000);
    client.send(0, 0, "reliable", b"hello").unwrap();
    assert!(expect_receive(&mut server, 0, b"hello"));
    send_until_received(&mut client, &mut server, 1, "unreliable", b"unrel");
    send_until_received(&mut client, &mut server, 2, "unsequenced", b"unseq");
    send_until_received(&mut client, &mut server, 1, "unreliable_fragment", &frag);
    send_until_received(&mut server, &mut client, 3, "unreliable_fragment", &frag);
    client.send(0, 3, "reliable", &big).unwrap();
    assert!(expect_receive(&mut server, 3, &big));
    server.send(0, 2, "reliable", &big).unwrap();
    assert!(expect_receive(&mut client, 2, &big));

    client.command("disconnect 0 43981").unwrap();
    let gone = CEvent::Disconnect {
        peer: 0,
        data: 0xABCD,
    };
    expect_next(&mut server, gone);
    expect_next(&mut client, CEvent::Disconnect { peer: 0, data: 0 });
}

#[test]
fn c_client_and_c_server_exchange_every_delivery_kind() {
    exchange_all_kinds(&[]);
}

#[test]
fn c_pair_with_checksum_and_range_coder() {
    exchange_all_kinds(&["checksum on", "compress range"]);
}

#[test]
fn c_range_coder_agrees_with_ours_byte_for_byte() {
    let mut c = CPeer::spawn().unwrap();
    let mut ours = RangeCoder::new();
    let mut rng = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![0x55; 9000],
        (0..12_000u32).map(|i| (i % 253) as u8).collect(),
    ];
    for _ in 0..80 {
        let len = 1 + (next() % 6000) as usize;
        let alphabet = [2u64, 3, 16, 64, 256][(next() % 5) as usize];
        inputs.push((0..len).map(|_| (next() % alphabet) as u8).collect());
    }
    let mut packed = vec![0u8; 32 * 1024];
    let mut unpacked = vec![0u8; 16 * 1024];
    for input in &inputs {
        let reply = c
            .command(&format!("rc_compress {}", to_hex(input)))
            .unwrap();
        let theirs = from_hex(reply.split_whitespace().nth(1).unwrap()).unwrap();
        // The C peer calls with outLimit = input length + slack; compare whatever fits ours too.
        let len = ours.compress(&[input], &mut packed).unwrap();
        assert_eq!(
            to_hex(&packed[..len]),
            to_hex(&theirs),
            "input len {}",
            input.len()
        );

        // Corrupt the stream and compare the decoders' outputs (or failures) too.
        let mut broken = theirs.clone();
        let at = (next() as usize) % broken.len();
        broken[at] ^= 1 << (next() % 8);
        broken.truncate(broken.len() - (next() as usize % 3).min(broken.len() - 1));
        let reply = c
            .command(&format!("rc_decompress {} 4096", to_hex(&broken)))
            .unwrap();
        let theirs = from_hex(reply.split_whitespace().nth(1).unwrap()).unwrap();
        let ours_out = ours.decompress(&broken, &mut unpacked[..4096]).unwrap_or(0);
        assert_eq!(
            to_hex(&unpacked[..ours_out]),
            to_hex(&theirs),
            "corrupted stream"
        );
    }
}

#[test]
fn c_crc32_agrees_with_ours() {
    let mut c = CPeer::spawn().unwrap();
    for len in [0usize, 1, 9, 100, 1500] {
        let data = pattern(len as u8, len);
        let reply = c
            .command(&format!("crc32 {}", rust_enet_interop::payload_arg(&data)))
            .unwrap();
        let theirs = u32::from_str_radix(reply.split_whitespace().nth(1).unwrap(), 16).unwrap();
        assert_eq!(crc32(&[&data]), theirs);
    }
}
