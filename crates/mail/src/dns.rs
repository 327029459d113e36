//! The little DNS the lints need: a [`TxtLookup`] trait, a stub resolver that asks one
//! server over UDP (TCP when truncated), and an in-memory map for tests.
//!
//! The stub sets RD, so it works against a recursive resolver as well as against an
//! authoritative server such as `blason serve`; it follows no referrals itself.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

pub const A: u16 = 1;
pub const NS: u16 = 2;
pub const CNAME: u16 = 5;
pub const MX: u16 = 15;
pub const TXT: u16 = 16;
pub const AAAA: u16 = 28;
pub const SPF: u16 = 99;

/// The outcome of one query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Rdata (wire form) of the records of the asked type.
    Records(Vec<Vec<u8>>),
    /// The name exists but has no record of this type.
    NoData,
    NxDomain,
    /// Timeout, SERVFAIL, REFUSED, malformed answer: the lint cannot tell.
    Fail(String),
}

impl Answer {
    pub fn records(&self) -> &[Vec<u8>] {
        match self {
            Answer::Records(r) => r,
            _ => &[],
        }
    }

    /// RFC 7208 §4.6.4: a lookup that returned no answer (NODATA or NXDOMAIN).
    pub fn is_void(&self) -> bool {
        matches!(self, Answer::NoData | Answer::NxDomain)
            || matches!(self, Answer::Records(r) if r.is_empty())
    }
}

/// What the lints ask of DNS. Names are presentation form, with or without the final dot.
pub trait TxtLookup {
    fn lookup(&self, name: &str, rtype: u16) -> Answer;

    /// The TXT records at `name`, each as its strings concatenated.
    fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, Answer> {
        match self.lookup(name, TXT) {
            Answer::Records(r) => Ok(r
                .iter()
                .map(|d| crate::txt::value(d).unwrap_or_default())
                .collect()),
            other => Err(other),
        }
    }

    /// The MX exchanges at `name` (preference, host without trailing dot).
    fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, Answer> {
        match self.lookup(name, MX) {
            Answer::Records(r) => Ok(r
                .iter()
                .filter_map(|d| {
                    let pref = u16::from_be_bytes([*d.first()?, *d.get(1)?]);
                    let (host, _) = read_name(d, 2)?;
                    Some((pref, host))
                })
                .collect()),
            other => Err(other),
        }
    }
}

/// Lower-cases and drops the trailing dot: the key form used by [`MapLookup`].
pub fn norm(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Records held in memory, for unit tests.
#[derive(Default)]
pub struct MapLookup {
    pub records: HashMap<(String, u16), Vec<Vec<u8>>>,
}

impl MapLookup {
    pub fn new() -> MapLookup {
        MapLookup::default()
    }

    pub fn add(&mut self, name: &str, rtype: u16, rdata: Vec<u8>) -> &mut Self {
        self.records
            .entry((norm(name), rtype))
            .or_default()
            .push(rdata);
        self
    }

    pub fn add_txt(&mut self, name: &str, value: &str) -> &mut Self {
        self.add(name, TXT, crate::txt::rdata(value.as_bytes()))
    }

    pub fn add_mx(&mut self, name: &str, pref: u16, host: &str) -> &mut Self {
        let mut d = pref.to_be_bytes().to_vec();
        d.extend(encode_name(host).unwrap_or_default());
        self.add(name, MX, d)
    }
}

impl TxtLookup for MapLookup {
    fn lookup(&self, name: &str, rtype: u16) -> Answer {
        let n = norm(name);
        if let Some(r) = self.records.get(&(n.clone(), rtype)) {
            return Answer::Records(r.clone());
        }
        let exists = self
            .records
            .keys()
            .any(|(k, _)| *k == n || k.ends_with(&format!(".{n}")));
        if exists {
            Answer::NoData
        } else {
            Answer::NxDomain
        }
    }
}

/// Asks one server (`ADDR:PORT`) over UDP, then TCP if the answer was truncated.
pub struct UdpLookup {
    pub server: SocketAddr,
    pub timeout: Duration,
    pub tries: u32,
}

impl UdpLookup {
    pub fn new(server: SocketAddr) -> UdpLookup {
        UdpLookup {
            server,
            timeout: Duration::from_secs(2),
            tries: 2,
        }
    }

    /// The first nameserver of /etc/resolv.conf, port 53 (the CLI's default).
    pub fn system() -> Option<UdpLookup> {
        let conf = std::fs::read_to_string("/etc/resolv.conf").ok()?;
        for line in conf.lines() {
            let mut w = line.split_whitespace();
            if w.next() == Some("nameserver") {
                let ip: std::net::IpAddr = w.next()?.parse().ok()?;
                return Some(UdpLookup::new(SocketAddr::new(ip, 53)));
            }
        }
        None
    }

    fn exchange_udp(&self, q: &[u8]) -> Result<Vec<u8>, String> {
        let bind = if self.server.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        };
        let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
        sock.connect(self.server).map_err(|e| e.to_string())?;
        sock.set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let mut last = String::from("no answer");
        for _ in 0..self.tries.max(1) {
            sock.send(q).map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 65535];
            loop {
                match sock.recv(&mut buf) {
                    Ok(n) => {
                        // Drop stray answers to other ids.
                        if n >= 2 && buf[..2] == q[..2] {
                            buf.truncate(n);
                            return Ok(buf);
                        }
                    }
                    Err(e) => {
                        last = format!("timeout from {}: {}", self.server, e);
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    fn exchange_tcp(&self, q: &[u8]) -> Result<Vec<u8>, String> {
        let mut s =
            TcpStream::connect_timeout(&self.server, self.timeout).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(self.timeout))
            .map_err(|e| e.to_string())?;
        let mut msg = (q.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(q);
        s.write_all(&msg).map_err(|e| e.to_string())?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).map_err(|e| e.to_string())?;
        Ok(buf)
    }
}

impl TxtLookup for UdpLookup {
    fn lookup(&self, name: &str, rtype: u16) -> Answer {
        let Some(qname) = encode_name(name) else {
            return Answer::Fail(format!("not a valid domain name: {name}"));
        };
        let id = query_id();
        let q = build_query(id, &qname, rtype);
        let resp = match self.exchange_udp(&q) {
            Ok(r) if r.len() > 2 && r[2] & 0x02 != 0 => self.exchange_tcp(&q),
            other => other,
        };
        match resp {
            Ok(r) => parse_response(&r, id, rtype),
            Err(e) => Answer::Fail(e),
        }
    }
}

/// A query id that is not constant; the stub talks to one chosen server, so this only
/// keeps answers to earlier queries apart.
fn query_id() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t as u16) ^ NEXT.fetch_add(0x9e37, Ordering::Relaxed)
}

/// Presentation name to wire form; None when a label is empty or too long.
pub fn encode_name(name: &str) -> Option<Vec<u8>> {
    let name = name.trim_end_matches('.');
    let mut out = Vec::with_capacity(name.len() + 2);
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() || label.len() > 63 {
                return None;
            }
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    if out.len() > 255 {
        return None;
    }
    Some(out)
}

pub fn build_query(id: u16, qname: &[u8], rtype: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(qname.len() + 32);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00]); // RD
    q.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 1]); // QD=1, AR=1 (OPT)
    q.extend_from_slice(qname);
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]); // IN
                                  // OPT: root owner, type 41, payload 4096, no flags, no options.
    q.extend_from_slice(&[0, 0, 41, 0x10, 0x00, 0, 0, 0, 0, 0, 0]);
    q
}

/// Reads a possibly compressed name at `pos`; returns it in presentation form (no
/// trailing dot) and the offset after it in the original stream.
pub fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)? as usize;
        if len == 0 {
            end.get_or_insert(pos + 1);
            break;
        }
        if len & 0xc0 == 0xc0 {
            let off = ((len & 0x3f) << 8) | *msg.get(pos + 1)? as usize;
            end.get_or_insert(pos + 2);
            jumps += 1;
            if jumps > 64 {
                return None;
            }
            pos = off;
            continue;
        }
        if len > 63 {
            return None;
        }
        let label = msg.get(pos + 1..pos + 1 + len)?;
        if !out.is_empty() {
            out.push('.');
        }
        for &b in label {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                out.push(b as char);
            } else {
                out.push_str(&format!("\\{:03}", b));
            }
        }
        pos += 1 + len;
    }
    Some((out, end?))
}

/// Picks the answer records of `rtype` out of a response.
pub fn parse_response(r: &[u8], id: u16, rtype: u16) -> Answer {
    if r.len() < 12 || r[..2] != id.to_be_bytes() {
        return Answer::Fail("malformed or mismatched response".into());
    }
    let rcode = r[3] & 0x0f;
    let qd = u16::from_be_bytes([r[4], r[5]]);
    let an = u16::from_be_bytes([r[6], r[7]]);
    let mut pos = 12;
    for _ in 0..qd {
        match read_name(r, pos) {
            Some((_, p)) => pos = p + 4,
            None => return Answer::Fail("malformed question".into()),
        }
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let Some((_, p)) = read_name(r, pos) else {
            return Answer::Fail("malformed answer".into());
        };
        let Some(h) = r.get(p..p + 10) else {
            return Answer::Fail("truncated answer".into());
        };
        let t = u16::from_be_bytes([h[0], h[1]]);
        let len = u16::from_be_bytes([h[8], h[9]]) as usize;
        let Some(d) = r.get(p + 10..p + 10 + len) else {
            return Answer::Fail("truncated rdata".into());
        };
        if t == rtype {
            // MX and others carry names that may be compressed: expand them.
            out.push(if t == MX {
                expand_mx(r, p + 10).unwrap_or_else(|| d.to_vec())
            } else {
                d.to_vec()
            });
        }
        pos = p + 10 + len;
    }
    match rcode {
        0 if out.is_empty() => Answer::NoData,
        0 => Answer::Records(out),
        3 => Answer::NxDomain,
        2 => Answer::Fail("SERVFAIL".into()),
        5 => Answer::Fail("REFUSED".into()),
        n => Answer::Fail(format!("rcode {n}")),
    }
}

fn expand_mx(msg: &[u8], pos: usize) -> Option<Vec<u8>> {
    let mut d = msg.get(pos..pos + 2)?.to_vec();
    let (host, _) = read_name(msg, pos + 2)?;
    d.extend(encode_name(&host)?);
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_responses() {
        assert_eq!(encode_name("a.bc.").unwrap(), b"\x01a\x02bc\x00");
        assert_eq!(encode_name(".").unwrap(), b"\x00");
        assert!(encode_name("a..b").is_none());
        // Response: header, question a., answer with pointer to question, MX 10 b.a.
        let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        r.extend(b"\x01a\x00\x00\x0f\x00\x01");
        r.extend([
            0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 6, 0, 10, 1, b'b', 0xc0, 12,
        ]);
        match parse_response(&r, 0x1234, MX) {
            Answer::Records(v) => assert_eq!(v[0], b"\x00\x0a\x01b\x01a\x00"),
            other => panic!("{other:?}"),
        }
        // Pointer loops end.
        let mut bad = r.clone();
        bad[12] = 0xc0;
        bad[13] = 12;
        assert!(matches!(parse_response(&bad, 0x1234, MX), Answer::Fail(_)));
        for cut in 0..r.len() {
            let _ = parse_response(&r[..cut], 0x1234, MX);
        }
    }

    #[test]
    fn map_lookup() {
        let mut m = MapLookup::new();
        m.add_txt("a.example", "v=spf1 -all")
            .add_mx("example", 10, "mx.example");
        assert_eq!(m.txt("A.example.").unwrap(), vec![b"v=spf1 -all".to_vec()]);
        assert_eq!(m.mx("example").unwrap(), vec![(10, "mx.example".into())]);
        assert_eq!(m.lookup("example", TXT), Answer::NoData);
        assert_eq!(m.lookup("nope.example", TXT), Answer::NxDomain);
    }
}
