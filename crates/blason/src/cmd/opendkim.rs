//! OpenDKIM's config as the tutorials write it (`/etc/opendkim.conf` with its
//! KeyTable, SigningTable and TrustedHosts), read for `blason milter
//! --opendkim-conf`: Postfix keeps talking to the same socket, unchanged.

use super::milter::{loopback, Config, Match};
use blason_mail::dkim_sign::{Signer, SigningKey};
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Settings read here.
const TAKEN: &[&str] = &[
    "socket",
    "keytable",
    "signingtable",
    "internalhosts",
    "externalignorelist",
    "subdomains",
    "mode",
    "canonicalization",
    "oversignheaders",
    "domain",
    "selector",
    "keyfile",
    "authservid",
    "nameservers",
    "umask",
];

/// Settings that change nothing here (logging, process management).
const HARMLESS: &[&str] = &[
    "syslog",
    "syslogsuccess",
    "logwhy",
    "userid",
    "pidfile",
    "autorestart",
    "autorestartrate",
    "background",
    "dnstimeout",
    "signaturealgorithm",
    "trustanchorfile",
];

/// A table file named by `refile:`, `file:` or a bare path; whether refile.
fn table(value: &str) -> (PathBuf, bool) {
    if let Some(p) = value.strip_prefix("refile:") {
        (PathBuf::from(p), true)
    } else {
        (
            PathBuf::from(value.strip_prefix("file:").unwrap_or(value)),
            false,
        )
    }
}

/// Lines of a table file: (line number, fields), comments and blanks out.
fn lines(path: &Path) -> Result<Vec<(usize, Vec<String>)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.split('#').next().unwrap_or("").trim();
            (!l.is_empty()).then(|| (i + 1, l.split_whitespace().map(str::to_string).collect()))
        })
        .collect())
}

/// Reads `conf`: the signers (in SigningTable order), the internal hosts, the
/// Socket, and notes on what is not taken (each with its file and line).
pub fn read(conf: &Path) -> Result<(Config, Option<String>, Vec<String>), String> {
    let mut notes = Vec::new();
    let mut settings: HashMap<String, (usize, String)> = HashMap::new();
    for (n, f) in lines(conf)? {
        let key = f[0].to_ascii_lowercase();
        let value = f[1..].join(" ");
        settings.insert(key, (n, value));
    }
    let at = |n: usize| format!("{}:{n}", conf.display());
    let get = |k: &str| settings.get(k).map(|(_, v)| v.clone());
    for (k, (n, v)) in &settings {
        if !TAKEN.contains(&k.as_str()) && !HARMLESS.contains(&k.as_str()) {
            notes.push(format!("{}: {k} {v} is not taken", at(*n)));
        }
    }
    if let Some((n, c)) = settings.get("canonicalization") {
        if !c.eq_ignore_ascii_case("relaxed/relaxed") {
            notes.push(format!(
                "{}: Canonicalization {c}: blason signs relaxed/relaxed",
                at(*n)
            ));
        }
    }
    let subdomains = get("subdomains")
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"));

    // KeyTable: name → signer.
    let mut keys: HashMap<String, (String, String, PathBuf)> = HashMap::new();
    if let Some(kt) = get("keytable") {
        let (path, _) = table(&kt);
        for (n, f) in lines(&path)? {
            // `name domain:selector:keyfile`, or `name domain selector keyfile`.
            let parts: Vec<String> = match f.len() {
                2 => f[1].splitn(3, ':').map(str::to_string).collect(),
                4 => f[1..].to_vec(),
                _ => Vec::new(),
            };
            if parts.len() != 3 {
                notes.push(format!(
                    "{}:{n}: a KeyTable line is NAME DOMAIN:SELECTOR:KEYFILE; left out",
                    path.display()
                ));
                continue;
            }
            keys.insert(
                f[0].to_ascii_lowercase(),
                (parts[0].clone(), parts[1].clone(), PathBuf::from(&parts[2])),
            );
        }
    } else if let (Some(d), Some(s), Some(k)) = (get("domain"), get("selector"), get("keyfile")) {
        keys.insert("default".into(), (d, s, PathBuf::from(k)));
    }
    let load = |(domain, selector, path): &(String, String, PathBuf)| -> Result<Signer, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let k = SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", path.display()))?;
        Signer::new(domain, selector, k)
    };

    // SigningTable: pattern → key name, in order.
    let mut signers = Vec::new();
    if let Some(st) = get("signingtable") {
        let (path, refile) = table(&st);
        for (n, f) in lines(&path)? {
            if f.len() < 2 {
                notes.push(format!(
                    "{}:{n}: a SigningTable line is PATTERN KEYNAME; left out",
                    path.display()
                ));
                continue;
            }
            let Some(k) = keys.get(&f[1].to_ascii_lowercase()) else {
                return Err(format!(
                    "{}:{n}: key {} is not in the KeyTable",
                    path.display(),
                    f[1]
                ));
            };
            let pattern = f[0].to_ascii_lowercase();
            // refile: patterns and whole addresses match the From address; a bare
            // domain matches its domain (and below, with SubDomains).
            let m = if refile || pattern.contains('@') {
                Match::Glob(pattern)
            } else {
                Match::Domain {
                    domain: pattern,
                    subdomains,
                }
            };
            signers.push((m, load(k)?));
        }
    } else if let Some(k) = keys.get("default") {
        let s = load(k)?;
        let m = Match::Domain {
            domain: s.domain.clone(),
            subdomains,
        };
        signers.push((m, s));
    }
    let verify_only = get("mode").is_some_and(|m| !m.contains('s'));
    if signers.is_empty() && !verify_only {
        return Err(format!(
            "{}: no key to sign with (KeyTable and SigningTable, or Domain, Selector and KeyFile)",
            conf.display()
        ));
    }

    // InternalHosts (OpenDKIM's default: loopback); ExternalIgnoreList is signed
    // alike here (mail from those hosts is ours).
    let mut internal = Vec::new();
    for k in ["internalhosts", "externalignorelist"] {
        let Some(v) = get(k) else { continue };
        let (path, _) = table(&v);
        for (n, f) in lines(&path)? {
            let h = f[0].trim_start_matches('!');
            if f[0].starts_with('!') {
                notes.push(format!(
                    "{}:{n}: a negated host ({}) is not taken",
                    path.display(),
                    f[0]
                ));
                continue;
            }
            let h = if h == "localhost" { "127.0.0.1" } else { h };
            match blason_server::xfr::parse_prefix(h) {
                Ok(p) => internal.push(p),
                Err(_) if h.parse::<IpAddr>().is_err() => notes.push(format!(
                    "{}:{n}: {h} is a host name; give its address",
                    path.display()
                )),
                Err(e) => notes.push(format!("{}:{n}: {e}", path.display())),
            }
        }
    }
    if internal.is_empty() {
        internal = loopback();
    }
    let cfg = Config {
        internal,
        mode: get("mode"),
        authserv_id: get("authservid"),
        // The first of Nameservers (addresses, comma-separated), at port 53.
        resolver: get("nameservers").and_then(|v| {
            let first = v.split(',').next()?.trim().to_string();
            first
                .parse::<IpAddr>()
                .ok()
                .map(|ip| std::net::SocketAddr::new(ip, 53))
        }),
        umask: get("umask").and_then(|u| u32::from_str_radix(u.trim(), 8).ok()),
        ..Config::signing(signers)
    };
    Ok((cfg, get("socket"), notes))
}
