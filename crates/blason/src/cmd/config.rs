//! `blason serve` configuration: one typed struct, filled from a TOML file, then the
//! environment, then flags (each later source overrides the earlier one; a list given
//! later replaces the whole list).
//!
//! Environment and flags reach us through clap, which reads `BLASON_*` when a flag is
//! absent; the file is read here, so this module only merges and validates.

use super::serve::ServeArgs;
use blason_answer::Options;
use blason_dnssec::policy::DnssecSetting;
use blason_mail::declare::MailZone;
use blason_server::{Config, ZoneSource, ZoneSpec};
use blason_zone::update::SerialPolicy;
use blason_zone::Name;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where generated keys and record state live when nothing else is said: run from a
/// checkout (the binary sits in cargo's `target/debug` or `target/release`), `./blason-state`; installed,
/// `/var/lib/blason`.
pub fn default_state() -> PathBuf {
    // Cargo's output folders (also under a CARGO_TARGET_DIR of another name); an
    // installed binary sits in bin/, never under these.
    let from_checkout = std::env::current_exe().is_ok_and(|p| {
        p.ancestors().any(|a| {
            a.file_name()
                .is_some_and(|n| n == "target" || n == "debug" || n == "release")
        })
    });
    state_for(from_checkout)
}

/// The state folder a command works on: the flag's, else the config file's, else the
/// default.
pub fn state_of(flag: &Option<PathBuf>, file: Option<&FileConfig>) -> PathBuf {
    flag.clone()
        .or_else(|| file.and_then(|f| f.state.clone()))
        .unwrap_or_else(default_state)
}

fn state_for(from_checkout: bool) -> PathBuf {
    PathBuf::from(if from_checkout {
        "blason-state"
    } else {
        "/var/lib/blason"
    })
}

/// The bundled example zone.
pub const EXAMPLE_ORIGIN: &str = "example.test.";
pub const EXAMPLE_ZONE: &str = include_str!("../example.test.zone");
/// Where the example serves when nothing else is said: loopback, unprivileged port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5353";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The TOML file, as written by the operator.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileConfig {
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    #[serde(default)]
    pub zone: Vec<FileZone>,
    pub threads: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub query_log: Option<bool>,
    pub version_string: Option<String>,
    pub identity: Option<String>,
    pub pid_file: Option<PathBuf>,
    pub tcp_idle_timeout: Option<u64>,
    pub tcp_max_connections: Option<usize>,
    /// Folder for DKIM keys and TLSA state.
    pub state: Option<PathBuf>,
    /// Seconds between checks of watched certificate files.
    pub poll_interval: Option<u64>,
    /// TSIG keys (`[[key]]`), named by zones' `allow-transfer` and `notify`. Only in
    /// the file: a secret on the command line shows in the process list.
    #[serde(default)]
    pub key: Vec<KeyToml>,
    /// A catalog zone (RFC 9432) listing every zone served, for secondaries that
    /// follow the catalog (BIND 9.18, Knot 3.2).
    pub catalog: Option<CatalogToml>,
    /// The DynDNS2 service (HTTP, HTTPS) for routers, ddclient and inadyn.
    pub dyndns: Option<DynDnsToml>,
    /// Answer ANY over UDP with one RRset (RFC 8482); full over TCP.
    pub minimal_any: Option<bool>,
    pub tcp_max_per_client: Option<usize>,
    pub tcp_max_queries: Option<usize>,
    /// Where Prometheus metrics are served (`/metrics`).
    pub metrics: Option<SocketAddr>,
    /// Response rate limiting on UDP.
    pub rate_limit: Option<RateLimitToml>,
    /// DNS cookies (RFC 7873, RFC 9018).
    pub cookies: Option<CookiesToml>,
}

/// `[rate-limit]`: response rate limiting (on by default, loopback exempt).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RateLimitToml {
    pub enabled: Option<bool>,
    pub responses_per_second: Option<u32>,
    pub window: Option<u32>,
    pub slip: Option<u32>,
    /// Prefixes never limited; replaces the default (loopback).
    pub exempt: Option<Vec<String>>,
    pub log_only: Option<bool>,
    pub table_size: Option<usize>,
    pub ipv4_prefix: Option<u8>,
    pub ipv6_prefix: Option<u8>,
}

impl RateLimitToml {
    fn settings(&self) -> Result<Option<blason_server::rrl::RrlConfig>, String> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let mut c = blason_server::rrl::RrlConfig::default();
        if let Some(r) = self.responses_per_second {
            if !(1..=1_000_000).contains(&r) {
                return Err("rate-limit: responses-per-second is 1 to 1000000".into());
            }
            c.rate = r;
        }
        if let Some(w) = self.window {
            if !(1..=3600).contains(&w) {
                return Err("rate-limit: window is 1 to 3600 seconds".into());
            }
            c.window = w;
        }
        if let Some(s) = self.slip {
            if s > 10 {
                return Err("rate-limit: slip is 0 (drop all) to 10".into());
            }
            c.slip = s;
        }
        if let Some(e) = &self.exempt {
            c.exempt = e
                .iter()
                .map(|p| {
                    blason_server::xfr::parse_prefix(p)
                        .map_err(|e| format!("rate-limit: exempt: {e}"))
                })
                .collect::<Result<_, _>>()?;
        }
        c.log_only = self.log_only.unwrap_or(false);
        if let Some(n) = self.table_size {
            c.table_size = n;
        }
        if let Some(p) = self.ipv4_prefix {
            if !(1..=32).contains(&p) {
                return Err("rate-limit: ipv4-prefix is 1 to 32".into());
            }
            c.ipv4_prefix = p;
        }
        if let Some(p) = self.ipv6_prefix {
            if !(1..=128).contains(&p) {
                return Err("rate-limit: ipv6-prefix is 1 to 128".into());
            }
            c.ipv6_prefix = p;
        }
        Ok(Some(c))
    }
}

/// `[cookies]`: DNS cookies (on by default, with a random secret that rotates).
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CookiesToml {
    pub enabled: Option<bool>,
    /// 32 hex digits each: the first makes cookies, all are accepted. Share them
    /// between servers behind one address.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Largest UDP answer to a client without a valid server cookie.
    pub unverified_udp_size: Option<usize>,
}

impl std::fmt::Debug for CookiesToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        write!(
            f,
            "CookiesToml(enabled {:?}, {} secrets, unverified-udp-size {:?})",
            self.enabled,
            self.secrets.len(),
            self.unverified_udp_size
        )
    }
}

/// `[dyndns]`: where the DynDNS2 service listens and who may use it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DynDnsToml {
    /// Plain HTTP addresses, e.g. "127.0.0.1:8245".
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// HTTPS addresses (need `cert` and `key`).
    #[serde(default)]
    pub listen_tls: Vec<SocketAddr>,
    /// Certificate chain and private key (PEM files), for HTTPS.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// TTL of the A and AAAA records written (default 60).
    pub ttl: Option<u32>,
    /// Updates per user per minute before `abuse` (default 10).
    pub rate: Option<u32>,
    #[serde(default)]
    pub user: Vec<DynDnsUserToml>,
}

/// `[[dyndns.user]]`: credentials and the hosts they may change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynDnsUserToml {
    pub name: String,
    /// A hash from `blason dyndns hash` (never the password itself).
    pub password: String,
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for DynDnsUserToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is no secret to print, but it has no business in a log either.
        write!(f, "DynDnsUserToml({} {:?})", self.name, self.hosts)
    }
}

impl DynDnsToml {
    fn settings(&self) -> Result<blason_server::dyndns::DynDns, String> {
        use blason_server::dyndns::{check_stored, DynDns, User};
        if self.listen.is_empty() && self.listen_tls.is_empty() {
            return Err("dyndns: give listen or listen-tls addresses".into());
        }
        let tls = match (&self.cert, &self.key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) if self.listen_tls.is_empty() => None,
            _ => return Err("dyndns: listen-tls needs both cert and key".into()),
        };
        let mut users = Vec::new();
        for u in &self.user {
            check_stored(&u.password).map_err(|e| format!("dyndns user {}: {e}", u.name))?;
            let hosts = u
                .hosts
                .iter()
                .map(|h| parse_origin(h).map_err(|e| format!("dyndns user {}: {e}", u.name)))
                .collect::<Result<Vec<_>, _>>()?;
            users.push(User {
                name: u.name.clone(),
                password: u.password.clone(),
                hosts,
            });
        }
        Ok(DynDns {
            listen: self.listen.clone(),
            listen_tls: self.listen_tls.clone(),
            tls,
            users,
            ttl: self.ttl.unwrap_or(60),
            per_minute: self.rate.unwrap_or(10).max(1),
        })
    }
}

/// `[catalog]`: the catalog zone's name and who may transfer it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogToml {
    /// Default "catalog.invalid".
    pub origin: Option<String>,
    #[serde(default, rename = "allow-transfer")]
    pub allow_transfer: Vec<String>,
    #[serde(default)]
    pub notify: Vec<String>,
}

/// One `[[key]]`: a TSIG key as `blason tsig keygen` (or `tsig-keygen`) prints it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyToml {
    pub name: String,
    /// hmac-sha256 (default), hmac-sha384, hmac-sha512 or hmac-sha1.
    pub algorithm: Option<String>,
    /// The secret, base64.
    pub secret: String,
}

impl std::fmt::Debug for KeyToml {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "KeyToml({} {:?})", self.name, self.algorithm)
    }
}

impl KeyToml {
    pub fn key(&self) -> Result<blason_proto::tsig::Key, String> {
        use blason_proto::tsig::{Algorithm, Key};
        let name = parse_origin(&self.name).map_err(|e| format!("key {:?}: {e}", self.name))?;
        let alg = self.algorithm.as_deref().unwrap_or("hmac-sha256");
        let algorithm = Algorithm::parse(alg).ok_or_else(|| {
            format!(
                "key {}: algorithm {alg:?}: use hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1",
                self.name
            )
        })?;
        Key::from_base64(name, algorithm, &self.secret)
            .map_err(|e| format!("key {}: {e}", self.name))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileZone {
    pub origin: String,
    /// The zone file; none for a secondary zone (see `primaries`).
    #[serde(default)]
    pub file: PathBuf,
    /// A secondary zone: its primaries, `"ADDR[:PORT]"` or `"ADDR[:PORT] key NAME"`;
    /// transferred from them (IXFR, else AXFR) at start, on their NOTIFY and per the
    /// SOA's refresh, and journaled.
    #[serde(default)]
    pub primaries: Vec<String>,
    /// Records generated into the zone: SPF, DKIM, DMARC, BIMI, MTA-STS, TLS-RPT.
    pub mail: Option<MailToml>,
    /// TLSA records that follow certificate or key files.
    #[serde(default)]
    pub tlsa: Vec<TlsaToml>,
    /// `dnssec = true` (the default policy) or a policy table: signed, keys rolled per
    /// the policy, key state and keys kept in `<state>/<zone>/`.
    pub dnssec: Option<DnssecSetting>,
    /// The parent zone's servers (`"ADDR[:PORT]"`), asked for the zone's DS during
    /// rolls; without them the operator confirms with `blason dnssec ds-seen`.
    #[serde(default, rename = "dnssec-parent")]
    pub dnssec_parent: Vec<String>,
    /// How the served serial moves on a change: "keep" (the file's when it moved
    /// forward, else +1; the default), "increment", "unixtime" or "date" (YYYYMMDDnn).
    pub serial: Option<String>,
    /// Bytes of changes the zone's journal keeps after its snapshot before it is
    /// rewritten with a new one (default: the snapshot's own size, at least 8 MiB).
    #[serde(rename = "journal-size")]
    pub journal_size: Option<u64>,
    /// Who may transfer the zone (AXFR, IXFR): `"ADDR[/LEN]"`, `"key NAME"` or
    /// `"ADDR[/LEN] key NAME"`; empty: nobody.
    #[serde(default, rename = "allow-transfer")]
    pub allow_transfer: Vec<String>,
    /// Secondaries to NOTIFY of each new serial (`"ADDR[:PORT]"`, with `" key NAME"`
    /// to sign), besides the zone's NS targets.
    #[serde(default)]
    pub notify: Vec<String>,
    /// Also NOTIFY the zone's NS targets (their in-zone addresses, port 53); default
    /// true.
    #[serde(rename = "notify-ns")]
    pub notify_ns: Option<bool>,
    /// The catalog's `group` property for this zone (a consumer's template).
    #[serde(rename = "catalog-group")]
    pub catalog_group: Option<String>,
    /// The catalog's `coo` property: the catalog this zone is moving to.
    #[serde(rename = "catalog-coo")]
    pub catalog_coo: Option<String>,
    /// Who may change the zone by dynamic update (RFC 2136, TSIG-signed), key by
    /// key; none: nobody.
    #[serde(default)]
    pub update: Vec<UpdateToml>,
}

/// One `[[zone.update]]` grant: what a key may change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateToml {
    /// A `[[key]]` of the config.
    pub key: String,
    /// `name` (this name), `subdomain` (it and below), `wildcard` (strictly below),
    /// `self` (the key's own name), `zone` (any name of the zone), or `acme` (TXT at
    /// `_acme-challenge.` names, for certbot and lego).
    pub grant: String,
    /// The name `name`, `subdomain` and `wildcard` are about.
    pub name: Option<String>,
    /// The types granted: `ANY` for all; default: all but SOA, NS and DNSSEC's own.
    #[serde(default)]
    pub types: Vec<String>,
}

impl FileZone {
    /// The zone's transfer settings; every key named must be a `[[key]]`.
    fn xfr(&self, keys: &[blason_proto::tsig::Key]) -> Result<blason_server::xfr::XfrSpec, String> {
        use blason_server::xfr::{Acl, NotifyTarget, XfrSpec};
        let known = |k: &Option<Name>| match k {
            Some(k) if !keys.iter().any(|x| x.name == *k) => {
                Err(format!("key {k} is not a [[key]] of the config"))
            }
            _ => Ok(()),
        };
        let mut spec = XfrSpec {
            notify_ns: self.notify_ns.unwrap_or(true),
            ..XfrSpec::default()
        };
        for a in &self.allow_transfer {
            let acl = Acl::parse(a).map_err(|e| format!("allow-transfer: {e}"))?;
            known(&acl.key)?;
            spec.allow.push(acl);
        }
        for n in &self.notify {
            let t = NotifyTarget::parse(n).map_err(|e| format!("notify: {e}"))?;
            known(&t.key)?;
            spec.notify.push(t);
        }
        for u in &self.update {
            let key = parse_origin(&u.key).map_err(|e| format!("update: key: {e}"))?;
            known(&Some(key.clone())).map_err(|e| format!("update: {e}"))?;
            let name = match &u.name {
                Some(n) => {
                    let n = parse_origin(n).map_err(|e| format!("update: name: {e}"))?;
                    let origin = parse_origin(&self.origin)?;
                    if !n.is_subdomain_of(&origin) {
                        return Err(format!("update: name {n} is not in the zone {origin}"));
                    }
                    Some(n)
                }
                None => None,
            };
            let mut types = Vec::new();
            for t in &u.types {
                types.push(
                    blason_zone::Rtype::parse(t.as_bytes())
                        .ok_or_else(|| format!("update: type {t:?} is not a record type"))?,
                );
            }
            spec.update.push(
                blason_server::update::Grant::parse(key, &u.grant, name, types)
                    .map_err(|e| format!("update: {e}"))?,
            );
        }
        Ok(spec)
    }
}

pub use blason_mail::config::{MailToml, TlsaToml};

/// The server's view of a [`MailZone`].
#[derive(Debug)]
pub struct MailGenerator(pub MailZone);

impl blason_server::Generator for MailGenerator {
    fn generate(
        &self,
        now: u64,
    ) -> Result<
        (Vec<blason_zone::load::Generated>, Vec<blason_zone::Finding>),
        blason_zone::fault::BoxedError,
    > {
        self.0
            .generate(now)
            .map_err(|e| Box::new(e) as blason_zone::fault::BoxedError)
    }
    fn due(&self, now: u64) -> bool {
        self.0.due(now)
    }
    fn committed(&self, now: u64) {
        if let Err(e) = self.0.committed(now) {
            blason_server::log::warn(
                "cannot record the TLSA or DKIM roll state; the next load plans from the last one saved",
                &[("zone", &self.0.origin), ("reason", &e)],
            );
        }
    }
}

impl FileZone {
    /// The zone's generated records, if it declares any.
    pub fn mail_zone(&self, origin: &Name, state: &Path) -> Result<Option<MailZone>, String> {
        if self.mail.is_none() && self.tlsa.is_empty() {
            return Ok(None);
        }
        let mail = self.mail.as_ref().map(MailToml::to_spec).transpose()?;
        let tlsa = self
            .tlsa
            .iter()
            .map(TlsaToml::to_spec)
            .collect::<Result<_, _>>()?;
        Ok(Some(MailZone::new(
            origin.clone(),
            mail,
            tlsa,
            state.to_path_buf(),
        )))
    }
}

impl FileZone {
    /// The zone's signing settings; None when it is served unsigned.
    pub fn dnssec(
        &self,
        origin: &Name,
        state: &Path,
    ) -> Result<Option<blason_server::dnssec::ZoneDnssec>, String> {
        let Some(setting) = &self.dnssec else {
            if !self.dnssec_parent.is_empty() {
                return Err("dnssec-parent is set but dnssec is not".into());
            }
            return Ok(None);
        };
        // `dnssec = false` on a zone with key state takes it insecure safely (CDS
        // delete first); with no state it is simply served as read.
        let policy = setting.policy().map_err(|e| e.to_string())?;
        let st = blason_server::dnssec::zone_dir(state, origin).join(blason_dnssec::state::FILE);
        if !policy.enabled && !st.exists() {
            return Ok(None);
        }
        let mut d =
            blason_server::dnssec::ZoneDnssec::new(policy, origin.clone(), state.to_path_buf());
        d.parents = self
            .dnssec_parent
            .iter()
            .map(|a| parse_server(a))
            .collect::<Result<_, _>>()?;
        Ok(Some(d))
    }
}

/// `192.0.2.1`, `192.0.2.1:5301`, `[2001:db8::1]:53` or `2001:db8::1`; port 53 when
/// none is given.
fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| {
            format!(
                "dnssec-parent {s:?}: give an address such as \"192.0.2.1\" or \"127.0.0.1:5301\""
            )
        })
}

impl FileConfig {
    /// Reads `path`; relative paths inside it are taken from the file's own folder, so
    /// a config works wherever the server is started from.
    pub fn read(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c: FileConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for z in &mut c.zone {
            rel(&mut z.file);
            for t in &mut z.tlsa {
                for p in [&mut t.cert, &mut t.key, &mut t.next_key]
                    .into_iter()
                    .flatten()
                {
                    rel(p);
                }
            }
        }
        if let Some(p) = &mut c.state {
            rel(p);
        }
        if let Some(p) = &mut c.pid_file {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(c)
    }
}

/// The merged result: what the server gets, plus what only the CLI uses.
#[derive(Debug)]
pub struct ServeConfig {
    pub server: Config,
    pub log_format: LogFormat,
    /// True when no zone was configured and the bundled example is served.
    pub example: bool,
}

/// A digest of what makes a zone's spec, compared at a config reload: the same, the
/// zone only reads its file again; another, the zone is reopened with its new
/// settings. `parts` are the zone's table in the file and anything else it takes in.
fn settings_digest(parts: &[&dyn std::fmt::Debug]) -> u64 {
    use std::hash::{Hash, Hasher};
    // SipHash with fixed keys: the same input gives the same digest in one process.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for p in parts {
        format!("{p:?}").hash(&mut h);
    }
    h.finish()
}

/// The `[[key]]` tables (secrets included) that the `"ADDR key NAME"` entries of a
/// zone's `notify` and `primaries` name: a zone takes those keys in when it opens.
fn keys_named<'a>(entries: &[String], keys: &'a [KeyToml]) -> Vec<[&'a str; 3]> {
    let named: Vec<Name> = entries
        .iter()
        .filter_map(|e| blason_server::xfr::NotifyTarget::parse(e).ok()?.key)
        .collect();
    keys.iter()
        .filter(|k| parse_origin(&k.name).is_ok_and(|n| named.contains(&n)))
        .map(|k| {
            let alg = k.algorithm.as_deref().unwrap_or("hmac-sha256");
            [k.name.as_str(), alg, k.secret.as_str()]
        })
        .collect()
}

/// The catalog zone: every zone served (but itself) as a member, with the group and
/// coo each asks for; journaled like any zone, so its serial moves on at a restart
/// with other members.
fn catalog_zone(
    c: &CatalogToml,
    zones: &[ZoneSpec],
    keys: &[blason_proto::tsig::Key],
    state: &Path,
    props: &[(String, Option<String>, Option<String>)],
    key_tomls: &[KeyToml],
) -> Result<ZoneSpec, String> {
    use blason_server::catalog::{text, Member};
    let origin = parse_origin(c.origin.as_deref().unwrap_or("catalog.invalid"))?;
    if zones.iter().any(|z| z.origin == origin) {
        return Err(format!("catalog {origin} is also a [[zone]]"));
    }
    let mut members = Vec::new();
    for z in zones {
        let p = props
            .iter()
            .find(|(o, _, _)| parse_origin(o).is_ok_and(|o| o == z.origin));
        let coo = match p.and_then(|p| p.2.as_deref()) {
            Some(c) => {
                Some(parse_origin(c).map_err(|e| format!("zone {}: catalog-coo: {e}", z.origin))?)
            }
            None => None,
        };
        members.push(Member {
            zone: z.origin.clone(),
            group: p.and_then(|p| p.1.clone()),
            coo,
        });
    }
    let fz = FileZone {
        origin: origin.to_string(),
        file: PathBuf::new(),
        primaries: Vec::new(),
        mail: None,
        tlsa: Vec::new(),
        dnssec: None,
        dnssec_parent: Vec::new(),
        serial: None,
        journal_size: None,
        allow_transfer: c.allow_transfer.clone(),
        notify: c.notify.clone(),
        notify_ns: Some(false),
        catalog_group: None,
        catalog_coo: None,
        update: Vec::new(),
    };
    let xfr = fz.xfr(keys).map_err(|e| format!("catalog: {e}"))?;
    let settings = settings_digest(&[c, &keys_named(&c.notify, key_tomls), &state]);
    let mut spec = ZoneSpec::new(
        origin.clone(),
        ZoneSource::Text {
            display: format!("catalog {origin} (made from the config)"),
            text: text(&origin, &members).into_bytes().into(),
        },
    );
    spec.journal = Some(blason_server::dnssec::zone_dir(state, &origin).join("journal"));
    spec.xfr = xfr;
    spec.settings = settings;
    Ok(spec)
}

pub fn parse_zone_arg(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((o, f)) if !o.is_empty() && !f.is_empty() => Ok((o.to_string(), PathBuf::from(f))),
        _ => Err(format!(
            "expected ORIGIN=FILE, e.g. example.com.=/etc/blason/example.com.zone, got {s:?}"
        )),
    }
}

fn parse_origin(s: &str) -> Result<Name, String> {
    // Origins are absolute whether or not the trailing dot was typed.
    let abs = if s.ends_with('.') {
        s.to_string()
    } else {
        format!("{s}.")
    };
    Name::parse(&abs, None).map_err(|e| format!("zone origin {s:?}: {e}"))
}

/// The file's settings under the environment's and the flags' (`o`: clap has
/// already put each variable under its flag). Each setting is one field of
/// [`ServeArgs`] and one of [`FileConfig`], under the same name (a test holds them
/// to it).
pub fn merge(file: FileConfig, o: ServeArgs) -> Result<ServeConfig, String> {
    let listen = if !o.listen.is_empty() {
        o.listen
    } else {
        file.listen
    };
    let state = o.state.or(file.state).unwrap_or_else(default_state);
    let keys = file
        .key
        .iter()
        .map(KeyToml::key)
        .collect::<Result<Vec<_>, String>>()?;
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].iter().any(|x| x.name == k.name) {
            return Err(format!("key {} is given twice", k.name));
        }
    }
    let catalog = file.catalog;
    // Zones from flags or the environment replace the file's, sections and all.
    let zones: Vec<(String, PathBuf, Option<FileZone>)> = if !o.zone.is_empty() {
        o.zone.into_iter().map(|(o, f)| (o, f, None)).collect()
    } else {
        file.zone
            .into_iter()
            .map(|z| (z.origin.clone(), z.file.clone(), Some(z)))
            .collect()
    };
    // The catalog's member properties, by origin.
    let file_zones: Vec<(String, Option<String>, Option<String>)> = zones
        .iter()
        .filter_map(|(o, _, fz)| {
            fz.as_ref()
                .map(|z| (o.clone(), z.catalog_group.clone(), z.catalog_coo.clone()))
        })
        .collect();
    let example = zones.is_empty();
    let zones = if example {
        vec![ZoneSpec::new(
            parse_origin(EXAMPLE_ORIGIN)?,
            ZoneSource::Bundled {
                display: "example.test.zone (bundled)".into(),
                bytes: EXAMPLE_ZONE.as_bytes(),
            },
        )]
    } else {
        zones
            .into_iter()
            .map(|(origin, path, fz)| {
                let origin = parse_origin(&origin)?;
                let serial = match fz.as_ref().and_then(|z| z.serial.as_deref()) {
                    None => SerialPolicy::Keep,
                    Some(s) => SerialPolicy::parse(s).ok_or_else(|| {
                        format!(
                            "zone {origin}: serial = {s:?}: use one of {}",
                            SerialPolicy::NAMES.join(", ")
                        )
                    })?,
                };
                let fz_journal_size = fz.as_ref().and_then(|z| z.journal_size);
                let settings = match &fz {
                    Some(z) => {
                        let entries: Vec<String> =
                            z.notify.iter().chain(&z.primaries).cloned().collect();
                        settings_digest(&[z, &keys_named(&entries, &file.key), &state])
                    }
                    None => settings_digest(&[&origin, &path, &state]),
                };
                let source = match fz.as_ref().filter(|z| !z.primaries.is_empty()) {
                    Some(z) => {
                        if z.dnssec.is_some()
                            || z.mail.is_some()
                            || !z.tlsa.is_empty()
                            || !z.update.is_empty()
                        {
                            return Err(format!(
                                "zone {origin}: a secondary zone (primaries = ...) is served as its primary gives it: no dnssec, mail, tlsa or update here"
                            ));
                        }
                        let mut primaries = Vec::new();
                        for p in &z.primaries {
                            let t = blason_server::xfr::NotifyTarget::parse(p)
                                .map_err(|e| format!("zone {origin}: primaries: {e}"))?;
                            let key = match &t.key {
                                Some(k) => Some(keys.iter().find(|x| x.name == *k).cloned().ok_or_else(
                                    || format!("zone {origin}: key {k} is not a [[key]] of the config"),
                                )?),
                                None => None,
                            };
                            primaries.push((t.addr, key));
                        }
                        ZoneSource::Secondary { primaries }
                    }
                    None if path.as_os_str().is_empty() => {
                        return Err(format!(
                            "zone {origin}: give file = \"...\" (a zone of this server) or primaries = [...] (a secondary)"
                        ))
                    }
                    None => ZoneSource::File(path.clone()),
                };
                let xfr = match &fz {
                    Some(z) => z.xfr(&keys).map_err(|e| format!("zone {origin}: {e}"))?,
                    None => Default::default(),
                };
                let (generator, dnssec) = match fz {
                    Some(z) => (
                        z.mail_zone(&origin, &state)
                            .map_err(|e| format!("zone {origin}: {e}"))?
                            .map(|m| {
                                Arc::new(MailGenerator(m)) as Arc<dyn blason_server::Generator>
                            }),
                        z.dnssec(&origin, &state)
                            .map_err(|e| format!("zone {origin}: {e}"))?
                            .map(Arc::new),
                    ),
                    None => (None, None),
                };
                let journal =
                    Some(blason_server::dnssec::zone_dir(&state, &origin).join("journal"));
                Ok(ZoneSpec {
                    origin,
                    source,
                    generator,
                    dnssec,
                    journal,
                    serial,
                    journal_size: fz_journal_size,
                    lints: vec![Arc::new(blason_mail::zone_lint::MailLints)],
                    xfr,
                    settings,
                })
            })
            .collect::<Result<_, String>>()?
    };
    let mut zones: Vec<ZoneSpec> = zones;
    if let Some(c) = catalog {
        zones.push(catalog_zone(
            &c,
            &zones,
            &keys,
            &state,
            &file_zones,
            &file.key,
        )?);
    }
    let listen = if listen.is_empty() {
        vec![DEFAULT_LISTEN.parse().expect("constant address")]
    } else {
        listen
    };
    let mut server = Config::new(listen, zones);
    server.keys = keys;
    server.control = Some(state.join(blason_server::control::SOCKET));
    server.state = Some(state.clone());
    if let Some(t) = o.threads.or(file.threads) {
        if t == 0 {
            return Err("threads must be at least 1".into());
        }
        server.udp_threads = t;
    }
    if let Some(s) = o.tcp_idle_timeout.or(file.tcp_idle_timeout) {
        if s == 0 {
            return Err("tcp-idle-timeout must be at least 1 second".into());
        }
        server.tcp_idle_timeout = Duration::from_secs(s);
    }
    if let Some(n) = o.tcp_max_connections.or(file.tcp_max_connections) {
        server.tcp_max_connections = n.max(1);
    }
    server.query_log = o.query_log || file.query_log.unwrap_or(false);
    server.answer = Options {
        version: o.version_string.or(file.version_string),
        identity: o.identity.or(file.identity),
        minimal_any: true,
    };
    server.pid_file = o.pid_file.or(file.pid_file);
    if let Some(d) = &file.dyndns {
        server.dyndns = Some(d.settings()?);
    }
    server.answer.minimal_any = o.minimal_any.or(file.minimal_any).unwrap_or(true);
    if let Some(n) = o.tcp_max_per_client.or(file.tcp_max_per_client) {
        server.tcp_max_per_client = n;
    }
    if let Some(n) = o.tcp_max_queries.or(file.tcp_max_queries) {
        server.tcp_max_queries = n;
    }
    server.metrics = o.metrics.or(file.metrics);
    server.rrl = file.rate_limit.unwrap_or_default().settings()?;
    let cookies = file.cookies.unwrap_or_default();
    server.cookies = cookies.enabled.unwrap_or(true);
    server.cookie_secrets = cookies
        .secrets
        .iter()
        .map(|s| blason_server::cookie::Secrets::parse(s).map_err(|e| format!("cookies: {e}")))
        .collect::<Result<_, _>>()?;
    if let Some(n) = cookies.unverified_udp_size {
        if !(512..=4096).contains(&n) {
            return Err("cookies: unverified-udp-size is 512 to 4096".into());
        }
        server.udp_unverified_max = Some(n);
    }
    if let Some(s) = o.poll_interval.or(file.poll_interval) {
        server.poll_interval = Duration::from_secs(s.max(1));
    }
    Ok(ServeConfig {
        server,
        log_format: o.log_format.or(file.log_format).unwrap_or_default(),
        example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_folder_defaults_follow_where_blason_runs() {
        assert_eq!(state_for(true), PathBuf::from("blason-state"));
        assert_eq!(state_for(false), PathBuf::from("/var/lib/blason"));
        // Tests run from cargo's target folder: a checkout.
        assert_eq!(default_state(), PathBuf::from("blason-state"));
    }

    /// The field names a `Deserialize` type asks for, read off `deserialize_struct`.
    fn fields_of<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
        use serde::de::{Error, Visitor};
        struct Probe<'a>(&'a mut Vec<&'static str>);
        impl<'de> serde::Deserializer<'de> for Probe<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Self::Error::custom("probe"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0.extend(fields);
                Err(Self::Error::custom("probe"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                enum identifier ignored_any
            }
        }
        let mut v = Vec::new();
        let _ = T::deserialize(Probe(&mut v));
        v
    }

    #[test]
    fn every_serve_setting_is_a_file_key_a_variable_and_a_flag() {
        use clap::Args;
        let cmd = ServeArgs::augment_args(clap::Command::new("serve"));
        let mut flags: Vec<String> = Vec::new();
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "config" {
                continue;
            }
            let long = a.get_long().expect("every setting has a long flag");
            assert_eq!(
                long,
                id.replace('_', "-"),
                "--{long} is named after its field"
            );
            let env = a.get_env().and_then(|e| e.to_str()).unwrap_or_default();
            assert_eq!(
                env,
                format!("BLASON_{}", id.to_ascii_uppercase()),
                "--{long} has its variable"
            );
            flags.push(long.to_string());
        }
        // TSIG keys are file-only (a secret on the command line shows in `ps`), and
        // so are the catalog, dyndns, rate-limit and cookies tables.
        let mut keys: Vec<String> = fields_of::<FileConfig>()
            .iter()
            .filter(|k| !["key", "catalog", "dyndns", "rate-limit", "cookies"].contains(k))
            .map(|k| k.to_string())
            .collect();
        assert!(keys.len() > 5, "{keys:?}");
        flags.sort();
        keys.sort();
        assert_eq!(
            flags, keys,
            "flags and config-file keys are the same settings"
        );
    }

    #[test]
    fn flags_override_file_and_lists_replace() {
        let file: FileConfig = toml::from_str(
            r#"
            listen = ["127.0.0.1:5300", "[::1]:5300"]
            threads = 3
            query-log = true
            identity = "ns1"
            [[zone]]
            origin = "example.com"
            file = "example.com.zone"
            "#,
        )
        .unwrap();
        let o = ServeArgs {
            listen: vec!["127.0.0.1:5400".parse().unwrap()],
            threads: Some(1),
            ..ServeArgs::default()
        };
        let c = merge(file, o).unwrap();
        assert_eq!(
            c.server.listen,
            vec!["127.0.0.1:5400".parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.server.udp_threads, 1);
        assert!(c.server.query_log);
        assert_eq!(c.server.answer.identity.as_deref(), Some("ns1"));
        assert_eq!(c.server.zones[0].origin.to_string(), "example.com.");
        assert!(!c.example);
    }

    #[test]
    fn dnssec_true_or_a_policy_table() {
        let file: FileConfig = toml::from_str(
            r#"
            state = "/var/lib/blason"
            [[zone]]
            origin = "a.test"
            file = "a.zone"
            dnssec = true
            [[zone]]
            origin = "b.test"
            file = "b.zone"
            dnssec = { algorithm = "ed25519", denial = "nsec3", signature-validity = "7d" }
            dnssec-parent = ["127.0.0.1:5301", "192.0.2.53"]
            [[zone]]
            origin = "c.test"
            file = "c.zone"
            "#,
        )
        .unwrap();
        let c = merge(file, ServeArgs::default()).unwrap();
        let z = &c.server.zones;
        let a = z[0].dnssec.as_ref().unwrap();
        assert_eq!(a.policy.algorithm.0, 13);
        assert_eq!(
            a.key_dir(),
            PathBuf::from("/var/lib/blason/a.test/keys"),
            "keys under <state>/<zone>/keys"
        );
        assert!(a.parents.is_empty());
        let b = z[1].dnssec.as_ref().unwrap();
        assert_eq!(b.policy.algorithm.0, 15);
        assert_eq!(b.policy.signature_validity, 7 * 86400);
        assert_eq!(
            b.parents,
            vec![
                "127.0.0.1:5301".parse::<SocketAddr>().unwrap(),
                "192.0.2.53:53".parse().unwrap()
            ]
        );
        assert!(z[2].dnssec.is_none());

        let bad: FileConfig = toml::from_str(
            "[[zone]]\norigin = \"a.test\"\nfile = \"a.zone\"\ndnssec = { algorithm = 5 }\n",
        )
        .unwrap();
        assert!(merge(bad, ServeArgs::default()).is_err());
        let bad: FileConfig = toml::from_str(
            "[[zone]]\norigin = \"a.test\"\nfile = \"a.zone\"\ndnssec = true\ndnssec-parent = [\"ns.parent\"]\n",
        )
        .unwrap();
        assert!(merge(bad, ServeArgs::default())
            .unwrap_err()
            .contains("dnssec-parent"));
    }

    #[test]
    fn nothing_given_serves_the_example() {
        let c = merge(FileConfig::default(), ServeArgs::default()).unwrap();
        assert!(c.example);
        assert_eq!(
            c.server.listen,
            vec![DEFAULT_LISTEN.parse::<SocketAddr>().unwrap()]
        );
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn unknown_keys_and_bad_zone_args_are_refused() {
        assert!(toml::from_str::<FileConfig>("lisen = []").is_err());
        assert!(parse_zone_arg("example.com").is_err());
        assert!(parse_zone_arg("=x").is_err());
    }
}
