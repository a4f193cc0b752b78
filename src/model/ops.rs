//! Operations a compute node performs: 32 core ops and 10 structured ops.
//!
//! The enums are the lmlang instruction set as agents see it. Each variant has a stable
//! `kind` name (used as a typed, indexed column by the SQLite store and as hash input), so
//! renaming a Rust variant never changes stored data or hashes by accident.

use super::ids::{FunctionId, TypeId};
use super::values::ConstValue;
use serde::{Deserialize, Serialize};

/// Binary arithmetic, on integers or floats alike: the operands' value types decide
/// which.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArithOp {
    /// `lhs + rhs`.
    Add,
    /// `lhs - rhs`.
    Sub,
    /// `lhs * rhs`.
    Mul,
    /// `lhs / rhs`.
    Div,
    /// The remainder of `lhs / rhs`.
    Rem,
}

/// Unary arithmetic on an integer or float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum UnaryArithOp {
    /// `-x`.
    Neg,
    /// `|x|`.
    Abs,
}

/// Comparisons of two operands of one type; the result is always `Bool`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `lhs == rhs`.
    Eq,
    /// `lhs != rhs`.
    Ne,
    /// `lhs < rhs`.
    Lt,
    /// `lhs <= rhs`.
    Le,
    /// `lhs > rhs`.
    Gt,
    /// `lhs >= rhs`.
    Ge,
}

/// Boolean connectives; on integer operands they work bit by bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogicOp {
    /// `lhs & rhs`.
    And,
    /// `lhs | rhs`.
    Or,
    /// `lhs ^ rhs`.
    Xor,
}

/// Bit shifts of an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShiftOp {
    /// Left shift, zeros shifted in.
    Shl,
    /// Right shift, zeros shifted in (unsigned).
    ShrLogical,
    /// Right shift, the sign bit copied in (signed).
    ShrArith,
}

/// Tier-1 operations: values, arithmetic, control, memory, calls, I/O, closures, contracts.
///
/// Operands arrive on [`FlowEdge::Data`](super::FlowEdge::Data) edges, operand *n* in
/// slot (`target_port`) *n*; an op that yields a value puts it on output port 0. Ops
/// carry no operand or result types: those are the `value_type`s of their data edges.
/// The graph checks that each slot is fed at most once and that the functions and
/// types an op names exist, not how many operands an op has or their types; the
/// operand lists below are the convention a type checker or code generator reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComputeOp {
    /// A literal; no operands. Its type is the constant's own.
    Const {
        /// The literal, compared and hashed by its exact bits.
        value: ConstValue,
    },
    /// The owning function's parameter `index`; no operands.
    Parameter {
        /// Position in [`FunctionDef::params`](super::FunctionDef::params), from 0.
        index: u32,
    },
    /// `lhs op rhs`: operands 0 (lhs) and 1 (rhs) of one numeric type, yielding that type.
    BinaryArith {
        /// Which operation.
        op: ArithOp,
    },
    /// `op x` on operand 0, yielding the same type.
    UnaryArith {
        /// Which operation.
        op: UnaryArithOp,
    },
    /// Compares operands 0 and 1, yielding a `Bool`.
    Compare {
        /// Which comparison.
        op: CmpOp,
    },
    /// `lhs op rhs` on operands 0 and 1: logical on `Bool`, bitwise on integers.
    BinaryLogic {
        /// Which connective.
        op: LogicOp,
    },
    /// Negation of operand 0: logical on `Bool`, bitwise on integers.
    Not,
    /// Shifts operand 0 by the amount in operand 1.
    Shift {
        /// Which shift.
        op: ShiftOp,
    },
    /// Structured `if`: operand 0 is the `Bool` condition; control edges with branch
    /// index 0 and 1 lead to the then and else arms, which usually rejoin at a `Phi`.
    IfElse,
    /// Structured loop header: control edge 0 enters the body and a back edge (usually
    /// from a `Jump`) returns to it; the code after the loop continues from it.
    Loop,
    /// Structured `match`: operand 0 is the scrutinee (e.g. an `EnumDiscriminant`);
    /// control edge *n* leads to arm *n*.
    Match,
    /// Conditional branch that ends a block: operand 0 is the `Bool`; control edge 0 is
    /// taken when it is true, 1 when false.
    Branch,
    /// Unconditional jump that ends a block, along its one control edge; loops close
    /// with a `Jump` back to their header.
    Jump,
    /// SSA join: one operand per incoming control path; yields the value of the path
    /// control came from.
    Phi,
    /// Reserves storage and yields a pointer to it; no operands. What it holds is the
    /// pointee of the pointer type on its outgoing data edges.
    Alloc,
    /// Reads through the pointer in operand 0 and yields the value.
    Load,
    /// Writes operand 1 through the pointer in operand 0; yields nothing.
    Store,
    /// Address arithmetic: yields a pointer to the field or element, selected by
    /// operand 1, of the aggregate that operand 0 points to.
    GetElementPtr,
    /// Calls `target` with operand *i* as argument *i*, yielding its return value.
    Call {
        /// The callee; it must exist. The caller's semantic node gets a `Calls` edge to
        /// it, and the call hashes by the callee's path, so renaming or moving the
        /// callee changes the caller's hash.
        target: FunctionId,
    },
    /// Calls the closure or function value in operand 0 with operands 1.. as its
    /// arguments, yielding the return value. The callee is not known statically, so no
    /// `Calls` edge is recorded.
    IndirectCall,
    /// Leaves the function, returning operand 0 (no operand for a unit function). Ends
    /// a block.
    Return,
    /// Writes operand 0 to standard output.
    Print,
    /// Reads one line from standard input and yields it; no operands.
    ReadLine,
    /// Opens a file (its operands name it) and yields a handle for the other file ops.
    FileOpen,
    /// Reads from the file handle in operand 0 and yields what was read.
    FileRead,
    /// Writes operand 1 to the file handle in operand 0.
    FileWrite,
    /// Closes the file handle in operand 0.
    FileClose,
    /// Builds a closure value of `function` from the captured values, operand *i* for
    /// capture *i*; the value is called with `IndirectCall`.
    MakeClosure {
        /// The closure's body: an existing function with `is_closure` set. Recorded as a
        /// `Calls` edge and hashed by path, like a `Call` target.
        function: FunctionId,
    },
    /// Inside a closure body, yields capture `index` of the owning closure; no operands.
    CaptureAccess {
        /// Position in [`FunctionDef::captures`](super::FunctionDef::captures), from 0.
        index: u32,
    },
    /// Contract checked on entry: operand 0 is the `Bool` that must hold. Yields
    /// nothing.
    Precondition {
        /// What the contract promises, shown when it fails. Part of the node's hash.
        message: String,
    },
    /// Contract checked on return: operand 0 is the `Bool` that must hold, operand 1 the
    /// return value it speaks about. Yields nothing.
    Postcondition {
        /// What the contract promises, shown when it fails. Part of the node's hash.
        message: String,
    },
    /// Invariant of a type: operand 0 is the `Bool` that must hold, operand 1 the value
    /// of `target_type` it speaks about. Yields nothing.
    Invariant {
        /// The type the invariant constrains; it must exist.
        target_type: TypeId,
        /// What the invariant states, shown when it fails. Part of the node's hash.
        message: String,
    },
}

/// Tier-2 operations: aggregates and casts.
///
/// Operands follow the convention of [`ComputeOp`]: operand *n* arrives in slot *n*,
/// the result leaves on port 0. Aggregates are values: the `Set` ops yield a changed
/// copy and modify nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StructuredOp {
    /// Builds a struct from its field values, operand *i* for field *i* in declaration
    /// order.
    StructCreate {
        /// The struct type; it must exist and be a struct.
        type_id: TypeId,
    },
    /// Yields one field of the struct in operand 0.
    StructGet {
        /// The field's position in declaration order, from 0.
        field_index: u32,
    },
    /// Yields the struct in operand 0 with one field replaced by operand 1.
    StructSet {
        /// The field's position in declaration order, from 0.
        field_index: u32,
    },
    /// Builds an array from its elements, operand *i* for element *i*.
    ArrayCreate {
        /// Number of elements, and so of operands.
        length: u32,
    },
    /// Yields the element of the array in operand 0 at the index in operand 1.
    ArrayGet,
    /// Yields the array in operand 0 with the element at the index in operand 1
    /// replaced by operand 2.
    ArraySet,
    /// Converts operand 0 to `target_type` (widening, narrowing, int to float...).
    Cast {
        /// The type converted to; it must exist.
        target_type: TypeId,
    },
    /// Builds an enum value of one variant; operand 0 is the payload if the variant
    /// carries one, otherwise there are no operands.
    EnumCreate {
        /// The enum type; it must exist and be an enum.
        type_id: TypeId,
        /// The variant's position in declaration order (its
        /// [`EnumVariant::index`](super::EnumVariant::index)); it must exist.
        variant_index: u32,
    },
    /// Yields the variant index of the enum value in operand 0, typically for a `Match`.
    EnumDiscriminant,
    /// Yields the payload of the enum value in operand 0, which must be of variant
    /// `variant_index` (check the discriminant first).
    EnumPayload {
        /// The variant whose payload is read.
        variant_index: u32,
    },
}

/// What a compute node does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ComputeNodeOp {
    /// A tier-1 operation.
    Core(ComputeOp),
    /// A tier-2 operation (aggregates and casts).
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
    /// The operation.
    pub op: ComputeNodeOp,
    /// The function whose body holds the node. Edges only join nodes of one owner, and
    /// editing never changes it: to move a node, remove it and add a new one.
    pub owner: FunctionId,
}
