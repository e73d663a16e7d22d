//! Replays `host_datagrams` inputs (seeds or crash artifacts) without the fuzzer and prints what
//! the hosts report, for debugging.
//!
//! Run from `rust/enet-proto/fuzz`: `cargo run --example replay_host -- <file>...`.

use rust_enet_proto_fuzz::{CLIENT, Pair, STRANGER, records};

fn main() {
    for path in std::env::args().skip(1) {
        let input = std::fs::read(&path).expect("read input");
        println!("== {path}");
        let mut pair = Pair::connected();
        for record in records(&input).take(64) {
            pair.step(record.advance_ms);
            let from = if record.from_stranger {
                STRANGER
            } else {
                CLIENT
            };
            println!("t={} {} bytes from {from}", pair.now, record.datagram.len());
            pair.to_server(from, record.datagram);
            print_events(pair.pump());
        }
        for _ in 0..4 {
            pair.step(1_000);
            print_events(pair.pump());
        }
        println!("server statistics: {:?}", pair.server.statistics());
    }
}

fn print_events((server, client): (Vec<rust_enet_proto::Event>, Vec<rust_enet_proto::Event>)) {
    for e in server {
        println!("  server: {e:?}");
    }
    for e in client {
        println!("  client: {e:?}");
    }
}
