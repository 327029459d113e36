//! SPF evaluated as a receiver does (RFC 7208 §4–§8): `check_host()` with the
//! 10-lookup and void-lookup limits, macros, `redirect=` and `exp=`. DNS comes
//! through [`TxtLookup`], so the evaluator runs against a map in unit tests and
//! against a server on loopback end to end. It never panics on any record.

use crate::authres::AuthResult;
use crate::dns::{self, Answer, TxtLookup};
use crate::spf::{self, DualCidr, Mechanism, Qualifier, Term, MAX_VOID};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The most DNS-querying terms one evaluation may use (§4.6.4).
pub const MAX_LOOKUPS: u32 = 10;
/// The most names an `mx` or `ptr` looks at (§4.6.4).
const MAX_NAMES: usize = 10;

/// What is checked: the client, the identity's domain, the sender, and the HELO.
#[derive(Clone, Debug)]
pub struct Request {
    pub ip: IpAddr,
    /// `MAIL FROM` (empty for bounces); for a HELO check, `postmaster@HELO`.
    pub sender: String,
    pub helo: String,
    /// The receiving host, for the `%{r}` macro.
    pub receiver: String,
    /// Seconds since 1970, for `%{t}`.
    pub now: u64,
}

/// The outcome of one `check_host()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub result: AuthResult,
    /// The domain whose policy was evaluated first.
    pub domain: String,
    /// The term that decided, with the domain whose record held it.
    pub mechanism: Option<String>,
    /// The `exp=` text, on fail.
    pub explanation: Option<String>,
    /// Why the result is an error, or none.
    pub reason: String,
    pub lookups: u32,
    pub voids: u32,
}

/// The MAIL FROM identity (§2.4): the sender's domain, or `postmaster@HELO` for an
/// empty sender.
pub fn check_mail_from(req: &Request, dns: &dyn TxtLookup) -> Outcome {
    let mut r = req.clone();
    r.sender = req.sender.trim_matches(['<', '>', ' ']).to_string();
    if r.sender.is_empty() {
        r.sender = format!("postmaster@{}", req.helo);
    }
    let domain = r
        .sender
        .rsplit_once('@')
        .map_or(r.sender.as_str(), |(_, d)| d)
        .to_string();
    check_host(&r, &domain, dns)
}

/// The HELO identity (§2.3).
pub fn check_helo(req: &Request, dns: &dyn TxtLookup) -> Outcome {
    let mut r = req.clone();
    r.sender = format!("postmaster@{}", req.helo);
    check_host(&r, &req.helo.clone(), dns)
}

impl Outcome {
    /// The stable JSON of `blason spf check`, and `spf` in `blason mail verify`'s.
    pub fn to_json(&self) -> String {
        use blason_zone::finding::json_str;
        let opt = |s: &Option<String>| s.as_ref().map_or("null".to_string(), |v| json_str(v));
        format!(
            "{{\"result\":\"{}\",\"domain\":{},\"mechanism\":{},\"explanation\":{},\"reason\":{},\"lookups\":{},\"void_lookups\":{}}}",
            self.result,
            json_str(&self.domain),
            opt(&self.mechanism),
            opt(&self.explanation),
            json_str(&self.reason),
            self.lookups,
            self.voids
        )
    }
}

/// `check_host(ip, domain, sender)`.
pub fn check_host(req: &Request, domain: &str, dns: &dyn TxtLookup) -> Outcome {
    let mut e = Eval {
        req,
        dns,
        lookups: 0,
        voids: 0,
    };
    let domain = domain.trim_end_matches('.').to_string();
    let (result, mechanism, explanation, reason) = match e.host(&domain, 0) {
        Ok(d) => (d.result, d.term, d.explanation, d.reason),
        Err((r, why)) => (r, None, None, why),
    };
    Outcome {
        result,
        domain,
        mechanism,
        explanation,
        reason,
        lookups: e.lookups,
        voids: e.voids,
    }
}

type Abort = (AuthResult, String);

fn perm(why: impl Into<String>) -> Abort {
    (AuthResult::PermError, why.into())
}

fn temp(why: impl Into<String>) -> Abort {
    (AuthResult::TempError, why.into())
}

struct Decided {
    result: AuthResult,
    term: Option<String>,
    explanation: Option<String>,
    reason: String,
}

struct Eval<'a> {
    req: &'a Request,
    dns: &'a dyn TxtLookup,
    lookups: u32,
    voids: u32,
}

/// A domain name check_host can ask for (§4.3): labels of 1..63, 253 at most,
/// more than one label.
fn valid_domain(d: &str) -> bool {
    let d = d.strip_suffix('.').unwrap_or(d);
    !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|l| !l.is_empty() && l.len() <= 63)
}

/// The client as IPv4 when it is an IPv4-mapped IPv6 address (§5).
pub fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(len.min(32)))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(len.min(128)))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

fn addresses(rtype: u16, records: &[Vec<u8>]) -> Vec<IpAddr> {
    records
        .iter()
        .filter_map(|d| match rtype {
            dns::A => <[u8; 4]>::try_from(d.as_slice())
                .ok()
                .map(|b| IpAddr::V4(Ipv4Addr::from(b))),
            _ => <[u8; 16]>::try_from(d.as_slice())
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b))),
        })
        .collect()
}

/// The reverse-lookup name of an address.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

impl Eval<'_> {
    fn count(&mut self, what: &str) -> Result<(), Abort> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(perm(format!(
                "more than {MAX_LOOKUPS} DNS lookups (the 11th: {what})"
            )));
        }
        Ok(())
    }

    fn void(&mut self, what: &str) -> Result<(), Abort> {
        self.voids += 1;
        if self.voids > MAX_VOID {
            return Err(perm(format!(
                "more than {MAX_VOID} lookups found nothing (the last: {what})"
            )));
        }
        Ok(())
    }

    /// The addresses of `name` of the client's family; None when there are none.
    fn addrs(&mut self, name: &str) -> Result<Option<Vec<IpAddr>>, Abort> {
        let rtype = if client(self.req.ip).is_ipv4() {
            dns::A
        } else {
            dns::AAAA
        };
        match self.dns.lookup(name, rtype) {
            Answer::Records(r) if !r.is_empty() => Ok(Some(addresses(rtype, &r))),
            Answer::Records(_) | Answer::NoData | Answer::NxDomain => Ok(None),
            Answer::Fail(e) => Err(temp(format!("looking up {name}: {e}"))),
        }
    }

    fn host(&mut self, domain: &str, depth: u32) -> Result<Decided, Abort> {
        let none = |why: String| Decided {
            result: AuthResult::None,
            term: None,
            explanation: None,
            reason: why,
        };
        if !valid_domain(domain) {
            return Ok(none(format!(
                "'{domain}' is not a domain name SPF can check"
            )));
        }
        if depth > MAX_LOOKUPS {
            return Err(perm("include and redirect nest too deep"));
        }
        let records = match self.dns.lookup(domain, dns::TXT) {
            Answer::Records(r) => r,
            Answer::NoData | Answer::NxDomain => {
                return Ok(none(format!("{domain} publishes no SPF record")))
            }
            Answer::Fail(e) => {
                return Err(temp(format!("looking up the SPF record of {domain}: {e}")))
            }
        };
        let spf: Vec<Vec<u8>> = records
            .iter()
            .map(|d| crate::txt::value(d).unwrap_or_default())
            .filter(|v| spf::is_spf(v))
            .collect();
        let text = match spf.as_slice() {
            [] => return Ok(none(format!("{domain} publishes no SPF record"))),
            [one] => one.clone(),
            _ => {
                return Err(perm(format!(
                    "{domain} publishes {} SPF records",
                    spf.len()
                )))
            }
        };
        let (rec, findings) = spf::parse(&text);
        if let Some(f) = findings.first() {
            return Err(perm(format!("the record of {domain}: {}", f.message)));
        }
        let count = |n: &str| {
            rec.terms
                .iter()
                .filter(|t| {
                    matches!(
                        (t, n),
                        (Term::Redirect(_), "redirect") | (Term::Exp(_), "exp")
                    )
                })
                .count()
        };
        for m in ["redirect", "exp"] {
            if count(m) > 1 {
                return Err(perm(format!("the record of {domain} has {m}= twice")));
            }
        }
        for t in &rec.terms {
            let Term::Directive(q, m) = t else { continue };
            if self.matches(m, domain, depth)? {
                let result = match q {
                    Qualifier::Pass => AuthResult::Pass,
                    Qualifier::Fail => AuthResult::Fail,
                    Qualifier::SoftFail => AuthResult::SoftFail,
                    Qualifier::Neutral => AuthResult::Neutral,
                };
                let explanation = if result == AuthResult::Fail {
                    rec.terms.iter().find_map(|t| match t {
                        Term::Exp(e) => self.explain(e, domain),
                        _ => None,
                    })
                } else {
                    None
                };
                return Ok(Decided {
                    result,
                    term: Some(format!("{t} (in {domain})")),
                    explanation,
                    reason: String::new(),
                });
            }
        }
        if let Some(target) = rec.redirect() {
            self.count(&format!("redirect={target}"))?;
            let target = self.expand(target, domain, false)?;
            let d = self.host(&target, depth + 1)?;
            if d.result == AuthResult::None {
                return Err(perm(format!("redirect={target}: {}", d.reason)));
            }
            return Ok(d);
        }
        Ok(Decided {
            result: AuthResult::Neutral,
            term: None,
            explanation: None,
            reason: format!("no term of {domain}'s record matched and it has no all"),
        })
    }

    fn target(&mut self, spec: &Option<String>, domain: &str) -> Result<String, Abort> {
        match spec {
            Some(s) => self.expand(s, domain, false),
            None => Ok(domain.to_string()),
        }
    }

    fn matches(&mut self, m: &Mechanism, domain: &str, depth: u32) -> Result<bool, Abort> {
        let ip = client(self.req.ip);
        match m {
            Mechanism::All => Ok(true),
            Mechanism::Ip4(net, len) => Ok(in_net(ip, IpAddr::V4(*net), len.unwrap_or(32))),
            Mechanism::Ip6(net, len) => Ok(in_net(ip, IpAddr::V6(*net), len.unwrap_or(128))),
            Mechanism::Include(spec) => {
                self.count(&format!("include:{spec}"))?;
                let target = self.expand(spec, domain, false)?;
                let d = self.host(&target, depth + 1)?;
                match d.result {
                    AuthResult::Pass => Ok(true),
                    AuthResult::None => Err(perm(format!("include:{target}: {}", d.reason))),
                    _ => Ok(false),
                }
            }
            Mechanism::A(spec, cidr) => {
                self.count("a")?;
                let target = self.target(spec, domain)?;
                match self.addrs(&target)? {
                    Some(list) => Ok(list.iter().any(|a| in_cidr(ip, *a, cidr))),
                    None => self.void(&format!("a:{target}")).map(|_| false),
                }
            }
            Mechanism::Mx(spec, cidr) => {
                self.count("mx")?;
                let target = self.target(spec, domain)?;
                let hosts = match self.dns.mx(&target) {
                    Ok(h) if !h.is_empty() => h,
                    Ok(_)
                    | Err(Answer::NoData)
                    | Err(Answer::NxDomain)
                    | Err(Answer::Records(_)) => {
                        return self.void(&format!("mx:{target}")).map(|_| false);
                    }
                    Err(Answer::Fail(e)) => {
                        return Err(temp(format!("looking up the MX of {target}: {e}")))
                    }
                };
                if hosts.len() > MAX_NAMES {
                    return Err(perm(format!(
                        "{target} has {} MX records (at most {MAX_NAMES})",
                        hosts.len()
                    )));
                }
                for (_, host) in hosts {
                    if let Some(list) = self.addrs(&host)? {
                        if list.iter().any(|a| in_cidr(ip, *a, cidr)) {
                            return Ok(true);
                        }
                    }
                }
                Ok(false)
            }
            Mechanism::Ptr(spec) => {
                self.count("ptr")?;
                let target = dns::norm(&self.target(spec, domain)?);
                let names = self.validated_names();
                if names.is_empty() {
                    self.void("ptr")?;
                }
                Ok(names
                    .iter()
                    .any(|n| *n == target || n.ends_with(&format!(".{target}"))))
            }
            Mechanism::Exists(spec) => {
                self.count(&format!("exists:{spec}"))?;
                let target = self.expand(spec, domain, false)?;
                match self.dns.lookup(&target, dns::A) {
                    Answer::Records(r) if !r.is_empty() => Ok(true),
                    Answer::Fail(e) => Err(temp(format!("looking up {target}: {e}"))),
                    _ => self.void(&format!("exists:{target}")).map(|_| false),
                }
            }
        }
    }

    /// The client's names whose addresses include it (§5.5); errors skip a name.
    fn validated_names(&mut self) -> Vec<String> {
        let ip = client(self.req.ip);
        let Answer::Records(ptrs) = self.dns.lookup(&reverse_name(ip), 12) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for p in ptrs.iter().take(MAX_NAMES) {
            let Some((name, _)) = dns::read_name(p, 0) else {
                continue;
            };
            if let Ok(Some(list)) = self.addrs(&name) {
                if list.contains(&ip) {
                    out.push(dns::norm(&name));
                }
            }
        }
        out
    }

    /// The `exp=` text (§6.2); any trouble means no explanation.
    fn explain(&mut self, spec: &str, domain: &str) -> Option<String> {
        let target = self.expand(spec, domain, false).ok()?;
        let recs = self.dns.txt(&target).ok()?;
        let [one] = recs.as_slice() else { return None };
        let text = std::str::from_utf8(one).ok()?;
        self.expand(text, domain, true).ok()
    }

    /// Macro expansion (§7). For domain-specs the result is cut from the left to
    /// 253 characters.
    fn expand(&mut self, s: &str, domain: &str, exp: bool) -> Result<String, Abort> {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('%') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            match after.chars().next() {
                Some('%') => {
                    out.push('%');
                    rest = &after[1..];
                }
                Some('_') => {
                    out.push(' ');
                    rest = &after[1..];
                }
                Some('-') => {
                    out.push_str("%20");
                    rest = &after[1..];
                }
                Some('{') => {
                    let close = after
                        .find('}')
                        .ok_or_else(|| perm(format!("macro in '{s}' is not closed")))?;
                    out.push_str(&self.macro_value(&after[1..close], domain, exp)?);
                    rest = &after[close + 1..];
                }
                _ => return Err(perm(format!("'%' in '{s}' is not a macro"))),
            }
        }
        out.push_str(rest);
        if !exp {
            while out.len() > 253 {
                match out.split_once('.') {
                    Some((_, r)) => out = r.to_string(),
                    None => break,
                }
            }
        }
        Ok(out)
    }

    fn macro_value(&mut self, inner: &str, domain: &str, exp: bool) -> Result<String, Abort> {
        let mut cs = inner.chars();
        let letter = cs.next().ok_or_else(|| perm("empty macro"))?;
        let ip = client(self.req.ip);
        let sender = &self.req.sender;
        let (local, sdom) = match sender.rsplit_once('@') {
            Some((l, d)) => (if l.is_empty() { "postmaster" } else { l }, d),
            None => ("postmaster", sender.as_str()),
        };
        let value = match letter.to_ascii_lowercase() {
            's' => format!("{local}@{sdom}"),
            'l' => local.to_string(),
            'o' => sdom.to_string(),
            'd' => domain.to_string(),
            'i' => match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => {
                    let mut parts = Vec::new();
                    for b in v6.octets() {
                        parts.push(format!("{:x}", b >> 4));
                        parts.push(format!("{:x}", b & 0xf));
                    }
                    parts.join(".")
                }
            },
            'p' => {
                let names = self.validated_names();
                let d = dns::norm(domain);
                names
                    .iter()
                    .find(|n| **n == d)
                    .or_else(|| names.iter().find(|n| n.ends_with(&format!(".{d}"))))
                    .or(names.first())
                    .cloned()
                    .unwrap_or_else(|| "unknown".into())
            }
            'v' => if ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
            'h' => self.req.helo.clone(),
            'c' if exp => ip.to_string(),
            'r' if exp => {
                if self.req.receiver.is_empty() {
                    "unknown".into()
                } else {
                    self.req.receiver.clone()
                }
            }
            't' if exp => self.req.now.to_string(),
            other => return Err(perm(format!("unknown macro letter '{other}'"))),
        };
        let rest = cs.as_str();
        let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut tail = &rest[digits.len()..];
        let reverse = tail.starts_with(['r', 'R']);
        if reverse {
            tail = &tail[1..];
        }
        let delims: Vec<char> = if tail.is_empty() {
            vec!['.']
        } else {
            tail.chars().collect()
        };
        if !delims.iter().all(|c| ".-+,/_=".contains(*c)) {
            return Err(perm(format!("bad macro transformers in '%{{{inner}}}'")));
        }
        let mut parts: Vec<&str> = value.split(|c| delims.contains(&c)).collect();
        if reverse {
            parts.reverse();
        }
        if !digits.is_empty() {
            let n: usize = digits.parse().map_err(|_| perm("bad macro digits"))?;
            if n == 0 {
                return Err(perm("a macro keeps zero labels"));
            }
            if parts.len() > n {
                parts = parts[parts.len() - n..].to_vec();
            }
        }
        let joined = parts.join(".");
        Ok(if letter.is_ascii_uppercase() {
            url_escape(&joined)
        } else {
            joined
        })
    }
}

fn in_cidr(ip: IpAddr, addr: IpAddr, cidr: &DualCidr) -> bool {
    match addr {
        IpAddr::V4(_) => in_net(ip, addr, cidr.v4.unwrap_or(32)),
        IpAddr::V6(_) => in_net(ip, addr, cidr.v6.unwrap_or(128)),
    }
}

/// §7.3: uppercase macros are URL-escaped (unreserved characters kept).
fn url_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    fn req(ip: &str, sender: &str) -> Request {
        Request {
            ip: ip.parse().unwrap(),
            sender: sender.into(),
            helo: "mx.example.test".into(),
            receiver: "rx.example.org".into(),
            now: 0,
        }
    }

    fn zone() -> MapLookup {
        let mut z = MapLookup::new();
        z.add_txt("example.test", "v=spf1 ip4:192.0.2.0/24 a:web.example.test mx include:inc.example.test exists:%{i}.ok.example.test -all exp=why.example.test")
            .add("web.example.test", dns::A, vec![198, 51, 100, 7])
            .add_mx("example.test", 10, "mx.example.test")
            .add("mx.example.test", dns::A, vec![203, 0, 113, 5])
            .add_txt("inc.example.test", "v=spf1 ip6:2001:db8::/32 ~all")
            .add("10.0.0.9.ok.example.test", dns::A, vec![127, 0, 0, 2])
            .add_txt("why.example.test", "%{i} is not one of %{d}'s senders")
            .add_txt("soft.example.test", "v=spf1 ~all")
            .add_txt("redir.example.test", "v=spf1 redirect=example.test")
            .add_txt("two.example.test", "v=spf1 -all")
            .add_txt("two.example.test", "v=spf1 +all")
            .add_txt("bad.example.test", "v=spf1 ip4:300.1.1.1 -all")
            .add_txt("loop.example.test", "v=spf1 include:loop.example.test -all")
            .add_txt("voids.example.test", "v=spf1 a:n1.example.test a:n2.example.test a:n3.example.test ?all")
            .add_txt("noall.example.test", "v=spf1 ip4:192.0.2.1");
        z
    }

    fn result(ip: &str, sender: &str) -> Outcome {
        check_mail_from(&req(ip, sender), &zone())
    }

    #[test]
    fn results_by_rfc_name() {
        assert_eq!(
            result("192.0.2.55", "a@example.test").result,
            AuthResult::Pass
        );
        assert_eq!(
            result("198.51.100.7", "a@example.test").result,
            AuthResult::Pass
        );
        assert_eq!(
            result("203.0.113.5", "a@example.test").result,
            AuthResult::Pass
        );
        assert_eq!(
            result("10.0.0.9", "a@example.test").result,
            AuthResult::Pass
        );
        let f = result("10.0.0.8", "a@example.test");
        assert_eq!(f.result, AuthResult::Fail);
        assert_eq!(f.mechanism.as_deref(), Some("-all (in example.test)"));
        assert_eq!(
            f.explanation.as_deref(),
            Some("10.0.0.8 is not one of example.test's senders")
        );
        // include's ~all does not match, and 2001:db8:: passes through it.
        assert_eq!(
            result("2001:db8::1", "a@example.test").result,
            AuthResult::Pass
        );
        assert_eq!(
            result("10.0.0.8", "a@soft.example.test").result,
            AuthResult::SoftFail
        );
        assert_eq!(
            result("10.0.0.8", "a@noall.example.test").result,
            AuthResult::Neutral
        );
        assert_eq!(
            result("192.0.2.1", "a@redir.example.test").result,
            AuthResult::Pass
        );
        assert_eq!(
            result("10.0.0.8", "a@nothing.example.test").result,
            AuthResult::None
        );
        assert_eq!(
            result("10.0.0.8", "a@two.example.test").result,
            AuthResult::PermError
        );
        assert_eq!(
            result("10.0.0.8", "a@bad.example.test").result,
            AuthResult::PermError
        );
        assert_eq!(
            result("10.0.0.8", "a@loop.example.test").result,
            AuthResult::PermError
        );
        let v = result("10.0.0.8", "a@voids.example.test");
        assert_eq!(v.result, AuthResult::PermError, "{v:?}");
        assert!(v.reason.contains("found nothing"), "{}", v.reason);
        // An empty MAIL FROM checks postmaster@HELO.
        assert_eq!(result("10.0.0.8", "<>").domain, "mx.example.test");
        // IPv4-mapped IPv6 clients are IPv4 clients.
        assert_eq!(
            result("::ffff:192.0.2.9", "a@example.test").result,
            AuthResult::Pass
        );
    }

    #[test]
    fn macros_as_the_rfc_examples() {
        // RFC 7208 §7.4, sender strong-bad@email.example.com, client 192.0.2.3.
        let z = MapLookup::new();
        let r = Request {
            ip: "192.0.2.3".parse().unwrap(),
            sender: "strong-bad@email.example.com".into(),
            helo: "h.example".into(),
            receiver: String::new(),
            now: 0,
        };
        let mut e = Eval {
            req: &r,
            dns: &z,
            lookups: 0,
            voids: 0,
        };
        let d = "email.example.com";
        for (m, want) in [
            ("%{s}", "strong-bad@email.example.com"),
            ("%{o}", "email.example.com"),
            ("%{d}", "email.example.com"),
            ("%{d4}", "email.example.com"),
            ("%{d3}", "email.example.com"),
            ("%{d2}", "example.com"),
            ("%{d1}", "com"),
            ("%{dr}", "com.example.email"),
            ("%{d2r}", "example.email"),
            ("%{l}", "strong-bad"),
            ("%{l-}", "strong.bad"),
            ("%{lr}", "strong-bad"),
            ("%{lr-}", "bad.strong"),
            ("%{l1r-}", "strong"),
            (
                "%{ir}.%{v}._spf.%{d2}",
                "3.2.0.192.in-addr._spf.example.com",
            ),
            ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
            (
                "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
                "3.2.0.192.in-addr.strong.lp._spf.example.com",
            ),
            (
                "%{d2}.trusted-domains.example.net",
                "example.com.trusted-domains.example.net",
            ),
        ] {
            assert_eq!(e.expand(m, d, false).unwrap(), want, "{m}");
        }
        let r6 = Request {
            ip: "2001:db8::cb01".parse().unwrap(),
            ..r.clone()
        };
        let mut e6 = Eval {
            req: &r6,
            dns: &z,
            lookups: 0,
            voids: 0,
        };
        assert_eq!(
            e6.expand("%{ir}.%{v}._spf.%{d2}", d, false).unwrap(),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
        assert_eq!(
            e.expand("%{S}", d, false).unwrap(),
            "strong-bad%40email.example.com"
        );
        assert!(e.expand("%{c}", d, false).is_err(), "c only in exp");
        assert_eq!(e.expand("%{c} %%%_%-", d, true).unwrap(), "192.0.2.3 % %20");
    }

    #[test]
    fn lookup_limit() {
        let mut z = MapLookup::new();
        let mut rec = String::from("v=spf1");
        for i in 0..11 {
            rec.push_str(&format!(" include:i{i}.example.test"));
            z.add_txt(&format!("i{i}.example.test"), "v=spf1 -all");
        }
        z.add_txt("many.example.test", &format!("{rec} -all"));
        let o = check_mail_from(&req("10.0.0.1", "a@many.example.test"), &z);
        assert_eq!(o.result, AuthResult::PermError);
        assert_eq!(o.lookups, 11);
    }
}
