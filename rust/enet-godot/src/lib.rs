//! Godot 4 adapter for rust_enet: the GDExtension entry point and the Godot-visible classes.
//!
//! This crate is deliberately thin. It converts Godot arguments, maps results to Godot's
//! `Error` codes, emits signals and owns packet buffers handed to the engine; protocol behaviour
//! lives in `rust_enet_proto` and socket handling in `rust_enet_net`.
//!
//! The library is loaded through `addons/rust_enet/rust_enet.gdextension`, whose `entry_symbol`
//! must match the `entry_symbol` below.

use godot::prelude::*;

mod peer;

pub use peer::RustENetPeer;

/// Marker type that registers the extension with Godot.
struct RustENetExtension;

// SAFETY: gdext requires `unsafe impl`; this library registers classes only through gdext's
// macros and keeps no engine objects alive across initialisation levels.
#[gdextension(entry_symbol = rust_enet_init)]
unsafe impl ExtensionLibrary for RustENetExtension {}
