//! Key steps that leave the zone's signers alone (a DNSKEY pre-published or withdrawn,
//! a KSK starting or stopping to sign the DNSKEY RRset, CDS/CDNSKEY published or
//! withdrawn): only the apex's key RRsets, their signatures, the SOA and the apex's
//! denial record change, so they go through the incremental fast road instead of a
//! whole-zone pass.

use super::incremental::{patch, Change, Stats};
use super::{apex_rrsets, is_dnssec_generated, SignError, SignOptions, ZoneKeys};
use blason_zone::model::RRset;
use blason_zone::{Rtype, Zone};

/// The next snapshot of `signed` (made from `unsigned`) for the key sets `keys`, whose
/// zone signers (`keys.zsk`) must be the ones `signed` carries. `None` when the fast
/// road does not fit (the denial mode changed, say): sign the whole zone then.
pub fn rekey(
    signed: &Zone,
    unsigned: &Zone,
    keys: &ZoneKeys,
    opts: &SignOptions,
) -> Result<Option<(Zone, Stats)>, SignError> {
    if keys.zsk.is_empty() || keys.ksk.is_empty() {
        return Err(SignError("no signing keys".into()));
    }
    let origin = signed.origin();
    let soa_ttl = unsigned.soa().map(|s| s.ttl).unwrap_or(3600);
    let base: Vec<RRset> = unsigned
        .apex()
        .rrsets
        .iter()
        .filter(|r| !is_dnssec_generated(r.rtype))
        .cloned()
        .collect();
    let want = apex_rrsets(&base, origin, keys, opts, soa_ttl);
    let mut changes = Vec::with_capacity(3);
    for t in [Rtype::DNSKEY, Rtype::CDS, Rtype::CDNSKEY] {
        match want.iter().find(|r| r.rtype == t) {
            // Written again even if equal: its signers may have changed.
            Some(r) => changes.push(Change::Replace {
                name: origin.clone(),
                rrset: r.clone(),
            }),
            None if signed.apex().rrset(t).is_some() => changes.push(Change::Delete {
                name: origin.clone(),
                rtype: t,
            }),
            None => {}
        }
    }
    patch(signed, &changes, keys, opts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Algorithm, Key, FLAG_SEP, FLAG_ZONE};
    use crate::sign::{sign_zone, Denial, Nsec3Params, Validity};
    use blason_zone::load::load_bytes;
    use blason_zone::Name;

    const ZONE: &str =
        "$TTL 300\n@ SOA ns h 1 1 1 1 60\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n";

    fn records(z: &Zone) -> Vec<(String, u16, Vec<Vec<u8>>)> {
        let mut v = Vec::new();
        for n in z.nodes().iter() {
            for r in n.rrsets.iter() {
                if r.rtype == Rtype::RRSIG {
                    // Signatures differ in their random part; compare who signed what.
                    let mut who: Vec<Vec<u8>> = r.rdatas().map(|d| d[..18].to_vec()).collect();
                    who.sort();
                    v.push((n.name.to_string(), r.covers.0 | 0x8000, who));
                } else if r.rtype != Rtype::SOA {
                    v.push((
                        n.name.to_string(),
                        r.rtype.0,
                        r.rdatas().map(<[u8]>::to_vec).collect(),
                    ));
                }
            }
        }
        v
    }

    #[test]
    fn key_steps_equal_a_whole_pass() {
        let origin = Name::parse("k.test.", None).unwrap();
        let unsigned = load_bytes(&origin, ZONE.as_bytes(), "k.test.zone").zone;
        let ksk = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
        let ksk2 = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
        let zsk = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap();
        let validity = Validity {
            inception: 1_700_000_000,
            expiration: 1_701_000_000,
            jitter: 0,
        };
        for denial in [Denial::Nsec, Denial::Nsec3(Nsec3Params::default())] {
            let opts = SignOptions::new(denial, validity);
            let before = ZoneKeys {
                ksk: vec![&ksk],
                zsk: vec![&zsk],
                publish: vec![],
                dnskey: Some(vec![&ksk, &zsk]),
                cds: Some(vec![]),
            };
            let signed = sign_zone(&unsigned, &before, &opts).unwrap().zone;
            // A new KSK published, signing the DNSKEY RRset, with its CDS.
            let after = ZoneKeys {
                ksk: vec![&ksk, &ksk2],
                zsk: vec![&zsk],
                publish: vec![],
                dnskey: Some(vec![&ksk, &ksk2, &zsk]),
                cds: Some(vec![&ksk2]),
            };
            let (next, stats) = rekey(&signed, &unsigned, &after, &opts).unwrap().unwrap();
            let whole = sign_zone(&unsigned, &after, &opts).unwrap().zone;
            assert_eq!(records(&next), records(&whole));
            assert!(stats.rrsigs <= 10, "{stats:?}");
            assert!(next.serial() > signed.serial());
        }
    }
}
