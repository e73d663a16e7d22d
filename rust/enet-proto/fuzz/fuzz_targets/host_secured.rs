//! `host_datagrams` with checksums and range-coder compression on both hosts: the input's
//! datagrams are plain ENet datagrams (the same record format and seeds), which the target
//! compresses and checksums as a real peer would (`rust_enet_proto_fuzz::seal`) unless the
//! record's clock byte is odd, in which case the bytes go in raw, so the range decoder and the
//! checksum check see garbage too.
//!
//! Checks: no panic, every emitted datagram has a valid header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_enet_proto_fuzz::{Pair, run_records, seal};

fuzz_target!(|input: &[u8]| {
    run_records(&mut Pair::connected_with(true), input, |record| {
        (record.advance_ms & 1 == 0)
            .then(|| seal(record.datagram))
            .flatten()
    });
});
