//! Keys: generation, DNSKEY/DS encoding, key tags, BIND K-file import and export.
//!
//! A [`Key`] carries its private half in [`PrivateKey`], which has no `Debug` output
//! beyond a placeholder and is never formatted, so a key can be logged safely.

mod bind;

pub use bind::{
    bind_base_name, parse_bind, parse_time as parse_bind_time, read_bind, read_bind_dir,
    write_bind, BindFiles,
};

use blason_zone::Name;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use std::fmt;

/// DNSKEY flags: Zone Key (RFC 4034 §2.1.1).
pub const FLAG_ZONE: u16 = 256;
/// DNSKEY flags: Secure Entry Point (a KSK or CSK).
pub const FLAG_SEP: u16 = 1;
/// DNSKEY flags: revoked (RFC 5011).
pub const FLAG_REVOKE: u16 = 128;

/// The signing algorithms blason offers (RFC 8624 "MUST"/"RECOMMENDED" ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// RSA/SHA-256 (8), RFC 5702.
    RsaSha256,
    /// ECDSA P-256 with SHA-256 (13), RFC 6605: the default.
    EcdsaP256Sha256,
    /// Ed25519 (15), RFC 8080.
    Ed25519,
}

impl Algorithm {
    pub fn number(self) -> u8 {
        match self {
            Algorithm::RsaSha256 => 8,
            Algorithm::EcdsaP256Sha256 => 13,
            Algorithm::Ed25519 => 15,
        }
    }
    pub fn from_number(n: u8) -> Option<Algorithm> {
        match n {
            8 => Some(Algorithm::RsaSha256),
            13 => Some(Algorithm::EcdsaP256Sha256),
            15 => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
    /// The mnemonic BIND writes in `.private` files and zone files.
    pub fn mnemonic(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "RSASHA256",
            Algorithm::EcdsaP256Sha256 => "ECDSAP256SHA256",
            Algorithm::Ed25519 => "ED25519",
        }
    }
    /// Parses a number, a BIND mnemonic or a short name (`ecdsap256`, `ed25519`,
    /// `rsasha256`), case-insensitively.
    pub fn parse(s: &str) -> Option<Algorithm> {
        if let Ok(n) = s.parse::<u8>() {
            return Algorithm::from_number(n);
        }
        match s.to_ascii_lowercase().as_str() {
            "rsasha256" | "rsa" => Some(Algorithm::RsaSha256),
            "ecdsap256sha256" | "ecdsap256" | "ecdsa" | "p256" => Some(Algorithm::EcdsaP256Sha256),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }
    /// Upper bound of the signature length (RSA: the modulus length).
    pub fn max_signature_len(self) -> usize {
        match self {
            Algorithm::RsaSha256 => 512,
            _ => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mnemonic())
    }
}

/// Identifies a key among a zone's keys: algorithm and key tag, as BIND's K-file names
/// do. Tags can collide; the planner should also compare [`Key::public`] when it matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId {
    pub algorithm: Algorithm,
    pub tag: u16,
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}+{:05}", self.algorithm.number(), self.tag)
    }
}

/// Why a key could not be made, read or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for KeyError {}

fn kerr<T>(s: impl Into<String>) -> Result<T, KeyError> {
    Err(KeyError(s.into()))
}

/// Secret octets, wiped on drop (best effort: no volatile writes in safe Rust).
struct Secret(Vec<u8>);

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.iter_mut().for_each(|b| *b = 0);
    }
}

/// RSA private components as BIND stores them, big-endian.
struct RsaParts {
    n: Secret,
    e: Secret,
    d: Secret,
    p: Secret,
    q: Secret,
    dp: Secret,
    dq: Secret,
    qinv: Secret,
}

enum Signer {
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

enum Material {
    /// ECDSA private scalar or Ed25519 seed: what BIND's `PrivateKey:` holds.
    Scalar(Secret),
    Rsa(Box<RsaParts>),
}

/// The private half of a key. Its `Debug` prints a placeholder only.
pub struct PrivateKey {
    signer: Signer,
    material: Material,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// A DNSSEC key of one zone.
#[derive(Debug)]
pub struct Key {
    pub algorithm: Algorithm,
    /// DNSKEY flags: 256 (ZSK) or 257 (KSK/CSK).
    pub flags: u16,
    /// The DNSKEY public key field (RFC 3110 / 6605 / 8080 encoding).
    pub public: Vec<u8>,
    pub private: PrivateKey,
    pub tag: u16,
    /// Creation time (seconds since the epoch) if known; kept through K-files.
    pub created: Option<u64>,
}

impl Key {
    pub fn id(&self) -> KeyId {
        KeyId {
            algorithm: self.algorithm,
            tag: self.tag,
        }
    }
    pub fn is_sep(&self) -> bool {
        self.flags & FLAG_SEP != 0
    }

    /// Generates a key. `rsa_bits` applies to RSA only (at least 2048).
    pub fn generate(algorithm: Algorithm, flags: u16, rsa_bits: usize) -> Result<Key, KeyError> {
        let rng = SystemRandom::new();
        let (signer, material, public) = match algorithm {
            Algorithm::EcdsaP256Sha256 => {
                let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
                let doc = EcdsaKeyPair::generate_pkcs8(alg, &rng)
                    .map_err(|_| KeyError("no randomness".into()))?;
                let kp = EcdsaKeyPair::from_pkcs8(alg, doc.as_ref(), &rng)
                    .map_err(|e| KeyError(format!("generated key rejected: {e}")))?;
                let scalar = ecdsa_scalar_from_pkcs8(doc.as_ref())?;
                let public = kp.public_key().as_ref()[1..].to_vec();
                (Signer::Ecdsa(kp), Material::Scalar(Secret(scalar)), public)
            }
            Algorithm::Ed25519 => {
                let doc = Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| KeyError("no randomness".into()))?;
                // ring writes PKCS#8 v2: the seed follows `04 22 04 20` at offset 16.
                let seed = doc
                    .as_ref()
                    .get(16..48)
                    .ok_or_else(|| KeyError("unexpected PKCS#8 layout".into()))?
                    .to_vec();
                let kp = Ed25519KeyPair::from_seed_unchecked(&seed)
                    .map_err(|e| KeyError(format!("generated key rejected: {e}")))?;
                let check = Ed25519KeyPair::from_pkcs8(doc.as_ref())
                    .map_err(|e| KeyError(format!("generated key rejected: {e}")))?;
                if check.public_key().as_ref() != kp.public_key().as_ref() {
                    return kerr("unexpected PKCS#8 layout");
                }
                let public = kp.public_key().as_ref().to_vec();
                (Signer::Ed25519(kp), Material::Scalar(Secret(seed)), public)
            }
            Algorithm::RsaSha256 => {
                if !(2048..=4096).contains(&rsa_bits) {
                    return kerr("RSA keys must have 2048 to 4096 bits");
                }
                let k = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, rsa_bits)
                    .map_err(|e| KeyError(format!("RSA key generation failed: {e}")))?;
                let parts = rsa_parts(&k)?;
                return Key::from_rsa_parts(parts, flags, None);
            }
        };
        Ok(Key::assemble(
            algorithm, flags, public, signer, material, None,
        ))
    }

    fn assemble(
        algorithm: Algorithm,
        flags: u16,
        public: Vec<u8>,
        signer: Signer,
        material: Material,
        created: Option<u64>,
    ) -> Key {
        let tag = key_tag(&dnskey_rdata(flags, algorithm, &public));
        Key {
            algorithm,
            flags,
            public,
            private: PrivateKey { signer, material },
            tag,
            created,
        }
    }

    /// Builds a key from an ECDSA P-256 private scalar or an Ed25519 seed and the
    /// DNSKEY public key field, checking that they belong together.
    pub fn from_scalar(
        algorithm: Algorithm,
        flags: u16,
        scalar: &[u8],
        public: &[u8],
        created: Option<u64>,
    ) -> Result<Key, KeyError> {
        let signer = match algorithm {
            Algorithm::EcdsaP256Sha256 => {
                if scalar.len() != 32 || public.len() != 64 {
                    return kerr(
                        "ECDSA P-256 keys have a 32-octet private and 64-octet public key",
                    );
                }
                let mut pt = Vec::with_capacity(65);
                pt.push(4);
                pt.extend_from_slice(public);
                let kp = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    scalar,
                    &pt,
                    &SystemRandom::new(),
                )
                .map_err(|e| KeyError(format!("ECDSA key rejected: {e}")))?;
                Signer::Ecdsa(kp)
            }
            Algorithm::Ed25519 => {
                let kp = Ed25519KeyPair::from_seed_and_public_key(scalar, public)
                    .map_err(|e| KeyError(format!("Ed25519 key rejected: {e}")))?;
                Signer::Ed25519(kp)
            }
            Algorithm::RsaSha256 => return kerr("RSA keys are built from their components"),
        };
        Ok(Key::assemble(
            algorithm,
            flags,
            public.to_vec(),
            signer,
            Material::Scalar(Secret(scalar.to_vec())),
            created,
        ))
    }

    fn from_rsa_parts(parts: RsaParts, flags: u16, created: Option<u64>) -> Result<Key, KeyError> {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        let big = |s: &Secret| rsa::BigUint::from_bytes_be(&s.0);
        let k = rsa::RsaPrivateKey::from_components(
            big(&parts.n),
            big(&parts.e),
            big(&parts.d),
            vec![big(&parts.p), big(&parts.q)],
        )
        .map_err(|e| KeyError(format!("RSA key rejected: {e}")))?;
        let bits = parts.n.0.iter().skip_while(|&&b| b == 0).count() * 8;
        if bits < 2048 {
            return kerr(format!(
                "RSA key of about {bits} bits: at least 2048 are required"
            ));
        }
        let der = k
            .to_pkcs1_der()
            .map_err(|e| KeyError(format!("RSA key rejected: {e}")))?;
        let kp = RsaKeyPair::from_der(der.as_bytes())
            .map_err(|e| KeyError(format!("RSA key rejected: {e}")))?;
        let public = rsa_public(&parts.e.0, &parts.n.0);
        Ok(Key::assemble(
            Algorithm::RsaSha256,
            flags,
            public,
            Signer::Rsa(kp),
            Material::Rsa(Box::new(parts)),
            created,
        ))
    }

    /// The DNSKEY rdata of this key.
    pub fn dnskey(&self) -> Vec<u8> {
        dnskey_rdata(self.flags, self.algorithm, &self.public)
    }

    /// The DS rdata for this key at `owner`.
    pub fn ds(&self, owner: &Name, digest: DigestType) -> Vec<u8> {
        ds_rdata(owner, &self.dnskey(), digest)
    }

    /// Signs `msg` (the RRSIG signed data), appending the signature to `out`.
    pub fn sign_into(
        &self,
        rng: &SystemRandom,
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), KeyError> {
        match &self.private.signer {
            Signer::Ecdsa(kp) => {
                let sig = kp
                    .sign(rng, msg)
                    .map_err(|_| KeyError("ECDSA signing failed".into()))?;
                out.extend_from_slice(sig.as_ref());
            }
            Signer::Ed25519(kp) => out.extend_from_slice(kp.sign(msg).as_ref()),
            Signer::Rsa(kp) => {
                let start = out.len();
                out.resize(start + kp.public().modulus_len(), 0);
                kp.sign(&signature::RSA_PKCS1_SHA256, rng, msg, &mut out[start..])
                    .map_err(|_| KeyError("RSA signing failed".into()))?;
            }
        }
        Ok(())
    }
}

fn rsa_parts(k: &rsa::RsaPrivateKey) -> Result<RsaParts, KeyError> {
    use rsa::traits::{PrivateKeyParts, PublicKeyParts};
    let primes = k.primes();
    if primes.len() != 2 {
        return kerr("RSA keys with other than two primes are not supported");
    }
    let s = |b: &rsa::BigUint| Secret(b.to_bytes_be());
    let dp = k
        .dp()
        .ok_or_else(|| KeyError("RSA key lacks CRT values".into()))?;
    let dq = k
        .dq()
        .ok_or_else(|| KeyError("RSA key lacks CRT values".into()))?;
    let qinv = k
        .crt_coefficient()
        .ok_or_else(|| KeyError("RSA key lacks CRT values".into()))?;
    Ok(RsaParts {
        n: s(k.n()),
        e: s(k.e()),
        d: s(k.d()),
        p: s(&primes[0]),
        q: s(&primes[1]),
        dp: s(dp),
        dq: s(dq),
        qinv: s(&qinv),
    })
}

/// RFC 3110 §2: exponent length, exponent, modulus.
fn rsa_public(e: &[u8], n: &[u8]) -> Vec<u8> {
    let e = strip_zeros(e);
    let n = strip_zeros(n);
    let mut v = Vec::with_capacity(3 + e.len() + n.len());
    if e.len() < 256 {
        v.push(e.len() as u8);
    } else {
        v.push(0);
        v.extend_from_slice(&(e.len() as u16).to_be_bytes());
    }
    v.extend_from_slice(e);
    v.extend_from_slice(n);
    v
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[i..]
}

/// The 32-octet private scalar in ring's P-256 PKCS#8 (inside ECPrivateKey:
/// `02 01 01 04 20 <scalar>`).
fn ecdsa_scalar_from_pkcs8(doc: &[u8]) -> Result<Vec<u8>, KeyError> {
    const MARK: [u8; 5] = [0x02, 0x01, 0x01, 0x04, 0x20];
    let at = doc
        .windows(MARK.len())
        .position(|w| w == MARK)
        .ok_or_else(|| KeyError("unexpected PKCS#8 layout".into()))?;
    doc.get(at + 5..at + 37)
        .map(<[u8]>::to_vec)
        .ok_or_else(|| KeyError("unexpected PKCS#8 layout".into()))
}

/// DNSKEY rdata: flags, protocol 3, algorithm, public key.
pub fn dnskey_rdata(flags: u16, algorithm: Algorithm, public: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + public.len());
    v.extend_from_slice(&flags.to_be_bytes());
    v.push(3);
    v.push(algorithm.number());
    v.extend_from_slice(public);
    v
}

/// The key tag of a DNSKEY rdata (RFC 4034 Appendix B; algorithm 1 is not supported
/// for signing, but its tag rule is kept for completeness).
pub fn key_tag(rdata: &[u8]) -> u16 {
    if rdata.len() >= 4 && rdata[3] == 1 {
        let n = rdata.len();
        return if n >= 4 {
            u16::from_be_bytes([rdata[n - 3], rdata[n - 2]])
        } else {
            0
        };
    }
    let mut ac: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 {
            b as u32
        } else {
            (b as u32) << 8
        };
    }
    ac += (ac >> 16) & 0xffff;
    (ac & 0xffff) as u16
}

/// DS digest types (RFC 4509, RFC 6605).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestType {
    Sha256,
    Sha384,
}

impl DigestType {
    pub fn number(self) -> u8 {
        match self {
            DigestType::Sha256 => 2,
            DigestType::Sha384 => 4,
        }
    }
}

/// DS rdata for a DNSKEY rdata at `owner`: digest over the canonical owner name and
/// the DNSKEY rdata (RFC 4034 §5.1.4).
pub fn ds_rdata(owner: &Name, dnskey: &[u8], digest: DigestType) -> Vec<u8> {
    let alg = match digest {
        DigestType::Sha256 => &ring::digest::SHA256,
        DigestType::Sha384 => &ring::digest::SHA384,
    };
    let mut ctx = ring::digest::Context::new(alg);
    ctx.update(&owner.as_wire().to_ascii_lowercase());
    ctx.update(dnskey);
    let d = ctx.finish();
    let mut v = Vec::with_capacity(4 + d.as_ref().len());
    v.extend_from_slice(&key_tag(dnskey).to_be_bytes());
    v.push(dnskey.get(3).copied().unwrap_or(0));
    v.push(digest.number());
    v.extend_from_slice(d.as_ref());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use blason_zone::encoding::base64_decode;

    fn b64(s: &str) -> Vec<u8> {
        let t: String = s.split_whitespace().collect();
        let mut v = Vec::new();
        base64_decode(t.as_bytes(), &mut v).unwrap();
        v
    }

    fn hex(s: &str) -> Vec<u8> {
        let t: String = s.split_whitespace().collect();
        (0..t.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&t[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc4509_ds_example() {
        // RFC 4509 §2.3: dskey.example.com. DNSKEY 256 3 5 ... key id 60485.
        let key = b64("AQOeiiR0GOMYkDshWoSKz9Xz\
             fwJr1AYtsmx3TGkJaNXVbfi/2pHm822aJ5iI9BMzNXxeYCmZDRD99WYwYqUSdjMmmAphXdvx\
             egXd/M5+X7OrzKBaMbCVdFLUUh6DhweJBjEVv5f2wwjM9XzcnOf+EPbtG9DMBmADjFDc2w/r\
             ljwvFw==");
        let rdata = dnskey_rdata(256, Algorithm::RsaSha256, &[]);
        let mut rd = rdata[..3].to_vec();
        rd.push(5);
        rd.extend_from_slice(&key);
        assert_eq!(key_tag(&rd), 60485);
        let owner = Name::parse("dskey.example.com.", None).unwrap();
        let ds = ds_rdata(&owner, &rd, DigestType::Sha256);
        assert_eq!(
            ds,
            [
                vec![0xec, 0x45, 5, 2],
                hex("D4B7D520E7BB5F0F67674A0CCEB1E3E0614B93C4F9E99B8383F6A1E4469DA50A")
            ]
            .concat()
        );
    }

    #[test]
    fn rfc6605_ecdsa_example_tag_and_ds() {
        // RFC 6605 §6.1.
        let public = b64("GojIhhXUN/u4v54ZQqGSnyhWJwaubCvTmeexv7bR6edb\
             krSqQpF64cYbcB7wNcP+e+MAnLr+Wi9xMWyQLc8NAA==");
        let rd = dnskey_rdata(257, Algorithm::EcdsaP256Sha256, &public);
        assert_eq!(key_tag(&rd), 55648);
        let owner = Name::parse("example.net.", None).unwrap();
        assert_eq!(
            ds_rdata(&owner, &rd, DigestType::Sha256)[4..],
            hex("b4c8c1fe2e7477127b27115656ad6256f424625bf5c1e2770ce6d6e37df61d17")[..]
        );
        let private = b64("GU6SnQ/Ou+xC5RumuIUIuJZteXT2z0O/ok1s38Et6mQ=");
        let k = Key::from_scalar(Algorithm::EcdsaP256Sha256, 257, &private, &public, None).unwrap();
        assert_eq!(k.tag, 55648);
        assert_eq!(format!("{:?}", k.private), "PrivateKey(..)");
    }

    #[test]
    fn rfc8080_ed25519_example() {
        // RFC 8080 §6.1: private key ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=.
        let seed = b64("ODIyNjAzODQ2MjgwODAxMjI2NDUxOTAyMDQxNDIyNjI=");
        let public = b64("l02Woi0iS8Aa25FQkUd9RMzZHJpBoRQwAQEX1SxZJA4=");
        let k = Key::from_scalar(Algorithm::Ed25519, 257, &seed, &public, None).unwrap();
        assert_eq!(k.tag, 3613);
        let owner = Name::parse("example.com.", None).unwrap();
        assert_eq!(
            k.ds(&owner, DigestType::Sha256)[4..],
            hex("3aa5ab37efce57f737fc1627013fee07bdf241bd10f3b1964ab55c78e79a304b")[..]
        );
    }

    #[test]
    fn generated_keys_sign_and_verify() {
        for alg in [
            Algorithm::EcdsaP256Sha256,
            Algorithm::Ed25519,
            Algorithm::RsaSha256,
        ] {
            let k = Key::generate(alg, 257, 2048).unwrap();
            assert_eq!(k.tag, key_tag(&k.dnskey()));
            let mut sig = Vec::new();
            k.sign_into(&SystemRandom::new(), b"hello", &mut sig)
                .unwrap();
            let (valg, pk): (&dyn signature::VerificationAlgorithm, Vec<u8>) = match alg {
                Algorithm::EcdsaP256Sha256 => (
                    &signature::ECDSA_P256_SHA256_FIXED,
                    [&[4u8][..], &k.public].concat(),
                ),
                Algorithm::Ed25519 => (&signature::ED25519, k.public.clone()),
                Algorithm::RsaSha256 => {
                    let el = k.public[0] as usize;
                    let e = &k.public[1..1 + el];
                    let n = &k.public[1 + el..];
                    signature::RsaPublicKeyComponents { n, e }
                        .verify(&signature::RSA_PKCS1_2048_8192_SHA256, b"hello", &sig)
                        .unwrap();
                    continue;
                }
            };
            signature::UnparsedPublicKey::new(valg, pk)
                .verify(b"hello", &sig)
                .unwrap();
        }
    }
}
