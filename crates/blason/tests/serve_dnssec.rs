//! Automatic signing in `blason serve`: a zone marked `dnssec = true` is signed at load
//! with a CSK that blason makes and keeps in its state folder. The DS printed by
//! `blason dnssec ds --state` is the trust anchor of a validating Unbound, which must
//! answer positive, NXDOMAIN, NODATA and wildcard cases as secure (AD set), with zero
//! SERVFAIL. A restart with the same state folder keeps the same key (same DS), and
//! answers still validate under the old anchor.
//!
//! Unbound is fenced to loopback exactly as in validate.rs: stubs only at 127.0.0.1,
//! `do-ip6: no`, and `do-not-query-address` for every IPv4 block outside 127.0.0.0/8.

mod common;

use common::{dig, free_port, not_secure, start_unbound, tool, wait_ready, Kill};
use std::path::Path;
use std::process::{Command, Stdio};

const ZONE: &str = r#"$ORIGIN auto.test.
$TTL 300
@          SOA   ns hostmaster 1 7200 3600 1209600 300
@          NS    ns
@          MX    10 mail
ns         A     127.0.0.1
mail       A     192.0.2.25
www        A     192.0.2.1
www        AAAA  2001:db8::1
*.wild     A     192.0.2.2
host.ent   A     192.0.2.3
"#;

fn blason(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "blason {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn serve(config: &Path) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn serve_signs_a_dnssec_zone_that_unbound_validates() {
    let (Some(unbound), Some(_)) = (tool("unbound"), tool("dig")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "unbound or dig missing (scripts/test.sh installs them)"
        );
        eprintln!("SKIP: unbound or dig missing");
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-serve-dnssec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("auto.test.zone"), ZONE).unwrap();
    let state = dir.join("state");
    let bport = free_port();
    let config = dir.join("blason.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{bport}\"]\nstate = \"{}\"\n\
             [[zone]]\norigin = \"auto.test.\"\nfile = \"auto.test.zone\"\ndnssec = true\n",
            state.display()
        ),
    )
    .unwrap();

    let server = serve(&config);
    wait_ready(bport, "www.auto.test.", &["+norec"]);
    let state_arg = state.to_str().unwrap();
    let ds = blason(&["dnssec", "ds", "auto.test", "--state", state_arg]);
    let ds_line = ds
        .lines()
        .find(|l| l.contains(" DS "))
        .expect("a DS line")
        .to_string();
    assert!(
        ds_line.contains(" DS ") && ds_line.contains(" 13 2 "),
        "{ds}"
    );
    std::fs::write(dir.join("anchor"), format!("{ds_line}\n")).unwrap();
    let status = blason(&["dnssec", "status", "auto.test", "--state", state_arg]);
    assert!(
        status.contains("ECDSAP256SHA256") && status.contains("CSK"),
        "{status}"
    );
    // Asked of the running server over its control socket.
    assert!(status.contains("policy  the running server"), "{status}");
    // What is served: its serial and the earliest expiry, written by the server.
    assert!(
        status.contains("served: serial ") && status.contains("no signature expires before"),
        "{status}"
    );

    let (_unbound, uport) = start_unbound(&unbound, &dir, bport, &["auto.test."]);
    wait_ready(uport, "www.auto.test.", &[]);

    let cases = [
        ("www.auto.test.", "A", "NOERROR"),
        ("www.auto.test.", "AAAA", "NOERROR"),
        ("auto.test.", "MX", "NOERROR"),
        ("auto.test.", "DNSKEY", "NOERROR"),
        ("nx.auto.test.", "A", "NXDOMAIN"),
        ("a.b.nx.auto.test.", "A", "NXDOMAIN"),
        ("www.auto.test.", "TXT", "NOERROR"),
        ("ent.auto.test.", "A", "NOERROR"),
        ("x.wild.auto.test.", "A", "NOERROR"),
        ("x.wild.auto.test.", "MX", "NOERROR"),
    ];
    let mut bad = not_secure(uport, &cases);

    // Restart with the same state folder: the same key, so the same DS.
    drop(server);
    let server = serve(&config);
    wait_ready(bport, "www.auto.test.", &["+norec"]);
    let ds2 = blason(&["dnssec", "ds", "auto.test", "--state", state_arg]);
    let keys = std::fs::read_dir(state.join("auto.test").join("keys"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "key")
        })
        .count();
    let served = dig(bport, "auto.test.", "DNSKEY", &["+norec", "+short"]).2;
    let dnskey = ds
        .lines()
        .find(|l| l.contains(" DNSKEY "))
        .and_then(|l| l.split_whitespace().last())
        .unwrap()
        .to_string();
    // Names not asked before, so Unbound asks the restarted server.
    bad.extend(not_secure(
        uport,
        &[
            ("y.wild.auto.test.", "A", "NOERROR"),
            ("nx2.auto.test.", "A", "NXDOMAIN"),
            ("mail.auto.test.", "AAAA", "NOERROR"),
        ],
    ));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(ds, ds2, "the restarted server must keep its key");
    assert_eq!(keys, 1, "one CSK, made once");
    assert!(
        served.replace(' ', "").contains(&dnskey),
        "served DNSKEY {served} lacks {dnskey}"
    );
    assert!(
        bad.is_empty(),
        "{} answers not validated as secure:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// The `RRSIG` lines of the answer section of a `dig +dnssec` output.
fn answer_rrsigs(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with(';') && l.contains("\tRRSIG\t"))
        .map(str::to_string)
        .collect()
}

fn serial(port: u16) -> u32 {
    let (_, _, text) = dig(port, "auto.test.", "SOA", &["+norec", "+short"]);
    text.lines()
        .find(|l| !l.contains("RRSIG") && !l.trim().is_empty())
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial in {text}"))
}

/// An edited zone file is re-signed by its changes: the changed RRsets and the NSEC
/// records around them get new signatures, every other signature is kept byte for
/// byte, the served serial moves forward although the file's did not, and Unbound
/// validates the new data and the new denial proofs.
#[test]
fn an_edited_zone_is_re_signed_by_its_changes_only() {
    let (Some(unbound), Some(_)) = (tool("unbound"), tool("dig")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "unbound or dig missing (scripts/test.sh installs them)"
        );
        eprintln!("SKIP: unbound or dig missing");
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-serve-incr-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zone_file = dir.join("auto.test.zone");
    std::fs::write(&zone_file, ZONE).unwrap();
    let state = dir.join("state");
    let bport = free_port();
    let config = dir.join("blason.toml");
    std::fs::write(
        &config,
        format!(
            "listen = [\"127.0.0.1:{bport}\"]\nstate = \"{}\"\npid-file = \"{}\"\n\
             [[zone]]\norigin = \"auto.test.\"\nfile = \"auto.test.zone\"\ndnssec = true\n",
            state.display(),
            dir.join("serve.pid").display()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let server = Kill(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_ready(bport, "www.auto.test.", &["+norec"]);
    let sigs = |name: &str, t: &str| answer_rrsigs(&dig(bport, name, t, &["+norec"]).2);
    let mail_before = sigs("mail.auto.test.", "A");
    let aaaa_before = sigs("www.auto.test.", "AAAA");
    let a_before = sigs("www.auto.test.", "A");
    let serial_before = serial(bport);
    assert!(!mail_before.is_empty() && !a_before.is_empty());

    // One address changed and one name added; the file's serial is left as it was.
    let edited = ZONE
        .replace("www        A     192.0.2.1", "www        A     192.0.2.99")
        .replace("mail       A", "new        A     192.0.2.7\nmail       A");
    std::fs::write(&zone_file, edited).unwrap();
    blason(&["reload", "--config", config.to_str().unwrap()]);
    let start = std::time::Instant::now();
    while !dig(bport, "www.auto.test.", "A", &["+norec", "+short"])
        .2
        .contains("192.0.2.99")
    {
        assert!(start.elapsed().as_secs() < 20, "reload not served");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let serial_after = serial(bport);
    let mail_after = sigs("mail.auto.test.", "A");
    let aaaa_after = sigs("www.auto.test.", "AAAA");
    let a_after = sigs("www.auto.test.", "A");

    std::fs::write(dir.join("anchor"), {
        let ds = blason(&[
            "dnssec",
            "ds",
            "auto.test",
            "--state",
            state.to_str().unwrap(),
        ]);
        format!("{}\n", ds.lines().find(|l| l.contains(" DS ")).unwrap())
    })
    .unwrap();
    let (_unbound, uport) = start_unbound(&unbound, &dir, bport, &["auto.test."]);
    wait_ready(uport, "www.auto.test.", &[]);
    let bad = not_secure(
        uport,
        &[
            ("www.auto.test.", "A", "NOERROR"),
            ("new.auto.test.", "A", "NOERROR"),
            ("new.auto.test.", "TXT", "NOERROR"),
            ("mz.auto.test.", "A", "NXDOMAIN"),
            ("nf.auto.test.", "A", "NXDOMAIN"),
            ("mail.auto.test.", "A", "NOERROR"),
        ],
    );
    drop(server);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        serial_after > serial_before,
        "served serial {serial_before} -> {serial_after}"
    );
    assert_eq!(mail_before, mail_after, "an unchanged RRset was re-signed");
    assert_eq!(aaaa_before, aaaa_after, "an unchanged RRset was re-signed");
    assert_ne!(
        a_before, a_after,
        "the changed RRset kept its old signature"
    );
    assert!(
        log_text.contains("zone re-signed (changes)"),
        "no incremental step logged:\n{log_text}"
    );
    assert_eq!(
        log_text.matches("zone signed").count(),
        1,
        "a whole-zone pass after the edit:\n{log_text}"
    );
    assert!(bad.is_empty(), "not secure:\n{}", bad.join("\n"));
}
