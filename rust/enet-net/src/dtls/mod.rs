//! DTLS 1.2 between the ENet host and the socket, as Godot's `ENetDTLSServer` / `ENetDTLSClient`
//! socket wrappers do it (godot-enet.md §9).
//!
//! Framing: every ENet datagram (after compression) is the plaintext of exactly one DTLS
//! application-data record, and every record travels in its own UDP datagram. There is no extra
//! header, so a Godot build with ENet DTLS (mbedTLS, DTLS 1.2) talks to this driver.
//!
//! Server: one session per remote `(ip, port)`. A ClientHello from an unknown address is answered
//! statelessly with a HelloVerifyRequest carrying an HMAC cookie of the address; a session is
//! allocated only for a ClientHello that returns a valid cookie, and only while fewer than
//! [`DtlsServerOptions::max_pending_handshakes`] handshakes are unfinished. A handshake that
//! does not finish within [`DtlsServerOptions::session_timeout`], or a finished session that is
//! not bound to an ENet peer within that time of finishing, is dropped (Godot's
//! `ENET_DTLS_TIMEOUT_MS`), and a bound one goes when its ENet peer leaves the host
//! (disconnect, reset, timeout) or when the DTLS session closes.
//!
//! Client: one session to the address of the first datagram ENet sends (the CONNECT), started
//! lazily on that send. Datagrams ENet sends while the handshake runs are held (a few) and sent
//! once it completes; Godot drops them instead and lets ENet retransmit.
//!
//! Datagrams that fail DTLS processing are dropped and counted in
//! [`DriverStatistics`](crate::DriverStatistics).

#[cfg(feature = "dtls")]
mod client;
#[cfg(feature = "dtls")]
mod common;
#[cfg(all(feature = "dtls", feature = "fuzzing"))]
pub mod fuzzing;
#[cfg(feature = "dtls")]
mod server;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rust_enet_proto::Host;

use crate::statistics::DriverStatistics;

/// Default cap on unfinished server handshakes. Godot's `UDPServer` allows 16 pending
/// connections.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 16;

/// Default time a server session may exist without an ENet peer (`ENET_DTLS_TIMEOUT_MS`).
pub const DEFAULT_SESSION_TIMEOUT: Duration = Duration::from_millis(8_000);

/// Largest DTLS handshake datagram this driver sends (handshake messages are fragmented to fit).
/// Application records are never fragmented: one ENet datagram is one record, whatever its size.
pub const DTLS_HANDSHAKE_MTU: u32 = 1_200;

/// Bytes a DTLS 1.2 record may add to its plaintext (13-byte header, explicit IV or nonce, MAC
/// or tag, CBC padding); the socket's receive buffer is this much larger with DTLS.
pub const DTLS_RECORD_OVERHEAD: usize = 256;

/// Server side of `dtls_server_setup` (Godot's `TLSOptions.server(key, certificate)`).
#[derive(Clone)]
pub struct DtlsServerOptions {
    /// PEM certificate chain, leaf first (`X509Certificate.save_to_string()`; several
    /// certificates may follow each other).
    pub certificate_chain_pem: String,
    /// PEM private key of the leaf certificate (`CryptoKey.save_to_string()`).
    pub private_key_pem: String,
    /// Cap on handshakes in progress; further ClientHellos are dropped. 0 refuses every new
    /// session, as Godot does while refusing new connections.
    pub max_pending_handshakes: usize,
    /// How long a handshake may take, and how long a finished session may then wait for an
    /// ENet peer on its address.
    pub session_timeout: Duration,
}

impl DtlsServerOptions {
    /// Options with a certificate chain and key in PEM and the default limits.
    pub fn new(
        certificate_chain_pem: impl Into<String>,
        private_key_pem: impl Into<String>,
    ) -> Self {
        DtlsServerOptions {
            certificate_chain_pem: certificate_chain_pem.into(),
            private_key_pem: private_key_pem.into(),
            max_pending_handshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
            session_timeout: DEFAULT_SESSION_TIMEOUT,
        }
    }
}

impl std::fmt::Debug for DtlsServerOptions {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServerOptions")
            .field("certificate_chain_pem", &self.certificate_chain_pem.len())
            .field("private_key_pem", &"<redacted>")
            .field("max_pending_handshakes", &self.max_pending_handshakes)
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

/// Client side of `dtls_client_setup(hostname, options)` (Godot's `TLSOptions.client()` /
/// `TLSOptions.client_unsafe()`).
#[derive(Debug, Clone, Default)]
pub struct DtlsClientOptions {
    /// Name the server certificate must carry, also sent as SNI. An IP address literal is
    /// matched against the certificate's IP addresses and sends no SNI. Godot uses the
    /// `common_name_override` of the options if set, else the `hostname` argument.
    pub hostname: String,
    /// PEM certificates to trust instead of the system roots (Godot's `trusted_chain`).
    pub trusted_certificates_pem: Option<String>,
    /// Accept any certificate for any name (`TLSOptions.client_unsafe()`): encrypted but open to
    /// a man in the middle. For self-signed development certificates.
    pub unsafe_skip_verification: bool,
}

impl DtlsClientOptions {
    /// Verify the server against the system roots for `hostname`.
    pub fn new(hostname: impl Into<String>) -> Self {
        DtlsClientOptions {
            hostname: hostname.into(),
            ..DtlsClientOptions::default()
        }
    }
}

/// Why `dtls_server_setup` / `dtls_client_setup` failed. Godot maps `Unavailable` and
/// `AlreadyEnabled` to `FAILED`, the option errors to `ERR_INVALID_PARAMETER`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DtlsError {
    /// Built without the `dtls` feature ("DTLS is not available in this build").
    #[error("dtls is not available in this build")]
    Unavailable,
    /// The host already uses DTLS; like Godot's socket, it can be upgraded only once.
    #[error("the host already uses dtls")]
    AlreadyEnabled,
    /// The certificate chain PEM has no parsable certificate.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// The private key PEM is not a key, or does not match the leaf certificate.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),
    /// The client hostname is empty while verification is on.
    #[error("a hostname is required unless verification is skipped")]
    MissingHostname,
    /// The DTLS library refused the configuration.
    #[error("dtls setup failed: {0}")]
    Setup(String),
}

/// Server sessions by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DtlsSessions {
    /// Handshakes in progress (counted against the pending cap).
    pub handshaking: usize,
    /// Sessions whose handshake completed.
    pub established: usize,
}

/// State of a DTLS client's session with its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DtlsClientState {
    /// No session; the next datagram ENet sends starts a handshake.
    Idle,
    /// Handshake in progress.
    Handshaking,
    /// Records flow.
    Connected,
    /// The handshake failed (for example the certificate was refused) or the session broke.
    /// Godot reports this as an error from `service()` (`EVENT_ERROR`). Everything ENet sends is
    /// dropped until the host has no peers left; then the state returns to `Idle`.
    Failed(String),
    /// The server closed the session (close_notify); otherwise as `Failed`.
    Closed,
}

/// The DTLS side of a [`UdpHost`](crate::UdpHost): no variant exists without the feature.
#[derive(Debug)]
pub(crate) enum Dtls {
    #[cfg(feature = "dtls")]
    Server(Box<server::DtlsServer>),
    #[cfg(feature = "dtls")]
    Client(Box<client::DtlsClient>),
}

#[cfg(feature = "dtls")]
impl Dtls {
    pub(crate) fn server(options: DtlsServerOptions, peer_limit: usize) -> Result<Dtls, DtlsError> {
        server::DtlsServer::new(options, peer_limit).map(|s| Dtls::Server(Box::new(s)))
    }

    pub(crate) fn client(options: DtlsClientOptions) -> Result<Dtls, DtlsError> {
        client::DtlsClient::new(options).map(|c| Dtls::Client(Box::new(c)))
    }

    /// Encrypt one ENet datagram for `to`; the records come out of
    /// [`poll_transmit`](Self::poll_transmit).
    pub(crate) fn handle_send(&mut self, now: Instant, to: SocketAddr, datagram: &[u8]) {
        match self {
            Dtls::Server(s) => s.handle_send(to, datagram, true),
            Dtls::Client(c) => c.handle_send(now, to, datagram),
        }
    }

    /// Encrypt a datagram from `UdpHost::socket_send`, which belongs to no ENet peer.
    pub(crate) fn handle_raw_send(&mut self, now: Instant, to: SocketAddr, datagram: &[u8]) {
        match self {
            Dtls::Server(s) => s.handle_send(to, datagram, false),
            Dtls::Client(c) => c.handle_send(now, to, datagram),
        }
    }

    /// One datagram from the socket; each ENet datagram it decrypts to goes to `deliver`.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        deliver: impl FnMut(&[u8]),
    ) {
        match self {
            Dtls::Server(s) => s.handle_datagram(now, from, datagram, deliver),
            Dtls::Client(c) => c.handle_datagram(from, datagram, deliver),
        }
    }

    /// Handshake retransmissions, session timeouts, and sessions whose ENet peer left `host`.
    pub(crate) fn handle_timeout(&mut self, now: Instant, host: &Host) {
        match self {
            Dtls::Server(s) => s.handle_timeout(now, host),
            Dtls::Client(c) => c.handle_timeout(now, host),
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) has work.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Dtls::Server(s) => s.poll_timeout(),
            Dtls::Client(c) => c.poll_timeout(),
        }
    }

    /// The next datagram for the socket.
    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.common_mut().outbox.pop_front()
    }

    fn common_mut(&mut self) -> &mut common::Common {
        match self {
            Dtls::Server(s) => &mut s.common,
            Dtls::Client(c) => &mut c.common,
        }
    }

    /// Add this layer's counters to the driver's.
    pub(crate) fn add_statistics(&self, stats: &mut DriverStatistics) {
        let counters = match self {
            Dtls::Server(s) => &s.common.counters,
            Dtls::Client(c) => &c.common.counters,
        };
        stats.add(counters);
    }

    pub(crate) fn sessions(&self) -> DtlsSessions {
        match self {
            Dtls::Server(s) => s.sessions(),
            Dtls::Client(c) => c.sessions(),
        }
    }

    pub(crate) fn client_state(&self) -> Option<DtlsClientState> {
        match self {
            Dtls::Server(_) => None,
            Dtls::Client(c) => Some(c.state()),
        }
    }

    /// Godot's `refuse_new_connections` on a DTLS server: no new handshakes while set.
    pub(crate) fn set_refuse_new_sessions(&mut self, refuse: bool) {
        if let Dtls::Server(s) = self {
            s.refuse_new_sessions = refuse;
        }
    }
}

/// Without the feature setup fails with [`DtlsError::Unavailable`] and no `Dtls` value exists.
#[cfg(not(feature = "dtls"))]
impl Dtls {
    pub(crate) fn server(_: DtlsServerOptions, _: usize) -> Result<Dtls, DtlsError> {
        Err(DtlsError::Unavailable)
    }

    pub(crate) fn client(_: DtlsClientOptions) -> Result<Dtls, DtlsError> {
        Err(DtlsError::Unavailable)
    }

    pub(crate) fn handle_send(&mut self, _: Instant, _: SocketAddr, _: &[u8]) {
        match *self {}
    }

    pub(crate) fn handle_raw_send(&mut self, _: Instant, _: SocketAddr, _: &[u8]) {
        match *self {}
    }

    pub(crate) fn handle_datagram(
        &mut self,
        _: Instant,
        _: SocketAddr,
        _: &[u8],
        _: impl FnMut(&[u8]),
    ) {
        match *self {}
    }

    pub(crate) fn handle_timeout(&mut self, _: Instant, _: &Host) {
        match *self {}
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match *self {}
    }

    pub(crate) fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        match *self {}
    }

    pub(crate) fn add_statistics(&self, _: &mut DriverStatistics) {
        match *self {}
    }

    pub(crate) fn sessions(&self) -> DtlsSessions {
        match *self {}
    }

    pub(crate) fn client_state(&self) -> Option<DtlsClientState> {
        match *self {}
    }

    pub(crate) fn set_refuse_new_sessions(&mut self, _: bool) {
        match *self {}
    }
}
