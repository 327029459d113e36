//! blason as the primary of stock secondaries: BIND 9.18, Knot 3.2 and NSD 4.6, each
//! started here on loopback with a TSIG key, pull a signed zone from `blason serve`
//! and answer a query set exactly as blason does (records, signatures and denial
//! included). After a zone-file edit and a reload, NOTIFY brings each to the new
//! serial, and each used IXFR: BIND and Knot say so in their own logs; NSD, whose
//! log does not tell, connects from its own address, which blason's log names.
//! Without the key, or with a wrong one, blason refuses the transfer.

mod common;

use blason_proto::{Message, Record, Requester};
use blason_zone::{Name, Rtype};
use common::{low_port, serve_config, spawn_logged, tool};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "Zm9yIHRoZSB0ZXN0cyBvbmx5LCBub3QgYSByZWFsIGtleSE=";

fn zone_text(www: &str) -> String {
    format!(
        r#"$ORIGIN xfr.test.
$TTL 300
@          SOA   ns1 hostmaster 1 7200 3600 1209600 300
@          NS    ns1
@          MX    10 mail
ns1        A     127.0.0.77
mail       A     192.0.2.25
www        A     {www}
www        AAAA  2001:db8::1
alias      CNAME www
*.wild     A     192.0.2.2
host.ent   A     192.0.2.3
sub        NS    ns.sub
ns.sub     A     192.0.2.53
"#
    )
}

fn blason(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The SOA serial `port` serves for the zone, if any.
fn serial(port: u16) -> Option<u32> {
    let r = Requester {
        timeout: Duration::from_millis(500),
        tries: 1,
        ..Requester::default()
    };
    let m = r
        .ask(
            SocketAddr::from(([127, 0, 0, 1], port)),
            &Name::parse("xfr.test.", None).unwrap(),
            Rtype::SOA,
        )
        .ok()?;
    let rd = &m.answer.iter().find(|r| r.rtype == Rtype::SOA)?.rdata;
    let n = rd.len();
    Some(u32::from_be_bytes(rd[n - 20..n - 16].try_into().ok()?))
}

fn wait_serial(who: &str, port: u16, want: u32, log: &Path) -> Duration {
    let t = Instant::now();
    while serial(port) != Some(want) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{who} does not serve serial {want} (has {:?}):\n{}",
            serial(port),
            tail(log)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

fn tail(p: &Path) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// An answer reduced to what must agree: RCODE, AA, and the answer and authority
/// records (owner lower-cased, sorted).
fn shape(m: &Message) -> String {
    let rec = |s: &str, r: &Record| {
        let mut rd = String::new();
        blason_zone::encoding::hex_encode(&r.rdata, &mut rd);
        format!(
            "{s} {} {} {} {rd}",
            r.owner.to_lowercase(),
            r.rtype.0,
            r.ttl
        )
    };
    let mut v: Vec<String> = m.answer.iter().map(|r| rec("an", r)).collect();
    v.extend(m.authority.iter().map(|r| rec("ns", r)));
    v.sort();
    format!(
        "rcode {} aa {}\n{}",
        m.rcode(),
        m.is_authoritative(),
        v.join("\n")
    )
}

fn ask(port: u16, name: &str, t: Rtype) -> Message {
    let r = Requester {
        dnssec_ok: true,
        ..Requester::default()
    };
    r.ask(
        SocketAddr::from(([127, 0, 0, 1], port)),
        &Name::parse(name, None).unwrap(),
        t,
    )
    .unwrap()
}

#[test]
fn bind_knot_and_nsd_follow_blason_by_axfr_then_ixfr() {
    let (Some(named), Some(knotd), Some(nsd), Some(_)) =
        (tool("named"), tool("knotd"), tool("nsd"), tool("dig"))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BIND, Knot, NSD and dig are needed (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-xfr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (bp, p_bind, p_knot, p_nsd) = (low_port(), low_port(), low_port(), low_port());
    let zone = dir.join("xfr.test.zone");
    std::fs::write(&zone, zone_text("192.0.2.1")).unwrap();
    let state = dir.join("state");
    std::fs::write(
        dir.join("blason.toml"),
        format!(
            r#"listen = ["127.0.0.1:{bp}"]
state = "{state}"
[[key]]
name = "xfrkey"
secret = "{SECRET}"
[[zone]]
origin = "xfr.test"
file = "{zone}"
dnssec = true
allow-transfer = ["127.0.0.0/8 key xfrkey"]
notify = ["127.0.0.1:{p_bind} key xfrkey", "127.0.0.1:{p_knot} key xfrkey", "127.0.0.1:{p_nsd} key xfrkey"]
# Not the NS target's port 53: a packaged server may be listening there.
notify-ns = false
"#,
            state = state.display(),
            zone = zone.display()
        ),
    )
    .unwrap();
    let blason_log = dir.join("blason.log");
    let _blason = serve_config(&dir.join("blason.toml"), &blason_log);
    let t = Instant::now();
    let first = loop {
        if let Some(s) = serial(bp) {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{}",
            tail(&blason_log)
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    // BIND: debug 3 on xfer-in says whether a response was incremental. BIND and
    // NSD answer with minimal responses, as blason and Knot do (no NS RRset in the
    // authority section of a positive answer).
    let b = dir.join("bind");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(
        b.join("named.conf"),
        format!(
            r#"key "xfrkey" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
options {{
    directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {p_bind} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
    recursion no; dnssec-validation no; notify no; minimal-responses yes;
}};
controls {{ }};
logging {{
    channel xfr {{ file "{d}/xfer.log"; severity debug 3; print-time yes; }};
    category xfer-in {{ xfr; }}; category notify {{ xfr; }}; category general {{ xfr; }};
}};
zone "xfr.test" {{
    type secondary; file "xfr.test.bk";
    primaries {{ 127.0.0.1 port {bp} key xfrkey; }};
    allow-notify {{ 127.0.0.1; }};
}};
"#,
            d = b.display()
        ),
    )
    .unwrap();
    let _bind = spawn_logged(
        Command::new(&named)
            .args(["-f", "-n", "1", "-4", "-c"])
            .arg(b.join("named.conf")),
        &b.join("stderr.log"),
    );

    // Knot: its log names AXFR and IXFR.
    let k = dir.join("knot");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(
        k.join("knot.conf"),
        format!(
            r#"server:
    rundir: "{d}"
    pidfile: "{d}/knot.pid"
    listen: 127.0.0.1@{p_knot}
log:
  - target: "{d}/knot.log"
    any: info
database:
    storage: "{d}"
key:
  - id: xfrkey
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: primary
    address: 127.0.0.1@{bp}
    key: xfrkey
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: xfrkey
    action: notify
template:
  - id: default
    storage: "{d}"
    file: "%s.zone"
zone:
  - domain: xfr.test
    master: primary
    acl: notify_from_primary
"#,
            d = k.display()
        ),
    )
    .unwrap();
    let _knot = spawn_logged(
        Command::new(&knotd).arg("-c").arg(k.join("knot.conf")),
        &k.join("stderr.log"),
    );

    // NSD: its log does not say which kind; it connects from 127.0.0.3, which
    // blason's log names.
    let n = dir.join("nsd");
    std::fs::create_dir_all(&n).unwrap();
    std::fs::write(
        n.join("nsd.conf"),
        format!(
            r#"server:
    port: {p_nsd}
    ip-address: 127.0.0.1
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    xfrdfile: "{d}/xfrd.state"
    zonelistfile: "{d}/zone.list"
    xfrdir: "{d}"
    logfile: "{d}/nsd.log"
    verbosity: 2
    server-count: 1
    minimal-responses: yes
remote-control:
    control-enable: no
key:
    name: "xfrkey"
    algorithm: hmac-sha256
    secret: "{SECRET}"
zone:
    name: "xfr.test"
    zonefile: "xfr.test.zone"
    request-xfr: 127.0.0.1@{bp} xfrkey
    outgoing-interface: 127.0.0.3
    allow-notify: 127.0.0.1 xfrkey
"#,
            d = n.display()
        ),
    )
    .unwrap();
    let _nsd = spawn_logged(
        Command::new(&nsd)
            .arg("-d")
            .arg("-c")
            .arg(n.join("nsd.conf")),
        &n.join("stderr.log"),
    );

    let peers = [
        ("BIND", p_bind, b.join("xfer.log")),
        ("Knot", p_knot, k.join("knot.log")),
        ("NSD", p_nsd, n.join("nsd.log")),
    ];
    for (who, port, log) in &peers {
        wait_serial(who, *port, first, log);
    }
    let cases: &[(&str, Rtype)] = &[
        ("www.xfr.test.", Rtype::A),
        ("www.xfr.test.", Rtype::AAAA),
        ("xfr.test.", Rtype::MX),
        ("xfr.test.", Rtype::DNSKEY),
        ("www.xfr.test.", Rtype::TXT),
        ("nx.xfr.test.", Rtype::A),
        ("ent.xfr.test.", Rtype::A),
        ("x.wild.xfr.test.", Rtype::A),
        ("alias.xfr.test.", Rtype::A),
        ("a.sub.xfr.test.", Rtype::A),
    ];
    let compare = |when: &str| {
        let mut diffs = Vec::new();
        for (name, t) in cases {
            let want = shape(&ask(bp, name, *t));
            for (who, port, _) in &peers {
                let got = shape(&ask(*port, name, *t));
                if got != want {
                    diffs.push(format!(
                        "{when}: {who} {name} {t}:\n--- blason\n{want}\n--- {who}\n{got}"
                    ));
                }
            }
        }
        assert!(diffs.is_empty(), "{}", diffs.join("\n\n"));
    };
    compare("after the first transfer");

    // An edit and a reload: NOTIFY, then IXFR, for all three.
    std::fs::write(&zone, zone_text("192.0.2.99")).unwrap();
    let (ok, out) = blason(&["reload", "--state", state.to_str().unwrap()]);
    assert!(ok, "{out}");
    let second = serial(bp).unwrap();
    assert!(second != first, "the serial moved");
    for (who, port, log) in &peers {
        let took = wait_serial(who, *port, second, log);
        eprintln!("{who} serves serial {second} {took:?} after the reload");
    }
    compare("after the change");
    let bind_log = std::fs::read_to_string(b.join("xfer.log")).unwrap();
    assert!(
        bind_log.contains("got incremental response"),
        "BIND used IXFR:\n{bind_log}"
    );
    let knot_log = std::fs::read_to_string(k.join("knot.log")).unwrap();
    assert!(
        knot_log.contains("IXFR, incoming") && knot_log.contains("finished"),
        "Knot used IXFR:\n{knot_log}"
    );
    let ours = std::fs::read_to_string(&blason_log).unwrap();
    assert!(
        ours.lines().any(|l| l.contains("transfer out")
            && l.contains("client=127.0.0.3:")
            && l.contains("as=ixfr")),
        "NSD used IXFR:\n{ours}"
    );

    // The state of each secondary, from the running server.
    let (ok, status) = blason(&[
        "xfr",
        "status",
        "xfr.test",
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(ok, "{status}");
    assert!(
        status.contains(&format!("serial served   {second}"))
            && status.contains("127.0.0.3  ixfr from")
            && status.contains("allow-transfer  127.0.0.0/8 key xfrkey."),
        "{status}"
    );
    for port in [p_bind, p_knot, p_nsd] {
        assert!(
            status.contains(&format!("127.0.0.1:{port}  serial {second} sent")),
            "{status}"
        );
    }
    assert!(
        status.contains(&format!("acknowledged serial {second}")),
        "{status}"
    );

    // Without the key, or with a wrong one: refused.
    let axfr = |extra: &[&str]| {
        let out = Command::new("dig")
            .args(["@127.0.0.1", "-p", &bp.to_string(), "xfr.test", "AXFR"])
            .args(extra)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(axfr(&[]).contains("Transfer failed"));
    let wrong = axfr(&["-y", "hmac-sha256:xfrkey:d3Jvbmcgc2VjcmV0"]);
    assert!(
        wrong.contains("BADSIG") || wrong.contains("Transfer failed"),
        "{wrong}"
    );
    let good = axfr(&["-y", &format!("hmac-sha256:xfrkey:{SECRET}")]);
    assert!(good.contains("XFR size"), "{good}");
    let ours = std::fs::read_to_string(&blason_log).unwrap();
    assert!(ours.contains("transfer refused: not allowed"), "{ours}");
    assert!(ours.contains("transfer refused: bad TSIG"), "{ours}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `blason tsig keygen` prints configs that BIND, Knot and NSD accept as they are,
/// with a secret of the algorithm's length.
#[test]
fn tsig_keygen_prints_configs_the_peers_accept() {
    let (Some(checkconf), Some(knotc), Some(nsdcheck)) = (
        tool("named-checkconf"),
        tool("knotc"),
        tool("nsd-checkconf"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BIND, Knot and NSD are needed"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (alg, bytes) in [("hmac-sha256", 32), ("hmac-sha512", 64)] {
        let (ok, text) = blason(&[
            "tsig",
            "keygen",
            "xfr-key",
            "-a",
            alg,
            "--zone",
            "example.org",
            "--primary",
            "127.0.0.1:5300",
        ]);
        assert!(ok, "{text}");
        let part = |from: &str, to: Option<&str>| -> String {
            let start = text.find(from).unwrap() + from.len();
            let end = to.map_or(text.len(), |t| text.find(t).unwrap());
            text[start..end].to_string()
        };
        let secret = part("secret = \"", None);
        let secret = &secret[..secret.find('"').unwrap()];
        let mut raw = Vec::new();
        blason_zone::encoding::base64_decode(secret.as_bytes(), &mut raw).unwrap();
        assert_eq!(raw.len(), bytes, "{alg}");
        let check = |name: &str, body: String, cmd: &mut Command, after: &[&str]| {
            let f = dir.join(name);
            std::fs::write(&f, body).unwrap();
            let out = cmd.arg(&f).args(after).output().unwrap();
            assert!(
                out.status.success(),
                "{name}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        check(
            "named.conf",
            part("# BIND secondary (named.conf)", Some("# Knot")),
            &mut Command::new(&checkconf),
            &[],
        );
        check(
            "knot.conf",
            part("# Knot secondary (knot.conf)", Some("# NSD")),
            Command::new(&knotc).arg("-c"),
            &["conf-check"],
        );
        check(
            "nsd.conf",
            part("# NSD secondary (nsd.conf)", None),
            &mut Command::new(&nsdcheck),
            &[],
        );
        // And blason takes its own part.
        let toml = format!(
            "listen = [\"127.0.0.1:0\"]\n{}",
            part(
                "# blason (blason.toml): the key, and who may transfer with it",
                Some("# in the zone")
            )
        );
        let parsed: Result<toml::Value, _> = toml.parse();
        assert!(parsed.is_ok(), "{toml}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
