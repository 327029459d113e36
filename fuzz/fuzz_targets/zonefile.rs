//! Arbitrary bytes as a zone file for `example.com.`. Asserts that reading never
//! panics, and that a zone read without errors prints to text that reads back without
//! errors and prints identically (print/read round trip).
//!
//! Inputs with `$GENERATE` go through the same steps as `load_bytes` (scan, build,
//! check) with a small `$GENERATE` cap, so that a ten-million-record range does not
//! turn into a memory or time-out report; everything else goes through `load_bytes`.
#![no_main]

use blason_zone::scanner::{self, ReadOptions};
use blason_zone::{check, load, print, Class, Name, Zone};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn origin() -> &'static Name {
    static O: OnceLock<Name> = OnceLock::new();
    O.get_or_init(|| Name::parse("example.com.", None).expect("origin"))
}

/// True if `data` contains `$GENERATE` in any case.
fn has_generate(data: &[u8]) -> bool {
    data.windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"$GENERATE"))
}

/// Reads `data`; returns the zone and whether any finding is an error.
fn read(data: &[u8]) -> (Zone, bool) {
    if has_generate(data) {
        let opts = ReadOptions {
            max_generate: 2_000,
            ..ReadOptions::default()
        };
        let mut parsed = scanner::read_bytes(origin(), Class::IN, data, "fuzz.zone", &opts);
        let (zone, info) = Zone::build(origin(), Class::IN, &mut parsed);
        check::check_zone(&zone, &info, &mut parsed);
        let errors = parsed.has_errors();
        (zone, errors)
    } else {
        let loaded = load::load_bytes(origin(), data, "fuzz.zone");
        let errors = loaded.has_errors();
        (loaded.zone, errors)
    }
}

fn print(zone: &Zone) -> Vec<u8> {
    let mut out = Vec::new();
    print::write_zone(zone, &mut out).expect("write to a Vec");
    out
}

fuzz_target!(|data: &[u8]| {
    let (zone, errors) = read(data);
    if errors {
        return;
    }
    let first = print(&zone);
    let again = load::load_bytes(origin(), &first, "printed.zone");
    if again.has_errors() {
        let errs: Vec<String> = again
            .findings
            .iter()
            .filter(|f| f.is_error())
            .map(|f| format!("{:?} {} {}", f.line(), f.id, f.message))
            .collect();
        panic!(
            "printed zone does not read back:\n{}\n--- printed ---\n{}",
            errs.join("\n"),
            String::from_utf8_lossy(&first)
        );
    }
    let second = print(&again.zone);
    if first != second {
        panic!(
            "printing is not stable:\n--- first ---\n{}\n--- second ---\n{}",
            String::from_utf8_lossy(&first),
            String::from_utf8_lossy(&second)
        );
    }
});
