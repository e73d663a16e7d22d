//! `RustENetMemoryPeer`: a `MultiplayerPeer` with no network at all, for benchmarks only.
//!
//! Built only with the `bench-ceiling` feature (never in a shipped library). Benchmark scenario 6
//! (`godot-project/bench/bench_rpc.tscn -- --peer=memory`) runs on it to measure the ceiling of
//! any `MultiplayerPeer` written as a GDExtension: the frame loop, GDScript, `SceneMultiplayer`
//! and the engine's calls into the extension cost what they cost with RustENetPeer, while a
//! packet costs only a copy and a queue push. Whatever RPCs/s it reaches, no real peer can beat.
//!
//! How to drive it: Godot's main thread holds one hub. `create_server()` empties it and takes id 1;
//! each `create_client()` takes the next id (2, 3, ...). Both ends see the other connect
//! (`peer_connected`) at their next `poll()`. A packet is put straight into the target's queue
//! (`set_target_peer`: an id, 0 for everyone else, `-id` for everyone but `id`); it is read by
//! `get_packet` in order. Nothing is ever lost, so every transfer mode behaves as reliable.

// gdext's `#[godot_api]` expands to public helper types without `Debug` implementations.
#![allow(missing_debug_implementations)]

use std::cell::RefCell;
use std::collections::VecDeque;

use bytes::Bytes;
use godot::classes::multiplayer_peer::{ConnectionStatus, TransferMode};
use godot::classes::{IMultiplayerPeerExtension, MultiplayerPeerExtension};
use godot::global::Error;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

/// One packet in a peer's queue.
struct Queued {
    from: i32,
    channel: i32,
    mode: TransferMode,
    data: Bytes,
}

/// One peer of the hub.
#[derive(Default)]
struct Member {
    queue: VecDeque<Queued>,
    /// Ids whose `peer_connected` this peer's next poll emits.
    joined: Vec<i32>,
}

/// The peers of this thread (Godot's main thread), indexed by id: kept as cheap as it can be,
/// since its cost is counted in the ceiling.
#[derive(Default)]
struct Hub {
    members: Vec<Option<Member>>,
}

impl Hub {
    /// The place of peer `id` (empty once it closed), if the hub ever had it.
    fn slot(&mut self, id: i32) -> Option<&mut Option<Member>> {
        self.members.get_mut(usize::try_from(id).ok()?)
    }

    fn member(&mut self, id: i32) -> Option<&mut Member> {
        self.slot(id)?.as_mut()
    }
}

thread_local! {
    static HUB: RefCell<Hub> = RefCell::new(Hub::default());
}

/// Calls `f` with this thread's hub.
fn with_hub<R>(f: impl FnOnce(&mut Hub) -> R) -> R {
    HUB.with(|hub| f(&mut hub.borrow_mut()))
}

/// A `MultiplayerPeer` whose packets never leave the process (see the module doc).
#[derive(GodotClass)]
#[class(tool, init, base = MultiplayerPeerExtension)]
pub struct RustENetMemoryPeer {
    /// 0 until `create_server` or `create_client`.
    id: i32,
    target_peer: i32,
    transfer_channel: i32,
    #[init(val = TransferMode::RELIABLE)]
    transfer_mode: TransferMode,
    /// The packet last returned by `get_packet`, which Godot reads until the next call.
    current: Option<Bytes>,
    base: Base<MultiplayerPeerExtension>,
}

#[godot_api]
impl RustENetMemoryPeer {
    /// Empties the hub and joins it as the server (id 1).
    #[func]
    fn create_server(&mut self) -> Error {
        with_hub(|hub| hub.members = vec![None, Some(Member::default())]);
        self.id = 1;
        Error::OK
    }

    /// Joins the hub as the next client; both ends report the connection at their next poll.
    #[func]
    fn create_client(&mut self) -> Error {
        let id = with_hub(|hub| {
            let id = i32::try_from(hub.members.len()).ok()?;
            hub.member(1)?.joined.push(id);
            hub.members.push(Some(Member {
                queue: VecDeque::new(),
                joined: vec![1],
            }));
            Some(id)
        });
        match id {
            Some(id) => {
                self.id = id;
                Error::OK
            }
            None => {
                godot_error!("RustENetMemoryPeer.create_client: no server in this process");
                Error::ERR_CANT_CONNECT
            }
        }
    }
}

#[godot_api]
impl IMultiplayerPeerExtension for RustENetMemoryPeer {
    fn get_available_packet_count(&self) -> i32 {
        let count = with_hub(|hub| hub.member(self.id).map_or(0, |m| m.queue.len()));
        i32::try_from(count).unwrap_or(i32::MAX)
    }

    fn get_max_packet_size(&self) -> i32 {
        1 << 24
    }

    unsafe fn get_packet_rawptr(
        &mut self,
        r_buffer: RawPtr<*mut RawPtr<*const u8>>,
        r_buffer_size: RawPtr<*mut i32>,
    ) -> Error {
        let id = self.id;
        let Some(packet) = with_hub(|hub| hub.member(id)?.queue.pop_front()) else {
            return Error::ERR_UNAVAILABLE;
        };
        // SAFETY: Godot passes valid, writable out-pointers; the buffer lives in `self.current`
        // until the next get_packet, which is as long as Godot may read it.
        unsafe { crate::hand_out_packet(&mut self.current, packet.data, r_buffer, r_buffer_size) }
    }

    unsafe fn put_packet_rawptr(
        &mut self,
        p_buffer: RawPtr<*const u8>,
        p_buffer_size: i32,
    ) -> Error {
        // SAFETY: Godot passes a buffer of `p_buffer_size` readable bytes.
        let data = unsafe { crate::copy_packet_in(p_buffer, p_buffer_size) };
        let (from, target) = (self.id, self.target_peer);
        let (channel, mode) = (self.transfer_channel, self.transfer_mode);
        let queued = |data| Queued {
            from,
            channel,
            mode,
            data,
        };
        with_hub(|hub| {
            if target > 0 {
                if let Some(to) = hub.member(target) {
                    to.queue.push_back(queued(data));
                }
                return;
            }
            for (to, member) in (0..).zip(&mut hub.members) {
                if let Some(member) = member
                    && to != from
                    && to != -target
                {
                    member.queue.push_back(queued(data.clone()));
                }
            }
        });
        Error::OK
    }

    fn get_packet_channel(&self) -> i32 {
        self.front(|p| p.channel).unwrap_or(0)
    }

    fn get_packet_mode(&self) -> TransferMode {
        self.front(|p| p.mode).unwrap_or(TransferMode::RELIABLE)
    }

    fn set_transfer_channel(&mut self, channel: i32) {
        self.transfer_channel = channel;
    }

    fn get_transfer_channel(&self) -> i32 {
        self.transfer_channel
    }

    fn set_transfer_mode(&mut self, mode: TransferMode) {
        self.transfer_mode = mode;
    }

    fn get_transfer_mode(&self) -> TransferMode {
        self.transfer_mode
    }

    fn set_target_peer(&mut self, peer: i32) {
        self.target_peer = peer;
    }

    fn get_packet_peer(&self) -> i32 {
        self.front(|p| p.from).unwrap_or(0)
    }

    fn is_server(&self) -> bool {
        self.id == 1
    }

    fn poll(&mut self) {
        let id = self.id;
        let joined = with_hub(|hub| hub.member(id).map(|m| std::mem::take(&mut m.joined)));
        let joined = joined.unwrap_or_default();
        for other in joined {
            self.base_mut()
                .emit_signal("peer_connected", &[i64::from(other).to_variant()]);
        }
    }

    fn close(&mut self) {
        let id = std::mem::take(&mut self.id);
        with_hub(|hub| hub.slot(id).map(Option::take));
        self.current = None;
    }

    fn disconnect_peer(&mut self, _peer: i32, _force: bool) {}

    fn get_unique_id(&self) -> i32 {
        self.id
    }

    fn set_refuse_new_connections(&mut self, _enable: bool) {}

    fn is_refusing_new_connections(&self) -> bool {
        false
    }

    fn is_server_relay_supported(&self) -> bool {
        false
    }

    fn get_connection_status(&self) -> ConnectionStatus {
        if self.id == 0 {
            ConnectionStatus::DISCONNECTED
        } else {
            ConnectionStatus::CONNECTED
        }
    }
}

impl RustENetMemoryPeer {
    /// `f` of the packet `get_packet` returns next.
    fn front<R>(&self, f: impl FnOnce(&Queued) -> R) -> Option<R> {
        with_hub(|hub| hub.member(self.id)?.queue.front().map(f))
    }
}
