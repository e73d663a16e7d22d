//! Page prefaulting for large reassembly buffers (no protocol rule: a cost of fresh memory).
//!
//! A packet of many fragments is reassembled into one zeroed buffer of its total length. For a
//! large packet that is fresh memory, and the first write to each page makes the system map it:
//! a page fault per 4 KiB, paid while the fragments' datagrams wait to be handled and
//! acknowledged, so it lengthens every round trip of the transfer (16 MiB: 4096 faults).
//! [`Host::prefault_reassembly`] lets a driver take those faults while it would otherwise wait
//! for the next datagrams.

use super::Host;

/// Reassembly buffers at least this long get a prefault hint; below it the faults are few.
pub(crate) const PREFAULT_MINIMUM_LENGTH: usize = 64 * 1024;

/// At most this many hints are kept; a driver that never prefaults leaves them unconsumed.
const MAXIMUM_PREFAULT_HINTS: usize = 64;

impl Host {
    /// Optional idle work for a driver about to block on its socket: maps up to `budget` bytes of
    /// the not yet written part of large reassembly buffers (one write per 4 KiB page, of the
    /// zero already there), so that the fragments landing there later copy without page faults.
    /// Returns the bytes covered; 0 when no large packet is being reassembled (a cheap check).
    ///
    /// Changes nothing observable: not the datagrams sent, not the events, not the packet bytes.
    pub fn prefault_reassembly(&mut self, budget: usize) -> usize {
        let mut covered = 0;
        while covered < budget {
            let Some(&(peer, channel)) = self.prefault_hints.last() else {
                break;
            };
            // A hint may be stale (packet delivered, peer gone or reused): then it covers
            // nothing, or something else being reassembled there, and is dropped when done.
            let done = self
                .peers
                .get_mut(usize::from(peer))
                .and_then(|p| p.channels.get_mut(usize::from(channel)))
                .map_or(0, |c| c.prefault_reassembly(budget - covered));
            if done == 0 {
                self.prefault_hints.pop();
            }
            covered += done;
        }
        covered
    }

    /// A reassembly buffer of `length` bytes was created on `channel` of peer `idx`.
    pub(crate) fn note_reassembly(&mut self, idx: usize, channel: u8, length: usize) {
        let hint = (idx as u16, channel);
        if length >= PREFAULT_MINIMUM_LENGTH
            && self.prefault_hints.len() < MAXIMUM_PREFAULT_HINTS
            && !self.prefault_hints.contains(&hint)
        {
            self.prefault_hints.push(hint);
        }
    }
}
