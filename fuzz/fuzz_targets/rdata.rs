//! Arbitrary bytes as the wire rdata of every known type (and one unknown type).
//! Asserts that `walk` and `write_rdata` never panic, and that the printed text of
//! rdata that `walk` accepts reads back (through the zone-file scanner, which tokenizes
//! and calls `parse_rdata`) to the same wire form, apart from the canonicalizations
//! listed in `canonicalized`, and that printing that form gives the same text.
#![no_main]

use blason_zone::rdata::{walk, write_rdata};
use blason_zone::scanner::{self, ReadOptions};
use blason_zone::types::TYPES;
use blason_zone::{Class, Name, Rtype};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn origin() -> &'static Name {
    static O: OnceLock<Name> = OnceLock::new();
    O.get_or_init(|| Name::parse("example.com.", None).expect("origin"))
}

/// Reads `text` as the rdata of `rtype` through the zone-file scanner.
fn reparse(rtype: Rtype, text: &str) -> Result<Vec<u8>, String> {
    let line = format!("@ 0 IN {} {}\n", rtype, text);
    let parsed = scanner::read_bytes(
        origin(),
        Class::IN,
        line.as_bytes(),
        "rdata",
        &ReadOptions::default(),
    );
    if parsed.has_errors() || parsed.records.len() != 1 {
        let msgs: Vec<String> = parsed
            .findings
            .iter()
            .map(|f| format!("{} {}", f.id, f.message))
            .collect();
        return Err(format!(
            "{:?}: {} records; {}",
            line,
            parsed.records.len(),
            msgs.join("; ")
        ));
    }
    Ok(parsed.records.get(0).rdata.to_vec())
}

/// Types whose text form has one canonical wire form for several wire forms: type
/// bitmaps (empty windows, trailing zero octets), WKS port bitmaps (trailing zero
/// octets), APL addresses (trailing zero octets), LOC sizes (a zero mantissa with any
/// exponent reads back as 0x00; "0m" and "0.00m" are the same size).
fn canonicalized(rtype: Rtype) -> bool {
    matches!(rtype.0, 11 | 29 | 30 | 42 | 47 | 50 | 62)
}

fn check(rtype: Rtype, d: &[u8]) {
    let walked = walk(rtype, d, &mut |off, len| {
        assert!(
            off + len <= d.len(),
            "{rtype}: name at {off}+{len} past {}",
            d.len()
        );
    });
    let mut text = String::new();
    write_rdata(&mut text, rtype, d);
    if rtype.is_meta() || (rtype.info().is_some() && walked.is_err()) {
        return;
    }
    let wire = match reparse(rtype, &text) {
        Ok(w) => w,
        Err(e) => panic!(
            "{rtype}: printed text of valid wire {:02x?} does not read back: {e}",
            d
        ),
    };
    if wire != d {
        let mut text2 = String::new();
        write_rdata(&mut text2, rtype, &wire);
        assert!(
            canonicalized(rtype),
            "{rtype}: text {text:?} of {d:02x?} reads back to {wire:02x?}"
        );
        let again = reparse(rtype, &text2).expect("canonical text reads back");
        assert_eq!(again, wire, "{rtype}: canonical form is not stable");
    }
}

fuzz_target!(|data: &[u8]| {
    for t in TYPES {
        check(Rtype(t.code), data);
    }
    check(Rtype(65280), data);
});
