//! UDP driver for the sans-IO `rust_enet_proto` core: owns sockets and the clock.
