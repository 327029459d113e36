//! DKIM signing (RFC 6376) with RSA-SHA256 and Ed25519-SHA256 (RFC 8463), on the
//! crypto the project already pins (ring). Canonicalization is written here:
//! it is small, and the popular crate for it gets the relaxed body wrong when
//! the body ends in whitespace-only lines (they are empty lines after the
//! whitespace is stripped, so they go with the other trailing empty lines).
#![forbid(unsafe_code)]

use ring::digest::{digest, SHA256};
use ring::signature::{Ed25519KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};

/// The headers signed when present (RFC 6376 §5.4.1 and common practice): the
/// ones a reader sees and the ones that tie the message together. `From` is
/// signed once more than it appears (oversigned), so none can be added.
pub const SIGNED_HEADERS: &[&str] = &[
    "from",
    "reply-to",
    "subject",
    "date",
    "to",
    "cc",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "content-disposition",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
    "sender",
    "resent-date",
    "resent-from",
    "resent-to",
    "resent-cc",
];

/// A private key that signs.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl SigningKey {
    /// Reads a key file as `blason dkim keygen` and OpenDKIM write it: PEM holding
    /// `RSA PRIVATE KEY` (PKCS#1), or `PRIVATE KEY` (PKCS#8, RSA or Ed25519).
    pub fn from_pem(text: &[u8]) -> Result<SigningKey, String> {
        let blocks = crate::der::pem_blocks(text);
        let (label, der) = blocks.first().ok_or("no PEM block in the key file")?;
        match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(der)
                .map(SigningKey::Rsa)
                .map_err(|e| rsa_refused(&e.to_string())),
            "PRIVATE KEY" => {
                if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    return Ok(SigningKey::Ed25519(k));
                }
                RsaKeyPair::from_pkcs8(der)
                    .map(SigningKey::Rsa)
                    .map_err(|e| rsa_refused(&e.to_string()))
            }
            other => Err(format!("a {other} block is not a private key")),
        }
    }

    fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "rsa-sha256",
            SigningKey::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// RSA keys under 2048 bits are refused by `Signer::new` (RFC 8301 §3.2).
    fn bits(&self) -> usize {
        match self {
            SigningKey::Rsa(k) => k.public().modulus_len() * 8,
            SigningKey::Ed25519(_) => 256,
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            SigningKey::Rsa(k) => {
                let rng = ring::rand::SystemRandom::new();
                let mut sig = vec![0u8; k.public().modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, data, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data.
            SigningKey::Ed25519(k) => Ok(k.sign(digest(&SHA256, data).as_ref()).as_ref().to_vec()),
        }
    }
}

/// Why an RSA key was refused, in words a user can act on.
fn rsa_refused(why: &str) -> String {
    if why.contains("TooSmall") {
        "the RSA key is under 2048 bits, which receivers may ignore (RFC 8301): make a new selector with `blason dkim keygen --algorithm rsa2048` and publish it beside the old one".into()
    } else {
        format!("not a private key this can sign with: {why}")
    }
}

/// Signs mail for one domain and selector.
pub struct Signer {
    pub domain: String,
    pub selector: String,
    key: SigningKey,
}

impl Signer {
    pub fn new(domain: &str, selector: &str, key: SigningKey) -> Result<Signer, String> {
        if key.bits() < 2048 && matches!(key, SigningKey::Rsa(_)) {
            return Err(format!(
                "the RSA key has {} bits; DKIM keys must have at least 2048 (RFC 8301): make a new selector with blason dkim keygen",
                key.bits()
            ));
        }
        Ok(Signer {
            domain: domain.trim_end_matches('.').to_ascii_lowercase(),
            selector: selector.to_string(),
            key,
        })
    }

    /// The `DKIM-Signature` header field (name, value, CRLF) for `message` (header
    /// and body, lines ending in CRLF or bare LF), signed relaxed/relaxed at `now`.
    pub fn sign(&self, message: &[u8], now: u64) -> Result<String, String> {
        let msg = crlf(message);
        let (headers, body) = split(&msg);
        let bh = crate::b64::encode(digest(&SHA256, &relaxed_body(body)).as_ref());
        let fields: Vec<(String, Vec<u8>)> = parse_headers(headers)
            .into_iter()
            .map(|f| (f.name, f.value))
            .collect();
        // Which fields, bottom-up for repeated names (RFC 6376 §5.4.2); From once
        // more than present.
        let mut names: Vec<String> = Vec::new();
        for h in SIGNED_HEADERS {
            let n = fields
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(h))
                .count();
            let times = if *h == "from" { n + 1 } else { n };
            for _ in 0..times {
                names.push((*h).to_string());
            }
        }
        if !fields.iter().any(|(n, _)| n.eq_ignore_ascii_case("from")) {
            return Err("the message has no From header".into());
        }
        let mut data = Vec::new();
        let mut used = std::collections::HashMap::<String, usize>::new();
        for n in &names {
            let k = used.entry(n.clone()).or_insert(0);
            let instances: Vec<&(String, Vec<u8>)> = fields
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case(n))
                .collect();
            // The k-th from the bottom; a missing one signs as empty (nothing).
            if let Some((name, value)) = instances.len().checked_sub(*k + 1).map(|i| instances[i]) {
                data.extend_from_slice(&relaxed_header(name, value));
                data.extend_from_slice(b"\r\n");
            }
            *k += 1;
        }
        let head = format!(
            "v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={now}; h={};\r\n\tbh={bh};\r\n\tb=",
            self.key.algorithm(),
            self.domain,
            self.selector,
            names.join(":"),
        );
        data.extend_from_slice(&relaxed_header("DKIM-Signature", head.as_bytes()));
        let sig = self.key.sign(&data)?;
        Ok(format!(
            "DKIM-Signature: {head}{}\r\n",
            crate::b64::encode(&sig)
        ))
    }
}

pub use crate::message::crlf;
use crate::message::{parse_headers, split};

/// Relaxed header canonicalization (RFC 6376 §3.4.2): the name lowercased, the
/// value unfolded, whitespace runs made one space, none at either end.
pub fn relaxed_header(name: &str, value: &[u8]) -> Vec<u8> {
    let mut out = name.trim().to_ascii_lowercase().into_bytes();
    out.push(b':');
    let mut space = false;
    let mut started = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && started {
                    out.push(b' ');
                }
                space = false;
                started = true;
                out.push(b);
            }
        }
    }
    out
}

/// Relaxed body canonicalization (RFC 6376 §3.4.4): whitespace at line ends
/// dropped, runs made one space, empty lines at the end dropped (whitespace-only
/// lines are empty lines by then), and a non-empty body ending in CRLF.
pub fn relaxed_body(body: &[u8]) -> Vec<u8> {
    // One pass, no copy per line: a line ends at LF (a CR before it is part of
    // the line end); empty lines are only written once a non-empty one follows.
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut empty_run = 0usize;
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(raw) = lines.next() {
        let last = lines.peek().is_none();
        if last && raw.is_empty() {
            break;
        }
        // Only a CR before the LF ends a line; one at the very end is data.
        let line = if last {
            raw
        } else {
            raw.strip_suffix(b"\r").unwrap_or(raw)
        };
        let mark = out.len();
        let mut space = false;
        for &b in line {
            if b == b' ' || b == b'\t' {
                space = true;
            } else {
                // Any run, leading ones too, is one space; trailing ones go.
                if space {
                    out.push(b' ');
                }
                space = false;
                out.push(b);
            }
        }
        if out.len() == mark {
            empty_run += 1;
            continue;
        }
        if empty_run > 0 {
            let text = out.split_off(mark);
            for _ in 0..empty_run {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(&text);
            empty_run = 0;
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relaxed_body_drops_trailing_whitespace_only_lines() {
        assert_eq!(relaxed_body(b"a  b \t\r\n\r\n \t\r\n  \r\n"), b"a b\r\n");
        assert_eq!(relaxed_body(b""), b"");
        assert_eq!(relaxed_body(b"\r\n\r\n"), b"");
        assert_eq!(relaxed_body(b"x"), b"x\r\n");
        assert_eq!(relaxed_body(b"x\n\ny\n"), b"x\r\n\r\ny\r\n");
        assert_eq!(
            relaxed_body(b" a\t b \r\n\r\n\r\n  c\r\n"),
            b" a b\r\n\r\n\r\n c\r\n"
        );
        assert_eq!(relaxed_body(b"a\rb\r\n"), b"a\rb\r\n");
        assert_eq!(relaxed_body(b"\r\n x"), b"\r\n x\r\n");
        assert_eq!(relaxed_body(b"a\r"), b"a\r\r\n");
    }

    #[test]
    fn relaxed_headers_unfold_and_squeeze() {
        assert_eq!(
            relaxed_header("SUBJect ", b" a \r\n\t b  c \t"),
            b"subject:a b c"
        );
        assert_eq!(relaxed_header("X", b""), b"x:");
    }

    #[test]
    fn rsa_keys_under_2048_bits_are_refused_with_the_way_out() {
        let g = crate::dkim::generate(crate::dkim::Algorithm::Rsa(1024)).unwrap();
        let e = SigningKey::from_pem(g.private_pem.as_bytes())
            .err()
            .unwrap();
        assert!(
            e.contains("under 2048 bits") && e.contains("new selector"),
            "{e}"
        );
        let g = crate::dkim::generate(crate::dkim::Algorithm::Ed25519).unwrap();
        let k = SigningKey::from_pem(g.private_pem.as_bytes()).unwrap();
        let s = Signer::new("Example.COM.", "s1", k).unwrap();
        let h = s
            .sign(b"From: a@example.com\nSubject: x\n\nbody\n", 1_700_000_000)
            .unwrap();
        assert!(
            h.starts_with(
                "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.com; s=s1;"
            ),
            "{h}"
        );
        assert!(h.contains("h=from:from:subject;"), "From oversigned: {h}");
        assert!(s.sign(b"Subject: x\n\nbody\n", 0).is_err(), "no From");
    }
}
