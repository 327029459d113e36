//! The control socket's request line (and the kept reading of a zone file beside
//! its journal): any bytes give a command or an error, never a panic; a command
//! written back as its line reads back the same.
#![no_main]

use blason_server::control::Command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    if let Ok(c) = Command::parse(line.trim()) {
        assert_eq!(Command::parse(&c.line()).expect("a written line reads"), c);
    }
    let _ = blason_zone::update::codec::decode_zone(data);
});
