//! Per-zone DNSSEC policy: what to sign with, how long signatures live, how often keys
//! roll, and the TTLs and delays (RFC 7583 §3) that every rollover step waits for.
//!
//! [`PolicyConfig`] is what the operator writes (TOML, kebab-case); [`Policy`] is the
//! validated, typed result. A zone that says just `dnssec = true` gets
//! [`Policy::default`].

use crate::roll::{Alg, Role};
use serde::Deserialize;
use std::fmt;

/// Seconds. Durations are whole seconds because every DNS timer is.
pub type Secs = u64;

pub const MINUTE: Secs = 60;
pub const HOUR: Secs = 3600;
pub const DAY: Secs = 86400;

/// One CSK, or a KSK for the DNSKEY RRset plus a ZSK for the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KeyScheme {
    #[default]
    Csk,
    KskZsk,
}

impl KeyScheme {
    /// The roles a complete key set under this scheme holds.
    pub fn roles(self) -> &'static [Role] {
        match self {
            KeyScheme::Csk => &[Role::Csk],
            KeyScheme::KskZsk => &[Role::Ksk, Role::Zsk],
        }
    }
}

/// Authenticated denial of existence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Denial {
    #[default]
    Nsec,
    /// RFC 9276: no extra iterations and an empty salt, always; only opt-out is a choice.
    Nsec3 { opt_out: bool },
}

/// The validated policy the planner and the signer read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// False turns a signed zone insecure, safely (CDS delete first, keys last).
    pub enabled: bool,
    pub algorithm: Alg,
    /// RSA modulus length; ignored for the elliptic-curve algorithms.
    pub rsa_bits: u16,
    pub scheme: KeyScheme,
    pub denial: Denial,
    pub signature_validity: Secs,
    /// Re-sign an RRset once less than this is left before its RRSIG expires.
    pub signature_refresh: Secs,
    /// Up to this much is taken off each expiry, by a hash of the RRset, so that
    /// signatures made together do not all come due together.
    pub signature_jitter: Secs,
    /// Inception is backdated by this, for validators whose clocks run slow.
    pub signature_inception_offset: Secs,
    /// 0 = never roll by age.
    pub zsk_lifetime: Secs,
    /// The KSK's or the CSK's lifetime; 0 = never roll by age.
    pub ksk_lifetime: Secs,
    pub dnskey_ttl: u32,
    /// The largest TTL in the zone, SOA minimum (negative TTL) included.
    pub zone_max_ttl: u32,
    /// The DS TTL the parent uses.
    pub ds_ttl: u32,
    /// Time for a change to reach every secondary of the zone.
    pub propagation_delay: Secs,
    pub publish_safety: Secs,
    pub retire_safety: Secs,
    /// Time for a DS change, once seen at one parent server, to reach all of them.
    pub parent_propagation_delay: Secs,
    /// How long the parent usually takes to act on a CDS; past it we warn, never skip.
    pub registrar_delay: Secs,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            algorithm: Alg::ECDSAP256SHA256,
            rsa_bits: 2048,
            scheme: KeyScheme::Csk,
            denial: Denial::Nsec,
            signature_validity: 14 * DAY,
            signature_refresh: 5 * DAY,
            signature_jitter: 12 * HOUR,
            signature_inception_offset: HOUR,
            zsk_lifetime: 90 * DAY,
            // A KSK/CSK roll needs the parent's DS to change, so by default only on request.
            ksk_lifetime: 0,
            dnskey_ttl: 3600,
            zone_max_ttl: 86400,
            ds_ttl: 86400,
            propagation_delay: 5 * MINUTE,
            publish_safety: HOUR,
            retire_safety: HOUR,
            parent_propagation_delay: HOUR,
            registrar_delay: DAY,
        }
    }
}

impl Policy {
    /// RFC 7583 Ipub for the DNSKEY RRset: until every cache holds the new version.
    pub fn dnskey_publish_interval(&self) -> Secs {
        self.propagation_delay + Secs::from(self.dnskey_ttl) + self.publish_safety
    }
    pub fn dnskey_retire_interval(&self) -> Secs {
        self.propagation_delay + Secs::from(self.dnskey_ttl) + self.retire_safety
    }
    /// Until every cached zone RRset carries the new signatures.
    pub fn zone_publish_interval(&self) -> Secs {
        self.propagation_delay + Secs::from(self.zone_max_ttl) + self.publish_safety
    }
    pub fn zone_retire_interval(&self) -> Secs {
        self.propagation_delay + Secs::from(self.zone_max_ttl) + self.retire_safety
    }
    /// Counted from the moment the parent is seen to have changed the DS RRset.
    pub fn ds_publish_interval(&self) -> Secs {
        self.parent_propagation_delay + Secs::from(self.ds_ttl) + self.publish_safety
    }
    pub fn ds_retire_interval(&self) -> Secs {
        self.parent_propagation_delay + Secs::from(self.ds_ttl) + self.retire_safety
    }

    pub fn lifetime(&self, role: Role) -> Secs {
        match role {
            Role::Zsk => self.zsk_lifetime,
            Role::Ksk | Role::Csk => self.ksk_lifetime,
        }
    }

    /// Key size to generate for `alg` (None for fixed-size algorithms).
    pub fn bits(&self) -> Option<u16> {
        (self.algorithm == Alg::RSASHA256).then_some(self.rsa_bits)
    }

    /// Deterministic jitter in `[0, signature_jitter)` for an RRset identified by `seed`
    /// (e.g. a hash of owner and type), so the same RRset gets the same expiry on every
    /// run and different RRsets spread out.
    pub fn jitter(&self, seed: u64) -> Secs {
        if self.signature_jitter == 0 {
            return 0;
        }
        splitmix64(seed) % self.signature_jitter
    }

    /// RRSIG inception and expiration for a signature made at `now`.
    pub fn signature_window(&self, now: u64, seed: u64) -> (u64, u64) {
        let inception = now.saturating_sub(self.signature_inception_offset);
        let expiration = now + self.signature_validity - self.jitter(seed);
        (inception, expiration)
    }

    /// True when a signature expiring at `expiration` should be replaced at `now`.
    pub fn needs_refresh(&self, expiration: u64, now: u64) -> bool {
        expiration.saturating_sub(now) < self.signature_refresh
    }

    /// Checks the relations between the numbers, each failure naming the knobs involved.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let err = |s: String| Err(PolicyError(s));
        if !matches!(
            self.algorithm,
            Alg::RSASHA256 | Alg::ECDSAP256SHA256 | Alg::ED25519
        ) {
            return err(format!(
                "algorithm {} is not offered; use 13 (ECDSAP256SHA256), 15 (ED25519) or 8 (RSASHA256)",
                self.algorithm.0
            ));
        }
        if self.algorithm == Alg::RSASHA256 && !(2048..=4096).contains(&self.rsa_bits) {
            return err(format!(
                "bits = {}: RSASHA256 keys must be 2048 to 4096 bits (RFC 8624 §3.1 and common practice)",
                self.rsa_bits
            ));
        }
        if self.signature_validity < DAY {
            return err(format!(
                "signature-validity = {}: at least 1d, so a stalled signer does not take the zone dark within hours",
                show(self.signature_validity)
            ));
        }
        if self.signature_refresh + self.signature_jitter >= self.signature_validity {
            return err(format!(
                "signature-refresh ({}) plus signature-jitter ({}) must be below signature-validity ({})",
                show(self.signature_refresh),
                show(self.signature_jitter),
                show(self.signature_validity)
            ));
        }
        // A signature replaced at refresh time may stay cached for max TTL + propagation;
        // it must not expire inside a cache.
        let cached = Secs::from(self.zone_max_ttl.max(self.dnskey_ttl)) + self.propagation_delay;
        if self.signature_refresh <= cached {
            return err(format!(
                "signature-refresh ({}) must exceed the largest TTL plus propagation-delay ({}), or a replaced signature could expire while cached",
                show(self.signature_refresh),
                show(cached)
            ));
        }
        for (name, ttl) in [
            ("dnskey-ttl", self.dnskey_ttl),
            ("zone-max-ttl", self.zone_max_ttl),
            ("ds-ttl", self.ds_ttl),
        ] {
            if ttl == 0 {
                return err(format!("{name} must be above 0"));
            }
            if ttl > 7 * 86400 {
                return err(format!(
                    "{name} = {ttl}: more than a week makes every roll step wait that long"
                ));
            }
        }
        // A key must outlive its own roll, or it would be rolling forever.
        let roll = self.dnskey_publish_interval()
            + self.zone_publish_interval()
            + self.dnskey_retire_interval()
            + self.zone_retire_interval();
        for (name, life) in [
            ("zsk-lifetime", self.zsk_lifetime),
            ("ksk-lifetime", self.ksk_lifetime),
        ] {
            if life != 0 && life < 2 * roll {
                return err(format!(
                    "{name} = {}: at least twice a roll's length ({}) computed from the TTLs and delays, or use 0 for unlimited",
                    show(life),
                    show(2 * roll)
                ));
            }
        }
        Ok(())
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Prints seconds the way the config accepts them (`14d`, `1h30m`).
pub fn show(mut s: Secs) -> String {
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, n) in [
        ("w", 7 * DAY),
        ("d", DAY),
        ("h", HOUR),
        ("m", MINUTE),
        ("s", 1),
    ] {
        if s >= n {
            out += &format!("{}{unit}", s / n);
            s %= n;
        }
    }
    out
}

/// Parses `90`, `90s`, `5m`, `12h`, `14d`, `2w` or combinations such as `1d12h`.
pub fn parse_duration(text: &str) -> Result<Secs, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = t.parse::<Secs>() {
        return Ok(n);
    }
    let mut total: Secs = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => MINUTE,
            'h' => HOUR,
            'd' => DAY,
            'w' => 7 * DAY,
            _ => {
                return Err(format!(
                    "{text:?}: unknown unit {c:?} (use s, m, h, d or w)"
                ))
            }
        };
        let n: Secs = num
            .parse()
            .map_err(|_| format!("{text:?}: a number must come before {c:?}"))?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?}: too large"))?;
        num.clear();
    }
    if !num.is_empty() {
        return Err(format!("{text:?}: a unit must follow {num} (e.g. {num}s)"));
    }
    Ok(total)
}

/// A policy setting that failed validation; the text names the setting and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dnssec policy: {}", self.0)
    }
}
impl std::error::Error for PolicyError {}

/// A duration as written: seconds as a number, or text with units.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DurationSpec {
    Seconds(u64),
    Text(String),
}

impl DurationSpec {
    fn secs(&self, name: &str) -> Result<Secs, PolicyError> {
        match self {
            DurationSpec::Seconds(n) => Ok(*n),
            DurationSpec::Text(t) => {
                parse_duration(t).map_err(|e| PolicyError(format!("{name}: {e}")))
            }
        }
    }
}

/// An algorithm as written: its number or its name.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum AlgSpec {
    Number(u8),
    Name(String),
}

/// The zone's `dnssec` setting: `dnssec = true`, or a table of overrides.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum DnssecSetting {
    Enabled(bool),
    Policy(Box<PolicyConfig>),
}

impl DnssecSetting {
    /// `None` when the zone never asked for DNSSEC; a disabled policy when it says
    /// `false` (the planner then takes a signed zone insecure safely).
    pub fn policy(&self) -> Result<Policy, PolicyError> {
        match self {
            DnssecSetting::Enabled(on) => {
                let p = Policy {
                    enabled: *on,
                    ..Policy::default()
                };
                p.validate()?;
                Ok(p)
            }
            DnssecSetting::Policy(c) => c.to_policy(),
        }
    }
}

/// The policy as the operator writes it; every field is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyConfig {
    pub enabled: Option<bool>,
    pub algorithm: Option<AlgSpec>,
    pub bits: Option<u16>,
    /// `"csk"` or `"ksk+zsk"`.
    pub keys: Option<String>,
    /// `"nsec"` or `"nsec3"`.
    pub denial: Option<String>,
    pub nsec3_opt_out: Option<bool>,
    pub nsec3_iterations: Option<u16>,
    pub nsec3_salt: Option<String>,
    pub signature_validity: Option<DurationSpec>,
    pub signature_refresh: Option<DurationSpec>,
    pub signature_jitter: Option<DurationSpec>,
    pub signature_inception_offset: Option<DurationSpec>,
    pub zsk_lifetime: Option<DurationSpec>,
    pub ksk_lifetime: Option<DurationSpec>,
    /// Another name for ksk-lifetime, for CSK zones.
    pub csk_lifetime: Option<DurationSpec>,
    pub dnskey_ttl: Option<u32>,
    pub zone_max_ttl: Option<u32>,
    pub ds_ttl: Option<u32>,
    pub propagation_delay: Option<DurationSpec>,
    pub publish_safety: Option<DurationSpec>,
    pub retire_safety: Option<DurationSpec>,
    pub parent_propagation_delay: Option<DurationSpec>,
    pub registrar_delay: Option<DurationSpec>,
}

impl PolicyConfig {
    /// Parses a TOML table holding just the policy.
    pub fn from_toml(text: &str) -> Result<Policy, PolicyError> {
        let c: PolicyConfig =
            toml::from_str(text).map_err(|e| PolicyError(e.to_string().trim().to_string()))?;
        c.to_policy()
    }

    pub fn to_policy(&self) -> Result<Policy, PolicyError> {
        let mut p = Policy::default();
        if let Some(e) = self.enabled {
            p.enabled = e;
        }
        if let Some(a) = &self.algorithm {
            p.algorithm = parse_alg(a)?;
        }
        if let Some(b) = self.bits {
            if p.algorithm != Alg::RSASHA256 {
                return Err(PolicyError(format!(
                    "bits = {b} only applies to algorithm 8 (RSASHA256); the key size of {} is fixed",
                    p.algorithm
                )));
            }
            p.rsa_bits = b;
        }
        if let Some(k) = &self.keys {
            p.scheme = match k.to_ascii_lowercase().replace(' ', "").as_str() {
                "csk" => KeyScheme::Csk,
                "ksk+zsk" | "kskzsk" | "ksk-zsk" | "split" => KeyScheme::KskZsk,
                _ => {
                    return Err(PolicyError(format!(
                        "keys = {k:?}: use \"csk\" or \"ksk+zsk\""
                    )))
                }
            };
        }
        let nsec3 = match self
            .denial
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("nsec") => false,
            Some("nsec3") => true,
            Some(other) => {
                return Err(PolicyError(format!(
                    "denial = {other:?}: use \"nsec\" or \"nsec3\""
                )))
            }
        };
        if !nsec3
            && (self.nsec3_opt_out.is_some()
                || self.nsec3_iterations.is_some()
                || self.nsec3_salt.is_some())
        {
            return Err(PolicyError(
                "nsec3-* settings need denial = \"nsec3\"".into(),
            ));
        }
        if let Some(i) = self.nsec3_iterations {
            if i != 0 {
                return Err(PolicyError(format!(
                    "nsec3-iterations = {i}: must be 0 (RFC 9276 §3.1: extra iterations cost resolvers and add no protection)"
                )));
            }
        }
        if let Some(s) = &self.nsec3_salt {
            if !(s.is_empty() || s == "-") {
                return Err(PolicyError(format!(
                    "nsec3-salt = {s:?}: must be empty (RFC 9276 §3.1: a salt adds no protection)"
                )));
            }
        }
        if nsec3 {
            p.denial = Denial::Nsec3 {
                opt_out: self.nsec3_opt_out.unwrap_or(false),
            };
        }
        if self.ksk_lifetime.is_some() && self.csk_lifetime.is_some() {
            return Err(PolicyError(
                "give ksk-lifetime or csk-lifetime, not both".into(),
            ));
        }
        let durations: [(&str, &Option<DurationSpec>, &mut Secs); 11] = [
            (
                "signature-validity",
                &self.signature_validity,
                &mut p.signature_validity,
            ),
            (
                "signature-refresh",
                &self.signature_refresh,
                &mut p.signature_refresh,
            ),
            (
                "signature-jitter",
                &self.signature_jitter,
                &mut p.signature_jitter,
            ),
            (
                "signature-inception-offset",
                &self.signature_inception_offset,
                &mut p.signature_inception_offset,
            ),
            ("zsk-lifetime", &self.zsk_lifetime, &mut p.zsk_lifetime),
            ("ksk-lifetime", &self.ksk_lifetime, &mut p.ksk_lifetime),
            (
                "propagation-delay",
                &self.propagation_delay,
                &mut p.propagation_delay,
            ),
            (
                "publish-safety",
                &self.publish_safety,
                &mut p.publish_safety,
            ),
            ("retire-safety", &self.retire_safety, &mut p.retire_safety),
            (
                "parent-propagation-delay",
                &self.parent_propagation_delay,
                &mut p.parent_propagation_delay,
            ),
            (
                "registrar-delay",
                &self.registrar_delay,
                &mut p.registrar_delay,
            ),
        ];
        for (name, spec, slot) in durations {
            if let Some(d) = spec {
                *slot = d.secs(name)?;
            }
        }
        if let Some(d) = &self.csk_lifetime {
            p.ksk_lifetime = d.secs("csk-lifetime")?;
        }
        if let Some(t) = self.dnskey_ttl {
            p.dnskey_ttl = t;
        }
        if let Some(t) = self.zone_max_ttl {
            p.zone_max_ttl = t;
        }
        if let Some(t) = self.ds_ttl {
            p.ds_ttl = t;
        }
        p.validate()?;
        Ok(p)
    }
}

fn parse_alg(a: &AlgSpec) -> Result<Alg, PolicyError> {
    let alg = match a {
        AlgSpec::Number(n) => Alg(*n),
        AlgSpec::Name(s) => match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "8" | "rsasha256" | "rsa" => Alg::RSASHA256,
            "13" | "ecdsap256sha256" | "ecdsap256" | "ecdsa" | "p256" => Alg::ECDSAP256SHA256,
            "15" | "ed25519" => Alg::ED25519,
            _ => {
                return Err(PolicyError(format!(
                    "algorithm = {s:?}: use \"ecdsap256sha256\" (13), \"ed25519\" (15) or \"rsasha256\" (8)"
                )))
            }
        },
    };
    if !matches!(alg, Alg::RSASHA256 | Alg::ECDSAP256SHA256 | Alg::ED25519) {
        return Err(PolicyError(format!(
            "algorithm = {}: use 13 (ECDSAP256SHA256), 15 (ED25519) or 8 (RSASHA256)",
            alg.0
        )));
    }
    Ok(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        Policy::default().validate().unwrap();
        let p = DnssecSetting::Enabled(true).policy().unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.algorithm, Alg(13));
        assert_eq!(p.scheme, KeyScheme::Csk);
        assert_eq!(p.denial, Denial::Nsec);
        assert_eq!(p.signature_validity, 14 * DAY);
    }

    #[test]
    fn zone_setting_true_or_table() {
        #[derive(Deserialize)]
        struct Zone {
            dnssec: DnssecSetting,
        }
        let z: Zone = toml::from_str("dnssec = true").unwrap();
        assert!(z.dnssec.policy().unwrap().enabled);
        let z: Zone = toml::from_str("dnssec = false").unwrap();
        assert!(!z.dnssec.policy().unwrap().enabled);
        let z: Zone = toml::from_str(
            "[dnssec]\nalgorithm = \"rsasha256\"\nbits = 3072\nkeys = \"ksk+zsk\"\ndenial = \"nsec3\"\nnsec3-opt-out = true\nzsk-lifetime = \"30d\"\nksk-lifetime = \"1w\"\nsignature-validity = \"21d\"\nsignature-refresh = \"7d\"\ndnskey-ttl = 600\nds-ttl = 3600\npropagation-delay = 30\n",
        )
        .unwrap();
        let p = z.dnssec.policy().unwrap();
        assert_eq!(p.algorithm, Alg::RSASHA256);
        assert_eq!(p.bits(), Some(3072));
        assert_eq!(p.scheme, KeyScheme::KskZsk);
        assert_eq!(p.denial, Denial::Nsec3 { opt_out: true });
        assert_eq!(p.zsk_lifetime, 30 * DAY);
        assert_eq!(p.ksk_lifetime, 7 * DAY);
        assert_eq!(p.signature_validity, 21 * DAY);
        assert_eq!(p.dnskey_ttl, 600);
        assert_eq!(p.propagation_delay, 30);
        let p = PolicyConfig::from_toml("algorithm = 15\ncsk-lifetime = \"180d\"").unwrap();
        assert_eq!(p.algorithm, Alg::ED25519);
        assert_eq!(p.ksk_lifetime, 180 * DAY);
    }

    #[test]
    fn clear_errors() {
        let e = |t: &str| PolicyConfig::from_toml(t).unwrap_err().to_string();
        assert!(e("algorithm = 5").contains("use 13"));
        assert!(e("algorithm = \"dsa\"").contains("ecdsap256sha256"));
        assert!(e("algorithm = 8\nbits = 1024").contains("2048"));
        assert!(e("bits = 2048").contains("only applies to algorithm 8"));
        assert!(e("denial = \"nsec3\"\nnsec3-iterations = 10").contains("RFC 9276"));
        assert!(e("denial = \"nsec3\"\nnsec3-salt = \"ab\"").contains("must be empty"));
        assert!(e("nsec3-opt-out = true").contains("denial = \"nsec3\""));
        assert!(e("signature-validity = \"14x\"").contains("unknown unit"));
        assert!(e("signature-refresh = \"20d\"").contains("below signature-validity"));
        assert!(e("signature-refresh = \"12h\"").contains("largest TTL"));
        assert!(e("zsk-lifetime = \"1d\"").contains("twice a roll"));
        assert!(e("keys = \"three\"").contains("ksk+zsk"));
        assert!(e("colour = \"red\"").contains("unknown field"));
        assert!(e("dnskey-ttl = 0").contains("above 0"));
        assert!(e("ksk-lifetime = 0\ncsk-lifetime = 0").contains("not both"));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("1d12h").unwrap(), 36 * HOUR);
        assert_eq!(parse_duration("2w").unwrap(), 14 * DAY);
        assert!(parse_duration("5").is_ok());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("12").is_ok());
        assert!(parse_duration("3d4").is_err());
        assert_eq!(show(36 * HOUR + 5), "1d12h5s");
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let p = Policy::default();
        let mut seen = std::collections::HashSet::new();
        for seed in 0..1000u64 {
            let j = p.jitter(seed);
            assert!(j < p.signature_jitter);
            assert_eq!(j, p.jitter(seed));
            seen.insert(j / HOUR);
        }
        assert!(seen.len() > 6, "jitter spreads: {seen:?}");
        let (inc, exp) = p.signature_window(1_000_000_000, 7);
        assert_eq!(inc, 1_000_000_000 - HOUR);
        assert!(exp <= 1_000_000_000 + 14 * DAY && exp > 1_000_000_000 + 13 * DAY);
        assert!(!p.needs_refresh(exp, 1_000_000_000));
        assert!(p.needs_refresh(exp, exp - 4 * DAY));
    }
}
