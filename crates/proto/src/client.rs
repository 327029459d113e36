//! The one DNS client: a question to one server over UDP, asked again over TCP when
//! the answer is truncated, with a random id, a timeout, and the answer checked to be
//! a response to that very question (a late or forged reply is skipped, not trusted).

use crate::message::{Message, MessageBuilder};
use crate::ProtoError;
use blason_zone::{Name, Rtype};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// Asks questions; cheap to make, holds no socket between questions.
#[derive(Clone, Debug)]
pub struct Requester {
    /// For each try (UDP) and for the TCP exchange.
    pub timeout: Duration,
    /// UDP sends before giving up.
    pub tries: u32,
    /// The EDNS payload size offered (1232: no fragmentation on the usual paths).
    pub udp_size: u16,
    /// Ask for recursion (a resolver) or not (an authoritative server).
    pub recursion: bool,
    pub dnssec_ok: bool,
}

impl Default for Requester {
    fn default() -> Self {
        Requester {
            timeout: Duration::from_millis(1500),
            tries: 2,
            udp_size: 1232,
            recursion: false,
            dnssec_ok: false,
        }
    }
}

/// A message id no one off the path can guess (RFC 5452), from the system's random
/// source.
pub fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // SystemRandom fails only when the OS has no randomness at all.
    if SystemRandom::new().fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        return t as u16;
    }
    u16::from_be_bytes(b)
}

impl Requester {
    /// `name`/`qtype` (class IN) asked of `server`.
    pub fn ask(
        &self,
        server: SocketAddr,
        name: &Name,
        qtype: Rtype,
    ) -> Result<Message, ProtoError> {
        let id = random_id();
        let q = MessageBuilder::query(
            id,
            name,
            qtype,
            self.recursion,
            Some((self.udp_size, self.dnssec_ok)),
        );
        let m = self.udp(server, &q, id, name, qtype)?;
        if m.is_truncated() {
            return self.tcp(server, &q, id, name, qtype);
        }
        Ok(m)
    }

    fn udp(
        &self,
        server: SocketAddr,
        q: &[u8],
        id: u16,
        name: &Name,
        qtype: Rtype,
    ) -> Result<Message, ProtoError> {
        let io = |e| io_error(server, e);
        let bind: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = UdpSocket::bind(bind).map_err(io)?;
        sock.connect(server).map_err(io)?;
        let mut buf = vec![0u8; 65535];
        for _ in 0..self.tries.max(1) {
            sock.send(q).map_err(io)?;
            let until = Instant::now() + self.timeout;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                sock.set_read_timeout(Some(left)).map_err(io)?;
                let n = match sock.recv(&mut buf).map_err(io) {
                    Ok(n) => n,
                    Err(ProtoError::Timeout(_)) => break,
                    Err(e) => return Err(e),
                };
                // Replies to other questions are skipped; a malformed one too.
                if let Ok(m) = Message::parse(&buf[..n]) {
                    if answers(&m, id, name, qtype) {
                        return Ok(m);
                    }
                }
            }
        }
        Err(ProtoError::Timeout(server))
    }

    fn tcp(
        &self,
        server: SocketAddr,
        q: &[u8],
        id: u16,
        name: &Name,
        qtype: Rtype,
    ) -> Result<Message, ProtoError> {
        let io = |e| io_error(server, e);
        let mut s = TcpStream::connect_timeout(&server, self.timeout).map_err(io)?;
        s.set_read_timeout(Some(self.timeout)).map_err(io)?;
        s.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let mut out = (q.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(q);
        s.write_all(&out).map_err(io)?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(io)?;
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        s.read_exact(&mut buf).map_err(io)?;
        let m = Message::parse(&buf)?;
        if !answers(&m, id, name, qtype) {
            return Err(ProtoError::Mismatch("another id or question"));
        }
        Ok(m)
    }
}

/// A socket error: running out of time is a timeout, anything else the system's.
fn io_error(server: SocketAddr, e: std::io::Error) -> ProtoError {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            ProtoError::Timeout(server)
        }
        _ => ProtoError::Io(server, e),
    }
}

/// True when `m` is a response to query `id` for `name`/`qtype` (names compared
/// case-insensitively).
pub fn answers(m: &Message, id: u16, name: &Name, qtype: Rtype) -> bool {
    m.id == id
        && m.is_response()
        && m.questions.len() == 1
        && m.questions[0].qtype == qtype
        && m.questions[0]
            .name
            .as_wire()
            .eq_ignore_ascii_case(name.as_wire())
}
