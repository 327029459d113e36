//! Arbitrary bytes as a received message: the message reader, every DKIM
//! signature, ARC, DMARC and the report builders never panic, whatever the
//! headers, folding, 8-bit data or signatures hold.
#![no_main]

use blason_mail::dns::MapLookup;
use blason_mail::verify::{verify, Envelope};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dns() -> &'static MapLookup {
    static M: OnceLock<MapLookup> = OnceLock::new();
    M.get_or_init(|| {
        let mut m = MapLookup::new();
        m.add_txt("example.com", "v=spf1 ip4:192.0.2.0/24 -all");
        m.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s");
        m.add_txt("_dmarc.org", "v=DMARC1; p=none; psd=y");
        m.add_txt(
            "s._domainkey.example.com",
            "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        );
        m.add_txt("r._domainkey.example.com", "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC");
        m.add_txt("x._domainkey.example.com", "v=DKIM1; p=");
        m.add_txt("default._bimi.example.com", "v=BIMI1; l=https://example.com/l.svg");
        m
    })
}

fuzz_target!(|data: &[u8]| {
    let env = Envelope {
        ip: Some("192.0.2.1".parse().unwrap()),
        helo: "mx.example.com".into(),
        mail_from: "a@example.com".into(),
        authserv_id: "rx.example.org".into(),
        now: 1_700_000_000,
    };
    let r = verify(data, &env, dns());
    let _ = r.to_json();
    let _ = r.to_text();
    let m = blason_mail::message::Message::parse(data);
    let _ = m.from_domains();
    for f in &m.fields {
        let _ = blason_mail::authres::authserv_id(&f.value);
        let _ = blason_mail::dkim_verify::without_b(&f.value);
    }
});
