//! The DynDNS2 protocol over HTTP and HTTPS, for routers, ddclient and inadyn:
//! `GET /nic/update?hostname=a,b&myip=…` with Basic auth, answered one line per
//! host as No-IP and dyndns document (`good IP`, `nochg IP`, `badauth`, `notfqdn`,
//! `nohost`, `numhost`, `abuse`, `badagent`, `dnserr`, `911`). A change takes the
//! zone's commit road (journaled, signed, notified) before `good` goes out.
//!
//! Design note. No HTTP crate is taken for this: the protocol is one GET with two
//! headers that matter, so a bounded reader of a request head (8 KiB, one request
//! per connection, timeouts) is smaller to audit than a general server. TLS is
//! rustls on ring. Connections run on threads of their own, at most `MAX_CONNS` at
//! once; passwords are kept as PBKDF2-HMAC-SHA256 hashes and a verified one is
//! remembered (by its SHA-256) so a client that updates often costs one hash.
#![forbid(unsafe_code)]

use crate::control::Refusal;
use crate::log;
use crate::zones::{Change, ZoneSet};
use blason_zone::encoding::{base64_decode, base64_encode};
use blason_zone::update::Edit;
use blason_zone::{Name, RRset, Rtype};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// The most connections served at once; more are closed at once.
pub const MAX_CONNS: usize = 64;
/// The largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request or read the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The most hosts one request may name (dyndns: `numhost` past 20).
const MAX_HOSTS: usize = 20;
/// PBKDF2 rounds for `blason dyndns hash`.
pub const ROUNDS: u32 = 100_000;

/// The DynDNS2 service's settings.
#[derive(Clone, Debug)]
pub struct DynDns {
    /// Plain HTTP listen addresses.
    pub listen: Vec<SocketAddr>,
    /// HTTPS listen addresses (with `tls`).
    pub listen_tls: Vec<SocketAddr>,
    /// The certificate chain and private key files (PEM) for HTTPS.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    pub users: Vec<User>,
    /// TTL of the records written.
    pub ttl: u32,
    /// Updates per user per minute; past it, `abuse`.
    pub per_minute: u32,
}

/// One set of credentials and the hosts they may change.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    /// `$pbkdf2-sha256$ROUNDS$SALT$HASH` (base64), as `blason dyndns hash` prints.
    pub password: String,
    pub hosts: Vec<Name>,
}

/// Hashes `password` for the config: `$pbkdf2-sha256$ROUNDS$SALT$HASH`.
pub fn hash_password(password: &str) -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| "no randomness from the system".to_string())?;
    let mut out = [0u8; 32];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        NonZeroU32::new(ROUNDS).expect("nonzero"),
        &salt,
        password.as_bytes(),
        &mut out,
    );
    let (mut s, mut h) = (String::new(), String::new());
    base64_encode(&salt, &mut s);
    base64_encode(&out, &mut h);
    Ok(format!("$pbkdf2-sha256${ROUNDS}${s}${h}"))
}

/// The rounds, salt and hash of a stored password (`$pbkdf2-sha256$R$SALT$HASH`).
fn parse_stored(stored: &str) -> Option<(NonZeroU32, Vec<u8>, Vec<u8>)> {
    let parts: Vec<&str> = stored.split('$').collect();
    let ["", "pbkdf2-sha256", rounds, salt, hash] = parts[..] else {
        return None;
    };
    let rounds = rounds.parse::<u32>().ok().and_then(NonZeroU32::new)?;
    let (mut salt_b, mut hash_b) = (Vec::new(), Vec::new());
    base64_decode(salt.as_bytes(), &mut salt_b).ok()?;
    base64_decode(hash.as_bytes(), &mut hash_b).ok()?;
    (!salt_b.is_empty() && !hash_b.is_empty()).then_some((rounds, salt_b, hash_b))
}

/// Whether `password` matches `stored` (a hash from [`hash_password`]).
pub fn verify_password(stored: &str, password: &str) -> bool {
    let Some((rounds, salt, hash)) = parse_stored(stored) else {
        return false;
    };
    ring::pbkdf2::verify(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        rounds,
        &salt,
        password.as_bytes(),
        &hash,
    )
    .is_ok()
}

/// Checks that a stored password is a hash this server reads (at start, so a
/// plain password in the config is refused with a clear error).
pub fn check_stored(stored: &str) -> Result<(), String> {
    parse_stored(stored).map(drop).ok_or_else(|| {
        "password must be a hash made by `blason dyndns hash` ($pbkdf2-sha256$...)".into()
    })
}

/// What the running service shares between connections.
struct Service {
    cfg: DynDns,
    shared: Weak<crate::Shared>,
    /// Passwords verified lately: (user, SHA-256 of the password) → when.
    verified: Mutex<HashMap<(String, [u8; 32]), Instant>>,
    /// Each user's recent update times (the rate limit).
    recent: Mutex<HashMap<String, Vec<Instant>>>,
    conns: AtomicUsize,
}

/// Binds the service's addresses and starts its accept threads. Errors name the
/// address or file at fault.
pub(crate) fn start(cfg: DynDns, shared: Weak<crate::Shared>) -> Result<Vec<SocketAddr>, String> {
    let tls = match &cfg.tls {
        Some((cert, key)) => Some(Arc::new(tls_config(cert, key)?)),
        None if !cfg.listen_tls.is_empty() => {
            return Err("dyndns: listen-tls needs cert and key".into())
        }
        None => None,
    };
    let svc = Arc::new(Service {
        cfg: cfg.clone(),
        shared,
        verified: Mutex::default(),
        recent: Mutex::default(),
        conns: AtomicUsize::new(0),
    });
    let mut bound = Vec::new();
    let plain = cfg.listen.iter().map(|a| (*a, None));
    let secure = cfg.listen_tls.iter().map(|a| (*a, tls.clone()));
    for (addr, tls) in plain.chain(secure) {
        let l =
            TcpListener::bind(addr).map_err(|e| format!("dyndns: cannot listen on {addr}: {e}"))?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        bound.push(local);
        let svc = svc.clone();
        std::thread::Builder::new()
            .name("dyndns".into())
            .spawn(move || accept(l, svc, tls))
            .map_err(|e| format!("dyndns: cannot start a thread: {e}"))?;
        log::info(
            "dyndns listening",
            &[
                ("addr", &local),
                (
                    "tls",
                    &if bound.len() > cfg.listen.len() {
                        "on"
                    } else {
                        "off"
                    },
                ),
            ],
        );
    }
    Ok(bound)
}

fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("dyndns: cert {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("dyndns: cert {}: no certificate", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("dyndns: key {}: {e}", key.display()))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("dyndns: TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("dyndns: cert and key: {e}"))
}

fn accept(l: TcpListener, svc: Arc<Service>, tls: Option<Arc<rustls::ServerConfig>>) {
    // Polled, so that the thread (and the port) goes when the server stops.
    if l.set_nonblocking(true).is_err() {
        return;
    }
    loop {
        let Some(shared) = svc.shared.upgrade() else {
            return;
        };
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        drop(shared);
        let stream = match l.accept() {
            Ok((s, _)) => s,
            // Nothing waiting, or an error such as too many open files: look again
            // shortly (an error must not spin).
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if stream.set_nonblocking(false).is_err() {
            continue;
        }
        if svc.conns.fetch_add(1, Ordering::AcqRel) >= MAX_CONNS {
            svc.conns.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (svc2, tls) = (svc.clone(), tls.clone());
        let spawned = std::thread::Builder::new()
            .name("dyndns-conn".into())
            .spawn(move || {
                serve_conn(stream, &svc2, tls);
                svc2.conns.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            svc.conns.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn serve_conn(stream: TcpStream, svc: &Service, tls: Option<Arc<rustls::ServerConfig>>) {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let Ok(peer) = stream.peer_addr() else { return };
    match tls {
        None => {
            let mut s = stream;
            exchange(&mut s, peer, svc);
        }
        Some(cfg) => {
            let Ok(conn) = rustls::ServerConnection::new(cfg) else {
                return;
            };
            let mut s = rustls::StreamOwned::new(conn, stream);
            exchange(&mut s, peer, svc);
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    }
}

/// Reads one request head and answers it.
fn exchange(s: &mut (impl Read + Write), peer: SocketAddr, svc: &Service) {
    let head = match crate::http::read_head(s, MAX_HEAD) {
        crate::http::Head::Complete(h) => h,
        crate::http::Head::TooLarge => {
            let _ = respond(
                s,
                431,
                "Request Header Fields Too Large",
                "badrequest\n",
                false,
            );
            return;
        }
        crate::http::Head::Closed => return,
    };
    let (status, reason, body, challenge) = match parse_head(&head) {
        Err(()) => (400, "Bad Request", "badrequest\n".to_string(), false),
        Ok(req) if !(req.path == "/nic/update" || req.path == "/v3/update") => {
            (404, "Not Found", "nohost\n".to_string(), false)
        }
        Ok(req) => {
            let (lines, auth_failed) = answer(&req, peer, svc);
            if auth_failed {
                (401, "Unauthorized", lines, true)
            } else {
                (200, "OK", lines, false)
            }
        }
    };
    let _ = respond(s, status, reason, &body, challenge);
}

fn respond(
    s: &mut impl Write,
    status: u16,
    reason: &str,
    body: &str,
    challenge: bool,
) -> std::io::Result<()> {
    let auth = if challenge {
        "WWW-Authenticate: Basic realm=\"blason dyndns\"\r\n"
    } else {
        ""
    };
    crate::http::respond(s, status, reason, "text/plain; charset=utf-8", auth, body)
}

/// A request head, as far as the protocol needs it.
#[derive(Debug, Default)]
pub struct Request {
    pub path: String,
    pub query: Vec<(String, String)>,
    /// (user, password) from Basic auth.
    pub auth: Option<(String, String)>,
    pub agent: Option<String>,
}

impl Request {
    fn param(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a GET request's head: its path, query parameters, Basic credentials and
/// User-Agent; None for anything else (another method, a malformed line).
pub fn read_head(head: &[u8]) -> Option<Request> {
    parse_head(head).ok()
}

fn parse_head(head: &[u8]) -> Result<Request, ()> {
    let text = std::str::from_utf8(head).map_err(drop)?;
    let mut lines = text.split("\r\n");
    let first = lines.next().ok_or(())?;
    let mut parts = first.split(' ');
    let (Some("GET"), Some(target), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(());
    };
    if !v.starts_with("HTTP/1.") || parts.next().is_some() {
        return Err(());
    }
    let (path, q) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request {
        path: percent_decode(path).ok_or(())?,
        ..Request::default()
    };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        req.query
            .push((percent_decode(k).ok_or(())?, percent_decode(v).ok_or(())?));
    }
    for line in lines.take_while(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').ok_or(())?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("authorization") {
            let Some(b64) = v
                .split_once(' ')
                .filter(|(s, _)| s.eq_ignore_ascii_case("basic"))
                .map(|(_, b)| b.trim())
            else {
                continue;
            };
            let mut raw = Vec::new();
            if base64_decode(b64.as_bytes(), &mut raw).is_ok() {
                if let Some((u, p)) = String::from_utf8(raw).ok().and_then(|s| {
                    s.split_once(':')
                        .map(|(u, p)| (u.to_string(), p.to_string()))
                }) {
                    req.auth = Some((u, p));
                }
            }
        } else if k.eq_ignore_ascii_case("user-agent") {
            req.agent = Some(v.to_string());
        }
    }
    Ok(req)
}

/// `%XX` and `+` decoded; None for a bad escape or text that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The addresses a request asks for: `myip` (one or two, comma-separated, v4 and
/// v6), `myipv6`, else the client's own. Err: an address was given that does not
/// read (nothing is changed then).
fn addresses(req: &Request, peer: SocketAddr) -> Result<(Option<Ipv4Addr>, Option<Ipv6Addr>), ()> {
    let (mut v4, mut v6) = (None, None);
    // An IPv4-mapped IPv6 address is the IPv4 address.
    let mut put = |ip: IpAddr| match ip.to_canonical() {
        IpAddr::V4(a) => v4 = Some(a),
        IpAddr::V6(a) => v6 = Some(a),
    };
    let mut given = false;
    for p in ["myip", "myipv6"] {
        let Some(list) = req.param(p) else { continue };
        if list.trim().is_empty() {
            return Err(());
        }
        for a in list.split(',').map(str::trim).filter(|a| !a.is_empty()) {
            given = true;
            put(a.parse().map_err(drop)?);
        }
    }
    if !given {
        put(peer.ip());
    }
    Ok((v4, v6))
}

/// The reply lines, and whether the credentials failed (HTTP 401).
fn answer(req: &Request, peer: SocketAddr, svc: &Service) -> (String, bool) {
    let say = |what: &str, user: &str, detail: &str| {
        log::info(
            "dyndns",
            &[
                ("client", &peer),
                ("user", &user),
                ("result", &what),
                ("detail", &detail),
            ],
        );
    };
    if req.agent.as_deref().is_none_or(|a| a.trim().is_empty()) {
        say("badagent", "", "no User-Agent");
        return ("badagent\n".into(), false);
    }
    let Some((name, password)) = &req.auth else {
        say("badauth", "", "no credentials");
        return ("badauth\n".into(), true);
    };
    let Some(user) = svc.cfg.users.iter().find(|u| u.name == *name) else {
        say("badauth", name, "unknown user");
        return ("badauth\n".into(), true);
    };
    // The rate limit comes before the hash: a flood costs no PBKDF2.
    {
        let mut recent = svc.recent.lock().unwrap_or_else(|e| e.into_inner());
        let times = recent.entry(user.name.clone()).or_default();
        let now = Instant::now();
        times.retain(|t| now.duration_since(*t) < Duration::from_secs(60));
        if times.len() >= svc.cfg.per_minute as usize {
            say("abuse", name, "over the rate limit");
            return ("abuse\n".into(), false);
        }
        times.push(now);
    }
    if !password_ok(svc, user, password) {
        say("badauth", name, "wrong password");
        return ("badauth\n".into(), true);
    }
    let Some(list) = req.param("hostname").filter(|h| !h.trim().is_empty()) else {
        say("notfqdn", name, "no hostname");
        return ("notfqdn\n".into(), false);
    };
    let hosts: Vec<&str> = list.split(',').map(str::trim).collect();
    if hosts.len() > MAX_HOSTS {
        say("numhost", name, "too many hosts");
        return ("numhost\n".into(), false);
    }
    let Ok((v4, v6)) = addresses(req, peer) else {
        say(
            "dnserr",
            name,
            "myip does not read as an address; nothing changed",
        );
        return (hosts.iter().map(|_| "dnserr\n").collect(), false);
    };
    let shown = match (v4, v6) {
        (Some(a), Some(b)) => format!("{a},{b}"),
        (Some(a), None) => a.to_string(),
        (None, Some(b)) => b.to_string(),
        (None, None) => String::new(),
    };
    let Some(shared) = svc.shared.upgrade() else {
        return (hosts.iter().map(|_| "911\n").collect(), false);
    };
    let Some(zones) = shared.zones.get().and_then(Weak::upgrade) else {
        return (hosts.iter().map(|_| "911\n").collect(), false);
    };
    let mut out = String::new();
    for h in hosts {
        let line = match update_host(h, user, v4, v6, svc.cfg.ttl, &shared, &zones) {
            Ok(true) => format!("good {shown}"),
            Ok(false) => format!("nochg {shown}"),
            Err(code) => code.to_string(),
        };
        say(
            line.split(' ').next().unwrap_or(""),
            name,
            &format!("{h} {shown}"),
        );
        out.push_str(&line);
        out.push('\n');
    }
    (out, false)
}

fn password_ok(svc: &Service, user: &User, password: &str) -> bool {
    let digest = ring::digest::digest(&ring::digest::SHA256, password.as_bytes());
    let mut d = [0u8; 32];
    d.copy_from_slice(digest.as_ref());
    let k = (user.name.clone(), d);
    let mut v = svc.verified.lock().unwrap_or_else(|e| e.into_inner());
    v.retain(|_, t| t.elapsed() < Duration::from_secs(600));
    if v.contains_key(&k) {
        return true;
    }
    drop(v);
    let ok = verify_password(&user.password, password);
    if ok {
        svc.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(k, Instant::now());
    }
    ok
}

/// Sets `host`'s A and AAAA records to the addresses given (an address not given
/// leaves its records as they are). Ok(true): changed; Ok(false): already so.
fn update_host(
    host: &str,
    user: &User,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
    ttl: u32,
    shared: &crate::Shared,
    zones: &ZoneSet,
) -> Result<bool, &'static str> {
    let fqdn = if host.ends_with('.') {
        host.to_string()
    } else {
        format!("{host}.")
    };
    let Ok(name) = Name::parse(&fqdn, None) else {
        return Err("notfqdn");
    };
    let labels: Vec<&str> = fqdn.trim_end_matches('.').split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return Err("notfqdn");
    }
    if !user.hosts.contains(&name) {
        return Err("nohost");
    }
    let cat = shared.catalog.load();
    let Some(zone) = cat
        .zones()
        .iter()
        .filter(|z| name.is_subdomain_of(z.origin()))
        .max_by_key(|z| z.origin().as_wire().len())
    else {
        return Err("nohost");
    };
    let current = |t: Rtype| -> Vec<Vec<u8>> {
        zone.find(name.as_wire())
            .and_then(|i| {
                zone.node(i)
                    .rrset(t)
                    .map(|s| s.rdatas().map(|r| r.to_vec()).collect())
            })
            .unwrap_or_default()
    };
    let mut edits = Vec::new();
    let wanted: [(Rtype, Option<Vec<u8>>); 2] = [
        (Rtype::A, v4.map(|a| a.octets().to_vec())),
        (Rtype::AAAA, v6.map(|a| a.octets().to_vec())),
    ];
    for (t, addr) in wanted {
        let Some(addr) = addr else { continue };
        if current(t) != [addr.clone()] {
            edits.push(Edit::ReplaceRrset {
                name: name.clone(),
                rrset: RRset::new(t, ttl, &[&addr]),
            });
        }
    }
    let origin = zone.origin().clone();
    drop(cat);
    // A secondary zone's data is its primary's: it takes no change here.
    if shared.xfr.load().secondaries.contains_key(&origin) {
        return Err("nohost");
    }
    if edits.is_empty() {
        return Ok(false);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    zones.submit_change(&origin, Change::Edits(edits), tx);
    match rx.recv() {
        Ok(Ok(_)) => Ok(true),
        Ok(Err(Refusal { .. })) | Err(_) => Err("dnserr"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_verifies_its_password_only() {
        let h = hash_password("s3cret").unwrap();
        assert!(check_stored(&h).is_ok());
        assert!(verify_password(&h, "s3cret"));
        assert!(!verify_password(&h, "s3cret "));
        assert!(!verify_password("s3cret", "s3cret"));
        assert!(check_stored("s3cret").is_err());
    }

    #[test]
    fn request_heads_are_read_or_refused() {
        let r = parse_head(
            b"GET /nic/update?hostname=a.x.test,b.x.test&myip=192.0.2.1%2C2001%3Adb8%3A%3A1 HTTP/1.1\r\n\
              Host: x\r\nAuthorization: Basic aG9tZTpzM2NyZXQ=\r\nUser-Agent: test/1\r\n\r\n",
        )
        .unwrap();
        assert_eq!(r.path, "/nic/update");
        assert_eq!(r.param("hostname"), Some("a.x.test,b.x.test"));
        assert_eq!(r.param("myip"), Some("192.0.2.1,2001:db8::1"));
        assert_eq!(r.auth, Some(("home".into(), "s3cret".into())));
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(
            addresses(&r, peer),
            Ok((
                Some("192.0.2.1".parse().unwrap()),
                Some("2001:db8::1".parse().unwrap())
            ))
        );
        assert!(parse_head(b"POST /nic/update HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_head(b"GET /x%zz HTTP/1.1\r\n\r\n").is_err());
        assert!(parse_head(b"GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
        // No myip: the client's own address; a bad one: an error.
        let r = parse_head(b"GET /nic/update?hostname=a HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!(addresses(&r, peer), Ok((Some([127, 0, 0, 1].into()), None)));
        let r = parse_head(b"GET /nic/update?hostname=a&myip=300.1.1.1 HTTP/1.0\r\n\r\n").unwrap();
        assert!(addresses(&r, peer).is_err());
        let r = parse_head(b"GET /nic/update?hostname=a&myip= HTTP/1.0\r\n\r\n").unwrap();
        assert!(addresses(&r, peer).is_err());
    }
}
