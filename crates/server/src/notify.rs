//! NOTIFY out (RFC 1996): after each commit, every secondary of the zone is told
//! the new serial, signed with TSIG where configured, and asked again with backoff
//! until it answers.
//!
//! Design note. One thread and one UDP socket per address family serve every zone. Each (zone,
//! secondary) pair holds only the newest serial to announce, so a burst of commits
//! costs one NOTIFY per secondary, not one per commit. A pure schedule (when each
//! pair is next due) drives a loop that sleeps until the earliest one; answers are
//! matched by message id and source address.
#![forbid(unsafe_code)]

use crate::log;
use blason_proto::tsig::{self, Key, Position};
use blason_proto::{Message, MessageBuilder, Record, Section};
use blason_zone::{Name, Rtype, Zone};
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// Tries before a secondary is given up on for this serial (1, 2, 4, 8, 16 s apart).
const TRIES: u32 = 5;

/// A new serial to announce.
pub(crate) struct Announce {
    pub zone: Name,
    pub serial: u32,
    /// The SOA record's rdata, sent in the answer section as a hint.
    pub soa: Option<(u32, Vec<u8>)>,
    pub targets: Vec<(SocketAddr, Option<Key>)>,
}

/// Where announcements go, and what each secondary answered; cheap to clone.
#[derive(Clone)]
pub(crate) struct Notifier(Sender<Announce>, Acks);

/// A secondary's NOTIFY state: the serial last announced and when, and the serial
/// last acknowledged and when (unix seconds).
pub(crate) type Told = (u32, u64, Option<(u32, u64)>);

/// Per (zone, secondary).
pub(crate) type Acks = std::sync::Arc<std::sync::Mutex<HashMap<(Name, SocketAddr), Told>>>;

impl Notifier {
    /// Starts the notifier thread; None (logged) when it cannot.
    pub fn start() -> Option<Notifier> {
        // IPv4 and, where the host has it, IPv6.
        let v4 = UdpSocket::bind("0.0.0.0:0")
            .map_err(|e| log::warn("cannot open the NOTIFY socket", &[("reason", &e)]))
            .ok();
        let v6 = UdpSocket::bind("[::]:0").ok();
        if v4.is_none() && v6.is_none() {
            return None;
        }
        let sock = Socks { v4, v6 };
        let (tx, rx) = mpsc::channel();
        let acks = Acks::default();
        let a = acks.clone();
        std::thread::Builder::new()
            .name("notify".into())
            .spawn(move || run(sock, rx, a))
            .map_err(|e| log::warn("cannot start the NOTIFY thread", &[("reason", &e)]))
            .ok()?;
        Some(Notifier(tx, acks))
    }

    pub fn announce(&self, a: Announce) {
        let _ = self.0.send(a);
    }

    /// What each secondary of `zone` was told and answered: (address, serial
    /// announced, when, acknowledged serial and when).
    pub fn state(&self, zone: &Name) -> Vec<(SocketAddr, Told)> {
        let m = self.1.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = m
            .iter()
            .filter(|((z, _), _)| z == zone)
            .map(|((_, a), t)| (*a, *t))
            .collect();
        v.sort_by_key(|x| x.0);
        v
    }
}

/// The secondaries of `zone`: the configured ones, and the addresses the zone gives
/// its NS targets (port 53), but not `own` (this server's addresses).
pub(crate) fn targets(
    zone: &Zone,
    configured: &[(SocketAddr, Option<Key>)],
    own: &[SocketAddr],
) -> Vec<(SocketAddr, Option<Key>)> {
    let mut out: Vec<(SocketAddr, Option<Key>)> = configured.to_vec();
    let Some(ns) = zone.apex().rrset(Rtype::NS) else {
        return out;
    };
    for rd in ns.rdatas() {
        let Ok(target) = Name::from_wire(rd) else {
            continue;
        };
        let Some(i) = zone.find(target.as_wire()) else {
            continue;
        };
        let node = zone.node(i);
        let a = node
            .rrset(Rtype::A)
            .into_iter()
            .flat_map(|r| r.rdatas())
            .filter_map(|d| <[u8; 4]>::try_from(d).ok().map(std::net::IpAddr::from));
        let aaaa = node
            .rrset(Rtype::AAAA)
            .into_iter()
            .flat_map(|r| r.rdatas())
            .filter_map(|d| <[u8; 16]>::try_from(d).ok().map(std::net::IpAddr::from));
        for ip in a.chain(aaaa) {
            let addr = SocketAddr::new(ip, 53);
            // Only exact addresses count as ours: behind a wildcard listen address
            // they are not known, and a NOTIFY to ourselves is merely refused.
            let ours = own.iter().any(|o| o.ip() == ip);
            if !ours && !out.iter().any(|(t, _)| t.ip() == ip) {
                out.push((addr, None));
            }
        }
    }
    out
}

/// One (zone, secondary) pair's state.
struct Pending {
    serial: u32,
    soa: Option<(u32, Vec<u8>)>,
    key: Option<Key>,
    tries: u32,
    due: Instant,
    /// The id of the last NOTIFY sent.
    id: u16,
}

/// The notifier's sockets, one per address family.
struct Socks {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

impl Socks {
    fn send_to(&self, msg: &[u8], to: SocketAddr) {
        let s = if to.is_ipv4() { &self.v4 } else { &self.v6 };
        if let Some(s) = s {
            let _ = s.send_to(msg, to);
        }
    }

    fn all(&self) -> impl Iterator<Item = &UdpSocket> {
        self.v4.iter().chain(self.v6.iter())
    }
}

fn run(sock: Socks, rx: Receiver<Announce>, acks: Acks) {
    let mut pending: HashMap<(Name, SocketAddr), Pending> = HashMap::new();
    let mut buf = vec![0u8; 4096];
    for s in sock.all() {
        let _ = s.set_nonblocking(true);
    }
    loop {
        // Answers first, then what falls due, then wait for the next event.
        for s in sock.all() {
            while let Ok((n, from)) = s.recv_from(&mut buf) {
                if let Some((zone, serial)) = answered(&buf[..n], from, &mut pending) {
                    let mut a = acks.lock().unwrap_or_else(|e| e.into_inner());
                    if let Some(e) = a.get_mut(&(zone, from)) {
                        e.2 = Some((serial, crate::zones::now_unix()));
                    }
                }
            }
        }
        let now = Instant::now();
        for ((zone, addr), p) in pending.iter_mut().filter(|(_, p)| p.due <= now) {
            if p.tries >= TRIES {
                continue;
            }
            p.tries += 1;
            p.id = blason_proto::client::random_id();
            let msg = notify_message(zone, p);
            sock.send_to(&msg, *addr);
            p.due = now + Duration::from_secs(1 << (p.tries - 1));
        }
        pending.retain(|(zone, addr), p| {
            let gone = p.tries >= TRIES && p.due <= now;
            if gone {
                log::warn(
                    "notify not acknowledged; the secondary will find the serial at its next refresh",
                    &[("zone", zone), ("secondary", addr), ("serial", &p.serial), ("tries", &p.tries)],
                );
            }
            !gone
        });
        // Answers arrive on the socket: look at it at least every 50 ms.
        let wait = pending
            .values()
            .map(|p| p.due.saturating_duration_since(Instant::now()))
            .min()
            .unwrap_or(Duration::from_secs(3600))
            .min(if pending.is_empty() {
                Duration::from_secs(3600)
            } else {
                Duration::from_millis(50)
            });
        match rx.recv_timeout(wait) {
            Ok(a) => {
                let now_unix = crate::zones::now_unix();
                let mut st = acks.lock().unwrap_or_else(|e| e.into_inner());
                for (addr, _) in &a.targets {
                    let e = st
                        .entry((a.zone.clone(), *addr))
                        .or_insert((a.serial, now_unix, None));
                    (e.0, e.1) = (a.serial, now_unix);
                }
                drop(st);
                for (addr, key) in a.targets {
                    // The newest serial replaces an older one still being announced.
                    pending.insert(
                        (a.zone.clone(), addr),
                        Pending {
                            serial: a.serial,
                            soa: a.soa.clone(),
                            key,
                            tries: 0,
                            due: Instant::now(),
                            id: 0,
                        },
                    );
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// NOTIFY (opcode 4, AA) for `zone` SOA, the SOA in the answer, signed when keyed.
fn notify_message(zone: &Name, p: &Pending) -> Vec<u8> {
    let mut b = MessageBuilder::new(p.id, 0x2000 | 0x0400);
    b.question(zone, Rtype::SOA, 1);
    if let Some((ttl, rdata)) = &p.soa {
        b.record(
            Section::Answer,
            &Record {
                owner: zone.clone(),
                rtype: Rtype::SOA,
                class: 1,
                ttl: *ttl,
                rdata: rdata.clone(),
            },
        );
    }
    let mut msg = b.finish();
    if let Some(k) = &p.key {
        tsig::sign(&mut msg, k, crate::zones::now_unix(), Position::Request, 0);
    }
    msg
}

/// Takes an answer to a NOTIFY: the pair is done (acknowledged, or refused: logged).
/// Returns the zone and serial acknowledged.
fn answered(
    msg: &[u8],
    from: SocketAddr,
    pending: &mut HashMap<(Name, SocketAddr), Pending>,
) -> Option<(Name, u32)> {
    let m = Message::parse(msg).ok()?;
    if !m.is_response() || m.opcode() != 4 {
        return None;
    }
    let q = m.questions.first()?;
    let key = (q.name.clone(), from);
    let p = pending.get(&key)?;
    if p.id != m.id {
        return None;
    }
    let serial = p.serial;
    let ok = m.rcode() == 0;
    if ok {
        log::info(
            "notify acknowledged",
            &[
                ("zone", &q.name),
                ("secondary", &from),
                ("serial", &p.serial),
                ("tries", &p.tries),
            ],
        );
    } else {
        log::warn(
            "notify refused by the secondary",
            &[
                ("zone", &q.name),
                ("secondary", &from),
                ("rcode", &blason_proto::rcode_name(m.rcode())),
            ],
        );
    }
    pending.remove(&key);
    ok.then_some((q.name.clone(), serial))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_targets_with_addresses_in_the_zone_are_told_but_not_this_server() {
        let origin = Name::parse("x.test.", None).unwrap();
        let z = blason_zone::load::load_bytes(
            &origin,
            b"$TTL 300\n@ SOA ns1 h 1 3600 600 86400 300\n@ NS ns1\n@ NS ns2\n@ NS ns.elsewhere.test.\n\
              ns1 A 127.0.0.1\nns2 A 127.0.0.2\nns2 AAAA ::1\n",
            "t",
        )
        .zone;
        let own: Vec<SocketAddr> = vec!["127.0.0.1:53".parse().unwrap()];
        let configured = vec![("127.0.0.9:5300".parse().unwrap(), None)];
        let t: Vec<SocketAddr> = targets(&z, &configured, &own)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(
            t,
            [
                "127.0.0.9:5300".parse::<SocketAddr>().unwrap(),
                "127.0.0.2:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
    }
}
