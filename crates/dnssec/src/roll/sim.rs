//! A simulated year: the planner drives a simulated zone, a simulated parent and every
//! resolver cache at once, and after every step each combination of cached DS, DNSKEY
//! and zone-signature versions must still validate (RFC 7583 §2, RFC 6840 §5.11).
//!
//! The oracle looks only at what was published and when, never at the planner's own
//! bookkeeping, so a planner that lies to itself still fails here.

use super::*;
use crate::policy::{KeyScheme, Policy, DAY, HOUR, MINUTE};
use std::collections::{BTreeMap, BTreeSet};

type Set = BTreeSet<KeyId>;

/// xorshift64*: enough randomness for policies and parents, no crate needed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Versions of one RRset as served: (start, end, how long a cache may keep it after
/// the end — propagation plus TTL, fixed when it was published, value).
struct Hist<T> {
    vers: Vec<(Timestamp, Option<Timestamp>, u64, T)>,
}

impl<T: Clone + PartialEq + Default> Hist<T> {
    fn new(t: Timestamp, hold: u64) -> Self {
        Hist {
            vers: vec![(t, None, hold, T::default())],
        }
    }
    fn with(t: Timestamp, hold: u64, v: T) -> Self {
        Hist {
            vers: vec![(t, None, hold, v)],
        }
    }
    fn current(&self) -> &T {
        &self.vers.last().expect("one version").3
    }
    fn set(&mut self, t: Timestamp, v: T, hold: u64) {
        let last = self.vers.last_mut().expect("one version");
        if last.3 == v && last.2 == hold {
            return;
        }
        last.1 = Some(t);
        self.vers.push((t, None, hold, v));
    }
    /// Every version some cache may hold at `t`.
    fn live(&self, t: Timestamp) -> impl Iterator<Item = &T> {
        self.vers
            .iter()
            .filter(move |(s, e, h, _)| *s <= t && e.is_none_or(|e| t < e + h))
            .map(|v| &v.3)
    }
    fn prune(&mut self, t: Timestamp) {
        self.vers.retain(|(_, e, h, _)| e.is_none_or(|e| t < e + h));
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct DnskeySet {
    keys: Set,
    sigs: Set,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ParentKind {
    /// Copies the CDS set after a delay.
    Prompt,
    /// Adds new DS first, removes old ones one delay later.
    AddThenRemove,
    /// Removes old DS first (briefly insecure), adds new ones later.
    RemoveThenAdd,
    /// Acts on the CDS as read, however stale, within the registrar delay.
    Stale,
    /// Ignores CDS; the operator must act.
    Never,
}

struct Parent {
    kind: ParentKind,
    delay: (u64, u64),
    pending: Option<(Timestamp, Set)>,
    ds: Hist<Set>,
}

struct World {
    policy: Policy,
    state: State,
    rng: Rng,
    t: Timestamp,
    /// Planner clock = t - skew (a clock set back).
    skew: u64,
    roles: BTreeMap<KeyId, (Role, Alg)>,
    deleted: Set,
    dnskey: Hist<DnskeySet>,
    data: Hist<Set>,
    cds: Set,
    cds_delete: bool,
    parent: Parent,
    poll: u64,
    next_poll: Timestamp,
    /// Percent of action batches that fail.
    fail: u64,
    finished: BTreeMap<&'static str, usize>,
    warnings: Vec<Warning>,
    steps: usize,
    log: Vec<String>,
}

const START: Timestamp = 1_700_000_000;

fn base_policy(scheme: KeyScheme, alg: Alg) -> Policy {
    Policy {
        algorithm: alg,
        scheme,
        dnskey_ttl: 3600,
        zone_max_ttl: 86400,
        ds_ttl: 86400,
        propagation_delay: 5 * MINUTE,
        publish_safety: HOUR,
        retire_safety: HOUR,
        parent_propagation_delay: HOUR,
        registrar_delay: 2 * DAY,
        zsk_lifetime: 30 * DAY,
        ksk_lifetime: 0,
        ..Policy::default()
    }
}

impl World {
    fn new(policy: Policy, parent: ParentKind, seed: u64) -> World {
        policy.validate().expect("test policy is valid");
        let hold_k = policy.propagation_delay + u64::from(policy.dnskey_ttl);
        let hold_z = policy.propagation_delay + u64::from(policy.zone_max_ttl);
        let hold_ds = policy.parent_propagation_delay + u64::from(policy.ds_ttl);
        World {
            state: State::default(),
            rng: Rng(seed | 1),
            t: START,
            skew: 0,
            roles: BTreeMap::new(),
            deleted: Set::new(),
            dnskey: Hist::new(START, hold_k),
            data: Hist::new(START, hold_z),
            cds: Set::new(),
            cds_delete: false,
            parent: Parent {
                kind: parent,
                delay: (HOUR, DAY),
                pending: None,
                ds: Hist::new(START, hold_ds),
            },
            poll: HOUR,
            next_poll: START,
            fail: 0,
            finished: BTreeMap::new(),
            warnings: Vec::new(),
            steps: 0,
            log: Vec::new(),
            policy,
        }
    }

    fn clock(&self) -> Timestamp {
        self.t - self.skew
    }

    fn say(&mut self, s: String) {
        if self.log.len() > 400 {
            self.log.drain(..200);
        }
        self.log.push(format!(
            "t+{:.2}d {s}",
            (self.t - START) as f64 / DAY as f64
        ));
    }

    fn fail(&self, why: String) -> ! {
        panic!(
            "{why}\nat t+{}s\nstate: {:#?}\nrecent:\n{}",
            self.t - START,
            self.state,
            self.log.join("\n")
        );
    }

    /// Carries out one plan's actions as one snapshot (all or nothing, as the server does).
    fn execute(&mut self, actions: &[Action]) -> Vec<Outcome> {
        if self.fail > 0 && self.rng.chance(self.fail) {
            self.say(format!("batch failed: {actions:?}"));
            return actions
                .iter()
                .map(|a| Outcome::Failed {
                    action: a.clone(),
                    error: "injected".into(),
                })
                .collect();
        }
        let mut dk = self.dnskey.current().clone();
        let mut data = self.data.current().clone();
        let mut out = Vec::new();
        for a in actions {
            self.say(format!("{a:?}"));
            let exists =
                |w: &World, id: KeyId| w.roles.contains_key(&id) && !w.deleted.contains(&id);
            match a {
                Action::GenerateKey(n) => {
                    self.roles.insert(n.id, (n.role, n.alg));
                    out.push(Outcome::Generated {
                        id: n.id,
                        tag: n.id.0 as u16,
                        file: format!("K{}.private", n.id.0),
                    });
                    continue;
                }
                Action::PublishDnskey(id)
                | Action::SignDnskeyWith(id)
                | Action::StartSigning(id)
                | Action::PublishCds(id) => {
                    if !exists(self, *id) {
                        self.fail(format!("{a:?} for a key that does not exist"));
                    }
                    match a {
                        Action::PublishDnskey(_) => dk.keys.insert(*id),
                        Action::SignDnskeyWith(_) => dk.sigs.insert(*id),
                        Action::StartSigning(_) => data.insert(*id),
                        _ => self.cds.insert(*id),
                    };
                }
                Action::UnpublishDnskey(id) => {
                    dk.keys.remove(id);
                }
                Action::StopSigningDnskey(id) => {
                    dk.sigs.remove(id);
                }
                Action::StopSigning(id) => {
                    data.remove(id);
                }
                Action::WithdrawCds(id) => {
                    self.cds.remove(id);
                }
                Action::PublishCdsDelete => self.cds_delete = true,
                Action::WithdrawCdsDelete => self.cds_delete = false,
                Action::DeleteKey(id) => self.check_delete(*id, &dk, &data),
                Action::FinishRoll(k) => {
                    *self.finished.entry(kind_name(*k)).or_default() += 1;
                }
                Action::BeginRoll { .. }
                | Action::NoteParentDs { .. }
                | Action::NoteTtls { .. }
                | Action::NoteParentChecked(_)
                | Action::WaitForParentDs { .. } => {}
            }
            out.push(Outcome::Done(a.clone()));
        }
        let hold_k = self.policy.propagation_delay + u64::from(self.policy.dnskey_ttl);
        let hold_z = self.policy.propagation_delay + u64::from(self.policy.zone_max_ttl);
        self.dnskey.set(self.t, dk, hold_k);
        self.data.set(self.t, data, hold_z);
        out
    }

    /// (c): nothing made with a key may be in any cache when the key goes.
    fn check_delete(&mut self, id: KeyId, dk: &DnskeySet, data: &Set) {
        let t = self.t;
        let cached = self
            .dnskey
            .live(t)
            .any(|v| v.keys.contains(&id) || v.sigs.contains(&id))
            || dk.keys.contains(&id)
            || dk.sigs.contains(&id)
            || data.contains(&id)
            || self.data.live(t).any(|v| v.contains(&id))
            || self.parent.ds.live(t).any(|v| v.contains(&id))
            || self.cds.contains(&id);
        if cached {
            self.fail(format!(
                "{id} deleted while records made with it may be cached"
            ));
        }
        self.deleted.insert(id);
    }

    fn parent_step(&mut self) {
        let t = self.t;
        let hold = self.policy.parent_propagation_delay + u64::from(self.policy.ds_ttl);
        if let Some((due, mut target)) = self.parent.pending.clone() {
            // An automated parent re-reads the CDS before acting (RFC 7344 §4.1); the
            // registrar queue of a Never parent (the operator) does not.
            if due <= t && !matches!(self.parent.kind, ParentKind::Never | ParentKind::Stale) {
                match self.wanted_ds() {
                    Some(w) => target = w,
                    None => {
                        self.parent.pending = None;
                        return;
                    }
                }
            }
            if due <= t {
                let cur = self.parent.ds.current().clone();
                let now_set: Set = match self.parent.kind {
                    ParentKind::AddThenRemove if !target.is_subset(&cur) => {
                        cur.union(&target).copied().collect()
                    }
                    ParentKind::RemoveThenAdd if !cur.is_subset(&target) => {
                        cur.intersection(&target).copied().collect()
                    }
                    _ => target.clone(),
                };
                self.say(format!("parent DS -> {now_set:?}"));
                self.parent.ds.set(t, now_set.clone(), hold);
                self.parent.pending = if now_set == target {
                    None
                } else {
                    let d = self.rng.range(self.parent.delay.0, self.parent.delay.1);
                    Some((t + d, target))
                };
            }
        }
        if self.parent.kind == ParentKind::Never {
            return;
        }
        if let Some(w) = self.wanted_ds() {
            let busy = self
                .parent
                .pending
                .as_ref()
                .is_some_and(|(_, p)| *p == w || self.parent.kind == ParentKind::Stale);
            if w != *self.parent.ds.current() && !busy {
                let d = self.rng.range(self.parent.delay.0, self.parent.delay.1);
                self.parent.pending = Some((t + d, w));
            }
        }
    }

    /// RFC 7344: no CDS means no change wanted; the delete form means no DS at all.
    fn wanted_ds(&self) -> Option<Set> {
        if self.cds_delete {
            Some(Set::new())
        } else if !self.cds.is_empty() {
            Some(self.cds.clone())
        } else {
            None
        }
    }

    fn observe(&mut self) -> Vec<DsObservation> {
        if self.t < self.next_poll {
            return vec![];
        }
        self.next_poll = self.t + self.poll;
        let ds = self.parent.ds.current();
        let known: Vec<KeyId> = self
            .state
            .keys
            .iter()
            .map(|k| k.id)
            .filter(|id| ds.contains(id))
            .collect();
        vec![DsObservation {
            at: self.clock(),
            source: DsSource::Query,
            unmatched: ds.len() - known.len(),
            keys: known,
        }]
    }

    /// (a), (b), (d) for every combination of cached versions.
    fn check(&self) {
        let t = self.t;
        let alg = |id: &KeyId| self.roles.get(id).map(|r| r.1);
        let is_ksk = |id: &KeyId| self.roles.get(id).is_some_and(|r| r.0.is_ksk());
        for ds in self.parent.ds.live(t) {
            if ds.is_empty() {
                continue; // insecure delegation: nothing to validate
            }
            for dk in self.dnskey.live(t) {
                for data in self.data.live(t) {
                    let ctx = || {
                        format!(
                            "DS {ds:?} DNSKEY {:?} signed by {:?}, data signed by {data:?}",
                            dk.keys, dk.sigs
                        )
                    };
                    // (d) RFC 4035 §2.2 / RFC 6840 §5.11: each algorithm in the DNSKEY
                    // RRset signs the DNSKEY RRset and every other RRset.
                    let dk_algs: BTreeSet<Alg> = dk.keys.iter().filter_map(alg).collect();
                    for a in &dk_algs {
                        let signs = |set: &Set| {
                            set.iter()
                                .any(|k| alg(k) == Some(*a) && dk.keys.contains(k))
                        };
                        if !signs(&dk.sigs) || !signs(data) {
                            self.fail(format!(
                                "(d) algorithm {a} in DNSKEY RRset but not signing everything: {}",
                                ctx()
                            ));
                        }
                    }
                    // (a)(b) a validator that knows only algorithm A, for each A in the
                    // DS RRset, still finds a whole chain.
                    let ds_algs: BTreeSet<Alg> = ds.iter().filter_map(alg).collect();
                    if ds_algs.is_empty() {
                        self.fail(format!("DS names only unknown keys: {}", ctx()));
                    }
                    for a in ds_algs {
                        let entry = ds.iter().any(|k| {
                            alg(k) == Some(a)
                                && is_ksk(k)
                                && dk.keys.contains(k)
                                && dk.sigs.contains(k)
                        });
                        let zone = data
                            .iter()
                            .any(|k| alg(k) == Some(a) && dk.keys.contains(k));
                        if !entry {
                            self.fail(format!(
                                "(b) no {a} DS leads to a DNSKEY that signs the DNSKEY RRset: {}",
                                ctx()
                            ));
                        }
                        if !zone {
                            self.fail(format!(
                                "(a) zone data not signed by a published {a} key: {}",
                                ctx()
                            ));
                        }
                    }
                }
            }
        }
    }

    /// Plans, executes and applies until the planner only waits; then checks.
    fn settle(&mut self) -> Option<Timestamp> {
        let mut obs = self.observe();
        for round in 0.. {
            if round > 30 {
                self.fail("planner never settles".into());
            }
            let p = plan(&self.state, &self.policy, self.clock(), &obs);
            obs.clear();
            self.steps += 1;
            for w in &p.warnings {
                if !self.warnings.contains(w) {
                    self.say(format!("warning: {w}"));
                    self.warnings.push(w.clone());
                }
            }
            if p.is_idle() {
                // Waiting must still record what was seen, or the wait never ends.
                let notes: Vec<Outcome> = vec![];
                let _ = notes;
                return p.next_event;
            }
            let outcomes = self.execute(&p.actions);
            let failed = outcomes.iter().any(|o| matches!(o, Outcome::Failed { .. }));
            self.state = apply(&self.state, &outcomes, self.clock());
            self.check();
            if failed {
                // Retry a little later, as a server would.
                return Some(self.clock() + 10 * MINUTE);
            }
        }
        unreachable!()
    }

    /// Runs until `end`, calling `hook` at every step (to change policy, roll, ...).
    fn run(&mut self, end: Timestamp, mut hook: impl FnMut(&mut World)) {
        while self.t <= end {
            hook(self);
            self.parent_step();
            let next = self.settle();
            self.check();
            self.dnskey.prune(self.t);
            self.data.prune(self.t);
            self.parent.ds.prune(self.t);
            let mut t = self.next_poll;
            if let Some(n) = next {
                t = t.min(n + self.skew);
            }
            if let Some((due, _)) = &self.parent.pending {
                t = t.min(*due);
            }
            self.t = t.max(self.t + 1);
        }
    }

    fn done(&self, kind: &str) -> usize {
        self.finished.get(kind).copied().unwrap_or(0)
    }

    fn active(&self) -> Vec<(Role, Alg)> {
        let mut v: Vec<(Role, Alg)> = self.state.active().map(|k| (k.role, k.alg)).collect();
        v.sort();
        v
    }
}

fn kind_name(k: RollKind) -> &'static str {
    match k {
        RollKind::Initial => "initial",
        RollKind::Zsk => "zsk",
        RollKind::Ksk => "ksk",
        RollKind::Csk => "csk",
        RollKind::Algorithm => "algorithm",
        RollKind::Insecure => "insecure",
    }
}

const YEAR: u64 = 365 * DAY;

#[test]
fn zsk_prepublication_for_a_year() {
    let started = std::time::Instant::now();
    let mut w = World::new(
        base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256),
        ParentKind::Prompt,
        1,
    );
    w.run(START + YEAR, |_| {});
    assert_eq!(w.done("initial"), 1);
    assert!(w.done("zsk") >= 11, "{:?}", w.finished);
    assert_eq!(w.done("ksk"), 0);
    assert_eq!(w.active(), vec![(Role::Ksk, Alg(13)), (Role::Zsk, Alg(13))]);
    // The zone became secure at the parent and stayed so.
    assert!(!w.parent.ds.current().is_empty());
    assert!(w.steps < 100_000, "{} steps", w.steps);
    eprintln!(
        "a simulated year: {} plan calls in {:?}, {:?}",
        w.steps,
        started.elapsed(),
        w.finished
    );
}

#[test]
fn ksk_double_ds_for_a_year() {
    let mut p = base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 60 * DAY;
    let mut w = World::new(p, ParentKind::Prompt, 2);
    w.run(START + YEAR, |_| {});
    assert!(w.done("ksk") >= 5, "{:?}", w.finished);
    assert!(w.done("zsk") >= 10, "{:?}", w.finished);
    let ksk = w.state.active().find(|k| k.role == Role::Ksk).unwrap().id;
    assert!(w.parent.ds.current().contains(&ksk));
}

#[test]
fn ksk_roll_with_a_parent_that_adds_then_removes() {
    let mut p = base_policy(KeyScheme::KskZsk, Alg::ED25519);
    p.ksk_lifetime = 45 * DAY;
    let mut w = World::new(p, ParentKind::AddThenRemove, 3);
    w.run(START + YEAR, |_| {});
    assert!(w.done("ksk") >= 6, "{:?}", w.finished);
}

#[test]
fn csk_roll_for_a_year() {
    for (parent, seed) in [
        (ParentKind::Prompt, 4),
        (ParentKind::RemoveThenAdd, 5),
        (ParentKind::AddThenRemove, 6),
    ] {
        let mut p = base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256);
        p.ksk_lifetime = 30 * DAY;
        let mut w = World::new(p, parent, seed);
        w.run(START + YEAR, |_| {});
        assert!(w.done("csk") >= 10, "{parent:?}: {:?}", w.finished);
        assert_eq!(w.active(), vec![(Role::Csk, Alg(13))]);
    }
}

#[test]
fn algorithm_rollover_8_to_13() {
    let mut p = base_policy(KeyScheme::KskZsk, Alg::RSASHA256);
    p.ksk_lifetime = 0;
    let mut w = World::new(p, ParentKind::Prompt, 7);
    let mut switched = false;
    w.run(START + 120 * DAY, |w| {
        if !switched && w.t >= START + 30 * DAY {
            w.policy.algorithm = Alg::ECDSAP256SHA256;
            w.say("policy: algorithm 13".into());
            switched = true;
        }
    });
    assert_eq!(w.done("algorithm"), 1, "{:?}", w.finished);
    assert_eq!(w.active(), vec![(Role::Ksk, Alg(13)), (Role::Zsk, Alg(13))]);
    let ds = w.parent.ds.current();
    assert_eq!(ds.len(), 1);
    assert_eq!(w.roles[ds.iter().next().unwrap()].1, Alg(13));
    // Rolls by age went on afterwards with the new algorithm.
    assert!(w.done("zsk") >= 2, "{:?}", w.finished);
}

#[test]
fn algorithm_and_scheme_change_csk_to_split_and_back() {
    let mut w = World::new(
        base_policy(KeyScheme::Csk, Alg::ED25519),
        ParentKind::RemoveThenAdd,
        8,
    );
    let mut phase = 0;
    w.run(START + 200 * DAY, |w| {
        if phase == 0 && w.t >= START + 20 * DAY {
            w.policy.scheme = KeyScheme::KskZsk;
            w.policy.algorithm = Alg::RSASHA256;
            phase = 1;
        }
        if phase == 1 && w.t >= START + 100 * DAY {
            w.policy.scheme = KeyScheme::Csk;
            w.policy.algorithm = Alg::ECDSAP256SHA256;
            phase = 2;
        }
    });
    assert_eq!(w.done("algorithm"), 2, "{:?}", w.finished);
    assert_eq!(w.active(), vec![(Role::Csk, Alg(13))]);
}

#[test]
fn going_insecure() {
    let mut w = World::new(
        base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256),
        ParentKind::Prompt,
        9,
    );
    let mut off = false;
    w.run(START + 90 * DAY, |w| {
        if !off && w.t >= START + 40 * DAY {
            w.policy.enabled = false;
            off = true;
        }
    });
    assert_eq!(w.done("insecure"), 1, "{:?}", w.finished);
    assert!(w.state.keys.is_empty() && w.state.rolls.is_empty());
    assert!(w.parent.ds.current().is_empty());
    assert!(w.dnskey.current().keys.is_empty() && w.data.current().is_empty());
    assert!(w.cds.is_empty() && !w.cds_delete);
    // And back on: signed afresh from nothing.
    w.policy.enabled = true;
    w.run(START + 120 * DAY, |_| {});
    assert_eq!(w.done("initial"), 2);
    assert!(!w.parent.ds.current().is_empty());
}

#[test]
fn clock_jump_backwards_waits() {
    let policy = base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256);
    let mut s = State::default();
    let t0 = START;
    // First keys published at t0.
    for _ in 0..3 {
        let p = plan(&s, &policy, t0, &[]);
        let out: Vec<Outcome> = p
            .actions
            .iter()
            .map(|a| match a {
                Action::GenerateKey(n) => Outcome::Generated {
                    id: n.id,
                    tag: 1,
                    file: "k".into(),
                },
                a => Outcome::Done(a.clone()),
            })
            .collect();
        s = apply(&s, &out, t0);
    }
    let ahead = plan(&s, &policy, t0 + 10, &[]);
    assert!(ahead.warnings.is_empty());
    let event = ahead.next_event.unwrap();
    // The clock goes back a day: nothing is done, the old event stands, a warning says why.
    let back = plan(&s, &policy, t0 - DAY, &[]);
    assert!(back.actions.is_empty());
    assert_eq!(back.next_event, Some(event));
    assert!(matches!(back.warnings[..], [Warning::ClockWentBack { .. }]));
    // Outcomes applied with an old clock never date records earlier than last_seen.
    let s2 = apply(&s, &[], t0 - DAY);
    assert_eq!(s2.last_seen, t0);

    // In a running world: the clock goes back 3 days during rolls; invariants hold and
    // the planner resumes once the clock passes the last time it acted.
    let mut p = base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 20 * DAY;
    let mut w = World::new(p, ParentKind::Prompt, 10);
    let mut jumped = false;
    w.run(START + 200 * DAY, |w| {
        // Right after the planner acted, so the clock lands before last_seen.
        if !jumped && w.t >= START + 21 * DAY && w.t < w.state.last_seen + HOUR {
            w.skew = 3 * DAY;
            jumped = true;
        }
    });
    assert!(w
        .warnings
        .iter()
        .any(|x| matches!(x, Warning::ClockWentBack { .. })));
    assert!(w.done("csk") >= 7, "{:?}", w.finished);
}

#[test]
fn parent_slow_or_silent_the_planner_waits() {
    // Slow: the registrar takes 10 to 20 days.
    let mut p = base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 60 * DAY;
    let mut w = World::new(p, ParentKind::Prompt, 11);
    w.parent.delay = (10 * DAY, 20 * DAY);
    w.run(START + YEAR, |_| {});
    assert!(w.done("ksk") >= 3, "{:?}", w.finished);
    assert!(w
        .warnings
        .iter()
        .any(|x| matches!(x, Warning::ParentSlow { .. })));

    // Silent: the planner waits for ever (zone stays valid), until the operator puts the
    // DS in at the registrar and says so.
    let mut p = base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 30 * DAY;
    let mut w = World::new(p, ParentKind::Never, 12);
    w.run(START + 100 * DAY, |_| {});
    assert_eq!(w.done("initial"), 1);
    assert_eq!(w.done("csk"), 0, "nothing may finish without the parent");
    assert!(w.parent.ds.current().is_empty());
    // The operator adds the DS by hand; the planner learns it from the next poll.
    let csk = w.state.keys[0].id;
    let hold = w.policy.parent_propagation_delay + u64::from(w.policy.ds_ttl);
    w.parent.ds.set(w.t, [csk].into(), hold);
    w.run(START + 200 * DAY, |_| {});
    assert!(
        w.done("csk") == 0,
        "still waiting on a parent that ignores CDS: {:?}",
        w.finished
    );
    // Operator confirmation path: the operator swaps the DS and confirms.
    let state = &w.state;
    let roll = state
        .rolls
        .iter()
        .find(|r| r.kind == RollKind::Csk)
        .expect("csk roll waiting");
    let new = roll.new[0].id;
    w.parent.ds.set(w.t, [new].into(), hold);
    let t = w.clock();
    let obs = [DsObservation {
        at: t,
        source: DsSource::Operator,
        keys: vec![new],
        unmatched: 0,
    }];
    let pl = plan(&w.state, &w.policy, t, &obs);
    assert!(pl.actions.contains(&Action::NoteParentDs {
        key: new,
        present: true,
        at: t
    }));
    let out: Vec<Outcome> = pl.actions.iter().cloned().map(Outcome::Done).collect();
    w.execute(&pl.actions);
    w.state = apply(&w.state, &out, t);
    w.check();
    w.run(START + 240 * DAY, |w| {
        // From here on the operator copies each CDS change by hand within a day.
        if w.parent.pending.is_none() && !w.cds.is_empty() && *w.parent.ds.current() != w.cds {
            let d = w.rng.range(HOUR, DAY);
            w.parent.pending = Some((w.t + d, w.cds.clone()));
        }
    });
    assert!(w.done("csk") >= 1, "{:?}", w.finished);
}

#[test]
fn manual_roll() {
    let mut w = World::new(
        base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256),
        ParentKind::Prompt,
        13,
    );
    w.policy.zsk_lifetime = 0;
    w.run(START + 10 * DAY, |_| {});
    assert_eq!(w.done("zsk"), 0);
    let e = roll(&w.state, Role::Csk, w.clock()).unwrap_err();
    assert!(e.to_string().contains("no active CSK"), "{e}");
    w.state = roll(&w.state, Role::Zsk, w.clock()).unwrap();
    assert!(roll(&w.state, Role::Zsk, w.clock()).is_err(), "asked twice");
    w.state = roll(&w.state, Role::Ksk, w.clock()).unwrap();
    w.run(w.t + HOUR, |_| {});
    let e = roll(&w.state, Role::Zsk, w.clock()).unwrap_err();
    assert!(e.to_string().contains("ZSK roll is in progress"), "{e}");
    w.run(START + 30 * DAY, |_| {});
    assert_eq!(w.done("zsk"), 1);
    assert_eq!(w.done("ksk"), 1);
    assert!(w.state.requests.is_empty());
}

#[test]
fn failed_batches_are_retried_safely() {
    let mut p = base_policy(KeyScheme::KskZsk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 40 * DAY;
    let mut w = World::new(p, ParentKind::AddThenRemove, 14);
    w.fail = 30;
    w.run(START + YEAR, |_| {});
    assert!(w.done("ksk") >= 5 && w.done("zsk") >= 9, "{:?}", w.finished);
}

#[test]
fn ttl_lowered_mid_roll_is_honoured_only_after_the_old_ttl() {
    let mut p = base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256);
    p.ksk_lifetime = 20 * DAY;
    p.dnskey_ttl = 86400;
    let mut w = World::new(p, ParentKind::Prompt, 15);
    let mut flip = 0u64;
    w.run(START + 150 * DAY, |w| {
        // Lower and raise the TTLs every 7 days; every cache keeps what it got.
        if w.t >= START + flip * 7 * DAY {
            flip += 1;
            let low = flip % 2 == 1;
            w.policy.dnskey_ttl = if low { 300 } else { 86400 };
            w.policy.zone_max_ttl = if low { 600 } else { 86400 };
            w.policy.signature_refresh = 5 * DAY;
        }
    });
    assert!(w.done("csk") >= 5, "{:?}", w.finished);
}

/// Random policies, parents, failures, manual rolls, policy changes and clock jumps,
/// a year each; the invariants are checked after every step.
#[test]
fn random_years() {
    let seeds: u64 = std::env::var("ROLL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    for seed in 1..=seeds {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let algs = [Alg::RSASHA256, Alg::ECDSAP256SHA256, Alg::ED25519];
        let scheme = if r.chance(50) {
            KeyScheme::Csk
        } else {
            KeyScheme::KskZsk
        };
        let mut p = base_policy(scheme, algs[r.below(3) as usize]);
        p.dnskey_ttl = r.range(60, 2 * DAY) as u32;
        p.zone_max_ttl = r.range(60, 2 * DAY) as u32;
        p.ds_ttl = r.range(60, 2 * DAY) as u32;
        p.propagation_delay = r.range(0, HOUR);
        p.parent_propagation_delay = r.range(0, 6 * HOUR);
        p.publish_safety = r.range(0, 2 * HOUR);
        p.retire_safety = r.range(0, 2 * HOUR);
        p.signature_refresh = 3 * DAY;
        p.signature_validity = 14 * DAY;
        let min = 2
            * (p.dnskey_publish_interval()
                + p.zone_publish_interval()
                + p.dnskey_retire_interval()
                + p.zone_retire_interval());
        p.zsk_lifetime = if r.chance(10) {
            0
        } else {
            r.range(min, 60 * DAY)
        };
        p.ksk_lifetime = if r.chance(20) {
            0
        } else {
            r.range(min, 120 * DAY)
        };
        let parents = [
            ParentKind::Prompt,
            ParentKind::AddThenRemove,
            ParentKind::RemoveThenAdd,
            ParentKind::Stale,
        ];
        let parent = parents[r.below(4) as usize];
        let registrar = p.registrar_delay;
        let mut w = World::new(p, parent, r.next());
        w.parent.delay = (r.range(0, HOUR), r.range(HOUR, 5 * DAY));
        if parent == ParentKind::Stale {
            w.parent.delay = (0, r.range(0, registrar));
        }
        w.poll = r.range(10 * MINUTE, 6 * HOUR);
        w.fail = if r.chance(30) { r.range(1, 30) } else { 0 };
        // A few events at random times.
        let mut events: Vec<(Timestamp, u8)> = (0..r.range(0, 6))
            .map(|_| (START + r.range(DAY, YEAR), r.below(6) as u8))
            .collect();
        events.sort();
        let mut ev = 0;
        let mut r2 = Rng(r.next() | 1);
        w.run(START + YEAR, |w| {
            while ev < events.len() && w.t >= events[ev].0 {
                match events[ev].1 {
                    0 => {
                        let role = w.state.active().next().map(|k| k.role);
                        if let Some(role) = role {
                            if let Ok(s) = roll(&w.state, role, w.clock()) {
                                w.state = s;
                            }
                        }
                    }
                    1 => w.policy.algorithm = algs[r2.below(3) as usize],
                    2 => {
                        w.policy.scheme = if w.policy.scheme == KeyScheme::Csk {
                            KeyScheme::KskZsk
                        } else {
                            KeyScheme::Csk
                        }
                    }
                    3 => w.skew += r2.range(MINUTE, 3 * DAY),
                    4 => w.policy.enabled = !w.policy.enabled,
                    _ => w.policy.dnskey_ttl = r2.range(60, 2 * DAY) as u32,
                }
                w.say(format!("event {:?}", events[ev]));
                ev += 1;
            }
        });
        // Liveness: the zone got signed, and unless events intervened late, every key
        // is younger than its lifetime plus a generous roll's length.
        assert!(w.done("initial") >= 1, "seed {seed}: {:?}", w.finished);
        let pol = &w.policy;
        let quiet = events.last().is_none_or(|e| e.0 + 60 * DAY < w.t);
        if quiet && pol.enabled {
            for k in w.state.keys.iter().filter(|k| k.active_since.is_some()) {
                let life = pol.lifetime(k.role);
                let age = w.clock() - k.active_since.unwrap();
                assert!(
                    life == 0 || age <= life + 40 * DAY,
                    "seed {seed}: {} {} is {}d old, lifetime {}d: {:?}",
                    k.role,
                    k.id,
                    age / DAY,
                    life / DAY,
                    w.finished
                );
            }
        }
        if w.state.rolls.is_empty() && pol.enabled {
            let mut want: Vec<Role> = pol.scheme.roles().to_vec();
            want.sort();
            let have: Vec<Role> = w.active().iter().map(|a| a.0).collect();
            assert_eq!(have, want, "seed {seed}");
        }
    }
}

#[test]
fn adopted_keys_roll_on() {
    // A zone moved from BIND with its keys; the parent already has the KSK's DS.
    let mut p = base_policy(KeyScheme::KskZsk, Alg::RSASHA256);
    p.ksk_lifetime = 60 * DAY;
    let mut w = World::new(p, ParentKind::Prompt, 16);
    let adopted = [
        Adopted {
            role: Role::Ksk,
            alg: Alg(8),
            bits: Some(2048),
            tag: 1,
            file: "Kexample.+008+00001.private".into(),
        },
        Adopted {
            role: Role::Zsk,
            alg: Alg(8),
            bits: Some(2048),
            tag: 2,
            file: "Kexample.+008+00002.private".into(),
        },
    ];
    w.state = adopt(&State::default(), &adopted, START).unwrap();
    assert!(adopt(&w.state, &adopted, START).is_err());
    let (ksk, zsk) = (w.state.keys[0].id, w.state.keys[1].id);
    for k in &w.state.keys {
        w.roles.insert(k.id, (k.role, k.alg));
    }
    let long = START - 30 * DAY;
    // Published under the same TTLs the policy states (the planner cannot know others).
    let hk = w.policy.propagation_delay + u64::from(w.policy.dnskey_ttl);
    let hz = w.policy.propagation_delay + u64::from(w.policy.zone_max_ttl);
    let hd = w.policy.parent_propagation_delay + u64::from(w.policy.ds_ttl);
    w.dnskey = Hist::with(
        long,
        hk,
        DnskeySet {
            keys: [ksk, zsk].into(),
            sigs: [ksk].into(),
        },
    );
    w.data = Hist::with(long, hz, [zsk].into());
    w.parent.ds = Hist::with(long, hd, [ksk].into());
    w.run(START + 200 * DAY, |_| {});
    assert_eq!(w.done("initial"), 0);
    assert!(w.done("ksk") >= 2 && w.done("zsk") >= 5, "{:?}", w.finished);
    assert!(!w.state.keys.iter().any(|k| k.id == ksk || k.id == zsk));
}

#[test]
fn status_texts() {
    let a = Action::WaitForParentDs {
        add: vec![KeyId(3)],
        remove: vec![KeyId(1)],
    };
    assert_eq!(
        a.to_string(),
        "wait for the parent to add DS [key#3] and remove DS [key#1]"
    );
    let w = Waiting::ParentDs {
        key: KeyId(3),
        present: true,
        since: Some(5),
    };
    assert_eq!(
        w.to_string(),
        "parent to publish the DS of key#3 (asked at 5)"
    );
    let p = plan(
        &State::default(),
        &base_policy(KeyScheme::Csk, Alg(13)),
        START,
        &[],
    );
    let texts: Vec<String> = p.actions.iter().map(|a| a.to_string()).collect();
    assert!(
        texts.iter().any(|t| t.starts_with("begin initial signing")),
        "{texts:?}"
    );
}

#[test]
fn insecure_waits_out_a_stale_cds() {
    // The parent read the CDS and acts on it up to the registrar delay later, even
    // though the zone has meanwhile decided to go insecure.
    for at in [2 * HOUR, 20 * HOUR, 40 * HOUR] {
        let mut w = World::new(
            base_policy(KeyScheme::Csk, Alg::ECDSAP256SHA256),
            ParentKind::Stale,
            17,
        );
        w.parent.delay = (
            w.policy.registrar_delay - HOUR,
            w.policy.registrar_delay - HOUR,
        );
        let mut off: Option<Timestamp> = None;
        w.run(START + 30 * DAY, |w| {
            if off.is_none() && !w.cds.is_empty() && w.t >= START + DAY + at {
                w.policy.enabled = false;
                off = Some(w.t);
            }
        });
        assert!(off.is_some());
        assert_eq!(w.done("insecure"), 1, "{:?}", w.finished);
        assert!(w.parent.ds.current().is_empty() && w.state.keys.is_empty());
    }
}
