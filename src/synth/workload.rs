//! The synthetic workload of the design document, built through the public editing API.
//!
//! Shape: 5 modules (the root and `core`, `math`, `io`, `data`), a few named structs and
//! an enum, functions of 54 to 200 nodes (uniform, so 127 on average), about 1.76 edges per
//! node of which 70 % carry data and 30 % control. Bodies mix parameters, constants (floats
//! included), arithmetic, comparisons, calls to earlier functions (and the odd recursive
//! one), if/else diamonds, loops with back edges, memory ops, struct creation and access,
//! casts, contracts, I/O and returns; every 16th function has a closure with captures.
//! Data edges always run from an earlier node to a later one (a DAG); each operand slot
//! is fed once. With `gaps`, 5 % of the nodes are deleted afterwards, uniformly, leaving
//! holes in the id space. Everything is drawn from a ChaCha8 stream seeded by the config,
//! so a seed gives the same program on every platform.

use crate::graph::ProgramGraph;
use crate::model::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    /// Compute nodes to create (before deletions).
    pub nodes: usize,
    /// Seed of the random stream.
    pub seed: u64,
    /// Delete 5 % of the nodes afterwards.
    pub gaps: bool,
}

impl SynthConfig {
    /// A config for `nodes` nodes with seed 1 and no gaps.
    pub fn new(nodes: usize) -> Self {
        SynthConfig { nodes, seed: 1, gaps: false }
    }
}

const DATA_PER_NODE: f64 = 1.232;
const CONTROL_PER_NODE: f64 = 0.528;

struct Types {
    point: TypeId,
    pair: TypeId,
    shape: TypeId,
    ptr_i64: TypeId,
}

/// The function a body generator needs to know about: id, parameters, return type.
struct Callee {
    id: FunctionId,
    params: Vec<TypeId>,
    ret: TypeId,
}

/// Generates the program. The graph API refuses nothing the generator does, so the
/// result is whole; the `expect`s below guard that invariant of our own code.
pub fn generate(cfg: &SynthConfig) -> ProgramGraph {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut g = ProgramGraph::new("root");
    let modules: Vec<ModuleId> = ["core", "math", "io", "data"]
        .iter()
        .map(|m| g.add_module(ModuleId::ROOT, m, Visibility::Public).expect("fresh module"))
        .collect();
    let types = register_types(&mut g, modules[3]);
    let mut callees: Vec<Callee> = Vec::new();
    let mut made = 0usize;
    let mut index = 0usize;
    while made < cfg.nodes {
        let remaining = cfg.nodes - made;
        let mut size = rng.random_range(54..=200usize).min(remaining);
        if remaining - size < 54 && remaining <= 200 {
            size = remaining;
        }
        let module = if index == 0 { ModuleId::ROOT } else { modules[index % modules.len()] };
        made += build_function(&mut g, &mut rng, &types, &mut callees, module, index, size);
        index += 1;
    }
    if cfg.gaps {
        delete_share(&mut g, &mut rng, 0.05);
    }
    g
}

fn register_types(g: &mut ProgramGraph, module: ModuleId) -> Types {
    let strukt = |fields: &[(&str, TypeId)]| {
        LmType::Struct(StructDef {
            name: String::new(),
            type_id: TypeId(0),
            fields: fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
            module,
            visibility: Visibility::Public,
        })
    };
    let point = g.register_named("Point", strukt(&[("x", TypeId::F64), ("y", TypeId::F64)])).expect("fresh type");
    let pair = g.register_named("Pair", strukt(&[("first", TypeId::I64), ("second", TypeId::I64)])).expect("fresh");
    let shape = g
        .register_named(
            "Shape",
            LmType::Enum(EnumDef {
                name: String::new(),
                type_id: TypeId(0),
                variants: [
                    ("Dot".to_string(), EnumVariant { index: 0, payload: Some(point) }),
                    ("Span".to_string(), EnumVariant { index: 1, payload: Some(pair) }),
                    ("Empty".to_string(), EnumVariant { index: 2, payload: None }),
                ]
                .into_iter()
                .collect(),
                module,
                visibility: Visibility::Public,
            }),
        )
        .expect("fresh type");
    let ptr_i64 = g.register_type(LmType::Pointer { pointee: TypeId::I64, mutable: true }).expect("fresh type");
    Types { point, pair, shape, ptr_i64 }
}

/// A body under construction: the nodes made so far with the type of value each yields
/// (`None` for nodes that yield none), and the next free operand slot of each.
struct Body {
    f: FunctionId,
    nodes: Vec<NodeId>,
    yields: Vec<Option<TypeId>>,
    next_port: Vec<u16>,
    data: usize,
    control: usize,
}

impl Body {
    fn add(&mut self, g: &mut ProgramGraph, op: ComputeNodeOp, yields: Option<TypeId>) -> usize {
        let id = g.add_compute_node(self.f, op).expect("generator ops refer to existing entities");
        self.nodes.push(id);
        self.yields.push(yields);
        self.next_port.push(0);
        self.nodes.len() - 1
    }

    /// Feeds the next operand slot of `target` from a value-yielding node before it.
    fn feed(&mut self, g: &mut ProgramGraph, rng: &mut ChaCha8Rng, target: usize) -> bool {
        let window = target.min(24);
        for _ in 0..8 {
            if window == 0 {
                return false;
            }
            let source = target - rng.random_range(1..=window);
            if let Some(ty) = self.yields[source] {
                let port = self.next_port[target];
                self.next_port[target] += 1;
                g.add_data_edge(self.nodes[source], self.nodes[target], 0, port, ty)
                    .expect("earlier to later is acyclic");
                self.data += 1;
                return true;
            }
        }
        false
    }

    /// Sequences statement `n` after the last one (nothing for the very first node).
    fn chain(&mut self, g: &mut ProgramGraph, last: usize, n: usize) {
        if n > 0 {
            self.control(g, last.min(n - 1), n, None);
        }
    }

    fn control(&mut self, g: &mut ProgramGraph, from: usize, to: usize, branch: Option<u16>) {
        g.add_control_edge(self.nodes[from], self.nodes[to], branch).expect("same function");
        self.control += 1;
    }
}

fn scalar(rng: &mut ChaCha8Rng) -> TypeId {
    [TypeId::I64, TypeId::I64, TypeId::I32, TypeId::F64, TypeId::BOOL][rng.random_range(0..5)]
}

fn build_function(
    g: &mut ProgramGraph,
    rng: &mut ChaCha8Rng,
    types: &Types,
    callees: &mut Vec<Callee>,
    module: ModuleId,
    index: usize,
    size: usize,
) -> usize {
    let params: Vec<TypeId> = (0..rng.random_range(0..4)).map(|_| scalar(rng)).collect();
    let ret = scalar(rng);
    let named: Vec<(String, TypeId)> = params.iter().enumerate().map(|(i, t)| (format!("p{i}"), *t)).collect();
    let visibility = if index % 3 == 0 { Visibility::Private } else { Visibility::Public };
    let f = g.add_function(module, &format!("f{index}"), visibility, named, ret).expect("unique name");
    let mut body = Body { f, nodes: Vec::new(), yields: Vec::new(), next_port: Vec::new(), data: 0, control: 0 };
    let closure_budget = if index % 16 == 15 && size >= 60 { 6 } else { 0 };
    let own = size - closure_budget;

    for (i, t) in params.iter().enumerate() {
        body.add(g, ComputeOp::Parameter { index: i as u32 }.into(), Some(*t));
    }
    let mut last_stmt = 0usize;
    while body.nodes.len() < own.saturating_sub(1) {
        let room = own - 1 - body.nodes.len();
        let before = body.nodes.len();
        let roll = rng.random_range(0..100);
        match roll {
            0..=13 => {
                let (op, ty) = constant(rng);
                body.add(g, op.into(), Some(ty));
            }
            14..=33 => {
                let op = match rng.random_range(0..4) {
                    0 => ComputeOp::BinaryArith {
                        op: [ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div, ArithOp::Rem]
                            [rng.random_range(0..5)],
                    },
                    1 => {
                        ComputeOp::BinaryLogic { op: [LogicOp::And, LogicOp::Or, LogicOp::Xor][rng.random_range(0..3)] }
                    }
                    2 => ComputeOp::Shift {
                        op: [ShiftOp::Shl, ShiftOp::ShrLogical, ShiftOp::ShrArith][rng.random_range(0..3)],
                    },
                    _ => ComputeOp::BinaryArith { op: ArithOp::Add },
                };
                let n = body.add(g, op.into(), Some(TypeId::I64));
                body.feed(g, rng, n);
                body.feed(g, rng, n);
            }
            34..=43 => {
                let op = ComputeOp::Compare {
                    op: [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][rng.random_range(0..6)],
                };
                let n = body.add(g, op.into(), Some(TypeId::BOOL));
                body.feed(g, rng, n);
                body.feed(g, rng, n);
            }
            44..=51 => {
                let (op, ty): (ComputeNodeOp, TypeId) = match rng.random_range(0..4) {
                    0 => (ComputeOp::UnaryArith { op: UnaryArithOp::Neg }.into(), TypeId::I64),
                    1 => (ComputeOp::Not.into(), TypeId::BOOL),
                    2 => (StructuredOp::Cast { target_type: TypeId::F64 }.into(), TypeId::F64),
                    _ => (ComputeOp::UnaryArith { op: UnaryArithOp::Abs }.into(), TypeId::I64),
                };
                let n = body.add(g, op, Some(ty));
                body.feed(g, rng, n);
            }
            52..=57 if !callees.is_empty() || index > 0 => {
                let recursive = callees.is_empty() || rng.random_range(0..40) == 0;
                let (target, args, ty) = if recursive {
                    (f, params.len(), ret)
                } else {
                    let c = &callees[rng.random_range(callees.len().saturating_sub(64)..callees.len())];
                    (c.id, c.params.len(), c.ret)
                };
                let n = body.add(g, ComputeOp::Call { target }.into(), Some(ty));
                for _ in 0..args {
                    body.feed(g, rng, n);
                }
                body.chain(g, last_stmt, n);
                last_stmt = n;
            }
            58..=65 if room >= 4 => {
                // if/else diamond: cond -> IfElse; then / else arms; Phi joins them.
                let branch = body.add(g, ComputeOp::IfElse.into(), None);
                body.feed(g, rng, branch);
                let then = body.add(g, ComputeOp::BinaryArith { op: ArithOp::Add }.into(), Some(TypeId::I64));
                body.feed(g, rng, then);
                let other = body.add(g, ComputeOp::BinaryArith { op: ArithOp::Sub }.into(), Some(TypeId::I64));
                body.feed(g, rng, other);
                let phi = body.add(g, ComputeOp::Phi.into(), Some(TypeId::I64));
                for (src, port) in [(then, 0u16), (other, 1u16)] {
                    g.add_data_edge(body.nodes[src], body.nodes[phi], 0, port, TypeId::I64).expect("acyclic");
                    body.data += 1;
                }
                body.next_port[phi] = 2;
                body.control(g, branch, then, Some(0));
                body.control(g, branch, other, Some(1));
                body.control(g, then, phi, None);
                body.control(g, other, phi, None);
                last_stmt = phi;
            }
            66..=71 if room >= 4 => {
                // loop: header, body, jump back to the header, exit.
                let head = body.add(g, ComputeOp::Loop.into(), None);
                let step = body.add(g, ComputeOp::BinaryArith { op: ArithOp::Add }.into(), Some(TypeId::I64));
                body.feed(g, rng, step);
                body.feed(g, rng, step);
                let jump = body.add(g, ComputeOp::Jump.into(), None);
                body.control(g, last_stmt.min(head), head, None);
                body.control(g, head, step, Some(0));
                body.control(g, step, jump, None);
                body.control(g, jump, head, None);
                last_stmt = head;
            }
            72..=79 if room >= 3 => {
                let alloc = body.add(g, ComputeOp::Alloc.into(), Some(types.ptr_i64));
                let store = body.add(g, ComputeOp::Store.into(), None);
                g.add_data_edge(body.nodes[alloc], body.nodes[store], 0, 0, types.ptr_i64).expect("acyclic");
                body.data += 1;
                body.next_port[store] = 1;
                body.feed(g, rng, store);
                let load = body.add(g, ComputeOp::Load.into(), Some(TypeId::I64));
                g.add_data_edge(body.nodes[alloc], body.nodes[load], 0, 0, types.ptr_i64).expect("acyclic");
                body.data += 1;
                body.next_port[load] = 1;
                body.control(g, store, load, None);
            }
            80..=85 if room >= 2 => {
                let (ty, fields) = if rng.random_bool(0.5) { (types.point, 2) } else { (types.pair, 2) };
                let make = body.add(g, StructuredOp::StructCreate { type_id: ty }.into(), Some(ty));
                for _ in 0..fields {
                    body.feed(g, rng, make);
                }
                let get = body.add(
                    g,
                    StructuredOp::StructGet { field_index: rng.random_range(0..2) }.into(),
                    Some(TypeId::I64),
                );
                g.add_data_edge(body.nodes[make], body.nodes[get], 0, 0, ty).expect("acyclic");
                body.data += 1;
                body.next_port[get] = 1;
            }
            86..=88 => {
                let variant = rng.random_range(0..3u32);
                let n = body.add(
                    g,
                    StructuredOp::EnumCreate { type_id: types.shape, variant_index: variant }.into(),
                    Some(types.shape),
                );
                if variant < 2 {
                    body.feed(g, rng, n);
                }
            }
            89..=93 => {
                let op = match rng.random_range(0..3) {
                    0 => ComputeOp::Precondition { message: format!("f{index}: input in range") },
                    1 => ComputeOp::Postcondition { message: format!("f{index}: result checked") },
                    _ => ComputeOp::Invariant { target_type: types.pair, message: "first <= second".into() },
                };
                let n = body.add(g, op.into(), None);
                body.feed(g, rng, n);
                body.chain(g, last_stmt, n);
                last_stmt = n;
            }
            _ => {
                let op = match rng.random_range(0..3) {
                    0 => ComputeOp::Print,
                    1 => ComputeOp::FileWrite,
                    _ => ComputeOp::ReadLine,
                };
                let yields = matches!(op, ComputeOp::ReadLine).then_some(TypeId::I64);
                let n = body.add(g, op.into(), yields);
                if yields.is_none() {
                    body.feed(g, rng, n);
                }
                body.chain(g, last_stmt, n);
                last_stmt = n;
            }
        }
        if body.nodes.len() == before {
            let (op, ty) = constant(rng);
            body.add(g, op.into(), Some(ty));
        }
    }
    let ret_node = body.add(g, ComputeOp::Return.into(), None);
    body.feed(g, rng, ret_node);
    if ret_node > 0 {
        body.control(g, last_stmt.min(ret_node - 1), ret_node, None);
    }
    top_up(g, rng, &mut body, size);
    if let Some(first) = body.nodes.first() {
        g.set_entry_node(f, Some(*first)).expect("own node");
    }
    let mut made = body.nodes.len();
    if closure_budget > 0 {
        made += build_closure(g, rng, f, index, &mut body);
    }
    callees.push(Callee { id: f, params, ret });
    made
}

/// Adds data and control edges until the function has its share of both.
fn top_up(g: &mut ProgramGraph, rng: &mut ChaCha8Rng, body: &mut Body, size: usize) {
    let data_goal = (size as f64 * DATA_PER_NODE).round() as usize;
    let control_goal = (size as f64 * CONTROL_PER_NODE).round() as usize;
    let mut attempts = 0;
    while body.data < data_goal && attempts < size * 4 {
        attempts += 1;
        let target = rng.random_range(1..body.nodes.len());
        body.feed(g, rng, target);
    }
    while body.control < control_goal && body.nodes.len() > 1 {
        let a = rng.random_range(0..body.nodes.len() - 1);
        let b = (a + rng.random_range(1..=4)).min(body.nodes.len() - 1);
        // Now and then a back edge, as loops have.
        let (from, to) = if rng.random_range(0..8) == 0 { (b, a) } else { (a, b) };
        body.control(g, from, to, None);
    }
}

fn build_closure(
    g: &mut ProgramGraph,
    rng: &mut ChaCha8Rng,
    parent: FunctionId,
    index: usize,
    body: &mut Body,
) -> usize {
    let captures = vec![
        Capture { name: "factor".into(), captured_type: TypeId::F64, mode: CaptureMode::ByValue },
        Capture { name: "count".into(), captured_type: TypeId::I64, mode: CaptureMode::ByMutRef },
    ];
    let c = g
        .add_closure(parent, &format!("f{index}_closure"), vec![("v".into(), TypeId::F64)], TypeId::F64, captures)
        .expect("unique closure name");
    let mut inner = Body { f: c, nodes: Vec::new(), yields: Vec::new(), next_port: Vec::new(), data: 0, control: 0 };
    inner.add(g, ComputeOp::Parameter { index: 0 }.into(), Some(TypeId::F64));
    inner.add(g, ComputeOp::CaptureAccess { index: 0 }.into(), Some(TypeId::F64));
    let mul = inner.add(g, ComputeOp::BinaryArith { op: ArithOp::Mul }.into(), Some(TypeId::F64));
    inner.feed(g, rng, mul);
    inner.feed(g, rng, mul);
    let ret = inner.add(g, ComputeOp::Return.into(), None);
    inner.feed(g, rng, ret);
    inner.control(g, mul, ret, None);
    g.set_entry_node(c, Some(inner.nodes[0])).expect("own node");
    let make = body.add(g, ComputeOp::MakeClosure { function: c }.into(), None);
    body.feed(g, rng, make);
    let call = body.add(g, ComputeOp::IndirectCall.into(), Some(TypeId::F64));
    g.add_data_edge(body.nodes[make], body.nodes[call], 0, 0, TypeId::F64).expect("acyclic");
    body.data += 1;
    inner.nodes.len() + 2
}

fn constant(rng: &mut ChaCha8Rng) -> (ComputeOp, TypeId) {
    let (value, ty) = match rng.random_range(0..6) {
        0 => (ConstValue::I64(rng.random_range(-1000..1000)), TypeId::I64),
        1 => (ConstValue::I32(rng.random_range(-100..100)), TypeId::I32),
        2 => (ConstValue::Bool(rng.random_bool(0.5)), TypeId::BOOL),
        3 => (ConstValue::F64(rng.random_range(-1.0e6..1.0e6)), TypeId::F64),
        4 => (ConstValue::F32(rng.random_range(-10.0f32..10.0)), TypeId::F32),
        _ => (ConstValue::I64(0), TypeId::I64),
    };
    (ComputeOp::Const { value }, ty)
}

/// Removes `share` of the live nodes, chosen uniformly.
fn delete_share(g: &mut ProgramGraph, rng: &mut ChaCha8Rng, share: f64) {
    let ids: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
    for id in ids {
        if rng.random_bool(share) {
            g.remove_compute_node(id).expect("live node");
        }
    }
}

/// Changes one node's op (a constant's value, or a comparison's operator), as a
/// benchmark's "one-node edit". Returns the node edited.
pub fn one_node_edit(g: &mut ProgramGraph, seed: u64) -> Option<NodeId> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let count = g.node_count();
    if count == 0 {
        return None;
    }
    let start = rng.random_range(0..count);
    let ids: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
    let (id, op) = ids[start..].iter().chain(&ids[..start]).filter_map(|id| g.node(*id).map(|n| (*id, n))).find_map(
        |(id, n)| match &n.op {
            ComputeNodeOp::Core(ComputeOp::Const { .. }) => {
                Some((id, ComputeOp::Const { value: ConstValue::I64(rng.random_range(i64::MIN..i64::MAX)) }))
            }
            _ => None,
        },
    )?;
    g.modify_compute_node_op(id, op.into()).ok()?;
    Some(id)
}
