//! The Prometheus endpoint: `GET /metrics` over plain HTTP, one request per
//! connection, one connection at a time (a scraper every few seconds needs no more;
//! anything else waits or times out). Bound to loopback unless told otherwise.
#![forbid(unsafe_code)]

use crate::{log, stats, Shared};
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
    let head = match crate::http::read_head(&mut s, MAX_HEAD) {
        crate::http::Head::Complete(h) => h,
        crate::http::Head::TooLarge => {
            let _ = crate::http::respond(
                &mut s,
                431,
                "Request Header Fields Too Large",
                "text/plain",
                "",
                "",
            );
            return;
        }
        crate::http::Head::Closed => return,
    };
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut w = line.split_whitespace();
    let (method, target) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let reply = |s: &mut TcpStream, status, reason, ctype, body: &str| {
        crate::http::respond(s, status, reason, ctype, "", body)
    };
    let _ = match (method, path) {
        // HEAD is answered with no body (its length 0), as before.
        ("GET", "/metrics") => reply(&mut s, 200, "OK", PROMETHEUS, &text(shared)),
        ("HEAD", "/metrics") => reply(&mut s, 200, "OK", PROMETHEUS, ""),
        ("GET" | "HEAD", _) => reply(&mut s, 404, "Not Found", "text/plain", "try /metrics\n"),
        _ => reply(&mut s, 405, "Method Not Allowed", "text/plain", ""),
    };
}

/// The Prometheus text exposition format.
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

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
