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
    /// SHA-1 owner hashes, sorted, with the node holding each NSEC3.
    hashes: Vec<([u8; 20], u32)>,
}

impl ZoneSec {
    pub fn new(zone: &Zone) -> ZoneSec {
        ZoneSec::build(zone, None)
    }

    /// The `ZoneSec` of `zone`, reusing `prev`'s NSEC3 index when `zone` has the names
    /// of `prev_zone` (a patched snapshot of it) and the same NSEC3 parameters: O(1)
    /// instead of a pass over the zone.
    /// When names were only inserted or removed (a name added or deleted
    /// incrementally), the index is shifted and the NSEC3s added or dropped: no
    /// hashing, no sort.
    pub fn next(zone: &Zone, prev_zone: &Zone, prev: &ZoneSec) -> ZoneSec {
        if zone.same_names(prev_zone) {
            return ZoneSec::build(zone, prev.nsec3.as_ref());
        }
        if let (Some(ins), Some(c)) = (zone.inserted_since(prev_zone), &prev.nsec3) {
            let mut hashes: Vec<([u8; 20], u32)> = c
                .hashes
                .iter()
                .filter(|e| !ins.is_removed(e.1))
                .map(|&(h, i)| (h, ins.shift(i)))
                .collect();
            for &j in ins.added.iter() {
                if let Some(h) = owner_hash(zone.node(j as usize)) {
                    let at = hashes.partition_point(|e| e.0 < h);
                    hashes.insert(at, (h, j));
                }
            }
            let shifted = Arc::new(Nsec3Chain {
                iterations: c.iterations,
                salt: c.salt.clone(),
                hashes,
            });
            return ZoneSec::build(zone, Some(&shifted));
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
        let mut hashes = Vec::new();
        for (i, n) in zone.nodes().iter().enumerate() {
            if let Some(h) = owner_hash(n) {
                hashes.push((h, i as u32));
            }
        }
        hashes.sort_unstable();
        Nsec3Chain {
            iterations,
            salt,
            hashes,
        }
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

    fn matching(&self, name: &[u8]) -> Option<usize> {
        let h = self.hash(name);
        self.hashes
            .binary_search_by(|e| e.0.cmp(&h))
            .ok()
            .map(|i| self.hashes[i].1 as usize)
    }

    /// The NSEC3 whose owner hash precedes `name`'s hash (the chain wraps around).
    fn covering(&self, name: &[u8]) -> Option<usize> {
        let h = self.hash(name);
        let i = match self.hashes.binary_search_by(|e| e.0.cmp(&h)) {
            Ok(_) => return None, // it exists: nothing covers it
            Err(i) => i,
        };
        let at = if i == 0 {
            self.hashes.len().checked_sub(1)?
        } else {
            i - 1
        };
        Some(self.hashes[at].1 as usize)
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
    if let Some(m) = c.matching(nodes[ce].name.as_wire()) {
        push_denial(nodes.at(m), Rtype::NSEC3, auth);
    }
    if let Some(k) = c.covering(next_closer(zone, ce, name)) {
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
            if let Some(m) = c.matching(name) {
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
                if let Some(k) = c.covering(w) {
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
            if let Some(k) = c.covering(next_closer(zone, ce, name)) {
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
            if let Some(m) = c.matching(nodes[w].name.as_wire()) {
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
            if let Some(m) = c.matching(nodes[cut].name.as_wire()) {
                push_denial(nodes.at(m), Rtype::NSEC3, auth);
            }
        }
        None => push_denial(nodes.at(cut), Rtype::NSEC, auth),
    }
}
