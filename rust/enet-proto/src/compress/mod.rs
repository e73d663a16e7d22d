//! Datagram compression and integrity: ENet's range coder, the codecs of Godot's
//! `ENetConnection.compress(mode)`, and the CRC-32 checksum.
//!
//! All are per-datagram and stateless on the wire: nothing negotiates them, so both ends must be
//! configured alike (protocol description, sections 3, 12 and 15.3). [`CompressionMode`] maps
//! Godot's mode numbers to codecs. [`Zlib`] and [`Zstd`] come with the default-on
//! `godot-codecs` feature, which pulls in `flate2` and `zstd`.

/// The `Debug` and `Default` impls every codec type has: `Debug` shows the type name and the
/// named level field, if any, never the buffers or tables; `Default` is `new()`.
macro_rules! codec_debug_and_default {
    ($codec:ident $(, $field:ident)?) => {
        impl std::fmt::Debug for $codec {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($codec))
                    $(.field(stringify!($field), &self.$field))?
                    .finish_non_exhaustive()
            }
        }

        impl Default for $codec {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

mod crc32;
mod fastlz;
mod mode;
mod range_coder;
#[cfg(feature = "godot-codecs")]
mod zlib;
#[cfg(feature = "godot-codecs")]
mod zstd;

pub use crc32::crc32;
pub use fastlz::FastLz;
pub use mode::CompressionMode;
pub use range_coder::RangeCoder;
#[cfg(feature = "godot-codecs")]
pub use zlib::{ZLIB_DEFAULT_LEVEL, Zlib};
#[cfg(feature = "godot-codecs")]
pub use zstd::{ZSTD_DEFAULT_LEVEL, Zstd};

/// A datagram compressor, the Rust form of ENet's `ENetCompressor` hook.
///
/// The host compresses the command area of each outgoing datagram with `out.len()` set to the
/// uncompressed size and sends the result only if it is smaller; it decompresses every datagram
/// whose header has the COMPRESSED bit into a buffer of `4096 - header size` bytes.
pub trait Compressor: Send {
    /// Compress the concatenation of `input` into `out`, returning the compressed length, or
    /// `None` if the input is empty or the result would not fit in `out`.
    fn compress(&mut self, input: &[&[u8]], out: &mut [u8]) -> Option<usize>;

    /// Decompress `input` into `out`, returning the decompressed length, or `None` if the input is
    /// corrupt, truncated or empty, decodes to nothing, or would exceed `out.len()`.
    /// Must never panic, loop without bound or allocate, whatever the input.
    fn decompress(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize>;
}

/// An encoder's bounded output: the `len` bytes written so far at the start of `buf`. Every write
/// fails once `buf` is full, so an encoder stops instead of writing past it.
struct Sink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Sink<'a> {
    fn new(buf: &'a mut [u8]) -> Self {
        Sink { buf, len: 0 }
    }

    fn push(&mut self, byte: u8) -> Option<()> {
        *self.buf.get_mut(self.len)? = byte;
        self.len += 1;
        Some(())
    }

    fn extend(&mut self, bytes: &[u8]) -> Option<()> {
        self.buf
            .get_mut(self.len..self.len + bytes.len())?
            .copy_from_slice(bytes);
        self.len += bytes.len();
        Some(())
    }
}

#[cfg(all(test, feature = "godot-codecs"))]
mod codec_tests;
#[cfg(test)]
mod game_traffic;
#[cfg(test)]
use crate::rng::SplitMix64;
#[cfg(test)]
mod tests;
