//! NSEC and NSEC3 records (RFC 4034 §4, RFC 5155) for one name.

use blason_zone::model::{flags, Node};
use blason_zone::rdata::write_bitmap;
use blason_zone::{Name, Rtype};

/// NSEC3 parameters. The default is RFC 9276's: SHA-1, no extra iterations, no salt,
/// no opt-out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Nsec3Params {
    pub iterations: u16,
    pub salt: Vec<u8>,
    /// Leave insecure delegations out of the chain (RFC 5155 §6).
    pub opt_out: bool,
}

impl Nsec3Params {
    /// NSEC3PARAM rdata (flags are always 0 there, RFC 5155 §4.1.2).
    pub fn nsec3param_rdata(&self) -> Vec<u8> {
        let mut v = vec![1, 0];
        v.extend_from_slice(&self.iterations.to_be_bytes());
        v.push(self.salt.len() as u8);
        v.extend_from_slice(&self.salt);
        v
    }
}

/// The NSEC3 hash of a name (RFC 5155 §5): SHA-1 over the lower-cased wire name and
/// the salt, then `iterations` more times over the digest and the salt.
pub fn nsec3_hash(name: &[u8], salt: &[u8], iterations: u16) -> [u8; 20] {
    use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY as SHA1};
    let mut lc = [0u8; 255];
    let n = name.len().min(255);
    lc[..n].copy_from_slice(&name[..n]);
    lc[..n].make_ascii_lowercase();
    let mut ctx = Context::new(&SHA1);
    ctx.update(&lc[..n]);
    ctx.update(salt);
    let mut h = [0u8; 20];
    h.copy_from_slice(ctx.finish().as_ref());
    for _ in 0..iterations {
        let mut ctx = Context::new(&SHA1);
        ctx.update(&h);
        ctx.update(salt);
        h.copy_from_slice(ctx.finish().as_ref());
    }
    h
}

/// The owner of an NSEC3 record: the Base32hex hash (lower case) under the apex.
pub fn nsec3_owner(hash: &[u8], apex: &Name) -> Name {
    let mut text = String::with_capacity(32);
    blason_zone::encoding::base32hex_encode(hash, &mut text);
    let mut wire = Vec::with_capacity(1 + text.len() + apex.wire_len());
    wire.push(text.len() as u8);
    wire.extend(text.bytes().map(|b| b.to_ascii_lowercase()));
    wire.extend_from_slice(&apex.as_wire().to_ascii_lowercase());
    Name::from_wire(&wire).expect("hash label under a valid apex")
}

/// The types a node proves to exist, before NSEC/NSEC3/RRSIG are added: at a
/// delegation only NS and DS (RFC 4034 §4.1.2); elsewhere every RRset except the
/// denial records and signatures, which the caller accounts for.
pub fn node_types(node: &Node, out: &mut Vec<u16>) {
    out.clear();
    let cut = node.has(flags::DELEGATION);
    for r in node.rrsets.iter() {
        let t = r.rtype;
        if matches!(t, Rtype::RRSIG | Rtype::NSEC | Rtype::NSEC3) {
            continue;
        }
        if cut && !matches!(t, Rtype::NS | Rtype::DS) {
            continue;
        }
        out.push(t.0);
    }
}

/// True if the node has RRsets that get signatures: anything authoritative, at a
/// delegation only DS.
pub fn has_signed_rrsets(node: &Node) -> bool {
    if !node.is_authoritative() || node.has(flags::ENT) {
        return false;
    }
    if node.has(flags::DELEGATION) {
        return node.rrset(Rtype::DS).is_some();
    }
    node.rrsets
        .iter()
        .any(|r| !matches!(r.rtype, Rtype::RRSIG | Rtype::NSEC3))
}

/// NSEC rdata: next owner (lower case, RFC 6840 §5.1 keeps it as written, and
/// lower case is what validators expect) and the bitmap of `types` plus NSEC and RRSIG.
pub fn nsec_rdata(next: &Name, types: &mut Vec<u16>) -> Vec<u8> {
    types.push(Rtype::NSEC.0);
    types.push(Rtype::RRSIG.0);
    let mut v = Vec::with_capacity(next.wire_len() + 16);
    v.extend_from_slice(&next.as_wire().to_ascii_lowercase());
    write_bitmap(types, &mut v);
    v
}

/// NSEC3 rdata: SHA-1, flags (opt-out), iterations, salt, next hashed owner, bitmap.
pub fn nsec3_rdata(params: &Nsec3Params, next_hash: &[u8], types: &mut Vec<u16>) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + params.salt.len() + next_hash.len());
    v.push(1);
    v.push(params.opt_out as u8);
    v.extend_from_slice(&params.iterations.to_be_bytes());
    v.push(params.salt.len() as u8);
    v.extend_from_slice(&params.salt);
    v.push(next_hash.len() as u8);
    v.extend_from_slice(next_hash);
    write_bitmap(types, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b32(h: &[u8]) -> String {
        let mut s = String::new();
        blason_zone::encoding::base32hex_encode(h, &mut s);
        s.to_ascii_lowercase()
    }

    #[test]
    fn rfc5155_appendix_a_hashes() {
        // RFC 5155 Appendix A: salt aabbccdd, 12 iterations.
        let salt = [0xaa, 0xbb, 0xcc, 0xdd];
        for (name, hash) in [
            ("example.", "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"),
            ("a.example.", "35mthgpgcu1qg68fab165klnsnk3dpvl"),
            ("ai.example.", "gjeqe526plbf1g8mklp59enfd789njgi"),
            ("ns1.example.", "2t7b4g4vsa5smi47k61mv5bv1a22bojr"),
            ("ns2.example.", "q04jkcevqvmu85r014c7dkba38o0ji5r"),
            ("w.example.", "k8udemvp1j2f7eg6jebps17vp3n8i58h"),
            ("*.w.example.", "r53bq7cc2uvmubfu5ocmm6pers9tk9en"),
            ("x.w.example.", "b4um86eghhds6nea196smvmlo4ors995"),
            ("y.w.example.", "ji6neoaepv8b5o6k4ev33abha8ht9fgc"),
            ("x.y.w.example.", "2vptu5timamqttgl4luu9kg21e0aor3s"),
            ("xx.example.", "t644ebqk9bibcna874givr6joj62mlhv"),
            (
                "2t7b4g4vsa5smi47k61mv5bv1a22bojr.example.",
                "kohar7mbb8dc2ce8a9qvl8hon4k53uhi",
            ),
        ] {
            let n = Name::parse(name, None).unwrap();
            assert_eq!(b32(&nsec3_hash(n.as_wire(), &salt, 12)), hash, "{name}");
        }
    }

    #[test]
    fn rfc9276_defaults_hash_once() {
        let n = Name::parse("Example.", None).unwrap();
        let p = Nsec3Params::default();
        assert_eq!(p.nsec3param_rdata(), [1, 0, 0, 0, 0]);
        let mut types = vec![];
        let rd = nsec3_rdata(&p, &[7; 20], &mut types);
        assert_eq!(&rd[..6], &[1, 0, 0, 0, 0, 20]);
        let h = nsec3_hash(n.as_wire(), &[], 0);
        assert_eq!(h, nsec3_hash(b"\x07example\x00", &[], 0));
    }
}
