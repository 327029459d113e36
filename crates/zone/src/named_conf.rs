//! BIND's `named.conf`, read as a tree of statements for `blason import bind`.
//!
//! The grammar is BIND's: a statement is words (bare or quoted), an optional
//! `{ ... }` block of statements, and a `;`. Comments are `//`, `#` and `/* */`.
//! `include "FILE";` is expanded where it stands (relative paths against the
//! including file's folder). What the statements mean is the importer's business;
//! this module only reads them faithfully, with the file and line of each, and
//! says where and why a file does not read. Hand-written: the grammar is small,
//! and no maintained crate reads it.
#![forbid(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A statement, or an element of a list inside a block (`127.0.0.1;`, `key x;`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// Its words, quotes removed (`zone "example.com" in` is three words).
    pub words: Vec<String>,
    /// What stands between its braces, if it has a block.
    pub block: Option<Vec<Statement>>,
    pub file: Arc<PathBuf>,
    pub line: u32,
}

impl Statement {
    /// The first word: the statement's keyword.
    pub fn keyword(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }
    /// The word after the keyword (a zone's or a key's name).
    pub fn arg(&self) -> Option<&str> {
        self.words.get(1).map(String::as_str)
    }
    /// The statements of its block (none without one).
    pub fn children(&self) -> &[Statement] {
        self.block.as_deref().unwrap_or(&[])
    }
    /// The first statement of its block with this keyword.
    pub fn child(&self, keyword: &str) -> Option<&Statement> {
        self.children().iter().find(|s| s.keyword() == keyword)
    }
    /// `file:line`, for messages.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Why a file does not read, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    pub file: PathBuf,
    pub line: u32,
    pub what: String,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.what)
    }
}

impl std::error::Error for ConfError {}

/// Largest file read (named.conf files are a few KiB).
const MAX_FILE: u64 = 16 << 20;
/// Deepest nesting of includes, and of blocks.
const MAX_DEPTH: usize = 32;

#[derive(Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Semi,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    line: u32,
}

impl Lexer<'_> {
    /// The next token and its line, None at the end.
    fn next(&mut self) -> Result<Option<(Tok, u32)>, (u32, String)> {
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Ok(None);
            };
            match c {
                b'\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                c if c.is_ascii_whitespace() => self.pos += 1,
                b'#' => self.skip_line(),
                b'/' if self.s.get(self.pos + 1) == Some(&b'/') => self.skip_line(),
                b'/' if self.s.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.line;
                    self.pos += 2;
                    loop {
                        match self.s.get(self.pos) {
                            None => return Err((start, "a /* comment is not closed".into())),
                            Some(b'*') if self.s.get(self.pos + 1) == Some(&b'/') => {
                                self.pos += 2;
                                break;
                            }
                            Some(b'\n') => {
                                self.line += 1;
                                self.pos += 1;
                            }
                            Some(_) => self.pos += 1,
                        }
                    }
                }
                b'{' | b'}' | b';' => {
                    self.pos += 1;
                    let t = match c {
                        b'{' => Tok::Open,
                        b'}' => Tok::Close,
                        _ => Tok::Semi,
                    };
                    return Ok(Some((t, self.line)));
                }
                b'"' => {
                    let start = self.line;
                    self.pos += 1;
                    let mut w = Vec::new();
                    loop {
                        match self.s.get(self.pos) {
                            None => return Err((start, "a quoted string is not closed".into())),
                            Some(b'"') => {
                                self.pos += 1;
                                break;
                            }
                            Some(b'\\') => {
                                if let Some(&n) = self.s.get(self.pos + 1) {
                                    if n == b'\n' {
                                        self.line += 1;
                                    }
                                    w.push(n);
                                }
                                self.pos += 2;
                            }
                            Some(&b) => {
                                if b == b'\n' {
                                    self.line += 1;
                                }
                                w.push(b);
                                self.pos += 1;
                            }
                        }
                    }
                    return Ok(Some((
                        Tok::Word(String::from_utf8_lossy(&w).into_owned()),
                        start,
                    )));
                }
                _ => {
                    let start = self.pos;
                    while let Some(&b) = self.s.get(self.pos) {
                        if b.is_ascii_whitespace() || matches!(b, b'{' | b'}' | b';' | b'"') {
                            break;
                        }
                        self.pos += 1;
                    }
                    let w = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
                    return Ok(Some((Tok::Word(w), self.line)));
                }
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(&b) = self.s.get(self.pos) {
            if b == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }
}

/// Reads the statements of `text` (from `file`, for messages), includes left as
/// they are.
pub fn parse_str(text: &str, file: &Path) -> Result<Vec<Statement>, ConfError> {
    let file = Arc::new(file.to_path_buf());
    let mut lx = Lexer {
        s: text.as_bytes(),
        pos: 0,
        line: 1,
    };
    let err = |line: u32, what: String| ConfError {
        file: file.to_path_buf(),
        line,
        what,
    };
    let (list, end) = statements(&mut lx, &file, 0).map_err(|(l, w)| err(l, w))?;
    if let Some(l) = end {
        return Err(err(l, "a } closes no block".into()));
    }
    Ok(list)
}

type Parsed = (Vec<Statement>, Option<u32>);

/// Statements up to a `}` (its line returned) or the end.
fn statements(lx: &mut Lexer, file: &Arc<PathBuf>, depth: usize) -> Result<Parsed, (u32, String)> {
    if depth > MAX_DEPTH {
        return Err((lx.line, format!("blocks nested deeper than {MAX_DEPTH}")));
    }
    let mut out = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut line = 0;
    let mut block: Option<Vec<Statement>> = None;
    loop {
        let Some((t, l)) = lx.next()? else {
            if !words.is_empty() || block.is_some() {
                return Err((line, "the last statement has no ; at its end".into()));
            }
            return Ok((out, None));
        };
        match t {
            Tok::Word(w) => {
                if block.is_some() {
                    return Err((l, format!("expected ; after }}, found {w:?}")));
                }
                if words.is_empty() {
                    line = l;
                }
                words.push(w);
            }
            Tok::Open => {
                if block.is_some() {
                    return Err((l, "expected ; after }, found {".into()));
                }
                if words.is_empty() {
                    line = l;
                }
                let (inner, end) = statements(lx, file, depth + 1)?;
                if end.is_none() {
                    return Err((l, "a { is not closed".into()));
                }
                block = Some(inner);
            }
            Tok::Semi => {
                if words.is_empty() && block.is_none() {
                    // A stray `;`: BIND refuses it too, but it harms nothing.
                    continue;
                }
                out.push(Statement {
                    words: std::mem::take(&mut words),
                    block: block.take(),
                    file: file.clone(),
                    line,
                });
            }
            Tok::Close => {
                if !words.is_empty() || block.is_some() {
                    return Err((line, "a statement before } has no ; at its end".into()));
                }
                return Ok((out, Some(l)));
            }
        }
    }
}

/// Reads `path` and every file it includes, includes expanded in place.
pub fn read(path: &Path) -> Result<Vec<Statement>, ConfError> {
    let mut seen = Vec::new();
    read_at(path, &mut seen, None)
}

fn read_at(
    path: &Path,
    seen: &mut Vec<PathBuf>,
    from: Option<&Statement>,
) -> Result<Vec<Statement>, ConfError> {
    let here = |what: String| match from {
        Some(s) => ConfError {
            file: s.file.to_path_buf(),
            line: s.line,
            what,
        },
        None => ConfError {
            file: path.to_path_buf(),
            line: 0,
            what,
        },
    };
    if seen.len() > MAX_DEPTH {
        return Err(here(format!("includes nested deeper than {MAX_DEPTH}")));
    }
    let canon = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    if seen.contains(&canon) {
        return Err(here(format!("{} includes itself", path.display())));
    }
    let meta = std::fs::metadata(path)
        .map_err(|e| here(format!("cannot read {}: {e}", path.display())))?;
    if meta.len() > MAX_FILE {
        return Err(here(format!(
            "{} is over {} MiB",
            path.display(),
            MAX_FILE >> 20
        )));
    }
    let bytes =
        std::fs::read(path).map_err(|e| here(format!("cannot read {}: {e}", path.display())))?;
    let text = String::from_utf8_lossy(&bytes);
    let list = parse_str(&text, path)?;
    seen.push(canon);
    let dir = path.parent().unwrap_or(Path::new("."));
    let out = expand(list, dir, seen)?;
    seen.pop();
    Ok(out)
}

fn expand(
    list: Vec<Statement>,
    dir: &Path,
    seen: &mut Vec<PathBuf>,
) -> Result<Vec<Statement>, ConfError> {
    let mut out = Vec::with_capacity(list.len());
    for mut s in list {
        if s.keyword() == "include" && s.block.is_none() {
            let Some(f) = s.arg() else {
                return Err(ConfError {
                    file: s.file.to_path_buf(),
                    line: s.line,
                    what: "include needs a file name".into(),
                });
            };
            let p = Path::new(f);
            let p = if p.is_absolute() {
                p.to_path_buf()
            } else {
                dir.join(p)
            };
            out.extend(read_at(&p, seen, Some(&s))?);
            continue;
        }
        if let Some(b) = s.block.take() {
            s.block = Some(expand(b, dir, seen)?);
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_blocks_comments_and_strings_read_as_bind_writes_them() {
        let text = r#"
// a comment
options {
    directory "/var/cache/bind";   # another
    listen-on port 5353 { 127.0.0.1; !10.0.0.1; { 192.0.2.0/24; }; };
    /* a block
       comment */
};
key "k1" { algorithm hmac-sha256; secret "c2VjcmV0"; };
zone "example.com" IN { type primary; file "db.\"x\""; update-policy { grant k1 zonesub ANY; }; };
"#;
        let s = parse_str(text, Path::new("named.conf")).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].keyword(), "options");
        assert_eq!(s[0].line, 3);
        let listen = s[0].child("listen-on").unwrap();
        assert_eq!(listen.words, ["listen-on", "port", "5353"]);
        assert_eq!(listen.children().len(), 3);
        assert_eq!(listen.children()[1].words, ["!10.0.0.1"]);
        assert!(listen.children()[2].words.is_empty() && listen.children()[2].block.is_some());
        assert_eq!(s[2].words, ["zone", "example.com", "IN"]);
        assert_eq!(s[2].child("file").unwrap().arg(), Some("db.\"x\""));
        assert_eq!(s[2].line, 10);
    }

    #[test]
    fn broken_files_say_where() {
        for (text, line, what) in [
            ("options { directory \"x\" }", 1, "no ;"),
            ("zone \"a\" {\n type primary;\n", 1, "not closed"),
            ("key \"k\" { secret \"abc; };\n", 1, "not closed"),
            ("/* open\n", 1, "not closed"),
            ("};", 1, "closes no block"),
            ("zone a { } b;", 1, "expected ;"),
        ] {
            let e = parse_str(text, Path::new("f.conf")).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.what.contains(what), "{text}: {e}");
        }
    }

    #[test]
    fn includes_expand_in_place_and_loops_are_refused() {
        let d = std::env::temp_dir().join(format!("blason-namedconf-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(
            d.join("named.conf"),
            "include \"sub/keys.conf\";\nzone \"a\" { type primary; file \"a.db\"; };\n",
        )
        .unwrap();
        std::fs::write(
            d.join("sub/keys.conf"),
            "key \"k\" { algorithm hmac-sha256; secret \"AA==\"; };\n",
        )
        .unwrap();
        let s = read(&d.join("named.conf")).unwrap();
        assert_eq!(
            s.iter().map(Statement::keyword).collect::<Vec<_>>(),
            ["key", "zone"]
        );
        assert!(s[0].file.ends_with("sub/keys.conf"));
        std::fs::write(d.join("loop.conf"), "include \"loop.conf\";\n").unwrap();
        let e = read(&d.join("loop.conf")).unwrap_err();
        assert!(e.what.contains("includes itself"), "{e}");
        let e = read(&d.join("missing.conf")).unwrap_err();
        assert!(e.what.contains("cannot read"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
