//! Incremental re-signing: the next signed snapshot from the current one and a few
//! changed RRsets, and a refresh pass that re-signs only the signatures coming due.
//!
//! Roads, tried in order:
//! - patch: a change that keeps every name and flag (data at an existing name that
//!   is not a cut, glue, a DNAME or its occluded data, and does not become empty)
//!   replaces the few nodes it touches through [`Zone::with_replaced`]: the changed
//!   RRsets, the node's NSEC or NSEC3 when its type bitmap moved, and the SOA are
//!   signed anew, in O(changed);
//! - splice / unsplice: a new name (or a leaf name losing its last data) below
//!   authoritative data, with no cut, DNAME or wildcard involved: the name, its empty
//!   non-terminals and their NSEC3s go in (or out) and the denial records before them
//!   are rewritten; the node list is copied once ([`Zone::with_spliced`]);
//! - name by name: changes at several names (updates committed together) take the
//!   roads above one name at a time, the serial moved on once;
//! - rebuild: anything else (cuts, DNAMEs, wildcards) rebuilds
//!   the node list from the unsigned data, O(zone) without cryptography, and signs
//!   only the RRsets and denial records that differ from the previous snapshot.
//!
//! Every road gives what [`sign_zone`](super::sign_zone) gives for the changed
//! unsigned zone, signatures' random parts aside (the tests below hold them to it).

use super::{
    has_signed_rrsets, is_dnssec_generated, merge_nsec3, negative_ttl, node_types, nsec3_chain,
    nsec3_hash, nsec3_owner, nsec3_rdata, nsec_rdata, rrsig_labels, Denial, OwnerForm,
    RrsigContext, SignError, SignOptions, SignStats, ZoneKeys,
};
use blason_zone::model::{flags, Node, RRset};
use blason_zone::name::wire_name_len;
use blason_zone::update::{put_rrset as put, soa_serial, with_serial};
pub use blason_zone::update::{serial_gt, zone_with_serial, Change};
use blason_zone::{Name, Nodes, Rtype, Zone};
use std::collections::BTreeMap;

/// The serial after a change: the one the change set, if it moves forward, else the
/// old one plus one (RFC 1982).
pub fn next_serial(old: u32, proposed: u32) -> u32 {
    blason_zone::update::SerialPolicy::Keep.next(old, proposed, 0)
}

/// The changes that turn the unsigned zone `old` into `new` (records the signer
/// writes are ignored), or None past `limit` (see [`blason_zone::update::rrset_changes`]).
pub fn diff(old: &Zone, new: &Zone, limit: usize) -> Option<Vec<Change>> {
    blason_zone::update::rrset_changes(old, new, limit)
}

/// What one [`apply`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// RRSIG records made (signatures kept from the previous snapshot not counted).
    pub rrsigs: usize,
    /// NSEC or NSEC3 records written anew.
    pub denial: usize,
    /// Nodes replaced (patch), replaced, added or removed (splice), or whose content
    /// changed (rebuild).
    pub nodes: usize,
    /// True when names or flags changed, so the node list was copied (a name spliced
    /// in or out) or rebuilt: O(zone) work without cryptography.
    pub rebuilt: bool,
    /// The new SOA serial.
    pub serial: u32,
}

/// What one [`refresh`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RefreshStats {
    /// RRsets signed anew.
    pub rrsets: usize,
    /// RRSIG records made.
    pub rrsigs: usize,
    /// The earliest expiration (seconds since the epoch) among the current keys'
    /// signatures after the pass, for scheduling the next one.
    pub earliest_expiry: Option<u64>,
    /// The new SOA serial.
    pub serial: u32,
}

/// True for types the signer writes itself, which changes may not touch.
fn signer_owned(t: Rtype) -> bool {
    is_dnssec_generated(t) || matches!(t, Rtype::DNSKEY | Rtype::CDS | Rtype::CDNSKEY)
}

fn check_change(origin: &Name, c: &Change) -> Result<(), SignError> {
    let (name, t) = (c.name(), c.rtype());
    if signer_owned(t) {
        return Err(SignError(format!(
            "{name} {t}: records of this type are written by the signer and cannot be changed directly; change the keys or the signing policy instead"
        )));
    }
    if !name.is_subdomain_of(origin) {
        return Err(SignError(format!("{name} is not in the zone {origin}")));
    }
    if t == Rtype::SOA && (*name != *origin || c.data().is_none()) {
        return Err(SignError(format!(
            "{name} SOA: the SOA can only be replaced, and only at the apex {origin}"
        )));
    }
    if let Change::Replace { rrset, .. } = c {
        if rrset.rtype == Rtype::RRSIG || rrset.covers.0 != 0 {
            return Err(SignError(format!(
                "{name}: RRSIG records cannot be changed"
            )));
        }
    }
    Ok(())
}

/// True if RRset `t` of `node` carries signatures in a signed zone.
fn is_signed(node: &Node, t: Rtype) -> bool {
    node.is_authoritative()
        && !node.has(flags::ENT)
        && t != Rtype::RRSIG
        && (!node.has(flags::DELEGATION) || matches!(t, Rtype::DS | Rtype::NSEC))
}

/// Makes RRSIG RRsets, counting the signatures.
struct Signer<'k, 'a> {
    ctx: RrsigContext,
    keys: &'k ZoneKeys<'a>,
    signer_lc: Vec<u8>,
    class: u16,
    opts: &'k SignOptions,
    owner_lc: Vec<u8>,
    count: usize,
}

impl<'k, 'a> Signer<'k, 'a> {
    fn new(zone: &Zone, keys: &'k ZoneKeys<'a>, opts: &'k SignOptions) -> Self {
        Signer {
            ctx: RrsigContext::new(),
            keys,
            signer_lc: zone.origin().as_wire().to_ascii_lowercase(),
            class: zone.class().0,
            opts,
            owner_lc: Vec::with_capacity(256),
            count: 0,
        }
    }

    /// The RRSIG RRset over `rrset` of the node `owner`.
    fn sign(&mut self, owner: &Name, apex: bool, rrset: &RRset) -> Result<RRset, SignError> {
        self.owner_lc.clear();
        self.owner_lc.extend_from_slice(owner.as_wire());
        self.owner_lc.make_ascii_lowercase();
        let form = OwnerForm {
            owner_lc: &self.owner_lc,
            labels: rrsig_labels(owner),
            class: self.class,
        };
        let keys = self.keys.signers(apex, rrset.rtype);
        let mut rdatas = Vec::with_capacity(keys.len());
        for k in keys.iter() {
            rdatas.push(
                self.ctx
                    .sign(&form, rrset, k, &self.signer_lc, &self.opts.validity)?,
            );
        }
        self.count += rdatas.len();
        let refs: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        Ok(RRset::new(Rtype::RRSIG, rrset.ttl, &refs))
    }
}

/// Puts the SOA of `signed` with its serial moved on by one (RFC 1982) at `apex`,
/// signed; returns the new serial and the SOA's RRSIG RRset.
fn bump_soa(
    signed: &Zone,
    apex: &mut Node,
    signer: &mut Signer,
) -> Result<(u32, RRset), SignError> {
    let old_soa = signed.soa().ok_or_else(|| SignError("no SOA".into()))?;
    let serial = soa_serial(old_soa)
        .ok_or_else(|| SignError("malformed SOA".into()))?
        .wrapping_add(1);
    let soa = with_serial(old_soa, serial).ok_or_else(|| SignError("malformed SOA".into()))?;
    let sig = signer.sign(&apex.name, true, &soa)?;
    put(apex, Rtype::SOA, Some(soa), Some(sig.clone()));
    Ok((serial, sig))
}

/// The NSEC RRset of `node` and the length of its next-name field.
fn node_nsec(node: &Node) -> Result<(RRset, usize), SignError> {
    let nsec = node
        .rrset(Rtype::NSEC)
        .cloned()
        .ok_or_else(|| SignError(format!("{} has no NSEC", node.name)))?;
    let l = nsec
        .first()
        .and_then(|rd| wire_name_len(rd, 0))
        .ok_or_else(|| SignError(format!("malformed NSEC at {}", node.name)))?;
    Ok((nsec, l))
}

/// The last NSEC chain member before node `i` (the apex is one, so there is one).
fn chain_before(nodes: Nodes<'_>, i: usize) -> usize {
    let mut j = i - 1;
    while !super::in_nsec_chain(nodes.at(j)) {
        j -= 1;
    }
    j
}

/// True if the node holds data of its own (not only signer-written records).
fn has_data(node: &Node) -> bool {
    node.rrsets.iter().any(|r| !is_dnssec_generated(r.rtype))
}

/// Applies `changes` to the signed zone `signed`, giving the next signed snapshot.
/// `keys` and `opts` must be the ones `signed` was signed with (new signatures use
/// `opts.validity`, which the caller sets from the current time).
pub fn apply(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<(Zone, Stats), SignError> {
    if keys.zsk.is_empty() || keys.ksk.is_empty() {
        return Err(SignError("no signing keys".into()));
    }
    let origin = signed.origin();
    for c in changes {
        check_change(origin, c)?;
    }
    if signed.soa().is_none() {
        return Err(SignError(format!(
            "the zone {origin} has no SOA at its apex"
        )));
    }
    if let Some(p) = one_name(signed, changes, keys, opts, true)? {
        let mut zone = signed.clone();
        let stats = p.stats;
        p.apply_to(&mut zone);
        return Ok((zone, stats));
    }
    if let Some(r) = name_by_name(signed, changes, keys, opts)? {
        return Ok(r);
    }
    rebuild(signed, changes, keys, opts)
}

/// The changes one road makes: nodes replaced (same names), inserted before an
/// index, removed (indices of the zone the road read).
struct Plan {
    replace: Vec<(usize, Node)>,
    insert: Vec<(usize, Node)>,
    remove: Vec<usize>,
    stats: Stats,
}

impl Plan {
    /// Carries the plan out on `zone` (the one it was made from), in place.
    fn apply_to(self, zone: &mut Zone) {
        if self.insert.is_empty() && self.remove.is_empty() {
            zone.replace_nodes(self.replace);
        } else {
            zone.splice(self.replace, self.insert, self.remove);
        }
    }
}

/// The fast road, as a new snapshot (for key steps).
pub(crate) fn patch(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<Option<(Zone, Stats)>, SignError> {
    Ok(patch_plan(signed, changes, keys, opts, true)?.map(|p| {
        let mut zone = signed.clone();
        let stats = p.stats;
        p.apply_to(&mut zone);
        (zone, stats)
    }))
}

/// The patch, splice or unsplice road, the first that fits; with `bump`, the SOA's
/// serial moved on and signed.
fn one_name(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
    bump: bool,
) -> Result<Option<Plan>, SignError> {
    if let Some(p) = patch_plan(signed, changes, keys, opts, bump)? {
        return Ok(Some(p));
    }
    if let Some(p) = splice_plan(signed, changes, keys, opts, bump)? {
        return Ok(Some(p));
    }
    unsplice_plan(signed, changes, keys, opts, bump)
}

/// Changes at several names (updates committed together): each name's changes by
/// the patch, splice or unsplice road in turn, so that a commit of many new names
/// stays O(changed) instead of a rebuild. The serial moves on by one in all. `None`
/// if one name needs the rebuild.
fn name_by_name(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<Option<(Zone, Stats)>, SignError> {
    let mut groups: BTreeMap<Vec<u8>, Vec<Change>> = BTreeMap::new();
    for c in changes {
        if c.rtype() == Rtype::SOA {
            return Ok(None);
        }
        groups
            .entry(c.name().as_wire().to_ascii_lowercase())
            .or_default()
            .push(c.clone());
    }
    if groups.len() < 2 {
        return Ok(None);
    }
    // One copy of what the first step touches, then every step in place.
    let mut zone = signed.clone();
    let mut total = Stats::default();
    for group in groups.values() {
        let Some(p) = one_name(&zone, group, keys, opts, false)? else {
            return Ok(None);
        };
        let st = p.stats;
        total.rrsigs += st.rrsigs;
        total.denial += st.denial;
        total.nodes += st.nodes;
        total.rebuilt |= st.rebuilt;
        p.apply_to(&mut zone);
    }
    // The serial, once for all the steps.
    let serial = soa_serial(signed.soa().ok_or_else(|| SignError("no SOA".into()))?)
        .ok_or_else(|| SignError("malformed SOA".into()))?
        .wrapping_add(1);
    let mut apex = zone.apex().clone();
    let soa = apex
        .rrset(Rtype::SOA)
        .and_then(|r| with_serial(r, serial))
        .ok_or_else(|| SignError("malformed SOA".into()))?;
    let mut signer = Signer::new(signed, keys, opts);
    let sig = signer.sign(&apex.name, true, &soa)?;
    put(&mut apex, Rtype::SOA, Some(soa), Some(sig));
    zone.replace_nodes(vec![(0, apex)]);
    total.rrsigs += signer.count;
    total.serial = serial;
    Ok(Some((zone, total)))
}

/// True if the apex shows the zone was signed with the denial `opts` asks for.
fn denial_matches(zone: &Zone, opts: &SignOptions) -> bool {
    let apex = zone.apex();
    match &opts.denial {
        Denial::Nsec => {
            apex.rrset(Rtype::NSEC).is_some() && apex.rrset(Rtype::NSEC3PARAM).is_none()
        }
        Denial::Nsec3(p) => {
            apex.rrset(Rtype::NSEC).is_none()
                && apex
                    .rrset(Rtype::NSEC3PARAM)
                    .and_then(|r| r.first())
                    .is_some_and(|rd| rd == p.nsec3param_rdata())
        }
    }
}

/// The fast road: `None` if some change alters names or flags.
fn patch_plan(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
    bump: bool,
) -> Result<Option<Plan>, SignError> {
    if !denial_matches(signed, opts) {
        return Ok(None);
    }
    let mut work: BTreeMap<usize, Node> = BTreeMap::new();
    let mut resign: Vec<(usize, Rtype)> = Vec::with_capacity(changes.len() + 1);
    for c in changes {
        let t = c.rtype();
        let Some(i) = signed.find(c.name().as_wire()) else {
            return Ok(None);
        };
        let old = signed.node(i);
        let structural =
            matches!(t, Rtype::DNAME | Rtype::DS) || (t == Rtype::NS && !old.has(flags::APEX));
        // Glue and occluded data (below a cut or a DNAME) change too: they are
        // neither signed nor in the denial chain.
        if structural || old.has(flags::ENT) || old.has(flags::DELEGATION) || !has_data(old) {
            return Ok(None);
        }
        let node = work.entry(i).or_insert_with(|| old.clone());
        put(node, t, c.data().cloned(), None);
        resign.push((i, t));
    }
    if work.values().any(|n| !has_data(n)) {
        return Ok(None);
    }
    // The SOA: the serial moves on, and NSEC/NSEC3 TTLs must not (else all of them
    // would change). Not when the caller moves it itself.
    let old_soa = signed.soa().ok_or_else(|| SignError("no SOA".into()))?;
    let old_serial = soa_serial(old_soa).ok_or_else(|| SignError("malformed SOA".into()))?;
    let mut serial = old_serial;
    if bump {
        let apex = work.entry(0).or_insert_with(|| signed.apex().clone());
        let cur_soa = apex.rrset(Rtype::SOA).unwrap_or(old_soa).clone();
        let proposed = soa_serial(&cur_soa).ok_or_else(|| SignError("malformed SOA".into()))?;
        serial = next_serial(old_serial, proposed);
        let soa = with_serial(&cur_soa, serial).ok_or_else(|| SignError("malformed SOA".into()))?;
        put(apex, Rtype::SOA, Some(soa.clone()), None);
        resign.push((0, Rtype::SOA));
        if soa.ttl != old_soa.ttl
            || soa.first().map(|r| &r[r.len() - 4..]) != old_soa.first().map(|r| &r[r.len() - 4..])
        {
            return Ok(None);
        }
    }

    let mut signer = Signer::new(signed, keys, opts);
    let mut stats = Stats {
        serial,
        ..Stats::default()
    };
    resign.sort_by_key(|r| (r.0, r.1 .0));
    resign.dedup();
    for &(i, t) in &resign {
        let node = work.get_mut(&i).expect("touched");
        let Some(data) = node.rrset(t).cloned().filter(|_| is_signed(node, t)) else {
            continue;
        };
        let sig = signer.sign(&node.name, node.has(flags::APEX), &data)?;
        put(node, t, Some(data), Some(sig));
    }

    // Denial records whose type bitmap moved; next pointers do not move here.
    let touched: Vec<usize> = work.keys().copied().collect();
    let mut old_types = Vec::with_capacity(16);
    let mut new_types = Vec::with_capacity(16);
    for i in touched {
        if !work[&i].is_authoritative() {
            continue;
        }
        node_types(signed.node(i), &mut old_types);
        node_types(&work[&i], &mut new_types);
        if old_types == new_types {
            continue;
        }
        match &opts.denial {
            Denial::Nsec => {
                let node = work.get_mut(&i).expect("touched");
                let (old, l) = node_nsec(node)?;
                let rd = old.first().unwrap_or_default();
                let next = Name::from_wire(&rd[..l])
                    .map_err(|_| SignError(format!("malformed NSEC at {}", node.name)))?;
                let nsec = RRset::new(Rtype::NSEC, old.ttl, &[&nsec_rdata(&next, &mut new_types)]);
                let sig = signer.sign(&node.name, node.has(flags::APEX), &nsec)?;
                put(node, Rtype::NSEC, Some(nsec), Some(sig));
            }
            Denial::Nsec3(p) => {
                let name = work[&i].name.clone();
                if has_signed_rrsets(&work[&i]) {
                    new_types.push(Rtype::RRSIG.0);
                }
                let owner = nsec3_owner(
                    &nsec3_hash(name.as_wire(), &p.salt, p.iterations),
                    signed.origin(),
                );
                let j = signed
                    .find(owner.as_wire())
                    .ok_or_else(|| SignError(format!("{name} has no NSEC3")))?;
                let node = work.entry(j).or_insert_with(|| signed.node(j).clone());
                let old = node
                    .rrset(Rtype::NSEC3)
                    .cloned()
                    .ok_or_else(|| SignError(format!("{name} has no NSEC3")))?;
                let next = nsec3_next(old.first().unwrap_or_default())
                    .ok_or_else(|| SignError(format!("malformed NSEC3 for {name}")))?
                    .to_vec();
                let nsec3 = RRset::new(
                    Rtype::NSEC3,
                    old.ttl,
                    &[&nsec3_rdata(p, &next, &mut new_types)],
                );
                let sig = signer.sign(&node.name, false, &nsec3)?;
                put(node, Rtype::NSEC3, Some(nsec3), Some(sig));
            }
        }
        stats.denial += 1;
    }
    stats.rrsigs = signer.count;
    stats.nodes = work.len();
    Ok(Some(Plan {
        replace: work.into_iter().collect(),
        insert: Vec::new(),
        remove: Vec::new(),
        stats,
    }))
}

/// A new NSEC3 member: (wrapped past the end of the chain, insertion index, hash,
/// is an empty non-terminal).
type NewNsec3 = (bool, usize, [u8; 20], bool);

/// The road for a new name (the dynamic-DNS "add a host"): every change is data at
/// one name that does not exist yet, below authoritative data, with no cut, DNAME or
/// wildcard involved. The name, the empty non-terminals above it, their NSEC3
/// records, and the denial records before them are written; the node list is copied
/// with them inserted (O(zone) copying, nothing else). `None` if that does not fit.
fn splice_plan(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
    bump: bool,
) -> Result<Option<Plan>, SignError> {
    let Some(first) = changes.first() else {
        return Ok(None);
    };
    let name = first.name();
    if !denial_matches(signed, opts)
        || signed.find(name.as_wire()).is_some()
        || name.is_wildcard()
        || changes.iter().any(|c| {
            c.name().as_wire() != name.as_wire()
                || matches!(c.rtype(), Rtype::NS | Rtype::DS | Rtype::DNAME | Rtype::SOA)
        })
    {
        return Ok(None);
    }
    let mut node = Node {
        name: name.clone(),
        rrsets: Box::new([]),
        flags: 0,
    };
    for c in changes {
        put(&mut node, c.rtype(), c.data().cloned(), None);
    }
    if !has_data(&node) {
        return Ok(None);
    }
    // The closest existing ancestor, and the empty non-terminals to add below it.
    let mut ents: Vec<Name> = Vec::new();
    let mut anc = name.parent();
    let e = loop {
        let Some(a) = anc else {
            return Ok(None);
        };
        if let Some(i) = signed.find(a.as_wire()) {
            break i;
        }
        if a.is_wildcard() {
            return Ok(None);
        }
        anc = a.parent();
        ents.push(a);
    };
    ents.reverse();
    let en = signed.node(e);
    if !en.is_authoritative()
        || en.has(flags::DELEGATION)
        || en.rrset(Rtype::DNAME).is_some()
        || !(has_data(en) || en.has(flags::ENT) || en.has(flags::APEX))
    {
        return Ok(None);
    }
    let nodes = signed.nodes();
    let top = ents.first().unwrap_or(name);
    let Err(pos) = nodes.binary_search_by(|n| n.name.canonical_cmp(top)) else {
        return Ok(None);
    };

    let mut signer = Signer::new(signed, keys, opts);
    let mut replace: BTreeMap<usize, Node> = BTreeMap::new();
    let mut insert: Vec<(usize, Node)> = Vec::new();
    let mut stats = Stats {
        rebuilt: true,
        ..Stats::default()
    };
    let mut types = Vec::with_capacity(16);
    match &opts.denial {
        Denial::Nsec => {
            // The chain node before the new name now points at it.
            let j = chain_before(nodes, pos);
            let prev = replace.entry(j).or_insert_with(|| nodes.at(j).clone());
            let (old, l) = node_nsec(prev)?;
            let rd = old.first().unwrap_or_default();
            let next = Name::from_wire(&rd[..l])
                .map_err(|_| SignError(format!("malformed NSEC at {}", prev.name)))?;
            let mut prd = name.as_wire().to_ascii_lowercase();
            prd.extend_from_slice(&rd[l..]);
            let nsec = RRset::new(Rtype::NSEC, old.ttl, &[&prd]);
            let sig = signer.sign(&prev.name, prev.has(flags::APEX), &nsec)?;
            put(prev, Rtype::NSEC, Some(nsec), Some(sig));
            node_types(&node, &mut types);
            let nsec = RRset::new(Rtype::NSEC, old.ttl, &[&nsec_rdata(&next, &mut types)]);
            put(&mut node, Rtype::NSEC, Some(nsec), None);
            stats.denial += 2;
        }
        Denial::Nsec3(p) => {
            // New members: the empty non-terminals and the name, by hash.
            let mut members: Vec<([u8; 20], bool)> = ents
                .iter()
                .map(|a| (nsec3_hash(a.as_wire(), &p.salt, p.iterations), true))
                .collect();
            members.push((nsec3_hash(name.as_wire(), &p.salt, p.iterations), false));
            members.sort_unstable();
            // Each goes after the NSEC3 before it in the old chain (wrapping).
            let mut groups: BTreeMap<usize, Vec<NewNsec3>> = BTreeMap::new();
            for (h, ent) in members {
                let owner = nsec3_owner(&h, signed.origin());
                let Err(q) = nodes.binary_search_by(|n| n.name.canonical_cmp(&owner)) else {
                    return Ok(None);
                };
                let x = (0..q)
                    .rev()
                    .chain((q..nodes.len()).rev())
                    .find(|&j| nodes.at(j).rrset(Rtype::NSEC3).is_some())
                    .ok_or_else(|| SignError("no NSEC3 chain".into()))?;
                // Hashes below the first NSEC3 follow the last one, after those above it.
                let wrapped = x >= q;
                groups.entry(x).or_default().push((wrapped, q, h, ent));
            }
            for (x, mut group) in groups {
                group.sort_by_key(|g| g.0);
                let group: Vec<(usize, [u8; 20], bool)> = group
                    .into_iter()
                    .map(|(_, q, h, ent)| (q, h, ent))
                    .collect();
                let prev = replace.entry(x).or_insert_with(|| nodes.at(x).clone());
                let old = prev
                    .rrset(Rtype::NSEC3)
                    .cloned()
                    .ok_or_else(|| SignError("no NSEC3".into()))?;
                let rd = old.first().unwrap_or_default().to_vec();
                let next = nsec3_next(&rd)
                    .ok_or_else(|| SignError(format!("malformed NSEC3 at {}", prev.name)))?
                    .to_vec();
                // The old record with its next hash pointing at the first new one.
                let at = 6 + rd[4] as usize;
                let mut prd = rd.clone();
                prd[at..at + next.len()].copy_from_slice(&group[0].1);
                let nsec3 = RRset::new(Rtype::NSEC3, old.ttl, &[&prd]);
                let sig = signer.sign(&prev.name, false, &nsec3)?;
                put(prev, Rtype::NSEC3, Some(nsec3), Some(sig));
                stats.denial += 1;
                for (k, &(q, h, ent)) in group.iter().enumerate() {
                    let to = group.get(k + 1).map_or(&next[..], |g| &g.1[..]);
                    types.clear();
                    if !ent {
                        node_types(&node, &mut types);
                        types.push(Rtype::RRSIG.0);
                    }
                    let nsec3 =
                        RRset::new(Rtype::NSEC3, old.ttl, &[&nsec3_rdata(p, to, &mut types)]);
                    let owner = nsec3_owner(&h, signed.origin());
                    let sig = signer.sign(&owner, false, &nsec3)?;
                    insert.push((
                        q,
                        Node {
                            name: owner,
                            rrsets: vec![sig, nsec3].into_boxed_slice(),
                            flags: 0,
                        },
                    ));
                    stats.denial += 1;
                }
            }
        }
    }
    // The new name's data (and NSEC), signed.
    let data: Vec<RRset> = node
        .rrsets
        .iter()
        .filter(|r| r.rtype != Rtype::RRSIG)
        .cloned()
        .collect();
    for r in data {
        let sig = signer.sign(&node.name, false, &r)?;
        put(&mut node, r.rtype, Some(r), Some(sig));
    }
    for a in ents {
        insert.push((
            pos,
            Node {
                name: a,
                rrsets: Box::new([]),
                flags: flags::ENT,
            },
        ));
    }
    insert.push((pos, node));
    // The SOA.
    if bump {
        let apex = replace.entry(0).or_insert_with(|| signed.apex().clone());
        stats.serial = bump_soa(signed, apex, &mut signer)?.0;
    }
    stats.rrsigs = signer.count;
    stats.nodes = replace.len() + insert.len();
    Ok(Some(Plan {
        replace: replace.into_iter().collect(),
        insert,
        remove: Vec::new(),
        stats,
    }))
}

/// The road for a name whose last data is deleted (the dynamic-DNS "remove a
/// host"): a leaf below authoritative data, with no cut, DNAME or wildcard involved.
/// The name and the empty non-terminals left with nothing below go, with their NSEC3
/// records; the denial records before them are rewritten. `None` if that does not
/// fit.
fn unsplice_plan(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
    bump: bool,
) -> Result<Option<Plan>, SignError> {
    let Some(first) = changes.first() else {
        return Ok(None);
    };
    let name = first.name();
    let Some(i) = signed.find(name.as_wire()) else {
        return Ok(None);
    };
    let nodes = signed.nodes();
    let old = nodes.at(i);
    if !denial_matches(signed, opts)
        || changes
            .iter()
            .any(|c| c.name().as_wire() != name.as_wire() || c.data().is_some())
        || !old.is_authoritative()
        || old.flags & (flags::APEX | flags::DELEGATION | flags::WILDCARD | flags::ENT) != 0
        || old.rrset(Rtype::DNAME).is_some()
        || !has_data(old)
        || nodes
            .get(i + 1)
            .is_some_and(|n| n.name.is_subdomain_of(&old.name))
    {
        return Ok(None);
    }
    let mut node = old.clone();
    for c in changes {
        put(&mut node, c.rtype(), None, None);
    }
    if has_data(&node) {
        return Ok(None);
    }
    // Empty non-terminals left with nothing below: the nodes just before, upwards.
    let mut gone = vec![i];
    let mut k = i;
    while k > 1 {
        let p = nodes.at(k - 1);
        let only_child = p.has(flags::ENT)
            && old.name.is_subdomain_of(&p.name)
            && !nodes
                .get(i + 1)
                .is_some_and(|n| n.name.is_subdomain_of(&p.name));
        if !only_child {
            break;
        }
        if p.has(flags::WILDCARD) {
            // Its parent's wildcard flag would change too.
            return Ok(None);
        }
        k -= 1;
        gone.push(k);
    }

    let mut signer = Signer::new(signed, keys, opts);
    let mut replace: BTreeMap<usize, Node> = BTreeMap::new();
    let mut remove: Vec<usize> = gone.clone();
    let mut stats = Stats {
        rebuilt: true,
        ..Stats::default()
    };
    match &opts.denial {
        Denial::Nsec => {
            // The chain node before the name points where the name pointed.
            let j = chain_before(nodes, k);
            let next = old
                .rrset(Rtype::NSEC)
                .and_then(|r| r.first())
                .and_then(|rd| Some(&rd[..wire_name_len(rd, 0)?]))
                .ok_or_else(|| SignError(format!("malformed NSEC at {}", old.name)))?;
            let prev = replace.entry(j).or_insert_with(|| nodes.at(j).clone());
            let (pold, l) = node_nsec(prev)?;
            let rd = pold.first().unwrap_or_default();
            let mut prd = next.to_vec();
            prd.extend_from_slice(&rd[l..]);
            let nsec = RRset::new(Rtype::NSEC, pold.ttl, &[&prd]);
            let sig = signer.sign(&prev.name, prev.has(flags::APEX), &nsec)?;
            put(prev, Rtype::NSEC, Some(nsec), Some(sig));
            stats.denial += 1;
        }
        Denial::Nsec3(p) => {
            // The NSEC3s of the names that go, and what each chain member before
            // them now points at: the first member after them that stays.
            let mut dead: Vec<usize> = Vec::new();
            for &g in &gone {
                let h = nsec3_hash(nodes.at(g).name.as_wire(), &p.salt, p.iterations);
                let owner = nsec3_owner(&h, signed.origin());
                let j = signed
                    .find(owner.as_wire())
                    .ok_or_else(|| SignError(format!("{} has no NSEC3", nodes.at(g).name)))?;
                if has_data(nodes.at(j)) {
                    return Ok(None);
                }
                dead.push(j);
            }
            dead.sort_unstable();
            let n = nodes.len();
            for &d in &dead {
                let x = (1..=n)
                    .map(|s| (d + n - s) % n)
                    .find(|&j| {
                        nodes.at(j).rrset(Rtype::NSEC3).is_some() && dead.binary_search(&j).is_err()
                    })
                    .ok_or_else(|| SignError("no NSEC3 chain".into()))?;
                if replace.contains_key(&x) {
                    continue;
                }
                let prev = nodes.at(x);
                let pold = prev
                    .rrset(Rtype::NSEC3)
                    .ok_or_else(|| SignError("no NSEC3".into()))?;
                let mut rd = pold.first().unwrap_or_default().to_vec();
                let mut next = nsec3_next(&rd)
                    .ok_or_else(|| SignError(format!("malformed NSEC3 at {}", prev.name)))?
                    .to_vec();
                loop {
                    let owner = nsec3_owner(&next, signed.origin());
                    let j = signed
                        .find(owner.as_wire())
                        .ok_or_else(|| SignError(format!("broken NSEC3 chain at {owner}")))?;
                    if dead.binary_search(&j).is_err() {
                        break;
                    }
                    next = nodes
                        .at(j)
                        .rrset(Rtype::NSEC3)
                        .and_then(|r| r.first())
                        .and_then(nsec3_next)
                        .ok_or_else(|| SignError(format!("malformed NSEC3 at {owner}")))?
                        .to_vec();
                }
                let at = 6 + rd[4] as usize;
                rd[at..at + next.len()].copy_from_slice(&next);
                let nsec3 = RRset::new(Rtype::NSEC3, pold.ttl, &[&rd]);
                let mut prev = prev.clone();
                let sig = signer.sign(&prev.name, false, &nsec3)?;
                put(&mut prev, Rtype::NSEC3, Some(nsec3), Some(sig));
                replace.insert(x, prev);
                stats.denial += 1;
            }
            remove.extend(dead);
        }
    }
    // The SOA.
    if bump {
        let apex = replace.entry(0).or_insert_with(|| signed.apex().clone());
        stats.serial = bump_soa(signed, apex, &mut signer)?.0;
    }
    stats.rrsigs = signer.count;
    stats.nodes = replace.len() + remove.len();
    Ok(Some(Plan {
        replace: replace.into_iter().collect(),
        insert: Vec::new(),
        remove,
        stats,
    }))
}

/// The next hashed owner in NSEC3 rdata.
fn nsec3_next(rd: &[u8]) -> Option<&[u8]> {
    let salt = *rd.get(4)? as usize;
    let hl = *rd.get(5 + salt)? as usize;
    rd.get(6 + salt..6 + salt + hl)
}

/// `f` over `0..n` split into `threads` ranges, on that many threads for a large `n`.
fn par_ranges<R: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(std::ops::Range<usize>) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || n < 50_000 {
        return vec![f(0..n)];
    }
    let size = n.div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                let r = (t * size).min(n)..((t + 1) * size).min(n);
                s.spawn(move || f(r))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The general road: rebuild the nodes from the unsigned data, the chain from them,
/// and sign what differs from `signed`. Copying the nodes dominates, so the copies
/// and the comparison with `signed` run on `opts.threads` threads.
fn rebuild(
    signed: &Zone,
    changes: &[Change],
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<(Zone, Stats), SignError> {
    let origin = signed.origin();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    // Unsigned data: the signer's records out, DNSKEY/CDS/CDNSKEY kept (unchanged).
    let all = signed.nodes();
    let parts = par_ranges(all.len(), threads, |r| {
        let mut out: Vec<Node> = Vec::with_capacity(r.len());
        for n in all.slice(r) {
            if !has_data(n) && !n.has(flags::APEX) {
                continue;
            }
            let rrsets: Vec<RRset> = n
                .rrsets
                .iter()
                .filter(|r| !is_dnssec_generated(r.rtype))
                .cloned()
                .collect();
            out.push(Node {
                name: n.name.clone(),
                rrsets: rrsets.into_boxed_slice(),
                flags: 0,
            });
        }
        out
    });
    let mut data: Vec<Node> = Vec::with_capacity(parts.iter().map(Vec::len).sum::<usize>() + 8);
    for p in parts {
        data.extend(p);
    }
    let old_soa = signed.soa().ok_or_else(|| SignError("no SOA".into()))?;
    let old_serial = soa_serial(old_soa).ok_or_else(|| SignError("malformed SOA".into()))?;
    for c in changes {
        let name = c.name();
        let at = data.binary_search_by(|n| n.name.canonical_cmp(name));
        let i = match at {
            Ok(i) => i,
            Err(i) => {
                data.insert(
                    i,
                    Node {
                        name: name.clone(),
                        rrsets: Box::new([]),
                        flags: 0,
                    },
                );
                i
            }
        };
        put(&mut data[i], c.rtype(), c.data().cloned(), None);
    }
    {
        let apex = &mut data[0];
        let cur = apex.rrset(Rtype::SOA).unwrap_or(old_soa).clone();
        let proposed = soa_serial(&cur).ok_or_else(|| SignError("malformed SOA".into()))?;
        let soa = with_serial(&cur, next_serial(old_serial, proposed))
            .ok_or_else(|| SignError("malformed SOA".into()))?;
        put(apex, Rtype::SOA, Some(soa), None);
        if let Denial::Nsec3(p) = &opts.denial {
            let param = RRset::new(Rtype::NSEC3PARAM, 0, &[&p.nsec3param_rdata()]);
            put(apex, Rtype::NSEC3PARAM, Some(param), None);
        }
    }
    let unsigned = Zone::from_data(origin, signed.class(), data);
    let serial = unsigned
        .serial()
        .ok_or_else(|| SignError("malformed SOA".into()))?;
    let neg_ttl = negative_ttl(&unsigned).ok_or_else(|| SignError("malformed SOA".into()))?;
    let mut nodes = unsigned.into_nodes();

    let mut chain_stats = SignStats::default();
    let mut types: Vec<u16> = Vec::with_capacity(16);
    match &opts.denial {
        Denial::Nsec => {
            let chain: Vec<usize> = (0..nodes.len())
                .filter(|&i| super::in_nsec_chain(&nodes[i]))
                .collect();
            for (ci, &i) in chain.iter().enumerate() {
                let next = nodes[chain[(ci + 1) % chain.len()]].name.clone();
                node_types(&nodes[i], &mut types);
                let rd = nsec_rdata(&next, &mut types);
                // No RRSIGs yet: NSEC goes after the types below it.
                let node = &mut nodes[i];
                let mut v = std::mem::take(&mut node.rrsets).into_vec();
                let at = v.partition_point(|r| r.rtype.0 < Rtype::NSEC.0);
                v.insert(at, RRset::new(Rtype::NSEC, neg_ttl, &[&rd]));
                node.rrsets = v.into_boxed_slice();
            }
        }
        Denial::Nsec3(p) => {
            let hashed = nsec3_chain(&nodes, origin, p, neg_ttl, threads, &mut chain_stats)?;
            nodes = merge_nsec3(nodes, hashed);
        }
    }

    // Signatures: kept where the RRset is as before, made anew elsewhere.
    let size = if threads <= 1 || nodes.len() < 50_000 {
        nodes.len().max(1)
    } else {
        nodes.len().div_ceil(threads)
    };
    let results: Vec<Result<(usize, usize, usize), SignError>> = std::thread::scope(|s| {
        let handles: Vec<_> = nodes
            .chunks_mut(size)
            .map(|part| s.spawn(move || sign_part(signed, part, keys, opts)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut stats = Stats {
        serial,
        rebuilt: true,
        ..Stats::default()
    };
    for r in results {
        let (rrsigs, denial, changed) = r?;
        stats.rrsigs += rrsigs;
        stats.denial += denial;
        stats.nodes += changed;
    }
    Ok((Zone::from_nodes(origin, signed.class(), nodes), stats))
}

/// Adds the RRSIGs of rebuilt nodes: those of `signed` where the RRset is unchanged,
/// new ones elsewhere. Returns (signatures made, denial records signed, nodes changed).
fn sign_part(
    signed: &Zone,
    part: &mut [Node],
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<(usize, usize, usize), SignError> {
    let mut signer = Signer::new(signed, keys, opts);
    let (mut denial, mut nodes) = (0, 0);
    for node in part.iter_mut() {
        let old = signed.find(node.name.as_wire()).map(|j| signed.node(j));
        let mut sigs: Vec<RRset> = Vec::new();
        let mut changed = old.is_none_or(|o| o.flags != node.flags);
        for r in node.rrsets.iter() {
            if !is_signed(node, r.rtype) {
                continue;
            }
            let kept = old.and_then(|o| {
                (is_signed(o, r.rtype) && o.rrset(r.rtype) == Some(r))
                    .then(|| o.rrsigs(r.rtype))
                    .flatten()
            });
            match kept {
                Some(s) => sigs.push(s.clone()),
                None => {
                    changed = true;
                    if matches!(r.rtype, Rtype::NSEC | Rtype::NSEC3) {
                        denial += 1;
                    }
                    sigs.push(signer.sign(&node.name, node.has(flags::APEX), r)?);
                }
            }
        }
        if !sigs.is_empty() {
            let mut all = std::mem::take(&mut node.rrsets).into_vec();
            all.append(&mut sigs);
            all.sort_by_key(|r| (r.rtype.0, r.covers.0));
            node.rrsets = all.into_boxed_slice();
        }
        nodes += changed as usize;
    }
    Ok((signer.count, denial, nodes))
}

/// Seconds since the epoch of an RRSIG time field, taken as the instance nearest `now`
/// (RFC 4034 §3.1.5 serial arithmetic).
fn absolute(t: u32, now: u64) -> u64 {
    let delta = t.wrapping_sub(now as u32) as i32 as i64;
    (now as i64 + delta).max(0) as u64
}

/// The earliest RRSIG expiration in `zone` (seconds since the epoch, read around
/// `now` as RFC 4034 §3.1.5 says), None without signatures. One scan, no cryptography:
/// what a zone restored from a journal needs to schedule its next refresh.
pub fn earliest_expiration(zone: &Zone, now: u64) -> Option<u64> {
    zone.nodes()
        .iter()
        .flat_map(|n| n.rrsets.iter().filter(|r| r.rtype == Rtype::RRSIG))
        .flat_map(|r| r.rdatas())
        .filter_map(|rd| {
            Some(absolute(
                u32::from_be_bytes(rd.get(8..12)?.try_into().ok()?),
                now,
            ))
        })
        .min()
}

/// The unsigned zone a signed one was made from: every record the signer writes
/// (RRSIG, NSEC, NSEC3, NSEC3PARAM, DNSKEY, CDS, CDNSKEY) taken out, names left
/// empty dropped, flags derived again.
pub fn unsigned_of(signed: &Zone) -> Zone {
    let data: Vec<Node> = signed
        .nodes()
        .iter()
        .filter(|n| !n.has(flags::ENT))
        .map(|n| Node {
            name: n.name.clone(),
            rrsets: n
                .rrsets
                .iter()
                .filter(|r| !signer_owned(r.rtype))
                .cloned()
                .collect(),
            flags: 0,
        })
        .collect();
    Zone::from_data(signed.origin(), signed.class(), data)
}

/// Re-signs the RRsets whose signatures by the current keys expire before
/// `now + refresh_window`, or that lack one by a current key; bumps the SOA serial
/// when anything changed. `None` when nothing is due. Signatures get `opts.validity`
/// (with its per-RRset jitter, so refreshes stay spread out over time). The scan and
/// the signing run on `opts.threads` threads.
pub fn refresh(
    signed: &Zone,
    keys: &ZoneKeys,
    opts: &SignOptions,
    now: u64,
    refresh_window: u64,
) -> Result<Option<(Zone, RefreshStats)>, SignError> {
    if keys.zsk.is_empty() || keys.ksk.is_empty() {
        return Err(SignError("no signing keys".into()));
    }
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let deadline = now.saturating_add(refresh_window);
    let nodes = signed.nodes();
    let parts = par_ranges(nodes.len(), threads, |r| {
        refresh_part(signed, r, keys, opts, now, deadline)
    });
    let mut stats = RefreshStats::default();
    let mut work: Vec<(usize, Node)> = Vec::new();
    let mut earliest: Option<u64> = None;
    let mut rrsigs = 0;
    for p in parts {
        let p = p?;
        work.extend(p.nodes);
        stats.rrsets += p.rrsets;
        rrsigs += p.rrsigs;
        earliest = min_opt(earliest, p.earliest);
    }
    if work.is_empty() {
        return Ok(None);
    }
    // The zone changed: a new serial, and the SOA signed over it.
    let mut apex = match work.first() {
        Some((0, _)) => work.remove(0).1,
        _ => signed.apex().clone(),
    };
    let mut signer = Signer::new(signed, keys, opts);
    let (serial, sig) = bump_soa(signed, &mut apex, &mut signer)?;
    earliest = min_opt(earliest, Some(earliest_in(&sig, now)));
    work.push((0, apex));
    stats.rrsigs = rrsigs + signer.count;
    stats.serial = serial;
    stats.earliest_expiry = earliest;
    Ok(Some((signed.with_replaced(work), stats)))
}

fn min_opt(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// What [`refresh`] found and signed in one range of nodes.
struct RefreshPart {
    nodes: Vec<(usize, Node)>,
    rrsets: usize,
    rrsigs: usize,
    earliest: Option<u64>,
}

fn refresh_part(
    signed: &Zone,
    range: std::ops::Range<usize>,
    keys: &ZoneKeys,
    opts: &SignOptions,
    now: u64,
    deadline: u64,
) -> Result<RefreshPart, SignError> {
    let mut signer = Signer::new(signed, keys, opts);
    let mut out = RefreshPart {
        nodes: Vec::new(),
        rrsets: 0,
        rrsigs: 0,
        earliest: None,
    };
    let nodes = signed.nodes();
    let mut due: Vec<Rtype> = Vec::new();
    for i in range {
        let node = nodes.at(i);
        if !node.is_authoritative() || node.has(flags::ENT) {
            continue;
        }
        let apex = node.has(flags::APEX);
        due.clear();
        for r in node.rrsets.iter() {
            if !is_signed(node, r.rtype) {
                continue;
            }
            let sigs = node.rrsigs(r.rtype);
            let mut soonest: Option<u64> = None;
            let mut ok = true;
            for k in keys.signers(apex, r.rtype).iter() {
                // The latest signature by this key counts.
                let exp = sigs.and_then(|s| {
                    s.rdatas()
                        .filter(|sig| {
                            sig.len() >= 18
                                && sig[2] == k.algorithm.number()
                                && u16::from_be_bytes([sig[16], sig[17]]) == k.tag
                        })
                        .map(|sig| {
                            absolute(u32::from_be_bytes([sig[8], sig[9], sig[10], sig[11]]), now)
                        })
                        .max()
                });
                match exp {
                    Some(e) if e > deadline => soonest = min_opt(soonest, Some(e)),
                    _ => ok = false,
                }
            }
            if ok {
                out.earliest = min_opt(out.earliest, soonest);
            } else {
                due.push(r.rtype);
            }
        }
        if due.is_empty() {
            continue;
        }
        let mut n = node.clone();
        for &t in &due {
            let Some(data) = n.rrset(t).cloned() else {
                continue;
            };
            let sig = signer.sign(&n.name, apex, &data)?;
            out.earliest = min_opt(out.earliest, Some(earliest_in(&sig, now)));
            put(&mut n, t, Some(data), Some(sig));
            out.rrsets += 1;
        }
        out.nodes.push((i, n));
    }
    out.rrsigs = signer.count;
    Ok(out)
}

/// The earliest expiration among the signatures of an RRSIG RRset.
fn earliest_in(sigs: &RRset, now: u64) -> u64 {
    sigs.rdatas()
        .filter(|s| s.len() >= 12)
        .map(|s| absolute(u32::from_be_bytes([s[8], s[9], s[10], s[11]]), now))
        .min()
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::super::{sign_zone, Nsec3Params, Validity};
    use super::*;
    use crate::keys::{Algorithm, Key, FLAG_SEP, FLAG_ZONE};
    use blason_zone::load::load_bytes;
    use blason_zone::rdata::write_rdata;

    #[test]
    fn diff_names_each_changed_rrset_and_serials_move_forward() {
        let origin = Name::parse("d.test.", None).unwrap();
        let base = "$TTL 300\n@ SOA ns h 7 1 1 1 1\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\nold TXT gone\n";
        let zone = |t: &str| load_bytes(&origin, t.as_bytes(), "d.test.zone").zone;
        let a = zone(base);
        let b = zone(
            &base
                .replace("192.0.2.2", "192.0.2.9")
                .replace("old TXT gone\n", "new.sub AAAA ::1\n"),
        );
        let mut got: Vec<String> = diff(&a, &b, 100)
            .unwrap()
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

        assert_eq!(next_serial(7, 9), 9);
        assert_eq!(next_serial(7, 7), 8);
        assert_eq!(next_serial(7, 3), 8);
        assert_eq!(next_serial(u32::MAX, 5), 5);
        let z = zone_with_serial(&a, 42).unwrap();
        assert_eq!(z.serial(), Some(42));
        assert_eq!(z.nodes().len(), a.nodes().len());
    }

    const BASE: &[(&str, &str, &str)] = &[
        ("@", "SOA", "ns hm 1 2 3 4 60"),
        ("@", "NS", "ns"),
        ("ns", "A", "192.0.2.1"),
        ("www", "MX", "10 mail.example."),
        ("*.w", "TXT", "x"),
        ("x.y.ent", "A", "192.0.2.2"),
        ("sub", "NS", "ns.sub"),
        ("sub", "A", "192.0.2.9"),
        ("ns.sub", "A", "192.0.2.3"),
        ("sec", "NS", "ns"),
        ("sec", "DS", "1 13 2 00"),
        ("dn", "DNAME", "elsewhere.example.org."),
        ("q.dn", "A", "192.0.2.4"),
    ];

    const NAMES: &[&str] = &[
        "@",
        "a",
        "b",
        "c.d",
        "x.y.ent",
        "y.ent",
        "*.w",
        "w",
        "sub",
        "ns.sub",
        "deep.ns.sub",
        "sec",
        "dn",
        "q.dn",
        "e.f.g",
        "g",
        "www",
        "*",
        "ns",
        "z.sec",
        "h1",
        "h2.x",
        "h3.x",
        "p.q.r.s",
        "h4",
        "v.*.w",
        "a.b.c.d.e",
        "mm",
        "0",
        "zz.zz",
    ];

    /// The unsigned zone as (owner, type) -> (ttl, rdatas), all lower case.
    type Model = BTreeMap<(Vec<u8>, u16), (Name, RRset)>;

    fn origin() -> Name {
        Name::parse("example.", None).unwrap()
    }

    fn text(model: &Model) -> String {
        let mut s = String::new();
        // The SOA first.
        let mut all: Vec<&(Name, RRset)> = model.values().collect();
        all.sort_by_key(|(_, r)| r.rtype != Rtype::SOA);
        for (name, r) in all {
            for rd in r.rdatas() {
                let mut line = format!("{name} {} IN {} ", r.ttl, r.rtype);
                write_rdata(&mut line, r.rtype, rd);
                s.push_str(&line);
                s.push('\n');
            }
        }
        s
    }

    fn load(text: &str) -> Zone {
        let l = load_bytes(&origin(), text.as_bytes(), "t");
        l.zone
    }

    fn model_of(zone: &Zone) -> Model {
        let mut m = Model::new();
        for n in zone.nodes() {
            for r in n.rrsets.iter() {
                m.insert(
                    (n.name.canonical_key(), r.rtype.0),
                    (n.name.clone(), r.clone()),
                );
            }
        }
        m
    }

    /// One RRset from presentation format.
    fn rrset_of(name: &str, t: &str, ttl: u32, rdatas: &[String]) -> (Name, RRset) {
        let mut s = String::from("$ORIGIN example.\n");
        if t != "SOA" {
            s.push_str("@ 60 IN SOA ns hm 1 2 3 4 60\n");
        }
        for rd in rdatas {
            s.push_str(&format!("{name} {ttl} IN {t} {rd}\n"));
        }
        let z = load(&s);
        let n = origin();
        let owner = if name == "@" {
            n.clone()
        } else {
            Name::parse(name, Some(&n)).unwrap()
        };
        let i = z.find(owner.as_wire()).unwrap();
        let want = t == "SOA";
        let r = z
            .node(i)
            .rrsets
            .iter()
            .find(|r| (r.rtype == Rtype::SOA) == want)
            .unwrap()
            .clone();
        (owner, r)
    }

    /// A small deterministic generator (xorshift).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn random_change(rng: &mut Rng, model: &Model) -> Change {
        let o = origin();
        loop {
            // Half the time an owner that has data already (mostly the fast road).
            let name = if rng.below(2) == 0 {
                let owners: Vec<&str> = NAMES
                    .iter()
                    .copied()
                    .filter(|n| {
                        let w = if *n == "@" {
                            o.clone()
                        } else {
                            Name::parse(n, Some(&o)).unwrap()
                        };
                        model.values().any(|(m, _)| *m == w)
                    })
                    .collect();
                owners[rng.below(owners.len())]
            } else {
                NAMES[rng.below(NAMES.len())]
            };
            let owner = if name == "@" {
                o.clone()
            } else {
                Name::parse(name, Some(&o)).unwrap()
            };
            let apex = name == "@";
            let roll = rng.below(12);
            if roll < 3 {
                // Delete something there (never the SOA or the apex NS).
                let there: Vec<Rtype> = model
                    .values()
                    .filter(|(n, r)| {
                        *n == owner && r.rtype != Rtype::SOA && !(apex && r.rtype == Rtype::NS)
                    })
                    .map(|(_, r)| r.rtype)
                    .collect();
                if there.is_empty() {
                    continue;
                }
                let rtype = there[rng.below(there.len())];
                return Change::Delete { name: owner, rtype };
            }
            let v = rng.below(250) + 1;
            let (t, rds): (&str, Vec<String>) = match roll {
                3..=5 => (
                    "A",
                    (0..1 + rng.below(2))
                        .map(|k| format!("192.0.2.{}", v + k))
                        .collect(),
                ),
                6 => ("AAAA", vec![format!("2001:db8::{v:x}")]),
                7 => ("TXT", vec![format!("\"t{v}\"")]),
                8 => ("MX", vec![format!("{v} mail.example.")]),
                9 if !apex => ("NS", vec![format!("ns{v}.example.net.")]),
                10 if !apex && name != "dn" => ("DS", vec![format!("{v} 13 2 00ab")]),
                11 if name == "dn" => ("DNAME", vec![format!("t{v}.example.org.")]),
                11 if apex => ("SOA", vec![format!("ns hm {} 2 3 4 60", v)]),
                _ => continue,
            };
            let ttl = if rng.below(4) == 0 { 120 } else { 300 };
            let (name, rrset) = rrset_of(name, t, ttl, &rds);
            return Change::Replace { name, rrset };
        }
    }

    fn apply_to_model(model: &mut Model, c: &Change) {
        let key = (c.name().canonical_key(), c.rtype().0);
        match c.data() {
            Some(r) => {
                model.insert(key, (c.name().clone(), r.clone()));
            }
            None => {
                model.remove(&key);
            }
        }
    }

    fn set_serial(model: &mut Model, serial: u32) {
        let o = origin();
        let e = model.get_mut(&(o.canonical_key(), Rtype::SOA.0)).unwrap();
        e.1 = with_serial(&e.1, serial).unwrap();
    }

    /// Record for record, RRSIG rdata compared up to the signer (no signature bytes).
    fn assert_same(inc: &Zone, whole: &Zone, what: &str) {
        let a: Vec<&Node> = inc.nodes().iter().collect();
        let b: Vec<&Node> = whole.nodes().iter().collect();
        let names = |v: &[&Node]| v.iter().map(|n| n.name.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b), "{what}: names");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.flags, y.flags, "{what}: flags of {}", x.name);
            let strip = |n: &Node| {
                n.rrsets
                    .iter()
                    .map(|r| {
                        let mut rds: Vec<Vec<u8>> = r
                            .rdatas()
                            .map(|rd| {
                                if r.rtype == Rtype::RRSIG {
                                    let l = wire_name_len(rd, 18).unwrap();
                                    rd[..18 + l].to_vec()
                                } else {
                                    rd.to_vec()
                                }
                            })
                            .collect();
                        rds.sort();
                        (r.rtype, r.covers, r.ttl, rds)
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(x), strip(y), "{what}: records of {}", x.name);
        }
    }

    /// A patched snapshot, in a catalog that reuses the indexes of the one before,
    /// answers exactly as the same zone built flat in a catalog of its own.
    fn same_answers(prev: &Zone, zone: &Zone) {
        use blason_answer::{respond, Catalog, Options, Transport};
        use std::sync::Arc;
        let before = Catalog::new(vec![Arc::new(prev.clone())], Options::default());
        let patched = before.with_zone(Arc::new(zone.clone()));
        let flat = Zone::from_nodes(zone.origin(), zone.class(), zone.nodes().to_vec());
        let flat = Catalog::new(vec![Arc::new(flat)], Options::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for n in zone.nodes() {
            let mut nx = vec![2, b'n', b'x'];
            nx.extend_from_slice(n.name.as_wire());
            for (name, t) in [
                (n.name.as_wire(), Rtype::A),
                (n.name.as_wire(), Rtype::TXT),
                (n.name.as_wire(), Rtype::DS),
                (n.name.as_wire(), Rtype::NSEC3),
                (&nx[..], Rtype::A),
            ] {
                let mut q = vec![0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1];
                q.extend_from_slice(name);
                q.extend_from_slice(&t.0.to_be_bytes());
                q.extend_from_slice(&[0, 1, 0, 0, 41, 4, 0xd0, 0, 0, 0x80, 0, 0, 0]);
                respond(&patched, &q, Transport::Tcp, &mut a);
                respond(&flat, &q, Transport::Tcp, &mut b);
                assert_eq!(a, b, "{} {t}", n.name);
            }
        }
    }

    fn keys() -> Vec<Key> {
        vec![
            Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap(),
            Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap(),
        ]
    }

    fn opts(denial: Denial) -> SignOptions {
        let mut o = SignOptions::new(
            denial,
            Validity {
                inception: 1_700_000_000,
                expiration: 1_700_086_400,
                jitter: 3600,
            },
        );
        o.threads = 1;
        // Else a whole-zone pass over data without DNSKEYs takes the SOA TTL, which
        // the changes move; the incremental signer keeps the published DNSKEY RRset.
        o.dnskey_ttl = Some(300);
        o
    }

    fn base_model() -> Model {
        let mut s = String::from("$ORIGIN example.\n");
        for (n, t, rd) in BASE {
            s.push_str(&format!("{n} 300 IN {t} {rd}\n"));
        }
        model_of(&load(&s))
    }

    fn random_walk(denial: Denial, seed: u64, steps: usize) {
        let keys = keys();
        let zk = ZoneKeys::by_flags(&keys);
        let opts = opts(denial);
        let mut model = base_model();
        let mut signed = sign_zone(&load(&text(&model)), &zk, &opts).unwrap().zone;
        let mut rng = Rng(seed);
        let (mut fast, mut slow) = (0, 0);
        for step in 0..steps {
            let n = if rng.below(2) == 0 {
                1
            } else {
                1 + rng.below(3)
            };
            let changes: Vec<Change> = (0..n).map(|_| random_change(&mut rng, &model)).collect();
            let (next, stats) = apply(&signed, &changes, &zk, &opts).unwrap();
            for c in &changes {
                apply_to_model(&mut model, c);
            }
            set_serial(&mut model, stats.serial);
            let whole = sign_zone(&load(&text(&model)), &zk, &opts).unwrap().zone;
            assert_same(
                &next,
                &whole,
                &format!("seed {seed} step {step} {changes:?}"),
            );
            same_answers(&signed, &next);
            assert_replays(&signed, &next, &format!("seed {seed} step {step}"));
            if stats.rebuilt {
                slow += 1;
            } else {
                fast += 1;
            }
            signed = next;
        }
        assert!(fast > 0 && slow > 0, "fast {fast} slow {slow}");
    }

    /// What a journal holds gives back `next`: the changeset from `prev` played onto
    /// `prev`, and `next` written whole and read back (names, flags, every RRset).
    fn assert_replays(prev: &Zone, next: &Zone, what: &str) {
        use blason_zone::update::{self, codec};
        let dump = |z: &Zone| -> Vec<(Name, u8, Vec<RRset>)> {
            z.nodes()
                .iter()
                .map(|n| (n.name.clone(), n.flags, n.rrsets.to_vec()))
                .collect()
        };
        let cs = update::diff(prev, next, usize::MAX).unwrap();
        let mut bytes = Vec::new();
        codec::encode_changeset(&cs, &mut bytes);
        let cs2 = codec::decode_changeset(&bytes).unwrap();
        assert_eq!(cs, cs2, "{what}");
        let replayed = update::apply(prev, &cs2).unwrap();
        // A merged RRset's rdata order is canonical, not the source's: compare sets.
        type Sets = Vec<(Rtype, Rtype, u32, Vec<Vec<u8>>)>;
        let sorted = |v: Vec<(Name, u8, Vec<RRset>)>| -> Vec<(Name, u8, Sets)> {
            v.into_iter()
                .map(|(n, f, rs)| {
                    let rs = rs
                        .iter()
                        .map(|r| {
                            let mut d: Vec<Vec<u8>> = r.rdatas().map(<[u8]>::to_vec).collect();
                            d.sort();
                            (r.rtype, r.covers, r.ttl, d)
                        })
                        .collect();
                    (n, f, rs)
                })
                .collect()
        };
        let (a, b) = (sorted(dump(&replayed)), sorted(dump(next)));
        if a != b {
            let only_a: Vec<_> = a
                .iter()
                .filter(|x| !b.contains(x))
                .map(|x| (&x.0, x.1))
                .collect();
            let only_b: Vec<_> = b
                .iter()
                .filter(|x| !a.contains(x))
                .map(|x| (&x.0, x.1))
                .collect();
            panic!("{what}: changeset replay differs: replayed {only_a:?}, signed {only_b:?}");
        }
        bytes.clear();
        codec::encode_zone(next, &mut bytes);
        let read = codec::decode_zone(&bytes).unwrap();
        assert!(dump(&read) == dump(next), "{what}: snapshot differs");
    }

    #[test]
    fn random_changes_match_whole_zone_signing_nsec() {
        for seed in 1..8 {
            random_walk(Denial::Nsec, seed * 7919, 60);
        }
    }

    #[test]
    fn random_changes_match_whole_zone_signing_nsec3() {
        for seed in 1..8 {
            random_walk(Denial::Nsec3(Nsec3Params::default()), seed * 104729, 60);
        }
        let salted = Nsec3Params {
            iterations: 2,
            salt: vec![0xab, 0xcd],
            opt_out: false,
        };
        random_walk(Denial::Nsec3(salted), 31337, 40);
    }

    #[test]
    fn random_changes_match_whole_zone_signing_nsec3_opt_out() {
        let p = Nsec3Params {
            opt_out: true,
            ..Nsec3Params::default()
        };
        for seed in 1..8 {
            random_walk(Denial::Nsec3(p.clone()), seed * 15485863, 60);
        }
    }

    #[test]
    fn a_changed_record_patches_few_nodes() {
        let keys = keys();
        let zk = ZoneKeys::by_flags(&keys);
        for denial in [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())] {
            let opts = opts(denial);
            let signed = sign_zone(&load(&text(&base_model())), &zk, &opts)
                .unwrap()
                .zone;
            let (name, rrset) = rrset_of("ns", "A", 300, &["192.0.2.77".into()]);
            let (next, stats) =
                apply(&signed, &[Change::Replace { name, rrset }], &zk, &opts).unwrap();
            assert!(!stats.rebuilt);
            assert!(next.same_names(&signed));
            assert_eq!((stats.nodes, stats.rrsigs, stats.denial), (2, 2, 0));
            assert_eq!(stats.serial, 2);
            // A new type at the name: its NSEC or NSEC3 is written anew.
            let (name, rrset) = rrset_of("ns", "TXT", 300, &["\"hi\"".into()]);
            let (_, stats) = apply(&next, &[Change::Replace { name, rrset }], &zk, &opts).unwrap();
            assert_eq!((stats.rrsigs, stats.denial, stats.serial), (3, 1, 3));
        }
    }

    #[test]
    fn signer_records_are_refused() {
        let keys = keys();
        let zk = ZoneKeys::by_flags(&keys);
        let opts = opts(Denial::Nsec);
        let signed = sign_zone(&load(&text(&base_model())), &zk, &opts)
            .unwrap()
            .zone;
        let o = origin();
        for t in [
            Rtype::RRSIG,
            Rtype::NSEC,
            Rtype::NSEC3,
            Rtype::NSEC3PARAM,
            Rtype::DNSKEY,
            Rtype::CDS,
            Rtype::CDNSKEY,
        ] {
            let e = apply(
                &signed,
                &[Change::Delete {
                    name: o.clone(),
                    rtype: t,
                }],
                &zk,
                &opts,
            )
            .err()
            .unwrap();
            assert!(e.0.contains("written by the signer"), "{e}");
        }
        let other = Name::parse("example.org.", None).unwrap();
        let e = apply(
            &signed,
            &[Change::Delete {
                name: other,
                rtype: Rtype::A,
            }],
            &zk,
            &opts,
        );
        assert!(e.is_err());
        let e = apply(
            &signed,
            &[Change::Delete {
                name: o,
                rtype: Rtype::SOA,
            }],
            &zk,
            &opts,
        );
        assert!(e.is_err());
    }

    #[test]
    fn refresh_resigns_only_what_comes_due() {
        let keys = keys();
        let zk = ZoneKeys::by_flags(&keys);
        let mut o = opts(Denial::Nsec);
        let signed = sign_zone(&load(&text(&base_model())), &zk, &o)
            .unwrap()
            .zone;
        let exp = o.validity.expiration as u64;
        // Nothing due a day before the earliest expiry.
        assert!(refresh(&signed, &zk, &o, exp - 86_400, 3600)
            .unwrap()
            .is_none());
        // Half the jitter range ahead: some but not all come due.
        let now = exp - 3600;
        o.validity = Validity {
            inception: now as u32 - 3600,
            expiration: now as u32 + 86_400,
            jitter: 3600,
        };
        let (z, st) = refresh(&signed, &zk, &o, now, 1800).unwrap().unwrap();
        let total = signed
            .nodes()
            .iter()
            .flat_map(|n| n.rrsets.iter())
            .filter(|r| r.rtype == Rtype::RRSIG)
            .count();
        assert!(
            st.rrsets > 0 && st.rrsets < total,
            "{} of {total}",
            st.rrsets
        );
        assert!(st.earliest_expiry.unwrap() > now + 1800);
        assert_eq!(st.serial, 2);
        // Everything is now past the window; a second pass finds nothing.
        assert!(refresh(&z, &zk, &o, now, 1800).unwrap().is_none());
        // A key that has not signed yet makes every RRset due.
        let extra = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap();
        let mut zk2 = ZoneKeys::by_flags(&keys);
        zk2.zsk.push(&extra);
        let (_, st) = refresh(&z, &zk2, &o, now, 1800).unwrap().unwrap();
        assert!(st.rrsets >= total - 2, "{} of {total}", st.rrsets);
    }
}
