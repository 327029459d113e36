//! Times an AXFR as a server sends it (a benchmark tool, not a test): each message is
//! walked only far enough to count its records and spot the closing SOA, so the
//! client costs little beside the server.
//!
//!     cargo run --release -p blason-proto --example axfr_time -- ADDR:PORT ZONE [RUNS]

use blason_proto::MessageBuilder;
use blason_zone::{Name, Rtype};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// Skips a possibly compressed name.
fn skip_name(m: &[u8], mut p: usize) -> usize {
    loop {
        let l = m[p] as usize;
        if l == 0 {
            return p + 1;
        }
        if l & 0xC0 == 0xC0 {
            return p + 2;
        }
        p += 1 + l;
    }
}

/// The records of a message, and how many are SOAs.
fn walk(m: &[u8]) -> (usize, usize) {
    let qd = u16::from_be_bytes([m[4], m[5]]) as usize;
    let an = u16::from_be_bytes([m[6], m[7]]) as usize;
    let mut p = 12;
    for _ in 0..qd {
        p = skip_name(m, p) + 4;
    }
    let mut soas = 0;
    for _ in 0..an {
        p = skip_name(m, p);
        if u16::from_be_bytes([m[p], m[p + 1]]) == 6 {
            soas += 1;
        }
        let rdlen = u16::from_be_bytes([m[p + 8], m[p + 9]]) as usize;
        p += 10 + rdlen;
    }
    (an, soas)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: axfr_time ADDR:PORT ZONE [RUNS]");
        std::process::exit(2);
    }
    let addr: std::net::SocketAddr = args[1].parse().expect("ADDR:PORT");
    let zone = Name::parse(&args[2], None).expect("zone");
    let runs: usize = args.get(3).map_or(3, |r| r.parse().expect("RUNS"));
    let mut best = f64::MAX;
    for _ in 0..runs {
        let q = MessageBuilder::query(7, &zone, Rtype(252), false, None);
        let t = Instant::now();
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut framed = (q.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&q);
        s.write_all(&framed).unwrap();
        let (mut messages, mut bytes, mut records, mut soas) = (0usize, 0usize, 0usize, 0usize);
        let mut buf = vec![0u8; 65535];
        while soas < 2 {
            let mut len = [0u8; 2];
            if s.read_exact(&mut len).is_err() {
                break;
            }
            let n = u16::from_be_bytes(len) as usize;
            s.read_exact(&mut buf[..n]).unwrap();
            let (r, o) = walk(&buf[..n]);
            messages += 1;
            bytes += n;
            records += r;
            soas += o;
        }
        let secs = t.elapsed().as_secs_f64();
        best = best.min(secs);
        println!(
            "{messages} messages, {records} records, {bytes} bytes in {:.0} ms",
            secs * 1000.0
        );
    }
    println!("best {:.0} ms", best * 1000.0);
}
