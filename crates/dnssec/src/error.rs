//! One error for what the DNSSEC side of a zone can fail at, with whose fault it is.

use crate::keys::KeyError;
use crate::policy::PolicyError;
use crate::roll::RollError;
use crate::sign::SignError;
use crate::state::StateError;
use blason_zone::fault::{Blame, BoxedError, Fault};
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// The key state folder or file.
    State(StateError),
    /// A key file that cannot be read, written or used.
    Key {
        path: PathBuf,
        error: KeyError,
    },
    /// Keys of the policy's algorithm cannot be made here.
    NoKeys(String),
    Sign(SignError),
    Policy(PolicyError),
    /// An operator's roll that cannot begin.
    Roll(RollError),
    /// Another file of ours (a request, the key folder) could not be handled.
    Io {
        path: PathBuf,
        op: &'static str,
        error: io::Error,
    },
    /// Refused until the operator acts (e.g. the parent has a DS and no key state
    /// is here: new keys would break the chain of trust).
    Refused(String),
    /// The signed snapshot could not be committed (the journal, the checks).
    Commit(BoxedError),
    /// Something that cannot happen did.
    Internal(&'static str),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::State(e) => write!(f, "{e}"),
            Error::Key { path, error } => write!(f, "{}: {error}", path.display()),
            Error::NoKeys(e) | Error::Refused(e) => f.write_str(e),
            Error::Sign(e) => write!(f, "{e}"),
            Error::Policy(e) => write!(f, "{e}"),
            Error::Roll(e) => write!(f, "{e}"),
            Error::Io { path, op, error } => write!(f, "{}: cannot {op}: {error}", path.display()),
            Error::Commit(e) => write!(f, "{e}"),
            Error::Internal(e) => write!(f, "internal error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl Blame for Error {
    fn fault(&self) -> Fault {
        match self {
            Error::State(e) => e.fault(),
            Error::Key { .. } => Fault::Input,
            Error::NoKeys(_) | Error::Policy(_) | Error::Roll(_) | Error::Refused(_) => {
                Fault::Config
            }
            Error::Sign(e) => e.fault(),
            Error::Io { error, .. } => io_fault(error),
            Error::Commit(e) => e.fault(),
            Error::Internal(_) => Fault::Internal,
        }
    }
}

/// A missing or forbidden file is the operator's; other I/O failures may pass.
pub fn io_fault(e: &io::Error) -> Fault {
    match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Fault::Config,
        _ => Fault::System,
    }
}

impl From<StateError> for Error {
    fn from(e: StateError) -> Error {
        Error::State(e)
    }
}
impl From<SignError> for Error {
    fn from(e: SignError) -> Error {
        Error::Sign(e)
    }
}
impl From<PolicyError> for Error {
    fn from(e: PolicyError) -> Error {
        Error::Policy(e)
    }
}
impl From<RollError> for Error {
    fn from(e: RollError) -> Error {
        Error::Roll(e)
    }
}

impl Blame for StateError {
    fn fault(&self) -> Fault {
        match self {
            StateError::Io { error, .. } => io_fault(error),
            StateError::MissingDir(_) | StateError::NotADir(_) => Fault::Config,
            _ => Fault::Input,
        }
    }
}

impl Blame for SignError {
    /// The data was checked and the keys loaded before signing: a failure is ours.
    fn fault(&self) -> Fault {
        Fault::Internal
    }
}

impl Blame for KeyError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

impl Blame for PolicyError {
    fn fault(&self) -> Fault {
        Fault::Config
    }
}

impl Blame for RollError {
    fn fault(&self) -> Fault {
        Fault::Config
    }
}
