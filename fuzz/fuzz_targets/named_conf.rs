//! BIND's named.conf reader: any bytes give statements or an error with a line
//! inside the text, never a panic; statements written back in BIND's syntax read
//! back the same.
#![no_main]

use blason_zone::named_conf::{parse_str, Statement};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn write(list: &[Statement], out: &mut String) {
    for s in list {
        for w in &s.words {
            out.push('"');
            for c in w.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push_str("\" ");
        }
        if let Some(b) = &s.block {
            out.push_str("{\n");
            write(b, out);
            out.push('}');
        }
        out.push_str(";\n");
    }
}

/// The same statements, lines aside.
fn same(a: &[Statement], b: &[Statement]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.words == y.words
                && match (&x.block, &y.block) {
                    (Some(p), Some(q)) => same(p, q),
                    (None, None) => true,
                    _ => false,
                }
        })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count() as u32 + 1;
    match parse_str(&text, Path::new("fuzz.conf")) {
        Ok(list) => {
            let mut again = String::new();
            write(&list, &mut again);
            let back = parse_str(&again, Path::new("again.conf")).expect("written statements read");
            assert!(same(&back, &list), "statements written back read differently");
        }
        Err(e) => assert!(e.line <= lines + 1, "line {} past the text's {lines}", e.line),
    }
});
