//! zlib-wrapped deflate (RFC 1950) as Godot uses it for `ENetConnection.COMPRESS_ZLIB`, which is
//! `Compression::MODE_DEFLATE` (godot-enet notes 10.3): a 2-byte zlib header, one deflate stream
//! ended in a single finishing call, and the Adler-32 of the data. No length or mode prefix.
//!
//! Decoding succeeds only when the stream ends, with a matching Adler-32, within the output
//! buffer, as Godot requires `Z_STREAM_END` from a single `inflate(Z_FINISH)`.
//!
//! flate2 runs on C zlib here, as Godot does, so the output is byte-identical to Godot's
//! (`deflateInit2(level, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY)`, one `deflate(Z_FINISH)`).

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::Compressor;

/// Godot's default `compression/formats/zlib/compression_level` (`Z_DEFAULT_COMPRESSION`).
pub const ZLIB_DEFAULT_LEVEL: u32 = 6;

/// The zlib codec of Godot's `COMPRESS_ZLIB` mode.
///
/// Keeps one deflate and one inflate state and resets them per datagram, so every datagram is an
/// independent stream and decompression allocates nothing.
pub struct Zlib {
    level: u32,
    deflate: Compress,
    inflate: Decompress,
    joined: Vec<u8>,
}

codec_debug_and_default!(Zlib, level);

impl Zlib {
    /// A codec at Godot's default level 6.
    pub fn new() -> Self {
        Self::with_level(ZLIB_DEFAULT_LEVEL)
    }

    /// A codec at `level` (0..=9, clamped), for peers whose Godot project changed
    /// `compression/formats/zlib/compression_level`. Any level decodes any level.
    pub fn with_level(level: u32) -> Self {
        let level = level.min(9);
        Self {
            level,
            deflate: Compress::new(Compression::new(level), true),
            inflate: Decompress::new(true),
            joined: Vec::new(),
        }
    }
}

impl Compressor for Zlib {
    fn compress(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize> {
        let data = join(input, &mut self.joined)?;
        self.deflate.reset();
        match self.deflate.compress(data, out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => usize::try_from(self.deflate.total_out()).ok(),
            // The stream did not fit in `out`.
            _ => None,
        }
    }

    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.inflate.reset(true);
        match self.inflate.decompress(input, out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) => usize::try_from(self.inflate.total_out())
                .ok()
                .filter(|&n| n > 0),
            // Truncated, or more output than `out` holds, or corrupt.
            _ => None,
        }
    }
}

/// The data to compress: the single slice of `input`, or its concatenation in `joined`; `None`
/// if it is empty, which a codec refuses.
pub(super) fn join<'a>(input: &[&'a [u8]], joined: &'a mut Vec<u8>) -> Option<&'a [u8]> {
    let data: &[u8] = if let [single] = input {
        single
    } else {
        joined.clear();
        for part in input {
            joined.extend_from_slice(part);
        }
        joined
    };
    (!data.is_empty()).then_some(data)
}
