//! The DTLS client: one session with the server, started by the first datagram ENet sends.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use openssl::ssl::{Ssl, SslContext, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::X509;
use openssl::x509::store::X509StoreBuilder;
use rust_enet_proto::Host;

use super::common::{Common, DatagramPipe, ReadEnd, context_builder, describe_failure, is_want};
use super::{DTLS_HANDSHAKE_MTU, DtlsClientOptions, DtlsClientState, DtlsError, DtlsSessions};

/// How often a running handshake is stepped so OpenSSL can retransmit a lost flight, and how
/// often the session is checked against the host's peers.
const STEP_INTERVAL: Duration = Duration::from_millis(100);

/// A handshake that has not completed after this long starts over with a new ClientHello.
/// OpenSSL doubles its retransmission timer (1 s, 2 s, 4 s, ...) and a server answers a lost
/// final flight only when the client's retransmission reaches it, so under heavy loss a fresh
/// start is the faster way; the server replaces the old session once the new hello returns a
/// valid cookie.
const HANDSHAKE_RESTART: Duration = Duration::from_secs(5);

/// ENet datagrams held while the handshake runs (Godot holds none; ENet retransmits).
const HELD_DATAGRAMS: usize = 32;

/// Client half of the DTLS layer.
pub(crate) struct DtlsClient {
    context: SslContext,
    hostname: String,
    verify: bool,
    state: DtlsClientState,
    server: Option<SocketAddr>,
    stream: Option<SslStream<DatagramPipe>>,
    held: VecDeque<Vec<u8>>,
    next_step: Option<Instant>,
    handshake_started: Option<Instant>,
    pub(super) common: Common,
}

impl std::fmt::Debug for DtlsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsClient")
            .field("hostname", &self.hostname)
            .field("verify", &self.verify)
            .field("state", &self.state)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl DtlsClient {
    pub(crate) fn new(options: DtlsClientOptions) -> Result<DtlsClient, DtlsError> {
        let setup = |err: openssl::error::ErrorStack| DtlsError::Setup(err.to_string());
        let verify = !options.unsafe_skip_verification;
        if verify && options.hostname.is_empty() {
            return Err(DtlsError::MissingHostname);
        }
        let mut builder = context_builder(SslMethod::dtls_client())?;
        if verify {
            builder.set_verify(SslVerifyMode::PEER);
            match &options.trusted_certificates_pem {
                Some(pem) => {
                    let certs = X509::stack_from_pem(pem.as_bytes())
                        .map_err(|err| DtlsError::InvalidCertificate(err.to_string()))?;
                    if certs.is_empty() {
                        return Err(DtlsError::InvalidCertificate(
                            "no trusted certificate in the pem".into(),
                        ));
                    }
                    let mut store = X509StoreBuilder::new().map_err(setup)?;
                    for cert in certs {
                        store.add_cert(cert).map_err(setup)?;
                    }
                    builder
                        .set_verify_cert_store(store.build())
                        .map_err(setup)?;
                }
                None => builder.set_default_verify_paths().map_err(setup)?,
            }
        } else {
            builder.set_verify(SslVerifyMode::NONE);
        }
        Ok(DtlsClient {
            context: builder.build(),
            hostname: options.hostname,
            verify,
            state: DtlsClientState::Idle,
            server: None,
            stream: None,
            held: VecDeque::new(),
            next_step: None,
            handshake_started: None,
            common: Common::new(),
        })
    }

    pub(super) fn state(&self) -> DtlsClientState {
        self.state.clone()
    }

    pub(super) fn sessions(&self) -> DtlsSessions {
        DtlsSessions {
            handshaking: usize::from(self.state == DtlsClientState::Handshaking),
            established: usize::from(self.state == DtlsClientState::Connected),
        }
    }

    fn new_stream(&self) -> Result<SslStream<DatagramPipe>, openssl::error::ErrorStack> {
        let mut ssl = Ssl::new(&self.context)?;
        ssl.set_mtu(DTLS_HANDSHAKE_MTU)?;
        if self.verify {
            match self.hostname.parse::<IpAddr>() {
                // No SNI for address literals (RFC 6066 section 3).
                Ok(ip) => ssl.param_mut().set_ip(ip)?,
                Err(_) => {
                    ssl.set_hostname(&self.hostname)?;
                    ssl.param_mut().set_host(&self.hostname)?;
                }
            }
        }
        ssl.set_connect_state();
        SslStream::new(ssl, DatagramPipe::default())
    }

    pub(super) fn handle_send(&mut self, now: Instant, to: SocketAddr, datagram: &[u8]) {
        match self.state {
            DtlsClientState::Idle => {
                tracing::debug!(%to, "dtls handshake started");
                self.server = Some(to);
                self.state = DtlsClientState::Handshaking;
                self.next_step = Some(now + STEP_INTERVAL);
                self.held.push_back(datagram.to_vec());
                self.start_handshake(now, to);
            }
            DtlsClientState::Handshaking if self.server == Some(to) => {
                if self.held.len() >= HELD_DATAGRAMS {
                    self.held.pop_front();
                    self.common.counters.dtls_unsent += 1;
                }
                self.held.push_back(datagram.to_vec());
            }
            DtlsClientState::Connected if self.server == Some(to) => {
                if let Some(stream) = self.stream.as_mut() {
                    self.common.write_record(to, stream, datagram);
                }
            }
            // Another destination than the server, or no usable session.
            _ => self.common.counters.dtls_unsent += 1,
        }
    }

    pub(super) fn handle_datagram(
        &mut self,
        from: SocketAddr,
        datagram: &[u8],
        mut deliver: impl FnMut(&[u8]),
    ) {
        // A connected socket: only the server's datagrams are read.
        let (Some(server), Some(stream)) = (self.server, self.stream.as_mut()) else {
            self.common.counters.dtls_dropped += 1;
            return;
        };
        if from != server || !stream.get_mut().push(datagram) {
            self.common.counters.dtls_dropped += 1;
            return;
        }
        if self.state == DtlsClientState::Handshaking {
            self.step_handshake();
            if self.state != DtlsClientState::Connected {
                return;
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        match self
            .common
            .read_records(server, stream, datagram, &mut deliver)
        {
            ReadEnd::Drained => {}
            ReadEnd::Closed => {
                tracing::debug!(%server, "dtls session closed by the server");
                self.stream = None;
                self.held.clear();
                self.state = DtlsClientState::Closed;
            }
            ReadEnd::Failed(reason) => self.fail(reason),
        }
    }

    /// Send a first ClientHello on a new session (the held datagrams stay).
    fn start_handshake(&mut self, now: Instant, to: SocketAddr) {
        self.handshake_started = Some(now);
        let mut stream = match self.new_stream() {
            Ok(stream) => stream,
            Err(err) => return self.fail(err.to_string()),
        };
        match stream.do_handshake() {
            Err(err) if is_want(&err) => {
                self.common.collect(to, &mut stream);
                self.stream = Some(stream);
            }
            Ok(()) => self.fail("handshake ended on its first message".into()),
            Err(err) => self.fail(describe_failure(&stream, &err)),
        }
    }

    /// Advance the handshake with what has arrived; on completion send the held datagrams.
    fn step_handshake(&mut self) {
        let (Some(server), Some(stream)) = (self.server, self.stream.as_mut()) else {
            return;
        };
        match stream.do_handshake() {
            Ok(()) => {
                tracing::debug!(%server, "dtls session established");
                self.state = DtlsClientState::Connected;
                self.common.collect(server, stream);
                for datagram in self.held.drain(..) {
                    self.common.write_record(server, stream, &datagram);
                }
            }
            Err(err) if is_want(&err) => self.common.collect(server, stream),
            Err(err) => {
                let reason = describe_failure(stream, &err);
                self.common.collect(server, stream);
                self.common.counters.dtls_failed_handshakes += 1;
                self.fail(reason);
            }
        }
    }

    fn fail(&mut self, reason: String) {
        tracing::debug!(%reason, "dtls client failed");
        self.stream = None;
        self.common.counters.dtls_unsent += self.held.len() as u64;
        self.held.clear();
        self.state = DtlsClientState::Failed(reason);
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_step
    }

    pub(super) fn handle_timeout(&mut self, now: Instant, host: &Host) {
        if self.next_step.take_if(|due| *due <= now).is_none() {
            return;
        }
        if self.state == DtlsClientState::Idle {
            return;
        }
        if host.peers().next().is_none() {
            // The connection is over (or never came): close the session, so the next connect
            // starts a fresh handshake, as the server dropped its side too.
            if let (Some(server), Some(stream)) = (self.server, self.stream.as_mut()) {
                if self.state == DtlsClientState::Connected {
                    let _ = stream.shutdown();
                }
                self.common.collect(server, stream);
            }
            self.stream = None;
            self.server = None;
            self.held.clear();
            self.state = DtlsClientState::Idle;
            return;
        }
        if self.state == DtlsClientState::Handshaking {
            let restart = self
                .handshake_started
                .is_some_and(|start| now.saturating_duration_since(start) >= HANDSHAKE_RESTART);
            match self.server {
                Some(server) if restart => {
                    tracing::debug!(%server, "dtls handshake restarted");
                    self.start_handshake(now, server);
                }
                _ => self.step_handshake(),
            }
        }
        self.next_step = Some(now + STEP_INTERVAL);
    }
}
