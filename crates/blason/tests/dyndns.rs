//! DynDNS2 over HTTP and HTTPS: curl provokes every reply the protocol names that a
//! client can provoke (good, nochg, badauth, badagent, notfqdn, nohost, numhost,
//! abuse, dnserr); the changes are served at once, an invalid address changes
//! nothing, and what was acknowledged survives kill -9. Then Debian's ddclient and
//! inadyn update a host, over HTTP and over HTTPS.

mod common;

use common::{
    dig, low_port, run_input, self_signed_cert, serve_config, short, tool, wait_for, Kill,
};
use std::path::PathBuf;
use std::process::Command;

struct Setup {
    dir: PathBuf,
    dns: u16,
    http: u16,
    https: u16,
    log: PathBuf,
}

impl Setup {
    fn serve(&self) -> Kill {
        let k = serve_config(&self.dir.join("blason.toml"), &self.log);
        wait_for("blason answering", &self.log, || {
            dig(self.dns, "x.test", "SOA", &[]).0 == "NOERROR"
                && std::net::TcpStream::connect(("127.0.0.1", self.http)).is_ok()
        });
        k
    }

    /// curl's (HTTP status, body) for `query` with `user:password` (None: no
    /// credentials) and User-Agent `agent` ("" sends none).
    fn get(&self, query: &str, auth: Option<&str>, agent: &str, tls: bool) -> (u16, String) {
        let url = if tls {
            format!("https://127.0.0.1:{}/nic/update?{query}", self.https)
        } else {
            format!("http://127.0.0.1:{}/nic/update?{query}", self.http)
        };
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "-A",
            agent,
        ]);
        if let Some(a) = auth {
            c.args(["-u", a]);
        }
        if tls {
            c.arg("--cacert").arg(self.dir.join("cert.pem"));
        }
        let out = c.arg(&url).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.trim().to_string())
    }
}

fn hash(password: &str) -> String {
    let (ok, out) = run_input(
        Command::new(env!("CARGO_BIN_EXE_blason")).args(["dyndns", "hash"]),
        &format!("{password}\n"),
    );
    assert!(ok, "{out}");
    out.trim().to_string()
}

fn setup(name: &str) -> Option<Setup> {
    let (Some(_), Some(_), Some(_)) = (tool("curl"), tool("dig"), tool("openssl")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "curl, dig and openssl are needed"
        );
        return None;
    };
    let dir = std::env::temp_dir().join(format!("blason-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    self_signed_cert(&dir);
    std::fs::write(
        dir.join("x.test.zone"),
        "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.77\nwww A 192.0.2.80\nhome A 192.0.2.1\n",
    )
    .unwrap();
    let s = Setup {
        dns: low_port(),
        http: low_port(),
        https: low_port(),
        log: dir.join("blason.log"),
        dir,
    };
    write_config(&s);
    Some(s)
}

fn write_config(s: &Setup) {
    let d = |p: &str| s.dir.join(p).display().to_string();
    std::fs::write(
        s.dir.join("blason.toml"),
        format!(
            r#"listen = ["127.0.0.1:{dns}"]
state = "{state}"
[[zone]]
origin = "x.test"
file = "{zone}"
notify-ns = false
[dyndns]
listen = ["127.0.0.1:{http}"]
listen-tls = ["127.0.0.1:{https}"]
cert = "{cert}"
key = "{key}"
rate = 30
[[dyndns.user]]
name = "home"
password = "{home}"
hosts = ["home.x.test", "nas.x.test", "far.elsewhere.test"]
[[dyndns.user]]
name = "flood"
password = "{flood}"
hosts = ["flood.x.test"]
[[dyndns.user]]
name = "router"
password = "{router}"
hosts = ["ddclient.x.test", "inadyn.x.test"]
"#,
            dns = s.dns,
            http = s.http,
            https = s.https,
            state = d("state"),
            zone = d("x.test.zone"),
            cert = d("cert.pem"),
            key = d("key.pem"),
            home = hash("home secret"),
            flood = hash("flood secret"),
            router = hash("routerpw"),
        ),
    )
    .unwrap();
}

#[test]
fn curl_provokes_every_reply_and_changes_are_durable() {
    let Some(s) = setup("dyndns") else { return };
    let mut blason = s.serve();
    let home = Some("home:home secret");
    let ua = "blason-test/1.0";

    // good, then nochg; served at once.
    let q = "hostname=home.x.test&myip=192.0.2.55";
    assert_eq!(s.get(q, home, ua, false), (200, "good 192.0.2.55".into()));
    assert_eq!(short(s.dns, "home.x.test", "A"), "192.0.2.55");
    assert_eq!(s.get(q, home, ua, false), (200, "nochg 192.0.2.55".into()));
    // IPv4 and IPv6 as ddclient sends them, and myipv6; over HTTPS.
    let q = "hostname=home.x.test&myip=192.0.2.56,2001:db8::56";
    assert_eq!(
        s.get(q, home, ua, true),
        (200, "good 192.0.2.56,2001:db8::56".into())
    );
    assert_eq!(short(s.dns, "home.x.test", "AAAA"), "2001:db8::56");
    let q = "hostname=nas.x.test&myip=192.0.2.57&myipv6=2001:db8::57";
    assert_eq!(
        s.get(q, home, ua, false),
        (200, "good 192.0.2.57,2001:db8::57".into())
    );
    // No address: the client's own. Two hosts: one line each.
    assert_eq!(
        s.get("hostname=nas.x.test", home, ua, false),
        (200, "good 127.0.0.1".into())
    );
    assert_eq!(short(s.dns, "nas.x.test", "A"), "127.0.0.1");
    assert_eq!(
        s.get(
            "hostname=home.x.test,nas.x.test&myip=192.0.2.58",
            home,
            ua,
            false
        ),
        (200, "good 192.0.2.58\ngood 192.0.2.58".into())
    );

    // The refusals.
    let q = "hostname=home.x.test&myip=192.0.2.99";
    assert_eq!(
        s.get(q, Some("home:wrong"), ua, false),
        (401, "badauth".into())
    );
    assert_eq!(s.get(q, None, ua, false), (401, "badauth".into()));
    assert_eq!(
        s.get(q, Some("nobody:home secret"), ua, false),
        (401, "badauth".into())
    );
    assert_eq!(s.get(q, home, "", false), (200, "badagent".into()));
    assert_eq!(
        s.get("hostname=home&myip=192.0.2.99", home, ua, false),
        (200, "notfqdn".into())
    );
    assert_eq!(
        s.get("hostname=www.x.test&myip=192.0.2.99", home, ua, false),
        (200, "nohost".into())
    );
    assert_eq!(
        s.get(
            "hostname=far.elsewhere.test&myip=192.0.2.99",
            home,
            ua,
            false
        ),
        (200, "nohost".into()),
        "a host of the user's in no zone served"
    );
    let many: Vec<String> = (0..21).map(|i| format!("h{i}.x.test")).collect();
    assert_eq!(
        s.get(
            &format!("hostname={}&myip=192.0.2.99", many.join(",")),
            home,
            ua,
            false
        ),
        (200, "numhost".into())
    );
    // An invalid or empty address changes nothing.
    for bad in ["myip=300.1.1.1", "myip=", "myip=192.0.2.99x"] {
        assert_eq!(
            s.get(&format!("hostname=home.x.test&{bad}"), home, ua, false),
            (200, "dnserr".into()),
            "{bad}"
        );
    }
    assert_eq!(short(s.dns, "home.x.test", "A"), "192.0.2.58");
    assert_eq!(short(s.dns, "www.x.test", "A"), "192.0.2.80");
    // The rate limit: 30 a minute per user, then abuse (other users unaffected).
    let flood = Some("flood:flood secret");
    let mut replies = Vec::new();
    for i in 0..31 {
        replies.push(
            s.get(
                &format!("hostname=flood.x.test&myip=192.0.2.{}", 100 + i),
                flood,
                ua,
                false,
            )
            .1,
        );
    }
    assert!(
        replies[..30].iter().all(|r| r.starts_with("good")),
        "{replies:?}"
    );
    assert_eq!(replies[30], "abuse");
    assert_eq!(
        s.get("hostname=home.x.test&myip=192.0.2.58", home, ua, false)
            .1,
        "nochg 192.0.2.58"
    );
    // Other paths and methods.
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("http://127.0.0.1:{}/nic/update", s.http))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "400");

    // Acknowledged changes are journaled: kill -9, restart, still served.
    drop(blason);
    blason = s.serve();
    assert_eq!(short(s.dns, "home.x.test", "A"), "192.0.2.58");
    assert_eq!(short(s.dns, "nas.x.test", "AAAA"), "2001:db8::57");
    assert_eq!(short(s.dns, "flood.x.test", "A"), "192.0.2.129");
    let text = std::fs::read_to_string(&s.log).unwrap();
    assert!(!text.contains("home secret"), "no password in the log");
    drop(blason);
    let _ = std::fs::remove_dir_all(&s.dir);
}

/// Runs `cmd` with a time limit (inadyn retries forever on some failures); returns
/// (exit success, output).
fn run_limited(cmd: &mut Command, secs: u64) -> (bool, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = std::time::Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn ddclient_and_inadyn_update_over_http_and_https() {
    let (Some(ddclient), Some(inadyn)) = (tool("ddclient"), tool("inadyn")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "ddclient and inadyn are needed (scripts/test.sh installs them)"
        );
        return;
    };
    let Some(s) = setup("dyndns-clients") else {
        return;
    };
    let _blason = s.serve();
    let cert = s.dir.join("cert.pem");

    // ddclient: the address given, never looked up; a fresh cache each run.
    for (i, tls) in [false, true].into_iter().enumerate() {
        let addr = format!("192.0.2.{}", 60 + i);
        let port = if tls { s.https } else { s.http };
        let conf = s.dir.join(format!("ddclient-{i}.conf"));
        // ssl settings count on global lines only; the password goes last.
        let ssl = if tls {
            format!("ssl=yes\nssl_ca_file={}\n", cert.display())
        } else {
            String::new()
        };
        std::fs::write(
            &conf,
            format!(
                "daemon=0\n{ssl}use=no, usev4=ipv4, ipv4={addr}\n\
                 protocol=dyndns2, server=127.0.0.1:{port}, login=router, password=routerpw\n\
                 ddclient.x.test\n"
            ),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let (ok, out) = run_limited(
            Command::new(&ddclient)
                .args(["-daemon=0", "-foreground", "-force", "-verbose", "-file"])
                .arg(&conf)
                .arg("-cache")
                .arg(s.dir.join(format!("ddclient-{i}.cache"))),
            60,
        );
        assert!(ok && out.contains("SUCCESS"), "ddclient (tls {tls}): {out}");
        assert_eq!(
            short(s.dns, "ddclient.x.test", "A"),
            addr,
            "ddclient (tls {tls})"
        );
    }

    // inadyn: its cache file made first (else it looks the host up), the address
    // from a command.
    for (i, tls) in [false, true].into_iter().enumerate() {
        let addr = format!("192.0.2.{}", 70 + i);
        let port = if tls { s.https } else { s.http };
        let cache = s.dir.join(format!("inadyn-cache-{i}"));
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join("inadyn.x.test.cache"), "").unwrap();
        let conf = s.dir.join(format!("inadyn-{i}.conf"));
        let top = if tls {
            format!("ca-trust-file = {}\n", cert.display())
        } else {
            String::new()
        };
        std::fs::write(
            &conf,
            format!(
                "{top}period = 300\ncustom home {{\n    ssl = {tls}\n    username = router\n    password = routerpw\n    \
                 ddns-server = \"127.0.0.1:{port}\"\n    ddns-path = \"/nic/update?hostname=%h&myip=%i\"\n    \
                 hostname = inadyn.x.test\n    ddns-response = {{ good, nochg }}\n    \
                 checkip-command = \"echo {addr}\"\n}}\n"
            ),
        )
        .unwrap();
        let (ok, out) = run_limited(
            Command::new(&inadyn)
                .args(["--once", "--force", "--foreground", "--loglevel=debug"])
                .arg(format!("--config={}", conf.display()))
                .arg(format!("--cache-dir={}", cache.display())),
            30,
        );
        assert!(ok, "inadyn (tls {tls}): {out}");
        assert_eq!(
            short(s.dns, "inadyn.x.test", "A"),
            addr,
            "inadyn (tls {tls}): {out}"
        );
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}
