//! Whose fault a failure is, and the one way a failure shows on the wire.
//!
//! Every error type that crosses a crate boundary says which [`Fault`] it is: that
//! decides whether to retry, how loud the log line is, the CLI's exit status, and —
//! through [`Fault::rcode`] — the RCODE and Extended DNS Error (RFC 8914) of an answer
//! that cannot be given. Responders (queries, transfers, updates) map failures here
//! and nowhere else.

use std::fmt;

/// Who has to act for a failure to go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A peer on the network sent something wrong (a message, a transfer, an answer).
    Peer,
    /// A file the operator gave is wrong (a zone file, a key, a certificate): the
    /// operator fixes the data.
    Input,
    /// The configuration asks for something that cannot be done: the operator fixes
    /// the settings.
    Config,
    /// The system failed (I/O, a full disk, the network, no randomness): it may pass.
    System,
    /// An invariant of blason broke: a bug to report.
    Internal,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Peer => "peer",
            Fault::Input => "input",
            Fault::Config => "config",
            Fault::System => "system",
            Fault::Internal => "internal",
        }
    }

    /// The fault [`Fault::name`] gives.
    pub fn parse(name: &str) -> Option<Fault> {
        [
            Fault::Peer,
            Fault::Input,
            Fault::Config,
            Fault::System,
            Fault::Internal,
        ]
        .into_iter()
        .find(|f| f.name() == name)
    }

    /// True when trying again later, unchanged, may succeed.
    pub fn transient(self) -> bool {
        matches!(self, Fault::Peer | Fault::System)
    }

    /// The CLI's exit status for a command that failed this way: 1 when the data
    /// examined is at fault (findings), 2 when the command could not do its work.
    pub fn exit_code(self) -> u8 {
        match self {
            Fault::Input | Fault::Peer => 1,
            Fault::Config | Fault::System | Fault::Internal => 2,
        }
    }

    /// The answer to a request that failed this way on a zone this server is
    /// configured for: a peer's bad request is its own error (FORMERR); anything on
    /// our side leaves the zone without usable data (SERVFAIL, "Invalid Data").
    pub fn rcode(self) -> (u16, Ede) {
        match self {
            Fault::Peer => (FORMERR, Ede::Other),
            Fault::Input | Fault::Config => (SERVFAIL, Ede::InvalidData),
            Fault::System | Fault::Internal => (SERVFAIL, Ede::Other),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

const FORMERR: u16 = 1;
const SERVFAIL: u16 = 2;

/// An error that knows whose fault it is; what generators and other plug-ins across
/// crates return.
pub trait Blame: std::error::Error + Send + Sync + 'static {
    fn fault(&self) -> Fault;
}

/// A boxed [`Blame`], for errors from code the caller does not know.
pub type BoxedError = Box<dyn Blame>;

/// Extended DNS Error codes (RFC 8914 §4) blason sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ede {
    Other = 0,
    DnssecBogus = 6,
    SignatureExpired = 7,
    DnskeyMissing = 9,
    /// Still starting: the zone is not loaded yet.
    NotReady = 14,
    /// Refused by policy (a transfer or update from someone not allowed).
    Prohibited = 18,
    /// Not a zone of this server.
    NotAuthoritative = 20,
    NotSupported = 21,
    NetworkError = 23,
    /// A configured zone with no usable data (failed to load, expired).
    InvalidData = 24,
}

impl Ede {
    pub fn code(self) -> u16 {
        self as u16
    }

    /// The EDNS option (code 15) carrying this code and `text` (UTF-8, no NUL).
    pub fn option(self, text: &str) -> (u16, Vec<u8>) {
        let mut v = self.code().to_be_bytes().to_vec();
        v.extend(text.bytes().filter(|&b| b != 0));
        (EDE_OPTION, v)
    }
}

/// The EDNS option code of Extended DNS Errors.
pub const EDE_OPTION: u16 = 15;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_map_to_one_status_each() {
        assert_eq!(Fault::Input.exit_code(), 1);
        assert_eq!(Fault::Config.exit_code(), 2);
        assert_eq!(Fault::Peer.rcode(), (FORMERR, Ede::Other));
        assert_eq!(Fault::Input.rcode(), (SERVFAIL, Ede::InvalidData));
        assert!(Fault::System.transient() && !Fault::Config.transient());
    }

    #[test]
    fn ede_option_is_code_then_text() {
        let (code, v) = Ede::InvalidData.option("zone\0 broken");
        assert_eq!(code, 15);
        assert_eq!(v, b"\x00\x18zone broken");
    }
}
