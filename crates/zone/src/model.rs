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
use hashbrown::HashTable;
use std::sync::Arc;

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
/// Snapshots share structure: the nodes live in an `Arc` base, and a snapshot that
/// differs from its parent in a few nodes holds only those, as a small sorted patch
/// over the same base. Names never change through a patch, so canonical order and
/// the hash index (its own `Arc`, kept across folds) stay valid and shared. A flat
/// base plus patch was chosen over a chunked persistent vector: an unpatched zone
/// pays one predictable branch per node access instead of an extra pointer chase,
/// and making a snapshot costs O(patch) instead of O(n / chunk) reference counts.
/// The price is a fold (a copy of the base) once the patch passes [`Zone::PATCH_MAX`].
#[derive(Clone)]
pub struct Zone {
    origin: Name,
    class: Class,
    base: Arc<Vec<Node>>,
    index: Arc<HashTable<u32>>,
    /// Patched node indices, sorted; `patch[k]` replaces `base[patch_idx[k]]`.
    patch_idx: Arc<[u32]>,
    patch: Arc<[Arc<Node>]>,
    /// One bit per block of 64 nodes holding a patched one (empty without a patch):
    /// most accesses of a patched zone are settled by one bit, not a search.
    patch_mask: Arc<[u64]>,
    /// Set by [`Zone::with_inserted`]: how this zone's names derive from the
    /// parent's, so per-name indexes can be shifted rather than rebuilt.
    inserted: Option<Arc<Renumbered>>,
}

/// Names inserted into and removed from a parent snapshot (see
/// [`Zone::inserted_since`]).
pub struct Renumbered {
    /// The parent's hash index; a `Weak` keeps its address from being reused.
    parent: std::sync::Weak<HashTable<u32>>,
    /// For each inserted node, the parent index it went before (sorted).
    pub before: Box<[u32]>,
    /// The parent indices of the removed nodes (sorted).
    pub removed: Box<[u32]>,
    /// The new indices of the inserted nodes (sorted).
    pub added: Box<[u32]>,
}

impl Renumbered {
    /// The new index of the parent's node `i` (which must not be removed).
    #[inline]
    pub fn shift(&self, i: u32) -> u32 {
        i + self.before.partition_point(|&p| p <= i) as u32
            - self.removed.partition_point(|&r| r < i) as u32
    }
    /// True if the parent's node `i` was removed.
    pub fn is_removed(&self, i: u32) -> bool {
        self.removed.binary_search(&i).is_ok()
    }
}

/// A read-only view of a zone's nodes (base and patch), indexed like a slice.
#[derive(Clone, Copy)]
pub struct Nodes<'a> {
    base: &'a [Node],
    /// Zone index of `base[0]` (views of a range start past 0).
    start: usize,
    patch_idx: &'a [u32],
    patch: &'a [Arc<Node>],
    patch_mask: &'a [u64],
}

impl<'a> Nodes<'a> {
    /// A view of plain nodes (no patch).
    pub fn from_slice(nodes: &'a [Node]) -> Nodes<'a> {
        Nodes {
            base: nodes,
            start: 0,
            patch_idx: &[],
            patch: &[],
            patch_mask: &[],
        }
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.base.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a Node> {
        if i >= self.base.len() {
            return None;
        }
        Some(self.at(i))
    }
    /// Node `i` (panics out of bounds), borrowed for the view's lifetime (indexing
    /// borrows only the view).
    #[inline]
    pub fn at(&self, i: usize) -> &'a Node {
        if self.patch_mask.is_empty() {
            return &self.base[i];
        }
        let block = (self.start + i) >> 6;
        if self.patch_mask[block >> 6] & (1 << (block & 63)) == 0 {
            return &self.base[i];
        }
        self.patched(i)
    }
    #[cold]
    #[inline(never)]
    fn patched(&self, i: usize) -> &'a Node {
        match self.patch_idx.binary_search(&((self.start + i) as u32)) {
            Ok(k) => &self.patch[k],
            Err(_) => &self.base[i],
        }
    }
    pub fn first(&self) -> Option<&'a Node> {
        self.get(0)
    }
    pub fn last(&self) -> Option<&'a Node> {
        self.len().checked_sub(1).map(|i| self.at(i))
    }
    pub fn iter(&self) -> NodesIter<'a> {
        NodesIter {
            nodes: *self,
            pos: 0,
            end: self.len(),
        }
    }
    /// The nodes of `range` (panics out of bounds, like slicing).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Nodes<'a> {
        Nodes {
            base: &self.base[range.clone()],
            start: self.start + range.start,
            ..*self
        }
    }
    /// Consecutive views of at most `size` nodes.
    pub fn chunks(&self, size: usize) -> impl Iterator<Item = Nodes<'a>> + 'a {
        let this = *self;
        let size = size.max(1);
        (0..self.len())
            .step_by(size)
            .map(move |a| this.slice(a..(a + size).min(this.len())))
    }
    /// Binary search as on a slice. Names are the same in base and patch, so a search
    /// by name never needs the patch.
    pub fn binary_search_by(
        &self,
        mut f: impl FnMut(&'a Node) -> std::cmp::Ordering,
    ) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match f(self.at(mid)) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }
    /// The nodes as one slice, if nothing in this view is patched.
    pub fn as_slice(&self) -> Option<&'a [Node]> {
        self.patch_mask.is_empty().then_some(self.base)
    }
    /// Owned copies of the nodes.
    pub fn to_vec(&self) -> Vec<Node> {
        self.iter().cloned().collect()
    }
    /// [`Nodes::to_vec`], on two threads for a large zone (copying is what a fold
    /// or a rebuild spends most of its time on).
    pub fn to_vec_par(&self) -> Vec<Node> {
        if self.len() < PARALLEL_BUILD_MIN {
            return self.to_vec();
        }
        let mid = self.len() / 2;
        let (a, b) = (self.slice(0..mid), self.slice(mid..self.len()));
        std::thread::scope(|sc| {
            let hb = sc.spawn(move || b.to_vec());
            let mut va = a.to_vec();
            let vb = hb.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            va.extend(vb);
            va
        })
    }
}

impl std::ops::Index<usize> for Nodes<'_> {
    type Output = Node;
    #[inline]
    fn index(&self, i: usize) -> &Node {
        self.at(i)
    }
}

impl<'a> IntoIterator for Nodes<'a> {
    type Item = &'a Node;
    type IntoIter = NodesIter<'a>;
    fn into_iter(self) -> NodesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Nodes<'a> {
    type Item = &'a Node;
    type IntoIter = NodesIter<'a>;
    fn into_iter(self) -> NodesIter<'a> {
        self.iter()
    }
}

/// Iterator over a [`Nodes`] view.
#[derive(Clone)]
pub struct NodesIter<'a> {
    nodes: Nodes<'a>,
    pos: usize,
    end: usize,
}

impl<'a> Iterator for NodesIter<'a> {
    type Item = &'a Node;
    #[inline]
    fn next(&mut self) -> Option<&'a Node> {
        if self.pos >= self.end {
            return None;
        }
        self.pos += 1;
        Some(self.nodes.at(self.pos - 1))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.end - self.pos, Some(self.end - self.pos))
    }
}

impl ExactSizeIterator for NodesIter<'_> {}

impl<'a> DoubleEndedIterator for NodesIter<'a> {
    fn next_back(&mut self) -> Option<&'a Node> {
        if self.pos >= self.end {
            return None;
        }
        self.end -= 1;
        Some(self.nodes.at(self.end))
    }
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
        Nodes {
            base: &self.base,
            start: 0,
            patch_idx: &self.patch_idx,
            patch: &self.patch,
            patch_mask: &self.patch_mask,
        }
    }
    pub fn apex(&self) -> &Node {
        self.nodes().at(0)
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

    /// Past this many patched nodes (or 1/256 of the zone, if more) a new snapshot
    /// folds its patch into a fresh base.
    pub const PATCH_MAX: usize = 512;

    /// Number of nodes held in the patch (0 for a zone built or folded whole).
    pub fn patch_len(&self) -> usize {
        self.patch.len()
    }

    /// True if both snapshots have the same names at the same indices (one derives
    /// from the other through [`Zone::with_replaced`]), so per-name indexes built for
    /// one serve the other.
    pub fn same_names(&self, other: &Zone) -> bool {
        Arc::ptr_eq(&self.index, &other.index)
    }

    /// A new snapshot in which node `i` is replaced by `node` for each pair, sharing
    /// everything else with `self`: O(patch), not O(zone). Every replacement must keep
    /// the node's name (checked); if one does not, the zone is rebuilt whole.
    pub fn with_replaced(&self, repl: Vec<(usize, Node)>) -> Zone {
        let n = self.base.len();
        let names_kept = repl
            .iter()
            .all(|(i, node)| *i < n && node.name.as_wire() == self.base[*i].name.as_wire());
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
            return Zone::from_nodes(&self.origin, self.class, nodes);
        }
        let mut repl: Vec<(u32, Arc<Node>)> = repl
            .into_iter()
            .map(|(i, node)| (i as u32, Arc::new(node)))
            .collect();
        // Later replacements of one index win.
        repl.reverse();
        repl.sort_by_key(|r| r.0);
        repl.dedup_by_key(|r| r.0);
        let mut idx: Vec<u32> = Vec::with_capacity(self.patch_idx.len() + repl.len());
        let mut nodes: Vec<Arc<Node>> = Vec::with_capacity(idx.capacity());
        let (mut a, mut b) = (0, 0);
        while a < self.patch_idx.len() || b < repl.len() {
            let take_new = match (self.patch_idx.get(a), repl.get(b)) {
                (Some(&x), Some(&(y, _))) => {
                    if x == y {
                        a += 1;
                    }
                    y <= x
                }
                (None, Some(_)) => true,
                _ => false,
            };
            if take_new {
                idx.push(repl[b].0);
                nodes.push(repl[b].1.clone());
                b += 1;
            } else {
                idx.push(self.patch_idx[a]);
                nodes.push(self.patch[a].clone());
                a += 1;
            }
        }
        let mut mask = vec![0u64; n.div_ceil(64 * 64)];
        for &i in &idx {
            let block = i as usize >> 6;
            mask[block >> 6] |= 1 << (block & 63);
        }
        let zone = Zone {
            origin: self.origin.clone(),
            class: self.class,
            base: self.base.clone(),
            index: self.index.clone(),
            patch_idx: idx.into(),
            patch: nodes.into(),
            patch_mask: mask.into(),
            inserted: self.inserted.clone(),
        };
        if zone.patch.len() > Self::PATCH_MAX.max(n / 256) {
            zone.folded()
        } else {
            zone
        }
    }

    /// A new snapshot with `insert` nodes added, each before the node that has the
    /// given index in `self` (their names new, canonical order kept), and `replace`
    /// nodes put at indices of `self` (names kept). O(zone) copying, but existing names
    /// are neither sorted nor hashed again: the hash index is copied and shifted.
    pub fn with_inserted(&self, replace: Vec<(usize, Node)>, insert: Vec<(usize, Node)>) -> Zone {
        self.with_spliced(replace, insert, Vec::new())
    }

    /// [`Zone::with_inserted`] that also removes the nodes at the indices `remove` of
    /// `self` (the names left must still hold every ancestor of a name).
    pub fn with_spliced(
        &self,
        replace: Vec<(usize, Node)>,
        mut insert: Vec<(usize, Node)>,
        mut remove: Vec<usize>,
    ) -> Zone {
        insert.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| a.1.name.canonical_cmp(&b.1.name))
        });
        remove.sort_unstable();
        remove.dedup();
        let mut old = self.nodes().to_vec_par();
        for (i, node) in replace {
            old[i] = node;
        }
        let positions: Vec<u32> = insert.iter().map(|x| x.0 as u32).collect();
        let removed: Vec<u32> = remove.iter().map(|&r| r as u32).collect();
        let mut nodes: Vec<Node> = Vec::with_capacity(old.len() + insert.len());
        let mut added: Vec<u32> = Vec::with_capacity(insert.len());
        let mut insert = insert.into_iter().peekable();
        let mut gone = remove.iter().peekable();
        for (i, node) in old.into_iter().enumerate() {
            while let Some((_, n)) = insert.next_if(|x| x.0 <= i) {
                added.push(nodes.len() as u32);
                nodes.push(n);
            }
            if gone.next_if(|&&r| r == i).is_none() {
                nodes.push(node);
            }
        }
        for (_, n) in insert {
            added.push(nodes.len() as u32);
            nodes.push(n);
        }
        let renumber = Renumbered {
            parent: Arc::downgrade(&self.index),
            before: positions.into(),
            removed: removed.into(),
            added: added.into(),
        };
        let mut index = HashTable::clone(&self.index);
        if !renumber.removed.is_empty() {
            index.retain(|e| renumber.removed.binary_search(e).is_err());
        }
        for e in index.iter_mut() {
            *e = renumber.shift(*e);
        }
        for &j in renumber.added.iter() {
            index.insert_unique(hash_name(nodes[j as usize].name.as_wire()), j, |&x| {
                hash_name(nodes[x as usize].name.as_wire())
            });
        }
        let mut zone = Zone::from_parts(&self.origin, self.class, nodes, index);
        zone.inserted = Some(Arc::new(renumber));
        zone
    }

    /// If this zone was made from `prev` (or from a snapshot with `prev`'s names) by
    /// [`Zone::with_inserted`]: where the names went.
    pub fn inserted_since(&self, prev: &Zone) -> Option<&Renumbered> {
        let ins = self.inserted.as_deref()?;
        std::sync::Weak::ptr_eq(&ins.parent, &Arc::downgrade(&prev.index)).then_some(ins)
    }

    /// The node indices at which `self` may differ from `old`, when both are
    /// snapshots over the same base (one derives from the other by patches): the
    /// union of their patches, O(patch). None when the bases differ.
    pub fn patched_since(&self, old: &Zone) -> Option<Vec<usize>> {
        if !Arc::ptr_eq(&self.base, &old.base) {
            return None;
        }
        let mut v: Vec<usize> = self
            .patch_idx
            .iter()
            .chain(old.patch_idx.iter())
            .map(|&i| i as usize)
            .collect();
        v.sort_unstable();
        v.dedup();
        Some(v)
    }

    /// The same zone with its patch folded into a new base (O(zone)); the hash index
    /// is kept, so [`Zone::same_names`] still holds against `self`.
    pub fn folded(&self) -> Zone {
        if self.patch.is_empty() {
            return self.clone();
        }
        Zone {
            origin: self.origin.clone(),
            class: self.class,
            base: Arc::new(self.nodes().to_vec_par()),
            index: self.index.clone(),
            patch_idx: Arc::from([]),
            patch: Arc::from([]),
            patch_mask: Arc::from([]),
            inserted: self.inserted.clone(),
        }
    }

    /// The nodes, owned: moved out when this is the last snapshot holding them,
    /// copied otherwise.
    pub fn into_nodes(self) -> Vec<Node> {
        if !self.patch.is_empty() {
            return self.nodes().to_vec_par();
        }
        match Arc::try_unwrap(self.base) {
            Ok(nodes) => nodes,
            Err(base) => Nodes::from_slice(&base).to_vec_par(),
        }
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
        let h = hash_name(wire);
        // Names are the same in the base and the patch: compare against the base.
        self.index
            .find(h, |&i| {
                self.base[i as usize]
                    .name
                    .as_wire()
                    .eq_ignore_ascii_case(wire)
            })
            .map(|&i| i as usize)
    }

    /// Index of the last node whose name sorts canonically at or before `name`.
    pub fn predecessor(&self, name: &Name) -> usize {
        match self.base.binary_search_by(|n| n.name.canonical_cmp(name)) {
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
        let mut index: HashTable<u32> = HashTable::with_capacity(nodes.len() + nodes.len() / 16);
        for (n, node) in nodes.iter().enumerate() {
            index.insert_unique(hash_name(node.name.as_wire()), n as u32, |&x| {
                hash_name(nodes[x as usize].name.as_wire())
            });
        }
        Zone::from_parts(origin, class, nodes, index)
    }

    fn from_parts(origin: &Name, class: Class, nodes: Vec<Node>, index: HashTable<u32>) -> Zone {
        Zone {
            origin: origin.clone(),
            class,
            base: Arc::new(nodes),
            index: Arc::new(index),
            patch_idx: Arc::from([]),
            patch: Arc::from([]),
            patch_mask: Arc::from([]),
            inserted: None,
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
    let mut index: HashTable<u32> = HashTable::with_capacity(nodes.len() + nodes.len() / 16);
    for (n, node) in nodes.iter().enumerate() {
        index.insert_unique(hash_name(node.name.as_wire()), n as u32, |&x| {
            hash_name(nodes[x as usize].name.as_wire())
        });
    }

    mark_structure(origin, &mut nodes, &index);

    let zone = Zone::from_parts(origin, class, nodes, index);
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
fn mark_structure(origin: &Name, nodes: &mut [Node], index: &HashTable<u32>) {
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
                if let Some(pi) = find_in(nodes, index, p.as_wire()) {
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
        let mut index: HashTable<u32> = HashTable::with_capacity(nodes.len() + nodes.len() / 16);
        for (n, node) in nodes.iter().enumerate() {
            index.insert_unique(hash_name(node.name.as_wire()), n as u32, |&x| {
                hash_name(nodes[x as usize].name.as_wire())
            });
        }
        mark_structure(origin, &mut nodes, &index);
        Zone::from_parts(origin, class, nodes, index)
    }
}

impl Node {
    fn is_wildcard_label(&self) -> bool {
        self.flags & flags::WILDCARD != 0
    }
}

fn find_in(nodes: &[Node], index: &HashTable<u32>, wire: &[u8]) -> Option<usize> {
    index
        .find(hash_name(wire), |&i| {
            nodes[i as usize].name.as_wire().eq_ignore_ascii_case(wire)
        })
        .map(|&i| i as usize)
}

/// Zones with at least this many owners are built on two threads.
const PARALLEL_BUILD_MIN: usize = 50_000;

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
    fn patched_snapshots_share_names_and_fold() {
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
        assert_eq!(p.patch_len(), 1);
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
        let mut n1 = p.node(1).clone();
        n1.rrsets = Box::new([]);
        let q = p.with_replaced(vec![(1, n1.clone()), (1, n1)]);
        assert_eq!(q.patch_len(), 2);
        assert!(q.node(1).rrsets.is_empty());
        let f = q.folded();
        assert_eq!(f.patch_len(), 0);
        assert!(f.same_names(&z));
        for i in 0..q.nodes().len() {
            assert_eq!(q.node(i).rrsets, f.node(i).rrsets);
        }
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

    #[test]
    fn spliced_snapshots_shift_the_index() {
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
        let r = s.inserted_since(&z).unwrap();
        assert!(r.is_removed(1));
        assert_eq!((r.shift(0), r.shift(2), r.shift(3)), (0, 2, 3));
        assert_eq!(&r.added[..], [1, 4]);
        assert!(!s.same_names(&z));
        assert!(z.inserted_since(&s).is_none());
        // A patch on top keeps the lineage.
        let p = s.with_replaced(vec![(2, s.node(2).clone())]);
        assert!(p.same_names(&s) && p.inserted_since(&z).is_some());
    }
}
