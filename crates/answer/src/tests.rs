use super::*;
use blason_zone::load::load_bytes;
use blason_zone::Name;

const ZONE: &str = "$TTL 300
@ SOA ns1 host 1 7200 3600 1209600 60
@ NS ns1
@ NS ns2.other.test.
@ MX 10 mail
ns1 A 192.0.2.1
mail A 192.0.2.2
www CNAME web
web A 192.0.2.3
loop1 CNAME loop2
loop2 CNAME loop1
*.wild TXT \"wild\"
sub NS ns.sub
sub DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE5F6E0C5E1A1D2E4B55C1DCA4
ns.sub A 192.0.2.9
self CNAME self
*.cwx CNAME nothere.cwx
d DNAME example.net.
a.b.c A 192.0.2.4
";

fn cat() -> Catalog {
    let o = Name::parse("example.com.", None).unwrap();
    let l = load_bytes(&o, ZONE.as_bytes(), "t.zone");
    assert!(!l.has_errors(), "{:?}", l.findings);
    Catalog::new(vec![Arc::new(l.zone)], Options::default())
}

fn query(name: &str, qtype: u16, edns: bool) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, edns as u8];
    let n = Name::parse(name, None).unwrap();
    q.extend_from_slice(n.as_wire());
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    if edns {
        q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    }
    q
}

fn ask(name: &str, qtype: u16) -> (u8, u8, [u16; 3]) {
    let c = cat();
    let mut out = Vec::new();
    assert!(respond(
        &c,
        &query(name, qtype, false),
        Transport::Udp,
        &mut out
    ));
    let counts = [
        u16::from_be_bytes([out[6], out[7]]),
        u16::from_be_bytes([out[8], out[9]]),
        u16::from_be_bytes([out[10], out[11]]),
    ];
    (out[2], out[3] & 0xF, counts)
}

#[test]
fn positive_and_negative() {
    assert_eq!(ask("web.example.com.", 1), (0x85, 0, [1, 0, 0]));
    assert_eq!(ask("WEB.example.COM.", 1), (0x85, 0, [1, 0, 0]));
    assert_eq!(ask("www.example.com.", 1), (0x85, 0, [2, 0, 0]));
    assert_eq!(ask("nope.example.com.", 1), (0x85, 3, [0, 1, 0]));
    assert_eq!(ask("web.example.com.", 28), (0x85, 0, [0, 1, 0]));
    // Empty non-terminal: NODATA, not NXDOMAIN.
    assert_eq!(ask("b.c.example.com.", 1), (0x85, 0, [0, 1, 0]));
    assert_eq!(ask("x.wild.example.com.", 16), (0x85, 0, [1, 0, 0]));
    assert_eq!(ask("example.org.", 1), (0x81, 5, [0, 0, 0]));
    // MX gets the mail address in additional.
    assert_eq!(ask("example.com.", 15), (0x85, 0, [1, 0, 1]));
}

#[test]
fn referral_dname_and_loops() {
    // Referral: no AA, NS in authority, glue in additional.
    assert_eq!(ask("host.sub.example.com.", 1), (0x81, 0, [0, 1, 1]));
    // DNAME: the DNAME plus a synthesized CNAME.
    assert_eq!(ask("x.d.example.com.", 1), (0x85, 0, [2, 0, 0]));
    // A CNAME loop ends after the chain limit with the records seen.
    let (_, rc, counts) = ask("loop1.example.com.", 1);
    assert_eq!(rc, 0);
    assert!(counts[0] >= 2);
}

#[test]
fn malformed_and_edns() {
    let c = cat();
    let mut out = Vec::new();
    assert!(!respond(&c, &[0; 5], Transport::Udp, &mut out));
    let mut q = query("web.example.com.", 1, false);
    q[5] = 2; // QDCOUNT 2
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 1);
    let mut q = query("web.example.com.", 1, true);
    let n = q.len();
    q[n - 6] = 1; // EDNS version 1
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 0);
    assert_eq!(u16::from_be_bytes([out[10], out[11]]), 1);
    let q = query("web.example.com.", 1, true);
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(u16::from_be_bytes([out[10], out[11]]), 1);
    let mut q = query("web.example.com.", 1, false);
    q[2] = 0x28; // opcode 5 (UPDATE)
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 4);
}

fn ask_do(name: &str, qtype: u16) -> (u8, u8, [u16; 3]) {
    let c = cat();
    let mut out = Vec::new();
    let mut q = query(name, qtype, true);
    let n = q.len();
    q[n - 4] = 0x80; // DO
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    let counts = [
        u16::from_be_bytes([out[6], out[7]]),
        u16::from_be_bytes([out[8], out[9]]),
        u16::from_be_bytes([out[10], out[11]]),
    ];
    (out[2], out[3] & 0xF, counts)
}

#[test]
fn cname_loops_are_answered_once_round() {
    // loop1 -> loop2 -> loop1: each CNAME once, as NSD does (BIND 9.18: SERVFAIL).
    assert_eq!(ask("loop1.example.com.", 1), (0x85, 0, [2, 0, 0]));
    assert_eq!(ask("LOOP2.example.com.", 1), (0x85, 0, [2, 0, 0]));
    assert_eq!(ask("self.example.com.", 1), (0x85, 0, [1, 0, 0]));
    // A wildcard CNAME whose target matches the same wildcard.
    assert_eq!(ask("x.cwx.example.com.", 1), (0x85, 0, [2, 0, 0]));
}

#[test]
fn ds_at_an_apex_whose_parent_is_not_served() {
    // RFC 4035 §3.1.4.1: an authoritative NODATA from the child, not REFUSED.
    assert_eq!(ask("example.com.", 43), (0x85, 0, [0, 1, 0]));
    assert_eq!(ask("EXAMPLE.com.", 43), (0x85, 0, [0, 1, 0]));
    // DS at a cut is still answered from the parent side.
    assert_eq!(ask("sub.example.com.", 43), (0x85, 0, [1, 0, 0]));
}

#[test]
fn unsigned_ds_stays_out_of_referrals() {
    // With DO: NS in authority, no DS without its RRSIG (RFC 4035 §3.1.4); glue and OPT
    // in additional.
    assert_eq!(ask_do("host.sub.example.com.", 1), (0x81, 0, [0, 1, 2]));
}

#[test]
fn chaos_version_only_when_configured() {
    let o = Name::parse("example.com.", None).unwrap();
    let z = Arc::new(load_bytes(&o, ZONE.as_bytes(), "t.zone").zone);
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x07version\x04bind\x00\x00\x10\x00\x03");
    let mut out = Vec::new();
    let off = Catalog::new(vec![z.clone()], Options::default());
    assert!(respond(&off, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 5, "refused when not configured");
    let on = Catalog::new(
        vec![z],
        Options {
            version: Some("blason test".into()),
            identity: None,
            minimal_any: false,
        },
    );
    assert!(respond(&on, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 0);
    assert_eq!(u16::from_be_bytes([out[6], out[7]]), 1);
    assert!(out.windows(11).any(|w| w == b"blason test"));
}

/// A query with an OPT carrying `opts` (code, data) pairs.
fn query_opts(name: &str, qtype: u16, opts: &[(u16, &[u8])]) -> Vec<u8> {
    let mut q = query(name, qtype, false);
    q[11] = 1;
    let mut data = Vec::new();
    for (code, d) in opts {
        data.extend_from_slice(&code.to_be_bytes());
        data.extend_from_slice(&(d.len() as u16).to_be_bytes());
        data.extend_from_slice(d);
    }
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0]);
    q.extend_from_slice(&(data.len() as u16).to_be_bytes());
    q.extend_from_slice(&data);
    q
}

#[test]
fn any_over_udp_is_one_rrset_when_minimal_and_whole_over_tcp() {
    let o = Name::parse("example.com.", None).unwrap();
    let z = Arc::new(load_bytes(&o, ZONE.as_bytes(), "t.zone").zone);
    let c = Catalog::new(
        vec![z],
        Options {
            minimal_any: true,
            ..Options::default()
        },
    );
    let q = query("example.com.", 255, true);
    let mut out = Vec::new();
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    // The first RRset at the apex: the SOA or the two NS.
    let udp = u16::from_be_bytes([out[6], out[7]]);
    assert!((1..=2).contains(&udp), "one RRset, got {udp} records");
    assert!(respond(&c, &q, Transport::Tcp, &mut out));
    assert_eq!(u16::from_be_bytes([out[6], out[7]]), 4, "SOA, NS, NS, MX");
}

#[test]
fn cookies_are_echoed_in_the_opt_and_malformed_ones_are_formerr() {
    let c = cat();
    let mut out = Vec::new();
    let q = query_opts("www.example.com.", 1, &[(10, &[1; 8])]);
    let Incoming::Query(pq) = inspect(&q) else {
        panic!("parses")
    };
    let (at, len) = pq.cookie.expect("cookie found");
    assert_eq!(&q[at..at + len], &[1; 8]);
    let mut reply = [7u8; 24];
    reply[..8].copy_from_slice(&[1; 8]);
    let x = Extras {
        cookie: Some(&reply),
        ..Extras::default()
    };
    assert!(respond_to(
        &c,
        &q,
        &inspect(&q),
        Transport::Udp,
        &x,
        &mut out
    ));
    assert!(out
        .windows(28)
        .any(|w| w[..4] == [0, 10, 0, 24] && w[4..] == reply));
    // BADCOOKIE: extended RCODE 23 = 1 << 4 | 7, with the cookie.
    bad_cookie(&q, &pq, &x, &mut out);
    assert_eq!(out[3] & 0xF, 7);
    assert!(out.windows(28).any(|w| w[4..] == reply));
    // Lengths RFC 7873 §5.2.2 calls malformed.
    for bad in [&[1u8; 7][..], &[1; 9], &[1; 15], &[1; 41]] {
        let q = query_opts("www.example.com.", 1, &[(10, bad)]);
        assert!(respond(&c, &q, Transport::Udp, &mut out));
        assert_eq!(out[3] & 0xF, 1, "FORMERR for a cookie of {}", bad.len());
    }
    // An option that overruns the OPT's data.
    let mut q = query_opts("www.example.com.", 1, &[(10, &[1; 8])]);
    let l = q.len();
    q[l - 10] = 0xFF;
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 1);
}

#[test]
fn refusals_carry_an_extended_error() {
    let c = cat();
    let mut out = Vec::new();
    let q = query("www.other.test.", 1, true);
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(out[3] & 0xF, 5);
    assert!(
        out.ends_with(&[0, 15, 0, 2, 0, 20]),
        "EDE 20 Not Authoritative"
    );
    // Without EDNS there is nowhere to put it.
    let q = query("www.other.test.", 1, false);
    assert!(respond(&c, &q, Transport::Udp, &mut out));
    assert_eq!(u16::from_be_bytes([out[10], out[11]]), 0);
}

#[test]
fn a_udp_cap_truncates_below_the_clients_offer() {
    let c = cat();
    let mut out = Vec::new();
    let q = query("example.com.", 255, true);
    let x = Extras {
        udp_cap: Some(100),
        ..Extras::default()
    };
    assert!(respond_to(
        &c,
        &q,
        &inspect(&q),
        Transport::Udp,
        &x,
        &mut out
    ));
    assert!(out.len() <= 512, "never below 512");
}

#[test]
fn a_wildcard_answer_says_so() {
    let c = cat();
    let wildcard_of = |name: &str, qtype: u16| {
        let cell = std::cell::Cell::new(None);
        let x = Extras {
            wildcard: Some(&cell),
            ..Extras::default()
        };
        let q = query(name, qtype, false);
        assert!(respond_to(
            &c,
            &q,
            &inspect(&q),
            Transport::Udp,
            &x,
            &mut Vec::new()
        ));
        cell.get()
    };
    assert_eq!(
        wildcard_of("anything.wild.example.com.", 16),
        Some(b"\x04wild\x07example\x03com\x00".len())
    );
    assert_eq!(wildcard_of("www.example.com.", 1), None);
}
