//! Choosing the road from a served signed snapshot to the next one.
//!
//! A whole-zone pass only when the signing keys changed (every RRset needs the new
//! key's signature then) or when there is nothing to build on. Otherwise:
//! an edited zone file becomes a change set (the difference between the unsigned zone
//! last signed and the new one) applied by `dnssec::sign::incremental::apply`, and
//! signatures coming due are replaced by `incremental::refresh`, which re-signs only
//! those. The served serial never goes back: each new snapshot's serial is the file's
//! when that moves forward, else the last served one plus one (RFC 1982).
#![forbid(unsafe_code)]

use blason_dnssec::sign::incremental::Change;
use blason_zone::model::{Node, RRset};
use blason_zone::{Rtype, Zone};
use std::cmp::Ordering;

/// Types the signer writes; a zone file's copies of them are not data changes.
fn signer_owned(t: Rtype) -> bool {
    matches!(
        t,
        Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM
    )
}

/// The changes that turn `old` into `new` (both unsigned, same origin), or None when
/// there are more than `limit` of them (a whole pass is then as cheap).
pub fn diff(old: &Zone, new: &Zone, limit: usize) -> Option<Vec<Change>> {
    let (a, b) = (old.nodes(), new.nodes());
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let ord = match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) => x.name.canonical_cmp(&y.name),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Less => {
                deleted(a.at(i), &mut out);
                i += 1;
            }
            Ordering::Greater => {
                added(b.at(j), &mut out);
                j += 1;
            }
            Ordering::Equal => {
                node_diff(a.at(i), b.at(j), &mut out);
                i += 1;
                j += 1;
            }
        }
        if out.len() > limit {
            return None;
        }
    }
    Some(out)
}

fn data(n: &Node) -> impl Iterator<Item = &RRset> {
    n.rrsets.iter().filter(|r| !signer_owned(r.rtype))
}

fn deleted(n: &Node, out: &mut Vec<Change>) {
    for r in data(n) {
        out.push(Change::Delete {
            name: n.name.clone(),
            rtype: r.rtype,
        });
    }
}

fn added(n: &Node, out: &mut Vec<Change>) {
    for r in data(n) {
        out.push(Change::Replace {
            name: n.name.clone(),
            rrset: r.clone(),
        });
    }
}

fn node_diff(a: &Node, b: &Node, out: &mut Vec<Change>) {
    for r in data(a) {
        if b.rrset(r.rtype).is_none() {
            out.push(Change::Delete {
                name: b.name.clone(),
                rtype: r.rtype,
            });
        }
    }
    for r in data(b) {
        if a.rrset(r.rtype) != Some(r) {
            out.push(Change::Replace {
                name: b.name.clone(),
                rrset: r.clone(),
            });
        }
    }
}

/// Offset of the serial in SOA rdata (after MNAME and RNAME).
fn serial_at(rd: &[u8]) -> Option<usize> {
    let mut p = 0;
    for _ in 0..2 {
        p += blason_zone::name::wire_name_len(rd, p)?;
    }
    (rd.len() >= p + 20).then_some(p)
}

/// RFC 1982: the serial after `served` for a zone whose file says `proposed`.
pub fn next_serial(served: u32, proposed: u32) -> u32 {
    if proposed != served && (proposed.wrapping_sub(served) as i32) > 0 {
        proposed
    } else {
        served.wrapping_add(1)
    }
}

/// `zone` with its SOA serial set to `serial` (one node replaced, O(1)).
pub fn with_serial(zone: &Zone, serial: u32) -> Zone {
    let apex = zone.apex();
    let Some(soa) = apex.rrset(Rtype::SOA) else {
        return zone.clone();
    };
    let Some(rd) = soa.first() else {
        return zone.clone();
    };
    let Some(p) = serial_at(rd) else {
        return zone.clone();
    };
    let mut rd = rd.to_vec();
    rd[p..p + 4].copy_from_slice(&serial.to_be_bytes());
    let mut node = apex.clone();
    let rrsets: Vec<RRset> = node
        .rrsets
        .iter()
        .map(|r| {
            if r.rtype == Rtype::SOA {
                RRset::new(Rtype::SOA, r.ttl, &[&rd])
            } else {
                r.clone()
            }
        })
        .collect();
    node.rrsets = rrsets.into_boxed_slice();
    zone.with_replaced(vec![(0, node)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use blason_zone::load::load_bytes;
    use blason_zone::Name;

    fn zone(text: &str) -> Zone {
        let origin = Name::parse("d.test.", None).unwrap();
        load_bytes(&origin, text.as_bytes(), "d.test.zone").zone
    }

    const BASE: &str =
        "$TTL 300\n@ SOA ns h 7 1 1 1 1\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\nold TXT gone\n";

    #[test]
    fn diff_names_each_changed_rrset() {
        let a = zone(BASE);
        let b = zone(
            &BASE
                .replace("192.0.2.2", "192.0.2.9")
                .replace("old TXT gone\n", "new.sub AAAA ::1\n"),
        );
        let d = diff(&a, &b, 100).unwrap();
        let mut got: Vec<String> = d
            .iter()
            .map(|c| match c {
                Change::Replace { name, rrset } => format!("+{name} {}", rrset.rtype.0),
                Change::Delete { name, rtype } => format!("-{name} {}", rtype.0),
            })
            .collect();
        got.sort();
        assert_eq!(
            got,
            ["+new.sub.d.test. 28", "+www.d.test. 1", "-old.d.test. 16"]
        );
        assert!(diff(&a, &a, 100).unwrap().is_empty());
        assert!(diff(&a, &b, 2).is_none());
    }

    #[test]
    fn serials_only_move_forward() {
        assert_eq!(next_serial(7, 9), 9);
        assert_eq!(next_serial(7, 7), 8);
        assert_eq!(next_serial(7, 3), 8);
        assert_eq!(next_serial(u32::MAX, 5), 5);
        let z = with_serial(&zone(BASE), 42);
        assert_eq!(z.serial(), Some(42));
        assert_eq!(z.nodes().len(), zone(BASE).nodes().len());
    }
}
