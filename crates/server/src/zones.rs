//! Which zones the server serves and where each comes from; loading and reloading them
//! on the control path, never on a query thread.
#![forbid(unsafe_code)]

use crate::dnssec::ZoneDnssec;
use crate::log;
use blason_zone::load::{Generated, LoadError, Loaded};
use blason_zone::{Finding, Name, Zone};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a zone's text comes from.
#[derive(Clone, Debug)]
pub enum ZoneSource {
    File(PathBuf),
    /// Text compiled into the binary (the example zone); `display` names it in logs.
    Bundled {
        display: String,
        bytes: &'static [u8],
    },
}

impl fmt::Display for ZoneSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneSource::File(p) => write!(f, "{}", p.display()),
            ZoneSource::Bundled { display, .. } => f.write_str(display),
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
}

impl ZoneSpec {
    pub fn new(origin: Name, source: ZoneSource) -> ZoneSpec {
        ZoneSpec {
            origin,
            source,
            generator: None,
            dnssec: None,
        }
    }
}

/// Makes records for a zone from something other than its file. Called on the control
/// path only; time comes in as unix seconds so that planners stay pure.
pub trait Generator: Send + Sync + fmt::Debug {
    /// The records to add at `now`, and findings to log. An error stops the load (the
    /// old snapshot keeps serving on reload).
    fn generate(&self, now: u64) -> Result<(Vec<Generated>, Vec<Finding>), String>;
    /// True when `generate(now)` would give other records than last time (a watched
    /// file changed, a planned step fell due); polled by the control loop.
    fn due(&self, now: u64) -> bool;
}

/// Unix seconds now (the control path's clock).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Why a zone could not be (re)loaded.
#[derive(Debug)]
pub enum LoadFailure {
    Read(LoadError),
    /// The generated records could not be made.
    Generate(String),
    /// The zone was read but its checks found errors; all findings are kept.
    Checks(Vec<Finding>),
    /// The zone could not be signed (keys unreadable, no randomness, ...).
    Sign(String),
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadFailure::Read(e) => write!(f, "{e}"),
            LoadFailure::Generate(e) => write!(f, "generated records: {e}"),
            LoadFailure::Sign(e) => write!(f, "dnssec: {e}"),
            LoadFailure::Checks(fs) => {
                let n = fs.iter().filter(|x| x.is_error()).count();
                write!(f, "{n} error(s) in checks")
            }
        }
    }
}

/// Reads and checks one zone (and signs it, for a DNSSEC zone); logs every finding
/// against the zone's name.
pub fn load_zone(spec: &ZoneSpec) -> Result<Arc<Zone>, LoadFailure> {
    let now = now_unix();
    let (extra, gen_findings) = match &spec.generator {
        Some(g) => g.generate(now).map_err(LoadFailure::Generate)?,
        None => (Vec::new(), Vec::new()),
    };
    let mut loaded = read(spec, &extra).map_err(LoadFailure::Read)?;
    loaded.findings.extend(gen_findings);
    for f in &loaded.findings {
        let level = if f.is_error() {
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
    if loaded.has_errors() {
        return Err(LoadFailure::Checks(loaded.findings));
    }
    let zone = Arc::new(loaded.zone);
    match &spec.dnssec {
        Some(d) => d.load(zone, &now_unix).map_err(LoadFailure::Sign),
        None => Ok(zone),
    }
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
    }
}

/// The zones being served and the specs they came from. Lives on the control path.
pub struct ZoneSet {
    specs: Vec<ZoneSpec>,
    serving: Vec<Arc<Zone>>,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Zones replaced by a freshly read snapshot.
    pub replaced: usize,
    /// Zones that failed and kept serving their previous snapshot, with the reason.
    pub kept: Vec<(Name, String)>,
}

impl ZoneSet {
    /// Loads every zone; any failure refuses the whole start (returned all together so
    /// the operator sees every problem at once).
    pub fn load_all(specs: Vec<ZoneSpec>) -> Result<ZoneSet, Vec<(ZoneSpec, LoadFailure)>> {
        let mut serving = Vec::with_capacity(specs.len());
        let mut failed = Vec::new();
        for spec in &specs {
            match load_zone(spec) {
                Ok(z) => serving.push(z),
                Err(e) => failed.push((spec.clone(), e)),
            }
        }
        if failed.is_empty() {
            Ok(ZoneSet { specs, serving })
        } else {
            Err(failed)
        }
    }

    pub fn zones(&self) -> Vec<Arc<Zone>> {
        self.serving.clone()
    }

    pub fn specs(&self) -> &[ZoneSpec] {
        &self.specs
    }

    /// Re-reads every zone; a zone that fails keeps its old snapshot.
    pub fn reload(&mut self) -> ReloadReport {
        self.reload_where(|_| true)
    }

    /// Re-reads the zones whose generated records are due (see [`Generator::due`]);
    /// None when no zone is.
    pub fn reload_due(&mut self, now: u64) -> Option<ReloadReport> {
        let due: Vec<bool> = self
            .specs
            .iter()
            .map(|s| s.generator.as_ref().is_some_and(|g| g.due(now)))
            .collect();
        if !due.contains(&true) {
            return None;
        }
        let mut i = 0;
        Some(self.reload_where(|_| {
            i += 1;
            due[i - 1]
        }))
    }

    /// True when some zone is signed, so the control loop ticks every second.
    pub fn has_dnssec(&self) -> bool {
        self.specs.iter().any(|s| s.dnssec.is_some())
    }

    /// Runs each signed zone's key-roll executor; `swap` is called with the zones
    /// whenever one of them gets a new snapshot. Returns the earliest time a planner
    /// asked to be called again.
    pub fn dnssec_tick(&mut self, swap: &mut dyn FnMut(&[Arc<Zone>])) -> Option<u64> {
        let mut wake: Option<u64> = None;
        for i in 0..self.specs.len() {
            let Some(d) = self.specs[i].dnssec.clone() else {
                continue;
            };
            let serving = &mut self.serving;
            let r = d.tick(&now_unix, &mut |z| {
                serving[i] = z;
                swap(serving);
            });
            match r {
                Ok(w) => {
                    if let Some(w) = w {
                        wake = Some(wake.map_or(w, |x| x.min(w)));
                    }
                }
                Err(e) => d.report(&e, now_unix()),
            }
        }
        wake
    }

    fn reload_where(&mut self, mut which: impl FnMut(&ZoneSpec) -> bool) -> ReloadReport {
        let mut report = ReloadReport::default();
        for (spec, slot) in self.specs.iter().zip(self.serving.iter_mut()) {
            if !which(spec) {
                continue;
            }
            match load_zone(spec) {
                Ok(z) => {
                    *slot = z;
                    report.replaced += 1;
                }
                Err(e) => {
                    log::error(
                        "reload failed, keeping the serving snapshot",
                        &[
                            ("zone", &spec.origin),
                            ("source", &spec.source),
                            ("reason", &e),
                        ],
                    );
                    report.kept.push((spec.origin.clone(), e.to_string()));
                }
            }
        }
        report
    }
}
