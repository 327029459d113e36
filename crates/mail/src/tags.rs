//! Tag-value lists (RFC 6376 §3.2), shared by DKIM, DMARC, BIMI, MTA-STS and TLS-RPT.

/// One `name=value` pair, trimmed of surrounding whitespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub value: String,
}

/// Why a tag list did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TagError {
    /// Not valid UTF-8 (the records are ASCII).
    NotText,
    /// A part without `=`.
    NoEquals(String),
    /// A tag name that is not ALPHA *(ALPHA / DIGIT / "_").
    BadName(String),
    /// A value with characters outside %x21-3A / %x3C-7E and folding whitespace.
    BadValue(String),
}

impl std::fmt::Display for TagError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TagError::NotText => write!(f, "the record is not ASCII text"),
            TagError::NoEquals(p) => write!(f, "'{p}' is not a tag=value pair"),
            TagError::BadName(n) => write!(f, "'{n}' is not a valid tag name"),
            TagError::BadValue(v) => write!(f, "tag value '{v}' has characters not allowed"),
        }
    }
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits a tag list. Empty parts (`;;`, a trailing `;`) are allowed and dropped.
pub fn parse(bytes: &[u8]) -> Result<Vec<Tag>, TagError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TagError::NotText)?;
    let mut out = Vec::new();
    for part in text.split(';') {
        if part.trim_matches(is_ws).is_empty() {
            continue;
        }
        let Some((n, v)) = part.split_once('=') else {
            return Err(TagError::NoEquals(part.trim_matches(is_ws).to_string()));
        };
        let name = n.trim_matches(is_ws);
        let mut chars = name.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(TagError::BadName(name.to_string()));
        }
        let value = v.trim_matches(is_ws);
        if !value
            .chars()
            .all(|c| is_ws(c) || (('\x21'..='\x7e').contains(&c) && c != ';'))
        {
            return Err(TagError::BadValue(value.to_string()));
        }
        out.push(Tag {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    Ok(out)
}

/// Names that occur more than once, each reported once.
pub fn duplicates(tags: &[Tag]) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut dup: Vec<String> = Vec::new();
    for t in tags {
        let n = t.name.to_ascii_lowercase();
        if seen.contains(&n) {
            if !dup.contains(&n) {
                dup.push(n);
            }
        } else {
            seen.push(n);
        }
    }
    dup
}

/// The first tag with this name (case-insensitive).
pub fn get<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.name.eq_ignore_ascii_case(name))
        .map(|t| t.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let t = parse(b"v=DKIM1; k=rsa;\r\n p=AB CD;").unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(get(&t, "P"), Some("AB CD"));
        assert_eq!(
            parse(b"v=DKIM1; bogus"),
            Err(TagError::NoEquals("bogus".into()))
        );
        assert!(matches!(parse(b"1v=x"), Err(TagError::BadName(_))));
        assert!(matches!(parse(b"v=\x01"), Err(TagError::BadValue(_))));
        assert!(matches!(parse(b"\xff"), Err(TagError::NotText)));
        assert_eq!(duplicates(&parse(b"p=a;P=b;p=c").unwrap()), vec!["p"]);
    }
}
