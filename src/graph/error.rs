//! Errors of the graph API and the violations `validate()` reports.

use crate::model::{EdgeId, FunctionId, ModuleId, NodeId, TypeError, TypeId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The entity a violation or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Entity {
    Program,
    Module(ModuleId),
    Type(TypeId),
    Function(FunctionId),
    Node(NodeId),
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
    pub entity: Entity,
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
    #[error("{0} does not exist")]
    NotFound(Entity),
    #[error("{0}")]
    Type(#[from] TypeError),
    #[error("a {kind} named {name:?} already exists in module {module}")]
    DuplicateName { kind: &'static str, name: String, module: ModuleId },
    #[error(
        "invalid name {0:?}: names are non-empty and contain no NUL (nor \"::\" in module, function and type names)"
    )]
    InvalidName(String),
    #[error("edge endpoints {from} and {to} belong to different functions")]
    CrossFunctionEdge { from: NodeId, to: NodeId },
    #[error("data edge {from} -> {to} would close a data cycle")]
    DataCycle { from: NodeId, to: NodeId },
    #[error("operand slot {port} of {target} already has a data edge")]
    PortTaken { target: NodeId, port: u16 },
    #[error("node {node} belongs to {owner}, not to {function}")]
    WrongOwner { node: NodeId, owner: FunctionId, function: FunctionId },
    #[error("{0} is still used: {1}")]
    InUse(Entity, String),
    #[error("invalid operation: {0}")]
    InvalidOp(String),
    #[error("the root module cannot be removed or moved")]
    RootModule,
    #[error("id space exhausted for {0}")]
    IdsExhausted(&'static str),
}
