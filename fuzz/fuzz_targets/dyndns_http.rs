//! The DynDNS2 request reader: any bytes give a request or None, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = blason_server::dyndns::read_head(data);
});
