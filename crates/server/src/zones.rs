//! The zones being served, and the one road by which a served snapshot changes
//! (`Handle::commit`). Every source hands it a new snapshot: a zone file read
//! again (its difference to the previous reading played onto the zone), generated
//! records (played as edits, the file not read), the DNSSEC executor's passes. The
//! commit moves the serial forward, makes the changeset durable in the zone's journal,
//! swaps the snapshot in, and answers with a receipt, after which sources record what
//! they did. At start a zone comes back from its journal (answering at once) or from
//! its file. Each zone runs on a worker thread of its own, never on a query thread.
#![forbid(unsafe_code)]

use crate::control::Refusal;
use crate::dnssec::files::Request;
use crate::dnssec::ZoneDnssec;
use crate::journal::{Journal, JournalError};
use crate::log;
use blason_zone::fault::{Blame, BoxedError, Ede, Fault};
use blason_zone::load::{review, Generated, Lint, LoadError, Loaded};
use blason_zone::update::{self, serial_gt, zone_with_serial, Edit, SerialPolicy, UpdateError};
use blason_zone::{Finding, Name, Zone};
use std::fmt;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where a zone's text comes from.
#[derive(Clone, Debug)]
pub enum ZoneSource {
    File(PathBuf),
    /// Text compiled into the binary (the example zone); `display` names it in logs.
    Bundled {
        display: String,
        bytes: &'static [u8],
    },
    /// Text made by the server (the catalog zone); `display` names it in logs.
    Text {
        display: String,
        text: Arc<[u8]>,
    },
    /// A secondary zone: transferred from these primaries (each with its key).
    Secondary {
        primaries: Vec<(std::net::SocketAddr, Option<blason_proto::tsig::Key>)>,
    },
}

impl ZoneSource {
    pub fn is_secondary(&self) -> bool {
        matches!(self, ZoneSource::Secondary { .. })
    }
}

impl fmt::Display for ZoneSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneSource::File(p) => write!(f, "{}", p.display()),
            ZoneSource::Bundled { display, .. } | ZoneSource::Text { display, .. } => {
                f.write_str(display)
            }
            ZoneSource::Secondary { primaries } => {
                let p: Vec<String> = primaries.iter().map(|(a, _)| a.to_string()).collect();
                write!(f, "primaries {}", p.join(", "))
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct ZoneSpec {
    pub origin: Name,
    pub source: ZoneSource,
    /// Records made from configuration (mail records, TLSA following certificate
    /// files), added at every load and reload.
    pub generator: Option<Arc<dyn Generator>>,
    /// Sign the zone and carry out its key rolls (see [`crate::dnssec`]); None serves
    /// it as read.
    pub dnssec: Option<Arc<ZoneDnssec>>,
    /// Where the zone's journal lives (`<state>/<zone>/journal`); None keeps no
    /// journal (the bundled example).
    pub journal: Option<PathBuf>,
    /// How the served serial moves on a change.
    pub serial: SerialPolicy,
    /// Bytes of changes the journal keeps after its snapshot before it is rewritten
    /// with a new one; None: the snapshot's own size, at least 8 MiB.
    pub journal_size: Option<u64>,
    /// Checks added to the zone's own at every load (the mail lints): logged, never
    /// refusing the zone.
    pub lints: Vec<Arc<dyn Lint>>,
    /// Who may transfer the zone, and whom to NOTIFY of each new serial.
    pub xfr: crate::xfr::XfrSpec,
    /// A digest of the configuration that made this spec. A config reload that gives
    /// the zone another reopens it (from its journal) with the new settings; the same,
    /// and only its file is read again.
    pub settings: u64,
}

impl ZoneSpec {
    pub fn new(origin: Name, source: ZoneSource) -> ZoneSpec {
        ZoneSpec {
            origin,
            source,
            generator: None,
            dnssec: None,
            journal: None,
            serial: SerialPolicy::Keep,
            journal_size: None,
            lints: Vec::new(),
            xfr: Default::default(),
            settings: 0,
        }
    }
}

/// Makes records for a zone from something other than its file. Called on the control
/// path only; time comes in as unix seconds so that planners stay pure.
pub trait Generator: Send + Sync + fmt::Debug {
    /// The records to add at `now`, and findings to log. An error stops the load (the
    /// old snapshot keeps serving on reload).
    fn generate(&self, now: u64) -> Result<(Vec<Generated>, Vec<Finding>), BoxedError>;
    /// True when `generate(now)` would give other records than last time (a watched
    /// file changed, a planned step fell due); polled by the control loop.
    fn due(&self, now: u64) -> bool;
    /// The records of the last `generate` are served now (the commit's receipt):
    /// the moment to record what they start (a TLSA record's publication time).
    fn committed(&self, _now: u64) {}
}

/// Unix seconds now (the control path's clock).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a zone change was not committed. Each variant names its culprit ([`fault`]);
/// [`rcode`] is how a responder that meets it answers.
///
/// [`fault`]: ZoneError::fault
/// [`rcode`]: ZoneError::rcode
#[derive(Debug)]
pub enum ZoneError {
    Read(LoadError),
    /// The generated records could not be made.
    Generate(BoxedError),
    /// The zone was read but its checks found errors; all findings are kept.
    Checks(Vec<Finding>),
    /// The zone could not be signed (keys unreadable, no randomness, ...).
    Sign(blason_dnssec::Error),
    /// The journal could not be read or written; nothing was published.
    Journal(JournalError),
    /// Our own change did not apply to the zone it was made for.
    Update(UpdateError),
    /// An invariant of the commit broke.
    Internal(String),
    /// No primary gave a secondary zone (each one's answer).
    Primaries(String),
    /// A secondary zone heard from no primary for longer than its SOA's expire.
    Expired,
}

impl ZoneError {
    pub fn fault(&self) -> Fault {
        match self {
            ZoneError::Read(e) => e.fault(),
            ZoneError::Generate(e) => e.fault(),
            ZoneError::Checks(_) => Fault::Input,
            ZoneError::Sign(e) => e.fault(),
            ZoneError::Journal(e) => e.fault(),
            ZoneError::Update(_) | ZoneError::Internal(_) => Fault::Internal,
            ZoneError::Primaries(_) | ZoneError::Expired => Fault::System,
        }
    }

    /// The RCODE and Extended DNS Error of an answer about a zone left without
    /// usable data by this error (the one mapping transfers and updates use).
    pub fn rcode(&self) -> (u16, Ede) {
        match self {
            // RFC 8914 §4.25: "its most recent zone being too old or having expired".
            ZoneError::Expired => (2, Ede::InvalidData),
            _ => self.fault().rcode(),
        }
    }
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::Read(e) => write!(f, "{e}"),
            ZoneError::Generate(e) => write!(f, "generated records: {e}"),
            ZoneError::Sign(e) => write!(f, "dnssec: {e}"),
            ZoneError::Journal(e) => write!(f, "{e}"),
            ZoneError::Update(e) => write!(f, "internal error: {e}"),
            ZoneError::Internal(e) => write!(f, "internal error: {e}"),
            ZoneError::Primaries(e) => write!(f, "no primary gave the zone: {e}"),
            ZoneError::Expired => {
                f.write_str("expired: no primary answered within the SOA's expire")
            }
            ZoneError::Checks(fs) => {
                let n = fs.iter().filter(|x| x.is_error()).count();
                write!(f, "{n} error(s) in checks")
            }
        }
    }
}

impl std::error::Error for ZoneError {}

impl Blame for ZoneError {
    fn fault(&self) -> Fault {
        ZoneError::fault(self)
    }
}

/// Reads and checks one zone's file with its generated records; logs every finding
/// against the zone's name. The result is the unsigned data, not yet committed.
pub fn read_zone(spec: &ZoneSpec, now: u64) -> Result<(Arc<Zone>, Vec<Generated>), ZoneError> {
    let (extra, gen_findings) = match &spec.generator {
        Some(g) => g.generate(now).map_err(ZoneError::Generate)?,
        None => (Vec::new(), Vec::new()),
    };
    let mut loaded = read(spec, &extra).map_err(ZoneError::Read)?;
    loaded.findings.extend(gen_findings);
    let lints: Vec<&dyn Lint> = spec.lints.iter().map(|l| l.as_ref() as &dyn Lint).collect();
    // The check `blason zone check` runs: only the zone's own errors refuse it.
    let refusing = review(&mut loaded, &lints);
    for f in &loaded.findings {
        let level = if f.is_error() && refusing > 0 {
            log::Level::Error
        } else {
            log::Level::Warn
        };
        log::log(
            level,
            "zone finding",
            &[
                ("zone", &spec.origin),
                ("source", &spec.source),
                ("finding", f),
            ],
        );
    }
    if refusing > 0 {
        return Err(ZoneError::Checks(loaded.findings));
    }
    Ok((Arc::new(loaded.zone), extra))
}

fn read(spec: &ZoneSpec, extra: &[Generated]) -> Result<Loaded, LoadError> {
    match &spec.source {
        ZoneSource::File(p) => blason_zone::load::load_with_extra(&spec.origin, p, extra),
        ZoneSource::Bundled { display, bytes } => Ok(blason_zone::load::load_bytes_with_extra(
            &spec.origin,
            bytes,
            display,
            extra,
        )),
        ZoneSource::Text { display, text } => Ok(blason_zone::load::load_bytes_with_extra(
            &spec.origin,
            text,
            display,
            extra,
        )),
        // A secondary has no text of its own: its data comes by transfer.
        ZoneSource::Secondary { .. } => Err(LoadError {
            path: PathBuf::from(format!("{} (a secondary zone)", spec.origin)),
            io: std::io::ErrorKind::Unsupported.into(),
        }),
    }
}

/// Swaps the served zones in: the one place queries' catalog changes. Zones commit
/// from their own threads; the lock orders the swaps so none undoes another's.
pub(crate) struct Publisher {
    pub shared: Arc<crate::Shared>,
    pub options: blason_answer::Options,
    /// What each zone serves, and whether it has no usable data (a secondary past
    /// its expire: answered with this error instead).
    pub served: Mutex<Vec<(Arc<Zone>, Option<ZoneError>)>>,
}

impl Publisher {
    /// Publishes `zone` as its origin's snapshot, a zone new to the set included (or
    /// every zone as it is, with None).
    fn publish(&self, change: Option<Arc<Zone>>) {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(z) = change {
            match served.iter_mut().find(|s| s.0.origin() == z.origin()) {
                Some(s) => s.0 = z,
                None => served.push((z, None)),
            }
        }
        self.swap(&served);
    }

    /// Marks the zone `origin` without usable data (`Some`: answered as that error
    /// maps), or usable again.
    fn set_unusable(&self, origin: &Name, why: Option<ZoneError>) {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = served.iter_mut().find(|s| s.0.origin() == origin) {
            s.1 = why;
        }
        self.swap(&served);
    }

    /// Stops serving every zone `keep` says no to (zones that left the config).
    fn retain(&self, keep: impl Fn(&Name) -> bool) {
        let mut served = self.served.lock().unwrap_or_else(|e| e.into_inner());
        let before = served.len();
        served.retain(|s| keep(s.0.origin()));
        if served.len() != before {
            self.swap(&served);
        }
    }

    fn swap(&self, served: &[(Arc<Zone>, Option<ZoneError>)]) {
        let usable: Vec<Arc<Zone>> = served
            .iter()
            .filter(|s| s.1.is_none())
            .map(|s| s.0.clone())
            .collect();
        // The one mapping from a failure to what a query gets (RCODE and EDE).
        let unusable: Vec<(Name, u16)> = served
            .iter()
            .filter_map(|(z, e)| e.as_ref().map(|e| (z.origin().clone(), e.rcode().1.code())))
            .collect();
        // Indexes of zones whose names did not change are reused (O(zones)).
        let cat = self
            .shared
            .catalog
            .load()
            .next(usable, self.options.clone())
            .with_unavailable(unusable);
        self.shared.catalog.store(Arc::new(cat));
    }
}

/// What a commit did: the receipt a source waits for before recording outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The serial now served.
    pub serial: u32,
    /// Records in the journaled changeset; None when the zone was written whole.
    pub records: Option<usize>,
}

/// One served zone: its spec, the snapshot served, its journal. Owned by the zone's
/// worker thread; nothing else changes it.
struct Handle {
    spec: ZoneSpec,
    served: Arc<Zone>,
    journal: Option<Journal>,
    /// Restored from the journal: its file is read, and its changes committed, once
    /// queries are answered.
    pending_file: bool,
    /// Restored with signatures expired or about to: signed anew before it is served.
    stale: bool,
    /// The unsigned data last committed (for an unsigned zone, `served` before its
    /// serial moved): the base each source's changes are played on.
    unsigned: Arc<Zone>,
    /// The zone file with its generated records as last read and checked, and those
    /// generated records: a reload plays the difference to the new reading onto
    /// `unsigned` (so records from other sources survive it), and a change of the
    /// generated records alone is played without reading the file.
    source: Option<(Arc<Zone>, Vec<Generated>)>,
    publisher: Arc<Publisher>,
    /// The zone holds records of its own (submitted edits): the reading of its file
    /// is kept beside the journal (`source`), so that after a restart a file change
    /// is played onto the zone rather than the file taken whole.
    keeps_source: bool,
    /// Commits go to the journal but are not published yet (the first publication
    /// waits until every zone is fit to serve).
    quiet: bool,
    /// Where new serials are announced, and to whom.
    notify: Option<Notify>,
    /// A secondary zone: when a primary last answered (unix seconds, kept beside the
    /// journal so that a restart does not restart the expire clock), and whether the
    /// zone expired.
    heard: u64,
    expired: bool,
    /// A NOTIFY's wake is queued (see `Waker`).
    wake_pending: Arc<std::sync::atomic::AtomicBool>,
}

/// A zone's secondaries and the notifier that tells them of new serials.
#[derive(Clone)]
pub(crate) struct Notify {
    pub notifier: crate::notify::Notifier,
    /// The configured secondaries, with their keys.
    pub configured: Vec<(std::net::SocketAddr, Option<blason_proto::tsig::Key>)>,
    /// This server's addresses (never notified).
    pub own: Vec<std::net::SocketAddr>,
    /// The NS targets' addresses too.
    pub ns: bool,
}

/// The zones being served, each on a worker thread of its own: a zone signed whole
/// or a slow parent never holds up another zone's commit, a reload or a command.
/// Every change to a served snapshot goes through its zone's `Handle::commit`.
pub struct ZoneSet {
    /// Changed by a config reload (zones added and removed); locked only to look up
    /// or change the list, never while a zone works.
    workers: Mutex<Vec<Worker>>,
    publisher: Arc<Publisher>,
    poll: Duration,
    /// The notifier and this server's own addresses (never notified).
    notify: Option<(crate::notify::Notifier, Vec<std::net::SocketAddr>)>,
    /// TSIG keys, named by zones' notify targets.
    keys: Mutex<Vec<blason_proto::tsig::Key>>,
    reconfig: Mutex<()>,
}

/// A zone's thread and how to reach it.
struct Worker {
    spec: ZoneSpec,
    /// Shared with the zone's handle: a NOTIFY's wake is queued.
    wake_pending: Arc<std::sync::atomic::AtomicBool>,
    /// The journal's history, read by outgoing IXFR.
    history: Option<crate::journal::History>,
    jobs: Sender<Job>,
    thread: Option<JoinHandle<()>>,
}

/// What a zone's worker is asked to do; each answers on its channel when done.
enum Job {
    /// Read the file of a zone restored from its journal.
    Sync(Sender<()>),
    /// Read the file again (from this source, with a config reload: the catalog's
    /// text is made anew).
    Reload(Option<ZoneSource>, Sender<Result<(), String>>),
    /// An operator's DNSSEC request, then an executor pass.
    Dnssec(Request, Sender<Result<String, Refusal>>),
    /// `blason dnssec status`, from the executor's state.
    Status(Sender<Result<String, Refusal>>),
    /// A change to commit; answered with the receipt once it is served and durable.
    Submit(Change, Sender<Result<Receipt, Refusal>>),
    /// A secondary zone asks its primaries now (a NOTIFY came).
    Refresh,
    /// `blason zone dynamic`: the records dynamic changes made, and when.
    Dynamic(Sender<Result<String, Refusal>>),
    Stop,
}

/// Wakes a secondary zone's worker to ask its primaries now (a NOTIFY came). Wakes
/// that come while one waits are one: a flood of NOTIFY costs one refresh.
#[derive(Clone)]
pub(crate) struct Waker(Sender<Job>, Arc<std::sync::atomic::AtomicBool>);

impl Waker {
    pub fn wake(&self) {
        if !self.1.swap(true, std::sync::atomic::Ordering::AcqRel) {
            let _ = self.0.send(Job::Refresh);
        }
    }
}

/// A change and where its receipt goes.
type Submission = (Change, Sender<Result<Receipt, Refusal>>);

/// A change submitted to a zone.
#[derive(Debug)]
pub enum Change {
    /// Edits, played as they are.
    Edits(Vec<Edit>),
    /// A dynamic update (RFC 2136): its prerequisites are checked and its rules
    /// applied on the zone as it is when its turn comes in the commit.
    Update {
        prereqs: Vec<blason_zone::update::dynamic::Prereq>,
        updates: Vec<blason_zone::update::dynamic::Update>,
    },
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Zones whose reading gave a new snapshot (or the same content).
    pub replaced: usize,
    /// Zones that failed and kept serving their previous snapshot (or, new to the
    /// config, are not served), with the reason.
    pub kept: Vec<(Name, String)>,
    /// Zones new to the config, served now.
    pub added: Vec<Name>,
    /// Zones that left the config, served no more.
    pub removed: Vec<Name>,
}

impl ReloadReport {
    /// `replaced=N kept_old=M[ added=A,B][ removed=C]; zone kept its old data: why`
    pub fn text(&self) -> String {
        let mut text = format!("replaced={} kept_old={}", self.replaced, self.kept.len());
        for (what, list) in [("added", &self.added), ("removed", &self.removed)] {
            if !list.is_empty() {
                let names: Vec<String> = list.iter().map(|n| n.to_string()).collect();
                text.push_str(&format!(" {what}={}", names.join(",")));
            }
        }
        for (z, why) in &self.kept {
            text.push_str(&format!("; {z} kept its old data: {why}"));
        }
        text
    }
}

/// Logs an error about a zone, naming it and where its data comes from.
fn log_zone_error(spec: &ZoneSpec, msg: &str, e: &dyn fmt::Display) {
    log::error(
        msg,
        &[
            ("zone", &spec.origin),
            ("source", &spec.source),
            ("reason", e),
        ],
    );
}

/// The longest a signed zone's executor sleeps: the planner's next event comes
/// sooner when one is due; this bounds how long a vanished state folder or a request
/// file left while no server ran goes unnoticed.
const MAX_SLEEP: Duration = Duration::from_secs(5);

impl ZoneSet {
    /// Opens every zone, each on its own thread: from its journal when it has one (its
    /// file is read after the start, see [`ZoneSet::sync_restored`]), else from its
    /// file (signed, for a DNSSEC zone) with a new journal. Any failure refuses the
    /// whole start (returned all together so the operator sees every problem at once).
    /// Then each zone's worker starts: it polls the zone's generated records every
    /// `poll` and runs its DNSSEC executor when the planner's next event falls due.
    pub(crate) fn open_all(
        specs: Vec<ZoneSpec>,
        publisher: Arc<Publisher>,
        poll: Duration,
        notify: Option<(crate::notify::Notifier, Vec<std::net::SocketAddr>)>,
        keys: Vec<blason_proto::tsig::Key>,
    ) -> Result<ZoneSet, Vec<(ZoneSpec, ZoneError)>> {
        let set = ZoneSet {
            workers: Mutex::new(Vec::new()),
            publisher: publisher.clone(),
            poll,
            notify,
            keys: Mutex::new(keys),
            reconfig: Mutex::new(()),
        };
        let mut handles = Vec::new();
        let mut failed = Vec::new();
        for (spec, r) in open_specs(specs) {
            match r {
                Ok(o) => handles.push(set.handle(spec, o)),
                Err(e) => failed.push((spec, e)),
            }
        }
        if !failed.is_empty() {
            return Err(failed);
        }
        for h in handles.iter_mut().filter(|h| h.stale) {
            h.sync_one();
        }
        *publisher.served.lock().unwrap_or_else(|e| e.into_inner()) =
            handles.iter().map(|h| (h.served.clone(), None)).collect();
        publisher.publish(None);
        for h in handles {
            let spec = h.spec.clone();
            let w = set
                .start_worker(h)
                .map_err(|e| vec![(spec, ZoneError::Internal(e))])?;
            set.lock().push(w);
        }
        set.publish_xfr_table();
        Ok(set)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Worker>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A zone's handle, as opened: not published yet (`quiet`).
    fn handle(&self, spec: ZoneSpec, o: Opened) -> Handle {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone();
        // Secondaries are told of new serials when the zone has any.
        let notify = self.notify.as_ref().and_then(|(n, own)| {
            let configured: Vec<_> = spec
                .xfr
                .notify
                .iter()
                .map(|t| {
                    let key = t
                        .key
                        .as_ref()
                        .and_then(|k| keys.iter().find(|x| x.name == *k).cloned());
                    (t.addr, key)
                })
                .collect();
            (!configured.is_empty() || !spec.xfr.allow.is_empty()).then(|| Notify {
                notifier: n.clone(),
                configured,
                own: own.clone(),
                ns: spec.xfr.notify_ns,
            })
        });
        let secondary = spec.source.is_secondary();
        Handle {
            notify,
            heard: last_heard(&spec).unwrap_or_else(now_unix),
            expired: false,
            wake_pending: Default::default(),
            spec,
            served: o.served,
            journal: o.journal,
            pending_file: o.source.is_none() && !secondary,
            stale: o.stale,
            unsigned: o.unsigned,
            keeps_source: o.saved_source.is_some(),
            source: o.source.or(o.saved_source.map(|z| (z, Vec::new()))),
            publisher: self.publisher.clone(),
            quiet: true,
        }
    }

    /// Starts the worker thread of a zone whose snapshot is published.
    fn start_worker(&self, mut h: Handle) -> Result<Worker, String> {
        h.quiet = false;
        if !h.pending_file {
            if let Some(g) = &h.spec.generator {
                g.committed(now_unix());
            }
        }
        let (tx, rx) = mpsc::channel();
        let spec = h.spec.clone();
        let history = h.journal.as_ref().map(|j| j.history());
        let wake_pending = h.wake_pending.clone();
        let poll = self.poll;
        let thread = std::thread::Builder::new()
            .name(format!("zone {}", spec.origin))
            .spawn(move || h.work(rx, poll))
            .map_err(|e| format!("cannot start the zone's thread: {e}"))?;
        Ok(Worker {
            spec,
            wake_pending,
            history,
            jobs: tx,
            thread: Some(thread),
        })
    }

    /// Makes what outgoing transfers and incoming NOTIFY need of every zone anew
    /// (keeping the records of what was seen and heard) and swaps it in.
    fn publish_xfr_table(&self) {
        let shared = &self.publisher.shared;
        let old = shared.xfr.load();
        let workers = self.lock();
        let table = crate::xfr::XfrTable {
            zones: workers
                .iter()
                .map(|w| {
                    (
                        w.spec.origin.clone(),
                        (w.spec.xfr.clone(), w.history.clone()),
                    )
                })
                .collect(),
            keys: self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            seen: old.seen.clone(),
            incoming: old.incoming.clone(),
            secondaries: workers
                .iter()
                .filter_map(|w| match &w.spec.source {
                    ZoneSource::Secondary { primaries } => Some((
                        w.spec.origin.clone(),
                        (
                            primaries.clone(),
                            Waker(w.jobs.clone(), w.wake_pending.clone()),
                        ),
                    )),
                    _ => None,
                })
                .collect(),
        };
        shared.xfr.store(Arc::new(table));
    }

    /// The zones served now.
    pub fn specs(&self) -> Vec<ZoneSpec> {
        self.lock().iter().map(|w| w.spec.clone()).collect()
    }

    /// True when some zone is signed.
    pub fn has_dnssec(&self) -> bool {
        self.lock().iter().any(|w| w.spec.dnssec.is_some())
    }

    /// Reads the file of each zone restored from its journal and commits what
    /// changed while the server was down (usually nothing), all zones at once;
    /// returns when all are done. A file that fails leaves the journal's zone serving.
    pub fn sync_restored(&self) {
        let waits: Vec<_> = self
            .lock()
            .iter()
            .map(|w| {
                let (tx, rx) = mpsc::channel();
                let _ = w.jobs.send(Job::Sync(tx));
                rx
            })
            .collect();
        for rx in waits {
            let _ = rx.recv();
        }
    }

    /// Re-reads every zone, all at once; a zone that fails keeps its old snapshot.
    /// Returns when every zone is done.
    pub fn reload(&self) -> ReloadReport {
        self.start_reload().finish()
    }

    /// Asks every zone to re-read its file; the answers are collected by the caller
    /// ([`PendingReload::finish`]), so nothing waits here.
    pub fn start_reload(&self) -> PendingReload {
        self.start_reload_with(|_| None)
    }

    /// [`ZoneSet::start_reload`], handing each zone the source `source` gives.
    fn start_reload_with(&self, source: impl Fn(&Name) -> Option<ZoneSource>) -> PendingReload {
        let waits = self
            .lock()
            .iter()
            .map(|w| {
                let (tx, rx) = mpsc::channel();
                let sent = w.jobs.send(Job::Reload(source(&w.spec.origin), tx)).is_ok();
                (w.spec.origin.clone(), sent.then_some(rx))
            })
            .collect();
        PendingReload {
            waits,
            report: ReloadReport::default(),
        }
    }

    /// Takes a new list of zones (a config reload): zones that left it stop being
    /// served; new ones are opened (from their journal when they had one) and served;
    /// zones whose settings changed are reopened with them (their old data serves
    /// until the new is ready); the rest read their files again. New zones answer
    /// before any other zone commits, so a catalog announces only zones that answer.
    /// Returns when every zone is done. One reconfiguration runs at a time.
    pub fn reconfigure(
        &self,
        specs: Vec<ZoneSpec>,
        keys: Vec<blason_proto::tsig::Key>,
    ) -> ReloadReport {
        let _one = self.reconfig.lock().unwrap_or_else(|e| e.into_inner());
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = keys;
        let mut report = ReloadReport::default();
        let kept = |w: &Worker| {
            specs
                .iter()
                .any(|n| n.origin == w.spec.origin && n.settings == w.spec.settings)
        };
        // Workers of zones removed or changed stop first: a reopened zone's journal
        // has one writer.
        let stopping: Vec<Worker> = {
            let mut ws = self.lock();
            let (keep, stop) = std::mem::take(&mut *ws).into_iter().partition(kept);
            *ws = keep;
            stop
        };
        for w in &stopping {
            let _ = w.jobs.send(Job::Stop);
        }
        let running: Vec<(Name, u64)> = self
            .lock()
            .iter()
            .map(|w| (w.spec.origin.clone(), w.spec.settings))
            .collect();
        let mut changed = Vec::new();
        for mut w in stopping {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
            if specs.iter().any(|n| n.origin == w.spec.origin) {
                changed.push(w.spec.origin.clone());
            } else {
                log::info("zone removed", &[("zone", &w.spec.origin)]);
                report.removed.push(w.spec.origin.clone());
            }
        }
        self.publisher
            .retain(|o| specs.iter().any(|n| n.origin == *o));
        let opening: Vec<ZoneSpec> = specs
            .iter()
            .filter(|n| !running.iter().any(|(o, _)| *o == n.origin))
            .cloned()
            .collect();
        let mut syncs = Vec::new();
        let opened: Vec<Name> = opening.iter().map(|n| n.origin.clone()).collect();
        for (spec, r) in open_specs(opening) {
            let origin = spec.origin.clone();
            let mut h = match r {
                Ok(o) => self.handle(spec, o),
                Err(e) => {
                    log_zone_error(&spec, "cannot open the zone; not served", &e);
                    report.kept.push((origin, e.to_string()));
                    continue;
                }
            };
            if h.stale {
                h.sync_one();
            }
            self.publisher.publish(Some(h.served.clone()));
            match self.start_worker(h) {
                Ok(w) => {
                    let (tx, rx) = mpsc::channel();
                    let _ = w.jobs.send(Job::Sync(tx));
                    syncs.push(rx);
                    log::info(
                        "serving zone",
                        &[("zone", &w.spec.origin), ("source", &w.spec.source)],
                    );
                    self.lock().push(w);
                    if changed.contains(&origin) {
                        log::info("zone reopened with its new settings", &[("zone", &origin)]);
                        report.replaced += 1;
                    } else {
                        report.added.push(origin);
                    }
                }
                Err(e) => {
                    log::error(&e, &[("zone", &origin)]);
                    report.kept.push((origin, e));
                }
            }
        }
        for rx in syncs {
            let _ = rx.recv();
        }
        self.publish_xfr_table();
        // The rest read their files again; the catalog takes its new text.
        let mut pending = self.start_reload_with(|o| {
            specs
                .iter()
                .find(|n| n.origin == *o)
                .map(|n| n.source.clone())
        });
        pending.waits.retain(|(o, _)| !opened.contains(o));
        pending.report = report;
        pending.finish()
    }

    /// Hands an operator's DNSSEC request to the zone's worker, which answers on
    /// `reply` once it is carried out; nothing waits here.
    pub fn dnssec_request(
        &self,
        origin: &Name,
        r: Request,
        reply: Sender<Result<String, Refusal>>,
    ) {
        self.to_signed(origin, reply, |reply| Job::Dnssec(r, reply));
    }

    /// Hands `blason dnssec status` to the zone's worker, which answers on `reply`.
    pub fn dnssec_status(&self, origin: &Name, reply: Sender<Result<String, Refusal>>) {
        self.to_signed(origin, reply, Job::Status);
    }

    /// `blason zone dynamic`, answered by the zone's worker.
    pub fn dynamic_status(&self, origin: &Name, reply: Sender<Result<String, Refusal>>) {
        self.to_worker(origin, false, reply, Job::Dynamic);
    }

    /// Sends a job answering on `reply` to the worker of the signed zone `origin`;
    /// answers at once when there is none.
    fn to_signed(
        &self,
        origin: &Name,
        reply: Sender<Result<String, Refusal>>,
        job: impl FnOnce(Sender<Result<String, Refusal>>) -> Job,
    ) {
        self.to_worker(origin, true, reply, job)
    }

    /// Sends a job answering on `reply` to the worker of the zone `origin` (a signed
    /// one when `signed`); answers at once when there is none.
    fn to_worker(
        &self,
        origin: &Name,
        signed: bool,
        reply: Sender<Result<String, Refusal>>,
        job: impl FnOnce(Sender<Result<String, Refusal>>) -> Job,
    ) {
        let jobs = self
            .lock()
            .iter()
            .find(|w| w.spec.origin == *origin && (!signed || w.spec.dnssec.is_some()))
            .map(|w| w.jobs.clone());
        let Some(jobs) = jobs else {
            let what = if signed { "a signed zone" } else { "a zone" };
            let _ = reply.send(Err(Refusal::new(
                Fault::Config,
                format!("{origin} is not {what} of this server"),
            )));
            return;
        };
        // The worker answers on `reply` itself, so no caller waits here.
        if let Err(mpsc::SendError(
            Job::Dnssec(_, reply) | Job::Status(reply) | Job::Dynamic(reply),
        )) = jobs.send(job(reply))
        {
            let _ = reply.send(Err(Refusal::new(
                Fault::System,
                "the zone's worker has stopped",
            )));
        }
    }

    /// Hands edits to the zone `origin`'s worker, which answers on `reply` once they
    /// are served and durable (edits that arrive together share one commit).
    pub fn submit(&self, origin: &Name, edits: Vec<Edit>, reply: Sender<Result<Receipt, Refusal>>) {
        self.submit_change(origin, Change::Edits(edits), reply)
    }

    /// [`ZoneSet::submit`] for any change.
    pub fn submit_change(
        &self,
        origin: &Name,
        change: Change,
        reply: Sender<Result<Receipt, Refusal>>,
    ) {
        let jobs = self
            .lock()
            .iter()
            .find(|w| w.spec.origin == *origin)
            .map(|w| w.jobs.clone());
        let Some(jobs) = jobs else {
            let _ = reply.send(Err(Refusal::new(
                Fault::Config,
                format!("{origin} is not a zone of this server"),
            )));
            return;
        };
        if let Err(mpsc::SendError(Job::Submit(_, reply))) = jobs.send(Job::Submit(change, reply)) {
            let _ = reply.send(Err(Refusal::new(
                Fault::System,
                "the zone's worker has stopped",
            )));
        }
    }

    /// Stops every worker once its current job is done, and waits for them.
    pub fn stop(&self) {
        let workers = std::mem::take(&mut *self.lock());
        for w in &workers {
            let _ = w.jobs.send(Job::Stop);
        }
        for mut w in workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Opens zones all at once, each on a thread of its own.
fn open_specs(specs: Vec<ZoneSpec>) -> Vec<(ZoneSpec, Result<Opened, ZoneError>)> {
    std::thread::scope(|s| {
        let running: Vec<_> = specs
            .into_iter()
            .map(|spec| {
                let h = s.spawn({
                    let spec = spec.clone();
                    move || open_one(&spec)
                });
                (spec, h)
            })
            .collect();
        running
            .into_iter()
            .map(|(spec, h)| {
                let r = h.join().unwrap_or_else(|_| {
                    Err(ZoneError::Internal("the zone's opening panicked".into()))
                });
                (spec, r)
            })
            .collect()
    })
}

impl Drop for ZoneSet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Where a zone's worker answers a reload (None: the worker has stopped).
type ReloadAnswer = Option<Receiver<Result<(), String>>>;

/// A reload under way: each zone's answer, to be collected.
pub struct PendingReload {
    waits: Vec<(Name, ReloadAnswer)>,
    /// What was done before the reading (zones added and removed).
    report: ReloadReport,
}

impl PendingReload {
    /// Waits for every zone's answer.
    pub fn finish(self) -> ReloadReport {
        let mut report = self.report;
        for (origin, rx) in self.waits {
            let r = rx
                .ok_or(())
                .and_then(|rx| rx.recv().map_err(drop))
                .unwrap_or_else(|_| Err("the zone's worker has stopped".into()));
            match r {
                Ok(()) => report.replaced += 1,
                Err(e) => report.kept.push((origin, e)),
            }
        }
        report
    }
}

impl Handle {
    /// The zone's worker: carries out jobs as they come, polls the generated records
    /// every `poll`, and runs the DNSSEC executor when its planner's next event is due.
    fn work(mut self, jobs: Receiver<Job>, poll: Duration) {
        let poll = poll.max(Duration::from_secs(1));
        let signed = self.spec.dnssec.is_some();
        let mut next_poll = Instant::now() + poll;
        let mut next_tick = Instant::now();
        let secondary = self.spec.source.is_secondary();
        // A secondary asks its primaries at start, then per its SOA's timers.
        let mut next_refresh = Instant::now();
        // A job taken while gathering submissions, run next.
        let mut held: Option<Job> = None;
        loop {
            // What fell due runs first, however busy the queue: a stream of jobs
            // never starves the refresh, the poll or the signatures.
            let now = Instant::now();
            if secondary && now >= next_refresh {
                next_refresh = Instant::now() + self.refresh();
            }
            if now >= next_poll {
                self.poll();
                next_poll = Instant::now() + poll;
            }
            if signed && now >= next_tick {
                next_tick = Instant::now() + sleep_until(self.dnssec_tick());
            }
            let mut due = if signed {
                next_poll.min(next_tick)
            } else {
                next_poll
            };
            if secondary {
                due = due.min(next_refresh);
            }
            let job = match held.take() {
                Some(j) => Ok(j),
                None => jobs.recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            match job {
                Ok(Job::Submit(edits, done)) => {
                    // Group commit: every submission already waiting rides the same
                    // signing pass and the same journal write.
                    let mut batch = vec![(edits, done)];
                    loop {
                        match jobs.try_recv() {
                            Ok(Job::Submit(e, d)) => batch.push((e, d)),
                            Ok(other) => {
                                held = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    self.submit(batch);
                }
                Ok(Job::Sync(done)) => {
                    if self.pending_file {
                        self.sync_one();
                    }
                    let _ = done.send(());
                    // The generated records were just made: the next look is a
                    // poll interval from now, not from the worker's start.
                    next_poll = Instant::now() + poll;
                }
                Ok(Job::Reload(source, done)) => {
                    if let Some(s) = source {
                        self.spec.source = s;
                    }
                    let _ = done.send(self.reload_one().map_err(|e| e.to_string()));
                    next_tick = Instant::now();
                }
                Ok(Job::Refresh) => {
                    self.wake_pending
                        .store(false, std::sync::atomic::Ordering::Release);
                    next_refresh = Instant::now() + self.refresh();
                }
                Ok(Job::Dnssec(r, done)) => {
                    let _ = done.send(self.dnssec_request(r));
                    next_tick = Instant::now();
                }
                Ok(Job::Status(done)) => {
                    let r = match &self.spec.dnssec {
                        Some(d) => d.status(now_unix()).map_err(|e| Refusal::of(&e)),
                        None => Err(Refusal::new(Fault::Config, "not a signed zone")),
                    };
                    let _ = done.send(r);
                }
                Ok(Job::Dynamic(done)) => {
                    let _ = done.send(Ok(self.dynamic_view()));
                }
                Ok(Job::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                // The timers run at the top of the next pass.
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn publish(&self) {
        self.publisher.publish(Some(self.served.clone()));
    }

    /// The one road by which a served snapshot changes: serial moved forward, the
    /// changeset made durable in the journal, the snapshot swapped in, secondaries
    /// told (nothing yet). None when `next` serves nothing new. On error nothing was
    /// published.
    fn commit(&mut self, next: Arc<Zone>, now: u64) -> Result<Option<Receipt>, ZoneError> {
        let Some(next) = next_serial(self, next, now)? else {
            return Ok(None);
        };
        let limit = (self.served.nodes().len() / 4).max(1000);
        let cs = update::diff(&self.served, &next, limit);
        let records = cs.as_ref().map(|c| c.records());
        if let Some(j) = &mut self.journal {
            match j.finish_rewrite(false) {
                // Only space is lost: the journal as it was stays complete.
                Some(Err(e)) => {
                    log_zone_error(&self.spec, "journal rewrite failed; appending on", &e)
                }
                Some(Ok(())) => log::info(
                    "journal rewritten with a new snapshot",
                    &[
                        ("zone", &self.spec.origin),
                        ("journal", &j.path().display()),
                    ],
                ),
                None => {}
            }
            match &cs {
                Some(cs) if !j.is_broken() => j.append(cs),
                _ => j.rewrite(&next),
            }
            .map_err(ZoneError::Journal)?;
            if j.wants_rewrite() {
                j.start_rewrite(next.clone());
            }
        }
        let serial = next.serial().unwrap_or(0);
        self.served = next;
        if !self.quiet {
            self.publish();
        }
        let receipt = Receipt { serial, records };
        self.notify(&receipt);
        Ok(Some(receipt))
    }

    /// The commit's last step: the zone's secondaries are told of the new serial
    /// (NOTIFY, RFC 1996); the notifier retries until they answer.
    fn notify(&self, receipt: &Receipt) {
        let Some(n) = &self.notify else { return };
        let targets = if n.ns {
            crate::notify::targets(&self.served, &n.configured, &n.own)
        } else {
            n.configured.clone()
        };
        if targets.is_empty() {
            return;
        }
        let soa = self
            .served
            .soa()
            .and_then(|r| r.first().map(|rd| (r.ttl, rd.to_vec())));
        n.notifier.announce(crate::notify::Announce {
            zone: self.spec.origin.clone(),
            serial: receipt.serial,
            soa,
            targets,
        });
    }

    /// Reads the file of a zone restored from its journal. A zone whose journal holds
    /// signatures that have expired (or expire within minutes) is signed anew, from
    /// its file or else from the journal's own data, before anything is served.
    fn sync_one(&mut self) {
        self.pending_file = false;
        let now = now_unix();
        let spec = self.spec.clone();
        let served = self.served.clone();
        let file = read_zone(&spec, now);
        let mut base = if spec.dnssec.is_some() {
            blason_dnssec::sign::incremental::unsigned_of(&served)
        } else {
            (*served).clone()
        };
        // At the file's serial: a file unchanged since then gives no change at all.
        if let Some(s) = file.as_ref().ok().and_then(|f| f.0.serial()) {
            base = zone_with_serial(&base, s).unwrap_or(base);
        }
        let base = Arc::new(base);
        if let Some(d) = &spec.dnssec {
            d.restore(served, base.clone(), now);
        }
        self.unsigned = base.clone();
        match file {
            Ok((file, generated)) => {
                // A failure is logged; the journal's zone keeps serving.
                let _ = self.take_file(file, generated, now);
            }
            Err(e) => {
                log_zone_error(
                    &spec,
                    "cannot read the zone file; serving the zone from its journal",
                    &e,
                );
                if self.stale {
                    let _ = self.take_unsigned(base, None, now);
                }
            }
        }
        self.stale = false;
    }

    /// Plays freshly read file data onto the zone, signs it (a DNSSEC zone) and
    /// commits it; tells the generator once served.
    fn take_file(
        &mut self,
        file: Arc<Zone>,
        generated: Vec<Generated>,
        now: u64,
    ) -> Result<(), ZoneError> {
        let next = match &self.source {
            Some((old, _)) => match update::carry(&self.unsigned, old, &file) {
                Ok(z) => Arc::new(z),
                Err(e) => {
                    log::warn(
                        "the zone no longer holds what the file had; taking the file whole",
                        &[("zone", &self.spec.origin), ("reason", &e)],
                    );
                    file.clone()
                }
            },
            None => file.clone(),
        };
        self.take_unsigned(next, Some((file, generated)), now)
            .map(drop)
    }

    /// Signs (a DNSSEC zone) and commits new unsigned data; records where it came
    /// from and tells the generator once served.
    fn take_unsigned(
        &mut self,
        unsigned: Arc<Zone>,
        source: Option<(Arc<Zone>, Vec<Generated>)>,
        now: u64,
    ) -> Result<Option<Receipt>, ZoneError> {
        let spec = self.spec.clone();
        let next = match &spec.dnssec {
            Some(d) => d.load(unsigned.clone(), &now_unix).map_err(ZoneError::Sign),
            None => Ok(unsigned.clone()),
        };
        match next.and_then(|z| self.commit(z, now)) {
            Ok(receipt) => {
                self.unsigned = unsigned;
                if source.is_some() {
                    self.source = source;
                    // A failure leaves the last reading kept: carrying the file's
                    // change onto the zone again after a restart changes nothing.
                    if self.keeps_source {
                        let _ = self.save_source();
                    }
                }
                if let Some(g) = &spec.generator {
                    g.committed(now);
                }
                Ok(receipt)
            }
            Err(e) => {
                log_zone_error(&spec, "reload failed, keeping the serving snapshot", &e);
                Err(e)
            }
        }
    }

    /// Plays a change of the generated records alone onto the zone (the file is not
    /// read: an edit in progress does not go live); a zone never read from its file
    /// is read whole.
    fn take_generated(&mut self, now: u64) -> Result<(), ZoneError> {
        let spec = self.spec.clone();
        let (Some(g), Some((file, old))) = (&spec.generator, self.source.clone()) else {
            let (file, generated) = read_zone(&spec, now)?;
            return self.take_file(file, generated, now);
        };
        let (new, findings) = g.generate(now).map_err(ZoneError::Generate)?;
        for f in &findings {
            log::warn(
                "zone finding",
                &[
                    ("zone", &spec.origin),
                    ("source", &spec.source),
                    ("finding", f),
                ],
            );
        }
        let edits = update::generated_edits(&old, &new);
        let play = |z: &Zone| -> Result<Zone, ZoneError> {
            let cs = update::resolve(z, &edits).map_err(ZoneError::Update)?;
            update::apply(z, &cs).map_err(ZoneError::Update)
        };
        let unsigned = Arc::new(play(&self.unsigned)?);
        let file = Arc::new(play(&file)?);
        self.take_unsigned(unsigned, Some((file, new)), now)
            .map(drop)
    }

    /// Commits submitted edits, all in one commit (one signing pass, one journal
    /// write); each submitter gets the receipt, or why its edits were refused (those
    /// alone: the others go on). The records survive reloads: a file change is played
    /// onto the zone, not the file taken whole.
    fn submit(&mut self, batch: Vec<Submission>) {
        // A secondary zone's data is its primary's: it takes no change of its own.
        if self.spec.source.is_secondary() {
            for (_, reply) in batch {
                let _ = reply.send(Err(Refusal::with_rcode(
                    crate::update::REFUSED,
                    "a secondary zone takes changes only from its primaries",
                )));
            }
            return;
        }
        let now = now_unix();
        // The batch's changes are played onto one copy, in place: what the first
        // touches is copied once, not at every update.
        let mut zone: Zone = (*self.unsigned).clone();
        let mut changed = false;
        let mut waiting = Vec::with_capacity(batch.len());
        // What each change did, for the log of dynamic changes.
        let mut done: Vec<update::Changeset> = Vec::new();
        for (change, reply) in batch {
            let edits = match change {
                Change::Edits(e) => e,
                Change::Update { prereqs, updates } => {
                    use blason_zone::update::dynamic;
                    if let Err(rcode) = dynamic::check(&zone, &prereqs) {
                        let _ = reply.send(Err(Refusal::with_rcode(
                            rcode,
                            "a prerequisite does not hold",
                        )));
                        continue;
                    }
                    dynamic::plan(&zone, &updates)
                }
            };
            if edits.is_empty() {
                waiting.push(reply);
                continue;
            }
            let cs = match update::resolve(&zone, &edits) {
                Ok(cs) => cs,
                // The submitter's edits do not fit the zone (a name outside it).
                Err(e) => {
                    let _ = reply.send(Err(Refusal::new(Fault::Peer, e.to_string())));
                    continue;
                }
            };
            // Held to the zone's own checks, as a file is: a change may not leave
            // the zone's name servers without addresses (BIND's check-integrity
            // refuses such an update too). Only a change at the apex or at or above
            // a name server's name can: that one is tried on a copy first.
            let next = if touches_apex_ns(&zone, &cs) {
                update::apply(&zone, &cs).map(|z| {
                    match blason_zone::check::apex_ns_error(&z)
                        .filter(|_| blason_zone::check::apex_ns_error(&zone).is_none())
                    {
                        Some(why) => Err(why),
                        None => Ok(Some(z)),
                    }
                })
            } else {
                update::apply_in_place(&mut zone, &cs).map(|()| Ok(None))
            };
            match next {
                Ok(Err(why)) => {
                    let _ = reply.send(Err(Refusal::with_rcode(
                        crate::update::REFUSED,
                        format!("the change would break the zone: {why}"),
                    )));
                }
                Ok(Ok(z)) => {
                    if let Some(z) = z {
                        zone = z;
                    }
                    changed = true;
                    done.push(cs);
                    waiting.push(reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(Refusal::new(Fault::Peer, e.to_string())));
                }
            }
        }
        if waiting.is_empty() {
            return;
        }
        // Before the first records of its own are committed, the file's reading is
        // kept: a restart must tell them from the file's.
        if !self.keeps_source && self.spec.journal.is_some() {
            if let Err(e) = self.save_source() {
                let refusal = Refusal::of(&e);
                for reply in waiting {
                    let _ = reply.send(Err(refusal.clone()));
                }
                return;
            }
            self.keeps_source = true;
        }
        let r = if changed {
            self.take_unsigned(Arc::new(zone), None, now)
        } else {
            Ok(None)
        };
        let r = match r {
            Ok(Some(receipt)) => Ok(receipt),
            // Nothing new: the zone holds the edits already.
            Ok(None) => Ok(Receipt {
                serial: self.served.serial().unwrap_or(0),
                records: Some(0),
            }),
            Err(e) => Err(Refusal::of(&e)),
        };
        for reply in waiting {
            let _ = reply.send(r.clone());
        }
        // After the answers: the log is not what makes the changes durable.
        if let Ok(receipt) = &r {
            self.log_dynamic(&done, receipt.serial, now);
        }
    }

    /// Appends what committed dynamic changes added and removed to the zone's log
    /// of them (beside its journal), for `blason zone dynamic`. Informational: the
    /// journal is what makes them durable, so a failure here is only logged.
    fn log_dynamic(&self, done: &[update::Changeset], serial: u32, now: u64) {
        use std::io::Write as _;
        let Some(path) = dynamic_log_path(&self.spec) else {
            return;
        };
        let mut text = String::new();
        for cs in done {
            for (sign, list) in [('-', &cs.removed), ('+', &cs.added)] {
                for (name, rrset) in list
                    .iter()
                    .filter(|(_, r)| r.rtype != blason_zone::Rtype::SOA)
                {
                    for rd in rrset.rdatas() {
                        text.push_str(&format!("{now}\t{serial}\t{sign}\t{name} {} ", rrset.ttl));
                        text.push_str(&format!("{} ", rrset.rtype));
                        blason_zone::rdata::write_rdata(&mut text, rrset.rtype, rd);
                        text.push('\n');
                    }
                }
            }
        }
        // One older generation is kept once the log passes 4 MB.
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 4 << 20) {
            let _ = std::fs::rename(&path, path.with_extension("log.1"));
        }
        let r = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = r {
            log::warn(
                "cannot write the log of dynamic changes",
                &[("zone", &self.spec.origin), ("reason", &e)],
            );
        }
    }

    /// The records dynamic changes made: those the zone has and its file does not
    /// (added), and those of the file it no longer has (removed), each with the time
    /// and serial of the change that made it so (from the log of dynamic changes).
    fn dynamic_view(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let _ = writeln!(o, "zone {}", self.spec.origin.to_lowercase());
        let Some((file, _)) = &self.source else {
            let _ = writeln!(o, "no dynamic changes: the zone is its file");
            return o;
        };
        let Some(cs) = update::diff(file, &self.unsigned, usize::MAX) else {
            let _ = writeln!(o, "no dynamic changes: the zone is its file");
            return o;
        };
        // The log, oldest first: the last word on each record wins.
        let mut when: std::collections::HashMap<(char, String), (u64, u32)> = Default::default();
        if let Some(path) = dynamic_log_path(&self.spec) {
            for p in [path.with_extension("log.1"), path] {
                for line in std::fs::read_to_string(&p).unwrap_or_default().lines() {
                    let f: Vec<&str> = line.splitn(4, '\t').collect();
                    if let [t, s, sign, rec] = f[..] {
                        if let (Ok(t), Ok(s), Some(c)) = (t.parse(), s.parse(), sign.chars().next())
                        {
                            when.insert((c, rec.to_string()), (t, s));
                        }
                    }
                }
            }
        }
        for (sign, list, what) in [
            (
                '+',
                &cs.added,
                "added by dynamic changes (the zone file does not have them)",
            ),
            (
                '-',
                &cs.removed,
                "of the zone file, removed by dynamic changes",
            ),
        ] {
            let mut lines = Vec::new();
            for (name, rrset) in list
                .iter()
                .filter(|(_, r)| r.rtype != blason_zone::Rtype::SOA)
            {
                for rd in rrset.rdatas() {
                    let mut rec = format!("{name} {} {} ", rrset.ttl, rrset.rtype);
                    blason_zone::rdata::write_rdata(&mut rec, rrset.rtype, rd);
                    let note = match when.get(&(sign, rec.clone())) {
                        Some((t, s)) => format!(
                            "{} at {}, serial {s}",
                            if sign == '+' { "added" } else { "removed" },
                            crate::dnssec::status::time_text(*t)
                        ),
                        None => "before the log of dynamic changes began".to_string(),
                    };
                    lines.push(format!("{rec} ; {note}"));
                }
            }
            let _ = writeln!(o, "; {} record(s) {what}", lines.len());
            for l in lines {
                let _ = writeln!(o, "{l}");
            }
        }
        o
    }

    /// Writes the file's last reading beside the journal (see `keeps_source`); a
    /// failure is logged by the caller.
    fn save_source(&self) -> Result<(), ZoneError> {
        match &self.source {
            Some((zone, _)) => keep_source(&self.spec, zone),
            None => Ok(()),
        }
    }

    /// Re-reads the zone's file; on failure the zone keeps its snapshot.
    fn reload_one(&mut self) -> Result<(), ZoneError> {
        if self.spec.source.is_secondary() {
            // A secondary's "file" is its primaries: ask them.
            self.refresh();
            return Ok(());
        }
        let now = now_unix();
        match read_zone(&self.spec, now) {
            Ok((f, g)) => self.take_file(f, g, now),
            Err(e) => {
                log_zone_error(
                    &self.spec,
                    "reload failed, keeping the serving snapshot",
                    &e,
                );
                Err(e)
            }
        }
    }

    /// A secondary zone asks its primaries (IXFR, AXFR when that fails) and commits
    /// what they give; returns how long until it asks again (the SOA's refresh, or
    /// its retry after a failure).
    fn refresh(&mut self) -> Duration {
        let ZoneSource::Secondary { primaries } = self.spec.source.clone() else {
            return Duration::from_secs(3600);
        };
        let (wait, heard) = self.ask_primaries(&primaries);
        let now = now_unix();
        if heard {
            self.heard = now;
            if let Some(p) = heard_path(&self.spec) {
                // Best effort: without it, a restart only restarts the clock.
                let _ = blason_store::write_atomic(&p, now.to_string().as_bytes(), 0o600);
            }
            if self.expired {
                self.expired = false;
                self.note_incoming(|i| i.expired = false);
                self.publisher.set_unusable(&self.spec.origin, None);
                log::info(
                    "secondary zone usable again",
                    &[("zone", &self.spec.origin)],
                );
            }
        } else if !self.expired
            && now.saturating_sub(self.heard) > u64::from(self.soa_field(3, 1_209_600))
        {
            self.expired = true;
            self.note_incoming(|i| i.expired = true);
            let e = ZoneError::Expired;
            log_zone_error(&self.spec, "secondary zone expired; answering SERVFAIL", &e);
            self.publisher.set_unusable(&self.spec.origin, Some(e));
        }
        wait
    }

    /// Field `i` of the served SOA's timers (0 serial, 1 refresh, 2 retry, 3 expire).
    fn soa_field(&self, i: usize, default: u32) -> u32 {
        self.served
            .soa()
            .and_then(|r| r.first().map(|d| d.to_vec()))
            .and_then(|d| {
                let n = d.len();
                (n >= 20).then(|| {
                    u32::from_be_bytes(
                        d[n - 20 + 4 * i..n - 16 + 4 * i]
                            .try_into()
                            .unwrap_or_default(),
                    )
                })
            })
            .unwrap_or(default)
    }

    /// Notes what the primaries said, for `blason xfr status`.
    fn note_incoming(&self, f: impl FnOnce(&mut crate::xfr::Incoming)) {
        let t = self.publisher.shared.xfr.load();
        let mut m = t.incoming.lock().unwrap_or_else(|e| e.into_inner());
        f(m.entry(self.spec.origin.clone()).or_default());
    }

    /// One round over the primaries: how long until the next, and whether one
    /// answered (with the zone, or that ours is current).
    fn ask_primaries(
        &mut self,
        primaries: &[(std::net::SocketAddr, Option<blason_proto::tsig::Key>)],
    ) -> (Duration, bool) {
        let (refresh, retry) = (
            self.soa_field(1, 3600).clamp(1, 86400),
            self.soa_field(2, 600).clamp(1, 86400),
        );
        for (addr, key) in primaries {
            match crate::xfr_in::pull(
                *addr,
                key.as_ref(),
                &self.spec.origin,
                Some(&self.served),
                Duration::from_secs(10),
            ) {
                Ok((crate::xfr_in::Pulled::UpToDate, _)) => {
                    let serial = self.served.serial().unwrap_or(0);
                    self.note_incoming(|i| i.ok = Some((now_unix(), "up to date", serial, *addr)));
                    return (Duration::from_secs(u64::from(refresh)), true);
                }
                Ok((crate::xfr_in::Pulled::Zone(z), how))
                    if !serial_gt(z.serial().unwrap_or(0), self.served.serial().unwrap_or(0)) =>
                {
                    // A lagging primary (or one that edits without a new serial): a
                    // secondary never goes back, nor changes data at the same serial.
                    log::warn(
                        "transfer in not taken: its serial is not newer than the one served",
                        &[
                            ("zone", &self.spec.origin),
                            ("primary", addr),
                            ("as", &how),
                            ("serial", &z.serial().unwrap_or(0)),
                        ],
                    );
                    let serial = self.served.serial().unwrap_or(0);
                    self.note_incoming(|i| i.ok = Some((now_unix(), "up to date", serial, *addr)));
                    return (Duration::from_secs(u64::from(refresh)), true);
                }
                Ok((crate::xfr_in::Pulled::Zone(z), how)) => {
                    let z = Arc::new(z);
                    match self.commit(z.clone(), now_unix()) {
                        Ok(r) => {
                            self.unsigned = z;
                            log::info(
                                "transfer in",
                                &[
                                    ("zone", &self.spec.origin),
                                    ("primary", addr),
                                    ("as", &how),
                                    ("serial", &r.map_or(0, |r| r.serial)),
                                ],
                            );
                            let serial = self.served.serial().unwrap_or(0);
                            self.note_incoming(|i| i.ok = Some((now_unix(), how, serial, *addr)));
                            return (Duration::from_secs(u64::from(refresh)), true);
                        }
                        Err(e) => {
                            log_zone_error(&self.spec, "transferred zone not committed", &e);
                            let why = format!("{addr}: {e}");
                            self.note_incoming(|i| i.failed = Some((now_unix(), why)));
                        }
                    }
                }
                Err(e) => {
                    log::warn(
                        "transfer in failed; the old copy keeps serving",
                        &[
                            ("zone", &self.spec.origin),
                            ("primary", addr),
                            ("reason", &e),
                        ],
                    );
                    let why = format!("{addr}: {e}");
                    self.note_incoming(|i| i.failed = Some((now_unix(), why)));
                }
            }
        }
        (Duration::from_secs(u64::from(retry)), false)
    }

    /// Takes up the generated records when they changed (a watched certificate file,
    /// a TLSA record falling due); does nothing when they did not.
    fn poll(&mut self) {
        let now = now_unix();
        let due = self.spec.generator.as_ref().is_some_and(|g| g.due(now));
        if due && self.take_generated(now).is_ok() {
            log::info(
                "generated records changed, zone committed",
                &[
                    ("zone", &self.spec.origin),
                    ("serial", &self.served.serial().unwrap_or(0)),
                ],
            );
        }
    }

    /// Runs the zone's key-roll executor; each new snapshot is committed before the
    /// executor records its outcomes. Returns when the planner wants to be asked again.
    fn dnssec_tick(&mut self) -> Option<u64> {
        let d = self.spec.dnssec.clone()?;
        let r = d.tick(&now_unix, &mut |z| {
            self.commit(z, now_unix())
                .map(drop)
                .map_err(|e| Box::new(e) as BoxedError)
        });
        match r {
            Ok(w) => w,
            Err(e) => {
                d.report(&e, now_unix());
                None
            }
        }
    }

    /// An operator's request: carried out, then an executor pass (a confirmed DS
    /// lets a waiting roll go on at once).
    fn dnssec_request(&mut self, r: Request) -> Result<String, Refusal> {
        let d = self.spec.dnssec.clone().ok_or_else(|| {
            Refusal::new(
                Fault::Config,
                format!("{} is not a signed zone of this server", self.spec.origin),
            )
        })?;
        let text = d.request(r, now_unix()).map_err(|e| Refusal::of(&e))?;
        self.dnssec_tick();
        Ok(text)
    }
}

/// How long until `wake` (unix seconds), between one second and [`MAX_SLEEP`].
fn sleep_until(wake: Option<u64>) -> Duration {
    let now = now_unix();
    wake.map_or(MAX_SLEEP, |w| Duration::from_secs(w.saturating_sub(now)))
        .clamp(Duration::from_secs(1), MAX_SLEEP)
}

/// True if `cs` changes the apex or a name at or above one of the zone's in-zone
/// name servers: the only changes that can break [`blason_zone::check::apex_ns_error`].
fn touches_apex_ns(zone: &Zone, cs: &update::Changeset) -> bool {
    let origin = zone.origin();
    let targets: Vec<Name> = zone
        .apex()
        .rrset(blason_zone::Rtype::NS)
        .map(|ns| {
            ns.rdatas()
                .filter_map(|d| Name::from_wire(d).ok())
                .filter(|t| t.is_subdomain_of(origin))
                .collect()
        })
        .unwrap_or_default();
    cs.removed
        .iter()
        .chain(&cs.added)
        .any(|(n, _)| n == origin || targets.iter().any(|t| t.is_subdomain_of(n)))
}

/// `next` with its serial where the commit puts it, or None when it holds what is
/// served already. An unsigned zone's serial follows the zone's policy; a signed
/// zone's is the signer's, which must move forward.
fn next_serial(h: &Handle, next: Arc<Zone>, now: u64) -> Result<Option<Arc<Zone>>, ZoneError> {
    if Arc::ptr_eq(&next, &h.served) {
        return Ok(None);
    }
    let old = h.served.serial().unwrap_or(0);
    let proposed = next.serial().unwrap_or(0);
    if !serial_gt(proposed, old) {
        // The same data at the old serial: nothing to commit.
        let same = zone_with_serial(&next, old).unwrap_or_else(|| (*next).clone());
        if update::diff(&h.served, &same, 0).is_some() {
            return Ok(None);
        }
    }
    if h.spec.source.is_secondary() {
        // The primary's serial, as it gives it.
        return Ok(Some(next));
    }
    if h.spec.dnssec.is_some() {
        return if serial_gt(proposed, old) {
            Ok(Some(next))
        } else {
            Err(ZoneError::Internal(format!(
                "the signer did not move the serial forward ({proposed} after {old})"
            )))
        };
    }
    let want = h.spec.serial.next(old, proposed, now);
    if want == proposed {
        return Ok(Some(next));
    }
    zone_with_serial(&next, want)
        .map(|z| Some(Arc::new(z)))
        .ok_or_else(|| ZoneError::Internal("a checked zone without a well-formed SOA".into()))
}

/// A secondary zone with no journal yet: an AXFR from the first primary that gives
/// one. None gives one: the start is refused, naming each primary's answer.
fn first_transfer(
    spec: &ZoneSpec,
    primaries: &[(std::net::SocketAddr, Option<blason_proto::tsig::Key>)],
) -> Result<Arc<Zone>, ZoneError> {
    let mut why = Vec::new();
    for (addr, key) in primaries {
        match crate::xfr_in::pull(
            *addr,
            key.as_ref(),
            &spec.origin,
            None,
            Duration::from_secs(10),
        ) {
            Ok((crate::xfr_in::Pulled::Zone(z), how)) => {
                log::info(
                    "transfer in",
                    &[
                        ("zone", &spec.origin),
                        ("primary", addr),
                        ("as", &how),
                        ("serial", &z.serial().unwrap_or(0)),
                    ],
                );
                return Ok(Arc::new(z));
            }
            Ok((crate::xfr_in::Pulled::UpToDate, _)) => why.push(format!("{addr}: no zone")),
            Err(e) => why.push(format!("{addr}: {e}")),
        }
    }
    Err(ZoneError::Primaries(why.join("; ")))
}

/// A zone's journal opened (its zone restored), or its file read, signed and a
/// journal started.
/// Where a zone's file reading is kept beside its journal (see `Handle::keeps_source`).
fn source_path(spec: &ZoneSpec) -> Option<PathBuf> {
    Some(spec.journal.as_ref()?.with_file_name("source"))
}

/// Where a zone logs what its dynamic changes added and removed, and when.
fn dynamic_log_path(spec: &ZoneSpec) -> Option<PathBuf> {
    Some(spec.journal.as_ref()?.with_file_name("dynamic.log"))
}

/// Where a secondary zone keeps when a primary last answered.
fn heard_path(spec: &ZoneSpec) -> Option<PathBuf> {
    Some(spec.journal.as_ref()?.with_file_name("heard"))
}

/// When a primary last answered a secondary zone, as kept beside its journal.
fn last_heard(spec: &ZoneSpec) -> Option<u64> {
    if !spec.source.is_secondary() {
        return None;
    }
    std::fs::read_to_string(heard_path(spec)?)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The file reading kept beside the journal, if any; unreadable, it is set aside
/// (the file is then taken whole, as for a zone without records of its own).
fn saved_source(spec: &ZoneSpec) -> Option<Arc<Zone>> {
    let path = source_path(spec)?;
    let bytes = std::fs::read(&path).ok()?;
    match update::codec::decode_zone(&bytes) {
        Ok(z) => Some(Arc::new(z)),
        Err(e) => {
            log::error(
                "the kept reading of the zone file is unreadable; the file will be taken whole",
                &[
                    ("zone", &spec.origin),
                    ("file", &path.display()),
                    ("reason", &e),
                ],
            );
            let _ = std::fs::rename(&path, path.with_extension("damaged"));
            None
        }
    }
}

struct Opened {
    served: Arc<Zone>,
    /// Restored with signatures that expire within [`STALE_MARGIN`].
    stale: bool,
    journal: Option<Journal>,
    unsigned: Arc<Zone>,
    /// None: restored from the journal, the file not read yet.
    source: Option<(Arc<Zone>, Vec<Generated>)>,
    /// Restored, with the file's reading kept beside the journal.
    saved_source: Option<Arc<Zone>>,
}

fn open_one(spec: &ZoneSpec) -> Result<Opened, ZoneError> {
    let mut floor: Option<u32> = None;
    if let Some(path) = &spec.journal {
        if let Some(dir) = path.parent() {
            make_private_dir(dir).map_err(|source| {
                ZoneError::Journal(JournalError::Io {
                    path: dir.to_path_buf(),
                    op: "create the folder",
                    source,
                })
            })?;
        }
        let started = std::time::Instant::now();
        match Journal::open(path) {
            Ok(Some((mut j, r))) => {
                j.set_rewrite_at(spec.journal_size);
                if r.cut > 0 {
                    log::warn(
                        "journal: cut a torn tail left by a crash; the zone is as last committed before it",
                        &[("zone", &spec.origin), ("journal", &path.display()), ("bytes", &r.cut)],
                    );
                }
                log::info(
                    "zone restored from its journal",
                    &[
                        ("zone", &spec.origin),
                        ("serial", &r.zone.serial().unwrap_or(0)),
                        ("changesets", &r.changesets),
                        ("ms", &started.elapsed().as_millis()),
                    ],
                );
                if let Some(d) = &spec.dnssec {
                    d.open_keys(now_unix()).map_err(ZoneError::Sign)?;
                }
                let served = Arc::new(r.zone);
                let now = now_unix();
                let stale = spec.dnssec.is_some()
                    && blason_dnssec::sign::incremental::earliest_expiration(&served, now)
                        .is_some_and(|e| e <= now + STALE_MARGIN);
                if stale {
                    log::warn(
                        "the journal's signatures have expired or are about to; signing anew before answering",
                        &[("zone", &spec.origin)],
                    );
                }
                return Ok(Opened {
                    unsigned: served.clone(),
                    stale,
                    served,
                    journal: Some(j),
                    source: None,
                    saved_source: saved_source(spec),
                });
            }
            Ok(None) => {}
            Err(e @ JournalError::Busy { .. }) => return Err(ZoneError::Journal(e)),
            Err(e) => {
                floor = crate::journal::salvage_serial(path);
                let aside = path.with_file_name(format!("journal.damaged-{}", now_unix()));
                log::error(
                    "journal unusable; moved aside, loading the zone from its file and keys",
                    &[
                        ("zone", &spec.origin),
                        ("reason", &e),
                        ("moved_to", &aside.display()),
                    ],
                );
                std::fs::rename(path, &aside).map_err(|source| {
                    ZoneError::Journal(JournalError::Io {
                        path: path.clone(),
                        op: "move the damaged journal aside",
                        source,
                    })
                })?;
            }
        }
    }
    // Started from the file: a reading kept for an older journal is no longer ours.
    if let Some(p) = source_path(spec) {
        let _ = std::fs::remove_file(p);
    }
    let now = now_unix();
    let (mut unsigned, generated) = match &spec.source {
        ZoneSource::Secondary { primaries } => (first_transfer(spec, primaries)?, Vec::new()),
        _ => read_zone(spec, now)?,
    };
    // Serials already given out (a damaged journal's) are not given out again.
    if let (Some(f), Some(s)) = (floor, unsigned.serial()) {
        if !serial_gt(s, f) {
            let next = spec.serial.next(f, s, now);
            if let Some(z) = zone_with_serial(&unsigned, next) {
                log::warn(
                    "the zone file's serial is not ahead of the damaged journal's; serving a later one",
                    &[("zone", &spec.origin), ("file_serial", &s), ("serial", &next)],
                );
                unsigned = Arc::new(z);
            }
        }
    }
    let served = match &spec.dnssec {
        Some(d) => d
            .load(unsigned.clone(), &now_unix)
            .map_err(ZoneError::Sign)?,
        None => unsigned.clone(),
    };
    let journal = match &spec.journal {
        Some(p) => {
            let mut j = Journal::create(p, &served).map_err(ZoneError::Journal)?;
            j.set_rewrite_at(spec.journal_size);
            Some(j)
        }
        None => None,
    };
    // The file's reading kept now, before the zone is served, so that no change
    // waits on it (O(zone), once in a zone's life); on failure, at the first change.
    let saved_source =
        (journal.is_some() && keep_source(spec, &unsigned).is_ok()).then(|| unsigned.clone());
    Ok(Opened {
        served,
        stale: false,
        journal,
        unsigned: unsigned.clone(),
        source: Some((unsigned, generated)),
        saved_source,
    })
}

/// Writes the zone file's reading beside the journal (see `Handle::keeps_source`).
fn keep_source(spec: &ZoneSpec, zone: &Zone) -> Result<(), ZoneError> {
    let Some(path) = source_path(spec) else {
        return Ok(());
    };
    let mut bytes = Vec::new();
    update::codec::encode_zone(zone, &mut bytes);
    blason_store::write_atomic(&path, &bytes, 0o600).map_err(|e| {
        let e = ZoneError::Journal(JournalError::Io {
            path: e.path,
            op: e.op,
            source: e.source,
        });
        log_zone_error(spec, "cannot keep the zone file's reading", &e);
        e
    })
}

/// Signatures restored from a journal that expire sooner than this are made anew
/// before the zone is served (a server down for weeks must not answer bogus data).
const STALE_MARGIN: u64 = 600;

/// Creates `dir` (and its parents) readable by the owner only, as the state folder is.
fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_zone_error_names_its_culprit_and_one_answer() {
        let missing = ZoneError::Read(LoadError {
            path: "/nowhere/db.zone".into(),
            io: std::io::ErrorKind::NotFound.into(),
        });
        assert_eq!(missing.fault(), Fault::Config);
        assert_eq!(missing.rcode(), (2, Ede::InvalidData));
        let checks = ZoneError::Checks(Vec::new());
        assert_eq!(checks.fault(), Fault::Input);
        assert_eq!(checks.fault().exit_code(), 1);
        let ours = ZoneError::Update(UpdateError::NoSoa);
        assert_eq!(ours.fault(), Fault::Internal);
        assert_eq!(ours.rcode(), (2, Ede::Other));
        let disk = ZoneError::Journal(JournalError::Io {
            path: "j".into(),
            op: "append to",
            source: std::io::Error::from_raw_os_error(28),
        });
        assert!(disk.fault().transient());
    }
}
