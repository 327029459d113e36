//! Asking the parent's servers for the zone's DS RRset (through the one client,
//! `blason_proto::Requester`: no recursion, UDP then TCP on truncation, short
//! timeouts, random ids), and matching what they hold against the zone's keys.

use blason_dnssec::keys::{DigestType, Key};
use blason_dnssec::roll::KeyId;
use blason_proto::client::answers;
use blason_proto::ProtoError;
use blason_proto::{Message, MessageBuilder, Requester};
use blason_zone::fault::{Blame, Fault};
use blason_zone::{Name, Rtype};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Why a parent server could not say which DS records it holds.
#[derive(Debug)]
pub enum DsQueryError {
    /// No usable exchange (timeout, network, malformed or mismatched answer).
    Exchange(ProtoError),
    /// It answered with an error RCODE.
    Rcode(u16),
    /// Its answer is not authoritative.
    NotAuthoritative,
}

impl fmt::Display for DsQueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DsQueryError::Exchange(e) => write!(f, "{e}"),
            DsQueryError::Rcode(r) => write!(
                f,
                "answered {} (is it a server of the parent zone?)",
                blason_proto::rcode_name(*r)
            ),
            DsQueryError::NotAuthoritative => {
                f.write_str("answer is not authoritative (is it a server of the parent zone?)")
            }
        }
    }
}

impl std::error::Error for DsQueryError {}

impl Blame for DsQueryError {
    fn fault(&self) -> Fault {
        match self {
            DsQueryError::Exchange(e) => e.fault(),
            // A configured parent that is not one is the configuration's fault.
            DsQueryError::Rcode(_) | DsQueryError::NotAuthoritative => Fault::Config,
        }
    }
}

/// The DS rdatas `server` holds for `zone` (empty: it answers that there are none).
pub fn query_ds(
    server: SocketAddr,
    zone: &Name,
    timeout: Duration,
) -> Result<Vec<Vec<u8>>, DsQueryError> {
    let r = Requester {
        timeout,
        tries: 1,
        ..Requester::default()
    };
    let m = r
        .ask(server, zone, Rtype::DS)
        .map_err(DsQueryError::Exchange)?;
    ds_of(&m, zone)
}

/// `zone IN DS?` without recursion, with EDNS (1232 octets).
pub fn build_query(id: u16, zone: &Name) -> Vec<u8> {
    MessageBuilder::query(id, zone, Rtype::DS, false, Some((1232, false)))
}

/// The DS rdatas for `zone` in an authoritative answer to query `id`.
pub fn parse_ds_answer(m: &[u8], id: u16, zone: &Name) -> Result<Vec<Vec<u8>>, DsQueryError> {
    let m = Message::parse(m).map_err(DsQueryError::Exchange)?;
    if !answers(&m, id, zone, Rtype::DS) {
        return Err(DsQueryError::Exchange(ProtoError::Mismatch(
            "not an answer to our question",
        )));
    }
    ds_of(&m, zone)
}

fn ds_of(m: &Message, zone: &Name) -> Result<Vec<Vec<u8>>, DsQueryError> {
    let rcode = m.rcode();
    if rcode != 0 {
        return Err(DsQueryError::Rcode(rcode));
    }
    if !m.is_authoritative() {
        return Err(DsQueryError::NotAuthoritative);
    }
    Ok(m.answer
        .iter()
        .filter(|r| r.rtype == Rtype::DS && r.owner.as_wire().eq_ignore_ascii_case(zone.as_wire()))
        .map(|r| r.rdata.clone())
        .collect())
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
    use std::io::{Read, Write};
    use std::net::UdpSocket;

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
        assert!(matches!(
            parse_ds_answer(&na, 7, &zone),
            Err(DsQueryError::NotAuthoritative)
        ));
        let nx = answer(7, &zone, &[], [0x84, 3]);
        let e = parse_ds_answer(&nx, 7, &zone).unwrap_err();
        assert!(matches!(e, DsQueryError::Rcode(3)), "{e}");
        assert!(e.to_string().contains("NXDOMAIN"), "{e}");
        assert_eq!(e.fault(), Fault::Config);
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
