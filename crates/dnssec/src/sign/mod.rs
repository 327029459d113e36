//! Signing: NSEC/NSEC3 chains and RRSIGs over the zone model.
//!
//! The building blocks ([`sign_rrset`] and [`RrsigContext::sign`] for one RRset,
//! [`nsec_for`], [`nsec_rdata`], [`nsec3_hash`], [`nsec3_rdata`], [`node_types`]) serve
//! incremental re-signing; the whole-zone pass [`sign_zone`] is built on them and signs
//! on several threads.
//! Times come in as parameters: nothing here reads the clock.

mod denial;
pub mod incremental;
mod rekey;
pub use rekey::rekey;
mod rrsig;

pub use denial::{
    has_signed_rrsets, node_types, nsec3_hash, nsec3_owner, nsec3_rdata, nsec_rdata, Nsec3Params,
};
pub use rrsig::{
    canonical_rdata_into, lowercases_rdata_names, rrsig_labels, OwnerForm, RrsigContext, Validity,
};

use crate::keys::{DigestType, Key};
use blason_zone::model::{flags, Node, RRset};
use blason_zone::{Name, Rtype, Zone};
use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// Why a zone could not be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignError(pub String);

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for SignError {}

/// Authenticated denial of existence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    Nsec,
    Nsec3(Nsec3Params),
}

/// The keys of a zone by role. A CSK is listed in both `ksk` and `zsk`.
#[derive(Default)]
pub struct ZoneKeys<'a> {
    /// Sign the DNSKEY, CDS and CDNSKEY RRsets.
    pub ksk: Vec<&'a Key>,
    /// Sign every other authoritative RRset.
    pub zsk: Vec<&'a Key>,
    /// Published in the DNSKEY RRset without signing (pre-published or retiring keys).
    pub publish: Vec<&'a Key>,
    /// When set, exactly these DNSKEYs are published: in an algorithm roll a key signs
    /// before its DNSKEY appears and after it is gone. None: every key above.
    pub dnskey: Option<Vec<&'a Key>>,
    /// When set, CDS/CDNSKEY for exactly these keys replace the zone's own (empty: none).
    pub cds: Option<Vec<&'a Key>>,
}

impl<'a> ZoneKeys<'a> {
    /// KSKs are the keys with the SEP flag; if there are none, or no key without it,
    /// every key signs everything (a CSK).
    pub fn by_flags(keys: &'a [Key]) -> ZoneKeys<'a> {
        let sep: Vec<&Key> = keys.iter().filter(|k| k.is_sep()).collect();
        let other: Vec<&Key> = keys.iter().filter(|k| !k.is_sep()).collect();
        if sep.is_empty() || other.is_empty() {
            let all: Vec<&Key> = keys.iter().collect();
            ZoneKeys {
                ksk: all.clone(),
                zsk: all,
                ..ZoneKeys::default()
            }
        } else {
            ZoneKeys {
                ksk: sep,
                zsk: other,
                ..ZoneKeys::default()
            }
        }
    }

    /// The keys that sign RRset `t` of a node (`apex`: the zone's apex). CDS and
    /// CDNSKEY take the ZSKs' signatures beside the KSKs' that RFC 7344 §4.1 asks
    /// for: in a KSK swap a resolver still holding the previous DNSKEY RRset knows
    /// only the old KSK and the ZSK, and would find the new CDS bogus otherwise.
    pub(crate) fn signers(&self, apex: bool, t: Rtype) -> Cow<'_, [&'a Key]> {
        match t {
            Rtype::DNSKEY if apex => Cow::Borrowed(&self.ksk),
            Rtype::CDS | Rtype::CDNSKEY if apex => {
                let mut v = self.ksk.clone();
                for z in &self.zsk {
                    if !v
                        .iter()
                        .any(|k| std::ptr::eq(*k, *z) || k.public == z.public)
                    {
                        v.push(z);
                    }
                }
                Cow::Owned(v)
            }
            _ => Cow::Borrowed(&self.zsk),
        }
    }

    pub(crate) fn published(&self) -> Box<dyn Iterator<Item = &'a Key> + '_> {
        match &self.dnskey {
            Some(d) => Box::new(d.iter().copied()),
            None => Box::new(
                self.ksk
                    .iter()
                    .chain(&self.zsk)
                    .chain(&self.publish)
                    .copied(),
            ),
        }
    }
}

/// Options of a whole-zone signing pass.
#[derive(Clone, Debug)]
pub struct SignOptions {
    pub denial: Denial,
    pub validity: Validity,
    /// Worker threads; 0 means one per available core.
    pub threads: usize,
    /// DNSKEY TTL when the zone has no DNSKEY RRset of its own (default: SOA TTL).
    pub dnskey_ttl: Option<u32>,
    /// Publish CDS (SHA-256) and CDNSKEY for the KSKs (RFC 7344).
    pub cds: bool,
    /// Publish the delete form instead (RFC 8078 §4): CDS `0 0 0 00`, CDNSKEY `0 3 0 AA==`.
    pub cds_delete: bool,
}

impl SignOptions {
    pub fn new(denial: Denial, validity: Validity) -> SignOptions {
        SignOptions {
            denial,
            validity,
            threads: 0,
            dnskey_ttl: None,
            cds: false,
            cds_delete: false,
        }
    }
}

/// Counts of what a signing pass added.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignStats {
    pub rrsigs: usize,
    pub nsec: usize,
    pub nsec3: usize,
}

/// A signed zone and what signing added.
pub struct Signed {
    pub zone: Zone,
    pub stats: SignStats,
}

/// The negative-caching TTL used for NSEC/NSEC3: min(SOA TTL, SOA MINIMUM) (RFC 9077).
pub fn negative_ttl(zone: &Zone) -> Option<u32> {
    let soa = zone.soa()?;
    let rd = soa.first()?;
    let min = u32::from_be_bytes(rd.get(rd.len().checked_sub(4)?..)?.try_into().ok()?);
    Some(min.min(soa.ttl))
}

/// Signs one RRset of `owner` in the zone `apex` with `key`: the RRSIG rdata. For many
/// RRsets, keep one [`RrsigContext`] per thread instead.
pub fn sign_rrset(
    owner: &Name,
    rrset: &RRset,
    key: &Key,
    apex: &Name,
    class: blason_zone::Class,
    validity: &Validity,
) -> Result<Vec<u8>, SignError> {
    let owner_lc = owner.as_wire().to_ascii_lowercase();
    let form = OwnerForm {
        owner_lc: &owner_lc,
        labels: rrsig_labels(owner),
        class: class.0,
    };
    RrsigContext::new().sign(
        &form,
        rrset,
        key,
        &apex.as_wire().to_ascii_lowercase(),
        validity,
    )
}

/// True if node `n` has an NSEC record in the chain [`sign_zone`] builds.
pub fn in_nsec_chain(n: &Node) -> bool {
    n.is_authoritative() && !n.has(flags::ENT)
}

/// The NSEC rdata that node `i` of `zone` should have: the next name in the chain
/// (wrapping to the apex) and the node's types. `None` if the node is not in the chain.
pub fn nsec_for(zone: &Zone, i: usize) -> Option<Vec<u8>> {
    let nodes = zone.nodes();
    if !in_nsec_chain(nodes.get(i)?) {
        return None;
    }
    let next = (i + 1..nodes.len())
        .find(|&j| in_nsec_chain(&nodes[j]))
        .unwrap_or(0);
    let mut types = Vec::with_capacity(16);
    node_types(&nodes[i], &mut types);
    Some(nsec_rdata(&nodes[next].name, &mut types))
}

/// The apex RRsets of a signed zone from those of the unsigned apex (signer-owned ones
/// already stripped): the DNSKEY RRset (the zone's own plus the published keys),
/// CDS/CDNSKEY as the keys and options ask, NSEC3PARAM; unsigned, in type order.
pub(crate) fn apex_rrsets(
    unsigned: &[RRset],
    origin: &Name,
    keys: &ZoneKeys,
    opts: &SignOptions,
    soa_ttl: u32,
) -> Vec<RRset> {
    let mut rrsets: Vec<RRset> = unsigned.to_vec();
    let old = rrsets.iter().position(|r| r.rtype == Rtype::DNSKEY);
    let ttl = old
        .map(|i| rrsets[i].ttl)
        .or(opts.dnskey_ttl)
        .unwrap_or(soa_ttl);
    let mut dnskeys: Vec<Vec<u8>> = old
        .map(|i| rrsets[i].rdatas().map(<[u8]>::to_vec).collect())
        .unwrap_or_default();
    for k in keys.published() {
        let rd = k.dnskey();
        if !dnskeys.contains(&rd) {
            dnskeys.push(rd);
        }
    }
    rrsets.retain(|r| r.rtype != Rtype::DNSKEY);
    let refs: Vec<&[u8]> = dnskeys.iter().map(Vec::as_slice).collect();
    rrsets.push(RRset::new(Rtype::DNSKEY, ttl, &refs));
    if opts.cds || opts.cds_delete || keys.cds.is_some() {
        rrsets.retain(|r| !matches!(r.rtype, Rtype::CDS | Rtype::CDNSKEY));
        let mut cds = Vec::new();
        let mut cdnskey = Vec::new();
        if opts.cds_delete {
            cds.push(CDS_DELETE.to_vec());
            cdnskey.push(CDNSKEY_DELETE.to_vec());
        } else {
            for k in keys.cds.as_ref().unwrap_or(&keys.ksk) {
                let ds = k.ds(origin, DigestType::Sha256);
                if !cds.contains(&ds) {
                    cds.push(ds);
                    cdnskey.push(k.dnskey());
                }
            }
        }
        if !cds.is_empty() {
            let r: Vec<&[u8]> = cds.iter().map(Vec::as_slice).collect();
            rrsets.push(RRset::new(Rtype::CDS, ttl, &r));
            let r: Vec<&[u8]> = cdnskey.iter().map(Vec::as_slice).collect();
            rrsets.push(RRset::new(Rtype::CDNSKEY, ttl, &r));
        }
    }
    if let Denial::Nsec3(p) = &opts.denial {
        rrsets.push(RRset::new(Rtype::NSEC3PARAM, 0, &[&p.nsec3param_rdata()]));
    }
    rrsets.sort_by_key(|r| (r.rtype.0, r.covers.0));
    rrsets
}

/// CDS `0 0 0 00` (RFC 8078 §4): key tag 0, algorithm 0, digest type 0, digest 00.
pub const CDS_DELETE: [u8; 5] = [0, 0, 0, 0, 0];
/// CDNSKEY `0 3 0 AA==` (RFC 8078 §4): flags 0, protocol 3, algorithm 0, key 00.
pub const CDNSKEY_DELETE: [u8; 5] = [0, 0, 3, 0, 0];

/// True for the records a signer owns and replaces: signatures and denial records.
pub(crate) fn is_dnssec_generated(t: Rtype) -> bool {
    matches!(
        t,
        Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3 | Rtype::NSEC3PARAM
    )
}

/// Signs the whole zone: strips old signatures and denial records, adds the DNSKEY
/// RRset (the zone's own DNSKEYs plus `keys`), CDS/CDNSKEY if asked, the NSEC or NSEC3
/// chain, and an RRSIG by each key of the right role over every authoritative RRset.
pub fn sign_zone(zone: &Zone, keys: &ZoneKeys, opts: &SignOptions) -> Result<Signed, SignError> {
    if keys.zsk.is_empty() || keys.ksk.is_empty() {
        return Err(SignError("no signing keys".into()));
    }
    let origin = zone.origin();
    let apex_ok = zone
        .nodes()
        .first()
        .is_some_and(|n| n.has(flags::APEX) && n.rrset(Rtype::SOA).is_some());
    if !apex_ok {
        return Err(SignError(format!(
            "the zone {origin} has no SOA at its apex"
        )));
    }
    let neg_ttl = negative_ttl(zone).ok_or_else(|| SignError("malformed SOA".into()))?;
    let soa_ttl = zone.soa().map(|s| s.ttl).unwrap_or(3600);

    // Copy the nodes without generated records.
    let mut nodes: Vec<Node> = Vec::with_capacity(zone.nodes().len());
    for n in zone.nodes() {
        let rrsets: Vec<RRset> = n
            .rrsets
            .iter()
            .filter(|r| !is_dnssec_generated(r.rtype))
            .cloned()
            .collect();
        let mut f = n.flags;
        if rrsets.is_empty() {
            f |= flags::ENT;
        }
        nodes.push(Node {
            name: n.name.clone(),
            rrsets: rrsets.into_boxed_slice(),
            flags: f,
        });
    }
    // Names left empty by the stripping (old NSEC3 owners) that have nothing below
    // them are dropped.
    let mut keep = vec![true; nodes.len()];
    for i in 0..nodes.len() {
        if nodes[i].has(flags::ENT)
            && !nodes
                .get(i + 1)
                .is_some_and(|m| m.name.is_subdomain_of(&nodes[i].name))
        {
            keep[i] = false;
        }
    }
    if keep.iter().any(|k| !k) {
        let mut it = keep.iter();
        nodes.retain(|_| *it.next().unwrap_or(&true));
    }

    // Apex: DNSKEY (zone's own plus ours), CDS/CDNSKEY, NSEC3PARAM.
    {
        let apex = &mut nodes[0];
        let rrsets = apex_rrsets(&apex.rrsets, origin, keys, opts, soa_ttl);
        apex.rrsets = rrsets.into_boxed_slice();
        apex.flags &= !flags::ENT;
    }

    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    };
    let mut stats = SignStats::default();
    let mut types: Vec<u16> = Vec::with_capacity(16);
    match &opts.denial {
        Denial::Nsec => {
            // The chain: authoritative names and delegation points, no ENTs.
            let chain: Vec<usize> = (0..nodes.len())
                .filter(|&i| in_nsec_chain(&nodes[i]))
                .collect();
            for (ci, &i) in chain.iter().enumerate() {
                let next = chain[(ci + 1) % chain.len()];
                let next_name = nodes[next].name.clone();
                node_types(&nodes[i], &mut types);
                let rd = nsec_rdata(&next_name, &mut types);
                let mut rrsets = nodes[i].rrsets.to_vec();
                rrsets.push(RRset::new(Rtype::NSEC, neg_ttl, &[&rd]));
                nodes[i].rrsets = rrsets.into_boxed_slice();
                stats.nsec += 1;
            }
        }
        Denial::Nsec3(p) => {
            let hashed = nsec3_chain(&nodes, origin, p, neg_ttl, threads, &mut stats)?;
            nodes = merge_nsec3(nodes, hashed);
        }
    }

    // Signatures, in parallel over chunks of nodes.
    let signer_lc = origin.as_wire().to_ascii_lowercase();
    let class = zone.class().0;
    let chunk = (nodes.len() / (threads * 16)).clamp(64, 4096);
    let work: Mutex<std::slice::ChunksMut<'_, Node>> = Mutex::new(nodes.chunks_mut(chunk));
    let failed = AtomicBool::new(false);
    let results: Vec<Result<usize, SignError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut ctx = RrsigContext::new();
                    let mut owner_lc = Vec::with_capacity(256);
                    let mut count = 0;
                    loop {
                        if failed.load(Ordering::Relaxed) {
                            return Ok(count);
                        }
                        let next = work.lock().map(|mut w| w.next()).unwrap_or(None);
                        let Some(part) = next else {
                            return Ok(count);
                        };
                        for node in part {
                            match sign_node(
                                &mut ctx,
                                node,
                                keys,
                                &signer_lc,
                                class,
                                &opts.validity,
                                &mut owner_lc,
                            ) {
                                Ok(n) => count += n,
                                Err(e) => {
                                    failed.store(true, Ordering::Relaxed);
                                    return Err(e);
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(SignError("a signing thread panicked".into())))
            })
            .collect()
    });
    for r in results {
        stats.rrsigs += r?;
    }
    Ok(Signed {
        zone: Zone::from_nodes(origin, zone.class(), nodes),
        stats,
    })
}

/// Adds the RRSIG RRsets of one node; returns how many signatures were made.
fn sign_node(
    ctx: &mut RrsigContext,
    node: &mut Node,
    keys: &ZoneKeys,
    signer_lc: &[u8],
    class: u16,
    validity: &Validity,
    owner_lc: &mut Vec<u8>,
) -> Result<usize, SignError> {
    if !node.is_authoritative() || node.has(flags::ENT) {
        return Ok(0);
    }
    let cut = node.has(flags::DELEGATION);
    owner_lc.clear();
    owner_lc.extend_from_slice(node.name.as_wire());
    owner_lc.make_ascii_lowercase();
    let form = OwnerForm {
        owner_lc,
        labels: rrsig_labels(&node.name),
        class,
    };
    let mut sigs: Vec<RRset> = Vec::new();
    let mut rdatas: Vec<Vec<u8>> = Vec::with_capacity(2);
    for r in node.rrsets.iter() {
        if r.rtype == Rtype::RRSIG || (cut && !matches!(r.rtype, Rtype::DS | Rtype::NSEC)) {
            continue;
        }
        let signers = keys.signers(node.has(flags::APEX), r.rtype);
        rdatas.clear();
        for k in signers.iter() {
            rdatas.push(ctx.sign(&form, r, k, signer_lc, validity)?);
        }
        let refs: Vec<&[u8]> = rdatas.iter().map(Vec::as_slice).collect();
        sigs.push(RRset::new(Rtype::RRSIG, r.ttl, &refs));
    }
    if sigs.is_empty() {
        return Ok(0);
    }
    let n = sigs.len() * rdatas.len().max(1);
    let mut all = std::mem::take(&mut node.rrsets).into_vec();
    all.append(&mut sigs);
    all.sort_by_key(|r| (r.rtype.0, r.covers.0));
    node.rrsets = all.into_boxed_slice();
    Ok(n)
}

/// Builds the NSEC3 nodes (sorted by hash) for the chain over `nodes`.
pub(crate) fn nsec3_chain(
    nodes: &[Node],
    origin: &Name,
    p: &Nsec3Params,
    ttl: u32,
    threads: usize,
    stats: &mut SignStats,
) -> Result<Vec<Node>, SignError> {
    // Every authoritative name, ENTs included; with opt-out, insecure delegations
    // (and nothing else) are left out. Hashing and building run on `threads` threads:
    // on large zones they are the longest serial step before signing.
    let members: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].is_authoritative())
        .filter(|&i| {
            let n = &nodes[i];
            !(p.opt_out && n.has(flags::DELEGATION) && n.rrset(Rtype::DS).is_none())
        })
        .collect();
    let mut entries: Vec<([u8; 20], usize)> = par_map(&members, threads, |&i| {
        (
            nsec3_hash(nodes[i].name.as_wire(), &p.salt, p.iterations),
            i,
        )
    });
    entries.sort_unstable_by_key(|e| e.0);
    if let Some(w) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SignError(format!(
            "NSEC3 hash collision between {} and {}; choose another salt",
            nodes[w[0].1].name, nodes[w[1].1].name
        )));
    }
    let idx: Vec<usize> = (0..entries.len()).collect();
    let out = par_map(&idx, threads, |&ei| {
        let (hash, i) = &entries[ei];
        let next = &entries[(ei + 1) % entries.len()].0;
        let n = &nodes[*i];
        let mut types = Vec::with_capacity(16);
        if !n.has(flags::ENT) {
            node_types(n, &mut types);
            if has_signed_rrsets(n) {
                types.push(Rtype::RRSIG.0);
            }
        }
        let rd = nsec3_rdata(p, next, &mut types);
        Node {
            name: nsec3_owner(hash, origin),
            rrsets: vec![RRset::new(Rtype::NSEC3, ttl, &[&rd])].into_boxed_slice(),
            flags: 0,
        }
    });
    stats.nsec3 = out.len();
    Ok(out)
}

/// `items.iter().map(f).collect()` on `threads` threads, order kept.
fn par_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if threads <= 1 || items.len() < 4096 {
        return items.iter().map(f).collect();
    }
    let size = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(size)
            .map(|c| s.spawn(|| c.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            match h.join() {
                Ok(v) => out.extend(v),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

/// Merges the NSEC3 nodes (all children of the apex, in hash order, which is their
/// canonical order) into the canonically ordered nodes.
pub(crate) fn merge_nsec3(nodes: Vec<Node>, hashed: Vec<Node>) -> Vec<Node> {
    let mut out = Vec::with_capacity(nodes.len() + hashed.len());
    let mut h = hashed.into_iter().peekable();
    for mut n in nodes {
        while let Some(x) = h.peek() {
            match x.name.canonical_cmp(&n.name) {
                std::cmp::Ordering::Less => out.push(h.next().expect("peeked")),
                std::cmp::Ordering::Equal => {
                    // A real name that equals a hash label: one node holds both.
                    let x = h.next().expect("peeked");
                    let mut r = std::mem::take(&mut n.rrsets).into_vec();
                    r.extend(x.rrsets.into_vec());
                    r.sort_by_key(|r| (r.rtype.0, r.covers.0));
                    n.rrsets = r.into_boxed_slice();
                    n.flags &= !flags::ENT;
                    break;
                }
                std::cmp::Ordering::Greater => break,
            }
        }
        out.push(n);
    }
    out.extend(h);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, FLAG_SEP, FLAG_ZONE};
    use blason_zone::load::load_bytes;
    use blason_zone::rdata::read_bitmap;
    use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};

    const ZONE: &[u8] = b"$TTL 300\n@ SOA ns hm 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\n\
        Www MX 10 MAIL.example.\nWww MX 5 a.example.\n*.w TXT x\nx.y.ent A 192.0.2.2\n\
        sub NS ns.sub\nsub A 192.0.2.9\nns.sub A 192.0.2.3\nsec NS ns\nsec DS 1 13 2 00\n";

    fn setup() -> (blason_zone::Zone, Vec<Key>) {
        let o = Name::parse("example.", None).unwrap();
        let l = load_bytes(&o, ZONE, "t");
        let keys = vec![
            Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap(),
            Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap(),
        ];
        (l.zone, keys)
    }

    fn opts(denial: Denial) -> SignOptions {
        let mut o = SignOptions::new(
            denial,
            Validity {
                inception: 1_700_000_000,
                expiration: 1_700_086_400,
                jitter: 0,
            },
        );
        o.threads = 2;
        o
    }

    /// The slow, obvious form of RFC 4034 §3.1.8.1, for checking the fast one.
    fn reference_signed_data(owner: &Name, r: &RRset, rrsig: &[u8]) -> Vec<u8> {
        let signer_len = blason_zone::name::wire_name_len(rrsig, 18).unwrap();
        let mut v = rrsig[..18 + signer_len].to_vec();
        let mut rrs: Vec<Vec<u8>> = r
            .rdatas()
            .map(|rd| {
                let mut c = Vec::new();
                canonical_rdata_into(r.rtype, rd, &mut c);
                c
            })
            .collect();
        rrs.sort();
        for rd in rrs {
            v.extend(owner.as_wire().to_ascii_lowercase());
            v.extend(r.rtype.0.to_be_bytes());
            v.extend(1u16.to_be_bytes());
            v.extend(r.ttl.to_be_bytes());
            v.extend((rd.len() as u16).to_be_bytes());
            v.extend(rd);
        }
        v
    }

    #[test]
    fn every_signature_verifies_and_roles_are_kept() {
        let (zone, keys) = setup();
        let zk = ZoneKeys::by_flags(&keys);
        let s = sign_zone(&zone, &zk, &opts(Denial::Nsec)).unwrap();
        let mut checked = 0;
        for n in s.zone.nodes() {
            for r in n.rrsets.iter().filter(|r| r.rtype != Rtype::RRSIG) {
                let sigs = n.rrsigs(r.rtype);
                let should = n.is_authoritative()
                    && (!n.has(flags::DELEGATION) || matches!(r.rtype, Rtype::DS | Rtype::NSEC));
                assert_eq!(sigs.is_some(), should, "{} {}", n.name, r.rtype);
                let Some(sigs) = sigs else { continue };
                for sig in sigs.rdatas() {
                    let tag = u16::from_be_bytes([sig[16], sig[17]]);
                    let key = keys.iter().find(|k| k.tag == tag).unwrap();
                    assert_eq!(key.is_sep(), r.rtype == Rtype::DNSKEY, "{}", r.rtype);
                    assert_eq!(sig[3], rrsig_labels(&n.name));
                    let data = reference_signed_data(&n.name, r, sig);
                    let signer_len = blason_zone::name::wire_name_len(sig, 18).unwrap();
                    let pk = [&[4u8][..], &key.public].concat();
                    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pk)
                        .verify(&data, &sig[18 + signer_len..])
                        .unwrap_or_else(|_| panic!("bad RRSIG over {} {}", n.name, r.rtype));
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, s.stats.rrsigs);
        // The one-off signer gives the same signed data (ECDSA signatures differ).
        let apex = s.zone.apex();
        let soa = apex.rrset(Rtype::SOA).unwrap();
        let one = sign_rrset(
            &apex.name,
            soa,
            &keys[1],
            zone.origin(),
            zone.class(),
            &opts(Denial::Nsec).validity,
        )
        .unwrap();
        let sig = apex.rrsigs(Rtype::SOA).unwrap().first().unwrap();
        assert_eq!(one[..one.len() - 64], sig[..sig.len() - 64]);
    }

    #[test]
    fn nsec_chain_skips_glue_and_ents() {
        let (zone, keys) = setup();
        let s = sign_zone(&zone, &ZoneKeys::by_flags(&keys), &opts(Denial::Nsec)).unwrap();
        let mut chain = Vec::new();
        for n in s.zone.nodes() {
            if let Some(r) = n.rrset(Rtype::NSEC) {
                let rd = r.first().unwrap();
                let l = blason_zone::name::wire_name_len(rd, 0).unwrap();
                let types = read_bitmap(&rd[l..]).unwrap();
                chain.push((
                    n.name.to_string(),
                    Name::from_wire(&rd[..l]).unwrap().to_string(),
                    types,
                ));
            }
        }
        let names: Vec<&str> = chain.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "example.",
                "x.y.ent.example.",
                "ns.example.",
                "sec.example.",
                "sub.example.",
                "*.w.example.",
                "Www.example."
            ]
        );
        for (i, c) in chain.iter().enumerate() {
            // Next names are written in lower case.
            assert_eq!(c.1, chain[(i + 1) % chain.len()].0.to_ascii_lowercase());
        }
        // The incremental helper agrees with the whole-zone chain.
        for (i, n) in s.zone.nodes().iter().enumerate() {
            assert_eq!(
                nsec_for(&s.zone, i).as_deref(),
                n.rrset(Rtype::NSEC).and_then(|r| r.first()),
                "{}",
                n.name
            );
        }
        // At a cut: NS (and DS) only, never the A held there.
        assert_eq!(chain[4].2, [2, 46, 47]);
        assert_eq!(chain[3].2, [2, 43, 46, 47]);
    }

    #[test]
    fn nsec3_chain_covers_ents_and_opt_out_skips_insecure_cuts() {
        let (zone, keys) = setup();
        let zk = ZoneKeys::by_flags(&keys);
        let s = sign_zone(&zone, &zk, &opts(Denial::Nsec3(Nsec3Params::default()))).unwrap();
        // Authoritative names: apex, ns, sec, sub, w (ENT), *.w, www, ent (ENT), y.ent
        // (ENT), x.y.ent.
        assert_eq!(s.stats.nsec3, 10);
        assert!(s.zone.apex().rrset(Rtype::NSEC3PARAM).is_some());
        let o = Name::parse("example.", None).unwrap();
        let ent = Name::parse("y.ent.example.", None).unwrap();
        let owner = nsec3_owner(&nsec3_hash(ent.as_wire(), &[], 0), &o);
        let i = s.zone.find(owner.as_wire()).unwrap();
        let rd = s.zone.node(i).rrset(Rtype::NSEC3).unwrap().first().unwrap();
        assert_eq!(rd.len(), 6 + 20, "an ENT proves no types");
        let p = Nsec3Params {
            opt_out: true,
            ..Nsec3Params::default()
        };
        let s = sign_zone(&zone, &zk, &opts(Denial::Nsec3(p))).unwrap();
        assert_eq!(s.stats.nsec3, 9);
    }

    #[test]
    fn resigning_a_signed_zone_replaces_old_records() {
        let (zone, keys) = setup();
        let zk = ZoneKeys::by_flags(&keys);
        let once = sign_zone(&zone, &zk, &opts(Denial::Nsec3(Nsec3Params::default()))).unwrap();
        let twice = sign_zone(&once.zone, &zk, &opts(Denial::Nsec)).unwrap();
        assert_eq!(twice.stats.nsec3, 0);
        assert!(twice
            .zone
            .nodes()
            .iter()
            .all(|n| n.rrset(Rtype::NSEC3).is_none()));
        let first = sign_zone(&zone, &zk, &opts(Denial::Nsec)).unwrap();
        assert_eq!(twice.zone.nodes().len(), first.zone.nodes().len());
        assert_eq!(twice.stats, first.stats);
    }

    #[test]
    fn chosen_dnskeys_per_key_cds_and_the_delete_form() {
        let (zone, keys) = setup();
        let apex_types = |z: &Zone, t: Rtype| -> Vec<Vec<u8>> {
            z.apex()
                .rrset(t)
                .map(|r| r.rdatas().map(<[u8]>::to_vec).collect())
                .unwrap_or_default()
        };
        // The ZSK signs without its DNSKEY published; CDS only for the KSK named.
        let zk = ZoneKeys {
            ksk: vec![&keys[0]],
            zsk: vec![&keys[1]],
            dnskey: Some(vec![&keys[0]]),
            cds: Some(vec![&keys[0]]),
            ..ZoneKeys::default()
        };
        let s = sign_zone(&zone, &zk, &opts(Denial::Nsec)).unwrap();
        assert_eq!(apex_types(&s.zone, Rtype::DNSKEY), vec![keys[0].dnskey()]);
        assert_eq!(
            apex_types(&s.zone, Rtype::CDS),
            vec![keys[0].ds(zone.origin(), DigestType::Sha256)]
        );
        let soa_sig = s.zone.apex().rrsigs(Rtype::SOA).unwrap().first().unwrap();
        assert_eq!(u16::from_be_bytes([soa_sig[16], soa_sig[17]]), keys[1].tag);
        // An empty list removes CDS and CDNSKEY.
        let zk = ZoneKeys {
            cds: Some(vec![]),
            ..ZoneKeys::by_flags(&keys)
        };
        let s = sign_zone(&zone, &zk, &opts(Denial::Nsec)).unwrap();
        assert!(s.zone.apex().rrset(Rtype::CDS).is_none());
        assert!(s.zone.apex().rrset(Rtype::CDNSKEY).is_none());
        // The delete form replaces any per-key CDS.
        let zk = ZoneKeys {
            cds: Some(vec![&keys[0]]),
            ..ZoneKeys::by_flags(&keys)
        };
        let mut o = opts(Denial::Nsec);
        o.cds_delete = true;
        let s = sign_zone(&zone, &zk, &o).unwrap();
        assert_eq!(apex_types(&s.zone, Rtype::CDS), vec![CDS_DELETE.to_vec()]);
        assert_eq!(
            apex_types(&s.zone, Rtype::CDNSKEY),
            vec![CDNSKEY_DELETE.to_vec()]
        );
        assert!(s.zone.apex().rrsigs(Rtype::CDS).is_some());
    }
}
