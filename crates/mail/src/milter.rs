//! The milter protocol (version 6, as Postfix and Sendmail speak it), the part a
//! signing filter needs: packets are a 4-byte length, a command byte and data.
//!
//! No permissively licensed, maintained crate speaks it (the good ones are GPL), so
//! it is written here: a bounded packet reader, the commands as an enum, and the
//! replies. What a filter does with them is its own business ([`Session`] keeps a
//! message's headers and body for a signer).
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};

/// Largest packet taken: a body chunk is at most 64 KiB (MILTER_CHUNK_SIZE); room
/// for headers and macros.
pub const MAX_PACKET: usize = 1 << 20;

/// Actions we may take (SMFIF_*): add headers, change or delete them (forged
/// Authentication-Results), quarantine.
pub const SMFIF_ADDHDRS: u32 = 0x01;
pub const SMFIF_CHGHDRS: u32 = 0x10;
pub const SMFIF_QUARANTINE: u32 = 0x20;
/// Steps the MTA may skip (SMFIP_NO*) or not wait for (SMFIP_NR_*).
pub const SMFIP_NORCPT: u32 = 0x08;
pub const SMFIP_NOEOH: u32 = 0x40;
pub const SMFIP_NR_HDR: u32 = 0x80;
pub const SMFIP_NOUNKNOWN: u32 = 0x100;
pub const SMFIP_NODATA: u32 = 0x200;
pub const SMFIP_NR_CONN: u32 = 0x1000;
pub const SMFIP_NR_HELO: u32 = 0x2000;
pub const SMFIP_NR_MAIL: u32 = 0x4000;
pub const SMFIP_NR_RCPT: u32 = 0x8000;
pub const SMFIP_NR_DATA: u32 = 0x1_0000;
pub const SMFIP_NR_UNKN: u32 = 0x2_0000;
pub const SMFIP_NR_EOH: u32 = 0x4_0000;
pub const SMFIP_NR_BODY: u32 = 0x8_0000;
pub const SMFIP_HDR_LEADSPC: u32 = 0x0010_0000;

/// What a signing and verifying filter asks of the MTA: no step it does not use,
/// and no waiting for an answer before the end of the message (it never refuses
/// earlier). Each round trip saved is two context switches per command.
const WANTED: u32 = SMFIP_NORCPT
    | SMFIP_NOEOH
    | SMFIP_NOUNKNOWN
    | SMFIP_NODATA
    | SMFIP_NR_HDR
    | SMFIP_NR_CONN
    | SMFIP_NR_HELO
    | SMFIP_NR_MAIL
    | SMFIP_NR_RCPT
    | SMFIP_NR_DATA
    | SMFIP_NR_UNKN
    | SMFIP_NR_EOH
    | SMFIP_NR_BODY
    | SMFIP_HDR_LEADSPC;

/// Whether `cmd` is answered under the negotiated `protocol`.
pub fn needs_reply(cmd: &Command, protocol: u32) -> bool {
    let nr = match cmd {
        Command::Connect { .. } => SMFIP_NR_CONN,
        Command::Helo(_) => SMFIP_NR_HELO,
        Command::Mail(_) => SMFIP_NR_MAIL,
        Command::Rcpt(_) => SMFIP_NR_RCPT,
        Command::Data => SMFIP_NR_DATA,
        Command::Unknown(_) => SMFIP_NR_UNKN,
        Command::Header { .. } => SMFIP_NR_HDR,
        Command::EndOfHeaders => SMFIP_NR_EOH,
        Command::Body(_) => SMFIP_NR_BODY,
        Command::Macro { .. } | Command::Abort | Command::Quit | Command::QuitNewConnection => {
            return false
        }
        Command::OptNeg { .. } | Command::EndOfMessage | Command::Other(_) => return true,
    };
    protocol & nr == 0
}

/// A command from the MTA.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    OptNeg {
        version: u32,
        actions: u32,
        protocol: u32,
    },
    Macro {
        stage: u8,
        pairs: Vec<(String, String)>,
    },
    Connect {
        host: String,
        family: u8,
        port: u16,
        addr: String,
    },
    Helo(String),
    Mail(Vec<String>),
    Rcpt(Vec<String>),
    Data,
    Header {
        name: String,
        value: Vec<u8>,
    },
    EndOfHeaders,
    Body(Vec<u8>),
    EndOfMessage,
    Abort,
    Quit,
    QuitNewConnection,
    Unknown(Vec<u8>),
    /// A command this reader does not know; answered "continue".
    Other(u8),
}

/// Reads one packet; `Ok(None)` at a clean end of the connection.
pub fn read_command(r: &mut impl Read) -> io::Result<Option<Command>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 || len > MAX_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("milter packet of {len} bytes"),
        ));
    }
    let mut p = vec![0u8; len];
    r.read_exact(&mut p)?;
    parse(&p).map(Some)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed milter {what}"),
    )
}

/// NUL-terminated strings.
fn strings(d: &[u8]) -> Vec<String> {
    let d = d.strip_suffix(&[0]).unwrap_or(d);
    if d.is_empty() {
        return Vec::new();
    }
    d.split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Reads a packet's command byte and data.
pub fn parse(p: &[u8]) -> io::Result<Command> {
    let (&cmd, d) = p.split_first().ok_or_else(|| bad("packet"))?;
    let u32_at = |i: usize| -> io::Result<u32> {
        d.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("option negotiation"))
    };
    Ok(match cmd {
        b'O' => Command::OptNeg {
            version: u32_at(0)?,
            actions: u32_at(4)?,
            protocol: u32_at(8)?,
        },
        b'D' => {
            let (&stage, rest) = d.split_first().ok_or_else(|| bad("macro"))?;
            let s = strings(rest);
            let pairs = s
                .chunks(2)
                .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
                .collect();
            Command::Macro { stage, pairs }
        }
        b'C' => {
            let z = d
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad("connect"))?;
            let host = String::from_utf8_lossy(&d[..z]).into_owned();
            let rest = &d[z + 1..];
            let family = *rest.first().unwrap_or(&b'U');
            let (port, addr) = if rest.len() >= 3 {
                let port = u16::from_be_bytes([rest[1], rest[2]]);
                (
                    port,
                    strings(&rest[3..]).into_iter().next().unwrap_or_default(),
                )
            } else {
                (0, String::new())
            };
            Command::Connect {
                host,
                family,
                port,
                addr,
            }
        }
        b'H' => Command::Helo(strings(d).into_iter().next().unwrap_or_default()),
        b'M' => Command::Mail(strings(d)),
        b'R' => Command::Rcpt(strings(d)),
        b'T' => Command::Data,
        b'L' => {
            let z = d
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| bad("header"))?;
            let name = String::from_utf8_lossy(&d[..z]).into_owned();
            let value = d[z + 1..]
                .strip_suffix(&[0])
                .unwrap_or(&d[z + 1..])
                .to_vec();
            Command::Header { name, value }
        }
        b'N' => Command::EndOfHeaders,
        b'B' => Command::Body(d.to_vec()),
        b'E' => Command::EndOfMessage,
        b'A' => Command::Abort,
        b'Q' => Command::Quit,
        b'K' => Command::QuitNewConnection,
        b'U' => Command::Unknown(d.to_vec()),
        other => Command::Other(other),
    })
}

/// Writes one reply packet.
pub fn reply(w: &mut impl Write, cmd: u8, data: &[u8]) -> io::Result<()> {
    let len = u32::try_from(data.len() + 1).map_err(|_| bad("reply"))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&[cmd])?;
    w.write_all(data)
}

/// The option negotiation reply: version 6, the actions we take, and the steps
/// the MTA may skip or not wait for, of those it offers; returns those.
pub fn optneg_reply(w: &mut impl Write, mta_actions: u32, mta_protocol: u32) -> io::Result<u32> {
    let actions = (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE) & mta_actions;
    let protocol = WANTED & mta_protocol;
    let mut d = Vec::with_capacity(12);
    d.extend_from_slice(&6u32.to_be_bytes());
    d.extend_from_slice(&actions.to_be_bytes());
    d.extend_from_slice(&protocol.to_be_bytes());
    reply(w, b'O', &d)?;
    Ok(protocol)
}

/// A header to insert at the top (SMFIR_INSHEADER, index 0): a signature goes
/// above the headers it signs.
pub fn insert_header(w: &mut impl Write, name: &str, value: &str) -> io::Result<()> {
    let mut d = Vec::with_capacity(name.len() + value.len() + 6);
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend_from_slice(name.as_bytes());
    d.push(0);
    d.extend_from_slice(value.as_bytes());
    d.push(0);
    reply(w, b'i', &d)
}

/// Changes the `index`-th (from 1) header of this name; an empty value deletes it
/// (SMFIR_CHGHEADER).
pub fn change_header(w: &mut impl Write, index: u32, name: &str, value: &str) -> io::Result<()> {
    let mut d = Vec::with_capacity(name.len() + value.len() + 6);
    d.extend_from_slice(&index.to_be_bytes());
    d.extend_from_slice(name.as_bytes());
    d.push(0);
    d.extend_from_slice(value.as_bytes());
    d.push(0);
    reply(w, b'm', &d)
}

/// Puts the message in the MTA's hold queue (SMFIR_QUARANTINE).
pub fn quarantine(w: &mut impl Write, reason: &str) -> io::Result<()> {
    let mut d = reason.as_bytes().to_vec();
    d.push(0);
    reply(w, b'q', &d)
}

/// A final SMTP reply, such as `550 5.7.1 ...` (SMFIR_REPLYCODE); CR and LF in the
/// text are made spaces.
pub fn reply_code(w: &mut impl Write, text: &str) -> io::Result<()> {
    let mut d: Vec<u8> = text
        .bytes()
        .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b })
        .collect();
    d.push(0);
    reply(w, b'y', &d)
}

/// What one message gathered: its headers as the MTA gave them and its body.
#[derive(Default)]
pub struct Session {
    pub client_addr: String,
    /// The HELO/EHLO name, for the connection.
    pub helo: String,
    /// The envelope sender of the message, without angle brackets.
    pub mail_from: String,
    pub macros: Vec<(String, String)>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The leading space of header values is kept (SMFIP_HDR_LEADSPC agreed).
    pub leading_space: bool,
}

impl Session {
    /// The message as text: headers (folding restored to CRLF: Postfix hands
    /// folded values with bare LF) and the body.
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::new();
        for (name, value) in &self.headers {
            m.extend_from_slice(name.as_bytes());
            m.push(b':');
            if !self.leading_space {
                m.push(b' ');
            }
            m.extend_from_slice(value);
            m.extend_from_slice(b"\n");
        }
        m.extend_from_slice(b"\n");
        m.extend_from_slice(&self.body);
        crate::dkim_sign::crlf(&m)
    }

    pub fn macro_value(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('{').trim_end_matches('}');
        self.macros
            .iter()
            .rev()
            .find(|(n, _)| n.trim_start_matches('{').trim_end_matches('}') == bare)
            .map(|(_, v)| v.as_str())
    }

    /// Forgets the message (not the connection).
    pub fn reset(&mut self) {
        self.headers.clear();
        self.body.clear();
        self.mail_from.clear();
        self.macros
            .retain(|(n, _)| n != "{auth_authen}" && n != "i");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(cmd: u8, d: &[u8]) -> Vec<u8> {
        let mut p = ((d.len() + 1) as u32).to_be_bytes().to_vec();
        p.push(cmd);
        p.extend_from_slice(d);
        p
    }

    #[test]
    fn commands_read_as_postfix_sends_them() {
        let mut s = Vec::new();
        s.extend(packet(
            b'O',
            &[0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff],
        ));
        s.extend(packet(b'D', b"C{daemon_name}\0smtpd\0j\0host\0"));
        s.extend(packet(b'C', b"localhost\x004\x30\x39127.0.0.1\0"));
        s.extend(packet(b'L', b"Subject\0 a\n\tb\0"));
        s.extend(packet(b'B', b"body\r\n"));
        s.extend(packet(b'E', b""));
        let mut r = &s[..];
        assert_eq!(
            read_command(&mut r).unwrap(),
            Some(Command::OptNeg {
                version: 6,
                actions: 0x1ff,
                protocol: 0x1fffff
            })
        );
        assert!(
            matches!(read_command(&mut r).unwrap(), Some(Command::Macro { stage: b'C', pairs }) if pairs.len() == 2)
        );
        assert_eq!(
            read_command(&mut r).unwrap(),
            Some(Command::Connect {
                host: "localhost".into(),
                family: b'4',
                port: 12345,
                addr: "127.0.0.1".into()
            })
        );
        assert_eq!(
            read_command(&mut r).unwrap(),
            Some(Command::Header {
                name: "Subject".into(),
                value: b" a\n\tb".to_vec()
            })
        );
        assert_eq!(
            read_command(&mut r).unwrap(),
            Some(Command::Body(b"body\r\n".to_vec()))
        );
        assert_eq!(read_command(&mut r).unwrap(), Some(Command::EndOfMessage));
        assert_eq!(read_command(&mut r).unwrap(), None);
    }

    #[test]
    fn broken_packets_are_errors_not_panics() {
        for bad in [
            &[0u8, 0, 0, 0][..],
            &[0xff, 0xff, 0xff, 0xff],
            &[0, 0, 0, 5, b'O', 0],
            &[0, 0, 0, 1, b'C'],
        ] {
            let mut r = bad;
            assert!(read_command(&mut r).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn folded_headers_come_back_with_crlf() {
        let s = Session {
            headers: vec![("Subject".into(), b" a\n\tb".to_vec())],
            body: b"x\n".to_vec(),
            leading_space: true,
            ..Session::default()
        };
        assert_eq!(s.message(), b"Subject: a\r\n\tb\r\n\r\nx\r\n");
    }
}
