//! The datagram decompressors of every Godot compression mode (range coder, FastLZ, zlib,
//! zstd) on arbitrary input, then a round trip. The first input byte picks the codec and the
//! output room (as a host would give: up to 4096 bytes).
//!
//! Checks: `decompress` never panics and reports at most the room it had; whatever
//! `compress` makes of the rest of the input, `decompress` turns back into exactly it (FastLZ:
//! followed by the zeros it pads inputs shorter than 16 bytes with, as Godot's does).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_enet_proto::compress::{CompressionMode, Compressor};

fuzz_target!(|input: &[u8]| {
    let Some((&pick, data)) = input.split_first() else {
        return;
    };
    let mode = CompressionMode::ALL[1 + usize::from(pick & 3)];
    let Some(mut codec): Option<Box<dyn Compressor + Send>> = mode.compressor() else {
        return;
    };
    let room = 4096 - usize::from(pick >> 2) * 16;
    let mut out = vec![0u8; room];
    if let Some(n) = codec.decompress(data, &mut out) {
        assert!(n > 0 && n <= room, "{mode:?} reported {n} bytes in {room}");
    }
    if data.is_empty() {
        return;
    }
    let mut packed = vec![0u8; data.len()];
    let Some(n) = codec.compress(&[data], &mut packed) else {
        return;
    };
    assert!(n <= data.len());
    // FastLZ pads inputs shorter than 16 bytes with zeros, as Godot does: room for those.
    let mut back = vec![0u8; data.len().max(16)];
    let m = codec
        .decompress(&packed[..n], &mut back)
        .unwrap_or_else(|| panic!("{mode:?} cannot decompress its own output"));
    assert!(m >= data.len(), "{mode:?} round trip lost bytes");
    assert_eq!(&back[..data.len()], data, "{mode:?} round trip");
    assert!(
        back[data.len()..m].iter().all(|&b| b == 0),
        "{mode:?} padding"
    );
});
