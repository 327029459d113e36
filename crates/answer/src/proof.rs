//! Authenticated denial in answers (RFC 4035 §3.1.3, RFC 5155 §7.2): which NSEC or
//! NSEC3 records, with their signatures, prove what a signed zone does not hold.
//!
//! Everything here reads the zone's own NSEC/NSEC3 records; the NSEC3 chain gets one
//! sorted hash index per zone, built with the catalog (off the query path).

use crate::{Data, Item, NameRef, Section};
use blason_zone::model::Node;
use blason_zone::name::{canonical_cmp_wire, label_offsets};
use blason_zone::{Rtype, Zone};
use std::sync::Arc;

/// Most NSEC3 iterations we hash on a query; more makes the zone answer as unsigned,
/// as BIND and Knot do (RFC 9276 §3.2 lets validators treat such zones as insecure).
const MAX_ITERATIONS: u16 = 150;

/// What the catalog knows about a zone's signing, computed once per snapshot.
#[derive(Clone)]
pub struct ZoneSec {
    /// Signed: a signed DNSKEY RRset at the apex and a signed NSEC or NSEC3PARAM there.
    pub secure: bool,
    /// Shared between snapshots with the same names (see [`ZoneSec::next`]).
    nsec3: Option<Arc<Nsec3Chain>>,
}

struct Nsec3Chain {
    iterations: u16,
    salt: Vec<u8>,
    /// The NSEC3 owner hashes, sorted, in runs that snapshots share: a name added
    /// or removed copies one run and the list of runs, not the chain. A hash leads
    /// to its node by the owner name (`hash.origin`), so nothing here moves when
    /// other names come and go.
    runs: Vec<Arc<Vec<[u8; 20]>>>,
    /// The first hash of each run.
    firsts: Vec<[u8; 20]>,
}

/// Hashes per run as built; a run splits in two past twice that.
const RUN: usize = 512;

impl ZoneSec {
    pub fn new(zone: &Zone) -> ZoneSec {
        ZoneSec::build(zone, None)
    }

    /// The `ZoneSec` of `zone`, reusing `prev`'s NSEC3 index when `zone` has the names
    /// of `prev_zone` and the same NSEC3 parameters: O(1) instead of a pass over the
    /// zone. When names were added or removed (a dynamic update), the NSEC3 owners
    /// among the nodes the two snapshots do not share are added or dropped: no pass
    /// over the zone, no sort.
    pub fn next(zone: &Zone, prev_zone: &Zone, prev: &ZoneSec) -> ZoneSec {
        if zone.same_names(prev_zone) {
            return ZoneSec::build(zone, prev.nsec3.as_ref());
        }
        if let Some(c) = &prev.nsec3 {
            let limit = (zone.nodes().len() / 8).max(4096);
            if let Some(pairs) = zone.changed_since(prev_zone, limit) {
                let (mut gone, mut added) = (Vec::new(), Vec::new());
                for (a, b) in pairs {
                    let (ha, hb) = (a.and_then(owner_hash), b.and_then(owner_hash));
                    if ha != hb {
                        gone.extend(ha);
                        added.extend(hb);
                    }
                }
                let moved = Arc::new(c.with_changes(&gone, &added));
                return ZoneSec::build(zone, Some(&moved));
            }
        }
        ZoneSec::build(zone, None)
    }

    fn build(zone: &Zone, reuse: Option<&Arc<Nsec3Chain>>) -> ZoneSec {
        let apex = zone.apex();
        let signed = |t: Rtype| apex.rrset(t).is_some() && apex.rrsigs(t).is_some();
        let nsec3param = apex
            .rrset(Rtype::NSEC3PARAM)
            .and_then(|r| r.first())
            .and_then(parse_nsec3param);
        let secure_denial =
            signed(Rtype::NSEC) || (signed(Rtype::NSEC3PARAM) && nsec3param.is_some());
        let mut secure = signed(Rtype::DNSKEY) && secure_denial;
        let mut nsec3 = None;
        if let Some((iterations, salt)) = nsec3param {
            if iterations > MAX_ITERATIONS {
                secure = false;
            } else if secure {
                nsec3 = Some(match reuse {
                    Some(c) if c.iterations == iterations && c.salt == salt => c.clone(),
                    _ => Arc::new(Nsec3Chain::new(zone, iterations, salt)),
                });
            }
        }
        ZoneSec { secure, nsec3 }
    }
}

/// The hash in the owner of a node holding an NSEC3.
fn owner_hash(n: &Node) -> Option<[u8; 20]> {
    n.rrset(Rtype::NSEC3)?;
    let label = n.name.labels().next()?;
    let mut h = Vec::with_capacity(20);
    blason_zone::encoding::base32hex_decode(label, &mut h).ok()?;
    h.try_into().ok()
}

/// (iterations, salt) of an NSEC3PARAM with hash algorithm 1 (SHA-1).
fn parse_nsec3param(d: &[u8]) -> Option<(u16, Vec<u8>)> {
    if d.len() < 5 || d[0] != 1 {
        return None;
    }
    let iterations = u16::from_be_bytes([d[2], d[3]]);
    let salt = d.get(5..5 + d[4] as usize)?.to_vec();
    Some((iterations, salt))
}

impl Nsec3Chain {
    fn new(zone: &Zone, iterations: u16, salt: Vec<u8>) -> Nsec3Chain {
        let mut hashes: Vec<[u8; 20]> = zone.nodes().iter().filter_map(owner_hash).collect();
        hashes.sort_unstable();
        hashes.dedup();
        let runs: Vec<Arc<Vec<[u8; 20]>>> =
            hashes.chunks(RUN).map(|r| Arc::new(r.to_vec())).collect();
        Nsec3Chain {
            iterations,
            salt,
            firsts: runs.iter().map(|r| r[0]).collect(),
            runs,
        }
    }

    /// This chain with the hashes `gone` taken out and `added` put in: the runs
    /// touched are copied, the others shared.
    fn with_changes(&self, gone: &[[u8; 20]], added: &[[u8; 20]]) -> Nsec3Chain {
        let mut runs = self.runs.clone();
        let mut firsts = self.firsts.clone();
        let run_of = |firsts: &[[u8; 20]], h: &[u8; 20]| {
            firsts.partition_point(|f| f <= h).saturating_sub(1)
        };
        for h in gone {
            let r = run_of(&firsts, h);
            let Some(run) = runs.get_mut(r) else { continue };
            if let Ok(i) = run.binary_search(h) {
                let v = Arc::make_mut(run);
                v.remove(i);
                if v.is_empty() {
                    runs.remove(r);
                    firsts.remove(r);
                } else {
                    firsts[r] = v[0];
                }
            }
        }
        for h in added {
            if runs.is_empty() {
                runs.push(Arc::new(vec![*h]));
                firsts.push(*h);
                continue;
            }
            let r = run_of(&firsts, h);
            let v = Arc::make_mut(&mut runs[r]);
            if let Err(i) = v.binary_search(h) {
                v.insert(i, *h);
                firsts[r] = v[0];
                if v.len() > 2 * RUN {
                    let tail = v.split_off(RUN);
                    firsts.insert(r + 1, tail[0]);
                    runs.insert(r + 1, Arc::new(tail));
                }
            }
        }
        Nsec3Chain {
            iterations: self.iterations,
            salt: self.salt.clone(),
            runs,
            firsts,
        }
    }

    /// Run and place of hash `h`: Ok if present, else where it would go.
    fn locate(&self, h: &[u8; 20]) -> (usize, Result<usize, usize>) {
        let r = self.firsts.partition_point(|f| f <= h).saturating_sub(1);
        match self.runs.get(r) {
            Some(run) => (r, run.binary_search(h)),
            None => (0, Err(0)),
        }
    }

    /// The node whose owner is `h` under the zone's origin.
    fn node_of(zone: &Zone, h: &[u8; 20]) -> Option<usize> {
        let origin = zone.origin().as_wire();
        let mut w = [0u8; 256];
        if origin.len() + 33 > w.len() {
            return None;
        }
        w[0] = 32;
        blason_zone::encoding::base32hex_encode_into(h, &mut w[1..33])?;
        w[33..33 + origin.len()].copy_from_slice(origin);
        zone.find(&w[..33 + origin.len()])
    }

    /// RFC 5155 §5: IH(salt, x, k), x the canonical (lower-case) wire name.
    fn hash(&self, name: &[u8]) -> [u8; 20] {
        let mut lower = [0u8; 255];
        let n = name.len().min(255);
        lower[..n].copy_from_slice(&name[..n]);
        lower[..n].make_ascii_lowercase();
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
        ctx.update(&lower[..n]);
        ctx.update(&self.salt);
        let mut h = [0u8; 20];
        h.copy_from_slice(ctx.finish().as_ref());
        for _ in 0..self.iterations {
            let mut ctx = ring::digest::Context::new(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY);
            ctx.update(&h);
            ctx.update(&self.salt);
            h.copy_from_slice(ctx.finish().as_ref());
        }
        h
    }

    fn matching(&self, zone: &Zone, name: &[u8]) -> Option<usize> {
        let h = self.hash(name);
        match self.locate(&h) {
            (_, Ok(_)) => Self::node_of(zone, &h),
            _ => None,
        }
    }

    /// The NSEC3 whose owner hash precedes `name`'s hash (the chain wraps around).
    fn covering(&self, zone: &Zone, name: &[u8]) -> Option<usize> {
        let h = self.hash(name);
        let prev = match self.locate(&h) {
            (_, Ok(_)) => return None, // it exists: nothing covers it
            (0, Err(0)) => *self.runs.last()?.last()?,
            (r, Err(0)) => *self.runs.get(r - 1)?.last()?,
            (r, Err(i)) => self.runs[r][i - 1],
        };
        Self::node_of(zone, &prev)
    }
}

/// Pushes the NSEC or NSEC3 RRset of `node` and its signature, once.
fn push_denial<'a, const N: usize>(node: &'a Node, t: Rtype, auth: &mut Section<'a, N>) {
    let owner = NameRef::Wire(node.name.as_wire());
    if let Some(rs) = node.rrset(t) {
        if auth
            .iter()
            .any(|it| matches!(it.data, Data::Set(s) if std::ptr::eq(s, rs)))
        {
            return;
        }
        auth.push(Item {
            owner,
            data: Data::Set(rs),
            required: false,
        });
        if let Some(sig) = node.rrsigs(t) {
            auth.push(Item {
                owner,
                data: Data::Set(sig),
                required: false,
            });
        }
    }
}

/// Index of the last node at or before `name` in canonical order.
fn predecessor(zone: &Zone, name: &[u8]) -> usize {
    let nodes = zone.nodes();
    match nodes.binary_search_by(|n| canonical_cmp_wire(n.name.as_wire(), name)) {
        Ok(i) => i,
        Err(0) => 0,
        Err(i) => i - 1,
    }
}

/// The NSEC record at or before `name`, i.e. matching or covering it.
fn nsec_at_or_before(zone: &Zone, name: &[u8]) -> Option<usize> {
    let nodes = zone.nodes();
    let mut i = predecessor(zone, name);
    loop {
        if nodes[i].rrset(Rtype::NSEC).is_some() {
            return Some(i);
        }
        i = i.checked_sub(1)?;
    }
}

/// `*.` + the name of node `ce`, in `buf`.
fn wildcard_of<'b>(zone: &Zone, ce: usize, buf: &'b mut [u8; 256]) -> Option<&'b [u8]> {
    let w = zone.node(ce).name.as_wire();
    if w.len() + 2 > 255 {
        return None;
    }
    buf[0] = 1;
    buf[1] = b'*';
    buf[2..2 + w.len()].copy_from_slice(w);
    Some(&buf[..2 + w.len()])
}

/// The name one label longer than the closest encloser `ce`, on the way to `name`.
fn next_closer<'n>(zone: &Zone, ce: usize, name: &'n [u8]) -> &'n [u8] {
    let want = zone.node(ce).name.label_count() + 1;
    let offs = label_offsets(name);
    let have = offs.len();
    if have < want {
        return name;
    }
    &name[offs.at(have - want)..]
}

/// The closest encloser proof (RFC 5155 §7.2.1): the NSEC3 matching the closest
/// encloser `ce` and the one covering the next closer name on the way to `name`.
fn closest_encloser_proof<'a, const N: usize>(
    zone: &'a Zone,
    c: &Nsec3Chain,
    ce: usize,
    name: &[u8],
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    if let Some(m) = c.matching(zone, nodes[ce].name.as_wire()) {
        push_denial(nodes.at(m), Rtype::NSEC3, auth);
    }
    if let Some(k) = c.covering(zone, next_closer(zone, ce, name)) {
        push_denial(nodes.at(k), Rtype::NSEC3, auth);
    }
}

/// NODATA at an existing name (`node` is its index): its NSEC, or for an empty
/// non-terminal the NSEC covering it; with NSEC3 the NSEC3 matching it.
pub fn nodata<'a, const N: usize>(
    zone: &'a Zone,
    sec: &ZoneSec,
    node: usize,
    name: &[u8],
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    match &sec.nsec3 {
        Some(c) => {
            if let Some(m) = c.matching(zone, name) {
                push_denial(nodes.at(m), Rtype::NSEC3, auth);
            }
        }
        None => {
            let i = if nodes[node].rrset(Rtype::NSEC).is_some() {
                Some(node)
            } else {
                nsec_at_or_before(zone, name)
            };
            if let Some(i) = i {
                push_denial(nodes.at(i), Rtype::NSEC, auth);
            }
        }
    }
}

/// NXDOMAIN: the name and the wildcard at its closest encloser `ce` do not exist.
pub fn nxdomain<'a, const N: usize>(
    zone: &'a Zone,
    sec: &ZoneSec,
    ce: usize,
    name: &[u8],
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    let mut wbuf = [0u8; 256];
    match &sec.nsec3 {
        Some(c) => {
            closest_encloser_proof(zone, c, ce, name, auth);
            if let Some(w) = wildcard_of(zone, ce, &mut wbuf) {
                if let Some(k) = c.covering(zone, w) {
                    push_denial(nodes.at(k), Rtype::NSEC3, auth);
                }
            }
        }
        None => {
            if let Some(i) = nsec_at_or_before(zone, name) {
                push_denial(nodes.at(i), Rtype::NSEC, auth);
            }
            if let Some(w) = wildcard_of(zone, ce, &mut wbuf) {
                if let Some(i) = nsec_at_or_before(zone, w) {
                    push_denial(nodes.at(i), Rtype::NSEC, auth);
                }
            }
        }
    }
}

/// A wildcard expanded for `name`: prove that `name` itself does not exist.
pub fn wildcard_answer<'a, const N: usize>(
    zone: &'a Zone,
    sec: &ZoneSec,
    ce: usize,
    name: &[u8],
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    match &sec.nsec3 {
        Some(c) => {
            if let Some(k) = c.covering(zone, next_closer(zone, ce, name)) {
                push_denial(nodes.at(k), Rtype::NSEC3, auth);
            }
        }
        None => {
            if let Some(i) = nsec_at_or_before(zone, name) {
                push_denial(nodes.at(i), Rtype::NSEC, auth);
            }
        }
    }
}

/// A wildcard matched but lacks the type: no exact name, and the wildcard's own
/// NSEC/NSEC3 shows the type missing.
pub fn wildcard_nodata<'a, const N: usize>(
    zone: &'a Zone,
    sec: &ZoneSec,
    ce: usize,
    w: usize,
    name: &[u8],
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    match &sec.nsec3 {
        Some(c) => {
            closest_encloser_proof(zone, c, ce, name, auth);
            if let Some(m) = c.matching(zone, nodes[w].name.as_wire()) {
                push_denial(nodes.at(m), Rtype::NSEC3, auth);
            }
        }
        None => {
            if let Some(i) = nsec_at_or_before(zone, name) {
                push_denial(nodes.at(i), Rtype::NSEC, auth);
            }
            push_denial(nodes.at(w), Rtype::NSEC, auth);
        }
    }
}

/// A referral to a delegation without DS: the cut's NSEC/NSEC3 shows NS and no DS.
pub fn insecure_referral<'a, const N: usize>(
    zone: &'a Zone,
    sec: &ZoneSec,
    cut: usize,
    auth: &mut Section<'a, N>,
) {
    let nodes = zone.nodes();
    match &sec.nsec3 {
        Some(c) => {
            if let Some(m) = c.matching(zone, nodes[cut].name.as_wire()) {
                push_denial(nodes.at(m), Rtype::NSEC3, auth);
            }
        }
        None => push_denial(nodes.at(cut), Rtype::NSEC, auth),
    }
}
