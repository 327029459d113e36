//! Key rollovers in real time, with shrunk timings, under a validating resolver.
//!
//! The parent zone `roll.test.` is served and signed by one `blason serve` (two in one
//! test); the child `child.roll.test.` by another, on another loopback port, with a
//! policy of TTLs of 2 seconds and delays of 1. Unbound has the parent's DS as its trust anchor
//! and a stub for each zone. The test plays the registrar the way an RFC 7344
//! CDS-scanning parent does: every second it asks Unbound for the child's CDS, and when
//! a validated CDS RRset differs from the DS RRset at the parent, it writes the new DS
//! set into the parent's zone file and has the parent reload.
//!
//! The rolls:
//! - a ZSK roll when the ZSK's 60-second lifetime runs out;
//! - a KSK roll asked for with `blason dnssec roll --ksk`, with its DS change, and a CSK
//!   roll asked for with `--csk`;
//! - an algorithm roll from an RSASHA256 CSK to an ECDSAP256SHA256 one, started by
//!   changing the policy and restarting the child;
//! - a KSK roll (ED25519, NSEC3) with a registrar that waits for a stable CDS, and the
//!   child restarted halfway;
//! - a ZSK and a KSK roll by age that overlap;
//! - a KSK roll with two servers for the parent zone, one getting each DS change 8
//!   seconds after the other (the child polls both).
//!
//! While a roll runs, a thread resolves a fixed set of names of both zones through
//! Unbound every second: positive answers, NXDOMAIN, NODATA, a wildcard, the DNSKEY,
//! CDS and DS RRsets. Every answer must have the expected status and the AD flag: zero
//! SERVFAIL, zero bogus or insecure. The key set must have changed at the end: the old
//! key tag gone from the DNSKEY RRset, the new one there, and for the KSK and algorithm
//! rolls the DS at the parent naming only the new key.
//!
//! Unbound is fenced to loopback as in validate.rs: stubs only at 127.0.0.1,
//! `do-ip6: no`, and `do-not-query-address` for every IPv4 block outside 127.0.0.0/8.
//! Its cache keeps the zones' own TTLs (`cache-max-ttl` is above all of them, so it
//! neither shortens nor stretches them) and the `val-*` settings are Unbound's defaults.
//!
//! Each test prints a timeline (`--nocapture` shows it when the test passes too) with
//! `blason dnssec status` at every change, and keeps its folder when it fails.

mod common;

use common::{
    dig, free_port, not_secure, start_knot_secondary, start_unbound_stubs, tool,
    unbound_log_failures, wait_ready, Kill,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const PARENT: &str = "roll.test.";
const CHILD: &str = "child.roll.test.";

/// Timings of the child's policy: 2-second TTLs, 1-second delays.
const TIMINGS: &str = "dnskey-ttl = 2, zone-max-ttl = 2, ds-ttl = 2, propagation-delay = 1, \
     publish-safety = 1, retire-safety = 1, parent-propagation-delay = 1, \
     registrar-delay = 60";

/// How long a roll may take, from its start to the old key gone.
const ROLL_TIMEOUT: Duration = Duration::from_secs(240);

const CHILD_ZONE: &str = r#"$ORIGIN child.roll.test.
$TTL 2
@          SOA   ns hostmaster 1 7200 3600 1209600 2
@          NS    ns
@          MX    10 mail
ns         A     127.0.0.1
mail       A     192.0.2.25
www        A     192.0.2.10
www        AAAA  2001:db8::10
*.wild     A     192.0.2.11
host.ent   A     192.0.2.12
"#;

/// What every round of the query loop asks Unbound, with the status it must get.
const CASES: &[(&str, &str, &str)] = &[
    ("www.child.roll.test.", "A", "NOERROR"),
    ("www.child.roll.test.", "AAAA", "NOERROR"),
    ("child.roll.test.", "MX", "NOERROR"),
    ("nx.child.roll.test.", "A", "NXDOMAIN"),
    ("www.child.roll.test.", "TXT", "NOERROR"),
    ("ent.child.roll.test.", "A", "NOERROR"),
    ("x.wild.child.roll.test.", "A", "NOERROR"),
    ("child.roll.test.", "DNSKEY", "NOERROR"),
    ("child.roll.test.", "CDS", "NOERROR"),
    ("child.roll.test.", "CDNSKEY", "NOERROR"),
    ("child.roll.test.", "DS", "NOERROR"),
    ("www.roll.test.", "A", "NOERROR"),
    ("nx.roll.test.", "A", "NXDOMAIN"),
    ("roll.test.", "DNSKEY", "NOERROR"),
];

/// The RRsets besides the DNSKEY RRset that only the KSK (or CSK) signs.
const KSK_SIGNED: &[(&str, &str, &str)] = &[
    ("child.roll.test.", "CDS", "NOERROR"),
    ("child.roll.test.", "CDNSKEY", "NOERROR"),
];

/// The timeline: each line with the test's name and the seconds since it started (the
/// tests run in parallel, so their lines interleave).
#[derive(Clone, Copy)]
struct Clock(Instant, &'static str);

impl Clock {
    fn say(&self, msg: &str) {
        let t = self.0.elapsed().as_secs_f64();
        // One write, so that lines of the tests running beside this one do not interleave.
        let text: String = msg
            .lines()
            .enumerate()
            .map(|(i, line)| {
                if i == 0 {
                    format!("[{:<9} {t:6.1}s] {line}\n", self.1)
                } else {
                    format!(" {:<18} {line}\n", self.1)
                }
            })
            .collect();
        eprint!("{text}");
    }

    fn secs(&self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

fn blason(args: &[&str]) -> Result<String, String> {
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(args)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "blason {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// One `blason serve`: its config, state folder, pid file, log and port. The process
/// is held apart (see [`Server::spawn`]) so the registrar thread can hold a copy.
#[derive(Clone)]
struct Server {
    name: String,
    config: PathBuf,
    state: PathBuf,
    pid_file: PathBuf,
    log: PathBuf,
    port: u16,
    /// A name it serves, asked to see that it is up.
    ready: String,
}

impl Server {
    /// `dir/<name>.toml` serving `zone_toml` on a free port, written but not started.
    fn new(dir: &Path, name: &str, zone_toml: &str, ready: &str) -> Server {
        let s = Server {
            name: name.to_string(),
            config: dir.join(format!("{name}.toml")),
            state: dir.join(format!("{name}-state")),
            pid_file: dir.join(format!("{name}.pid")),
            log: dir.join(format!("{name}.log")),
            port: free_port(),
            ready: ready.to_string(),
        };
        s.write_config(zone_toml);
        s
    }

    /// Writes the config: listen, state and pid file, then `zone_toml`.
    fn write_config(&self, zone_toml: &str) {
        std::fs::write(
            &self.config,
            format!(
                "listen = [\"127.0.0.1:{}\"]\nstate = \"{}\"\npid-file = \"{}\"\nthreads = 1\n\n{zone_toml}",
                self.port,
                self.state.display(),
                self.pid_file.display()
            ),
        )
        .unwrap();
    }

    /// Starts it and waits until it answers; Err with its log if it exits or never does.
    fn spawn(&self) -> Result<Kill, String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut process = Kill(
            Command::new(env!("CARGO_BIN_EXE_blason"))
                .arg("serve")
                .arg("--config")
                .arg(&self.config)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let start = Instant::now();
        loop {
            if let Some(code) = process.0.try_wait().unwrap() {
                return Err(format!(
                    "blason serve ({}) exited ({code}):\n{}",
                    self.name,
                    self.log_tail(20)
                ));
            }
            if self.pid_file.exists()
                && dig(
                    self.port,
                    &self.ready,
                    "A",
                    &["+norec", "+time=1", "+tries=1"],
                )
                .0 == "NOERROR"
            {
                return Ok(process);
            }
            if start.elapsed() > Duration::from_secs(60) {
                return Err(format!(
                    "blason serve ({}) does not answer for {}:\n{}",
                    self.name,
                    self.ready,
                    self.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops `process` the way an operator would (SIGTERM), then starts it again.
    fn restart(&self, process: Kill) -> Result<Kill, String> {
        let mut process = process;
        let term = Command::new("kill")
            .arg("-TERM")
            .arg(process.0.id().to_string())
            .status();
        if !term.is_ok_and(|s| s.success()) {
            // No kill(1): stop it hard; the state is saved before each step is served.
            let _ = process.0.kill();
        }
        let start = Instant::now();
        while process.0.try_wait().unwrap().is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("{} did not stop on SIGTERM", self.name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&self.pid_file);
        self.spawn()
    }

    fn reload(&self) -> Result<String, String> {
        blason(&["reload", "--pid-file", self.pid_file.to_str().unwrap()])
    }

    fn state_arg(&self) -> &str {
        self.state.to_str().unwrap()
    }

    /// `blason dnssec status` of `zone`, with the policy from the config.
    fn status(&self, zone: &str) -> String {
        blason(&[
            "dnssec",
            "status",
            zone,
            "--state",
            self.state_arg(),
            "--config",
            self.config.to_str().unwrap(),
        ])
        .unwrap_or_else(|e| e)
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// The parent's zone file, with `ds` (rdata texts) as the child's DS RRset.
fn parent_zone(serial: u32, ds: &BTreeSet<String>) -> String {
    let mut z = format!(
        "$ORIGIN roll.test.
$TTL 2
@          SOA   ns hostmaster {serial} 7200 3600 1209600 2
@          NS    ns
ns         A     127.0.0.1
www        A     192.0.2.1
*.wild     A     192.0.2.2
child      NS    ns.child
ns.child   A     127.0.0.1
"
    );
    for d in ds {
        z += &format!("child      DS    {d}\n");
    }
    z
}

/// Answer-section records of `qtype` in dig's output, as rdata text with the digest or
/// key in one piece (dig splits long ones with spaces).
fn rdata_of(text: &str, qtype: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 7 && f[3] == qtype)
                .then(|| format!("{} {} {} {}", f[4], f[5], f[6], f[7..].concat()))
        })
        .collect()
}

/// (tag, algorithm) of a DS or CDS rdata text.
fn ds_tag(rdata: &str) -> (u16, u8) {
    let mut f = rdata.split_whitespace();
    (
        f.next().unwrap().parse().unwrap(),
        f.next().unwrap().parse().unwrap(),
    )
}

/// The DS RRset the parent at `port` serves for the child, asked directly.
fn parent_ds(port: u16) -> BTreeSet<String> {
    let (_, _, text) = dig(port, CHILD, "DS", &["+norec"]);
    rdata_of(&text, "DS").into_iter().collect()
}

/// (flags, algorithm, tag) of every DNSKEY the child at `port` serves, asked directly.
fn served_keys(port: u16) -> BTreeSet<(u16, u8, u16)> {
    let (_, _, text) = dig(port, CHILD, "DNSKEY", &["+norec", "+multi"]);
    let mut keys = BTreeSet::new();
    let mut pending: Option<(u16, u8)> = None;
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if !l.starts_with(';') && f.len() > 6 && f[3] == "DNSKEY" {
            pending = Some((f[4].parse().unwrap(), f[6].parse().unwrap()));
        }
        if let (Some((flags, alg)), Some(id)) = (pending, l.split("key id = ").nth(1)) {
            keys.insert((flags, alg, id.trim().parse().unwrap()));
            pending = None;
        }
    }
    keys
}

/// One server of the parent zone, with its own copy of the zone file.
struct ParentServer {
    server: Server,
    /// The zone file's name in the test's folder.
    file: &'static str,
    /// How long after the registrar's decision this server gets the new DS set.
    lag: Duration,
    /// A DS set it is to get, and when.
    due: Option<(BTreeSet<String>, Instant)>,
}

/// The registrar: acts on the child's validated CDS RRset as a CDS-scanning parent.
struct Registrar {
    dir: PathBuf,
    parents: Vec<ParentServer>,
    /// The DS set decided last.
    ds: BTreeSet<String>,
    serial: u32,
    /// (seconds since start, DS set) each time the DS set was changed.
    changes: Vec<(f64, BTreeSet<String>)>,
    /// CDS answers that did not validate or could not be acted on.
    problems: Vec<String>,
}

impl Registrar {
    /// Decides on `ds`: each parent server gets it after its lag (see [`Self::tick`]).
    fn decide(&mut self, ds: BTreeSet<String>, clock: Clock) -> Result<(), String> {
        self.ds = ds.clone();
        self.changes.push((clock.secs(), ds.clone()));
        for p in &mut self.parents {
            p.due = Some((ds.clone(), Instant::now() + p.lag));
        }
        self.tick(clock)
    }

    /// Writes the DS set into the zone of each parent server whose turn has come, has it
    /// reload and waits until it serves the set.
    fn tick(&mut self, clock: Clock) -> Result<(), String> {
        for (i, p) in self.parents.iter_mut().enumerate() {
            let Some((ds, at)) = p.due.clone() else {
                continue;
            };
            if Instant::now() < at {
                continue;
            }
            p.due = None;
            self.serial += 1;
            let file = self.dir.join(p.file);
            let tmp = self.dir.join(format!("{}.tmp", p.file));
            std::fs::write(&tmp, parent_zone(self.serial, &ds)).unwrap();
            std::fs::rename(&tmp, &file).unwrap();
            p.server.reload()?;
            let start = Instant::now();
            while parent_ds(p.server.port) != ds {
                if start.elapsed() > Duration::from_secs(15) {
                    return Err(format!(
                        "parent server {} does not serve the new DS set {ds:?} 15 s after its reload:\n{}",
                        i + 1,
                        p.server.log_tail(10)
                    ));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            clock.say(&format!("registrar: parent server {} serves {ds:?}", i + 1));
        }
        Ok(())
    }
}

/// Tallies of the query loop.
#[derive(Default)]
struct Tally {
    rounds: u64,
    queries: u64,
    servfail: u64,
    /// Expected status, but without AD.
    not_ad: u64,
    /// Any other status (or no answer at all).
    wrong: u64,
    /// The first failures, in full.
    first: Vec<String>,
    /// (seconds since start, case) of every failure.
    times: Vec<(f64, String)>,
}

impl Tally {
    fn failures(&self) -> u64 {
        self.servfail + self.not_ad + self.wrong
    }
}

/// The type codes of the types in [`CASES`] and [`KSK_SIGNED`].
fn type_code(qtype: &str) -> u16 {
    match qtype {
        "A" => 1,
        "SOA" => 6,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "DS" => 43,
        "DNSKEY" => 48,
        "CDS" => 59,
        "CDNSKEY" => 60,
        _ => panic!("no type code for {qtype}"),
    }
}

/// One query over UDP with the DO bit, without a process per query: the rcode's name
/// and the AD flag, or None when no whole answer came (then [`dig`] asks again, over
/// TCP if need be, and shows the answer).
fn quick(port: u16, name: &str, qtype: &str) -> Option<(String, bool)> {
    use std::net::UdpSocket;
    let id: u16 = rand_id();
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    // RD; one question; one additional (OPT).
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    for label in name.trim_end_matches('.').split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&type_code(qtype).to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    // OPT: root owner, 1232-byte payload, DO.
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0x80, 0, 0, 0]);
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    sock.connect(("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        sock.send(&q).ok()?;
        let Ok(n) = sock.recv(&mut buf) else {
            continue;
        };
        if n < 12 || buf[..2] != id.to_be_bytes() {
            continue;
        }
        if buf[2] & 0x02 != 0 {
            return None; // truncated
        }
        let status = match buf[3] & 0x0f {
            0 => "NOERROR".to_string(),
            2 => "SERVFAIL".to_string(),
            3 => "NXDOMAIN".to_string(),
            5 => "REFUSED".to_string(),
            r => format!("RCODE{r}"),
        };
        return Some((status, buf[3] & 0x20 != 0));
    }
    None
}

/// A query id that differs from call to call.
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish() as u16
}

/// Asks Unbound at `port` each of `cases` and counts in `tally` what is not the status
/// wanted with AD set; a failure is asked again with `dig` for the timeline.
fn ask(port: u16, cases: &[(&str, &str, &str)], tally: &Mutex<Tally>, clock: Clock) {
    let mut round = Vec::new();
    for &(name, qtype, want) in cases {
        let (status, ad, text) = match quick(port, name, qtype) {
            Some((status, ad)) if status == want && ad => (status, ad, String::new()),
            Some((status, ad)) => (status, ad, dig(port, name, qtype, &[]).2),
            None => dig(port, name, qtype, &[]),
        };
        round.push((name, qtype, want, status, ad, text));
    }
    let t = clock.secs();
    let mut tl = tally.lock().unwrap();
    tl.rounds += 1;
    for (name, qtype, want, status, ad, text) in round {
        tl.queries += 1;
        if status == want && ad {
            continue;
        }
        if status == "SERVFAIL" {
            tl.servfail += 1;
        } else if status == want {
            tl.not_ad += 1;
        } else {
            tl.wrong += 1;
        }
        let case = format!("{name} {qtype}: {status} (want {want}), AD {ad}");
        clock.say(&format!("FAILURE {case}"));
        if tl.first.len() < 5 {
            tl.first.push(format!(
                "at {t:.1}s {case}\n(asked again with dig:)\n{text}"
            ));
        }
        tl.times.push((t, case));
    }
}

/// A thread repeating `f` every `every` until stopped.
struct Loop {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Loop {
    fn start(every: Duration, mut f: impl FnMut() + Send + 'static) -> Loop {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let round = Instant::now();
                f();
                if let Some(rest) = every.checked_sub(round.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
        });
        Loop {
            stop,
            handle: Some(handle),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The child's `[[zone]]` table with this policy (inside `dnssec = { ... }`), polling
/// the parent's servers at `parent_ports` for the DS.
fn child_toml(policy: &str, parent_ports: &[u16], xfr: &str) -> String {
    let parents: Vec<String> = parent_ports
        .iter()
        .map(|p| format!("\"127.0.0.1:{p}\""))
        .collect();
    format!(
        "[[zone]]\norigin = \"{CHILD}\"\nfile = \"child.roll.test.zone\"\n\
         dnssec = {{ {policy}, {TIMINGS} }}\ndnssec-parent = [{}]\n{xfr}",
        parents.join(", ")
    )
}

/// Copies the key files of every zone under `from` (a state folder) to `to`.
fn copy_keys(from: &Path, to: &Path) {
    for zone in std::fs::read_dir(from).unwrap() {
        let zone = zone.unwrap().path();
        let keys = zone.join("keys");
        if !keys.is_dir() {
            continue;
        }
        let dest = to.join(zone.file_name().unwrap()).join("keys");
        std::fs::create_dir_all(&dest).unwrap();
        for f in std::fs::read_dir(&keys).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dest.join(f.file_name().unwrap())).unwrap();
        }
    }
}

/// `blason dnssec status` without what changes by the second (times, countdowns and
/// whatever is in parentheses), so that the timeline shows it again only when a key, a
/// record's phase or a step changed.
fn steady(status: &str) -> String {
    status
        .lines()
        .filter(|l| !l.starts_with("signing"))
        .map(|l| {
            let mut out = String::new();
            let mut depth = 0u32;
            for c in l.chars() {
                match c {
                    '(' => depth += 1,
                    ')' => depth = depth.saturating_sub(1),
                    c if depth == 0 && !c.is_ascii_digit() => out.push(c),
                    _ => {}
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// True when `blason dnssec status` shows no roll, no request and every record settled
/// (omnipresent or hidden).
fn settled(status: &str) -> bool {
    status.contains("roll: none in progress")
        && !status.contains("request")
        && !status.contains("rumoured")
        && !status.contains("unretentive")
}

/// How a test starts its roll, once everything is secure and the resolver is busy.
enum Start {
    /// The key's lifetime runs out.
    Age,
    /// `blason dnssec roll CHILD <flag>`.
    Command(&'static str),
    /// The child's policy becomes this, then the child reloads.
    Policy(&'static str),
}

struct Roll {
    name: &'static str,
    /// The child's policy at the start (inside `dnssec = { ... }`).
    policy: &'static str,
    start: Start,
    /// Flags of the keys that must be replaced: 256 for the ZSK, 257 for the KSK/CSK.
    rolled: &'static [u16],
    /// The algorithm every key has once the roll is over.
    algorithm_after: u8,
    /// The DS at the parent must change.
    ds_changes: bool,
    /// The registrar acts on a CDS RRset only once it has stayed the same this long
    /// (seconds), as parents that wait for a stable CDS do.
    registrar_lag: u64,
    /// Restart the child (SIGTERM, then `blason serve` again) once its status shows
    /// this text: the roll must go on from the saved state.
    restart_at: Option<&'static str>,
    /// A second server for the parent zone that gets each DS change this many seconds
    /// after the first (the child polls both).
    second_parent: Option<u64>,
    /// The resolver asks a Knot secondary of the child, fed by AXFR/IXFR and NOTIFY,
    /// instead of blason itself.
    via_secondary: bool,
}

fn run(roll: Roll) {
    let (Some(unbound), Some(_)) = (tool("unbound"), tool("dig")) else {
        eprintln!("SKIP {}: unbound or dig missing", roll.name);
        return;
    };
    let clock = Clock(Instant::now(), roll.name);
    let dir =
        std::env::temp_dir().join(format!("blason-roll-{}-{}", roll.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    clock.say(&format!("{}: folder {}", roll.name, dir.display()));

    // The parent, signed, at first without a DS for the child.
    std::fs::write(dir.join("roll.test.zone"), parent_zone(1, &BTreeSet::new())).unwrap();
    let parent = Server::new(
        &dir,
        "parent",
        &format!(
            "[[zone]]\norigin = \"{PARENT}\"\nfile = \"roll.test.zone\"\n\
             dnssec = {{ dnskey-ttl = 2, zone-max-ttl = 2 }}\n"
        ),
        "www.roll.test.",
    );
    let _parent_process = parent.spawn().unwrap();
    let anchor = blason(&["dnssec", "ds", PARENT, "--state", parent.state_arg()]).unwrap();
    let anchor = anchor
        .lines()
        .find(|l| l.contains(" DS "))
        .expect("a DS line for the parent")
        .to_string();
    std::fs::write(dir.join("anchor"), format!("{anchor}\n")).unwrap();

    // A second server for the parent zone, started once the first DS is in.
    let parent2 = roll.second_parent.map(|lag| {
        let p2 = Server::new(
            &dir,
            "parent2",
            &format!(
                "[[zone]]\norigin = \"{PARENT}\"\nfile = \"roll.test.2.zone\"\n\
                 dnssec = {{ dnskey-ttl = 2, zone-max-ttl = 2 }}\n"
            ),
            "www.roll.test.",
        );
        (p2, Duration::from_secs(lag))
    });
    let mut parent_ports = vec![parent.port];
    parent_ports.extend(parent2.as_ref().map(|(p, _)| p.port));

    // The child, signed at its first load; with a secondary, it allows transfers and
    // tells the secondary of each serial (not its NS targets: their address is ours).
    std::fs::write(dir.join("child.roll.test.zone"), CHILD_ZONE).unwrap();
    let knot_port = free_port();
    let xfr = if roll.via_secondary {
        format!(
            "allow-transfer = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1:{knot_port}\"]\nnotify-ns = false\n"
        )
    } else {
        String::new()
    };
    let child = Server::new(
        &dir,
        "child",
        &child_toml(roll.policy, &parent_ports, &xfr),
        "www.child.roll.test.",
    );
    let mut child_process = child.spawn().unwrap();
    let _knot = roll.via_secondary.then(|| {
        let k = start_knot_secondary(&dir, CHILD, child.port, knot_port)
            .expect("knotd is needed for a roll through a secondary");
        clock.say(&format!(
            "Knot secondary of the child at 127.0.0.1:{knot_port}"
        ));
        k
    });
    let child_answers = if roll.via_secondary {
        knot_port
    } else {
        child.port
    };
    clock.say(&format!(
        "parent at 127.0.0.1:{}, child at 127.0.0.1:{}\nchild status:\n{}",
        parent.port,
        child.port,
        child.status(CHILD)
    ));

    // The first DS goes to the parent by hand, as at a registrar's web form.
    let first_ds: BTreeSet<String> = blason(&["dnssec", "ds", CHILD, "--state", child.state_arg()])
        .unwrap()
        .lines()
        .filter(|l| l.contains(" DS "))
        .map(|l| l.split(" DS ").nth(1).unwrap().trim().to_string())
        .collect();
    assert!(!first_ds.is_empty(), "no DS for the child");
    let mut registrar = Registrar {
        dir: dir.clone(),
        parents: vec![ParentServer {
            server: parent.clone(),
            file: "roll.test.zone",
            lag: Duration::ZERO,
            due: None,
        }],
        ds: BTreeSet::new(),
        serial: 1,
        changes: Vec::new(),
        problems: Vec::new(),
    };
    registrar.decide(first_ds.clone(), clock).unwrap();
    registrar.changes.clear();
    // The second parent server starts with the first one's zone and keys.
    let _parent2_process = parent2.as_ref().map(|(p2, lag)| {
        std::fs::copy(dir.join("roll.test.zone"), dir.join("roll.test.2.zone")).unwrap();
        copy_keys(&parent.state, &p2.state);
        let process = p2.spawn().unwrap();
        registrar.parents.push(ParentServer {
            server: p2.clone(),
            file: "roll.test.2.zone",
            lag: *lag,
            due: None,
        });
        clock.say(&format!(
            "second parent server at 127.0.0.1:{}, {lag:?} behind the first",
            p2.port
        ));
        process
    });
    let registrar = Arc::new(Mutex::new(registrar));
    clock.say(&format!("DS at the parent: {first_ds:?}"));

    let extra = "    cache-max-ttl: 30\n    cache-max-negative-ttl: 30\n";
    // unbound-control, when installed, drops CDS and CDNSKEY from the cache before each
    // ask of them (see `ksk_signed` below).
    let control = tool("unbound-control").map(|c| (c, free_port()));
    let clauses = control.as_ref().map_or(String::new(), |(_, port)| {
        format!(
            "remote-control:\n    control-enable: yes\n    control-interface: 127.0.0.1\n    \
             control-port: {port}\n    control-use-cert: no\n"
        )
    });
    let (_unbound, uport) = start_unbound_stubs(
        &unbound,
        &dir,
        &parent_ports
            .iter()
            .map(|&p| (PARENT, p))
            .chain([(".", parent.port), (CHILD, child_answers)])
            .collect::<Vec<_>>(),
        extra,
        &clauses,
    );
    wait_ready(uport, "www.child.roll.test.", &[]);
    let bad = not_secure(uport, CASES);
    assert!(
        bad.is_empty(),
        "before the roll, {} answers are not secure:\n{}\n{}",
        bad.len(),
        bad.join("\n"),
        unbound_log_failures(&dir).join("\n")
    );
    for &(name, qtype, want) in CASES {
        assert_eq!(
            quick(uport, name, qtype),
            Some((want.to_string(), true)),
            "{name} {qtype} asked without dig"
        );
    }
    clock.say("Unbound validates both zones; the query loop and the registrar start");

    let keys_before = served_keys(child.port);
    let ds_before = parent_ds(parent.port);
    clock.say(&format!("DNSKEY before: {keys_before:?}"));

    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut queries = {
        let tally = tally.clone();
        Loop::start(Duration::from_secs(1), move || {
            ask(uport, CASES, &tally, clock)
        })
    };
    // The RRsets signed by the KSK alone, asked four times a second, and each time
    // fetched afresh (with unbound-control): a resolver validates them with the DNSKEY
    // RRset it holds, which may be the one from before the last change, as a CDS
    // scanner's resolver would on its first look at the zone.
    let mut ksk_signed = {
        let tally = tally.clone();
        let conf = dir.join("unbound.conf");
        let control = control.clone();
        Loop::start(Duration::from_millis(250), move || {
            if let Some((c, _)) = &control {
                for t in ["CDS", "CDNSKEY"] {
                    let _ = Command::new(c)
                        .arg("-c")
                        .arg(&conf)
                        .args(["flush_type", CHILD, t])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
            ask(uport, KSK_SIGNED, &tally, clock)
        })
    };
    let mut scanner = {
        let registrar = registrar.clone();
        let lag = Duration::from_secs(roll.registrar_lag);
        let mut pending: Option<(BTreeSet<String>, Instant)> = None;
        Loop::start(Duration::from_secs(1), move || {
            let (status, ad, text) = dig(uport, CHILD, "CDS", &[]);
            let mut r = registrar.lock().unwrap();
            if let Err(e) = r.tick(clock) {
                clock.say(&format!("registrar: {e}"));
                r.problems.push(e);
            }
            if status != "NOERROR" || !ad {
                r.problems
                    .push(format!("at {:.1}s CDS: {status}, AD {ad}", clock.secs()));
                return;
            }
            let cds: BTreeSet<String> = rdata_of(&text, "CDS").into_iter().collect();
            if cds.is_empty() {
                return;
            }
            // RFC 8078 delete form: the parent removes the DS.
            let wanted = if cds.iter().any(|c| c.starts_with("0 0 0")) {
                BTreeSet::new()
            } else {
                cds
            };
            if wanted == r.ds {
                pending = None;
                return;
            }
            let since = match &pending {
                Some((p, t)) if *p == wanted => *t,
                _ => {
                    if !lag.is_zero() {
                        clock.say(&format!(
                            "registrar: CDS {wanted:?} seen; acting on it if it stays {lag:?}"
                        ));
                    }
                    pending = Some((wanted.clone(), Instant::now()));
                    Instant::now()
                }
            };
            if since.elapsed() < lag {
                return;
            }
            clock.say(&format!("registrar: CDS {wanted:?}, DS was {:?}", r.ds));
            if let Err(e) = r.decide(wanted, clock) {
                clock.say(&format!("registrar: {e}"));
                r.problems.push(e);
            }
        })
    };

    // The initial signing and the first DS settle before the roll.
    let start = Instant::now();
    loop {
        let status = child.status(CHILD);
        if settled(&status) {
            clock.say(&format!("child status (settled):\n{status}"));
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the initial signing does not settle:\n{status}\n{}",
            child.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    match roll.start {
        Start::Age => clock.say("waiting for the roll by age"),
        Start::Command(flag) => {
            let out = blason(&["dnssec", "roll", CHILD, flag, "--state", child.state_arg()]);
            clock.say(&format!("blason dnssec roll {CHILD} {flag}: {out:?}"));
            out.unwrap();
        }
        Start::Policy(policy) => {
            child.write_config(&child_toml(policy, &parent_ports, &xfr));
            child_process = child.restart(child_process).unwrap();
            clock.say(&format!(
                "child policy now {{ {policy} }}; the child restarted"
            ));
        }
    }

    // Wait for the roll to end: the old keys gone, new ones of the right algorithm, and
    // (for a KSK or algorithm roll) a DS at the parent for the new key only.
    let started = Instant::now();
    let mut last_status = String::new();
    let old: BTreeSet<u16> = keys_before
        .iter()
        .filter(|k| roll.rolled.contains(&k.0))
        .map(|k| k.2)
        .collect();
    let mut restarted = false;
    let done = loop {
        let status = child.status(CHILD);
        if steady(&status) != steady(&last_status) {
            clock.say(&format!("child status:\n{status}"));
        }
        last_status = status;
        if let Some(at) = roll.restart_at {
            if !restarted && last_status.contains(at) {
                child_process = child.restart(child_process).unwrap();
                restarted = true;
                clock.say(&format!("the child restarted at \"{at}\""));
                continue;
            }
        }
        let keys = served_keys(child.port);
        let ds = parent_ds(parent.port);
        let same_everywhere = parent_ports.iter().all(|&p| parent_ds(p) == ds);
        let rolled_out = keys.iter().all(|k| !old.contains(&k.2))
            && roll.rolled.iter().all(|f| keys.iter().any(|k| k.0 == *f))
            && keys.iter().all(|k| k.1 == roll.algorithm_after);
        let ds_new = !roll.ds_changes
            || (!ds.is_empty()
                && ds.iter().all(|d| {
                    let (tag, alg) = ds_tag(d);
                    !old.contains(&tag) && alg == roll.algorithm_after
                }));
        let idle = settled(&last_status) && last_status.contains("earlier:");
        if rolled_out && ds_new && same_everywhere && idle {
            clock.say(&format!("roll over: DNSKEY {keys:?}, DS {ds:?}"));
            break true;
        }
        if started.elapsed() > ROLL_TIMEOUT {
            clock.say(&format!("timeout: DNSKEY {keys:?}, DS {ds:?}"));
            break false;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    // Let every cache turn over once more with the new keys alone.
    std::thread::sleep(Duration::from_secs(6));
    queries.stop();
    ksk_signed.stop();
    scanner.stop();
    let roll_time = started.elapsed().as_secs_f64() - 6.0;

    let keys_after = served_keys(child.port);
    let ds_after = parent_ds(parent.port);
    drop(child_process);
    let tally = tally.lock().unwrap();
    let registrar = registrar.lock().unwrap();
    clock.say(&format!(
        "{}: roll {} in {roll_time:.0}s; {} rounds, {} queries, {} SERVFAIL, {} without AD, {} other status; \
         DNSKEY {keys_before:?} -> {keys_after:?}; DS {ds_before:?} -> {ds_after:?}; registrar changes {:?}",
        roll.name,
        if done { "over" } else { "NOT over" },
        tally.rounds,
        tally.queries,
        tally.servfail,
        tally.not_ad,
        tally.wrong,
        registrar.changes
    ));
    let mut report = Vec::new();
    if !done {
        report.push(format!(
            "the roll did not end within {ROLL_TIMEOUT:?}; last status:\n{last_status}\nchild log:\n{}",
            child.log_tail(30)
        ));
    }
    if tally.failures() > 0 {
        report.push(format!(
            "{} SERVFAIL, {} answers without AD, {} with another status, at {:?}\nfirst ones:\n{}\nUnbound:\n{}",
            tally.servfail,
            tally.not_ad,
            tally.wrong,
            tally.times,
            tally.first.join("\n"),
            unbound_log_failures(&dir).join("\n")
        ));
    }
    // Unbound may have met a bogus answer and got a good one from another server; that
    // is still a failure of the roll.
    let bogus: Vec<String> = unbound_log_failures(&dir)
        .into_iter()
        .filter(|l| l.contains("validation failure"))
        .collect();
    if !bogus.is_empty() {
        report.push(format!(
            "Unbound logged {} validation failures:\n{}",
            bogus.len(),
            bogus.join("\n")
        ));
    }
    if let (Some(at), false) = (roll.restart_at, restarted) {
        report.push(format!(
            "the child was never restarted: its status never showed {at:?}"
        ));
    }
    if !registrar.problems.is_empty() {
        report.push(format!("registrar: {}", registrar.problems.join("\n")));
    }
    if done {
        let new: Vec<_> = keys_after
            .iter()
            .filter(|k| roll.rolled.contains(&k.0))
            .collect();
        if new.is_empty() || new.iter().any(|k| old.contains(&k.2)) {
            report.push(format!("the rolled keys were not replaced: {keys_after:?}"));
        }
        if roll.ds_changes && (ds_after == ds_before || registrar.changes.is_empty()) {
            report.push(format!("the DS at the parent did not change: {ds_after:?}"));
        }
        if !roll.ds_changes && ds_after != ds_before {
            report.push(format!(
                "the DS changed in a ZSK roll: {ds_before:?} -> {ds_after:?}"
            ));
        }
    }
    drop(queries);
    if roll.via_secondary {
        let knot = std::fs::read_to_string(dir.join("knot").join("knot.log")).unwrap_or_default();
        if !knot.contains("IXFR, incoming") {
            report.push(format!("the Knot secondary never took an IXFR:\n{knot}"));
        }
    }
    if report.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        panic!(
            "{}: {}\n(folder kept: {})",
            roll.name,
            report.join("\n\n"),
            dir.display()
        );
    }
}

/// The resolver asks a Knot secondary of the child, kept current by NOTIFY and IXFR.
#[test]
fn zsk_roll_through_a_knot_secondary_under_a_validating_resolver() {
    run(Roll {
        name: "zsk",
        policy: "keys = \"ksk+zsk\", algorithm = 13, zsk-lifetime = 60, ksk-lifetime = 0",
        start: Start::Age,
        rolled: &[256],
        algorithm_after: 13,
        ds_changes: false,
        registrar_lag: 0,
        restart_at: None,
        second_parent: None,
        via_secondary: true,
    });
}

/// The resolver asks a Knot secondary of the child, kept current by NOTIFY and IXFR.
#[test]
fn ksk_roll_with_its_ds_change_through_a_knot_secondary_under_a_validating_resolver() {
    run(Roll {
        name: "ksk",
        policy: "keys = \"ksk+zsk\", algorithm = 13, zsk-lifetime = 0, ksk-lifetime = 0",
        start: Start::Command("--ksk"),
        rolled: &[257],
        algorithm_after: 13,
        ds_changes: true,
        registrar_lag: 0,
        restart_at: None,
        second_parent: None,
        via_secondary: true,
    });
}

#[test]
fn algorithm_roll_rsasha256_to_ecdsap256_under_a_validating_resolver() {
    run(Roll {
        name: "algorithm",
        policy: "keys = \"csk\", algorithm = 8",
        start: Start::Policy("keys = \"csk\", algorithm = 13"),
        rolled: &[257],
        algorithm_after: 13,
        ds_changes: true,
        registrar_lag: 0,
        restart_at: None,
        second_parent: None,
        via_secondary: false,
    });
}

/// A KSK roll with ED25519 keys and NSEC3, a registrar that waits for the CDS to stay
/// the same for 6 seconds, and the child restarted halfway through the roll.
#[test]
fn ksk_roll_with_a_slow_registrar_and_a_restart_under_a_validating_resolver() {
    run(Roll {
        name: "ksk-slow",
        policy: "keys = \"ksk+zsk\", algorithm = 15, denial = \"nsec3\", zsk-lifetime = 0, ksk-lifetime = 0",
        start: Start::Command("--ksk"),
        rolled: &[257],
        algorithm_after: 15,
        ds_changes: true,
        registrar_lag: 6,
        restart_at: Some("stage 2 of 4"),
        second_parent: None,
        via_secondary: false,
    });
}

/// The ZSK (60 s) and the KSK (66 s) come of age six seconds apart, so their rolls
/// overlap; the KSK's goes through the parent as in the KSK test.
#[test]
fn overlapping_zsk_and_ksk_rolls_by_age_under_a_validating_resolver() {
    run(Roll {
        name: "both-age",
        policy: "keys = \"ksk+zsk\", algorithm = 13, zsk-lifetime = 60, ksk-lifetime = 66",
        start: Start::Age,
        rolled: &[256, 257],
        algorithm_after: 13,
        ds_changes: true,
        registrar_lag: 0,
        restart_at: None,
        second_parent: None,
        via_secondary: false,
    });
}

/// A KSK roll with two servers for the parent zone, the second getting each DS change
/// 8 seconds after the first: the child must wait until both serve the new DS, or
/// Unbound, asking either, would find the new key without a DS or the old one gone.
#[test]
fn ksk_roll_with_a_lagging_parent_server_under_a_validating_resolver() {
    run(Roll {
        name: "ksk-2par",
        policy: "keys = \"ksk+zsk\", algorithm = 13, zsk-lifetime = 0, ksk-lifetime = 0",
        start: Start::Command("--ksk"),
        rolled: &[257],
        algorithm_after: 13,
        ds_changes: true,
        registrar_lag: 0,
        restart_at: None,
        second_parent: Some(8),
        via_secondary: false,
    });
}

/// A CSK roll asked for with `blason dnssec roll --csk`, with its DS change.
#[test]
fn csk_roll_with_its_ds_change_under_a_validating_resolver() {
    run(Roll {
        name: "csk",
        policy: "keys = \"csk\", algorithm = 13, ksk-lifetime = 0",
        start: Start::Command("--csk"),
        rolled: &[257],
        algorithm_after: 13,
        ds_changes: true,
        registrar_lag: 0,
        restart_at: None,
        second_parent: None,
        via_secondary: false,
    });
}
