//! The transfer reader: the records of any DNS messages, taken as a transfer of
//! `x.test.` (whole, and played onto a small zone as an IXFR), give a zone or an
//! error, never a panic.
#![no_main]

use blason_proto::Message;
use blason_server::xfr_in::from_records;
use blason_zone::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let origin = Name::parse("x.test.", None).unwrap();
    let have = blason_zone::load::load_bytes(
        &origin,
        b"$TTL 300\n@ SOA ns h 5 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n",
        "fuzz",
    )
    .zone;
    // The input as one or two messages.
    let mut records = Vec::new();
    let (a, b) = data.split_at(data.len() / 2);
    for part in [data, a, b] {
        if let Ok(m) = Message::parse(part) {
            records.extend(m.answer);
        }
    }
    let _ = from_records(&origin, None, &records);
    let _ = from_records(&origin, Some(&have), &records);
});
