//! An in-memory DTLS client and server with a finished handshake, for the `dtls_records` fuzz
//! target (`rust/enet-proto/fuzz`), behind the `fuzzing` feature: no sockets, datagrams handed
//! between the two [`Dtls`] layers by [`DtlsPair::pump`], a clock advanced by hand.
//!
//! Drive it with [`DtlsPair::connected`], then any mix of [`to_server`](DtlsPair::to_server)
//! (raw datagrams from the client's address or a stranger's), [`to_client`](DtlsPair::to_client),
//! [`client_records`](DtlsPair::client_records) (what the client makes of a plaintext, to tamper
//! with), [`advance`](DtlsPair::advance) and [`pump`](DtlsPair::pump).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rust_enet_proto::{Host, HostConfig};

use super::{Dtls, DtlsClientOptions, DtlsClientState, DtlsServerOptions};

/// The client's address as the server sees it.
pub const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1001);
/// The server's address as the client sees it.
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2002);
/// Someone else.
pub const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 3003);

/// Bound on exchange rounds per [`DtlsPair::pump`].
const ROUNDS: usize = 24;

/// A DTLS server and client in memory.
#[derive(Debug)]
pub struct DtlsPair {
    server: Dtls,
    client: Dtls,
    server_host: Host,
    client_host: Host,
    now: Instant,
    /// ENet datagrams the server / the client decrypted.
    pub delivered: (usize, usize),
}

impl DtlsPair {
    /// Server with `certificate_pem` / `key_pem`, an unverifying client, and a finished
    /// handshake (`None` if it did not finish).
    pub fn connected(certificate_pem: &str, key_pem: &str) -> Option<DtlsPair> {
        let server = Dtls::server(DtlsServerOptions::new(certificate_pem, key_pem), 4).ok()?;
        let client = Dtls::client(DtlsClientOptions {
            hostname: "fuzz.test".into(),
            trusted_certificates_pem: None,
            unsafe_skip_verification: true,
        })
        .ok()?;
        let host = |peer_limit| {
            Host::new(HostConfig {
                peer_limit,
                ..HostConfig::default()
            })
            .ok()
        };
        let mut pair = DtlsPair {
            server,
            client,
            server_host: host(4)?,
            client_host: host(1)?,
            now: Instant::now(),
            delivered: (0, 0),
        };
        // What starts the handshake: the first datagram the client's ENet would send.
        pair.client
            .handle_send(pair.now, SERVER, &[0x8f, 0xff, 0, 1]);
        for _ in 0..8 {
            pair.pump();
            if pair.client.client_state() == Some(DtlsClientState::Connected) {
                return Some(pair);
            }
            pair.advance(50);
        }
        None
    }

    /// Exchanges what both layers have to send until quiet (bounded); what the server sends to
    /// other addresses is dropped.
    pub fn pump(&mut self) {
        for _ in 0..ROUNDS {
            let mut quiet = true;
            while let Some((to, datagram)) = self.server.poll_transmit() {
                quiet = false;
                if to == CLIENT {
                    self.to_client(&datagram);
                }
            }
            while let Some((to, datagram)) = self.client.poll_transmit() {
                quiet = false;
                if to == SERVER {
                    self.to_server(CLIENT, &datagram);
                }
            }
            if quiet {
                return;
            }
        }
    }

    /// One datagram to the server from `from`.
    pub fn to_server(&mut self, from: SocketAddr, datagram: &[u8]) {
        let mut n = 0;
        self.server
            .handle_datagram(self.now, from, datagram, |_| n += 1);
        self.delivered.0 += n;
    }

    /// One datagram to the client from the server's address.
    pub fn to_client(&mut self, datagram: &[u8]) {
        let mut n = 0;
        self.client
            .handle_datagram(self.now, SERVER, datagram, |_| n += 1);
        self.delivered.1 += n;
    }

    /// The records the client makes of `plaintext` (an ENet datagram), taken out of its outbox
    /// instead of sent.
    pub fn client_records(&mut self, plaintext: &[u8]) -> Vec<Vec<u8>> {
        self.client.handle_send(self.now, SERVER, plaintext);
        std::iter::from_fn(|| self.client.poll_transmit().map(|(_, d)| d)).collect()
    }

    /// Moves the clock on by `ms` and runs both layers' timers.
    pub fn advance(&mut self, ms: u64) {
        self.now += Duration::from_millis(ms);
        self.server.handle_timeout(self.now, &self.server_host);
        self.client.handle_timeout(self.now, &self.client_host);
    }
}
