//! Helpers for running the C ENet test peer (`tests/c-peer`) against rust_enet.
