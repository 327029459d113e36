//! The zone model: an immutable snapshot of one zone.
//!
//! Nodes are kept in DNSSEC canonical order (RFC 4034 §6.1), empty non-terminals
//! included, so the same vector serves exact lookups (through a case-insensitive hash
//! index), closest-encloser searches, and NSEC chains and predecessor searches for
//! signing and denial. Each node holds its RRsets sorted by type; each RRset keeps its
//! rdatas in one allocation. Cuts, glue and occluded names are flagged at build time.

use crate::finding::{Finding, Severity};
use crate::name::{canonical_key_into, Name};
use crate::rdata::walk;
use crate::scanner::{Parsed, Record, Records, Src};
use crate::types::{Class, Rtype};

use crate::store::Store;
pub use crate::store::{Nodes, NodesIter};

/// Node flags.
pub mod flags {
    /// The zone apex.
    pub const APEX: u8 = 1;
    /// A delegation point: NS below the apex.
    pub const DELEGATION: u8 = 2;
    /// Below a delegation point: glue or occluded data, not authoritative.
    pub const BELOW_CUT: u8 = 4;
    /// First label is `*`.
    pub const WILDCARD: u8 = 8;
    /// An empty non-terminal: no records, but names below it exist.
    pub const ENT: u8 = 16;
    /// Below a DNAME owner: occluded (RFC 6672 §2.4).
    pub const BELOW_DNAME: u8 = 32;
    /// Has a child named `*` (a wildcard directly below).
    pub const WILDCARD_CHILD: u8 = 64;
}

/// The records of one owner and type, rdatas in uncompressed wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RRset {
    pub rtype: Rtype,
    /// For RRSIG: the type covered (RRSIGs form one RRset per covered type, each with
    /// its own TTL). Zero otherwise.
    pub covers: Rtype,
    pub ttl: u32,
    /// Each rdata as a big-endian u16 length then its octets.
    data: Box<[u8]>,
}

impl RRset {
    /// Builds an RRset from rdatas (the caller ensures no duplicates).
    pub fn new(rtype: Rtype, ttl: u32, rdatas: &[&[u8]]) -> RRset {
        let covers = match (rtype, rdatas.first()) {
            (Rtype::RRSIG, Some(r)) if r.len() >= 2 => Rtype(u16::from_be_bytes([r[0], r[1]])),
            _ => Rtype(0),
        };
        let total: usize = rdatas.iter().map(|r| r.len() + 2).sum();
        let mut data = Vec::with_capacity(total);
        for r in rdatas {
            data.extend_from_slice(&(r.len() as u16).to_be_bytes());
            data.extend_from_slice(r);
        }
        RRset {
            rtype,
            ttl,
            covers,
            data: data.into_boxed_slice(),
        }
    }

    pub fn len(&self) -> usize {
        self.rdatas().count()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The rdatas in wire form.
    pub fn rdatas(&self) -> RdataIter<'_> {
        RdataIter {
            data: &self.data,
            pos: 0,
        }
    }

    /// The first rdata (e.g. the SOA, or a CNAME's target).
    pub fn first(&self) -> Option<&[u8]> {
        self.rdatas().next()
    }

    /// The rdatas as stored: each a big-endian u16 length then its octets.
    pub fn wire_data(&self) -> &[u8] {
        &self.data
    }

    /// An RRset from [`RRset::wire_data`]'s form; None when the lengths do not frame
    /// `data` exactly (bytes from a file or a peer are checked, never trusted).
    pub fn from_wire_data(rtype: Rtype, ttl: u32, data: &[u8]) -> Option<RRset> {
        let mut p = 0;
        while p < data.len() {
            let len = u16::from_be_bytes([data[p], *data.get(p + 1)?]) as usize;
            p += 2 + len;
        }
        if p != data.len() {
            return None;
        }
        let covers = match rtype {
            Rtype::RRSIG if data.len() >= 4 => Rtype(u16::from_be_bytes([data[2], data[3]])),
            Rtype::RRSIG => return None,
            _ => Rtype(0),
        };
        Some(RRset {
            rtype,
            covers,
            ttl,
            data: data.into(),
        })
    }
}

/// Iterator over the rdatas of an RRset.
pub struct RdataIter<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for RdataIter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.pos + 2 > self.data.len() {
            return None;
        }
        let len = u16::from_be_bytes([self.data[self.pos], self.data[self.pos + 1]]) as usize;
        let r = &self.data[self.pos + 2..self.pos + 2 + len];
        self.pos += 2 + len;
        Some(r)
    }
}

/// One owner name and its RRsets.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: Name,
    pub rrsets: Box<[RRset]>,
    pub flags: u8,
}

impl Node {
    /// The RRset of type `t` (for RRSIG: the first; see [`Node::rrsigs`]).
    #[inline]
    pub fn rrset(&self, t: Rtype) -> Option<&RRset> {
        self.rrsets.iter().find(|r| r.rtype == t)
    }
    /// The RRSIG RRset covering `t`.
    #[inline]
    pub fn rrsigs(&self, t: Rtype) -> Option<&RRset> {
        self.rrsets
            .iter()
            .find(|r| r.rtype == Rtype::RRSIG && r.covers == t)
    }
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// True if the node is authoritative data of this zone (not glue, not occluded).
    #[inline]
    pub fn is_authoritative(&self) -> bool {
        self.flags & (flags::BELOW_CUT | flags::BELOW_DNAME) == 0
    }
}

/// An immutable zone.
///
/// Snapshots share structure: the nodes live in chunks and the name index in
/// shards ([`crate::store`]), both behind `Arc`s, so a snapshot that differs from
/// its parent in a few nodes, or a few names, copies only the chunks and shards it
/// touches and the table of chunks.
#[derive(Clone)]
pub struct Zone {
    origin: Name,
    class: Class,
    store: Store,
}

/// Case-insensitive hash of a wire name (FxHash-style: the index is internal and
/// zone data is trusted, so a fast non-keyed hash is appropriate). Letters are folded
/// eight bytes at a time.
#[inline]
pub fn hash_name(wire: &[u8]) -> u64 {
    let mut h: u64 = 0;
    let mut chunks = wire.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ fold_upper(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ fold_upper(u64::from_le_bytes(b)))
            .wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    h ^ (h >> 29)
}

/// Sets bit 0x20 in every byte of `w` that is an ASCII upper-case letter.
#[inline]
fn fold_upper(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = w & !HIGH;
    // High bit set where low7 >= 'A', and where low7 > 'Z'.
    let ge_a = low7.wrapping_add((0x80 - b'A' as u64) * ONES);
    let gt_z = low7.wrapping_add((0x80 - b'Z' as u64 - 1) * ONES);
    let upper = ge_a & !gt_z & !w & HIGH;
    w | (upper >> 2)
}

/// What building a zone learned about where each RRset came from (for checks).
pub struct BuildInfo {
    /// For each node, the index of its first entry in `src`.
    pub node_start: Vec<u32>,
    /// Source of each RRset's first record, in node and RRset order.
    pub src: Vec<Src>,
    /// For RRsets of singleton types (SOA, CNAME, DNAME) holding more than one record:
    /// (index into `src`, source of the second record), so checks can name the line
    /// that broke the rule, as BIND does.
    pub second_src: Vec<(u32, Src)>,
}

impl BuildInfo {
    pub fn rrset_src(&self, node: usize, rrset: usize) -> Src {
        self.src[self.node_start[node] as usize + rrset]
    }
}

impl Zone {
    pub fn origin(&self) -> &Name {
        &self.origin
    }
    pub fn class(&self) -> Class {
        self.class
    }
    #[inline]
    pub fn nodes(&self) -> Nodes<'_> {
        Nodes::of(&self.store)
    }
    pub fn apex(&self) -> &Node {
        self.store.at(0)
    }
    /// Node `i` (panics out of bounds), borrowed from the zone rather than a view.
    #[inline]
    pub fn node(&self, i: usize) -> &Node {
        self.nodes().at(i)
    }
    /// The SOA RRset, which every built zone has.
    pub fn soa(&self) -> Option<&RRset> {
        self.nodes().first().and_then(|n| n.rrset(Rtype::SOA))
    }

    /// True if both snapshots have the same names at the same indices (one derives
    /// from the other through [`Zone::with_replaced`]), so per-name indexes built for
    /// one serve the other.
    pub fn same_names(&self, other: &Zone) -> bool {
        self.store.same_names(&other.store)
    }

    /// A new snapshot in which node `i` is replaced by `node` for each pair, sharing
    /// everything else with `self`: O(chunks touched), not O(zone). Every replacement
    /// must keep the node's name (checked); if one does not, the zone is rebuilt whole.
    pub fn with_replaced(&self, repl: Vec<(usize, Node)>) -> Zone {
        let mut zone = self.clone();
        zone.replace_nodes(repl);
        zone
    }

    /// [`Zone::with_replaced`] on this snapshot itself: what no other snapshot
    /// shares is changed in place, not copied.
    pub fn replace_nodes(&mut self, repl: Vec<(usize, Node)>) {
        let n = self.store.len();
        let names_kept = repl
            .iter()
            .all(|(i, node)| *i < n && node.name.as_wire() == self.node(*i).name.as_wire());
        if !names_kept {
            let mut nodes = self.nodes().to_vec();
            let mut extra = Vec::new();
            for (i, node) in repl {
                match nodes.get_mut(i) {
                    Some(slot) => *slot = node,
                    None => extra.push(node),
                }
            }
            nodes.extend(extra);
            *self = Zone::from_nodes(&self.origin, self.class, nodes);
            return;
        }
        // Later replacements of one index win, as they come last.
        for (i, node) in repl {
            self.store.replace(i, node);
        }
    }

    /// A new snapshot with `insert` nodes added, each before the node that has the
    /// given index in `self` (their names new, canonical order kept), and `replace`
    /// nodes put at indices of `self` (names kept). O(changed chunks + chunk table):
    /// existing names are neither copied, sorted nor hashed again.
    pub fn with_inserted(&self, replace: Vec<(usize, Node)>, insert: Vec<(usize, Node)>) -> Zone {
        self.with_spliced(replace, insert, Vec::new())
    }

    /// [`Zone::with_inserted`] that also removes the nodes at the indices `remove` of
    /// `self` (the names left must still hold every ancestor of a name).
    pub fn with_spliced(
        &self,
        replace: Vec<(usize, Node)>,
        insert: Vec<(usize, Node)>,
        remove: Vec<usize>,
    ) -> Zone {
        let mut zone = self.clone();
        zone.splice(replace, insert, remove);
        zone
    }

    /// [`Zone::with_spliced`] on this snapshot itself: what no other snapshot
    /// shares is changed in place, not copied.
    pub fn splice(
        &mut self,
        replace: Vec<(usize, Node)>,
        mut insert: Vec<(usize, Node)>,
        mut remove: Vec<usize>,
    ) {
        insert.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.name.canonical_cmp(&b.1.name))
        });
        remove.sort_unstable();
        remove.dedup();
        let zone = self;
        for (i, node) in replace {
            zone.store.replace(i, node);
        }
        // From the end, so that the parent's indices below stay valid: at each index,
        // the removal first, then the insertions before it, last name first.
        let mut ins = insert.into_iter().rev().peekable();
        let mut gone = remove.into_iter().rev().peekable();
        loop {
            let next_ins = ins.peek().map(|x| x.0);
            let next_gone = gone.peek().copied();
            match (next_ins, next_gone) {
                (None, None) => break,
                (Some(p), Some(r)) if r >= p => {
                    zone.store.remove(r);
                    gone.next();
                }
                (None, Some(r)) => {
                    zone.store.remove(r);
                    gone.next();
                }
                (Some(p), _) => {
                    let (_, node) = ins.next().expect("peeked");
                    zone.store.insert(p, node);
                }
            }
        }
    }

    /// True if one snapshot derives from the other by changes (no rebuild between
    /// them), so that [`Zone::changed_since`] can look at what they do not share.
    pub fn same_lineage(&self, other: &Zone) -> bool {
        self.store.same_lineage(&other.store)
    }

    /// The nodes of `old` and `self` that may differ, paired by name in canonical
    /// order (a name on one side only has None on the other): those outside the
    /// chunks both snapshots share, O(chunks + changed). None past `limit` nodes, or
    /// when the two were built apart (see [`Zone::same_lineage`]).
    pub fn changed_since<'a>(
        &'a self,
        old: &'a Zone,
        limit: usize,
    ) -> Option<Vec<(Option<&'a Node>, Option<&'a Node>)>> {
        Store::changed_pairs(&old.store, &self.store, limit)
    }

    /// The nodes, owned: moved out of chunks no other snapshot holds, copied
    /// otherwise.
    pub fn into_nodes(self) -> Vec<Node> {
        self.store.into_vec()
    }
    /// The SOA serial.
    pub fn serial(&self) -> Option<u32> {
        let soa = self.soa()?.first()?;
        let mut p = 0;
        for _ in 0..2 {
            p += crate::name::wire_name_len(soa, p)?;
        }
        Some(u32::from_be_bytes(soa.get(p..p + 4)?.try_into().ok()?))
    }

    /// Exact lookup of a wire name (any case).
    #[inline]
    pub fn find(&self, wire: &[u8]) -> Option<usize> {
        self.store.find(wire)
    }

    /// Index of the last node whose name sorts canonically at or before `name`.
    pub fn predecessor(&self, name: &Name) -> usize {
        match self
            .nodes()
            .binary_search_by(|n| n.name.canonical_cmp(name))
        {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        }
    }

    /// Builds a zone from nodes whose flags are already set (a signed copy of a built
    /// zone, for example): sorts them into canonical order if they are not, and indexes
    /// them. The first node must be the apex.
    pub fn from_nodes(origin: &Name, class: Class, mut nodes: Vec<Node>) -> Zone {
        if !nodes
            .windows(2)
            .all(|w| w[0].name.canonical_cmp(&w[1].name) == std::cmp::Ordering::Less)
        {
            nodes.sort_by(|a, b| a.name.canonical_cmp(&b.name));
            nodes.dedup_by(|a, b| a.name == b.name);
        }
        Zone::from_parts(origin, class, nodes)
    }

    fn from_parts(origin: &Name, class: Class, nodes: Vec<Node>) -> Zone {
        Zone {
            origin: origin.clone(),
            class,
            store: Store::from_vec(nodes),
        }
    }

    /// Builds a zone from parsed records. Records outside `origin` are dropped with a
    /// finding; duplicates are merged. A zone without an SOA at its apex gets an error
    /// finding (it is still returned so that checks can report everything).
    pub fn build(origin: &Name, class: Class, parsed: &mut Parsed) -> (Zone, BuildInfo) {
        let records = std::mem::take(&mut parsed.records);
        let (mut findings, zone, info) = build_inner(origin, class, records, parsed);
        parsed.findings.append(&mut findings);
        (zone, info)
    }
}

fn out_of_zone_fix(owner: &Name, origin: &Name) -> String {
    format!(
        "'{owner}' is not under '{origin}', so it is dropped. If the name belongs to another zone (a provider's host name such as 'ksXXXXXX.kimsufi.com.' copied from a tutorial), remove the line or move it into that zone. If you meant a name inside this zone, write it relative (no trailing dot) or end it with '{origin}'. If a relative name picked up the wrong $ORIGIN, add or remove the trailing dot."
    )
}

fn build_inner(
    origin: &Name,
    class: Class,
    records: Records,
    parsed: &Parsed,
) -> (Vec<Finding>, Zone, BuildInfo) {
    let mut findings = Vec::new();
    let recs = &records.recs;

    // Runs: maximal stretches of consecutive records with the same owner (the reader
    // stores one copy of an owner per run). Sorting runs, not records, halves the work.
    let mut runs: Vec<(u32, u32)> = Vec::with_capacity(recs.len() / 2 + 1);
    let mut i = 0;
    while i < recs.len() {
        let mut j = i + 1;
        while j < recs.len() && recs[j].name_off == recs[i].name_off {
            j += 1;
        }
        runs.push((i as u32, j as u32));
        i = j;
    }
    // Drop out-of-zone data, as BIND does, naming it.
    runs.retain(|&(a, b)| {
        let owner = records.view(&recs[a as usize]).owner;
        if crate::name::wire_is_subdomain(owner, origin.as_wire()) {
            return true;
        }
        for r in &recs[a as usize..b as usize] {
            let n = Name::from_wire_unchecked(owner);
            findings.push(Finding::new(
                "out-of-zone",
                Severity::Warning,
                Some(parsed.place(r.src)),
                format!(
                    "ignoring out-of-zone data ({}): the name is outside the zone {}",
                    n, origin
                ),
                out_of_zone_fix(&n, origin),
            ));
        }
        false
    });

    // Canonical keys of each run's owner relative to the origin (every name left is
    // below it), in one arena; then sort runs by key. The first 8 key bytes ride along
    // in the sorted array so most comparisons never touch the arena.
    let origin_key_len = {
        let mut k = Vec::new();
        canonical_key_into(origin.as_wire(), &mut k);
        k.len()
    };
    let mut arena: Vec<u8> = Vec::with_capacity(runs.len() * 16);
    let mut keys: Vec<(u32, u32)> = Vec::with_capacity(runs.len());
    let mut scratch = Vec::with_capacity(256);
    for &(a, _) in &runs {
        scratch.clear();
        canonical_key_into(records.view(&recs[a as usize]).owner, &mut scratch);
        let start = arena.len();
        arena.extend_from_slice(&scratch[origin_key_len.min(scratch.len())..]);
        keys.push((start as u32, (arena.len() - start) as u32));
    }
    let key = |r: u32| -> &[u8] {
        let (s, l) = keys[r as usize];
        &arena[s as usize..(s + l) as usize]
    };
    let prefix = |r: u32| -> u64 {
        let k = key(r);
        let mut b = [0u8; 8];
        let n = k.len().min(8);
        b[..n].copy_from_slice(&k[..n]);
        u64::from_be_bytes(b)
    };
    let mut sorted: Vec<(u64, u32)> = (0..runs.len() as u32).map(|r| (prefix(r), r)).collect();
    // Zone files are often already in order: check before sorting.
    if !sorted.windows(2).all(|w| key(w[0].1) < key(w[1].1)) {
        sorted.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| key(a.1).cmp(key(b.1)))
                .then(a.1.cmp(&b.1))
        });
    }
    let order: Vec<u32> = sorted.into_iter().map(|(_, r)| r).collect();

    // Nodes from the sorted runs; on a large zone the two halves (split between two
    // owners) are built on two threads and joined.
    let build_part = |order: &[u32]| -> Part {
        let mut part = Part::default();
        part.nodes.reserve(order.len());
        part.node_start.reserve(order.len());
        part.src.reserve(order.len() * 2);
        let mut canon_a = Vec::new();
        let mut canon_b = Vec::new();
        let mut idx: Vec<u32> = Vec::new();
        let mut rrsets: Vec<RRset> = Vec::new();
        let mut kept: Vec<&[u8]> = Vec::new();
        let mut kept_canon: Vec<Vec<u8>> = Vec::new();
        let mut oi = 0;
        while oi < order.len() {
            // Runs oi..oj share an owner; gather their records.
            let mut oj = oi + 1;
            while oj < order.len() && key(order[oj]) == key(order[oi]) {
                oj += 1;
            }
            idx.clear();
            for &r in &order[oi..oj] {
                let (a, b) = runs[r as usize];
                idx.extend(a..b);
            }
            // By type (RRSIG also by type covered), then file order.
            let tkey = |i: u32| {
                let r = &recs[i as usize];
                (r.rtype, covers(records.view(r)), i)
            };
            if !idx.windows(2).all(|w| tkey(w[0]) < tkey(w[1])) {
                idx.sort_unstable_by_key(|&i| tkey(i));
            }
            rrsets.clear();
            part.node_start.push(part.src.len() as u32);
            let mut k = 0;
            while k < idx.len() {
                let r0 = records.view(&recs[idx[k] as usize]);
                let c0 = covers(r0);
                let mut m = k + 1;
                while m < idx.len() {
                    let r = records.view(&recs[idx[m] as usize]);
                    if r.rtype != r0.rtype || covers(r) != c0 {
                        break;
                    }
                    m += 1;
                }
                kept.clear();
                kept_canon.clear();
                let mut ttl = r0.ttl;
                for &ri in &idx[k..m] {
                    let r = records.view(&recs[ri as usize]);
                    if m - k > 1 {
                        canonical_rdata(r.rtype, r.rdata, &mut canon_a);
                        if kept_canon.contains(&canon_a) {
                            part.findings.push(Finding::new(
                                "duplicate-record",
                                Severity::Note,
                                Some(parsed.place(r.src)),
                                format!(
                                    "{} {} repeats a record already in the zone; the copy is ignored",
                                    r.owner_name(),
                                    r.rtype
                                ),
                                "remove the repeated line",
                            ));
                            continue;
                        }
                        std::mem::swap(&mut canon_a, &mut canon_b);
                        kept_canon.push(std::mem::take(&mut canon_b));
                    }
                    if r.ttl != ttl {
                        // Lines of one RRset far apart in the file: BIND keeps the TTL
                        // of the one read last.
                        part.findings.push(Finding::new(
                            "ttl-mismatch",
                            Severity::Warning,
                            Some(parsed.place(r.src)),
                            format!(
                                "{} {} has TTL {} but earlier records of this RRset have {}; an RRset has one TTL (RFC 2181 §5.2), so {} (the last one read) is used",
                                r.owner_name(), r.rtype, r.ttl, ttl, r.ttl
                            ),
                            "give every record of the RRset the same TTL",
                        ));
                        ttl = r.ttl;
                    }
                    if kept.len() == 1
                        && matches!(r0.rtype, Rtype::SOA | Rtype::CNAME | Rtype::DNAME)
                    {
                        part.second_src.push((part.src.len() as u32, r.src));
                    }
                    kept.push(r.rdata);
                }
                kept.truncate(65535);
                part.src.push(r0.src);
                rrsets.push(RRset::new(r0.rtype, ttl, &kept));
                k = m;
            }
            let first = order[oi] as usize;
            let name = Name::from_wire_unchecked(records.view(&recs[runs[first].0 as usize]).owner);
            let mut f = 0;
            if name.is_wildcard() {
                f |= flags::WILDCARD;
            }
            part.nodes.push(Node {
                name,
                rrsets: rrsets.as_slice().into(),
                flags: f,
            });
            oi = oj;
        }
        part
    };
    let parts: Vec<Part> = if order.len() >= PARALLEL_BUILD_MIN {
        // Split between two different owners so no node is cut in half.
        let mut mid = order.len() / 2;
        while mid < order.len() && key(order[mid]) == key(order[mid - 1]) {
            mid += 1;
        }
        let (a, b) = order.split_at(mid);
        std::thread::scope(|sc| {
            let hb = sc.spawn(|| build_part(b));
            let pa = build_part(a);
            // A panic in the other half is a bug; surface it rather than lose data.
            let pb = hb.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            vec![pa, pb]
        })
    } else {
        vec![build_part(&order)]
    };
    let mut nodes: Vec<Node> = Vec::with_capacity(parts.iter().map(|p| p.nodes.len()).sum());
    let mut info = BuildInfo {
        node_start: Vec::with_capacity(nodes.capacity()),
        src: Vec::with_capacity(parts.iter().map(|p| p.src.len()).sum()),
        second_src: Vec::new(),
    };
    for p in parts {
        let base = info.src.len() as u32;
        nodes.extend(p.nodes);
        info.node_start
            .extend(p.node_start.iter().map(|s| s + base));
        info.src.extend(p.src);
        info.second_src
            .extend(p.second_src.into_iter().map(|(i, s)| (i + base, s)));
        findings.extend(p.findings);
    }
    drop(order);
    drop(records);

    // Empty non-terminals, in one linear pass: in canonical order, the ancestors of a
    // name `b` deeper than what it shares with its predecessor `a` would sort between
    // `a` and `b`; as nothing is there, each is an empty non-terminal (and they come
    // out in canonical order, shallowest first).
    let origin_labels = origin.label_count();
    let real = std::mem::take(&mut nodes);
    let old_start = std::mem::take(&mut info.node_start);
    nodes.reserve(real.len() + real.len() / 8);
    info.node_start.reserve(real.len() + real.len() / 8);
    for (ni, node) in real.into_iter().enumerate() {
        let labels = node.name.label_count();
        let shared = match nodes.last() {
            Some(prev) => prev.name.common_labels(&node.name),
            None => origin_labels,
        }
        .max(origin_labels);
        // Ancestors with `shared+1 ..= labels-1` labels, shallowest first.
        for keep in (shared + 1)..labels {
            let anc = node.name.suffix_wire(labels - keep);
            info.node_start.push(old_start[ni]);
            nodes.push(Node {
                name: Name::from_wire_unchecked(anc),
                rrsets: Box::new([]),
                flags: flags::ENT,
            });
        }
        info.node_start.push(old_start[ni]);
        nodes.push(node);
    }
    drop(old_start);
    drop(arena);
    mark_structure(origin, &mut nodes);

    let zone = Zone::from_parts(origin, class, nodes);
    let ok = zone
        .nodes()
        .first()
        .is_some_and(|n| n.has(flags::APEX) && n.rrset(Rtype::SOA).is_some());
    if !ok {
        findings.push(Finding::new(
            "no-soa",
            Severity::Error,
            None,
            format!("the zone has no SOA record at its apex {}", origin),
            format!("add an SOA record owned by '@' (or '{}')", origin),
        ));
    }
    (findings, zone, info)
}

/// Sets the flags that follow from the names and types of canonically ordered nodes:
/// apex, cuts, glue, DNAME occlusion, wildcards. Descendants follow their ancestor in
/// canonical order, so one pass does.
/// Sets the flags that depend on other names; `nodes` in canonical order (a
/// wildcard's parent is found by a search: the store's index is built after).
fn mark_structure(origin: &Name, nodes: &mut [Node]) {
    let mut cut: Option<usize> = None;
    let mut dname: Option<usize> = None;
    for n in 0..nodes.len() {
        if let Some(c) = cut {
            if nodes[n].name.is_subdomain_of(&nodes[c].name) {
                nodes[n].flags |= flags::BELOW_CUT;
            } else {
                cut = None;
            }
        }
        if let Some(d) = dname {
            if nodes[n].name.is_subdomain_of(&nodes[d].name) {
                nodes[n].flags |= flags::BELOW_DNAME;
            } else {
                dname = None;
            }
        }
        let is_apex = nodes[n].name == *origin;
        if is_apex {
            nodes[n].flags |= flags::APEX;
        } else if cut.is_none() && nodes[n].rrset(Rtype::NS).is_some() {
            nodes[n].flags |= flags::DELEGATION;
            cut = Some(n);
            continue;
        }
        if dname.is_none() && nodes[n].rrset(Rtype::DNAME).is_some() {
            dname = Some(n);
        }
        if nodes[n].is_wildcard_label() {
            if let Some(p) = nodes[n].name.parent() {
                if let Ok(pi) = nodes[..n].binary_search_by(|x| x.name.canonical_cmp(&p)) {
                    nodes[pi].flags |= flags::WILDCARD_CHILD;
                }
            }
        }
    }
}

impl Zone {
    /// Builds a zone from nodes holding data, in canonical order (the apex first):
    /// adds the empty non-terminals and sets every flag, as [`Zone::build`] does. For
    /// changing a zone's names without going back to records. Nodes without RRsets
    /// (other than the apex) are dropped; their flags are ignored.
    pub fn from_data(origin: &Name, class: Class, data: Vec<Node>) -> Zone {
        let origin_labels = origin.label_count();
        let mut nodes: Vec<Node> = Vec::with_capacity(data.len() + data.len() / 8);
        for mut node in data {
            if node.rrsets.is_empty() && node.name != *origin {
                continue;
            }
            let labels = node.name.label_count();
            let shared = match nodes.last() {
                Some(prev) => prev.name.common_labels(&node.name),
                None => origin_labels,
            }
            .max(origin_labels);
            for keep in (shared + 1)..labels {
                nodes.push(Node {
                    name: Name::from_wire_unchecked(node.name.suffix_wire(labels - keep)),
                    rrsets: Box::new([]),
                    flags: flags::ENT,
                });
            }
            node.flags = if node.name.is_wildcard() {
                flags::WILDCARD
            } else {
                0
            };
            nodes.push(node);
        }
        mark_structure(origin, &mut nodes);
        Zone::from_parts(origin, class, nodes)
    }
}

impl Node {
    fn is_wildcard_label(&self) -> bool {
        self.flags & flags::WILDCARD != 0
    }
}

/// Zones with at least this many owners are built on two threads.
pub(crate) const PARALLEL_BUILD_MIN: usize = 50_000;

/// The nodes built from one slice of the sorted owners.
#[derive(Default)]
struct Part {
    nodes: Vec<Node>,
    node_start: Vec<u32>,
    src: Vec<Src>,
    second_src: Vec<(u32, Src)>,
    findings: Vec<Finding>,
}

/// The type an RRSIG record covers; 0 for other types.
fn covers(r: Record) -> u16 {
    if r.rtype == Rtype::RRSIG && r.rdata.len() >= 2 {
        u16::from_be_bytes([r.rdata[0], r.rdata[1]])
    } else {
        0
    }
}

/// Canonical form of rdata for comparisons: embedded names lower-cased.
pub fn canonical_rdata(rtype: Rtype, rdata: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(rdata);
    let _ = walk(rtype, rdata, &mut |p, n| {
        out[p..p + n].make_ascii_lowercase()
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_folds_letters_only() {
        let all: Vec<u8> = (0u8..=255).collect();
        for c in all.chunks(13) {
            let lower: Vec<u8> = c.to_ascii_lowercase();
            assert_eq!(hash_name(c), hash_name(&lower));
            let w = u64::from_le_bytes({
                let mut b = [0u8; 8];
                b[..c.len().min(8)].copy_from_slice(&c[..c.len().min(8)]);
                b
            });
            let mut b = [0u8; 8];
            b[..c.len().min(8)].copy_from_slice(&lower[..c.len().min(8)]);
            assert_eq!(fold_upper(w), u64::from_le_bytes(b), "{:?}", c);
        }
    }

    #[test]
    fn empty_non_terminals_are_filled() {
        let o = Name::parse("example.", None).unwrap();
        let l = crate::load::load_bytes(&o, b"$TTL 1\n@ SOA a b 1 2 3 4 5\n@ NS a\na A 1.2.3.4\nx.y.z A 1.2.3.4\nq.y.z A 1.2.3.4\nb.a A 1.2.3.4\n", "t");
        let names: Vec<String> = l.zone.nodes().iter().map(|n| n.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "example.",
                "a.example.",
                "b.a.example.",
                "z.example.",
                "y.z.example.",
                "q.y.z.example.",
                "x.y.z.example."
            ]
        );
        let ents: Vec<bool> = l.zone.nodes().iter().map(|n| n.has(flags::ENT)).collect();
        assert_eq!(ents, [false, false, false, true, true, false, false]);
        for n in l.zone.nodes() {
            assert!(l.zone.find(n.name.to_lowercase().as_wire()).is_some());
        }
    }

    #[test]
    fn replaced_snapshots_share_names() {
        let o = Name::parse("example.", None).unwrap();
        let l = crate::load::load_bytes(
            &o,
            b"$TTL 1\n@ SOA a b 1 2 3 4 5\na A 1.2.3.4\nb A 1.2.3.5\nc A 1.2.3.6\n",
            "t",
        );
        let z = l.zone;
        let mut n2 = z.node(2).clone();
        n2.rrsets = Box::new([RRset::new(Rtype::A, 9, &[&[9, 9, 9, 9]])]);
        let p = z.with_replaced(vec![(2, n2)]);
        assert!(p.same_names(&z));
        assert_eq!(p.node(2).rrsets[0].ttl, 9);
        assert_eq!(
            p.nodes()
                .iter()
                .filter(|n| n.rrsets.first().is_some_and(|r| r.ttl == 9))
                .count(),
            1
        );
        assert_eq!(
            z.node(2).rrsets[0].ttl,
            1,
            "the parent snapshot is untouched"
        );
        let pairs = p.changed_since(&z, 100).unwrap();
        assert!(pairs
            .iter()
            .any(|(a, b)| a.is_some_and(|a| a.rrsets[0].ttl == 1)
                && b.is_some_and(|b| b.rrsets[0].ttl == 9)));
        let mut n1 = p.node(1).clone();
        n1.rrsets = Box::new([]);
        let q = p.with_replaced(vec![(1, n1.clone()), (1, n1)]);
        assert!(q.node(1).rrsets.is_empty());
        assert_eq!(
            q.nodes()
                .slice(1..3)
                .iter()
                .map(|n| n.rrsets.len())
                .collect::<Vec<_>>(),
            [0, 1]
        );
        let mut renamed = z.node(3).clone();
        renamed.name = Name::parse("d.example.", None).unwrap();
        let r = z.with_replaced(vec![(3, renamed)]);
        assert!(!r.same_names(&z));
        assert!(r.find(b"\x01d\x07example\x00").is_some());
    }

    /// Thousands of names in and out of a zone (chunks split and emptied): every
    /// name is found at its place, in order, as in the same names built flat; the
    /// snapshots before are untouched, and the changed pairs are exactly the changes.
    #[test]
    fn many_splices_keep_order_and_index() {
        let o = Name::parse("example.", None).unwrap();
        let mut text = String::from("$TTL 1\n@ SOA a b 1 2 3 4 5\n");
        for i in 0..1000 {
            text.push_str(&format!("h{:05} A 1.2.3.4\n", i * 10));
        }
        let z0 = crate::load::load_bytes(&o, text.as_bytes(), "t").zone;
        let node = |n: String| Node {
            name: Name::parse(&n, Some(&o)).unwrap(),
            rrsets: Box::new([RRset::new(Rtype::A, 7, &[&[7, 7, 7, 7]])]),
            flags: 0,
        };
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut names: std::collections::BTreeSet<u32> = (0..1000).map(|i| i * 10).collect();
        let mut z = z0.clone();
        for round in 0..400 {
            let prev = z.clone();
            let mut insert = Vec::new();
            let mut remove = Vec::new();
            for _ in 0..(next() % 12) {
                let v = (next() % 20_000) as u32;
                let nm = format!("h{v:05}");
                match prev.find(Name::parse(&nm, Some(&o)).unwrap().as_wire()) {
                    Some(i) if !remove.contains(&i) && names.len() > 10 => {
                        remove.push(i);
                        names.remove(&v);
                    }
                    Some(_) => {}
                    None if !insert.iter().any(|(_, n): &(usize, Node)| {
                        n.name.to_string() == format!("{nm}.example.")
                    }) =>
                    {
                        let nn = node(nm);
                        insert.push((prev.predecessor(&nn.name) + 1, nn));
                        names.insert(v);
                    }
                    None => {}
                }
            }
            let (n_ins, n_rem) = (insert.len(), remove.len());
            z = prev.with_spliced(vec![], insert, remove);
            let got: Vec<String> = z
                .nodes()
                .iter()
                .skip(1)
                .map(|n| n.name.to_string())
                .collect();
            let want: Vec<String> = names.iter().map(|v| format!("h{v:05}.example.")).collect();
            assert_eq!(got, want, "round {round}");
            for (i, n) in z.nodes().iter().enumerate() {
                assert_eq!(z.find(n.name.as_wire()), Some(i), "round {round}");
                assert_eq!(z.node(i).name, n.name);
            }
            // Searches in views of part of the zone, as on a slice of the names.
            let all = z.nodes();
            let (a, b) = (1 + round % 7, all.len() - round % 5);
            let view = all.slice(a..b);
            let names: Vec<&Name> = view.iter().map(|n| &n.name).collect();
            for probe in [0u32, 5, 12_345, 19_999, 40_000] {
                let p = Name::parse(&format!("h{probe:05}"), Some(&o)).unwrap();
                assert_eq!(
                    view.binary_search_by(|n| n.name.canonical_cmp(&p)),
                    names.binary_search_by(|n| n.canonical_cmp(&p)),
                    "round {round}"
                );
            }
            for (i, n) in names.iter().enumerate().step_by(7) {
                assert_eq!(view.binary_search_by(|x| x.name.canonical_cmp(n)), Ok(i));
            }
            let pairs = z.changed_since(&prev, usize::MAX).unwrap();
            let changed = pairs
                .iter()
                .filter(|(a, b)| a.is_none() || b.is_none())
                .count();
            assert_eq!(changed, n_ins + n_rem, "round {round}");
            for (_, b) in pairs.iter().filter(|(a, _)| a.is_none()) {
                let b = b.expect("one side at least");
                assert!(prev.find(b.name.as_wire()).is_none());
            }
        }
        assert_eq!(z0.nodes().len(), 1001, "the first snapshot is untouched");
        assert!(z0
            .nodes()
            .iter()
            .skip(1)
            .enumerate()
            .all(|(i, n)| n.name.to_string() == format!("h{:05}.example.", i * 10)));
        let back: Vec<Node> = z.clone().into_nodes();
        assert_eq!(back.len(), z.nodes().len());
    }

    #[test]
    fn spliced_snapshots_move_the_names() {
        let o = Name::parse("example.", None).unwrap();
        let l = crate::load::load_bytes(
            &o,
            b"$TTL 1\n@ SOA a b 1 2 3 4 5\nb A 1.2.3.4\nd A 1.2.3.5\nf A 1.2.3.6\n",
            "t",
        );
        let z = l.zone;
        let node = |n: &str| Node {
            name: Name::parse(n, Some(&o)).unwrap(),
            rrsets: Box::new([RRset::new(Rtype::A, 7, &[&[7, 7, 7, 7]])]),
            flags: 0,
        };
        // Insert c (before d, index 2) and g (at the end); remove b (index 1).
        let s = z.with_spliced(vec![], vec![(4, node("g")), (2, node("c"))], vec![1]);
        let names: Vec<String> = s.nodes().iter().map(|n| n.name.to_string()).collect();
        assert_eq!(
            names,
            [
                "example.",
                "c.example.",
                "d.example.",
                "f.example.",
                "g.example."
            ]
        );
        for (i, n) in s.nodes().iter().enumerate() {
            assert_eq!(s.find(n.name.as_wire()), Some(i));
        }
        assert!(s.find(b"\x01b\x07example\x00").is_none());
        // Where the names went: d and f shifted to 2 and 3, c and g at 1 and 4.
        let at = |n: &str| s.find(Name::parse(n, Some(&o)).unwrap().as_wire());
        assert_eq!(
            (s.find(o.as_wire()), at("c"), at("d"), at("f"), at("g")),
            (Some(0), Some(1), Some(2), Some(3), Some(4))
        );
        assert!(!s.same_names(&z));
        let pairs = s.changed_since(&z, usize::MAX).unwrap();
        let gone: Vec<String> = pairs
            .iter()
            .filter(|p| p.1.is_none())
            .map(|p| p.0.unwrap().name.to_string())
            .collect();
        let new: Vec<String> = pairs
            .iter()
            .filter(|p| p.0.is_none())
            .map(|p| p.1.unwrap().name.to_string())
            .collect();
        assert_eq!(
            (gone, new),
            (
                vec!["b.example.".to_string()],
                vec!["c.example.".to_string(), "g.example.".to_string()]
            )
        );
        // A patch on top keeps the lineage; a rebuild of the same nodes does not.
        let p = s.with_replaced(vec![(2, s.node(2).clone())]);
        assert!(p.same_names(&s) && p.same_lineage(&z));
        let flat = Zone::from_nodes(&o, s.class(), s.nodes().to_vec());
        assert!(!flat.same_lineage(&s) && flat.changed_since(&s, usize::MAX).is_none());
    }
}
