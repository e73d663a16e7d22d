//! Conversions between Godot's multiplayer vocabulary and the session's, and the client's id.

use godot::classes::multiplayer_peer::TransferMode;
use rust_enet_session::Transfer;

/// A client's multiplayer id drawn from `random`: 31 bits, and neither 0 (everyone) nor 1 (the
/// server), as Godot's `generate_unique_id` requires; `None` means draw again.
pub(super) fn unique_id_from(random: u64) -> Option<i32> {
    let id = (random & 0x7FFF_FFFF) as i32;
    (id >= 2).then_some(id)
}

/// A random client id (see [`unique_id_from`]), from the OS's random source.
pub(super) fn generate_unique_id() -> i32 {
    use std::hash::{BuildHasher, Hasher};
    loop {
        // `RandomState` keys come from the OS; the time makes each draw differ.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        if let Some(id) = unique_id_from(hasher.finish()) {
            return id;
        }
    }
}

pub(super) fn to_transfer(mode: TransferMode) -> Transfer {
    match mode {
        TransferMode::UNRELIABLE => Transfer::Unreliable,
        TransferMode::UNRELIABLE_ORDERED => Transfer::UnreliableOrdered,
        _ => Transfer::Reliable,
    }
}

pub(super) fn to_transfer_mode(transfer: Transfer) -> TransferMode {
    match transfer {
        Transfer::Unreliable => TransferMode::UNRELIABLE,
        Transfer::UnreliableOrdered => TransferMode::UNRELIABLE_ORDERED,
        Transfer::Reliable => TransferMode::RELIABLE,
    }
}

#[cfg(test)]
mod tests {
    use super::{TransferMode, generate_unique_id, to_transfer, to_transfer_mode, unique_id_from};
    use std::collections::HashSet;

    #[test]
    fn transfer_modes_convert_both_ways() {
        for mode in [
            TransferMode::RELIABLE,
            TransferMode::UNRELIABLE,
            TransferMode::UNRELIABLE_ORDERED,
        ] {
            assert_eq!(to_transfer_mode(to_transfer(mode)), mode);
        }
    }

    #[test]
    fn ids_are_31_bits_and_never_everyone_or_the_server() {
        assert_eq!(unique_id_from(0), None);
        assert_eq!(unique_id_from(1), None);
        assert_eq!(
            unique_id_from(0x8000_0001),
            None,
            "bit 31 is dropped, leaving 1"
        );
        assert_eq!(unique_id_from(2), Some(2));
        assert_eq!(unique_id_from(0xFFFF_FFFF_8000_0005), Some(5));
        assert_eq!(unique_id_from(u64::MAX), Some(i32::MAX));
    }

    #[test]
    fn generated_ids_differ() {
        let ids: HashSet<i32> = (0..200).map(|_| generate_unique_id()).collect();
        assert!(ids.len() >= 195, "{} distinct ids of 200", ids.len());
        assert!(ids.iter().all(|&id| id >= 2));
    }
}
