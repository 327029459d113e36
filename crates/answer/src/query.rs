//! Parsing the parts of a query that answering needs, with FORMERR for what is
//! malformed.

use crate::Failure;

#[derive(Clone, Copy, Debug)]
pub struct Edns {
    pub payload: u16,
    pub version: u8,
    pub do_bit: bool,
}

/// A parsed query.
#[derive(Debug)]
pub struct Query {
    /// End of the question name (it starts at 12).
    pub qname_end: usize,
    /// End of the question section.
    pub question_end: usize,
    pub qtype: u16,
    pub qclass: u16,
    pub edns: Option<Edns>,
    /// The query carries a TSIG (RFC 8945): answered off the hot path, signed.
    pub signed: bool,
    /// AXFR or IXFR: a zone transfer, answered off the hot path.
    pub transfer: bool,
    /// Where the data of a COOKIE option (RFC 7873) sits in the query: a client
    /// cookie of 8 bytes, then a server cookie of 8 to 32 when the client has one.
    pub cookie: Option<(usize, usize)>,
}

impl Query {
    /// The question name, in wire form.
    pub fn qname<'q>(&self, query: &'q [u8]) -> &'q [u8] {
        &query[12..self.qname_end]
    }
}

/// EDNS option code of COOKIE (RFC 7873 §4).
const OPT_COOKIE: u16 = 10;

/// Parses a query. On failure returns the RCODE cause and the end of the question if
/// it could be read (else 12), so the error response can echo it.
pub fn parse_query(p: &[u8]) -> Result<Query, (Failure, usize)> {
    let opcode = (p[2] >> 3) & 0xF;
    let qd = u16::from_be_bytes([p[4], p[5]]);
    let an = u16::from_be_bytes([p[6], p[7]]);
    let ns = u16::from_be_bytes([p[8], p[9]]);
    let ar = u16::from_be_bytes([p[10], p[11]]);
    if qd != 1 {
        let fail = if opcode != 0 {
            Failure::NotImp
        } else {
            Failure::FormErr
        };
        return Err((fail, 12));
    }
    // The question name: plain labels only (nothing earlier to point to).
    let mut pos = 12;
    loop {
        let Some(&l) = p.get(pos) else {
            return Err((Failure::FormErr, 12));
        };
        if l == 0 {
            pos += 1;
            break;
        }
        if l & 0xC0 != 0 || pos + 1 + l as usize > p.len() || pos + 1 + l as usize - 12 > 254 {
            return Err((Failure::FormErr, 12));
        }
        pos += 1 + l as usize;
    }
    let qname_end = pos;
    if pos + 4 > p.len() {
        return Err((Failure::FormErr, 12));
    }
    let qtype = u16::from_be_bytes([p[pos], p[pos + 1]]);
    let qclass = u16::from_be_bytes([p[pos + 2], p[pos + 3]]);
    pos += 4;
    let question_end = pos;
    if opcode != 0 {
        return Err((Failure::NotImp, question_end));
    }
    // An IXFR carries the client's SOA in the authority section (RFC 1995).
    let transfer = qtype == 251 || qtype == 252;
    if an != 0 || (ns != 0 && qtype != 251) {
        return Err((Failure::FormErr, question_end));
    }
    for _ in 0..ns {
        pos = skip_name(p, pos).ok_or((Failure::FormErr, question_end))?;
        let rdlen = p
            .get(pos + 8..pos + 10)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or((Failure::FormErr, question_end))?;
        pos += 10 + rdlen;
        if pos > p.len() {
            return Err((Failure::FormErr, question_end));
        }
    }
    let mut edns = None;
    let mut signed = false;
    let mut cookie = None;
    for k in 0..ar {
        let name_start = pos;
        pos = skip_name(p, pos).ok_or((Failure::FormErr, question_end))?;
        if pos + 10 > p.len() {
            return Err((Failure::FormErr, question_end));
        }
        let rtype = u16::from_be_bytes([p[pos], p[pos + 1]]);
        let class = u16::from_be_bytes([p[pos + 2], p[pos + 3]]);
        let ttl = [p[pos + 4], p[pos + 5], p[pos + 6], p[pos + 7]];
        let rdlen = u16::from_be_bytes([p[pos + 8], p[pos + 9]]) as usize;
        pos += 10;
        if pos + rdlen > p.len() {
            return Err((Failure::FormErr, question_end));
        }
        if rtype == 41 {
            // One OPT, owned by the root (RFC 6891 §6.1.1).
            if edns.is_some() || p[name_start] != 0 {
                return Err((Failure::FormErr, question_end));
            }
            edns = Some(Edns {
                payload: class,
                version: ttl[1],
                do_bit: ttl[2] & 0x80 != 0,
            });
            cookie = options(&p[pos..pos + rdlen], pos).ok_or((Failure::FormErr, question_end))?;
        }
        // A TSIG is the last record (RFC 8945 §5.1).
        if rtype == 250 && k + 1 == ar {
            signed = true;
        }
        pos += rdlen;
    }
    Ok(Query {
        qname_end,
        question_end,
        qtype,
        qclass,
        edns,
        signed,
        transfer,
        cookie,
    })
}

/// Walks the options of an OPT record's data (which starts at `base` in the
/// message) and finds the COOKIE. None when an option overruns the data, or a
/// COOKIE has a length RFC 7873 §5.2.2 calls malformed (FORMERR).
fn options(data: &[u8], base: usize) -> Option<Option<(usize, usize)>> {
    let mut at = 0;
    let mut cookie = None;
    while at < data.len() {
        let head = data.get(at..at + 4)?;
        let code = u16::from_be_bytes([head[0], head[1]]);
        let len = u16::from_be_bytes([head[2], head[3]]) as usize;
        if at + 4 + len > data.len() {
            return None;
        }
        if code == OPT_COOKIE {
            // Client cookie alone (8), or with a server cookie of 8 to 32 bytes.
            if cookie.is_some() || !(len == 8 || (16..=40).contains(&len)) {
                return None;
            }
            cookie = Some((base + at + 4, len));
        }
        at += 4 + len;
    }
    Some(cookie)
}

/// Skips a possibly compressed name; returns the position after it.
fn skip_name(p: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let l = *p.get(pos)?;
        match l & 0xC0 {
            0 if l == 0 => return Some(pos + 1),
            0 => pos += 1 + l as usize,
            0xC0 => {
                return if pos + 2 <= p.len() {
                    Some(pos + 2)
                } else {
                    None
                }
            }
            _ => return None,
        }
    }
}
