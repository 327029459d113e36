//! The optional query log: one line per query. It allocates, which is why it is off by
//! default; it only reads the question, so it never needs the zone crate's parser.
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::net::SocketAddr;

pub fn log(peer: Option<SocketAddr>, proto: &str, query: &[u8], reply: Option<&[u8]>) {
    let (qname, qtype) = question(query).unwrap_or_else(|| ("-".into(), 0));
    let id = query
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    let peer = peer.map_or_else(|| "-".to_string(), |p| p.to_string());
    match reply {
        Some(r) => {
            let rcode = r.get(3).map_or(0, |b| b & 0x0f);
            crate::log::info(
                "query",
                &[
                    ("client", &peer),
                    ("proto", &proto),
                    ("id", &id),
                    ("qname", &qname),
                    ("qtype", &qtype),
                    ("rcode", &rcode_name(rcode)),
                    ("size", &r.len()),
                ],
            )
        }
        None => crate::log::info(
            "query dropped",
            &[("client", &peer), ("proto", &proto), ("size", &query.len())],
        ),
    }
}

/// The first question's name (presentation form) and type, if the packet has one.
pub fn question(q: &[u8]) -> Option<(String, u16)> {
    if q.len() < 12 || u16::from_be_bytes([q[4], q[5]]) == 0 {
        return None;
    }
    let mut pos = 12;
    let mut name = String::new();
    loop {
        let len = *q.get(pos)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        if len > 63 || name.len() > 1024 {
            return None;
        }
        for &b in q.get(pos..pos + len)? {
            match b {
                b'.' | b'\\' => {
                    name.push('\\');
                    name.push(b as char);
                }
                0x21..=0x7e => name.push(b as char),
                _ => {
                    let _ = write!(name, "\\{b:03}");
                }
            }
        }
        name.push('.');
        pos += len;
    }
    if name.is_empty() {
        name.push('.');
    }
    let t = q.get(pos..pos + 2)?;
    Some((name, u16::from_be_bytes([t[0], t[1]])))
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_question() {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x04test\x00\x00\x01\x00\x01");
        assert_eq!(super::question(&q), Some(("www.example.test.".into(), 1)));
        assert_eq!(super::question(&q[..20]), None);
    }
}
