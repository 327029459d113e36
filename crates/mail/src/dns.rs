//! The little DNS the lints need: a [`TxtLookup`] trait, a stub resolver that asks one
//! server through the one DNS client (`blason_proto::Requester`: UDP, TCP when
//! truncated, random ids), and an in-memory map for tests.
//!
//! The stub sets RD, so it works against a recursive resolver as well as against an
//! authoritative server such as `blason serve`; it follows no referrals itself.

use blason_proto::{Message, Requester};
use blason_zone::{Name, Rtype};
use std::collections::HashMap;
use std::net::SocketAddr;
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
}

impl TxtLookup for UdpLookup {
    fn lookup(&self, name: &str, rtype: u16) -> Answer {
        let text = format!("{}.", name.trim_end_matches('.'));
        let Ok(qname) = Name::parse(&text, None) else {
            return Answer::Fail(format!("not a valid domain name: {name}"));
        };
        let r = Requester {
            timeout: self.timeout,
            tries: self.tries,
            udp_size: 4096,
            recursion: true,
            dnssec_ok: false,
        };
        match r.ask(self.server, &qname, Rtype(rtype)) {
            Ok(m) => answer_of(&m, rtype),
            Err(e) => Answer::Fail(e.to_string()),
        }
    }
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

/// The answer records of `rtype` in a response (names in their rdata expanded by
/// the codec), or what the RCODE says.
pub fn answer_of(m: &Message, rtype: u16) -> Answer {
    let out: Vec<Vec<u8>> = m
        .answer
        .iter()
        .filter(|r| r.rtype.0 == rtype)
        .map(|r| r.rdata.clone())
        .collect();
    match m.rcode() {
        0 if out.is_empty() => Answer::NoData,
        0 => Answer::Records(out),
        3 => Answer::NxDomain,
        2 => Answer::Fail("SERVFAIL".into()),
        5 => Answer::Fail("REFUSED".into()),
        n => Answer::Fail(format!("rcode {n}")),
    }
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
        match Message::parse(&r).map(|m| answer_of(&m, MX)) {
            Ok(Answer::Records(v)) => assert_eq!(v[0], b"\x00\x0a\x01b\x01a\x00"),
            other => panic!("{other:?}"),
        }
        // Pointer loops end.
        let mut bad = r.clone();
        bad[12] = 0xc0;
        bad[13] = 12;
        assert!(Message::parse(&bad).is_err());
        for cut in 0..r.len() {
            let _ = Message::parse(&r[..cut]);
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
