//! Counters for `/metrics`, and their Prometheus text (exposition format 0.0.4).
//!
//! Each UDP worker owns a [`Counters`] that only it writes (a relaxed load and
//! store: no locked instruction on the hot path); the scraper sums them. TCP and
//! the rest of the server count with atomic adds.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A counter.
#[derive(Default)]
pub struct C(AtomicU64);

impl C {
    /// Adds one; for a counter written by one thread only.
    #[inline]
    pub fn bump(&self) {
        self.0
            .store(self.0.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
    /// Adds one from any thread.
    #[inline]
    pub fn add(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Query types counted one by one (0 to 259: every type in use but the private
/// ranges); others count as "other".
const TYPES: usize = 260;

/// What one query path counts.
pub struct Counters {
    pub protocol: &'static str,
    /// Written by one thread only (a UDP worker).
    single: bool,
    pub queries: C,
    pub opcode: [C; 16],
    pub qtype: [C; TYPES],
    pub qtype_other: C,
    /// Responses sent, by RCODE (extended ones to 23, BADCOOKIE).
    pub rcode: [C; 24],
    pub rrl_dropped: C,
    pub rrl_slipped: C,
    pub rrl_would: C,
    pub cookie_client_only: C,
    pub cookie_valid: C,
    pub cookie_invalid: C,
}

impl Counters {
    pub fn new(protocol: &'static str, single: bool) -> Counters {
        Counters {
            protocol,
            single,
            queries: C::default(),
            opcode: Default::default(),
            qtype: std::array::from_fn(|_| C::default()),
            qtype_other: C::default(),
            rcode: Default::default(),
            rrl_dropped: C::default(),
            rrl_slipped: C::default(),
            rrl_would: C::default(),
            cookie_client_only: C::default(),
            cookie_valid: C::default(),
            cookie_invalid: C::default(),
        }
    }

    #[inline]
    pub fn inc(&self, c: &C) {
        if self.single {
            c.bump()
        } else {
            c.add()
        }
    }

    /// A query arrived: its opcode and, when it has a question, its type.
    #[inline]
    pub fn query(&self, packet: &[u8], qtype: Option<u16>) {
        self.inc(&self.queries);
        if let Some(&b) = packet.get(2) {
            self.inc(&self.opcode[usize::from((b >> 3) & 0xF)]);
        }
        if let Some(t) = qtype {
            match self.qtype.get(usize::from(t)) {
                Some(c) => self.inc(c),
                None => self.inc(&self.qtype_other),
            }
        }
    }

    /// A response went out with this RCODE.
    #[inline]
    pub fn response(&self, rcode: u16) {
        if let Some(c) = self.rcode.get(usize::from(rcode)) {
            self.inc(c);
        }
    }
}

/// The RCODE of a response we made (the OPT's upper bits for BADVERS, BADCOOKIE).
pub fn rcode_of(resp: &[u8], extended: Option<u16>) -> u16 {
    extended.unwrap_or_else(|| resp.get(3).map_or(0, |b| u16::from(b & 0xF)))
}

/// Server-wide counters and gauges.
#[derive(Default)]
pub struct Stats {
    /// Every query path's counters (UDP workers, TCP).
    paths: Mutex<Vec<Arc<Counters>>>,
    pub tcp_open: AtomicU64,
    pub tcp_accepted: C,
    pub tcp_refused_total: C,
    pub tcp_refused_client: C,
    pub tcp_closed_idle: C,
    pub tcp_query_limit: C,
    pub reloads: C,
    pub reload_failures: C,
    pub updates_ok: C,
    pub updates_refused: C,
    /// Zone transfers asked of this server over TCP.
    pub axfr: C,
    pub ixfr: C,
}

impl Stats {
    /// An update was answered with `reply`.
    pub fn updated(&self, reply: &[u8]) {
        match reply.get(3).map(|b| b & 0xF) {
            Some(0) => self.updates_ok.add(),
            _ => self.updates_refused.add(),
        }
    }

    pub fn register(&self, c: Arc<Counters>) {
        self.paths.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }
}

/// Where a signed zone's keys stand, as its DNSSEC worker last saw them.
#[derive(Clone, Debug, Default)]
pub struct ZoneDnssec {
    /// Earliest RRSIG expiration served (unix seconds; 0: none).
    pub earliest_expiry: u64,
    /// The stage of the roll in progress (1-based; 0: none), of `stages`.
    pub roll_stage: u64,
    pub roll_stages: u64,
    /// When the planner next acts (unix seconds; 0: nothing planned).
    pub next_step: u64,
}

/// Zones' DNSSEC gauges by origin. Process-wide so each zone's worker can set its
/// own without a handle on the server (several servers in one process are tests,
/// which serve different zones).
static DNSSEC: Mutex<BTreeMap<String, ZoneDnssec>> = Mutex::new(BTreeMap::new());

pub fn set_zone_dnssec(origin: &blason_zone::Name, d: ZoneDnssec) {
    DNSSEC
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(origin.to_lowercase().to_string(), d);
}

/// A zone as the scraper sees it.
pub struct ZoneView {
    pub origin: String,
    pub serial: Option<u32>,
}

const OPCODES: [&str; 16] = [
    "QUERY", "IQUERY", "STATUS", "OPCODE3", "NOTIFY", "UPDATE", "DSO", "OPCODE7", "OPCODE8",
    "OPCODE9", "OPCODE10", "OPCODE11", "OPCODE12", "OPCODE13", "OPCODE14", "OPCODE15",
];

const RCODES: [&str; 24] = [
    "NOERROR",
    "FORMERR",
    "SERVFAIL",
    "NXDOMAIN",
    "NOTIMP",
    "REFUSED",
    "YXDOMAIN",
    "YXRRSET",
    "NXRRSET",
    "NOTAUTH",
    "NOTZONE",
    "DSOTYPENI",
    "RCODE12",
    "RCODE13",
    "RCODE14",
    "RCODE15",
    "BADVERS",
    "BADKEY",
    "BADTIME",
    "BADMODE",
    "BADNAME",
    "BADALG",
    "BADTRUNC",
    "BADCOOKIE",
];

/// The Prometheus text of everything counted, and of `zones`.
pub fn render(stats: &Stats, zones: &[ZoneView]) -> String {
    let paths: Vec<Arc<Counters>> = stats
        .paths
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let mut o = String::with_capacity(8192);
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    let sum = |f: &dyn Fn(&Counters) -> u64, proto: Option<&str>| -> u64 {
        paths
            .iter()
            .filter(|c| proto.is_none_or(|p| c.protocol == p))
            .map(|c| f(c))
            .sum()
    };
    let protos = ["udp", "tcp"];

    family(
        &mut o,
        "blason_queries_total",
        "counter",
        "DNS messages received, by transport.",
    );
    for p in protos {
        let _ = writeln!(
            o,
            "blason_queries_total{{protocol=\"{p}\"}} {}",
            sum(&|c| c.queries.get(), Some(p))
        );
    }
    family(
        &mut o,
        "blason_query_opcodes_total",
        "counter",
        "DNS messages received, by opcode.",
    );
    for (i, name) in OPCODES.iter().enumerate() {
        let n = sum(&|c| c.opcode[i].get(), None);
        if n > 0 || i == 0 {
            let _ = writeln!(o, "blason_query_opcodes_total{{opcode=\"{name}\"}} {n}");
        }
    }
    family(
        &mut o,
        "blason_query_types_total",
        "counter",
        "Queries received, by question type.",
    );
    for i in 0..TYPES {
        let n = sum(&|c| c.qtype[i].get(), None);
        if n > 0 {
            let t = blason_zone::Rtype(i as u16);
            let _ = writeln!(o, "blason_query_types_total{{type=\"{t}\"}} {n}");
        }
    }
    let other = sum(&|c| c.qtype_other.get(), None);
    if other > 0 {
        let _ = writeln!(o, "blason_query_types_total{{type=\"other\"}} {other}");
    }
    family(
        &mut o,
        "blason_responses_total",
        "counter",
        "Responses sent, by RCODE.",
    );
    for (i, name) in RCODES.iter().enumerate() {
        let n = sum(&|c| c.rcode[i].get(), None);
        if n > 0 || i == 0 {
            let _ = writeln!(o, "blason_responses_total{{rcode=\"{name}\"}} {n}");
        }
    }
    family(&mut o, "blason_rrl_responses_total", "counter", "UDP responses the rate limit acted on: dropped, sent truncated (slipped), or only logged (log-only mode).");
    for (label, f) in [
        (
            "dropped",
            &(|c: &Counters| c.rrl_dropped.get()) as &dyn Fn(&Counters) -> u64,
        ),
        ("slipped", &|c: &Counters| c.rrl_slipped.get()),
        ("logged", &|c: &Counters| c.rrl_would.get()),
    ] {
        let _ = writeln!(
            o,
            "blason_rrl_responses_total{{action=\"{label}\"}} {}",
            sum(f, None)
        );
    }
    family(&mut o, "blason_cookies_total", "counter", "Queries with a DNS cookie, by what it proved: client-only (first contact), valid (a server cookie of ours), invalid.");
    for (label, f) in [
        (
            "client-only",
            &(|c: &Counters| c.cookie_client_only.get()) as &dyn Fn(&Counters) -> u64,
        ),
        ("valid", &|c: &Counters| c.cookie_valid.get()),
        ("invalid", &|c: &Counters| c.cookie_invalid.get()),
    ] {
        let _ = writeln!(
            o,
            "blason_cookies_total{{state=\"{label}\"}} {}",
            sum(f, None)
        );
    }
    family(
        &mut o,
        "blason_tcp_connections",
        "gauge",
        "TCP connections open now.",
    );
    let _ = writeln!(
        o,
        "blason_tcp_connections {}",
        stats.tcp_open.load(Ordering::Relaxed)
    );
    family(
        &mut o,
        "blason_tcp_connections_total",
        "counter",
        "TCP connections accepted.",
    );
    let _ = writeln!(
        o,
        "blason_tcp_connections_total {}",
        stats.tcp_accepted.get()
    );
    family(
        &mut o,
        "blason_tcp_closed_total",
        "counter",
        "TCP connections closed by the server, by reason.",
    );
    for (label, c) in [
        ("limit-total", &stats.tcp_refused_total),
        ("limit-client", &stats.tcp_refused_client),
        ("idle", &stats.tcp_closed_idle),
        ("query-limit", &stats.tcp_query_limit),
    ] {
        let _ = writeln!(
            o,
            "blason_tcp_closed_total{{reason=\"{label}\"}} {}",
            c.get()
        );
    }
    family(
        &mut o,
        "blason_reloads_total",
        "counter",
        "Reloads carried out (SIGHUP, blason reload).",
    );
    let _ = writeln!(o, "blason_reloads_total {}", stats.reloads.get());
    family(
        &mut o,
        "blason_reload_failures_total",
        "counter",
        "Reloads in which some zone kept its old data.",
    );
    let _ = writeln!(
        o,
        "blason_reload_failures_total {}",
        stats.reload_failures.get()
    );
    family(
        &mut o,
        "blason_updates_total",
        "counter",
        "Dynamic updates (RFC 2136), by result: applied (NOERROR) or rejected (any other RCODE).",
    );
    let _ = writeln!(
        o,
        "blason_updates_total{{result=\"applied\"}} {}",
        stats.updates_ok.get()
    );
    let _ = writeln!(
        o,
        "blason_updates_total{{result=\"rejected\"}} {}",
        stats.updates_refused.get()
    );

    family(
        &mut o,
        "blason_transfer_requests_total",
        "counter",
        "Zone transfers asked for over TCP, by type (refused ones included).",
    );
    let _ = writeln!(
        o,
        "blason_transfer_requests_total{{type=\"AXFR\"}} {}",
        stats.axfr.get()
    );
    let _ = writeln!(
        o,
        "blason_transfer_requests_total{{type=\"IXFR\"}} {}",
        stats.ixfr.get()
    );
    family(
        &mut o,
        "blason_zone_serial",
        "gauge",
        "SOA serial served, by zone.",
    );
    for z in zones {
        if let Some(s) = z.serial {
            let _ = writeln!(o, "blason_zone_serial{{zone=\"{}\"}} {s}", label(&z.origin));
        }
    }
    let dnssec = DNSSEC.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let signed: Vec<(&ZoneView, &ZoneDnssec)> = zones
        .iter()
        .filter_map(|z| dnssec.get(&z.origin).map(|d| (z, d)))
        .collect();
    type Get = fn(&ZoneDnssec) -> u64;
    for (name, help, get) in [
        (
            "blason_zone_signature_expiry_earliest_timestamp_seconds",
            "Earliest RRSIG expiration served (unix time), by signed zone.",
            (|d| d.earliest_expiry) as Get,
        ),
        (
            "blason_zone_key_roll_stage",
            "Stage of the key roll in progress (0: none), by signed zone.",
            |d| d.roll_stage,
        ),
        (
            "blason_zone_key_roll_stages",
            "Stages of the key roll in progress (0: none), by signed zone.",
            |d| d.roll_stages,
        ),
        (
            "blason_zone_key_roll_next_step_timestamp_seconds",
            "When the key planner next acts (unix time; 0: nothing planned), by signed zone.",
            |d| d.next_step,
        ),
    ] {
        family(&mut o, name, "gauge", help);
        for (z, d) in &signed {
            let _ = writeln!(o, "{name}{{zone=\"{}\"}} {}", label(&z.origin), get(d));
        }
    }
    o
}

/// A label value, escaped (zone names may hold any byte in presentation form).
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
