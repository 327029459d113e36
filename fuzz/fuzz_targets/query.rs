//! Arbitrary bytes as a query, over the bundled example zone. Asserts that `respond`
//! never panics, that a reply keeps the query's ID, and that a UDP reply fits what the
//! query allows: 512 bytes without EDNS, else the advertised size (at least 512).
//! Then the query takes the server's path with its EDNS options: the COOKIE is
//! checked and a cookie sent back, the rate limit classifies the reply, and BADCOOKIE
//! and the truncated slip answer are made from it.
#![no_main]

use blason_answer::{inspect, respond, respond_to, Catalog, Extras, Incoming, Options, Transport};
use blason_server::{cookie, rrl};
use blason_zone::{load, Name};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const ZONE: &str = include_str!("../../crates/blason/src/example.test.zone");

fn catalog() -> &'static Catalog {
    static CAT: OnceLock<Catalog> = OnceLock::new();
    CAT.get_or_init(|| {
        let origin = Name::parse("example.test.", None).expect("origin");
        let loaded = load::load_bytes(&origin, ZONE.as_bytes(), "example.test.zone");
        assert!(!loaded.has_errors(), "example zone has errors");
        let opts = Options {
            version: Some("fuzz".into()),
            identity: Some("fuzz".into()),
            minimal_any: true,
        };
        Catalog::new(vec![Arc::new(loaded.zone)], opts)
    })
}

/// Skips a possibly compressed name; None if it runs off the end.
fn skip_name(p: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *p.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return (at + 2 <= p.len()).then_some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + l as usize,
            _ => return None,
        }
    }
    None
}

/// The UDP size this query allows, or None if the packet is too broken to tell (then
/// only the absolute limits are checked).
fn udp_limit(q: &[u8]) -> Option<usize> {
    if q.len() < 12 {
        return None;
    }
    let count = |i: usize| u16::from_be_bytes([q[i], q[i + 1]]) as usize;
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(q, at)? + 4;
    }
    for i in 0..an + ns + ar {
        at = skip_name(q, at)?;
        let fixed = q.get(at..at + 10)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]) as usize;
        let rdlen = u16::from_be_bytes([fixed[8], fixed[9]]) as usize;
        if rtype == 41 && i >= an + ns {
            return Some(class.max(512));
        }
        at += 10 + rdlen;
        if at > q.len() {
            return None;
        }
    }
    Some(512)
}

fn secrets() -> &'static cookie::Secrets {
    static S: OnceLock<cookie::Secrets> = OnceLock::new();
    S.get_or_init(|| cookie::Secrets::new(vec![[7; 16]]))
}

/// The server's path: the cookie checked, the answer made with it, the reply
/// classified for the rate limit, and the limited forms of the answer.
fn server_path(cat: &Catalog, data: &[u8]) {
    let seen = inspect(data);
    let Incoming::Query(q) = &seen else { return };
    let mut reply = [0u8; 40];
    let wild = std::cell::Cell::new(None);
    let mut x = Extras { cookie: None, udp_cap: Some(512), wildcard: Some(&wild) };
    if let Some((at, len)) = q.cookie {
        let c = data.get(at..at + len).expect("the cookie lies in the query");
        let keys = secrets().at(1_700_000_000);
        let client = std::net::IpAddr::from([192, 0, 2, 1]);
        let (_, n) = cookie::check(c, client, 1_700_000_000, &keys, &mut reply);
        assert!(n == 24, "a cookie reply is client 8 + server 16 bytes");
        x.cookie = Some(&reply[..n]);
    }
    let mut out = Vec::new();
    if respond_to(cat, data, &seen, Transport::Udp, &x, &mut out) {
        assert!(out.len() <= 512, "capped UDP reply {} > 512", out.len());
        let _ = rrl::classify(data, q, &out, wild.get(), 1);
        rrl::slip_response(data, q, &mut out);
        assert!(out.len() <= data.len(), "the slip answer is no bigger than the query");
        blason_answer::bad_cookie(data, q, &x, &mut out);
        assert!(out.len() <= 512);
    }
}

fuzz_target!(|data: &[u8]| {
    let cat = catalog();
    server_path(cat, data);
    let mut out = Vec::new();
    for transport in [Transport::Udp, Transport::Tcp] {
        if !respond(cat, data, transport, &mut out) {
            continue;
        }
        assert!(out.len() >= 12, "reply shorter than a header");
        assert!(out.len() <= 65535, "reply longer than any message");
        assert_eq!(out[..2], data[..2], "reply ID differs from the query's");
        assert!(out[2] & 0x80 != 0, "reply without QR");
        if transport == Transport::Udp {
            if let Some(limit) = udp_limit(data) {
                assert!(out.len() <= limit, "UDP reply {} > allowed {limit}", out.len());
            }
        }
    }
});
