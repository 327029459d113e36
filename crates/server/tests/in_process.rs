//! The server library driven in-process: start on a kernel-chosen loopback port, query,
//! reload (good and broken), shut down.

use blason_proto::{Message, MessageBuilder};
use blason_server::{Config, Server, ZoneSource, ZoneSpec};
use blason_zone::{Name, Rtype};
use std::net::UdpSocket;
use std::time::Duration;

fn query(id: u16) -> Vec<u8> {
    let name = Name::parse("www.example.test.", None).unwrap();
    MessageBuilder::query(id, &name, Rtype::A, true, None)
}

fn ask(sock: &UdpSocket, to: std::net::SocketAddr, id: u16) -> Vec<u8> {
    ask_q(sock, to, &query(id))
}

fn ask_q(sock: &UdpSocket, to: std::net::SocketAddr, q: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        sock.send_to(q, to).unwrap();
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return buf[..n].to_vec();
        }
    }
    panic!("no reply");
}

#[test]
fn start_query_reload_shutdown() {
    let dir = std::env::temp_dir().join(format!("blason-server-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("example.test.zone");
    std::fs::write(
        &zone,
        "@ 300 IN SOA ns hm 1 2 3 4 5\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n",
    )
    .unwrap();
    let spec = ZoneSpec {
        origin: Name::parse("example.test.", None).unwrap(),
        source: ZoneSource::File(zone.clone()),
        generator: None,
        dnssec: None,
        journal: None,
        serial: Default::default(),
        journal_size: None,
        lints: Vec::new(),
        xfr: Default::default(),
        settings: 0,
    };
    let mut cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], vec![spec]);
    cfg.udp_threads = 2;
    let server = Server::start(cfg).unwrap();
    let addr = server.local_addrs()[0];
    assert_ne!(addr.port(), 0);

    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let r = ask(&sock, addr, 0xbeef);
    assert_eq!(&r[..2], &[0xbe, 0xef]);

    let report = server.reload();
    assert_eq!((report.replaced, report.kept.len()), (1, 0));

    std::fs::remove_file(&zone).unwrap();
    let report = server.reload();
    assert_eq!((report.replaced, report.kept.len()), (0, 1));
    assert_eq!(report.kept[0].0.to_string(), "example.test.");
    let r = ask(&sock, addr, 0xcafe);
    assert_eq!(&r[..2], &[0xca, 0xfe]);

    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn duplicate_zone_and_missing_file_refuse_to_start() {
    let origin = Name::parse("example.test.", None).unwrap();
    let missing = ZoneSpec {
        origin: origin.clone(),
        source: ZoneSource::File("/nonexistent/blason/zone".into()),
        generator: None,
        dnssec: None,
        journal: None,
        serial: Default::default(),
        journal_size: None,
        lints: Vec::new(),
        xfr: Default::default(),
        settings: 0,
    };
    let cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], vec![missing.clone()]);
    let err = Server::start(cfg).err().expect("must refuse");
    assert!(err.to_string().contains("refusing to start"), "{err}");

    let cfg = Config::new(
        vec!["127.0.0.1:0".parse().unwrap()],
        vec![missing.clone(), missing],
    );
    let err = Server::start(cfg).err().expect("must refuse");
    assert!(err.to_string().contains("twice"), "{err}");
}

/// The served SOA serial.
fn served_serial(sock: &UdpSocket, to: std::net::SocketAddr) -> u32 {
    let apex = Name::parse("example.test.", None).unwrap();
    let r = Message::parse(&ask_q(
        sock,
        to,
        &MessageBuilder::query(0x1234, &apex, Rtype::SOA, false, None),
    ))
    .unwrap();
    assert_eq!(r.answer.len(), 1, "one SOA in the answer");
    let rd = &r.answer[0].rdata;
    let n = rd.len();
    u32::from_be_bytes(rd[n - 20..n - 16].try_into().unwrap())
}

fn www_a(sock: &UdpSocket, to: std::net::SocketAddr) -> [u8; 4] {
    let r = ask(sock, to, 7);
    r[r.len() - 4..].try_into().unwrap()
}

#[test]
fn every_change_moves_the_serial_and_a_restart_serves_the_journal() {
    let dir = std::env::temp_dir().join(format!("blason-server-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("example.test.zone");
    let text = |serial: u32, a: &str| {
        format!("@ 300 IN SOA ns hm {serial} 2 3 4 5\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\nwww 300 IN A {a}\n")
    };
    std::fs::write(&zone, text(1, "192.0.2.10")).unwrap();
    let spec = ZoneSpec {
        origin: Name::parse("example.test.", None).unwrap(),
        source: ZoneSource::File(zone.clone()),
        generator: None,
        dnssec: None,
        journal: Some(dir.join("state").join("journal")),
        serial: Default::default(),
        journal_size: None,
        lints: Vec::new(),
        xfr: Default::default(),
        settings: 0,
    };
    let start = || {
        let cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], vec![spec.clone()]);
        Server::start(cfg).unwrap()
    };
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();

    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_serial(&sock, addr), 1);
    // The file changed without its serial: the served one moves anyway.
    std::fs::write(&zone, text(1, "192.0.2.11")).unwrap();
    server.reload();
    assert_eq!(served_serial(&sock, addr), 2);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 11]);
    // Nothing changed: nothing moves.
    server.reload();
    assert_eq!(served_serial(&sock, addr), 2);
    server.shutdown();

    // Restarted: the journal's zone, serial included; the file (unchanged, at serial
    // 1) brings no change.
    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_serial(&sock, addr), 2);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 11]);
    server.shutdown();

    // Edited while stopped, serial moved forward by hand: that serial is served.
    std::fs::write(&zone, text(100, "192.0.2.12")).unwrap();
    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_serial(&sock, addr), 100);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 12]);
    // A second server on the same journal is refused.
    let cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], vec![spec.clone()]);
    let err = Server::start(cfg).err().expect("the journal is in use");
    assert!(err.to_string().contains("in use"), "{err}");
    server.shutdown();

    // Damage in the middle of the journal: moved aside, the zone loaded from its file.
    let journal = dir.join("state").join("journal");
    let mut bytes = std::fs::read(&journal).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    bytes.extend_from_slice(&[7; 100]);
    std::fs::write(&journal, &bytes).unwrap();
    std::fs::write(&zone, text(200, "192.0.2.13")).unwrap();
    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_serial(&sock, addr), 200);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 13]);
    let aside = std::fs::read_dir(dir.join("state"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("journal.damaged-")
        })
        .count();
    assert_eq!(aside, 1, "the damaged journal is kept aside");
    server.shutdown();

    // Damaged again, and the file's serial is behind what was served: the serial
    // still moves forward past what the readable part of the journal shows.
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(&[7; 100]);
    std::fs::write(&journal, &bytes).unwrap();
    std::fs::write(&zone, text(5, "192.0.2.14")).unwrap();
    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_serial(&sock, addr), 201);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 14]);
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The earliest RRSIG expiration in the answer to `example.test. SOA` with DO set.
fn soa_rrsig_expiry(to: std::net::SocketAddr) -> u32 {
    let apex = Name::parse("example.test.", None).unwrap();
    let r = blason_proto::Requester {
        dnssec_ok: true,
        ..Default::default()
    };
    let m = r.ask(to, &apex, Rtype::SOA).unwrap();
    m.answer
        .iter()
        .filter(|r| r.rtype == Rtype::RRSIG)
        .map(|r| u32::from_be_bytes(r.rdata[8..12].try_into().unwrap()))
        .min()
        .expect("an RRSIG over the SOA")
}

#[test]
fn expired_signatures_in_the_journal_are_made_anew_before_the_first_answer() {
    use blason_server::dnssec::{zone_dir, ZoneDnssec};
    use blason_server::journal::Journal;
    use blason_zone::{Node, RRset, Zone};
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("blason-server-expired-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("example.test.zone");
    // Enough names that signing them anew takes a while: a window a query could hit.
    let mut text =
        String::from("$TTL 300\n@ SOA ns hm 1 7200 3600 1209600 300\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..20_000 {
        text.push_str(&format!("h{i} A 192.0.2.{}\n", i % 250));
    }
    std::fs::write(&zone, text).unwrap();
    // A fixed port, so queries can be sent while the server starts.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let origin = Name::parse("example.test.", None).unwrap();
    let state = dir.join("state");
    let journal = zone_dir(&state, &origin).join("journal");
    let start = || {
        let spec = ZoneSpec {
            origin: origin.clone(),
            source: ZoneSource::File(zone.clone()),
            generator: None,
            dnssec: Some(Arc::new(ZoneDnssec::new(
                Default::default(),
                origin.clone(),
                state.clone(),
            ))),
            journal: Some(journal.clone()),
            serial: Default::default(),
            journal_size: None,
            lints: Vec::new(),
            xfr: Default::default(),
            settings: 0,
        };
        Server::start(Config::new(vec![addr], vec![spec])).unwrap()
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as u32
    };
    let server = start();
    assert!(soa_rrsig_expiry(addr) > now());
    server.shutdown();

    // Down for weeks: every signature in the journal expired an hour ago.
    let (j, r) = Journal::open(&journal).unwrap().unwrap();
    drop(j);
    let past = (now() - 3600).to_be_bytes();
    let nodes: Vec<Node> = r
        .zone
        .nodes()
        .iter()
        .filter(|n| !n.rrsets.is_empty())
        .map(|n| Node {
            name: n.name.clone(),
            rrsets: n
                .rrsets
                .iter()
                .map(|rr| {
                    if rr.rtype != Rtype::RRSIG {
                        return rr.clone();
                    }
                    let aged: Vec<Vec<u8>> = rr
                        .rdatas()
                        .map(|d| {
                            let mut d = d.to_vec();
                            d[8..12].copy_from_slice(&past);
                            d
                        })
                        .collect();
                    let refs: Vec<&[u8]> = aged.iter().map(Vec::as_slice).collect();
                    RRset::new(Rtype::RRSIG, rr.ttl, &refs)
                })
                .collect(),
            flags: 0,
        })
        .collect();
    let aged = Zone::from_data(&origin, r.zone.class(), nodes);
    drop(Journal::create(&journal, &aged).unwrap());

    // Asked all through the restart: no answer, the very first included, carries an
    // expired signature.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let apex = Name::parse("example.test.", None).unwrap();
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let (mut answers, mut earliest) = (0, u32::MAX);
            let mut buf = [0u8; 4096];
            let mut id = 0u16;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                id = id.wrapping_add(1);
                let q = MessageBuilder::query(id, &apex, Rtype::SOA, false, Some((1232, true)));
                let _ = sock.send_to(&q, addr);
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if let Ok(m) = Message::parse(&buf[..n]) {
                        for r in m.answer.iter().filter(|r| r.rtype == Rtype::RRSIG) {
                            answers += 1;
                            earliest = earliest
                                .min(u32::from_be_bytes(r.rdata[8..12].try_into().unwrap()));
                        }
                    }
                }
            }
            (answers, earliest)
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let server = start();
    assert!(soa_rrsig_expiry(addr) > now());
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (answers, earliest) = asker.join().unwrap();
    server.shutdown();
    assert!(answers > 0, "the asker got answers");
    assert!(
        earliest > now(),
        "an answer carried a signature expired at {earliest}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A generator whose records the test sets, and which can be held inside `generate`
/// (a slow source: a zone signed whole, a certificate on a slow disk).
#[derive(Debug, Default)]
struct Steered {
    value: std::sync::Mutex<(u8, u8)>,
    hold: std::sync::Mutex<bool>,
    released: std::sync::Condvar,
}

impl Steered {
    fn set(&self, v: u8) {
        self.value.lock().unwrap().0 = v;
    }
    fn hold(&self, on: bool) {
        *self.hold.lock().unwrap() = on;
        self.released.notify_all();
    }
}

impl blason_server::Generator for Steered {
    fn generate(
        &self,
        _now: u64,
    ) -> Result<
        (Vec<blason_zone::load::Generated>, Vec<blason_zone::Finding>),
        blason_zone::fault::BoxedError,
    > {
        let mut held = self.hold.lock().unwrap();
        while *held {
            held = self.released.wait(held).unwrap();
        }
        drop(held);
        let mut v = self.value.lock().unwrap();
        v.1 = v.0;
        let origin = "gen.example.test.";
        Ok((
            vec![blason_zone::load::Generated {
                owner: Name::parse(origin, None).unwrap(),
                rtype: Rtype::TXT,
                ttl: 300,
                rdata: vec![1, b'0' + v.0],
                what: "test".into(),
                claim: blason_zone::load::Claim::All,
            }],
            Vec::new(),
        ))
    }
    fn due(&self, _now: u64) -> bool {
        let v = self.value.lock().unwrap();
        v.0 != v.1
    }
}

/// The served `gen.example.test. TXT` text.
fn gen_txt(to: std::net::SocketAddr) -> Vec<u8> {
    let m = blason_proto::Requester::default()
        .ask(
            to,
            &Name::parse("gen.example.test.", None).unwrap(),
            Rtype::TXT,
        )
        .unwrap();
    m.answer
        .iter()
        .find(|r| r.rtype == Rtype::TXT)
        .map(|r| r.rdata[1..].to_vec())
        .unwrap_or_default()
}

#[test]
fn a_zone_held_up_holds_up_no_other_zone() {
    use blason_server::control::Command;
    use blason_server::dnssec::ZoneDnssec;
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("blason-server-workers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let soa = "@ 300 IN SOA ns hm 1 7200 3600 1209600 300\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n";
    let mut specs = Vec::new();
    let mut gens = Vec::new();
    for (origin, signed) in [("slow.test.", false), ("example.test.", true)] {
        let file = dir.join(format!("{origin}zone"));
        std::fs::write(&file, soa).unwrap();
        let name = Name::parse(origin, None).unwrap();
        let g = Arc::new(Steered::default());
        gens.push(g.clone());
        let mut spec = ZoneSpec::new(name.clone(), ZoneSource::File(file));
        // The slow zone's generated record lives in the other zone's name space:
        // only its generator matters here, so it makes none.
        if signed {
            spec.generator = Some(g);
            spec.dnssec = Some(Arc::new(ZoneDnssec::new(
                Default::default(),
                name,
                dir.join("state"),
            )));
        } else {
            spec.generator = Some(Arc::new(Held(g)));
        }
        specs.push(spec);
    }
    let mut cfg = Config::new(vec!["127.0.0.1:0".parse().unwrap()], specs);
    cfg.poll_interval = Duration::from_secs(1);
    let server = Server::start(cfg).unwrap();
    let addr = server.local_addrs()[0];
    assert_eq!(gen_txt(addr), b"0");

    // The slow zone's reload is held inside its source.
    gens[0].hold(true);
    let (tx, reload) = std::sync::mpsc::channel();
    server.control(Command::Reload, tx);

    // Meanwhile the signed zone's generated records change and are committed, and an
    // operator's command for it is answered.
    gens[1].set(1);
    let t = std::time::Instant::now();
    while gen_txt(addr) != b"1" {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the change never came"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (tx, answer) = std::sync::mpsc::channel();
    server.control(
        Command::DsSeen(Name::parse("example.test.", None).unwrap()),
        tx,
    );
    let r = answer
        .recv_timeout(Duration::from_secs(30))
        .expect("answered");
    assert!(r.is_ok(), "{r:?}");
    // The reload waits for its slow zone only.
    assert!(
        reload.try_recv().is_err(),
        "the held zone cannot have finished"
    );
    gens[0].hold(false);
    let r = reload.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(r.unwrap(), "replaced=2 kept_old=0");
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A [`Steered`] that only holds: it makes no records of its own.
#[derive(Debug)]
struct Held(std::sync::Arc<Steered>);

impl blason_server::Generator for Held {
    fn generate(
        &self,
        now: u64,
    ) -> Result<
        (Vec<blason_zone::load::Generated>, Vec<blason_zone::Finding>),
        blason_zone::fault::BoxedError,
    > {
        self.0.generate(now).map(|_| (Vec::new(), Vec::new()))
    }
    fn due(&self, _now: u64) -> bool {
        false
    }
}

#[test]
fn submitted_edits_are_served_durable_and_survive_reloads_and_restarts() {
    use blason_server::dnssec::ZoneDnssec;
    use blason_zone::update::Edit;
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("blason-server-submit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zone = dir.join("example.test.zone");
    let text = |www: &str| {
        format!("@ 300 IN SOA ns hm 1 7200 3600 1209600 300\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\nwww 300 IN A {www}\n")
    };
    std::fs::write(&zone, text("192.0.2.10")).unwrap();
    let origin = Name::parse("example.test.", None).unwrap();
    let mut spec = ZoneSpec::new(origin.clone(), ZoneSource::File(zone.clone()));
    spec.journal = Some(dir.join("state").join("journal"));
    spec.dnssec = Some(Arc::new(ZoneDnssec::new(
        Default::default(),
        origin.clone(),
        dir.join("state"),
    )));
    let start = || {
        Server::start(Config::new(
            vec!["127.0.0.1:0".parse().unwrap()],
            vec![spec.clone()],
        ))
        .unwrap()
    };
    let host = |i: usize| Name::parse(&format!("h{i}.example.test."), None).unwrap();
    let served_a = |to: std::net::SocketAddr, i: usize| {
        let m = blason_proto::Requester::default()
            .ask(to, &host(i), Rtype::A)
            .unwrap();
        m.answer
            .iter()
            .find(|r| r.rtype == Rtype::A)
            .map(|r| r.rdata.clone())
    };

    let server = start();
    let addr = server.local_addrs()[0];
    let before = served_serial(&UdpSocket::bind("127.0.0.1:0").unwrap(), addr);
    // Eight submitters at once, five one-record changes each.
    let receipts: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|t| {
                let (server, origin) = (&server, &origin);
                s.spawn(move || {
                    (0..5)
                        .map(|k| {
                            let i = t * 5 + k;
                            let edit = Edit::AddRr {
                                name: host(i),
                                rtype: Rtype::A,
                                ttl: 300,
                                rdata: vec![192, 0, 2, i as u8].into(),
                            };
                            server.submit(origin, vec![edit]).unwrap()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(receipts.len(), 40);
    // Each receipt means served: every record answers, signed serials moved on.
    for i in 0..40 {
        assert_eq!(served_a(addr, i), Some(vec![192, 0, 2, i as u8]), "h{i}");
    }
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let last = receipts.iter().map(|r| r.serial).max().unwrap();
    assert!(last > before && served_serial(&sock, addr) == last);
    // Edits outside the zone are refused as the submitter's fault, alone.
    let out = Edit::DeleteName {
        name: Name::parse("elsewhere.test.", None).unwrap(),
    };
    let e = server.submit(&origin, vec![out]).unwrap_err();
    assert_eq!(e.fault, blason_zone::Fault::Peer, "{e}");
    // A file edit and reload keeps the submitted records.
    std::fs::write(&zone, text("192.0.2.11")).unwrap();
    assert_eq!(server.reload().replaced, 1);
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 11]);
    assert_eq!(served_a(addr, 7), Some(vec![192, 0, 2, 7]));
    server.shutdown();

    // Restarted: from the journal, the submitted records are there at once.
    let server = start();
    let addr = server.local_addrs()[0];
    assert_eq!(served_a(addr, 39), Some(vec![192, 0, 2, 39]));
    assert_eq!(www_a(&sock, addr), [192, 0, 2, 11]);
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The RCODE of `name` SOA, and the A record of `www.name`, if any.
fn rcode_of(sock: &UdpSocket, to: std::net::SocketAddr, name: &str) -> (u8, Option<[u8; 4]>) {
    let q = MessageBuilder::query(
        7,
        &Name::parse(&format!("www.{name}"), None).unwrap(),
        Rtype::A,
        false,
        None,
    );
    let r = ask_q(sock, to, &q);
    let m = Message::parse(&r).unwrap();
    let a = m
        .answer
        .iter()
        .find(|rr| rr.rtype == Rtype::A)
        .map(|rr| rr.rdata[..4].try_into().unwrap());
    (m.rcode() as u8, a)
}

#[test]
fn a_reconfiguration_adds_removes_and_reopens_zones_and_keeps_the_rest() {
    let dir = std::env::temp_dir().join(format!("blason-reconf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = |z: &str, settings: u64| {
        let file = dir.join(format!("{z}.zone"));
        if !file.exists() {
            std::fs::write(
                &file,
                "@ 300 IN SOA ns hm 1 2 3 4 5\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.80\n",
            )
            .unwrap();
        }
        let origin = Name::parse(z, None).unwrap();
        let mut s = ZoneSpec::new(origin.clone(), ZoneSource::File(file));
        s.journal = Some(dir.join("state").join(z).join("journal"));
        s.settings = settings;
        s
    };
    let cfg = Config::new(
        vec!["127.0.0.1:0".parse().unwrap()],
        vec![spec("a.test.", 1), spec("b.test.", 1)],
    );
    let server = Server::start(cfg.clone()).unwrap();
    let addr = server.local_addrs()[0];
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    const REFUSED: u8 = 5;
    assert_eq!(rcode_of(&sock, addr, "c.test.").0, REFUSED);

    // c.test comes in, b.test leaves, a.test stays.
    let mut next = cfg.clone();
    next.zones = vec![spec("a.test.", 1), spec("c.test.", 1)];
    let r = server.reconfigure(next.clone()).unwrap();
    assert_eq!(r.added, vec![Name::parse("c.test.", None).unwrap()]);
    assert_eq!(r.removed, vec![Name::parse("b.test.", None).unwrap()]);
    assert_eq!((r.replaced, r.kept.len()), (1, 0), "{}", r.text());
    assert!(
        r.text().contains("added=c.test. removed=b.test."),
        "{}",
        r.text()
    );
    assert_eq!(rcode_of(&sock, addr, "c.test."), (0, Some([192, 0, 2, 80])));
    assert_eq!(rcode_of(&sock, addr, "b.test.").0, REFUSED);
    assert_eq!(rcode_of(&sock, addr, "a.test."), (0, Some([192, 0, 2, 80])));

    // a.test's settings change: reopened from its journal, with the file's change.
    std::fs::write(
        dir.join("a.test..zone"),
        "@ 300 IN SOA ns hm 2 2 3 4 5\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\nwww 300 IN A 192.0.2.81\n",
    )
    .unwrap();
    next.zones[0].settings = 2;
    let r = server.reconfigure(next.clone()).unwrap();
    assert_eq!(
        (r.replaced, r.kept.len(), r.added.len()),
        (2, 0, 0),
        "{}",
        r.text()
    );
    assert_eq!(rcode_of(&sock, addr, "a.test."), (0, Some([192, 0, 2, 81])));

    // A new zone whose file is broken is not served; the others are untouched.
    std::fs::write(dir.join("d.test..zone"), "@ IN SOA broken\n").unwrap();
    next.zones.push(spec("d.test.", 1));
    let r = server.reconfigure(next.clone()).unwrap();
    assert_eq!(r.kept.len(), 1, "{}", r.text());
    assert_eq!(rcode_of(&sock, addr, "d.test.").0, REFUSED);
    assert_eq!(rcode_of(&sock, addr, "c.test."), (0, Some([192, 0, 2, 80])));

    // Two zones of one name are refused, and nothing changes.
    let mut twice = next.clone();
    twice.zones.push(spec("c.test.", 1));
    assert!(server.reconfigure(twice).is_err());
    assert_eq!(rcode_of(&sock, addr, "c.test."), (0, Some([192, 0, 2, 80])));
    server.shutdown();
    let _ = std::fs::remove_dir_all(&dir);
}
