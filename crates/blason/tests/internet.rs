//! Safe on the open internet: response rate limiting beside Knot's and BIND's,
//! DNS cookies with BIND, Knot, dig and kdig, minimal ANY, and TCP limits. All on
//! loopback: addresses of 127.0.0.0/8 stand in for spoofed sources.

mod common;

use common::{free_port, serve_config, short, tool, wait_for, Kill};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ZONE: &str = "amp.test.";

/// A zone whose largest answer (`big TXT` with DNSSEC) is about 1,000 bytes.
fn zone_text() -> String {
    let chunk = "x".repeat(200);
    format!(
        "$ORIGIN amp.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n\
         @ NS ns1\nns1 A 127.0.0.1\nwww A 192.0.2.80\nwww AAAA 2001:db8::80\n\
         @ MX 10 mail\nmail A 192.0.2.25\n\
         big TXT \"{chunk}1\" \"{chunk}2\"\nbig TXT \"{chunk}3\" \"{chunk}4\"\n\
         *.wild TXT \"{chunk}\"\n"
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("blason-internet-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A wire query for `name` `qtype` with EDNS (4096, DO) and, if given, a COOKIE option.
fn wire_query(id: u16, name: &str, qtype: u16, cookie: Option<&[u8]>) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    for l in name.trim_end_matches('.').split('.') {
        q.push(l.len() as u8);
        q.extend_from_slice(l.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0]);
    match cookie {
        Some(c) => {
            q.extend_from_slice(&((4 + c.len()) as u16).to_be_bytes());
            q.extend_from_slice(&10u16.to_be_bytes());
            q.extend_from_slice(&(c.len() as u16).to_be_bytes());
            q.extend_from_slice(c);
        }
        None => q.extend_from_slice(&[0, 0]),
    }
    q
}

/// What a flood of spoofed queries brought back.
#[derive(Debug, Default)]
struct Flood {
    sent: u64,
    bytes_in: u64,
    answers: u64,
    truncated: u64,
    bytes_out: u64,
}

/// Sends `query` at about `pps` a second for `secs` from every address of `sources`
/// (the victims) to 127.0.0.1:`port`, and counts what comes back to them.
fn flood(port: u16, sources: &[Ipv4Addr], query: &[u8], secs: u64, pps: u64) -> Flood {
    let socks: Vec<UdpSocket> = sources
        .iter()
        .map(|a| {
            let s = UdpSocket::bind((*a, 0)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(100)))
                .unwrap();
            s
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let got = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let readers: Vec<_> = socks
        .iter()
        .map(|s| {
            let (s, stop, got) = (s.try_clone().unwrap(), stop.clone(), got.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(n) = s.recv(&mut buf) {
                        got[0].fetch_add(n as u64, Ordering::Relaxed);
                        let tc = n >= 12 && buf[2] & 0x02 != 0;
                        got[if tc { 2 } else { 1 }].fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < Duration::from_secs(secs) {
        let due = start.elapsed().as_millis() as u64 * pps / 1000;
        while sent < due {
            let s = &socks[sent as usize % socks.len()];
            let _ = s.send_to(query, target);
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    Flood {
        sent,
        bytes_in: sent * query.len() as u64,
        bytes_out: got[0].load(Ordering::Relaxed),
        answers: got[1].load(Ordering::Relaxed),
        truncated: got[2].load(Ordering::Relaxed),
    }
}

/// The signed zone as blason serves it, by AXFR, for Knot and BIND to serve alike.
fn signed_zone_text(port: u16) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            ZONE,
            "AXFR",
            "+nocmd",
            "+nostats",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    // The closing SOA repeats the first.
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.is_empty())
        .collect();
    lines.pop();
    assert!(
        lines.iter().any(|l| l.contains("RRSIG")),
        "signed zone by AXFR:\n{text}"
    );
    lines.join("\n") + "\n"
}

fn start_knot(dir: &Path, port: u16, zone_file: &Path, module: &str) -> Option<Kill> {
    let knotd = tool("knotd")?;
    let k = dir.join("knot");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(
        k.join("knot.conf"),
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             database:\n    storage: \"{d}\"\n{module}\
             template:\n  - id: default\n    storage: \"{d}\"\n    global-module: {gm}\n\
             zone:\n  - domain: {ZONE}\n    file: \"{f}\"\n",
            d = k.display(),
            f = zone_file.display(),
            gm = if module.contains("mod-rrl") {
                "mod-rrl/rrl"
            } else {
                "mod-cookies/c"
            },
        ),
    )
    .unwrap();
    Some(common::spawn_logged(
        Command::new(knotd).arg("-c").arg(k.join("knot.conf")),
        &k.join("stderr.log"),
    ))
}

fn start_named(dir: &Path, port: u16, zone_file: &Path, extra: &str) -> Option<Kill> {
    let named = tool("named")?;
    let b = dir.join("bind");
    std::fs::create_dir_all(&b).unwrap();
    let conf = format!(
        "options {{\n directory \"{d}\";\n listen-on port {port} {{ 127.0.0.1; }};\n\
         listen-on-v6 {{ none; }};\n recursion no;\n pid-file none;\n session-keyfile none;\n\
         managed-keys-directory \"{d}\";\n dnssec-validation no;\n notify no;\n{extra}\n}};\n\
         controls {{ }};\nzone \"{ZONE}\" {{ type primary; file \"{f}\"; }};\n",
        d = b.display(),
        f = zone_file.display()
    );
    std::fs::write(b.join("named.conf"), conf).unwrap();
    Some(common::spawn_logged(
        Command::new(named)
            .args(["-g", "-n", "1", "-4", "-c"])
            .arg(b.join("named.conf")),
        &b.join("named.log"),
    ))
}

/// `dig` at `port` with `args`; the whole output.
fn dig(port: u16, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+norec"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(out: &str) -> &str {
    out.split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO-ANSWER")
}

/// The COOKIE dig printed (client and server, in hex).
fn cookie_of(out: &str) -> Option<String> {
    out.lines()
        .find_map(|l| l.strip_prefix("; COOKIE: "))
        .map(|c| c.split_whitespace().next().unwrap_or("").to_string())
}

fn wait_answering(port: u16, log: &Path) {
    wait_for("the server answering", log, || {
        short(port, &format!("www.{ZONE}"), "A") == "192.0.2.80"
    });
}

const SECRET: &str = "e5e973e5a6b2a43f48e7dc849e37bfcf";

fn blason_conf(dir: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let zf = dir.join("amp.test.zone");
    std::fs::write(&zf, zone_text()).unwrap();
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nstate = \"{s}\"\nthreads = 2\n{extra}\n\
             [[zone]]\norigin = \"{ZONE}\"\nfile = \"{z}\"\ndnssec = true\nallow-transfer = [\"127.0.0.1\"]\n",
            s = dir.join("state").display(),
            z = zf.display()
        ),
    )
    .unwrap();
    conf
}

/// The amplification a flood of spoofed queries for the largest answer gets, with
/// the rate limit on, from blason, Knot and BIND configured alike; and a real
/// client in a flooded prefix still gets its answer (over TCP after a slip, or at
/// once with a valid cookie).
#[test]
fn rate_limiting_cuts_amplification_as_knot_and_bind_do() {
    let dir = tmp("rrl");
    let port = free_port();
    let conf = blason_conf(
        &dir,
        port,
        &format!(
            "[rate-limit]\nresponses-per-second = 5\nwindow = 2\nslip = 2\nexempt = []\n\
             [cookies]\nsecrets = [\"{SECRET}\"]\n"
        ),
    );
    let log = dir.join("blason.log");
    let _blason = serve_config(&conf, &log);
    wait_answering(port, &log);

    let query = wire_query(7, &format!("big.{ZONE}"), 16, None);
    // The amplification without a limit: one full answer over the query.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    probe.send_to(&query, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let full = probe.recv(&mut buf).unwrap();
    assert!(
        full > 900 && buf[2] & 0x02 == 0,
        "big TXT with its RRSIG: {full} bytes"
    );
    let unlimited = full as f64 / query.len() as f64;

    // Victims: 8 addresses in each of 4 /24s.
    let victims: Vec<Ipv4Addr> = (0..4)
        .flat_map(|net| (1..=8).map(move |h| Ipv4Addr::new(127, 0, 70 + net, h)))
        .collect();
    let zone_file = dir.join("signed.zone");
    std::fs::write(&zone_file, signed_zone_text(port)).unwrap();

    // A client in a flooded /24 that has a server cookie from before the flood.
    let near = "127.0.70.200";
    let first = dig(port, &["-b", near, "+cookie", &format!("www.{ZONE}"), "A"]);
    let cookie = cookie_of(&first).expect("a server cookie");
    assert_eq!(cookie.len(), 48, "client 8 + server 16 bytes: {first}");

    let (flood_tx, flood_rx) = std::sync::mpsc::channel();
    let v = victims.clone();
    let q = query.clone();
    let flooder = std::thread::spawn(move || flood_tx.send(flood(port, &v, &q, 4, 3000)).unwrap());
    std::thread::sleep(Duration::from_millis(1500));
    // A resolver in a flooded /24: a dropped answer is retried, a truncated one is
    // asked again over TCP.
    let real = dig(
        port,
        &[
            "-b",
            "127.0.70.201",
            "+tries=12",
            "+time=1",
            "+dnssec",
            &format!("big.{ZONE}"),
            "TXT",
        ],
    );
    // With a valid cookie: answered in full over UDP, no retry.
    let with_cookie = dig(
        port,
        &[
            "-b",
            near,
            "+tries=1",
            "+time=2",
            "+ignore",
            &format!("+cookie={cookie}"),
            &format!("big.{ZONE}"),
            "TXT",
        ],
    );
    // Another /24 is not limited at all.
    let other = dig(
        port,
        &[
            "-b",
            "127.0.99.1",
            "+tries=1",
            "+time=2",
            "+ignore",
            &format!("big.{ZONE}"),
            "TXT",
        ],
    );
    let b = flood_rx.recv().unwrap();
    flooder.join().unwrap();
    assert_eq!(
        status(&real),
        "NOERROR",
        "a real client in a flooded prefix:\n{real}"
    );
    assert!(real.contains("x4\""), "{real}");
    assert_eq!(status(&with_cookie), "NOERROR", "{with_cookie}");
    assert!(
        !with_cookie.contains(" tc"),
        "a valid cookie is exempt:\n{with_cookie}"
    );
    assert!(with_cookie.contains("ANSWER: 2"), "{with_cookie}");
    assert!(
        !other.contains(" tc") && other.contains("ANSWER: 2"),
        "{other}"
    );

    // Knot and BIND, the same zone and limits.
    let kport = free_port();
    let knot = start_knot(
        &dir,
        kport,
        &zone_file,
        "mod-rrl:\n  - id: rrl\n    rate-limit: 5\n    slip: 2\n",
    );
    let nport = free_port();
    let named = start_named(
        &dir,
        nport,
        &zone_file,
        " rate-limit { responses-per-second 5; window 2; slip 2; };",
    );
    let mut rows = vec![("blason", b)];
    for (name, p, proc_) in [
        ("Knot", kport, knot.is_some()),
        ("BIND", nport, named.is_some()),
    ] {
        if !proc_ {
            eprintln!("{name} not installed: not measured");
            continue;
        }
        wait_for(
            &format!("{name} answering"),
            &dir.join("blason.log"),
            || short(p, &format!("www.{ZONE}"), "A") == "192.0.2.80",
        );
        rows.push((name, flood(p, &victims, &query, 4, 3000)));
    }
    eprintln!(
        "amplification of {}-byte queries for a {full}-byte answer ({unlimited:.1}x unlimited), 5/s, slip 2:",
        query.len()
    );
    for (name, f) in &rows {
        eprintln!(
            "  {name:<7} sent {} ({} B), back {} full + {} truncated = {} B: {:.2}x",
            f.sent,
            f.bytes_in,
            f.answers,
            f.truncated,
            f.bytes_out,
            f.bytes_out as f64 / f.bytes_in as f64
        );
    }
    let b = &rows[0].1;
    let factor = b.bytes_out as f64 / b.bytes_in as f64;
    assert!(b.sent > 10_000, "{b:?}");
    assert!(
        factor < 1.5,
        "blason's amplification with the limit on: {factor:.2} ({b:?})"
    );
    assert!(
        b.truncated > b.sent / 4,
        "about every second limited answer slips: {b:?}"
    );
    // Full answers: 5 a second per /24, a burst of 5 at the start, and a debt of
    // window × rate: about 4 × (5 + 4 × 5) at most.
    assert!(b.answers <= 4 * 30, "{b:?}");

    drop(knot);
    drop(named);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Cookies: dig and kdig get one and are then known; servers that share the
/// secret — a second blason, BIND with `cookie-secret`, Knot with `mod-cookies` —
/// accept each other's cookies (RFC 9018), and one with another secret does not.
#[test]
fn cookies_interoperate_with_bind_knot_dig_and_kdig() {
    let dir = tmp("cookies");
    let (p1, p2, p3) = (free_port(), free_port(), free_port());
    let a = dir.join("a");
    let b = dir.join("b");
    let c = dir.join("c");
    for d in [&a, &b, &c] {
        std::fs::create_dir_all(d).unwrap();
    }
    let shared = format!("[cookies]\nsecrets = [\"{SECRET}\"]\n");
    let _s1 = serve_config(&blason_conf(&a, p1, &shared), &a.join("log"));
    let _s2 = serve_config(&blason_conf(&b, p2, &shared), &b.join("log"));
    let other = "[cookies]\nsecrets = [\"00112233445566778899aabbccddeeff\"]\n";
    let _s3 = serve_config(&blason_conf(&c, p3, other), &c.join("log"));
    for (p, d) in [(p1, &a), (p2, &b), (p3, &c)] {
        wait_answering(p, &d.join("log"));
    }
    let www = format!("www.{ZONE}");

    // dig: a client cookie first, then the server's cookie is sent back and valid
    // (echoed unchanged while fresh).
    let first = dig(p1, &["+cookie", &www, "A"]);
    let c1 = cookie_of(&first).expect("dig got a cookie");
    assert_eq!(c1.len(), 48, "{first}");
    assert!(c1[16..].starts_with("01000000"), "RFC 9018 version 1: {c1}");
    let again = dig(p1, &[&format!("+cookie={c1}"), &www, "A"]);
    assert_eq!(cookie_of(&again).as_deref(), Some(c1.as_str()), "{again}");

    // Another blason with the secret accepts it; one with another secret makes a
    // new one.
    let at_b = dig(p2, &[&format!("+cookie={c1}"), &www, "A"]);
    assert_eq!(
        cookie_of(&at_b).as_deref(),
        Some(c1.as_str()),
        "shared secret:\n{at_b}"
    );
    let at_c = dig(p3, &[&format!("+cookie={c1}"), &www, "A"]);
    let new = cookie_of(&at_c).unwrap();
    assert_ne!(new, c1, "another secret: a new cookie");
    assert_eq!(new[..16], c1[..16], "the client's own part is kept");

    // kdig: the same.
    if let Some(kdig) = tool("kdig") {
        let out = Command::new(&kdig)
            .args([
                "@127.0.0.1",
                "-p",
                &p1.to_string(),
                "+cookie",
                "+norec",
                &www,
                "A",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let line = text
            .lines()
            .find(|l| l.contains("COOKIE:"))
            .unwrap_or_default()
            .to_string();
        let hex: String = line.split_whitespace().nth(2).unwrap_or("").to_string();
        assert_eq!(hex.len(), 48, "kdig got a server cookie: {text}");
        let out = Command::new(&kdig)
            .args([
                "@127.0.0.1",
                "-p",
                &p1.to_string(),
                &format!("+cookie={hex}"),
                "+norec",
                &www,
                "A",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            text.contains("NOERROR") && text.contains(&hex),
            "kdig's cookie echoed: {text}"
        );
    }

    let zone_file = dir.join("plain.zone");
    std::fs::write(&zone_file, zone_text()).unwrap();
    // BIND with the secret, requiring cookies: blason's cookie passes, a forged one
    // gets BADCOOKIE; BIND's cookie is valid at blason.
    let nport = free_port();
    if let Some(_named) = start_named(
        &dir,
        nport,
        &zone_file,
        &format!(" cookie-secret \"{SECRET}\";\n cookie-algorithm siphash24;\n require-server-cookie yes;"),
    ) {
        wait_for("BIND answering", &dir.join("bind/named.log"), || {
            dig(nport, &["+cookie", &www, "A"]).contains("192.0.2.80")
        });
        let ok = dig(nport, &[&format!("+cookie={c1}"), "+nobadcookie", &www, "A"]);
        assert_eq!(status(&ok), "NOERROR", "BIND takes blason's cookie:\n{ok}");
        let mut forged = c1.clone();
        forged.replace_range(40.., "00000000");
        let bad = dig(nport, &[&format!("+cookie={forged}"), "+nobadcookie", &www, "A"]);
        assert_eq!(status(&bad), "BADCOOKIE", "a forged cookie at BIND:\n{bad}");
        let from_bind = cookie_of(&dig(nport, &["+cookie", &www, "A"])).unwrap();
        let back = dig(p1, &[&format!("+cookie={from_bind}"), &www, "A"]);
        assert_eq!(cookie_of(&back).as_deref(), Some(from_bind.as_str()), "blason takes BIND's cookie:\n{back}");
    } else {
        eprintln!("named not installed: BIND's cookies not tried");
    }
    // Knot with the secret: its cookie is valid at blason.
    let kport = free_port();
    if let Some(_knot) = start_knot(
        &dir,
        kport,
        &zone_file,
        &format!("mod-cookies:\n  - id: c\n    secret: 0x{SECRET}\n"),
    ) {
        wait_for("Knot answering", &dir.join("knot/knot.log"), || {
            short(kport, &www, "A") == "192.0.2.80"
        });
        let from_knot =
            cookie_of(&dig(kport, &["+cookie", &www, "A"])).expect("Knot makes cookies");
        let back = dig(p1, &[&format!("+cookie={from_knot}"), &www, "A"]);
        assert_eq!(
            cookie_of(&back).as_deref(),
            Some(from_knot.as_str()),
            "blason takes Knot's cookie:\n{back}"
        );
    } else {
        eprintln!("knotd not installed: Knot's cookies not tried");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// ANY over UDP is one RRset (RFC 8482), over TCP all of them.
#[test]
fn any_is_minimal_over_udp_and_whole_over_tcp() {
    let dir = tmp("any");
    let port = free_port();
    let conf = blason_conf(&dir, port, "");
    let log = dir.join("log");
    let _s = serve_config(&conf, &log);
    wait_answering(port, &log);
    let udp = dig(port, &["+notcp", "+ignore", ZONE, "ANY"]);
    let tcp = dig(port, &["+tcp", ZONE, "ANY"]);
    let count = |t: &str| {
        t.split("ANSWER: ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0)
    };
    assert!(!udp.contains(" tc"), "{udp}");
    let types = |t: &str| {
        let mut v: Vec<String> = t
            .split(";; ANSWER SECTION:")
            .nth(1)
            .unwrap_or("")
            .lines()
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect();
        v.dedup();
        v
    };
    assert_eq!(types(&udp).len(), 1, "one RRset over UDP:\n{udp}");
    assert!(
        count(&tcp) >= 5 && types(&tcp).len() >= 4,
        "SOA, NS, MX, DNSKEY... over TCP:\n{tcp}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `/metrics` as name{labels} -> value.
fn scrape(port: u16) -> (String, std::collections::BTreeMap<String, f64>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    let map = body
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect();
    (body, map)
}

/// After a known query mix sent by dnsperf, the counters say what was sent; the
/// zone's gauges are there; `promtool check metrics` accepts the text.
#[test]
fn metrics_count_what_dnsperf_sent_and_promtool_accepts_them() {
    let Some(dnsperf) = tool("dnsperf") else {
        panic!("dnsperf is needed (scripts/test.sh installs it)");
    };
    let dir = tmp("metrics");
    let (port, mport) = (free_port(), free_port());
    let conf = blason_conf(&dir, port, &format!("metrics = \"127.0.0.1:{mport}\"\n"));
    let log = dir.join("log");
    let _s = serve_config(&conf, &log);
    wait_answering(port, &log);
    wait_for("the zone signed", &log, || {
        scrape(mport).1.contains_key(&format!(
            "blason_zone_signature_expiry_earliest_timestamp_seconds{{zone=\"{ZONE}\"}}"
        ))
    });
    let (_, before) = scrape(mport);
    let mix: [(&str, &str, usize); 5] = [
        ("www.amp.test", "A", 300),
        ("www.amp.test", "AAAA", 200),
        ("amp.test", "MX", 100),
        ("nx.amp.test", "A", 50),
        ("www.other.test", "A", 50),
    ];
    let mut qfile = String::new();
    for (name, t, n) in mix {
        for _ in 0..n {
            qfile.push_str(&format!("{name} {t}\n"));
        }
    }
    std::fs::write(dir.join("queries"), qfile).unwrap();
    let out = Command::new(dnsperf)
        .args([
            "-s",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-n",
            "1",
            "-c",
            "1",
            "-q",
            "20",
            "-t",
            "5",
        ])
        .arg("-d")
        .arg(dir.join("queries"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Queries completed:    700"),
        "dnsperf:\n{text}"
    );
    let (body, after) = scrape(mport);
    let delta =
        |k: &str| after.get(k).copied().unwrap_or(0.0) - before.get(k).copied().unwrap_or(0.0);
    for (k, want) in [
        ("blason_queries_total{protocol=\"udp\"}", 700.0),
        ("blason_query_opcodes_total{opcode=\"QUERY\"}", 700.0),
        ("blason_query_types_total{type=\"A\"}", 400.0),
        ("blason_query_types_total{type=\"AAAA\"}", 200.0),
        ("blason_query_types_total{type=\"MX\"}", 100.0),
        ("blason_responses_total{rcode=\"NOERROR\"}", 600.0),
        ("blason_responses_total{rcode=\"NXDOMAIN\"}", 50.0),
        ("blason_responses_total{rcode=\"REFUSED\"}", 50.0),
        ("blason_queries_total{protocol=\"tcp\"}", 0.0),
        ("blason_rrl_responses_total{action=\"dropped\"}", 0.0),
    ] {
        assert_eq!(delta(k), want, "{k}\n{body}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as f64;
    let z = |k: &str| after.get(&format!("{k}{{zone=\"{ZONE}\"}}")).copied();
    assert_eq!(
        z("blason_zone_serial").map(|s| s >= 1.0),
        Some(true),
        "{body}"
    );
    assert!(
        z("blason_zone_signature_expiry_earliest_timestamp_seconds").unwrap() > now + 86_400.0,
        "{body}"
    );
    assert!(z("blason_zone_key_roll_stage").is_some(), "{body}");
    assert!(
        z("blason_zone_key_roll_next_step_timestamp_seconds").is_some(),
        "{body}"
    );

    let promtool =
        tool("promtool").expect("promtool is needed (scripts/test.sh installs prometheus)");
    let (ok, said) = common::run_input(Command::new(promtool).args(["check", "metrics"]), &body);
    assert!(
        ok && said.trim().is_empty(),
        "promtool check metrics:\n{said}\n{body}"
    );

    // Anything but /metrics is not found.
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens a TCP connection to 127.0.0.1:`port` from `src`.
fn connect_from(src: Ipv4Addr, port: u16) -> Option<std::net::TcpStream> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).ok()?;
    s.bind(&SocketAddr::from((src, 0)).into()).ok()?;
    s.connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)).into(),
        Duration::from_secs(2),
    )
    .ok()?;
    Some(s.into())
}

/// Whether the server has closed `s` (EOF or reset within `wait`).
fn closed(s: &std::net::TcpStream, wait: Duration) -> bool {
    use std::io::Read;
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let mut r = s;
    match r.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// One query over a TCP connection from `src`; the answer's RCODE.
fn tcp_query(src: Ipv4Addr, port: u16, name: &str) -> Option<u8> {
    use std::io::{Read, Write};
    let mut s = connect_from(src, port)?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let q = wire_query(9, name, 1, None);
    let mut m = (q.len() as u16).to_be_bytes().to_vec();
    m.extend_from_slice(&q);
    s.write_all(&m).ok()?;
    let mut len = [0u8; 2];
    s.read_exact(&mut len).ok()?;
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).ok()?;
    Some(r[3] & 0xF)
}

/// Thousands of idle TCP connections: a client address gets no more than its share,
/// the total is capped, idle connections are closed once the server is under
/// pressure, UDP answers throughout, and a new TCP client is answered within
/// seconds. A connection is closed after its allowed number of queries.
#[test]
fn tcp_limits_hold_under_thousands_of_idle_connections() {
    let dir = tmp("tcp");
    let (port, mport) = (free_port(), free_port());
    let conf = blason_conf(
        &dir,
        port,
        &format!(
            "metrics = \"127.0.0.1:{mport}\"\ntcp-max-connections = 400\ntcp-idle-timeout = 60\n\
             tcp-max-per-client = 20\ntcp-max-queries = 3\n"
        ),
    );
    let log = dir.join("log");
    let _s = serve_config(&conf, &log);
    wait_answering(port, &log);
    let www = format!("www.{ZONE}");

    // One address: 20 connections stay, the next 10 are closed on arrival.
    let one = Ipv4Addr::new(127, 0, 80, 1);
    let mine: Vec<_> = (0..30).filter_map(|_| connect_from(one, port)).collect();
    assert_eq!(mine.len(), 30, "connects (closed after accept)");
    std::thread::sleep(Duration::from_millis(300));
    let shut = mine
        .iter()
        .filter(|s| closed(s, Duration::from_millis(100)))
        .count();
    assert_eq!(shut, 10, "20 per client");
    drop(mine);

    // Queries per connection: three answered, then closed.
    {
        use std::io::{Read, Write};
        let mut s = connect_from(Ipv4Addr::new(127, 0, 80, 2), port).unwrap();
        let mut burst = Vec::new();
        for id in 0..5u16 {
            let q = wire_query(id, &www, 1, None);
            burst.extend_from_slice(&(q.len() as u16).to_be_bytes());
            burst.extend_from_slice(&q);
        }
        s.write_all(&burst).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let mut n = 0;
        let mut at = 0;
        while at + 2 <= all.len() {
            at += 2 + u16::from_be_bytes([all[at], all[at + 1]]) as usize;
            n += 1;
        }
        assert_eq!(n, 3, "tcp-max-queries = 3");
    }

    // 1,200 idle connections from 60 addresses.
    let t0 = Instant::now();
    let mut idle = Vec::new();
    for h in 1..=60u8 {
        for _ in 0..20 {
            if let Some(s) = connect_from(Ipv4Addr::new(127, 0, 81, h), port) {
                idle.push(s);
            }
        }
    }
    eprintln!(
        "opened {} idle connections in {:?}",
        idle.len(),
        t0.elapsed()
    );
    // UDP answers at once.
    let udp = dig(port, &["+tries=1", "+time=2", &www, "A"]);
    assert_eq!(status(&udp), "NOERROR", "{udp}");
    // A new TCP client is answered within seconds: the idle ones make room.
    let t = Instant::now();
    let mut answered = None;
    while t.elapsed() < Duration::from_secs(8) {
        if tcp_query(Ipv4Addr::new(127, 0, 82, 1), port, &www) == Some(0) {
            answered = Some(t.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let answered = answered.expect("a new TCP client answered within 8 s");
    eprintln!("new TCP client answered after {answered:?}");
    std::thread::sleep(Duration::from_millis(2500));
    let (body, m) = scrape(mport);
    let open = m["blason_tcp_connections"];
    let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
    eprintln!(
        "open {open}, closed: idle {}, limit-total {}, limit-client {}",
        get("blason_tcp_closed_total{reason=\"idle\"}"),
        get("blason_tcp_closed_total{reason=\"limit-total\"}"),
        get("blason_tcp_closed_total{reason=\"limit-client\"}")
    );
    assert!(open < 400.0, "idle connections freed: {body}");
    assert!(
        get("blason_tcp_closed_total{reason=\"idle\"}") > 100.0,
        "{body}"
    );
    assert!(
        get("blason_tcp_closed_total{reason=\"limit-total\"}") > 0.0,
        "{body}"
    );
    assert!(
        get("blason_tcp_closed_total{reason=\"limit-client\"}") >= 10.0,
        "{body}"
    );
    assert!(
        get("blason_tcp_closed_total{reason=\"query-limit\"}") >= 1.0,
        "{body}"
    );
    drop(idle);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Random names under one wildcard share its bucket: a flood of them is limited
/// like a flood of one name (BIND keys wildcard answers by the wildcard too).
#[test]
fn names_a_wildcard_answers_share_one_rate_limit() {
    let dir = tmp("rrl-wild");
    let port = free_port();
    let conf = blason_conf(
        &dir,
        port,
        "[rate-limit]\nresponses-per-second = 5\nwindow = 2\nslip = 1\nexempt = []\n",
    );
    let log = dir.join("blason.log");
    let _blason = serve_config(&conf, &log);
    wait_answering(port, &log);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let (mut full, mut truncated) = (0, 0);
    let mut buf = [0u8; 4096];
    for i in 0..100u16 {
        let q = wire_query(i, &format!("n{i}x.wild.{ZONE}"), 16, None);
        s.send_to(&q, ("127.0.0.1", port)).unwrap();
        if let Ok(n) = s.recv(&mut buf) {
            if n >= 12 && buf[2] & 0x02 != 0 {
                truncated += 1;
            } else {
                full += 1;
            }
        }
    }
    assert!(
        full <= 10 && truncated >= 90,
        "full {full}, truncated {truncated}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
