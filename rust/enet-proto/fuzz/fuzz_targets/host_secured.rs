//! `host_datagrams` with checksums and range-coder compression on both hosts: the input's
//! datagrams are plain ENet datagrams (the same record format and seeds), which the target
//! compresses and checksums as a real peer would (`rust_enet_proto_fuzz::seal`) unless the
//! record's clock byte is odd, in which case the bytes go in raw, so the range decoder and the
//! checksum check see garbage too.
//!
//! Checks: no panic, every emitted datagram has a valid header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_enet_proto_fuzz::{CLIENT, Pair, STRANGER, records, seal};

fuzz_target!(|input: &[u8]| {
    let mut pair = Pair::connected_with(true);
    for record in records(input).take(64) {
        pair.step(record.advance_ms);
        let from = if record.from_stranger {
            STRANGER
        } else {
            CLIENT
        };
        let sealed = (record.advance_ms & 1 == 0)
            .then(|| seal(record.datagram))
            .flatten();
        pair.to_server(from, sealed.as_deref().unwrap_or(record.datagram));
        pair.pump();
    }
    for _ in 0..4 {
        pair.step(1_000);
        pair.pump();
    }
});
