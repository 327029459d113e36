//! Mail trust records against real tools: dkimpy and OpenDKIM verify keys from
//! `blason dkim keygen`, openssl computes the same TLSA data, checkdmarc finds no
//! SPF/DMARC problem that blason misses. Every DNS answer comes from `blason serve` on
//! 127.0.0.1; the tools are pointed at it and at nothing else.
//!
//! The tools are installed by scripts/test.sh; a missing tool fails the test.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn blason() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blason"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BLASON_") {
            c.env_remove(k);
        }
    }
    c.env("BLASON_STATE", own_state());
    c
}

/// A `blason serve` on a kernel-chosen loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(zones: &[(&str, &Path)]) -> Server {
        let mut cmd = blason();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--threads", "1"]);
        for (origin, file) in zones {
            cmd.arg("--zone")
                .arg(format!("{}={}", origin, file.display()));
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start blason serve");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent {
                    if let Some(a) = line.split("listening addr=").nth(1) {
                        let a = a.split_whitespace().next().unwrap_or("");
                        let _ = tx.send(Ok(a.parse::<SocketAddr>().unwrap()));
                        sent = true;
                    } else if line.contains(" ERROR ") {
                        // Warnings (the mail lints' findings on the deliberately
                        // broken records these tests serve) do not stop a start.
                        let _ = tx.send(Err(line.clone()));
                    }
                }
            }
            let _ = tx.send(Err("server exited".into()));
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(a)) => a,
            other => {
                let _ = child.kill();
                panic!("blason serve did not start: {other:?}");
            }
        };
        Server { child, addr }
    }

    fn resolver(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-mail-{}-{}", tag, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The path of a tool, or a failure that says how to get it.
fn tool(name: &str) -> PathBuf {
    // PATH first (pyenv's python3 is the one pip installs into), then sbin folders.
    if let Ok(o) = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
    {
        let s = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !s.is_empty() {
            return PathBuf::from(s);
        }
    }
    for dir in ["/usr/sbin", "/sbin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!("{name} is missing: scripts/test.sh installs it (apt opendkim-tools openssl, pip dkimpy checkdmarc)");
}

/// Python with the given modules importable, or a failure that says how to get them.
fn python(modules: &[&str]) -> PathBuf {
    let py = tool("python3");
    let code = format!("import {}", modules.join(", "));
    let ok = Command::new(&py)
        .args(["-c", &code])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(ok, "python3 cannot import {modules:?}: scripts/test.sh runs pip install checkdmarc dkimpy pynacl");
    py
}

fn helper(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/mail")
        .join(name)
}

fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    if let Some(data) = stdin {
        child.stdin.take().unwrap().write_all(data).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

const SOA: &str =
    "@ IN SOA ns1 hostmaster 1 14400 3600 1209600 300\n@ IN NS ns1\nns1 IN A 127.0.0.1\n";

const MESSAGE: &[u8] = b"From: Alice <alice@example.test>\r\nTo: bob@example.org\r\nSubject: DKIM test\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <t1@example.test>\r\n\r\nHello from a key blason made.\r\n";

fn keygen(dir: &Path, selector: &str, alg: &str) -> String {
    let o = run(
        blason()
            .args([
                "dkim",
                "keygen",
                "--domain",
                "example.test",
                "--selector",
                selector,
                "--algorithm",
                alg,
                "--out",
            ])
            .arg(dir),
        None,
    );
    assert!(o.status.success(), "keygen: {}", text(&o));
    let key = dir.join(format!("{selector}.private"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key mode");
    let printed = String::from_utf8_lossy(&o.stdout).to_string();
    let file = std::fs::read_to_string(dir.join(format!("{selector}.txt"))).unwrap();
    assert_eq!(printed, file);
    for s in printed.split('"').skip(1).step_by(2) {
        assert!(s.len() <= 255, "string over 255 bytes: {}", s.len());
    }
    printed
}

#[test]
fn dkim_keys_verify_with_dkimpy_and_opendkim() {
    let py = python(&["dkim", "dns", "nacl"]);
    let testkey = tool("opendkim-testkey");
    let testmsg = tool("opendkim-testmsg");
    let dir = tempdir("dkim");
    let mut zone = format!("$ORIGIN example.test.\n$TTL 300\n{SOA}");
    for (sel, alg) in [
        ("rsa1", "rsa2048"),
        ("ed1", "ed25519"),
        ("other", "rsa2048"),
    ] {
        zone.push_str(&keygen(&dir, sel, alg));
    }
    let zf = dir.join("example.test.zone");
    std::fs::write(&zf, &zone).unwrap();
    let srv = Server::start(&[("example.test", &zf)]);
    let port = srv.addr.port().to_string();

    // dkimpy: sign with the private key, verify with the key fetched from blason.
    for (sel, alg) in [("rsa1", "rsa"), ("ed1", "ed25519")] {
        let key = dir.join(format!("{sel}.private"));
        let o = run(
            Command::new(&py)
                .arg(helper("dkim_check.py"))
                .args(["sign"])
                .arg(&key)
                .args(["example.test", sel, alg]),
            Some(MESSAGE),
        );
        assert!(o.status.success(), "dkimpy sign {sel}: {}", text(&o));
        let signed = o.stdout;
        let v = run(
            Command::new(&py)
                .arg(helper("dkim_check.py"))
                .args(["verify", &port]),
            Some(&signed),
        );
        assert!(v.status.success(), "dkimpy verify {sel}: {}", text(&v));
        // Negative control: a changed body must fail.
        let tampered = String::from_utf8_lossy(&signed).replace("Hello", "Jello");
        let v = run(
            Command::new(&py)
                .arg(helper("dkim_check.py"))
                .args(["verify", &port]),
            Some(tampered.as_bytes()),
        );
        assert!(!v.status.success(), "tampered message verified for {sel}");
    }
    // Negative control: a signature claiming selector "other" must fail (another key).
    {
        let key = dir.join("rsa1.private");
        let o = run(
            Command::new(&py)
                .arg(helper("dkim_check.py"))
                .args(["sign"])
                .arg(&key)
                .args(["example.test", "other", "rsa"]),
            Some(MESSAGE),
        );
        let v = run(
            Command::new(&py)
                .arg(helper("dkim_check.py"))
                .args(["verify", &port]),
            Some(&o.stdout),
        );
        assert!(!v.status.success(), "signature with the wrong key verified");
    }

    // OpenDKIM signs with blason's RSA key (it cannot sign Ed25519), dkimpy verifies.
    let o = run(
        Command::new(&testmsg)
            .args(["-C", "-d", "example.test", "-s", "rsa1", "-k"])
            .arg(dir.join("rsa1.private")),
        Some(MESSAGE),
    );
    assert!(o.status.success(), "opendkim-testmsg: {}", text(&o));
    let v = run(
        Command::new(&py)
            .arg(helper("dkim_check.py"))
            .args(["verify", &port]),
        Some(&o.stdout),
    );
    assert!(
        v.status.success(),
        "dkimpy on OpenDKIM's signature: {}",
        text(&v)
    );

    // opendkim-testkey through libunbound, forwarded only to the loopback server.
    let ub = dir.join("unbound.conf");
    std::fs::write(&ub, format!("server:\n  do-not-query-localhost: no\n  local-zone: \"test.\" nodefault\n  module-config: \"iterator\"\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{port}\n")).unwrap();
    let conf = dir.join("opendkim.conf");
    std::fs::write(&conf, format!("ResolverConfiguration {}\n", ub.display())).unwrap();
    let o = run(
        Command::new(&testkey)
            .arg("-x")
            .arg(&conf)
            .args(["-d", "example.test", "-s", "rsa1", "-vvv", "-k"])
            .arg(dir.join("rsa1.private")),
        None,
    );
    assert!(
        o.status.success() && text(&o).contains("key OK"),
        "opendkim-testkey rsa1: {}",
        text(&o)
    );
    // The private key must not match another selector's public key.
    let o = run(
        Command::new(&testkey)
            .arg("-x")
            .arg(&conf)
            .args(["-d", "example.test", "-s", "other", "-k"])
            .arg(dir.join("rsa1.private")),
        None,
    );
    assert!(
        !o.status.success(),
        "opendkim-testkey accepted a mismatched key: {}",
        text(&o)
    );
    // testkey compares only RSA private keys; for Ed25519 it checks the published record.
    let o = run(
        Command::new(&testkey).arg("-x").arg(&conf).args([
            "-d",
            "example.test",
            "-s",
            "ed1",
            "-vvv",
        ]),
        None,
    );
    assert!(
        o.status.success() && text(&o).contains("key OK"),
        "opendkim-testkey ed1: {}",
        text(&o)
    );

    // blason's own lint of the published keys: no errors or warnings.
    let o = run(
        blason().args([
            "dkim",
            "lint",
            "example.test",
            "--selector",
            "rsa1",
            "--selector",
            "ed1",
            "--resolver",
            &srv.resolver(),
        ]),
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("0 error(s), 0 warning(s)"),
        "{}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn sha256_hex(data: &[u8]) -> String {
    let mut c = Command::new(tool("openssl"));
    c.args(["dgst", "-sha256", "-r"]);
    let o = run(&mut c, Some(data));
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn tlsa_matches_openssl_spki_digest() {
    let openssl = tool("openssl");
    let dir = tempdir("tlsa");
    for (name, newkey) in [
        ("rsa", vec!["-newkey", "rsa:2048"]),
        (
            "ec",
            vec!["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        ),
        ("ed", vec!["-newkey", "ed25519"]),
    ] {
        let key = dir.join(format!("{name}.key"));
        let cert = dir.join(format!("{name}.pem"));
        let o = run(
            Command::new(&openssl)
                .args([
                    "req",
                    "-x509",
                    "-nodes",
                    "-days",
                    "30",
                    "-subj",
                    "/CN=mail.example.test",
                ])
                .args(&newkey)
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert),
            None,
        );
        assert!(o.status.success(), "openssl req: {}", text(&o));
        // openssl x509 -pubkey | openssl pkey -pubin -outform DER | sha256
        let pubkey = run(
            Command::new(&openssl)
                .args(["x509", "-noout", "-pubkey", "-in"])
                .arg(&cert),
            None,
        )
        .stdout;
        let der = run(
            Command::new(&openssl).args(["pkey", "-pubin", "-outform", "DER"]),
            Some(&pubkey),
        )
        .stdout;
        let want = sha256_hex(&der);
        assert_eq!(want.len(), 64);
        let o = run(
            blason()
                .args([
                    "tlsa",
                    "--port",
                    "25",
                    "--host",
                    "mail.example.test",
                    "--cert",
                ])
                .arg(&cert),
            None,
        );
        assert!(o.status.success(), "{}", text(&o));
        let line = String::from_utf8_lossy(&o.stdout).trim().to_string();
        assert_eq!(
            line,
            format!("_25._tcp.mail.example.test. IN TLSA 3 1 1 {want}"),
            "{name}"
        );
        // The key file gives the same record (what --next-key publishes ahead).
        let o = run(
            blason()
                .args([
                    "tlsa",
                    "--port",
                    "25",
                    "--host",
                    "mail.example.test",
                    "--cert",
                ])
                .arg(&cert)
                .arg("--next-key")
                .arg(&key),
            None,
        );
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(out.matches(&want).count(), 2, "{name} --next-key: {out}");
        // 3 0 1: the whole certificate.
        let cder = run(
            Command::new(&openssl)
                .args(["x509", "-outform", "DER", "-in"])
                .arg(&cert),
            None,
        )
        .stdout;
        let o = run(
            blason()
                .args([
                    "tlsa",
                    "--selector",
                    "0",
                    "--port",
                    "443",
                    "--host",
                    "mail.example.test",
                    "--cert",
                ])
                .arg(&cert),
            None,
        );
        assert!(
            String::from_utf8_lossy(&o.stdout).contains(&format!("3 0 1 {}", sha256_hex(&cder))),
            "{name} 3 0 1"
        );
    }
    // ldns-dane: a TLS server on loopback with the EC certificate validates against
    // the record blason prints for it, and not against another certificate's record.
    let ldns_dane = tool("ldns-dane");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut server = Command::new(&openssl)
        .args([
            "s_server",
            "-quiet",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
        ])
        .arg(dir.join("ec.pem"))
        .arg("-key")
        .arg(dir.join("ec.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let up = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let mut verdicts = Vec::new();
    for (cert, want) in [("ec.pem", true), ("rsa.pem", false)] {
        let o = run(
            blason()
                .args([
                    "tlsa",
                    "--port",
                    &port.to_string(),
                    "--host",
                    "mail.example.test",
                    "--cert",
                ])
                .arg(dir.join(cert)),
            None,
        );
        let tf = dir.join(format!("{cert}.tlsa"));
        std::fs::write(&tf, &o.stdout).unwrap();
        // -d: the records come from a file, so there is no DNSSEC to check; -n: the
        // test certificate's name is not checked (DANE-EE ignores it anyway).
        let v = run(
            Command::new(&ldns_dane)
                .args(["-d", "-n", "-a", "127.0.0.1", "-t"])
                .arg(&tf)
                .arg("verify"),
            None,
        );
        verdicts.push((cert, want, v.status.success(), text(&v)));
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(up, "openssl s_server did not listen");
    for (cert, want, got, out) in verdicts {
        assert_eq!(got, want, "ldns-dane with the record of {cert}: {out}");
    }
    // A key cannot give a full-certificate record.
    let o = run(
        blason()
            .args([
                "tlsa",
                "--selector",
                "0",
                "--port",
                "25",
                "--host",
                "m.example.test",
                "--cert",
            ])
            .arg(dir.join("rsa.key")),
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One corpus domain: its records (relative to example.test.) and the blason ids
/// expected for SPF and DMARC.
struct Case {
    name: &'static str,
    records: &'static str,
    spf: &'static [&'static str],
    dmarc: &'static [&'static str],
}

const GOOD_DMARC: &str = "v=DMARC1; p=reject; rua=mailto:dmarc@example.test";

fn corpus() -> Vec<Case> {
    vec![
        Case { name: "good", records: "good TXT \"v=spf1 ip4:192.0.2.0/24 include:_spf.example.test -all\"\n_dmarc.good TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &[] },
        Case { name: "plusall", records: "plusall TXT \"v=spf1 +all\"\n", spf: &["spf-pass-all"], dmarc: &[] },
        Case { name: "neutral", records: "neutral TXT \"v=spf1 ip4:192.0.2.1 ?all\"\n", spf: &["spf-neutral-all"], dmarc: &[] },
        Case { name: "ptr", records: "ptr TXT \"v=spf1 ptr -all\"\n", spf: &["spf-ptr"], dmarc: &[] },
        Case { name: "manyincludes", records: "manyincludes TXT \"v=spf1 include:i1.example.test include:i2.example.test include:i3.example.test include:i4.example.test include:i5.example.test include:i6.example.test \" \"include:i7.example.test include:i8.example.test include:i9.example.test include:i10.example.test include:i11.example.test -all\"\n", spf: &["spf-too-many-lookups"], dmarc: &[] },
        Case { name: "nestedmany", records: "nestedmany TXT \"v=spf1 include:n1.example.test include:n2.example.test -all\"\nn1 TXT \"v=spf1 a mx include:i1.example.test include:i2.example.test include:i3.example.test -all\"\nn2 TXT \"v=spf1 include:i4.example.test include:i5.example.test include:i6.example.test include:i7.example.test -all\"\nn1 A 192.0.2.7\nn1 MX 10 mx.example.test.\n", spf: &["spf-too-many-lookups"], dmarc: &[] },
        Case { name: "voids", records: "voids TXT \"v=spf1 a:nx1.example.test a:nx2.example.test a:nx3.example.test -all\"\n", spf: &["spf-too-many-void-lookups"], dmarc: &[] },
        Case { name: "loop", records: "loop TXT \"v=spf1 include:loop2.example.test -all\"\nloop2 TXT \"v=spf1 include:loop.example.test -all\"\n", spf: &["spf-include-loop"], dmarc: &[] },
        Case { name: "twospf", records: "twospf TXT \"v=spf1 -all\"\ntwospf TXT \"v=spf1 ip4:192.0.2.1 -all\"\n", spf: &["spf-multiple"], dmarc: &[] },
        Case { name: "badip", records: "badip TXT \"v=spf1 ip4:192.0.2.300 -all\"\n", spf: &["spf-syntax"], dmarc: &[] },
        Case { name: "badinclude", records: "badinclude TXT \"v=spf1 include -all\"\n", spf: &["spf-syntax"], dmarc: &[] },
        Case { name: "badmacro", records: "badmacro TXT \"v=spf1 exists:%{z}.example.test -all\"\n", spf: &["spf-syntax"], dmarc: &[] },
        Case { name: "redirmissing", records: "redirmissing TXT \"v=spf1 redirect=nospf.example.test\"\nnospf A 192.0.2.9\n", spf: &["spf-redirect-no-record"], dmarc: &[] },
        Case { name: "incmissing", records: "incmissing TXT \"v=spf1 include:nospf.example.test -all\"\n", spf: &["spf-include-no-record"], dmarc: &[] },
        Case { name: "spftype", records: "spftype SPF \"v=spf1 -all\"\nspftype A 192.0.2.10\n", spf: &["spf-type-only"], dmarc: &[] },
        Case { name: "spfboth", records: "spfboth SPF \"v=spf1 -all\"\nspfboth TXT \"v=spf1 -all\"\n", spf: &["spf-type-deprecated"], dmarc: &[] },
        Case { name: "afterall", records: "afterall TXT \"v=spf1 -all ip4:192.0.2.1\"\n", spf: &["spf-after-all"], dmarc: &[] },
        Case { name: "mxnone", records: "mxnone TXT \"v=spf1 mx -all\"\n", spf: &["spf-mx-no-records"], dmarc: &[] },
        Case { name: "senderid", records: "senderid TXT \"spf2.0/pra ip4:192.0.2.1 -all\"\nsenderid TXT \"v=spf1 ip4:192.0.2.1 -all\"\n", spf: &["spf-sender-id"], dmarc: &[] },
        Case { name: "long", records: "long TXT \"v=spf1 ip4:192.0.2.1 ip4:192.0.2.2 ip4:192.0.2.3 ip4:192.0.2.4 ip4:192.0.2.5 ip4:192.0.2.6 ip4:192.0.2.7 ip4:192.0.2.8 ip4:192.0.2.9 ip4:192.0.2.10 ip4:192.0.2.11 ip4:192.0.2.12 ip4:192.0.2.13 ip4:192.0.2.14 ip4:192.0.2.15 \" \"ip4:192.0.2.16 ip4:192.0.2.17 ip4:192.0.2.18 ip4:192.0.2.19 ip4:192.0.2.20 ip4:192.0.2.21 ip4:192.0.2.22 ip4:192.0.2.23 ip4:192.0.2.24 ip4:192.0.2.25 ip4:192.0.2.26 ip4:192.0.2.27 ip4:192.0.2.28 ip4:192.0.2.29 ip4:192.0.2.30 \" \"ip4:192.0.2.31 ip4:192.0.2.32 -all\"\n", spf: &["spf-long"], dmarc: &[] },
        Case { name: "nospf", records: "nospf2 A 192.0.2.11\n", spf: &["spf-missing"], dmarc: &[] },
        Case { name: "pnone", records: "_dmarc.pnone TXT \"v=DMARC1; p=none; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-p-none"] },
        Case { name: "nomailto", records: "_dmarc.nomailto TXT \"v=DMARC1; p=reject; rua=dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-uri-no-mailto"] },
        Case { name: "external", records: "_dmarc.external TXT \"v=DMARC1; p=reject; rua=mailto:d@reports.test\"\n", spf: &[], dmarc: &["dmarc-external-unauthorized"] },
        Case { name: "externalok", records: "_dmarc.externalok TXT \"v=DMARC1; p=reject; rua=mailto:d@reports.test\"\n", spf: &[], dmarc: &[] },
        Case { name: "badp", records: "_dmarc.badp TXT \"v=DMARC1; p=block; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-syntax"] },
        Case { name: "pct", records: "_dmarc.pct TXT \"v=DMARC1; p=quarantine; pct=20; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-pct-partial"] },
        Case { name: "order", records: "_dmarc.order TXT \"p=reject; v=DMARC1\"\n", spf: &[], dmarc: &["dmarc-version"] },
        Case { name: "twodmarc", records: "_dmarc.twodmarc TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\"\n_dmarc.twodmarc TXT \"v=DMARC1; p=none\"\n", spf: &[], dmarc: &["dmarc-multiple"] },
        Case { name: "wrongplace", records: "wrongplace TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-wrong-place"] },
        Case { name: "unknowntag", records: "_dmarc.unknowntag TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test; foo=bar\"\n", spf: &[], dmarc: &["dmarc-unknown-tag"] },
        Case { name: "spnone", records: "_dmarc.spnone TXT \"v=DMARC1; p=reject; sp=none; rua=mailto:dmarc@example.test\"\n", spf: &[], dmarc: &["dmarc-sp-none"] },
        Case { name: "norua", records: "_dmarc.norua TXT \"v=DMARC1; p=reject\"\n", spf: &[], dmarc: &["dmarc-no-rua"] },
        Case { name: "removed", records: "_dmarc.removed TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test; ri=3600; rf=afrf\"\n", spf: &[], dmarc: &["dmarc-ri-removed", "dmarc-rf-removed"] },
        Case { name: "nomx", records: "_dmarc.nomx TXT \"v=DMARC1; p=reject; rua=mailto:d@nomail.example.test\"\nnomail A 192.0.2.12\n", spf: &[], dmarc: &["dmarc-destination-no-mx"] },
    ]
}

fn corpus_zones(dir: &Path) -> (PathBuf, PathBuf) {
    let mut z = format!("$ORIGIN example.test.\n$TTL 300\n{SOA}@ MX 10 mx\nmx A 192.0.2.25\n@ TXT \"v=spf1 mx -all\"\n_dmarc TXT \"{GOOD_DMARC}\"\n_spf TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n");
    for i in 1..=11 {
        z.push_str(&format!("i{i} TXT \"v=spf1 ip4:198.51.100.{i} -all\"\n"));
    }
    for c in corpus() {
        z.push_str(c.records);
        // Every case name exists, and has the good SPF or DMARC it does not test.
        if c.spf.is_empty()
            && !c.records.contains(&format!("{} TXT \"v=spf1", c.name))
            && c.name != "nospf"
        {
            z.push_str(&format!("{} TXT \"v=spf1 ip4:192.0.2.1 -all\"\n", c.name));
        }
        if c.dmarc.is_empty() && !c.records.contains(&format!("_dmarc.{} ", c.name)) {
            z.push_str(&format!("_dmarc.{} TXT \"{GOOD_DMARC}\"\n", c.name));
        }
        if !c.dmarc.is_empty()
            && c.name != "wrongplace"
            && !c.records.contains(&format!("\n{} ", c.name))
            && !c.records.starts_with(&format!("{} ", c.name))
        {
            z.push_str(&format!("{} TXT \"v=spf1 ip4:192.0.2.1 -all\"\n", c.name));
        }
        if c.name != "mxnone" {
            z.push_str(&format!("{} MX 10 mx.example.test.\n", c.name));
        }
    }
    let zf = dir.join("example.test.zone");
    std::fs::write(&zf, z).unwrap();
    // The report destination's own zone: it authorizes externalok only.
    let r = "$ORIGIN reports.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 14400 3600 1209600 300\n@ IN NS ns1\nns1 A 127.0.0.1\n@ MX 10 mx\nmx A 192.0.2.26\nexternalok.example.test._report._dmarc TXT \"v=DMARC1\"\n".to_string();
    let rf = dir.join("reports.test.zone");
    std::fs::write(&rf, r).unwrap();
    (zf, rf)
}

/// (severity, id) pairs from `blason ... --format json`.
fn blason_findings(args: &[&str]) -> Vec<(String, String)> {
    let o = run(blason().args(args).args(["--format", "json"]), None);
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        text(&o)
    );
    let s = String::from_utf8_lossy(&o.stdout);
    let mut out = Vec::new();
    for part in s.split("{\"id\":\"").skip(1) {
        let id = part.split('"').next().unwrap_or("").to_string();
        let sev = part
            .split("\"severity\":\"")
            .nth(1)
            .and_then(|x| x.split('"').next())
            .unwrap_or("")
            .to_string();
        out.push((sev, id));
    }
    out
}

fn json_field<'a>(line: &'a str, section: &str) -> (Option<&'a str>, usize) {
    // Tiny reader for the helper's output: is "error" null, how many warnings.
    let sec = line
        .split(&format!("\"{section}\": {{"))
        .nth(1)
        .unwrap_or("");
    let err = sec.split("\"error\": ").nth(1).unwrap_or("null");
    let error = if err.starts_with("null") {
        None
    } else {
        Some(err.split("\", \"warnings\"").next().unwrap_or(err))
    };
    let warnings = sec.split("\"warnings\": [").nth(1).unwrap_or("]");
    let body = warnings.split(']').next().unwrap_or("");
    let n = if body.trim().is_empty() {
        0
    } else {
        body.matches("\", \"").count() + 1
    };
    (error, n)
}

#[test]
fn checkdmarc_finds_nothing_blason_misses() {
    let py = python(&["checkdmarc", "dns"]);
    let dir = tempdir("checkdmarc");
    let (zf, rf) = corpus_zones(&dir);
    let srv = Server::start(&[("example.test", &zf), ("reports.test", &rf)]);
    let port = srv.addr.port().to_string();
    let cases = corpus();
    let domains: Vec<String> = cases
        .iter()
        .map(|c| format!("{}.example.test", c.name))
        .collect();
    let o = run(
        Command::new(&py)
            .arg(helper("checkdmarc_run.py"))
            .arg(&port)
            .args(&domains),
        None,
    );
    assert!(o.status.success(), "checkdmarc helper: {}", text(&o));
    let lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), cases.len(), "{}", text(&o));
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for (c, line) in cases.iter().zip(&lines) {
        let d = format!("{}.example.test", c.name);
        for (section, expected) in [("spf", c.spf), ("dmarc", c.dmarc)] {
            let got = blason_findings(&[section, "lint", &d, "--resolver", &srv.resolver()]);
            let (cd_error, cd_warnings) = json_field(line, section);
            let b_errors = got.iter().filter(|(s, _)| s == "error").count();
            let b_warn = got.iter().filter(|(s, _)| s == "warning").count();
            for id in expected {
                if !got.iter().any(|(_, g)| g == id) {
                    failures.push(format!(
                        "{d} {section}: expected {id}, blason found {got:?}"
                    ));
                }
            }
            // Whatever checkdmarc calls an error, blason calls an error; whatever it
            // warns about, blason reports at warning or error.
            if cd_error.is_some() && b_errors == 0 {
                failures.push(format!(
                    "{d} {section}: checkdmarc error {cd_error:?}, blason none: {got:?}"
                ));
            }
            if cd_warnings > 0 && b_errors + b_warn == 0 {
                failures.push(format!("{d} {section}: checkdmarc {cd_warnings} warning(s), blason none: {got:?}\n  {line}"));
            }
            if expected.is_empty() && b_errors > 0 {
                failures.push(format!("{d} {section}: good case, blason errors {got:?}"));
            }
            report.push(format!(
                "{d:28} {section:5} checkdmarc: error={} warnings={cd_warnings} | blason: {:?}",
                cd_error.is_some(),
                got.iter()
                    .map(|(s, i)| format!("{s}:{i}"))
                    .collect::<Vec<_>>()
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

const GOOD_SVG: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" viewBox="0 0 100 100">
<title>Example Inc.</title>
<circle cx="50" cy="50" r="40" fill="#c33"/>
</svg>
"##;

#[test]
fn bimi_logos_against_checkdmarc() {
    let py = python(&["checkdmarc"]);
    let dir = tempdir("svg");
    let big = format!("{}<!--{}-->", GOOD_SVG, "x".repeat(33 * 1024));
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("good", GOOD_SVG.to_string(), None),
        ("profile", GOOD_SVG.replace("tiny-ps", "full"), Some("svg-base-profile")),
        ("noprofile", GOOD_SVG.replace(" baseProfile=\"tiny-ps\"", ""), Some("svg-base-profile")),
        ("version", GOOD_SVG.replace("version=\"1.2\"", "version=\"1.1\""), Some("svg-version")),
        ("title", GOOD_SVG.replace("<title>Example Inc.</title>\n", ""), Some("svg-title")),
        ("script", GOOD_SVG.replace("<circle", "<script>alert(document.cookie)</script><circle"), Some("svg-script")),
        ("onload", GOOD_SVG.replace("<circle", "<circle onload=\"steal()\""), Some("svg-script")),
        ("external", GOOD_SVG.replace("<circle", "<image href=\"https://tracker.example/p.png\" width=\"1\" height=\"1\"/><circle"), Some("svg-external-ref")),
        ("cssurl", GOOD_SVG.replace("fill=\"#c33\"", "style=\"fill:url(https://tracker.example/x.svg#g)\""), Some("svg-external-ref")),
        ("animate", GOOD_SVG.replace("fill=\"#c33\"/>", "fill=\"#c33\"><animate attributeName=\"r\" from=\"40\" to=\"10\" dur=\"1s\"/></circle>"), Some("svg-animation")),
        ("link", GOOD_SVG.replace("<circle", "<a href=\"#top\"><rect width=\"1\" height=\"1\"/></a><circle"), Some("svg-interactive")),
        ("rootxy", GOOD_SVG.replace("viewBox", "x=\"0\" y=\"0\" viewBox"), Some("svg-root-xy")),
        ("notsquare", GOOD_SVG.replace("0 0 100 100", "0 0 200 100"), Some("svg-not-square")),
        ("toolarge", big, Some("svg-too-large")),
        ("broken", GOOD_SVG.replace("</svg>", ""), Some("svg-xml")),
    ];
    let mut shown = Vec::new();
    let mut blason_only = Vec::new();
    for (name, svg, expect) in &cases {
        let f = dir.join(format!("{name}.svg"));
        std::fs::write(&f, svg).unwrap();
        let got = blason_findings(&["bimi", "lint", "--svg", f.to_str().unwrap()]);
        let cd = run(Command::new(&py).arg(helper("svg_check.py")).arg(&f), None);
        assert!(cd.status.success(), "svg_check.py: {}", text(&cd));
        let cd_errors: Vec<String> = String::from_utf8_lossy(&cd.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        let b_errors: Vec<&String> = got
            .iter()
            .filter(|(s, _)| s == "error")
            .map(|(_, i)| i)
            .collect();
        match expect {
            None => {
                assert!(got.is_empty(), "{name}: blason {got:?}");
                assert!(cd_errors.is_empty(), "{name}: checkdmarc {cd_errors:?}");
            }
            Some(id) => assert!(
                b_errors.iter().any(|g| g == id),
                "{name}: expected {id}, blason {got:?}"
            ),
        }
        // Whatever checkdmarc rejects, blason rejects.
        assert!(
            cd_errors.is_empty() || !b_errors.is_empty(),
            "{name}: checkdmarc {cd_errors:?}, blason {got:?}"
        );
        if cd_errors.is_empty() && !b_errors.is_empty() {
            blason_only.push(*name);
        }
        shown.push(format!(
            "{name:10} checkdmarc: {:?} | blason: {:?}",
            cd_errors, b_errors
        ));
    }
    eprintln!("{}", shown.join("\n"));
    // checkdmarc does not look for scripts, external references or animation: these
    // logos pass it and fail blason.
    for name in ["script", "onload", "external", "cssurl", "animate"] {
        assert!(
            blason_only.contains(&name),
            "{name}: expected checkdmarc to accept it (blason-only: {blason_only:?})"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// DER TLV, enough for the hand-built logotype extension.
fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(body);
    out
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// LogotypeExtn with a direct subject logo: image/svg+xml, one SHA-256 hash, one URI.
fn logotype_extn(hash: &[u8], uri: &str) -> Vec<u8> {
    let sha256 = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    let alg = der_tlv(0x30, &[der_tlv(0x06, &sha256), vec![0x05, 0x00]].concat());
    let hv = der_tlv(0x30, &[alg, der_tlv(0x04, hash)].concat());
    let details = der_tlv(
        0x30,
        &[
            der_tlv(0x16, b"image/svg+xml"),
            der_tlv(0x30, &hv),
            der_tlv(0x30, &der_tlv(0x16, uri.as_bytes())),
        ]
        .concat(),
    );
    let image = der_tlv(0x30, &der_tlv(0x30, &details));
    der_tlv(0x30, &der_tlv(0xa2, &der_tlv(0xa0, &image)))
}

/// A self-signed P-256 certificate from openssl, with the extension if given.
fn vmc_cert(dir: &Path, name: &str, extn: Option<&[u8]>) -> PathBuf {
    let out = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let mut c = Command::new(tool("openssl"));
    c.args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
    ])
    .args(["-nodes", "-subj", "/CN=test", "-days", "1"])
    .arg("-keyout")
    .arg(&key)
    .arg("-out")
    .arg(&out);
    if let Some(e) = extn {
        c.args(["-addext", &format!("1.3.6.1.5.5.7.1.12=DER:{}", hex(e))]);
    }
    let o = run(&mut c, None);
    assert!(o.status.success(), "openssl req: {}", text(&o));
    out
}

#[test]
fn bimi_vmc_logotype_against_openssl_certificates() {
    let dir = tempdir("vmc");
    let svg_path = dir.join("logo.svg");
    std::fs::write(&svg_path, GOOD_SVG).unwrap();
    let gz = run(
        Command::new(tool("gzip")).args(["-n", "-9", "-c"]),
        Some(GOOD_SVG.as_bytes()),
    );
    assert!(gz.status.success(), "gzip: {}", text(&gz));
    let gz = gz.stdout;
    let b64 = run(
        Command::new(tool("openssl")).args(["base64", "-A"]),
        Some(&gz),
    );
    let uri = format!(
        "data:image/svg+xml;base64,{}",
        String::from_utf8_lossy(&b64.stdout).trim()
    );
    let hash = unhex(&sha256_hex(&gz));
    assert_eq!(hash.len(), 32);

    let good = vmc_cert(&dir, "good", Some(&logotype_extn(&hash, &uri)));
    let mut bad_hash = hash.clone();
    bad_hash[0] ^= 0xff;
    let corrupt = vmc_cert(&dir, "corrupt", Some(&logotype_extn(&bad_hash, &uri)));
    let plain = vmc_cert(&dir, "plain", None);
    let other_svg = dir.join("other.svg");
    std::fs::write(&other_svg, GOOD_SVG.replace("#c33", "#33c")).unwrap();
    // The same certificate as DER.
    let der = dir.join("good.der");
    let o = run(
        Command::new(tool("openssl"))
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&good)
            .arg("-out")
            .arg(&der),
        None,
    );
    assert!(o.status.success(), "{}", text(&o));

    let lint = |svg: &Path, vmc: &Path| {
        blason_findings(&[
            "bimi",
            "lint",
            "--svg",
            svg.to_str().unwrap(),
            "--vmc",
            vmc.to_str().unwrap(),
        ])
    };
    let errors = |f: &[(String, String)]| -> Vec<String> {
        f.iter()
            .filter(|(s, _)| s == "error")
            .map(|(_, i)| i.clone())
            .collect()
    };
    let f = lint(&svg_path, &good);
    assert!(f.is_empty(), "matching SVG: {f:?}");
    let f = lint(&svg_path, &der);
    assert!(f.is_empty(), "matching SVG, DER cert: {f:?}");
    let f = blason_findings(&["bimi", "lint", "--vmc", good.to_str().unwrap()]);
    assert!(f.is_empty(), "VMC alone: {f:?}");
    let f = lint(&other_svg, &good);
    assert_eq!(errors(&f), vec!["vmc-logo-mismatch"], "{f:?}");
    let f = lint(&svg_path, &plain);
    assert_eq!(errors(&f), vec!["vmc-no-logotype"], "{f:?}");
    let f = lint(&svg_path, &corrupt);
    assert_eq!(errors(&f), vec!["vmc-logo-hash"], "{f:?}");
    // A remote logo is a warning; the exit code stays 0.
    let remote = vmc_cert(
        &dir,
        "remote",
        Some(&logotype_extn(&hash, "https://example.test/logo.svg")),
    );
    let f = lint(&svg_path, &remote);
    assert_eq!(
        f,
        vec![("warning".to_string(), "vmc-logo-remote".to_string())]
    );
    let o = run(
        blason()
            .args(["bimi", "lint", "--svg"])
            .arg(&svg_path)
            .arg("--vmc")
            .arg(&corrupt),
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bimi_mta_sts_and_mail_check_over_loopback() {
    let dir = tempdir("mailcheck");
    let zone = format!(
        "$ORIGIN example.test.\n$TTL 300\n{SOA}\
@ MX 10 mx1\n@ MX 20 mx2\nmx1 A 192.0.2.25\nmx2 A 192.0.2.26\nmta-sts A 192.0.2.80\n\
@ TXT \"v=spf1 mx -all\"\n\
_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@example.test\"\n\
default._bimi TXT \"v=BIMI1; l=https://example.test/logo.svg; a=https://example.test/vmc.pem\"\n\
_mta-sts TXT \"v=STSv1; id=20261127\"\n\
_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@example.test\"\n\
weak MX 10 mx1\nweak TXT \"v=spf1 +all\"\n\
_dmarc.weak TXT \"v=DMARC1; p=none; pct=50\"\n\
default._bimi.weak TXT \"v=BIMI1; l=http://weak.example.test/logo.svg\"\n\
_adsp._domainkey.weak TXT \"dkim=all\"\n\
_domainkey.weak TXT \"o=-\"\n\
_mta-sts.weak TXT \"v=STSv1; id=not-valid!\"\n"
    );
    let zf = dir.join("example.test.zone");
    std::fs::write(&zf, zone).unwrap();
    let srv = Server::start(&[("example.test", &zf)]);
    let r = srv.resolver();

    let good = blason_findings(&["bimi", "lint", "example.test", "--resolver", &r]);
    assert!(good.iter().all(|(s, _)| s != "error"), "{good:?}");
    let weak = blason_findings(&["bimi", "lint", "weak.example.test", "--resolver", &r]);
    for id in ["bimi-logo-not-https", "bimi-dmarc-policy", "bimi-dmarc-pct"] {
        assert!(weak.iter().any(|(_, i)| i == id), "{id}: {weak:?}");
    }

    let policy = dir.join("mta-sts.txt");
    std::fs::write(
        &policy,
        "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\nmax_age: 604800\r\n",
    )
    .unwrap();
    let f = blason_findings(&[
        "mta-sts",
        "lint",
        "example.test",
        "--policy",
        policy.to_str().unwrap(),
        "--resolver",
        &r,
    ]);
    assert_eq!(
        f,
        vec![("error".to_string(), "mta-sts-mx-uncovered".to_string())],
        "mx2 is not in the policy"
    );
    std::fs::write(
        &policy,
        "version: STSv1\r\nmode: enforce\r\nmx: *.example.test\r\nmax_age: 604800\r\n",
    )
    .unwrap();
    let f = blason_findings(&[
        "mta-sts",
        "lint",
        "example.test",
        "--policy",
        policy.to_str().unwrap(),
        "--resolver",
        &r,
    ]);
    assert!(f.is_empty(), "{f:?}");

    let o = run(
        blason().args([
            "mail",
            "check",
            "example.test",
            "--resolver",
            &r,
            "--format",
            "json",
        ]),
        None,
    );
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        s.contains("\"errors\":0") && s.contains("\"name\":\"tls-rpt\""),
        "{s}"
    );
    let o = run(
        blason().args(["mail", "check", "weak.example.test", "--resolver", &r]),
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let t = text(&o);
    for id in [
        "spf-pass-all",
        "dmarc-p-none",
        "dkim-adsp",
        "dkim-domainkeys-policy",
        "mta-sts-id",
        "bimi-dmarc-policy",
        "tlsa-missing",
    ] {
        assert!(t.contains(&format!("[{id}]")), "{id}: {t}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A state folder of its own for each command: a served zone's journal lives there,
/// and no two servers may share one.
fn own_state() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("blason-test-state-{}-{n}", std::process::id()))
}
