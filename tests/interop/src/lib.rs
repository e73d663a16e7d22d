//! Helpers for running the C ENet test peer (`tests/c-peer`) against rust_enet.
//!
//! The C peer is a separate process linked against the system's libenet and driven by a line
//! protocol on its stdin/stdout (documented at the top of `tests/c-peer/enet_peer.c`), so the
//! tests need no FFI. [`CPeer`] spawns it, sends commands, waits for replies with a timeout and
//! collects the events it prints in between. The process is killed when the wrapper is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Path of the compiled C peer, set by `build.rs`.
pub const C_PEER_PATH: &str = env!("C_ENET_PEER");

/// How long a command may take to be answered before the test fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// An event printed by the C peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CEvent {
    /// `connect <peer> <data>`
    Connect { peer: u32, data: u32 },
    /// `receive <peer> <channel> <len> <fnv1a64> <hex prefix> <flags>`
    Receive {
        peer: u32,
        channel: u8,
        len: usize,
        /// FNV-1a 64 of the whole payload (see [`fnv1a64`]).
        hash: u64,
        /// Up to the first 32 bytes of the payload.
        prefix: Vec<u8>,
        /// The C packet's `flags` (1 = reliable, 2 = unsequenced, 8 = unreliable fragment).
        flags: u32,
    },
    /// `disconnect <peer> <data>`
    Disconnect { peer: u32, data: u32 },
}

impl CEvent {
    fn parse(line: &str) -> Option<Self> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| words.get(i).and_then(|w| w.parse::<u32>().ok());
        match *words.first()? {
            "connect" => Some(Self::Connect {
                peer: num(1)?,
                data: num(2)?,
            }),
            "disconnect" => Some(Self::Disconnect {
                peer: num(1)?,
                data: num(2)?,
            }),
            "receive" => Some(Self::Receive {
                peer: num(1)?,
                channel: u8::try_from(num(2)?).ok()?,
                len: words.get(3)?.parse().ok()?,
                hash: u64::from_str_radix(words.get(4)?, 16).ok()?,
                prefix: from_hex(words.get(5)?)?,
                flags: num(6)?,
            }),
            _ => None,
        }
    }
}

/// Why talking to the C peer failed.
#[derive(Debug, thiserror::Error)]
pub enum CPeerError {
    /// Spawning or writing to the process failed.
    #[error("c peer i/o: {0}")]
    Io(io::Error),
    /// No reply (or no matching event) within the timeout.
    #[error("c peer: timed out waiting for {0}")]
    Timeout(String),
    /// The peer answered `error ...`.
    #[error("c peer replied: {0}")]
    Command(String),
    /// The process closed its stdout.
    #[error("c peer exited")]
    Exited,
}

impl From<io::Error> for CPeerError {
    fn from(err: io::Error) -> Self {
        Self::Io(err)
    }
}

/// A running C ENet peer process.
#[derive(Debug)]
pub struct CPeer {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    events: VecDeque<CEvent>,
    /// Every line received, for failure messages.
    transcript: Vec<String>,
}

impl CPeer {
    /// Start the C peer and wait for its `ready` line.
    pub fn spawn() -> Result<Self, CPeerError> {
        let mut child = Command::new(C_PEER_PATH)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or(CPeerError::Exited)?;
        let stdout = child.stdout.take().ok_or(CPeerError::Exited)?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut peer = Self {
            child,
            stdin,
            lines,
            events: VecDeque::new(),
            transcript: Vec::new(),
        };
        peer.wait_line(|line| line == "ready", REPLY_TIMEOUT, "ready")?;
        Ok(peer)
    }

    /// Send one command line and wait for its `ok ...` reply; returns the words after `ok`.
    /// Events printed meanwhile are queued for [`CPeer::next_event`].
    pub fn command(&mut self, line: &str) -> Result<String, CPeerError> {
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        let reply = self.wait_line(
            |l| l == "ok" || l.starts_with("ok ") || l.starts_with("error"),
            REPLY_TIMEOUT,
            line,
        )?;
        match reply.strip_prefix("ok") {
            Some(rest) => Ok(rest.trim().to_owned()),
            None => Err(CPeerError::Command(format!("{line:?} -> {reply}"))),
        }
    }

    /// [`CPeer::command`] for a reply `ok <word> <number>`; returns the number.
    fn command_number<T: std::str::FromStr>(&mut self, line: &str) -> Result<T, CPeerError> {
        let reply = self.command(line)?;
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| CPeerError::Command(format!("{line:?}: bad reply {reply:?}")))
    }

    /// `server <port> <peers> <channels>` bound to 127.0.0.1; returns the bound port.
    pub fn server(&mut self, port: u16, peers: usize, channels: usize) -> Result<u16, CPeerError> {
        self.command_number(&format!("server {port} {peers} {channels}"))
    }

    /// `client 127.0.0.1 <port> <channels> <data>`; returns the C-side peer index.
    pub fn client(&mut self, port: u16, channels: usize, data: u32) -> Result<u32, CPeerError> {
        self.command_number(&format!("client 127.0.0.1 {port} {channels} {data}"))
    }

    /// Queue a packet to `peer`; `kind` is `reliable`, `unreliable`, `unsequenced`,
    /// `unreliable_fragment` or a number; `payload` goes through [`payload_arg`].
    pub fn send(
        &mut self,
        peer: u32,
        channel: u8,
        kind: &str,
        payload: &[u8],
    ) -> Result<(), CPeerError> {
        self.command(&format!(
            "send {peer} {channel} {kind} {}",
            payload_arg(payload)
        ))?;
        Ok(())
    }

    /// Let the C host service itself continuously between commands.
    pub fn auto_service(&mut self, on: bool) -> Result<(), CPeerError> {
        self.command(if on { "auto on" } else { "auto off" })?;
        Ok(())
    }

    /// The next event, waiting up to `timeout` for one.
    pub fn next_event(&mut self, timeout: Duration) -> Option<CEvent> {
        self.wait_event(timeout, |_| true).ok()
    }

    /// Take already-received events without waiting.
    pub fn drain_events(&mut self) -> Vec<CEvent> {
        while let Ok(line) = self.lines.try_recv() {
            self.transcript.push(line.clone());
            if let Some(event) = CEvent::parse(&line) {
                self.events.push_back(event);
            }
        }
        self.events.drain(..).collect()
    }

    /// Wait for the first event matching `pred`, keeping the others queued in order.
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&CEvent) -> bool,
    ) -> Result<CEvent, CPeerError> {
        if let Some(event) = self
            .events
            .iter()
            .position(&mut pred)
            .and_then(|i| self.events.remove(i))
        {
            return Ok(event);
        }
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline) {
                Ok(line) => {
                    if let Some(event) = CEvent::parse(&line) {
                        if pred(&event) {
                            return Ok(event);
                        }
                        self.events.push_back(event);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(CPeerError::Timeout(format!(
                        "an event; transcript tail: {:?}",
                        self.transcript_tail()
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => return Err(CPeerError::Exited),
            }
        }
    }

    /// The last lines the peer printed, for assertion messages.
    pub fn transcript_tail(&self) -> &[String] {
        &self.transcript[self.transcript.len().saturating_sub(20)..]
    }

    /// The next line the peer prints (kept in the transcript), waiting until `deadline`.
    fn next_line(&mut self, deadline: Instant) -> Result<String, RecvTimeoutError> {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left)?;
        self.transcript.push(line.clone());
        Ok(line)
    }

    fn wait_line(
        &mut self,
        mut is_reply: impl FnMut(&str) -> bool,
        timeout: Duration,
        what: &str,
    ) -> Result<String, CPeerError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_line(deadline) {
                Ok(line) => {
                    if is_reply(&line) {
                        return Ok(line);
                    }
                    if let Some(event) = CEvent::parse(&line) {
                        self.events.push_back(event);
                    }
                }
                Err(RecvTimeoutError::Timeout) => return Err(CPeerError::Timeout(what.to_owned())),
                Err(RecvTimeoutError::Disconnected) => return Err(CPeerError::Exited),
            }
        }
    }
}

impl Drop for CPeer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        // Give it a moment to exit cleanly, then make sure it is gone.
        let deadline = Instant::now() + Duration::from_millis(200);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// FNV-1a 64, as printed by the C peer for received payloads.
pub fn fnv1a64(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Encode a payload for the C peer's command line: `-` for empty, `rep:<byte>:<len>` for a run of
/// one byte value, otherwise hex.
pub fn payload_arg(payload: &[u8]) -> String {
    match payload.first() {
        None => "-".to_owned(),
        Some(&first) if payload.len() > 8 && payload.iter().all(|&b| b == first) => {
            format!("rep:{first:02x}:{}", payload.len())
        }
        Some(_) => to_hex(payload),
    }
}

/// Lower-case hex.
pub fn to_hex(data: &[u8]) -> String {
    use fmt::Write as _;
    data.iter()
        .fold(String::with_capacity(data.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Parse lower- or upper-case hex; `-` is the empty payload.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if text == "-" {
        return Some(Vec::new());
    }
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A deterministic payload of `len` bytes: `seed` mixed with the index, so reordering, truncation
/// and corruption all change the hash.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(u32::from(seed) * 7)
                .to_le_bytes()[0]
                ^ (i >> 8) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse() {
        assert_eq!(
            CEvent::parse("connect 3 305419896"),
            Some(CEvent::Connect {
                peer: 3,
                data: 0x1234_5678
            })
        );
        assert_eq!(
            CEvent::parse("receive 0 1 5 a430d84680aabd0b 68656c6c6f 1"),
            Some(CEvent::Receive {
                peer: 0,
                channel: 1,
                len: 5,
                hash: 0xa430_d846_80aa_bd0b,
                prefix: b"hello".to_vec(),
                flags: 1
            })
        );
        assert_eq!(CEvent::parse("ok service"), None);
    }

    #[test]
    fn fnv_matches_reference_value() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"hello"), 0xa430_d846_80aa_bd0b);
    }

    #[test]
    fn payload_args() {
        assert_eq!(payload_arg(b""), "-");
        assert_eq!(payload_arg(b"hi"), "6869");
        assert_eq!(payload_arg(&[7u8; 100]), "rep:07:100");
        assert_eq!(from_hex("6869"), Some(b"hi".to_vec()));
    }
}
