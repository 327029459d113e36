//! Dynamic updates (RFC 2136) from the stock clients: BIND's `nsupdate` (over UDP and
//! TCP) and Knot's `knsupdate`, TSIG-signed, against `blason serve` on loopback.
//! Every response code the RFC names that a client can provoke is provoked; the
//! answers after each update are asked with dig; grants are held to; an acknowledged
//! update survives kill -9 and a reload of the zone file.

mod common;

use common::{dig, low_port, nsupdate, run_input, serve_config, short, tool, wait_for};
use std::path::Path;
use std::process::Command;

const DDNS: &str = "ZGRucyBrZXkgb2YgdGhlIHVwZGF0ZSB0ZXN0LCBub3QgcmVhbA==";
const ACME: &str = "YWNtZSBrZXkgb2YgdGhlIHVwZGF0ZSB0ZXN0LCBub3QgcmVhbA==";
const ADMIN: &str = "YWRtaW4ga2V5IG9mIHRoZSB1cGRhdGUgdGVzdCwgbm90IHJlYWw=";

fn config(dir: &Path, port: u16) -> String {
    format!(
        r#"listen = ["127.0.0.1:{port}"]
state = "{s}"
[[key]]
name = "ddns"
secret = "{DDNS}"
[[key]]
name = "acme"
algorithm = "hmac-sha512"
secret = "{ACME}"
[[key]]
name = "admin"
secret = "{ADMIN}"
[[zone]]
origin = "x.test"
file = "{z}"
notify-ns = false
[[zone.update]]
key = "ddns"
grant = "subdomain"
name = "home.x.test"
types = ["A", "AAAA", "TXT"]
[[zone.update]]
key = "acme"
grant = "acme"
[[zone.update]]
key = "admin"
grant = "zone"
types = ["ANY"]
"#,
        s = dir.join("state").display(),
        z = dir.join("x.test.zone").display()
    )
}

/// A fresh folder `blason-NAME-PID` holding the zone file x.test.zone.
fn zone_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("blason-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("x.test.zone"),
        "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.77\nwww A 192.0.2.80\nhome A 192.0.2.1\n",
    )
    .unwrap();
    dir
}

/// The answer's records for `name type`, sorted, one string each.
fn answers(port: u16, name: &str, qtype: &str) -> Vec<String> {
    let mut v: Vec<String> = short(port, name, qtype)
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn nsupdate_and_knsupdate_change_the_zone_as_the_rfc_says() {
    let (Some(_), Some(_), Some(knsupdate)) = (tool("nsupdate"), tool("dig"), tool("knsupdate"))
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nsupdate, knsupdate and dig are needed (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = zone_dir("update");
    let port = low_port();
    let conf = dir.join("blason.toml");
    // A key from `blason tsig keygen --for update`, its blason part pasted at the
    // config's end and its nsupdate part saved as a key file.
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args([
            "tsig", "keygen", "home-key", "--for", "update", "--zone", "x.test",
        ])
        .args(["--primary", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let blason_part = printed.split("\n\n").next().unwrap();
    let key_line = printed
        .lines()
        .find(|l| l.starts_with("key \""))
        .expect("a key file line for nsupdate");
    std::fs::write(dir.join("home.key"), format!("{key_line}\n")).unwrap();
    std::fs::write(&conf, format!("{}{blason_part}\n", config(&dir, port))).unwrap();
    let log = dir.join("blason.log");
    let serve = || serve_config(&conf, &log);
    let mut blason = serve();
    wait_for("blason answering", &log, || {
        dig(port, "x.test", "SOA", &[]).0 == "NOERROR"
    });
    let ddns = format!("hmac-sha256:ddns:{DDNS}");
    let admin = format!("hmac-sha256:admin:{ADMIN}");
    let acme = format!("hmac-sha512:acme:{ACME}");
    let up = |key: &str, tcp: bool, script: &str| nsupdate(port, Some(key), tcp, script);
    let fails_with = |r: (bool, String), code: &str| {
        assert!(!r.0 && r.1.contains(code), "expected {code}: {}", r.1);
    };

    // The printed key and grant, used as printed.
    let (ok, out) = run_input(
        Command::new("nsupdate").arg("-k").arg(dir.join("home.key")),
        &format!(
            "server 127.0.0.1 {port}\nzone x.test\nupdate add home.x.test 300 TXT \"printed key\"\nsend\n"
        ),
    );
    assert!(ok, "{out}");
    assert_eq!(answers(port, "home.x.test", "TXT"), ["\"printed key\""]);

    // Add, over UDP then TCP; then replace with a value-dependent prerequisite.
    let r = up(
        &ddns,
        false,
        "zone x.test\nupdate add home.x.test 60 A 192.0.2.10",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(
        answers(port, "home.x.test", "A"),
        ["192.0.2.1", "192.0.2.10"]
    );
    let r = up(
        &ddns,
        true,
        "zone x.test\nupdate add a.home.x.test 60 AAAA 2001:db8::1",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(answers(port, "a.home.x.test", "AAAA"), ["2001:db8::1"]);
    let r = up(
        &ddns,
        false,
        "zone x.test\nprereq yxrrset home.x.test A 192.0.2.1\nprereq yxrrset home.x.test A 192.0.2.10\n\
         update delete home.x.test A\nupdate add home.x.test 60 A 192.0.2.11",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(answers(port, "home.x.test", "A"), ["192.0.2.11"]);

    // Each prerequisite's failure, and nothing applied with it.
    let add12 = "update add home.x.test 60 A 192.0.2.12";
    fails_with(
        up(
            &ddns,
            false,
            &format!("zone x.test\nprereq nxdomain home.x.test\n{add12}"),
        ),
        "YXDOMAIN",
    );
    fails_with(
        up(
            &ddns,
            false,
            &format!("zone x.test\nprereq yxdomain b.home.x.test\n{add12}"),
        ),
        "NXDOMAIN",
    );
    fails_with(
        up(
            &ddns,
            true,
            &format!("zone x.test\nprereq nxrrset home.x.test A\n{add12}"),
        ),
        "YXRRSET",
    );
    fails_with(
        up(
            &ddns,
            false,
            &format!("zone x.test\nprereq yxrrset home.x.test AAAA\n{add12}"),
        ),
        "NXRRSET",
    );
    fails_with(
        up(
            &ddns,
            false,
            &format!("zone x.test\nprereq yxrrset home.x.test A 192.0.2.99\n{add12}"),
        ),
        "NXRRSET",
    );
    assert_eq!(
        answers(port, "home.x.test", "A"),
        ["192.0.2.11"],
        "nothing applied"
    );

    // Refusals: outside the grant, a type not granted, no key, a wrong key, a zone
    // not served, a name outside the zone.
    fails_with(
        up(
            &ddns,
            false,
            "zone x.test\nupdate add www.x.test 60 A 192.0.2.9",
        ),
        "REFUSED",
    );
    fails_with(
        up(
            &ddns,
            false,
            "zone x.test\nupdate add home.x.test 60 MX 10 mx.x.test.",
        ),
        "REFUSED",
    );
    fails_with(
        nsupdate(
            port,
            None,
            false,
            "zone x.test\nupdate add home.x.test 60 A 192.0.2.9",
        ),
        "REFUSED",
    );
    let wrong = "hmac-sha256:ddns:d3Jvbmcgc2VjcmV0IG9mIHRoZSB0ZXN0IGtleQ==";
    let r = nsupdate(
        port,
        Some(wrong),
        false,
        "zone x.test\nupdate add home.x.test 60 A 192.0.2.9",
    );
    assert!(!r.0 && r.1.to_lowercase().contains("tsig"), "{}", r.1);
    fails_with(
        up(
            &admin,
            false,
            "zone other.test\nupdate add www.other.test 60 A 192.0.2.9",
        ),
        "NOTAUTH",
    );
    fails_with(
        up(
            &admin,
            false,
            "zone x.test\nupdate add www.other.test 60 A 192.0.2.9",
        ),
        "NOTZONE",
    );
    assert_eq!(answers(port, "www.x.test", "A"), ["192.0.2.80"]);
    // Held to the zone's own checks, as BIND's check-integrity holds updates: the
    // zone's name servers keep their addresses. REFUSED, nothing applied.
    fails_with(
        up(
            &admin,
            false,
            "zone x.test\nupdate add x.test 60 NS ns9.x.test.",
        ),
        "REFUSED",
    );
    fails_with(
        up(&admin, false, "zone x.test\nupdate delete ns1.x.test A"),
        "REFUSED",
    );
    assert_eq!(answers(port, "x.test", "NS"), ["ns1.x.test."]);
    assert_eq!(answers(port, "ns1.x.test", "A"), ["127.0.0.77"]);
    let r = up(
        &admin,
        false,
        "zone x.test\nupdate add ns9.x.test 60 A 127.0.0.78\nupdate add x.test 60 NS ns9.x.test.",
    );
    assert!(r.0, "with its address, the name server is taken: {}", r.1);
    let r = up(
        &admin,
        false,
        "zone x.test\nupdate delete x.test NS ns9.x.test.\nupdate delete ns9.x.test A",
    );
    assert!(r.0, "{}", r.1);
    // A malformed update (a prerequisite with a TTL; no stock client sends one):
    // FORMERR, signed.
    assert_eq!(raw_update(port, 5), (1, true));
    assert_eq!(raw_update(port, 0), (0, true), "the same, well formed");

    // The RFC's rules: a CNAME beside other data is ignored (NOERROR, no change);
    // the apex's SOA and NS are not deleted.
    let r = up(
        &admin,
        false,
        "zone x.test\nupdate add www.x.test 60 CNAME home.x.test.",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(answers(port, "www.x.test", "CNAME"), Vec::<String>::new());
    let r = up(
        &admin,
        false,
        "zone x.test\nupdate delete x.test NS\nupdate delete x.test SOA",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(answers(port, "x.test", "NS"), ["ns1.x.test."]);

    // ACME: TXT at _acme-challenge names only; added, then deleted.
    let r = up(
        &acme,
        false,
        "zone x.test\nupdate add _acme-challenge.www.x.test 60 TXT \"token-1\"",
    );
    assert!(r.0, "{}", r.1);
    assert_eq!(
        answers(port, "_acme-challenge.www.x.test", "TXT"),
        ["\"token-1\""]
    );
    fails_with(
        up(
            &acme,
            false,
            "zone x.test\nupdate add www.x.test 60 TXT \"token-1\"",
        ),
        "REFUSED",
    );

    // knsupdate, Knot's client, with the same keys.
    let kn = |script: &str| {
        let (ok, text) = run_input(
            Command::new(&knsupdate).args(["-y", &format!("hmac-sha512:acme:{ACME}")]),
            &format!("server 127.0.0.1 {port}\nzone x.test.\n{script}\nsend\nquit\n"),
        );
        (ok && !text.contains("failed"), text)
    };
    let r = kn("del _acme-challenge.www.x.test. TXT \"token-1\"");
    assert!(r.0, "knsupdate: {}", r.1);
    assert_eq!(
        answers(port, "_acme-challenge.www.x.test", "TXT"),
        Vec::<String>::new()
    );
    let r = kn("add _acme-challenge.x.test. 60 TXT \"token-2\"");
    assert!(r.0, "knsupdate: {}", r.1);
    let r = kn("add x.test. 60 TXT \"not a challenge\"");
    assert!(!r.0 && r.1.contains("REFUSED"), "knsupdate: {}", r.1);

    // Acknowledged updates survive kill -9, and then a reload of the zone file.
    drop(blason);
    blason = serve();
    wait_for("blason answering again", &log, || {
        dig(port, "x.test", "SOA", &[]).0 == "NOERROR"
    });
    assert_eq!(answers(port, "home.x.test", "A"), ["192.0.2.11"]);
    assert_eq!(answers(port, "a.home.x.test", "AAAA"), ["2001:db8::1"]);
    assert_eq!(
        answers(port, "_acme-challenge.x.test", "TXT"),
        ["\"token-2\""]
    );
    std::fs::write(
        dir.join("x.test.zone"),
        "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 hostmaster 2 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.77\nwww A 192.0.2.81\nhome A 192.0.2.1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["reload", "--state"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(answers(port, "www.x.test", "A"), ["192.0.2.81"]);
    assert_eq!(answers(port, "home.x.test", "A"), ["192.0.2.11"]);
    assert_eq!(
        answers(port, "_acme-challenge.x.test", "TXT"),
        ["\"token-2\""]
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("update refused by policy") && text.contains("update committed"),
        "updates are logged"
    );
    // Which records came from updates, and when: after a restart and a reload of
    // the file, the dynamic ones are listed with their change, the file's records
    // an update replaced as removed, and the file's own records not at all.
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["zone", "dynamic", "x.test", "--state"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let view = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{view}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |rec: &str| {
        view.lines()
            .find(|l| l.starts_with(rec))
            .unwrap_or_else(|| panic!("no {rec}:\n{view}"))
    };
    for rec in [
        "home.x.test. 60 A 192.0.2.11",
        "a.home.x.test. 60 AAAA 2001:db8::1",
        "_acme-challenge.x.test. 60 TXT \"token-2\"",
    ] {
        let l = line(rec);
        assert!(l.contains("; added at 20") && l.contains("serial"), "{l}");
    }
    assert!(
        line("home.x.test. 300 A 192.0.2.1").contains("; removed at 20"),
        "{view}"
    );
    assert!(
        !view.contains("www.x.test."),
        "the file's records are not dynamic:\n{view}"
    );
    drop(blason);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends, signed with the ddns key, an update for home.x.test whose "RRset exists"
/// prerequisite carries `ttl` (the RFC wants 0); returns the RCODE and whether the
/// reply is signed.
fn raw_update(port: u16, ttl: u32) -> (u16, bool) {
    use blason_proto::tsig::{self, Algorithm, Key, Position};
    use blason_proto::{Message, MessageBuilder, Record, Section};
    use blason_zone::{Name, Rtype};
    let key = Key::from_base64(
        Name::parse("ddns.", None).unwrap(),
        Algorithm::HmacSha256,
        DDNS,
    )
    .unwrap();
    let name = |s: &str| Name::parse(s, None).unwrap();
    let mut b = MessageBuilder::new(0x4242, 5 << 11);
    b.question(&name("x.test."), Rtype::SOA, 1);
    b.record(
        Section::Answer,
        &Record {
            owner: name("home.x.test."),
            rtype: Rtype::A,
            class: 255,
            ttl,
            rdata: Vec::new(),
        },
    );
    b.record(
        Section::Authority,
        &Record {
            owner: name("home.x.test."),
            rtype: Rtype::TXT,
            class: 1,
            ttl: 60,
            rdata: b"\x03raw".to_vec(),
        },
    );
    let mut q = b.finish();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mac = tsig::sign(&mut q, &key, now, Position::Request, 0);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.send_to(&q, ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).unwrap();
    let m = Message::parse(&buf[..n]).unwrap();
    let signed = tsig::verify(
        &buf[..n],
        &|k| (*k == key.name).then_some(&key),
        now,
        Position::Response(&mac),
    )
    .is_ok();
    (m.rcode(), signed)
}

/// SERVFAIL, the one code a client cannot provoke by its request: the server
/// cannot make the change durable. blason runs under a 40 KB file-size limit
/// (`ulimit -f`, SIGXFSZ ignored), so an update that would take the journal past
/// it fails to be written: SERVFAIL, nothing of it applied or served. Updates
/// before and after it are answered NOERROR, and after kill -9 and a restart
/// without the limit, exactly those are there.
#[test]
fn an_update_that_cannot_be_journaled_is_servfail_and_changes_nothing() {
    let (Some(_), Some(_)) = (tool("nsupdate"), tool("dig")) else {
        panic!("nsupdate and dig are needed (scripts/test.sh installs them)");
    };
    let dir = zone_dir("update-servfail");
    let port = low_port();
    let conf = dir.join("blason.toml");
    std::fs::write(&conf, config(&dir, port)).unwrap();
    let log = dir.join("blason.log");
    let limited = common::spawn_logged(
        Command::new("bash").arg("-c").arg(format!(
            "trap '' XFSZ; ulimit -f 40; exec {} serve --config {}",
            env!("CARGO_BIN_EXE_blason"),
            conf.display()
        )),
        &log,
    );
    wait_for("blason answering", &log, || {
        dig(port, "x.test", "SOA", &[]).0 == "NOERROR"
    });
    let admin = format!("hmac-sha256:admin:{ADMIN}");
    let up = |script: &str| nsupdate(port, Some(&admin), true, script);
    let r = up("zone x.test\nupdate add before.x.test 60 A 192.0.2.51");
    assert!(r.0, "{}", r.1);
    // About 50 KB of TXT records in one update (one TCP message).
    let big: String = (0..24)
        .map(|i| {
            let s = format!("\"{}\"", "x".repeat(250));
            format!("update add big{i}.x.test 60 TXT {}\n", vec![s; 8].join(" "))
        })
        .collect();
    let r = up(&format!("zone x.test\n{big}"));
    assert!(
        !r.0 && r.1.contains("SERVFAIL"),
        "expected SERVFAIL: {}",
        r.1
    );
    assert!(
        short(port, "big0.x.test", "TXT").is_empty(),
        "nothing of it served"
    );
    let r = up("zone x.test\nupdate add after.x.test 60 A 192.0.2.52");
    assert!(r.0, "the journal takes changes again: {}", r.1);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("SERVFAIL") && logged.contains("append"),
        "the journal's failure is logged:\n{logged}"
    );
    // kill -9 (dropping the child), then a restart without the limit.
    drop(limited);
    let _again = serve_config(&conf, &log);
    wait_for("blason answering again", &log, || {
        short(port, "after.x.test", "A") == "192.0.2.52"
    });
    assert_eq!(short(port, "before.x.test", "A"), "192.0.2.51");
    assert!(short(port, "big0.x.test", "TXT").is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}
