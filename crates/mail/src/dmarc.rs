//! DMARC (RFC 7489 and DMARCbis): typed record, parser, builder and lints, including
//! the report-destination authorization that needs DNS.

use crate::dns::{self, Answer, TxtLookup};
use crate::tags::{self, Tag};
use crate::{finding, Finding, Severity};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    None,
    Quarantine,
    Reject,
}

impl Policy {
    pub fn parse(s: &str) -> Option<Policy> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }
}

/// A parsed DMARC record; tags not understood are kept in `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub p: Option<Policy>,
    pub sp: Option<Policy>,
    pub np: Option<Policy>,
    pub pct: Option<u8>,
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub adkim_strict: Option<bool>,
    pub aspf_strict: Option<bool>,
    pub psd: Option<char>,
    pub testing: Option<bool>,
    pub other: Vec<Tag>,
}

/// Whether a TXT value is a DMARC record (starts with `v=DMARC1`).
pub fn is_dmarc(value: &[u8]) -> bool {
    let t = String::from_utf8_lossy(value);
    let t = t.trim_start();
    let Some(rest) = t.strip_prefix("v") else {
        return false;
    };
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix('=') else {
        return false;
    };
    let rest = rest.trim_start();
    rest.starts_with("DMARC1")
        && rest[6..]
            .trim_start()
            .chars()
            .next()
            .is_none_or(|c| c == ';')
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=DMARC1")?;
        if let Some(p) = self.p {
            write!(f, "; p={}", p.as_str())?;
        }
        if let Some(p) = self.sp {
            write!(f, "; sp={}", p.as_str())?;
        }
        if let Some(p) = self.np {
            write!(f, "; np={}", p.as_str())?;
        }
        if let Some(p) = self.pct {
            write!(f, "; pct={p}")?;
        }
        if !self.rua.is_empty() {
            write!(f, "; rua={}", self.rua.join(","))?;
        }
        if !self.ruf.is_empty() {
            write!(f, "; ruf={}", self.ruf.join(","))?;
        }
        if let Some(s) = self.adkim_strict {
            write!(f, "; adkim={}", if s { "s" } else { "r" })?;
        }
        if let Some(s) = self.aspf_strict {
            write!(f, "; aspf={}", if s { "s" } else { "r" })?;
        }
        for t in &self.other {
            write!(f, "; {}={}", t.name, t.value)?;
        }
        Ok(())
    }
}

fn syntax(msg: String) -> Finding {
    finding(
        "dmarc-syntax",
        Severity::Error,
        msg,
        "write 'v=DMARC1; p=none; rua=mailto:dmarc@example.com' and tighten p= later",
    )
}

/// Parses a record; invalid tags are reported and left out.
pub fn parse(value: &[u8]) -> (Record, Vec<Finding>) {
    let mut r = Record::default();
    let mut out = Vec::new();
    let list = match tags::parse(value) {
        Ok(l) => l,
        Err(e) => {
            out.push(syntax(format!("the DMARC record does not parse: {e}")));
            return (r, out);
        }
    };
    match list.first() {
        Some(t) if t.name == "v" && t.value == "DMARC1" => {}
        _ => {
            out.push(finding(
                "dmarc-version",
                Severity::Error,
                "a DMARC record must start with 'v=DMARC1' (exact case)",
                "put 'v=DMARC1;' first",
            ));
            return (r, out);
        }
    }
    for d in tags::duplicates(&list) {
        out.push(syntax(format!("tag '{d}' appears more than once")));
    }
    for t in &list[1..] {
        let v = t.value.as_str();
        let name = t.name.to_ascii_lowercase();
        let policy = |what: &str, out: &mut Vec<Finding>| {
            let p = Policy::parse(v);
            if p.is_none() {
                out.push(syntax(format!(
                    "{what}={v} is not none, quarantine or reject"
                )));
            }
            p
        };
        match name.as_str() {
            "v" => out.push(syntax("v= appears more than once".into())),
            "p" => r.p = policy("p", &mut out),
            "sp" => r.sp = policy("sp", &mut out),
            "np" => r.np = policy("np", &mut out),
            "pct" => match v.parse::<u8>() {
                Ok(n) if n <= 100 => r.pct = Some(n),
                _ => out.push(syntax(format!("pct={v} is not a number from 0 to 100"))),
            },
            "rua" | "ruf" => {
                let uris: Vec<String> = v.split(',').map(|u| u.trim().to_string()).collect();
                for u in &uris {
                    if let Some(f) = check_uri(&name, u) {
                        out.push(f);
                    }
                }
                if name == "rua" {
                    r.rua = uris;
                } else {
                    r.ruf = uris;
                }
            }
            "adkim" | "aspf" => {
                let s = match v {
                    "r" => Some(false),
                    "s" => Some(true),
                    _ => {
                        out.push(syntax(format!("{name}={v} is not r or s")));
                        None
                    }
                };
                if name == "adkim" {
                    r.adkim_strict = s;
                } else {
                    r.aspf_strict = s;
                }
            }
            "fo" => {
                if !v
                    .split(':')
                    .all(|o| matches!(o.trim(), "0" | "1" | "d" | "s"))
                {
                    out.push(syntax(format!(
                        "fo={v} is not a colon-separated list of 0, 1, d, s"
                    )));
                }
            }
            "rf" => {
                if !v.split(':').all(|o| o.trim().eq_ignore_ascii_case("afrf")) {
                    out.push(syntax(format!("rf={v}: the only report format is afrf")));
                }
            }
            "ri" => {
                if v.parse::<u32>().is_err() {
                    out.push(syntax(format!("ri={v} is not a number of seconds")));
                }
            }
            "psd" => match v {
                "y" | "n" | "u" => r.psd = v.chars().next(),
                _ => out.push(syntax(format!("psd={v} is not y, n or u"))),
            },
            "t" => match v {
                "y" => r.testing = Some(true),
                "n" => r.testing = Some(false),
                _ => out.push(syntax(format!("t={v} is not y or n"))),
            },
            _ => {
                out.push(finding(
                    "dmarc-unknown-tag",
                    Severity::Warning,
                    format!("unknown tag '{}' (ignored by receivers)", t.name),
                    "remove it; check for a typo of p, sp, np, rua, ruf, adkim, aspf, fo, psd or t",
                ));
                r.other.push(t.clone());
            }
        }
    }
    (r, out)
}

/// Checks one rua/ruf URI: DMARC reports go to mailto: (and, in DMARCbis, no other
/// scheme is guaranteed to be honored).
fn check_uri(tag: &str, u: &str) -> Option<Finding> {
    // An optional size limit follows '!': 10m, 500k, 1g, 100.
    let base = match u.rsplit_once('!') {
        Some((b, size)) => {
            let digits = size.trim_end_matches(['k', 'm', 'g', 't']);
            if digits.is_empty()
                || !digits.bytes().all(|c| c.is_ascii_digit())
                || size.len() - digits.len() > 1
            {
                return Some(syntax(format!(
                    "{tag}: size limit '!{size}' is not a number with k, m, g or t"
                )));
            }
            b
        }
        None => u,
    };
    let lower = base.to_ascii_lowercase();
    if let Some(addr) = lower.strip_prefix("mailto:") {
        let ok = addr.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        });
        if !ok {
            return Some(finding(
                "dmarc-uri-invalid",
                Severity::Error,
                format!("{tag}: '{base}' is not a mail address"),
                format!("write {tag}=mailto:dmarc-reports@example.com"),
            ));
        }
        return None;
    }
    if base.contains('@') && !base.contains(':') {
        return Some(finding(
            "dmarc-uri-no-mailto",
            Severity::Error,
            format!("{tag}: '{base}' lacks the 'mailto:' scheme, so no report is sent"),
            format!("write {tag}=mailto:{base}"),
        ));
    }
    if lower.starts_with("https:") || lower.starts_with("http:") {
        return Some(finding(
            "dmarc-uri-scheme",
            Severity::Warning,
            format!("{tag}: '{base}' is not a mailto: URI; receivers only send reports by mail"),
            format!("use {tag}=mailto:..."),
        ));
    }
    Some(finding(
        "dmarc-uri-invalid",
        Severity::Error,
        format!("{tag}: '{base}' is not a valid report URI"),
        format!("write {tag}=mailto:dmarc-reports@example.com"),
    ))
}

/// Lints a record on its own.
pub fn lint_record(value: &[u8]) -> Vec<Finding> {
    let (r, mut out) = parse(value);
    if out.iter().any(|f| f.id == "dmarc-version") {
        return out;
    }
    let list = tags::parse(value).unwrap_or_default();
    let has = |n: &str| list.iter().any(|t| t.name.eq_ignore_ascii_case(n));
    if !has("p") {
        out.push(finding(
            "dmarc-no-policy",
            Severity::Error,
            "the record has no p= tag: RFC 7489 receivers ignore it (DMARCbis reads it as p=none only when rua is valid)",
            "add p=none to start, then quarantine, then reject",
        ));
    }
    if r.p == Some(Policy::None) {
        out.push(finding(
            "dmarc-p-none",
            Severity::Warning,
            "p=none only monitors: mail that fails DMARC is still delivered. It is where to start, not where to stay",
            "read the aggregate reports, fix your senders, then move to p=quarantine and p=reject",
        ));
    }
    if r.sp == Some(Policy::None) && r.p.is_some_and(|p| p != Policy::None) {
        out.push(finding(
            "dmarc-sp-none",
            Severity::Warning,
            "sp=none leaves subdomains unprotected while the domain is protected",
            "remove sp= (subdomains then follow p=) or set it to quarantine or reject",
        ));
    }
    if let Some(pct) = r.pct {
        if pct < 100 {
            out.push(finding(
                "dmarc-pct-partial",
                Severity::Warning,
                format!("pct={pct}: the policy applies to only part of the failing mail"),
                "raise pct to 100 (or remove it: DMARCbis drops pct)",
            ));
        }
        out.push(finding(
            "dmarc-pct-removed",
            Severity::Note,
            "pct= is removed by DMARCbis (replaced by t=y for testing)",
            "remove pct=; use t=y while testing a stricter policy",
        ));
    }
    if has("rf") {
        out.push(finding(
            "dmarc-rf-removed",
            Severity::Warning,
            "rf= is removed by DMARCbis",
            "remove rf=",
        ));
    }
    if has("ri") {
        out.push(finding(
            "dmarc-ri-removed",
            Severity::Warning,
            "ri= is removed by DMARCbis; receivers send daily reports whatever it says",
            "remove ri=",
        ));
    }
    if r.testing == Some(true) {
        out.push(finding(
            "dmarc-testing",
            Severity::Note,
            "t=y: receivers apply one policy level lower than p= says",
            "remove t=y once the reports show your mail passes",
        ));
    }
    if r.rua.is_empty() {
        out.push(finding(
            "dmarc-no-rua",
            Severity::Warning,
            "no rua= address: you get no aggregate reports, so you cannot tell what fails before tightening the policy",
            "add rua=mailto:dmarc-reports@your-domain",
        ));
    }
    out
}

/// The report destinations that need authorization: rua/ruf mail domains outside the
/// organizational domain of `domain`.
pub fn external_destinations(domain: &str, r: &Record) -> Vec<String> {
    let org = org_guess(domain);
    let mut out = Vec::new();
    for u in r.rua.iter().chain(r.ruf.iter()) {
        let base = u.rsplit_once('!').map(|(b, _)| b).unwrap_or(u);
        let Some(addr) = base
            .get(..7)
            .filter(|s| s.eq_ignore_ascii_case("mailto:"))
            .map(|_| &base[7..])
        else {
            continue;
        };
        let Some((_, host)) = addr.rsplit_once('@') else {
            continue;
        };
        let host = dns::norm(host);
        if host != org && !host.ends_with(&format!(".{org}")) && !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

/// The last two labels: the organizational domain where DNS does not say otherwise.
pub fn org_guess(domain: &str) -> String {
    let d = dns::norm(domain);
    let labels: Vec<&str> = d.split('.').collect();
    if labels.len() <= 2 {
        return d;
    }
    labels[labels.len() - 2..].join(".")
}

/// The organizational domain by the DMARCbis tree walk: the shortest ancestor that
/// publishes a DMARC record, stopping under a PSD (psd=y). Falls back to the last
/// two labels.
pub fn org_domain(domain: &str, dns: &dyn TxtLookup) -> String {
    let d = dns::norm(domain);
    let labels: Vec<&str> = d.split('.').collect();
    let mut found = None;
    // From the shortest ancestor with two labels down to the domain itself.
    for start in (0..labels.len().saturating_sub(1)).rev() {
        let name = labels[start..].join(".");
        if let Ok(recs) = dns.txt(&format!("_dmarc.{name}")) {
            if let Some(rec) = recs.iter().find(|r| is_dmarc(r)) {
                let (r, _) = parse(rec);
                if r.psd == Some('y') {
                    // A public suffix operator: the org domain is one label below.
                    if start > 0 {
                        found = Some(labels[start - 1..].join("."));
                    }
                    break;
                }
                found = Some(name);
                break;
            }
        }
    }
    found.unwrap_or_else(|| org_guess(&d))
}

/// The names an RFC 9989 DNS tree walk asks, in order: the domain, then (with
/// eight labels or more) its last seven, then one label fewer each time, down to
/// the top-level domain. At most eight names.
pub fn walk_names(domain: &str) -> Vec<String> {
    let d = dns::norm(domain);
    let labels: Vec<&str> = d.split('.').filter(|l| !l.is_empty()).collect();
    let mut out = vec![d.clone()];
    let mut n = labels.len();
    if n >= 8 {
        n = 8;
    }
    while n > 1 {
        n -= 1;
        out.push(labels[labels.len() - n..].join("."));
    }
    out
}

/// What one walk step found at `_dmarc.<name>`: exactly one DMARC record, or not.
enum Step {
    Found(Record),
    Nothing,
    NoSuchName,
}

fn step(name: &str, dns: &dyn TxtLookup) -> Result<Step, String> {
    match dns.lookup(&format!("_dmarc.{name}"), dns::TXT) {
        Answer::Records(r) => {
            let recs: Vec<Vec<u8>> = r
                .iter()
                .map(|d| crate::txt::value(d).unwrap_or_default())
                .filter(|v| is_dmarc(v))
                .collect();
            // More than one record counts as none (RFC 9989 §4.10).
            match recs.as_slice() {
                [one] => Ok(Step::Found(parse(one).0)),
                _ => Ok(Step::Nothing),
            }
        }
        Answer::NoData => Ok(Step::Nothing),
        Answer::NxDomain => Ok(Step::NoSuchName),
        Answer::Fail(e) => Err(format!("looking up _dmarc.{name}: {e}")),
    }
}

/// The policy that applies to mail from `domain` (RFC 9989 policy discovery): the
/// record and the name it was found at; None when the walk finds none.
pub fn discover(domain: &str, dns: &dyn TxtLookup) -> Result<Option<(String, Record)>, String> {
    for name in walk_names(domain) {
        if let Step::Found(r) = step(&name, dns)? {
            return Ok(Some((name, r)));
        }
    }
    Ok(None)
}

/// The Organizational Domain of `domain` by the RFC 9989 tree walk: where psd=n
/// says so, one label under a psd=y record, else the shortest name with a DMARC
/// record, else the domain itself.
pub fn organizational_domain(domain: &str, dns: &dyn TxtLookup) -> Result<String, String> {
    let names = walk_names(domain);
    let mut found: Option<String> = None;
    for (i, name) in names.iter().enumerate() {
        if let Step::Found(r) = step(name, dns)? {
            match r.psd {
                Some('n') => return Ok(name.clone()),
                Some('y') => {
                    return Ok(if i == 0 {
                        name.clone()
                    } else {
                        names[i - 1].clone()
                    })
                }
                _ => found = Some(name.clone()),
            }
        }
    }
    Ok(found.unwrap_or_else(|| dns::norm(domain)))
}

/// The DMARC record that applies to `domain`, with the name it was found at.
pub fn fetch(domain: &str, dns: &dyn TxtLookup) -> Option<(String, Vec<u8>)> {
    let d = dns::norm(domain);
    for name in [d.clone(), org_domain(&d, dns)] {
        if let Ok(recs) = dns.txt(&format!("_dmarc.{name}")) {
            if let Some(r) = recs.into_iter().find(|r| is_dmarc(r)) {
                return Some((name, r));
            }
        }
    }
    None
}

/// Fetches and lints the DMARC record of `domain`.
pub fn check_domain(domain: &str, dns: &dyn TxtLookup) -> Vec<Finding> {
    let d = dns::norm(domain);
    let mut out = Vec::new();
    let at = format!("_dmarc.{d}");
    let recs = match dns.txt(&at) {
        Ok(r) => r,
        Err(dns::Answer::Fail(e)) => {
            out.push(finding(
                "dmarc-lookup-failed",
                Severity::Warning,
                format!("TXT lookup for {at} failed: {e}"),
                "check the name servers",
            ));
            return out;
        }
        Err(_) => Vec::new(),
    };
    let dmarc: Vec<&Vec<u8>> = recs.iter().filter(|r| is_dmarc(r)).collect();
    // Records that look like DMARC but do not start with v=DMARC1.
    for r in &recs {
        let s = String::from_utf8_lossy(r);
        if !is_dmarc(r) && s.to_ascii_lowercase().contains("v=dmarc1") {
            out.push(finding(
                "dmarc-version",
                Severity::Error,
                format!("TXT at {at} mentions v=DMARC1 but does not start with it: '{s}'"),
                "put 'v=DMARC1;' first, in that case",
            ));
        }
    }
    // A DMARC record at the domain itself, or at "dmarc." without the underscore.
    for wrong in [d.clone(), format!("dmarc.{d}"), format!("_dmarc.{at}")] {
        if let Ok(r) = dns.txt(&wrong) {
            if r.iter().any(|r| is_dmarc(r)) {
                out.push(finding(
                    "dmarc-wrong-place",
                    Severity::Error,
                    format!("a DMARC record is published at {wrong}; receivers only look at {at}"),
                    format!("move it to {at}"),
                ));
            }
        }
    }
    if dmarc.len() > 1 {
        out.push(finding(
            "dmarc-multiple",
            Severity::Error,
            format!(
                "{at} has {} DMARC records: receivers ignore them all",
                dmarc.len()
            ),
            "keep exactly one",
        ));
    }
    let Some(rec) = dmarc.first() else {
        let org = org_domain(&d, dns);
        let inherited = org != d
            && dns
                .txt(&format!("_dmarc.{org}"))
                .is_ok_and(|r| r.iter().any(|r| is_dmarc(r)));
        if inherited {
            out.push(finding(
                "dmarc-inherited",
                Severity::Note,
                format!("{d} has no DMARC record of its own; the one of {org} applies"),
                "",
            ));
        } else {
            out.push(finding(
                "dmarc-missing",
                Severity::Warning,
                format!("no DMARC record at {at}"),
                format!("publish {at} TXT \"v=DMARC1; p=none; rua=mailto:dmarc@{d}\""),
            ));
        }
        return out;
    };
    out.extend(lint_record(rec));
    let (r, _) = parse(rec);
    for host in external_destinations(&d, &r) {
        let auth = format!("{d}._report._dmarc.{host}");
        let ok = dns.txt(&auth).is_ok_and(|v| {
            v.iter()
                .any(|v| v.len() >= 8 && v[..8].eq_ignore_ascii_case(b"v=DMARC1"))
        });
        if !ok {
            out.push(finding(
                "dmarc-external-unauthorized",
                Severity::Error,
                format!("reports go to {host}, which does not authorize them: no v=DMARC1 TXT at {auth}"),
                format!("ask the operator of {host} to publish {auth} TXT \"v=DMARC1\", or send reports inside {d}"),
            ));
        }
    }
    for u in r.rua.iter().chain(r.ruf.iter()) {
        let base = u.rsplit_once('!').map(|(b, _)| b).unwrap_or(u);
        if let Some((_, host)) = base.rsplit_once('@') {
            if let Err(dns::Answer::NxDomain | dns::Answer::NoData) = dns.mx(host) {
                out.push(finding(
                    "dmarc-destination-no-mx",
                    Severity::Warning,
                    format!("report address domain {host} has no MX record; reports may bounce"),
                    format!("publish MX for {host} or use another address"),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    #[test]
    fn rfc9989_tree_walk() {
        assert_eq!(
            walk_names("a.b.example.com"),
            ["a.b.example.com", "b.example.com", "example.com", "com"]
        );
        // Eight labels or more: straight to the last seven, then one at a time.
        let w = walk_names("1.2.3.4.5.6.7.8.9.example");
        assert_eq!(w.len(), 8);
        assert_eq!(w[1], "4.5.6.7.8.9.example");
        assert_eq!(w[7], "example");
        let mut m = MapLookup::new();
        m.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
        m.add_txt("_dmarc.com", "v=DMARC1; p=none; psd=y");
        m.add_txt("_dmarc.corp.example.net", "v=DMARC1; p=quarantine; psd=n");
        m.add_txt("_dmarc.example.net", "v=DMARC1; p=reject");
        m.add_txt("_dmarc.two.example.org", "v=DMARC1; p=none");
        m.add_txt("_dmarc.two.example.org", "v=DMARC1; p=reject");
        let (at, r) = discover("mail.sub.example.com", &m).unwrap().unwrap();
        assert_eq!((at.as_str(), r.p), ("example.com", Some(Policy::Reject)));
        // One label under the public suffix; psd=n stops the walk; no record: itself.
        assert_eq!(
            organizational_domain("a.b.example.com", &m).unwrap(),
            "example.com"
        );
        assert_eq!(
            organizational_domain("x.corp.example.net", &m).unwrap(),
            "corp.example.net"
        );
        assert_eq!(
            organizational_domain("a.nowhere.test", &m).unwrap(),
            "a.nowhere.test"
        );
        // Two records are none.
        assert!(discover("two.example.org", &m).unwrap().is_none());
    }

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn parse_and_print() {
        let (r, f) = parse(b"v=DMARC1; p=reject; sp=quarantine; rua=mailto:a@example.com,mailto:b@example.net!10m; adkim=s");
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(r.p, Some(Policy::Reject));
        assert_eq!(r.rua.len(), 2);
        assert_eq!(r.to_string(), "v=DMARC1; p=reject; sp=quarantine; rua=mailto:a@example.com,mailto:b@example.net!10m; adkim=s");
        assert!(is_dmarc(b"v=DMARC1;p=none"));
        assert!(!is_dmarc(b"p=none; v=DMARC1"));
        assert!(!is_dmarc(b"v=DMARC10"));
    }

    #[test]
    fn lints() {
        let l = |s: &str| lint_record(s.as_bytes());
        assert!(ids(&l("v=DMARC1; p=none; rua=mailto:a@example.com")).contains(&"dmarc-p-none"));
        assert!(ids(&l("v=DMARC1; rua=mailto:a@example.com")).contains(&"dmarc-no-policy"));
        assert!(ids(&l("v=dmarc1; p=reject")).contains(&"dmarc-version"));
        assert!(ids(&l("v=DMARC1; p=rejct")).contains(&"dmarc-syntax"));
        assert!(ids(&l("v=DMARC1; p=reject; rua=a@example.com")).contains(&"dmarc-uri-no-mailto"));
        assert!(
            ids(&l("v=DMARC1; p=reject; pct=50; rua=mailto:a@example.com"))
                .contains(&"dmarc-pct-partial")
        );
        assert!(ids(&l(
            "v=DMARC1; p=reject; ri=3600; rf=afrf; rua=mailto:a@example.com"
        ))
        .contains(&"dmarc-ri-removed"));
        assert!(ids(&l("v=DMARC1; p=reject")).contains(&"dmarc-no-rua"));
        assert!(
            ids(&l("v=DMARC1; p=reject; foo=1; rua=mailto:a@example.com"))
                .contains(&"dmarc-unknown-tag")
        );
        assert!(
            ids(&l("v=DMARC1; p=reject; p=none; rua=mailto:a@example.com"))
                .contains(&"dmarc-syntax")
        );
        assert!(
            l("v=DMARC1; p=reject; np=reject; psd=n; t=n; rua=mailto:a@example.com").is_empty()
        );
    }

    #[test]
    fn dns_lints() {
        let mut m = MapLookup::new();
        m.add_txt(
            "_dmarc.example.com",
            "v=DMARC1; p=reject; rua=mailto:r@example.com,mailto:x@vendor.net,mailto:y@ok.net",
        );
        m.add_txt("example.com._report._dmarc.ok.net", "v=DMARC1");
        m.add_mx("example.com", 10, "mx.example.com")
            .add_mx("vendor.net", 10, "mx.vendor.net")
            .add_mx("ok.net", 10, "mx.ok.net");
        let f = check_domain("example.com", &m);
        assert_eq!(ids(&f), ["dmarc-external-unauthorized"], "{f:?}");
        assert!(f[0].message.contains("vendor.net"));
        m.add_txt("example.com", "v=DMARC1; p=none");
        m.add_txt("_dmarc.example.com", "v=DMARC1; p=none");
        let f = check_domain("example.com", &m);
        assert!(ids(&f).contains(&"dmarc-wrong-place"));
        assert!(ids(&f).contains(&"dmarc-multiple"));
        assert!(ids(&check_domain("sub.example.com", &m)).contains(&"dmarc-inherited"));
        assert!(ids(&check_domain("other.example", &m)).contains(&"dmarc-missing"));
        assert_eq!(org_domain("a.b.example.com", &m), "example.com");
    }
}
