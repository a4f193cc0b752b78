//! Operations a compute node performs: 32 core ops and 10 structured ops.
//!
//! The enums are the lmlang instruction set as agents see it. Each variant has a stable
//! `kind` name (used as a typed, indexed column by the SQLite store and as hash input), so
//! renaming a Rust variant never changes stored data or hashes by accident.

use super::ids::{FunctionId, TypeId};
use super::values::ConstValue;
use serde::{Deserialize, Serialize};

/// Binary arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// Unary arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryArithOp {
    Neg,
    Abs,
}

/// Comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// Boolean connectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogicOp {
    And,
    Or,
    Xor,
}

/// Bit shifts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShiftOp {
    Shl,
    ShrLogical,
    ShrArith,
}

/// Tier-1 operations: values, arithmetic, control, memory, calls, I/O, closures, contracts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComputeOp {
    Const { value: ConstValue },
    Parameter { index: u32 },
    BinaryArith { op: ArithOp },
    UnaryArith { op: UnaryArithOp },
    Compare { op: CmpOp },
    BinaryLogic { op: LogicOp },
    Not,
    Shift { op: ShiftOp },
    IfElse,
    Loop,
    Match,
    Branch,
    Jump,
    Phi,
    Alloc,
    Load,
    Store,
    GetElementPtr,
    Call { target: FunctionId },
    IndirectCall,
    Return,
    Print,
    ReadLine,
    FileOpen,
    FileRead,
    FileWrite,
    FileClose,
    MakeClosure { function: FunctionId },
    CaptureAccess { index: u32 },
    Precondition { message: String },
    Postcondition { message: String },
    Invariant { target_type: TypeId, message: String },
}

/// Tier-2 operations: aggregates and casts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StructuredOp {
    StructCreate { type_id: TypeId },
    StructGet { field_index: u32 },
    StructSet { field_index: u32 },
    ArrayCreate { length: u32 },
    ArrayGet,
    ArraySet,
    Cast { target_type: TypeId },
    EnumCreate { type_id: TypeId, variant_index: u32 },
    EnumDiscriminant,
    EnumPayload { variant_index: u32 },
}

/// What a compute node does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComputeNodeOp {
    Core(ComputeOp),
    Structured(StructuredOp),
}

impl ComputeOp {
    /// The stable name of the variant.
    pub fn kind(&self) -> &'static str {
        use ComputeOp::*;
        match self {
            Const { .. } => "Const",
            Parameter { .. } => "Parameter",
            BinaryArith { .. } => "BinaryArith",
            UnaryArith { .. } => "UnaryArith",
            Compare { .. } => "Compare",
            BinaryLogic { .. } => "BinaryLogic",
            Not => "Not",
            Shift { .. } => "Shift",
            IfElse => "IfElse",
            Loop => "Loop",
            Match => "Match",
            Branch => "Branch",
            Jump => "Jump",
            Phi => "Phi",
            Alloc => "Alloc",
            Load => "Load",
            Store => "Store",
            GetElementPtr => "GetElementPtr",
            Call { .. } => "Call",
            IndirectCall => "IndirectCall",
            Return => "Return",
            Print => "Print",
            ReadLine => "ReadLine",
            FileOpen => "FileOpen",
            FileRead => "FileRead",
            FileWrite => "FileWrite",
            FileClose => "FileClose",
            MakeClosure { .. } => "MakeClosure",
            CaptureAccess { .. } => "CaptureAccess",
            Precondition { .. } => "Precondition",
            Postcondition { .. } => "Postcondition",
            Invariant { .. } => "Invariant",
        }
    }
}

impl StructuredOp {
    /// The stable name of the variant.
    pub fn kind(&self) -> &'static str {
        use StructuredOp::*;
        match self {
            StructCreate { .. } => "StructCreate",
            StructGet { .. } => "StructGet",
            StructSet { .. } => "StructSet",
            ArrayCreate { .. } => "ArrayCreate",
            ArrayGet => "ArrayGet",
            ArraySet => "ArraySet",
            Cast { .. } => "Cast",
            EnumCreate { .. } => "EnumCreate",
            EnumDiscriminant => "EnumDiscriminant",
            EnumPayload { .. } => "EnumPayload",
        }
    }
}

impl ComputeNodeOp {
    /// The stable name of the operation (`"Call"`, `"StructGet"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            ComputeNodeOp::Core(op) => op.kind(),
            ComputeNodeOp::Structured(op) => op.kind(),
        }
    }

    /// 1 for core operations, 2 for structured ones.
    pub fn tier(&self) -> u8 {
        match self {
            ComputeNodeOp::Core(_) => 1,
            ComputeNodeOp::Structured(_) => 2,
        }
    }

    /// Operations that steer control: structured and low-level control, and `Return`.
    pub fn is_control_flow(&self) -> bool {
        use ComputeOp::*;
        matches!(self, ComputeNodeOp::Core(IfElse | Loop | Match | Branch | Jump | Phi | Return))
    }

    /// Operations that end a basic block.
    pub fn is_terminator(&self) -> bool {
        use ComputeOp::*;
        matches!(self, ComputeNodeOp::Core(Return | Branch | Jump))
    }

    /// Operations with effects outside the program.
    pub fn is_io(&self) -> bool {
        use ComputeOp::*;
        matches!(self, ComputeNodeOp::Core(Print | ReadLine | FileOpen | FileRead | FileWrite | FileClose))
    }

    /// Contract checks.
    pub fn is_contract(&self) -> bool {
        use ComputeOp::*;
        matches!(self, ComputeNodeOp::Core(Precondition { .. } | Postcondition { .. } | Invariant { .. }))
    }

    /// The function this op refers to (`Call` target or `MakeClosure` body), if any.
    pub fn function_ref(&self) -> Option<FunctionId> {
        match self {
            ComputeNodeOp::Core(ComputeOp::Call { target }) => Some(*target),
            ComputeNodeOp::Core(ComputeOp::MakeClosure { function }) => Some(*function),
            _ => None,
        }
    }

    /// The type this op refers to, if any.
    pub fn type_ref(&self) -> Option<TypeId> {
        match self {
            ComputeNodeOp::Core(ComputeOp::Invariant { target_type, .. }) => Some(*target_type),
            ComputeNodeOp::Structured(StructuredOp::StructCreate { type_id }) => Some(*type_id),
            ComputeNodeOp::Structured(StructuredOp::Cast { target_type }) => Some(*target_type),
            ComputeNodeOp::Structured(StructuredOp::EnumCreate { type_id, .. }) => Some(*type_id),
            _ => None,
        }
    }
}

impl From<ComputeOp> for ComputeNodeOp {
    fn from(op: ComputeOp) -> Self {
        ComputeNodeOp::Core(op)
    }
}

impl From<StructuredOp> for ComputeNodeOp {
    fn from(op: StructuredOp) -> Self {
        ComputeNodeOp::Structured(op)
    }
}

/// A node of the compute graph: an operation and the function that owns it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ComputeNode {
    pub op: ComputeNodeOp,
    pub owner: FunctionId,
}
