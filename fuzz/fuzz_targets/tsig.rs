//! TSIG verification and the transfer request checks: any bytes give an answer or
//! an error, never a panic. The allow-transfer and notify settings' readers too.
#![no_main]

use blason_proto::tsig::{self, Algorithm, Key, Position};
use blason_zone::Name;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = Key::new(Name::parse("k.", None).unwrap(), Algorithm::HmacSha256, b"secret");
    let find = |n: &Name| (*n == key.name).then_some(&key);
    for pos in [Position::Request, Position::Response(b"mac"), Position::Subsequent(b"m")] {
        let _ = tsig::verify(data, &find, 1_800_000_000, pos);
    }
    let _ = tsig::split(data);
    let _ = blason_server::xfr::is_transfer(data);
    let text = String::from_utf8_lossy(data);
    let _ = blason_server::xfr::Acl::parse(&text);
    let _ = blason_server::xfr::NotifyTarget::parse(&text);
});
