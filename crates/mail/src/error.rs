//! What making a zone's mail and TLSA records can fail at, with whose fault it is.

use blason_zone::fault::{Blame, Fault};
use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum Error {
    /// A `mail` or `tlsa` setting that makes no valid record; the text names it.
    Setting(String),
    /// A file the operator keeps (a DKIM key, a certificate) cannot be used.
    File { path: PathBuf, reason: String },
    /// A file of ours (kept DKIM keys, the TLSA state) cannot be read or written.
    Io {
        path: PathBuf,
        op: &'static str,
        error: io::Error,
    },
    /// A key could not be made (no randomness).
    KeyGen(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Setting(e) => f.write_str(e),
            Error::File { path, reason } => write!(f, "{}: {reason}", path.display()),
            Error::Io { path, op, error } => write!(f, "{}: cannot {op}: {error}", path.display()),
            Error::KeyGen(e) => write!(f, "cannot make a key: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl Blame for Error {
    fn fault(&self) -> Fault {
        match self {
            Error::Setting(_) => Fault::Config,
            Error::File { .. } => Fault::Input,
            Error::Io { error, .. } => match error.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => Fault::Config,
                _ => Fault::System,
            },
            Error::KeyGen(_) => Fault::System,
        }
    }
}
