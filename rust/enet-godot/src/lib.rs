//! Thin gdext adapter exposing rust_enet to Godot 4.
