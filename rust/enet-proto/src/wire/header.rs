//! The datagram header: peer id, session bits, flags and the optional sent time.

use thiserror::Error;

use super::{
    HEADER_FLAG_COMPRESSED, HEADER_FLAG_SENT_TIME, HEADER_SESSION_MASK, HEADER_SESSION_SHIFT,
    PROTOCOL_MAXIMUM_PEER_ID,
};

/// The protocol header that starts every ENet datagram (2 or 4 bytes; the optional checksum that
/// may follow it is handled by the host, not here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatagramHeader {
    /// The receiver's slot index for this connection, or `PROTOCOL_MAXIMUM_PEER_ID` (0xFFF).
    pub peer_id: u16,
    /// Two-bit session id (0..=3).
    pub session_id: u8,
    /// The command area is compressed (`HEADER_FLAG_COMPRESSED`).
    pub compressed: bool,
    /// Low 16 bits of the sender's service time, present iff a reliable command is inside.
    pub sent_time: Option<u16>,
}

/// Why a datagram header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum HeaderError {
    /// Fewer bytes than the header (and the flagged optional fields) needs.
    #[error("datagram of {len} bytes is shorter than its {needed}-byte header")]
    Truncated { len: usize, needed: usize },
}

impl DatagramHeader {
    /// Size of the header without the optional `sentTime` field.
    pub const MIN_LEN: usize = 2;
    /// Size of the header with the `sentTime` field (`HEADER_FLAG_SENT_TIME`).
    pub const MAX_LEN: usize = 4;

    /// Wire size of this header: 4 with a sent time, else 2.
    #[allow(clippy::len_without_is_empty)] // a header is never empty
    pub const fn len(&self) -> usize {
        if self.sent_time.is_some() {
            Self::MAX_LEN
        } else {
            Self::MIN_LEN
        }
    }

    /// Reads the header at the start of `datagram` and returns it with its wire length (2 or 4).
    ///
    /// The length is checked before anything is read (protocol description 2.4 step 3 and 17.2:
    /// ENet itself does not check it). The command area (or the checksum, if the host uses one)
    /// starts at the returned length. Bits 12-13 are returned as `session_id` whatever the peer
    /// id is; whether to compare them is the host's decision (2.4 step 4).
    pub fn parse(datagram: &[u8]) -> Result<(DatagramHeader, usize), HeaderError> {
        let Some(&[hi, lo]) = datagram.first_chunk::<2>() else {
            return Err(HeaderError::Truncated {
                len: datagram.len(),
                needed: Self::MIN_LEN,
            });
        };
        let field = u16::from_be_bytes([hi, lo]);
        let sent_time = if field & HEADER_FLAG_SENT_TIME != 0 {
            match datagram.get(2..4) {
                Some(&[a, b]) => Some(u16::from_be_bytes([a, b])),
                _ => {
                    return Err(HeaderError::Truncated {
                        len: datagram.len(),
                        needed: Self::MAX_LEN,
                    });
                }
            }
        } else {
            None
        };
        let header = DatagramHeader {
            peer_id: field & PROTOCOL_MAXIMUM_PEER_ID,
            session_id: ((field & HEADER_SESSION_MASK) >> HEADER_SESSION_SHIFT) as u8,
            compressed: field & HEADER_FLAG_COMPRESSED != 0,
            sent_time,
        };
        Ok((header, header.len()))
    }

    /// Writes the header to the start of `buf` and returns the number of bytes written (2 or 4),
    /// or `None` (writing nothing) if `buf` is shorter than [`len`](Self::len).
    ///
    /// The header writes exactly what it is given: it does not zero the session bits for peer id
    /// 0xFFF. ENet senders put session 0 in a datagram addressed to 0xFFF (protocol description
    /// 2.1), so the host passes `session_id: 0` together with `peer_id: 0xFFF`. Bits outside
    /// the fields' widths (peer id above 0xFFF, session id above 3) are dropped, never spilled into
    /// the flag bits.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.len();
        let out = buf.get_mut(..len)?;
        let mut field = self.peer_id & PROTOCOL_MAXIMUM_PEER_ID;
        field |= (u16::from(self.session_id) << HEADER_SESSION_SHIFT) & HEADER_SESSION_MASK;
        if self.compressed {
            field |= HEADER_FLAG_COMPRESSED;
        }
        if self.sent_time.is_some() {
            field |= HEADER_FLAG_SENT_TIME;
        }
        out[..2].copy_from_slice(&field.to_be_bytes());
        if let Some(sent_time) = self.sent_time {
            out[2..4].copy_from_slice(&sent_time.to_be_bytes());
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_datagrams_are_truncated_not_read() {
        assert_eq!(
            DatagramHeader::parse(&[]),
            Err(HeaderError::Truncated { len: 0, needed: 2 })
        );
        assert_eq!(
            DatagramHeader::parse(&[0x00]),
            Err(HeaderError::Truncated { len: 1, needed: 2 })
        );
        // SENT_TIME flagged but the field is missing or cut.
        assert_eq!(
            DatagramHeader::parse(&[0x80, 0x00]),
            Err(HeaderError::Truncated { len: 2, needed: 4 })
        );
        assert_eq!(
            DatagramHeader::parse(&[0xcf, 0xff, 0x12]),
            Err(HeaderError::Truncated { len: 3, needed: 4 })
        );
    }

    #[test]
    fn fields_are_split_from_the_first_u16() {
        let (h, len) = DatagramHeader::parse(&[0xff, 0xff, 0xab, 0xcd, 0x01]).unwrap();
        assert_eq!(len, 4);
        assert_eq!(
            h,
            DatagramHeader {
                peer_id: 0x0fff,
                session_id: 3,
                compressed: true,
                sent_time: Some(0xabcd)
            }
        );
        let (h, len) = DatagramHeader::parse(&[0x20, 0x07]).unwrap();
        assert_eq!(len, 2);
        assert_eq!(
            h,
            DatagramHeader {
                peer_id: 7,
                session_id: 2,
                compressed: false,
                sent_time: None
            }
        );
    }

    #[test]
    fn every_header_value_round_trips() {
        let mut buf = [0u8; 4];
        for field in 0..=u16::MAX {
            let bytes = [(field >> 8) as u8, field as u8, 0x5a, 0xa5];
            let (h, len) = DatagramHeader::parse(&bytes).unwrap();
            assert_eq!(h.emit(&mut buf), Some(len));
            assert_eq!(buf[..len], bytes[..len], "field {field:#06x}");
        }
    }

    #[test]
    fn emit_refuses_short_buffers_and_masks_wide_fields() {
        let h = DatagramHeader {
            peer_id: 0xffff,
            session_id: 0xff,
            compressed: false,
            sent_time: Some(0x0102),
        };
        assert_eq!(h.emit(&mut [0u8; 3]), None);
        let mut buf = [0u8; 4];
        assert_eq!(h.emit(&mut buf), Some(4));
        assert_eq!(buf, [0xbf, 0xff, 0x01, 0x02]);
        let h = DatagramHeader {
            sent_time: None,
            ..h
        };
        assert_eq!(h.emit(&mut [0u8; 1]), None);
        assert_eq!(h.emit(&mut buf[..2]), Some(2));
        assert_eq!(buf[..2], [0x3f, 0xff]);
    }
}
