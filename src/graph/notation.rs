//! The readable notation of a program: one short line per node (`n15  const f64 2.5`,
//! `n22  call app::math::sum_to`) and per edge (`n15:0 -> n20:0  f64`, `n27 -> n29
//! control`), with every function, type and module named by its qualified path.
//!
//! It is what people read in `lmstore show`, `diff`, pictures and error messages, so it
//! resolves ids through the graph, falls back to the bare id (`f999`, `t4242`) for
//! anything that does not exist (a broken import must still print), and never fails.

use super::error::{Entity, Violation};
use super::program::{EdgeView, ProgramGraph};
use crate::model::{
    ArithOp, CmpOp, ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, FunctionId, LmType, LogicOp, ModuleId, NodeId,
    ShiftOp, StructuredOp, TypeId, UnaryArithOp,
};

/// How deep a type name nests before it is cut short; a hand-edited document can make
/// a type refer to itself.
const MAX_TYPE_DEPTH: usize = 8;

/// How long a type or module path grows before the rest is written `...`. Anonymous
/// types share their parts, so a name written out in full can grow as width^depth from
/// a document of a few lines; every ordinary name is far shorter than this.
const NAME_BUDGET: usize = 256;

/// Renders nodes, edges, types and functions of one program in the readable notation.
///
/// ```
/// use lmlang_storage::graph::ProgramGraph;
/// use lmlang_storage::model::{ComputeOp, ConstValue, ModuleId, TypeId, Visibility};
///
/// let mut g = ProgramGraph::new("app");
/// let f = g.add_function(ModuleId::ROOT, "answer", Visibility::Public, vec![], TypeId::I32).unwrap();
/// let c = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(42) }).unwrap();
/// let r = g.add_core_op(f, ComputeOp::Return).unwrap();
/// let e = g.add_data_edge(c, r, 0, 0, TypeId::I32).unwrap();
/// let text = g.notation();
/// assert_eq!(text.node(c), "n0  const i32 42");
/// assert_eq!(text.edge(&g.edge(e).unwrap()), "n0:0 -> n1:0  i32");
/// assert_eq!(text.function_name(f), "app::answer");
/// assert_eq!(text.signature(f), "() -> i32");
/// ```
#[derive(Clone, Copy)]
pub struct Notation<'g> {
    g: &'g ProgramGraph,
}

impl ProgramGraph {
    /// The readable notation of this program's nodes, edges, types and functions.
    pub fn notation(&self) -> Notation<'_> {
        Notation { g: self }
    }
}

impl<'g> Notation<'g> {
    /// `i64`, `app::geometry::Point`, `[f64; 3]`, `*mut i8`, `fn(i64) -> bool`; the bare
    /// id for a type that does not exist.
    pub fn type_name(&self, t: TypeId) -> String {
        let mut out = String::new();
        self.write_type(t, 0, &mut out);
        out
    }

    /// Appends the name of `t` to `out`, writing `...` for what lies past
    /// [`MAX_TYPE_DEPTH`] or past [`NAME_BUDGET`] bytes of `out`, so the work and the text
    /// stay bounded whatever the type graph.
    fn write_type(&self, t: TypeId, depth: usize, out: &mut String) {
        if depth > MAX_TYPE_DEPTH || out.len() >= NAME_BUDGET {
            out.push_str("...");
            return;
        }
        let types = self.g.types();
        if let Some(named) = types.name_of(t) {
            return self.write_qualified(named.module, &named.name, out);
        }
        match types.get(t) {
            Some(LmType::Scalar(s)) => out.push_str(&format!("{s:?}").to_lowercase()),
            Some(LmType::Unit) => out.push_str("unit"),
            Some(LmType::Never) => out.push_str("never"),
            Some(LmType::Array { element, length }) => {
                out.push('[');
                self.write_type(*element, depth + 1, out);
                out.push_str(&format!("; {length}]"));
            }
            Some(LmType::Pointer { pointee, mutable }) => {
                out.push_str(if *mutable { "*mut " } else { "*" });
                self.write_type(*pointee, depth + 1, out);
            }
            Some(LmType::Function { params, return_type }) => {
                out.push_str("fn(");
                self.write_types(params, depth + 1, out);
                out.push_str(") -> ");
                self.write_type(*return_type, depth + 1, out);
            }
            // A struct or enum the registry holds without a name (only in a broken graph).
            Some(LmType::Struct(def)) if !def.name.is_empty() => self.write_qualified(def.module, &def.name, out),
            Some(LmType::Enum(def)) if !def.name.is_empty() => self.write_qualified(def.module, &def.name, out),
            _ => out.push_str(&t.to_string()),
        }
    }

    /// `i64, bool`: stops at the first type past the budget, so a list of thousands of
    /// parameters costs no more than a short one.
    fn write_types(&self, ts: &[TypeId], depth: usize, out: &mut String) {
        for (i, t) in ts.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if out.len() >= NAME_BUDGET {
                out.push_str("...");
                return;
            }
            self.write_type(*t, depth, out);
        }
    }

    /// `app::geometry::Point`: the module path, cut at the front to `...::` where it
    /// would pass the budget (the innermost modules tell most), then the name.
    fn write_qualified(&self, module: ModuleId, name: &str, out: &mut String) {
        let start = out.len();
        self.write_path(module, out);
        if out.len() > start {
            out.push_str("::");
        }
        out.push_str(name);
    }

    /// `app::geometry`, or `...::geometry` when the whole path would pass the budget.
    fn write_path(&self, module: ModuleId, out: &mut String) {
        let room = NAME_BUDGET.saturating_sub(out.len());
        let (names, whole) = self.g.modules().path_within(module, room);
        if !whole {
            out.push_str("...");
        }
        for (i, name) in names.iter().enumerate() {
            if i > 0 || !whole {
                out.push_str("::");
            }
            out.push_str(name);
        }
    }

    /// `app::math::sum_to`; the bare id for a function that does not exist.
    pub fn function_name(&self, f: FunctionId) -> String {
        let Some(def) = self.g.function(f) else { return f.to_string() };
        let mut out = String::new();
        self.write_qualified(def.module, &def.name, &mut out);
        out
    }

    /// `app::math`; `...::math` for a path past the budget.
    fn module_name(&self, m: ModuleId) -> String {
        let mut out = String::new();
        self.write_path(m, &mut out);
        out
    }

    /// `(x: i64) -> i64`, followed for a closure by what it captures, in Rust's way of
    /// writing the modes: `captures [factor: f64, &mut total: i64]`. Empty for a
    /// function that does not exist.
    pub fn signature(&self, f: FunctionId) -> String {
        let Some(def) = self.g.function(f) else { return String::new() };
        let params: Vec<String> = def.params.iter().map(|(n, t)| format!("{n}: {}", self.type_name(*t))).collect();
        let mut text = format!("({}) -> {}", params.join(", "), self.type_name(def.return_type));
        if def.is_closure {
            let captures: Vec<String> = def
                .captures
                .iter()
                .map(|c| format!("{}{}: {}", capture_mode(c.mode), c.name, self.type_name(c.captured_type)))
                .collect();
            text.push_str(&format!(" captures [{}]", captures.join(", ")));
        }
        text
    }

    /// An operation on its own: `const f64 2.5`, `cmp lt`, `call app::math::sum_to`,
    /// `struct_create app::geometry::Point`, `struct_get 1`.
    pub fn op(&self, op: &ComputeNodeOp) -> String {
        match op {
            ComputeNodeOp::Core(op) => self.core_op(op),
            ComputeNodeOp::Structured(op) => self.structured_op(op),
        }
    }

    /// A node's operation, with what its surroundings tell: parameter and capture names
    /// from its function (`param 0 x: i64`), field and variant names from the type of
    /// its operand (`struct_get 1 .y`). `?` for a node that does not exist.
    pub fn node_op(&self, n: NodeId) -> String {
        let Some(node) = self.g.node(n) else { return "?".into() };
        let base = self.op(&node.op);
        let owner = self.g.function(node.owner);
        let extra = match &node.op {
            ComputeNodeOp::Core(ComputeOp::Parameter { index }) => owner
                .and_then(|f| f.params.get(*index as usize))
                .map(|(name, t)| format!("{name}: {}", self.type_name(*t))),
            ComputeNodeOp::Core(ComputeOp::CaptureAccess { index }) => owner
                .and_then(|f| f.captures.get(*index as usize))
                .map(|c| format!("{}: {}", c.name, self.type_name(c.captured_type))),
            ComputeNodeOp::Structured(
                StructuredOp::StructGet { field_index: index } | StructuredOp::StructSet { field_index: index },
            ) => self.operand_type(n).and_then(|t| match self.g.types().get(t) {
                Some(LmType::Struct(def)) => def.fields.get_index(*index as usize).map(|(name, _)| format!(".{name}")),
                _ => None,
            }),
            ComputeNodeOp::Structured(StructuredOp::EnumPayload { variant_index }) => {
                self.operand_type(n).and_then(|t| self.variant_name(t, *variant_index))
            }
            _ => None,
        };
        match extra {
            Some(extra) => format!("{base} {extra}"),
            None => base,
        }
    }

    /// `n15  const f64 2.5`: the node's id and its operation.
    pub fn node(&self, n: NodeId) -> String {
        format!("{n}  {}", self.node_op(n))
    }

    /// `n15:0 -> n20:0  f64` for a data edge (source port, operand slot, value type);
    /// `n27 -> n29  control` or `n3 -> n5  branch 1` for a control edge.
    pub fn edge(&self, e: &EdgeView) -> String {
        match e.edge {
            FlowEdge::Data { source_port, target_port, .. } => {
                format!("{}:{source_port} -> {}:{target_port}  {}", e.source, e.target, self.edge_label(&e.edge))
            }
            FlowEdge::Control { .. } => format!("{} -> {}  {}", e.source, e.target, self.edge_label(&e.edge)),
        }
    }

    /// What an edge carries: the value type of a data edge, `control` or `branch N`.
    pub fn edge_label(&self, edge: &FlowEdge) -> String {
        match *edge {
            FlowEdge::Data { value_type, .. } => self.type_name(value_type),
            FlowEdge::Control { branch_index: None } => "control".into(),
            FlowEdge::Control { branch_index: Some(i) } => format!("branch {i}"),
        }
    }

    /// The entity with its readable form beside the id: `node n3 (const i64 0)`,
    /// `function app::math::abs`, `type app::geometry::Point`.
    pub fn entity(&self, entity: Entity) -> String {
        match entity {
            Entity::Program => "program".into(),
            Entity::Module(m) if self.g.module(m).is_some() => {
                format!("module {}", self.module_name(m))
            }
            Entity::Type(t) if self.g.types().contains(t) => format!("type {}", self.type_name(t)),
            Entity::Function(f) if self.g.function(f).is_some() => format!("function {}", self.function_name(f)),
            Entity::Node(n) if self.g.node(n).is_some() => format!("node {n} ({})", self.node_op(n)),
            Entity::Edge(e) => match self.g.edge(e) {
                Some(view) => format!("edge {e} ({})", self.edge(&view)),
                None => entity.to_string(),
            },
            _ => entity.to_string(),
        }
    }

    /// A violation with its entity in readable form.
    pub fn violation(&self, v: &Violation) -> String {
        format!("{}: {}", self.entity(v.entity), v.message)
    }

    /// The value type of the data edge into a node's first operand slot.
    fn operand_type(&self, n: NodeId) -> Option<TypeId> {
        self.g.incoming(n).into_iter().find_map(|e| match e.edge {
            FlowEdge::Data { target_port: 0, value_type, .. } => Some(value_type),
            _ => None,
        })
    }

    fn variant_name(&self, t: TypeId, index: u32) -> Option<String> {
        match self.g.types().get(t) {
            Some(LmType::Enum(def)) => def.variants.get_index(index as usize).map(|(name, _)| name.clone()),
            _ => None,
        }
    }

    fn core_op(&self, op: &ComputeOp) -> String {
        use ComputeOp::*;
        match op {
            Const { value } => format!("const {}", const_value(value)),
            Parameter { index } => format!("param {index}"),
            BinaryArith { op } => arith(*op).into(),
            UnaryArith { op: UnaryArithOp::Neg } => "neg".into(),
            UnaryArith { op: UnaryArithOp::Abs } => "abs".into(),
            Compare { op } => format!("cmp {}", compare(*op)),
            BinaryLogic { op } => logic(*op).into(),
            Not => "not".into(),
            Shift { op } => shift(*op).into(),
            IfElse => "if_else".into(),
            Loop => "loop".into(),
            Match => "match".into(),
            Branch => "branch".into(),
            Jump => "jump".into(),
            Phi => "phi".into(),
            Alloc => "alloc".into(),
            Load => "load".into(),
            Store => "store".into(),
            GetElementPtr => "get_element_ptr".into(),
            Call { target } => format!("call {}", self.function_name(*target)),
            IndirectCall => "indirect_call".into(),
            Return => "return".into(),
            Print => "print".into(),
            ReadLine => "read_line".into(),
            FileOpen => "file_open".into(),
            FileRead => "file_read".into(),
            FileWrite => "file_write".into(),
            FileClose => "file_close".into(),
            MakeClosure { function } => format!("make_closure {}", self.function_name(*function)),
            CaptureAccess { index } => format!("capture {index}"),
            Precondition { message } => format!("precondition {message:?}"),
            Postcondition { message } => format!("postcondition {message:?}"),
            Invariant { target_type, message } => format!("invariant {} {message:?}", self.type_name(*target_type)),
        }
    }

    fn structured_op(&self, op: &StructuredOp) -> String {
        use StructuredOp::*;
        match op {
            StructCreate { type_id } => format!("struct_create {}", self.type_name(*type_id)),
            StructGet { field_index } => format!("struct_get {field_index}"),
            StructSet { field_index } => format!("struct_set {field_index}"),
            ArrayCreate { length } => format!("array_create {length}"),
            ArrayGet => "array_get".into(),
            ArraySet => "array_set".into(),
            Cast { target_type } => format!("cast {}", self.type_name(*target_type)),
            EnumCreate { type_id, variant_index } => match self.variant_name(*type_id, *variant_index) {
                Some(variant) => format!("enum_create {}::{variant}", self.type_name(*type_id)),
                None => format!("enum_create {} {variant_index}", self.type_name(*type_id)),
            },
            EnumDiscriminant => "enum_discriminant".into(),
            EnumPayload { variant_index } => format!("enum_payload {variant_index}"),
        }
    }
}

/// `f64 2.5`, `i64 -3`, `bool true`, `unit`; floats in their shortest exact decimal,
/// non-finite ones as `inf`, `-inf`, `NaN` or `NaN:0x...` (a NaN with a payload).
fn const_value(v: &ConstValue) -> String {
    match *v {
        ConstValue::Bool(b) => format!("bool {b}"),
        ConstValue::I8(x) => format!("i8 {x}"),
        ConstValue::I16(x) => format!("i16 {x}"),
        ConstValue::I32(x) => format!("i32 {x}"),
        ConstValue::I64(x) => format!("i64 {x}"),
        ConstValue::F32(x) if x.is_finite() => format!("f32 {x:?}"),
        ConstValue::F64(x) if x.is_finite() => format!("f64 {x:?}"),
        ConstValue::F32(x) => {
            format!("f32 {}", non_finite(x.is_nan(), x.is_sign_negative(), x.to_bits().into(), 0x7fc0_0000, 8))
        }
        ConstValue::F64(x) => {
            format!("f64 {}", non_finite(x.is_nan(), x.is_sign_negative(), x.to_bits(), 0x7ff8_0000_0000_0000, 16))
        }
        ConstValue::Unit => "unit".into(),
    }
}

/// The text JSON exports use for the same value, so the two forms agree.
fn non_finite(nan: bool, negative: bool, bits: u64, canonical_nan: u64, hex_digits: usize) -> String {
    match (nan, negative) {
        (true, _) if bits == canonical_nan => "NaN".into(),
        (true, _) => format!("NaN:0x{bits:0hex_digits$x}"),
        (false, true) => "-inf".into(),
        (false, false) => "inf".into(),
    }
}

fn capture_mode(mode: crate::model::CaptureMode) -> &'static str {
    match mode {
        crate::model::CaptureMode::ByValue => "",
        crate::model::CaptureMode::ByRef => "&",
        crate::model::CaptureMode::ByMutRef => "&mut ",
    }
}

fn arith(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "add",
        ArithOp::Sub => "sub",
        ArithOp::Mul => "mul",
        ArithOp::Div => "div",
        ArithOp::Rem => "rem",
    }
}

fn compare(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "eq",
        CmpOp::Ne => "ne",
        CmpOp::Lt => "lt",
        CmpOp::Le => "le",
        CmpOp::Gt => "gt",
        CmpOp::Ge => "ge",
    }
}

fn logic(op: LogicOp) -> &'static str {
    match op {
        LogicOp::And => "and",
        LogicOp::Or => "or",
        LogicOp::Xor => "xor",
    }
}

fn shift(op: ShiftOp) -> &'static str {
    match op {
        ShiftOp::Shl => "shl",
        ShiftOp::ShrLogical => "shr_logical",
        ShiftOp::ShrArith => "shr_arith",
    }
}
