//! `blason mail verify` and `blason spf check` against the reference
//! implementations: on a corpus of messages (good, body or header changed, expired,
//! wrong, missing or revoked key, l= tricks, simple canonicalization, SPF pass, fail,
//! softfail, neutral, none, permerror and temperror, DMARC pass and fail with relaxed
//! and strict alignment and a subdomain policy, ARC sealed and broken) blason's
//! verdicts equal pyspf's, dkimpy's and authheaders' (auth_oracle.py, pinned
//! versions) and OpenDKIM's for DKIM, every one of them resolving against
//! `blason serve` on loopback.

mod common;

use common::{free_port, wait_for};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn blason() -> Command {
    Command::new(env!("CARGO_BIN_EXE_blason"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A TXT value as zone-file strings of at most 250 characters.
fn txt(v: &str) -> String {
    v.as_bytes()
        .chunks(250)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

const SOA: &str =
    "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n";

/// The zones: the top-level domains (so a DMARC tree walk ends in NXDOMAIN, not
/// REFUSED), three mail domains and the loopback reverse zone.
fn zones(dir: &Path, r1: &str, e1: &str) -> Vec<(String, PathBuf)> {
    let r1 = txt(r1);
    let e1 = txt(e1);
    let list = [
        ("com", String::new()),
        ("net", String::new()),
        ("org", String::new()),
        ("info", String::new()),
        (
            "example.com",
            format!(
                "@ MX 10 mx\nmx A 127.0.0.1\n@ TXT \"v=spf1 ip4:127.0.0.1 -all\"\n\
                 _dmarc TXT \"v=DMARC1; p=reject\"\nr1._domainkey TXT {r1}\ne1._domainkey TXT {e1}\n\
                 r9._domainkey TXT {r1}\nrk._domainkey TXT \"v=DKIM1; k=rsa; p=\"\n\
                 soft TXT \"v=spf1 ip4:127.0.0.1 ~all\"\nneutral TXT \"v=spf1 ?all\"\n\
                 perm TXT \"v=spf1 ip4:300.0.0.1 -all\"\nnospf A 127.0.0.1\n\
                 voids TXT \"v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com -all\"\n\
                 incl TXT \"v=spf1 include:example.net -all\"\nmxs TXT \"v=spf1 mx:example.com -all\"\n\
                 macro TXT \"v=spf1 exists:%{{i}}.%{{l}}.ok.example.com -all\"\n127.0.0.1.alice.ok A 127.0.0.2\n\
                 expl TXT \"v=spf1 -all exp=why.example.com\"\nwhy TXT \"%{{i}} may not send for %{{d}}\"\n"
            ),
        ),
        (
            "example.net",
            format!(
                "@ TXT \"v=spf1 ip4:127.0.0.2 -all\"\n_dmarc TXT \"v=DMARC1; p=quarantine; adkim=s; aspf=s\"\n\
                 r1._domainkey TXT {r1}\nr1._domainkey.mail TXT {r1}\nmx A 127.0.0.2\n"
            ),
        ),
        (
            "example.org",
            "_dmarc TXT \"v=DMARC1; p=reject; sp=quarantine\"\nsub A 127.0.0.1\nsub TXT \"v=spf1 ip4:127.0.0.1 -all\"\n".to_string(),
        ),
        ("example.info", "@ TXT \"v=spf1 ip4:127.0.0.1 -all\"\n".to_string()),
        (
            "0.0.127.in-addr.arpa",
            "1 PTR mx.example.com.\n2 PTR mx.example.net.\n9 PTR nowhere.example.com.\n".to_string(),
        ),
    ];
    list.iter()
        .map(|(origin, body)| {
            let f = dir.join(format!("{origin}.zone"));
            std::fs::write(&f, format!("{SOA}{body}")).unwrap();
            (origin.to_string(), f)
        })
        .collect()
}

/// (message, client address, HELO, MAIL FROM)
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "good-rsa",
        "127.0.0.1",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "good-ed",
        "127.0.0.1",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "simple-canon",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "body-changed",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "header-changed",
        "127.0.0.1",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "expired",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "wrong-key",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "missing-key",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "revoked-key",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "length-appended",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "length-changed",
        "127.0.0.9",
        "mx.example.com",
        "alice@example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@soft.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@neutral.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@nospf.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@perm.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@voids.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@example.edu",
    ),
    (
        "unsigned",
        "127.0.0.2",
        "mx.example.net",
        "bounce@incl.example.com",
    ),
    (
        "unsigned",
        "127.0.0.1",
        "mx.example.com",
        "bounce@mxs.example.com",
    ),
    (
        "unsigned",
        "127.0.0.1",
        "mx.example.com",
        "alice@macro.example.com",
    ),
    (
        "unsigned",
        "127.0.0.1",
        "mx.example.com",
        "bounce@soft.example.com",
    ),
    (
        "unsigned",
        "127.0.0.9",
        "mx.example.com",
        "bounce@expl.example.com",
    ),
    (
        "strict-unaligned",
        "127.0.0.9",
        "mx.example.net",
        "alice@example.net",
    ),
    (
        "strict-aligned",
        "127.0.0.9",
        "mx.example.net",
        "alice@example.net",
    ),
    (
        "sub-unsigned",
        "127.0.0.9",
        "mx.example.com",
        "alice@sub.example.org",
    ),
    (
        "sub-unsigned",
        "127.0.0.1",
        "mx.example.com",
        "alice@sub.example.org",
    ),
    (
        "no-dmarc",
        "127.0.0.1",
        "mx.example.com",
        "alice@example.info",
    ),
    (
        "arc-sealed",
        "127.0.0.2",
        "mx.example.net",
        "alice@example.com",
    ),
    (
        "arc-broken",
        "127.0.0.2",
        "mx.example.net",
        "alice@example.com",
    ),
];

/// `blason mail verify --format json` of `file` with the envelope flags given,
/// asking `resolver`; it must run (exit status 0 or 1).
fn verify_json(resolver: &str, envelope: &[&str], file: &Path) -> serde_json::Value {
    let out = blason()
        .args(["mail", "verify", "--format", "json", "--resolver", resolver])
        .args(["--authserv-id", "rx.example.org"])
        .args(envelope)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    json(&String::from_utf8_lossy(&out.stdout))
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The verdicts compared: SPF, each DKIM signature, DMARC (with its policy when
/// there is a record) and ARC.
fn verdicts(v: &serde_json::Value) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert(
        "spf",
        v["spf"]["result"].as_str().unwrap_or("?").to_string(),
    );
    let dkim: Vec<String> = v["dkim"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    format!(
                        "{} {} {}",
                        s["domain"].as_str().unwrap_or(""),
                        s["selector"].as_str().unwrap_or(""),
                        s["result"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    m.insert("dkim", dkim.join(", "));
    let dr = v["dmarc"]["result"].as_str().unwrap_or("?").to_string();
    m.insert("dmarc", dr.clone());
    if dr != "none" {
        m.insert(
            "dmarc.policy",
            v["dmarc"]["policy"].as_str().unwrap_or("?").to_string(),
        );
    }
    m.insert(
        "arc",
        v["arc"]["result"].as_str().unwrap_or("?").to_string(),
    );
    m
}

#[test]
fn verdicts_equal_pyspf_dkimpy_authheaders_and_opendkim() {
    let dir = tmp("mail-verify");
    let port = free_port();
    let records = common::dkim_keys(
        &dir,
        &[("r1", "rsa2048"), ("e1", "ed25519"), ("r9", "rsa2048")],
    );
    let (r1, e1) = (records[0].1.clone(), records[1].1.clone());
    let mut conf = format!(
        "listen = [\"127.0.0.1:{port}\"]\nstate = \"{}\"\n",
        dir.join("state").display()
    );
    for (origin, file) in zones(&dir, &r1, &e1) {
        conf.push_str(&format!(
            "[[zone]]\norigin = \"{origin}\"\nfile = \"{}\"\n",
            file.display()
        ));
    }
    let conf_file = dir.join("blason.toml");
    std::fs::write(&conf_file, conf).unwrap();
    let log = dir.join("serve.log");
    let _server = common::serve_config(&conf_file, &log);
    wait_for("the zones served", &log, || {
        common::short(port, "1.0.0.127.in-addr.arpa", "PTR").contains("mx.example.com")
    });

    // The messages blason signs, and those dkimpy signs.
    let plain = |from: &str, subject: &str| {
        format!("From: Alice <{from}>\r\nTo: bob@example.org\r\nSubject: {subject}\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <{subject}@x>\r\n\r\nHello.\r\n")
    };
    let sign = |sel: &str, msg: &str| -> String {
        let src = dir.join("src.eml");
        std::fs::write(&src, msg).unwrap();
        common::mail_sign(&dir, sel, &src)
    };
    let good = sign("r1", &plain("alice@example.com", "good"));
    let write = |name: &str, m: &str| std::fs::write(dir.join(format!("{name}.eml")), m).unwrap();
    write("good-rsa", &good);
    write("good-ed", &sign("e1", &plain("alice@example.com", "good")));
    write("body-changed", &good.replace("Hello.", "Hello!"));
    write(
        "header-changed",
        &good.replace("Subject: good", "Subject: g00d"),
    );
    write("unsigned", &plain("alice@example.com", "unsigned"));
    write("sub-unsigned", &plain("alice@sub.example.org", "sub"));
    write("no-dmarc", &plain("alice@example.info", "nodmarc"));
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mail");
    common::stdout_of(
        Command::new("python3")
            .arg(py.join("verify_corpus.py"))
            .arg(&dir),
        "verify_corpus.py",
    );

    let resolver = format!("127.0.0.1:{port}");
    let mut differ = Vec::new();
    let mut seen = BTreeMap::<String, usize>::new();
    for (name, ip, helo, from) in CASES {
        let file = dir.join(format!("{name}.eml"));
        let envelope = ["--ip", ip, "--helo", helo, "--mail-from", from];
        let ours = verify_json(&resolver, &envelope, &file);
        let text = common::stdout_of(
            Command::new("python3")
                .arg(py.join("auth_oracle.py"))
                .args(["--dns", &resolver])
                .args(envelope)
                .arg(&file),
            "auth_oracle.py",
        );
        let theirs = json(text.trim());
        assert!(
            theirs.get("error").is_none(),
            "{name}: the oracle failed: {theirs}"
        );
        let (a, b) = (verdicts(&ours), verdicts(&theirs));
        for (k, v) in &a {
            *seen.entry(format!("{k}={v}")).or_default() += 1;
        }
        if a != b {
            differ.push(format!(
                "{name} ({from} from {ip}):\n  blason {a:?}\n  oracle {b:?}"
            ));
        }
        // `blason spf check` says what `mail verify` says, in its own JSON.
        let spf = blason()
            .args(["spf", "check", "--format", "json", "--resolver", &resolver])
            .args(envelope)
            .output()
            .unwrap();
        assert_eq!(
            json(&String::from_utf8_lossy(&spf.stdout))["result"],
            ours["spf"]["result"],
            "{name} {from}"
        );
    }
    assert!(differ.is_empty(), "verdicts differ:\n{}", differ.join("\n"));

    // OpenDKIM in test mode (-t), resolving through libunbound fenced to loopback
    // and forwarding everything to blason. Its names for errors differ (a missing
    // key is "fail" to it, PERMFAIL in RFC 6376 §6.1.2), so each signature is
    // compared as pass or not.
    let mut names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    names.dedup();
    let mut checked = 0;
    for name in names {
        let file = dir.join(format!("{name}.eml"));
        let (theirs, said) = common::opendkim_verify(&dir, port, &file);
        let ours: Vec<String> = verify_json(&resolver, &[], &file)["dkim"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {} {}",
                    s["domain"].as_str().unwrap(),
                    s["selector"].as_str().unwrap(),
                    if s["result"] == "pass" {
                        "pass"
                    } else {
                        "not pass"
                    }
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{name}: OpenDKIM said:\n{said}");
        checked += ours.len();
    }
    assert!(checked >= 14, "OpenDKIM compared {checked} signatures");
    // The corpus reaches every result it claims to.
    for want in [
        "spf=pass",
        "spf=fail",
        "spf=softfail",
        "spf=neutral",
        "spf=none",
        "spf=permerror",
        "spf=temperror",
        "dmarc=pass",
        "dmarc=fail",
        "dmarc=none",
        "arc=pass",
        "arc=fail",
    ] {
        assert!(seen.contains_key(want), "no case gave {want}: {seen:?}");
    }
    for want in [
        "r1 pass",
        "e1 pass",
        "r1 fail",
        "r1 permerror",
        "r9 fail",
        "nokey permerror",
        "rk permerror",
    ] {
        assert!(
            seen.keys()
                .any(|k| k.starts_with("dkim=") && k.contains(want)),
            "no DKIM {want}: {seen:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
