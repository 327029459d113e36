//! The checks behind `blason zone check`, as typed findings.
//!
//! Severities follow `named-checkzone -i local` (BIND 9.18, default options): what BIND
//! refuses to load is an error here, what it loads is at most a warning. Zonemaster's
//! offline tests (Syntax01–08, Zone01–10) add warnings and notes that name the test.
//! Every check is one pass over the nodes plus hash lookups, so cost stays linear.

mod names;
#[cfg(test)]
mod tests;

use crate::finding::{Finding, Severity};
use crate::model::{flags, BuildInfo, Node, Zone};
use crate::name::{wire_is_subdomain, wire_name_len, write_wire_name};
use crate::scanner::{Parsed, Src};
use crate::types::Rtype;
use names::{double_dash, host_issue, is_reverse, mailbox_issue, nsec3_owner_ok};

const WKS: Rtype = Rtype(11);
const MINFO: Rtype = Rtype(14);
const RP: Rtype = Rtype(17);
const AFSDB: Rtype = Rtype(18);
const RT: Rtype = Rtype(21);
const SIG: Rtype = Rtype(24);
const NXT: Rtype = Rtype(30);
const A6: Rtype = Rtype(38);

/// Runs every check on a built zone, appending findings to `parsed`.
pub fn check_zone(zone: &Zone, info: &BuildInfo, parsed: &mut Parsed) {
    // The only clock read in this crate: the checks themselves take time as a parameter.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    check_zone_at(zone, info, parsed, now);
}

/// Runs every check as of `now_unix` (seconds since 1970), appending findings.
pub fn check_zone_at(zone: &Zone, info: &BuildInfo, parsed: &mut Parsed, now_unix: u64) {
    if zone.nodes().is_empty() {
        return;
    }
    let mut c = Checker::new(zone, info, parsed, now_unix);
    c.apex();
    for i in 0..zone.nodes().len() {
        c.node(i);
    }
    c.extra_glue();
    let out = c.out;
    parsed.findings.extend(out);
}

/// Where an in-zone target name leads.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    /// Has A or AAAA (directly, as glue, or through a wildcard).
    Addr,
    /// Exists or not, but has no address records.
    NoAddr,
    Cname,
    /// At or below a DNAME owner's descendants: the name cannot exist.
    BelowDname,
    /// Below a zone cut with no glue address.
    BelowCut,
}

/// Where an in-zone name leads, the way BIND's NS/MX/SRV checks follow it
/// (wildcards count); with the node of the glue address it found, if any.
fn resolve_in(zone: &Zone, origin: &[u8], t: &[u8], buf: &mut Vec<u8>) -> (Target, Option<usize>) {
    let nodes = zone.nodes();
    if let Some(i) = zone.find(t) {
        return at_node(zone, i, true);
    }
    let mut pos = 0;
    while t.len() - pos > origin.len() && t[pos] != 0 {
        pos += t[pos] as usize + 1;
        let Some(e) = zone.find(&t[pos..]) else {
            continue;
        };
        let en = &nodes[e];
        if en.has(flags::BELOW_DNAME) || en.rrset(Rtype::DNAME).is_some() {
            return (Target::BelowDname, None);
        }
        if en.has(flags::BELOW_CUT) || en.has(flags::DELEGATION) {
            return (Target::BelowCut, None);
        }
        if en.has(flags::WILDCARD_CHILD) {
            buf.clear();
            buf.extend_from_slice(&[1, b'*']);
            buf.extend_from_slice(&t[pos..]);
            if let Some(w) = zone.find(buf) {
                return at_node(zone, w, false);
            }
        }
        return (Target::NoAddr, None);
    }
    (Target::NoAddr, None)
}

fn at_node(zone: &Zone, i: usize, mark: bool) -> (Target, Option<usize>) {
    let n = &zone.nodes()[i];
    if n.has(flags::BELOW_DNAME) {
        return (Target::BelowDname, None);
    }
    let addr = n.rrset(Rtype::A).is_some() || n.rrset(Rtype::AAAA).is_some();
    if n.has(flags::BELOW_CUT) || n.has(flags::DELEGATION) {
        let glue = (addr && mark).then_some(i);
        return (if addr { Target::Addr } else { Target::BelowCut }, glue);
    }
    let t = if addr {
        Target::Addr
    } else if n.rrset(Rtype::CNAME).is_some() {
        Target::Cname
    } else {
        Target::NoAddr
    };
    (t, None)
}

/// Why the apex's NS set would make the zone fail its checks (the errors
/// `check_zone` reports for it: an in-zone name server without an address, a
/// CNAME, a name below a DNAME), if it would: the check a change that does not
/// come from the file (a dynamic update) must pass too. Costs a lookup per name
/// server, not a pass over the zone.
pub fn apex_ns_error(zone: &Zone) -> Option<String> {
    let origin = zone.origin().as_wire();
    let ns = zone.apex().rrset(Rtype::NS)?;
    let mut buf = Vec::new();
    for d in ns.rdatas() {
        let Some(t) = name_at(d, 0) else { continue };
        if !wire_is_subdomain(t, origin) {
            continue;
        }
        let why = match resolve_in(zone, origin, t, &mut buf).0 {
            Target::Addr | Target::BelowCut => continue,
            Target::NoAddr => "has no address records (A or AAAA) in the zone",
            Target::Cname => "is a CNAME (RFC 2181 §10.3)",
            Target::BelowDname => "is below a DNAME",
        };
        return Some(format!("the zone's name server {} {why}", show(t)));
    }
    None
}

struct Checker<'a> {
    zone: &'a Zone,
    info: &'a BuildInfo,
    parsed: &'a Parsed,
    origin: &'a [u8],
    /// `origin` written twice (`example.com.example.com.`), the trace of a missing dot.
    doubled: Option<Vec<u8>>,
    reverse: bool,
    now: u32,
    /// Nodes below a cut whose addresses some NS uses (to find unused glue).
    glue_used: Vec<bool>,
    buf: Vec<u8>,
    out: Vec<Finding>,
}

fn show(wire: &[u8]) -> String {
    let mut s = String::new();
    let _ = write_wire_name(&mut s, wire);
    s
}

/// The name at the start of `d` (rdata), if well formed.
fn name_at(d: &[u8], p: usize) -> Option<&[u8]> {
    let n = wire_name_len(d, p)?;
    d.get(p..p + n)
}

/// `a` if it comes after `b` in the file, else `b` (across files, `a`).
fn later(a: Src, b: Src) -> Src {
    if a.file == b.file && b.line > a.line {
        b
    } else {
        a
    }
}

impl<'a> Checker<'a> {
    fn new(zone: &'a Zone, info: &'a BuildInfo, parsed: &'a Parsed, now: u64) -> Self {
        let origin = zone.origin().as_wire();
        let doubled = (origin.len() > 1 && 2 * origin.len() - 1 <= 255).then(|| {
            let mut v = origin[..origin.len() - 1].to_vec();
            v.extend_from_slice(origin);
            v
        });
        Checker {
            zone,
            info,
            parsed,
            origin,
            doubled,
            reverse: is_reverse(origin),
            // RRSIG times are 32-bit serial numbers (RFC 4034 §3.1.5).
            now: now as u32,
            glue_used: vec![false; zone.nodes().len()],
            buf: Vec::with_capacity(256),
            out: Vec::new(),
        }
    }

    fn push(
        &mut self,
        id: &'static str,
        sev: Severity,
        src: Option<Src>,
        msg: String,
        fix: impl Into<String>,
    ) {
        let place = src.map(|s| self.parsed.place(s));
        self.out.push(Finding::new(id, sev, place, msg, fix));
    }

    fn src(&self, node: usize, rrset: usize) -> Src {
        self.info.rrset_src(node, rrset)
    }

    fn in_zone(&self, wire: &[u8]) -> bool {
        wire_is_subdomain(wire, self.origin)
    }

    // ---------------------------------------------------------------------------
    // Target resolution

    /// Follows an in-zone name the way BIND's NS/MX/SRV checks do (wildcards
    /// count); glue found is marked used.
    fn resolve(&mut self, t: &[u8]) -> Target {
        let (target, glue) = resolve_in(self.zone, self.origin, t, &mut self.buf);
        if let Some(i) = glue {
            self.glue_used[i] = true;
        }
        target
    }

    // ---------------------------------------------------------------------------
    // Apex: SOA fields, MX, the zone name

    fn apex(&mut self) {
        let zone = self.zone;
        let apex = zone.apex();
        if !apex.has(flags::APEX) {
            return;
        }
        if let Some(issue) = host_issue(self.origin, false) {
            self.push(
                "bad-zone-name",
                Severity::Note,
                None,
                format!(
                    "the zone name {} is not a host name: {issue} (Zonemaster Syntax01/02)",
                    show(self.origin)
                ),
                "zone names are usually letters, digits and inner hyphens; ignore this for RFC 2317 reverse zones",
            );
        }
        if double_dash(self.origin) {
            self.push(
                "double-dash",
                Severity::Note,
                None,
                format!(
                    "the zone name {} has '--' in the 3rd and 4th positions of a label that is not 'xn--' (Zonemaster Syntax03)",
                    show(self.origin)
                ),
                "such labels are reserved for IDNA (RFC 5891 §4.2.3.1); choose another name",
            );
        }
        if let Some(si) = apex.rrsets.iter().position(|r| r.rtype == Rtype::SOA) {
            self.soa(apex, si);
        }
        self.cds_match(apex);
        if apex.rrset(Rtype::NS).is_none() {
            // BIND refuses to load such a zone ("has no NS records").
            self.push(
                "no-ns",
                Severity::Error,
                None,
                format!("the zone apex {} has no NS records", show(self.origin)),
                "add the zone's name servers at the apex, e.g. '@ NS ns1.example.com.'",
            );
        }
        self.apex_mx(apex);
    }

    /// CDS and CDNSKEY must name keys of the zone's DNSKEY RRset (BIND: "CDS/CDNSKEY
    /// consistency checks failed"); the delete form (algorithm 0) names none.
    fn cds_match(&mut self, apex: &Node) {
        let keys: Vec<&[u8]> = apex
            .rrset(Rtype::DNSKEY)
            .map(|r| r.rdatas().collect())
            .unwrap_or_default();
        let tag_alg: Vec<(u16, u8)> = keys
            .iter()
            .filter(|k| k.len() > 4)
            .map(|k| (key_tag(k), k[3]))
            .collect();
        for (j, r) in apex.rrsets.iter().enumerate() {
            let bad = match r.rtype {
                Rtype::CDS => r.rdatas().any(|d| {
                    d.len() > 4
                        && d[2] != 0
                        && !tag_alg.contains(&(u16::from_be_bytes([d[0], d[1]]), d[2]))
                }),
                Rtype::CDNSKEY => r
                    .rdatas()
                    .any(|d| d.len() > 4 && d[3] != 0 && !keys.contains(&d)),
                _ => continue,
            };
            if bad {
                self.push(
                    "cds-no-dnskey",
                    Severity::Error,
                    Some(self.src(0, j)),
                    format!(
                        "{} names a key that is not in the zone's DNSKEY RRset (CDS/CDNSKEY consistency)",
                        r.rtype
                    ),
                    "publish CDS/CDNSKEY only for keys in the DNSKEY RRset (or the delete form, algorithm 0)",
                );
            }
        }
    }

    /// SVCB for DNS servers (RFC 9461, at `_dns` or `_PORT._dns`): a ServiceMode
    /// record names its protocols (alpn), and one that offers DNS over HTTPS says
    /// where (dohpath), as upstream BIND checks at load.
    fn dns_svcb(&mut self, i: usize, j: usize, node: &Node, r: &crate::model::RRset) {
        for d in r.rdatas() {
            let Some(params) = svcb_params(d) else {
                continue;
            };
            if params.is_empty() && d.get(..2) == Some(&[0, 0]) {
                continue;
            }
            let alpn = params.iter().find(|(k, _)| *k == 1).map(|(_, v)| *v);
            let why = match alpn {
                None => Some("has no alpn: a DNS server's SVCB names its protocols (RFC 9461 §3)"),
                Some(v) if alpn_has_http(v) && !params.iter().any(|(k, _)| *k == 7) => {
                    Some("offers HTTP (DNS over HTTPS) without dohpath (RFC 9461 §5)")
                }
                _ => None,
            };
            if let Some(why) = why {
                self.push(
                    "dns-svcb",
                    Severity::Error,
                    Some(self.src(i, j)),
                    format!("SVCB record not valid: {} {why}", node.name),
                    "give alpn (e.g. alpn=dot, or alpn=h2 with dohpath=/dns-query{?dns})",
                );
            }
        }
    }

    fn soa(&mut self, apex: &Node, si: usize) {
        let src = Some(self.src(0, si));
        let Some(d) = apex.rrsets[si].first() else {
            return;
        };
        let Some(mname) = name_at(d, 0) else { return };
        let Some(rname) = name_at(d, mname.len()) else {
            return;
        };
        let p = mname.len() + rname.len();
        let num = |k: usize| -> Option<u32> {
            Some(u32::from_be_bytes(
                d.get(p + 4 * k..p + 4 * k + 4)?.try_into().ok()?,
            ))
        };
        let (Some(refresh), Some(retry), Some(expire), Some(minimum)) =
            (num(1), num(2), num(3), num(4))
        else {
            return;
        };

        // MNAME: host syntax (BIND check-names, Zonemaster Syntax07), alias, NS set.
        self.host_name(mname, "SOA MNAME", "Syntax07", src);
        if self.in_zone(mname) && self.resolve(mname) == Target::Cname {
            self.push(
                "soa-mname-cname",
                Severity::Warning,
                src,
                format!(
                    "the SOA MNAME {} is an alias (CNAME) (Zonemaster Zone07)",
                    show(mname)
                ),
                "name the primary server's own host name, not an alias",
            );
        }
        let listed = apex.rrset(Rtype::NS).is_some_and(|ns| {
            ns.rdatas()
                .any(|r| name_at(r, 0).is_some_and(|n| n.eq_ignore_ascii_case(mname)))
        });
        if !listed && apex.rrset(Rtype::NS).is_some() {
            self.push(
                "soa-mname-not-ns",
                Severity::Note,
                src,
                format!(
                    "the SOA MNAME {} is not one of the zone's NS records (Zonemaster Zone01)",
                    show(mname)
                ),
                "set MNAME to the primary name server, and list it among the apex NS records if it answers for the zone",
            );
        }

        // RNAME: a mailbox with the '@' written as the first dot.
        let first = &rname[1..1 + (rname[0] as usize)];
        if first.contains(&b'@') {
            self.push(
                "rname-at-sign",
                Severity::Warning,
                src,
                format!(
                    "the SOA RNAME {} contains '@' (Zonemaster Syntax05); the first dot stands for the '@'",
                    show(rname)
                ),
                "write hostmaster@example.com as 'hostmaster.example.com.'",
            );
        } else if let Some(issue) = mailbox_issue(rname) {
            self.push(
                "bad-mailbox-name",
                Severity::Warning,
                src,
                format!(
                    "the SOA RNAME {} is not a valid mailbox: {issue} (BIND check-names, Zonemaster Syntax06)",
                    show(rname)
                ),
                "write the contact address with its '@' as the first dot, e.g. 'hostmaster.example.com.'; escape a dot inside the local part as '\\.'",
            );
        }

        // Timers (Zonemaster Zone02–06; RFC 1912 §2.2 and RIPE-203 values).
        let mut timer = |id: &'static str, sev: Severity, msg: String, fix: &str| {
            self.push(id, sev, src, msg, fix);
        };
        if retry >= refresh {
            timer(
                "soa-retry-not-below-refresh",
                Severity::Warning,
                format!("SOA retry {retry} is not lower than refresh {refresh} (Zonemaster Zone03)"),
                "retry is how soon a secondary tries again after a failed refresh: make it shorter than refresh",
            );
        }
        if expire < refresh {
            timer(
                "soa-expire-below-refresh",
                Severity::Warning,
                format!("SOA expire {expire} is lower than refresh {refresh}: secondaries drop the zone before they try to refresh it (Zonemaster Zone05)"),
                "make expire much larger than refresh, e.g. 1209600 (2 weeks)",
            );
        }
        if refresh < 14400 {
            timer(
                "soa-refresh-low",
                Severity::Note,
                format!("SOA refresh {refresh} is below 14400 (Zonemaster Zone02)"),
                "with NOTIFY in use, a refresh of 14400 (4 hours) or more is enough",
            );
        }
        if retry < 3600 {
            timer(
                "soa-retry-low",
                Severity::Note,
                format!("SOA retry {retry} is below 3600 (Zonemaster Zone04)"),
                "use a retry of 3600 (1 hour) or more",
            );
        }
        if expire < 604800 {
            timer(
                "soa-expire-low",
                Severity::Note,
                format!("SOA expire {expire} is below 604800 (Zonemaster Zone05)"),
                "use an expire of at least 604800 (1 week) so secondaries survive a long primary outage",
            );
        }
        if !(300..=86400).contains(&minimum) {
            timer(
                "soa-minimum-range",
                Severity::Note,
                format!("SOA minimum (negative-caching TTL) {minimum} is outside 300–86400 (Zonemaster Zone06)"),
                "use a value between 300 (5 minutes) and 86400 (1 day), e.g. 3600",
            );
        }
    }

    fn apex_mx(&mut self, apex: &Node) {
        let Some(mi) = apex.rrsets.iter().position(|r| r.rtype == Rtype::MX) else {
            if !self.reverse {
                self.push(
                    "no-mx",
                    Severity::Note,
                    None,
                    format!(
                        "the zone apex {} has no MX record: mail to it falls back to its address records (Zonemaster Zone09)",
                        show(self.origin)
                    ),
                    "add MX records, or '@ MX 0 .' (Null MX, RFC 7505) if the domain takes no mail",
                );
            }
            return;
        };
        let mx = &apex.rrsets[mi];
        let src = Some(self.src(0, mi));
        let nulls: Vec<u16> = mx
            .rdatas()
            .filter(|r| r.len() == 3 && r[2] == 0)
            .map(|r| u16::from_be_bytes([r[0], r[1]]))
            .collect();
        if !nulls.is_empty() && mx.len() > nulls.len() {
            self.push(
                "null-mx-with-other-mx",
                Severity::Warning,
                src,
                "a Null MX ('MX 0 .') stands beside other MX records (RFC 7505 §3, Zonemaster Zone09)".to_string(),
                "keep either the Null MX alone (no mail) or only real MX records",
            );
        }
        if nulls.iter().any(|&p| p != 0) {
            self.push(
                "null-mx-preference",
                Severity::Note,
                src,
                "a Null MX has a preference other than 0 (RFC 7505 §3)".to_string(),
                "write the Null MX as 'MX 0 .'",
            );
        }
    }

    // ---------------------------------------------------------------------------
    // Per node

    fn node(&mut self, i: usize) {
        let zone = self.zone;
        let node = &zone.nodes()[i];
        if node.rrsets.is_empty() {
            return;
        }
        let name = node.name.as_wire();
        self.cname_other(i, node);
        self.singletons(i, node);
        for (j, r) in node.rrsets.iter().enumerate() {
            if r.rtype == Rtype(64) && is_dns_svcb_owner(name) {
                self.dns_svcb(i, j, node, r);
            }
            match r.rtype {
                Rtype::SOA if !node.has(flags::APEX) => self.push(
                    "soa-not-apex",
                    Severity::Error,
                    Some(self.src(i, j)),
                    format!("SOA record not at the top of the zone ({})", node.name),
                    "a zone has one SOA, at its apex; remove this one or make it a zone of its own",
                ),
                Rtype::DS
                    if !node.has(flags::APEX)
                        && !node.has(flags::BELOW_CUT)
                        && node.rrset(Rtype::NS).is_none() =>
                {
                    self.push(
                        "ds-not-at-delegation",
                        Severity::Error,
                        Some(self.src(i, j)),
                        format!("DS record at {}, which is not a delegation (no NS records)", node.name),
                        "a DS belongs at a delegation point, beside the child's NS records; remove it or delegate the name",
                    )
                }
                Rtype::DS if node.has(flags::APEX) => self.push(
                    "ds-at-apex",
                    Severity::Error,
                    Some(self.src(i, j)),
                    format!("DS record at the top of the zone ({}); DS records belong in the parent zone", node.name),
                    "remove it here and give it to the parent zone's operator (or put it at the child's delegation in the parent)",
                ),
                Rtype::NS if node.has(flags::WILDCARD) => self.push(
                    "wildcard-ns",
                    Severity::Error,
                    Some(self.src(i, j)),
                    format!("invalid NS owner name (wildcard): {}", node.name),
                    "delegations cannot be wildcards; list each delegated name",
                ),
                Rtype::NSEC3 if !nsec3_owner_ok(name) => self.push(
                    "nsec3-bad-owner",
                    Severity::Error,
                    Some(self.src(i, j)),
                    format!(
                        "NSEC3 owner {} does not start with a base32hex hash label",
                        node.name
                    ),
                    "NSEC3 records are made by the signer; remove hand-written ones or re-sign the zone",
                ),
                _ => {}
            }
        }
        let first = Some(self.src(i, 0));
        // A '*' label anywhere but first: BIND warns, and the wildcard no longer
        // matches as one (RFC 4592 §2.2.2: it has children).
        if names::labels(name).skip(1).any(|l| l == b"*") {
            self.push(
                "non-terminal-wildcard",
                Severity::Warning,
                first,
                format!("owner name {} contains a non-terminal wildcard: the '*' label has names below it, so it stops matching other names there", node.name),
                "put '*' only as the first label, and give the wildcard no children",
            );
        }
        if self
            .doubled
            .as_deref()
            .is_some_and(|d| wire_is_subdomain(name, d))
        {
            self.push(
                "doubled-origin",
                Severity::Warning,
                first,
                format!("owner {} ends with the zone name twice: a name ending in the zone name was written without its trailing dot", node.name),
                "add the trailing dot (or drop the zone name and write it relative)",
            );
        }
        if !node.is_authoritative() {
            self.occluded(i, node);
        }
        self.owner_name(i, node);
        for j in 0..node.rrsets.len() {
            self.rrset(i, node, j);
        }
    }

    fn cname_other(&mut self, i: usize, node: &Node) {
        let Some(ci) = node.rrsets.iter().position(|r| r.rtype == Rtype::CNAME) else {
            return;
        };
        let csrc = self.src(i, ci);
        let mut other: Option<(usize, Src)> = None;
        let mut dname: Option<usize> = None;
        for (j, r) in node.rrsets.iter().enumerate() {
            // KEY is no longer allowed beside a CNAME (upstream BIND refuses it); the
            // RFC 2535 signatures SIG and NXT still are.
            if j == ci || matches!(r.rtype, Rtype::RRSIG | Rtype::NSEC | SIG | NXT) {
                continue;
            }
            if r.rtype == Rtype::DNAME {
                dname = Some(j);
            }
            let s = self.src(i, j);
            if other.is_none_or(|(_, o)| s.file == o.file && s.line < o.line) {
                other = Some((j, s));
            }
        }
        if let Some(dj) = dname {
            // DNAME beside CNAME: BIND calls it "CNAME and other data" too.
            let at = later(csrc, self.src(i, dj));
            self.push(
                "cname-and-dname",
                Severity::Error,
                Some(at),
                format!(
                    "{} has both CNAME and DNAME (CNAME and other data)",
                    node.name
                ),
                "keep one: CNAME aliases this name only, DNAME the names below it",
            );
        } else if let Some((j, s)) = other {
            let what = node.rrsets[j].rtype;
            self.push(
                "cname-and-other-data",
                Severity::Error,
                Some(later(csrc, s)),
                format!("CNAME and other data: {} has a CNAME and also {what} records; a CNAME must stand alone (RFC 1034 §3.6.2)", node.name),
                if node.has(flags::APEX) {
                    "the zone apex must keep SOA and NS, so it cannot be a CNAME; use A/AAAA records (or your provider's ALIAS/flattening) instead"
                } else {
                    "remove the CNAME, or remove the other records and put them at the CNAME's target"
                },
            );
        }
    }

    fn singletons(&mut self, i: usize, node: &Node) {
        for (j, r) in node.rrsets.iter().enumerate() {
            if !matches!(r.rtype, Rtype::SOA | Rtype::CNAME | Rtype::DNAME) || r.len() < 2 {
                continue;
            }
            let key = self.info.node_start[i] + j as u32;
            let at = match self.info.second_src.binary_search_by_key(&key, |e| e.0) {
                Ok(k) => self.info.second_src[k].1,
                Err(_) => self.src(i, j),
            };
            self.push(
                "multiple-singleton",
                Severity::Error,
                Some(at),
                format!(
                    "multiple RRs of singleton type: {} has {} {} records; only one is allowed",
                    node.name,
                    r.len(),
                    r.rtype
                ),
                format!("keep one {} record at this name", r.rtype),
            );
        }
    }

    fn occluded(&mut self, i: usize, node: &Node) {
        let below_dname = node.has(flags::BELOW_DNAME);
        let Some(j) = node
            .rrsets
            .iter()
            .position(|r| below_dname || !matches!(r.rtype, Rtype::A | Rtype::AAAA))
        else {
            return;
        };
        let (why, fix) = if below_dname {
            (
                "below a DNAME, so it is never answered (RFC 6672 §2.4)",
                "remove it, or remove the DNAME above it",
            )
        } else {
            (
                "below a delegation, so it belongs to the child zone and is never answered here",
                "move it into the child zone; only address records for name servers (glue) belong below a delegation",
            )
        };
        self.push(
            "occluded-data",
            Severity::Note,
            Some(self.src(i, j)),
            format!("{} {} is {why}", node.name, node.rrsets[j].rtype),
            fix,
        );
    }

    /// BIND's check-names on owners of host records (A, AAAA, A6, WKS, MX).
    fn owner_name(&mut self, i: usize, node: &Node) {
        let Some(j) = node
            .rrsets
            .iter()
            .position(|r| matches!(r.rtype, Rtype::A | Rtype::AAAA | A6 | WKS | Rtype::MX))
        else {
            return;
        };
        let name = node.name.as_wire();
        let src = Some(self.src(i, j));
        if let Some(issue) = host_issue(name, true) {
            self.push(
                "bad-owner-name",
                Severity::Warning,
                src,
                format!(
                    "bad owner name (check-names): {} owns {} records but is not a host name: {issue}",
                    node.name, node.rrsets[j].rtype
                ),
                "host names use letters, digits and hyphens, not at a label's start or end; '_' belongs to service names (SRV, TXT), not hosts",
            );
        } else if double_dash(name) {
            self.push(
                "double-dash",
                Severity::Warning,
                src,
                format!("{} has '--' in the 3rd and 4th positions of a label that is not 'xn--' (Zonemaster Syntax03)", node.name),
                "such labels are reserved for IDNA (RFC 5891 §4.2.3.1); choose another name",
            );
        }
    }

    fn host_name(&mut self, t: &[u8], what: &str, zm: &str, src: Option<Src>) {
        if t.len() <= 1 {
            return;
        }
        if let Some(issue) = host_issue(t, false) {
            self.push(
                "bad-host-name",
                Severity::Warning,
                src,
                format!(
                    "{what} {} is not a valid host name: {issue} (BIND check-names{}{zm})",
                    show(t),
                    if zm.is_empty() { "" } else { ", Zonemaster " }
                ),
                "a host name uses letters, digits and hyphens, not at a label's start or end",
            );
        } else if double_dash(t) {
            self.push(
                "double-dash",
                Severity::Warning,
                src,
                format!("{what} {} has '--' in the 3rd and 4th positions of a label that is not 'xn--' (Zonemaster Syntax03)", show(t)),
                "such labels are reserved for IDNA (RFC 5891 §4.2.3.1); check the name",
            );
        }
    }

    fn doubled_target(&mut self, t: &[u8], what: Rtype, owner: &Node, src: Option<Src>) -> bool {
        if !self
            .doubled
            .as_deref()
            .is_some_and(|d| wire_is_subdomain(t, d))
        {
            return false;
        }
        let o = show(self.origin);
        // The text as written: the target minus the appended origin.
        let mut rel = t[..t.len() - self.origin.len()].to_vec();
        rel.push(0);
        let written = show(&rel);
        self.push(
            "doubled-origin",
            Severity::Warning,
            src,
            format!(
                "{} {what} target {} ends with the zone name twice: '{}' was written without its trailing dot, so {o} was appended",
                owner.name,
                show(t),
                written.trim_end_matches('.')
            ),
            format!("add the trailing dot: '{written}'"),
        );
        true
    }

    fn rrset(&mut self, i: usize, node: &Node, j: usize) {
        let r = &node.rrsets[j];
        let src = Some(self.src(i, j));
        match r.rtype {
            Rtype::NS => {
                let auth = node.is_authoritative()
                    && (node.has(flags::APEX) || node.has(flags::DELEGATION));
                for d in r.rdatas() {
                    let Some(t) = name_at(d, 0) else { continue };
                    self.host_name(t, "NS target", "Syntax04", src);
                    let doubled = self.doubled_target(t, r.rtype, node, src);
                    if auth && self.in_zone(t) {
                        self.ns_target(i, node, t, src, doubled);
                    }
                }
            }
            Rtype::MX | Rtype::SRV => {
                let (off, what) = if r.rtype == Rtype::MX {
                    (2, "MX")
                } else {
                    (6, "SRV")
                };
                for d in r.rdatas() {
                    let Some(t) = name_at(d, off) else { continue };
                    if t.len() <= 1 {
                        continue; // "." : no service (RFC 7505, RFC 2782)
                    }
                    self.host_name(
                        t,
                        &format!("{what} target"),
                        if what == "MX" { "Syntax08" } else { "" },
                        src,
                    );
                    let doubled = self.doubled_target(t, r.rtype, node, src);
                    if node.is_authoritative() && self.in_zone(t) {
                        self.service_target(node, what, t, src, doubled);
                    }
                }
            }
            Rtype::CNAME | Rtype::DNAME | Rtype::PTR => {
                for d in r.rdatas() {
                    let Some(t) = name_at(d, 0) else { continue };
                    self.doubled_target(t, r.rtype, node, src);
                    if r.rtype == Rtype::PTR && self.reverse {
                        self.host_name(t, "PTR target", "", src);
                    }
                }
            }
            AFSDB | RT => {
                for d in r.rdatas() {
                    if let Some(t) = name_at(d, 2) {
                        self.host_name(t, &format!("{} target", r.rtype), "", src);
                    }
                }
            }
            RP | MINFO => {
                for d in r.rdatas() {
                    let Some(t) = name_at(d, 0) else { continue };
                    if let Some(issue) = mailbox_issue(t) {
                        self.push(
                            "bad-mailbox-name",
                            Severity::Warning,
                            src,
                            format!(
                                "{} mailbox {} is not valid: {issue} (BIND check-names)",
                                r.rtype,
                                show(t)
                            ),
                            "write the address with its '@' as the first dot",
                        );
                    }
                }
            }
            Rtype::SPF => self.spf(i, node, j),
            Rtype::RRSIG => self.rrsig_time(node, r, src),
            _ => {}
        }
    }

    fn ns_target(&mut self, i: usize, node: &Node, t: &[u8], src: Option<Src>, doubled: bool) {
        let apex = node.has(flags::APEX);
        // BIND refuses a zone whose own NS set is broken; for delegations it warns.
        let sev = if apex {
            Severity::Error
        } else {
            Severity::Warning
        };
        let owner = &node.name;
        // `ns1.provider.net` written without its dot becomes `ns1.provider.net.<origin>`:
        // several labels whose parent does not exist in the zone.
        let parent = &t[t[0] as usize + 1..];
        let unqualified = parent.len() > self.origin.len() && self.zone.find(parent).is_none();
        let dot_hint = if doubled || unqualified {
            " It looks like a name written without its trailing dot."
        } else {
            ""
        };
        match self.resolve(t) {
            Target::Addr => {}
            Target::NoAddr => self.push(
                "ns-target-no-address",
                sev,
                src,
                format!("{owner} NS {} has no address records (A or AAAA) in the zone.{dot_hint}", show(t)),
                "add an A or AAAA record for the name server; if it is another provider's server written without a trailing dot (so the zone name was appended), add the dot",
            ),
            Target::Cname => self.push(
                "ns-target-cname",
                sev,
                src,
                format!("{owner} NS {} is a CNAME (illegal: RFC 2181 §10.3)", show(t)),
                "point NS at the server's real host name, which has A/AAAA records",
            ),
            Target::BelowDname => self.push(
                "ns-target-below-dname",
                sev,
                src,
                format!("{owner} NS {} is below a DNAME (illegal): that name cannot exist", show(t)),
                "use a name server name that is not under the DNAME",
            ),
            Target::BelowCut => {
                let required = !apex && wire_is_subdomain(t, owner.as_wire());
                let _ = i;
                self.push(
                    "missing-glue",
                    Severity::Warning,
                    src,
                    format!(
                        "{owner} NS {} has no {} glue address records (A or AAAA): resolvers cannot reach it",
                        show(t),
                        if required { "REQUIRED" } else { "SIBLING" }
                    ),
                    format!("add A/AAAA records for {} in this zone (glue)", show(t)),
                );
            }
        }
    }

    fn service_target(
        &mut self,
        node: &Node,
        what: &str,
        t: &[u8],
        src: Option<Src>,
        doubled: bool,
    ) {
        let owner = &node.name;
        let (no_addr, cname) = if what == "MX" {
            ("mx-target-no-address", "mx-target-cname")
        } else {
            ("srv-target-no-address", "srv-target-cname")
        };
        match self.resolve(t) {
            Target::Addr | Target::BelowCut => {}
            Target::NoAddr => self.push(
                no_addr,
                Severity::Warning,
                src,
                format!(
                    "{owner} {what} {} has no address records (A or AAAA) in the zone.{}",
                    show(t),
                    if doubled {
                        " It looks like a name written without its trailing dot."
                    } else {
                        ""
                    }
                ),
                "add A/AAAA records for the target, or write an outside name with its trailing dot",
            ),
            Target::Cname => self.push(
                cname,
                Severity::Warning,
                src,
                format!(
                    "{owner} {what} {} is a CNAME (illegal: RFC 2181 §10.3{})",
                    show(t),
                    if what == "MX" {
                        ", Zonemaster Zone08"
                    } else {
                        ""
                    }
                ),
                "point the record at the host's real name, not at an alias",
            ),
            Target::BelowDname => self.push(
                "target-below-dname",
                Severity::Warning,
                src,
                format!(
                    "{owner} {what} {} is below a DNAME (illegal): that name cannot exist",
                    show(t)
                ),
                "use a target that is not under the DNAME",
            ),
        }
    }

    fn spf(&mut self, i: usize, node: &Node, j: usize) {
        let has_txt = node.rrset(Rtype::TXT).is_some_and(|txt| {
            txt.rdatas().any(|d| {
                let n = d.first().copied().unwrap_or(0) as usize;
                let s = d.get(1..1 + n).unwrap_or(&[]);
                s.len() >= 6
                    && s[..6].eq_ignore_ascii_case(b"v=spf1")
                    && (s.len() == 6 || s[6] == b' ')
            })
        });
        if !has_txt {
            self.push(
                "spf-without-txt",
                Severity::Warning,
                Some(self.src(i, j)),
                format!("{} has an SPF-type record but no SPF TXT record; receivers only read TXT (RFC 7208 §3.1)", node.name),
                "add the same policy as a TXT record ('TXT \"v=spf1 ...\"'); the SPF type can be removed",
            );
        }
    }

    fn rrsig_time(&mut self, node: &Node, r: &crate::model::RRset, src: Option<Src>) {
        let (mut expired, mut future) = (0usize, 0usize);
        for d in r.rdatas() {
            let (Some(e), Some(s)) = (d.get(8..12), d.get(12..16)) else {
                continue;
            };
            let exp = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
            let inc = u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
            if (exp.wrapping_sub(self.now) as i32) < 0 {
                expired += 1;
            } else if (self.now.wrapping_sub(inc) as i32) < 0 {
                future += 1;
            }
        }
        if expired > 0 {
            self.push(
                "rrsig-expired",
                Severity::Warning,
                src,
                format!("{} RRSIG {}: {expired} signature(s) have expired; validating resolvers will answer SERVFAIL", node.name, r.covers),
                "re-sign the zone (or let blason sign it) before loading it",
            );
        }
        if future > 0 {
            self.push(
                "rrsig-not-yet-valid",
                Severity::Note,
                src,
                format!(
                    "{} RRSIG {}: {future} signature(s) have an inception time in the future",
                    node.name, r.covers
                ),
                "check the signer's clock; resolvers reject signatures before their inception",
            );
        }
    }

    /// Address records below a cut that no NS record names.
    fn extra_glue(&mut self) {
        let zone = self.zone;
        for (i, node) in zone.nodes().iter().enumerate() {
            if !node.has(flags::BELOW_CUT) || node.has(flags::BELOW_DNAME) || self.glue_used[i] {
                continue;
            }
            let Some(j) = node
                .rrsets
                .iter()
                .position(|r| matches!(r.rtype, Rtype::A | Rtype::AAAA))
            else {
                continue;
            };
            self.push(
                "extra-glue",
                Severity::Note,
                Some(self.src(i, j)),
                format!("{} {} is below a delegation but no NS record names it, so it is never used as glue", node.name, node.rrsets[j].rtype),
                "remove it, or check the NS records of the delegation for a misspelt name server",
            );
        }
    }
}

/// The key tag of a DNSKEY rdata (RFC 4034 Appendix B).
fn key_tag(rdata: &[u8]) -> u16 {
    if rdata.len() > 3 && rdata[3] == 1 {
        // RSA/MD5: the third- and second-to-last octets of the modulus.
        let n = rdata.len();
        return rdata
            .get(n.saturating_sub(3)..n - 1)
            .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    }
    let mut ac: u32 = 0;
    for (i, &b) in rdata.iter().enumerate() {
        ac += if i & 1 == 1 {
            u32::from(b)
        } else {
            u32::from(b) << 8
        };
    }
    ac += (ac >> 16) & 0xFFFF;
    (ac & 0xFFFF) as u16
}

/// `_dns.` or `_PORT._dns.` at the start of a wire name (RFC 9461).
fn is_dns_svcb_owner(wire: &[u8]) -> bool {
    let label = |at: usize| -> Option<&[u8]> {
        let l = usize::from(*wire.get(at)?);
        wire.get(at + 1..at + 1 + l)
    };
    let Some(first) = label(0) else { return false };
    if first.eq_ignore_ascii_case(b"_dns") {
        return true;
    }
    let port = first.len() >= 2
        && first[0] == b'_'
        && first[1..].iter().all(u8::is_ascii_digit)
        && !(first[1] == b'0' && first.len() != 2)
        && first.len() <= 6;
    port && label(first.len() + 1).is_some_and(|l| l.eq_ignore_ascii_case(b"_dns"))
}

/// The SvcParams of an SVCB rdata: (key, value) pairs.
fn svcb_params(d: &[u8]) -> Option<Vec<(u16, &[u8])>> {
    let mut p = 2 + wire_name_len(d, 2)?;
    let mut out = Vec::new();
    while p < d.len() {
        let k = u16::from_be_bytes([*d.get(p)?, *d.get(p + 1)?]);
        let l = usize::from(u16::from_be_bytes([*d.get(p + 2)?, *d.get(p + 3)?]));
        out.push((k, d.get(p + 4..p + 4 + l)?));
        p += 4 + l;
    }
    Some(out)
}

/// Whether an alpn value names an HTTP protocol. Like BIND, an id holding a comma
/// is looked into too.
fn alpn_has_http(v: &[u8]) -> bool {
    const HTTP: [&[u8]; 6] = [b"http/0.9", b"http/1.0", b"http/1.1", b"h2", b"h2c", b"h3"];
    let mut p = 0;
    while p < v.len() {
        let l = usize::from(v[p]);
        let id = v.get(p + 1..p + 1 + l).unwrap_or(&[]);
        if id.split(|&b| b == b',').any(|s| HTTP.contains(&s)) {
            return true;
        }
        p += 1 + l;
    }
    false
}
