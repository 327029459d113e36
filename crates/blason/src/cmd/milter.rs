//! `blason milter`: DKIM signing and verifying for Postfix (or Sendmail) as a
//! milter, in place of OpenDKIM (and OpenDMARC). One thread per MTA connection
//! (Postfix keeps few open); an internal failure lets the message through (or
//! tempfails it, when asked), never loses it.

use blason_mail::authres::{self, AuthResult};
use blason_mail::dkim_sign::{Signer, SigningKey};
use blason_mail::dmarc::Policy;
use blason_mail::dns::UdpLookup;
use blason_mail::milter::{self, Command, Session};
use blason_mail::verify::{self, Envelope};
use clap::Args;
use std::io::{BufReader, BufWriter, Write};

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Sign outgoing mail with DKIM and verify incoming mail, as a milter for Postfix.
///
/// Mail is signed when it comes from an internal address (--internal, default
/// loopback) or from an authenticated submission (SASL), and its From domain is
/// --domain or below it. Signing is relaxed/relaxed with From oversigned; the key
/// decides RSA-SHA256 or Ed25519-SHA256. If anything goes wrong, the message goes
/// on unsigned: mail is never held or lost by the milter.
///
/// Other mail is verified (--mode v or sv): SPF for MAIL FROM and HELO, iprev,
/// every DKIM signature, DMARC and the ARC chain, written into one
/// Authentication-Results header under --authserv-id; such headers claiming our
/// authserv-id from outside are removed first. On DMARC failure the message is
/// only marked (default), quarantined, or handled as the domain's policy says
/// (--on-dmarc-fail enforce: reject for p=reject, quarantine for p=quarantine).
///
/// In Postfix's main.cf:
///   smtpd_milters = inet:127.0.0.1:8891
///   non_smtpd_milters = $smtpd_milters
///   milter_default_action = accept
///
/// In place of OpenDKIM, its config unchanged: --opendkim-conf /etc/opendkim.conf
/// reads Socket, KeyTable, SigningTable (refile: too), InternalHosts,
/// ExternalIgnoreList and SubDomains; settings it does not take are named with
/// their line.
///
/// Examples:
///   blason milter --listen 127.0.0.1:8891 --domain example.com --selector mail2026 \
///       --key /var/lib/blason/dkim/example.com/mail2026.private
///   blason milter --opendkim-conf /etc/opendkim.conf
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct MilterArgs {
    /// Where to listen: ADDR:PORT, OpenDKIM's inet:PORT@ADDR, or a Unix socket
    /// (local:PATH, unix:PATH). Default: the Socket of --opendkim-conf, else
    /// 127.0.0.1:8891
    #[arg(long)]
    listen: Option<String>,
    /// Permissions of a Unix socket, octal (default 660, or 666 less the UMask of
    /// --opendkim-conf): the MTA's user must be able to connect
    #[arg(long, value_name = "MODE")]
    socket_mode: Option<String>,
    /// Take OpenDKIM's config file and the tables it names
    #[arg(long, value_name = "FILE", conflicts_with_all = ["domain", "selector", "key", "config"])]
    opendkim_conf: Option<PathBuf>,
    /// Sign with the keys `blason serve` publishes: every DKIM selector of every
    /// zone's [zone.mail] in this config, each message with all of its zone's
    /// selectors (RSA and Ed25519 at once, when both are declared)
    #[arg(long, short = 'c', value_name = "FILE", conflicts_with_all = ["domain", "selector", "key"])]
    config: Option<PathBuf>,
    /// The signing domain (d=); mail whose From is this domain or below is signed
    #[arg(long, short = 'd')]
    domain: Option<String>,
    /// The selector (s=)
    #[arg(long, short = 's')]
    selector: Option<String>,
    /// The private key (PEM), as `blason dkim keygen` and OpenDKIM write it
    #[arg(long, short = 'k')]
    key: Option<PathBuf>,
    /// Addresses whose mail is signed (repeat); default 127.0.0.0/8 and ::1
    #[arg(long = "internal", value_name = "PREFIX")]
    internal: Vec<String>,
    /// s signs internal mail, v verifies the rest, sv both (OpenDKIM's Mode)
    #[arg(long, value_name = "s|v|sv")]
    mode: Option<String>,
    /// Our name in Authentication-Results (default: AuthservID of
    /// --opendkim-conf, else this host's name)
    #[arg(long, value_name = "NAME")]
    authserv_id: Option<String>,
    /// DNS server for verifying, ADDR:PORT (default: Nameservers of
    /// --opendkim-conf, else the first nameserver of /etc/resolv.conf)
    #[arg(long, value_name = "ADDR:PORT")]
    resolver: Option<SocketAddr>,
    /// On DMARC failure: mark (the header only), quarantine (hold it when the
    /// policy is quarantine or reject), enforce (reject or quarantine as the policy
    /// says)
    #[arg(long, value_enum, default_value_t = DmarcAction::Mark)]
    on_dmarc_fail: DmarcAction,
    /// On an internal error while verifying: accept the message, or tempfail it so
    /// the sender retries
    #[arg(long, value_enum, default_value_t = ErrorAction::Accept)]
    on_error: ErrorAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DmarcAction {
    Mark,
    Quarantine,
    Enforce,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ErrorAction {
    Accept,
    Tempfail,
}

/// How incoming mail is verified.
pub struct Verify {
    pub authserv_id: String,
    pub dns: UdpLookup,
    pub on_dmarc_fail: DmarcAction,
    pub on_error: ErrorAction,
}

/// `inet:PORT@HOST` (OpenDKIM's form) or `HOST:PORT`.
pub fn listen_addr(s: &str) -> Result<SocketAddr, String> {
    if let Some(rest) = s.strip_prefix("inet:") {
        let (port, host) = rest.split_once('@').unwrap_or((rest, "127.0.0.1"));
        let host = if host == "localhost" {
            "127.0.0.1"
        } else {
            host
        };
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("{host:?} is not an address"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{port:?} is not a port"))?;
        return Ok(SocketAddr::new(ip, port));
    }
    s.parse()
        .map_err(|_| format!("{s:?}: give ADDR:PORT or inet:PORT@ADDR"))
}

/// Which mail a signer signs: From addresses matching a pattern (`*` a wildcard,
/// as OpenDKIM's refile: tables), or From domains at (or below) a domain.
pub enum Match {
    Glob(String),
    Domain { domain: String, subdomains: bool },
}

impl Match {
    fn matches(&self, from: &str) -> bool {
        let domain = from.rsplit_once('@').map_or(from, |(_, d)| d);
        match self {
            Match::Glob(p) => glob(p, from),
            Match::Domain {
                domain: d,
                subdomains,
            } => domain == d || (*subdomains && domain.ends_with(&format!(".{d}"))),
        }
    }
}

/// `*` matches any run of characters (OpenDKIM's refile: patterns).
fn glob(p: &str, s: &str) -> bool {
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if s.len() < first.len() + last.len() || !s.starts_with(first) || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The signing key of a rolling DKIM series (`[zone.mail] dkim = [{ roll = ... }]`),
/// read again whenever `blason serve` rewrites the series' state file.
pub struct Rolling {
    domain: String,
    dir: PathBuf,
    prefix: String,
    cache: std::sync::Mutex<Option<(std::time::SystemTime, Option<Arc<Signer>>)>>,
}

impl Rolling {
    fn signer(&self) -> Option<Arc<Signer>> {
        let path = self.dir.join(format!("{}.roll", self.prefix));
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
        let mut c = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((t, s)) = &*c {
            if *t == mtime {
                return s.clone();
            }
        }
        let keys = blason_mail::dkim_roll::parse(&std::fs::read_to_string(&path).ok()?).ok()?;
        let s = keys
            .iter()
            .find(|k| k.signing())
            .and_then(|k| {
                let pem = std::fs::read(self.dir.join(format!("{}.private", k.selector))).ok()?;
                Signer::new(&self.domain, &k.selector, SigningKey::from_pem(&pem).ok()?).ok()
            })
            .map(Arc::new);
        if let Some(s) = &s {
            eprintln!(
                "blason milter: {} signs with selector {}",
                self.domain, s.selector
            );
        }
        *c = Some((mtime, s.clone()));
        s
    }
}

pub struct Config {
    pub signers: Vec<(Match, Signer)>,
    /// Rolling series, each signing with its current key.
    pub rolling: Vec<Rolling>,
    pub internal: Vec<(IpAddr, u8)>,
    /// Sign with every signer that matches (a zone's selectors), not only the
    /// first (OpenDKIM's SigningTable rule).
    pub all_matches: bool,
    /// Sign internal mail (mode s).
    pub sign: bool,
    /// Verify the rest (mode v), once set up.
    pub verify: Option<Verify>,
    /// The Mode and AuthservID an OpenDKIM config gave.
    pub mode: Option<String>,
    pub authserv_id: Option<String>,
    /// The resolver an OpenDKIM config named (Nameservers).
    pub resolver: Option<SocketAddr>,
    /// The UMask an OpenDKIM config gave, for a Unix socket.
    pub umask: Option<u32>,
}

/// The signers of a blason config: each zone's DKIM selectors, with the keys
/// `blason serve` made in its state folder.
fn from_blason_config(path: &std::path::Path) -> Result<Config, String> {
    let file = super::config::FileConfig::read(path)?;
    let state = file
        .state
        .clone()
        .unwrap_or_else(super::config::default_state);
    let mut signers = Vec::new();
    let mut rolling = Vec::new();
    for z in &file.zone {
        let Some(mail) = &z.mail else { continue };
        let spec = mail
            .to_spec()
            .map_err(|e| format!("zone {}: {e}", z.origin))?;
        let domain = z.origin.trim_end_matches('.').to_ascii_lowercase();
        for d in spec.dkim.iter().filter(|d| d.roll.is_some()) {
            rolling.push(Rolling {
                domain: domain.clone(),
                dir: state.join("dkim").join(&domain),
                prefix: d.selector.clone(),
                cache: std::sync::Mutex::new(None),
            });
        }
        for d in spec.dkim.iter().filter(|d| d.roll.is_none()) {
            let key = state
                .join("dkim")
                .join(&domain)
                .join(format!("{}.private", d.selector));
            let pem = std::fs::read(&key).map_err(|e| {
                format!(
                    "{}: {e}: start blason serve with this config first; it makes the key and publishes its record",
                    key.display()
                )
            })?;
            let k = SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
            let m = Match::Domain {
                domain: domain.clone(),
                subdomains: true,
            };
            signers.push((m, Signer::new(&domain, &d.selector, k)?));
        }
    }
    if signers.is_empty() && rolling.is_empty() {
        return Err(format!(
            "{}: no zone declares DKIM selectors ([zone.mail] dkim = [...])",
            path.display()
        ));
    }
    Ok(Config {
        rolling,
        all_matches: true,
        ..Config::signing(signers)
    })
}

impl Config {
    /// Signing with `signers` for loopback, first match only; the rest as given by
    /// flags (mode, verifying) later.
    pub fn signing(signers: Vec<(Match, Signer)>) -> Config {
        Config {
            signers,
            rolling: Vec::new(),
            internal: loopback(),
            all_matches: false,
            sign: true,
            verify: None,
            mode: None,
            authserv_id: None,
            resolver: None,
            umask: None,
        }
    }
}

/// The loopback prefixes, OpenDKIM's default InternalHosts.
pub fn loopback() -> Vec<(IpAddr, u8)> {
    vec![
        (IpAddr::from([127, 0, 0, 0]), 8),
        (IpAddr::from(std::net::Ipv6Addr::LOCALHOST), 128),
    ]
}

pub fn run(a: MilterArgs) -> ExitCode {
    let setup = (|| -> Result<(Config, Listener), String> {
        let (mut cfg, socket) = match &a.opendkim_conf {
            None if a.config.is_some() => (
                from_blason_config(a.config.as_deref().unwrap_or(std::path::Path::new("")))?,
                None,
            ),
            Some(p) => {
                let (cfg, socket, notes) = super::opendkim::read(p)?;
                for n in notes {
                    eprintln!("blason milter: {n}");
                }
                (cfg, socket)
            }
            None => {
                let (Some(domain), Some(selector), Some(key)) = (&a.domain, &a.selector, &a.key)
                else {
                    if a.mode.as_deref() == Some("v") {
                        let cfg = Config {
                            sign: false,
                            ..Config::signing(Vec::new())
                        };
                        return Ok((verifying(cfg, &a)?, listener(&a, None, None)?));
                    }
                    return Err(
                        "give --domain, --selector and --key, --config, or --opendkim-conf (or --mode v to only verify)".into(),
                    );
                };
                let pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
                let k =
                    SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
                let signer = Signer::new(domain, selector, k)?;
                let m = Match::Domain {
                    domain: signer.domain.clone(),
                    subdomains: true,
                };
                let cfg = Config::signing(vec![(m, signer)]);
                (cfg, None)
            }
        };
        if !a.internal.is_empty() {
            cfg.internal = a
                .internal
                .iter()
                .map(|p| blason_server::xfr::parse_prefix(p))
                .collect::<Result<Vec<_>, _>>()?;
        }
        let umask = cfg.umask;
        Ok((verifying(cfg, &a)?, listener(&a, socket, umask)?))
    })();
    let (cfg, listener) = match setup {
        Ok(x) => x,
        Err(e) => {
            eprintln!("blason milter: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = Arc::new(cfg);
    let keys: Vec<String> = cfg
        .signers
        .iter()
        .map(|(_, s)| format!("{}/{}", s.domain, s.selector))
        .collect();
    eprintln!(
        "blason milter: listening on {} with keys {}{}",
        listener.name(),
        if cfg.sign {
            keys.join(", ")
        } else {
            "(not signing)".into()
        },
        match &cfg.verify {
            Some(v) => format!(", verifying as {}", v.authserv_id),
            None => String::new(),
        }
    );
    let serve = |r: std::io::Result<(Box<dyn Read + Send>, Box<dyn std::io::Write + Send>)>| {
        let Ok((r, w)) = r else { return };
        let cfg = cfg.clone();
        std::thread::spawn(move || {
            if let Err(e) = connection(r, w, &cfg) {
                eprintln!("blason milter: connection ended: {e}");
            }
        });
    };
    match listener {
        Listener::Tcp(l) => {
            for s in l.incoming() {
                serve(s.and_then(|s| {
                    let _ = s.set_read_timeout(Some(IDLE));
                    Ok((
                        Box::new(s.try_clone()?) as Box<dyn Read + Send>,
                        Box::new(s) as _,
                    ))
                }));
            }
        }
        Listener::Unix(l, _) => {
            for s in l.incoming() {
                serve(s.and_then(|s| {
                    let _ = s.set_read_timeout(Some(IDLE));
                    Ok((
                        Box::new(s.try_clone()?) as Box<dyn Read + Send>,
                        Box::new(s) as _,
                    ))
                }));
            }
        }
    }
    ExitCode::SUCCESS
}

/// How long an MTA connection may stay silent.
const IDLE: std::time::Duration = std::time::Duration::from_secs(300);

/// A TCP or a Unix socket (OpenDKIM's `local:PATH`, Postfix's `unix:PATH`).
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    fn name(&self) -> String {
        match self {
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Listener::Unix(_, p) => format!("local:{}", p.display()),
        }
    }
}

/// The listening socket: --listen, else the OpenDKIM Socket, else 127.0.0.1:8891.
/// A Unix socket (`local:PATH`, `unix:PATH` or a path) replaces a stale one and
/// gets --socket-mode (else the OpenDKIM UMask applied to 0666, else 0660).
fn listener(
    a: &MilterArgs,
    socket: Option<String>,
    umask: Option<u32>,
) -> Result<Listener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let listen = a
        .listen
        .clone()
        .or(socket)
        .unwrap_or_else(|| "127.0.0.1:8891".into());
    let path = listen
        .strip_prefix("local:")
        .or_else(|| listen.strip_prefix("unix:"))
        .or_else(|| listen.starts_with('/').then_some(listen.as_str()));
    let Some(path) = path else {
        let addr = listen_addr(&listen)?;
        return TcpListener::bind(addr)
            .map(Listener::Tcp)
            .map_err(|e| format!("cannot listen on {addr}: {e}"));
    };
    let path = PathBuf::from(path);
    // Only a socket left by an earlier run is removed, never another file.
    if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(&path);
    }
    let l = UnixListener::bind(&path)
        .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
    let mode = match &a.socket_mode {
        Some(m) => u32::from_str_radix(m, 8)
            .map_err(|_| format!("--socket-mode {m:?}: give octal, such as 660"))?,
        None => umask.map_or(0o660, |u| 0o666 & !u),
    };
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Listener::Unix(l, path))
}

/// The mode (flag, else OpenDKIM's Mode, else sv) and what verifying needs.
fn verifying(mut cfg: Config, a: &MilterArgs) -> Result<Config, String> {
    let mode = a
        .mode
        .clone()
        .or(cfg.mode.clone())
        .unwrap_or_else(|| "sv".into())
        .to_ascii_lowercase();
    if mode.is_empty() || !mode.chars().all(|c| c == 's' || c == 'v') {
        return Err(format!("mode {mode:?}: give s, v or sv"));
    }
    cfg.sign = mode.contains('s');
    if cfg.sign && cfg.signers.is_empty() && cfg.rolling.is_empty() {
        return Err("mode s needs a key to sign with".into());
    }
    if mode.contains('v') {
        let dns = match a.resolver.or(cfg.resolver) {
            Some(r) => UdpLookup::new(r),
            // As the C library does when resolv.conf names no server.
            None => UdpLookup::system()
                .unwrap_or_else(|| UdpLookup::new(SocketAddr::from(([127, 0, 0, 1], 53)))),
        };
        cfg.verify = Some(Verify {
            authserv_id: a
                .authserv_id
                .clone()
                .or(cfg.authserv_id.clone())
                .unwrap_or_else(super::host_name),
            dns,
            on_dmarc_fail: a.on_dmarc_fail,
            on_error: a.on_error,
        });
    }
    Ok(cfg)
}

/// The address of a From header value (the last one's), lowercased.
fn from_address(value: &[u8]) -> Option<String> {
    let v = String::from_utf8_lossy(value);
    let addr = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v.trim().to_string(),
    };
    let addr = addr.trim().trim_end_matches('.').to_ascii_lowercase();
    addr.contains('@').then_some(addr)
}

fn connection(
    r: Box<dyn Read + Send>,
    w: Box<dyn std::io::Write + Send>,
    cfg: &Config,
) -> std::io::Result<()> {
    let mut r = BufReader::new(r);
    let mut w = BufWriter::new(w);
    let mut sess = Session::default();
    // What was negotiated: the steps answered, the header values as given.
    let mut protocol = 0;
    while let Some(cmd) = milter::read_command(&mut r)? {
        // The steps that are answered are answered "continue" (the end of the
        // message has its own answers below).
        if !matches!(
            cmd,
            Command::OptNeg { .. } | Command::EndOfMessage | Command::Other(_)
        ) && milter::needs_reply(&cmd, protocol)
        {
            milter::reply(&mut w, b'c', &[])?;
        }
        match cmd {
            Command::OptNeg {
                actions,
                protocol: offered,
                ..
            } => {
                protocol = milter::optneg_reply(&mut w, actions, offered)?;
                sess.leading_space = protocol & milter::SMFIP_HDR_LEADSPC != 0;
            }
            Command::Macro { pairs, .. } => sess.macros.extend(pairs),
            Command::Connect { addr, .. } => sess.client_addr = addr,
            Command::Helo(name) => sess.helo = name,
            Command::Mail(args) => {
                sess.mail_from = args
                    .first()
                    .map(|a| a.trim_matches(['<', '>']).to_string())
                    .unwrap_or_default();
            }
            Command::Header { name, value } => sess.headers.push((name, value)),
            Command::Body(b) => sess.body.extend_from_slice(&b),
            Command::EndOfMessage if !ours(&sess, cfg) => {
                match &cfg.verify {
                    Some(v) => verify_message(&mut w, &sess, v)?,
                    None => milter::reply(&mut w, b'a', &[])?,
                }
                sess.reset();
            }
            Command::EndOfMessage => {
                for sig in signature(&sess, cfg).unwrap_or_default() {
                    // Folding as libmilter wants it: LF, then the tab.
                    let mut value = sig.replace("\r\n", "\n");
                    if sess.leading_space {
                        // With SMFIP_HDR_LEADSPC the MTA takes the value as is.
                        value.insert(0, ' ');
                    }
                    milter::insert_header(&mut w, "DKIM-Signature", &value)?;
                }
                milter::reply(&mut w, b'a', &[])?;
                sess.reset();
            }
            Command::Abort => sess.reset(),
            Command::Quit => break,
            // A new SMTP connection on this one: what was negotiated holds.
            Command::QuitNewConnection => {
                sess = Session {
                    leading_space: sess.leading_space,
                    ..Session::default()
                };
            }
            Command::Other(_) => milter::reply(&mut w, b'c', &[])?,
            _ => {}
        }
        w.flush()?;
    }
    Ok(())
}

/// Verifies an incoming message: forged Authentication-Results out, ours in,
/// and the DMARC action; an internal error accepts or tempfails as configured.
fn verify_message(w: &mut impl Write, sess: &Session, v: &Verify) -> std::io::Result<()> {
    let msg = sess.message();
    let env = Envelope {
        ip: sess.client_addr.trim_start_matches("IPv6:").parse().ok(),
        helo: sess.helo.clone(),
        mail_from: sess.mail_from.clone(),
        authserv_id: v.authserv_id.clone(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    let report = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        verify::verify(&msg, &env, &v.dns)
    }));
    let report = match report {
        Ok(r) => r,
        Err(_) => {
            eprintln!(
                "blason milter: verifying failed inside; the message is {}",
                match v.on_error {
                    ErrorAction::Accept => "accepted unverified",
                    ErrorAction::Tempfail => "tempfailed",
                }
            );
            let code = if v.on_error == ErrorAction::Tempfail {
                b't'
            } else {
                b'a'
            };
            return milter::reply(w, code, &[]);
        }
    };
    // RFC 8601 §5: our authserv-id in a header from outside is forged. Deleted
    // from the last, so the indexes of the others hold.
    let forged: Vec<u32> = sess
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("authentication-results"))
        .enumerate()
        .filter(|(_, (_, value))| authres::authserv_id(value) == v.authserv_id.to_ascii_lowercase())
        .map(|(i, _)| i as u32 + 1)
        .collect();
    for i in forged.iter().rev() {
        milter::change_header(w, *i, "Authentication-Results", "")?;
    }
    let mut value = report.authentication_results().replace("\r\n", "\n");
    if sess.leading_space {
        value.insert(0, ' ');
    }
    milter::insert_header(w, "Authentication-Results", &value)?;
    let d = &report.dmarc;
    eprintln!(
        "blason milter: from={} ip={} spf={} dkim={} dmarc={}{}",
        d.from_domain,
        sess.client_addr,
        report.spf.result,
        report
            .dkim
            .iter()
            .map(|s| format!("{}:{}", s.domain, s.result))
            .collect::<Vec<_>>()
            .join(","),
        d.result,
        if forged.is_empty() {
            String::new()
        } else {
            format!(" removed={} forged", forged.len())
        }
    );
    if d.result == AuthResult::Fail {
        let why = format!(
            "DMARC policy of {} ({})",
            d.from_domain,
            d.disposition.as_str()
        );
        match (v.on_dmarc_fail, d.disposition) {
            (DmarcAction::Enforce, Policy::Reject) => {
                return milter::reply_code(w, &format!("550 5.7.1 rejected by the {why}"));
            }
            (
                DmarcAction::Enforce | DmarcAction::Quarantine,
                Policy::Reject | Policy::Quarantine,
            ) => {
                milter::quarantine(w, &why)?;
            }
            _ => {}
        }
    }
    milter::reply(w, b'a', &[])
}

/// Whether the message is ours to sign: from an internal address, an
/// authenticated submission or the local sendmail.
fn ours(sess: &Session, cfg: &Config) -> bool {
    if !cfg.sign {
        return false;
    }
    let internal = sess
        .client_addr
        .trim_start_matches("IPv6:")
        .parse::<IpAddr>()
        .is_ok_and(|a| {
            cfg.internal
                .iter()
                .any(|&(n, l)| blason_server::xfr::in_prefix(a, n, l))
        });
    let authenticated = sess
        .macro_value("{auth_authen}")
        .is_some_and(|v| !v.is_empty());
    // Local submissions (sendmail, non_smtpd_milters) come without a client address.
    let local = sess.client_addr.is_empty();
    internal || authenticated || local
}

/// The DKIM-Signature values for the message, when it is ours to sign.
fn signature(sess: &Session, cfg: &Config) -> Option<Vec<String>> {
    if !ours(sess, cfg) {
        return None;
    }
    let from = sess
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("from"))
        .and_then(|(_, v)| from_address(v))?;
    let matching = cfg.signers.iter().filter(|(m, _)| m.matches(&from));
    let take = if cfg.all_matches { usize::MAX } else { 1 };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let message = sess.message();
    let mut out = Vec::new();
    let domain = from.rsplit_once('@').map_or(from.as_str(), |(_, d)| d);
    let rolled: Vec<Arc<Signer>> = cfg
        .rolling
        .iter()
        .filter(|r| domain == r.domain || domain.ends_with(&format!(".{}", r.domain)))
        .filter_map(Rolling::signer)
        .collect();
    for signer in matching
        .take(take)
        .map(|(_, s)| s)
        .chain(rolled.iter().map(|s| &**s))
    {
        match signer.sign(&message, now) {
            Ok(h) => out.push(
                h.trim_start_matches("DKIM-Signature:")
                    .trim_start()
                    .trim_end_matches("\r\n")
                    .to_string(),
            ),
            Err(e) => eprintln!("blason milter: not signed with {}: {e}", signer.selector),
        }
    }
    Some(out)
}
