//! End-to-end tests of `blason serve` and `blason reload`: each test starts the real
//! binary on 127.0.0.1 with a port the kernel picks, and talks to it only over loopback.

use blason_proto::{Message, MessageBuilder};
use blason_server::sys::{send_signal, Signal};
use blason_zone::{Name, Rtype};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ZONE: &str = "\
$ORIGIN example.test.
$TTL 300
@    IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@    IN NS  ns1
ns1  IN A   192.0.2.53
www  IN A   192.0.2.10
";

/// A running `blason serve` whose stderr is collected line by line.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    stdout: String,
}

fn blason() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blason"));
    // The developer's own settings must not leak into a test.
    for (k, _) in std::env::vars() {
        if k.starts_with("BLASON_") {
            c.env_remove(k);
        }
    }
    c.env("BLASON_STATE", own_state());
    c
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = blason()
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--threads", "2"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start blason serve");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(a) = line.split("listening addr=").nth(1) {
                    let a = a.split_whitespace().next().unwrap_or("");
                    let _ = tx.send(a.parse::<SocketAddr>().ok());
                }
                log2.lock().unwrap().push(line);
            }
            let _ = tx.send(None);
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(a)) => a,
            other => {
                let _ = child.kill();
                panic!(
                    "server did not start ({other:?}); log: {:#?}",
                    log.lock().unwrap()
                );
            }
        };
        let mut stdout = String::new();
        if let Some(mut out) = child.stdout.take() {
            // Only the example prints to stdout: its banner, right after it listens.
            if !args.contains(&"--zone") {
                let mut buf = [0u8; 4096];
                while !stdout.contains("Ctrl-C") {
                    match out.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => stdout.push_str(&String::from_utf8_lossy(&buf[..n])),
                    }
                }
            }
        }
        Server {
            child,
            addr,
            log,
            stdout,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_log(&self, needle: &str, count: usize) -> bool {
        let end = Instant::now() + Duration::from_secs(10);
        while Instant::now() < end {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .filter(|l| l.contains(needle))
                .count()
                >= count
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn stop(mut self) -> ExitStatus {
        send_signal(self.pid(), Signal::Term).unwrap();
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!("server ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("blason-test-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_zone(dir: &Path) -> PathBuf {
    let p = dir.join("example.test.zone");
    std::fs::write(&p, ZONE).unwrap();
    p
}

/// A query for `name` type `qtype`, class IN, RD set (built by the one codec).
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let name = Name::parse(&format!("{}.", name.trim_end_matches('.')), None).unwrap();
    MessageBuilder::query(id, &name, Rtype(qtype), true, None)
}

/// A reply must parse, carry our ID, have QR set, and echo the question if it has one.
fn check_reply(reply: &[u8], id: u16, name: &str, qtype: u16) {
    let m = Message::parse(reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"));
    assert_eq!(m.id, id, "reply ID");
    assert!(m.is_response(), "QR bit");
    assert_eq!(m.opcode(), 0, "opcode QUERY");
    assert!(m.questions.len() <= 1, "qdcount {}", m.questions.len());
    if let Some(q) = m.questions.first() {
        let want = Name::parse(&format!("{}.", name.trim_end_matches('.')), None).unwrap();
        assert_eq!(
            (&q.name, q.qtype, q.qclass),
            (&want, Rtype(qtype), 1),
            "echoed question"
        );
    }
}

fn udp_ask(addr: SocketAddr, id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let q = query(id, name, qtype);
    let mut buf = [0u8; 65535];
    for _ in 0..3 {
        s.send_to(&q, addr).unwrap();
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            assert_eq!(from, addr);
            return buf[..n].to_vec();
        }
    }
    panic!("no UDP reply from {addr}");
}

fn tcp_connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

fn tcp_send(s: &mut TcpStream, msg: &[u8]) {
    let mut framed = (msg.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(msg);
    s.write_all(&framed).unwrap();
}

fn tcp_read(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).expect("tcp reply length");
    let mut r = vec![0u8; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut r).expect("tcp reply body");
    r
}

fn tcp_ask(addr: SocketAddr, id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut s = tcp_connect(addr);
    tcp_send(&mut s, &query(id, name, qtype));
    tcp_read(&mut s)
}

/// True if the peer closed the connection (EOF or reset) within the read timeout.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
        ),
    }
}

fn assert_still_answers(addr: SocketAddr) {
    let r = udp_ask(addr, 0x7001, "www.example.test", 1);
    check_reply(&r, 0x7001, "www.example.test", 1);
    let r = tcp_ask(addr, 0x7002, "www.example.test", 1);
    check_reply(&r, 0x7002, "www.example.test", 1);
}

#[test]
fn answers_udp_and_tcp_with_id_and_question() {
    let dir = tempdir("basic");
    let zone = write_zone(&dir);
    let zarg = format!("example.test.={}", zone.display());
    let srv = Server::start(&["--zone", &zarg]);
    for (i, (name, t)) in [
        ("www.example.test", 1u16),
        ("example.test", 6),
        ("nope.example.test", 28),
    ]
    .iter()
    .enumerate()
    {
        let id = 0x1000 + i as u16;
        check_reply(&udp_ask(srv.addr, id, name, *t), id, name, *t);
        check_reply(&tcp_ask(srv.addr, id, name, *t), id, name, *t);
    }
    let st = srv.stop();
    assert!(st.success(), "exit status {st:?}");
}

#[test]
fn tcp_pipelined_queries_are_answered_in_order() {
    let dir = tempdir("pipeline");
    let zone = write_zone(&dir);
    let zarg = format!("example.test.={}", zone.display());
    let srv = Server::start(&["--zone", &zarg]);
    let mut s = tcp_connect(srv.addr);
    let mut burst = Vec::new();
    for id in 0..20u16 {
        let q = query(0x2000 + id, "www.example.test", 1);
        burst.extend_from_slice(&(q.len() as u16).to_be_bytes());
        burst.extend_from_slice(&q);
    }
    s.write_all(&burst).unwrap();
    for id in 0..20u16 {
        check_reply(&tcp_read(&mut s), 0x2000 + id, "www.example.test", 1);
    }
    // Half-closed: the client stops sending; answers still owed must arrive.
    tcp_send(&mut s, &query(0x2100, "www.example.test", 1));
    s.shutdown(Shutdown::Write).unwrap();
    check_reply(&tcp_read(&mut s), 0x2100, "www.example.test", 1);
    assert!(closed_by_peer(&mut s));
    srv.stop();
}

#[test]
fn garbage_truncated_and_oversized_input_leaves_the_server_answering() {
    let dir = tempdir("garbage");
    let zone = write_zone(&dir);
    let zarg = format!("example.test.={}", zone.display());
    let srv = Server::start(&["--zone", &zarg, "--tcp-idle-timeout", "1"]);
    let addr = srv.addr;

    // UDP: empty, too short for a header, a header only, a cut question, a response
    // (QR set, must be ignored), noise, and a datagram larger than any query.
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    let full = query(0x3000, "www.example.test", 1);
    let mut noise = Vec::new();
    let mut x: u32 = 12345;
    for _ in 0..600 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        noise.push((x >> 16) as u8);
    }
    let mut response = full.clone();
    response[2] |= 0x80;
    for pkt in [
        &[][..],
        &[0x12][..],
        &full[..11],
        &full[..12],
        &full[..full.len() - 3],
        &response[..],
        &noise[..],
        &vec![0xffu8; 9000][..],
    ] {
        u.send_to(pkt, addr).unwrap();
    }
    assert_still_answers(addr);

    // TCP: a length that promises 65535 bytes and sends five; the server must give up
    // on it at the idle timeout instead of waiting forever.
    let mut s = tcp_connect(addr);
    s.write_all(&[0xff, 0xff, 1, 2, 3, 4, 5]).unwrap();
    let t0 = Instant::now();
    assert!(
        closed_by_peer(&mut s),
        "oversized frame must end in a close"
    );
    assert!(t0.elapsed() < Duration::from_secs(4));

    // TCP: a zero-length frame, noise frames, then a real query on the same connection.
    let mut s = tcp_connect(addr);
    tcp_send(&mut s, &[]);
    tcp_send(&mut s, &noise[..100]);
    tcp_send(&mut s, &full[..5]);
    tcp_send(&mut s, &query(0x3001, "www.example.test", 1));
    let mut got = None;
    for _ in 0..4 {
        let r = tcp_read(&mut s);
        if r.len() >= 2 && r[..2] == [0x30, 0x01] {
            got = Some(r);
            break;
        }
    }
    check_reply(
        &got.expect("reply to the real query"),
        0x3001,
        "www.example.test",
        1,
    );

    // TCP: a connection that sends one byte and hangs up.
    let mut s = tcp_connect(addr);
    s.write_all(&[0]).unwrap();
    drop(s);

    // TCP: silent connection is closed at the idle timeout.
    let mut s = tcp_connect(addr);
    assert!(closed_by_peer(&mut s), "idle connection must be closed");

    assert_still_answers(addr);
    assert!(srv.stop().success());
}

#[test]
fn tcp_connection_limit_closes_extra_connections() {
    let dir = tempdir("limit");
    let zone = write_zone(&dir);
    let zarg = format!("example.test.={}", zone.display());
    let srv = Server::start(&["--zone", &zarg, "--tcp-max-connections", "2"]);
    let mut a = tcp_connect(srv.addr);
    let mut b = tcp_connect(srv.addr);
    // Make sure both are accepted and hold their slots.
    tcp_send(&mut a, &query(1, "www.example.test", 1));
    tcp_read(&mut a);
    tcp_send(&mut b, &query(2, "www.example.test", 1));
    tcp_read(&mut b);
    let mut c = tcp_connect(srv.addr);
    assert!(closed_by_peer(&mut c), "third connection must be refused");
    drop(a);
    // The slot frees once the server sees the close.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let mut d = tcp_connect(srv.addr);
        tcp_send(&mut d, &query(4, "www.example.test", 1));
        let mut len = [0u8; 2];
        if d.read_exact(&mut len).is_ok() {
            break;
        }
        assert!(Instant::now() < end, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(b);
    srv.stop();
}

#[test]
fn reload_swaps_good_zones_and_keeps_serving_when_a_zone_breaks() {
    let dir = tempdir("reload");
    let zone = write_zone(&dir);
    let pid_file = dir.join("blason.pid");
    let zarg = format!("example.test.={}", zone.display());
    let srv = Server::start(&["--zone", &zarg, "--pid-file", pid_file.to_str().unwrap()]);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, srv.pid());

    // A good edit, reloaded with `blason reload`.
    std::fs::write(&zone, ZONE.replace(" 1 7200", " 2 7200")).unwrap();
    let out = blason()
        .args(["reload", "--pid-file"])
        .arg(&pid_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        srv.wait_log("reload complete replaced=1 kept_old=0", 1),
        "{}",
        srv.log_text()
    );
    assert_still_answers(srv.addr);

    // The zone file disappears: the old snapshot keeps serving.
    std::fs::remove_file(&zone).unwrap();
    send_signal(srv.pid(), Signal::Hup).unwrap();
    assert!(
        srv.wait_log("reload complete replaced=0 kept_old=1", 1),
        "{}",
        srv.log_text()
    );
    assert!(srv
        .log_text()
        .contains("reload failed, keeping the serving snapshot"));

    // The zone comes back with an error in it: the old snapshot still serves, and the
    // finding is logged.
    std::fs::write(&zone, format!("{ZONE}bad IN A 999.0.2.1\n")).unwrap();
    send_signal(srv.pid(), Signal::Hup).unwrap();
    assert!(
        srv.wait_log("reload complete replaced=0 kept_old=1", 2),
        "{}",
        srv.log_text()
    );
    assert!(srv.log_text().contains("999.0.2.1"), "{}", srv.log_text());
    assert_still_answers(srv.addr);

    // Queries sent while reloads run are all answered.
    std::fs::write(&zone, ZONE).unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    for i in 0..200u16 {
        if i % 20 == 0 {
            send_signal(srv.pid(), Signal::Hup).unwrap();
        }
        sock.send_to(&query(i, "www.example.test", 1), srv.addr)
            .unwrap();
        let (n, _) = sock.recv_from(&mut buf).expect("reply during reload");
        check_reply(&buf[..n], i, "www.example.test", 1);
    }
    // SIGHUPs that arrive before the signal thread reads the last one count once
    // (signals are not queued): at least one reload of the burst, not ten.
    assert!(srv.wait_log("reload complete", 4), "{}", srv.log_text());

    assert!(srv.stop().success());
    assert!(!pid_file.exists(), "pid file removed on exit");
}

#[test]
fn reload_without_pid_file_explains_itself() {
    let out = blason().arg("reload").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pid-file"));
}

#[test]
fn unreadable_zone_at_startup_refuses_to_start() {
    let dir = tempdir("refuse");
    let zarg = format!("example.test.={}", dir.join("missing.zone").display());
    let out = blason()
        .args(["serve", "--listen", "127.0.0.1:0", "--zone", &zarg])
        .output()
        .unwrap();
    // A path to no file: the configuration's to fix, so the command was unusable.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to start") && err.contains("example.test."),
        "{err}"
    );
}

#[test]
fn exit_status_says_whose_fault_a_failure_is() {
    let dir = tempdir("exit");
    let good = write_zone(&dir);
    let bad = dir.join("bad.zone");
    std::fs::write(&bad, format!("{ZONE}bad IN A 999.0.2.1\n")).unwrap();
    let check = |file: &Path| {
        blason()
            .args(["zone", "check", "example.test."])
            .arg(file)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(check(&good), Some(0));
    assert_eq!(check(&bad), Some(1), "the data has errors");
    assert_eq!(check(&dir.join("none.zone")), Some(2), "nothing to check");
    // Signing refuses a zone with errors as findings, an unknown zone as unusable.
    let signed = blason()
        .args(["dnssec", "sign", "example.test."])
        .arg(&bad)
        .arg("--keys")
        .arg(dir.join("keys"))
        .output()
        .unwrap();
    assert_eq!(signed.status.code(), Some(1));
    let roll = blason()
        .args(["dnssec", "roll", "nowhere.test", "--zsk", "--state"])
        .arg(dir.join("state"))
        .output()
        .unwrap();
    assert_eq!(roll.status.code(), Some(2));
}

#[test]
fn zone_with_errors_at_startup_refuses_to_start_and_prints_findings() {
    let dir = tempdir("errors");
    let zone = dir.join("example.test.zone");
    std::fs::write(&zone, format!("{ZONE}bad IN A 999.0.2.1\n")).unwrap();
    let zarg = format!("example.test.={}", zone.display());
    let out = blason()
        .args(["serve", "--listen", "127.0.0.1:0", "--zone", &zarg])
        .output()
        .unwrap();
    // The zone's data is at fault: findings.
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing to start"), "{err}");
    assert!(
        err.contains("999.0.2.1") && err.contains("example.test.zone:7"),
        "{err}"
    );
    assert!(!err.contains("listening"), "{err}");
}

#[test]
fn no_zone_serves_the_bundled_example_and_shows_dig_commands() {
    let srv = Server::start(&[]);
    assert!(
        srv.stdout
            .contains(&format!("dig @127.0.0.1 -p {} ", srv.addr.port())),
        "{}",
        srv.stdout
    );
    assert!(srv.log_text().contains("zone=example.test."));
    assert_still_answers(srv.addr);
    srv.stop();
}

#[test]
fn config_file_env_and_flags_combine() {
    let dir = tempdir("config");
    write_zone(&dir);
    let cfg = dir.join("blason.toml");
    std::fs::write(
        &cfg,
        "listen = [\"127.0.0.1:1\"]\nlog-format = \"json\"\nquery-log = true\n\
         [[zone]]\norigin = \"example.test\"\nfile = \"example.test.zone\"\n",
    )
    .unwrap();
    // The file's listen address is replaced by the flag in Server::start; threads come
    // from the environment.
    let mut child = blason()
        .env("BLASON_THREADS", "1")
        .args(["serve", "--config"])
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "json log: {line}"
        );
        if line.contains("\"msg\":\"listening\"") {
            assert!(line.contains("\"udp_threads\":\"1\""), "{line}");
            let a = line
                .split("\"addr\":\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            addr = Some(a.parse::<SocketAddr>().unwrap());
            break;
        }
    }
    let addr = addr.expect("listening line");
    check_reply(
        &udp_ask(addr, 0x4000, "www.example.test", 1),
        0x4000,
        "www.example.test",
        1,
    );
    // Query log is on (from the file), in JSON.
    let mut seen = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line.contains("\"msg\":\"query\"") && line.contains("\"id\":\"16384\"") {
            seen = true;
            break;
        }
    }
    assert!(seen);
    send_signal(child.id(), Signal::Term).unwrap();
    assert!(child.wait().unwrap().success());
}

/// A state folder of its own for each command: a served zone's journal lives there,
/// and no two servers may share one.
fn own_state() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("blason-test-state-{}-{n}", std::process::id()))
}
