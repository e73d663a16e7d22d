//! A deterministic generator of game-like ENet command areas (the bytes a compressor sees: all
//! commands of one datagram, without the header), for codec tests and `examples/codec_report.rs`.
//!
//! The mix follows a Godot game at 20-60 Hz: server snapshots with the positions and rotations
//! of several entities as unreliable commands, client input packets, reliable RPC-like packets
//! carrying strings, and datagrams holding only acknowledgements or a ping. Payloads use Godot's
//! variant encoding (a little-endian `u32` type tag, then the value), as `SceneMultiplayer` does.

// Shared by the unit tests and the example through `#[path]`; each uses part of it.
#![allow(dead_code)]

// The generator, as the including module names it (`compress` for the tests, the example's
// root for `codec_report`).
use super::SplitMix64;

/// Test data from the crate's generator ([`SplitMix64`]), with the shapes the traffic needs.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(SplitMix64::new(seed))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The kinds of datagram [`GameTraffic`] produces, for reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// Acknowledgements only (1-4).
    Acks,
    /// A ping, with an acknowledgement.
    Ping,
    /// A server snapshot: 2-24 entity updates, unreliable, on channel 1.
    Snapshot,
    /// A client input packet, unreliable, with an acknowledgement.
    Input,
    /// One or two reliable RPC-like packets with string arguments on channel 0.
    Rpc,
    /// Unsequenced voice-chat-like noise (compressed audio does not compress again).
    Voice,
}

/// An endless, seeded stream of command areas.
#[derive(Debug, Clone)]
pub struct GameTraffic {
    rng: Rng,
    sequence: u16,
    tick: u32,
    entities: Vec<[f32; 4]>,
}

const VARIANT_INT: u32 = 2;
const VARIANT_FLOAT: u32 = 3;
const VARIANT_STRING: u32 = 4;
const VARIANT_VECTOR3: u32 = 9;

const WORDS: [&str; 12] = [
    "player_1",
    "player_12",
    "spawn_projectile",
    "rpc_chat_message",
    "gg",
    "desert_map",
    "take_damage",
    "Fireball",
    "team_blue",
    "ready",
    "res://scenes/enemy.tscn",
    "play_animation",
];

impl GameTraffic {
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let entities = (0..24)
            .map(|_| {
                [
                    rng.unit() * 200.0 - 100.0,
                    rng.unit() * 4.0,
                    rng.unit() * 200.0 - 100.0,
                    rng.unit() * std::f32::consts::TAU,
                ]
            })
            .collect();
        Self {
            rng,
            sequence: 1,
            tick: 0,
            entities,
        }
    }

    /// The next command area and its kind.
    pub fn next_datagram(&mut self) -> (DatagramKind, Vec<u8>) {
        self.tick = self.tick.wrapping_add(1);
        let mut area = Vec::with_capacity(1400);
        let kind = match self.rng.below(100) {
            0..=29 => DatagramKind::Acks,
            30..=34 => DatagramKind::Ping,
            35..=64 => DatagramKind::Snapshot,
            65..=84 => DatagramKind::Input,
            85..=95 => DatagramKind::Rpc,
            _ => DatagramKind::Voice,
        };
        match kind {
            DatagramKind::Acks => {
                for _ in 0..1 + self.rng.below(4) {
                    self.ack(&mut area);
                }
            }
            DatagramKind::Ping => {
                self.ack(&mut area);
                area.extend_from_slice(&[0x85, 0xFF]);
                area.extend_from_slice(&self.next_sequence().to_be_bytes());
            }
            DatagramKind::Snapshot => {
                if self.rng.below(2) == 0 {
                    self.ack(&mut area);
                }
                let count = 2 + self.rng.below(23);
                for e in 0..count {
                    let payload = self.entity_update(e);
                    self.unreliable(&mut area, 1, &payload);
                }
            }
            DatagramKind::Input => {
                self.ack(&mut area);
                let mut payload = vec![0x03];
                payload.extend_from_slice(&(self.tick).to_le_bytes());
                variant_vector3(&mut payload, [self.rng.unit() * 2.0 - 1.0, 0.0, 1.0]);
                variant(
                    &mut payload,
                    VARIANT_INT,
                    &[self.rng.below(16) as u8, 0, 0, 0],
                );
                self.unreliable(&mut area, 1, &payload);
            }
            DatagramKind::Rpc => {
                for _ in 0..1 + self.rng.below(2) {
                    let mut payload = vec![0x00];
                    payload.extend_from_slice(&(self.rng.below(40) as u32).to_le_bytes());
                    for _ in 0..1 + self.rng.below(4) {
                        if self.rng.below(3) == 0 {
                            let v = self.rng.unit() * 100.0;
                            variant(&mut payload, VARIANT_FLOAT, &v.to_le_bytes());
                        } else {
                            let w = WORDS[self.rng.below(WORDS.len())];
                            variant_string(&mut payload, w);
                        }
                    }
                    self.reliable(&mut area, 0, &payload);
                }
            }
            DatagramKind::Voice => {
                let len = 60 + self.rng.below(200);
                let payload = self.rng.bytes(len);
                area.extend_from_slice(&[0x49, 2]);
                area.extend_from_slice(&0u16.to_be_bytes());
                area.extend_from_slice(&(self.tick as u16).to_be_bytes());
                area.extend_from_slice(&(payload.len() as u16).to_be_bytes());
                area.extend_from_slice(&payload);
            }
        }
        (kind, area)
    }

    fn next_sequence(&mut self) -> u16 {
        self.sequence = self.sequence.wrapping_add(1);
        self.sequence
    }

    fn ack(&mut self, area: &mut Vec<u8>) {
        let seq = self.sequence.wrapping_sub(self.rng.below(4) as u16);
        area.extend_from_slice(&[0x01, self.rng.below(2) as u8]);
        area.extend_from_slice(&seq.to_be_bytes());
        area.extend_from_slice(&seq.to_be_bytes());
        area.extend_from_slice(&((self.tick * 16) as u16).to_be_bytes());
    }

    fn unreliable(&mut self, area: &mut Vec<u8>, channel: u8, payload: &[u8]) {
        area.extend_from_slice(&[0x07, channel]);
        area.extend_from_slice(&self.sequence.to_be_bytes());
        area.extend_from_slice(&(self.tick as u16).to_be_bytes());
        area.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        area.extend_from_slice(payload);
    }

    fn reliable(&mut self, area: &mut Vec<u8>, channel: u8, payload: &[u8]) {
        let seq = self.next_sequence();
        area.extend_from_slice(&[0x86, channel]);
        area.extend_from_slice(&seq.to_be_bytes());
        area.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        area.extend_from_slice(payload);
    }

    /// A synchronizer-like update: net id, position (drifting slowly), yaw and a health int.
    fn entity_update(&mut self, e: usize) -> Vec<u8> {
        let [x, y, z, yaw] = &mut self.entities[e];
        *x += self.rng.unit() * 0.2 - 0.1;
        *z += self.rng.unit() * 0.2 - 0.1;
        *yaw += self.rng.unit() * 0.05;
        let (x, y, z, yaw) = (*x, *y, *z, *yaw);
        let mut payload = vec![0x03];
        payload.extend_from_slice(&(1000 + e as u32).to_le_bytes());
        variant_vector3(&mut payload, [x, y, z]);
        variant(&mut payload, VARIANT_FLOAT, &yaw.to_le_bytes());
        variant(&mut payload, VARIANT_INT, &100u32.to_le_bytes());
        payload
    }
}

fn variant(out: &mut Vec<u8>, tag: u32, value: &[u8]) {
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(value);
}

fn variant_vector3(out: &mut Vec<u8>, v: [f32; 3]) {
    out.extend_from_slice(&VARIANT_VECTOR3.to_le_bytes());
    for c in v {
        out.extend_from_slice(&c.to_le_bytes());
    }
}

fn variant_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&VARIANT_STRING.to_le_bytes());
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(&[0; 3][..(4 - s.len() % 4) % 4]);
}
