//! Keys: generation, BIND K-file import, on-disk state.
