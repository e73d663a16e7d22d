//! Range coder tests: the vectors captured from C ENet (protocol description 19.3, 19.4), buffer
//! splitting, round trips through model resets and rescales, and robustness on hostile input.

use super::{Compressor, RangeCoder};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn compress(input: &[&[u8]], limit: usize) -> Option<Vec<u8>> {
    let mut coder = RangeCoder::new();
    let mut out = vec![0u8; limit];
    let len = coder.compress(input, &mut out)?;
    out.truncate(len);
    Some(out)
}

fn decompress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut coder = RangeCoder::new();
    let mut out = vec![0u8; limit];
    let len = coder.decompress(input, &mut out)?;
    out.truncate(len);
    Some(out)
}

/// (input, C ENet output) pairs of section 19.4 and the compressed datagrams of section 19.3.
fn vectors() -> Vec<(Vec<u8>, Vec<u8>)> {
    vec![
        (b"a".to_vec(), hex("619e619e")),
        (vec![0x61; 16], hex("62026a7017cf")),
        (vec![0x00; 16], hex("0103e73d17cf")),
        (
            hex("000102030405060708090a0b0c0d0e0f"),
            hex("0103f1068d929142466659664b8723d963ef"),
        ),
        (
            b"The quick brown fox jumps over the lazy dog".to_vec(),
            hex(
                "5515a5772d4d2186ff8ee2a3134a4ec4e4e8ccebf68d9164d085d9189dcc1734fd8e3d227bddf46bb9",
            ),
        ),
        (
            hex(
                "82ff00010000ffff0000057000010000000000020000000000000000000013880000000200000002aa2a489112345678",
            ),
            hex("837b88b1fdf1df576b939eeefcbc0a3e8a642656d33b9e6819f9b30eeaae138f"),
        ),
        // 19.3: the CONNECT command of a compressed session (connectID 58 18 ab 32).
        (
            hex(
                "82ff0001 0000ffff 00000570 00010000 00000002 00000000 00000000 00001388 00000002 00000002 5818ab32 12345678",
            ),
            hex("837b88b1fdf1df576b939eeefcbc0a3e8a642656d33a9b2a47642ff8fe9efdf4"),
        ),
        // 19.3: four ACKs in one datagram.
        (
            hex("01000001 00014a3f 01000002 00024a3f 01000003 00034a3f 01000004 00044a3f"),
            hex("01fefe24c54b4b9d836019d9438d86cc476a521cf7d1"),
        ),
    ]
}

#[test]
fn compress_matches_c_enet_vectors() {
    for (input, expected) in vectors() {
        let out = compress(&[&input], 4096).expect("compresses");
        assert_eq!(out, expected, "input {input:02x?}");
    }
}

#[test]
fn decompress_restores_c_enet_vectors() {
    for (input, compressed) in vectors() {
        assert_eq!(decompress(&compressed, 4096).as_deref(), Some(&input[..]));
        // An output limit of exactly the input length is enough ...
        assert_eq!(
            decompress(&compressed, input.len()).as_deref(),
            Some(&input[..])
        );
        // ... and one byte less fails instead of truncating.
        assert_eq!(decompress(&compressed, input.len() - 1), None);
    }
}

#[test]
fn compress_fails_when_output_does_not_fit() {
    for (input, expected) in vectors() {
        assert_eq!(
            compress(&[&input], expected.len()).as_ref(),
            Some(&expected)
        );
        assert_eq!(compress(&[&input], expected.len() - 1), None);
    }
    // ENet calls the compressor with the uncompressed size as limit: "a" does not shrink.
    assert_eq!(compress(&[b"a"], 1), None);
}

#[test]
fn splitting_input_across_buffers_gives_identical_output() {
    for (input, expected) in vectors() {
        for split in 0..=input.len() {
            let (a, b) = input.split_at(split);
            assert_eq!(compress(&[a, b], 4096).as_ref(), Some(&expected));
            let third = split / 2;
            assert_eq!(
                compress(&[&a[..third], &a[third..], &[], b], 4096).as_ref(),
                Some(&expected)
            );
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(compress(&bytes, 4096).as_ref(), Some(&expected));
    }
}

#[test]
fn empty_input_is_a_failure_both_ways() {
    let mut coder = RangeCoder::new();
    let mut out = [0u8; 64];
    assert_eq!(coder.compress(&[], &mut out), None);
    assert_eq!(coder.compress(&[&[], &[]], &mut out), None);
    assert_eq!(coder.decompress(&[], &mut out), None);
    // A stream that decodes to zero bytes is ENet's "0 = failure".
    assert_eq!(coder.decompress(&[0, 0, 0, 0], &mut out), None);
}

/// Test data from the crate's generator.
struct Rng(crate::rng::SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(crate::rng::SplitMix64::new(seed))
    }

    fn below(&mut self, n: usize) -> usize {
        self.0.below(n as u64) as usize
    }

    fn bytes(&mut self, len: usize, alphabet: usize) -> Vec<u8> {
        (0..len).map(|_| self.below(alphabet) as u8).collect()
    }
}

#[test]
fn round_trips_through_model_resets_and_rescales() {
    let mut rng = Rng::new(0x5EED_0001);
    let mut coder = RangeCoder::new();
    let mut packed = vec![0u8; 64 * 1024];
    let mut unpacked = vec![0u8; 32 * 1024];
    let mut inputs: Vec<Vec<u8>> = vec![
        vec![0x55; 20_000],                                      // count rescales
        (0..20_000u32).map(|i| (i % 251) as u8).collect(),       // many contexts, arena resets
        b"hello ".iter().copied().cycle().take(9_000).collect(), // text-like
    ];
    for _ in 0..60 {
        let len = 1 + rng.below(12_000);
        let alphabet = [2, 4, 16, 64, 256][rng.below(5)];
        inputs.push(rng.bytes(len, alphabet));
    }
    for input in &inputs {
        let len = coder
            .compress(&[input], &mut packed)
            .expect("fits in 64 KiB");
        let out = coder
            .decompress(&packed[..len], &mut unpacked)
            .expect("decodes");
        assert_eq!(&unpacked[..out], &input[..], "len {}", input.len());
    }
}

#[test]
fn hostile_input_never_panics_or_exceeds_the_limit() {
    let mut rng = Rng::new(0xBAD_5EED);
    let mut coder = RangeCoder::new();
    let mut packed = vec![0u8; 8192];
    let mut out = vec![0u8; 4096];
    for round in 0..20_000 {
        let input: Vec<u8> = match round % 4 {
            // Pure noise of random length.
            0 => {
                let len = rng.below(600);
                rng.bytes(len, 256)
            }
            // A valid stream, truncated.
            1 | 2 => {
                let len = 1 + rng.below(1500);
                let alphabet = [4, 32, 256][rng.below(3)];
                let plain = rng.bytes(len, alphabet);
                let packed_len = coder.compress(&[&plain], &mut packed).expect("fits");
                let mut stream = packed[..packed_len].to_vec();
                if round % 4 == 1 {
                    stream.truncate(rng.below(packed_len + 1));
                } else {
                    // ... or with bits flipped.
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(stream.len());
                        stream[at] ^= 1 << rng.below(8);
                    }
                }
                stream
            }
            // Long zero-ish runs that decode to many symbols.
            _ => {
                let len = 1 + rng.below(64);
                let mut v = vec![0u8; len];
                v[0] = rng.below(256) as u8;
                v
            }
        };
        let limit = rng.below(out.len() + 1);
        if let Some(len) = coder.decompress(&input, &mut out[..limit]) {
            assert!(len > 0 && len <= limit);
        }
    }
}
