//! ENet commands: the 4-byte command header plus the twelve command bodies.

use core::iter::FusedIterator;

use thiserror::Error;

use super::COMMAND_MASK;

/// ENet's command numbers (low nibble of the command byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CommandNumber {
    Acknowledge = 1,
    Connect = 2,
    VerifyConnect = 3,
    Disconnect = 4,
    Ping = 5,
    SendReliable = 6,
    SendUnreliable = 7,
    SendFragment = 8,
    SendUnsequenced = 9,
    BandwidthLimit = 10,
    ThrottleConfigure = 11,
    SendUnreliableFragment = 12,
}

/// The 4-byte header shared by every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// The full command byte: number in the low nibble, `COMMAND_FLAG_ACKNOWLEDGE` /
    /// `COMMAND_FLAG_UNSEQUENCED` in the high bits.
    pub command: u8,
    /// Data channel 0..=254, or `CONTROL_CHANNEL` (0xFF).
    pub channel_id: u8,
    /// Meaning depends on the command (ENet protocol description 6.1).
    pub reliable_sequence_number: u16,
}

/// Declares the bodies of CONNECT and VERIFY_CONNECT from the one list of the fields they share,
/// in wire order (VERIFY_CONNECT is CONNECT without its last field, `data`), and their reading
/// and writing in that order.
macro_rules! handshake_bodies {
    ($($(#[$doc:meta])* $field:ident: $ty:ty,)*) => {
        /// CONNECT body (48 bytes with the header).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Connect {
            $($(#[$doc])* pub $field: $ty,)*
            pub data: u32,
        }

        /// VERIFY_CONNECT body (44 bytes with the header): CONNECT without `data`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct VerifyConnect {
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl VerifyConnect {
            /// The CONNECT with these fields and `data`.
            pub(super) const fn with_data(self, data: u32) -> Connect {
                Connect {
                    $($field: self.$field,)*
                    data,
                }
            }
        }

        impl Reader<'_> {
            /// The fields CONNECT and VERIFY_CONNECT share, in wire order.
            fn handshake(&mut self) -> Option<VerifyConnect> {
                Some(VerifyConnect {
                    $($field: self.field()?,)*
                })
            }
        }

        impl Writer<'_> {
            /// The fields CONNECT and VERIFY_CONNECT share (all of CONNECT's but `data`), in wire
            /// order: the inverse of `Reader::handshake`.
            fn handshake(&mut self, v: &Connect) -> Option<()> {
                $(self.field(v.$field)?;)*
                Some(())
            }
        }
    };
}

handshake_bodies! {
    outgoing_peer_id: u16,
    incoming_session_id: u8,
    outgoing_session_id: u8,
    mtu: u32,
    window_size: u32,
    channel_count: u32,
    incoming_bandwidth: u32,
    outgoing_bandwidth: u32,
    packet_throttle_interval: u32,
    packet_throttle_acceleration: u32,
    packet_throttle_deceleration: u32,
    /// Opaque bytes, never byte-swapped; also the checksum seed.
    connect_id: [u8; 4],
}

/// SEND_FRAGMENT / SEND_UNRELIABLE_FRAGMENT body (24 bytes with the header) and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Reliable: the reliable sequence number of fragment 0. Unreliable: the unreliable sequence
    /// number shared by all fragments of the packet.
    pub start_sequence_number: u16,
    pub fragment_count: u32,
    pub fragment_number: u32,
    pub total_length: u32,
    pub fragment_offset: u32,
    pub data: &'a [u8],
}

/// One parsed command body. Payloads borrow from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    Acknowledge {
        received_reliable_sequence_number: u16,
        received_sent_time: u16,
    },
    Connect(Connect),
    VerifyConnect(VerifyConnect),
    Disconnect {
        data: u32,
    },
    Ping,
    SendReliable {
        data: &'a [u8],
    },
    SendUnreliable {
        unreliable_sequence_number: u16,
        data: &'a [u8],
    },
    SendFragment(Fragment<'a>),
    SendUnsequenced {
        unsequenced_group: u16,
        data: &'a [u8],
    },
    BandwidthLimit {
        incoming_bandwidth: u32,
        outgoing_bandwidth: u32,
    },
    ThrottleConfigure {
        packet_throttle_interval: u32,
        packet_throttle_acceleration: u32,
        packet_throttle_deceleration: u32,
    },
    SendUnreliableFragment(Fragment<'a>),
}

/// Why parsing of a command area stopped. ENet stops at the first bad command and keeps the
/// effects of the ones before it.
///
/// Every `offset` is the position of the offending command's first byte, counted from the start
/// of the command area given to [`CommandIter::new`]. Fewer than 4 bytes left over at the end of a
/// datagram are not an error: ENet ignores them (protocol description 2.5 step 1) and so does
/// [`CommandIter`], which just ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ParseError {
    /// Fewer bytes left than the command's fixed size (4 to 48 bytes, [`command_size`]).
    #[error("command truncated at offset {offset}")]
    Truncated { offset: usize },
    /// Command number 0 or >= 13.
    #[error("unknown command number {number} at offset {offset}")]
    UnknownCommand { number: u8, offset: usize },
    /// A `dataLength` that runs past the end of the datagram. `len` is that `dataLength`.
    #[error("payload of {len} bytes overruns the datagram at offset {offset}")]
    PayloadOverrun { len: usize, offset: usize },
}

/// Wire size of a command (header included, payload excluded), or `None` for numbers 0 and >= 13.
pub const fn command_size(number: u8) -> Option<usize> {
    match CommandNumber::from_u8(number) {
        Some(command) => Some(command.fixed_size()),
        None => None,
    }
}

/// Iterator over the commands of a command area, yielding `Err` once and then ending.
#[derive(Debug, Clone)]
pub struct CommandIter<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) pos: usize,
    pub(crate) done: bool,
}

impl CommandNumber {
    /// All twelve commands in number order.
    pub const ALL: [CommandNumber; 12] = [
        CommandNumber::Acknowledge,
        CommandNumber::Connect,
        CommandNumber::VerifyConnect,
        CommandNumber::Disconnect,
        CommandNumber::Ping,
        CommandNumber::SendReliable,
        CommandNumber::SendUnreliable,
        CommandNumber::SendFragment,
        CommandNumber::SendUnsequenced,
        CommandNumber::BandwidthLimit,
        CommandNumber::ThrottleConfigure,
        CommandNumber::SendUnreliableFragment,
    ];

    /// The command with this number (1..=12), or `None` for 0 (ENet's NONE) and 13..=255.
    ///
    /// This takes the bare number, not the command byte: mask the flags off first
    /// (or use [`CommandHeader::number`]).
    pub const fn from_u8(number: u8) -> Option<CommandNumber> {
        // `ALL` is in number order, from 1.
        match number {
            1..=12 => Some(CommandNumber::ALL[number as usize - 1]),
            _ => None,
        }
    }

    /// Wire size of the command, header included and payload excluded (table 4.1).
    pub const fn fixed_size(self) -> usize {
        match self {
            CommandNumber::Acknowledge => 8,
            CommandNumber::Connect => 48,
            CommandNumber::VerifyConnect => 44,
            CommandNumber::Disconnect => 8,
            CommandNumber::Ping => 4,
            CommandNumber::SendReliable => 6,
            CommandNumber::SendUnreliable => 8,
            CommandNumber::SendFragment => 24,
            CommandNumber::SendUnsequenced => 8,
            CommandNumber::BandwidthLimit => 12,
            CommandNumber::ThrottleConfigure => 16,
            CommandNumber::SendUnreliableFragment => 24,
        }
    }

    /// Whether a `dataLength`-sized payload follows the fixed part.
    pub const fn has_payload(self) -> bool {
        matches!(
            self,
            CommandNumber::SendReliable
                | CommandNumber::SendUnreliable
                | CommandNumber::SendFragment
                | CommandNumber::SendUnsequenced
                | CommandNumber::SendUnreliableFragment
        )
    }
}

impl CommandHeader {
    /// Wire size of the command header.
    pub const LEN: usize = 4;

    /// A header for `number` with the flag bits of `flags` (`COMMAND_FLAG_ACKNOWLEDGE`,
    /// `COMMAND_FLAG_UNSEQUENCED`; the low nibble of `flags` is ignored).
    pub const fn new(
        number: CommandNumber,
        flags: u8,
        channel_id: u8,
        reliable_sequence_number: u16,
    ) -> CommandHeader {
        CommandHeader {
            command: (flags & !COMMAND_MASK) | number as u8,
            channel_id,
            reliable_sequence_number,
        }
    }

    /// The command number in the low nibble, or `None` for 0 and 13..=15. Headers yielded by
    /// [`CommandIter`] always have a valid number.
    pub const fn number(&self) -> Option<CommandNumber> {
        CommandNumber::from_u8(self.command & COMMAND_MASK)
    }

    /// The high nibble of the command byte (`COMMAND_FLAG_*` plus the two unused bits).
    pub const fn flags(&self) -> u8 {
        self.command & !COMMAND_MASK
    }

    /// `COMMAND_FLAG_ACKNOWLEDGE` is set: the receiver must acknowledge this command. ENet decides
    /// this from the flag alone, never from the command number (4.1).
    pub const fn is_acknowledge(&self) -> bool {
        self.command & super::COMMAND_FLAG_ACKNOWLEDGE != 0
    }

    /// `COMMAND_FLAG_UNSEQUENCED` is set (SEND_UNSEQUENCED, unreliable DISCONNECT). It has no
    /// effect on reception.
    pub const fn is_unsequenced(&self) -> bool {
        self.command & super::COMMAND_FLAG_UNSEQUENCED != 0
    }
}

impl<'a> Command<'a> {
    /// The command's number, from its variant.
    pub const fn number(&self) -> CommandNumber {
        match self {
            Command::Acknowledge { .. } => CommandNumber::Acknowledge,
            Command::Connect(_) => CommandNumber::Connect,
            Command::VerifyConnect(_) => CommandNumber::VerifyConnect,
            Command::Disconnect { .. } => CommandNumber::Disconnect,
            Command::Ping => CommandNumber::Ping,
            Command::SendReliable { .. } => CommandNumber::SendReliable,
            Command::SendUnreliable { .. } => CommandNumber::SendUnreliable,
            Command::SendFragment(_) => CommandNumber::SendFragment,
            Command::SendUnsequenced { .. } => CommandNumber::SendUnsequenced,
            Command::BandwidthLimit { .. } => CommandNumber::BandwidthLimit,
            Command::ThrottleConfigure { .. } => CommandNumber::ThrottleConfigure,
            Command::SendUnreliableFragment(_) => CommandNumber::SendUnreliableFragment,
        }
    }

    /// The payload that follows the fixed part; empty for commands without one.
    pub const fn data(&self) -> &'a [u8] {
        match *self {
            Command::SendReliable { data }
            | Command::SendUnreliable { data, .. }
            | Command::SendUnsequenced { data, .. }
            | Command::SendFragment(Fragment { data, .. })
            | Command::SendUnreliableFragment(Fragment { data, .. }) => data,
            _ => &[],
        }
    }

    /// Bytes [`emit`](Self::emit) writes: the fixed size (header included) plus the payload.
    pub const fn wire_len(&self) -> usize {
        self.number().fixed_size() + self.data().len()
    }

    /// Writes the command header, the body and the payload to the start of `buf`; returns the
    /// number of bytes written ([`wire_len`](Self::wire_len)).
    ///
    /// The command byte is the flag bits of `header.command` (high nibble) with this command's
    /// number in the low nibble, so the header cannot contradict the body. Returns `None` if `buf`
    /// is shorter than `wire_len()` or the payload is longer than `dataLength` can say
    /// (65535 bytes); `buf` may then be partly written.
    pub fn emit(&self, header: &CommandHeader, buf: &mut [u8]) -> Option<usize> {
        let data = self.data();
        let data_len = u16::try_from(data.len()).ok()?;
        let len = self.wire_len();
        let mut w = Writer {
            buf: buf.get_mut(..len)?,
        };
        w.field((header.command & !COMMAND_MASK) | self.number() as u8)?;
        w.field(header.channel_id)?;
        w.field(header.reliable_sequence_number)?;
        match *self {
            Command::Acknowledge {
                received_reliable_sequence_number,
                received_sent_time,
            } => {
                w.field(received_reliable_sequence_number)?;
                w.field(received_sent_time)?;
            }
            Command::Connect(ref c) => {
                w.handshake(c)?;
                w.field(c.data)?;
            }
            // VERIFY_CONNECT is CONNECT without its last field.
            Command::VerifyConnect(v) => w.handshake(&v.with_data(0))?,
            Command::Disconnect { data } => w.field(data)?,
            Command::Ping => {}
            Command::SendReliable { .. } => w.field(data_len)?,
            Command::SendUnreliable {
                unreliable_sequence_number: first,
                ..
            }
            | Command::SendUnsequenced {
                unsequenced_group: first,
                ..
            } => {
                w.field(first)?;
                w.field(data_len)?;
            }
            Command::SendFragment(ref f) | Command::SendUnreliableFragment(ref f) => {
                w.field(f.start_sequence_number)?;
                w.field(data_len)?;
                w.field(f.fragment_count)?;
                w.field(f.fragment_number)?;
                w.field(f.total_length)?;
                w.field(f.fragment_offset)?;
            }
            Command::BandwidthLimit {
                incoming_bandwidth,
                outgoing_bandwidth,
            } => {
                w.field(incoming_bandwidth)?;
                w.field(outgoing_bandwidth)?;
            }
            Command::ThrottleConfigure {
                packet_throttle_interval,
                packet_throttle_acceleration,
                packet_throttle_deceleration,
            } => {
                w.field(packet_throttle_interval)?;
                w.field(packet_throttle_acceleration)?;
                w.field(packet_throttle_deceleration)?;
            }
        }
        w.bytes(data)?;
        Some(len)
    }
}

impl<'a> CommandIter<'a> {
    /// Iterates over `command_area`: the datagram after its header and, if the host uses one,
    /// the checksum (decompressed first if the header says COMPRESSED).
    pub const fn new(command_area: &'a [u8]) -> CommandIter<'a> {
        CommandIter {
            data: command_area,
            pos: 0,
            done: false,
        }
    }

    /// Bytes of the command area consumed so far: the start of the next command. After an
    /// `Err` it stays at the start of the command that failed; after a normal end it may be up
    /// to 3 bytes short of the area's length (ENet ignores such a tail).
    pub const fn offset(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for CommandIter<'a> {
    type Item = Result<(CommandHeader, Command<'a>), ParseError>;

    /// Protocol description 2.5: stop quietly when fewer than 4 bytes remain; stop with an error
    /// on an unknown number, a cut fixed part or a payload past the end; nothing after an error.
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or_default();
        let item = match parse_command(rest, offset) {
            None => {
                self.done = true;
                return None;
            }
            Some(Ok((header, command, len))) => {
                self.pos = offset + len;
                Ok((header, command))
            }
            Some(Err(e)) => {
                self.done = true;
                Err(e)
            }
        };
        Some(item)
    }
}

impl FusedIterator for CommandIter<'_> {}

/// Parses the command at the start of `rest` (found at `offset` in the command area) and returns
/// it with its wire length, payload included; `None` if fewer than 4 bytes remain.
fn parse_command(
    rest: &[u8],
    offset: usize,
) -> Option<Result<(CommandHeader, Command<'_>, usize), ParseError>> {
    let &[command, channel_id, seq_hi, seq_lo] = rest.first_chunk::<4>()?;
    let raw_number = command & COMMAND_MASK;
    let Some(number) = CommandNumber::from_u8(raw_number) else {
        return Some(Err(ParseError::UnknownCommand {
            number: raw_number,
            offset,
        }));
    };
    let size = number.fixed_size();
    let Some(fixed) = rest.get(CommandHeader::LEN..size) else {
        return Some(Err(ParseError::Truncated { offset }));
    };
    let header = CommandHeader {
        command,
        channel_id,
        reliable_sequence_number: u16::from_be_bytes([seq_hi, seq_lo]),
    };
    let mut r = Reader { buf: fixed };
    // The fixed part has exactly the length every arm reads, so `Reader` never runs dry; if it
    // did, that is reported as truncation rather than a panic.
    let parsed = parse_body(number, &mut r, rest, size, offset);
    Some(match parsed {
        None => Err(ParseError::Truncated { offset }),
        Some(Err(e)) => Err(e),
        Some(Ok((cmd, len))) => Ok((header, cmd, len)),
    })
}

/// Reads the body fields of `number` from `r` and slices its payload out of `rest`.
fn parse_body<'a>(
    number: CommandNumber,
    r: &mut Reader<'_>,
    rest: &'a [u8],
    size: usize,
    offset: usize,
) -> Option<Result<(Command<'a>, usize), ParseError>> {
    // Slices `len` payload bytes that follow the fixed part; ENet accepts a payload that ends
    // exactly at the end of the datagram.
    let payload = |len: u16| -> Result<(&'a [u8], usize), ParseError> {
        let len = usize::from(len);
        match rest.get(size..size + len) {
            Some(data) => Ok((data, size + len)),
            None => Err(ParseError::PayloadOverrun { len, offset }),
        }
    };
    let command = match number {
        CommandNumber::Acknowledge => Command::Acknowledge {
            received_reliable_sequence_number: r.field()?,
            received_sent_time: r.field()?,
        },
        CommandNumber::Connect => {
            let fields = r.handshake()?;
            Command::Connect(fields.with_data(r.field()?))
        }
        CommandNumber::VerifyConnect => Command::VerifyConnect(r.handshake()?),
        CommandNumber::Disconnect => Command::Disconnect { data: r.field()? },
        CommandNumber::Ping => Command::Ping,
        CommandNumber::BandwidthLimit => Command::BandwidthLimit {
            incoming_bandwidth: r.field()?,
            outgoing_bandwidth: r.field()?,
        },
        CommandNumber::ThrottleConfigure => Command::ThrottleConfigure {
            packet_throttle_interval: r.field()?,
            packet_throttle_acceleration: r.field()?,
            packet_throttle_deceleration: r.field()?,
        },
        CommandNumber::SendReliable => {
            return Some(payload(r.field()?).map(|(data, n)| (Command::SendReliable { data }, n)));
        }
        CommandNumber::SendUnreliable | CommandNumber::SendUnsequenced => {
            // The unreliable sequence number or the unsequenced group, then `dataLength`.
            let first: u16 = r.field()?;
            return Some(payload(r.field()?).map(|(data, n)| {
                let cmd = if number == CommandNumber::SendUnreliable {
                    Command::SendUnreliable {
                        unreliable_sequence_number: first,
                        data,
                    }
                } else {
                    Command::SendUnsequenced {
                        unsequenced_group: first,
                        data,
                    }
                };
                (cmd, n)
            }));
        }
        CommandNumber::SendFragment | CommandNumber::SendUnreliableFragment => {
            let start_sequence_number: u16 = r.field()?;
            let data_length: u16 = r.field()?;
            let fragment_count: u32 = r.field()?;
            let fragment_number: u32 = r.field()?;
            let total_length: u32 = r.field()?;
            let fragment_offset: u32 = r.field()?;
            return Some(payload(data_length).map(|(data, n)| {
                let f = Fragment {
                    start_sequence_number,
                    fragment_count,
                    fragment_number,
                    total_length,
                    fragment_offset,
                    data,
                };
                let cmd = if number == CommandNumber::SendFragment {
                    Command::SendFragment(f)
                } else {
                    Command::SendUnreliableFragment(f)
                };
                (cmd, n)
            }));
        }
    };
    Some(Ok((command, size)))
}

/// A fixed-size command field: integers go on the wire big-endian, byte arrays (`connect_id`)
/// as they are.
trait Field: Sized {
    fn read(r: &mut Reader<'_>) -> Option<Self>;
    fn write(self, w: &mut Writer<'_>) -> Option<()>;
}

macro_rules! big_endian_fields {
    ($($int:ty),*) => {$(
        impl Field for $int {
            fn read(r: &mut Reader<'_>) -> Option<Self> {
                r.take().map(<$int>::from_be_bytes)
            }

            fn write(self, w: &mut Writer<'_>) -> Option<()> {
                w.bytes(&self.to_be_bytes())
            }
        }
    )*};
}

big_endian_fields!(u8, u16, u32);

impl<const N: usize> Field for [u8; N] {
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        r.take()
    }

    fn write(self, w: &mut Writer<'_>) -> Option<()> {
        w.bytes(&self)
    }
}

/// Reads from a slice that shrinks as it is read; `None` instead of a panic when empty.
struct Reader<'b> {
    buf: &'b [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, tail) = self.buf.split_first_chunk::<N>()?;
        self.buf = tail;
        Some(*head)
    }

    /// The next field, of the type the caller wants.
    fn field<T: Field>(&mut self) -> Option<T> {
        T::read(self)
    }
}

/// Writes into a slice that shrinks as it is written; `None` instead of a panic when full.
struct Writer<'b> {
    buf: &'b mut [u8],
}

impl Writer<'_> {
    fn bytes(&mut self, src: &[u8]) -> Option<()> {
        let buf = core::mem::take(&mut self.buf);
        if src.len() > buf.len() {
            return None;
        }
        let (head, tail) = buf.split_at_mut(src.len());
        head.copy_from_slice(src);
        self.buf = tail;
        Some(())
    }

    fn field<T: Field>(&mut self, v: T) -> Option<()> {
        v.write(self)
    }
}
