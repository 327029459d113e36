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
    assert!(status.contains("earliest signature expiration"), "{status}");

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
