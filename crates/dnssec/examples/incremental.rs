//! Incremental re-signing benchmark (not a test): on a large zone, the time from an
//! accepted change to the re-signed snapshot being served (apply, catalog, swap).
//!
//!     cargo run --release -p blason-dnssec --example incremental -- \
//!         ZONEFILE ORIGIN [CHANGES] [ADDS] [nsec|nsec3|both]

use arc_swap::ArcSwap;
use blason_answer::{respond, Catalog, Options, Transport};
use blason_dnssec::keys::{Algorithm, Key, FLAG_SEP, FLAG_ZONE};
use blason_dnssec::sign::incremental::{apply, refresh, Change};
use blason_dnssec::sign::{sign_zone, Denial, Nsec3Params, SignOptions, Validity, ZoneKeys};
use blason_zone::model::{flags, RRset};
use blason_zone::{Name, Rtype, Zone};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A fixed "now" (the library never reads the clock; neither does its benchmark).
const NOW: u32 = 1_800_000_000;
const DAY: u32 = 86_400;

fn report(what: &str, mut t: Vec<Duration>) {
    if t.is_empty() {
        return;
    }
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {what:<44} n={:<5} median {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        t.len(),
        q(0.5),
        q(0.99),
        t[t.len() - 1]
    );
}

/// A query for `name` (wire) and `qtype` with EDNS (1232) and DO set, by the one codec.
fn query(name: &[u8], qtype: Rtype) -> Vec<u8> {
    let name = blason_zone::Name::from_wire(name).expect("a wire name");
    blason_proto::MessageBuilder::query(0x1234, &name, qtype, false, Some((1232, true)))
}

/// Mean time per query over `queries` (three passes, the best kept).
fn query_time(cat: &Catalog, queries: &[Vec<u8>]) -> Duration {
    let mut out = Vec::with_capacity(4096);
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        for q in queries {
            respond(cat, q, Transport::Udp, &mut out);
            std::hint::black_box(&out);
        }
        best = best.min(t.elapsed() / queries.len() as u32);
    }
    best
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: incremental ZONEFILE ORIGIN [CHANGES] [ADDS] [nsec|nsec3|both]");
        std::process::exit(2);
    }
    let origin = Name::parse(&args[2], None).expect("origin");
    let changes: usize = args.get(3).map_or(1000, |a| a.parse().expect("CHANGES"));
    let adds: usize = args.get(4).map_or(5, |a| a.parse().expect("ADDS"));
    let modes = args.get(5).map_or("both", String::as_str);
    let t = Instant::now();
    let loaded = blason_zone::load::load(&origin, std::path::Path::new(&args[1])).expect("load");
    let unsigned = loaded.zone;
    println!(
        "loaded {} nodes in {:.2?}",
        unsigned.nodes().len(),
        t.elapsed()
    );
    let keys = vec![
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap(),
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap(),
    ];
    let zk = ZoneKeys::by_flags(&keys);
    // Names holding an A record, authoritative and not at a cut: the dynamic-DNS case.
    let targets: Vec<Name> = {
        let nodes = unsigned.nodes();
        let step = (nodes.len() / (changes * 2).max(1)).max(1);
        nodes
            .iter()
            .step_by(step)
            .filter(|n| {
                n.is_authoritative()
                    && !n.has(flags::DELEGATION)
                    && !n.has(flags::APEX)
                    && n.rrset(Rtype::A).is_some()
            })
            .map(|n| n.name.clone())
            .take(changes)
            .collect()
    };

    // Existing names (A) and names that do not exist, spread over the zone.
    let queries: Vec<Vec<u8>> = {
        let nodes = unsigned.nodes();
        let step = (nodes.len() / 100_000).max(1);
        nodes
            .iter()
            .step_by(step)
            .flat_map(|n| {
                let mut nx = vec![3, b'n', b'x', b'q'];
                nx.extend_from_slice(n.name.as_wire());
                [query(n.name.as_wire(), Rtype::A), query(&nx, Rtype::A)]
            })
            .collect()
    };

    for denial in [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())] {
        let nsec3 = matches!(denial, Denial::Nsec3(_));
        if (modes == "nsec" && nsec3) || (modes == "nsec3" && !nsec3) {
            continue;
        }
        let label = match denial {
            Denial::Nsec => "NSEC",
            Denial::Nsec3(_) => "NSEC3",
        };
        let mut opts = SignOptions::new(
            denial,
            Validity {
                inception: NOW - 3600,
                expiration: NOW + 14 * DAY,
                jitter: 3 * DAY,
            },
        );
        opts.threads = 0;
        let t = Instant::now();
        let signed = sign_zone(&unsigned, &zk, &opts).expect("sign");
        println!(
            "{label}: whole-zone signing {:.2?} ({} nodes, {} RRSIGs)",
            t.elapsed(),
            signed.zone.nodes().len(),
            signed.stats.rrsigs
        );
        let zone = Arc::new(signed.zone);
        let served = ArcSwap::from_pointee(Catalog::new(vec![zone.clone()], Options::default()));
        let fresh = query_time(&served.load(), &queries);
        let mut current = zone;

        // One A record changed at an existing name.
        let mut times = Vec::with_capacity(targets.len());
        let mut rebuilt = 0;
        for (k, name) in targets.iter().enumerate() {
            let addr = [198, 51, (k >> 8) as u8, k as u8];
            let change = Change::Replace {
                name: name.clone(),
                rrset: RRset::new(Rtype::A, 300, &[&addr]),
            };
            let t = Instant::now();
            let (next, stats) = apply(&current, &[change], &zk, &opts).expect("apply");
            let next = Arc::new(next);
            let cat = served.load().with_zone(next.clone());
            served.store(Arc::new(cat));
            times.push(t.elapsed());
            rebuilt += stats.rebuilt as usize;
            current = next;
        }
        // Served: the last change is visible through the swapped catalog.
        let last = targets.last().expect("targets");
        let cat = served.load();
        let z = &cat.zones()[0];
        let i = z.find(last.as_wire()).expect("name");
        assert!(z.node(i).rrsigs(Rtype::A).is_some());
        report(
            &format!("change one A (apply+catalog+swap), {rebuilt} rebuilt"),
            times,
        );

        // Answering after the changes (chunks copied, positions no longer by shift)
        // against the freshly signed zone, and the same data rebuilt flat.
        let changed = query_time(&served.load(), &queries);
        // Kept until the end: freeing a whole zone makes the allocator's next large
        // request consolidate its free lists (a one-off pause, not the change's).
        let flat_zone = Arc::new(Zone::from_nodes(
            current.origin(),
            current.class(),
            current.nodes().to_vec(),
        ));
        let flat = query_time(
            &Catalog::new(vec![flat_zone.clone()], Options::default()),
            &queries,
        );
        println!(
            "  answering ({} queries, half NXDOMAIN, DO): signed {} ns/q, after the changes {} ns/q, rebuilt {} ns/q",
            queries.len(),
            fresh.as_nanos(),
            changed.as_nanos(),
            flat.as_nanos()
        );

        // A new name (names change: O(zone) rebuild, only new data signed).
        let mut times = Vec::new();
        for k in 0..adds {
            let name = Name::parse(&format!("new-host-{k}"), Some(&origin)).unwrap();
            let change = Change::Replace {
                name,
                rrset: RRset::new(Rtype::A, 300, &[&[198, 51, 100, k as u8]]),
            };
            let t = Instant::now();
            let (next, _) = apply(&current, &[change], &zk, &opts).expect("apply");
            let next = Arc::new(next);
            let cat = served.load().with_zone(next.clone());
            served.store(Arc::new(cat));
            times.push(t.elapsed());
            current = next;
        }
        report("add one name (splice+catalog+swap)", times);
        // Names added: positions now found by a search over the chunk starts.
        let spliced = query_time(&served.load(), &queries);
        println!(
            "  answering after the names were added: {} ns/q",
            spliced.as_nanos()
        );

        // Those names removed again.
        let mut times = Vec::new();
        for k in 0..adds {
            let name = Name::parse(&format!("new-host-{k}"), Some(&origin)).unwrap();
            let change = Change::Delete {
                name,
                rtype: Rtype::A,
            };
            let t = Instant::now();
            let (next, _) = apply(&current, &[change], &zk, &opts).expect("apply");
            let next = Arc::new(next);
            let cat = served.load().with_zone(next.clone());
            served.store(Arc::new(cat));
            times.push(t.elapsed());
            current = next;
        }
        report("remove one name (splice+catalog+swap)", times);

        // A new delegation moves a cut: the general rebuild road.
        let mut times = Vec::new();
        for k in 0..adds.min(3) {
            let name = Name::parse(&format!("new-cut-{k}"), Some(&origin)).unwrap();
            let ns = Name::parse("ns.example.net.", None).unwrap();
            let change = Change::Replace {
                name,
                rrset: RRset::new(Rtype::NS, 3600, &[ns.as_wire()]),
            };
            let t = Instant::now();
            let (next, stats) = apply(&current, &[change], &zk, &opts).expect("apply");
            assert!(stats.rebuilt);
            let next = Arc::new(next);
            let cat = served.load().with_zone(next.clone());
            served.store(Arc::new(cat));
            times.push(t.elapsed());
            current = next;
        }
        report("add a delegation (rebuild+catalog+swap)", times);

        drop(flat_zone);
        // Refresh passes: nothing due, then one hour's worth of the jitter spread.
        let zone: &Zone = &current;
        let now = (NOW - 3600) as u64;
        let t = Instant::now();
        let r = refresh(zone, &zk, &opts, now, 3600).expect("refresh");
        println!(
            "  refresh, nothing due (scan only): {:.2?} ({})",
            t.elapsed(),
            if r.is_none() { "none due" } else { "some due" }
        );
        let now = (NOW + 11 * DAY) as u64;
        opts.validity = Validity {
            inception: now as u32 - 3600,
            expiration: now as u32 + 14 * DAY,
            jitter: 3 * DAY,
        };
        let t = Instant::now();
        let r = refresh(zone, &zk, &opts, now, 3600).expect("refresh");
        let el = t.elapsed();
        if let Some((_, st)) = r {
            println!(
                "  refresh, one hour of expirations due: {el:.2?} ({} RRsets, {} RRSIGs re-signed; next expiry in {:.1} h)",
                st.rrsets,
                st.rrsigs,
                (st.earliest_expiry.unwrap_or(now) - now) as f64 / 3600.0
            );
        }
    }
}
