//! DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018: version
//! 1, three reserved bytes, a timestamp, and SipHash-2-4 over the client cookie,
//! those eight bytes and the client's address, keyed by a 16-byte secret. Servers
//! behind one anycast address that share the secret accept each other's cookies
//! (BIND and Knot make theirs the same way).
//!
//! SipHash-2-4 is written here: the standard library's `SipHasher` is deprecated,
//! and 40 lines checked against the reference vectors beat a dependency.
#![forbid(unsafe_code)]

use std::net::IpAddr;

/// A server cookie older than this is not accepted (RFC 9018 §4.3).
const MAX_AGE: u32 = 3600;
/// Nor one this far in the future (clock skew between servers).
const MAX_AHEAD: u32 = 300;
/// One older than this is replaced by a fresh one in the answer.
const RENEW_AGE: u32 = 1800;
/// An automatic secret lasts this long; the one before stays accepted as long.
const ROTATE: u64 = 86_400;

/// SipHash-2-4 (Aumasson and Bernstein) of `msg` under `key`.
pub fn siphash24(key: &[u8; 16], msg: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut blocks = msg.chunks_exact(8);
    for b in &mut blocks {
        let m = u64::from_le_bytes(b.try_into().expect("8 bytes"));
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = blocks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = msg.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The secrets cookies are made and checked with.
#[derive(Clone)]
pub struct Secrets {
    /// From the config: the first makes cookies, all are accepted (a rotation
    /// across servers: add the new one second everywhere, then move it first).
    configured: Vec<[u8; 16]>,
    /// Else secrets are drawn from this one, a new one each day.
    master: [u8; 16],
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets themselves.
        write!(f, "Secrets({} configured)", self.configured.len())
    }
}

impl Secrets {
    /// Configured secrets, or (none given) a random one that rotates each day.
    pub fn new(configured: Vec<[u8; 16]>) -> Secrets {
        let mut master = [0u8; 16];
        use ring::rand::SecureRandom;
        // Without randomness the secret would be guessable: better a fixed failure.
        ring::rand::SystemRandom::new()
            .fill(&mut master)
            .expect("the system's random source");
        Secrets { configured, master }
    }

    /// Reads a secret as 32 hex digits (BIND's `cookie-secret` form).
    pub fn parse(hex: &str) -> Result<[u8; 16], String> {
        let h = hex.trim();
        if h.len() != 32 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("a cookie secret is 32 hex digits (16 bytes)".into());
        }
        let mut s = [0u8; 16];
        for (i, b) in s.iter_mut().enumerate() {
            *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
        }
        Ok(s)
    }

    /// The secret that makes cookies at `now`, and the others still accepted.
    pub fn at(&self, now: u64) -> Keys {
        if let Some((first, rest)) = self.configured.split_first() {
            let mut k = Keys {
                current: *first,
                others: [[0; 16]; 3],
                n_others: 0,
            };
            for s in rest.iter().take(3) {
                k.others[k.n_others] = *s;
                k.n_others += 1;
            }
            return k;
        }
        let day = now / ROTATE;
        Keys {
            current: self.derive(day),
            others: [self.derive(day.wrapping_sub(1)), [0; 16], [0; 16]],
            n_others: 1,
        }
    }

    fn derive(&self, day: u64) -> [u8; 16] {
        let a = siphash24(&self.master, &[&day.to_le_bytes()[..], b"a"].concat());
        let b = siphash24(&self.master, &[&day.to_le_bytes()[..], b"b"].concat());
        let mut s = [0u8; 16];
        s[..8].copy_from_slice(&a.to_le_bytes());
        s[8..].copy_from_slice(&b.to_le_bytes());
        s
    }
}

/// The secrets in force at one moment; a UDP worker keeps these for a batch.
#[derive(Clone, Copy)]
pub struct Keys {
    current: [u8; 16],
    others: [[u8; 16]; 3],
    n_others: usize,
}

/// What a query's COOKIE option says of its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A client cookie only: the client has not heard from us yet.
    ClientOnly,
    /// A server cookie we made for this client, recently: its address is proven.
    Valid,
    /// A server cookie we did not make for this client, or too old.
    Invalid,
}

/// Checks the COOKIE option `data` (client cookie, then server cookie) from
/// `client` at `now`, and writes into `reply` the option to send back: the client
/// cookie and a server cookie (the one received when it is valid and recent).
/// Returns the verdict and the reply's length (24).
pub fn check(
    data: &[u8],
    client: IpAddr,
    now: u64,
    keys: &Keys,
    reply: &mut [u8; 40],
) -> (Verdict, usize) {
    let now32 = now as u32;
    let client_cookie: [u8; 8] = data[..8]
        .try_into()
        .expect("8 bytes, checked by the parser");
    let verdict = if data.len() == 8 {
        Verdict::ClientOnly
    } else if data.len() == 24 && data[8] == 1 && data[9..12] == [0, 0, 0] {
        let ts = u32::from_be_bytes(data[12..16].try_into().expect("4 bytes"));
        let age = now32.wrapping_sub(ts);
        let fresh = (age as i32) >= 0 && age <= MAX_AGE || ts.wrapping_sub(now32) <= MAX_AHEAD;
        let hash = &data[16..24];
        let ok = fresh
            && std::iter::once(&keys.current)
                .chain(&keys.others[..keys.n_others])
                .any(|k| hash == server_hash(k, &client_cookie, ts, client));
        if ok {
            if (age as i32) < RENEW_AGE as i32 {
                reply[..24].copy_from_slice(&data[..24]);
                return (Verdict::Valid, 24);
            }
            Verdict::Valid
        } else {
            Verdict::Invalid
        }
    } else {
        Verdict::Invalid
    };
    reply[..8].copy_from_slice(&client_cookie);
    reply[8..24].copy_from_slice(&make(&keys.current, &client_cookie, now32, client));
    (verdict, 24)
}

/// A version 1 server cookie for `client_cookie` from `client` at `ts`.
pub fn make(secret: &[u8; 16], client_cookie: &[u8; 8], ts: u32, client: IpAddr) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[0] = 1;
    c[4..8].copy_from_slice(&ts.to_be_bytes());
    c[8..].copy_from_slice(&server_hash(secret, client_cookie, ts, client));
    c
}

fn server_hash(secret: &[u8; 16], client_cookie: &[u8; 8], ts: u32, client: IpAddr) -> [u8; 8] {
    let mut m = [0u8; 32];
    m[..8].copy_from_slice(client_cookie);
    m[8] = 1;
    m[12..16].copy_from_slice(&ts.to_be_bytes());
    let len = match client.to_canonical() {
        IpAddr::V4(a) => {
            m[16..20].copy_from_slice(&a.octets());
            20
        }
        IpAddr::V6(a) => {
            m[16..32].copy_from_slice(&a.octets());
            32
        }
    };
    siphash24(secret, &m[..len]).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn siphash_matches_the_reference_vectors() {
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash24(&key, &msg), 0xa129_ca61_49be_45e5);
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
    }

    /// RFC 9018 Appendix A.
    #[test]
    fn server_cookies_match_rfc_9018_appendix_a() {
        let first = "e5e973e5a6b2a43f48e7dc849e37bfcf";
        let cases = [
            (
                first,
                "2464c4abcf10c957",
                "198.51.100.100",
                1559731985u32,
                "010000005cf79f111f8130c3eee29480",
            ),
            (
                first,
                "fc93fc62807ddb86",
                "203.0.113.203",
                1559734700,
                "010000005cf7a9acf73a7810aca2381e",
            ),
            // A.4: the secret rolled over.
            (
                "dd3bdf9344b678b185a6f5cb60fca715",
                "22681ab97d52c298",
                "2001:db8:220:1:59de:d0f4:8769:82b8",
                1559741817,
                "010000005cf7c57926556bd0934c72f8",
            ),
        ];
        for (secret, cc, ip, ts, want) in cases {
            let secret: [u8; 16] = hex(secret).try_into().unwrap();
            let cc: [u8; 8] = hex(cc).try_into().unwrap();
            let got = make(&secret, &cc, ts, ip.parse().unwrap());
            assert_eq!(got.to_vec(), hex(want), "{ip}");
        }
    }

    #[test]
    fn a_cookie_is_valid_for_its_client_only_and_for_an_hour() {
        let s = Secrets::new(vec![[7; 16]]);
        let k = s.at(1_000_000);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let mut reply = [0u8; 40];
        let (v, n) = check(&[1; 8], ip, 1_000_000, &k, &mut reply);
        assert_eq!((v, n), (Verdict::ClientOnly, 24));
        let full = reply[..24].to_vec();
        assert_eq!(
            check(&full, ip, 1_000_100, &k, &mut reply).0,
            Verdict::Valid
        );
        // Echoed while fresh.
        assert_eq!(reply[..24], full[..]);
        assert_eq!(
            check(&full, ip, 1_002_000, &k, &mut reply).0,
            Verdict::Valid
        );
        assert_ne!(reply[..24], full[..], "renewed after half an hour");
        assert_eq!(
            check(&full, ip, 1_003_700, &k, &mut reply).0,
            Verdict::Invalid
        );
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        assert_eq!(
            check(&full, other, 1_000_100, &k, &mut reply).0,
            Verdict::Invalid
        );
        // Another secret first, this one still accepted: a rotation.
        let s2 = Secrets::new(vec![[9; 16], [7; 16]]);
        assert_eq!(
            check(&full, ip, 1_000_100, &s2.at(0), &mut reply).0,
            Verdict::Valid
        );
        let s3 = Secrets::new(vec![[9; 16]]);
        assert_eq!(
            check(&full, ip, 1_000_100, &s3.at(0), &mut reply).0,
            Verdict::Invalid
        );
    }

    #[test]
    fn automatic_secrets_accept_yesterdays_cookies() {
        let s = Secrets::new(Vec::new());
        let ip: IpAddr = "::1".parse().unwrap();
        let mut reply = [0u8; 40];
        let t = 10 * ROTATE - 10;
        check(&[3; 8], ip, t, &s.at(t), &mut reply);
        let full = reply[..24].to_vec();
        assert_eq!(
            check(&full, ip, t + 20, &s.at(t + 20), &mut reply).0,
            Verdict::Valid
        );
    }
}
