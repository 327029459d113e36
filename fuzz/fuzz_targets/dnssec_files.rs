//! Arbitrary bytes as the files blason's DNSSEC side reads from disk: a BIND key pair
//! (`.key` and `.private`), the key-state file and a policy table. Parsing never
//! panics; a state file that parses survives writing and reading back unchanged.
#![no_main]

use blason_dnssec::keys::parse_bind;
use blason_dnssec::policy::PolicyConfig;
use blason_dnssec::state::{from_text, to_text};
use blason_zone::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Sections separated by NUL bytes: .key, .private, state, policy.
    let mut parts = text.split('\0');
    let key = parts.next().unwrap_or("");
    let private = parts.next().unwrap_or("");
    let state = parts.next().unwrap_or(&text);
    let policy = parts.next().unwrap_or(&text);
    let origin = Name::parse("example.", None).expect("static name");
    if let Ok(k) = parse_bind(&origin, key, private) {
        let _ = k.dnskey();
    }
    if let Ok((zone, s)) = from_text(state) {
        let again = from_text(&to_text(&zone, &s)).expect("state written by blason reads back");
        assert_eq!(again, (zone, s));
    }
    let _ = PolicyConfig::from_toml(policy);
});
