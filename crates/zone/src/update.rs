//! Changes to a zone: the one shape every source of change speaks.
//!
//! Design note. A [`Changeset`] is what an IXFR difference sequence carries: the
//! records removed and the records added between two serials, the old and new SOA
//! among them, grouped per owner, type (and covered type, for RRSIG) into RRsets and
//! sorted canonically. It describes unsigned and signed data alike, so the same value
//! is journaled, replayed at restart and (later) served as IXFR. [`diff`] makes one
//! from two snapshots (over the chunks they do not share), [`apply`] plays one
//! onto a snapshot and refuses an inconsistent one (a removed record that is not
//! there), [`compose`](Changeset::compose) condenses two into one. [`Edit`]s are the
//! requests a source makes (add or delete a record, an RRset, a name); [`resolve`]
//! turns them into a changeset against a snapshot. Serial arithmetic is RFC 1982
//! ([`serial_gt`]) with the policies of BIND's `serial-update-method` ([`SerialPolicy`]).
//!
//! Refuses: checks (`check`), signing (crate `dnssec`), durability (the server's
//! journal): this module is pure.

use crate::load::Generated;
use crate::model::{flags, Node, RRset};
use crate::name::wire_name_len;
use crate::{Name, Rtype, Zone};
use std::cmp::Ordering;
use std::fmt;

/// RFC 1982: `a` is greater than `b` (undefined pairs, 2^31 apart, are not).
pub fn serial_gt(a: u32, b: u32) -> bool {
    a != b && (a.wrapping_sub(b) as i32) > 0
}

/// How the served serial moves when a change is committed (BIND's
/// `serial-update-method`, plus keeping the file's own serial). Whatever the policy,
/// the serial only ever moves forward.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerialPolicy {
    /// The serial the change proposes (a zone file's) when it moves forward, else
    /// the old one plus one.
    #[default]
    Keep,
    /// The old serial plus one.
    Increment,
    /// Seconds since the epoch, or the old serial plus one when that is not ahead.
    UnixTime,
    /// `YYYYMMDDnn` of today (UTC), or the old serial plus one when that is not ahead.
    Date,
}

impl SerialPolicy {
    /// The names the config takes.
    pub const NAMES: &'static [&'static str] = &["keep", "increment", "unixtime", "date"];

    pub fn parse(s: &str) -> Option<SerialPolicy> {
        Some(match s {
            "keep" => SerialPolicy::Keep,
            "increment" => SerialPolicy::Increment,
            "unixtime" => SerialPolicy::UnixTime,
            "date" => SerialPolicy::Date,
            _ => return None,
        })
    }

    /// The serial after `old` when a change proposes `proposed`, at `now` (unix
    /// seconds): always ahead of `old` (RFC 1982).
    pub fn next(self, old: u32, proposed: u32, now: u64) -> u32 {
        let want = match self {
            SerialPolicy::Keep => proposed,
            SerialPolicy::Increment => old,
            SerialPolicy::UnixTime => now as u32,
            SerialPolicy::Date => date_serial(now),
        };
        if serial_gt(want, old) {
            want
        } else {
            old.wrapping_add(1)
        }
    }
}

/// `YYYYMMDD00` for the UTC day of `now`.
fn date_serial(now: u64) -> u32 {
    // Civil-from-days (H. Hinnant's algorithm), exact for the proleptic Gregorian calendar.
    let z = (now / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y * 1_000_000 + m * 10_000 + d * 100).clamp(0, i64::from(u32::MAX)) as u32
}

/// Offset of the serial in SOA rdata.
fn soa_serial_at(rd: &[u8]) -> Option<usize> {
    let p = wire_name_len(rd, 0)?;
    let p = p + wire_name_len(rd, p)?;
    (rd.len() >= p + 20).then_some(p)
}

/// The serial of a SOA RRset.
pub fn soa_serial(soa: &RRset) -> Option<u32> {
    serial_of(soa.first()?)
}

/// The serial in one SOA rdata (uncompressed names), e.g. a transfer's.
pub fn serial_of(rd: &[u8]) -> Option<u32> {
    let p = soa_serial_at(rd)?;
    Some(u32::from_be_bytes(rd[p..p + 4].try_into().ok()?))
}

/// `soa` with its serial set to `serial`.
pub fn with_serial(soa: &RRset, serial: u32) -> Option<RRset> {
    let mut rd = soa.first()?.to_vec();
    let p = soa_serial_at(&rd)?;
    rd[p..p + 4].copy_from_slice(&serial.to_be_bytes());
    Some(RRset::new(Rtype::SOA, soa.ttl, &[&rd]))
}

/// Replaces RRset `t` of `node` (and its RRSIGs) by `data` and `sig`.
pub fn put_rrset(node: &mut Node, t: Rtype, data: Option<RRset>, sig: Option<RRset>) {
    let mut all: Vec<RRset> = std::mem::take(&mut node.rrsets)
        .into_vec()
        .into_iter()
        .filter(|r| r.rtype != t && !(r.rtype == Rtype::RRSIG && r.covers == t))
        .collect();
    all.extend(data);
    all.extend(sig);
    all.sort_by_key(|r| (r.rtype.0, r.covers.0));
    node.rrsets = all.into_boxed_slice();
}

/// `zone` with its SOA serial set to `serial` (the apex replaced, O(1); the SOA's
/// signatures, if any, are left as they are); None when the zone has no well-formed SOA.
pub fn zone_with_serial(zone: &Zone, serial: u32) -> Option<Zone> {
    let mut apex = zone.apex().clone();
    let soa = with_serial(apex.rrset(Rtype::SOA)?, serial)?;
    let sig = apex.rrsigs(Rtype::SOA).cloned();
    put_rrset(&mut apex, Rtype::SOA, Some(soa), sig);
    Some(zone.with_replaced(vec![(0, apex)]))
}

/// One RRset-level change to a zone's data, as the signer consumes them.
#[derive(Clone, Debug)]
pub enum Change {
    /// Put `rrset` at `name` in place of the RRset of its type (adding the name if it
    /// is new). An empty RRset deletes.
    Replace { name: Name, rrset: RRset },
    /// Delete the RRset of `rtype` at `name` (nothing happens if there is none).
    Delete { name: Name, rtype: Rtype },
}

impl Change {
    pub fn name(&self) -> &Name {
        match self {
            Change::Replace { name, .. } | Change::Delete { name, .. } => name,
        }
    }
    pub fn rtype(&self) -> Rtype {
        match self {
            Change::Replace { rrset, .. } => rrset.rtype,
            Change::Delete { rtype, .. } => *rtype,
        }
    }
    /// The new RRset, `None` for a deletion.
    pub fn data(&self) -> Option<&RRset> {
        match self {
            Change::Replace { rrset, .. } if !rrset.is_empty() => Some(rrset),
            _ => None,
        }
    }
}

/// Types a signer writes itself (left out of [`rrset_changes`]).
pub fn is_signer_written(t: Rtype) -> bool {
    matches!(
        t,
        Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM
    )
}

/// The RRset changes that turn the unsigned zone `old` into `new` (same origin;
/// records a signer writes are ignored), or None when there are more than `limit` of
/// them (a whole pass is then as cheap). Both node lists are walked once, in order.
pub fn rrset_changes(old: &Zone, new: &Zone, limit: usize) -> Option<Vec<Change>> {
    let data = |n: &'_ Node| -> Vec<RRset> {
        n.rrsets
            .iter()
            .filter(|r| !is_signer_written(r.rtype))
            .cloned()
            .collect()
    };
    let mut out = Vec::new();
    let mut over = false;
    walk_pairs(old, new, &mut |name, from, to| {
        let was = from.map(data).unwrap_or_default();
        let now = to.map(data).unwrap_or_default();
        for r in &was {
            if !now.iter().any(|x| x.rtype == r.rtype) {
                out.push(Change::Delete {
                    name: name.clone(),
                    rtype: r.rtype,
                });
            }
        }
        for r in now {
            if !was.contains(&r) {
                out.push(Change::Replace {
                    name: name.clone(),
                    rrset: r,
                });
            }
        }
        over = out.len() > limit;
        !over
    });
    (!over).then_some(out)
}

/// Calls `f(name, old node, new node)` for each name whose nodes may differ, in
/// canonical order, until it returns false: only the nodes of chunks the two do
/// not share when one derives from the other, else every name of both.
/// Called with a name and its node before and after; false stops the walk.
type PairFn<'f> = dyn FnMut(&Name, Option<&Node>, Option<&Node>) -> bool + 'f;

fn walk_pairs(old: &Zone, new: &Zone, f: &mut PairFn<'_>) {
    // Snapshots that share most chunks: only the nodes outside them.
    let few = (new.nodes().len() / 8).max(4096);
    if let Some(pairs) = new.changed_since(old, few) {
        for (a, b) in pairs {
            let Some(name) = b.or(a).map(|n| &n.name) else {
                continue;
            };
            if !f(name, a, b) {
                return;
            }
        }
        return;
    }
    crate::store::pair_by_name(
        old.nodes().iter(),
        new.nodes().iter(),
        |from, to| match to.or(from) {
            Some(n) => f(&n.name, from, to),
            None => false,
        },
    );
}

/// Why a changeset or an edit could not be played onto a snapshot. Always the
/// input's fault (a peer's IXFR, a journal, a request): the snapshot is untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateError {
    /// A removed record is not in the zone.
    NotPresent { name: Name, rtype: Rtype },
    /// A record's owner is outside the zone.
    OutOfZone { name: Name },
    /// The changeset does not start at the snapshot's serial, or two changesets do
    /// not follow each other.
    SerialMismatch { expected: u32, found: u32 },
    /// The result would have no SOA at its apex.
    NoSoa,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpdateError::NotPresent { name, rtype } => write!(
                f,
                "{name} {rtype}: the change removes a record that is not in the zone"
            ),
            UpdateError::OutOfZone { name } => write!(f, "{name} is not in the zone"),
            UpdateError::SerialMismatch { expected, found } => write!(
                f,
                "the change starts at serial {found}, but the zone is at {expected}"
            ),
            UpdateError::NoSoa => f.write_str("the change leaves the zone without an SOA"),
        }
    }
}

impl std::error::Error for UpdateError {}

/// The records removed and added between two serials of a zone, signed or not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changeset {
    /// The SOA serial before.
    pub from: u32,
    /// The SOA serial after.
    pub to: u32,
    /// Removed records, one RRset per owner and type (covered type for RRSIG), in
    /// canonical order; each holds only the records removed, with their old TTL.
    pub removed: Vec<(Name, RRset)>,
    /// Added records, likewise, with their new TTL.
    pub added: Vec<(Name, RRset)>,
}

/// The sort key of a changeset entry.
fn entry_cmp(a: &(Name, RRset), b: &(Name, RRset)) -> Ordering {
    a.0.canonical_cmp(&b.0)
        .then(a.1.rtype.0.cmp(&b.1.rtype.0))
        .then(a.1.covers.0.cmp(&b.1.covers.0))
}

/// The rdatas of `a` not in `b` (exact octets), as an RRset with `a`'s TTL.
fn minus(a: &RRset, b: Option<&RRset>) -> Option<RRset> {
    let keep: Vec<&[u8]> = a
        .rdatas()
        .filter(|r| !b.is_some_and(|b| b.rdatas().any(|x| x == *r)))
        .collect();
    (!keep.is_empty()).then(|| RRset::new(a.rtype, a.ttl, &keep))
}

impl Changeset {
    /// No record changes (the serials may still differ).
    pub fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }

    /// Records removed plus records added.
    pub fn records(&self) -> usize {
        self.removed
            .iter()
            .chain(&self.added)
            .map(|e| e.1.len())
            .sum()
    }

    /// The changes between two RRsets at one owner, appended to `self`; a TTL change
    /// removes and adds every record (as IXFR says it).
    fn push_rrsets(&mut self, name: &Name, old: Option<&RRset>, new: Option<&RRset>) {
        let ttl_moved = matches!((old, new), (Some(a), Some(b)) if a.ttl != b.ttl);
        let (gone, came) = if ttl_moved {
            (old.cloned(), new.cloned())
        } else {
            (
                old.and_then(|a| minus(a, new)),
                new.and_then(|b| minus(b, old)),
            )
        };
        if let Some(r) = gone {
            self.removed.push((name.clone(), r));
        }
        if let Some(r) = came {
            self.added.push((name.clone(), r));
        }
    }

    /// `self` followed by `next`, condensed into one changeset: a record added then
    /// removed again (or removed then added back, TTL included) appears in neither.
    /// O((a + b) log(a + b)) in the entries of both.
    pub fn compose(&self, next: &Changeset) -> Result<Changeset, UpdateError> {
        use std::collections::BTreeMap;
        if self.to != next.from {
            return Err(UpdateError::SerialMismatch {
                expected: self.to,
                found: next.from,
            });
        }
        type Key = (Vec<u8>, u16, u16);
        let key = |e: &(Name, RRset)| -> Key { (e.0.canonical_key(), e.1.rtype.0, e.1.covers.0) };
        // Per (owner, type, covers): the owner, records removed and added overall.
        let mut all: BTreeMap<Key, (Name, Option<RRset>, Option<RRset>)> = BTreeMap::new();
        for e in &self.removed {
            all.entry(key(e))
                .or_insert_with(|| (e.0.clone(), None, None))
                .1 = Some(e.1.clone());
        }
        for e in &self.added {
            all.entry(key(e))
                .or_insert_with(|| (e.0.clone(), None, None))
                .2 = Some(e.1.clone());
        }
        for (e, removal) in next
            .removed
            .iter()
            .map(|e| (e, true))
            .chain(next.added.iter().map(|e| (e, false)))
        {
            let slot = all
                .entry(key(e))
                .or_insert_with(|| (e.0.clone(), None, None));
            let (same, other) = if removal {
                (&mut slot.1, &mut slot.2)
            } else {
                (&mut slot.2, &mut slot.1)
            };
            // Removed now, it cancels an earlier add (added now, an earlier removal of
            // the same record, TTL included); what is left joins its own side.
            let mut left = Some(e.1.clone());
            if let Some(o) = other.take() {
                if o.ttl == e.1.ttl {
                    left = minus(&e.1, Some(&o));
                    *other = minus(&o, Some(&e.1));
                } else {
                    *other = Some(o);
                }
            }
            if let Some(r) = left {
                *same = Some(union(same.take(), r));
            }
        }
        let mut out = Changeset {
            from: self.from,
            to: next.to,
            ..Changeset::default()
        };
        for (_, (name, rem, add)) in all {
            if let Some(r) = rem {
                out.removed.push((name.clone(), r));
            }
            if let Some(a) = add {
                out.added.push((name, a));
            }
        }
        Ok(out)
    }
}

/// The records of `a` and `b` (`b`'s TTL: a TTL change takes the new one).
fn union(a: Option<RRset>, b: RRset) -> RRset {
    let Some(a) = a else { return b };
    match minus(&b, Some(&a)) {
        Some(extra) => {
            let all: Vec<&[u8]> = a.rdatas().chain(extra.rdatas()).collect();
            RRset::new(b.rtype, b.ttl, &all)
        }
        None if a.ttl == b.ttl => a,
        None => {
            let all: Vec<&[u8]> = a.rdatas().collect();
            RRset::new(b.rtype, b.ttl, &all)
        }
    }
}

/// Adds the records of `e` to the sorted entries `v` (a TTL change takes the new TTL).
fn merge_into(v: &mut Vec<(Name, RRset)>, e: (Name, RRset)) {
    match v.binary_search_by(|x| entry_cmp(x, &e)) {
        Ok(i) => {
            let extra = minus(&e.1, Some(&v[i].1));
            if let Some(extra) = extra {
                let all: Vec<&[u8]> = v[i].1.rdatas().chain(extra.rdatas()).collect();
                v[i].1 = RRset::new(e.1.rtype, e.1.ttl, &all);
            }
        }
        Err(i) => v.insert(i, e),
    }
}

/// The changeset that turns `old` into `new` (every type, signatures included), or
/// None when it would hold more than `limit` RRsets. O(chunks + changed) when the two
/// snapshots share most of their chunks, one ordered walk of both otherwise.
pub fn diff(old: &Zone, new: &Zone, limit: usize) -> Option<Changeset> {
    let mut cs = Changeset {
        from: old.serial().unwrap_or(0),
        to: new.serial().unwrap_or(0),
        ..Changeset::default()
    };
    let mut over = false;
    walk_pairs(old, new, &mut |name, from, to| {
        let empty: &[RRset] = &[];
        let a = from.map_or(empty, |n| &n.rrsets);
        let b = to.map_or(empty, |n| &n.rrsets);
        // Both sorted by (type, covers): merge.
        let (mut i, mut j) = (0, 0);
        while i < a.len() || j < b.len() {
            let key = |r: &RRset| (r.rtype.0, r.covers.0);
            let ord = match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) => key(x).cmp(&key(y)),
                (Some(_), None) => Ordering::Less,
                _ => Ordering::Greater,
            };
            match ord {
                Ordering::Less => {
                    cs.push_rrsets(name, Some(&a[i]), None);
                    i += 1;
                }
                Ordering::Greater => {
                    cs.push_rrsets(name, None, Some(&b[j]));
                    j += 1;
                }
                Ordering::Equal => {
                    if a[i] != b[j] {
                        cs.push_rrsets(name, Some(&a[i]), Some(&b[j]));
                    }
                    i += 1;
                    j += 1;
                }
            }
        }
        over = cs.removed.len() + cs.added.len() > limit;
        !over
    });
    (!over).then_some(cs)
}

/// Sorts rdatas into DNSSEC canonical order (RFC 4034 §6.3).
fn sort_canonical(t: Rtype, rdatas: &mut [&[u8]]) {
    let mut buf = Vec::new();
    let mut keyed: Vec<(Vec<u8>, &[u8])> = rdatas
        .iter()
        .map(|r| {
            crate::model::canonical_rdata(t, r, &mut buf);
            (buf.clone(), *r)
        })
        .collect();
    keyed.sort();
    for (slot, (_, r)) in rdatas.iter_mut().zip(keyed) {
        *slot = r;
    }
}

/// Types whose change at a name other than the apex moves a cut or an occlusion
/// (node flags of other names), so the node list is rebuilt.
fn moves_structure(t: Rtype) -> bool {
    matches!(t, Rtype::NS | Rtype::DNAME)
}

/// `zone` with `cs` played onto it. Refused, with the zone untouched, when the
/// changeset does not start at the zone's serial or removes a record that is not
/// there. O(changes) when every touched name stays and no cut or DNAME moves; a
/// rebuild of the node list (no sorting, O(zone)) otherwise.
pub fn apply(zone: &Zone, cs: &Changeset) -> Result<Zone, UpdateError> {
    let mut out = zone.clone();
    apply_in_place(&mut out, cs)?;
    Ok(out)
}

/// [`apply`] on `zone` itself: what no other snapshot shares is changed in place,
/// not copied (a run of changes to a snapshot nothing else holds yet copies once).
/// On error `zone` is untouched.
pub fn apply_in_place(zone: &mut Zone, cs: &Changeset) -> Result<(), UpdateError> {
    match plan_apply(zone, cs)? {
        Step::Whole(z) => *zone = z,
        Step::Splice(replace, insert, remove) => {
            if insert.is_empty() && remove.is_empty() {
                zone.replace_nodes(replace);
            } else {
                zone.splice(replace, insert, remove);
            }
        }
    }
    Ok(())
}

/// How [`apply_in_place`] changes a zone.
enum Step {
    /// A new zone (a rebuild).
    Whole(Zone),
    /// Nodes replaced, inserted, removed (as [`Zone::splice`] takes them).
    Splice(Vec<(usize, Node)>, Vec<(usize, Node)>, Vec<usize>),
}

fn plan_apply(zone: &Zone, cs: &Changeset) -> Result<Step, UpdateError> {
    let serial = zone.serial().ok_or(UpdateError::NoSoa)?;
    if serial != cs.from {
        return Err(UpdateError::SerialMismatch {
            expected: serial,
            found: cs.from,
        });
    }
    let origin = zone.origin();
    // Every touched owner, in canonical order, with its entries.
    let mut owners: Vec<&Name> = cs.removed.iter().chain(&cs.added).map(|e| &e.0).collect();
    owners.sort_by(|a, b| a.canonical_cmp(b));
    owners.dedup_by(|a, b| a.canonical_cmp(b) == Ordering::Equal);
    let mut replaced: Vec<(usize, Node)> = Vec::new();
    let mut fresh: Vec<Node> = Vec::new();
    let mut structural = false;
    let mut emptied: Vec<usize> = Vec::new();
    for name in owners {
        if !name.is_subdomain_of(origin) {
            return Err(UpdateError::OutOfZone { name: name.clone() });
        }
        let at = zone.find(name.as_wire());
        let old = at.map(|i| zone.node(i));
        let mut rrsets: Vec<RRset> = old.map(|n| n.rrsets.to_vec()).unwrap_or_default();
        let same = |e: &&(Name, RRset)| e.0.canonical_cmp(name) == Ordering::Equal;
        for (_, r) in cs.removed.iter().filter(same) {
            let pos = rrsets
                .iter()
                .position(|x| x.rtype == r.rtype && x.covers == r.covers);
            let missing = || UpdateError::NotPresent {
                name: name.clone(),
                rtype: r.rtype,
            };
            let Some(pos) = pos else {
                return Err(missing());
            };
            if r.rdatas().any(|d| !rrsets[pos].rdatas().any(|x| x == d)) {
                return Err(missing());
            }
            match minus(&rrsets[pos], Some(r)) {
                Some(left) => rrsets[pos] = left,
                None => {
                    rrsets.remove(pos);
                }
            }
            structural |= moves_structure(r.rtype) && name != origin;
        }
        for (_, r) in cs.added.iter().filter(same) {
            match rrsets
                .iter()
                .position(|x| x.rtype == r.rtype && x.covers == r.covers)
            {
                Some(pos) => {
                    let extra = minus(r, Some(&rrsets[pos]));
                    let mut all: Vec<&[u8]> = rrsets[pos]
                        .rdatas()
                        .chain(extra.iter().flat_map(|e| e.rdatas()))
                        .collect();
                    // A merged RRset's order is not the source's: make it canonical.
                    sort_canonical(r.rtype, &mut all);
                    rrsets[pos] = RRset::new(r.rtype, r.ttl, &all);
                }
                None => rrsets.push(r.clone()),
            }
            structural |= moves_structure(r.rtype) && name != origin;
        }
        rrsets.sort_by_key(|r| (r.rtype.0, r.covers.0));
        let was_data = old.is_some_and(|n| !n.rrsets.is_empty());
        let mut node_flags = old.map_or(0, |n| n.flags);
        // A name that loses its last record goes (or stays as an empty non-terminal:
        // see `removals`); an empty non-terminal that gains one is one no more.
        if let Some(i) = at.filter(|_| was_data == rrsets.is_empty()) {
            if was_data {
                emptied.push(i);
            } else if name.is_wildcard() {
                // Its parent's flags change too.
                structural = true;
            } else {
                node_flags &= !flags::ENT;
            }
        }
        let node = Node {
            name: old.map_or_else(|| name.clone(), |n| n.name.clone()),
            rrsets: rrsets.into_boxed_slice(),
            flags: node_flags,
        };
        match at {
            Some(i) => replaced.push((i, node)),
            None => fresh.push(node),
        }
    }
    let gone = if structural {
        None
    } else {
        removals(zone, &emptied)
    };
    // The apex keeps its SOA.
    if replaced
        .iter()
        .any(|(i, n)| *i == 0 && n.rrset(Rtype::SOA).is_none())
    {
        return Err(UpdateError::NoSoa);
    }
    Ok(match gone {
        None if structural || !emptied.is_empty() => Step::Whole(rebuild(zone, replaced, fresh)),
        None if fresh.is_empty() => Step::Splice(replaced, Vec::new(), Vec::new()),
        None => match insertions(zone, &fresh) {
            Some(insert) => Step::Splice(replaced, insert, Vec::new()),
            None => Step::Whole(rebuild(zone, replaced, fresh)),
        },
        Some((remove, to_ent)) => {
            let kept: Vec<(usize, Node)> = replaced
                .iter()
                .filter(|r| remove.binary_search(&r.0).is_err())
                .map(|(i, n)| {
                    let mut n = n.clone();
                    if to_ent.contains(i) {
                        n.flags |= flags::ENT;
                    }
                    (*i, n)
                })
                .collect();
            if fresh.is_empty() {
                Step::Splice(kept, Vec::new(), remove)
            } else {
                // Names out and others in at once: two steps on a copy (rare).
                let thinned = zone.with_spliced(kept, Vec::new(), remove);
                Step::Whole(match insertions(&thinned, &fresh) {
                    Some(insert) => thinned.with_inserted(Vec::new(), insert),
                    None => rebuild(zone, replaced, fresh),
                })
            }
        }
    })
}

/// New names as insertions (with the empty non-terminals they need), when each is a
/// plain leaf under authoritative data: no wildcard, no cut, DNAME or SOA of its own
/// or above it. None: the node list is rebuilt instead. Held to the rebuild by tests.
fn insertions(zone: &Zone, fresh: &[Node]) -> Option<Vec<(usize, Node)>> {
    // Beyond this many the rebuild, one pass, is as cheap.
    if fresh.len() > 1024 {
        return None;
    }
    let is_fresh = |a: &Name| {
        fresh
            .iter()
            .any(|f| f.name.canonical_cmp(a) == Ordering::Equal)
    };
    let mut ents: Vec<Name> = Vec::new();
    for f in fresh {
        let special = |t: Rtype| matches!(t, Rtype::NS | Rtype::DS | Rtype::DNAME | Rtype::SOA);
        if f.name.is_wildcard() || f.rrsets.iter().any(|r| special(r.rtype)) {
            return None;
        }
        let mut anc = f.name.parent();
        loop {
            let a = anc?;
            if let Some(i) = zone.find(a.as_wire()) {
                let en = zone.node(i);
                if !en.is_authoritative()
                    || en.has(flags::DELEGATION)
                    || en.rrset(Rtype::DNAME).is_some()
                {
                    return None;
                }
                break;
            }
            if a.is_wildcard() {
                return None;
            }
            if !is_fresh(&a) && !ents.iter().any(|e| e.canonical_cmp(&a) == Ordering::Equal) {
                ents.push(a.clone());
            }
            anc = a.parent();
        }
    }
    let nodes = zone.nodes();
    let at = |name: &Name| nodes.binary_search_by(|n| n.name.canonical_cmp(name)).err();
    let mut out = Vec::with_capacity(fresh.len() + ents.len());
    for f in fresh {
        out.push((at(&f.name)?, f.clone()));
    }
    for a in ents {
        let q = at(&a)?;
        out.push((
            q,
            Node {
                name: a,
                rrsets: Box::new([]),
                flags: flags::ENT,
            },
        ));
    }
    Some(out)
}

/// For names that lost their last record (indices of `zone`): the nodes that go, a
/// leaf with the empty non-terminals above it left with nothing below, and those
/// that stay as empty non-terminals (names below them remain), both sorted. None when
/// a flag elsewhere would change (a wildcard, the apex, a cut): the node list is
/// rebuilt instead. Held to the rebuild by tests.
fn removals(zone: &Zone, emptied: &[usize]) -> Option<(Vec<usize>, Vec<usize>)> {
    if emptied.is_empty() {
        return Some((Vec::new(), Vec::new()));
    }
    let nodes = zone.nodes();
    let mut emptied = emptied.to_vec();
    emptied.sort_unstable();
    let mut remove: Vec<usize> = Vec::new();
    let mut to_ent = Vec::new();
    let blocked = flags::APEX | flags::DELEGATION | flags::WILDCARD;
    // From the last, so that a name's children are settled before it.
    for &i in emptied.iter().rev() {
        let n = nodes.at(i);
        if i == 0 || n.flags & blocked != 0 {
            return None;
        }
        // The first node after `i` that stays (the removed ones are all after it).
        let mut next = i + 1;
        while remove.contains(&next) {
            next += 1;
        }
        let under = |p: &Name| nodes.get(next).is_some_and(|x| x.name.is_subdomain_of(p));
        if under(&n.name) {
            to_ent.push(i);
            continue;
        }
        remove.push(i);
        let mut k = i;
        while k > 1 {
            let p = nodes.at(k - 1);
            if !(p.has(flags::ENT) && n.name.is_subdomain_of(&p.name)) || under(&p.name) {
                break;
            }
            if p.has(flags::WILDCARD) {
                return None;
            }
            k -= 1;
            remove.push(k);
        }
    }
    remove.sort_unstable();
    to_ent.sort_unstable();
    Some((remove, to_ent))
}

/// The zone's data nodes with `replaced` in place and `fresh` merged in, rebuilt
/// (empty non-terminals and flags anew).
fn rebuild(zone: &Zone, mut replaced: Vec<(usize, Node)>, fresh: Vec<Node>) -> Zone {
    replaced.sort_by_key(|r| r.0);
    let mut repl = replaced.into_iter().peekable();
    let mut fresh = fresh.into_iter().peekable();
    let mut data: Vec<Node> = Vec::with_capacity(zone.nodes().len() + fresh.len());
    for (i, n) in zone.nodes().iter().enumerate() {
        while let Some(f) = fresh.next_if(|f| f.name.canonical_cmp(&n.name) == Ordering::Less) {
            data.push(f);
        }
        match repl.next_if(|r| r.0 == i) {
            Some((_, node)) => data.push(node),
            None if n.has(flags::ENT) => {}
            None => data.push(n.clone()),
        }
    }
    data.extend(fresh);
    Zone::from_data(zone.origin(), zone.class(), data)
}

/// One change a source asks for, at the record level.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Add one record (a duplicate is no change; its TTL becomes the RRset's).
    AddRr {
        name: Name,
        rtype: Rtype,
        ttl: u32,
        rdata: Box<[u8]>,
    },
    /// Delete one record (absent: no change).
    DeleteRr {
        name: Name,
        rtype: Rtype,
        rdata: Box<[u8]>,
    },
    /// Delete the RRset of a type at a name (and its signatures).
    DeleteRrset { name: Name, rtype: Rtype },
    /// Delete every RRset at a name.
    DeleteName { name: Name },
    /// Put `rrset` at `name` in place of the RRset of its type.
    ReplaceRrset { name: Name, rrset: RRset },
}

impl Edit {
    pub fn name(&self) -> &Name {
        match self {
            Edit::AddRr { name, .. }
            | Edit::DeleteRr { name, .. }
            | Edit::DeleteRrset { name, .. }
            | Edit::DeleteName { name }
            | Edit::ReplaceRrset { name, .. } => name,
        }
    }
}

/// The changeset that `edits`, in order, make to `zone` (the serials both the zone's:
/// the commit moves them). Edits that change nothing leave nothing.
pub fn resolve(zone: &Zone, edits: &[Edit]) -> Result<Changeset, UpdateError> {
    // The touched names' RRsets as they evolve; compared with the zone at the end.
    let mut work: Vec<(Name, Vec<RRset>)> = Vec::new();
    for e in edits {
        let name = e.name();
        if !name.is_subdomain_of(zone.origin()) {
            return Err(UpdateError::OutOfZone { name: name.clone() });
        }
        let slot = match work.iter().position(|w| w.0 == *name) {
            Some(i) => i,
            None => {
                let cur = zone
                    .find(name.as_wire())
                    .map(|i| zone.node(i).rrsets.to_vec())
                    .unwrap_or_default();
                work.push((name.clone(), cur));
                work.len() - 1
            }
        };
        let sets = &mut work[slot].1;
        let pos = |sets: &Vec<RRset>, t: Rtype| {
            sets.iter()
                .position(|r| r.rtype == t && r.rtype != Rtype::RRSIG)
        };
        match e {
            Edit::AddRr {
                rtype, ttl, rdata, ..
            } => match pos(sets, *rtype) {
                Some(i) => {
                    let mut all: Vec<&[u8]> = sets[i].rdatas().collect();
                    if !all.contains(&&rdata[..]) {
                        all.push(rdata);
                    }
                    sets[i] = RRset::new(*rtype, *ttl, &all);
                }
                None => sets.push(RRset::new(*rtype, *ttl, &[rdata])),
            },
            Edit::DeleteRr { rtype, rdata, .. } => {
                if let Some(i) = pos(sets, *rtype) {
                    let keep: Vec<&[u8]> = sets[i].rdatas().filter(|r| *r != &rdata[..]).collect();
                    if keep.is_empty() {
                        sets.remove(i);
                    } else {
                        sets[i] = RRset::new(*rtype, sets[i].ttl, &keep);
                    }
                }
            }
            Edit::DeleteRrset { rtype, .. } => sets
                .retain(|r| r.rtype != *rtype && !(r.rtype == Rtype::RRSIG && r.covers == *rtype)),
            Edit::DeleteName { .. } => sets.clear(),
            Edit::ReplaceRrset { rrset, .. } => {
                sets.retain(|r| r.rtype != rrset.rtype);
                if !rrset.is_empty() {
                    sets.push(rrset.clone());
                }
            }
        }
        sets.sort_by_key(|r| (r.rtype.0, r.covers.0));
    }
    work.sort_by(|a, b| a.0.canonical_cmp(&b.0));
    let serial = zone.serial().unwrap_or(0);
    let mut cs = Changeset {
        from: serial,
        to: serial,
        ..Changeset::default()
    };
    for (name, sets) in work {
        let old: Vec<RRset> = zone
            .find(name.as_wire())
            .map(|i| zone.node(i).rrsets.to_vec())
            .unwrap_or_default();
        let key = |r: &RRset| (r.rtype.0, r.covers.0);
        for o in &old {
            let n = sets.iter().find(|x| key(x) == key(o));
            if n != Some(o) {
                cs.push_rrsets(&name, Some(o), n);
            }
        }
        for n in sets
            .iter()
            .filter(|n| !old.iter().any(|o| key(o) == key(n)))
        {
            cs.push_rrsets(&name, None, Some(n));
        }
    }
    cs.removed.sort_by(entry_cmp);
    cs.added.sort_by(entry_cmp);
    Ok(cs)
}

/// `zone` with the changes between two versions of one of its sources played on it
/// (`old` and `new`: a zone file read twice, with its generated records): what
/// else `zone` holds (records from other sources) stays. The SOA becomes `new`'s,
/// serial included: the commit decides the served serial. Idempotent: removing what
/// `zone` lacks or adding what it holds changes nothing, so a source's change played
/// twice (after a crash between the journal and the saved reading) counts once.
pub fn carry(zone: &Zone, old: &Zone, new: &Zone) -> Result<Zone, UpdateError> {
    let apex = zone.origin();
    let cs = diff(old, new, usize::MAX).unwrap_or_default();
    let is_soa = |name: &Name, r: &RRset| r.rtype == Rtype::SOA && name == apex;
    let mut edits = Vec::new();
    for (name, rs) in cs.removed.iter().filter(|(n, r)| !is_soa(n, r)) {
        edits.extend(rs.rdatas().map(|rd| Edit::DeleteRr {
            name: name.clone(),
            rtype: rs.rtype,
            rdata: rd.into(),
        }));
    }
    for (name, rs) in cs.added.iter().filter(|(n, r)| !is_soa(n, r)) {
        edits.extend(rs.rdatas().map(|rd| Edit::AddRr {
            name: name.clone(),
            rtype: rs.rtype,
            ttl: rs.ttl,
            rdata: rd.into(),
        }));
    }
    let cs = resolve(zone, &edits)?;
    let out = if cs.is_empty() {
        zone.clone()
    } else {
        apply(zone, &cs)?
    };
    let soa = new.soa().ok_or(UpdateError::NoSoa)?;
    if out.soa() == Some(soa) {
        return Ok(out);
    }
    let mut apex_node = out.apex().clone();
    let sig = apex_node.rrsigs(Rtype::SOA).cloned();
    put_rrset(&mut apex_node, Rtype::SOA, Some(soa.clone()), sig);
    Ok(out.with_replaced(vec![(0, apex_node)]))
}

/// The edits that turn the generated records `old` into `new` (records are matched
/// by owner, type, TTL and data).
pub fn generated_edits(old: &[Generated], new: &[Generated]) -> Vec<Edit> {
    let same = |a: &Generated, b: &Generated| {
        a.owner == b.owner && a.rtype == b.rtype && a.ttl == b.ttl && a.rdata == b.rdata
    };
    let mut edits: Vec<Edit> = old
        .iter()
        .filter(|o| !new.iter().any(|n| same(o, n)))
        .map(|o| Edit::DeleteRr {
            name: o.owner.clone(),
            rtype: o.rtype,
            rdata: o.rdata.clone().into(),
        })
        .collect();
    edits.extend(
        new.iter()
            .filter(|n| !old.iter().any(|o| same(o, n)))
            .map(|n| Edit::AddRr {
                name: n.owner.clone(),
                rtype: n.rtype,
                ttl: n.ttl,
                rdata: n.rdata.clone().into(),
            }),
    );
    edits
}

/// A changeset with the SOA moved from `old` to serial `serial` added (the SOA RRset
/// replaced, as IXFR carries it); `zone` is the zone before.
pub fn with_soa_change(zone: &Zone, mut cs: Changeset, serial: u32) -> Option<Changeset> {
    let soa = zone.soa()?;
    let apex = zone.origin().clone();
    // A changeset that edits the SOA's other fields keeps them.
    let base = cs
        .added
        .iter()
        .find(|e| e.1.rtype == Rtype::SOA && e.0 == apex)
        .map_or_else(|| soa.clone(), |e| e.1.clone());
    let new = with_serial(&base, serial)?;
    cs.removed
        .retain(|e| !(e.1.rtype == Rtype::SOA && e.0 == apex));
    cs.added
        .retain(|e| !(e.1.rtype == Rtype::SOA && e.0 == apex));
    merge_into(&mut cs.removed, (apex.clone(), soa.clone()));
    merge_into(&mut cs.added, (apex, new));
    cs.to = serial;
    Some(cs)
}

pub mod codec;
pub mod dynamic;

#[cfg(test)]
mod tests;
