//! Typed findings: what the reader and the checks report.

use std::fmt;
use std::sync::Arc;

/// How bad a finding is. Errors reject the zone; warnings and notes do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Note,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// Where in the source a finding points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: Arc<str>,
    pub line: u32,
}

/// One thing the reader or a check found, with a stable id and a fix hint.
#[derive(Clone, Debug)]
pub struct Finding {
    /// Stable identifier, e.g. `out-of-zone`, `cname-and-other-data`.
    pub id: &'static str,
    pub severity: Severity,
    pub place: Option<Place>,
    /// What is wrong, in plain words.
    pub message: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    pub fn new(
        id: &'static str,
        severity: Severity,
        place: Option<Place>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            place,
            message: message.into(),
            fix: fix.into(),
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub fn line(&self) -> Option<u32> {
        self.place.as_ref().map(|p| p.line)
    }

    /// JSON object for `--format json`.
    pub fn to_json(&self) -> String {
        let mut s = String::from("{");
        s.push_str(&format!(
            "\"id\":{},\"severity\":\"{}\"",
            json_str(self.id),
            self.severity.as_str()
        ));
        match &self.place {
            Some(p) => s.push_str(&format!(
                ",\"file\":{},\"line\":{}",
                json_str(&p.file),
                p.line
            )),
            None => s.push_str(",\"file\":null,\"line\":null"),
        }
        s.push_str(&format!(
            ",\"message\":{},\"fix\":{}}}",
            json_str(&self.message),
            json_str(&self.fix)
        ));
        s
    }
}

/// Escapes a string as a JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.place {
            write!(f, "{}:{}: ", p.file, p.line)?;
        }
        write!(
            f,
            "{} [{}]: {}",
            self.severity.as_str(),
            self.id,
            self.message
        )?;
        if !self.fix.is_empty() {
            write!(f, "\n    fix: {}", self.fix)?;
        }
        Ok(())
    }
}
