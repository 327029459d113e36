//! blason-dnssec: everything DNSSEC that is not a socket or a clock.
//!
//! Owns: keys (generation, BIND K-file import, the on-disk state format), NSEC and
//! NSEC3 chains, RRSIG generation over the zone model (whole-zone and incremental),
//! and the key-roll planner: a pure state machine that takes the current time as a
//! parameter and returns actions for the server to carry out.
//!
//! Refuses: reading the clock, scheduling itself, sockets. Time always comes in as a
//! parameter, so a year of rollovers can be tested in a second.
#![forbid(unsafe_code)]

pub mod error;
pub mod keys;
pub mod policy;
pub mod roll;
pub mod sign;
pub mod state;

pub use error::Error;
