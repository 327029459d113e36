//! blason-server: puts the answer crate on the network and keeps its zones fresh.
//!
//! Owns: UDP worker threads (one SO_REUSEPORT socket each, recvmmsg/sendmmsg batches,
//! per-thread buffers), TCP on a small tokio runtime, the catalog snapshot behind an
//! `ArcSwap` (queries load it without locks; reload builds a new one and swaps it),
//! reload and shutdown on signals, the control socket, the pid file, the server's
//! logger, and each zone's worker thread ([`zones`]), which commits its changes and
//! runs its DNSSEC key-roll executor ([`dnssec`]). Between the socket and the
//! answer ([`front`]): DNS cookies ([`cookie`]), response rate limiting ([`rrl`]),
//! and the counters behind `/metrics` ([`stats`], [`metrics`]).
//!
//! Refuses: zone parsing and checks (crate `zone`), answering (crate `answer`), config
//! files and flags (the `blason` binary hands over a ready [`Config`]). All `unsafe`
//! lives in [`sys`]; every other module forbids it.
#![deny(unsafe_code)]

pub mod catalog;
pub mod control;
pub mod cookie;
pub mod dnssec;
pub mod dyndns;
mod front;
mod http;
pub mod journal;
pub mod log;
pub mod metrics;
pub(crate) mod notify;
mod querylog;
pub mod rrl;
pub mod stats;
#[allow(unsafe_code)]
pub mod sys;
mod tcp;
mod udp;
pub mod update;
pub mod xfr;
pub mod xfr_in;
pub mod zones;

use arc_swap::ArcSwap;
use blason_answer::{Catalog, Options};
use control::Refusal;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
pub use zones::{Generator, Receipt, ReloadReport, ZoneSource, ZoneSpec};

/// Everything the server needs, already validated and merged by the caller.
#[derive(Clone, Debug)]
pub struct Config {
    /// Each address is served on both UDP and TCP; port 0 picks a free port.
    pub listen: Vec<SocketAddr>,
    pub zones: Vec<ZoneSpec>,
    /// UDP worker threads per listen address.
    pub udp_threads: usize,
    pub tcp_idle_timeout: Duration,
    pub tcp_max_connections: usize,
    pub query_log: bool,
    pub answer: Options,
    pub pid_file: Option<PathBuf>,
    /// How often the control loop asks zone generators whether their records changed
    /// (watched certificate files, TLSA records falling due).
    pub poll_interval: Duration,
    /// Where the control socket listens (`<state>/control.sock`); None: no socket.
    pub control: Option<PathBuf>,
    /// The state folder, locked for this server while it runs; None: no lock.
    pub state: Option<PathBuf>,
    /// TSIG keys, for transfers and NOTIFY.
    pub keys: Vec<blason_proto::tsig::Key>,
    /// The DynDNS2 service over HTTP and HTTPS; None: off.
    pub dyndns: Option<dyndns::DynDns>,
    /// Response rate limiting on UDP; None: off.
    pub rrl: Option<rrl::RrlConfig>,
    /// Answer DNS cookies (RFC 7873); with these secrets, or a random one that
    /// rotates daily when empty.
    pub cookies: bool,
    pub cookie_secrets: Vec<[u8; 16]>,
    /// Largest UDP answer to a client without a valid server cookie; None: the
    /// usual 1232.
    pub udp_unverified_max: Option<usize>,
    /// Most TCP connections open at once from one address; 0: no limit but the total.
    pub tcp_max_per_client: usize,
    /// Queries answered on one TCP connection before it is closed; 0: no limit.
    pub tcp_max_queries: usize,
    /// Where `/metrics` is served; None: off.
    pub metrics: Option<SocketAddr>,
}

impl Config {
    pub fn new(listen: Vec<SocketAddr>, zones: Vec<ZoneSpec>) -> Config {
        Config {
            listen,
            zones,
            udp_threads: default_threads(),
            tcp_idle_timeout: Duration::from_secs(10),
            tcp_max_connections: 1000,
            query_log: false,
            answer: Options::default(),
            pid_file: None,
            poll_interval: Duration::from_secs(60),
            control: None,
            state: None,
            keys: Vec::new(),
            dyndns: None,
            rrl: Some(rrl::RrlConfig::default()),
            cookies: true,
            cookie_secrets: Vec::new(),
            udp_unverified_max: None,
            tcp_max_per_client: 100,
            tcp_max_queries: 0,
            metrics: None,
        }
    }
}

/// Tells systemd how the service stands (`READY=1` once queries are answered,
/// `STOPPING=1`), for units of `Type=notify`. Nothing happens without
/// `NOTIFY_SOCKET`; a failure is logged, never fatal. The protocol is one datagram
/// on a unix socket, too small for a dependency.
pub fn sd_notify(state: &str) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let sent = (|| -> io::Result<()> {
        let sock = UnixDatagram::unbound()?;
        let bytes = path.as_bytes();
        if let Some(name) = bytes.strip_prefix(b"@") {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(state.as_bytes(), &addr)?;
        } else {
            sock.send_to(state.as_bytes(), &path)?;
        }
        Ok(())
    })();
    if let Err(e) = sent {
        log::warn("cannot notify systemd", &[("error", &e)]);
    }
}

pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[derive(Debug)]
pub enum Error {
    /// Some zones failed to load; their findings were already logged.
    Zones(Vec<(ZoneSpec, zones::ZoneError)>),
    Bind(SocketAddr, io::Error),
    Io(&'static str, io::Error),
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Zones(failed) => {
                write!(f, "refusing to start: ")?;
                for (i, (spec, why)) in failed.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "zone {} ({}): {}", spec.origin, spec.source, why)?;
                }
                Ok(())
            }
            Error::Bind(a, e) => write!(f, "cannot listen on {a}: {e}"),
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Config(s) => f.write_str(s),
        }
    }
}
impl std::error::Error for Error {}

impl blason_zone::fault::Blame for Error {
    fn fault(&self) -> blason_zone::Fault {
        use blason_zone::Fault;
        match self {
            // The first zone's: the operator fixes them one by one.
            Error::Zones(z) => z.first().map_or(Fault::Internal, |(_, e)| e.fault()),
            Error::Bind(_, e) if e.kind() == io::ErrorKind::AddrInUse => Fault::Config,
            Error::Bind(_, e) => blason_dnssec::error::io_fault(e),
            Error::Io(_, e) => blason_dnssec::error::io_fault(e),
            Error::Config(_) => Fault::Config,
        }
    }
}

/// What every query thread reads.
pub(crate) struct Shared {
    pub catalog: ArcSwap<Catalog>,
    pub stop: AtomicBool,
    pub query_log: bool,
    pub tcp_idle: Duration,
    /// Transfer settings and journal histories: empty until the zones are open, made
    /// anew when a config reload adds or removes zones.
    pub xfr: ArcSwap<xfr::XfrTable>,
    /// Outgoing transfers running at once are bounded: past this, SERVFAIL (the
    /// secondary retries), so that transfers never crowd out the rest of TCP.
    pub xfr_slots: Arc<tokio::sync::Semaphore>,
    /// The zones, for dynamic updates (weak: the zones' publisher holds this).
    pub zones: std::sync::OnceLock<std::sync::Weak<zones::ZoneSet>>,
    /// The threads that take UDP updates off the query workers.
    pub updates: std::sync::OnceLock<update::Pool>,
    pub stats: stats::Stats,
    /// The counters of every TCP connection.
    pub tcp_counters: Arc<stats::Counters>,
    pub rrl: Option<rrl::Rrl>,
    /// None: cookies are not answered.
    pub cookies: Option<cookie::Secrets>,
    pub udp_unverified_max: Option<usize>,
    pub tcp_max_per_client: usize,
    pub tcp_max_queries: usize,
    /// Open TCP connections by client address, for the per-client limit.
    pub tcp_by_client: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// A running server. Dropping it without [`Server::shutdown`] leaves threads running.
pub struct Server {
    shared: Arc<Shared>,
    zones: Arc<zones::ZoneSet>,
    /// Reads the configuration again (a reload); None: zones read their files again
    /// with the settings of the start.
    reread: Option<Reread>,
    /// The settings in force, beside which a reread one is compared.
    running: Config,
    udp: Vec<JoinHandle<()>>,
    tcp: Option<(JoinHandle<()>, Arc<tokio::sync::Notify>)>,
    local: Vec<SocketAddr>,
    pid_file: Option<PathBuf>,
    /// Held while the server runs: no second server shares the state folder.
    _state_lock: Option<blason_store::FolderLock>,
    notifier: Option<notify::Notifier>,
}

impl Server {
    /// Loads every zone (refusing to start if any fails), binds every address, starts
    /// the workers, and writes the pid file. Returns once queries are being answered.
    pub fn start(cfg: Config) -> Result<Server, Error> {
        check(&cfg)?;
        let state_lock = match &cfg.state {
            Some(root) => {
                Some(blason_store::lock_folder(root).map_err(|e| Error::Config(e.to_string()))?)
            }
            None => None,
        };
        let shared = Arc::new(Shared {
            catalog: ArcSwap::from_pointee(Catalog::new(Vec::new(), cfg.answer.clone())),
            stop: AtomicBool::new(false),
            query_log: cfg.query_log,
            tcp_idle: cfg.tcp_idle_timeout,
            xfr: ArcSwap::from_pointee(xfr::XfrTable::default()),
            xfr_slots: Arc::new(tokio::sync::Semaphore::new(xfr::MAX_TRANSFERS)),
            zones: std::sync::OnceLock::new(),
            updates: std::sync::OnceLock::new(),
            stats: stats::Stats::default(),
            tcp_counters: Arc::new(stats::Counters::new("tcp", false)),
            rrl: cfg.rrl.clone().map(rrl::Rrl::new),
            cookies: cfg
                .cookies
                .then(|| cookie::Secrets::new(cfg.cookie_secrets.clone())),
            udp_unverified_max: cfg.udp_unverified_max,
            tcp_max_per_client: cfg.tcp_max_per_client,
            tcp_max_queries: cfg.tcp_max_queries,
            tcp_by_client: Default::default(),
        });
        shared.stats.register(shared.tcp_counters.clone());
        let publisher = Arc::new(zones::Publisher {
            shared: shared.clone(),
            options: cfg.answer.clone(),
            served: std::sync::Mutex::new(Vec::new()),
        });
        // Started whatever the zones say: a config reload may add a zone with
        // secondaries.
        let notifier = notify::Notifier::start();
        let notify = notifier.clone().map(|n| (n, cfg.listen.clone()));
        let zones = zones::ZoneSet::open_all(
            cfg.zones.clone(),
            publisher,
            cfg.poll_interval,
            notify,
            cfg.keys.clone(),
        )
        .map_err(Error::Zones)?;
        let zones = Arc::new(zones);
        let _ = shared.zones.set(Arc::downgrade(&zones));
        if let Some(p) = update::Pool::start(Arc::downgrade(&shared)) {
            let _ = shared.updates.set(p);
        }
        if let Some(d) = &cfg.dyndns {
            dyndns::start(d.clone(), Arc::downgrade(&shared)).map_err(Error::Config)?;
        }
        if let Some(a) = cfg.metrics {
            metrics::start(a, Arc::downgrade(&shared)).map_err(Error::Config)?;
        }

        let mut udp_socks = Vec::new();
        let mut tcp_listeners = Vec::new();
        let mut local = Vec::new();
        for &addr in &cfg.listen {
            let (u, t, bound) = bind_pair(addr, cfg.udp_threads.max(1))?;
            udp_socks.extend(u);
            tcp_listeners.push(t);
            local.push(bound);
        }

        // Written once every socket is bound, before any thread starts, so a failure
        // leaves nothing running.
        if let Some(p) = &cfg.pid_file {
            std::fs::write(p, format!("{}\n", std::process::id()))
                .map_err(|e| Error::Io("cannot write the pid file", e))?;
        }
        let tcp = start_tcp(tcp_listeners, shared.clone(), cfg.tcp_max_connections)?;
        let mut udp = Vec::new();
        for (i, s) in udp_socks.into_iter().enumerate() {
            let sh = shared.clone();
            let h = std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || udp::worker(s, sh))
                .map_err(|e| Error::Io("cannot start a udp worker", e))?;
            udp.push(h);
        }

        for spec in &zones.specs() {
            log::info(
                "serving zone",
                &[("zone", &spec.origin), ("source", &spec.source)],
            );
        }
        // Zones restored from their journals answer already; their files now.
        zones.sync_restored();
        for a in &local {
            log::info(
                "listening",
                &[
                    ("addr", a),
                    ("udp_threads", &cfg.udp_threads.max(1)),
                    ("tcp", &"on"),
                ],
            );
        }
        Ok(Server {
            shared,
            zones,
            reread: None,
            running: cfg.clone(),
            udp,
            tcp: Some(tcp),
            local,
            pid_file: cfg.pid_file,
            _state_lock: state_lock,
            notifier,
        })
    }

    /// The bound addresses, with the real port where port 0 was asked for.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local
    }

    /// Re-reads every zone (all at once, each on its worker) and commits what
    /// changed; returns when all are done. Queries in flight finish on the old
    /// catalog; nothing waits for them.
    pub fn reload(&self) -> ReloadReport {
        let report = self.zones.reload();
        log_reload(&self.shared.stats, &report);
        report
    }

    /// Commits `edits` to the zone `origin` and returns its receipt once they are
    /// served and durable. Submissions from many threads at once share commits.
    pub fn submit(
        &self,
        origin: &blason_zone::Name,
        edits: Vec<blason_zone::update::Edit>,
    ) -> Result<Receipt, Refusal> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.zones.submit(origin, edits, tx);
        rx.recv().unwrap_or_else(|_| {
            Err(Refusal::new(
                blason_zone::Fault::System,
                "the zone's worker has stopped",
            ))
        })
    }

    /// Carries out a command from the control socket; `reply` gets what happened.
    /// Nothing waits here: each zone's worker answers (a reload's answers are
    /// gathered on a thread of their own).
    pub fn control(&self, cmd: control::Command, reply: Sender<Result<String, Refusal>>) {
        use control::Command;
        use dnssec::files::Request;
        match cmd {
            Command::Reload => self.reload_in_background(Some(reply)),
            Command::Roll(z, role) => self.zones.dnssec_request(&z, Request::Roll(role), reply),
            Command::DsSeen(z) => self.zones.dnssec_request(&z, Request::DsSeen, reply),
            Command::Status(z) => self.zones.dnssec_status(&z, reply),
            Command::XfrStatus(z) => {
                let _ = reply.send(self.xfr_status(&z));
            }
            Command::Dynamic(z) => self.zones.dynamic_status(&z, reply),
        }
    }

    /// `blason xfr status`: who may transfer the zone, what each secondary took last,
    /// and what NOTIFY told it and it answered.
    fn xfr_status(&self, zone: &blason_zone::Name) -> Result<String, Refusal> {
        use std::fmt::Write;
        let table = self.shared.xfr.load();
        let (spec, history) = table.zones.get(zone).ok_or_else(|| {
            Refusal::new(
                blason_zone::Fault::Config,
                format!("{zone} is not a zone of this server"),
            )
        })?;
        let cat = self.shared.catalog.load();
        let serial = cat
            .zones()
            .iter()
            .find(|z| z.origin() == zone)
            .and_then(|z| z.serial());
        let mut o = String::new();
        let _ = writeln!(o, "zone {}", zone.to_lowercase());
        let _ = writeln!(
            o,
            "  serial served   {}",
            serial.map_or("none".into(), |s| s.to_string())
        );
        let oldest = history
            .as_ref()
            .and_then(|h| h.entries().first().cloned())
            .and_then(|b| blason_zone::update::codec::decode_changeset(&b).ok())
            .map(|c| c.from);
        let _ = writeln!(
            o,
            "  IXFR from       {}",
            oldest.map_or("no history (AXFR-style IXFR)".into(), |s| format!(
                "serial {s} on"
            ))
        );
        let allow: Vec<String> = spec
            .allow
            .iter()
            .map(|a| {
                let p = a.prefix.map(|(ip, l)| format!("{ip}/{l}"));
                let k = a.key.as_ref().map(|k| format!("key {k}"));
                [p, k].into_iter().flatten().collect::<Vec<_>>().join(" ")
            })
            .collect();
        let _ = writeln!(
            o,
            "  allow-transfer  {}",
            if allow.is_empty() {
                "nobody".into()
            } else {
                allow.join(", ")
            }
        );
        let now = zones::now_unix();
        let ago = |t: u64| format!("{}s ago", now.saturating_sub(t));
        if let Some((primaries, _)) = table.secondaries.get(zone) {
            let p: Vec<String> = primaries
                .iter()
                .map(|(a, k)| match k {
                    Some(k) => format!("{a} key {}", k.name),
                    None => a.to_string(),
                })
                .collect();
            let _ = writeln!(o, "\nsecondary of     {}", p.join(", "));
            let inc = table
                .incoming
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(zone)
                .cloned()
                .unwrap_or_default();
            let _ = writeln!(
                o,
                "  last heard     {}",
                inc.ok.map_or("never".into(), |(t, how, s, a)| {
                    format!("{how}, serial {s}, from {a}, {}", ago(t))
                })
            );
            if let Some((t, why)) = inc.failed {
                let _ = writeln!(o, "  last failure   {why}, {}", ago(t));
            }
            let _ = writeln!(
                o,
                "  state          {}",
                if inc.expired {
                    "EXPIRED: answered SERVFAIL until a primary answers"
                } else {
                    "serving"
                }
            );
        }
        let _ = writeln!(o, "\ntransfers (last per client)");
        let seen = table.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut any = false;
        for ((z, ip), s) in seen.iter().filter(|((z, _), _)| z == zone) {
            any = true;
            debug_assert_eq!(z, zone);
            let _ = writeln!(
                o,
                "  {ip}  {}{} -> serial {}, {}{}",
                s.how,
                s.had.map(|h| format!(" from {h}")).unwrap_or_default(),
                s.sent,
                ago(s.at),
                s.key
                    .as_ref()
                    .map(|k| format!(", key {k}"))
                    .unwrap_or_default()
            );
        }
        if !any {
            let _ = writeln!(o, "  none yet");
        }
        let _ = writeln!(o, "\nNOTIFY");
        let state = self
            .notifier
            .as_ref()
            .map(|n| n.state(zone))
            .unwrap_or_default();
        if state.is_empty() {
            let _ = writeln!(o, "  none sent yet");
        }
        for (addr, (sent, at, ack)) in state {
            let _ = writeln!(
                o,
                "  {addr}  serial {sent} sent {}; {}",
                ago(at),
                match ack {
                    Some((s, t)) => format!("acknowledged serial {s} {}", ago(t)),
                    None => "not acknowledged yet".into(),
                }
            );
        }
        Ok(o)
    }

    /// Takes a new configuration's zones and keys: zones added are served, zones
    /// removed are not, zones whose settings changed are reopened with them, and the
    /// rest read their files again. Settings of the server itself (listen addresses,
    /// threads, ...) take effect at the next start; a change to them is logged.
    /// Returns once every zone is done.
    pub fn reconfigure(&self, cfg: Config) -> Result<ReloadReport, Refusal> {
        reconfigure(&self.zones, &self.running, cfg)
    }

    /// Starts a reload of every zone (with the configuration read again, when the
    /// server was given a way to read it) and returns at once; the report is logged
    /// (and sent to `reply`) when the last zone is done.
    fn reload_in_background(&self, reply: Option<Sender<Result<String, Refusal>>>) {
        let zones = self.zones.clone();
        let reread = self.reread.clone();
        let running = self.running.clone();
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("reload".into())
            .spawn(move || {
                let report = match reread.map(|r| r()) {
                    None => Ok(zones.reload()),
                    Some(Ok(cfg)) => reconfigure(&zones, &running, cfg),
                    // A config that does not read changes nothing; the zones' files
                    // are read again all the same.
                    Some(Err(e)) => {
                        log::error(
                            "the config was not reloaded; zones keep their settings",
                            &[("reason", &e)],
                        );
                        let r = zones.reload();
                        log_reload(&shared.stats, &r);
                        shared.stats.reload_failures.add();
                        Err(Refusal::new(
                            blason_zone::Fault::Config,
                            format!(
                                "config not reloaded: {e}; the zone files were read again: {}",
                                r.text()
                            ),
                        ))
                    }
                };
                if let Ok(report) = &report {
                    log_reload(&shared.stats, report);
                }
                if let Some(r) = reply {
                    let _ = r.send(report.map(|r| r.text()));
                }
            });
        if let Err(e) = spawned {
            log::error("cannot start the reload", &[("reason", &e)]);
        }
    }

    /// Stops all workers and waits for them; removes the pid file.
    pub fn shutdown(mut self) {
        self.reread = None;
        // No commit is left half done: each zone finishes the job at hand.
        self.zones.stop();
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some((h, n)) = self.tcp.take() {
            n.notify_one();
            let _ = h.join();
        }
        for h in self.udp.drain(..) {
            let _ = h.join();
        }
        if let Some(p) = &self.pid_file {
            let _ = std::fs::remove_file(p);
        }
        log::info("stopped", &[]);
    }
}

/// Reads the configuration again, for a reload (the `blason` binary re-reads its
/// file and merges it with the flags of the start).
pub type Reread = Arc<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// [`Server::reconfigure`], from the reload thread.
fn reconfigure(
    zones: &zones::ZoneSet,
    running: &Config,
    cfg: Config,
) -> Result<ReloadReport, Refusal> {
    check(&cfg).map_err(|e| Refusal::new(blason_zone::Fault::Config, e.to_string()))?;
    // What only a restart changes.
    let restart: Vec<&str> = [
        ("listen", running.listen != cfg.listen),
        ("threads", running.udp_threads != cfg.udp_threads),
        (
            "tcp-idle-timeout",
            running.tcp_idle_timeout != cfg.tcp_idle_timeout,
        ),
        (
            "tcp-max-connections",
            running.tcp_max_connections != cfg.tcp_max_connections,
        ),
        ("query-log", running.query_log != cfg.query_log),
        (
            "version-string/identity",
            running.answer.version != cfg.answer.version
                || running.answer.identity != cfg.answer.identity,
        ),
        ("pid-file", running.pid_file != cfg.pid_file),
        ("poll-interval", running.poll_interval != cfg.poll_interval),
        ("state", running.state != cfg.state),
        (
            "dyndns",
            format!("{:?}", running.dyndns) != format!("{:?}", cfg.dyndns),
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect();
    if !restart.is_empty() {
        log::warn(
            "settings changed that take effect at the next start",
            &[("settings", &restart.join(","))],
        );
    }
    Ok(zones.reconfigure(cfg.zones, cfg.keys))
}

fn check(cfg: &Config) -> Result<(), Error> {
    if cfg.listen.is_empty() {
        return Err(Error::Config("no listen address".into()));
    }
    for (i, a) in cfg.zones.iter().enumerate() {
        if cfg.zones[..i].iter().any(|b| b.origin == a.origin) {
            return Err(Error::Config(format!("zone {} is given twice", a.origin)));
        }
    }
    Ok(())
}

/// Binds `threads` UDP sockets and one TCP listener on the same port. With port 0 the
/// first UDP socket picks the port; if TCP cannot have it too, try another.
fn bind_pair(
    addr: SocketAddr,
    threads: usize,
) -> Result<(Vec<UdpSocket>, std::net::TcpListener, SocketAddr), Error> {
    let attempts = if addr.port() == 0 { 20 } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let first = udp::bind(addr).map_err(|e| Error::Bind(addr, e))?;
        let bound = first.local_addr().map_err(|e| Error::Bind(addr, e))?;
        let tcp = match tcp::bind(bound) {
            Ok(t) => t,
            Err(e) => {
                last = Some(e);
                continue;
            }
        };
        let mut socks = vec![first];
        for _ in 1..threads {
            socks.push(udp::bind(bound).map_err(|e| Error::Bind(bound, e))?);
        }
        return Ok((socks, tcp, bound));
    }
    Err(Error::Bind(
        addr,
        last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into()),
    ))
}

fn start_tcp(
    listeners: Vec<std::net::TcpListener>,
    shared: Arc<Shared>,
    max_conns: usize,
) -> Result<(JoinHandle<()>, Arc<tokio::sync::Notify>), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| Error::Io("cannot start the tcp runtime", e))?;
    let stop = Arc::new(tokio::sync::Notify::new());
    let slots = Arc::new(tokio::sync::Semaphore::new(max_conns.max(1)));
    let pressure = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tl = Vec::new();
    {
        let _guard = rt.enter();
        for l in listeners {
            tl.push(
                tokio::net::TcpListener::from_std(l).map_err(|e| Error::Io("tcp listener", e))?,
            );
        }
    }
    let stop2 = stop.clone();
    let h = std::thread::Builder::new()
        .name("tcp".into())
        .spawn(move || {
            for l in tl {
                rt.spawn(tcp::accept_loop(
                    l,
                    shared.clone(),
                    slots.clone(),
                    max_conns.max(1),
                    pressure.clone(),
                ));
            }
            rt.block_on(stop2.notified());
            // Open connections are cut; clients retry, as after any restart.
            rt.shutdown_timeout(Duration::from_millis(500));
        })
        .map_err(|e| Error::Io("cannot start the tcp thread", e))?;
    Ok((h, stop))
}

/// Starts the server and runs the control loop on the calling thread until SIGTERM or
/// SIGINT: SIGHUP reloads every zone. Signals are hooked before any socket opens, so
/// an early SIGHUP cannot kill the process.
pub fn run(cfg: Config) -> Result<(), Error> {
    run_with(cfg, |_| {})
}

/// What wakes the control loop.
enum Event {
    Signal(i32),
    Control(control::Request),
}

/// [`run`], calling `on_start` once the server listens (e.g. to print the real ports).
pub fn run_with(cfg: Config, on_start: impl FnOnce(&Server)) -> Result<(), Error> {
    run_reloading(cfg, on_start, None)
}

/// [`run_with`], with SIGHUP and `blason reload` reading the configuration again
/// through `reread`: zones added to it are served, zones removed are not.
pub fn run_reloading(
    cfg: Config,
    on_start: impl FnOnce(&Server),
    reread: Option<Reread>,
) -> Result<(), Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGHUP, SIGINT, SIGTERM])
        .map_err(|e| Error::Io("cannot install signal handlers", e))?;
    let control_path = cfg.control.clone();
    let mut server = Server::start(cfg)?;
    server.reread = reread;
    // Signals and control requests arrive through one channel; the query threads
    // never see any of this.
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(path) = &control_path {
        let (ctx, crx) = std::sync::mpsc::channel();
        control::listen(path, ctx).map_err(|e| Error::Io("cannot open the control socket", e))?;
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("control-fwd".into())
            .spawn(move || {
                for r in crx {
                    if tx.send(Event::Control(r)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| Error::Io("cannot start the control thread", e))?;
        log::info("control socket", &[("path", &path.display())]);
    }
    on_start(&server);
    let handle = signals.handle();
    let forwarder = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                if tx.send(Event::Signal(sig)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| Error::Io("cannot start the signal thread", e))?;
    // Zones run on their own workers; this loop only hands on signals and commands,
    // so it never waits for a zone.
    for event in rx {
        match event {
            Event::Signal(SIGHUP) => {
                log::info("SIGHUP: reloading zones", &[]);
                server.reload_in_background(None);
            }
            Event::Signal(sig) => {
                log::info(
                    "shutting down",
                    &[("signal", &if sig == SIGTERM { "SIGTERM" } else { "SIGINT" })],
                );
                break;
            }
            Event::Control((cmd, reply)) => server.control(cmd, reply),
        }
    }
    handle.close();
    let _ = forwarder.join();
    if let Some(p) = &control_path {
        let _ = std::fs::remove_file(p);
    }
    server.shutdown();
    Ok(())
}

fn log_reload(stats: &stats::Stats, report: &ReloadReport) {
    stats.reloads.add();
    if !report.kept.is_empty() {
        stats.reload_failures.add();
    }
    let names = |l: &[blason_zone::Name]| {
        l.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let (added, removed) = (names(&report.added), names(&report.removed));
    let kept = report.kept.len();
    let mut fields: Vec<(&str, &dyn fmt::Display)> =
        vec![("replaced", &report.replaced), ("kept_old", &kept)];
    if !added.is_empty() {
        fields.push(("added", &added));
    }
    if !removed.is_empty() {
        fields.push(("removed", &removed));
    }
    log::info("reload complete", &fields);
}
