//! Signing: NSEC/NSEC3 chains and RRSIGs over the zone model.
