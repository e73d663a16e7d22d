//! The DTLS server: per-address sessions behind a stateless cookie exchange.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use openssl::ex_data::Index;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslOptions, SslRef, SslStream};
use openssl::x509::X509;
use rust_enet_proto::Host;

use super::common::{Common, DatagramPipe, ReadEnd, context_builder, describe_failure, is_want};
use super::{DTLS_HANDSHAKE_MTU, DtlsError, DtlsServerOptions, DtlsSessions};

/// How often sessions are checked against the host's peers and handshakes are stepped (OpenSSL
/// retransmits a handshake flight when stepped after its timer, 1 s doubling, ran out).
const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Cookies are valid for the current and the previous period of this many seconds.
const COOKIE_PERIOD_SECS: u64 = 60;

/// Bytes of HMAC-SHA256 used as the cookie.
const COOKIE_LEN: usize = 32;

#[derive(Debug)]
enum Phase {
    Handshaking,
    Established,
}

#[derive(Debug)]
struct Session {
    stream: SslStream<DatagramPipe>,
    phase: Phase,
    /// When the session's current deadline started: its creation while it handshakes, the end
    /// of its handshake once established. An unbound session goes `session_timeout` after it.
    since: Instant,
    /// An ENet peer on this address has been seen; its departure closes the session.
    bound: bool,
    /// The random of the ClientHello that started the session.
    client_random: [u8; 32],
}

impl Session {
    /// The handshake finished: the client gets a whole `session_timeout` from now to bring its
    /// ENet peer (its CONNECT was held until now), however long a lossy or loaded handshake took.
    fn establish(&mut self, now: Instant) {
        self.phase = Phase::Established;
        self.since = now;
    }
}

/// Server half of the DTLS layer.
pub(crate) struct DtlsServer {
    context: SslContext,
    sessions: HashMap<SocketAddr, Session>,
    handshaking: usize,
    max_pending: usize,
    max_sessions: usize,
    session_timeout: Duration,
    pub(super) refuse_new_sessions: bool,
    next_sweep: Option<Instant>,
    pub(super) common: Common,
}

impl std::fmt::Debug for DtlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer")
            .field("sessions", &self.sessions.len())
            .field("handshaking", &self.handshaking)
            .field("max_pending", &self.max_pending)
            .finish_non_exhaustive()
    }
}

/// Where the cookie callbacks find the client's address.
fn address_index() -> Result<Index<Ssl, SocketAddr>, DtlsError> {
    static INDEX: OnceLock<Result<Index<Ssl, SocketAddr>, String>> = OnceLock::new();
    INDEX
        .get_or_init(|| Ssl::new_ex_index().map_err(|err| err.to_string()))
        .clone()
        .map_err(DtlsError::Setup)
}

/// HMAC-SHA256 of the address (as a 16-byte IPv6 form and port, as mbedTLS's transport id) and a
/// time period, so a cookie proves the client receives at that address and goes stale.
fn cookie(secret: &PKey<openssl::pkey::Private>, addr: SocketAddr, period: u64) -> Option<Vec<u8>> {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let mut signer = Signer::new(MessageDigest::sha256(), secret).ok()?;
    signer.update(&ip.octets()).ok()?;
    signer.update(&addr.port().to_be_bytes()).ok()?;
    signer.update(&period.to_be_bytes()).ok()?;
    let mut mac = signer.sign_to_vec().ok()?;
    mac.truncate(COOKIE_LEN);
    Some(mac)
}

fn cookie_period() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / COOKIE_PERIOD_SECS)
}

/// What the server reads from a ClientHello before OpenSSL sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hello {
    /// The client's random, which tells a retransmitted hello from a new handshake.
    random: [u8; 32],
    cookie_len: usize,
}

/// The header fields of a datagram that starts with an unfragmented-or-first-fragment DTLS
/// ClientHello in epoch 0; `None` for anything else. Only such datagrams may create state.
fn parse_client_hello(datagram: &[u8]) -> Option<Hello> {
    // Record header: type, version, epoch, sequence number (6), length.
    const RECORD: usize = 13;
    // Handshake header: type, length (3), message_seq (2), fragment offset (3), fragment length (3).
    const HANDSHAKE: usize = 12;
    let record = datagram.get(..RECORD)?;
    let content_type_handshake = record[0] == 22;
    let dtls_version = record[1] == 0xfe;
    let epoch_zero = record[3] == 0 && record[4] == 0;
    if !(content_type_handshake && dtls_version && epoch_zero) {
        return None;
    }
    let handshake = datagram.get(RECORD..RECORD + HANDSHAKE)?;
    let client_hello = handshake[0] == 1;
    let first_fragment = handshake[6..9] == [0, 0, 0];
    if !(client_hello && first_fragment) {
        return None;
    }
    // Body: client_version (2), random (32), session_id (1 + n), cookie (1 + n).
    let body = &datagram[RECORD + HANDSHAKE..];
    let random = body.get(2..34)?.try_into().ok()?;
    let session_id_len = usize::from(*body.get(34)?);
    let cookie_len = usize::from(*body.get(35 + session_id_len)?);
    Some(Hello { random, cookie_len })
}

/// The cookie-less first ClientHello that `hello` (an unfragmented ClientHello with a cookie,
/// alone in its datagram) answered a HelloVerifyRequest to: same fields, no cookie, message
/// sequence 0, and a record sequence number just before (or after) the real one.
///
/// A fresh OpenSSL server expects handshake message 0, but the second ClientHello is message 1;
/// OpenSSL's `DTLSv1_listen` fixes that inside the library, out of reach without `unsafe`.
/// Replaying this first hello makes the fresh session answer (a HelloVerifyRequest that is
/// thrown away, with the same deterministic cookie) and then expect message 1. The handshake
/// hash restarts after a HelloVerifyRequest (RFC 6347 section 4.2.1), so nothing of the
/// replayed hello reaches the transcript.
fn replayed_first_hello(hello: &[u8]) -> Option<Vec<u8>> {
    const RECORD: usize = 13;
    const HANDSHAKE: usize = 12;
    let u24 = |b: &[u8]| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]);
    let record_len = usize::from(u16::from_be_bytes([*hello.get(11)?, *hello.get(12)?]));
    if record_len != hello.len().checked_sub(RECORD)? || record_len < HANDSHAKE {
        return None;
    }
    let handshake = &hello[RECORD..RECORD + HANDSHAKE];
    let body = &hello[RECORD + HANDSHAKE..];
    let message_len = u24(&handshake[1..4]);
    if message_len != body.len()
        || u24(&handshake[6..9]) != 0
        || u24(&handshake[9..12]) != body.len()
    {
        return None;
    }
    let session_id_len = usize::from(*body.get(34)?);
    let cookie_at = 35 + session_id_len;
    let cookie_len = usize::from(*body.get(cookie_at)?);
    let rest = body.get(cookie_at + 1 + cookie_len..)?;
    let mut new_body = Vec::with_capacity(body.len() - cookie_len);
    new_body.extend_from_slice(&body[..cookie_at]);
    new_body.push(0);
    new_body.extend_from_slice(rest);

    let mut sequence = [0u8; 8];
    sequence[2..].copy_from_slice(&hello[5..11]);
    let sequence = u64::from_be_bytes(sequence);
    // An older unseen number passes the replay window, so the real hello still gets through.
    let replayed_sequence = if sequence > 0 { sequence - 1 } else { 1 };

    let new_len = new_body.len();
    let mut out = Vec::with_capacity(RECORD + HANDSHAKE + new_len);
    out.extend_from_slice(&hello[..5]);
    out.extend_from_slice(&replayed_sequence.to_be_bytes()[2..]);
    out.extend_from_slice(&u16::try_from(HANDSHAKE + new_len).ok()?.to_be_bytes());
    out.push(handshake[0]);
    out.extend_from_slice(&u32::try_from(new_len).ok()?.to_be_bytes()[1..]);
    out.extend_from_slice(&[0, 0, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(new_len).ok()?.to_be_bytes()[1..]);
    out.extend_from_slice(&new_body);
    Some(out)
}

impl DtlsServer {
    pub(crate) fn new(
        options: DtlsServerOptions,
        peer_limit: usize,
    ) -> Result<DtlsServer, DtlsError> {
        let setup = |err: openssl::error::ErrorStack| DtlsError::Setup(err.to_string());
        let chain = X509::stack_from_pem(options.certificate_chain_pem.as_bytes())
            .map_err(|err| DtlsError::InvalidCertificate(err.to_string()))?;
        let mut chain = chain.into_iter();
        let Some(leaf) = chain.next() else {
            return Err(DtlsError::InvalidCertificate(
                "no certificate in the pem".into(),
            ));
        };
        let key = PKey::private_key_from_pem(options.private_key_pem.as_bytes())
            .map_err(|err| DtlsError::InvalidPrivateKey(err.to_string()))?;

        let mut builder = context_builder(SslMethod::dtls_server())?;
        builder.set_certificate(&leaf).map_err(setup)?;
        for cert in chain {
            builder.add_extra_chain_cert(cert).map_err(setup)?;
        }
        let mismatch = |err: openssl::error::ErrorStack| {
            DtlsError::InvalidPrivateKey(format!("does not match the certificate: {err}"))
        };
        builder.set_private_key(&key).map_err(mismatch)?;
        builder.check_private_key().map_err(mismatch)?;

        let mut secret = [0u8; 32];
        openssl::rand::rand_bytes(&mut secret).map_err(setup)?;
        let secret = PKey::hmac(&secret).map_err(setup)?;
        let index = address_index()?;
        let generate_secret = secret.clone();
        builder.set_cookie_generate_cb(move |ssl: &mut SslRef, out: &mut [u8]| {
            let addr = ssl.ex_data(index).copied();
            let mac = addr.and_then(|addr| cookie(&generate_secret, addr, cookie_period()));
            match mac {
                Some(mac) if mac.len() <= out.len() => {
                    out[..mac.len()].copy_from_slice(&mac);
                    Ok(mac.len())
                }
                _ => Err(openssl::error::ErrorStack::get()),
            }
        });
        builder.set_cookie_verify_cb(move |ssl: &mut SslRef, presented: &[u8]| {
            let Some(addr) = ssl.ex_data(index).copied() else {
                return false;
            };
            let period = cookie_period();
            [period, period.saturating_sub(1)].into_iter().any(|p| {
                cookie(&secret, addr, p).is_some_and(|mac| {
                    mac.len() == presented.len() && openssl::memcmp::eq(&mac, presented)
                })
            })
        });
        builder.set_options(SslOptions::COOKIE_EXCHANGE);

        Ok(DtlsServer {
            context: builder.build(),
            sessions: HashMap::new(),
            handshaking: 0,
            max_pending: options.max_pending_handshakes,
            max_sessions: peer_limit.saturating_add(options.max_pending_handshakes),
            session_timeout: options.session_timeout,
            refuse_new_sessions: false,
            next_sweep: None,
            common: Common::new(),
        })
    }

    pub(super) fn sessions(&self) -> DtlsSessions {
        DtlsSessions {
            handshaking: self.handshaking,
            established: self.sessions.len() - self.handshaking,
        }
    }

    /// `from_core`: ENet sends only to addresses it has a peer for, so such a send binds the
    /// session to that peer (raw `socket_send` datagrams do not).
    pub(super) fn handle_send(&mut self, to: SocketAddr, datagram: &[u8], from_core: bool) {
        match self.sessions.get_mut(&to) {
            Some(session) if matches!(session.phase, Phase::Established) => {
                session.bound |= from_core;
                self.common.write_record(to, &mut session.stream, datagram);
            }
            // As Godot since PR #95067: a send to an unknown session is dropped quietly and ENet
            // times the peer out.
            _ => self.common.counters.dtls_unsent += 1,
        }
    }

    pub(super) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &[u8],
        mut deliver: impl FnMut(&[u8]),
    ) {
        let hello = parse_client_hello(datagram);
        let Entry::Occupied(mut entry) = self.sessions.entry(from) else {
            match hello {
                Some(hello) => self.handle_hello(now, from, datagram, hello),
                None => self.common.counters.dtls_dropped += 1,
            }
            return;
        };
        let session = entry.get_mut();
        match hello {
            // A retransmission of the hello that started this session goes to the session, which
            // answers with its flight again.
            Some(hello) if hello.random == session.client_random => {}
            // A new handshake from this address (a restarted client, or ours after a lost final
            // flight): answered statelessly, and it replaces the session only once it brings a
            // valid cookie, so a spoofed hello cannot end a session.
            Some(hello) => {
                self.handle_hello(now, from, datagram, hello);
                return;
            }
            None => {}
        }
        if !session.stream.get_mut().push(datagram) {
            self.common.counters.dtls_dropped += 1;
            return;
        }
        if matches!(session.phase, Phase::Handshaking) {
            match session.stream.do_handshake() {
                Ok(()) => {
                    session.establish(now);
                    self.handshaking = self.handshaking.saturating_sub(1);
                    tracing::debug!(%from, "dtls session established");
                }
                Err(err) if is_want(&err) => {
                    self.common.collect(from, &mut session.stream);
                    return;
                }
                Err(err) => {
                    self.common.counters.dtls_failed_handshakes += 1;
                    tracing::debug!(%from, reason = %describe_failure(&session.stream, &err), "dtls handshake failed");
                    self.common.collect(from, &mut session.stream);
                    entry.remove();
                    self.handshaking = self.handshaking.saturating_sub(1);
                    return;
                }
            }
        }
        match self
            .common
            .read_records(from, &mut session.stream, datagram, &mut deliver)
        {
            ReadEnd::Drained => {}
            ReadEnd::Closed => {
                tracing::debug!(%from, "dtls session closed by the client");
                entry.remove();
            }
            ReadEnd::Failed(reason) => {
                self.common.counters.dtls_dropped += 1;
                tracing::debug!(%from, %reason, "dtls session failed");
                entry.remove();
            }
        }
    }

    /// A ClientHello that starts a handshake: answered with a HelloVerifyRequest without keeping
    /// anything; with a valid cookie it gets a session (replacing one on the same address).
    fn handle_hello(&mut self, now: Instant, from: SocketAddr, datagram: &[u8], hello: Hello) {
        let cookie_len = hello.cookie_len;
        let replaced = self.sessions.get(&from);
        let replaced_handshake =
            usize::from(replaced.is_some_and(|s| matches!(s.phase, Phase::Handshaking)));
        let new_session = usize::from(replaced.is_none());
        if self.refuse_new_sessions
            || self.handshaking.saturating_sub(replaced_handshake) >= self.max_pending
            || self.sessions.len() + new_session > self.max_sessions
        {
            self.common.counters.dtls_refused_handshakes += 1;
            return;
        }
        let Some(mut stream) = self.new_stream(from) else {
            self.common.counters.dtls_dropped += 1;
            return;
        };
        if cookie_len > 0 {
            let Some(first) = replayed_first_hello(datagram) else {
                self.common.counters.dtls_dropped += 1;
                return;
            };
            stream.get_mut().push(&first);
            if !matches!(stream.do_handshake(), Err(err) if is_want(&err)) {
                self.common.counters.dtls_failed_handshakes += 1;
                return;
            }
            // The HelloVerifyRequest to the replayed hello: the client already has it.
            stream.get_mut().discard_outgoing();
        }
        stream.get_mut().push(datagram);
        match stream.do_handshake() {
            Err(err) if is_want(&err) => {
                self.common.collect(from, &mut stream);
                if cookie_len == 0 {
                    // OpenSSL answered with a HelloVerifyRequest; forget it, the cookie will
                    // bring the client back.
                    return;
                }
                self.next_sweep.get_or_insert(now + SWEEP_INTERVAL);
                self.handshaking += 1 - replaced_handshake;
                if replaced_handshake == 0 && new_session == 0 {
                    tracing::debug!(%from, "dtls session replaced by a new handshake");
                }
                self.sessions.insert(
                    from,
                    Session {
                        stream,
                        phase: Phase::Handshaking,
                        since: now,
                        bound: false,
                        client_random: hello.random,
                    },
                );
            }
            Ok(()) => {
                // A handshake cannot finish on its first datagram.
                self.common.counters.dtls_failed_handshakes += 1;
            }
            Err(err) => {
                // A wrong or stale cookie, or a malformed hello.
                self.common.counters.dtls_failed_handshakes += 1;
                tracing::debug!(%from, reason = %describe_failure(&stream, &err), "dtls hello refused");
            }
        }
    }

    fn new_stream(&self, from: SocketAddr) -> Option<SslStream<DatagramPipe>> {
        let mut ssl = Ssl::new(&self.context).ok()?;
        ssl.set_ex_data(address_index().ok()?, from);
        ssl.set_mtu(DTLS_HANDSHAKE_MTU).ok()?;
        ssl.set_accept_state();
        SslStream::new(ssl, DatagramPipe::default()).ok()
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.next_sweep
    }

    pub(super) fn handle_timeout(&mut self, now: Instant, host: &Host) {
        if self.next_sweep.take_if(|due| *due <= now).is_none() {
            return;
        }
        if self.sessions.is_empty() {
            return;
        }
        let peers: std::collections::HashSet<SocketAddr> =
            host.peers().map(|(_, peer)| peer.address()).collect();
        let timeout = self.session_timeout;
        let common = &mut self.common;
        let mut handshaking = 0;
        self.sessions.retain(|&addr, session| {
            let has_peer = peers.contains(&addr);
            if has_peer {
                session.bound = true;
            }
            let keep = if session.bound {
                has_peer
            } else {
                now.saturating_duration_since(session.since) < timeout
            };
            if !keep {
                tracing::debug!(%addr, "dtls session closed: its enet peer left or never came");
                if matches!(session.phase, Phase::Established) {
                    // close_notify, so the client's layer learns at once.
                    let _ = session.stream.shutdown();
                }
                common.collect(addr, &mut session.stream);
                return false;
            }
            if matches!(session.phase, Phase::Handshaking) {
                // Lets OpenSSL retransmit the last flight when its timer ran out.
                match session.stream.do_handshake() {
                    Ok(()) => session.establish(now),
                    Err(err) if is_want(&err) => handshaking += 1,
                    Err(_) => {
                        common.counters.dtls_failed_handshakes += 1;
                        common.collect(addr, &mut session.stream);
                        return false;
                    }
                }
                common.collect(addr, &mut session.stream);
            }
            true
        });
        self.handshaking = handshaking;
        if !self.sessions.is_empty() {
            self.next_sweep = Some(now + SWEEP_INTERVAL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_epoch_zero_client_hellos_count() {
        let mut hello = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60];
        hello.extend_from_slice(&[1, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 48]);
        hello.extend_from_slice(&[0xfe, 0xfd]);
        hello.extend_from_slice(&[7; 32]);
        hello.extend_from_slice(&[0, 3, 1, 2, 3]);
        assert_eq!(
            parse_client_hello(&hello),
            Some(Hello {
                random: [7; 32],
                cookie_len: 3
            })
        );
        let mut epoch_one = hello.clone();
        epoch_one[4] = 1;
        assert_eq!(parse_client_hello(&epoch_one), None);
        let mut application = hello.clone();
        application[0] = 23;
        assert_eq!(parse_client_hello(&application), None);
        assert_eq!(parse_client_hello(&hello[..50]), None);
        assert_eq!(parse_client_hello(&[]), None);
    }
}
