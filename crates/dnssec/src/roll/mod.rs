//! The key-roll planner (RFC 7583 timings, RFC 6781 procedures): a pure state machine.
//!
//! [`plan`] reads the zone's key [`State`], the [`Policy`], the time and what the parent
//! was seen to publish, and returns the [`Action`]s due now plus when to ask again. The
//! server carries the actions out and hands the outcomes to [`apply`], which returns the
//! next state (to be saved with [`crate::state`]). Nothing here reads a clock or a key.
//!
//! Each key carries four records in the key-state model (as in BIND's dnssec-policy):
//! its DNSKEY, its RRSIG over the DNSKEY RRset, its RRSIGs over the zone data, and its
//! DS at the parent. A record is stored as published or withdrawn since a time; whether
//! it is rumoured or omnipresent (unretentive or hidden) follows from that time, the
//! TTLs and the delays, so the stored state never claims more than the clock proves.
//!
//! The server's side of the bargain: the actions of one plan go into one snapshot (all
//! of them or, on failure, none, reported as [`Outcome::Failed`]); [`apply`] is called
//! with the outcomes once that snapshot is being served, and the new state is saved
//! before anything else; then [`plan`] is called again at once until [`Plan::is_idle`],
//! and next at [`Plan::next_event`] or when the parent is polled. `StartSigning` means
//! every RRset carries the new key's signature in that snapshot.
//!
//! A roll is a list of stages (see [`stages`]); a stage's records must all have settled
//! (omnipresent or hidden everywhere) before the next stage starts. DS records change
//! only on evidence: a [`DsObservation`] of the parent, or the operator's word.

mod plan;
#[cfg(test)]
mod sim;

pub use plan::{current_stage, plan, stages, Stage, Target, Want};

use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Seconds since the Unix epoch.
pub type Timestamp = u64;

/// The planner's own name for a key: a serial within the zone. The key tag and file
/// live beside it in [`Key`]; tags can collide, serials cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key#{}", self.0)
    }
}

/// A DNSSEC algorithm number (RFC 8624).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Alg(pub u8);

impl Alg {
    pub const RSASHA256: Alg = Alg(8);
    pub const ECDSAP256SHA256: Alg = Alg(13);
    pub const ED25519: Alg = Alg(15);
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            8 => f.write_str("RSASHA256 (8)"),
            13 => f.write_str("ECDSAP256SHA256 (13)"),
            15 => f.write_str("ED25519 (15)"),
            n => write!(f, "algorithm {n}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Ksk,
    Zsk,
    Csk,
}

impl Role {
    /// Signs the DNSKEY RRset and has a DS at the parent.
    pub fn is_ksk(self) -> bool {
        matches!(self, Role::Ksk | Role::Csk)
    }
    /// Signs the zone's other RRsets.
    pub fn is_zsk(self) -> bool {
        matches!(self, Role::Zsk | Role::Csk)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Ksk => "KSK",
            Role::Zsk => "ZSK",
            Role::Csk => "CSK",
        })
    }
}

/// One record of one key, as last changed. Never = not yet published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Rec {
    #[default]
    Never,
    In {
        since: Timestamp,
    },
    Out {
        since: Timestamp,
    },
}

impl Rec {
    pub fn is_in(self) -> bool {
        matches!(self, Rec::In { .. })
    }
}

/// The four states of the key-state model, derived from a [`Rec`] and the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// In no cache.
    Hidden,
    /// Published; some caches may not have it yet.
    Rumoured,
    /// In every cache that holds the RRset.
    Omnipresent,
    /// Withdrawn; some caches may still have it.
    Unretentive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Dnskey,
    /// The key's RRSIG over the DNSKEY RRset (and CDS/CDNSKEY).
    DnskeyRrsig,
    /// The key's RRSIGs over the rest of the zone.
    ZoneRrsig,
    Ds,
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecordKind::Dnskey => "DNSKEY",
            RecordKind::DnskeyRrsig => "RRSIG(DNSKEY)",
            RecordKind::ZoneRrsig => "RRSIG(zone)",
            RecordKind::Ds => "DS",
        })
    }
}

/// A key as the planner sees it: no key material, only where its records stand.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub id: KeyId,
    pub role: Role,
    pub alg: Alg,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u16>,
    /// Key tag, once the key exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u16>,
    /// The private key's file, relative to the zone's state folder (owned by `keys`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub created: Timestamp,
    /// When the roll that brought the key in finished; its lifetime counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_since: Option<Timestamp>,
    #[serde(default)]
    pub dnskey: Rec,
    #[serde(default)]
    pub dnskey_rrsig: Rec,
    #[serde(default)]
    pub zone_rrsig: Rec,
    #[serde(default)]
    pub ds: Rec,
    /// CDS and CDNSKEY for this key published since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cds: Option<Timestamp>,
    /// CDS and CDNSKEY for this key withdrawn since (the parent should drop the DS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cds_withdrawn: Option<Timestamp>,
}

impl Key {
    pub fn rec(&self, kind: RecordKind) -> Rec {
        match kind {
            RecordKind::Dnskey => self.dnskey,
            RecordKind::DnskeyRrsig => self.dnskey_rrsig,
            RecordKind::ZoneRrsig => self.zone_rrsig,
            RecordKind::Ds => self.ds,
        }
    }
    fn rec_mut(&mut self, kind: RecordKind) -> &mut Rec {
        match kind {
            RecordKind::Dnskey => &mut self.dnskey,
            RecordKind::DnskeyRrsig => &mut self.dnskey_rrsig,
            RecordKind::ZoneRrsig => &mut self.zone_rrsig,
            RecordKind::Ds => &mut self.ds,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RollKind {
    /// First keys of a zone the parent has no DS for: everything at once.
    Initial,
    /// Pre-publication (RFC 7583 §3.2.1).
    Zsk,
    /// Double-DS (RFC 7583 §3.3.1).
    Ksk,
    /// RFC 7583 §3.4-style: new DNSKEY first, then signatures and DS together.
    Csk,
    /// Whole key set replaced (algorithm or scheme change), RFC 6781 §4.1.4.
    Algorithm,
    /// CDS delete (RFC 8078), then everything withdrawn.
    Insecure,
}

impl fmt::Display for RollKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RollKind::Initial => "initial signing",
            RollKind::Zsk => "ZSK roll",
            RollKind::Ksk => "KSK roll",
            RollKind::Csk => "CSK roll",
            RollKind::Algorithm => "algorithm roll",
            RollKind::Insecure => "going insecure",
        })
    }
}

/// A key a roll wants; generated by the server, then added to [`State::keys`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub id: KeyId,
    pub role: Role,
    pub alg: Alg,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bits: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roll {
    pub kind: RollKind,
    pub started: Timestamp,
    pub old: Vec<KeyId>,
    pub new: Vec<NewKey>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinishedRoll {
    pub kind: RollKind,
    pub started: Timestamp,
    pub finished: Timestamp,
}

/// An operator's `blason dnssec roll` not yet started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub role: Role,
    pub at: Timestamp,
}

/// A TTL as last published, and the one before it while caches may still hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TtlMemory {
    pub ttl: u32,
    pub previous: u32,
    pub changed: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ttls {
    pub dnskey: TtlMemory,
    pub zone_max: TtlMemory,
    pub ds: TtlMemory,
}

/// Everything the planner knows about one zone's keys.
#[derive(Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// The latest time any outcome was applied; the planner never acts before it.
    pub last_seen: Timestamp,
    pub next_id: u32,
    #[serde(default)]
    pub ttls: Ttls,
    /// CDS/CDNSKEY delete form (RFC 8078 §4) published since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cds_delete: Option<Timestamp>,
    /// The latest parent observation that mattered (see [`Action::NoteParentChecked`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_checked: Option<Timestamp>,
    #[serde(default)]
    pub keys: Vec<Key>,
    #[serde(default)]
    pub rolls: Vec<Roll>,
    #[serde(default)]
    pub requests: Vec<Request>,
    #[serde(default)]
    pub history: Vec<FinishedRoll>,
}

/// How many finished rolls the state remembers (for `dnssec status`).
const HISTORY: usize = 16;

impl State {
    pub fn key(&self, id: KeyId) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }
    fn key_mut(&mut self, id: KeyId) -> Option<&mut Key> {
        self.keys.iter_mut().find(|k| k.id == id)
    }
    /// The roll a key takes part in, old or new.
    pub fn roll_of(&self, id: KeyId) -> Option<&Roll> {
        self.rolls
            .iter()
            .find(|r| r.old.contains(&id) || r.new.iter().any(|n| n.id == id))
    }
    /// Keys in use and in no roll.
    pub fn active(&self) -> impl Iterator<Item = &Key> {
        self.keys.iter().filter(|k| self.roll_of(k.id).is_none())
    }
}

/// What the parent was seen to publish: the DS RRset, matched against the zone's keys
/// by the server (DS digests are computed in `keys`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsObservation {
    pub at: Timestamp,
    pub source: DsSource,
    /// Keys with a matching DS at the parent; keys not listed have none.
    pub keys: Vec<KeyId>,
    /// DS records matching none of the zone's keys.
    pub unmatched: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsSource {
    /// Queried from the parent's servers.
    Query,
    /// `blason dnssec ds-seen`: the operator says so.
    Operator,
}

/// What the server is asked to do. Bookkeeping actions (`BeginRoll`, `FinishRoll`,
/// `NoteParentDs`, `NoteTtls`) need no work; they are passed back to [`apply`] so the
/// decision is saved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    BeginRoll {
        kind: RollKind,
        old: Vec<KeyId>,
        new: Vec<NewKey>,
    },
    /// Make a key; report it with [`Outcome::Generated`].
    GenerateKey(NewKey),
    PublishDnskey(KeyId),
    /// Sign the DNSKEY, CDS and CDNSKEY RRsets with this key.
    SignDnskeyWith(KeyId),
    /// Sign the zone's other RRsets with this key (the whole zone, in one snapshot).
    StartSigning(KeyId),
    /// Publish CDS and CDNSKEY for this key (RFC 7344), beside any already published.
    PublishCds(KeyId),
    /// Poll the parent's DS RRset until it shows these changes (or the operator says so).
    WaitForParentDs {
        add: Vec<KeyId>,
        remove: Vec<KeyId>,
    },
    WithdrawCds(KeyId),
    /// CDS `0 0 0 00` and CDNSKEY `0 3 0 AA==` (RFC 8078 §4).
    PublishCdsDelete,
    WithdrawCdsDelete,
    StopSigning(KeyId),
    StopSigningDnskey(KeyId),
    UnpublishDnskey(KeyId),
    /// Remove the private key; no cache can hold anything made with it any more.
    DeleteKey(KeyId),
    NoteParentDs {
        key: KeyId,
        present: bool,
        at: Timestamp,
    },
    /// The parent was looked at, at this time (kept while a withdrawn CDS could still
    /// be acted on, so "no DS" is believed only from a look after that window).
    NoteParentChecked(Timestamp),
    /// The policy's TTLs differ from those last recorded.
    NoteTtls {
        dnskey: u32,
        zone_max: u32,
        ds: u32,
    },
    FinishRoll(RollKind),
}

impl Action {
    /// False for the one action that only says "keep waiting".
    pub fn changes_state(&self) -> bool {
        !matches!(self, Action::WaitForParentDs { .. })
    }
}

/// What came of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out (for publishing actions: the new snapshot is being served).
    Done(Action),
    Generated {
        id: KeyId,
        tag: u16,
        file: String,
    },
    /// Not carried out; the state is unchanged and the next plan asks again.
    Failed {
        action: Action,
        error: String,
    },
}

/// What a roll is waiting for, for `dnssec status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Waiting {
    Propagation {
        key: KeyId,
        record: RecordKind,
        until: Timestamp,
    },
    ParentDs {
        key: KeyId,
        present: bool,
        /// Since the CDS change was published.
        since: Option<Timestamp>,
    },
    KeyGeneration(KeyId),
    /// The next roll by age.
    Roll {
        role: Role,
        at: Timestamp,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// The clock is behind a time already acted on; nothing is done until it catches up.
    ClockWentBack {
        now: Timestamp,
        last_seen: Timestamp,
    },
    /// An observation claims a time after `now`; it was ignored.
    ObservationFromFuture { at: Timestamp, now: Timestamp },
    /// The parent has not acted on the CDS for longer than the registrar delay.
    ParentSlow { key: KeyId, since: Timestamp },
    /// The parent lists DS records for keys this zone does not have.
    UnmatchedDs { count: usize },
    /// The parent dropped a DS nobody asked it to drop.
    DsVanished { key: KeyId },
    /// The policy wants a change that must wait for a roll in progress.
    Deferred { what: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::ClockWentBack { now, last_seen } => write!(
                f,
                "clock went back: now {now} is {}s before {last_seen}, a time already acted on; waiting",
                last_seen - now
            ),
            Warning::ObservationFromFuture { at, now } => {
                write!(f, "ignored a parent DS observation dated {at}, after now ({now})")
            }
            Warning::ParentSlow { key, since } => write!(
                f,
                "the parent has not changed the DS for {key} since the CDS went out at {since}; still waiting"
            ),
            Warning::UnmatchedDs { count } => write!(
                f,
                "the parent has {count} DS record(s) matching no key of this zone"
            ),
            Warning::DsVanished { key } => {
                write!(f, "the parent dropped the DS of {key} unasked")
            }
            Warning::Deferred { what } => write!(f, "{what}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Call [`plan`] again by then (also after any observation or outcome).
    pub next_event: Option<Timestamp>,
    pub waiting: Vec<Waiting>,
    pub warnings: Vec<Warning>,
}

impl Plan {
    /// True when nothing but waiting is asked for.
    pub fn is_idle(&self) -> bool {
        !self.actions.iter().any(Action::changes_state)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = |v: &[KeyId]| {
            v.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Action::BeginRoll { kind, old, new } => write!(
                f,
                "begin {kind}: replace [{}] with [{}]",
                ids(old),
                new.iter()
                    .map(|n| format!("{} {} {}", n.id, n.role, n.alg))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Action::GenerateKey(n) => write!(f, "generate {} {} as {}", n.role, n.alg, n.id),
            Action::PublishDnskey(k) => write!(f, "publish the DNSKEY of {k}"),
            Action::SignDnskeyWith(k) => write!(f, "sign the DNSKEY RRset with {k}"),
            Action::StartSigning(k) => write!(f, "sign the zone with {k}"),
            Action::PublishCds(k) => write!(f, "publish CDS/CDNSKEY for {k}"),
            Action::WaitForParentDs { add, remove } => write!(
                f,
                "wait for the parent to add DS [{}] and remove DS [{}]",
                ids(add),
                ids(remove)
            ),
            Action::WithdrawCds(k) => write!(f, "withdraw CDS/CDNSKEY for {k}"),
            Action::PublishCdsDelete => f.write_str("publish the CDS/CDNSKEY delete form"),
            Action::WithdrawCdsDelete => f.write_str("withdraw the CDS/CDNSKEY delete form"),
            Action::StopSigning(k) => write!(f, "stop signing the zone with {k}"),
            Action::StopSigningDnskey(k) => write!(f, "stop signing the DNSKEY RRset with {k}"),
            Action::UnpublishDnskey(k) => write!(f, "withdraw the DNSKEY of {k}"),
            Action::DeleteKey(k) => write!(f, "delete {k}"),
            Action::NoteParentDs { key, present, at } => write!(
                f,
                "note: parent {} the DS of {key} at {at}",
                if *present { "has" } else { "no longer has" }
            ),
            Action::NoteParentChecked(at) => write!(f, "note: parent DS checked at {at}"),
            Action::NoteTtls {
                dnskey,
                zone_max,
                ds,
            } => write!(
                f,
                "note TTLs: DNSKEY {dnskey}, zone max {zone_max}, DS {ds}"
            ),
            Action::FinishRoll(kind) => write!(f, "{kind} done"),
        }
    }
}

impl fmt::Display for Waiting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waiting::Propagation { key, record, until } => {
                write!(f, "{record} of {key} settles in caches at {until}")
            }
            Waiting::ParentDs {
                key,
                present,
                since,
            } => {
                write!(
                    f,
                    "parent to {} the DS of {key}",
                    if *present { "publish" } else { "remove" }
                )?;
                if let Some(t) = since {
                    write!(f, " (asked at {t})")?;
                }
                Ok(())
            }
            Waiting::KeyGeneration(k) => write!(f, "{k} to be generated"),
            Waiting::Roll { role, at } => write!(f, "{role} roll by age at {at}"),
        }
    }
}

/// A key brought in from elsewhere (BIND K-files) for a zone already served signed
/// with it, so its DNSKEY and signatures are taken as long in every cache.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adopted {
    pub role: Role,
    pub alg: Alg,
    pub bits: Option<u16>,
    pub tag: u16,
    pub file: String,
}

/// Adds keys that were already published and signing (a move from another signer that
/// keeps the DS at the parent). Their DS state comes from the next observation.
pub fn adopt(state: &State, keys: &[Adopted], now: Timestamp) -> Result<State, RollError> {
    if !state.keys.is_empty() || !state.rolls.is_empty() {
        return Err(RollError(
            "keys can only be adopted into a zone that has none yet".into(),
        ));
    }
    if !keys.iter().any(|k| k.role.is_ksk()) || !keys.iter().any(|k| k.role.is_zsk()) {
        return Err(RollError(
            "adopted keys must include a KSK or CSK and a ZSK or CSK".into(),
        ));
    }
    let mut s = state.clone();
    let long_ago = Rec::In { since: 0 };
    for a in keys {
        let id = KeyId(s.next_id);
        s.next_id += 1;
        s.keys.push(Key {
            id,
            role: a.role,
            alg: a.alg,
            bits: a.bits,
            tag: Some(a.tag),
            file: Some(a.file.clone()),
            created: now,
            active_since: Some(now),
            dnskey: long_ago,
            dnskey_rrsig: if a.role.is_ksk() {
                long_ago
            } else {
                Rec::Never
            },
            zone_rrsig: if a.role.is_zsk() {
                long_ago
            } else {
                Rec::Never
            },
            ds: Rec::Never,
            cds: None,
            cds_withdrawn: None,
        });
    }
    s.last_seen = s.last_seen.max(now);
    Ok(s)
}

/// Why a manual roll cannot start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollError(pub String);

impl fmt::Display for RollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for RollError {}

/// Asks for a roll of the key with `role` (`blason dnssec roll`); the next [`plan`]
/// starts it as soon as no conflicting roll is in progress.
pub fn roll(state: &State, role: Role, now: Timestamp) -> Result<State, RollError> {
    if let Some(r) = state
        .rolls
        .iter()
        .find(|r| r.new.iter().any(|n| n.role == role))
    {
        return Err(RollError(format!(
            "the {} is in progress (started at {}); ask again once it is done",
            r.kind, r.started
        )));
    }
    if !state.active().any(|k| k.role == role) {
        let have: Vec<String> = state.active().map(|k| k.role.to_string()).collect();
        return Err(RollError(format!(
            "no active {role} to roll (active keys: {})",
            if have.is_empty() {
                "none".to_string()
            } else {
                have.join(", ")
            }
        )));
    }
    if state.requests.iter().any(|r| r.role == role) {
        return Err(RollError(format!("a {role} roll is already requested")));
    }
    let mut s = state.clone();
    s.requests.push(Request { role, at: now });
    Ok(s)
}

/// Records the outcomes of a plan's actions, carried out at `now`. Times are never
/// taken from before `last_seen`, so a clock that went back cannot shorten a wait.
pub fn apply(state: &State, outcomes: &[Outcome], now: Timestamp) -> State {
    let now = now.max(state.last_seen);
    let mut s = state.clone();
    for o in outcomes {
        match o {
            Outcome::Done(a) => apply_action(&mut s, a, now),
            Outcome::Generated { id, tag, file } => {
                add_key(&mut s, *id, Some(*tag), Some(file.clone()), now)
            }
            Outcome::Failed { .. } => {}
        }
    }
    s.last_seen = now;
    s
}

fn add_key(s: &mut State, id: KeyId, tag: Option<u16>, file: Option<String>, now: Timestamp) {
    if s.key(id).is_some() {
        return;
    }
    let Some(n) = s
        .rolls
        .iter()
        .flat_map(|r| &r.new)
        .find(|n| n.id == id)
        .copied()
    else {
        return;
    };
    s.keys.push(Key {
        id,
        role: n.role,
        alg: n.alg,
        bits: n.bits,
        tag,
        file,
        created: now,
        active_since: None,
        dnskey: Rec::Never,
        dnskey_rrsig: Rec::Never,
        zone_rrsig: Rec::Never,
        ds: Rec::Never,
        cds: None,
        cds_withdrawn: None,
    });
}

fn set(s: &mut State, id: KeyId, kind: RecordKind, publish: bool, now: Timestamp) {
    if let Some(k) = s.key_mut(id) {
        let r = k.rec_mut(kind);
        match (publish, *r) {
            (true, Rec::In { .. }) | (false, Rec::Never | Rec::Out { .. }) => {}
            (true, _) => *r = Rec::In { since: now },
            (false, _) => *r = Rec::Out { since: now },
        }
    }
}

fn apply_action(s: &mut State, a: &Action, now: Timestamp) {
    use RecordKind::*;
    match a {
        Action::BeginRoll { kind, old, new } => {
            if s.rolls.iter().any(|r| r.kind == *kind) {
                return;
            }
            s.rolls.push(Roll {
                kind: *kind,
                started: now,
                old: old.clone(),
                new: new.clone(),
            });
            if let Some(m) = new.iter().map(|n| n.id.0 + 1).max() {
                s.next_id = s.next_id.max(m);
            }
            // A started roll answers the operator's request for it.
            let roles: Vec<Role> = old
                .iter()
                .filter_map(|id| s.key(*id).map(|k| k.role))
                .collect();
            s.requests.retain(|r| !roles.contains(&r.role));
        }
        Action::GenerateKey(n) => add_key(s, n.id, None, None, now),
        Action::PublishDnskey(id) => set(s, *id, Dnskey, true, now),
        Action::SignDnskeyWith(id) => set(s, *id, DnskeyRrsig, true, now),
        Action::StartSigning(id) => set(s, *id, ZoneRrsig, true, now),
        Action::StopSigning(id) => set(s, *id, ZoneRrsig, false, now),
        Action::StopSigningDnskey(id) => set(s, *id, DnskeyRrsig, false, now),
        Action::UnpublishDnskey(id) => set(s, *id, Dnskey, false, now),
        Action::PublishCds(id) => {
            if let Some(k) = s.key_mut(*id) {
                k.cds.get_or_insert(now);
                k.cds_withdrawn = None;
            }
        }
        Action::WithdrawCds(id) => {
            if let Some(k) = s.key_mut(*id) {
                if k.cds.take().is_some() {
                    k.cds_withdrawn = Some(now);
                }
            }
        }
        Action::PublishCdsDelete => {
            s.cds_delete.get_or_insert(now);
        }
        Action::WithdrawCdsDelete => s.cds_delete = None,
        Action::WaitForParentDs { .. } => {}
        Action::DeleteKey(id) => s.keys.retain(|k| k.id != *id),
        Action::NoteParentDs { key, present, at } => {
            if let Some(k) = s.key_mut(*key) {
                // An observation older than the recorded change says nothing new.
                let newer = match k.ds {
                    Rec::Never => true,
                    Rec::In { since } | Rec::Out { since } => *at >= since,
                };
                if newer {
                    match (present, k.ds) {
                        (true, Rec::In { .. }) | (false, Rec::Never | Rec::Out { .. }) => {}
                        (true, _) => k.ds = Rec::In { since: *at },
                        (false, _) => k.ds = Rec::Out { since: *at },
                    }
                }
            }
        }
        Action::NoteParentChecked(at) => {
            s.parent_checked = Some(s.parent_checked.map_or(*at, |c| c.max(*at)));
        }
        Action::NoteTtls {
            dnskey,
            zone_max,
            ds,
        } => {
            for (m, ttl) in [
                (&mut s.ttls.dnskey, *dnskey),
                (&mut s.ttls.zone_max, *zone_max),
                (&mut s.ttls.ds, *ds),
            ] {
                if m.ttl != ttl {
                    *m = TtlMemory {
                        ttl,
                        previous: m.ttl,
                        changed: now,
                    };
                }
            }
        }
        Action::FinishRoll(kind) => {
            if let Some(i) = s.rolls.iter().position(|r| r.kind == *kind) {
                let r = s.rolls.remove(i);
                for n in &r.new {
                    if let Some(k) = s.key_mut(n.id) {
                        k.active_since = Some(now);
                    }
                }
                s.history.push(FinishedRoll {
                    kind: r.kind,
                    started: r.started,
                    finished: now,
                });
                if s.history.len() > HISTORY {
                    s.history.remove(0);
                }
            }
        }
    }
}

/// How long a record takes to settle after a change, from the policy and from the TTLs
/// caches may still hold (a lowered TTL counts only once the old one has run out).
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    dnskey_ttl: u64,
    zone_ttl: u64,
    ds_ttl: u64,
    prop: u64,
    parent_prop: u64,
    publish_safety: u64,
    retire_safety: u64,
}

impl Timing {
    pub fn new(policy: &Policy, state: &State, now: Timestamp) -> Timing {
        let prop = policy.propagation_delay;
        let eff = |p: u32, m: &TtlMemory, extra: u64| {
            let mut t = u64::from(p.max(m.ttl));
            if now < m.changed + u64::from(m.previous) + extra {
                t = t.max(u64::from(m.previous));
            }
            t
        };
        Timing {
            dnskey_ttl: eff(policy.dnskey_ttl, &state.ttls.dnskey, prop),
            zone_ttl: eff(policy.zone_max_ttl, &state.ttls.zone_max, prop),
            ds_ttl: eff(
                policy.ds_ttl,
                &state.ttls.ds,
                policy.parent_propagation_delay,
            ),
            prop,
            parent_prop: policy.parent_propagation_delay,
            publish_safety: policy.publish_safety,
            retire_safety: policy.retire_safety,
        }
    }

    fn interval(&self, kind: RecordKind, publish: bool) -> u64 {
        let (delay, ttl) = match kind {
            RecordKind::Dnskey | RecordKind::DnskeyRrsig => (self.prop, self.dnskey_ttl),
            RecordKind::ZoneRrsig => (self.prop, self.zone_ttl),
            RecordKind::Ds => (self.parent_prop, self.ds_ttl),
        };
        delay
            + ttl
            + if publish {
                self.publish_safety
            } else {
                self.retire_safety
            }
    }

    /// The record's phase at `now`, and when it changes next (if it will by itself).
    pub fn phase(&self, rec: Rec, kind: RecordKind, now: Timestamp) -> (Phase, Option<Timestamp>) {
        match rec {
            Rec::Never => (Phase::Hidden, None),
            Rec::In { since } => {
                let at = since + self.interval(kind, true);
                if now >= at {
                    (Phase::Omnipresent, None)
                } else {
                    (Phase::Rumoured, Some(at))
                }
            }
            Rec::Out { since } => {
                let at = since + self.interval(kind, false);
                if now >= at {
                    (Phase::Hidden, None)
                } else {
                    (Phase::Unretentive, Some(at))
                }
            }
        }
    }
}
