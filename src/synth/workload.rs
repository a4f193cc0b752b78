//! The program-level part of the generator: configuration, modules and types, function
//! sizes, deletions, and the benchmarks' one-node edit. Function bodies are in `body`.

use super::body::{Callee, FunctionPlan, Tally, Types, build_function};
use crate::graph::ProgramGraph;
use crate::model::{
    ComputeNodeOp, ComputeOp, ConstValue, EnumDef, EnumVariant, LmType, ModuleId, NodeId, StructDef, TypeId, Visibility,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Smallest function the generator makes (except when the whole program is smaller).
/// With [`MAX_FUNCTION_NODES`] it gives the design document's average of 127 nodes.
pub const MIN_FUNCTION_NODES: usize = 54;

/// Largest function the generator makes.
pub const MAX_FUNCTION_NODES: usize = 200;

/// Share of the nodes deleted by the `gaps` variant.
const GAP_SHARE: f64 = 0.05;

/// What to generate. The same config always gives the same program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthConfig {
    /// Compute nodes to create, before the `gaps` deletions; the program has exactly
    /// this many (benchmarks quote figures per node count).
    pub nodes: usize,
    /// Seed of the random stream, so that two runs can compare the same program.
    pub seed: u64,
    /// Delete 5 % of the nodes afterwards, as the design's "variant with holes".
    pub gaps: bool,
}

impl SynthConfig {
    /// A config for `nodes` nodes with seed 1 and no gaps.
    pub fn new(nodes: usize) -> Self {
        SynthConfig { nodes, seed: 1, gaps: false }
    }

    /// The same config with another seed.
    pub fn with_seed(self, seed: u64) -> Self {
        SynthConfig { seed, ..self }
    }

    /// The same config with or without the 5 % deletions.
    pub fn with_gaps(self, gaps: bool) -> Self {
        SynthConfig { gaps, ..self }
    }
}

impl Default for SynthConfig {
    /// The design document's reference program: 100k nodes, seed 1, no gaps.
    fn default() -> Self {
        SynthConfig::new(100_000)
    }
}

/// Generates the program a config describes (see the module documentation for its
/// shape). Costs time linear in `cfg.nodes`.
///
/// The editing API refuses nothing the generator asks for, so the program is whole; the
/// `expect`s in the generator guard that property of this code, not of any input.
pub fn generate(cfg: &SynthConfig) -> ProgramGraph {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut g = ProgramGraph::new("root");
    let modules: Vec<ModuleId> = ["core", "math", "io", "data"]
        .iter()
        .map(|m| g.add_module(ModuleId::ROOT, m, Visibility::Public).expect("fresh module name"))
        .collect();
    let types = register_types(&mut g, modules[3]);
    let mut callees: Vec<Callee> = Vec::new();
    let mut tally = Tally::default();
    for (index, size) in function_sizes(&mut rng, cfg.nodes).into_iter().enumerate() {
        let module = if index == 0 { ModuleId::ROOT } else { modules[index % modules.len()] };
        let callee =
            build_function(&mut g, &mut rng, &types, &callees, &mut tally, FunctionPlan { index, module, size });
        callees.push(callee);
    }
    if cfg.gaps {
        delete_share(&mut g, &mut rng, GAP_SHARE);
    }
    g
}

/// Splits `total` nodes into function sizes drawn uniformly from
/// `MIN_FUNCTION_NODES..=MAX_FUNCTION_NODES`. A draw that would leave a remainder too
/// small for a function of its own is shortened instead, so only a program smaller than
/// `MIN_FUNCTION_NODES` has a smaller function.
fn function_sizes(rng: &mut ChaCha8Rng, total: usize) -> Vec<usize> {
    let mut sizes = Vec::with_capacity(total / 127 + 1);
    let mut remaining = total;
    while remaining > 0 {
        if remaining <= MAX_FUNCTION_NODES {
            sizes.push(remaining);
            break;
        }
        let mut size = rng.random_range(MIN_FUNCTION_NODES..=MAX_FUNCTION_NODES);
        if remaining - size < MIN_FUNCTION_NODES {
            // remaining > MAX, so this stays within MIN..=MAX.
            size = remaining - MIN_FUNCTION_NODES;
        }
        sizes.push(size);
        remaining -= size;
    }
    sizes
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
    let variants = [("Dot", Some(point)), ("Span", Some(pair)), ("Empty", None)];
    let shape = g
        .register_named(
            "Shape",
            LmType::Enum(EnumDef {
                name: String::new(),
                type_id: TypeId(0),
                variants: variants
                    .iter()
                    .enumerate()
                    .map(|(i, (n, payload))| (n.to_string(), EnumVariant { index: i as u32, payload: *payload }))
                    .collect(),
                module,
                visibility: Visibility::Public,
            }),
        )
        .expect("fresh type");
    let ptr_i64 = g.register_type(LmType::Pointer { pointee: TypeId::I64, mutable: true }).expect("built-in pointee");
    let closure = g
        .register_type(LmType::Function { params: vec![TypeId::F64], return_type: TypeId::F64 })
        .expect("built-in parameter types");
    Types { point, pair, shape, ptr_i64, closure }
}

/// Removes `share` of the live nodes (rounded), chosen uniformly without replacement.
fn delete_share(g: &mut ProgramGraph, rng: &mut ChaCha8Rng, share: f64) {
    let mut ids: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
    let count = (ids.len() as f64 * share).round() as usize;
    let (chosen, _) = ids.partial_shuffle(rng, count);
    let mut chosen = chosen.to_vec();
    chosen.sort();
    for id in chosen {
        g.remove_compute_node(id).expect("a live node, chosen once");
    }
}

/// The benchmarks' "one-node edit": changes the value of one constant, chosen by
/// `seed`, to another value of the same type. Returns the node edited, or `None` when
/// the program has no constant other than `Unit`.
///
/// It looks for a constant by probing random ids first (about one node in seven is a
/// constant), so its cost does not grow with the program and a timed edit measures the
/// edit, not a scan.
pub fn one_node_edit(g: &mut ProgramGraph, seed: u64) -> Option<NodeId> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bound = g.next_ids().node;
    if bound == 0 {
        return None;
    }
    let constant_at = |g: &ProgramGraph, id: NodeId| match g.node(id).map(|n| &n.op) {
        Some(ComputeNodeOp::Core(ComputeOp::Const { value })) if *value != ConstValue::Unit => Some((id, *value)),
        _ => None,
    };
    let probed = (0..256).find_map(|_| constant_at(g, NodeId(rng.random_range(0..bound))));
    let (id, old) = probed.or_else(|| g.nodes().find_map(|(id, _)| constant_at(g, id)))?;
    let value = perturb(old, &mut rng);
    g.modify_compute_node_op(id, ComputeOp::Const { value }.into()).ok()?;
    Some(id)
}

/// Another value of the same type (so the edges carrying it stay correctly typed).
fn perturb(value: ConstValue, rng: &mut ChaCha8Rng) -> ConstValue {
    let step: i64 = rng.random_range(1..1000);
    match value {
        ConstValue::Bool(b) => ConstValue::Bool(!b),
        ConstValue::I8(v) => ConstValue::I8(v.wrapping_add(step as i8 | 1)),
        ConstValue::I16(v) => ConstValue::I16(v.wrapping_add(step as i16)),
        ConstValue::I32(v) => ConstValue::I32(v.wrapping_add(step as i32)),
        ConstValue::I64(v) => ConstValue::I64(v.wrapping_add(step)),
        // A step too small to change a huge float flips the sign instead.
        ConstValue::F32(v) => ConstValue::F32(match v + step as f32 {
            n if n.is_finite() && n != v => n,
            _ if v.is_finite() && v != 0.0 => -v,
            _ => step as f32,
        }),
        ConstValue::F64(v) => ConstValue::F64(match v + step as f64 {
            n if n.is_finite() && n != v => n,
            _ if v.is_finite() && v != 0.0 => -v,
            _ => step as f64,
        }),
        ConstValue::Unit => ConstValue::Unit,
    }
}
