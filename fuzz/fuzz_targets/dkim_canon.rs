//! DKIM canonicalization and signing on arbitrary messages: relaxed header and
//! body canonicalization and a whole signature never panic; the relaxed body is
//! a fixed point (canonicalizing it again changes nothing) and ends in CRLF
//! unless empty.
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

fuzz_target!(|data: &[u8]| {
    let b = relaxed_body(data);
    assert_eq!(relaxed_body(&b), b, "relaxed body is a fixed point");
    assert!(b.is_empty() || b.ends_with(b"\r\n"));
    let _ = relaxed_header("X-Test", data);
    let _ = signer().sign(data, 1_700_000_000);
});
