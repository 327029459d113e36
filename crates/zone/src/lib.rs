//! blason-zone: everything about a zone that needs no socket.
//!
//! Owns: the zone-file scanner (RFC 1035 §5 with BIND's extensions: `$ORIGIN`, `$TTL`,
//! `$INCLUDE`, `$GENERATE`, RFC 3597 unknown types), record types and their
//! presentation/wire codecs, the immutable zone model (names in canonical order, RRsets,
//! cuts, glue, wildcards, empty non-terminals), the checks behind `blason zone check`
//! as typed findings, and canonical printing.
//!
//! Refuses: sockets, clocks, threads; anything about answering queries (crate `answer`)
//! or signing (crate `dnssec`).
#![forbid(unsafe_code)]

pub mod check;
pub mod encoding;
pub mod fault;
pub mod finding;
pub mod load;
pub mod model;
pub mod name;
pub mod named_conf;
pub mod print;
pub mod rdata;
pub mod scanner;
mod store;
pub mod types;
pub mod update;

pub use fault::{Blame, Ede, Fault};
pub use finding::{Finding, Severity};
pub use model::{Node, Nodes, RRset, Zone};
pub use name::Name;
pub use types::{Class, Rtype};
