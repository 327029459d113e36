//! `blason serve` configuration: one typed struct, filled from a TOML file, then the
//! environment, then flags (each later source overrides the earlier one; a list given
//! later replaces the whole list).
//!
//! Environment and flags reach us through clap, which reads `BLASON_*` when a flag is
//! absent; the file is read here, so this module only merges and validates.

use blason_answer::Options;
use blason_dnssec::policy::DnssecSetting;
use blason_mail::declare::{self, MailZone};
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileZone {
    pub origin: String,
    pub file: PathBuf,
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
}

/// A zone's `[zone.mail]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailToml {
    /// TTL of the generated records (default 3600).
    pub ttl: Option<u32>,
    pub spf: Option<SpfToml>,
    #[serde(default)]
    pub dkim: Vec<DkimToml>,
    pub dmarc: Option<DmarcToml>,
    pub bimi: Option<BimiToml>,
    #[serde(alias = "mta-sts")]
    pub mta_sts: Option<MtaStsToml>,
    #[serde(alias = "tls-rpt")]
    pub tls_rpt: Option<TlsRptToml>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpfToml {
    pub senders: Vec<String>,
    /// "-all" (default) or "~all".
    pub all: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DkimToml {
    pub selector: String,
    /// ed25519 (default), rsa2048, rsa3072 or rsa4096.
    pub algorithm: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmarcToml {
    pub policy: String,
    #[serde(alias = "sp")]
    pub subdomain_policy: Option<String>,
    #[serde(default)]
    pub rua: Vec<String>,
    #[serde(default)]
    pub ruf: Vec<String>,
    pub pct: Option<u8>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BimiToml {
    pub logo: String,
    pub authority: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtaStsToml {
    pub mode: String,
    #[serde(default)]
    pub mx: Vec<String>,
    pub max_age: Option<u64>,
    /// "auto" (default): changes when the policy does.
    pub id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsRptToml {
    pub rua: Vec<String>,
}

/// One `[[zone.tlsa]]` entry: the service and the file its record follows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsaToml {
    pub port: u16,
    pub host: String,
    /// The certificate (PEM) the service uses...
    pub cert: Option<PathBuf>,
    /// ...or its key.
    pub key: Option<PathBuf>,
    /// The key of the next certificate, published ahead of it.
    pub next_key: Option<PathBuf>,
    pub usage: Option<u8>,
    pub selector: Option<u8>,
    #[serde(rename = "match")]
    pub matching: Option<u8>,
    /// TTL of the TLSA records (default 3600); old records stay two TTLs.
    pub ttl: Option<u32>,
}

fn policy(s: &str, what: &str) -> Result<blason_mail::dmarc::Policy, String> {
    blason_mail::dmarc::Policy::parse(s)
        .ok_or_else(|| format!("{what} = {s:?}: use none, quarantine or reject"))
}

impl MailToml {
    fn to_spec(&self) -> Result<declare::MailSpec, String> {
        use blason_mail::dkim::Algorithm;
        use blason_mail::mtasts::Mode;
        let dkim = self
            .dkim
            .iter()
            .map(|d| {
                let algorithm = match d.algorithm.as_deref().unwrap_or("ed25519") {
                    "ed25519" => Algorithm::Ed25519,
                    "rsa2048" => Algorithm::Rsa(2048),
                    "rsa3072" => Algorithm::Rsa(3072),
                    "rsa4096" => Algorithm::Rsa(4096),
                    a => {
                        return Err(format!(
                            "mail.dkim algorithm {a:?}: use ed25519, rsa2048, rsa3072 or rsa4096"
                        ))
                    }
                };
                let ok = !d.selector.is_empty()
                    && d.selector.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes()
                                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
                    });
                if !ok {
                    return Err(format!(
                        "mail.dkim selector {:?} is not a DNS label",
                        d.selector
                    ));
                }
                Ok(declare::DkimSpec {
                    selector: d.selector.clone(),
                    algorithm,
                })
            })
            .collect::<Result<_, String>>()?;
        let dmarc = match &self.dmarc {
            Some(d) => Some(declare::DmarcSpec {
                policy: policy(&d.policy, "mail.dmarc.policy")?,
                subdomain_policy: d
                    .subdomain_policy
                    .as_deref()
                    .map(|p| policy(p, "mail.dmarc.subdomain_policy"))
                    .transpose()?,
                rua: d.rua.clone(),
                ruf: d.ruf.clone(),
                pct: d.pct,
            }),
            None => None,
        };
        let mta_sts = match &self.mta_sts {
            Some(m) => Some(declare::MtaStsSpec {
                mode: match m.mode.as_str() {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    o => {
                        return Err(format!(
                            "mail.mta_sts.mode {o:?}: use enforce, testing or none"
                        ))
                    }
                },
                mx: m.mx.clone(),
                max_age: m.max_age.unwrap_or(604800),
                id: m.id.clone().unwrap_or_else(|| "auto".into()),
            }),
            None => None,
        };
        Ok(declare::MailSpec {
            ttl: self.ttl.unwrap_or(3600),
            spf: self.spf.as_ref().map(|s| declare::SpfSpec {
                senders: s.senders.clone(),
                all: s.all.clone().unwrap_or_else(|| "-all".into()),
            }),
            dkim,
            dmarc,
            bimi: self.bimi.as_ref().map(|b| declare::BimiSpec {
                logo: b.logo.clone(),
                authority: b.authority.clone(),
            }),
            mta_sts,
            tls_rpt: self.tls_rpt.as_ref().map(|t| t.rua.clone()),
        })
    }
}

impl TlsaToml {
    fn to_spec(&self) -> Result<declare::TlsaSpec, String> {
        let file = match (&self.cert, &self.key) {
            (Some(c), None) => c.clone(),
            (None, Some(k)) => k.clone(),
            _ => {
                return Err(format!(
                    "tlsa for {}:{}: give cert = \"FILE\" or key = \"FILE\" (one of them)",
                    self.host, self.port
                ))
            }
        };
        let d = blason_mail::tlsa::Params::default();
        let params = blason_mail::tlsa::Params {
            usage: self.usage.unwrap_or(d.usage),
            selector: self.selector.unwrap_or(d.selector),
            matching: self.matching.unwrap_or(d.matching),
        };
        if params.usage > 3 || params.selector > 1 || params.matching > 2 {
            return Err(format!(
                "tlsa for {}:{}: usage 0-3, selector 0-1, match 0-2",
                self.host, self.port
            ));
        }
        if self.key.is_some() && params.selector == 0 {
            return Err(format!(
                "tlsa for {}:{}: selector 0 needs a certificate, not a key",
                self.host, self.port
            ));
        }
        Ok(declare::TlsaSpec {
            port: self.port,
            host: self.host.clone(),
            file,
            next: self.next_key.clone(),
            params,
            ttl: self.ttl.unwrap_or(3600),
        })
    }
}

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
    fn committed(&self, _now: u64) {
        if let Err(e) = self.0.committed() {
            blason_server::log::warn(
                "cannot record the TLSA state; the next load plans from the last one saved",
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

/// The environment-or-flag layer (already merged by clap).
#[derive(Debug, Default)]
pub struct Overrides {
    pub listen: Vec<SocketAddr>,
    pub zones: Vec<(String, PathBuf)>,
    pub threads: Option<usize>,
    pub log_format: Option<LogFormat>,
    pub query_log: bool,
    pub version_string: Option<String>,
    pub identity: Option<String>,
    pub pid_file: Option<PathBuf>,
    pub tcp_idle_timeout: Option<u64>,
    pub tcp_max_connections: Option<usize>,
    pub state: Option<PathBuf>,
}

/// The merged result: what the server gets, plus what only the CLI uses.
#[derive(Debug)]
pub struct ServeConfig {
    pub server: Config,
    pub log_format: LogFormat,
    /// True when no zone was configured and the bundled example is served.
    pub example: bool,
}

/// Splits `ORIGIN=FILE`.
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

pub fn merge(file: FileConfig, o: Overrides) -> Result<ServeConfig, String> {
    let listen = if !o.listen.is_empty() {
        o.listen
    } else {
        file.listen
    };
    let state = o.state.or(file.state).unwrap_or_else(default_state);
    // Zones from flags or the environment replace the file's, sections and all.
    let zones: Vec<(String, PathBuf, Option<FileZone>)> = if !o.zones.is_empty() {
        o.zones.into_iter().map(|(o, f)| (o, f, None)).collect()
    } else {
        file.zone
            .into_iter()
            .map(|z| (z.origin.clone(), z.file.clone(), Some(z)))
            .collect()
    };
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
                    source: ZoneSource::File(path),
                    generator,
                    dnssec,
                    journal,
                    serial,
                    journal_size: fz_journal_size,
                    lints: vec![Arc::new(blason_mail::zone_lint::MailLints)],
                })
            })
            .collect::<Result<_, String>>()?
    };
    let listen = if listen.is_empty() {
        vec![DEFAULT_LISTEN.parse().expect("constant address")]
    } else {
        listen
    };
    let mut server = Config::new(listen, zones);
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
    };
    server.pid_file = o.pid_file.or(file.pid_file);
    if let Some(s) = file.poll_interval {
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
        let o = Overrides {
            listen: vec!["127.0.0.1:5400".parse().unwrap()],
            threads: Some(1),
            ..Overrides::default()
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
        let c = merge(file, Overrides::default()).unwrap();
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
        assert!(merge(bad, Overrides::default()).is_err());
        let bad: FileConfig = toml::from_str(
            "[[zone]]\norigin = \"a.test\"\nfile = \"a.zone\"\ndnssec = true\ndnssec-parent = [\"ns.parent\"]\n",
        )
        .unwrap();
        assert!(merge(bad, Overrides::default())
            .unwrap_err()
            .contains("dnssec-parent"));
    }

    #[test]
    fn nothing_given_serves_the_example() {
        let c = merge(FileConfig::default(), Overrides::default()).unwrap();
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
