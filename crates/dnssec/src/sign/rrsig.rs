//! RRSIG generation for one RRset (RFC 4034 §3, §6).

use super::SignError;
use crate::keys::Key;
use blason_zone::model::RRset;
use blason_zone::rdata::walk;
use blason_zone::{Name, Rtype};
use ring::rand::SystemRandom;

/// Signature times, in seconds since the epoch (RFC 4034 §3.1.5 serial arithmetic
/// lets them wrap in 2106).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub inception: u32,
    pub expiration: u32,
    /// Expirations are spread over `expiration - jitter ..= expiration`, by a hash of
    /// owner and type, so that signatures do not all come due at once.
    pub jitter: u32,
}

impl Validity {
    /// The expiration for one RRset: deterministic, so re-signing the same zone at the
    /// same time gives the same signatures' times.
    pub fn expiration_for(&self, owner_lc: &[u8], rtype: Rtype) -> u32 {
        if self.jitter == 0 {
            return self.expiration;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ rtype.0 as u64;
        for &b in owner_lc {
            h = (h ^ b as u64).wrapping_mul(0x100_0000_01b3);
        }
        self.expiration
            .wrapping_sub((h % (self.jitter as u64 + 1)) as u32)
    }
}

/// Types whose rdata names are lower-cased in canonical form: RFC 4034 §6.2 as
/// amended by RFC 6840 §5.1 (NSEC removed). Other types' names keep their case.
pub fn lowercases_rdata_names(t: Rtype) -> bool {
    matches!(
        t.0,
        2 | 3
            | 4
            | 5
            | 6
            | 7
            | 8
            | 9
            | 12
            | 14
            | 15
            | 17
            | 18
            | 21
            | 24
            | 26
            | 30
            | 33
            | 35
            | 36
            | 38
            | 39
            | 46
    )
}

/// Appends the canonical form of `rdata` (RFC 4034 §6.2) to `out`.
pub fn canonical_rdata_into(t: Rtype, rdata: &[u8], out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(rdata);
    if lowercases_rdata_names(t) {
        let buf = &mut out[start..];
        let _ = walk(t, rdata, &mut |p, n| buf[p..p + n].make_ascii_lowercase());
    }
}

/// Number of labels of `owner` for the RRSIG Labels field: the root label and a
/// leading `*` are not counted (RFC 4034 §3.1.3).
pub fn rrsig_labels(owner: &Name) -> u8 {
    let n = owner.label_count();
    (if owner.is_wildcard() { n - 1 } else { n }) as u8
}

/// Reusable buffers for signing RRsets; one per thread.
pub struct RrsigContext {
    rng: SystemRandom,
    msg: Vec<u8>,
    canon: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Default for RrsigContext {
    fn default() -> Self {
        RrsigContext::new()
    }
}

/// What does not change between the RRsets of one owner.
pub struct OwnerForm<'a> {
    /// The owner in lower case, wire form.
    pub owner_lc: &'a [u8],
    /// RRSIG Labels field.
    pub labels: u8,
    pub class: u16,
}

impl RrsigContext {
    pub fn new() -> RrsigContext {
        RrsigContext {
            rng: SystemRandom::new(),
            msg: Vec::with_capacity(1024),
            canon: Vec::with_capacity(1024),
            spans: Vec::new(),
        }
    }

    /// Signs `rrset` of `owner` with `key`, for a zone whose apex is `signer_lc` (lower
    /// case wire). Returns the RRSIG rdata.
    pub fn sign(
        &mut self,
        owner: &OwnerForm,
        rrset: &RRset,
        key: &Key,
        signer_lc: &[u8],
        validity: &Validity,
    ) -> Result<Vec<u8>, SignError> {
        let expiration = validity.expiration_for(owner.owner_lc, rrset.rtype);
        // RRSIG rdata without the signature (RFC 4034 §3.1.8.1).
        let msg = &mut self.msg;
        msg.clear();
        msg.extend_from_slice(&rrset.rtype.0.to_be_bytes());
        msg.push(key.algorithm.number());
        msg.push(owner.labels);
        msg.extend_from_slice(&rrset.ttl.to_be_bytes());
        msg.extend_from_slice(&expiration.to_be_bytes());
        msg.extend_from_slice(&validity.inception.to_be_bytes());
        msg.extend_from_slice(&key.tag.to_be_bytes());
        msg.extend_from_slice(signer_lc);
        let prefix_len = msg.len();

        // RR header shared by every record: owner, type, class, original TTL.
        let mut head = [0u8; 8];
        head[..2].copy_from_slice(&rrset.rtype.0.to_be_bytes());
        head[2..4].copy_from_slice(&owner.class.to_be_bytes());
        head[4..8].copy_from_slice(&rrset.ttl.to_be_bytes());

        let mut rdatas = rrset.rdatas();
        let single = rrset.rdatas().nth(1).is_none();
        if single && !lowercases_rdata_names(rrset.rtype) {
            // The common case: one record with no names to fold.
            if let Some(rd) = rdatas.next() {
                push_rr(msg, owner.owner_lc, &head, rd);
            }
        } else {
            // Canonical forms, sorted by octets, duplicates dropped (RFC 4034 §6.3).
            self.canon.clear();
            self.spans.clear();
            for rd in rdatas {
                let s = self.canon.len();
                canonical_rdata_into(rrset.rtype, rd, &mut self.canon);
                self.spans.push((s as u32, self.canon.len() as u32));
            }
            let canon = &self.canon;
            let span = |&(a, b): &(u32, u32)| &canon[a as usize..b as usize];
            self.spans.sort_unstable_by(|x, y| span(x).cmp(span(y)));
            self.spans.dedup_by(|x, y| span(x) == span(y));
            for s in &self.spans {
                push_rr(msg, owner.owner_lc, &head, span(s));
            }
        }
        let mut out = Vec::with_capacity(prefix_len + key.algorithm.max_signature_len().min(256));
        out.extend_from_slice(&msg[..prefix_len]);
        key.sign_into(&self.rng, msg, &mut out)
            .map_err(|e| SignError(e.0))?;
        Ok(out)
    }
}

#[inline]
fn push_rr(msg: &mut Vec<u8>, owner_lc: &[u8], head: &[u8; 8], rd: &[u8]) {
    msg.extend_from_slice(owner_lc);
    msg.extend_from_slice(head);
    msg.extend_from_slice(&(rd.len() as u16).to_be_bytes());
    msg.extend_from_slice(rd);
}
