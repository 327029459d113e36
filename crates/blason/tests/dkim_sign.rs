//! `blason mail sign`: messages signed with keys from `blason dkim keygen` (RSA-2048
//! and Ed25519) verify with dkimpy, the reference implementation. The messages
//! include the cases DKIM signers get wrong: folded and repeated headers, bodies
//! ending in whitespace-only lines, an empty body, bare LF, 8-bit text, long lines.
//! A message changed after signing must fail.

mod common;

const MESSAGES: &[(&str, &str)] = &[
    (
        "plain",
        "From: Alice <alice@example.com>\r\nTo: bob@example.net\r\nSubject: hello\r\nDate: Fri, 04 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.com>\r\n\r\nHello Bob.\r\n",
    ),
    (
        "folded-and-repeated-headers",
        "From: alice@example.com\r\nTo: bob@example.net,\r\n\tcarol@example.net\r\nTo: dave@example.net\r\nSubject: a   subject\r\n  folded  over\t lines \r\nReceived: from x by y\r\n\r\nBody\r\n",
    ),
    (
        "trailing-whitespace-lines",
        "From: alice@example.com\r\nSubject: ws\r\n\r\nText with trailing space   \r\n\t\r\n  \r\n\r\n \t \r\n",
    ),
    ("empty-body", "From: alice@example.com\r\nSubject: empty\r\n\r\n"),
    (
        "bare-lf",
        "From: alice@example.com\nSubject: bare\n folded with LF\n\nline one\nline two  \n\n",
    ),
    (
        "eight-bit",
        "From: =?utf-8?q?Ald=C3=A9a?= <alice@example.com>\r\nSubject: caf\u{e9}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e \u{2014} \u{1f600}\r\n",
    ),
];

#[test]
fn signed_messages_verify_with_dkimpy_and_changed_ones_fail() {
    let dir = std::env::temp_dir().join(format!("blason-dkim-sign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let records = common::dkim_keys(&dir, &[("rsa1", "rsa2048"), ("ed1", "ed25519")]);
    let long = format!(
        "From: alice@example.com\r\nSubject: long\r\n\r\n{}\r\n",
        "x".repeat(990)
    );
    let mut cases: Vec<(String, String)> = MESSAGES
        .iter()
        .map(|(n, m)| (n.to_string(), m.to_string()))
        .collect();
    cases.push(("long-line".into(), long));
    let mut files = Vec::new();
    for (name, msg) in &cases {
        let src = dir.join(format!("{name}.eml"));
        std::fs::write(&src, msg).unwrap();
        for (sel, _) in &records {
            let out = common::mail_sign(&dir, sel, &src).into_bytes();
            let signed = dir.join(format!("{name}.{sel}.signed"));
            std::fs::write(&signed, &out).unwrap();
            files.push((format!("{name} {sel}"), signed.clone(), true));
            // The same message with its body changed after signing.
            let mut changed = out.clone();
            changed.extend_from_slice(b"P.S. added later\r\n");
            let bad = dir.join(format!("{name}.{sel}.changed"));
            std::fs::write(&bad, changed).unwrap();
            files.push((format!("{name} {sel} changed"), bad, false));
        }
    }
    let script = common::dkimpy_head(&records)
        + "for path in sys.argv[1:]:\n    m = open(path, 'rb').read()\n    print('PASS' if dkim.verify(m, dnsfunc=dnsfunc) else 'FAIL', path)\n";
    let paths: Vec<_> = files.iter().map(|f| f.1.clone()).collect();
    let said = common::dkimpy(&dir, &script, &paths);
    let mut wrong = Vec::new();
    for (label, path, good) in &files {
        let line = said
            .lines()
            .find(|l| l.ends_with(path.to_str().unwrap()))
            .unwrap_or("");
        let passed = line.starts_with("PASS");
        if passed != *good {
            wrong.push(format!(
                "{label}: dkimpy says {line:?}, expected {}",
                if *good { "pass" } else { "fail" }
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
