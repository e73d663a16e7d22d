//! Helpers shared by the fuzz targets and the seed generator: two in-memory hosts connected by a
//! real handshake, and the record format of the `host_datagrams` target.
//!
//! Everything is deterministic (fixed host seeds, connect id and clock), so datagrams captured
//! from the client by `examples/gen_host_seeds.rs` carry the peer ids and session ids the server
//! of a fresh [`Pair`] expects.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rust_enet_proto::compress::{Compressor, RangeCoder, crc32};
use rust_enet_proto::wire::{CommandIter, DatagramHeader, PROTOCOL_MAXIMUM_PEER_ID};
use rust_enet_proto::{EnetTime, Event, Host, HostConfig, PeerId};

/// The connect id of every [`Pair`]'s connection (forced, so seeds stay valid).
pub const CONNECT_ID: [u8; 4] = [0x1a, 0x4a, 0x1d, 0xbf];

pub const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 1001);
pub const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 2002);
/// Another address, for datagrams that do not come from the connected client.
pub const STRANGER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3)), 3003);

/// Bound on request/response rounds per [`Pair::pump`], so a livelock cannot hang the fuzzer.
const PUMP_ROUNDS: usize = 16;

/// A server host (4 slots) and a client host (1 slot), connected on 2 channels.
pub struct Pair {
    pub server: Host,
    pub client: Host,
    /// The virtual clock in ms.
    pub now: u32,
    /// The client's slot for the server.
    pub client_peer: PeerId,
    /// Both hosts append checksums and compress with the range coder.
    pub secured: bool,
    buf: Vec<u8>,
}

impl Pair {
    /// Creates both hosts and runs the handshake to the CONNECT events on both sides.
    pub fn connected() -> Pair {
        Pair::connected_with(false)
    }

    /// [`connected`](Self::connected) with checksums and range-coder compression on both
    /// hosts (`secured`).
    pub fn connected_with(secured: bool) -> Pair {
        let config = |peer_limit, seed| HostConfig {
            peer_limit,
            seed,
            checksum: secured,
            compressor: secured.then(|| Box::new(RangeCoder::new()) as Box<dyn Compressor + Send>),
            ..HostConfig::default()
        };
        let server = Host::new(config(4, 1)).expect("valid config");
        let mut client = Host::new(config(1, 2)).expect("valid config");
        let now = 1_000;
        client.force_next_connect_id(CONNECT_ID);
        let client_peer = client
            .connect(EnetTime(now), SERVER, 2, 0x1234_5678)
            .expect("free slot");
        let mut pair = Pair {
            server,
            client,
            now,
            client_peer,
            secured,
            buf: vec![0; rust_enet_proto::host::MINIMUM_TRANSMIT_BUFFER],
        };
        let mut connected = (false, false);
        for _ in 0..8 {
            pair.step(10);
            let (server_events, client_events) = pair.pump();
            connected.0 |= server_events
                .iter()
                .any(|e| matches!(e, Event::Connect { .. }));
            connected.1 |= client_events
                .iter()
                .any(|e| matches!(e, Event::Connect { .. }));
            if connected == (true, true) {
                return pair;
            }
        }
        panic!("handshake did not complete: {connected:?}");
    }

    /// Advances the clock by `ms` and runs both hosts' timers.
    pub fn step(&mut self, ms: u32) {
        self.now = self.now.wrapping_add(ms);
        self.server.handle_timeout(EnetTime(self.now));
        self.client.handle_timeout(EnetTime(self.now));
    }

    /// Hands `datagram` to the server as if it came from `from`.
    pub fn to_server(&mut self, from: SocketAddr, datagram: &[u8]) {
        self.server
            .handle_datagram(EnetTime(self.now), from, datagram);
    }

    /// Exchanges datagrams between the hosts until both are quiet (or [`PUMP_ROUNDS`] pass), and
    /// drains their events. Every datagram either host produces must parse completely.
    pub fn pump(&mut self) -> (Vec<Event>, Vec<Event>) {
        let mut events = (Vec::new(), Vec::new());
        for _ in 0..PUMP_ROUNDS {
            let now = EnetTime(self.now);
            let (buf, secured) = (&mut self.buf, self.secured);
            let server_sent = relay(
                &mut self.server,
                SERVER,
                &mut self.client,
                CLIENT,
                now,
                buf,
                secured,
            );
            let client_sent = relay(
                &mut self.client,
                CLIENT,
                &mut self.server,
                SERVER,
                now,
                buf,
                secured,
            );
            events
                .0
                .extend(std::iter::from_fn(|| self.server.poll_event()));
            events
                .1
                .extend(std::iter::from_fn(|| self.client.poll_event()));
            if !server_sent && !client_sent {
                break;
            }
        }
        events
    }

    /// Drains the client's outgoing datagrams without delivering them (seed capture).
    pub fn take_client_datagrams(&mut self) -> Vec<Vec<u8>> {
        let now = EnetTime(self.now);
        std::iter::from_fn(|| {
            let t = self.client.poll_transmit(now, &mut self.buf)?;
            Some(self.buf[..t.len].to_vec())
        })
        .collect()
    }
}

/// Hands every datagram `from` (at `from_addr`) has to send now to `to` (at `to_addr`) if it is
/// addressed there, checking each ([`check_datagram`]). Returns whether `from` sent anything.
fn relay(
    from: &mut Host,
    from_addr: SocketAddr,
    to: &mut Host,
    to_addr: SocketAddr,
    now: EnetTime,
    buf: &mut [u8],
    secured: bool,
) -> bool {
    let mut sent = false;
    while let Some(t) = from.poll_transmit(now, buf) {
        sent = true;
        let datagram = &buf[..t.len];
        check_datagram(secured, datagram);
        if t.destination == to_addr {
            to.handle_datagram(now, from_addr, datagram);
        }
    }
    sent
}

/// What every emitted datagram must satisfy: well formed, or for a `secured` pair at least a
/// valid header (its command area is compressed and checksummed).
fn check_datagram(secured: bool, datagram: &[u8]) {
    if secured {
        DatagramHeader::parse(datagram).expect("host emitted a bad header");
    } else {
        assert_well_formed(datagram);
    }
}

/// A datagram a host produced (no checksum, no compression configured) must be a valid ENet
/// datagram whose commands fill it exactly.
pub fn assert_well_formed(datagram: &[u8]) {
    let (header, len) = DatagramHeader::parse(datagram).expect("host emitted a bad header");
    assert!(!header.compressed);
    let mut iter = CommandIter::new(&datagram[len..]);
    for item in iter.by_ref() {
        item.expect("host emitted a command that does not parse");
    }
    assert_eq!(
        len + iter.offset(),
        datagram.len(),
        "host emitted trailing bytes"
    );
}

/// One record of the `host_datagrams` input: `ctrl` (1 byte), length (u16 big-endian), bytes.
///
/// `ctrl` bits 0-6: milliseconds to advance the clock first (0..=127); bit 7: the datagram comes
/// from [`STRANGER`] instead of [`CLIENT`]. A length past the end of the input takes the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub advance_ms: u32,
    pub from_stranger: bool,
    pub datagram: &'a [u8],
}

/// Splits fuzz input into records; stops when fewer than 3 bytes remain.
pub fn records(mut input: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        let (&[ctrl, hi, lo], rest) = input.split_first_chunk::<3>()?;
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(rest.len());
        let (datagram, rest) = rest.split_at(len);
        input = rest;
        Some(Record {
            advance_ms: u32::from(ctrl & 0x7f),
            from_stranger: ctrl & 0x80 != 0,
            datagram,
        })
    })
}

/// Encodes records (inverse of [`records`]).
pub fn encode_records(records: &[Record<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.push((r.advance_ms.min(0x7f) as u8) | if r.from_stranger { 0x80 } else { 0 });
        out.extend_from_slice(&(r.datagram.len() as u16).to_be_bytes());
        out.extend_from_slice(r.datagram);
    }
    out
}

/// Turns a plain datagram into what a secured [`Pair`]'s server expects: the command area
/// compressed with the range coder (when that makes it smaller) and a CRC-32 after the header,
/// seeded with [`CONNECT_ID`] for a datagram to a slot, zero for one to no slot (a CONNECT).
/// Returns `None` if the header does not parse.
pub fn seal(datagram: &[u8]) -> Option<Vec<u8>> {
    let (mut header, header_len) = DatagramHeader::parse(datagram).ok()?;
    let area = &datagram[header_len..];
    let mut packed = vec![0u8; area.len()];
    let compressed = RangeCoder::new().compress(&[area], &mut packed);
    let body: &[u8] = match compressed {
        Some(n) if n < area.len() => {
            header.compressed = true;
            &packed[..n]
        }
        _ => {
            header.compressed = false;
            area
        }
    };
    let mut out = vec![0u8; 4 + 4 + body.len()];
    let len = header.emit(&mut out)?;
    let seed = if header.peer_id == PROTOCOL_MAXIMUM_PEER_ID {
        [0; 4]
    } else {
        CONNECT_ID
    };
    let crc = crc32(&[&out[..len], &seed, area]);
    out[len..len + 4].copy_from_slice(&crc.to_be_bytes());
    out[len + 4..len + 4 + body.len()].copy_from_slice(body);
    out.truncate(len + 4 + body.len());
    Some(out)
}

/// A self-signed EC P-256 certificate for `fuzz.test` and its key, both PEM (the DTLS target's
/// server identity; made once per process).
pub fn self_signed_identity() -> (String, String) {
    use openssl::asn1::Asn1Time;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::PKey;
    use openssl::x509::{X509, X509NameBuilder};
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
    let key = PKey::from_ec_key(EcKey::generate(&group).expect("key")).expect("pkey");
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, "fuzz.test")
        .expect("cn");
    let name = name.build();
    let mut cert = X509::builder().expect("builder");
    cert.set_version(2).expect("version");
    cert.set_subject_name(&name).expect("subject");
    cert.set_issuer_name(&name).expect("issuer");
    cert.set_pubkey(&key).expect("pubkey");
    cert.set_not_before(&Asn1Time::days_from_now(0).expect("time"))
        .expect("not before");
    cert.set_not_after(&Asn1Time::days_from_now(2).expect("time"))
        .expect("not after");
    cert.sign(&key, MessageDigest::sha256()).expect("sign");
    let cert = cert.build();
    (
        String::from_utf8(cert.to_pem().expect("pem")).expect("utf8"),
        String::from_utf8(key.private_key_to_pem_pkcs8().expect("pem")).expect("utf8"),
    )
}

/// What both host targets do with their input: each record advances the clock, reaches the
/// server from the client (or a stranger) as `prepare` makes it (`None`: the bytes as they
/// are), and both hosts answer until quiet; then the clock runs 4 s more so retransmit, ping and
/// timeout paths run too. At most 64 records.
pub fn run_records(
    pair: &mut Pair,
    input: &[u8],
    mut prepare: impl FnMut(&Record<'_>) -> Option<Vec<u8>>,
) {
    for record in records(input).take(64) {
        pair.step(record.advance_ms);
        let from = if record.from_stranger {
            STRANGER
        } else {
            CLIENT
        };
        let prepared = prepare(&record);
        pair.to_server(from, prepared.as_deref().unwrap_or(record.datagram));
        pair.pump();
    }
    for _ in 0..4 {
        pair.step(1_000);
        pair.pump();
    }
}
