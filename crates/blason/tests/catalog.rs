//! The catalog zone (RFC 9432) through stock consumers: BIND 9.18 and Knot 3.2,
//! started here on loopback and configured once to follow blason's catalog, serve
//! the zones it lists (Knot with the template its `group` names). A zone added to
//! blason's config and another removed, then `blason reload` (no restart), reach both
//! by NOTIFY and a transfer of the catalog: the new zone answers, the old one is
//! gone. A restart with another zone added does the same.

mod common;

use common::{dig, low_port, serve_config, spawn_logged, tool, wait_for};

/// The RCODE `port` gives for `name` SOA.
fn status(port: u16, name: &str) -> String {
    dig(port, name, "SOA", &["+norec", "+time=1", "+tries=1"]).0
}
use std::path::Path;
use std::process::Command;

const SECRET: &str = "Y2F0YWxvZyB0ZXN0IGtleSwgbm90IGEgcmVhbCBvbmUh";

fn blason_config(dir: &Path, port: u16, zones: &[&str], notify: &[u16]) -> String {
    let notify: Vec<String> = notify
        .iter()
        .map(|p| format!("\"127.0.0.1:{p} key xfrkey\""))
        .collect();
    let mut t = format!(
        "listen = [\"127.0.0.1:{port}\"]\nstate = \"{s}\"\n\
         [[key]]\nname = \"xfrkey\"\nsecret = \"{SECRET}\"\n\
         [catalog]\nallow-transfer = [\"127.0.0.0/8 key xfrkey\"]\nnotify = [{n}]\n",
        s = dir.join("state").display(),
        n = notify.join(", ")
    );
    for z in zones {
        let file = dir.join(format!("{z}.zone"));
        std::fs::write(
            &file,
            format!(
                "$ORIGIN {z}.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
                 @ NS ns1\nns1 A 127.0.0.77\nwww A 192.0.2.7\n"
            ),
        )
        .unwrap();
        t.push_str(&format!(
            "[[zone]]\norigin = \"{z}\"\nfile = \"{}\"\nallow-transfer = [\"127.0.0.0/8 key xfrkey\"]\nnotify-ns = false\n",
            file.display()
        ));
        if *z == "b.test" || *z == "c.test" {
            t.push_str("catalog-group = \"standard\"\n");
        }
    }
    t
}

#[test]
fn bind_and_knot_follow_the_catalog_of_blason() {
    let (Some(named), Some(knotd), Some(_)) = (tool("named"), tool("knotd"), tool("dig")) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BIND, Knot and dig are needed (scripts/test.sh installs them)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("blason-catalog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (bp, p_bind, p_knot) = (low_port(), low_port(), low_port());
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        blason_config(&dir, bp, &["a.test", "b.test"], &[p_bind, p_knot]),
    )
    .unwrap();
    let serve = |log: &str| serve_config(&conf, &dir.join(log));
    let mut blason = serve("blason.log");
    wait_for("blason answering", &dir.join("blason.log"), || {
        status(bp, "a.test") == "NOERROR"
    });

    // BIND: the catalog as a secondary zone, its members made from default-primaries.
    let b = dir.join("bind");
    std::fs::create_dir_all(b.join("zones")).unwrap();
    std::fs::write(
        b.join("named.conf"),
        format!(
            r#"key "xfrkey" {{ algorithm hmac-sha256; secret "{SECRET}"; }};
options {{
    directory "{d}"; pid-file "{d}/named.pid"; session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {p_bind} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};
    recursion no; dnssec-validation no; notify no;
    catalog-zones {{
        zone "catalog.invalid"
            default-primaries {{ 127.0.0.1 port {bp} key "xfrkey"; }}
            zone-directory "zones" in-memory no min-update-interval 1;
    }};
}};
controls {{ }};
logging {{
    channel f {{ file "{d}/named.log"; print-time yes; severity info; }};
    category default {{ f; }}; category xfer-in {{ f; }}; category notify {{ f; }};
}};
zone "catalog.invalid" {{
    type secondary; file "catalog.invalid.db";
    primaries {{ 127.0.0.1 port {bp} key "xfrkey"; }};
}};
"#,
            d = b.display()
        ),
    )
    .unwrap();
    let _bind = spawn_logged(
        Command::new(&named)
            .args(["-f", "-n", "1", "-4", "-c"])
            .arg(b.join("named.conf")),
        &b.join("stderr.log"),
    );

    // Knot: members without a group take the first template, "standard" the second.
    let k = dir.join("knot");
    std::fs::create_dir_all(&k).unwrap();
    std::fs::write(
        k.join("knot.conf"),
        format!(
            r#"server:
    rundir: "{d}"
    listen: 127.0.0.1@{p_knot}
log:
  - target: "{d}/knot.log"
    any: info
database:
    storage: "{d}"
key:
  - id: xfrkey
    algorithm: hmac-sha256
    secret: {SECRET}
remote:
  - id: primary
    address: 127.0.0.1@{bp}
    key: xfrkey
acl:
  - id: notify_from_primary
    address: 127.0.0.1
    key: xfrkey
    action: notify
template:
  - id: default
    storage: "{d}/zones"
  - id: member
    storage: "{d}/zones"
    master: primary
    acl: notify_from_primary
  - id: standard
    storage: "{d}/zones-standard"
    master: primary
    acl: notify_from_primary
zone:
  - domain: catalog.invalid
    master: primary
    acl: notify_from_primary
    catalog-role: interpret
    catalog-template: [ member, standard ]
"#,
            d = k.display()
        ),
    )
    .unwrap();
    let _knot = spawn_logged(
        Command::new(&knotd).arg("-c").arg(k.join("knot.conf")),
        &k.join("stderr.log"),
    );

    let consumers = [
        ("BIND", p_bind, b.join("named.log")),
        ("Knot", p_knot, k.join("knot.log")),
    ];
    for (who, port, log) in &consumers {
        for z in ["a.test", "b.test"] {
            wait_for(&format!("{who} serving {z}"), log, || {
                status(*port, z) == "NOERROR"
            });
        }
    }
    // Knot took b.test (group "standard") with the "standard" template.
    wait_for(
        "b.test in Knot's standard storage",
        &k.join("knot.log"),
        || k.join("zones-standard").join("b.test.zone").exists(),
    );

    // b.test leaves the config and c.test comes in; blason reloads, no restart.
    std::fs::write(
        &conf,
        blason_config(&dir, bp, &["a.test", "c.test"], &[p_bind, p_knot]),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["reload", "--state"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("added=c.test. removed=b.test."),
        "blason reload: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(status(bp, "c.test"), "NOERROR", "blason serves c.test");
    assert_eq!(status(bp, "b.test"), "REFUSED", "blason dropped b.test");
    for (who, port, log) in &consumers {
        wait_for(&format!("{who} serving c.test"), log, || {
            status(*port, "c.test") == "NOERROR"
        });
        wait_for(&format!("{who} dropping b.test"), log, || {
            status(*port, "b.test") == "REFUSED"
        });
        assert_eq!(status(*port, "a.test"), "NOERROR", "{who} keeps a.test");
    }

    // A restart with d.test added: the catalog's journal carries on.
    drop(blason);
    std::fs::write(
        &conf,
        blason_config(&dir, bp, &["a.test", "c.test", "d.test"], &[p_bind, p_knot]),
    )
    .unwrap();
    blason = serve("blason2.log");
    wait_for("blason answering again", &dir.join("blason2.log"), || {
        status(bp, "d.test") == "NOERROR"
    });
    for (who, port, log) in &consumers {
        wait_for(&format!("{who} serving d.test"), log, || {
            status(*port, "d.test") == "NOERROR"
        });
        assert_eq!(status(*port, "c.test"), "NOERROR", "{who} keeps c.test");
    }
    drop(blason);
    let _ = std::fs::remove_dir_all(&dir);
}
