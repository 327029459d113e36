//! The CLI's exit statuses, one meaning each, derived from whose fault a failure is
//! (`blason_zone::fault::Fault::exit_code`).

use blason_zone::fault::{Blame, Fault};
use std::fmt;
use std::process::ExitCode;

/// 0: done; 1: the data examined has errors (findings, a failed check, a peer's
/// bad answer); 2: the command could not do its work (usage, configuration, I/O).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Findings = 1,
    Unusable = 2,
}

impl Exit {
    pub fn of(f: Fault) -> Exit {
        match f.exit_code() {
            1 => Exit::Findings,
            _ => Exit::Unusable,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// A command's failure: what to print, and whose fault it is.
#[derive(Debug)]
pub struct Failed {
    pub fault: Fault,
    pub text: String,
}

impl Failed {
    pub fn new(fault: Fault, text: impl Into<String>) -> Failed {
        Failed {
            fault,
            text: text.into(),
        }
    }

    /// The data given has errors (a zone that fails its checks).
    pub fn input(text: impl Into<String>) -> Failed {
        Failed::new(Fault::Input, text)
    }

    pub fn of(e: &dyn Blame) -> Failed {
        Failed::new(e.fault(), e.to_string())
    }

    /// Prints the failure after `who` ("blason", "blason reload") and gives its status.
    pub fn report(&self, who: &str) -> ExitCode {
        eprintln!("{who}: {}", self.text);
        Exit::of(self.fault).into()
    }
}

/// The CLI's own complaints (arguments, settings, files it was pointed at) are the
/// configuration's to fix.
impl From<String> for Failed {
    fn from(text: String) -> Failed {
        Failed::new(Fault::Config, text)
    }
}

impl From<&str> for Failed {
    fn from(text: &str) -> Failed {
        Failed::new(Fault::Config, text)
    }
}

impl From<blason_server::control::Refusal> for Failed {
    fn from(r: blason_server::control::Refusal) -> Failed {
        Failed::new(r.fault, r.text)
    }
}

impl From<blason_dnssec::Error> for Failed {
    fn from(e: blason_dnssec::Error) -> Failed {
        Failed::of(&e)
    }
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
