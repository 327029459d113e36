//! Arbitrary bytes as a DKIM key record: parse and lint never panic.
#![no_main]

use blason_mail::{der, dkim};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (rec, _) = dkim::parse(data);
    let _ = dkim::lint_record(data);
    if let Some(r) = rec {
        let _ = dkim::lint_record(r.to_text().as_bytes());
    }
    // The key bytes themselves: the DER walk behind key sizes and TLSA.
    let _ = der::rsa_bits(data);
    let _ = der::cert_spki(data);
    let _ = der::pem_blocks(data);
    let _ = blason_mail::tlsa::read_pem(data);
});
