//! Response writing: header, question, RRs with name compression, truncation marks.

use blason_zone::model::RRset;
use blason_zone::Rtype;

/// Most names remembered for compression; later names are written uncompressed.
const MAX_COMP: usize = 48;

/// A response being written into a caller-owned buffer.
pub struct Writer<'b> {
    pub buf: &'b mut Vec<u8>,
    pub limit: usize,
    /// Offsets of names (or name suffixes) already in the packet.
    comp: [u16; MAX_COMP],
    ncomp: usize,
}

/// The packet would exceed the size limit.
#[derive(Debug)]
pub struct Full;

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut Vec<u8>, limit: usize) -> Self {
        Writer {
            buf,
            limit,
            comp: [0; MAX_COMP],
            ncomp: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Remembers that a name starts at `pos` (for the question name).
    pub fn remember(&mut self, pos: usize) {
        if self.ncomp < MAX_COMP && pos < 0x4000 {
            self.comp[self.ncomp] = pos as u16;
            self.ncomp += 1;
        }
    }

    /// Writes `name` (uncompressed wire), compressing against earlier names.
    pub fn name(&mut self, name: &[u8]) {
        let mut p = 0;
        while p < name.len() && name[p] != 0 {
            if let Some(off) = self.find(&name[p..]) {
                self.buf.extend_from_slice(&(0xC000 | off).to_be_bytes());
                return;
            }
            let here = self.buf.len();
            let l = name[p] as usize;
            self.buf.extend_from_slice(&name[p..p + 1 + l]);
            self.remember(here);
            p += 1 + l;
        }
        self.buf.push(0);
    }

    /// Finds an earlier occurrence of the uncompressed name suffix `s`.
    fn find(&self, s: &[u8]) -> Option<u16> {
        self.comp[..self.ncomp]
            .iter()
            .find(|&&off| name_at_eq(self.buf, off as usize, s))
            .copied()
    }

    /// Writes one RR. Returns `Err(Full)` if it does not fit (the buffer is then left
    /// as it was).
    pub fn rr(
        &mut self,
        owner: Owner,
        rtype: Rtype,
        class: u16,
        ttl: u32,
        rdata: &[u8],
    ) -> Result<(), Full> {
        let start = self.buf.len();
        let saved = self.ncomp;
        match owner {
            Owner::Ptr(off) => self.buf.extend_from_slice(&(0xC000 | off).to_be_bytes()),
            Owner::Name(n) => self.name(n),
        }
        self.buf.extend_from_slice(&rtype.0.to_be_bytes());
        self.buf.extend_from_slice(&class.to_be_bytes());
        self.buf.extend_from_slice(&ttl.to_be_bytes());
        let len_at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0]);
        self.rdata(rtype, rdata);
        let rdlen = self.buf.len() - len_at - 2;
        self.buf[len_at..len_at + 2].copy_from_slice(&(rdlen as u16).to_be_bytes());
        if self.buf.len() > self.limit {
            self.buf.truncate(start);
            self.ncomp = saved;
            return Err(Full);
        }
        Ok(())
    }

    /// Writes rdata, compressing embedded names only for the types RFC 3597 §4 allows.
    fn rdata(&mut self, rtype: Rtype, d: &[u8]) {
        match rtype.0 {
            // NS, MD, MF, CNAME, MB, MG, MR, PTR: one name.
            2..=5 | 7..=9 | 12 => self.name(d),
            15 if d.len() > 2 => {
                self.buf.extend_from_slice(&d[..2]);
                self.name(&d[2..]);
            }
            6 | 14 => {
                let a = blason_zone::name::wire_name_len(d, 0).unwrap_or(d.len());
                self.name(&d[..a]);
                let b = blason_zone::name::wire_name_len(d, a)
                    .map(|n| a + n)
                    .unwrap_or(d.len());
                self.name(&d[a..b]);
                self.buf.extend_from_slice(&d[b..]);
            }
            _ => self.buf.extend_from_slice(d),
        }
    }

    /// Writes every rdata of `rrset` under `owner`; all or nothing.
    pub fn rrset(&mut self, owner: Owner, rrset: &RRset, ttl: u32) -> Result<u16, Full> {
        let start = self.buf.len();
        let saved = self.ncomp;
        let mut n = 0;
        for rd in rrset.rdatas() {
            if self.rr(owner, rrset.rtype, 1, ttl, rd).is_err() {
                self.buf.truncate(start);
                self.ncomp = saved;
                return Err(Full);
            }
            n += 1;
        }
        Ok(n)
    }
}

/// How an RR's owner is written.
#[derive(Clone, Copy)]
pub enum Owner<'a> {
    /// A pointer to a name already in the packet (the question name).
    Ptr(u16),
    /// An uncompressed wire name.
    Name(&'a [u8]),
}

/// True if the (possibly compressed) name at `pos` in `pkt` equals uncompressed `s`,
/// ignoring ASCII case.
fn name_at_eq(pkt: &[u8], mut pos: usize, s: &[u8]) -> bool {
    let mut i = 0;
    let mut hops = 0;
    loop {
        let Some(&l) = pkt.get(pos) else { return false };
        if l & 0xC0 == 0xC0 {
            let Some(&lo) = pkt.get(pos + 1) else {
                return false;
            };
            pos = ((l as usize & 0x3F) << 8) | lo as usize;
            hops += 1;
            if hops > 64 {
                return false;
            }
            continue;
        }
        let l = l as usize;
        if s.get(i) != Some(&(l as u8)) {
            return false;
        }
        if l == 0 {
            return true;
        }
        match (pkt.get(pos + 1..pos + 1 + l), s.get(i + 1..i + 1 + l)) {
            (Some(a), Some(b)) if a.eq_ignore_ascii_case(b) => {}
            _ => return false,
        }
        pos += 1 + l;
        i += 1 + l;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_reuses_suffixes() {
        let mut v = vec![0u8; 12];
        let mut w = Writer::new(&mut v, 512);
        w.name(b"\x03www\x07example\x03com\x00");
        let after_first = w.len();
        w.name(b"\x04mail\x07EXAMPLE\x03com\x00");
        // "mail" label then a pointer to "example.com" at offset 16.
        assert_eq!(&w.buf[after_first..], b"\x04mail\xC0\x10");
        assert!(name_at_eq(
            w.buf,
            after_first,
            b"\x04mail\x07example\x03com\x00"
        ));
    }
}
