//! Declarative mail records end to end: a `blason serve` config with `mail` and `tlsa`
//! sections, the generated records queried with dig over loopback, TLSA following a
//! key file across SIGHUP, collisions with hand-written records, and the mail lints of
//! `blason zone check`.

use blason_server::sys::{send_signal, Signal};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ZONE: &str = "\
$TTL 300
@    IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@    IN NS  ns1
@    IN MX  10 mail
@    IN TXT \"site-verification=abc\"
ns1  IN A   192.0.2.53
mail IN A   192.0.2.25
";

fn blason() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blason"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BLASON_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> Output {
    blason().args(args).output().expect("run blason")
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-mailcfg-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Makes an Ed25519 private key file with `blason dkim keygen` (any key will do for
/// TLSA); returns its path.
fn keyfile(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(format!("keys-{name}"));
    let o = run(&[
        "dkim",
        "keygen",
        "--domain",
        "example.com",
        "--selector",
        name,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out.join(format!("{name}.private"))
}

/// The TLSA data `blason tlsa` prints for a file: "3 1 1 <hex>".
fn tlsa_of(file: &Path) -> String {
    let o = run(&[
        "tlsa",
        "--cert",
        file.to_str().unwrap(),
        "--port",
        "25",
        "--host",
        "mail.example.com",
    ]);
    assert!(o.status.success());
    let line = String::from_utf8(o.stdout).unwrap();
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f[0], "_25._tcp.mail.example.com.");
    f[3..].join(" ").to_lowercase()
}

struct Serve {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = blason()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--threads",
                "1",
                "--config",
            ])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start blason serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening addr=").nth(1) {
                    let a = a.split_whitespace().next().unwrap_or("");
                    let _ = tx.send(a.parse::<SocketAddr>().ok());
                }
                log2.lock().unwrap().push(line);
            }
            let _ = tx.send(None);
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(a)) => a,
            other => {
                let _ = child.kill();
                panic!(
                    "serve did not start ({other:?}): {:#?}",
                    log.lock().unwrap()
                );
            }
        };
        Serve { child, addr, log }
    }

    fn count_log(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    fn wait_log(&self, needle: &str, count: usize) {
        let end = Instant::now() + Duration::from_secs(15);
        while self.count_log(needle) < count {
            assert!(
                Instant::now() < end,
                "no '{needle}' in log: {:#?}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `dig +short`, answers sorted.
    fn dig(&self, name: &str, qtype: &str) -> Vec<String> {
        let o = Command::new("dig")
            .arg(format!("@{}", self.addr.ip()))
            .args(["-p", &self.addr.port().to_string()])
            .args(["+short", "+norec", "+time=2", "+tries=1", name, qtype])
            .output()
            .expect("dig is installed");
        let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| l.to_string())
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .collect();
        v.sort();
        v
    }

    fn tlsa(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .dig("_25._tcp.mail.example.com", "TLSA")
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                format!("{} {}", f[..3].join(" "), f[3..].concat()).to_lowercase()
            })
            .collect();
        v.sort();
        v
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = send_signal(self.child.id(), Signal::Term);
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(dir: &Path, key: &Path) -> PathBuf {
    let text = format!(
        r#"state = "state"
poll-interval = 1
[[zone]]
origin = "example.com"
file = "db.example.com"
[zone.mail]
ttl = 600
spf = {{ senders = ["mx", "a", "ip4:192.0.2.0/24", "include:_spf.provider.test"], all = "-all" }}
dkim = [{{ selector = "mail2026", algorithm = "ed25519" }}]
dmarc = {{ policy = "quarantine", rua = ["mailto:dmarc@example.com"], pct = 100 }}
bimi = {{ logo = "https://example.com/logo.svg" }}
mta_sts = {{ mode = "enforce", mx = ["mail.example.com"], id = "auto" }}
tls_rpt = {{ rua = ["mailto:tls@example.com"] }}
[[zone.tlsa]]
port = 25
host = "mail.example.com"
key = "{}"
ttl = 2
"#,
        key.display()
    );
    let p = dir.join("blason.toml");
    std::fs::write(&p, text).unwrap();
    std::fs::write(dir.join("db.example.com"), ZONE).unwrap();
    p
}

#[test]
fn generated_records_are_served_and_tlsa_follows_the_key_file() {
    let dir = tempdir("serve");
    let k1 = keyfile(&dir, "k1");
    let k2 = keyfile(&dir, "k2");
    let live = dir.join("live.key");
    std::fs::copy(&k1, &live).unwrap();
    let cfg = config(&dir, &live);
    let s = Serve::start(&cfg);

    let apex = s.dig("example.com", "TXT");
    assert_eq!(
        apex,
        [
            "\"site-verification=abc\"",
            "\"v=spf1 mx a ip4:192.0.2.0/24 include:_spf.provider.test -all\""
        ]
    );
    assert_eq!(
        s.dig("_dmarc.example.com", "TXT"),
        ["\"v=DMARC1; p=quarantine; pct=100; rua=mailto:dmarc@example.com\""]
    );
    assert_eq!(
        s.dig("default._bimi.example.com", "TXT"),
        ["\"v=BIMI1; l=https://example.com/logo.svg\""]
    );
    assert_eq!(
        s.dig("_smtp._tls.example.com", "TXT"),
        ["\"v=TLSRPTv1; rua=mailto:tls@example.com\""]
    );
    let sts = s.dig("_mta-sts.example.com", "TXT");
    assert!(sts[0].starts_with("\"v=STSv1; id="), "{sts:?}");
    let policy =
        std::fs::read_to_string(dir.join("state/mta-sts/example.com/mta-sts.txt")).unwrap();
    assert!(policy.contains("mode: enforce\r\nmx: mail.example.com\r\n"));

    // The DKIM key was made in the state folder, private, and its record is served.
    let key = dir.join("state/dkim/example.com/mail2026.private");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let dkim = s.dig("mail2026._domainkey.example.com", "TXT");
    assert!(dkim[0].starts_with("\"v=DKIM1; k=ed25519; p="), "{dkim:?}");

    // TLSA: what `blason tlsa` prints for the key in use.
    let (t1, t2) = (tlsa_of(&k1), tlsa_of(&k2));
    assert_eq!(s.tlsa(), std::slice::from_ref(&t1));

    // A new key: after SIGHUP both records are published...
    std::fs::copy(&k2, &live).unwrap();
    let reloads = s.count_log("reload complete");
    send_signal(s.child.id(), Signal::Hup).unwrap();
    s.wait_log("reload complete", reloads + 1);
    let mut both = vec![t1.clone(), t2.clone()];
    both.sort();
    assert_eq!(s.tlsa(), both);
    // ...and the old one goes once two TTLs (4 s) have passed, found by the poll
    // without a signal.
    let end = Instant::now() + Duration::from_secs(20);
    while s.tlsa() != [t2.clone()] {
        assert!(
            Instant::now() < end,
            "old TLSA still served: {:?}",
            s.tlsa()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(s.count_log("generated records changed") >= 1);
    let state = std::fs::read_to_string(dir.join("state/tlsa/example.com.state")).unwrap();
    assert_eq!(state.lines().count(), 1);

    // The same records after a restart: the DKIM key is kept, not made again.
    drop(s);
    let s = Serve::start(&cfg);
    assert_eq!(s.dig("mail2026._domainkey.example.com", "TXT"), dkim);
    assert_eq!(s.tlsa(), [t2]);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The quoted strings of a TXT record line, joined.
fn quoted(line: &str) -> String {
    line.split('"').skip(1).step_by(2).collect()
}

#[test]
fn zone_print_marks_generated_records_and_matches_dkim_keygen() {
    let dir = tempdir("print");
    let k1 = keyfile(&dir, "k1");
    let cfg = config(&dir, &k1);
    // A key made by `blason dkim keygen`, placed in the state folder: the generated
    // record is the one keygen printed.
    let o = run(&[
        "dkim",
        "keygen",
        "--domain",
        "example.com",
        "--selector",
        "mail2026",
        "--algorithm",
        "ed25519",
        "--out",
        dir.join("state/dkim/example.com").to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let printed = String::from_utf8(o.stdout).unwrap();

    let zone = dir.join("db.example.com");
    let o = run(&[
        "zone",
        "print",
        "example.com",
        zone.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let dkim_line = text
        .lines()
        .find(|l| l.starts_with("mail2026._domainkey.example.com."))
        .unwrap();
    assert!(
        dkim_line.ends_with("; generated by blason (mail.dkim.mail2026)"),
        "{dkim_line}"
    );
    assert_eq!(quoted(dkim_line), quoted(&printed));
    assert!(quoted(&printed).starts_with("v=DKIM1; k=ed25519; p="));
    assert!(text.contains("; generated by blason (mail.spf)"));
    assert!(text.contains("; generated by blason (tlsa.25.mail.example.com)"));
    let tlsa_line = text.lines().find(|l| l.contains("\tTLSA\t")).unwrap();
    let hex: String = tlsa_line
        .split('\t')
        .nth(4)
        .unwrap()
        .split(" ;")
        .next()
        .unwrap()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let f: Vec<&str> = hex.split(' ').collect();
    assert_eq!(
        format!("{} {}", f[..3].join(" "), f[3..].concat()).to_lowercase(),
        tlsa_of(&k1)
    );
    // The hand-written lines carry no mark, and the output reads back as a zone.
    assert!(text
        .lines()
        .filter(|l| l.contains("site-verification"))
        .all(|l| !l.contains("generated")));
    let reread = dir.join("printed.zone");
    std::fs::write(&reread, &text).unwrap();
    let o = run(&[
        "zone",
        "check",
        "example.com",
        reread.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    // zone check with --config creates nothing in a missing state folder.
    let fresh = dir.join("fresh-state");
    let o = run(&[
        "zone",
        "check",
        "example.com",
        zone.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--state",
        fresh.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("dkim-key-pending"));
    assert!(!fresh.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_generated_record_colliding_with_a_hand_written_one_is_an_error() {
    let dir = tempdir("collide");
    let k1 = keyfile(&dir, "k1");
    let cfg = config(&dir, &k1);
    let zone = dir.join("db.example.com");
    std::fs::write(
        &zone,
        format!("{ZONE}@ IN TXT \"v=spf1 mx -all\"\n_dmarc IN TXT \"v=DMARC1; p=none\"\n"),
    )
    .unwrap();
    let o = run(&[
        "zone",
        "check",
        "example.com",
        zone.to_str().unwrap(),
        "--config",
        cfg.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    assert_eq!(out.matches("\"generated-collision\"").count(), 2, "{out}");
    assert!(out.contains("\"id\":\"generated-collision\",\"severity\":\"error\",\"file\":"));
    assert!(out.contains("\"line\":8,"), "{out}");
    assert!(out.contains("\"line\":9,"), "{out}");
    // The server refuses the zone too, naming the line.
    let o = blason()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("generated-collision"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zone_check_lints_broken_mail_records() {
    let dir = tempdir("lint");
    let zone = dir.join("db.example.com");
    std::fs::write(
        &zone,
        format!(
            "{ZONE}@ IN TXT \"v=spf1 mx ip4:192.0.2.300 +all\"\n_dmarc IN TXT \"v=DMARC1; p=sometimes; rua=dmarc@example.com\"\nsel._domainkey IN TXT \"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC\"\n_adsp._domainkey IN TXT \"dkim=all\"\n"
        ),
    )
    .unwrap();
    let o = run(&[
        "zone",
        "check",
        "example.com",
        zone.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8(o.stdout).unwrap();
    let at = |id: &str, line: u32| {
        out.contains(&format!(
            "\"id\":\"{id}\",\"severity\":\"error\",\"file\":\"{}\",\"line\":{line},",
            zone.display()
        ))
    };
    assert!(at("spf-syntax", 5) || at("spf-syntax", 8), "{out}");
    assert!(at("dmarc-syntax", 9), "{out}");
    assert!(at("dkim-key-invalid", 10), "{out}");
    assert!(
        out.contains("\"id\":\"dkim-adsp\",\"severity\":\"warning\""),
        "{out}"
    );
    assert!(out.contains("\"id\":\"spf-pass-all\""), "{out}");
    // Text output says the zone itself loads.
    let o = run(&["zone", "check", "example.com", zone.to_str().unwrap()]);
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(
        text.contains("error(s) in mail records: the zone loads"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_new_tlsa_record_waits_for_a_load_that_serves_it_before_the_old_one_goes() {
    let dir = tempdir("tlsa-order");
    let k1 = keyfile(&dir, "k1");
    let k2 = keyfile(&dir, "k2");
    let live = dir.join("live.key");
    std::fs::copy(&k1, &live).unwrap();
    let cfg = config(&dir, &live);
    // Loads on SIGHUP only: the test says when the certificate is looked at.
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("poll-interval = 1\n", "poll-interval = 3600\n"),
    )
    .unwrap();
    let s = Serve::start(&cfg);
    let (t1, t2) = (tlsa_of(&k1), tlsa_of(&k2));
    assert_eq!(s.tlsa(), std::slice::from_ref(&t1));
    let serial = |s: &Serve| -> u32 {
        s.dig("example.com", "SOA")[0]
            .split_whitespace()
            .nth(2)
            .unwrap()
            .parse()
            .unwrap()
    };
    let first = serial(&s);

    // The certificate changes while the zone fails its checks: nothing new is served,
    // so nothing is recorded as published.
    let zone = dir.join("db.example.com");
    std::fs::write(&zone, format!("{ZONE}bad IN A 999.0.2.1\n")).unwrap();
    std::fs::copy(&k2, &live).unwrap();
    let failed = s.count_log("reload failed");
    send_signal(s.child.id(), Signal::Hup).unwrap();
    s.wait_log("reload failed", failed + 1);
    // Longer than two TTLs (4 s) while broken.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(s.tlsa(), std::slice::from_ref(&t1));

    // Fixed: the new record goes out beside the old one, which stays two TTLs more.
    std::fs::write(&zone, ZONE).unwrap();
    let reloads = s.count_log("reload complete");
    send_signal(s.child.id(), Signal::Hup).unwrap();
    s.wait_log("reload complete", reloads + 1);
    let mut both = vec![t1.clone(), t2.clone()];
    both.sort();
    assert_eq!(s.tlsa(), both, "the old TLSA must overlap the new one");
    // The zone file kept its serial; the generated change moved the served one.
    let second = serial(&s);
    assert!(second > first, "serial {first} -> {second}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.tlsa(), both, "still both within two TTLs");
    // Two TTLs after the new record went out, the next load drops the old one.
    std::thread::sleep(Duration::from_millis(2500));
    let reloads = s.count_log("reload complete");
    send_signal(s.child.id(), Signal::Hup).unwrap();
    s.wait_log("reload complete", reloads + 1);
    assert_eq!(s.tlsa(), std::slice::from_ref(&t2));
    assert!(
        serial(&s) > second,
        "dropping the old TLSA moves the serial too"
    );
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
