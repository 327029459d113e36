//! The mail lints over a zone file, for `blason zone check`: every SPF, DMARC, DKIM
//! (and historic ADSP/DomainKeys), BIMI, MTA-STS, TLS-RPT and TLSA record found in the
//! zone, linted offline. Lookups the lints need (SPF includes, DMARC report
//! authorizations, BIMI's DMARC prerequisite) are answered from the zone itself by
//! [`ZoneLookup`]; names outside the zone are not looked up, and what depends on them
//! is left out rather than reported as a failure.
//!
//! Severity: a zone with broken mail records still loads and serves (the server logs
//! these findings but never refuses a zone for them), so a finding stays an error only when receivers cannot use
//! the record at all (it does not parse, has the wrong version, is one of several, or
//! its data is malformed); everything else that the lints call an error (a weak key,
//! a policy BIMI will not accept, a lookup limit) is reported as a warning here.

use crate::dns::{Answer, TxtLookup};
use crate::{bimi, dkim, dmarc, mtasts, spf, tlsa, tlsrpt, txt, Finding, Severity};
use blason_zone::finding::Place;
use blason_zone::load::Loaded;
use blason_zone::model::flags;
use blason_zone::{Name, Rtype, Zone};

/// The TLSA type (RFC 6698).
pub const TLSA: Rtype = Rtype(52);

/// Answers the lints' lookups from one zone: names outside it (or below a cut) fail,
/// so that nothing leaves the machine.
pub struct ZoneLookup<'z> {
    zone: &'z Zone,
}

impl<'z> ZoneLookup<'z> {
    pub fn new(zone: &'z Zone) -> ZoneLookup<'z> {
        ZoneLookup { zone }
    }
}

impl TxtLookup for ZoneLookup<'_> {
    fn lookup(&self, name: &str, rtype: u16) -> Answer {
        let abs = format!("{}.", crate::dns::norm(name));
        let Ok(n) = Name::parse(&abs, None) else {
            return Answer::Fail(format!("'{name}' is not a domain name"));
        };
        if !n.is_subdomain_of(self.zone.origin()) {
            return Answer::Fail(format!("{n} is outside the zone"));
        }
        match self.zone.find(n.as_wire()) {
            Some(i) => {
                let node = &self.zone.nodes()[i];
                if !node.is_authoritative() || node.has(flags::DELEGATION) {
                    return Answer::Fail(format!("{n} is delegated"));
                }
                match node.rrset(Rtype(rtype)) {
                    Some(rr) => Answer::Records(rr.rdatas().map(<[u8]>::to_vec).collect()),
                    None => Answer::NoData,
                }
            }
            None => Answer::NxDomain,
        }
    }
}

/// Ids that stay errors in a zone check (see the module note).
fn stays_error(id: &str) -> bool {
    id.ends_with("-syntax")
        || id.ends_with("-version")
        || id.ends_with("-multiple")
        || matches!(
            id,
            "spf-string-too-long"
                | "spf-duplicate-modifier"
                | "spf-type-only"
                | "dkim-key-invalid"
                | "dkim-key-type"
                | "dmarc-no-policy"
                | "dmarc-uri-invalid"
                | "dmarc-wrong-place"
                | "tlsrpt-uri"
                | "tlsrpt-no-rua"
                | "mta-sts-id"
                | "tlsa-params"
                | "tlsa-length"
                | "generated-collision"
        )
}

/// Findings that only mean "this needs a name outside the zone".
fn needs_outside(f: &Finding) -> bool {
    f.id.ends_with("-lookup-failed")
}

/// Lints every mail record of a loaded zone, each finding placed at its RRset's line.
pub fn lint_loaded(l: &Loaded) -> Vec<Finding> {
    lint_zone(&l.zone, &|n, r| l.place(n, r))
}

/// The mail lints as a [`blason_zone::load::Lint`]: part of the one check that
/// `blason zone check` runs and the server logs at every load.
#[derive(Debug, Default)]
pub struct MailLints;

impl blason_zone::load::Lint for MailLints {
    fn lint(&self, loaded: &Loaded) -> Vec<Finding> {
        lint_loaded(loaded)
    }
}

/// Lints every mail record of `zone`; `place(node, rrset)` names the line.
pub fn lint_zone(zone: &Zone, place: &dyn Fn(usize, usize) -> Option<Place>) -> Vec<Finding> {
    let dns = ZoneLookup::new(zone);
    let mut out = Vec::new();
    for (ni, node) in zone.nodes().iter().enumerate() {
        if node.has(flags::ENT) || !node.is_authoritative() {
            continue;
        }
        let mut found = Vec::new();
        lint_node(zone, ni, &dns, &mut found);
        for (rtype, mut f) in found {
            if needs_outside(&f) {
                continue;
            }
            if f.severity == Severity::Error && !stays_error(f.id) {
                f.severity = Severity::Warning;
            }
            if f.place.is_none() {
                let ri = node.rrsets.iter().position(|r| r.rtype == rtype);
                f.place = ri.and_then(|ri| place(ni, ri));
            }
            out.push(f);
        }
    }
    out
}

fn label(name: &Name, i: usize) -> Option<String> {
    name.labels()
        .nth(i)
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
}

/// The domain below the first `skip` labels, without the final dot.
fn below(name: &Name, skip: usize) -> String {
    let mut s = String::new();
    let _ = blason_zone::name::write_wire_name(&mut s, name.suffix_wire(skip));
    crate::dns::norm(&s)
}

fn tag_all(rtype: Rtype, fs: Vec<Finding>, out: &mut Vec<(Rtype, Finding)>) {
    out.extend(fs.into_iter().map(|f| (rtype, f)));
}

fn lint_node(zone: &Zone, ni: usize, dns: &ZoneLookup<'_>, out: &mut Vec<(Rtype, Finding)>) {
    let node = &zone.nodes()[ni];
    let name = &node.name;
    let owner = below(name, 0);
    let l0 = label(name, 0).unwrap_or_default();
    let l1 = label(name, 1).unwrap_or_default();
    let texts: Vec<Vec<u8>> = node
        .rrset(Rtype::TXT)
        .map(|rr| rr.rdatas().filter_map(txt::value).collect())
        .unwrap_or_default();
    let t = Rtype::TXT;

    // SPF: any name with a v=spf1 TXT or an SPF-type record.
    let spf_type = node.rrset(Rtype(crate::dns::SPF)).is_some();
    if texts.iter().any(|v| spf::is_spf(v)) || spf_type {
        let w = spf::check_domain(&owner, dns);
        let rt = if texts.iter().any(|v| spf::is_spf(v)) {
            t
        } else {
            Rtype(crate::dns::SPF)
        };
        tag_all(rt, w.findings, out);
        if let Some(rr) = node.rrset(Rtype::TXT) {
            for rd in rr.rdatas() {
                if let Some(strings) = txt::strings(rd) {
                    let v = strings.concat();
                    if spf::is_spf(&v) {
                        let refs: Vec<&[u8]> = strings.iter().map(Vec::as_slice).collect();
                        tag_all(t, spf::lint_strings(&refs), out);
                    }
                }
            }
        }
    }

    // DMARC: records at _dmarc.<domain>, and records in the wrong place.
    let dmarcs: Vec<&Vec<u8>> = texts.iter().filter(|v| dmarc::is_dmarc(v)).collect();
    if l0 == "_dmarc" {
        let domain = below(name, 1);
        if dmarcs.len() > 1 {
            out.push((
                t,
                crate::finding(
                    "dmarc-multiple",
                    Severity::Error,
                    format!(
                        "{owner} has {} DMARC records: receivers ignore them all",
                        dmarcs.len()
                    ),
                    "keep exactly one",
                ),
            ));
        }
        for v in &dmarcs {
            tag_all(t, dmarc::lint_record(v), out);
            let (r, _) = dmarc::parse(v);
            for host in dmarc::external_destinations(&domain, &r) {
                let at = format!("{domain}._report._dmarc.{host}");
                match dns.txt(&at) {
                    Ok(recs) if recs.iter().any(|r| dmarc::is_dmarc(r)) => {}
                    Err(Answer::Fail(_)) => {}
                    _ => out.push((
                        t,
                        crate::finding(
                            "dmarc-external-unauthorized",
                            Severity::Warning,
                            format!("reports go to {host}, which does not authorize them at {at}"),
                            format!("publish {at}. TXT \"v=DMARC1\""),
                        ),
                    )),
                }
            }
        }
        for v in &texts {
            let s = String::from_utf8_lossy(v);
            if !dmarc::is_dmarc(v) && s.to_ascii_lowercase().contains("v=dmarc1") {
                out.push((
                    t,
                    crate::finding(
                        "dmarc-version",
                        Severity::Error,
                        format!(
                            "TXT at {owner} mentions v=DMARC1 but does not start with it: '{s}'"
                        ),
                        "put 'v=DMARC1;' first",
                    ),
                ));
            }
        }
    } else if !dmarcs.is_empty() && l1 != "_report" {
        out.push((
            t,
            crate::finding(
                "dmarc-wrong-place",
                Severity::Error,
                format!("a DMARC record is published at {owner}; receivers only look at _dmarc.<domain>"),
                format!("move it to _dmarc.{owner}"),
            ),
        ));
    }

    // DKIM keys, ADSP and the DomainKeys policy record.
    if l0 == "_adsp" && l1 == "_domainkey" {
        tag_all(
            t,
            dkim::check_historic(&below(name, 2), dns)
                .into_iter()
                .filter(|f| f.id == "dkim-adsp")
                .collect(),
            out,
        );
    } else if l0 == "_domainkey" {
        tag_all(
            t,
            dkim::check_historic(&below(name, 1), dns)
                .into_iter()
                .filter(|f| f.id == "dkim-domainkeys-policy")
                .collect(),
            out,
        );
    } else if l1 == "_domainkey" && !texts.is_empty() {
        let domain = below(name, 2);
        tag_all(t, dkim::check_selector(&domain, &l0, dns), out);
    }

    // BIMI at <selector>._bimi.<domain>, with its DMARC prerequisites where the zone
    // holds them.
    if l1 == "_bimi" {
        let bimis: Vec<&Vec<u8>> = texts.iter().filter(|v| bimi::is_bimi(v)).collect();
        if bimis.len() > 1 {
            out.push((
                t,
                crate::finding(
                    "bimi-multiple",
                    Severity::Error,
                    format!("{owner} has {} BIMI records", bimis.len()),
                    "keep one",
                ),
            ));
        }
        for v in bimis {
            tag_all(t, bimi::lint_record(v).1, out);
        }
        let domain = below(name, 2);
        let org = format!("{}.", dmarc::org_guess(&domain));
        if Name::parse(&org, None).is_ok_and(|o| o.is_subdomain_of(zone.origin())) {
            tag_all(t, bimi::check_dmarc(&domain, dns), out);
        }
    }

    // MTA-STS and TLS-RPT.
    if l0 == "_mta-sts" {
        let recs: Vec<&Vec<u8>> = texts.iter().filter(|v| mtasts::is_sts(v)).collect();
        if recs.len() > 1 {
            out.push((
                t,
                crate::finding(
                    "mta-sts-multiple",
                    Severity::Error,
                    format!(
                        "{owner} has {} MTA-STS records: senders ignore them all",
                        recs.len()
                    ),
                    "keep one",
                ),
            ));
        }
        for v in recs {
            tag_all(t, mtasts::lint_record(v), out);
        }
    }
    if l0 == "_smtp" && l1 == "_tls" {
        let recs: Vec<&Vec<u8>> = texts.iter().filter(|v| tlsrpt::is_tlsrpt(v)).collect();
        if recs.len() > 1 {
            out.push((
                t,
                crate::finding(
                    "tlsrpt-multiple",
                    Severity::Error,
                    format!(
                        "{owner} has {} TLS-RPT records: senders ignore them all",
                        recs.len()
                    ),
                    "keep one",
                ),
            ));
        }
        for v in recs {
            tag_all(t, tlsrpt::lint_record(v), out);
        }
    }

    // TLSA.
    if let Some(rr) = node.rrset(TLSA) {
        let port = l0.strip_prefix('_').and_then(|p| p.parse::<u16>().ok());
        let proto_ok = matches!(l1.as_str(), "_tcp" | "_udp" | "_sctp");
        if port.is_none() || !proto_ok {
            out.push((
                TLSA,
                crate::finding(
                    "tlsa-owner",
                    Severity::Warning,
                    format!("TLSA at {owner}: clients look for TLSA at _<port>._<protocol>.<host>, e.g. _25._tcp.mail.example.com"),
                    "move the records to _<port>._tcp.<host>",
                ),
            ));
        }
        for rd in rr.rdatas() {
            tag_all(TLSA, tlsa::lint_rdata(port, rd), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint(text: &str) -> Vec<Finding> {
        let o = Name::parse("example.com.", None).unwrap();
        let l = blason_zone::load::load_bytes(&o, text.as_bytes(), "t.zone");
        assert!(!l.has_errors(), "{:?}", l.findings);
        lint_loaded(&l)
    }

    const HEAD: &str = "$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n@ MX 10 mail\nmail A 192.0.2.2\n";

    #[test]
    fn good_records_give_nothing() {
        let z = format!(
            "{HEAD}@ TXT \"v=spf1 mx -all\"\n_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:d@example.com\"\n_smtp._tls TXT \"v=TLSRPTv1; rua=mailto:t@example.com\"\n_mta-sts TXT \"v=STSv1; id=2026\"\n_25._tcp.mail TLSA 3 1 1 {}\n",
            "ab".repeat(32)
        );
        let f = lint(&z);
        assert!(f.is_empty(), "{f:?}");
    }

    #[test]
    fn broken_records_are_found_with_their_lines() {
        let z = format!(
            "{HEAD}@ TXT \"v=spf1 mx +all\"\n@ TXT \"v=spf1 a -all\"\nsub TXT \"v=spf1 include:nothere.example.com -all\"\n_dmarc TXT \"v=DMARC1; p=maybe\"\nsel._domainkey TXT \"v=DKIM1; k=rsa; p=!!!\"\n_adsp._domainkey TXT \"dkim=all\"\n_25._tcp.mail TLSA 3 1 1 abcd\nwww TXT \"v=DMARC1; p=none\"\n@ SPF \"v=spf1 -all\"\n"
        );
        let f = lint(&z);
        let ids: Vec<&str> = f.iter().map(|f| f.id).collect();
        for want in [
            "spf-multiple",
            "dmarc-syntax",
            "dkim-adsp",
            "tlsa-length",
            "dmarc-wrong-place",
            "spf-type-deprecated",
        ] {
            assert!(ids.contains(&want), "{want} missing from {ids:?}");
        }
        assert!(
            ids.iter().any(|i| i.starts_with("dkim-")),
            "no dkim finding in {ids:?}"
        );
        let line = |id: &str| f.iter().find(|f| f.id == id).and_then(|f| f.line());
        assert_eq!(line("dmarc-syntax"), Some(10));
        assert_eq!(line("tlsa-length"), Some(13));
        assert_eq!(line("dmarc-wrong-place"), Some(14));
        // A weak policy in a zone check is a warning, never an error.
        assert!(f
            .iter()
            .filter(|f| f.is_error())
            .all(|f| super::stays_error(f.id)));
    }

    #[test]
    fn in_zone_includes_are_followed_and_outside_ones_skipped() {
        let z = format!(
            "{HEAD}@ TXT \"v=spf1 include:a.example.com include:elsewhere.test -all\"\na TXT \"v=spf1 include:example.com -all\"\n"
        );
        let ids: Vec<&str> = lint(&z).iter().map(|f| f.id).collect();
        assert!(ids.contains(&"spf-include-loop"), "{ids:?}");
        assert!(!ids.iter().any(|i| i.contains("lookup-failed")), "{ids:?}");
    }
}
