//! `blason serve` carrying out key rolls in real time, with shrunk timings.
//!
//! The parent `exec.test.` is served (unsigned) by one `blason serve`; the child
//! `c.exec.test.` by a second one with `dnssec-parent` pointing at the first, a KSK+ZSK
//! policy of 2-second TTLs and 1-second safety margins. The test plays the registrar
//! (writes the child's DS into the parent's file and reloads it), asks for a ZSK roll
//! with `blason dnssec roll`, and samples the child with `dig +dnssec` several times a
//! second: the new DNSKEY must appear before any signature by it, the old signatures
//! must stay until the new ones are out, the old DNSKEY must go last, and no sample may
//! show a signature without its DNSKEY, an unsigned answer or an expired signature. The
//! zone file is edited mid-roll; the new record must come out signed by the roll's
//! current keys. A second test covers bad input: a corrupt key file, a clock behind the
//! key state, and the state folder vanishing while serving.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PARENT: &str = "exec.test.";
const CHILD: &str = "c.exec.test.";

const PARENT_ZONE: &str = "$ORIGIN exec.test.
$TTL 2
@     SOA  ns hostmaster 1 7200 3600 1209600 2
@     NS   ns
ns    A    127.0.0.1
c     NS   ns.c
ns.c  A    127.0.0.1
";

const CHILD_ZONE: &str = "$ORIGIN c.exec.test.
$TTL 2
@     SOA  ns hostmaster 1 7200 3600 1209600 2
@     NS   ns
ns    A    127.0.0.1
www   A    192.0.2.10
";

const POLICY: &str = "keys = \"ksk+zsk\", zsk-lifetime = 60, dnskey-ttl = 2, zone-max-ttl = 2, \
     ds-ttl = 2, propagation-delay = 0, publish-safety = 1, retire-safety = 1, \
     parent-propagation-delay = 0, registrar-delay = 60";

fn blason() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blason"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BLASON_") {
            c.env_remove(k);
        }
    }
    c
}

fn run(args: &[&str]) -> (bool, String) {
    let out = blason().args(args).output().unwrap();
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text += &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> u16 {
    for _ in 0..50 {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let p = u.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok() {
            return p;
        }
    }
    panic!("no free port");
}

/// A `blason serve` whose log lines are kept.
struct Serve {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    fn start(config: &Path) -> Serve {
        let mut child = blason()
            .arg("serve")
            .arg("--config")
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l.lock().unwrap().push(line);
            }
        });
        Serve { child, log }
    }

    fn logged(&self, what: &str) -> bool {
        self.log.lock().unwrap().iter().any(|l| l.contains(what))
    }

    fn wait_log(&self, what: &str, secs: u64) {
        let end = Instant::now() + Duration::from_secs(secs);
        while !self.logged(what) {
            assert!(
                Instant::now() < end,
                "no log line with {what:?}:\n{}",
                self.log.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dig(port: u16, name: &str, qtype: &str) -> String {
    let out = Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &port.to_string(),
            "+dnssec",
            "+norec",
            "+nomulti",
            "+noall",
            "+answer",
            "+time=1",
            "+tries=2",
            name,
            qtype,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One look at the child: DNSKEY tags, and the key tags of the RRSIGs over the DNSKEY
/// RRset and over `www A`, with each RRSIG's expiration.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sample {
    dnskey: BTreeSet<u16>,
    ksig: BTreeSet<u16>,
    zsig: BTreeSet<u16>,
    expirations: Vec<String>,
}

fn rrsigs(text: &str, covered: &str) -> (BTreeSet<u16>, Vec<String>) {
    let mut tags = BTreeSet::new();
    let mut exp = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 11 && f[3] == "RRSIG" && f[4] == covered {
            tags.insert(f[10].parse().unwrap());
            exp.push(f[8].to_string());
        }
    }
    (tags, exp)
}

fn dnskey_tags(text: &str) -> BTreeSet<u16> {
    use blason_zone::encoding::base64_decode;
    let mut tags = BTreeSet::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() > 7 && f[3] == "DNSKEY" {
            let flags: u16 = f[4].parse().unwrap();
            let alg: u8 = f[6].parse().unwrap();
            let mut public = Vec::new();
            base64_decode(f[7..].concat().as_bytes(), &mut public).unwrap();
            let rd = blason_dnssec::keys::dnskey_rdata(
                flags,
                blason_dnssec::keys::Algorithm::from_number(alg).unwrap(),
                &public,
            );
            tags.insert(blason_dnssec::keys::key_tag(&rd));
        }
    }
    tags
}

fn sample(port: u16) -> Sample {
    let k = dig(port, CHILD, "DNSKEY");
    let w = dig(port, &format!("www.{CHILD}"), "A");
    let (ksig, mut e1) = rrsigs(&k, "DNSKEY");
    let (zsig, e2) = rrsigs(&w, "A");
    e1.extend(e2);
    Sample {
        dnskey: dnskey_tags(&k),
        ksig,
        zsig,
        expirations: e1,
    }
}

fn now_stamp() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut s = String::new();
    blason_zone::rdata::format_time(t as u32, &mut s);
    s
}

struct Setup {
    dir: PathBuf,
    state: PathBuf,
    child_port: u16,
    child_config: PathBuf,
    parent: Serve,
    parent_pid: PathBuf,
    parent_port: u16,
}

fn setup(name: &str) -> Setup {
    setup_with(name, true)
}

fn setup_with(name: &str, with_parent: bool) -> Setup {
    let dir = std::env::temp_dir().join(format!("blason-roll-exec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("parent.zone"), PARENT_ZONE).unwrap();
    std::fs::write(dir.join("child.zone"), CHILD_ZONE).unwrap();
    let pport = free_port();
    let parent_pid = dir.join("parent.pid");
    std::fs::write(
        dir.join("parent.toml"),
        format!(
            "listen = [\"127.0.0.1:{pport}\"]\npid-file = \"parent.pid\"\nstate = \"parent-state\"\n\
             [[zone]]\norigin = \"{PARENT}\"\nfile = \"parent.zone\"\n"
        ),
    )
    .unwrap();
    let parent = Serve::start(&dir.join("parent.toml"));
    parent.wait_log("listening", 20);
    let child_port = free_port();
    let state = dir.join("state");
    let child_config = dir.join("child.toml");
    std::fs::write(
        &child_config,
        format!(
            "listen = [\"127.0.0.1:{child_port}\"]\npid-file = \"child.pid\"\nstate = \"state\"\n\
             [[zone]]\norigin = \"{CHILD}\"\nfile = \"child.zone\"\n\
             dnssec = {{ {POLICY} }}\n{}",
            if with_parent {
                format!("dnssec-parent = [\"127.0.0.1:{pport}\"]\n")
            } else {
                String::new()
            }
        ),
    )
    .unwrap();
    Setup {
        dir,
        state,
        child_port,
        child_config,
        parent,
        parent_pid,
        parent_port: pport,
    }
}

impl Setup {
    fn state_arg(&self) -> &str {
        self.state.to_str().unwrap()
    }

    fn status(&self) -> String {
        let (ok, out) = run(&["dnssec", "status", CHILD, "--state", self.state_arg()]);
        assert!(ok, "{out}");
        out
    }

    /// The child's DS lines, as `blason dnssec ds` prints them.
    fn ds_lines(&self) -> String {
        let (ok, ds) = run(&["dnssec", "ds", CHILD, "--state", self.state_arg()]);
        assert!(ok, "{ds}");
        let lines: String = ds
            .lines()
            .filter(|l| l.contains(" DS "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(!lines.is_empty(), "{ds}");
        lines
    }

    /// Plays the registrar: the child's DS goes into the parent's zone.
    fn publish_ds(&self) {
        self.publish_ds_text(&self.ds_lines());
    }

    fn publish_ds_text(&self, lines: &str) {
        std::fs::write(
            self.dir.join("parent.zone"),
            format!("{}{lines}", PARENT_ZONE.replace(" 1 7200", " 2 7200")),
        )
        .unwrap();
        let (ok, out) = run(&["reload", "--pid-file", self.parent_pid.to_str().unwrap()]);
        assert!(ok, "{out}");
        let end = Instant::now() + Duration::from_secs(10);
        while !dig(self.parent_port, CHILD, "DS")
            .split_whitespace()
            .any(|w| w == "DS")
        {
            assert!(Instant::now() < end, "the parent does not serve the DS");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn zsk_roll_runs_through_prepublication_under_dig() {
    if !have("dig") {
        assert!(std::env::var_os("CI").is_none(), "dig missing");
        eprintln!("SKIP: dig missing");
        return;
    }
    let start = Instant::now();
    let s = setup("zsk");
    let child = Serve::start(&s.child_config);
    child.wait_log("listening", 30);
    // Initial signing: everything at once, then CDS; the DS wait is checked at the parent.
    child.wait_log("publish CDS/CDNSKEY", 30);
    s.publish_ds();
    child.wait_log("parent has the DS", 30);
    let status = s.status();
    assert!(
        status.contains("KSK") && status.contains("ZSK") && status.contains("omnipresent"),
        "{status}"
    );
    assert!(status.contains("next ZSK roll by age"), "{status}");

    let before = sample(s.child_port);
    assert_eq!(before.dnskey.len(), 2, "{before:?}");
    assert_eq!(before.zsig.len(), 1, "{before:?}");
    let old = *before.zsig.iter().next().unwrap();
    let ksk = before.ksig.clone();

    let (ok, out) = run(&["dnssec", "roll", CHILD, "--zsk", "--state", s.state_arg()]);
    assert!(ok, "{out}");
    assert!(out.contains("requested"), "{out}");

    let mut samples = vec![before];
    let mut mid_status = None;
    let mut edited = false;
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < end,
            "the roll did not finish: {samples:#?}\n{}",
            child.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
        let x = sample(s.child_port);
        let stamp = now_stamp();
        // Never unsigned, never a signature without its key, never expired.
        assert!(!x.zsig.is_empty() && !x.ksig.is_empty(), "unsigned: {x:?}");
        for t in x.zsig.iter().chain(&x.ksig) {
            assert!(
                x.dnskey.contains(t),
                "RRSIG by {t} without its DNSKEY: {x:?}"
            );
        }
        for e in &x.expirations {
            assert!(e.as_str() > stamp.as_str(), "expired RRSIG {e} at {stamp}");
        }
        let rolling = x.dnskey.len() == 3;
        if rolling && mid_status.is_none() {
            mid_status = Some(s.status());
            let (ok, out) = run(&["dnssec", "roll", CHILD, "--zsk", "--state", s.state_arg()]);
            assert!(
                !ok && out.contains("ZSK roll is in progress, started"),
                "{out}"
            );
        }
        if rolling && !edited {
            // The zone file changes mid-roll: served signed with the roll's keys.
            std::fs::write(
                s.dir.join("child.zone"),
                CHILD_ZONE.replace(" 1 7200", " 2 7200") + "new   A    192.0.2.99\n",
            )
            .unwrap();
            let (ok, out) = run(&["reload", "--config", s.child_config.to_str().unwrap()]);
            assert!(ok, "{out}");
            edited = true;
        }
        let done = !x.dnskey.contains(&old) && x.dnskey.len() == 2;
        if samples.last() != Some(&x) {
            samples.push(x);
        }
        if done {
            break;
        }
    }
    let last = samples.last().unwrap().clone();
    let new = *last.zsig.iter().next().unwrap();
    assert_ne!(new, old);
    let first = |f: &dyn Fn(&Sample) -> bool| samples.iter().position(f).unwrap();
    let new_key = first(&|x| x.dnskey.contains(&new));
    let new_sig = first(&|x| x.zsig.contains(&new));
    let old_sig_gone = first(&|x| !x.zsig.contains(&old));
    let old_key_gone = first(&|x| !x.dnskey.contains(&old));
    assert!(
        new_key < new_sig,
        "new DNSKEY before it signs: {samples:#?}"
    );
    assert!(
        new_sig <= old_sig_gone,
        "old signatures go with or after the new: {samples:#?}"
    );
    assert!(
        old_sig_gone < old_key_gone,
        "old DNSKEY removed last: {samples:#?}"
    );
    assert!(
        samples.iter().all(|x| x.ksig == ksk),
        "the KSK is untouched"
    );

    let mid = mid_status.expect("status during the roll");
    eprintln!("status during the roll:\n{mid}");
    assert!(mid.contains("roll: ZSK roll started"), "{mid}");
    assert!(mid.contains("stage "), "{mid}");
    assert!(mid.contains("(in "), "{mid}");

    // The edited zone: the new record is there and signed by the ZSK now in use.
    let n = dig(s.child_port, &format!("new.{CHILD}"), "A");
    assert!(n.contains("192.0.2.99"), "{n}");
    assert_eq!(rrsigs(&n, "A").0, last.zsig, "{n}");

    // The roll finishes once the withdrawn DNSKEY has left every cache.
    let end = Instant::now() + Duration::from_secs(20);
    let mut after = s.status();
    while !after.contains("roll: none in progress") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(300));
        after = s.status();
    }
    eprintln!("status after the roll:\n{after}");
    assert!(after.contains("roll: none in progress"), "{after}");
    assert!(after.contains("ZSK roll finished"), "{after}");
    assert!(!child.logged("ERROR"), "{}", child.log_text());
    eprintln!("took {:?}", start.elapsed());
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn bad_input_is_logged_and_nothing_unsigned_is_served() {
    if !have("dig") {
        assert!(std::env::var_os("CI").is_none(), "dig missing");
        eprintln!("SKIP: dig missing");
        return;
    }
    let s = setup("bad");
    let child = Serve::start(&s.child_config);
    child.wait_log("initial signing done", 30);
    let signed = sample(s.child_port);
    assert_eq!(signed.dnskey.len(), 2);
    let first_ds = s.ds_lines();

    // The state folder vanishes while serving: each step fails, logged; still signed.
    let moved = s.dir.join("state-moved");
    std::fs::rename(&s.state, &moved).unwrap();
    child.wait_log("does not exist", 10);
    let x = sample(s.child_port);
    assert_eq!(x.zsig, signed.zsig, "still served signed");
    std::fs::rename(&moved, &s.state).unwrap();
    drop(child);
    let _ = std::fs::remove_file(s.dir.join("child.pid"));

    // A clock behind the state: served with the state's keys, and the planner waits.
    let file = s.state.join("c.exec.test").join("keystate.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let line = text.lines().find(|l| l.starts_with("last_seen")).unwrap();
    let ahead: u64 = line
        .split('=')
        .nth(1)
        .unwrap()
        .trim()
        .parse::<u64>()
        .unwrap()
        + 7200;
    std::fs::write(&file, text.replace(line, &format!("last_seen = {ahead}"))).unwrap();
    let child = Serve::start(&s.child_config);
    child.wait_log("clock went back", 20);
    let x = sample(s.child_port);
    assert_eq!(x.dnskey, signed.dnskey);
    assert_eq!(x.zsig, signed.zsig);
    let status = s.status();
    assert!(status.contains("clock went back"), "{status}");
    drop(child);
    let _ = std::fs::remove_file(s.dir.join("child.pid"));

    // A corrupt key file: the server refuses to start, naming the file.
    let keys = s.state.join("c.exec.test").join("keys");
    let private = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "private"))
        .unwrap();
    std::fs::write(
        &private,
        "Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: @@@\n",
    )
    .unwrap();
    let out = blason()
        .args(["serve", "--config", s.child_config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(".private") && err.contains("refusing to start"),
        "{err}"
    );

    // The state folder lost while the parent holds the DS: no new keys, no start.
    s.publish_ds_text(&first_ds);
    std::fs::remove_dir_all(&s.state).unwrap();
    let out = blason()
        .args(["serve", "--config", s.child_config.to_str().unwrap()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("refusing to make new keys"), "{err}");
    assert!(!s.state.join("c.exec.test").join("keys").exists(), "{err}");
    drop(s.parent);
    let _ = std::fs::remove_dir_all(&s.dir);
}

#[test]
fn without_dnssec_parent_the_operator_confirms_the_ds() {
    if !have("dig") {
        assert!(std::env::var_os("CI").is_none(), "dig missing");
        eprintln!("SKIP: dig missing");
        return;
    }
    let s = setup_with("operator", false);
    let child = Serve::start(&s.child_config);
    child.wait_log("initial signing done", 30);
    child.wait_log("blason dnssec ds-seen", 10);
    let status = s.status();
    assert!(
        status.contains("give the registrar c.exec.test. IN DS "),
        "{status}"
    );
    assert!(status.contains("ds-seen"), "{status}");
    let (ok, out) = run(&["dnssec", "ds-seen", CHILD, "--state", s.state_arg()]);
    assert!(ok, "{out}");
    child.wait_log("the operator confirms", 10);
    child.wait_log("parent has the DS", 10);
    // Nothing waits any more: a second confirmation is refused, not kept for later.
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = run(&["dnssec", "ds-seen", CHILD, "--state", s.state_arg()]);
        if !ok {
            assert!(out.contains("nothing waits"), "{out}");
            break;
        }
        assert!(Instant::now() < end, "ds-seen still accepted: {out}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // A roll the planner cannot start is refused by the command itself.
    let (ok, out) = run(&["dnssec", "roll", CHILD, "--csk", "--state", s.state_arg()]);
    assert!(!ok && out.contains("no active CSK"), "{out}");
    assert!(!child.logged("ERROR"), "{}", child.log_text());
    drop(child);
    drop(s.parent);
    let _ = std::fs::remove_dir_all(&s.dir);
}
