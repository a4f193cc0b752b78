//! The generator produces the workload of design.md section 4: valid, and of the
//! stated shape.

use lmlang_storage::model::FlowEdge;
use lmlang_storage::synth::{SynthConfig, generate};

#[test]
fn the_100k_program_validates_and_has_the_stated_shape() {
    let g = generate(&SynthConfig { nodes: 100_000, seed: 42, gaps: false });
    assert!(g.validate().is_empty(), "{:?}", &g.validate()[..3.min(g.validate().len())]);
    assert_eq!(g.node_count(), 100_000);
    let sizes: Vec<usize> = g.functions().filter(|f| !f.is_closure).map(|f| g.function_nodes(f.id).count()).collect();
    let mean = g.node_count() as f64 / sizes.len() as f64;
    let edges = g.edge_count() as f64 / g.node_count() as f64;
    let data = g.edges().filter(|e| matches!(e.edge, FlowEdge::Data { .. })).count() as f64 / g.edge_count() as f64;
    let modules = g.modules().len();
    println!(
        "functions {} (closures {}), nodes per function {mean:.1} (min {}, max {}), edges per node {edges:.3}, data share {data:.3}, modules {modules}",
        sizes.len(),
        g.functions().filter(|f| f.is_closure).count(),
        sizes.iter().min().unwrap(),
        sizes.iter().max().unwrap()
    );
    assert_eq!(modules, 5);
    assert!((120.0..=134.0).contains(&mean), "mean nodes per function {mean}");
    assert!(sizes.iter().all(|s| (50..=206).contains(s)), "function sizes stay in 50..=200 (+closure setup)");
    assert!((1.70..=1.82).contains(&edges), "edges per node {edges}");
    assert!((0.67..=0.73).contains(&data), "data share {data}");
}

#[test]
fn gaps_delete_five_percent_and_the_seed_decides_everything() {
    let a = generate(&SynthConfig { nodes: 20_000, seed: 9, gaps: true });
    let b = generate(&SynthConfig { nodes: 20_000, seed: 9, gaps: true });
    assert_eq!(a, b, "same seed, same program");
    let share = 1.0 - a.node_count() as f64 / a.next_ids().node as f64;
    assert!((0.04..=0.06).contains(&share), "deleted share {share}");
    assert!(a.validate().is_empty());
    let c = generate(&SynthConfig { nodes: 20_000, seed: 10, gaps: true });
    assert_ne!(a, c);
}
