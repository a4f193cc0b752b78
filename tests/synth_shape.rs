//! The generator produces the workload of design.md section 4: valid, of the stated
//! shape, exactly as many nodes as asked, the same program for the same seed; and its
//! one-node edit touches one node.

use lmlang_storage::graph::{ChangeSet, ProgramGraph};
use lmlang_storage::model::{ComputeNodeOp, ComputeOp, ConstValue, FlowEdge, ModuleId};
use lmlang_storage::synth::{MAX_FUNCTION_NODES, MIN_FUNCTION_NODES, SynthConfig, generate, one_node_edit};
use std::collections::BTreeMap;

/// Nodes per function, a closure's nodes counted with the function that defines it (as
/// the generator sizes them).
fn function_sizes(g: &ProgramGraph) -> Vec<usize> {
    let mut sizes: BTreeMap<_, usize> = BTreeMap::new();
    for f in g.functions() {
        let home = f.parent_function.unwrap_or(f.id);
        *sizes.entry(home).or_default() += g.function_nodes(f.id).count();
    }
    sizes.into_values().collect()
}

#[test]
fn the_100k_program_validates_and_has_the_stated_shape() {
    let g = generate(&SynthConfig { nodes: 100_000, seed: 42, gaps: false });
    let violations = g.validate();
    assert!(violations.is_empty(), "{:?}", &violations[..3.min(violations.len())]);
    assert_eq!(g.node_count(), 100_000);

    let sizes = function_sizes(&g);
    let mean = g.node_count() as f64 / sizes.len() as f64;
    let per_node = |n: usize| n as f64 / g.node_count() as f64;
    let data = g.edges().filter(|e| e.edge.is_data()).count();
    let control = g.edge_count() - data;
    let closures = g.functions().filter(|f| f.is_closure).count();
    println!(
        "100k program: {} functions + {closures} closures, nodes per function {mean:.1} (min {}, max {}), \
         edges per node {:.3} (data {:.3}, control {:.3}), data share {:.3}, modules {}, named types {}",
        sizes.len(),
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap(),
        per_node(g.edge_count()),
        per_node(data),
        per_node(control),
        data as f64 / g.edge_count() as f64,
        g.modules().len(),
        g.types().named().count(),
    );
    assert_eq!(g.modules().len(), 5, "the root and four children");
    assert_eq!(g.modules().children(ModuleId::ROOT).count(), 4);
    assert!((122.0..=132.0).contains(&mean), "mean nodes per function {mean}");
    assert!(sizes.iter().all(|s| (MIN_FUNCTION_NODES..=MAX_FUNCTION_NODES).contains(s)), "sizes within 54..=200");
    assert!((1.74..=1.78).contains(&per_node(g.edge_count())), "edges per node");
    assert!((0.69..=0.71).contains(&(data as f64 / g.edge_count() as f64)), "data share");
    assert!(closures * 20 >= sizes.len(), "about one function in sixteen has a closure");
    for name in ["Point", "Pair", "Shape"] {
        assert!(g.types().lookup(name).is_some(), "named type {name}");
    }
}

#[test]
fn generated_bodies_have_the_realistic_op_mix() {
    let g = generate(&SynthConfig::new(20_000).with_seed(3));
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, n) in g.nodes() {
        *kinds.entry(n.op.kind()).or_default() += 1;
    }
    println!("op mix of 20k nodes: {kinds:?}");
    for kind in [
        "Parameter",
        "Const",
        "BinaryArith",
        "BinaryLogic",
        "Shift",
        "UnaryArith",
        "Not",
        "Compare",
        "Call",
        "IfElse",
        "Phi",
        "Loop",
        "Jump",
        "Alloc",
        "Store",
        "Load",
        "StructCreate",
        "StructGet",
        "EnumCreate",
        "Cast",
        "Precondition",
        "Postcondition",
        "Invariant",
        "Print",
        "MakeClosure",
        "IndirectCall",
        "CaptureAccess",
        "Return",
    ] {
        assert!(kinds.get(kind).copied().unwrap_or(0) > 0, "no {kind} node");
    }
    let floats = g
        .nodes()
        .filter(|(_, n)| {
            matches!(n.op, ComputeNodeOp::Core(ComputeOp::Const { value: ConstValue::F32(_) | ConstValue::F64(_) }))
        })
        .count();
    assert!(floats > 0, "float constants");
    // Each body ends in one Return and starts at its entry node.
    for f in g.functions() {
        let returns = g.function_nodes(f.id).filter(|n| g.node(*n).unwrap().op.kind() == "Return").count();
        assert_eq!(returns, 1, "{} has one Return", f.name);
        assert_eq!(f.entry_node, g.function_nodes(f.id).next());
    }
    // Loops close control cycles: a Jump with a control edge back to an earlier Loop.
    let back_edges = g
        .edges()
        .filter(|e| matches!(e.edge, FlowEdge::Control { .. }) && e.target < e.source)
        .filter(|e| g.node(e.target).unwrap().op.kind() == "Loop")
        .count();
    assert!(back_edges > 0);
    // Calls go to earlier functions or recursively to the caller.
    for (_, n) in g.nodes() {
        if let ComputeNodeOp::Core(ComputeOp::Call { target }) = n.op {
            assert!(target <= n.owner);
        }
    }
}

#[test]
fn any_size_gives_exactly_that_many_nodes() {
    for seed in 0..6 {
        for n in [0, 1, 2, 3, 7, 53, 54, 55, 199, 200, 201, 253, 254, 255, 400, 1_000, 1_234] {
            let g = generate(&SynthConfig::new(n).with_seed(seed));
            assert_eq!(g.node_count(), n, "seed {seed}");
            assert!(g.validate().is_empty(), "{n} nodes, seed {seed}");
            if n >= MIN_FUNCTION_NODES {
                let sizes = function_sizes(&g);
                assert!(
                    sizes.iter().all(|s| (MIN_FUNCTION_NODES..=MAX_FUNCTION_NODES).contains(s)),
                    "{n} nodes, seed {seed}: {sizes:?}"
                );
            }
        }
    }
}

#[test]
fn gaps_delete_five_percent_and_the_seed_decides_everything() {
    let cfg = SynthConfig::new(20_000).with_seed(9).with_gaps(true);
    let a = generate(&cfg);
    let b = generate(&cfg);
    assert_eq!(a, b, "same seed, same program");
    assert_eq!(a.next_ids().node, 20_000);
    assert_eq!(a.node_count(), 19_000, "exactly 5 % deleted");
    let holes: Vec<u32> =
        (0..a.next_ids().node).filter(|i| a.node(lmlang_storage::model::NodeId(*i)).is_none()).collect();
    assert!(holes.first() < Some(&1_000) && holes.last() > Some(&19_000), "holes spread over the id space");
    assert!(a.validate().is_empty());
    let c = generate(&cfg.with_seed(10));
    assert_ne!(a, c);
    let full = generate(&cfg.with_gaps(false));
    assert_eq!(full.node_count(), 20_000);
    assert_eq!(SynthConfig::default(), SynthConfig::new(100_000));
}

#[test]
fn the_one_node_edit_changes_one_constant_and_nothing_else() {
    let mut g = generate(&SynthConfig::new(5_000).with_seed(4).with_gaps(true));
    let mut twin = g.clone();
    let before = g.clone();
    let revision = g.revision();
    let edited = one_node_edit(&mut g, 77).unwrap();
    assert_eq!(one_node_edit(&mut twin, 77), Some(edited), "the seed picks the node");
    assert_eq!(g, twin, "and the new value");
    assert_eq!(g.changes_since(revision), ChangeSet { nodes: vec![edited], ..ChangeSet::default() });
    let (old, new) = (&before.node(edited).unwrap().op, &g.node(edited).unwrap().op);
    match (old, new) {
        (ComputeNodeOp::Core(ComputeOp::Const { value: a }), ComputeNodeOp::Core(ComputeOp::Const { value: b })) => {
            assert_eq!(a.tag(), b.tag(), "same type of constant");
            assert_ne!(a, b, "another value");
        }
        other => panic!("{other:?}"),
    }
    assert!(g.validate().is_empty());
    let mut empty = ProgramGraph::new("p");
    assert_eq!(one_node_edit(&mut empty, 1), None);
}
