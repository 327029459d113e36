//! The Prometheus endpoint: `GET /metrics` over plain HTTP, one request per
//! connection, one connection at a time (a scraper every few seconds needs no more;
//! anything else waits or times out). Bound to loopback unless told otherwise.
#![forbid(unsafe_code)]

use crate::{log, stats, Shared};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Weak};
use std::time::Duration;

const MAX_HEAD: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn start(addr: SocketAddr, shared: Weak<Shared>) -> Result<SocketAddr, String> {
    let l =
        TcpListener::bind(addr).map_err(|e| format!("metrics: cannot listen on {addr}: {e}"))?;
    let bound = l.local_addr().map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for s in l.incoming() {
                let Some(sh) = shared.upgrade() else { return };
                match s {
                    Ok(s) => serve(s, &sh),
                    Err(e) => {
                        log::warn("metrics: accept failed", &[("error", &e)]);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    log::info(
        "metrics listening",
        &[("addr", &bound), ("path", &"/metrics")],
    );
    Ok(bound)
}

fn serve(mut s: TcpStream, shared: &Arc<Shared>) {
    let _ = s.set_read_timeout(Some(IO_TIMEOUT));
    let _ = s.set_write_timeout(Some(IO_TIMEOUT));
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > MAX_HEAD {
            let _ = reply(
                &mut s,
                "431 Request Header Fields Too Large",
                "text/plain",
                "",
            );
            return;
        }
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut w = line.split_whitespace();
    let (method, target) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let _ = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = text(shared);
            let body = if method == "HEAD" {
                String::new()
            } else {
                body
            };
            reply(
                &mut s,
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                &body,
            )
        }
        ("GET" | "HEAD", _) => reply(&mut s, "404 Not Found", "text/plain", "try /metrics\n"),
        _ => reply(&mut s, "405 Method Not Allowed", "text/plain", ""),
    };
}

/// The metrics text for `shared`'s server now.
pub(crate) fn text(shared: &Shared) -> String {
    let cat = shared.catalog.load();
    let zones: Vec<stats::ZoneView> = cat
        .zones()
        .iter()
        .map(|z| stats::ZoneView {
            origin: z.origin().to_lowercase().to_string(),
            serial: z.serial(),
        })
        .collect();
    stats::render(&shared.stats, &zones)
}

fn reply(s: &mut TcpStream, status: &str, ctype: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())?;
    s.flush()
}
