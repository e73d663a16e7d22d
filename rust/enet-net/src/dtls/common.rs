//! Pieces shared by the DTLS server and client: the in-memory datagram pipe OpenSSL reads and
//! writes, the outbox, counters and the OpenSSL context settings.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

use openssl::ssl::{SslContextBuilder, SslMethod, SslOptions, SslStream, SslVersion};

use super::{DTLS_RECORD_OVERHEAD, DtlsError};
use crate::MAXIMUM_DATAGRAM;
use crate::statistics::DriverStatistics;

/// Datagrams queued for one session before OpenSSL reads them; more are dropped (a session
/// reads its queue empty on every datagram, so this only bounds a pathological burst).
const PIPE_CAPACITY: usize = 64;

/// DTLS record content type of application data (ENet datagrams).
const APPLICATION_DATA: u8 = 23;

/// The transport OpenSSL sees: each `read` returns exactly one queued datagram and each `write`
/// is exactly one datagram, so DTLS record boundaries are datagram boundaries.
#[derive(Debug, Default)]
pub(super) struct DatagramPipe {
    incoming: VecDeque<Vec<u8>>,
    outgoing: Vec<Vec<u8>>,
}

impl DatagramPipe {
    /// Queue a datagram for OpenSSL; false if the queue is full.
    pub(super) fn push(&mut self, datagram: &[u8]) -> bool {
        if self.incoming.len() >= PIPE_CAPACITY {
            return false;
        }
        self.incoming.push_back(datagram.to_vec());
        true
    }

    /// Forget what OpenSSL wrote so far.
    pub(super) fn discard_outgoing(&mut self) {
        self.outgoing.clear();
    }
}

impl Read for DatagramPipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(datagram) = self.incoming.pop_front() else {
            // Tells OpenSSL "want read"; its DTLS timer checks run on this path.
            return Err(io::ErrorKind::WouldBlock.into());
        };
        // OpenSSL offers a buffer larger than any record; a shorter one truncates the datagram,
        // which then fails its MAC and is discarded, as a truncated UDP read would be.
        let len = datagram.len().min(buf.len());
        buf[..len].copy_from_slice(&datagram[..len]);
        Ok(len)
    }
}

impl Write for DatagramPipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What both sides keep: datagrams for the socket and counters.
#[derive(Debug, Default)]
pub(super) struct Common {
    pub(super) outbox: VecDeque<(SocketAddr, Vec<u8>)>,
    /// The layer's `dtls_*` counters, added into the driver's.
    pub(super) counters: DriverStatistics,
    /// Decrypted records land here; one byte larger than an ENet datagram to spot oversize ones.
    plain: Vec<u8>,
}

/// What reading a session's queued records ended with.
pub(super) enum ReadEnd {
    /// Everything queued was read.
    Drained,
    /// The peer sent close_notify.
    Closed,
    /// The session is broken.
    Failed(String),
}

impl Common {
    pub(super) fn new() -> Common {
        Common {
            plain: vec![0; MAXIMUM_DATAGRAM + DTLS_RECORD_OVERHEAD],
            ..Common::default()
        }
    }

    /// Move what OpenSSL wrote for `to` into the outbox.
    pub(super) fn collect(&mut self, to: SocketAddr, stream: &mut SslStream<DatagramPipe>) {
        for datagram in stream.get_mut().outgoing.drain(..) {
            self.outbox.push_back((to, datagram));
        }
    }

    /// Encrypt one ENet datagram as one record.
    pub(super) fn write_record(
        &mut self,
        to: SocketAddr,
        stream: &mut SslStream<DatagramPipe>,
        datagram: &[u8],
    ) {
        match stream.ssl_write(datagram) {
            Ok(_) => {}
            Err(err) => {
                self.counters.dtls_unsent += 1;
                tracing::debug!(%to, %err, "dtls record not sent");
            }
        }
        self.collect(to, stream);
    }

    /// Decrypt every queued record of an established session, one ENet datagram each.
    /// `datagram` is the one just queued: if it holds application data and nothing comes out,
    /// OpenSSL discarded it silently (failed authentication, or a replay), and it is counted.
    pub(super) fn read_records(
        &mut self,
        from: SocketAddr,
        stream: &mut SslStream<DatagramPipe>,
        datagram: &[u8],
        deliver: &mut impl FnMut(&[u8]),
    ) -> ReadEnd {
        use openssl::ssl::ErrorCode;
        let mut delivered = false;
        let end = loop {
            match stream.ssl_read(&mut self.plain) {
                Ok(0) => {}
                Ok(len) if len > MAXIMUM_DATAGRAM => {
                    self.counters.dtls_dropped += 1;
                    tracing::debug!(%from, len, "dtls record larger than an enet datagram");
                }
                Ok(len) => {
                    delivered = true;
                    deliver(&self.plain[..len]);
                }
                Err(err) => match err.code() {
                    ErrorCode::WANT_READ | ErrorCode::WANT_WRITE => break ReadEnd::Drained,
                    ErrorCode::ZERO_RETURN => break ReadEnd::Closed,
                    _ => break ReadEnd::Failed(err.to_string()),
                },
            }
        };
        if !delivered && datagram.first() == Some(&APPLICATION_DATA) {
            self.counters.dtls_dropped += 1;
        }
        // Alerts, handshake retransmissions and close_notify replies.
        self.collect(from, stream);
        end
    }
}

/// DTLS 1.2 only (what mbedTLS speaks), handshake fragments sized by us, not by asking the BIO.
pub(super) fn context_builder(method: SslMethod) -> Result<SslContextBuilder, DtlsError> {
    let setup = |err: openssl::error::ErrorStack| DtlsError::Setup(err.to_string());
    let mut builder = openssl::ssl::SslContext::builder(method).map_err(setup)?;
    builder
        .set_min_proto_version(Some(SslVersion::DTLS1_2))
        .map_err(setup)?;
    builder
        .set_max_proto_version(Some(SslVersion::DTLS1_2))
        .map_err(setup)?;
    builder.set_options(SslOptions::NO_QUERY_MTU);
    Ok(builder)
}

/// Whether the handshake step's error only means "waiting for the peer".
pub(super) fn is_want(err: &openssl::ssl::Error) -> bool {
    use openssl::ssl::ErrorCode;
    matches!(err.code(), ErrorCode::WANT_READ | ErrorCode::WANT_WRITE)
}

/// A handshake error with the certificate verification result when that is the cause.
pub(super) fn describe_failure(
    stream: &SslStream<DatagramPipe>,
    err: &openssl::ssl::Error,
) -> String {
    let verify = stream.ssl().verify_result();
    if verify.as_raw() != 0 {
        format!("certificate verification failed: {}", verify.error_string())
    } else {
        err.to_string()
    }
}
