//! Content hashing: blake3, Merkle style, independent of numbering, kept current by
//! every edit.
//!
//! Every node, function and program has a hash that depends on content only, never on
//! an id, so two agents (or two stores) can tell whether they hold the same program,
//! and which functions differ, by comparing a few digests.
//!
//! - A node's **Merkle hash** covers its operation and, through its incoming data edges
//!   (which form a DAG), everything that computes its operands: "same computation,
//!   same hash".
//! - A node's **context** adds how the node is wired: one term per data edge it feeds
//!   and per control edge at either end, naming the slot or branch and the other end's
//!   Merkle hash. Control edges may form cycles, so they are never followed
//!   recursively; they enter hashes only through these one-step terms and through
//!   **control-edge hashes** (the contexts of both ends). So no cycle is ever walked,
//!   and rewiring a node changes the function root even when nothing it computes does.
//! - A **function root** combines the signature with the multiset of its node contexts
//!   (dead nodes too) and of its control-edge hashes. Multisets are kept as sums modulo
//!   2^256, so one edit updates a root in O(1), whatever the insertion order.
//! - The **program root** combines each function's root with its path, every named
//!   type's definition, every module and the root module's name.
//!
//! References never write ids: a call names its callee by path below the root module
//! (`math::sqrt`), a named type is named by path (nominal, so recursive types need no
//! cycle handling), any other type by its structure. `docs/hashing.md` gives the exact
//! byte layout; [`explain_node`] shows the inputs of one node's hashes.
//!
//! The index lives inside [`ProgramGraph`]. It is built on first read (a program loaded
//! only to be saved or queried never pays for it, which keeps loads fast) and from then
//! on every edit updates just what the edit reaches (see `update.rs`).

mod diff;
mod digest;
mod encode;
mod explain;
mod index;
mod neighbour;
mod update;

pub use diff::{FunctionChange, ProgramDiff, diff};
pub use digest::ContentHash;
pub use explain::{HashInput, NeighbourTerm, NodeHashExplanation, explain_node};
pub use index::HashIndex;

use crate::graph::{EdgeView, ProgramGraph};
use crate::model::{EdgeId, FunctionId, ModuleId, NodeId, TypeId};

/// Version of the hash algorithm. It is part of every hash input (through the keys the
/// inputs are hashed under), so hashes of different versions never collide; bump it
/// whenever any hash of any program would change.
pub const HASH_ALGORITHM_VERSION: u32 = 2;

/// What an edit changed, so the hash index recomputes only what that reaches.
#[derive(Debug, Clone)]
pub(crate) enum Touched {
    /// A module was added or removed (no path of anything else changes).
    Modules,
    /// A module was renamed: the paths of everything below it changed.
    ModuleRenamed(ModuleId),
    /// A type was registered.
    Type(TypeId),
    /// A function was added, or its signature, visibility, captures or entry changed.
    Function(FunctionId),
    /// A function's path changed (rename or move): its callers name it.
    Renamed(FunctionId),
    /// A function was removed with these nodes and edges.
    FunctionRemoved { id: FunctionId, nodes: Vec<NodeId>, edges: Vec<EdgeId> },
    /// A node was added (it has no edges yet).
    NodeAdded(NodeId),
    /// A node's operation was replaced.
    OpChanged(NodeId),
    /// A node was removed with these edges; its hashes are still in the index.
    NodeRemoved { node: NodeId, owner: FunctionId, edges: Vec<EdgeView> },
    /// An edge was added.
    EdgeAdded(EdgeView),
    /// An edge was removed (its ends still exist).
    EdgeRemoved(EdgeView),
}

/// Whether the hashes a graph maintains equal a from-scratch computation: what
/// `lmstore verify` checks, and the property the incremental index must always keep.
pub fn verify_index(g: &ProgramGraph) -> bool {
    HashIndex::build(g) == *g.hashes()
}

/// Computes every hash of a graph from scratch, in time linear in its size, without
/// touching the graph's own index (benchmarks time this).
pub fn compute(g: &ProgramGraph) -> HashIndex {
    HashIndex::build(g)
}
