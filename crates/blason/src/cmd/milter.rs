//! `blason milter`: DKIM signing for Postfix (or Sendmail) as a milter, in place
//! of OpenDKIM's signing mode. One thread per MTA connection (Postfix keeps few
//! open); any internal failure lets the message through unsigned, never loses it.

use blason_mail::dkim_sign::{Signer, SigningKey};
use blason_mail::milter::{self, Command, Session};
use clap::Args;
use std::io::{BufReader, BufWriter, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Sign outgoing mail with DKIM as a milter for Postfix.
///
/// Mail is signed when it comes from an internal address (--internal, default
/// loopback) or from an authenticated submission (SASL), and its From domain is
/// --domain or below it. Signing is relaxed/relaxed with From oversigned; the key
/// decides RSA-SHA256 or Ed25519-SHA256. If anything goes wrong, the message goes
/// on unsigned: mail is never held or lost by the milter.
///
/// In Postfix's main.cf:
///   smtpd_milters = inet:127.0.0.1:8891
///   non_smtpd_milters = $smtpd_milters
///   milter_default_action = accept
///
/// Example:
///   blason milter --listen 127.0.0.1:8891 --domain example.com --selector mail2026 \
///       --key /var/lib/blason/dkim/example.com/mail2026.private
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct MilterArgs {
    /// Where to listen: ADDR:PORT, or OpenDKIM's inet:PORT@ADDR
    #[arg(long, default_value = "127.0.0.1:8891")]
    listen: String,
    /// The signing domain (d=); mail whose From is this domain or below is signed
    #[arg(long, short = 'd')]
    domain: String,
    /// The selector (s=)
    #[arg(long, short = 's')]
    selector: String,
    /// The private key (PEM), as `blason dkim keygen` and OpenDKIM write it
    #[arg(long, short = 'k')]
    key: PathBuf,
    /// Addresses whose mail is signed (repeat); default 127.0.0.0/8 and ::1
    #[arg(long = "internal", value_name = "PREFIX")]
    internal: Vec<String>,
}

/// `inet:PORT@HOST` (OpenDKIM's form) or `HOST:PORT`.
fn listen_addr(s: &str) -> Result<SocketAddr, String> {
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

struct Config {
    signer: Signer,
    domain: String,
    internal: Vec<(IpAddr, u8)>,
}

pub fn run(a: MilterArgs) -> ExitCode {
    let setup = (|| -> Result<(TcpListener, Config), String> {
        let pem = std::fs::read(&a.key).map_err(|e| format!("{}: {e}", a.key.display()))?;
        let key = SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", a.key.display()))?;
        let signer = Signer::new(&a.domain, &a.selector, key)?;
        let internal = if a.internal.is_empty() {
            vec!["127.0.0.0/8".to_string(), "::1".to_string()]
        } else {
            a.internal.clone()
        };
        let internal = internal
            .iter()
            .map(|p| blason_server::xfr::parse_prefix(p))
            .collect::<Result<Vec<_>, _>>()?;
        let addr = listen_addr(&a.listen)?;
        let l = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        Ok((
            l,
            Config {
                domain: signer.domain.clone(),
                signer,
                internal,
            },
        ))
    })();
    let (listener, cfg) = match setup {
        Ok(x) => x,
        Err(e) => {
            eprintln!("blason milter: {e}");
            return ExitCode::from(2);
        }
    };
    let cfg = Arc::new(cfg);
    eprintln!(
        "blason milter: listening on {} for {} (selector {})",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        cfg.domain,
        cfg.signer.selector
    );
    for s in listener.incoming() {
        let Ok(s) = s else { continue };
        let cfg = cfg.clone();
        std::thread::spawn(move || {
            if let Err(e) = connection(s, &cfg) {
                eprintln!("blason milter: connection ended: {e}");
            }
        });
    }
    ExitCode::SUCCESS
}

fn in_prefix(a: IpAddr, (net, len): (IpAddr, u8)) -> bool {
    match (a.to_canonical(), net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let m = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let m = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

/// The domain of a From header value (the last address's, after `@`).
fn from_domain(value: &[u8]) -> Option<String> {
    let v = String::from_utf8_lossy(value);
    let addr = match (v.rfind('<'), v.rfind('>')) {
        (Some(a), Some(b)) if a < b => v[a + 1..b].to_string(),
        _ => v.trim().to_string(),
    };
    addr.rsplit_once('@')
        .map(|(_, d)| d.trim().trim_end_matches('.').to_ascii_lowercase())
}

fn connection(s: TcpStream, cfg: &Config) -> std::io::Result<()> {
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(300)));
    let mut r = BufReader::new(s.try_clone()?);
    let mut w = BufWriter::new(s);
    let mut sess = Session::default();
    let mut no_header_reply = false;
    while let Some(cmd) = milter::read_command(&mut r)? {
        match cmd {
            Command::OptNeg {
                actions, protocol, ..
            } => {
                milter::optneg_reply(&mut w, actions, protocol)?;
                sess.leading_space = protocol & milter::SMFIP_HDR_LEADSPC != 0;
                no_header_reply = protocol & milter::SMFIP_NR_HDR != 0;
            }
            Command::Macro { pairs, .. } => sess.macros.extend(pairs),
            Command::Connect { addr, .. } => {
                sess.client_addr = addr;
                milter::reply(&mut w, b'c', &[])?;
            }
            Command::Header { name, value } => {
                sess.headers.push((name, value));
                if !no_header_reply {
                    milter::reply(&mut w, b'c', &[])?;
                }
            }
            Command::Body(b) => {
                sess.body.extend_from_slice(&b);
                milter::reply(&mut w, b'c', &[])?;
            }
            Command::EndOfMessage => {
                if let Some(sig) = signature(&sess, cfg) {
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
            Command::QuitNewConnection => sess = Session::default(),
            _ => milter::reply(&mut w, b'c', &[])?,
        }
        w.flush()?;
    }
    Ok(())
}

/// The DKIM-Signature value for the message, when it is ours to sign.
fn signature(sess: &Session, cfg: &Config) -> Option<String> {
    let internal = sess
        .client_addr
        .trim_start_matches("IPv6:")
        .parse::<IpAddr>()
        .is_ok_and(|a| cfg.internal.iter().any(|&p| in_prefix(a, p)));
    let authenticated = sess
        .macro_value("{auth_authen}")
        .is_some_and(|v| !v.is_empty());
    // Local submissions (sendmail, non_smtpd_milters) come without a client address.
    let local = sess.client_addr.is_empty();
    if !(internal || authenticated || local) {
        return None;
    }
    let from = sess
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("from"))
        .and_then(|(_, v)| from_domain(v))?;
    if from != cfg.domain && !from.ends_with(&format!(".{}", cfg.domain)) {
        return None;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match cfg.signer.sign(&sess.message(), now) {
        Ok(h) => Some(
            h.trim_start_matches("DKIM-Signature:")
                .trim_start()
                .trim_end_matches("\r\n")
                .to_string(),
        ),
        Err(e) => {
            eprintln!("blason milter: not signed: {e}");
            None
        }
    }
}
