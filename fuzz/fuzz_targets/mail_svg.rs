//! Arbitrary bytes as a BIMI logo: the SVG Tiny PS checks never panic and always say
//! something about input that is not a valid logo.
#![no_main]

use blason_mail::svg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = svg::check(data);
    if !data.windows(4).any(|w| w == b"<svg") {
        assert!(!f.is_empty(), "no finding for input without <svg");
    }
});
