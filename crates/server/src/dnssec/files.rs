//! Files beside a zone's key state that `blason serve` and the CLI share.
//!
//! Only the server writes `keystate.toml`. The CLI hands it requests instead: one small
//! file per request in the zone's state folder (`request-roll-zsk.toml`,
//! `request-ds-seen.toml`, ...), written atomically; the server reads each at its next
//! tick, folds it into the state, saves, then deletes the file. The server in turn
//! writes `policy.toml`, the policy it runs with, so `blason dnssec status` shows the
//! same timings without the config file.

use blason_dnssec::policy::{Denial, KeyScheme, Policy};
use blason_dnssec::roll::{Role, Timestamp};
use blason_dnssec::state::write_atomic;
use std::fs;
use std::path::{Path, PathBuf};

pub const POLICY_FILE: &str = "policy.toml";
/// What the server last swapped in: serial, earliest signature expiration, how.
pub const SERVED_FILE: &str = "served.toml";
const PREFIX: &str = "request-";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// `blason dnssec roll --zsk|--ksk|--csk`.
    Roll(Role),
    /// `blason dnssec ds-seen`: the parent publishes the DS set the roll waits for.
    DsSeen,
}

impl Request {
    fn file_name(self) -> String {
        let what = match self {
            Request::Roll(Role::Zsk) => "roll-zsk",
            Request::Roll(Role::Ksk) => "roll-ksk",
            Request::Roll(Role::Csk) => "roll-csk",
            Request::DsSeen => "ds-seen",
        };
        format!("{PREFIX}{what}.toml")
    }

    fn from_file_name(name: &str) -> Option<Request> {
        let what = name.strip_prefix(PREFIX)?.strip_suffix(".toml")?;
        Some(match what {
            "roll-zsk" => Request::Roll(Role::Zsk),
            "roll-ksk" => Request::Roll(Role::Ksk),
            "roll-csk" => Request::Roll(Role::Csk),
            "ds-seen" => Request::DsSeen,
            _ => return None,
        })
    }
}

/// True for the files of this module (so a zone folder holding only these is new).
pub fn is_ours(name: &str) -> bool {
    name == POLICY_FILE
        || name == SERVED_FILE
        // The zone's journal (crate::journal) and what it leaves aside.
        || name == "journal"
        || name.starts_with("journal.")
        || name == ".journal.tmp"
        || name.starts_with(PREFIX)
        || name.starts_with(&format!(".{PREFIX}"))
}

/// Writes a request for the server into the zone's folder (made 0700 if missing).
pub fn write_request(
    zone_dir: &Path,
    r: Request,
    at: Timestamp,
) -> Result<PathBuf, blason_dnssec::Error> {
    make_dir(zone_dir)?;
    let path = zone_dir.join(r.file_name());
    write_atomic(&path, format!("at = {at}\n").as_bytes(), 0o600)?;
    Ok(path)
}

/// Creates a zone's folder (0700) when missing.
pub fn make_dir(dir: &Path) -> Result<(), blason_dnssec::Error> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|error| blason_dnssec::Error::Io {
        path: dir.to_path_buf(),
        op: "create",
        error,
    })
}

/// The requests waiting in the zone's folder, oldest first, with their files.
pub fn pending(zone_dir: &Path) -> Vec<(Request, Timestamp, PathBuf)> {
    let Ok(rd) = fs::read_dir(zone_dir) else {
        return vec![];
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(r) = Request::from_file_name(&name) else {
            continue;
        };
        let at = fs::read_to_string(e.path())
            .ok()
            .and_then(|t| {
                t.trim()
                    .strip_prefix("at = ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
            })
            .unwrap_or(0);
        out.push((r, at, e.path()));
    }
    out.sort_by_key(|x| x.1);
    out
}

/// The policy as TOML that [`blason_dnssec::policy::PolicyConfig::from_toml`] reads back.
pub fn policy_toml(p: &Policy) -> String {
    let mut s = String::from(
        "# The DNSSEC policy blason serve runs this zone with (for `blason dnssec status`).\n",
    );
    s += &format!("enabled = {}\n", p.enabled);
    s += &format!("algorithm = {}\n", p.algorithm.0);
    if p.bits().is_some() {
        s += &format!("bits = {}\n", p.rsa_bits);
    }
    s += &format!(
        "keys = \"{}\"\n",
        match p.scheme {
            KeyScheme::Csk => "csk",
            KeyScheme::KskZsk => "ksk+zsk",
        }
    );
    match p.denial {
        Denial::Nsec => s += "denial = \"nsec\"\n",
        Denial::Nsec3 { opt_out } => {
            s += &format!("denial = \"nsec3\"\nnsec3-opt-out = {opt_out}\n");
        }
    }
    for (k, v) in [
        ("signature-validity", p.signature_validity),
        ("signature-refresh", p.signature_refresh),
        ("signature-jitter", p.signature_jitter),
        ("signature-inception-offset", p.signature_inception_offset),
        ("zsk-lifetime", p.zsk_lifetime),
        ("ksk-lifetime", p.ksk_lifetime),
        ("propagation-delay", p.propagation_delay),
        ("publish-safety", p.publish_safety),
        ("retire-safety", p.retire_safety),
        ("parent-propagation-delay", p.parent_propagation_delay),
        ("registrar-delay", p.registrar_delay),
    ] {
        s += &format!("{k} = {v}\n");
    }
    for (k, v) in [
        ("dnskey-ttl", p.dnskey_ttl),
        ("zone-max-ttl", p.zone_max_ttl),
        ("ds-ttl", p.ds_ttl),
    ] {
        s += &format!("{k} = {v}\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use blason_dnssec::policy::PolicyConfig;

    #[test]
    fn policy_round_trips() {
        let mut p = Policy {
            scheme: KeyScheme::KskZsk,
            denial: Denial::Nsec3 { opt_out: true },
            zsk_lifetime: 30 * 86400,
            dnskey_ttl: 600,
            ..Policy::default()
        };
        assert_eq!(PolicyConfig::from_toml(&policy_toml(&p)).unwrap(), p);
        p.algorithm = blason_dnssec::roll::Alg::RSASHA256;
        p.rsa_bits = 3072;
        assert_eq!(PolicyConfig::from_toml(&policy_toml(&p)).unwrap(), p);
    }

    #[test]
    fn requests_are_written_and_found() {
        let d = std::env::temp_dir().join(format!("blason-req-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        write_request(&d, Request::Roll(Role::Zsk), 20).unwrap();
        write_request(&d, Request::DsSeen, 10).unwrap();
        fs::write(d.join("keystate.toml"), "x").unwrap();
        let p = pending(&d);
        assert_eq!(
            p.iter().map(|x| (x.0, x.1)).collect::<Vec<_>>(),
            vec![(Request::DsSeen, 10), (Request::Roll(Role::Zsk), 20)]
        );
        assert!(is_ours("request-ds-seen.toml") && !is_ours("keystate.toml"));
        let _ = fs::remove_dir_all(&d);
    }
}

/// The signed snapshot being served, as `blason dnssec status` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub serial: u32,
    /// Earliest RRSIG expiration in the snapshot (unix seconds).
    pub earliest_expiry: u64,
    pub at: Timestamp,
    /// "whole", "keys", "changes", "refresh" or "unsigned".
    pub how: String,
}

pub fn write_served(zone_dir: &Path, s: &Served) -> Result<(), blason_dnssec::Error> {
    let text = format!(
        "serial = {}\nearliest-expiry = {}\nat = {}\nhow = \"{}\"\n",
        s.serial, s.earliest_expiry, s.at, s.how
    );
    Ok(write_atomic(
        &zone_dir.join(SERVED_FILE),
        text.as_bytes(),
        0o600,
    )?)
}

/// None when the file is missing or unreadable (status then says nothing of it).
pub fn read_served(zone_dir: &Path) -> Option<Served> {
    let text = fs::read_to_string(zone_dir.join(SERVED_FILE)).ok()?;
    let mut s = Served::default();
    for line in text.lines() {
        let (k, v) = line.split_once('=')?;
        let v = v.trim();
        match k.trim() {
            "serial" => s.serial = v.parse().ok()?,
            "earliest-expiry" => s.earliest_expiry = v.parse().ok()?,
            "at" => s.at = v.parse().ok()?,
            "how" => s.how = v.trim_matches('"').to_string(),
            _ => {}
        }
    }
    Some(s)
}
