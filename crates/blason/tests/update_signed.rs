//! Dynamic updates on a signed zone: after each `nsupdate` answered NOERROR, Unbound
//! (fenced to loopback, with the zone's DS as its anchor, no aggressive NSEC)
//! validates the new names, the changed ones and the removed ones (NXDOMAIN, proven)
//! as secure, and BIND, Knot and NSD secondaries told by NOTIFY serve the new
//! serial (Knot by IXFR), each within a second of the NOERROR.

mod common;

use common::{dig, low_port, not_secure, serve_config, soa_serial};
use common::{start_bind_secondary, start_knot_secondary, start_nsd_secondary};
use common::{start_unbound_stubs, tool, wait_for};
use std::process::Command;
use std::time::{Duration, Instant};

const SECRET: &str = "c2lnbmVkIHVwZGF0ZSB0ZXN0IGtleSwgbm90IHJlYWwh";

fn nsupdate(port: u16, script: &str) {
    let key = format!("hmac-sha256:dyn-key:{SECRET}");
    let (ok, out) = common::nsupdate(port, Some(&key), false, &format!("zone s.test\n{script}"));
    assert!(ok, "nsupdate: {out}");
}

fn serial(port: u16) -> Option<u32> {
    soa_serial(port, "s.test")
}

#[test]
fn updates_to_a_signed_zone_validate_and_reach_a_secondary() {
    let (Some(unbound), Some(_), Some(_), Some(_), Some(_), Some(_)) = (
        tool("unbound"),
        tool("nsupdate"),
        tool("knotd"),
        tool("named"),
        tool("nsd"),
        tool("dig"),
    ) else {
        panic!("unbound, nsupdate, knotd, named, nsd and dig are needed (scripts/test.sh installs them)");
    };
    let dir = std::env::temp_dir().join(format!("blason-update-signed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.test.zone"),
        "$ORIGIN s.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n\
         @ NS ns1\nns1 A 127.0.0.77\nwww A 192.0.2.80\n",
    )
    .unwrap();
    let (bport, kport, nport, dport) = (low_port(), low_port(), low_port(), low_port());
    std::fs::write(
        dir.join("blason.toml"),
        format!(
            "listen = [\"127.0.0.1:{bport}\"]\nstate = \"{s}\"\n\
             [[key]]\nname = \"dyn-key\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\norigin = \"s.test\"\nfile = \"{z}\"\ndnssec = true\n\
             allow-transfer = [\"127.0.0.1\"]\nnotify = [\"127.0.0.1:{kport}\", \"127.0.0.1:{nport}\", \"127.0.0.1:{dport}\"]\nnotify-ns = false\n\
             [[zone.update]]\nkey = \"dyn-key\"\ngrant = \"subdomain\"\nname = \"dyn.s.test\"\n",
            s = dir.join("state").display(),
            z = dir.join("s.test.zone").display()
        ),
    )
    .unwrap();
    let log = dir.join("blason.log");
    let _blason = serve_config(&dir.join("blason.toml"), &log);
    wait_for("blason answering", &log, || {
        dig(bport, "s.test", "SOA", &[]).0 == "NOERROR"
    });
    let ds = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["dnssec", "ds", "s.test", "--state"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let ds = String::from_utf8_lossy(&ds.stdout);
    let anchor = ds.lines().find(|l| l.contains(" DS ")).expect("a DS line");
    std::fs::write(dir.join("anchor"), format!("{anchor}\n")).unwrap();
    let _knot = start_knot_secondary(&dir, "s.test.", bport, kport).unwrap();
    let _bind = start_bind_secondary(&dir, "s.test.", bport, dport).unwrap();
    let _nsd = start_nsd_secondary(&dir, "s.test.", bport, nport).unwrap();
    let klog = dir.join("knot").join("knot.log");
    let secondaries = [
        ("Knot", kport, klog.clone()),
        ("BIND", dport, dir.join("bind").join("xfer.log")),
        ("NSD", nport, dir.join("nsd").join("nsd.log")),
    ];
    for (who, port, log) in &secondaries {
        wait_for(&format!("{who} serving s.test"), log, || {
            serial(*port).is_some()
        });
    }
    // Without aggressive use of cached NSEC (RFC 8198), which would rightly keep
    // proving a new name absent until the proof's TTL runs out.
    let (_unbound, uport) = start_unbound_stubs(
        &unbound,
        &dir,
        &[(".", bport), ("s.test.", bport)],
        "    aggressive-nsec: no\n",
        "",
    );
    common::wait_ready(uport, "www.s.test.", &[]);

    let mut slowest = [Duration::ZERO; 3];
    for i in 0..8 {
        // New names, a changed one, and a name added earlier (never asked) removed.
        let mut script = format!(
            "update add h{i}.dyn.s.test 60 A 192.0.2.{i}\n\
             update add t{i}.dyn.s.test 60 TXT \"step {i}\"\n\
             update add gone{i}.dyn.s.test 60 A 192.0.2.200\n\
             update delete dyn.s.test A\nupdate add dyn.s.test 60 A 198.51.100.{i}\n"
        );
        if i > 0 {
            script += &format!("update delete gone{}.dyn.s.test\n", i - 1);
        }
        nsupdate(bport, &script);
        let t = Instant::now();
        let want = serial(bport).unwrap();
        let mut cases = vec![
            (format!("h{i}.dyn.s.test."), "A", "NOERROR"),
            (format!("t{i}.dyn.s.test."), "TXT", "NOERROR"),
            (format!("h{i}.dyn.s.test."), "AAAA", "NOERROR"),
        ];
        if i > 0 {
            cases.push((format!("gone{}.dyn.s.test.", i - 1), "A", "NXDOMAIN"));
        }
        let cases: Vec<(&str, &str, &str)> =
            cases.iter().map(|(n, t, s)| (n.as_str(), *t, *s)).collect();
        // Each secondary, told by NOTIFY, at the new serial (the time is reported,
        // not asserted: CI does not depend on a timing).
        for (k, (who, port, log)) in secondaries.iter().enumerate() {
            wait_for(&format!("{who} at serial {want}"), log, || {
                serial(*port) == Some(want)
            });
            slowest[k] = slowest[k].max(t.elapsed());
        }
        let bad = not_secure(uport, &cases);
        assert!(bad.is_empty(), "step {i}: not secure: {bad:?}");
    }
    let knot_log = std::fs::read_to_string(&klog).unwrap();
    assert!(
        knot_log.contains("IXFR, incoming") || knot_log.contains("IXFR, finished"),
        "Knot took the changes by IXFR:\n{knot_log}"
    );
    let failures = common::unbound_log_failures(&dir);
    assert!(failures.is_empty(), "Unbound: {failures:?}");
    for ((who, _, _), d) in secondaries.iter().zip(slowest) {
        eprintln!("{who}: at the new serial at most {d:?} after NOERROR");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
