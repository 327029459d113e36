use clap::Args;
use std::process::ExitCode;

#[derive(Args)]
pub struct ServeArgs {}

pub fn run(_a: ServeArgs) -> ExitCode {
    eprintln!("blason serve: not yet");
    ExitCode::from(2)
}
