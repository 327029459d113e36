//! From key records to what the served zone holds: the translation the executor
//! applies after every plan. Pure; unit-tested against every roll kind's stages.

use blason_dnssec::keys::Key;
use blason_dnssec::roll::{KeyId, State};
use blason_dnssec::sign::ZoneKeys;
use std::collections::HashMap;

/// The keys each part of the zone's DNSSEC records comes from, as a state implies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySets {
    /// DNSKEYs published.
    pub dnskey: Vec<KeyId>,
    /// Keys signing the DNSKEY, CDS and CDNSKEY RRsets.
    pub dnskey_signers: Vec<KeyId>,
    /// Keys signing the rest of the zone.
    pub zone_signers: Vec<KeyId>,
    /// Keys with CDS and CDNSKEY published.
    pub cds: Vec<KeyId>,
    /// The RFC 8078 delete form instead of any CDS.
    pub cds_delete: bool,
}

impl KeySets {
    pub fn of(state: &State) -> KeySets {
        let ids = |f: &dyn Fn(&blason_dnssec::roll::Key) -> bool| -> Vec<KeyId> {
            state.keys.iter().filter(|k| f(k)).map(|k| k.id).collect()
        };
        KeySets {
            dnskey: ids(&|k| k.dnskey.is_in()),
            dnskey_signers: ids(&|k| k.dnskey_rrsig.is_in()),
            zone_signers: ids(&|k| k.zone_rrsig.is_in()),
            cds: ids(&|k| k.cds.is_some()),
            cds_delete: state.cds_delete.is_some(),
        }
    }

    /// Nothing of DNSSEC left to publish (a fresh zone, or the end of going insecure).
    pub fn is_unsigned(&self) -> bool {
        self.dnskey.is_empty()
            && self.dnskey_signers.is_empty()
            && self.zone_signers.is_empty()
            && self.cds.is_empty()
            && !self.cds_delete
    }

    /// Every key whose material the zone needs.
    pub fn ids(&self) -> Vec<KeyId> {
        let mut v: Vec<KeyId> = [
            &self.dnskey,
            &self.dnskey_signers,
            &self.zone_signers,
            &self.cds,
        ]
        .into_iter()
        .flatten()
        .copied()
        .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The signer's view, with the key material from `keys`.
    pub fn zone_keys<'a>(
        &self,
        keys: &'a HashMap<KeyId, Key>,
    ) -> Result<ZoneKeys<'a>, blason_dnssec::Error> {
        // Every key of the state was read at its first tick: a missing one is ours.
        let get = |ids: &[KeyId]| -> Result<Vec<&'a Key>, blason_dnssec::Error> {
            ids.iter()
                .map(|id| {
                    keys.get(id).ok_or(blason_dnssec::Error::Internal(
                        "a key of the plan has no key material",
                    ))
                })
                .collect()
        };
        Ok(ZoneKeys {
            ksk: get(&self.dnskey_signers)?,
            zsk: get(&self.zone_signers)?,
            publish: vec![],
            dnskey: Some(get(&self.dnskey)?),
            cds: Some(get(&self.cds)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blason_dnssec::keys::{Algorithm, FLAG_SEP, FLAG_ZONE};
    use blason_dnssec::policy::{KeyScheme, Policy};
    use blason_dnssec::roll::{apply, plan, Action, Outcome, Role};

    /// Drives the planner with instant parents, recording the sets after each plan.
    fn drive(policy: &Policy, mut s: State, mut t: u64, until: u64) -> (State, Vec<KeySets>) {
        let mut seen = vec![KeySets::of(&s)];
        while t < until {
            let mut obs = vec![];
            for _ in 0..20 {
                let p = plan(&s, policy, t, &obs);
                obs.clear();
                let waits: Vec<_> = p
                    .actions
                    .iter()
                    .filter_map(|a| match a {
                        Action::WaitForParentDs { add, remove } => {
                            Some((add.clone(), remove.clone()))
                        }
                        _ => None,
                    })
                    .collect();
                if !waits.is_empty() {
                    let mut present: Vec<KeyId> = s
                        .keys
                        .iter()
                        .filter(|k| k.ds.is_in())
                        .map(|k| k.id)
                        .collect();
                    for (add, remove) in &waits {
                        present.extend(add);
                        present.retain(|k| !remove.contains(k));
                    }
                    obs.push(blason_dnssec::roll::DsObservation {
                        at: t,
                        source: blason_dnssec::roll::DsSource::Query,
                        keys: present,
                        unmatched: 0,
                    });
                }
                if p.is_idle() && obs.is_empty() {
                    break;
                }
                let out: Vec<Outcome> = p
                    .actions
                    .iter()
                    .map(|a| match a {
                        Action::GenerateKey(n) => Outcome::Generated {
                            id: n.id,
                            tag: 1000 + n.id.0 as u16,
                            file: format!("keys/K{}.private", n.id.0),
                        },
                        a => Outcome::Done(a.clone()),
                    })
                    .collect();
                s = apply(&s, &out, t);
                let sets = KeySets::of(&s);
                if seen.last() != Some(&sets) {
                    seen.push(sets);
                }
            }
            t += 1;
        }
        (s, seen)
    }

    fn quick(scheme: KeyScheme) -> Policy {
        Policy {
            scheme,
            dnskey_ttl: 2,
            zone_max_ttl: 2,
            ds_ttl: 2,
            propagation_delay: 0,
            publish_safety: 1,
            retire_safety: 1,
            parent_propagation_delay: 0,
            registrar_delay: 5,
            zsk_lifetime: 0,
            ksk_lifetime: 0,
            ..Policy::default()
        }
    }

    fn ids(v: &[u32]) -> Vec<KeyId> {
        v.iter().map(|&i| KeyId(i)).collect()
    }

    #[test]
    fn initial_signing_publishes_everything_then_cds() {
        let (s, seen) = drive(&quick(KeyScheme::KskZsk), State::default(), 1000, 1030);
        assert!(seen[0].is_unsigned());
        // key#0 is the KSK, key#1 the ZSK.
        assert_eq!(
            seen[1],
            KeySets {
                dnskey: ids(&[0, 1]),
                dnskey_signers: ids(&[0]),
                zone_signers: ids(&[1]),
                cds: vec![],
                cds_delete: false,
            }
        );
        assert_eq!(seen.last().unwrap().cds, ids(&[0]));
        assert!(s.rolls.is_empty());
    }

    #[test]
    fn zsk_roll_prepublishes_then_swaps_signatures_then_withdraws() {
        let p = quick(KeyScheme::KskZsk);
        let (s, _) = drive(&p, State::default(), 1000, 1030);
        let s = blason_dnssec::roll::roll(&s, Role::Zsk, 1030).unwrap();
        let (s, seen) = drive(&p, s, 1030, 1080);
        let zsk: Vec<(Vec<KeyId>, Vec<KeyId>)> = seen
            .iter()
            .map(|x| (x.dnskey.clone(), x.zone_signers.clone()))
            .collect();
        assert_eq!(
            zsk,
            vec![
                (ids(&[0, 1]), ids(&[1])),
                (ids(&[0, 1, 2]), ids(&[1])),
                (ids(&[0, 1, 2]), ids(&[2])),
                (ids(&[0, 2]), ids(&[2])),
            ]
        );
        assert!(seen.iter().all(|x| x.dnskey_signers == ids(&[0])));
        assert!(s.key(KeyId(1)).is_none(), "old ZSK deleted");
    }

    #[test]
    fn ksk_roll_is_double_ds_and_cds_follows_the_keys() {
        let p = quick(KeyScheme::KskZsk);
        let (s, _) = drive(&p, State::default(), 1000, 1030);
        let s = blason_dnssec::roll::roll(&s, Role::Ksk, 1030).unwrap();
        let (s, seen) = drive(&p, s, 1030, 1100);
        // CDS for both while the parent adds the new DS, then only the new one.
        assert!(seen.iter().any(|x| x.cds == ids(&[0, 2])), "{seen:#?}");
        let last = seen.last().unwrap();
        assert_eq!(last.cds, ids(&[2]));
        assert_eq!(last.dnskey_signers, ids(&[2]));
        assert_eq!(last.dnskey, ids(&[1, 2]));
        // The new KSK signs the DNSKEY RRset only once its DNSKEY is published too.
        for x in &seen {
            for k in &x.dnskey_signers {
                assert!(x.dnskey.contains(k), "{x:?}");
            }
        }
        assert!(s.key(KeyId(0)).is_none());
    }

    #[test]
    fn algorithm_roll_signs_before_publishing_and_after_withdrawing() {
        let mut p = quick(KeyScheme::Csk);
        let (s, _) = drive(&p, State::default(), 1000, 1030);
        p.algorithm = blason_dnssec::roll::Alg::ED25519;
        let (s, seen) = drive(&p, s, 1030, 1200);
        // Some snapshot signs the zone with a key whose DNSKEY is not published.
        assert!(seen
            .iter()
            .any(|x| x.zone_signers.iter().any(|k| !x.dnskey.contains(k))));
        let last = seen.last().unwrap();
        assert_eq!(last.dnskey, ids(&[1]));
        assert_eq!(last.zone_signers, ids(&[1]));
        assert_eq!(s.keys.len(), 1);
    }

    #[test]
    fn going_insecure_publishes_the_delete_form_then_nothing() {
        let mut p = quick(KeyScheme::Csk);
        let (s, _) = drive(&p, State::default(), 1000, 1030);
        p.enabled = false;
        let (s, seen) = drive(&p, s, 1030, 1200);
        assert!(seen.iter().any(|x| x.cds_delete && x.cds.is_empty()));
        assert!(seen.last().unwrap().is_unsigned());
        assert!(s.keys.is_empty());
    }

    #[test]
    fn material_comes_from_the_map_and_a_missing_key_is_an_error() {
        let ksk = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE | FLAG_SEP, 0).unwrap();
        let zsk = Key::generate(Algorithm::EcdsaP256Sha256, FLAG_ZONE, 0).unwrap();
        let (ktag, ztag) = (ksk.tag, zsk.tag);
        let mut m = HashMap::new();
        m.insert(KeyId(0), ksk);
        m.insert(KeyId(1), zsk);
        let sets = KeySets {
            dnskey: ids(&[0]),
            dnskey_signers: ids(&[0]),
            zone_signers: ids(&[1]),
            cds: ids(&[0]),
            cds_delete: false,
        };
        let zk = sets.zone_keys(&m).unwrap();
        assert_eq!(zk.ksk[0].tag, ktag);
        assert_eq!(zk.zsk[0].tag, ztag);
        assert_eq!(zk.dnskey.as_ref().unwrap().len(), 1);
        assert_eq!(sets.ids(), ids(&[0, 1]));
        m.remove(&KeyId(1));
        match sets.zone_keys(&m) {
            Err(e) => assert!(matches!(e, blason_dnssec::Error::Internal(_)), "{e}"),
            Ok(_) => panic!("a missing key must be an error"),
        }
    }
}
