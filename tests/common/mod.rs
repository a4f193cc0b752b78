//! Shared test support: proptest strategies for random valid programs and random edit
//! scripts. A program is grown by interpreting a list of random choices through the
//! public editing API; edits the API refuses are skipped, so every result is valid.

#![allow(dead_code)]

use lmlang_storage::graph::ProgramGraph;
use lmlang_storage::model::*;
use proptest::prelude::*;

/// Names that stress quoting and encodings.
const ODD_NAMES: &[&str] = &["select", "it's", "say \"hi\"", "drop table x;", "λ_ü", "名前", "a b", "--"];

fn pick<T: Copy>(items: &[T], k: u32) -> T {
    items[k as usize % items.len()]
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
        8 => ConstValue::F32(pick(&[f32::NAN, f32::INFINITY, -0.0f32, f32::from_bits(0xffc0_0001)], bits as u32)),
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
        39 if !enums.is_empty() => StructuredOp::EnumCreate { type_id: pick(&enums, b), variant_index: 0 }.into(),
        40 => StructuredOp::EnumDiscriminant.into(),
        41 => StructuredOp::EnumPayload { variant_index: b % 2 }.into(),
        _ => core(ComputeOp::Print),
    }
}

/// Applies one random edit; refused edits are simply skipped.
pub fn apply_step(g: &mut ProgramGraph, step: (u32, u32, u64)) {
    let (kind, k, bits) = step;
    let b = bits as u32;
    let modules: Vec<ModuleId> = g.modules().iter().map(|m| m.id).collect();
    let functions: Vec<FunctionId> = g.functions().map(|f| f.id).collect();
    let nodes: Vec<NodeId> = g.nodes().map(|(id, _)| id).collect();
    let types: Vec<TypeId> = g.types().iter().map(|(id, _)| id).collect();
    let vis = if b & 1 == 0 { Visibility::Public } else { Visibility::Private };
    let _ = match kind % 100 {
        0..=3 => {
            g.add_module(pick(&modules, k), &format!("m{b}_{}", pick(ODD_NAMES, k).replace("::", "")), vis).map(drop)
        }
        4..=6 => {
            let fields: Vec<(String, TypeId)> =
                (0..(b % 4)).map(|i| (format!("{}{i}", pick(ODD_NAMES, k + i)), pick(&types, k + i))).collect();
            let def = StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: fields.into_iter().collect(),
                module: pick(&modules, b),
                visibility: vis,
            };
            g.register_named(&format!("S{b}"), LmType::Struct(def)).map(drop)
        }
        7 => {
            let variants = (0..(1 + b % 3))
                .map(|i| (format!("V{i}"), EnumVariant { index: i, payload: (i % 2 == 1).then(|| pick(&types, k)) }))
                .collect();
            let def = EnumDef {
                name: String::new(),
                type_id: TypeId(0),
                variants,
                module: pick(&modules, k),
                visibility: vis,
            };
            g.register_named(&format!("E{b}"), LmType::Enum(def)).map(drop)
        }
        8 => g.register_type(LmType::Array { element: pick(&types, k), length: b % 8 }).map(drop),
        9..=15 => {
            let params = (0..(b % 3)).map(|i| (format!("p{i}"), pick(&types, k + i))).collect();
            g.add_function(pick(&modules, k), &format!("f{b}"), vis, params, pick(&types, b)).map(drop)
        }
        16..=18 if !functions.is_empty() => {
            let captures = (0..(b % 3))
                .map(|i| Capture {
                    name: format!("c{i}"),
                    captured_type: pick(&types, k + i),
                    mode: pick(&[CaptureMode::ByValue, CaptureMode::ByRef, CaptureMode::ByMutRef], k + i),
                })
                .collect();
            g.add_closure(pick(&functions, k), &format!("closure{b}"), vec![], pick(&types, k), captures).map(drop)
        }
        19..=59 if !functions.is_empty() => {
            let o = op(g, k, bits);
            g.add_compute_node(pick(&functions, b), o).map(drop)
        }
        60..=79 if !nodes.is_empty() => {
            // Both ends in one function; data edges run from a lower to a higher id,
            // so most of them keep the data graph acyclic and are accepted.
            let a = pick(&nodes, k);
            let owner = g.node(a).map(|n| n.owner).unwrap_or(FunctionId(0));
            let own: Vec<NodeId> = g.function_nodes(owner).collect();
            let c = pick(&own, b);
            if kind % 3 != 0 {
                let (from, to) = if a <= c { (a, c) } else { (c, a) };
                g.add_data_edge(from, to, (b % 3) as u16, (k % 4) as u16, pick(&types, k ^ b)).map(drop)
            } else {
                let branch = if b % 3 == 0 { None } else { Some((b % 4) as u16) };
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
        _ => Ok(()),
    };
}

/// Random edit steps.
pub fn arb_steps(max: usize) -> impl Strategy<Value = Vec<(u32, u32, u64)>> {
    prop::collection::vec((any::<u32>(), any::<u32>(), any::<u64>()), 1..max)
}

/// Random valid programs of up to a few dozen nodes, with modules, named types,
/// closures, every op, control cycles, and deletions leaving holes.
pub fn arb_program() -> impl Strategy<Value = ProgramGraph> {
    // Bias early steps towards structure so bodies have something to live in.
    (arb_steps(25), arb_steps(90)).prop_map(|(setup, body)| {
        let mut g = ProgramGraph::new("root");
        for (kind, k, bits) in setup {
            apply_step(&mut g, (kind % 19, k, bits));
        }
        for step in body {
            apply_step(&mut g, step);
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
