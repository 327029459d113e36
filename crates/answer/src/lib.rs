//! blason-answer: turns a query into a response from an immutable zone snapshot.
//!
//! Owns: RFC 1034 §4.3.2 lookup, CNAME chains, wildcards (RFC 4592), DNAME (RFC 6672),
//! referrals and glue (RFC 9471), negative answers, EDNS0 (RFC 6891), truncation, and the
//! mapping of every failure to an RCODE in one place ([`Failure::rcode`]). Refuses: I/O,
//! clocks, locks, and allocation on the hot path (responses are planned into fixed-size
//! arrays on the stack and written into the caller's buffer).
#![forbid(unsafe_code)]

mod lookup;
mod proof;
mod query;
pub mod wire;

use blason_zone::model::{flags, RRset};
use blason_zone::{Rtype, Zone};
use lookup::{lookup, Found};
use query::parse_query;
pub use query::{Edns, Query};
use std::sync::Arc;
use wire::{Owner, Writer};

/// How the query arrived; decides the size limit and truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Server-wide answering options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Answer to CHAOS TXT `version.bind` / `version.server`; off when `None`.
    pub version: Option<String>,
    /// Answer to CHAOS TXT `id.server` / `hostname.bind`; off when `None`.
    pub identity: Option<String>,
    /// Answer ANY over UDP with one RRset of the name (RFC 8482 §4.2), so it cannot
    /// be used for amplification; over TCP ANY is answered in full.
    pub minimal_any: bool,
}

/// What the transport layer adds to an answer, beyond the zones.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    /// The COOKIE option data to send back: the client's cookie and ours (RFC 7873).
    pub cookie: Option<&'a [u8]>,
    /// A UDP size bound below the client's offer (for clients whose address is not
    /// proven by a cookie).
    pub udp_cap: Option<usize>,
    /// Told, when the answer is synthesized from a wildcard, the length of the
    /// closest encloser (a suffix of the question name), so a rate limit can count
    /// all names the wildcard answers as one.
    pub wildcard: Option<&'a std::cell::Cell<Option<usize>>>,
}

/// A packet read as far as answering needs, so the caller can look at it (cookie,
/// rate limit, counters) before the answer is made.
#[derive(Debug)]
pub enum Incoming {
    /// Nothing must be sent back: a response, or too short to carry an ID.
    Ignore,
    /// Malformed: answered with this failure, echoing the question up to `.1`.
    Bad(Failure, usize),
    Query(Query),
}

/// Reads `query` as [`respond`] would.
pub fn inspect(query: &[u8]) -> Incoming {
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return Incoming::Ignore;
    }
    match parse_query(query) {
        Ok(q) => Incoming::Query(q),
        Err((fail, qlen)) => Incoming::Bad(fail, qlen),
    }
}

/// Extended DNS Error codes (RFC 8914 §4) given with refusals.
pub mod ede {
    pub const PROHIBITED: u16 = 18;
    pub const NOT_AUTHORITATIVE: u16 = 20;
    pub const NOT_SUPPORTED: u16 = 21;
}

/// Largest UDP response we send, whatever the client offers (the DNS Flag Day 2020
/// value, BIND's default `max-udp-size`).
pub const MAX_UDP: usize = 1232;

/// An immutable set of zones: what one snapshot serves.
pub struct Catalog {
    zones: Vec<Arc<Zone>>,
    /// Per zone, in the same order: is it signed, and its NSEC3 hash index.
    sec: Vec<proof::ZoneSec>,
    opts: Options,
    /// Zones configured here with no usable data (a secondary past its expire):
    /// answered SERVFAIL with this Extended DNS Error code (RFC 8914).
    unavailable: Vec<(blason_zone::Name, u16)>,
}

impl Catalog {
    pub fn new(zones: Vec<Arc<Zone>>, opts: Options) -> Catalog {
        let sec = zones.iter().map(|z| proof::ZoneSec::new(z)).collect();
        Catalog {
            zones,
            sec,
            opts,
            unavailable: Vec::new(),
        }
    }

    /// This catalog, answering SERVFAIL with Extended DNS Error `ede` for names in
    /// the zones `names` (which it does not serve).
    pub fn with_unavailable(mut self, names: Vec<(blason_zone::Name, u16)>) -> Catalog {
        self.unavailable = names;
        self
    }
    /// A catalog of `zones` that reuses what `self` computed for a zone whose new
    /// snapshot shares most of its nodes (an incrementally changed zone): building it
    /// costs O(zones + changed), not O(records).
    pub fn next(&self, zones: Vec<Arc<Zone>>, opts: Options) -> Catalog {
        let sec = zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                // The zone at the same place first: with many zones, a search for each
                // would make this quadratic.
                // (ZoneSec::next reuses what the two snapshots share, if anything.)
                let related = |p: &Zone| p.origin() == z.origin();
                let prev = match self.zones.get(i) {
                    Some(p) if related(p) => Some(i),
                    _ => self.zones.iter().position(|p| related(p)),
                };
                match prev {
                    Some(j) => proof::ZoneSec::next(z, &self.zones[j], &self.sec[j]),
                    None => proof::ZoneSec::new(z),
                }
            })
            .collect();
        Catalog {
            zones,
            sec,
            opts,
            unavailable: Vec::new(),
        }
    }

    /// This catalog with `zone` in place of the zone of the same origin (added if
    /// there is none), reusing the per-zone indexes of the others and, when its names
    /// did not change, of the replaced zone too: O(zones).
    pub fn with_zone(&self, zone: Arc<Zone>) -> Catalog {
        let mut zones = self.zones.clone();
        let mut sec = self.sec.clone();
        match zones.iter().position(|z| z.origin() == zone.origin()) {
            Some(i) => {
                sec[i] = proof::ZoneSec::next(&zone, &zones[i], &sec[i]);
                zones[i] = zone;
            }
            None => {
                sec.push(proof::ZoneSec::new(&zone));
                zones.push(zone);
            }
        }
        Catalog {
            zones,
            sec,
            opts: self.opts.clone(),
            unavailable: self.unavailable.clone(),
        }
    }

    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }
    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// The zone with the longest origin at or above `name`. With `below_apex`, a zone
    /// whose apex is exactly `name` is skipped (DS is answered by the parent).
    ///
    /// A DS query for the apex of a zone whose parent is not served here is answered
    /// from that zone: "When authoritative for the child zone but not the parent and
    /// not offering recursion, ... return an authoritative no-data response" (RFC 4035
    /// §3.1.4.1).
    fn zone_for(&self, name: &[u8], below_apex: bool) -> Option<(&Zone, &proof::ZoneSec)> {
        let mut best: Option<(&Zone, &proof::ZoneSec)> = None;
        let mut apex: Option<(&Zone, &proof::ZoneSec)> = None;
        for (z, sec) in self.zones.iter().zip(&self.sec) {
            let o = z.origin().as_wire();
            if !blason_zone::name::wire_is_subdomain(name, o) {
                continue;
            }
            if below_apex && o.len() == name.len() {
                apex = Some((z, sec));
                continue;
            }
            if best.is_none_or(|b| b.0.origin().wire_len() < o.len()) {
                best = Some((z, sec));
            }
        }
        best.or(apex)
    }
}

/// Why a query gets no data: each maps to exactly one RCODE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The query is malformed (the client's fault).
    FormErr,
    /// An opcode or query type we do not implement.
    NotImp,
    /// Not a name we are authoritative for, or a class we do not serve.
    Refused,
    /// An EDNS version we do not speak (RFC 6891 §6.1.3).
    BadVers,
    /// A cookie we did not make, when we require one (RFC 7873 §5.2.3).
    BadCookie,
}

impl Failure {
    /// The 12-bit RCODE (BADVERS needs the OPT record's extended bits).
    pub fn rcode(self) -> u16 {
        match self {
            Failure::FormErr => 1,
            Failure::NotImp => 4,
            Failure::Refused => 5,
            Failure::BadVers => 16,
            Failure::BadCookie => 23,
        }
    }
}

const NOERROR: u16 = 0;
const NXDOMAIN: u16 = 3;
const YXDOMAIN: u16 = 6;

/// Longest CNAME/DNAME chain followed (loops end here too).
const MAX_CHAIN: usize = 12;

/// Writes the response to `query` into `out` (cleared first). Returns false when
/// nothing must be sent back (the packet is a response, or too short to carry an
/// ID), and when the query is signed with TSIG: see [`is_signed`].
pub fn respond(cat: &Catalog, query: &[u8], transport: Transport, out: &mut Vec<u8>) -> bool {
    respond_to(
        cat,
        query,
        &inspect(query),
        transport,
        &Extras::default(),
        out,
    )
}

/// [`respond`] for a packet the caller has read with [`inspect`], with what the
/// transport adds.
pub fn respond_to(
    cat: &Catalog,
    query: &[u8],
    seen: &Incoming,
    transport: Transport,
    x: &Extras,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let q = match seen {
        Incoming::Ignore => return false,
        Incoming::Bad(fail, qlen) => {
            error_response(query, *qlen, *fail, None, &Extras::default(), out);
            return true;
        }
        Incoming::Query(q) => q,
    };
    if q.signed || q.transfer {
        return false;
    }
    let limit = match transport {
        Transport::Tcp => 65535,
        Transport::Udp => {
            let offer = match q.edns {
                Some(e) => (e.payload as usize).clamp(512, MAX_UDP),
                None => 512,
            };
            x.udp_cap.map_or(offer, |c| offer.min(c.max(512)))
        }
    };
    if let Some(e) = q.edns {
        if e.version != 0 {
            error_response(
                query,
                q.question_end,
                Failure::BadVers,
                Some(e.do_bit),
                x,
                out,
            );
            return true;
        }
    }
    answer(cat, query, q, limit, transport, x, out);
    true
}

/// BADCOOKIE (RFC 7873 §5.2.3): the question and a fresh cookie in `x`, no data.
pub fn bad_cookie(query: &[u8], q: &Query, x: &Extras, out: &mut Vec<u8>) {
    out.clear();
    let do_bit = q.edns.is_some_and(|e| e.do_bit);
    error_response(
        query,
        q.question_end,
        Failure::BadCookie,
        Some(do_bit),
        x,
        out,
    );
}

/// True when `query` is a well-formed query carrying a TSIG, which [`respond`]
/// leaves to its caller: the signature is checked, the query answered without it,
/// and the answer signed (RFC 8945).
pub fn is_signed(query: &[u8]) -> bool {
    query.len() >= 12 && query[2] & 0x80 == 0 && parse_query(query).is_ok_and(|q| q.signed)
}

/// True when `query` asks for a zone transfer (AXFR, IXFR), which [`respond`]
/// leaves to its caller.
pub fn is_transfer(query: &[u8]) -> bool {
    query.len() >= 12 && query[2] & 0x80 == 0 && parse_query(query).is_ok_and(|q| q.transfer)
}

/// Header + question (if it parsed) + OPT, for responses that carry no data.
fn error_response(
    query: &[u8],
    qend: usize,
    fail: Failure,
    edns_do: Option<bool>,
    x: &Extras,
    out: &mut Vec<u8>,
) {
    let rcode = fail.rcode();
    out.extend_from_slice(&query[..12]);
    out[2] = 0x80 | (query[2] & 0x79); // QR, opcode, RD kept; AA, TC cleared
    out[3] = (query[3] & 0x10) | (rcode & 0xF) as u8; // CD kept
    let has_q = qend > 12;
    out[4..6].copy_from_slice(&(has_q as u16).to_be_bytes());
    out[6..12].fill(0);
    if has_q {
        out.extend_from_slice(&query[12..qend]);
    }
    if let Some(do_bit) = edns_do {
        write_opt(out, (rcode >> 4) as u8, do_bit, x.cookie, None);
        out[10..12].copy_from_slice(&1u16.to_be_bytes());
    }
}

/// Our OPT RR: with the cookie to send back and an Extended DNS Error (RFC 8914,
/// no text) when given.
fn write_opt(
    out: &mut Vec<u8>,
    ext_rcode: u8,
    do_bit: bool,
    cookie: Option<&[u8]>,
    ede: Option<u16>,
) {
    out.push(0);
    out.extend_from_slice(&41u16.to_be_bytes());
    out.extend_from_slice(&(MAX_UDP as u16).to_be_bytes());
    out.push(ext_rcode);
    out.push(0);
    out.extend_from_slice(&(if do_bit { 0x8000u16 } else { 0 }).to_be_bytes());
    let len = cookie.map_or(0, |c| 4 + c.len()) + ede.map_or(0, |_| 6);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    if let Some(c) = cookie {
        out.extend_from_slice(&10u16.to_be_bytes());
        out.extend_from_slice(&(c.len() as u16).to_be_bytes());
        out.extend_from_slice(c);
    }
    if let Some(code) = ede {
        out.extend_from_slice(&15u16.to_be_bytes());
        out.extend_from_slice(&2u16.to_be_bytes());
        out.extend_from_slice(&code.to_be_bytes());
    }
}

/// Size of the OPT RR we append, without options.
const OPT_LEN: usize = 11;

/// Size of the OPT RR we append to an answer for `x`.
fn opt_len(x: &Extras) -> usize {
    OPT_LEN + x.cookie.map_or(0, |c| 4 + c.len())
}

/// A planned RRset in a section.
#[derive(Clone, Copy)]
struct Item<'a> {
    owner: NameRef<'a>,
    data: Data<'a>,
    /// In the additional section: glue that must fit or the response is truncated
    /// (RFC 9471); optional addresses are dropped silently instead.
    required: bool,
}

#[derive(Clone, Copy)]
enum Data<'a> {
    Set(&'a RRset),
    /// A CNAME synthesized from a DNAME: target in `synth[i]`, with this TTL.
    Synth(usize, u32),
}

/// A name in the response: the question name, zone data, or a synthesized name.
#[derive(Clone, Copy)]
enum NameRef<'a> {
    Q,
    Wire(&'a [u8]),
    Synth(usize),
}

/// Fixed-capacity list of planned RRsets.
struct Section<'a, const N: usize> {
    items: [Option<Item<'a>>; N],
    n: usize,
}

impl<'a, const N: usize> Section<'a, N> {
    fn new() -> Self {
        Section {
            items: [None; N],
            n: 0,
        }
    }
    fn push(&mut self, it: Item<'a>) {
        if self.n < N {
            self.items[self.n] = Some(it);
            self.n += 1;
        }
    }
    fn iter(&self) -> impl Iterator<Item = &Item<'a>> {
        self.items[..self.n].iter().flatten()
    }
    fn has_set(&self, owner: &[u8], rs: &RRset, names: &Names) -> bool {
        self.iter().any(|it| {
            matches!(it.data, Data::Set(s) if std::ptr::eq(s, rs))
                && names.get(it.owner).eq_ignore_ascii_case(owner)
        })
    }
}

/// Storage for names synthesized while answering (DNAME targets).
struct Names<'q> {
    qname: &'q [u8],
    synth: [[u8; 256]; 4],
    synth_len: [usize; 4],
    used: usize,
}

impl<'q> Names<'q> {
    fn get<'s>(&'s self, r: NameRef<'s>) -> &'s [u8] {
        match r {
            NameRef::Q => self.qname,
            NameRef::Wire(w) => w,
            NameRef::Synth(i) => &self.synth[i][..self.synth_len[i]],
        }
    }
}

fn answer(
    cat: &Catalog,
    query: &[u8],
    q: &Query,
    limit: usize,
    transport: Transport,
    x: &Extras,
    out: &mut Vec<u8>,
) {
    let qname = &query[12..q.qname_end];
    let do_bit = q.edns.is_some_and(|e| e.do_bit);
    let minimal_any = cat.opts.minimal_any && transport == Transport::Udp;

    // Header and question; the counts are filled in at the end.
    out.extend_from_slice(&query[..q.question_end]);
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = query[3] & 0x10;
    out[4..6].copy_from_slice(&1u16.to_be_bytes());
    out[6..12].fill(0);

    if q.qclass != 1 {
        if q.qclass == 3 && q.qtype == 16 && chaos(cat, qname, out) {
            finish_edns(out, q, do_bit, x, None);
            return;
        }
        // Every other class, ANY (255) included, is one we do not serve.
        return set_rcode(
            out,
            q,
            Failure::Refused.rcode(),
            do_bit,
            x,
            Some(ede::NOT_SUPPORTED),
        );
    }
    match q.qtype {
        // AXFR/IXFR over UDP are malformed; over TCP not served by this path yet.
        251 | 252 => {
            return set_rcode(
                out,
                q,
                Failure::Refused.rcode(),
                do_bit,
                x,
                Some(ede::NOT_SUPPORTED),
            )
        }
        253 | 254 => {
            return set_rcode(
                out,
                q,
                Failure::NotImp.rcode(),
                do_bit,
                x,
                Some(ede::NOT_SUPPORTED),
            )
        }
        41 | 249 | 250 => return set_rcode(out, q, Failure::FormErr.rcode(), do_bit, x, None),
        _ => {}
    }
    let qtype = Rtype(q.qtype);
    let found = cat.zone_for(qname, qtype == Rtype::DS);
    if !cat.unavailable.is_empty() {
        // A zone configured here without usable data, unless a served zone is closer.
        let closest = cat
            .unavailable
            .iter()
            .filter(|(o, _)| blason_zone::name::wire_is_subdomain(qname, o.as_wire()))
            .max_by_key(|(o, _)| o.wire_len());
        if let Some((o, ede)) = closest {
            if found.is_none_or(|(z, _)| z.origin().wire_len() < o.wire_len()) {
                out[3] = (out[3] & 0xF0) | 2;
                finish_edns(out, q, do_bit, x, Some(*ede));
                return;
            }
        }
    }
    let Some((zone0, sec0)) = found else {
        let rcode = Failure::Refused.rcode();
        return set_rcode(out, q, rcode, do_bit, x, Some(ede::NOT_AUTHORITATIVE));
    };

    let mut names = Names {
        qname,
        synth: [[0; 256]; 4],
        synth_len: [0; 4],
        used: 0,
    };
    let mut ans: Section<'_, 24> = Section::new();
    let mut auth: Section<'_, 10> = Section::new();
    let mut add: Section<'_, 40> = Section::new();
    let mut rcode = NOERROR;
    let mut aa = true;
    let mut cur = NameRef::Q;
    let mut zone = zone0;
    let mut sec = sec0;
    // Names the chain has reached, to end it at the first repeat (a CNAME or DNAME
    // loop is answered once round, not MAX_CHAIN times).
    let mut visited = [NameRef::Q; MAX_CHAIN];

    for step in 0..MAX_CHAIN {
        if visited[..step]
            .iter()
            .any(|&v| names.get(v).eq_ignore_ascii_case(names.get(cur)))
        {
            break;
        }
        visited[step] = cur;
        let name = names.get(cur);
        if step > 0 {
            match cat.zone_for(name, qtype == Rtype::DS) {
                Some((z, s)) => (zone, sec) = (z, s),
                None => break,
            }
        }
        // Copy the name out so `names` can be extended while `name` is in use.
        let mut nbuf = [0u8; 256];
        let nlen = name.len();
        nbuf[..nlen].copy_from_slice(name);
        let name = &nbuf[..nlen];
        let nodes = zone.nodes();
        // Signatures and proofs only from signed zones, and only when asked (RFC 4035
        // §3.1); the OPT record still echoes DO.
        let ds = do_bit && sec.secure;
        match lookup(zone, name) {
            Found::Exact(i) => {
                let node = nodes.at(i);
                if node.has(flags::DELEGATION) && qtype != Rtype::DS {
                    if step == 0 {
                        aa = false;
                        referral(zone, sec, i, ds, &mut auth, &mut add);
                    }
                    break;
                }
                if qtype == Rtype::ANY {
                    any(&mut ans, cur, node, ds, minimal_any);
                    if node.rrsets.is_empty() {
                        negative(zone, ds, &mut auth);
                        if ds {
                            proof::nodata(zone, sec, i, name, &mut auth);
                        }
                    }
                    break;
                }
                if let Some(rs) = node.rrset(qtype) {
                    push_answer(&mut ans, cur, node, rs, qtype, ds);
                    additional(zone, rs, ds, &mut add, &names);
                    break;
                }
                if let Some(c) = node.rrset(Rtype::CNAME) {
                    push_answer(&mut ans, cur, node, c, Rtype::CNAME, ds);
                    cur = NameRef::Wire(c.first().unwrap_or(&[0]));
                    continue;
                }
                negative(zone, ds, &mut auth);
                if ds {
                    proof::nodata(zone, sec, i, name, &mut auth);
                }
                break;
            }
            Found::Referral(i) => {
                if step == 0 {
                    aa = false;
                    referral(zone, sec, i, ds, &mut auth, &mut add);
                }
                break;
            }
            Found::Dname(i) => {
                let node = nodes.at(i);
                let Some(d) = node.rrset(Rtype::DNAME) else {
                    break;
                };
                ans.push(Item {
                    owner: NameRef::Wire(node.name.as_wire()),
                    data: Data::Set(d),
                    required: false,
                });
                if ds {
                    if let Some(sig) = node.rrsigs(Rtype::DNAME) {
                        ans.push(Item {
                            owner: NameRef::Wire(node.name.as_wire()),
                            data: Data::Set(sig),
                            required: false,
                        });
                    }
                }
                // New name: the labels of `name` above the DNAME owner, then the target.
                let target = d.first().unwrap_or(&[0]);
                let prefix = name.len() - node.name.wire_len();
                if prefix + target.len() > 255 {
                    rcode = YXDOMAIN;
                    break;
                }
                if names.used >= names.synth.len() {
                    break;
                }
                let si = names.used;
                names.used += 1;
                names.synth[si][..prefix].copy_from_slice(&name[..prefix]);
                names.synth[si][prefix..prefix + target.len()].copy_from_slice(target);
                names.synth_len[si] = prefix + target.len();
                // The synthesized CNAME is owned by the current name.
                ans.push(Item {
                    owner: cur,
                    data: Data::Synth(si, d.ttl),
                    required: false,
                });
                cur = NameRef::Synth(si);
                continue;
            }
            Found::Wildcard(ce, w) => {
                if let (0, Some(cell)) = (step, x.wildcard) {
                    cell.set(Some(zone.node(ce).name.wire_len()));
                }
                let wnode = nodes.at(w);
                if qtype == Rtype::ANY {
                    any(&mut ans, cur, wnode, ds, minimal_any);
                    if ds {
                        proof::wildcard_answer(zone, sec, ce, name, &mut auth);
                    }
                    break;
                }
                if let Some(rs) = wnode.rrset(qtype) {
                    push_answer(&mut ans, cur, wnode, rs, qtype, ds);
                    additional(zone, rs, ds, &mut add, &names);
                    if ds {
                        proof::wildcard_answer(zone, sec, ce, name, &mut auth);
                    }
                    break;
                }
                if let Some(c) = wnode.rrset(Rtype::CNAME) {
                    push_answer(&mut ans, cur, wnode, c, Rtype::CNAME, ds);
                    if ds {
                        proof::wildcard_answer(zone, sec, ce, name, &mut auth);
                    }
                    cur = NameRef::Wire(c.first().unwrap_or(&[0]));
                    continue;
                }
                negative(zone, ds, &mut auth);
                if ds {
                    proof::wildcard_nodata(zone, sec, ce, w, name, &mut auth);
                }
                break;
            }
            Found::NxDomain(ce) => {
                rcode = NXDOMAIN;
                negative(zone, ds, &mut auth);
                if ds {
                    proof::nxdomain(zone, sec, ce, name, &mut auth);
                }
                break;
            }
        }
    }

    emit(
        out, q, limit, rcode, aa, do_bit, x, &ans, &auth, &add, &names,
    );
}

/// The RRsets answering ANY at `node`: all of them, or with `minimal` the first
/// (and its signature): RFC 8482 §4.2.
fn any<'a, const N: usize>(
    ans: &mut Section<'a, N>,
    owner: NameRef<'a>,
    node: &'a blason_zone::Node,
    ds: bool,
    minimal: bool,
) {
    if minimal {
        if let Some(rs) = node.rrsets.iter().find(|r| r.rtype != Rtype::RRSIG) {
            push_answer(ans, owner, node, rs, rs.rtype, ds);
        }
        return;
    }
    for rs in node.rrsets.iter() {
        if rs.rtype != Rtype::RRSIG || ds {
            ans.push(Item {
                owner,
                data: Data::Set(rs),
                required: false,
            });
        }
    }
}

fn push_answer<'a, const N: usize>(
    ans: &mut Section<'a, N>,
    owner: NameRef<'a>,
    node: &'a blason_zone::Node,
    rs: &'a RRset,
    qtype: Rtype,
    do_bit: bool,
) {
    if qtype == Rtype::RRSIG {
        // All RRSIG sets at the name answer an RRSIG query.
        for s in node.rrsets.iter().filter(|r| r.rtype == Rtype::RRSIG) {
            ans.push(Item {
                owner,
                data: Data::Set(s),
                required: false,
            });
        }
        return;
    }
    ans.push(Item {
        owner,
        data: Data::Set(rs),
        required: false,
    });
    if do_bit {
        if let Some(sig) = node.rrsigs(rs.rtype) {
            ans.push(Item {
                owner,
                data: Data::Set(sig),
                required: false,
            });
        }
    }
}

/// SOA (and its signature) in the authority section of a negative answer.
fn negative<'a, const N: usize>(zone: &'a Zone, do_bit: bool, auth: &mut Section<'a, N>) {
    let apex = zone.apex();
    if let Some(soa) = apex.rrset(Rtype::SOA) {
        auth.push(Item {
            owner: NameRef::Wire(apex.name.as_wire()),
            data: Data::Set(soa),
            required: false,
        });
        if do_bit {
            if let Some(sig) = apex.rrsigs(Rtype::SOA) {
                auth.push(Item {
                    owner: NameRef::Wire(apex.name.as_wire()),
                    data: Data::Set(sig),
                    required: false,
                });
            }
        }
    }
}

/// NS of the cut in authority, DS if signed, glue in additional.
fn referral<'a, const A: usize, const B: usize>(
    zone: &'a Zone,
    sec: &proof::ZoneSec,
    cut: usize,
    do_bit: bool,
    auth: &mut Section<'a, A>,
    add: &mut Section<'a, B>,
) {
    let node = zone.node(cut);
    let owner = NameRef::Wire(node.name.as_wire());
    let Some(ns) = node.rrset(Rtype::NS) else {
        return;
    };
    auth.push(Item {
        owner,
        data: Data::Set(ns),
        required: false,
    });
    // "If a DS RRset is present at the delegation point, the name server MUST return
    // both the DS RRset and its associated RRSIG RR(s)" (RFC 4035 §3.1.4). A DS the
    // zone holds without a signature proves nothing and is left out, as BIND does.
    if do_bit {
        if let (Some(ds), Some(sig)) = (node.rrset(Rtype::DS), node.rrsigs(Rtype::DS)) {
            auth.push(Item {
                owner,
                data: Data::Set(ds),
                required: false,
            });
            auth.push(Item {
                owner,
                data: Data::Set(sig),
                required: false,
            });
        } else {
            // An insecure delegation: prove there is no DS (RFC 4035 §3.1.4).
            proof::insecure_referral(zone, sec, cut, auth);
        }
    }
    for target in ns.rdatas() {
        // In-domain glue is required (RFC 9471); sibling glue is optional.
        let in_domain = blason_zone::name::wire_is_subdomain(target, node.name.as_wire());
        if !in_domain && !blason_zone::name::wire_is_subdomain(target, zone.origin().as_wire()) {
            continue;
        }
        if let Some(t) = zone.find(target) {
            let tn = zone.node(t);
            if !in_domain && !tn.is_authoritative() && !tn.has(flags::BELOW_CUT) {
                continue;
            }
            for ty in [Rtype::A, Rtype::AAAA] {
                if let Some(rs) = tn.rrset(ty) {
                    add.push(Item {
                        owner: NameRef::Wire(target),
                        data: Data::Set(rs),
                        required: in_domain,
                    });
                }
            }
        }
    }
}

/// Addresses of NS, MX and SRV targets held in the same zone.
fn additional<'a, const N: usize>(
    zone: &'a Zone,
    rs: &'a RRset,
    do_bit: bool,
    add: &mut Section<'a, N>,
    names: &Names,
) {
    let skip = match rs.rtype.0 {
        2 => 0,
        15 => 2,
        33 => 6,
        _ => return,
    };
    for rd in rs.rdatas() {
        let Some(target) = rd.get(skip..) else {
            continue;
        };
        if !blason_zone::name::wire_is_subdomain(target, zone.origin().as_wire()) {
            continue;
        }
        let Some(t) = zone.find(target) else { continue };
        let tn = zone.node(t);
        if tn.has(flags::BELOW_DNAME) {
            continue;
        }
        for ty in [Rtype::A, Rtype::AAAA] {
            if let Some(a) = tn.rrset(ty) {
                if !add.has_set(target, a, names) {
                    add.push(Item {
                        owner: NameRef::Wire(target),
                        data: Data::Set(a),
                        required: false,
                    });
                    if do_bit {
                        if let Some(sig) = tn.rrsigs(ty) {
                            add.push(Item {
                                owner: NameRef::Wire(target),
                                data: Data::Set(sig),
                                required: false,
                            });
                        }
                    }
                }
            }
        }
    }
}

fn chaos(cat: &Catalog, qname: &[u8], out: &mut Vec<u8>) -> bool {
    let lower: Vec<u8> = qname.to_ascii_lowercase();
    let text = match lower.as_slice() {
        b"\x07version\x04bind\x00" | b"\x07version\x06server\x00" => cat.opts.version.as_deref(),
        b"\x02id\x06server\x00" | b"\x08hostname\x04bind\x00" => cat.opts.identity.as_deref(),
        _ => None,
    };
    let Some(text) = text else { return false };
    let bytes = text.as_bytes();
    let mut rdata = Vec::with_capacity(bytes.len() + 2);
    for chunk in bytes.chunks(255) {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    let mut w = Writer::new(out, 65535);
    w.remember(12);
    if w.rr(Owner::Ptr(12), Rtype::TXT, 3, 0, &rdata).is_ok() {
        out[2] |= 0x04;
        out[6..8].copy_from_slice(&1u16.to_be_bytes());
    }
    true
}

fn set_rcode(out: &mut Vec<u8>, q: &Query, rcode: u16, do_bit: bool, x: &Extras, ede: Option<u16>) {
    out[3] = (out[3] & 0xF0) | (rcode & 0xF) as u8;
    finish_edns(out, q, do_bit, x, ede);
}

fn finish_edns(out: &mut Vec<u8>, q: &Query, do_bit: bool, x: &Extras, ede: Option<u16>) {
    if q.edns.is_some() {
        write_opt(out, 0, do_bit, x.cookie, ede);
        let ar = u16::from_be_bytes([out[10], out[11]]) + 1;
        out[10..12].copy_from_slice(&ar.to_be_bytes());
    }
}

#[allow(clippy::too_many_arguments)]
fn emit<const A: usize, const B: usize, const C: usize>(
    out: &mut Vec<u8>,
    q: &Query,
    limit: usize,
    rcode: u16,
    aa: bool,
    do_bit: bool,
    x: &Extras,
    ans: &Section<'_, A>,
    auth: &Section<'_, B>,
    add: &Section<'_, C>,
    names: &Names,
) {
    let reserve = if q.edns.is_some() { opt_len(x) } else { 0 };
    let mut counts = [0u16; 3];
    let mut tc = false;
    {
        let mut w = Writer::new(out, limit - reserve);
        w.remember(12);
        'sections: for (si, sec) in [
            ans.iter().collect::<SmallList>(),
            auth.iter().collect(),
            add.iter().collect(),
        ]
        .iter()
        .enumerate()
        {
            let mut neg_ttl: Option<u32> = None;
            for it in sec.iter() {
                let res = match it.data {
                    Data::Set(rs) => {
                        // Negative answers use min(SOA TTL, SOA minimum) (RFC 2308 §3),
                        // and the SOA's signature the same TTL (RFC 4035 §3.1.3).
                        let ttl = if si == 1 && rs.rtype == Rtype::SOA {
                            let t = soa_neg_ttl(rs);
                            neg_ttl = Some(t);
                            t
                        } else if si == 1 && rs.rtype == Rtype::RRSIG && rs.covers == Rtype::SOA {
                            neg_ttl.unwrap_or(rs.ttl)
                        } else {
                            rs.ttl
                        };
                        w.rrset(owner_of(names, it.owner), rs, ttl)
                    }
                    Data::Synth(i, ttl) => {
                        let target = names.get(NameRef::Synth(i));
                        w.rr(owner_of(names, it.owner), Rtype::CNAME, 1, ttl, target)
                            .map(|_| 1)
                    }
                };
                match res {
                    Ok(n) => counts[si] += n,
                    Err(_) => {
                        if si < 2 || it.required {
                            tc = true;
                            break 'sections;
                        }
                    }
                }
            }
        }
    }
    out[2] = (out[2] & !0x06) | if aa { 0x04 } else { 0 } | if tc { 0x02 } else { 0 };
    out[3] = (out[3] & 0xF0) | (rcode & 0xF) as u8;
    out[6..8].copy_from_slice(&counts[0].to_be_bytes());
    out[8..10].copy_from_slice(&counts[1].to_be_bytes());
    out[10..12].copy_from_slice(&counts[2].to_be_bytes());
    finish_edns(out, q, do_bit, x, None);
}

/// A section's items, collected for iteration in `emit` (at most 40, on the stack).
struct SmallList<'s, 'a> {
    items: [Option<&'s Item<'a>>; 40],
    n: usize,
}

impl<'s, 'a> FromIterator<&'s Item<'a>> for SmallList<'s, 'a> {
    fn from_iter<T: IntoIterator<Item = &'s Item<'a>>>(iter: T) -> Self {
        let mut l = SmallList {
            items: [None; 40],
            n: 0,
        };
        for it in iter {
            if l.n < 40 {
                l.items[l.n] = Some(it);
                l.n += 1;
            }
        }
        l
    }
}

impl<'s, 'a> SmallList<'s, 'a> {
    fn iter(&self) -> impl Iterator<Item = &'s Item<'a>> + '_ {
        self.items[..self.n].iter().flatten().copied()
    }
}

fn owner_of<'s>(names: &'s Names, r: NameRef<'s>) -> Owner<'s> {
    match r {
        NameRef::Q => Owner::Ptr(12),
        other => Owner::Name(names.get(other)),
    }
}

fn soa_neg_ttl(soa: &RRset) -> u32 {
    let min = soa
        .first()
        .and_then(|d| d.get(d.len().saturating_sub(4)..))
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    soa.ttl.min(min)
}

#[cfg(test)]
mod tests;
