//! The lmlang program model's value types: ids, operations, constants, types, edges,
//! functions and modules. Plain data, no storage and no graph bookkeeping, so every
//! other layer (hashing, the graph, stores) can depend on it.

mod edges;
mod function;
mod ids;
mod module;
mod ops;
mod types;
mod values;

pub use edges::{FlowEdge, SemanticEdge};
pub use function::{Capture, CaptureMode, FunctionDef};
pub use ids::{EdgeId, FunctionId, ModuleId, NodeId, TypeId};
pub use module::{FunctionSignature, ModuleDef, SemanticKey, SemanticNode};
pub use ops::{ArithOp, CmpOp, ComputeNode, ComputeNodeOp, ComputeOp, LogicOp, ShiftOp, StructuredOp, UnaryArithOp};
pub use types::{EnumDef, EnumVariant, LmType, ScalarType, StructDef, TypeError, TypeName, TypeRegistry, Visibility};
pub use values::ConstValue;
