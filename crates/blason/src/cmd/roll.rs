//! `blason dnssec roll`, `ds-seen` and `status`: the operator's side of the key rolls
//! `blason serve` carries out. These commands read the key state and never write it;
//! requests reach the server as files it picks up at its next tick (see
//! `blason_server::dnssec::files`).
use crate::cmd::config::{state_of, FileConfig};
use crate::cmd::exit::Failed;
use crate::cmd::zone::parse_origin;
use blason_dnssec::keys::{read_bind, Key};
use blason_dnssec::policy::{Policy, PolicyConfig};
use blason_dnssec::roll::{self, plan, Action, KeyId, Role, State};
use blason_dnssec::state::StateDir;
use blason_server::control::{self, Command};
use blason_server::dnssec::files::{self, Request};
use blason_server::dnssec::{status, zone_dir, zone_key};
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

pub fn status(p: Place) -> Result<(), Failed> {
    let z = resolve(&p)?;
    // The running server's view, from the state it holds.
    if let Some(r) = control::ask(
        &z.state_root.join(control::SOCKET),
        &Command::Status(z.origin.clone()),
    ) {
        print!("{}", r?);
        return Ok(());
    }
    let state = load(&z)?;
    let material: HashMap<KeyId, Key> = state
        .keys
        .iter()
        .filter_map(|k| {
            let f = k.file.as_ref()?;
            read_bind(&z.origin, &z.dir.join(f)).ok().map(|m| (k.id, m))
        })
        .collect();
    let subject = status::Subject {
        origin: &z.origin,
        dir: &z.dir,
        policy: &z.policy,
        policy_from: &z.policy_from,
        parents: &z.parents,
    };
    print!("{}", status::render(&subject, &state, &material, now()));
    Ok(())
}

use status::when;
