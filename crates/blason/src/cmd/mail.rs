//! Mail trust record commands: `spf`, `dmarc`, `dkim`, `bimi`, `mta-sts`, `tlsa` and
//! `mail check`. All logic lives in blason-mail; this file reads arguments and files,
//! picks a resolver, and prints findings.
use crate::cmd::exit::Exit;
use blason_mail::dns::{TxtLookup, UdpLookup};
use blason_mail::{bimi, check, dkim, dmarc, mtasts, spf, svg, tlsa, txt, vmc, Finding, Severity};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Options every DNS-reading command shares.
#[derive(Args, Clone)]
pub struct Common {
    /// DNS server to ask, as ADDR:PORT (default: the first nameserver of
    /// /etc/resolv.conf). Point it at `blason serve` to lint a zone before publishing.
    #[arg(long, value_name = "ADDR:PORT", env = "BLASON_RESOLVER")]
    resolver: Option<SocketAddr>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

impl Common {
    fn lookup(&self) -> Result<UdpLookup, ExitCode> {
        match self.resolver {
            Some(a) => Ok(UdpLookup::new(a)),
            None => UdpLookup::system().ok_or_else(|| {
                eprintln!("blason: no nameserver in /etc/resolv.conf; pass --resolver ADDR:PORT");
                Exit::Unusable.into()
            }),
        }
    }
}

#[derive(Subcommand)]
pub enum SpfCmd {
    /// Lint an SPF record, given as text or fetched from a domain.
    ///
    /// Checks RFC 7208 syntax (mechanisms, modifiers, macros), '+all', '?all', 'ptr',
    /// strings over 255 bytes, and, following include and redirect through DNS: more
    /// than 10 DNS lookups, more than 2 void lookups, include loops, several SPF
    /// records, and the deprecated SPF record type without TXT.
    ///
    /// Exit status: 0 without errors (warnings allowed), 1 with errors, 2 when it
    /// cannot run.
    ///
    /// Examples:
    ///   blason spf lint example.com
    ///   blason spf lint 'v=spf1 mx include:_spf.example.net -all' --domain example.com
    ///   blason spf lint example.com --resolver 127.0.0.1:5353
    #[command(verbatim_doc_comment)]
    Lint {
        /// A record (starting with v=spf1) or a domain name
        target: String,
        /// With a record: the domain it is for (its 'a' and 'mx' look there)
        #[arg(long)]
        domain: Option<String>,
        /// With a record: do not follow includes through DNS
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Evaluate SPF as a receiver does (RFC 7208 check_host): the result by its RFC
    /// name (pass, fail, softfail, neutral, none, permerror, temperror), the term
    /// that decided, the lookups used against the limits of 10 and 2 void, and the
    /// exp= explanation on fail.
    ///
    /// An empty --mail-from (a bounce) checks postmaster@HELO.
    ///
    /// Exit status: 0 on pass, 1 on any other result, 2 when it cannot run.
    ///
    /// Examples:
    ///   blason spf check --ip 192.0.2.10 --mail-from alice@example.com
    ///   blason spf check --ip 2001:db8::25 --mail-from '' --helo mx.example.com
    ///   blason spf check --ip 192.0.2.10 --mail-from a@example.test \
    ///       --resolver 127.0.0.1:5353 --format json
    #[command(verbatim_doc_comment)]
    Check {
        /// The SMTP client's address
        #[arg(long)]
        ip: std::net::IpAddr,
        /// The envelope sender (MAIL FROM); empty for a bounce
        #[arg(long, value_name = "ADDR")]
        mail_from: String,
        /// The name the client gave in HELO/EHLO
        #[arg(long, default_value = "")]
        helo: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum DmarcCmd {
    /// Lint a DMARC record, given as text or fetched from _dmarc.DOMAIN.
    ///
    /// Checks RFC 7489 and DMARCbis tags (pct, rf, ri removed; np, psd, t added),
    /// p=none left in place, rua/ruf URIs without mailto:, report addresses in other
    /// domains that do not authorize them (<domain>._report._dmarc.<target>), several
    /// records, and records published in the wrong place.
    ///
    /// Examples:
    ///   blason dmarc lint example.com
    ///   blason dmarc lint 'v=DMARC1; p=none; rua=mailto:dmarc@example.com'
    #[command(verbatim_doc_comment)]
    Lint {
        /// A record (starting with v=) or a domain name
        target: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum KeyAlg {
    Ed25519,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

#[derive(Subcommand)]
pub enum DkimCmd {
    /// Generate a DKIM key pair: the private key (PEM, mode 0600) and the TXT record.
    ///
    /// Writes DIR/SELECTOR.private and DIR/SELECTOR.txt and prints the record in
    /// zone-file form, split in strings of at most 255 bytes. RSA keys are written as
    /// PKCS#1 ('RSA PRIVATE KEY'), Ed25519 keys as PKCS#8: OpenDKIM, rspamd and dkimpy
    /// read both. Ed25519 (RFC 8463) is not checked by every verifier yet: publish an
    /// RSA selector beside it.
    ///
    /// Examples:
    ///   blason dkim keygen --domain example.com --selector 2025a
    ///   blason dkim keygen --domain example.com --selector ed1 --algorithm ed25519 --out /etc/dkim
    #[command(verbatim_doc_comment)]
    Keygen {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        selector: String,
        #[arg(long, value_enum, default_value_t = KeyAlg::Rsa2048)]
        algorithm: KeyAlg,
        /// Folder for the key and record files
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Replace existing files
        #[arg(long)]
        force: bool,
    },
    /// Lint a DKIM key record, given as text or fetched from SELECTOR._domainkey.DOMAIN.
    ///
    /// Checks tags (v, h, k, n, p, s, t), key type and size (RSA under 1024 bits is an
    /// error, under 2048 a warning), revoked keys (empty p=), t=y left on, and, for a
    /// domain, the historic ADSP (_adsp._domainkey) and DomainKeys (o=-) records.
    ///
    /// Examples:
    ///   blason dkim lint example.com --selector 2025a
    ///   blason dkim lint 'v=DKIM1; k=rsa; p=MIIBIjAN...'
    #[command(verbatim_doc_comment)]
    Lint {
        /// A record (containing p=) or a domain name
        target: String,
        /// Selector(s) to check under DOMAIN (default: common selector names)
        #[arg(long = "selector")]
        selectors: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum BimiCmd {
    /// Lint the BIMI record, its DMARC prerequisites, and the logo.
    ///
    /// Checks default._bimi.DOMAIN ('v=BIMI1; l=; a='), that DMARC is at quarantine or
    /// reject on the domain and its organizational domain with pct=100 and sp not none,
    /// and the SVG logo against SVG Tiny Portable/Secure: baseProfile="tiny-ps",
    /// version="1.2", a <title>, no scripts, no external references, no animation or
    /// interactivity, no x/y on the root, square, at most 32 KB.
    ///
    /// With --vmc, the Verified Mark Certificate's logotype extension (RFC 3709): an
    /// image/svg+xml subject logo embedded as a data: URI of the gzip'd SVG, whose
    /// logotype hash matches, which passes the same SVG checks, and which is
    /// byte-for-byte the --svg file when both are given.
    ///
    /// Examples:
    ///   blason bimi lint example.com --svg logo.svg
    ///   blason bimi lint --svg logo.svg --vmc vmc.pem
    ///   blason bimi lint --svg logo.svg
    #[command(verbatim_doc_comment)]
    Lint {
        /// The domain (leave out to check only the logo)
        domain: Option<String>,
        /// The logo file to check
        #[arg(long)]
        svg: Option<PathBuf>,
        /// The Verified Mark Certificate (PEM or DER) whose logo to check
        #[arg(long)]
        vmc: Option<PathBuf>,
        #[arg(long, default_value = "default")]
        selector: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum MtaStsCmd {
    /// Lint MTA-STS: the _mta-sts record, the policy file, and its mx patterns against
    /// the domain's MX records; also the TLS-RPT record (_smtp._tls).
    ///
    /// The policy is not fetched over HTTPS: save
    /// https://mta-sts.DOMAIN/.well-known/mta-sts.txt and pass it with --policy.
    ///
    /// Examples:
    ///   blason mta-sts lint example.com --policy mta-sts.txt
    #[command(verbatim_doc_comment)]
    Lint {
        domain: String,
        #[arg(long)]
        policy: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand)]
pub enum MailCmd {
    /// Every mail lint for a live domain in one report: SPF, DMARC, DKIM (and the
    /// historic ADSP), BIMI, MTA-STS, TLS-RPT, and TLSA for the MX hosts.
    ///
    /// Examples:
    ///   blason mail check example.com
    ///   blason mail check example.com --selector 2025a --format json
    ///   blason mail check example.test --resolver 127.0.0.1:5353
    #[command(verbatim_doc_comment)]
    Check {
        domain: String,
        /// DKIM selectors to check (default: common selector names)
        #[arg(long = "selector")]
        selectors: Vec<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Sign a message with DKIM (relaxed/relaxed, RSA-SHA256 or Ed25519-SHA256 by
    /// the key) and print it with its DKIM-Signature header first. From is
    /// oversigned. Bare LF line ends are made CRLF.
    ///
    /// Examples:
    ///   blason mail sign --domain example.com --selector mail2026 \
    ///       --key /var/lib/blason/dkim/example.com/mail2026.private message.eml
    ///   sendmail-filter | blason mail sign -d example.com -s mail2026 -k key.pem -
    #[command(verbatim_doc_comment)]
    Sign {
        /// The signing domain (d=)
        #[arg(long, short = 'd')]
        domain: String,
        /// The selector (s=) whose public key the domain publishes
        #[arg(long, short = 's')]
        selector: String,
        /// The private key (PEM), as `blason dkim keygen` and OpenDKIM write it
        #[arg(long, short = 'k')]
        key: std::path::PathBuf,
        /// The message file; - for standard input
        #[arg(default_value = "-")]
        file: String,
    },
    /// Verify a received message as a receiving server would, and explain it: SPF
    /// for MAIL FROM and HELO, iprev, each DKIM signature (key size, alignment),
    /// DMARC (RFC 9989 tree walk, alignment, the policy a receiver applies), the ARC
    /// chain, and whether a BIMI logo would show; each failure with its fix; then
    /// the Authentication-Results line a milter would add.
    ///
    /// Without --ip only the message itself (DKIM, DMARC by DKIM, ARC) is judged.
    /// The JSON is stable for scripts: spf.result, dmarc.result, and dkim as a list
    /// of {domain, selector, result}, results named as RFC 8601 names them.
    ///
    /// Exit status: 0 when nothing failed, 1 when SPF, a DKIM signature or DMARC
    /// failed or erred, 2 when it cannot run.
    ///
    /// Examples:
    ///   blason mail verify message.eml
    ///   blason mail verify --ip 192.0.2.10 --helo mx.example.com \
    ///       --mail-from alice@example.com message.eml
    ///   blason mail verify --resolver 127.0.0.1:5353 --format json - < message.eml
    #[command(verbatim_doc_comment)]
    Verify {
        /// The message file; - for standard input
        #[arg(default_value = "-")]
        file: String,
        /// The SMTP client's address
        #[arg(long)]
        ip: Option<std::net::IpAddr>,
        /// The name the client gave in HELO/EHLO
        #[arg(long, default_value = "")]
        helo: String,
        /// The envelope sender (MAIL FROM)
        #[arg(long, value_name = "ADDR", default_value = "")]
        mail_from: String,
        /// Our name in Authentication-Results (default: this host's name)
        #[arg(long, value_name = "NAME")]
        authserv_id: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

/// Print the TLSA record for a certificate or key.
///
/// The default 3 1 1 (DANE-EE, public key, SHA-256) survives a renewal that keeps the
/// key. Before deploying a certificate with a new key, publish the record for that key
/// with --next-key, wait a few TTLs so old and new records coexist, then switch the
/// certificate, then remove the old record.
///
/// Examples:
///   blason tlsa --cert /etc/ssl/mail.pem --port 25 --host mail.example.com
///   blason tlsa --cert cert.pem --next-key next.key --port 25 --host mail.example.com
#[derive(Args)]
#[command(verbatim_doc_comment)]
pub struct TlsaArgs {
    /// Certificate or key (PEM): CERTIFICATE, PUBLIC KEY, PRIVATE KEY, RSA/EC PRIVATE KEY
    #[arg(long)]
    cert: PathBuf,
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(0..=3))]
    usage: u8,
    /// Selector: 0 full certificate, 1 SubjectPublicKeyInfo
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512
    #[arg(long = "match", default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    matching: u8,
    #[arg(long, default_value_t = 25)]
    port: u16,
    /// The service host name, e.g. mail.example.com
    #[arg(long)]
    host: String,
    /// The key (or certificate) the next certificate will use: its record is printed too
    #[arg(long, value_name = "KEYFILE")]
    next_key: Option<PathBuf>,
}

fn print_findings(findings: &[Finding], format: Format) -> ExitCode {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            let items: Vec<String> = findings.iter().map(|f| f.to_json()).collect();
            let _ = writeln!(
                out,
                "{{\"findings\":[{}],\"errors\":{}}}",
                items.join(","),
                errors
            );
        }
        Format::Text => {
            for f in findings {
                let _ = writeln!(out, "{f}");
            }
            let warnings = findings
                .iter()
                .filter(|f| f.severity == Severity::Warning)
                .count();
            let _ = writeln!(
                out,
                "{} error(s), {} warning(s), {} note(s)",
                errors,
                warnings,
                findings.len() - errors - warnings
            );
        }
    }
    if errors > 0 {
        Exit::Findings.into()
    } else {
        Exit::Ok.into()
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(p).map_err(|e| {
        eprintln!("blason: cannot read {}: {}", p.display(), e);
        Exit::Unusable.into()
    })
}

macro_rules! tryx {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(code) => return code,
        }
    };
}

pub fn run_spf(c: SpfCmd) -> ExitCode {
    let (target, domain, offline, common) = match c {
        SpfCmd::Lint {
            target,
            domain,
            offline,
            common,
        } => (target, domain, offline, common),
        SpfCmd::Check {
            ip,
            mail_from,
            helo,
            common,
        } => return spf_check(ip, mail_from, helo, common),
    };
    if spf::is_spf(target.as_bytes()) || target.contains(' ') {
        let mut f = spf::lint_strings(&txt::split(target.as_bytes()));
        if target.len() > 255 {
            f.push(Finding::new(
                "spf-string-too-long",
                Severity::Note,
                None,
                format!(
                    "the record is {} bytes: publish it as several strings of at most 255 bytes",
                    target.len()
                ),
                "blason prints the split form below",
            ));
        }
        if offline {
            f.extend(spf::lint_record(target.as_bytes()));
        } else {
            let dns = tryx!(common.lookup());
            let d = domain.unwrap_or_default();
            f.extend(spf::check_record(target.as_bytes(), &d, &dns).findings);
        }
        return print_findings(&f, common.format);
    }
    let dns = tryx!(common.lookup());
    let w = spf::check_domain(&target, &dns);
    if common.format == Format::Text {
        if let Some(r) = &w.record {
            println!(
                "{}: {}\n  {} DNS lookup(s), {} void",
                target, r, w.lookups, w.voids
            );
        }
    }
    print_findings(&w.findings, common.format)
}

pub fn run_dmarc(c: DmarcCmd) -> ExitCode {
    let DmarcCmd::Lint { target, common } = c;
    if target.trim_start().starts_with("v=") || target.contains(';') {
        return print_findings(&dmarc::lint_record(target.as_bytes()), common.format);
    }
    let dns = tryx!(common.lookup());
    print_findings(&dmarc::check_domain(&target, &dns), common.format)
}

pub fn run_dkim(c: DkimCmd) -> ExitCode {
    match c {
        DkimCmd::Keygen {
            domain,
            selector,
            algorithm,
            out,
            force,
        } => keygen(&domain, &selector, algorithm, &out, force),
        DkimCmd::Lint {
            target,
            selectors,
            common,
        } => {
            if target.contains('=') {
                return print_findings(&dkim::lint_record(target.as_bytes()), common.format);
            }
            let dns = tryx!(common.lookup());
            let r = check::check(&target, &selectors, &dns);
            let f: Vec<Finding> = r
                .sections
                .into_iter()
                .filter(|s| s.name == "dkim")
                .flat_map(|s| s.findings)
                .collect();
            print_findings(&f, common.format)
        }
    }
}

/// Writes `data` to `path` through a temporary file in the same folder, created with
/// `mode` before any byte is written, then renamed: a reader never sees half a key,
/// and the key is never readable by others, not even for a moment.
fn write_atomic(path: &Path, data: &[u8], mode: u32, force: bool) -> Result<(), String> {
    if path.exists() && !force {
        return Err(format!(
            "{} exists; pass --force to replace it",
            path.display()
        ));
    }
    blason_store::write_atomic(path, data, mode).map_err(|e| e.to_string())
}

fn keygen(domain: &str, selector: &str, alg: KeyAlg, out: &Path, force: bool) -> ExitCode {
    let valid = |s: &str| {
        !s.is_empty()
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            })
    };
    if !valid(selector) || !valid(domain.trim_end_matches('.')) {
        eprintln!("blason: selector and domain must be DNS names (letters, digits, '-', '_')");
        return Exit::Unusable.into();
    }
    let a = match alg {
        KeyAlg::Ed25519 => dkim::Algorithm::Ed25519,
        KeyAlg::Rsa2048 => dkim::Algorithm::Rsa(2048),
        KeyAlg::Rsa3072 => dkim::Algorithm::Rsa(3072),
        KeyAlg::Rsa4096 => dkim::Algorithm::Rsa(4096),
    };
    let key = match dkim::generate(a) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("blason: key generation failed: {e}");
            return Exit::Unusable.into();
        }
    };
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("blason: {}: {}", out.display(), e);
        return Exit::Unusable.into();
    }
    let owner = format!("{}.", dkim::owner(selector, domain));
    let line = txt::zone_line(&owner, None, key.record.to_text().as_bytes());
    let priv_path = out.join(format!("{selector}.private"));
    let txt_path = out.join(format!("{selector}.txt"));
    if let Err(e) = write_atomic(&priv_path, key.private_pem.as_bytes(), 0o600, force) {
        eprintln!("blason: {e}");
        return Exit::Unusable.into();
    }
    if let Err(e) = write_atomic(&txt_path, format!("{line}\n").as_bytes(), 0o644, force) {
        eprintln!("blason: {e}");
        return Exit::Unusable.into();
    }
    eprintln!(
        "blason: private key written to {} (mode 0600); record to {}",
        priv_path.display(),
        txt_path.display()
    );
    println!("{line}");
    Exit::Ok.into()
}

pub fn run_bimi(c: BimiCmd) -> ExitCode {
    let BimiCmd::Lint {
        domain,
        svg: svg_path,
        vmc: vmc_path,
        selector,
        common,
    } = c;
    let mut f = Vec::new();
    let mut svg_bytes = None;
    if let Some(p) = &svg_path {
        let bytes = tryx!(read_file(p));
        f.extend(svg::check(&bytes));
        svg_bytes = Some(bytes);
    }
    if let Some(p) = &vmc_path {
        let cert = tryx!(read_file(p));
        f.extend(vmc::check(&cert, svg_bytes.as_deref()));
    }
    match domain {
        Some(d) => {
            let dns = tryx!(common.lookup());
            f.extend(bimi::check_domain(&d, &selector, &dns).1);
        }
        None if svg_path.is_none() && vmc_path.is_none() => {
            eprintln!("blason: give a DOMAIN, an --svg FILE, a --vmc FILE, or several");
            return Exit::Unusable.into();
        }
        None => {}
    }
    print_findings(&f, common.format)
}

pub fn run_mta_sts(c: MtaStsCmd) -> ExitCode {
    let MtaStsCmd::Lint {
        domain,
        policy,
        common,
    } = c;
    let policy = match &policy {
        Some(p) => Some(tryx!(read_file(p))),
        None => None,
    };
    let dns = tryx!(common.lookup());
    let mut f = mtasts::check_domain(&domain, policy.as_deref(), &dns);
    f.extend(blason_mail::tlsrpt::check_domain(&domain, &dns));
    print_findings(&f, common.format)
}

pub fn run_tlsa(a: TlsaArgs) -> ExitCode {
    let p = tlsa::Params {
        usage: a.usage,
        selector: a.selector,
        matching: a.matching,
    };
    let mut files = vec![a.cert.clone()];
    files.extend(a.next_key.clone());
    for (i, file) in files.iter().enumerate() {
        let bytes = tryx!(read_file(file));
        let m = match tlsa::read_pem(&bytes) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("blason: {}: {}", file.display(), e);
                return Exit::Unusable.into();
            }
        };
        let data = match tlsa::association(&m, p) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("blason: {}: {}", file.display(), e);
                return Exit::Unusable.into();
            }
        };
        if i == 1 {
            println!("; the next key: publish now, a few TTLs before the certificate changes");
        } else if a.next_key.is_some() {
            println!("; the current key");
        }
        println!("{}", tlsa::zone_line(a.port, &a.host, p, &data));
    }
    if a.usage == 3 && a.selector == 0 {
        eprintln!("blason: note: 3 0 x records change with every renewal; 3 1 1 follows the key");
    }
    Exit::Ok.into()
}

/// `blason spf check`.
fn spf_check(ip: std::net::IpAddr, mail_from: String, helo: String, common: Common) -> ExitCode {
    use blason_mail::authres::AuthResult;
    use blason_mail::spf_eval::{check_mail_from, Request};
    let dns = tryx!(common.lookup());
    let req = Request {
        ip,
        sender: mail_from,
        helo,
        receiver: String::new(),
        now: unix_now(),
    };
    let o = check_mail_from(&req, &dns);
    match common.format {
        Format::Json => println!("{}", o.to_json()),
        Format::Text => {
            println!("{} for {} from {ip}", o.result, o.domain);
            if let Some(m) = &o.mechanism {
                println!("  decided by: {m}");
            }
            if !o.reason.is_empty() {
                println!("  why: {}", o.reason);
            }
            if let Some(e) = &o.explanation {
                println!("  explanation: {e}");
            }
            println!("  {} DNS lookup(s) of 10, {} void of 2", o.lookups, o.voids);
        }
    }
    if o.result == AuthResult::Pass {
        Exit::Ok.into()
    } else {
        Exit::Findings.into()
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A message file, or standard input for `-`.
fn read_input(file: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut msg = Vec::new();
    if file == "-" {
        std::io::stdin()
            .read_to_end(&mut msg)
            .map_err(|e| format!("standard input: {e}"))?;
        Ok(msg)
    } else {
        std::fs::read(file).map_err(|e| format!("{file}: {e}"))
    }
}

/// `blason mail verify`.
#[allow(clippy::too_many_arguments)]
fn verify(
    file: &str,
    ip: Option<std::net::IpAddr>,
    helo: String,
    mail_from: String,
    authserv_id: Option<String>,
    common: Common,
) -> ExitCode {
    use blason_mail::authres::AuthResult;
    use blason_mail::verify::{verify, Envelope};
    let msg = match read_input(file) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("blason mail verify: {e}");
            return Exit::Unusable.into();
        }
    };
    let dns = tryx!(common.lookup());
    let env = Envelope {
        ip,
        helo,
        mail_from,
        authserv_id: authserv_id.unwrap_or_else(crate::cmd::host_name),
        now: unix_now(),
    };
    let r = verify(&msg, &env, &dns);
    match common.format {
        Format::Json => println!("{}", r.to_json()),
        Format::Text => print!("{}", r.to_text()),
    }
    let bad = |a: AuthResult| {
        matches!(
            a,
            AuthResult::Fail | AuthResult::SoftFail | AuthResult::PermError | AuthResult::TempError
        )
    };
    let failed = (r.ip.is_some() && bad(r.spf.result))
        || r.dkim.iter().any(|v| bad(v.result))
        || bad(r.dmarc.result);
    if failed {
        Exit::Findings.into()
    } else {
        Exit::Ok.into()
    }
}

pub fn run_mail(c: MailCmd) -> ExitCode {
    let (domain, selectors, common) = match c {
        MailCmd::Verify {
            file,
            ip,
            helo,
            mail_from,
            authserv_id,
            common,
        } => return verify(&file, ip, helo, mail_from, authserv_id, common),
        MailCmd::Sign {
            domain,
            selector,
            key,
            file,
        } => return sign(&domain, &selector, &key, &file),
        MailCmd::Check {
            domain,
            selectors,
            common,
        } => (domain, selectors, common),
    };
    let dns = tryx!(common.lookup());
    let r = check::check(&domain, &selectors, &dns as &dyn TxtLookup);
    match common.format {
        Format::Json => println!("{}", r.to_json()),
        Format::Text => {
            for s in &r.sections {
                println!(
                    "== {} ({})",
                    s.name,
                    if s.findings.is_empty() {
                        "ok".to_string()
                    } else {
                        format!("{} finding(s)", s.findings.len())
                    }
                );
                for f in &s.findings {
                    println!("{f}");
                }
            }
            println!("{}: {} error(s)", r.domain, r.errors());
        }
    }
    if r.errors() > 0 {
        Exit::Findings.into()
    } else {
        Exit::Ok.into()
    }
}

/// `blason mail sign`.
fn sign(domain: &str, selector: &str, key: &std::path::Path, file: &str) -> ExitCode {
    use blason_mail::dkim_sign::{crlf, Signer, SigningKey};
    use std::io::Write;
    let r = (|| -> Result<Vec<u8>, String> {
        let pem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
        let k = SigningKey::from_pem(&pem).map_err(|e| format!("{}: {e}", key.display()))?;
        let signer = Signer::new(domain, selector, k)?;
        let msg = read_input(file)?;
        let header = signer.sign(&msg, unix_now())?;
        let mut out = header.into_bytes();
        out.extend_from_slice(&crlf(&msg));
        // As SMTP would carry it: dkimpy and OpenDKIM hash a body without its
        // final CRLF as it is, where RFC 6376 §3.4.4 adds one.
        if !out.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
        Ok(out)
    })();
    match r {
        Ok(out) => {
            let _ = std::io::stdout().write_all(&out);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("blason mail sign: {e}");
            ExitCode::from(2)
        }
    }
}
