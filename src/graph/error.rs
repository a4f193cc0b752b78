//! Errors of the graph API and the violations `validate()` reports.

use crate::model::{EdgeId, FunctionId, ModuleId, NodeId, TypeError, TypeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The entity a violation or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Entity {
    /// The program as a whole: a problem no single entity owns (document format, next
    /// ids, the semantic graph).
    Program,
    /// A module.
    Module(ModuleId),
    /// A type, built-in or registered.
    Type(TypeId),
    /// A function or closure.
    Function(FunctionId),
    /// A compute node.
    Node(NodeId),
    /// A flow edge.
    Edge(EdgeId),
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Entity::Program => write!(f, "program"),
            Entity::Module(id) => write!(f, "module {id}"),
            Entity::Type(id) => write!(f, "type {id}"),
            Entity::Function(id) => write!(f, "function {id}"),
            Entity::Node(id) => write!(f, "node {id}"),
            Entity::Edge(id) => write!(f, "edge {id}"),
        }
    }
}

/// One broken invariant, reported as data so a caller sees all of them at once.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Violation {
    /// What is broken; violations sort by it, so one entity's problems sit together.
    pub entity: Entity,
    /// What is wrong, in words, with other entities named by bare id (`f3`, `t12`);
    /// [`Notation::violation`](super::Notation::violation) adds readable names.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(entity: Entity, message: impl Into<String>) -> Self {
        Violation { entity, message: message.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.entity, self.message)
    }
}

/// Why a graph edit was refused. A refused edit changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// An id the edit names (the entity edited, an endpoint, a parent, a module, a
    /// signature, edge or op type, a call target) does not exist in this graph, or no
    /// longer does. Ids are never reused, so a stale id stays missing.
    #[error("{0} does not exist")]
    NotFound(Entity),
    /// Registering a type was refused; see [`TypeError`].
    #[error("{0}")]
    Type(#[from] TypeError),
    /// A sibling module, or a function in the same module, already has this name.
    /// Rename one, or put the new one in another module.
    #[error("a {kind} named {name:?} already exists in module {module}")]
    DuplicateName {
        /// `"module"` or `"function"`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The module the name clashes in (the parent, for a module).
        module: ModuleId,
    },
    /// A name is empty or contains NUL, or a module, function or type name contains
    /// `::` (which separates path segments) or begins or ends with `:` (which would
    /// make a joined path ambiguous). Parameter and capture names may hold colons.
    #[error(
        "invalid name {0:?}: names are non-empty and contain no NUL; module, function and type names also contain no \"::\" and neither begin nor end with ':' (so paths like a::b stay unambiguous); choose another name"
    )]
    InvalidName(String),
    /// An edge would join nodes of two functions. Values cross functions only through
    /// calls, parameters and captures.
    #[error("edge endpoints {from} and {to} belong to different functions")]
    CrossFunctionEdge {
        /// The edge's source.
        from: NodeId,
        /// The edge's target.
        to: NodeId,
    },
    /// The data edge would make `from` depend on its own result. Loops carry values
    /// round through `Phi` and control edges, which may form cycles.
    #[error("data edge {from} -> {to} would close a data cycle")]
    DataCycle {
        /// The edge's source.
        from: NodeId,
        /// The edge's target, from which `from` is already reachable along data edges.
        to: NodeId,
    },
    /// The operand slot is already fed: remove its edge first to rewire it.
    #[error("operand slot {port} of {target} already has a data edge")]
    PortTaken {
        /// The node whose slot is taken.
        target: NodeId,
        /// The operand slot (`target_port`).
        port: u16,
    },
    /// A function's entry node must be one of its own nodes.
    #[error("node {node} belongs to {owner}, not to {function}")]
    WrongOwner {
        /// The node offered as entry.
        node: NodeId,
        /// The function that owns it.
        owner: FunctionId,
        /// The function it was offered to.
        function: FunctionId,
    },
    /// The entity cannot be removed while something depends on it: a module that still
    /// holds modules, functions or types, or a function that is called, made into a
    /// closure or has closures of its own. The text says what; remove that first.
    #[error("{0} is still used: {1}")]
    InUse(Entity, String),
    /// An op or edit that makes no sense although everything it names exists:
    /// `StructCreate` of a non-struct, `EnumCreate` of a non-enum or a missing variant,
    /// `MakeClosure` of a function that is not a closure, captures on a non-closure.
    #[error("invalid operation: {0}")]
    InvalidOp(String),
    /// The root module was to be removed; every program keeps one.
    #[error("the root module cannot be removed or moved")]
    RootModule,
    /// All `u32` ids of one kind (`"nodes"`, `"edges"`, `"functions"`, `"modules"`) are
    /// spent; ids are never reused, so the program can take no more of that kind.
    #[error("id space exhausted for {0}")]
    IdsExhausted(&'static str),
}
