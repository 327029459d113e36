//! No secret in a log line or a metric: the server at its most verbose (every
//! query logged) and every command that reads the config or the state, with TSIG
//! keys, a cookie secret, DynDNS passwords, DNSSEC and DKIM private keys
//! configured, used, and used wrongly; then every byte they wrote is searched for
//! each secret.

mod common;

use common::{free_port, nsupdate, run_input, serve_config, short, wait_for};
use std::path::Path;
use std::process::Command;

const TSIG: &str = "c2VjcmV0LXRzaWcta2V5LWZvci11cGRhdGVzLTAxMjM0NTY3ODk=";
const XFR: &str = "eGZyLXNlY3JldC1rZXktZm9yLXRyYW5zZmVycy0wMTIzNDU2Nzg=";
const COOKIE: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
const PASSWORD: &str = "correct horse battery staple 42";
const WRONG_PASSWORD: &str = "wrong horse battery staple 43";

fn blason() -> Command {
    Command::new(env!("CARGO_BIN_EXE_blason"))
}

/// Runs `cmd`, returns everything it printed.
fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The private parts of every key file under `dir`: the base64 or PEM body lines of
/// files named *.private or *.key or holding "PrivateKey:".
fn private_parts(dir: &Path, found: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            private_parts(&p, found);
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if text.contains("PrivateKey:") {
            for l in text.lines() {
                if let Some(v) = l.strip_prefix("PrivateKey:") {
                    found.push(v.trim().to_string());
                }
            }
        } else if name.ends_with(".private") || text.contains("PRIVATE KEY-----") {
            // PEM: each body line is 64 characters of the key.
            for l in text
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 40)
            {
                found.push(l.trim().to_string());
            }
        }
    }
}

#[test]
fn no_secret_reaches_a_log_line_or_a_metric() {
    let dir = std::env::temp_dir().join(format!("blason-secrets-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (port, mport, http) = (free_port(), free_port(), free_port());
    let hash = {
        let (ok, out) = run_input(blason().args(["dyndns", "hash"]), &format!("{PASSWORD}\n"));
        assert!(ok, "{out}");
        out.lines()
            .find(|l| l.starts_with("$pbkdf2"))
            .expect("a hash")
            .trim()
            .to_string()
    };
    let zone = dir.join("s.test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN s.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n",
    )
    .unwrap();
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            r#"listen = ["127.0.0.1:{port}"]
state = "{state}"
query-log = true
metrics = "127.0.0.1:{mport}"
[cookies]
secrets = ["{COOKIE}"]
[[key]]
name = "upd"
secret = "{TSIG}"
[[key]]
name = "xfr"
secret = "{XFR}"
[dyndns]
listen = ["127.0.0.1:{http}"]
[[dyndns.user]]
name = "home"
password = "{hash}"
hosts = ["home.s.test"]
[[zone]]
origin = "s.test"
file = "{zone}"
dnssec = true
allow-transfer = ["127.0.0.1 key xfr"]
[zone.mail]
dkim = [{{ selector = "sel1", algorithm = "ed25519" }}, {{ selector = "sel2", algorithm = "rsa2048" }}]
[[zone.update]]
key = "upd"
grant = "zone"
types = ["ANY"]
"#,
            state = dir.join("state").display(),
            zone = zone.display(),
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let server = serve_config(&conf, &log);
    wait_for("the server answering", &log, || {
        short(port, "s.test", "SOA").contains("ns1")
    });
    let mut said = String::new();

    // Used rightly and wrongly.
    let (ok, out) = nsupdate(
        port,
        Some(&format!("hmac-sha256:upd:{TSIG}")),
        false,
        "update add a.s.test 60 A 192.0.2.1",
    );
    assert!(ok, "{out}");
    said += &out;
    let wrong = "d3JvbmctdHNpZy1zZWNyZXQtMDEyMzQ1Njc4OWFiY2RlZg==";
    said += &nsupdate(
        port,
        Some(&format!("hmac-sha256:upd:{wrong}")),
        true,
        "update add b.s.test 60 A 192.0.2.2",
    )
    .1;
    // dig echoes its own command line (the key with it): what it printed is kept
    // apart, as the zone's public data (DNSKEY and DKIM keys share bytes with the
    // private key files).
    let public = output(Command::new("dig").args([
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        "-y",
        &format!("hmac-sha256:xfr:{XFR}"),
        "s.test",
        "AXFR",
    ]));
    assert!(public.contains("DNSKEY"), "{public}");
    let cookie = output(Command::new("dig").args([
        "@127.0.0.1",
        "-p",
        &port.to_string(),
        "+cookie",
        "s.test",
        "SOA",
    ]));
    assert!(cookie.contains("COOKIE"), "{cookie}");
    for pw in [PASSWORD, WRONG_PASSWORD] {
        said += &output(Command::new("curl").args([
            "-s",
            "-u",
            &format!("home:{pw}"),
            &format!("http://127.0.0.1:{http}/nic/update?hostname=home.s.test&myip=192.0.2.9"),
        ]));
    }
    let metrics =
        output(Command::new("curl").args(["-s", &format!("http://127.0.0.1:{mport}/metrics")]));
    assert!(
        metrics.contains("blason_updates_total{result=\"applied\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("blason_transfer_requests_total{type=\"AXFR\"} 1"),
        "{metrics}"
    );

    // Every command that reads the config or the state.
    let st = dir.join("state");
    let s = st.to_str().unwrap();
    let c = conf.to_str().unwrap();
    let mut commands: Vec<Vec<&str>> = vec![
        vec!["reload", "--config", c],
        vec!["dnssec", "status", "s.test", "--state", s],
        vec!["dnssec", "ds", "s.test", "--state", s],
        vec!["xfr", "status", "s.test", "--state", s],
        vec!["zone", "check", "s.test", zone.to_str().unwrap()],
        vec!["serve", "--config", c, "--listen", "127.0.0.1:1"],
    ];
    let bad = dir.join("bad.toml");
    // A config whose secrets do not read: the errors must not quote them.
    std::fs::write(
        &bad,
        format!(
            "[cookies]\nsecrets = [\"{COOKIE}0\"]\n[[key]]\nname = \"k\"\nsecret = \"{TSIG}!\"\n"
        ),
    )
    .unwrap();
    commands.push(vec!["serve", "--config", bad.to_str().unwrap()]);
    for args in &commands {
        said += &output(blason().args(args));
    }
    drop(server);
    said += &std::fs::read_to_string(&log).unwrap();
    said += &metrics;
    assert!(said.contains("a.s.test"), "the query log is on:\n{said}");

    let mut secrets: Vec<String> = vec![
        TSIG.into(),
        XFR.into(),
        wrong.into(),
        COOKIE.into(),
        COOKIE.to_uppercase(),
        PASSWORD.into(),
        WRONG_PASSWORD.into(),
        // The password as it travels in Basic auth.
        basic(&format!("home:{PASSWORD}")),
    ];
    private_parts(&st, &mut secrets);
    assert!(
        secrets.len() > 10,
        "DNSSEC and DKIM private keys found: {}",
        secrets.len()
    );
    // dig's header lines (its command line among them) are not the zone's data.
    let public: String = public
        .lines()
        .filter(|l| !l.starts_with(';'))
        .flat_map(str::split_whitespace)
        .collect();
    let leaks: Vec<&String> = secrets
        .iter()
        .filter(|s| said.contains(s.as_str()) && !public.contains(s.as_str()))
        .collect();
    assert!(leaks.is_empty(), "secrets in the output: {leaks:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn basic(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
