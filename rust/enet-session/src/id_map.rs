//! Hash maps keyed by small integer ids (multiplayer peer ids, ENet peer slots).
//!
//! The adapter looks ids up for every packet it receives and sends. std's default SipHash is
//! built to resist collision attacks by remote input; these keys are chosen locally (slots) or
//! checked on connect (peer ids are random, unique and at most 4095 of them live at once), so a
//! multiplicative hash is enough and several times cheaper.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A `HashMap` with [`IdHasher`].
pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Fibonacci hashing of integer keys: one multiplication, high bits well mixed (hashbrown takes
/// its control byte from the top 7 bits and the bucket from the low ones).
#[derive(Default, Clone, Copy, Debug)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by integer keys; any byte key still hashes correctly, just more slowly.
        for &byte in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(byte)).wrapping_mul(0x100_0000_01B3);
        }
    }

    fn write_u16(&mut self, value: u16) {
        self.0 = (self.0 << 16) ^ u64::from(value);
    }

    fn write_u32(&mut self, value: u32) {
        self.0 = (self.0 << 32) ^ u64::from(value);
    }

    fn write_i32(&mut self, value: i32) {
        self.write_u32(value as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_ids_stay_distinct_keys() {
        let mut map: IdMap<i32, i32> = IdMap::default();
        for id in (1..5000).chain([i32::MAX, -1, -7]) {
            map.insert(id, id.wrapping_mul(2));
        }
        assert_eq!(map.len(), 5002);
        assert_eq!(map.get(&4999), Some(&9998));
        assert_eq!(map.get(&i32::MAX), Some(&i32::MAX.wrapping_mul(2)));
        assert_eq!(map.get(&5000), None);
        map.remove(&7);
        assert_eq!(map.get(&7), None);
    }

    #[test]
    fn ids_spread_over_the_high_bits() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        let top: std::collections::HashSet<u64> =
            (2..200_i32).map(|id| build.hash_one(id) >> 57).collect();
        // 198 consecutive ids use most of the 128 control-byte values.
        assert!(
            top.len() > 100,
            "only {} distinct top-7-bit values",
            top.len()
        );
    }
}
