//! Datagram compression and integrity: ENet's range coder and the CRC-32 checksum.
