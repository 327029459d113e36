//! The zone-file scanner: RFC 1035 §5 master files with BIND's extensions.
//!
//! Written here rather than taken from `domain`'s `zonefile` module: that module is
//! experimental, has no `$GENERATE`, rejects LOC, URI and CERT, and leaves `$INCLUDE` to
//! the caller. A zero-copy lexer over the whole file, with rdata codecs driven by one
//! table per type, keeps line numbers for every finding and reads a million-name zone
//! in about a second.

use crate::finding::{Finding, Place, Severity};
use crate::name::{parse_name_into, Name};
use crate::rdata::{parse_num, parse_rdata, parse_ttl, Tok};
use crate::types::{Class, Rtype};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Src {
    /// Index into [`Parsed::files`].
    pub file: u32,
    pub line: u32,
}

/// One record as read: a view into [`Records`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Owner in uncompressed wire form, case as written.
    pub owner: &'a [u8],
    pub ttl: u32,
    pub rtype: Rtype,
    /// Rdata in uncompressed wire form.
    pub rdata: &'a [u8],
    pub src: Src,
}

impl Record<'_> {
    /// The owner as a [`Name`].
    pub fn owner_name(&self) -> Name {
        Name::from_wire_unchecked(self.owner)
    }
}

/// Compact storage of what was read: owners and rdata live in two arenas, so a
/// two-million-record file costs a few allocations, not millions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rec {
    pub name_off: u32,
    pub name_len: u8,
    pub rtype: Rtype,
    pub ttl: u32,
    pub data_off: u32,
    pub data_len: u16,
    pub src: Src,
}

/// Records in file order.
#[derive(Debug, Default)]
pub struct Records {
    names: Vec<u8>,
    data: Vec<u8>,
    pub(crate) recs: Vec<Rec>,
    last_name: Option<(u32, u8)>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.recs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }
    pub fn get(&self, i: usize) -> Record<'_> {
        self.view(&self.recs[i])
    }
    pub fn iter(&self) -> impl Iterator<Item = Record<'_>> {
        self.recs.iter().map(|r| self.view(r))
    }
    pub(crate) fn view(&self, r: &Rec) -> Record<'_> {
        Record {
            owner: &self.names[r.name_off as usize..r.name_off as usize + r.name_len as usize],
            ttl: r.ttl,
            rtype: r.rtype,
            rdata: &self.data[r.data_off as usize..r.data_off as usize + r.data_len as usize],
            src: r.src,
        }
    }
    pub(crate) fn push(
        &mut self,
        owner: &Name,
        ttl: u32,
        rtype: Rtype,
        rdata: &[u8],
        src: Src,
    ) -> bool {
        let w = owner.as_wire();
        let (name_off, name_len) = match self.last_name {
            Some((o, l)) if &self.names[o as usize..o as usize + l as usize] == w => (o, l),
            _ => {
                let o = self.names.len() as u32;
                self.names.extend_from_slice(w);
                self.last_name = Some((o, w.len() as u8));
                (o, w.len() as u8)
            }
        };
        if self.data.len() + rdata.len() > u32::MAX as usize || self.names.len() > u32::MAX as usize
        {
            return false;
        }
        let data_off = self.data.len() as u32;
        self.data.extend_from_slice(rdata);
        self.recs.push(Rec {
            name_off,
            name_len,
            rtype,
            ttl,
            data_off,
            data_len: rdata.len() as u16,
            src,
        });
        true
    }
}

/// Limits that protect the reader from hostile input.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Deepest `$INCLUDE` nesting.
    pub max_include_depth: usize,
    /// Most records one `$GENERATE` may produce.
    pub max_generate: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            max_include_depth: 20,
            max_generate: 10_000_000,
        }
    }
}

/// The result of reading: records in file order, the files read, and findings.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Records,
    pub files: Vec<Arc<str>>,
    pub findings: Vec<Finding>,
}

impl Parsed {
    pub fn place(&self, src: Src) -> Place {
        Place {
            file: self.files[src.file as usize].clone(),
            line: src.line,
        }
    }
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.is_error())
    }
}

/// Reads the zone file at `path` for `origin`. Fails only if the top file cannot be
/// read; everything else is a finding.
pub fn read_file(
    origin: &Name,
    class: Class,
    path: &Path,
    opts: &ReadOptions,
) -> std::io::Result<Parsed> {
    let data = std::fs::read(path)?;
    let display = path.display().to_string();
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut r = Reader::new(origin, class, opts);
    let canon = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    r.stack.push(canon);
    r.read_buf(&data, &display, &base, origin.clone(), None);
    Ok(r.finish())
}

/// Reads zone text held in memory; `display` names it in findings, `$INCLUDE`
/// resolves from the working folder.
pub fn read_bytes(
    origin: &Name,
    class: Class,
    data: &[u8],
    display: &str,
    opts: &ReadOptions,
) -> Parsed {
    let mut r = Reader::new(origin, class, opts);
    r.read_buf(data, display, Path::new(""), origin.clone(), None);
    r.finish()
}

struct TtlState {
    /// `$TTL` value, if one was given.
    default: Option<u32>,
    /// TTL of the previous record, if known (RFC 1035 semantics).
    last: Option<u32>,
}

struct Reader<'o> {
    class: Class,
    opts: &'o ReadOptions,
    out: Parsed,
    ttl: TtlState,
    /// Canonical paths of the files being read, for include-loop detection.
    stack: Vec<PathBuf>,
    rdata_buf: Vec<u8>,
    name_buf: Vec<u8>,
    /// TTL of each type seen for the current owner, in the current run of lines:
    /// BIND corrects a differing TTL inside such a run to the first one, and the
    /// corrected value becomes the TTL later lines inherit.
    block: Vec<(Rtype, u16, u32)>,
    block_owner: Option<Name>,
}

/// One logical entry (a line, or several joined by parentheses).
struct Entry<'a> {
    line: u32,
    initial_ws: bool,
    toks: Vec<Tok<'a>>,
    /// Line of each token, for findings that point inside multi-line entries.
    lines: Vec<u32>,
}

struct Lexer<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u32,
    spare_toks: Vec<Tok<'a>>,
    spare_lines: Vec<u32>,
}

enum Lexed<'a> {
    Entry(Entry<'a>),
    Error {
        line: u32,
        message: String,
        fix: &'static str,
    },
}

impl<'a> Lexer<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Lexer {
            buf,
            pos: 0,
            line: 1,
            spare_toks: Vec::new(),
            spare_lines: Vec::new(),
        }
    }

    /// Hands an entry's vectors back for the next entry: no allocation per line.
    fn recycle(&mut self, e: Entry<'a>) {
        self.spare_toks = e.toks;
        self.spare_lines = e.lines;
    }

    /// Returns the next non-empty entry, or `None` at the end of the input.
    fn next_entry(&mut self) -> Option<Lexed<'a>> {
        let b = self.buf;
        loop {
            if self.pos >= b.len() {
                return None;
            }
            let start_line = self.line;
            let initial_ws = matches!(b[self.pos], b' ' | b'\t');
            // Reuse the vectors of the previous entry (see `recycle`).
            let mut e = Entry {
                line: start_line,
                initial_ws,
                toks: std::mem::take(&mut self.spare_toks),
                lines: std::mem::take(&mut self.spare_lines),
            };
            e.toks.clear();
            e.lines.clear();
            let mut depth = 0u32;
            let mut paren_line = 0;
            while self.pos < b.len() {
                let c = b[self.pos];
                match c {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        while self.pos < b.len() && b[self.pos] != b'\n' {
                            self.pos += 1;
                        }
                    }
                    b'(' => {
                        if depth == 0 {
                            paren_line = self.line;
                        }
                        depth += 1;
                        self.pos += 1;
                    }
                    b')' => {
                        if depth == 0 {
                            let line = self.line;
                            self.skip_line();
                            return Some(Lexed::Error {
                                line,
                                message: "')' without a matching '('".into(),
                                fix: "remove the ')' or add the missing '('",
                            });
                        }
                        depth -= 1;
                        self.pos += 1;
                    }
                    b'"' => {
                        let start = self.pos + 1;
                        let mut i = start;
                        while i < b.len() && b[i] != b'"' {
                            if b[i] == b'\\' {
                                i += 1;
                            }
                            if i < b.len() && b[i] == b'\n' {
                                let line = self.line;
                                self.pos = i;
                                self.skip_line();
                                return Some(Lexed::Error {
                                    line,
                                    message: "quoted string runs past the end of the line".into(),
                                    fix: "close the string with '\"' on the same line",
                                });
                            }
                            i += 1;
                        }
                        if i >= b.len() {
                            let line = self.line;
                            self.pos = b.len();
                            return Some(Lexed::Error {
                                line,
                                message: "quoted string is never closed".into(),
                                fix: "close the string with '\"'",
                            });
                        }
                        e.toks.push(Tok {
                            text: &b[start..i],
                            quoted: true,
                        });
                        e.lines.push(self.line);
                        self.pos = i + 1;
                    }
                    _ => {
                        let start = self.pos;
                        let mut i = start;
                        while i < b.len() {
                            match b[i] {
                                b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b'"' | b';' => break,
                                b'\\' => {
                                    i += 1;
                                    if i < b.len() && b[i] == b'\n' {
                                        // An escaped newline stays inside the token, as in BIND.
                                        self.line += 1;
                                    }
                                    i += 1;
                                }
                                _ => i += 1,
                            }
                        }
                        let i = i.min(b.len());
                        if e.toks.is_empty() {
                            e.line = self.line;
                        }
                        e.toks.push(Tok {
                            text: &b[start..i],
                            quoted: false,
                        });
                        e.lines.push(self.line);
                        self.pos = i;
                    }
                }
            }
            if depth > 0 {
                return Some(Lexed::Error {
                    line: paren_line,
                    message: "'(' is never closed".into(),
                    fix: "add the missing ')'",
                });
            }
            if !e.toks.is_empty() {
                if e.toks.len() == 1 || e.line != start_line {
                    e.line = e.lines[0];
                }
                return Some(Lexed::Entry(e));
            }
        }
    }

    fn skip_line(&mut self) {
        while self.pos < self.buf.len() && self.buf[self.pos] != b'\n' {
            self.pos += 1;
        }
    }
}

fn text(t: &[u8]) -> String {
    String::from_utf8_lossy(t).into_owned()
}

impl<'o> Reader<'o> {
    fn new(_origin: &Name, class: Class, opts: &'o ReadOptions) -> Self {
        Reader {
            class,
            opts,
            out: Parsed::default(),
            ttl: TtlState {
                default: None,
                last: None,
            },
            stack: Vec::new(),
            rdata_buf: Vec::with_capacity(512),
            name_buf: Vec::with_capacity(256),
            block: Vec::new(),
            block_owner: None,
        }
    }

    fn finish(self) -> Parsed {
        self.out
    }

    fn finding(
        &mut self,
        file: u32,
        line: u32,
        id: &'static str,
        sev: Severity,
        msg: String,
        fix: &str,
    ) {
        let place = Place {
            file: self.out.files[file as usize].clone(),
            line,
        };
        self.out
            .findings
            .push(Finding::new(id, sev, Some(place), msg, fix));
    }

    /// Reads one file's text. `owner` starts as the including file's current owner
    /// (BIND lets an included file's first record inherit it) and is restored after.
    fn read_buf(
        &mut self,
        data: &[u8],
        display: &str,
        base: &Path,
        origin: Name,
        owner: Option<Name>,
    ) {
        let file = self.out.files.len() as u32;
        self.out.files.push(Arc::from(display));
        let mut origin = origin;
        let mut owner = owner;
        let mut lx = Lexer::new(data);
        while let Some(l) = lx.next_entry() {
            let e = match l {
                Lexed::Error { line, message, fix } => {
                    self.finding(file, line, "syntax", Severity::Error, message, fix);
                    continue;
                }
                Lexed::Entry(e) => e,
            };
            let first = e.toks[0];
            if !e.initial_ws && !first.quoted && first.text.first() == Some(&b'$') {
                self.directive(file, &e, base, &mut origin, &mut owner);
                self.block.clear();
            } else {
                self.record_entry(file, &e, &origin, &mut owner);
            }
            lx.recycle(e);
        }
    }

    fn parse_owner(&mut self, t: Tok, origin: &Name) -> Result<Name, String> {
        let mut cur = None;
        self.set_owner(t, origin, &mut cur)?;
        cur.ok_or_else(|| "bad owner name".to_string())
    }

    /// Parses an owner name into `current`, leaving it untouched (no allocation) when
    /// the line repeats the previous owner byte for byte, as most lines do.
    fn set_owner(
        &mut self,
        t: Tok,
        origin: &Name,
        current: &mut Option<Name>,
    ) -> Result<(), String> {
        if t.text == b"@" && !t.quoted {
            *current = Some(origin.clone());
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.name_buf);
        buf.clear();
        let r = Self::owner_wire(t, origin, &mut buf).and_then(|_| {
            if current
                .as_ref()
                .is_some_and(|c| c.as_wire() == buf.as_slice())
            {
                return Ok(());
            }
            *current = Some(Name::from_wire(&buf).map_err(|e| e.to_string())?);
            Ok(())
        });
        self.name_buf = buf;
        r
    }

    fn owner_wire(t: Tok, origin: &Name, buf: &mut Vec<u8>) -> Result<(), String> {
        let abs = parse_name_into(t.text, buf)
            .map_err(|e| format!("bad owner name '{}': {}", text(t.text), e))?;
        if !abs {
            buf.extend_from_slice(origin.as_wire());
            if buf.len() > 255 {
                return Err(format!(
                    "owner name '{}' is longer than 255 octets with the origin",
                    text(t.text)
                ));
            }
        }
        Ok(())
    }

    fn record_entry(&mut self, file: u32, e: &Entry, origin: &Name, owner: &mut Option<Name>) {
        let mut i = 0;
        if !e.initial_ws {
            match self.set_owner(e.toks[0], origin, owner) {
                Ok(()) => {}
                Err(m) => {
                    *owner = None;
                    return self.finding(file, e.line, "bad-name", Severity::Error, m, "fix the owner name: labels of at most 63 octets, 255 in all, escapes as \\X or \\DDD");
                }
            }
            i = 1;
        }
        let own = match owner {
            Some(o) => o,
            None => {
                return self.finding(file, e.line, "no-owner", Severity::Error, "record has no owner name (the line starts with white space and no record came before it)".into(), "put the owner name at the start of the line");
            }
        };
        let (ttl, class, rtype, used) = match self.ttl_class_type(&e.toks[i..]) {
            Ok(v) => v,
            Err(m) => {
                return self.finding(
                    file,
                    e.line,
                    "syntax",
                    Severity::Error,
                    m,
                    "write records as: owner [TTL] [class] type rdata",
                )
            }
        };
        let toks = &e.toks[i + used..];
        self.add_record(file, e.line, own, ttl, class, rtype, toks, origin);
    }

    /// Reads the optional TTL and class (either order) and the type.
    fn ttl_class_type(
        &self,
        toks: &[Tok],
    ) -> Result<(Option<u32>, Option<Class>, Rtype, usize), String> {
        let mut ttl = None;
        let mut class = None;
        let mut i = 0;
        while i < toks.len() && i < 2 {
            let t = toks[i].text;
            if class.is_none() && !toks[i].quoted {
                if let Some(c) = Class::parse(t) {
                    class = Some(c);
                    i += 1;
                    continue;
                }
            }
            if ttl.is_none() && t.first().is_some_and(u8::is_ascii_digit) {
                match parse_ttl(t) {
                    Some(v) => {
                        ttl = Some(v);
                        i += 1;
                        continue;
                    }
                    None => return Err(format!("bad TTL '{}'", text(t))),
                }
            }
            break;
        }
        let t = toks
            .get(i)
            .ok_or_else(|| "record has no type".to_string())?;
        let rtype = Rtype::parse(t.text)
            .ok_or_else(|| format!("unknown record type '{}'", text(t.text)))?;
        Ok((ttl, class, rtype, i + 1))
    }

    #[allow(clippy::too_many_arguments)]
    fn add_record(
        &mut self,
        file: u32,
        line: u32,
        owner: &Name,
        ttl: Option<u32>,
        class: Option<Class>,
        rtype: Rtype,
        toks: &[Tok],
        origin: &Name,
    ) {
        if let Some(c) = class {
            if c != self.class {
                return self.finding(
                    file,
                    line,
                    "class-mismatch",
                    Severity::Error,
                    format!("class {} does not match the zone's class {}", c, self.class),
                    "remove the class or use the zone's class",
                );
            }
        }
        if rtype.is_meta() {
            return self.finding(
                file,
                line,
                "meta-type",
                Severity::Error,
                format!("{} is a query type and cannot appear in a zone", rtype),
                "remove the record",
            );
        }
        self.rdata_buf.clear();
        if let Err(e) = parse_rdata(rtype, toks, origin, &mut self.rdata_buf) {
            return self.finding(
                file,
                line,
                "bad-rdata",
                Severity::Error,
                format!("bad {} record: {}", rtype, e),
                "correct the record data to the type's presentation format",
            );
        }
        let explicit_ttl = ttl.is_some();
        let ttl = match ttl {
            Some(mut v) => {
                if v > 0x7fff_ffff {
                    self.finding(
                        file,
                        line,
                        "ttl-too-large",
                        Severity::Warning,
                        format!("TTL {} is above 2^31-1; it is taken as 0 (RFC 2181 §8)", v),
                        "use a TTL below 2147483648",
                    );
                    v = 0;
                }
                self.ttl.last = Some(v);
                v
            }
            None => {
                match (self.ttl.default, self.ttl.last) {
                    (Some(d), _) => d,
                    (None, Some(l)) => l,
                    (None, None) => {
                        if rtype == Rtype::SOA && self.rdata_buf.len() >= 4 {
                            let n = self.rdata_buf.len();
                            let min = u32::from_be_bytes([
                                self.rdata_buf[n - 4],
                                self.rdata_buf[n - 3],
                                self.rdata_buf[n - 2],
                                self.rdata_buf[n - 1],
                            ]);
                            self.finding(file, line, "no-ttl", Severity::Warning, format!("no TTL given and no $TTL: using the SOA minimum ({}) as BIND does", min), "add '$TTL 1h' (or your choice) at the top of the file");
                            self.ttl.last = Some(min);
                            min
                        } else {
                            return self.finding(file, line, "no-ttl", Severity::Error, "no TTL given, no $TTL before this record and no previous TTL to inherit".into(), "add '$TTL 1h' (or your choice) at the top of the file");
                        }
                    }
                }
            }
        };
        // Without $TTL, an SOA that gives no TTL makes its minimum the default for the
        // records after it that give none (BIND's masterfile test), rather than the
        // last explicit TTL; an SOA with a TTL of its own leaves RFC 1035's rule.
        if rtype == Rtype::SOA
            && !explicit_ttl
            && self.ttl.default.is_none()
            && self.rdata_buf.len() >= 4
        {
            let n = self.rdata_buf.len();
            self.ttl.default = Some(u32::from_be_bytes([
                self.rdata_buf[n - 4],
                self.rdata_buf[n - 3],
                self.rdata_buf[n - 2],
                self.rdata_buf[n - 1],
            ]));
        }
        let mut ttl = ttl;
        if self.block_owner.as_ref() != Some(owner) {
            self.block.clear();
            self.block_owner = Some(owner.clone());
        }
        // RRSIGs form one RRset per covered type.
        let covers = match (rtype, self.rdata_buf.get(..2)) {
            (Rtype::RRSIG, Some(c)) => u16::from_be_bytes([c[0], c[1]]),
            _ => 0,
        };
        match self
            .block
            .iter()
            .find(|(t, c, _)| *t == rtype && *c == covers)
        {
            Some(&(_, _, prior)) if prior != ttl => {
                self.finding(file, line, "ttl-mismatch", Severity::Warning, format!("{} {} has TTL {} but the record before it in this RRset has {}; an RRset has one TTL (RFC 2181 §5.2), so {} is used", owner, rtype, ttl, prior, prior), "give every record of the RRset the same TTL");
                ttl = prior;
                self.ttl.last = Some(prior);
            }
            Some(_) => {}
            None => self.block.push((rtype, covers, ttl)),
        }
        if !self
            .out
            .records
            .push(owner, ttl, rtype, &self.rdata_buf, Src { file, line })
        {
            self.finding(
                file,
                line,
                "too-large",
                Severity::Error,
                "the zone is larger than 4 GiB of record data".into(),
                "split the zone",
            );
        }
    }

    fn directive(
        &mut self,
        file: u32,
        e: &Entry,
        base: &Path,
        origin: &mut Name,
        owner: &mut Option<Name>,
    ) {
        let d = e.toks[0].text;
        let args = &e.toks[1..];
        if d.eq_ignore_ascii_case(b"$ORIGIN") {
            let Some(t) = args.first() else {
                return self.finding(
                    file,
                    e.line,
                    "syntax",
                    Severity::Error,
                    "$ORIGIN needs a name".into(),
                    "write '$ORIGIN example.com.'",
                );
            };
            match self.parse_owner(*t, origin) {
                Ok(n) => *origin = n,
                Err(m) => self.finding(
                    file,
                    e.line,
                    "bad-name",
                    Severity::Error,
                    m,
                    "give $ORIGIN a valid name, ending in a dot",
                ),
            }
            if args.len() > 1 {
                self.finding(
                    file,
                    e.line,
                    "syntax",
                    Severity::Error,
                    "extra text after $ORIGIN name".into(),
                    "remove it",
                );
            }
        } else if d.eq_ignore_ascii_case(b"$TTL") {
            let v = args.first().and_then(|t| parse_ttl(t.text));
            match v {
                Some(mut v) => {
                    if v > 0x7fff_ffff {
                        self.finding(
                            file,
                            e.line,
                            "ttl-too-large",
                            Severity::Warning,
                            format!("$TTL {} is above 2^31-1; it is taken as 0", v),
                            "use a TTL below 2147483648",
                        );
                        v = 0;
                    }
                    self.ttl.default = Some(v);
                }
                None => self.finding(
                    file,
                    e.line,
                    "bad-ttl",
                    Severity::Error,
                    "$TTL needs a TTL such as 3600 or 1h".into(),
                    "write '$TTL 1h'",
                ),
            }
            if args.len() > 1 {
                self.finding(
                    file,
                    e.line,
                    "syntax",
                    Severity::Error,
                    "extra text after $TTL value".into(),
                    "remove it",
                );
            }
        } else if d.eq_ignore_ascii_case(b"$INCLUDE") {
            self.include(file, e, base, origin, owner.clone());
        } else if d.eq_ignore_ascii_case(b"$GENERATE") {
            self.generate(file, e, origin, owner);
        } else {
            self.finding(
                file,
                e.line,
                "unknown-directive",
                Severity::Error,
                format!("unknown directive '{}'", text(d)),
                "use $ORIGIN, $TTL, $INCLUDE or $GENERATE",
            );
        }
    }

    fn include(&mut self, file: u32, e: &Entry, base: &Path, origin: &Name, owner: Option<Name>) {
        let args = &e.toks[1..];
        let Some(path_tok) = args.first() else {
            return self.finding(
                file,
                e.line,
                "syntax",
                Severity::Error,
                "$INCLUDE needs a file name".into(),
                "write '$INCLUDE file [origin]'",
            );
        };
        let inc_origin = match args.get(1) {
            Some(t) => match self.parse_owner(*t, origin) {
                Ok(n) => n,
                Err(m) => {
                    return self.finding(
                        file,
                        e.line,
                        "bad-name",
                        Severity::Error,
                        m,
                        "give $INCLUDE a valid origin",
                    )
                }
            },
            None => origin.clone(),
        };
        if args.len() > 2 {
            return self.finding(
                file,
                e.line,
                "syntax",
                Severity::Error,
                "extra text after $INCLUDE file and origin".into(),
                "remove it",
            );
        }
        let mut raw = Vec::new();
        if crate::rdata::unescape(path_tok.text, &mut raw).is_err() {
            return self.finding(
                file,
                e.line,
                "syntax",
                Severity::Error,
                "bad escape in $INCLUDE file name".into(),
                "",
            );
        }
        let rel = PathBuf::from(String::from_utf8_lossy(&raw).into_owned());
        // The including file's folder first, then the working folder.
        let candidates = if rel.is_absolute() {
            vec![rel.clone()]
        } else {
            vec![base.join(&rel), rel.clone()]
        };
        let Some(path) = candidates.into_iter().find(|p| p.is_file()) else {
            return self.finding(file, e.line, "include-missing", Severity::Error, format!("$INCLUDE file '{}' not found (looked beside the including file and in the working folder)", rel.display()), "fix the path or create the file");
        };
        if self.stack.len() > self.opts.max_include_depth {
            return self.finding(
                file,
                e.line,
                "include-depth",
                Severity::Error,
                format!(
                    "$INCLUDE nested deeper than {}",
                    self.opts.max_include_depth
                ),
                "flatten the includes",
            );
        }
        let canon = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if self.stack.contains(&canon) {
            return self.finding(
                file,
                e.line,
                "include-loop",
                Severity::Error,
                format!(
                    "$INCLUDE of '{}' loops back to a file already being read",
                    rel.display()
                ),
                "remove the circular $INCLUDE",
            );
        }
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(err) => {
                return self.finding(
                    file,
                    e.line,
                    "include-unreadable",
                    Severity::Error,
                    format!("cannot read $INCLUDE file '{}': {}", path.display(), err),
                    "check the file's permissions",
                )
            }
        };
        self.stack.push(canon);
        let inc_base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.read_buf(
            &data,
            &path.display().to_string(),
            &inc_base,
            inc_origin,
            owner,
        );
        self.stack.pop();
    }

    fn generate(&mut self, file: u32, e: &Entry, origin: &Name, owner: &mut Option<Name>) {
        const FIX: &str = "write '$GENERATE start-stop[/step] lhs [ttl] [class] type rhs'";
        let args = &e.toks[1..];
        if args.len() < 4 {
            return self.finding(
                file,
                e.line,
                "bad-generate",
                Severity::Error,
                "$GENERATE needs a range, a left-hand side, a type and a right-hand side".into(),
                FIX,
            );
        }
        let Some((start, stop, step)) = parse_range(args[0].text) else {
            return self.finding(
                file,
                e.line,
                "bad-generate",
                Severity::Error,
                format!("bad $GENERATE range '{}'", text(args[0].text)),
                "write start-stop or start-stop/step with start <= stop and step >= 1",
            );
        };
        let lhs = args[1].text;
        let (ttl, class, rtype, used) = match self.ttl_class_type(&args[2..]) {
            Ok(v) => v,
            Err(m) => return self.finding(file, e.line, "bad-generate", Severity::Error, m, FIX),
        };
        let rest = &args[2 + used..];
        if rest.len() != 1 {
            return self.finding(
                file,
                e.line,
                "bad-generate",
                Severity::Error,
                "$GENERATE takes exactly one right-hand side (quote it if it has spaces)".into(),
                FIX,
            );
        }
        let rhs = rest[0].text;
        if (stop - start) / step >= self.opts.max_generate {
            return self.finding(
                file,
                e.line,
                "bad-generate",
                Severity::Error,
                format!(
                    "$GENERATE would make more than {} records",
                    self.opts.max_generate
                ),
                "split the range",
            );
        }
        let mut lbuf = Vec::new();
        let mut rbuf = Vec::new();
        let mut i = start;
        while i <= stop {
            lbuf.clear();
            rbuf.clear();
            if let Err(m) =
                substitute(lhs, i, &mut lbuf).and_then(|_| substitute(rhs, i, &mut rbuf))
            {
                return self.finding(file, e.line, "bad-generate", Severity::Error, m, "use $, ${offset,width,base} with base d, o, x, X, n or N, and \\$ for a literal $");
            }
            let own = match self.parse_owner(
                Tok {
                    text: &lbuf,
                    quoted: false,
                },
                origin,
            ) {
                Ok(n) => n,
                Err(m) => {
                    return self.finding(file, e.line, "bad-generate", Severity::Error, m, FIX)
                }
            };
            let mut lx = Lexer::new(&rbuf);
            let mut toks = Vec::new();
            while let Some(l) = lx.next_entry() {
                match l {
                    Lexed::Entry(en) => toks.extend(en.toks),
                    Lexed::Error { message, .. } => {
                        return self.finding(
                            file,
                            e.line,
                            "bad-generate",
                            Severity::Error,
                            message,
                            FIX,
                        )
                    }
                }
            }
            let before = self.out.records.len();
            self.add_record(file, e.line, &own, ttl, class, rtype, &toks, origin);
            if self.out.records.len() == before {
                return; // add_record reported why
            }
            *owner = Some(own);
            i = match i.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
    }
}

fn parse_range(t: &[u8]) -> Option<(u64, u64, u64)> {
    let s = std::str::from_utf8(t).ok()?;
    let (range, step) = match s.split_once('/') {
        Some((r, st)) => (r, st.parse::<u64>().ok()?),
        None => (s, 1),
    };
    let (a, b) = range.split_once('-')?;
    let (a, b) = (a.parse::<u64>().ok()?, b.parse::<u64>().ok()?);
    if a > b || step == 0 || b > u32::MAX as u64 {
        return None;
    }
    Some((a, b, step))
}

/// Expands `$`, `$$`, `\$` and `${offset,width,base}` for iterator value `i`, as BIND
/// does (values are 32-bit; `n`/`N` print reversed nibbles separated by dots).
///
/// A plain `$` after a `${...}` reuses that modifier, as BIND does (its offset, width
/// and base persist through the rest of the string).
fn substitute(src: &[u8], i: u64, out: &mut Vec<u8>) -> Result<(), String> {
    let mut p = 0;
    let (mut offset, mut width, mut base) = (0i64, 0usize, b'd');
    while p < src.len() {
        let c = src[p];
        if c == b'\\' && p + 1 < src.len() {
            if src[p + 1] == b'$' {
                out.push(b'$');
            } else {
                out.extend_from_slice(&src[p..p + 2]);
            }
            p += 2;
            continue;
        }
        if c != b'$' {
            out.push(c);
            p += 1;
            continue;
        }
        p += 1;
        if src.get(p) == Some(&b'$') {
            out.push(b'$');
            p += 1;
            continue;
        }
        if src.get(p) == Some(&b'{') {
            let end = src[p..]
                .iter()
                .position(|&b| b == b'}')
                .ok_or("unterminated ${ in $GENERATE")?
                + p;
            let inner = std::str::from_utf8(&src[p + 1..end]).map_err(|_| "bad ${...} modifier")?;
            let parts: Vec<&str> = inner.split(',').collect();
            if parts.len() > 3 || parts[0].is_empty() {
                return Err(format!("bad ${{{}}} modifier", inner));
            }
            offset = parts[0]
                .trim()
                .parse()
                .map_err(|_| format!("bad offset in ${{{}}}", inner))?;
            if let Some(w) = parts.get(1) {
                width = w
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad width in ${{{}}}", inner))?;
                if width > 255 {
                    return Err("width too large in ${...}".into());
                }
            }
            if let Some(b) = parts.get(2) {
                let b = b.trim().as_bytes();
                if b.len() != 1 || !b"doxXnN".contains(&b[0]) {
                    return Err(format!("bad base in ${{{}}}", inner));
                }
                base = b[0];
            }
            p = end + 1;
        }
        // BIND refuses a value past what its int holds ("out of range").
        let v = i as i64 + offset;
        if !(i64::from(i32::MIN)..=i64::from(i32::MAX)).contains(&v) {
            return Err(format!("out of range: ${{{offset}}} gives {v}"));
        }
        let v = v as u32;
        let s = match base {
            // BIND prints decimal as a signed int, the other bases unsigned.
            b'd' => format!("{:0w$}", v as i32, w = width),
            b'o' => format!("{:0w$o}", v, w = width),
            b'x' => format!("{:0w$x}", v, w = width),
            b'X' => format!("{:0w$X}", v, w = width),
            _ => nibbles(v, width, base == b'N'),
        };
        out.extend_from_slice(s.as_bytes());
    }
    Ok(())
}

fn nibbles(mut v: u32, width: usize, upper: bool) -> String {
    let digits: &[u8; 16] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let mut s = String::new();
    loop {
        s.push(digits[(v & 15) as usize] as char);
        v >>= 4;
        if v == 0 && s.len() >= width {
            break;
        }
        s.push('.');
        if v == 0 && s.len() >= width {
            break;
        }
    }
    s
}

/// Parses a plain decimal number token (used by callers that read numbers).
pub fn number(t: &[u8], max: u64) -> Option<u64> {
    parse_num(t, max, "number").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Parsed {
        let o = Name::parse("example.com.", None).unwrap();
        read_bytes(
            &o,
            Class::IN,
            text.as_bytes(),
            "test.zone",
            &ReadOptions::default(),
        )
    }

    #[test]
    fn nibble_widths_match_bind() {
        assert_eq!(nibbles(0x1e, 8, true), "E.1.0.0.");
        assert_eq!(nibbles(0xa, 4, false), "a.0.");
        assert_eq!(nibbles(0xa, 5, false), "a.0.0");
        assert_eq!(nibbles(0x400, 3, false), "0.0.4");
        assert_eq!(nibbles(0xFFFFFC30, 0, false), "0.3.c.f.f.f.f.f");
    }

    #[test]
    fn basic_zone() {
        let p = read("$TTL 1h\n@ IN SOA ns host ( 1 2h\n 1h 1w 5m ) ; c\n  NS ns\nns 300 A 192.0.2.1\n$GENERATE 1-3 h$ A 10.0.0.$\n");
        assert!(!p.has_errors(), "{:?}", p.findings);
        assert_eq!(p.records.len(), 6);
        assert_eq!(p.records.get(1).owner_name().to_string(), "example.com.");
        assert_eq!(p.records.get(2).ttl, 300);
        assert_eq!(p.records.get(5).owner_name().to_string(), "h3.example.com.");
    }

    #[test]
    fn errors_have_lines() {
        let p = read("$TTL 1h\n@ SOA ns host 1 2 3 4 5\nx A 1.2.3\ny BOGUS x\n(\n");
        let lines: Vec<u32> = p
            .findings
            .iter()
            .filter(|f| f.is_error())
            .filter_map(|f| f.line())
            .collect();
        assert_eq!(lines, vec![3, 4, 5]);
    }

    #[test]
    fn generate_escapes() {
        let p = read("$TTL 1h\n$GENERATE 1-2 b$.${1,2,o} TXT \"\\$$ $$\"\n");
        assert!(!p.has_errors(), "{:?}", p.findings);
        assert_eq!(
            p.records.get(0).owner_name().to_string(),
            "b1.02.example.com."
        );
        assert_eq!(p.records.get(0).rdata, b"\x02$1\x01$");
    }
}
