//! UDP: one OS thread per SO_REUSEPORT socket, each with its own buffers, batching
//! with recvmmsg/sendmmsg. The kernel spreads datagrams over the sockets, so workers
//! share nothing but the catalog pointer.
#![forbid(unsafe_code)]

use crate::front::Front;
use crate::querylog;
use crate::stats::Counters;
use crate::sys::Batch;
use crate::Shared;
use blason_answer::{inspect, Incoming, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How many datagrams one system call may carry.
const BATCH: usize = 32;
/// How often an idle worker wakes to check for shutdown.
pub const POLL: Duration = Duration::from_millis(200);

/// A UDP socket that shares its port with the other workers' sockets.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // So that [::]:53 and 0.0.0.0:53 can both be given.
        s.set_only_v6(true)?;
    }
    s.set_reuse_port(true)?;
    s.set_read_timeout(Some(POLL))?;
    // Best effort: a bigger queue rides out bursts; the kernel caps it anyway.
    let _ = s.set_recv_buffer_size(4 << 20);
    s.bind(&addr.into())?;
    Ok(s.into())
}

pub fn worker(sock: UdpSocket, shared: Arc<Shared>) {
    let mut batch = Batch::new(BATCH);
    let counters = Arc::new(Counters::new("udp", true));
    shared.stats.register(counters.clone());
    let mut front = Front::new(counters.clone());
    // Dynamic updates are answered from the update threads, through this socket.
    let for_updates = sock.try_clone().ok().map(Arc::new);
    let fd = sock.as_fd();
    let mut last_err: Option<io::ErrorKind> = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let n = match batch.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    k => {
                        // Log a repeating error once, not once per packet.
                        if last_err != Some(k) {
                            crate::log::warn("udp receive failed", &[("error", &e)]);
                            last_err = Some(k);
                        }
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                continue;
            }
        };
        {
            // One cheap guard per batch: no lock, no refcount traffic.
            let cat = shared.catalog.load();
            let now = crate::zones::now_unix();
            for i in 0..n {
                let (q, _) = batch.slot(i);
                if crate::update::is_update(q) {
                    counters.query(q, None);
                    // Off the hot path: answered once the change is durable.
                    if let (Some(pool), Some(peer), Some(s)) =
                        (shared.updates.get(), batch.peer(i), &for_updates)
                    {
                        let (q, _) = batch.slot(i);
                        if !pool.take(q, peer, s) {
                            crate::log::warn(
                                "dynamic update dropped: too many waiting",
                                &[("client", &peer)],
                            );
                        }
                    }
                    batch.set_reply(i, false);
                    continue;
                }
                if crate::xfr::is_notify(q) {
                    counters.query(q, None);
                    // Off the hot path: a primary telling a secondary zone of a change.
                    if let Some(peer) = batch.peer(i) {
                        let (q, out) = batch.slot(i);
                        let reply = crate::xfr::notify_in(q, peer, &shared.xfr.load(), now);
                        out.clear();
                        if let Some(r) = &reply {
                            out.extend_from_slice(r);
                        }
                        batch.set_reply(i, reply.is_some());
                        continue;
                    }
                }
                let peer = batch.peer(i);
                let (q, out) = batch.slot(i);
                let seen = inspect(q);
                let mut send =
                    front.answer(&shared, &cat, q, &seen, peer, Transport::Udp, now, out);
                // Left to us by the answer path: off the hot path.
                let (transfer, signed) = match &seen {
                    Incoming::Query(p) if !send => (p.transfer, p.signed),
                    _ => (false, false),
                };
                if transfer {
                    // Off the hot path: the SOA, or TC to send the client to TCP.
                    if let Some(peer) = batch.peer(i) {
                        let (q, out) = batch.slot(i);
                        let mut reply = None;
                        crate::xfr::serve(
                            q,
                            peer,
                            &shared.xfr.load(),
                            cat.zones(),
                            now,
                            crate::xfr::Via::Udp,
                            &mut |m| {
                                reply = Some(m);
                                false
                            },
                        );
                        if let Some(r) = reply {
                            out.clear();
                            out.extend_from_slice(&r);
                            send = true;
                        }
                    }
                } else if signed {
                    let table = shared.xfr.load();
                    send =
                        crate::xfr::respond_signed(&cat, Some(&table), q, Transport::Udp, now, out);
                }
                batch.set_reply(i, send);
                if shared.query_log {
                    let peer = batch.peer(i);
                    let (q, out) = batch.slot(i);
                    querylog::log(peer, "udp", q, send.then_some(out.as_slice()));
                }
            }
        }
        if let Err(e) = batch.send(fd, n) {
            if last_err != Some(e.kind()) {
                crate::log::warn("udp send failed", &[("error", &e)]);
                last_err = Some(e.kind());
            }
        }
    }
}
