//! TSIG (RFC 8945): signing and verifying whole messages with a shared key.
//!
//! Written here rather than taken from a crate: the DNS crates that do TSIG bring
//! their own message types, and this is a few hundred lines over `ring`'s HMAC. The
//! MAC covers, per RFC 8945 §4.3:
//!
//! - a request: the message (its original ID, ARCOUNT without the TSIG) and the TSIG
//!   variables (key name, class ANY, TTL 0, algorithm, time signed, fudge, error,
//!   other data);
//! - the first response: the request's MAC (length first), then the same;
//! - each later message of a TCP response: the previous MAC (length first), the
//!   message and the timers only (time signed, fudge).

use crate::message::read_name;
use crate::ProtoError;
use blason_zone::fault::{Blame, Fault};
use blason_zone::{Name, Rtype};
use ring::hmac;
use std::fmt;

/// The TSIG RR type.
pub const TSIG: Rtype = Rtype(250);
const CLASS_ANY: u16 = 255;
/// RCODE of a TSIG failure in the header (RFC 8945 §5.3.2).
pub const NOTAUTH: u16 = 9;
/// TSIG error codes.
pub const BADSIG: u16 = 16;
pub const BADKEY: u16 = 17;
pub const BADTIME: u16 = 18;
/// The fudge blason signs with and accepts: RFC 8945 recommends 300 s.
pub const FUDGE: u16 = 300;

/// The MAC algorithms blason speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::HmacSha256,
        Algorithm::HmacSha384,
        Algorithm::HmacSha512,
        Algorithm::HmacSha1,
    ];

    /// `hmac-sha256` and so on, as BIND, Knot and NSD write them.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha1 => "hmac-sha1",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::HmacSha384 => "hmac-sha384",
            Algorithm::HmacSha512 => "hmac-sha512",
        }
    }

    pub fn parse(text: &str) -> Option<Algorithm> {
        let t = text.trim_end_matches('.').to_ascii_lowercase();
        Algorithm::ALL.into_iter().find(|a| a.name() == t)
    }

    fn wire(self) -> Vec<u8> {
        let mut w = Vec::new();
        for l in self.name().split('.') {
            w.push(l.len() as u8);
            w.extend_from_slice(l.as_bytes());
        }
        w.push(0);
        w
    }

    fn ring(self) -> hmac::Algorithm {
        match self {
            Algorithm::HmacSha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Algorithm::HmacSha256 => hmac::HMAC_SHA256,
            Algorithm::HmacSha384 => hmac::HMAC_SHA384,
            Algorithm::HmacSha512 => hmac::HMAC_SHA512,
        }
    }

    /// The length of a full MAC, in octets.
    pub fn mac_len(self) -> usize {
        match self {
            Algorithm::HmacSha1 => 20,
            Algorithm::HmacSha256 => 32,
            Algorithm::HmacSha384 => 48,
            Algorithm::HmacSha512 => 64,
        }
    }
}

/// A shared key: its name (the TSIG owner), algorithm and secret.
#[derive(Clone)]
pub struct Key {
    pub name: Name,
    pub algorithm: Algorithm,
    key: hmac::Key,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret.
        write!(f, "Key({} {})", self.name, self.algorithm.name())
    }
}

impl Key {
    pub fn new(name: Name, algorithm: Algorithm, secret: &[u8]) -> Key {
        Key {
            name,
            algorithm,
            key: hmac::Key::new(algorithm.ring(), secret),
        }
    }

    /// A new key with a random secret as long as the algorithm's output (as
    /// `tsig-keygen` makes them); returns it with the secret in base64.
    pub fn generate(name: Name, algorithm: Algorithm) -> Result<(Key, String), String> {
        use ring::rand::SecureRandom;
        let mut secret = vec![0u8; algorithm.mac_len()];
        ring::rand::SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| "no randomness from the system".to_string())?;
        let mut b64 = String::new();
        blason_zone::encoding::base64_encode(&secret, &mut b64);
        Ok((Key::new(name, algorithm, &secret), b64))
    }

    /// A key from its base64 secret, as `tsig-keygen` and `keymgr` print it.
    pub fn from_base64(name: Name, algorithm: Algorithm, secret: &str) -> Result<Key, String> {
        let mut raw = Vec::new();
        blason_zone::encoding::base64_decode(secret.trim().as_bytes(), &mut raw)
            .map_err(|e| format!("the secret is not base64: {e}"))?;
        if raw.is_empty() {
            return Err("the secret is empty".into());
        }
        Ok(Key::new(name, algorithm, &raw))
    }
}

/// Where a message sits in an exchange, which decides what its MAC covers.
#[derive(Clone, Copy, Debug)]
pub enum Position<'a> {
    Request,
    /// The first (or only) message of a response to a request with this MAC.
    Response(&'a [u8]),
    /// A later message of a TCP response; the MAC of the message before it.
    Subsequent(&'a [u8]),
}

/// Why a message's TSIG was not accepted. `Bad*` are answered with NOTAUTH and the
/// TSIG error (RFC 8945 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TsigError {
    /// A TSIG was required and the message has none.
    Missing,
    /// The TSIG record is not well formed.
    Malformed(&'static str),
    /// A key this server does not have (or another algorithm).
    BadKey(Name),
    BadSig,
    /// Signed too far from now: the time the peer signed at.
    BadTime(u64),
}

impl fmt::Display for TsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TsigError::Missing => f.write_str("no TSIG where one is required"),
            TsigError::Malformed(w) => write!(f, "malformed TSIG: {w}"),
            TsigError::BadKey(k) => write!(f, "unknown TSIG key {k}"),
            TsigError::BadSig => f.write_str("TSIG signature does not verify"),
            TsigError::BadTime(t) => write!(f, "TSIG signed at {t}, too far from now"),
        }
    }
}

impl std::error::Error for TsigError {}

impl Blame for TsigError {
    fn fault(&self) -> Fault {
        Fault::Peer
    }
}

impl TsigError {
    /// The TSIG error code to answer with (0: none; answer as for a malformed message).
    pub fn code(&self) -> u16 {
        match self {
            TsigError::BadKey(_) => BADKEY,
            TsigError::BadSig => BADSIG,
            TsigError::BadTime(_) => BADTIME,
            TsigError::Missing | TsigError::Malformed(_) => 0,
        }
    }
}

/// A TSIG record's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tsig {
    pub key: Name,
    pub algorithm: Name,
    pub time: u64,
    pub fudge: u16,
    pub mac: Vec<u8>,
    pub original_id: u16,
    pub error: u16,
    pub other: Vec<u8>,
}

impl Tsig {
    /// Reads the TSIG record's rdata.
    pub fn parse(key: Name, rdata: &[u8]) -> Result<Tsig, ProtoError> {
        let bad = ProtoError::Malformed("TSIG rdata");
        let (algorithm, mut p) = read_name(rdata, 0)?;
        let u16_at = |p: usize| -> Result<u16, ProtoError> {
            rdata
                .get(p..p + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or(ProtoError::Malformed("TSIG rdata cut short"))
        };
        let t = rdata.get(p..p + 6).ok_or(bad)?;
        let time = t.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
        let fudge = u16_at(p + 6)?;
        let mac_len = usize::from(u16_at(p + 8)?);
        p += 10;
        let mac = rdata
            .get(p..p + mac_len)
            .ok_or(ProtoError::Malformed("TSIG MAC cut short"))?
            .to_vec();
        p += mac_len;
        let original_id = u16_at(p)?;
        let error = u16_at(p + 2)?;
        let other_len = usize::from(u16_at(p + 4)?);
        let other = rdata
            .get(p + 6..p + 6 + other_len)
            .ok_or(ProtoError::Malformed("TSIG other data cut short"))?
            .to_vec();
        if p + 6 + other_len != rdata.len() {
            return Err(ProtoError::Malformed("bytes after the TSIG other data"));
        }
        Ok(Tsig {
            key,
            algorithm,
            time,
            fudge,
            mac,
            original_id,
            error,
            other,
        })
    }

    fn rdata(&self) -> Vec<u8> {
        let mut v = self.algorithm.as_wire().to_ascii_lowercase();
        v.extend_from_slice(&self.time.to_be_bytes()[2..]);
        v.extend_from_slice(&self.fudge.to_be_bytes());
        v.extend_from_slice(&(self.mac.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.mac);
        v.extend_from_slice(&self.original_id.to_be_bytes());
        v.extend_from_slice(&self.error.to_be_bytes());
        v.extend_from_slice(&(self.other.len() as u16).to_be_bytes());
        v.extend_from_slice(&self.other);
        v
    }

    /// What the MAC covers after the message: the TSIG variables, or the timers only.
    fn variables(&self, pos: Position<'_>, out: &mut Vec<u8>) {
        if !matches!(pos, Position::Subsequent(_)) {
            out.extend_from_slice(&self.key.as_wire().to_ascii_lowercase());
            out.extend_from_slice(&CLASS_ANY.to_be_bytes());
            out.extend_from_slice(&0u32.to_be_bytes());
            out.extend_from_slice(&self.algorithm.as_wire().to_ascii_lowercase());
        }
        out.extend_from_slice(&self.time.to_be_bytes()[2..]);
        out.extend_from_slice(&self.fudge.to_be_bytes());
        if !matches!(pos, Position::Subsequent(_)) {
            out.extend_from_slice(&self.error.to_be_bytes());
            out.extend_from_slice(&(self.other.len() as u16).to_be_bytes());
            out.extend_from_slice(&self.other);
        }
    }
}

/// What the MAC covers for `msg` (without its TSIG, ID as original) at `pos`.
fn mac_input(msg: &[u8], t: &Tsig, pos: Position<'_>) -> Vec<u8> {
    let mut v = Vec::with_capacity(msg.len() + 160);
    match pos {
        Position::Request => {}
        Position::Response(prior) | Position::Subsequent(prior) => {
            v.extend_from_slice(&(prior.len() as u16).to_be_bytes());
            v.extend_from_slice(prior);
        }
    }
    v.extend_from_slice(msg);
    t.variables(pos, &mut v);
    v
}

/// Signs `msg` (a whole message without TSIG) at `pos`, appending the TSIG record
/// and counting it in ARCOUNT; returns the MAC (the next message's prior MAC).
/// `error` is 0 but in answers to a request that failed verification (BADTIME
/// carries the server's time in `other`).
pub fn sign(msg: &mut Vec<u8>, key: &Key, now: u64, pos: Position<'_>, error: u16) -> Vec<u8> {
    let mut t = Tsig {
        key: key.name.clone(),
        algorithm: Name::from_wire(&key.algorithm.wire()).expect("a fixed name"),
        time: now,
        fudge: FUDGE,
        mac: Vec::new(),
        original_id: msg.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]])),
        error,
        other: if error == BADTIME {
            now.to_be_bytes()[2..].to_vec()
        } else {
            Vec::new()
        },
    };
    t.mac = hmac::sign(&key.key, &mac_input(msg, &t, pos))
        .as_ref()
        .to_vec();
    append(msg, &t);
    t.mac
}

/// Appends a TSIG with no MAC carrying `error` (the answer to an unknown key or a
/// bad signature, which cannot be signed).
pub fn append_unsigned(msg: &mut Vec<u8>, key: &Key, now: u64, error: u16) {
    let t = Tsig {
        key: key.name.clone(),
        algorithm: Name::from_wire(&key.algorithm.wire()).expect("a fixed name"),
        time: now,
        fudge: FUDGE,
        mac: Vec::new(),
        original_id: msg.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]])),
        error,
        other: Vec::new(),
    };
    append(msg, &t);
}

/// Appends `t` as the message's last record and counts it in ARCOUNT.
fn append(msg: &mut Vec<u8>, t: &Tsig) {
    if msg.len() >= 12 {
        let ar = u16::from_be_bytes([msg[10], msg[11]]).wrapping_add(1);
        msg[10..12].copy_from_slice(&ar.to_be_bytes());
    }
    msg.extend_from_slice(&t.key.as_wire().to_ascii_lowercase());
    msg.extend_from_slice(&TSIG.0.to_be_bytes());
    msg.extend_from_slice(&CLASS_ANY.to_be_bytes());
    msg.extend_from_slice(&0u32.to_be_bytes());
    let rd = t.rdata();
    msg.extend_from_slice(&(rd.len() as u16).to_be_bytes());
    msg.extend_from_slice(&rd);
}

/// The message's TSIG, if it has one, and the message as its MAC covers it (TSIG
/// removed, ARCOUNT one less, the original ID back).
pub fn split(msg: &[u8]) -> Result<Option<(Tsig, Vec<u8>)>, ProtoError> {
    let m = crate::Message::parse(msg)?;
    let Some(at) = m.tsig_at else {
        return Ok(None);
    };
    let rec = m
        .additional
        .last()
        .ok_or(ProtoError::Malformed("TSIG position without a record"))?;
    if rec.class != CLASS_ANY || rec.ttl != 0 {
        return Err(ProtoError::Malformed("TSIG class or TTL"));
    }
    let t = Tsig::parse(rec.owner.clone(), &rec.rdata)?;
    let mut body = msg[..at].to_vec();
    body[..2].copy_from_slice(&t.original_id.to_be_bytes());
    let ar = u16::from_be_bytes([body[10], body[11]]).saturating_sub(1);
    body[10..12].copy_from_slice(&ar.to_be_bytes());
    Ok(Some((t, body)))
}

/// Checks `msg`'s TSIG at `pos` with the key `find` gives for its name and
/// algorithm, and the time against `now` (± the fudge). Returns the key's name and
/// the MAC (the prior MAC for what follows). A message without TSIG is
/// `TsigError::Missing`.
pub fn verify<'k>(
    msg: &[u8],
    find: &dyn Fn(&Name) -> Option<&'k Key>,
    now: u64,
    pos: Position<'_>,
) -> Result<(&'k Key, Vec<u8>), TsigError> {
    let (t, body) = split(msg)
        .map_err(|_| TsigError::Malformed("unreadable"))?
        .ok_or(TsigError::Missing)?;
    let key = find(&t.key)
        .filter(|k| Algorithm::parse(&t.algorithm.to_string()) == Some(k.algorithm))
        .ok_or_else(|| TsigError::BadKey(t.key.clone()))?;
    // Truncated MACs (RFC 8945 §5.2.2.1) are not accepted: full length only.
    if t.mac.len() != key.algorithm.mac_len() {
        return Err(TsigError::BadSig);
    }
    // ring compares in constant time.
    if hmac::verify(&key.key, &mac_input(&body, &t, pos), &t.mac).is_err() {
        return Err(TsigError::BadSig);
    }
    if now.abs_diff(t.time) > u64::from(t.fudge) {
        return Err(TsigError::BadTime(t.time));
    }
    Ok((key, t.mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageBuilder;

    fn key(alg: Algorithm) -> Key {
        Key::new(Name::parse("k1.", None).unwrap(), alg, b"0123456789abcdef")
    }

    #[test]
    fn a_signed_exchange_verifies_and_tampering_does_not() {
        for alg in Algorithm::ALL {
            let k = key(alg);
            let find = |n: &Name| (*n == k.name).then_some(&k);
            let zone = Name::parse("example.test.", None).unwrap();
            let mut q = MessageBuilder::query(7, &zone, Rtype(252), false, None);
            let qmac = sign(&mut q, &k, 1_000_000, Position::Request, 0);
            let (_, m) = verify(&q, &find, 1_000_100, Position::Request).unwrap();
            assert_eq!(m, qmac);
            // The response chain: first, then subsequent.
            let mut r1 = MessageBuilder::query(7, &zone, Rtype(6), false, None);
            r1[2] |= 0x84;
            let m1 = sign(&mut r1, &k, 1_000_001, Position::Response(&qmac), 0);
            let (_, v1) = verify(&r1, &find, 1_000_001, Position::Response(&qmac)).unwrap();
            assert_eq!(v1, m1);
            let mut r2 = r1[..r1.len()].to_vec();
            let (_, body) = split(&r2).unwrap().unwrap();
            r2 = body;
            let m2 = sign(&mut r2, &k, 1_000_002, Position::Subsequent(&m1), 0);
            assert!(verify(&r2, &find, 1_000_002, Position::Subsequent(&m1)).is_ok());
            assert!(verify(&r2, &find, 1_000_002, Position::Subsequent(&m2)).is_err());
            // A flipped bit, a stale clock, an unknown key.
            let mut bad = q.clone();
            bad[3] ^= 1;
            assert_eq!(
                verify(&bad, &find, 1_000_000, Position::Request).unwrap_err(),
                TsigError::BadSig
            );
            assert!(matches!(
                verify(&q, &find, 1_000_000 + 301, Position::Request),
                Err(TsigError::BadTime(1_000_000))
            ));
            let none = |_: &Name| None;
            assert!(matches!(
                verify(&q, &none, 1_000_000, Position::Request),
                Err(TsigError::BadKey(_))
            ));
        }
    }

    #[test]
    fn algorithms_read_as_peers_write_them() {
        assert_eq!(
            Algorithm::parse("hmac-sha256."),
            Some(Algorithm::HmacSha256)
        );
        assert_eq!(Algorithm::parse("HMAC-SHA512"), Some(Algorithm::HmacSha512));
        assert_eq!(Algorithm::parse("hmac-md5.sig-alg.reg.int"), None);
    }
}
