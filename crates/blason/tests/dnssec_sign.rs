//! `blason dnssec sign` checked by other implementations' verifiers.
//!
//! A zone with a secure and an insecure delegation, glue, wildcards, empty
//! non-terminals, a CNAME, a DNAME and mixed-case names is signed with each algorithm
//! (13, 15, 8), with NSEC and NSEC3 (also opt-out, also one CSK), and each result must
//! pass BIND's `dnssec-verify`, ldns' `ldns-verify-zone` and Knot's `kzonecheck
//! --dnssec on` (Debian's knot-dnssecutils, not knot, ships it). Keys made by
//! `dnssec-keygen` are imported and used, and the DS printed by `blason dnssec ds`
//! must equal `dnssec-dsfromkey`'s for both BIND's keys and blason's own K-files.
//!
//! The tools come from bind9-utils, ldnsutils and knot-dnssecutils (`scripts/test.sh`
//! installs them); in CI their absence is a failure, elsewhere a skip.

use std::path::{Path, PathBuf};
use std::process::Command;

const BLASON: &str = env!("CARGO_BIN_EXE_blason");

const ZONE: &str = r#"$ORIGIN example.
$TTL 3600
@         IN SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 300
@         IN NS ns1
@         IN NS ns2.Example.
@         IN MX 10 mail
@         IN MX 20 Mail2.example.
@         IN A 192.0.2.1
@         IN TXT "v=spf1 -all"
@         IN TXT "another string"
ns1       IN A 192.0.2.53
ns2       IN AAAA 2001:db8::53
mail      IN A 192.0.2.25
mail      IN A 192.0.2.26
Mail2     IN A 192.0.2.27
www       IN CNAME @
*         IN TXT "apex wildcard"
*.wild    IN A 192.0.2.80
*.wild    IN TXT "wild"
x.y.z.ent IN A 192.0.2.9
secure    IN NS ns.secure
secure    IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure IN A 192.0.2.100
insecure  IN NS ns.insecure
insecure  IN NS ns.elsewhere.net.
ns.insecure IN A 192.0.2.101
deep.below.insecure IN A 192.0.2.102
a.b.unsigned-ent IN NS ns.elsewhere.net.
dn        IN DNAME target.example.net.
Upper     IN MX 5 MAIL.Example.
srv._tcp  IN SRV 0 5 443 WWW.example.
a.b.c.d   IN TXT "deep"
"#;

fn tool(name: &str) -> Option<PathBuf> {
    for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Some(p);
        }
    }
    None
}

/// The verifier tools, or None to skip (outside CI) when one is missing.
fn tools() -> Option<(PathBuf, PathBuf)> {
    match (tool("dnssec-verify"), tool("ldns-verify-zone")) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "dnssec-verify or ldns-verify-zone missing (scripts/test.sh installs bind9-utils and ldnsutils)"
            );
            eprintln!("SKIP: dnssec-verify or ldns-verify-zone is not installed");
            None
        }
    }
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-dnssec-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("command runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

fn sign(dir: &Path, keys: &Path, out: &str, extra: &[&str]) -> PathBuf {
    let zone = dir.join("example.zone");
    std::fs::write(&zone, ZONE).unwrap();
    let out = dir.join(out);
    run(Command::new(BLASON)
        .args(["dnssec", "sign", "example", zone.to_str().unwrap(), "-o"])
        .arg(&out)
        .arg("--keys")
        .arg(keys)
        .args(["--threads", "2", "--jitter", "1h"])
        .args(extra));
    out
}

/// `csk`: the zone is signed by keys with the SEP flag only, which dnssec-verify
/// accepts with `-z` (ignore the KSK flag).
fn verify(file: &Path, csk: bool) {
    let Some((dv, lv)) = tools() else { return };
    let mut c = Command::new(dv);
    if csk {
        c.arg("-z");
    }
    let t = run(c.args(["-o", "example."]).arg(file));
    assert!(t.contains("Zone fully signed"), "dnssec-verify:\n{t}");
    let t = run(Command::new(lv).arg(file));
    assert!(
        t.contains("Zone is verified and complete"),
        "ldns-verify-zone:\n{t}"
    );
    match tool("kzonecheck") {
        Some(kz) => {
            run(Command::new(kz)
                .args(["-o", "example.", "--dnssec", "on"])
                .arg(file));
        }
        None => assert!(
            std::env::var_os("CI").is_none(),
            "kzonecheck missing (scripts/test.sh installs knot-dnssecutils)"
        ),
    }
}

fn signed_text(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap()
}

#[test]
fn every_algorithm_and_denial_verifies() {
    if tools().is_none() {
        return;
    }
    let dir = tmpdir("algs");
    for alg in ["ecdsap256", "ed25519", "rsasha256"] {
        let keys = dir.join(format!("keys-{alg}"));
        for (mode, extra) in [
            ("nsec", &[][..]),
            ("nsec3", &["--nsec3"][..]),
            ("nsec3-optout", &["--nsec-mode", "nsec3", "--opt-out"][..]),
        ] {
            let mut args = vec!["--algorithm", alg];
            args.extend_from_slice(extra);
            let out = sign(&dir, &keys, &format!("{alg}-{mode}.signed"), &args);
            verify(&out, false);
            let text = signed_text(&out);
            // No signatures over glue or delegation NS, NSEC/NSEC3 as asked.
            assert!(
                !text.lines().any(|l| (l.starts_with("secure.example.")
                    || l.starts_with("insecure.example."))
                    && l.contains("RRSIG\tNS ")),
                "delegation NS signed: {alg} {mode}"
            );
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("ns.insecure.example.") && l.contains("RRSIG")),
                "glue signed: {alg} {mode}"
            );
            assert_eq!(
                text.contains("\tNSEC3PARAM\t"),
                mode != "nsec",
                "{alg} {mode}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csk_with_cds_verifies() {
    if tools().is_none() {
        return;
    }
    let dir = tmpdir("csk");
    let keys = dir.join("keys");
    for (name, extra) in [
        ("csk-nsec.signed", &["--csk", "--cds"][..]),
        ("csk-nsec3.signed", &["--csk", "--cds", "--nsec3"][..]),
    ] {
        let out = sign(&dir, &keys, name, extra);
        verify(&out, true);
        let text = signed_text(&out);
        assert!(text.contains("\tCDS\t") && text.contains("\tCDNSKEY\t"));
    }
    // One key, with the SEP flag.
    let n = std::fs::read_dir(&keys).unwrap().count();
    assert_eq!(n, 2, "one .key and one .private");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DS lines `dnssec-dsfromkey -2` prints for the .key files in `keys`.
fn bind_ds(keys: &Path) -> Vec<String> {
    let Some(dfk) = tool("dnssec-dsfromkey") else {
        return vec![];
    };
    let mut v = Vec::new();
    for e in std::fs::read_dir(keys).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "key") {
            let t = std::fs::read_to_string(&p).unwrap();
            if t.lines().any(|l| l.contains("DNSKEY 257 ")) {
                let out = run(Command::new(&dfk).arg("-2").arg(&p));
                v.extend(out.lines().map(normalize));
            }
        }
    }
    v.sort();
    v
}

fn normalize(l: &str) -> String {
    l.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

fn blason_ds(keys: &Path) -> Vec<String> {
    let out = run(Command::new(BLASON)
        .args(["dnssec", "ds", "example", "--keys"])
        .arg(keys));
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| l.contains(" DS "))
        .map(normalize)
        .collect();
    v.sort();
    v
}

#[test]
fn keys_from_dnssec_keygen_are_used_and_ds_matches_bind() {
    let Some(keygen) = tool("dnssec-keygen") else {
        assert!(std::env::var_os("CI").is_none(), "dnssec-keygen missing");
        eprintln!("SKIP: dnssec-keygen is not installed");
        return;
    };
    if tools().is_none() {
        return;
    }
    let dir = tmpdir("keygen");
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    run(Command::new(&keygen)
        .args(["-q", "-a", "ECDSAP256SHA256", "-K"])
        .arg(&keys)
        .arg("example."));
    run(Command::new(&keygen)
        .args(["-q", "-a", "ECDSAP256SHA256", "-f", "KSK", "-K"])
        .arg(&keys)
        .arg("example."));
    let before: Vec<_> = std::fs::read_dir(&keys).unwrap().collect();
    let out = sign(&dir, &keys, "bind-keys.signed", &[]);
    verify(&out, false);
    // No key was generated: BIND's two were used.
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), before.len());
    let text = signed_text(&out);
    for e in std::fs::read_dir(&keys).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(tag) = name.strip_suffix(".key").and_then(|b| b.rsplit('+').next()) {
            let tag: u16 = tag.parse().unwrap();
            assert!(
                text.contains(&format!(" {tag} example. ")),
                "no RRSIG by key {tag}"
            );
        }
    }
    let ds = blason_ds(&keys);
    assert_eq!(ds.len(), 1);
    assert_eq!(ds, bind_ds(&keys));

    // blason's own K-files, read by BIND's tool, give the same DS.
    let own = dir.join("own");
    for alg in ["ecdsap256", "ed25519", "rsasha256"] {
        let k = own.join(alg);
        sign(
            &dir,
            &k,
            &format!("own-{alg}.signed"),
            &["--algorithm", alg],
        );
        let ds = blason_ds(&k);
        assert_eq!(ds.len(), 1, "{alg}");
        assert_eq!(ds, bind_ds(&k), "{alg}");
        #[cfg(unix)]
        for e in std::fs::read_dir(&k).unwrap() {
            use std::os::unix::fs::PermissionsExt;
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "private") {
                let mode = std::fs::metadata(&p).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", p.display());
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
