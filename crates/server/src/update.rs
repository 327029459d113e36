//! Dynamic update (RFC 2136) over UDP and TCP: TSIG required, each key's grants
//! checked RR by RR (like BIND's `update-policy`), then prerequisites and the update
//! section handed to the zone's worker, which checks them on the zone as it is at
//! commit time and answers once the change is durable. NOERROR goes out only then.
//!
//! Design note. Reading the message and the policy happen here, on the thread that
//! took the request; the RFC's rules on the zone's data run on the zone's worker
//! (`zone::update::dynamic`), inside the group commit, so updates that arrive
//! together share one journal write and each still sees the others' effects in
//! order, all or nothing. UDP requests are handed to a small pool of threads so the
//! query workers never wait for a commit.
#![forbid(unsafe_code)]

use crate::log;
use crate::xfr::XfrTable;
use crate::zones::ZoneSet;
use blason_proto::tsig::{self, Position, TsigError};
use blason_proto::{Message, MessageBuilder, Record};
use blason_zone::update::dynamic::{self, Prereq, Update};
use blason_zone::{Name, Rtype};
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

pub const NOERROR: u16 = 0;
pub const SERVFAIL: u16 = 2;
pub const NOTIMP: u16 = 4;
pub const REFUSED: u16 = 5;
pub const NOTAUTH: u16 = 9;
pub const NOTZONE: u16 = 10;

const UPDATE: u8 = 5;
const ANY: u16 = 255;
const NONE: u16 = 254;
const IN: u16 = 1;

/// True for an UPDATE request (opcode 5, not a response).
pub fn is_update(msg: &[u8]) -> bool {
    msg.len() >= 12 && msg[2] & 0x80 == 0 && (msg[2] >> 3) & 0x0f == UPDATE
}

/// What a key may change, as BIND's `update-policy` grants say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub key: Name,
    pub rule: Rule,
    /// The types granted (ANY: every type); empty: every type but SOA, NS and
    /// those DNSSEC signs with (as BIND's default).
    pub types: Vec<Rtype>,
}

/// Which names a grant covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// This name only.
    Name(Name),
    /// This name and every name below it.
    Subdomain(Name),
    /// Names strictly below this one (`*.name`).
    Wildcard(Name),
    /// The name of the key itself.
    OwnName,
    /// Every name of the zone.
    Zone,
    /// ACME DNS-01 challenges: TXT records at `_acme-challenge.` names only.
    Acme,
}

impl Grant {
    /// `rule` as written in the config: name, subdomain, wildcard, self, zone, acme.
    pub fn parse(
        key: Name,
        rule: &str,
        name: Option<Name>,
        types: Vec<Rtype>,
    ) -> Result<Grant, String> {
        let need = |n: Option<Name>| n.ok_or_else(|| format!("grant {rule:?} needs a name"));
        let rule = match rule {
            "name" => Rule::Name(need(name)?),
            "subdomain" => Rule::Subdomain(need(name)?),
            "wildcard" => Rule::Wildcard(need(name)?),
            "self" => Rule::OwnName,
            "zone" => Rule::Zone,
            "acme" => Rule::Acme,
            o => {
                return Err(format!(
                    "grant {o:?}: use name, subdomain, wildcard, self, zone or acme"
                ))
            }
        };
        if rule == Rule::Acme && !types.is_empty() && types != [Rtype::TXT] {
            return Err("grant \"acme\" covers TXT records only".into());
        }
        Ok(Grant { key, rule, types })
    }

    /// Whether the grant lets `key` make the change `u`.
    pub fn allows(&self, key: &Name, u: &Update) -> bool {
        if *key != self.key {
            return false;
        }
        let name = u.name();
        let covered = match &self.rule {
            Rule::Name(n) => name == n,
            Rule::Subdomain(n) => name.is_subdomain_of(n),
            Rule::Wildcard(n) => name.is_subdomain_of(n) && name != n,
            Rule::OwnName => name == key,
            Rule::Zone => true,
            Rule::Acme => name
                .as_wire()
                .get(1..1 + usize::from(name.as_wire()[0]))
                .is_some_and(|l| l.eq_ignore_ascii_case(b"_acme-challenge")),
        };
        if !covered {
            return false;
        }
        let t = u.rtype();
        match (&self.rule, self.types.is_empty()) {
            (Rule::Acme, _) => t == Rtype::TXT || t == Rtype(ANY),
            // Deleting a whole name needs every type.
            (_, true) => {
                t == Rtype(ANY) || !(t == Rtype::SOA || t == Rtype::NS || dynamic::is_dnssec(t))
            }
            (_, false) => self.types.contains(&t) || self.types.contains(&Rtype(ANY)),
        }
    }
}

/// Answers an UPDATE request: the reply to send (signed with the request's key).
pub(crate) fn handle(query: &[u8], peer: SocketAddr, table: &XfrTable, zones: &ZoneSet) -> Vec<u8> {
    let now = crate::zones::now_unix();
    let Ok(m) = Message::parse(query) else {
        return crate::xfr::error_reply(query, dynamic::FORMERR, None);
    };
    let zone = m.questions.first();
    let say = |msg: &str, rcode: u16, key: Option<&Name>, what: &str| {
        let z = zone.map(|q| q.name.to_string()).unwrap_or_default();
        let k = key.map(|k| k.to_string()).unwrap_or_else(|| "none".into());
        let fields: [(&str, &dyn std::fmt::Display); 5] = [
            ("zone", &z),
            ("client", &peer),
            ("key", &k),
            ("rcode", &blason_proto::rcode_name(rcode)),
            ("changes", &what),
        ];
        if rcode == NOERROR {
            log::info(msg, &fields);
        } else {
            log::warn(msg, &fields);
        }
    };
    // The signature first: a bad one is answered before anything else.
    let signed = match tsig::verify(query, &|n| table.key(n), now, Position::Request) {
        Ok((k, mac)) => Some((k, mac)),
        Err(TsigError::Missing) => None,
        Err(e) => {
            say("update refused: bad TSIG", NOTAUTH, None, &e.to_string());
            return crate::xfr::tsig_error_reply(query, &e, table, now);
        }
    };
    let reply = |rcode: u16| {
        let mut b = MessageBuilder::new(m.id, 0x8000 | (u16::from(UPDATE) << 11) | rcode);
        if let Some(q) = zone {
            b.question(&q.name, q.qtype, q.qclass);
        }
        let mut out = b.finish();
        if let Some((k, mac)) = &signed {
            tsig::sign(&mut out, k, now, Position::Response(mac), 0);
        }
        out
    };
    let key = signed.as_ref().map(|(k, _)| &k.name);
    // §3.1.1: one zone, named by an SOA question.
    let Some(q) = zone.filter(|q| m.questions.len() == 1 && q.qtype == Rtype::SOA) else {
        say("update refused: no zone section", dynamic::FORMERR, key, "");
        return reply(dynamic::FORMERR);
    };
    let Some((spec, _)) = table.zones.get(&q.name).filter(|_| q.qclass == IN) else {
        say(
            "update refused: not a zone of this server",
            NOTAUTH,
            key,
            "",
        );
        return reply(NOTAUTH);
    };
    let Some(key) = key else {
        say(
            "update refused: not signed (TSIG is required)",
            REFUSED,
            None,
            "",
        );
        return reply(REFUSED);
    };
    if spec.update.is_empty() {
        say(
            "update refused: no key may update this zone",
            REFUSED,
            Some(key),
            "",
        );
        return reply(REFUSED);
    }
    let origin = &q.name;
    let (prereqs, updates) = match sections(origin, &m) {
        Ok(s) => s,
        Err(rcode) => {
            say("update refused: malformed sections", rcode, Some(key), "");
            return reply(rcode);
        }
    };
    let what = describe(&updates);
    if let Some(u) = updates
        .iter()
        .find(|u| !spec.update.iter().any(|g| g.allows(key, u)))
    {
        let why = format!("{} {} not granted; asked: {what}", u.name(), u.rtype());
        say("update refused by policy", REFUSED, Some(key), &why);
        return reply(REFUSED);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    zones.submit_change(
        origin,
        crate::zones::Change::Update { prereqs, updates },
        tx,
    );
    let rcode = match rx.recv() {
        Ok(Ok(_)) => NOERROR,
        Ok(Err(r)) => r.rcode.unwrap_or(SERVFAIL),
        Err(_) => SERVFAIL,
    };
    say(
        if rcode == NOERROR {
            "update committed"
        } else {
            "update not applied"
        },
        rcode,
        Some(key),
        &what,
    );
    reply(rcode)
}

/// An update's prerequisite and update sections, read for the zone `origin` (the
/// RCODE of what is wrong with them otherwise).
pub fn sections(origin: &Name, m: &Message) -> Result<(Vec<Prereq>, Vec<Update>), u16> {
    Ok((
        prerequisites(origin, &m.answer)?,
        prescan(origin, &m.authority)?,
    ))
}

/// `name TYPE, name TYPE, ...` (the first 20) for the log.
fn describe(updates: &[Update]) -> String {
    let mut parts: Vec<String> = updates
        .iter()
        .take(20)
        .map(|u| {
            let op = match u {
                Update::Add { .. } => "add",
                Update::DeleteRr { .. } => "delete",
                Update::DeleteRrset { .. } | Update::DeleteName { .. } => "delete-all",
            };
            format!("{op} {} {}", u.name(), u.rtype())
        })
        .collect();
    if updates.len() > 20 {
        parts.push(format!("and {} more", updates.len() - 20));
    }
    parts.join(", ")
}

type Rdatas = Vec<Box<[u8]>>;

/// Reads the prerequisite section (§2.4, §3.2.1–§3.2.3).
fn prerequisites(origin: &Name, rrs: &[Record]) -> Result<Vec<Prereq>, u16> {
    let mut out = Vec::new();
    // Value-dependent RRsets gather their records (§3.2.3).
    let mut sets: Vec<(Name, Rtype, Rdatas)> = Vec::new();
    for r in rrs {
        if r.ttl != 0 {
            return Err(dynamic::FORMERR);
        }
        if !r.owner.is_subdomain_of(origin) {
            return Err(NOTZONE);
        }
        let any = r.rtype.0 == ANY;
        match r.class {
            ANY | NONE if !r.rdata.is_empty() => return Err(dynamic::FORMERR),
            ANY if any => out.push(Prereq::NameInUse(r.owner.clone())),
            ANY => out.push(Prereq::RrsetExists(r.owner.clone(), r.rtype)),
            NONE if any => out.push(Prereq::NameNotInUse(r.owner.clone())),
            NONE => out.push(Prereq::RrsetAbsent(r.owner.clone(), r.rtype)),
            IN if !any && !is_meta(r.rtype) => {
                match sets.iter_mut().find(|s| s.0 == r.owner && s.1 == r.rtype) {
                    Some(s) => s.2.push(r.rdata.clone().into()),
                    None => sets.push((r.owner.clone(), r.rtype, vec![r.rdata.clone().into()])),
                }
            }
            _ => return Err(dynamic::FORMERR),
        }
    }
    out.extend(sets.into_iter().map(|(n, t, rd)| Prereq::RrsetIs(n, t, rd)));
    Ok(out)
}

/// Reads the update section (the prescan of §3.4.1).
fn prescan(origin: &Name, rrs: &[Record]) -> Result<Vec<Update>, u16> {
    let mut out = Vec::with_capacity(rrs.len());
    for r in rrs {
        if !r.owner.is_subdomain_of(origin) {
            return Err(NOTZONE);
        }
        let t = r.rtype;
        // The signer's records are its own (REFUSED, as BIND answers for them).
        if dynamic::is_dnssec(t) {
            return Err(REFUSED);
        }
        let u = match r.class {
            IN if !is_meta(t) && t.0 != ANY => Update::Add {
                name: r.owner.clone(),
                rtype: t,
                ttl: r.ttl,
                rdata: r.rdata.clone().into(),
            },
            ANY if r.ttl == 0 && r.rdata.is_empty() && t.0 == ANY => Update::DeleteName {
                name: r.owner.clone(),
            },
            ANY if r.ttl == 0 && r.rdata.is_empty() && !is_meta(t) => Update::DeleteRrset {
                name: r.owner.clone(),
                rtype: t,
            },
            NONE if r.ttl == 0 && !is_meta(t) && t.0 != ANY => Update::DeleteRr {
                name: r.owner.clone(),
                rtype: t,
                rdata: r.rdata.clone().into(),
            },
            _ => return Err(dynamic::FORMERR),
        };
        out.push(u);
    }
    Ok(out)
}

/// Query-only and transport types, never records of a zone.
fn is_meta(t: Rtype) -> bool {
    matches!(t.0, 41 | 249 | 250 | 251 | 252 | 253 | 254)
}

/// A UDP request and how to answer it.
type UdpJob = (Vec<u8>, SocketAddr, Arc<UdpSocket>);

/// Threads that take UDP updates off the query workers: each waits for its commit,
/// so updates that arrive together ride one commit.
#[derive(Clone)]
pub(crate) struct Pool(SyncSender<UdpJob>);

/// Updates waiting for a thread; past this, a request is dropped (the client
/// retries, as after a lost datagram).
const QUEUE: usize = 1024;
/// Threads in the pool: the most UDP updates that share one commit. Each mostly
/// waits for its commit, so many cost little; fewer would cap the group commit.
const THREADS: usize = 64;

impl Pool {
    pub fn start(shared: Weak<crate::Shared>) -> Option<Pool> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<UdpJob>(QUEUE);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..THREADS {
            let (rx, shared) = (rx.clone(), shared.clone());
            std::thread::Builder::new()
                .name(format!("update-{i}"))
                .spawn(move || serve_pool(&rx, &shared))
                .map_err(|e| log::warn("cannot start an update thread", &[("reason", &e)]))
                .ok()?;
        }
        Some(Pool(tx))
    }

    /// Queues a UDP request; false when the queue is full (dropped).
    pub fn take(&self, query: &[u8], peer: SocketAddr, sock: &Arc<UdpSocket>) -> bool {
        match self.0.try_send((query.to_vec(), peer, sock.clone())) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

fn serve_pool(rx: &Mutex<Receiver<UdpJob>>, shared: &Weak<crate::Shared>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv_timeout(Duration::from_millis(200))
        };
        let Some(sh) = shared.upgrade() else { return };
        if sh.stop.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let Ok((query, peer, sock)) = job else {
            continue;
        };
        let Some(zones) = sh.zones.get().and_then(Weak::upgrade) else {
            continue;
        };
        let out = handle(&query, peer, &sh.xfr.load(), &zones);
        sh.stats.updated(&out);
        let _ = sock.send_to(&out, peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }
    fn add(name: &str, t: Rtype) -> Update {
        Update::Add {
            name: n(name),
            rtype: t,
            ttl: 60,
            rdata: Box::new([]),
        }
    }

    #[test]
    fn grants_cover_the_names_and_types_they_say() {
        let k = n("k.");
        let sub = Grant::parse(k.clone(), "subdomain", Some(n("home.x.test.")), vec![]).unwrap();
        assert!(sub.allows(&k, &add("home.x.test.", Rtype::A)));
        assert!(sub.allows(&k, &add("a.home.x.test.", Rtype::TXT)));
        assert!(!sub.allows(&k, &add("www.x.test.", Rtype::A)));
        assert!(!sub.allows(&n("other."), &add("home.x.test.", Rtype::A)));
        // By default not SOA, NS or the signer's types.
        assert!(!sub.allows(&k, &add("home.x.test.", Rtype::NS)));
        let wild = Grant::parse(k.clone(), "wildcard", Some(n("home.x.test.")), vec![]).unwrap();
        assert!(!wild.allows(&k, &add("home.x.test.", Rtype::A)));
        assert!(wild.allows(&k, &add("a.home.x.test.", Rtype::A)));
        let only_a = Grant::parse(k.clone(), "name", Some(n("h.x.test.")), vec![Rtype::A]).unwrap();
        assert!(only_a.allows(&k, &add("h.x.test.", Rtype::A)));
        assert!(!only_a.allows(&k, &add("h.x.test.", Rtype::AAAA)));
        let acme = Grant::parse(k.clone(), "acme", None, vec![]).unwrap();
        assert!(acme.allows(&k, &add("_acme-challenge.www.x.test.", Rtype::TXT)));
        assert!(!acme.allows(&k, &add("_acme-challenge.www.x.test.", Rtype::A)));
        assert!(!acme.allows(&k, &add("www.x.test.", Rtype::TXT)));
        let own = Grant::parse(n("host.x.test."), "self", None, vec![]).unwrap();
        assert!(own.allows(&n("host.x.test."), &add("host.x.test.", Rtype::A)));
        assert!(!own.allows(&n("host.x.test."), &add("other.x.test.", Rtype::A)));
        assert!(Grant::parse(k.clone(), "subdomain", None, vec![]).is_err());
        assert!(Grant::parse(k, "everything", None, vec![]).is_err());
    }

    #[test]
    fn the_sections_are_read_as_the_rfc_says_or_refused() {
        let o = n("x.test.");
        let rr = |owner: &str, t: u16, class: u16, ttl: u32, rdata: &[u8]| Record {
            owner: n(owner),
            rtype: Rtype(t),
            class,
            ttl,
            rdata: rdata.to_vec(),
        };
        let p = prerequisites(
            &o,
            &[
                rr("a.x.test.", 255, ANY, 0, &[]),
                rr("b.x.test.", 1, NONE, 0, &[]),
                rr("c.x.test.", 1, IN, 0, &[1, 2, 3, 4]),
                rr("c.x.test.", 1, IN, 0, &[1, 2, 3, 5]),
            ],
        )
        .unwrap();
        assert_eq!(p.len(), 3);
        assert!(matches!(&p[2], Prereq::RrsetIs(_, _, v) if v.len() == 2));
        assert_eq!(
            prerequisites(&o, &[rr("a.x.test.", 1, ANY, 5, &[])]),
            Err(dynamic::FORMERR)
        );
        assert_eq!(
            prerequisites(&o, &[rr("a.other.", 1, ANY, 0, &[])]),
            Err(NOTZONE)
        );
        assert_eq!(
            prescan(&o, &[rr("a.x.test.", 1, IN, 60, &[1, 2, 3, 4])]).map(|u| u.len()),
            Ok(1)
        );
        assert_eq!(prescan(&o, &[rr("a.other.", 1, IN, 60, &[])]), Err(NOTZONE));
        assert_eq!(
            prescan(&o, &[rr("a.x.test.", 252, IN, 60, &[])]),
            Err(dynamic::FORMERR)
        );
        assert_eq!(
            prescan(&o, &[rr("a.x.test.", 1, ANY, 0, &[1])]),
            Err(dynamic::FORMERR)
        );
        assert_eq!(
            prescan(&o, &[rr("a.x.test.", 46, IN, 60, &[])]),
            Err(REFUSED)
        );
        assert_eq!(
            prescan(&o, &[rr("a.x.test.", 1, 3, 60, &[])]),
            Err(dynamic::FORMERR)
        );
    }
}
