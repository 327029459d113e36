//! Deciding what is due: roll procedures as stages, and when rolls start.

use super::*;
use crate::policy::Policy;

/// Where a roll wants one record of one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    In,
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub key: KeyId,
    pub record: RecordKind,
    pub want: Want,
}

/// One step of a roll: its targets are set together, and all must settle before the
/// next stage begins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stage {
    pub targets: Vec<Target>,
    /// CDS/CDNSKEY to publish without waiting for the parent (first keys of a zone).
    pub cds: Vec<KeyId>,
    pub cds_delete: Option<bool>,
    /// Keys to delete once everything above has settled.
    pub delete: Vec<KeyId>,
}

fn t(key: KeyId, record: RecordKind, want: Want) -> Target {
    Target { key, record, want }
}

/// The procedure of a roll, as stages over its old and new keys.
pub fn stages(roll: &Roll, state: &State) -> Vec<Stage> {
    use RecordKind::*;
    use Want::*;
    let role_of = |id: KeyId| {
        roll.new
            .iter()
            .find(|n| n.id == id)
            .map(|n| n.role)
            .or_else(|| state.key(id).map(|k| k.role))
            .unwrap_or(Role::Csk)
    };
    let new: Vec<KeyId> = roll.new.iter().map(|n| n.id).collect();
    let old = roll.old.clone();
    let ksk = |ids: &[KeyId]| -> Vec<KeyId> {
        ids.iter()
            .copied()
            .filter(|&i| role_of(i).is_ksk())
            .collect()
    };
    let zsk = |ids: &[KeyId]| -> Vec<KeyId> {
        ids.iter()
            .copied()
            .filter(|&i| role_of(i).is_zsk())
            .collect()
    };
    let each = |ids: &[KeyId], recs: &[RecordKind], want: Want| -> Vec<Target> {
        ids.iter()
            .flat_map(|&i| recs.iter().map(move |&r| t(i, r, want)))
            .collect()
    };
    let stage = |targets: Vec<Target>| Stage {
        targets,
        ..Stage::default()
    };
    // The last stage checks that nothing of the old keys is left anywhere, then deletes.
    let retire = Stage {
        targets: each(&old, &[Dnskey, DnskeyRrsig, ZoneRrsig, Ds], Out),
        delete: old.clone(),
        ..Stage::default()
    };
    match roll.kind {
        RollKind::Initial => {
            // No DS at the parent yet, so resolvers treat the zone as insecure while
            // everything is published at once; CDS only once all is omnipresent.
            let mut first = each(&new, &[Dnskey], In);
            first.extend(each(&ksk(&new), &[DnskeyRrsig], In));
            first.extend(each(&zsk(&new), &[ZoneRrsig], In));
            vec![
                stage(first),
                Stage {
                    cds: ksk(&new),
                    ..Stage::default()
                },
            ]
        }
        RollKind::Zsk => vec![
            stage(each(&new, &[Dnskey], In)),
            stage([each(&new, &[ZoneRrsig], In), each(&old, &[ZoneRrsig], Out)].concat()),
            stage(each(&old, &[Dnskey], Out)),
            retire,
        ],
        RollKind::Ksk => vec![
            stage(each(&new, &[Ds], In)),
            stage(
                [
                    each(&new, &[Dnskey, DnskeyRrsig], In),
                    each(&old, &[Dnskey, DnskeyRrsig], Out),
                ]
                .concat(),
            ),
            stage(each(&old, &[Ds], Out)),
            retire,
        ],
        RollKind::Csk => vec![
            stage(each(&new, &[Dnskey, DnskeyRrsig], In)),
            stage(
                [
                    each(&new, &[ZoneRrsig, Ds], In),
                    each(&old, &[ZoneRrsig, Ds], Out),
                ]
                .concat(),
            ),
            stage(each(&old, &[Dnskey, DnskeyRrsig], Out)),
            retire,
        ],
        RollKind::Algorithm => vec![
            // Signatures of the new algorithm reach every cache before its DNSKEY does,
            // so no cached DNSKEY RRset names an algorithm the data is not signed with.
            stage(each(&zsk(&new), &[ZoneRrsig], In)),
            stage(
                [
                    each(&new, &[Dnskey], In),
                    each(&ksk(&new), &[DnskeyRrsig], In),
                ]
                .concat(),
            ),
            stage([each(&ksk(&new), &[Ds], In), each(&old, &[Ds], Out)].concat()),
            stage(each(&old, &[Dnskey, DnskeyRrsig], Out)),
            stage(each(&old, &[ZoneRrsig], Out)),
            retire,
        ],
        RollKind::Insecure => vec![
            Stage {
                targets: each(&old, &[Ds], Out),
                cds_delete: Some(true),
                ..Stage::default()
            },
            // No resolver holds a DS any more: everything can go at once.
            Stage {
                targets: each(&old, &[Dnskey, DnskeyRrsig, ZoneRrsig], Out),
                cds_delete: Some(false),
                ..Stage::default()
            },
            retire,
        ],
    }
}

/// Decides what is due at `now`. Pure: the same inputs give the same plan.
pub fn plan(
    state: &State,
    policy: &Policy,
    now: Timestamp,
    parent_ds_observed: &[DsObservation],
) -> Plan {
    let mut p = Plan::default();
    if now < state.last_seen {
        // Steps already taken assumed time had passed; acting now could undo that.
        p.warnings.push(Warning::ClockWentBack {
            now,
            last_seen: state.last_seen,
        });
        let t = Timing::new(policy, state, state.last_seen);
        let old = next_event(state, policy, &t, state.last_seen);
        p.next_event = Some(old.unwrap_or(state.last_seen).max(state.last_seen));
        return p;
    }
    let mut s = state.clone();
    let note = |s: &mut State, p: &mut Plan, a: Action| {
        apply_action(s, &a, now);
        p.actions.push(a);
    };

    let want_ttls = (policy.dnskey_ttl, policy.zone_max_ttl, policy.ds_ttl);
    if want_ttls != (s.ttls.dnskey.ttl, s.ttls.zone_max.ttl, s.ttls.ds.ttl) {
        note(
            &mut s,
            &mut p,
            Action::NoteTtls {
                dnskey: policy.dnskey_ttl,
                zone_max: policy.zone_max_ttl,
                ds: policy.ds_ttl,
            },
        );
    }

    let mut obs: Vec<&DsObservation> = parent_ds_observed.iter().collect();
    obs.sort_by_key(|o| o.at);
    for o in obs {
        if o.at > now {
            p.warnings
                .push(Warning::ObservationFromFuture { at: o.at, now });
            continue;
        }
        if o.unmatched > 0 {
            p.warnings.push(Warning::UnmatchedDs { count: o.unmatched });
        }
        let keys: Vec<(KeyId, Rec, bool)> = s
            .keys
            .iter()
            .map(|k| (k.id, k.ds, k.cds.is_some() || s.roll_of(k.id).is_none()))
            .collect();
        for (id, ds, wanted) in keys {
            let present = o.keys.contains(&id);
            let since = match ds {
                Rec::Never => None,
                Rec::In { since } | Rec::Out { since } => Some(since),
            };
            if since.is_some_and(|t| o.at < t) || present == ds.is_in() {
                continue;
            }
            if !present && wanted && s.cds_delete.is_none() {
                p.warnings.push(Warning::DsVanished { key: id });
            }
            note(
                &mut s,
                &mut p,
                Action::NoteParentDs {
                    key: id,
                    present,
                    at: o.at,
                },
            );
        }
    }

    // Only while some withdrawn CDS might still be acted on, so idle polls stay idle.
    let latest = parent_ds_observed
        .iter()
        .map(|o| o.at)
        .filter(|&at| at <= now)
        .max();
    let pending = s
        .keys
        .iter()
        .any(|k| k.ds == Rec::Never && (k.cds.is_some() || k.cds_withdrawn.is_some()));
    if let (Some(at), true) = (latest, pending) {
        if s.parent_checked.is_none_or(|c| c < at) {
            note(&mut s, &mut p, Action::NoteParentChecked(at));
        }
    }

    let timing = Timing::new(policy, &s, now);
    for roll in s.rolls.clone() {
        progress(&s, &roll, policy, &timing, now, &mut p);
    }
    start_rolls(&s, policy, now, &mut p);
    steady(&s, policy, &timing, now, &mut p);
    p.next_event = next_event(&s, policy, &timing, now);
    p
}

/// Where one target of a stage stands.
struct Reached {
    done: bool,
    /// When the record's phase next moves, if it does by time alone.
    at: Option<Timestamp>,
    /// A DS never seen is not yet taken as absent (see [`reached`]).
    late_ds: bool,
}

fn reached(
    tg: &Target,
    k: &Key,
    s: &State,
    policy: &Policy,
    timing: &Timing,
    now: Timestamp,
) -> Reached {
    let rec = k.rec(tg.record);
    let (phase, at) = timing.phase(rec, tg.record, now);
    // A parent may act on a CDS it read before the CDS was withdrawn, so a DS never
    // seen is taken as absent only once the registrar delay has passed.
    let late_ds = tg.record == RecordKind::Ds
        && rec == Rec::Never
        && (k.cds.is_some()
            || k.cds_withdrawn.is_some_and(|w| {
                let after = w + policy.registrar_delay;
                now < after || s.parent_checked.is_none_or(|c| c < after)
            }));
    let done = match tg.want {
        Want::In => phase == Phase::Omnipresent,
        Want::Out => phase == Phase::Hidden && !late_ds,
    };
    Reached { done, at, late_ds }
}

/// The stage `roll` is at (its index among [`stages`]): the first whose targets
/// are not all reached, by the very rule the planner moves on by (so `dnssec status`
/// shows the stage the server acts on). The last stage once all are reached.
pub fn current_stage(roll: &Roll, s: &State, policy: &Policy, now: Timestamp) -> usize {
    let timing = Timing::new(policy, s, now);
    let st = stages(roll, s);
    st.iter()
        .position(|stage| {
            !stage.targets.iter().all(|tg| match s.key(tg.key) {
                // A deleted key has nothing left to withdraw.
                None => true,
                Some(k) => reached(tg, k, s, policy, &timing, now).done,
            })
        })
        .unwrap_or(st.len().saturating_sub(1))
}

fn progress(
    s: &State,
    roll: &Roll,
    policy: &Policy,
    timing: &Timing,
    now: Timestamp,
    p: &mut Plan,
) {
    let missing: Vec<NewKey> = roll
        .new
        .iter()
        .filter(|n| s.key(n.id).is_none())
        .copied()
        .collect();
    if !missing.is_empty() {
        for n in missing {
            p.actions.push(Action::GenerateKey(n));
            p.waiting.push(Waiting::KeyGeneration(n.id));
        }
        return;
    }
    let mut delete_flag = None;
    for stage in stages(roll, s) {
        let mut settled = true;
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        for tg in &stage.targets {
            let Some(k) = s.key(tg.key) else {
                // A deleted key has nothing left to withdraw.
                continue;
            };
            let rec = k.rec(tg.record);
            let Reached { done, at, late_ds } = reached(tg, k, s, policy, timing, now);
            if tg.record == RecordKind::Ds {
                match (tg.want, k.cds.is_some()) {
                    (Want::In, false) => p.actions.push(Action::PublishCds(k.id)),
                    (Want::Out, true) => p.actions.push(Action::WithdrawCds(k.id)),
                    _ => {}
                }
                if !done {
                    settled = false;
                    match (tg.want, rec.is_in()) {
                        (Want::In, false) => {
                            add.push(k.id);
                            wait_parent(p, s, policy, k, true, now);
                        }
                        (Want::Out, _) if late_ds => {
                            remove.push(k.id);
                            let until = k.cds_withdrawn.unwrap_or(now) + policy.registrar_delay;
                            p.waiting.push(Waiting::ParentDs {
                                key: k.id,
                                present: false,
                                since: k.cds_withdrawn,
                            });
                            p.waiting.push(Waiting::Propagation {
                                key: k.id,
                                record: RecordKind::Ds,
                                until,
                            });
                        }
                        (Want::Out, true) => {
                            remove.push(k.id);
                            wait_parent(p, s, policy, k, false, now);
                        }
                        _ => p.waiting.push(Waiting::Propagation {
                            key: k.id,
                            record: tg.record,
                            until: at.unwrap_or(now),
                        }),
                    }
                }
                continue;
            }
            if done {
                continue;
            }
            settled = false;
            match (tg.want, rec.is_in()) {
                (Want::In, false) => p.actions.push(publish(tg.record, k.id)),
                (Want::Out, true) => p.actions.push(withdraw(tg.record, k.id)),
                _ => p.waiting.push(Waiting::Propagation {
                    key: k.id,
                    record: tg.record,
                    until: at.unwrap_or(now),
                }),
            }
        }
        // A later stage may undo the flag, so the latest stage reached decides it.
        if stage.cds_delete.is_some() {
            delete_flag = stage.cds_delete;
        }
        for &id in &stage.cds {
            if s.key(id).is_some_and(|k| k.cds.is_none()) {
                p.actions.push(Action::PublishCds(id));
            }
        }
        if !add.is_empty() || !remove.is_empty() {
            p.actions.push(Action::WaitForParentDs { add, remove });
        }
        if !settled {
            cds_delete_flag(s, delete_flag, p);
            return;
        }
        for &id in &stage.delete {
            if s.key(id).is_some() {
                p.actions.push(Action::DeleteKey(id));
            }
        }
    }
    cds_delete_flag(s, delete_flag, p);
    p.actions.push(Action::FinishRoll(roll.kind));
}

fn cds_delete_flag(s: &State, want: Option<bool>, p: &mut Plan) {
    match (want, s.cds_delete.is_some()) {
        (Some(true), false) => p.actions.push(Action::PublishCdsDelete),
        (Some(false), true) => p.actions.push(Action::WithdrawCdsDelete),
        _ => {}
    }
}

fn wait_parent(p: &mut Plan, s: &State, policy: &Policy, k: &Key, present: bool, now: Timestamp) {
    let since = if present {
        k.cds
    } else {
        k.cds_withdrawn.or(s.cds_delete)
    };
    p.waiting.push(Waiting::ParentDs {
        key: k.id,
        present,
        since,
    });
    if let Some(since) = since {
        if now >= since + policy.registrar_delay {
            p.warnings.push(Warning::ParentSlow { key: k.id, since });
        }
    }
}

fn publish(r: RecordKind, id: KeyId) -> Action {
    match r {
        RecordKind::Dnskey => Action::PublishDnskey(id),
        RecordKind::DnskeyRrsig => Action::SignDnskeyWith(id),
        RecordKind::ZoneRrsig => Action::StartSigning(id),
        RecordKind::Ds => Action::PublishCds(id),
    }
}

fn withdraw(r: RecordKind, id: KeyId) -> Action {
    match r {
        RecordKind::Dnskey => Action::UnpublishDnskey(id),
        RecordKind::DnskeyRrsig => Action::StopSigningDnskey(id),
        RecordKind::ZoneRrsig => Action::StopSigning(id),
        RecordKind::Ds => Action::WithdrawCds(id),
    }
}

fn roll_kind(role: Role) -> RollKind {
    match role {
        Role::Zsk => RollKind::Zsk,
        Role::Ksk => RollKind::Ksk,
        Role::Csk => RollKind::Csk,
    }
}

fn start_rolls(s: &State, policy: &Policy, now: Timestamp, p: &mut Plan) {
    let mut next = s.next_id;
    let mut fresh = |role: Role| {
        let n = NewKey {
            id: KeyId(next),
            role,
            alg: policy.algorithm,
            bits: policy.bits(),
        };
        next += 1;
        n
    };
    let begin = |p: &mut Plan, kind: RollKind, old: Vec<KeyId>, new: Vec<NewKey>| {
        p.actions.push(Action::BeginRoll {
            kind,
            old,
            new: new.clone(),
        });
        p.actions.extend(new.into_iter().map(Action::GenerateKey));
    };
    let insecure = s.rolls.iter().any(|r| r.kind == RollKind::Insecure);
    if !policy.enabled {
        if insecure || s.keys.is_empty() && s.rolls.is_empty() {
            return;
        }
        if s.rolls.is_empty() {
            let all = s.keys.iter().map(|k| k.id).collect();
            begin(p, RollKind::Insecure, all, vec![]);
        } else {
            p.warnings.push(Warning::Deferred {
                what: "going insecure once the roll in progress finishes".into(),
            });
        }
        return;
    }
    if insecure {
        p.warnings.push(Warning::Deferred {
            what: "DNSSEC is enabled again; going insecure finishes first, then the zone is signed afresh".into(),
        });
        return;
    }
    if s.keys.is_empty() && s.rolls.is_empty() {
        let new = policy.scheme.roles().iter().map(|&r| fresh(r)).collect();
        begin(p, RollKind::Initial, vec![], new);
        return;
    }
    let exclusive = s.rolls.iter().any(|r| {
        matches!(
            r.kind,
            RollKind::Initial | RollKind::Csk | RollKind::Algorithm
        )
    });
    if exclusive {
        return;
    }
    let active: Vec<&Key> = s.active().collect();
    // Keys still serving: the active ones and those a ZSK or KSK roll is replacing.
    let serving: Vec<&Key> = s
        .keys
        .iter()
        .filter(|k| s.roll_of(k.id).is_none_or(|r| r.old.contains(&k.id)))
        .collect();
    let mut roles: Vec<Role> = serving.iter().map(|k| k.role).collect();
    roles.sort();
    let mut want: Vec<Role> = policy.scheme.roles().to_vec();
    want.sort();
    if roles != want || serving.iter().any(|k| k.alg != policy.algorithm) {
        if s.rolls.is_empty() {
            let old = active.iter().map(|k| k.id).collect();
            let new = policy.scheme.roles().iter().map(|&r| fresh(r)).collect();
            begin(p, RollKind::Algorithm, old, new);
        } else {
            p.warnings.push(Warning::Deferred {
                what: "the key set no longer matches the policy; an algorithm roll starts once the roll in progress finishes".into(),
            });
        }
        return;
    }
    for k in active {
        let kind = roll_kind(k.role);
        if s.rolls.iter().any(|r| r.kind == kind) || (kind == RollKind::Csk && !s.rolls.is_empty())
        {
            continue;
        }
        let asked = s.requests.iter().any(|r| r.role == k.role);
        let life = policy.lifetime(k.role);
        let aged = life != 0 && k.active_since.is_some_and(|a| now >= a + life);
        if asked || aged {
            let new = vec![fresh(k.role)];
            begin(p, kind, vec![k.id], new);
        }
    }
}

/// Between rolls: the active KSK's CDS stays published, and its DS is awaited.
fn steady(s: &State, policy: &Policy, timing: &Timing, now: Timestamp, p: &mut Plan) {
    if !policy.enabled {
        return;
    }
    for k in s.active().filter(|k| k.role.is_ksk()) {
        let ready = timing.phase(k.dnskey, RecordKind::Dnskey, now).0 == Phase::Omnipresent;
        if k.cds.is_none() && ready {
            p.actions.push(Action::PublishCds(k.id));
        }
        if k.cds.is_some() && !k.ds.is_in() {
            p.actions.push(Action::WaitForParentDs {
                add: vec![k.id],
                remove: vec![],
            });
            wait_parent(p, s, policy, k, true, now);
        }
    }
}

/// The next time a record settles or a key comes due by age.
fn next_event(s: &State, policy: &Policy, timing: &Timing, now: Timestamp) -> Option<Timestamp> {
    let mut next: Option<Timestamp> = None;
    let mut consider = |t: Timestamp| {
        if t > now {
            next = Some(next.map_or(t, |n| n.min(t)));
        }
    };
    for k in &s.keys {
        for kind in [
            RecordKind::Dnskey,
            RecordKind::DnskeyRrsig,
            RecordKind::ZoneRrsig,
            RecordKind::Ds,
        ] {
            if let (_, Some(t)) = timing.phase(k.rec(kind), kind, now) {
                consider(t);
            }
        }
        if let (Rec::Never, Some(w)) = (k.ds, k.cds_withdrawn) {
            consider(w + policy.registrar_delay);
        }
        let life = policy.lifetime(k.role);
        if let (Some(a), true) = (k.active_since, life != 0 && policy.enabled) {
            consider(a + life);
        }
    }
    // A lowered TTL stops counting at a known time.
    for m in [&s.ttls.dnskey, &s.ttls.zone_max, &s.ttls.ds] {
        consider(
            m.changed
                + u64::from(m.previous)
                + policy
                    .propagation_delay
                    .max(policy.parent_propagation_delay),
        );
    }
    next
}

impl Plan {
    /// Adds "next roll by age" entries, for status output.
    pub fn with_schedule(mut self, s: &State, policy: &Policy) -> Plan {
        for k in s.active() {
            let life = policy.lifetime(k.role);
            if let (Some(a), true) = (k.active_since, life != 0) {
                self.waiting.push(Waiting::Roll {
                    role: k.role,
                    at: a + life,
                });
            }
        }
        self
    }
}
