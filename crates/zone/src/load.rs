//! Reading a zone file into a checked zone: scan, build, check.
use crate::check;
use crate::finding::{Finding, Place, Severity};
use crate::scanner::{self, Parsed, ReadOptions, Src};
use crate::{Class, Name, Rtype, Zone};
use std::path::Path;
use std::sync::Arc;

/// A zone as read from disk with what the reader and the checks found.
pub struct Loaded {
    /// The zone as built; serve it only if `has_errors()` is false.
    pub zone: Zone,
    pub findings: Vec<Finding>,
    /// Where each RRset's first record came from, in node and RRset order
    /// (`places[node_start[n] + r]`).
    places: Vec<Src>,
    node_start: Vec<u32>,
    files: Vec<Arc<str>>,
    /// The records that were added to the file's records (see [`load_with_extra`]).
    pub generated: Vec<Generated>,
}

impl Loaded {
    /// True if any finding is an error: such a zone must not replace a serving one.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.is_error())
    }

    /// The file and line of the first record of RRset `rrset` of node `node` (a
    /// generated record's place is `generated:<what>`, line 0).
    pub fn place(&self, node: usize, rrset: usize) -> Option<Place> {
        let i = *self.node_start.get(node)? as usize + rrset;
        let src = self.places.get(i)?;
        Some(Place {
            file: self.files.get(src.file as usize)?.clone(),
            line: src.line,
        })
    }

    /// What generated this record, if it was generated rather than read.
    pub fn generated_by(&self, owner: &Name, rtype: Rtype, rdata: &[u8]) -> Option<&str> {
        self.generated
            .iter()
            .find(|g| g.rtype == rtype && g.rdata == rdata && g.owner == *owner)
            .map(|g| g.what.as_str())
    }
}

/// The zone file could not be read at all (what it says is judged by findings).
#[derive(Debug)]
pub struct LoadError {
    pub path: std::path::PathBuf,
    pub io: std::io::Error,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.io)
    }
}
impl std::error::Error for LoadError {}

impl crate::fault::Blame for LoadError {
    /// A path to no readable file is the configuration's to fix; an I/O failure of a
    /// file that exists may pass.
    fn fault(&self) -> crate::fault::Fault {
        use std::io::ErrorKind::*;
        match self.io.kind() {
            NotFound | PermissionDenied | IsADirectory => crate::fault::Fault::Config,
            InvalidData => crate::fault::Fault::Input,
            _ => crate::fault::Fault::System,
        }
    }
}

/// Which hand-written records at the same owner and type a generated record takes the
/// place of: those are a collision (two sources for one record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Every record of the type at the owner (TLSA, DKIM keys).
    All,
    /// TXT records whose text starts with this (ASCII case ignored), e.g. `v=spf1`.
    TxtPrefix(Vec<u8>),
}

/// A record made from configuration rather than read from the zone file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    pub owner: Name,
    pub rtype: Rtype,
    pub ttl: u32,
    /// Uncompressed wire form.
    pub rdata: Vec<u8>,
    /// What made it, e.g. `mail.spf` or `tlsa:_25._tcp.mail.example.com`: findings and
    /// `zone print` name it.
    pub what: String,
    pub claim: Claim,
}

/// Reads, builds and checks the zone `origin` (class IN) from `path`.
pub fn load(origin: &Name, path: &Path) -> Result<Loaded, LoadError> {
    load_with_extra(origin, path, &[])
}

/// Like [`load`], adding generated records. Their place in findings is
/// `generated:<what>`; a generated record that meets a hand-written record it claims
/// (see [`Claim`]) is a `generated-collision` error.
pub fn load_with_extra(
    origin: &Name,
    path: &Path,
    extra: &[Generated],
) -> Result<Loaded, LoadError> {
    let parsed =
        scanner::read_file(origin, Class::IN, path, &ReadOptions::default()).map_err(|io| {
            LoadError {
                path: path.to_path_buf(),
                io,
            }
        })?;
    Ok(finish(origin, parsed, extra))
}

/// Like [`load`], for zone text in memory; `display` names it in findings.
pub fn load_bytes(origin: &Name, bytes: &[u8], display: &str) -> Loaded {
    load_bytes_with_extra(origin, bytes, display, &[])
}

/// [`load_with_extra`] for zone text in memory.
pub fn load_bytes_with_extra(
    origin: &Name,
    bytes: &[u8],
    display: &str,
    extra: &[Generated],
) -> Loaded {
    let parsed = scanner::read_bytes(origin, Class::IN, bytes, display, &ReadOptions::default());
    finish(origin, parsed, extra)
}

/// The build and checks of [`load_bytes`] for records that arrive in wire form (a
/// zone transfer), with no text in between; findings are placed in `display`.
pub fn load_records<'a>(
    origin: &Name,
    records: impl IntoIterator<Item = (&'a Name, u32, Rtype, &'a [u8])>,
    display: &str,
) -> Loaded {
    let mut parsed = Parsed {
        records: Default::default(),
        files: vec![Arc::from(display)],
        findings: Vec::new(),
    };
    let src = Src { file: 0, line: 0 };
    for (owner, ttl, rtype, rdata) in records {
        if !parsed.records.push(owner, ttl, rtype, rdata, src) {
            parsed.findings.push(Finding::new(
                "too-large",
                Severity::Error,
                None,
                "the zone holds more than 4 GiB of data",
                "split the zone",
            ));
            break;
        }
    }
    finish(origin, parsed, &[])
}

/// [`load_records`] of a zone already built (one changed in memory, by an IXFR): its
/// records built and checked anew.
pub fn recheck(zone: &Zone, display: &str) -> Loaded {
    let records = zone.nodes().iter().flat_map(|n| {
        n.rrsets.iter().flat_map(move |set| {
            set.rdatas()
                .map(move |rd| (&n.name, set.ttl, set.rtype, rd))
        })
    });
    load_records(zone.origin(), records, display)
}

fn txt_starts_with(rdata: &[u8], prefix: &[u8]) -> bool {
    // The first character-string holds the start of the text.
    let Some((&n, rest)) = rdata.split_first() else {
        return false;
    };
    let first = &rest[..(n as usize).min(rest.len())];
    first.len() >= prefix.len() && first[..prefix.len()].eq_ignore_ascii_case(prefix)
}

fn add_extra(parsed: &mut Parsed, extra: &[Generated]) {
    for g in extra {
        let hand: Vec<Src> = parsed
            .records
            .iter()
            .filter(|r| {
                r.rtype == g.rtype
                    && r.owner.eq_ignore_ascii_case(g.owner.as_wire())
                    && match &g.claim {
                        Claim::All => true,
                        Claim::TxtPrefix(p) => txt_starts_with(r.rdata, p),
                    }
            })
            .map(|r| r.src)
            .collect();
        // Generated records read earlier in this loop are not hand-written.
        for src in hand {
            let place = parsed.place(src);
            if place.file.starts_with("generated:") {
                continue;
            }
            parsed.findings.push(Finding::new(
                "generated-collision",
                Severity::Error,
                Some(place),
                format!(
                    "this {} record at {} collides with the one the config generates ({}); published together they would conflict (two SPF or DMARC records make receivers ignore both)",
                    g.rtype, g.owner, g.what
                ),
                format!(
                    "keep one source: delete this line and let the config ({}) generate the record, or remove that entry from the config to keep the hand-written one. Refused rather than merged so that neither source silently wins",
                    g.what
                ),
            ));
        }
        let label: Arc<str> = format!("generated:{}", g.what).into();
        let file = match parsed.files.iter().position(|f| *f == label) {
            Some(i) => i as u32,
            None => {
                parsed.files.push(label);
                (parsed.files.len() - 1) as u32
            }
        };
        // Joining a hand-written RRset (other TXT records at the apex, say), take its
        // TTL: an RRset has one, and the file's should not change behind its back.
        let ttl = parsed
            .records
            .iter()
            .find(|r| r.rtype == g.rtype && r.owner.eq_ignore_ascii_case(g.owner.as_wire()))
            .map_or(g.ttl, |r| r.ttl);
        parsed
            .records
            .push(&g.owner, ttl, g.rtype, &g.rdata, Src { file, line: 0 });
    }
}

fn finish(origin: &Name, mut parsed: Parsed, extra: &[Generated]) -> Loaded {
    add_extra(&mut parsed, extra);
    let (zone, info) = Zone::build(origin, Class::IN, &mut parsed);
    check::check_zone(&zone, &info, &mut parsed);
    let mut findings = std::mem::take(&mut parsed.findings);
    sort_findings(&mut findings);
    Loaded {
        zone,
        findings,
        places: info.src,
        node_start: info.node_start,
        files: parsed.files,
        generated: extra.to_vec(),
    }
}

/// Findings in file order, then by severity.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        let pa = a.place.as_ref().map(|p| (p.file.clone(), p.line));
        let pb = b.place.as_ref().map(|p| (p.file.clone(), p.line));
        pa.cmp(&pb).then(a.severity.cmp(&b.severity))
    });
}

/// Checks a caller adds to the zone's own (the mail lints): they report on records,
/// never refuse the zone.
pub trait Lint: Send + Sync + std::fmt::Debug {
    fn lint(&self, loaded: &Loaded) -> Vec<Finding>;
}

/// The check: what `blason zone check` reports and what the server logs at every
/// load, one function for both. Adds each lint's findings to the reader's and the
/// checks' own, in file order; returns how many errors refuse the zone (the zone's
/// own: a lint's never do).
pub fn review(loaded: &mut Loaded, lints: &[&dyn Lint]) -> usize {
    let refusing = loaded.findings.iter().filter(|f| f.is_error()).count();
    for l in lints {
        let more = l.lint(loaded);
        loaded.findings.extend(more);
    }
    sort_findings(&mut loaded.findings);
    refusing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(s: &str) -> Vec<u8> {
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s.as_bytes());
        v
    }

    #[test]
    fn generated_records_join_the_zone_and_collisions_are_errors() {
        let o = Name::parse("example.", None).unwrap();
        let zone = "$TTL 300\n@ SOA a b 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n@ TXT \"v=spf1 -all\"\n@ TXT \"site-verification=1\"\n";
        let spf = Generated {
            owner: o.clone(),
            rtype: Rtype::TXT,
            ttl: 300,
            rdata: txt("v=spf1 mx -all"),
            what: "mail.spf".into(),
            claim: Claim::TxtPrefix(b"v=spf1".to_vec()),
        };
        let dmarc = Generated {
            owner: Name::parse("_dmarc.example.", None).unwrap(),
            rtype: Rtype::TXT,
            ttl: 300,
            rdata: txt("v=DMARC1; p=none"),
            what: "mail.dmarc".into(),
            claim: Claim::TxtPrefix(b"v=DMARC1".to_vec()),
        };
        let l = load_bytes_with_extra(&o, zone.as_bytes(), "z", &[spf.clone(), dmarc.clone()]);
        let coll: Vec<_> = l
            .findings
            .iter()
            .filter(|f| f.id == "generated-collision")
            .collect();
        assert_eq!(coll.len(), 1, "{:?}", l.findings);
        assert_eq!(coll[0].line(), Some(5));
        assert!(l.has_errors());
        let n = l.zone.find(dmarc.owner.as_wire()).unwrap();
        assert_eq!(l.zone.nodes()[n].rrset(Rtype::TXT).unwrap().len(), 1);
        assert_eq!(l.place(n, 0).unwrap().file.as_ref(), "generated:mail.dmarc");
        assert_eq!(
            l.generated_by(&dmarc.owner, Rtype::TXT, &dmarc.rdata),
            Some("mail.dmarc")
        );
        // Without the hand-written SPF line the zone loads.
        let zone2 = zone.replace("@ TXT \"v=spf1 -all\"\n", "");
        let l = load_bytes_with_extra(&o, zone2.as_bytes(), "z", &[spf, dmarc]);
        assert!(!l.has_errors(), "{:?}", l.findings);
        assert_eq!(l.zone.apex().rrset(Rtype::TXT).unwrap().len(), 2);
        assert_eq!(l.place(0, 0).unwrap().line, 3); // NS sorts first
    }
}
