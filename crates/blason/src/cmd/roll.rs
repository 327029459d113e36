//! `blason dnssec roll`, `ds-seen` and `status`: the operator's side of the key rolls
//! `blason serve` carries out. These commands read the key state and never write it;
//! requests reach the server as files it picks up at its next tick (see
//! `blason_server::dnssec::files`).
use crate::cmd::config::{state_of, FileConfig};
use crate::cmd::exit::Failed;
use crate::cmd::zone::parse_origin;
use blason_dnssec::keys::{read_bind, DigestType, Key};
use blason_dnssec::policy::{show, Policy, PolicyConfig};
use blason_dnssec::roll::{
    self, plan, stages, Action, KeyId, Phase, RecordKind, Role, State, Timing, Waiting, Want,
};
use blason_dnssec::state::StateDir;
use blason_server::control::{self, Command};
use blason_server::dnssec::files::{self, Request};
use blason_server::dnssec::{ds_text, zone_dir, zone_key};
use blason_zone::Name;
use clap::{ArgGroup, Args};
use std::collections::HashMap;
use std::path::PathBuf;

/// Where the zone's state and policy come from.
#[derive(Args)]
pub struct Place {
    /// The zone's origin, e.g. example.com
    pub origin: String,
    /// blason's state folder, as given to `blason serve --state` (default: the
    /// config's `state`, else ./blason-state from a checkout, /var/lib/blason installed)
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// The `blason serve` config file, for the zone's policy and state folder
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Args)]
#[command(group(ArgGroup::new("role").required(true).args(["zsk", "ksk", "csk"])))]
pub struct RollArgs {
    #[command(flatten)]
    pub place: Place,
    /// Roll the zone-signing key (pre-publication; the parent is not involved)
    #[arg(long)]
    pub zsk: bool,
    /// Roll the key-signing key (double DS: the parent must publish the new DS first)
    #[arg(long)]
    pub ksk: bool,
    /// Roll the combined signing key (the parent's DS changes too)
    #[arg(long)]
    pub csk: bool,
}

pub const ROLL_HELP: &str = "\
How it works: this command checks the roll can start, then leaves a request in the
zone's state folder; the running `blason serve` starts the roll at its next tick (about
a second) and carries it through, each step when the TTLs say caches have caught up.
This command never changes the key state itself, so it is safe while the server runs.

A ZSK roll needs nothing from you. A KSK or CSK roll waits for the parent: with
`dnssec-parent = [\"ADDR\", ...]` in the zone's config the server asks the parent's
servers and goes on once all of them serve the new DS; without it, give the DS that
`blason dnssec status` shows to your registrar, then run `blason dnssec ds-seen`.

To roll to another algorithm, change `algorithm` in the zone's dnssec policy and
restart the server: the planner sees the key set no longer matches and rolls it.

Examples:
  blason dnssec roll example.com --zsk --state /var/lib/blason
  blason dnssec roll example.com --ksk --config /etc/blason/blason.toml
  blason dnssec status example.com --state /var/lib/blason     # follow it";

pub const DS_SEEN_HELP: &str = "\
Use this when the zone has no `dnssec-parent` servers configured: once the parent (your
registrar) shows the DS set that `blason dnssec status` asks for (check with
`dig DS example.com @a-parent-server`), tell the server so; it goes on at its next tick.
Refused when no step waits for the parent, so a stray confirmation cannot count for a
later step.

Example:
  blason dnssec ds-seen example.com --state /var/lib/blason";

pub const STATUS_HELP: &str = "\
Shows, from the key state `blason serve` keeps: each key (tag, algorithm, role) and
where each of its records stands — DNSKEY, its RRSIG over the DNSKEY RRset, its RRSIGs
over the zone, the DS at the parent — as hidden, rumoured (published, caches catching
up), omnipresent or unretentive (withdrawn, caches may still hold it), with since when;
the roll in progress and its stage; what the server does next and when; and what it
waits for (caches, the parent's DS, a roll by age).

The timings come from --config, else from the policy the server last ran with
(policy.toml in the zone's state folder), else the default policy.

Example:
  blason dnssec status example.com --state /var/lib/blason";

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

struct Zone {
    origin: Name,
    state_root: PathBuf,
    dir: PathBuf,
    policy: Policy,
    policy_from: String,
    parents: Vec<String>,
}

fn resolve(p: &Place) -> Result<Zone, String> {
    let origin = parse_origin(&p.origin)?;
    let file = match &p.config {
        Some(c) => Some(FileConfig::read(c)?),
        None => None,
    };
    let state_root = state_of(&p.state, file.as_ref());
    let dir = zone_dir(&state_root, &origin);
    let mut parents = Vec::new();
    let (policy, policy_from) = match &file {
        Some(f) => {
            let z = f
                .zone
                .iter()
                .find(|z| parse_origin(&z.origin).is_ok_and(|o| o == origin))
                .ok_or_else(|| format!("zone {origin} is not in the config"))?;
            parents = z.dnssec_parent.clone();
            match &z.dnssec {
                Some(d) => (d.policy().map_err(|e| e.to_string())?, "the config".into()),
                None => return Err(format!("zone {origin} is not signed (no dnssec = ...)")),
            }
        }
        None => match std::fs::read_to_string(dir.join(files::POLICY_FILE)) {
            Ok(t) => (
                PolicyConfig::from_toml(&t).map_err(|e| e.to_string())?,
                format!("{}", dir.join(files::POLICY_FILE).display()),
            ),
            Err(_) => (Policy::default(), "the default policy (no --config)".into()),
        },
    };
    Ok(Zone {
        origin,
        state_root,
        dir,
        policy,
        policy_from,
        parents,
    })
}

fn load(z: &Zone) -> Result<State, String> {
    let dir = StateDir::open(&z.state_root).map_err(|e| e.to_string())?;
    let zone = zone_key(&z.origin);
    // Request or policy files alone are no lost state: the server has not saved yet.
    let found = if dir.state_file(&zone).exists() {
        dir.load(&zone).map_err(|e| e.to_string())?
    } else {
        None
    };
    found.ok_or_else(|| {
        format!(
            "no key state for {} in {} yet: start `blason serve` with this zone signed first",
            z.origin,
            z.state_root.display()
        )
    })
}

pub fn roll_cmd(a: RollArgs) -> Result<(), Failed> {
    let z = resolve(&a.place)?;
    let role = if a.zsk {
        Role::Zsk
    } else if a.ksk {
        Role::Ksk
    } else {
        Role::Csk
    };
    let state = load(&z)?;
    let t = now();
    if let Some(r) = state
        .rolls
        .iter()
        .find(|r| r.new.iter().any(|n| n.role == role))
    {
        return Err(Failed::from(format!(
            "cannot roll the {role} of {}: its {} is in progress, started {}; ask again once `blason dnssec status` shows no roll",
            z.origin,
            r.kind,
            when(r.started, t)
        )));
    }
    roll::roll(&state, role, t)
        .map_err(|e| format!("cannot roll the {role} of {}: {e}", z.origin))?;
    if files::pending(&z.dir)
        .iter()
        .any(|(r, _, _)| *r == Request::Roll(role))
    {
        return Err(Failed::from(format!("a {role} roll of {} is already requested; the server has not picked it up yet (is it running?)", z.origin)));
    }
    let follow = format!(
        "Follow it with: blason dnssec status {} --state {}",
        z.origin.to_lowercase(),
        z.state_root.display()
    );
    match control::ask(
        &z.state_root.join(control::SOCKET),
        &Command::Roll(z.origin.clone(), role),
    ) {
        Some(Ok(m)) => {
            println!("{m}.\n{follow}");
            return Ok(());
        }
        Some(Err(m)) => return Err(m.into()),
        None => {}
    }
    files::write_request(&z.dir, Request::Roll(role), t)?;
    println!(
        "{role} roll of {} requested; no server answers on its control socket, so `blason serve` starts it when it next runs.\n{follow}",
        z.origin.to_lowercase(),
    );
    Ok(())
}

pub fn ds_seen(p: Place) -> Result<(), Failed> {
    let z = resolve(&p)?;
    let state = load(&z)?;
    let t = now();
    let pl = plan(&state, &z.policy, t, &[]);
    let waits: Vec<&Action> = pl
        .actions
        .iter()
        .filter(|a| matches!(a, Action::WaitForParentDs { .. }))
        .collect();
    if waits.is_empty() {
        return Err(Failed::from(format!(
            "nothing waits for the parent's DS of {} now (see `blason dnssec status`)",
            z.origin
        )));
    }
    for w in &waits {
        println!("confirmed: {w}");
    }
    match control::ask(
        &z.state_root.join(control::SOCKET),
        &Command::DsSeen(z.origin.clone()),
    ) {
        Some(Ok(m)) => {
            println!("{m}.");
            return Ok(());
        }
        Some(Err(m)) => return Err(m.into()),
        None => {}
    }
    files::write_request(&z.dir, Request::DsSeen, t)?;
    println!(
        "no server answers on its control socket: `blason serve` takes this up when it next runs."
    );
    Ok(())
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

fn when(t: u64, now: u64) -> String {
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

pub fn status(p: Place) -> Result<(), Failed> {
    let z = resolve(&p)?;
    let state = load(&z)?;
    let t = now();
    let material: HashMap<KeyId, Key> = state
        .keys
        .iter()
        .filter_map(|k| {
            let f = k.file.as_ref()?;
            read_bind(&z.origin, &z.dir.join(f)).ok().map(|m| (k.id, m))
        })
        .collect();
    let name = |id: KeyId| match state.key(id).and_then(|k| k.tag) {
        Some(tag) => format!("tag {tag}"),
        None => format!("{id} (not generated yet)"),
    };
    print!("{}", render(&z, &state, &material, t, &name));
    Ok(())
}

fn render(
    z: &Zone,
    state: &State,
    material: &HashMap<KeyId, Key>,
    t: u64,
    name: &dyn Fn(KeyId) -> String,
) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let timing = Timing::new(&z.policy, state, t);
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
        let cur = roll::current_stage(r, state, &z.policy, t);
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
    for (r, at, _) in files::pending(&z.dir) {
        let _ = writeln!(
            o,
            "  request not yet picked up by the server: {r:?} ({})",
            when(at, t)
        );
    }

    let pl = plan(state, &z.policy, t, &[]).with_schedule(state, &z.policy);
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
        let then = plan(state, &z.policy, e, &[]);
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
                    .map(|m| ds_text(&z.origin, m, DigestType::Sha256))
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
    match files::read_served(&z.dir) {
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
            let exp = blason_server::dnssec::earliest_expiry(&z.policy, t);
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
