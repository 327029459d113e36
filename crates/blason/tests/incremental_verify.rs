//! Incrementally re-signed zones checked by other implementations' verifiers.
//!
//! A zone with delegations (secure, insecure, with glue), wildcards, empty
//! non-terminals and a DNAME is signed whole, then changed step by step through
//! `blason_dnssec::sign::incremental` (records changed at existing names, names added
//! and removed, a cut added and removed, a DS added) and refreshed; after every step
//! the zone, printed with `blason_zone::print`, must pass BIND's `dnssec-verify` and
//! ldns' `ldns-verify-zone`, with NSEC, NSEC3 and NSEC3 opt-out. Without the tools
//! (bind9-utils, ldnsutils) the test prints a note and passes.

use blason_dnssec::keys::{Algorithm, Key, FLAG_SEP, FLAG_ZONE};
use blason_dnssec::sign::incremental::{apply, refresh, Change};
use blason_dnssec::sign::{sign_zone, Denial, Nsec3Params, SignOptions, Validity, ZoneKeys};
use blason_zone::{Name, Rtype, Zone};
use std::path::{Path, PathBuf};
use std::process::Command;

const ZONE: &str = r#"$ORIGIN example.
$TTL 3600
@         IN SOA ns1.example. hostmaster.example. 2024010101 7200 3600 1209600 300
@         IN NS ns1
@         IN MX 10 mail
@         IN A 192.0.2.1
ns1       IN A 192.0.2.53
mail      IN A 192.0.2.25
www       IN CNAME @
*.wild    IN A 192.0.2.80
x.y.z.ent IN A 192.0.2.9
secure    IN NS ns.secure
secure    IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF
ns.secure IN A 192.0.2.100
insecure  IN NS ns.insecure
ns.insecure IN A 192.0.2.101
dn        IN DNAME target.example.net.
"#;

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
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

/// Parses one RRset in presentation form, e.g. `("mail", "A", &["192.0.2.7"])`.
fn rrset(name: &str, t: &str, rdatas: &[&str]) -> Change {
    let origin = Name::parse("example.", None).unwrap();
    let mut text = String::from("$ORIGIN example.\n@ 3600 IN SOA a b 1 2 3 4 5\n");
    for rd in rdatas {
        text.push_str(&format!("{name} 3600 IN {t} {rd}\n"));
    }
    let z = blason_zone::load::load_bytes(&origin, text.as_bytes(), "change").zone;
    let owner = Name::parse(name, Some(&origin)).unwrap();
    let node = z.node(z.find(owner.as_wire()).unwrap());
    let rrset = node
        .rrsets
        .iter()
        .find(|r| r.rtype != Rtype::SOA)
        .unwrap()
        .clone();
    Change::Replace { name: owner, rrset }
}

fn delete(name: &str, t: Rtype) -> Change {
    let origin = Name::parse("example.", None).unwrap();
    Change::Delete {
        name: Name::parse(name, Some(&origin)).unwrap(),
        rtype: t,
    }
}

fn verify(zone: &Zone, dir: &Path, step: &str, dv: &Path, lv: &Path) {
    let file = dir.join(format!("{step}.zone"));
    let mut out = Vec::new();
    blason_zone::print::write_zone(zone, &mut out).unwrap();
    std::fs::write(&file, out).unwrap();
    let t = run(Command::new(dv).args(["-o", "example."]).arg(&file));
    assert!(
        t.contains("Zone fully signed"),
        "{step}: dnssec-verify:\n{t}"
    );
    let t = run(Command::new(lv).arg(&file));
    assert!(
        t.contains("Zone is verified and complete"),
        "{step}: ldns-verify-zone:\n{t}"
    );
}

#[test]
fn incremental_changes_pass_the_verifiers() {
    let (Some(dv), Some(lv)) = (tool("dnssec-verify"), tool("ldns-verify-zone")) else {
        eprintln!(
            "SKIP: dnssec-verify or ldns-verify-zone is not installed (bind9-utils, ldnsutils)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-incremental-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let origin = Name::parse("example.", None).unwrap();
    let unsigned = blason_zone::load::load_bytes(&origin, ZONE.as_bytes(), "example").zone;
    let keys = [
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap(),
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap(),
    ];
    let zk = ZoneKeys::by_flags(&keys);
    // The verifiers check signatures against the real time.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let steps: Vec<(&str, Vec<Change>)> = vec![
        (
            "change-a",
            vec![rrset("mail", "A", &["192.0.2.26", "192.0.2.27"])],
        ),
        ("new-type", vec![rrset("mail", "TXT", &["\"hello\""])]),
        (
            "new-name",
            vec![rrset("host.new", "AAAA", &["2001:db8::1"])],
        ),
        ("new-wildcard", vec![rrset("*", "TXT", &["\"any\""])]),
        (
            "new-cut",
            vec![
                rrset("child", "NS", &["ns.child"]),
                rrset("ns.child", "A", &["192.0.2.200"]),
            ],
        ),
        (
            "secure-cut",
            vec![rrset(
                "child",
                "DS",
                &["1 13 2 00112233445566778899AABBCCDDEEFF00112233445566778899AABBCCDDEEFF"],
            )],
        ),
        ("remove-ent-leaf", vec![delete("x.y.z.ent", Rtype::A)]),
        ("remove-cut", vec![delete("insecure", Rtype::NS)]),
        ("remove-type", vec![delete("mail", Rtype::TXT)]),
    ];
    for (label, denial) in [
        ("nsec", Denial::Nsec),
        ("nsec3", Denial::Nsec3(Nsec3Params::default())),
        (
            "optout",
            Denial::Nsec3(Nsec3Params {
                opt_out: true,
                ..Nsec3Params::default()
            }),
        ),
    ] {
        let mut opts = SignOptions::new(
            denial,
            Validity {
                inception: (now - 3600) as u32,
                expiration: (now + 7 * 86_400) as u32,
                jitter: 86_400,
            },
        );
        opts.threads = 1;
        let mut zone = sign_zone(&unsigned, &zk, &opts).unwrap().zone;
        verify(&zone, &dir, &format!("{label}-0"), &dv, &lv);
        for (step, changes) in &steps {
            let (next, _) = apply(&zone, changes, &zk, &opts).unwrap();
            verify(&next, &dir, &format!("{label}-{step}"), &dv, &lv);
            zone = next;
        }
        // A refresh four days on: the signatures it makes and keeps all verify.
        opts.validity = Validity {
            inception: (now - 3600) as u32,
            expiration: (now + 14 * 86_400) as u32,
            jitter: 86_400,
        };
        let (refreshed, stats) = refresh(&zone, &zk, &opts, now, 7 * 86_400)
            .unwrap()
            .expect("everything is due");
        assert!(stats.rrsets > 0);
        verify(&refreshed, &dir, &format!("{label}-refreshed"), &dv, &lv);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
