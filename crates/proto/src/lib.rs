//! blason-proto: one DNS message codec and one DNS client for everything in blason
//! that speaks DNS off the query path (parent DS queries, the mail checks, tests;
//! later transfers, NOTIFY and UPDATE).
//!
//! Owns: parsing whole messages (header, every section, names decompressed, the
//! rdata of the types whose names may be compressed expanded, EDNS, where a TSIG
//! record sits) and building them (uncompressed, room left for TSIG), a requester
//! with random ids, UDP then TCP on truncation, timeouts and a check that the answer
//! is to the question asked; typed errors that say whose fault a failure is.
//!
//! Refuses: the authoritative hot path (crate `answer` keeps its allocation-free
//! writer), zone data (crate `zone`), threads and async runtimes.
#![forbid(unsafe_code)]

pub mod client;
pub mod message;
pub mod tsig;

pub use client::Requester;
pub use message::{Edns, Message, MessageBuilder, Question, Record, Section};

use std::fmt;
use std::net::SocketAddr;

/// Why an exchange or a message failed, by whose fault: the peer's bytes
/// (`Malformed`, `Mismatch`), the network (`Timeout`, `Io`).
#[derive(Debug)]
pub enum ProtoError {
    /// The bytes are not a well-formed DNS message.
    Malformed(&'static str),
    /// A well-formed message that does not answer the question asked.
    Mismatch(&'static str),
    /// No answer in time.
    Timeout(SocketAddr),
    /// The socket failed.
    Io(SocketAddr, std::io::Error),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Malformed(w) => write!(f, "malformed DNS message: {w}"),
            ProtoError::Mismatch(w) => write!(f, "not an answer to the question: {w}"),
            ProtoError::Timeout(a) => write!(f, "{a}: no answer in time"),
            ProtoError::Io(a, e) => write!(f, "{a}: {e}"),
        }
    }
}

impl std::error::Error for ProtoError {}

impl blason_zone::fault::Blame for ProtoError {
    fn fault(&self) -> blason_zone::fault::Fault {
        use blason_zone::fault::Fault;
        match self {
            ProtoError::Malformed(_) | ProtoError::Mismatch(_) => Fault::Peer,
            ProtoError::Timeout(_) | ProtoError::Io(..) => Fault::System,
        }
    }
}

/// RCODE names for messages and logs.
pub fn rcode_name(rcode: u16) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        16 => "BADVERS".into(),
        n => format!("RCODE{n}"),
    }
}
