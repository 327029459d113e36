//! DNS over TCP (RFC 7766) on a small tokio runtime of its own, away from the UDP
//! workers: 2-byte length framing, pipelined queries answered in order, an idle
//! timeout, and a cap on open connections.
#![forbid(unsafe_code)]

use crate::{log, querylog, Shared};
use blason_answer::{respond, Transport};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
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

pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, slots: Arc<Semaphore>) {
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
            // Over the limit: close at once rather than queue (RFC 7766 §6.2.2).
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let _ = connection(stream, peer, shared).await;
            drop(permit);
        });
    }
}

/// Reads queries and writes answers in arrival order. Replies are buffered and flushed
/// when no further query is already waiting, so a pipelined burst costs few writes.
async fn connection(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let idle = shared.tcp_idle;
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
        let mut len = [0u8; 2];
        // Idle timeout, clean close by the peer, or a half-closed stream all end here,
        // after the replies already owed were flushed.
        match timeout(idle, r.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let n = u16::from_be_bytes(len) as usize;
        query.clear();
        query.resize(n, 0);
        // A length that promises more than ever arrives ends at the idle timeout.
        match timeout(idle, r.read_exact(&mut query)).await {
            Ok(Ok(_)) => {}
            _ => break,
        }
        let send = if crate::update::is_update(&query) {
            // Answered once the change is durable, from a blocking thread: the
            // connection waits, nothing else does.
            let (q, sh) = (query.clone(), shared.clone());
            let reply = tokio::task::spawn_blocking(move || {
                let zones = sh.zones.get().and_then(std::sync::Weak::upgrade)?;
                Some(crate::update::handle(&q, peer, &sh.xfr.load(), &zones))
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
            let send = respond(&cat, &query, Transport::Tcp, &mut out);
            if !send && blason_answer::is_transfer(&query) {
                drop(cat);
                if shared.query_log {
                    querylog::log(Some(peer), "tcp", &query, None);
                }
                transfer(&query, peer, &shared, &mut w).await?;
                continue;
            } else if !send && blason_answer::is_signed(&query) {
                let now = crate::zones::now_unix();
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
