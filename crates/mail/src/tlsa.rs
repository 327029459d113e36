//! DANE TLSA records (RFC 6698, RFC 7671) from certificates and keys.

use crate::der;
use std::fmt::Write as _;

/// What the record's data is computed from, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    pub usage: u8,
    pub selector: u8,
    pub matching: u8,
}

impl Default for Params {
    /// 3 1 1: DANE-EE, the public key, SHA-256; survives renewals that keep the key.
    fn default() -> Params {
        Params {
            usage: 3,
            selector: 1,
            matching: 1,
        }
    }
}

/// What a PEM file gave us.
#[derive(Clone, Debug)]
pub struct Material {
    /// The certificate's DER, when the input was a certificate.
    pub cert: Option<Vec<u8>>,
    /// The SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

/// Reads the first certificate, public key or private key of a PEM file.
pub fn read_pem(bytes: &[u8]) -> Result<Material, String> {
    let blocks = der::pem_blocks(bytes);
    let Some((label, body)) = blocks.into_iter().next() else {
        return Err("no PEM block (-----BEGIN ...-----) found".into());
    };
    match label.as_str() {
        "CERTIFICATE" | "TRUSTED CERTIFICATE" => {
            let spki = der::cert_spki(&body)
                .ok_or("the certificate does not parse")?
                .to_vec();
            Ok(Material {
                cert: Some(body),
                spki,
            })
        }
        "PUBLIC KEY" => {
            der::spki_parts(&body).ok_or("the public key does not parse")?;
            Ok(Material {
                cert: None,
                spki: body,
            })
        }
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::pkcs8::EncodePublicKey;
            let k = rsa::RsaPrivateKey::from_pkcs1_der(&body).map_err(|e| e.to_string())?;
            let spki = k
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| e.to_string())?;
            Ok(Material {
                cert: None,
                spki: spki.as_bytes().to_vec(),
            })
        }
        "PRIVATE KEY" => Ok(Material {
            cert: None,
            spki: pkcs8_spki(&body)?,
        }),
        "EC PRIVATE KEY" => Ok(Material {
            cert: None,
            spki: sec1_spki(&body, None)?,
        }),
        other => Err(format!(
            "a PEM block of type '{other}' holds no key TLSA can use"
        )),
    }
}

/// The public key of a PKCS#8 private key, as SubjectPublicKeyInfo.
fn pkcs8_spki(p8: &[u8]) -> Result<Vec<u8>, String> {
    let (seq, _) = der::read(p8).ok_or("the private key does not parse")?;
    let f = der::children(seq.body).ok_or("the private key does not parse")?;
    let alg = f
        .get(1)
        .and_then(|a| der::children(a.body))
        .ok_or("no algorithm")?;
    let oid = alg.first().map(|o| o.body).ok_or("no algorithm")?;
    let key = f
        .get(2)
        .filter(|t| t.tag == der::OCTET_STRING)
        .ok_or("no key")?
        .body;
    if oid == der::OID_RSA {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
        let k = rsa::RsaPrivateKey::from_pkcs8_der(p8).map_err(|e| e.to_string())?;
        return Ok(k
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| e.to_string())?
            .as_bytes()
            .to_vec());
    }
    if oid == der::OID_ED25519 {
        use ring::signature::{Ed25519KeyPair, KeyPair};
        let (seed, _) = der::read(key).ok_or("bad Ed25519 key")?;
        let kp = Ed25519KeyPair::from_seed_unchecked(seed.body).map_err(|_| "bad Ed25519 key")?;
        let mut bits = vec![0u8];
        bits.extend_from_slice(kp.public_key().as_ref());
        let alg = der::tlv(der::SEQUENCE, &der::tlv(der::OID, der::OID_ED25519));
        let mut body = alg;
        body.extend(der::tlv(der::BIT_STRING, &bits));
        return Ok(der::tlv(der::SEQUENCE, &body));
    }
    if oid == der::OID_EC {
        let curve = alg
            .get(1)
            .filter(|t| t.tag == der::OID)
            .map(|t| t.raw.to_vec());
        return sec1_spki(key, curve);
    }
    Err("unsupported private key algorithm".into())
}

/// The public key of an SEC1 EC private key; it must carry its public key ([1]), as
/// OpenSSL writes it.
fn sec1_spki(sec1: &[u8], curve: Option<Vec<u8>>) -> Result<Vec<u8>, String> {
    let (seq, _) = der::read(sec1).ok_or("the EC key does not parse")?;
    let f = der::children(seq.body).ok_or("the EC key does not parse")?;
    let mut curve = curve;
    let mut point = None;
    for t in &f {
        if t.tag == 0xa0 {
            curve = der::read(t.body).map(|(o, _)| o.raw.to_vec());
        }
        if t.tag == 0xa1 {
            point = der::read(t.body)
                .filter(|(b, _)| b.tag == der::BIT_STRING)
                .map(|(b, _)| b.raw.to_vec());
        }
    }
    let curve = curve.ok_or("the EC key does not name its curve")?;
    let point = point.ok_or(
        "the EC key does not include its public key; use the certificate or the public key file",
    )?;
    let mut alg = der::tlv(der::OID, der::OID_EC);
    alg.extend(curve);
    let mut body = der::tlv(der::SEQUENCE, &alg);
    body.extend(point);
    Ok(der::tlv(der::SEQUENCE, &body))
}

/// The certificate association data for the given parameters.
pub fn association(m: &Material, p: Params) -> Result<Vec<u8>, String> {
    let data: &[u8] = match p.selector {
        0 => m
            .cert
            .as_deref()
            .ok_or("selector 0 (full certificate) needs a certificate, not a key")?,
        1 => &m.spki,
        s => return Err(format!("selector {s} is not 0 or 1")),
    };
    Ok(match p.matching {
        0 => data.to_vec(),
        1 => ring::digest::digest(&ring::digest::SHA256, data)
            .as_ref()
            .to_vec(),
        2 => ring::digest::digest(&ring::digest::SHA512, data)
            .as_ref()
            .to_vec(),
        m => return Err(format!("matching type {m} is not 0, 1 or 2")),
    })
}

/// Lints one TLSA record (wire rdata) published for `port` (None when the owner does
/// not name one).
pub fn lint_rdata(port: Option<u16>, rd: &[u8]) -> Vec<crate::Finding> {
    use crate::{finding, Severity};
    let mut out = Vec::new();
    let [usage, selector, matching, data @ ..] = rd else {
        return vec![finding(
            "tlsa-syntax",
            Severity::Error,
            "the TLSA record is shorter than its three parameters",
            "write 'usage selector matching data', e.g. '3 1 1 <sha-256 hex>'",
        )];
    };
    if *usage > 3 || *selector > 1 || *matching > 2 {
        out.push(finding(
            "tlsa-params",
            Severity::Error,
            format!("TLSA {usage} {selector} {matching}: an unknown usage, selector or matching type makes the record unusable"),
            "use 3 1 1 (blason tlsa prints it)",
        ));
    }
    let want = match matching {
        1 => Some(32),
        2 => Some(64),
        _ => None,
    };
    if let Some(n) = want {
        if data.len() != n {
            out.push(finding(
                "tlsa-length",
                Severity::Error,
                format!(
                    "TLSA matching type {matching} needs {n} bytes of digest, the record has {}",
                    data.len()
                ),
                "recompute the record with blason tlsa --cert FILE",
            ));
        }
    } else if *matching == 0 && data.is_empty() {
        out.push(finding(
            "tlsa-length",
            Severity::Error,
            "TLSA with matching type 0 and no data",
            "recompute the record with blason tlsa --cert FILE",
        ));
    }
    if port == Some(25) && *usage < 2 {
        out.push(finding(
            "tlsa-pkix-smtp",
            Severity::Warning,
            format!("TLSA usage {usage} (PKIX) on port 25: SMTP clients treat PKIX usages as unusable (RFC 7672 §3.1.3)"),
            "use usage 3 (DANE-EE) or 2 (DANE-TA)",
        ));
    }
    if *usage == 3 && *selector == 0 {
        out.push(finding(
            "tlsa-full-cert",
            Severity::Note,
            "TLSA 3 0 x matches the whole certificate, so it breaks at every renewal",
            "use 3 1 1, which follows the key",
        ));
    }
    out
}

/// The owner name `_<port>._tcp.<host>.`.
pub fn owner(port: u16, host: &str) -> String {
    format!("_{port}._tcp.{}.", crate::dns::norm(host))
}

/// One TLSA record in zone-file form.
pub fn zone_line(port: u16, host: &str, p: Params, data: &[u8]) -> String {
    let mut hex = String::with_capacity(data.len() * 2);
    for b in data {
        let _ = write!(hex, "{b:02x}");
    }
    format!(
        "{} IN TLSA {} {} {} {}",
        owner(port, host),
        p.usage,
        p.selector,
        p.matching,
        hex
    )
}
