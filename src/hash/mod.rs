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
//! - A **function root** combines the signature with the canonical form of the body:
//!   the nodes numbered by a deterministic breadth-first traversal from the entry
//!   along data inputs and control successors, each written as its Merkle hash and its
//!   edges as numbers. Equal roots mean isomorphic bodies (exactly, for the part the
//!   traversal numbers; `docs/hashing.md` proves it and says what the multiset of the
//!   remaining nodes can miss). Control cycles need no care: a node is numbered once.
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
//! on every edit updates just what the edit reaches: Merkle hashes downstream of the
//! edit, and the canonical form of the edited function (see `update.rs`).

mod canonical;
mod diff;
mod digest;
mod encode;
mod explain;
mod index;
mod update;

pub use diff::{FunctionChange, ProgramDiff, diff};
pub use digest::ContentHash;
pub use explain::{HashInput, Neighbour, NodeHashExplanation, explain_node};
pub use index::HashIndex;

use crate::graph::{EdgeView, ProgramGraph};
use crate::model::{FunctionId, ModuleId, NodeId, TypeId};

/// Version of the hash algorithm. It is part of every hash input (through the keys the
/// inputs are hashed under), so hashes of different versions never collide; bump it
/// whenever any hash of any program would change.
pub const HASH_ALGORITHM_VERSION: u32 = 3;

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
    /// A function was removed with these nodes.
    FunctionRemoved { id: FunctionId, nodes: Vec<NodeId> },
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
