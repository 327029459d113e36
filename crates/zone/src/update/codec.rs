//! The journal's binary form of changesets and whole snapshots: lengths and raw
//! wire data, read back with every length and name checked (the bytes come from a
//! file that a crash or a disk may have damaged; checksums are the journal's).

use super::Changeset;
use crate::model::{Node, RRset};
use crate::{Class, Name, Rtype, Zone};
use std::cmp::Ordering;
use std::fmt;

/// Bytes that do not hold what they claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed journal data: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

fn put_name(out: &mut Vec<u8>, n: &Name) {
    out.push(n.as_wire().len() as u8);
    out.extend_from_slice(n.as_wire());
}

fn put_rrset(out: &mut Vec<u8>, r: &RRset) {
    out.extend_from_slice(&r.rtype.0.to_be_bytes());
    out.extend_from_slice(&r.ttl.to_be_bytes());
    let d = r.wire_data();
    out.extend_from_slice(&(d.len() as u32).to_be_bytes());
    out.extend_from_slice(d);
}

/// Reads what the `put_*` functions wrote.
struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .p
            .checked_add(n)
            .ok_or(DecodeError("length overflow"))?;
        let s = self.b.get(self.p..end).ok_or(DecodeError("truncated"))?;
        self.p = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn name(&mut self) -> Result<Name, DecodeError> {
        let n = self.u8()? as usize;
        Name::from_wire(self.take(n)?).map_err(|_| DecodeError("bad name"))
    }
    fn rrset(&mut self) -> Result<RRset, DecodeError> {
        let t = Rtype(self.u16()?);
        let ttl = self.u32()?;
        let n = self.u32()? as usize;
        let d = self.take(n)?;
        if d.is_empty() {
            return Err(DecodeError("empty RRset"));
        }
        RRset::from_wire_data(t, ttl, d).ok_or(DecodeError("bad rdata framing"))
    }
    fn done(&self) -> Result<(), DecodeError> {
        if self.p == self.b.len() {
            Ok(())
        } else {
            Err(DecodeError("trailing bytes"))
        }
    }
}

/// A changeset's bytes.
pub fn encode_changeset(cs: &Changeset, out: &mut Vec<u8>) {
    out.extend_from_slice(&cs.from.to_be_bytes());
    out.extend_from_slice(&cs.to.to_be_bytes());
    for part in [&cs.removed, &cs.added] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        for (n, r) in part {
            put_name(out, n);
            put_rrset(out, r);
        }
    }
}

pub fn decode_changeset(b: &[u8]) -> Result<Changeset, DecodeError> {
    let mut r = Reader { b, p: 0 };
    let from = r.u32()?;
    let to = r.u32()?;
    let mut parts: [Vec<(Name, RRset)>; 2] = [Vec::new(), Vec::new()];
    for part in &mut parts {
        let n = r.u32()? as usize;
        // Each entry takes at least 12 bytes: no allocation beyond what is there.
        part.reserve(n.min(b.len() / 12));
        for _ in 0..n {
            let name = r.name()?;
            part.push((name, r.rrset()?));
        }
    }
    r.done()?;
    let [removed, added] = parts;
    Ok(Changeset {
        from,
        to,
        removed,
        added,
    })
}

/// A whole zone's bytes: its data nodes in canonical order (empty non-terminals and
/// flags are derived again when read).
pub fn encode_zone(z: &Zone, out: &mut Vec<u8>) {
    put_name(out, z.origin());
    out.extend_from_slice(&z.class().0.to_be_bytes());
    let nodes = z.nodes();
    let data = nodes.iter().filter(|n| !n.rrsets.is_empty()).count();
    out.extend_from_slice(&(data as u32).to_be_bytes());
    for n in nodes.iter().filter(|n| !n.rrsets.is_empty()) {
        put_name(out, &n.name);
        out.extend_from_slice(&(n.rrsets.len() as u16).to_be_bytes());
        for r in n.rrsets.iter() {
            put_rrset(out, r);
        }
    }
}

/// The zone [`encode_zone`] wrote: names in strict canonical order under the origin,
/// the origin first with an SOA.
pub fn decode_zone(b: &[u8]) -> Result<Zone, DecodeError> {
    let mut r = Reader { b, p: 0 };
    let origin = r.name()?;
    let class = Class(r.u16()?);
    let count = r.u32()? as usize;
    let mut nodes: Vec<Node> = Vec::with_capacity(count.min(b.len() / 8));
    for _ in 0..count {
        let name = r.name()?;
        if !name.is_subdomain_of(&origin) {
            return Err(DecodeError("a name outside the zone"));
        }
        if let Some(prev) = nodes.last() {
            if prev.name.canonical_cmp(&name) != Ordering::Less {
                return Err(DecodeError("names out of order"));
            }
        } else if name != origin {
            return Err(DecodeError("the apex is not first"));
        }
        let k = r.u16()? as usize;
        let mut rrsets: Vec<RRset> = Vec::with_capacity(k);
        for _ in 0..k {
            let rr = r.rrset()?;
            if rrsets
                .last()
                .is_some_and(|p: &RRset| (p.rtype.0, p.covers.0) >= (rr.rtype.0, rr.covers.0))
            {
                return Err(DecodeError("RRsets out of order"));
            }
            rrsets.push(rr);
        }
        nodes.push(Node {
            name,
            rrsets: rrsets.into_boxed_slice(),
            flags: 0,
        });
    }
    r.done()?;
    if nodes.first().and_then(|n| n.rrset(Rtype::SOA)).is_none() {
        return Err(DecodeError("no SOA at the apex"));
    }
    Ok(Zone::from_data(&origin, class, nodes))
}
