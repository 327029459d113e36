//! Arbitrary bytes as an SPF record: parse, lint and the include walk never panic, and
//! a record that parses cleanly prints back to one that parses to the same terms.
#![no_main]

use blason_mail::dns::MapLookup;
use blason_mail::spf;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dns() -> &'static MapLookup {
    static M: OnceLock<MapLookup> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = MapLookup::new();
        m.add_txt("a.example", "v=spf1 include:b.example -all");
        m.add_txt("b.example", "v=spf1 include:a.example mx a ptr -all");
        m.add_txt("c.example", "v=spf1 redirect=c.example");
        m.add_mx("a.example", 10, "mx.a.example");
        m
    })
}

fuzz_target!(|data: &[u8]| {
    let (rec, findings) = spf::parse(data);
    let _ = spf::lint_record(data);
    let _ = spf::lint_strings(&[data]);
    let _ = spf::check_record(data, "a.example", dns());
    if findings.is_empty() {
        let text = rec.to_string();
        let (again, f2) = spf::parse(text.as_bytes());
        assert!(f2.is_empty(), "printed record does not parse: {text}");
        assert_eq!(again, rec, "round trip changed {text}");
    }
});
