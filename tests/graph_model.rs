//! The program model's rules (model.md sections 2 to 7), read as a specification: each
//! rule with a case the API accepts and one it refuses, and `validate()` naming every kind
//! of damage a hand-edited or corrupted document can carry.
//!
//! `model_invariants.rs` holds the first, shorter pass over the same rules; this file
//! covers what it leaves out (every op reference, type registration, the whole semantic
//! graph, ids of every kind, refused edits leaving no trace, one broken document per
//! validation rule, the journal edit by edit, every op's classifiers) rather than
//! repeating it.

mod common;

use lmlang_storage::graph::{ChangeSet, EdgeEntry, Entity, GraphError, ProgramDocument, ProgramGraph, TypeEntry};
use lmlang_storage::model::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

// ----- builders -----

fn struct_type(module: ModuleId, fields: &[(&str, TypeId)]) -> LmType {
    LmType::Struct(StructDef {
        name: String::new(),
        type_id: TypeId(0),
        fields: fields.iter().map(|(n, t)| (n.to_string(), *t)).collect(),
        module,
        visibility: Visibility::Public,
    })
}

fn enum_type(module: ModuleId, variants: &[(&str, Option<TypeId>)]) -> LmType {
    LmType::Enum(EnumDef {
        name: String::new(),
        type_id: TypeId(0),
        variants: variants
            .iter()
            .enumerate()
            .map(|(i, (n, p))| (n.to_string(), EnumVariant { index: i as u32, payload: *p }))
            .collect(),
        module,
        visibility: Visibility::Public,
    })
}

fn function(g: &mut ProgramGraph, module: ModuleId, name: &str) -> FunctionId {
    g.add_function(module, name, Visibility::Public, vec![], TypeId::I64).unwrap()
}

fn constant(v: i64) -> ComputeOp {
    ComputeOp::Const { value: ConstValue::I64(v) }
}

/// Every semantic edge, by what it joins.
fn semantic_edges(g: &ProgramGraph) -> BTreeSet<(SemanticEdge, SemanticKey, SemanticKey)> {
    let s = g.semantic_graph();
    s.edge_indices()
        .map(|e| {
            let (a, b) = s.edge_endpoints(e).unwrap();
            (s[e], s[a].key(), s[b].key())
        })
        .collect()
}

/// The entities holding `key` through a `Contains` edge.
fn containers(g: &ProgramGraph, key: SemanticKey) -> Vec<SemanticKey> {
    semantic_edges(g).into_iter().filter(|(k, _, to)| *k == SemanticEdge::Contains && *to == key).map(|e| e.1).collect()
}

fn has_edge(g: &ProgramGraph, kind: SemanticEdge, from: SemanticKey, to: SemanticKey) -> bool {
    semantic_edges(g).contains(&(kind, from, to))
}

fn dup<T>(r: Result<T, GraphError>) -> bool {
    matches!(r, Err(GraphError::DuplicateName { .. }))
}

fn invalid<T>(r: Result<T, GraphError>) -> bool {
    matches!(r, Err(GraphError::InvalidName(_)))
}

fn in_use<T>(r: Result<T, GraphError>) -> bool {
    matches!(r, Err(GraphError::InUse(..)))
}

// ----- op references -----

#[test]
fn every_op_reference_must_resolve_to_the_right_kind_of_entity() {
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let point = g.register_named("Point", struct_type(ModuleId::ROOT, &[("x", TypeId::F64)])).unwrap();
    let shape = g.register_named("Shape", enum_type(ModuleId::ROOT, &[("Dot", Some(point)), ("None", None)])).unwrap();

    let accepted: Vec<ComputeNodeOp> = vec![
        StructuredOp::EnumCreate { type_id: shape, variant_index: 1 }.into(),
        StructuredOp::Cast { target_type: TypeId::F32 }.into(),
        StructuredOp::Cast { target_type: point }.into(),
        ComputeOp::Invariant { target_type: point, message: "x >= 0".into() }.into(),
        ComputeOp::Call { target: f }.into(),
    ];
    for op in accepted {
        assert!(g.add_compute_node(f, op.clone()).is_ok(), "{op:?} refers to existing entities");
    }
    let refused: Vec<(ComputeNodeOp, &str)> = vec![
        (StructuredOp::EnumCreate { type_id: shape, variant_index: 2 }.into(), "no variant 2"),
        (StructuredOp::EnumCreate { type_id: TypeId::I32, variant_index: 0 }.into(), "not an enum"),
        (StructuredOp::EnumCreate { type_id: TypeId(99), variant_index: 0 }.into(), "t99 does not exist"),
        (StructuredOp::StructCreate { type_id: shape }.into(), "not a struct"),
        (StructuredOp::StructCreate { type_id: TypeId(99) }.into(), "t99 does not exist"),
        (StructuredOp::Cast { target_type: TypeId(99) }.into(), "t99 does not exist"),
        (ComputeOp::Invariant { target_type: TypeId(99), message: String::new() }.into(), "t99 does not exist"),
        (ComputeOp::Call { target: FunctionId(7) }.into(), "f7 does not exist"),
        (ComputeOp::MakeClosure { function: FunctionId(7) }.into(), "f7 does not exist"),
        (ComputeOp::MakeClosure { function: f }.into(), "not a closure"),
    ];
    let before = g.clone();
    let n = g.function_nodes(f).next().unwrap();
    for (op, why) in refused {
        let added = g.add_compute_node(f, op.clone()).unwrap_err();
        assert!(added.to_string().contains(why), "adding {op:?}: {added} (expected {why:?})");
        let modified = g.modify_compute_node_op(n, op.clone()).unwrap_err();
        assert_eq!(modified, added, "modifying refuses {op:?} for the same reason");
    }
    assert_eq!(g, before, "refused ops leave nothing behind");
    assert_eq!(
        g.add_core_op(FunctionId(7), ComputeOp::Print),
        Err(GraphError::NotFound(Entity::Function(FunctionId(7))))
    );
}

// ----- types -----

#[test]
fn type_registration_checks_names_references_and_variant_order() {
    let mut g = ProgramGraph::new("app");
    let m = g.add_module(ModuleId::ROOT, "shapes", Visibility::Public).unwrap();
    assert_eq!(g.types().next_id(), TypeId::FIRST_USER);
    assert_eq!(g.types().len(), 9);
    assert!(TypeId::NEVER.is_builtin() && !TypeId::FIRST_USER.is_builtin());

    // A struct's own name, id, module and visibility are filled in from the registration.
    let mut def = struct_type(m, &[("b", TypeId::I8), ("a", TypeId::I16)]);
    if let LmType::Struct(d) = &mut def {
        (d.name, d.type_id) = ("ignored".into(), TypeId(1234));
    }
    let s = g.register_named_in(m, Visibility::Private, "S", def).unwrap();
    assert_eq!(s, TypeId(9));
    match g.types().get(s) {
        Some(LmType::Struct(d)) => {
            assert_eq!((d.name.as_str(), d.type_id, d.module, d.visibility), ("S", s, m, Visibility::Private));
            assert_eq!(d.fields.keys().collect::<Vec<_>>(), ["b", "a"], "declaration order kept");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(g.types().lookup("S"), Some(s));
    assert_eq!(g.modules().types_in(m).collect::<Vec<_>>(), [s]);
    let arr = g.register_type(LmType::Array { element: s, length: 4 }).unwrap();
    assert_eq!(arr, TypeId(10), "user ids are consecutive from 9");
    assert!(g.types().name_of(arr).is_none());

    let before = g.clone();
    let refusals = [
        g.register_named("S", struct_type(ModuleId::ROOT, &[])).unwrap_err(),
        g.register_named("", struct_type(ModuleId::ROOT, &[])).unwrap_err(),
        g.register_named("a::b", struct_type(ModuleId::ROOT, &[])).unwrap_err(),
        g.register_named("Missing", struct_type(ModuleId::ROOT, &[("x", TypeId(77))])).unwrap_err(),
        g.register_named_in(ModuleId(40), Visibility::Public, "Lost", struct_type(ModuleId(40), &[])).unwrap_err(),
        g.register_type(LmType::Pointer { pointee: TypeId(77), mutable: false }).unwrap_err(),
        g.register_type(LmType::Function { params: vec![TypeId::I8, TypeId(78)], return_type: TypeId::UNIT })
            .unwrap_err(),
    ];
    assert_eq!(refusals[0], GraphError::Type(TypeError::DuplicateName("S".into())), "type names are per program");
    assert!(matches!(refusals[1], GraphError::InvalidName(_)));
    assert!(matches!(refusals[2], GraphError::InvalidName(_)));
    assert_eq!(refusals[3], GraphError::Type(TypeError::UnknownType { referenced: TypeId(77) }));
    assert_eq!(refusals[4], GraphError::NotFound(Entity::Module(ModuleId(40))));
    assert_eq!(refusals[5], GraphError::Type(TypeError::UnknownType { referenced: TypeId(77) }));
    assert_eq!(refusals[6], GraphError::Type(TypeError::UnknownType { referenced: TypeId(78) }));

    // Variant indexes must be the variants' positions.
    let mut bad = enum_type(ModuleId::ROOT, &[("A", None), ("B", None)]);
    if let LmType::Enum(d) = &mut bad {
        d.variants.get_mut("B").unwrap().index = 5;
    }
    assert!(matches!(
        g.register_named("E", bad),
        Err(GraphError::Type(TypeError::VariantIndex { index: 5, expected: 1, .. }))
    ));
    assert_eq!(g, before, "refused registrations take no id");
    assert_eq!(g.types().next_id(), TypeId(11));
}

/// A struct's or enum's own name is replaced by the registered one, so it is not
/// checked: one no type may have (a NUL) does not refuse the registration.
#[test]
fn a_types_own_name_is_replaced_before_it_could_refuse_the_registration() {
    let mut g = ProgramGraph::new("app");
    let mut point = struct_type(ModuleId::ROOT, &[("x", TypeId::F64)]);
    let mut shape = enum_type(ModuleId::ROOT, &[("Dot", None)]);
    if let (LmType::Struct(s), LmType::Enum(e)) = (&mut point, &mut shape) {
        (s.name, e.name) = ("\0".into(), "a\0b".into());
    }
    let point = g.register_named("Point", point).unwrap();
    let shape = g.register_named("Shape", shape).unwrap();
    match (g.types().get(point), g.types().get(shape)) {
        (Some(LmType::Struct(s)), Some(LmType::Enum(e))) => {
            assert_eq!((s.name.as_str(), e.name.as_str()), ("Point", "Shape"))
        }
        other => panic!("{other:?}"),
    }
    assert!(g.validate().is_empty());
}

#[test]
fn field_and_variant_order_is_part_of_a_type() {
    let ab = struct_type(ModuleId::ROOT, &[("a", TypeId::I8), ("b", TypeId::I8)]);
    let ba = struct_type(ModuleId::ROOT, &[("b", TypeId::I8), ("a", TypeId::I8)]);
    assert_ne!(ab, ba);
    let xy = enum_type(ModuleId::ROOT, &[("X", None), ("Y", None)]);
    let yx = enum_type(ModuleId::ROOT, &[("Y", None), ("X", None)]);
    assert_ne!(xy, yx);
    let mut g = ProgramGraph::new("app");
    g.register_named("BA", ba.clone()).unwrap();
    g.register_named("YX", yx).unwrap();
    let back: ProgramGraph = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back, g);
    match back.types().get(TypeId(9)) {
        Some(LmType::Struct(d)) => assert_eq!(d.fields.keys().collect::<Vec<_>>(), ["b", "a"]),
        other => panic!("{other:?}"),
    }
}

// ----- the semantic graph -----

#[test]
fn contains_edges_mirror_the_module_tree() {
    let mut g = ProgramGraph::new("app");
    let math = g.add_module(ModuleId::ROOT, "math", Visibility::Public).unwrap();
    let trig = g.add_module(math, "trig", Visibility::Private).unwrap();
    let f = function(&mut g, trig, "sin");
    let t = g.register_named_in(math, Visibility::Public, "Angle", struct_type(math, &[("rad", TypeId::F64)])).unwrap();
    let c = g.add_closure(f, "step", vec![], TypeId::F64, vec![]).unwrap();

    assert_eq!(containers(&g, SemanticKey::Module(math)), [SemanticKey::Module(ModuleId::ROOT)]);
    assert_eq!(containers(&g, SemanticKey::Module(trig)), [SemanticKey::Module(math)]);
    assert_eq!(containers(&g, SemanticKey::Function(f)), [SemanticKey::Module(trig)]);
    assert_eq!(
        containers(&g, SemanticKey::Function(c)),
        [SemanticKey::Module(trig)],
        "a closure lives beside its parent"
    );
    assert_eq!(containers(&g, SemanticKey::Type(t)), [SemanticKey::Module(math)]);
    assert!(containers(&g, SemanticKey::Module(ModuleId::ROOT)).is_empty());
    assert_eq!(g.modules().path(trig), ["app", "math", "trig"]);
    assert_eq!(g.modules().resolve(&["app", "math", "trig"]), Some(trig));
    assert_eq!(g.qualified_name(f).as_deref(), Some("app::math::trig::sin"));

    // A move re-parents the function; a rename shows in the node and in qualified names.
    g.move_function(f, math).unwrap();
    assert_eq!(containers(&g, SemanticKey::Function(f)), [SemanticKey::Module(math)]);
    g.rename_module(math, "numeric").unwrap();
    assert!(matches!(
        g.semantic_node(SemanticKey::Module(math)),
        Some(SemanticNode::Module { name, .. }) if name == "numeric"
    ));
    assert_eq!(g.qualified_name(f).as_deref(), Some("app::numeric::sin"));
    assert_eq!(g.modules().resolve(&["app", "numeric", "trig"]), Some(trig));
    assert_eq!(g.modules().resolve(&["app", "math"]), None);

    // Only an empty module can go; the root never.
    assert!(in_use(g.remove_module(math)), "it holds trig, a function and a type");
    assert!(in_use(g.remove_module(trig)), "it holds the closure");
    assert_eq!(g.remove_module(ModuleId::ROOT), Err(GraphError::RootModule));
    g.move_function(f, ModuleId::ROOT).unwrap();
    g.move_function(c, ModuleId::ROOT).unwrap();
    g.remove_module(trig).unwrap();
    assert!(g.semantic_node(SemanticKey::Module(trig)).is_none());
    assert!(
        semantic_edges(&g).iter().all(|(_, a, b)| *a != SemanticKey::Module(trig) && *b != SemanticKey::Module(trig))
    );
    assert!(in_use(g.remove_module(math)), "the named type Angle still lives there");
    assert_eq!(g.remove_module(trig), Err(GraphError::NotFound(Entity::Module(trig))));
    assert!(g.validate().is_empty());
}

#[test]
fn calls_edges_follow_call_and_make_closure_ops() {
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let h = function(&mut g, ModuleId::ROOT, "h");
    let k = function(&mut g, ModuleId::ROOT, "k");
    let c = g.add_closure(f, "c", vec![], TypeId::I64, vec![]).unwrap();
    let calls =
        |g: &ProgramGraph, a, b| has_edge(g, SemanticEdge::Calls, SemanticKey::Function(a), SemanticKey::Function(b));

    let first = g.add_core_op(f, ComputeOp::Call { target: h }).unwrap();
    let second = g.add_core_op(f, ComputeOp::Call { target: h }).unwrap();
    let make = g.add_core_op(f, ComputeOp::MakeClosure { function: c }).unwrap();
    assert!(calls(&g, f, h) && calls(&g, f, c));
    assert_eq!(semantic_edges(&g).iter().filter(|e| e.0 == SemanticEdge::Calls).count(), 2, "one edge per pair");
    assert_eq!(g.callers(c), [f]);

    // The edge goes with the last op that makes it, whichever way that op goes.
    g.remove_compute_node(first).unwrap();
    assert!(calls(&g, f, h));
    g.modify_compute_node_op(second, ComputeOp::Call { target: k }.into()).unwrap();
    assert!(!calls(&g, f, h) && calls(&g, f, k));
    assert!(g.callers(h).is_empty());

    // Removal is refused while anything refers to the function, or while it has closures.
    assert!(matches!(g.remove_function(c), Err(GraphError::InUse(Entity::Function(x), _)) if x == c));
    assert!(matches!(g.remove_function(k), Err(GraphError::InUse(..))));
    assert!(matches!(g.remove_function(f), Err(GraphError::InUse(..))), "closure c belongs to f");
    let before = g.clone();
    let _ = g.remove_function(f);
    assert_eq!(g, before, "a refused removal changes nothing");
    g.remove_compute_node(make).unwrap();
    g.remove_function(c).unwrap();
    // Calling itself does not keep a function alive.
    g.add_core_op(h, ComputeOp::Call { target: h }).unwrap();
    assert!(calls(&g, h, h));
    g.remove_function(h).unwrap();
    g.remove_function(f).unwrap();
    g.remove_function(k).unwrap();
    assert!(semantic_edges(&g).iter().all(|e| e.0 == SemanticEdge::Contains));
    assert!(g.validate().is_empty());
}

#[test]
fn uses_type_edges_follow_signatures_captures_and_fields() {
    let mut g = ProgramGraph::new("app");
    let inner = g.register_named("Inner", struct_type(ModuleId::ROOT, &[("v", TypeId::I32)])).unwrap();
    let arr = g.register_type(LmType::Array { element: inner, length: 2 }).unwrap();
    let ptr = g.register_type(LmType::Pointer { pointee: arr, mutable: true }).unwrap();
    let outer = g.register_named("Outer", struct_type(ModuleId::ROOT, &[("items", ptr)])).unwrap();
    let uses =
        |g: &ProgramGraph, a: SemanticKey, b: TypeId| has_edge(g, SemanticEdge::UsesType, a, SemanticKey::Type(b));
    assert!(uses(&g, SemanticKey::Type(outer), inner), "through a pointer to an array");
    assert!(!uses(&g, SemanticKey::Type(inner), outer));

    let f = g.add_function(ModuleId::ROOT, "f", Visibility::Public, vec![("p".into(), ptr)], TypeId::UNIT).unwrap();
    assert!(uses(&g, SemanticKey::Function(f), inner));
    g.set_function_signature(f, vec![], outer).unwrap();
    assert!(!uses(&g, SemanticKey::Function(f), inner) && uses(&g, SemanticKey::Function(f), outer));
    assert!(matches!(
        g.semantic_node(SemanticKey::Function(f)),
        Some(SemanticNode::Function { signature, .. }) if signature.return_type == outer && signature.params.is_empty()
    ));

    let c = g.add_closure(f, "c", vec![], TypeId::UNIT, vec![]).unwrap();
    assert!(!uses(&g, SemanticKey::Function(c), inner));
    let capture = Capture { name: "xs".into(), captured_type: arr, mode: CaptureMode::ByRef };
    g.set_captures(c, vec![capture.clone()]).unwrap();
    assert!(uses(&g, SemanticKey::Function(c), inner), "captures count as uses");
    assert!(matches!(g.set_captures(f, vec![capture]), Err(GraphError::InvalidOp(_))), "f is not a closure");
    let bad = Capture { name: "x".into(), captured_type: TypeId(500), mode: CaptureMode::ByValue };
    assert_eq!(g.set_captures(c, vec![bad]), Err(GraphError::NotFound(Entity::Type(TypeId(500)))));
    assert_eq!(
        g.set_function_signature(f, vec![("q".into(), TypeId(501))], TypeId::UNIT),
        Err(GraphError::NotFound(Entity::Type(TypeId(501))))
    );
    assert!(uses(&g, SemanticKey::Function(c), inner), "a refused change keeps the edges");
    assert!(g.validate().is_empty());
}

// ----- names -----

#[test]
fn names_are_unique_where_the_model_says_and_well_formed_everywhere() {
    let mut g = ProgramGraph::new("app");
    let a = g.add_module(ModuleId::ROOT, "a", Visibility::Public).unwrap();
    let b = g.add_module(ModuleId::ROOT, "b", Visibility::Public).unwrap();

    // Modules: unique among siblings only.
    assert!(dup(g.add_module(ModuleId::ROOT, "a", Visibility::Private)));
    let nested = g.add_module(b, "a", Visibility::Public).unwrap();
    assert!(dup(g.rename_module(b, "a")));
    g.rename_module(b, "b").unwrap();
    // Functions: unique within a module, also across renames, moves and closures.
    let fa = function(&mut g, a, "run");
    let fb = function(&mut g, b, "run");
    let other = function(&mut g, a, "other");
    assert!(dup(g.add_function(a, "run", Visibility::Public, vec![], TypeId::UNIT)));
    assert!(dup(g.add_closure(other, "run", vec![], TypeId::UNIT, vec![])));
    assert!(dup(g.rename_function(other, "run")));
    assert!(dup(g.move_function(fb, a)));
    g.rename_function(fa, "run").unwrap();
    g.move_function(fa, nested).unwrap();
    g.move_function(fb, a).unwrap();
    // Names are non-empty and never contain the path separator.
    for bad in ["", "x::y", "::"] {
        assert!(invalid(g.add_module(ModuleId::ROOT, bad, Visibility::Public)), "module {bad:?}");
        assert!(invalid(g.rename_module(a, bad)), "module rename {bad:?}");
        assert!(invalid(g.add_function(a, bad, Visibility::Public, vec![], TypeId::UNIT)), "function {bad:?}");
        assert!(invalid(g.rename_function(fa, bad)), "function rename {bad:?}");
        assert!(invalid(g.add_closure(fa, bad, vec![], TypeId::UNIT, vec![])), "closure {bad:?}");
    }
    assert!(invalid(g.add_function(a, "p", Visibility::Public, vec![(String::new(), TypeId::I8)], TypeId::UNIT)));
    // Odd but legal names survive everything.
    for odd in ["select", "it's", "say \"hi\"", "名前", "a b", "drop table x;"] {
        let m = g.add_module(ModuleId::ROOT, odd, Visibility::Public).unwrap();
        function(&mut g, m, odd);
    }
    assert!(g.validate().is_empty());
    let back: ProgramGraph = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back, g);
}

/// Module `a:` holding `b` and module `a` holding `:b` would both have the path
/// `a:::b`, so two different programs would share a program root and `hash::diff`
/// would see no change between them: such names are refused by every edit and
/// document check. A single colon inside a name keeps paths unambiguous and is legal.
#[test]
fn names_beginning_or_ending_with_a_colon_are_refused_so_paths_stay_unambiguous() {
    let mut g = ProgramGraph::new("r");
    let a = g.add_module(ModuleId::ROOT, "a", Visibility::Public).unwrap();
    let f = function(&mut g, a, "b");
    let before = g.clone();
    for bad in ["a:", ":a", ":", ":b:"] {
        assert!(invalid(g.add_module(ModuleId::ROOT, bad, Visibility::Public)), "module {bad:?}");
        assert!(invalid(g.rename_module(a, bad)), "module rename {bad:?}");
        assert!(invalid(g.add_function(a, bad, Visibility::Public, vec![], TypeId::UNIT)), "function {bad:?}");
        assert!(invalid(g.rename_function(f, bad)), "function rename {bad:?}");
        assert!(invalid(g.add_closure(f, bad, vec![], TypeId::UNIT, vec![])), "closure {bad:?}");
        assert!(invalid(g.register_named(bad, struct_type(a, &[]))), "struct {bad:?}");
        assert!(invalid(g.register_named(bad, LmType::Array { element: TypeId::I8, length: 2 })), "type {bad:?}");
        let root = ProgramGraph::new(bad);
        assert!(!root.is_trusted(), "root {bad:?}");
        assert!(
            root.validate()
                .iter()
                .any(|v| v.entity == Entity::Module(ModuleId::ROOT)
                    && v.message.contains("neither begin nor end with ':'")),
            "root {bad:?}: {:?}",
            root.validate()
        );
    }
    assert_eq!(g, before, "a refused edit changes nothing");

    // Through a document: the repro of the ambiguity, built by hand, is refused.
    let mut doc = g.to_document();
    doc.modules.iter_mut().find(|m| m.id == a).unwrap().name = "a:".into();
    let violations = ProgramGraph::from_document(doc).unwrap_err();
    assert!(violations.iter().any(|v| v.entity == Entity::Module(a)), "{violations:?}");

    // A colon inside a name is fine, and the two programs it allows hash apart.
    let mut one = ProgramGraph::new("r");
    let ab = one.add_module(ModuleId::ROOT, "a:b", Visibility::Public).unwrap();
    let f1 = function(&mut one, ab, "c");
    one.add_core_op(f1, ComputeOp::Print).unwrap();
    let mut two = ProgramGraph::new("r");
    let a2 = two.add_module(ModuleId::ROOT, "a", Visibility::Public).unwrap();
    let f2 = function(&mut two, a2, "b:c");
    two.add_core_op(f2, ComputeOp::Print).unwrap();
    assert!(one.validate().is_empty() && two.validate().is_empty());
    assert_ne!(one.hashes().program(), two.hashes().program());
}

// ----- ids -----

#[test]
fn no_kind_of_id_is_reused_after_deletions_or_a_json_round_trip() {
    let mut g = ProgramGraph::new("app");
    let _m1 = g.add_module(ModuleId::ROOT, "m1", Visibility::Public).unwrap();
    let m2 = g.add_module(ModuleId::ROOT, "m2", Visibility::Public).unwrap();
    let f1 = function(&mut g, ModuleId::ROOT, "f1");
    let f2 = function(&mut g, ModuleId::ROOT, "f2");
    let a = g.add_core_op(f1, constant(1)).unwrap();
    let b = g.add_core_op(f1, ComputeOp::Return).unwrap();
    let c = g.add_core_op(f1, ComputeOp::Print).unwrap();
    let e1 = g.add_data_edge(a, b, 0, 0, TypeId::I64).unwrap();
    let e2 = g.add_control_edge(b, c, None).unwrap();
    let t = g.register_type(LmType::Array { element: TypeId::I8, length: 1 }).unwrap();
    // Delete the newest of each kind that can be deleted, so the next id is past the highest live one.
    g.remove_module(m2).unwrap();
    g.remove_function(f2).unwrap();
    g.remove_edge(e2).unwrap();
    g.remove_compute_node(c).unwrap();
    assert_eq!(g.edge(e1).map(|e| e.id), Some(e1));
    let next = g.next_ids();
    assert_eq!(
        (next.module, next.function, next.node, next.edge, next.type_),
        (m2.0 + 1, f2.0 + 1, c.0 + 1, e2.0 + 1, t.0 + 1)
    );

    let mut back: ProgramGraph = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back.next_ids(), next);
    assert_eq!(back, g);
    for h in [&mut g, &mut back] {
        let m = h.add_module(ModuleId::ROOT, "m3", Visibility::Public).unwrap();
        let f = function(h, m, "f3");
        let n = h.add_core_op(f, ComputeOp::Return).unwrap();
        let n2 = h.add_core_op(f, constant(2)).unwrap();
        let e = h.add_data_edge(n2, n, 0, 0, TypeId::I64).unwrap();
        let ty = h.register_type(LmType::Unit).unwrap();
        assert_eq!(
            (m, f, n, e, ty),
            (ModuleId(m2.0 + 1), FunctionId(f2.0 + 1), NodeId(c.0 + 1), EdgeId(e2.0 + 1), TypeId(t.0 + 1))
        );
    }
    assert_eq!(back, g, "both hand out the same ids from here on");
    assert!(g.node(c).is_none() && g.edge(e2).is_none() && g.function(f2).is_none() && g.module(m2).is_none());
}

#[test]
fn a_freed_petgraph_slot_never_brings_back_an_old_id() {
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let nodes: Vec<NodeId> = (0..5).map(|i| g.add_core_op(f, constant(i)).unwrap()).collect();
    // petgraph reuses the last freed slot first; ids must not follow it.
    g.remove_compute_node(nodes[1]).unwrap();
    g.remove_compute_node(nodes[3]).unwrap();
    let fresh = g.add_core_op(f, constant(99)).unwrap();
    assert_eq!(fresh, NodeId(5));
    assert!(g.node(nodes[1]).is_none() && g.node(nodes[3]).is_none());
    assert_eq!(g.node(fresh).unwrap().op, constant(99).into());
    assert_eq!(g.nodes().map(|(id, _)| id).collect::<Vec<_>>(), [nodes[0], nodes[2], nodes[4], fresh]);
    assert_eq!(g.function_nodes(f).collect::<Vec<_>>(), [nodes[0], nodes[2], nodes[4], fresh]);
}

// ----- floats -----

#[test]
fn floats_keep_their_bits_through_a_whole_program_round_trip() {
    let f64s = [
        f64::NAN,
        -f64::NAN,
        f64::from_bits(0x7ff0_0000_0000_0001),
        f64::from_bits(0xfff8_dead_beef_0001),
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        5e-324,
        -1.5e300,
    ];
    let f32s = [
        f32::NAN,
        f32::from_bits(0x7f80_0001),
        f32::from_bits(0xffc0_1234),
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        1e-45,
        3.4028235e38,
        0.1,
    ];
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let values: Vec<ConstValue> =
        f64s.iter().map(|v| ConstValue::F64(*v)).chain(f32s.iter().map(|v| ConstValue::F32(*v))).collect();
    let ids: Vec<NodeId> = values.iter().map(|v| g.add_core_op(f, ComputeOp::Const { value: *v }).unwrap()).collect();
    let json = serde_json::to_string_pretty(&g).unwrap();
    for token in ["\"NaN\"", "\"NaN:0x7ff0000000000001\"", "\"NaN:0xffc01234\"", "\"-inf\"", "\"inf\"", "-0.0"] {
        assert!(json.contains(token), "the document spells a float as {token}");
    }
    let back: ProgramGraph = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    for (id, v) in ids.iter().zip(&values) {
        match &back.node(*id).unwrap().op {
            ComputeNodeOp::Core(ComputeOp::Const { value }) => {
                assert_eq!((value.tag(), value.bits()), (v.tag(), v.bits()), "{v:?}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_ne!(ConstValue::F32(0.0), ConstValue::F32(-0.0));
    assert_ne!(ConstValue::F64(f64::NAN), ConstValue::F64(-f64::NAN), "NaNs differ by their bits");
}

#[test]
fn malformed_float_text_is_an_error_not_a_panic() {
    for text in [
        r#"{"F64":"NaN:0x7ff0000000000000"}"#, // the bits of +inf, not a NaN
        r#"{"F64":"nan"}"#,
        r#"{"F64":"NaN:0xnope"}"#,
        r#"{"F64":"Infinity"}"#,
        r#"{"F32":"NaN:0x7ff8000000000000"}"#, // an f64 NaN is too wide for an f32
        r#"{"F32":"NaN:0x3f800000"}"#,         // 1.0
        r#"{"F64":true}"#,
    ] {
        assert!(serde_json::from_str::<ConstValue>(text).is_err(), "{text} must be refused");
    }
    let ok: ConstValue = serde_json::from_str(r#"{"F32":"NaN:0x7fc00001"}"#).unwrap();
    assert_eq!(ok.bits(), 0x7fc0_0001);
}

// ----- validate() on broken documents -----

/// A small program using every kind of entity; its document is the patient of the
/// validation cases below.
struct Sample {
    g: ProgramGraph,
    util: ModuleId,
    point: TypeId,
    shape: TypeId,
    main: FunctionId,
    helper: FunctionId,
    closure: FunctionId,
    param: NodeId,
    add: NodeId,
    call: NodeId,
    ret: NodeId,
    helper_ret: NodeId,
    add_to_ret: EdgeId,
}

fn sample() -> Sample {
    let mut g = ProgramGraph::new("app");
    let util = g.add_module(ModuleId::ROOT, "util", Visibility::Public).unwrap();
    let point = g.register_named("Point", struct_type(util, &[("x", TypeId::F64), ("y", TypeId::F64)])).unwrap();
    let shape = g.register_named("Shape", enum_type(util, &[("Dot", Some(point)), ("Empty", None)])).unwrap();
    g.register_type(LmType::Array { element: point, length: 3 }).unwrap();
    let main = g
        .add_function(ModuleId::ROOT, "main", Visibility::Public, vec![("n".into(), TypeId::I64)], TypeId::I64)
        .unwrap();
    let helper = g.add_function(util, "helper", Visibility::Private, vec![], TypeId::I64).unwrap();
    let capture = Capture { name: "n".into(), captured_type: TypeId::I64, mode: CaptureMode::ByValue };
    let closure = g.add_closure(main, "k", vec![], TypeId::I64, vec![capture]).unwrap();
    let param = g.add_core_op(main, ComputeOp::Parameter { index: 0 }).unwrap();
    let one = g.add_core_op(main, constant(1)).unwrap();
    let add = g.add_core_op(main, ComputeOp::BinaryArith { op: ArithOp::Add }).unwrap();
    let call = g.add_core_op(main, ComputeOp::Call { target: helper }).unwrap();
    g.add_core_op(main, ComputeOp::MakeClosure { function: closure }).unwrap();
    g.add_structured_op(main, StructuredOp::EnumCreate { type_id: shape, variant_index: 1 }).unwrap();
    let ret = g.add_core_op(main, ComputeOp::Return).unwrap();
    g.add_data_edge(param, add, 0, 0, TypeId::I64).unwrap();
    g.add_data_edge(one, add, 0, 1, TypeId::I64).unwrap();
    let add_to_ret = g.add_data_edge(add, ret, 0, 0, TypeId::I64).unwrap();
    g.add_control_edge(add, call, None).unwrap();
    g.add_control_edge(call, ret, None).unwrap();
    g.add_control_edge(ret, param, None).unwrap();
    g.set_entry_node(main, Some(param)).unwrap();
    let helper_ret = g.add_core_op(helper, ComputeOp::Return).unwrap();
    g.set_entry_node(helper, Some(helper_ret)).unwrap();
    assert!(g.validate().is_empty());
    Sample { g, util, point, shape, main, helper, closure, param, add, call, ret, helper_ret, add_to_ret }
}

type Damage = fn(&Sample, &mut ProgramDocument);

/// What a case calls itself, how it breaks the document, the entity its violation must
/// name, and words the message must contain.
type DamageCase = (&'static str, Damage, fn(&Sample) -> Entity, &'static str);

fn node_entry(doc: &mut ProgramDocument, id: NodeId) -> &mut lmlang_storage::graph::NodeEntry {
    doc.nodes.iter_mut().find(|n| n.id == id).unwrap()
}

fn function_entry(doc: &mut ProgramDocument, id: FunctionId) -> &mut FunctionDef {
    doc.functions.iter_mut().find(|f| f.id == id).unwrap()
}

fn type_entry(doc: &mut ProgramDocument, id: TypeId) -> &mut TypeEntry {
    doc.types.iter_mut().find(|t| t.id == id).unwrap()
}

fn extra_edge(doc: &mut ProgramDocument, source: NodeId, target: NodeId, edge: FlowEdge) {
    let id = EdgeId(doc.next_ids.edge);
    doc.next_ids.edge += 1;
    doc.edges.push(EdgeEntry { id, source, target, edge });
}

fn data(port: u16, ty: TypeId) -> FlowEdge {
    FlowEdge::Data { source_port: 0, target_port: port, value_type: ty }
}

/// One kind of damage per validation rule.
fn damages() -> Vec<DamageCase> {
    vec![
        ("format version", |_, d| d.format_version = 99, |_| Entity::Program, "document format 99"),
        (
            "dangling owner",
            |s, d| node_entry(d, s.add).owner = FunctionId(77),
            |s| Entity::Node(s.add),
            "owner f77 does not exist",
        ),
        (
            "dangling callee",
            |s, d| node_entry(d, s.add).op = ComputeOp::Call { target: FunctionId(77) }.into(),
            |s| Entity::Node(s.add),
            "f77, which does not exist",
        ),
        (
            "closure op on a plain function",
            |s, d| node_entry(d, s.add).op = ComputeOp::MakeClosure { function: s.helper }.into(),
            |s| Entity::Node(s.add),
            "not a closure",
        ),
        (
            "struct op on an enum",
            |s, d| node_entry(d, s.add).op = StructuredOp::StructCreate { type_id: s.shape }.into(),
            |s| Entity::Node(s.add),
            "not a struct",
        ),
        (
            "missing variant",
            |s, d| node_entry(d, s.add).op = StructuredOp::EnumCreate { type_id: s.shape, variant_index: 5 }.into(),
            |s| Entity::Node(s.add),
            "no variant 5",
        ),
        (
            "cast to a missing type",
            |s, d| node_entry(d, s.add).op = StructuredOp::Cast { target_type: TypeId(500) }.into(),
            |s| Entity::Node(s.add),
            "t500, which does not exist",
        ),
        (
            "missing value type",
            |s, d| d.edges.iter_mut().find(|e| e.id == s.add_to_ret).unwrap().edge = data(0, TypeId(4242)),
            |s| Entity::Edge(s.add_to_ret),
            "value type t4242 does not exist",
        ),
        (
            "operand slot fed twice",
            |s, d| extra_edge(d, s.param, s.ret, data(0, TypeId::I64)),
            |s| Entity::Edge(EdgeId(s.g.next_ids().edge)),
            "operand slot 0",
        ),
        (
            "data cycle",
            |s, d| extra_edge(d, s.ret, s.param, data(0, TypeId::I64)),
            |s| Entity::Node(s.add),
            "cycle of data edges",
        ),
        (
            "edge across functions",
            |s, d| extra_edge(d, s.ret, s.helper_ret, FlowEdge::Control { branch_index: None }),
            |s| Entity::Edge(EdgeId(s.g.next_ids().edge)),
            "joins",
        ),
        (
            "edge to a missing node",
            |s, d| extra_edge(d, s.ret, NodeId(900), FlowEdge::Control { branch_index: None }),
            |s| Entity::Edge(EdgeId(s.g.next_ids().edge)),
            "n900 does not exist",
        ),
        (
            "edge id past next_ids",
            |s, d| {
                extra_edge(d, s.ret, s.add, FlowEdge::Control { branch_index: None });
                d.next_ids.edge -= 1;
            },
            |s| Entity::Edge(EdgeId(s.g.next_ids().edge)),
            "not below next_ids.edge",
        ),
        (
            "node id past next_ids",
            |_, d| d.next_ids.node -= 1,
            |s| Entity::Node(NodeId(s.g.next_ids().node - 1)),
            "not below next_ids.node",
        ),
        (
            "node id twice",
            |s, d| {
                let mut copy = d.nodes[0].clone();
                copy.owner = s.helper;
                d.nodes.push(copy);
            },
            |s| Entity::Node(s.param),
            "appears twice",
        ),
        (
            "function in a missing module",
            |s, d| function_entry(d, s.helper).module = ModuleId(9),
            |s| Entity::Function(s.helper),
            "module m9 does not exist",
        ),
        (
            "two functions of one name",
            |s, d| {
                let helper = function_entry(d, s.helper);
                (helper.module, helper.name) = (ModuleId::ROOT, "main".into());
            },
            |s| Entity::Function(s.helper),
            "is named \"main\"",
        ),
        (
            "function id past next_ids",
            |_, d| d.next_ids.function -= 1,
            |s| Entity::Function(s.closure),
            "not below the next function id",
        ),
        (
            "closure without a parent",
            |s, d| function_entry(d, s.closure).parent_function = None,
            |s| Entity::Function(s.closure),
            "closure without a parent",
        ),
        (
            "closure of a missing parent",
            |s, d| function_entry(d, s.closure).parent_function = Some(FunctionId(60)),
            |s| Entity::Function(s.closure),
            "parent function f60 does not exist",
        ),
        (
            "closure that is its own parent",
            |s, d| function_entry(d, s.closure).parent_function = Some(s.closure),
            |s| Entity::Function(s.closure),
            "closure parents form a cycle",
        ),
        (
            "parent on a plain function",
            |s, d| function_entry(d, s.helper).parent_function = Some(s.main),
            |s| Entity::Function(s.helper),
            "not a closure",
        ),
        (
            "captures on a plain function",
            |s, d| function_entry(d, s.helper).captures = function_entry(d, s.closure).captures.clone(),
            |s| Entity::Function(s.helper),
            "captures on a function",
        ),
        (
            "entry node of another function",
            |s, d| function_entry(d, s.helper).entry_node = Some(s.param),
            |s| Entity::Function(s.helper),
            "entry node n0 belongs to f0",
        ),
        (
            "missing entry node",
            |s, d| function_entry(d, s.helper).entry_node = Some(NodeId(999)),
            |s| Entity::Function(s.helper),
            "entry node n999 does not exist",
        ),
        (
            "signature with a missing type",
            |s, d| function_entry(d, s.main).return_type = TypeId(321),
            |s| Entity::Function(s.main),
            "missing type t321",
        ),
        (
            "invalid function name",
            |s, d| function_entry(d, s.helper).name = "a::b".into(),
            |s| Entity::Function(s.helper),
            "invalid name",
        ),
        (
            "variant index out of place",
            |s, d| match &mut type_entry(d, s.shape).ty {
                LmType::Enum(e) => e.variants.get_index_mut(1).unwrap().1.index = 0,
                _ => unreachable!(),
            },
            |s| Entity::Type(s.shape),
            "has index 0 at position 1",
        ),
        (
            "struct without a name",
            |s, d| type_entry(d, s.point).name = None,
            |s| Entity::Type(s.point),
            "not registered by name",
        ),
        (
            "definition disagreeing with its name",
            |s, d| match &mut type_entry(d, s.point).ty {
                LmType::Struct(st) => st.module = ModuleId::ROOT,
                _ => unreachable!(),
            },
            |s| Entity::Type(s.point),
            "disagrees",
        ),
        (
            "field of a missing type",
            |s, d| match &mut type_entry(d, s.point).ty {
                LmType::Struct(st) => *st.fields.get_index_mut(0).unwrap().1 = TypeId(404),
                _ => unreachable!(),
            },
            |s| Entity::Type(s.point),
            "missing type t404",
        ),
        (
            "anonymous type referring forward",
            |s, d| {
                let last = d.types.last_mut().unwrap();
                last.ty = LmType::Pointer { pointee: TypeId(last.id.0 + 1), mutable: false };
                let id = TypeId(last.id.0 + 1);
                d.types.push(TypeEntry { id, name: None, ty: LmType::Array { element: s.point, length: 1 } });
                d.next_ids.type_ += 1;
            },
            |_| Entity::Type(TypeId(11)),
            "later anonymous type",
        ),
        (
            "redefined built-in",
            |_, d| d.types.push(TypeEntry { id: TypeId::I32, name: None, ty: LmType::Unit }),
            |_| Entity::Type(TypeId::I32),
            "built-in",
        ),
        (
            "one type name twice",
            |s, d| type_entry(d, s.shape).name.as_mut().unwrap().name = "Point".into(),
            |s| Entity::Type(s.shape),
            "used twice",
        ),
        (
            "named type in a missing module",
            |s, d| {
                type_entry(d, s.point).name.as_mut().unwrap().module = ModuleId(9);
                if let LmType::Struct(st) = &mut type_entry(d, s.point).ty {
                    st.module = ModuleId(9);
                }
            },
            |s| Entity::Type(s.point),
            "module m9 does not exist",
        ),
        (
            "type id past next_ids",
            |_, d| d.next_ids.type_ -= 1,
            |_| Entity::Type(TypeId(11)),
            "not below the next type id",
        ),
        (
            "root with a parent",
            |s, d| d.modules[0].parent = Some(s.util),
            |_| Entity::Module(ModuleId::ROOT),
            "has a parent",
        ),
        (
            "module under a missing parent",
            |s, d| d.modules.iter_mut().find(|m| m.id == s.util).unwrap().parent = Some(ModuleId(50)),
            |s| Entity::Module(s.util),
            "parent m50 does not exist",
        ),
        (
            "module parents in a cycle",
            |s, d| {
                let id = ModuleId(d.next_ids.module);
                d.next_ids.module += 1;
                d.modules.push(ModuleDef {
                    id,
                    name: "loop".into(),
                    parent: Some(s.util),
                    visibility: Visibility::Public,
                });
                d.modules.iter_mut().find(|m| m.id == s.util).unwrap().parent = Some(id);
            },
            |s| Entity::Module(s.util),
            "cycle",
        ),
        (
            "sibling modules of one name",
            |_, d| {
                let id = ModuleId(d.next_ids.module);
                d.next_ids.module += 1;
                d.modules.push(ModuleDef {
                    id,
                    name: "util".into(),
                    parent: Some(ModuleId::ROOT),
                    visibility: Visibility::Public,
                });
            },
            |_| Entity::Module(ModuleId(2)),
            "is named \"util\"",
        ),
        ("module id past next_ids", |_, d| d.next_ids.module -= 1, |_| Entity::Program, "module id is not below"),
        (
            "invalid module name",
            |s, d| d.modules.iter_mut().find(|m| m.id == s.util).unwrap().name = String::new(),
            |s| Entity::Module(s.util),
            "invalid name",
        ),
        (
            "module name ending with a colon",
            |s, d| d.modules.iter_mut().find(|m| m.id == s.util).unwrap().name = "util:".into(),
            |s| Entity::Module(s.util),
            "neither begin nor end with ':'",
        ),
        (
            "function name beginning with a colon",
            |s, d| function_entry(d, s.helper).name = ":helper".into(),
            |s| Entity::Function(s.helper),
            "neither begin nor end with ':'",
        ),
        (
            "type name ending with a colon",
            |s, d| {
                let entry = type_entry(d, s.point);
                entry.name.as_mut().unwrap().name = "Point:".into();
                match &mut entry.ty {
                    LmType::Struct(def) => def.name = "Point:".into(),
                    _ => unreachable!(),
                }
            },
            |s| Entity::Type(s.point),
            "neither begin nor end with ':'",
        ),
    ]
}

#[test]
fn validate_names_each_kind_of_damage_in_a_document() {
    let s = sample();
    let clean = s.g.to_document();
    assert!(ProgramGraph::assemble(clean.clone()).validate().is_empty());
    for (what, damage, entity, words) in damages() {
        let mut doc = clean.clone();
        damage(&s, &mut doc);
        let broken = ProgramGraph::assemble(doc.clone());
        assert!(!broken.is_trusted(), "{what}: an assembled broken graph is not trusted");
        let violations = broken.validate();
        let expected = entity(&s);
        assert!(
            violations.iter().any(|v| v.entity == expected && v.message.contains(words)),
            "{what}: no violation of {expected} says {words:?}; got {violations:#?}"
        );
        assert_eq!(ProgramGraph::from_document(doc).err(), Some(violations), "{what}: from_document refuses it");
    }
}

/// `f`: const -> neg -> return as a document, with the ids of the three nodes.
fn negate_program() -> (ProgramDocument, [NodeId; 3]) {
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let c = g.add_core_op(f, constant(1)).unwrap();
    let n = g.add_core_op(f, ComputeOp::UnaryArith { op: UnaryArithOp::Neg }).unwrap();
    let r = g.add_core_op(f, ComputeOp::Return).unwrap();
    g.add_data_edge(c, n, 0, 0, TypeId::I64).unwrap();
    g.add_data_edge(n, r, 0, 0, TypeId::I64).unwrap();
    (g.to_document(), [c, n, r])
}

/// The nodes a data-cycle violation names.
fn on_data_cycles(doc: ProgramDocument) -> Vec<Entity> {
    let violations = ProgramGraph::from_document(doc).unwrap_err();
    violations.iter().filter(|v| v.message.contains("cycle of data edges")).map(|v| v.entity).collect()
}

/// Only the nodes on a data cycle are named, not those downstream of it (which a
/// topological sort also leaves over, and which are not broken themselves).
#[test]
fn a_data_cycle_names_exactly_the_nodes_on_it() {
    // A self loop: only the node feeding itself.
    let (mut doc, [_, n, _]) = negate_program();
    extra_edge(&mut doc, n, n, data(1, TypeId::I64));
    let violations = ProgramGraph::from_document(doc.clone()).unwrap_err();
    assert_eq!(violations.len(), 1, "{violations:#?}");
    assert_eq!(on_data_cycles(doc), vec![Entity::Node(n)]);

    // Two nodes feeding each other, with a node upstream and two downstream.
    let mut g = ProgramGraph::new("app");
    let f = function(&mut g, ModuleId::ROOT, "f");
    let c = g.add_core_op(f, constant(1)).unwrap();
    let add = g.add_core_op(f, ComputeOp::BinaryArith { op: ArithOp::Add }).unwrap();
    let neg = g.add_core_op(f, ComputeOp::UnaryArith { op: UnaryArithOp::Neg }).unwrap();
    let abs = g.add_core_op(f, ComputeOp::UnaryArith { op: UnaryArithOp::Abs }).unwrap();
    let r = g.add_core_op(f, ComputeOp::Return).unwrap();
    g.add_data_edge(c, add, 0, 0, TypeId::I64).unwrap();
    g.add_data_edge(add, neg, 0, 0, TypeId::I64).unwrap();
    g.add_data_edge(neg, abs, 0, 0, TypeId::I64).unwrap();
    g.add_data_edge(abs, r, 0, 0, TypeId::I64).unwrap();
    let mut doc = g.to_document();
    extra_edge(&mut doc, neg, add, data(1, TypeId::I64));
    assert_eq!(on_data_cycles(doc), vec![Entity::Node(add), Entity::Node(neg)]);
}

#[test]
fn validate_reports_all_problems_of_a_document_at_once() {
    let s = sample();
    let mut doc = s.g.to_document();
    let picked =
        ["dangling owner", "missing value type", "missing entry node", "struct without a name", "root with a parent"];
    let cases: Vec<_> = damages().into_iter().filter(|d| picked.contains(&d.0)).collect();
    for (_, damage, _, _) in &cases {
        damage(&s, &mut doc);
    }
    let violations = ProgramGraph::assemble(doc).validate();
    for (what, _, entity, words) in &cases {
        assert!(
            violations.iter().any(|v| v.entity == entity(&s) && v.message.contains(words)),
            "{what} missing: {violations:#?}"
        );
    }
    let mut sorted = violations.clone();
    sorted.sort();
    assert_eq!(violations, sorted, "violations come sorted by entity");
}

// ----- the journal -----

#[test]
fn changes_since_reports_exactly_the_touched_entities() {
    let mut s = sample();
    let (main, helper, util) = (s.main, s.helper, s.util);
    let g = &mut s.g;
    let check = |g: &mut ProgramGraph, what: &str, edit: &dyn Fn(&mut ProgramGraph) -> ChangeSet| {
        let rev = g.revision();
        let expected = edit(g);
        assert_eq!(g.changes_since(rev), expected, "{what}");
        assert!(g.changes_since(g.revision()).is_empty());
    };
    let none = ChangeSet::default;
    check(g, "add a module", &|g| {
        let m = g.add_module(ModuleId::ROOT, "new", Visibility::Public).unwrap();
        ChangeSet { modules: vec![m], ..none() }
    });
    check(g, "rename a module", &|g| {
        g.rename_module(util, "utils").unwrap();
        ChangeSet { modules: vec![util], ..none() }
    });
    check(g, "register a named type", &|g| {
        let t = g.register_named("Fresh", struct_type(util, &[])).unwrap();
        ChangeSet { types: vec![t], ..none() }
    });
    check(g, "register an anonymous type", &|g| {
        let t = g.register_type(LmType::Array { element: TypeId::I8, length: 9 }).unwrap();
        ChangeSet { types: vec![t], ..none() }
    });
    check(g, "add a function", &|g| {
        let f = function(g, util, "fresh");
        ChangeSet { functions: vec![f], ..none() }
    });
    check(g, "rename, move, re-sign and hide a function", &|g| {
        g.rename_function(helper, "assist").unwrap();
        g.move_function(helper, ModuleId::ROOT).unwrap();
        g.set_function_signature(helper, vec![], TypeId::I32).unwrap();
        g.set_function_visibility(helper, Visibility::Public).unwrap();
        ChangeSet { functions: vec![helper], ..none() }
    });
    check(g, "add a node", &|g| {
        let n = g.add_core_op(main, ComputeOp::Print).unwrap();
        ChangeSet { nodes: vec![n], ..none() }
    });
    check(g, "modify a node", &|g| {
        let n = g.function_nodes(main).nth(1).unwrap();
        g.modify_compute_node_op(n, constant(5).into()).unwrap();
        ChangeSet { nodes: vec![n], ..none() }
    });
    check(g, "add and remove edges", &|g| {
        let nodes: Vec<NodeId> = g.function_nodes(main).collect();
        let e = g.add_control_edge(nodes[1], nodes[2], Some(3)).unwrap();
        let gone = g.outgoing(nodes[0])[0].id;
        g.remove_edge(gone).unwrap();
        ChangeSet { edges: vec![gone, e], ..none() }
    });
    check(g, "remove the entry node", &|g| {
        let entry = g.function(main).unwrap().entry_node.unwrap();
        let mut edges: Vec<EdgeId> = g.outgoing(entry).iter().chain(&g.incoming(entry)).map(|e| e.id).collect();
        edges.sort();
        g.remove_compute_node(entry).unwrap();
        ChangeSet { functions: vec![main], nodes: vec![entry], edges, ..none() }
    });
    check(g, "refused edits", &|g| {
        let _ = g.add_module(ModuleId(70), "x", Visibility::Public);
        let _ = g.remove_function(FunctionId(70));
        let _ = g.add_control_edge(NodeId(0), NodeId(70), None);
        let _ = g.modify_compute_node_op(NodeId(70), ComputeOp::Print.into());
        let _ = g.set_entry_node(main, Some(NodeId(70)));
        none()
    });
    check(g, "remove a function", &|g| {
        let f = function(g, ModuleId::ROOT, "short_lived");
        let a = g.add_core_op(f, constant(1)).unwrap();
        let b = g.add_core_op(f, ComputeOp::Return).unwrap();
        let e = g.add_data_edge(a, b, 0, 0, TypeId::I64).unwrap();
        g.remove_function(f).unwrap();
        ChangeSet { functions: vec![f], nodes: vec![a, b], edges: vec![e], ..none() }
    });
    assert!(g.validate().is_empty());
}

#[test]
fn removing_a_function_takes_its_body_and_leaves_holes() {
    let mut s = sample();
    let helper_nodes: Vec<NodeId> = s.g.function_nodes(s.helper).collect();
    s.g.remove_compute_node(s.call).unwrap();
    let next = s.g.next_ids();
    let def = s.g.remove_function(s.helper).unwrap();
    assert_eq!(def.name, "helper");
    assert!(helper_nodes.iter().all(|n| s.g.node(*n).is_none()));
    assert_eq!(s.g.function_nodes(s.helper).count(), 0);
    assert_eq!(s.g.find_function(s.util, "helper"), None);
    assert!(s.g.semantic_node(SemanticKey::Function(s.helper)).is_none());
    assert_eq!(s.g.next_ids(), next, "removal frees no id");
    assert_eq!(s.g.remove_function(s.helper), Err(GraphError::NotFound(Entity::Function(s.helper))));
    assert!(s.g.validate().is_empty());
}

// ----- classifiers -----

#[test]
fn classifiers_of_every_op() {
    use ComputeOp as C;
    use StructuredOp as S;
    let f = FunctionId(0);
    let t = TypeId::I32;
    // (op, control flow, terminator, io, contract)
    let core: Vec<(ComputeOp, bool, bool, bool, bool)> = vec![
        (C::Const { value: ConstValue::Unit }, false, false, false, false),
        (C::Parameter { index: 0 }, false, false, false, false),
        (C::BinaryArith { op: ArithOp::Rem }, false, false, false, false),
        (C::UnaryArith { op: UnaryArithOp::Abs }, false, false, false, false),
        (C::Compare { op: CmpOp::Ge }, false, false, false, false),
        (C::BinaryLogic { op: LogicOp::Xor }, false, false, false, false),
        (C::Not, false, false, false, false),
        (C::Shift { op: ShiftOp::ShrArith }, false, false, false, false),
        (C::IfElse, true, false, false, false),
        (C::Loop, true, false, false, false),
        (C::Match, true, false, false, false),
        (C::Branch, true, true, false, false),
        (C::Jump, true, true, false, false),
        (C::Phi, true, false, false, false),
        (C::Alloc, false, false, false, false),
        (C::Load, false, false, false, false),
        (C::Store, false, false, false, false),
        (C::GetElementPtr, false, false, false, false),
        (C::Call { target: f }, false, false, false, false),
        (C::IndirectCall, false, false, false, false),
        (C::Return, true, true, false, false),
        (C::Print, false, false, true, false),
        (C::ReadLine, false, false, true, false),
        (C::FileOpen, false, false, true, false),
        (C::FileRead, false, false, true, false),
        (C::FileWrite, false, false, true, false),
        (C::FileClose, false, false, true, false),
        (C::MakeClosure { function: f }, false, false, false, false),
        (C::CaptureAccess { index: 0 }, false, false, false, false),
        (C::Precondition { message: String::new() }, false, false, false, true),
        (C::Postcondition { message: String::new() }, false, false, false, true),
        (C::Invariant { target_type: t, message: String::new() }, false, false, false, true),
    ];
    let structured = vec![
        S::StructCreate { type_id: t },
        S::StructGet { field_index: 0 },
        S::StructSet { field_index: 0 },
        S::ArrayCreate { length: 0 },
        S::ArrayGet,
        S::ArraySet,
        S::Cast { target_type: t },
        S::EnumCreate { type_id: t, variant_index: 0 },
        S::EnumDiscriminant,
        S::EnumPayload { variant_index: 0 },
    ];
    assert_eq!((core.len(), structured.len()), (32, 10), "model.md lists 32 core and 10 structured ops");
    let mut kinds = BTreeSet::new();
    for (op, control, terminator, io, contract) in core {
        let n = ComputeNodeOp::from(op.clone());
        assert_eq!(
            (n.is_control_flow(), n.is_terminator(), n.is_io(), n.is_contract(), n.tier()),
            (control, terminator, io, contract, 1),
            "{op:?}"
        );
        assert!(format!("{op:?}").starts_with(n.kind()), "kind of {op:?} is its variant name");
        kinds.insert(n.kind());
    }
    for op in structured {
        let n = ComputeNodeOp::from(op.clone());
        assert!(!(n.is_control_flow() || n.is_terminator() || n.is_io() || n.is_contract()), "{op:?}");
        assert_eq!(n.tier(), 2);
        assert!(format!("{op:?}").starts_with(n.kind()), "kind of {op:?} is its variant name");
        kinds.insert(n.kind());
    }
    assert_eq!(kinds.len(), 42, "kind names are distinct");
    assert_eq!(ComputeNodeOp::from(C::Call { target: f }).function_ref(), Some(f));
    assert_eq!(ComputeNodeOp::from(C::MakeClosure { function: f }).function_ref(), Some(f));
    assert_eq!(ComputeNodeOp::from(S::Cast { target_type: t }).type_ref(), Some(t));
    assert_eq!(ComputeNodeOp::from(S::StructGet { field_index: 0 }).type_ref(), None);
}

// ----- properties over random programs -----

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The API never leaves the graph inconsistent: an accepted edit keeps it valid, a
    /// refused one changes nothing at all, not even the revision.
    #[test]
    fn refused_edits_change_nothing_and_accepted_ones_keep_the_graph_whole(
        mut g in common::arb_program(),
        script in common::arb_edit_script(),
    ) {
        for step in script {
            let before = g.clone();
            let revision = g.revision();
            match common::try_step(&mut g, step) {
                Ok(()) => prop_assert!(g.validate().is_empty(), "{:?} broke the graph: {:?}", step, g.validate()),
                Err(e) => {
                    prop_assert_eq!(&g, &before, "refused {:?} ({}) changed the graph", step, e);
                    prop_assert_eq!(g.revision(), revision);
                    prop_assert!(g.changes_since(revision).is_empty());
                }
            }
        }
    }

    /// The indexes kept beside the primary data agree with it: `function_nodes` is
    /// exactly the nodes a function owns, in id order; the module tree finds every
    /// function by name and every named type in its module; `callers` are exactly the
    /// owners of the ops that refer to a function; edges join nodes of one function.
    #[test]
    fn indexes_agree_with_the_primary_data(mut g in common::arb_program(), script in common::arb_edit_script()) {
        common::apply_script(&mut g, &script);
        let mut seen = 0;
        for f in g.functions() {
            let listed: Vec<NodeId> = g.function_nodes(f.id).collect();
            let owned: Vec<NodeId> = g.nodes().filter(|(_, n)| n.owner == f.id).map(|(id, _)| id).collect();
            prop_assert_eq!(&listed, &owned);
            seen += listed.len();
            prop_assert_eq!(g.find_function(f.module, &f.name), Some(f.id));
            let mut referrers: Vec<FunctionId> =
                g.nodes().filter(|(_, n)| n.op.function_ref() == Some(f.id)).map(|(_, n)| n.owner).collect();
            referrers.sort();
            referrers.dedup();
            prop_assert_eq!(g.callers(f.id), referrers);
        }
        prop_assert_eq!(seen, g.node_count());
        let indexed: usize = g.modules().iter().map(|m| g.modules().functions_in(m.id).count()).sum();
        prop_assert_eq!(indexed, g.functions().count());
        for (t, name) in g.types().named() {
            prop_assert!(g.modules().types_in(name.module).any(|x| x == t));
        }
        for e in g.edges() {
            prop_assert_eq!(g.node(e.source).map(|n| n.owner), g.node(e.target).map(|n| n.owner));
        }
        // The semantic graph kept up edit by edit equals one derived from scratch.
        let rebuilt = ProgramGraph::from_document(g.to_document()).unwrap();
        prop_assert_eq!(&rebuilt, &g);
    }

    /// After a JSON round trip the copy equals the original and hands out the same ids.
    #[test]
    fn a_reloaded_program_continues_the_same_id_sequences(g in common::arb_program()) {
        let mut back: ProgramGraph = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        prop_assert!(back.is_trusted());
        prop_assert_eq!(&back, &g);
        let mut g = g;
        let mut made = Vec::new();
        for h in [&mut g, &mut back] {
            let m = h.add_module(ModuleId::ROOT, "after reload", Visibility::Public).unwrap();
            let f = function(h, m, "fresh");
            let a = h.add_core_op(f, constant(1)).unwrap();
            let b = h.add_core_op(f, ComputeOp::Return).unwrap();
            let e = h.add_data_edge(a, b, 0, 0, TypeId::I64).unwrap();
            let t = h.register_type(LmType::Never).unwrap();
            made.push((m, f, a, b, e, t));
        }
        prop_assert_eq!(made[0], made[1]);
        prop_assert_eq!(&back, &g);
    }
}

/// A document whose module counter lies at the top of the id space (the root its only
/// module) loads with that counter as it is, set in one step rather than counted up
/// to id by id, and the next module gets it.
#[test]
fn a_module_counter_far_past_the_last_module_loads_as_stored() {
    for stored in [u32::MAX - 1, u32::MAX] {
        let mut doc: ProgramDocument = ProgramGraph::new("app").to_document();
        doc.next_ids.module = stored;
        let mut g = ProgramGraph::assemble(doc);
        assert_eq!(g.validate(), vec![], "{stored}");
        assert_eq!(g.modules().next_id(), ModuleId(stored));
        let added = g.add_module(ModuleId::ROOT, "late", Visibility::Public);
        match stored {
            u32::MAX => assert!(matches!(added, Err(GraphError::IdsExhausted(_))), "{added:?}"),
            _ => assert_eq!(added.unwrap(), ModuleId(stored)),
        }
    }
}

/// A chain of modules 20,000 deep validates clean, and a cycle of parents is named on
/// each module it holds and on one whose parents run into it, however long the chain
/// before it (validation walks each module once).
#[test]
fn deep_module_chains_validate_and_cycles_are_named_on_the_modules_that_reach_them() {
    let depth = 20_000u32;
    let mut doc: ProgramDocument = ProgramGraph::new("app").to_document();
    let module = |id: u32, parent: u32| ModuleDef {
        id: ModuleId(id),
        name: format!("m{id}"),
        parent: Some(ModuleId(parent)),
        visibility: Visibility::Public,
    };
    doc.modules.extend((1..=depth).map(|id| module(id, id - 1)));
    doc.next_ids.module = depth + 1;
    assert_eq!(ProgramGraph::assemble(doc.clone()).validate(), vec![]);
    // Three modules whose parents go round, and a chain of 1,000 hanging from them.
    let c = depth + 1;
    doc.modules.extend([module(c, c + 2), module(c + 1, c), module(c + 2, c + 1)]);
    doc.modules.extend((c + 3..c + 1003).map(|id| module(id, id - 1)));
    doc.next_ids.module = c + 1003;
    let mut named: Vec<u32> = ProgramGraph::assemble(doc)
        .validate()
        .iter()
        .filter(|v| v.message.contains("module parents form a cycle"))
        .map(|v| match v.entity {
            Entity::Module(m) => m.0,
            other => panic!("{other:?}"),
        })
        .collect();
    named.sort_unstable();
    assert_eq!(named, (c..c + 1003).collect::<Vec<_>>());
}
