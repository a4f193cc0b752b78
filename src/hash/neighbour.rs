//! Neighbour terms: how one edge appears in the context of one of its ends.
//!
//! A node's context sums one term per data edge it feeds and per control edge at
//! either end. A term is the other end's Merkle hash times a multiplier that depends
//! on the relation and the slot (target port or branch), modulo 2^256. The multiplier
//! is a blake3 output forced odd, so it is invertible and distinct slots scale by
//! unrelated factors: swapping which neighbour sits in which slot changes the sum.
//!
//! Why not hash each term with blake3? A term only ever enters a sum that is then
//! hashed (into the node's context), so it needs to be injective and unrelated across
//! slots, not one-way; and a multiplication costs a few nanoseconds where a blake3
//! block costs about a hundred. Terms are the most numerous inputs (two per control
//! edge, one per data edge): hashing them with blake3 made a full hash about a quarter
//! slower. The sums stay non-adversarial fingerprints, like the function-root multisets
//! (see `docs/hashing.md`). A changed Merkle hash also updates a sum with one
//! multiplication: `K * new - K * old = K * (new - old)`.

use super::digest::ContentHash;
use super::encode::{Domain, Encoder};
use std::sync::LazyLock;

/// Which end of which kind of edge a term describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Relation {
    /// A data edge seen from its source; the slot is the target port.
    DataUse = 0,
    /// A control edge seen from its source; the slot is the branch.
    ControlOut = 1,
    /// A control edge seen from its target; the slot is the branch.
    ControlIn = 2,
}

impl Relation {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Relation::DataUse => "data use",
            Relation::ControlOut => "control out",
            Relation::ControlIn => "control in",
        }
    }
}

/// Multipliers for slots `None` and `Some(0..CACHED)`, the overwhelmingly common ones.
const CACHED: u16 = 64;

/// The encoder of a multiplier's input, `u8(relation) opt_u16(slot)`; `traced` for
/// explanations.
pub(crate) fn multiplier_input(relation: Relation, slot: Option<u16>, traced: bool) -> Encoder {
    let mut e = if traced { Encoder::traced(Domain::Multiplier) } else { Encoder::new(Domain::Multiplier) };
    e.u8("relation", relation as u8).opt_u16("slot", slot);
    e
}

/// The multiplier of a relation and slot: `keyed_hash(input)` with its lowest bit set.
pub(crate) fn multiplier(relation: Relation, slot: Option<u16>) -> ContentHash {
    static TABLE: LazyLock<Vec<ContentHash>> = LazyLock::new(|| {
        let mut table = Vec::with_capacity(3 * (CACHED as usize + 1));
        for r in [Relation::DataUse, Relation::ControlOut, Relation::ControlIn] {
            table.push(compute(r, None));
            table.extend((0..CACHED).map(|s| compute(r, Some(s))));
        }
        table
    });
    match slot {
        None => TABLE[relation as usize * (CACHED as usize + 1)],
        Some(s) if s < CACHED => TABLE[relation as usize * (CACHED as usize + 1) + 1 + s as usize],
        Some(_) => compute(relation, slot),
    }
}

fn compute(relation: Relation, slot: Option<u16>) -> ContentHash {
    let mut h = multiplier_input(relation, slot, false).finish();
    h.0[0] |= 1;
    h
}

/// The term for a neighbour whose Merkle hash is `other`.
pub(crate) fn term(relation: Relation, slot: Option<u16>, other: &ContentHash) -> ContentHash {
    multiplier(relation, slot).wrapping_mul(*other)
}

/// What to add to a sum when a neighbour's Merkle hash goes from `old` to `new`.
pub(crate) fn delta(relation: Relation, slot: Option<u16>, old: &ContentHash, new: &ContentHash) -> ContentHash {
    multiplier(relation, slot).wrapping_mul(new.wrapping_sub(*old))
}
