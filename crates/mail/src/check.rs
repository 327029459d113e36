//! `mail check`: every lint for one domain, grouped by record, in one report.

use crate::dns::{self, TxtLookup};
use crate::{bimi, dkim, dmarc, mtasts, spf, tlsrpt, Finding, Severity};

/// Selectors tried when none are given: the defaults of common signers.
pub const COMMON_SELECTORS: &[&str] = &[
    "default",
    "mail",
    "dkim",
    "s1",
    "s2",
    "selector1",
    "selector2",
    "google",
    "k1",
];

pub struct Section {
    pub name: &'static str,
    pub findings: Vec<Finding>,
}

pub struct Report {
    pub domain: String,
    pub sections: Vec<Section>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.sections
            .iter()
            .flat_map(|s| &s.findings)
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    pub fn to_json(&self) -> String {
        let mut s = format!(
            "{{\"domain\":{},\"sections\":[",
            blason_zone::finding::json_str(&self.domain)
        );
        for (i, sec) in self.sections.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&format!("{{\"name\":\"{}\",\"findings\":[", sec.name));
            for (j, f) in sec.findings.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                s.push_str(&f.to_json());
            }
            s.push_str("]}");
        }
        s.push_str(&format!("],\"errors\":{}}}", self.errors()));
        s
    }
}

/// Runs every lint. `selectors` empty means: try [`COMMON_SELECTORS`] and report the
/// ones found.
pub fn check(domain: &str, selectors: &[String], dns: &dyn TxtLookup) -> Report {
    let d = dns::norm(domain);
    let mut sections = Vec::new();
    sections.push(Section {
        name: "spf",
        findings: spf::check_domain(&d, dns).findings,
    });
    sections.push(Section {
        name: "dmarc",
        findings: dmarc::check_domain(&d, dns),
    });
    let mut dk = dkim::check_historic(&d, dns);
    if selectors.is_empty() {
        let mut found = 0;
        for s in COMMON_SELECTORS {
            if dns.txt(&dkim::owner(s, &d)).is_ok_and(|r| !r.is_empty()) {
                found += 1;
                dk.extend(dkim::check_selector(&d, s, dns));
            }
        }
        if found == 0 {
            dk.push(crate::finding(
                "dkim-no-selector",
                Severity::Note,
                format!(
                    "no DKIM key under the common selectors ({})",
                    COMMON_SELECTORS.join(", ")
                ),
                "pass your selectors with --selector",
            ));
        }
    } else {
        for s in selectors {
            dk.extend(dkim::check_selector(&d, s, dns));
        }
    }
    sections.push(Section {
        name: "dkim",
        findings: dk,
    });
    sections.push(Section {
        name: "bimi",
        findings: bimi::check_domain(&d, "default", dns).1,
    });
    sections.push(Section {
        name: "mta-sts",
        findings: mtasts::check_domain(&d, None, dns),
    });
    sections.push(Section {
        name: "tls-rpt",
        findings: tlsrpt::check_domain(&d, dns),
    });
    let mut tlsa = Vec::new();
    if let Ok(mx) = dns.mx(&d) {
        for (_, host) in mx {
            let owner = crate::tlsa::owner(25, &host);
            if dns.lookup(&owner, 52).is_void() {
                tlsa.push(crate::finding("tlsa-missing", Severity::Note, format!("no TLSA record at {owner}: senders cannot use DANE for {host}"), format!("publish one with: blason tlsa --cert CERT --port 25 --host {host} (needs DNSSEC)")));
            }
        }
    }
    sections.push(Section {
        name: "tlsa",
        findings: tlsa,
    });
    Report {
        domain: d,
        sections,
    }
}
