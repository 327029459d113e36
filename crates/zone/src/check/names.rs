//! Name syntax: BIND's check-names rules and Zonemaster's Syntax tests.

use std::fmt;

/// The labels of a wire name, root excluded.
pub fn labels(wire: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut p = 0;
    std::iter::from_fn(move || {
        let n = *wire.get(p)? as usize;
        if n == 0 {
            return None;
        }
        let l = wire.get(p + 1..p + 1 + n)?;
        p += n + 1;
        Some(l)
    })
}

/// Why a name is not a host name.
#[derive(Debug, PartialEq, Eq)]
pub enum HostIssue {
    BadChar(u8, String),
    HyphenEdge(String),
}

impl fmt::Display for HostIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostIssue::BadChar(c, l) if c.is_ascii_graphic() => {
                write!(f, "label '{l}' contains '{}'", *c as char)
            }
            HostIssue::BadChar(c, l) => write!(f, "label '{l}' contains byte {c}"),
            HostIssue::HyphenEdge(l) => {
                write!(f, "label '{l}' starts or ends with a hyphen")
            }
        }
    }
}

fn label_text(l: &[u8]) -> String {
    let mut s = String::new();
    let _ = crate::name::write_label(&mut s, l);
    s
}

fn label_issue(l: &[u8]) -> Option<HostIssue> {
    if let Some(&c) = l
        .iter()
        .find(|c| !(c.is_ascii_alphanumeric() || **c == b'-'))
    {
        return Some(HostIssue::BadChar(c, label_text(l)));
    }
    if l.first() == Some(&b'-') || l.last() == Some(&b'-') {
        return Some(HostIssue::HyphenEdge(label_text(l)));
    }
    None
}

/// BIND's `dns_name_ishostname`: letters, digits, inner hyphens; with `wildcard`, a
/// leading `*` label is allowed.
pub fn host_issue(wire: &[u8], wildcard: bool) -> Option<HostIssue> {
    let mut it = labels(wire).peekable();
    if wildcard && it.peek() == Some(&&b"*"[..]) {
        it.next();
    }
    it.find_map(label_issue)
}

/// BIND's `dns_name_ismailbox`: a first label of printable characters, then a host name.
pub fn mailbox_issue(wire: &[u8]) -> Option<HostIssue> {
    let mut it = labels(wire);
    let first = it.next()?;
    if let Some(&c) = first.iter().find(|c| !(0x21..=0x7e).contains(*c)) {
        return Some(HostIssue::BadChar(c, label_text(first)));
    }
    it.find_map(label_issue)
}

/// Zonemaster Syntax03: `--` in positions 3–4 of a label that is not `xn--`.
pub fn double_dash(wire: &[u8]) -> bool {
    labels(wire).any(|l| l.len() >= 4 && &l[2..4] == b"--" && !l[..2].eq_ignore_ascii_case(b"xn"))
}

/// True for zones under in-addr.arpa, ip6.arpa or ip6.int (where BIND checks PTR targets).
pub fn is_reverse(wire: &[u8]) -> bool {
    [
        &b"\x07in-addr\x04arpa\x00"[..],
        b"\x03ip6\x04arpa\x00",
        b"\x03ip6\x03int\x00",
    ]
    .iter()
    .any(|s| crate::name::wire_is_subdomain(wire, s))
}

/// BIND's NSEC3 owner rule: the first label decodes as base32hex without padding,
/// unused trailing bits zero.
pub fn nsec3_owner_ok(wire: &[u8]) -> bool {
    let Some(l) = labels(wire).next() else {
        return false;
    };
    let val = |c: u8| match c.to_ascii_lowercase() {
        d @ b'0'..=b'9' => Some(d - b'0'),
        a @ b'a'..=b'v' => Some(a - b'a' + 10),
        _ => None,
    };
    let Some(vals) = l.iter().map(|&c| val(c)).collect::<Option<Vec<u8>>>() else {
        return false;
    };
    let spare = match l.len() % 8 {
        0 => 0,
        2 => 2,
        4 => 4,
        5 => 1,
        7 => 3,
        _ => return false,
    };
    vals.last().is_some_and(|&v| v & ((1u8 << spare) - 1) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Name;

    fn w(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }

    #[test]
    fn host_names() {
        assert_eq!(host_issue(w("a-b.c1.example.").as_wire(), false), None);
        assert_eq!(host_issue(w("123.example.").as_wire(), false), None);
        assert!(host_issue(w("a_b.example.").as_wire(), false).is_some());
        assert!(host_issue(w("-a.example.").as_wire(), false).is_some());
        assert!(host_issue(w("a-.example.").as_wire(), false).is_some());
        assert!(host_issue(w("*.example.").as_wire(), false).is_some());
        assert_eq!(host_issue(w("*.example.").as_wire(), true), None);
        assert!(host_issue(w("a.*.example.").as_wire(), true).is_some());
        assert_eq!(mailbox_issue(w("host@x.example.").as_wire()), None);
        assert!(mailbox_issue(w("host\\032x.example.").as_wire()).is_some());
        assert!(mailbox_issue(w("h.x_y.example.").as_wire()).is_some());
    }

    #[test]
    fn dashes_reverse_nsec3() {
        assert!(double_dash(w("ab--cd.example.").as_wire()));
        assert!(!double_dash(w("xn--bcher-kva.example.").as_wire()));
        assert!(is_reverse(w("2.0.192.in-addr.arpa.").as_wire()));
        assert!(!is_reverse(w("xin-addr.arpa.").as_wire()));
        assert!(!is_reverse(w("example.").as_wire()));
        assert!(nsec3_owner_ok(
            w("2T7B4G4VSA5SMI47K61MV5BV1A22BOJR.example.").as_wire()
        ));
        assert!(!nsec3_owner_ok(w("nsec3.example.").as_wire()));
        assert!(!nsec3_owner_ok(
            w("2T7B4G4VSA5SMI47K61MV5BV1A22BOJ.example.").as_wire()
        ));
    }
}
