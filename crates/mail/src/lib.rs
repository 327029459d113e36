//! blason-mail: the DNS records that make mail trusted, as types.
//!
//! Owns: typed parse, build and lint of SPF (RFC 7208), DKIM key records (RFC 6376,
//! RFC 8463), DMARC (RFC 7489 and DMARCbis), BIMI, MTA-STS (RFC 8461) records and policy
//! files, TLS-RPT (RFC 8460) and DANE TLSA (RFC 6698, RFC 7671); DKIM key generation;
//! the SVG Tiny Portable/Secure checks for BIMI logos; TLSA data from certificates and
//! keys; the config sections that declare a zone's mail and TLSA records ([`config`]),
//! and the records made from them with typed errors ([`Error`]). Every reader takes
//! arbitrary bytes and returns findings: it never panics.
//!
//! Refuses: serving or signing zones (crates `server`, `dnssec`), HTTPS fetching, and any
//! DNS beyond the small stub in [`dns`] that the lints need to follow includes; the
//! resolver is a trait so lints run against a map in tests and against a server on
//! loopback in end-to-end tests.
#![forbid(unsafe_code)]

pub mod arc;
pub mod authres;
pub mod b64;
pub mod bimi;
pub mod check;
pub mod config;
pub mod declare;
pub mod der;
pub mod dkim;
pub mod dkim_roll;
pub mod dkim_sign;
pub mod dkim_verify;
pub mod dmarc;
pub mod dns;
pub mod error;
pub mod message;
pub mod milter;
pub mod mtasts;
pub mod spf;
pub mod spf_eval;
pub mod svg;
pub mod tags;
pub mod tlsa;
pub mod tlsrpt;
pub mod txt;
pub mod verify;
pub mod vmc;
pub mod zone_lint;

pub use blason_zone::finding::{Finding, Severity};
pub use error::Error;

/// A finding with no file place: mail lints point at records, not lines.
pub(crate) fn finding(
    id: &'static str,
    severity: Severity,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding::new(id, severity, None, message, fix)
}
