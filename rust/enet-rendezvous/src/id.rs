//! Open ids (oid, shared with joiners) and private ids (pid, sent only to the UDP registrar),
//! generated as noray's nanoid does: `customAlphabet(urlAlphabet, length)` over OS entropy.

use std::borrow::Borrow;
use std::fmt;

use thiserror::Error;

/// nanoid's `urlAlphabet`, noray's default for both ids (64 symbols: `A-Za-z0-9_-`).
pub const ALPHABET: &[u8; 64] = b"useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
/// noray's default oid length (`NORAY_OID_LENGTH`).
pub const OID_LENGTH: usize = 21;
/// noray's default pid length (`NORAY_PID_LENGTH`).
pub const PID_LENGTH: usize = 128;

/// The entropy source could not fill a buffer.
#[derive(Debug, Clone, Error)]
#[error("no entropy: {0}")]
pub struct EntropyError(pub String);

/// Where id randomness comes from; injected so the state machine stays deterministic in tests.
pub trait IdSource: fmt::Debug {
    /// Fills `buf` with uniformly random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError>;
}

/// The operating system's cryptographic generator (`getrandom`).
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl IdSource for OsEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        getrandom::fill(buf).map_err(|e| EntropyError(e.to_string()))
    }
}

/// A seeded xorshift source for tests and simulations; never use it for a real server.
#[derive(Debug, Clone)]
pub struct SeededIds(u64);

impl SeededIds {
    /// A source whose sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
}

impl IdSource for SeededIds {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyError> {
        for byte in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *byte = (self.0 >> 32) as u8;
        }
        Ok(())
    }
}

/// `length` symbols of [`ALPHABET`]; 256 is a multiple of 64, so masking keeps them uniform.
fn random_id(source: &mut dyn IdSource, length: usize) -> Result<Box<[u8]>, EntropyError> {
    let mut bytes = vec![0; length];
    source.fill(&mut bytes)?;
    for byte in &mut bytes {
        *byte = ALPHABET[usize::from(*byte & 0x3f)];
    }
    Ok(bytes.into_boxed_slice())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $length:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Box<[u8]>);

        impl $name {
            /// A fresh random id of noray's default length.
            pub fn generate(source: &mut dyn IdSource) -> Result<Self, EntropyError> {
                random_id(source, $length).map(Self)
            }

            /// The id as text (always ASCII).
            pub fn as_str(&self) -> &str {
                // Only ALPHABET bytes are ever stored, so this cannot fail.
                std::str::from_utf8(&self.0).unwrap_or_default()
            }
        }

        // Lookups by the raw bytes of a line or datagram; hashing a one-field struct hashes
        // the field, so `Borrow<[u8]>` is consistent with `Hash`.
        impl Borrow<[u8]> for $name {
            fn borrow(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.as_str())
            }
        }
    };
}

id_type!(
    /// A host's open id: joiners name it in `connect` / `connect-relay`.
    Oid,
    OID_LENGTH
);
id_type!(
    /// A host's private id: the payload of its UDP registrar datagram.
    Pid,
    PID_LENGTH
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_noray_lengths_and_alphabet() {
        let mut source = OsEntropy;
        let oid = Oid::generate(&mut source).unwrap();
        let pid = Pid::generate(&mut source).unwrap();
        assert_eq!(oid.as_str().len(), 21);
        assert_eq!(pid.as_str().len(), 128);
        assert!(
            oid.as_str()
                .bytes()
                .chain(pid.as_str().bytes())
                .all(|b| ALPHABET.contains(&b))
        );
        assert_ne!(oid, Oid::generate(&mut source).unwrap());
    }

    #[test]
    fn every_symbol_of_the_alphabet_is_reachable() {
        let mut source = SeededIds::new(7);
        let mut seen = [false; 256];
        for _ in 0..64 {
            for b in Pid::generate(&mut source).unwrap().as_str().bytes() {
                seen[usize::from(b)] = true;
            }
        }
        assert!(ALPHABET.iter().all(|&b| seen[usize::from(b)]));
    }

    #[test]
    fn alphabet_has_64_distinct_symbols() {
        let mut sorted = ALPHABET.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 64);
    }
}
