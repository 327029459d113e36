//! Durability of dynamic updates: clients send updates without pause while the
//! server is killed with -9 at random moments, 50 times; after each restart every
//! update that was answered NOERROR is served. The journal is kept small, so it is
//! rewritten with a new snapshot every few dozen updates: kills land in rewrites too.

mod common;

use blason_proto::tsig::{self, Algorithm, Key, Position};
use blason_proto::{Message, MessageBuilder, Record, Section};
use blason_zone::{Name, Rtype};
use common::{low_port, serve_config};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "Y3Jhc2ggdGVzdCBrZXksIG5vdCBhIHJlYWwgb25lIQ==";
const ROUNDS: u32 = 50;
const CLIENTS: usize = 4;

fn key() -> Key {
    Key::from_base64(
        Name::parse("load-key.", None).unwrap(),
        Algorithm::HmacSha256,
        SECRET,
    )
    .unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Adds `TXT "n"` at `name`, signed; Some(rcode) when a reply came.
fn update(s: &UdpSocket, port: u16, id: u16, name: &Name) -> Option<u16> {
    let mut b = MessageBuilder::new(id, 5 << 11);
    b.question(&Name::parse("x.test.", None).unwrap(), Rtype::SOA, 1);
    b.record(
        Section::Authority,
        &Record {
            owner: name.clone(),
            rtype: Rtype::TXT,
            class: 1,
            ttl: 60,
            rdata: b"\x01n".to_vec(),
        },
    );
    let mut q = b.finish();
    tsig::sign(&mut q, &key(), now(), Position::Request, 0);
    s.send_to(&q, ("127.0.0.1", port)).ok()?;
    let mut buf = [0u8; 1024];
    loop {
        let n = s.recv(&mut buf).ok()?;
        match Message::parse(&buf[..n]) {
            Ok(m) if m.id == id => return Some(m.rcode()),
            _ => continue,
        }
    }
}

/// Whether `name` TXT is answered with a record.
fn present(s: &UdpSocket, port: u16, name: &Name) -> bool {
    let q = MessageBuilder::query(7, name, Rtype::TXT, false, None);
    for _ in 0..3 {
        let _ = s.send_to(&q, ("127.0.0.1", port));
        let mut buf = [0u8; 1024];
        if let Ok(n) = s.recv(&mut buf) {
            if let Ok(m) = Message::parse(&buf[..n]) {
                return m.rcode() == 0 && !m.answer.is_empty();
            }
        }
    }
    false
}

fn answering(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let q = MessageBuilder::query(
        1,
        &Name::parse("x.test.", None).unwrap(),
        Rtype::SOA,
        false,
        None,
    );
    let _ = s.send_to(&q, ("127.0.0.1", port));
    let mut buf = [0u8; 1024];
    s.recv(&mut buf).is_ok()
}

#[test]
fn no_acknowledged_update_is_lost_to_kill_9() {
    let dir = std::env::temp_dir().join(format!("blason-update-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("x.test.zone"),
        "$ORIGIN x.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
         @ NS ns1\nns1 A 127.0.0.77\n",
    )
    .unwrap();
    let port = low_port();
    std::fs::write(
        dir.join("blason.toml"),
        format!(
            "listen = [\"127.0.0.1:{port}\"]\nstate = \"{s}\"\n\
             [[key]]\nname = \"load-key\"\nsecret = \"{SECRET}\"\n\
             [[zone]]\norigin = \"x.test\"\nfile = \"{z}\"\nnotify-ns = false\n\
             journal-size = 16384\n\
             [[zone.update]]\nkey = \"load-key\"\ngrant = \"subdomain\"\nname = \"load.x.test\"\n",
            s = dir.join("state").display(),
            z = dir.join("x.test.zone").display()
        ),
    )
    .unwrap();
    let log = dir.join("blason.log");
    let acked: Arc<Mutex<Vec<Name>>> = Default::default();
    let next = Arc::new(AtomicU32::new(0));
    // A cheap random source: the kill moments need not be reproducible.
    let mut seed = now() ^ u64::from(std::process::id());
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let checker = UdpSocket::bind("127.0.0.1:0").unwrap();
    checker
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    // The server, once it answers.
    let start = || {
        let server = serve_config(&dir.join("blason.toml"), &log);
        let t = Instant::now();
        while !answering(port) {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "no answer after a restart:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        server
    };
    let mut killed_with_updates_in_flight = 0;
    for round in 0..ROUNDS {
        let server = start();
        // Every update acknowledged before the last kill is served.
        for name in acked.lock().unwrap().iter() {
            assert!(
                present(&checker, port, name),
                "round {round}: {name} was acknowledged and is gone"
            );
        }
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (acked, next, stop) = (acked.clone(), next.clone(), stop.clone());
                std::thread::spawn(move || {
                    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                    s.set_read_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    let mut sent = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let name = Name::parse(&format!("n{i}.load.x.test."), None).unwrap();
                        sent += 1;
                        match update(&s, port, (i as u16) ^ (c as u16), &name) {
                            Some(0) => acked.lock().unwrap().push(name),
                            Some(r) => panic!("update {i} answered rcode {r}"),
                            None => {}
                        }
                    }
                    sent
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20 + random(200)));
        drop(server); // SIGKILL
        stop.store(true, Ordering::Relaxed);
        let sent: u32 = clients.into_iter().map(|c| c.join().unwrap()).sum();
        if sent > 0 {
            killed_with_updates_in_flight += 1;
        }
    }
    let total = acked.lock().unwrap().len();
    assert!(
        total > ROUNDS as usize * 5,
        "updates were acknowledged between the kills: {total}"
    );
    assert_eq!(killed_with_updates_in_flight, ROUNDS);
    // The last round's acknowledgements, after one more restart.
    let _server = start();
    for name in acked.lock().unwrap().iter() {
        assert!(
            present(&checker, port, name),
            "{name} was acknowledged and is gone"
        );
    }
    eprintln!("{total} acknowledged updates over {ROUNDS} kills, none lost");
    let _ = std::fs::remove_dir_all(&dir);
}
