//! Dynamic updates: any message read as an UPDATE of `x.test.` gives its sections or
//! an RCODE; sections that read are checked and played on a small zone, giving
//! edits that apply or an error, never a panic.
#![no_main]

use blason_proto::Message;
use blason_server::update::sections;
use blason_zone::update::{apply, dynamic, resolve};
use blason_zone::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = Message::parse(data) else { return };
    let origin = Name::parse("x.test.", None).unwrap();
    let Ok((prereqs, updates)) = sections(&origin, &m) else {
        return;
    };
    let zone = blason_zone::load::load_bytes(
        &origin,
        b"$TTL 300\n@ SOA ns h 5 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\nwww CNAME ns\n",
        "fuzz",
    )
    .zone;
    let _ = dynamic::check(&zone, &prereqs);
    let edits = dynamic::plan(&zone, &updates);
    if let Ok(cs) = resolve(&zone, &edits) {
        let _ = apply(&zone, &cs);
    }
});
