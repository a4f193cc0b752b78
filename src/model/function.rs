//! Functions, closures and their captures.

use super::ids::{FunctionId, ModuleId, NodeId, TypeId};
use super::types::Visibility;
use serde::{Deserialize, Serialize};

/// How a closure holds a captured variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CaptureMode {
    ByValue,
    ByRef,
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
    pub name: String,
    pub captured_type: TypeId,
    pub mode: CaptureMode,
}

/// A function or closure. Its body is the set of compute nodes it owns.
///
/// The fields are public for reading; a `ProgramGraph` only hands out shared references,
/// and changes go through its methods so the semantic graph and hashes follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionDef {
    pub id: FunctionId,
    pub name: String,
    pub module: ModuleId,
    pub visibility: Visibility,
    pub params: Vec<(String, TypeId)>,
    pub return_type: TypeId,
    pub entry_node: Option<NodeId>,
    pub captures: Vec<Capture>,
    pub is_closure: bool,
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
