//! Response rate limiting for UDP, in the manner of BIND's and Knot's RRL: each
//! response is counted against a bucket for the client's prefix (/24, /56) and the
//! kind of response — an answer by name and type, a referral by its delegation, an
//! NXDOMAIN by its zone, an error by its RCODE — so a flood of spoofed queries for
//! one large answer is cut to a few responses a second, while the same client's
//! other questions and every other client are untouched. A limited response is
//! dropped, or every `slip`-th one sent truncated (a real resolver retries over TCP,
//! which cannot be spoofed).
//!
//! The table is shared by all UDP workers without locks: one `AtomicU64` per
//! bucket, updated by compare-and-swap. A bucket holds a tag of its key, the second
//! it was last touched, and a balance: `rate` credits a second, up to `rate`, and
//! down to a debt of `window` seconds' worth, so a flood stays limited for `window`
//! seconds after it stops (BIND's rule). Two keys that share a slot take it from
//! each other (the newer wins), which errs on the side of answering.
#![forbid(unsafe_code)]

use blason_answer::Query;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

/// The settings, from `[rate-limit]`.
#[derive(Clone, Debug)]
pub struct RrlConfig {
    /// Responses per second per bucket.
    pub rate: u32,
    /// Seconds over which a flood is remembered.
    pub window: u32,
    /// Every slip-th limited response goes out truncated; 0: none, all dropped.
    pub slip: u32,
    /// Clients never limited.
    pub exempt: Vec<(IpAddr, u8)>,
    /// Count and log what would be limited, but answer everything.
    pub log_only: bool,
    /// Buckets in the table (rounded up to a power of two).
    pub table_size: usize,
    pub ipv4_prefix: u8,
    pub ipv6_prefix: u8,
}

impl Default for RrlConfig {
    fn default() -> RrlConfig {
        RrlConfig {
            rate: 20,
            window: 15,
            slip: 2,
            // Loopback cannot be spoofed from outside the host.
            exempt: vec![
                ("127.0.0.0".parse().expect("address"), 8),
                ("::1".parse().expect("address"), 128),
            ],
            log_only: false,
            table_size: 1 << 16,
            ipv4_prefix: 24,
            ipv6_prefix: 56,
        }
    }
}

/// What to do with a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Send,
    Drop,
    /// Send a small truncated answer instead.
    Slip,
    /// Send it, but it would have been limited (log-only mode).
    Logged,
}

const TAG_SHIFT: u32 = 42;
const TIME_SHIFT: u32 = 26;
const LOGGED: u64 = 1 << 25;
const BAL_BITS: u32 = 25;
const BAL_MASK: u64 = (1 << BAL_BITS) - 1;
const MAX_DEBT: i64 = (1 << (BAL_BITS - 1)) - 1;

pub struct Rrl {
    cfg: RrlConfig,
    table: Box<[AtomicU64]>,
    mask: u64,
    /// Hash key, random per process, so nobody can aim collisions.
    seed: u64,
    /// Log lines this second (second << 32 | count): a flood logs a few lines.
    log_budget: AtomicU64,
}

impl Rrl {
    pub fn new(cfg: RrlConfig) -> Rrl {
        let n = cfg.table_size.clamp(1024, 1 << 24).next_power_of_two();
        let table = (0..n).map(|_| AtomicU64::new(0)).collect();
        let mut seed = [0u8; 8];
        use ring::rand::SecureRandom;
        let _ = ring::rand::SystemRandom::new().fill(&mut seed);
        Rrl {
            cfg,
            table,
            mask: n as u64 - 1,
            seed: u64::from_le_bytes(seed),
            log_budget: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &RrlConfig {
        &self.cfg
    }

    pub fn exempt(&self, client: IpAddr) -> bool {
        self.cfg
            .exempt
            .iter()
            .any(|&(n, l)| crate::xfr::in_prefix(client, n, l))
    }

    /// Counts `resp`, the response to `q` for `client` at `now` (the worker's clock
    /// of its batch, in seconds), and says what to do with it.
    /// `slips` is the worker's own count of limited responses.
    #[allow(clippy::too_many_arguments)]
    pub fn account(
        &self,
        client: IpAddr,
        query: &[u8],
        q: &Query,
        resp: &[u8],
        wildcard: Option<usize>,
        now: u64,
        slips: &mut u32,
    ) -> Action {
        let (class, key) = classify(query, q, resp, wildcard, self.seed);
        let key = mix(key ^ prefix_bits(client, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix));
        let (limited, first) = self.charge(key, now);
        if !limited {
            return Action::Send;
        }
        if first && self.may_log(now) {
            let what = if self.cfg.log_only {
                "rate limit: would limit (log-only)"
            } else {
                "rate limit: limiting responses"
            };
            let (net, len) = client_prefix(client, self.cfg.ipv4_prefix, self.cfg.ipv6_prefix);
            let net = format!("{net}/{len}");
            crate::log::warn(what, &[("client", &net), ("kind", &class)]);
        }
        if self.cfg.log_only {
            return Action::Logged;
        }
        *slips = slips.wrapping_add(1);
        if self.cfg.slip > 0 && (*slips).is_multiple_of(self.cfg.slip) {
            Action::Slip
        } else {
            Action::Drop
        }
    }

    /// Takes one response from the bucket of `key`: (limited, first limited one).
    fn charge(&self, key: u64, now: u64) -> (bool, bool) {
        let slot = &self.table[(key & self.mask) as usize];
        let tag = key >> TAG_SHIFT;
        let rate = i64::from(self.cfg.rate);
        let floor = -(rate * i64::from(self.cfg.window.max(1))).min(MAX_DEBT);
        let t16 = now & 0xFFFF;
        let mut old = slot.load(Ordering::Relaxed);
        loop {
            let (bal, logged) = if old >> TAG_SHIFT == tag && old != 0 {
                let then = (old >> TIME_SHIFT) & 0xFFFF;
                let elapsed = (t16.wrapping_sub(then) & 0xFFFF) as i64;
                let raw = (old & BAL_MASK) as i64;
                let bal = (raw << (64 - BAL_BITS)) >> (64 - BAL_BITS);
                (
                    (bal.saturating_add(elapsed.saturating_mul(rate))).min(rate),
                    old & LOGGED != 0,
                )
            } else {
                (rate, false)
            };
            let bal = (bal - 1).max(floor);
            let limited = bal < 0;
            // The flag is set by the first limited response and cleared once the
            // bucket is in credit again, so each episode logs once.
            let flag = if limited { LOGGED } else { 0 };
            let new = (tag << TAG_SHIFT) | (t16 << TIME_SHIFT) | flag | (bal as u64 & BAL_MASK);
            match slot.compare_exchange_weak(old, new, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (limited, limited && !logged),
                Err(cur) => old = cur,
            }
        }
    }

    fn may_log(&self, now: u64) -> bool {
        let b = self.log_budget.fetch_add(1, Ordering::Relaxed);
        if b >> 32 != now {
            self.log_budget.store((now << 32) | 1, Ordering::Relaxed);
            return true;
        }
        b & 0xFFFF_FFFF < 10
    }
}

/// The client's prefix (its address masked to /`v4` or /`v6`) and that length:
/// what a bucket is keyed by, and what is logged.
fn client_prefix(client: IpAddr, v4: u8, v6: u8) -> (IpAddr, u8) {
    match client.to_canonical() {
        IpAddr::V4(a) => {
            let m = u32::MAX.checked_shl(32 - u32::from(v4)).unwrap_or(0);
            (IpAddr::from(std::net::Ipv4Addr::from(u32::from(a) & m)), v4)
        }
        IpAddr::V6(a) => {
            let m = u128::MAX.checked_shl(128 - u32::from(v6)).unwrap_or(0);
            (
                IpAddr::from(std::net::Ipv6Addr::from(u128::from(a) & m)),
                v6,
            )
        }
    }
}

fn prefix_bits(client: IpAddr, v4: u8, v6: u8) -> u64 {
    match client_prefix(client, v4, v6).0 {
        IpAddr::V4(a) => u64::from(u32::from(a)) | (4 << 60),
        IpAddr::V6(a) => {
            let x = u128::from(a);
            mix((x >> 64) as u64 ^ mix(x as u64)) | (6 << 60)
        }
    }
}

/// A finalizer (splitmix64): spreads every input bit over the result.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The kind of a response, as its bucket key counts it (and as it is logged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Answer,
    NoData,
    Referral,
    NxDomain,
    Error,
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Class::Answer => "answer",
            Class::NoData => "nodata",
            Class::Referral => "referral",
            Class::NxDomain => "nxdomain",
            Class::Error => "error",
        })
    }
}

/// The class of `resp` and a hash of what its bucket is keyed by: an answer or a
/// no-data by question name and type, or, when synthesized from a wildcard, by the
/// wildcard (its closest encloser, the last `wildcard` bytes of the question name);
/// a referral by the delegation's name and an NXDOMAIN by the zone's (the first
/// owner in authority), so random names under one zone share a bucket; an error by
/// its RCODE.
pub fn classify(
    query: &[u8],
    q: &Query,
    resp: &[u8],
    wildcard: Option<usize>,
    seed: u64,
) -> (Class, u64) {
    let Some(h) = resp.get(..12) else {
        return (Class::Error, seed);
    };
    let rcode = h[3] & 0xF;
    let an = u16::from_be_bytes([h[6], h[7]]);
    let ns = u16::from_be_bytes([h[8], h[9]]);
    let aa = h[2] & 0x04 != 0;
    let qname = q.qname(query);
    let by_question = |class: u64| {
        let owner = match wildcard {
            Some(l) if l <= qname.len() => &qname[qname.len() - l..],
            _ => qname,
        };
        let wild = if wildcard.is_some() { 0x10 } else { 0 };
        let mut x = fnv(seed ^ class ^ wild, owner);
        x ^= u64::from(q.qtype) << 40;
        x
    };
    match rcode {
        0 if an > 0 => (Class::Answer, by_question(1)),
        0 if aa || ns == 0 => (Class::NoData, by_question(2)),
        0 => (
            Class::Referral,
            authority_owner(resp, an, seed ^ 3).unwrap_or(seed ^ 3),
        ),
        3 => (
            Class::NxDomain,
            authority_owner(resp, an, seed ^ 4).unwrap_or(seed ^ 4),
        ),
        r => (Class::Error, mix(seed ^ 5 ^ u64::from(r) << 8)),
    }
}

/// FNV-1a of a wire name, lowercased, from `init`.
fn fnv(init: u64, name: &[u8]) -> u64 {
    fnv_more(init ^ 0xcbf2_9ce4_8422_2325, name)
}

#[inline]
fn fnv_more(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b.to_ascii_lowercase());
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The hash (as [`fnv`] from `init`) of the owner of the first authority record:
/// skips the question and `an` answers, and follows compression pointers.
fn authority_owner(m: &[u8], an: u16, init: u64) -> Option<u64> {
    let mut at = skip_name(m, 12)? + 4;
    for _ in 0..an {
        at = skip_name(m, at)?;
        let rdlen = u16::from_be_bytes([*m.get(at + 8)?, *m.get(at + 9)?]) as usize;
        at += 10 + rdlen;
    }
    hash_name_at(m, at, init)
}

fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let l = *m.get(at)?;
        match l & 0xC0 {
            0 if l == 0 => return Some(at + 1),
            0 => at += 1 + l as usize,
            0xC0 => return Some(at + 2),
            _ => return None,
        }
    }
}

/// [`fnv`] of the name at `at`, uncompressed as it is read (no copy).
fn hash_name_at(m: &[u8], mut at: usize, init: u64) -> Option<u64> {
    let mut h = init ^ 0xcbf2_9ce4_8422_2325;
    let mut len = 0;
    for _ in 0..128 {
        let l = *m.get(at)?;
        match l & 0xC0 {
            0 if l == 0 => return Some(fnv_more(h, &[0])),
            0 => {
                h = fnv_more(h, m.get(at..at + 1 + l as usize)?);
                len += 1 + l as usize;
                if len > 255 {
                    return None;
                }
                at += 1 + l as usize;
            }
            0xC0 => at = (usize::from(l & 0x3F) << 8) | usize::from(*m.get(at + 1)?),
            _ => return None,
        }
    }
    None
}

/// The truncated answer sent instead of a limited one: the header and question,
/// TC set, nothing else (smaller than the query).
pub fn slip_response(query: &[u8], q: &Query, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&query[..q.question_end]);
    out[2] = 0x80 | (query[2] & 0x79) | 0x02;
    out[3] = query[3] & 0x10;
    out[4..6].copy_from_slice(&1u16.to_be_bytes());
    out[6..12].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrl(rate: u32, window: u32, slip: u32) -> Rrl {
        Rrl::new(RrlConfig {
            rate,
            window,
            slip,
            exempt: Vec::new(),
            ..RrlConfig::default()
        })
    }

    #[test]
    fn a_bucket_allows_rate_a_second_then_limits_for_the_window() {
        let r = rrl(5, 3, 2);
        let k = 42;
        let got: Vec<bool> = (0..8).map(|_| r.charge(k, 100).0).collect();
        assert_eq!(got, [false, false, false, false, false, true, true, true]);
        // The first limited one says so once.
        let r = rrl(5, 3, 2);
        let firsts: usize = (0..20).filter(|_| r.charge(k, 100).1).count();
        assert_eq!(firsts, 1);
        // Debt is capped at window × rate (15): 20 sent at t=100 leave -15; one
        // second refills 5, so t=101 is still limited, t=104 is not.
        assert!(r.charge(k, 101).0);
        assert!(!r.charge(k, 104).0);
        // Another key is untouched.
        assert!(!r.charge(k + 1, 100).0);
    }

    #[test]
    fn limited_responses_slip_every_nth() {
        let r = rrl(1, 1, 3);
        let q = blason_answer::inspect(&query());
        let blason_answer::Incoming::Query(q) = q else {
            panic!()
        };
        let mut resp = query();
        resp[2] |= 0x84;
        resp[6..8].copy_from_slice(&1u16.to_be_bytes());
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let mut slips = 0;
        let acts: Vec<Action> = (0..7)
            .map(|_| r.account(client, &query(), &q, &resp, None, 100, &mut slips))
            .collect();
        use Action::*;
        assert_eq!(acts, [Send, Drop, Drop, Slip, Drop, Drop, Slip]);
        // The same /24 shares the bucket; another /24 does not.
        let near: IpAddr = "192.0.2.99".parse().unwrap();
        assert_ne!(
            r.account(near, &query(), &q, &resp, None, 100, &mut slips),
            Send
        );
        let far: IpAddr = "192.0.3.7".parse().unwrap();
        assert_eq!(
            r.account(far, &query(), &q, &resp, None, 100, &mut slips),
            Send
        );
        let mut out = Vec::new();
        slip_response(&query(), &q, &mut out);
        assert!(out.len() <= query().len() && out[2] & 0x02 != 0);
    }

    fn query() -> Vec<u8> {
        let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        q.extend_from_slice(b"\x03www\x07example\x00\x00\x01\x00\x01");
        q
    }

    #[test]
    fn answers_from_one_wildcard_share_a_bucket() {
        let q1 = b"\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03aaa\x04wild\x07example\x00\x00\x01\x00\x01".to_vec();
        let mut q2 = q1.clone();
        q2[13..16].copy_from_slice(b"zzz");
        let resp = |q: &[u8]| {
            let mut r = q.to_vec();
            r[2] |= 0x84;
            r[6..8].copy_from_slice(&1u16.to_be_bytes());
            r
        };
        let parse = |q: &[u8]| match blason_answer::inspect(q) {
            blason_answer::Incoming::Query(p) => p,
            _ => panic!("a query"),
        };
        let (p1, p2) = (parse(&q1), parse(&q2));
        // The closest encloser wild.example. is 14 bytes of the question name.
        let k1 = classify(&q1, &p1, &resp(&q1), Some(14), 9).1;
        let k2 = classify(&q2, &p2, &resp(&q2), Some(14), 9).1;
        assert_eq!(k1, k2);
        let n1 = classify(&q1, &p1, &resp(&q1), None, 9).1;
        let n2 = classify(&q2, &p2, &resp(&q2), None, 9).1;
        assert_ne!(n1, n2);
        assert_ne!(n1, k1, "a name and the wildcard above it are apart");
    }

    #[test]
    fn nxdomains_under_one_zone_share_a_bucket() {
        // NXDOMAIN for two names; the authority SOA owner points into the question.
        let mk = |label: &[u8]| {
            let mut m = vec![0, 1, 0x84, 3, 0, 1, 0, 0, 0, 1, 0, 0];
            m.push(label.len() as u8);
            m.extend_from_slice(label);
            m.extend_from_slice(b"\x07example\x00\x00\x01\x00\x01");
            let zone_at = 12 + 1 + label.len();
            m.extend_from_slice(&[0xC0, zone_at as u8]);
            m.extend_from_slice(&[0, 6, 0, 1, 0, 0, 0, 60, 0, 0]);
            m
        };
        let (a, b) = (mk(b"aaa"), mk(b"zzzzz"));
        let pa = authority_owner(&a, 0, 1).unwrap();
        let pb = authority_owner(&b, 0, 1).unwrap();
        assert_eq!(pa, fnv(1, b"\x07example\x00"));
        assert_eq!(pa, pb);
    }
}
