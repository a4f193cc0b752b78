//! Builders for the hashing tests: a function described by position (a [`Spec`]) that
//! can be built into any program, in any insertion order, among unrelated noise, and
//! the single changes the sensitivity property applies to it.

#![allow(dead_code)]

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use proptest::prelude::*;

/// An operation by position; `Helper`, `Point` and `Array` refer to the [`Env`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpSpec {
    ConstI64(i64),
    ConstF64(u64),
    Param(u32),
    Add,
    Mul,
    Lt,
    Loop,
    Branch,
    Jump,
    Return,
    CallHelper,
    MakePoint,
    Get(u32),
    CastArray,
    Print,
    Phi,
    ReadLine,
    ArrayCreate(u32),
    Capture(u32),
    Pre(u32),
}

/// A data edge by position: source, target, source port, target port, value type (an
/// index into [`Env::value_types`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataSpec {
    pub source: usize,
    pub target: usize,
    pub source_port: u16,
    pub target_port: u16,
    pub ty: usize,
}

/// A function body by position. Data edges run from a lower to a higher position, so
/// they form a DAG; control edges are arbitrary (self loops and cycles included).
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub ops: Vec<OpSpec>,
    pub data: Vec<DataSpec>,
    pub control: Vec<(usize, usize, Option<u16>)>,
    pub entry: Option<usize>,
}

/// What a body refers to outside itself, created in each program it is built in.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    pub module: ModuleId,
    pub helper: FunctionId,
    pub point: TypeId,
    pub array: TypeId,
}

impl Env {
    /// The value types data edges carry.
    pub fn value_types(&self) -> [TypeId; 4] {
        [TypeId::I64, TypeId::F64, self.point, self.array]
    }
}

/// Creates the environment in `g`. With `noise`, unrelated modules, types and
/// functions are created first, so every id differs from a quiet build.
pub fn env(g: &mut ProgramGraph, noise: bool) -> Env {
    if noise {
        for i in 0..3 {
            let m = g.add_module(ModuleId::ROOT, &format!("noise{i}"), Visibility::Private).unwrap();
            g.register_named_in(
                m,
                Visibility::Public,
                &format!("Noise{i}"),
                LmType::Array { element: TypeId::I8, length: i },
            )
            .unwrap();
            g.register_type(LmType::Pointer { pointee: TypeId::I16, mutable: i % 2 == 0 }).unwrap();
            let f = g.add_function(m, "noise", Visibility::Private, vec![], TypeId::UNIT).unwrap();
            for _ in 0..3 {
                let n = g.add_core_op(f, ComputeOp::Print).unwrap();
                let k = g.add_core_op(f, ComputeOp::Jump).unwrap();
                g.add_control_edge(n, k, None).unwrap();
                g.remove_compute_node(n).unwrap();
            }
        }
    }
    let module = g.add_module(ModuleId::ROOT, "lib", Visibility::Public).unwrap();
    let fields = [("x".to_string(), TypeId::I64), ("y".to_string(), TypeId::F64)].into_iter().collect();
    let point = g
        .register_named_in(
            module,
            Visibility::Public,
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields,
                module,
                visibility: Visibility::Public,
            }),
        )
        .unwrap();
    let array = g.register_type(LmType::Array { element: point, length: 4 }).unwrap();
    let helper = g.add_function(module, "helper", Visibility::Public, vec![], TypeId::I64).unwrap();
    Env { module, helper, point, array }
}

pub fn op(env: &Env, o: OpSpec) -> ComputeNodeOp {
    use ComputeOp as C;
    match o {
        OpSpec::ConstI64(v) => C::Const { value: ConstValue::I64(v) }.into(),
        OpSpec::ConstF64(bits) => C::Const { value: ConstValue::F64(f64::from_bits(bits)) }.into(),
        OpSpec::Param(i) => C::Parameter { index: i }.into(),
        OpSpec::Add => C::BinaryArith { op: ArithOp::Add }.into(),
        OpSpec::Mul => C::BinaryArith { op: ArithOp::Mul }.into(),
        OpSpec::Lt => C::Compare { op: CmpOp::Lt }.into(),
        OpSpec::Loop => C::Loop.into(),
        OpSpec::Branch => C::Branch.into(),
        OpSpec::Jump => C::Jump.into(),
        OpSpec::Return => C::Return.into(),
        OpSpec::CallHelper => C::Call { target: env.helper }.into(),
        OpSpec::MakePoint => StructuredOp::StructCreate { type_id: env.point }.into(),
        OpSpec::Get(i) => StructuredOp::StructGet { field_index: i }.into(),
        OpSpec::CastArray => StructuredOp::Cast { target_type: env.array }.into(),
        OpSpec::Print => C::Print.into(),
        OpSpec::Phi => C::Phi.into(),
        OpSpec::ReadLine => C::ReadLine.into(),
        OpSpec::ArrayCreate(n) => StructuredOp::ArrayCreate { length: n }.into(),
        OpSpec::Capture(i) => C::CaptureAccess { index: i }.into(),
        OpSpec::Pre(i) => C::Precondition { message: format!("pre {i}") }.into(),
    }
}

/// Builds the spec as function `calc` of the env's module: nodes in `node_order`,
/// then edges in `edge_order` (positions in data edges followed by control edges).
/// With `noise`, a node is added to and removed from a scratch function between
/// insertions, so ids have holes. Returns the function and the node of each position.
pub fn build(
    g: &mut ProgramGraph,
    env: &Env,
    spec: &Spec,
    node_order: &[usize],
    edge_order: &[usize],
    noise: bool,
) -> (FunctionId, Vec<NodeId>) {
    let params = vec![("a".to_string(), TypeId::I64), ("p".to_string(), env.point)];
    let f = g.add_function(env.module, "calc", Visibility::Public, params, TypeId::I64).unwrap();
    let scratch =
        noise.then(|| g.add_function(ModuleId::ROOT, "scratch", Visibility::Private, vec![], TypeId::UNIT).unwrap());
    let churn = |g: &mut ProgramGraph| {
        if let Some(s) = scratch {
            let n = g.add_core_op(s, ComputeOp::ReadLine).unwrap();
            g.remove_compute_node(n).unwrap();
        }
    };
    let mut ids = vec![NodeId(u32::MAX); spec.ops.len()];
    for &i in node_order {
        churn(g);
        ids[i] = g.add_compute_node(f, op(env, spec.ops[i])).unwrap();
    }
    let types = env.value_types();
    for &k in edge_order {
        churn(g);
        if let Some(d) = spec.data.get(k) {
            g.add_data_edge(ids[d.source], ids[d.target], d.source_port, d.target_port, types[d.ty]).unwrap();
        } else {
            let (s, t, b) = spec.control[k - spec.data.len()];
            g.add_control_edge(ids[s], ids[t], b).unwrap();
        }
    }
    g.set_entry_node(f, spec.entry.map(|e| ids[e])).unwrap();
    if let Some(s) = scratch {
        g.remove_function(s).unwrap();
    }
    (f, ids)
}

/// Builds the spec in a fresh program, nodes and edges in spec order, no noise.
pub fn build_plain(spec: &Spec) -> (ProgramGraph, Env, FunctionId, Vec<NodeId>) {
    let mut g = ProgramGraph::new("app");
    let env = env(&mut g, false);
    let (f, ids) = build(&mut g, &env, spec, &identity(spec.ops.len()), &identity(edge_count(spec)), false);
    (g, env, f, ids)
}

pub fn identity(n: usize) -> Vec<usize> {
    (0..n).collect()
}

pub fn edge_count(spec: &Spec) -> usize {
    spec.data.len() + spec.control.len()
}

// ----- strategies -----

fn any_op() -> impl Strategy<Value = OpSpec> {
    prop_oneof![
        (-3i64..3).prop_map(OpSpec::ConstI64),
        prop::sample::select(vec![0u64, 1 << 63, f64::NAN.to_bits(), 0x7ff8_0000_0000_0001, 1.5f64.to_bits()])
            .prop_map(OpSpec::ConstF64),
        (0u32..2).prop_map(OpSpec::Param),
        prop::sample::select(vec![
            OpSpec::Add,
            OpSpec::Mul,
            OpSpec::Lt,
            OpSpec::Loop,
            OpSpec::Branch,
            OpSpec::Jump,
            OpSpec::Return,
            OpSpec::CallHelper,
            OpSpec::MakePoint,
            OpSpec::CastArray,
            OpSpec::Print,
            OpSpec::Phi,
            OpSpec::ReadLine,
        ]),
        (0u32..2).prop_map(OpSpec::Get),
    ]
}

/// An op whose field makes it unlike every other node's (`unique` is the position).
fn distinct_op(kind: u8, unique: u32) -> OpSpec {
    match kind % 6 {
        0 => OpSpec::ConstI64(1000 + unique as i64),
        1 => OpSpec::Param(unique),
        2 => OpSpec::Get(unique),
        3 => OpSpec::ArrayCreate(unique),
        4 => OpSpec::Capture(unique),
        _ => OpSpec::Pre(unique),
    }
}

/// Random bodies of 2 to 13 nodes. With `distinct`, every node's op differs from every
/// other's (so any change of the edges is a change of the labelled graph, never an
/// isomorphism) and node 0 is an `F64` constant with random bits.
pub fn arb_spec(distinct: bool) -> impl Strategy<Value = Spec> {
    (2usize..14).prop_flat_map(move |n| {
        let ops = if distinct {
            (any::<u64>(), prop::collection::vec(any::<u8>(), n))
                .prop_map(|(bits, kinds)| {
                    let mut ops: Vec<OpSpec> =
                        kinds.iter().enumerate().map(|(i, k)| distinct_op(*k, i as u32)).collect();
                    ops[0] = OpSpec::ConstF64(bits);
                    ops
                })
                .boxed()
        } else {
            prop::collection::vec(any_op(), n).boxed()
        };
        // For each target position and operand slot 0..3: maybe a source before it.
        let inputs = prop::collection::vec(
            prop::collection::vec(prop::option::weighted(0.5, (any::<prop::sample::Index>(), 0u16..2, 0usize..4)), 3),
            n,
        );
        let control = prop::collection::vec((0..n, 0..n, prop::option::of(0u16..3)), 0..(n * 3 / 2 + 1));
        let entry = prop::option::of(0..n);
        (ops, inputs, control, entry).prop_map(move |(ops, inputs, control, entry)| {
            let mut data = Vec::new();
            for (target, slots) in inputs.iter().enumerate().skip(1) {
                for (port, slot) in slots.iter().enumerate() {
                    if let Some((src, source_port, ty)) = slot {
                        data.push(DataSpec {
                            source: src.index(target),
                            target,
                            source_port: *source_port,
                            target_port: port as u16,
                            ty: *ty,
                        });
                    }
                }
            }
            Spec { ops, data, control, entry }
        })
    })
}

// ----- random edits -----

/// One random edit: which kind, and two numbers that pick targets and values.
pub type Edit = (u8, u32, u64);

pub fn arb_edits(max: usize) -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec((any::<u8>(), any::<u32>(), any::<u64>()), 1..max)
}

fn pick<T: Copy>(items: &[T], k: u64) -> Option<T> {
    (!items.is_empty()).then(|| items[(k % items.len() as u64) as usize])
}

/// Applies one random edit through the public API, every kind of edit the hash index
/// must follow; refused edits are ignored (they must change nothing).
pub fn apply_edit(g: &mut ProgramGraph, (kind, a, b): Edit) {
    let a64 = a as u64;
    let modules: Vec<ModuleId> = g.modules().iter().map(|m| m.id).collect();
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let closures: Vec<FunctionId> = g.functions().filter(|f| f.is_closure).map(|f| f.id).collect();
    let types: Vec<TypeId> = g.types().iter().map(|(t, _)| t).collect();
    let structs: Vec<TypeId> =
        g.types().iter().filter(|(_, t)| matches!(t, LmType::Struct(_))).map(|(t, _)| t).collect();
    let nodes: Vec<NodeId> = g.nodes().map(|(n, _)| n).collect();
    let edges: Vec<EdgeId> = g.edges().map(|e| e.id).collect();
    let vis = if b & 1 == 0 { Visibility::Public } else { Visibility::Private };
    let op = || -> ComputeNodeOp {
        match b % 12 {
            0 => ComputeOp::Const { value: ConstValue::F64(f64::from_bits(b.rotate_left(17))) }.into(),
            1 => ComputeOp::Const { value: ConstValue::I32((b >> 8) as i32 % 4) }.into(),
            2 => ComputeOp::BinaryArith { op: ArithOp::Add }.into(),
            3 => ComputeOp::Jump.into(),
            4 => ComputeOp::Loop.into(),
            5 => ComputeOp::Parameter { index: (b >> 8) as u32 % 3 }.into(),
            6 => match pick(&functions, b >> 8) {
                Some(t) => ComputeOp::Call { target: t }.into(),
                None => ComputeOp::Print.into(),
            },
            7 => match pick(&closures, b >> 8) {
                Some(t) => ComputeOp::MakeClosure { function: t }.into(),
                None => ComputeOp::Return.into(),
            },
            8 => match pick(&structs, b >> 8) {
                Some(t) => StructuredOp::StructCreate { type_id: t }.into(),
                None => StructuredOp::ArrayGet.into(),
            },
            9 => StructuredOp::Cast { target_type: pick(&types, b >> 8).unwrap_or(TypeId::I8) }.into(),
            10 => ComputeOp::Return.into(),
            _ => ComputeOp::Print.into(),
        }
    };
    let _ = match kind % 32 {
        0 => g.add_module(pick(&modules, a64).unwrap_or(ModuleId::ROOT), &format!("m{a}"), vis).map(drop),
        1 => match pick(&modules[1.min(modules.len())..], a64) {
            Some(m) => g.rename_module(m, &format!("r{b}")),
            None => g.rename_module(ModuleId::ROOT, &format!("root{b}")),
        },
        2 => match pick(&modules[1.min(modules.len())..], a64) {
            Some(m) => g.remove_module(m).map(drop),
            None => Ok(()),
        },
        3 => {
            let element = pick(&types, a64).unwrap_or(TypeId::I8);
            if b & 2 == 0 {
                g.register_type(LmType::Array { element, length: (b % 5) as u32 }).map(drop)
            } else {
                let module = pick(&modules, b >> 4).unwrap_or(ModuleId::ROOT);
                let fields = [("f".to_string(), element)].into_iter().collect();
                let def = StructDef { name: String::new(), type_id: TypeId(0), fields, module, visibility: vis };
                g.register_named(&format!("S{a}"), LmType::Struct(def)).map(drop)
            }
        }
        4 | 5 => {
            let params = (0..(b % 3)).map(|i| (format!("p{i}"), pick(&types, a64 + i).unwrap_or(TypeId::I8))).collect();
            let module = pick(&modules, b >> 3).unwrap_or(ModuleId::ROOT);
            g.add_function(module, &format!("f{a}"), vis, params, pick(&types, b).unwrap_or(TypeId::UNIT)).map(drop)
        }
        6 => match pick(&functions, a64) {
            Some(parent) => {
                let captures = (0..(b % 3))
                    .map(|i| Capture {
                        name: format!("c{i}"),
                        captured_type: pick(&types, b + i).unwrap_or(TypeId::I8),
                        mode: [CaptureMode::ByValue, CaptureMode::ByRef, CaptureMode::ByMutRef][(i % 3) as usize],
                    })
                    .collect();
                g.add_closure(parent, &format!("k{a}"), vec![], TypeId::UNIT, captures).map(drop)
            }
            None => Ok(()),
        },
        7..=13 => match pick(&functions, a64) {
            Some(f) => {
                let o = op();
                g.add_compute_node(f, o).map(drop)
            }
            None => Ok(()),
        },
        14..=19 => match pick(&nodes, a64) {
            Some(s) => {
                let owner = g.node(s).map(|n| n.owner).unwrap_or(FunctionId(0));
                let own: Vec<NodeId> = g.function_nodes(owner).collect();
                let t = pick(&own, b).unwrap_or(s);
                if kind % 2 == 0 {
                    let ty = pick(&types, b >> 5).unwrap_or(TypeId::I8);
                    g.add_data_edge(s.min(t), s.max(t), (b >> 9) as u16 % 2, (b >> 11) as u16 % 3, ty).map(drop)
                } else {
                    let branch = if b & 8 == 0 { None } else { Some((b >> 4) as u16 % 3) };
                    g.add_control_edge(s, t, branch).map(drop)
                }
            }
            None => Ok(()),
        },
        20 | 21 => match pick(&nodes, a64) {
            Some(n) => {
                let o = op();
                g.modify_compute_node_op(n, o).map(drop)
            }
            None => Ok(()),
        },
        22 | 23 => match pick(&nodes, a64) {
            Some(n) => g.remove_compute_node(n).map(drop),
            None => Ok(()),
        },
        24 | 25 => match pick(&edges, a64) {
            Some(e) => g.remove_edge(e).map(drop),
            None => Ok(()),
        },
        26 => match pick(&functions, a64) {
            Some(f) => {
                let own: Vec<NodeId> = g.function_nodes(f).collect();
                g.set_entry_node(f, pick(&own, b))
            }
            None => Ok(()),
        },
        27 => match pick(&functions, a64) {
            Some(f) => g.rename_function(f, &format!("n{b}")),
            None => Ok(()),
        },
        28 => match (pick(&functions, a64), pick(&modules, b)) {
            (Some(f), Some(m)) => g.move_function(f, m),
            _ => Ok(()),
        },
        29 => match pick(&functions, a64) {
            Some(f) if b & 2 == 0 => g.set_function_visibility(f, vis),
            Some(f) => g.set_function_signature(
                f,
                vec![(format!("x{}", b % 3), pick(&types, b >> 3).unwrap_or(TypeId::I8))],
                pick(&types, b >> 7).unwrap_or(TypeId::UNIT),
            ),
            None => Ok(()),
        },
        30 => match pick(&closures, a64) {
            Some(c) => g.set_captures(
                c,
                vec![Capture {
                    name: format!("v{}", b % 4),
                    captured_type: pick(&types, b >> 2).unwrap_or(TypeId::I8),
                    mode: CaptureMode::ByRef,
                }],
            ),
            None => Ok(()),
        },
        _ => match pick(&functions, a64) {
            Some(f) => g.remove_function(f).map(drop),
            None => Ok(()),
        },
    };
}
