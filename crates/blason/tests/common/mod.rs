//! Helpers shared by the tests that put a validating resolver in front of blason:
//! child processes killed on drop, `dig` with its status and AD flag, and Unbound
//! fenced to loopback (stubs at 127.0.0.1 only, `do-ip6: no`, and
//! `do-not-query-address` for every IPv4 block outside 127.0.0.0/8).
// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed and reaped when dropped (also when a test panics).
pub struct Kill(pub Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The path of an installed tool, looking in the sbin folders too.
pub fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

/// A loopback port free (UDP and TCP) at the time of asking, below the kernel's
/// ephemeral range: a port taken from that range can be handed to another
/// program's outgoing socket (the tests make many) before the server binds it.
pub fn free_port() -> u16 {
    low_port()
}

/// `dig +dnssec` at 127.0.0.1:`port`; returns (status, AD set, the whole output).
pub fn dig(port: u16, name: &str, qtype: &str, extra: &[&str]) -> (String, bool, String) {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), name, qtype])
        .args(["+dnssec", "+time=3", "+tries=2"])
        .args(extra)
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

/// Waits until `name A` asked at `port` gives NOERROR.
pub fn wait_ready(port: u16, name: &str, extra: &[&str]) {
    let start = Instant::now();
    loop {
        let (status, _, _) = dig(port, name, "A", extra);
        if status == "NOERROR" {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "not ready at port {port}: {status}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asks each (name, type, wanted status) through the resolver at `port`; returns the
/// answers that are not that status with AD set.
pub fn not_secure(port: u16, cases: &[(&str, &str, &str)]) -> Vec<String> {
    let mut bad = Vec::new();
    for &(name, qtype, want) in cases {
        let (status, ad, text) = dig(port, name, qtype, &[]);
        if status != want || !ad {
            bad.push(format!(
                "{name} {qtype}: status {status} (want {want}), AD {ad}\n{text}"
            ));
        }
    }
    bad
}

/// Starts Unbound on a free loopback port, validating with the trust anchor file
/// `dir/anchor` and sending every query (`.` and each zone in `stubs`) to blason at
/// 127.0.0.1:`blason_port`. Returns the process and its port.
pub fn start_unbound(unbound: &Path, dir: &Path, blason_port: u16, stubs: &[&str]) -> (Kill, u16) {
    let stubs: Vec<(&str, u16)> = std::iter::once(".")
        .chain(stubs.iter().copied())
        .map(|z| (z, blason_port))
        .collect();
    start_unbound_stubs(unbound, dir, &stubs, "", "")
}

/// `do-not-query-address` lines (indented by `indent`) for every IPv4 block but
/// 127.0.0.0/8, so nothing can leave loopback.
pub fn unbound_fence(indent: &str) -> String {
    [
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
    .map(|b| format!("{indent}do-not-query-address: {b}\n"))
    .collect()
}

/// Starts Unbound like [`start_unbound`], but with each stub zone (list `.` too) at its
/// own loopback port (a zone listed more than once has each port as an address) and
/// `extra` lines added to the `server:` clause (indented by four spaces), and `clauses`
/// (such as `remote-control:`) at the end. Unbound logs to `dir/unbound.log` (see
/// [`unbound_log_failures`]).
pub fn start_unbound_stubs(
    unbound: &Path,
    dir: &Path,
    stubs: &[(&str, u16)],
    extra: &str,
    clauses: &str,
) -> (Kill, u16) {
    let port = free_port();
    let fence = unbound_fence("    ");
    // A zone listed more than once gets one stub-zone clause with every address.
    let mut stub_zones = String::new();
    for (i, (z, _)) in stubs.iter().enumerate() {
        if stubs[..i].iter().any(|(y, _)| y == z) {
            continue;
        }
        stub_zones += &format!("stub-zone:\n    name: \"{z}\"\n");
        for (_, p) in stubs.iter().filter(|(y, _)| y == z) {
            stub_zones += &format!("    stub-addr: 127.0.0.1@{p}\n");
        }
    }
    let conf = format!(
        "server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    username: \"\"
    chroot: \"\"
    directory: \"{d}\"
    pidfile: \"\"
    use-syslog: no
    logfile: \"{d}/unbound.log\"
    log-time-ascii: yes
    verbosity: 1
    val-log-level: 2
    module-config: \"validator iterator\"
    trust-anchor-file: \"{d}/anchor\"
    qname-minimisation: no
    do-not-query-localhost: no
    local-zone: \"test.\" nodefault
{extra}{fence}{stub_zones}{clauses}",
        d = dir.display()
    );
    std::fs::write(dir.join("unbound.conf"), conf).unwrap();
    let child = Kill(
        Command::new(unbound)
            .arg("-c")
            .arg(dir.join("unbound.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    (child, port)
}

/// The validation failures and errors Unbound logged in `dir/unbound.log`.
pub fn unbound_log_failures(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("unbound.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("validation failure") || l.contains("error"))
        .map(str::to_string)
        .collect()
}

/// A Knot secondary of `zone` on 127.0.0.1:`port`, pulling from blason at
/// 127.0.0.1:`primary` without a key and taking NOTIFY from 127.0.0.1; its log is
/// `<dir>/knot/knot.log`. None when knotd is not installed.
pub fn start_knot_secondary(dir: &Path, zone: &str, primary: u16, port: u16) -> Option<Kill> {
    let knotd = tool("knotd")?;
    let k = dir.join("knot");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(
        k.join("knot.conf"),
        format!(
            "server:\n    rundir: \"{d}\"\n    listen: 127.0.0.1@{port}\n\
             log:\n  - target: \"{d}/knot.log\"\n    any: info\n\
             database:\n    storage: \"{d}\"\n\
             remote:\n  - id: primary\n    address: 127.0.0.1@{primary}\n\
             acl:\n  - id: notify_from_primary\n    address: 127.0.0.1\n    action: notify\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n\
             zone:\n  - domain: {zone}\n    master: primary\n    acl: notify_from_primary\n",
            d = k.display()
        ),
    )
    .unwrap();
    Some(spawn_logged(
        Command::new(knotd).arg("-c").arg(k.join("knot.conf")),
        &k.join("stderr.log"),
    ))
}

/// A BIND secondary of `zone` on 127.0.0.1:`port` (as [`start_knot_secondary`]);
/// its log is `<dir>/bind/xfer.log`.
pub fn start_bind_secondary(dir: &Path, zone: &str, primary: u16, port: u16) -> Option<Kill> {
    let named = tool("named")?;
    let b = dir.join("bind");
    std::fs::create_dir_all(&b).unwrap();
    let zone = zone.trim_end_matches('.');
    std::fs::write(
        b.join("named.conf"),
        format!(
            "options {{\n    directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/session.key\";\n\
             \x20   managed-keys-directory \"{d}\";\n\
             \x20   listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n\
             \x20   recursion no; dnssec-validation no; notify no; minimal-responses yes;\n}};\n\
             controls {{ }};\n\
             logging {{ channel xfr {{ file \"{d}/xfer.log\"; severity info; print-time yes; }};\n\
             \x20   category xfer-in {{ xfr; }}; category notify {{ xfr; }}; category general {{ xfr; }}; }};\n\
             zone \"{zone}\" {{ type secondary; file \"{zone}.bk\";\n\
             \x20   primaries {{ 127.0.0.1 port {primary}; }}; allow-notify {{ 127.0.0.1; }}; }};\n",
            d = b.display()
        ),
    )
    .unwrap();
    Some(spawn_logged(
        Command::new(named)
            .args(["-f", "-n", "1", "-4", "-c"])
            .arg(b.join("named.conf")),
        &b.join("stderr.log"),
    ))
}

/// An NSD secondary of `zone` on 127.0.0.1:`port` (as [`start_knot_secondary`]);
/// its log is `<dir>/nsd/nsd.log`. It loads a transfer at once
/// (`xfrd-reload-timeout: 0`; NSD's default batches reloads a second apart).
pub fn start_nsd_secondary(dir: &Path, zone: &str, primary: u16, port: u16) -> Option<Kill> {
    let nsd = tool("nsd")?;
    let n = dir.join("nsd");
    std::fs::create_dir_all(&n).unwrap();
    let zone = zone.trim_end_matches('.');
    std::fs::write(
        n.join("nsd.conf"),
        format!(
            "server:\n    port: {port}\n    ip-address: 127.0.0.1\n    do-ip6: no\n    username: \"\"\n\
             \x20   chroot: \"\"\n    zonesdir: \"{d}\"\n    pidfile: \"{d}/nsd.pid\"\n    database: \"\"\n\
             \x20   xfrdfile: \"{d}/xfrd.state\"\n    zonelistfile: \"{d}/zone.list\"\n    xfrdir: \"{d}\"\n\
             \x20   logfile: \"{d}/nsd.log\"\n    verbosity: 2\n    server-count: 1\n    minimal-responses: yes\n\
             \x20   xfrd-reload-timeout: 0\n\
             remote-control:\n    control-enable: no\n\
             zone:\n    name: \"{zone}\"\n    zonefile: \"{zone}.zone\"\n\
             \x20   request-xfr: 127.0.0.1@{primary} NOKEY\n    allow-notify: 127.0.0.1 NOKEY\n",
            d = n.display()
        ),
    )
    .unwrap();
    Some(spawn_logged(
        Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(n.join("nsd.conf")),
        &n.join("stderr.log"),
    ))
}

/// A free port below the kernel's ephemeral range (32768 and up), so that no
/// outgoing connection of another program is handed it while a server here restarts;
/// each call starts its search elsewhere, so the ports one test asks for differ.
pub fn low_port() -> u16 {
    static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let base = 20_000 + ((std::process::id() * 13 + n * 1_009) % 9_000) as u16;
    (base..29_000)
        .chain(20_000..base)
        .find(|&p| {
            UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        })
        .expect("a free port between 20000 and 29000")
}

/// Starts `cmd` with its stderr appended to `log`, killed on drop.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Kill {
    let f = std::fs::File::options()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Kill(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap(),
    )
}

/// Waits (up to 40 s) until `ok`; on timeout fails with `what` and `log`. Returns how
/// long it took.
pub fn wait_for(what: &str, log: &Path, ok: impl Fn() -> bool) -> Duration {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(40),
            "{what} did not happen:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

/// `blason serve --config CONF`, its output appended to `log`, killed on drop.
pub fn serve_config(conf: &Path, log: &Path) -> Kill {
    spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["serve", "--config"])
            .arg(conf),
        log,
    )
}

/// `dig +short` of `name qtype` at 127.0.0.1:`port`, trimmed.
pub fn short(port: u16, name: &str, qtype: &str) -> String {
    let out = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), name, qtype])
        .args(["+short", "+norec", "+time=1", "+tries=2"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The SOA serial `port` serves for `zone`, if any.
pub fn soa_serial(port: u16, zone: &str) -> Option<u32> {
    short(port, zone, "SOA")
        .split_whitespace()
        .nth(2)?
        .parse()
        .ok()
}

/// Runs `cmd` with `input` on its standard input; returns whether it succeeded and
/// what it wrote (standard error, then standard output).
pub fn run_input(cmd: &mut Command, input: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    (out.status.success(), text)
}

/// `nsupdate` (`-v`: TCP) against 127.0.0.1:`port`, with the key `-y` takes
/// (ALG:NAME:SECRET) when given, running `script` and a `send`.
pub fn nsupdate(port: u16, key: Option<&str>, tcp: bool, script: &str) -> (bool, String) {
    let mut c = Command::new("nsupdate");
    if let Some(k) = key {
        c.args(["-y", k]);
    }
    if tcp {
        c.arg("-v");
    }
    run_input(
        &mut c,
        &format!("server 127.0.0.1 {port}\n{script}\nsend\nquit\n"),
    )
}

/// A self-signed P-256 certificate for 127.0.0.1 and localhost, made by openssl in
/// `dir` as cert.pem and key.pem.
pub fn self_signed_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new(tool("openssl").expect("openssl is needed"))
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    (cert, key)
}

/// `blason dkim keygen` for example.com with each (selector, algorithm) into `dir`;
/// returns each selector with its record's TXT value (the quoted strings joined).
pub fn dkim_keys<'a>(dir: &Path, keys: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
    keys.iter()
        .map(|&(sel, alg)| {
            let out = Command::new(env!("CARGO_BIN_EXE_blason"))
                .args([
                    "dkim",
                    "keygen",
                    "--domain",
                    "example.com",
                    "--selector",
                    sel,
                ])
                .args(["--algorithm", alg, "--out"])
                .arg(dir)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = std::fs::read_to_string(dir.join(format!("{sel}.txt"))).unwrap();
            let value: String = text
                .split('"')
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            (sel, value)
        })
        .collect()
}

/// The head of a Python script for dkimpy: `records` by selector and a `dnsfunc`
/// that answers from them (no DNS is asked).
pub fn dkimpy_head(records: &[(&str, String)]) -> String {
    let mut s = String::from("import dkim, sys\nrecords = {\n");
    for (sel, rec) in records {
        s.push_str(&format!("    '{sel}': {rec:?},\n"));
    }
    s.push_str(concat!(
        "}\n",
        "def dnsfunc(name, timeout=5):\n",
        "    n = name.decode() if isinstance(name, bytes) else name\n",
        "    return records.get(n.split('._domainkey')[0], '').encode()\n",
    ));
    s
}

/// The same head, with a `dnsfunc` that asks blason at 127.0.0.1:`port` (dig):
/// the records as the server publishes them.
pub fn dkimpy_dns_head(port: u16) -> String {
    format!(
        "import dkim, subprocess, sys\n\
         def dnsfunc(name, timeout=5):\n\
         \x20   n = name.decode() if isinstance(name, bytes) else name\n\
         \x20   out = subprocess.run(['dig', '@127.0.0.1', '-p', '{port}', '+short', n, 'TXT'], capture_output=True, text=True).stdout\n\
         \x20   return ''.join(p for i, p in enumerate(out.split('\"')) if i % 2 == 1).encode()\n"
    )
}

/// Runs `script` (a dkimpy head and its loop) with python3 over `files`, from
/// `dir/verify.py`; what it printed.
pub fn dkimpy(dir: &Path, script: &str, files: &[PathBuf]) -> String {
    let py = dir.join("verify.py");
    std::fs::write(&py, script).unwrap();
    stdout_of(Command::new("python3").arg(&py).args(files), "dkimpy")
}

/// What `cmd` printed; it must succeed (else the test fails with `what` and its
/// output).
pub fn stdout_of(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what}: {}{said}",
        String::from_utf8_lossy(&out.stderr)
    );
    said
}

/// `blason mail sign` of the message file `src` for example.com with the key of
/// `selector` in `dir` (as [`dkim_keys`] made it): the signed message.
pub fn mail_sign(dir: &Path, selector: &str, src: &Path) -> String {
    stdout_of(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["mail", "sign", "-d", "example.com", "-s", selector, "-k"])
            .arg(dir.join(format!("{selector}.private")))
            .arg(src),
        &format!("blason mail sign -s {selector}"),
    )
}

/// Text with its (comments) removed: OpenDKIM writes '(2048-bit key; unprotected)'.
fn uncomment(s: &str) -> String {
    let mut depth = 0;
    s.chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' if depth > 0 => {
                    depth -= 1;
                    return false;
                }
                _ => {}
            }
            depth == 0
        })
        .collect()
}

/// OpenDKIM in test mode (`opendkim -t`) on `file`, resolving through libunbound
/// fenced to loopback and forwarding everything to blason at `dns_port` (configs
/// written into `dir`). Each signature as "DOMAIN SELECTOR pass" or "... not pass"
/// (OpenDKIM's names for errors differ from RFC 8601's: a missing key is "fail" to
/// it), and everything it said.
pub fn opendkim_verify(dir: &Path, dns_port: u16, file: &Path) -> (Vec<String>, String) {
    let ub = dir.join("opendkim-unbound.conf");
    std::fs::write(
        &ub,
        format!(
            "server:\n  do-not-query-localhost: no\n  do-ip6: no\n{}  module-config: \"iterator\"\nforward-zone:\n  name: \".\"\n  forward-addr: 127.0.0.1@{dns_port}\n",
            unbound_fence("  ")
        ),
    )
    .unwrap();
    let conf = dir.join("opendkim-verify.conf");
    std::fs::write(
        &conf,
        format!(
            "Mode v\nSyslog no\nAlwaysAddARHeader yes\nAuthservID rx.example.org\nResolverConfiguration {}\n",
            ub.display()
        ),
    )
    .unwrap();
    let opendkim = tool("opendkim").expect("opendkim (installed by scripts/test.sh)");
    let od = Command::new(&opendkim)
        .arg("-x")
        .arg(&conf)
        .args(["-vvv", "-t"])
        .arg(file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&od.stdout),
        String::from_utf8_lossy(&od.stderr)
    );
    let sigs = said
        .split("hvalue='")
        .skip(1)
        .flat_map(|v| {
            uncomment(v.split('\'').next().unwrap_or(""))
                .split(';')
                .map(str::trim)
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|p| p.starts_with("dkim=") && p != "dkim=none")
        .map(|p| {
            let prop = |k: &str| {
                p.split_whitespace()
                    .find_map(|w| w.strip_prefix(k))
                    .unwrap_or("")
                    .to_string()
            };
            let pass = p.starts_with("dkim=pass ");
            format!(
                "{} {} {}",
                prop("header.d="),
                prop("header.s="),
                if pass { "pass" } else { "not pass" }
            )
        })
        .collect();
    (sigs, said)
}
