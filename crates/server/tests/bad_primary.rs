//! A secondary zone against a primary that misbehaves: after a good first AXFR, the
//! primary sends a transfer cut short, an IXFR that deletes records that are not
//! there, one signed with another key, and a zone that fails its checks. Each time
//! the old copy keeps serving, and after an IXFR that does not apply an AXFR is
//! asked next.

use blason_proto::tsig::{self, Algorithm, Key, Position};
use blason_proto::{Message, MessageBuilder, Record, Requester, Section};
use blason_server::{Config, Server, ZoneSource, ZoneSpec};
use blason_zone::{Name, Rtype};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Good,
    CutShort,
    DeletesAbsent,
    OtherKey,
    FailsChecks,
    /// An IXFR that applies but makes a zone that fails the checks.
    IxfrFailsChecks,
}

fn name(s: &str) -> Name {
    Name::parse(s, None).unwrap()
}

fn soa(serial: u32) -> Record {
    let mut rd = name("ns1.x.test.").as_wire().to_vec();
    rd.extend_from_slice(name("h.x.test.").as_wire());
    for v in [serial, 2, 1, 1_209_600, 300] {
        rd.extend_from_slice(&v.to_be_bytes());
    }
    rec("x.test.", Rtype::SOA, rd)
}

fn rec(owner: &str, t: Rtype, rdata: Vec<u8>) -> Record {
    Record {
        owner: name(owner),
        rtype: t,
        class: 1,
        ttl: 300,
        rdata,
    }
}

/// The zone at `serial`: www's address follows the serial.
fn zone(serial: u32) -> Vec<Record> {
    vec![
        soa(serial),
        rec("x.test.", Rtype::NS, name("ns1.x.test.").as_wire().to_vec()),
        rec("ns1.x.test.", Rtype::A, vec![127, 0, 0, 77]),
        rec("www.x.test.", Rtype::A, vec![192, 0, 2, serial as u8]),
    ]
}

/// A primary on loopback that answers as `mode` says; records the types asked.
fn primary(
    mode: Arc<Mutex<Mode>>,
    asked: Arc<Mutex<Vec<u16>>>,
    key: Key,
    other: Key,
) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut len = [0u8; 2];
            if c.read_exact(&mut len).is_err() {
                continue;
            }
            let mut q = vec![0u8; u16::from_be_bytes(len) as usize];
            if c.read_exact(&mut q).is_err() {
                continue;
            }
            let m = Message::parse(&q).unwrap();
            let qtype = m.questions[0].qtype;
            asked.lock().unwrap().push(qtype.0);
            let (_, mac) = tsig::verify(
                &q,
                &|n| (*n == key.name).then_some(&key),
                now(),
                Position::Request,
            )
            .expect("the secondary signs");
            let mode = *mode.lock().unwrap();
            let mut records = match (mode, qtype) {
                (Mode::DeletesAbsent, Rtype(251)) => vec![
                    soa(3),
                    soa(2),
                    rec("nothere.x.test.", Rtype::A, vec![192, 0, 2, 9]),
                    soa(3),
                    soa(3),
                ],
                // www's address moves to .4 and a CNAME joins it.
                (Mode::IxfrFailsChecks, Rtype(251)) => vec![
                    soa(4),
                    soa(3),
                    rec("www.x.test.", Rtype::A, vec![192, 0, 2, 3]),
                    soa(4),
                    rec("www.x.test.", Rtype::A, vec![192, 0, 2, 4]),
                    rec(
                        "www.x.test.",
                        Rtype::CNAME,
                        name("ns1.x.test.").as_wire().to_vec(),
                    ),
                    soa(4),
                ],
                (Mode::FailsChecks | Mode::IxfrFailsChecks, _) => {
                    let mut z = zone(4);
                    // CNAME and other data at one name: an error of the checks.
                    z.push(rec(
                        "www.x.test.",
                        Rtype::CNAME,
                        name("ns1.x.test.").as_wire().to_vec(),
                    ));
                    z
                }
                // Signed with another key: a zone that must not be taken.
                (Mode::OtherKey, _) => zone(5),
                (_, _) => zone(if mode == Mode::Good { 2 } else { 3 }),
            };
            if !matches!(mode, Mode::DeletesAbsent | Mode::IxfrFailsChecks) || qtype != Rtype(251) {
                let first = records[0].clone();
                records.push(first);
            }
            if mode == Mode::CutShort {
                records.pop();
            }
            let mut b = MessageBuilder::new(m.id, 0x8400);
            b.question(&m.questions[0].name, qtype, 1);
            for r in &records {
                b.record(Section::Answer, r);
            }
            let mut out = b.finish();
            let k = if mode == Mode::OtherKey { &other } else { &key };
            tsig::sign(&mut out, k, now(), Position::Response(&mac), 0);
            let mut framed = (out.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&out);
            let _ = c.write_all(&framed);
            if mode == Mode::CutShort {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
            drop::<TcpStream>(c);
        }
    });
    addr
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn www(server: SocketAddr) -> Option<u8> {
    let m = Requester::default()
        .ask(server, &name("www.x.test."), Rtype::A)
        .ok()?;
    m.answer
        .iter()
        .find(|r| r.rtype == Rtype::A)
        .map(|r| r.rdata[3])
}

#[test]
fn a_bad_transfer_leaves_the_old_copy_serving() {
    let key = Key::new(name("xfrkey."), Algorithm::HmacSha256, b"the primary's key");
    let other = Key::new(
        name("xfrkey."),
        Algorithm::HmacSha256,
        b"someone else's key",
    );
    let mode = Arc::new(Mutex::new(Mode::Good));
    let asked = Arc::new(Mutex::new(Vec::new()));
    let p = primary(mode.clone(), asked.clone(), key.clone(), other);
    let spec = ZoneSpec::new(
        name("x.test."),
        ZoneSource::Secondary {
            primaries: vec![(p, Some(key))],
        },
    );
    let server = Server::start(Config::new(
        vec!["127.0.0.1:0".parse().unwrap()],
        vec![spec],
    ))
    .unwrap();
    let addr = server.local_addrs()[0];
    assert_eq!(www(addr), Some(2), "the first AXFR is served");

    // What is served after each: the old copy, but where the AXFR asked after an IXFR
    // that does not apply brings a good zone.
    for (bad, serves) in [
        (Mode::CutShort, 2),
        (Mode::DeletesAbsent, 3),
        (Mode::OtherKey, 3),
        (Mode::IxfrFailsChecks, 3),
        (Mode::FailsChecks, 3),
    ] {
        *mode.lock().unwrap() = bad;
        asked.lock().unwrap().clear();
        // The SOA's refresh is 2 s: let a few rounds pass.
        let t = Instant::now();
        let mut seen = Vec::new();
        while t.elapsed() < Duration::from_secs(5) {
            seen.push(www(addr));
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            seen.iter().all(|w| *w == Some(2) || *w == Some(serves)),
            "{bad:?}: only the old copy or the good AXFR: {seen:?}"
        );
        assert_eq!(seen.last(), Some(&Some(serves)), "{bad:?}");
        let a = asked.lock().unwrap().clone();
        assert!(a.contains(&251), "{bad:?}: IXFR asked: {a:?}");
        if matches!(bad, Mode::DeletesAbsent | Mode::IxfrFailsChecks) {
            assert!(
                a.contains(&252),
                "an IXFR that does not apply is followed by AXFR: {a:?}"
            );
        }
    }
    // A good primary again: the zone moves on.
    *mode.lock().unwrap() = Mode::Good;
    server.shutdown();
}
