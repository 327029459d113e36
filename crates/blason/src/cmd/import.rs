//! `blason import bind`: a BIND setup (named.conf and its includes, zone files,
//! K-files, TSIG keys) turned into blason's config, the DNSSEC keys adopted so the
//! DS at the registrar stays valid. What has no blason equivalent is listed with
//! its file and line.

use crate::cmd::exit::{Exit, Failed};
use blason_zone::named_conf::{self, Statement};
use blason_zone::Name;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ImportCmd {
    /// Read BIND's named.conf (with its includes) and write blason's config.
    ///
    /// Translated: `options` (directory, listen-on, allow-transfer, also-notify,
    /// notify, version), `key` (TSIG), `acl`, `primaries`/`masters` lists, and each
    /// `zone` of type primary/master or secondary/slave with its file,
    /// allow-transfer, also-notify, notify, allow-update, update-policy,
    /// dnssec-policy (or auto-dnssec/inline-signing). The K-files of a signed zone
    /// (in its key-directory) are copied into the state folder, where `blason serve`
    /// adopts them as published: the DS at the registrar stays valid.
    ///
    /// Everything else (views, RPZ, recursion, logging, ...) is listed with its file
    /// and line. BIND keeps dynamic changes in `.jnl` files: run `rndc sync -clean`
    /// first, or they are not in the zone files (a warning says when a journal is
    /// newer than its zone file).
    ///
    /// Examples:
    ///   blason import bind /etc/bind/named.conf -o /etc/blason/blason.toml
    ///   blason import bind named.conf --state /var/lib/blason
    Bind(BindArgs),
}

#[derive(Args)]
pub struct BindArgs {
    /// BIND's main config file
    named_conf: PathBuf,
    /// Write the config here (default: standard output). An existing file is not
    /// replaced unless --force
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// The state folder blason will use, where the DNSSEC keys are copied.
    /// Default: as `blason serve`
    #[arg(long, value_name = "DIR")]
    state: Option<PathBuf>,
    /// Replace the output file if it exists
    #[arg(long)]
    force: bool,
    /// Then start blason with the new config on a free loopback port, beside the
    /// named that runs now, ask both every name and type of every primary zone's
    /// file, and list where the answers differ (exit 1 if any). Needs -o
    #[arg(long, requires = "output")]
    check: bool,
    /// Where the running named answers, for --check. Default: its first listen-on
    /// address and port (127.0.0.1 for `any`)
    #[arg(long, value_name = "ADDR:PORT")]
    named_at: Option<std::net::SocketAddr>,
}

pub fn run(c: ImportCmd) -> ExitCode {
    let ImportCmd::Bind(a) = c;
    let state = a
        .state
        .clone()
        .unwrap_or_else(crate::cmd::config::default_state);
    match import(&a.named_conf, &state) {
        Ok(out) => {
            for n in &out.notes {
                eprintln!("{n}");
            }
            if let Some(p) = &a.output {
                if p.exists() && !a.force {
                    return Failed::new(
                        blason_zone::Fault::Config,
                        format!("{} exists: give --force to replace it", p.display()),
                    )
                    .report("blason import bind");
                }
                if let Err(e) = std::fs::write(p, &out.toml) {
                    return Failed::new(
                        blason_zone::Fault::System,
                        format!("cannot write {}: {e}", p.display()),
                    )
                    .report("blason import bind");
                }
                eprintln!(
                    "wrote {} ({} zones, {} keys, {} DNSSEC key files adopted); next: blason serve --config {}",
                    p.display(),
                    out.zones,
                    out.keys,
                    out.kfiles,
                    p.display()
                );
                if a.check {
                    let Some(at) = a.named_at.or(out.named_at) else {
                        return Failed::new(
                            blason_zone::Fault::Config,
                            "--check: named's address is not in its config; give --named-at ADDR:PORT",
                        )
                        .report("blason import bind");
                    };
                    return match check(p, at, &out.primaries, &state) {
                        Ok((asked, diffs)) => {
                            for d in diffs.iter().take(50) {
                                println!("{d}");
                            }
                            eprintln!(
                                "--check: {asked} questions asked of named at {at} and of blason: {} answers differ",
                                diffs.len()
                            );
                            if diffs.is_empty() {
                                Exit::Ok.into()
                            } else {
                                Exit::Findings.into()
                            }
                        }
                        Err(e) => e.report("blason import bind --check"),
                    };
                }
            } else {
                print!("{}", out.toml);
            }
            Exit::Ok.into()
        }
        Err(e) => e.report("blason import bind"),
    }
}

/// The config written, and what the user should know.
pub struct Imported {
    pub toml: String,
    pub notes: Vec<String>,
    pub zones: usize,
    pub keys: usize,
    pub kfiles: usize,
    /// The primary zones and their files, for --check.
    pub primaries: Vec<(Name, PathBuf)>,
    /// Where named listens (its first listen-on), for --check.
    pub named_at: Option<std::net::SocketAddr>,
}

/// A TOML basic string.
fn q(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", v.join(", "))
}

/// Options that need no translation: blason has its own way or no need.
const QUIET_OPTIONS: &[&str] = &[
    "directory",
    "key-directory",
    "listen-on",
    "listen-on-v6",
    "allow-transfer",
    "also-notify",
    "notify",
    "version",
    "hostname",
    "server-id",
    "pid-file",
    "session-keyfile",
    "managed-keys-directory",
    "dnssec-validation",
    "auth-nxdomain",
    "dnssec-policy",
    "recursion",
    "allow-query",
    "minimal-responses",
];

struct Ctx {
    notes: Vec<String>,
    acls: BTreeMap<String, Vec<Statement>>,
    lists: BTreeMap<String, Vec<Statement>>,
    keys: Vec<String>,
}

impl Ctx {
    fn note(&mut self, s: &Statement, what: impl AsRef<str>) {
        self.notes.push(format!("{}: {}", s.at(), what.as_ref()));
    }
}

pub fn import(conf: &Path, state: &Path) -> Result<Imported, Failed> {
    let stmts = named_conf::read(conf)
        .map_err(|e| Failed::new(blason_zone::Fault::Config, e.to_string()))?;
    let mut cx = Ctx {
        notes: Vec::new(),
        acls: BTreeMap::new(),
        lists: BTreeMap::new(),
        keys: Vec::new(),
    };
    let options = stmts.iter().find(|s| s.keyword() == "options");
    let dir = options
        .and_then(|o| o.child("directory"))
        .and_then(Statement::arg)
        .map(PathBuf::from)
        .unwrap_or_else(|| conf.parent().unwrap_or(Path::new(".")).to_path_buf());
    let key_dir = options
        .and_then(|o| o.child("key-directory"))
        .and_then(Statement::arg)
        .map(|k| dir.join(k))
        .unwrap_or_else(|| dir.clone());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Imported from {} by `blason import bind`.\n# Review it, then: blason serve --config THIS_FILE\n",
        conf.display()
    );
    let _ = writeln!(out, "state = {}", q(&state.display().to_string()));

    // Named lists first: acl and primaries/masters are referred to by name.
    for s in &stmts {
        match s.keyword() {
            "acl" => {
                if let Some(n) = s.arg() {
                    cx.acls.insert(n.to_string(), s.children().to_vec());
                }
            }
            "primaries" | "masters" => {
                if let Some(n) = s.arg() {
                    cx.lists.insert(n.to_string(), s.children().to_vec());
                }
            }
            _ => {}
        }
    }

    // listen-on (BIND listens on every address, port 53, by default).
    let mut listen = Vec::new();
    for (kw, v6) in [("listen-on", false), ("listen-on-v6", true)] {
        let Some(l) = options.and_then(|o| o.child(kw)) else {
            continue;
        };
        let port = l
            .words
            .iter()
            .position(|w| w == "port")
            .and_then(|i| l.words.get(i + 1))
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(53);
        for e in l.children() {
            match e.keyword() {
                "any" => listen.push(if v6 {
                    format!("[::]:{port}")
                } else {
                    format!("0.0.0.0:{port}")
                }),
                "none" => {}
                a => match a.parse::<std::net::IpAddr>() {
                    Ok(std::net::IpAddr::V6(x)) => listen.push(format!("[{x}]:{port}")),
                    Ok(x) => listen.push(format!("{x}:{port}")),
                    Err(_) => cx.note(
                        e,
                        format!("{kw}: {a:?} is not an address blason can listen on; left out"),
                    ),
                },
            }
        }
    }
    if options.and_then(|o| o.child("listen-on")).is_none() {
        listen.push("0.0.0.0:53".into());
    }
    if options.and_then(|o| o.child("listen-on-v6")).is_none() {
        listen.push("[::]:53".into());
    }
    let _ = writeln!(out, "listen = {}", list(&listen));
    let named_at = listen.iter().find_map(|l| {
        let a: std::net::SocketAddr = l.parse().ok()?;
        Some(match a.ip() {
            std::net::IpAddr::V4(v) if v.is_unspecified() => {
                std::net::SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            std::net::IpAddr::V6(v) if v.is_unspecified() => {
                std::net::SocketAddr::from(([127, 0, 0, 1], a.port()))
            }
            _ => a,
        })
    });
    if let Some(v) = options
        .and_then(|o| o.child("version"))
        .and_then(Statement::arg)
    {
        if v != "none" {
            let _ = writeln!(out, "version-string = {}", q(v));
        }
    }
    if let Some(o) = options {
        if o.child("recursion")
            .and_then(Statement::arg)
            .is_some_and(|r| r == "yes")
        {
            cx.note(
                o.child("recursion").unwrap_or(o),
                "recursion yes: blason is authoritative only; point clients at a resolver",
            );
        }
        for c in o.children() {
            if c.keyword() == "catalog-zones" {
                cx.note(c, "catalog-zones (consuming a catalog) is not translated: list the member zones as [[zone]] tables; blason can publish a catalog of its own ([catalog])");
            } else if !QUIET_OPTIONS.contains(&c.keyword()) {
                cx.note(c, format!("option {} is not translated", c.keyword()));
            }
        }
    }

    // Keys.
    for s in stmts.iter().filter(|s| s.keyword() == "key") {
        let Some(name) = s.arg() else { continue };
        let alg = s
            .child("algorithm")
            .and_then(Statement::arg)
            .unwrap_or("hmac-sha256");
        let Some(secret) = s.child("secret").and_then(Statement::arg) else {
            cx.note(s, format!("key {name} has no secret; left out"));
            continue;
        };
        if ![
            "hmac-sha256",
            "hmac-sha384",
            "hmac-sha512",
            "hmac-sha1",
            "hmac-sha224",
        ]
        .contains(&alg.to_ascii_lowercase().as_str())
        {
            cx.note(s, format!("key {name}: algorithm {alg} is not one blason takes (hmac-sha1/-sha256/-sha384/-sha512); left out"));
            continue;
        }
        let _ = writeln!(
            out,
            "\n[[key]]\nname = {}\nalgorithm = {}\nsecret = {}",
            q(name),
            q(&alg.to_ascii_lowercase()),
            q(secret)
        );
        cx.keys
            .push(name.trim_end_matches('.').to_ascii_lowercase());
    }

    // Zones.
    let g_transfer = options.and_then(|o| o.child("allow-transfer")).cloned();
    let g_notify = options.and_then(|o| o.child("also-notify")).cloned();
    let g_notify_mode = options
        .and_then(|o| o.child("notify"))
        .and_then(Statement::arg)
        .map(str::to_string);
    let g_policy = options
        .and_then(|o| o.child("dnssec-policy"))
        .and_then(Statement::arg)
        .map(str::to_string);
    let mut zones = 0;
    let mut kfiles = 0;
    let mut primaries = Vec::new();
    for s in &stmts {
        match s.keyword() {
            "zone" => {
                if let Some((z, file)) = zone(s, &mut cx, &dir, &key_dir, state, &g_transfer, &g_notify, &g_notify_mode, &g_policy, &mut kfiles)? {
                    out.push_str(&z.0);
                    if let Some(f) = file {
                        primaries.push((z.1, f));
                    }
                    zones += 1;
                }
            }
            "options" | "key" | "acl" | "primaries" | "masters" | "dnssec-policy" => {}
            "logging" | "controls" | "statistics-channels" => {
                cx.note(s, format!("{} is not needed: blason logs to stderr and takes `blason reload`; see --metrics for statistics", s.keyword()))
            }
            "view" => cx.note(s, "view is not translated: blason answers every client alike; its zones are left out"),
            kw => cx.note(s, format!("{kw} is not translated")),
        }
    }
    // A global setting translated for each zone says its note once.
    let mut seen = std::collections::HashSet::new();
    cx.notes.retain(|n| seen.insert(n.clone()));
    Ok(Imported {
        toml: out,
        notes: cx.notes,
        zones,
        keys: cx.keys.len(),
        kfiles,
        primaries,
        named_at,
    })
}

/// A named list (acl, primaries) as a block standing where `at` names it, so its
/// notes point there.
fn named_list(at: &Statement, items: Vec<Statement>) -> Statement {
    Statement {
        words: Vec::new(),
        block: Some(items),
        file: at.file.clone(),
        line: at.line,
    }
}

/// The entries of an address match list, for `allow-transfer`: prefixes and keys.
fn acl_entries(l: &Statement, cx: &mut Ctx, depth: usize) -> Vec<String> {
    let mut out = Vec::new();
    for e in l.children() {
        let w: Vec<&str> = e.words.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["any"] => out.extend(["0.0.0.0/0".to_string(), "::/0".to_string()]),
            [] if e.block.is_some() => out.extend(acl_entries(e, cx, depth + 1)),
            ["none"] => {}
            ["localhost"] => out.extend(["127.0.0.0/8".to_string(), "::1".to_string()]),
            ["key", k] => out.push(format!("key {}", k.trim_end_matches('.'))),
            [a] if a.starts_with('!') => cx.note(e, format!("a negated element ({a}) has no blason equivalent; left out (blason allows only what is listed)")),
            [a] if a.parse::<std::net::IpAddr>().is_ok() || a.contains('/') => out.push((*a).to_string()),
            [a] => match cx.acls.get(*a).cloned() {
                Some(items) if depth < 8 => out.extend(acl_entries(&named_list(e, items), cx, depth + 1)),
                _ => cx.note(e, format!("{a} is not an acl, address or key blason knows; left out")),
            },
            _ => cx.note(e, format!("{:?} has no blason equivalent; left out", e.words.join(" "))),
        }
    }
    out
}

/// `ADDR [port P] [key K]` elements (also-notify, primaries), named lists expanded.
fn server_entries(l: &Statement, cx: &mut Ctx, depth: usize) -> Vec<String> {
    let default_port = l
        .words
        .iter()
        .position(|w| w == "port")
        .and_then(|i| l.words.get(i + 1))
        .and_then(|p| p.parse::<u16>().ok());
    let mut out = Vec::new();
    for e in l.children() {
        let w = &e.words;
        let Some(first) = w.first() else { continue };
        let port = w
            .iter()
            .position(|x| x == "port")
            .and_then(|i| w.get(i + 1))
            .and_then(|p| p.parse::<u16>().ok())
            .or(default_port)
            .unwrap_or(53);
        let key = w.iter().position(|x| x == "key").and_then(|i| w.get(i + 1));
        match first.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                let addr = std::net::SocketAddr::new(ip, port);
                out.push(match key {
                    Some(k) => format!("{addr} key {}", k.trim_end_matches('.')),
                    None => addr.to_string(),
                });
            }
            Err(_) => match cx.lists.get(first.as_str()).cloned() {
                Some(items) if depth < 8 => {
                    out.extend(server_entries(&named_list(e, items), cx, depth + 1))
                }
                _ => cx.note(
                    e,
                    format!("{first} is not an address or a primaries list; left out"),
                ),
            },
        }
    }
    out
}

/// The `update-policy` rules as `[[zone.update]]` tables.
fn update_tables(z: &Statement, origin: &str, cx: &mut Ctx) -> String {
    let mut o = String::new();
    if let Some(au) = z.child("allow-update") {
        for e in au.children() {
            match e.words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
                ["key", k] => {
                    let _ = writeln!(o, "\n[[zone.update]]\nkey = {}\ngrant = \"zone\"\ntypes = [\"ANY\"]", q(k.trim_end_matches('.')));
                }
                ["none"] => {}
                _ => cx.note(e, "allow-update by address: blason takes updates signed with a TSIG key only; make a key (blason tsig keygen NAME --for update) and grant it"),
            }
        }
    }
    let Some(up) = z.child("update-policy") else {
        return o;
    };
    if up.arg() == Some("local") {
        cx.note(up, "update-policy local (BIND's session key) has no blason equivalent: make a key with blason tsig keygen NAME --for update");
        return o;
    }
    for r in up.children() {
        let w: Vec<&str> = r.words.iter().map(String::as_str).collect();
        if w.first() == Some(&"deny") {
            cx.note(
                r,
                "deny rules are not translated: blason grants only what is listed",
            );
            continue;
        }
        if w.len() < 3 || w[0] != "grant" {
            cx.note(
                r,
                format!(
                    "{:?} is not an update-policy rule blason reads",
                    r.words.join(" ")
                ),
            );
            continue;
        }
        let key = w[1].trim_end_matches('.');
        let (grant, name, types): (&str, Option<&str>, &[&str]) = match w[2] {
            "zonesub" => ("zone", None, &w[3..]),
            "name" | "subdomain" | "wildcard" if w.len() >= 4 => (w[2], Some(w[3]), &w[4..]),
            "self" if w.len() >= 4 => ("self", None, &w[4..]),
            other => {
                cx.note(
                    r,
                    format!("update-policy rule type {other} has no blason equivalent; left out"),
                );
                continue;
            }
        };
        if !cx.keys.contains(&key.to_ascii_lowercase()) {
            cx.note(r, format!("{key} is not a key of this config (identities other than TSIG keys are not translated); left out"));
            continue;
        }
        let _ = write!(
            o,
            "\n[[zone.update]]\nkey = {}\ngrant = {}\n",
            q(key),
            q(grant)
        );
        if let Some(n) = name {
            let n = if n.ends_with('.') {
                n.to_string()
            } else {
                format!("{n}.{origin}")
            };
            let _ = writeln!(o, "name = {}", q(&n));
        }
        let types: Vec<String> = if types.is_empty() {
            vec!["ANY".into()]
        } else {
            types.iter().map(|t| t.to_ascii_uppercase()).collect()
        };
        let _ = writeln!(o, "types = {}", list(&types));
    }
    o
}

#[allow(clippy::too_many_arguments)]
fn zone(
    s: &Statement,
    cx: &mut Ctx,
    dir: &Path,
    key_dir: &Path,
    state: &Path,
    g_transfer: &Option<Statement>,
    g_notify: &Option<Statement>,
    g_notify_mode: &Option<String>,
    g_policy: &Option<String>,
    kfiles: &mut usize,
) -> Result<Option<Zone>, Failed> {
    let Some(name) = s.arg() else {
        cx.note(s, "a zone without a name; left out");
        return Ok(None);
    };
    if let Some(class) = s.words.get(2) {
        if !class.eq_ignore_ascii_case("in") {
            cx.note(
                s,
                format!("zone {name} of class {class}: blason serves class IN only; left out"),
            );
            return Ok(None);
        }
    }
    let origin = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let Ok(origin_name) = Name::parse(&origin, None) else {
        cx.note(s, format!("zone {name:?} is not a domain name; left out"));
        return Ok(None);
    };
    let kind = s.child("type").and_then(Statement::arg).unwrap_or("");
    let mut o = format!("\n[[zone]]\norigin = {}\n", q(&origin));
    let mut primary_file = None;
    match kind {
        "primary" | "master" => {
            let Some(f) = s.child("file").and_then(Statement::arg) else {
                cx.note(
                    s,
                    format!("zone {name}: a primary zone without a file; left out"),
                );
                return Ok(None);
            };
            let path = dir.join(f);
            let jnl = PathBuf::from(format!("{}.jnl", path.display()));
            let newer = |a: &Path, b: &Path| {
                let m = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
                matches!((m(a), m(b)), (Some(x), Some(y)) if x > y)
            };
            if newer(&jnl, &path) {
                cx.note(s, format!("zone {name}: {} is newer than the zone file: BIND keeps dynamic changes there; run `rndc sync -clean {name}` and import again, or they are lost", jnl.display()));
            }
            let _ = writeln!(o, "file = {}", q(&path.display().to_string()));
            primary_file = Some(path.clone());
        }
        "secondary" | "slave" => {
            let Some(p) = s.child("primaries").or_else(|| s.child("masters")) else {
                cx.note(
                    s,
                    format!("zone {name}: a secondary zone without primaries; left out"),
                );
                return Ok(None);
            };
            let prim = server_entries(p, cx, 0);
            if prim.is_empty() {
                cx.note(
                    s,
                    format!("zone {name}: no primary could be translated; left out"),
                );
                return Ok(None);
            }
            let _ = writeln!(o, "primaries = {}", list(&prim));
        }
        other => {
            cx.note(s, format!("zone {name} of type {other:?} is not translated (blason serves primary and secondary zones)"));
            return Ok(None);
        }
    }
    let transfer = s
        .child("allow-transfer")
        .cloned()
        .or_else(|| g_transfer.clone());
    if let Some(t) = &transfer {
        let e = acl_entries(t, cx, 0);
        let _ = writeln!(o, "allow-transfer = {}", list(&e));
    }
    let notify = s.child("also-notify").cloned().or_else(|| g_notify.clone());
    if let Some(n) = &notify {
        let e = server_entries(n, cx, 0);
        let _ = writeln!(o, "notify = {}", list(&e));
    }
    let mode = s
        .child("notify")
        .and_then(Statement::arg)
        .map(str::to_string)
        .or_else(|| g_notify_mode.clone());
    if matches!(mode.as_deref(), Some("no" | "explicit" | "false")) {
        let _ = writeln!(o, "notify-ns = false");
    }
    let primary = matches!(kind, "primary" | "master");
    let policy = s
        .child("dnssec-policy")
        .and_then(Statement::arg)
        .map(str::to_string)
        .or_else(|| g_policy.clone());
    let legacy = s.child("auto-dnssec").and_then(Statement::arg) == Some("maintain")
        || s.child("inline-signing").and_then(Statement::arg) == Some("yes");
    let signed = primary
        && (legacy
            || policy
                .as_deref()
                .is_some_and(|p| p != "none" && p != "insecure"));
    if signed {
        let _ = writeln!(o, "dnssec = true");
        if let Some(p) = policy.as_deref().filter(|p| *p != "default") {
            cx.note(s, format!("zone {name}: dnssec-policy {p:?} is signed with blason's default policy (the keys found are kept); set [zone.dnssec] to change lifetimes or algorithms"));
        }
        let kd = s
            .child("key-directory")
            .and_then(Statement::arg)
            .map(|k| dir.join(k))
            .unwrap_or_else(|| key_dir.to_path_buf());
        *kfiles += adopt_keys(&kd, &origin_name, state)
            .map_err(|e| Failed::new(blason_zone::Fault::System, e))?;
    }
    if primary {
        o.push_str(&update_tables(s, &origin, cx));
    } else if s.child("allow-update").is_some() || s.child("update-policy").is_some() {
        cx.note(
            s,
            format!("zone {name}: updates to a secondary zone go to its primary"),
        );
    }
    for c in s.children() {
        let known = [
            "type",
            "file",
            "primaries",
            "masters",
            "allow-transfer",
            "also-notify",
            "notify",
            "allow-update",
            "update-policy",
            "dnssec-policy",
            "auto-dnssec",
            "inline-signing",
            "key-directory",
            "allow-query",
            "journal",
            "serial-update-method",
            "check-names",
        ];
        if !known.contains(&c.keyword()) {
            cx.note(c, format!("zone {name}: {} is not translated", c.keyword()));
        }
    }
    Ok(Some(((o, origin_name), primary_file)))
}

/// A zone's config text and origin, and its file when it is a primary.
type Zone = ((String, Name), Option<PathBuf>);

/// Most questions asked per zone by --check (spread over the zone).
const CHECK_MAX: usize = 5000;

/// `--check`: blason with `conf` on a free loopback port; every name and type of
/// each primary zone's file (and a name that does not exist) asked of both. It
/// runs on a state folder of its own holding copies of the adopted keys, so the
/// check leaves `state` as the import made it and reads every zone file afresh.
fn check(
    conf: &Path,
    named: std::net::SocketAddr,
    zones: &[(Name, PathBuf)],
    state: &Path,
) -> Result<(usize, Vec<String>), Failed> {
    use blason_proto::client::Requester;
    use blason_zone::Rtype;
    let sys = |e: String| Failed::new(blason_zone::Fault::System, e);
    let port = {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| sys(e.to_string()))?;
        u.local_addr().map_err(|e| sys(e.to_string()))?.port()
    };
    let ours = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let tmp = std::env::temp_dir().join(format!("blason-import-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    for (origin, _) in zones {
        let (from, to) = (
            blason_server::dnssec::key_dir(state, origin),
            blason_server::dnssec::key_dir(&tmp, origin),
        );
        let Ok(rd) = std::fs::read_dir(&from) else {
            continue;
        };
        std::fs::create_dir_all(&to).map_err(|e| sys(format!("{}: {e}", to.display())))?;
        for e in rd.flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).map_err(|e| sys(e.to_string()))?;
        }
    }
    struct Gone(PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(tmp.clone());
    let exe = std::env::current_exe().map_err(|e| sys(e.to_string()))?;
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let child = std::process::Command::new(exe)
        .args(["serve", "--config"])
        .arg(conf)
        .args(["--listen", &ours.to_string()])
        .arg("--state")
        .arg(&tmp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| sys(format!("cannot start blason serve: {e}")))?;
    let mut child = Reap(child);
    let r = Requester::default();
    // Ready once it answers for the first zone (zones are signed before that).
    let started = std::time::Instant::now();
    if let Some((z, _)) = zones.first() {
        while r.ask(ours, z, Rtype::SOA).is_err() {
            if started.elapsed() > std::time::Duration::from_secs(60) {
                return Err(sys("blason did not answer within 60 s".into()));
            }
            if let Ok(Some(st)) = child.0.try_wait() {
                return Err(Failed::new(
                    blason_zone::Fault::Config,
                    format!("blason serve stopped ({st}): try it by hand with the new config"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let mut asked = 0;
    let mut diffs = Vec::new();
    for (origin, file) in zones {
        let loaded = blason_zone::load::load(origin, file)
            .map_err(|e| Failed::new(blason_zone::Fault::Input, e.to_string()))?;
        let mut qs: Vec<(Name, Rtype)> = Vec::new();
        for node in loaded.zone.nodes().iter() {
            for rs in node.rrsets.iter() {
                if rs.rtype != Rtype::RRSIG {
                    qs.push((node.name.clone(), rs.rtype));
                }
            }
        }
        if qs.len() > CHECK_MAX {
            let step = qs.len().div_ceil(CHECK_MAX);
            qs = qs.into_iter().step_by(step).collect();
        }
        // The serial apart: a signer (BIND's inline signing) moves it on its own.
        let serial = |at| {
            r.ask(at, origin, Rtype::SOA).ok().and_then(|m| {
                let rd = &m
                    .section(blason_proto::message::Section::Answer)
                    .first()?
                    .rdata;
                soa_serial_at(rd)
                    .map(|p| u32::from_be_bytes([rd[p], rd[p + 1], rd[p + 2], rd[p + 3]]))
            })
        };
        if let (Some(n), Some(b)) = (serial(named), serial(ours)) {
            if blason_zone::update::serial_gt(n, b) {
                diffs.push(format!(
                    "{origin} SOA serial: named serves {n}, blason {b}: secondaries that took {n} would ignore blason until its serial passes it; set the zone file's serial above {n} before switching"
                ));
            }
        }
        if let Ok(nx) = Name::parse(&format!("blason-import-check-nx.{origin}"), None) {
            qs.push((nx, Rtype::A));
        }
        for (name, t) in qs {
            asked += 1;
            let a = r.ask(named, &name, t).map(|m| view(&m));
            let b = r.ask(ours, &name, t).map(|m| view(&m));
            match (a, b) {
                (Ok(a), Ok(b)) if a == b => {}
                (Ok(a), Ok(b)) => diffs.push(format!("{name} {t}: named {a}; blason {b}")),
                (a, b) => diffs.push(format!(
                    "{name} {t}: named {}; blason {}",
                    shown(a),
                    shown(b)
                )),
            }
        }
    }
    drop(child);
    Ok((asked, diffs))
}

/// Where the serial sits in an uncompressed SOA rdata.
fn soa_serial_at(rd: &[u8]) -> Option<usize> {
    let mut p = 0;
    for _ in 0..2 {
        p += blason_zone::name::wire_name_len(rd, p)?;
    }
    (rd.len() >= p + 4).then_some(p)
}

fn shown(r: Result<String, blason_proto::ProtoError>) -> String {
    r.unwrap_or_else(|e| format!("no answer ({e})"))
}

/// What is compared of an answer: the RCODE, AA, and the answer records (or, for
/// a referral, the authority's NS), sorted.
fn view(m: &blason_proto::message::Message) -> String {
    use blason_proto::message::Section;
    let mut recs: Vec<String> = m
        .section(Section::Answer)
        .iter()
        .map(|r| {
            let mut rd = r.rdata.clone();
            // The serial is compared on its own (see `check`).
            if r.rtype == blason_zone::Rtype::SOA {
                if let Some(p) = soa_serial_at(&rd) {
                    rd[p..p + 4].fill(0);
                }
            }
            format!(
                "{} {} {} {:02x?}",
                r.owner.to_lowercase(),
                r.ttl,
                r.rtype,
                rd
            )
        })
        .collect();
    if recs.is_empty() && !m.is_authoritative() {
        recs = m
            .section(Section::Authority)
            .iter()
            .filter(|r| r.rtype == blason_zone::Rtype::NS)
            .map(|r| format!("{} {} NS {:02x?}", r.owner.to_lowercase(), r.ttl, r.rdata))
            .collect();
    }
    recs.sort();
    format!(
        "{}{} [{}]",
        blason_proto::rcode_name(m.rcode()),
        if m.is_authoritative() { " aa" } else { "" },
        recs.join("; ")
    )
}

/// Copies the zone's K-files (`K<zone>.+<alg>+<tag>.key` and `.private`) into
/// `<state>/<zone>/keys/`; returns how many keys. Files already there are kept.
fn adopt_keys(from: &Path, origin: &Name, state: &Path) -> Result<usize, String> {
    let prefix = format!("K{}+", origin.to_lowercase());
    let Ok(rd) = std::fs::read_dir(from) else {
        return Ok(0);
    };
    let to = blason_server::dnssec::key_dir(state, origin);
    let mut n = 0;
    for e in rd.flatten() {
        let fname = e.file_name().to_string_lossy().to_string();
        if !fname
            .to_ascii_lowercase()
            .starts_with(&prefix.to_ascii_lowercase())
        {
            continue;
        }
        let Some(stem) = fname.strip_suffix(".key") else {
            continue;
        };
        let private = from.join(format!("{stem}.private"));
        if !private.exists() {
            continue;
        }
        std::fs::create_dir_all(&to).map_err(|e| format!("cannot make {}: {e}", to.display()))?;
        for (src, name) in [
            (e.path(), fname.clone()),
            (private, format!("{stem}.private")),
        ] {
            let dst = to.join(&name);
            if dst.exists() {
                continue;
            }
            std::fs::copy(&src, &dst)
                .map_err(|e| format!("cannot copy {} to {}: {e}", src.display(), dst.display()))?;
            if name.ends_with(".private") {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600));
            }
        }
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What has no equivalent is named with its line; the rest makes a config that
    /// `blason serve` takes as it is.
    #[test]
    fn untranslatable_parts_are_listed_and_the_rest_is_a_valid_config() {
        let d = std::env::temp_dir().join(format!("blason-import-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a.db"), "").unwrap();
        let jnl = std::fs::File::create(d.join("a.db.jnl")).unwrap();
        jnl.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
            .unwrap();
        std::fs::write(
            d.join("named.conf"),
            r#"acl "secondaries" { 192.0.2.53; 2001:db8::53; key "xfr"; };
masters "upstream" { 198.51.100.1 port 5300 key "xfr"; };
options {
    directory "DIR";
    allow-transfer { secondaries; !192.0.2.1; };
    recursion yes;
    querylog yes;
    catalog-zones { zone "cat.example" default-primaries { 192.0.2.1; }; };
};
key "xfr" { algorithm hmac-sha512; secret "c2VjcmV0"; };
key "ddns" { algorithm hmac-md5; secret "c2VjcmV0"; };
zone "a.example" {
    type primary;
    file "a.db";
    update-policy { grant xfr name host.a.example. A AAAA; grant xfr subdomain dyn TXT; deny xfr name x.a.example.; grant other zonesub ANY; grant xfr krb5-self . ANY; };
    allow-update { 192.0.2.9; };
    also-notify { 192.0.2.53 port 5353 key "xfr"; };
    max-journal-size 10m;
};
zone "b.example" { type slave; masters { upstream; 203.0.113.5; }; };
zone "c.example" { type forward; forwarders { 192.0.2.1; }; };
zone "d.example" CH { type primary; file "d.db"; };
view "internal" { match-clients { 10.0.0.0/8; }; };
logging { channel x { file "log"; }; };
"#
            .replace("DIR", &d.display().to_string()),
        )
        .unwrap();
        let out = import(&d.join("named.conf"), &d.join("state")).unwrap();
        let notes = out.notes.join("\n");
        for want in [
            "named.conf:5: a negated element (!192.0.2.1)",
            "named.conf:6: recursion yes",
            "named.conf:7: option querylog is not translated",
            "named.conf:8: catalog-zones",
            "named.conf:11: key ddns: algorithm hmac-md5",
            "named.conf:15: deny rules are not translated",
            "named.conf:15: other is not a key",
            "named.conf:15: update-policy rule type krb5-self",
            "named.conf:16: allow-update by address",
            "named.conf:18: zone a.example: max-journal-size is not translated",
            "a.db.jnl is newer than the zone file",
            "named.conf:21: zone c.example of type \"forward\"",
            "named.conf:22: zone d.example of class CH",
            "named.conf:23: view is not translated",
            "named.conf:24: logging is not needed",
        ] {
            assert!(notes.contains(want), "missing {want:?} in:\n{notes}");
        }
        assert_eq!((out.zones, out.keys), (2, 1), "{}", out.toml);
        let file: crate::cmd::config::FileConfig =
            toml::from_str(&out.toml).unwrap_or_else(|e| panic!("{e}\n{}", out.toml));
        let a = &file.zone[0];
        assert_eq!(
            a.allow_transfer,
            ["192.0.2.53", "2001:db8::53", "key xfr"],
            "the acl expanded, the negation left out"
        );
        assert_eq!(a.notify, ["192.0.2.53:5353 key xfr"]);
        assert_eq!(a.update.len(), 2);
        assert_eq!(a.update[1].name.as_deref(), Some("dyn.a.example."));
        let b = &file.zone[1];
        assert_eq!(b.primaries, ["198.51.100.1:5300 key xfr", "203.0.113.5:53"]);
        // The whole of it reads as blason serve reads it.
        let merged = crate::cmd::config::merge(file, Default::default());
        assert!(merged.is_ok(), "{:?}\n{}", merged.err(), out.toml);
        let _ = std::fs::remove_dir_all(&d);
    }
}
