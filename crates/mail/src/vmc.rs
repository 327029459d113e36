//! BIMI Verified Mark Certificates: the logotype extension (RFC 3709) and the SVG it
//! carries. Reads a PEM or DER certificate, walks LogotypeExtn → subjectLogo → direct
//! LogotypeData → image → LogotypeDetails, decodes the `data:` URI (gzip'd SVG), checks
//! the logotype hash and compares the SVG with the published logo. Any bytes in,
//! findings out; never panics.

use crate::der::{self, Tlv};
use crate::{finding, svg, Finding, Severity};

/// id-pe-logotype, 1.3.6.1.5.5.7.1.12.
pub const OID_LOGOTYPE: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x01, 0x0c];
const OID_SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
const IA5STRING: u8 = 0x16;
/// The most an embedded logo may inflate to; BIMI logos are at most 32 KB.
pub const MAX_INFLATED: usize = 1024 * 1024;

/// One image of the subject logo, as the certificate states it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Logotype {
    pub media_type: String,
    /// (hash algorithm OID, hash value) pairs.
    pub hashes: Vec<(Vec<u8>, Vec<u8>)>,
    pub uris: Vec<String>,
}

/// The certificate's DER: the first CERTIFICATE block of PEM text, or the bytes as
/// they are if they already look like DER.
pub fn cert_der(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.first() == Some(&der::SEQUENCE) {
        return Some(bytes.to_vec());
    }
    der::pem_blocks(bytes)
        .into_iter()
        .find(|(l, _)| l == "CERTIFICATE" || l == "TRUSTED CERTIFICATE")
        .map(|(_, d)| d)
}

/// The value (extnValue contents) of the extension `oid`, Ok(None) if the
/// certificate has none, Err if it does not parse.
pub fn extension<'a>(cert: &'a [u8], oid: &[u8]) -> Result<Option<&'a [u8]>, String> {
    let bad = || "the certificate does not parse".to_string();
    let (c, _) = der::read(cert).ok_or_else(bad)?;
    if c.tag != der::SEQUENCE {
        return Err(bad());
    }
    let (tbs, _) = der::read(c.body).ok_or_else(bad)?;
    if tbs.tag != der::SEQUENCE {
        return Err(bad());
    }
    let fields = der::children(tbs.body).ok_or_else(bad)?;
    let Some(exts) = fields.iter().find(|t| t.tag == 0xa3) else {
        return Ok(None);
    };
    let (seq, _) = der::read(exts.body).ok_or_else(bad)?;
    for e in der::children(seq.body).ok_or_else(bad)? {
        let parts = der::children(e.body).ok_or_else(bad)?;
        if parts
            .first()
            .is_some_and(|t| t.tag == der::OID && t.body == oid)
        {
            let v = parts
                .iter()
                .skip(1)
                .find(|t| t.tag == der::OCTET_STRING)
                .ok_or_else(bad)?;
            return Ok(Some(v.body));
        }
    }
    Ok(None)
}

fn one(b: &[u8], tag: u8) -> Option<Tlv<'_>> {
    let (t, _) = der::read(b)?;
    (t.tag == tag).then_some(t)
}

fn ia5(t: &Tlv<'_>) -> Option<String> {
    (t.tag == IA5STRING && t.body.is_ascii()).then(|| String::from_utf8_lossy(t.body).into_owned())
}

/// The images of the subject logo in a LogotypeExtn (the extension's value).
pub fn subject_images(extn: &[u8]) -> Option<Vec<Logotype>> {
    let top = one(extn, der::SEQUENCE)?;
    let subject = der::children(top.body)?
        .into_iter()
        .find(|t| t.tag == 0xa2)?;
    // LogotypeInfo ::= CHOICE { direct [0] LogotypeData, indirect [1] ... }
    let direct = one(subject.body, 0xa0)?;
    // LogotypeData ::= SEQUENCE { image SEQUENCE OF LogotypeImage OPTIONAL, audio [1] ... }
    let image = der::children(direct.body)?
        .into_iter()
        .find(|t| t.tag == der::SEQUENCE)?;
    let mut out = Vec::new();
    for img in der::children(image.body)? {
        if img.tag != der::SEQUENCE {
            return None;
        }
        let details = one(img.body, der::SEQUENCE)?;
        let f = der::children(details.body)?;
        let media_type = ia5(f.first()?)?;
        let hash_seq = f.get(1).filter(|t| t.tag == der::SEQUENCE)?;
        let mut hashes = Vec::new();
        for h in der::children(hash_seq.body)? {
            let hv = der::children(h.body)?;
            let alg = der::children(hv.first().filter(|t| t.tag == der::SEQUENCE)?.body)?;
            let oid = alg.first().filter(|t| t.tag == der::OID)?.body.to_vec();
            let value = hv
                .get(1)
                .filter(|t| t.tag == der::OCTET_STRING)?
                .body
                .to_vec();
            hashes.push((oid, value));
        }
        let uri_seq = f.get(2).filter(|t| t.tag == der::SEQUENCE)?;
        let uris = der::children(uri_seq.body)?
            .iter()
            .map(ia5)
            .collect::<Option<Vec<_>>>()?;
        out.push(Logotype {
            media_type,
            hashes,
            uris,
        });
    }
    Some(out)
}

/// The bytes of a `data:` URI with a base64 payload; None for other encodings.
pub fn data_uri(uri: &str) -> Option<Vec<u8>> {
    let rest = uri.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    if !meta.to_ascii_lowercase().ends_with(";base64") {
        return None;
    }
    crate::b64::decode(payload.as_bytes())
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0xedb8_8320
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Inflates a gzip member (RFC 1952), checking its CRC and size, up to `limit` bytes.
pub fn gunzip(gz: &[u8], limit: usize) -> Result<Vec<u8>, String> {
    if gz.len() < 18 || gz[0] != 0x1f || gz[1] != 0x8b {
        return Err("not gzip data".into());
    }
    if gz[2] != 8 {
        return Err("gzip data not compressed with deflate".into());
    }
    let flg = gz[3];
    let mut i = 10usize;
    let short = || "truncated gzip header".to_string();
    if flg & 0x04 != 0 {
        let xlen = usize::from(*gz.get(i).ok_or_else(short)?)
            | (usize::from(*gz.get(i + 1).ok_or_else(short)?) << 8);
        i = i + 2 + xlen;
    }
    for bit in [0x08u8, 0x10] {
        if flg & bit != 0 {
            let n = gz.get(i..).ok_or_else(short)?.iter().position(|b| *b == 0);
            i += n.ok_or_else(short)? + 1;
        }
    }
    if flg & 0x02 != 0 {
        i += 2;
    }
    let body_end = gz.len() - 8;
    let body = gz.get(i..body_end).ok_or_else(short)?;
    let out = miniz_oxide::inflate::decompress_to_vec_with_limit(body, limit)
        .map_err(|e| format!("gzip data does not inflate: {e}"))?;
    let t = &gz[body_end..];
    let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
    let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
    if crc != crc32(&out) || size != out.len() as u32 {
        return Err("gzip CRC or length does not match".into());
    }
    Ok(out)
}

fn hash(oid: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    use ring::digest;
    let alg = match oid {
        o if o == OID_SHA256 => &digest::SHA256,
        o if o == OID_SHA384 => &digest::SHA384,
        o if o == OID_SHA512 => &digest::SHA512,
        o if o == OID_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        _ => return None,
    };
    Some(digest::digest(alg, data).as_ref().to_vec())
}

fn err(id: &'static str, msg: impl Into<String>, fix: &str) -> Finding {
    finding(id, Severity::Error, msg, fix)
}

/// Checks a VMC (PEM or DER) and, if given, that its logo is the published SVG.
pub fn check(cert: &[u8], published_svg: Option<&[u8]>) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(der) = cert_der(cert) else {
        out.push(err(
            "vmc-parse",
            "the VMC file holds no certificate (PEM CERTIFICATE block or DER)",
            "pass the Verified Mark Certificate as PEM or DER",
        ));
        return out;
    };
    let extn = match extension(&der, OID_LOGOTYPE) {
        Ok(Some(e)) => e,
        Ok(None) => {
            out.push(err(
                "vmc-no-logotype",
                "the certificate has no logotype extension (1.3.6.1.5.5.7.1.12)",
                "a BIMI VMC carries the logo in its logotype extension; check that this is the VMC and not an intermediate or a TLS certificate",
            ));
            return out;
        }
        Err(e) => {
            out.push(err("vmc-parse", e, "pass an X.509 certificate"));
            return out;
        }
    };
    let images = match subject_images(extn) {
        Some(i) if !i.is_empty() => i,
        _ => {
            out.push(err(
                "vmc-logotype-parse",
                "the logotype extension has no readable subject logo image (subjectLogo → direct → image → LogotypeDetails)",
                "ask the issuer for a VMC with the logo embedded as a direct subject logotype",
            ));
            return out;
        }
    };
    let img = &images[0];
    if !img.media_type.eq_ignore_ascii_case("image/svg+xml") {
        out.push(err(
            "vmc-media-type",
            format!(
                "the logotype media type is '{}', not image/svg+xml",
                img.media_type
            ),
            "a BIMI VMC logo is an SVG Tiny PS image (image/svg+xml)",
        ));
    }
    let Some(uri) = img.uris.first() else {
        out.push(err(
            "vmc-logotype-parse",
            "the logotype has no URI",
            "ask the issuer for a VMC with the logo embedded as a data: URI",
        ));
        return out;
    };
    if !uri.starts_with("data:") {
        out.push(finding(
            "vmc-logo-remote",
            Severity::Warning,
            format!("the logotype URI is not a data: URI ({uri}); remote logos are not checked"),
            "BIMI VMCs embed the logo as data:image/svg+xml;base64,<gzip'd SVG>",
        ));
        return out;
    }
    let Some(object) = data_uri(uri) else {
        out.push(err(
            "vmc-logo-data",
            "the logotype data: URI is not base64 or does not decode",
            "embed the logo as data:image/svg+xml;base64,<gzip'd SVG>",
        ));
        return out;
    };
    // RFC 3709: the hash is over the logotype object as referenced, here the gzip'd bytes.
    let mut known = false;
    let mut matched = false;
    for (oid, value) in &img.hashes {
        if let Some(h) = hash(oid, &object) {
            known = true;
            matched |= &h == value;
        }
    }
    if !known {
        out.push(finding(
            "vmc-hash-alg",
            Severity::Warning,
            "no logotype hash uses a known algorithm (SHA-1, SHA-256, SHA-384, SHA-512)",
            "ask the issuer for a VMC with a SHA-256 logotype hash",
        ));
    } else if !matched {
        out.push(err(
            "vmc-logo-hash",
            "the logotype hash does not match the embedded logo",
            "the certificate's logo data is corrupt or was altered; get a new copy from the issuer",
        ));
    }
    let embedded = match gunzip(&object, MAX_INFLATED) {
        Ok(s) => s,
        Err(e) => {
            out.push(err(
                "vmc-logo-data",
                format!("the embedded logo is not valid gzip: {e}"),
                "BIMI VMCs embed the SVG gzip-compressed",
            ));
            return out;
        }
    };
    match published_svg {
        Some(p) if p == embedded.as_slice() => {} // its SVG checks run on the --svg file
        Some(_) => {
            out.push(err(
                "vmc-logo-mismatch",
                "the logo in the VMC differs from the SVG file",
                "publish exactly the SVG the VMC was issued for at the BIMI record's l= URL",
            ));
            out.extend(embedded_svg_findings(&embedded));
        }
        None => out.extend(embedded_svg_findings(&embedded)),
    }
    out
}

fn embedded_svg_findings(svg_bytes: &[u8]) -> Vec<Finding> {
    svg::check(svg_bytes)
        .into_iter()
        .map(|mut f| {
            f.message = format!("VMC logo: {}", f.message);
            f
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::{tlv, SEQUENCE};

    fn gzip_stored(data: &[u8]) -> Vec<u8> {
        let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
        g.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        g.extend(crc32(data).to_le_bytes());
        g.extend((data.len() as u32).to_le_bytes());
        g
    }

    fn logotype_extn(media: &str, hash: &[u8], uri: &str) -> Vec<u8> {
        let alg = tlv(SEQUENCE, &tlv(der::OID, OID_SHA256));
        let hv = tlv(SEQUENCE, &[alg, tlv(der::OCTET_STRING, hash)].concat());
        let details = tlv(
            SEQUENCE,
            &[
                tlv(IA5STRING, media.as_bytes()),
                tlv(SEQUENCE, &hv),
                tlv(SEQUENCE, &tlv(IA5STRING, uri.as_bytes())),
            ]
            .concat(),
        );
        let image = tlv(SEQUENCE, &tlv(SEQUENCE, &details));
        tlv(SEQUENCE, &tlv(0xa2, &tlv(0xa0, &image)))
    }

    fn cert_with(ext: Option<&[u8]>) -> Vec<u8> {
        let mut tbs = tlv(0xa0, &tlv(der::INTEGER, &[2]));
        tbs.extend(tlv(der::INTEGER, &[1]));
        if let Some(e) = ext {
            let x = tlv(
                SEQUENCE,
                &[tlv(der::OID, OID_LOGOTYPE), tlv(der::OCTET_STRING, e)].concat(),
            );
            tbs.extend(tlv(0xa3, &tlv(SEQUENCE, &x)));
        }
        tlv(SEQUENCE, &tlv(SEQUENCE, &tbs))
    }

    #[test]
    fn gunzip_round_trip_and_limits() {
        let data = b"<svg>hello hello hello</svg>".repeat(10);
        let g = gzip_stored(&data);
        assert_eq!(gunzip(&g, 1 << 20).unwrap(), data);
        assert!(gunzip(&g, 10).is_err());
        for cut in 0..g.len() {
            assert!(gunzip(&g[..cut], 1 << 20).is_err());
        }
        let mut bad = g.clone();
        let n = bad.len();
        bad[n - 5] ^= 1;
        assert!(gunzip(&bad, 1 << 20).is_err());
        // FEXTRA/FNAME pointing past the end.
        assert!(gunzip(
            &[0x1f, 0x8b, 8, 0x0c, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4, 5, 6],
            99
        )
        .is_err());
    }

    #[test]
    fn walks_logotype_and_checks() {
        let svg_text = b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>";
        let gz = gzip_stored(svg_text);
        let uri = format!("data:image/svg+xml;base64,{}", crate::b64::encode(&gz));
        let h = hash(OID_SHA256, &gz).unwrap();
        let extn = logotype_extn("image/svg+xml", &h, &uri);
        let imgs = subject_images(&extn).unwrap();
        assert_eq!(imgs[0].media_type, "image/svg+xml");
        assert_eq!(imgs[0].uris, vec![uri.clone()]);
        let cert = cert_with(Some(&extn));
        let ids = |f: Vec<Finding>| f.iter().map(|x| x.id).collect::<Vec<_>>();
        let f = ids(check(&cert, Some(svg_text)));
        assert!(f.is_empty(), "{f:?}");
        assert!(ids(check(&cert, Some(b"<svg/>"))).contains(&"vmc-logo-mismatch"));
        assert_eq!(ids(check(&cert_with(None), None)), vec!["vmc-no-logotype"]);
        let bad_hash = cert_with(Some(&logotype_extn("image/svg+xml", &[0; 32], &uri)));
        assert!(ids(check(&bad_hash, Some(svg_text))).contains(&"vmc-logo-hash"));
        let png = cert_with(Some(&logotype_extn("image/png", &h, &uri)));
        assert!(ids(check(&png, Some(svg_text))).contains(&"vmc-media-type"));
        let remote = cert_with(Some(&logotype_extn("image/svg+xml", &h, "https://x/l.svg")));
        assert_eq!(
            check(&remote, None)
                .iter()
                .map(|f| (f.id, f.severity))
                .collect::<Vec<_>>(),
            vec![("vmc-logo-remote", Severity::Warning)]
        );
        // Truncations and bit flips anywhere: findings, never a panic.
        for cut in 0..cert.len() {
            let _ = check(&cert[..cut], Some(svg_text));
            let _ = subject_images(&extn[..cut.min(extn.len())]);
        }
        for i in 0..cert.len() {
            let mut c = cert.clone();
            c[i] ^= 0x41;
            let _ = check(&c, None);
        }
        assert_eq!(ids(check(b"garbage", None)), vec!["vmc-parse"]);
        assert_eq!(
            ids(check(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff], None)),
            vec!["vmc-parse"]
        );
    }
}
