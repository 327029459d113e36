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

pub mod name;

pub use name::Name;
pub mod load;

/// Placeholder: the zone model.
pub struct Zone {
    pub origin: Name,
}

/// Placeholder: a check finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub message: String,
    pub error: bool,
}
impl Finding {
    pub fn is_error(&self) -> bool {
        self.error
    }
}
impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
