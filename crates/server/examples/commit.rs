//! The commit road on a large signed zone (a benchmark, not a test): restoring the
//! zone from its journal against reading the zone file, and one-record changes from
//! submit to served and durable (incremental signing, changeset, journal append with
//! fdatasync, swap), one at a time and K to a commit.
//!
//!     cargo run --release -p blason-server --example commit -- ZONEFILE ORIGIN [CHANGES] [K] [DIR]

use arc_swap::ArcSwap;
use blason_dnssec::keys::{Algorithm, Key, FLAG_SEP, FLAG_ZONE};
use blason_dnssec::sign::incremental::{apply, Change};
use blason_dnssec::sign::{sign_zone, Denial, SignOptions, Validity, ZoneKeys};
use blason_server::journal::Journal;
use blason_zone::model::{flags, RRset};
use blason_zone::update;
use blason_zone::{Name, Rtype, Zone};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOW: u32 = 1_800_000_000;

fn report(what: &str, mut t: Vec<Duration>) {
    if t.is_empty() {
        return;
    }
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {what:<46} n={:<5} median {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        t.len(),
        q(0.5),
        q(0.99),
        t[t.len() - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: commit ZONEFILE ORIGIN [CHANGES] [K] [DIR]");
        std::process::exit(2);
    }
    let origin = Name::parse(&args[2], None).expect("origin");
    let changes: usize = args.get(3).map_or(1000, |a| a.parse().expect("CHANGES"));
    let k: usize = args.get(4).map_or(100, |a| a.parse().expect("K")).max(1);
    let dir = std::path::PathBuf::from(args.get(5).map_or("target/bench/journal", String::as_str));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let t = Instant::now();
    let unsigned = blason_zone::load::load(&origin, std::path::Path::new(&args[1]))
        .expect("load")
        .zone;
    let load_time = t.elapsed();
    println!(
        "read the zone file: {} nodes in {load_time:.2?}",
        unsigned.nodes().len()
    );

    let keys = vec![
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap(),
        Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap(),
    ];
    let zk = ZoneKeys::by_flags(&keys);
    let opts = SignOptions::new(
        Denial::Nsec,
        Validity {
            inception: NOW - 3600,
            expiration: NOW + 14 * 86_400,
            jitter: 3600,
        },
    );
    let t = Instant::now();
    let signed = sign_zone(&unsigned, &zk, &opts).expect("sign").zone;
    println!("signed whole (NSEC, P-256): {:.2?}", t.elapsed());

    let path = dir.join("journal");
    let t = Instant::now();
    let journal = Journal::create(&path, &signed).expect("journal");
    println!(
        "journal written whole: {:.2?}, {} MB",
        t.elapsed(),
        std::fs::metadata(&path).unwrap().len() >> 20
    );
    drop(journal);
    let t = Instant::now();
    let (mut journal, restored) = Journal::open(&path).expect("open").expect("a journal");
    let restore_time = t.elapsed();
    println!(
        "restored from the journal: {restore_time:.2?} ({:.2}x the zone file's read)",
        restore_time.as_secs_f64() / load_time.as_secs_f64()
    );
    assert_eq!(restored.zone.nodes().len(), signed.nodes().len());
    drop(restored);

    let served = ArcSwap::from_pointee(signed.clone());
    let want = changes + changes.div_ceil(k) * k;
    let targets: Vec<Name> = {
        let nodes = unsigned.nodes();
        let step = (nodes.len() / (want * 2).max(1)).max(1);
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
            .take(want)
            .collect()
    };
    let change = |i: usize, name: &Name| Change::Replace {
        name: name.clone(),
        rrset: RRset::new(Rtype::A, 300, &[&[198, 51, (i >> 8) as u8, i as u8]]),
    };
    // Submit -> served and durable, one change a commit.
    let mut cur: Arc<Zone> = Arc::new(signed);
    let mut times = Vec::with_capacity(changes);
    let mut fsyncs = Vec::with_capacity(changes);
    let all = Instant::now();
    for (i, name) in targets.iter().take(changes).enumerate() {
        let t = Instant::now();
        let (next, _) = apply(&cur, &[change(i, name)], &zk, &opts).expect("apply");
        let cs = update::diff(&cur, &next, 10_000).expect("a small changeset");
        let f = Instant::now();
        journal.append(&cs).expect("append");
        fsyncs.push(f.elapsed());
        let next = Arc::new(next);
        served.store(next.clone());
        cur = next;
        times.push(t.elapsed());
    }
    let rate = changes as f64 / all.elapsed().as_secs_f64();
    println!("one change a commit ({changes} commits): {rate:.0} changes/s");
    report("submit -> re-signed, journaled, swapped", times);
    report("  of which the journal append + fdatasync", fsyncs);

    // K changes a commit: what one fdatasync can carry for changes arriving together.
    let mut times = Vec::new();
    let rest: Vec<&Name> = targets.iter().skip(changes).collect();
    let all = Instant::now();
    let mut done = 0;
    for (b, chunk) in rest.chunks(k).enumerate() {
        let t = Instant::now();
        let batch: Vec<Change> = chunk
            .iter()
            .enumerate()
            .map(|(j, n)| change(b * k + j + 7, n))
            .collect();
        let (next, _) = apply(&cur, &batch, &zk, &opts).expect("apply");
        let cs = update::diff(&cur, &next, 1_000_000).expect("changeset");
        journal.append(&cs).expect("append");
        let next = Arc::new(next);
        served.store(next.clone());
        cur = next;
        times.push(t.elapsed());
        done += chunk.len();
    }
    if done > 0 {
        let rate = done as f64 / all.elapsed().as_secs_f64();
        println!("{k} changes a commit ({done} changes): {rate:.0} changes/s");
        report("a commit of K changes", times);
    }
    drop(journal);
    let t = Instant::now();
    let (_, r) = Journal::open(&path).expect("open").expect("a journal");
    println!(
        "restored with {} changesets: {:.2?}; serial {} (served {})",
        r.changesets,
        t.elapsed(),
        r.zone.serial().unwrap_or(0),
        cur.serial().unwrap_or(0)
    );
    assert_eq!(r.zone.serial(), cur.serial());
}
