//! Differential test of the zone reader against BIND's `named-checkzone`.
//!
//! For every zone in `tests/zones/*.zone` (and the root zone at
//! `../shared/corpus/root.zone`, relative to the repository):
//!
//! - `named-checkzone -i local -D -o - ORIGIN FILE` and `blason zone print ORIGIN FILE`
//!   must print the same records, compared as multisets of lines after dropping `;`
//!   comment lines and blank lines and collapsing runs of blanks outside quoted strings
//!   to one space (see `tests/zones/BIND-FORMAT.md`);
//! - `blason zone check ORIGIN FILE` must exit 0.
//!
//! For every zone in `tests/zones/bad/*.zone`, `named-checkzone` must reject it, and
//! `blason zone check --format json ORIGIN FILE` must exit 1 (2 is accepted where the
//! problem is a file that cannot be read) and report a finding of severity `error` at a
//! place BIND names (`FILE:LINE:` in its messages). Where BIND names no line (a missing
//! SOA, an in-zone NS target without addresses), any error finding will do.
//!
//! Each zone names its origin on its first line: `; origin: example.test.`.
//!
//! Both programs run in the zone's folder and get the file name alone: BIND resolves
//! relative `$INCLUDE` paths from its working directory, blason from the including
//! file's folder, and the corpus is laid out so that both read the same files.
//!
//! `named-checkzone` must be installed (`scripts/test.sh` installs it); without it these
//! tests fail rather than skip. `-i local` keeps it from looking names up on the network.

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

const BLASON: &str = env!("CARGO_BIN_EXE_blason");
const TIMEOUT: Duration = Duration::from_secs(180);
const MAX_DIFF_LINES: usize = 40;

// ---------------------------------------------------------------------------------------
// Locating the corpus

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn zones_dir() -> PathBuf {
    repo_root().join("tests/zones")
}

fn root_zone_path() -> PathBuf {
    repo_root().join("../shared/corpus/root.zone")
}

/// A zone file to test and the origin it is loaded with.
#[derive(Clone, Debug)]
struct ZoneCase {
    path: PathBuf,
    origin: String,
}

impl ZoneCase {
    fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .expect("zone path has a parent")
            .to_path_buf()
    }

    fn file_name(&self) -> String {
        self.path
            .file_name()
            .expect("zone path has a file name")
            .to_string_lossy()
            .into_owned()
    }

    fn label(&self) -> String {
        let root = repo_root();
        let shown = self.path.strip_prefix(&root).unwrap_or(&self.path);
        format!("{} (origin {})", shown.display(), self.origin)
    }
}

/// The `*.zone` files directly inside `dir`, sorted, each with the origin its first
/// line names.
fn zone_cases(dir: &Path) -> Vec<ZoneCase> {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "zone"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no *.zone files in {}", dir.display());
    paths
        .into_iter()
        .map(|path| {
            let origin = origin_of(&path);
            ZoneCase { path, origin }
        })
        .collect()
}

fn origin_of(path: &Path) -> String {
    let text =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let text = String::from_utf8_lossy(&text);
    let first = text.lines().next().unwrap_or("");
    let origin = first
        .strip_prefix(';')
        .map(str::trim_start)
        .and_then(|rest| rest.strip_prefix("origin:"))
        .map(str::trim)
        .filter(|o| !o.is_empty());
    match origin {
        Some(o) => o.to_string(),
        None => panic!(
            "{}: the first line must name the origin, e.g. `; origin: example.test.`",
            path.display()
        ),
    }
}

fn good_cases() -> Vec<ZoneCase> {
    zone_cases(&zones_dir())
}

fn bad_cases() -> Vec<ZoneCase> {
    zone_cases(&zones_dir().join("bad"))
}

fn root_case() -> ZoneCase {
    let path = root_zone_path();
    assert!(
        path.is_file(),
        "the root zone corpus is missing: expected {} (../shared/corpus/root.zone next to the repository)",
        path.display()
    );
    ZoneCase {
        path: path.canonicalize().unwrap_or(path),
        origin: ".".to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Running programs

struct Run {
    /// Exit code; `None` if killed by a signal.
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn describe(&self) -> String {
        let code = match self.code {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".to_string(),
        };
        let mut s = code;
        let err = self.stderr.trim_end();
        if !err.is_empty() {
            s.push_str("; stderr:\n");
            for line in err.lines().take(20) {
                s.push_str("    ");
                s.push_str(line);
                s.push('\n');
            }
        }
        s
    }
}

fn run(program: &str, args: &[&str], cwd: &Path) -> Run {
    let mut child = match Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!("{program} not found: {e}"),
        Err(e) => panic!("cannot run {program}: {e}"),
    };
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{program} {} (in {}) did not finish within {TIMEOUT:?}",
                    args.join(" "),
                    cwd.display()
                );
            }
            Ok(None) => thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("waiting for {program}: {e}"),
        }
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Fails the test with a clear message if `named-checkzone` is not installed.
fn require_bind() {
    static CHECKED: OnceLock<Result<String, String>> = OnceLock::new();
    let result = CHECKED.get_or_init(
        || match Command::new("named-checkzone").arg("-v").output() {
            Ok(o) => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
            Err(e) => Err(e.to_string()),
        },
    );
    if let Err(e) = result {
        panic!(
            "named-checkzone (BIND 9) is required by the differential zone tests but cannot be run ({e}). \
             Install it with `apt-get install bind9-utils`, or run scripts/test.sh, which installs it."
        );
    }
}

fn bind_dump(case: &ZoneCase) -> Run {
    require_bind();
    let file = case.file_name();
    run(
        "named-checkzone",
        &["-i", "local", "-D", "-o", "-", &case.origin, &file],
        &case.dir(),
    )
}

fn blason_print(case: &ZoneCase) -> Run {
    let file = case.file_name();
    run(BLASON, &["zone", "print", &case.origin, &file], &case.dir())
}

fn blason_check(case: &ZoneCase, json: bool) -> Run {
    let file = case.file_name();
    let mut args = vec!["zone", "check"];
    if json {
        args.extend(["--format", "json"]);
    }
    args.push(&case.origin);
    args.push(&file);
    run(BLASON, &args, &case.dir())
}

// ---------------------------------------------------------------------------------------
// Comparing dumps

/// Collapses runs of blanks outside double-quoted strings to one space and trims the
/// line. Backslash escapes inside strings are kept as they are.
fn normalize_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pending_space = false;
    for c in line.trim().chars() {
        if in_quotes {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        if c == ' ' || c == '\t' {
            pending_space = true;
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            in_quotes = true;
        }
        out.push(c);
    }
    out
}

/// The owner name folded to lower case. BIND prints each RRset's owner in the case
/// its first record was written with; blason keeps one case per name. Names compare
/// case-insensitively (RFC 4343), so owners are compared that way; rdata stays exact.
fn fold_owner(line: String) -> String {
    match line.split_once(' ') {
        Some((owner, rest)) => format!("{} {}", owner.to_ascii_lowercase(), rest),
        None => line,
    }
}

/// The record lines of a dump as a multiset.
fn record_multiset(dump: &str) -> BTreeMap<String, usize> {
    let mut set = BTreeMap::new();
    for line in dump.lines() {
        let line = fold_owner(normalize_line(line));
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        *set.entry(line).or_insert(0) += 1;
    }
    set
}

/// `None` if equal, otherwise a readable report of what differs.
fn multiset_diff(bind: &str, blason: &str) -> Option<String> {
    let want = record_multiset(bind);
    let got = record_multiset(blason);
    let mut missing = Vec::new();
    let mut extra = Vec::new();
    for (line, &n) in &want {
        let m = got.get(line).copied().unwrap_or(0);
        for _ in m..n {
            missing.push(line.as_str());
        }
    }
    for (line, &n) in &got {
        let m = want.get(line).copied().unwrap_or(0);
        for _ in m..n {
            extra.push(line.as_str());
        }
    }
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let total_want: usize = want.values().sum();
    let total_got: usize = got.values().sum();
    let mut s = format!("BIND printed {total_want} records, blason {total_got}\n");
    for (title, lines) in [("missing in blason", &missing), ("extra in blason", &extra)] {
        if lines.is_empty() {
            continue;
        }
        s.push_str(&format!("  {title} ({}):\n", lines.len()));
        for line in lines.iter().take(MAX_DIFF_LINES) {
            s.push_str("    ");
            s.push_str(line);
            s.push('\n');
        }
        if lines.len() > MAX_DIFF_LINES {
            s.push_str(&format!(
                "    ... and {} more\n",
                lines.len() - MAX_DIFF_LINES
            ));
        }
    }
    Some(s)
}

/// Compares BIND's and blason's dumps of one zone; `Err` holds the report.
fn compare_with_bind(case: &ZoneCase) -> Result<(), String> {
    let bind = bind_dump(case);
    if bind.code != Some(0) {
        return Err(format!(
            "named-checkzone rejected a good zone: {}",
            bind.describe()
        ));
    }
    let ours = blason_print(case);
    if ours.code != Some(0) {
        return Err(format!("blason zone print failed: {}", ours.describe()));
    }
    match multiset_diff(&bind.stdout, &ours.stdout) {
        None => Ok(()),
        Some(diff) => Err(diff),
    }
}

fn fail_if_any(what: &str, failures: Vec<(String, String)>, total: usize) {
    if failures.is_empty() {
        return;
    }
    let mut report = format!("{what}: {} of {total} zones failed\n", failures.len());
    for (label, why) in &failures {
        report.push_str(&format!("\n=== {label}\n{}\n", why.trim_end()));
    }
    panic!("{report}");
}

// ---------------------------------------------------------------------------------------
// Findings (`blason zone check --format json`)

#[derive(Debug)]
struct Finding {
    id: String,
    severity: String,
    file: Option<String>,
    line: Option<u64>,
    message: String,
}

fn parse_findings(stdout: &str) -> Result<Vec<Finding>, String> {
    let value =
        json::parse(stdout.trim()).map_err(|e| format!("output is not JSON ({e}):\n{stdout}"))?;
    let list = value
        .get("findings")
        .and_then(json::Value::as_array)
        .ok_or_else(|| format!("no \"findings\" array in:\n{stdout}"))?;
    let mut findings = Vec::new();
    for f in list {
        findings.push(Finding {
            id: f
                .get("id")
                .and_then(json::Value::as_str)
                .unwrap_or("")
                .to_string(),
            severity: f
                .get("severity")
                .and_then(json::Value::as_str)
                .unwrap_or("")
                .to_string(),
            file: f
                .get("file")
                .and_then(json::Value::as_str)
                .map(str::to_string),
            line: f.get("line").and_then(json::Value::as_u64),
            message: f
                .get("message")
                .and_then(json::Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
    }
    for key in ["errors", "warnings"] {
        if value.get(key).and_then(json::Value::as_u64).is_none() {
            return Err(format!("no numeric \"{key}\" count in:\n{stdout}"));
        }
    }
    Ok(findings)
}

fn describe_findings(findings: &[Finding]) -> String {
    if findings.is_empty() {
        return "    (no findings)\n".to_string();
    }
    let mut s = String::new();
    for f in findings {
        s.push_str(&format!(
            "    {} {} at {}:{}: {}\n",
            f.severity,
            f.id,
            f.file.as_deref().unwrap_or("?"),
            f.line.map_or("?".to_string(), |l| l.to_string()),
            f.message
        ));
    }
    s
}

/// `FILE:LINE` places named in BIND's messages, in order, without repeats.
fn bind_places(output: &str) -> Vec<(String, u64)> {
    let mut places = Vec::new();
    for token in output.split_whitespace() {
        let Some(token) = token.strip_suffix(':') else {
            continue;
        };
        let Some((file, line)) = token.rsplit_once(':') else {
            continue;
        };
        if file.is_empty() || line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(line) = line.parse() else { continue };
        let place = (file.to_string(), line);
        if !places.contains(&place) {
            places.push(place);
        }
    }
    places
}

/// Whether the file blason names is the file BIND names (BIND's is relative to the
/// zone's folder; blason's may be relative or absolute).
fn same_file(ours: Option<&str>, bind: &str, case: &ZoneCase) -> bool {
    let Some(ours) = ours else { return false };
    let ours = Path::new(ours.strip_prefix("./").unwrap_or(ours));
    let bind = Path::new(bind.strip_prefix("./").unwrap_or(bind));
    if ours.ends_with(bind) {
        return true;
    }
    // Resolve both and compare, for paths written differently (inc/../x.zone).
    let resolve = |p: &Path| {
        let p = if p.is_absolute() {
            p.to_path_buf()
        } else {
            case.dir().join(p)
        };
        p.canonicalize().ok()
    };
    matches!((resolve(ours), resolve(bind)), (Some(a), Some(b)) if a == b)
}

fn check_bad_zone(case: &ZoneCase) -> Result<(), String> {
    let bind = bind_dump(case);
    let bind_text = format!("{}{}", bind.stderr, bind.stdout);
    if bind.code != Some(1) {
        return Err(format!(
            "named-checkzone did not reject this zone: {}",
            bind.describe()
        ));
    }
    let places = bind_places(&bind_text);
    let unreadable =
        bind_text.contains("file not found") || bind_text.contains("too many open files");

    let ours = blason_check(case, true);
    let code_ok = match ours.code {
        Some(1) => true,
        Some(2) => unreadable,
        _ => false,
    };
    let findings = match parse_findings(&ours.stdout) {
        Ok(f) => f,
        Err(e) => {
            return Err(format!(
                "blason zone check --format json: {}\n  {e}",
                ours.describe()
            ))
        }
    };
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.severity == "error").collect();
    let found = if places.is_empty() {
        !errors.is_empty()
    } else {
        errors.iter().any(|f| {
            places.iter().any(|(file, line)| {
                f.line == Some(*line) && same_file(f.file.as_deref(), file, case)
            })
        })
    };
    if code_ok && found {
        return Ok(());
    }
    let mut report = String::new();
    if !code_ok {
        report.push_str(&format!(
            "blason zone check exited with {:?}, expected 1{}\n",
            ours.code,
            if unreadable { " or 2" } else { "" }
        ));
    }
    if !found {
        if places.is_empty() {
            report.push_str("BIND names no line; expected at least one error finding\n");
        } else {
            let named: Vec<String> = places.iter().map(|(f, l)| format!("{f}:{l}")).collect();
            report.push_str(&format!(
                "expected an error finding at {}\n",
                named.join(" or ")
            ));
        }
    }
    report.push_str("BIND said:\n");
    for line in bind_text.lines() {
        report.push_str(&format!("    {line}\n"));
    }
    report.push_str("blason found:\n");
    report.push_str(&describe_findings(&findings));
    if !ours.stderr.trim().is_empty() {
        report.push_str(&format!(
            "blason stderr:\n    {}\n",
            ours.stderr.trim_end().replace('\n', "\n    ")
        ));
    }
    Err(report)
}

// ---------------------------------------------------------------------------------------
// Tests

/// The corpus itself: BIND accepts every good zone and rejects every bad one. This
/// holds whatever state blason is in.
#[test]
fn corpus_is_what_bind_says() {
    let mut failures = Vec::new();
    let good = good_cases();
    let bad = bad_cases();
    for case in &good {
        let r = bind_dump(case);
        if r.code != Some(0) {
            failures.push((
                case.label(),
                format!("BIND rejects a zone in tests/zones/: {}", r.describe()),
            ));
        }
    }
    for case in &bad {
        let r = bind_dump(case);
        if r.code != Some(1) {
            failures.push((
                case.label(),
                format!(
                    "BIND does not reject a zone in tests/zones/bad/: {}",
                    r.describe()
                ),
            ));
        }
    }
    fail_if_any("corpus check", failures, good.len() + bad.len());
}

#[test]
fn good_zones_print_like_bind() {
    let cases = good_cases();
    let failures: Vec<(String, String)> = cases
        .iter()
        .filter_map(|case| compare_with_bind(case).err().map(|why| (case.label(), why)))
        .collect();
    fail_if_any(
        "blason zone print vs named-checkzone -D",
        failures,
        cases.len(),
    );
}

#[test]
fn root_zone_prints_like_bind() {
    let case = root_case();
    if let Err(why) = compare_with_bind(&case) {
        fail_if_any(
            "blason zone print vs named-checkzone -D",
            vec![(case.label(), why)],
            1,
        );
    }
}

#[test]
fn good_zones_pass_check() {
    let mut cases = good_cases();
    cases.push(root_case());
    let mut failures = Vec::new();
    for case in &cases {
        let r = blason_check(case, false);
        if r.code != Some(0) {
            let mut why = format!("blason zone check: {}", r.describe());
            let out = r.stdout.trim_end();
            if !out.is_empty() {
                why.push_str(&format!("\nstdout:\n    {}\n", out.replace('\n', "\n    ")));
            }
            failures.push((case.label(), why));
        }
    }
    fail_if_any(
        "blason zone check on good zones (expected exit 0)",
        failures,
        cases.len(),
    );
}

#[test]
fn bad_zones_rejected_where_bind_says() {
    let cases = bad_cases();
    let failures: Vec<(String, String)> = cases
        .iter()
        .filter_map(|case| check_bad_zone(case).err().map(|why| (case.label(), why)))
        .collect();
    fail_if_any("blason zone check on bad zones", failures, cases.len());
}

#[test]
fn out_of_zone_line_is_reported() {
    let case = good_cases()
        .into_iter()
        .find(|c| c.file_name() == "kimsufi.zone")
        .expect("tests/zones/kimsufi.zone exists");
    let text = std::fs::read_to_string(&case.path).expect("kimsufi.zone is readable");
    let line = text
        .lines()
        .position(|l| l.starts_with("ksXXXXXX.kimsufi.com."))
        .map(|i| i as u64 + 1)
        .expect("kimsufi.zone has its out-of-zone line");

    // BIND agrees the line is out of zone.
    let bind = bind_dump(&case);
    let expected = format!("kimsufi.zone:{line}: ignoring out-of-zone data");
    assert!(
        bind.stderr.contains(&expected),
        "BIND did not say `{expected}`:\n{}",
        bind.stderr
    );

    let ours = blason_check(&case, true);
    let findings = parse_findings(&ours.stdout)
        .unwrap_or_else(|e| panic!("blason zone check --format json: {}\n{e}", ours.describe()));
    assert!(
        findings
            .iter()
            .any(|f| f.id == "out-of-zone" && f.line == Some(line)),
        "expected a finding `out-of-zone` at kimsufi.zone:{line}; blason found:\n{}",
        describe_findings(&findings)
    );
    assert_eq!(
        ours.code,
        Some(0),
        "out-of-zone data is a warning: the zone loads; {}",
        ours.describe()
    );
}

// Unit tests of the harness itself.

#[test]
fn harness_normalizes_and_diffs() {
    assert_eq!(
        normalize_line("a.example.\t\t\t  300 IN TXT\t\"x  \\\"  y\"   \"z\"  "),
        "a.example. 300 IN TXT \"x  \\\"  y\" \"z\""
    );
    assert!(multiset_diff("a 1\n; resign=1\n\nb  2\n", "b 2\na\t1\n").is_none());
    let diff = multiset_diff("a 1\na 1\nb 2\n", "a 1\nc 3\n").expect("differs");
    assert!(diff.contains("missing in blason (2)"), "{diff}");
    assert!(diff.contains("extra in blason (1)"), "{diff}");
    assert_eq!(
        bind_places("dns_rdata_fromtext: x.zone:7: near eol: bad\nzone x/IN: not loaded\nx.zone: file does not end with newline\ndns_master_load: inc/b.inc:3: inc/a.inc: too many open files\n"),
        vec![("x.zone".to_string(), 7), ("inc/b.inc".to_string(), 3)]
    );
    let f = parse_findings(
        r#"{"findings":[{"id":"out-of-zone","severity":"warning","file":"k.zone","line":12,"message":"m \"q\" \u00e9","fix":"f"},{"id":"x","severity":"error","file":null,"line":null,"message":"","fix":""}],"errors":1,"warnings":1}"#,
    )
    .expect("parses");
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].line, Some(12));
    assert_eq!(f[0].message, "m \"q\" é");
    assert_eq!(f[1].line, None);
}

/// A small JSON reader, enough for `--format json` output.
mod json {
    #[derive(Debug, Clone, PartialEq)]
    pub enum Value {
        Null,
        Bool(bool),
        Number(f64),
        String(String),
        Array(Vec<Value>),
        Object(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }

        pub fn as_array(&self) -> Option<&Vec<Value>> {
            match self {
                Value::Array(a) => Some(a),
                _ => None,
            }
        }

        pub fn as_str(&self) -> Option<&str> {
            match self {
                Value::String(s) => Some(s),
                _ => None,
            }
        }

        pub fn as_u64(&self) -> Option<u64> {
            match self {
                Value::Number(n) if *n >= 0.0 && n.fract() == 0.0 && *n <= u64::MAX as f64 => {
                    Some(*n as u64)
                }
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            }
        }

        fn peek(&self) -> Option<u8> {
            self.s.get(self.i).copied()
        }

        fn expect(&mut self, b: u8) -> Result<(), String> {
            self.ws();
            if self.peek() == Some(b) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected `{}` at byte {}", b as char, self.i))
            }
        }

        fn literal(&mut self, word: &str, v: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(v)
            } else {
                Err(format!("unexpected input at byte {}", self.i))
            }
        }

        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.peek() {
                None => Err("unexpected end of input".to_string()),
                Some(b'{') => self.object(),
                Some(b'[') => self.array(),
                Some(b'"') => self.string().map(Value::String),
                Some(b't') => self.literal("true", Value::Bool(true)),
                Some(b'f') => self.literal("false", Value::Bool(false)),
                Some(b'n') => self.literal("null", Value::Null),
                Some(_) => self.number(),
            }
        }

        fn object(&mut self) -> Result<Value, String> {
            self.expect(b'{')?;
            let mut members = Vec::new();
            self.ws();
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(Value::Object(members));
            }
            loop {
                self.ws();
                let key = self.string()?;
                self.expect(b':')?;
                let v = self.value()?;
                members.push((key, v));
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(Value::Object(members));
                    }
                    _ => return Err(format!("expected `,` or `}}` at byte {}", self.i)),
                }
            }
        }

        fn array(&mut self) -> Result<Value, String> {
            self.expect(b'[')?;
            let mut items = Vec::new();
            self.ws();
            if self.peek() == Some(b']') {
                self.i += 1;
                return Ok(Value::Array(items));
            }
            loop {
                items.push(self.value()?);
                self.ws();
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err(format!("expected `,` or `]` at byte {}", self.i)),
                }
            }
        }

        fn hex4(&mut self) -> Result<u32, String> {
            let digits = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
            let digits = std::str::from_utf8(digits).map_err(|_| "bad \\u escape")?;
            let n = u32::from_str_radix(digits, 16).map_err(|_| "bad \\u escape")?;
            self.i += 4;
            Ok(n)
        }

        fn string(&mut self) -> Result<String, String> {
            self.expect(b'"')?;
            let mut out = Vec::new();
            loop {
                let b = self.peek().ok_or("unterminated string")?;
                self.i += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        let e = self.peek().ok_or("unterminated escape")?;
                        self.i += 1;
                        let c = match e {
                            b'"' => '"',
                            b'\\' => '\\',
                            b'/' => '/',
                            b'b' => '\u{8}',
                            b'f' => '\u{c}',
                            b'n' => '\n',
                            b'r' => '\r',
                            b't' => '\t',
                            b'u' => {
                                let hi = self.hex4()?;
                                let code = if (0xd800..0xdc00).contains(&hi)
                                    && self.s[self.i..].starts_with(b"\\u")
                                {
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    0x10000
                                        + ((hi - 0xd800) << 10)
                                        + (lo.wrapping_sub(0xdc00) & 0x3ff)
                                } else {
                                    hi
                                };
                                char::from_u32(code).unwrap_or('\u{fffd}')
                            }
                            _ => return Err(format!("bad escape at byte {}", self.i)),
                        };
                        let mut buf = [0u8; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => out.push(b),
                }
            }
            String::from_utf8(out).map_err(|_| "string is not UTF-8".to_string())
        }

        fn number(&mut self) -> Result<Value, String> {
            let start = self.i;
            while self.i < self.s.len()
                && matches!(
                    self.s[self.i],
                    b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                )
            {
                self.i += 1;
            }
            let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| "bad number")?;
            text.parse::<f64>()
                .map(Value::Number)
                .map_err(|_| format!("bad number `{text}` at byte {start}"))
        }
    }
}
