//! The ENet 1.3 wire format: datagram header, optional checksum, and the twelve commands.
//!
//! Representations are plain structs and enums; `parse` checks every length before it reads,
//! `emit` writes into a caller-provided buffer. Multi-byte fields are big-endian except
//! `connect_id`, which ENet copies verbatim and which is kept here as four opaque bytes.
//!
//! This module is the contract shared by the host state machine, the fuzz targets and the tests:
//! `header.rs` for the datagram header, `command.rs` for commands, `fixtures.rs` for the byte
//! fixtures captured from upstream ENet (protocol description section 19).
//!
//! Receiving a datagram: [`DatagramHeader::parse`] gives the header and its length; the host
//! skips the checksum if it uses one ([`CHECKSUM_SIZE`]), decompresses if the header says so,
//! then walks the command area with [`CommandIter`]. Sending: [`DatagramHeader::emit`], then
//! [`Command::emit`] for each command. Nothing here allocates or panics on any input.

mod command;
#[cfg(test)]
mod command_tests;
#[cfg(test)]
mod fixtures;
mod header;

pub use command::{
    Command, CommandHeader, CommandIter, CommandNumber, Connect, Fragment, ParseError,
    VerifyConnect, command_size,
};
pub use header::{DatagramHeader, HeaderError};

/// `ENET_PROTOCOL_MINIMUM_MTU`: MTU values received are clamped up to this.
pub const PROTOCOL_MINIMUM_MTU: u32 = 576;
/// `ENET_PROTOCOL_MAXIMUM_MTU`: MTU values received are clamped down to this; receive buffer size.
pub const PROTOCOL_MAXIMUM_MTU: u32 = 4096;
/// `ENET_PROTOCOL_MAXIMUM_PACKET_COMMANDS`: commands a sender packs into one datagram at most.
pub const PROTOCOL_MAXIMUM_PACKET_COMMANDS: usize = 32;
/// `ENET_PROTOCOL_MINIMUM_WINDOW_SIZE`.
pub const PROTOCOL_MINIMUM_WINDOW_SIZE: u32 = 4096;
/// `ENET_PROTOCOL_MAXIMUM_WINDOW_SIZE`.
pub const PROTOCOL_MAXIMUM_WINDOW_SIZE: u32 = 65536;
/// `ENET_PROTOCOL_MINIMUM_CHANNEL_COUNT`.
pub const PROTOCOL_MINIMUM_CHANNEL_COUNT: usize = 1;
/// `ENET_PROTOCOL_MAXIMUM_CHANNEL_COUNT`: data channels are 0..=254.
pub const PROTOCOL_MAXIMUM_CHANNEL_COUNT: usize = 255;
/// `ENET_PROTOCOL_MAXIMUM_PEER_ID`: also the "remote peer id not known yet" marker.
pub const PROTOCOL_MAXIMUM_PEER_ID: u16 = 0x0FFF;
/// `ENET_PROTOCOL_MAXIMUM_FRAGMENT_COUNT`.
pub const PROTOCOL_MAXIMUM_FRAGMENT_COUNT: u32 = 1024 * 1024;
/// Channel id of connection-control commands (CONNECT, VERIFY_CONNECT, DISCONNECT, PING, ...).
pub const CONTROL_CHANNEL: u8 = 0xFF;

/// Command byte bit 7: the command is reliable and must be acknowledged.
pub const COMMAND_FLAG_ACKNOWLEDGE: u8 = 0x80;
/// Command byte bit 6: set on SEND_UNSEQUENCED and on unreliable DISCONNECTs.
pub const COMMAND_FLAG_UNSEQUENCED: u8 = 0x40;
/// Low nibble of the command byte: the command number.
pub const COMMAND_MASK: u8 = 0x0F;

/// Header bit 15: the 2-byte `sentTime` field follows.
pub const HEADER_FLAG_SENT_TIME: u16 = 0x8000;
/// Header bit 14: the command area is compressed.
pub const HEADER_FLAG_COMPRESSED: u16 = 0x4000;
/// Header bits 12-13: session id.
pub const HEADER_SESSION_MASK: u16 = 0x3000;
/// Shift of the session id within the header's first field.
pub const HEADER_SESSION_SHIFT: u16 = 12;

/// Size of the checksum that follows the header when a host uses checksums.
pub const CHECKSUM_SIZE: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64: a tiny seeded generator so the random test is reproducible without crates.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses `datagram` the way a host would (optionally skipping a checksum) and checks the
    /// invariants that must hold for any input: no panic, offsets only grow and stay in bounds,
    /// an error ends the iteration, and each parsed command re-emits to exactly its own bytes.
    fn check_any_datagram(datagram: &[u8], checksum: bool) {
        let Ok((header, header_len)) = DatagramHeader::parse(datagram) else {
            assert!(datagram.len() < 4);
            return;
        };
        let mut out = [0u8; 4];
        assert_eq!(header.emit(&mut out), Some(header_len));
        assert_eq!(out[..header_len], datagram[..header_len]);

        let start = header_len + if checksum { CHECKSUM_SIZE } else { 0 };
        let area = datagram.get(start..).unwrap_or_default();
        let mut iter = CommandIter::new(area);
        let mut scratch = [0u8; 70_000];
        let mut last = 0;
        while let Some(item) = iter.next() {
            match item {
                Ok((h, c)) => {
                    let len = c.emit(&h, &mut scratch).unwrap();
                    assert_eq!(len, c.wire_len());
                    assert_eq!(iter.offset(), last + len);
                    assert_eq!(scratch[..len], area[last..last + len]);
                    last = iter.offset();
                }
                Err(_) => {
                    assert_eq!(iter.offset(), last);
                    assert_eq!(iter.next(), None);
                    break;
                }
            }
        }
        assert!(iter.offset() <= area.len());
    }

    #[test]
    fn random_datagrams_never_panic_and_reemit_exactly() {
        let mut rng = SplitMix64(0x5eed_e4e7);
        let seeds: Vec<Vec<u8>> = fixtures::ALL.iter().map(fixtures::Fixture::bytes).collect();
        let mut buf = Vec::new();
        for round in 0..100_000 {
            buf.clear();
            if round % 2 == 0 {
                // Uniform noise, mostly short.
                let len = if rng.below(8) == 0 {
                    rng.below(300)
                } else {
                    rng.below(40)
                };
                buf.extend((0..len).map(|_| rng.next() as u8));
            } else {
                // A captured datagram with a few bytes changed and maybe cut, to reach the
                // command bodies more often than noise does.
                buf.extend_from_slice(&seeds[rng.below(seeds.len())]);
                for _ in 0..=rng.below(4) {
                    let i = rng.below(buf.len());
                    buf[i] = rng.next() as u8;
                }
                if rng.below(2) == 0 {
                    buf.truncate(rng.below(buf.len() + 1));
                }
            }
            check_any_datagram(&buf, false);
            check_any_datagram(&buf, true);
        }
    }
}
