//! Zstandard as Godot uses it for `ENetConnection.COMPRESS_ZSTD` (godot-enet notes 10.3): one
//! standard frame per datagram from the single-shot API, content size included, no checksum,
//! no dictionary. Godot's decoder also accepts frames with a checksum.

use zstd::bulk;

use super::Compressor;
use super::zlib::join;

/// Godot's default `compression/formats/zstd/compression_level`.
pub const ZSTD_DEFAULT_LEVEL: i32 = 3;

/// The zstd codec of Godot's `COMPRESS_ZSTD` mode.
///
/// Keeps one compression and one decompression context for its lifetime; decompression writes
/// straight into the caller's buffer and fails if the frame does not fit.
pub struct Zstd {
    level: i32,
    cctx: bulk::Compressor<'static>,
    dctx: bulk::Decompressor<'static>,
    joined: Vec<u8>,
    /// Room for the worst case: libzstd can fail on a buffer that the frame would fit but its
    /// encoder's working margins do not, and Godot always compresses into a full-size buffer.
    frame: Vec<u8>,
}

codec_debug_and_default!(Zstd, level);

impl Zstd {
    /// A codec at Godot's default level 3.
    ///
    /// # Panics
    /// If libzstd cannot allocate its contexts (out of memory).
    pub fn new() -> Self {
        Self::with_level(ZSTD_DEFAULT_LEVEL)
    }

    /// A codec at `level`, for peers whose Godot project changed
    /// `compression/formats/zstd/compression_level`. Any level decodes any level.
    ///
    /// # Panics
    /// If libzstd cannot allocate its contexts (out of memory).
    pub fn with_level(level: i32) -> Self {
        // Creating a context fails only when libzstd's allocation fails.
        let cctx = bulk::Compressor::new(level).expect("zstd compression context");
        let dctx = bulk::Decompressor::new().expect("zstd decompression context");
        Self {
            level,
            cctx,
            dctx,
            joined: Vec::new(),
            frame: Vec::new(),
        }
    }
}

impl Compressor for Zstd {
    fn compress(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize> {
        let data = join(input, &mut self.joined)?;
        self.frame
            .resize(zstd::zstd_safe::compress_bound(data.len()), 0);
        let n = self
            .cctx
            .compress_to_buffer(data, &mut self.frame[..])
            .ok()?;
        out.get_mut(..n)?.copy_from_slice(&self.frame[..n]);
        Some(n)
    }

    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.dctx
            .decompress_to_buffer(input, out)
            .ok()
            .filter(|&n| n > 0)
    }
}
