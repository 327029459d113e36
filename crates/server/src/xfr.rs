//! Outgoing zone transfers: AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, checked
//! against each zone's `allow-transfer` list and signed with TSIG (RFC 8945) when the
//! request is.
//!
//! Design note. A transfer reads only immutable data: the served snapshot from the
//! catalog, and the zone's journal history (a copy of its pointers). It runs on a
//! blocking thread of the TCP runtime and hands messages to the connection as they
//! are made, so neither the query path nor another transfer waits for it. IXFR
//! condenses the history from the client's serial; a serial the history does not
//! hold gets the whole zone in IXFR form (never an error: NSD stops asking for IXFR
//! for days after NOTIMP or FORMERR). Messages stay near 16 KiB, owner names
//! compressed.
#![forbid(unsafe_code)]

use crate::journal::History;
use crate::log;
use blason_proto::tsig::{self, Key, Position, TsigError};
use blason_proto::Message;
use blason_zone::fault::Ede;
use blason_zone::update::{serial_gt, Changeset};
use blason_zone::{Name, RRset, Rtype, Zone};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Outgoing transfers served at once (BIND's `transfers-out` default is 10).
pub const MAX_TRANSFERS: usize = 10;

pub const AXFR: Rtype = Rtype(252);
pub const IXFR: Rtype = Rtype(251);

/// Who may transfer a zone: an address prefix, a key, or both (both must match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acl {
    pub prefix: Option<(IpAddr, u8)>,
    pub key: Option<Name>,
}

impl Acl {
    /// `ADDR[/LEN]`, `key NAME`, or `ADDR[/LEN] key NAME`.
    pub fn parse(s: &str) -> Result<Acl, String> {
        let w: Vec<&str> = s.split_whitespace().collect();
        let key = |n: &str| Name::parse(&absolute(n), None).map_err(|e| format!("key {n:?}: {e}"));
        match w.as_slice() {
            ["key", k] => Ok(Acl {
                prefix: None,
                key: Some(key(k)?),
            }),
            [p] => Ok(Acl {
                prefix: Some(parse_prefix(p)?),
                key: None,
            }),
            [p, "key", k] => Ok(Acl {
                prefix: Some(parse_prefix(p)?),
                key: Some(key(k)?),
            }),
            _ => Err(format!(
                "{s:?}: write ADDR[/LEN], \"key NAME\" or \"ADDR[/LEN] key NAME\""
            )),
        }
    }

    fn allows(&self, peer: IpAddr, key: Option<&Name>) -> bool {
        let addr_ok = self
            .prefix
            .is_none_or(|(net, len)| in_prefix(peer, net, len));
        let key_ok = self.key.as_ref().is_none_or(|k| key == Some(k));
        addr_ok && key_ok
    }
}

fn absolute(n: &str) -> String {
    if n.ends_with('.') {
        n.to_string()
    } else {
        format!("{n}.")
    }
}

/// An address or a prefix, as `192.0.2.0/24` or `2001:db8::/32`.
pub fn parse_prefix(p: &str) -> Result<(IpAddr, u8), String> {
    let (a, l) = p.split_once('/').unwrap_or((p, ""));
    let a: IpAddr = a.parse().map_err(|_| format!("{p:?} is not an address"))?;
    let max = if a.is_ipv4() { 32 } else { 128 };
    let l = if l.is_empty() {
        max
    } else {
        l.parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or_else(|| format!("{p:?}: prefix length 0-{max}"))?
    };
    Ok((a, l))
}

/// Whether `a` is in `net`/`len` (an IPv4 client on an IPv6 socket counts as IPv4).
pub fn in_prefix(a: IpAddr, net: IpAddr, len: u8) -> bool {
    // An IPv4 client on an IPv6 socket arrives mapped.
    let a = match a {
        IpAddr::V6(v) => v.to_ipv4_mapped().map_or(a, IpAddr::V4),
        a => a,
    };
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// A secondary to tell of each new serial (RFC 1996), and the key to sign with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotifyTarget {
    pub addr: SocketAddr,
    pub key: Option<Name>,
}

impl NotifyTarget {
    /// `ADDR[:PORT]` or `ADDR[:PORT] key NAME` (port 53 when none; IPv6 in brackets).
    pub fn parse(s: &str) -> Result<NotifyTarget, String> {
        let w: Vec<&str> = s.split_whitespace().collect();
        let (a, key) = match w.as_slice() {
            [a] => (*a, None),
            [a, "key", k] => (
                *a,
                Some(Name::parse(&absolute(k), None).map_err(|e| format!("key {k:?}: {e}"))?),
            ),
            _ => {
                return Err(format!(
                    "{s:?}: write ADDR[:PORT] or \"ADDR[:PORT] key NAME\""
                ))
            }
        };
        let addr = a
            .parse::<SocketAddr>()
            .or_else(|_| a.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| format!("{a:?} is not ADDR[:PORT]"))?;
        Ok(NotifyTarget { addr, key })
    }
}

/// A zone's transfer settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XfrSpec {
    /// Who may transfer the zone; empty: nobody (REFUSED).
    pub allow: Vec<Acl>,
    /// Where NOTIFY goes besides the zone's NS targets.
    pub notify: Vec<NotifyTarget>,
    /// Also NOTIFY the addresses the zone gives its NS targets (in-zone glue only;
    /// nothing is looked up elsewhere).
    pub notify_ns: bool,
    /// Who may change the zone by dynamic update (RFC 2136), key by key; empty:
    /// nobody.
    pub update: Vec<crate::update::Grant>,
}

impl Default for XfrSpec {
    fn default() -> XfrSpec {
        XfrSpec {
            allow: Vec::new(),
            notify: Vec::new(),
            notify_ns: true,
            update: Vec::new(),
        }
    }
}

/// What the transfer side knows of every zone: made anew when the zones change (a
/// config reload), the records of what was seen and heard carried over.
#[derive(Default)]
pub(crate) struct XfrTable {
    pub zones: HashMap<Name, (XfrSpec, Option<History>)>,
    pub keys: Vec<Key>,
    /// The last transfer each client took of each zone (for `blason xfr status`).
    pub seen: Arc<std::sync::Mutex<HashMap<(Name, IpAddr), Seen>>>,
    /// Secondary zones: their primaries (NOTIFY is taken from these only) and how to
    /// wake their worker.
    pub secondaries: HashMap<Name, (Primaries, crate::zones::Waker)>,
    /// Each secondary zone's last transfer in and last failure (for `xfr status`).
    pub incoming: Arc<std::sync::Mutex<HashMap<Name, Incoming>>>,
}

/// What a secondary zone last heard from its primaries.
#[derive(Clone, Debug, Default)]
pub(crate) struct Incoming {
    /// When, how ("axfr", "ixfr", "up to date"), the serial, and from whom.
    pub ok: Option<(u64, &'static str, u32, SocketAddr)>,
    /// When, and why (with the primary's address).
    pub failed: Option<(u64, String)>,
    pub expired: bool,
}

/// A secondary zone's primaries, each with its key.
pub type Primaries = Vec<(SocketAddr, Option<Key>)>;

/// A client's last transfer of a zone.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    /// "axfr", "ixfr", "axfr-style ixfr" or "up to date".
    pub how: &'static str,
    /// The serial the client said it had (IXFR).
    pub had: Option<u32>,
    pub sent: u32,
    pub at: u64,
    pub key: Option<Name>,
}

impl XfrTable {
    pub fn key(&self, name: &Name) -> Option<&Key> {
        self.keys.iter().find(|k| k.name == *name)
    }
}

/// True when `query` asks for a transfer (opcode QUERY, AXFR or IXFR): the TCP
/// path hands it here instead of answering it.
pub fn is_transfer(query: &[u8]) -> bool {
    if query.len() < 12 || query[2] & 0x80 != 0 || (query[2] >> 3) & 0xF != 0 {
        return false;
    }
    let Ok((_, end)) = blason_proto::message::read_name(query, 12) else {
        return false;
    };
    query
        .get(end..end + 2)
        .map(|t| u16::from_be_bytes([t[0], t[1]]))
        .is_some_and(|t| t == AXFR.0 || t == IXFR.0)
}

/// How a transfer request came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Via {
    Udp,
    Tcp,
    /// Over TCP while the most transfers at once already run.
    TcpBusy,
}

/// Answers the transfer request `query` from `peer`: each message goes to `emit`
/// as it is made (false from `emit`: the client is gone, stop).
pub(crate) fn serve(
    query: &[u8],
    peer: SocketAddr,
    table: &XfrTable,
    zones: &[Arc<Zone>],
    now: u64,
    via: Via,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) {
    let (udp, busy) = (via == Via::Udp, via == Via::TcpBusy);
    let Ok(m) = Message::parse(query) else {
        emit(error_reply(query, 1, None));
        return;
    };
    let Some(q) = m.questions.first().filter(|_| m.questions.len() == 1) else {
        emit(error_reply(query, 1, None));
        return;
    };
    let kind = if q.qtype == AXFR { "AXFR" } else { "IXFR" };
    let say = |msg: &str, extra: &[(&str, &dyn std::fmt::Display)]| {
        let mut kv: Vec<(&str, &dyn std::fmt::Display)> =
            vec![("zone", &q.name), ("client", &peer), ("type", &kind)];
        kv.extend_from_slice(extra);
        log::warn(msg, &kv);
    };
    // The request's signature first: a bad one is answered before anything else.
    let signed = match tsig::verify(query, &|n| table.key(n), now, Position::Request) {
        Ok((k, mac)) => Some((k, mac)),
        Err(TsigError::Missing) => None,
        Err(e) => {
            say("transfer refused: bad TSIG", &[("reason", &e)]);
            emit(tsig_error_reply(query, &e, table, now));
            return;
        }
    };
    let key_name = signed.as_ref().map(|(k, _)| &k.name);
    if busy {
        // The most transfers at once already run: SERVFAIL (signed when the request
        // was; BIND refuses an unsigned answer to a signed request), retried later.
        say(
            "transfer refused for now: the most transfers at once already run",
            &[("max", &MAX_TRANSFERS)],
        );
        emit(reply_with(&m, 2, None, signed.as_ref(), now));
        return;
    }
    let Some((spec, history)) = table.zones.get(&q.name) else {
        say("transfer refused: not a zone of this server", &[]);
        emit(reply_with(
            &m,
            9,
            Some(Ede::NotAuthoritative),
            signed.as_ref(),
            now,
        ));
        return;
    };
    if q.qclass != 1 {
        emit(reply_with(
            &m,
            5,
            Some(Ede::NotSupported),
            signed.as_ref(),
            now,
        ));
        return;
    }
    if !spec.allow.iter().any(|a| a.allows(peer.ip(), key_name)) {
        let key = key_name.map_or("none".to_string(), |k| k.to_string());
        say("transfer refused: not allowed", &[("key", &key)]);
        emit(reply_with(
            &m,
            5,
            Some(Ede::Prohibited),
            signed.as_ref(),
            now,
        ));
        return;
    }
    let Some(zone) = zones.iter().find(|z| *z.origin() == q.name) else {
        emit(reply_with(&m, 2, Some(Ede::NotReady), signed.as_ref(), now));
        return;
    };
    let Some(soa) = zone.soa() else {
        emit(reply_with(
            &m,
            2,
            Some(Ede::InvalidData),
            signed.as_ref(),
            now,
        ));
        return;
    };
    let serial = zone.serial().unwrap_or(0);
    let mut out = Packer::new(&m, signed.as_ref().map(|(k, mac)| (*k, mac.clone())), now);
    let origin = zone.origin();
    let mut how = "axfr";
    let client = m
        .authority
        .iter()
        .find(|r| r.rtype == Rtype::SOA)
        .and_then(|r| blason_zone::update::serial_of(&r.rdata));
    if udp {
        // RFC 1995 §2: over UDP, the SOA alone to a client that is up to date;
        // anyone else is sent to TCP (TC set, nothing in it).
        if q.qtype == IXFR && client.is_some_and(|c| !serial_gt(serial, c)) {
            out.rrset(origin, soa, emit);
            out.finish(emit);
        } else {
            let mut r = reply_with(&m, 0, None, None, now);
            r[2] |= 0x06;
            if let Some((k, mac)) = &signed {
                tsig::sign(&mut r, k, now, Position::Response(mac), 0);
            }
            emit(r);
        }
        return;
    }
    if q.qtype == IXFR {
        match client {
            Some(c) if !serial_gt(serial, c) => {
                // Up to date (or ahead): the current SOA alone.
                how = "up to date";
                out.rrset(origin, soa, emit);
            }
            Some(c) => match history.as_ref().and_then(|h| h.changes_since(c)) {
                Some(cs) if cs.to == serial => {
                    how = "ixfr";
                    incremental(&mut out, origin, soa, &cs, emit);
                }
                _ => how = "axfr-style ixfr",
            },
            None => {
                emit(reply_with(&m, 1, None, signed.as_ref(), now));
                return;
            }
        }
    }
    if how.starts_with("axfr") {
        whole(&mut out, zone, emit);
    }
    let (messages, records) = out.finish(emit);
    table.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(
        (q.name.clone(), peer.ip()),
        Seen {
            how,
            had: client,
            sent: serial,
            at: now,
            key: key_name.cloned(),
        },
    );
    log::info(
        "transfer out",
        &[
            ("zone", &q.name),
            ("client", &peer),
            ("type", &kind),
            ("as", &how),
            ("serial", &serial),
            ("messages", &messages),
            ("records", &records),
            (
                "key",
                &key_name.map_or("none".to_string(), |k| k.to_string()),
            ),
        ],
    );
}

/// The whole zone: SOA, every other record (signatures included), SOA.
fn whole(out: &mut Packer, zone: &Zone, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
    let origin = zone.origin();
    let soa = zone.soa().expect("checked by the caller");
    out.rrset(origin, soa, emit);
    for node in zone.nodes().iter() {
        for r in node.rrsets.iter() {
            if r.rtype == Rtype::SOA && node.name == *origin {
                continue;
            }
            if !out.rrset(&node.name, r, emit) {
                return;
            }
        }
    }
    out.rrset(origin, soa, emit);
}

/// One condensed difference sequence: new SOA, old SOA, removed, new SOA, added, new SOA.
fn incremental(
    out: &mut Packer,
    origin: &Name,
    soa: &RRset,
    cs: &Changeset,
    emit: &mut dyn FnMut(Vec<u8>) -> bool,
) {
    let is_soa = |n: &Name, r: &RRset| r.rtype == Rtype::SOA && n == origin;
    let old_soa = cs.removed.iter().find(|(n, r)| is_soa(n, r)).map(|e| &e.1);
    out.rrset(origin, soa, emit);
    out.rrset(origin, old_soa.unwrap_or(soa), emit);
    for (n, r) in cs.removed.iter().filter(|(n, r)| !is_soa(n, r)) {
        out.rrset(n, r, emit);
    }
    out.rrset(origin, soa, emit);
    for (n, r) in cs.added.iter().filter(|(n, r)| !is_soa(n, r)) {
        out.rrset(n, r, emit);
    }
    out.rrset(origin, soa, emit);
}

/// The target size of a transfer message: compression stays effective, and a
/// client's buffer is never pressed.
const MESSAGE: usize = 16 * 1024;

/// Packs records into transfer messages, owner names compressed, each signed when
/// the request was.
struct Packer {
    head: Vec<u8>,
    buf: Vec<u8>,
    count: u16,
    names: HashMap<Vec<u8>, u16>,
    scratch: Vec<u8>,
    first: bool,
    question: Vec<u8>,
    signing: Option<(Key, Vec<u8>)>,
    now: u64,
    messages: usize,
    records: usize,
    stopped: bool,
}

impl Packer {
    fn new(m: &Message, signing: Option<(&Key, Vec<u8>)>, now: u64) -> Packer {
        let mut head = m.id.to_be_bytes().to_vec();
        // QR, opcode QUERY, AA; RD copied.
        head.push(0x84 | ((m.flags >> 8) as u8 & 0x01));
        head.push(0);
        let mut question = Vec::new();
        if let Some(q) = m.questions.first() {
            question.extend_from_slice(q.name.as_wire());
            question.extend_from_slice(&q.qtype.0.to_be_bytes());
            question.extend_from_slice(&q.qclass.to_be_bytes());
        }
        let mut p = Packer {
            head,
            buf: Vec::with_capacity(MESSAGE + 1024),
            count: 0,
            names: HashMap::new(),
            scratch: Vec::with_capacity(256),
            first: true,
            question,
            signing: signing.map(|(k, mac)| (k.clone(), mac)),
            now,
            messages: 0,
            records: 0,
            stopped: false,
        };
        p.start();
        p
    }

    fn start(&mut self) {
        self.buf.clear();
        self.names.clear();
        self.count = 0;
        self.buf.extend_from_slice(&self.head);
        let qd = u16::from(self.first);
        self.buf.extend_from_slice(&qd.to_be_bytes());
        self.buf.extend_from_slice(&[0; 6]);
        if self.first {
            let q = self.question.clone();
            self.buf.extend_from_slice(&q);
            // The question's name may be pointed at.
            let qn = q.len().saturating_sub(4);
            self.scratch.clear();
            self.scratch
                .extend(q[..qn].iter().map(u8::to_ascii_lowercase));
            self.remember(&q[..qn], 12, qn);
        }
    }

    /// Remembers where the suffixes of `wire` that start before `upto` were written
    /// (the name written from `at`); `scratch` holds `wire` lower-cased.
    fn remember(&mut self, wire: &[u8], at: usize, upto: usize) {
        let mut p = 0;
        while p < upto && wire[p] != 0 {
            let off = at + p;
            if off > 0x3FFF {
                break;
            }
            if !self.names.contains_key(&self.scratch[p..]) {
                self.names.insert(self.scratch[p..].to_vec(), off as u16);
            }
            p += 1 + wire[p] as usize;
        }
    }

    /// Writes `name` compressed against what this message already holds.
    fn name(&mut self, wire: &[u8]) {
        let start = self.buf.len();
        // Lower-cased once; the lookups borrow it (no allocation per suffix).
        self.scratch.clear();
        self.scratch.extend(wire.iter().map(u8::to_ascii_lowercase));
        let mut p = 0;
        while p < wire.len() && wire[p] != 0 {
            if let Some(&off) = self.names.get(&self.scratch[p..]) {
                self.buf.extend_from_slice(&wire[..p]);
                self.buf.extend_from_slice(&(0xC000 | off).to_be_bytes());
                self.remember(wire, start, p);
                return;
            }
            p += 1 + wire[p] as usize;
        }
        self.buf.extend_from_slice(wire);
        self.remember(wire, start, wire.len());
    }

    /// Adds every record of `r` at `owner`; false once the client is gone.
    fn rrset(&mut self, owner: &Name, r: &RRset, emit: &mut dyn FnMut(Vec<u8>) -> bool) -> bool {
        for rd in r.rdatas() {
            if self.stopped {
                return false;
            }
            if self.buf.len() + owner.wire_len() + 10 + rd.len() > MESSAGE && self.count > 0 {
                self.flush(emit);
            }
            self.name(owner.as_wire());
            self.buf.extend_from_slice(&r.rtype.0.to_be_bytes());
            self.buf.extend_from_slice(&1u16.to_be_bytes());
            self.buf.extend_from_slice(&r.ttl.to_be_bytes());
            let len_at = self.buf.len();
            self.buf.extend_from_slice(&[0, 0]);
            self.rdata(r.rtype, rd);
            let len = (self.buf.len() - len_at - 2) as u16;
            self.buf[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
            self.count += 1;
            self.records += 1;
        }
        !self.stopped
    }

    /// Writes `rd`, its names compressed for the types whose names may be (RFC 3597
    /// §4: NS, CNAME, PTR, MX, SOA); other rdata as it is.
    fn rdata(&mut self, t: Rtype, rd: &[u8]) {
        let name_end = |at: usize| -> Option<usize> {
            let mut p = at;
            loop {
                let l = *rd.get(p)? as usize;
                if l == 0 {
                    return Some(p + 1);
                }
                p += 1 + l;
            }
        };
        match t {
            Rtype::NS | Rtype::CNAME | Rtype::PTR if name_end(0) == Some(rd.len()) => self.name(rd),
            Rtype::MX if rd.len() > 2 && name_end(2) == Some(rd.len()) => {
                self.buf.extend_from_slice(&rd[..2]);
                self.name(&rd[2..]);
            }
            Rtype::SOA => match name_end(0).and_then(|a| Some((a, name_end(a)?))) {
                Some((a, b)) if b + 20 == rd.len() => {
                    self.name(&rd[..a]);
                    self.name(&rd[a..b]);
                    self.buf.extend_from_slice(&rd[b..]);
                }
                _ => self.buf.extend_from_slice(rd),
            },
            _ => self.buf.extend_from_slice(rd),
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Vec<u8>) -> bool) {
        self.buf[6..8].copy_from_slice(&self.count.to_be_bytes());
        let mut msg = std::mem::take(&mut self.buf);
        if let Some((key, mac)) = &mut self.signing {
            let pos = if self.first {
                Position::Response(mac)
            } else {
                Position::Subsequent(mac)
            };
            *mac = tsig::sign(&mut msg, key, self.now, pos, 0);
        }
        self.messages += 1;
        if !emit(msg) {
            self.stopped = true;
        }
        self.first = false;
        self.start();
    }

    /// Sends what is left; the messages and records sent.
    fn finish(mut self, emit: &mut dyn FnMut(Vec<u8>) -> bool) -> (usize, usize) {
        if self.count > 0 && !self.stopped {
            self.flush(emit);
        }
        (self.messages, self.records)
    }
}

/// A reply with no records: `rcode`, with an Extended DNS Error when the client
/// speaks EDNS, signed when the request was.
fn reply_with(
    m: &Message,
    rcode: u16,
    ede: Option<Ede>,
    signed: Option<&(&Key, Vec<u8>)>,
    now: u64,
) -> Vec<u8> {
    let mut b = blason_proto::MessageBuilder::new(m.id, 0x8000 | (m.flags & 0x0100) | rcode);
    for q in &m.questions {
        b.question(&q.name, q.qtype, q.qclass);
    }
    if let (Some(e), Some(edns)) = (ede, &m.edns) {
        b.edns(&blason_proto::Edns {
            udp_size: edns.udp_size.max(512),
            options: vec![e.option("")],
            ..Default::default()
        });
    }
    let mut out = b.finish();
    if let Some((k, mac)) = signed {
        tsig::sign(&mut out, k, now, Position::Response(mac), 0);
    }
    out
}

/// A reply to a message whose TSIG failed: NOTAUTH with the TSIG error; unsigned
/// for an unknown key or a bad signature, signed for a bad time (RFC 8945 §5.2).
pub(crate) fn tsig_error_reply(query: &[u8], e: &TsigError, table: &XfrTable, now: u64) -> Vec<u8> {
    let code = e.code();
    let Ok(m) = Message::parse(query) else {
        return error_reply(query, 1, None);
    };
    if code == 0 {
        return error_reply(query, 1, None);
    }
    let mut b = blason_proto::MessageBuilder::new(m.id, 0x8000 | tsig::NOTAUTH);
    for q in &m.questions {
        b.question(&q.name, q.qtype, q.qclass);
    }
    let mut out = b.finish();
    let split = tsig::split(query).ok().flatten();
    let (Some((t, _)), true) = (split, code == tsig::BADTIME) else {
        // An unsigned TSIG naming the key, with the error and no MAC.
        if let Ok(Some((t, _))) = tsig::split(query) {
            let k = Key::new(
                t.key.clone(),
                tsig::Algorithm::parse(&t.algorithm.to_string())
                    .unwrap_or(tsig::Algorithm::HmacSha256),
                b"",
            );
            tsig::append_unsigned(&mut out, &k, now, code);
        }
        return out;
    };
    match table.key(&t.key) {
        Some(k) => {
            tsig::sign(&mut out, k, now, Position::Response(&t.mac), code);
        }
        None => tsig::append_unsigned(
            &mut out,
            &Key::new(t.key.clone(), tsig::Algorithm::HmacSha256, b""),
            now,
            code,
        ),
    }
    out
}

/// FORMERR (or another RCODE) for a request that could not be read.
pub(crate) fn error_reply(query: &[u8], rcode: u16, _ede: Option<Ede>) -> Vec<u8> {
    let id = query
        .get(..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    blason_proto::MessageBuilder::new(id, 0x8000 | rcode).finish()
}

/// True when `query` is a NOTIFY (opcode 4, not a response): the query path hands
/// it here (one look at the header).
pub fn is_notify(query: &[u8]) -> bool {
    query.len() >= 12 && query[2] & 0x80 == 0 && (query[2] >> 3) & 0xF == 4
}

/// Takes a NOTIFY (RFC 1996) for a secondary zone: accepted only from one of its
/// primaries' addresses, with that primary's key when it has one; the zone's worker
/// then asks its primaries. The answer echoes the question (NOERROR), or is REFUSED
/// (NOTAUTH for a bad TSIG), logged. None: nothing to send.
pub(crate) fn notify_in(
    query: &[u8],
    peer: SocketAddr,
    table: &XfrTable,
    now: u64,
) -> Option<Vec<u8>> {
    let m = Message::parse(query).ok()?;
    let q = m.questions.first()?;
    let Some((primaries, waker)) = table.secondaries.get(&q.name) else {
        log::warn(
            "notify refused: not a secondary zone here",
            &[("zone", &q.name), ("from", &peer)],
        );
        return Some(notify_reply(&m, 5, None, now));
    };
    let from = primaries.iter().find(|(a, _)| a.ip() == peer.ip());
    let Some((_, key)) = from else {
        log::warn(
            "notify refused: not from a primary",
            &[("zone", &q.name), ("from", &peer)],
        );
        return Some(notify_reply(&m, 5, None, now));
    };
    let signed = match key {
        Some(k) => {
            let find = |n: &Name| (*n == k.name).then_some(k);
            match tsig::verify(query, &find, now, Position::Request) {
                Ok((k, mac)) => Some((k, mac)),
                Err(TsigError::Missing) => {
                    log::warn(
                        "notify refused: not signed with the primary's key",
                        &[("zone", &q.name), ("from", &peer)],
                    );
                    return Some(notify_reply(&m, 5, None, now));
                }
                Err(e) => {
                    log::warn(
                        "notify refused: bad TSIG",
                        &[("zone", &q.name), ("from", &peer), ("reason", &e)],
                    );
                    return Some(tsig_error_reply(query, &e, table, now));
                }
            }
        }
        None => None,
    };
    log::info("notify in", &[("zone", &q.name), ("from", &peer)]);
    waker.wake();
    Some(notify_reply(&m, 0, signed.as_ref(), now))
}

fn notify_reply(m: &Message, rcode: u16, signed: Option<&(&Key, Vec<u8>)>, now: u64) -> Vec<u8> {
    let mut b = blason_proto::MessageBuilder::new(m.id, 0x8000 | 0x2000 | 0x0400 | rcode);
    for q in &m.questions {
        b.question(&q.name, q.qtype, q.qclass);
    }
    let mut out = b.finish();
    if let Some((k, mac)) = signed {
        tsig::sign(&mut out, k, now, Position::Response(mac), 0);
    }
    out
}

/// Answers a query signed with TSIG (which the hot path leaves alone): the
/// signature checked, the query answered without it, the answer signed with the
/// same key; a bad signature gets NOTAUTH with the TSIG error. False: nothing to send.
pub(crate) fn respond_signed(
    cat: &blason_answer::Catalog,
    table: Option<&XfrTable>,
    query: &[u8],
    transport: blason_answer::Transport,
    now: u64,
    out: &mut Vec<u8>,
) -> bool {
    let Some(table) = table else { return false };
    match tsig::verify(query, &|n| table.key(n), now, Position::Request) {
        Err(e) => {
            *out = tsig_error_reply(query, &e, table, now);
            true
        }
        Ok((key, mac)) => {
            let Ok(Some((_, body))) = tsig::split(query) else {
                return false;
            };
            if !blason_answer::respond(cat, &body, transport, out) {
                return false;
            }
            tsig::sign(out, key, now, Position::Response(&mac), 0);
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acls_match_address_key_or_both() {
        let k = Name::parse("sec.", None).unwrap();
        let a = Acl::parse("127.0.0.0/8").unwrap();
        assert!(a.allows("127.1.2.3".parse().unwrap(), None));
        assert!(!a.allows("10.0.0.1".parse().unwrap(), None));
        assert!(a.allows("::ffff:127.0.0.1".parse().unwrap(), None));
        let b = Acl::parse("key sec").unwrap();
        assert!(b.allows("10.0.0.1".parse().unwrap(), Some(&k)));
        assert!(!b.allows("10.0.0.1".parse().unwrap(), None));
        let c = Acl::parse("192.0.2.0/24 key sec").unwrap();
        assert!(c.allows("192.0.2.9".parse().unwrap(), Some(&k)));
        assert!(!c.allows("192.0.2.9".parse().unwrap(), None));
        assert!(!c.allows("192.0.3.9".parse().unwrap(), Some(&k)));
        let d = Acl::parse("2001:db8::/32").unwrap();
        assert!(d.allows("2001:db8::1".parse().unwrap(), None));
        assert!(!d.allows("2001:db9::1".parse().unwrap(), None));
        assert!(Acl::parse("10.0.0.0/33").is_err());
        assert!(Acl::parse("sec").is_err());
        let n = NotifyTarget::parse("127.0.0.1:5301 key sec").unwrap();
        assert_eq!(n.addr, "127.0.0.1:5301".parse().unwrap());
        assert_eq!(NotifyTarget::parse("::1").unwrap().addr.port(), 53);
    }

    fn zone(text: &str) -> Arc<Zone> {
        let origin = Name::parse("x.test.", None).unwrap();
        let l = blason_zone::load::load_bytes(&origin, text.as_bytes(), "t");
        Arc::new(l.zone)
    }

    const TEXT: &str = "$TTL 300\n@ SOA ns1 h 5 3600 600 86400 300\n@ NS ns1\nns1 A 127.0.0.77\n\
        @ MX 10 ns1\nalias CNAME ns1\n";

    /// A record as a transfer carries it: owner, type, rdata.
    type Rec = (Name, Rtype, Vec<u8>);

    /// Every message of a transfer, parsed, and the records in order.
    fn run(q: &[u8], table: &XfrTable, z: &Arc<Zone>) -> (Vec<Message>, Vec<Rec>) {
        let mut msgs = Vec::new();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        serve(
            q,
            peer,
            table,
            std::slice::from_ref(z),
            1_800_000_000,
            Via::Tcp,
            &mut |m| {
                msgs.push(Message::parse(&m).expect("a transfer message parses"));
                true
            },
        );
        let recs = msgs
            .iter()
            .flat_map(|m| {
                m.answer
                    .iter()
                    .map(|r| (r.owner.clone(), r.rtype, r.rdata.clone()))
            })
            .collect();
        (msgs, recs)
    }

    #[test]
    fn axfr_carries_the_whole_zone_between_two_soas_in_many_messages() {
        let mut text = TEXT.to_string();
        for i in 0..3000 {
            text.push_str(&format!("host{i}.sub{} A 192.0.2.{}\n", i % 7, i % 250));
        }
        let z = zone(&text);
        let origin = z.origin().clone();
        let mut table = XfrTable::default();
        let spec = XfrSpec {
            allow: vec![Acl::parse("127.0.0.1").unwrap()],
            ..XfrSpec::default()
        };
        table.zones.insert(origin.clone(), (spec, None));
        let q = blason_proto::MessageBuilder::query(9, &origin, AXFR, false, None);
        let (msgs, recs) = run(&q, &table, &z);
        assert!(msgs.len() > 1, "split into messages");
        assert!(msgs
            .iter()
            .all(|m| m.id == 9 && m.rcode() == 0 && m.is_authoritative()));
        assert_eq!(recs.first().unwrap().1, Rtype::SOA);
        assert_eq!(recs.last().unwrap().1, Rtype::SOA);
        let in_zone: usize = z
            .nodes()
            .iter()
            .map(|n| n.rrsets.iter().map(|r| r.len()).sum::<usize>())
            .sum();
        assert_eq!(recs.len(), in_zone + 1, "every record once, the SOA twice");
        // The same records, names in rdata read back through their compression.
        let mut want: Vec<Rec> = z
            .nodes()
            .iter()
            .flat_map(|n| {
                n.rrsets.iter().flat_map(move |r| {
                    r.rdatas()
                        .map(move |d| (n.name.clone(), r.rtype, d.to_vec()))
                })
            })
            .collect();
        let mut got = recs[1..].to_vec();
        let key = |r: &Rec| (r.0.to_lowercase().to_string(), r.1 .0, r.2.clone());
        want.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, want);
        // Too many transfers at once: SERVFAIL, nothing else.
        let mut busy = Vec::new();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        serve(
            &q,
            peer,
            &table,
            std::slice::from_ref(&z),
            1_800_000_000,
            Via::TcpBusy,
            &mut |m| {
                busy.push(Message::parse(&m).unwrap());
                true
            },
        );
        assert_eq!(
            (busy.len(), busy[0].rcode(), busy[0].answer.len()),
            (1, 2, 0)
        );
        // Another client, not allowed: REFUSED, nothing else.
        let mut other = XfrTable::default();
        other
            .zones
            .insert(origin.clone(), (XfrSpec::default(), None));
        let (msgs, recs) = run(&q, &other, &z);
        assert_eq!((msgs.len(), recs.len(), msgs[0].rcode()), (1, 0, 5));
    }

    #[test]
    fn ixfr_condenses_the_history_or_falls_back_to_the_whole_zone() {
        use blason_zone::update::{self, Edit};
        let z1 = zone(TEXT);
        let origin = z1.origin().clone();
        let add = |z: &Zone, i: u8, serial: u32| {
            let cs = update::resolve(
                z,
                &[Edit::AddRr {
                    name: Name::parse(&format!("h{i}.x.test."), None).unwrap(),
                    rtype: Rtype::A,
                    ttl: 60,
                    rdata: vec![192, 0, 2, i].into(),
                }],
            )
            .unwrap();
            let cs = update::with_soa_change(z, cs, serial).unwrap();
            (update::apply(z, &cs).unwrap(), cs)
        };
        let (z2, c1) = add(&z1, 1, 6);
        let (z3, c2) = add(&z2, 2, 7);
        let history = History::default();
        for c in [&c1, &c2] {
            let mut b = Vec::new();
            update::codec::encode_changeset(c, &mut b);
            history.push(b);
        }
        let mut table = XfrTable::default();
        let spec = XfrSpec {
            allow: vec![Acl::parse("127.0.0.0/8").unwrap()],
            ..XfrSpec::default()
        };
        table.zones.insert(origin.clone(), (spec, Some(history)));
        let z3 = Arc::new(z3);
        let ixfr = |serial: u32| {
            let mut b = blason_proto::MessageBuilder::new(3, 0);
            b.question(&origin, IXFR, 1);
            let soa = z1.soa().unwrap();
            let mut rd = soa.first().unwrap().to_vec();
            let n = rd.len();
            rd[n - 20..n - 16].copy_from_slice(&serial.to_be_bytes());
            b.record(
                blason_proto::Section::Authority,
                &blason_proto::Record {
                    owner: origin.clone(),
                    rtype: Rtype::SOA,
                    class: 1,
                    ttl: 0,
                    rdata: rd,
                },
            );
            b.finish()
        };
        // From 5: the two changes condensed: new SOA, old SOA, new SOA, two adds, new SOA.
        let (_, recs) = run(&ixfr(5), &table, &z3);
        let types: Vec<Rtype> = recs.iter().map(|r| r.1).collect();
        assert_eq!(
            types,
            [
                Rtype::SOA,
                Rtype::SOA,
                Rtype::SOA,
                Rtype::A,
                Rtype::A,
                Rtype::SOA
            ]
        );
        // Up to date: the SOA alone. Unknown serial: the whole zone, IXFR form.
        assert_eq!(run(&ixfr(7), &table, &z3).1.len(), 1);
        let (_, whole) = run(&ixfr(3), &table, &z3);
        assert_eq!(whole.len(), 5 + 2 + 1);
    }
}
