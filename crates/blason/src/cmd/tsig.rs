//! `blason tsig keygen`: a TSIG key, and the config that uses it on blason and on
//! a BIND, Knot or NSD secondary, or in nsupdate, knsupdate, certbot or lego, ready
//! to paste.

use crate::cmd::config::{state_of, FileConfig};
use crate::cmd::exit::{Exit, Failed};
use crate::cmd::zone::parse_origin;
use blason_proto::tsig::{Algorithm, Key};
use blason_server::control::{self, Command};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum XfrCmd {
    /// Who may transfer a zone, what each secondary took last (AXFR or IXFR, from
    /// which serial), and what NOTIFY told each and it answered: asked of the
    /// running server.
    ///
    /// Example: blason xfr status example.com --state /var/lib/blason
    Status(StatusArgs),
}

/// A zone of the running server, and how to reach it.
#[derive(Args)]
pub struct StatusArgs {
    /// The zone, e.g. example.com
    zone: String,
    /// The server's state folder (where its control socket is)
    #[arg(long, value_name = "DIR", env = "BLASON_STATE")]
    state: Option<PathBuf>,
    /// The `blason serve` config file, for its state folder
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

impl StatusArgs {
    /// Asks the running server `command` about the zone; prints its answer.
    pub fn ask(&self, what: &str, command: impl FnOnce(blason_zone::Name) -> Command) -> ExitCode {
        let r = (|| -> Result<String, Failed> {
            let zone = parse_origin(&self.zone)?;
            let file = match &self.config {
                Some(c) => Some(FileConfig::read(c)?),
                None => None,
            };
            let socket = state_of(&self.state, file.as_ref()).join(control::SOCKET);
            match control::ask(&socket, &command(zone)) {
                Some(r) => Ok(r?),
                None => Err(format!(
                    "no server answers on {}: is `blason serve` running with this state folder?",
                    socket.display()
                )
                .into()),
            }
        })();
        match r {
            Ok(text) => {
                print!("{text}");
                Exit::Ok.into()
            }
            Err(e) => e.report(what),
        }
    }
}

pub fn run_xfr(c: XfrCmd) -> ExitCode {
    let XfrCmd::Status(a) = c;
    a.ask("blason xfr status", Command::XfrStatus)
}

#[derive(Subcommand)]
pub enum TsigCmd {
    /// Make a TSIG key and print it with configs for blason and for what uses it:
    /// secondaries (BIND, Knot, NSD), update clients (nsupdate, knsupdate), or ACME
    /// clients (certbot's rfc2136 plugin, lego).
    ///
    /// Examples:
    ///   blason tsig keygen xfr-key --zone example.com --primary 192.0.2.1
    ///   blason tsig keygen home-key --for update --zone example.com
    ///   blason tsig keygen acme-key --for acme --zone example.com
    Keygen(KeygenArgs),
}

#[derive(Args)]
pub struct KeygenArgs {
    /// The key's name, as both sides write it
    name: String,
    /// hmac-sha256 (default), hmac-sha384, hmac-sha512 or hmac-sha1
    #[arg(long, short = 'a', default_value = "hmac-sha256")]
    algorithm: String,
    /// The zone the secondaries take (in the printed configs)
    #[arg(long, default_value = "example.com")]
    zone: String,
    /// This server's address as secondaries (or update clients) reach it, ADDR or
    /// ADDR:PORT
    #[arg(long, default_value = "192.0.2.1")]
    primary: String,
    /// What the key is for: transfer (secondaries), update (nsupdate, knsupdate),
    /// acme (certbot, lego: TXT records at _acme-challenge names only)
    #[arg(long = "for", value_enum, default_value = "transfer")]
    purpose: Purpose,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Purpose {
    Transfer,
    Update,
    Acme,
}

pub fn run(c: TsigCmd) -> ExitCode {
    match c {
        TsigCmd::Keygen(a) => match keygen(&a) {
            Ok(text) => {
                print!("{text}");
                Exit::Ok.into()
            }
            Err(e) => e.report("blason tsig keygen"),
        },
    }
}

fn keygen(a: &KeygenArgs) -> Result<String, Failed> {
    let name = parse_origin(&a.name)?;
    let alg = Algorithm::parse(&a.algorithm).ok_or_else(|| {
        format!(
            "algorithm {:?}: use hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1",
            a.algorithm
        )
    })?;
    let zone = parse_origin(&a.zone)?;
    let (addr, port) = match a.primary.parse::<std::net::SocketAddr>() {
        Ok(s) => (s.ip().to_string(), s.port()),
        Err(_) => (
            a.primary
                .parse::<std::net::IpAddr>()
                .map_err(|_| format!("--primary {:?}: give ADDR or ADDR:PORT", a.primary))?
                .to_string(),
            53,
        ),
    };
    let (_, secret) = Key::generate(name.clone(), alg).map_err(Failed::from)?;
    let (k, z, al) = (
        name.to_string().trim_end_matches('.').to_string(),
        zone.to_string().trim_end_matches('.').to_string(),
        alg.name(),
    );
    let key = format!("[[key]]\nname = \"{k}\"\nalgorithm = \"{al}\"\nsecret = \"{secret}\"\n");
    match a.purpose {
        Purpose::Transfer => {}
        Purpose::Update => {
            return Ok(format!(
                r#"# blason (blason.toml): the key, and what it may change
{key}# in the zone's [[zone]] table, after its other settings (the names and types
# to grant: name, subdomain, wildcard, self or zone; types = ["ANY"] for all):
[[zone.update]]
key = "{k}"
grant = "subdomain"
name = "home.{z}"
types = ["A", "AAAA", "TXT"]

# nsupdate: save the next line as {k}.key, then run `nsupdate -k {k}.key`
key "{k}" {{ algorithm {al}; secret "{secret}"; }};
# with input such as:
#   server {addr} {port}
#   zone {z}
#   update add home.{z} 300 A 192.0.2.10
#   send

# knsupdate: knsupdate -y {al}:{k}:{secret}
#   (the same input, with "add home.{z}. 300 A 192.0.2.10")
"#
            ));
        }
        Purpose::Acme => {
            let upper = al.to_ascii_uppercase();
            return Ok(format!(
                r#"# blason (blason.toml): the key, and what it may change
{key}# in the zone's [[zone]] table, after its other settings: TXT records at
# _acme-challenge names only
[[zone.update]]
key = "{k}"
grant = "acme"

# certbot with its rfc2136 plugin: save what follows as rfc2136.ini (mode 600),
# then: certbot certonly --dns-rfc2136 --dns-rfc2136-credentials rfc2136.ini -d {z} -d '*.{z}'
dns_rfc2136_server = {addr}
dns_rfc2136_port = {port}
dns_rfc2136_name = {k}
dns_rfc2136_secret = {secret}
dns_rfc2136_algorithm = {upper}

# lego: in its environment, then: lego --dns rfc2136 -d {z} -d '*.{z}' run
RFC2136_NAMESERVER={addr}:{port}
RFC2136_TSIG_KEY={k}
RFC2136_TSIG_SECRET={secret}
RFC2136_TSIG_ALGORITHM={al}.
"#
            ));
        }
    }
    Ok(format!(
        r#"# blason (blason.toml): the key, and who may transfer with it
[[key]]
name = "{k}"
algorithm = "{al}"
secret = "{secret}"
# in the zone's [[zone]] table:
#   allow-transfer = ["SECONDARY-ADDR key {k}"]
#   notify = ["SECONDARY-ADDR key {k}"]

# BIND secondary (named.conf)
key "{k}" {{ algorithm {al}; secret "{secret}"; }};
zone "{z}" {{
    type secondary;
    file "{z}.db";
    primaries {{ {addr} port {port} key {k}; }};
    allow-notify {{ {addr}; }};
}};

# Knot secondary (knot.conf)
key:
  - id: {k}
    algorithm: {al}
    secret: {secret}
remote:
  - id: blason
    address: {addr}@{port}
    key: {k}
acl:
  - id: blason_notify
    address: {addr}
    key: {k}
    action: notify
zone:
  - domain: {z}
    master: blason
    acl: blason_notify

# NSD secondary (nsd.conf)
key:
    name: "{k}"
    algorithm: {al}
    secret: "{secret}"
zone:
    name: "{z}"
    zonefile: "{z}.zone"
    request-xfr: {addr}@{port} {k}
    allow-notify: {addr} {k}
"#
    ))
}
