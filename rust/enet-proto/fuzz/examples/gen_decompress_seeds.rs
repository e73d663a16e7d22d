//! Writes the seed corpus of the `decompress` target: datagram-like payloads compressed by each
//! codec, prefixed with the byte that picks it.
//!
//! Run from `rust/enet-proto/fuzz`: `cargo run --example gen_decompress_seeds`.

use std::path::Path;

use rust_enet_proto::compress::CompressionMode;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decompress");
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    let payloads: [(&str, Vec<u8>); 3] = [
        (
            "text",
            b"position 12.5 7.25 0.0 velocity 1.0 0.0 0.0 ".repeat(8),
        ),
        ("zeros", vec![0; 600]),
        ("ramp", (0..=255u8).cycle().take(900).collect()),
    ];
    for (pick, mode) in CompressionMode::ALL[1..].iter().enumerate() {
        let mut codec = mode.compressor().expect("codec in this build");
        for (name, payload) in &payloads {
            let mut packed = vec![0u8; payload.len()];
            let Some(n) = codec.compress(&[payload], &mut packed) else {
                continue;
            };
            let mut seed = vec![pick as u8];
            seed.extend_from_slice(&packed[..n]);
            let file = dir.join(format!("seed-{mode:?}-{name}").to_lowercase());
            std::fs::write(&file, seed).expect("write seed");
        }
    }
}
