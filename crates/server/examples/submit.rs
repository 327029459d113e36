//! Submitted edits through the whole road of a running server (a benchmark, not a
//! test): `Server::submit` of one-record changes to a signed zone, from submit to the
//! receipt (signed incrementally, journaled with fdatasync, swapped in: served and
//! durable). First one submitter at a time (latency), then many at once (group
//! commit: every submission waiting shares one signing pass and one journal write).
//! Each change replaces the A RRset of a name the zone has (a host's new address);
//! with NEW=1 it adds a name instead (a new host: the node list grows, O(zone)).
//!
//!     cargo run --release -p blason-server --example submit -- ZONEFILE ORIGIN [CHANGES] [THREADS] [DIR]

use blason_server::dnssec::ZoneDnssec;
use blason_server::{Config, Server, ZoneSource, ZoneSpec};
use blason_zone::update::Edit;
use blason_zone::{Name, Rtype};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn report(what: &str, mut t: Vec<Duration>) {
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p).round() as usize];
    println!(
        "  {what:<40} n={:<5} median {:>9.1?}  p99 {:>9.1?}  max {:>9.1?}",
        t.len(),
        q(0.5),
        q(0.99),
        t[t.len() - 1]
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: submit ZONEFILE ORIGIN [CHANGES] [THREADS] [DIR]");
        std::process::exit(2);
    }
    let origin = Name::parse(&args[2], None).expect("origin");
    let changes: usize = args.get(3).map_or(1000, |a| a.parse().expect("CHANGES"));
    let threads: usize = args
        .get(4)
        .map_or(32, |a| a.parse().expect("THREADS"))
        .max(1);
    let dir = std::path::PathBuf::from(args.get(5).map_or("target/bench/submit", String::as_str));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut spec = ZoneSpec::new(origin.clone(), ZoneSource::File(args[1].clone().into()));
    spec.journal = Some(dir.join("zone").join("journal"));
    spec.dnssec = Some(Arc::new(ZoneDnssec::new(
        Default::default(),
        origin.clone(),
        dir.clone(),
    )));
    let mut cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], vec![spec]);
    cfg.udp_threads = 1;
    let t = Instant::now();
    let server = Server::start(cfg).expect("start");
    println!(
        "started (signed whole, journal written): {:.2?}",
        t.elapsed()
    );

    let new_names = std::env::var_os("NEW").is_some_and(|v| v != "0");
    // Names with an A RRset, spread over the zone.
    let hosts: Vec<Name> = {
        let z = blason_zone::load::load(&origin, std::path::Path::new(&args[1]))
            .expect("load")
            .zone;
        let nodes = z.nodes();
        nodes
            .iter()
            .filter(|n| {
                n.is_authoritative() && n.rrset(Rtype::A).is_some() && n.rrset(Rtype::NS).is_none()
            })
            .step_by((nodes.len() / (changes * 3)).max(1))
            .map(|n| n.name.clone())
            .collect()
    };
    let edit = |i: usize| {
        let rdata = [198, 51, (i >> 8) as u8, i as u8];
        if new_names {
            Edit::AddRr {
                name: Name::parse(&format!("sub{i}.{}", args[2]), None).unwrap(),
                rtype: Rtype::A,
                ttl: 300,
                rdata: rdata.to_vec().into(),
            }
        } else {
            let name = hosts[i % hosts.len()].clone();
            Edit::ReplaceRrset {
                name,
                rrset: blason_zone::RRset::new(Rtype::A, 300, &[&rdata]),
            }
        }
    };
    // One submitter: each change waits for its own commit.
    let mut times = Vec::with_capacity(changes);
    for i in 0..changes {
        let t = Instant::now();
        server.submit(&origin, vec![edit(i)]).expect("submit");
        times.push(t.elapsed());
    }
    report("one submitter, submit -> served+durable", times);

    // Many at once: the same count of changes from `threads` submitters.
    let t = Instant::now();
    let per = changes.div_ceil(threads);
    let (lat, serials): (Vec<Duration>, Vec<u32>) = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|k| {
                let (server, origin, edit) = (&server, &origin, &edit);
                s.spawn(move || {
                    (0..per)
                        .map(|j| {
                            let t = Instant::now();
                            let r = server
                                .submit(origin, vec![edit(changes + k * per + j)])
                                .expect("submit");
                            (t.elapsed(), r.serial)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).unzip()
    });
    let total = t.elapsed();
    let n = lat.len();
    let mut commits = serials.clone();
    commits.sort();
    commits.dedup();
    report(&format!("{threads} submitters at once"), lat);
    println!(
        "  {n} changes in {total:.2?}: {:.0} changes/s, {} commits ({:.1} changes a commit)",
        n as f64 / total.as_secs_f64(),
        commits.len(),
        n as f64 / commits.len() as f64
    );
    server.shutdown();
}
