use super::*;
use crate::load::load_bytes;

const BASE: &str = "$TTL 300
@ IN SOA ns1 host 10 3600 600 86400 300
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10
www A 192.0.2.11
mail MX 10 mx
mx A 192.0.2.20
sub NS ns.sub
ns.sub A 192.0.2.30
a.b.c TXT \"deep\"
";

fn zone(text: &str) -> Zone {
    let origin = Name::parse("example.com.", None).unwrap();
    let l = load_bytes(&origin, text.as_bytes(), "test");
    assert!(!l.has_errors(), "{:?}", l.findings);
    l.zone
}

/// The same data with its node list built afresh (empty non-terminals and flags
/// anew), as the rebuild road makes it.
fn rebuilt(z: &Zone) -> Zone {
    let data: Vec<Node> = z
        .nodes()
        .iter()
        .filter(|n| !n.has(flags::ENT))
        .cloned()
        .collect();
    Zone::from_data(z.origin(), z.class(), data)
}

/// Names, flags and RRsets, for comparing zones.
fn dump(z: &Zone) -> Vec<(String, u8, Vec<RRset>)> {
    z.nodes()
        .iter()
        .map(|n| (n.name.to_string(), n.flags, n.rrsets.to_vec()))
        .collect()
}

fn edited(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from}");
    text.replace(from, to)
}

#[test]
fn serial_arithmetic_is_rfc1982() {
    assert!(serial_gt(1, 0));
    assert!(serial_gt(0, u32::MAX));
    assert!(!serial_gt(5, 5));
    assert!(!serial_gt(0, 1));
    assert!(serial_gt(0x7fff_ffff, 0));
    assert!(!serial_gt(0x8000_0000, 0));
}

#[test]
fn serial_policies_only_move_forward() {
    let now = 1_764_849_600; // 2025-12-04 12:00 UTC
    assert_eq!(SerialPolicy::Keep.next(10, 12, now), 12);
    assert_eq!(SerialPolicy::Keep.next(10, 10, now), 11);
    assert_eq!(SerialPolicy::Keep.next(10, 3, now), 11);
    assert_eq!(SerialPolicy::Keep.next(u32::MAX, 5, now), 5);
    assert_eq!(SerialPolicy::Increment.next(10, 99, now), 11);
    assert_eq!(SerialPolicy::UnixTime.next(10, 0, now), now as u32);
    assert_eq!(
        SerialPolicy::UnixTime.next(now as u32 + 5, 0, now),
        now as u32 + 6
    );
    assert_eq!(SerialPolicy::Date.next(10, 0, now), 2025120400);
    assert_eq!(SerialPolicy::Date.next(2025120400, 0, now), 2025120401);
    assert_eq!(SerialPolicy::Date.next(2025120499, 0, now), 2025120500);
    assert_eq!(date_serial(0), 1970010100);
    assert_eq!(date_serial(951_782_400), 2000022900); // a leap day
    for p in SerialPolicy::NAMES {
        assert!(SerialPolicy::parse(p).is_some());
    }
}

#[test]
fn diff_then_apply_gives_the_new_zone() {
    let old = zone(BASE);
    let cases = [
        edited(BASE, "www A 192.0.2.11", "www A 192.0.2.12"),
        edited(BASE, "mx A 192.0.2.20", "mx 600 A 192.0.2.20"),
        edited(BASE, "a.b.c TXT \"deep\"\n", ""),
        format!("{BASE}new.name AAAA 2001:db8::1\n"),
        edited(BASE, "sub NS ns.sub", "sub NS ns.sub\nsub NS ns2.sub"),
        edited(BASE, "sub NS ns.sub\n", ""),
        format!("{BASE}other NS ns.other\nns.other A 192.0.2.40\n"),
        edited(BASE, "10 3600", "11 3600"),
        format!("{BASE}*.w TXT \"wild\"\nd DNAME example.net.\nx.d A 192.0.2.9\n"),
    ];
    for text in &cases {
        let new = zone(text);
        let cs = diff(&old, &new, usize::MAX).unwrap();
        assert!(!cs.is_empty(), "{text}");
        let got = apply(&old, &cs).unwrap();
        assert_eq!(dump(&got), dump(&new), "{text}");
        // And back.
        let back = diff(&new, &old, usize::MAX).unwrap();
        assert_eq!(dump(&apply(&new, &back).unwrap()), dump(&old), "{text}");
    }
}

#[test]
fn diff_of_replaced_snapshots_looks_only_at_changed_chunks() {
    let old = zone(BASE);
    let i = old.find(b"\x03www\x07example\x03com\x00").unwrap();
    let mut node = old.node(i).clone();
    let a = RRset::new(Rtype::A, 300, &[&[192, 0, 2, 99]]);
    put_rrset(&mut node, Rtype::A, Some(a.clone()), None);
    let new = old.with_replaced(vec![(i, node)]);
    assert!(new
        .changed_since(&old, 1000)
        .is_some_and(|p| p.len() <= 128));
    let cs = diff(&old, &new, usize::MAX).unwrap();
    assert_eq!(cs.added.len(), 1);
    assert_eq!(cs.added[0].1, a);
    assert_eq!(cs.removed[0].1.len(), 2);
    assert_eq!(dump(&apply(&old, &cs).unwrap()), dump(&new));
    assert!(diff(&old, &old.clone(), 0).unwrap().is_empty());
}

#[test]
fn diff_stops_past_its_limit() {
    let old = zone(BASE);
    let new = zone(&format!(
        "{BASE}n1 A 192.0.2.1\nn2 A 192.0.2.2\nn3 A 192.0.2.3\n"
    ));
    assert!(diff(&old, &new, 1).is_none());
    assert!(diff(&old, &new, 3).is_some());
}

#[test]
fn apply_refuses_inconsistent_changesets() {
    let old = zone(BASE);
    let new = zone(&edited(BASE, "www A 192.0.2.11", "www A 192.0.2.12"));
    let cs = diff(&old, &new, usize::MAX).unwrap();
    let applied = apply(&old, &cs).unwrap();
    // Played twice: the removed record is gone.
    let mut again = cs.clone();
    again.from = applied.serial().unwrap();
    assert!(matches!(
        apply(&applied, &again),
        Err(UpdateError::NotPresent { .. })
    ));
    let mut wrong = cs.clone();
    wrong.from = 99;
    assert!(matches!(
        apply(&old, &wrong),
        Err(UpdateError::SerialMismatch { .. })
    ));
    let mut outside = cs;
    outside.added.push((
        Name::parse("example.org.", None).unwrap(),
        RRset::new(Rtype::A, 1, &[&[1, 2, 3, 4]]),
    ));
    assert!(matches!(
        apply(&old, &outside),
        Err(UpdateError::OutOfZone { .. })
    ));
}

#[test]
fn compose_condenses_a_sequence() {
    let texts = [
        BASE.to_string(),
        edited(BASE, "10 3600", "11 3600").replace("www A 192.0.2.11", "www A 192.0.2.12"),
        edited(BASE, "10 3600", "12 3600").replace("a.b.c TXT \"deep\"\n", "new A 192.0.2.50\n"),
        edited(BASE, "10 3600", "13 3600").replace("new A 192.0.2.50\n", ""),
    ];
    let zones: Vec<Zone> = texts.iter().map(|t| zone(t)).collect();
    let steps: Vec<Changeset> = zones
        .windows(2)
        .map(|w| diff(&w[0], &w[1], usize::MAX).unwrap())
        .collect();
    let mut all = steps[0].clone();
    for s in &steps[1..] {
        all = all.compose(s).unwrap();
    }
    assert_eq!((all.from, all.to), (10, 13));
    let direct = diff(&zones[0], &zones[3], usize::MAX).unwrap();
    assert_eq!(all, direct);
    assert_eq!(dump(&apply(&zones[0], &all).unwrap()), dump(&zones[3]));
    assert!(steps[1].compose(&steps[0]).is_err());
}

#[test]
fn edits_resolve_against_the_zone() {
    let z = zone(BASE);
    let name = |s: &str| Name::parse(s, None).unwrap();
    let edits = vec![
        Edit::AddRr {
            name: name("_acme-challenge.example.com."),
            rtype: Rtype::TXT,
            ttl: 60,
            rdata: b"\x05token".to_vec().into(),
        },
        Edit::DeleteRr {
            name: name("www.example.com."),
            rtype: Rtype::A,
            rdata: vec![192, 0, 2, 10].into(),
        },
        Edit::DeleteRr {
            name: name("www.example.com."),
            rtype: Rtype::A,
            rdata: vec![192, 0, 2, 77].into(),
        },
        Edit::DeleteName {
            name: name("a.b.c.example.com."),
        },
        Edit::DeleteRrset {
            name: name("nothing.example.com."),
            rtype: Rtype::A,
        },
    ];
    let cs = resolve(&z, &edits).unwrap();
    assert_eq!(cs.removed.len(), 2);
    assert_eq!(cs.added.len(), 1);
    let cs = with_soa_change(&z, cs, 11).unwrap();
    let out = apply(&z, &cs).unwrap();
    assert_eq!(out.serial(), Some(11));
    assert!(out.find(b"\x01a\x01b\x01c\x07example\x03com\x00").is_none());
    assert!(out
        .find(b"\x0f_acme-challenge\x07example\x03com\x00")
        .is_some());
    assert!(resolve(
        &z,
        &[Edit::DeleteName {
            name: name("example.org.")
        }]
    )
    .is_err());
}

#[test]
fn a_source_change_is_carried_onto_a_zone_holding_more() {
    let name = |s: &str| Name::parse(s, None).unwrap();
    let old_file = zone(BASE);
    // The served zone holds a record from another source and a later serial.
    let extra = resolve(
        &old_file,
        &[Edit::AddRr {
            name: name("dyn.example.com."),
            rtype: Rtype::A,
            ttl: 60,
            rdata: vec![192, 0, 2, 200].into(),
        }],
    )
    .unwrap();
    let served = apply(&old_file, &with_soa_change(&old_file, extra, 15).unwrap()).unwrap();
    let new_file = zone(&edited(BASE, "www A 192.0.2.11", "www A 192.0.2.12"));
    let got = carry(&served, &old_file, &new_file).unwrap();
    assert!(got.find(b"\x03dyn\x07example\x03com\x00").is_some(), "kept");
    let www = got.node(got.find(b"\x03www\x07example\x03com\x00").unwrap());
    let a: Vec<&[u8]> = www.rrset(Rtype::A).unwrap().rdatas().collect();
    assert_eq!(a, [&[192, 0, 2, 10][..], &[192, 0, 2, 12][..]]);
    // The SOA is the file's (serial 10): the commit moves it past 15.
    assert_eq!(got.serial(), Some(10));
    // Played twice (a crash between the journal and the saved reading): once.
    let again = carry(&got, &old_file, &new_file).unwrap();
    assert!(diff(&got, &again, usize::MAX)
        .unwrap_or_default()
        .is_empty());
    // A record the file had was removed from the zone by another source: the file's
    // change to its RRset is played on what is left.
    let without = apply(
        &served,
        &resolve(
            &served,
            &[Edit::DeleteRrset {
                name: name("www.example.com."),
                rtype: Rtype::A,
            }],
        )
        .unwrap(),
    )
    .unwrap();
    let got = carry(&without, &old_file, &new_file).unwrap();
    let www = got.node(got.find(b"\x03www\x07example\x03com\x00").unwrap());
    let a: Vec<&[u8]> = www.rrset(Rtype::A).unwrap().rdatas().collect();
    assert_eq!(a, [&[192, 0, 2, 12][..]]);
}

#[test]
fn generated_records_become_edits() {
    use crate::load::{Claim, Generated};
    let g = |rd: u8, ttl: u32| Generated {
        owner: Name::parse("_25._tcp.mail.example.com.", None).unwrap(),
        rtype: Rtype(52),
        ttl,
        rdata: vec![3, 1, 1, rd],
        what: "tlsa".into(),
        claim: Claim::All,
    };
    let edits = generated_edits(&[g(1, 60), g(2, 60)], &[g(2, 60), g(3, 60)]);
    assert_eq!(edits.len(), 2);
    assert!(matches!(&edits[0], Edit::DeleteRr { rdata, .. } if rdata[3] == 1));
    assert!(matches!(&edits[1], Edit::AddRr { rdata, .. } if rdata[3] == 3));
    assert!(generated_edits(&[g(1, 60)], &[g(1, 60)]).is_empty());
    assert_eq!(generated_edits(&[g(1, 60)], &[g(1, 300)]).len(), 2);
}

#[test]
fn new_names_are_inserted_as_a_rebuild_would_place_them() {
    let base = zone(BASE);
    let add = |names: &[&str]| -> Vec<Edit> {
        names
            .iter()
            .map(|n| Edit::AddRr {
                name: Name::parse(n, None).unwrap(),
                rtype: Rtype::A,
                ttl: 60,
                rdata: vec![192, 0, 2, 99].into(),
            })
            .collect()
    };
    for names in [
        &["new.example.com."][..],
        &["x.y.z.example.com."],
        &["x.y.example.com.", "w.y.example.com."],
        &["p.example.com.", "q.p.example.com."],
        &["d.b.c.example.com.", "zz.example.com.", "aa.example.com."],
        // Below a cut or a wildcard: rebuilt, the same result.
        &["deeper.ns.sub.example.com."],
    ] {
        let cs = resolve(&base, &add(names)).unwrap();
        let fast = apply(&base, &cs).unwrap();
        let below_cut = names[0].ends_with("sub.example.com.");
        assert_eq!(fast.same_lineage(&base), !below_cut, "{names:?}");
        // The rebuild's answer: the same data, the node list made from scratch.
        let slow = rebuilt(&fast);
        assert_eq!(dump(&fast), dump(&slow), "{names:?}");
        for n in slow.nodes().iter() {
            assert!(fast.find(n.name.as_wire()).is_some(), "{} found", n.name);
        }
        // And on from there: a later change applies to the inserted snapshot.
        let more = resolve(&fast, &add(&["later.example.com."])).unwrap();
        let later = apply(&fast, &more).unwrap();
        assert!(later.find(b"\x05later\x07example\x03com\x00").is_some());
    }
}

#[test]
fn emptied_names_are_removed_as_a_rebuild_would() {
    let text = format!(
        "{BASE}x.y.example.com. A 192.0.2.5\nw.y.example.com. A 192.0.2.6\nq.p.example.com. A 192.0.2.7\np.example.com. A 192.0.2.8\n*.wild.example.com. A 192.0.2.9\n"
    );
    let base = zone(&text);
    let del = |names: &[&str]| -> Vec<Edit> {
        names
            .iter()
            .map(|n| Edit::DeleteName {
                name: Name::parse(n, None).unwrap(),
            })
            .collect()
    };
    for (names, spliced) in [
        (&["www.example.com."][..], true),
        // Its empty non-terminals go with it.
        (&["a.b.c.example.com."], true),
        (&["x.y.example.com."], true),
        (&["x.y.example.com.", "w.y.example.com."], true),
        // A name with a name below: stays, empty; both: both go.
        (&["p.example.com."], true),
        (&["p.example.com.", "q.p.example.com."], true),
        (
            &["mx.example.com.", "www.example.com.", "a.b.c.example.com."],
            true,
        ),
        // Glue below a cut goes alone.
        (&["ns.sub.example.com."], true),
        // A wildcard changes its parent's flags: rebuilt.
        (&["*.wild.example.com."], false),
    ] {
        let cs = resolve(&base, &del(names)).unwrap();
        let fast = apply(&base, &cs).unwrap();
        let kept = fast.same_lineage(&base);
        assert_eq!(kept, spliced, "{names:?}");
        let slow = rebuilt(&fast);
        assert_eq!(dump(&fast), dump(&slow), "{names:?}");
        for (i, n) in slow.nodes().iter().enumerate() {
            assert_eq!(fast.find(n.name.as_wire()), Some(i), "{} found", n.name);
        }
        for n in names {
            let w = Name::parse(n, None).unwrap();
            assert!(fast
                .find(w.as_wire())
                .is_none_or(|i| fast.node(i).has(flags::ENT)));
        }
    }
    // An empty non-terminal that gains a record keeps its place, flagged as data.
    let edits = vec![Edit::AddRr {
        name: Name::parse("c.example.com.", None).unwrap(),
        rtype: Rtype::TXT,
        ttl: 60,
        rdata: b"\x01t".to_vec().into(),
    }];
    let fast = apply(&base, &resolve(&base, &edits).unwrap()).unwrap();
    assert!(fast.same_names(&base));
    let slow = rebuilt(&fast);
    assert_eq!(dump(&fast), dump(&slow));
    // Names added and others removed in one change.
    let mut edits = del(&["www.example.com.", "x.y.example.com."]);
    edits.push(Edit::AddRr {
        name: Name::parse("n.m.example.com.", None).unwrap(),
        rtype: Rtype::A,
        ttl: 60,
        rdata: vec![192, 0, 2, 99].into(),
    });
    let fast = apply(&base, &resolve(&base, &edits).unwrap()).unwrap();
    let slow = rebuilt(&fast);
    assert_eq!(dump(&fast), dump(&slow));
}
