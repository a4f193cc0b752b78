//! Content hashing (placeholder: the Merkle index is being written).

use crate::graph::ProgramGraph;
use crate::model::{FunctionDef, FunctionId, NodeId};

/// What an edit touched, so the hash index recomputes only that.
#[derive(Debug, Clone)]
pub(crate) enum Touched {
    Modules,
    Types,
    Function(FunctionId),
    Renamed(FunctionId),
    Removed(FunctionDef),
    Node(NodeId),
    NodeRemoved { owner: FunctionId, neighbours: Vec<NodeId> },
    Edge { source: NodeId, target: NodeId },
}

/// Hashes of every node, function and the program, kept current by `ProgramGraph`.
#[derive(Debug, Clone, Default)]
pub struct HashIndex {}

impl HashIndex {
    pub(crate) fn build(_g: &ProgramGraph) -> Self {
        HashIndex {}
    }

    pub(crate) fn update(&mut self, _g: &ProgramGraph, _touched: Touched) {}
}
