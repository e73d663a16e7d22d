//! CRC-32/ISO-HDLC, the checksum ENet installs with `enet_crc32` (protocol description, section 3).

/// CRC-32 (initial value 0xFFFFFFFF, reflected polynomial 0xEDB88320, final XOR 0xFFFFFFFF)
/// over the concatenation of `buffers`, exactly as ENet checksums a datagram assembled from
/// several slices. This is zlib's CRC-32, so the well-kept `crc32fast` computes it (with the
/// processor's CRC instructions where there are any); the check values below pin the bytes.
///
/// ENet writes the result into the datagram big-endian (`to_be_bytes`).
pub fn crc32(buffers: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    for buffer in buffers {
        hasher.update(buffer);
    }
    hasher.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '|')
            .collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn check_values_of_section_19_5() {
        assert_eq!(crc32(&[b"123456789"]), 0xCBF4_3926);
        assert_eq!(crc32(&[&hex("0102030405060708")]), 0x3FCA_88C5);
        assert_eq!(crc32(&[]), 0);
        assert_eq!(crc32(&[b""]), 0);
        assert_eq!(crc32(&[b"", b""]), 0);
        assert_eq!(0xCBF4_3926u32.to_be_bytes(), [0xcb, 0xf4, 0x39, 0x26]);
    }

    #[test]
    fn checksum_examples_of_section_19_2() {
        // ACK datagram: header, connectID seed in the checksum slot, commands.
        assert_eq!(
            crc32(&[&hex("0000"), &hex("4bd7c1a9"), &hex("01ff0002000244c5")]),
            0x3197_B7B7
        );
        // CONNECT: peer ID 0xFFF, so the seed is four zero bytes.
        let connect = hex(
            "82ff0001 0000ffff 00000570 00010000 00000002 00000000 00000000
             00001388 00000002 00000002 4bd7c1a9 12345678",
        );
        assert_eq!(
            crc32(&[&hex("8fff44c3"), &[0, 0, 0, 0], &connect]),
            0x1AE5_2CDB
        );
    }

    #[test]
    fn splitting_the_input_does_not_change_the_result() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let whole = crc32(&[&data]);
        for split in [0, 1, 7, 500, 999, 1000] {
            let (a, b) = data.split_at(split);
            assert_eq!(crc32(&[a, b]), whole);
            assert_eq!(crc32(&[a, &[], b]), whole);
        }
    }
}
