//! A validating resolver as the oracle for blason's DNSSEC answers: zones signed by
//! BIND's dnssec-signzone (one NSEC, one NSEC3) are served by `blason serve`, and
//! Unbound, with a trust anchor for the parent zone and stubs pointing at blason, must
//! answer every case as secure (AD set): positive answers, NXDOMAIN, NODATA, empty
//! non-terminals, wildcards, CNAME and DNAME, the secure delegation, and the proof
//! that an insecure delegation has no DS. Zero SERVFAIL.
//!
//! Unbound is fenced to loopback: stubs only at 127.0.0.1, `do-ip6: no`, and
//! `do-not-query-address` for every IPv4 block outside 127.0.0.0/8.

mod common;

use common::{free_port, not_secure, start_unbound, tool, wait_ready, Kill};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PARENT: &str = r#"$ORIGIN secure.test.
$TTL 300
@          SOA   ns hostmaster 1 7200 3600 1209600 300
@          NS    ns
ns         A     127.0.0.1
www        A     192.0.2.1
www        AAAA  2001:db8::1
cname      CNAME www
*.wild     A     192.0.2.2
host.ent   A     192.0.2.3
dn         DNAME wild.secure.test.
ins        NS    ns.ins
ns.ins     A     127.0.0.1
child      NS    ns.child
ns.child   A     127.0.0.1
"#;

const CHILD: &str = r#"$ORIGIN child.secure.test.
$TTL 300
@          SOA   ns hostmaster 1 7200 3600 1209600 300
@          NS    ns
ns         A     127.0.0.1
host       A     192.0.2.10
*.w        A     192.0.2.11
deep.e     A     192.0.2.12
"#;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Signs `text` for `origin` in `dir` (KSK + ZSK, ECDSA P-256), returning the file.
fn sign(dir: &Path, origin: &str, text: &str, nsec3: bool) -> PathBuf {
    let unsigned = dir.join(format!("{origin}zone"));
    std::fs::write(&unsigned, text).unwrap();
    for ksk in [true, false] {
        let mut c = Command::new("dnssec-keygen");
        c.args(["-q", "-a", "ECDSAP256SHA256", "-K"]).arg(dir);
        if ksk {
            c.args(["-f", "KSK"]);
        }
        run(c.arg(origin));
    }
    let signed = dir.join(format!("{origin}signed"));
    let mut c = Command::new("dnssec-signzone");
    c.current_dir(dir)
        .args(["-S", "-K", ".", "-d", ".", "-o", origin, "-f"])
        .arg(&signed);
    if nsec3 {
        c.args(["-3", "-", "-H", "0"]);
    }
    run(c.arg(&unsigned));
    signed
}

#[test]
fn unbound_validates_blason_answers() {
    let (Some(unbound), Some(_)) = (tool("unbound"), tool("dnssec-signzone")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "unbound or dnssec-signzone missing (scripts/test.sh installs them)"
        );
        eprintln!("SKIP: unbound or dnssec-signzone missing");
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let child = sign(&dir, "child.secure.test.", CHILD, true);
    let dsset = std::fs::read_to_string(dir.join("dsset-child.secure.test.")).unwrap();
    let parent = sign(&dir, "secure.test.", &format!("{PARENT}\n{dsset}"), false);
    let anchor = std::fs::read_to_string(dir.join("dsset-secure.test.")).unwrap();
    std::fs::write(dir.join("anchor"), anchor).unwrap();

    let bport = free_port();
    let blason = Kill(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["serve", "--listen", &format!("127.0.0.1:{bport}")])
            .arg("--state")
            .arg(own_state())
            .args(["--zone", &format!("secure.test.={}", parent.display())])
            .args(["--zone", &format!("child.secure.test.={}", child.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let (_unbound, uport) = start_unbound(
        &unbound,
        &dir,
        bport,
        &["secure.test.", "child.secure.test."],
    );

    wait_ready(uport, "www.secure.test.", &[]);

    let cases = [
        ("www.secure.test.", "A", "NOERROR"),
        ("www.secure.test.", "TXT", "NOERROR"),
        ("nx.secure.test.", "A", "NXDOMAIN"),
        ("ent.secure.test.", "A", "NOERROR"),
        ("x.wild.secure.test.", "A", "NOERROR"),
        ("x.wild.secure.test.", "MX", "NOERROR"),
        ("cname.secure.test.", "A", "NOERROR"),
        ("x.dn.secure.test.", "A", "NOERROR"),
        ("ins.secure.test.", "DS", "NOERROR"),
        ("child.secure.test.", "DS", "NOERROR"),
        ("host.child.secure.test.", "A", "NOERROR"),
        ("host.child.secure.test.", "TXT", "NOERROR"),
        ("nx.child.secure.test.", "A", "NXDOMAIN"),
        ("e.child.secure.test.", "A", "NOERROR"),
        ("x.w.child.secure.test.", "A", "NOERROR"),
        ("x.w.child.secure.test.", "TXT", "NOERROR"),
        ("a.b.nx.child.secure.test.", "A", "NXDOMAIN"),
    ];
    let bad = not_secure(uport, &cases);
    drop(blason);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        bad.is_empty(),
        "{} of {} answers not validated as secure:\n{}",
        bad.len(),
        cases.len(),
        bad.join("\n")
    );
}

/// A state folder of its own for each command: a served zone's journal lives there,
/// and no two servers may share one.
fn own_state() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("blason-test-state-{}-{n}", std::process::id()))
}
