//! `blason serve` configuration: one typed struct, filled from a TOML file, then the
//! environment, then flags (each later source overrides the earlier one; a list given
//! later replaces the whole list).
//!
//! Environment and flags reach us through clap, which reads `BLASON_*` when a flag is
//! absent; the file is read here, so this module only merges and validates.

use blason_answer::Options;
use blason_server::{Config, ZoneSource, ZoneSpec};
use blason_zone::Name;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileZone {
    pub origin: String,
    pub file: PathBuf,
}

impl FileConfig {
    /// Reads `path`; relative paths inside it are taken from the file's own folder, so
    /// a config works wherever the server is started from.
    pub fn read(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut c: FileConfig =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        for z in &mut c.zone {
            if z.file.is_relative() {
                z.file = base.join(&z.file);
            }
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
    let zones: Vec<(String, PathBuf)> = if !o.zones.is_empty() {
        o.zones
    } else {
        file.zone.into_iter().map(|z| (z.origin, z.file)).collect()
    };
    let example = zones.is_empty();
    let zones = if example {
        vec![ZoneSpec {
            origin: parse_origin(EXAMPLE_ORIGIN)?,
            source: ZoneSource::Bundled {
                display: "example.test.zone (bundled)".into(),
                bytes: EXAMPLE_ZONE.as_bytes(),
            },
        }]
    } else {
        zones
            .into_iter()
            .map(|(origin, path)| {
                Ok(ZoneSpec {
                    origin: parse_origin(&origin)?,
                    source: ZoneSource::File(path),
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
