//! The Debian package and the service: built by `scripts/package-deb.sh`, its
//! contents listed, lintian clean, the unit accepted by `systemd-analyze verify`,
//! and the packaged binary with the packaged config telling systemd it is ready
//! (sd_notify) only once it answers.

mod common;

use common::{free_port, short, tool, Kill};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_debian_package_holds_a_verified_unit_and_starts_ready() {
    let dir = std::env::temp_dir().join(format!("blason-package-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (ok, out) = run(Command::new("bash")
        .arg(repo().join("scripts/package-deb.sh"))
        .args(["--binary", env!("CARGO_BIN_EXE_blason"), "--out"])
        .arg(&dir));
    assert!(ok, "{out}");
    let deb = PathBuf::from(out.lines().last().unwrap().trim());
    assert!(deb.exists(), "{out}");

    let (ok, list) = run(Command::new("dpkg-deb").arg("-c").arg(&deb));
    assert!(ok, "{list}");
    for f in [
        "./usr/bin/blason",
        "./lib/systemd/system/blason.service",
        "./etc/blason/blason.toml",
        "./usr/share/man/man1/blason.1.gz",
        "./usr/share/man/man1/blason-serve.1.gz",
        "./usr/share/man/man1/blason-import-bind.1.gz",
        "./usr/share/doc/blason/copyright",
        "./usr/share/doc/blason/changelog.gz",
    ] {
        assert!(
            list.lines().any(|l| l.ends_with(f)),
            "{f} in the package:\n{list}"
        );
    }
    let (ok, info) = run(Command::new("dpkg-deb").arg("-I").arg(&deb));
    assert!(
        ok && info.contains("Depends: libc6 (>= 2.") && info.contains("conffiles"),
        "{info}"
    );

    if let Some(lintian) = tool("lintian") {
        let (ok, said) = run(Command::new(lintian)
            .args(["--tag-display-limit", "0"])
            .arg(&deb));
        let tags: Vec<&str> = said
            .lines()
            .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
            .collect();
        assert!(ok && tags.is_empty(), "lintian:\n{said}");
    } else {
        eprintln!("lintian not installed: not run");
    }

    // The unit, with the packaged binary and man pages where systemd looks.
    let x = dir.join("x");
    let (ok, said) = run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&x));
    assert!(ok, "{said}");
    let bin = x.join("usr/bin/blason");
    let unit = std::fs::read_to_string(x.join("lib/systemd/system/blason.service")).unwrap();
    for want in [
        "Type=notify",
        "User=blason",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(want), "{want}:\n{unit}");
    }
    if let Some(sa) = tool("systemd-analyze") {
        let local = dir.join("blason.service");
        std::fs::write(
            &local,
            unit.replace("/usr/bin/blason", bin.to_str().unwrap()),
        )
        .unwrap();
        let (ok, said) = run(Command::new(&sa)
            .args(["verify"])
            .arg(&local)
            .env("MANPATH", x.join("usr/share/man")));
        assert!(
            ok && said.trim().is_empty(),
            "systemd-analyze verify:\n{said}"
        );
    }

    // The packaged binary and config: READY=1 comes once it answers.
    let sock_path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let port = free_port();
    let log = dir.join("serve.log");
    let _serve: Kill = common::spawn_logged(
        Command::new(&bin)
            .args(["serve", "--config"])
            .arg(x.join("etc/blason/blason.toml"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--state"])
            .arg(dir.join("state"))
            .env("NOTIFY_SOCKET", &sock_path),
        &log,
    );
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap_or_else(|e| {
        panic!(
            "no READY=1: {e}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        )
    });
    let msg = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(msg.starts_with("READY=1"), "{msg}");
    assert!(
        short(port, "example.test", "SOA").contains("ns1.example.test."),
        "answering when READY"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
