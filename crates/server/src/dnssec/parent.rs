//! Asking the parent's servers for the zone's DS RRset, and matching what they hold
//! against the zone's keys. A small stub of its own: one question, no recursion, UDP
//! with a TCP retry on truncation, short timeouts.

use blason_dnssec::keys::{DigestType, Key};
use blason_dnssec::roll::KeyId;
use blason_zone::Name;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

const DS: u16 = 43;
const OPT: u16 = 41;

/// The DS rdatas `server` holds for `zone` (empty: it answers that there are none).
pub fn query_ds(
    server: SocketAddr,
    zone: &Name,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, String> {
    // An unpredictable id: a forged "DS present" would retire keys too early.
    let id = (RandomState::new().hash_one(std::time::SystemTime::now()) & 0xffff) as u16;
    let q = build_query(id, zone);
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().expect("constant")
    } else {
        "[::]:0".parse().expect("constant")
    };
    let sock = UdpSocket::bind(bind).map_err(|e| format!("{server}: {e}"))?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| format!("{server}: {e}"))?;
    sock.connect(server).map_err(|e| format!("{server}: {e}"))?;
    sock.send(&q).map_err(|e| format!("{server}: {e}"))?;
    let mut buf = vec![0u8; 4096];
    let n = loop {
        let n = sock.recv(&mut buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                format!("{server}: no answer within {} ms", timeout.as_millis())
            }
            _ => format!("{server}: {e}"),
        })?;
        // Answers to other questions (late replies) are skipped, not trusted.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            break n;
        }
    };
    buf.truncate(n);
    if buf.len() > 2 && buf[2] & 0x02 != 0 {
        buf = query_tcp(server, &q, timeout)?;
    }
    parse_ds_answer(&buf, id, zone).map_err(|e| format!("{server}: {e}"))
}

fn query_tcp(server: SocketAddr, q: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let err = |e: std::io::Error| format!("{server} (TCP): {e}");
    let mut s = TcpStream::connect_timeout(&server, timeout).map_err(err)?;
    s.set_read_timeout(Some(timeout)).map_err(err)?;
    s.set_write_timeout(Some(timeout)).map_err(err)?;
    let mut m = (q.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(q);
    s.write_all(&m).map_err(err)?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).map_err(err)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).map_err(err)?;
    Ok(buf)
}

/// `zone IN DS?` without recursion, with EDNS (1232 octets).
pub fn build_query(id: u16, zone: &Name) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.extend_from_slice(zone.as_wire());
    q.extend_from_slice(&DS.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q.push(0);
    q.extend_from_slice(&OPT.to_be_bytes());
    q.extend_from_slice(&1232u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    q
}

/// Reads a possibly compressed name at `pos`: its lower-case wire form and the
/// position after it.
fn read_name(m: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *m.get(pos).ok_or("name runs past the message")?;
        match len & 0xc0 {
            0 => {
                let l = usize::from(len);
                let label = m
                    .get(pos..pos + 1 + l)
                    .ok_or("label runs past the message")?;
                out.extend(label.iter().map(u8::to_ascii_lowercase));
                pos += 1 + l;
                if l == 0 {
                    return Ok((out, end.unwrap_or(pos)));
                }
            }
            0xc0 => {
                let lo = *m.get(pos + 1).ok_or("pointer runs past the message")?;
                end.get_or_insert(pos + 2);
                pos = (usize::from(len & 0x3f) << 8) | usize::from(lo);
            }
            _ => return Err("unknown label type".into()),
        }
    }
    Err("name compression loop".into())
}

/// The DS rdatas for `zone` in an authoritative answer to query `id`.
pub fn parse_ds_answer(m: &[u8], id: u16, zone: &Name) -> Result<Vec<Vec<u8>>, String> {
    if m.len() < 12 || u16::from_be_bytes([m[0], m[1]]) != id || m[2] & 0x80 == 0 {
        return Err("not an answer to our question".into());
    }
    let rcode = m[3] & 0x0f;
    if rcode != 0 {
        return Err(format!(
            "answered RCODE {rcode} (is it a server of the parent zone?)"
        ));
    }
    if m[2] & 0x04 == 0 {
        return Err("answer is not authoritative (is it a server of the parent zone?)".into());
    }
    let count = |i: usize| usize::from(u16::from_be_bytes([m[i], m[i + 1]]));
    let (qd, an) = (count(4), count(6));
    let mut pos = 12;
    let want = zone.as_wire().to_ascii_lowercase();
    for _ in 0..qd {
        let (name, p) = read_name(m, pos)?;
        if name != want {
            return Err("answer is for another name".into());
        }
        pos = p + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let (owner, p) = read_name(m, pos)?;
        let h = m.get(p..p + 10).ok_or("record runs past the message")?;
        let rtype = u16::from_be_bytes([h[0], h[1]]);
        let len = usize::from(u16::from_be_bytes([h[8], h[9]]));
        let rd = m
            .get(p + 10..p + 10 + len)
            .ok_or("rdata runs past the message")?;
        if rtype == DS && owner == want {
            out.push(rd.to_vec());
        }
        pos = p + 10 + len;
    }
    Ok(out)
}

/// The keys `ds` (DS rdatas) point at, and how many DS records match no key. Digests
/// blason cannot compute (SHA-1) match by key tag and algorithm.
pub fn match_ds(origin: &Name, ds: &[Vec<u8>], keys: &[(KeyId, &Key)]) -> (Vec<KeyId>, usize) {
    let mut found = Vec::new();
    let mut unmatched = 0;
    for d in ds {
        if d.len() < 5 {
            unmatched += 1;
            continue;
        }
        let tag = u16::from_be_bytes([d[0], d[1]]);
        let hit = keys.iter().find(|(_, k)| match d[3] {
            2 => k.ds(origin, DigestType::Sha256) == *d,
            4 => k.ds(origin, DigestType::Sha384) == *d,
            _ => k.tag == tag && k.algorithm.number() == d[2],
        });
        match hit {
            Some((id, _)) => {
                if !found.contains(id) {
                    found.push(*id);
                }
            }
            None => unmatched += 1,
        }
    }
    found.sort();
    (found, unmatched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use blason_dnssec::keys::{Algorithm, FLAG_SEP, FLAG_ZONE};

    fn answer(id: u16, zone: &Name, rdatas: &[Vec<u8>], flags: [u8; 2]) -> Vec<u8> {
        let mut m = id.to_be_bytes().to_vec();
        m.extend_from_slice(&flags);
        m.extend_from_slice(&[0, 1, 0, rdatas.len() as u8, 0, 0, 0, 0]);
        m.extend_from_slice(zone.as_wire());
        m.extend_from_slice(&[0, 43, 0, 1]);
        for rd in rdatas {
            m.extend_from_slice(&[0xc0, 12, 0, 43, 0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(rd.len() as u16).to_be_bytes());
            m.extend_from_slice(rd);
        }
        m
    }

    #[test]
    fn parses_and_matches_ds_answers() {
        let zone = Name::parse("child.test.", None).unwrap();
        let k1 = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
        let k2 = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
        let ds1 = k1.ds(&zone, DigestType::Sha256);
        let stranger = vec![1, 2, 13, 2, 0xab];
        let m = answer(7, &zone, &[ds1.clone(), stranger], [0x84, 0]);
        let got = parse_ds_answer(&m, 7, &zone).unwrap();
        assert_eq!(got.len(), 2);
        let keys = [(KeyId(0), &k1), (KeyId(1), &k2)];
        assert_eq!(match_ds(&zone, &got, &keys), (vec![KeyId(0)], 1));
        // SHA-1 DS: by tag and algorithm.
        let mut sha1 = k2.tag.to_be_bytes().to_vec();
        sha1.extend_from_slice(&[13, 1, 0xaa]);
        assert_eq!(match_ds(&zone, &[sha1], &keys), (vec![KeyId(1)], 0));

        assert!(parse_ds_answer(&m, 8, &zone).is_err(), "wrong id");
        let na = answer(7, &zone, std::slice::from_ref(&ds1), [0x80, 0]);
        assert!(parse_ds_answer(&na, 7, &zone)
            .unwrap_err()
            .contains("authoritative"));
        let nx = answer(7, &zone, &[], [0x84, 3]);
        assert!(parse_ds_answer(&nx, 7, &zone)
            .unwrap_err()
            .contains("RCODE 3"));
        let nodata = answer(7, &zone, &[], [0x84, 0]);
        assert!(parse_ds_answer(&nodata, 7, &zone).unwrap().is_empty());
        let q = build_query(9, &zone);
        assert_eq!(&q[..2], &[0, 9]);
        assert_eq!(q[2] & 0x01, 0, "no recursion asked");
    }

    #[test]
    fn a_truncated_udp_answer_is_asked_again_over_tcp() {
        let zone = Name::parse("child.test.", None).unwrap();
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = std::net::TcpListener::bind(addr).unwrap();
        let z = zone.clone();
        let server = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            // TC set, no records: the client must retry over TCP.
            udp.send_to(&answer(id, &z, &[], [0x86, 0]), from).unwrap();
            let (mut s, _) = tcp.accept().unwrap();
            let mut len = [0u8; 2];
            s.read_exact(&mut len).unwrap();
            let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
            s.read_exact(&mut q).unwrap();
            assert_eq!(&q[2..], &buf[2..n], "the same question");
            let id = u16::from_be_bytes([q[0], q[1]]);
            let a = answer(id, &z, &[vec![0, 1, 13, 2, 0xab]], [0x84, 0]);
            let mut m = (a.len() as u16).to_be_bytes().to_vec();
            m.extend(a);
            s.write_all(&m).unwrap();
        });
        let ds = query_ds(addr, &zone, Duration::from_secs(2)).unwrap();
        assert_eq!(ds, vec![vec![0, 1, 13, 2, 0xab]]);
        server.join().unwrap();
    }
}
