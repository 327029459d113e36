//! blason as a secondary: of BIND 9.18 and of Knot 3.2, both started here on
//! loopback as TSIG-keyed primaries changed with `nsupdate` (so that each keeps a
//! journal and serves IXFR). blason takes each zone by AXFR, answers as the primary
//! does, follows changes by NOTIFY and IXFR, and, killed with -9 and restarted,
//! answers at once from its journal and catches up by IXFR.

mod common;

use common::{low_port, serve_config, short, soa_serial, spawn_logged, tool, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "c2Vjb25kYXJ5IHRlc3Qga2V5LCBub3QgYSByZWFsIG9uZQ==";

fn serial(port: u16, zone: &str) -> Option<u32> {
    soa_serial(port, zone)
}

fn nsupdate(port: u16, zone: &str, cmd: &str) {
    let key = format!("hmac-sha256:xfrkey:{SECRET}");
    let (ok, out) = common::nsupdate(port, Some(&key), false, &format!("zone {zone}\n{cmd}"));
    assert!(ok, "nsupdate: {out}");
}

/// k.test's SOA asks for a refresh every 2 s and expires after 8 s without a primary.
fn zone_text(z: &str) -> String {
    let timers = if z == "k.test" {
        "2 1 8"
    } else {
        "7200 3600 1209600"
    };
    format!(
        "$ORIGIN {z}.\n$TTL 300\n@ SOA ns1 hostmaster 1 {timers} 300\n@ NS ns1\n\
         ns1 A 127.0.0.77\nwww A 192.0.2.1\nalias CNAME www\n*.wild TXT \"w\"\nsub NS ns.sub\nns.sub A 192.0.2.53\n"
    )
}

#[test]
fn blason_follows_bind_and_knot_primaries() {
    let (Some(named), Some(knotd), Some(_), Some(_)) =
        (tool("named"), tool("knotd"), tool("dig"), tool("nsupdate"))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BIND, Knot, dig and nsupdate are needed"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-secondary-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (bp, p_bind, p_knot) = (low_port(), low_port(), low_port());

    // BIND, primary of b.test: dynamic (so it journals and serves IXFR), notifying blason.
    let b = dir.join("bind");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("b.test.db"), zone_text("b.test")).unwrap();
    std::fs::write(
        b.join("named.conf"),
        format!(
            r#"key "xfrkey" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
options {{
    directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {p_bind} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
    recursion no; dnssec-validation no; minimal-responses yes;
    notify explicit; also-notify {{ 127.0.0.1 port {bp} key xfrkey; }};
}};
controls {{ }};
zone "b.test" {{
    type primary; file "b.test.db";
    allow-update {{ key xfrkey; }}; allow-transfer {{ key xfrkey; }};
}};
"#,
            d = b.display()
        ),
    )
    .unwrap();
    let _bind = spawn_logged(
        Command::new(&named)
            .args(["-g", "-n", "1", "-4", "-c"])
            .arg(b.join("named.conf")),
        &b.join("named.log"),
    );

    // Knot, primary of k.test, the same way.
    let k = dir.join("knot");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(k.join("k.test.zone"), zone_text("k.test")).unwrap();
    std::fs::write(
        k.join("knot.conf"),
        format!(
            r#"server:
    rundir: "{d}"
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
  - id: blason
    address: 127.0.0.1@{bp}
    key: xfrkey
acl:
  - id: keyed
    key: xfrkey
    action: [transfer, update]
zone:
  - domain: k.test
    storage: "{d}"
    file: "k.test.zone"
    acl: keyed
    notify: blason
    zonefile-sync: -1
"#,
            d = k.display()
        ),
    )
    .unwrap();
    let knot = spawn_logged(
        Command::new(&knotd).arg("-c").arg(k.join("knot.conf")),
        &k.join("stderr.log"),
    );
    wait_for("BIND up", &b.join("named.log"), || {
        serial(p_bind, "b.test") == Some(1)
    });
    wait_for("Knot up", &k.join("knot.log"), || {
        serial(p_knot, "k.test") == Some(1)
    });

    // blason, secondary of both.
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{bp}\"]\nstate = \"{s}\"\n\
             [[key]]\nname = \"xfrkey\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\norigin = \"b.test\"\nprimaries = [\"127.0.0.1:{p_bind} key xfrkey\"]\n\
             [[zone]]\norigin = \"k.test\"\nprimaries = [\"127.0.0.1:{p_knot} key xfrkey\"]\n",
            s = dir.join("state").display()
        ),
    )
    .unwrap();
    let log = dir.join("blason.log");
    let serve = || serve_config(&conf, &log);
    let blason = serve();
    let primaries = [("b.test", p_bind), ("k.test", p_knot)];
    for (z, p) in primaries {
        wait_for(&format!("blason serving {z}"), &log, || {
            serial(bp, z) == Some(1)
        });
        for (name, t) in [
            (format!("www.{z}"), "A"),
            (format!("alias.{z}"), "A"),
            (format!("x.wild.{z}"), "TXT"),
            (format!("nx.{z}"), "A"),
        ] {
            assert_eq!(short(bp, &name, t), short(p, &name, t), "{name} {t}");
        }
    }

    // A change at each primary: NOTIFY, then IXFR.
    for (z, p) in primaries {
        nsupdate(p, z, &format!("update add new.{z} 300 A 192.0.2.99"));
        let s = serial(p, z).unwrap();
        let took = wait_for(&format!("blason following {z}"), &log, || {
            serial(bp, z) == Some(s)
        });
        eprintln!("{z}: serial {s} served by blason {took:?} after the update");
        assert_eq!(short(bp, &format!("new.{z}"), "A"), "192.0.2.99");
    }
    let text = std::fs::read_to_string(&log).unwrap();
    for (z, _) in primaries {
        assert!(
            text.lines().any(|l| l.contains("transfer in")
                && l.contains(&format!("zone={z}."))
                && l.contains("as=ixfr")),
            "{z} by IXFR:\n{text}"
        );
    }

    // Killed with -9; the primaries change meanwhile; restarted: the journal's
    // copy answers at once, then IXFR catches up.
    drop(blason);
    for (z, p) in primaries {
        nsupdate(p, z, &format!("update add down.{z} 300 A 192.0.2.98"));
    }
    let before = std::fs::read_to_string(&log).unwrap().len();
    let t = Instant::now();
    let mut blason = serve();
    wait_for("blason answering again", &log, || {
        serial(bp, "b.test").is_some()
    });
    eprintln!("first answer {:?} after the restart", t.elapsed());
    for (z, p) in primaries {
        let s = serial(p, z).unwrap();
        wait_for(&format!("blason catching up on {z}"), &log, || {
            serial(bp, z) == Some(s)
        });
        assert_eq!(short(bp, &format!("down.{z}"), "A"), "192.0.2.98");
    }
    let after = &std::fs::read_to_string(&log).unwrap()[before..];
    assert!(after.contains("zone restored from its journal"), "{after}");
    for (z, _) in primaries {
        assert!(
            after.lines().any(|l| l.contains("transfer in")
                && l.contains(&format!("zone={z}."))
                && l.contains("as=ixfr")),
            "{z} caught up by IXFR:\n{after}"
        );
    }

    // Knot goes away: past k.test's expire, blason answers SERVFAIL with Extended DNS
    // Error 24 (Invalid Data) for it, and b.test as before.
    drop(knot);
    let t = Instant::now();
    let expired = || {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &bp.to_string(),
                "www.k.test",
                "A",
                "+norec",
                "+time=1",
                "+tries=1",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        text.contains("status: SERVFAIL") && text.contains("EDE: 24")
    };
    wait_for("k.test expiring", &log, expired);
    eprintln!(
        "k.test expired {:?} after its primary went away",
        t.elapsed()
    );
    assert!(
        t.elapsed() >= Duration::from_secs(5),
        "not before the expire"
    );
    assert_eq!(short(bp, "www.b.test", "A"), "192.0.2.1");
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("secondary zone expired"));
    // A restart does not restart the expire clock: with Knot still away, k.test is
    // expired again as soon as its first refresh fails, not 8 s later.
    drop(blason);
    let t = Instant::now();
    blason = serve();
    wait_for("k.test expired after the restart", &log, expired);
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "expired again at once after a restart, not after a new expire period: {:?}",
        t.elapsed()
    );
    assert_eq!(short(bp, "www.b.test", "A"), "192.0.2.1");
    let _running = blason;
    // What `blason xfr status` says of each.
    let status = |z: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["xfr", "status", z, "--state"])
            .arg(dir.join("state"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let k_status = status("k.test");
    assert!(
        k_status.contains("EXPIRED") && k_status.contains("last failure"),
        "{k_status}"
    );
    let b_status = status("b.test");
    assert!(
        b_status.contains(&format!("secondary of     127.0.0.1:{p_bind} key xfrkey."))
            && b_status.contains("state          serving")
            && b_status.contains("last heard"),
        "{b_status}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// blason as the secondary of another blason serving a signed zone: the signed data
/// is served as received (RRSIG, NSEC, DNSKEY alike), and a change follows by NOTIFY
/// and IXFR.
#[test]
fn blason_follows_a_signed_blason_primary() {
    let Some(_) = tool("dig") else {
        assert!(std::env::var_os("CI").is_none(), "dig is needed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-secondary2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (pp, sp) = (low_port(), low_port());
    let zone = dir.join("s.test.zone");
    std::fs::write(&zone, zone_text("s.test")).unwrap();
    let key = format!("[[key]]\nname = \"xfrkey\"\nsecret = \"{SECRET}\"\n");
    std::fs::write(
        dir.join("primary.toml"),
        format!(
            "listen = [\"127.0.0.1:{pp}\"]\nstate = \"{s}\"\n{key}\
             [[zone]]\norigin = \"s.test\"\nfile = \"{z}\"\ndnssec = true\n\
             allow-transfer = [\"127.0.0.1 key xfrkey\"]\nnotify = [\"127.0.0.1:{sp} key xfrkey\"]\nnotify-ns = false\n",
            s = dir.join("pstate").display(),
            z = zone.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("secondary.toml"),
        format!(
            "listen = [\"127.0.0.1:{sp}\"]\nstate = \"{s}\"\n{key}\
             [[zone]]\norigin = \"s.test\"\nprimaries = [\"127.0.0.1:{pp} key xfrkey\"]\n",
            s = dir.join("sstate").display()
        ),
    )
    .unwrap();
    let start = |conf: &str, log: &str| serve_config(&dir.join(conf), &dir.join(log));
    let plog = dir.join("primary.log");
    let slog = dir.join("secondary.log");
    let _p = start("primary.toml", "primary.log");
    wait_for("the primary answering", &plog, || {
        serial(pp, "s.test").is_some()
    });
    let _s = start("secondary.toml", "secondary.log");
    let first = serial(pp, "s.test").unwrap();
    wait_for("the secondary serving", &slog, || {
        serial(sp, "s.test") == Some(first)
    });
    let signed = |port: u16, name: &str, t: &str| {
        let out = Command::new("dig")
            .args([
                "@127.0.0.1",
                "-p",
                &port.to_string(),
                name,
                t,
                "+dnssec",
                "+norec",
            ])
            .args(["+noall", "+answer", "+authority", "+time=1", "+tries=1"])
            .output()
            .unwrap();
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        lines.join("\n")
    };
    for (name, t) in [
        ("www.s.test", "A"),
        ("s.test", "DNSKEY"),
        ("nx.s.test", "A"),
        ("x.wild.s.test", "TXT"),
    ] {
        let want = signed(pp, name, t);
        assert!(want.contains("RRSIG"), "{name} {t} is signed:\n{want}");
        assert_eq!(signed(sp, name, t), want, "{name} {t}");
    }
    std::fs::write(
        &zone,
        zone_text("s.test").replace("192.0.2.1", "192.0.2.42"),
    )
    .unwrap();
    let (ok, out) = {
        let o = Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["reload", "--state"])
            .arg(dir.join("pstate"))
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert!(ok, "{out}");
    let second = serial(pp, "s.test").unwrap();
    wait_for("the secondary following", &slog, || {
        serial(sp, "s.test") == Some(second)
    });
    assert_eq!(signed(sp, "www.s.test", "A"), signed(pp, "www.s.test", "A"));
    assert!(std::fs::read_to_string(&slog)
        .unwrap()
        .lines()
        .any(|l| l.contains("transfer in") && l.contains("as=ixfr")));
    let _ = std::fs::remove_dir_all(&dir);
}
