//! The `blason` command line: a thin layer over the library crates.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod cmd;

/// blason: authoritative DNS, DNSSEC and mail records for a self-hosted domain.
#[derive(Parser)]
#[command(name = "blason", version, about, long_about = None)]
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
    /// Make a running server re-read its zone files (sends SIGHUP via its pid file)
    Reload(cmd::reload::ReloadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Zone(c) => cmd::zone::run(c),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Reload(a) => cmd::reload::run(a),
    }
}
