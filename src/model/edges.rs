//! Edges of the compute graph and of the semantic graph.

use super::ids::TypeId;
use serde::{Deserialize, Serialize};

/// An edge between two compute nodes of the same function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FlowEdge {
    /// An SSA value from the source's output port into the target's operand slot.
    /// Data edges form a DAG, and an operand slot has at most one source.
    Data {
        /// The source's output port the value leaves from; 0 for every op that yields
        /// a single value.
        source_port: u16,
        /// The target's operand slot; its meaning depends on the target's op (see
        /// [`ComputeOp`](super::ComputeOp)).
        target_port: u16,
        /// The type of the value carried; it must exist. Ops carry no operand types, so
        /// this is where a value's type is recorded.
        value_type: TypeId,
    },
    /// The target runs after the source. `Some(0)` then/true, `Some(1)` else/false,
    /// `Some(n)` match arm n, `None` sequential or jump. Control edges may form cycles.
    Control {
        /// Which way out of a branching node this edge is (see above); `None` for
        /// plain sequencing.
        branch_index: Option<u16>,
    },
}

impl FlowEdge {
    /// Stable name of the kind (a stored column and hash input).
    pub fn kind(&self) -> &'static str {
        match self {
            FlowEdge::Data { .. } => "Data",
            FlowEdge::Control { .. } => "Control",
        }
    }

    /// Whether this carries a value.
    pub fn is_data(&self) -> bool {
        matches!(self, FlowEdge::Data { .. })
    }
}

/// An edge of the semantic graph (the program's skeleton).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SemanticEdge {
    /// Module to child module, function or named type.
    Contains,
    /// Function to callee (from `Call` and `MakeClosure` ops).
    Calls,
    /// Function or named type to a named type it refers to.
    UsesType,
}

impl SemanticEdge {
    /// Stable name (a stored column).
    pub fn as_str(self) -> &'static str {
        match self {
            SemanticEdge::Contains => "Contains",
            SemanticEdge::Calls => "Calls",
            SemanticEdge::UsesType => "UsesType",
        }
    }
}
