//! Reading a zone file into a checked zone: scan, build, check.
use crate::check;
use crate::finding::Finding;
use crate::scanner::{self, Parsed, ReadOptions};
use crate::{Class, Name, Zone};
use std::path::Path;

/// A zone as read from disk with what the reader and the checks found.
pub struct Loaded {
    /// The zone as built; serve it only if `has_errors()` is false.
    pub zone: Zone,
    pub findings: Vec<Finding>,
}

impl Loaded {
    /// True if any finding is an error: such a zone must not replace a serving one.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.is_error())
    }
}

/// The file could not be read at all.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for LoadError {}

/// Reads, builds and checks the zone `origin` (class IN) from `path`.
pub fn load(origin: &Name, path: &Path) -> Result<Loaded, LoadError> {
    let parsed = scanner::read_file(origin, Class::IN, path, &ReadOptions::default())
        .map_err(|e| LoadError(format!("cannot read {}: {}", path.display(), e)))?;
    Ok(finish(origin, parsed))
}

/// Like [`load`], for zone text in memory; `display` names it in findings.
pub fn load_bytes(origin: &Name, bytes: &[u8], display: &str) -> Loaded {
    let parsed = scanner::read_bytes(origin, Class::IN, bytes, display, &ReadOptions::default());
    finish(origin, parsed)
}

fn finish(origin: &Name, mut parsed: Parsed) -> Loaded {
    let (zone, info) = Zone::build(origin, Class::IN, &mut parsed);
    check::check_zone(&zone, &info, &mut parsed);
    let mut findings = parsed.findings;
    findings.sort_by(|a, b| {
        let pa = a.place.as_ref().map(|p| (p.file.clone(), p.line));
        let pb = b.place.as_ref().map(|p| (p.file.clone(), p.line));
        pa.cmp(&pb).then(a.severity.cmp(&b.severity))
    });
    Loaded { zone, findings }
}
