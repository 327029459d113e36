//! MTA-STS (RFC 8461): the `_mta-sts` TXT record, the policy file, and the policy's
//! `mx` patterns against the domain's MX records. Fetching the policy over HTTPS is
//! left to the caller: these functions take its bytes.

use crate::dns::{self, TxtLookup};
use crate::tags;
use crate::{finding, Finding, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

/// A parsed policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub mode: Option<Mode>,
    pub mx: Vec<String>,
    pub max_age: Option<u64>,
}

impl Policy {
    pub fn to_text(&self) -> String {
        let mut s = String::from("version: STSv1\r\n");
        let mode = match self.mode {
            Some(Mode::Enforce) => "enforce",
            Some(Mode::Testing) => "testing",
            _ => "none",
        };
        s.push_str(&format!("mode: {mode}\r\n"));
        for m in &self.mx {
            s.push_str(&format!("mx: {m}\r\n"));
        }
        s.push_str(&format!("max_age: {}\r\n", self.max_age.unwrap_or(604800)));
        s
    }
}

/// The longest max_age RFC 8461 allows (one year).
pub const MAX_AGE: u64 = 31_557_600;

pub fn is_sts(v: &[u8]) -> bool {
    v.len() >= 8 && v[..8].eq_ignore_ascii_case(b"v=STSv1;") || v.eq_ignore_ascii_case(b"v=STSv1")
}

/// Lints the `_mta-sts` TXT record.
pub fn lint_record(value: &[u8]) -> Vec<Finding> {
    let mut out = Vec::new();
    let list = match tags::parse(value) {
        Ok(l) => l,
        Err(e) => {
            return vec![finding(
                "mta-sts-syntax",
                Severity::Error,
                format!("the _mta-sts record does not parse: {e}"),
                "write 'v=STSv1; id=20250101T000000'",
            )]
        }
    };
    if !matches!(list.first(), Some(t) if t.name == "v" && t.value == "STSv1") {
        out.push(finding(
            "mta-sts-version",
            Severity::Error,
            "the record must start with v=STSv1",
            "put 'v=STSv1;' first",
        ));
    }
    match tags::get(&list, "id") {
        None => out.push(finding(
            "mta-sts-id",
            Severity::Error,
            "the record has no id=",
            "add id=<1 to 32 letters and digits>, changed whenever the policy changes",
        )),
        Some(id)
            if id.is_empty() || id.len() > 32 || !id.bytes().all(|c| c.is_ascii_alphanumeric()) =>
        {
            out.push(finding(
                "mta-sts-id",
                Severity::Error,
                format!("id={id} is not 1 to 32 letters and digits"),
                "use e.g. a timestamp like 20250101T000000",
            ))
        }
        _ => {}
    }
    out
}

/// Parses a policy file and lints it.
pub fn parse_policy(bytes: &[u8]) -> (Policy, Vec<Finding>) {
    let mut p = Policy {
        mode: None,
        mx: Vec::new(),
        max_age: None,
    };
    let mut out = Vec::new();
    let err = |m: String, fix: &str| finding("mta-sts-policy-syntax", Severity::Error, m, fix);
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.push(err(
            "the policy is not text".into(),
            "serve a plain text policy",
        ));
        return (p, out);
    };
    if bytes.len() > 64 * 1024 {
        out.push(err(
            "the policy is over 64 KB; senders may refuse it".into(),
            "shorten it",
        ));
    }
    let mut version = None;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            out.push(err(
                format!(
                    "line {}: '{}' is not 'key: value'",
                    n + 1,
                    line.chars().take(60).collect::<String>()
                ),
                "write one 'key: value' per line",
            ));
            continue;
        };
        let v = v.trim();
        match k.trim() {
            "version" => {
                if version.is_some() {
                    out.push(err("version appears more than once".into(), "keep one"));
                }
                version = Some(v.to_string());
            }
            "mode" => {
                if p.mode.is_some() {
                    out.push(err("mode appears more than once".into(), "keep one"));
                }
                p.mode = match v {
                    "enforce" => Some(Mode::Enforce),
                    "testing" => Some(Mode::Testing),
                    "none" => Some(Mode::None),
                    _ => {
                        out.push(err(
                            format!("mode: {v} is not enforce, testing or none"),
                            "use mode: enforce",
                        ));
                        None
                    }
                };
            }
            "mx" => {
                if !valid_pattern(v) {
                    out.push(finding(
                        "mta-sts-mx-pattern",
                        Severity::Error,
                        format!("mx: {v} is not a host name or '*.' followed by one"),
                        "list each MX host, or '*.example.com' for all hosts one label below",
                    ));
                }
                p.mx.push(v.to_ascii_lowercase());
            }
            "max_age" => {
                if p.max_age.is_some() {
                    out.push(err("max_age appears more than once".into(), "keep one"));
                }
                match v.parse::<u64>() {
                    Ok(n) if v.len() <= 10 => p.max_age = Some(n),
                    _ => out.push(err(
                        format!("max_age: {v} is not a number of seconds"),
                        "use max_age: 604800",
                    )),
                }
            }
            _ => {}
        }
    }
    match version.as_deref() {
        Some("STSv1") => {}
        Some(v) => out.push(err(
            format!("version: {v} is not STSv1"),
            "write version: STSv1",
        )),
        None => out.push(err("no version: line".into(), "start with version: STSv1")),
    }
    if p.mode.is_none() && !out.iter().any(|f| f.message.starts_with("mode")) {
        out.push(err(
            "no mode: line".into(),
            "add mode: enforce (or testing while you watch TLS-RPT reports)",
        ));
    }
    if p.mode == Some(Mode::Testing) {
        out.push(finding(
            "mta-sts-testing",
            Severity::Note,
            "mode: testing: senders report failures but still deliver over unverified TLS",
            "switch to mode: enforce once TLS-RPT reports are clean",
        ));
    }
    if p.mx.is_empty() && p.mode != Some(Mode::None) {
        out.push(err(
            "no mx: line: with mode enforce or testing, no host can match".into(),
            "add one mx: line per mail server",
        ));
    }
    match p.max_age {
        None => out.push(err("no max_age: line".into(), "add max_age: 604800")),
        Some(n) if n > MAX_AGE => out.push(err(
            format!("max_age {n} is over the {MAX_AGE} seconds RFC 8461 allows"),
            "use at most 31557600",
        )),
        Some(n) if n < 86400 && p.mode == Some(Mode::Enforce) => out.push(finding(
            "mta-sts-max-age-short",
            Severity::Warning,
            format!("max_age {n} is under a day: the policy protects little between fetches"),
            "use weeks, e.g. max_age: 1209600",
        )),
        _ => {}
    }
    (p, out)
}

fn valid_pattern(p: &str) -> bool {
    let host = p.strip_prefix("*.").unwrap_or(p);
    !host.is_empty()
        && host.contains('.')
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// RFC 8461 §4.1: a pattern matches a host exactly, or `*.x` matches one label under x.
pub fn matches(pattern: &str, host: &str) -> bool {
    let host = dns::norm(host);
    let pattern = dns::norm(pattern);
    match pattern.strip_prefix("*.") {
        Some(suffix) => host.split_once('.').is_some_and(|(_, rest)| rest == suffix),
        None => host == pattern,
    }
}

/// MX hosts the policy does not cover (errors under enforce: mail to them fails).
pub fn check_mx(policy: &Policy, mx: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    for host in mx {
        if !policy.mx.iter().any(|p| matches(p, host)) {
            let sev = if policy.mode == Some(Mode::Enforce) {
                Severity::Error
            } else {
                Severity::Warning
            };
            out.push(finding("mta-sts-mx-uncovered", sev, format!("MX host {host} matches no mx: pattern of the policy; senders that enforce the policy will not deliver to it"), format!("add 'mx: {host}' to the policy")));
        }
    }
    for p in &policy.mx {
        if !mx.iter().any(|h| matches(p, h)) {
            out.push(finding(
                "mta-sts-mx-unused",
                Severity::Note,
                format!("policy pattern mx: {p} matches no MX record"),
                "remove it if that host is gone",
            ));
        }
    }
    out
}

/// The record at `_mta-sts.<domain>`, the policy host, and (when given) the policy.
pub fn check_domain(domain: &str, policy: Option<&[u8]>, dns: &dyn TxtLookup) -> Vec<Finding> {
    let d = dns::norm(domain);
    let at = format!("_mta-sts.{d}");
    let mut out = Vec::new();
    let recs: Vec<Vec<u8>> = dns
        .txt(&at)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.len() >= 7 && r[..7].eq_ignore_ascii_case(b"v=STSv1"))
        .collect();
    if recs.len() > 1 {
        out.push(finding(
            "mta-sts-multiple",
            Severity::Error,
            format!(
                "{at} has {} MTA-STS records: senders ignore them all",
                recs.len()
            ),
            "keep one",
        ));
    }
    match recs.first() {
        Some(r) => out.extend(lint_record(r)),
        None => {
            if policy.is_none() {
                out.push(finding("mta-sts-missing", Severity::Note, format!("no MTA-STS record at {at}"), "publish a policy at https://mta-sts.<domain>/.well-known/mta-sts.txt and 'v=STSv1; id=...' at _mta-sts"));
                return out;
            }
            out.push(finding(
                "mta-sts-missing",
                Severity::Error,
                format!(
                    "a policy is given but no record is published at {at}: senders never fetch it"
                ),
                "publish 'v=STSv1; id=...'",
            ));
        }
    }
    let host = format!("mta-sts.{d}");
    if dns.lookup(&host, dns::A).is_void() && dns.lookup(&host, dns::AAAA).is_void() {
        out.push(finding(
            "mta-sts-no-policy-host",
            Severity::Error,
            format!("{host} has no address: senders cannot fetch the policy"),
            format!("publish A/AAAA for {host} and serve the policy over HTTPS"),
        ));
    }
    if let Some(bytes) = policy {
        let (p, f) = parse_policy(bytes);
        out.extend(f);
        match dns.mx(&d) {
            Ok(mx) => out.extend(check_mx(
                &p,
                &mx.into_iter().map(|(_, h)| h).collect::<Vec<_>>(),
            )),
            Err(_) => out.push(finding(
                "mta-sts-no-mx",
                Severity::Warning,
                format!("{d} has no MX record to check the policy against"),
                "",
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::MapLookup;

    fn ids(f: &[Finding]) -> Vec<&'static str> {
        f.iter().map(|f| f.id).collect()
    }

    #[test]
    fn record_policy_mx() {
        assert!(lint_record(b"v=STSv1; id=20240101T000000").is_empty());
        assert!(ids(&lint_record(b"v=STSv1; id=a-b")).contains(&"mta-sts-id"));
        assert!(ids(&lint_record(b"v=STSv1")).contains(&"mta-sts-id"));
        let good = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.mx.example.com\r\nmax_age: 604800\r\n";
        let (p, f) = parse_policy(good);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(parse_policy(p.to_text().as_bytes()).0, p);
        assert!(matches("*.mx.example.com", "a.mx.example.com."));
        assert!(!matches("*.mx.example.com", "a.b.mx.example.com"));
        assert!(!matches("*.mx.example.com", "mx.example.com"));
        let f = check_mx(
            &p,
            &[
                "mail.example.com".into(),
                "backup.example.net".into(),
                "x.mx.example.com".into(),
            ],
        );
        assert_eq!(ids(&f), ["mta-sts-mx-uncovered"]);
        for (bad, id) in [
            (
                &b"mode: enforce\nmx: a.example\nmax_age: 1"[..],
                "mta-sts-policy-syntax",
            ),
            (
                b"version: STSv1\nmode: strict\nmx: a.example\nmax_age: 86400",
                "mta-sts-policy-syntax",
            ),
            (
                b"version: STSv1\nmode: enforce\nmax_age: 86400",
                "mta-sts-policy-syntax",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 99999999999",
                "mta-sts-policy-syntax",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.*.example\nmax_age: 86400",
                "mta-sts-mx-pattern",
            ),
            (
                b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 60",
                "mta-sts-max-age-short",
            ),
        ] {
            assert!(
                ids(&parse_policy(bad).1).contains(&id),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut m = MapLookup::new();
        m.add_txt("_mta-sts.example.com", "v=STSv1; id=1");
        m.add_mx("example.com", 10, "mail.example.com").add_mx(
            "example.com",
            20,
            "old.example.com",
        );
        m.add("mta-sts.example.com", dns::A, vec![192, 0, 2, 1]);
        let f = check_domain("example.com", Some(good), &m);
        assert_eq!(
            ids(&f),
            ["mta-sts-mx-uncovered", "mta-sts-mx-unused"],
            "{f:?}"
        );
    }
}
