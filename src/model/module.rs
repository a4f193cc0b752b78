//! Modules and the semantic node kinds.

use super::ids::{FunctionId, ModuleId, TypeId};
use super::types::Visibility;
use serde::{Deserialize, Serialize};

/// A module; `parent` is `None` only for the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleDef {
    /// Its own id; [`ModuleId::ROOT`] for the root.
    pub id: ModuleId,
    /// Unqualified name, unique among its siblings; non-empty, without `::` or NUL.
    pub name: String,
    /// The enclosing module; parents never form a cycle.
    pub parent: Option<ModuleId>,
    /// Who can use the module from outside its parent.
    pub visibility: Visibility,
}

/// A function's signature as the semantic graph shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionSignature {
    /// Parameter types in order (the names stay in the [`FunctionDef`](super::FunctionDef)).
    pub params: Vec<TypeId>,
    /// The returned type.
    pub return_type: TypeId,
}

/// A node of the semantic graph: the program's skeleton of modules, functions and
/// named types, which tools browse without touching function bodies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SemanticNode {
    /// A module; its parent is the source of its `Contains` edge.
    Module {
        /// The module.
        id: ModuleId,
        /// Its unqualified name.
        name: String,
        /// Its visibility.
        visibility: Visibility,
    },
    /// A function or closure, kept in step with its definition on every rename, move or
    /// signature change.
    Function {
        /// The function.
        id: FunctionId,
        /// Its unqualified name.
        name: String,
        /// The module it is declared in.
        module: ModuleId,
        /// Its visibility.
        visibility: Visibility,
        /// Its parameter and return types.
        signature: FunctionSignature,
    },
    /// A named type (anonymous types have no semantic node).
    TypeDef {
        /// The type.
        id: TypeId,
        /// Its registered name.
        name: String,
        /// The module it is declared in.
        module: ModuleId,
        /// Its visibility.
        visibility: Visibility,
    },
}

/// What a semantic node stands for; one semantic node per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SemanticKey {
    /// A module's node.
    Module(ModuleId),
    /// A function's or closure's node.
    Function(FunctionId),
    /// A named type's node.
    Type(TypeId),
}

impl SemanticNode {
    /// The entity this node stands for.
    pub fn key(&self) -> SemanticKey {
        match self {
            SemanticNode::Module { id, .. } => SemanticKey::Module(*id),
            SemanticNode::Function { id, .. } => SemanticKey::Function(*id),
            SemanticNode::TypeDef { id, .. } => SemanticKey::Type(*id),
        }
    }
}
