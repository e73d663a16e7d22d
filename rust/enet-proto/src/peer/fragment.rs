//! Fragment validation and reassembly (protocol description 7.3).

use super::channel::{IncomingCommand, IncomingData};
use crate::packet::PacketFlags;
use crate::wire::{CommandNumber, Fragment, PROTOCOL_MAXIMUM_FRAGMENT_COUNT};

/// Verdict on a fragment's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FragmentCheck {
    Valid,
    Invalid,
}

impl FragmentCheck {
    /// Checks every field a fragment carries (7.3 step 2, with upstream's post-1.3.18 checks
    /// `dataLength > 0` and `totalLength >= fragmentCount` applied to both fragment kinds).
    pub(crate) fn of(fragment: &Fragment<'_>, maximum_packet_size: usize) -> FragmentCheck {
        let data_len = fragment.data.len() as u64;
        let total = u64::from(fragment.total_length);
        let valid = data_len > 0
            && fragment.fragment_count <= PROTOCOL_MAXIMUM_FRAGMENT_COUNT
            && fragment.fragment_number < fragment.fragment_count
            && total <= maximum_packet_size as u64
            && total >= u64::from(fragment.fragment_count)
            && u64::from(fragment.fragment_offset) < total
            && data_len <= total - u64::from(fragment.fragment_offset);
        if valid {
            FragmentCheck::Valid
        } else {
            FragmentCheck::Invalid
        }
    }
}

impl IncomingCommand {
    /// A reassembly entry: a zeroed buffer of `totalLength` bytes (uncovered bytes never leak
    /// memory, unlike ENet's uninitialised buffer) and an empty fragment bitmap.
    pub(crate) fn new_fragmented(
        number: CommandNumber,
        reliable_sequence_number: u16,
        unreliable_sequence_number: u16,
        fragment: &Fragment<'_>,
        flags: PacketFlags,
    ) -> IncomingCommand {
        let mut entry = IncomingCommand::new(
            number,
            reliable_sequence_number,
            unreliable_sequence_number,
            IncomingData::Assembling(vec![0; fragment.total_length as usize]),
            flags,
        );
        entry.fragment_count = fragment.fragment_count;
        entry.fragments_remaining = fragment.fragment_count;
        entry.fragments = vec![0; fragment.fragment_count.div_ceil(32) as usize];
        entry
    }

    /// This entry can take `fragment`: same kind of reassembly, same total length and count.
    pub(crate) fn matches_fragment(&self, number: CommandNumber, fragment: &Fragment<'_>) -> bool {
        self.number == number
            && self.total_length == fragment.total_length
            && self.fragment_count == fragment.fragment_count
    }

    /// Adds one fragment's bytes (ignored if that fragment number already arrived). Returns true
    /// when this completed the packet.
    pub(crate) fn add_fragment(&mut self, fragment: &Fragment<'_>) -> bool {
        let word = (fragment.fragment_number / 32) as usize;
        let bit = 1u32 << (fragment.fragment_number % 32);
        let Some(w) = self.fragments.get_mut(word) else {
            return false;
        };
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.fragments_remaining = self.fragments_remaining.saturating_sub(1);
        if let IncomingData::Assembling(buf) = &mut self.data {
            let offset = (fragment.fragment_offset as usize).min(buf.len());
            let len = fragment.data.len().min(buf.len() - offset);
            buf[offset..offset + len].copy_from_slice(&fragment.data[..len]);
            self.prefaulted = self.prefaulted.max(offset + len);
        }
        self.fragments_remaining == 0
    }

    /// Touches up to `budget` bytes of the reassembly buffer past everything written so far,
    /// one byte per `PREFAULT_STRIDE`, so that the system maps those pages of the fresh (zeroed)
    /// allocation now and the fragments that land there later copy without a page fault.
    /// Returns the bytes covered; 0 once the whole buffer is covered (or this is no reassembly).
    ///
    /// Only bytes at or beyond `prefaulted` are written, and no fragment has written there
    /// (`add_fragment` moves `prefaulted` past every fragment it copies), so the zeros written
    /// are the zeros already there.
    pub(crate) fn prefault(&mut self, budget: usize) -> usize {
        let IncomingData::Assembling(buf) = &mut self.data else {
            return 0;
        };
        let start = self.prefaulted.min(buf.len());
        let end = start.saturating_add(budget).min(buf.len());
        // From the first stride boundary at or after `start` (a fragment that ended at `start`
        // mapped the page it ended on; a page missed here faults when its fragment comes).
        let mut at = start.next_multiple_of(PREFAULT_STRIDE);
        while at < end {
            buf[at] = 0;
            at += PREFAULT_STRIDE;
        }
        std::hint::black_box(&mut buf[start..end]);
        self.prefaulted = end;
        end - start
    }
}

/// The stride of `IncomingCommand::prefault`: the smallest common page size. Where pages are
/// larger, the extra writes land on pages already mapped.
pub(crate) const PREFAULT_STRIDE: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(count: u32, number: u32, total: u32, offset: u32, data: &[u8]) -> Fragment<'_> {
        Fragment {
            start_sequence_number: 1,
            fragment_count: count,
            fragment_number: number,
            total_length: total,
            fragment_offset: offset,
            data,
        }
    }

    #[test]
    fn every_bad_field_is_rejected() {
        let d = [1u8; 4];
        let max = 1 << 25;
        assert_eq!(
            FragmentCheck::of(&frag(2, 0, 8, 0, &d), max),
            FragmentCheck::Valid
        );
        for bad in [
            frag(2, 2, 8, 0, &d),                   // number >= count
            frag(2, 0, 8, 8, &d),                   // offset >= total
            frag(2, 0, 8, 6, &d),                   // overruns total
            frag(9, 0, 8, 0, &d),                   // total < count
            frag(2, 0, 8, 0, &[]),                  // empty
            frag(0, 0, 8, 0, &d),                   // zero count
            frag(2, 0, (1 << 25) + 1, 0, &d),       // above maximum packet size
            frag((1 << 20) + 1, 0, 1 << 25, 0, &d), // too many fragments
        ] {
            assert_eq!(
                FragmentCheck::of(&bad, max),
                FragmentCheck::Invalid,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn prefault_never_writes_where_a_fragment_did() {
        let total = 5 * PREFAULT_STRIDE as u32;
        let f0 = frag(5, 0, total, 0, &[7; PREFAULT_STRIDE]);
        let f3 = frag(
            5,
            3,
            total,
            3 * PREFAULT_STRIDE as u32,
            &[9; PREFAULT_STRIDE],
        );
        let mut e = IncomingCommand::new_fragmented(
            CommandNumber::SendFragment,
            1,
            0,
            &f0,
            PacketFlags::RELIABLE,
        );
        e.add_fragment(&f0);
        e.add_fragment(&f3);
        // Only what lies beyond the last fragment written is covered.
        assert_eq!(e.prefault(usize::MAX), PREFAULT_STRIDE);
        assert_eq!(e.prefault(usize::MAX), 0);
        let IncomingData::Assembling(v) = &e.data else {
            panic!("expected a reassembly buffer")
        };
        assert!(v[..PREFAULT_STRIDE].iter().all(|&b| b == 7));
        assert!(
            v[3 * PREFAULT_STRIDE..4 * PREFAULT_STRIDE]
                .iter()
                .all(|&b| b == 9)
        );
        assert!(v[4 * PREFAULT_STRIDE..].iter().all(|&b| b == 0));
    }

    #[test]
    fn reassembly_ignores_duplicates_and_completes() {
        let f0 = frag(2, 0, 6, 0, b"abc");
        let f1 = frag(2, 1, 6, 3, b"def");
        let mut e = IncomingCommand::new_fragmented(
            CommandNumber::SendFragment,
            1,
            0,
            &f0,
            PacketFlags::RELIABLE,
        );
        assert!(!e.add_fragment(&f0));
        assert!(!e.add_fragment(&f0));
        assert_eq!(e.fragments_remaining, 1);
        assert!(e.add_fragment(&f1));
        match &e.data {
            IncomingData::Assembling(v) => assert_eq!(v, b"abcdef"),
            IncomingData::Complete(_) => panic!("expected a reassembly buffer"),
        }
    }
}
