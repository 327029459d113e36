//! `blason reload`: asks a running `blason serve` to re-read its zones, through its
//! control socket (`<state>/control.sock`, which replies with the outcome) or by
//! sending SIGHUP to the process named in its pid file.

use super::config::{state_of, FileConfig};
use crate::cmd::exit::{Exit, Failed};
use blason_server::control::{self, Command};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Re-read the config and every zone file of a running server
///
/// Zones added to the server's config file are served, zones removed are not, zones
/// whose settings changed are reopened with them, and every other zone reads its
/// file again. Asks the server through its control socket in the state folder
/// (--state, or the config's `state`) and prints what the reload did
/// (`replaced=N kept_old=M added=... removed=...`); with --pid-file, or when no
/// server answers there, sends SIGHUP to the pid in the pid file instead (the
/// outcome is then in the server's log). Zones that fail to load keep serving their
/// old data.
///
/// Examples:
///   blason reload --state /var/lib/blason
///   blason reload --config /etc/blason/blason.toml
///   blason reload --pid-file /run/blason.pid
#[derive(Args, Debug)]
pub struct ReloadArgs {
    /// The pid file the server was started with
    #[arg(long, value_name = "FILE", env = "BLASON_PID_FILE")]
    pub pid_file: Option<PathBuf>,

    /// Take the state folder and the pid file from this config file
    #[arg(long, short = 'c', value_name = "FILE", env = "BLASON_CONFIG")]
    pub config: Option<PathBuf>,

    /// The server's state folder, where its control socket is
    #[arg(long, value_name = "DIR", env = "BLASON_STATE")]
    pub state: Option<PathBuf>,
}

pub fn run(a: ReloadArgs) -> ExitCode {
    let file = match &a.config {
        Some(c) => match FileConfig::read(c) {
            Ok(f) => Some(f),
            Err(e) => return fail(&e),
        },
        None => None,
    };
    let state = state_of(&a.state, file.as_ref());
    let socket = state.join(control::SOCKET);
    if a.pid_file.is_none() {
        match control::ask(&socket, &Command::Reload) {
            Some(Ok(m)) => {
                println!("reloaded: {m}");
                return Exit::Ok.into();
            }
            Some(Err(m)) => return Failed::from(m).report("blason reload"),
            None => {}
        }
    }
    let pid_file = match (a.pid_file, file.and_then(|f| f.pid_file)) {
        (Some(p), _) | (None, Some(p)) => p,
        (None, None) => {
            return fail(&format!(
                "no server answers on {}: give --state DIR (the server's state folder) or --pid-file FILE (the one `blason serve` was started with)",
                socket.display()
            ))
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
            Exit::Ok.into()
        }
        Err(e) => fail(&format!("cannot signal pid {pid}: {e}")),
    }
}

fn fail(msg: &str) -> ExitCode {
    Failed::from(msg).report("blason reload")
}
