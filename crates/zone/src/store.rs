//! The node store behind [`Zone`](crate::Zone): nodes in canonical order, cut into
//! chunks that snapshots share, and a name index in shards that snapshots share too.
//!
//! Why not one flat vector: adding or removing a name (a dynamic update, an ACME
//! challenge) would copy all of it, 0.6 s at a million names, and a patch over a flat
//! base must be folded back now and then, O(zone) again. Here a change copies one
//! chunk (at most 256 nodes), one index shard and the chunk table (a pointer per 128
//! nodes): O(chunk + n / chunk), and nothing ever folds. Why not a B-tree or a trie
//! (Knot's QP-trie): a lookup stays one hash probe and a few array reads, and a zone
//! never changed finds node `i` by a shift (every chunk full), so serving pays almost
//! nothing for it.
//!
//! The index names a node by (chunk id, slot), not by position: both stay while other
//! names come and go, so adding a name touches one shard, not every entry after it.
//! Only a chunk split moves names to a new id (half a chunk of entries re-keyed).

use crate::model::{hash_name, Node};
use hashbrown::HashTable;
use std::cmp::Ordering;
use std::sync::Arc;

/// Nodes per chunk when a zone is built; a full chunk (SLOTS nodes) splits in two.
const BUILD: usize = 128;
const BUILD_SHIFT: u32 = 7;
const SLOTS: usize = 256;
/// Zones up to this many names per shard have one shard; more get up to MAX_SHARDS.
const SHARD_NAMES: usize = 4096;
const MAX_SHARD_BITS: u32 = 10;
const GONE: u32 = u32::MAX;

#[derive(Clone)]
struct Chunk {
    id: u32,
    nodes: Slots,
    /// The slot of each node, in node order.
    slots: Vec<u8>,
    /// The offset in `nodes` of each used slot.
    offset: Box<[u8; SLOTS]>,
    used: [u64; 4],
}

/// A chunk's nodes. As built, in line (no pointer more to follow when answering);
/// the first change to a chunk puts each of its nodes behind an `Arc`, so that copying
/// the chunk for the next change is a reference count per node, not a copy of every
/// name and record in it.
#[derive(Clone)]
enum Slots {
    Inline(Vec<Node>),
    Shared(Vec<Arc<Node>>),
}

impl Slots {
    #[inline]
    fn len(&self) -> usize {
        match self {
            Slots::Inline(v) => v.len(),
            Slots::Shared(v) => v.len(),
        }
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The nodes, made shared (moved behind `Arc`s) if they were in line.
    fn shared_mut(&mut self) -> &mut Vec<Arc<Node>> {
        if let Slots::Inline(v) = self {
            *self = Slots::Shared(std::mem::take(v).into_iter().map(Arc::new).collect());
        }
        match self {
            Slots::Shared(v) => v,
            Slots::Inline(_) => unreachable!("made shared above"),
        }
    }
    fn iter(&self) -> impl Iterator<Item = &Node> + '_ {
        (0..self.len()).map(move |i| &self[i])
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Node;
    #[inline]
    fn index(&self, i: usize) -> &Node {
        match self {
            Slots::Inline(v) => &v[i],
            Slots::Shared(v) => &v[i],
        }
    }
}

impl Chunk {
    fn new(id: u32, nodes: Slots) -> Chunk {
        let mut c = Chunk {
            id,
            slots: (0..nodes.len()).map(|s| s as u8).collect(),
            nodes,
            offset: Box::new([0; SLOTS]),
            used: [0; 4],
        };
        for s in 0..c.nodes.len() {
            c.offset[s] = s as u8;
            c.used[s >> 6] |= 1 << (s & 63);
        }
        c
    }
    fn free_slot(&self) -> u8 {
        let w = self.used.iter().position(|&w| w != u64::MAX).unwrap_or(0);
        (w * 64 + self.used[w].trailing_ones() as usize) as u8
    }
    fn set_used(&mut self, s: u8, on: bool) {
        let (w, b) = (s as usize >> 6, s as usize & 63);
        if on {
            self.used[w] |= 1 << b;
        } else {
            self.used[w] &= !(1 << b);
        }
    }
    fn renumber_from(&mut self, o: usize) {
        for j in o..self.nodes.len() {
            self.offset[self.slots[j] as usize] = j as u8;
        }
    }
}

/// An index entry: (chunk id << 8 | slot, low 32 bits of the name's hash).
type Entry = (u32, u32);
type Shard = HashTable<Entry>;

/// The hash a shard files an entry under: the low half of the name's hash, spread
/// (the shard itself is chosen by other bits).
#[inline]
fn table_hash(h32: u32) -> u64 {
    u64::from(h32).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

#[derive(Clone)]
pub(crate) struct Store {
    chunks: Arc<Vec<Arc<Chunk>>>,
    /// Position of each chunk's first node, then the node count.
    starts: Arc<Vec<u32>>,
    /// Table position of each chunk id (GONE for ids no longer used).
    pos_of: Arc<Vec<u32>>,
    shards: Arc<Vec<Arc<Shard>>>,
    shard_bits: u32,
    /// Every chunk but the last holds BUILD nodes: node `i` found by a shift.
    uniform: bool,
    /// Otherwise: for each run of BUILD positions, the chunk holding its first one
    /// (a chunk holds one or more nodes, most a hundred or more: a step or two on).
    guide: Arc<Vec<u32>>,
    next_id: u32,
    /// Replaced whenever a name comes or goes: same token, same names.
    names: Arc<()>,
    /// Made when the store is built and kept through every change: snapshots with
    /// the same one share chunks (or once did).
    lineage: Arc<()>,
}

impl Store {
    pub fn from_vec(nodes: Vec<Node>) -> Store {
        let n = nodes.len();
        let shard_bits = (n / SHARD_NAMES)
            .checked_next_power_of_two()
            .map_or(MAX_SHARD_BITS, |p| p.trailing_zeros())
            .min(MAX_SHARD_BITS);
        let nshards = 1usize << shard_bits;
        let mut chunks = Vec::with_capacity(n.div_ceil(BUILD));
        let mut starts = Vec::with_capacity(chunks.capacity() + 1);
        let mut it = nodes.into_iter();
        loop {
            let part: Vec<Node> = it.by_ref().take(BUILD).collect();
            if part.is_empty() && !chunks.is_empty() {
                break;
            }
            starts.push((chunks.len() * BUILD) as u32);
            let last = part.len() < BUILD;
            chunks.push(Arc::new(Chunk::new(
                chunks.len() as u32,
                Slots::Inline(part),
            )));
            if last {
                break;
            }
        }
        starts.push(n as u32);
        let mut per: Vec<Vec<(u64, u32)>> = vec![Vec::new(); nshards];
        for c in &chunks {
            for (s, node) in c.nodes.iter().enumerate() {
                let h = hash_name(node.name.as_wire());
                per[shard_of(h, shard_bits)].push((h, c.id << 8 | s as u32));
            }
        }
        let shards = per
            .into_iter()
            .map(|v| {
                let mut t = Shard::with_capacity(v.len());
                for (h, hd) in v {
                    t.insert_unique(table_hash(h as u32), (hd, h as u32), |e| table_hash(e.1));
                }
                Arc::new(t)
            })
            .collect();
        Store {
            pos_of: Arc::new((0..chunks.len() as u32).collect()),
            next_id: chunks.len() as u32,
            chunks: Arc::new(chunks),
            starts: Arc::new(starts),
            shards: Arc::new(shards),
            shard_bits,
            uniform: true,
            guide: Arc::new(Vec::new()),
            lineage: Arc::new(()),
            names: Arc::new(()),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.starts[self.starts.len() - 1] as usize
    }

    /// Chunk and offset of node `g` (which must exist, or be the end).
    #[inline]
    fn locate(&self, g: usize) -> (usize, usize) {
        if self.uniform {
            return (g >> BUILD_SHIFT, g & (BUILD - 1));
        }
        let last = self.chunks.len() - 1;
        let mut k = self
            .guide
            .get(g >> BUILD_SHIFT)
            .map_or(last, |&k| k as usize);
        while k < last && self.starts[k + 1] as usize <= g {
            k += 1;
        }
        (k, g - self.starts[k] as usize)
    }

    #[inline]
    pub fn at(&self, g: usize) -> &Node {
        let (k, o) = self.locate(g);
        &self.chunks[k].nodes[o]
    }

    /// The nodes of chunk-aligned run holding `g`: (its first position, its nodes).
    #[inline]
    fn run(&self, g: usize) -> (usize, &Slots) {
        let (k, o) = self.locate(g);
        (g - o, &self.chunks[k].nodes)
    }

    /// Position of the node named `wire` (any case).
    #[inline]
    pub fn find(&self, wire: &[u8]) -> Option<usize> {
        let h = hash_name(wire);
        let h32 = h as u32;
        let mut hit = None;
        self.shards[shard_of(h, self.shard_bits)].find(table_hash(h32), |&(hd, eh)| {
            if eh != h32 {
                return false;
            }
            let k = self.pos_of[(hd >> 8) as usize] as usize;
            let c = &self.chunks[k];
            let o = c.offset[(hd & 255) as usize] as usize;
            let same = c.nodes[o].name.as_wire().eq_ignore_ascii_case(wire);
            if same {
                hit = Some(self.starts[k] as usize + o);
            }
            same
        })?;
        hit
    }

    /// True if both hold the same names at the same positions.
    pub fn same_names(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.names, &other.names)
    }

    pub fn same_lineage(&self, other: &Store) -> bool {
        Arc::ptr_eq(&self.lineage, &other.lineage)
    }

    /// Puts `node` (the same name) at `g`.
    pub fn replace(&mut self, g: usize, node: Node) {
        let (k, o) = self.locate(g);
        let c = Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[k]);
        c.nodes.shared_mut()[o] = Arc::new(node);
    }

    /// Inserts `node` (a new name) before the node at `g` (at the end if `g` is the
    /// count); the caller keeps canonical order.
    pub fn insert(&mut self, g: usize, node: Node) {
        let n = self.len();
        let (mut k, mut o) = if g >= n {
            let k = self.chunks.len() - 1;
            (k, self.chunks[k].nodes.len())
        } else {
            self.locate(g)
        };
        if self.chunks[k].nodes.len() == SLOTS {
            let half = self.split(k);
            if o > half {
                k += 1;
                o -= half;
            }
        }
        let h = hash_name(node.name.as_wire());
        let chunks = Arc::make_mut(&mut self.chunks);
        let c = Arc::make_mut(&mut chunks[k]);
        let slot = c.free_slot();
        c.nodes.shared_mut().insert(o, Arc::new(node));
        c.slots.insert(o, slot);
        c.set_used(slot, true);
        c.renumber_from(o);
        let handle = c.id << 8 | u32::from(slot);
        for s in &mut Arc::make_mut(&mut self.starts)[k + 1..] {
            *s += 1;
        }
        self.reguide(k);
        self.names = Arc::new(());
        let t = Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[shard_of(h, self.shard_bits)]);
        t.insert_unique(table_hash(h as u32), (handle, h as u32), |e| {
            table_hash(e.1)
        });
    }

    /// Removes the node at `g`.
    pub fn remove(&mut self, g: usize) -> Node {
        let (k, o) = self.locate(g);
        let chunks = Arc::make_mut(&mut self.chunks);
        let c = Arc::make_mut(&mut chunks[k]);
        let node = Arc::unwrap_or_clone(c.nodes.shared_mut().remove(o));
        let slot = c.slots.remove(o);
        c.set_used(slot, false);
        c.renumber_from(o);
        let (id, empty) = (c.id, c.nodes.is_empty());
        let starts = Arc::make_mut(&mut self.starts);
        for s in &mut starts[k + 1..] {
            *s -= 1;
        }
        if empty && chunks.len() > 1 {
            chunks.remove(k);
            starts.remove(k);
            let pos_of = Arc::make_mut(&mut self.pos_of);
            pos_of[id as usize] = GONE;
            for (j, c) in chunks.iter().enumerate().skip(k) {
                pos_of[c.id as usize] = j as u32;
            }
        }
        self.reguide(k);
        self.names = Arc::new(());
        let h = hash_name(node.name.as_wire());
        let t = Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[shard_of(h, self.shard_bits)]);
        let handle = id << 8 | u32::from(slot);
        if let Ok(e) = t.find_entry(table_hash(h as u32), |e| e.0 == handle) {
            e.remove();
        }
        node
    }

    /// After chunk `k` changed size (or chunks moved from `k` on): positions are no
    /// longer by shift, and the guide is brought up to date from there.
    fn reguide(&mut self, k: usize) {
        let n = self.len();
        let guide = Arc::make_mut(&mut self.guide);
        let blocks = n.div_ceil(BUILD).max(1);
        if self.uniform {
            guide.clear();
            guide.extend((0..blocks).map(|b| (b.min(self.chunks.len() - 1)) as u32));
            self.uniform = false;
        }
        guide.resize(blocks, 0);
        // Blocks starting at or after chunk k's start may point elsewhere now.
        let from = (self.starts[k.min(self.chunks.len() - 1)] as usize) >> BUILD_SHIFT;
        // The old entry: positions before chunk k did not move.
        let mut c = guide.get(from).map_or(0, |&c| c as usize).min(k);
        for (b, slot) in guide.iter_mut().enumerate().skip(from) {
            let g = b << BUILD_SHIFT;
            while c + 1 < self.chunks.len() && self.starts[c + 1] as usize <= g {
                c += 1;
            }
            *slot = c as u32;
        }
    }

    /// Splits the full chunk `k` in two; returns the size of the first half.
    fn split(&mut self, k: usize) -> usize {
        let new_id = self.next_id;
        self.next_id += 1;
        let chunks = Arc::make_mut(&mut self.chunks);
        let c = Arc::make_mut(&mut chunks[k]);
        let half = c.nodes.len() / 2;
        let moved = Slots::Shared(c.nodes.shared_mut().split_off(half));
        let moved_slots = c.slots.split_off(half);
        for &s in &moved_slots {
            c.set_used(s, false);
        }
        let old_id = c.id;
        let nc = Chunk::new(new_id, moved);
        let rekey: Vec<(u64, u32, u32)> = nc
            .nodes
            .iter()
            .zip(&moved_slots)
            .enumerate()
            .map(|(j, (node, &s))| {
                (
                    hash_name(node.name.as_wire()),
                    old_id << 8 | u32::from(s),
                    new_id << 8 | j as u32,
                )
            })
            .collect();
        chunks.insert(k + 1, Arc::new(nc));
        let starts = Arc::make_mut(&mut self.starts);
        let at = starts[k] + half as u32;
        starts.insert(k + 1, at);
        let pos_of = Arc::make_mut(&mut self.pos_of);
        pos_of.resize(self.next_id as usize, GONE);
        for (j, c) in chunks.iter().enumerate().skip(k + 1) {
            pos_of[c.id as usize] = j as u32;
        }
        let shards = Arc::make_mut(&mut self.shards);
        for (h, old, new) in rekey {
            let t = Arc::make_mut(&mut shards[shard_of(h, self.shard_bits)]);
            if let Some(e) = t.find_mut(table_hash(h as u32), |e| e.0 == old) {
                e.0 = new;
            }
        }
        self.reguide(k);
        half
    }

    /// The nodes of `old` and of `new` that are not in chunks both share, each in
    /// canonical order, paired by name; None if that is more than `limit` nodes.
    /// O(chunks + differing nodes): every node outside those chunks is the same.
    pub fn changed_pairs<'a>(
        old: &'a Store,
        new: &'a Store,
        limit: usize,
    ) -> Option<Vec<(Option<&'a Node>, Option<&'a Node>)>> {
        if Arc::ptr_eq(&old.chunks, &new.chunks) {
            return Some(Vec::new());
        }
        // Built apart: nothing is shared, the caller walks both whole.
        if !old.same_lineage(new) {
            return None;
        }
        let shared = |c: &Arc<Chunk>, other: &Store| {
            other
                .pos_of
                .get(c.id as usize)
                .filter(|&&p| p != GONE)
                .is_some_and(|&p| Arc::ptr_eq(&other.chunks[p as usize], c))
        };
        // Shared chunks come in the same order on both sides: walk both tables
        // together, looking a chunk up on the other side only where they differ.
        let (mut a, mut b): (Vec<&'a Node>, Vec<&'a Node>) = (Vec::new(), Vec::new());
        let (ca, cb) = (&old.chunks, &new.chunks);
        let (mut i, mut j) = (0, 0);
        while i < ca.len() || j < cb.len() {
            if let (Some(x), Some(y)) = (ca.get(i), cb.get(j)) {
                if Arc::ptr_eq(x, y) {
                    i += 1;
                    j += 1;
                    continue;
                }
            }
            match ca.get(i) {
                Some(x) if !shared(x, new) => {
                    a.extend(x.nodes.iter());
                    i += 1;
                }
                _ => match cb.get(j) {
                    Some(y) if !shared(y, old) => {
                        b.extend(y.nodes.iter());
                        j += 1;
                    }
                    // Both shared, but not with each other: cannot happen when
                    // both are in canonical order; the caller walks it all.
                    _ => return None,
                },
            }
            if a.len() + b.len() > limit {
                return None;
            }
        }
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        pair_by_name(a.into_iter(), b.into_iter(), |x, y| {
            out.push((x, y));
            true
        });
        Some(out)
    }

    /// The nodes, moved out of chunks no other snapshot holds, copied from the rest.
    pub fn into_vec(self) -> Vec<Node> {
        let n = self.len();
        let chunks = Arc::try_unwrap(self.chunks).unwrap_or_else(|a| (*a).clone());
        let mut out = Vec::with_capacity(n);
        for c in chunks {
            match Arc::try_unwrap(c).map(|c| c.nodes) {
                Ok(Slots::Inline(v)) => out.extend(v),
                Ok(Slots::Shared(v)) => out.extend(v.into_iter().map(Arc::unwrap_or_clone)),
                Err(c) => out.extend(c.nodes.iter().cloned()),
            }
        }
        out
    }
}

/// Walks two runs of nodes in canonical order together, calling `f` with the nodes
/// of each name (None on the side without it) until it returns false.
pub(crate) fn pair_by_name<'a>(
    a: impl Iterator<Item = &'a Node>,
    b: impl Iterator<Item = &'a Node>,
    mut f: impl FnMut(Option<&'a Node>, Option<&'a Node>) -> bool,
) {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    loop {
        let ord = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.name.canonical_cmp(&y.name),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => return,
        };
        let x = if ord == Ordering::Greater {
            None
        } else {
            a.next()
        };
        let y = if ord == Ordering::Less {
            None
        } else {
            b.next()
        };
        if !f(x, y) {
            return;
        }
    }
}

#[inline]
fn shard_of(h: u64, bits: u32) -> usize {
    if bits == 0 {
        0
    } else {
        (h >> (64 - bits)) as usize
    }
}

/// A read-only view of a zone's nodes (a range of them), indexed like a slice.
#[derive(Clone, Copy)]
pub struct Nodes<'a> {
    store: &'a Store,
    start: usize,
    end: usize,
}

impl<'a> Nodes<'a> {
    pub(crate) fn of(store: &'a Store) -> Nodes<'a> {
        Nodes {
            store,
            start: 0,
            end: store.len(),
        }
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a Node> {
        (i < self.len()).then(|| self.store.at(self.start + i))
    }
    /// Node `i` (panics out of bounds), borrowed for the view's lifetime (indexing
    /// borrows only the view).
    #[inline]
    pub fn at(&self, i: usize) -> &'a Node {
        assert!(i < self.len(), "node {i} of {}", self.len());
        self.store.at(self.start + i)
    }
    pub fn first(&self) -> Option<&'a Node> {
        self.get(0)
    }
    pub fn last(&self) -> Option<&'a Node> {
        self.len().checked_sub(1).map(|i| self.at(i))
    }
    pub fn iter(&self) -> NodesIter<'a> {
        NodesIter {
            store: self.store,
            pos: self.start,
            end: self.end,
            run: &NO_NODES,
            run_start: 0,
        }
    }
    /// The nodes of `range` (panics out of bounds, like slicing).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Nodes<'a> {
        assert!(range.start <= range.end && range.end <= self.len());
        Nodes {
            store: self.store,
            start: self.start + range.start,
            end: self.start + range.end,
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
    /// Binary search as on a slice: over the chunks' first nodes, then in one chunk.
    pub fn binary_search_by(
        &self,
        mut f: impl FnMut(&'a Node) -> Ordering,
    ) -> Result<usize, usize> {
        if self.is_empty() {
            return Err(0);
        }
        let st = self.store;
        let (k0, _) = st.locate(self.start);
        let (k1, _) = st.locate(self.end - 1);
        // The view's first position in chunk k.
        let first = |k: usize| (st.starts[k] as usize).max(self.start);
        let (mut lo, mut hi) = (k0, k1 + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let g = first(mid);
            match f(&st.chunks[mid].nodes[g - st.starts[mid] as usize]) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(g - self.start),
            }
        }
        if lo == k0 {
            return Err(0);
        }
        // After the first node of chunk lo - 1, before that of chunk lo.
        let k = lo - 1;
        let base = st.starts[k] as usize;
        let from = first(k) + 1 - base;
        let to = (st.starts[k + 1] as usize).min(self.end) - base;
        let nodes = &st.chunks[k].nodes;
        let (mut lo, mut hi) = (from, to);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match f(&nodes[mid]) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(base + mid - self.start),
            }
        }
        Err(base + lo - self.start)
    }
    /// Owned copies of the nodes.
    pub fn to_vec(&self) -> Vec<Node> {
        self.iter().cloned().collect()
    }
    /// [`Nodes::to_vec`], on two threads for a large zone.
    pub fn to_vec_par(&self) -> Vec<Node> {
        if self.len() < crate::model::PARALLEL_BUILD_MIN {
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

static NO_NODES: Slots = Slots::Inline(Vec::new());

/// Iterator over a [`Nodes`] view, a chunk at a time.
#[derive(Clone)]
pub struct NodesIter<'a> {
    store: &'a Store,
    pos: usize,
    end: usize,
    /// The chunk holding `pos` (empty before the first step), and its first position.
    run: &'a Slots,
    run_start: usize,
}

impl<'a> Iterator for NodesIter<'a> {
    type Item = &'a Node;
    #[inline]
    fn next(&mut self) -> Option<&'a Node> {
        if self.pos >= self.end {
            return None;
        }
        if self.pos >= self.run_start + self.run.len() || self.pos < self.run_start {
            let (s, r) = self.store.run(self.pos);
            self.run = r;
            self.run_start = s;
        }
        self.pos += 1;
        Some(&self.run[self.pos - 1 - self.run_start])
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
        Some(self.store.at(self.end))
    }
}
