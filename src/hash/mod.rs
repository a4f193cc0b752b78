//! Content hashing: blake3, Merkle style, independent of numbering.
//!
//! A node's hash covers its operation and, through its incoming data edges, the hashes
//! of the nodes that feed it ("same computation, same hash"). Control edges, which may
//! form cycles, are hashed from the hashes of their two ends, so no cycle is ever
//! followed. A function's root combines its signature with the multiset of its node and
//! control-edge hashes; the program root combines functions, named types and modules.
//! No id enters a hash: calls name their callee by qualified name, types by content (or
//! by qualified name when named). The exact byte layout is in `docs/hashing.md`.
//!
//! The index lives inside `ProgramGraph`. It is built on first use (a graph loaded only
//! to be queried never pays for it) and from then on every edit updates just what the
//! edit affects: the node, its data descendants, the incident control edges, the
//! function root and the program root.

mod canon;
mod compare;
mod explain;
mod index;

pub use compare::{ProgramDiff, diff};
pub use explain::{HashInput, NodeHashExplanation, explain_node};
pub use index::HashIndex;

use crate::graph::ProgramGraph;
use crate::model::{EdgeId, FunctionDef, FunctionId, NodeId};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Version of the hash algorithm; part of every hash input.
pub const HASH_ALGORITHM_VERSION: u32 = 1;

/// A 32-byte blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// Lower-case hexadecimal, 64 characters.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 64 hex characters.
    pub fn from_hex(text: &str) -> Option<Self> {
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
            let pair = std::str::from_utf8(chunk).ok()?;
            out[i] = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(ContentHash(out))
    }

    /// Multiset combination: addition modulo 2^256 (four little-endian u64 lanes), so
    /// adding or removing one member updates a sum in constant time, in any order.
    pub(crate) fn add(self, other: ContentHash) -> ContentHash {
        self.lanes_op(other, |a, b, carry| {
            let (s1, c1) = a.overflowing_add(b);
            let (s2, c2) = s1.overflowing_add(carry);
            (s2, (c1 || c2) as u64)
        })
    }

    /// Inverse of [`add`](Self::add).
    pub(crate) fn sub(self, other: ContentHash) -> ContentHash {
        self.lanes_op(other, |a, b, borrow| {
            let (d1, b1) = a.overflowing_sub(b);
            let (d2, b2) = d1.overflowing_sub(borrow);
            (d2, (b1 || b2) as u64)
        })
    }

    fn lanes_op(self, other: ContentHash, op: impl Fn(u64, u64, u64) -> (u64, u64)) -> ContentHash {
        let mut out = [0u8; 32];
        let mut carry = 0u64;
        for i in 0..4 {
            let lane = |h: &ContentHash| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&h.0[i * 8..i * 8 + 8]);
                u64::from_le_bytes(b)
            };
            let (v, c) = op(lane(&self), lane(&other), carry);
            carry = c;
            out[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        ContentHash(out)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.to_hex())
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ContentHash::from_hex(&text).ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// What an edit touched, so the hash index recomputes only that.
#[derive(Debug, Clone)]
pub(crate) enum Touched {
    /// Module tree changed: qualified names may have moved under everything.
    Modules,
    /// A type was registered.
    Types,
    /// A function was added or its signature, visibility, entry or captures changed.
    Function(FunctionId),
    /// A function's qualified name changed (rename or move).
    Renamed(FunctionId),
    /// A function was removed with these nodes and edges.
    Removed { def: FunctionDef, nodes: Vec<NodeId>, edges: Vec<EdgeId> },
    /// A node was added or its op changed.
    Node(NodeId),
    /// A node was removed with these edges; `neighbours` lost an edge to it.
    NodeRemoved { node: NodeId, owner: FunctionId, edges: Vec<EdgeId>, neighbours: Vec<NodeId> },
    /// An edge was added or removed between these nodes.
    Edge { id: EdgeId, source: NodeId, target: NodeId },
}

/// Whether the hashes a graph maintains equal a from-scratch computation: the check
/// `lmstore verify` runs, and the property the incremental index must always keep.
pub fn verify_index(g: &ProgramGraph) -> bool {
    HashIndex::build(g) == *g.hashes()
}

/// Computes every hash of a graph from scratch (linear in its size).
pub fn compute(g: &ProgramGraph) -> HashIndex {
    HashIndex::build(g)
}
