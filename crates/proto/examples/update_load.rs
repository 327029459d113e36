//! Sustained dynamic updates (RFC 2136, TSIG-signed, over UDP) against one server,
//! for benchmarks, not tests: CLIENTS threads each send their next update as soon as
//! the last is answered. Half add a name the zone does not have; half replace the A
//! record of a name it has (names read from the zone file). Prints the rate of
//! updates answered NOERROR and the time to NOERROR: p50, p99, max.
//!
//!     cargo run --release -p blason-proto --example update_load -- \
//!         ADDR:PORT ZONE ZONEFILE KEYNAME:ALGORITHM:SECRET UPDATES CLIENTS

use blason_proto::tsig::{self, Algorithm, Key, Position};
use blason_proto::{Message, MessageBuilder, Record, Section};
use blason_zone::{Name, Rtype};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 7 {
        eprintln!("usage: update_load ADDR:PORT ZONE ZONEFILE KEY:ALG:SECRET UPDATES CLIENTS");
        std::process::exit(2);
    }
    let server: SocketAddr = a[1].parse().expect("ADDR:PORT");
    let zone = Name::parse(&a[2], None).expect("ZONE");
    let text = std::fs::read_to_string(&a[3]).expect("ZONEFILE");
    let mut k = a[4].splitn(3, ':');
    let (kn, ka, ks) = (k.next().unwrap(), k.next().unwrap(), k.next().unwrap());
    let key = Key::from_base64(
        Name::parse(&format!("{}.", kn.trim_end_matches('.')), None).unwrap(),
        Algorithm::parse(ka).expect("algorithm"),
        ks,
    )
    .expect("key");
    let total: usize = a[5].parse().expect("UPDATES");
    let clients: usize = a[6].parse().expect("CLIENTS");

    // Names with an A record, from lines "name [ttl] IN A addr" (relative owners).
    let mut existing: Vec<Name> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let is_a = matches!(f.as_slice(), [o, "IN", "A", _] | [o, _, "IN", "A", _]
            if !o.starts_with(['@', '*', ';', '$']));
        if is_a {
            if let Ok(n) = Name::parse(&format!("{}.{}", f[0], zone), None) {
                if existing.last() != Some(&n) {
                    existing.push(n);
                }
            }
        }
        if existing.len() >= 200_000 {
            break;
        }
    }
    assert!(!existing.is_empty(), "no A records found in the zone file");
    let existing = Arc::new(existing);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(total)));
    let failed = Arc::new(AtomicUsize::new(0));
    let run = format!("{}", std::process::id() % 10_000);
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (key, zone, existing, next, latencies, failed, run) = (
                key.clone(),
                zone.clone(),
                existing.clone(),
                next.clone(),
                latencies.clone(),
                failed.clone(),
                run.clone(),
            );
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let addr = vec![192, 0, 2, (i % 250) as u8 + 1];
                    let mut b = MessageBuilder::new(i as u16, 5 << 11);
                    b.question(&zone, Rtype::SOA, 1);
                    let rec = |owner: &Name, class: u16, ttl: u32, rdata: Vec<u8>| Record {
                        owner: owner.clone(),
                        rtype: Rtype::A,
                        class,
                        ttl,
                        rdata,
                    };
                    if i % 2 == 0 {
                        let n = Name::parse(&format!("u{run}-{i}.load.{zone}"), None).unwrap();
                        b.record(Section::Authority, &rec(&n, 1, 300, addr));
                    } else {
                        let n = &existing[(i / 2) % existing.len()];
                        b.record(Section::Authority, &rec(n, 255, 0, Vec::new()));
                        b.record(Section::Authority, &rec(n, 1, 300, addr));
                    }
                    let mut q = b.finish();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    tsig::sign(&mut q, &key, now, Position::Request, 0);
                    let t = Instant::now();
                    if s.send_to(&q, server).is_err() {
                        failed.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    let mut buf = [0u8; 2048];
                    let ok = loop {
                        match s.recv(&mut buf) {
                            Ok(n) => match Message::parse(&buf[..n]) {
                                Ok(m) if m.id == i as u16 => break m.rcode() == 0,
                                _ => continue,
                            },
                            Err(_) => break false,
                        }
                    };
                    if ok {
                        mine.push(t.elapsed());
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let pct = |p: f64| {
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "updates {total} ok {} failed {} in {secs:.1} s: {:.0}/s, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        l.len(),
        failed.load(Ordering::Relaxed),
        l.len() as f64 / secs,
        pct(0.50),
        pct(0.99),
        l.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
}
