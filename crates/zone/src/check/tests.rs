//! One small zone per check; each asserts the finding (id, severity, line) appears.
use crate::finding::{Finding, Severity};
use crate::load::load_bytes;
use crate::scanner::{read_bytes, ReadOptions};
use crate::{Class, Name, Zone};

const HEAD: &str = "$TTL 300
@ IN SOA ns1 hostmaster 1 14400 3600 1209600 3600
@ IN NS ns1
ns1 IN A 192.0.2.1
@ MX 10 ns1
";

fn origin() -> Name {
    Name::parse("example.test.", None).unwrap()
}

fn check(extra: &str) -> Vec<Finding> {
    let text = format!("{HEAD}{extra}\n");
    load_bytes(&origin(), text.as_bytes(), "t.zone").findings
}

fn has(f: &[Finding], id: &str, sev: Severity, line: u32) -> bool {
    f.iter()
        .any(|x| x.id == id && x.severity == sev && x.line() == Some(line))
}

#[track_caller]
fn expect(extra: &str, id: &str, sev: Severity, line: u32) {
    let f = check(extra);
    assert!(
        has(&f, id, sev, line),
        "expected {id} ({}) at line {line}; got:\n{}",
        sev.as_str(),
        f.iter().map(|x| format!("{x}\n")).collect::<String>()
    );
}

#[track_caller]
fn no_errors(extra: &str) {
    let f = check(extra);
    let errs: Vec<_> = f.iter().filter(|x| x.is_error()).collect();
    assert!(errs.is_empty(), "unexpected errors: {errs:?}");
}

#[test]
fn clean_zone_has_nothing_to_say() {
    let f = check("www A 192.0.2.2");
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn cname_and_other_data() {
    expect(
        "www CNAME ns1\nwww A 192.0.2.2",
        "cname-and-other-data",
        Severity::Error,
        7,
    );
    expect(
        "www A 192.0.2.2\nwww CNAME ns1",
        "cname-and-other-data",
        Severity::Error,
        7,
    );
    expect("@ CNAME ns1", "cname-and-other-data", Severity::Error, 6);
    no_errors("c CNAME ns1\nc NSEC d CNAME RRSIG NSEC\nc RRSIG CNAME 8 3 300 20300101000000 20200101000000 1 example.test. AAAA");
}

#[test]
fn cname_and_dname() {
    expect(
        "x CNAME ns1\nx DNAME example.net.",
        "cname-and-dname",
        Severity::Error,
        7,
    );
}

#[test]
fn singletons() {
    expect(
        "@ SOA ns2 h 2 1 1 1 1",
        "multiple-singleton",
        Severity::Error,
        6,
    );
    expect(
        "c CNAME ns1\nc CNAME ns2",
        "multiple-singleton",
        Severity::Error,
        7,
    );
    expect(
        "d DNAME a.example.\nd DNAME b.example.",
        "multiple-singleton",
        Severity::Error,
        7,
    );
}

#[test]
fn soa_not_apex_and_ds_at_apex() {
    expect(
        "sub SOA ns1 h 1 1 1 1 1",
        "soa-not-apex",
        Severity::Error,
        6,
    );
    expect(
        "@ DS 1 8 2 0000000000000000000000000000000000000000000000000000000000000000",
        "ds-at-apex",
        Severity::Error,
        6,
    );
    no_errors(
        "sub NS ns1\nsub DS 1 8 2 0000000000000000000000000000000000000000000000000000000000000000",
    );
}

#[test]
fn wildcard_ns() {
    expect("*.w NS ns1", "wildcard-ns", Severity::Error, 6);
}

#[test]
fn nsec3_owner() {
    expect(
        "nsec3 NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A",
        "nsec3-bad-owner",
        Severity::Error,
        6,
    );
    no_errors("2T7B4G4VSA5SMI47K61MV5BV1A22BOJR NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A");
}

#[test]
fn apex_ns_targets() {
    expect("@ NS nsx", "ns-target-no-address", Severity::Error, 3);
    expect(
        "@ NS e\nx.e A 192.0.2.7",
        "ns-target-no-address",
        Severity::Error,
        3,
    );
    expect("@ NS c\nc CNAME ns1", "ns-target-cname", Severity::Error, 3);
    no_errors("@ NS x.w\n*.w A 192.0.2.3");
    no_errors("@ NS ns.example.net.");
    no_errors("@ NS n6\nn6 AAAA 2001:db8::1");
}

#[test]
fn dname_above_apex_ns() {
    expect(
        "@ DNAME example.net.",
        "ns-target-below-dname",
        Severity::Error,
        3,
    );
    expect(
        "@ MX 1 x.d\nd DNAME example.net.",
        "target-below-dname",
        Severity::Warning,
        5,
    );
}

#[test]
fn delegation_ns_targets() {
    expect("sub NS nsx", "ns-target-no-address", Severity::Warning, 6);
    expect(
        "sub NS c\nc CNAME ns1",
        "ns-target-cname",
        Severity::Warning,
        6,
    );
    expect("sub NS ns.sub", "missing-glue", Severity::Warning, 6);
    let f = check("sub NS ns1.provider.net");
    assert!(
        f.iter().any(|x| x.id == "ns-target-no-address"
            && x.severity == Severity::Warning
            && x.message.contains("trailing dot")),
        "{f:?}"
    );
    expect(
        "sub NS ns.other\nother NS ns1",
        "missing-glue",
        Severity::Warning,
        6,
    );
    no_errors("sub NS nsx\nsub NS ns.sub\nsub NS x.d\nd DNAME example.net.");
}

#[test]
fn mx_srv_targets() {
    expect("@ MX 20 mail", "mx-target-no-address", Severity::Warning, 5);
    expect(
        "@ MX 20 mail\nmail CNAME ns1",
        "mx-target-cname",
        Severity::Warning,
        5,
    );
    expect(
        "_sip._tcp SRV 0 0 5060 sx",
        "srv-target-no-address",
        Severity::Warning,
        6,
    );
    expect(
        "_sip._tcp SRV 0 0 5060 sc\nsc CNAME ns1",
        "srv-target-cname",
        Severity::Warning,
        6,
    );
    no_errors("_sip._tcp SRV 0 0 5060 sx\nm MX 1 nowhere\nx MX 1 y\ny CNAME ns1");
    let f = check("_x._tcp SRV 0 0 0 .");
    assert!(!f.iter().any(|x| x.id.starts_with("srv-")), "{f:?}");
}

#[test]
fn glue() {
    expect(
        "sub NS ns1\nx.sub A 192.0.2.9",
        "extra-glue",
        Severity::Note,
        7,
    );
    let f = check("sub NS ns.sub\nns.sub A 192.0.2.9");
    assert!(
        !f.iter()
            .any(|x| x.id == "extra-glue" || x.id == "missing-glue"),
        "{f:?}"
    );
    expect(
        "sub NS ns1\nx.sub TXT \"a\"",
        "occluded-data",
        Severity::Note,
        7,
    );
    expect(
        "d DNAME example.net.\nx.d A 192.0.2.1",
        "occluded-data",
        Severity::Note,
        7,
    );
}

#[test]
fn non_terminal_wildcard() {
    expect(
        "*.w A 192.0.2.3\na.*.w A 192.0.2.4",
        "non-terminal-wildcard",
        Severity::Warning,
        7,
    );
}

#[test]
fn check_names() {
    expect("_x A 192.0.2.2", "bad-owner-name", Severity::Warning, 6);
    expect("-x AAAA ::1", "bad-owner-name", Severity::Warning, 6);
    expect(
        "sub NS ns_x.example.net.",
        "bad-host-name",
        Severity::Warning,
        6,
    );
    expect(
        "m MX 10 m_x.example.net.",
        "bad-host-name",
        Severity::Warning,
        6,
    );
    expect(
        "@ RP a_b.x_y.example.net. .",
        "bad-mailbox-name",
        Severity::Warning,
        6,
    );
    let f = check("*.x A 192.0.2.2\n_t TXT \"x\"\n_s NS ns1\n123 A 192.0.2.1");
    assert!(!f.iter().any(|x| x.id.starts_with("bad-")), "{f:?}");
    let rev = Name::parse("2.0.192.in-addr.arpa.", None).unwrap();
    let z = "@ SOA ns1.example.test. h.example.test. 1 14400 3600 1209600 3600\n@ NS ns1.example.test.\n1 PTR a_b.example.test.\n";
    let f = load_bytes(&rev, z.as_bytes(), "r.zone").findings;
    assert!(has(&f, "bad-host-name", Severity::Warning, 3), "{f:?}");
}

#[test]
fn double_dash() {
    expect("ab--cd A 192.0.2.1", "double-dash", Severity::Warning, 6);
    let f = check("xn--bcher-kva A 192.0.2.1");
    assert!(!f.iter().any(|x| x.id == "double-dash"), "{f:?}");
}

#[test]
fn spf_without_txt() {
    expect(
        "s SPF \"v=spf1 -all\"",
        "spf-without-txt",
        Severity::Warning,
        6,
    );
    let f = check("s SPF \"v=spf1 -all\"\ns TXT \"v=spf1 -all\"");
    assert!(!f.iter().any(|x| x.id == "spf-without-txt"), "{f:?}");
}

fn check_at(extra: &str, now: u64) -> Vec<Finding> {
    let text = format!("{HEAD}{extra}\n");
    let mut parsed = read_bytes(
        &origin(),
        Class::IN,
        text.as_bytes(),
        "t.zone",
        &ReadOptions::default(),
    );
    let (zone, info) = Zone::build(&origin(), Class::IN, &mut parsed);
    super::check_zone_at(&zone, &info, &mut parsed, now);
    parsed.findings
}

#[test]
fn rrsig_times() {
    let sig = "@ RRSIG A 8 2 300 20250101000000 20240101000000 1 example.test. AAAA";
    // 2024-06-01: valid.
    let f = check_at(sig, 1_717_200_000);
    assert!(!f.iter().any(|x| x.id.starts_with("rrsig-")), "{f:?}");
    // 2026-01-01: expired.
    assert!(has(
        &check_at(sig, 1_767_225_600),
        "rrsig-expired",
        Severity::Warning,
        6
    ));
    // 2023-01-01: not yet valid.
    assert!(has(
        &check_at(sig, 1_672_531_200),
        "rrsig-not-yet-valid",
        Severity::Note,
        6
    ));
}

#[test]
fn doubled_origin() {
    expect(
        "@ MX 20 mail.example.test",
        "doubled-origin",
        Severity::Warning,
        5,
    );
    expect(
        "sub NS ns.example.test",
        "doubled-origin",
        Severity::Warning,
        6,
    );
    expect(
        "w CNAME www.example.test",
        "doubled-origin",
        Severity::Warning,
        6,
    );
    expect(
        "www.example.test A 192.0.2.1",
        "doubled-origin",
        Severity::Warning,
        6,
    );
    let f = check("@ MX 20 mail.example.test.");
    assert!(!f.iter().any(|x| x.id == "doubled-origin"), "{f:?}");
    // The apex NS version is what BIND refuses.
    expect(
        "@ NS ns.provider.example",
        "ns-target-no-address",
        Severity::Error,
        3,
    );
}

fn with_soa(soa: &str, rest: &str) -> Vec<Finding> {
    let text = format!("$TTL 300\n@ SOA {soa}\n@ NS ns1\nns1 A 192.0.2.1\n{rest}\n");
    load_bytes(&origin(), text.as_bytes(), "t.zone").findings
}

#[test]
fn soa_timers() {
    let f = with_soa("ns1 h 1 3600 7200 3000 60", "@ MX 0 .");
    for id in [
        "soa-retry-not-below-refresh",
        "soa-expire-below-refresh",
        "soa-refresh-low",
        "soa-expire-low",
        "soa-minimum-range",
    ] {
        assert!(
            f.iter().any(|x| x.id == id && x.line() == Some(2)),
            "{id}: {f:?}"
        );
    }
    let f = with_soa("ns1 h 1 14400 600 1209600 3600", "@ MX 0 .");
    assert!(f.iter().any(|x| x.id == "soa-retry-low"), "{f:?}");
    assert!(!f.iter().any(|x| x.is_error()));
}

#[test]
fn soa_names() {
    let f = with_soa("n_s1 host_master.x_y 1 14400 3600 1209600 3600", "");
    assert!(has(&f, "bad-host-name", Severity::Warning, 2), "{f:?}");
    assert!(has(&f, "bad-mailbox-name", Severity::Warning, 2), "{f:?}");
    assert!(has(&f, "soa-mname-not-ns", Severity::Note, 2), "{f:?}");
    let f = with_soa("ns1 host@master 1 14400 3600 1209600 3600", "");
    assert!(has(&f, "rname-at-sign", Severity::Warning, 2), "{f:?}");
    let f = with_soa("m h 1 14400 3600 1209600 3600", "m CNAME ns1");
    assert!(has(&f, "soa-mname-cname", Severity::Warning, 2), "{f:?}");
}

#[test]
fn mx_presence() {
    let f = with_soa("ns1 h 1 14400 3600 1209600 3600", "");
    assert!(
        f.iter()
            .any(|x| x.id == "no-mx" && x.severity == Severity::Note),
        "{f:?}"
    );
    let f = with_soa("ns1 h 1 14400 3600 1209600 3600", "@ MX 0 .");
    assert!(!f.iter().any(|x| x.id == "no-mx"), "{f:?}");
    let f = with_soa("ns1 h 1 14400 3600 1209600 3600", "@ MX 0 .\n@ MX 10 ns1");
    assert!(
        has(&f, "null-mx-with-other-mx", Severity::Warning, 5),
        "{f:?}"
    );
    let f = with_soa("ns1 h 1 14400 3600 1209600 3600", "@ MX 5 .");
    assert!(has(&f, "null-mx-preference", Severity::Note, 5), "{f:?}");
}
