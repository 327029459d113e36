//! A validating resolver as the oracle for blason's DNSSEC answers: zones signed by
//! BIND's dnssec-signzone (one NSEC, one NSEC3) are served by `blason serve`, and
//! Unbound, with a trust anchor for the parent zone and stubs pointing at blason, must
//! answer every case as secure (AD set): positive answers, NXDOMAIN, NODATA, empty
//! non-terminals, wildcards, CNAME and DNAME, the secure delegation, and the proof
//! that an insecure delegation has no DS. Zero SERVFAIL.
//!
//! Unbound is fenced to loopback: stubs only at 127.0.0.1, `do-ip6: no`, and
//! `do-not-query-address` for every IPv4 block outside 127.0.0.0/8.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

/// Sends `name type` to the resolver with dig; returns (status, AD set).
fn ask(port: u16, name: &str, qtype: &str) -> (String, bool, String) {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            name,
            qtype,
            "+dnssec",
            "+time=3",
            "+tries=2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("NO-ANSWER")
        .to_string();
    let ad = text
        .lines()
        .find(|l| l.starts_with(";; flags:"))
        .is_some_and(|l| {
            l.split(';')
                .nth(2)
                .unwrap_or("")
                .split_whitespace()
                .any(|f| f == "ad")
        });
    (status, ad, text)
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
            .args(["--zone", &format!("secure.test.={}", parent.display())])
            .args(["--zone", &format!("child.secure.test.={}", child.display())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let uport = free_port();
    // Every IPv4 block but 127.0.0.0/8, so nothing can leave loopback.
    let fence = [
        "0.0.0.0/2",
        "64.0.0.0/3",
        "96.0.0.0/4",
        "112.0.0.0/5",
        "120.0.0.0/6",
        "124.0.0.0/7",
        "126.0.0.0/8",
        "128.0.0.0/1",
    ]
    .iter()
    .map(|b| format!("    do-not-query-address: {b}\n"))
    .collect::<String>();
    let conf = format!(
        "server:
    interface: 127.0.0.1
    port: {uport}
    do-ip6: no
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{d}\"
    pidfile: \"\"
    use-syslog: no
    logfile: \"\"
    verbosity: 1
    val-log-level: 2
    module-config: \"validator iterator\"
    trust-anchor-file: \"{d}/anchor\"
    qname-minimisation: no
    do-not-query-localhost: no
    local-zone: \"test.\" nodefault
{fence}stub-zone:
    name: \".\"
    stub-addr: 127.0.0.1@{bport}
stub-zone:
    name: \"secure.test.\"
    stub-addr: 127.0.0.1@{bport}
stub-zone:
    name: \"child.secure.test.\"
    stub-addr: 127.0.0.1@{bport}
",
        d = dir.display()
    );
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    let _unbound = Kill(
        Command::new(unbound)
            .arg("-c")
            .arg(dir.join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );

    // Wait for both.
    let start = Instant::now();
    loop {
        let (status, _, _) = ask(uport, "www.secure.test.", "A");
        if status == "NOERROR" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "resolver not ready: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

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
    let mut bad = Vec::new();
    for (name, qtype, want) in cases {
        let (status, ad, text) = ask(uport, name, qtype);
        if status != want || !ad {
            bad.push(format!(
                "{name} {qtype}: status {status} (want {want}), AD {ad}\n{text}"
            ));
        }
    }
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
