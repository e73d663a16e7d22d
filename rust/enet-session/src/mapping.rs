//! Godot's MultiplayerPeer vocabulary in ENet terms: transfer modes, the channel mapping and
//! packet targets, as Godot's `ENetMultiplayerPeer` defines them.
//!
//! ENet channel 0 carries reliable traffic of user channel 0 (`SYSCH_RELIABLE`), channel 1 both
//! unreliable modes of user channel 0 (`SYSCH_UNRELIABLE`), and user channel n > 0 is ENet
//! channel n + 1 whatever the mode.

use rust_enet_proto::PacketFlags;

/// ENet channel for reliable traffic on user channel 0 (`SYSCH_RELIABLE`).
const SYSCH_RELIABLE: u8 = 0;
/// ENet channel for both unreliable modes on user channel 0 (`SYSCH_UNRELIABLE`).
const SYSCH_UNRELIABLE: u8 = 1;
/// Number of reserved ENet channels (`SYSCH_MAX`).
pub const SYSCH_MAX: u8 = 2;

/// Godot's `MultiplayerPeer.TransferMode`, without Godot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transfer {
    Unreliable,
    UnreliableOrdered,
    Reliable,
}

impl Transfer {
    /// The mode a received packet reports, from its ENet flags.
    pub fn of_flags(flags: PacketFlags) -> Transfer {
        if flags.contains(PacketFlags::RELIABLE) {
            Transfer::Reliable
        } else if flags.contains(PacketFlags::UNSEQUENCED) {
            Transfer::Unreliable
        } else {
            Transfer::UnreliableOrdered
        }
    }

    /// The ENet flags a packet sent in this mode carries.
    pub fn flags(self) -> PacketFlags {
        match self {
            Transfer::Unreliable => PacketFlags::UNSEQUENCED | PacketFlags::UNRELIABLE_FRAGMENT,
            Transfer::UnreliableOrdered => PacketFlags::UNRELIABLE_FRAGMENT,
            Transfer::Reliable => PacketFlags::RELIABLE,
        }
    }
}

/// A channel as scripts number them (`transfer_channel`, `get_packet_channel`): 0 is the
/// default channel, 1.. are the user channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserChannel(pub i32);

/// An ENet channel number on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnetChannel(pub u8);

impl UserChannel {
    /// The ENet channel a packet of this channel and `mode` goes out on; `None` when the
    /// channel is beyond ENet's 255 (Godot's peer truncates it to 8 bits and sends on a wrong
    /// channel).
    pub fn to_enet(self, mode: Transfer) -> Option<EnetChannel> {
        if self.0 > 0 {
            let channel = i64::from(self.0) + i64::from(SYSCH_MAX) - 1;
            return u8::try_from(channel).ok().map(EnetChannel);
        }
        Some(EnetChannel(match mode {
            Transfer::Reliable => SYSCH_RELIABLE,
            Transfer::Unreliable | Transfer::UnreliableOrdered => SYSCH_UNRELIABLE,
        }))
    }
}

impl EnetChannel {
    /// The channel scripts see for a packet received on this ENet channel.
    pub fn to_user(self) -> UserChannel {
        if self.0 >= SYSCH_MAX {
            UserChannel(i32::from(self.0) - i32::from(SYSCH_MAX) + 1)
        } else {
            UserChannel(0)
        }
    }
}

/// Whom `put_packet` sends to, from `set_target_peer`'s number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// 0: every remote peer.
    Broadcast,
    /// A positive id: that peer only.
    Peer(i32),
    /// A negative id: everyone but that peer.
    AllExcept(i32),
}

impl Target {
    pub fn from_target_peer(target: i32) -> Target {
        match target {
            0 => Target::Broadcast,
            t if t > 0 => Target::Peer(t),
            // i32::MIN names i32::MAX, as Godot's `ABS` (saturating here) does.
            t => Target::AllExcept(t.saturating_abs()),
        }
    }

    /// The peer the target names, if any (it must exist for the send to be valid).
    pub fn named(self) -> Option<i32> {
        match self {
            Target::Broadcast => None,
            Target::Peer(id) | Target::AllExcept(id) => Some(id),
        }
    }

    /// Whether the remote peer `id` receives a packet sent to this target.
    pub fn selects(self, id: i32) -> bool {
        match self {
            Target::Broadcast => true,
            Target::Peer(target) => id == target,
            Target::AllExcept(excluded) => id != excluded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_modes_map_to_godot_channels_and_flags() {
        let reliable = Transfer::Reliable;
        assert_eq!(UserChannel(0).to_enet(reliable), Some(EnetChannel(0)));
        assert_eq!(reliable.flags(), PacketFlags::RELIABLE);
        assert_eq!(
            UserChannel(0).to_enet(Transfer::Unreliable),
            Some(EnetChannel(1))
        );
        assert_eq!(Transfer::Unreliable.flags().bits(), 0x2 | 0x8);
        assert_eq!(
            UserChannel(0).to_enet(Transfer::UnreliableOrdered),
            Some(EnetChannel(1))
        );
        assert_eq!(Transfer::UnreliableOrdered.flags().bits(), 0x8);
        assert_eq!(
            UserChannel(3).to_enet(Transfer::Unreliable),
            Some(EnetChannel(4))
        );
        assert_eq!(UserChannel(254).to_enet(reliable), Some(EnetChannel(255)));
        assert_eq!(UserChannel(255).to_enet(reliable), None);
    }

    #[test]
    fn received_channels_and_flags_give_what_godot_reports() {
        assert_eq!(EnetChannel(0).to_user(), UserChannel(0));
        assert_eq!(EnetChannel(1).to_user(), UserChannel(0));
        assert_eq!(EnetChannel(2).to_user(), UserChannel(1));
        assert_eq!(EnetChannel(255).to_user(), UserChannel(254));
        for user in 1..=254 {
            let channel = UserChannel(user);
            assert_eq!(
                channel
                    .to_enet(Transfer::Reliable)
                    .map(EnetChannel::to_user),
                Some(channel)
            );
        }
        for (flags, transfer) in [
            (PacketFlags::RELIABLE, Transfer::Reliable),
            (PacketFlags::UNSEQUENCED, Transfer::Unreliable),
            (
                PacketFlags::UNRELIABLE_FRAGMENT,
                Transfer::UnreliableOrdered,
            ),
            (PacketFlags::NONE, Transfer::UnreliableOrdered),
        ] {
            assert_eq!(Transfer::of_flags(flags), transfer, "{flags:?}");
        }
    }

    #[test]
    fn targets_select_like_godots_peer() {
        let all = Target::from_target_peer(0);
        assert_eq!(all, Target::Broadcast);
        assert!(all.selects(1) && all.selects(77));
        assert_eq!(all.named(), None);
        let one = Target::from_target_peer(5);
        assert!(one.selects(5) && !one.selects(6));
        assert_eq!(one.named(), Some(5));
        let but = Target::from_target_peer(-5);
        assert!(!but.selects(5) && but.selects(6) && but.selects(1));
        assert_eq!(but.named(), Some(5));
        let odd = Target::from_target_peer(i32::MIN);
        assert_eq!(odd.named(), Some(i32::MAX));
        assert!(odd.selects(1) && !odd.selects(i32::MAX));
    }
}
