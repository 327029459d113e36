//! The control socket: how `blason reload`, `blason dnssec roll` and `blason dnssec
//! ds-seen` talk to a running server, `<state>/control.sock` (mode 0600).
//!
//! Design note. One request line, one reply line, then the connection closes:
//!
//!   reload                      -> ok replaced=N kept_old=M | error FAULT ...
//!   roll ZONE zsk|ksk|csk       -> ok ... | error FAULT ...
//!   ds-seen ZONE                -> ok ... | error FAULT ...
//!   status ZONE                 -> ok TEXT (lines, to the end) | error FAULT ...
//!   xfr-status ZONE             -> ok TEXT (lines, to the end) | error FAULT ...
//!
//! FAULT is whose fault a failure is (`zone::fault::Fault::name`), so the CLI's exit
//! status is the one the same failure gives in-process.
//!
//! A listener thread reads the line (bounded in size and time) and hands the command
//! to the control loop, the one thread that changes zones, which answers once it has
//! carried it out; the reply says what happened, so the CLI can report it. Who may
//! connect is the folder's and the socket's permissions (the state folder's owner).
#![forbid(unsafe_code)]

use crate::log;
use blason_dnssec::roll::Role;
use blason_zone::fault::{Blame, Fault};
use blason_zone::Name;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Sender};
use std::time::Duration;

/// The socket's file name in the state folder.
pub const SOCKET: &str = "control.sock";

/// What the CLI asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Reload,
    Roll(Name, Role),
    DsSeen(Name),
    Status(Name),
    XfrStatus(Name),
    /// The records dynamic changes made, and when.
    Dynamic(Name),
}

impl Command {
    pub fn parse(line: &str) -> Result<Command, String> {
        // A malformed request is the client's (a peer's) fault; see `serve_one`.
        let w: Vec<&str> = line.split_whitespace().collect();
        let zone = |s: &str| {
            let abs = if s.ends_with('.') {
                s.to_string()
            } else {
                format!("{s}.")
            };
            Name::parse(&abs, None).map_err(|e| format!("zone {s:?}: {e}"))
        };
        match w.as_slice() {
            ["reload"] => Ok(Command::Reload),
            ["roll", z, role] => {
                let role = match *role {
                    "zsk" => Role::Zsk,
                    "ksk" => Role::Ksk,
                    "csk" => Role::Csk,
                    r => return Err(format!("unknown key role {r:?}")),
                };
                Ok(Command::Roll(zone(z)?, role))
            }
            ["ds-seen", z] => Ok(Command::DsSeen(zone(z)?)),
            ["status", z] => Ok(Command::Status(zone(z)?)),
            ["xfr-status", z] => Ok(Command::XfrStatus(zone(z)?)),
            ["dynamic", z] => Ok(Command::Dynamic(zone(z)?)),
            _ => Err(format!("unknown command {line:?}")),
        }
    }

    /// The request line for this command.
    pub fn line(&self) -> String {
        match self {
            Command::Reload => "reload".into(),
            Command::Roll(z, r) => format!(
                "roll {} {}",
                z.to_lowercase(),
                match r {
                    Role::Zsk => "zsk",
                    Role::Ksk => "ksk",
                    Role::Csk => "csk",
                }
            ),
            Command::DsSeen(z) => format!("ds-seen {}", z.to_lowercase()),
            Command::Status(z) => format!("status {}", z.to_lowercase()),
            Command::XfrStatus(z) => format!("xfr-status {}", z.to_lowercase()),
            Command::Dynamic(z) => format!("dynamic {}", z.to_lowercase()),
        }
    }
}

/// A command that failed, as it crosses the socket: whose fault, and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub fault: Fault,
    pub text: String,
    /// The RCODE a DNS client is answered with, when the fault's own does not say
    /// enough (a dynamic update's failed prerequisite: YXDOMAIN, NXRRSET, ...).
    pub rcode: Option<u16>,
}

impl Refusal {
    pub fn new(fault: Fault, text: impl Into<String>) -> Refusal {
        Refusal {
            fault,
            text: text.into(),
            rcode: None,
        }
    }

    /// The peer's request cannot be carried out, answered with `rcode`.
    pub fn with_rcode(rcode: u16, text: impl Into<String>) -> Refusal {
        Refusal {
            rcode: Some(rcode),
            ..Refusal::new(Fault::Peer, text)
        }
    }

    pub fn of(e: &dyn Blame) -> Refusal {
        Refusal::new(e.fault(), e.to_string())
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A command and where its reply goes.
pub type Request = (Command, Sender<Result<String, Refusal>>);

/// Listens on `path`, sending each command to `to`. A socket file left by a server
/// that is gone is replaced; one that answers belongs to a running server: refused.
pub fn listen(path: &Path, to: Sender<Request>) -> std::io::Result<PathBuf> {
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!(
                    "{} answers: another blason serve uses this state folder",
                    path.display()
                ),
            ));
        }
        std::fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let shown = path.to_path_buf();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(s) => serve_one(s, &to),
                    Err(e) => log::warn("control socket", &[("reason", &e)]),
                }
            }
        })?;
    Ok(shown)
}

fn serve_one(mut s: UnixStream, to: &Sender<Request>) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let read = BufReader::new((&s).take(4096)).read_line(&mut line);
    let reply = match read {
        Ok(_) => match Command::parse(line.trim()) {
            Ok(cmd) => {
                let (tx, rx) = mpsc::channel();
                if to.send((cmd, tx)).is_err() {
                    Err(Refusal::new(Fault::System, "the server is stopping"))
                } else {
                    rx.recv_timeout(Duration::from_secs(600))
                        .unwrap_or_else(|_| {
                            Err(Refusal::new(
                                Fault::System,
                                "no reply from the server's control loop",
                            ))
                        })
                }
            }
            Err(e) => Err(Refusal::new(Fault::Peer, e)),
        },
        Err(e) => Err(Refusal::new(
            Fault::Peer,
            format!("reading the request: {e}"),
        )),
    };
    let text = match reply {
        // The text runs to the end of the stream (a status has lines).
        Ok(m) => format!("ok {m}\n"),
        Err(r) => format!("error {} {}\n", r.fault, r.text.replace('\n', " ")),
    };
    let _ = s.write_all(text.as_bytes());
}

/// Sends `cmd` to the server listening at `path`; None when none does (not
/// running, or started without a control socket), else its reply.
pub fn ask(path: &Path, cmd: &Command) -> Option<Result<String, Refusal>> {
    let mut s = UnixStream::connect(path).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(600)));
    s.write_all(format!("{}\n", cmd.line()).as_bytes()).ok()?;
    let mut reply = String::new();
    if s.read_to_string(&mut reply).is_err() {
        return Some(Err(Refusal::new(Fault::System, "no reply from the server")));
    }
    let reply = reply.trim_end_matches('\n');
    Some(match reply.split_once(' ') {
        Some(("ok", m)) => Ok(m.to_string()),
        Some(("error", m)) => {
            let (fault, text) = m.split_once(' ').unwrap_or((m, ""));
            match Fault::parse(fault) {
                Some(f) => Err(Refusal::new(f, text)),
                None => Err(Refusal::new(Fault::Internal, m)),
            }
        }
        _ if reply == "ok" => Ok(String::new()),
        _ => Err(Refusal::new(
            Fault::Internal,
            format!("unexpected reply {reply:?}"),
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_and_bad_ones_are_refused() {
        let z = Name::parse("example.com.", None).unwrap();
        for c in [
            Command::Reload,
            Command::Roll(z.clone(), Role::Ksk),
            Command::DsSeen(z.clone()),
            Command::Status(z.clone()),
            Command::XfrStatus(z),
        ] {
            assert_eq!(Command::parse(&c.line()).unwrap(), c);
        }
        assert!(Command::parse("roll example.com pqk").is_err());
        assert!(Command::parse("shutdown").is_err());
        assert!(Command::parse("").is_err());
    }

    #[test]
    fn a_request_is_answered_by_the_loop() {
        let dir = std::env::temp_dir().join(format!("blason-control-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(SOCKET);
        let (tx, rx) = mpsc::channel::<Request>();
        listen(&path, tx.clone()).unwrap();
        // A second server on the same folder is refused.
        assert!(listen(&path, tx).is_err());
        let loop_ = std::thread::spawn(move || {
            let (cmd, reply) = rx.recv().unwrap();
            assert_eq!(cmd, Command::Reload);
            reply.send(Ok("replaced=1 kept_old=0".into())).unwrap();
        });
        assert_eq!(
            ask(&path, &Command::Reload),
            Some(Ok("replaced=1 kept_old=0".into()))
        );
        loop_.join().unwrap();
        // A failure keeps whose fault it is across the socket.
        let (tx, rx) = mpsc::channel::<Request>();
        let path2 = dir.join("two.sock");
        listen(&path2, tx).unwrap();
        let loop_ = std::thread::spawn(move || {
            let (_, reply) = rx.recv().unwrap();
            reply
                .send(Err(Refusal::new(Fault::Config, "no such zone")))
                .unwrap();
        });
        assert_eq!(
            ask(
                &path2,
                &Command::DsSeen(Name::parse("a.test.", None).unwrap())
            ),
            Some(Err(Refusal::new(Fault::Config, "no such zone")))
        );
        loop_.join().unwrap();
        assert!(ask(&dir.join("none.sock"), &Command::Reload).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
