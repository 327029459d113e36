//! The milter protocol reader on arbitrary bytes: packets read or fail with an
//! error, never a panic; a session built from what was read yields a message the
//! DKIM canonicalization takes.
#![no_main]

use blason_mail::milter::{read_command, Command, Session};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    let mut s = Session::default();
    while let Ok(Some(c)) = read_command(&mut r) {
        match c {
            Command::Header { name, value } => s.headers.push((name, value)),
            Command::Body(b) => s.body.extend_from_slice(&b),
            Command::Macro { pairs, .. } => s.macros.extend(pairs),
            Command::OptNeg { protocol, .. } => s.leading_space = protocol & 0x0010_0000 != 0,
            Command::EndOfMessage => {
                let m = s.message();
                let _ = blason_mail::dkim_sign::relaxed_body(&m);
                let _ = s.macro_value("{auth_authen}");
                s.reset();
            }
            _ => {}
        }
    }
});
