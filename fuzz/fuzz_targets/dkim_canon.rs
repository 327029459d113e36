//! DKIM canonicalization and signing on arbitrary messages: relaxed header and
//! body canonicalization and a whole signature never panic; the relaxed body is
//! a fixed point (canonicalizing it again changes nothing), ends in CRLF unless
//! empty, and equals RFC 6376 §3.4.4 written the plain way (a line at a time);
//! CRLF restoring equals a byte-at-a-time reference.
#![no_main]

use blason_mail::dkim_sign::{relaxed_body, relaxed_header, Signer, SigningKey};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let g = blason_mail::dkim::generate(blason_mail::dkim::Algorithm::Ed25519).expect("a key");
        let k = SigningKey::from_pem(g.private_pem.as_bytes()).expect("reads");
        Signer::new("example.com", "fuzz", k).expect("a signer")
    })
}

/// Bare LF made CRLF, a byte at a time.
fn crlf_ref(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut prev = 0u8;
    for &b in m {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

/// RFC 6376 §3.4.4 a line at a time: whitespace runs one space, none at line
/// ends, empty lines at the end dropped, CRLF after every line.
fn relaxed_ref(body: &[u8]) -> Vec<u8> {
    let body = crlf_ref(body);
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut rest: &[u8] = &body;
    while !rest.is_empty() {
        let (line, next) = match rest.windows(2).position(|w| w == b"\r\n") {
            Some(p) => (&rest[..p], &rest[p + 2..]),
            None => (rest, &[][..]),
        };
        let mut l = Vec::new();
        let mut space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                space = true;
            } else {
                if space {
                    l.push(b' ');
                }
                space = false;
                l.push(b);
            }
        }
        lines.push(l);
        rest = next;
    }
    while lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&l);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(blason_mail::message::crlf(data), crlf_ref(data));
    let b = relaxed_body(data);
    assert_eq!(b, relaxed_ref(data), "relaxed body as RFC 6376 §3.4.4 has it");
    assert_eq!(relaxed_body(&b), b, "relaxed body is a fixed point");
    assert!(b.is_empty() || b.ends_with(b"\r\n"));
    let _ = relaxed_header("X-Test", data);
    let _ = signer().sign(data, 1_700_000_000);
});
