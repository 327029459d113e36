//! The key-roll planner (RFC 7583 timings): a pure state machine.
