//! The canonical encoding: exactly which bytes of which fields go into every hash.
//!
//! Each kind of hash input ([`Domain`]) is hashed under its own blake3 key, derived from
//! the kind's name and [`HASH_ALGORITHM_VERSION`]: domain separation and versioning cost
//! no input bytes, which keeps small inputs (a program's function members) to one
//! 64-byte blake3 block. Fields are fixed-width little-endian numbers, 32-byte
//! digests, and strings prefixed by their u64 byte length; enums are written by their
//! stable names. No numeric id is ever written: a function is named by its path, a type
//! by its hash ([`TypeHasher`]). The byte layout is documented in `docs/hashing.md`;
//! the known-answer test pins it.

use super::HASH_ALGORITHM_VERSION;
use super::digest::ContentHash;
use super::explain::HashInput;
use crate::graph::ProgramGraph;
use crate::model::{
    ArithOp, CmpOp, ComputeNodeOp, ComputeOp, FunctionDef, FunctionId, LmType, LogicOp, ModuleId, ScalarType, ShiftOp,
    StructuredOp, TypeId, UnaryArithOp,
};
use std::collections::{HashMap, VecDeque};
use std::sync::LazyLock;

/// The kinds of hash input. Each has its own key, so equal bytes of two kinds never
/// give equal hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Domain {
    TypeRef,
    TypeDef,
    Node,
    NodeContext,
    Body,
    Residual,
    Signature,
    Function,
    FunctionPath,
    ProgramFunction,
    ProgramModule,
    Program,
}

impl Domain {
    const ALL: [Domain; 12] = [
        Domain::TypeRef,
        Domain::TypeDef,
        Domain::Node,
        Domain::NodeContext,
        Domain::Body,
        Domain::Residual,
        Domain::Signature,
        Domain::Function,
        Domain::FunctionPath,
        Domain::ProgramFunction,
        Domain::ProgramModule,
        Domain::Program,
    ];

    fn name(self) -> &'static str {
        match self {
            Domain::TypeRef => "type/ref",
            Domain::TypeDef => "type/def",
            Domain::Node => "node",
            Domain::NodeContext => "node/context",
            Domain::Body => "function/body",
            Domain::Residual => "node/residual",
            Domain::Signature => "function/signature",
            Domain::Function => "function",
            Domain::FunctionPath => "function/path",
            Domain::ProgramFunction => "program/function",
            Domain::ProgramModule => "program/module",
            Domain::Program => "program",
        }
    }

    /// The blake3 `derive_key` context this kind's key comes from, e.g.
    /// `"lmlang content hash v3 node"`.
    pub(crate) fn context(self) -> String {
        format!("lmlang content hash v{HASH_ALGORITHM_VERSION} {}", self.name())
    }

    pub(crate) fn key(self) -> &'static [u8; 32] {
        static KEYS: LazyLock<[[u8; 32]; 12]> =
            LazyLock::new(|| Domain::ALL.map(|d| blake3::derive_key(&d.context(), b"")));
        &KEYS[self as usize]
    }
}

/// The hash of two digests under one domain: a single blake3 block. Used for each
/// function's member of the program root (path hash, root).
pub(crate) fn pair(domain: Domain, a: &ContentHash, b: &ContentHash) -> ContentHash {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(&a.0);
    block[32..].copy_from_slice(&b.0);
    ContentHash(*blake3::keyed_hash(domain.key(), &block).as_bytes())
}

/// Builds one hash input field by field, then hashes it with one `keyed_hash` call;
/// optionally records every field for [`explain_node`](super::explain_node).
///
/// Inputs up to 256 bytes (nearly all) are built on the stack: a full hash costs a
/// few hundred nanoseconds, so an allocation or many small hasher updates would be a
/// visible share of it.
pub(crate) struct Encoder {
    key: &'static [u8; 32],
    inline: [u8; 256],
    len: usize,
    spill: Vec<u8>,
    trace: Option<Vec<HashInput>>,
}

impl Encoder {
    pub(crate) fn new(domain: Domain) -> Self {
        Encoder { key: domain.key(), inline: [0; 256], len: 0, spill: Vec::new(), trace: None }
    }

    /// An encoder that also records each field, its readable value and its bytes.
    pub(crate) fn traced(domain: Domain) -> Self {
        Encoder { trace: Some(Vec::new()), ..Encoder::new(domain) }
    }

    fn write(&mut self, bytes: &[u8]) {
        if self.spill.is_empty() && self.len + bytes.len() <= self.inline.len() {
            self.inline[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        } else {
            if self.spill.is_empty() {
                self.spill.extend_from_slice(&self.inline[..self.len]);
            }
            self.spill.extend_from_slice(bytes);
        }
    }

    fn put(&mut self, field: &str, parts: &[&[u8]], shown: impl FnOnce() -> String) {
        for p in parts {
            self.write(p);
        }
        if let Some(trace) = &mut self.trace {
            let hex: String = parts.iter().flat_map(|p| p.iter()).map(|b| format!("{b:02x}")).collect();
            trace.push(HashInput { field: field.to_string(), value: shown(), bytes: hex });
        }
    }

    pub(crate) fn u8(&mut self, field: &str, v: u8) -> &mut Self {
        self.put(field, &[&[v]], || v.to_string());
        self
    }

    pub(crate) fn u16(&mut self, field: &str, v: u16) -> &mut Self {
        self.put(field, &[&v.to_le_bytes()], || v.to_string());
        self
    }

    pub(crate) fn u32(&mut self, field: &str, v: u32) -> &mut Self {
        self.put(field, &[&v.to_le_bytes()], || v.to_string());
        self
    }

    pub(crate) fn u64(&mut self, field: &str, v: u64) -> &mut Self {
        self.put(field, &[&v.to_le_bytes()], || v.to_string());
        self
    }

    /// The u64 byte length, then the UTF-8 bytes.
    pub(crate) fn str(&mut self, field: &str, s: &str) -> &mut Self {
        self.put(field, &[&(s.len() as u64).to_le_bytes(), s.as_bytes()], || format!("{s:?}"));
        self
    }

    /// An optional string: byte 0, or byte 1 and the string.
    pub(crate) fn opt_str(&mut self, field: &str, s: Option<&str>) -> &mut Self {
        match s {
            None => self.u8(field, 0),
            Some(s) => self.u8(field, 1).str(field, s),
        }
    }

    pub(crate) fn hash(&mut self, field: &str, h: &ContentHash) -> &mut Self {
        self.put(field, &[&h.0], || h.to_hex());
        self
    }

    pub(crate) fn finish(&self) -> ContentHash {
        let bytes = if self.spill.is_empty() { &self.inline[..self.len] } else { &self.spill[..] };
        ContentHash(*blake3::keyed_hash(self.key, bytes).as_bytes())
    }

    pub(crate) fn into_trace(self) -> Vec<HashInput> {
        self.trace.unwrap_or_default()
    }
}

// ----- names: how references to functions, modules and types are written -----

/// A module's path below the root (`math::trig`; the root itself is `""`). The root
/// module's own name is left out of every path so that a function hashes the same in
/// a program whose root is called differently; the program root records it once.
pub(crate) fn module_path(g: &ProgramGraph, m: ModuleId) -> String {
    let path = g.modules().path(m);
    path.get(1..).unwrap_or_default().join("::")
}

/// [`module_path`] of every module whose parents lead to the root, each written from
/// its parent's, so a whole program's module paths cost their own length rather than a
/// walk up the tree per module (a chain of modules thousands deep made that walk
/// quadratic). Modules of a broken tree (a missing parent, a cycle, a root with a
/// parent) are not in the map: [`module_path`] gives theirs.
pub(crate) fn module_paths(g: &ProgramGraph) -> HashMap<ModuleId, String> {
    let tree = g.modules();
    let mut paths = HashMap::new();
    if tree.get(ModuleId::ROOT).is_none_or(|root| root.parent.is_some()) {
        return paths;
    }
    paths.insert(ModuleId::ROOT, String::new());
    let mut queue = VecDeque::from([ModuleId::ROOT]);
    while let Some(m) = queue.pop_front() {
        for c in tree.children(m) {
            let Some(def) = tree.get(c).filter(|d| d.parent == Some(m) && !paths.contains_key(&c)) else { continue };
            // As `module_path` joins the names below the root: the root's child is its
            // own name, even an empty one.
            let path = if m == ModuleId::ROOT { def.name.clone() } else { format!("{}::{}", paths[&m], def.name) };
            paths.insert(c, path);
            queue.push_back(c);
        }
    }
    paths
}

fn join(path: String, name: &str) -> String {
    if path.is_empty() { name.to_string() } else { format!("{path}::{name}") }
}

/// A function's path below the root (`math::sqrt`): how calls and closures name it.
pub(crate) fn function_path(g: &ProgramGraph, f: FunctionId) -> Option<String> {
    let def = g.function(f)?;
    Some(join(module_path(g, def.module), &def.name))
}

/// A named type's path below the root (`geo::Point`).
pub(crate) fn type_path(g: &ProgramGraph, t: TypeId) -> Option<String> {
    let n = g.types().name_of(t)?;
    Some(join(module_path(g, n.module), &n.name))
}

// ----- types -----

/// Hashes of type references, memoised (types never change once registered).
///
/// A reference to a *named* type is nominal: its path (`form 0`). Any other type is
/// structural (`form 1`): its kind and fields, nested references hashed the same way.
/// An anonymous type may only refer to earlier anonymous types (the registry enforces
/// it; `validate()` reports a document that breaks it), so the structural recursion
/// always ends; a reference breaking the rule is written as `form 3` and never
/// followed, and a missing type as `form 2`, so corrupt input hashes deterministically
/// and never loops. Evaluation uses an explicit stack: long chains of anonymous types
/// cannot overflow the call stack.
#[derive(Debug, Clone, Default)]
pub(crate) struct TypeHasher {
    /// Ids below [`DENSE_TYPES`] (all of them in practice) index a vector; others, which
    /// only a hostile document has, go to a map, so a type id near `u32::MAX` does not
    /// allocate a table of that size.
    dense: Vec<Option<ContentHash>>,
    sparse: std::collections::HashMap<TypeId, ContentHash>,
}

const DENSE_TYPES: usize = 1 << 16;

const FORM_NAMED: u8 = 0;
const FORM_STRUCTURAL: u8 = 1;
const FORM_MISSING: u8 = 2;
const FORM_FORWARD: u8 = 3;

impl TypeHasher {
    fn memo(&self, t: TypeId) -> Option<ContentHash> {
        if t.index() < DENSE_TYPES {
            self.dense.get(t.index()).copied().flatten()
        } else {
            self.sparse.get(&t).copied()
        }
    }

    fn remember(&mut self, t: TypeId, h: ContentHash) {
        if t.index() >= DENSE_TYPES {
            self.sparse.insert(t, h);
            return;
        }
        if self.dense.len() <= t.index() {
            self.dense.resize(t.index() + 1, None);
        }
        self.dense[t.index()] = Some(h);
    }

    /// How a reference to `t` hashes.
    pub(crate) fn type_ref(&mut self, g: &ProgramGraph, t: TypeId) -> ContentHash {
        if let Some(h) = self.memo(t) {
            return h;
        }
        let mut stack = vec![t];
        while let Some(&top) = stack.last() {
            if self.memo(top).is_some() {
                stack.pop();
                continue;
            }
            let pending: Vec<TypeId> = match g.types().get(top) {
                Some(ty) if g.types().name_of(top).is_none() => ty
                    .referenced_types()
                    .into_iter()
                    .filter(|c| *c < top && g.types().name_of(*c).is_none() && g.types().contains(*c))
                    .filter(|c| self.memo(*c).is_none())
                    .collect(),
                _ => Vec::new(),
            };
            if !pending.is_empty() {
                stack.extend(pending);
                continue;
            }
            stack.pop();
            match self.evaluate(g, top) {
                Some(h) => self.remember(top, h),
                // Missing types are not remembered: a later registration may fill the id.
                None => return self.reference(g, None, t),
            }
        }
        self.reference(g, None, t)
    }

    /// The hash of a reference from `from` (an anonymous type, or `None` for a node,
    /// edge or signature) to `t`, once every anonymous type below `t` is memoised.
    fn reference(&mut self, g: &ProgramGraph, from: Option<TypeId>, t: TypeId) -> ContentHash {
        // The rule is checked before the memo, so the answer does not depend on
        // whether `t` happened to be hashed already.
        let anonymous = g.types().name_of(t).is_none();
        if from.is_some_and(|f| anonymous && t >= f) {
            return Encoder::new(Domain::TypeRef).u8("form", FORM_FORWARD).finish();
        }
        if let Some(h) = self.memo(t) {
            return h;
        }
        match self.evaluate(g, t) {
            Some(h) => {
                self.remember(t, h);
                h
            }
            None => Encoder::new(Domain::TypeRef).u8("form", FORM_MISSING).finish(),
        }
    }

    /// A type's reference hash, its anonymous parts already memoised; `None` if missing.
    fn evaluate(&mut self, g: &ProgramGraph, t: TypeId) -> Option<ContentHash> {
        let ty = g.types().get(t)?;
        let mut e = Encoder::new(Domain::TypeRef);
        match type_path(g, t) {
            Some(path) => {
                e.u8("form", FORM_NAMED).str("name", &path);
            }
            None => {
                e.u8("form", FORM_STRUCTURAL);
                self.structure(g, &mut e, Some(t), ty);
            }
        }
        Some(e.finish())
    }

    /// The definition of a named type, which the program root covers: its path,
    /// visibility and structure.
    pub(crate) fn definition(&mut self, g: &ProgramGraph, t: TypeId) -> ContentHash {
        let mut e = Encoder::new(Domain::TypeDef);
        e.str("name", &type_path(g, t).unwrap_or_default());
        e.str("visibility", g.types().name_of(t).map(|n| n.visibility.as_str()).unwrap_or(""));
        if let Some(ty) = g.types().get(t) {
            // Nested references of a named type are to earlier types or by name.
            for c in ty.referenced_types() {
                self.type_ref(g, c);
            }
            self.structure(g, &mut e, None, ty);
        }
        e.finish()
    }

    /// Kind, then the fields of the kind; nested types as reference hashes.
    fn structure(&mut self, g: &ProgramGraph, e: &mut Encoder, from: Option<TypeId>, ty: &LmType) {
        e.str("kind", ty.kind());
        match ty {
            LmType::Scalar(s) => {
                e.str("scalar", scalar_name(*s));
            }
            LmType::Unit | LmType::Never => {}
            LmType::Array { element, length } => {
                let h = self.reference(g, from, *element);
                e.hash("element", &h).u32("length", *length);
            }
            LmType::Pointer { pointee, mutable } => {
                let h = self.reference(g, from, *pointee);
                e.hash("pointee", &h).u8("mutable", *mutable as u8);
            }
            LmType::Function { params, return_type } => {
                e.u32("params", params.len() as u32);
                for p in params {
                    let h = self.reference(g, from, *p);
                    e.hash("param", &h);
                }
                let h = self.reference(g, from, *return_type);
                e.hash("return", &h);
            }
            LmType::Struct(def) => {
                e.str("name", &def.name).str("visibility", def.visibility.as_str());
                e.u32("fields", def.fields.len() as u32);
                for (name, t) in &def.fields {
                    let h = self.reference(g, from, *t);
                    e.str("field", name).hash("field_type", &h);
                }
            }
            LmType::Enum(def) => {
                e.str("name", &def.name).str("visibility", def.visibility.as_str());
                e.u32("variants", def.variants.len() as u32);
                for (name, v) in &def.variants {
                    e.str("variant", name).u32("index", v.index);
                    match v.payload {
                        None => {
                            e.u8("payload", 0);
                        }
                        Some(p) => {
                            let h = self.reference(g, from, p);
                            e.u8("payload", 1).hash("payload_type", &h);
                        }
                    }
                }
            }
        }
    }
}

fn scalar_name(s: ScalarType) -> &'static str {
    match s {
        ScalarType::Bool => "Bool",
        ScalarType::I8 => "I8",
        ScalarType::I16 => "I16",
        ScalarType::I32 => "I32",
        ScalarType::I64 => "I64",
        ScalarType::F32 => "F32",
        ScalarType::F64 => "F64",
    }
}

// ----- operations and signatures -----

fn arith_name(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "Add",
        ArithOp::Sub => "Sub",
        ArithOp::Mul => "Mul",
        ArithOp::Div => "Div",
        ArithOp::Rem => "Rem",
    }
}

fn unary_name(op: UnaryArithOp) -> &'static str {
    match op {
        UnaryArithOp::Neg => "Neg",
        UnaryArithOp::Abs => "Abs",
    }
}

fn cmp_name(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "Eq",
        CmpOp::Ne => "Ne",
        CmpOp::Lt => "Lt",
        CmpOp::Le => "Le",
        CmpOp::Gt => "Gt",
        CmpOp::Ge => "Ge",
    }
}

fn logic_name(op: LogicOp) -> &'static str {
    match op {
        LogicOp::And => "And",
        LogicOp::Or => "Or",
        LogicOp::Xor => "Xor",
    }
}

fn shift_name(op: ShiftOp) -> &'static str {
    match op {
        ShiftOp::Shl => "Shl",
        ShiftOp::ShrLogical => "ShrLogical",
        ShiftOp::ShrArith => "ShrArith",
    }
}

/// An operation: tier, kind, then the kind's fields. A callee is written as its path
/// (absent marker if missing), a type as its reference hash, a constant as its tag and
/// raw bits (so `-0.0`, `0.0` and every NaN payload differ).
pub(crate) fn op(e: &mut Encoder, g: &ProgramGraph, types: &mut TypeHasher, op: &ComputeNodeOp) {
    e.u8("tier", op.tier()).str("op", op.kind());
    match op {
        ComputeNodeOp::Core(o) => match o {
            ComputeOp::Const { value } => {
                e.u8("const_tag", value.tag()).u64("const_bits", value.bits());
            }
            ComputeOp::Parameter { index } | ComputeOp::CaptureAccess { index } => {
                e.u32("index", *index);
            }
            ComputeOp::BinaryArith { op } => {
                e.str("sub_op", arith_name(*op));
            }
            ComputeOp::UnaryArith { op } => {
                e.str("sub_op", unary_name(*op));
            }
            ComputeOp::Compare { op } => {
                e.str("sub_op", cmp_name(*op));
            }
            ComputeOp::BinaryLogic { op } => {
                e.str("sub_op", logic_name(*op));
            }
            ComputeOp::Shift { op } => {
                e.str("sub_op", shift_name(*op));
            }
            ComputeOp::Call { target: f } | ComputeOp::MakeClosure { function: f } => {
                e.opt_str("callee", function_path(g, *f).as_deref());
            }
            ComputeOp::Precondition { message } | ComputeOp::Postcondition { message } => {
                e.str("message", message);
            }
            ComputeOp::Invariant { target_type, message } => {
                let h = types.type_ref(g, *target_type);
                e.hash("type", &h).str("message", message);
            }
            ComputeOp::Not
            | ComputeOp::IfElse
            | ComputeOp::Loop
            | ComputeOp::Match
            | ComputeOp::Branch
            | ComputeOp::Jump
            | ComputeOp::Phi
            | ComputeOp::Alloc
            | ComputeOp::Load
            | ComputeOp::Store
            | ComputeOp::GetElementPtr
            | ComputeOp::IndirectCall
            | ComputeOp::Return
            | ComputeOp::Print
            | ComputeOp::ReadLine
            | ComputeOp::FileOpen
            | ComputeOp::FileRead
            | ComputeOp::FileWrite
            | ComputeOp::FileClose => {}
        },
        ComputeNodeOp::Structured(o) => match o {
            StructuredOp::StructCreate { type_id: t } | StructuredOp::Cast { target_type: t } => {
                let h = types.type_ref(g, *t);
                e.hash("type", &h);
            }
            StructuredOp::StructGet { field_index } | StructuredOp::StructSet { field_index } => {
                e.u32("field_index", *field_index);
            }
            StructuredOp::ArrayCreate { length } => {
                e.u32("length", *length);
            }
            StructuredOp::EnumCreate { type_id, variant_index } => {
                let h = types.type_ref(g, *type_id);
                e.hash("type", &h).u32("variant_index", *variant_index);
            }
            StructuredOp::EnumPayload { variant_index } => {
                e.u32("variant_index", *variant_index);
            }
            StructuredOp::ArrayGet | StructuredOp::ArraySet | StructuredOp::EnumDiscriminant => {}
        },
    }
}

/// One incoming data edge of a node as its Merkle hash sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DataInput {
    pub(crate) target_port: u16,
    pub(crate) source_port: u16,
    pub(crate) value_type: ContentHash,
    pub(crate) source: ContentHash,
}

/// A node's Merkle hash: its operation, then its data inputs sorted by (target port,
/// source port, value type hash, source hash). `inputs` must be sorted.
pub(crate) fn node(e: &mut Encoder, g: &ProgramGraph, types: &mut TypeHasher, o: &ComputeNodeOp, inputs: &[DataInput]) {
    op(e, g, types, o);
    e.u32("inputs", inputs.len() as u32);
    for i in inputs {
        e.u16("target_port", i.target_port).u16("source_port", i.source_port);
        e.hash("value_type", &i.value_type).hash("source", &i.source);
    }
}

/// A function's signature: everything about it but its body and its own name.
/// Closures name their parent by path.
pub(crate) fn signature(e: &mut Encoder, g: &ProgramGraph, types: &mut TypeHasher, def: &FunctionDef) {
    e.str("visibility", def.visibility.as_str()).u32("params", def.params.len() as u32);
    for (name, t) in &def.params {
        let h = types.type_ref(g, *t);
        e.str("param", name).hash("param_type", &h);
    }
    let ret = types.type_ref(g, def.return_type);
    e.hash("return_type", &ret).u8("closure", def.is_closure as u8);
    let parent = def.parent_function.map(|p| function_path(g, p).unwrap_or_default());
    e.opt_str("parent", parent.as_deref()).u32("captures", def.captures.len() as u32);
    for c in &def.captures {
        let h = types.type_ref(g, c.captured_type);
        e.str("capture", &c.name).hash("capture_type", &h).str("mode", c.mode.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::{module_path, module_paths};
    use crate::graph::ProgramGraph;
    use crate::model::{ModuleDef, ModuleId, Visibility};

    /// The paths written from each parent's are the walk up's, name for name, in a
    /// sound tree and in broken ones (an empty name, a missing parent, a cycle); only
    /// modules whose parents lead to the root are in the map.
    #[test]
    fn module_paths_are_the_walk_ups_in_sound_and_broken_trees() {
        let module = |id: u32, name: &str, parent: Option<u32>| ModuleDef {
            id: ModuleId(id),
            name: name.into(),
            parent: parent.map(ModuleId),
            visibility: Visibility::Public,
        };
        let sound =
            vec![module(1, "a", Some(0)), module(2, "b", Some(1)), module(3, "c", Some(0)), module(4, "", Some(2))];
        let broken = vec![
            module(5, "d", Some(4)),
            module(6, "lost", Some(60)),
            module(7, "x", Some(8)),
            module(8, "y", Some(7)),
            module(9, "z", Some(8)),
        ];
        for (modules, rooted) in [(sound.clone(), 5), ([sound, broken].concat(), 6)] {
            let mut doc = ProgramGraph::new("app").to_document();
            doc.next_ids.module = 10;
            doc.modules.extend(modules);
            let g = ProgramGraph::assemble(doc);
            let paths = module_paths(&g);
            assert_eq!(paths.len(), rooted);
            for m in g.modules().iter() {
                if let Some(path) = paths.get(&m.id) {
                    assert_eq!(path, &module_path(&g, m.id), "{:?}", m.id);
                }
            }
            assert_eq!(paths[&ModuleId(4)], "a::b::");
        }
    }
}
