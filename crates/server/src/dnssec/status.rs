//! `blason dnssec status`: where each key's records stand, the roll in progress and
//! its stage (the planner's own rule), what comes next and what it waits for. Rendered
//! here, from the key state, for the server (over the control socket, from the state
//! it holds) and for the CLI (from the files, when no server runs) alike.

use super::files;
use super::{ds_text, earliest_expiry};
use blason_dnssec::keys::{DigestType, Key};
use blason_dnssec::policy::{show, Policy};
use blason_dnssec::roll::{
    self, plan, stages, KeyId, Phase, RecordKind, State, Timing, Waiting, Want,
};
use blason_zone::Name;
use std::collections::HashMap;
use std::path::Path;

/// Whose status, and what the planner works with.
pub struct Subject<'a> {
    pub origin: &'a Name,
    /// The zone's state folder (`<state>/<zone>`).
    pub dir: &'a Path,
    pub policy: &'a Policy,
    /// Where the policy comes from, as shown.
    pub policy_from: &'a str,
    /// The parent's servers the server asks (`dnssec-parent`).
    pub parents: &'a [String],
}

/// The status text of `state` at `t`; `material` gives the DS to show for keys
/// whose files could be read.
pub fn render(z: &Subject<'_>, state: &State, material: &HashMap<KeyId, Key>, t: u64) -> String {
    let name = |id: KeyId| match state.key(id).and_then(|k| k.tag) {
        Some(tag) => format!("tag {tag}"),
        None => format!("{id} (not generated yet)"),
    };
    render_with(z, state, material, t, &name)
}

fn render_with(
    z: &Subject<'_>,
    state: &State,
    material: &HashMap<KeyId, Key>,
    t: u64,
    name: &dyn Fn(KeyId) -> String,
) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let timing = Timing::new(z.policy, state, t);
    let _ = writeln!(o, "zone {}", z.origin.to_lowercase());
    let _ = writeln!(
        o,
        "  state   {}",
        z.dir.join(blason_dnssec::state::FILE).display()
    );
    let _ = writeln!(o, "  policy  {}", z.policy_from);
    let _ = writeln!(o, "  now     {}", time_text(t));
    let _ = writeln!(o, "\nkeys");
    if state.keys.is_empty() {
        let _ = writeln!(o, "  none yet");
    }
    for k in &state.keys {
        let _ = writeln!(
            o,
            "  {}  {}  {}  ({}, created {}{})",
            name(k.id),
            k.alg,
            k.role,
            k.id,
            time_text(k.created),
            k.active_since
                .map(|a| format!(", active since {}", time_text(a)))
                .unwrap_or_default()
        );
        for kind in [
            RecordKind::Dnskey,
            RecordKind::DnskeyRrsig,
            RecordKind::ZoneRrsig,
            RecordKind::Ds,
        ] {
            let rec = k.rec(kind);
            let (ph, until) = timing.phase(rec, kind, t);
            let since = match rec {
                roll::Rec::Never => String::new(),
                roll::Rec::In { since } => format!("published {}", when(since, t)),
                roll::Rec::Out { since } => format!("withdrawn {}", when(since, t)),
            };
            let settle = until
                .map(|u| format!("; settles {}", when(u, t)))
                .unwrap_or_default();
            let line = format!(
                "      {:<14} {:<12} {since}{settle}",
                kind.to_string(),
                phase_name(ph)
            );
            let _ = writeln!(o, "{}", line.trim_end());
        }
        if let Some(c) = k.cds {
            let _ = writeln!(o, "      {:<14} published {}", "CDS/CDNSKEY", when(c, t));
        } else if let Some(c) = k.cds_withdrawn {
            let _ = writeln!(o, "      {:<14} withdrawn {}", "CDS/CDNSKEY", when(c, t));
        }
    }
    if let Some(c) = state.cds_delete {
        let _ = writeln!(o, "  CDS/CDNSKEY delete form published {}", when(c, t));
    }

    let _ = writeln!(o);
    if state.rolls.is_empty() {
        let _ = writeln!(o, "roll: none in progress");
    }
    for r in &state.rolls {
        let olds: Vec<String> = r.old.iter().map(|&id| name(id)).collect();
        let news: Vec<String> = r
            .new
            .iter()
            .map(|n| format!("{} {}", name(n.id), n.role))
            .collect();
        let _ = writeln!(
            o,
            "roll: {} started {}: [{}] -> [{}]",
            r.kind,
            when(r.started, t),
            olds.join(", "),
            news.join(", ")
        );
        let st = stages(r, state);
        // The planner's own rule (the registrar delay on a DS never seen included).
        let cur = roll::current_stage(r, state, z.policy, t);
        if let Some(s) = st.get(cur) {
            let what: Vec<String> = s
                .targets
                .iter()
                .map(|tg| {
                    format!(
                        "{} of {} {}",
                        tg.record,
                        name(tg.key),
                        if tg.want == Want::In { "in" } else { "out" }
                    )
                })
                .collect();
            let _ = writeln!(
                o,
                "  stage {} of {}: {}",
                cur + 1,
                st.len(),
                if what.is_empty() {
                    "CDS/CDNSKEY, then done".to_string()
                } else {
                    what.join(", ")
                }
            );
        }
    }
    for h in state.history.iter().rev().take(3) {
        let _ = writeln!(o, "  earlier: {} finished {}", h.kind, when(h.finished, t));
    }
    for r in &state.requests {
        let _ = writeln!(o, "  requested: {} roll (asked {})", r.role, when(r.at, t));
    }
    for (r, at, _) in files::pending(z.dir) {
        let _ = writeln!(
            o,
            "  request not yet picked up by the server: {r:?} ({})",
            when(at, t)
        );
    }

    let pl = plan(state, z.policy, t, &[]).with_schedule(state, z.policy);
    let due: Vec<String> = pl
        .actions
        .iter()
        .filter(|a| a.changes_state())
        .map(|a| with_tags(&a.to_string(), state))
        .collect();
    let _ = writeln!(o, "\nnext");
    if !due.is_empty() {
        let _ = writeln!(
            o,
            "  due now (the server does it at its next tick): {}",
            due.join("; ")
        );
    }
    // The first coming time the planner acts, if nothing else changes before.
    let mut ev = pl.next_event;
    let mut step = None;
    for _ in 0..16 {
        let Some(e) = ev else { break };
        let then = plan(state, z.policy, e, &[]);
        let what: Vec<String> = then
            .actions
            .iter()
            .filter(|a| a.changes_state())
            .map(|a| with_tags(&a.to_string(), state))
            .collect();
        if !what.is_empty() {
            step = Some((e, what));
            break;
        }
        ev = then.next_event.filter(|&n| n > e);
    }
    match step {
        Some((e, what)) => {
            let _ = writeln!(o, "  next step {}: {}", when(e, t), what.join("; "));
        }
        None => match pl.next_event {
            Some(n) => {
                let _ = writeln!(o, "  next check {}", when(n, t));
            }
            None => {
                let _ = writeln!(o, "  no step scheduled");
            }
        },
    }
    let _ = writeln!(o, "\nwaiting for");
    if pl.waiting.is_empty() {
        let _ = writeln!(o, "  nothing");
    }
    for w in &pl.waiting {
        let line = match w {
            Waiting::Propagation { key, record, until } => {
                format!(
                    "{record} of {} to settle in caches, {}",
                    name(*key),
                    when(*until, t)
                )
            }
            Waiting::ParentDs {
                key,
                present: true,
                since,
            } => {
                let ds = material
                    .get(key)
                    .map(|m| ds_text(z.origin, m, DigestType::Sha256))
                    .unwrap_or_else(|| "(key file unreadable)".into());
                let how = if z.parents.is_empty() {
                    format!(
                        "then `blason dnssec ds-seen {}` (or set dnssec-parent so the server checks itself)",
                        z.origin.to_lowercase()
                    )
                } else {
                    format!("the server checks {}", z.parents.join(", "))
                };
                format!(
                    "DS for {} at the parent{}: give the registrar {ds}; {how}",
                    name(*key),
                    since
                        .map(|s| format!(" (CDS published {})", when(s, t)))
                        .unwrap_or_default()
                )
            }
            Waiting::ParentDs {
                key,
                present: false,
                since,
            } => format!(
                "the parent to remove the DS for {}{}",
                name(*key),
                since
                    .map(|s| format!(" (asked {})", when(s, t)))
                    .unwrap_or_default()
            ),
            Waiting::KeyGeneration(k) => format!("{k} to be generated by the server"),
            Waiting::Roll { role, at } => format!("the next {role} roll by age, {}", when(*at, t)),
        };
        let _ = writeln!(o, "  - {line}");
    }
    if !pl.warnings.is_empty() {
        let _ = writeln!(o, "\nwarnings");
        for w in &pl.warnings {
            let _ = writeln!(o, "  ! {w}");
        }
    }
    match files::read_served(z.dir) {
        Some(s) if s.how == "unsigned" => {
            let _ = writeln!(
                o,
                "\nserved: serial {}, unsigned since {}",
                s.serial,
                when(s.at, t)
            );
        }
        Some(s) => {
            let _ = writeln!(
                o,
                "\nserved: serial {}, signed {} ({}); no signature expires before {}; due ones are re-signed {} ahead",
                s.serial,
                when(s.at, t),
                s.how,
                when(s.earliest_expiry, t),
                show(z.policy.signature_refresh)
            );
        }
        None => {
            let exp = earliest_expiry(z.policy, t);
            let _ = writeln!(
                o,
                "\nsigning: not served yet; a pass now gives earliest signature expiration {}, re-signed {} before it",
                when(exp, t),
                show(z.policy.signature_refresh)
            );
        }
    }
    o
}

/// `key#2` becomes `key#2 (tag 12345)` for keys that have a tag.
fn with_tags(text: &str, state: &State) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("key#") {
        let (head, tail) = rest.split_at(i + 4);
        out.push_str(head);
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&tail[..n]);
        if let Some(tag) = tail[..n]
            .parse::<u32>()
            .ok()
            .and_then(|id| state.key(KeyId(id)))
            .and_then(|k| k.tag)
        {
            out.push_str(&format!(" (tag {tag})"));
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn time_text(t: u64) -> String {
    let mut s = String::new();
    blason_zone::rdata::format_time(t.min(u64::from(u32::MAX)) as u32, &mut s);
    match (
        s.get(0..4),
        s.get(4..6),
        s.get(6..8),
        s.get(8..10),
        s.get(10..12),
        s.get(12..14),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(se)) => {
            format!("{y}-{mo}-{d} {h}:{mi}:{se} UTC")
        }
        _ => s,
    }
}

/// `3h 12m`, `45s`: the two largest units.
pub fn span(s: u64) -> String {
    let parts = [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")];
    let mut out = Vec::new();
    let mut r = s;
    for (n, u) in parts {
        if r >= n || (out.is_empty() && n == 1) {
            out.push(format!("{}{u}", r / n));
            r %= n;
        }
        if out.len() == 2 {
            break;
        }
    }
    out.join(" ")
}

/// A time with how far it is from `now`.
pub fn when(t: u64, now: u64) -> String {
    if t == now {
        format!("{} (just now)", time_text(t))
    } else if t > now {
        format!("{} (in {})", time_text(t), span(t - now))
    } else {
        format!("{} ({} ago)", time_text(t), span(now - t))
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Hidden => "hidden",
        Phase::Rumoured => "rumoured",
        Phase::Omnipresent => "omnipresent",
        Phase::Unretentive => "unretentive",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_well() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(45), "45s");
        assert_eq!(span(3 * 3600 + 12 * 60 + 5), "3h 12m");
        assert_eq!(span(86400 + 7200), "1d 2h");
        assert_eq!(span(60), "1m");
    }
}
