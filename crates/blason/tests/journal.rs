//! The journal: a restarted server answers from it at once with the very signatures
//! it served before (no signing), and a server killed with -9 at random moments, while
//! its zone file is edited and reloaded, comes back with the last or the one-before-
//! last committed zone: the serial never goes back, a serial served twice carries the
//! same data, and the signed zone validates in Unbound (fenced to loopback as in
//! validate.rs) after every restart.

mod common;

use common::{dig, start_unbound_stubs, tool, unbound_log_failures, Kill};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn zone_text(version: u32) -> String {
    format!(
        "$ORIGIN crash.test.\n$TTL 300\n@ SOA ns hostmaster 1 7200 3600 1209600 300\n@ NS ns\n\
         ns A 127.0.0.1\nwww A 192.0.2.1\nwww AAAA 2001:db8::1\n*.wild A 192.0.2.2\n\
         host.ent A 192.0.2.3\nv TXT \"v={version}\"\nn{version} A 192.0.2.9\n"
    )
}

/// A free port below the kernel's ephemeral range (32768 and up): while the server
/// is down between a kill and its restart, no client (dig) can be given it as a
/// source port, so Unbound's retries to it never land in a stray socket.
/// Each call starts its search elsewhere: two tests may ask before either binds (and
/// the server binds with SO_REUSEPORT, so a check alone would not keep them apart).
fn port_below_ephemeral() -> u16 {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = 20_000 + ((std::process::id() * 7 + n * 1_009) % 9_000) as u16;
    (base..29_000)
        .chain(20_000..base)
        .find(|&p| {
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        })
        .expect("a free port between 20000 and 29000")
}

struct Setup {
    dir: PathBuf,
    config: PathBuf,
    port: u16,
}

fn setup(tag: &str) -> Setup {
    setup_with(tag, "true", 8 << 20, false)
}

/// `dnssec` is the zone's policy setting (`true` or a table); the journal is
/// rewritten once `journal_size` bytes of changes follow its snapshot; `tlsa`: a TLSA
/// record follows `dir/live.key` (polled every second), with the keys `dir/k1.private`
/// and `dir/k2.private` to swap in.
fn setup_with(tag: &str, dnssec: &str, journal_size: u64, tlsa: bool) -> Setup {
    let dir = std::env::temp_dir().join(format!("blason-journal-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crash.test.zone"), zone_text(0)).unwrap();
    let port = port_below_ephemeral();
    let config = dir.join("blason.toml");
    let mut tlsa_section = String::new();
    if tlsa {
        for k in ["k1", "k2"] {
            let out = Command::new(env!("CARGO_BIN_EXE_blason"))
                .args([
                    "dkim",
                    "keygen",
                    "--domain",
                    "crash.test",
                    "--selector",
                    k,
                    "--out",
                ])
                .arg(&dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::copy(dir.join("k1.private"), dir.join("live.key")).unwrap();
        tlsa_section = format!(
            "[[zone.tlsa]]\nport = 25\nhost = \"mail.crash.test\"\nkey = \"{}\"\nttl = 2\n",
            dir.join("live.key").display()
        );
    }
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nstate = \"{}\"\npid-file = \"{}\"\npoll-interval = 1\n\
             [[zone]]\norigin = \"crash.test.\"\nfile = \"crash.test.zone\"\ndnssec = {dnssec}\n\
             journal-size = {journal_size}\n{tlsa_section}",
            dir.join("state").display(),
            dir.join("pid").display()
        ),
    )
    .unwrap();
    Setup { dir, config, port }
}

/// Starts the server (its log appended to `dir/serve.log`); returns once it answers,
/// with the time that took.
fn start(s: &Setup) -> (Kill, Duration) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(s.dir.join("serve.log"))
        .unwrap();
    let t = Instant::now();
    let child = Kill(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["serve", "--config"])
            .arg(&s.config)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );
    loop {
        if serial(s.port).is_some() {
            return (child, t.elapsed());
        }
        assert!(t.elapsed() < Duration::from_secs(30), "no answer in 30 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn short(port: u16, name: &str, qtype: &str) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), name, qtype])
        .args(["+short", "+norec", "+time=1", "+tries=1"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn serial(port: u16) -> Option<u32> {
    short(port, "crash.test.", "SOA")
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
}

/// The serial and the TXT served at it, asked until a serial is seen on both sides
/// of the TXT (a commit may land between two queries).
fn observe(port: u16) -> Option<(u32, String)> {
    for _ in 0..50 {
        let (a, txt, b) = (
            serial(port),
            short(port, "v.crash.test.", "TXT"),
            serial(port),
        );
        if let (Some(a), Some(b)) = (a, b) {
            if a == b && !txt.starts_with(';') {
                return Some((a, txt));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The answer and authority sections of a DO query, exactly as served.
fn sections(port: u16, name: &str, qtype: &str) -> String {
    let text = dig(port, name, qtype, &["+norec", "+nocmd", "+nostats"]).2;
    text.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
}

fn have_tools() -> bool {
    if tool("dig").is_some() && tool("unbound").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "dig or unbound missing (scripts/test.sh installs them)"
    );
    eprintln!("SKIP: dig or unbound missing");
    false
}

#[test]
fn a_restart_serves_the_journal_signatures_byte_for_byte() {
    if !have_tools() {
        return;
    }
    let s = setup("restart");
    let asks = [
        ("crash.test.", "SOA"),
        ("crash.test.", "DNSKEY"),
        ("www.crash.test.", "A"),
        ("nx.crash.test.", "A"),
        ("x.wild.crash.test.", "A"),
        ("ent.crash.test.", "A"),
    ];
    let (server, first) = start(&s);
    let before: Vec<String> = asks.iter().map(|(n, t)| sections(s.port, n, t)).collect();
    assert!(before[2].contains("RRSIG"), "{}", before[2]);
    drop(server); // SIGKILL
    let (server, again) = start(&s);
    let after: Vec<String> = asks.iter().map(|(n, t)| sections(s.port, n, t)).collect();
    drop(server);
    let log = log_text(&s.dir);
    eprintln!("time to first answer: first start {first:?}, restart {again:?}");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "a restart must serve what was served");
    }
    assert_eq!(
        log.matches("zone signed").count(),
        1,
        "signed whole once, at the first start only:\n{log}"
    );
    assert!(log.contains("zone restored from its journal"), "{log}");
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn kill_9_at_random_moments_loses_nothing_committed() {
    if !have_tools() {
        return;
    }
    let rounds: u32 = std::env::var("BLASON_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    // Signatures fall due 2 s after they are made: refresh passes join the stream
    // of commits the kills interrupt.
    // A small journal-size: rewrites (on their own thread) are under way at some kills.
    let s = setup_with(
        "crash",
        "{ signature-validity = \"2d\", signature-refresh = \"1d23h59m57s\", signature-jitter = \"1s\" }",
        4096,
        true,
    );
    let (server, _) = start(&s);
    let ds = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["dnssec", "ds", "crash.test", "--state"])
        .arg(s.dir.join("state"))
        .output()
        .unwrap();
    let ds = String::from_utf8_lossy(&ds.stdout).into_owned();
    let ds_line = ds
        .lines()
        .find(|l| l.contains(" DS "))
        .expect("a DS")
        .to_string();
    std::fs::write(s.dir.join("anchor"), format!("{ds_line}\n")).unwrap();
    // A dead server is not remembered for long: each round restarts it.
    let (_unbound, uport) = start_unbound_stubs(
        &tool("unbound").unwrap(),
        &s.dir,
        &[(".", s.port), ("crash.test.", s.port)],
        "    infra-host-ttl: 1\n    infra-keep-probing: yes\n",
        "",
    );
    let mut rng = 0x2545_f491_4f6c_dd1d_u64 ^ u64::from(std::process::id());
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seen: HashMap<u32, String> = HashMap::new();
    let mut max_seen = 0u32;
    let mut version = 0u32;
    let mut live_key = "k1";
    let mut server = Some(server);
    let mut insecure = Vec::new();
    for round in 0..rounds {
        let srv = match server.take() {
            Some(x) => x,
            None => start(&s).0,
        };
        // What is served now was committed: never behind what was seen.
        let (now, txt) = observe(s.port).expect("a serial");
        assert!(
            now >= max_seen,
            "round {round}: serial went back from {max_seen} to {now}"
        );
        if let Some(t) = seen.get(&now) {
            assert_eq!(t, &txt, "round {round}: serial {now} served other data");
        }
        seen.insert(now, txt);
        max_seen = now;
        if round % 10 == 0 || round + 1 == rounds {
            let name = format!("nx{round}.crash.test.");
            let t = Instant::now();
            loop {
                let (status, ad, text) = dig(uport, &name, "A", &[]);
                if status == "NXDOMAIN" && ad {
                    break;
                }
                if t.elapsed() > Duration::from_secs(10) {
                    insecure.push(format!("round {round}: {status} AD {ad}\n{text}"));
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        // The TLSA key swapped now and then: generated-record changes race the kill
        // too. Now and then a round outlives two polls (every second), so that they also
        // take their own road, without the file.
        // A lingering round has no edits (a reload would take the key's change
        // before a poll could), and the second round always lingers: the poll's own
        // road is taken in every run, not by chance.
        let linger = round == 1 || next() % 8 == 0;
        if linger || next() % 3 == 0 {
            live_key = if live_key == "k1" { "k2" } else { "k1" };
            std::fs::copy(
                s.dir.join(format!("{live_key}.private")),
                s.dir.join("live.key"),
            )
            .unwrap();
        }
        // Edits and reloads racing the kill.
        let edits = if linger { 0 } else { next() % 4 };
        for _ in 0..edits {
            version += 1;
            std::fs::write(s.dir.join("crash.test.zone"), zone_text(version)).unwrap();
            let pid = std::fs::read_to_string(s.dir.join("pid")).unwrap();
            let _ = Command::new("kill").args(["-HUP", pid.trim()]).status();
            std::thread::sleep(Duration::from_millis(next() % 40));
            if let Some((now, txt)) = observe(s.port) {
                assert!(now >= max_seen, "round {round}: serial went back");
                if let Some(t) = seen.get(&now) {
                    assert_eq!(t, &txt, "round {round}: serial {now} served other data");
                }
                seen.insert(now, txt);
                max_seen = now;
            }
        }
        // Two polls' worth: the first may fall just before the swap.
        let linger = if linger { 2100 } else { 0 };
        std::thread::sleep(Duration::from_millis(linger + next() % 60));
        drop(srv); // SIGKILL, at whatever moment this is
    }
    let failures = unbound_log_failures(&s.dir);
    let log = log_text(&s.dir);
    assert!(insecure.is_empty(), "{insecure:?}");
    assert!(failures.is_empty(), "{failures:?}");
    assert!(!log.contains("panicked"), "{log}");
    assert!(max_seen > 1, "the serial moved");
    let refreshes = log.matches("zone re-signed (signatures due)").count();
    eprintln!(
        "{rounds} kills, {version} edits, {refreshes} refresh passes, serial 1 -> {max_seen}, {} whole signings",
        log.matches("zone signed").count()
    );
    assert!(refreshes > 0, "refresh passes were part of the stream");
    let generated = log.matches("generated records changed").count();
    eprintln!("{generated} generated-record commits");
    assert!(
        generated > 0,
        "generated-record changes were part of the stream"
    );
    let rewrites = log.matches("journal rewritten").count();
    eprintln!("{rewrites} journal rewrites completed");
    assert!(rewrites > 0, "journal rewrites were part of the stream");
    let _ = std::fs::remove_dir_all(&s.dir);
}
