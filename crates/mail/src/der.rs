//! A minimal DER reader and writer: enough to find a certificate's
//! SubjectPublicKeyInfo, size an RSA key, and read PEM. Bounds-checked; never panics.

/// One TLV: its tag, its contents, and the whole encoding (tag, length, contents).
#[derive(Clone, Copy, Debug)]
pub struct Tlv<'a> {
    pub tag: u8,
    pub body: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads one TLV from the front of `b`; returns it and the rest.
pub fn read(b: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let tag = *b.first()?;
    if tag & 0x1f == 0x1f {
        return None; // multi-byte tags are not used in what we read
    }
    let first = *b.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    let body = b.get(hdr..end)?;
    Some((
        Tlv {
            tag,
            body,
            raw: &b[..end],
        },
        &b[end..],
    ))
}

/// The TLVs inside a constructed value.
pub fn children(mut b: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (t, rest) = read(b)?;
        out.push(t);
        b = rest;
    }
    Some(out)
}

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;

pub const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
pub const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
pub const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

/// Encodes a TLV.
pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else if n < 0x10000 {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    } else {
        out.extend([0x83, (n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(body);
    out
}

/// The SubjectPublicKeyInfo (raw DER) of an X.509 certificate.
pub fn cert_spki(cert: &[u8]) -> Option<&[u8]> {
    let (c, _) = read(cert)?;
    if c.tag != SEQUENCE {
        return None;
    }
    let (tbs, _) = read(c.body)?;
    let fields = children(tbs.body)?;
    // An explicit [0] version shifts the fields by one.
    let off = usize::from(fields.first()?.tag == 0xa0);
    let spki = fields.get(off + 5)?;
    (spki.tag == SEQUENCE).then_some(spki.raw)
}

/// Algorithm OID and key bits of a SubjectPublicKeyInfo.
pub fn spki_parts(spki: &[u8]) -> Option<(&[u8], &[u8])> {
    let (s, _) = read(spki)?;
    let f = children(s.body)?;
    let alg = children(f.first()?.body)?;
    let oid = alg.first().filter(|t| t.tag == OID)?.body;
    let bits = f.get(1).filter(|t| t.tag == BIT_STRING)?.body;
    Some((oid, bits.get(1..)?))
}

/// Bit length of an RSA modulus, from SPKI or from a bare RSAPublicKey (both occur
/// in DKIM records).
pub fn rsa_bits(key: &[u8]) -> Option<usize> {
    let inner = match spki_parts(key) {
        Some((oid, bits)) if oid == OID_RSA => bits,
        Some(_) => return None,
        None => key,
    };
    let (seq, _) = read(inner)?;
    let f = children(seq.body)?;
    let n = f.first().filter(|t| t.tag == INTEGER)?.body;
    let n = {
        let z = n.iter().take_while(|b| **b == 0).count();
        &n[z..]
    };
    let first = *n.first()?;
    Some(n.len() * 8 - first.leading_zeros() as usize)
}

/// PEM blocks: (label, DER). Text outside blocks is ignored.
pub fn pem_blocks(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut label: Option<String> = None;
    let mut body = String::new();
    for line in text.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').to_string());
            body.clear();
        } else if let Some(rest) = l.strip_prefix("-----END ") {
            if let Some(lab) = label.take() {
                if lab == rest.trim_end_matches('-') {
                    if let Some(der) = crate::b64::decode(body.as_bytes()) {
                        out.push((lab, der));
                    }
                }
            }
        } else if label.is_some() && !l.contains(':') {
            body.push_str(l);
        }
    }
    out
}

/// Wraps DER as PEM with 64-column lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let b = crate::b64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_round_trip_and_bounds() {
        for n in [0, 5, 127, 128, 255, 256, 70000] {
            let body = vec![7u8; n];
            let enc = tlv(SEQUENCE, &body);
            let (t, rest) = read(&enc).unwrap();
            assert_eq!(t.body.len(), n);
            assert!(rest.is_empty());
            for cut in [0, 1, enc.len().saturating_sub(1)] {
                if cut < enc.len() {
                    assert!(read(&enc[..cut]).is_none() || n == 0);
                }
            }
        }
        assert!(read(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(cert_spki(b"\x30\x03\x30\x01\x00").is_none());
    }
}
