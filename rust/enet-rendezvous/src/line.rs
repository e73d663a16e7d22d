//! Line framing of the TCP protocol, as noray's Node `readline` splits it.
//!
//! A line ends at `\n`, `\r\n` or a lone `\r`. Treating `\r` and `\n` each as a terminator and
//! skipping empty lines gives exactly readline's lines minus the empty ones, which noray ignores
//! anyway (`\r\n` yields a line and an empty one).

use thiserror::Error;

/// A line grew past the configured maximum before its terminator arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("line longer than {max} bytes")]
pub struct LineTooLong {
    /// The maximum that was exceeded.
    pub max: usize,
}

/// Splits a TCP byte stream into non-empty lines of at most `max` bytes.
///
/// Drive it with [`push`](Self::push) for every chunk read from the socket, then call
/// [`next_line`](Self::next_line) until it returns `None`. After an `Err` the stream is
/// unusable (close the connection). Memory stays below `max` plus one pushed chunk.
#[derive(Debug)]
pub struct LineReader {
    buffer: Vec<u8>,
    max: usize,
}

impl LineReader {
    /// A reader that refuses lines longer than `max` bytes (terminator excluded).
    pub fn new(max: usize) -> Self {
        Self {
            buffer: Vec::new(),
            max,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }

    /// The next complete non-empty line without its terminator, `None` when more bytes are
    /// needed, or an error once the line being received exceeds the maximum.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineTooLong>> {
        loop {
            let Some(end) = self.buffer.iter().position(|&b| b == b'\n' || b == b'\r') else {
                if self.buffer.len() > self.max {
                    return Some(Err(LineTooLong { max: self.max }));
                }
                return None;
            };
            let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
            line.pop();
            if line.is_empty() {
                continue;
            }
            if line.len() > self.max {
                return Some(Err(LineTooLong { max: self.max }));
            }
            return Some(Ok(line));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(reader: &mut LineReader) -> Vec<Result<Vec<u8>, LineTooLong>> {
        std::iter::from_fn(|| reader.next_line()).collect()
    }

    #[test]
    fn lf_crlf_and_lone_cr_all_end_a_line() {
        let mut reader = LineReader::new(64);
        reader.push(b"register-host\necho a b\r\nconnect x\rtail");
        assert_eq!(
            lines(&mut reader),
            vec![
                Ok(b"register-host".to_vec()),
                Ok(b"echo a b".to_vec()),
                Ok(b"connect x".to_vec())
            ]
        );
        reader.push(b"\n");
        assert_eq!(lines(&mut reader), vec![Ok(b"tail".to_vec())]);
    }

    #[test]
    fn a_line_split_across_chunks_is_joined() {
        let mut reader = LineReader::new(64);
        reader.push(b"conn");
        assert!(reader.next_line().is_none());
        reader.push(b"ect abc\r");
        reader.push(b"\n\n\n");
        assert_eq!(lines(&mut reader), vec![Ok(b"connect abc".to_vec())]);
    }

    #[test]
    fn an_unterminated_line_past_the_maximum_is_refused() {
        let mut reader = LineReader::new(8);
        reader.push(b"12345678");
        assert!(
            reader.next_line().is_none(),
            "exactly the maximum is still fine"
        );
        reader.push(b"9");
        assert_eq!(reader.next_line(), Some(Err(LineTooLong { max: 8 })));
    }

    #[test]
    fn a_terminated_line_past_the_maximum_is_refused() {
        let mut reader = LineReader::new(4);
        reader.push(b"ok\n123456789\n");
        assert_eq!(reader.next_line(), Some(Ok(b"ok".to_vec())));
        assert_eq!(reader.next_line(), Some(Err(LineTooLong { max: 4 })));
    }
}
