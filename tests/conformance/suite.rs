//! The behaviour every `GraphStore` must show, written once against `&dyn GraphStore`.

use lmlang_storage::graph::{Entity, GraphError, ProgramGraph};
use lmlang_storage::model::*;
use lmlang_storage::store::{FunctionUpdate, GraphStore, NewFunction, ProgramRef, StorageError};

/// A small program with a struct, a call, a loop and a closure.
pub fn sample() -> ProgramGraph {
    let mut g = ProgramGraph::new("app");
    let math = g.add_module(ModuleId::ROOT, "math", Visibility::Public).unwrap();
    let point = g
        .register_named_in(
            math,
            Visibility::Public,
            "Point",
            LmType::Struct(StructDef {
                name: String::new(),
                type_id: TypeId(0),
                fields: [("x".to_string(), TypeId::F64), ("y".to_string(), TypeId::F64)].into_iter().collect(),
                module: math,
                visibility: Visibility::Public,
            }),
        )
        .unwrap();
    let sq = g.add_function(math, "square", Visibility::Public, vec![("x".into(), TypeId::F64)], TypeId::F64).unwrap();
    let p = g.add_core_op(sq, ComputeOp::Parameter { index: 0 }).unwrap();
    let m = g.add_core_op(sq, ComputeOp::BinaryArith { op: ArithOp::Mul }).unwrap();
    let r = g.add_core_op(sq, ComputeOp::Return).unwrap();
    g.add_data_edge(p, m, 0, 0, TypeId::F64).unwrap();
    g.add_data_edge(p, m, 0, 1, TypeId::F64).unwrap();
    g.add_data_edge(m, r, 0, 0, TypeId::F64).unwrap();
    g.set_entry_node(sq, Some(p)).unwrap();
    let main = g.add_function(ModuleId::ROOT, "main", Visibility::Public, vec![], TypeId::UNIT).unwrap();
    let c = g
        .add_core_op(main, ComputeOp::Const { value: ConstValue::F64(f64::from_bits(0x7ff8_0000_0000_0001)) })
        .unwrap();
    let call = g.add_core_op(main, ComputeOp::Call { target: sq }).unwrap();
    let mk = g.add_structured_op(main, StructuredOp::StructCreate { type_id: point }).unwrap();
    let lp = g.add_core_op(main, ComputeOp::Loop).unwrap();
    let ret = g.add_core_op(main, ComputeOp::Return).unwrap();
    g.add_data_edge(c, call, 0, 0, TypeId::F64).unwrap();
    g.add_data_edge(call, mk, 0, 0, TypeId::F64).unwrap();
    g.add_data_edge(c, mk, 0, 1, TypeId::F64).unwrap();
    g.add_control_edge(lp, lp, Some(0)).unwrap();
    g.add_control_edge(lp, ret, Some(1)).unwrap();
    let clo = g
        .add_closure(
            main,
            "adder",
            vec![("y".into(), TypeId::I32)],
            TypeId::I32,
            vec![Capture { name: "x".into(), captured_type: TypeId::I32, mode: CaptureMode::ByRef }],
        )
        .unwrap();
    g.add_core_op(clo, ComputeOp::CaptureAccess { index: 0 }).unwrap();
    g.add_core_op(main, ComputeOp::MakeClosure { function: clo }).unwrap();
    // A hole in the middle of the id space.
    let doomed = g.add_core_op(main, ComputeOp::Print).unwrap();
    g.add_core_op(main, ComputeOp::ReadLine).unwrap();
    g.remove_compute_node(doomed).unwrap();
    g
}

fn new_program(store: &dyn GraphStore, name: &str) -> (lmlang_storage::store::ProgramId, ProgramGraph) {
    let g = sample();
    let id = store.insert_program(name, &g).unwrap();
    (id, g)
}

fn function_named(g: &ProgramGraph, name: &str) -> FunctionId {
    g.functions().find(|f| f.name == name).map(|f| f.id).unwrap()
}

pub fn programs_create_list_find_rename_delete(store: &dyn GraphStore) {
    let a = store.create_program("alpha").unwrap();
    let b = store.create_program("beta").unwrap();
    assert!(a < b, "program ids increase");
    let list = store.list_programs().unwrap();
    assert_eq!(list.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["alpha", "beta"]);
    assert_eq!(list[0].id, a);
    assert_eq!((list[0].modules, list[0].functions, list[0].nodes), (1, 0, 0));
    assert_eq!(store.find_program("beta").unwrap(), b);
    store.rename_program(b, "gamma").unwrap();
    assert_eq!(store.find_program("gamma").unwrap(), b);
    assert!(matches!(store.find_program("beta"), Err(StorageError::ProgramNotFound(ProgramRef::Name(_)))));
    store.delete_program(a).unwrap();
    assert_eq!(store.list_programs().unwrap().len(), 1);
    let c = store.create_program("alpha").unwrap();
    assert!(c > b, "a deleted program's id is not reused");
    let loaded = store.load_program(c).unwrap();
    assert_eq!(loaded, ProgramGraph::new("root"));
}

pub fn program_names_are_unique_and_non_empty(store: &dyn GraphStore) {
    store.create_program("p").unwrap();
    assert!(matches!(store.create_program("p"), Err(StorageError::DuplicateProgramName(n)) if n == "p"));
    assert!(matches!(store.create_program(""), Err(StorageError::InvalidProgramName(_))));
    let q = store.create_program("q").unwrap();
    assert!(matches!(store.rename_program(q, "p"), Err(StorageError::DuplicateProgramName(_))));
    // Quotes, Unicode and SQL keywords are just names.
    let odd = "it's \"DROP TABLE programs;\" -- λ";
    let id = store.create_program(odd).unwrap();
    assert_eq!(store.find_program(odd).unwrap(), id);
    assert_eq!(store.list_programs().unwrap().len(), 3);
}

pub fn missing_program_is_a_typed_error(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "x");
    store.delete_program(p).unwrap();
    let missing = |r: Result<(), StorageError>| {
        assert!(matches!(r, Err(StorageError::ProgramNotFound(ProgramRef::Id(id))) if id == p), "{r:?}");
    };
    missing(store.load_program(p).map(drop));
    missing(store.delete_program(p));
    missing(store.get_node(p, NodeId(0)).map(drop));
    missing(store.insert_node(p, FunctionId(0), ComputeOp::Return.into()).map(drop));
    missing(store.find_nodes_by_owner(p, FunctionId(0)).map(drop));
    missing(store.find_edges_from(p, NodeId(0)).map(drop));
    missing(store.get_type(p, TypeId::I32).map(drop));
    missing(store.save_program(p, &sample()).map(drop));
}

pub fn insert_and_load_round_trip_exactly(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "rt");
    let loaded = store.load_program(p).unwrap();
    assert_eq!(loaded, g);
    assert_eq!(loaded.next_ids(), g.next_ids());
    assert!(loaded.validate().is_empty());
    let summary = store.list_programs().unwrap().into_iter().find(|s| s.id == p).unwrap();
    assert_eq!(summary.nodes as usize, g.node_count());
    assert_eq!(summary.edges as usize, g.edge_count());
    assert_eq!(summary.functions as usize, g.functions().count());
}

pub fn invalid_graph_is_refused_and_nothing_is_written(store: &dyn GraphStore) {
    let mut doc = sample().to_document();
    doc.nodes[0].owner = FunctionId(999);
    let broken = ProgramGraph::assemble(doc);
    assert!(!broken.validate().is_empty());
    let err = store.insert_program("broken", &broken).unwrap_err();
    assert!(matches!(err, StorageError::Invalid { ref violations } if !violations.is_empty()), "{err:?}");
    assert!(store.list_programs().unwrap().is_empty());
    let (p, g) = new_program(store, "ok");
    assert!(matches!(store.save_program(p, &broken), Err(StorageError::Invalid { .. })));
    assert_eq!(store.load_program(p).unwrap(), g);
}

/// A root module name no module may have makes a graph `validate()` refuses; a store
/// that wrote it could never load the program again, so it is refused like any
/// invalid graph, on insert and on save, and nothing is written.
pub fn invalid_root_module_name_is_refused_and_nothing_is_written(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "ok");
    for name in ["", "a\0b", "a::b"] {
        let bad = ProgramGraph::new(name);
        let invalid = |r: Result<_, StorageError>| {
            assert!(
                matches!(&r, Err(StorageError::Invalid { violations })
                    if violations.iter().any(|v| v.entity == Entity::Module(ModuleId::ROOT))),
                "{name:?}: {r:?}"
            );
        };
        invalid(store.insert_program("bad", &bad).map(drop));
        invalid(store.save_program(p, &bad).map(drop));
    }
    assert_eq!(store.list_programs().unwrap().len(), 1);
    assert_eq!(store.load_program(p).unwrap(), g);
}

pub fn node_crud_and_errors(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "n");
    let main = function_named(&g, "main");
    let next = g.next_ids().node;
    let n = store.insert_node(p, main, ComputeOp::Const { value: ConstValue::F32(-0.0) }.into()).unwrap();
    assert_eq!(n, NodeId(next));
    let got = store.get_node(p, n).unwrap();
    assert_eq!(got, ComputeNode { op: ComputeOp::Const { value: ConstValue::F32(-0.0) }.into(), owner: main });
    let old = store.update_node(p, n, ComputeOp::Not.into()).unwrap();
    assert_eq!(old, ComputeOp::Const { value: ConstValue::F32(-0.0) }.into());
    assert_eq!(store.get_node(p, n).unwrap().op, ComputeOp::Not.into());
    // Refused edits name what is wrong and change nothing.
    let before = store.load_program(p).unwrap();
    let e = store.insert_node(p, FunctionId(77), ComputeOp::Return.into()).unwrap_err();
    assert!(matches!(e, StorageError::NotFound { entity: Entity::Function(FunctionId(77)), .. }), "{e:?}");
    let e = store.insert_node(p, main, ComputeOp::Call { target: FunctionId(77) }.into()).unwrap_err();
    assert!(matches!(e, StorageError::NotFound { entity: Entity::Function(FunctionId(77)), .. }), "{e:?}");
    let sq = function_named(&g, "square");
    let e = store.insert_node(p, main, ComputeOp::MakeClosure { function: sq }.into()).unwrap_err();
    assert!(matches!(e, StorageError::Rejected { source: GraphError::InvalidOp(_), .. }), "{e:?}");
    let e = store.update_node(p, NodeId(9999), ComputeOp::Not.into()).unwrap_err();
    assert!(matches!(e, StorageError::NotFound { entity: Entity::Node(NodeId(9999)), .. }), "{e:?}");
    assert_eq!(store.load_program(p).unwrap(), before);
    // Deleting a node removes its edges and clears an entry node pointing at it.
    let entry = g.function(sq).unwrap().entry_node.unwrap();
    let touching: Vec<_> = g.outgoing(entry).into_iter().map(|e| e.id).collect();
    assert!(!touching.is_empty());
    store.delete_node(p, entry).unwrap();
    assert!(matches!(store.get_node(p, entry), Err(StorageError::NotFound { .. })));
    for e in touching {
        assert!(matches!(store.get_edge(p, e), Err(StorageError::NotFound { entity: Entity::Edge(_), .. })));
    }
    assert_eq!(store.get_function(p, sq).unwrap().entry_node, None);
    assert!(matches!(store.delete_node(p, entry), Err(StorageError::NotFound { .. })));
}

pub fn edge_crud_and_errors(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "e");
    let main = function_named(&g, "main");
    let sq = function_named(&g, "square");
    let a = store.insert_node(p, main, ComputeOp::Const { value: ConstValue::I32(1) }.into()).unwrap();
    let b = store.insert_node(p, main, ComputeOp::UnaryArith { op: UnaryArithOp::Neg }.into()).unwrap();
    let other = store.insert_node(p, sq, ComputeOp::Not.into()).unwrap();
    let data = FlowEdge::Data { source_port: 0, target_port: 0, value_type: TypeId::I32 };
    let e = store.insert_edge(p, a, b, data).unwrap();
    assert_eq!(e.0, g.next_ids().edge);
    let view = store.get_edge(p, e).unwrap();
    assert_eq!((view.source, view.target, view.edge), (a, b, data));
    let err = store.insert_edge(p, a, b, data).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::PortTaken { .. }, .. }), "{err:?}");
    let back = FlowEdge::Data { source_port: 0, target_port: 1, value_type: TypeId::I32 };
    let err = store.insert_edge(p, b, a, back).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::DataCycle { .. }, .. }), "{err:?}");
    let err = store.insert_edge(p, a, other, FlowEdge::Control { branch_index: None }).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::CrossFunctionEdge { .. }, .. }), "{err:?}");
    let bad_type = FlowEdge::Data { source_port: 0, target_port: 3, value_type: TypeId(500) };
    let err = store.insert_edge(p, a, b, bad_type).unwrap_err();
    assert!(matches!(err, StorageError::NotFound { entity: Entity::Type(TypeId(500)), .. }), "{err:?}");
    let err = store.insert_edge(p, a, NodeId(4242), FlowEdge::Control { branch_index: None }).unwrap_err();
    assert!(matches!(err, StorageError::NotFound { entity: Entity::Node(NodeId(4242)), .. }), "{err:?}");
    // Control edges may close cycles.
    let c1 = store.insert_edge(p, b, a, FlowEdge::Control { branch_index: Some(2) }).unwrap();
    let c2 = store.insert_edge(p, a, a, FlowEdge::Control { branch_index: None }).unwrap();
    assert_eq!(c2.0, c1.0 + 1);
    store.delete_edge(p, c1).unwrap();
    assert!(matches!(store.get_edge(p, c1), Err(StorageError::NotFound { entity: Entity::Edge(_), .. })));
    assert!(matches!(store.delete_edge(p, c1), Err(StorageError::NotFound { .. })));
    // The freed edge id is not handed out again.
    let c3 = store.insert_edge(p, b, a, FlowEdge::Control { branch_index: Some(2) }).unwrap();
    assert_eq!(c3.0, c2.0 + 1);
}

pub fn type_crud_and_errors(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "t");
    assert_eq!(store.get_type(p, TypeId::F64).unwrap(), LmType::Scalar(ScalarType::F64));
    let arr = store.insert_type(p, LmType::Array { element: TypeId::I8, length: 4 }).unwrap();
    assert_eq!(arr.0, g.next_ids().type_);
    assert_eq!(store.get_type(p, arr).unwrap(), LmType::Array { element: TypeId::I8, length: 4 });
    let variants = [
        ("None".to_string(), EnumVariant { index: 0, payload: None }),
        ("Some".to_string(), EnumVariant { index: 1, payload: Some(arr) }),
    ];
    let en = LmType::Enum(EnumDef {
        name: String::new(),
        type_id: TypeId(0),
        variants: variants.into_iter().collect(),
        module: ModuleId::ROOT,
        visibility: Visibility::Private,
    });
    let opt = store.insert_named_type(p, ModuleId::ROOT, Visibility::Private, "MaybeBytes", en.clone()).unwrap();
    match store.get_type(p, opt).unwrap() {
        LmType::Enum(def) => {
            assert_eq!(def.name, "MaybeBytes");
            assert_eq!(def.type_id, opt);
            assert_eq!(def.variants.keys().collect::<Vec<_>>(), ["None", "Some"]);
        }
        other => panic!("expected an enum, got {other:?}"),
    }
    let err = store.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "MaybeBytes", en).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::Type(_), .. }), "{err:?}");
    let err = store.insert_type(p, LmType::Pointer { pointee: TypeId(999), mutable: true }).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { .. }), "{err:?}");
    assert!(matches!(store.get_type(p, TypeId(999)), Err(StorageError::NotFound { entity: Entity::Type(_), .. })));
    let loaded = store.load_program(p).unwrap();
    assert_eq!(loaded.types().lookup("MaybeBytes"), Some(opt));
    assert!(loaded.modules().types_in(ModuleId::ROOT).any(|t| t == opt));
}

pub fn function_crud_and_errors(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "f");
    let math = g.modules().resolve(&["app", "math"]).unwrap();
    let f = store
        .insert_function(
            p,
            NewFunction {
                module: math,
                name: "cube".into(),
                visibility: Visibility::Public,
                params: vec![("x".into(), TypeId::F64)],
                return_type: TypeId::F64,
                closure_of: None,
            },
        )
        .unwrap();
    assert_eq!(f.0, g.next_ids().function);
    let def = store.get_function(p, f).unwrap();
    assert_eq!((def.name.as_str(), def.module, def.is_closure), ("cube", math, false));
    let dup = NewFunction {
        module: math,
        name: "square".into(),
        visibility: Visibility::Public,
        params: vec![],
        return_type: TypeId::UNIT,
        closure_of: None,
    };
    let err = store.insert_function(p, dup).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::DuplicateName { .. }, .. }), "{err:?}");
    store
        .update_function(
            p,
            f,
            FunctionUpdate {
                name: Some("cubed".into()),
                module: Some(ModuleId::ROOT),
                signature: Some((vec![("v".into(), TypeId::F32)], TypeId::F32)),
                ..Default::default()
            },
        )
        .unwrap();
    let def = store.get_function(p, f).unwrap();
    assert_eq!((def.name.as_str(), def.module, def.return_type), ("cubed", ModuleId::ROOT, TypeId::F32));
    // A failing update changes nothing, not even the parts before the failing field.
    let err = store
        .update_function(
            p,
            f,
            FunctionUpdate { name: Some("renamed".into()), entry_node: Some(Some(NodeId(0))), ..Default::default() },
        )
        .unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::WrongOwner { .. }, .. }), "{err:?}");
    assert_eq!(store.get_function(p, f).unwrap().name, "cubed");
    let sq = function_named(&g, "square");
    let err = store.delete_function(p, sq).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::InUse(..), .. }), "{err:?}");
    store.delete_function(p, f).unwrap();
    assert!(matches!(store.get_function(p, f), Err(StorageError::NotFound { entity: Entity::Function(_), .. })));
    let closure = function_named(&g, "adder");
    let def = store.get_function(p, closure).unwrap();
    assert!(def.is_closure);
    assert_eq!(def.captures.len(), 1);
}

pub fn module_crud_and_errors(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "m");
    let math = g.modules().resolve(&["app", "math"]).unwrap();
    assert_eq!(store.find_module_by_path(p, &["app", "math"]).unwrap(), math);
    let trig = store.insert_module(p, math, "trig", Visibility::Private).unwrap();
    assert_eq!(trig.0, g.next_ids().module);
    assert_eq!(store.find_module_by_path(p, &["app", "math", "trig"]).unwrap(), trig);
    let err = store.insert_module(p, math, "trig", Visibility::Public).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::DuplicateName { .. }, .. }), "{err:?}");
    let err = store.insert_module(p, ModuleId(99), "x", Visibility::Public).unwrap_err();
    assert!(matches!(err, StorageError::NotFound { entity: Entity::Module(ModuleId(99)), .. }), "{err:?}");
    store.update_module(p, trig, "geometry").unwrap();
    assert_eq!(store.get_module(p, trig).unwrap().name, "geometry");
    assert!(matches!(
        store.find_module_by_path(p, &["app", "math", "trig"]),
        Err(StorageError::ModulePathNotFound { .. })
    ));
    let err = store.delete_module(p, math).unwrap_err();
    assert!(matches!(err, StorageError::Rejected { source: GraphError::InUse(..), .. }), "{err:?}");
    store.delete_module(p, trig).unwrap();
    assert!(matches!(store.get_module(p, trig), Err(StorageError::NotFound { .. })));
}

pub fn queries_return_id_order(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "q");
    for f in g.functions() {
        let found: Vec<_> = store.find_nodes_by_owner(p, f.id).unwrap();
        let expected: Vec<_> = g.function_nodes(f.id).map(|n| (n, g.node(n).unwrap().clone())).collect();
        assert_eq!(found, expected, "nodes of {}", f.name);
    }
    for (n, _) in g.nodes() {
        assert_eq!(store.find_edges_from(p, n).unwrap(), g.outgoing(n), "edges from {n}");
        assert_eq!(store.find_edges_to(p, n).unwrap(), g.incoming(n), "edges to {n}");
    }
    for m in g.modules().iter() {
        let found: Vec<_> = store.find_functions_in_module(p, m.id).unwrap().into_iter().map(|f| f.id).collect();
        let mut expected: Vec<_> = g.functions().filter(|f| f.module == m.id).map(|f| f.id).collect();
        expected.sort();
        assert_eq!(found, expected);
    }
    let point = g.types().lookup("Point").unwrap();
    let by_type = store.find_nodes_by_type(p, point).unwrap();
    assert_eq!(
        by_type,
        g.nodes().filter(|(_, n)| n.op.type_ref() == Some(point)).map(|(id, _)| id).collect::<Vec<_>>()
    );
    assert_eq!(by_type.len(), 1);
    let f64_edges = store.find_edges_by_type(p, TypeId::F64).unwrap();
    let expected: Vec<_> = g
        .edges()
        .filter(|e| matches!(e.edge, FlowEdge::Data { value_type, .. } if value_type == TypeId::F64))
        .collect();
    assert_eq!(f64_edges, expected);
    assert!(store.find_nodes_by_owner(p, FunctionId(999)).unwrap().is_empty());
}

pub fn grouped_edit_is_all_or_nothing(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "g");
    let main = function_named(&g, "main");
    let before = store.load_program(p).unwrap();
    let revision = store.list_programs().unwrap()[0].revision;
    let err = store
        .edit(p, &mut |g| {
            let a = g.add_core_op(main, ComputeOp::Print)?;
            let b = g.add_core_op(main, ComputeOp::ReadLine)?;
            g.add_control_edge(a, b, None)?;
            g.add_core_op(FunctionId(404), ComputeOp::Return)?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound { entity: Entity::Function(FunctionId(404)), .. }), "{err:?}");
    assert_eq!(store.load_program(p).unwrap(), before);
    assert_eq!(store.list_programs().unwrap()[0].revision, revision, "a failed unit commits nothing");
    let mut added = Vec::new();
    store
        .edit(p, &mut |g| {
            let a = g.add_core_op(main, ComputeOp::Print)?;
            let b = g.add_core_op(main, ComputeOp::ReadLine)?;
            g.add_control_edge(a, b, None)?;
            added = vec![a, b];
            Ok(())
        })
        .unwrap();
    let after = store.load_program(p).unwrap();
    assert_eq!(added, vec![NodeId(g.next_ids().node), NodeId(g.next_ids().node + 1)]);
    assert_eq!(after.node_count(), before.node_count() + 2);
    assert_eq!(after.outgoing(added[0]).len(), 1);
}

/// An `edit` closure that puts another graph in place of the one it was given (a new
/// one, or a clone it changed) is refused as `Invalid`, nothing written: what an edit
/// writes is counted from the graph it was given, and the stand-in was never
/// validated. It used to commit part of it, up to a program that could not be loaded.
pub fn an_edit_that_replaces_its_graph_is_refused_and_writes_nothing(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "replaced");
    let main = function_named(&g, "main");
    let before = store.load_program_with_revision(p).unwrap();
    type Replace<'a> = &'a dyn Fn(&mut ProgramGraph) -> Result<(), GraphError>;
    let replacements: [Replace<'_>; 2] = [
        &|g| {
            *g = ProgramGraph::new("a\0b");
            Ok(())
        },
        &|g| {
            let mut copy = g.clone();
            copy.add_core_op(main, ComputeOp::Print)?;
            *g = copy;
            Ok(())
        },
    ];
    for replace in replacements {
        match store.edit(p, &mut |g| replace(g)) {
            Err(StorageError::Invalid { violations }) => {
                assert!(violations[0].to_string().contains("replaced the graph"), "{violations:?}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
        assert_eq!(store.load_program_with_revision(p).unwrap(), before);
    }
    store.edit(p, &mut |g| g.add_core_op(main, ComputeOp::Print).map(drop)).unwrap();
    assert_eq!(store.load_program(p).unwrap().node_count(), before.0.node_count() + 1);
}

pub fn delete_program_cascades(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "doomed");
    let (q, gq) = new_program(store, "kept");
    let main = function_named(&gq, "main");
    store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.delete_program(p).unwrap();
    assert!(matches!(store.load_program(p), Err(StorageError::ProgramNotFound(_))));
    assert!(matches!(store.get_node(p, NodeId(0)), Err(StorageError::ProgramNotFound(_))));
    assert_eq!(store.load_program(q).unwrap(), gq);
    let again = store.insert_program("doomed", &sample()).unwrap();
    assert_eq!(store.load_program(again).unwrap(), sample());
}

pub fn save_after_small_edit_writes_few_rows(store: &dyn GraphStore) {
    let g = lmlang_storage::synth::generate(&lmlang_storage::synth::SynthConfig { nodes: 3_000, seed: 7, gaps: true });
    let p = store.insert_program("big", &g).unwrap();
    let mut loaded = store.load_program(p).unwrap();
    let unchanged = store.save_program(p, &loaded).unwrap();
    assert_eq!((unchanged.rows_written, unchanged.rows_deleted), (0, 0));
    let (node, _) = loaded.nodes().find(|(_, n)| matches!(n.op, ComputeNodeOp::Core(ComputeOp::Const { .. }))).unwrap();
    loaded.modify_compute_node_op(node, ComputeOp::Const { value: ConstValue::I64(-1) }.into()).unwrap();
    let report = store.save_program(p, &loaded).unwrap();
    assert_eq!((report.rows_written, report.rows_deleted), (1, 0));
    let victim = loaded.nodes().map(|(id, _)| id).nth(10).unwrap();
    let edges = loaded.outgoing(victim).len() + loaded.incoming(victim).len();
    loaded.remove_compute_node(victim).unwrap();
    let report = store.save_program(p, &loaded).unwrap();
    // The node and its edges go; at most the owner's row is rewritten (its entry).
    assert_eq!(report.rows_deleted as usize, 1 + edges, "{report:?}");
    assert!(report.rows_written <= 1, "{report:?}");
    assert_eq!(store.load_program(p).unwrap(), loaded);
}

pub fn save_of_unrelated_copy_writes_only_differences(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "copy");
    // A copy that went through JSON has no edit history the store knows.
    let mut copy: ProgramGraph = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    let main = function_named(&copy, "main");
    copy.add_core_op(main, ComputeOp::Print).unwrap();
    let report = store.save_program(p, &copy).unwrap();
    assert_eq!((report.rows_written, report.rows_deleted), (1, 0));
    assert_eq!(store.load_program(p).unwrap(), copy);
}

pub fn save_function_writes_one_function(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "sf");
    let mut edited = g.clone();
    let sq = function_named(&g, "square");
    let main = function_named(&g, "main");
    edited.add_core_op(sq, ComputeOp::Print).unwrap();
    edited.add_core_op(main, ComputeOp::ReadLine).unwrap();
    let report = store.save_function(p, &edited, sq).unwrap();
    assert_eq!(report.rows_written, 1);
    let stored = store.load_program(p).unwrap();
    assert_eq!(stored.function_nodes(sq).count(), g.function_nodes(sq).count() + 1);
    assert_eq!(stored.function_nodes(main).count(), g.function_nodes(main).count());
    assert!(matches!(store.save_function(p, &edited, FunctionId(404)), Err(StorageError::NotFound { .. })));
}

/// `save_function` takes a function from a graph nobody validated (a document read
/// back, say): a new name it gives the function must follow the current name rule,
/// or the store would hold a program its own export cannot import again. Refused as
/// `Invalid`, nothing written; the function's unchanged name still saves.
pub fn save_function_refuses_a_new_name_the_rule_forbids(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "sf-name");
    let sq = function_named(&g, "square");
    let mut doc = g.to_document();
    for f in doc.functions.iter_mut().filter(|f| f.id == sq) {
        f.name = "square:".into();
    }
    let renamed: ProgramGraph = serde_json::from_value(serde_json::to_value(&doc).unwrap()).unwrap();
    match store.save_function(p, &renamed, sq) {
        Err(StorageError::Invalid { violations }) => {
            assert!(violations[0].to_string().contains("square:"), "{violations:?}")
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(store.load_program(p).unwrap(), g, "nothing written");
    let mut edited = g.clone();
    edited.add_core_op(sq, ComputeOp::Print).unwrap();
    assert_eq!(store.save_function(p, &edited, sq).unwrap().rows_written, 1);
}

pub fn ids_are_not_reused_after_reload(store: &dyn GraphStore) {
    let mut g = sample();
    let main = function_named(&g, "main");
    let last = g.add_core_op(main, ComputeOp::Print).unwrap();
    g.remove_compute_node(last).unwrap();
    let p = store.insert_program("ids", &g).unwrap();
    let mut loaded = store.load_program(p).unwrap();
    assert_eq!(loaded.next_ids(), g.next_ids());
    let a = g.add_core_op(main, ComputeOp::Print).unwrap();
    let b = loaded.add_core_op(main, ComputeOp::Print).unwrap();
    assert_eq!(a, b);
    assert!(a > last);
    let via_store = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    assert_eq!(via_store, a);
}

/// A program that has handed out millions more ids than it keeps (as long edit
/// sessions of adding and removing nodes do: ids are never reused) is stored, loaded
/// and edited like any other, its next ids kept. Loads once refused it as "next id
/// implausibly far beyond the ids", so a program the store had accepted, and whose
/// `validate()` was clean, could not be loaded again.
pub fn a_program_with_millions_of_ids_handed_out_loads_again(store: &dyn GraphStore) {
    let g = sample();
    let main = function_named(&g, "main");
    let mut doc = g.to_document();
    doc.next_ids.node = 5_000_000;
    doc.next_ids.edge = 5_000_000;
    let g = ProgramGraph::from_document(doc).expect("a document of many ids handed out is valid");
    let p = store.insert_program("churned", &g).unwrap();
    let loaded = store.load_program(p).unwrap();
    assert_eq!(loaded, g);
    assert_eq!(loaded.next_ids(), g.next_ids());
    let n = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    assert_eq!(n.0, 5_000_000);
    store.delete_node(p, n).unwrap();
    assert_eq!(store.load_program(p).unwrap().next_ids().node, 5_000_001);
}

/// Next ids never go down, so a write that removes nodes keeps the ids handed out
/// before it; where the nodes left are then too few for those ids (a load accepts
/// 256 edge ids per live node, at least 2^24), the write is refused as `Invalid`
/// and the program stays as it was. A save of a graph numbered afresh, whose own
/// next ids are low, was once committed that way, and the program never loaded again.
pub fn a_write_leaving_too_few_nodes_for_the_ids_handed_out_is_refused(store: &dyn GraphStore) {
    // Built once for every backend: 65,537 nodes in a debug build take a while.
    static GRAPHS: std::sync::OnceLock<(ProgramGraph, ProgramGraph)> = std::sync::OnceLock::new();
    let (g, fresh) = GRAPHS.get_or_init(|| {
        let live = 65_537usize;
        let mut g = sample();
        let main = function_named(&g, "main");
        while g.node_count() < live - 1 {
            g.add_core_op(main, ComputeOp::Print).unwrap();
        }
        let fresh = g.clone();
        g.add_core_op(main, ComputeOp::Print).unwrap();
        let mut doc = g.to_document();
        doc.next_ids.edge = (live * 256) as u32;
        (ProgramGraph::from_document(doc).expect("edge ids at the limit for its nodes are valid"), fresh)
    });
    let p = store.insert_program("at-the-limit", g).unwrap();
    let last = g.function_nodes(function_named(g, "main")).max().expect("a node of main");
    let refused = [
        ("save_program of a graph numbered afresh", store.save_program(p, fresh).map(drop)),
        ("delete_node", store.delete_node(p, last).map(drop)),
    ];
    for (what, result) in refused {
        match result {
            Err(StorageError::Invalid { violations }) => {
                assert!(violations[0].to_string().contains("implausibly sparse"), "{what}: {violations:?}")
            }
            other => panic!("{what}: expected Invalid, got {other:?}"),
        }
    }
    assert_eq!(&store.load_program(p).unwrap(), g, "the program is as it was and loads");
}

/// The program row's counts (what a listing shows) and next ids follow every kind of
/// single commit, including those that write only part of the row.
pub fn stored_counts_and_next_ids_follow_every_kind_of_commit(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "counts");
    let main = function_named(&g, "main");
    let check = |what: &str| {
        let loaded = store.load_program(p).unwrap();
        let s = store.list_programs().unwrap().into_iter().find(|s| s.id == p).unwrap();
        let listed = (s.modules as usize, s.functions as usize, s.nodes as usize, s.edges as usize);
        let counted = (loaded.modules().len(), loaded.functions().count(), loaded.node_count(), loaded.edge_count());
        assert_eq!(listed, counted, "after {what}");
        loaded
    };
    let a = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    check("insert_node");
    let b = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let e = store.insert_edge(p, a, b, FlowEdge::Control { branch_index: None }).unwrap();
    check("insert_edge");
    store.delete_edge(p, e).unwrap();
    store.delete_node(p, b).unwrap();
    check("deletes");
    // One commit that spends a function id and gives the function back, with a node
    // besides: the function's count is as it was, its next id is not.
    let mut spent = None;
    store
        .edit(p, &mut |g| {
            let f = g.add_function(ModuleId::ROOT, "gone", Visibility::Private, vec![], TypeId::I32)?;
            spent = Some(f);
            g.remove_function(f)?;
            g.add_core_op(main, ComputeOp::Print).map(drop)
        })
        .unwrap();
    let spent = spent.unwrap();
    let loaded = check("a function added and removed in one edit");
    assert!(loaded.next_ids().function > spent.0, "the spent function id stays spent");
    let f = store
        .insert_function(
            p,
            NewFunction {
                module: ModuleId::ROOT,
                name: "kept".into(),
                visibility: Visibility::Private,
                params: vec![],
                return_type: TypeId::I32,
                closure_of: None,
            },
        )
        .unwrap();
    assert!(f > spent, "{f:?} reuses {spent:?}");
    check("insert_function");
    store.insert_node(p, f, ComputeOp::Print.into()).unwrap();
    store.insert_module(p, ModuleId::ROOT, "extra", Visibility::Private).unwrap();
    check("insert_module");
    store.delete_function(p, f).unwrap();
    check("delete_function");
    // The same through a save the store diffs against what it holds (a graph of a
    // lineage of its own): no row of a function differs, yet a function id was spent.
    let mut copy = ProgramGraph::assemble(store.load_program(p).unwrap().to_document());
    let gone = copy.add_function(ModuleId::ROOT, "gone again", Visibility::Private, vec![], TypeId::I32).unwrap();
    copy.remove_function(gone).unwrap();
    copy.add_core_op(main, ComputeOp::Print).unwrap();
    store.save_program(p, &copy).unwrap();
    let loaded = check("a save that spent a function id");
    assert!(loaded.next_ids().function > gone.0, "the id spent by the save stays spent");
}

pub fn crud_mutations_are_visible_to_load(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "vis");
    let mut expected = g.clone();
    let main = function_named(&g, "main");
    let n = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let m = expected.add_core_op(main, ComputeOp::Print).unwrap();
    assert_eq!(n, m);
    store.set_entry(p, main, n);
    expected.set_entry_node(main, Some(n)).unwrap();
    assert_eq!(store.load_program(p).unwrap(), expected);
}

/// Small extension used by the suite.
trait SetEntry {
    fn set_entry(&self, p: lmlang_storage::store::ProgramId, f: FunctionId, n: NodeId);
}

impl<S: GraphStore + ?Sized> SetEntry for S {
    fn set_entry(&self, p: lmlang_storage::store::ProgramId, f: FunctionId, n: NodeId) {
        self.update_function(p, f, FunctionUpdate { entry_node: Some(Some(n)), ..Default::default() }).unwrap();
    }
}

pub fn random_programs_round_trip(store: &dyn GraphStore) {
    use proptest::test_runner::{Config, TestRunner};
    let mut runner = TestRunner::new(Config { cases: 24, ..Config::default() });
    let counter = std::cell::Cell::new(0);
    runner
        .run(&crate::common::arb_program(), |g| {
            counter.set(counter.get() + 1);
            let p = store.insert_program(&format!("random-{}", counter.get()), &g).expect("insert");
            let mut loaded = store.load_program(p).expect("load");
            proptest::prop_assert_eq!(&loaded, &g);
            proptest::prop_assert_eq!(loaded.next_ids(), g.next_ids());
            // The next id handed out is the one the original would hand out.
            if let Some(f) = g.functions().next().map(|f| f.id) {
                let mut original = g.clone();
                proptest::prop_assert_eq!(
                    loaded.add_core_op(f, ComputeOp::Print).ok(),
                    original.add_core_op(f, ComputeOp::Print).ok()
                );
            }
            Ok(())
        })
        .unwrap();
}

pub fn next_ids_are_saved_even_when_no_row_changes(store: &dyn GraphStore) {
    let (p, mut g) = new_program(store, "ids-only");
    let _ = store.load_program(p).unwrap(); // the store now compares rather than replays
    let main = function_named(&g, "main");
    let n = g.add_core_op(main, ComputeOp::Print).unwrap();
    g.remove_compute_node(n).unwrap();
    store.save_program(p, &g).unwrap();
    assert_eq!(store.load_program(p).unwrap().next_ids(), g.next_ids());
}

/// A graph loaded before the store handed out more ids, saved afterwards, must not
/// pull the stored next ids back: every id the store handed out stays spent.
pub fn a_stale_save_never_hands_out_an_id_twice(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "stale");
    let stale = store.load_program(p).unwrap();
    let main = function_named(&stale, "main");
    let issued = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    let ty = store.insert_type(p, LmType::Array { element: TypeId::I32, length: 3 }).unwrap();
    let f = store
        .insert_function(
            p,
            NewFunction {
                module: ModuleId::ROOT,
                name: "later".into(),
                visibility: Visibility::Private,
                params: vec![],
                return_type: TypeId::UNIT,
                closure_of: None,
            },
        )
        .unwrap();
    // The stale graph has none of the three: saving it removes them again.
    store.save_program(p, &stale).unwrap();
    let next_node = store.insert_node(p, main, ComputeOp::ReadLine.into()).unwrap();
    assert!(next_node > issued, "node id {issued:?} handed out twice");
    let next_type = store.insert_type(p, LmType::Array { element: TypeId::I64, length: 1 }).unwrap();
    assert!(next_type > ty, "type id {ty:?} handed out twice");
    let g = store.load_program(p).unwrap();
    assert!(g.next_ids().function > f.0, "function id {f:?} would be handed out again");
    // Reloaded, the program has the stale graph's content with the store's counters.
    assert_ne!(g.next_ids(), stale.next_ids());
}

/// Two read-edit-save cycles from the same revision: the first saves, the second is
/// refused with `RevisionMoved` and writes nothing, so neither edit is silently undone.
pub fn a_save_if_at_an_old_revision_writes_nothing(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "compare-and-save");
    let (mut mine, at) = store.load_program_with_revision(p).unwrap();
    let summary = |store: &dyn GraphStore| store.list_programs().unwrap().into_iter().find(|s| s.id == p).unwrap();
    assert_eq!(summary(store).revision, at, "the load reports the stored revision");
    let mut theirs = mine.clone();
    let main = function_named(&mine, "main");
    theirs.add_core_op(main, ComputeOp::Print).unwrap();
    store.save_program_if_at(p, &theirs, at).unwrap();
    let after_theirs = store.load_program_with_revision(p).unwrap();
    assert_eq!(after_theirs.0, theirs);
    assert_eq!(after_theirs.1, at + 1);
    // The same save again from the old revision (a retry whose first answer was lost)
    // finds the program already equal to it: no conflict, nothing written.
    let retried = store.save_program_if_at(p, &theirs, at).unwrap();
    assert_eq!(retried.rows_written + retried.rows_deleted, 0);
    assert_eq!(summary(store).revision, at + 1);

    mine.add_core_op(main, ComputeOp::ReadLine).unwrap();
    match store.save_program_if_at(p, &mine, at) {
        Err(StorageError::RevisionMoved { program, expected, found }) => {
            assert_eq!((program, expected, found), (p, at, at + 1));
        }
        other => panic!("a save based on revision {at} after revision {} was {other:?}", at + 1),
    }
    let now = store.load_program_with_revision(p).unwrap();
    assert_eq!(now, after_theirs, "the refused save wrote nothing");
    assert_eq!(summary(store).revision, at + 1);
    // Based on the revision it now has, the same kind of save goes through.
    let mut again = now.0;
    again.add_core_op(main, ComputeOp::ReadLine).unwrap();
    store.save_program_if_at(p, &again, now.1).unwrap();
    assert_eq!(store.load_program(p).unwrap(), again);
}

/// The same through `save_function`, which merges one function into the stored program.
pub fn a_stale_save_function_never_hands_out_an_id_twice(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "stale-function");
    let stale = store.load_program(p).unwrap();
    let main = function_named(&stale, "main");
    let issued = store.insert_node(p, main, ComputeOp::Print.into()).unwrap();
    store.save_function(p, &stale, main).unwrap();
    assert!(store.get_node(p, issued).is_err(), "the stale function has no such node");
    let next = store.insert_node(p, main, ComputeOp::ReadLine.into()).unwrap();
    assert!(next > issued, "node id {issued:?} handed out twice");
}

/// Two writers from one revision each add a node to a different function: both get
/// the same new id, so the second `save_function` cannot keep it. It is refused as such
/// (the caller's graph was reported broken: "id appears twice"), writes nothing, and
/// the same edit made again on a fresh load saves.
pub fn save_function_of_ids_another_writer_took_is_refused_as_such(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "taken-ids");
    let (mut first, mut second) = (store.load_program(p).unwrap(), store.load_program(p).unwrap());
    let (main, square) = (function_named(&first, "main"), function_named(&first, "square"));
    let mine = first.add_compute_node(main, ComputeOp::Print.into()).unwrap();
    let theirs = second.add_compute_node(square, ComputeOp::Print.into()).unwrap();
    assert_eq!(mine, theirs, "both writers hand out the same next id");
    store.save_function(p, &first, main).unwrap();
    let before = store.load_program(p).unwrap();
    let refused = store.save_function(p, &second, square);
    assert!(
        matches!(refused, Err(StorageError::IdsTaken { program, function }) if program == p && function == square),
        "{refused:?}"
    );
    assert_eq!(store.load_program(p).unwrap(), before, "a refused save wrote something");
    let mut again = store.load_program(p).unwrap();
    let node = again.add_compute_node(square, ComputeOp::Print.into()).unwrap();
    store.save_function(p, &again, square).unwrap();
    assert_eq!(store.get_node(p, node).unwrap().owner, square);
    assert_eq!(store.get_node(p, mine).unwrap().owner, main);
}

/// A document whose next function, module or type id runs implausibly far past the
/// program's (a mistyped edit) is refused by the store: ids are never given back, so
/// storing it would use them up for good. A save that leaves them as stored is not.
pub fn next_ids_raised_implausibly_far_are_refused(store: &dyn GraphStore) {
    for field in ["function", "module", "type"] {
        let mut doc = sample().to_document();
        match field {
            "function" => doc.next_ids.function = u32::MAX,
            "module" => doc.next_ids.module = u32::MAX,
            _ => doc.next_ids.type_ = u32::MAX,
        }
        let far = ProgramGraph::assemble(doc);
        let refused = store.insert_program("far", &far);
        assert!(
            matches!(&refused, Err(StorageError::Invalid { violations }) if violations[0].to_string().contains(field)),
            "{field}: {refused:?}"
        );
        assert!(store.find_program("far").is_err(), "{field}: nothing was stored");
        let (p, _) = new_program(store, field);
        let saved = store.save_program(p, &far);
        assert!(matches!(saved, Err(StorageError::Invalid { .. })), "{field}: {saved:?}");
    }
}

/// NUL cannot be stored by every database (PostgreSQL refuses it in text, SQLite's
/// `length()` stops at it), so no name may contain one, on any backend.
pub fn names_with_nul_are_refused(store: &dyn GraphStore) {
    assert!(matches!(store.create_program("\0x"), Err(StorageError::InvalidProgramName(_))));
    assert!(matches!(store.create_program("a\0"), Err(StorageError::InvalidProgramName(_))));
    // One length limit on every backend (PostgreSQL cannot index much longer keys).
    let longest = "名".repeat(lmlang_storage::store::MAX_NAME_BYTES / 3);
    store.create_program(&longest).unwrap();
    let too_long = format!("{longest}xy");
    assert!(matches!(store.create_program(&too_long), Err(StorageError::InvalidProgramName(_))));
    let (p, g) = new_program(store, "nul");
    assert!(matches!(store.rename_program(p, "\0y"), Err(StorageError::InvalidProgramName(_))));
    assert!(matches!(store.rename_program(p, &too_long), Err(StorageError::InvalidProgramName(_))));
    // A name refused for its length is not sent back whole in the message (a client
    // sending megabytes would get them in every error and log line); the field keeps it.
    let huge = "n".repeat(1 << 20);
    let refused = store.create_program(&huge).unwrap_err();
    assert!(matches!(&refused, StorageError::InvalidProgramName(n) if *n == huge));
    let missing = store.find_program(&huge).unwrap_err();
    for message in [refused.to_string(), missing.to_string()] {
        assert!(message.len() < 1024 && message.contains("nnnn") && message.contains("1048576 bytes"), "{message}");
    }
    let rejected = |r: Result<_, StorageError>| matches!(r, Err(StorageError::Rejected { .. }));
    assert!(rejected(store.insert_module(p, ModuleId::ROOT, "m\0", Visibility::Public).map(drop)));
    assert!(rejected(store.update_module(p, ModuleId::ROOT, "r\0")));
    let function = |name: &str, params: Vec<(String, TypeId)>| NewFunction {
        module: ModuleId::ROOT,
        name: name.into(),
        visibility: Visibility::Public,
        params,
        return_type: TypeId::UNIT,
        closure_of: None,
    };
    assert!(rejected(store.insert_function(p, function("f\0", vec![])).map(drop)));
    assert!(rejected(store.insert_function(p, function("f", vec![("x\0".into(), TypeId::I32)])).map(drop)));
    let main = function_named(&g, "main");
    let rename = FunctionUpdate { name: Some("ma\0in".into()), ..Default::default() };
    assert!(rejected(store.update_function(p, main, rename)));
    let named = |ty| store.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "T", ty).map(drop);
    assert!(rejected(store.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "T\0", LmType::Unit).map(drop)));
    assert!(rejected(named(LmType::Struct(StructDef {
        name: String::new(),
        type_id: TypeId(0),
        fields: [("f\0".to_string(), TypeId::I32)].into_iter().collect(),
        module: ModuleId::ROOT,
        visibility: Visibility::Public,
    }))));
    // Nothing was written: the program is as it was, and every name is still clean.
    assert_eq!(store.load_program(p).unwrap(), g);
    assert!(store.list_programs().unwrap().iter().all(|s| !s.name.contains('\0')));
}

/// `insert_named_type` gives a struct the registered name, whatever its own was (a
/// NUL included): the program stores and loads back with the registered name.
pub fn a_named_types_own_name_is_replaced_by_the_registered_one(store: &dyn GraphStore) {
    let (p, _) = new_program(store, "own name");
    let def = StructDef {
        name: "\0".into(),
        type_id: TypeId(0),
        fields: [("x".to_string(), TypeId::F64)].into_iter().collect(),
        module: ModuleId::ROOT,
        visibility: Visibility::Public,
    };
    let t = store.insert_named_type(p, ModuleId::ROOT, Visibility::Public, "Vector", LmType::Struct(def)).unwrap();
    assert!(matches!(store.get_type(p, t).unwrap(), LmType::Struct(d) if d.name == "Vector"));
    assert_eq!(store.load_program(p).unwrap().types().lookup("Vector"), Some(t));
}

/// A struct or enum registered without a name would make a graph its own `validate()`
/// refuses, which a store could save but not load back: refused up front.
pub fn unnamed_structs_and_enums_are_refused(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "unnamed");
    let def = StructDef {
        name: "P".into(),
        type_id: TypeId(0),
        fields: [("x".to_string(), TypeId::F64)].into_iter().collect(),
        module: ModuleId::ROOT,
        visibility: Visibility::Public,
    };
    assert!(matches!(store.insert_type(p, LmType::Struct(def.clone())), Err(StorageError::Rejected { .. })));
    let mut local = g.clone();
    assert!(local.register_type(LmType::Struct(def)).is_err());
    assert!(local.validate().is_empty());
    assert_eq!(store.load_program(p).unwrap(), g);
}

/// Calls into the store from inside one of its own `edit` closures: a write is refused
/// as `Reentrant` on every backend (it would wait for the edit that waits for it), a
/// read either answers with the committed state or is refused alike (one lent
/// connection, the in-memory store); nothing hangs, and the edit itself commits.
pub fn calls_from_inside_an_edit_are_refused_or_answered_never_hung(store: &dyn GraphStore) {
    let (p, g) = new_program(store, "reentrant");
    let (other, _) = new_program(store, "reentrant-other");
    let main = function_named(&g, "main");
    let watchdog = crate::common::Watchdog::start("a call from inside an edit closure");
    let (mut writes, mut read, mut nested) = (Vec::new(), None, None);
    store
        .edit(p, &mut |graph| {
            // Every kind of write, to this program and to another: each would wait for
            // the write this closure is part of.
            writes.push(("insert_node", store.insert_node(p, main, ComputeOp::Print.into()).map(drop)));
            writes.push(("insert_program", store.insert_program("reentrant-new", &g).map(drop)));
            writes.push(("save_program", store.save_program(other, &g).map(drop)));
            writes.push(("save_program_if_at", store.save_program_if_at(p, &g, 1).map(drop)));
            writes.push(("save_function", store.save_function(other, &g, main).map(drop)));
            writes.push(("rename_program", store.rename_program(other, "reentrant-renamed")));
            writes.push(("delete_program", store.delete_program(other)));
            nested = Some(store.edit(p, &mut |_| Ok(())).map(drop));
            read = Some(store.load_program(p));
            graph.add_core_op(main, ComputeOp::ReadLine).map(drop)
        })
        .unwrap();
    drop(watchdog);
    for (call, result) in &writes {
        assert!(matches!(result, Err(StorageError::Reentrant)), "{call}: {result:?}");
    }
    assert!(matches!(nested, Some(Err(StorageError::Reentrant))), "{nested:?}");
    assert_eq!(store.find_program("reentrant-other").unwrap(), other, "the other program is as it was");
    assert!(matches!(store.find_program("reentrant-new"), Err(StorageError::ProgramNotFound(_))));
    match read {
        Some(Ok(seen)) => assert_eq!(seen, g, "a read inside the edit sees the committed state"),
        Some(Err(StorageError::Reentrant)) => {}
        other => panic!("{other:?}"),
    }
    let after = store.load_program(p).unwrap();
    assert_eq!(after.node_count(), g.node_count() + 1, "the edit itself committed, and only it");
}
