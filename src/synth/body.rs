//! One function body of the synthetic workload.
//!
//! A body is a run of statements drawn from the op mix. A new node takes its operands from
//! nodes made shortly before it in the same body (SSA values are mostly local), so every
//! data edge runs from an earlier node to a later one: the data edges form a DAG by
//! construction, and the graph's cycle check, which searches forward from the new edge's
//! target, finds nothing to walk from a fresh node. Each operand slot is fed once.
//! Statements with effects (calls, contracts, I/O, branches, loops) are chained by control
//! edges. Afterwards both kinds of edge are topped up to the workload's ratios.

use crate::graph::ProgramGraph;
use crate::model::{
    ArithOp, Capture, CaptureMode, CmpOp, ComputeNodeOp, ComputeOp, ConstValue, FunctionId, LogicOp, ModuleId, NodeId,
    ShiftOp, StructuredOp, TypeId, UnaryArithOp, Visibility,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Data edges per node: 70 % of the design's 1.76 edges per node.
const DATA_PER_NODE: f64 = 1.232;
/// Control edges per node: the other 30 %.
const CONTROL_PER_NODE: f64 = 0.528;
/// How far back an operand may come from.
const OPERAND_WINDOW: usize = 24;
/// Calls go to one of this many most recent functions (earlier ones, so no forward
/// references are needed while building).
const CALLEE_WINDOW: usize = 64;
/// Every this many functions, one defines and uses a closure.
const CLOSURE_EVERY: usize = 16;
/// Nodes of a closure's own body.
const CLOSURE_NODES: usize = 4;
/// Smallest function that gets a closure: its own body keeps over 50 nodes.
const CLOSURE_MIN_SIZE: usize = 60;

/// The program's shared types, registered once by the workload.
pub(super) struct Types {
    pub(super) point: TypeId,
    pub(super) pair: TypeId,
    pub(super) shape: TypeId,
    pub(super) ptr_i64: TypeId,
    /// `fn(F64) -> F64`, the type of every closure value.
    pub(super) closure: TypeId,
}

/// Nodes and edges made so far in the whole program. Each function tops its edges up to
/// the program-wide goal rather than its own, so a function that came out with more
/// control edges than its share is balanced by the next, and the ratios hold exactly.
#[derive(Debug, Default)]
pub(super) struct Tally {
    nodes: usize,
    data: usize,
    control: usize,
}

/// What a later function needs to know to call this one.
pub(super) struct Callee {
    id: FunctionId,
    params: Vec<TypeId>,
    ret: TypeId,
}

/// Where a function goes and how big it is.
pub(super) struct FunctionPlan {
    /// Its position in the program; names it (`f{index}`) and decides closures.
    pub(super) index: usize,
    pub(super) module: ModuleId,
    /// Nodes, its closure's included.
    pub(super) size: usize,
}

/// Builds the function a plan describes, of exactly `plan.size` nodes, and returns how to
/// call it.
pub(super) fn build_function(
    g: &mut ProgramGraph,
    rng: &mut ChaCha8Rng,
    types: &Types,
    callees: &[Callee],
    tally: &mut Tally,
    plan: FunctionPlan,
) -> Callee {
    let FunctionPlan { index, module, size } = plan;
    let with_closure = index % CLOSURE_EVERY == CLOSURE_EVERY - 1 && size >= CLOSURE_MIN_SIZE;
    let own = if with_closure { size - CLOSURE_NODES } else { size };
    // A body needs room for its parameters and its `Return`.
    let param_count = rng.random_range(0..4usize).min(own.saturating_sub(1));
    let params: Vec<TypeId> = (0..param_count).map(|_| scalar(rng)).collect();
    let ret = scalar(rng);
    let named = params.iter().enumerate().map(|(i, t)| (format!("p{i}"), *t)).collect();
    let visibility = if index % 3 == 0 { Visibility::Private } else { Visibility::Public };
    let f = g.add_function(module, &format!("f{index}"), visibility, named, ret).expect("function names are unique");
    let mut closure = with_closure.then(|| build_closure(g, rng, tally, f, index));

    let mut body = Body::new(g, rng, f);
    for (i, t) in params.iter().enumerate() {
        body.add(ComputeOp::Parameter { index: i as u32 }.into(), Some(*t));
    }
    let me = Callee { id: f, params, ret };
    while body.len() + 1 < own {
        let room = own - 1 - body.len();
        match closure {
            Some(c) if body.len() >= own / 2 && room >= 2 => {
                body.use_closure(types, c);
                closure = None;
            }
            _ => body.statement(types, callees, &me, index, room),
        }
    }
    if own > 0 {
        let ret = body.add(ComputeOp::Return.into(), None);
        body.feed(ret);
        body.sequence(ret);
    }
    body.top_up(tally, own);
    if let Some(first) = body.nodes.first().copied() {
        body.g.set_entry_node(f, Some(first)).expect("the function's own node");
    }
    me
}

/// A closure of `parent`: `|v| v * factor` with `factor` and a counter captured.
fn build_closure(
    g: &mut ProgramGraph,
    rng: &mut ChaCha8Rng,
    tally: &mut Tally,
    parent: FunctionId,
    index: usize,
) -> FunctionId {
    let captures = vec![
        Capture { name: "factor".into(), captured_type: TypeId::F64, mode: CaptureMode::ByValue },
        Capture { name: "count".into(), captured_type: TypeId::I64, mode: CaptureMode::ByMutRef },
    ];
    let c = g
        .add_closure(parent, &format!("f{index}_closure"), vec![("v".into(), TypeId::F64)], TypeId::F64, captures)
        .expect("closure names are unique");
    let mut body = Body::new(g, rng, c);
    let v = body.add(ComputeOp::Parameter { index: 0 }.into(), Some(TypeId::F64));
    let factor = body.add(ComputeOp::CaptureAccess { index: 0 }.into(), Some(TypeId::F64));
    let mul = body.add(ComputeOp::BinaryArith { op: ArithOp::Mul }.into(), Some(TypeId::F64));
    body.wire(v, mul, TypeId::F64);
    body.wire(factor, mul, TypeId::F64);
    let ret = body.add(ComputeOp::Return.into(), None);
    body.wire(mul, ret, TypeId::F64);
    body.control(mul, ret, None);
    body.g.set_entry_node(c, Some(body.nodes[v])).expect("the closure's own node");
    body.count_into(tally);
    c
}

/// A body under construction: its nodes in creation order with the type of value each
/// yields (`None`: no value), the next free operand slot of each, and edge counts.
struct Body<'a> {
    g: &'a mut ProgramGraph,
    rng: &'a mut ChaCha8Rng,
    f: FunctionId,
    nodes: Vec<NodeId>,
    yields: Vec<Option<TypeId>>,
    next_port: Vec<u16>,
    data: usize,
    control: usize,
    /// The last statement, which the next one is sequenced after.
    last: Option<usize>,
}

impl<'a> Body<'a> {
    fn new(g: &'a mut ProgramGraph, rng: &'a mut ChaCha8Rng, f: FunctionId) -> Self {
        Body {
            g,
            rng,
            f,
            nodes: Vec::new(),
            yields: Vec::new(),
            next_port: Vec::new(),
            data: 0,
            control: 0,
            last: None,
        }
    }

    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Adds a node; returns its position in the body.
    fn add(&mut self, op: ComputeNodeOp, yields: Option<TypeId>) -> usize {
        let id = self.g.add_compute_node(self.f, op).expect("generated ops refer to existing entities");
        self.nodes.push(id);
        self.yields.push(yields);
        self.next_port.push(0);
        self.nodes.len() - 1
    }

    /// Feeds the next operand slot of `target` from a recent value-yielding node before
    /// it; gives up (returns false) after a few tries.
    fn feed(&mut self, target: usize) -> bool {
        let window = target.min(OPERAND_WINDOW);
        if window == 0 {
            return false;
        }
        for _ in 0..8 {
            let source = target - self.rng.random_range(1..=window);
            if let Some(ty) = self.yields[source] {
                self.wire(source, target, ty);
                return true;
            }
        }
        false
    }

    /// A data edge from `source` into the next operand slot of the later node `target`.
    fn wire(&mut self, source: usize, target: usize, ty: TypeId) {
        let port = self.next_port[target];
        self.next_port[target] += 1;
        self.g
            .add_data_edge(self.nodes[source], self.nodes[target], 0, port, ty)
            .expect("earlier to later, into a free slot: acyclic and accepted");
        self.data += 1;
    }

    fn control(&mut self, from: usize, to: usize, branch: Option<u16>) {
        self.g.add_control_edge(self.nodes[from], self.nodes[to], branch).expect("same function");
        self.control += 1;
    }

    /// Makes `n` the next statement: it runs after the previous one.
    fn sequence(&mut self, n: usize) {
        if let Some(last) = self.last {
            self.control(last, n, None);
        }
        self.last = Some(n);
    }

    /// Adds one statement of the op mix, of at most `room` nodes.
    fn statement(&mut self, types: &Types, callees: &[Callee], me: &Callee, index: usize, room: usize) {
        let before = self.len();
        match self.rng.random_range(0..100) {
            0..=13 => {
                let (op, ty) = constant(self.rng);
                self.add(op.into(), Some(ty));
            }
            14..=33 => self.binary(),
            34..=43 => {
                let op =
                    [CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge][self.rng.random_range(0..6)];
                let n = self.add(ComputeOp::Compare { op }.into(), Some(TypeId::BOOL));
                self.feed(n);
                self.feed(n);
            }
            44..=51 => {
                let (op, ty): (ComputeNodeOp, TypeId) = match self.rng.random_range(0..4) {
                    0 => (ComputeOp::UnaryArith { op: UnaryArithOp::Neg }.into(), TypeId::I64),
                    1 => (ComputeOp::Not.into(), TypeId::BOOL),
                    2 => (StructuredOp::Cast { target_type: TypeId::F64 }.into(), TypeId::F64),
                    _ => (ComputeOp::UnaryArith { op: UnaryArithOp::Abs }.into(), TypeId::I64),
                };
                let n = self.add(op, Some(ty));
                self.feed(n);
            }
            52..=57 => self.call(callees, me),
            58..=65 if room >= 4 => self.diamond(),
            66..=71 if room >= 3 => self.loop_(),
            72..=79 if room >= 3 => self.memory(types),
            80..=85 if room >= 2 => {
                let (ty, field_ty) =
                    if self.rng.random_bool(0.5) { (types.point, TypeId::F64) } else { (types.pair, TypeId::I64) };
                let make = self.add(StructuredOp::StructCreate { type_id: ty }.into(), Some(ty));
                self.feed(make);
                self.feed(make);
                let field_index = self.rng.random_range(0..2);
                let get = self.add(StructuredOp::StructGet { field_index }.into(), Some(field_ty));
                self.wire(make, get, ty);
            }
            86..=88 => {
                let variant_index = self.rng.random_range(0..3u32);
                let op = StructuredOp::EnumCreate { type_id: types.shape, variant_index };
                let n = self.add(op.into(), Some(types.shape));
                // Dot and Span carry a payload, Empty none.
                if variant_index < 2 {
                    self.feed(n);
                }
            }
            89..=93 => {
                let op = match self.rng.random_range(0..3) {
                    0 => ComputeOp::Precondition { message: format!("f{index}: input in range") },
                    1 => ComputeOp::Postcondition { message: format!("f{index}: result checked") },
                    _ => ComputeOp::Invariant { target_type: types.pair, message: "first <= second".into() },
                };
                let n = self.add(op.into(), None);
                self.feed(n);
                self.sequence(n);
            }
            _ => {
                let op = match self.rng.random_range(0..3) {
                    0 => ComputeOp::Print,
                    1 => ComputeOp::FileWrite,
                    _ => ComputeOp::ReadLine,
                };
                let reads = op == ComputeOp::ReadLine;
                let n = self.add(op.into(), reads.then_some(TypeId::I64));
                if !reads {
                    self.feed(n);
                }
                self.sequence(n);
            }
        }
        if self.len() == before {
            // The drawn statement did not fit: a constant does.
            let (op, ty) = constant(self.rng);
            self.add(op.into(), Some(ty));
        }
    }

    fn binary(&mut self) {
        let rng = &mut *self.rng;
        let op = match rng.random_range(0..4) {
            0 => ComputeOp::BinaryLogic { op: [LogicOp::And, LogicOp::Or, LogicOp::Xor][rng.random_range(0..3)] },
            1 => {
                ComputeOp::Shift { op: [ShiftOp::Shl, ShiftOp::ShrLogical, ShiftOp::ShrArith][rng.random_range(0..3)] }
            }
            _ => ComputeOp::BinaryArith {
                op: [ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div, ArithOp::Rem][rng.random_range(0..5)],
            },
        };
        let n = self.add(op.into(), Some(TypeId::I64));
        self.feed(n);
        self.feed(n);
    }

    /// A call to a recent earlier function, or now and then to itself.
    fn call(&mut self, callees: &[Callee], me: &Callee) {
        let recursive = callees.is_empty() || self.rng.random_range(0..40) == 0;
        let callee = if recursive {
            me
        } else {
            &callees[self.rng.random_range(callees.len().saturating_sub(CALLEE_WINDOW)..callees.len())]
        };
        let n = self.add(ComputeOp::Call { target: callee.id }.into(), Some(callee.ret));
        for _ in &callee.params {
            self.feed(n);
        }
        self.sequence(n);
    }

    /// `if c { a } else { b }`: the branch, two arms, and a `Phi` joining them.
    fn diamond(&mut self) {
        let branch = self.add(ComputeOp::IfElse.into(), None);
        self.feed(branch);
        let then = self.add(ComputeOp::BinaryArith { op: ArithOp::Add }.into(), Some(TypeId::I64));
        self.feed(then);
        let other = self.add(ComputeOp::BinaryArith { op: ArithOp::Sub }.into(), Some(TypeId::I64));
        self.feed(other);
        let phi = self.add(ComputeOp::Phi.into(), Some(TypeId::I64));
        self.wire(then, phi, TypeId::I64);
        self.wire(other, phi, TypeId::I64);
        self.control(branch, then, Some(0));
        self.control(branch, other, Some(1));
        self.control(then, phi, None);
        self.control(other, phi, None);
        self.last = Some(phi);
    }

    /// A loop: the header, a body step, and a `Jump` back to the header (a control
    /// cycle); the next statement leaves from the header.
    fn loop_(&mut self) {
        let head = self.add(ComputeOp::Loop.into(), None);
        let step = self.add(ComputeOp::BinaryArith { op: ArithOp::Add }.into(), Some(TypeId::I64));
        self.feed(step);
        self.feed(step);
        let jump = self.add(ComputeOp::Jump.into(), None);
        self.sequence(head);
        self.control(head, step, Some(0));
        self.control(step, jump, None);
        self.control(jump, head, None);
    }

    /// `Alloc`, a `Store` through the pointer, a `Load` after it.
    fn memory(&mut self, types: &Types) {
        let alloc = self.add(ComputeOp::Alloc.into(), Some(types.ptr_i64));
        let store = self.add(ComputeOp::Store.into(), None);
        self.wire(alloc, store, types.ptr_i64);
        self.feed(store);
        let load = self.add(ComputeOp::Load.into(), Some(TypeId::I64));
        self.wire(alloc, load, types.ptr_i64);
        self.control(store, load, None);
    }

    /// Builds closure `c` from two captured values and calls it on a third.
    fn use_closure(&mut self, types: &Types, c: FunctionId) {
        let make = self.add(ComputeOp::MakeClosure { function: c }.into(), Some(types.closure));
        self.feed(make);
        self.feed(make);
        let call = self.add(ComputeOp::IndirectCall.into(), Some(TypeId::F64));
        self.wire(make, call, types.closure);
        self.feed(call);
        self.sequence(call);
    }

    /// Adds data and control edges until the program so far, this body included, has
    /// its share of both: data edges into free operand slots from the few nodes before,
    /// control edges a few nodes forward and, one in eight, back. Then counts the body
    /// into the tally.
    fn top_up(&mut self, tally: &mut Tally, size: usize) {
        let nodes = tally.nodes + size;
        let data_goal = ((nodes as f64 * DATA_PER_NODE).round() as usize).saturating_sub(tally.data);
        let control_goal = ((nodes as f64 * CONTROL_PER_NODE).round() as usize).saturating_sub(tally.control);
        if self.len() >= 2 {
            self.add_edges(data_goal, control_goal);
        }
        self.count_into(tally);
    }

    fn count_into(&self, tally: &mut Tally) {
        tally.nodes += self.len();
        tally.data += self.data;
        tally.control += self.control;
    }

    fn add_edges(&mut self, data_goal: usize, control_goal: usize) {
        let mut attempts = 0;
        while self.data < data_goal && attempts < self.len() * 4 {
            attempts += 1;
            let target = self.rng.random_range(1..self.len());
            self.feed(target);
        }
        while self.control < control_goal {
            let a = self.rng.random_range(0..self.len() - 1);
            let b = (a + self.rng.random_range(1..=4)).min(self.len() - 1);
            let (from, to) = if self.rng.random_range(0..8) == 0 { (b, a) } else { (a, b) };
            self.control(from, to, None);
        }
    }
}

fn scalar(rng: &mut ChaCha8Rng) -> TypeId {
    [TypeId::I64, TypeId::I64, TypeId::I32, TypeId::F64, TypeId::BOOL][rng.random_range(0..5)]
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
