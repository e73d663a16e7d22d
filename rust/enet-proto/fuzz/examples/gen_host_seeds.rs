//! Writes the seed corpus of the `host_datagrams` target: what a real client sends to the server
//! of a fresh [`Pair`] after the handshake, one scenario per file.
//!
//! Run from `rust/enet-proto/fuzz`: `cargo run --example gen_host_seeds`.

use std::path::Path;

use rust_enet_proto::host::MINIMUM_TRANSMIT_BUFFER;
use rust_enet_proto::{EnetTime, Host, HostConfig, Packet, PacketFlags};
use rust_enet_proto_fuzz::{Pair, Record, SERVER, encode_records};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/host_datagrams");
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    type Scenario = fn(&mut Pair);
    let scenarios: [(&str, Scenario); 7] = [
        ("reliable", |p| {
            send(p, 0, Packet::reliable(&b"hello"[..]));
        }),
        ("three_kinds", |p| {
            send(p, 0, Packet::reliable(&b"hello"[..]));
            send(p, 1, Packet::unreliable(&b"unrel"[..]));
            send(p, 1, Packet::unsequenced(&b"unseq"[..]));
        }),
        ("reliable_fragments", |p| {
            send(p, 0, Packet::reliable(vec![0xab; 3000]));
        }),
        ("unreliable_fragments", |p| {
            send(
                p,
                1,
                Packet::new(vec![0xcd; 3000], PacketFlags::UNRELIABLE_FRAGMENT),
            );
        }),
        ("throttle_ping", |p| {
            let peer = p.client_peer;
            p.client.throttle_configure(peer, 4000, 3, 4);
            p.client.ping(peer);
        }),
        ("disconnect", |p| {
            let peer = p.client_peer;
            p.client.disconnect(peer, 0xabcd);
        }),
        ("empty", |_| {}),
    ];
    for (name, scenario) in scenarios {
        let mut pair = Pair::connected();
        scenario(&mut pair);
        let datagrams = pair.take_client_datagrams();
        let records: Vec<Record<'_>> = datagrams
            .iter()
            .map(|d| Record {
                advance_ms: 5,
                from_stranger: false,
                datagram: d,
            })
            .collect();
        let path = dir.join(format!("seed-{name}"));
        std::fs::write(&path, encode_records(&records)).expect("write seed");
        println!("{}: {} datagrams", path.display(), datagrams.len());
    }

    // A second client, at another address, asking the server for a connection.
    let mut stranger = Host::new(HostConfig {
        peer_limit: 1,
        seed: 3,
        ..HostConfig::default()
    })
    .expect("valid config");
    let pair = Pair::connected();
    stranger
        .connect(EnetTime(pair.now), SERVER, 1, 7)
        .expect("free slot");
    let mut buf = vec![0; MINIMUM_TRANSMIT_BUFFER];
    let t = stranger
        .poll_transmit(EnetTime(pair.now), &mut buf)
        .expect("a CONNECT");
    let record = Record {
        advance_ms: 5,
        from_stranger: true,
        datagram: &buf[..t.len],
    };
    let path = dir.join("seed-stranger_connect");
    std::fs::write(&path, encode_records(&[record])).expect("write seed");
    println!("{}: 1 datagram", path.display());
}

fn send(pair: &mut Pair, channel: u8, packet: Packet) {
    let peer = pair.client_peer;
    pair.client.send(peer, channel, packet).expect("send");
}
