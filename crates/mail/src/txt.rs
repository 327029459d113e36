//! TXT record strings: splitting into 255-byte character-strings and printing in
//! zone-file form.

/// Splits a value into the ≤255-byte character-strings one TXT record is made of.
pub fn split(value: &[u8]) -> Vec<&[u8]> {
    if value.is_empty() {
        return vec![value];
    }
    value.chunks(255).collect()
}

/// Joins the character-strings of TXT rdata in wire form; None if malformed.
pub fn strings(rdata: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < rdata.len() {
        let n = rdata[i] as usize;
        let s = rdata.get(i + 1..i + 1 + n)?;
        out.push(s.to_vec());
        i += 1 + n;
    }
    Some(out)
}

/// The value of TXT rdata: its strings concatenated (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
pub fn value(rdata: &[u8]) -> Option<Vec<u8>> {
    strings(rdata).map(|v| v.concat())
}

/// Wire rdata for a value split into 255-byte strings.
pub fn rdata(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + value.len() / 255 + 1);
    for s in split(value) {
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }
    out
}

/// One quoted zone-file character-string, escaping `"`, `\` and non-printables.
pub fn quote(s: &[u8]) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for &b in s {
        match b {
            b'"' | b'\\' => {
                o.push('\\');
                o.push(b as char);
            }
            0x20..=0x7e => o.push(b as char),
            _ => o.push_str(&format!("\\{:03}", b)),
        }
    }
    o.push('"');
    o
}

/// A TXT record in zone-file form; long values become several strings in parentheses.
pub fn zone_line(owner: &str, ttl: Option<u32>, value: &[u8]) -> String {
    let ttl = ttl.map(|t| format!(" {t}")).unwrap_or_default();
    let parts = split(value);
    if parts.len() == 1 {
        return format!("{owner}{ttl} IN TXT {}", quote(parts[0]));
    }
    let mut o = format!("{owner}{ttl} IN TXT (");
    for p in parts {
        o.push_str("\n    ");
        o.push_str(&quote(p));
    }
    o.push_str(" )");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_join() {
        let v: Vec<u8> = (0..600).map(|i| b'a' + (i % 26) as u8).collect();
        let parts = split(&v);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [255, 255, 90]
        );
        assert_eq!(value(&rdata(&v)).unwrap(), v);
        assert_eq!(split(b"").len(), 1);
        assert!(strings(&[5, b'a']).is_none());
        let z = zone_line("s._domainkey", Some(300), &v);
        assert_eq!(z.matches('"').count(), 6);
        assert_eq!(quote(b"a\"b\\c\x01"), "\"a\\\"b\\\\c\\001\"");
    }
}
