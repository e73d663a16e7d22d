//! The DTLS record path of the driver: a server and a client with a finished DTLS 1.2
//! handshake (`rust_enet_net::dtls_fuzzing::DtlsPair`), then the input's records (the
//! `host_datagrams` format: `ctrl u8 | len u16 BE | bytes`), each after `(ctrl >> 2) & 31` ms:
//! - `ctrl & 3 == 0`: the bytes to the server from the client's address (garbage inside an
//!   established session);
//! - `1`: the bytes to the server from a stranger (ClientHello and cookie path);
//! - `2`: the client encrypts the bytes after the first two, then byte `b0 % len` of its record
//!   is XORed with `b1` (zero: untouched) and the record goes to the server (tampered records);
//! - `3`: the bytes to the client from the server's address.
//!
//! Checks: nothing panics; an untampered record that comes first is delivered to the server.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rust_enet_net::dtls_fuzzing::{CLIENT, DtlsPair, STRANGER};
use rust_enet_proto_fuzz::records;

fn identity() -> &'static (String, String) {
    static IDENTITY: OnceLock<(String, String)> = OnceLock::new();
    IDENTITY.get_or_init(rust_enet_proto_fuzz::self_signed_identity)
}

fuzz_target!(|input: &[u8]| {
    let (cert, key) = identity();
    let Some(mut pair) = DtlsPair::connected(cert, key) else {
        panic!("the in-memory DTLS handshake did not finish");
    };
    for (n, record) in records(input).take(32).enumerate() {
        let ctrl = record.advance_ms as u8 | if record.from_stranger { 0x80 } else { 0 };
        pair.advance(u64::from((ctrl >> 2) & 31));
        let bytes = record.datagram;
        match ctrl & 3 {
            0 => pair.to_server(CLIENT, bytes),
            1 => pair.to_server(STRANGER, bytes),
            2 => {
                let [at, flip, plaintext @ ..] = bytes else {
                    continue;
                };
                let before = pair.delivered.0;
                for mut rec in pair.client_records(plaintext) {
                    if *flip != 0 && !rec.is_empty() {
                        let i = usize::from(*at) % rec.len();
                        rec[i] ^= flip;
                    }
                    pair.to_server(CLIENT, &rec);
                }
                // Later records may have ended the session (an alert is legitimate input).
                if n == 0 && *flip == 0 && !plaintext.is_empty() {
                    assert!(
                        pair.delivered.0 > before,
                        "an intact record was not delivered"
                    );
                }
            }
            _ => pair.to_client(bytes),
        }
        pair.pump();
    }
});
