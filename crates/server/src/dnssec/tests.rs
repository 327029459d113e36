use super::*;
use blason_dnssec::policy::KeyScheme;
use blason_zone::Rtype;
use std::cell::Cell;

const ZONE: &[u8] = b"$TTL 2\n@ SOA ns hm 1 2 3 4 2\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n";

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-exec-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn quick() -> Policy {
    Policy {
        scheme: KeyScheme::KskZsk,
        dnskey_ttl: 2,
        zone_max_ttl: 2,
        ds_ttl: 2,
        propagation_delay: 0,
        publish_safety: 1,
        retire_safety: 1,
        parent_propagation_delay: 0,
        registrar_delay: 5,
        zsk_lifetime: 0,
        ksk_lifetime: 0,
        ..Policy::default()
    }
}

fn zone() -> Arc<Zone> {
    let o = Name::parse("exec.test.", None).unwrap();
    Arc::new(blason_zone::load::load_bytes(&o, ZONE, "t").zone)
}

/// Key tags of the apex DNSKEYs, and of the signers of the DNSKEY RRset and the SOA.
fn tags(z: &Zone) -> (Vec<u16>, Vec<u16>, Vec<u16>) {
    let apex = z.apex();
    let mut dnskey: Vec<u16> = apex
        .rrset(Rtype::DNSKEY)
        .map(|r| r.rdatas().map(blason_dnssec::keys::key_tag).collect())
        .unwrap_or_default();
    let signers = |t: Rtype| -> Vec<u16> {
        let mut v: Vec<u16> = apex
            .rrsigs(t)
            .map(|r| {
                r.rdatas()
                    .map(|s| u16::from_be_bytes([s[16], s[17]]))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    dnskey.sort();
    (dnskey, signers(Rtype::DNSKEY), signers(Rtype::SOA))
}

#[test]
fn first_load_signs_keys_are_kept_and_a_zsk_roll_runs_through() {
    let root = tmp("roll");
    let origin = Name::parse("exec.test.", None).unwrap();
    let d = ZoneDnssec::new(quick(), origin.clone(), root.clone());
    let clock = Cell::new(1_800_000_000u64);
    let now = || clock.get();
    let z = d.load(zone(), &now).unwrap();
    let (dnskey, ksig, zsig) = tags(&z);
    assert_eq!(dnskey.len(), 2, "KSK and ZSK published at once");
    assert_eq!(ksig.len(), 1);
    assert_eq!(zsig.len(), 1);
    assert_ne!(ksig, zsig);
    let state = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(state.keys.len(), 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for k in &state.keys {
            let p = d.zone_dir().join(k.file.as_ref().unwrap());
            let mode = std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
    let old_zsk = zsig[0];

    // Initial signing settles; CDS goes out and the operator confirms the DS.
    let mut snaps: Vec<(Vec<u16>, Vec<u16>, Vec<u16>)> = vec![tags(&z)];
    for _ in 0..8 {
        clock.set(clock.get() + 1);
        d.tick(&now, &mut |z| {
            snaps.push(tags(&z));
            Ok(())
        })
        .unwrap();
    }
    files::write_request(&d.zone_dir(), Request::DsSeen, clock.get()).unwrap();
    d.tick(&now, &mut |z| {
        snaps.push(tags(&z));
        Ok(())
    })
    .unwrap();
    let s = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert!(
        s.rolls.is_empty() && s.keys.iter().any(|k| k.ds.is_in()),
        "{s:?}"
    );

    // The operator asks; the server serves each step as the clock moves on.
    files::write_request(&d.zone_dir(), Request::Roll(Role::Zsk), clock.get()).unwrap();
    for _ in 0..40 {
        clock.set(clock.get() + 1);
        d.tick(&now, &mut |z| {
            snaps.push(tags(&z));
            Ok(())
        })
        .unwrap();
    }
    assert!(files::pending(&d.zone_dir()).is_empty());
    let last = snaps.last().unwrap().clone();
    let new_zsk = last.2[0];
    assert_ne!(new_zsk, old_zsk);
    // Pre-publication: the new DNSKEY before its signatures, the old one after.
    let first_new_key = snaps.iter().position(|s| s.0.contains(&new_zsk)).unwrap();
    let first_new_sig = snaps.iter().position(|s| s.2 == vec![new_zsk]).unwrap();
    let old_key_gone = snaps.iter().position(|s| !s.0.contains(&old_zsk)).unwrap();
    assert!(first_new_key < first_new_sig, "{snaps:?}");
    assert!(first_new_sig < old_key_gone, "{snaps:?}");
    assert!(snaps.iter().all(|s| s.1 == ksig), "KSK unchanged");
    let state = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(state.keys.len(), 2);
    assert_eq!(state.history.len(), 2, "initial signing and the ZSK roll");

    // A restart reads the state and serves the same keys.
    let d2 = ZoneDnssec::new(quick(), origin, root.clone());
    let z2 = d2.load(zone(), &now).unwrap();
    assert_eq!(tags(&z2), last);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn bind_keys_are_adopted_and_bad_input_keeps_nothing_unsigned() {
    let root = tmp("adopt");
    let origin = Name::parse("exec.test.", None).unwrap();
    let d = ZoneDnssec::new(Policy::default(), origin.clone(), root.clone());
    let k = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
    write_bind(&origin, &k, &d.key_dir()).unwrap();
    let clock = Cell::new(1_800_000_000u64);
    let now = || clock.get();
    let z = d.load(zone(), &now).unwrap();
    assert_eq!(tags(&z), (vec![k.tag], vec![k.tag], vec![k.tag]));
    let s = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(
        s.keys[0].ds,
        Rec::In { since: 0 },
        "the DS is taken as published"
    );
    assert!(s.rolls.is_empty());

    // A corrupt key file: the zone does not load (a restart refuses it).
    let file = d.zone_dir().join(s.keys[0].file.as_ref().unwrap());
    std::fs::write(
        &file,
        "Private-key-format: v1.3\nAlgorithm: 13\nPrivateKey: !!\n",
    )
    .unwrap();
    let d2 = ZoneDnssec::new(Policy::default(), origin.clone(), root.clone());
    let Err(e) = d2.load(zone(), &now) else {
        panic!("a corrupt key file must stop the load")
    };
    let text = e.to_string();
    assert!(text.contains(".private") || text.contains(".key"), "{e}");
    // A key file the operator must fix or restore.
    assert!(matches!(e, blason_dnssec::Error::Key { .. }), "{e}");
    assert_eq!(blason_zone::Blame::fault(&e), blason_zone::Fault::Input);

    // The clock behind the state: served with the state's keys, nothing planned.
    write_bind(&origin, &k, &d.key_dir()).unwrap();
    let d3 = ZoneDnssec::new(Policy::default(), origin.clone(), root.clone());
    clock.set(1_700_000_000);
    let z = d3.load(zone(), &now).unwrap();
    assert_eq!(tags(&z).2, vec![k.tag]);
    let s2 = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(s2.last_seen, s.last_seen.max(s2.last_seen));

    // The state folder gone mid-run: the tick fails, nothing is published.
    std::fs::remove_dir_all(&root).unwrap();
    let mut published = false;
    assert!(d3
        .tick(&now, &mut |_| {
            published = true;
            Ok(())
        })
        .is_err());
    assert!(!published);
}

#[test]
fn a_state_that_cannot_be_saved_stops_the_steps_until_it_can() {
    let root = tmp("save");
    let origin = Name::parse("exec.test.", None).unwrap();
    let d = ZoneDnssec::new(quick(), origin.clone(), root.clone());
    let clock = Cell::new(1_800_000_000u64);
    let now = || clock.get();
    let first = tags(&d.load(zone(), &now).unwrap());
    // Saving needs a temporary file; a folder in its place makes every save fail.
    let blocker = d
        .zone_dir()
        .join(format!(".keystate.toml.tmp{}", std::process::id()));
    std::fs::create_dir(&blocker).unwrap();
    let mut published = Vec::new();
    for _ in 0..6 {
        clock.set(clock.get() + 1);
        if let Err(e) = d.tick(&now, &mut |z| {
            published.push(tags(&z));
            Ok(())
        }) {
            assert!(e.to_string().contains("keystate"), "{e}");
            assert!(matches!(e, blason_dnssec::Error::State(_)), "{e}");
        }
    }
    // At most the one step whose save failed after its swap went out; no later ones.
    assert!(published.len() <= 1, "{published:?}");
    let saved = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(
        saved.history.len(),
        0,
        "initial signing not recorded as done yet"
    );
    std::fs::remove_dir(&blocker).unwrap();
    clock.set(clock.get() + 1);
    d.tick(&now, &mut |z| {
        published.push(tags(&z));
        Ok(())
    })
    .unwrap();
    let saved = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert_eq!(saved.history.len(), 1, "{saved:?}");
    // The keys never changed on the way.
    assert!(published.iter().all(|p| p.0 == first.0), "{published:?}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn going_insecure_publishes_the_delete_form_then_serves_unsigned() {
    let root = tmp("insecure");
    let origin = Name::parse("exec.test.", None).unwrap();
    let d = ZoneDnssec::new(quick(), origin.clone(), root.clone());
    let clock = Cell::new(1_800_000_000u64);
    let now = || clock.get();
    d.load(zone(), &now).unwrap();
    for _ in 0..8 {
        clock.set(clock.get() + 1);
        d.tick(&now, &mut |_| Ok(())).unwrap();
    }
    files::write_request(&d.zone_dir(), Request::DsSeen, clock.get()).unwrap();
    d.tick(&now, &mut |_| Ok(())).unwrap();

    // `dnssec = false` on a signed zone: a restart with the policy disabled.
    let off = Policy {
        enabled: false,
        ..quick()
    };
    let d = ZoneDnssec::new(off, origin, root.clone());
    let z = d.load(zone(), &now).unwrap();
    let cds = z.apex().rrset(Rtype::CDS).unwrap();
    assert_eq!(
        cds.rdatas().collect::<Vec<_>>(),
        vec![&blason_dnssec::sign::CDS_DELETE[..]]
    );
    let mut last = None;
    for _ in 0..40 {
        clock.set(clock.get() + 1);
        // The operator confirms the parent dropped the DS (refused files are ignored).
        let _ = files::write_request(&d.zone_dir(), Request::DsSeen, clock.get());
        d.tick(&now, &mut |z| {
            last = Some(z);
            Ok(())
        })
        .unwrap();
    }
    let z = last.expect("a new snapshot");
    assert!(z.apex().rrset(Rtype::DNSKEY).is_none());
    assert!(z.apex().rrset(Rtype::CDS).is_none());
    assert!(z.apex().rrsigs(Rtype::SOA).is_none());
    let s = StateDir::open(&root)
        .unwrap()
        .load("exec.test.")
        .unwrap()
        .unwrap();
    assert!(s.keys.is_empty() && s.rolls.is_empty(), "{s:?}");
    assert!(
        std::fs::read_dir(d.key_dir()).unwrap().next().is_none(),
        "key files deleted"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// Every RRSIG rdata of a snapshot, by owner and covered type.
fn all_sigs(z: &Zone) -> Vec<(String, u16, Vec<u8>)> {
    let mut v = Vec::new();
    for n in z.nodes().iter() {
        for r in n.rrsets.iter().filter(|r| r.rtype == Rtype::RRSIG) {
            for s in r.rdatas() {
                v.push((n.name.to_string(), r.covers.0, s.to_vec()));
            }
        }
    }
    v
}

#[test]
fn signatures_are_refreshed_before_they_expire_a_few_at_a_time() {
    let root = tmp("refresh");
    let origin = Name::parse("exec.test.", None).unwrap();
    let policy = Policy {
        scheme: KeyScheme::Csk,
        ..quick()
    };
    let d = ZoneDnssec::new(policy.clone(), origin, root.clone());
    let clock = Cell::new(1_800_000_000u64);
    let now = || clock.get();
    let mut served = d.load(zone(), &now).unwrap();
    let mut publishes = 0;
    let mut partial = 0;
    for _ in 0..(40 * 24) {
        clock.set(clock.get() + 3600);
        let before = all_sigs(&served);
        let mut next = None;
        d.tick(&now, &mut |z| {
            next = Some(z);
            Ok(())
        })
        .unwrap();
        if let Some(z) = next {
            publishes += 1;
            let after = all_sigs(&z);
            let kept = after.iter().filter(|s| before.contains(s)).count();
            if kept > 0 && kept < after.len() {
                partial += 1;
            }
            assert!(
                z.serial() > served.serial(),
                "serial must move forward: {:?} -> {:?} at {}",
                served.serial(),
                z.serial(),
                clock.get()
            );
            served = z;
        }
        // Nothing served is near expiry: the refresh window is kept, give or take a batch.
        let t = clock.get();
        for (owner, covers, s) in all_sigs(&served) {
            let exp = u64::from(u32::from_be_bytes([s[8], s[9], s[10], s[11]]));
            assert!(
                exp > t + policy.signature_refresh - 2 * 3600,
                "{owner} RRSIG({covers}) expires at {exp}, now {t}"
            );
        }
    }
    // 40 days hold two or three validity cycles of about a dozen passes each.
    assert!((3..200).contains(&publishes), "{publishes} snapshots");
    assert!(partial > 0, "no pass re-signed only part of the zone");
    let _ = std::fs::remove_dir_all(&root);
}
