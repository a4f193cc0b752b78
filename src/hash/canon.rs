//! The canonical, length-prefixed encoding that goes into every hash.
//!
//! Each hash input starts with a domain prefix naming its kind and the algorithm
//! version; every variable-length field carries its length; enums are encoded by their
//! stable names. No numeric id is ever written: references become qualified names or
//! type hashes.

use super::{ContentHash, HASH_ALGORITHM_VERSION};
use crate::graph::ProgramGraph;
use crate::model::{ComputeNodeOp, ComputeOp, ConstValue, LmType, StructuredOp, TypeId};

/// Domain prefixes, one per kind of hash input.
pub(crate) mod domain {
    pub const NODE_LOCAL: &str = "lmlang.node.local";
    pub const NODE: &str = "lmlang.node";
    pub const CONTROL_EDGE: &str = "lmlang.edge.control";
    pub const FUNCTION: &str = "lmlang.function";
    pub const FUNCTION_ENTRY: &str = "lmlang.program.function";
    pub const TYPE_REF: &str = "lmlang.type.ref";
    pub const TYPE_DEF: &str = "lmlang.type.def";
    pub const MODULE_ENTRY: &str = "lmlang.program.module";
    pub const PROGRAM: &str = "lmlang.program";
}

/// Builds one hash input. The bytes are buffered and hashed in one call at the end:
/// for inputs of a few hundred bytes, one-shot blake3 is several times faster than
/// feeding a streaming hasher, and the digest is the same.
pub(crate) struct Canon {
    buf: Vec<u8>,
    /// When set, every field is also recorded for explanations.
    pub(crate) trace: Option<Vec<(String, String)>>,
}

impl Canon {
    pub(crate) fn new(domain: &str) -> Self {
        let mut c = Canon { buf: Vec::with_capacity(256), trace: None };
        c.raw_str(domain);
        c.raw_u32(HASH_ALGORITHM_VERSION);
        c
    }

    pub(crate) fn traced(domain: &str) -> Self {
        let mut c = Canon::new(domain);
        c.trace = Some(vec![("domain".into(), domain.into()), ("version".into(), HASH_ALGORITHM_VERSION.to_string())]);
        c
    }

    fn note(&mut self, field: &str, value: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            t.push((field.to_string(), value()));
        }
    }

    fn raw_u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn raw_str(&mut self, s: &str) {
        self.buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
        self.buf.extend_from_slice(s.as_bytes());
    }

    pub(crate) fn str(&mut self, field: &str, s: &str) -> &mut Self {
        self.note(field, || format!("{s:?}"));
        self.raw_str(s);
        self
    }

    pub(crate) fn u8(&mut self, field: &str, v: u8) -> &mut Self {
        self.note(field, || v.to_string());
        self.buf.push(v);
        self
    }

    pub(crate) fn u32(&mut self, field: &str, v: u32) -> &mut Self {
        self.note(field, || v.to_string());
        self.raw_u32(v);
        self
    }

    pub(crate) fn u64(&mut self, field: &str, v: u64) -> &mut Self {
        self.note(field, || v.to_string());
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    pub(crate) fn opt_u16(&mut self, field: &str, v: Option<u16>) -> &mut Self {
        self.note(field, || format!("{v:?}"));
        match v {
            None => self.buf.push(0),
            Some(x) => {
                self.buf.push(1);
                self.buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        self
    }

    pub(crate) fn hash(&mut self, field: &str, h: &ContentHash) -> &mut Self {
        self.note(field, || h.to_hex());
        self.buf.extend_from_slice(&h.0);
        self
    }

    pub(crate) fn finish(&self) -> ContentHash {
        ContentHash(*blake3::hash(&self.buf).as_bytes())
    }
}

/// The qualified name of a named type: its module path and its name.
pub(crate) fn qualified_type_name(g: &ProgramGraph, t: TypeId) -> Option<String> {
    let n = g.types().name_of(t)?;
    let mut path = g.modules().path(n.module);
    path.push(n.name.clone());
    Some(path.join("::"))
}

/// How a reference to a type hashes: a named type by its qualified name (nominal, so
/// recursive types need no cycle handling), any other type by its structure.
pub(crate) fn type_ref(g: &ProgramGraph, t: TypeId) -> ContentHash {
    let mut c = Canon::new(domain::TYPE_REF);
    if let Some(name) = qualified_type_name(g, t) {
        c.u8("form", 0).str("name", &name);
        return c.finish();
    }
    c.u8("form", 1);
    match g.types().get(t) {
        None => {
            c.str("missing", "");
        }
        Some(ty) => structure(g, &mut c, ty, 0),
    }
    c.finish()
}

/// Encodes a type's structure; nested references go through `type_ref`. Anonymous
/// types only refer to earlier types, so this ends; `depth` guards corrupt input.
fn structure(g: &ProgramGraph, c: &mut Canon, ty: &LmType, depth: u32) {
    c.str("kind", ty.kind());
    if depth > 64 {
        return;
    }
    match ty {
        LmType::Scalar(s) => {
            c.str("scalar", &format!("{s:?}"));
        }
        LmType::Unit | LmType::Never => {}
        LmType::Array { element, length } => {
            c.hash("element", &type_ref(g, *element)).u32("length", *length);
        }
        LmType::Pointer { pointee, mutable } => {
            c.hash("pointee", &type_ref(g, *pointee)).u8("mutable", *mutable as u8);
        }
        LmType::Function { params, return_type } => {
            c.u32("params", params.len() as u32);
            for p in params {
                c.hash("param", &type_ref(g, *p));
            }
            c.hash("return", &type_ref(g, *return_type));
        }
        LmType::Struct(def) => {
            c.str("visibility", def.visibility.as_str()).u32("fields", def.fields.len() as u32);
            for (name, t) in &def.fields {
                c.str("field", name).hash("field_type", &type_ref(g, *t));
            }
        }
        LmType::Enum(def) => {
            c.str("visibility", def.visibility.as_str()).u32("variants", def.variants.len() as u32);
            for (name, v) in &def.variants {
                c.str("variant", name).u32("index", v.index);
                match v.payload {
                    None => c.u8("payload", 0),
                    Some(p) => c.u8("payload", 1).hash("payload_type", &type_ref(g, p)),
                };
            }
        }
    }
}

/// The definition hash of a named type, which the program root covers.
pub(crate) fn type_definition(g: &ProgramGraph, t: TypeId) -> ContentHash {
    let mut c = Canon::new(domain::TYPE_DEF);
    c.str("name", &qualified_type_name(g, t).unwrap_or_default());
    if let Some(n) = g.types().name_of(t) {
        c.str("visibility", n.visibility.as_str());
    }
    if let Some(ty) = g.types().get(t) {
        structure(g, &mut c, ty, 0);
    }
    c.finish()
}

fn constant(c: &mut Canon, v: &ConstValue) {
    c.u8("const_tag", v.tag()).u64("const_bits", v.bits());
}

/// Encodes an operation.
pub(crate) fn op(g: &ProgramGraph, c: &mut Canon, op: &ComputeNodeOp) {
    c.u8("tier", op.tier()).str("op", op.kind());
    let callee = |c: &mut Canon, f| {
        let name = g.qualified_name(f).unwrap_or_default();
        c.str("callee", &name);
    };
    match op {
        ComputeNodeOp::Core(o) => match o {
            ComputeOp::Const { value } => constant(c, value),
            ComputeOp::Parameter { index } | ComputeOp::CaptureAccess { index } => {
                c.u32("index", *index);
            }
            ComputeOp::BinaryArith { .. }
            | ComputeOp::UnaryArith { .. }
            | ComputeOp::Compare { .. }
            | ComputeOp::BinaryLogic { .. }
            | ComputeOp::Shift { .. } => {
                c.str("sub_op", sub_op_name(o));
            }
            ComputeOp::Call { target } => callee(c, *target),
            ComputeOp::MakeClosure { function } => callee(c, *function),
            ComputeOp::Precondition { message } | ComputeOp::Postcondition { message } => {
                c.str("message", message);
            }
            ComputeOp::Invariant { target_type, message } => {
                c.hash("type", &type_ref(g, *target_type)).str("message", message);
            }
            _ => {}
        },
        ComputeNodeOp::Structured(o) => match o {
            StructuredOp::StructCreate { type_id } | StructuredOp::Cast { target_type: type_id } => {
                c.hash("type", &type_ref(g, *type_id));
            }
            StructuredOp::StructGet { field_index } | StructuredOp::StructSet { field_index } => {
                c.u32("field_index", *field_index);
            }
            StructuredOp::ArrayCreate { length } => {
                c.u32("length", *length);
            }
            StructuredOp::EnumCreate { type_id, variant_index } => {
                c.hash("type", &type_ref(g, *type_id)).u32("variant_index", *variant_index);
            }
            StructuredOp::EnumPayload { variant_index } => {
                c.u32("variant_index", *variant_index);
            }
            _ => {}
        },
    }
}

/// The stable name of an op's sub-operation (`Add`, `Lt`, `Xor`...).
fn sub_op_name(op: &ComputeOp) -> &'static str {
    use crate::model::{ArithOp as A, CmpOp as C, LogicOp as L, ShiftOp as S, UnaryArithOp as U};
    match op {
        ComputeOp::BinaryArith { op } => match op {
            A::Add => "Add",
            A::Sub => "Sub",
            A::Mul => "Mul",
            A::Div => "Div",
            A::Rem => "Rem",
        },
        ComputeOp::UnaryArith { op } => match op {
            U::Neg => "Neg",
            U::Abs => "Abs",
        },
        ComputeOp::Compare { op } => match op {
            C::Eq => "Eq",
            C::Ne => "Ne",
            C::Lt => "Lt",
            C::Le => "Le",
            C::Gt => "Gt",
            C::Ge => "Ge",
        },
        ComputeOp::BinaryLogic { op } => match op {
            L::And => "And",
            L::Or => "Or",
            L::Xor => "Xor",
        },
        ComputeOp::Shift { op } => match op {
            S::Shl => "Shl",
            S::ShrLogical => "ShrLogical",
            S::ShrArith => "ShrArith",
        },
        _ => "",
    }
}
