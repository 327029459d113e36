//! `blason serve`: parse flags, merge the config, start the server, wait for signals.

use super::config::{self, FileConfig, LogFormat};
use crate::cmd::exit::Exit;
use blason_server::log;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  Try it (serves a bundled example zone on 127.0.0.1:5353 and shows dig commands):
    blason serve

  Serve one zone on all IPv4 and IPv6 addresses, port 53:
    blason serve --listen 0.0.0.0:53 --listen [::]:53 \\
        --zone example.com.=/etc/blason/example.com.zone --pid-file /run/blason.pid

  The same from a config file, with the thread count from the environment:
    BLASON_THREADS=4 blason serve --config /etc/blason/blason.toml

Config file (TOML; every key optional; relative paths are taken from the file's folder):
    listen = [\"0.0.0.0:53\", \"[::]:53\"]
    threads = 4
    log-format = \"json\"          # or \"text\"
    query-log = false
    version-string = \"blason\"    # answer CHAOS TXT version.bind
    identity = \"ns1\"             # answer CHAOS TXT id.server
    pid-file = \"/run/blason.pid\"
    tcp-idle-timeout = 10        # seconds
    tcp-max-connections = 1000
    state = \"/var/lib/blason\"     # journals, keys, DKIM keys, TLSA state, control.sock; one
                                 # server per folder (default ./blason-state from a
                                 # checkout, else /var/lib/blason)
    poll-interval = 60           # seconds between checks of watched certificate files
    [[key]]                      # a TSIG key (`blason tsig keygen NAME` makes one)
    name = \"xfr-key\"
    algorithm = \"hmac-sha256\"
    secret = \"base64...\"
    [dyndns]                     # DynDNS2 for routers, ddclient, inadyn (off without it)
    listen = [\"0.0.0.0:8245\"]     # HTTP; listen-tls = [...] with cert and key for HTTPS
    listen-tls = [\"0.0.0.0:8443\"]
    cert = \"/etc/letsencrypt/live/example.com/fullchain.pem\"
    key = \"/etc/letsencrypt/live/example.com/privkey.pem\"
    rate = 10                    # updates per user per minute, then `abuse`
    [[dyndns.user]]              # `blason dyndns hash --user home --host ...` prints it
    name = \"home\"
    password = \"$pbkdf2-sha256$100000$...\"
    hosts = [\"home.example.com\"]
    [catalog]                    # a catalog zone (RFC 9432) listing every zone below,
    origin = \"catalog.invalid\"   # for BIND and Knot secondaries that follow catalogs
    allow-transfer = [\"198.51.100.53 key xfr-key\"]
    notify = [\"198.51.100.53 key xfr-key\"]
    [[zone]]                     # a secondary zone: transferred from its primaries
    origin = \"example.org.\"
    primaries = [\"192.0.2.53 key xfr-key\"]
    [[zone]]
    origin = \"example.com.\"
    file = \"example.com.zone\"
    dnssec = true                # signed, keys made and rolled per the policy; key state
                                 # and BIND key files in <state>/<zone>/ (see `blason
                                 # dnssec status`, `roll`, `ds`, `ds-seen`); or a policy:
                                 # dnssec = { keys = \"ksk+zsk\", zsk-lifetime = \"90d\" }
    dnssec-parent = [\"192.0.2.53\", \"198.51.100.53:53\"]   # the parent's servers, asked
                                 # for the DS during KSK/CSK rolls (else `dnssec ds-seen`)
    serial = \"keep\"               # how a change moves the served serial: keep (the file's
                                 # when ahead, else +1), increment, unixtime, date
    journal-size = 67108864      # bytes of changes kept after the journal's snapshot
                                 # before it is rewritten (default: the snapshot's size)
    allow-transfer = [\"198.51.100.53 key xfr-key\"]   # who may AXFR/IXFR: ADDR[/LEN],
                                 # \"key NAME\", or both (default: nobody)
    notify = [\"198.51.100.53 key xfr-key\"]   # secondaries told of each new serial
                                 # (besides the zone's NS targets; notify-ns = false: not them)
    catalog-group = \"standard\"   # the catalog's group property (a consumer's template)
    [[zone.update]]              # dynamic updates (RFC 2136, TSIG): what a key may change
    key = \"home-key\"             # a [[key]] (see `blason tsig keygen NAME --for update`)
    grant = \"subdomain\"          # name, subdomain, wildcard, self, zone, or acme (TXT at
    name = \"home.example.com\"    # _acme-challenge names only, for certbot and lego)
    types = [\"A\", \"AAAA\"]        # default: all but SOA, NS and DNSSEC's; [\"ANY\"]: all
    [zone.mail]                  # records generated into the zone at every (re)load
    spf = { senders = [\"mx\", \"ip4:192.0.2.0/24\", \"include:_spf.provider.test\"], all = \"-all\" }
    dkim = [{ selector = \"mail2026\", algorithm = \"ed25519\" }]   # key made once, kept
    dmarc = { policy = \"quarantine\", rua = [\"mailto:dmarc@example.com\"], pct = 100 }
    bimi = { logo = \"https://example.com/logo.svg\" }
    mta_sts = { mode = \"enforce\", mx = [\"mail.example.com\"], id = \"auto\" }
    tls_rpt = { rua = [\"mailto:tls@example.com\"] }
    [[zone.tlsa]]                # follows the file: a new key's record is published
    port = 25                    # beside the old one, which goes two TTLs later
    host = \"mail.example.com\"
    cert = \"/etc/letsencrypt/live/mail.example.com/fullchain.pem\"   # or key = \"...\"

Precedence: config file, then BLASON_* environment variables, then flags. A list
(listen, zone) given by a later source replaces the earlier list; it is not appended.
In variables, separate list items with commas: BLASON_LISTEN=127.0.0.1:53,[::1]:53.

Signals: SIGHUP re-reads the config file and every zone file and swaps them in without
dropping a query: a zone added to the config is served (and listed in the catalog),
a zone removed is not, a zone whose settings changed is reopened with them; listen
addresses, threads and the other server-wide settings change at the next start. A
config that does not read changes nothing (the zone files are read again). A zone that
fails to load (unreadable, or its checks find errors) keeps serving its old data and
the findings are logged. `blason reload --state DIR` does the same through
the control socket and prints the outcome; `blason reload --pid-file FILE` sends SIGHUP.
SIGTERM or SIGINT stop the server.

Every change to a zone is made durable in its journal (<state>/<zone>/journal) before
it is served, and moves the served serial forward. A restart answers from the journal
at once, signatures included, then reads the zone file and commits what changed.

A zone with errors at startup stops the server before it listens, with its findings
(unless its journal holds a good copy: then that is served and the error logged).";

/// Serve zones over UDP and TCP.
///
/// With no zone configured, serves a bundled example zone (example.test.) so that
/// you can try queries right away.
#[derive(Args, Clone, Debug, Default)]
#[command(after_long_help = AFTER_HELP)]
pub struct ServeArgs {
    /// TOML config file; everything below can be set there too (see the end of --help)
    #[arg(long, short = 'c', value_name = "FILE", env = "BLASON_CONFIG")]
    pub config: Option<PathBuf>,

    /// Address and port to answer on, UDP and TCP; repeat for more addresses. IPv6 in
    /// brackets: [::1]:53. Port 0 picks a free port (it is logged). Default:
    /// 127.0.0.1:5353
    #[arg(
        long,
        short = 'l',
        value_name = "ADDR:PORT",
        env = "BLASON_LISTEN",
        value_delimiter = ','
    )]
    pub listen: Vec<SocketAddr>,

    /// Zone to serve, as ORIGIN=FILE, e.g. example.com.=/etc/blason/example.com.zone;
    /// repeat for more zones. Default: the bundled example.test. zone
    #[arg(long, short = 'z', value_name = "ORIGIN=FILE", env = "BLASON_ZONE", value_delimiter = ',',
          value_parser = config::parse_zone_arg)]
    pub zone: Vec<(String, PathBuf)>,

    /// UDP worker threads per listen address, each with its own socket. Default: one
    /// per CPU core
    #[arg(long, short = 't', value_name = "N", env = "BLASON_THREADS")]
    pub threads: Option<usize>,

    /// Log line format on stderr: readable text, or one JSON object per line
    #[arg(long, value_name = "FORMAT", env = "BLASON_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,

    /// Log every query with client, name, type, rcode and size (costs speed). In the
    /// environment: BLASON_QUERY_LOG=1 (or true, yes, on)
    #[arg(long, env = "BLASON_QUERY_LOG", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub query_log: bool,

    /// Answer CHAOS TXT version.bind / version.server with this text. Default: refuse
    #[arg(long, value_name = "TEXT", env = "BLASON_VERSION_STRING")]
    pub version_string: Option<String>,

    /// Answer CHAOS TXT id.server / hostname.bind with this text. Default: refuse
    #[arg(long, value_name = "TEXT", env = "BLASON_IDENTITY")]
    pub identity: Option<String>,

    /// Write the server's process id here (for `blason reload`); removed on exit
    #[arg(long, value_name = "FILE", env = "BLASON_PID_FILE")]
    pub pid_file: Option<PathBuf>,

    /// Close a TCP connection after this many seconds without a query. Default: 10
    #[arg(long, value_name = "SECONDS", env = "BLASON_TCP_IDLE_TIMEOUT")]
    pub tcp_idle_timeout: Option<u64>,

    /// Most TCP connections open at once; more are closed on arrival. Default: 1000
    #[arg(long, value_name = "N", env = "BLASON_TCP_MAX_CONNECTIONS")]
    pub tcp_max_connections: Option<usize>,

    /// Folder for DNSSEC keys and key state, generated DKIM keys (mode 0600), TLSA state
    /// and MTA-STS policy files.
    /// Default: ./blason-state when run from a checkout (cargo run), /var/lib/blason when installed
    #[arg(long, value_name = "DIR", env = "BLASON_STATE")]
    pub state: Option<PathBuf>,

    /// Seconds between looks at what generated records follow (certificate files for
    /// TLSA, TLSA records falling due). Default: 60
    #[arg(long, value_name = "SECONDS", env = "BLASON_POLL_INTERVAL")]
    pub poll_interval: Option<u64>,

    /// Answer ANY over UDP with a single RRset of the name (RFC 8482), so it cannot
    /// serve reflection attacks; over TCP ANY is always answered in full. Default: true
    #[arg(long, value_name = "BOOL", env = "BLASON_MINIMAL_ANY",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub minimal_any: Option<bool>,

    /// Most TCP connections open at once from one address; more are closed on
    /// arrival. 0: no limit but --tcp-max-connections. Default: 100
    #[arg(long, value_name = "N", env = "BLASON_TCP_MAX_PER_CLIENT")]
    pub tcp_max_per_client: Option<usize>,

    /// Queries answered on one TCP connection before the server closes it (the
    /// client reconnects). 0: no limit. Default: 0
    #[arg(long, value_name = "N", env = "BLASON_TCP_MAX_QUERIES")]
    pub tcp_max_queries: Option<usize>,

    /// Serve Prometheus metrics at http://ADDR:PORT/metrics. Keep it on loopback or
    /// a private network: it tells who asks what. Default: off
    #[arg(long, value_name = "ADDR:PORT", env = "BLASON_METRICS")]
    pub metrics: Option<SocketAddr>,
}

pub fn run(a: ServeArgs) -> ExitCode {
    let file = match &a.config {
        Some(p) => match FileConfig::read(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("blason serve: config: {e}");
                return Exit::Unusable.into();
            }
        },
        None => FileConfig::default(),
    };
    // A reload reads the file again and merges it with the same flags.
    let reread: Option<blason_server::Reread> = a.config.clone().map(|path| {
        let args = a.clone();
        std::sync::Arc::new(move || {
            let file = FileConfig::read(&path)?;
            config::merge(file, args.clone()).map(|c| c.server)
        }) as blason_server::Reread
    });
    let cfg = match config::merge(file, a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("blason serve: {e}");
            return Exit::Unusable.into();
        }
    };
    log::init(match cfg.log_format {
        LogFormat::Text => log::Format::Text,
        LogFormat::Json => log::Format::Json,
    });
    let example = cfg.example;
    let zones = cfg.server.zones.len();
    let started = |s: &blason_server::Server| {
        if example {
            print_try(s.local_addrs());
        }
        blason_server::sd_notify(&format!("READY=1\nSTATUS=serving {zones} zones"));
    };
    match blason_server::run_reloading(cfg.server, started, reread) {
        Ok(()) => {
            blason_server::sd_notify("STOPPING=1");
            Exit::Ok.into()
        }
        Err(e) => {
            log::error(&e.to_string(), &[]);
            Exit::of(blason_zone::fault::Blame::fault(&e)).into()
        }
    }
}

/// Shows what to ask the example zone, addressed to where we actually listen.
fn print_try(listen: &[SocketAddr]) {
    let Some(a) = listen.first() else { return };
    let at = format!("dig @{} -p {}", a.ip(), a.port());
    println!("Serving the bundled example zone example.test. (no --zone given). Try:");
    for q in [
        "example.test SOA",
        "www.example.test A",
        "www.example.test AAAA",
        "example.test MX",
        "example.test TXT",
        "_dmarc.example.test TXT",
        "blog.example.test A",
        "anything.apps.example.test A",
        "host.lab.example.test A",
        "www.example.test A +tcp",
    ] {
        println!("  {at} {q}");
    }
    println!("Stop with Ctrl-C.");
}
