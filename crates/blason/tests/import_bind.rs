//! `blason import bind` on a realistic BIND setup started on loopback: named.conf
//! with includes, a plain zone, a zone signed by `dnssec-policy` with its K-files,
//! a dynamic zone with `update-policy`, TSIG keys, `allow-transfer` and
//! `also-notify`. After the import, blason answers as named does (every record of
//! every zone, by AXFR with BIND's key), the signed zone validates in Unbound with
//! the DS made from BIND's keys, nsupdate with BIND's key works, and a BIND
//! secondary that pulled from named pulls from blason with the same key, taking the
//! update made there.

mod common;

use common::{free_port, nsupdate, short, tool, wait_for, Kill};
use std::path::Path;
use std::process::Command;

const XFR: &str = "aW1wb3J0LXRlc3QteGZyLWtleS1zZWNyZXQtMDEyMzQ1Njc=";
const DDNS: &str = "aW1wb3J0LXRlc3QtZGRucy1rZXktc2VjcmV0LTAxMjM0NTY=";

fn zone_file(origin: &str) -> String {
    format!(
        "$ORIGIN {origin}.\n$TTL 300\n@ SOA ns1 hostmaster 2024010101 7200 3600 1209600 60\n\
         @ NS ns1\nns1 A 127.0.0.1\n@ MX 10 mail\nmail A 192.0.2.25\nwww A 192.0.2.80\n\
         www AAAA 2001:db8::80\nftp CNAME www\n@ TXT \"v=spf1 mx -all\"\n*.wild A 192.0.2.99\n\
         sub NS ns.sub\nns.sub A 192.0.2.53\n"
    )
}

fn named(dir: &Path, conf: &Path, log: &Path) -> Kill {
    common::spawn_logged(
        Command::new(tool("named").expect("named is needed"))
            .args(["-g", "-n", "1", "-4", "-c"])
            .arg(conf)
            .current_dir(dir),
        log,
    )
}

/// Every record of `zone` at `port` by AXFR with the xfr key, sorted, as text.
fn axfr(port: u16, zone: &str) -> Vec<String> {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+nocmd",
            "+nostats",
            "+noall",
            "+answer",
        ])
        .args(["-y", &format!("hmac-sha256:xfr:{XFR}"), zone, "AXFR"])
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with(';'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn answer(port: u16, name: &str, qtype: &str) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+norec",
            "+noall",
            "+answer",
            "+comments",
        ])
        .args([name, qtype])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("none")
        .to_string();
    let mut rrs: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with(';') && !l.is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    rrs.sort();
    format!("{status} {}", rrs.join(" | "))
}

#[test]
fn a_bind_setup_moves_to_blason_in_one_command() {
    let Some(_) = tool("named") else {
        panic!("named is needed (scripts/test.sh installs bind9)");
    };
    let dir = std::env::temp_dir().join(format!("blason-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let (p_named, p_blason, p_second) = (free_port(), free_port(), free_port());
    for z in ["plain.test", "signed.test", "dyn.test"] {
        std::fs::write(dir.join(format!("{z}.zone")), zone_file(z)).unwrap();
    }
    let d = dir.display();
    std::fs::write(
        dir.join("named.conf"),
        "// The tutorials' layout.\ninclude \"named.conf.options\";\ninclude \"keys.conf\";\ninclude \"named.conf.local\";\ncontrols { };\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("named.conf.options"),
        format!(
            "options {{\n    directory \"{d}\";\n    key-directory \"{d}/keys\";\n    listen-on port {p_named} {{ 127.0.0.1; }};\n\
             listen-on-v6 {{ none; }};\n    recursion no;\n    dnssec-validation no;\n    pid-file none;\n\
             session-keyfile none;\n    managed-keys-directory \"{d}\";\n    notify explicit;\n\
             allow-transfer {{ key \"xfr\"; }};\n}};\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("keys.conf"),
        format!(
            "key \"xfr\" {{\n    algorithm hmac-sha256;\n    secret \"{XFR}\";\n}};\n\
             key \"ddns\" {{ algorithm hmac-sha256; secret \"{DDNS}\"; }};\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("named.conf.local"),
        format!(
            "zone \"plain.test\" {{\n    type primary;\n    file \"plain.test.zone\";\n\
             also-notify {{ 127.0.0.1 port {p_second} key xfr; }};\n}};\n\
             zone \"signed.test\" {{ type master; file \"signed.test.zone\"; dnssec-policy default; inline-signing yes; }};\n\
             zone \"dyn.test\" {{\n    type primary;\n    file \"dyn.test.zone\";\n\
             update-policy {{ grant ddns zonesub ANY; }};\n\
             also-notify {{ 127.0.0.1 port {p_second} key xfr; }};\n}};\n"
        ),
    )
    .unwrap();
    let nlog = dir.join("named.log");
    let named_proc = named(&dir, &dir.join("named.conf"), &nlog);
    wait_for("named answering", &nlog, || {
        short(p_named, "www.plain.test", "A") == "192.0.2.80"
            && short(p_named, "signed.test", "DNSKEY").contains("257 3 13")
    });

    // A BIND secondary of dyn.test, taking it from named with the xfr key.
    let sdir = dir.join("secondary");
    std::fs::create_dir_all(&sdir).unwrap();
    let write_secondary = |primary: u16| {
        std::fs::write(
            sdir.join("named.conf"),
            format!(
                "options {{ directory \"{s}\"; listen-on port {p_second} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
                 recursion no; dnssec-validation no; pid-file none; session-keyfile none; notify no; }};\n\
                 controls {{ }};\nkey \"xfr\" {{ algorithm hmac-sha256; secret \"{XFR}\"; }};\n\
                 zone \"dyn.test\" {{ type secondary; file \"dyn.test.db\"; primaries {{ 127.0.0.1 port {primary} key xfr; }}; }};\n",
                s = sdir.display()
            ),
        )
        .unwrap();
    };
    write_secondary(p_named);
    let slog = sdir.join("named.log");
    let second = named(&sdir, &sdir.join("named.conf"), &slog);
    wait_for(
        "the BIND secondary taking dyn.test from named",
        &slog,
        || short(p_second, "mail.dyn.test", "A") == "192.0.2.25",
    );

    // The import.
    let state = dir.join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["import", "bind"])
        .arg(dir.join("named.conf"))
        .arg("-o")
        .arg(dir.join("blason.toml"))
        .arg("--state")
        .arg(&state)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{said}");
    let conf = std::fs::read_to_string(dir.join("blason.toml")).unwrap();
    assert!(
        said.contains("3 zones, 2 keys, 1 DNSSEC key files adopted"),
        "{said}\n{conf}"
    );
    assert!(
        said.contains("named.conf:5: controls is not needed"),
        "{said}"
    );
    // The K-file is in blason's state, as BIND made it.
    let kfiles: Vec<_> = std::fs::read_dir(state.join("signed.test/keys"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(kfiles.len(), 2, "{kfiles:?}");

    // --check: blason with the new config beside the running named, every name and
    // type of the zone files asked of both.
    let check = |out: &str, state: &Path| {
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["import", "bind", "--check", "--force"])
            .arg(dir.join("named.conf"))
            .arg("-o")
            .arg(dir.join(out))
            .arg("--state")
            .arg(state)
            .output()
            .unwrap()
    };
    // BIND's inline signing moved the signed zone's serial past the file's: the
    // check says so, with the fix.
    let c = check("check.toml", &state);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );
    assert_eq!(c.status.code(), Some(1), "{text}");
    assert!(
        text.contains(": 1 answers differ")
            && text.contains("signed.test. SOA serial: named serves"),
        "{text}"
    );
    let signed = dir.join("signed.test.zone");
    std::fs::write(
        &signed,
        zone_file("signed.test").replace("2024010101", "2024010199"),
    )
    .unwrap();
    let c = check("check.toml", &state);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );
    assert!(c.status.success(), "{text}");
    assert!(text.contains(": 0 answers differ"), "{text}");
    // A zone file changed since named loaded it: the check says where.
    let plain = dir.join("plain.test.zone");
    std::fs::write(&plain, zone_file("plain.test") + "extra A 192.0.2.200\n").unwrap();
    let c = check("check2.toml", &dir.join("state2"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&c.stdout),
        String::from_utf8_lossy(&c.stderr)
    );
    assert_eq!(c.status.code(), Some(1), "{text}");
    assert!(
        text.contains("extra.plain.test. A: named NXDOMAIN"),
        "{text}"
    );
    std::fs::write(&plain, zone_file("plain.test")).unwrap();

    let blog = dir.join("blason.log");
    let _blason = common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["serve", "--config"])
            .arg(dir.join("blason.toml"))
            .args(["--listen", &format!("127.0.0.1:{p_blason}")]),
        &blog,
    );
    wait_for("blason answering", &blog, || {
        short(p_blason, "signed.test", "DNSKEY").contains("257 3 13")
    });

    // Every record of the plain and dynamic zones, as named serves them.
    for z in ["plain.test", "dyn.test"] {
        let (a, b) = (axfr(p_named, z), axfr(p_blason, z));
        assert!(a.len() > 10, "named's {z}: {a:?}");
        assert_eq!(a, b, "{z} by AXFR: named (left) and blason (right)");
    }
    // And answers, negative ones included.
    for (name, t) in [
        ("www.plain.test", "A"),
        ("ftp.plain.test", "A"),
        ("x.wild.plain.test", "A"),
        ("nothere.plain.test", "A"),
        ("www.plain.test", "MX"),
        ("plain.test", "TXT"),
        ("www.signed.test", "AAAA"),
        ("mail.dyn.test", "A"),
    ] {
        assert_eq!(
            answer(p_named, name, t),
            answer(p_blason, name, t),
            "{name} {t}"
        );
    }

    // The DS made from BIND's key is blason's DS, and it validates through Unbound.
    let kkey = std::fs::read_dir(dir.join("keys"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "key"))
        .unwrap();
    let bind_ds = Command::new(tool("dnssec-dsfromkey").expect("dnssec-dsfromkey"))
        .arg("-2")
        .arg(&kkey)
        .output()
        .unwrap();
    let bind_ds = String::from_utf8_lossy(&bind_ds.stdout).trim().to_string();
    let ours = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["dnssec", "ds", "signed.test", "--state"])
        .arg(&state)
        .output()
        .unwrap();
    let ours = String::from_utf8_lossy(&ours.stdout).to_string();
    let norm = |s: &str| {
        s.split_whitespace()
            .filter(|w| *w != "IN")
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase()
    };
    let bind_norm = norm(&bind_ds);
    let digest = bind_norm.split(' ').next_back().unwrap().to_string();
    assert!(
        norm(&ours).contains(&digest),
        "BIND's DS {bind_ds}\nblason's:\n{ours}"
    );
    std::fs::write(dir.join("anchor"), format!("{bind_ds}\n")).unwrap();
    if let Some(unbound) = tool("unbound") {
        let (_u, uport) = common::start_unbound_stubs(
            &unbound,
            &dir,
            &[(".", p_blason), ("signed.test.", p_blason)],
            "",
            "",
        );
        common::wait_ready(uport, "www.signed.test.", &[]);
        let (status, ad, text) = common::dig(uport, "www.signed.test.", "A", &[]);
        assert!(
            status == "NOERROR" && ad,
            "validated with BIND's DS:\n{text}"
        );
    }

    // The BIND secondary that pulled dyn.test from named now pulls from blason,
    // with the same key, and takes the update made at blason.
    drop(second);
    drop(named_proc);
    write_secondary(p_blason);
    let _second = named(&sdir, &sdir.join("named.conf"), &slog);
    wait_for("the BIND secondary answering again", &slog, || {
        short(p_second, "mail.dyn.test", "A") == "192.0.2.25"
    });
    // nsupdate with BIND's key.
    let (ok, text) = nsupdate(
        p_blason,
        Some(&format!("hmac-sha256:ddns:{DDNS}")),
        false,
        "zone dyn.test\nupdate add new.dyn.test 60 A 192.0.2.7",
    );
    assert!(ok, "{text}");
    assert_eq!(short(p_blason, "new.dyn.test", "A"), "192.0.2.7");

    wait_for(
        "the BIND secondary taking dyn.test from blason",
        &slog,
        || short(p_second, "new.dyn.test", "A") == "192.0.2.7",
    );
    let _ = std::fs::remove_dir_all(&dir);
}
