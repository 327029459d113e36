//! blason-answer: turns a query into a response from an immutable zone snapshot.
//!
//! Owns: RFC 1034 §4.3.2 lookup, CNAME chains, wildcards (RFC 4592), DNAME (RFC 6672),
//! referrals and glue (RFC 9471), negative answers, EDNS0 (RFC 6891), truncation, and the
//! mapping of every failure to an RCODE in one place. Refuses: I/O, clocks, locks, and
//! per-query allocation on the hot path.
#![forbid(unsafe_code)]

use blason_zone::Zone;
use std::sync::Arc;

/// How the query arrived; decides the size limit and truncation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Server-wide answering options.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Answer to CHAOS TXT `version.bind` / `version.server`; off when `None`.
    pub version: Option<String>,
    /// Answer to CHAOS TXT `id.server` / `hostname.bind`; off when `None`.
    pub identity: Option<String>,
}

/// An immutable set of zones: what one snapshot serves.
pub struct Catalog {
    zones: Vec<Arc<Zone>>,
    opts: Options,
}

impl Catalog {
    pub fn new(zones: Vec<Arc<Zone>>, opts: Options) -> Catalog {
        Catalog { zones, opts }
    }
    pub fn zones(&self) -> &[Arc<Zone>] {
        &self.zones
    }
    pub fn options(&self) -> &Options {
        &self.opts
    }
}

/// Writes the response to `query` into `out` (cleared first). Returns false when
/// nothing must be sent back (the packet is a response, or too short to carry an ID).
pub fn respond(cat: &Catalog, query: &[u8], transport: Transport, out: &mut Vec<u8>) -> bool {
    let _ = (cat, transport);
    out.clear();
    if query.len() < 12 || query[2] & 0x80 != 0 {
        return false;
    }
    // Placeholder until the resolver lands: REFUSED with the question echoed.
    out.extend_from_slice(&query[..12]);
    out[2] = (query[2] & 0x79) | 0x80;
    out[3] = 5;
    out[6..12].fill(0);
    out[4..6].fill(0);
    true
}
