//! Godot 4 adapter for rust_enet: the GDExtension entry point and the Godot-visible classes.
//!
//! What is here is what only the engine boundary needs: converting Godot arguments, mapping
//! results to Godot's `Error` codes, emitting signals, owning the packet buffers handed to the
//! engine, the project settings, and diagnostics (log routing, statistics, monitors). The
//! MultiplayerPeer rules live in `rust_enet_session` (Godot-free, cargo-tested), the protocol
//! in `rust_enet_proto`, and sockets, DTLS and the service thread in `rust_enet_net`.
//!
//! The library is loaded through `addons/rust_enet/rust_enet.gdextension`, whose `entry_symbol`
//! must match the `entry_symbol` below.

use bytes::Bytes;
use godot::init::InitStage;
use godot::meta::conv::RawPtr;
use godot::prelude::*;

mod connection;
mod diagnostics;
mod docs;
#[cfg(feature = "bench-ceiling")]
mod memory_peer;
mod monitors;
mod packet_peer;
mod peer;
mod settings;
mod simulation;

pub use connection::RustENetConnection;
pub use packet_peer::RustENetPacketPeer;
pub use peer::RustENetPeer;

/// Marker type that registers the extension with Godot.
struct RustENetExtension;

// SAFETY: gdext requires `unsafe impl`; this library registers classes only through gdext's
// macros and keeps no engine objects alive across initialisation levels.
#[gdextension(entry_symbol = rust_enet_init)]
unsafe impl ExtensionLibrary for RustENetExtension {
    fn on_stage_init(stage: InitStage) {
        match stage {
            InitStage::Scene => {
                settings::register();
                diagnostics::install(settings::log_level(), settings::is_verbose());
            }
            InitStage::Editor => docs::register_editor_docs(),
            _ => {}
        }
    }

    fn on_stage_deinit(stage: InitStage) {
        if stage == InitStage::Scene {
            // Hosts a script leaked (never closed or destroyed) must not keep threads running
            // into the library's unloading.
            rust_enet_net::stop_all_service_threads();
        }
    }
}

/// Hands `data` to Godot through the out-parameters of `_get_packet`, keeping it in `current`
/// (the class's "packet last returned" slot, which Godot reads until that class's next
/// `get_packet`, or until it clears the slot).
///
/// # Safety
/// Both pointers must be valid for writes (Godot guarantees this for `_get_packet`), and
/// `current` must stay alive and unchanged for as long as Godot may read the buffer.
unsafe fn hand_out_packet(
    current: &mut Option<Bytes>,
    data: Bytes,
    r_buffer: RawPtr<*mut RawPtr<*const u8>>,
    r_buffer_size: RawPtr<*mut i32>,
) -> godot::global::Error {
    let data = current.insert(data);
    let len = i32::try_from(data.len()).unwrap_or(i32::MAX);
    // SAFETY: the caller guarantees the out-pointers are writable and `current` outlives
    // Godot's use of the buffer.
    unsafe {
        *r_buffer.ptr() = RawPtr::new(data.as_ptr());
        *r_buffer_size.ptr() = len;
    }
    godot::global::Error::OK
}

/// Copies the payload of `_put_packet` into an owned buffer.
///
/// # Safety
/// `buffer` must point to `size` readable bytes (or `size` must be 0).
unsafe fn copy_packet_in(buffer: RawPtr<*const u8>, size: i32) -> Bytes {
    let ptr = buffer.ptr();
    let Ok(len) = usize::try_from(size) else {
        return Bytes::new();
    };
    if len == 0 || ptr.is_null() {
        return Bytes::new();
    }
    // SAFETY: the caller guarantees `ptr` points to `len` readable bytes for this call.
    Bytes::copy_from_slice(unsafe { std::slice::from_raw_parts(ptr, len) })
}
