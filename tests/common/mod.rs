//! Shared test support: proptest strategies for random valid programs and random edit
//! scripts, and a watchdog for calls that must never hang. A program is grown by
//! interpreting a list of random choices through the public editing API; edits the API
//! refuses are skipped, so every result is valid.

#![allow(dead_code)]

use lmlang_storage::graph::{GraphError, ProgramGraph};
use lmlang_storage::model::*;
use proptest::prelude::*;

/// Names that stress quoting and encodings.
const ODD_NAMES: &[&str] = &["select", "it's", "say \"hi\"", "drop table x;", "λ_ü", "名前", "a b", "--"];

fn pick<T: Copy>(items: &[T], k: u32) -> T {
    items[k as usize % items.len()]
}

/// `S17`, or now and then `S17select` or `S17名前`: a fresh-ish name that is sometimes
/// awkward for storage (quotes, SQL keywords, non-ASCII).
fn odd_name(prefix: &str, b: u32, k: u32) -> String {
    if k.is_multiple_of(4) { format!("{prefix}{b}{}", pick(ODD_NAMES, k / 4)) } else { format!("{prefix}{b}") }
}

fn const_value(k: u32, bits: u64) -> ConstValue {
    match k % 10 {
        0 => ConstValue::Bool(bits & 1 == 1),
        1 => ConstValue::I8(bits as i8),
        2 => ConstValue::I16(bits as i16),
        3 => ConstValue::I32(bits as i32),
        4 => ConstValue::I64(bits as i64),
        5 => ConstValue::F32(f32::from_bits(bits as u32)),
        6 => ConstValue::F64(f64::from_bits(bits)),
        7 => ConstValue::F64(pick(
            &[f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::from_bits(0x7ff0_0000_0000_0001)],
            bits as u32,
        )),
        8 => ConstValue::F32(pick(
            &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0f32, f32::from_bits(0xffc0_0001)],
            bits as u32,
        )),
        _ => ConstValue::Unit,
    }
}

/// An op drawn from every variant; references pick among existing entities.
fn op(g: &ProgramGraph, k: u32, bits: u64) -> ComputeNodeOp {
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let closures: Vec<FunctionId> = g.functions().filter(|f| f.is_closure).map(|f| f.id).collect();
    let structs: Vec<TypeId> =
        g.types().iter().filter(|(_, t)| matches!(t, LmType::Struct(_))).map(|(id, _)| id).collect();
    let enums: Vec<TypeId> = g.types().iter().filter(|(_, t)| matches!(t, LmType::Enum(_))).map(|(id, _)| id).collect();
    let any_type = TypeId((bits % g.types().len() as u64) as u32);
    let b = bits as u32;
    let core = |op: ComputeOp| ComputeNodeOp::Core(op);
    match k % 42 {
        0 => core(ComputeOp::Const { value: const_value(b, bits.rotate_left(7)) }),
        1 => core(ComputeOp::Parameter { index: b % 4 }),
        2 => core(ComputeOp::BinaryArith {
            op: pick(&[ArithOp::Add, ArithOp::Sub, ArithOp::Mul, ArithOp::Div, ArithOp::Rem], b),
        }),
        3 => core(ComputeOp::UnaryArith { op: pick(&[UnaryArithOp::Neg, UnaryArithOp::Abs], b) }),
        4 => core(ComputeOp::Compare {
            op: pick(&[CmpOp::Eq, CmpOp::Ne, CmpOp::Lt, CmpOp::Le, CmpOp::Gt, CmpOp::Ge], b),
        }),
        5 => core(ComputeOp::BinaryLogic { op: pick(&[LogicOp::And, LogicOp::Or, LogicOp::Xor], b) }),
        6 => core(ComputeOp::Not),
        7 => core(ComputeOp::Shift { op: pick(&[ShiftOp::Shl, ShiftOp::ShrLogical, ShiftOp::ShrArith], b) }),
        8 => core(ComputeOp::IfElse),
        9 => core(ComputeOp::Loop),
        10 => core(ComputeOp::Match),
        11 => core(ComputeOp::Branch),
        12 => core(ComputeOp::Jump),
        13 => core(ComputeOp::Phi),
        14 => core(ComputeOp::Alloc),
        15 => core(ComputeOp::Load),
        16 => core(ComputeOp::Store),
        17 => core(ComputeOp::GetElementPtr),
        18 if !functions.is_empty() => core(ComputeOp::Call { target: pick(&functions, b) }),
        19 => core(ComputeOp::IndirectCall),
        20 => core(ComputeOp::Return),
        21 => core(ComputeOp::Print),
        22 => core(ComputeOp::ReadLine),
        23 => core(ComputeOp::FileOpen),
        24 => core(ComputeOp::FileRead),
        25 => core(ComputeOp::FileWrite),
        26 => core(ComputeOp::FileClose),
        27 if !closures.is_empty() => core(ComputeOp::MakeClosure { function: pick(&closures, b) }),
        28 => core(ComputeOp::CaptureAccess { index: b % 3 }),
        29 => core(ComputeOp::Precondition { message: pick(ODD_NAMES, b).to_string() }),
        30 => core(ComputeOp::Postcondition { message: format!("post {b}") }),
        31 => core(ComputeOp::Invariant { target_type: any_type, message: "inv".into() }),
        32 if !structs.is_empty() => StructuredOp::StructCreate { type_id: pick(&structs, b) }.into(),
        33 => StructuredOp::StructGet { field_index: b % 3 }.into(),
        34 => StructuredOp::StructSet { field_index: b % 3 }.into(),
        35 => StructuredOp::ArrayCreate { length: b % 16 }.into(),
        36 => StructuredOp::ArrayGet.into(),
        37 => StructuredOp::ArraySet.into(),
        38 => StructuredOp::Cast { target_type: any_type }.into(),
        39 if !enums.is_empty() => {
            let type_id = pick(&enums, b);
            let variants = match g.types().get(type_id) {
                Some(LmType::Enum(def)) => def.variants.len() as u32,
                _ => 1,
            };
            StructuredOp::EnumCreate { type_id, variant_index: (b >> 8) % variants.max(1) }.into()
        }
        40 => StructuredOp::EnumDiscriminant.into(),
        41 => StructuredOp::EnumPayload { variant_index: b % 2 }.into(),
        _ => core(ComputeOp::Print),
    }
}

/// Applies one random edit; refused edits are simply skipped.
pub fn apply_step(g: &mut ProgramGraph, step: Step) {
    let _ = try_step(g, step);
}

/// Applies one random edit and returns what the API said; a step that draws no edit
/// (say, a call with no function to call) is `Ok` and changes nothing.
pub fn try_step(g: &mut ProgramGraph, step: Step) -> Result<(), GraphError> {
    let (kind, k, bits) = step;
    let b = bits as u32;
    let modules: Vec<ModuleId> = g.modules().iter().map(|m| m.id).collect();
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let nodes: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
    let types: Vec<TypeId> = g.types().iter().map(|(id, _)| id).collect();
    let vis = if b & 1 == 0 { Visibility::Public } else { Visibility::Private };
    match kind % 100 {
        0..=3 => {
            g.add_module(pick(&modules, k), &format!("m{b}_{}", pick(ODD_NAMES, k).replace("::", "")), vis).map(drop)
        }
        4..=6 => {
            let fields: Vec<(String, TypeId)> = (0..(b % 4))
                .map(|i| (format!("{}{i}", pick(ODD_NAMES, k.wrapping_add(i))), pick(&types, k.wrapping_add(i))))
                .collect();
            let def = StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: fields.into_iter().collect(),
                module: pick(&modules, b),
                visibility: vis,
            };
            g.register_named(&odd_name("S", b, k), LmType::Struct(def)).map(drop)
        }
        7 => {
            // Names drawn out of alphabetical order, so a store that sorts them loses.
            let variants = (0..(1 + b % 3))
                .map(|i| {
                    let name = format!("{}{i}", pick(ODD_NAMES, k.wrapping_add(i * 3)));
                    (name, EnumVariant { index: i, payload: (i % 2 == 1).then(|| pick(&types, k.wrapping_add(i))) })
                })
                .collect();
            let def = EnumDef {
                name: String::new(),
                type_id: TypeId(0),
                variants,
                module: pick(&modules, k),
                visibility: vis,
            };
            g.register_named(&odd_name("E", b, k), LmType::Enum(def)).map(drop)
        }
        8 => g.register_type(LmType::Array { element: pick(&types, k), length: b % 8 }).map(drop),
        9..=15 => {
            let params = (0..(b % 3)).map(|i| (format!("p{i}"), pick(&types, k.wrapping_add(i)))).collect();
            g.add_function(pick(&modules, k), &odd_name("f", b, k), vis, params, pick(&types, b)).map(drop)
        }
        16..=18 if !functions.is_empty() => {
            let captures = (0..(b % 3))
                .map(|i| Capture {
                    name: format!("c{i}"),
                    captured_type: pick(&types, k.wrapping_add(i)),
                    mode: pick(&[CaptureMode::ByValue, CaptureMode::ByRef, CaptureMode::ByMutRef], k.wrapping_add(i)),
                })
                .collect();
            g.add_closure(pick(&functions, k), &format!("closure{b}"), vec![], pick(&types, k), captures).map(drop)
        }
        19..=49 if !functions.is_empty() => {
            // Three in four nodes go to the first three functions, so some bodies grow
            // big enough for interesting edges.
            let f = if b & 0x300 != 0 { pick(&functions[..functions.len().min(3)], b) } else { pick(&functions, b) };
            let o = op(g, k, bits);
            g.add_compute_node(f, o).map(drop)
        }
        50..=79 if !nodes.is_empty() => {
            // Both ends in one function, mostly two distinct nodes (a self loop now and
            // then). Data edges mostly run from a lower to a higher id, which keeps the
            // data graph acyclic; one in eight runs the other way and is refused when it
            // would close a cycle.
            let a = pick(&nodes, k);
            let owner = g.node(a).map(|n| n.owner).unwrap_or(FunctionId(0));
            let own: Vec<NodeId> = g.function_nodes(owner).collect();
            let mut c = pick(&own, b);
            if c == a && own.len() > 1 && b & 0x8 == 0 {
                c = own[(b as usize % own.len() + 1) % own.len()];
            }
            if kind % 3 != 0 {
                let forward = (a <= c) != (b & 0x70 == 0);
                let (from, to) = if forward { (a, c) } else { (c, a) };
                g.add_data_edge(from, to, (b % 3) as u16, (k % 3) as u16, pick(&types, k ^ b)).map(drop)
            } else {
                let branch = if b.is_multiple_of(3) { None } else { Some((b % 4) as u16) };
                g.add_control_edge(a, c, branch).map(drop)
            }
        }
        80..=84 if !nodes.is_empty() => {
            let o = op(g, k, bits);
            g.modify_compute_node_op(pick(&nodes, b), o).map(drop)
        }
        85..=88 if !nodes.is_empty() => g.remove_compute_node(pick(&nodes, k)).map(drop),
        89..=90 => {
            let edges: Vec<EdgeId> = g.edges().map(|e| e.id).collect();
            if edges.is_empty() { Ok(()) } else { g.remove_edge(pick(&edges, k)).map(drop) }
        }
        91..=92 if !functions.is_empty() => {
            let f = pick(&functions, k);
            let own: Vec<NodeId> = g.function_nodes(f).collect();
            g.set_entry_node(f, if own.is_empty() { None } else { Some(pick(&own, b)) })
        }
        93 if !functions.is_empty() => g.remove_function(pick(&functions, k)).map(drop),
        94 if !functions.is_empty() => g.rename_function(pick(&functions, k), &format!("renamed{b}")),
        95 if !functions.is_empty() => g.move_function(pick(&functions, k), pick(&modules, b)),
        96 if !functions.is_empty() => {
            let f = pick(&functions, k);
            g.set_function_signature(f, vec![("x".into(), pick(&types, b))], pick(&types, k))
        }
        97 if modules.len() > 1 => g.rename_module(pick(&modules[1..], k), &format!("mod{b}")),
        98 if modules.len() > 1 => g.remove_module(pick(&modules[1..], k)).map(drop),
        99 if !functions.is_empty() && b & 2 == 0 => g.set_function_visibility(pick(&functions, k), vis),
        99 if !functions.is_empty() => {
            // Refused unless the function is a closure.
            let captures = vec![Capture {
                name: pick(ODD_NAMES, b).to_string(),
                captured_type: pick(&types, k),
                mode: CaptureMode::ByRef,
            }];
            g.set_captures(pick(&functions, k), captures)
        }
        _ => Ok(()),
    }
}

/// One random edit: the kind of edit, and two numbers that pick its targets and values.
pub type Step = (u32, u32, u64);

/// Random edit steps, 1 to `max - 1` of them.
pub fn arb_steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((any::<u32>(), any::<u32>(), any::<u64>()), 1..max)
}

/// A random edit script for an existing program (apply it with [`apply_script`]): every
/// kind of edit, refused ones included, which must then change nothing.
pub fn arb_edit_script() -> impl Strategy<Value = Vec<Step>> {
    arb_steps(60)
}

/// Applies an edit script step by step.
pub fn apply_script(g: &mut ProgramGraph, script: &[Step]) {
    for step in script {
        apply_step(g, *step);
    }
}

/// Turns a step into a deletion (of a node, an edge, an entry node or a function).
fn deletion(step: Step) -> Step {
    (85 + step.0 % 9, step.1, step.2)
}

/// Random valid programs of up to a few dozen nodes, with modules, named types,
/// closures, every op, control cycles, and deletions leaving holes.
pub fn arb_program() -> impl Strategy<Value = ProgramGraph> {
    // Early steps build structure so bodies have something to live in; the last ones
    // delete, so holes (and next ids past the highest live id) are common.
    (arb_steps(25), arb_steps(160), arb_steps(12)).prop_map(|(setup, body, cleanup)| {
        let mut g = ProgramGraph::new("root");
        for (kind, k, bits) in setup {
            apply_step(&mut g, (kind % 19, k, bits));
        }
        apply_script(&mut g, &body);
        for step in cleanup {
            apply_step(&mut g, deletion(step));
        }
        g
    })
}

/// Applies `count` random edits drawn from `seed`.
pub fn apply_random_edits(g: &mut ProgramGraph, seed: u64, count: usize) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..count {
        let (a, b, c) = (next() as u32, next() as u32, next());
        apply_step(g, (a, b, c));
    }
}

/// A program of float constants whose bits are easy to lose: NaNs with payloads and
/// signs, infinities, -0.0, subnormals, extremes, and 2,000 pseudo-random patterns.
pub fn float_program() -> ProgramGraph {
    let mut floats64: Vec<f64> = vec![
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_dead_beef_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        92645.26976402709,
        0.1 + 0.2,
    ];
    let mut floats32: Vec<f32> =
        vec![f32::NAN, f32::from_bits(0xffc0_0001), f32::from_bits(0x7f80_0001), -0.0, f32::from_bits(1), f32::MAX];
    // Pseudo-random bit patterns, every exponent and payload.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        floats64.push(f64::from_bits(x));
        floats32.push(f32::from_bits((x >> 32) as u32));
    }
    let mut g = ProgramGraph::new("floats");
    let f = g.add_function(ModuleId::ROOT, "consts", Visibility::Public, vec![], TypeId::UNIT).expect("function");
    for v in &floats64 {
        g.add_core_op(f, ComputeOp::Const { value: ConstValue::F64(*v) }).expect("f64");
    }
    for v in &floats32 {
        g.add_core_op(f, ComputeOp::Const { value: ConstValue::F32(*v) }).expect("f32");
    }
    g
}

/// The single-row paths keep float bits too: `get_node` of a stored constant, and an
/// update to a NaN with a payload.
pub fn check_single_row_float_paths(
    store: &dyn lmlang_storage::store::GraphStore,
    p: lmlang_storage::store::ProgramId,
    g: &ProgramGraph,
) {
    let (id, node) = g.nodes().next().expect("a node");
    assert_eq!(&store.get_node(p, id).expect("get"), node);
    let nan = ComputeNodeOp::Core(ComputeOp::Const { value: ConstValue::F64(f64::from_bits(0x7ff4_0000_0000_00ff)) });
    store.update_node(p, id, nan.clone()).expect("update");
    assert_eq!(store.get_node(p, id).expect("get").op, nan);
}

/// Read-edit-save cycles from several stores (instances, processes' worth) at once on
/// one program: each store adds `per_store` nodes of its own, one per cycle, with
/// `load_program_with_revision` and `save_program_if_at`, starting a cycle again
/// whenever another store's save came between (`RevisionMoved`, or `Busy` under the
/// contention). Returns the node count the program must then have: every cycle's node,
/// none lost to another's save.
pub fn read_edit_save_cycles(
    stores: &[&dyn lmlang_storage::store::GraphStore],
    program: lmlang_storage::store::ProgramId,
    function: FunctionId,
    per_store: i64,
) -> usize {
    use lmlang_storage::store::StorageError;
    let before = stores[0].load_program(program).expect("load").node_count();
    std::thread::scope(|scope| {
        for (k, store) in stores.iter().enumerate() {
            scope.spawn(move || {
                for i in 0..per_store {
                    // A value of this store's own, so no two stores' graphs are equal.
                    let value = ConstValue::I64(k as i64 * 1_000_000 + i);
                    loop {
                        let (mut g, at) = store.load_program_with_revision(program).expect("load");
                        g.add_core_op(function, ComputeOp::Const { value }).expect("edit");
                        match store.save_program_if_at(program, &g, at) {
                            Ok(_) => break,
                            Err(StorageError::RevisionMoved { .. } | StorageError::Busy) => continue,
                            Err(e) => panic!("save: {e}"),
                        }
                    }
                }
            });
        }
    });
    before + stores.len() * per_store as usize
}

/// Ends the test binary with a message when what it watches hangs for a minute (a
/// regression of a call that must never wait on itself), instead of hanging CI.
pub struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Watchdog {
    pub fn start(what: &'static str) -> Self {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watched = done.clone();
        std::thread::spawn(move || {
            for _ in 0..600 {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if watched.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
            }
            eprintln!("{what} hung for a minute");
            std::process::abort();
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
