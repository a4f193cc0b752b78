//! Functions, closures and their captures.

use super::ids::{FunctionId, ModuleId, NodeId, TypeId};
use super::types::Visibility;
use serde::{Deserialize, Serialize};

/// How a closure holds a captured variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaptureMode {
    /// A copy taken when the closure is made.
    ByValue,
    /// A shared reference to the parent's variable.
    ByRef,
    /// A mutable reference: the closure may change the parent's variable.
    ByMutRef,
}

impl CaptureMode {
    /// Stable name (hash input).
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureMode::ByValue => "ByValue",
            CaptureMode::ByRef => "ByRef",
            CaptureMode::ByMutRef => "ByMutRef",
        }
    }
}

/// A variable a closure captures from its parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Capture {
    /// The variable's name; non-empty, without NUL.
    pub name: String,
    /// The type of the captured variable (not of a reference to it, whatever `mode`).
    pub captured_type: TypeId,
    /// How the closure holds it.
    pub mode: CaptureMode,
}

/// A function or closure. Its body is the set of compute nodes it owns.
///
/// The fields are public for reading; a `ProgramGraph` only hands out shared references,
/// and changes go through its methods so the semantic graph and hashes follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDef {
    /// Its own id, equal to the id the graph files it under.
    pub id: FunctionId,
    /// Unqualified name, unique within `module`; non-empty, without `::` or NUL.
    pub name: String,
    /// The module it is declared in; a closure starts in its parent's.
    pub module: ModuleId,
    /// Who can call it from other modules; a closure starts private.
    pub visibility: Visibility,
    /// Parameter names and types in order; `Parameter { index }` nodes read them by
    /// position. Names are non-empty, without NUL.
    pub params: Vec<(String, TypeId)>,
    /// The type of the value `Return` hands back (`TypeId::UNIT` for none).
    pub return_type: TypeId,
    /// The node execution starts at, one of this function's own; `None` while the body
    /// is being built. Cleared when that node is removed.
    pub entry_node: Option<NodeId>,
    /// What a closure captures, in the order `CaptureAccess { index }` and `MakeClosure`
    /// operands use; empty unless `is_closure`.
    pub captures: Vec<Capture>,
    /// Whether this is a closure; only closures may have captures and be the target of
    /// `MakeClosure`.
    pub is_closure: bool,
    /// The function a closure is defined in: `Some` exactly when `is_closure`. The parent
    /// cannot be removed while it has closures.
    pub parent_function: Option<FunctionId>,
}

impl FunctionDef {
    /// Every type the signature and captures refer to.
    pub fn signature_types(&self) -> impl Iterator<Item = TypeId> + '_ {
        self.params
            .iter()
            .map(|(_, t)| *t)
            .chain([self.return_type])
            .chain(self.captures.iter().map(|c| c.captured_type))
    }
}
