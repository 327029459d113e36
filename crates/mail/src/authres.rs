//! Results as RFC 8601 names them, and the `Authentication-Results` header field
//! built from them.

use std::fmt;

/// A result of one method (RFC 8601 §2.7, RFC 7208 §2.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    None,
    Policy,
    TempError,
    PermError,
}

impl AuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthResult::Pass => "pass",
            AuthResult::Fail => "fail",
            AuthResult::SoftFail => "softfail",
            AuthResult::Neutral => "neutral",
            AuthResult::None => "none",
            AuthResult::Policy => "policy",
            AuthResult::TempError => "temperror",
            AuthResult::PermError => "permerror",
        }
    }
}

impl fmt::Display for AuthResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `method=result` with its properties (`smtp.mailfrom=...`) and a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MethodResult {
    pub method: &'static str,
    pub result: AuthResult,
    pub reason: Option<String>,
    pub props: Vec<(String, String)>,
}

/// Makes a property value safe to write bare or quoted (RFC 8601 §2.2 `value`).
fn prop_value(v: &str) -> String {
    // A token, or an address (`pvalue` allows '@' bare).
    let bare = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>,;:\\\"/[]?=".contains(&b));
    if bare {
        v.to_string()
    } else {
        format!(
            "\"{}\"",
            v.replace(['\\', '"'], "").replace(['\r', '\n'], " ")
        )
    }
}

/// The value of an `Authentication-Results` field (without the name).
pub fn header_value(authserv_id: &str, results: &[MethodResult]) -> String {
    let mut s = authserv_id.to_string();
    if results.is_empty() {
        s.push_str("; none");
        return s;
    }
    for r in results {
        s.push_str(&format!(";\r\n\t{}={}", r.method, r.result));
        if let Some(why) = &r.reason {
            s.push_str(&format!(" reason={}", prop_value(why)));
        }
        for (k, v) in &r.props {
            s.push_str(&format!(" {k}={}", prop_value(v)));
        }
    }
    s
}

/// The authserv-id of an `Authentication-Results` value: its first token, with
/// comments and a version skipped (RFC 8601 §2.2).
pub fn authserv_id(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            ';' => break,
            c if c.is_whitespace() => {
                if !out.is_empty() {
                    break;
                }
            }
            c => out.push(c),
        }
    }
    out.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_authserv_id() {
        let v = header_value(
            "mx.example.org",
            &[
                MethodResult {
                    method: "spf",
                    result: AuthResult::Pass,
                    reason: None,
                    props: vec![("smtp.mailfrom".into(), "a@example.com".into())],
                },
                MethodResult {
                    method: "dkim",
                    result: AuthResult::Fail,
                    reason: Some("body hash \"x\"".into()),
                    props: vec![("header.d".into(), "example.com".into())],
                },
            ],
        );
        assert_eq!(v, "mx.example.org;\r\n\tspf=pass smtp.mailfrom=a@example.com;\r\n\tdkim=fail reason=\"body hash x\" header.d=example.com");
        assert_eq!(
            authserv_id(b" (c) MX.example.org 1; spf=pass"),
            "mx.example.org"
        );
        assert_eq!(authserv_id(b"mx.example.org;spf=pass"), "mx.example.org");
        assert_eq!(header_value("a", &[]), "a; none");
    }
}
