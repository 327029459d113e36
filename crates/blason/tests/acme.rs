//! ACME DNS-01 end to end and offline: certbot with its rfc2136 plugin, and lego,
//! each obtain a certificate for a name and its wildcard from Pebble (Let's
//! Encrypt's test CA, run here on loopback and told to resolve through blason),
//! with blason as the authoritative server taking the challenge records by dynamic
//! update under an `acme` grant. Afterwards the challenge records are gone.

mod common;

use common::{dig, low_port, self_signed_cert, serve_config, short, spawn_logged, tool, wait_for};
use std::path::Path;
use std::process::Command;

const SECRET: &str = "YWNtZSB0ZXN0IGtleSBmb3IgY2VydGJvdCBhbmQgbGVnbw==";

/// The TXT records at `_acme-challenge.x.test`, as dig +short prints them.
fn challenges(port: u16) -> String {
    short(port, "_acme-challenge.x.test", "TXT")
}

fn pebble_config(dir: &Path, port: u16, mgmt: u16) -> String {
    format!(
        r#"{{"pebble": {{
  "listenAddress": "127.0.0.1:{port}",
  "managementListenAddress": "127.0.0.1:{mgmt}",
  "certificate": "{d}/cert.pem",
  "privateKey": "{d}/key.pem",
  "httpPort": 5002,
  "tlsPort": 5001,
  "ocspResponderURL": "",
  "externalAccountBindingRequired": false
}}}}"#,
        d = dir.display()
    )
}

#[test]
fn certbot_and_lego_get_certificates_through_blason() {
    let (Some(pebble), Some(certbot), Some(lego), Some(_)) = (
        tool("pebble"),
        tool("certbot"),
        tool("lego"),
        tool("openssl"),
    ) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "pebble, certbot (with python3-certbot-dns-rfc2136), lego and openssl are needed (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-acme-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (port, pebble_port, mgmt) = (low_port(), low_port(), low_port());

    // blason, with an acme grant for the key.
    std::fs::write(
        dir.join("x.test.zone"),
        "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n\
         @ NS ns1\nns1 A 127.0.0.77\nwww A 127.0.0.80\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("blason.toml"),
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nstate = \"{s}\"\n\
             [[key]]\nname = \"acme-key\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\norigin = \"x.test\"\nfile = \"{z}\"\nnotify-ns = false\n\
             [[zone.update]]\nkey = \"acme-key\"\ngrant = \"acme\"\n",
            s = dir.join("state").display(),
            z = dir.join("x.test.zone").display()
        ),
    )
    .unwrap();
    let log = dir.join("blason.log");
    let _blason = serve_config(&dir.join("blason.toml"), &log);
    wait_for("blason answering", &log, || {
        dig(port, "x.test", "SOA", &[]).0 == "NOERROR"
    });

    // Pebble on loopback, with a certificate made here, resolving through blason.
    self_signed_cert(&dir);
    std::fs::write(
        dir.join("pebble.json"),
        pebble_config(&dir, pebble_port, mgmt),
    )
    .unwrap();
    let plog = dir.join("pebble.log");
    let _pebble = spawn_logged(
        Command::new(&pebble)
            .arg("-config")
            .arg(dir.join("pebble.json"))
            .args(["-dnsserver", &format!("127.0.0.1:{port}")])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0"),
        &plog,
    );
    wait_for("pebble listening", &plog, || {
        std::net::TcpStream::connect(("127.0.0.1", pebble_port)).is_ok()
    });
    let directory = format!("https://127.0.0.1:{pebble_port}/dir");

    // certbot with the rfc2136 plugin, the settings as `blason tsig keygen --for acme`
    // prints them.
    let cb = dir.join("certbot");
    std::fs::create_dir_all(&cb).unwrap();
    let ini = cb.join("rfc2136.ini");
    std::fs::write(
        &ini,
        format!(
            "dns_rfc2136_server = 127.0.0.1\ndns_rfc2136_port = {port}\n\
             dns_rfc2136_name = acme-key\ndns_rfc2136_secret = {SECRET}\n\
             dns_rfc2136_algorithm = HMAC-SHA256\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = Command::new(&certbot)
        .args(["certonly", "--non-interactive", "--agree-tos"])
        .args(["--register-unsafely-without-email", "--no-verify-ssl"])
        .args(["--server", &directory])
        .args(["--dns-rfc2136", "--dns-rfc2136-credentials"])
        .arg(&ini)
        .args(["--dns-rfc2136-propagation-seconds", "1"])
        .args(["-d", "x.test", "-d", "*.x.test", "--cert-name", "x.test"])
        .arg("--config-dir")
        .arg(cb.join("config"))
        .arg("--work-dir")
        .arg(cb.join("work"))
        .arg("--logs-dir")
        .arg(cb.join("logs"))
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .unwrap();
    assert!(
        out.status.success() && cb.join("config/live/x.test/fullchain.pem").exists(),
        "certbot: {}\n{}\nblason:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let c = challenges(port);
    assert!(c.trim().is_empty(), "certbot's challenges are gone: {c}");

    // lego, with the rfc2136 provider.
    let lg = dir.join("lego");
    let out = Command::new(&lego)
        .args([
            "--server",
            &directory,
            "--accept-tos",
            "--email",
            "admin@x.test",
        ])
        .args([
            "--dns",
            "rfc2136",
            "--dns.resolvers",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--dns.disable-cp",
            "-d",
            "x.test",
            "-d",
            "*.x.test",
            "--path",
        ])
        .arg(&lg)
        .arg("run")
        .env("LEGO_CA_CERTIFICATES", dir.join("cert.pem"))
        .env("RFC2136_NAMESERVER", format!("127.0.0.1:{port}"))
        .env("RFC2136_TSIG_KEY", "acme-key")
        .env("RFC2136_TSIG_SECRET", SECRET)
        .env("RFC2136_TSIG_ALGORITHM", "hmac-sha256.")
        .env("RFC2136_PROPAGATION_TIMEOUT", "20")
        .env("RFC2136_POLLING_INTERVAL", "1")
        // The name and its wildcard share one challenge name: lego solves them one
        // after the other, 60 s apart unless told.
        .env("RFC2136_SEQUENCE_INTERVAL", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success() && lg.join("certificates/x.test.crt").exists(),
        "lego: {}\n{}\nblason:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let c = challenges(port);
    assert!(c.trim().is_empty(), "lego's challenges are gone: {c}");

    // The challenges came and went through the update road.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.matches("update committed").count() >= 4,
        "each client added and removed its challenges:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
