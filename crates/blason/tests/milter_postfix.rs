//! `blason milter` with a real Postfix (a private instance: its own config folder,
//! queue and ports on loopback, relaying to smtp-sink): mail submitted by SMTP
//! (smtp-source) and by the sendmail command passes through two blason milters, one
//! signing with RSA-2048 and one with Ed25519, and every delivered message carries
//! both signatures, each verified by dkimpy. Mail from a domain not ours goes
//! through unsigned.

mod common;

use common::{free_port, tool, wait_for, Kill};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

struct Postfix(std::path::PathBuf);

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.0)
            .arg("stop")
            .output();
    }
}

/// The private instance's services; the smtpd line is added with its port.
const SERVICES: &str = include_str!("mail/postfix-services.cf");

/// A private Postfix instance in `dir` (its own config folder, queue and loopback
/// ports) with `milters` in smtpd_milters, relaying everything to smtp-sink, which
/// writes each message into `dir/sink`. Returns the SMTP port.
fn start_postfix(dir: &Path, milters: &str, keep: &mut Vec<Kill>) -> (u16, Postfix) {
    for d in ["etc", "queue", "data", "sink"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    // The Postfix daemons and smtp-sink write here as the postfix user.
    for d in ["data", "sink"] {
        Command::new("chown")
            .arg("postfix")
            .arg(dir.join(d))
            .status()
            .unwrap();
    }
    let (smtp, sinkp) = (free_port(), free_port());
    keep.push(common::spawn_logged(
        Command::new(tool("smtp-sink").unwrap())
            .args(["-u", "postfix", "-d"])
            .arg(format!("{}/%M.", dir.join("sink").display()))
            .arg(format!("127.0.0.1:{sinkp}"))
            .arg("10"),
        &dir.join("sink.log"),
    ));
    let d = dir.display();
    // The tutorials' three milter lines, as they write them.
    std::fs::write(
        dir.join("etc/main.cf"),
        format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/queue\ndata_directory = {d}/data\n\
             mail_owner = postfix\nsetgid_group = postdrop\ninet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\nmyhostname = mx.example.com\nmydomain = example.com\n\
             myorigin = example.com\nmydestination =\nmynetworks = 127.0.0.0/8\n\
             relayhost = [127.0.0.1]:{sinkp}\nsmtp_dns_support_level = disabled\nalias_maps =\n\
             alias_database =\nsmtpd_milters = {milters}\n\
             non_smtpd_milters = $smtpd_milters\nmilter_default_action = accept\n\
             maillog_file_prefixes = {d}\nmaillog_file = {d}/maillog\nsmtputf8_enable = no\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\nbiff = no\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("etc/master.cf"),
        format!("127.0.0.1:{smtp} inet n - n - - smtpd\n{SERVICES}"),
    )
    .unwrap();
    let etc = dir.join("etc");
    let start = Command::new("postfix")
        .arg("-c")
        .arg(&etc)
        .arg("start")
        .output()
        .unwrap();
    assert!(
        start.status.success(),
        "postfix start: {}{}",
        String::from_utf8_lossy(&start.stderr),
        std::fs::read_to_string(dir.join("maillog")).unwrap_or_default()
    );
    let pf = Postfix(etc);
    wait_for("Postfix listening", &dir.join("maillog"), || {
        std::net::TcpStream::connect(("127.0.0.1", smtp)).is_ok()
    });
    (smtp, pf)
}

/// `count` messages from `from` to bob@example.net by SMTP.
fn send(smtp: u16, from: &str, count: u32) {
    let out = Command::new(tool("smtp-source").unwrap())
        .args([
            "-s",
            "1",
            "-m",
            &count.to_string(),
            "-f",
            from,
            "-t",
            "bob@example.net",
        ])
        .arg(format!("127.0.0.1:{smtp}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtp-source: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for `n` messages at smtp-sink and has dkimpy verify every signature of
/// each: one line per message, "DOMAIN SIGNATURES PASS|FAIL...".
fn delivered(dir: &Path, dkimpy_head: &str, n: usize) -> Vec<String> {
    wait_for(
        &format!("{n} messages at smtp-sink"),
        &dir.join("maillog"),
        || {
            std::fs::read_dir(dir.join("sink"))
                .map(|r| r.count())
                .unwrap_or(0)
                >= n
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let script = dkimpy_head.to_string()
        + concat!(
            "for path in sys.argv[1:]:\n",
            "    m = open(path, 'rb').read()\n",
            "    d = dkim.DKIM(m)\n",
            "    n = m.count(b'\\nDKIM-Signature:')\n",
            "    ok = [d.verify(idx=i, dnsfunc=dnsfunc) for i in range(n)]\n",
            "    frm = b'elsewhere.test' if b'eve@elsewhere.test' in m else b'example.com'\n",
            "    print(frm.decode(), n, ' '.join('PASS' if x else 'FAIL' for x in ok))\n",
        );
    let files: Vec<_> = std::fs::read_dir(dir.join("sink"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    common::dkimpy(dir, &script, &files)
        .lines()
        .map(str::to_string)
        .collect()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("blason-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn postfix_mail_is_signed_rsa_and_ed25519_and_verifies_with_dkimpy() {
    assert!(
        tool("postfix").is_some() && tool("smtp-sink").is_some() && tool("smtp-source").is_some(),
        "postfix, smtp-sink and smtp-source are needed (scripts/test.sh installs postfix)"
    );
    let dir = tmp("milter");
    let (m_rsa, m_ed) = (free_port(), free_port());
    let records = common::dkim_keys(&dir, &[("rsa1", "rsa2048"), ("ed1", "ed25519")]);
    let mut keep: Vec<Kill> = Vec::new();
    for (sel, port) in [("rsa1", m_rsa), ("ed1", m_ed)] {
        keep.push(common::spawn_logged(
            Command::new(env!("CARGO_BIN_EXE_blason"))
                .args([
                    "milter",
                    "--listen",
                    &format!("inet:{port}@127.0.0.1"),
                    "-d",
                    "example.com",
                    "-s",
                    sel,
                    "-k",
                ])
                .arg(dir.join(format!("{sel}.private"))),
            &dir.join(format!("milter-{sel}.log")),
        ));
    }
    let (smtp, pf) = start_postfix(
        &dir,
        &format!("inet:127.0.0.1:{m_rsa}, inet:127.0.0.1:{m_ed}"),
        &mut keep,
    );

    // 3 messages by SMTP, 1 by the sendmail command, 1 from a domain not ours.
    send(smtp, "alice@example.com", 3);
    let msg = "From: Alice <alice@example.com>\nTo: bob@example.net\nSubject: by sendmail\n\tfolded\n\nHello,\n  trailing space   \n\n \n";
    let (ok, said) = common::run_input(
        Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(&pf.0)
            .args(["-f", "alice@example.com", "bob@example.net"]),
        msg,
    );
    assert!(ok, "sendmail: {said}");
    send(smtp, "eve@elsewhere.test", 1);
    let lines = delivered(&dir, &common::dkimpy_head(&records), 5);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let ours = lines
        .iter()
        .filter(|l| *l == "example.com 2 PASS PASS")
        .count();
    let theirs = lines.iter().filter(|l| *l == "elsewhere.test 0 ").count();
    assert_eq!(
        (ours, theirs),
        (4, 1),
        "each of ours signed twice and verified, the other unsigned:\n{lines:?}"
    );
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tutorial's OpenDKIM setup (opendkim.conf, KeyTable, SigningTable with
/// refile:, TrustedHosts, a 2048-bit key), taken unchanged by `blason milter
/// --opendkim-conf` on OpenDKIM's socket; the tutorial's 1024-bit key is refused
/// with the way out.
#[test]
fn the_tutorials_opendkim_config_works_unchanged() {
    let dir = tmp("opendkim");
    let port = free_port();
    let keys = dir.join("keys/example.com");
    std::fs::create_dir_all(&keys).unwrap();
    let records = common::dkim_keys(&keys, &[("mail", "rsa2048")]);
    let k = keys.display();
    let d = dir.display();
    std::fs::write(
        dir.join("opendkim.conf"),
        format!(
            "# As the tutorials write it\nSyslog\t\t\tyes\nUMask\t\t\t007\nUserID\t\t\topendkim\n\
             Canonicalization\trelaxed/simple\nMode\t\t\tsv\nSubDomains\t\tno\nAutoRestart\t\tyes\n\
             KeyTable\t\trefile:{d}/KeyTable\nSigningTable\t\trefile:{d}/SigningTable\n\
             ExternalIgnoreList\trefile:{d}/TrustedHosts\nInternalHosts\t\trefile:{d}/TrustedHosts\n\
             Socket\t\t\tinet:{port}@localhost\nPidFile\t\t\t/run/opendkim/opendkim.pid\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("KeyTable"),
        format!("mail._domainkey.example.com example.com:mail:{k}/mail.private\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("SigningTable"),
        "*@example.com mail._domainkey.example.com\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("TrustedHosts"),
        "127.0.0.1\nlocalhost\n192.168.0.1/24\n",
    )
    .unwrap();
    let mut keep = vec![common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["milter", "--opendkim-conf"])
            .arg(dir.join("opendkim.conf")),
        &dir.join("milter.log"),
    )];
    let (smtp, pf) = start_postfix(&dir, &format!("inet:localhost:{port}"), &mut keep);
    send(smtp, "alice@example.com", 2);
    send(smtp, "eve@elsewhere.test", 1);
    let lines = delivered(&dir, &common::dkimpy_head(&records), 3);
    let ours = lines.iter().filter(|l| *l == "example.com 1 PASS").count();
    assert_eq!(ours, 2, "{lines:?}");
    let log = std::fs::read_to_string(dir.join("milter.log")).unwrap();
    // Mode sv: internal mail signed, the rest verified.
    assert!(log.contains("verifying as"), "Mode sv taken: {log}");
    assert!(
        log.contains("opendkim.conf:5: Canonicalization relaxed/simple"),
        "{log}"
    );
    drop(pf);
    drop(keep);

    // The tutorials' 1024-bit key: refused, with the roll to a new selector offered.
    std::fs::write(
        dir.join("KeyTable"),
        format!("mail._domainkey.example.com example.com:old:{k}/old.private\n"),
    )
    .unwrap();
    let g = Command::new("openssl")
        .args(["genrsa", "-traditional", "-out"])
        .arg(keys.join("old.private"))
        .arg("1024")
        .output()
        .unwrap();
    assert!(g.status.success(), "{}", String::from_utf8_lossy(&g.stderr));
    let out = Command::new(env!("CARGO_BIN_EXE_blason"))
        .args(["milter", "--opendkim-conf"])
        .arg(dir.join("opendkim.conf"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(
        said.contains("under 2048 bits") && said.contains("new selector"),
        "{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// One source of truth: the DKIM selectors a zone declares in [zone.mail] are
/// published by `blason serve` and are the keys `blason milter --config` signs
/// with; dkimpy and OpenDKIM (verify mode) verify both signatures, RSA and
/// Ed25519, against the records blason serves.
#[test]
fn the_milter_signs_with_the_keys_the_zone_publishes() {
    let dir = tmp("milter-config");
    let (dns, m) = (free_port(), free_port());
    std::fs::write(
        dir.join("example.com.zone"),
        "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n@ MX 10 mail\nmail A 127.0.0.1\n",
    )
    .unwrap();
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{dns}\"]\nstate = \"{s}\"\n[[zone]]\norigin = \"example.com\"\nfile = \"{z}\"\n\
             [zone.mail]\ndkim = [{{ selector = \"rsa1\", algorithm = \"rsa2048\" }}, {{ selector = \"ed1\", algorithm = \"ed25519\" }}]\n",
            s = dir.join("state").display(),
            z = dir.join("example.com.zone").display()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut keep = vec![common::serve_config(&conf, &log)];
    wait_for("the DKIM records served", &log, || {
        common::short(dns, "ed1._domainkey.example.com", "TXT").contains("k=ed25519")
    });
    keep.push(common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["milter", "--config"])
            .arg(&conf)
            .args(["--listen", &format!("127.0.0.1:{m}")]),
        &dir.join("milter.log"),
    ));
    let (smtp, pf) = start_postfix(&dir, &format!("inet:127.0.0.1:{m}"), &mut keep);
    send(smtp, "alice@example.com", 2);
    // The records as blason serves them, asked over DNS.
    let lines = delivered(&dir, &common::dkimpy_dns_head(dns), 2);
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "example.com 2 PASS PASS")
            .count(),
        2,
        "{lines:?}"
    );
    // And OpenDKIM in verify mode, asking blason too: both signatures pass.
    for f in std::fs::read_dir(dir.join("sink")).unwrap().flatten() {
        let (mut sigs, said) = common::opendkim_verify(&dir, dns, &f.path());
        sigs.sort();
        assert_eq!(
            sigs,
            ["example.com ed1 pass", "example.com rsa1 pass"],
            "OpenDKIM said:\n{said}"
        );
    }
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One message by SMTP to 127.0.0.1:`port`; the reply to the end of DATA.
fn smtp_send(port: u16, from: &str, message: &str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut reply = || {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    reply();
    let data = message.replace("\r\n", "\n").replace('\n', "\r\n");
    for (line, want) in [
        ("EHLO client.example.org\r\n".to_string(), "250"),
        (format!("MAIL FROM:<{from}>\r\n"), "250"),
        ("RCPT TO:<bob@example.org>\r\n".to_string(), "250"),
        ("DATA\r\n".to_string(), "354"),
    ] {
        w.write_all(line.as_bytes()).unwrap();
        let got = reply();
        assert!(got.starts_with(want), "{line}: {got}");
    }
    w.write_all(data.as_bytes()).unwrap();
    w.write_all(b".\r\n").unwrap();
    let end = reply();
    let _ = w.write_all(b"QUIT\r\n");
    end
}

/// Incoming mail through Postfix and `blason milter --mode v`: a signed message
/// gets our Authentication-Results (dkim=pass, dmarc=pass) and loses the one
/// forged in our name while a foreign one stays; a message failing DMARC of a
/// p=reject domain is refused at the end of DATA, one of a p=quarantine domain
/// is held (--on-dmarc-fail enforce).
#[test]
fn incoming_mail_is_verified_forged_results_removed_and_dmarc_enforced() {
    let dir = tmp("milter-verify");
    let (dns, m) = (free_port(), free_port());
    let records = common::dkim_keys(&dir, &[("r1", "rsa2048")]);
    let key: String = records[0]
        .1
        .as_bytes()
        .chunks(250)
        .map(|c| format!("\"{}\" ", String::from_utf8_lossy(c)))
        .collect();
    let soa = "$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 60\n@ NS ns1\nns1 A 127.0.0.1\n";
    std::fs::write(
        dir.join("example.com.zone"),
        format!("{soa}@ TXT \"v=spf1 -all\"\n_dmarc TXT \"v=DMARC1; p=reject\"\nr1._domainkey TXT {key}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("example.net.zone"),
        format!("{soa}@ TXT \"v=spf1 -all\"\n_dmarc TXT \"v=DMARC1; p=quarantine\"\n"),
    )
    .unwrap();
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{dns}\"]\nstate = \"{s}\"\n[[zone]]\norigin = \"example.com\"\nfile = \"{d}/example.com.zone\"\n\
             [[zone]]\norigin = \"example.net\"\nfile = \"{d}/example.net.zone\"\n",
            s = dir.join("state").display(),
            d = dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut keep = vec![common::serve_config(&conf, &log)];
    wait_for("the zones served", &log, || {
        common::short(dns, "_dmarc.example.net", "TXT").contains("quarantine")
    });
    keep.push(common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["milter", "--mode", "v", "--authserv-id", "mx.example.org"])
            .args([
                "--on-dmarc-fail",
                "enforce",
                "--resolver",
                &format!("127.0.0.1:{dns}"),
            ])
            .args(["--listen", &format!("127.0.0.1:{m}")]),
        &dir.join("milter.log"),
    ));
    let (smtp, pf) = start_postfix(&dir, &format!("inet:127.0.0.1:{m}"), &mut keep);
    wait_for("the milter listening", &dir.join("milter.log"), || {
        std::net::TcpStream::connect(("127.0.0.1", m)).is_ok()
    });

    let plain = |from: &str, subject: &str| {
        format!("From: {from}\nTo: bob@example.org\nSubject: {subject}\nMessage-ID: <{subject}@example.com>\n\nHello.\n")
    };
    let src = dir.join("src.eml");
    std::fs::write(&src, plain("alice@example.com", "signed")).unwrap();
    let signed = common::mail_sign(&dir, "r1", &src);
    let forged = format!(
        "Authentication-Results: mx.example.org; dkim=pass; dmarc=pass\nAuthentication-Results: other.example.org; spf=pass\n{signed}"
    );
    let end = smtp_send(smtp, "alice@example.com", &forged);
    assert!(end.starts_with("250"), "signed: {end}");
    let end = smtp_send(
        smtp,
        "alice@example.com",
        &plain("alice@example.com", "rejected"),
    );
    assert!(
        end.starts_with("550") && end.contains("DMARC policy of example.com"),
        "p=reject: {end}"
    );
    let end = smtp_send(smtp, "eve@example.net", &plain("eve@example.net", "held"));
    assert!(end.starts_with("250"), "p=quarantine: {end}");

    wait_for("one message at smtp-sink", &dir.join("maillog"), || {
        std::fs::read_dir(dir.join("sink"))
            .map(|r| r.count())
            .unwrap_or(0)
            >= 1
    });
    wait_for(
        "the p=quarantine message held",
        &dir.join("maillog"),
        || {
            std::fs::read_to_string(dir.join("maillog"))
                .unwrap_or_default()
                .contains("milter-hold")
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    let got: Vec<String> = std::fs::read_dir(dir.join("sink"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(
        got.len(),
        1,
        "only the signed message is delivered: {got:?}"
    );
    let msg = &got[0];
    // The header fields, unfolded.
    let mut fields: Vec<String> = Vec::new();
    for line in msg.split("\n\n").next().unwrap().lines() {
        match line.chars().next() {
            Some(' ' | '\t') => fields
                .last_mut()
                .unwrap()
                .push_str(line.trim_end_matches('\r')),
            _ => fields.push(line.trim_end_matches('\r').to_string()),
        }
    }
    let ours: Vec<&String> = fields
        .iter()
        .filter(|f| f.starts_with("Authentication-Results: mx.example.org"))
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "one header of ours, the forged one gone:\n{msg}"
    );
    for want in [
        "dkim=pass",
        "header.d=example.com",
        "dmarc=pass",
        "spf=fail",
    ] {
        assert!(ours[0].contains(want), "{want} in {}", ours[0]);
    }
    assert!(
        msg.contains("Authentication-Results: other.example.org; spf=pass"),
        "the foreign header stays:\n{msg}"
    );
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A DKIM key roll while mail flows: a rolling series with one-second TTLs and a
/// six-second lifetime rolls twice while a message goes through Postfix and
/// `blason milter --config` every 300 ms; dkimpy verifies each message the moment
/// it is delivered, against the records blason serves then. Every one passes, and
/// the selectors used change with the roll; a retired key is revoked (empty p=)
/// and then removed.
#[test]
fn a_dkim_key_roll_while_mail_flows() {
    let dir = tmp("milter-roll");
    let (dns, m) = (free_port(), free_port());
    std::fs::write(
        dir.join("example.com.zone"),
        "$TTL 1\n@ SOA ns1 hostmaster 1 7200 3600 1209600 1\n@ NS ns1\nns1 A 127.0.0.1\n",
    )
    .unwrap();
    let conf = dir.join("blason.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = [\"127.0.0.1:{dns}\"]\nstate = \"{s}\"\npoll-interval = 1\n[[zone]]\norigin = \"example.com\"\nfile = \"{z}\"\n\
             [zone.mail]\nttl = 1\ndkim = [{{ selector = \"roll\", algorithm = \"ed25519\", roll = \"6s\", keep-retired = \"5s\" }}]\n",
            s = dir.join("state").display(),
            z = dir.join("example.com.zone").display()
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut keep = vec![common::serve_config(&conf, &log)];
    wait_for("the first key served", &log, || {
        common::short(dns, "example.com", "SOA").contains("ns1")
            && std::fs::read_to_string(dir.join("state/dkim/example.com/roll.roll"))
                .is_ok_and(|t| t.lines().count() > 1)
    });
    keep.push(common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["milter", "--mode", "s", "--config"])
            .arg(&conf)
            .args(["--listen", &format!("127.0.0.1:{m}")]),
        &dir.join("milter.log"),
    ));
    let (smtp, pf) = start_postfix(&dir, &format!("inet:127.0.0.1:{m}"), &mut keep);
    // dkimpy watches the sink and verifies each message as it arrives.
    let n = 50;
    let watcher = format!(
        "{}import os, time\nseen = set()\nstart = time.time()\n\
         while len(seen) < {n} and time.time() - start < 90:\n\
         \x20   for f in sorted(os.listdir(sys.argv[1])):\n\
         \x20       p = os.path.join(sys.argv[1], f)\n\
         \x20       if f in seen or time.time() - os.path.getmtime(p) < 0.05:\n\
         \x20           continue\n\
         \x20       seen.add(f)\n\
         \x20       m = open(p, 'rb').read()\n\
         \x20       sel = m.split(b' s=')[1].split(b';')[0].decode() if b' s=' in m else '-'\n\
         \x20       ok = dkim.DKIM(m).verify(dnsfunc=dnsfunc)\n\
         \x20       print(sel, 'PASS' if ok else 'FAIL', flush=True)\n\
         \x20   time.sleep(0.02)\n",
        common::dkimpy_dns_head(dns)
    );
    std::fs::write(dir.join("watch.py"), watcher).unwrap();
    let watch = Command::new("python3")
        .arg(dir.join("watch.py"))
        .arg(dir.join("sink"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..n {
        send(smtp, "alice@example.com", 1);
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = watch.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines.len(),
        n,
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines.iter().all(|l| l.ends_with(" PASS")), "{said}");
    let mut used: Vec<&str> = lines.iter().map(|l| l.split(' ').next().unwrap()).collect();
    used.dedup();
    assert!(
        used.len() >= 3,
        "the key rolled twice while mail flowed: {used:?}"
    );
    // The first key: revoked (p= empty), then gone.
    let first = used[0];
    let state = std::fs::read_to_string(dir.join("state/dkim/example.com/roll.roll")).unwrap();
    let served = common::short(dns, &format!("{first}._domainkey.example.com"), "TXT");
    assert!(
        served.is_empty() || served.contains("p=\""),
        "{first} still served with its key: {served}\n{state}"
    );
    wait_for("the first key removed", &log, || {
        common::short(dns, &format!("{first}._domainkey.example.com"), "TXT").is_empty()
    });
    assert!(!dir
        .join(format!("state/dkim/example.com/{first}.private"))
        .exists());
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Raw milter packets to `port`: option negotiation, a connection, then `rest`
/// (command byte, data); returns whatever the milter answered before closing or
/// going quiet.
fn milter_raw(port: u16, rest: &[(u8, Vec<u8>)], close_early: bool) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let packet = |cmd: u8, d: &[u8]| {
        let mut p = ((d.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(cmd);
        p.extend_from_slice(d);
        p
    };
    let mut opt = 6u32.to_be_bytes().to_vec();
    opt.extend_from_slice(&0x1ffu32.to_be_bytes());
    opt.extend_from_slice(&0u32.to_be_bytes());
    let _ = s.write_all(&packet(b'O', &opt));
    let _ = s.write_all(&packet(b'C', b"client\x004\x00\x19127.0.0.1\x00"));
    for (cmd, d) in rest {
        if s.write_all(&packet(*cmd, d)).is_err() {
            break;
        }
    }
    if close_early {
        return Vec::new();
    }
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    got
}

/// Bad input: a client that drops mid-message, a packet over the limit, 8-bit
/// garbage, a message without From (accepted untouched); then through Postfix a
/// message without From, one with 8-bit headers and body, one with a 1 MB header
/// and one with bare LF by sendmail. No crash, no mail lost: every message is
/// delivered, signed and verifying.
#[test]
fn bad_input_loses_no_mail() {
    let dir = tmp("milter-bad");
    let m = free_port();
    let records = common::dkim_keys(&dir, &[("rsa1", "rsa2048")]);
    let mut keep = vec![common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args([
                "milter",
                "--mode",
                "s",
                "--listen",
                &format!("127.0.0.1:{m}"),
            ])
            .args(["-d", "example.com", "-s", "rsa1", "-k"])
            .arg(dir.join("rsa1.private")),
        &dir.join("milter.log"),
    )];
    wait_for("the milter listening", &dir.join("milter.log"), || {
        std::net::TcpStream::connect(("127.0.0.1", m)).is_ok()
    });
    // Gone mid-message, then a packet announced at 2 MB, then 8-bit garbage.
    milter_raw(
        m,
        &[
            (b'L', b"From\x00 a@example.com\x00".to_vec()),
            (b'B', vec![0xff; 1000]),
        ],
        true,
    );
    let mut huge = (2u32 << 20).to_be_bytes().to_vec();
    huge.push(b'L');
    let _ = std::net::TcpStream::connect(("127.0.0.1", m))
        .and_then(|mut s| std::io::Write::write_all(&mut s, &huge));
    milter_raw(m, &[(b'L', vec![0xfe; 5000]), (b'E', Vec::new())], false);
    // No From: accepted as it is, nothing inserted (SMFIR_ACCEPT only).
    let said = milter_raw(
        m,
        &[
            (b'L', b"Subject\x00 no from\x00".to_vec()),
            (b'N', Vec::new()),
            (b'B', b"body\r\n".to_vec()),
            (b'E', Vec::new()),
        ],
        false,
    );
    assert!(said.ends_with(&[0, 0, 0, 1, b'a']), "{said:?}");
    assert!(
        !said.windows(2).any(|w| w == [0, b'i'] || w == [1, b'i']),
        "{said:?}"
    );

    let (smtp, pf) = start_postfix(&dir, &format!("inet:127.0.0.1:{m}"), &mut keep);
    let end = smtp_send(
        smtp,
        "alice@example.com",
        "To: bob@example.org\nSubject: no from\n\nbody\n",
    );
    assert!(end.starts_with("250"), "no From: {end}");
    let end = smtp_send(
        smtp,
        "alice@example.com",
        "From: Al\u{e9}a <alice@example.com>\nSubject: caf\u{e9} \u{2014}\n\n8-bit \u{fc}ber \u{1f600}\n",
    );
    assert!(end.starts_with("250"), "8-bit: {end}");
    let big = format!(
        "From: alice@example.com\nSubject: big\nX-Big: {}\n\nbody\n",
        (0..100_000)
            .map(|i| format!("word{i}"))
            .collect::<Vec<_>>()
            .join("\n ")
    );
    assert!(big.len() > 1_000_000, "{}", big.len());
    let end = smtp_send(smtp, "alice@example.com", &big);
    assert!(end.starts_with("250"), "big header: {end}");
    let (ok, said) = common::run_input(
        Command::new("/usr/sbin/sendmail")
            .arg("-C")
            .arg(&pf.0)
            .args(["-f", "alice@example.com", "bob@example.net"]),
        "From: alice@example.com\nSubject: bare LF\n folded\n\nline\n\n",
    );
    assert!(ok, "sendmail: {said}");
    let lines = delivered(&dir, &common::dkimpy_head(&records), 4);
    assert_eq!(lines.len(), 4, "{lines:?}");
    // Postfix adds the missing From (from the envelope) before the milter sees it.
    assert_eq!(
        lines.iter().filter(|l| *l == "example.com 1 PASS").count(),
        4,
        "no From, 8-bit, big header and bare LF all signed and verifying: {lines:?}"
    );
    // Still the same milter process.
    assert!(keep[0].0.try_wait().unwrap().is_none(), "the milter died");
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}

/// OpenDKIM's `Socket local:PATH` with its UMask: blason listens on the Unix
/// socket, Postfix reaches it as `unix:PATH`, and mail is signed.
#[test]
fn a_unix_socket_as_opendkim_writes_it() {
    let dir = tmp("milter-unix");
    let records = common::dkim_keys(&dir, &[("mail", "rsa2048")]);
    let sock = dir.join("milter.sock");
    let d = dir.display();
    std::fs::write(
        dir.join("opendkim.conf"),
        format!(
            "Mode s\nUMask 000\nDomain example.com\nSelector mail\nKeyFile {d}/mail.private\nSocket local:{}\n",
            sock.display()
        ),
    )
    .unwrap();
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let mut keep = vec![common::spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_blason"))
            .args(["milter", "--opendkim-conf"])
            .arg(dir.join("opendkim.conf")),
        &dir.join("milter.log"),
    )];
    wait_for(
        "the milter on its Unix socket",
        &dir.join("milter.log"),
        || std::os::unix::net::UnixStream::connect(&sock).is_ok(),
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o666, "UMask 000");
    let (smtp, pf) = start_postfix(&dir, &format!("unix:{}", sock.display()), &mut keep);
    send(smtp, "alice@example.com", 2);
    let lines = delivered(&dir, &common::dkimpy_head(&records), 2);
    assert_eq!(
        lines,
        ["example.com 1 PASS", "example.com 1 PASS"],
        "{lines:?}"
    );
    drop(pf);
    drop(keep);
    let _ = std::fs::remove_dir_all(&dir);
}
