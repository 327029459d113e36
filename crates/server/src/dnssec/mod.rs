//! Signing a zone inside the server and carrying out its key rollovers.
//!
//! Design note. A zone configured with `dnssec = true` (or a policy table) carries a
//! [`ZoneDnssec`]: its validated [`Policy`], its state folder `<state>/<zone>/` (the
//! key state `keystate.toml`, owned by `dnssec::state`, and the BIND key files in
//! `keys/`), and the parent's servers to ask for the DS. The decisions are the pure
//! planner's (`dnssec::roll`); this module is its executor:
//!
//!   plan -> carry out (generate keys) -> sign with the key sets the new records imply
//!   ([`sets`]) -> publish (swap) -> apply the outcomes -> save the state -> replan
//!
//! until the plan is idle, on every control-loop tick and at the plan's next event.
//! A failure to generate, sign or save publishes nothing (the old snapshot keeps
//! serving), is logged, and is retried at the next tick; a state saved after a swap
//! that then fails to save is kept in memory and saved before any further step.
//!
//! A zone with BIND keys in `keys/` but no state adopts them as active keys long
//! published, DS included (a move from BIND keeps the DS); a zone with nothing starts
//! the planner's initial signing. Operator requests (`blason dnssec roll`, `ds-seen`)
//! arrive as files ([`files`]); only this module writes the state.
//!
//! The clock is read by the caller and passed in. Refuses: key formats, chains and
//! signatures (crate `dnssec`), deciding anything about a roll (the planner).
#![forbid(unsafe_code)]

pub mod files;
pub mod parent;
pub mod sets;
pub mod status;

use crate::log;
use blason_dnssec::keys::{
    bind_base_name, read_bind, read_bind_dir, write_bind, Algorithm, DigestType, Key, KeyError,
    FLAG_SEP, FLAG_ZONE,
};
use blason_dnssec::policy::{self, Policy};
use blason_dnssec::roll::{
    self, adopt, apply, plan, Action, Adopted, Alg, DsObservation, DsSource, KeyId, NewKey,
    Outcome, Rec, Role, RollError, State, Timestamp,
};
use blason_dnssec::sign::{
    incremental, sign_zone, Denial, Nsec3Params, SignOptions, Validity, ZoneKeys,
};
use blason_dnssec::state::{zone_dir_name, StateDir};
use blason_dnssec::Error as DnssecError;
use blason_zone::encoding::hex_encode;
use blason_zone::fault::BoxedError;
use blason_zone::{Name, Rtype, Zone};
use files::Request;
use sets::KeySets;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Plans carried out in one tick at most (a roll has a handful of steps).
const MAX_STEPS: usize = 32;

/// The folder of a zone's keys under the state folder: `<state>/<zone>/keys`.
pub fn key_dir(state: &Path, origin: &Name) -> PathBuf {
    zone_dir(state, origin).join("keys")
}

/// The zone's own folder under the state folder.
pub fn zone_dir(state: &Path, origin: &Name) -> PathBuf {
    state.join(zone_dir_name(&zone_key(origin)))
}

/// The zone's name as the state files spell it.
pub fn zone_key(origin: &Name) -> String {
    origin.to_lowercase().to_string()
}

/// A zone's DNSSEC settings and its executor's memory, shared by every load.
pub struct ZoneDnssec {
    pub policy: Policy,
    pub origin: Name,
    pub state_root: PathBuf,
    /// The parent zone's servers, asked for the DS; empty: the operator says so.
    pub parents: Vec<SocketAddr>,
    run: Mutex<Run>,
}

impl std::fmt::Debug for ZoneDnssec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZoneDnssec")
            .field("origin", &self.origin)
            .field("policy", &self.policy)
            .field("state_root", &self.state_root)
            .field("parents", &self.parents)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Run {
    state: Option<State>,
    /// The state in memory was applied after a swap but could not be saved yet.
    unsaved: bool,
    keys: HashMap<KeyId, Key>,
    /// The latest checked zone, before signing.
    unsigned: Option<Arc<Zone>>,
    /// The key sets of the snapshot being served.
    served: Option<KeySets>,
    /// The signed snapshot being served, and the unsigned zone it was made from: the
    /// base of the next incremental step.
    signed: Option<(Arc<Zone>, Arc<Zone>)>,
    /// The unsigned zone changed since it was last signed.
    dirty: bool,
    /// Earliest RRSIG expiration of the served snapshot (0: none).
    expiry: u64,
    next_parent_poll: u64,
    /// An operator's `ds-seen` waiting for a plan that waits for the parent.
    operator_seen: Option<Timestamp>,
    /// Messages already logged, so a waiting roll does not repeat itself every tick.
    said: HashSet<String>,
    last_error: Option<(String, u64)>,
    /// The snapshot came from the journal: the state read next says what signed it.
    restored: bool,
    /// A step waits for the parent's DS (asked of the parent's servers when due).
    waiting_parent: bool,
    /// The parent's servers being asked, on a thread of their own (a slow parent
    /// never holds up the control loop): when asked, and where the answers land.
    parent_query: Option<(Timestamp, ParentAnswers)>,
}

/// Each parent server's DS rdatas, or why it could not say; filled by the asking thread.
type ParentAnswers = Arc<Mutex<Option<Vec<Result<Vec<Vec<u8>>, parent::DsQueryError>>>>>;

impl ZoneDnssec {
    pub fn new(policy: Policy, origin: Name, state_root: PathBuf) -> ZoneDnssec {
        ZoneDnssec {
            policy,
            origin,
            state_root,
            parents: Vec::new(),
            run: Mutex::new(Run::default()),
        }
    }

    pub fn key_dir(&self) -> PathBuf {
        key_dir(&self.state_root, &self.origin)
    }

    pub fn zone_dir(&self) -> PathBuf {
        zone_dir(&self.state_root, &self.origin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Run> {
        self.run.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A freshly read and checked zone: signed with the keys the state names now. At
    /// the first load the state is read (or begun) and planned until idle first.
    pub fn load(&self, zone: Arc<Zone>, now: &dyn Fn() -> u64) -> Result<Arc<Zone>, DnssecError> {
        // The largest TTL, looked at where the zone changed: all of it after a file
        // read, only the changed chunks' nodes after a few edits.
        let max = {
            let run = self.lock();
            let few = (zone.nodes().len() / 8).max(4096);
            match run
                .unsigned
                .as_ref()
                .and_then(|u| zone.changed_since(u, few))
            {
                Some(pairs) => pairs
                    .iter()
                    .filter_map(|p| p.1)
                    .filter(|n| n.is_authoritative())
                    .flat_map(|n| n.rrsets.iter().map(|r| r.ttl))
                    .max()
                    .unwrap_or(0),
                None => max_ttl(&zone),
            }
        };
        if max > self.policy.zone_max_ttl {
            // Roll steps wait zone-max-ttl for old signatures to leave caches.
            log::warn(
                "dnssec: the zone has a TTL above the policy's zone-max-ttl; roll steps could outrun caches holding old signatures — raise zone-max-ttl",
                &[
                    ("zone", &self.origin),
                    ("largest_ttl", &max),
                    ("zone_max_ttl", &self.policy.zone_max_ttl),
                ],
            );
        }
        let mut run = self.lock();
        run.unsigned = Some(zone);
        run.dirty = true;
        if run.state.is_none() {
            if !self.state_root.exists() {
                StateDir::create(&self.state_root)?;
                log::warn(
                    "dnssec: the state folder did not exist and was created; zones without key state get new keys — if they were signed before (a DS at the parent), stop and restore the folder from a backup",
                    &[("folder", &self.state_root.display())],
                );
            }
            // Nothing is served yet: the first snapshot is the one the plans build
            // (or the journal's, when nothing needs signing anew).
            let mut out = None;
            self.tick_locked(&mut run, now, &mut |z| {
                out = Some(z);
                Ok(())
            })?;
            return out
                .or_else(|| run.signed.as_ref().map(|(z, _)| z.clone()))
                .ok_or(DnssecError::Internal("a first plan that signs nothing"));
        }
        let state = run.state.clone().unwrap_or_default();
        let sets = KeySets::of(&state);
        let t = now();
        // Signatures due (a zone restored from an old journal) are made anew in the
        // same pass, so the snapshot this returns is fit to serve.
        let refresh = run.expiry != 0 && self.policy.needs_refresh(run.expiry, t);
        self.sign(&mut run, &sets, t, refresh)
    }

    /// Reads the key state and every key file it names (nothing is signed): a zone
    /// restored from its journal refuses to start on keys it could not sign with.
    pub fn open_keys(&self, now: u64) -> Result<(), DnssecError> {
        let mut run = self.lock();
        let dir = StateDir::open(&self.state_root)?;
        self.open_state(&mut run, &dir, now)
    }

    /// An operator's request, from the control socket: carried out at once (a roll
    /// is begun and saved; a DS confirmation waits for the next tick, which the
    /// caller runs). The reply says what was done.
    pub fn request(&self, r: Request, now: u64) -> Result<String, DnssecError> {
        let mut run = self.lock();
        let dir = StateDir::open(&self.state_root)?;
        self.open_state(&mut run, &dir, now)?;
        let state = run
            .state
            .clone()
            .ok_or(DnssecError::Internal("no key state after opening it"))?;
        match r {
            Request::Roll(role) => {
                self.begin_roll(&mut run, &dir, &state, role, (now, now))?;
                Ok(format!(
                    "{role} roll of {} requested and begun",
                    self.origin
                ))
            }
            Request::DsSeen => {
                run.operator_seen = Some(now.max(1));
                Ok(format!(
                    "the parent's DS for {} confirmed; the roll goes on",
                    self.origin
                ))
            }
        }
    }

    /// `blason dnssec status` from the state this executor holds (read from the
    /// files when it has not run yet).
    pub fn status(&self, now: u64) -> Result<String, DnssecError> {
        let mut run = self.lock();
        let dir = StateDir::open(&self.state_root)?;
        self.open_state(&mut run, &dir, now)?;
        let state = run
            .state
            .clone()
            .ok_or(DnssecError::Internal("no key state after opening it"))?;
        let parents: Vec<String> = self.parents.iter().map(|p| p.to_string()).collect();
        let subject = status::Subject {
            origin: &self.origin,
            dir: &self.zone_dir(),
            policy: &self.policy,
            policy_from: "the running server",
            parents: &parents,
        };
        Ok(status::render(&subject, &state, &run.keys, now))
    }

    /// Takes up a snapshot restored from the journal as what is served: the base of
    /// the next incremental step, `unsigned` the data it was made from. The key sets
    /// that signed it are taken to be the saved state's; a plan that moves on from
    /// there re-signs what its new sets change.
    pub fn restore(&self, served: Arc<Zone>, unsigned: Arc<Zone>, now: u64) {
        let mut run = self.lock();
        let signed = served.apex().rrset(Rtype::RRSIG).is_some();
        run.expiry = if signed {
            incremental::earliest_expiration(&served, now).unwrap_or(0)
        } else {
            0
        };
        run.signed = signed.then(|| (served, unsigned.clone()));
        run.unsigned = Some(unsigned);
        run.dirty = false;
        run.restored = true;
        if let Some(s) = run.state.clone() {
            Self::take_restored_sets(&mut run, &s);
        }
    }

    /// The key sets of a restored snapshot: the state's, when they agree on whether
    /// the zone is signed at all.
    fn take_restored_sets(run: &mut Run, s: &State) {
        if run.restored {
            let sets = KeySets::of(s);
            if sets.is_unsigned() != run.signed.is_some() {
                run.served = Some(sets);
            }
            run.restored = false;
        }
    }

    /// One control-loop step. `publish` commits a new snapshot (an error publishes
    /// nothing and records no outcome); returns when the planner wants to be asked again.
    pub fn tick(
        &self,
        now: &dyn Fn() -> u64,
        publish: &mut dyn FnMut(Arc<Zone>) -> Result<(), BoxedError>,
    ) -> Result<Option<Timestamp>, DnssecError> {
        let mut run = self.lock();
        if run.unsigned.is_none() {
            return Ok(None);
        }
        self.tick_locked(&mut run, now, publish)
    }

    /// Logs an error of [`ZoneDnssec::tick`], once a minute while it repeats.
    pub fn report(&self, error: &DnssecError, now: u64) {
        let error = error.to_string();
        let mut run = self.lock();
        let repeat = run
            .last_error
            .as_ref()
            .is_some_and(|(e, at)| *e == error && now < at + 60);
        if !repeat {
            log::error(
                "dnssec: step failed; the served zone is unchanged, retrying",
                &[("zone", &self.origin), ("reason", &error)],
            );
            run.last_error = Some((error, now));
        }
    }

    /// The executor's loop: plan, carry out, sign and publish, record and save, until
    /// the plan is idle.
    fn tick_locked(
        &self,
        run: &mut Run,
        now: &dyn Fn() -> u64,
        publish: &mut dyn FnMut(Arc<Zone>) -> Result<(), BoxedError>,
    ) -> Result<Option<Timestamp>, DnssecError> {
        let dir = StateDir::open(&self.state_root)?;
        self.open_state(run, &dir, now())?;
        self.take_requests(run, &dir, now())?;
        let mut obs: Vec<DsObservation> = Vec::new();
        let mut polled = false;
        let mut next = None;
        for _ in 0..MAX_STEPS {
            let t = now();
            let state = run.state.clone().expect("opened above");
            let p = plan(&state, &self.policy, t, &obs);
            self.log_warnings(run, &p.warnings);
            if let Some(o) = self.parent_evidence(run, &state, &p.actions, t, &mut polled) {
                obs.push(o);
                continue;
            }
            let refresh = run.expiry != 0 && self.policy.needs_refresh(run.expiry, t);
            if p.is_idle() && !run.dirty && !refresh && run.served.is_some() {
                next = p.next_event;
                break;
            }
            let (outcomes, deleted) = self.carry_out(run, &state, &p.actions, t)?;
            // All of one plan's changes go out in one snapshot.
            let sets = KeySets::of(&apply(&state, &outcomes, t));
            if run.served.as_ref() != Some(&sets) || run.dirty || refresh {
                let before = run.signed.as_ref().map(|(z, _)| z.clone());
                let signed = self.sign(run, &sets, t, refresh)?;
                // A refresh that found nothing due leaves the snapshot as it is.
                if !before.is_some_and(|b| Arc::ptr_eq(&b, &signed)) {
                    publish(signed).map_err(DnssecError::Commit)?;
                }
            }
            // Served from now: the outcomes count from this moment, and are saved first.
            let new = apply(&state, &outcomes, now().max(t));
            for a in p.actions.iter().filter(|a| a.changes_state()) {
                log::info(
                    "dnssec step",
                    &[
                        ("zone", &self.origin),
                        ("done", &ActionText(a, &new, &state)),
                    ],
                );
            }
            run.state = Some(new.clone());
            if let Err(e) = dir.save(&zone_key(&self.origin), &new) {
                run.unsaved = true;
                return Err(e.into());
            }
            for id in deleted {
                if let Some(k) = state.key(id) {
                    self.delete_files(k);
                }
                run.keys.remove(&id);
            }
            if p.is_idle() {
                next = p.next_event;
                break;
            }
        }
        self.gauges(run, next, now());
        if run.expiry != 0 {
            let r = run.expiry.saturating_sub(self.policy.signature_refresh);
            next = Some(next.map_or(r, |w: u64| w.min(r)));
        }
        if run.waiting_parent && !self.parents.is_empty() {
            // Answers in flight are read a second later; else the next poll.
            let r = match &run.parent_query {
                Some(_) => now() + 1,
                None => run.next_parent_poll,
            };
            next = Some(next.map_or(r, |w: u64| w.min(r)));
        }
        Ok(next)
    }

    /// What `/metrics` shows of this zone: signatures' earliest expiry, the roll's
    /// stage, and when the planner next acts (`next`).
    fn gauges(&self, run: &Run, next: Option<Timestamp>, t: Timestamp) {
        let Some(state) = &run.state else { return };
        let (stage, stages) = state.rolls.first().map_or((0, 0), |r| {
            let n = blason_dnssec::roll::stages(r, state).len() as u64;
            let cur = blason_dnssec::roll::current_stage(r, state, &self.policy, t) as u64;
            ((cur + 1).min(n), n)
        });
        crate::stats::set_zone_dnssec(
            &self.origin,
            crate::stats::ZoneDnssec {
                earliest_expiry: run.expiry,
                roll_stage: stage,
                roll_stages: stages,
                next_step: next.unwrap_or(0),
            },
        );
    }

    /// Reads the state and keys at the first tick; saves a state left unsaved.
    fn open_state(&self, run: &mut Run, dir: &StateDir, now: Timestamp) -> Result<(), DnssecError> {
        if run.state.is_none() {
            let s = self.load_state(dir, now)?;
            self.load_keys(run, &s)?;
            let pol = files::policy_toml(&self.policy);
            files::make_dir(&self.zone_dir())?;
            let pf = self.zone_dir().join(files::POLICY_FILE);
            if std::fs::read_to_string(&pf).ok().as_deref() != Some(pol.as_str()) {
                blason_dnssec::state::write_atomic(&pf, pol.as_bytes(), 0o600)?;
            }
            Self::take_restored_sets(run, &s);
            run.state = Some(s);
        }
        if run.unsaved {
            if let Some(s) = &run.state {
                dir.save(&zone_key(&self.origin), s)?;
            }
            run.unsaved = false;
        }
        Ok(())
    }

    /// Each kind of warning once while it lasts (its numbers change every tick).
    fn log_warnings(&self, run: &mut Run, warnings: &[roll::Warning]) {
        if warnings.is_empty() {
            run.said.retain(|m| !m.starts_with("w:"));
        }
        for w in warnings {
            let text = w.to_string();
            let key: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
            if run.said.insert(format!("w:{key}")) {
                log::warn(&format!("dnssec: {text}"), &[("zone", &self.origin)]);
            }
        }
    }

    /// What the parent publishes, when the plan waits for it: the operator's word if
    /// given, else the parent's servers (at most once a tick, and not too often).
    fn parent_evidence(
        &self,
        run: &mut Run,
        state: &State,
        actions: &[Action],
        t: Timestamp,
        polled: &mut bool,
    ) -> Option<DsObservation> {
        let waits: Vec<(&[KeyId], &[KeyId])> = actions
            .iter()
            .filter_map(|a| match a {
                Action::WaitForParentDs { add, remove } => {
                    Some((add.as_slice(), remove.as_slice()))
                }
                _ => None,
            })
            .collect();
        run.waiting_parent = !waits.is_empty();
        if waits.is_empty() {
            run.said.retain(|m| !m.starts_with("dnssec: waiting"));
            if run.operator_seen.take().is_some() {
                log::warn(
                    "dnssec: ds-seen ignored: no step waits for the parent's DS now",
                    &[("zone", &self.origin)],
                );
            }
            return None;
        }
        if let Some(at) = run.operator_seen.take() {
            let keys = expected_ds(state, &waits);
            log::info(
                "dnssec: the operator confirms the parent's DS",
                &[("zone", &self.origin), ("keys", &ids_text(state, &keys))],
            );
            return Some(DsObservation {
                at: at.min(t).max(state.last_seen),
                source: DsSource::Operator,
                keys,
                unmatched: 0,
            });
        }
        if *polled || (run.parent_query.is_none() && t < run.next_parent_poll) {
            return None;
        }
        *polled = true;
        if run.parent_query.is_none() {
            run.next_parent_poll = t + parent_poll_interval(&self.policy);
        }
        self.observe(run, state, t)
    }

    /// Carries out a plan's actions: only key generation is work here; the rest shows
    /// in the signing. Returns the outcomes and the keys to delete once saved.
    fn carry_out(
        &self,
        run: &mut Run,
        state: &State,
        actions: &[Action],
        t: Timestamp,
    ) -> Result<(Vec<Outcome>, Vec<KeyId>), DnssecError> {
        let mut outcomes = Vec::with_capacity(actions.len());
        let mut deleted = Vec::new();
        for a in actions {
            match a {
                Action::GenerateKey(n) => {
                    let (key, file) = self.generate(run, state, n, t)?;
                    log::info(
                        "dnssec key generated",
                        &[
                            ("zone", &self.origin),
                            ("key", &n.id),
                            ("tag", &key.tag),
                            ("role", &n.role),
                            ("algorithm", &n.alg),
                            ("file", &file),
                        ],
                    );
                    outcomes.push(Outcome::Generated {
                        id: n.id,
                        tag: key.tag,
                        file,
                    });
                    run.keys.insert(n.id, key);
                }
                a => {
                    if let Action::DeleteKey(id) = a {
                        deleted.push(*id);
                    }
                    outcomes.push(Outcome::Done(a.clone()));
                }
            }
        }
        Ok((outcomes, deleted))
    }

    /// Logs `msg` the first time only.
    fn once(&self, run: &mut Run, level: log::Level, msg: &str) {
        if run.said.insert(msg.to_string()) {
            log::log(level, msg, &[("zone", &self.origin)]);
        }
    }

    /// The state on disk; a zone without one adopts its BIND keys or starts afresh.
    fn load_state(&self, dir: &StateDir, now: Timestamp) -> Result<State, DnssecError> {
        let zone = zone_key(&self.origin);
        if dir.state_file(&zone).exists() {
            return dir
                .load(&zone)?
                .ok_or(DnssecError::Internal("key state vanished while reading"));
        }
        let kd = self.key_dir();
        let bind = if kd.is_dir() {
            read_bind_dir(&self.origin, &kd).map_err(|error| DnssecError::Key {
                path: kd.clone(),
                error,
            })?
        } else {
            Vec::new()
        };
        if bind.is_empty() {
            // Only request or policy files (or an empty keys folder) may be there.
            let strangers: Vec<String> = std::fs::read_dir(self.zone_dir())
                .map(|rd| {
                    rd.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .filter(|n| !files::is_ours(n) && n != "keys")
                        .collect()
                })
                .unwrap_or_default();
            if !strangers.is_empty() {
                return Err(dir.load(&zone).err().map_or_else(
                    || {
                        DnssecError::Refused(format!(
                            "unexpected files in {}",
                            self.zone_dir().display()
                        ))
                    },
                    DnssecError::State,
                ));
            }
            self.check_parent_has_no_ds()?;
            log::info(
                "dnssec: no keys yet; starting the initial signing",
                &[("zone", &self.origin)],
            );
            return Ok(State::default());
        }
        let adopted: Vec<Adopted> = bind
            .iter()
            .map(|k| Adopted {
                role: role_of(k, &bind),
                alg: Alg(k.algorithm.number()),
                bits: None,
                tag: k.tag,
                file: format!("keys/{}.private", bind_base_name(&self.origin, k)),
            })
            .collect();
        let mut s = adopt(&State::default(), &adopted, now)?;
        // A BIND user's parent already holds the DS of these keys.
        for k in s.keys.iter_mut().filter(|k| k.role.is_ksk()) {
            k.ds = Rec::In { since: 0 };
        }
        dir.save(&zone, &s)?;
        for k in &s.keys {
            log::info(
                "dnssec: adopted a key found without key state, as long published",
                &[
                    ("zone", &self.origin),
                    ("key", &k.id),
                    ("tag", &k.tag.unwrap_or(0)),
                    ("role", &k.role),
                ],
            );
        }
        Ok(s)
    }

    /// New keys under a DS that names old ones would make the zone bogus: a lost state
    /// folder must be restored, not replaced. An unreachable parent is only a warning.
    fn check_parent_has_no_ds(&self) -> Result<(), DnssecError> {
        for &server in &self.parents {
            match parent::query_ds(server, &self.origin, Duration::from_millis(1500)) {
                Ok(ds) if !ds.is_empty() => {
                    return Err(DnssecError::Refused(format!(
                        "the parent ({server}) publishes {} DS record(s) for {} but there is no key state or key here; refusing to make new keys (the zone would turn bogus): restore {} from a backup, or have the parent remove the DS first",
                        ds.len(),
                        self.origin,
                        self.zone_dir().display()
                    )));
                }
                Ok(_) => {}
                Err(e) => log::warn(
                    "dnssec: cannot check that the parent has no DS before making the first keys",
                    &[("zone", &self.origin), ("reason", &e)],
                ),
            }
        }
        Ok(())
    }

    /// Reads the key material of every key the state names.
    fn load_keys(&self, run: &mut Run, s: &State) -> Result<(), DnssecError> {
        for k in &s.keys {
            let Some(file) = &k.file else { continue };
            let path = self.zone_dir().join(file);
            let key = read_bind(&self.origin, &path).map_err(|e| DnssecError::Key {
                path: path.clone(),
                error: KeyError(format!("key {}: {e}", k.id)),
            })?;
            if k.tag.is_some_and(|t| t != key.tag) || k.alg.0 != key.algorithm.number() {
                return Err(DnssecError::Key {
                    path,
                    error: KeyError(format!(
                        "the key file holds tag {} algorithm {}, the key state expects tag {} algorithm {}",
                        key.tag,
                        key.algorithm.number(),
                        k.tag.unwrap_or(0),
                        k.alg.0
                    )),
                });
            }
            run.keys.insert(k.id, key);
        }
        Ok(())
    }

    /// Makes and stores a key; its tag differs from every other key's of its algorithm
    /// (the BIND file names would collide).
    fn generate(
        &self,
        run: &Run,
        state: &State,
        n: &NewKey,
        now: Timestamp,
    ) -> Result<(Key, String), DnssecError> {
        let alg = Algorithm::from_number(n.alg.0)
            .ok_or_else(|| DnssecError::NoKeys(format!("cannot make keys of {}", n.alg)))?;
        let flags = if n.role.is_ksk() {
            FLAG_ZONE | FLAG_SEP
        } else {
            FLAG_ZONE
        };
        let taken = |k: &Key| {
            state
                .keys
                .iter()
                .any(|o| o.tag == Some(k.tag) && o.alg == n.alg)
                || run
                    .keys
                    .values()
                    .any(|o| o.tag == k.tag && o.algorithm == alg)
        };
        for _ in 0..16 {
            let mut k = Key::generate(alg, flags, usize::from(n.bits.unwrap_or(2048)))
                .map_err(|e| DnssecError::NoKeys(e.to_string()))?;
            if taken(&k) {
                continue;
            }
            k.created = Some(now);
            let f = write_bind(&self.origin, &k, &self.key_dir()).map_err(|error| {
                DnssecError::Key {
                    path: self.key_dir(),
                    error,
                }
            })?;
            let name = f
                .private
                .file_name()
                .map(|x| x.to_string_lossy().into_owned())
                .unwrap_or_default();
            return Ok((k, format!("keys/{name}")));
        }
        Err(DnssecError::Internal("no free key tag in 16 new keys"))
    }

    fn delete_files(&self, k: &roll::Key) {
        let Some(file) = &k.file else { return };
        let private = self.zone_dir().join(file);
        let public = private.with_extension("key");
        for p in [private, public] {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn(
                        "dnssec: cannot delete a retired key file",
                        &[
                            ("zone", &self.origin),
                            ("file", &p.display()),
                            ("reason", &e),
                        ],
                    );
                }
            }
        }
    }

    /// Begins at `now` a roll the operator asked for at `asked`: saved before it counts.
    fn begin_roll(
        &self,
        run: &mut Run,
        dir: &StateDir,
        state: &State,
        role: Role,
        (now, asked): (Timestamp, Timestamp),
    ) -> Result<(), DnssecError> {
        let s = roll::roll(state, role, now).map_err(|e| {
            DnssecError::Roll(RollError(format!(
                "cannot roll the {role} of {}: {e}",
                self.origin
            )))
        })?;
        dir.save(&zone_key(&self.origin), &s)?;
        run.state = Some(s);
        log::info(
            "dnssec: roll requested by the operator",
            &[
                ("zone", &self.origin),
                ("role", &role),
                ("asked_at", &asked),
            ],
        );
        Ok(())
    }

    /// Folds the CLI's request files into the state (saved at once) and deletes them.
    fn take_requests(
        &self,
        run: &mut Run,
        dir: &StateDir,
        now: Timestamp,
    ) -> Result<(), DnssecError> {
        for (r, at, path) in files::pending(&self.zone_dir()) {
            match r {
                Request::Roll(role) => {
                    let state = run.state.clone().expect("loaded before");
                    match self.begin_roll(run, dir, &state, role, (now, at)) {
                        Ok(()) => {}
                        Err(e @ DnssecError::Roll(_)) => log::error(
                            "dnssec: roll request refused",
                            &[("zone", &self.origin), ("role", &role), ("reason", &e)],
                        ),
                        Err(e) => return Err(e),
                    }
                }
                Request::DsSeen => run.operator_seen = Some(at.max(1)),
            }
            if let Err(error) = std::fs::remove_file(&path) {
                return Err(DnssecError::Io {
                    path,
                    op: "remove",
                    error,
                });
            }
        }
        Ok(())
    }

    /// Asks every parent server; None (logged) when there are none or one fails.
    fn observe(&self, run: &mut Run, state: &State, now: Timestamp) -> Option<DsObservation> {
        if self.parents.is_empty() {
            let ds: Vec<String> = state
                .keys
                .iter()
                .filter(|k| k.role.is_ksk() && (k.cds.is_some() || k.ds.is_in()))
                .filter_map(|k| run.keys.get(&k.id))
                .map(|k| ds_text(&self.origin, k, DigestType::Sha256))
                .collect();
            let msg = format!(
                "dnssec: waiting for the parent's DS; no dnssec-parent is configured, so run `blason dnssec ds-seen {}` once the parent publishes: {}",
                self.origin.to_lowercase(),
                ds.join(" | ")
            );
            self.once(run, log::Level::Warn, &msg);
            return None;
        }
        // Asked on a thread; its answers are read at a later tick.
        let Some((asked, slot)) = run.parent_query.take() else {
            let slot: ParentAnswers = Arc::new(Mutex::new(None));
            let (parents, origin, out) = (self.parents.clone(), self.origin.clone(), slot.clone());
            let spawned = std::thread::Builder::new()
                .name("parent-ds".into())
                .spawn(move || {
                    let answers = parents
                        .iter()
                        .map(|&server| {
                            parent::query_ds(server, &origin, Duration::from_millis(1500))
                        })
                        .collect();
                    *out.lock().unwrap_or_else(|e| e.into_inner()) = Some(answers);
                });
            match spawned {
                Ok(_) => run.parent_query = Some((now, slot)),
                Err(e) => log::warn(
                    "dnssec: cannot start asking the parent; asking again later",
                    &[("zone", &self.origin), ("reason", &e)],
                ),
            }
            return None;
        };
        let Some(answers) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            run.parent_query = Some((asked, slot));
            return None;
        };
        let keys: Vec<(KeyId, &Key)> = state
            .keys
            .iter()
            .filter_map(|k| run.keys.get(&k.id).map(|m| (k.id, m)))
            .collect();
        let mut seen: Vec<Vec<KeyId>> = Vec::new();
        let mut unmatched = 0;
        for answer in answers {
            match answer {
                Ok(ds) => {
                    let (found, u) = parent::match_ds(&self.origin, &ds, &keys);
                    unmatched = unmatched.max(u);
                    seen.push(found);
                }
                Err(e) => {
                    log::warn(
                        "dnssec: cannot read the parent's DS; asking again later",
                        &[("zone", &self.origin), ("reason", &e)],
                    );
                    return None;
                }
            }
        }
        // A change counts once every server shows it; until then a key keeps its record.
        let present = state
            .keys
            .iter()
            .filter(|k| {
                let n = seen.iter().filter(|s| s.contains(&k.id)).count();
                n == seen.len() || (n > 0 && k.ds.is_in())
            })
            .map(|k| k.id)
            .collect();
        // Seen when asked: the answers say what the parent held then, at the latest.
        Some(DsObservation {
            at: asked.max(state.last_seen),
            source: DsSource::Query,
            keys: present,
            unmatched,
        })
    }

    /// The next signed snapshot for the loaded zone under `sets`, by the cheapest road
    /// (incremental when it can be); records it as served. `refresh`: signatures are coming due.
    fn sign(
        &self,
        run: &mut Run,
        sets: &KeySets,
        now: Timestamp,
        refresh: bool,
    ) -> Result<Arc<Zone>, DnssecError> {
        let zone = run
            .unsigned
            .clone()
            .ok_or(DnssecError::Internal("signing before a zone is loaded"))?;
        if sets.is_unsigned() {
            self.note_served(&zone, 0, now, "unsigned");
            run.signed = None;
            run.served = Some(sets.clone());
            run.dirty = false;
            run.expiry = 0;
            return Ok(zone);
        }
        let keys = sets.zone_keys(&run.keys)?;
        let mut opts = sign_options(&self.policy, now);
        opts.cds_delete = sets.cds_delete;
        // The zone's signers unchanged: the snapshot served is a base to build on.
        let same_zsk = run
            .served
            .as_ref()
            .is_some_and(|s| s.zone_signers == sets.zone_signers);
        let base = run.signed.clone().filter(|_| same_zsk);
        let mut out = None;
        if let Some((signed, from)) = &base {
            let signed = if run.served.as_ref() == Some(sets) {
                Some(signed.clone())
            } else {
                self.rekey(signed, from, &keys, &opts)
            };
            let r = match signed {
                Some(signed) => self.resign(
                    &signed, from, &zone, &keys, &opts, now, run.dirty, refresh, run.expiry,
                ),
                None => Ok(None),
            };
            match r {
                Ok(r) => out = r,
                // The whole pass below gives the same zone; say why it was needed.
                Err(e) => log::warn(
                    "dnssec: incremental signing failed; signing the whole zone",
                    &[("zone", &self.origin), ("reason", &e)],
                ),
            }
        }
        let incremental = out.is_some();
        let (next, expiry) = match out {
            Some(x) => x,
            None => {
                // Key change or first signing: every RRset gets the new signatures.
                // The served serial never goes back (RFC 1982).
                let unsigned = run
                    .signed
                    .as_ref()
                    .and_then(|(s, _)| {
                        let next = incremental::next_serial(s.serial()?, zone.serial()?);
                        incremental::zone_with_serial(&zone, next).map(Arc::new)
                    })
                    .unwrap_or_else(|| zone.clone());
                let signed = sign_zone(&unsigned, &keys, &opts)?;
                log::info(
                    "zone signed",
                    &[
                        ("zone", zone.origin()),
                        ("dnskeys", &sets.dnskey.len()),
                        ("rrsigs", &signed.stats.rrsigs),
                        ("nsec", &signed.stats.nsec),
                        ("nsec3", &signed.stats.nsec3),
                    ],
                );
                (Arc::new(signed.zone), earliest_expiry(&self.policy, now))
            }
        };
        self.note_served(
            &next,
            expiry,
            now,
            if incremental { "incremental" } else { "whole" },
        );
        run.signed = Some((next.clone(), zone));
        run.served = Some(sets.clone());
        run.dirty = false;
        run.expiry = expiry;
        Ok(next)
    }

    /// Leaves what is served where `blason dnssec status` reads it; a failure only
    /// costs that display, so it is logged and signing goes on.
    fn note_served(&self, zone: &Zone, earliest_expiry: u64, now: Timestamp, how: &str) {
        let s = files::Served {
            serial: zone.serial().unwrap_or(0),
            earliest_expiry,
            at: now,
            how: how.to_string(),
        };
        if let Err(e) = files::write_served(&self.zone_dir(), &s) {
            log::warn(
                "dnssec: cannot note the served snapshot for dnssec status",
                &[("zone", &self.origin), ("reason", &e)],
            );
        }
    }

    /// A key step that leaves the zone signers alone: only the apex's key RRsets are
    /// signed anew. None: sign the whole zone.
    fn rekey(
        &self,
        signed: &Zone,
        from: &Zone,
        keys: &ZoneKeys,
        opts: &SignOptions,
    ) -> Option<Arc<Zone>> {
        match blason_dnssec::sign::rekey(signed, from, keys, opts) {
            Ok(Some((z, st))) => {
                log::info(
                    "zone re-signed (keys)",
                    &[
                        ("zone", &self.origin),
                        ("rrsigs", &st.rrsigs),
                        ("serial", &st.serial),
                    ],
                );
                Some(Arc::new(z))
            }
            Ok(None) => None,
            Err(e) => {
                log::warn(
                    "dnssec: incremental key step failed; signing the whole zone",
                    &[("zone", &self.origin), ("reason", &e)],
                );
                None
            }
        }
    }

    /// The incremental roads: the file's changes, then the signatures due. Ok(None)
    /// when a whole pass is cheaper (most of the zone changed).
    #[allow(clippy::too_many_arguments)]
    fn resign(
        &self,
        signed: &Arc<Zone>,
        from: &Zone,
        zone: &Zone,
        keys: &ZoneKeys,
        opts: &SignOptions,
        now: Timestamp,
        dirty: bool,
        refresh: bool,
        mut expiry: u64,
    ) -> Result<Option<(Arc<Zone>, u64)>, DnssecError> {
        let mut cur = signed.clone();
        if dirty {
            let limit = (zone.nodes().len() / 4).max(1000);
            let Some(changes) = incremental::diff(from, zone, limit) else {
                return Ok(None);
            };
            if !changes.is_empty() {
                let (z, st) = incremental::apply(&cur, &changes, keys, opts)?;
                log::info(
                    "zone re-signed (changes)",
                    &[
                        ("zone", zone.origin()),
                        ("changes", &changes.len()),
                        ("rrsigs", &st.rrsigs),
                        ("denial", &st.denial),
                        ("rebuilt", &st.rebuilt),
                        ("serial", &st.serial),
                    ],
                );
                cur = Arc::new(z);
            }
        }
        if refresh {
            // Also what comes due within a batch, so that passes (each scans the zone)
            // run about a dozen times across the jitter spread, not at every tick.
            let batch = (self.policy.signature_jitter / 12).clamp(1, 3600);
            let window = self.policy.signature_refresh + batch;
            match incremental::refresh(&cur, keys, opts, now, window)? {
                Some((z, st)) => {
                    log::info(
                        "zone re-signed (signatures due)",
                        &[
                            ("zone", zone.origin()),
                            ("rrsets", &st.rrsets),
                            ("rrsigs", &st.rrsigs),
                            ("serial", &st.serial),
                        ],
                    );
                    if let Some(e) = st.earliest_expiry {
                        expiry = e;
                    }
                    cur = Arc::new(z);
                }
                // Nothing due after all: look again in a minute, not every tick.
                None => expiry = now + self.policy.signature_refresh + 60,
            }
        }
        Ok(Some((cur, expiry)))
    }
}

/// The largest TTL of the zone's signed data, the negative TTL included.
fn max_ttl(zone: &Zone) -> u32 {
    let neg = blason_dnssec::sign::negative_ttl(zone).unwrap_or(0);
    zone.nodes()
        .iter()
        .filter(|n| n.is_authoritative())
        .flat_map(|n| n.rrsets.iter().map(|r| r.ttl))
        .fold(neg, u32::max)
}

/// The keys whose DS the parent holds once the awaited changes are made.
fn expected_ds(state: &State, waits: &[(&[KeyId], &[KeyId])]) -> Vec<KeyId> {
    let mut v: Vec<KeyId> = state
        .keys
        .iter()
        .filter(|k| k.ds.is_in())
        .map(|k| k.id)
        .collect();
    for (add, remove) in waits {
        v.extend(add.iter().copied());
        v.retain(|k| !remove.contains(k));
    }
    v.sort();
    v.dedup();
    v
}

fn ids_text(state: &State, ids: &[KeyId]) -> String {
    ids.iter()
        .map(|id| key_text(state, *id))
        .collect::<Vec<_>>()
        .join(", ")
}

fn key_text(state: &State, id: KeyId) -> String {
    match state.key(id).and_then(|k| k.tag) {
        Some(t) => format!("{id} (tag {t})"),
        None => id.to_string(),
    }
}

/// An action with the key tags beside the planner's key numbers.
struct ActionText<'a>(&'a Action, &'a State, &'a State);

impl std::fmt::Display for ActionText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let ids: Vec<KeyId> = match self.0 {
            Action::BeginRoll { old, .. } => old.clone(),
            Action::PublishDnskey(k)
            | Action::SignDnskeyWith(k)
            | Action::StartSigning(k)
            | Action::PublishCds(k)
            | Action::WithdrawCds(k)
            | Action::StopSigning(k)
            | Action::StopSigningDnskey(k)
            | Action::UnpublishDnskey(k)
            | Action::DeleteKey(k)
            | Action::NoteParentDs { key: k, .. } => vec![*k],
            _ => vec![],
        };
        for id in ids {
            let tag = self
                .1
                .key(id)
                .or_else(|| self.2.key(id))
                .and_then(|k| k.tag);
            if let Some(t) = tag {
                write!(f, " [{id} = tag {t}]")?;
            }
        }
        Ok(())
    }
}

/// How often the parent is asked while a roll waits for it.
fn parent_poll_interval(p: &Policy) -> u64 {
    (u64::from(p.ds_ttl) / 2).clamp(1, 300)
}

/// "CSK", "KSK" or "ZSK" for a BIND key among `all`: KSKs carry the SEP flag; with
/// only one kind, every key signs everything.
pub fn role_of(k: &Key, all: &[Key]) -> Role {
    let mixed = all.iter().any(|x| x.is_sep()) && all.iter().any(|x| !x.is_sep());
    match (mixed, k.is_sep()) {
        (false, _) => Role::Csk,
        (true, true) => Role::Ksk,
        (true, false) => Role::Zsk,
    }
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
mod tests;
