//! DKIM verification (RFC 6376 §6, RFC 8463, RFC 8301): every signature of a
//! message checked on its own, each with an RFC 8601 result and a reason a person
//! can act on. The same core verifies ARC-Message-Signatures (RFC 8617), which are
//! DKIM signatures under another name.

use crate::authres::AuthResult;
use crate::dkim::{self, KeyType};
use crate::dkim_sign::{relaxed_body, relaxed_header};
use crate::dns::{Answer, TxtLookup};
use crate::message::{Field, Message};
use crate::tags::{self, Tag};
use ring::digest::{digest, SHA256};
use ring::signature::{self, UnparsedPublicKey};

/// The verdict on one signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub result: AuthResult,
    /// `d=`, lowercased ("" when unreadable).
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    /// `i=` when given.
    pub identity: Option<String>,
    /// The first characters of `b=`, as RFC 6008 `header.b` names a signature.
    pub b_prefix: String,
    /// Bits of the public key, once it was found.
    pub key_bits: Option<usize>,
    /// Why the result is what it is ("" on pass).
    pub reason: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Canon {
    Simple,
    Relaxed,
}

/// A signature's tags, read and checked (RFC 6376 §6.1.1).
struct Sig {
    algorithm: String,
    b: Vec<u8>,
    bh: Vec<u8>,
    header_canon: Canon,
    body_canon: Canon,
    domain: String,
    selector: String,
    headers: Vec<String>,
    identity: Option<String>,
    length: Option<u64>,
}

/// The text without its folding whitespace (`b=` and `bh=` values are folded).
pub fn no_ws(s: &str) -> String {
    s.chars().filter(|c| !c.is_ascii_whitespace()).collect()
}

/// Verifies every `DKIM-Signature` of `message`, top to bottom, at time `now`.
pub fn verify_all(message: &Message, dns: &dyn TxtLookup, now: u64) -> Vec<Verdict> {
    message
        .all("dkim-signature")
        .map(|f| verify_field(message, f, dns, now, true))
        .collect()
}

/// Verifies one DKIM-style signature field; `dkim` is false for an
/// ARC-Message-Signature (no `v=`, an `i=` instance instead of an identity).
pub fn verify_field(
    message: &Message,
    field: &Field,
    dns: &dyn TxtLookup,
    now: u64,
    dkim: bool,
) -> Verdict {
    // Read once: the fields name the signature even when it is refused.
    let parsed = tags::parse(&field.value);
    let list = parsed.as_deref().unwrap_or_default();
    let get = |n: &str| tags::get(list, n).unwrap_or("").to_string();
    let mut v = Verdict {
        result: AuthResult::PermError,
        domain: get("d").to_ascii_lowercase(),
        selector: get("s"),
        algorithm: get("a").to_ascii_lowercase(),
        identity: if dkim {
            tags::get(list, "i").map(str::to_string)
        } else {
            None
        },
        b_prefix: no_ws(&get("b")).chars().take(8).collect(),
        key_bits: None,
        reason: String::new(),
    };
    let sig = match parsed
        .map_err(|e| perm(format!("the signature does not parse: {e}")))
        .and_then(|list| read_sig(&list, dkim, now))
    {
        Ok(s) => s,
        Err((result, why)) => {
            v.result = result;
            v.reason = why;
            return v;
        }
    };
    match check(message, field, &sig, dns, &mut v) {
        Ok(()) => v.result = AuthResult::Pass,
        Err((result, why)) => {
            v.result = result;
            v.reason = why;
        }
    }
    v
}

/// A result other than pass, and why.
pub type Failure = (AuthResult, String);

fn perm(why: impl Into<String>) -> Failure {
    (AuthResult::PermError, why.into())
}

fn fail(why: impl Into<String>) -> Failure {
    (AuthResult::Fail, why.into())
}

fn read_sig(list: &[Tag], dkim: bool, now: u64) -> Result<Sig, Failure> {
    if let Some(d) = tags::duplicates(list).first() {
        return Err(perm(format!("tag {d}= appears twice")));
    }
    let get = |n: &str| tags::get(list, n);
    if dkim && get("v") != Some("1") {
        return Err(perm("v= is missing or not 1"));
    }
    let need = |n: &str| get(n).ok_or_else(|| perm(format!("the required tag {n}= is missing")));
    let algorithm = need("a")?.to_ascii_lowercase();
    if algorithm == "rsa-sha1" {
        return Err(perm("rsa-sha1 signatures are not accepted (RFC 8301)"));
    }
    if algorithm != "rsa-sha256" && algorithm != "ed25519-sha256" {
        return Err(perm(format!("unknown algorithm a={algorithm}")));
    }
    let b =
        crate::b64::decode(no_ws(need("b")?).as_bytes()).ok_or_else(|| perm("b= is not base64"))?;
    let bh = crate::b64::decode(no_ws(need("bh")?).as_bytes())
        .ok_or_else(|| perm("bh= is not base64"))?;
    let domain = need("d")?.trim_end_matches('.').to_ascii_lowercase();
    let selector = need("s")?.to_string();
    let headers: Vec<String> = need("h")?
        .split(':')
        .map(|h| no_ws(h).to_ascii_lowercase())
        .collect();
    if !headers.iter().any(|h| h == "from") {
        return Err(perm("h= does not sign From"));
    }
    let (hc, bc) = match get("c").map(|c| c.to_ascii_lowercase()) {
        None => ("simple".to_string(), "simple".to_string()),
        Some(c) => match c.split_once('/') {
            Some((h, b)) => (h.to_string(), b.to_string()),
            None => (c.clone(), "simple".to_string()),
        },
    };
    let canon = |c: &str| match c {
        "simple" => Ok(Canon::Simple),
        "relaxed" => Ok(Canon::Relaxed),
        other => Err(perm(format!("unknown canonicalization {other}"))),
    };
    let identity = if dkim {
        get("i").map(str::to_string)
    } else {
        None
    };
    if let Some(i) = &identity {
        let idom = i.rsplit_once('@').map_or(i.as_str(), |(_, d)| d);
        let idom = idom.trim_end_matches('.').to_ascii_lowercase();
        if idom != domain && !idom.ends_with(&format!(".{domain}")) {
            return Err(perm(format!("i={i} is not in d={domain}")));
        }
    }
    let number = |n: &str| -> Result<Option<u64>, Failure> {
        get(n)
            .map(|v| {
                no_ws(v)
                    .parse::<u64>()
                    .map_err(|_| perm(format!("{n}= is not a number")))
            })
            .transpose()
    };
    let length = number("l")?;
    let expires = number("x")?;
    if let (Some(t), Some(x)) = (number("t")?, expires) {
        if x < t {
            return Err(perm("x= is before t="));
        }
    }
    // A clock ten hours fast is tolerated, as dkimpy and OpenDKIM do.
    if number("t")?.is_some_and(|t| t > now.saturating_add(36_000)) {
        return Err(perm("t= is in the future"));
    }
    if let Some(x) = expires {
        if x < now {
            return Err(perm(format!("the signature expired at {x} (x=)")));
        }
    }
    Ok(Sig {
        algorithm,
        b,
        bh,
        header_canon: canon(&hc)?,
        body_canon: canon(&bc)?,
        domain,
        selector,
        headers,
        identity,
        length,
    })
}

/// The key, the body hash and the signature.
fn check(
    message: &Message,
    field: &Field,
    sig: &Sig,
    dns: &dyn TxtLookup,
    v: &mut Verdict,
) -> Result<(), Failure> {
    let key = fetch_key(&sig.domain, &sig.selector, &sig.algorithm, dns)?;
    if key.flags.iter().any(|f| f == "s") {
        if let Some(i) = &sig.identity {
            let idom = i.rsplit_once('@').map_or(i.as_str(), |(_, d)| d);
            if !idom.trim_end_matches('.').eq_ignore_ascii_case(&sig.domain) {
                return Err(perm("the key's t=s forbids a subdomain in i="));
            }
        }
    }
    // The body.
    let body = match sig.body_canon {
        Canon::Relaxed => relaxed_body(&message.body),
        Canon::Simple => simple_body(&message.body),
    };
    let body = match sig.length {
        Some(l) if l > body.len() as u64 => {
            return Err(fail(format!(
                "l={l} is longer than the body ({} bytes)",
                body.len()
            )))
        }
        Some(l) => &body[..l as usize],
        None => &body[..],
    };
    if digest(&SHA256, body).as_ref() != sig.bh.as_slice() {
        return Err(fail("the body hash does not match: the body was changed"));
    }
    // The header fields, each name taking the next instance from the bottom.
    let mut data = Vec::new();
    let mut used: Vec<(&str, usize)> = Vec::new();
    for h in &sig.headers {
        let n = match used.iter_mut().find(|(name, _)| name == h) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                used.push((h, 0));
                0
            }
        };
        if let Some(f) = message.all(h).rev().nth(n) {
            data.extend_from_slice(&canon_header(sig.header_canon, f));
            data.extend_from_slice(b"\r\n");
        }
    }
    let empty = Field {
        name: field.name.clone(),
        raw_name: field.raw_name.clone(),
        value: without_b(&field.value),
    };
    data.extend_from_slice(&canon_header(sig.header_canon, &empty));
    v.key_bits = Some(key_bits(&key));
    verify_with(&key, &data, &sig.b)
}

/// The usable key at `selector._domainkey.domain` for `algorithm`.
pub fn fetch_key(
    domain: &str,
    selector: &str,
    algorithm: &str,
    dns: &dyn TxtLookup,
) -> Result<dkim::KeyRecord, Failure> {
    let owner = dkim::owner(selector, domain);
    let records = match dns.lookup(&owner, crate::dns::TXT) {
        Answer::Records(r) => r,
        Answer::NoData | Answer::NxDomain => {
            return Err(perm(format!("no key for the signature at {owner}")))
        }
        Answer::Fail(e) => {
            return Err((
                AuthResult::TempError,
                format!("the key at {owner} could not be fetched: {e}"),
            ))
        }
    };
    let mut key = None;
    let mut why = String::from("the key record does not parse");
    for r in &records {
        let text = crate::txt::value(r).unwrap_or_default();
        let (k, f) = dkim::parse(&text);
        match k {
            Some(k) => {
                key = Some(k);
                break;
            }
            None => {
                if let Some(f) = f.first() {
                    why = format!("the key record at {owner} is not usable: {}", f.message);
                }
            }
        }
    }
    let key = key.ok_or_else(|| perm(why))?;
    if key.p.is_empty() {
        return Err(perm(format!("the key at {owner} is revoked (empty p=)")));
    }
    let wanted = if algorithm.starts_with("ed25519") {
        KeyType::Ed25519
    } else {
        KeyType::Rsa
    };
    if key.k != wanted {
        return Err(perm(format!(
            "the key is k={} but the signature is a={}",
            key.k.as_str(),
            algorithm
        )));
    }
    if let Some(h) = &key.hashes {
        if !h.iter().any(|x| x == "sha256") {
            return Err(perm("the key's h= does not allow sha256"));
        }
    }
    if let Some(s) = &key.services {
        if !s.iter().any(|x| x == "*" || x == "email") {
            return Err(perm("the key's s= excludes email"));
        }
    }
    Ok(key)
}

/// Checks `sig` over `data` with `key` (RFC 8463: Ed25519 signs the SHA-256 of
/// the data); records the key size in `v`.
pub fn verify_with(key: &dkim::KeyRecord, data: &[u8], sig: &[u8]) -> Result<(), Failure> {
    let ok = match key.k {
        KeyType::Ed25519 => UnparsedPublicKey::new(&signature::ED25519, &key.p)
            .verify(digest(&SHA256, data).as_ref(), sig)
            .is_ok(),
        KeyType::Rsa => {
            let rsa = rsa_public_key(&key.p).ok_or_else(|| perm("the RSA key does not parse"))?;
            let bits = key_bits(key);
            // RFC 8301 §3.2: verifiers take 1024 to 4096 bits; ring keeps keys
            // under 2048 bits behind its legacy verifier.
            let alg: &dyn signature::VerificationAlgorithm = if bits < 1024 {
                return Err(perm(format!("the RSA key has {bits} bits (under 1024)")));
            } else if bits < 2048 {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            UnparsedPublicKey::new(alg, rsa).verify(data, sig).is_ok()
        }
    };
    if ok {
        Ok(())
    } else {
        Err(fail("the signature does not verify: a signed header was changed, or the key is not the one that signed"))
    }
}

/// The size of a key: an RSA modulus's bits, 256 for Ed25519 (0 when unreadable).
pub fn key_bits(key: &dkim::KeyRecord) -> usize {
    match key.k {
        KeyType::Ed25519 => 256,
        KeyType::Rsa => crate::der::rsa_bits(&key.p).unwrap_or(0),
    }
}

/// The RSAPublicKey inside a SubjectPublicKeyInfo, or the key as given when it is
/// already bare PKCS#1 (both are published).
fn rsa_public_key(p: &[u8]) -> Option<&[u8]> {
    match crate::der::spki_parts(p) {
        Some((_, bits)) => Some(bits),
        None => crate::der::read(p).map(|_| p),
    }
}

fn canon_header(c: Canon, f: &Field) -> Vec<u8> {
    match c {
        Canon::Relaxed => relaxed_header(&f.name, &f.value),
        Canon::Simple => {
            let mut out = f.raw_name.clone();
            out.push(b':');
            out.extend_from_slice(&f.value);
            out
        }
    }
}

/// Simple body canonicalization (RFC 6376 §3.4.3): trailing empty lines dropped,
/// an empty body is one CRLF.
pub fn simple_body(body: &[u8]) -> Vec<u8> {
    let mut end = body.len();
    while end >= 2 && &body[end - 2..end] == b"\r\n" {
        end -= 2;
    }
    let mut out = body[..end].to_vec();
    out.extend_from_slice(b"\r\n");
    out
}

/// The field value with the value of its `b=` tag removed (RFC 6376 §3.7),
/// everything else, folding included, kept as it was.
pub fn without_b(value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len());
    for (i, part) in value.split(|&c| c == b';').enumerate() {
        if i > 0 {
            out.push(b';');
        }
        match part.iter().position(|&c| c == b'=') {
            Some(eq)
                if part[..eq]
                    .iter()
                    .filter(|c| !c.is_ascii_whitespace())
                    .eq(b"b".iter()) =>
            {
                out.extend_from_slice(&part[..=eq]);
            }
            _ => out.extend_from_slice(part),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dkim_sign::{Signer, SigningKey};
    use crate::dns::MapLookup;

    fn signed(alg: dkim::Algorithm, msg: &[u8]) -> (Vec<u8>, MapLookup) {
        let g = dkim::generate(alg).unwrap();
        let s = Signer::new(
            "example.test",
            "s1",
            SigningKey::from_pem(g.private_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        let h = s.sign(msg, 1_700_000_000).unwrap();
        let mut out = h.into_bytes();
        out.extend_from_slice(msg);
        let mut dns = MapLookup::new();
        dns.add_txt("s1._domainkey.example.test", &g.record.to_text());
        (out, dns)
    }

    #[test]
    fn signatures_verify_and_changes_fail() {
        let msg = b"From: a@example.test\r\nSubject: hi\r\n\r\nbody  \r\n\r\n";
        for alg in [dkim::Algorithm::Ed25519, dkim::Algorithm::Rsa(2048)] {
            let (m, dns) = signed(alg, msg);
            let v = verify_all(&Message::parse(&m), &dns, 1_700_000_001);
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].result, AuthResult::Pass, "{:?}", v[0]);
            assert_eq!(v[0].domain, "example.test");
            // Trailing whitespace-only lines do not change the relaxed body.
            let mut more = m.clone();
            more.extend_from_slice(b" \r\n");
            assert_eq!(
                verify_all(&Message::parse(&more), &dns, 1_700_000_001)[0].result,
                AuthResult::Pass
            );
            let body = String::from_utf8(m.clone())
                .unwrap()
                .replace("body", "b0dy");
            let v = &verify_all(&Message::parse(body.as_bytes()), &dns, 1_700_000_001)[0];
            assert_eq!(v.result, AuthResult::Fail);
            assert!(v.reason.contains("body hash"), "{}", v.reason);
            let head = String::from_utf8(m.clone())
                .unwrap()
                .replace("Subject: hi", "Subject: ho");
            let v = &verify_all(&Message::parse(head.as_bytes()), &dns, 1_700_000_001)[0];
            assert_eq!(v.result, AuthResult::Fail);
            assert_eq!(
                verify_all(&Message::parse(&m), &MapLookup::new(), 1_700_000_001)[0].result,
                AuthResult::PermError
            );
        }
    }

    #[test]
    fn b_value_is_emptied_in_place() {
        assert_eq!(
            without_b(b" v=1; bh=abc;\r\n b=xy\r\n z; c=r"),
            b" v=1; bh=abc;\r\n b=; c=r"
        );
        assert_eq!(without_b(b"b=1"), b"b=");
        assert_eq!(simple_body(b""), b"\r\n");
        assert_eq!(simple_body(b"a\r\n\r\n"), b"a\r\n");
    }

    #[test]
    fn malformed_signatures_are_permerrors() {
        let dns = MapLookup::new();
        for sig in [
            "v=2; a=rsa-sha256",
            "garbage",
            "v=1; a=rsa-sha1; b=; bh=; d=x; s=y; h=from",
            "v=1; a=rsa-sha256; b=AA==; bh=AA==; d=x.test; s=y; h=subject",
        ] {
            let m = Message::parse(
                format!("DKIM-Signature: {sig}\r\nFrom: a@x.test\r\n\r\n").as_bytes(),
            );
            assert_eq!(
                verify_all(&m, &dns, 1_700_000_001)[0].result,
                AuthResult::PermError,
                "{sig}"
            );
        }
    }
}
