//! [`SignalLink`]: the TCP connection to a rendezvous server, never blocking its owner.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::time::{Duration, Instant};

/// Bytes read per [`SignalLink::poll`] at most, so a flooding server cannot hold the owner.
const READ_BUDGET: usize = 16 * 1024;

/// Where a [`SignalLink`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkStatus {
    /// Resolving the name and connecting.
    Connecting,
    /// Connected to this address of the server, from this local address.
    Open {
        server: SocketAddr,
        local: SocketAddr,
    },
    /// Closed: by the server, by an error, or because no address of the server answered in
    /// time (the text says which).
    Closed(String),
}

#[derive(Debug)]
enum State {
    Connecting(Receiver<io::Result<TcpStream>>),
    Open {
        stream: TcpStream,
        server: SocketAddr,
        local: SocketAddr,
    },
    Closed(String),
}

/// A byte stream to a rendezvous server over TCP.
///
/// # Driving it
///
/// [`connect`](Self::connect) returns at once: a short-lived thread resolves the name and
/// connects (a name lookup blocks, and std has no non-blocking connect). Then, whenever the
/// owner has time (once per frame, or per pass):
/// - [`write`](Self::write) queues bytes; they leave with the next `poll`;
/// - [`poll`](Self::poll) sends what is queued, appends what arrived (up to 16 KiB) and says
///   where the link stands.
///
/// Dropping it closes the connection.
#[derive(Debug)]
pub struct SignalLink {
    state: State,
    outgoing: Vec<u8>,
}

impl SignalLink {
    /// Start connecting to `host`:`port`, trying each address the name resolves to in turn
    /// until one accepts; all of it within `timeout`.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> SignalLink {
        let (sender, receiver) = mpsc::channel();
        let host = host.to_owned();
        let spawned = std::thread::Builder::new()
            .name("rust_enet rendezvous connect".into())
            .spawn(move || {
                let _ = sender.send(connect_first(&host, port, timeout));
            });
        let state = match spawned {
            Ok(_) => State::Connecting(receiver),
            Err(err) => State::Closed(format!("cannot start connecting: {err}")),
        };
        SignalLink {
            state,
            outgoing: Vec::new(),
        }
    }

    /// Queue `data` to send.
    pub fn write(&mut self, data: &[u8]) {
        self.outgoing.extend_from_slice(data);
    }

    /// Send what is queued and append what arrived to `into`; see [`SignalLink`].
    pub fn poll(&mut self, into: &mut Vec<u8>) -> LinkStatus {
        if let State::Connecting(receiver) = &self.state {
            self.state = match receiver.try_recv() {
                Err(TryRecvError::Empty) => return LinkStatus::Connecting,
                Err(TryRecvError::Disconnected) => State::Closed("connecting failed".into()),
                Ok(Err(err)) => State::Closed(err.to_string()),
                Ok(Ok(stream)) => match opened(stream) {
                    Ok(state) => state,
                    Err(err) => State::Closed(err.to_string()),
                },
            };
        }
        if let State::Open { stream, .. } = &mut self.state
            && let Err(reason) = exchange(stream, &mut self.outgoing, into)
        {
            self.state = State::Closed(reason);
        }
        self.status()
    }

    /// Where the link stands, without touching the socket.
    pub fn status(&self) -> LinkStatus {
        match &self.state {
            State::Connecting(_) => LinkStatus::Connecting,
            State::Open { server, local, .. } => LinkStatus::Open {
                server: *server,
                local: *local,
            },
            State::Closed(reason) => LinkStatus::Closed(reason.clone()),
        }
    }
}

fn opened(stream: TcpStream) -> io::Result<State> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)?;
    Ok(State::Open {
        server: crate::canonical_addr(stream.peer_addr()?),
        local: crate::canonical_addr(stream.local_addr()?),
        stream,
    })
}

/// Write what `outgoing` holds (what the socket takes) and read what waits into `into`.
fn exchange(
    stream: &mut TcpStream,
    outgoing: &mut Vec<u8>,
    into: &mut Vec<u8>,
) -> Result<(), String> {
    while !outgoing.is_empty() {
        match stream.write(outgoing) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(sent) => {
                outgoing.drain(..sent);
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    let mut chunk = [0u8; 4096];
    let mut read = 0;
    while read < READ_BUDGET {
        match stream.read(&mut chunk) {
            Ok(0) => return Err("the server closed the connection".into()),
            Ok(len) => {
                into.extend_from_slice(&chunk[..len]);
                read += len;
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err.to_string()),
        }
    }
    Ok(())
}

/// Resolve `host` and connect to the first of its addresses that accepts, within `timeout`.
fn connect_first(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let deadline = Instant::now() + timeout;
    let addresses: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for (index, address) in addresses.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connecting timed out",
            ));
        }
        // Share what is left among the addresses still to try.
        let share = left / (addresses.len() - index) as u32;
        match TcpStream::connect_timeout(address, share.max(Duration::from_millis(100))) {
            Ok(stream) => return Ok(stream),
            Err(err) => last = err,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use super::*;

    fn wait_until(
        link: &mut SignalLink,
        into: &mut Vec<u8>,
        done: impl Fn(&LinkStatus, &[u8]) -> bool,
    ) -> LinkStatus {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let status = link.poll(into);
            if done(&status, into) || Instant::now() > deadline {
                return status;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    #[test]
    fn bytes_go_both_ways_and_a_close_is_reported() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut link = SignalLink::connect("127.0.0.1", port, Duration::from_secs(2));
        link.write(b"register-host\n");
        let (mut server, _) = listener.accept().unwrap();
        let mut into = Vec::new();
        let status = wait_until(&mut link, &mut into, |s, _| {
            matches!(s, LinkStatus::Open { .. })
        });
        assert!(
            matches!(status, LinkStatus::Open { server, .. } if server.port() == port),
            "{status:?}"
        );
        let mut line = [0u8; 14];
        server.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"register-host\n");
        server.write_all(b"set-oid abc\n").unwrap();
        wait_until(&mut link, &mut into, |_, got| got.len() >= 12);
        assert_eq!(into, b"set-oid abc\n");
        drop(server);
        let status = wait_until(&mut link, &mut into, |s, _| {
            matches!(s, LinkStatus::Closed(_))
        });
        assert!(matches!(status, LinkStatus::Closed(_)), "{status:?}");
    }

    #[test]
    fn a_refused_connection_closes_with_a_reason() {
        // A port that was just free: nothing listens there.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut link = SignalLink::connect("127.0.0.1", port, Duration::from_secs(2));
        let mut into = Vec::new();
        let status = wait_until(&mut link, &mut into, |s, _| {
            !matches!(s, LinkStatus::Connecting)
        });
        assert!(
            matches!(status, LinkStatus::Closed(ref reason) if !reason.is_empty()),
            "{status:?}"
        );
    }
}
