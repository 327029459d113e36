//! DNS messages (RFC 1035 §4), parsed whole into owned values and built back.
//!
//! Owned rather than zero-copy: these messages travel the control path (a parent DS
//! query, a mail check, a transfer), where clarity beats the allocation; the query
//! path keeps its own parser and writer in crate `answer`.

use crate::ProtoError;
use blason_zone::{Name, Rtype};

/// Type numbers this module needs by name.
const OPT: u16 = 41;
const TSIG: u16 = 250;

/// One question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: Rtype,
    pub qclass: u16,
}

/// One resource record, its rdata in uncompressed wire form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub rtype: Rtype,
    pub class: u16,
    pub ttl: u32,
    pub rdata: Vec<u8>,
}

/// The sections after the question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// The OPT pseudo-record's contents (RFC 6891).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edns {
    pub udp_size: u16,
    /// The upper 8 bits of the 12-bit RCODE.
    pub ext_rcode: u8,
    pub version: u8,
    pub dnssec_ok: bool,
    pub options: Vec<(u16, Vec<u8>)>,
}

/// A whole message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub id: u16,
    /// The second and third header octets: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE.
    pub flags: u16,
    pub questions: Vec<Question>,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
    /// Without the OPT record (see `edns`).
    pub additional: Vec<Record>,
    pub edns: Option<Edns>,
    /// Where the TSIG record (the last in the additional section) starts, if any.
    pub tsig_at: Option<usize>,
}

impl Message {
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    pub fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    pub fn is_authoritative(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    pub fn is_truncated(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// The full RCODE, EDNS's upper bits included.
    pub fn rcode(&self) -> u16 {
        let low = self.flags & 0xf;
        low | self
            .edns
            .as_ref()
            .map_or(0, |e| u16::from(e.ext_rcode) << 4)
    }

    /// The records of a section.
    pub fn section(&self, s: Section) -> &[Record] {
        match s {
            Section::Answer => &self.answer,
            Section::Authority => &self.authority,
            Section::Additional => &self.additional,
        }
    }

    /// Parses a whole message; trailing bytes, a count that runs past the end, a
    /// compression loop or a second OPT are errors.
    pub fn parse(b: &[u8]) -> Result<Message, ProtoError> {
        let h = b
            .get(..12)
            .ok_or(ProtoError::Malformed("shorter than a header"))?;
        let u16_at = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let mut m = Message {
            id: u16_at(0),
            flags: u16_at(2),
            ..Message::default()
        };
        let (qd, an, ns, ar) = (u16_at(4), u16_at(6), u16_at(8), u16_at(10));
        let mut p = 12;
        for _ in 0..qd {
            let (name, next) = read_name(b, p)?;
            let t = b
                .get(next..next + 4)
                .ok_or(ProtoError::Malformed("question cut short"))?;
            m.questions.push(Question {
                name,
                qtype: Rtype(u16::from_be_bytes([t[0], t[1]])),
                qclass: u16::from_be_bytes([t[2], t[3]]),
            });
            p = next + 4;
        }
        for (count, section) in [(an, 0), (ns, 1), (ar, 2)] {
            for k in 0..count {
                let start = p;
                let (rec, next) = read_record(b, p)?;
                p = next;
                match (section, rec.rtype.0) {
                    (2, OPT) => {
                        if m.edns.is_some() {
                            return Err(ProtoError::Malformed("two OPT records"));
                        }
                        m.edns = Some(edns_of(&rec)?);
                    }
                    (2, TSIG) if k + 1 == count => {
                        m.tsig_at = Some(start);
                        m.additional.push(rec);
                    }
                    (0, _) => m.answer.push(rec),
                    (1, _) => m.authority.push(rec),
                    _ => m.additional.push(rec),
                }
            }
        }
        if p != b.len() {
            return Err(ProtoError::Malformed("bytes after the last record"));
        }
        Ok(m)
    }

    /// The message in wire form, uncompressed (OPT last but before a TSIG).
    pub fn build(&self) -> Vec<u8> {
        let mut w = MessageBuilder::new(self.id, self.flags);
        for q in &self.questions {
            w.question(&q.name, q.qtype, q.qclass);
        }
        for (s, recs) in [
            (Section::Answer, &self.answer),
            (Section::Authority, &self.authority),
        ] {
            for r in recs {
                w.record(s, r);
            }
        }
        let n = self.additional.len();
        let has_tsig = self.tsig_at.is_some() && n > 0 && self.additional[n - 1].rtype.0 == TSIG;
        let (rest, tsig) = self.additional.split_at(if has_tsig { n - 1 } else { n });
        for r in rest {
            w.record(Section::Additional, r);
        }
        if let Some(e) = &self.edns {
            w.edns(e);
        }
        for r in tsig {
            w.record(Section::Additional, r);
        }
        w.finish()
    }
}

fn edns_of(rec: &Record) -> Result<Edns, ProtoError> {
    if !rec.owner.is_root() {
        return Err(ProtoError::Malformed("OPT owner is not the root"));
    }
    let mut options = Vec::new();
    let mut p = 0;
    let d = &rec.rdata;
    while p < d.len() {
        let h = d
            .get(p..p + 4)
            .ok_or(ProtoError::Malformed("EDNS option cut short"))?;
        let code = u16::from_be_bytes([h[0], h[1]]);
        let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        let v = d
            .get(p + 4..p + 4 + len)
            .ok_or(ProtoError::Malformed("EDNS option cut short"))?;
        options.push((code, v.to_vec()));
        p += 4 + len;
    }
    Ok(Edns {
        udp_size: rec.class,
        ext_rcode: (rec.ttl >> 24) as u8,
        version: (rec.ttl >> 16) as u8,
        dnssec_ok: rec.ttl & 0x8000 != 0,
        options,
    })
}

/// A possibly compressed name at `pos`: the name and the offset after it.
pub fn read_name(m: &[u8], mut pos: usize) -> Result<(Name, usize), ProtoError> {
    let mut wire = Vec::with_capacity(64);
    let mut end = None;
    // Each jump goes strictly backwards, so a message can hold no loop.
    let mut limit = pos;
    loop {
        let len = *m.get(pos).ok_or(ProtoError::Malformed("name cut short"))?;
        match len & 0xc0 {
            0 => {
                let l = usize::from(len);
                let label = m
                    .get(pos..pos + 1 + l)
                    .ok_or(ProtoError::Malformed("label cut short"))?;
                wire.extend_from_slice(label);
                if wire.len() > 255 {
                    return Err(ProtoError::Malformed("name longer than 255 octets"));
                }
                pos += 1 + l;
                if l == 0 {
                    break;
                }
            }
            0xc0 => {
                let lo = *m
                    .get(pos + 1)
                    .ok_or(ProtoError::Malformed("pointer cut short"))?;
                end.get_or_insert(pos + 2);
                let to = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                if to >= limit {
                    return Err(ProtoError::Malformed(
                        "compression pointer forward or looping",
                    ));
                }
                limit = to;
                pos = to;
            }
            _ => return Err(ProtoError::Malformed("unknown label type")),
        }
    }
    let name = Name::from_wire(&wire).map_err(|_| ProtoError::Malformed("bad name"))?;
    Ok((name, end.unwrap_or(pos)))
}

/// How the names in a type's rdata sit (RFC 3597 §4: the types whose names may be
/// compressed): octets before the first name, names in a row, octets after.
fn name_layout(t: u16) -> Option<(usize, usize)> {
    Some(match t {
        2..=5 | 7..=9 | 12 | 39 => (0, 1), // NS MD MF CNAME MB MG MR PTR DNAME
        6 => (0, 2),                       // SOA (then 20 octets)
        14 | 17 => (0, 2),                 // MINFO, RP
        15 | 18 | 21 | 36 => (2, 1),       // MX AFSDB RT KX
        26 => (2, 2),                      // PX
        33 => (6, 1),                      // SRV
        _ => return None,
    })
}

fn read_record(m: &[u8], p: usize) -> Result<(Record, usize), ProtoError> {
    let (owner, p) = read_name(m, p)?;
    let h = m
        .get(p..p + 10)
        .ok_or(ProtoError::Malformed("record header cut short"))?;
    let rtype = u16::from_be_bytes([h[0], h[1]]);
    let class = u16::from_be_bytes([h[2], h[3]]);
    let ttl = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
    let len = usize::from(u16::from_be_bytes([h[8], h[9]]));
    let start = p + 10;
    let end = start + len;
    let raw = m
        .get(start..end)
        .ok_or(ProtoError::Malformed("rdata cut short"))?;
    let rdata = match name_layout(rtype) {
        // Empty rdata (an update's deletion, a prerequisite) has no names to expand.
        _ if raw.is_empty() => Vec::new(),
        None => raw.to_vec(),
        Some((before, names)) => {
            let mut out = raw
                .get(..before)
                .ok_or(ProtoError::Malformed("rdata cut short"))?
                .to_vec();
            let mut q = start + before;
            for _ in 0..names {
                let (n, next) = read_name(m, q)?;
                if next > end {
                    return Err(ProtoError::Malformed("a name runs past its rdata"));
                }
                out.extend_from_slice(n.as_wire());
                q = next;
            }
            let tail = &m[q..end];
            if rtype == 6 && tail.len() != 20 {
                return Err(ProtoError::Malformed("SOA rdata of the wrong length"));
            }
            out.extend_from_slice(tail);
            out
        }
    };
    Ok((
        Record {
            owner,
            rtype: Rtype(rtype),
            class,
            ttl,
            rdata,
        },
        end,
    ))
}

/// Writes a message, section by section, uncompressed.
pub struct MessageBuilder {
    buf: Vec<u8>,
    counts: [u16; 4],
    /// The last section written (0 question .. 3 additional): sections go in order.
    at: usize,
}

impl MessageBuilder {
    pub fn new(id: u16, flags: u16) -> MessageBuilder {
        let mut buf = Vec::with_capacity(512);
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&flags.to_be_bytes());
        buf.extend_from_slice(&[0; 8]);
        MessageBuilder {
            buf,
            counts: [0; 4],
            at: 0,
        }
    }

    /// A query: one question, RD as asked, EDNS with `udp_size` and DO when given.
    pub fn query(
        id: u16,
        name: &Name,
        qtype: Rtype,
        rd: bool,
        edns: Option<(u16, bool)>,
    ) -> Vec<u8> {
        let mut w = MessageBuilder::new(id, if rd { 0x0100 } else { 0 });
        w.question(name, qtype, 1);
        if let Some((size, dnssec_ok)) = edns {
            w.edns(&Edns {
                udp_size: size,
                dnssec_ok,
                ..Edns::default()
            });
        }
        w.finish()
    }

    pub fn question(&mut self, name: &Name, qtype: Rtype, qclass: u16) -> &mut Self {
        self.at = 0;
        self.buf.extend_from_slice(name.as_wire());
        self.buf.extend_from_slice(&qtype.0.to_be_bytes());
        self.buf.extend_from_slice(&qclass.to_be_bytes());
        self.counts[0] += 1;
        self
    }

    /// Adds a record; sections must come in order (answer, authority, additional).
    pub fn record(&mut self, s: Section, r: &Record) -> &mut Self {
        let i = match s {
            Section::Answer => 1,
            Section::Authority => 2,
            Section::Additional => 3,
        };
        debug_assert!(i >= self.at, "sections in order");
        self.at = i;
        self.buf.extend_from_slice(r.owner.as_wire());
        self.buf.extend_from_slice(&r.rtype.0.to_be_bytes());
        self.buf.extend_from_slice(&r.class.to_be_bytes());
        self.buf.extend_from_slice(&r.ttl.to_be_bytes());
        self.buf
            .extend_from_slice(&(r.rdata.len().min(65535) as u16).to_be_bytes());
        self.buf
            .extend_from_slice(&r.rdata[..r.rdata.len().min(65535)]);
        self.counts[i] += 1;
        self
    }

    /// Adds the OPT record to the additional section.
    pub fn edns(&mut self, e: &Edns) -> &mut Self {
        let mut rdata = Vec::new();
        for (code, v) in &e.options {
            rdata.extend_from_slice(&code.to_be_bytes());
            rdata.extend_from_slice(&(v.len() as u16).to_be_bytes());
            rdata.extend_from_slice(v);
        }
        let ttl = (u32::from(e.ext_rcode) << 24)
            | (u32::from(e.version) << 16)
            | if e.dnssec_ok { 0x8000 } else { 0 };
        self.record(
            Section::Additional,
            &Record {
                owner: Name::root(),
                rtype: Rtype(OPT),
                class: e.udp_size,
                ttl,
                rdata,
            },
        )
    }

    /// The message's bytes, counts filled in.
    pub fn finish(mut self) -> Vec<u8> {
        for (k, c) in self.counts.iter().enumerate() {
            self.buf[4 + 2 * k..6 + 2 * k].copy_from_slice(&c.to_be_bytes());
        }
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }

    #[test]
    fn a_query_round_trips() {
        let q = MessageBuilder::query(
            0x1234,
            &name("example.com."),
            Rtype(43),
            false,
            Some((1232, true)),
        );
        let m = Message::parse(&q).unwrap();
        assert_eq!(m.id, 0x1234);
        assert_eq!(m.questions[0].name, name("example.com."));
        assert_eq!(m.questions[0].qtype, Rtype(43));
        let e = m.edns.as_ref().unwrap();
        assert_eq!((e.udp_size, e.dnssec_ok), (1232, true));
        assert_eq!(m.build(), q);
    }

    #[test]
    fn compressed_names_in_owners_and_rdata_are_expanded() {
        // Response: question a., answer MX 10 b.a. with pointers, SOA in authority.
        let mut r = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 1, 0, 0];
        r.extend(b"\x01a\x00\x00\x0f\x00\x01");
        r.extend([
            0xc0, 12, 0, 15, 0, 1, 0, 0, 0, 60, 0, 6, 0, 10, 1, b'b', 0xc0, 12,
        ]);
        r.extend([
            0xc0, 12, 0, 6, 0, 1, 0, 0, 0, 60, 0, 27, 2, b'n', b's', 0xc0, 12, 0xc0, 12,
        ]);
        r.extend([0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5]);
        let m = Message::parse(&r).unwrap();
        assert_eq!(m.answer[0].rdata, b"\x00\x0a\x01b\x01a\x00");
        assert_eq!(m.authority[0].rdata.len(), 6 + 3 + 20);
        assert_eq!(m.rcode(), 0);
        // Built back uncompressed, it parses to the same message.
        assert_eq!(Message::parse(&m.build()).unwrap(), m);
        // A pointer to itself, and every cut, is an error, not a panic.
        let mut bad = r.clone();
        bad[12] = 0xc0;
        bad[13] = 12;
        assert!(Message::parse(&bad).is_err());
        for cut in 0..r.len() {
            assert!(Message::parse(&r[..cut]).is_err());
        }
    }
}
