//! Arbitrary bytes as DMARC, BIMI, MTA-STS and TLS-RPT records and as an MTA-STS
//! policy: parse and lint never panic, and the DNS-side checks survive any record.
#![no_main]

use blason_mail::dns::MapLookup;
use blason_mail::{bimi, dmarc, mtasts, tlsrpt};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = dmarc::lint_record(data);
    let (r, _) = dmarc::parse(data);
    let _ = dmarc::external_destinations("example.com", &r);
    let _ = bimi::lint_record(data);
    let _ = mtasts::lint_record(data);
    let _ = mtasts::parse_policy(data);
    let _ = tlsrpt::lint_record(data);
    let mut m = MapLookup::new();
    m.add("_dmarc.example.com", 16, blason_mail::txt::rdata(data));
    m.add("default._bimi.example.com", 16, blason_mail::txt::rdata(data));
    let _ = dmarc::check_domain("example.com", &m);
    let _ = bimi::check_domain("example.com", "default", &m);
    let _ = mtasts::check_domain("example.com", Some(data), &m);
});
