use super::*;
use blason_zone::load::load_bytes;
use blason_zone::Name;

fn zone(serial: u32, extra: &str) -> Zone {
    let origin = Name::parse("j.test.", None).unwrap();
    let text = format!("$TTL 300\n@ SOA ns h {serial} 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n{extra}");
    load_bytes(&origin, text.as_bytes(), "j.test").zone
}

fn dump(z: &Zone) -> Vec<(String, u8, Vec<blason_zone::RRset>)> {
    z.nodes()
        .iter()
        .map(|n| (n.name.to_string(), n.flags, n.rrsets.to_vec()))
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d.join("journal")
}

/// A journal of `n` changes: returns the zones after each.
fn fill(path: &Path, n: u32) -> Vec<Zone> {
    let mut zones = vec![zone(1, "")];
    let mut j = Journal::create(path, &zones[0]).unwrap();
    for i in 1..=n {
        let next = zone(i + 1, &format!("h{i} A 192.0.2.{i}\nwww TXT \"v{i}\"\n"));
        let cs = update::diff(zones.last().unwrap(), &next, usize::MAX).unwrap();
        j.append(&cs).unwrap();
        zones.push(next);
    }
    zones
}

#[test]
fn reopened_journal_gives_the_last_zone() {
    let path = tmp("reopen");
    let zones = fill(&path, 5);
    let (_, r) = Journal::open(&path).unwrap().unwrap();
    assert_eq!(dump(&r.zone), dump(zones.last().unwrap()));
    assert_eq!((r.cut, r.changesets), (0, 5));
    assert!(Journal::open(&path.with_file_name("none"))
        .unwrap()
        .is_none());
}

#[test]
fn a_torn_tail_is_cut_and_the_zone_before_it_served() {
    let path = tmp("torn");
    let zones = fill(&path, 3);
    let full = std::fs::read(&path).unwrap();
    // Every cut inside the last frame gives the zone before it; zeros as a crash leaves them too.
    let last = parse(&full).unwrap().frames.last().unwrap().clone();
    let start = last.at - 1 - HEADER;
    for cut in [
        start + 1,
        start + 5,
        start + HEADER,
        start + HEADER + 3,
        full.len() - 1,
    ] {
        std::fs::write(&path, &full[..cut]).unwrap();
        let (_, r) = Journal::open(&path).unwrap().unwrap();
        assert_eq!(dump(&r.zone), dump(&zones[2]), "cut at {cut}");
        assert_eq!(r.cut as usize, cut - start);
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, start);
    }
    let mut zeros = full.clone();
    zeros.extend_from_slice(&[0u8; 100_000]);
    std::fs::write(&path, &zeros).unwrap();
    let (mut j, r) = Journal::open(&path).unwrap().unwrap();
    assert_eq!(dump(&r.zone), dump(&zones[3]));
    // And appends go on after the cut.
    let next = zone(9, "");
    j.append(&update::diff(&r.zone, &next, usize::MAX).unwrap())
        .unwrap();
    drop(j);
    let (_, r) = Journal::open(&path).unwrap().unwrap();
    assert_eq!(dump(&r.zone), dump(&next));
}

#[test]
fn damage_in_the_middle_is_refused_with_the_file_named() {
    let path = tmp("damage");
    fill(&path, 3);
    let mut b = std::fs::read(&path).unwrap();
    let second = parse(&b).unwrap().frames[1].clone();
    b[second.at + 3] ^= 0x40;
    std::fs::write(&path, &b).unwrap();
    let e = Journal::open(&path).err().unwrap();
    assert!(matches!(e, JournalError::Damaged { .. }), "{e}");
    assert!(e.to_string().contains("journal"), "{e}");
    // A damaged length in the middle, too.
    let mut b = std::fs::read(&path).unwrap();
    b[second.at + 3] ^= 0x40; // undone: now the length
    let h = second.at - 1 - HEADER;
    b[h] ^= 1;
    std::fs::write(&path, &b).unwrap();
    assert!(matches!(
        Journal::open(&path),
        Err(JournalError::Damaged { .. })
    ));
    std::fs::write(&path, b"not a journal at all").unwrap();
    assert!(matches!(
        Journal::open(&path),
        Err(JournalError::Damaged { .. })
    ));
}

#[test]
fn a_changeset_that_does_not_follow_is_damage() {
    let path = tmp("gap");
    let zones = fill(&path, 2);
    let (mut j, _) = Journal::open(&path).unwrap().unwrap();
    // From serial 1 again, while the zone is at 3.
    j.append(&update::diff(&zones[0], &zones[1], usize::MAX).unwrap())
        .unwrap();
    drop(j);
    assert!(matches!(
        Journal::open(&path),
        Err(JournalError::Damaged { .. })
    ));
}

#[test]
fn one_journal_one_server() {
    let path = tmp("busy");
    fill(&path, 1);
    let held = Journal::open(&path).unwrap().unwrap();
    assert!(matches!(
        Journal::open(&path),
        Err(JournalError::Busy { .. })
    ));
    drop(held);
    assert!(Journal::open(&path).unwrap().is_some());
}

#[test]
fn a_rewrite_keeps_the_zone_and_the_history() {
    let path = tmp("rewrite");
    let zones = fill(&path, 4);
    let (mut j, r) = Journal::open(&path).unwrap().unwrap();
    j.rewrite(&r.zone).unwrap();
    let next = zone(20, "after TXT rewrite\n");
    j.append(&update::diff(&r.zone, &next, usize::MAX).unwrap())
        .unwrap();
    assert!(
        Journal::open(&path).is_err(),
        "still locked after the rewrite"
    );
    drop(j);
    let (_, r2) = Journal::open(&path).unwrap().unwrap();
    assert_eq!(dump(&r2.zone), dump(&next));
    assert_eq!(r2.changesets, 5);
    let kinds: Vec<u8> = parse(&std::fs::read(&path).unwrap())
        .unwrap()
        .frames
        .iter()
        .map(|f| f.kind)
        .collect();
    assert_eq!(
        kinds,
        [HISTORY, HISTORY, HISTORY, HISTORY, SNAPSHOT, CHANGE]
    );
    assert_eq!(zones.len(), 5);
}

#[test]
fn a_background_rewrite_carries_over_what_was_appended_meanwhile() {
    let path = tmp("background");
    fill(&path, 3);
    let (mut j, r) = Journal::open(&path).unwrap().unwrap();
    j.start_rewrite(std::sync::Arc::new(r.zone.clone()));
    assert!(!j.wants_rewrite(), "one rewrite at a time");
    let mut cur = r.zone;
    for i in 0..5 {
        let next = zone(100 + i, &format!("bg{i} A 192.0.2.{i}\n"));
        j.append(&update::diff(&cur, &next, usize::MAX).unwrap())
            .unwrap();
        cur = next;
    }
    assert!(j.finish_rewrite(true).unwrap().is_ok());
    assert!(j.finish_rewrite(true).is_none());
    let last = zone(200, "");
    j.append(&update::diff(&cur, &last, usize::MAX).unwrap())
        .unwrap();
    drop(j);
    let (_, r2) = Journal::open(&path).unwrap().unwrap();
    assert_eq!(dump(&r2.zone), dump(&last));
    let kinds: Vec<u8> = parse(&std::fs::read(&path).unwrap())
        .unwrap()
        .frames
        .iter()
        .map(|f| f.kind)
        .collect();
    let mut want = vec![HISTORY; 3];
    want.push(SNAPSHOT);
    want.extend([CHANGE; 6]);
    assert_eq!(kinds, want);
}

#[test]
fn the_history_answers_what_changed_since_a_serial() {
    let path = tmp("since");
    let zones = fill(&path, 5);
    let (mut j, r) = Journal::open(&path).unwrap().unwrap();
    let last = zones.last().unwrap();
    for (k, z) in zones.iter().enumerate().take(5) {
        let cs = j.changes_since(z.serial().unwrap()).unwrap();
        assert_eq!(
            (cs.from, cs.to),
            (z.serial().unwrap(), last.serial().unwrap())
        );
        assert_eq!(
            dump(&update::apply(z, &cs).unwrap()),
            dump(last),
            "from zone {k}"
        );
        assert_eq!(cs, update::diff(z, last, usize::MAX).unwrap());
    }
    // Up to date, or a serial never served: nothing to say.
    assert!(j.changes_since(last.serial().unwrap()).is_none());
    assert!(j.changes_since(999).is_none());
    // A rewrite keeps the history: the same answers from the new file.
    j.rewrite(&r.zone).unwrap();
    drop(j);
    let (j, _) = Journal::open(&path).unwrap().unwrap();
    let cs = j.changes_since(zones[1].serial().unwrap()).unwrap();
    assert_eq!(dump(&update::apply(&zones[1], &cs).unwrap()), dump(last));
}
