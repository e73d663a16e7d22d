//! FastLZ (Godot bundles 0.5.0) as Godot uses it for `ENetConnection.COMPRESS_FASTLZ`
//! (godot-enet notes 10.3).
//!
//! The compressed command area is a raw FastLZ block: no header, no length. It is a sequence of
//! instructions, each starting with a control byte whose top three bits select the kind:
//!
//! | control byte | meaning                                                                   |
//! |--------------|---------------------------------------------------------------------------|
//! | `000l_llll`  | copy the next `l + 1` (1..=32) bytes literally                            |
//! | `lllo_oooo`  | `l` in 1..=6: copy `l + 2` bytes from `(o << 8) + next byte + 1` back      |
//! | `111o_oooo`  | length `9 + next byte`, then the low offset byte as above                 |
//!
//! The first instruction is always a literal run, so the top three bits of byte 0 are free and
//! carry the level minus one: 0 for level 1, 1 for level 2. Level 2 differs only in matches:
//! lengths extend with further `0xFF` bytes and offset `0x1FFF` followed by two more bytes means
//! a far match of up to 65535 + 8191 back.
//!
//! [`FastLz`] encodes level 1, as Godot does for every input below 64 KiB (so every ENet
//! datagram; above that Godot switches to level 2, which this encoder does not reproduce, though
//! its level-1 output stays valid). It pads inputs shorter than 16 bytes with zeros as Godot's
//! `Compression::compress` does; such a datagram decodes to 16 bytes, the trailing zeros being a
//! command byte 0 where ENet's command loop stops. The encoder makes FastLZ's greedy parse
//! decision for decision, so its output is byte-identical to Godot 4.6's: checked on the fixtures
//! in `fixtures/godot.txt` and on a 2420-input corpus
//! (`codec_tests::godot_agrees_on_generated_corpus`).
//!
//! The decoder accepts levels 1 and 2 and rejects, rather than reads or writes past, anything
//! malformed. Like Godot's, it ignores a single byte left after the last level-1 instruction.

use super::{Compressor, Sink};

/// Godot pads shorter inputs with zeros to this length before compressing.
const MIN_INPUT_LEN: usize = 16;
/// log2 of the match finder's hash table size.
const HASH_LOG: u32 = 13;
const HASH_SIZE: usize = 1 << HASH_LOG;
/// Longest literal run of one instruction.
const MAX_LITERAL_RUN: usize = 32;
/// Matches are coded as their length minus two; a longer match is split off in instructions
/// that copy 262 bytes each while taking 262 off the code (FastLZ's `MAX_LEN - 2`).
const MAX_MATCH_CODE: usize = 262;
/// Level-1 matches reach at most this far back.
const MAX_L1_DISTANCE: usize = 8192;
/// Level-2 near matches reach this far; far matches add a 16-bit offset beyond it.
const MAX_L2_DISTANCE: usize = 8191;
/// The level-1 encoder stops looking for matches this close to the end of the input.
const MATCH_FINDER_MARGIN: usize = 12;

/// The FastLZ codec of Godot's `COMPRESS_FASTLZ` mode.
///
/// Holds the 32 KiB match-finder table and a concatenation buffer so that compressing allocates
/// nothing after the first datagrams; decompression never allocates.
#[derive(Clone)]
pub struct FastLz {
    table: Box<[u32; HASH_SIZE]>,
    joined: Vec<u8>,
}

codec_debug_and_default!(FastLz);

impl FastLz {
    /// A codec ready for use.
    pub fn new() -> Self {
        Self {
            table: Box::new([0; HASH_SIZE]),
            joined: Vec::new(),
        }
    }
}

impl Compressor for FastLz {
    fn compress(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize> {
        self.joined.clear();
        for part in input {
            self.joined.extend_from_slice(part);
        }
        if self.joined.is_empty() {
            return None;
        }
        if self.joined.len() < MIN_INPUT_LEN {
            self.joined.resize(MIN_INPUT_LEN, 0);
        }
        let mut sink = Sink::new(out);
        compress_level1(&self.joined, &mut self.table, &mut sink)?;
        Some(sink.len)
    }

    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        decompress(input, out).filter(|&n| n > 0)
    }
}

/// The FastLZ instructions, written to the encoder's output.
impl Sink<'_> {
    /// Literal runs of at most 32 bytes each.
    fn literals(&mut self, bytes: &[u8]) -> Option<()> {
        for run in bytes.chunks(MAX_LITERAL_RUN) {
            self.push((run.len() - 1) as u8)?;
            self.extend(run)?;
        }
        Some(())
    }

    /// A level-1 match; `code` is the match length minus two, `distance` is at least 1.
    fn level1_match(&mut self, mut code: usize, distance: usize) -> Option<()> {
        let d = distance - 1;
        let (d_high, d_low) = ((d >> 8) as u8, d as u8);
        // Longer matches become a chain of maximal instructions at the same distance.
        while code > MAX_MATCH_CODE {
            self.extend(&[0xE0 | d_high, (MAX_MATCH_CODE - 9) as u8, d_low])?;
            code -= MAX_MATCH_CODE;
        }
        if code < 7 {
            self.extend(&[((code as u8) << 5) | d_high, d_low])
        } else {
            self.extend(&[0xE0 | d_high, (code - 7) as u8, d_low])
        }
    }
}

/// FastLZ's hash of the three bytes at `at`: two overlapping little-endian 16-bit reads mixed
/// into 13 bits. Callers keep `at + 3` within `data`.
fn hash(data: &[u8], at: usize) -> usize {
    let v = u16::from_le_bytes([data[at], data[at + 1]]);
    let w = u16::from_le_bytes([data[at + 1], data[at + 2]]);
    usize::from(v ^ w ^ (v >> (16 - HASH_LOG))) & (HASH_SIZE - 1)
}

/// Encodes `input` (at least 16 bytes) as a level-1 block.
///
/// FastLZ's greedy level-1 parse: a table maps the hash of the 3 bytes at each searched position
/// to the latest such position (0 before the first store, so position 0 is a candidate for every
/// hash). A candidate less than 8 KiB back whose 3 bytes agree starts a match, which extends as
/// long as the bytes agree but never into the last 3 bytes of the input; after a match, the two
/// positions before its end are hashed and the search goes on at its end. The search covers
/// positions below `len - 12`, and a match found at the last of them is not taken; what is left
/// becomes literals. Each of these details shapes the output, and Godot's has them all.
fn compress_level1(input: &[u8], table: &mut [u32; HASH_SIZE], out: &mut Sink<'_>) -> Option<()> {
    debug_assert!(input.len() >= MIN_INPUT_LEN);
    table.fill(0);
    let match_end_limit = input.len() - 3;
    let search_end = input.len() - MATCH_FINDER_MARGIN;
    let mut anchor = 0;
    let mut ip = 2;

    while ip < search_end {
        let slot = &mut table[hash(input, ip)];
        let candidate = *slot as usize;
        *slot = ip as u32;
        let distance = ip - candidate;
        if distance == 0
            || distance >= MAX_L1_DISTANCE
            || input[candidate..candidate + 3] != input[ip..ip + 3]
        {
            ip += 1;
            continue;
        }
        // A match found at the last searched position is not taken.
        if ip + 1 >= search_end {
            break;
        }

        let mut end = ip + 3;
        while end < match_end_limit && input[end - distance] == input[end] {
            end += 1;
        }
        out.literals(&input[anchor..ip])?;
        out.level1_match(end - ip - 2, distance)?;

        for at in [end - 2, end - 1] {
            table[hash(input, at)] = at as u32;
        }
        ip = end;
        anchor = end;
    }

    out.literals(&input[anchor..])
}

/// Decodes a FastLZ block of level 1 or 2 into `out`, returning the decoded length, or `None` if
/// the level is unknown, the block is malformed or truncated, a match reaches before the start
/// of the output, or the output would exceed `out.len()`.
fn decompress(input: &[u8], out: &mut [u8]) -> Option<usize> {
    match input.first()? >> 5 {
        0 => decode(input, out, Level::One),
        1 => decode(input, out, Level::Two),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    One,
    Two,
}

fn decode(input: &[u8], out: &mut [u8], level: Level) -> Option<usize> {
    let mut ip = 1;
    let mut op = 0;
    let mut ctrl = usize::from(input[0] & 0x1F);
    loop {
        if ctrl < 0x20 {
            let run = ctrl + 1;
            let literals = input.get(ip..ip + run)?;
            out.get_mut(op..op + run)?.copy_from_slice(literals);
            ip += run;
            op += run;
        } else {
            let mut len = (ctrl >> 5) + 2;
            let mut distance = ((ctrl & 0x1F) << 8) + 1;
            if len == 9 {
                loop {
                    let extra = *input.get(ip)?;
                    ip += 1;
                    len += usize::from(extra);
                    // Level 1 has one length byte; level 2 continues after each 0xFF.
                    if level == Level::One || extra != 0xFF {
                        break;
                    }
                }
            }
            let low = *input.get(ip)?;
            ip += 1;
            distance += usize::from(low);
            if level == Level::Two && low == 0xFF && ctrl & 0x1F == 0x1F {
                // Far match. FastLZ insists on at least one byte after the 16-bit offset.
                if ip + 2 >= input.len() {
                    return None;
                }
                let far = usize::from(input[ip]) << 8 | usize::from(input[ip + 1]);
                ip += 2;
                distance = far + MAX_L2_DISTANCE + 1;
            }
            if distance > op || op + len > out.len() {
                return None;
            }
            copy_match(out, op, distance, len);
            op += len;
        }
        // FastLZ level 1 ignores a single trailing byte; level 2 reads to the end.
        let instruction_min = if level == Level::One { 2 } else { 1 };
        if ip + instruction_min > input.len() {
            break;
        }
        ctrl = usize::from(input[ip]);
        ip += 1;
    }
    Some(op)
}

/// LZ77 copy of `len` bytes from `distance` back; overlapping copies repeat the pattern.
fn copy_match(out: &mut [u8], op: usize, distance: usize, len: usize) {
    let from = op - distance;
    if distance >= len {
        out.copy_within(from..from + len, op);
    } else {
        for i in 0..len {
            out[op + i] = out[from + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(input: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; input.len().max(16) * 2 + 64];
        let n = FastLz::new().compress(&[input], &mut out).expect("fits");
        out.truncate(n);
        out
    }

    #[test]
    fn short_input_is_padded_to_16_bytes() {
        let packed = pack(b"abc");
        // Godot 4.6's output: no 3-byte repeat among the searched positions 2 and 3.
        let mut expected = vec![15u8];
        expected.extend_from_slice(b"abc");
        expected.extend_from_slice(&[0; 13]);
        assert_eq!(packed, expected);
        let mut out = [0u8; 64];
        assert_eq!(decompress(&packed, &mut out), Some(16));
    }

    #[test]
    fn zeros_become_a_literal_a_match_and_a_literal() {
        // Position 2 hashes to an empty slot (0), whose bytes agree: a match at distance 2 that
        // stops 3 bytes before the end. Both outputs are Godot 4.6's.
        assert_eq!(
            pack(&[0; 16]),
            [0x01, 0, 0, 0xE0, 0x02, 0x01, 0x02, 0, 0, 0]
        );
        assert_eq!(
            pack(&[0; 17]),
            [0x01, 0, 0, 0xE0, 0x03, 0x01, 0x02, 0, 0, 0]
        );
    }

    #[test]
    fn long_runs_chain_maximal_match_instructions() {
        let input = vec![7u8; 4000];
        let packed = pack(&input);
        assert!(packed.len() < 60, "{}", packed.len());
        let mut out = vec![0u8; 4000];
        assert_eq!(decompress(&packed, &mut out), Some(4000));
        assert_eq!(out, input);
        assert_eq!(decompress(&packed, &mut out[..3999]), None);
    }

    #[test]
    fn level2_near_and_far_matches_decode() {
        // Level marker, 3 literals "abc", then a long match of 9 + 255 + 1 = 265 at distance 3.
        let stream = [0x22, b'a', b'b', b'c', 0xE0, 0xFF, 0x01, 0x02];
        let mut out = [0u8; 512];
        let n = decompress(&stream, &mut out).expect("valid level 2");
        assert_eq!(n, 3 + 265);
        assert!(out[..n].chunks(3).all(|c| c == &b"abc"[..c.len()]));

        // A far match: 8191 + 2 + 1 = 8194 back needs as many bytes of history.
        let mut stream = vec![0x20 | 31];
        let mut history = Vec::new();
        for i in 0..8194u32 {
            history.push((i % 253) as u8);
        }
        for chunk in history.chunks(32) {
            if stream.len() > 1 {
                stream.push(chunk.len() as u8 - 1);
            } else {
                stream[0] = 0x20 | (chunk.len() as u8 - 1);
            }
            stream.extend_from_slice(chunk);
        }
        stream.extend_from_slice(&[0x20 | 0x1F, 0xFF, 0x00, 0x02, 0x00, b'z']);
        let mut out = vec![0u8; 9000];
        let n = decompress(&stream, &mut out).expect("valid far match");
        assert_eq!(n, 8194 + 3 + 1);
        assert_eq!(&out[8194..8197], &history[..3]);
        assert_eq!(out[8197], b'z');
    }

    #[test]
    fn malformed_blocks_are_rejected() {
        let mut out = [0u8; 64];
        for bad in [
            &[][..],
            &[0x40, 0, 0],                // level 3
            &[0x03, 1, 2],                // literal run past the end
            &[0x00, 1, 0x20, 0x01],       // match two back with one byte of history
            &[0x00, 1, 0xE0, 0x05],       // long match without its offset byte
            &[0x20, 1, 0x3F, 0xFF, 0x00], // level-2 far match cut short
        ] {
            assert_eq!(decompress(bad, &mut out), None, "{bad:02x?}");
        }
        // A one-byte tail after a complete level-1 block is ignored, as FastLZ does.
        assert_eq!(decompress(&[0x00, 9, 0x20], &mut out), Some(1));
    }
}
