//! The SPF evaluator on arbitrary records: the bytes up to the first NUL are the
//! record of fuzz.example, the rest the sender; check_host never panics and stays
//! within its lookup limits, whatever the macros, includes and redirects.
#![no_main]

use blason_mail::dns::{self, MapLookup};
use blason_mail::spf_eval::{check_host, check_mail_from, Request, MAX_LOOKUPS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (record, sender) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"a@fuzz.example"[..]),
    };
    let mut m = MapLookup::new();
    m.add("fuzz.example", dns::TXT, blason_mail::txt::rdata(record));
    m.add_txt("inc.example", "v=spf1 include:fuzz.example ?all");
    m.add_txt("red.example", "v=spf1 redirect=fuzz.example");
    m.add_txt("exp.example", "%{i} %{s} %{c} %{r} %{t} %{p} %{h}");
    m.add_mx("fuzz.example", 10, "mx.fuzz.example");
    m.add("mx.fuzz.example", dns::A, vec![192, 0, 2, 1]);
    m.add("1.2.0.192.in-addr.arpa", 12, dns::encode_name("mx.fuzz.example").unwrap());
    let sender = String::from_utf8_lossy(sender).into_owned();
    for ip in ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.9"] {
        let req = Request {
            ip: ip.parse().unwrap(),
            sender: sender.clone(),
            helo: "mx.fuzz.example".into(),
            receiver: "rx.example".into(),
            now: 0,
        };
        let o = check_mail_from(&req, &m);
        assert!(o.lookups <= MAX_LOOKUPS + 1, "{} lookups", o.lookups);
        let _ = check_host(&req, "inc.example", &m);
        let _ = check_host(&req, "red.example", &m);
    }
});
