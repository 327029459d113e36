//! The bit of HTTP/1.1 the DynDNS2 service and `/metrics` share: a request head
//! read whole and bounded, and a response with a body and `Connection: close`
//! (one request per connection in both).
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};

/// How reading a request head ended.
pub(crate) enum Head {
    /// Up to and including the blank line.
    Complete(Vec<u8>),
    /// Over `max` bytes without a blank line.
    TooLarge,
    /// The client closed or timed out first.
    Closed,
}

/// Reads until the blank line that ends the head (CRLF, or a bare LF as RFC 9112
/// §2.2 lets a recipient take).
pub(crate) fn read_head(s: &mut impl Read, max: usize) -> Head {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return Head::Closed,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            return Head::Complete(head);
        }
        if head.len() > max {
            return Head::TooLarge;
        }
    }
}

/// Writes a whole response: status, content type, `extra` header lines (each
/// ending in CRLF), the body.
pub(crate) fn respond(
    s: &mut impl Write,
    status: u16,
    reason: &str,
    content_type: &str,
    extra: &str,
    body: &str,
) -> io::Result<()> {
    write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )?;
    s.flush()
}
