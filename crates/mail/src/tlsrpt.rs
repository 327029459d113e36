//! SMTP TLS reporting (RFC 8460): the `_smtp._tls` record.

use crate::dns::{self, TxtLookup};
use crate::tags;
use crate::{finding, Finding, Severity};

pub fn is_tlsrpt(v: &[u8]) -> bool {
    v.len() >= 10 && v[..10].eq_ignore_ascii_case(b"v=TLSRPTv1")
}

/// Lints a TLS-RPT record: `v=TLSRPTv1; rua=mailto:...,https://...`.
pub fn lint_record(value: &[u8]) -> Vec<Finding> {
    let list = match tags::parse(value) {
        Ok(l) => l,
        Err(e) => {
            return vec![finding(
                "tlsrpt-syntax",
                Severity::Error,
                format!("the TLS-RPT record does not parse: {e}"),
                "write 'v=TLSRPTv1; rua=mailto:tlsrpt@example.com'",
            )]
        }
    };
    let mut out = Vec::new();
    if !matches!(list.first(), Some(t) if t.name == "v" && t.value == "TLSRPTv1") {
        out.push(finding(
            "tlsrpt-version",
            Severity::Error,
            "the record must start with v=TLSRPTv1",
            "put 'v=TLSRPTv1;' first",
        ));
    }
    match tags::get(&list, "rua") {
        None => out.push(finding(
            "tlsrpt-no-rua",
            Severity::Error,
            "the record has no rua=: reports have nowhere to go",
            "add rua=mailto:tlsrpt@your-domain",
        )),
        Some(rua) => {
            for u in rua.split(',').map(str::trim) {
                let l = u.to_ascii_lowercase();
                let ok = l.strip_prefix("mailto:").is_some_and(|a| a.contains('@'))
                    || l.starts_with("https://");
                if !ok {
                    out.push(finding(
                        "tlsrpt-uri",
                        Severity::Error,
                        format!("rua '{u}' is neither mailto: nor https:"),
                        "write rua=mailto:tlsrpt@your-domain",
                    ));
                }
            }
        }
    }
    out
}

/// Fetches and lints `_smtp._tls.<domain>`.
pub fn check_domain(domain: &str, dns: &dyn TxtLookup) -> Vec<Finding> {
    let at = format!("_smtp._tls.{}", dns::norm(domain));
    let recs: Vec<Vec<u8>> = dns
        .txt(&at)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| is_tlsrpt(r))
        .collect();
    match recs.len() {
        0 => vec![finding(
            "tlsrpt-missing",
            Severity::Note,
            format!("no TLS-RPT record at {at}: you will not hear when senders fail TLS to you"),
            format!(
                "publish {at} TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@{}\"",
                dns::norm(domain)
            ),
        )],
        1 => lint_record(&recs[0]),
        n => vec![finding(
            "tlsrpt-multiple",
            Severity::Error,
            format!("{at} has {n} TLS-RPT records: senders ignore them all"),
            "keep one",
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lints() {
        assert!(
            lint_record(b"v=TLSRPTv1; rua=mailto:r@example.com,https://r.example.com/x").is_empty()
        );
        let ids = |s: &[u8]| lint_record(s).iter().map(|f| f.id).collect::<Vec<_>>();
        assert_eq!(ids(b"v=TLSRPTv1; rua=r@example.com"), ["tlsrpt-uri"]);
        assert_eq!(ids(b"v=TLSRPTv1"), ["tlsrpt-no-rua"]);
        assert_eq!(ids(b"rua=mailto:a@b.c; v=TLSRPTv1"), ["tlsrpt-version"]);
    }
}
