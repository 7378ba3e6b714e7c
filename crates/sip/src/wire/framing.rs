//! Stream framing (RFC 3261 §18.3): a message is its head up to the empty line plus exactly
//! Content-Length bytes, which a stream message must carry. Between messages, CRLFCRLF is a
//! keepalive ping and a lone CRLF its pong (RFC 5626 §3.5.1).

use bytes::{Buf, Bytes, BytesMut};

use super::WireError;

/// One unit taken off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message, to hand to [`super::parse_message`].
    Message(Bytes),
    /// Double CRLF: answer with a single CRLF.
    KeepAlivePing,
    /// Single CRLF: the answer to our ping.
    KeepAlivePong,
}

/// Accumulates stream bytes and yields frames.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max_message: usize,
}

impl StreamFramer {
    /// A framer refusing messages larger than `max_message` bytes.
    #[must_use]
    pub fn new(max_message: usize) -> Self {
        StreamFramer {
            buf: BytesMut::new(),
            max_message,
        }
    }

    /// Bytes held that do not make a whole frame yet (a message still arriving).
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next frame, `None` when more bytes are needed, `Err` when the stream is broken (the
    /// caller closes the connection: there is no way to resynchronise).
    pub fn next_frame(&mut self) -> Option<Result<Frame, WireError>> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.advance(4);
            return Some(Ok(Frame::KeepAlivePing));
        }
        if self.buf.starts_with(b"\r\n") {
            if self.buf.len() < 4 && b"\r\n\r\n".starts_with(&self.buf[..]) {
                // Could still become a ping; but a lone CRLF with nothing after is a pong.
                if self.buf.len() == 2 {
                    self.buf.advance(2);
                    return Some(Ok(Frame::KeepAlivePong));
                }
                return None;
            }
            self.buf.advance(2);
            return Some(Ok(Frame::KeepAlivePong));
        }
        let head_end = match find(&self.buf, b"\r\n\r\n") {
            Some(i) => i + 4,
            None if self.buf.len() > self.max_message => {
                return Some(Err(WireError::NotSip("stream message head too large")));
            }
            None => return None,
        };
        let length = match content_length(&self.buf[..head_end]) {
            Ok(Some(len)) => len,
            Ok(None) => {
                return Some(Err(WireError::NotSip(
                    "stream message without Content-Length",
                )));
            }
            Err(e) => return Some(Err(e)),
        };
        if head_end + length > self.max_message {
            return Some(Err(WireError::NotSip("stream message too large")));
        }
        if self.buf.len() < head_end + length {
            return None;
        }
        Some(Ok(Frame::Message(
            self.buf.split_to(head_end + length).freeze(),
        )))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The Content-Length of a head (long form or compact `l`), if present.
fn content_length(head: &[u8]) -> Result<Option<usize>, WireError> {
    let text = std::str::from_utf8(head).map_err(|_| WireError::NotSip("head is not UTF-8"))?;
    let mut found = None;
    for line in text.split("\r\n").skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let len = value
                .trim()
                .parse()
                .map_err(|_| WireError::NotSip("malformed Content-Length"))?;
            if found.replace(len).is_some_and(|prev| prev != len) {
                return Err(WireError::NotSip("conflicting Content-Length values"));
            }
        }
    }
    Ok(found)
}
