//! How an operation and a flow edge are spread over typed columns.
//!
//! Nodes and edges are most of a database, so their columns are small integers: an op
//! is its code (the `op_kinds` table), its one small operand in `arg`, the type and
//! function it names in `type_ref` and `callee_id` (typed and indexed, since queries
//! filter on them), and only constants and contract messages go to the JSON `payload`.
//! Each code knows exactly which columns it uses: a stray or missing value is corrupt.

use crate::model::{
    ArithOp, CmpOp, ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, FunctionId, LogicOp, ShiftOp, StructuredOp, TypeId,
    UnaryArithOp,
};
use crate::rows::sql::codec::{Json, id_u32, parse, small_u16};
use crate::store::StorageResult;
use serde::Serialize;

/// Names of the operation codes, indexed by code: the same list the migration writes
/// into `op_kinds` (a test checks they agree). Codes are stable; new ops get new codes.
pub const OP_NAMES: [&str; 42] = [
    "Const",
    "Parameter",
    "BinaryArith",
    "UnaryArith",
    "Compare",
    "BinaryLogic",
    "Not",
    "Shift",
    "IfElse",
    "Loop",
    "Match",
    "Branch",
    "Jump",
    "Phi",
    "Alloc",
    "Load",
    "Store",
    "GetElementPtr",
    "Call",
    "IndirectCall",
    "Return",
    "Print",
    "ReadLine",
    "FileOpen",
    "FileRead",
    "FileWrite",
    "FileClose",
    "MakeClosure",
    "CaptureAccess",
    "Precondition",
    "Postcondition",
    "Invariant",
    "StructCreate",
    "StructGet",
    "StructSet",
    "ArrayCreate",
    "ArrayGet",
    "ArraySet",
    "Cast",
    "EnumCreate",
    "EnumDiscriminant",
    "EnumPayload",
];

/// What the `payload` column of a node holds: a constant or a contract message. The op
/// code says which, so it is decoded by the op, never guessed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OpPayload {
    Message(String),
    Const(ConstValue),
}

impl Json<OpPayload> {
    fn constant(&self) -> Result<ConstValue, String> {
        self.text().and_then(parse).map_err(|e| format!("constant: {e}"))
    }

    fn message(&self) -> Result<String, String> {
        self.text().and_then(parse).map_err(|e| format!("message: {e}"))
    }
}

/// An operation spread over the node columns.
#[derive(Debug, Clone, PartialEq)]
pub struct OpColumns {
    pub op: i16,
    pub arg: Option<i64>,
    pub type_ref: Option<i64>,
    pub callee_id: Option<i64>,
    pub payload: Option<Json<OpPayload>>,
}

impl OpColumns {
    fn code(op: i16) -> Self {
        OpColumns { op, arg: None, type_ref: None, callee_id: None, payload: None }
    }

    fn arg(mut self, arg: u32) -> Self {
        self.arg = Some(arg.into());
        self
    }

    fn type_ref(mut self, t: TypeId) -> Self {
        self.type_ref = Some(t.0.into());
        self
    }

    fn callee(mut self, f: FunctionId) -> Self {
        self.callee_id = Some(f.0.into());
        self
    }

    fn payload(mut self, p: &OpPayload) -> StorageResult<Self> {
        self.payload = Some(Json::encode(p)?);
        Ok(self)
    }
}

/// Sub-operation codes (the `arg` of BinaryArith, Compare...), in declaration order.
const ARITH: [ArithOp; 5] = [ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div, ArithOp::Rem];
const UNARY: [UnaryArithOp; 2] = [UnaryArithOp::Neg, UnaryArithOp::Abs];
const CMP: [CmpOp; 6] = [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge];
const LOGIC: [LogicOp; 3] = [LogicOp::And, LogicOp::Or, LogicOp::Xor];
const SHIFT: [ShiftOp; 3] = [ShiftOp::Shl, ShiftOp::ShrLogical, ShiftOp::ShrArith];

fn sub_code<T: PartialEq>(table: &[T], op: &T) -> u32 {
    table.iter().position(|t| t == op).map_or(u32::MAX, |i| i as u32)
}

fn sub_op<T: Copy>(table: &[T], arg: u32, what: &str) -> Result<T, String> {
    table.get(arg as usize).copied().ok_or_else(|| format!("unknown {what} code {arg}"))
}

/// Spreads an operation over the node columns.
pub fn encode_op(op: &ComputeNodeOp) -> StorageResult<OpColumns> {
    use ComputeOp as C;
    use StructuredOp as S;
    let cols = OpColumns::code(op_code(op));
    Ok(match op {
        ComputeNodeOp::Core(core) => match core {
            C::Const { value } => cols.payload(&OpPayload::Const(*value))?,
            C::Parameter { index } | C::CaptureAccess { index } => cols.arg(*index),
            C::BinaryArith { op } => cols.arg(sub_code(&ARITH, op)),
            C::UnaryArith { op } => cols.arg(sub_code(&UNARY, op)),
            C::Compare { op } => cols.arg(sub_code(&CMP, op)),
            C::BinaryLogic { op } => cols.arg(sub_code(&LOGIC, op)),
            C::Shift { op } => cols.arg(sub_code(&SHIFT, op)),
            C::Call { target } => cols.callee(*target),
            C::MakeClosure { function } => cols.callee(*function),
            C::Precondition { message } | C::Postcondition { message } => {
                cols.payload(&OpPayload::Message(message.clone()))?
            }
            C::Invariant { target_type, message } => {
                cols.type_ref(*target_type).payload(&OpPayload::Message(message.clone()))?
            }
            C::Not
            | C::IfElse
            | C::Loop
            | C::Match
            | C::Branch
            | C::Jump
            | C::Phi
            | C::Alloc
            | C::Load
            | C::Store
            | C::GetElementPtr
            | C::IndirectCall
            | C::Return
            | C::Print
            | C::ReadLine
            | C::FileOpen
            | C::FileRead
            | C::FileWrite
            | C::FileClose => cols,
        },
        ComputeNodeOp::Structured(s) => match s {
            S::StructCreate { type_id } => cols.type_ref(*type_id),
            S::StructGet { field_index } | S::StructSet { field_index } => cols.arg(*field_index),
            S::ArrayCreate { length } => cols.arg(*length),
            S::Cast { target_type } => cols.type_ref(*target_type),
            S::EnumCreate { type_id, variant_index } => cols.type_ref(*type_id).arg(*variant_index),
            S::EnumPayload { variant_index } => cols.arg(*variant_index),
            S::ArrayGet | S::ArraySet | S::EnumDiscriminant => cols,
        },
    })
}

/// The code of an op: its variant's position in [`OP_NAMES`].
pub fn op_code(op: &ComputeNodeOp) -> i16 {
    use ComputeOp as C;
    use StructuredOp as S;
    match op {
        ComputeNodeOp::Core(core) => match core {
            C::Const { .. } => 0,
            C::Parameter { .. } => 1,
            C::BinaryArith { .. } => 2,
            C::UnaryArith { .. } => 3,
            C::Compare { .. } => 4,
            C::BinaryLogic { .. } => 5,
            C::Not => 6,
            C::Shift { .. } => 7,
            C::IfElse => 8,
            C::Loop => 9,
            C::Match => 10,
            C::Branch => 11,
            C::Jump => 12,
            C::Phi => 13,
            C::Alloc => 14,
            C::Load => 15,
            C::Store => 16,
            C::GetElementPtr => 17,
            C::Call { .. } => 18,
            C::IndirectCall => 19,
            C::Return => 20,
            C::Print => 21,
            C::ReadLine => 22,
            C::FileOpen => 23,
            C::FileRead => 24,
            C::FileWrite => 25,
            C::FileClose => 26,
            C::MakeClosure { .. } => 27,
            C::CaptureAccess { .. } => 28,
            C::Precondition { .. } => 29,
            C::Postcondition { .. } => 30,
            C::Invariant { .. } => 31,
        },
        ComputeNodeOp::Structured(s) => match s {
            S::StructCreate { .. } => 32,
            S::StructGet { .. } => 33,
            S::StructSet { .. } => 34,
            S::ArrayCreate { .. } => 35,
            S::ArrayGet => 36,
            S::ArraySet => 37,
            S::Cast { .. } => 38,
            S::EnumCreate { .. } => 39,
            S::EnumDiscriminant => 40,
            S::EnumPayload { .. } => 41,
        },
    }
}

/// Which columns an op code uses; the others must be NULL.
#[derive(Clone, Copy)]
struct Uses {
    arg: bool,
    type_ref: bool,
    callee: bool,
    payload: bool,
}

const NONE: Uses = Uses { arg: false, type_ref: false, callee: false, payload: false };

/// Reads an operation back from the node columns; the error is a `Corrupt` detail.
pub fn decode_op(cols: &OpColumns) -> Result<ComputeNodeOp, String> {
    use ComputeOp as C;
    use StructuredOp as S;
    let name = usize::try_from(cols.op)
        .ok()
        .and_then(|i| OP_NAMES.get(i))
        .ok_or_else(|| format!("unknown op code {}", cols.op))?;
    let arg =
        || cols.arg.ok_or_else(|| format!("{name} needs arg")).and_then(|a| id_u32(a).map_err(|e| format!("arg: {e}")));
    let type_ref = || cols.type_ref.ok_or_else(|| format!("{name} needs type_ref")).and_then(id_u32).map(TypeId);
    let callee = || cols.callee_id.ok_or_else(|| format!("{name} needs callee_id")).and_then(id_u32).map(FunctionId);
    let payload = || cols.payload.as_ref().ok_or_else(|| format!("{name} needs payload"));
    let (op, uses): (ComputeNodeOp, Uses) = match *name {
        "Const" => (C::Const { value: payload()?.constant()? }.into(), Uses { payload: true, ..NONE }),
        "Parameter" => (C::Parameter { index: arg()? }.into(), Uses { arg: true, ..NONE }),
        "BinaryArith" => {
            (C::BinaryArith { op: sub_op(&ARITH, arg()?, "arithmetic op")? }.into(), Uses { arg: true, ..NONE })
        }
        "UnaryArith" => (C::UnaryArith { op: sub_op(&UNARY, arg()?, "unary op")? }.into(), Uses { arg: true, ..NONE }),
        "Compare" => (C::Compare { op: sub_op(&CMP, arg()?, "comparison")? }.into(), Uses { arg: true, ..NONE }),
        "BinaryLogic" => {
            (C::BinaryLogic { op: sub_op(&LOGIC, arg()?, "logic op")? }.into(), Uses { arg: true, ..NONE })
        }
        "Not" => (C::Not.into(), NONE),
        "Shift" => (C::Shift { op: sub_op(&SHIFT, arg()?, "shift op")? }.into(), Uses { arg: true, ..NONE }),
        "IfElse" => (C::IfElse.into(), NONE),
        "Loop" => (C::Loop.into(), NONE),
        "Match" => (C::Match.into(), NONE),
        "Branch" => (C::Branch.into(), NONE),
        "Jump" => (C::Jump.into(), NONE),
        "Phi" => (C::Phi.into(), NONE),
        "Alloc" => (C::Alloc.into(), NONE),
        "Load" => (C::Load.into(), NONE),
        "Store" => (C::Store.into(), NONE),
        "GetElementPtr" => (C::GetElementPtr.into(), NONE),
        "Call" => (C::Call { target: callee()? }.into(), Uses { callee: true, ..NONE }),
        "IndirectCall" => (C::IndirectCall.into(), NONE),
        "Return" => (C::Return.into(), NONE),
        "Print" => (C::Print.into(), NONE),
        "ReadLine" => (C::ReadLine.into(), NONE),
        "FileOpen" => (C::FileOpen.into(), NONE),
        "FileRead" => (C::FileRead.into(), NONE),
        "FileWrite" => (C::FileWrite.into(), NONE),
        "FileClose" => (C::FileClose.into(), NONE),
        "MakeClosure" => (C::MakeClosure { function: callee()? }.into(), Uses { callee: true, ..NONE }),
        "CaptureAccess" => (C::CaptureAccess { index: arg()? }.into(), Uses { arg: true, ..NONE }),
        "Precondition" => (C::Precondition { message: payload()?.message()? }.into(), Uses { payload: true, ..NONE }),
        "Postcondition" => (C::Postcondition { message: payload()?.message()? }.into(), Uses { payload: true, ..NONE }),
        "Invariant" => (
            C::Invariant { target_type: type_ref()?, message: payload()?.message()? }.into(),
            Uses { type_ref: true, payload: true, ..NONE },
        ),
        "StructCreate" => (S::StructCreate { type_id: type_ref()? }.into(), Uses { type_ref: true, ..NONE }),
        "StructGet" => (S::StructGet { field_index: arg()? }.into(), Uses { arg: true, ..NONE }),
        "StructSet" => (S::StructSet { field_index: arg()? }.into(), Uses { arg: true, ..NONE }),
        "ArrayCreate" => (S::ArrayCreate { length: arg()? }.into(), Uses { arg: true, ..NONE }),
        "ArrayGet" => (S::ArrayGet.into(), NONE),
        "ArraySet" => (S::ArraySet.into(), NONE),
        "Cast" => (S::Cast { target_type: type_ref()? }.into(), Uses { type_ref: true, ..NONE }),
        "EnumCreate" => (
            S::EnumCreate { type_id: type_ref()?, variant_index: arg()? }.into(),
            Uses { arg: true, type_ref: true, ..NONE },
        ),
        "EnumDiscriminant" => (S::EnumDiscriminant.into(), NONE),
        "EnumPayload" => (S::EnumPayload { variant_index: arg()? }.into(), Uses { arg: true, ..NONE }),
        other => return Err(format!("op {other} has no decoder")),
    };
    let strays = [
        ("arg", cols.arg.is_some() && !uses.arg),
        ("type_ref", cols.type_ref.is_some() && !uses.type_ref),
        ("callee_id", cols.callee_id.is_some() && !uses.callee),
        ("payload", cols.payload.is_some() && !uses.payload),
    ];
    match strays.iter().find(|(_, stray)| *stray) {
        Some((column, _)) => Err(format!("{name} does not use {column}, which is set")),
        None => Ok(op),
    }
}

/// A flow edge spread over the edge columns. Whether it carries data is whether it has
/// a value type (the table's `kind` column is computed from that, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeColumns {
    pub source_port: Option<i32>,
    pub target_port: Option<i32>,
    pub value_type: Option<i64>,
    pub branch: Option<i32>,
}

/// Spreads a flow edge over the edge columns.
pub fn encode_edge(edge: &FlowEdge) -> EdgeColumns {
    match *edge {
        FlowEdge::Data { source_port, target_port, value_type } => EdgeColumns {
            source_port: Some(source_port.into()),
            target_port: Some(target_port.into()),
            value_type: Some(value_type.0.into()),
            branch: None,
        },
        FlowEdge::Control { branch_index } => {
            EdgeColumns { source_port: None, target_port: None, value_type: None, branch: branch_index.map(i32::from) }
        }
    }
}

/// Reads a flow edge back; the error is a `Corrupt` detail.
pub fn decode_edge(cols: &EdgeColumns) -> Result<FlowEdge, String> {
    match (cols.source_port, cols.target_port, cols.value_type, cols.branch) {
        (Some(sp), Some(tp), Some(vt), None) => Ok(FlowEdge::Data {
            source_port: small_u16(sp, "source_port")?,
            target_port: small_u16(tp, "target_port")?,
            value_type: TypeId(id_u32(vt).map_err(|e| format!("value_type: {e}"))?),
        }),
        (None, None, None, branch) => {
            Ok(FlowEdge::Control { branch_index: branch.map(|b| small_u16(b, "branch")).transpose()? })
        }
        (_, _, Some(_), _) => Err("a data edge needs source_port and target_port, and no branch".into()),
        _ => Err("a control edge (no value_type) has no ports".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConstValue;

    /// One op of every variant, with non-default fields.
    fn every_op() -> Vec<ComputeNodeOp> {
        use ComputeOp as C;
        use StructuredOp as S;
        let (t, f) = (TypeId(11), FunctionId(4));
        let mut ops: Vec<ComputeNodeOp> = vec![
            C::Const { value: ConstValue::F64(f64::from_bits(0x7ff8_0000_0000_0001)) },
            C::Parameter { index: 2 },
            C::Not,
            C::IfElse,
            C::Loop,
            C::Match,
            C::Branch,
            C::Jump,
            C::Phi,
            C::Alloc,
            C::Load,
            C::Store,
            C::GetElementPtr,
            C::Call { target: f },
            C::IndirectCall,
            C::Return,
            C::Print,
            C::ReadLine,
            C::FileOpen,
            C::FileRead,
            C::FileWrite,
            C::FileClose,
            C::MakeClosure { function: f },
            C::CaptureAccess { index: 1 },
            C::Precondition { message: "x > 0".into() },
            C::Postcondition { message: "\"quoted\" ✓".into() },
            C::Invariant { target_type: t, message: String::new() },
        ]
        .into_iter()
        .map(Into::into)
        .collect();
        ops.extend(ARITH.map(|op| C::BinaryArith { op }.into()));
        ops.extend(UNARY.map(|op| C::UnaryArith { op }.into()));
        ops.extend(CMP.map(|op| C::Compare { op }.into()));
        ops.extend(LOGIC.map(|op| C::BinaryLogic { op }.into()));
        ops.extend(SHIFT.map(|op| C::Shift { op }.into()));
        ops.extend(
            [
                S::StructCreate { type_id: t },
                S::StructGet { field_index: 3 },
                S::StructSet { field_index: 0 },
                S::ArrayCreate { length: 9 },
                S::ArrayGet,
                S::ArraySet,
                S::Cast { target_type: t },
                S::EnumCreate { type_id: t, variant_index: 2 },
                S::EnumDiscriminant,
                S::EnumPayload { variant_index: 1 },
            ]
            .map(Into::into),
        );
        ops
    }

    #[test]
    fn every_op_round_trips_and_codes_match_names() {
        let ops = every_op();
        let mut codes: Vec<i16> = ops.iter().map(op_code).collect();
        for op in &ops {
            let cols = encode_op(op).expect("encode");
            assert_eq!(OP_NAMES[cols.op as usize], op.kind(), "code of {op:?}");
            assert_eq!(decode_op(&cols).as_ref(), Ok(op), "{op:?}");
        }
        codes.sort();
        codes.dedup();
        assert_eq!(codes, (0..OP_NAMES.len() as i16).collect::<Vec<_>>(), "every code is used once");
    }

    #[test]
    fn every_edge_round_trips() {
        for edge in [
            FlowEdge::Data { source_port: 0, target_port: 65535, value_type: TypeId(u32::MAX) },
            FlowEdge::Control { branch_index: None },
            FlowEdge::Control { branch_index: Some(0) },
            FlowEdge::Control { branch_index: Some(7) },
        ] {
            assert_eq!(decode_edge(&encode_edge(&edge)), Ok(edge));
        }
    }
}
