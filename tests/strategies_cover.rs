//! The random-program strategy must actually produce what the property tests claim to
//! cover (nodes, edges of both kinds, closures, named types, holes), or those tests
//! would pass vacuously.

mod common;

use lmlang_storage::model::FlowEdge;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

#[test]
fn random_programs_cover_the_model() {
    let mut runner = TestRunner::deterministic();
    let (mut nodes, mut data, mut control, mut closures, mut named, mut holes, mut modules) = (0, 0, 0, 0, 0, 0, 0);
    for _ in 0..200 {
        let g = common::arb_program().new_tree(&mut runner).unwrap().current();
        assert!(g.validate().is_empty());
        nodes += g.node_count();
        data += g.edges().filter(|e| matches!(e.edge, FlowEdge::Data { .. })).count();
        control += g.edges().filter(|e| matches!(e.edge, FlowEdge::Control { .. })).count();
        closures += g.functions().filter(|f| f.is_closure).count();
        named += g.types().named().count();
        holes += g.next_ids().node as usize - g.node_count();
        modules += g.modules().len() - 1;
    }
    println!(
        "200 programs: {nodes} nodes, {data} data edges, {control} control edges, {closures} closures, {named} named types, {holes} holes, {modules} modules"
    );
    for (what, n) in [
        ("nodes", nodes),
        ("data edges", data),
        ("control edges", control),
        ("closures", closures),
        ("named types", named),
        ("holes", holes),
        ("modules", modules),
    ] {
        assert!(n >= 100, "too few {what}: {n}");
    }
}
