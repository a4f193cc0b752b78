//! The invariants of model.md section 7, each with an accepted and a refused case; id
//! non-reuse; serde round trips; `validate()` on hand-broken graphs; classifiers.

mod common;

use lmlang_storage::graph::{Entity, GraphError, ProgramDocument, ProgramGraph};
use lmlang_storage::model::*;
use proptest::prelude::*;

fn point(module: ModuleId) -> LmType {
    LmType::Struct(StructDef {
        name: String::new(),
        type_id: TypeId(0),
        fields: [("y".to_string(), TypeId::F64), ("x".to_string(), TypeId::F64)].into_iter().collect(),
        module,
        visibility: Visibility::Public,
    })
}

fn two_functions() -> (ProgramGraph, FunctionId, FunctionId) {
    let mut g = ProgramGraph::new("p");
    let f = g.add_function(ModuleId::ROOT, "f", Visibility::Public, vec![], TypeId::I32).unwrap();
    let h = g.add_function(ModuleId::ROOT, "h", Visibility::Public, vec![], TypeId::I32).unwrap();
    (g, f, h)
}

#[test]
fn builtin_types_sit_at_fixed_ids() {
    let g = ProgramGraph::new("p");
    let expected = [
        (TypeId::BOOL, LmType::Scalar(ScalarType::Bool)),
        (TypeId::I8, LmType::Scalar(ScalarType::I8)),
        (TypeId::I16, LmType::Scalar(ScalarType::I16)),
        (TypeId::I32, LmType::Scalar(ScalarType::I32)),
        (TypeId::I64, LmType::Scalar(ScalarType::I64)),
        (TypeId::F32, LmType::Scalar(ScalarType::F32)),
        (TypeId::F64, LmType::Scalar(ScalarType::F64)),
        (TypeId::UNIT, LmType::Unit),
        (TypeId::NEVER, LmType::Never),
    ];
    for (i, (id, ty)) in expected.iter().enumerate() {
        assert_eq!(id.0 as usize, i);
        assert_eq!(g.types().get(*id), Some(ty));
    }
    assert_eq!(g.next_ids().type_, 9);
}

#[test]
fn edges_need_existing_endpoints_in_one_function() {
    let (mut g, f, h) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(1) }).unwrap();
    let b = g.add_core_op(f, ComputeOp::Return).unwrap();
    let c = g.add_core_op(h, ComputeOp::Return).unwrap();
    assert!(g.add_data_edge(a, b, 0, 0, TypeId::I32).is_ok());
    assert_eq!(g.add_control_edge(a, c, None), Err(GraphError::CrossFunctionEdge { from: a, to: c }));
    assert_eq!(g.add_control_edge(a, NodeId(99), None), Err(GraphError::NotFound(Entity::Node(NodeId(99)))));
    assert_eq!(g.add_data_edge(a, b, 0, 1, TypeId(77)), Err(GraphError::NotFound(Entity::Type(TypeId(77)))));
    assert_eq!(g.add_data_edge(a, b, 0, 0, TypeId::I32), Err(GraphError::PortTaken { target: b, port: 0 }));
    assert_eq!(g.edge_count(), 1, "refused edges leave nothing behind");
}

#[test]
fn data_edges_stay_acyclic_while_control_edges_may_loop() {
    let (mut g, f, _) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Not).unwrap();
    let b = g.add_core_op(f, ComputeOp::Not).unwrap();
    g.add_data_edge(a, b, 0, 0, TypeId::BOOL).unwrap();
    assert_eq!(g.add_data_edge(b, a, 0, 0, TypeId::BOOL), Err(GraphError::DataCycle { from: b, to: a }));
    assert_eq!(g.add_data_edge(a, a, 0, 1, TypeId::BOOL), Err(GraphError::DataCycle { from: a, to: a }));
    g.add_control_edge(b, a, None).unwrap();
    g.add_control_edge(a, a, Some(0)).unwrap();
    assert!(g.validate().is_empty());
}

#[test]
fn ops_must_refer_to_existing_functions_and_fitting_types() {
    let (mut g, f, h) = two_functions();
    let s = g.register_named("Point", point(ModuleId::ROOT)).unwrap();
    assert!(g.add_core_op(f, ComputeOp::Call { target: h }).is_ok());
    assert_eq!(
        g.add_core_op(f, ComputeOp::Call { target: FunctionId(9) }),
        Err(GraphError::NotFound(Entity::Function(FunctionId(9))))
    );
    assert!(matches!(g.add_core_op(f, ComputeOp::MakeClosure { function: h }), Err(GraphError::InvalidOp(_))));
    let c = g.add_closure(f, "c", vec![], TypeId::UNIT, vec![]).unwrap();
    assert!(g.add_core_op(f, ComputeOp::MakeClosure { function: c }).is_ok());
    assert!(g.add_structured_op(f, StructuredOp::StructCreate { type_id: s }).is_ok());
    assert!(matches!(
        g.add_structured_op(f, StructuredOp::StructCreate { type_id: TypeId::I32 }),
        Err(GraphError::InvalidOp(_))
    ));
    assert_eq!(
        g.add_structured_op(f, StructuredOp::Cast { target_type: TypeId(50) }),
        Err(GraphError::NotFound(Entity::Type(TypeId(50))))
    );
    assert!(matches!(
        g.add_structured_op(f, StructuredOp::EnumCreate { type_id: s, variant_index: 0 }),
        Err(GraphError::InvalidOp(_))
    ));
    let n = g.add_core_op(f, ComputeOp::Print).unwrap();
    assert_eq!(
        g.modify_compute_node_op(n, ComputeOp::Call { target: FunctionId(42) }.into()),
        Err(GraphError::NotFound(Entity::Function(FunctionId(42))))
    );
    assert_eq!(g.node(n).unwrap().op, ComputeOp::Print.into(), "a refused modification changes nothing");
}

#[test]
fn removing_a_node_removes_its_edges_and_clears_the_entry() {
    let (mut g, f, _) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Parameter { index: 0 }).unwrap();
    let b = g.add_core_op(f, ComputeOp::Return).unwrap();
    let e1 = g.add_data_edge(a, b, 0, 0, TypeId::I32).unwrap();
    let e2 = g.add_control_edge(a, b, None).unwrap();
    g.set_entry_node(f, Some(a)).unwrap();
    g.remove_compute_node(a).unwrap();
    assert!(g.edge(e1).is_none() && g.edge(e2).is_none());
    assert_eq!(g.function(f).unwrap().entry_node, None);
    assert!(g.incoming(b).is_empty());
    assert_eq!(g.function_nodes(f).collect::<Vec<_>>(), [b]);
    assert_eq!(g.remove_compute_node(a), Err(GraphError::NotFound(Entity::Node(a))));
    let (mut g2, f2, h2) = two_functions();
    let other = g2.add_core_op(h2, ComputeOp::Return).unwrap();
    assert_eq!(
        g2.set_entry_node(f2, Some(other)),
        Err(GraphError::WrongOwner { node: other, owner: h2, function: f2 })
    );
    assert!(g.validate().is_empty());
}

#[test]
fn the_semantic_graph_follows_every_change() {
    let (mut g, f, h) = two_functions();
    let key = |f| SemanticKey::Function(f);
    let m = g.add_module(ModuleId::ROOT, "util", Visibility::Private).unwrap();
    assert!(
        matches!(g.semantic_node(SemanticKey::Module(m)), Some(SemanticNode::Module { name, .. }) if name == "util")
    );
    let t = g.register_named_in(m, Visibility::Public, "P", point(m)).unwrap();
    assert!(g.semantic_node(SemanticKey::Type(t)).is_some());
    assert!(g.modules().types_in(m).any(|x| x == t));
    let call = g.add_core_op(f, ComputeOp::Call { target: h }).unwrap();
    let call2 = g.add_core_op(f, ComputeOp::Call { target: h }).unwrap();
    assert_eq!(g.callers(h), [f]);
    g.remove_compute_node(call).unwrap();
    assert_eq!(g.callers(h), [f], "one call left");
    g.modify_compute_node_op(call2, ComputeOp::Print.into()).unwrap();
    assert!(g.callers(h).is_empty(), "the last call went");
    g.rename_function(h, "helper").unwrap();
    assert!(matches!(g.semantic_node(key(h)), Some(SemanticNode::Function { name, .. }) if name == "helper"));
    g.move_function(h, m).unwrap();
    assert!(matches!(g.semantic_node(key(h)), Some(SemanticNode::Function { module, .. }) if *module == m));
    assert_eq!(g.find_function(m, "helper"), Some(h));
    assert_eq!(g.find_function(ModuleId::ROOT, "helper"), None);
    g.set_function_signature(h, vec![("p".into(), t)], TypeId::UNIT).unwrap();
    let uses = g.semantic_graph().edge_indices().filter(|e| g.semantic_graph()[*e] == SemanticEdge::UsesType).count();
    assert_eq!(uses, 1, "the new signature uses P");
    g.remove_function(h).unwrap();
    assert!(g.semantic_node(key(h)).is_none());
    assert_eq!(g.qualified_name(f).as_deref(), Some("p::f"));
    assert!(g.validate().is_empty());
}

#[test]
fn names_are_checked() {
    let (mut g, _, h) = two_functions();
    assert!(matches!(
        g.add_function(ModuleId::ROOT, "h", Visibility::Public, vec![], TypeId::UNIT),
        Err(GraphError::DuplicateName { .. })
    ));
    assert!(matches!(
        g.add_function(ModuleId::ROOT, "a::b", Visibility::Public, vec![], TypeId::UNIT),
        Err(GraphError::InvalidName(_))
    ));
    assert!(matches!(g.add_module(ModuleId::ROOT, "", Visibility::Public), Err(GraphError::InvalidName(_))));
    g.register_named("T", point(ModuleId::ROOT)).unwrap();
    assert!(matches!(g.register_named("T", point(ModuleId::ROOT)), Err(GraphError::Type(TypeError::DuplicateName(_)))));
    let caller = g.add_function(ModuleId::ROOT, "caller", Visibility::Public, vec![], TypeId::UNIT).unwrap();
    g.add_core_op(caller, ComputeOp::Call { target: h }).unwrap();
    assert!(matches!(g.remove_function(h), Err(GraphError::InUse(..))));
    assert!(matches!(g.remove_module(ModuleId::ROOT), Err(GraphError::RootModule)));
}

#[test]
fn ids_are_never_reused_after_deletions_or_a_json_round_trip() {
    let (mut g, f, _) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Print).unwrap();
    let b = g.add_core_op(f, ComputeOp::Print).unwrap();
    g.remove_compute_node(b).unwrap();
    g.remove_compute_node(a).unwrap();
    let json = serde_json::to_string(&g).unwrap();
    let mut back: ProgramGraph = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.next_ids(), g.next_ids());
    let c = g.add_core_op(f, ComputeOp::Print).unwrap();
    let c2 = back.add_core_op(f, ComputeOp::Print).unwrap();
    assert_eq!(c, c2);
    assert!(c > b, "a freed id is never handed out again ({c} after {b})");
}

#[test]
fn floats_round_trip_bit_for_bit_through_json() {
    let values = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.1,
        f64::MIN_POSITIVE,
        5e-324,
        1.7976931348623157e308,
    ];
    for v in values {
        let c = ConstValue::F64(v);
        let back: ConstValue = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.bits(), c.bits(), "{v:?}");
        let c = ConstValue::F32(v as f32);
        let back: ConstValue = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back.bits(), c.bits(), "{v:?} as f32");
    }
    assert_ne!(ConstValue::F64(0.0), ConstValue::F64(-0.0));
    assert_eq!(ConstValue::F64(f64::NAN), ConstValue::F64(f64::NAN));
}

#[test]
fn validate_reports_every_violation_of_a_hand_broken_document() {
    let (mut g, f, h) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Const { value: ConstValue::I32(1) }).unwrap();
    let b = g.add_core_op(f, ComputeOp::Return).unwrap();
    g.add_data_edge(a, b, 0, 0, TypeId::I32).unwrap();
    g.add_core_op(h, ComputeOp::Return).unwrap();
    let mut doc: ProgramDocument = g.to_document();
    doc.nodes[0].owner = FunctionId(40); // dangling owner
    doc.nodes[1].op = ComputeOp::Call { target: FunctionId(41) }.into(); // dangling callee
    doc.edges[0].edge = FlowEdge::Data { source_port: 0, target_port: 0, value_type: TypeId(4242) };
    doc.edges.push(lmlang_storage::graph::EdgeEntry {
        id: EdgeId(5),
        source: a,
        target: NodeId(300),
        edge: FlowEdge::Control { branch_index: None },
    });
    doc.functions[1].entry_node = Some(a); // entry owned by another function
    doc.modules[0].parent = Some(ModuleId(3)); // root with a parent
    let broken = ProgramGraph::assemble(doc.clone());
    let violations = broken.validate();
    let text: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    for needle in [
        "owner f40 does not exist",
        "f41",
        "value type t4242 does not exist",
        "endpoint",
        "entry node",
        "root module has a parent",
    ] {
        assert!(text.iter().any(|t| t.contains(needle)), "no violation mentions {needle:?}: {text:#?}");
    }
    assert!(ProgramGraph::from_document(doc).is_err());
    assert!(g.validate().is_empty());
}

#[test]
fn classifiers_answer_as_documented() {
    let term = |op: ComputeOp| ComputeNodeOp::from(op).is_terminator();
    assert!(term(ComputeOp::Return) && term(ComputeOp::Branch) && term(ComputeOp::Jump));
    assert!(!term(ComputeOp::IfElse) && !term(ComputeOp::Print));
    assert!(ComputeNodeOp::from(ComputeOp::Loop).is_control_flow());
    assert!(!ComputeNodeOp::from(ComputeOp::Not).is_control_flow());
    assert!(ComputeNodeOp::from(ComputeOp::FileRead).is_io());
    assert!(!ComputeNodeOp::from(ComputeOp::Load).is_io());
    assert!(
        ComputeNodeOp::from(ComputeOp::Invariant { target_type: TypeId::I32, message: String::new() }).is_contract()
    );
    assert_eq!(ComputeNodeOp::from(ComputeOp::Not).tier(), 1);
    assert_eq!(ComputeNodeOp::from(StructuredOp::ArrayGet).tier(), 2);
}

#[test]
fn changes_since_lists_exactly_what_was_touched() {
    let (mut g, f, _) = two_functions();
    let a = g.add_core_op(f, ComputeOp::Print).unwrap();
    let rev = g.revision();
    let b = g.add_core_op(f, ComputeOp::Print).unwrap();
    let e = g.add_control_edge(a, b, None).unwrap();
    let changes = g.changes_since(rev);
    assert_eq!(changes.nodes, [b]);
    assert_eq!(changes.edges, [e]);
    assert!(changes.functions.is_empty() && changes.modules.is_empty());
    let rev = g.revision();
    g.remove_compute_node(b).unwrap();
    let changes = g.changes_since(rev);
    assert_eq!((changes.nodes, changes.edges), (vec![b], vec![e]));
    assert!(g.changes_since(g.revision()).is_empty());
    let clone = g.clone();
    assert_ne!(clone.lineage(), g.lineage(), "clones have their own history");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_are_valid_and_round_trip_through_json(g in common::arb_program()) {
        prop_assert!(g.validate().is_empty());
        let json = serde_json::to_string(&g).unwrap();
        let back: ProgramGraph = serde_json::from_str(&json).unwrap();
        prop_assert!(back.validate().is_empty());
        prop_assert_eq!(back.next_ids(), g.next_ids());
        prop_assert_eq!(&back, &g);
    }
}

/// `with_function_from` as a whole-document merge: the definition the store's
/// incremental one must agree with.
fn merge_by_documents(stored: &ProgramGraph, source: &ProgramGraph, f: FunctionId) -> Option<ProgramGraph> {
    let mut doc = stored.to_document();
    let def = source.function(f)?.clone();
    let old: std::collections::BTreeSet<_> = stored.function_nodes(f).collect();
    let src = source.to_document();
    let new: std::collections::BTreeSet<_> = src.nodes.iter().filter(|n| n.owner == f).map(|n| n.id).collect();
    doc.functions.retain(|d| d.id != f);
    doc.functions.push(def);
    doc.functions.sort_by_key(|d| d.id);
    doc.nodes.retain(|n| n.owner != f);
    doc.nodes.extend(src.nodes.into_iter().filter(|n| n.owner == f));
    doc.nodes.sort_by_key(|n| n.id);
    doc.edges.retain(|e| !old.contains(&e.source) && !old.contains(&e.target));
    doc.edges.extend(src.edges.into_iter().filter(|e| new.contains(&e.source)));
    doc.edges.sort_by_key(|e| e.id);
    doc.next_ids = stored.next_ids().max(source.next_ids());
    ProgramGraph::from_document(doc).ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// `save_function` merges one function into the stored program and writes what
    /// `function_differences` lists: the merge must equal a whole-document merge, and
    /// the list what comparing the whole programs finds.
    #[test]
    fn merging_one_function_changes_exactly_what_a_whole_comparison_finds(
        base in common::arb_program(),
        seed in any::<u64>(),
        edits in 1usize..40,
        stored_edits in 0usize..20,
    ) {
        // The stored program may have moved on from the graph the caller edited (ids
        // then collide, callees and types go missing, and merges are refused).
        let mut g = base.clone();
        common::apply_random_edits(&mut g, seed ^ 0x5eed, stored_edits);
        let mut edited = base.clone();
        common::apply_random_edits(&mut edited, seed, edits);
        let functions: std::collections::BTreeSet<FunctionId> =
            g.functions().chain(edited.functions()).map(|d| d.id).collect();
        for f in functions {
            let merged = g.with_function_from(&edited, f);
            let reference = merge_by_documents(&g, &edited, f);
            match (&merged, &reference) {
                (Ok(m), Some(r)) => {
                    prop_assert_eq!(m, r);
                    prop_assert_eq!(g.function_differences(m, f), g.differences(m));
                }
                (Err(_), None) => {}
                (Ok(_), None) if edited.function(f).is_none() => {}
                _ => prop_assert!(false, "merges of {f} disagree: {:?} against {:?}", merged.is_ok(), reference.is_some()),
            }
        }
    }
}
