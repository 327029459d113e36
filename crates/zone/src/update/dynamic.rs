//! Dynamic update (RFC 2136) semantics on a zone: prerequisites (§2.4, checked as
//! §3.2 says) and the update section's rules (§3.4.2), turned into [`Edit`]s for the
//! commit road. Pure: the zone as it is in, edits or an RCODE out. The wire format
//! and the policy are the server's.
//!
//! Design note. The rules depend on the zone as each update RR finds it (a CNAME
//! added after the A records it would clash with were deleted is taken), so the
//! update section is played in order on a small copy of the touched names; the
//! edits it yields are the RRs that were not ignored, which [`super::resolve`] plays
//! the same way.

use super::{serial_gt, serial_of, Edit};
use crate::{Name, Rtype, Zone};
use std::collections::HashMap;

/// RCODEs of RFC 2136 §2.2.
pub const FORMERR: u16 = 1;
pub const NXDOMAIN: u16 = 3;
pub const YXDOMAIN: u16 = 6;
pub const YXRRSET: u16 = 7;
pub const NXRRSET: u16 = 8;

/// One prerequisite (RFC 2136 §2.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prereq {
    /// §2.4.4: the name has at least one RR.
    NameInUse(Name),
    /// §2.4.5: the name has no RR.
    NameNotInUse(Name),
    /// §2.4.1: an RRset of this type exists (value independent).
    RrsetExists(Name, Rtype),
    /// §2.4.3: no RRset of this type.
    RrsetAbsent(Name, Rtype),
    /// §2.4.2: the RRset exists and holds exactly these rdatas.
    RrsetIs(Name, Rtype, Vec<Box<[u8]>>),
}

/// One RR of the update section, as §2.5 reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Update {
    /// §2.5.1: add to an RRset (class = the zone's).
    Add {
        name: Name,
        rtype: Rtype,
        ttl: u32,
        rdata: Box<[u8]>,
    },
    /// §2.5.2: delete an RRset (class ANY, a type).
    DeleteRrset { name: Name, rtype: Rtype },
    /// §2.5.3: delete all RRsets from a name (class ANY, type ANY).
    DeleteName { name: Name },
    /// §2.5.4: delete an RR from an RRset (class NONE).
    DeleteRr {
        name: Name,
        rtype: Rtype,
        rdata: Box<[u8]>,
    },
}

impl Update {
    pub fn name(&self) -> &Name {
        match self {
            Update::Add { name, .. }
            | Update::DeleteRrset { name, .. }
            | Update::DeleteName { name }
            | Update::DeleteRr { name, .. } => name,
        }
    }
    /// The type the RR names (ANY for a whole name).
    pub fn rtype(&self) -> Rtype {
        match self {
            Update::Add { rtype, .. }
            | Update::DeleteRrset { rtype, .. }
            | Update::DeleteRr { rtype, .. } => *rtype,
            Update::DeleteName { .. } => Rtype(255),
        }
    }
}

/// The RRsets of a name, as (type, rdatas).
type Sets = Vec<(Rtype, Vec<Box<[u8]>>)>;

fn sets_of(zone: &Zone, name: &Name) -> Sets {
    let Some(i) = zone.find(name.as_wire()) else {
        return Vec::new();
    };
    zone.node(i)
        .rrsets
        .iter()
        .filter(|s| s.rtype != Rtype::RRSIG)
        .map(|s| (s.rtype, s.rdatas().map(Box::from).collect()))
        .collect()
}

/// §3.2: every prerequisite holds, or the RCODE of the first that does not.
pub fn check(zone: &Zone, prereqs: &[Prereq]) -> Result<(), u16> {
    for p in prereqs {
        match p {
            Prereq::NameInUse(n) if sets_of(zone, n).is_empty() => return Err(NXDOMAIN),
            Prereq::NameNotInUse(n) if !sets_of(zone, n).is_empty() => return Err(YXDOMAIN),
            Prereq::RrsetExists(n, t) if !sets_of(zone, n).iter().any(|s| s.0 == *t) => {
                return Err(NXRRSET)
            }
            Prereq::RrsetAbsent(n, t) if sets_of(zone, n).iter().any(|s| s.0 == *t) => {
                return Err(YXRRSET)
            }
            Prereq::RrsetIs(n, t, want) => {
                let sets = sets_of(zone, n);
                let Some((_, have)) = sets.iter().find(|s| s.0 == *t) else {
                    return Err(NXRRSET);
                };
                let mut want: Vec<&[u8]> = want.iter().map(|r| &r[..]).collect();
                want.sort();
                want.dedup();
                let mut have: Vec<&[u8]> = have.iter().map(|r| &r[..]).collect();
                have.sort();
                if want != have {
                    return Err(NXRRSET);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// §3.4.2: the edits the update section makes on `zone`, with the RRs the RFC says
/// to ignore left out: an SOA whose serial does not move forward, a CNAME beside
/// other data and other data beside a CNAME, deleting the SOA or the apex's last NS
/// (or all of its NS RRset).
pub fn plan(zone: &Zone, updates: &[Update]) -> Vec<Edit> {
    let origin = zone.origin();
    let mut names: HashMap<Name, Sets> = HashMap::new();
    let mut edits = Vec::new();
    for u in updates {
        let name = u.name().clone();
        let sets = names
            .entry(name.clone())
            .or_insert_with(|| sets_of(zone, &name));
        let apex = name == *origin;
        let pos = |sets: &Sets, t: Rtype| sets.iter().position(|s| s.0 == t);
        match u {
            Update::Add {
                rtype, ttl, rdata, ..
            } => {
                let t = *rtype;
                if t == Rtype::SOA {
                    let cur = pos(sets, t).and_then(|i| sets[i].1.first().cloned());
                    let newer = match (cur.as_deref().and_then(serial_of), serial_of(rdata)) {
                        (Some(old), Some(new)) => serial_gt(new, old),
                        _ => false,
                    };
                    if !apex || !newer {
                        continue;
                    }
                    let set = crate::model::RRset::new(t, *ttl, &[rdata]);
                    sets.retain(|s| s.0 != t);
                    sets.push((t, vec![rdata.clone()]));
                    edits.push(Edit::ReplaceRrset { name, rrset: set });
                    continue;
                }
                let has_cname = pos(sets, Rtype::CNAME).is_some();
                let has_other = sets.iter().any(|s| s.0 != Rtype::CNAME && !is_dnssec(s.0));
                if t == Rtype::CNAME {
                    if has_other {
                        continue;
                    }
                    // A CNAME RRset holds one record: the new one replaces it.
                    sets.retain(|s| s.0 != t);
                    sets.push((t, vec![rdata.clone()]));
                    edits.push(Edit::ReplaceRrset {
                        name,
                        rrset: crate::model::RRset::new(t, *ttl, &[rdata]),
                    });
                    continue;
                }
                if has_cname && !is_dnssec(t) {
                    continue;
                }
                match pos(sets, t) {
                    Some(i) => {
                        if !sets[i].1.contains(rdata) {
                            sets[i].1.push(rdata.clone());
                        }
                    }
                    None => sets.push((t, vec![rdata.clone()])),
                }
                edits.push(Edit::AddRr {
                    name,
                    rtype: t,
                    ttl: *ttl,
                    rdata: rdata.clone(),
                });
            }
            Update::DeleteRrset { rtype, .. } => {
                if apex && (*rtype == Rtype::SOA || *rtype == Rtype::NS) {
                    continue;
                }
                if pos(sets, *rtype).is_some() {
                    sets.retain(|s| s.0 != *rtype);
                    edits.push(Edit::DeleteRrset {
                        name,
                        rtype: *rtype,
                    });
                }
            }
            Update::DeleteName { .. } => {
                if apex {
                    // The apex keeps its SOA and NS.
                    let gone: Vec<Rtype> = sets
                        .iter()
                        .map(|s| s.0)
                        .filter(|t| *t != Rtype::SOA && *t != Rtype::NS)
                        .collect();
                    sets.retain(|s| s.0 == Rtype::SOA || s.0 == Rtype::NS);
                    for t in gone {
                        edits.push(Edit::DeleteRrset {
                            name: name.clone(),
                            rtype: t,
                        });
                    }
                } else if !sets.is_empty() {
                    sets.clear();
                    edits.push(Edit::DeleteName { name });
                }
            }
            Update::DeleteRr { rtype, rdata, .. } => {
                if *rtype == Rtype::SOA {
                    continue;
                }
                let Some(i) = pos(sets, *rtype) else { continue };
                if !sets[i].1.contains(rdata) {
                    continue;
                }
                if apex && *rtype == Rtype::NS && sets[i].1.len() == 1 {
                    continue;
                }
                sets[i].1.retain(|r| r != rdata);
                if sets[i].1.is_empty() {
                    sets.remove(i);
                }
                edits.push(Edit::DeleteRr {
                    name,
                    rtype: *rtype,
                    rdata: rdata.clone(),
                });
            }
        }
    }
    edits
}

/// Types the signer owns: never taken from an update.
pub fn is_dnssec(t: Rtype) -> bool {
    matches!(t.0, 46 | 47 | 48 | 50 | 51 | 59 | 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        let o = Name::parse("x.test.", None).unwrap();
        let text = "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 h 10 2 2 100 30\n@ NS ns1\n@ NS ns2\n\
                    ns1 A 192.0.2.1\nns2 A 192.0.2.2\nwww A 192.0.2.3\nalias CNAME www\n";
        crate::load::load_bytes(&o, text.as_bytes(), "t").zone
    }
    fn n(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }
    fn a(last: u8) -> Box<[u8]> {
        vec![192, 0, 2, last].into_boxed_slice()
    }

    #[test]
    fn prerequisites_answer_with_the_rcode_of_the_first_that_fails() {
        let z = zone();
        assert_eq!(check(&z, &[Prereq::NameInUse(n("www.x.test."))]), Ok(()));
        assert_eq!(
            check(&z, &[Prereq::NameInUse(n("no.x.test."))]),
            Err(NXDOMAIN)
        );
        assert_eq!(
            check(&z, &[Prereq::NameNotInUse(n("www.x.test."))]),
            Err(YXDOMAIN)
        );
        assert_eq!(
            check(&z, &[Prereq::RrsetExists(n("www.x.test."), Rtype::AAAA)]),
            Err(NXRRSET)
        );
        assert_eq!(
            check(&z, &[Prereq::RrsetAbsent(n("www.x.test."), Rtype::A)]),
            Err(YXRRSET)
        );
        assert_eq!(
            check(
                &z,
                &[Prereq::RrsetIs(n("WWW.x.test."), Rtype::A, vec![a(3)])]
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &z,
                &[Prereq::RrsetIs(
                    n("www.x.test."),
                    Rtype::A,
                    vec![a(3), a(4)]
                )]
            ),
            Err(NXRRSET)
        );
    }

    #[test]
    fn the_rules_of_the_update_section_ignore_what_the_rfc_ignores() {
        let z = zone();
        let o = n("x.test.");
        // Deleting the apex NS RRset, the SOA, or all of the apex: SOA and NS stay.
        let e = plan(
            &z,
            &[
                Update::DeleteRrset {
                    name: o.clone(),
                    rtype: Rtype::NS,
                },
                Update::DeleteRrset {
                    name: o.clone(),
                    rtype: Rtype::SOA,
                },
                Update::DeleteName { name: o.clone() },
            ],
        );
        assert!(e.is_empty(), "{e:?}");
        // Other data beside a CNAME, and a CNAME beside other data: ignored.
        let e = plan(
            &z,
            &[
                Update::Add {
                    name: n("alias.x.test."),
                    rtype: Rtype::A,
                    ttl: 60,
                    rdata: a(9),
                },
                Update::Add {
                    name: n("www.x.test."),
                    rtype: Rtype::CNAME,
                    ttl: 60,
                    rdata: n("ns1.x.test.").as_wire().into(),
                },
            ],
        );
        assert!(e.is_empty(), "{e:?}");
        // After the A records go, the CNAME is taken.
        let e = plan(
            &z,
            &[
                Update::DeleteRrset {
                    name: n("www.x.test."),
                    rtype: Rtype::A,
                },
                Update::Add {
                    name: n("www.x.test."),
                    rtype: Rtype::CNAME,
                    ttl: 60,
                    rdata: n("ns1.x.test.").as_wire().into(),
                },
            ],
        );
        assert_eq!(e.len(), 2, "{e:?}");
        // The last apex NS is kept: one of two goes, the second stays.
        let ns = |s: &str| Update::DeleteRr {
            name: o.clone(),
            rtype: Rtype::NS,
            rdata: n(s).as_wire().into(),
        };
        let e = plan(&z, &[ns("ns1.x.test."), ns("ns2.x.test.")]);
        assert_eq!(e.len(), 1, "{e:?}");
        // The result applies.
        let cs = super::super::resolve(&z, &e).unwrap();
        let z2 = super::super::apply(&z, &cs).unwrap();
        assert_eq!(z2.node(0).rrset(Rtype::NS).unwrap().rdatas().count(), 1);
    }

    #[test]
    fn an_soa_is_taken_only_with_a_newer_serial() {
        let z = zone();
        let soa = |serial: u32| {
            let mut r = z.soa().unwrap().first().unwrap().to_vec();
            let k = r.len() - 20;
            r[k..k + 4].copy_from_slice(&serial.to_be_bytes());
            Update::Add {
                name: n("x.test."),
                rtype: Rtype::SOA,
                ttl: 300,
                rdata: r.into(),
            }
        };
        assert!(plan(&z, &[soa(9)]).is_empty());
        assert!(plan(&z, &[soa(10)]).is_empty());
        assert_eq!(plan(&z, &[soa(11)]).len(), 1);
    }
}
