//! Arbitrary bytes as a Verified Mark Certificate: the certificate, logotype and gzip
//! readers never panic, and a file that is no certificate always gets a finding.
#![no_main]

use blason_mail::vmc;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = vmc::check(data, Some(b"<svg/>"));
    assert!(!f.is_empty(), "no finding for a VMC that cannot match <svg/>");
    let _ = vmc::subject_images(data);
    let _ = vmc::gunzip(data, 64 * 1024);
});
