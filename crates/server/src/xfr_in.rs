//! Incoming transfers, for zones this server is a secondary of: IXFR (RFC 1995)
//! with AXFR (RFC 5936) as the fallback, over TCP, TSIG-checked message by message
//! when the primary has a key.
//!
//! Design note. The transfer is read whole and checked before anything changes: an
//! IXFR is played onto the served zone with `update::apply`, which refuses to remove
//! what is not there; an AXFR becomes a new zone. Either way the result is handed to
//! the zone's commit road by the caller, so a bad transfer leaves the old copy
//! serving and is logged with the primary's address.
#![forbid(unsafe_code)]

use blason_proto::tsig::{self, Key, Position};
use blason_proto::{Message, MessageBuilder, Record, Section};
use blason_zone::update::{self, Changeset};
use blason_zone::{Name, RRset, Rtype, Zone};
use std::fmt;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Why a transfer from a primary failed (the old copy keeps serving).
#[derive(Debug)]
pub enum XfrInError {
    Io(std::io::Error),
    /// The primary sent something that is not a good transfer.
    Bad(String),
    /// The primary answered with an error RCODE.
    Rcode(u16),
    Tsig(tsig::TsigError),
}

impl fmt::Display for XfrInError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XfrInError::Io(e) => write!(f, "{e}"),
            XfrInError::Bad(e) => write!(f, "bad transfer: {e}"),
            XfrInError::Rcode(r) => write!(f, "answered {}", blason_proto::rcode_name(*r)),
            XfrInError::Tsig(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for XfrInError {}

impl blason_zone::fault::Blame for XfrInError {
    fn fault(&self) -> blason_zone::fault::Fault {
        match self {
            XfrInError::Io(_) => blason_zone::fault::Fault::System,
            _ => blason_zone::fault::Fault::Peer,
        }
    }
}

/// The longest a transfer may take, however steadily the primary trickles it: the
/// zone's worker waits for it. A 1,000,000-name zone arrives in seconds on loopback.
pub const DEADLINE: Duration = Duration::from_secs(15 * 60);

/// The most a transfer may send (its messages' bytes): bounds the memory a primary
/// can make us hold. Several times the size of the 1,000,000-name signed test zone.
pub const MAX_BYTES: usize = 2 << 30;

fn bad(s: impl Into<String>) -> XfrInError {
    XfrInError::Bad(s.into())
}

/// What a primary gave.
pub enum Pulled {
    /// The zone as it now is.
    Zone(Zone),
    /// Nothing newer than what we have.
    UpToDate,
}

/// Asks `primary` for `origin`: IXFR from `have` when there is a copy, else AXFR.
/// An IXFR the primary refuses, or one that does not apply, is followed by an AXFR.
pub fn pull(
    primary: SocketAddr,
    key: Option<&Key>,
    origin: &Name,
    have: Option<&Zone>,
    timeout: Duration,
) -> Result<(Pulled, &'static str), XfrInError> {
    if let Some(z) = have {
        match transfer(primary, key, origin, Some(z), timeout) {
            Ok(r) => return Ok(r),
            // Answers that say "no IXFR here", IXFRs that do not fit our copy, and
            // primaries that close on an IXFR.
            Err(XfrInError::Rcode(_)) | Err(XfrInError::Bad(_)) | Err(XfrInError::Io(_)) => {}
            Err(e) => return Err(e),
        }
    }
    transfer(primary, key, origin, None, timeout)
}

fn transfer(
    primary: SocketAddr,
    key: Option<&Key>,
    origin: &Name,
    have: Option<&Zone>,
    timeout: Duration,
) -> Result<(Pulled, &'static str), XfrInError> {
    let id = blason_proto::client::random_id();
    let qtype = if have.is_some() {
        Rtype(251)
    } else {
        Rtype(252)
    };
    let mut b = MessageBuilder::new(id, 0);
    b.question(origin, qtype, 1);
    if let Some(z) = have {
        let soa = z.soa().ok_or_else(|| bad("our copy has no SOA"))?;
        b.record(
            Section::Authority,
            &Record {
                owner: origin.clone(),
                rtype: Rtype::SOA,
                class: 1,
                ttl: soa.ttl,
                rdata: soa.first().unwrap_or_default().to_vec(),
            },
        );
    }
    let mut q = b.finish();
    let now = crate::zones::now_unix();
    let mut mac = key.map(|k| tsig::sign(&mut q, k, now, Position::Request, 0));
    let mut s = TcpStream::connect_timeout(&primary, timeout).map_err(XfrInError::Io)?;
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    s.write_all(&framed).map_err(XfrInError::Io)?;

    let mut records: Vec<Record> = Vec::new();
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut bytes = 0usize;
    let mut first = true;
    let mut end_serial: Option<u32> = None;
    // SOAs with the final serial: an AXFR ends at its second, an incremental IXFR
    // at its third (opening, the last sequence's new SOA, closing).
    let mut at_end = 0usize;
    loop {
        // Each read waits at most `timeout`, and never past the deadline.
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(bad(format!("not complete after {} s", DEADLINE.as_secs())));
        }
        let _ = s.set_read_timeout(Some(timeout.min(left)));
        let mut len = [0u8; 2];
        s.read_exact(&mut len).map_err(XfrInError::Io)?;
        let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
        bytes += m.len() + 2;
        if bytes > MAX_BYTES {
            return Err(bad(format!("more than {} MiB", MAX_BYTES >> 20)));
        }
        s.read_exact(&mut m).map_err(XfrInError::Io)?;
        if let (Some(k), Some(prior)) = (key, mac.as_ref()) {
            let pos = if first {
                Position::Response(prior)
            } else {
                Position::Subsequent(prior)
            };
            let find = |n: &Name| (*n == k.name).then_some(k);
            let (_, next) =
                tsig::verify(&m, &find, crate::zones::now_unix(), pos).map_err(XfrInError::Tsig)?;
            mac = Some(next);
        }
        let msg = Message::parse(&m).map_err(|e| bad(e.to_string()))?;
        if msg.id != id || !msg.is_response() {
            return Err(bad("not an answer to our request"));
        }
        if msg.rcode() != 0 {
            return Err(XfrInError::Rcode(msg.rcode()));
        }
        for r in msg.answer {
            if r.rtype == Rtype::SOA && r.owner == *origin {
                let serial =
                    blason_zone::update::serial_of(&r.rdata).ok_or_else(|| bad("malformed SOA"))?;
                if records.is_empty() {
                    end_serial = Some(serial);
                }
                if Some(serial) == end_serial {
                    at_end += 1;
                }
            }
            records.push(r);
        }
        first = false;
        let Some(end) = end_serial else {
            return Err(bad("the transfer does not start with the zone's SOA"));
        };
        // Up to date: one SOA, no newer than ours. A lone newer SOA is how some
        // primaries say "ask for AXFR" (RFC 1995 §4).
        if records.len() == 1 && have.is_some() {
            let ours = have.and_then(|z| z.serial()).unwrap_or(0);
            if !update::serial_gt(end, ours) {
                return Ok((Pulled::UpToDate, "up to date"));
            }
            return Err(bad("a lone newer SOA: AXFR next"));
        }
        let need = if is_incremental(&records, have.is_some()) {
            3
        } else {
            2
        };
        let last = records.last().expect("at least the first SOA");
        if at_end >= need
            && last.rtype == Rtype::SOA
            && blason_zone::update::serial_of(&last.rdata) == Some(end)
        {
            break;
        }
    }
    from_records(origin, have, &records)
}

/// The zone a complete transfer's answer records (opening SOA to closing SOA) make:
/// an incremental IXFR played onto `have`, or a whole zone. Any records give a zone
/// or an error, never a panic (the fuzz target holds it to that).
pub fn from_records(
    origin: &Name,
    have: Option<&Zone>,
    records: &[Record],
) -> Result<(Pulled, &'static str), XfrInError> {
    if records.len() < 2 {
        return Err(bad("a transfer needs an opening and a closing SOA"));
    }
    match have {
        Some(z) if is_incremental(records, true) => {
            // The zone it makes is checked whole, as an AXFR's is: a primary's
            // change can break a rule a file would be refused for.
            let next = apply_ixfr(z, records)?;
            let z = checked(blason_zone::load::recheck(&next, "transfer"))?;
            Ok((Pulled::Zone(z), "ixfr"))
        }
        _ => Ok((
            Pulled::Zone(whole(origin, &records[..records.len() - 1])?),
            if have.is_some() {
                "axfr-style ixfr"
            } else {
                "axfr"
            },
        )),
    }
}

/// An IXFR answer in incremental form: its second record is an SOA (RFC 1995 §4)
/// with another serial than the first (the old one; a zone of only its SOA in AXFR
/// form has the same serial twice).
fn is_incremental(records: &[Record], asked_ixfr: bool) -> bool {
    asked_ixfr
        && records.len() > 1
        && records[1].rtype == Rtype::SOA
        && blason_zone::update::serial_of(&records[1].rdata)
            != blason_zone::update::serial_of(&records[0].rdata)
}

/// Records grouped into RRsets (owner, type, and for RRSIG the type covered).
fn rrsets(records: &[Record]) -> Vec<(Name, RRset)> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    let covers = |r: &Record| -> u16 {
        if r.rtype == Rtype::RRSIG && r.rdata.len() >= 2 {
            u16::from_be_bytes([r.rdata[0], r.rdata[1]])
        } else {
            0
        }
    };
    sorted.sort_by(|a, b| {
        a.owner
            .canonical_cmp(&b.owner)
            .then(a.rtype.0.cmp(&b.rtype.0))
            .then(covers(a).cmp(&covers(b)))
            .then(a.rdata.cmp(&b.rdata))
    });
    sorted.dedup_by(|a, b| a.owner == b.owner && a.rtype == b.rtype && a.rdata == b.rdata);
    let mut out: Vec<(Name, RRset)> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let r = sorted[i];
        let mut j = i + 1;
        while j < sorted.len()
            && sorted[j].owner == r.owner
            && sorted[j].rtype == r.rtype
            && covers(sorted[j]) == covers(r)
        {
            j += 1;
        }
        let rd: Vec<&[u8]> = sorted[i..j].iter().map(|x| x.rdata.as_slice()).collect();
        let ttl = sorted[i..j].iter().map(|x| x.ttl).min().unwrap_or(r.ttl);
        out.push((r.owner.clone(), RRset::new(r.rtype, ttl, &rd)));
        i = j;
    }
    out
}

/// A whole zone from an AXFR's records (the closing SOA left out), built and checked
/// as a file is.
fn whole(origin: &Name, records: &[Record]) -> Result<Zone, XfrInError> {
    if let Some(r) = records.iter().find(|r| !r.owner.is_subdomain_of(origin)) {
        return Err(bad(format!("{} is outside the zone", r.owner)));
    }
    let loaded = blason_zone::load::load_records(
        origin,
        records
            .iter()
            .map(|r| (&r.owner, r.ttl, r.rtype, r.rdata.as_slice())),
        "transfer",
    );
    checked(loaded)
}

/// The zone of `loaded` when the checks `blason zone check` runs find no error (an
/// error refuses it: the old copy keeps serving).
fn checked(loaded: blason_zone::load::Loaded) -> Result<Zone, XfrInError> {
    if let Some(f) = loaded.findings.iter().find(|f| f.is_error()) {
        return Err(bad(format!(
            "the zone fails its checks ({} error(s)), the first: {f}",
            loaded.findings.iter().filter(|f| f.is_error()).count()
        )));
    }
    if loaded.zone.soa().is_none() {
        return Err(bad("no SOA at the apex"));
    }
    Ok(loaded.zone)
}

/// Plays an incremental IXFR's difference sequences onto `zone`, in order.
fn apply_ixfr(zone: &Zone, records: &[Record]) -> Result<Zone, XfrInError> {
    let origin = zone.origin();
    let is_soa = |r: &Record| r.rtype == Rtype::SOA && r.owner == *origin;
    let mut z = zone.clone();
    // Skip the opening SOA; then [old SOA, removed*, new SOA, added*]* and a final SOA.
    let body = &records[1..records.len() - 1];
    let mut i = 0;
    while i < body.len() {
        if !is_soa(&body[i]) {
            return Err(bad("a difference sequence does not start with an SOA"));
        }
        let from =
            blason_zone::update::serial_of(&body[i].rdata).ok_or_else(|| bad("malformed SOA"))?;
        let mut j = i + 1;
        while j < body.len() && !is_soa(&body[j]) {
            j += 1;
        }
        if j >= body.len() {
            return Err(bad("a difference sequence has no new SOA"));
        }
        let to =
            blason_zone::update::serial_of(&body[j].rdata).ok_or_else(|| bad("malformed SOA"))?;
        let mut k = j + 1;
        while k < body.len() && !is_soa(&body[k]) {
            k += 1;
        }
        let cs = Changeset {
            from,
            to,
            removed: rrsets(&body[i..j]),
            added: rrsets(&body[j..k]),
        };
        z = update::apply(&z, &cs).map_err(|e| bad(format!("{from} -> {to}: {e}")))?;
        i = k;
    }
    Ok(z)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ixfr_that_makes_a_zone_failing_its_checks_is_refused() {
        let o = Name::parse("x.test.", None).unwrap();
        let text = "$ORIGIN x.test.\n@ 300 SOA ns1 h 3 2 2 100 30\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.3\n";
        let z = blason_zone::load::load_bytes(&o, text.as_bytes(), "t").zone;
        let soa = |s: u32| {
            let mut r = z.soa().unwrap().first().unwrap().to_vec();
            let n = r.len();
            r[n - 20..n - 16].copy_from_slice(&s.to_be_bytes());
            Record {
                owner: o.clone(),
                rtype: Rtype::SOA,
                class: 1,
                ttl: 300,
                rdata: r,
            }
        };
        let www = |t: Rtype, rdata: Vec<u8>| Record {
            owner: Name::parse("www.x.test.", None).unwrap(),
            rtype: t,
            class: 1,
            ttl: 300,
            rdata,
        };
        let ns1 = Name::parse("ns1.x.test.", None).unwrap().as_wire().to_vec();
        let good = vec![
            soa(4),
            soa(3),
            soa(4),
            www(Rtype::TXT, b"\x02ok".to_vec()),
            soa(4),
        ];
        assert!(matches!(
            from_records(&o, Some(&z), &good),
            Ok((Pulled::Zone(_), "ixfr"))
        ));
        let bad = vec![soa(4), soa(3), soa(4), www(Rtype::CNAME, ns1), soa(4)];
        match from_records(&o, Some(&z), &bad) {
            Err(XfrInError::Bad(e)) => assert!(e.contains("cname-and-other-data"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("taken"),
        }
    }
}
