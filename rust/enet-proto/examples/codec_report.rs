//! How each of Godot's ENet compression modes does on game-like traffic.
//!
//! `cargo run --release -p rust_enet_proto --example codec_report [datagrams] [seed]`
//!
//! Generates command areas as a Godot game would send them (snapshots of entity positions,
//! input packets, RPC-like reliable packets with strings, ack-only and ping datagrams, a little
//! incompressible voice data; see `src/compress/game_traffic.rs`) and runs every codec the way
//! an ENet host does: compress with the uncompressed size as the limit, send the compressed form
//! only if it is smaller, decompress what was sent compressed into a 4092-byte buffer.
//!
//! Printed per mode: wire ratio (command-area bytes sent / original, fallbacks included), the
//! share of datagrams that were sent compressed, and CPU time per datagram (compress: every
//! datagram; decompress: the compressed ones), best of three passes.

#[path = "../src/compress/game_traffic.rs"]
mod game_traffic;

use rust_enet_proto::rng::SplitMix64;

use std::time::Instant;

use game_traffic::{DatagramKind, GameTraffic};
use rust_enet_proto::compress::{CompressionMode, Compressor};

const RECEIVE_LIMIT: usize = 4092;
const PASSES: usize = 3;

struct Row {
    original: usize,
    sent: usize,
    helped: usize,
    compress_ns: f64,
    decompress_ns: f64,
}

fn measure(codec: &mut dyn Compressor, datagrams: &[(DatagramKind, Vec<u8>)]) -> Row {
    let mut packed: Vec<Vec<u8>> = vec![Vec::new(); datagrams.len()];
    let mut out = vec![0u8; RECEIVE_LIMIT];
    let mut compress_ns = f64::MAX;
    for _ in 0..PASSES {
        let start = Instant::now();
        for ((_, area), slot) in datagrams.iter().zip(&mut packed) {
            let n = codec.compress(&[area], &mut out[..area.len()]);
            slot.clear();
            if let Some(n) = n.filter(|&n| n > 0 && n < area.len()) {
                slot.extend_from_slice(&out[..n]);
            }
        }
        let ns = start.elapsed().as_nanos() as f64 / datagrams.len() as f64;
        compress_ns = compress_ns.min(ns);
    }

    let helped = packed.iter().filter(|p| !p.is_empty()).count();
    let mut decompress_ns = f64::MAX;
    for _ in 0..PASSES {
        let start = Instant::now();
        for ((_, area), p) in datagrams.iter().zip(&packed) {
            if p.is_empty() {
                continue;
            }
            let n = codec.decompress(p, &mut out).expect("own output decodes");
            assert!(n >= area.len() && out[..area.len()] == area[..]);
        }
        let ns = start.elapsed().as_nanos() as f64 / helped.max(1) as f64;
        decompress_ns = decompress_ns.min(ns);
    }

    let original = datagrams.iter().map(|(_, a)| a.len()).sum();
    let sent = datagrams
        .iter()
        .zip(&packed)
        .map(|((_, a), p)| if p.is_empty() { a.len() } else { p.len() })
        .sum();
    Row {
        original,
        sent,
        helped,
        compress_ns,
        decompress_ns,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x6A3E);
    let mut traffic = GameTraffic::new(seed);
    let datagrams: Vec<_> = (0..count).map(|_| traffic.next_datagram()).collect();
    let total: usize = datagrams.iter().map(|(_, a)| a.len()).sum();
    println!(
        "{count} datagrams, {total} command-area bytes (mean {:.0}, max {})",
        total as f64 / count as f64,
        datagrams.iter().map(|(_, a)| a.len()).max().unwrap_or(0)
    );
    let kinds = [
        DatagramKind::Acks,
        DatagramKind::Ping,
        DatagramKind::Snapshot,
        DatagramKind::Input,
        DatagramKind::Rpc,
        DatagramKind::Voice,
    ];
    for kind in kinds {
        let of_kind: Vec<_> = datagrams.iter().filter(|(k, _)| *k == kind).collect();
        let bytes: usize = of_kind.iter().map(|(_, a)| a.len()).sum();
        println!(
            "  {kind:?}: {} datagrams, mean {:.0} bytes",
            of_kind.len(),
            bytes as f64 / of_kind.len().max(1) as f64
        );
    }
    println!();
    println!(
        "| mode           | wire ratio | sent compressed | compress ns/dgram | decompress ns/dgram |"
    );
    println!(
        "|----------------|-----------:|----------------:|------------------:|--------------------:|"
    );
    let mut by_kind = Vec::new();
    for mode in CompressionMode::ALL {
        let Some(mut codec) = mode.compressor() else {
            if mode != CompressionMode::None {
                println!("| {mode:<14?} | not built (feature godot-codecs off) | | | |");
            }
            continue;
        };
        let row = measure(codec.as_mut(), &datagrams);
        println!(
            "| {:<14} | {:>10.3} | {:>14.1}% | {:>17.0} | {:>19.0} |",
            format!("{mode:?} ({})", mode.godot_value()),
            row.sent as f64 / row.original as f64,
            100.0 * row.helped as f64 / count as f64,
            row.compress_ns,
            row.decompress_ns,
        );
        let ratios: Vec<f64> = kinds
            .iter()
            .map(|&kind| {
                let of_kind: Vec<_> = datagrams
                    .iter()
                    .filter(|(k, _)| *k == kind)
                    .cloned()
                    .collect();
                let r = measure(codec.as_mut(), &of_kind);
                r.sent as f64 / r.original.max(1) as f64
            })
            .collect();
        by_kind.push((mode, ratios));
    }
    println!();
    println!("wire ratio by kind of datagram");
    print!("| mode           |");
    for kind in kinds {
        print!(" {:>8} |", format!("{kind:?}"));
    }
    println!();
    print!("|----------------|");
    for _ in kinds {
        print!("---------:|");
    }
    println!();
    for (mode, ratios) in by_kind {
        print!("| {:<14} |", format!("{mode:?}"));
        for r in ratios {
            print!(" {r:>8.3} |");
        }
        println!();
    }
}
