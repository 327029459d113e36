//! DNS over TCP (RFC 7766) on a small tokio runtime of its own, away from the UDP
//! workers: 2-byte length framing, pipelined queries answered in order, an idle
//! timeout, and caps on open connections, in total and per client address.
//!
//! Under pressure (three quarters of the connections in use) a connection that has
//! waited over a second for its next query is closed (RFC 7766 §6.2.3 lets a server
//! under load close idle connections), so thousands of idle connections cannot
//! shut new clients out for longer than that.
#![forbid(unsafe_code)]

use crate::front::Front;
use crate::{log, querylog, Shared};
use blason_answer::{inspect, Incoming, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::timeout;

pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // Restarting while old connections sit in TIME_WAIT must not fail.
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// How long an idle connection may wait for its next query under pressure.
const PRESSED_IDLE: Duration = Duration::from_secs(1);

/// Open connections: counted in total and per client, and the pressure flag kept.
struct Open {
    shared: Arc<Shared>,
    ip: IpAddr,
    pressure: Arc<AtomicBool>,
    slots: Arc<Semaphore>,
    max: usize,
}

impl Drop for Open {
    fn drop(&mut self) {
        self.shared.stats.tcp_open.fetch_sub(1, Ordering::Relaxed);
        if self.shared.tcp_max_per_client > 0 {
            let mut m = self
                .shared
                .tcp_by_client
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some(n) = m.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    m.remove(&self.ip);
                }
            }
        }
        // The permit is released after this; one more counts as free.
        if self.slots.available_permits() + 1 > self.max / 2 {
            self.pressure.store(false, Ordering::Relaxed);
        }
    }
}

pub async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    max: usize,
    pressure: Arc<AtomicBool>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                log::warn("tcp accept failed", &[("error", &e)]);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Over the limit: close at once rather than queue (RFC 7766 §6.2.2),
            // and have idle connections make room for the client's retry.
            shared.stats.tcp_refused_total.add();
            pressure.store(true, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        let ip = peer.ip().to_canonical();
        if shared.tcp_max_per_client > 0 {
            let mut m = shared
                .tcp_by_client
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = m.entry(ip).or_insert(0);
            if *n >= shared.tcp_max_per_client {
                shared.stats.tcp_refused_client.add();
                drop(m);
                drop(stream);
                continue;
            }
            *n += 1;
        }
        shared.stats.tcp_accepted.add();
        shared.stats.tcp_open.fetch_add(1, Ordering::Relaxed);
        if slots.available_permits() < max / 4 {
            pressure.store(true, Ordering::Relaxed);
        }
        let open = Open {
            shared: shared.clone(),
            ip,
            pressure: pressure.clone(),
            slots: slots.clone(),
            max,
        };
        let shared = shared.clone();
        let pressed = pressure.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer, shared, pressed).await;
            drop(open);
            drop(permit);
        });
    }
}

/// Reads queries and writes answers in arrival order. Replies are buffered and flushed
/// when no further query is already waiting, so a pipelined burst costs few writes.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    pressed: Arc<AtomicBool>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let idle = shared.tcp_idle;
    let mut front = Front::new(shared.tcp_counters.clone());
    let counters = shared.tcp_counters.clone();
    let mut answered = 0usize;
    let (r, w) = stream.into_split();
    let mut r = BufReader::with_capacity(16 * 1024, r);
    let mut w = BufWriter::with_capacity(16 * 1024, w);
    let mut query = Vec::with_capacity(512);
    let mut out = Vec::with_capacity(4096);
    loop {
        if r.buffer().is_empty() {
            timeout(idle, w.flush())
                .await
                .map_err(|_| io::ErrorKind::TimedOut)??;
        }
        if shared.tcp_max_queries > 0 && answered >= shared.tcp_max_queries {
            shared.stats.tcp_query_limit.add();
            break;
        }
        let mut len = [0u8; 2];
        // Idle timeout, clean close by the peer, or a half-closed stream all end here,
        // after the replies already owed were flushed.
        match next_query(&mut r, &mut len, idle, &pressed).await {
            Wait::Read => {}
            Wait::Idle => {
                shared.stats.tcp_closed_idle.add();
                break;
            }
            Wait::Closed => break,
        }
        let n = u16::from_be_bytes(len) as usize;
        query.clear();
        query.resize(n, 0);
        // A length that promises more than ever arrives ends at the idle timeout
        // (a second, under pressure).
        let slow = if pressed.load(Ordering::Relaxed) {
            idle.min(PRESSED_IDLE)
        } else {
            idle
        };
        match timeout(slow, r.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        answered += 1;
        if crate::update::is_update(&query) || crate::xfr::is_notify(&query) {
            counters.query(&query, None);
        }
        let send = if crate::update::is_update(&query) {
            // Answered once the change is durable, from a blocking thread: the
            // connection waits, nothing else does.
            let (q, sh) = (query.clone(), shared.clone());
            let reply = tokio::task::spawn_blocking(move || {
                let zones = sh.zones.get().and_then(std::sync::Weak::upgrade)?;
                let out = crate::update::handle(&q, peer, &sh.xfr.load(), &zones);
                sh.stats.updated(&out);
                Some(out)
            })
            .await
            .ok()
            .flatten();
            out.clear();
            match reply {
                Some(r) => {
                    out.extend_from_slice(&r);
                    true
                }
                None => false,
            }
        } else if crate::xfr::is_notify(&query) {
            // A primary telling a secondary zone of a change (Knot sends it over TCP).
            out.clear();
            match crate::xfr::notify_in(&query, peer, &shared.xfr.load(), crate::zones::now_unix())
            {
                Some(r) => {
                    out.extend_from_slice(&r);
                    true
                }
                None => false,
            }
        } else {
            let cat = shared.catalog.load();
            let seen = inspect(&query);
            let now = crate::zones::now_unix();
            let send = front.answer(
                &shared,
                &cat,
                &query,
                &seen,
                Some(peer),
                Transport::Tcp,
                now,
                &mut out,
            );
            let (is_transfer, signed) = match &seen {
                Incoming::Query(p) if !send => (p.transfer, p.signed),
                _ => (false, false),
            };
            if is_transfer {
                drop(cat);
                if let Incoming::Query(p) = &seen {
                    let c = if p.qtype == 252 {
                        &shared.stats.axfr
                    } else {
                        &shared.stats.ixfr
                    };
                    c.add();
                }
                if shared.query_log {
                    querylog::log(Some(peer), "tcp", &query, None);
                }
                transfer(&query, peer, &shared, &mut w).await?;
                continue;
            } else if signed {
                crate::xfr::respond_signed(
                    &cat,
                    Some(&shared.xfr.load()),
                    &query,
                    Transport::Tcp,
                    now,
                    &mut out,
                )
            } else {
                send
            }
        };
        if shared.query_log {
            querylog::log(Some(peer), "tcp", &query, send.then_some(out.as_slice()));
        }
        if !send {
            continue;
        }
        let Ok(len) = u16::try_from(out.len()) else {
            log::error("tcp reply over 65535 bytes dropped", &[("client", &peer)]);
            continue;
        };
        w.write_all(&len.to_be_bytes()).await?;
        w.write_all(&out).await?;
    }
    let _ = timeout(idle, async {
        w.flush().await?;
        w.shutdown().await
    })
    .await;
    Ok(())
}

enum Wait {
    Read,
    Idle,
    Closed,
}

/// Reads the next query's length: waits up to `idle`, or, while the server is under
/// pressure, up to a second from when the wait began. Looks at the pressure once a
/// second (thousands of idle connections cost thousands of wake-ups a second).
async fn next_query<R: AsyncReadExt + Unpin>(
    r: &mut R,
    len: &mut [u8; 2],
    idle: Duration,
    pressed: &AtomicBool,
) -> Wait {
    let began = tokio::time::Instant::now();
    let read = r.read_exact(len);
    tokio::pin!(read);
    loop {
        let limit = if pressed.load(Ordering::Relaxed) {
            idle.min(PRESSED_IDLE)
        } else {
            idle
        };
        let left = limit.saturating_sub(began.elapsed());
        if left.is_zero() {
            return Wait::Idle;
        }
        match timeout(left.min(PRESSED_IDLE), &mut read).await {
            Ok(Ok(_)) => return Wait::Read,
            Ok(Err(_)) => return Wait::Closed,
            Err(_) => {}
        }
    }
}

/// Runs a transfer on a blocking thread of the runtime and writes its messages as
/// they come: the query path and other connections go on meanwhile.
async fn transfer<W: AsyncWriteExt + Unpin>(
    query: &[u8],
    peer: SocketAddr,
    shared: &Arc<Shared>,
    w: &mut W,
) -> io::Result<()> {
    // Held until the transfer ends; none left: answered SERVFAIL by `serve`.
    let slot = shared.xfr_slots.clone().try_acquire_owned().ok();
    let busy = slot.is_none();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let (q, sh) = (query.to_vec(), shared.clone());
    let job = tokio::task::spawn_blocking(move || {
        let table = sh.xfr.load();
        let cat = sh.catalog.load();
        let now = crate::zones::now_unix();
        let via = if busy {
            crate::xfr::Via::TcpBusy
        } else {
            crate::xfr::Via::Tcp
        };
        crate::xfr::serve(&q, peer, &table, cat.zones(), now, via, &mut |m| {
            tx.blocking_send(m).is_ok()
        });
    });
    let idle = shared.tcp_idle;
    while let Some(m) = rx.recv().await {
        let Ok(len) = u16::try_from(m.len()) else {
            log::error(
                "transfer message over 65535 bytes dropped",
                &[("client", &peer)],
            );
            break;
        };
        let write = async {
            w.write_all(&len.to_be_bytes()).await?;
            w.write_all(&m).await
        };
        // A client that stops reading is dropped at the idle timeout.
        timeout(idle, write)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    }
    drop(rx);
    let _ = job.await;
    drop(slot);
    w.flush().await
}
