//! The `blason` command line: a thin layer over the library crates.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

/// blason: authoritative DNS, DNSSEC and mail records for a self-hosted domain.
#[derive(Parser)]
#[command(
    name = "blason",
    version,
    about,
    long_about = None,
    after_help = "Exit status: 0 done; 1 the data examined has errors (a zone that fails its checks, a record that does not pass); 2 the command could not do its work (usage, configuration, a file or server it could not reach)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read, check and print zone files
    #[command(subcommand)]
    Zone(cmd::zone::ZoneCmd),
    /// Serve zones over UDP and TCP (with no arguments: a bundled example zone)
    Serve(cmd::serve::ServeArgs),
    /// Make a running server re-read its zone files (over its control socket, or SIGHUP via its pid file)
    Reload(cmd::reload::ReloadArgs),
    /// Lint SPF records (RFC 7208), following includes through DNS
    #[command(subcommand)]
    Spf(cmd::mail::SpfCmd),
    /// Lint DMARC records (RFC 7489, DMARCbis) and report authorizations
    #[command(subcommand)]
    Dmarc(cmd::mail::DmarcCmd),
    /// Generate DKIM keys and lint DKIM key records
    #[command(subcommand)]
    Dkim(cmd::mail::DkimCmd),
    /// Lint BIMI records, their DMARC prerequisites and SVG Tiny PS logos
    #[command(subcommand)]
    Bimi(cmd::mail::BimiCmd),
    /// Lint MTA-STS records and policies, and TLS-RPT records
    #[command(subcommand, name = "mta-sts")]
    MtaSts(cmd::mail::MtaStsCmd),
    /// Print DANE TLSA records for a certificate or key
    Tlsa(cmd::mail::TlsaArgs),
    /// Check every mail record of a domain in one report
    #[command(subcommand)]
    Mail(cmd::mail::MailCmd),
    /// TSIG keys for zone transfers: make one, with configs for blason and its
    /// BIND, Knot or NSD secondaries
    #[command(subcommand)]
    Tsig(cmd::tsig::TsigCmd),
    /// DynDNS2 for routers, ddclient and inadyn: hash a user's password for the config
    #[command(subcommand)]
    Dyndns(cmd::dyndns::DynDnsCmd),
    /// Zone transfers: what the secondaries took and were told
    #[command(subcommand)]
    Xfr(cmd::tsig::XfrCmd),
    /// DNSSEC: sign a zone file offline, print the DS for the parent, follow and steer
    /// the key rolls of `blason serve`
    #[command(subcommand)]
    Dnssec(cmd::dnssec::DnssecCmd),
    /// Move from another server: BIND's named.conf, zones, keys and K-files into
    /// blason's config
    #[command(subcommand)]
    Import(cmd::import::ImportCmd),
    /// DKIM signing for Postfix as a milter (in place of OpenDKIM's signing mode)
    Milter(cmd::milter::MilterArgs),
    /// Write the man pages (blason.1, blason-serve.1, ...) into DIR
    #[command(hide = true)]
    Manpages {
        /// Where to write them
        dir: std::path::PathBuf,
    },
}

/// The man pages of the command and of each subcommand, from the CLI's own
/// definitions.
fn manpages(dir: &std::path::Path) -> std::io::Result<usize> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let top = Cli::command();
    let mut n = 0;
    let mut write = |name: &str, cmd: clap::Command| -> std::io::Result<()> {
        let mut buf = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut buf)?;
        std::fs::write(dir.join(format!("{name}.1")), buf)?;
        n += 1;
        Ok(())
    };
    write("blason", top.clone())?;
    for sub in top.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("blason-{}", sub.get_name());
        // clap takes only static names here; this runs once, in a short process.
        let static_name: &'static str = Box::leak(name.clone().into_boxed_str());
        write(&name, sub.clone().name(static_name))?;
        for inner in sub.get_subcommands().filter(|s| s.get_name() != "help") {
            let iname = format!("{name}-{}", inner.get_name());
            let static_iname: &'static str = Box::leak(iname.clone().into_boxed_str());
            write(&iname, inner.clone().name(static_iname))?;
        }
    }
    Ok(n)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Zone(c) => cmd::zone::run(c),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Reload(a) => cmd::reload::run(a),
        Command::Spf(c) => cmd::mail::run_spf(c),
        Command::Dmarc(c) => cmd::mail::run_dmarc(c),
        Command::Dkim(c) => cmd::mail::run_dkim(c),
        Command::Bimi(c) => cmd::mail::run_bimi(c),
        Command::MtaSts(c) => cmd::mail::run_mta_sts(c),
        Command::Tlsa(a) => cmd::mail::run_tlsa(a),
        Command::Mail(c) => cmd::mail::run_mail(c),
        Command::Dnssec(c) => cmd::dnssec::run(c),
        Command::Tsig(c) => cmd::tsig::run(c),
        Command::Xfr(c) => cmd::tsig::run_xfr(c),
        Command::Dyndns(c) => cmd::dyndns::run(c),
        Command::Import(c) => cmd::import::run(c),
        Command::Milter(a) => cmd::milter::run(a),
        Command::Manpages { dir } => match manpages(&dir) {
            Ok(n) => {
                eprintln!("wrote {n} man pages into {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("blason manpages: {}: {e}", dir.display());
                ExitCode::from(2)
            }
        },
    }
}
