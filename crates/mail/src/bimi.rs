//! BIMI assertion records (`<selector>._bimi.<domain>`, `v=BIMI1; l=; a=`) and the
//! DMARC policy BIMI requires before a mailbox shows the logo.

use crate::dmarc::{self, Policy};
use crate::dns::{self, TxtLookup};
use crate::tags;
use crate::{finding, Finding, Severity};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Logo URL(s); empty with `a` empty is a declination to publish.
    pub l: Vec<String>,
    pub a: Option<String>,
}

impl Record {
    pub fn to_text(&self) -> String {
        let mut s = format!("v=BIMI1; l={}", self.l.join(","));
        if let Some(a) = &self.a {
            s.push_str(&format!("; a={a}"));
        }
        s
    }
}

pub fn is_bimi(v: &[u8]) -> bool {
    v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"v=BIMI1")
}

/// Parses and lints a BIMI record.
pub fn lint_record(value: &[u8]) -> (Option<Record>, Vec<Finding>) {
    let mut out = Vec::new();
    let list = match tags::parse(value) {
        Ok(l) => l,
        Err(e) => {
            out.push(finding(
                "bimi-syntax",
                Severity::Error,
                format!("the BIMI record does not parse: {e}"),
                "write 'v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem'",
            ));
            return (None, out);
        }
    };
    if !matches!(list.first(), Some(t) if t.name == "v" && t.value == "BIMI1") {
        out.push(finding(
            "bimi-version",
            Severity::Error,
            "a BIMI record must start with v=BIMI1",
            "put 'v=BIMI1;' first",
        ));
        return (None, out);
    }
    for d in tags::duplicates(&list) {
        out.push(finding(
            "bimi-syntax",
            Severity::Error,
            format!("tag '{d}' appears more than once"),
            "keep one",
        ));
    }
    for t in &list[1..] {
        if !matches!(t.name.as_str(), "l" | "a" | "s") {
            out.push(finding(
                "bimi-unknown-tag",
                Severity::Warning,
                format!("unknown tag '{}'", t.name),
                "remove it",
            ));
        }
    }
    let l: Vec<String> = tags::get(&list, "l")
        .map(|l| {
            l.split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let a = tags::get(&list, "a")
        .map(str::to_string)
        .filter(|a| !a.is_empty());
    if tags::get(&list, "l").is_none() {
        out.push(finding(
            "bimi-no-logo",
            Severity::Error,
            "the record has no l= tag",
            "add l=https://your-domain/logo.svg",
        ));
    }
    if l.is_empty() && a.is_none() {
        out.push(finding(
            "bimi-declined",
            Severity::Note,
            "l= and a= are empty: the domain declines to show a logo",
            "",
        ));
    }
    for u in &l {
        if !u.to_ascii_lowercase().starts_with("https://") {
            out.push(finding(
                "bimi-logo-not-https",
                Severity::Error,
                format!("logo URL '{u}' is not https"),
                "serve the logo over https",
            ));
        } else if !u.to_ascii_lowercase().ends_with(".svg") {
            out.push(finding(
                "bimi-logo-not-svg",
                Severity::Warning,
                format!("logo URL '{u}' does not end in .svg"),
                "the logo must be an SVG Tiny PS file",
            ));
        }
    }
    match &a {
        Some(a) if !a.to_ascii_lowercase().starts_with("https://") => out.push(finding("bimi-vmc-not-https", Severity::Error, format!("certificate URL '{a}' is not https"), "serve the VMC over https")),
        None if !l.is_empty() => out.push(finding("bimi-no-vmc", Severity::Note, "no a= (Verified Mark Certificate): several large mailbox providers show logos only with one", "get a VMC or CMC and publish its URL in a=")),
        _ => {}
    }
    (Some(Record { l, a }), out)
}

/// The DMARC prerequisites: quarantine or reject on the domain and its organizational
/// domain, pct=100 where present, sp not none.
pub fn check_dmarc(domain: &str, dns: &dyn TxtLookup) -> Vec<Finding> {
    let d = dns::norm(domain);
    let org = dmarc::org_domain(&d, dns);
    let mut out = Vec::new();
    let mut names = vec![d.clone()];
    if org != d {
        names.push(org.clone());
    }
    for name in names {
        let rec = dns
            .txt(&format!("_dmarc.{name}"))
            .ok()
            .and_then(|r| r.into_iter().find(|r| dmarc::is_dmarc(r)));
        let Some(rec) = rec else {
            if name == org {
                out.push(finding("bimi-dmarc-missing", Severity::Error, format!("no DMARC record at _dmarc.{name}: BIMI needs DMARC at p=quarantine or p=reject"), "publish DMARC and raise it to quarantine or reject"));
            }
            continue;
        };
        let (r, _) = dmarc::parse(&rec);
        if !matches!(r.p, Some(Policy::Quarantine | Policy::Reject)) {
            out.push(finding(
                "bimi-dmarc-policy",
                Severity::Error,
                format!(
                    "DMARC at _dmarc.{name} has p={}: BIMI needs quarantine or reject",
                    r.p.map(|p| p.as_str()).unwrap_or("(missing)")
                ),
                "raise p= to quarantine or reject once reports show your mail passes",
            ));
        }
        if let Some(pct) = r.pct {
            if pct != 100 {
                out.push(finding(
                    "bimi-dmarc-pct",
                    Severity::Error,
                    format!("DMARC at _dmarc.{name} has pct={pct}: BIMI needs pct=100"),
                    "set pct=100 or remove pct",
                ));
            }
        }
        if name == org && r.sp == Some(Policy::None) {
            out.push(finding(
                "bimi-dmarc-sp-none",
                Severity::Error,
                format!("DMARC at _dmarc.{name} has sp=none: BIMI needs subdomains protected too"),
                "remove sp=none",
            ));
        }
    }
    out
}

/// Fetches and lints the BIMI record at `<selector>._bimi.<domain>` and its DMARC
/// prerequisites.
pub fn check_domain(
    domain: &str,
    selector: &str,
    dns: &dyn TxtLookup,
) -> (Option<Record>, Vec<Finding>) {
    let d = dns::norm(domain);
    let at = format!("{selector}._bimi.{d}");
    let recs: Vec<Vec<u8>> = dns
        .txt(&at)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| is_bimi(r))
        .collect();
    let mut out = Vec::new();
    if recs.len() > 1 {
        out.push(finding(
            "bimi-multiple",
            Severity::Error,
            format!("{at} has {} BIMI records", recs.len()),
            "keep one",
        ));
    }
    let Some(rec) = recs.first() else {
        out.push(finding(
            "bimi-missing",
            Severity::Note,
            format!("no BIMI record at {at}"),
            "publish 'v=BIMI1; l=https://.../logo.svg' once DMARC is at quarantine or reject",
        ));
        return (None, out);
    };
    let (r, f) = lint_record(rec);
    out.extend(f);
    out.extend(check_dmarc(&d, dns));
    (r, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn record_and_prereqs() {
        let (r, f) =
            lint_record(b"v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem");
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            r.unwrap().to_text(),
            "v=BIMI1; l=https://example.com/logo.svg; a=https://example.com/vmc.pem"
        );
        assert!(
            ids(&lint_record(b"v=BIMI1; l=http://example.com/logo.svg").1)
                .contains(&"bimi-logo-not-https")
        );
        assert!(ids(&lint_record(b"v=BIMI1; l=; a=").1).contains(&"bimi-declined"));
        assert!(ids(&lint_record(b"l=x; v=BIMI1").1).contains(&"bimi-version"));
        let mut m = MapLookup::new();
        m.add_txt(
            "default._bimi.example.com",
            "v=BIMI1; l=https://example.com/l.svg; a=https://example.com/v.pem",
        );
        m.add_txt(
            "_dmarc.example.com",
            "v=DMARC1; p=reject; rua=mailto:d@example.com",
        );
        assert!(check_domain("example.com", "default", &m).1.is_empty());
        m.add_txt(
            "_dmarc.weak.example",
            "v=DMARC1; p=quarantine; pct=50; sp=none",
        );
        m.add_txt(
            "default._bimi.weak.example",
            "v=BIMI1; l=https://weak.example/l.svg; a=https://weak.example/v.pem",
        );
        let f = check_domain("weak.example", "default", &m).1;
        assert_eq!(ids(&f), ["bimi-dmarc-pct", "bimi-dmarc-sp-none"]);
        m.add_txt("_dmarc.sub.example.com", "v=DMARC1; p=none");
        m.add_txt(
            "default._bimi.sub.example.com",
            "v=BIMI1; l=https://example.com/l.svg; a=https://example.com/v.pem",
        );
        assert_eq!(
            ids(&check_domain("sub.example.com", "default", &m).1),
            ["bimi-dmarc-policy"]
        );
    }
}
