//! Arbitrary bytes as an ENet datagram: header, then the command area read both without and with
//! a 4-byte checksum after the header (both ends agree on checksums out of band, so a receiver may
//! be configured either way).
//!
//! Checks, beyond "no panic": the header re-emits to its own bytes; every command the iterator
//! yields re-emits to exactly the bytes it was parsed from; offsets only grow and stay in bounds;
//! nothing follows an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_enet_proto::wire::{CHECKSUM_SIZE, CommandIter, DatagramHeader};

fuzz_target!(|datagram: &[u8]| {
    check(datagram, false);
    check(datagram, true);
});

fn check(datagram: &[u8], checksum: bool) {
    let Ok((header, header_len)) = DatagramHeader::parse(datagram) else {
        assert!(datagram.len() < DatagramHeader::MAX_LEN);
        return;
    };
    assert_eq!(header_len, header.len());
    let mut out = [0u8; DatagramHeader::MAX_LEN];
    assert_eq!(header.emit(&mut out), Some(header_len));
    assert_eq!(out[..header_len], datagram[..header_len]);

    let start = header_len + if checksum { CHECKSUM_SIZE } else { 0 };
    let area = datagram.get(start..).unwrap_or_default();
    // A command parsed from the area is never longer than the area.
    let mut scratch = vec![0u8; area.len()];
    let mut iter = CommandIter::new(area);
    let mut last = 0;
    while let Some(item) = iter.next() {
        match item {
            Ok((command_header, command)) => {
                let len = command.emit(&command_header, &mut scratch).expect("fits");
                assert_eq!(len, command.wire_len());
                assert_eq!(iter.offset(), last + len);
                assert_eq!(scratch[..len], area[last..last + len], "re-emit differs");
                last = iter.offset();
            }
            Err(_) => {
                assert_eq!(iter.offset(), last);
                assert!(iter.next().is_none());
                break;
            }
        }
    }
    assert!(iter.offset() <= area.len());
}
