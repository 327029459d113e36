//! SPF (RFC 7208): typed records, a parser that reports every bad term, a builder
//! (Display), and lints, some of which follow `include` and `redirect` through DNS.

use crate::dns::{self, Answer, TxtLookup};
use crate::{finding, Finding, Severity};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qualifier {
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

impl Qualifier {
    fn from_char(c: char) -> Option<Qualifier> {
        Some(match c {
            '+' => Qualifier::Pass,
            '-' => Qualifier::Fail,
            '~' => Qualifier::SoftFail,
            '?' => Qualifier::Neutral,
            _ => return None,
        })
    }
    fn as_str(self) -> &'static str {
        match self {
            Qualifier::Pass => "+",
            Qualifier::Fail => "-",
            Qualifier::SoftFail => "~",
            Qualifier::Neutral => "?",
        }
    }
}

/// Optional IPv4 and IPv6 prefix lengths of `a` and `mx`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DualCidr {
    pub v4: Option<u8>,
    pub v6: Option<u8>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mechanism {
    All,
    Include(String),
    A(Option<String>, DualCidr),
    Mx(Option<String>, DualCidr),
    Ptr(Option<String>),
    Ip4(Ipv4Addr, Option<u8>),
    Ip6(Ipv6Addr, Option<u8>),
    Exists(String),
}

impl Mechanism {
    /// Whether evaluating it costs a DNS lookup (RFC 7208 §4.6.4).
    pub fn costs_lookup(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A(..)
                | Mechanism::Mx(..)
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Term {
    Directive(Qualifier, Mechanism),
    Redirect(String),
    Exp(String),
    /// An unknown modifier: ignored by receivers, kept to print the record back.
    Modifier(String, String),
}

/// A parsed `v=spf1` record.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub terms: Vec<Term>,
}

/// Whether a TXT value is an SPF record: `v=spf1` then a space or the end (§4.5).
pub fn is_spf(value: &[u8]) -> bool {
    value.len() >= 6
        && value[..6].eq_ignore_ascii_case(b"v=spf1")
        && (value.len() == 6 || value[6] == b' ')
}

impl fmt::Display for DualCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(v4) = self.v4 {
            write!(f, "/{v4}")?;
        }
        if let Some(v6) = self.v6 {
            write!(f, "//{v6}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Directive(q, m) => {
                if *q != Qualifier::Pass {
                    f.write_str(q.as_str())?;
                }
                match m {
                    Mechanism::All => f.write_str("all"),
                    Mechanism::Include(d) => write!(f, "include:{d}"),
                    Mechanism::A(d, c) | Mechanism::Mx(d, c) => {
                        f.write_str(if matches!(m, Mechanism::A(..)) {
                            "a"
                        } else {
                            "mx"
                        })?;
                        if let Some(d) = d {
                            write!(f, ":{d}")?;
                        }
                        write!(f, "{c}")
                    }
                    Mechanism::Ptr(d) => match d {
                        Some(d) => write!(f, "ptr:{d}"),
                        None => f.write_str("ptr"),
                    },
                    Mechanism::Ip4(a, l) => match l {
                        Some(l) => write!(f, "ip4:{a}/{l}"),
                        None => write!(f, "ip4:{a}"),
                    },
                    Mechanism::Ip6(a, l) => match l {
                        Some(l) => write!(f, "ip6:{a}/{l}"),
                        None => write!(f, "ip6:{a}"),
                    },
                    Mechanism::Exists(d) => write!(f, "exists:{d}"),
                }
            }
            Term::Redirect(d) => write!(f, "redirect={d}"),
            Term::Exp(d) => write!(f, "exp={d}"),
            Term::Modifier(n, v) => write!(f, "{n}={v}"),
        }
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("v=spf1")?;
        for t in &self.terms {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

impl Record {
    /// A record that authorizes the given senders and fails everything else; the
    /// builder behind declarative SPF.
    pub fn build(
        ip4: &[(Ipv4Addr, Option<u8>)],
        ip6: &[(Ipv6Addr, Option<u8>)],
        mx: bool,
        includes: &[&str],
    ) -> Record {
        let mut terms = Vec::new();
        if mx {
            terms.push(Term::Directive(
                Qualifier::Pass,
                Mechanism::Mx(None, DualCidr::default()),
            ));
        }
        for (a, l) in ip4 {
            terms.push(Term::Directive(Qualifier::Pass, Mechanism::Ip4(*a, *l)));
        }
        for (a, l) in ip6 {
            terms.push(Term::Directive(Qualifier::Pass, Mechanism::Ip6(*a, *l)));
        }
        for i in includes {
            terms.push(Term::Directive(
                Qualifier::Pass,
                Mechanism::Include(i.to_string()),
            ));
        }
        terms.push(Term::Directive(Qualifier::Fail, Mechanism::All));
        Record { terms }
    }

    pub fn redirect(&self) -> Option<&str> {
        self.terms.iter().find_map(|t| match t {
            Term::Redirect(d) => Some(d.as_str()),
            _ => None,
        })
    }

    pub fn all(&self) -> Option<Qualifier> {
        self.terms.iter().find_map(|t| match t {
            Term::Directive(q, Mechanism::All) => Some(*q),
            _ => None,
        })
    }
}

/// Parses a record; terms that do not parse are left out and reported as findings.
pub fn parse(value: &[u8]) -> (Record, Vec<Finding>) {
    let mut rec = Record::default();
    let mut out = Vec::new();
    let Ok(text) = std::str::from_utf8(value) else {
        out.push(finding(
            "spf-syntax",
            Severity::Error,
            "the SPF record is not ASCII text",
            "SPF records are ASCII; retype the record",
        ));
        return (rec, out);
    };
    if !is_spf(value) {
        out.push(finding(
            "spf-not-spf",
            Severity::Error,
            format!("'{}' does not start with 'v=spf1 '", clip(text)),
            "an SPF record starts with exactly 'v=spf1' followed by a space",
        ));
        return (rec, out);
    }
    for raw in text[6..].split(' ') {
        if raw.is_empty() {
            continue;
        }
        match parse_term(raw) {
            Ok(t) => rec.terms.push(t),
            Err(why) => out.push(finding(
                "spf-syntax",
                Severity::Error,
                format!("term '{}' is not valid: {why}", clip(raw)),
                "receivers return permerror for the whole record; fix the term (RFC 7208 §12 grammar)",
            )),
        }
    }
    (rec, out)
}

fn clip(s: &str) -> String {
    if s.chars().count() > 80 {
        let mut c: String = s.chars().take(77).collect();
        c.push_str("...");
        c
    } else {
        s.to_string()
    }
}

fn parse_term(raw: &str) -> Result<Term, String> {
    let split = raw.find([':', '/', '=']);
    if let Some(i) = split {
        if raw.as_bytes()[i] == b'=' {
            let (name, value) = (&raw[..i], &raw[i + 1..]);
            let mut cs = name.chars();
            let ok = cs.next().is_some_and(|c| c.is_ascii_alphabetic())
                && cs.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !ok {
                return Err(format!("'{name}' is not a modifier name"));
            }
            return match name.to_ascii_lowercase().as_str() {
                "redirect" => {
                    domain_spec(value)?;
                    Ok(Term::Redirect(value.to_string()))
                }
                "exp" => {
                    domain_spec(value)?;
                    Ok(Term::Exp(value.to_string()))
                }
                _ => {
                    macro_string(value, true)?;
                    Ok(Term::Modifier(name.to_string(), value.to_string()))
                }
            };
        }
    }
    let mut body = raw;
    let mut q = Qualifier::Pass;
    if let Some(c) = raw.chars().next() {
        if let Some(qq) = Qualifier::from_char(c) {
            q = qq;
            body = &raw[1..];
        }
    }
    let end = body.find([':', '/']).unwrap_or(body.len());
    let (name, rest) = (&body[..end], &body[end..]);
    let m = match name.to_ascii_lowercase().as_str() {
        "all" => {
            if !rest.is_empty() {
                return Err("'all' takes no argument".into());
            }
            Mechanism::All
        }
        "include" => Mechanism::Include(required_domain(rest, "include")?),
        "exists" => Mechanism::Exists(required_domain(rest, "exists")?),
        "ptr" => Mechanism::Ptr(optional_domain(rest)?),
        "a" | "mx" => {
            let slash = rest.find('/').unwrap_or(rest.len());
            let d = optional_domain(&rest[..slash])?;
            let c = dual_cidr(&rest[slash..])?;
            if name.eq_ignore_ascii_case("a") {
                Mechanism::A(d, c)
            } else {
                Mechanism::Mx(d, c)
            }
        }
        "ip4" => {
            let v = rest.strip_prefix(':').ok_or("ip4 needs ':address'")?;
            let (addr, len) = split_len(v, 32)?;
            Mechanism::Ip4(
                addr.parse()
                    .map_err(|_| format!("'{addr}' is not an IPv4 address"))?,
                len,
            )
        }
        "ip6" => {
            let v = rest.strip_prefix(':').ok_or("ip6 needs ':address'")?;
            let (addr, len) = split_len(v, 128)?;
            Mechanism::Ip6(
                addr.parse()
                    .map_err(|_| format!("'{addr}' is not an IPv6 address"))?,
                len,
            )
        }
        "" => return Err("empty mechanism".into()),
        other => return Err(format!("'{other}' is not an SPF mechanism")),
    };
    Ok(Term::Directive(q, m))
}

fn required_domain(rest: &str, what: &str) -> Result<String, String> {
    let d = rest
        .strip_prefix(':')
        .ok_or_else(|| format!("{what} needs ':domain'"))?;
    domain_spec(d)?;
    Ok(d.to_string())
}

fn optional_domain(rest: &str) -> Result<Option<String>, String> {
    if rest.is_empty() {
        return Ok(None);
    }
    let d = rest.strip_prefix(':').ok_or("expected ':domain'")?;
    domain_spec(d)?;
    Ok(Some(d.to_string()))
}

fn cidr_len(s: &str, max: u8) -> Result<u8, String> {
    let ok = !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
    if !ok || (s.len() > 1 && s.starts_with('0')) {
        return Err(format!("'/{s}' is not a prefix length"));
    }
    let n: u16 = s
        .parse()
        .map_err(|_| format!("'/{s}' is not a prefix length"))?;
    if n > u16::from(max) {
        return Err(format!("prefix length /{n} is over {max}"));
    }
    Ok(n as u8)
}

fn split_len(v: &str, max: u8) -> Result<(&str, Option<u8>), String> {
    match v.split_once('/') {
        Some((a, l)) => Ok((a, Some(cidr_len(l, max)?))),
        None => Ok((v, None)),
    }
}

fn dual_cidr(s: &str) -> Result<DualCidr, String> {
    let mut c = DualCidr::default();
    if s.is_empty() {
        return Ok(c);
    }
    if let Some(v6) = s.strip_prefix("//") {
        c.v6 = Some(cidr_len(v6, 128)?);
        return Ok(c);
    }
    let s = s.strip_prefix('/').ok_or("bad prefix length")?;
    match s.split_once("//") {
        Some((v4, v6)) => {
            c.v4 = Some(cidr_len(v4, 32)?);
            c.v6 = Some(cidr_len(v6, 128)?);
        }
        None => c.v4 = Some(cidr_len(s, 32)?),
    }
    Ok(c)
}

/// Checks macro-string syntax (§7.1). `exp` allows the letters c, r, t; domain-specs
/// do not. Returns whether the string ends with a macro-expand.
fn macro_string(s: &str, exp: bool) -> Result<bool, String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut ends_with_macro = false;
    while i < b.len() {
        if b[i] == b'%' {
            match b.get(i + 1) {
                Some(b'%') | Some(b'_') | Some(b'-') => {
                    i += 2;
                    ends_with_macro = true;
                }
                Some(b'{') => {
                    let close = s[i..].find('}').ok_or("macro '%{' without '}'")? + i;
                    let inner = &s[i + 2..close];
                    let mut cs = inner.chars();
                    let letter = cs.next().ok_or("empty macro '%{}'")?;
                    let lower = letter.to_ascii_lowercase();
                    let allowed = if exp { "slodiphcrtv" } else { "slodiphv" };
                    if !allowed.contains(lower) {
                        return Err(format!(
                            "'%{{{inner}}}' uses unknown macro letter '{letter}'"
                        ));
                    }
                    let rest: &str = cs.as_str();
                    let digits = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
                    let mut tail = &rest[digits..];
                    if digits > 0 && rest[..digits].parse::<u32>().map_or(true, |n| n == 0) {
                        return Err(format!("'%{{{inner}}}' keeps zero labels"));
                    }
                    if let Some(t) = tail.strip_prefix(['r', 'R']) {
                        tail = t;
                    }
                    if !tail.chars().all(|c| ".-+,/_=".contains(c)) {
                        return Err(format!("'%{{{inner}}}' has bad transformers"));
                    }
                    i = close + 1;
                    ends_with_macro = true;
                }
                _ => return Err("'%' must be followed by '{', '%', '_' or '-'".into()),
            }
        } else if (0x21..=0x7e).contains(&b[i]) {
            i += 1;
            ends_with_macro = false;
        } else {
            return Err("characters outside printable ASCII".into());
        }
    }
    Ok(ends_with_macro)
}

/// domain-spec = macro-string domain-end; domain-end = "." toplabel ["."] / macro-expand.
fn domain_spec(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty domain".into());
    }
    if macro_string(s, false)? {
        return Ok(());
    }
    let t = s.strip_suffix('.').unwrap_or(s);
    let (head, top) = t
        .rsplit_once('.')
        .ok_or_else(|| format!("'{s}' is not a domain name (no dot)"))?;
    let tb = top.as_bytes();
    let ok = !tb.is_empty()
        && tb.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && tb[0] != b'-'
        && tb[tb.len() - 1] != b'-'
        && !tb.iter().all(|c| c.is_ascii_digit());
    if !ok || head.is_empty() {
        return Err(format!("'{s}' does not end in a valid top label"));
    }
    if !head.contains('%') && t.split('.').any(|l| l.is_empty() || l.len() > 63) {
        return Err(format!("'{s}' has an empty or over-long label"));
    }
    Ok(())
}

/// Lints one record on its own, without DNS.
pub fn lint_record(value: &[u8]) -> Vec<Finding> {
    let (rec, mut out) = parse(value);
    if !out.is_empty() && rec.terms.is_empty() && !is_spf(value) {
        return out;
    }
    let mut redirects = 0;
    let mut exps = 0;
    let mut all_seen = false;
    let mut after_all = false;
    for t in &rec.terms {
        match t {
            Term::Directive(q, Mechanism::All) => {
                if all_seen {
                    continue;
                }
                all_seen = true;
                match q {
                    Qualifier::Pass => out.push(finding(
                        "spf-pass-all",
                        Severity::Error,
                        "'+all' lets every server on the internet send as this domain",
                        "end the record with '-all' (or '~all' while testing)",
                    )),
                    Qualifier::Neutral => out.push(finding(
                        "spf-neutral-all",
                        Severity::Warning,
                        "'?all' says nothing about unlisted senders: receivers treat them as if there were no SPF",
                        "end the record with '-all' (or '~all' while testing)",
                    )),
                    _ => {}
                }
            }
            Term::Directive(_, Mechanism::Ptr(_)) => out.push(finding(
                "spf-ptr",
                Severity::Warning,
                "the 'ptr' mechanism is slow, unreliable and deprecated (RFC 7208 §5.5: SHOULD NOT be used)",
                "list the senders' addresses with ip4:/ip6: or use 'a'",
            )),
            Term::Redirect(_) => redirects += 1,
            Term::Exp(_) => exps += 1,
            Term::Directive(..) if all_seen => after_all = true,
            _ => {}
        }
    }
    if redirects > 1 || exps > 1 {
        out.push(finding(
            "spf-duplicate-modifier",
            Severity::Error,
            "'redirect' or 'exp' appears more than once (permerror, RFC 7208 §6)",
            "keep one of each",
        ));
    }
    if redirects > 0 && all_seen {
        out.push(finding(
            "spf-redirect-ignored",
            Severity::Warning,
            "the record has both 'all' and 'redirect': 'redirect' is never used (RFC 7208 §6.1)",
            "remove either 'all' or 'redirect'",
        ));
    }
    if after_all {
        out.push(finding(
            "spf-after-all",
            Severity::Warning,
            "mechanisms after 'all' are never evaluated",
            "move them before 'all'",
        ));
    }
    if !all_seen && redirects == 0 && is_spf(value) {
        out.push(finding(
            "spf-no-all",
            Severity::Note,
            "the record ends without 'all' or 'redirect': unlisted senders get 'neutral'",
            "end the record with '-all' or '~all'",
        ));
    }
    if value.len() > 450 {
        out.push(finding(
            "spf-long",
            Severity::Warning,
            format!(
                "the record is {} bytes; answers over about 450 bytes may not fit a UDP reply (RFC 7208 §3.4)",
                value.len()
            ),
            "shorten the record, e.g. with fewer, wider ip4/ip6 ranges",
        ));
    }
    out
}

/// Lints the TXT strings of one published record as they are on the wire or in a zone
/// file: a string over 255 bytes cannot be published as one character-string.
pub fn lint_strings(strings: &[&[u8]]) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, s) in strings.iter().enumerate() {
        if s.len() > 255 {
            out.push(finding(
                "spf-string-too-long",
                Severity::Error,
                format!(
                    "string {} of the record is {} bytes; a TXT character-string holds at most 255",
                    i + 1,
                    s.len()
                ),
                "split the record into several quoted strings of at most 255 bytes in one TXT record; receivers join them without spaces",
            ));
        }
    }
    out
}

/// The most lookups a check may use (RFC 7208 §4.6.4).
pub const MAX_LOOKUPS: u32 = 10;
/// The most void lookups a receiver should accept (RFC 7208 §4.6.4).
pub const MAX_VOID: u32 = 2;

/// The result of following a domain's SPF through DNS.
#[derive(Debug, Default)]
pub struct Walk {
    pub record: Option<String>,
    pub lookups: u32,
    pub voids: u32,
    pub findings: Vec<Finding>,
}

struct Walker<'a> {
    dns: &'a dyn TxtLookup,
    lookups: u32,
    voids: u32,
    findings: Vec<Finding>,
    stack: Vec<String>,
    reported_lookups: bool,
    reported_voids: bool,
}

/// Fetches the SPF record of `domain` and lints it, following include and redirect.
pub fn check_domain(domain: &str, dns: &dyn TxtLookup) -> Walk {
    let mut w = Walker {
        dns,
        lookups: 0,
        voids: 0,
        findings: Vec::new(),
        stack: Vec::new(),
        reported_lookups: false,
        reported_voids: false,
    };
    let record = w.visit(domain, Via::Top);
    Walk {
        record,
        lookups: w.lookups,
        voids: w.voids,
        findings: w.findings,
    }
}

/// Lints a record given as text, counting lookups through DNS as if published at
/// `domain` (used for `blason spf lint RECORD --resolver`). With `domain` empty, `a`
/// and `mx` without a target are counted but not looked up.
pub fn check_record(value: &[u8], domain: &str, dns: &dyn TxtLookup) -> Walk {
    let mut w = Walker {
        dns,
        lookups: 0,
        voids: 0,
        findings: lint_record(value),
        stack: vec![dns::norm(domain)],
        reported_lookups: false,
        reported_voids: false,
    };
    let (rec, _) = parse(value);
    w.terms(domain, &rec);
    Walk {
        record: Some(String::from_utf8_lossy(value).into_owned()),
        lookups: w.lookups,
        voids: w.voids,
        findings: w.findings,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Via {
    Top,
    Include,
    Redirect,
}

impl Walker<'_> {
    fn push(&mut self, f: Finding) {
        self.findings.push(f);
    }

    /// Counts a lookup; reports the limit once.
    fn count(&mut self, what: &str) {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS && !self.reported_lookups {
            self.reported_lookups = true;
            self.findings.push(finding(
                "spf-too-many-lookups",
                Severity::Error,
                format!("more than {MAX_LOOKUPS} DNS lookups (the 11th is {what}): receivers return permerror"),
                "replace includes with the ip4:/ip6: ranges they stand for, or drop senders you no longer use",
            ));
        }
    }

    fn void(&mut self, what: &str) {
        self.voids += 1;
        if self.voids > MAX_VOID && !self.reported_voids {
            self.reported_voids = true;
            self.findings.push(finding(
                "spf-too-many-void-lookups",
                Severity::Error,
                format!("more than {MAX_VOID} lookups returned no answer (the last: {what}); receivers return permerror"),
                "remove mechanisms that point at names without records",
            ));
        }
    }

    fn visit(&mut self, domain: &str, via: Via) -> Option<String> {
        let d = dns::norm(domain);
        if self.stack.contains(&d) {
            let chain = format!("{} -> {}", self.stack.join(" -> "), d);
            let (id, what) = if via == Via::Redirect {
                ("spf-redirect-loop", "redirect")
            } else {
                ("spf-include-loop", "include")
            };
            self.push(finding(
                id,
                Severity::Error,
                format!("{what} loop: {chain}"),
                "break the loop: a record must not include itself, directly or through others",
            ));
            return None;
        }
        if self.stack.len() > 20 {
            return None;
        }
        let txt = self.dns.lookup(&d, dns::TXT);
        let mut records: Vec<Vec<u8>> = Vec::new();
        let mut strings_of_first: Vec<Vec<u8>> = Vec::new();
        let mut deprecated_ids = Vec::new();
        for rd in txt.records() {
            let v = crate::txt::value(rd).unwrap_or_default();
            if is_spf(&v) {
                if records.is_empty() {
                    strings_of_first = crate::txt::strings(rd).unwrap_or_default();
                }
                records.push(v);
            } else if v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"spf2.0/") {
                deprecated_ids.push(());
            }
        }
        if via == Via::Top && !deprecated_ids.is_empty() {
            self.push(finding(
                "spf-sender-id",
                Severity::Warning,
                "a Sender ID record (spf2.0/...) is published; Sender ID (RFC 4406) is historic",
                "remove the spf2.0 record; the v=spf1 record is what receivers use",
            ));
        }
        if via == Via::Top {
            // The SPF RR type (99) was dropped by RFC 7208 §3.1.
            let spf_type = self.dns.lookup(&d, dns::SPF);
            if !spf_type.records().is_empty() {
                if records.is_empty() {
                    self.push(finding(
                        "spf-type-only",
                        Severity::Error,
                        format!("{d} publishes SPF only as the deprecated SPF record type; receivers read TXT"),
                        "publish the same record as TXT and remove the SPF-type record",
                    ));
                } else {
                    self.push(finding(
                        "spf-type-deprecated",
                        Severity::Warning,
                        format!("{d} also publishes the SPF record type, removed by RFC 7208 §3.1"),
                        "remove the SPF-type record; keep the TXT record",
                    ));
                }
            }
        }
        if let Answer::Fail(e) = &txt {
            self.push(finding(
                "spf-lookup-failed",
                Severity::Warning,
                format!("the TXT lookup for {d} failed: {e}"),
                "receivers return temperror while this lasts; check the name servers",
            ));
            return None;
        }
        if records.len() > 1 {
            self.push(finding(
                "spf-multiple",
                Severity::Error,
                format!(
                    "{d} has {} SPF records; receivers return permerror (RFC 7208 §4.5)",
                    records.len()
                ),
                "merge them into one record",
            ));
        }
        let Some(rec) = records.into_iter().next() else {
            let (id, sev, msg) = match via {
                Via::Top => (
                    "spf-missing",
                    Severity::Error,
                    format!("{d} has no SPF record: receivers cannot tell forged mail from yours"),
                ),
                Via::Include => (
                    "spf-include-no-record",
                    Severity::Error,
                    format!("include:{d} has no SPF record: receivers return permerror"),
                ),
                Via::Redirect => (
                    "spf-redirect-no-record",
                    Severity::Error,
                    format!("redirect={d} has no SPF record: receivers return permerror"),
                ),
            };
            if via != Via::Top && txt.is_void() {
                self.void(&d);
            }
            // spf-type-only already says it, with the fix.
            if !self.findings.iter().any(|f| f.id == "spf-type-only") {
                self.push(finding(
                    id,
                    sev,
                    msg,
                    "publish 'v=spf1 ... -all' as TXT ('v=spf1 -all' for a name that sends no mail), or fix the name",
                ));
            }
            return None;
        };
        let strings: Vec<&[u8]> = strings_of_first.iter().map(|s| s.as_slice()).collect();
        let mut fs = lint_strings(&strings);
        fs.extend(lint_record(&rec));
        for mut f in fs {
            if via != Via::Top {
                f.message = format!("{d}: {}", f.message);
            }
            self.push(f);
        }
        let (parsed, _) = parse(&rec);
        self.stack.push(d.clone());
        self.terms(&d, &parsed);
        self.stack.pop();
        Some(String::from_utf8_lossy(&rec).into_owned())
    }

    fn terms(&mut self, domain: &str, rec: &Record) {
        let mut all_seen = false;
        for t in &rec.terms {
            let Term::Directive(_, m) = t else { continue };
            if all_seen {
                break; // never evaluated
            }
            match m {
                Mechanism::All => all_seen = true,
                Mechanism::Include(target) => {
                    self.count(&format!("include:{target}"));
                    if target.contains('%') {
                        continue;
                    }
                    self.visit(target, Via::Include);
                }
                Mechanism::A(target, _) => {
                    self.count("a");
                    let n = target.as_deref().unwrap_or(domain);
                    // An empty domain: a record linted without knowing its owner.
                    if n.is_empty() || n.contains('%') {
                        continue;
                    }
                    let a = self.dns.lookup(n, dns::A);
                    let aaaa = self.dns.lookup(n, dns::AAAA);
                    if a.is_void() && aaaa.is_void() {
                        self.void(&format!("a:{n}"));
                        self.push(finding(
                            "spf-a-no-address",
                            Severity::Warning,
                            format!("'a' points at {n}, which has no A or AAAA record"),
                            "remove the mechanism or publish the address",
                        ));
                    }
                }
                Mechanism::Mx(target, _) => {
                    self.count("mx");
                    let n = target.as_deref().unwrap_or(domain);
                    // An empty domain: a record linted without knowing its owner.
                    if n.is_empty() || n.contains('%') {
                        continue;
                    }
                    match self.dns.mx(n) {
                        Ok(hosts) if hosts.len() > 10 => self.push(finding(
                            "spf-mx-too-many",
                            Severity::Error,
                            format!("{n} has {} MX records; 'mx' may look up at most 10 (RFC 7208 §4.6.4)", hosts.len()),
                            "use ip4:/ip6: for the mail servers instead of 'mx'",
                        )),
                        Ok(hosts) if !hosts.is_empty() => {}
                        Err(Answer::Fail(_)) => {}
                        _ => {
                            self.void(&format!("mx:{n}"));
                            self.push(finding(
                                "spf-mx-no-records",
                                Severity::Warning,
                                format!("'mx' points at {n}, which has no MX record"),
                                "remove the mechanism or publish MX records",
                            ));
                        }
                    }
                }
                Mechanism::Ptr(_) => self.count("ptr"),
                Mechanism::Exists(n) => {
                    self.count(&format!("exists:{n}"));
                }
                Mechanism::Ip4(..) | Mechanism::Ip6(..) => {}
            }
        }
        if !all_seen {
            if let Some(r) = rec.redirect() {
                self.count(&format!("redirect={r}"));
                if !r.contains('%') {
                    self.visit(r, Via::Redirect);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn parses_and_prints() {
        let r = "v=spf1 mx a:mail.example.com/24//64 ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.example.net exists:%{i}._spf.%{d} ~all exp=explain.%{d} foo=bar";
        let (rec, f) = parse(r.as_bytes());
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(rec.to_string(), r);
        assert_eq!(rec.all(), Some(Qualifier::SoftFail));
        let b = Record::build(
            &[("192.0.2.1".parse().unwrap(), None)],
            &[],
            true,
            &["_spf.example.net"],
        );
        assert_eq!(
            b.to_string(),
            "v=spf1 mx ip4:192.0.2.1 include:_spf.example.net -all"
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "v=spf1 ip4:192.0.2.0/33",
            "v=spf1 ip4:300.1.1.1",
            "v=spf1 include:",
            "v=spf1 include:example",
            "v=spf1 include:example.123",
            "v=spf1 frob:x.example",
            "v=spf1 a:%{z}.example",
            "v=spf1 a:%{d",
            "v=spf1 exists:%x.example",
            "v=spf1 all:foo",
            "v=spf1 mx/0129",
            "v=spf1 ip6:::1/129",
            "v=spf1 1bad=x",
            "v=spf1 redirect=%{c}.example",
        ] {
            let f = lint_record(bad.as_bytes());
            assert!(ids(&f).contains(&"spf-syntax"), "{bad}: {f:?}");
        }
        assert_eq!(ids(&lint_record(b"v=spf10 -all")), ["spf-not-spf"]);
        assert!(lint_record(b"v=spf1 a mx -all").is_empty());
        assert!(lint_record(b"V=SPF1 -ALL").is_empty());
    }

    #[test]
    fn policy_lints() {
        assert!(ids(&lint_record(b"v=spf1 +all")).contains(&"spf-pass-all"));
        assert!(ids(&lint_record(b"v=spf1 all")).contains(&"spf-pass-all"));
        assert!(ids(&lint_record(b"v=spf1 ?all")).contains(&"spf-neutral-all"));
        assert!(ids(&lint_record(b"v=spf1 ptr -all")).contains(&"spf-ptr"));
        assert!(ids(&lint_record(
            b"v=spf1 redirect=a.example redirect=b.example"
        ))
        .contains(&"spf-duplicate-modifier"));
        assert!(
            ids(&lint_record(b"v=spf1 -all redirect=a.example")).contains(&"spf-redirect-ignored")
        );
        assert!(ids(&lint_record(b"v=spf1 mx")).contains(&"spf-no-all"));
        let long = format!("v=spf1 {}-all", "ip4:192.0.2.1 ".repeat(40));
        assert!(ids(&lint_record(long.as_bytes())).contains(&"spf-long"));
        assert_eq!(ids(&lint_strings(&[&[b'a'; 256]])), ["spf-string-too-long"]);
    }

    #[test]
    fn recursion() {
        let mut m = MapLookup::new();
        m.add_txt("ok.example", "v=spf1 include:a.example -all");
        m.add_txt("a.example", "v=spf1 ip4:192.0.2.1 -all");
        m.add_txt("loop.example", "v=spf1 include:loop2.example -all");
        m.add_txt("loop2.example", "v=spf1 include:loop.example -all");
        m.add_txt("two.example", "v=spf1 -all");
        m.add_txt("two.example", "v=spf1 ~all");
        m.add_txt(
            "void.example",
            "v=spf1 a:n1.example a:n2.example mx:n3.example -all",
        );
        m.add_txt("n1.example", "unrelated");
        let mut many = String::from("v=spf1");
        for i in 0..11 {
            m.add_txt(&format!("i{i}.example"), "v=spf1 ip4:192.0.2.1 -all");
            many.push_str(&format!(" include:i{i}.example"));
        }
        many.push_str(" -all");
        m.add_txt("many.example", &many);
        m.add_txt(
            "nested.example",
            "v=spf1 include:n5.example include:n6.example -all",
        );
        m.add_txt(
            "n5.example",
            "v=spf1 a mx a:x.a.example mx:a.example ptr -all",
        );
        m.add_txt(
            "n6.example",
            "v=spf1 include:i1.example include:i2.example include:i3.example -all",
        );
        m.add(
            "spfonly.example",
            dns::SPF,
            crate::txt::rdata(b"v=spf1 -all"),
        );
        m.add_txt("redir.example", "v=spf1 redirect=gone.example");

        let w = check_domain("ok.example", &m);
        assert!(w.findings.is_empty(), "{:?}", w.findings);
        assert_eq!(w.lookups, 1);
        assert!(ids(&check_domain("loop.example", &m).findings).contains(&"spf-include-loop"));
        assert!(ids(&check_domain("two.example", &m).findings).contains(&"spf-multiple"));
        let v = check_domain("void.example", &m);
        assert!(
            ids(&v.findings).contains(&"spf-too-many-void-lookups"),
            "{:?}",
            v.findings
        );
        let n = check_domain("many.example", &m);
        assert_eq!(n.lookups, 11);
        assert!(ids(&n.findings).contains(&"spf-too-many-lookups"));
        let n = check_domain("nested.example", &m);
        assert_eq!(n.lookups, 2 + 5 + 3);
        assert!(!ids(&n.findings).contains(&"spf-too-many-lookups"));
        assert!(ids(&check_domain("spfonly.example", &m).findings).contains(&"spf-type-only"));
        assert!(
            ids(&check_domain("redir.example", &m).findings).contains(&"spf-redirect-no-record")
        );
        assert!(ids(&check_domain("none.example", &m).findings).contains(&"spf-missing"));
        let r = check_record(b"v=spf1 a mx -all", "", &m);
        assert!(r.findings.is_empty(), "{:?}", r.findings);
        assert_eq!(r.lookups, 2);
        let r = check_record(b"v=spf1 include:loop.example -all", "x.example", &m);
        assert!(ids(&r.findings).contains(&"spf-include-loop"));
    }
}
