//! Modules and the semantic node kinds.

use super::ids::{FunctionId, ModuleId, TypeId};
use super::types::Visibility;
use serde::{Deserialize, Serialize};

/// A module; `parent` is `None` only for the root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ModuleDef {
    pub id: ModuleId,
    pub name: String,
    pub parent: Option<ModuleId>,
    pub visibility: Visibility,
}

/// A function's signature as the semantic graph shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FunctionSignature {
    pub params: Vec<TypeId>,
    pub return_type: TypeId,
}

/// A node of the semantic graph: the program's skeleton of modules, functions and
/// named types, which tools browse without touching function bodies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SemanticNode {
    Module { id: ModuleId, name: String, visibility: Visibility },
    Function { id: FunctionId, name: String, module: ModuleId, visibility: Visibility, signature: FunctionSignature },
    TypeDef { id: TypeId, name: String, module: ModuleId, visibility: Visibility },
}

/// What a semantic node stands for; one semantic node per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SemanticKey {
    Module(ModuleId),
    Function(FunctionId),
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
