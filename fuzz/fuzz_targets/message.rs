//! The DNS message codec and the response readers built on it: any bytes give a
//! message or an error, never a panic; a message parsed and built again parses to
//! the same message.
#![no_main]

use blason_proto::Message;
use blason_zone::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut m) = Message::parse(data) {
        let mut again = Message::parse(&m.build()).expect("a built message parses");
        // Where the TSIG record starts is a fact of the bytes (compression moves
        // it), not of the message: compared for presence only.
        assert_eq!(again.tsig_at.is_some(), m.tsig_at.is_some());
        (again.tsig_at, m.tsig_at) = (None, None);
        assert_eq!(again, m);
        let _ = blason_mail::dns::answer_of(&m, 15);
    }
    let zone = Name::parse("child.test.", None).unwrap();
    if data.len() >= 2 {
        let id = u16::from_be_bytes([data[0], data[1]]);
        let _ = blason_server::dnssec::parent::parse_ds_answer(data, id, &zone);
    }
});
