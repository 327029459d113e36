//! A receiver's verdict on one message: SPF for MAIL FROM and HELO, iprev, every
//! DKIM signature, DMARC (RFC 7489 with RFC 9989's DNS tree walk) with alignment
//! and policy, the ARC chain and whether a BIMI logo would show; as text for a
//! person (each failure with its fix), as JSON for scripts, and as the
//! `Authentication-Results` field a milter adds.

use crate::arc::{self, Chain};
use crate::authres::{self, AuthResult, MethodResult};
use crate::dkim_verify::{self, Verdict};
use crate::dmarc::{self, Policy};
use crate::dns::{self, Answer, TxtLookup};
use crate::message::Message;
use crate::spf_eval::{self, Outcome, Request};
use crate::Finding;
use blason_zone::finding::json_str;
use std::net::IpAddr;

/// What the SMTP session said, and who is judging.
#[derive(Clone, Debug, Default)]
pub struct Envelope {
    pub ip: Option<IpAddr>,
    pub helo: String,
    pub mail_from: String,
    /// Our name in `Authentication-Results` (RFC 8601 §2.5).
    pub authserv_id: String,
    pub now: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dmarc {
    pub result: AuthResult,
    pub from_domain: String,
    /// Where the record was found.
    pub record_domain: Option<String>,
    /// p=, sp= or np=, whichever applies.
    pub policy: Option<Policy>,
    /// What a receiver does: the policy, lowered one step in testing mode.
    pub disposition: Policy,
    pub spf_aligned: bool,
    pub dkim_aligned: bool,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iprev {
    pub result: AuthResult,
    pub name: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct Bimi {
    pub selector: String,
    pub record: Option<String>,
    pub would_show: bool,
    pub findings: Vec<Finding>,
}

/// Everything known about one message.
#[derive(Clone, Debug)]
pub struct Report {
    pub authserv_id: String,
    pub ip: Option<IpAddr>,
    pub mail_from: String,
    pub helo_name: String,
    pub spf: Outcome,
    pub helo: Option<Outcome>,
    pub iprev: Option<Iprev>,
    pub dkim: Vec<Verdict>,
    /// Whether each DKIM signature aligns with From (same order as `dkim`).
    pub dkim_aligned: Vec<bool>,
    pub dmarc: Dmarc,
    pub arc: Chain,
    pub bimi: Bimi,
}

fn no_spf(why: &str) -> Outcome {
    Outcome {
        result: AuthResult::None,
        domain: String::new(),
        mechanism: None,
        explanation: None,
        reason: why.into(),
        lookups: 0,
        voids: 0,
    }
}

/// Verifies `raw` as received in `env`.
pub fn verify(raw: &[u8], env: &Envelope, dns: &dyn TxtLookup) -> Report {
    verify_message(&Message::parse(raw), env, dns)
}

pub fn verify_message(msg: &Message, env: &Envelope, dns: &dyn TxtLookup) -> Report {
    let (spf, helo, iprev) = match env.ip {
        Some(ip) => {
            let req = Request {
                ip,
                sender: env.mail_from.clone(),
                helo: env.helo.clone(),
                receiver: env.authserv_id.clone(),
                now: env.now,
            };
            let spf = if env.mail_from.trim_matches(['<', '>']).is_empty() && env.helo.is_empty() {
                no_spf("no MAIL FROM and no HELO given")
            } else {
                spf_eval::check_mail_from(&req, dns)
            };
            let helo = (!env.helo.is_empty()).then(|| spf_eval::check_helo(&req, dns));
            (spf, helo, Some(iprev(ip, dns)))
        }
        None => (no_spf("no client address given"), None, None),
    };
    let dkim = dkim_verify::verify_all(msg, dns, env.now);
    let arc = arc::validate(msg, dns, env.now);
    let (dmarc, dkim_aligned) = evaluate_dmarc(msg, &spf, &dkim, dns);
    let bimi = bimi(msg, &dmarc, dns);
    Report {
        authserv_id: env.authserv_id.clone(),
        ip: env.ip,
        mail_from: env.mail_from.clone(),
        helo_name: env.helo.clone(),
        spf,
        helo,
        iprev,
        dkim,
        dkim_aligned,
        dmarc,
        arc,
        bimi,
    }
}

/// iprev (RFC 8601 §3): a name of the client whose addresses include it.
pub fn iprev(ip: IpAddr, dns: &dyn TxtLookup) -> Iprev {
    let ip = spf_eval::client(ip);
    let names: Vec<String> = match dns.lookup(&spf_eval::reverse_name(ip), 12) {
        Answer::Records(r) => r
            .iter()
            .filter_map(|d| dns::read_name(d, 0).map(|n| n.0))
            .collect(),
        Answer::NoData | Answer::NxDomain => Vec::new(),
        Answer::Fail(e) => {
            return Iprev {
                result: AuthResult::TempError,
                name: None,
                reason: format!("the PTR lookup failed: {e}"),
            }
        }
    };
    if names.is_empty() {
        return Iprev {
            result: AuthResult::Fail,
            name: None,
            reason: format!("{ip} has no PTR record"),
        };
    }
    let rtype = if ip.is_ipv4() { dns::A } else { dns::AAAA };
    let mut temp = None;
    for n in names.iter().take(10) {
        match dns.lookup(n, rtype) {
            Answer::Records(r) => {
                let hit = r.iter().any(|d| match ip {
                    IpAddr::V4(v4) => d.as_slice() == v4.octets(),
                    IpAddr::V6(v6) => d.as_slice() == v6.octets(),
                });
                if hit {
                    return Iprev {
                        result: AuthResult::Pass,
                        name: Some(n.clone()),
                        reason: String::new(),
                    };
                }
            }
            Answer::Fail(e) => temp = Some(format!("looking up {n}: {e}")),
            _ => {}
        }
    }
    match temp {
        Some(why) => Iprev {
            result: AuthResult::TempError,
            name: None,
            reason: why,
        },
        None => Iprev {
            result: AuthResult::Fail,
            name: names.first().cloned(),
            reason: format!(
                "{ip} points to {} but no name points back",
                names.join(", ")
            ),
        },
    }
}

fn aligned(
    a: &str,
    from: &str,
    strict: bool,
    org: &mut dyn FnMut(&str) -> Result<String, String>,
) -> Result<bool, String> {
    let a = dns::norm(a);
    if a == from {
        return Ok(true);
    }
    if strict || a.is_empty() {
        return Ok(false);
    }
    Ok(org(&a)? == org(from)?)
}

fn evaluate_dmarc(
    msg: &Message,
    spf: &Outcome,
    dkim: &[Verdict],
    dns: &dyn TxtLookup,
) -> (Dmarc, Vec<bool>) {
    let froms = msg.from_domains();
    let mut d = Dmarc {
        result: AuthResult::None,
        from_domain: froms.first().cloned().unwrap_or_default(),
        record_domain: None,
        policy: None,
        disposition: Policy::None,
        spf_aligned: false,
        dkim_aligned: false,
        reason: String::new(),
    };
    let mut flags = vec![false; dkim.len()];
    if froms.is_empty() {
        d.result = AuthResult::PermError;
        d.reason = "the message has no From address with a domain".into();
        return (d, flags);
    }
    let from = d.from_domain.clone();
    let (at, rec) = match dmarc::discover(&from, dns) {
        Err(e) => {
            d.result = AuthResult::TempError;
            d.reason = e;
            return (d, flags);
        }
        Ok(None) => {
            d.reason = format!("no DMARC record for {from} or a parent");
            return (d, flags);
        }
        Ok(Some(found)) => found,
    };
    let policy = if at == from {
        rec.p
    } else {
        let missing = matches!(dns.lookup(&from, dns::A), Answer::NxDomain);
        (if missing { rec.np } else { None }).or(rec.sp).or(rec.p)
    };
    d.record_domain = Some(at.clone());
    d.policy = Some(policy.unwrap_or(Policy::None));
    let mut cache: Vec<(String, String)> = Vec::new();
    let mut org = |name: &str| -> Result<String, String> {
        if let Some((_, o)) = cache.iter().find(|(n, _)| n == name) {
            return Ok(o.clone());
        }
        let o = dmarc::organizational_domain(name, dns)?;
        cache.push((name.to_string(), o.clone()));
        Ok(o)
    };
    let strict_spf = rec.aspf_strict == Some(true);
    let strict_dkim = rec.adkim_strict == Some(true);
    let mut check = || -> Result<(), String> {
        if spf.result == AuthResult::Pass {
            d.spf_aligned = aligned(&spf.domain, &from, strict_spf, &mut org)?;
        }
        for (i, v) in dkim.iter().enumerate() {
            if v.result == AuthResult::Pass {
                flags[i] = aligned(&v.domain, &from, strict_dkim, &mut org)?;
            }
        }
        Ok(())
    };
    if let Err(e) = check() {
        d.result = AuthResult::TempError;
        d.reason = e;
        return (d, flags);
    }
    d.dkim_aligned = flags.iter().any(|f| *f);
    if d.spf_aligned || d.dkim_aligned {
        d.result = AuthResult::Pass;
        return (d, flags);
    }
    d.result = AuthResult::Fail;
    let p = policy.unwrap_or(Policy::None);
    // t=y (RFC 9989) and pct under 100 (RFC 7489) ask for one step less.
    let testing = rec.testing == Some(true) || rec.pct.is_some_and(|p| p < 100);
    d.disposition = match (p, testing) {
        (Policy::Reject, true) => Policy::Quarantine,
        (Policy::Quarantine, true) => Policy::None,
        (p, _) => p,
    };
    d.reason = format!(
        "neither SPF ({}{}) nor any DKIM signature passed aligned with {from}",
        spf.result,
        if spf.domain.is_empty() {
            String::new()
        } else {
            format!(" for {}", spf.domain)
        }
    );
    (d, flags)
}

fn bimi(msg: &Message, dmarc: &Dmarc, dns: &dyn TxtLookup) -> Bimi {
    let selector = msg
        .first("bimi-selector")
        .and_then(|f| {
            let t = crate::tags::parse(f.text().as_bytes()).ok()?;
            crate::tags::get(&t, "s").map(str::to_string)
        })
        .unwrap_or_else(|| "default".into());
    let (rec, findings) = crate::bimi::check_domain(&dmarc.from_domain, &selector, dns);
    let errors = findings
        .iter()
        .any(|f| f.severity == crate::Severity::Error);
    let record = rec.map(|r| r.to_text());
    Bimi {
        would_show: record.is_some() && !errors && dmarc.result == AuthResult::Pass,
        selector,
        record,
        findings,
    }
}

impl Report {
    /// The methods for `Authentication-Results`, in the order of RFC 8601's examples.
    pub fn methods(&self) -> Vec<MethodResult> {
        let mut out = Vec::new();
        if self.ip.is_some() {
            out.push(MethodResult {
                method: "spf",
                result: self.spf.result,
                reason: None,
                props: vec![("smtp.mailfrom".into(), self.spf.domain.clone())],
            });
        }
        if let Some(h) = &self.helo {
            out.push(MethodResult {
                method: "spf",
                result: h.result,
                reason: None,
                props: vec![("smtp.helo".into(), self.helo_name.clone())],
            });
        }
        if self.dkim.is_empty() {
            out.push(MethodResult {
                method: "dkim",
                result: AuthResult::None,
                reason: None,
                props: vec![],
            });
        }
        for v in &self.dkim {
            let mut props = vec![
                ("header.d".into(), v.domain.clone()),
                ("header.s".into(), v.selector.clone()),
            ];
            if let Some(i) = &v.identity {
                props.push(("header.i".into(), i.clone()));
            }
            if !v.algorithm.is_empty() {
                props.push(("header.a".into(), v.algorithm.clone()));
            }
            props.push(("header.b".into(), v.b_prefix.clone()));
            out.push(MethodResult {
                method: "dkim",
                result: v.result,
                reason: (!v.reason.is_empty()).then(|| v.reason.clone()),
                props,
            });
        }
        let mut props = vec![];
        if !self.dmarc.from_domain.is_empty() {
            props.push(("header.from".into(), self.dmarc.from_domain.clone()));
        }
        if let Some(p) = self.dmarc.policy {
            props.push(("policy.dmarc".into(), p.as_str().to_string()));
        }
        out.push(MethodResult {
            method: "dmarc",
            result: self.dmarc.result,
            reason: None,
            props,
        });
        out.push(MethodResult {
            method: "arc",
            result: self.arc.result,
            reason: None,
            props: match self.ip {
                Some(ip) if self.arc.sets > 0 => vec![("smtp.remote-ip".into(), ip.to_string())],
                _ => vec![],
            },
        });
        if let (Some(ip), Some(i)) = (self.ip, &self.iprev) {
            out.push(MethodResult {
                method: "iprev",
                result: i.result,
                reason: None,
                props: vec![("policy.iprev".into(), ip.to_string())],
            });
        }
        out
    }

    /// The value of the `Authentication-Results` field to add.
    pub fn authentication_results(&self) -> String {
        authres::header_value(&self.authserv_id, &self.methods())
    }

    pub fn to_json(&self) -> String {
        let opt = |s: &Option<String>| s.as_ref().map_or("null".to_string(), |v| json_str(v));
        let spf = Outcome::to_json;
        let dkim: Vec<String> = self
            .dkim
            .iter()
            .zip(&self.dkim_aligned)
            .map(|(v, a)| {
                format!(
                    "{{\"domain\":{},\"selector\":{},\"result\":\"{}\",\"algorithm\":{},\"key_bits\":{},\"aligned\":{a},\"reason\":{}}}",
                    json_str(&v.domain), json_str(&v.selector), v.result, json_str(&v.algorithm),
                    v.key_bits.map_or("null".into(), |b| b.to_string()), json_str(&v.reason)
                )
            })
            .collect();
        let d = &self.dmarc;
        let findings: Vec<String> = self.bimi.findings.iter().map(|f| f.to_json()).collect();
        format!(
            "{{\"spf\":{},\"helo\":{},\"iprev\":{},\"dkim\":[{}],\"dmarc\":{{\"result\":\"{}\",\"from_domain\":{},\"record_domain\":{},\"policy\":{},\"disposition\":\"{}\",\"spf_aligned\":{},\"dkim_aligned\":{},\"reason\":{}}},\"arc\":{{\"result\":\"{}\",\"sets\":{},\"sealers\":[{}],\"reason\":{}}},\"bimi\":{{\"selector\":{},\"record\":{},\"would_show\":{},\"findings\":[{}]}},\"authentication_results\":{}}}",
            spf(&self.spf),
            self.helo.as_ref().map_or("null".into(), spf),
            self.iprev.as_ref().map_or("null".into(), |i| format!(
                "{{\"result\":\"{}\",\"name\":{},\"reason\":{}}}", i.result, opt(&i.name), json_str(&i.reason)
            )),
            dkim.join(","),
            d.result, json_str(&d.from_domain), opt(&d.record_domain),
            d.policy.map_or("null".into(), |p| json_str(p.as_str())), d.disposition.as_str(),
            d.spf_aligned, d.dkim_aligned, json_str(&d.reason),
            self.arc.result, self.arc.sets,
            self.arc.sealers.iter().map(|s| json_str(s)).collect::<Vec<_>>().join(","),
            json_str(&self.arc.reason),
            json_str(&self.bimi.selector), opt(&self.bimi.record), self.bimi.would_show, findings.join(","),
            json_str(&self.authentication_results()),
        )
    }

    /// A report for a person: one line per check, each failure with its fix.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let line = |s: &mut String, name: &str, r: AuthResult, detail: &str| {
            s.push_str(&format!("{name:<8} {:<10} {detail}\n", r.as_str()));
        };
        let fix = |s: &mut String, f: &str| s.push_str(&format!("         fix: {f}\n"));
        match self.ip {
            Some(ip) => {
                let o = &self.spf;
                let mut detail = format!(
                    "MAIL FROM {} from {ip}",
                    if o.domain.is_empty() {
                        "(none)"
                    } else {
                        &o.domain
                    }
                );
                if let Some(m) = &o.mechanism {
                    detail.push_str(&format!(": {m}"));
                }
                if !o.reason.is_empty() {
                    detail.push_str(&format!(": {}", o.reason));
                }
                line(&mut s, "spf", o.result, &detail);
                if let Some(e) = &o.explanation {
                    s.push_str(&format!("         explanation: {e}\n"));
                }
                match o.result {
                    AuthResult::Fail | AuthResult::SoftFail | AuthResult::Neutral => fix(&mut s, &format!("add ip4:{ip} (or the include of the service that sends for you) to the SPF record of {}", o.domain)),
                    AuthResult::None => fix(&mut s, &format!("publish an SPF record at {}: 'v=spf1 mx -all' lists your MX hosts", o.domain)),
                    AuthResult::PermError => fix(&mut s, "correct the SPF record: receivers treat it as broken"),
                    AuthResult::TempError => fix(&mut s, "the DNS did not answer; check the domain's name servers"),
                    _ => {}
                }
                if let Some(h) = &self.helo {
                    let detail = format!(
                        "HELO {}{}",
                        self.helo_name,
                        if h.reason.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", h.reason)
                        }
                    );
                    line(&mut s, "spf", h.result, &detail);
                }
                if let Some(i) = &self.iprev {
                    let detail = match &i.name {
                        Some(n) if i.result == AuthResult::Pass => format!("{ip} is {n}"),
                        _ => i.reason.clone(),
                    };
                    line(&mut s, "iprev", i.result, &detail);
                    if i.result == AuthResult::Fail {
                        fix(&mut s, &format!("ask whoever runs {ip}'s network for a PTR record naming a host whose A/AAAA record is {ip}"));
                    }
                }
            }
            None => line(
                &mut s,
                "spf",
                AuthResult::None,
                "not checked: give --ip (and --mail-from, --helo)",
            ),
        }
        if self.dkim.is_empty() {
            line(
                &mut s,
                "dkim",
                AuthResult::None,
                "the message is not signed",
            );
            fix(
                &mut s,
                "sign outgoing mail (blason milter) with a key published under _domainkey",
            );
        }
        for (v, a) in self.dkim.iter().zip(&self.dkim_aligned) {
            let bits = v
                .key_bits
                .map_or(String::new(), |b| format!(", {b}-bit key"));
            let mut detail = format!(
                "d={} s={} {}{bits}{}",
                v.domain,
                v.selector,
                v.algorithm,
                if *a { ", aligned with From" } else { "" }
            );
            if !v.reason.is_empty() {
                detail.push_str(&format!(": {}", v.reason));
            }
            line(&mut s, "dkim", v.result, &detail);
            match v.result {
                AuthResult::Fail if v.reason.contains("body") => fix(&mut s, "something after signing changed the body (a footer, a re-encoding): sign last, or use l= never"),
                AuthResult::Fail => fix(&mut s, "the published key does not match the signing key, or a signed header was changed after signing"),
                AuthResult::PermError if v.reason.contains("no key") => fix(&mut s, &format!("publish the key of selector {} at {}._domainkey.{}", v.selector, v.selector, v.domain)),
                AuthResult::PermError => fix(&mut s, "the signature or its key record is malformed or expired; re-sign with a current key"),
                _ => {}
            }
            if v.key_bits.is_some_and(|b| b < 2048) && v.algorithm.starts_with("rsa") {
                fix(&mut s, "RSA keys under 2048 bits are weak (RFC 8301): roll to a 2048-bit key on a new selector");
            }
        }
        let d = &self.dmarc;
        let mut detail = format!(
            "From {}",
            if d.from_domain.is_empty() {
                "(none)"
            } else {
                &d.from_domain
            }
        );
        if let (Some(at), Some(p)) = (&d.record_domain, d.policy) {
            detail.push_str(&format!(", policy {} from _dmarc.{at}", p.as_str()));
        }
        if d.result == AuthResult::Fail {
            detail.push_str(&format!(
                ": {}; a receiver would {}",
                d.reason,
                match d.disposition {
                    Policy::Reject => "reject it",
                    Policy::Quarantine => "quarantine it",
                    Policy::None => "deliver it",
                }
            ));
        } else if !d.reason.is_empty() {
            detail.push_str(&format!(": {}", d.reason));
        } else if d.result == AuthResult::Pass {
            let how = match (d.spf_aligned, d.dkim_aligned) {
                (true, true) => "SPF and DKIM aligned",
                (true, false) => "SPF aligned",
                _ => "DKIM aligned",
            };
            detail.push_str(&format!(": {how}"));
        }
        line(&mut s, "dmarc", d.result, &detail);
        match d.result {
            AuthResult::Fail => fix(&mut s, &format!("sign with d={} (or a parent) or send from a server SPF authorizes for a MAIL FROM in {}", d.from_domain, d.from_domain)),
            AuthResult::None if !d.from_domain.is_empty() => fix(&mut s, &format!("publish 'v=DMARC1; p=none; rua=mailto:...' at _dmarc.{} and raise p= once reports are clean", d.from_domain)),
            _ => {}
        }
        if d.result == AuthResult::Pass && d.policy == Some(Policy::None) {
            fix(
                &mut s,
                "p=none protects nothing: raise it to quarantine, then reject",
            );
        }
        let a = &self.arc;
        let detail = match a.result {
            AuthResult::None => "no ARC sets".to_string(),
            AuthResult::Pass => format!("{} sets, sealed by {}", a.sets, a.sealers.join(", ")),
            _ => a.reason.clone(),
        };
        line(&mut s, "arc", a.result, &detail);
        let b = &self.bimi;
        let (r, detail) = if b.would_show {
            (
                AuthResult::Pass,
                format!("a logo would show ({})", b.record.as_deref().unwrap_or("")),
            )
        } else {
            let why: Vec<&str> = b
                .findings
                .iter()
                .filter(|f| f.severity != crate::Severity::Note || b.record.is_none())
                .map(|f| f.message.as_str())
                .collect();
            let dm = if self.dmarc.result != AuthResult::Pass {
                "DMARC did not pass; "
            } else {
                ""
            };
            (AuthResult::None, format!("no logo: {dm}{}", why.join("; ")))
        };
        line(&mut s, "bimi", r, detail.trim_end_matches("; "));
        s.push_str(&format!(
            "\nAuthentication-Results: {}\n",
            self.authentication_results()
        ));
        s
    }
}
