use clap::Subcommand;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ZoneCmd {
    /// Check a zone file
    Check {},
}

pub fn run(_c: ZoneCmd) -> ExitCode {
    ExitCode::from(2)
}
