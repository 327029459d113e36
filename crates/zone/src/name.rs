//! Domain names in uncompressed wire form.
//!
//! A `Name` keeps the case it was written with (answers echo it, as BIND does) and
//! compares case-insensitively. Canonical order (RFC 4034 §6.1) is provided both as a
//! comparison and as a byte key whose plain `memcmp` order equals canonical order,
//! which is what the zone model sorts by.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Maximum wire length of a name (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;
/// Maximum length of one label.
pub const MAX_LABEL_LEN: usize = 63;

/// An absolute domain name in uncompressed wire form (labels, then the root label).
#[derive(Clone)]
pub struct Name(Box<[u8]>);

/// Why a name could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    LabelTooLong,
    NameTooLong,
    EmptyLabel,
    BadEscape,
    Malformed,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
            NameError::EmptyLabel => "empty label",
            NameError::BadEscape => "bad escape sequence",
            NameError::Malformed => "malformed name",
        })
    }
}

impl std::error::Error for NameError {}

impl Name {
    /// The root name.
    pub fn root() -> Name {
        Name(Box::new([0u8]))
    }

    /// Builds a name from uncompressed wire bytes, validating them.
    pub fn from_wire(wire: &[u8]) -> Result<Name, NameError> {
        let len = wire_name_len(wire, 0).ok_or(NameError::Malformed)?;
        if len != wire.len() {
            return Err(NameError::Malformed);
        }
        Ok(Name(wire.into()))
    }

    /// Builds a name from bytes already known to be a valid uncompressed name.
    pub(crate) fn from_wire_unchecked(wire: &[u8]) -> Name {
        debug_assert_eq!(wire_name_len(wire, 0), Some(wire.len()));
        Name(wire.into())
    }

    /// Parses presentation format relative to `origin` (absolute if it ends in a dot;
    /// `@` is the origin).
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Name, NameError> {
        let mut buf = Vec::with_capacity(text.len() + 2);
        let absolute = parse_name_into(text.as_bytes(), &mut buf)?;
        if !absolute {
            let origin = origin.ok_or(NameError::Malformed)?;
            append_origin(&mut buf, origin)?;
        }
        Ok(Name(buf.into_boxed_slice()))
    }

    /// The wire form.
    pub fn as_wire(&self) -> &[u8] {
        &self.0
    }

    /// Wire length.
    pub fn wire_len(&self) -> usize {
        self.0.len()
    }

    pub fn is_root(&self) -> bool {
        self.0.len() == 1
    }

    /// Labels from the leftmost, excluding the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.0,
            pos: 0,
        }
    }

    /// Number of labels, excluding the root label.
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// The name without its leftmost label; `None` for the root.
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = self.0[0] as usize + 1;
        Some(Name(self.0[skip..].into()))
    }

    /// Wire form of the name with its `n` leftmost labels removed.
    pub fn suffix_wire(&self, n: usize) -> &[u8] {
        let mut pos = 0;
        for _ in 0..n {
            if self.0[pos] == 0 {
                break;
            }
            pos += self.0[pos] as usize + 1;
        }
        &self.0[pos..]
    }

    /// True if the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.0.len() >= 2 && self.0[0] == 1 && self.0[1] == b'*'
    }

    /// True if `self` equals `other` or lies below it (case-insensitive).
    pub fn is_subdomain_of(&self, other: &Name) -> bool {
        wire_is_subdomain(&self.0, &other.0)
    }

    /// A copy with ASCII letters folded to lower case.
    pub fn to_lowercase(&self) -> Name {
        Name(self.0.to_ascii_lowercase().into_boxed_slice())
    }

    /// `*.` prepended to `self`.
    pub fn wildcard_child(&self) -> Result<Name, NameError> {
        let mut v = Vec::with_capacity(self.0.len() + 2);
        v.extend_from_slice(&[1, b'*']);
        v.extend_from_slice(&self.0);
        if v.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        Ok(Name(v.into_boxed_slice()))
    }

    /// The byte key whose lexicographic order is canonical DNS order.
    pub fn canonical_key(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.0.len() + 4);
        canonical_key_into(&self.0, &mut out);
        out
    }

    /// Canonical order comparison (RFC 4034 §6.1).
    pub fn canonical_cmp(&self, other: &Name) -> Ordering {
        canonical_cmp_wire(&self.0, &other.0)
    }

    /// Number of trailing labels the two names share.
    pub fn common_labels(&self, other: &Name) -> usize {
        let a = label_offsets(&self.0);
        let b = label_offsets(&other.0);
        let mut n = 0;
        for (x, y) in a.iter().rev().zip(b.iter().rev()) {
            if !label_eq(&self.0[*x as usize..], &other.0[*y as usize..]) {
                break;
            }
            n += 1;
        }
        n
    }
}

fn label_eq(a: &[u8], b: &[u8]) -> bool {
    let la = a[0] as usize;
    la == b[0] as usize && a[1..=la].eq_ignore_ascii_case(&b[1..=la])
}

/// Offsets of each label (leftmost first), excluding the root label; on the stack,
/// since lookups on the query path call it.
#[derive(Clone, Copy)]
pub struct LabelOffsets {
    offs: [u8; 128],
    n: usize,
}

impl std::ops::Deref for LabelOffsets {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.offs[..self.n]
    }
}

impl LabelOffsets {
    /// The offset of label `i` as a usize.
    #[inline]
    pub fn at(&self, i: usize) -> usize {
        self.offs[i] as usize
    }
}

/// Label offsets of an uncompressed wire name (at most 127 labels are recorded).
pub fn label_offsets(wire: &[u8]) -> LabelOffsets {
    let mut l = LabelOffsets {
        offs: [0; 128],
        n: 0,
    };
    let mut pos = 0;
    while pos < wire.len() && wire[pos] != 0 && l.n < 128 {
        l.offs[l.n] = pos as u8;
        l.n += 1;
        pos += wire[pos] as usize + 1;
    }
    l
}

/// Appends the canonical key of an uncompressed wire name to `out`.
///
/// Labels are emitted right to left, lower-cased, each followed by a 0 separator;
/// octets 0 and 1 inside labels are escaped as `1 1` and `1 2` so that byte order
/// stays exactly canonical order even for labels containing `\000`.
pub fn canonical_key_into(wire: &[u8], out: &mut Vec<u8>) {
    let offs = label_offsets(wire);
    for &o in offs.iter().rev() {
        let o = o as usize;
        let len = wire[o] as usize;
        for &b in &wire[o + 1..o + 1 + len] {
            match b {
                0 => out.extend_from_slice(&[1, 1]),
                1 => out.extend_from_slice(&[1, 2]),
                _ => out.push(b.to_ascii_lowercase()),
            }
        }
        out.push(0);
    }
}

/// Canonical comparison of two uncompressed wire names.
pub fn canonical_cmp_wire(a: &[u8], b: &[u8]) -> Ordering {
    let oa = label_offsets(a);
    let ob = label_offsets(b);
    for (&x, &y) in oa.iter().rev().zip(ob.iter().rev()) {
        let (x, y) = (x as usize, y as usize);
        let la = &a[x + 1..x + 1 + a[x] as usize];
        let lb = &b[y + 1..y + 1 + b[y] as usize];
        let ord = la
            .iter()
            .map(|c| c.to_ascii_lowercase())
            .cmp(lb.iter().map(|c| c.to_ascii_lowercase()));
        if ord != Ordering::Equal {
            return ord;
        }
    }
    oa.len().cmp(&ob.len())
}

/// True if wire name `a` is equal to or below wire name `b` (case-insensitive).
pub fn wire_is_subdomain(a: &[u8], b: &[u8]) -> bool {
    if a.len() < b.len() {
        return false;
    }
    // Walk `a` label by label until the remaining length equals `b`'s.
    let mut pos = 0;
    while a.len() - pos > b.len() {
        if a[pos] == 0 {
            return false;
        }
        pos += a[pos] as usize + 1;
    }
    a.len() - pos == b.len() && a[pos..].eq_ignore_ascii_case(b)
}

/// Length of the uncompressed name starting at `start`, if valid.
pub fn wire_name_len(wire: &[u8], start: usize) -> Option<usize> {
    let mut pos = start;
    loop {
        let len = *wire.get(pos)? as usize;
        if len == 0 {
            let total = pos + 1 - start;
            return (total <= MAX_NAME_LEN).then_some(total);
        }
        if len > MAX_LABEL_LEN {
            return None;
        }
        pos += len + 1;
        if pos - start >= MAX_NAME_LEN {
            return None;
        }
    }
}

/// Parses a presentation-format name into wire labels appended to `buf`.
/// Returns true if the name was absolute (then the root label is written too).
pub fn parse_name_into(text: &[u8], buf: &mut Vec<u8>) -> Result<bool, NameError> {
    let start = buf.len();
    if text == b"." {
        buf.push(0);
        return Ok(true);
    }
    if text.is_empty() {
        return Err(NameError::EmptyLabel);
    }
    let mut i = 0;
    let mut label_start = buf.len();
    buf.push(0);
    let mut absolute = false;
    while i < text.len() {
        let c = text[i];
        match c {
            b'.' => {
                let len = buf.len() - label_start - 1;
                if len == 0 {
                    return Err(NameError::EmptyLabel);
                }
                if len > MAX_LABEL_LEN {
                    return Err(NameError::LabelTooLong);
                }
                buf[label_start] = len as u8;
                i += 1;
                if i == text.len() {
                    absolute = true;
                    buf.push(0);
                    break;
                }
                label_start = buf.len();
                buf.push(0);
                continue;
            }
            b'\\' => {
                let (b, used) = parse_escape(&text[i + 1..]).ok_or(NameError::BadEscape)?;
                buf.push(b);
                i += 1 + used;
            }
            _ => {
                buf.push(c);
                i += 1;
            }
        }
        if buf.len() - label_start - 1 > MAX_LABEL_LEN {
            return Err(NameError::LabelTooLong);
        }
    }
    if !absolute {
        let len = buf.len() - label_start - 1;
        if len == 0 {
            return Err(NameError::EmptyLabel);
        }
        buf[label_start] = len as u8;
    }
    if buf.len() - start > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(absolute)
}

/// Appends `origin` to relative labels in `buf`, checking the total length.
pub fn append_origin(buf: &mut Vec<u8>, origin: &Name) -> Result<(), NameError> {
    buf.extend_from_slice(origin.as_wire());
    if buf.len() > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(())
}

/// Parses the part of an escape after the backslash: `\DDD` or `\X`.
/// Returns the byte and the number of input bytes consumed.
pub fn parse_escape(s: &[u8]) -> Option<(u8, usize)> {
    let c = *s.first()?;
    if c.is_ascii_digit() {
        if s.len() < 3 || !s[1].is_ascii_digit() || !s[2].is_ascii_digit() {
            return None;
        }
        let v = (c - b'0') as u32 * 100 + (s[1] - b'0') as u32 * 10 + (s[2] - b'0') as u32;
        if v > 255 {
            return None;
        }
        Some((v as u8, 3))
    } else {
        Some((c, 1))
    }
}

/// Writes one label in presentation form, escaped as BIND does.
pub fn write_label(f: &mut impl fmt::Write, label: &[u8]) -> fmt::Result {
    for &b in label {
        match b {
            b'.' | b'"' | b'(' | b')' | b';' | b'\\' | b'@' | b'$' => {
                f.write_char('\\')?;
                f.write_char(b as char)?;
            }
            0x21..=0x7e => f.write_char(b as char)?,
            _ => write!(f, "\\{:03}", b)?,
        }
    }
    Ok(())
}

/// Writes an uncompressed wire name in absolute presentation form.
pub fn write_wire_name(f: &mut impl fmt::Write, wire: &[u8]) -> fmt::Result {
    if wire.len() <= 1 {
        return f.write_char('.');
    }
    let mut pos = 0;
    while pos < wire.len() && wire[pos] != 0 {
        let len = wire[pos] as usize;
        // A label that runs past the data (malformed wire) is cut, never a panic.
        let end = (pos + 1 + len).min(wire.len());
        write_label(f, &wire[pos + 1..end])?;
        f.write_char('.')?;
        pos += len + 1;
    }
    Ok(())
}

/// Iterator over the labels of a name.
pub struct Labels<'a> {
    wire: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.get(self.pos)? as usize;
        if len == 0 {
            return None;
        }
        let l = &self.wire[self.pos + 1..self.pos + 1 + len];
        self.pos += len + 1;
        Some(l)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}
impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.iter() {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Name {
    fn cmp(&self, other: &Name) -> Ordering {
        self.canonical_cmp(other)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_wire_name(f, &self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({})", self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Name {
        Name::parse(s, None).unwrap()
    }

    #[test]
    fn parse_and_print() {
        assert_eq!(n("Example.COM.").to_string(), "Example.COM.");
        assert_eq!(n(".").to_string(), ".");
        assert_eq!(n("a\\.b.c.").label_count(), 2);
        assert_eq!(n("a\\.b.c.").to_string(), "a\\.b.c.");
        assert_eq!(n("\\065\\000.").as_wire(), &[2, b'A', 0, 0]);
        assert_eq!(n("\\065\\000.").to_string(), "A\\000.");
        let o = n("example.com.");
        assert_eq!(
            Name::parse("www", Some(&o)).unwrap().to_string(),
            "www.example.com."
        );
        assert!(Name::parse("a..b.", None).is_err());
        assert!(Name::parse(&"a".repeat(64), Some(&o)).is_err());
    }

    #[test]
    fn canonical_order_rfc4034_example() {
        // The example list from RFC 4034 §6.1, in order.
        let names = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        let parsed: Vec<Name> = names.iter().map(|s| n(s)).collect();
        for w in parsed.windows(2) {
            assert_eq!(
                w[0].canonical_cmp(&w[1]),
                Ordering::Less,
                "{} < {}",
                w[0],
                w[1]
            );
            assert!(
                w[0].canonical_key() < w[1].canonical_key(),
                "key {} < {}",
                w[0],
                w[1]
            );
        }
        // Escaped zero octets keep key order exact.
        let a = n("a.x.");
        let b = n("a\\000.x.");
        let c = n("a\\001.x.");
        assert!(a.canonical_key() < b.canonical_key());
        assert!(b.canonical_key() < c.canonical_key());
        assert_eq!(a.canonical_cmp(&b), Ordering::Less);
    }

    #[test]
    fn subdomain() {
        assert!(n("a.b.example.").is_subdomain_of(&n("EXAMPLE.")));
        assert!(n("example.").is_subdomain_of(&n("example.")));
        assert!(!n("xexample.").is_subdomain_of(&n("example.")));
        assert!(n("x.").is_subdomain_of(&Name::root()));
        assert_eq!(n("a.b.c.").common_labels(&n("x.B.c.")), 2);
    }
}
