//! `blason reload`: asks a running `blason serve` to re-read its zones by sending
//! SIGHUP to the process named in its pid file.

use super::config::FileConfig;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Re-read every zone file of a running server (sends it SIGHUP)
///
/// The server must have been started with --pid-file (or pid-file in its config).
/// Zones that fail to load keep serving their old data; see the server's log.
///
/// Example: blason reload --pid-file /run/blason.pid
#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// The pid file the server was started with
    #[arg(long, value_name = "FILE", env = "BLASON_PID_FILE")]
    pub pid_file: Option<PathBuf>,

    /// Take the pid file from this config file instead
    #[arg(long, short = 'c', value_name = "FILE", env = "BLASON_CONFIG")]
    pub config: Option<PathBuf>,
}

pub fn run(a: ReloadArgs) -> ExitCode {
    let pid_file = match (a.pid_file, &a.config) {
        (Some(p), _) => p,
        (None, Some(c)) => match FileConfig::read(c) {
            Ok(FileConfig {
                pid_file: Some(p), ..
            }) => p,
            Ok(_) => return fail(&format!("{} sets no pid-file", c.display())),
            Err(e) => return fail(&e),
        },
        (None, None) => {
            return fail("give --pid-file FILE (the one `blason serve` was started with)")
        }
    };
    let text = match std::fs::read_to_string(&pid_file) {
        Ok(t) => t,
        Err(e) => {
            return fail(&format!(
                "{}: {e} (is the server running with this pid file?)",
                pid_file.display()
            ))
        }
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return fail(&format!(
            "{}: not a process id: {:?}",
            pid_file.display(),
            text.trim()
        ));
    };
    match blason_server::sys::send_signal(pid, blason_server::sys::Signal::Hup) {
        Ok(()) => {
            println!("sent SIGHUP to blason serve (pid {pid}); results are in its log");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&format!("cannot signal pid {pid}: {e}")),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("blason reload: {msg}");
    ExitCode::FAILURE
}
