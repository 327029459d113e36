//! Declarative mail records: a zone's `mail` and `tlsa` config sections turned into
//! records for the zone build ([`blason_zone::load::Generated`]).
//!
//! What is kept between runs lives in a state folder: DKIM private keys
//! (`dkim/<domain>/<selector>.private`, mode 0600, generated on first use), the TLSA
//! publication state (`tlsa/<domain>.state`) and the MTA-STS policy file to serve
//! (`mta-sts/<domain>/mta-sts.txt`). Every write goes through a temporary file and a
//! rename.
//!
//! TLSA follows certificate or key files in the order DANE needs (RFC 7671 §8.1): a
//! new key's record is published beside the old one, and the old one is dropped only
//! once two TTLs have passed since the new one appeared, so no resolver holds a TLSA
//! set that lacks the key in use. [`tlsa_plan`] is the pure planner (time is a
//! parameter); [`MailZone`] reads files and keeps the state.

use crate::dkim::{self, Algorithm, KeyRecord, KeyType};
use crate::dmarc::{self, Policy};
use crate::error::Error;
use crate::mtasts::Mode;
use crate::{spf, tlsa, tlsrpt, txt, Finding, Severity};
use blason_zone::load::{Claim, Generated};
use blason_zone::{Name, Rtype};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The TLSA type (RFC 6698).
pub const TLSA: Rtype = Rtype(52);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpfSpec {
    /// Mechanisms as written in SPF: `mx`, `a`, `ip4:192.0.2.0/24`, `include:...`.
    pub senders: Vec<String>,
    /// `-all` or `~all` (`?all` is allowed but linted; `+all` is refused).
    pub all: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DkimSpec {
    /// The selector, or with `roll` the prefix of its series.
    pub selector: String,
    pub algorithm: Algorithm,
    pub roll: Option<DkimRoll>,
}

/// An automatic key roll (see [`crate::dkim_roll`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DkimRoll {
    pub lifetime: u64,
    pub keep_retired: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmarcSpec {
    pub policy: Policy,
    pub subdomain_policy: Option<Policy>,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub pct: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BimiSpec {
    pub logo: String,
    pub authority: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MtaStsSpec {
    pub mode: Mode,
    /// The policy's `mx` patterns (written to the policy file).
    pub mx: Vec<String>,
    pub max_age: u64,
    /// `auto`: derived from the policy text, so it changes exactly when the policy does.
    pub id: String,
}

/// A zone's `mail` section.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MailSpec {
    pub ttl: u32,
    pub spf: Option<SpfSpec>,
    pub dkim: Vec<DkimSpec>,
    pub dmarc: Option<DmarcSpec>,
    pub bimi: Option<BimiSpec>,
    pub mta_sts: Option<MtaStsSpec>,
    pub tls_rpt: Option<Vec<String>>,
}

/// One `tlsa` entry: a service and the files its records follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsaSpec {
    pub port: u16,
    pub host: String,
    /// The certificate or key file in use.
    pub file: PathBuf,
    /// The key the next certificate will use, published ahead of it.
    pub next: Option<PathBuf>,
    pub params: tlsa::Params,
    pub ttl: u32,
}

fn txt_gen(owner: &Name, ttl: u32, value: &str, what: &str, prefix: &str) -> Generated {
    Generated {
        owner: owner.clone(),
        rtype: Rtype::TXT,
        ttl,
        rdata: txt::rdata(value.as_bytes()),
        what: what.to_string(),
        claim: Claim::TxtPrefix(prefix.as_bytes().to_vec()),
    }
}

fn child(origin: &Name, prefix: &str) -> Result<Name, String> {
    Name::parse(&format!("{prefix}.{origin}"), None).map_err(|e| format!("{prefix}.{origin}: {e}"))
}

fn errors_of(fs: &[Finding]) -> Option<String> {
    let e: Vec<String> = fs
        .iter()
        .filter(|f| f.is_error())
        .map(|f| f.message.clone())
        .collect();
    (!e.is_empty()).then(|| e.join("; "))
}

/// The SPF record text for a spec.
pub fn spf_text(s: &SpfSpec) -> Result<String, String> {
    let all = s.all.trim();
    if !matches!(all, "-all" | "~all" | "?all") {
        return Err(format!(
            "mail.spf.all = {all:?}: use \"-all\" (or \"~all\" while testing)"
        ));
    }
    let mut text = String::from("v=spf1");
    for m in &s.senders {
        let _ = write!(text, " {}", m.trim());
    }
    let _ = write!(text, " {all}");
    let (rec, fs) = spf::parse(text.as_bytes());
    if let Some(e) = errors_of(&fs) {
        return Err(format!("mail.spf: {e}"));
    }
    Ok(rec.to_string())
}

/// The DMARC record text for a spec.
pub fn dmarc_text(d: &DmarcSpec) -> Result<String, String> {
    let r = dmarc::Record {
        p: Some(d.policy),
        sp: d.subdomain_policy,
        pct: d.pct,
        rua: d.rua.clone(),
        ruf: d.ruf.clone(),
        ..dmarc::Record::default()
    };
    let text = r.to_string();
    if let Some(e) = errors_of(&dmarc::lint_record(text.as_bytes())) {
        return Err(format!("mail.dmarc: {e}"));
    }
    Ok(text)
}

/// The MTA-STS policy file and its record id.
pub fn mta_sts_policy(m: &MtaStsSpec) -> Result<(String, String), String> {
    let policy = crate::mtasts::Policy {
        mode: Some(m.mode),
        mx: m.mx.clone(),
        max_age: Some(m.max_age),
    }
    .to_text();
    let id = if m.id == "auto" {
        let d = ring::digest::digest(&ring::digest::SHA256, policy.as_bytes());
        d.as_ref()[..8].iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    } else if !m.id.is_empty()
        && m.id.len() <= 32
        && m.id.bytes().all(|c| c.is_ascii_alphanumeric())
    {
        m.id.clone()
    } else {
        return Err(format!(
            "mail.mta_sts.id = {:?}: 1 to 32 letters and digits, or \"auto\"",
            m.id
        ));
    };
    Ok((policy, id))
}

/// The DKIM key record of a private key in PEM (as `blason dkim keygen` writes it).
pub fn dkim_record_of(pem: &[u8]) -> Result<KeyRecord, String> {
    let m = tlsa::read_pem(pem)?;
    let (k, p) = match crate::der::spki_parts(&m.spki) {
        Some((alg, key)) if alg == crate::der::OID_ED25519 => (KeyType::Ed25519, key.to_vec()),
        Some(_) => (KeyType::Rsa, m.spki.clone()),
        None => return Err("the key does not parse".into()),
    };
    Ok(KeyRecord {
        k,
        p,
        hashes: None,
        flags: vec![],
        services: None,
        notes: None,
    })
}

/// Writes `data` to `path` whole or not at all, with `mode` from the first byte
/// (`blason_store`: temporary file, fsync, rename, fsync of the folder), creating
/// the folder if needed.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|error| Error::Io {
        path: dir.to_path_buf(),
        op: "create",
        error,
    })?;
    blason_store::write_atomic(path, data, mode).map_err(|e| Error::Io {
        path: e.path,
        op: e.op,
        error: e.source,
    })
}

/// One published TLSA record and when it first appeared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsaEntry {
    pub owner: String,
    pub params: tlsa::Params,
    pub data: Vec<u8>,
    /// Unix seconds.
    pub published: u64,
}

/// What has been published, per service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsaState {
    pub entries: Vec<TlsaEntry>,
}

impl TlsaState {
    /// One line per entry: `owner usage selector matching hex published`.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for e in &self.entries {
            let _ = write!(
                s,
                "{} {} {} {} ",
                e.owner, e.params.usage, e.params.selector, e.params.matching
            );
            for b in &e.data {
                let _ = write!(s, "{b:02x}");
            }
            let _ = writeln!(s, " {}", e.published);
        }
        s
    }

    /// Reads [`TlsaState::to_text`]; lines that do not parse are skipped.
    pub fn parse(text: &str) -> TlsaState {
        let mut entries = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [owner, u, s, m, hex, t] = f[..] else {
                continue;
            };
            let (Ok(u), Ok(s), Ok(m), Ok(t)) = (u.parse(), s.parse(), m.parse(), t.parse()) else {
                continue;
            };
            let Some(data) = unhex(hex) else { continue };
            entries.push(TlsaEntry {
                owner: owner.to_string(),
                params: tlsa::Params {
                    usage: u,
                    selector: s,
                    matching: m,
                },
                data,
                published: t,
            });
        }
        TlsaState { entries }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// The outcome of planning one service's TLSA set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsaPlan {
    /// The state to keep (and publish: every entry is a record).
    pub state: Vec<TlsaEntry>,
    /// When the set changes next without any file changing (an old record falls due).
    pub next_change: Option<u64>,
}

/// Plans the TLSA set of one service (`owner`, `params`): `current` holds the
/// association data of the files in use now. New data is published at once beside
/// what was published before; data no longer current is kept until `2 * ttl` seconds
/// after the newest current record was published, then dropped.
pub fn tlsa_plan(
    state: &[TlsaEntry],
    owner: &str,
    params: tlsa::Params,
    current: &[Vec<u8>],
    ttl: u32,
    now: u64,
) -> TlsaPlan {
    let mine = |e: &&TlsaEntry| e.owner == owner && e.params == params;
    let mut out: Vec<TlsaEntry> = Vec::new();
    for d in current {
        if out.iter().any(|e| e.data == *d) {
            continue;
        }
        let published = state
            .iter()
            .filter(mine)
            .find(|e| e.data == *d)
            .map_or(now, |e| e.published);
        out.push(TlsaEntry {
            owner: owner.to_string(),
            params,
            data: d.clone(),
            published,
        });
    }
    // Old records stay until every current one has been out for two TTLs.
    let settled_at = out
        .iter()
        .map(|e| e.published.saturating_add(2 * ttl as u64))
        .max();
    let mut next_change = None;
    for old in state.iter().filter(mine) {
        if out.iter().any(|e| e.data == old.data) {
            continue;
        }
        match settled_at {
            // Nothing current (the files are unreadable): keep what is published.
            None => out.push(old.clone()),
            Some(t) if now < t => {
                out.push(old.clone());
                next_change = Some(t);
            }
            Some(_) => {}
        }
    }
    TlsaPlan {
        state: out,
        next_change,
    }
}

/// A zone's declared mail and TLSA records with their state folder: what the server
/// asks at every load and polls for changes.
#[derive(Debug)]
pub struct MailZone {
    pub origin: Name,
    pub mail: Option<MailSpec>,
    pub tlsa: Vec<TlsaSpec>,
    pub state_dir: PathBuf,
    /// Write to the state folder: create missing DKIM keys, record TLSA state, write the
    /// MTA-STS policy (the server does; `zone check` and `zone print` do not).
    pub create_keys: bool,
    last: Mutex<Option<Outlook>>,
    /// The TLSA state the last `generate` planned, recorded only once its records
    /// are served ([`MailZone::committed`]): a publication time must never be stamped
    /// for a record that a failed load kept off the air.
    pending_tlsa: Mutex<Option<TlsaState>>,
    /// The DKIM roll states the last `generate` planned, written at the commit
    /// (which stamps their new records published).
    pending_roll: Mutex<Vec<PendingRoll>>,
    /// When a DKIM roll wants to be planned again.
    roll_next: Mutex<Option<u64>>,
}

#[derive(Debug)]
struct PendingRoll {
    path: PathBuf,
    prefix: String,
    policy: crate::dkim_roll::RollPolicy,
    keys: Vec<crate::dkim_roll::RollKey>,
}

/// What the last generation saw, to tell when the next one is due.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outlook {
    current: Vec<Vec<Vec<u8>>>,
    next_change: Option<u64>,
}

impl MailZone {
    pub fn new(
        origin: Name,
        mail: Option<MailSpec>,
        tlsa: Vec<TlsaSpec>,
        state_dir: PathBuf,
    ) -> MailZone {
        MailZone {
            origin,
            mail,
            tlsa,
            state_dir,
            create_keys: true,
            last: Mutex::new(None),
            pending_tlsa: Mutex::new(None),
            pending_roll: Mutex::new(Vec::new()),
            roll_next: Mutex::new(None),
        }
    }

    fn domain(&self) -> String {
        crate::dns::norm(&self.origin.to_string())
    }

    fn tlsa_state_path(&self) -> PathBuf {
        self.state_dir
            .join("tlsa")
            .join(format!("{}.state", self.domain()))
    }

    /// The association data of each service's files as they are now; unreadable files
    /// give nothing (and a finding).
    fn current(&self, findings: &mut Vec<Finding>) -> Vec<Vec<Vec<u8>>> {
        self.tlsa
            .iter()
            .map(|t| {
                let mut v = Vec::new();
                for f in std::iter::once(&t.file).chain(t.next.iter()) {
                    let r = std::fs::read(f)
                        .map_err(|e| e.to_string())
                        .and_then(|b| tlsa::read_pem(&b))
                        .and_then(|m| tlsa::association(&m, t.params));
                    match r {
                        Ok(d) => v.push(d),
                        Err(e) => findings.push(Finding::new(
                            "tlsa-file",
                            Severity::Warning,
                            None,
                            format!("tlsa for {}:{}: {}: {e}", t.host, t.port, f.display()),
                            "the records published before are kept; fix the file and reload",
                        )),
                    }
                }
                v
            })
            .collect()
    }

    /// True when [`MailZone::generate`] at `now` would give other records than last
    /// time: a watched file changed, or an old TLSA record fell due.
    pub fn due(&self, now: u64) -> bool {
        let roll = *self.roll_next.lock().unwrap_or_else(|e| e.into_inner());
        if roll.is_some_and(|t| now >= t) {
            return true;
        }
        if self.tlsa.is_empty() {
            return false;
        }
        let current = self.current(&mut Vec::new());
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            None => true,
            Some(o) => o.current != current || o.next_change.is_some_and(|t| now >= t),
        }
    }

    /// The records of the `mail` and `tlsa` sections at `now` (unix seconds), with
    /// findings about them. Errors are misconfigurations that stop the zone loading.
    /// The records of the last [`MailZone::generate`] are served: records the TLSA
    /// state it planned (publication times count from the commit).
    pub fn committed(&self, now: u64) -> Result<(), Error> {
        let rolls =
            std::mem::take(&mut *self.pending_roll.lock().unwrap_or_else(|e| e.into_inner()));
        for mut r in rolls {
            crate::dkim_roll::mark_published(&mut r.keys, now);
            write_atomic(
                &r.path,
                crate::dkim_roll::to_text(&r.keys).as_bytes(),
                0o644,
            )?;
            // A key published now takes over two TTLs from now.
            let next = crate::dkim_roll::plan(&r.prefix, &r.keys, r.policy, now).next;
            let mut n = self.roll_next.lock().unwrap_or_else(|e| e.into_inner());
            *n = match (*n, next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        let pending = self
            .pending_tlsa
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match pending {
            Some(state) => write_atomic(&self.tlsa_state_path(), state.to_text().as_bytes(), 0o644),
            None => Ok(()),
        }
    }

    pub fn generate(&self, now: u64) -> Result<(Vec<Generated>, Vec<Finding>), Error> {
        let mut out = Vec::new();
        let mut findings = Vec::new();
        if let Some(m) = &self.mail {
            self.mail_records(m, now, &mut out, &mut findings)?;
        }
        if !self.tlsa.is_empty() {
            self.tlsa_records(now, &mut out, &mut findings)?;
        }
        Ok((out, findings))
    }

    fn mail_records(
        &self,
        m: &MailSpec,
        now: u64,
        out: &mut Vec<Generated>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        let o = &self.origin;
        let ttl = m.ttl;
        if let Some(s) = &m.spf {
            let text = spf_text(s).map_err(Error::Setting)?;
            out.push(txt_gen(o, ttl, &text, "mail.spf", "v=spf1"));
        }
        *self.roll_next.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.pending_roll
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        for d in &m.dkim {
            if let Some(r) = d.roll {
                self.roll_records(d, r, ttl, now, out, findings)?;
                continue;
            }
            let owner = child(o, &format!("{}._domainkey", d.selector)).map_err(Error::Setting)?;
            let path = self
                .state_dir
                .join("dkim")
                .join(self.domain())
                .join(format!("{}.private", d.selector));
            let pem = match std::fs::read(&path) {
                Ok(p) => p,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.create_keys => {
                    let k = dkim::generate(d.algorithm).map_err(Error::KeyGen)?;
                    write_atomic(&path, k.private_pem.as_bytes(), 0o600)?;
                    k.private_pem.into_bytes()
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    findings.push(Finding::new(
                        "dkim-key-pending",
                        Severity::Note,
                        None,
                        format!(
                            "no key yet for DKIM selector {} ({})",
                            d.selector,
                            path.display()
                        ),
                        "blason serve generates it at start",
                    ));
                    continue;
                }
                Err(error) => {
                    return Err(Error::Io {
                        path,
                        op: "read",
                        error,
                    })
                }
            };
            let rec = dkim_record_of(&pem).map_err(|reason| Error::File {
                path: path.clone(),
                reason,
            })?;
            let want = match d.algorithm {
                Algorithm::Ed25519 => KeyType::Ed25519,
                Algorithm::Rsa(_) => KeyType::Rsa,
            };
            if rec.k != want {
                findings.push(Finding::new(
                    "dkim-key-algorithm",
                    Severity::Warning,
                    None,
                    format!(
                        "the key kept for selector {} is {}, the config asks for {}; the kept key is published",
                        d.selector,
                        rec.k.as_str(),
                        want.as_str()
                    ),
                    "use a new selector name for a new algorithm (keys are never replaced in place)",
                ));
            }
            out.push(Generated {
                owner,
                rtype: Rtype::TXT,
                ttl,
                rdata: txt::rdata(rec.to_text().as_bytes()),
                what: format!("mail.dkim.{}", d.selector),
                claim: Claim::All,
            });
        }
        if let Some(d) = &m.dmarc {
            out.push(txt_gen(
                &child(o, "_dmarc").map_err(Error::Setting)?,
                ttl,
                &dmarc_text(d).map_err(Error::Setting)?,
                "mail.dmarc",
                "v=DMARC1",
            ));
        }
        if let Some(b) = &m.bimi {
            if !b.logo.to_ascii_lowercase().starts_with("https://") {
                return Err(Error::Setting(format!(
                    "mail.bimi.logo = {:?}: must be an https:// URL",
                    b.logo
                )));
            }
            let r = crate::bimi::Record {
                l: vec![b.logo.clone()],
                a: b.authority.clone(),
            };
            out.push(txt_gen(
                &child(o, "default._bimi").map_err(Error::Setting)?,
                ttl,
                &r.to_text(),
                "mail.bimi",
                "v=BIMI1",
            ));
        }
        if let Some(s) = &m.mta_sts {
            let (policy, id) = mta_sts_policy(s).map_err(Error::Setting)?;
            let path = self
                .state_dir
                .join("mta-sts")
                .join(self.domain())
                .join("mta-sts.txt");
            if self.create_keys && std::fs::read(&path).ok().as_deref() != Some(policy.as_bytes()) {
                write_atomic(&path, policy.as_bytes(), 0o644)?;
            }
            out.push(txt_gen(
                &child(o, "_mta-sts").map_err(Error::Setting)?,
                ttl,
                &format!("v=STSv1; id={id}"),
                "mail.mta_sts",
                "v=STSv1",
            ));
        }
        if let Some(rua) = &m.tls_rpt {
            let text = format!("v=TLSRPTv1; rua={}", rua.join(","));
            if let Some(e) = errors_of(&tlsrpt::lint_record(text.as_bytes())) {
                return Err(Error::Setting(format!("mail.tls_rpt: {e}")));
            }
            out.push(txt_gen(
                &child(o, "_smtp._tls").map_err(Error::Setting)?,
                ttl,
                &text,
                "mail.tls_rpt",
                "v=TLSRPTv1",
            ));
        }
        Ok(())
    }

    /// A rolling DKIM series: the planner's step at `now` carried out (keys made
    /// and removed), and a record for every key still in the series, revoked ones
    /// with an empty `p=`.
    fn roll_records(
        &self,
        d: &DkimSpec,
        r: DkimRoll,
        ttl: u32,
        now: u64,
        out: &mut Vec<Generated>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        use crate::dkim_roll::{self, Action, RollPolicy};
        let dir = self.state_dir.join("dkim").join(self.domain());
        let path = dir.join(format!("{}.roll", d.selector));
        let old = match std::fs::read_to_string(&path) {
            Ok(t) => dkim_roll::parse(&t).map_err(|reason| Error::File {
                path: path.clone(),
                reason,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => {
                return Err(Error::Io {
                    path,
                    op: "read",
                    error,
                })
            }
        };
        let policy = RollPolicy {
            lifetime: r.lifetime,
            ttl: u64::from(ttl),
            in_flight: r.keep_retired,
        };
        let keys = if self.create_keys {
            let plan = dkim_roll::plan(&d.selector, &old, policy, now);
            for a in &plan.actions {
                match a {
                    Action::Create(sel) => {
                        let key = dir.join(format!("{sel}.private"));
                        // A key made for a commit that failed is taken again.
                        if !key.exists() {
                            let k = dkim::generate(d.algorithm).map_err(Error::KeyGen)?;
                            write_atomic(&key, k.private_pem.as_bytes(), 0o600)?;
                        }
                    }
                    Action::Delete(sel) => {
                        let key = dir.join(format!("{sel}.private"));
                        match std::fs::remove_file(&key) {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                return Err(Error::Io {
                                    path: key,
                                    op: "remove",
                                    error: e,
                                })
                            }
                            _ => {}
                        }
                    }
                }
            }
            let mut n = self.roll_next.lock().unwrap_or_else(|e| e.into_inner());
            *n = match (*n, plan.next) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if plan.keys != old || plan.keys.iter().any(|k| k.published.is_none()) {
                self.pending_roll
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(PendingRoll {
                        path: path.clone(),
                        prefix: d.selector.clone(),
                        policy,
                        keys: plan.keys.clone(),
                    });
            }
            plan.keys
        } else {
            old
        };
        let kind = match d.algorithm {
            Algorithm::Ed25519 => KeyType::Ed25519,
            Algorithm::Rsa(_) => KeyType::Rsa,
        };
        for k in &keys {
            let owner = child(&self.origin, &format!("{}._domainkey", k.selector))
                .map_err(Error::Setting)?;
            let rec = if k.revoked.is_some() {
                KeyRecord {
                    k: kind,
                    p: Vec::new(),
                    hashes: None,
                    flags: Vec::new(),
                    services: None,
                    notes: None,
                }
            } else {
                let key = dir.join(format!("{}.private", k.selector));
                match std::fs::read(&key) {
                    Ok(pem) => dkim_record_of(&pem).map_err(|reason| Error::File {
                        path: key.clone(),
                        reason,
                    })?,
                    Err(e) => {
                        findings.push(Finding::new(
                            "dkim-key-pending",
                            Severity::Note,
                            None,
                            format!(
                                "no key for DKIM selector {} ({}): {e}",
                                k.selector,
                                key.display()
                            ),
                            "blason serve makes the keys of a rolling series",
                        ));
                        continue;
                    }
                }
            };
            out.push(Generated {
                owner,
                rtype: Rtype::TXT,
                ttl,
                rdata: txt::rdata(rec.to_text().as_bytes()),
                what: format!("mail.dkim.{}", k.selector),
                claim: Claim::All,
            });
        }
        Ok(())
    }

    fn tlsa_records(
        &self,
        now: u64,
        out: &mut Vec<Generated>,
        findings: &mut Vec<Finding>,
    ) -> Result<(), Error> {
        let path = self.tlsa_state_path();
        let old = match std::fs::read_to_string(&path) {
            Ok(t) => TlsaState::parse(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => TlsaState::default(),
            Err(error) => {
                return Err(Error::Io {
                    path,
                    op: "read",
                    error,
                })
            }
        };
        let current = self.current(findings);
        let mut state = TlsaState::default();
        let mut next_change: Option<u64> = None;
        for (t, cur) in self.tlsa.iter().zip(&current) {
            let owner = tlsa::owner(t.port, &t.host);
            let name =
                Name::parse(&owner, None).map_err(|e| Error::Setting(format!("{owner}: {e}")))?;
            if !name.is_subdomain_of(&self.origin) {
                return Err(Error::Setting(format!(
                    "tlsa host {} is outside the zone {}",
                    t.host, self.origin
                )));
            }
            let plan = tlsa_plan(&old.entries, &owner, t.params, cur, t.ttl, now);
            if plan.state.is_empty() {
                return Err(Error::File {
                    path: t.file.clone(),
                    reason: format!(
                        "tlsa for {}:{}: no record can be made from it and nothing was published before",
                        t.host, t.port
                    ),
                });
            }
            next_change = match (next_change, plan.next_change) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            for e in &plan.state {
                let mut rdata = vec![e.params.usage, e.params.selector, e.params.matching];
                rdata.extend_from_slice(&e.data);
                if !out.iter().any(|g| g.owner == name && g.rdata == rdata) {
                    out.push(Generated {
                        owner: name.clone(),
                        rtype: TLSA,
                        ttl: t.ttl,
                        rdata,
                        what: format!("tlsa.{}.{}", t.port, crate::dns::norm(&t.host)),
                        claim: Claim::All,
                    });
                }
            }
            state.entries.extend(plan.state);
        }
        *self.pending_tlsa.lock().unwrap_or_else(|e| e.into_inner()) =
            (self.create_keys && state != old).then_some(state);
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(Outlook {
            current,
            next_change,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> tlsa::Params {
        tlsa::Params::default()
    }

    #[test]
    fn tlsa_plan_publishes_new_beside_old_and_drops_old_after_two_ttls() {
        let owner = "_25._tcp.mail.example.com.";
        let (a, b) = (vec![1u8; 32], vec![2u8; 32]);
        let ttl = 3600;
        // First run: the current key only.
        let s1 = tlsa_plan(&[], owner, p(), std::slice::from_ref(&a), ttl, 1000);
        assert_eq!(s1.state.len(), 1);
        assert_eq!(s1.next_change, None);
        // Unchanged an hour later: same state, same publication time.
        let s = tlsa_plan(&s1.state, owner, p(), std::slice::from_ref(&a), ttl, 4600);
        assert_eq!(s, s1);
        // The certificate changes at t=10000: both published.
        let s2 = tlsa_plan(&s1.state, owner, p(), std::slice::from_ref(&b), ttl, 10_000);
        let datas: Vec<&Vec<u8>> = s2.state.iter().map(|e| &e.data).collect();
        assert_eq!(datas, [&b, &a]);
        assert_eq!(s2.next_change, Some(10_000 + 2 * 3600));
        // Still both just before two TTLs have passed.
        let s3 = tlsa_plan(&s2.state, owner, p(), std::slice::from_ref(&b), ttl, 17_199);
        assert_eq!(s3.state.len(), 2);
        // Then only the new one.
        let s4 = tlsa_plan(&s3.state, owner, p(), std::slice::from_ref(&b), ttl, 17_200);
        assert_eq!(s4.state.len(), 1);
        assert_eq!(s4.state[0].data, b);
        assert_eq!(s4.state[0].published, 10_000);
        // Unreadable files: keep what was published.
        let s5 = tlsa_plan(&s4.state, owner, p(), &[], ttl, 99_999);
        assert_eq!(s5.state, s4.state);
        // Other services in the state are not touched.
        let other = tlsa_plan(
            &s4.state,
            "_443._tcp.www.example.com.",
            p(),
            std::slice::from_ref(&a),
            ttl,
            1,
        );
        assert_eq!(other.state.len(), 1);
        // The state survives a round trip through its file form.
        let st = TlsaState { entries: s2.state };
        assert_eq!(TlsaState::parse(&st.to_text()), st);
    }

    #[test]
    fn a_year_of_renewals_never_leaves_a_gap() {
        // Monthly renewals with a new key each time, polled hourly: the key in use
        // always has a record, published at least two TTLs before any record it
        // replaced disappears.
        let owner = "_25._tcp.mail.example.com.";
        let ttl = 3600u32;
        let mut state: Vec<TlsaEntry> = Vec::new();
        let mut prev_key: Option<u8> = None;
        for hour in 0..(24 * 365u64) {
            let now = hour * 3600;
            let key = (hour / (24 * 30)) as u8;
            let plan = tlsa_plan(&state, owner, p(), &[vec![key; 32]], ttl, now);
            assert!(plan.state.iter().any(|e| e.data == vec![key; 32]));
            if let Some(pk) = prev_key {
                if pk != key {
                    assert!(plan.state.iter().any(|e| e.data == vec![pk; 32]));
                }
            }
            assert!(plan.state.len() <= 2);
            prev_key = Some(key);
            state = plan.state;
        }
    }

    #[test]
    fn generators_match_the_builders() {
        let s = SpfSpec {
            senders: vec![
                "mx".into(),
                "ip4:192.0.2.0/24".into(),
                "include:_spf.provider.test".into(),
            ],
            all: "-all".into(),
        };
        let built = spf::Record::build(
            &[("192.0.2.0".parse().unwrap(), Some(24))],
            &[],
            true,
            &["_spf.provider.test"],
        );
        assert_eq!(spf_text(&s).unwrap(), built.to_string());
        assert!(spf_text(&SpfSpec {
            senders: vec![],
            all: "+all".into()
        })
        .is_err());
        assert!(spf_text(&SpfSpec {
            senders: vec!["ip4:300.1.1.1".into()],
            all: "-all".into()
        })
        .is_err());
        let d = DmarcSpec {
            policy: Policy::Quarantine,
            subdomain_policy: None,
            rua: vec!["mailto:dmarc@example.com".into()],
            ruf: vec![],
            pct: Some(100),
        };
        assert_eq!(
            dmarc_text(&d).unwrap(),
            "v=DMARC1; p=quarantine; pct=100; rua=mailto:dmarc@example.com"
        );
        assert!(dmarc::lint_record(dmarc_text(&d).unwrap().as_bytes())
            .iter()
            .all(|f| !f.is_error()));
        let m = MtaStsSpec {
            mode: Mode::Enforce,
            mx: vec!["mail.example.com".into()],
            max_age: 604800,
            id: "auto".into(),
        };
        let (policy, id) = mta_sts_policy(&m).unwrap();
        assert!(policy.contains("mode: enforce"));
        assert_eq!(id.len(), 16);
        let (_, id2) = mta_sts_policy(&MtaStsSpec {
            mode: Mode::Testing,
            ..m.clone()
        })
        .unwrap();
        assert_ne!(id, id2);
    }

    #[test]
    fn dkim_keys_are_kept_and_records_rebuilt_from_them() {
        for alg in [Algorithm::Ed25519, Algorithm::Rsa(2048)] {
            let k = dkim::generate(alg).unwrap();
            let r = dkim_record_of(k.private_pem.as_bytes()).unwrap();
            assert_eq!(r.to_text(), k.record.to_text());
        }
        let dir = std::env::temp_dir().join(format!("blason-declare-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let o = Name::parse("example.com.", None).unwrap();
        let spec = MailSpec {
            ttl: 300,
            dkim: vec![DkimSpec {
                roll: None,
                selector: "mail2026".into(),
                algorithm: Algorithm::Ed25519,
            }],
            tls_rpt: Some(vec!["mailto:tls@example.com".into()]),
            ..MailSpec::default()
        };
        let z = MailZone::new(o.clone(), Some(spec.clone()), vec![], dir.clone());
        let (a, _) = z.generate(0).unwrap();
        let (b, _) = z.generate(0).unwrap();
        assert_eq!(a, b, "the key is generated once and kept");
        let key = dir.join("dkim/example.com/mail2026.private");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(a[0].owner.to_string(), "mail2026._domainkey.example.com.");
        assert_eq!(a[1].owner.to_string(), "_smtp._tls.example.com.");
        // Without create_keys (zone check), a missing key is a note, not a new key.
        let mut z2 = MailZone::new(o, Some(spec), vec![], dir.join("other"));
        z2.create_keys = false;
        let (c, f) = z2.generate(0).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(f[0].id, "dkim-key-pending");
        assert!(!dir.join("other").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
