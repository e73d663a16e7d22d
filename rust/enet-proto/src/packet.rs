//! Application packets and their ENet flags.

use bytes::Bytes;
use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// ENet packet flags (`ENET_PACKET_FLAG_*`), with ENet's numeric values.
///
/// On send they choose the command (ENet protocol description 6.2); on receive they report how the
/// packet travelled: `RELIABLE` for reliable (and reliably fragmented) data, `UNSEQUENCED` for
/// unsequenced data, `UNRELIABLE_FRAGMENT` for reassembled unreliable fragments, empty for plain
/// unreliable data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PacketFlags(u32);

impl PacketFlags {
    /// No flags: unreliable, sequenced.
    pub const NONE: Self = Self(0);
    /// Reliable, ordered delivery (`ENET_PACKET_FLAG_RELIABLE`).
    pub const RELIABLE: Self = Self(0x1);
    /// Unsequenced, unreliable delivery (`ENET_PACKET_FLAG_UNSEQUENCED`).
    pub const UNSEQUENCED: Self = Self(0x2);
    /// ENet's "do not copy the data" hint; carried for API compatibility, no effect here.
    pub const NO_ALLOCATE: Self = Self(0x4);
    /// Fragment a packet above the MTU unreliably instead of upgrading it to reliable.
    pub const UNRELIABLE_FRAGMENT: Self = Self(0x8);
    /// Set by ENet once the packet was sent; carried for API compatibility.
    pub const SENT: Self = Self(0x100);

    /// Flags from their raw ENet value (unknown bits are kept).
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw ENet value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Every flag of `other` is set in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// No flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl BitOr for PacketFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for PacketFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for PacketFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl fmt::Debug for PacketFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u32, &str); 5] = [
            (0x1, "RELIABLE"),
            (0x2, "UNSEQUENCED"),
            (0x4, "NO_ALLOCATE"),
            (0x8, "UNRELIABLE_FRAGMENT"),
            (0x100, "SENT"),
        ];
        write!(f, "PacketFlags(")?;
        let mut first = true;
        let mut rest = self.0;
        for (bit, name) in NAMES {
            if self.0 & bit != 0 {
                if !first {
                    write!(f, " | ")?;
                }
                write!(f, "{name}")?;
                first = false;
                rest &= !bit;
            }
        }
        if rest != 0 {
            if !first {
                write!(f, " | ")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            write!(f, "NONE")?;
        }
        write!(f, ")")
    }
}

/// One application message: the payload and its flags.
///
/// The payload is a [`Bytes`], so fragments and broadcasts share one buffer without copying.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    /// The payload.
    pub data: Bytes,
    /// How the packet is (or was) sent.
    pub flags: PacketFlags,
}

impl Packet {
    /// A packet with the given payload and flags.
    pub fn new(data: impl Into<Bytes>, flags: PacketFlags) -> Self {
        Self {
            data: data.into(),
            flags,
        }
    }

    /// A reliable packet.
    pub fn reliable(data: impl Into<Bytes>) -> Self {
        Self::new(data, PacketFlags::RELIABLE)
    }

    /// An unreliable, sequenced packet.
    pub fn unreliable(data: impl Into<Bytes>) -> Self {
        Self::new(data, PacketFlags::NONE)
    }

    /// An unsequenced packet.
    pub fn unsequenced(data: impl Into<Bytes>) -> Self {
        Self::new(data, PacketFlags::UNSEQUENCED)
    }

    /// Payload length in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// The payload is empty.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_have_enet_values_and_combine() {
        assert_eq!(PacketFlags::RELIABLE.bits(), 1);
        assert_eq!(PacketFlags::UNSEQUENCED.bits(), 2);
        assert_eq!(PacketFlags::NO_ALLOCATE.bits(), 4);
        assert_eq!(PacketFlags::UNRELIABLE_FRAGMENT.bits(), 8);
        assert_eq!(PacketFlags::SENT.bits(), 256);
        let f = PacketFlags::RELIABLE | PacketFlags::UNRELIABLE_FRAGMENT;
        assert!(f.contains(PacketFlags::RELIABLE));
        assert!(!f.contains(PacketFlags::UNSEQUENCED));
        assert_eq!(
            format!("{f:?}"),
            "PacketFlags(RELIABLE | UNRELIABLE_FRAGMENT)"
        );
    }
}
