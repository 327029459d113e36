//! DKIM key records (RFC 6376 §3.6.1, RFC 8463): parse, lint and key generation, and
//! the historic ADSP and DomainKeys policy records that old tutorials still publish.

use crate::der;
use crate::dns::{self, TxtLookup};
use crate::tags;
use crate::{finding, Finding, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A parsed key record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    pub k: KeyType,
    /// The decoded public key; empty when revoked.
    pub p: Vec<u8>,
    pub hashes: Option<Vec<String>>,
    pub flags: Vec<String>,
    pub services: Option<Vec<String>>,
    pub notes: Option<String>,
}

impl KeyRecord {
    /// The record text: `v=DKIM1; k=...; p=...`.
    pub fn to_text(&self) -> String {
        let mut s = format!("v=DKIM1; k={}", self.k.as_str());
        if let Some(h) = &self.hashes {
            s.push_str(&format!("; h={}", h.join(":")));
        }
        if !self.flags.is_empty() {
            s.push_str(&format!("; t={}", self.flags.join(":")));
        }
        s.push_str(&format!("; p={}", crate::b64::encode(&self.p)));
        s
    }
}

/// The owner name of a key record.
pub fn owner(selector: &str, domain: &str) -> String {
    format!("{}._domainkey.{}", selector, dns::norm(domain))
}

fn syntax(msg: String) -> Finding {
    finding(
        "dkim-syntax",
        Severity::Error,
        msg,
        "publish the record exactly as the key generator printed it: 'v=DKIM1; k=rsa; p=...'",
    )
}

/// Parses a key record. Returns None (with findings) when it cannot be used.
pub fn parse(value: &[u8]) -> (Option<KeyRecord>, Vec<Finding>) {
    let mut out = Vec::new();
    let list = match tags::parse(value) {
        Ok(l) => l,
        Err(e) => {
            out.push(syntax(format!("the DKIM key record does not parse: {e}")));
            return (None, out);
        }
    };
    for d in tags::duplicates(&list) {
        out.push(syntax(format!(
            "tag '{d}' appears more than once (the record is invalid)"
        )));
    }
    if let Some(pos) = list.iter().position(|t| t.name == "v") {
        if pos != 0 || list[pos].value != "DKIM1" {
            out.push(finding(
                "dkim-version",
                Severity::Error,
                format!(
                    "v={} at position {}: v= must be first and exactly DKIM1",
                    list[pos].value,
                    pos + 1
                ),
                "start the record with 'v=DKIM1;' or leave v= out",
            ));
        }
    }
    let k = match tags::get(&list, "k") {
        None => KeyType::Rsa,
        Some(v) if v.eq_ignore_ascii_case("rsa") => KeyType::Rsa,
        Some(v) if v.eq_ignore_ascii_case("ed25519") => KeyType::Ed25519,
        Some(v) => {
            out.push(finding(
                "dkim-key-type",
                Severity::Error,
                format!("k={v} is not a key type verifiers know (rsa, ed25519)"),
                "use k=rsa or k=ed25519",
            ));
            return (None, out);
        }
    };
    let hashes = tags::get(&list, "h").map(|h| {
        h.split(':')
            .map(|x| x.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    });
    if let Some(h) = &hashes {
        if h.iter().all(|x| x != "sha256") {
            out.push(finding(
                "dkim-hash-sha1",
                Severity::Warning,
                format!(
                    "h={} allows no sha256: verifiers reject sha1 signatures (RFC 8301)",
                    h.join(":")
                ),
                "remove h= or set h=sha256",
            ));
        }
    }
    let flags: Vec<String> = tags::get(&list, "t")
        .map(|t| {
            t.split(':')
                .map(|x| x.trim().to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let services = tags::get(&list, "s").map(|s| {
        s.split(':')
            .map(|x| x.trim().to_ascii_lowercase())
            .collect::<Vec<_>>()
    });
    if let Some(s) = &services {
        if !s.iter().any(|x| x == "*" || x == "email") {
            out.push(finding(
                "dkim-service",
                Severity::Error,
                format!(
                    "s={} excludes email: the key cannot verify mail",
                    s.join(":")
                ),
                "remove s= or set s=email",
            ));
        }
    }
    let Some(p_text) = tags::get(&list, "p") else {
        out.push(syntax("the record has no p= tag".into()));
        return (None, out);
    };
    let p = match crate::b64::decode(p_text.as_bytes()) {
        Some(p) => p,
        None => {
            out.push(finding(
                "dkim-key-invalid",
                Severity::Error,
                "p= is not valid base64",
                "copy the key again; a line break or quote may have slipped in",
            ));
            return (None, out);
        }
    };
    let notes = tags::get(&list, "n").map(str::to_string);
    (
        Some(KeyRecord {
            k,
            p,
            hashes,
            flags,
            services,
            notes,
        }),
        out,
    )
}

/// Lints a key record on its own.
pub fn lint_record(value: &[u8]) -> Vec<Finding> {
    let (rec, mut out) = parse(value);
    let Some(r) = rec else { return out };
    if r.p.is_empty() {
        out.push(finding(
            "dkim-revoked",
            Severity::Warning,
            "p= is empty: this key is revoked and every signature with it fails",
            "if the selector is still used to sign, publish its key; if not, remove the record once old mail has been delivered",
        ));
    } else {
        match r.k {
            KeyType::Rsa => match der::rsa_bits(&r.p) {
                None => out.push(finding(
                    "dkim-key-invalid",
                    Severity::Error,
                    "p= is not an RSA public key",
                    "publish the SubjectPublicKeyInfo of the RSA key in base64",
                )),
                Some(bits) if bits < 1024 => out.push(finding(
                    "dkim-rsa-too-small",
                    Severity::Error,
                    format!("the RSA key has {bits} bits; verifiers reject keys under 1024 bits (RFC 8301)"),
                    "generate a new key: blason dkim keygen --algorithm rsa2048",
                )),
                Some(bits) if bits < 2048 => out.push(finding(
                    "dkim-rsa-weak",
                    Severity::Warning,
                    format!("the RSA key has {bits} bits; 2048 is the least recommended now"),
                    "roll to a new selector with a 2048-bit key: blason dkim keygen --algorithm rsa2048",
                )),
                Some(_) => {}
            },
            KeyType::Ed25519 => {
                if r.p.len() != 32 {
                    out.push(finding(
                        "dkim-key-invalid",
                        Severity::Error,
                        format!("an Ed25519 key is 32 bytes; p= holds {}", r.p.len()),
                        "publish the raw 32-byte public key in base64 (RFC 8463), not the SubjectPublicKeyInfo",
                    ));
                }
                out.push(finding(
                    "dkim-ed25519-only",
                    Severity::Note,
                    "many verifiers do not check Ed25519 signatures yet",
                    "sign with an RSA key under a second selector as well",
                ));
            }
        }
    }
    if r.flags.iter().any(|f| f == "y") {
        out.push(finding(
            "dkim-testing",
            Severity::Warning,
            "t=y: the domain is testing DKIM, and verifiers may treat failing and passing signatures alike",
            "remove t=y once signatures verify",
        ));
    }
    out
}

/// The historic records: ADSP (`_adsp._domainkey`, RFC 5617, Historic) and the
/// DomainKeys policy record (`_domainkey` with `o=`, RFC 4870, Historic).
pub fn check_historic(domain: &str, dns: &dyn TxtLookup) -> Vec<Finding> {
    let d = dns::norm(domain);
    let mut out = Vec::new();
    if let Ok(recs) = dns.txt(&format!("_adsp._domainkey.{d}")) {
        if !recs.is_empty() {
            out.push(finding(
                "dkim-adsp",
                Severity::Warning,
                format!("_adsp._domainkey.{d} publishes ADSP, which was moved to Historic in 2013 and is ignored"),
                "remove it; DMARC replaces it",
            ));
        }
    }
    if let Ok(recs) = dns.txt(&format!("_domainkey.{d}")) {
        for r in recs {
            let s = String::from_utf8_lossy(&r).to_string();
            let has_o = tags::parse(&r)
                .ok()
                .is_some_and(|t| tags::get(&t, "o").is_some());
            if has_o || s.contains("o=-") || s.contains("o=~") {
                out.push(finding(
                    "dkim-domainkeys-policy",
                    Severity::Warning,
                    format!("_domainkey.{d} publishes a DomainKeys policy ('{s}'); DomainKeys is Historic and the record is ignored"),
                    "remove it; DMARC replaces it",
                ));
            }
        }
    }
    out
}

/// Fetches and lints the key record of one selector.
pub fn check_selector(domain: &str, selector: &str, dns: &dyn TxtLookup) -> Vec<Finding> {
    let name = owner(selector, domain);
    match dns.txt(&name) {
        Ok(recs) => {
            let keys: Vec<&Vec<u8>> = recs
                .iter()
                .filter(|r| r.windows(2).any(|w| w == b"p="))
                .collect();
            let mut out = Vec::new();
            if keys.len() > 1 {
                out.push(finding(
                    "dkim-multiple",
                    Severity::Error,
                    format!(
                        "{name} has {} key records; verifiers may pick any",
                        keys.len()
                    ),
                    "keep one key per selector",
                ));
            }
            match keys.first() {
                Some(k) => out.extend(lint_record(k).into_iter().map(|mut f| {
                    f.message = format!("{name}: {}", f.message);
                    f
                })),
                None => out.push(finding(
                    "dkim-missing",
                    Severity::Error,
                    format!("no DKIM key record at {name}"),
                    "publish the TXT record printed by blason dkim keygen",
                )),
            }
            out
        }
        Err(dns::Answer::Fail(e)) => vec![finding(
            "dkim-lookup-failed",
            Severity::Warning,
            format!("TXT lookup for {name} failed: {e}"),
            "",
        )],
        Err(_) => vec![finding(
            "dkim-missing",
            Severity::Error,
            format!("no DKIM key record at {name}"),
            "publish the TXT record printed by blason dkim keygen",
        )],
    }
}

/// Key generation algorithms offered by `blason dkim keygen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Ed25519,
    Rsa(usize),
}

/// A new key pair: the private key in PEM and the public key record.
pub struct GeneratedKey {
    /// `PRIVATE KEY` (PKCS#8) for Ed25519, `RSA PRIVATE KEY` (PKCS#1) for RSA: the
    /// forms OpenDKIM and dkimpy both read.
    pub private_pem: String,
    pub record: KeyRecord,
}

/// Generates a key pair with the system's random source.
pub fn generate(alg: Algorithm) -> Result<GeneratedKey, String> {
    match alg {
        Algorithm::Ed25519 => {
            use ring::signature::{Ed25519KeyPair, KeyPair};
            let rng = ring::rand::SystemRandom::new();
            let doc =
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| "no randomness".to_string())?;
            let v2 = doc.as_ref();
            // ring writes PKCS#8 v2 (RFC 5958); OpenSSL 1.1 and others read only v1
            // (RFC 8410), so write v1 from the 32-byte seed.
            let seed = v2.get(16..48).ok_or("unexpected PKCS#8 layout")?;
            let mut v1 = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            v1.extend_from_slice(seed);
            let kp =
                Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| "bad seed".to_string())?;
            let check = Ed25519KeyPair::from_pkcs8(v2).map_err(|_| "bad key".to_string())?;
            if check.public_key().as_ref() != kp.public_key().as_ref() {
                return Err("unexpected PKCS#8 layout".into());
            }
            Ok(GeneratedKey {
                private_pem: der::pem("PRIVATE KEY", &v1),
                record: KeyRecord {
                    k: KeyType::Ed25519,
                    p: kp.public_key().as_ref().to_vec(),
                    hashes: None,
                    flags: vec![],
                    services: None,
                    notes: None,
                },
            })
        }
        Algorithm::Rsa(bits) => {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            use rsa::pkcs8::EncodePublicKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, bits)
                .map_err(|e| e.to_string())?;
            let pem = key
                .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
                .map_err(|e| e.to_string())?;
            let spki = key
                .to_public_key()
                .to_public_key_der()
                .map_err(|e| e.to_string())?;
            Ok(GeneratedKey {
                private_pem: pem.to_string(),
                record: KeyRecord {
                    k: KeyType::Rsa,
                    p: spki.as_bytes().to_vec(),
                    hashes: None,
                    flags: vec![],
                    services: None,
                    notes: None,
                },
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    fn rsa_record(bits: usize) -> String {
        generate(Algorithm::Rsa(bits)).unwrap().record.to_text()
    }

    #[test]
    fn generated_keys_lint_clean() {
        let ed = generate(Algorithm::Ed25519).unwrap();
        assert_eq!(ed.record.p.len(), 32);
        assert_eq!(
            ids(&lint_record(ed.record.to_text().as_bytes())),
            ["dkim-ed25519-only"]
        );
        assert!(ed.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let r = rsa_record(2048);
        assert!(lint_record(r.as_bytes()).is_empty(), "{r}");
        let (k, _) = parse(r.as_bytes());
        assert_eq!(der::rsa_bits(&k.unwrap().p), Some(2048));
    }

    #[test]
    fn lints() {
        assert_eq!(
            ids(&lint_record(rsa_record(1024).as_bytes())),
            ["dkim-rsa-weak"]
        );
        assert_eq!(
            ids(&lint_record(rsa_record(512).as_bytes())),
            ["dkim-rsa-too-small"]
        );
        assert_eq!(ids(&lint_record(b"v=DKIM1; k=rsa; p=")), ["dkim-revoked"]);
        let t = format!("{}; t=y", rsa_record(2048));
        assert_eq!(ids(&lint_record(t.as_bytes())), ["dkim-testing"]);
        assert!(ids(&lint_record(b"k=rsa; v=DKIM1; p=")).contains(&"dkim-version"));
        assert!(ids(&lint_record(b"v=DKIM1; k=dsa; p=AAAA")).contains(&"dkim-key-type"));
        assert!(ids(&lint_record(b"v=DKIM1; p=!!")).contains(&"dkim-key-invalid"));
        assert!(ids(&lint_record(b"v=DKIM1; p=AAAA")).contains(&"dkim-key-invalid"));
        assert!(ids(&lint_record(b"v=DKIM1; k=ed25519; p=AAAA")).contains(&"dkim-key-invalid"));
        assert!(ids(&lint_record(b"v=DKIM1; h=sha1; p=")).contains(&"dkim-hash-sha1"));
        assert!(ids(&lint_record(b"v=DKIM1; k=rsa")).contains(&"dkim-syntax"));
    }

    #[test]
    fn historic_records() {
        let mut m = MapLookup::new();
        m.add_txt("_adsp._domainkey.example.com", "dkim=all");
        m.add_txt("_domainkey.example.com", "o=-; r=postmaster@example.com");
        let f = check_historic("example.com", &m);
        assert_eq!(ids(&f), ["dkim-adsp", "dkim-domainkeys-policy"]);
        assert!(check_historic("example.net", &m).is_empty());
        assert_eq!(
            ids(&check_selector("example.com", "s1", &m)),
            ["dkim-missing"]
        );
    }
}
