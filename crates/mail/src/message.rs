//! The message reader shared by signing and verifying: line ends made CRLF, the
//! header fields in order with their raw folding, the body. It takes any bytes
//! (8-bit data, bare LF, no body, a header without colon) and never fails: what is
//! not a header field is skipped, as verifiers do.

/// One header field: its name as written (for simple canonicalization), trimmed
/// (for matching), and its raw value after the colon, folding kept as CRLF.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub raw_name: Vec<u8>,
    pub value: Vec<u8>,
}

impl Field {
    /// The value unfolded and trimmed, as text (8-bit bytes replaced).
    pub fn text(&self) -> String {
        let v: Vec<u8> = self
            .value
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        String::from_utf8_lossy(&v).trim().to_string()
    }
}

/// A message as a verifier sees it.
#[derive(Clone, Debug, Default)]
pub struct Message {
    pub fields: Vec<Field>,
    /// The body, lines ending in CRLF.
    pub body: Vec<u8>,
}

impl Message {
    pub fn parse(raw: &[u8]) -> Message {
        let m = crlf(raw);
        let (head, body) = split(&m);
        Message {
            fields: parse_headers(head),
            body: body.to_vec(),
        }
    }

    /// The fields of one name, top to bottom.
    pub fn all<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a Field> + 'a {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }

    pub fn first(&self, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }

    /// The domains of the addresses in `From` (RFC 5322 §3.6.2), lowercased.
    pub fn from_domains(&self) -> Vec<String> {
        self.all("from")
            .flat_map(|f| address_domains(&f.text()))
            .collect()
    }
}

/// The domains of the addresses in an address list: `Name <a@b>`, `a@b (c)`,
/// groups; quoted local parts may hold `@` and `,`.
pub fn address_domains(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    let mut parts: Vec<String> = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted || depth > 0 => {
                chars.next();
            }
            '"' if depth == 0 => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            ',' | ';' | ':' if !quoted && depth == 0 => {
                // A group's name ends at ':'; addresses end at ',' or ';'.
                if c == ':' && !cur.contains('@') {
                    cur.clear();
                } else {
                    parts.push(std::mem::take(&mut cur));
                }
            }
            _ if depth == 0 && !quoted => cur.push(c),
            _ if quoted => cur.push(if c == '@' { ' ' } else { c }),
            _ => {}
        }
    }
    parts.push(cur);
    for p in parts {
        let addr = match (p.rfind('<'), p.rfind('>')) {
            (Some(a), Some(b)) if a < b => p[a + 1..b].to_string(),
            _ => p.clone(),
        };
        if let Some((_, d)) = addr.trim().rsplit_once('@') {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if !d.is_empty() && !d.contains(char::is_whitespace) {
                out.push(d);
            }
        }
    }
    out
}

/// Bare LF (as a milter hands folded headers, and as files often have) made CRLF.
pub fn crlf(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + m.len() / 32);
    // Whole lines at a time: most messages have no bare LF at all.
    let mut start = 0;
    for (i, _) in m.iter().enumerate().filter(|(_, b)| **b == b'\n') {
        if i == 0 || m[i - 1] != b'\r' {
            out.extend_from_slice(&m[start..i]);
            out.push(b'\r');
            start = i;
        }
    }
    out.extend_from_slice(&m[start..]);
    out
}

/// Header block and body, at the first empty line.
pub fn split(m: &[u8]) -> (&[u8], &[u8]) {
    if m.starts_with(b"\r\n") {
        return (&[], &m[2..]);
    }
    match m.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => (&m[..p + 2], &m[p + 4..]),
        None => (m, &[]),
    }
}

/// Header fields in order, with their raw folding.
pub fn parse_headers(h: &[u8]) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    for line in h.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(last) = out.last_mut() {
                last.value.extend_from_slice(b"\r\n");
                last.value.extend_from_slice(line);
            }
            continue;
        }
        if let Some(c) = line.iter().position(|&b| b == b':') {
            let raw_name = line[..c].to_vec();
            let name = String::from_utf8_lossy(&raw_name).trim().to_string();
            out.push(Field {
                name,
                raw_name,
                value: line[c + 1..].to_vec(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_folding_and_body() {
        let m = Message::parse(b"From: A <a@Example.COM>\nSubject: x\n y\nbad line\n\nbody\n");
        assert_eq!(m.fields.len(), 2);
        assert_eq!(m.first("subject").unwrap().value, b" x\r\n y");
        assert_eq!(m.first("SUBJECT").unwrap().text(), "x y");
        assert_eq!(m.body, b"body\r\n");
        assert_eq!(m.from_domains(), vec!["example.com"]);
        assert!(Message::parse(b"\n\nonly body").fields.is_empty());
        assert_eq!(Message::parse(b"From: a@b").body, b"");
        assert_eq!(crlf(b"\na\r\nb\nc\r\r\n\n"), b"\r\na\r\nb\r\nc\r\r\n\r\n");
    }

    #[test]
    fn address_lists() {
        assert_eq!(
            address_domains("\"x@evil, y\" <u@good.example>"),
            vec!["good.example"]
        );
        assert_eq!(
            address_domains("u@a.example (c@evil), v@b.example"),
            vec!["a.example", "b.example"]
        );
        assert_eq!(
            address_domains("team: a@x.example, b@y.example;"),
            vec!["x.example", "y.example"]
        );
        assert!(address_domains("undisclosed-recipients:;").is_empty());
        assert!(address_domains("no address").is_empty());
    }
}
