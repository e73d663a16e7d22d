//! Godot's `ENetConnection.CompressionMode` and the codec each mode installs.

use super::{Compressor, FastLz, RangeCoder};

/// The compression modes of Godot's `ENetConnection.compress(mode)`, with Godot's numbers.
///
/// Nothing on the wire names the mode: both ends must pick the same one, or most datagrams,
/// the CONNECT among them, are dropped and the connection times out. Godot's default is
/// [`CompressionMode::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CompressionMode {
    /// `COMPRESS_NONE`: datagrams are sent as they are.
    #[default]
    None = 0,
    /// `COMPRESS_RANGE_CODER`: ENet's built-in range coder ([`RangeCoder`]).
    RangeCoder = 1,
    /// `COMPRESS_FASTLZ`: FastLZ level 1 ([`FastLz`]).
    FastLz = 2,
    /// `COMPRESS_ZLIB`: zlib-wrapped deflate at level 6 ([`Zlib`](super::Zlib)).
    Zlib = 3,
    /// `COMPRESS_ZSTD`: a Zstandard frame at level 3 ([`Zstd`](super::Zstd)).
    Zstd = 4,
}

impl CompressionMode {
    /// Every mode, in Godot's order.
    pub const ALL: [Self; 5] = [
        Self::None,
        Self::RangeCoder,
        Self::FastLz,
        Self::Zlib,
        Self::Zstd,
    ];

    /// The mode with Godot's number `value`, or `None` for numbers Godot does not define.
    pub const fn from_godot(value: i64) -> Option<Self> {
        match value {
            0 => Some(Self::None),
            1 => Some(Self::RangeCoder),
            2 => Some(Self::FastLz),
            3 => Some(Self::Zlib),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// Godot's number for this mode.
    pub const fn godot_value(self) -> i64 {
        self as i64
    }

    /// Whether this build has the codec of this mode: [`Zlib`](Self::Zlib) and
    /// [`Zstd`](Self::Zstd) need the `godot-codecs` feature (on by default).
    pub const fn is_available(self) -> bool {
        match self {
            Self::None | Self::RangeCoder | Self::FastLz => true,
            Self::Zlib | Self::Zstd => cfg!(feature = "godot-codecs"),
        }
    }

    /// A fresh codec for this mode with Godot's default level, ready to install in a host;
    /// `None` for [`CompressionMode::None`] and for modes this build lacks (see
    /// [`is_available`](Self::is_available)).
    pub fn compressor(self) -> Option<Box<dyn Compressor + Send>> {
        match self {
            Self::None => None,
            Self::RangeCoder => Some(Box::new(RangeCoder::new())),
            Self::FastLz => Some(Box::new(FastLz::new())),
            #[cfg(feature = "godot-codecs")]
            Self::Zlib => Some(Box::new(super::Zlib::new())),
            #[cfg(feature = "godot-codecs")]
            Self::Zstd => Some(Box::new(super::Zstd::new())),
            #[cfg(not(feature = "godot-codecs"))]
            Self::Zlib | Self::Zstd => None,
        }
    }
}
