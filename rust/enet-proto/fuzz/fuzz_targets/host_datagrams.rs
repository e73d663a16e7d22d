//! Arbitrary datagrams fed to a server `Host` that has a real, in-memory connection to a client
//! `Host`. Input: records of `ctrl u8 | len u16 BE | datagram` (see `rust_enet_proto_fuzz::records`):
//! the clock advances by `ctrl & 0x7f` ms, the datagram is handed to the server as coming from the
//! client (or from a stranger if `ctrl & 0x80`), then both hosts run their timers and exchange
//! whatever they produce until quiet. At the end the clock runs on for a few seconds so retransmit,
//! ping and timeout paths run too.
//!
//! Checks: no panic (build with `cargo fuzz run -a` so integer overflow checks and debug
//! assertions are on), and every datagram either host emits parses completely with the wire
//! parser (`rust_enet_proto_fuzz::assert_well_formed`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_enet_proto_fuzz::{Pair, run_records};

fuzz_target!(|input: &[u8]| {
    run_records(&mut Pair::connected(), input, |_| None);
});
