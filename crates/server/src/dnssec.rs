//! Signing a zone inside the server, between the checks and the swap.
//!
//! Design note. A zone configured with `dnssec = true` (or a policy table) carries a
//! [`ZoneDnssec`]: its validated [`Policy`] and the folder of its keys,
//! `<state>/<zone>/keys/`, holding BIND `K<zone>+<alg>+<tag>.key/.private` files (so
//! keys imported from BIND keep the DS at the registrar). At every load and reload the
//! freshly read and checked zone is signed as a whole with the keys found there; when
//! the folder holds none, one key set per the policy (one CSK by default) is generated
//! and written first (`.private` 0600, each file atomic), and its DS is logged once, for
//! the registrar. Signing failure refuses the load, so the old signed snapshot keeps
//! serving: unsigned data is never swapped in for a signed zone.
//!
//! The clock is read by the caller ([`crate::zones`]) and passed in: inception is
//! `now - signature-inception-offset`, expiration `now + signature-validity`, spread by
//! the policy's jitter. Until the incremental re-signer and the key-roll executor land,
//! freshness comes from [`ZoneDnssec::due`]: once the earliest signature made by the last
//! pass is within `signature-refresh` of expiring, the control loop's poll reloads (and
//! so re-signs) the zone. That is a whole-zone pass, at most once per refresh period.
//!
//! Refuses: key formats, chains and signatures (crate `dnssec`); rollovers (the planner
//! in `dnssec::roll`, not yet carried out here).
#![forbid(unsafe_code)]

use crate::log;
use blason_dnssec::keys::{
    read_bind_dir, write_bind, Algorithm, DigestType, Key, FLAG_SEP, FLAG_ZONE,
};
use blason_dnssec::policy::{self, KeyScheme, Policy};
use blason_dnssec::sign::{sign_zone, Denial, Nsec3Params, SignOptions, Validity, ZoneKeys};
use blason_dnssec::state::zone_dir_name;
use blason_zone::encoding::hex_encode;
use blason_zone::{Name, Zone};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The folder of a zone's keys under the state folder: `<state>/<zone>/keys`.
pub fn key_dir(state: &Path, origin: &Name) -> PathBuf {
    state
        .join(zone_dir_name(&origin.to_lowercase().to_string()))
        .join("keys")
}

/// A zone's DNSSEC settings, shared by every load of the zone.
#[derive(Debug)]
pub struct ZoneDnssec {
    pub policy: Policy,
    pub key_dir: PathBuf,
    /// Earliest RRSIG expiration of the last signing pass (unix seconds; 0 = never signed).
    earliest_expiry: AtomicU64,
}

impl ZoneDnssec {
    pub fn new(policy: Policy, key_dir: PathBuf) -> ZoneDnssec {
        ZoneDnssec {
            policy,
            key_dir,
            earliest_expiry: AtomicU64::new(0),
        }
    }

    /// True when the last pass's earliest signature is due for refresh at `now`.
    pub fn due(&self, now: u64) -> bool {
        let e = self.earliest_expiry.load(Ordering::Relaxed);
        e != 0 && self.policy.needs_refresh(e, now)
    }

    /// The zone's keys, generating and storing a set per the policy when there is none.
    pub fn keys(&self, origin: &Name, now: u64) -> Result<Vec<Key>, String> {
        if self.key_dir.is_dir() {
            let keys = read_bind_dir(origin, &self.key_dir).map_err(|e| e.to_string())?;
            if !keys.is_empty() {
                return Ok(keys);
            }
        }
        let keys = generate(&self.policy, now)?;
        for k in &keys {
            let files = write_bind(origin, k, &self.key_dir).map_err(|e| e.to_string())?;
            log::info(
                "dnssec key generated",
                &[
                    ("zone", origin),
                    ("tag", &k.tag),
                    ("algorithm", &k.algorithm),
                    ("role", &role(k, &keys)),
                    ("file", &files.key.display()),
                ],
            );
        }
        for k in keys.iter().filter(|k| k.is_sep()) {
            log::info(
                "give this DS to the parent zone (registrar)",
                &[("ds", &ds_text(origin, k, DigestType::Sha256))],
            );
        }
        Ok(keys)
    }

    /// Signs `zone` at `now` with the zone's keys.
    pub fn sign(&self, zone: &Zone, now: u64) -> Result<Zone, String> {
        let keys = self.keys(zone.origin(), now)?;
        let opts = sign_options(&self.policy, now);
        let signed =
            sign_zone(zone, &ZoneKeys::by_flags(&keys), &opts).map_err(|e| e.to_string())?;
        self.earliest_expiry
            .store(earliest_expiry(&self.policy, now), Ordering::Relaxed);
        log::info(
            "zone signed",
            &[
                ("zone", zone.origin()),
                ("keys", &keys.len()),
                ("rrsigs", &signed.stats.rrsigs),
                ("nsec", &signed.stats.nsec),
                ("nsec3", &signed.stats.nsec3),
            ],
        );
        Ok(signed.zone)
    }
}

/// A fresh key set for `policy`: one CSK, or a KSK and a ZSK.
pub fn generate(policy: &Policy, now: u64) -> Result<Vec<Key>, String> {
    let alg = Algorithm::from_number(policy.algorithm.0)
        .ok_or_else(|| format!("cannot make keys of {}", policy.algorithm))?;
    let flags: &[u16] = match policy.scheme {
        KeyScheme::Csk => &[FLAG_ZONE | FLAG_SEP],
        KeyScheme::KskZsk => &[FLAG_ZONE | FLAG_SEP, FLAG_ZONE],
    };
    flags
        .iter()
        .map(|&f| {
            let mut k =
                Key::generate(alg, f, usize::from(policy.rsa_bits)).map_err(|e| e.to_string())?;
            k.created = Some(now);
            Ok(k)
        })
        .collect()
}

/// The signing options `policy` gives at `now`.
pub fn sign_options(policy: &Policy, now: u64) -> SignOptions {
    let inception = now.saturating_sub(policy.signature_inception_offset);
    let expiration = now.saturating_add(policy.signature_validity);
    let denial = match policy.denial {
        policy::Denial::Nsec => Denial::Nsec,
        policy::Denial::Nsec3 { opt_out } => Denial::Nsec3(Nsec3Params {
            opt_out,
            ..Nsec3Params::default()
        }),
    };
    let mut o = SignOptions::new(
        denial,
        Validity {
            inception: inception as u32,
            expiration: expiration as u32,
            jitter: policy.signature_jitter.min(policy.signature_validity) as u32,
        },
    );
    o.dnskey_ttl = Some(policy.dnskey_ttl);
    o
}

/// The earliest RRSIG expiration a pass at `now` produces (jitter only takes time off).
pub fn earliest_expiry(policy: &Policy, now: u64) -> u64 {
    let o = sign_options(policy, now);
    u64::from(o.validity.expiration.saturating_sub(o.validity.jitter))
}

/// "CSK", "KSK" or "ZSK", as [`ZoneKeys::by_flags`] would use `k` among `all`.
pub fn role(k: &Key, all: &[Key]) -> &'static str {
    let mixed = all.iter().any(|x| x.is_sep()) && all.iter().any(|x| !x.is_sep());
    match (mixed, k.is_sep()) {
        (false, _) => "CSK",
        (true, true) => "KSK",
        (true, false) => "ZSK",
    }
}

/// `owner IN DS tag alg digest-type DIGEST`, as a registrar asks for it.
pub fn ds_text(origin: &Name, k: &Key, digest: DigestType) -> String {
    let ds = k.ds(origin, digest);
    let mut h = String::new();
    hex_encode(&ds[4..], &mut h);
    format!(
        "{} IN DS {} {} {} {}",
        origin.to_lowercase(),
        k.tag,
        k.algorithm.number(),
        digest.number(),
        h.to_ascii_uppercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_made_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("blason-srv-dnssec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let origin = Name::parse("auto.test.", None).unwrap();
        let d = ZoneDnssec::new(Policy::default(), key_dir(&dir, &origin));
        let a = d.keys(&origin, 1_700_000_000).unwrap();
        let b = d.keys(&origin, 1_700_000_100).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(role(&a[0], &a), "CSK");
        assert_eq!(a[0].tag, b[0].tag);
        assert_eq!(a[0].public, b[0].public);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let private = std::fs::read_dir(&d.key_dir)
                .unwrap()
                .map(|e| e.unwrap().path())
                .find(|p| p.extension().is_some_and(|x| x == "private"))
                .unwrap();
            let mode = std::fs::metadata(private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn validity_follows_the_policy() {
        let p = Policy::default();
        let now = 1_700_000_000;
        let o = sign_options(&p, now);
        assert_eq!(u64::from(o.validity.inception), now - 3600);
        assert_eq!(u64::from(o.validity.expiration), now + 14 * 86400);
        let d = ZoneDnssec::new(p, PathBuf::from("/nonexistent"));
        assert!(!d.due(now));
        d.earliest_expiry
            .store(earliest_expiry(&d.policy, now), Ordering::Relaxed);
        assert!(!d.due(now + 86400));
        assert!(d.due(now + 13 * 86400));
    }
}
