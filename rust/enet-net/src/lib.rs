//! UDP driver for the sans-IO `rust_enet_proto` core: owns sockets and the clock.
//!
//! [`UdpHost`] is the Rust counterpart of `enet_host_service` and friends: it binds a
//! non-blocking UDP socket (dual-stack where the system allows), maps a monotonic clock onto
//! ENet time, feeds received datagrams and timer ticks into the protocol [`Host`] and sends what
//! the core produces. A seeded [`LinkConditions`] simulator can sit between the core and the
//! socket in either direction to test games and the protocol on a bad network. With the `dtls`
//! feature (default) the host can encrypt every datagram with DTLS 1.2 in Godot's framing
//! ([`UdpHost::dtls_server_setup`], [`UdpHost::dtls_client_setup`]).
//!
//! A host is driven by its owner alone ([`UdpHost`]'s "Driving it" sections), or shared with a
//! [`ServiceThread`] through a [`SharedUdpHost`], which keeps its connections alive while the
//! owner is away. When datagrams leave is decided by one [`SendSchedule`] per host.
//!
//! [`Host`]: rust_enet_proto::Host
#![forbid(unsafe_code)]

mod address;
#[cfg(target_os = "linux")]
mod batch;
mod clock;
mod dtls;
/// In-memory DTLS pair for the fuzz targets (feature `fuzzing`).
#[cfg(all(feature = "dtls", feature = "fuzzing"))]
pub use dtls::fuzzing as dtls_fuzzing;
mod coalesce;
mod link;
mod send_schedule;
mod service_thread;
mod shared_host;
pub mod side_channel;
mod signal_link;
mod statistics;
mod udp_host;
#[cfg(not(target_os = "linux"))]
mod waker;

pub use address::{BindAddress, canonical_addr};
pub use clock::{CLOCK_START, Clock};
pub use coalesce::ReceiveCoalescing;
pub use dtls::{
    DEFAULT_MAX_PENDING_HANDSHAKES, DEFAULT_SESSION_TIMEOUT, DTLS_HANDSHAKE_MTU,
    DTLS_RECORD_OVERHEAD, DtlsClientOptions, DtlsClientState, DtlsError, DtlsServerOptions,
    DtlsSessions,
};
pub use link::{LinkConditions, LinkDirection, LinkStatistics, MAX_QUEUE_DELAY};
pub use send_schedule::{Due, FlushPolicy, SendSchedule};
pub use service_thread::{ServiceConfig, ServiceThread, stop_all_service_threads};
pub use shared_host::{HostGuard, LockWaitStatistics, SharedUdpHost};
pub use side_channel::{SideDatagram, is_punch};
pub use signal_link::{LinkStatus, SignalLink};
pub use statistics::DriverStatistics;
pub use udp_host::{HostFailure, RECEIVE_BATCH, ServiceThreadPanicked, UdpHost, WaitPrecision};

/// Largest datagram a host accepts (`ENET_PROTOCOL_MAXIMUM_MTU`). The receive buffer is
/// larger (by a DTLS record's overhead and one byte), so a longer datagram shows up as longer
/// and is dropped as truncated, portably (ENet 1.3.18 checks `MSG_TRUNC` for the same purpose).
pub const MAXIMUM_DATAGRAM: usize = 4096;
