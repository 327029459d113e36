//! Automatic DKIM key rollover, decided by a pure planner with time as a
//! parameter (like the DNSSEC one): a series of selectors `PREFIX-YYYYMMDD`, each
//! key going through
//!
//! 1. created: its record is published with the zone's next commit;
//! 2. published: once two TTLs have passed since (caches have seen it), it
//!    becomes the signing key and the one before is retired;
//! 3. retired: its record stays for `in_flight` (mail signed with it may still
//!    be queued somewhere), then is revoked (`p=` empty, RFC 6376 §3.6.1);
//! 4. revoked: after `in_flight` more, the record and the key are removed.
//!
//! The first key of a series signs at once (nothing signed before it). A new key
//! is made `lifetime` after the signing key started, early enough that it is
//! published two TTLs before the switch.

use std::fmt::Write as _;

/// One key of a series, with the times (unix seconds) it passed each step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RollKey {
    pub selector: String,
    pub created: u64,
    pub published: Option<u64>,
    pub active: Option<u64>,
    pub retired: Option<u64>,
    pub revoked: Option<u64>,
}

impl RollKey {
    /// The key signs now.
    pub fn signing(&self) -> bool {
        self.active.is_some() && self.retired.is_none()
    }
}

/// How a series rolls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RollPolicy {
    /// How long a key signs.
    pub lifetime: u64,
    /// The TTL of the key records.
    pub ttl: u64,
    /// How long a retired key stays published, then how long revoked.
    pub in_flight: u64,
}

/// What the executor does for the plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make a key pair for this selector.
    Create(String),
    /// Remove the private key of this selector.
    Delete(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub keys: Vec<RollKey>,
    pub actions: Vec<Action>,
    /// When the plan changes next by time alone.
    pub next: Option<u64>,
}

/// `PREFIX-YYYYMMDD` for `now` (with the time, `tHHMMSS`, for lifetimes under two
/// days, so a name never comes back after its key was removed: a cache may still
/// hold the revoked record), with `b`, `c`, ... when taken.
fn selector_for(prefix: &str, now: u64, lifetime: u64, taken: &[RollKey]) -> String {
    let mut t = String::new();
    blason_zone::rdata::format_time(now.min(u64::from(u32::MAX)) as u32, &mut t);
    let mut base = format!("{prefix}-{}", &t[..8]);
    if lifetime < 2 * 86_400 {
        base.push_str(&format!("t{}", &t[8..]));
    }
    let mut s = base.clone();
    let mut n = 0u8;
    while taken.iter().any(|k| k.selector == s) {
        s = format!("{base}{}", (b'b' + n.min(24)) as char);
        n += 1;
        if n > 24 {
            s = format!("{base}-{now}");
            break;
        }
    }
    s
}

/// The next state of a series at `now`. `keys` is the state as recorded; a key's
/// `published` is stamped by the executor once its record is served (see
/// [`mark_published`]), never by the planner.
pub fn plan(prefix: &str, keys: &[RollKey], p: RollPolicy, now: u64) -> Plan {
    let mut keys: Vec<RollKey> = keys.to_vec();
    let mut actions = Vec::new();
    let mut next: Option<u64> = None;
    let mut at = |t: u64| {
        if t > now {
            next = Some(next.map_or(t, |n: u64| n.min(t)));
        }
    };
    let seen = 2 * p.ttl;
    // Revoked keys go after in_flight; retired ones are revoked after it.
    let mut gone = Vec::new();
    for k in keys.iter_mut() {
        if let Some(r) = k.revoked {
            if now >= r + p.in_flight {
                gone.push(k.selector.clone());
            } else {
                at(r + p.in_flight);
            }
        } else if let Some(r) = k.retired {
            if now >= r + p.in_flight {
                k.revoked = Some(now);
                at(now + p.in_flight);
            } else {
                at(r + p.in_flight);
            }
        }
    }
    keys.retain(|k| !gone.contains(&k.selector));
    actions.extend(gone.into_iter().map(Action::Delete));
    // A published successor takes over once caches have seen it.
    let successor = keys
        .iter()
        .position(|k| k.active.is_none() && k.revoked.is_none() && k.retired.is_none());
    if let Some(i) = successor {
        match keys[i].published {
            Some(t) if now >= t + seen => {
                for k in keys.iter_mut() {
                    if k.signing() {
                        k.retired = Some(now);
                        at(now + p.in_flight);
                    }
                }
                keys[i].active = Some(now);
            }
            Some(t) => at(t + seen),
            None => {}
        }
    }
    let signing = keys.iter().find(|k| k.signing()).cloned();
    let pending = keys
        .iter()
        .any(|k| k.active.is_none() && k.retired.is_none() && k.revoked.is_none());
    // A new key: the first of a series signs at once (nothing signed before it);
    // a successor is made early enough to be seen for two TTLs when the lifetime
    // of the signing key ends.
    let make = match (&signing, pending) {
        (None, false) => Some(Some(now)),
        (Some(k), false) => {
            let make_at = k.active.unwrap_or(now) + p.lifetime.saturating_sub(seen);
            if now >= make_at {
                Some(None)
            } else {
                at(make_at);
                None
            }
        }
        _ => None,
    };
    if let Some(active) = make {
        let s = selector_for(prefix, now, p.lifetime, &keys);
        actions.push(Action::Create(s.clone()));
        keys.push(RollKey {
            selector: s,
            created: now,
            published: None,
            active,
            retired: None,
            revoked: None,
        });
        if active.is_some() {
            at(now + p.lifetime.saturating_sub(seen));
        }
    }
    Plan {
        keys,
        actions,
        next,
    }
}

/// Stamps `now` as the publication time of every key not yet published: called
/// once the zone serves their records.
pub fn mark_published(keys: &mut [RollKey], now: u64) -> bool {
    let mut changed = false;
    for k in keys.iter_mut().filter(|k| k.published.is_none()) {
        k.published = Some(now);
        changed = true;
    }
    changed
}

/// The state file: one key per line, `selector created published active retired
/// revoked`, `-` for a step not reached.
pub fn to_text(keys: &[RollKey]) -> String {
    let mut s =
        String::from("# blason DKIM key roll: selector created published active retired revoked\n");
    let t = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    for k in keys {
        let _ = writeln!(
            s,
            "{} {} {} {} {} {}",
            k.selector,
            k.created,
            t(k.published),
            t(k.active),
            t(k.retired),
            t(k.revoked)
        );
    }
    s
}

/// Reads [`to_text`]; lines that do not parse are reported, not taken.
pub fn parse(text: &str) -> Result<Vec<RollKey>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!(
                "line {}: {line:?} is not 'selector created published active retired revoked'",
                i + 1
            )
        };
        if f.len() != 6 {
            return Err(bad());
        }
        let opt = |s: &str| -> Result<Option<u64>, String> {
            if s == "-" {
                Ok(None)
            } else {
                s.parse().map(Some).map_err(|_| bad())
            }
        };
        out.push(RollKey {
            selector: f[0].to_string(),
            created: f[1].parse().map_err(|_| bad())?,
            published: opt(f[2])?,
            active: opt(f[3])?,
            retired: opt(f[4])?,
            revoked: opt(f[5])?,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    /// A year of rolls, a tick an hour, the executor publishing at each commit:
    /// at every moment exactly one key signs, it has been published for two TTLs
    /// (except the first), a retired key stays published for in_flight, and keys
    /// are removed in the end.
    #[test]
    fn a_year_of_rolls() {
        let p = RollPolicy {
            lifetime: 30 * DAY,
            ttl: 3600,
            in_flight: 7 * DAY,
        };
        let start = 1_796_342_400; // 2026-12-04
        let mut keys: Vec<RollKey> = Vec::new();
        let mut created = 0;
        let mut deleted = 0;
        let mut t = start;
        while t < start + 365 * DAY {
            let pl = plan("mail", &keys, p, t);
            for a in &pl.actions {
                match a {
                    Action::Create(_) => created += 1,
                    Action::Delete(_) => deleted += 1,
                }
            }
            keys = pl.keys;
            // The commit that serves the new records.
            mark_published(&mut keys, t);
            let signing: Vec<&RollKey> = keys.iter().filter(|k| k.signing()).collect();
            assert_eq!(signing.len(), 1, "at {t}: {keys:?}");
            let s = signing[0];
            if s.created != start {
                assert!(
                    s.active.unwrap() >= s.published.unwrap() + 2 * p.ttl,
                    "{s:?}"
                );
            }
            for k in &keys {
                if let (Some(r), None) = (k.retired, k.revoked) {
                    assert!(t < r + p.in_flight + 3600, "revoked late: {k:?} at {t}");
                }
            }
            if let Some(n) = pl.next {
                assert!(n > t);
            }
            t += 3600;
        }
        assert_eq!(created, 13, "a key every 30 days");
        assert!(deleted >= 10, "{deleted}");
        assert!(keys.len() <= 3, "{keys:?}");
        assert!(keys[0].selector.starts_with("mail-2027"), "{keys:?}");
    }

    #[test]
    fn first_key_signs_at_once_and_names_are_unique() {
        let p = RollPolicy {
            lifetime: 10,
            ttl: 1,
            in_flight: 3,
        };
        let pl = plan("k", &[], p, 1_796_342_400);
        assert_eq!(pl.actions, vec![Action::Create("k-20261204t000000".into())]);
        assert!(pl.keys[0].signing());
        assert_eq!(pl.next, Some(1_796_342_408));
        let mut keys = pl.keys;
        mark_published(&mut keys, 1_796_342_400);
        let pl = plan("k", &keys, p, 1_796_342_408);
        assert_eq!(pl.actions, vec![Action::Create("k-20261204t000008".into())]);
        // Daily names, with a letter when the day's name is taken.
        let day = RollPolicy {
            lifetime: 30 * DAY,
            ttl: 3600,
            in_flight: DAY,
        };
        let k = plan("m", &[], day, 1_796_342_400).keys;
        assert_eq!(
            selector_for("m", 1_796_342_500, day.lifetime, &k),
            "m-20261204b"
        );
        assert_eq!(parse(&to_text(&pl.keys)).unwrap(), pl.keys);
        assert!(parse("a 1 2").is_err());
    }

    #[test]
    fn an_unpublished_successor_never_signs() {
        let p = RollPolicy {
            lifetime: 10,
            ttl: 1,
            in_flight: 3,
        };
        let mut keys = plan("k", &[], p, 0).keys;
        mark_published(&mut keys, 0);
        let pl = plan("k", &keys, p, 8);
        assert_eq!(pl.keys.len(), 2);
        // Its record never served (the commit failed): the old key keeps signing.
        let pl = plan("k", &pl.keys, p, 100);
        let signing: Vec<_> = pl.keys.iter().filter(|k| k.signing()).collect();
        assert_eq!(signing.len(), 1);
        assert_eq!(signing[0].selector, "k-19700101t000000");
    }
}
