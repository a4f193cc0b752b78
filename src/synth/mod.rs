//! Deterministic synthetic programs (being written).
